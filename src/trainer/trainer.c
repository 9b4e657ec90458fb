/* trainer.c - the built-in trainer daemon: HTTP routes in the event-loop thread, training
 * in one worker thread, the models' answers in one inference thread (the loop never runs a
 * model), all shared state behind one mutex, everything persisted as JSON files
 * written atomically (files/, jobs/) plus model files (models/). */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/mdview.h"
#include "common/util.h"
#include "http/httpfront.h"
#include "http/httpreply.h"
#include "http/multipart.h"
#include "trainer/chatdata.h"
#include "trainer/distill.h"
#include "trainer/tagger.h"
#include "trainer/trainer.h"

#define SMALL_BODY_MAX (1 << 20)   /* job creation and chat requests */
#define TOP_LOGPROBS_MAX 20

typedef struct {
   json_t *obj;          /* the job object exactly as the API returns it */
   json_t *events;       /* oldest first */
   json_t *checkpoints;  /* oldest first */
   bool cancel;          /* set by the cancel endpoint; the worker stops at its next step */
   Distill *model;       /* loaded once when the job succeeded (or at start-up): a classifier ... */
   Tagger *ext;          /* ... or an extractor, for datasets whose answers are JSON objects */
   char *model_err;      /* why a succeeded job's model could not be loaded */
} Job;

typedef struct {
   pthread_mutex_t lock;
   pthread_cond_t wake;
   json_t *files;        /* id -> file object */
   Job **jobs;           /* creation order */
   int njobs;
   bool stopping;
   char *dir;
   size_t max_upload;
   int epoch_pace_ms;
   const char *token;    /* bearer token clients must send; NULL: none (loopback only) */
   long max_files;       /* upload quota: files stored ... */
   long long max_storage;   /* ... and their bytes */
   struct event_base *base;
   HttpFront *front;
   /* Chat completions for the inference thread (under lock): queued, and answered. */
   struct Infer *infer_head, *infer_tail, *infer_done, *infer_done_tail;
   pthread_cond_t infer_wake;
   struct event *infer_ev;  /* made active by the inference thread: results to send */
} Trainer;

/* ---- ids, time, persistence ---- */

static void rand_id(char *out, size_t size, const char *prefix) {
   static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
   unsigned char r[24];
   if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
      /* getrandom only fails before the entropy pool is ready; time and address still differ per call */
      uint64_t h = hash64_str(prefix) ^ (uint64_t)(now_seconds() * 1e9) ^ (uintptr_t)out;
      for (size_t i = 0; i < sizeof r; i++, h = h * 6364136223846793005ULL + 1442695040888963407ULL)
         r[i] = (unsigned char)(h >> 56);
   }
   size_t n = (size_t)snprintf(out, size, "%s", prefix);
   for (size_t i = 0; i < sizeof r && n + 1 < size; i++)
      out[n++] = alphabet[r[i] % (sizeof alphabet - 1)];
   out[n] = '\0';
}

static char *path_of(const Trainer *t, const char *sub, const char *id, const char *ext) {
   return xasprintf("%s/%s/%s%s", t->dir, sub, id, ext);
}

static bool save_json(const char *path, json_t *v, char **err) {
   char *s = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
   if (!s) {
      *err = xasprintf("cannot write %s: the record cannot be serialised (a trainer bug)", path);
      return false;
   }
   bool ok = write_file_atomic(path, s, strlen(s), err);
   free(s);
   return ok;
}

/* Caller holds the lock. A failed save is reported on stderr: the job goes on in memory. */
static void job_save(Trainer *t, Job *j) {
   json_t *doc = json_pack("{s:O, s:O, s:O}", "job", j->obj, "events", j->events, "checkpoints", j->checkpoints);
   char *path = path_of(t, "jobs", json_string_value(json_object_get(j->obj, "id")), ".json");
   char *err = NULL;
   if (!save_json(path, doc, &err)) {
      warnx_("trainer: %s", err);
      free(err);
   }
   free(path);
   json_decref(doc);
}

static const char *job_id(const Job *j) {
   return json_string_value(json_object_get(j->obj, "id"));
}

static const char *job_status(const Job *j) {
   return json_string_value(json_object_get(j->obj, "status"));
}

static bool status_final(const char *s) {
   return str_eq(s, "succeeded") || str_eq(s, "failed") || str_eq(s, "cancelled");
}

/* Appends an event (data may be NULL for a message event; it is stolen). Caller holds the lock. */
static void job_event(Job *j, const char *level, json_t *data, const char *fmt, ...) ATTR_PRINTF(4, 5);
static void job_event(Job *j, const char *level, json_t *data, const char *fmt, ...) {
   char id[40];
   rand_id(id, sizeof id, "ftevent-");
   va_list ap;
   va_start(ap, fmt);
   char *msg = xvasprintf(fmt, ap);
   va_end(ap);
   /* The message may quote a training file or a library's error: Json_textz keeps it valid. */
   json_t *ev = json_pack("{s:s, s:s, s:I, s:s, s:o, s:o, s:s}", "object", "fine_tuning.job.event", "id", id,
                          "created_at", (json_int_t)time(NULL), "level", level, "message", Json_textz(msg),
                          "data", data ? data : json_object(), "type", data ? "metrics" : "message");
   if (ev)
      json_array_append_new(j->events, ev);
   free(msg);
}

static void job_set_status(Job *j, const char *status) {
   json_object_set_new(j->obj, "status", json_string(status));
   if (status_final(status))
      json_object_set_new(j->obj, "finished_at", json_integer((json_int_t)time(NULL)));
}

static void job_fail(Job *j, const char *code, const char *param, const char *message) {
   job_set_status(j, "failed");
   json_t *e = json_pack("{s:s, s:o, s:s?}", "code", code, "message", Json_textz(message), "param", param);
   json_object_set_new(j->obj, "error", e ? e : json_null());
   job_event(j, "error", NULL, "%s", message);
}

static Job *job_find(Trainer *t, const char *id) {
   for (int i = 0; i < t->njobs; i++) {
      if (str_eq(job_id(t->jobs[i]), id))
         return t->jobs[i];
   }
   return NULL;
}

static void job_free(Job *j) {
   json_decref(j->obj);
   json_decref(j->events);
   json_decref(j->checkpoints);
   Distill_free(j->model);
   Tagger_free(j->ext);
   free(j->model_err);
   free(j);
}

/* ---- HTTP helpers ---- */

/* Parses a JSON object body; sends the error and returns NULL when it is not one. */
static json_t *json_body(HttpReq *req) {
   size_t len;
   const char *body = HttpReq_body(req, &len);
   if (len > SMALL_BODY_MAX) {
      Reply_error(req, 413, NULL, NULL, "request_too_large", "the request body is %zu bytes; this endpoint takes at most %d",
                 len, SMALL_BODY_MAX);
      return NULL;
   }
   json_error_t je;
   json_t *v = json_loadb(body, len, 0, &je);
   if (!json_is_object(v)) {
      Reply_error(req, 400, NULL, NULL, "invalid_json", "the request body is not a JSON object (%s)",
                 v ? "another JSON value" : je.text);
      json_decref(v);
      return NULL;
   }
   return v;
}

/* OpenAI list pagination over an oldest-first array: newest first, starting after the item
 * with id `after`, at most limit items. */
static json_t *page(const json_t *arr, const char *after, long limit) {
   json_t *data = json_array();
   long i = (long)json_array_size(arr) - 1;
   if (after) {
      while (i >= 0 && !str_eq(json_string_value(json_object_get(json_array_get(arr, (size_t)i), "id")), after))
         i--;
      i--;
   }
   for (; i >= 0 && (long)json_array_size(data) < limit; i--)
      json_array_append(data, json_array_get(arr, (size_t)i));
   return json_pack("{s:s, s:o, s:b}", "object", "list", "data", data, "has_more", i >= 0);
}

