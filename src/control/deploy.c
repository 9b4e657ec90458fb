/* deploy.c - model versions and their deployments on vLLM, Ollama and llama.cpp server. Each
 * server kind is a small table of HTTP calls written from that server's own API (see the
 * stand-ins in tests/deploy/ for the versions followed); everything else is shared. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/sha256.h"
#include "common/stats.h"
#include "common/util.h"
#include "control/deploy.h"
#include "control/eval.h"
#include "control/experiment.h"
#include "control/task.h"
#include "http/httpbatch.h"

/* ---------------------------------------------------------------- HTTP */

typedef struct {
   long status;
   char *body;
} Reply;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
   Sbuf_add(ud, p, size * n);
   return size * n;
}

/* One call; false with *err on a transport error (no answer at all). json: a JSON body;
 * upload: a file sent as the body. method HEAD reads no body. */
static bool call(const char *method, const char *url, const char *json, const char *upload, const char *bearer,
                 long timeout_ms, Reply *r, char **err) {
   static bool inited;
   if (!inited) {
      curl_global_init(CURL_GLOBAL_DEFAULT);
      inited = true;
   }
   memset(r, 0, sizeof *r);
   FILE *in = NULL;
   if (upload && !(in = fopen(upload, "rb"))) {
      *err = xasprintf("cannot read %s to upload it: %s", upload, strerror(errno));
      return false;
   }
   CURL *c = curl_easy_init();
   struct curl_slist *hdrs = NULL;
   Sbuf out = { 0 };
   char cerr[CURL_ERROR_SIZE] = "";
   char *auth = bearer ? xasprintf("Authorization: Bearer %s", bearer) : NULL;
   if (auth)
      hdrs = curl_slist_append(hdrs, auth);
   if (json) {
      hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
   } else if (in) {
      struct stat sb;
      fstat(fileno(in), &sb);
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_READDATA, in);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)sb.st_size);
      hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
      hdrs = curl_slist_append(hdrs, "Expect:");
   }
   if (str_eq(method, "HEAD"))
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
   else
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
   curl_easy_setopt(c, CURLOPT_URL, url);
   curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
   curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
   curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
   curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
   curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
   curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
   curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
   curl_easy_setopt(c, CURLOPT_USERAGENT, "offramp/" PACKAGE_VERSION);
   CURLcode rc = curl_easy_perform(c);
   curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
   if (rc != CURLE_OK)
      *err = xasprintf("%s %s failed: %s (is the server running at that address?)", method, url,
                       *cerr ? cerr : curl_easy_strerror(rc));
   r->body = Sbuf_steal(&out);
   curl_slist_free_all(hdrs);
   free(auth);
   curl_easy_cleanup(c);
   if (in)
      fclose(in);
   return rc == CURLE_OK;
}

/* The server's own words from an error body: {"error":{"message"}} (vLLM, llama.cpp, OpenAI),
 * {"error":"..."} (Ollama), {"message"} or {"detail"} (older vLLM, FastAPI), else the text. */
static char *server_message(const Reply *r) {
   json_t *v = json_loads(r->body, 0, NULL);
   json_t *e = json_object_get(v, "error");
   const char *m = json_string_value(json_object_get(e, "message"));
   if (!m)
      m = json_string_value(e);
   if (!m)
      m = json_string_value(json_object_get(v, "message"));
   if (!m)
      m = json_string_value(json_object_get(v, "detail"));
   char *out = m ? xstrdup(m) : xasprintf("%.200s", *r->body ? r->body : "(empty body)");
   json_decref(v);
   return out;
}

/* ---------------------------------------------------------------- artifacts */

static char **walk_files;
static int walk_n;
static size_t walk_root;

static int walk_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
   (void)sb;
   (void)ftw;
   if (flag == FTW_F) {
      walk_files = xrealloc(walk_files, (size_t)(walk_n + 1) * sizeof *walk_files);
      walk_files[walk_n++] = xstrdup(path + walk_root + 1);
   }
   return 0;
}

