/* standin_ollama.c - a stand-in for the Ollama server's model API and its OpenAI-compatible
 * chat endpoint, for the deploy tests.
 *
 * Follows Ollama v0.33.0-rc2 (commit fb307609, github.com/ollama/ollama): docs/api.md ("Create a
 * Model", "Check if a Blob Exists", "Push a Blob", "Show Model Information", "Delete a Model"),
 * server/routes.go (HeadBlobHandler, CreateBlobHandler: 201 on a new blob, 400 "digest mismatch,
 * expected %q, got %q"; ShowHandler: 400 "model is required", 404 "model '%s' not found";
 * DeleteHandler; waitForStream: with "stream": false, the last status or the error with its
 * status), server/create.go (CreateHandler: 400 "missing request body", "invalid digest format",
 * "neither 'from' or 'files' was specified", "only one adapter is currently supported"; a base
 * model that is not there fails pulling it: 500 "pull model manifest: file does not exist" here,
 * offline) and openai/openai.go NewError (the /v1 errors: {"error":{"message","type","param",
 * "code"}}, type not_found_error for 404). Errors of the native API are {"error":"..."}.
 *
 * usage: standin_ollama --port-file F [--answers TEST.jsonl] [--max-seconds N] --model BASE...
 * SIGHUP: the models created and the blobs pushed are gone (a fresh models directory). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sha256.h"
#include "standin_common.h"

static json_t *bases;    /* name -> true: models present from the start */
static json_t *created;  /* name -> {"from", "adapters"} */
static json_t *blobs;    /* "sha256:..." -> size */

static void error(Req *req, int status, const char *msg) {
   Standin_json(req, status, json_pack("{s:s}", "error", msg));
}

static bool valid_digest(const char *d) {
   if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
      return false;
   for (const char *p = d + 7; *p; p++) {
      if (!strchr("0123456789abcdef", *p))
         return false;
   }
   return true;
}

/* Ollama's request body: 400 "missing request body" when empty, the decoder's error otherwise. */
static json_t *body_json(Req *req) {
   size_t len;
   char *body = Standin_body(req, &len);
   json_error_t je;
   json_t *v = len ? json_loads(body, 0, &je) : NULL;
   free(body);
   if (!len)
      error(req, 400, "missing request body");
   else if (!json_is_object(v)) {
      char msg[256];
      snprintf(msg, sizeof msg, "invalid character in JSON: %s", je.text);
      error(req, 400, msg);
      json_decref(v);
      return NULL;
   }
   return v;
}

/* Model names as Ollama normalises them: "name" means "name:latest". */
static char *full_name(const char *name) {
   char *out = malloc(strlen(name) + 8);
   strcpy(out, name);
   if (!strchr(name, ':'))
      strcat(out, ":latest");
   return out;
}

static bool valid_name(const char *name) {
   if (!name || !*name)
      return false;
   for (const char *p = name; *p; p++) {
      if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/", *p))
         return false;
   }
   return true;
}

static bool exists(const char *name) {
   char *n = full_name(name);
   bool yes = json_object_get(bases, n) || json_object_get(created, n);
   free(n);
   return yes;
}

static void blob(Req *req, const char *digest) {
   bool head = Standin_method(req, "HEAD");
   if (!valid_digest(digest)) {
      error(req, 400, "invalid digest format");
      return;
   }
   if (json_object_get(blobs, digest)) {
      Standin_reply(req, 200, NULL, NULL, 0);
      return;
   }
   if (head) {
      char msg[128];
      snprintf(msg, sizeof msg, "blob \"%s\" not found", digest);
      error(req, 404, msg);
      return;
   }
   size_t len;
   char *body = Standin_body(req, &len);
   Sha256 s;
   char hex[65], got[80];
   Sha256_init(&s);
   Sha256_update(&s, body, len);
   Sha256_final_hex(&s, hex);
   free(body);
   snprintf(got, sizeof got, "sha256:%s", hex);
   if (strcmp(got, digest) != 0) {
      char msg[256];
      snprintf(msg, sizeof msg, "digest mismatch, expected \"%s\", got \"%s\"", digest, got);
      error(req, 400, msg);
      return;
   }
   json_object_set_new(blobs, digest, json_integer((json_int_t)len));
   Standin_reply(req, 201, NULL, NULL, 0);
}