/* limit and after from the query string; false after sending an error. */
static bool page_params(HttpReq *req, long *limit, char **after) {
   struct evkeyvalq q;
   const char *query = HttpReq_query(req);
   *limit = 20;
   *after = NULL;
   if (!query)
      return true;
   if (evhttp_parse_query_str(query, &q) != 0) {
      Reply_error(req, 400, NULL, NULL, "invalid_query", "the query string '%s' cannot be parsed", query);
      return false;
   }
   const char *l = evhttp_find_header(&q, "limit"), *a = evhttp_find_header(&q, "after");
   bool ok = true;
   if (l && (!parse_long(l, limit) || *limit < 1 || *limit > 1000)) {
      Reply_error(req, 400, NULL, "limit", "invalid_limit", "limit '%s' is not a whole number from 1 to 1000", l);
      ok = false;
   }
   if (ok && a)
      *after = xstrdup(a);
   evhttp_clear_headers(&q);
   return ok;
}

/* ---- files ---- */

#define FILENAME_MAX_BYTES 255

/* Files stored and their bytes (uploads and job results both count). Caller holds the lock. */
static void files_usage(const Trainer *t, long *n, long long *bytes) {
   const char *key;
   json_t *f;
   *n = 0;
   *bytes = 0;
   json_object_foreach((json_t *)t->files, key, f) {
      (*n)++;
      *bytes += json_integer_value(json_object_get(f, "bytes"));
   }
}

/* Whether one more file of len bytes fits the quota; sends the error when not. Nothing is
 * written before this says yes. */
static bool quota_ok(Trainer *t, HttpReq *req, size_t len) {
   long n;
   long long bytes;
   pthread_mutex_lock(&t->lock);
   files_usage(t, &n, &bytes);
   pthread_mutex_unlock(&t->lock);
   /* A quota is not a rate limit: tell OpenAI's clients not to retry the same upload. */
   if ((long long)len > t->max_storage) {
      Reply_error(req, 413, NULL, "file", "storage_quota_exceeded", "the file is %zu bytes, more than the trainer's whole "
                 "storage quota of %lld bytes (start it with a larger --max-storage BYTES)", len, t->max_storage);
      return false;
   }
   if (n >= t->max_files) {
      HttpReq_add_header(req, "x-should-retry", "false");
      Reply_error(req, 429, "insufficient_quota", "file", "file_quota_exceeded", "the trainer stores %ld files, its "
                 "limit (--max-files %ld): delete some with DELETE /v1/files/ID or restart it with a larger --max-files",
                 n, t->max_files);
      return false;
   }
   if (bytes + (long long)len > t->max_storage) {
      HttpReq_add_header(req, "x-should-retry", "false");
      Reply_error(req, 429, "insufficient_quota", "file", "storage_quota_exceeded", "the trainer stores %lld bytes; "
                 "this file's %zu would pass its limit (--max-storage %lld): delete files with DELETE /v1/files/ID "
                 "or restart it with a larger --max-storage", bytes, len, t->max_storage);
      return false;
   }
   return true;
}

/* Stores file record obj (its id, its data): the data first, then the record, whose presence
 * is what makes the file exist (at start-up too). On failure neither stays on disk. */
static bool file_save(Trainer *t, json_t *obj, const void *data, size_t len, char **err) {
   const char *id = json_string_value(json_object_get(obj, "id"));
   char *data_path = path_of(t, "files", id, ".data"), *meta_path = path_of(t, "files", id, ".json");
   bool ok = write_file_atomic(data_path, data, len, err);
   if (ok && !save_json(meta_path, obj, err)) {
      unlink(data_path);
      ok = false;
   }
   free(data_path);
   free(meta_path);
   return ok;
}

/* Whether an upload is chat JSONL the distiller can read; *err says why not. */
static bool chat_file_ok(const MultipartPart *file, char **err) {
   ChatData d;
   if (!ChatData_parse(file->data, file->len, &d, err))
      return false;
   ChatData_free(&d);
   return true;
}

/* The file object of a new file; the client's filename is cleaned to UTF-8. */
static json_t *file_object(const char *id, size_t len, const char *filename, const char *purpose) {
   return json_pack("{s:s, s:s, s:I, s:I, s:o, s:s, s:s}", "object", "file", "id", id, "bytes", (json_int_t)len,
                    "created_at", (json_int_t)time(NULL), "filename", Json_textz(filename), "purpose", purpose,
                    "status", "processed");
}

static void files_upload(Trainer *t, HttpReq *req) {
   size_t len;
   const char *body = HttpReq_body(req, &len);
   char *err = NULL;
   const char *ctype = HttpReq_header(req, "Content-Type");
   char *boundary = Multipart_boundary(ctype, &err);
   Multipart mp;
   if (!boundary) {
      Reply_error(req, 400, NULL, NULL, "invalid_request", "upload a file as multipart/form-data with fields 'file' and "
                 "'purpose': %s", err);
      free(err);
      return;
   }
   if (!Multipart_parse(body, len, boundary, &mp, &err)) {
      Reply_error(req, 400, NULL, NULL, "invalid_multipart", "the multipart body cannot be parsed: %s", err);
      free(err);
      free(boundary);
      return;
   }
   free(boundary);
   const MultipartPart *file = Multipart_get(&mp, "file"), *purpose = Multipart_get(&mp, "purpose");
   const char *filename = file && file->filename ? file->filename : "upload.jsonl";
   json_t *obj = NULL;
   char id[40];
   if (!purpose) {
      Reply_error(req, 400, NULL, "purpose", "missing_required_parameter", "the form has no 'purpose' field (send purpose=fine-tune)");
   } else if (purpose->len != 9 || memcmp(purpose->data, "fine-tune", 9) != 0) {
      Reply_error(req, 400, NULL, "purpose", "invalid_value", "purpose '%.*s' is not supported: the trainer takes fine-tune files",
                 (int)(purpose->len > 64 ? 64 : purpose->len), purpose->data);
   } else if (!file) {
      Reply_error(req, 400, NULL, "file", "missing_required_parameter", "the form has no 'file' field (the JSONL training data)");
   } else if (strlen(filename) > FILENAME_MAX_BYTES) {
      Reply_error(req, 400, NULL, "file", "invalid_value", "the filename is %zu bytes long; at most %d are kept (rename the "
                 "file)", strlen(filename), FILENAME_MAX_BYTES);
   } else if (!chat_file_ok(file, &err)) {
      Reply_error(req, 400, NULL, "file", "invalid_file_format", "%s: %s", filename, err);
      free(err);
   } else if (quota_ok(t, req, file->len)) {
      rand_id(id, sizeof id, "file-");
      obj = file_object(id, file->len, filename, "fine-tune");
      if (!obj) {
         Reply_error(req, 500, NULL, NULL, "internal_error", "the file record cannot be built (a trainer bug)");
      } else if (!file_save(t, obj, file->data, file->len, &err)) {
         Reply_error(req, 500, NULL, NULL, "storage_error", "%s", err);
         free(err);
      } else {
         pthread_mutex_lock(&t->lock);
         json_object_set(t->files, id, obj);
         pthread_mutex_unlock(&t->lock);
         Reply_json(req, 200, json_incref(obj));
      }
   }
   json_decref(obj);
   Multipart_free(&mp);
}

static void files_get(Trainer *t, HttpReq *req, const char *id, bool content) {
   pthread_mutex_lock(&t->lock);
   json_t *f = json_incref(json_object_get(t->files, id));
   pthread_mutex_unlock(&t->lock);
   if (!f) {
      Reply_error(req, 404, NULL, "file_id", "file_not_found", "no file '%s' on this trainer", id);
      return;
   }
   if (!content) {
      Reply_json(req, 200, f);
      return;
   }
   json_decref(f);
   char *path = path_of(t, "files", id, ".data"), *err = NULL;
   size_t len;
   char *text = read_file(path, &len, &err);
   free(path);
   if (!text) {
      Reply_error(req, 500, NULL, NULL, "storage_error", "%s", err);
      free(err);
      return;
   }
   HttpReq_add_header(req, "Content-Type", "application/octet-stream");
   HttpReq_reply(req, 200, NULL, text, len);
   free(text);
}

/* OpenAI's DELETE /v1/files/ID: frees quota. A job that has not read the file yet fails
 * validation with a message naming it. */