static int cmp_str(const void *a, const void *b) {
   return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of a directory, relative to it, sorted; NULL when it cannot be read. */
static char **dir_files(const char *dir, int *n) {
   walk_files = NULL;
   walk_n = 0;
   walk_root = strlen(dir);
   while (walk_root > 1 && dir[walk_root - 1] == '/')
      walk_root--;
   if (nftw(dir, walk_one, 16, FTW_PHYS) != 0) {
      for (int i = 0; i < walk_n; i++)
         free(walk_files[i]);
      free(walk_files);
      return NULL;
   }
   qsort(walk_files, (size_t)walk_n, sizeof *walk_files, cmp_str);
   *n = walk_n;
   return walk_files;
}

static void free_files(char **f, int n) {
   for (int i = 0; i < n; i++)
      free(f[i]);
   free(f);
}

/* A file's digest, or a directory's: the SHA-256 of its sha256sum-style manifest (one
 * "DIGEST  RELPATH" line per regular file, sorted by path), so the same files give the same
 * digest wherever they are copied. *format: gguf or adapter-dir. */
static bool artifact_digest(const char *path, char hex[65], long long *size, const char **format, char **err) {
   struct stat sb;
   if (stat(path, &sb) != 0) {
      *err = xasprintf("artifact %s: %s (give the adapter directory or GGUF file the trainer wrote, or its URL)",
                       path, strerror(errno));
      return false;
   }
   if (S_ISREG(sb.st_mode)) {
      FILE *f = fopen(path, "rb");
      char magic[4] = { 0 };
      bool gguf = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
      if (f)
         fclose(f);
      if (!gguf) {
         *err = xasprintf("artifact %s is not a GGUF file (it does not start with GGUF) nor an adapter directory", path);
         return false;
      }
      if (!Sha256_file(path, hex)) {
         *err = xasprintf("cannot read %s: %s", path, strerror(errno));
         return false;
      }
      *size = (long long)sb.st_size;
      *format = "gguf";
      return true;
   }
   if (!S_ISDIR(sb.st_mode)) {
      *err = xasprintf("artifact %s is neither a file nor a directory", path);
      return false;
   }
   int n = 0;
   char **files = dir_files(path, &n);
   if (!files || n == 0) {
      free_files(files, n);
      *err = xasprintf("artifact directory %s has no files (a LoRA adapter directory holds adapter_config.json "
                       "and the adapter weights)", path);
      return false;
   }
   Sha256 m;
   Sha256_init(&m);
   *size = 0;
   bool ok = true;
   for (int i = 0; i < n && ok; i++) {
      char *full = xasprintf("%s/%s", path, files[i]);
      char fh[65];
      struct stat fs;
      if (!Sha256_file(full, fh) || stat(full, &fs) != 0) {
         *err = xasprintf("cannot read %s: %s", full, strerror(errno));
         ok = false;
      } else {
         char *line = xasprintf("%s  %s\n", fh, files[i]);
         Sha256_update(&m, line, strlen(line));
         free(line);
         *size += (long long)fs.st_size;
      }
      free(full);
   }
   free_files(files, n);
   if (ok)
      Sha256_final_hex(&m, hex);
   *format = "adapter-dir";
   return ok;
}

static bool is_url(const char *s) {
   return str_startswith(s, "http://") || str_startswith(s, "https://");
}

static bool is_hex64(const char *s) {
   size_t n = 0;
   for (; s[n]; n++) {
      if (!strchr("0123456789abcdef", s[n]))
         return false;
   }
   return n == 64;
}

bool Deploy_register(Store *st, const VersionSpec *v, long *version, char **err) {
   Task t;
   Task_init(&t);
   if (!Task_get(st, v->task, &t, err))
      return false;
   bool ok = false;
   char hex[65] = "";
   long long size = v->size;
   const char *format = "url";
   long long exp_id = 0, dataset = v->dataset_id;
   if (!v->base_model || !*v->base_model) {
      *err = xasprintf("--base-model is missing: name the model the adapter was trained on (e.g. Qwen/Qwen2.5-1.5B-Instruct)");
      goto out;
   }
   if (v->sha256 && !is_hex64(v->sha256)) {
      *err = xasprintf("--sha256 '%s' is not 64 lower-case hex digits", v->sha256);
      goto out;
   }
   if (is_url(v->artifact)) {
      if (!v->sha256) {
         *err = xasprintf("artifact %s is a URL, which offramp does not download: give its --sha256 (and --size) "
                          "so the version names exactly one artifact", v->artifact);
         goto out;
      }
      snprintf(hex, sizeof hex, "%s", v->sha256);
   } else {
      if (v->artifact[0] != '/') {
         *err = xasprintf("artifact %s: give an absolute path (servers and later commands resolve it elsewhere)", v->artifact);
         goto out;
      }
      if (!artifact_digest(v->artifact, hex, &size, &format, err))
         goto out;
      if (v->sha256 && !str_eq(v->sha256, hex)) {
         *err = xasprintf("artifact %s has sha256 %s, not the %s given (a different or partly copied artifact?)",
                          v->artifact, hex, v->sha256);
         goto out;
      }
   }
   if (v->job) {
      Experiment e;
      if (!Experiment_get(st, v->job, &e, err))
         goto out;
      bool same = e.task_id == t.id;
      exp_id = e.id;
      if (!dataset)
         dataset = e.dataset_id;
      if (!same)
         *err = xasprintf("job %s trained task %s, not %s", v->job, e.task, t.name);
      Experiment_clear(&e);
      if (!same)
         goto out;
   }
   if (!dataset)
      dataset = Experiment_latest_dataset(st, t.id);
   else if (Store_count(st, "SELECT count(*) FROM datasets WHERE id = ?1", dataset) == 0) {
      *err = xasprintf("--dataset %lld: no such dataset (offramp dataset list %s)", dataset, t.name);
      goto out;
   }
   if (!Store_begin(st, err))
      goto out;
   *version = (long)Store_count(st, "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE task_id = ?1", t.id);
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *s = Store_prepare(st,
      "INSERT INTO model_versions(task_id, version, dataset_id, experiment_id, artifact, format, base_model, rank,"
      " sha256, size, created_at, actor) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
   sqlite3_bind_int64(s, 1, t.id);
   sqlite3_bind_int64(s, 2, *version);
   if (dataset)
      sqlite3_bind_int64(s, 3, dataset);
   if (exp_id)
      sqlite3_bind_int64(s, 4, exp_id);
   sqlite3_bind_text(s, 5, v->artifact, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 6, format, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 7, v->base_model, -1, SQLITE_STATIC);
   if (v->rank > 0)
      sqlite3_bind_int64(s, 8, v->rank);
   sqlite3_bind_text(s, 9, hex, -1, SQLITE_STATIC);
   if (size >= 0)
      sqlite3_bind_int64(s, 10, size);
   sqlite3_bind_text(s, 11, ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 12, Store_actor(), -1, SQLITE_STATIC);
   bool ins = sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   if (!ins) {
      *err = Store_errmsg(st, "recording the model version");
      Store_rollback(st);
      goto out;
   }
   ok = Store_commit(st, err);
out:
   Task_clear(&t);
   return ok;
}

/* ---------------------------------------------------------------- server kinds */

/* What one deployment asks of a server. */
typedef struct {
   const char *server;        /* base URL, no trailing slash, no /v1 */
   const char *model;         /* the name the adapter is served under */
   const char *path;          /* the artifact as the server sees it */
   const char *local;         /* the artifact here (Ollama pushes its files) */
   const char *base;          /* the base model's name on the server */
   double scale;              /* llama.cpp */
   const char *key;           /* the server's API key, or NULL */
   long timeout_ms;
} Target;

typedef struct {
   const char *name;
   const char *health;        /* GET path that answers 200 when the server can serve */
   /* Whether the server serves the adapter now. */
   bool (*serving)(const Target *t, bool *yes, char **err);
   /* Makes it serve the adapter. */
   bool (*load)(const Target *t, char **err);
} ServerKind;

static char *url_of(const Target *t, const char *path) {
   return xasprintf("%s%s", t->server, path);
}

/* A call that must answer 2xx: false with *err naming the server, the call, the status and the
 * server's message (plus hint when given). */
static bool call_ok(const Target *t, const char *kind, const char *method, const char *path, const char *json,
                    const char *upload, Reply *r, const char *hint, char **err) {
   char *url = url_of(t, path);
   bool ok = call(method, url, json, upload, t->key, t->timeout_ms, r, err);
   if (ok && (r->status < 200 || r->status > 299)) {
      char *msg = server_message(r);
      *err = xasprintf("%s at %s: %s %s: HTTP %ld: %s%s%s", kind, t->server, method, path, r->status, msg,
                       hint ? " " : "", hint ? hint : "");
      free(msg);
      ok = false;
   }
   free(url);
   return ok;
}

/* vLLM: adapters are loaded at run time (VLLM_ALLOW_RUNTIME_LORA_UPDATING=True) and served
 * under their lora_name, which /v1/models lists beside the base model. */
static bool vllm_serving(const Target *t, bool *yes, char **err) {
   Reply r;
   *yes = false;
   if (!call_ok(t, "vLLM", "GET", "/v1/models", NULL, NULL, &r, NULL, err)) {
      free(r.body);
      return false;
   }
   json_t *v = json_loads(r.body, 0, NULL);
   size_t i;
   json_t *m;
   json_array_foreach(json_object_get(v, "data"), i, m) {
      if (str_eq(json_string_value(json_object_get(m, "id")), t->model))
         *yes = true;
   }
   bool ok = json_is_array(json_object_get(v, "data"));
   if (!ok)
      *err = xasprintf("vLLM at %s: GET /v1/models: no \"data\" list in: %.120s", t->server, r.body);
   json_decref(v);
   free(r.body);
   return ok;
}

static bool vllm_load(const Target *t, char **err) {
   json_t *b = json_pack("{s:s, s:s}", "lora_name", t->model, "lora_path", t->path);
   char *body = json_dumps(b, JSON_COMPACT);
   json_decref(b);
   Reply r;
   bool ok = call_ok(t, "vLLM", "POST", "/v1/load_lora_adapter", body, NULL, &r,
                     "(vLLM loads adapters at run time only with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and "
                     "--enable-lora; the path must exist on the server: --served-path)", err);
   free(r.body);
   free(body);
   return ok;
}

/* Ollama: the adapter's files are pushed as blobs (by digest), then a model is created from
 * the base model with the adapter; it answers under that name on its OpenAI-compatible /v1. */
static bool ollama_serving(const Target *t, bool *yes, char **err) {
   json_t *b = json_pack("{s:s}", "model", t->model);
   char *body = json_dumps(b, JSON_COMPACT);
   json_decref(b);
   char *url = url_of(t, "/api/show");
   Reply r;
   bool ok = call("POST", url, body, NULL, t->key, t->timeout_ms, &r, err);
   *yes = ok && r.status == 200;
   if (ok && r.status != 200 && r.status != 404) {
      char *msg = server_message(&r);
      *err = xasprintf("Ollama at %s: POST /api/show: HTTP %ld: %s", t->server, r.status, msg);
      free(msg);
      ok = false;
   }
   free(url);
   free(body);
   free(r.body);
   return ok;
}

static bool ollama_push(const Target *t, const char *file, char hex[65], char **err) {
   if (!Sha256_file(file, hex)) {
      *err = xasprintf("cannot read %s: %s", file, strerror(errno));
      return false;
   }
   char *path = xasprintf("/api/blobs/sha256:%s", hex);
   char *url = url_of(t, path);
   Reply r;
   bool ok = call("HEAD", url, NULL, NULL, t->key, t->timeout_ms, &r, err);
   if (ok && r.status != 200) {
      free(r.body);
      ok = call_ok(t, "Ollama", "POST", path, NULL, file, &r, NULL, err);
   }
   free(r.body);
   free(url);
   free(path);
   return ok;
}

static bool ollama_load(const Target *t, char **err) {
   if (!t->local || is_url(t->local)) {
      *err = xasprintf("Ollama needs the adapter's files here to push them, and %s is a URL: download it and "
                       "register the copy (offramp deploy register)", t->local ? t->local : "the artifact");
      return false;
   }
   json_t *adapters = json_object();
   struct stat sb;
   bool ok = stat(t->local, &sb) == 0;
   if (!ok)
      *err = xasprintf("artifact %s: %s", t->local, strerror(errno));
   else if (S_ISREG(sb.st_mode)) {
      char hex[65];
      ok = ollama_push(t, t->local, hex, err);
      const char *slash = strrchr(t->local, '/');
      json_object_set_new(adapters, slash ? slash + 1 : t->local, json_sprintf("sha256:%s", hex));
   } else {
      int n = 0;
      char **files = dir_files(t->local, &n);
      for (int i = 0; ok && files && i < n; i++) {
         char *full = xasprintf("%s/%s", t->local, files[i]);
         char hex[65];
         ok = ollama_push(t, full, hex, err);
         json_object_set_new(adapters, files[i], json_sprintf("sha256:%s", hex));
         free(full);
      }
      free_files(files, n);
   }
   if (ok) {
      json_t *b = json_pack("{s:s, s:s, s:O, s:b}", "model", t->model, "from", t->base, "adapters", adapters,
                            "stream", 0);
      char *body = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
      json_decref(b);
      Reply r;
      ok = call_ok(t, "Ollama", "POST", "/api/create", body, NULL, &r,
                   "(the base model must exist on the server: ollama pull it, or name it with --base)", err);
      free(r.body);
      free(body);
   }
   json_decref(adapters);
   return ok;
}

/* llama.cpp server: adapters are loaded at start (--lora FILE, listed by GET /lora-adapters
 * with an id) and only their scales change at run time; the POSTed list replaces every scale,
 * so exactly the deployed adapter is applied. */
static bool llamacpp_find(const Target *t, long *id, double *scale, char **err) {
   Reply r;
   *id = -1;
   if (!call_ok(t, "llama.cpp server", "GET", "/lora-adapters", NULL, NULL, &r, NULL, err)) {
      free(r.body);
      return false;
   }
   json_t *v = json_loads(r.body, 0, NULL);
   bool ok = json_is_array(v);
   if (!ok)
      *err = xasprintf("llama.cpp server at %s: GET /lora-adapters: not a list: %.120s", t->server, r.body);
   size_t i;
   json_t *a;
   json_array_foreach(v, i, a) {
      if (str_eq(json_string_value(json_object_get(a, "path")), t->path)) {
         *id = (long)json_integer_value(json_object_get(a, "id"));
         *scale = json_number_value(json_object_get(a, "scale"));
      }
   }
   json_decref(v);
   free(r.body);
   return ok;
}

static bool llamacpp_serving(const Target *t, bool *yes, char **err) {
   long id;
   double scale = 0;
   bool ok = llamacpp_find(t, &id, &scale, err);
   *yes = ok && id >= 0 && fabs(scale - t->scale) < 1e-6;
   return ok;
}

static bool llamacpp_load(const Target *t, char **err) {
   long id;
   double scale;
   if (!llamacpp_find(t, &id, &scale, err))
      return false;
   if (id < 0) {
      *err = xasprintf("llama.cpp server at %s has no adapter %s loaded, and llama-server loads adapters only at "
                       "start: restart it with --lora %s (or name the path it was given with --served-path)",
                       t->server, t->path, t->path);
      return false;
   }
   char *body = xasprintf("[{\"id\":%ld,\"scale\":%.6g}]", id, t->scale);
   Reply r;
   bool ok = call_ok(t, "llama.cpp server", "POST", "/lora-adapters", body, NULL, &r, NULL, err);
   free(r.body);
   free(body);
   return ok;
}

static const ServerKind kinds[] = {
   { .name = "vllm", .health = "/health", .serving = vllm_serving, .load = vllm_load },
   { .name = "ollama", .health = "/api/version", .serving = ollama_serving, .load = ollama_load },
   { .name = "llamacpp", .health = "/health", .serving = llamacpp_serving, .load = llamacpp_load },
};

static const ServerKind *kind_find(const char *name) {
   for (size_t i = 0; name && i < ARRAY_SIZE(kinds); i++) {
      if (str_eq(kinds[i].name, name))
         return &kinds[i];
   }
   return NULL;
}

/* Health, then the adapter loaded unless already served, then served for sure. */
static bool put_on_server(const ServerKind *k, const Target *t, bool *loaded, char **err) {
   Reply r;
   bool ok = call_ok(t, k->name, "GET", k->health, NULL, NULL, &r, "(the server is not ready to serve)", err);
   free(r.body);
   bool yes = false;
   *loaded = false;
   if (ok)
      ok = k->serving(t, &yes, err);
   if (ok && !yes) {
      ok = k->load(t, err) && k->serving(t, &yes, err);
      *loaded = true;
      if (ok && !yes) {
         *err = xasprintf("%s at %s accepted the adapter but does not list %s as served", k->name, t->server, t->model);
         ok = false;
      }
   }
   return ok;
}

/* llama.cpp answers under one model name whatever is asked; record the one it reports. */
static char *llamacpp_model(const Target *t, char **err) {
   Reply r;
   char *name = NULL;
   if (call_ok(t, "llama.cpp server", "GET", "/v1/models", NULL, NULL, &r, NULL, err)) {
      json_t *v = json_loads(r.body, 0, NULL);
      const char *id = json_string_value(json_object_get(json_array_get(json_object_get(v, "data"), 0), "id"));
      if (id)
         name = xstrdup(id);
      else
         *err = xasprintf("llama.cpp server at %s: GET /v1/models names no model: %.120s", t->server, r.body);
      json_decref(v);
   }
   free(r.body);
   return name;
}

/* ---------------------------------------------------------------- versions and deployments */

typedef struct {
   long long id, dataset_id;
   long version;
   char *artifact, *format, *base_model;
} Version;

static void version_clear(Version *v) {
   free(v->artifact);
   free(v->format);
   free(v->base_model);
}

static char *col(sqlite3_stmt *s, int i) {
   const char *v = (const char *)sqlite3_column_text(s, i);
   return xstrdup(v ? v : "");
}

static bool version_get(Store *st, const Task *t, long number, long long id, Version *v, char **err) {
   memset(v, 0, sizeof *v);
   sqlite3_stmt *s = Store_prepare(st,
      "SELECT id, version, coalesce(dataset_id, 0), artifact, format, base_model FROM model_versions"
      " WHERE task_id = ?1 AND (?2 = 0 OR version = ?2) AND (?3 = 0 OR id = ?3) ORDER BY version DESC LIMIT 1");
   sqlite3_bind_int64(s, 1, t->id);
   sqlite3_bind_int64(s, 2, number);
   sqlite3_bind_int64(s, 3, id);
   bool ok = sqlite3_step(s) == SQLITE_ROW;
   if (ok) {
      v->id = sqlite3_column_int64(s, 0);
      v->version = (long)sqlite3_column_int64(s, 1);
      v->dataset_id = sqlite3_column_int64(s, 2);
      v->artifact = col(s, 3);
      v->format = col(s, 4);
      v->base_model = col(s, 5);
   } else if (number) {
      *err = xasprintf("task %s has no version %ld (offramp deploy list %s)", t->name, number, t->name);
   } else {
      *err = xasprintf("task %s has no model version yet: record the trainer's artifact first "
                       "(offramp deploy register %s --artifact PATH --base-model MODEL)", t->name, t->name);
   }
   sqlite3_finalize(s);
   return ok;
}

/* The server's base URL as given, without trailing slashes or a trailing /v1. */
static char *server_base(const char *url, char **err) {
   if (!is_url(url)) {
      *err = xasprintf("--to '%s' is not an http(s) URL, e.g. http://gpu-box:8000", url);
      return NULL;
   }
   char *b = xstrdup(url);
   size_t n = strlen(b);
   while (n && b[n - 1] == '/')
      b[--n] = '\0';
   if (n >= 3 && str_eq(b + n - 3, "/v1"))
      b[n -= 3] = '\0';
   while (n && b[n - 1] == '/')
      b[--n] = '\0';
   return b;
}

/* Inside a transaction: the task's active deployment becomes old_status and a new active one is
 * recorded. */
static bool record_deployment(Store *st, long long task_id, long long version_id, const char *kind,
                              const Target *t, const char *key_env, const char *old_status, const char *reason,
                              long long *id, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "UPDATE deployments SET status = ?2 WHERE task_id = ?1 AND status = 'active'");
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_text(s, 2, old_status, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   char ts[32];
   now_iso8601(ts);
   char *chat = xasprintf("%s/v1", t->server);
   s = Store_prepare(st,
      "INSERT INTO deployments(task_id, version_id, kind, server, served_path, model, chat_url, base, scale, status,"
      " created_at, actor, reason, key_env) VALUES (?,?,?,?,?,?,?,?,?,'active',?,?,?,?)");
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_int64(s, 2, version_id);
   sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 4, t->server, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 5, t->path, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 6, t->model, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 7, chat, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 8, t->base ? t->base : "", -1, SQLITE_STATIC);
   sqlite3_bind_double(s, 9, t->scale);
   sqlite3_bind_text(s, 10, ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 11, Store_actor(), -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 12, reason ? reason : "", -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 13, key_env ? key_env : "", -1, SQLITE_STATIC);
   ok = ok && sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   free(chat);
   if (!ok)
      *err = Store_errmsg(st, "recording the deployment");
   *id = sqlite3_last_insert_rowid(st->db);
   return ok;
}

static bool save_deployment(Store *st, long long task_id, long long version_id, const char *kind, const Target *t,
                            const char *key_env, const char *old_status, const char *reason, long long *id,
                            char **err) {
   if (!Store_begin(st, err))
      return false;
   if (!record_deployment(st, task_id, version_id, kind, t, key_env, old_status, reason, id, err)) {
      Store_rollback(st);
      return false;
   }
   return Store_commit(st, err);
}

/* The API key named by key_env ("" or NULL: none); false with *err when the variable is unset. */
static bool server_key(const char *key_env, const char **key, char **err) {
   *key = NULL;
   if (!key_env || !*key_env)
      return true;
   *key = getenv(key_env);
   if (*key && **key)
      return true;
   *err = xasprintf("the server's API key is to be in $%s, which is not set (export %s=...)", key_env, key_env);
   return false;
}

bool Deploy_run(Store *st, const DeployRequest *r, long long *id, char **model, char **err) {
   *model = NULL;
   const ServerKind *k = kind_find(r->kind);
   if (!k) {
      *err = xasprintf("--kind '%s' is not a server kind: vllm, ollama or llamacpp", r->kind ? r->kind : "");
      return false;
   }
   if (r->scale <= 0 || r->scale > 10) {
      *err = xasprintf("--scale %g is out of range: give a scale in (0, 10] (1 applies the adapter as trained)", r->scale);
      return false;
   }
   Task t;
   Task_init(&t);
   if (!Task_get(st, r->task, &t, err))
      return false;
   Version v;
   char *server = NULL, *name = NULL;
   bool ok = false;
   if (!version_get(st, &t, r->version, 0, &v, err))
      goto out;
   const char *key;
   if (!(server = server_base(r->server, err)) || !server_key(r->key_env, &key, err))
      goto done;
   name = str_eq(k->name, "ollama") ? xasprintf("%s:v%ld", t.name, v.version) : xasprintf("%s-v%ld", t.name, v.version);
   Target tg = { .server = server, .model = name, .path = r->served_path ? r->served_path : v.artifact,
                 .local = v.artifact, .base = r->base ? r->base : v.base_model, .scale = r->scale,
                 .key = key, .timeout_ms = r->timeout_ms };
   bool loaded;
   if (!put_on_server(k, &tg, &loaded, err))
      goto done;
   if (str_eq(k->name, "llamacpp")) {
      free(name);
      if (!(name = llamacpp_model(&tg, err)))
         goto done;
      tg.model = name;
   }
   if (!save_deployment(st, t.id, v.id, k->name, &tg, r->key_env, "superseded", r->reason, id, err)) {
      char *e = *err;
      *err = xasprintf("%s (the server now serves %s; deploying again records it)", e, name);
      free(e);
      goto done;
   }
   *model = xstrdup(name);
   ok = true;
done:
   version_clear(&v);
out:
   free(server);
   free(name);
   Task_clear(&t);
   return ok;
}

typedef struct {
   long long id, version_id;
   char *kind, *server, *path, *model, *base, *key_env;
   double scale;
   long version;
} Deployment;

static void deployment_clear(Deployment *d) {
   free(d->kind);
   free(d->server);
   free(d->path);
   free(d->model);
   free(d->base);
   free(d->key_env);
}

/* where: extra condition on d (bound ?2 to a deployment id, ?3 to a version id). */
static bool deployment_find(Store *st, long long task_id, const char *where, long long a, long long b, Deployment *d) {
   memset(d, 0, sizeof *d);
   char *sql = xasprintf("SELECT d.id, d.version_id, d.kind, d.server, d.served_path, d.model, d.base, d.scale,"
                         " v.version, d.key_env FROM deployments d JOIN model_versions v ON v.id = d.version_id"
                         " WHERE d.task_id = ?1 AND %s ORDER BY d.id DESC LIMIT 1", where);
   sqlite3_stmt *s = Store_prepare(st, sql);
   free(sql);
   sqlite3_bind_int64(s, 1, task_id);
   if (sqlite3_bind_parameter_count(s) >= 2)
      sqlite3_bind_int64(s, 2, a);
   if (sqlite3_bind_parameter_count(s) >= 3)
      sqlite3_bind_int64(s, 3, b);
   bool ok = sqlite3_step(s) == SQLITE_ROW;
   if (ok) {
      d->id = sqlite3_column_int64(s, 0);
      d->version_id = sqlite3_column_int64(s, 1);
      d->kind = col(s, 2);
      d->server = col(s, 3);
      d->path = col(s, 4);
      d->model = col(s, 5);
      d->base = col(s, 6);
      d->scale = sqlite3_column_double(s, 7);
      d->version = (long)sqlite3_column_int64(s, 8);
      d->key_env = col(s, 9);
   }
   sqlite3_finalize(s);
   return ok;
}

bool Deploy_rollback(Store *st, const char *task, const char *reason, long timeout_ms, long long *id,
                     bool *reloaded, char **err) {
   Task t;
   Task_init(&t);
   if (!Task_get(st, task, &t, err))
      return false;
   Deployment cur, prev;
   Version v = { 0 };
   bool ok = false, have_prev = false;
   if (!deployment_find(st, t.id, "d.status = 'active'", 0, 0, &cur)) {
      *err = xasprintf("task %s has no active deployment to roll back (offramp deploy list %s)", t.name, t.name);
      goto out;
   }
   /* The newest earlier deployment of another version that was not itself rolled back. */
   have_prev = deployment_find(st, t.id, "d.id < ?2 AND d.version_id <> ?3 AND d.status <> 'rolled-back'", cur.id,
                               cur.version_id, &prev);
   if (!have_prev) {
      *err = xasprintf("task %s: no earlier version was deployed before v%ld (a version rolled back from is never "
                       "rolled back to), nothing to roll back to", t.name, cur.version);
      goto done;
   }
   if (!version_get(st, &t, 0, prev.version_id, &v, err))
      goto done;
   const ServerKind *k = kind_find(prev.kind);
   const char *key;
   Target tg = { .server = prev.server, .model = prev.model, .path = prev.path, .local = v.artifact,
                 .base = prev.base, .scale = prev.scale, .timeout_ms = timeout_ms };
   if (!k || !server_key(prev.key_env, &key, err))
      goto done;
   tg.key = key;
   if (!put_on_server(k, &tg, reloaded, err))
      goto done;
   char *why = xasprintf("rollback from v%ld to v%ld%s%s", cur.version, prev.version, reason && *reason ? ": " : "",
                         reason ? reason : "");
   ok = save_deployment(st, t.id, prev.version_id, prev.kind, &tg, prev.key_env, "rolled-back", why, id, err);
   free(why);
done:
   version_clear(&v);
   if (have_prev)
      deployment_clear(&prev);
   deployment_clear(&cur);
out:
   Task_clear(&t);
   return ok;
}

/* ---------------------------------------------------------------- listing */

/* The newest route change that pointed the task's candidate at this deployment (the route
 * revision at the end of the lineage), 0 when none did. */
static long long route_revision(Store *st, const char *task, const char *chat_url, const char *model) {
   if (!Store_has_table(st, "route_events"))
      return 0;
   sqlite3_stmt *s = Store_prepare(st,
      "SELECT coalesce(max(id), 0) FROM route_events WHERE task = ?1"
      " AND rtrim(json_extract(new_route, '$.candidate.url'), '/') = ?2"
      " AND json_extract(new_route, '$.candidate.model') = ?3");
   sqlite3_bind_text(s, 1, task, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 2, chat_url, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 3, model, -1, SQLITE_STATIC);
   long long id = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
   sqlite3_finalize(s);
   return id;
}

static json_t *col_json(sqlite3_stmt *s, int i) {
   switch (sqlite3_column_type(s, i)) {
   case SQLITE_NULL: return json_null();
   case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(s, i));
   case SQLITE_FLOAT: return json_real(sqlite3_column_double(s, i));
   default: return json_string((const char *)sqlite3_column_text(s, i));
   }
}

