/* ftclient.c - the openai-ft backend kind over libcurl, and the kind registry. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "control/ftclient.h"

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
   Sbuf_add(arg, data, size * n);
   return size * n;
}

/* The "error.message" of an OpenAI error object, else the start of the body. */
static char *error_text(const char *body) {
   json_t *v = json_loads(body ? body : "", 0, NULL);
   const char *msg = json_string_value(json_object_get(json_object_get(v, "error"), "message"));
   char *out = msg ? xstrdup(msg) : xasprintf("%.200s", body && *body ? body : "(empty body)");
   json_decref(v);
   return out;
}

/* One HTTP call returning the decoded JSON body; NULL with *err naming the backend, the URL
 * and the service's own message. body (JSON) or upload (a file to send as multipart) or neither. */
static json_t *request(const FtBackend *b, const char *method, const char *path, const json_t *body,
                       const char *upload, char **err) {
   static bool inited;
   if (!inited) {
      curl_global_init(CURL_GLOBAL_DEFAULT);
      inited = true;
   }
   const char *key = NULL;
   if (b->key_env && *b->key_env) {
      key = getenv(b->key_env);
      if (!key || !*key) {
         *err = xasprintf("backend %s needs its API key in $%s, which is not set (export it, or "
                          "'offramp backend add %s ... --key-env VAR')", b->name, b->key_env, b->name);
         return NULL;
      }
   }
   /* curl reports an unreadable upload only as "read function returned funny value". */
   if (upload && access(upload, R_OK) != 0) {
      *err = xasprintf("cannot read %s to upload to backend %s: %s", upload, b->name, strerror(errno));
      return NULL;
   }
   size_t blen = strlen(b->base_url);
   char *url = xasprintf("%.*s%s", (int)(blen && b->base_url[blen - 1] == '/' ? blen - 1 : blen), b->base_url, path);
   CURL *c = curl_easy_init();
   struct curl_slist *hdrs = NULL;
   char *auth = key ? xasprintf("Authorization: Bearer %s", key) : NULL;
   if (auth)
      hdrs = curl_slist_append(hdrs, auth);
   char *json = NULL;
   curl_mime *mime = NULL;
   if (body) {
      json = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
      hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
   } else if (upload) {
      mime = curl_mime_init(c);
      curl_mimepart *p = curl_mime_addpart(mime);
      curl_mime_name(p, "purpose");
      curl_mime_data(p, "fine-tune", CURL_ZERO_TERMINATED);
      p = curl_mime_addpart(mime);
      curl_mime_name(p, "file");
      curl_mime_filedata(p, upload);
      curl_mime_type(p, "application/jsonl");
      curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
   } else if (str_eq(method, "POST")) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
   }
   Sbuf out = { 0 };
   char cerr[CURL_ERROR_SIZE] = "";
   curl_easy_setopt(c, CURLOPT_URL, url);
   curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
   curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
   curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
   curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
   curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
   curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, b->timeout_ms > 0 ? b->timeout_ms : 30000L);
   curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, b->timeout_ms > 0 && b->timeout_ms < 5000 ? b->timeout_ms : 5000L);
   curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
   curl_easy_setopt(c, CURLOPT_USERAGENT, "offramp/" PACKAGE_VERSION);
   CURLcode rc = curl_easy_perform(c);
   long status = 0;
   curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
   json_t *v = NULL;
   if (rc != CURLE_OK) {
      *err = xasprintf("backend %s: %s %s failed: %s (is the trainer running? check 'offramp backend list')",
                       b->name, method, url, *cerr ? cerr : curl_easy_strerror(rc));
   } else if (status >= 400) {
      char *msg = error_text(out.buf);
      *err = xasprintf("backend %s: %s %s: HTTP %ld: %s", b->name, method, path, status, msg);
      free(msg);
   } else if (!(v = json_loads(out.buf ? out.buf : "", 0, NULL)) || !json_is_object(v)) {
      *err = xasprintf("backend %s: %s %s: the answer is not a JSON object (is %s an OpenAI-shaped fine-tuning API?)",
                       b->name, method, path, b->base_url);
      json_decref(v);
      v = NULL;
   }
   Sbuf_free(&out);
   curl_mime_free(mime);
   curl_slist_free_all(hdrs);
   curl_easy_cleanup(c);
   free(json);
   free(auth);
   free(url);
   return v;
}

/* ---- openai-ft ---- */

static char *oa_upload(const FtBackend *b, const char *path, char **err) {
   json_t *v = request(b, "POST", "/files", NULL, path, err);
   if (!v)
      return NULL;
   const char *id = json_string_value(json_object_get(v, "id"));
   char *out = id ? xstrdup(id) : NULL;
   if (!id)
      *err = xasprintf("backend %s: the upload of %s returned no file id", b->name, path);
   json_decref(v);
   return out;
}

static json_t *job_or_error(const FtBackend *b, json_t *v, const char *doing, char **err) {
   if (v && !json_is_string(json_object_get(v, "id"))) {
      *err = xasprintf("backend %s: %s returned no job id", b->name, doing);
      json_decref(v);
      return NULL;
   }
   return v;
}