static void files_delete(Trainer *t, HttpReq *req, const char *id) {
   pthread_mutex_lock(&t->lock);
   bool found = json_object_get(t->files, id) != NULL;
   char *err = NULL;
   bool ok = true;
   if (found) {
      /* The record goes first: without it the data file is an orphan, swept at start-up. */
      char *meta_path = path_of(t, "files", id, ".json"), *data_path = path_of(t, "files", id, ".data");
      ok = unlink(meta_path) == 0 || errno == ENOENT;
      if (!ok)
         err = xasprintf("cannot delete %s: %s (check the trainer directory's permissions)", meta_path, strerror(errno));
      else
         json_object_del(t->files, id);
      if (ok && unlink(data_path) != 0 && errno != ENOENT)
         warnx_("trainer: cannot delete %s: %s (removed at the next start)", data_path, strerror(errno));
      free(meta_path);
      free(data_path);
   }
   pthread_mutex_unlock(&t->lock);
   if (!found)
      Reply_error(req, 404, NULL, "file_id", "file_not_found", "no file '%s' on this trainer", id);
   else if (!ok)
      Reply_error(req, 500, NULL, NULL, "storage_error", "%s", err);
   else
      Reply_json(req, 200, json_pack("{s:s, s:s, s:b}", "id", id, "object", "file", "deleted", 1));
   free(err);
}

static void files_list(Trainer *t, HttpReq *req) {
   json_t *data = json_array();
   const char *key;
   json_t *f;
   pthread_mutex_lock(&t->lock);
   json_object_foreach(t->files, key, f) json_array_append(data, f);
   pthread_mutex_unlock(&t->lock);
   Reply_json(req, 200, json_pack("{s:s, s:o, s:b}", "object", "list", "data", data, "has_more", 0));
}

/* ---- jobs ---- */

/* "auto" or a number in [lo, hi]; false when neither. */
static bool hyper_ok(const json_t *v, double lo, double hi, bool integer) {
   if (!v || str_eq(json_string_value(v), "auto"))
      return true;
   if (integer ? !json_is_integer(v) : !json_is_number(v))
      return false;
   double x = json_number_value(v);
   return x >= lo && x <= hi;
}

static void jobs_create(Trainer *t, HttpReq *req) {
   json_t *body = json_body(req);
   if (!body)
      return;
   const char *model = json_string_value(json_object_get(body, "model"));
   const char *training = json_string_value(json_object_get(body, "training_file"));
   json_t *validation = json_object_get(body, "validation_file");
   json_t *hp = json_object_get(body, "hyperparameters");
   json_t *suffix = json_object_get(body, "suffix"), *seed = json_object_get(body, "seed");
   const char *key;
   json_t *v;
   const char *unknown = NULL;
   json_object_foreach(hp, key, v) {
      if (!str_eq(key, "n_epochs") && !str_eq(key, "learning_rate_multiplier") && !str_eq(key, "batch_size"))
         unknown = key;
   }
   const char *sfx = json_string_value(suffix);
   bool sfx_ok = !suffix || json_is_null(suffix) || (sfx && strlen(sfx) <= 64 && strspn(sfx,
                  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == strlen(sfx));
   pthread_mutex_lock(&t->lock);
   bool have_training = training && json_object_get(t->files, training);
   bool have_validation = !validation || json_is_null(validation) ||
                          (json_is_string(validation) && json_object_get(t->files, json_string_value(validation)));
   pthread_mutex_unlock(&t->lock);
   if (!model)
      Reply_error(req, 400, NULL, "model", "missing_required_parameter", "'model' is required (the built-in trainer trains '%s')",
                 TRAINER_BASE_MODEL);
   else if (!str_eq(model, TRAINER_BASE_MODEL))
      Reply_error(req, 400, NULL, "model", "model_not_available", "model '%s' cannot be fine-tuned here: the built-in trainer "
                 "trains '%s' (a CPU classifier for label tasks and extractor for JSON extraction tasks); use a GPU trainer for LLMs", model, TRAINER_BASE_MODEL);
   else if (!training)
      Reply_error(req, 400, NULL, "training_file", "missing_required_parameter", "'training_file' is required (upload with POST /v1/files)");
   else if (!have_training)
      Reply_error(req, 400, NULL, "training_file", "invalid_training_file", "training_file '%s' is not a file on this trainer "
                 "(upload it with POST /v1/files)", training);
   else if (!have_validation)
      Reply_error(req, 400, NULL, "validation_file", "invalid_validation_file", "validation_file '%s' is not a file on this "
                 "trainer (upload it with POST /v1/files)", json_string_value(validation) ? json_string_value(validation) : "?");
   else if (hp && !json_is_object(hp))
      Reply_error(req, 400, NULL, "hyperparameters", "invalid_value", "'hyperparameters' must be an object");
   else if (unknown)
      Reply_error(req, 400, NULL, "hyperparameters", "invalid_value", "hyperparameter '%s' is not supported by the built-in "
                 "trainer (n_epochs, learning_rate_multiplier, batch_size)", unknown);
   else if (!hyper_ok(json_object_get(hp, "n_epochs"), 1, 100, true))
      Reply_error(req, 400, NULL, "hyperparameters.n_epochs", "invalid_value", "n_epochs must be \"auto\" or a whole number from 1 to 100");
   else if (!hyper_ok(json_object_get(hp, "learning_rate_multiplier"), 1e-3, 100, false))
      Reply_error(req, 400, NULL, "hyperparameters.learning_rate_multiplier", "invalid_value",
                 "learning_rate_multiplier must be \"auto\" or a number from 0.001 to 100");
   else if (!hyper_ok(json_object_get(hp, "batch_size"), 1, 4096, true))
      Reply_error(req, 400, NULL, "hyperparameters.batch_size", "invalid_value", "batch_size must be \"auto\" or a whole number from 1 to 4096");
   else if (!sfx_ok)
      Reply_error(req, 400, NULL, "suffix", "invalid_value", "suffix must be at most 64 characters of letters, digits, '-', '_' and '.'");
   else if (seed && !json_is_null(seed) && (!json_is_integer(seed) || json_integer_value(seed) < 0))
      Reply_error(req, 400, NULL, "seed", "invalid_value", "seed must be a non-negative whole number");
   else {
      char id[40];
      rand_id(id, sizeof id, "ftjob-");
      json_int_t seedv = json_is_integer(seed) ? json_integer_value(seed) : (json_int_t)(hash64_str(id) & 0x7fffffff);
      json_t *hyper = json_object();
      static const char *const names[] = { "n_epochs", "batch_size", "learning_rate_multiplier" };
      for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
         json_t *x = json_object_get(hp, names[i]);
         json_object_set_new(hyper, names[i], x ? json_deep_copy(x) : json_string("auto"));
      }
      Job *j = xcalloc(1, sizeof *j);
      j->obj = json_pack("{s:s, s:s, s:s, s:I, s:n, s:n, s:s, s:o, s:s, s:O, s:o, s:o, s:n, s:n, s:I, s:O}",
                         "object", "fine_tuning.job", "id", id, "model", model, "created_at", (json_int_t)time(NULL),
                         "finished_at", "fine_tuned_model", "organization_id", "offramp", "result_files", json_array(),
                         "status", "validating_files", "validation_file", validation ? validation : json_null(),
                         "training_file", json_string(training), "hyperparameters", hyper, "trained_tokens", "error",
                         "seed", seedv, "user_provided_suffix", suffix ? suffix : json_null());
      if (!j->obj) {
         free(j);
         Reply_error(req, 500, NULL, NULL, "internal_error", "the job record cannot be built (a trainer bug)");
         json_decref(body);
         return;
      }
      j->events = json_array();
      j->checkpoints = json_array();
      job_event(j, "info", NULL, "Created fine-tuning job: %s", id);
      pthread_mutex_lock(&t->lock);
      t->jobs = xrealloc(t->jobs, (t->njobs + 1) * sizeof *t->jobs);
      t->jobs[t->njobs++] = j;
      job_save(t, j);
      json_t *out = json_deep_copy(j->obj);
      pthread_cond_signal(&t->wake);
      pthread_mutex_unlock(&t->lock);
      Reply_json(req, 200, out);
   }
   json_decref(body);
}

static void jobs_list(Trainer *t, HttpReq *req) {
   long limit;
   char *after;
   if (!page_params(req, &limit, &after))
      return;
   pthread_mutex_lock(&t->lock);
   json_t *all = json_array();
   for (int i = 0; i < t->njobs; i++)
      json_array_append(all, t->jobs[i]->obj);
   json_t *p = page(all, after, limit);
   json_t *out = json_deep_copy(p);
   pthread_mutex_unlock(&t->lock);
   json_decref(p);
   json_decref(all);
   free(after);
   Reply_json(req, 200, out);
}