/* Each row of the query as an object keyed by column name. */
static json_t *rows_json(sqlite3_stmt *s) {
   json_t *a = json_array();
   while (sqlite3_step(s) == SQLITE_ROW) {
      json_t *o = json_object();
      for (int i = 0; i < sqlite3_column_count(s); i++) {
         const char *name = sqlite3_column_name(s, i);
         if (str_eq(name, "smoke") || str_eq(name, "load")) {
            const char *txt = (const char *)sqlite3_column_text(s, i);
            json_object_set_new(o, name, txt ? json_loads(txt, 0, NULL) : json_null());
         } else {
            json_object_set_new(o, name, col_json(s, i));
         }
      }
      json_array_append_new(a, o);
   }
   sqlite3_finalize(s);
   return a;
}

json_t *Deploy_list_json(Store *st, const char *task) {
   sqlite3_stmt *s = Store_prepare(st,
      "SELECT t.name AS task, v.version, v.artifact, v.format, v.base_model, v.rank, v.sha256, v.size,"
      " v.dataset_id AS dataset, v.experiment_id AS job, v.created_at, v.actor FROM model_versions v"
      " JOIN tasks t ON t.id = v.task_id WHERE ?1 IS NULL OR t.name = ?1 ORDER BY t.name, v.version DESC");
   sqlite3_bind_text(s, 1, task, -1, SQLITE_STATIC);
   json_t *versions = rows_json(s);
   s = Store_prepare(st,
      "SELECT d.id, t.name AS task, v.version, d.kind, d.server, d.model, d.chat_url, d.served_path, d.status,"
      " d.created_at, d.actor, d.reason, d.smoke_at, d.smoke_ok, d.smoke, d.load FROM deployments d"
      " JOIN tasks t ON t.id = d.task_id JOIN model_versions v ON v.id = d.version_id"
      " WHERE ?1 IS NULL OR t.name = ?1 ORDER BY t.name, d.id DESC");
   sqlite3_bind_text(s, 1, task, -1, SQLITE_STATIC);
   json_t *deps = rows_json(s);
   size_t i;
   json_t *d;
   json_array_foreach(deps, i, d) {
      long long rev = route_revision(st, json_string_value(json_object_get(d, "task")),
                                     json_string_value(json_object_get(d, "chat_url")),
                                     json_string_value(json_object_get(d, "model")));
      json_object_set_new(d, "route_event", rev ? json_integer(rev) : json_null());
      /* The same change numbered per task, as offramp route show and route revert number them. */
      long long number = 0;
      if (rev) {
         sqlite3_stmt *q = Store_prepare(st, "SELECT count(*) FROM route_events WHERE task = ?1 AND id <= ?2");
         sqlite3_bind_text(q, 1, json_string_value(json_object_get(d, "task")), -1, SQLITE_TRANSIENT);
         sqlite3_bind_int64(q, 2, rev);
         number = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
         sqlite3_finalize(q);
      }
      json_object_set_new(d, "route_revision", number ? json_integer(number) : json_null());
   }
   return json_pack("{s:o, s:o}", "versions", versions, "deployments", deps);
}