static void create(Req *req) {
   json_t *b = body_json(req);
   if (!b)
      return;
   const char *name = json_string_value(json_object_get(b, "model"));
   const char *from = json_string_value(json_object_get(b, "from"));
   json_t *adapters = json_object_get(b, "adapters");
   const char *file;
   json_t *digest;
   bool bad_digest = false, missing_blob = false;
   int gguf = 0;
   json_object_foreach(adapters, file, digest) {
      const char *d = json_string_value(digest);
      bad_digest |= !d || !*d;
      missing_blob |= d && *d && !json_object_get(blobs, d);
      gguf += strlen(file) > 5 && strcmp(file + strlen(file) - 5, ".gguf") == 0;
   }
   if (bad_digest)
      error(req, 400, "invalid digest format");
   else if (!valid_name(name))
      error(req, 400, "invalid model name");
   else if (!from && !json_object_get(b, "files"))
      error(req, 400, "neither 'from' or 'files' was specified");
   else if (from && !exists(from))
      error(req, 500, "pull model manifest: file does not exist");
   else if (gguf > 1)
      error(req, 400, "only one adapter is currently supported");
   else if (missing_blob)
      error(req, 400, "open adapter blob: no such file or directory");
   else {
      char *n = full_name(name);
      json_object_set_new(created, n, json_pack("{s:s?, s:O?}", "from", from, "adapters", adapters));
      free(n);
      if (json_is_false(json_object_get(b, "stream")))
         Standin_json(req, 200, json_pack("{s:s}", "status", "success"));
      else {
         const char *lines = "{\"status\":\"using existing layer\"}\n{\"status\":\"writing manifest\"}\n"
                             "{\"status\":\"success\"}\n";
         Standin_reply(req, 200, "application/x-ndjson", lines, strlen(lines));
      }
   }
   json_decref(b);
}

static void show(Req *req) {
   json_t *b = body_json(req);
   if (!b)
      return;
   const char *name = json_string_value(json_object_get(b, "model"));
   if (!name || !*name)
      error(req, 400, "model is required");
   else if (!exists(name)) {
      char msg[512];
      snprintf(msg, sizeof msg, "model '%s' not found", name);
      error(req, 404, msg);
   } else {
      char *n = full_name(name);
      json_t *m = json_object_get(created, n);
      const char *parent = m ? json_string_value(json_object_get(m, "from")) : "";
      Standin_json(req, 200, json_pack("{s:s, s:{s:s, s:s, s:s}, s:[s]}", "modelfile", "# Modelfile generated by the stand-in",
                                       "details", "parent_model", parent ? parent : "", "format", "gguf", "family",
                                       "llama", "capabilities", "completion"));
      free(n);
   }
   json_decref(b);
}

static void delete(Req *req) {
   json_t *b = body_json(req);
   if (!b)
      return;
   const char *name = json_string_value(json_object_get(b, "model"));
   char *n = full_name(name ? name : "");
   if (!json_object_get(created, n) && !json_object_get(bases, n)) {
      char msg[512];
      snprintf(msg, sizeof msg, "model '%s' not found", name ? name : "");
      error(req, 404, msg);
   } else {
      json_object_del(created, n);
      json_object_del(bases, n);
      Standin_reply(req, 200, NULL, NULL, 0);
   }
   free(n);
   json_decref(b);
}

static void chat(Req *req) {
   char *body = Standin_body(req, NULL);
   json_t *b = json_loads(body, 0, NULL);
   free(body);
   const char *model = json_string_value(json_object_get(b, "model"));
   if (!json_is_object(b))
      Standin_json(req, 400, json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", "invalid request body",
                                       "type", "invalid_request_error", "param", "code"));
   else if (!model || !exists(model)) {
      char msg[512];
      snprintf(msg, sizeof msg, "model \"%s\" not found, try pulling it first", model ? model : "");
      Standin_json(req, 404, json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", msg, "type",
                                       "not_found_error", "param", "code"));
   } else {
      char *n = full_name(model);
      json_t *m = json_object_get(created, n);
      Standin_chat(req, b, m && json_object_size(json_object_get(m, "adapters")) > 0);
      free(n);
   }
   json_decref(b);
}

static void handle(Req *req, const char *path) {
   if (Standin_method(req, "GET") && strcmp(path, "/api/version") == 0)
      Standin_json(req, 200, json_pack("{s:s}", "version", "0.33.0-rc2"));
   else if ((Standin_method(req, "HEAD") || Standin_method(req, "POST")) && strncmp(path, "/api/blobs/", 11) == 0)
      blob(req, path + 11);
   else if (Standin_method(req, "POST") && strcmp(path, "/api/create") == 0)
      create(req);
   else if (Standin_method(req, "POST") && strcmp(path, "/api/show") == 0)
      show(req);
   else if (Standin_method(req, "DELETE") && strcmp(path, "/api/delete") == 0)
      delete(req);
   else if (Standin_method(req, "POST") && strcmp(path, "/v1/chat/completions") == 0)
      chat(req);
   else
      Standin_reply(req, 404, "text/plain", "404 page not found", 18);   /* gin's own */
}

static void restart(void) {
   json_object_clear(created);
   json_object_clear(blobs);
}

static int option(const char *opt, const char *value) {
   if (strcmp(opt, "--model") == 0 && value) {
      char *n = full_name(value);
      json_object_set_new(bases, n, json_true());
      free(n);
      return 2;
   }
   return 0;
}

int main(int argc, char **argv) {
   bases = json_object();
   created = json_object();
   blobs = json_object();
   static const Standin s = { .name = "standin_ollama", .usage = "--model BASE...", .option = option,
                              .handle = handle, .restart = restart };
   int rc = Standin_main(&s, argc, argv);
   json_decref(bases);
   json_decref(created);
   json_decref(blobs);
   return rc;
}