/* One job, its events or its checkpoints; or cancel it. */
static void jobs_one(Trainer *t, HttpReq *req, const char *id, const char *what) {
   long limit = 20;
   char *after = NULL;
   if ((str_eq(what, "events") || str_eq(what, "checkpoints")) && !page_params(req, &limit, &after))
      return;
   pthread_mutex_lock(&t->lock);
   Job *j = job_find(t, id);
   json_t *out = NULL;
   const char *final = NULL;
   if (!j) {
      /* reply below, outside the lock */
   } else if (!what) {
      out = json_deep_copy(j->obj);
   } else if (str_eq(what, "events")) {
      json_t *p = page(j->events, after, limit);
      out = json_deep_copy(p);
      json_decref(p);
   } else if (str_eq(what, "checkpoints")) {
      json_t *p = page(j->checkpoints, after, limit);
      out = json_deep_copy(p);
      json_decref(p);
   } else {   /* cancel */
      if (status_final(job_status(j))) {
         final = job_status(j);
      } else {
         j->cancel = true;
         job_set_status(j, "cancelled");
         job_event(j, "info", NULL, "Fine-tuning job cancelled by request");
         job_save(t, j);
         out = json_deep_copy(j->obj);
      }
   }
   char *final_copy = final ? xstrdup(final) : NULL;
   pthread_mutex_unlock(&t->lock);
   free(after);
   if (!j)
      Reply_error(req, 404, NULL, "fine_tuning_job_id", "fine_tuning_job_not_found", "no fine-tuning job '%s' on this trainer", id);
   else if (final_copy)
      Reply_error(req, 400, NULL, NULL, "job_not_cancellable", "job %s has already %s and cannot be cancelled", id, final_copy);
   else
      Reply_json(req, 200, out);
   free(final_copy);
}

/* ---- serving ---- */

static void models_list(Trainer *t, HttpReq *req) {
   json_t *data = json_array();
   pthread_mutex_lock(&t->lock);
   for (int i = 0; i < t->njobs; i++) {
      Job *j = t->jobs[i];
      if (j->model || j->ext)
         json_array_append_new(data, json_pack("{s:s, s:s, s:O, s:s}", "id",
                               json_string_value(json_object_get(j->obj, "fine_tuned_model")), "object", "model",
                               "created", json_object_get(j->obj, "finished_at"), "owned_by", "offramp-trainer"));
   }
   pthread_mutex_unlock(&t->lock);
   Reply_json(req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static json_t *token_bytes(const char *s) {
   json_t *a = json_array();
   for (const unsigned char *p = (const unsigned char *)s; *p; p++)
      json_array_append_new(a, json_integer(*p));
   return a;
}

/* ---- chat completions: checked on the loop, answered by the inference thread ----
 *
 * A model answers in time proportional to its input (0.3 s for 400 KB of text): on the event
 * loop that would hold up every other client (/healthz, uploads, job polls) meanwhile. So the
 * loop checks the request and queues it; the inference thread runs the model and hands the
 * result back through an event; the loop sends the answer. A client that leaves meanwhile
 * has nothing sent, but its request is still ended once the model is done: the front end
 * keeps every request until the trainer ends it. */

typedef struct Infer {
   HttpReq *req;                 /* valid until ended, even once the client left */
   bool gone;                    /* the client left (set on the loop): end req without an answer */
   json_t *body;                 /* the request (owned; only the inference thread reads it meanwhile) */
   const char *model;            /* in body */
   char *text;
   Distill *m;                   /* models live until shutdown */
   Tagger *x;
   bool want_lp, stream;
   long ntop;
   /* The inference thread's result. */
   char *answer;
   json_t *content;
   long long prompt, completion;
   struct Infer *next;
} Infer;

static void infer_free(Infer *in) {
   json_decref(in->body);
   json_decref(in->content);
   free(in->text);
   free(in->answer);
   free(in);
}

/* The model's answer, its logprobs and the token counts: the inference thread's part. */
static void infer_run(Infer *in) {
   in->content = json_null();
   if (in->x) {
      in->answer = Tagger_answer(in->x, in->text, in->want_lp ? &in->content : NULL);
   } else {
      Distill *m = in->m;
      int k = in->ntop > 1 ? (int)in->ntop : 1;
      int idx[TOP_LOGPROBS_MAX];
      double lps[TOP_LOGPROBS_MAX];
      int got = Distill_predict(m, in->text, k, idx, lps);
      in->answer = xstrdup(Distill_label(m, idx[0]));
      if (in->want_lp) {
         json_t *tops = json_array();
         for (int i = 0; i < got && i < in->ntop; i++)
            json_array_append_new(tops, json_pack("{s:s, s:f, s:o}", "token", Distill_label(m, idx[i]), "logprob",
                                                  lps[i], "bytes", token_bytes(Distill_label(m, idx[i]))));
         json_decref(in->content);
         in->content = json_pack("{s:[{s:s, s:f, s:o, s:o}]}", "content", "token", in->answer, "logprob", lps[0],
                                 "bytes", token_bytes(in->answer), "top_logprobs", tops);
      }
   }
   size_t i;
   json_t *msg;
   json_array_foreach(json_object_get(in->body, "messages"), i, msg) {
      const char *c = json_string_value(json_object_get(msg, "content"));
      in->prompt += 4 + (c ? ChatData_tokens(c) : 0);
   }
   in->completion = ChatData_tokens(in->answer);
}

static void on_client_gone(void *arg) {
   /* The front end keeps the request: on_infer_done still ends it. */
   ((Infer *)arg)->gone = true;
}

/* The answer, on the loop. */
static void infer_reply(Infer *in) {
   HttpReq *req = in->req;
   const char *model = in->model, *label = in->answer;
   json_t *content = in->content;
   in->content = NULL;
   char id[48];
   rand_id(id, sizeof id, "chatcmpl-");
   json_int_t created = (json_int_t)time(NULL);
   json_t *usage = json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)in->prompt, "completion_tokens",
                             (json_int_t)in->completion, "total_tokens", (json_int_t)(in->prompt + in->completion));
   if (in->stream) {
      /* One chunk with the whole label, one with the finish reason, then [DONE]. */
      json_t *c1 = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:O, s:n}]}", "id", id, "object",
                             "chat.completion.chunk", "created", created, "model", model, "choices", "index", 0,
                             "delta", "role", "assistant", "content", label, "logprobs", content, "finish_reason");
      json_t *c2 = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{}, s:n, s:s}], s:O}", "id", id, "object",
                             "chat.completion.chunk", "created", created, "model", model, "choices", "index", 0,
                             "delta", "logprobs", "finish_reason", "stop", "usage", usage);
      char *s1 = c1 ? json_dumps(c1, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
      char *s2 = c2 ? json_dumps(c2, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
      if (s1 && s2) {
         Sbuf sb = { 0 };
         Sbuf_printf(&sb, "data: %s\n\ndata: %s\n\ndata: [DONE]\n\n", s1, s2);
         HttpReq_add_header(req, "Content-Type", "text/event-stream");
         HttpReq_reply(req, 200, NULL, sb.buf, sb.len);
         Sbuf_free(&sb);
      } else {
         Reply_error(req, 500, NULL, NULL, "internal_error", "the stream chunks cannot be serialised (a trainer bug)");
      }
      free(s1);
      free(s2);
      json_decref(c1);
      json_decref(c2);
      json_decref(content);
      json_decref(usage);
   } else {
      Reply_json(req, 200, json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s}, s:o, s:s}], s:o}", "id", id,
                                    "object", "chat.completion", "created", created, "model", model, "choices",
                                    "index", 0, "message", "role", "assistant", "content", label, "logprobs",
                                    content, "finish_reason", "stop", "usage", usage));
   }
}