/* ---------------------------------------------------------------- readiness */

/* What the smoke check and the load work on: the task, its active deployment, the deployment's
 * API key and the test set of the dataset its version came from. */
typedef struct {
   Task t;
   Deployment d;
   EvalSet set;
   const char *key;
} Active;

static void active_close(Active *a) {
   EvalSet_clear(&a->set);
   deployment_clear(&a->d);
   Task_clear(&a->t);
}

/* false with *err (naming what it was wanted for) when the task has no active deployment, its
 * key is not set or its test set is empty. */
static bool active_open(Store *st, const char *task, const char *what, bool labels, Active *a, char **err) {
   memset(a, 0, sizeof *a);
   Task_init(&a->t);
   if (!Task_get(st, task, &a->t, err))
      return false;
   if (!deployment_find(st, a->t.id, "d.status = 'active'", 0, 0, &a->d)) {
      *err = xasprintf("task %s has no active deployment %s (offramp deploy %s --to URL --kind KIND)", a->t.name,
                       what, a->t.name);
      goto fail;
   }
   if (!server_key(a->d.key_env, &a->key, err))
      goto fail;
   long long dataset = Store_count(st, "SELECT coalesce(dataset_id, 0) FROM model_versions WHERE id = ?1", a->d.version_id);
   char id[32];
   snprintf(id, sizeof id, "%lld", dataset);
   if (EvalSet_load(st, a->t.id, dataset ? id : NULL, NULL, labels, &a->set, err) && a->set.n > 0)
      return true;
   if (!*err)
      *err = xasprintf("task %s: the test set of its dataset is empty: nothing to send", a->t.name);
fail:
   active_close(a);
   return false;
}

