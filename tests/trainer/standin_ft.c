/* standin_ft.c - stand-in for a GPU fine-tuning service speaking OpenAI's fine-tuning API, for
 * the client tests. Jobs advance one step each time they are read, so tests are deterministic:
 * model "standin-ok" succeeds after 4 steps, "standin-fail" fails at step 2 with a message,
 * "standin-slow" runs 1000 steps (cancel it). With --key K every request needs "Bearer K".
 * Usage: standin_ft [--key K]   (listens on a free 127.0.0.1 port, printed on stdout) */
#include "config.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/util.h"
#include "http/multipart.h"

typedef struct {
   char id[32];
   char *model, *suffix;
   json_t *hyper;
   const char *status;
   int step, total, fail_at;
   json_t *events;   /* oldest first */
   json_t *ckpts;
   json_t *error;
} SJob;

static SJob jobs[64];
static int njobs, nfiles, nevents;
static const char *key;

static void reply(struct evhttp_request *req, int code, json_t *v) {
   char *s = json_dumps(v, JSON_COMPACT);
   json_decref(v);
   evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
   evbuffer_add(evhttp_request_get_output_buffer(req), s, strlen(s));
   free(s);
   evhttp_send_reply(req, code, NULL, NULL);
}

static void fail(struct evhttp_request *req, int code, const char *msg) {
   reply(req, code, json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", msg, "type", "invalid_request_error",
                              "param", "code"));
}

static void event(SJob *j, const char *level, json_t *data, const char *msg) {
   char id[32];
   snprintf(id, sizeof id, "ftevent-%d", ++nevents);
   json_array_append_new(j->events, json_pack("{s:s, s:s, s:I, s:s, s:s, s:o, s:s}", "object", "fine_tuning.job.event",
                         "id", id, "created_at", (json_int_t)time(NULL), "level", level, "message", msg, "data",
                         data ? data : json_object(), "type", data ? "metrics" : "message"));
}

static json_t *job_json(SJob *j) {
   char ftm[128];
   snprintf(ftm, sizeof ftm, "ft:%s:%s:%s", j->model, j->suffix ? j->suffix : "", j->id);
   bool done = str_eq(j->status, "succeeded");
   return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:O, s:O, s:I}", "object", "fine_tuning.job", "id", j->id, "model",
                    j->model, "status", j->status, "fine_tuned_model", done ? ftm : NULL, "hyperparameters", j->hyper,
                    "error", j->error ? j->error : json_null(), "trained_tokens", (json_int_t)j->step * 1000);
}

/* Reading a running job moves it one step on. */
static void advance(SJob *j) {
   char msg[160];
   if (str_eq(j->status, "validating_files")) {
      j->status = "running";
      event(j, "info", NULL, "Fine-tuning job started");
      return;
   }
   if (!str_eq(j->status, "running"))
      return;
   j->step++;
   double loss = 2.0 / (j->step + 1);
   snprintf(msg, sizeof msg, "Step %d/%d: training loss=%.3f", j->step, j->total, loss);
   event(j, "info", json_pack("{s:i, s:i, s:f, s:f, s:f}", "step", j->step, "total_steps", j->total, "train_loss", loss,
                              "valid_loss", loss * 1.1, "valid_mean_token_accuracy", 0.5 + 0.1 * j->step), msg);
   if (j->step == j->fail_at) {
      j->status = "failed";
      j->error = json_pack("{s:s, s:s, s:n}", "code", "server_error", "message",
                           "stand-in: CUDA out of memory at step 2 (reduce batch_size)", "param");
      event(j, "error", NULL, "stand-in: CUDA out of memory at step 2 (reduce batch_size)");
   } else if (j->step == j->total) {
      char ck[32];
      snprintf(ck, sizeof ck, "ftckpt-%s", j->id);
      json_array_append_new(j->ckpts, json_pack("{s:s, s:s, s:i, s:s, s:{s:f, s:f}}", "object", "fine_tuning.job.checkpoint",
                            "id", ck, "step_number", j->step, "fine_tuned_model_checkpoint", "ft:ckpt", "metrics",
                            "full_valid_loss", loss, "full_valid_mean_token_accuracy", 0.9));
      j->status = "succeeded";
      event(j, "info", NULL, "The job has successfully completed");
   }
}

/* Newest first, after a cursor, limit items. */
static json_t *list(json_t *arr, struct evhttp_request *req) {
   struct evkeyvalq q;
   const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
   long limit = 20;
   const char *after = NULL;
   bool parsed = query && evhttp_parse_query_str(query, &q) == 0;
   if (parsed) {
      const char *l = evhttp_find_header(&q, "limit");
      if (l)
         parse_long(l, &limit);
      after = evhttp_find_header(&q, "after");
   }
   long i = (long)json_array_size(arr) - 1;
   if (after) {
      while (i >= 0 && !str_eq(json_string_value(json_object_get(json_array_get(arr, i), "id")), after))
         i--;
      i--;
   }
   json_t *data = json_array();
   for (; i >= 0 && (long)json_array_size(data) < limit; i--)
      json_array_append(data, json_array_get(arr, i));
   json_t *out = json_pack("{s:s, s:o, s:b}", "object", "list", "data", data, "has_more", i >= 0);
   if (parsed)
      evhttp_clear_headers(&q);
   return out;
}

