/* replayserver.c - answer recorded chat requests with their recorded responses (libevent). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/util.h"
#include "http/httpfront.h"
#include "http/httpreply.h"
#include "replay/replayserver.h"

/* Open addressing over the calls by key; the first recording of a request wins. */
typedef struct {
   uint64_t *keys;
   size_t *idx;        /* index into calls + 1; 0 = empty slot */
   size_t mask;
} Table;

typedef struct Pending {
   HttpReq *req;
   struct event *timer;
   int status;
   char *body;
   bool stream;
   struct Pending *prev, *next;
} Pending;

typedef struct {
   const Recorded *calls;
   const ReplayServerOpts *o;
   Table t;
   size_t unique;
   struct event_base *base;
   uint64_t rng;
   Pending *pending;   /* answers waiting for their latency; freed at exit (their requests by the front end) */
   long requests, hits, misses, injected;
} Server;

static void table_build(Server *s) {
   size_t cap = 16;
   while (cap < 2 * s->calls->n + 2)
      cap *= 2;
   s->t.keys = xcalloc(cap, sizeof *s->t.keys);
   s->t.idx = xcalloc(cap, sizeof *s->t.idx);
   s->t.mask = cap - 1;
   for (size_t i = 0; i < s->calls->n; i++) {
      uint64_t k = s->calls->v[i].key;
      size_t slot = (size_t)k & s->t.mask;
      while (s->t.idx[slot] && s->t.keys[slot] != k)
         slot = (slot + 1) & s->t.mask;
      if (!s->t.idx[slot]) {
         s->t.keys[slot] = k;
         s->t.idx[slot] = i + 1;
         s->unique++;
      }
   }
}

static const RecordedCall *table_find(const Server *s, uint64_t k) {
   for (size_t slot = (size_t)k & s->t.mask; s->t.idx[slot]; slot = (slot + 1) & s->t.mask) {
      if (s->t.keys[slot] == k)
         return &s->calls->v[s->t.idx[slot] - 1];
   }
   return NULL;
}

static double rnd(Server *s) {
   s->rng ^= s->rng << 13;
   s->rng ^= s->rng >> 7;
   s->rng ^= s->rng << 17;
   return (double)(s->rng >> 11) / 9007199254740992.0;
}

static void reply(HttpReq *req, int status, const char *ctype, const char *body) {
   HttpReq_add_header(req, "Content-Type", ctype);
   HttpReq_add_header(req, "X-Offramp-Replay", "1");
   HttpReq_reply(req, status, status < 300 ? "OK" : "Error", body, strlen(body));
}

static char *error_json(const char *type, const char *code, const char *msg) {
   Sbuf sb = { 0 };
   Reply_error_text(&sb, 400, type, NULL, code, msg);
   return Sbuf_steal(&sb);
}

/* The recorded chat completion as server-sent events: one content chunk, one finish chunk. */
static char *as_stream(const char *response) {
   json_t *r = json_loads(response, 0, NULL);
   json_t *choice = json_array_get(json_object_get(r, "choices"), 0);
   const char *content = json_string_value(json_object_get(json_object_get(choice, "message"), "content"));
   const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
   Sbuf sb = { 0 };
   for (int i = 0; i < 2; i++) {
      json_t *delta = i == 0 ? json_pack("{s:s, s:s}", "role", "assistant", "content", content ? content : "")
                             : json_object();
      json_t *chunk = json_pack("{s:O?, s:s, s:O?, s:O?, s:[{s:i, s:o, s:s?}]}", "id", json_object_get(r, "id"),
                                "object", "chat.completion.chunk", "created", json_object_get(r, "created"),
                                "model", json_object_get(r, "model"), "choices", "index", 0, "delta", delta,
                                "finish_reason", i == 1 ? (finish ? finish : "stop") : NULL);
      if (i == 1 && json_object_get(r, "usage"))
         json_object_set(chunk, "usage", json_object_get(r, "usage"));
      char *s = chunk ? json_dumps(chunk, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
      if (s)
         Sbuf_printf(&sb, "data: %s\n\n", s);
      free(s);
      json_decref(chunk);
   }
   Sbuf_puts(&sb, "data: [DONE]\n\n");
   json_decref(r);
   return Sbuf_steal(&sb);
}

static void pending_free(Server *s, Pending *p) {
   if (p->prev)
      p->prev->next = p->next;
   else
      s->pending = p->next;
   if (p->next)
      p->next->prev = p->prev;
   event_free(p->timer);
   free(p->body);
   free(p);
}

static void send_pending(Pending *p) {
   reply(p->req, p->status, p->stream && p->status == 200 ? "text/event-stream" : "application/json", p->body);
}

typedef struct {
   Server *s;
   Pending *p;
} TimerArg;

static void on_timer(evutil_socket_t fd, short what, void *arg) {
   (void)fd;
   (void)what;
   TimerArg *a = arg;
   send_pending(a->p);
   pending_free(a->s, a->p);
   free(a);
}

static void on_chat(Server *s, HttpReq *req) {
   size_t len;
   const char *text = HttpReq_body(req, &len);
   json_error_t je;
   json_t *body = json_loadb(text, len, 0, &je);
   s->requests++;
   Pending *p = xcalloc(1, sizeof *p);
   p->req = req;
   if (!json_is_object(body) || !json_is_array(json_object_get(body, "messages"))) {
      char *msg = xasprintf("replay-server: the request body is not a chat completion request (%s)",
                            body ? "no messages array" : je.text);
      p->status = 400;
      p->body = error_json("invalid_request_error", "invalid_body", msg);
      free(msg);
   } else if (s->o->error_rate > 0 && rnd(s) < s->o->error_rate) {
      s->injected++;
      p->status = 500;
      char *msg = xasprintf("replay-server: injected error (--error-rate %g)", s->o->error_rate);
      p->body = error_json("server_error", "injected_error", msg);
      free(msg);
   } else {
      const RecordedCall *c = table_find(s, Recorded_key(body));
      p->stream = json_is_true(json_object_get(body, "stream"));
      if (c) {
         s->hits++;
         p->status = c->status;
         p->body = p->stream && c->status == 200 ? as_stream(c->response) : xstrdup(c->response);
      } else {
         s->misses++;
         const char *model = json_string_value(json_object_get(body, "model"));
         char *msg = xasprintf("replay-server: no recorded response for this request (model %s, %zu messages): it only "
                               "replays the calls recorded in %s",
                               model ? model : "(none)", json_array_size(json_object_get(body, "messages")),
                               s->o->source);
         p->status = 404;
         p->body = error_json("invalid_request_error", "not_recorded", msg);
         free(msg);
      }
   }
   json_decref(body);
   if (s->o->latency_ms <= 0) {
      send_pending(p);
      free(p->body);
      free(p);
      return;
   }
   TimerArg *a = xmalloc(sizeof *a);
   a->s = s;
   a->p = p;
   p->timer = evtimer_new(s->base, on_timer, a);
   p->next = s->pending;
   if (s->pending)
      s->pending->prev = p;
   s->pending = p;
   struct timeval tv = { s->o->latency_ms / 1000, (s->o->latency_ms % 1000) * 1000 };
   evtimer_add(p->timer, &tv);
}

/* The models the recording used, each said to be a replay. */
static char *models_json(const Server *s) {
   json_t *seen = json_object(), *data = json_array();
   for (size_t i = 0; i < s->calls->n; i++) {
      const char *m = s->calls->v[i].model;
      if (m && !json_object_get(seen, m)) {
         json_object_set_new(seen, m, json_true());
         json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s, s:s}", "id", m, "object", "model", "created", 0,
                                               "owned_by", "offramp-replay", "description",
                                               "replays recorded responses, not a live model"));
      }
   }
   /* The source is a path the operator gave: its bytes need not be UTF-8. */
   json_t *r = json_pack("{s:s, s:o, s:{s:o, s:I, s:I}}", "object", "list", "data", data, "replay", "source",
                         Json_textz(s->o->source), "calls", (json_int_t)s->calls->n, "unique", (json_int_t)s->unique);
   char *out = r ? json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
   if (!out)
      out = error_json("server_error", "internal_error", "the model list could not be serialised");
   json_decref(r);
   json_decref(seen);
   return out;
}