typedef struct {
   const EvalSet *set;
   const FormatSpec *fmt;   /* the task's declared checks, as evaluation applies them */
   CompareMode mode;
   SmokeResult *res;
   json_t *rows;
} SmokeCtx;

static void smoke_done(void *vctx, HttpJob *job, const HttpResult *r) {
   SmokeCtx *c = vctx;
   const EvalRow *row = job->user;
   json_t *resp = r->outcome == HTTP_OK ? json_loadb(r->body, r->len, 0, NULL) : NULL;
   const char *answer = Compare_answer(resp);
   bool fmt = answer && Eval_compliant(c->mode, c->set, c->fmt, row, answer);
   bool right = answer && Compare_answers(c->mode, answer, row->expected);
   c->res->answered += answer != NULL;
   c->res->in_format += fmt;
   c->res->correct += right;
   json_t *o = json_pack("{s:i, s:b, s:b}", "status", (int)r->status, "in_format", fmt, "correct", right);
   if (answer)
      json_object_set_new(o, "answer", json_string(answer));
   else
      json_object_set_new(o, "error", json_sprintf("%s%sHTTP %ld: %.120s", r->error, *r->error ? "; " : "",
                                                   r->status, r->body ? r->body : ""));
   json_array_append_new(c->rows, o);
   json_decref(resp);
}