/* Results handed back by the inference thread. */
static void on_infer_done(evutil_socket_t fd, short what, void *arg) {
   (void)fd;
   (void)what;
   Trainer *t = arg;
   pthread_mutex_lock(&t->lock);
   Infer *done = t->infer_done;
   t->infer_done = t->infer_done_tail = NULL;
   pthread_mutex_unlock(&t->lock);
   for (Infer *in = done, *next; in; in = next) {
      next = in->next;
      HttpFront_on_close(t->front, in->req, NULL, NULL);
      if (in->gone)
         HttpReq_abort(in->req);   /* the client left: nothing to send, the request ends */
      else
         infer_reply(in);
      infer_free(in);
   }
}

static void *infer_thread(void *arg) {
   Trainer *t = arg;
   pthread_mutex_lock(&t->lock);
   for (;;) {
      while (!t->stopping && !t->infer_head)
         pthread_cond_wait(&t->infer_wake, &t->lock);
      if (t->stopping)
         break;
      Infer *in = t->infer_head;
      t->infer_head = in->next;
      if (!t->infer_head)
         t->infer_tail = NULL;
      pthread_mutex_unlock(&t->lock);
      infer_run(in);
      pthread_mutex_lock(&t->lock);
      in->next = NULL;
      if (t->infer_done_tail)
         t->infer_done_tail->next = in;
      else
         t->infer_done = in;
      t->infer_done_tail = in;
      event_active(t->infer_ev, EV_READ, 0);
   }
   pthread_mutex_unlock(&t->lock);
   return NULL;
}

/* What is left at shutdown, after HttpFront_free: it freed their requests (not yet ended)
 * with their connections, so in->req is not touched here. */
static void infer_drop(Infer *list) {
   while (list) {
      Infer *next = list->next;
      infer_free(list);
      list = next;
   }
}

static void chat(Trainer *t, HttpReq *req) {
   json_t *body = json_body(req);
   if (!body)
      return;
   const char *model = json_string_value(json_object_get(body, "model"));
   json_t *msgs = json_object_get(body, "messages");
   json_t *lp = json_object_get(body, "logprobs"), *top = json_object_get(body, "top_logprobs");
   json_t *n = json_object_get(body, "n"), *stream = json_object_get(body, "stream");
   bool want_lp = json_is_true(lp);
   long ntop = json_is_integer(top) ? (long)json_integer_value(top) : 0;
   char *text = json_is_array(msgs) ? ChatData_text(msgs) : NULL;
   Distill *m = NULL;
   Tagger *x = NULL;
   bool known = false;
   char *model_err = NULL;
   if (model) {
      pthread_mutex_lock(&t->lock);
      for (int i = 0; i < t->njobs && !known; i++) {
         Job *j = t->jobs[i];
         if (str_eq(json_string_value(json_object_get(j->obj, "fine_tuned_model")), model) &&
             str_eq(job_status(j), "succeeded")) {
            known = true;
            m = j->model;   /* models live until shutdown, so the pointer stays valid */
            x = j->ext;
            model_err = xstrdup(j->model_err ? j->model_err : "the model is not loaded");
         }
      }
      pthread_mutex_unlock(&t->lock);
   }
   if (!model)
      Reply_error(req, 400, NULL, "model", "missing_required_parameter", "'model' is required (a fine_tuned_model of this trainer)");
   else if (!known)
      Reply_error(req, 404, NULL, "model", "model_not_found", "the model '%s' does not exist on this trainer (GET /v1/models lists them)", model);
   else if (!m && !x)
      Reply_error(req, 500, NULL, "model", "model_unavailable", "the model '%s' cannot be served: %s", model, model_err);
   else if (!json_is_array(msgs))
      Reply_error(req, 400, NULL, "messages", "missing_required_parameter", "'messages' must be an array of chat messages");
   else if (!text)
      Reply_error(req, 400, NULL, "messages", "invalid_value", "'messages' has no user message with text to classify");
   else if ((lp && !json_is_boolean(lp)) || (top && !json_is_null(top) && !json_is_integer(top)) || ntop < 0 ||
            ntop > TOP_LOGPROBS_MAX)
      Reply_error(req, 400, NULL, "top_logprobs", "invalid_value", "logprobs must be true or false and top_logprobs a whole number "
                 "from 0 to %d", TOP_LOGPROBS_MAX);
   else if (ntop > 0 && !want_lp)
      Reply_error(req, 400, NULL, "logprobs", "invalid_value", "top_logprobs needs logprobs: true");
   else if (n && !json_is_null(n) && !(json_is_integer(n) && json_integer_value(n) == 1))
      Reply_error(req, 400, NULL, "n", "invalid_value", "n must be 1: the model has one answer per request");
   else {
      Infer *in = xcalloc(1, sizeof *in);
      in->req = req;
      in->body = body;
      in->model = model;
      in->text = text;
      in->m = m;
      in->x = x;
      in->want_lp = want_lp;
      in->stream = json_is_true(stream);
      in->ntop = ntop;
      in->gone = !HttpFront_on_close(t->front, req, on_client_gone, in);
      pthread_mutex_lock(&t->lock);
      if (t->infer_tail)
         t->infer_tail->next = in;
      else
         t->infer_head = in;
      t->infer_tail = in;
      pthread_cond_signal(&t->infer_wake);
      pthread_mutex_unlock(&t->lock);
      free(model_err);
      return;
   }
   free(model_err);
   free(text);
   json_decref(body);
}

/* ---- routing ---- */

/* The bearer token, when the trainer has one; sends the 401 and returns false otherwise.
 * /healthz stays open for load balancers and supervisors: it says nothing but "ok". */
static bool authorized(Trainer *t, HttpReq *req, const char *path) {
   if (!t->token || str_eq(path, "/healthz"))
      return true;
   const char *auth = HttpReq_header(req, "Authorization");
   if (auth && str_startswith(auth, "Bearer ") && token_equal(t->token, auth + 7))
      return true;
   HttpReq_add_header(req, "WWW-Authenticate", "Bearer");
   Reply_error(req, 401, NULL, NULL, "invalid_api_key", "%s", auth
               ? "the bearer token does not match the trainer's (the one in its --token-file or $OFFRAMP_TRAINER_TOKEN)"
               : "the trainer needs 'Authorization: Bearer TOKEN' with its token (for offramp train: offramp backend "
                 "add NAME --url URL --key-env OFFRAMP_TRAINER_TOKEN, with the token in that variable)");
   return false;
}

static void route(HttpReq *req, void *arg) {
   Trainer *t = arg;
   HttpMethod cmd = HttpReq_method(req);
   const char *path = HttpReq_path(req);
   if (!authorized(t, req, path))
      return;
   bool get = cmd == HTTP_GET, post = cmd == HTTP_POST;
   char *segs[6] = { 0 };
   int nseg = 0;
   char *copy = xstrdup(path ? path : "/");
   for (char *save = NULL, *s = strtok_r(copy, "/", &save); s && nseg < 6; s = strtok_r(NULL, "/", &save))
      segs[nseg++] = s;
   bool v1 = nseg >= 2 && str_eq(segs[0], "v1");
   bool jobs = v1 && nseg >= 3 && str_eq(segs[1], "fine_tuning") && str_eq(segs[2], "jobs");
   bool matched = true, method_ok = true;
   if (nseg == 1 && str_eq(segs[0], "healthz")) {
      if ((method_ok = get))
         Reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
   } else if (v1 && nseg == 2 && str_eq(segs[1], "models")) {
      if ((method_ok = get))
         models_list(t, req);
   } else if (v1 && nseg == 3 && str_eq(segs[1], "chat") && str_eq(segs[2], "completions")) {
      if ((method_ok = post))
         chat(t, req);
   } else if (v1 && nseg == 2 && str_eq(segs[1], "files")) {
      if (post)
         files_upload(t, req);
      else if ((method_ok = get))
         files_list(t, req);
   } else if (v1 && nseg == 3 && str_eq(segs[1], "files") && cmd == HTTP_DELETE) {
      files_delete(t, req, segs[2]);
   } else if (v1 && (nseg == 3 || (nseg == 4 && str_eq(segs[3], "content"))) && str_eq(segs[1], "files")) {
      if ((method_ok = get))
         files_get(t, req, segs[2], nseg == 4);
   } else if (jobs && nseg == 3) {
      if (post)
         jobs_create(t, req);
      else if ((method_ok = get))
         jobs_list(t, req);
   } else if (jobs && nseg == 4) {
      if ((method_ok = get))
         jobs_one(t, req, segs[3], NULL);
   } else if (jobs && nseg == 5 && (str_eq(segs[4], "events") || str_eq(segs[4], "checkpoints"))) {
      if ((method_ok = get))
         jobs_one(t, req, segs[3], segs[4]);
   } else if (jobs && nseg == 5 && str_eq(segs[4], "cancel")) {
      if ((method_ok = post))
         jobs_one(t, req, segs[3], "cancel");
   } else {
      matched = false;
   }
   if (!matched)
      Reply_error(req, 404, NULL, NULL, "unknown_url", "unknown URL %s (the trainer serves /v1/files, /v1/fine_tuning/jobs, "
                 "/v1/chat/completions, /v1/models)", path ? path : "");
   else if (!method_ok)
      Reply_error(req, 405, NULL, NULL, "method_not_allowed", "method not allowed on %s", path);
   free(copy);
}