static void on_request(HttpReq *req, void *arg) {
   Server *s = arg;
   const char *path = HttpReq_path(req);
   HttpMethod m = HttpReq_method(req);
   if (str_eq(path, "/v1/chat/completions") && m == HTTP_POST) {
      on_chat(s, req);
   } else if (str_eq(path, "/v1/models") && m == HTTP_GET) {
      char *b = models_json(s);
      reply(req, 200, "application/json", b);
      free(b);
   } else if (str_eq(path, "/healthz")) {
      reply(req, 200, "text/plain", "ok replay\n");
   } else if (str_eq(path, "/stats")) {
      char *b = xasprintf("{\"requests\":%ld,\"hits\":%ld,\"misses\":%ld,\"injected_errors\":%ld}\n", s->requests,
                          s->hits, s->misses, s->injected);
      reply(req, 200, "application/json", b);
      free(b);
   } else {
      char *b = error_json("invalid_request_error", "unknown_url",
                           "replay-server: unknown URL (POST /v1/chat/completions, GET /v1/models, /healthz, /stats)");
      reply(req, 404, "application/json", b);
      free(b);
   }
}

bool ReplayServer_run(const Recorded *calls, const ReplayServerOpts *o, char **err) {
   Server s = { .calls = calls, .o = o, .rng = o->seed * 0x9E3779B97F4A7C15ULL + 88172645463325252ULL };
   table_build(&s);
   s.base = event_base_new();
   int port;
   HttpLimits lim = HTTP_LIMITS_DEFAULT;
   lim.max_body = 16 << 20;
   HttpFront *front = HttpFront_new(s.base, "offramp replay-server", &lim, on_request, &s);
   bool ok = HttpFront_listen(front, o->host, o->port, &port, err);
   if (ok) {
      struct event *sig[2];
      HttpFront_stop_on_signals(s.base, sig);
      char n1[32], n2[32];
      printf("offramp replay-server: REPLAYING recorded responses, not a live model: listening on http://%s:%d/v1 "
             "(%s calls, %s distinct requests from %s; latency %ld ms, error rate %g)\n",
             o->host, port, fmt_count(n1, sizeof n1, (long long)calls->n), fmt_count(n2, sizeof n2, (long long)s.unique),
             o->source, o->latency_ms, o->error_rate);
      fflush(stdout);
      event_base_dispatch(s.base);
      event_free(sig[0]);
      event_free(sig[1]);
      fprintf(stderr, "offramp replay-server: %ld requests, %ld answered from the recording, %ld not recorded, "
                      "%ld injected errors\n", s.requests, s.hits, s.misses, s.injected);
   }
   while (s.pending) {
      TimerArg *a = event_get_callback_arg(s.pending->timer);
      free(a);
      pending_free(&s, s.pending);
   }
   HttpFront_free(front);
   event_base_free(s.base);
   free(s.t.keys);
   free(s.t.idx);
   return ok;
}