bool Deploy_smoke(Store *st, const char *task, long timeout_ms, SmokeResult *res, char **summary, char **err) {
   memset(res, 0, sizeof *res);
   *summary = NULL;
   bool ok = false;
   Active a;
   if (!active_open(st, task, "to check", true, &a, err))
      return false;
   FormatSpec fmt = { 0 };
   if (!Task_format(&a.t, &fmt, err)) {
      active_close(&a);
      return false;
   }
   int n = a.set.n < SMOKE_ROWS ? (int)a.set.n : SMOKE_ROWS;
   char *chat = xasprintf("%s/v1/chat/completions", a.d.server);
   HttpJob jobs[SMOKE_ROWS];
   int max_tokens = Eval_max_tokens(&a.set);
   for (int i = 0; i < n; i++) {
      /* Spread over the test set, not its first rows: a set sorted by label would smoke one label. */
      EvalRow *row = &a.set.rows[(size_t)i * a.set.n / (size_t)n];
      jobs[i] = (HttpJob){ .url = chat, .bearer = a.key, .body = Eval_request_body(row, a.d.model, max_tokens),
                           .user = row };
   }
   SmokeCtx c = { .set = &a.set, .fmt = &fmt, .mode = Eval_compare_mode(st, &a.t), .res = res, .rows = json_array() };
   HttpBatchOpts o = { .concurrency = 4, .max_attempts = 2, .timeout_ms = timeout_ms, .backoff_ms = 200,
                       .done = smoke_done, .ctx = &c };
   HttpBatch_run(jobs, (size_t)n, &o);
   for (int i = 0; i < n; i++)
      free(jobs[i].body);
   res->rows = n;
   res->passed = res->answered == n && res->in_format >= (int)ceil(a.t.format_bar * n - 1e-9);
   *summary = xasprintf("v%ld (%s at %s, model %s) answered %d/%d smoke rows, %d/%d in the task's format "
                        "(needs %.0f %%), %d/%d as logged", a.d.version, a.d.kind, a.d.server, a.d.model,
                        res->answered, n, res->in_format, n, a.t.format_bar * 100, res->correct, n);
   char ts[32];
   now_iso8601(ts);
   json_t *js = json_pack("{s:i, s:i, s:i, s:i, s:s, s:o}", "rows", n, "answered", res->answered, "in_format",
                          res->in_format, "correct", res->correct, "summary", *summary, "answers", c.rows);
   char *txt = json_dumps(js, JSON_COMPACT);
   json_decref(js);
   sqlite3_stmt *s = Store_prepare(st, "UPDATE deployments SET smoke_at = ?2, smoke_ok = ?3, smoke = ?4 WHERE id = ?1");
   sqlite3_bind_int64(s, 1, a.d.id);
   sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
   sqlite3_bind_int(s, 3, res->passed);
   sqlite3_bind_text(s, 4, txt, -1, SQLITE_STATIC);
   ok = sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   free(txt);
   if (!ok)
      *err = Store_errmsg(st, "saving the smoke check");
   free(chat);
   FormatSpec_clear(&fmt);
   active_close(&a);
   return ok;
}

/* ---------------------------------------------------------------- load */

typedef struct {
   CURL *c;
   char *body;
   Sbuf sse;
   double start, first;   /* mono seconds; first 0 until a content token came */
} Stream;

static size_t on_stream(char *p, size_t size, size_t n, void *ud) {
   Stream *s = ud;
   size_t before = s->sse.len;
   Sbuf_add(&s->sse, p, size * n);
   /* The first content token: a "content" delta that is not empty (vLLM and llama.cpp send a
    * role-only chunk first). Searched from a little before the new bytes, for a split key. */
   for (const char *k = s->sse.buf + (before > 16 ? before - 16 : 0); !s->first && (k = strstr(k, "\"content\":\"")); k++) {
      if (k[11] != '"')
         s->first = mono_seconds();
   }
   return size * n;
}