static json_t *oa_create_job(const FtBackend *b, const FtJobSpec *s, json_t **sent, char **notes, char **err) {
   json_t *hp = json_pack("{s:i, s:i}", "n_epochs", (int)s->epochs, "batch_size", (int)s->batch);
   Sbuf left = { 0 };
   /* OpenAI's API takes a learning-rate multiplier and no LoRA rank: send the seeds' values only
    * to services that declare them. */
   if (FtBackend_accepts(b, "learning_rate"))
      json_object_set_new(hp, "learning_rate", json_real(s->lr));
   else
      Sbuf_printf(&left, "learning rate %g", s->lr);
   if (s->lora_rank > 0 && FtBackend_accepts(b, "lora_rank"))
      json_object_set_new(hp, "lora_rank", json_integer(s->lora_rank));
   else if (s->lora_rank > 0)
      Sbuf_printf(&left, "%sLoRA rank %ld", left.len ? " and " : "", s->lora_rank);
   if (left.len)
      Sbuf_printf(&left, " not sent: backend %s does not declare them (offramp backend add %s ... --accepts "
                  "learning_rate,lora_rank)", b->name, b->name);
   json_t *body = json_pack("{s:s, s:s, s:O}", "model", s->base_model, "training_file", s->training_file,
                            "hyperparameters", hp);
   if (s->validation_file)
      json_object_set_new(body, "validation_file", json_string(s->validation_file));
   if (s->suffix && *s->suffix)
      json_object_set_new(body, "suffix", json_string(s->suffix));
   if (s->has_seed)
      json_object_set_new(body, "seed", json_integer(s->seed));
   json_t *v = job_or_error(b, request(b, "POST", "/fine_tuning/jobs", body, NULL, err), "creating the job", err);
   json_decref(body);
   *sent = hp;
   *notes = Sbuf_steal(&left);
   return v;
}

static json_t *oa_get_job(const FtBackend *b, const char *id, char **err) {
   char *path = xasprintf("/fine_tuning/jobs/%s", id);
   json_t *v = job_or_error(b, request(b, "GET", path, NULL, NULL, err), "reading the job", err);
   free(path);
   return v;
}

static json_t *oa_cancel_job(const FtBackend *b, const char *id, char **err) {
   char *path = xasprintf("/fine_tuning/jobs/%s/cancel", id);
   json_t *v = job_or_error(b, request(b, "POST", path, NULL, NULL, err), "cancelling the job", err);
   free(path);
   return v;
}

static json_t *list_or_error(const FtBackend *b, json_t *v, const char *what, char **err) {
   if (v && !json_is_array(json_object_get(v, "data"))) {
      *err = xasprintf("backend %s: the %s list has no 'data' array", b->name, what);
      json_decref(v);
      return NULL;
   }
   return v;
}

static json_t *oa_events(const FtBackend *b, const char *id, const char *after, int limit, char **err) {
   char *path = after ? xasprintf("/fine_tuning/jobs/%s/events?limit=%d&after=%s", id, limit, after)
                      : xasprintf("/fine_tuning/jobs/%s/events?limit=%d", id, limit);
   json_t *v = list_or_error(b, request(b, "GET", path, NULL, NULL, err), "events", err);
   free(path);
   return v;
}

static json_t *oa_checkpoints(const FtBackend *b, const char *id, char **err) {
   char *path = xasprintf("/fine_tuning/jobs/%s/checkpoints?limit=100", id);
   json_t *v = list_or_error(b, request(b, "GET", path, NULL, NULL, err), "checkpoints", err);
   free(path);
   return v;
}

static const FtKind openai_ft = {
   .name = "openai-ft",
   .summary = "OpenAI's fine-tuning API shape (OpenAI, offramp trainer, LiteLLM, OPEA, Nebius)",
   .upload = oa_upload,
   .create_job = oa_create_job,
   .get_job = oa_get_job,
   .cancel_job = oa_cancel_job,
   .events = oa_events,
   .checkpoints = oa_checkpoints,
};

const FtKind *const FtKinds[] = { &openai_ft };
const int FtKinds_count = (int)ARRAY_SIZE(FtKinds);

const FtKind *FtKind_find(const char *name) {
   for (int i = 0; i < FtKinds_count; i++) {
      if (str_eq(FtKinds[i]->name, name))
         return FtKinds[i];
   }
   return NULL;
}

bool FtBackend_accepts(const FtBackend *b, const char *param) {
   size_t n = strlen(param);
   for (const char *p = b->accepts ? b->accepts : ""; *p;) {
      size_t k = strcspn(p, ", ");
      if (k == n && strncmp(p, param, n) == 0)
         return true;
      p += k;
      p += strspn(p, ", ");
   }
   return false;
}

void FtBackend_clear(FtBackend *b) {
   free(b->name);
   free(b->base_url);
   free(b->key_env);
   free(b->accepts);
   memset(b, 0, sizeof *b);
}
