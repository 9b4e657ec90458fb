/* standin_vllm.c - a stand-in for vLLM's OpenAI-compatible server with runtime LoRA updating
 * (VLLM_ALLOW_RUNTIME_LORA_UPDATING=True, --enable-lora), for the deploy tests.
 *
 * Follows vLLM main as stored in the reference index (2026): docs/features/lora.md ("Dynamically
 * serving LoRA Adapters"), vllm/entrypoints/openai/models/serving.py (load_lora_adapter,
 * unload_lora_adapter and their checks, /v1/models cards with root and parent, "The model `X`
 * does not exist." for an unknown model), vllm/frontend/entrypoints/serve/lora/api_router.py (200
 * with the "Success: ..." text, errors as JSON with the error's code as status),
 * .../serve/utils/api_utils.py validate_json_request (a body that is not application/json is a
 * validation error) and .../exception_handling/handlers/validation.py (validation errors: 400,
 * type "Bad Request"). Errors have the nested shape {"error":{"message","type","param","code"}}.
 * An adapter directory loads when it holds adapter_config.json (PEFT's layout); otherwise the
 * answer is LoRAAdapterNotFoundError's 404. With --api-key (vLLM's AuthenticationMiddleware in
 * .../serve/middleware/authenticate.py) every path under /v1 wants "Authorization: Bearer KEY",
 * else 401 {"error":"Unauthorized"}; /health stays open.
 *
 * usage: standin_vllm --port-file F [--answers TEST.jsonl] [--max-seconds N] --model BASE [--api-key KEY]
 * SIGHUP: a restart, which forgets every adapter loaded at run time. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "standin_common.h"

static const char *base_model = "base-model";
static const char *api_key;
static json_t *loras;   /* lora_name -> lora_path, in load order */

static void error(Req *req, int code, const char *type, const char *param, const char *fmt, const char *a,
                  const char *b) {
   char msg[2048];
   snprintf(msg, sizeof msg, fmt, a, b);
   Standin_json(req, code, json_pack("{s:{s:s, s:s, s:s?, s:i}}", "error", "message", msg, "type", type, "param",
                                     param, "code", code));
}

/* The JSON body of a POST as vLLM's FastAPI layer checks it; NULL after replying. */
static json_t *json_request(Req *req) {
   const char *ct = Standin_header(req, "Content-Type");
   if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
      error(req, 400, "Bad Request", NULL, "1 validation error:\n  Unsupported Media Type: Only 'application/json' is allowed%s%s", "", "");
      return NULL;
   }
   char *body = Standin_body(req, NULL);
   json_error_t je;
   json_t *v = json_loads(body, 0, &je);
   free(body);
   if (!json_is_object(v)) {
      error(req, 400, "Bad Request", "body", "1 validation error:\n  {'type': 'json_invalid', 'loc': ('body', %s), "
            "'msg': 'JSON decode error', 'ctx': {'error': '%s'}}", "0", je.text);
      json_decref(v);
      return NULL;
   }
   return v;
}

