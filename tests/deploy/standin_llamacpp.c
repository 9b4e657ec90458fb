/* standin_llamacpp.c - a stand-in for llama.cpp's llama-server (tools/server) with LoRA adapters
 * given at start, for the deploy tests.
 *
 * Follows llama.cpp as stored in the reference index (2026): tools/server/README.md at commit
 * 25d5b0c5 ("GET /lora-adapters", "POST /lora-adapters", "GET /props", "GET /v1/models":
 * adapters are loaded at start with --lora FILE and listed with id, path and scale, scale 1
 * unless --lora-init-without-apply; the POSTed list replaces every scale) and
 * tools/server/server-common.cpp at commit aa6192d3 (format_error_response: {"error":{"code",
 * "message","type"}}; parse_lora_request: scales cleared, then each {"id","scale"} set, an id out
 * of range throws "invalid adapter id", which the handlers' exception wrapper answers as 500
 * server_error; a body that is not an array: 400 invalid_request_error "Request body must be an
 * array"; a body that is not JSON: the parser's exception, 500). /health answers
 * {"status":"ok"}. Chat requests are answered whatever their model name, as llama-server does
 * with one model loaded; the logged answers come back while an adapter is applied.
 *
 * usage: standin_llamacpp --port-file F [--answers TEST.jsonl] [--max-seconds N] --model GGUF
 *                         [--lora FILE]... [--lora-init-without-apply]
 * SIGHUP: a restart, which puts every scale back to its value at start. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "standin_common.h"

#define MAX_LORA 16

static const char *model_path = "model.gguf";
static const char *lora_path[MAX_LORA];
static double scale[MAX_LORA];
static int nlora;
static double init_scale = 1.0;

static void error(Req *req, int code, const char *type, const char *msg) {
   Standin_json(req, code, json_pack("{s:{s:i, s:s, s:s}}", "error", "code", code, "message", msg, "type", type));
}

static void list(Req *req) {
   json_t *a = json_array();
   for (int i = 0; i < nlora; i++)
      json_array_append_new(a, json_pack("{s:i, s:s, s:f}", "id", i, "path", lora_path[i], "scale", scale[i]));
   Standin_json(req, 200, a);
}

static void set(Req *req) {
   char *body = Standin_body(req, NULL);
   json_error_t je;
   json_t *v = json_loads(body, JSON_DECODE_ANY, &je);
   free(body);
   if (!v) {
      char msg[256];
      snprintf(msg, sizeof msg, "[json.exception.parse_error.101] parse error: %s", je.text);
      error(req, 500, "server_error", msg);
      return;
   }
   if (!json_is_array(v)) {
      error(req, 400, "invalid_request_error", "Request body must be an array");
      json_decref(v);
      return;
   }
   double next[MAX_LORA] = { 0 };
   size_t i;
   json_t *e;
   json_array_foreach(v, i, e) {
      json_t *id = json_object_get(e, "id");
      long n = json_is_integer(id) ? (long)json_integer_value(id) : -1;
      if (n < 0 || n >= nlora) {
         error(req, 500, "server_error", "invalid adapter id");
         json_decref(v);
         return;
      }
      json_t *s = json_object_get(e, "scale");
      next[n] = json_is_number(s) ? json_number_value(s) : 0.0;
   }
   memcpy(scale, next, sizeof scale);
   json_decref(v);
   Standin_json(req, 200, json_pack("{s:b}", "success", 1));
}

static void chat(Req *req) {
   char *body = Standin_body(req, NULL);
   json_t *b = json_loads(body, 0, NULL);
   free(body);
   if (!json_is_object(b)) {
      error(req, 500, "server_error", "[json.exception.parse_error.101] parse error");
      json_decref(b);
      return;
   }
   bool on = false;
   for (int i = 0; i < nlora; i++)
      on |= scale[i] > 0;
   Standin_chat(req, b, on);
   json_decref(b);
}

static void handle(Req *req, const char *path) {
   if (Standin_method(req, "GET") && strcmp(path, "/health") == 0)
      Standin_json(req, 200, json_pack("{s:s}", "status", "ok"));
   else if (Standin_method(req, "GET") && strcmp(path, "/props") == 0)
      Standin_json(req, 200, json_pack("{s:{s:i, s:i}, s:i, s:s, s:s}", "default_generation_settings", "id", 0,
                                       "n_ctx", 4096, "total_slots", 1, "model_path", model_path, "build_info",
                                       "b6000-standin"));
   else if (Standin_method(req, "GET") && strcmp(path, "/lora-adapters") == 0)
      list(req);
   else if (Standin_method(req, "POST") && strcmp(path, "/lora-adapters") == 0)
      set(req);
   else if (Standin_method(req, "GET") && (strcmp(path, "/v1/models") == 0 || strcmp(path, "/models") == 0))
      Standin_json(req, 200, json_pack("{s:s, s:[{s:s, s:s, s:i, s:s, s:{}}]}", "object", "list", "data", "id",
                                       model_path, "object", "model", "created", 1765000000, "owned_by", "llamacpp",
                                       "meta"));
   else if (Standin_method(req, "POST") && strcmp(path, "/v1/chat/completions") == 0)
      chat(req);
   else
      error(req, 404, "not_found_error", "File Not Found");
}

static void restart(void) {
   for (int i = 0; i < nlora; i++)
      scale[i] = init_scale;
}

static int option(const char *opt, const char *value) {
   if (strcmp(opt, "--model") == 0 && value) {
      model_path = value;
      return 2;
   }
   if (strcmp(opt, "--lora") == 0 && value && nlora < MAX_LORA) {
      lora_path[nlora] = value;
      scale[nlora++] = init_scale;
      return 2;
   }
   if (strcmp(opt, "--lora-init-without-apply") == 0) {
      init_scale = 0;
      for (int i = 0; i < nlora; i++)
         scale[i] = 0;
      return 1;
   }
   return 0;
}

int main(int argc, char **argv) {
   static const Standin s = { .name = "standin_llamacpp", .usage = "--model GGUF [--lora FILE]... [--lora-init-without-apply]",
                              .option = option, .handle = handle, .restart = restart };
   return Standin_main(&s, argc, argv);
}