/* ---- the worker ---- */

typedef struct {
   Trainer *t;
   Job *j;
   long long tokens_per_epoch;
   json_t *best;     /* metrics of the epoch with the lowest validation loss */
} Progress;

static bool on_epoch(void *ctx, int epoch, int epochs_max, double train_loss, double valid_loss, double valid_acc) {
   Progress *p = ctx;
   pthread_mutex_lock(&p->t->lock);
   json_t *data = json_pack("{s:i, s:i, s:f, s:f, s:f}", "step", epoch, "total_steps", epochs_max, "train_loss",
                            train_loss, "valid_loss", valid_loss, "valid_mean_token_accuracy", valid_acc);
   if (!p->best || valid_loss < json_real_value(json_object_get(p->best, "valid_loss"))) {
      json_decref(p->best);
      p->best = json_deep_copy(data);
   }
   job_event(p->j, "info", data, "Step %d/%d: training loss=%.4f, validation loss=%.4f, validation accuracy=%.4f",
             epoch, epochs_max, train_loss, valid_loss, valid_acc);
   json_object_set_new(p->j->obj, "trained_tokens", json_integer((json_int_t)(p->tokens_per_epoch * epoch)));
   job_save(p->t, p->j);
   bool go = !p->j->cancel && !p->t->stopping;
   pthread_mutex_unlock(&p->t->lock);
   /* Paced training (--epoch-pace) lets a person watch the progress bar; a cancel or a
    * shutdown still ends the wait within a slice. */
   for (int waited = 0; go && waited < p->t->epoch_pace_ms; waited += 20) {
      struct timespec slice = { 0, 20 * 1000 * 1000 };
      nanosleep(&slice, NULL);
      pthread_mutex_lock(&p->t->lock);
      go = !p->j->cancel && !p->t->stopping;
      pthread_mutex_unlock(&p->t->lock);
   }
   return go;
}

static bool load_data(Trainer *t, const char *file_id, ChatData *d, char **err) {
   char *path = path_of(t, "files", file_id, ".data");
   char *text = read_file(path, NULL, err);
   free(path);
   if (!text)
      return false;
   bool ok = ChatData_parse(text, strlen(text), d, err);
   free(text);
   return ok;
}

static int label_index(const Distill *m, const char *label) {
   int lo = 0, hi = Distill_nlabels(m) - 1;
   while (lo <= hi) {
      int mid = (lo + hi) / 2, c = strcmp(Distill_label(m, mid), label);
      if (c == 0)
         return mid;
      if (c < 0)
         lo = mid + 1;
      else
         hi = mid - 1;
   }
   return -1;
}

/* Loss and accuracy of the calibrated model on a whole validation set. */
static void full_valid(const Distill *m, const ChatData *v, double *loss, double *acc) {
   int k = Distill_nlabels(m);
   int *idx = xmalloc(k * sizeof *idx);
   double *lp = xmalloc(k * sizeof *lp), sum = 0;
   size_t right = 0;
   for (size_t i = 0; i < v->n; i++) {
      int got = Distill_predict(m, v->texts[i], k, idx, lp), want = label_index(m, v->labels[i]);
      right += idx[0] == want;
      for (int r = 0; r < got; r++) {
         if (idx[r] == want)
            sum -= lp[r];
      }
   }
   *loss = sum / (double)v->n;
   *acc = (double)right / (double)v->n;
   free(idx);
   free(lp);
}

/* The extractor's epochs in the same metrics: loss is the share of (example, field) answers
 * wrong (while learning; on the held-out set), accuracy the held-out field accuracy. */
static bool on_epoch_ext(void *ctx, int epoch, int epochs_max, double train_err, double valid_acc) {
   double vacc = valid_acc >= 0 ? valid_acc : 1 - train_err;
   return on_epoch(ctx, epoch, epochs_max, train_err, 1 - vacc, vacc);
}

/* Field accuracy of the extractor on a validation set: each expected field (null when
 * absent) against the answer's, JSON-equal. */
static void extract_valid(const Tagger *x, const ChatData *v, double *loss, double *acc) {
   long right = 0, total = 0;
   for (size_t i = 0; i < v->n; i++) {
      json_t *want = json_loads(v->labels[i], 0, NULL), *got = Tagger_extract(x, v->texts[i], NULL);
      for (int k = 0; k < Tagger_nfields(x); k++) {
         json_t *a = json_object_get(want, Tagger_field(x, k)), *b = json_object_get(got, Tagger_field(x, k));
         right += (a && !json_is_null(a)) ? json_equal(a, b) : json_is_null(b);
         total++;
      }
      json_decref(want);
      json_decref(got);
   }
   *acc = total ? (double)right / (double)total : 0;
   *loss = 1 - *acc;
}

/* Result file: the metrics of every step as CSV, like OpenAI's step_metrics.csv. */
static char *write_results(Trainer *t, Job *j) {
   Sbuf sb = { 0 };
   Sbuf_puts(&sb, "step,train_loss,valid_loss,valid_mean_token_accuracy\n");
   size_t i;
   json_t *ev;
   json_array_foreach(j->events, i, ev) {
      json_t *d = json_object_get(ev, "data");
      if (json_object_get(d, "step"))
         Sbuf_printf(&sb, "%lld,%.6f,%.6f,%.6f\n", (long long)json_integer_value(json_object_get(d, "step")),
                     json_real_value(json_object_get(d, "train_loss")), json_real_value(json_object_get(d, "valid_loss")),
                     json_real_value(json_object_get(d, "valid_mean_token_accuracy")));
   }
   char id[40], *err = NULL;
   rand_id(id, sizeof id, "file-");
   json_t *obj = file_object(id, sb.len, "step_metrics.csv", "fine-tune-results");
   bool ok = obj && file_save(t, obj, sb.buf, sb.len, &err);
   Sbuf_free(&sb);
   if (!ok) {
      warnx_("trainer: %s", err ? err : "the result file record cannot be built");
      free(err);
      json_decref(obj);
      return NULL;
   }
   json_object_set_new(t->files, id, obj);
   return xstrdup(id);
}