static bool adapter_dir(const char *path) {
   char cfg[4096];
   struct stat sb;
   snprintf(cfg, sizeof cfg, "%s/adapter_config.json", path);
   return stat(cfg, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void models(Req *req) {
   json_t *data = json_pack("[{s:s, s:s, s:i, s:s, s:s, s:n, s:i}]", "id", base_model, "object", "model", "created",
                            1765000000, "owned_by", "vllm", "root", base_model, "parent", "max_model_len", 4096);
   const char *name;
   json_t *path;
   json_object_foreach(loras, name, path) {
      json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s, s:O, s:s}", "id", name, "object", "model",
                                            "created", 1765000000, "owned_by", "vllm", "root", path, "parent",
                                            base_model));
   }
   Standin_json(req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void load(Req *req) {
   json_t *b = json_request(req);
   if (!b)
      return;
   const char *name = json_string_value(json_object_get(b, "lora_name"));
   const char *path = json_string_value(json_object_get(b, "lora_path"));
   if (!name || !*name || !path || !*path)
      error(req, 400, "InvalidUserInput", NULL, "Both 'lora_name' and 'lora_path' must be provided.%s%s", "", "");
   else if (!json_is_true(json_object_get(b, "load_inplace")) && json_object_get(loras, name))
      error(req, 400, "InvalidUserInput", NULL, "The lora adapter '%s' has already been loaded. If you want to load "
            "the adapter in place, set 'load_inplace' to True.%s", name, "");
   else if (!adapter_dir(path))
      error(req, 404, "NotFoundError", NULL, "Loading lora %s failed: No adapter found for %s", name, path);
   else {
      json_object_set_new(loras, name, json_string(path));
      char msg[1024];
      snprintf(msg, sizeof msg, "Success: LoRA adapter '%s' added successfully.", name);
      Standin_reply(req, 200, NULL, msg, strlen(msg));
   }
   json_decref(b);
}

static void unload(Req *req) {
   json_t *b = json_request(req);
   if (!b)
      return;
   const char *name = json_string_value(json_object_get(b, "lora_name"));
   if (!name || !*name)
      error(req, 400, "InvalidUserInput", NULL, "'lora_name' needs to be provided to unload a LoRA adapter.%s%s", "", "");
   else if (!json_object_get(loras, name))
      error(req, 404, "NotFoundError", NULL, "The lora adapter '%s' cannot be found.%s", name, "");
   else {
      char msg[1024];
      snprintf(msg, sizeof msg, "Success: LoRA adapter '%s' removed successfully.", name);
      json_object_del(loras, name);
      Standin_reply(req, 200, NULL, msg, strlen(msg));
   }
   json_decref(b);
}

static void chat(Req *req) {
   json_t *b = json_request(req);
   if (!b)
      return;
   const char *model = json_string_value(json_object_get(b, "model"));
   if (model && strcmp(model, base_model) != 0 && !json_object_get(loras, model))
      error(req, 404, "NotFoundError", "model", "The model `%s` does not exist.%s", model, "");
   else
      Standin_chat(req, b, model && json_object_get(loras, model));
   json_decref(b);
}

static bool authorized(Req *req, const char *path) {
   if (!api_key || strncmp(path, "/v1", 3) != 0)
      return true;
   const char *auth = Standin_header(req, "Authorization");
   char want[512];
   snprintf(want, sizeof want, "Bearer %s", api_key);
   return auth && strcmp(auth, want) == 0;
}

static void handle(Req *req, const char *path) {
   if (!authorized(req, path))
      Standin_json(req, 401, json_pack("{s:s}", "error", "Unauthorized"));
   else if (Standin_method(req, "GET") && strcmp(path, "/health") == 0)
      Standin_reply(req, 200, NULL, NULL, 0);
   else if (Standin_method(req, "GET") && strcmp(path, "/v1/models") == 0)
      models(req);
   else if (Standin_method(req, "POST") && strcmp(path, "/v1/load_lora_adapter") == 0)
      load(req);
   else if (Standin_method(req, "POST") && strcmp(path, "/v1/unload_lora_adapter") == 0)
      unload(req);
   else if (Standin_method(req, "POST") && strcmp(path, "/v1/chat/completions") == 0)
      chat(req);
   else
      Standin_json(req, 404, json_pack("{s:s}", "detail", "Not Found"));   /* FastAPI's own */
}

static void restart(void) {
   json_object_clear(loras);
}

static int option(const char *opt, const char *value) {
   if (strcmp(opt, "--model") == 0 && value) {
      base_model = value;
      return 2;
   }
   if (strcmp(opt, "--api-key") == 0 && value) {
      api_key = value;
      return 2;
   }
   return 0;
}

int main(int argc, char **argv) {
   loras = json_object();
   static const Standin s = { .name = "standin_vllm", .usage = "--model BASE [--api-key KEY]", .option = option,
                              .handle = handle, .restart = restart };
   int rc = Standin_main(&s, argc, argv);
   json_decref(loras);
   return rc;
}