static char *stream_body(const EvalRow *row, const char *model, int max_tokens) {
   char *txt = Eval_request_body(row, model, max_tokens);
   json_t *b = json_loads(txt, 0, NULL);
   free(txt);
   json_object_del(b, "logprobs");
   json_object_del(b, "top_logprobs");
   json_object_set_new(b, "stream", json_true());
   json_object_set_new(b, "stream_options", json_pack("{s:b}", "include_usage", 1));
   txt = json_dumps(b, JSON_COMPACT);
   json_decref(b);
   return txt;
}

static void stream_start(CURLM *m, Stream *s, const char *url, const char *body, long timeout_ms,
                         struct curl_slist *hdrs) {
   memset(s, 0, sizeof *s);
   s->body = xstrdup(body);
   s->c = curl_easy_init();
   curl_easy_setopt(s->c, CURLOPT_URL, url);
   curl_easy_setopt(s->c, CURLOPT_POSTFIELDS, s->body);
   curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, hdrs);
   curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, on_stream);
   curl_easy_setopt(s->c, CURLOPT_WRITEDATA, s);
   curl_easy_setopt(s->c, CURLOPT_PRIVATE, s);
   curl_easy_setopt(s->c, CURLOPT_TIMEOUT_MS, timeout_ms);
   curl_easy_setopt(s->c, CURLOPT_NOSIGNAL, 1L);
   s->start = mono_seconds();
   curl_multi_add_handle(m, s->c);
}

/* Completion tokens of a finished stream: the usage the server reported, else its content events. */
static long stream_tokens(const Stream *s) {
   json_t *r = Compare_stream_response(s->sse.buf, s->sse.len);
   json_t *u = json_object_get(json_object_get(r, "usage"), "completion_tokens");
   long n = json_is_integer(u) ? (long)json_integer_value(u) : 0;
   json_decref(r);
   for (const char *p = s->sse.buf; !n && p && (p = strstr(p, "\"content\":\"")); p++)
      n += p[11] != '"';
   return n;
}

/* `requests` streamed requests (the set's rows in turn) to the chat completions URL, with
 * `concurrency` in flight: TTFT, latency and decode speed per request (see LoadResult). */
static void load_measure(const char *url, const char *key, const char *model, const EvalSet *set, int concurrency,
                         int requests, long timeout_ms, LoadResult *res) {
   memset(res, 0, sizeof *res);
   struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
   char *auth = key ? xasprintf("Authorization: Bearer %s", key) : NULL;
   if (auth)
      hdrs = curl_slist_append(hdrs, auth);
   int max_tokens = Eval_max_tokens(set);
   double *ttft = xcalloc((size_t)requests, sizeof *ttft), *lat = xcalloc((size_t)requests, sizeof *lat);
   double *speed = xcalloc((size_t)requests, sizeof *speed);
   Stream *slots = xcalloc((size_t)concurrency, sizeof *slots);
   long tokens = 0;
   int started = 0, running = 0;
   CURLM *m = curl_multi_init();
   double t0 = mono_seconds();
   for (; started < requests && started < concurrency; started++) {
      char *body = stream_body(&set->rows[(size_t)started % set->n], model, max_tokens);
      stream_start(m, &slots[started], url, body, timeout_ms, hdrs);
      free(body);
   }
   do {
      curl_multi_perform(m, &running);
      CURLMsg *msg;
      int left;
      while ((msg = curl_multi_info_read(m, &left))) {
         if (msg->msg != CURLMSG_DONE)
            continue;
         Stream *s;
         long status = 0;
         curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
         curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
         double end = mono_seconds();
         if (msg->data.result == CURLE_OK && status == 200 && s->first) {
            long n = stream_tokens(s);
            ttft[res->ok] = (s->first - s->start) * 1000;
            lat[res->ok] = (end - s->start) * 1000;
            speed[res->ok] = end - s->first > 1e-6 ? (double)n / (end - s->first) : 0;
            tokens += n;
            res->ok++;
         } else {
            res->errors++;
         }
         curl_multi_remove_handle(m, s->c);
         curl_easy_cleanup(s->c);
         free(s->body);
         Sbuf_free(&s->sse);
         if (started < requests) {
            char *body = stream_body(&set->rows[(size_t)started % set->n], model, max_tokens);
            stream_start(m, s, url, body, timeout_ms, hdrs);
            free(body);
            started++;
            running++;
         }
      }
      if (running)
         curl_multi_poll(m, NULL, 0, 100, NULL);
   } while (running);
   res->wall_s = mono_seconds() - t0;
   curl_multi_cleanup(m);
   curl_slist_free_all(hdrs);
   free(auth);
   free(slots);
   res->concurrency = concurrency;
   res->requests = requests;
   res->throughput_tokens_s = res->wall_s > 0 ? (double)tokens / res->wall_s : 0;
   res->tokens_per_s = EvalStats_percentile(speed, (size_t)res->ok, 0.5);
   res->ttft_p50_ms = EvalStats_percentile(ttft, (size_t)res->ok, 0.5);
   res->ttft_p99_ms = EvalStats_percentile(ttft, (size_t)res->ok, 0.99);
   res->latency_p50_ms = EvalStats_percentile(lat, (size_t)res->ok, 0.5);
   res->latency_p99_ms = EvalStats_percentile(lat, (size_t)res->ok, 0.99);
   free(ttft);
   free(lat);
   free(speed);
}

static json_t *load_json(const LoadResult *res, const char *url, const char *model) {
   return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "url", url, "model", model,
                    "concurrency", res->concurrency, "requests", res->requests, "ok", res->ok, "errors", res->errors,
                    "ttft_p50_ms", res->ttft_p50_ms, "ttft_p99_ms", res->ttft_p99_ms, "latency_p50_ms",
                    res->latency_p50_ms, "latency_p99_ms", res->latency_p99_ms, "tokens_per_s", res->tokens_per_s,
                    "throughput_tokens_s", res->throughput_tokens_s, "wall_s", res->wall_s);
}