static SJob *find(const char *id) {
   for (int i = 0; i < njobs; i++)
      if (str_eq(jobs[i].id, id))
         return &jobs[i];
   return NULL;
}

static void handle(struct evhttp_request *req, void *arg) {
   const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
   bool post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
   struct evbuffer *in = evhttp_request_get_input_buffer(req);
   size_t len = evbuffer_get_length(in);
   const char *body = (const char *)evbuffer_pullup(in, -1);
   char id[64] = "", what[32] = "";
   if (key) {
      const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
      char *want = xasprintf("Bearer %s", key);
      bool ok = str_eq(auth, want);
      free(want);
      if (!ok) {
         fail(req, 401, "stand-in: incorrect API key provided");
         return;
      }
   }
   if (post && str_eq(path, "/v1/files")) {
      char *err = NULL, *b = Multipart_boundary(evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type"), &err);
      Multipart mp;
      if (!b || !Multipart_parse(body, len, b, &mp, &err)) {
         fail(req, 400, err);
      } else {
         char fid[32];
         snprintf(fid, sizeof fid, "file-%d", ++nfiles);
         const MultipartPart *f = Multipart_get(&mp, "file");
         reply(req, 200, json_pack("{s:s, s:s, s:I, s:s}", "object", "file", "id", fid, "bytes",
                                   (json_int_t)(f ? f->len : 0), "purpose", "fine-tune"));
         Multipart_free(&mp);
      }
      free(b);
      free(err);
   } else if (post && str_eq(path, "/v1/fine_tuning/jobs")) {
      json_t *v = json_loadb(body, len, 0, NULL);
      const char *model = json_string_value(json_object_get(v, "model"));
      if (!model || njobs == (int)ARRAY_SIZE(jobs)) {
         fail(req, 400, "stand-in: model is required");
      } else {
         SJob *j = &jobs[njobs++];
         snprintf(j->id, sizeof j->id, "ftjob-standin%d", njobs);
         j->model = xstrdup(model);
         const char *sfx = json_string_value(json_object_get(v, "suffix"));
         j->suffix = sfx ? xstrdup(sfx) : NULL;
         j->hyper = json_incref(json_object_get(v, "hyperparameters"));
         j->status = "validating_files";
         j->total = str_eq(model, "standin-slow") ? 1000 : 4;
         j->fail_at = str_eq(model, "standin-fail") ? 2 : 0;
         j->events = json_array();
         j->ckpts = json_array();
         event(j, "info", NULL, "Created fine-tuning job");
         reply(req, 200, job_json(j));
      }
      json_decref(v);
   } else if (sscanf(path, "/v1/fine_tuning/jobs/%63[^/]/%31s", id, what) >= 1) {
      SJob *j = find(id);
      if (!j)
         fail(req, 404, "stand-in: no such job");
      else if (!*what && !post) {
         advance(j);
         reply(req, 200, job_json(j));
      } else if (str_eq(what, "events"))
         reply(req, 200, list(j->events, req));
      else if (str_eq(what, "checkpoints"))
         reply(req, 200, list(j->ckpts, req));
      else if (str_eq(what, "cancel") && post) {
         if (!str_eq(j->status, "running") && !str_eq(j->status, "validating_files")) {
            fail(req, 400, "stand-in: job is not running");
         } else {
            j->status = "cancelled";
            event(j, "info", NULL, "Job cancelled");
            reply(req, 200, job_json(j));
         }
      } else
         fail(req, 404, "stand-in: unknown path");
   } else {
      fail(req, 404, "stand-in: unknown path");
   }
}

static void on_term(evutil_socket_t s, short w, void *base) {
   event_base_loopbreak(base);
}

int main(int argc, char **argv) {
   if (argc == 3 && str_eq(argv[1], "--key"))
      key = argv[2];
   struct event_base *base = event_base_new();
   struct evhttp *http = evhttp_new(base);
   evhttp_set_gencb(http, handle, NULL);
   struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
   if (!s)
      die(1, "stand-in: cannot listen");
   struct sockaddr_in sin;
   socklen_t sl = sizeof sin;
   getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sin, &sl);
   printf("listening on 127.0.0.1:%d\n", ntohs(sin.sin_port));
   fflush(stdout);
   struct event *term = evsignal_new(base, SIGTERM, on_term, base);
   event_add(term, NULL);
   event_base_dispatch(base);
   event_free(term);
   for (int i = 0; i < njobs; i++) {
      free(jobs[i].model);
      free(jobs[i].suffix);
      json_decref(jobs[i].hyper);
      json_decref(jobs[i].events);
      json_decref(jobs[i].ckpts);
      json_decref(jobs[i].error);
   }
   evhttp_free(http);
   event_base_free(base);
   return 0;
}