static void run_job(Trainer *t, Job *j) {
   /* Read what the job needs under the lock, then train without it. */
   char *training = xstrdup(json_string_value(json_object_get(j->obj, "training_file")));
   const char *vf = json_string_value(json_object_get(j->obj, "validation_file"));
   char *validation = vf ? xstrdup(vf) : NULL;
   json_t *hp = json_deep_copy(json_object_get(j->obj, "hyperparameters"));
   DistillParams p;
   Distill_defaults(&p);
   p.seed = (uint64_t)json_integer_value(json_object_get(j->obj, "seed"));
   pthread_mutex_unlock(&t->lock);

   ChatData d = { 0 }, v = { 0 };
   char *err = NULL;
   const char *code = "invalid_training_file", *param = "training_file";
   /* Answers that are JSON objects make an extraction dataset: the extractor learns it, and
    * its fields must be spans of the input; otherwise the answers must be a label set. */
   bool ok = load_data(t, training, &d, &err);
   bool extract = ok && Tagger_is_object(d.labels[0]);
   ok = ok && (extract ? Tagger_check((const char *const *)d.texts, (const char *const *)d.labels, d.n, &err)
                       : ChatData_check_labels(&d, &err));
   if (ok && validation) {
      code = "invalid_validation_file";
      param = "validation_file";
      ok = load_data(t, validation, &v, &err) &&
           (!extract || Tagger_check((const char *const *)v.texts, (const char *const *)v.labels, v.n, &err));
   }
   pthread_mutex_lock(&t->lock);
   if (!ok) {
      char *msg = xasprintf("%s %s failed validation: %s", str_eq(param, "training_file") ? "Training file" : "Validation file",
                            str_eq(param, "training_file") ? training : validation, err);
      if (!j->cancel)
         job_fail(j, code, param, msg);
      free(msg);
   } else if (!j->cancel) {
      job_event(j, "info", NULL, "Files validated: %zu training examples%s%s%s", d.n, validation ? ", validation file " : "",
                validation ? validation : "", extract ? "; the answers are JSON objects whose fields are spans of the "
                "input: training an extractor" : "");
      job_set_status(j, "queued");
      json_t *e = json_object_get(hp, "n_epochs"), *lr = json_object_get(hp, "learning_rate_multiplier");
      json_t *bs = json_object_get(hp, "batch_size");
      if (json_is_integer(e))
         p.epochs_max = (int)json_integer_value(e);
      if (json_is_number(lr))
         p.lr *= json_number_value(lr);
      json_object_set_new(j->obj, "hyperparameters", json_pack("{s:i, s:o, s:f}", "n_epochs", p.epochs_max,
                          "batch_size", json_is_integer(bs) ? json_incref(bs) : json_integer(1), "learning_rate_multiplier",
                          json_is_number(lr) ? json_number_value(lr) : 1.0));
      if (json_is_integer(bs) && json_integer_value(bs) != 1)
         job_event(j, "warn", NULL, "batch_size %lld is recorded, but the %s updates per example", (long long)
                   json_integer_value(bs), extract ? "extractor" : "distiller");
      if (extract && json_is_number(lr))
         job_event(j, "warn", NULL, "learning_rate_multiplier is recorded, but the extractor (an averaged perceptron) "
                   "has no learning rate");
      job_set_status(j, "running");
      if (extract)
         job_event(j, "info", NULL, "Fine-tuning job started: %s extractor (a tagger per JSON field), up to %d epochs, "
                   "early stopping on held-out field accuracy", TRAINER_BASE_MODEL, p.epochs_max);
      else
         job_event(j, "info", NULL, "Fine-tuning job started: %s, up to %d epochs, early stopping on validation loss",
                   TRAINER_BASE_MODEL, p.epochs_max);
   }
   job_save(t, j);
   bool go = ok && !j->cancel;
   pthread_mutex_unlock(&t->lock);

   Distill *m = NULL;
   Tagger *x = NULL;
   Progress prog = { t, j, d.tokens, NULL };
   char *terr = NULL;
   if (go && extract) {
      TaggerParams tp;
      Tagger_defaults(&tp);
      tp.seed = p.seed;
      tp.epochs_max = p.epochs_max;
      x = Tagger_train((const char *const *)d.texts, (const char *const *)d.labels, d.n, &tp, on_epoch_ext, &prog, &terr);
   } else if (go) {
      m = Distill_train((const char *const *)d.texts, (const char *const *)d.labels, d.n,
                        (const char *const *)v.texts, (const char *const *)v.labels, v.n, &p, on_epoch, &prog, &terr);
   }
   char *model_path = path_of(t, "models", job_id(j), extract ? ".extractor" : ".model"), *serr = NULL;
   bool saved = m ? Distill_save(m, model_path, &serr) : x ? Tagger_save(x, model_path, &serr) : false;
   double floss = 0, facc = 0;
   if (m && v.n)
      full_valid(m, &v, &floss, &facc);
   if (x && v.n)
      extract_valid(x, &v, &floss, &facc);

   pthread_mutex_lock(&t->lock);
   bool trained = m || x;
   if (go && j->cancel) {
      Distill_free(m);   /* the cancel endpoint already recorded the outcome */
      Tagger_free(x);
   } else if (go && t->stopping) {
      job_fail(j, "trainer_restarted", NULL, "the trainer was stopped while this job was running; create the job again");
   } else if (go && !trained) {
      job_fail(j, "training_failed", NULL, terr);
   } else if (go && !saved) {
      job_fail(j, "storage_error", NULL, serr);
      Distill_free(m);
      Tagger_free(x);
   } else if (go) {
      const char *sfx = json_string_value(json_object_get(j->obj, "user_provided_suffix"));
      char *name = xasprintf("ft:%s:%s:%s", TRAINER_BASE_MODEL, sfx ? sfx : "", job_id(j) + strlen("ftjob-"));
      json_t *metrics = prog.best ? json_deep_copy(prog.best) : json_object();
      json_object_del(metrics, "total_steps");
      json_object_set_new(metrics, "full_valid_loss", json_real(v.n ? floss : json_real_value(json_object_get(metrics, "valid_loss"))));
      json_object_set_new(metrics, "full_valid_mean_token_accuracy",
                          json_real(v.n ? facc : json_real_value(json_object_get(metrics, "valid_mean_token_accuracy"))));
      char ck[40];
      rand_id(ck, sizeof ck, "ftckpt-");
      json_array_append_new(j->checkpoints, json_pack("{s:s, s:s, s:I, s:s, s:s, s:O, s:O}", "object",
                            "fine_tuning.job.checkpoint", "id", ck, "created_at", (json_int_t)time(NULL),
                            "fine_tuned_model_checkpoint", name, "fine_tuning_job_id", job_id(j), "metrics", metrics,
                            "step_number", json_object_get(metrics, "step")));
      json_decref(metrics);
      char *results = write_results(t, j);
      if (results)
         json_array_append_new(json_object_get(j->obj, "result_files"), json_string(results));
      free(results);
      j->model = m;
      j->ext = x;
      json_object_set_new(j->obj, "fine_tuned_model", json_string(name));
      if (x) {
         Sbuf fields = { 0 };
         for (int k = 0; k < Tagger_nfields(x); k++)
            Sbuf_printf(&fields, "%s%s (T %.2g)", k ? ", " : "", Tagger_field(x, k), Tagger_temperature(x, k));
         if (Tagger_valid_accuracy(x) >= 0)
            job_event(j, "info", NULL, "New fine-tuned model created: %s (extractor, %d fields: %s; held-out field "
                      "accuracy %.1f %% at epoch %d)", name, Tagger_nfields(x), fields.buf, 100 * Tagger_valid_accuracy(x),
                      Tagger_epoch(x));
         else
            job_event(j, "info", NULL, "New fine-tuned model created: %s (extractor, %d fields: %s; under %d examples, "
                      "no held-out set: probabilities uncalibrated)", name, Tagger_nfields(x), fields.buf, TAGGER_MIN_HELDOUT);
         Sbuf_free(&fields);
      } else {
         job_event(j, "info", NULL, "New fine-tuned model created: %s (%d labels, temperature %.3f)", name,
                   Distill_nlabels(m), Distill_temperature(m));
      }
      job_set_status(j, "succeeded");
      job_event(j, "info", NULL, "The job has successfully completed");
      free(name);
   }
   job_save(t, j);
   json_decref(prog.best);
   json_decref(hp);
   free(model_path);
   free(serr);
   free(terr);
   free(err);
   free(training);
   free(validation);
   ChatData_free(&d);
   ChatData_free(&v);
}

static void *worker(void *arg) {
   Trainer *t = arg;
   pthread_mutex_lock(&t->lock);
   while (!t->stopping) {
      Job *next = NULL;
      for (int i = 0; i < t->njobs && !next; i++) {
         if (str_eq(job_status(t->jobs[i]), "validating_files") && !t->jobs[i]->cancel)
            next = t->jobs[i];
      }
      if (next)
         run_job(t, next);   /* returns with the lock held */
      else
         pthread_cond_wait(&t->wake, &t->lock);
   }
   pthread_mutex_unlock(&t->lock);
   return NULL;
}

/* ---- start-up: reload the directory ---- */

static int cmp_job(const void *a, const void *b) {
   const Job *x = *(Job *const *)a, *y = *(Job *const *)b;
   json_int_t cx = json_integer_value(json_object_get(x->obj, "created_at"));
   json_int_t cy = json_integer_value(json_object_get(y->obj, "created_at"));
   return cx != cy ? (cx < cy ? -1 : 1) : strcmp(job_id(x), job_id(y));
}