bool Deploy_load(Store *st, const char *task, int concurrency, int requests, long timeout_ms,
                 const EvalEndpoint *frontier, LoadResult *res, LoadResult *fres, char **err) {
   memset(res, 0, sizeof *res);
   if (fres)
      memset(fres, 0, sizeof *fres);
   bool ok = false;
   Active a;
   if (!active_open(st, task, "to load", false, &a, err))
      return false;
   char *url = xasprintf("%s/v1/chat/completions", a.d.server);
   load_measure(url, a.key, a.d.model, &a.set, concurrency, requests, timeout_ms, res);
   if (res->ok == 0) {
      *err = xasprintf("none of the %d streamed requests to %s (model %s) got a content token: is it serving?",
                       requests, a.d.server, a.d.model);
      goto done;
   }
   /* The frontier measured the same way, right after: the same rows, requests and concurrency. */
   if (frontier) {
      load_measure(frontier->url, frontier->key, frontier->model, &a.set, concurrency, requests, timeout_ms, fres);
      if (fres->ok == 0) {
         *err = xasprintf("none of the %d streamed requests to the frontier %s (model %s) got a content token: "
                          "does it stream?", requests, frontier->url, frontier->model);
         goto done;
      }
   }
   char ts[32];
   now_iso8601(ts);
   json_t *js = load_json(res, url, a.d.model);
   if (!js || json_object_set_new(js, "at", json_string(ts)) ||
       json_object_set_new(js, "version", json_integer(a.d.version)) ||
       json_object_set_new(js, "frontier", frontier ? load_json(fres, frontier->url, frontier->model) : json_null())) {
      json_decref(js);
      *err = xstrdup("out of memory packing the load figures");
      goto done;
   }
   char *txt = json_dumps(js, JSON_COMPACT);
   json_decref(js);
   if (!txt) {
      *err = xstrdup("out of memory packing the load figures");
      goto done;
   }
   sqlite3_stmt *s = Store_prepare(st, "UPDATE deployments SET load = ?2 WHERE id = ?1");
   sqlite3_bind_int64(s, 1, a.d.id);
   sqlite3_bind_text(s, 2, txt, -1, SQLITE_STATIC);
   ok = sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   free(txt);
   if (!ok)
      *err = Store_errmsg(st, "saving the load figures");
done:
   free(url);
   active_close(&a);
   return ok;
}

char *Deploy_load_text(const char *model, const LoadResult *r, const char *frontier, const LoadResult *f) {
   Sbuf sb = { 0 };
   if (!f) {
      Sbuf_printf(&sb, "%s: %d requests at concurrency %d: %d ok, %d errors in %.2f s\n"
                  "  time to first token  p50 %.1f ms  p99 %.1f ms\n"
                  "  latency              p50 %.1f ms  p99 %.1f ms\n"
                  "  decode speed         %.1f tokens/s per request (median), %.1f tokens/s in all\n",
                  model, r->requests, r->concurrency, r->ok, r->errors, r->wall_s, r->ttft_p50_ms, r->ttft_p99_ms,
                  r->latency_p50_ms, r->latency_p99_ms, r->tokens_per_s, r->throughput_tokens_s);
      return Sbuf_steal(&sb);
   }
   char a[64], b[64];
   Sbuf_printf(&sb, "load at concurrency %d: %d streamed requests to each, the test set's rows in turn\n", r->concurrency,
               r->requests);
   Sbuf_printf(&sb, "  %-26s %-24.24s %.24s\n", "", model, frontier);
   snprintf(a, sizeof a, "%d ok, %d errors", r->ok, r->errors);
   snprintf(b, sizeof b, "%d ok, %d errors", f->ok, f->errors);
   Sbuf_printf(&sb, "  %-26s %-24s %s\n", "answered (n)", a, b);
#define ROW(label, fmt, field)                                   \
   snprintf(a, sizeof a, fmt, r->field);                          \
   snprintf(b, sizeof b, fmt, f->field);                          \
   Sbuf_printf(&sb, "  %-26s %-24s %s\n", label, a, b);
   ROW("time to first token p50", "%.1f ms", ttft_p50_ms)
   ROW("time to first token p99", "%.1f ms", ttft_p99_ms)
   ROW("latency p50", "%.1f ms", latency_p50_ms)
   ROW("latency p99", "%.1f ms", latency_p99_ms)
   ROW("decode speed (median)", "%.1f tokens/s", tokens_per_s)
   ROW("throughput", "%.1f tokens/s", throughput_tokens_s)
   ROW("wall time", "%.2f s", wall_s)
#undef ROW
   return Sbuf_steal(&sb);
}

json_t *Deploy_load_figures(Store *st, long long task_id) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT d.id, d.kind, d.server, d.status, d.load FROM deployments d"
                                       " WHERE d.task_id = ?1 AND d.load IS NOT NULL ORDER BY d.id DESC LIMIT 1");
   sqlite3_bind_int64(s, 1, task_id);
   json_t *j = NULL;
   if (sqlite3_step(s) == SQLITE_ROW) {
      json_t *load = json_loads((const char *)sqlite3_column_text(s, 4), 0, NULL);
      if (load)
         j = json_pack("{s:I, s:s, s:s, s:s, s:o}", "deployment", (json_int_t)sqlite3_column_int64(s, 0), "kind",
                       (const char *)sqlite3_column_text(s, 1), "server", (const char *)sqlite3_column_text(s, 2),
                       "status", (const char *)sqlite3_column_text(s, 3), "load", load);
   }
   sqlite3_finalize(s);
   return j;
}

DeployGate Deploy_gate(Store *st, long long task_id, char **why) {
   sqlite3_stmt *n = Store_prepare(st, "SELECT name FROM tasks WHERE id = ?1");
   sqlite3_bind_int64(n, 1, task_id);
   char *name = sqlite3_step(n) == SQLITE_ROW ? col(n, 0) : xstrdup("?");
   sqlite3_finalize(n);
   DeployGate g;
   long long versions = Store_count(st, "SELECT count(*) FROM model_versions WHERE task_id = ?1", task_id);
   sqlite3_stmt *s = Store_prepare(st,
      "SELECT v.version, d.kind, d.server, d.smoke_at, d.smoke_ok, json_extract(d.smoke, '$.summary')"
      " FROM deployments d JOIN model_versions v ON v.id = d.version_id"
      " WHERE d.task_id = ?1 AND d.status = 'active' ORDER BY d.id DESC LIMIT 1");
   sqlite3_bind_int64(s, 1, task_id);
   if (versions == 0) {
      g = DEPLOY_GATE_NONE;
      *why = xasprintf("no model version of %s is registered: its candidate is not deployed by offramp", name);
   } else if (sqlite3_step(s) != SQLITE_ROW) {
      g = DEPLOY_GATE_WAIT;
      *why = xasprintf("%s has %lld model version%s but none is deployed (offramp deploy %s --to URL --kind KIND)",
                       name, versions, versions == 1 ? "" : "s", name);
   } else if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
      g = DEPLOY_GATE_WAIT;
      *why = xasprintf("v%lld on %s at %s has not been smoke-tested (offramp deploy smoke %s)",
                       (long long)sqlite3_column_int64(s, 0), sqlite3_column_text(s, 1), sqlite3_column_text(s, 2), name);
   } else if (!sqlite3_column_int(s, 4)) {
      g = DEPLOY_GATE_WAIT;
      *why = xasprintf("smoke check failed at %s: %s (fix the deployment, then offramp deploy smoke %s)",
                       sqlite3_column_text(s, 3), sqlite3_column_text(s, 5), name);
   } else {
      g = DEPLOY_GATE_READY;
      *why = xasprintf("%s (checked %s)", sqlite3_column_text(s, 5), sqlite3_column_text(s, 3));
   }
   sqlite3_finalize(s);
   free(name);
   return g;
}

bool Deploy_gate_check(Store *st, long long task_id, GateCheck *c) {
   char *why = NULL;
   DeployGate g = Deploy_gate(st, task_id, &why);
   if (g != DEPLOY_GATE_NONE)
      GateCheck_set(c, g == DEPLOY_GATE_READY ? CHECK_PASS : CHECK_FAIL, "deployment smoke check", "%s", why);
   free(why);
   return g != DEPLOY_GATE_NONE;
}