static bool is_json_file(const char *name) {
   size_t n = strlen(name);
   return n > 5 && str_eq(name + n - 5, ".json");
}

/* Removes what a crash can leave: temporary files of unfinished atomic writes and upload data
 * whose record was never written (the record is written last, so such data was never
 * announced to a client). Files an older trainer wrote readable by others become 0600. */
static void sweep(Trainer *t) {
   static const char *const subs[] = { "files", "jobs", "models" };
   for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
      char *dir = xasprintf("%s/%s", t->dir, subs[i]);
      DIR *d = opendir(dir);
      struct dirent *e;
      while (d && (e = readdir(d))) {
         size_t n = strlen(e->d_name);
         bool orphan = strstr(e->d_name, ".tmp.") != NULL;
         if (!orphan && str_eq(subs[i], "files") && n > 5 && str_eq(e->d_name + n - 5, ".data")) {
            char *meta = xasprintf("%s/%.*s.json", dir, (int)(n - 5), e->d_name);
            orphan = access(meta, F_OK) != 0 && errno == ENOENT;
            free(meta);
         }
         char *path = xasprintf("%s/%s", dir, e->d_name);
         struct stat st;
         if (orphan && unlink(path) == 0)
            warnx_("trainer: removed %s, left by an interrupted write", path);
         else if (!orphan && lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
            chmod(path, 0600);   /* written before files were owner-only */
         free(path);
      }
      if (d)
         closedir(d);
      free(dir);
   }
}

static void reload(Trainer *t) {
   sweep(t);
   char *dir = xasprintf("%s/files", t->dir);
   DIR *d = opendir(dir);
   struct dirent *e;
   while (d && (e = readdir(d))) {
      if (!is_json_file(e->d_name))
         continue;
      char *path = xasprintf("%s/%s", dir, e->d_name);
      json_t *f = json_load_file(path, 0, NULL);
      if (json_is_string(json_object_get(f, "id")))
         json_object_set(t->files, json_string_value(json_object_get(f, "id")), f);
      else
         warnx_("trainer: skipping %s: not a file record", path);
      json_decref(f);
      free(path);
   }
   if (d)
      closedir(d);
   free(dir);

   dir = xasprintf("%s/jobs", t->dir);
   d = opendir(dir);
   while (d && (e = readdir(d))) {
      if (!is_json_file(e->d_name))
         continue;
      char *path = xasprintf("%s/%s", dir, e->d_name);
      json_t *doc = json_load_file(path, 0, NULL);
      json_t *obj = json_object_get(doc, "job");
      if (!json_is_string(json_object_get(obj, "id")) || !json_is_array(json_object_get(doc, "events"))) {
         warnx_("trainer: skipping %s: not a job record", path);
      } else {
         Job *j = xcalloc(1, sizeof *j);
         j->obj = json_incref(obj);
         j->events = json_incref(json_object_get(doc, "events"));
         j->checkpoints = json_is_array(json_object_get(doc, "checkpoints")) ? json_incref(json_object_get(doc, "checkpoints"))
                                                                             : json_array();
         const char *s = job_status(j);
         if (str_eq(s, "running")) {
            job_fail(j, "trainer_restarted", NULL, "the trainer stopped while this job was running; create the job again "
                     "(training takes seconds)");
            job_save(t, j);
         } else if (str_eq(s, "queued")) {
            job_set_status(j, "validating_files");
            job_event(j, "info", NULL, "Queued again after a trainer restart");
            job_save(t, j);
         } else if (str_eq(s, "succeeded")) {
            char *xpath = path_of(t, "models", job_id(j), ".extractor");
            char *mpath = path_of(t, "models", job_id(j), ".model"), *err = NULL;
            if (access(xpath, F_OK) == 0)
               j->ext = Tagger_load(xpath, &err);
            else
               j->model = Distill_load(mpath, &err);
            free(xpath);
            if (!j->model && !j->ext) {
               warnx_("trainer: job %s: %s", job_id(j), err);
               j->model_err = err;
            }
            free(mpath);
         }
         t->jobs = xrealloc(t->jobs, (t->njobs + 1) * sizeof *t->jobs);
         t->jobs[t->njobs++] = j;
      }
      json_decref(doc);
      free(path);
   }
   if (d)
      closedir(d);
   free(dir);
   if (t->njobs > 1)
      qsort(t->jobs, t->njobs, sizeof *t->jobs, cmp_job);
}

bool Trainer_serve(const TrainerOpts *o, char **err) {
   static const char *const subs[] = { "files", "jobs", "models" };
   for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
      char *p = xasprintf("%s/%s", o->dir, subs[i]);
      bool ok = mkdir_p(p, 0700);
      if (!ok)
         *err = xasprintf("cannot create the trainer directory %s: %s (pass --dir DIR)", p, strerror(errno));
      free(p);
      if (!ok)
         return false;
   }
   if (evthread_use_pthreads() != 0) {
      *err = xstrdup("libevent has no pthreads support (install libevent-dev with libevent_pthreads)");
      return false;
   }
   Trainer t = { .dir = xstrdup(o->dir), .max_upload = o->max_upload, .epoch_pace_ms = o->epoch_pace_ms,
                .files = json_object(), .token = o->token, .max_files = o->max_files, .max_storage = o->max_storage };
   pthread_mutex_init(&t.lock, NULL);
   pthread_cond_init(&t.wake, NULL);
   reload(&t);

   t.base = event_base_new();
   int port;
   HttpLimits lim = HTTP_LIMITS_DEFAULT;
   lim.max_body = o->max_upload;
   lim.request_timeout = 120;   /* uploads are the largest bodies offramp takes */
   lim.methods = HTTP_GET | HTTP_POST | HTTP_DELETE;   /* DELETE /v1/files/ID */
   HttpFront *front = HttpFront_new(t.base, "offramp trainer", &lim, route, &t);
   t.front = front;
   pthread_cond_init(&t.infer_wake, NULL);
   t.infer_ev = event_new(t.base, -1, 0, on_infer_done, &t);
   bool ok = HttpFront_listen(front, o->host, o->port, &port, err);
   if (ok) {
      struct event *sig[2];
      HttpFront_stop_on_signals(t.base, sig);
      pthread_t th, ith;
      pthread_create(&th, NULL, worker, &t);
      pthread_create(&ith, NULL, infer_thread, &t);
      long nfiles;
      long long bytes;
      files_usage(&t, &nfiles, &bytes);
      if (!t.token)
         fprintf(stderr, "offramp trainer: no token (--token-file FILE or $OFFRAMP_TRAINER_TOKEN): every client on this "
                 "machine may use it; it listens on loopback only\n");
      printf("offramp trainer: listening on http://%s:%d/v1 (dir %s, %d jobs, %ld of %ld files, %lld of %lld bytes, "
             "token %s)\n", o->host, port, o->dir, t.njobs, nfiles, t.max_files, bytes, t.max_storage,
             t.token ? "required" : "off");
      fflush(stdout);
      event_base_dispatch(t.base);
      pthread_mutex_lock(&t.lock);
      t.stopping = true;
      pthread_cond_broadcast(&t.wake);
      pthread_cond_broadcast(&t.infer_wake);
      pthread_mutex_unlock(&t.lock);
      pthread_join(th, NULL);
      pthread_join(ith, NULL);
      event_free(sig[0]);
      event_free(sig[1]);
   }
   /* The front end first: it frees the requests still queued for the model (not yet ended)
    * with their connections; should it call on_client_gone on them, their Infers are still
    * there. infer_drop then frees the Infers without touching their requests. */
   HttpFront_free(front);
   infer_drop(t.infer_head);
   infer_drop(t.infer_done);
   event_free(t.infer_ev);
   pthread_cond_destroy(&t.infer_wake);
   event_base_free(t.base);
   for (int i = 0; i < t.njobs; i++)
      job_free(t.jobs[i]);
   free(t.jobs);
   json_decref(t.files);
   free(t.dir);
   pthread_mutex_destroy(&t.lock);
   pthread_cond_destroy(&t.wake);
   return ok;
}
