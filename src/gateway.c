/* gateway.c - the gateway's HTTP server: request handling, routing per mode, fallback,
 * comparison, capture hand-off, admin API, signals. One libevent loop thread does all of it;
 * the capture writer thread is the only other thread. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "compare.h"
#include "gateway.h"
#include "gwintake.h"
#include "gwstats.h"
#include "httpreply.h"
#include "jsonscan.h"
#include "route.h"
#include "store.h"
#include "task.h"
#include "upstream.h"
#include "util.h"

enum { CALL_PRIMARY, CALL_CANDIDATE, CALL_NOISE, CALLS };

typedef struct Gateway {
   const GatewayConfig *cfg;
   struct event_base *base;
   struct evhttp *http;
   struct evhttp_bound_socket *sock;
   Upstream *up;
   Capture *cap;
   GwStats *stats;
   Store *st;                 /* routes and admin reads; captures use the writer's connection */
   Route **routes;
   int n_routes;
   Route *fallback_route;     /* unknown tasks: passthrough to the default upstream */
   char *admin_token;
   char *chat_url;            /* the default upstream's chat completions URL, or NULL */
   const char *upstream_key;  /* the default upstream's key from the environment, or NULL */
   long flights;              /* exchanges in progress, background calls included */
   long unflushed;            /* answers handed to evhttp but not yet written out */
   bool draining;
   struct event *sig[4], *drain_timer;
   unsigned long long rid_seed, rid_next, rng;
   time_t ts_sec;             /* the second ts_prefix and date spell, so a timestamp costs no strftime */
   char ts_prefix[24];
   char date[40];             /* the HTTP Date header of that second (evhttp would format one per reply) */
} Gateway;

typedef struct Flight Flight;

typedef struct {
   Flight *f;
   int which;
   bool started, done, stream;
   long status;
   int error;                 /* UPERR_*, UPERR_NONE on success */
   char *errmsg;
   char *req_body;            /* this arm's own request body, when it differs from the client's */
   char *body;
   size_t len;
   char *content_type;
   double ms;
   json_t *resp;              /* the completion assembled from a streamed answer, else NULL */
   double confidence;
} Call;

struct Flight {
   Gateway *gw;
   struct evhttp_request *req;   /* NULL once answered */
   Route *route;
   char *task;
   GwRequest rq;
   char *raw;                    /* the client's body, forwarded as is when no model is swapped */
   size_t raw_len;
   char *client_auth;
   bool stream, streaming, fell_back;
   int serving;
   int fallback;                 /* FALLBACK_* */
   int reply_status;
   Call calls[CALLS];
   int pending;
   double t0;
   char rid[40], ts[32];
};

/* ---- small helpers ---- */

static unsigned long long rng_next(Gateway *gw) {
   /* xorshift64*: sampling only, never security. */
   gw->rng ^= gw->rng >> 12;
   gw->rng ^= gw->rng << 25;
   gw->rng ^= gw->rng >> 27;
   return gw->rng * 2685821657736338717ULL;
}

/* "ofr-" + 12 hex digits of the run's seed + "-" + the request's number, without printf. */
static void request_id(Gateway *gw, char out[40]) {
   static const char hexd[] = "0123456789abcdef";
   char *p = out;
   memcpy(p, "ofr-", 4);
   p += 4;
   for (int i = 11; i >= 0; i--)
      *p++ = hexd[(gw->rid_seed >> (4 * i)) & 15];
   *p++ = '-';
   char digits[24];
   int n = 0;
   unsigned long long v = gw->rid_next++;
   do {
      digits[n++] = (char)('0' + v % 10);
      v /= 10;
   } while (v);
   while (n)
      *p++ = digits[--n];
   *p = '\0';
}

/* The clock, with the second's spellings (ts_prefix, date) brought up to date. */
static struct timespec clock_now(Gateway *gw) {
   struct timespec ts;
   clock_gettime(CLOCK_REALTIME, &ts);
   if (ts.tv_sec != gw->ts_sec) {
      struct tm tm;
      gmtime_r(&ts.tv_sec, &tm);
      strftime(gw->ts_prefix, sizeof gw->ts_prefix, "%Y-%m-%dT%H:%M:%S", &tm);
      /* RFC 7231's date, in English whatever the locale. */
      static const char days[][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
      static const char months[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
      snprintf(gw->date, sizeof gw->date, "%s, %02d %s %d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
               months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
      gw->ts_sec = ts.tv_sec;
   }
   return ts;
}

/* now_iso8601's format, without its strftime per call. */
static void timestamp(Gateway *gw, char out[32]) {
   struct timespec ts = clock_now(gw);
   long ms = ts.tv_nsec / 1000000;
   size_t n = strlen(gw->ts_prefix);
   memcpy(out, gw->ts_prefix, n);
   out[n] = '.';
   out[n + 1] = (char)('0' + ms / 100);
   out[n + 2] = (char)('0' + ms / 10 % 10);
   out[n + 3] = (char)('0' + ms % 10);
   out[n + 4] = 'Z';
   out[n + 5] = '\0';
}

/* The Date header's value (evhttp would format one per reply). */
static const char *http_date(Gateway *gw) {
   clock_now(gw);
   return gw->date;
}

static bool sampled(Gateway *gw, double percent) {
   return percent > 0 && (double)(rng_next(gw) % 10000) < percent * 100;
}

static const char *header(struct evhttp_request *req, const char *name) {
   return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

/* ---- routes ---- */

static void routes_free(Gateway *gw) {
   for (int i = 0; i < gw->n_routes; i++)
      Route_unref(gw->routes[i]);
   free(gw->routes);
   gw->routes = NULL;
   gw->n_routes = 0;
}

static bool routes_load(Gateway *gw, char **err) {
   int n;
   Route **v = Route_load_all(gw->st, &n, err);
   if (!v)
      return false;
   routes_free(gw);
   gw->routes = v;
   gw->n_routes = n;
   return true;
}

static Route *route_for_task(Gateway *gw, const char *task) {
   return Route_find(gw->routes, gw->n_routes, task);
}

static void route_put(Gateway *gw, Route *r) {
   for (int i = 0; i < gw->n_routes; i++) {
      if (str_eq(gw->routes[i]->task, r->task)) {
         Route_unref(gw->routes[i]);
         gw->routes[i] = r;
               return;
      }
   }
   gw->routes = xrealloc(gw->routes, (size_t)(gw->n_routes + 1) * sizeof *gw->routes);
   gw->routes[gw->n_routes++] = r;
}

/* Canary split: sticky on the user, else the conversation header, else random. */
static bool canary_picks_candidate(Gateway *gw, const Route *r, struct evhttp_request *req, const char *user) {
   const char *conv = header(req, "X-Offramp-Conversation");
   const char *key = NULL;
   if (str_eq(r->sticky, "user"))
      key = user && *user ? user : conv;
   else if (str_eq(r->sticky, "conversation"))
      key = conv && *conv ? conv : user;
   unsigned long long h;
   if (key && *key) {
      /* Salted by task so one user is not in every task's canary at once. */
      h = hash64_str(key) ^ hash64_str(r->task);
      h *= 0x9e3779b97f4a7c15ULL;
      h ^= h >> 32;
   } else {
      h = rng_next(gw);
   }
   return (double)(h % 10000) < r->percent * 100;
}

/* ---- upstream calls ---- */

static void flight_finish(Flight *f);
static void flight_serve(Flight *f);

static void call_reset(Call *c) {
   free(c->req_body);
   free(c->errmsg);
   free(c->body);
   free(c->content_type);
   json_decref(c->resp);
}

static void on_stream_data(void *ud, const char *content_type, const char *p, size_t n) {
   Call *c = ud;
   Flight *f = c->f;
   if (c->which != f->serving || !f->req)
      return;
   if (!f->streaming) {
      f->streaming = true;
      struct evkeyvalq *h = evhttp_request_get_output_headers(f->req);
      evhttp_add_header(h, "Content-Type", content_type ? content_type : "text/event-stream");
      evhttp_add_header(h, "Cache-Control", "no-cache");
      evhttp_add_header(h, "Date", http_date(f->gw));
      evhttp_add_header(h, "X-Offramp-Arm", c->which == CALL_CANDIDATE ? "candidate" : "primary");
      if (f->task)
         evhttp_add_header(h, "X-Offramp-Task", f->task);
      evhttp_add_header(h, "X-Offramp-Request-Id", f->rid);
      evhttp_send_reply_start(f->req, 200, NULL);
   }
   struct evbuffer *b = evbuffer_new();
   evbuffer_add(b, p, n);
   evhttp_send_reply_chunk(f->req, b);
   evbuffer_free(b);
}

/* A 2xx body that is a chat completion: a JSON object with a "choices" array. The scanner
 * checks it without building it; the parser decides what the scanner declines. */
static bool is_completion(const char *body, size_t len) {
   JsonMember m[JSONSCAN_MEMBERS];
   int n = Jsonscan_members(body, len, m, JSONSCAN_MEMBERS);
   if (n < 0) {
      json_t *j = json_loadb(body, len, 0, NULL);
      bool ok = json_is_array(json_object_get(j, "choices"));
      json_decref(j);
      return ok;
   }
   const JsonMember *choices = Jsonscan_find(m, n, "choices");
   return choices && choices->val[0] == '[';
}

static void on_call_done(void *ud, UpResult *res) {
   Call *c = ud;
   Flight *f = c->f;
   c->done = true;
   c->status = res->status;
   c->ms = res->ms;
   c->len = res->body.len;
   c->body = Sbuf_steal(&res->body);
   c->content_type = res->content_type ? xstrdup(res->content_type) : NULL;
   if (res->code == CURLE_OPERATION_TIMEDOUT) {
      c->error = UPERR_TIMEOUT;
   } else if (res->code != CURLE_OK) {
      c->error = UPERR_CONNECT;
   } else if (res->status < 200 || res->status >= 300) {
      c->error = UPERR_STATUS;
   } else if (c->stream) {
      c->resp = Compare_stream_response(c->body, c->len);
      c->error = json_is_array(json_object_get(c->resp, "choices")) ? UPERR_NONE : UPERR_MALFORMED;
   } else {
      c->error = is_completion(c->body, c->len) ? UPERR_NONE : UPERR_MALFORMED;
   }
   if (res->code != CURLE_OK)
      c->errmsg = xstrdup(res->error ? res->error : "transfer failed");
   if (c->error == UPERR_NONE && c->which == CALL_CANDIDATE)
      c->confidence = c->resp ? Compare_confidence(c->resp, f->route->compare)
                              : Compare_confidence_text(c->body, c->len, f->route->compare);
   f->pending--;
   if (c->which == f->serving && f->req)
      flight_serve(f);
   if (f->pending == 0 && !f->req)
      flight_finish(f);
}

/* The request body for one arm: the client's, with the arm's model when it names one. The
 * candidate is also asked for logprobs when the client did not ask: its confidence is what
 * cutover falls back on and what the shadow record keeps (vLLM, llama.cpp server and the
 * built-in trainer all return them). NULL when the client's body goes as it is. The change is
 * spliced into the client's text: the rest of the body goes byte for byte. */
static char *arm_body(Flight *f, const RouteArm *arm, bool candidate, size_t *len) {
   bool logprobs = candidate && !f->rq.logprobs;
   *len = f->raw_len;
   if (!arm->model && !logprobs)
      return NULL;
   if (f->rq.parsed) {
      json_t *req = json_loadb(f->raw, f->raw_len, 0, NULL);
      if (arm->model)
         json_object_set_new(req, "model", json_string(arm->model));
      if (logprobs) {
         json_object_set_new(req, "logprobs", json_true());
         json_object_set_new(req, "top_logprobs", json_integer(5));
      }
      char *s = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
      json_decref(req);
      *len = strlen(s);
      return s;
   }
   Sbuf b = { 0 };
   /* The scanner saw an object: its first non-blank byte is the brace. */
   size_t at = (size_t)((const char *)memchr(f->raw, '{', f->raw_len) - f->raw) + 1;
   Sbuf_add(&b, f->raw, at);
   if (logprobs)
      Sbuf_puts(&b, "\"logprobs\":true,\"top_logprobs\":5,");
   if (arm->model && f->rq.model_len) {
      Sbuf_add(&b, f->raw + at, f->rq.model_at - at);
      Sbuf_puts(&b, arm->model_json);
      at = f->rq.model_at + f->rq.model_len;
   } else if (arm->model) {
      Sbuf_puts(&b, "\"model\":");
      Sbuf_puts(&b, arm->model_json);
      Sbuf_puts(&b, ",");
   }
   Sbuf_add(&b, f->raw + at, f->raw_len - at);
   *len = b.len;
   return Sbuf_steal(&b);
}

static void call_start(Flight *f, int which) {
   Gateway *gw = f->gw;
   Call *c = &f->calls[which];
   const Route *r = f->route;
   const RouteArm *arm = which == CALL_CANDIDATE ? &r->candidate : &r->primary;
   const char *url = arm->url ? arm->chat_url : gw->chat_url;
   c->f = f;
   c->which = which;
   c->started = true;
   c->stream = f->stream;
   c->error = UPERR_NONE;
   c->confidence = -1;
   f->pending++;
   if (!url) {
      c->done = true;
      c->error = UPERR_CONNECT;
      c->errmsg = xstrdup("no upstream configured: start the gateway with --upstream URL "
                          "or give the route a primary.url");
      f->pending--;
      return;
   }
   /* The candidate only ever gets its own key: the client's key is for the primary's API. */
   const char *key = arm->key_env                                  ? getenv(arm->key_env)
                     : which != CALL_CANDIDATE && !arm->url ? gw->upstream_key
                                                                      : NULL;
   char *auth = key && *key ? xasprintf("Bearer %s", key)
                : which != CALL_CANDIDATE && f->client_auth ? xstrdup(f->client_auth)
                                                            : NULL;
   size_t len;
   c->req_body = arm_body(f, arm, which == CALL_CANDIDATE, &len);
   const char *body = c->req_body ? c->req_body : f->raw;
   long timeout = which == CALL_CANDIDATE ? r->timeout_ms : gw->cfg->upstream_timeout_ms;
   Upstream_post(gw->up, url, auth, body, len, timeout, f->stream && which == f->serving ? on_stream_data : NULL,
                 on_call_done, c);
   free(auth);
}

/* ---- answering ---- */

static void add_arm_headers(Flight *f, struct evkeyvalq *h) {
   evhttp_add_header(h, "X-Offramp-Arm",
                     f->fell_back ? "fallback" : f->serving == CALL_CANDIDATE ? "candidate" : "primary");
   if (f->task)
      evhttp_add_header(h, "X-Offramp-Task", f->task);
   evhttp_add_header(h, "X-Offramp-Request-Id", f->rid);
   evhttp_add_header(h, "Date", http_date(f->gw));
}

/* A drain ends when every exchange is done and every answer is on the wire. */
static void maybe_exit(Gateway *gw) {
   if (gw->draining && gw->flights == 0 && gw->unflushed == 0)
      event_base_loopexit(gw->base, NULL);
}

static void on_flushed(struct evhttp_request *req, void *arg) {
   Gateway *gw = arg;
   gw->unflushed--;
   maybe_exit(gw);
}

static void reply_from(Flight *f, Call *c) {
   struct evhttp_request *req = f->req;
   f->req = NULL;
   f->gw->unflushed++;
   evhttp_request_set_on_complete_cb(req, on_flushed, f->gw);
   /* A fallback waited on two upstreams in turn; only single-upstream answers measure us. */
   if (!f->fell_back && c->done)
      GwStats_overhead(f->gw->stats, (mono_seconds() - f->t0) * 1000.0 - c->ms);
   if (f->streaming) {
      f->reply_status = 200;
      evhttp_send_reply_end(req);
      return;
   }
   add_arm_headers(f, evhttp_request_get_output_headers(req));
   if (c->error == UPERR_NONE || c->error == UPERR_STATUS) {
      /* The upstream's own answer, errors included (a 429 is the API's to give). */
      f->reply_status = (int)c->status;
      struct evbuffer *b = evbuffer_new();
      evbuffer_add(b, c->body, c->len);
      evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                        c->content_type ? c->content_type : "application/json");
      evhttp_send_reply(req, (int)c->status, NULL, b);
      evbuffer_free(b);
      return;
   }
   char *msg;
   if (c->error == UPERR_TIMEOUT) {
      f->reply_status = 504;
      msg = xasprintf("offramp gateway: the upstream did not answer in time (%s)", c->errmsg);
   } else if (c->error == UPERR_MALFORMED) {
      f->reply_status = 502;
      msg = xasprintf("offramp gateway: the upstream answered HTTP %ld with a body that is not a chat completion",
                      c->status);
   } else {
      f->reply_status = 502;
      msg = xasprintf("offramp gateway: the upstream could not be reached (%s)", c->errmsg);
   }
   Reply_error(req, f->reply_status, "upstream_error", NULL, NULL, "%s", msg);
   free(msg);
}

/* The serving call finished: answer, or fall back to the primary when the candidate's answer
 * is not good enough. */
static void flight_serve(Flight *f) {
   Call *c = &f->calls[f->serving];
   const Route *r = f->route;
   if (f->serving == CALL_CANDIDATE && !f->streaming) {
      int reason = FALLBACK_NONE;
      if (c->error != UPERR_NONE && r->fallback_on_error)
         reason = c->error == UPERR_TIMEOUT ? FALLBACK_TIMEOUT : FALLBACK_ERROR;
      else if (c->error == UPERR_NONE && r->min_confidence > 0 && c->confidence < r->min_confidence)
         reason = FALLBACK_LOW_CONFIDENCE;
      if (reason != FALLBACK_NONE) {
         f->fallback = reason;
         f->fell_back = true;
         f->serving = CALL_PRIMARY;
         Call *p = &f->calls[CALL_PRIMARY];
         if (!p->started)
            call_start(f, CALL_PRIMARY);
         if (p->done)
            reply_from(f, p);
         return;
      }
   }
   reply_from(f, c);
}

/* ---- capture and stats, once every call of the exchange is done ---- */

static const char *call_arm_model(const Flight *f, const Call *c) {
   return (c->which == CALL_CANDIDATE ? &f->route->candidate : &f->route->primary)->model;
}

static size_t call_blob_size(const Flight *f, const Call *c) {
   const char *model = call_arm_model(f, c);
   return c->started && model ? strlen(model) + 1 : 0;
}

/* Hands the call's answer to the item as compact JSON text. */
static void capture_call(CaptureItem *it, CaptureCall *cc, const Flight *f, Call *c, const char *arm_name,
                         int agree) {
   const char *model = call_arm_model(f, c);
   cc->started = c->started;
   if (!c->started)
      return;
   cc->arm = arm_name;
   cc->model = model ? Capture_item_put(it, model, strlen(model)) : NULL;
   cc->status = c->status;
   cc->latency_ms = c->ms;
   cc->error = c->error != UPERR_NONE ? Stats_error_names[c->error] : NULL;
   cc->confidence = c->confidence;
   cc->agree = agree;
   if (c->resp) {
      /* A streamed answer: the completion assembled from it. */
      cc->response = json_dumps(c->resp, JSON_COMPACT | JSON_PRESERVE_ORDER);
      cc->response_len = cc->response ? strlen(cc->response) : 0;
   } else if (c->error == UPERR_NONE || (c->error == UPERR_MALFORMED && Jsonscan_document(c->body, c->len))) {
      /* The body as the upstream sent it (a JSON answer without choices included). */
      cc->response = c->body;
      cc->response_len = c->len;
      c->body = NULL;
      c->len = 0;
   }
}

/* The client's body, the answers' texts and scalars: the writer thread builds the record. */
static void capture_exchange(Flight *f, Call *s, Call *o, Call *noise, int agree, int noise_agree) {
   const Call *cand = &f->calls[CALL_CANDIDATE];
   size_t size = (f->task ? strlen(f->task) + 1 : 0) + call_blob_size(f, s) + call_blob_size(f, o) +
                 call_blob_size(f, noise);
   CaptureItem *it = Capture_item_new(size);
   memcpy(it->rid, f->rid, sizeof it->rid);
   memcpy(it->ts, f->ts, sizeof it->ts);
   it->task = f->task ? Capture_item_put(it, f->task, strlen(f->task)) : NULL;
   it->arm = f->fell_back ? "fallback" : f->serving == CALL_CANDIDATE ? "candidate" : "primary";
   it->status = f->reply_status;
   it->stream = f->stream;
   it->fallback = f->fell_back ? Stats_fallback_names[f->fallback] : NULL;
   it->agree = agree;
   it->confidence = cand->started ? cand->confidence : -1;
   it->request = f->raw;
   it->request_len = f->raw_len;
   f->raw = NULL;
   capture_call(it, &it->calls[CAPTURE_SERVING], f, s, it->arm, -1);
   capture_call(it, &it->calls[CAPTURE_SHADOW], f, o, o->which == CALL_CANDIDATE ? "candidate" : "primary", agree);
   capture_call(it, &it->calls[CAPTURE_NOISE], f, noise, "primary", noise_agree);
   Capture_push(f->gw->cap, it);
}

/* The call's answer text (a new string), or NULL. */
static char *call_answer(const Call *c) {
   if (c->resp) {
      const char *a = Compare_answer(c->resp);
      return a ? xstrdup(a) : NULL;
   }
   return Compare_answer_text(c->body, c->len);
}

static int compare_with(const Flight *f, const char *answer, const Call *other) {
   char *b = call_answer(other);
   int agree = Compare_answers(f->route->compare, answer, b);
   free(b);
   return agree;
}

static void flight_finish(Flight *f) {
   Gateway *gw = f->gw;
   Call *s = &f->calls[f->serving];
   Call *o = &f->calls[f->serving == CALL_PRIMARY ? CALL_CANDIDATE : CALL_PRIMARY];
   Call *noise = &f->calls[CALL_NOISE];
   Call *cand = &f->calls[CALL_CANDIDATE];
   int agree = -1, noise_agree = -1;
   bool vs_other = o->started && s->error == UPERR_NONE && o->error == UPERR_NONE;
   bool vs_noise = noise->started && s->error == UPERR_NONE && noise->error == UPERR_NONE;
   if (vs_other || vs_noise) {
      char *as = call_answer(s);
      if (vs_other)
         agree = compare_with(f, as, o);
      if (vs_noise)
         noise_agree = compare_with(f, as, noise);
      free(as);
   }
   double now = mono_seconds();

   for (int i = 0; i < CALLS; i++) {
      Call *c = &f->calls[i];
      if (!c->started || i == CALL_NOISE)
         continue;
      StatsEvent ev;
      StatsEvent_init(&ev);
      ev.arm = i == CALL_CANDIDATE ? STATS_CANDIDATE : f->fell_back ? STATS_FALLBACK : STATS_PRIMARY;
      ev.error = c->error;
      ev.latency_ms = c->ms;
      if (c == s) {
         ev.agree = agree;
         ev.noise_agree = noise_agree;
         ev.fallback = f->fallback;
         ev.confidence = cand->started ? cand->confidence : -1;
      }
      GwStats_add(gw->stats, f->task, &ev, now);
   }

   if (gw->cap)
      capture_exchange(f, s, o, noise, agree, noise_agree);

   for (int i = 0; i < CALLS; i++)
      call_reset(&f->calls[i]);
   GwRequest_clear(&f->rq);
   free(f->raw);
   free(f->client_auth);
   free(f->task);
   Route_unref(f->route);
   free(f);
   gw->flights--;
   maybe_exit(gw);
}

/* ---- POST /v1/chat/completions ---- */

void GwRequest_clear(GwRequest *r) {
   free(r->model);
   free(r->user);
   memset(r, 0, sizeof *r);
}

static const char *request_invalid(bool object, bool messages, bool stream) {
   if (!object)
      return "the request body must be a JSON object";
   if (!messages)
      return "'messages' must be a non-empty array of chat messages";
   if (!stream)
      return "'stream' must be true or false";
   return NULL;
}

/* The parser's reading, for bodies the scanner declines: its error messages say where JSON
 * went wrong. */
static bool parse_request_slow(const char *body, size_t len, GwRequest *out, char **why) {
   json_error_t je;
   json_t *j = json_loadb(body, len, 0, &je);
   if (!j) {
      *why = xasprintf("the request body is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
      return false;
   }
   json_t *messages = json_object_get(j, "messages"), *stream = json_object_get(j, "stream");
   const char *bad = request_invalid(json_is_object(j), json_is_array(messages) && json_array_size(messages) > 0,
                                     !stream || json_is_boolean(stream) || json_is_null(stream));
   if (bad) {
      *why = xstrdup(bad);
   } else {
      const char *model = json_string_value(json_object_get(j, "model"));
      const char *user = json_string_value(json_object_get(j, "user"));
      out->model = model ? xstrdup(model) : NULL;
      out->user = user ? xstrdup(user) : NULL;
      out->stream = json_is_true(stream);
      out->logprobs = json_object_get(j, "logprobs") != NULL;
      out->parsed = true;
   }
   json_decref(j);
   return !bad;
}

static bool is_word(const JsonMember *m, const char *word) {
   return m->vallen == strlen(word) && memcmp(m->val, word, m->vallen) == 0;
}

bool Gateway_parse_request(const char *body, size_t len, GwRequest *out, char **why) {
   memset(out, 0, sizeof *out);
   JsonMember m[JSONSCAN_MEMBERS];
   int n = Jsonscan_members(body, len, m, JSONSCAN_MEMBERS);
   if (n < 0)
      return parse_request_slow(body, len, out, why);
   const JsonMember *messages = Jsonscan_find(m, n, "messages"), *stream = Jsonscan_find(m, n, "stream");
   const JsonMember *model = Jsonscan_find(m, n, "model"), *user = Jsonscan_find(m, n, "user");
   size_t first;
   const char *bad = request_invalid(true, messages && Jsonscan_first(messages->val, messages->vallen, &first),
                                     !stream || is_word(stream, "true") || is_word(stream, "false") ||
                                        is_word(stream, "null"));
   if (bad) {
      *why = xstrdup(bad);
      return false;
   }
   out->stream = stream && is_word(stream, "true");
   out->logprobs = Jsonscan_find(m, n, "logprobs") != NULL;
   if (model) {
      out->model = Jsonscan_string(model->val, model->vallen);
      out->model_at = (size_t)(model->val - body);
      out->model_len = model->vallen;
   }
   if (user)
      out->user = Jsonscan_string(user->val, user->vallen);
   return true;
}

static void handle_chat(Gateway *gw, struct evhttp_request *req) {
   double t0 = mono_seconds();
   GwIntake in;
   if (!Gateway_intake(req, gw->routes, gw->n_routes, &in)) {
      Reply_error(req, in.status, "invalid_request_error", NULL, NULL, "%s", in.why);
      free(in.why);
      return;
   }
   const char *body = in.body, *task = in.task;
   size_t len = in.len;
   GwRequest rq = in.rq;
   Route *route = in.route ? in.route : gw->fallback_route;
   Flight *f = xcalloc(1, sizeof *f);
   f->gw = gw;
   f->req = req;
   f->route = Route_ref(route);
   f->task = task ? xstrdup(task) : NULL;
   f->rq = rq;
   f->raw = xstrndup(body, len);
   f->raw_len = len;
   f->stream = rq.stream;
   f->t0 = t0;
   f->fallback = FALLBACK_NONE;
   f->client_auth = in.auth ? xstrdup(in.auth) : NULL;
   request_id(gw, f->rid);
   timestamp(gw, f->ts);
   gw->flights++;

   f->serving = CALL_PRIMARY;
   bool candidate_serves = route->mode == ROUTE_CUTOVER ||
                           (route->mode == ROUTE_CANARY && canary_picks_candidate(gw, route, req, rq.user));
   if (candidate_serves) {
      f->serving = CALL_CANDIDATE;
      call_start(f, CALL_CANDIDATE);
      if (sampled(gw, route->verify_percent))
         call_start(f, CALL_PRIMARY);
   } else {
      call_start(f, CALL_PRIMARY);
      if (route->mode == ROUTE_SHADOW) {
         call_start(f, CALL_CANDIDATE);
         if (sampled(gw, route->noise_percent))
            call_start(f, CALL_NOISE);
      }
   }
   /* A call that could not even start (no upstream) is already done. */
   if (f->calls[f->serving].done && f->req)
      flight_serve(f);
   if (f->pending == 0 && !f->req)
      flight_finish(f);
}

/* ---- admin API ---- */

static bool is_loopback(struct evhttp_request *req) {
   struct evhttp_connection *con = evhttp_request_get_connection(req);
   const struct sockaddr *sa = con ? evhttp_connection_get_addr(con) : NULL;
   if (!sa)
      return false;
   if (sa->sa_family == AF_INET)
      return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
   if (sa->sa_family == AF_INET6) {
      const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
      return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
   }
   return false;
}

static bool token_matches(const char *want, const char *got) {
   size_t n = strlen(want), m = strlen(got);
   unsigned char diff = (unsigned char)(n != m);
   for (size_t i = 0; i < n; i++)
      diff |= (unsigned char)(want[i] ^ (i < m ? got[i] : 0));
   return diff == 0;
}

static bool admin_allowed(Gateway *gw, struct evhttp_request *req) {
   if (!gw->admin_token) {
      Reply_error(req, 403, "permission_error", NULL, NULL, "%s",
                 "the admin API is off: start the gateway with --admin-token-file FILE or OFFRAMP_ADMIN_TOKEN");
      return false;
   }
   if (!gw->cfg->admin_remote && !is_loopback(req)) {
      Reply_error(req, 403, "permission_error", NULL, NULL, "%s", "the admin API answers loopback clients only (see --admin-remote)");
      return false;
   }
   const char *auth = header(req, "Authorization");
   if (!auth || !str_startswith(auth, "Bearer ") || !token_matches(gw->admin_token, auth + 7)) {
      evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
      Reply_error(req, 401, "authentication_error", NULL, NULL, "%s",
                 "the admin API needs 'Authorization: Bearer TOKEN' with the gateway's admin token");
      return false;
   }
   return true;
}

static json_t *routes_json(Gateway *gw) {
   json_t *a = json_array();
   for (int i = 0; i < gw->n_routes; i++)
      json_array_append_new(a, Route_to_json(gw->routes[i]));
   return json_pack("{s:o, s:s?}", "routes", a, "default_upstream", gw->cfg->upstream);
}

static char *request_body(struct evhttp_request *req) {
   struct evbuffer *in = evhttp_request_get_input_buffer(req);
   size_t n = evbuffer_get_length(in);
   return xstrndup((const char *)evbuffer_pullup(in, -1), n);
}

static void admin_route_change(Gateway *gw, struct evhttp_request *req, const char *task, bool rollback,
                               struct evkeyvalq *q) {
   Route *old = route_for_task(gw, task), *r = NULL;
   char *err = NULL, *body = request_body(req);
   json_t *j = *body ? json_loads(body, 0, NULL) : json_object();
   free(body);
   const char *reason = evhttp_find_header(q, "reason");
   if (!reason)
      reason = json_string_value(json_object_get(j, "reason"));
   const char *actor = header(req, "X-Offramp-Actor");
   if (!j) {
      Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "the body is not valid JSON");
      return;
   }
   if (rollback) {
      if (!old) {
         char *msg = xasprintf("no route for task %s to roll back", task);
         Reply_error(req, 404, "not_found_error", NULL, NULL, "%s", msg);
         free(msg);
         json_decref(j);
         return;
      }
      /* Rollback = every request to the stable arm now; the rest of the route is kept. "shadow"
       * (Argo's abort) keeps mirroring to the candidate so its comparisons go on. */
      const char *to = json_string_value(json_object_get(j, "mode"));
      if (to && !str_eq(to, "passthrough") && !str_eq(to, "shadow")) {
         Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "a rollback goes to mode passthrough (default) or shadow");
         json_decref(j);
         return;
      }
      json_t *now = Route_to_json(old);
      json_object_set_new(now, "mode", json_string(to ? to : "passthrough"));
      r = Route_from_json(task, now, &err);
      json_decref(now);
   } else {
      json_object_del(j, "reason");
      r = Route_from_json(task, j, &err);
   }
   json_decref(j);
   if (r && Route_save(gw->st, r, rollback ? "rollback" : "set", actor && *actor ? actor : "admin-api",
                       reason ? reason : "", &err)) {
      route_put(gw, r);
      fprintf(stderr, "offramp gateway: route %s %s: mode %s\n", task, rollback ? "rolled back" : "set",
              Route_mode_name(r->mode));
      Reply_json(req, 200, json_pack("{s:o}", "route", Route_to_json(r)));
      return;
   }
   Reply_error(req, r ? 500 : 400, "invalid_request_error", NULL, NULL, "%s", err);
   free(err);
   Route_unref(r);
}

static void admin_records(Gateway *gw, struct evhttp_request *req, struct evkeyvalq *q, bool export) {
   const char *task = evhttp_find_header(q, "task"), *kind = evhttp_find_header(q, "kind");
   const char *since = evhttp_find_header(q, "since"), *limit_s = evhttp_find_header(q, "limit");
   long limit = export ? -1 : 20;
   if (limit_s && (!parse_long(limit_s, &limit) || limit < 1)) {
      Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "limit must be a whole number of at least 1");
      return;
   }
   const char *cond = "1";
   if (!export) {
      kind = kind ? kind : "disagree";
      if (str_eq(kind, "disagree"))
         cond = "e.agree = 0";
      else if (str_eq(kind, "agree"))
         cond = "e.agree = 1";
      else if (str_eq(kind, "fallback"))
         cond = "e.arm = 'fallback'";
      else if (str_eq(kind, "error"))
         cond = "(e.status IS NULL OR e.status >= 400)";
      else {
         Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "kind must be disagree, agree, fallback or error");
         return;
      }
   }
   char *sql = xasprintf("SELECT e.record FROM exchanges e LEFT JOIN tasks t ON t.id = e.task_id"
                         " WHERE (?1 IS NULL OR t.name = ?1) AND (?2 IS NULL OR e.ts >= ?2) AND %s"
                         " ORDER BY e.id %s LIMIT ?3",
                         cond, export ? "ASC" : "DESC");
   sqlite3_stmt *s = Store_prepare(gw->st, sql);
   free(sql);
   if (task)
      sqlite3_bind_text(s, 1, task, -1, SQLITE_STATIC);
   if (since)
      sqlite3_bind_text(s, 2, since, -1, SQLITE_STATIC);
   sqlite3_bind_int64(s, 3, limit);
   struct evbuffer *b = evbuffer_new();
   json_t *samples = export ? NULL : json_array();
   int rc;
   while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      const char *text = (const char *)sqlite3_column_text(s, 0);
      if (export) {
         evbuffer_add(b, text, strlen(text));
         evbuffer_add(b, "\n", 1);
      } else {
         json_t *rec = json_loads(text, 0, NULL);
         if (rec)
            json_array_append_new(samples, rec);
      }
   }
   sqlite3_finalize(s);
   if (rc != SQLITE_DONE) {
      char *msg = Store_errmsg(gw->st, "reading exchanges");
      Reply_error(req, 500, "server_error", NULL, NULL, "%s", msg);
      free(msg);
      json_decref(samples);
   } else if (export) {
      evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/x-ndjson");
      evhttp_send_reply(req, 200, NULL, b);
   } else {
      Reply_json(req, 200, json_pack("{s:s?, s:s, s:o}", "task", task, "kind", kind, "samples", samples));
   }
   evbuffer_free(b);
}

static void handle_admin(Gateway *gw, struct evhttp_request *req, const char *path, struct evkeyvalq *q) {
   if (!admin_allowed(gw, req))
      return;
   enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
   if (str_eq(path, "/admin/routes") && cmd == EVHTTP_REQ_GET) {
      Reply_json(req, 200, routes_json(gw));
   } else if (str_startswith(path, "/admin/routes/")) {
      char *task = evhttp_uridecode(path + strlen("/admin/routes/"), 0, NULL);
      char *slash = strchr(task, '/');
      bool rollback = slash && str_eq(slash, "/rollback");
      if (slash)
         *slash = '\0';
      Route *r = route_for_task(gw, task);
      if (rollback && cmd == EVHTTP_REQ_POST) {
         admin_route_change(gw, req, task, true, q);
      } else if (!slash && cmd == EVHTTP_REQ_PUT) {
         admin_route_change(gw, req, task, false, q);
      } else if (!slash && cmd == EVHTTP_REQ_GET) {
         json_t *hist = Route_history(gw->st, task);
         if (!r && json_array_size(hist) == 0) {
            json_decref(hist);
            char *msg = xasprintf("no route for task %s (set one with 'offramp route set %s ...')", task, task);
            Reply_error(req, 404, "not_found_error", NULL, NULL, "%s", msg);
            free(msg);
         } else {
            Reply_json(req, 200, json_pack("{s:o, s:o}", "route", r ? Route_to_json(r) : json_null(), "history",
                                          hist));
         }
      } else {
         Reply_error(req, 405, "invalid_request_error", NULL, NULL, "%s",
                    "use GET or PUT /admin/routes/TASK, or POST /admin/routes/TASK/rollback");
      }
      free(task);
   } else if (str_eq(path, "/admin/stats") && cmd == EVHTTP_REQ_GET) {
      Reply_json(req, 200, GwStats_json(gw->stats, evhttp_find_header(q, "task"), mono_seconds()));
   } else if (str_eq(path, "/admin/samples") && cmd == EVHTTP_REQ_GET) {
      admin_records(gw, req, q, false);
   } else if (str_eq(path, "/admin/export") && cmd == EVHTTP_REQ_GET) {
      admin_records(gw, req, q, true);
   } else {
      Reply_error(req, 404, "not_found_error", NULL, NULL, "%s", "no such admin endpoint");
   }
}

/* ---- the rest of the surface ---- */

static void handle_models(Gateway *gw, struct evhttp_request *req) {
   json_t *data = json_array();
   for (int i = 0; i < gw->n_routes; i++) {
      Route *r = gw->routes[i];
      json_array_append_new(data, json_pack("{s:s, s:s, s:s}", "id", r->task, "object", "model", "owned_by",
                                            "offramp"));
      for (int k = 0; k < r->n_aliases; k++)
         json_array_append_new(data, json_pack("{s:s, s:s, s:s}", "id", r->aliases[k], "object", "model",
                                               "owned_by", "offramp"));
   }
   Reply_json(req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void handle_metrics(Gateway *gw, struct evhttp_request *req) {
   Sbuf out = { 0 };
   GwStats_prometheus(gw->stats, &out);
   CaptureStats cs = { 0 };
   if (gw->cap)
      Capture_stats(gw->cap, &cs);
   Sbuf_printf(&out,
               "# HELP offramp_inflight Exchanges in progress, background calls included.\n"
               "# TYPE offramp_inflight gauge\nofframp_inflight %ld\n"
               "# HELP offramp_capture_queue_depth Records waiting for the writer thread.\n"
               "# TYPE offramp_capture_queue_depth gauge\nofframp_capture_queue_depth %ld\n"
               "# HELP offramp_capture_queued_total Records handed to the writer thread.\n"
               "# TYPE offramp_capture_queued_total counter\nofframp_capture_queued_total %lld\n"
               "# HELP offramp_capture_committed_total Records committed to the workspace.\n"
               "# TYPE offramp_capture_committed_total counter\nofframp_capture_committed_total %lld\n"
               "# HELP offramp_capture_dropped_total Records dropped because the queue was full.\n"
               "# TYPE offramp_capture_dropped_total counter\nofframp_capture_dropped_total %lld\n"
               "# HELP offramp_capture_failed_total Records lost to workspace write errors.\n"
               "# TYPE offramp_capture_failed_total counter\nofframp_capture_failed_total %lld\n",
               gw->flights, cs.depth, cs.queued, cs.committed, cs.dropped, cs.failed);
   struct evbuffer *b = evbuffer_new();
   evbuffer_add(b, out.buf, out.len);
   Sbuf_free(&out);
   evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; version=0.0.4");
   evhttp_send_reply(req, 200, NULL, b);
   evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg) {
   Gateway *gw = arg;
   const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
   const char *path = evhttp_uri_get_path(uri);
   if (!path)
      path = "/";
   if (str_eq(path, "/v1/chat/completions")) {
      handle_chat(gw, req);
   } else if (str_eq(path, "/v1/models")) {
      handle_models(gw, req);
   } else if (str_eq(path, "/healthz")) {
      Reply_json(req, gw->draining ? 503 : 200,
                json_pack("{s:s, s:I}", "status", gw->draining ? "draining" : "ok", "inflight",
                          (json_int_t)gw->flights));
   } else if (str_eq(path, "/metrics")) {
      handle_metrics(gw, req);
   } else if (str_startswith(path, "/admin/")) {
      struct evkeyvalq q = { 0 };
      const char *query = evhttp_uri_get_query(uri);
      if (query && evhttp_parse_query_str(query, &q) != 0) {
         Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "the query string is malformed");
         return;
      }
      handle_admin(gw, req, path, &q);
      evhttp_clear_headers(&q);
   } else {
      Reply_error(req, 404, "not_found_error", NULL, NULL, "%s", "no such endpoint (the gateway serves /v1/chat/completions, "
                                              "/v1/models, /healthz, /metrics and /admin/*)");
   }
}

/* ---- lifecycle ---- */

static char *read_token(const GatewayConfig *cfg, char **err) {
   if (!cfg->admin_token_file) {
      const char *env = getenv("OFFRAMP_ADMIN_TOKEN");
      return env && *env ? xstrdup(env) : NULL;
   }
   FILE *fp = fopen(cfg->admin_token_file, "r");
   if (!fp) {
      *err = xasprintf("cannot read the admin token file %s: %s", cfg->admin_token_file, strerror(errno));
      return NULL;
   }
   char buf[512] = "";
   bool got = fgets(buf, sizeof buf, fp) != NULL;
   fclose(fp);
   str_trim(buf);
   if (!got || strlen(buf) < 16) {
      *err = xasprintf("the admin token in %s is shorter than 16 characters (put a long random string in it)",
                       cfg->admin_token_file);
      return NULL;
   }
   return xstrdup(buf);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg) {
   Gateway *gw = arg;
   fprintf(stderr, "offramp gateway: drain timeout, %ld exchanges abandoned\n", gw->flights);
   event_base_loopexit(gw->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
   Gateway *gw = arg;
   if (sig == SIGHUP) {
      char *err = NULL;
      if (!routes_load(gw, &err)) {
         fprintf(stderr, "offramp gateway: SIGHUP: routes not reloaded, keeping the old ones: %s\n", err);
         free(err);
         return;
      }
      char *tok = read_token(gw->cfg, &err);
      if (err) {
         fprintf(stderr, "offramp gateway: SIGHUP: admin token not reloaded: %s\n", err);
         free(err);
      } else {
         free(gw->admin_token);
         gw->admin_token = tok;
      }
      fprintf(stderr, "offramp gateway: SIGHUP: %d routes reloaded\n", gw->n_routes);
      return;
   }
   if (gw->draining)
      return;
   gw->draining = true;
   fprintf(stderr, "offramp gateway: draining %ld exchanges\n", gw->flights);
   if (gw->sock) {
      evhttp_del_accept_socket(gw->http, gw->sock);
      gw->sock = NULL;
   }
   maybe_exit(gw);
   struct timeval tv = { gw->cfg->drain_timeout_s, 0 };
   gw->drain_timer = evtimer_new(gw->base, on_drain_timeout, gw);
   evtimer_add(gw->drain_timer, &tv);
}

static bool split_listen(const char *listen, char **host, int *port) {
   const char *colon = strrchr(listen, ':');
   long p;
   if (!colon || !parse_long(colon + 1, &p) || p < 0 || p > 65535)
      return false;
   *host = xstrndup(listen, (size_t)(colon - listen));
   if ((*host)[0] == '[') {
      size_t n = strlen(*host);
      memmove(*host, *host + 1, n);
      if (n >= 2 && (*host)[n - 2] == ']')
         (*host)[n - 2] = '\0';
   }
   *port = (int)p;
   return true;
}

static Route *make_fallback_route(void) {
   char *err = NULL;
   json_t *j = json_object();
   Route *r = Route_from_json("(default)", j, &err);
   json_decref(j);
   return r;
}

int Gateway_run(const GatewayConfig *cfg) {
   Gateway gw = { .cfg = cfg };
   char *err = NULL, *host = NULL;
   int port, rc = EXIT_FAILURE;
   if (!split_listen(cfg->listen, &host, &port)) {
      fprintf(stderr, "offramp gateway: --listen '%s' is not HOST:PORT (e.g. 127.0.0.1:8400)\n", cfg->listen);
      return 2;
   }
   gw.st = Store_open(cfg->workspace, STORE_CREATE, &err);
   if (!gw.st)
      goto out;
   gw.admin_token = read_token(cfg, &err);
   if (err || !routes_load(&gw, &err))
      goto out;
   gw.fallback_route = make_fallback_route();
   if (cfg->upstream)
      gw.chat_url = xasprintf("%s/chat/completions", cfg->upstream);
   if (cfg->upstream_key_env)
      gw.upstream_key = getenv(cfg->upstream_key_env);
   if (cfg->capture) {
      gw.cap = Capture_start(cfg->workspace, cfg->queue_max, &err);
      if (!gw.cap)
         goto out;
   }
   FILE *ur = fopen("/dev/urandom", "rb");
   if (!ur || fread(&gw.rng, sizeof gw.rng, 1, ur) != 1)
      gw.rng = (unsigned long long)(now_seconds() * 1e6) ^ (unsigned long long)getpid();
   if (ur)
      fclose(ur);
   gw.rng |= 1;
   gw.rid_seed = rng_next(&gw) & 0xffffffffffffULL;

   signal(SIGPIPE, SIG_IGN);
   /* The changelist folds a socket's del + add within one loop pass into one epoll_ctl (or
    * none): libcurl moves its sockets between read and write watching on every call. */
   struct event_config *ecfg = event_config_new();
   event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
   gw.base = event_base_new_with_config(ecfg);
   event_config_free(ecfg);
   gw.http = evhttp_new(gw.base);
   gw.up = Upstream_new(gw.base);
   gw.stats = GwStats_new();
   evhttp_set_max_body_size(gw.http, cfg->max_body);
   evhttp_set_timeout(gw.http, (int)cfg->client_timeout_s);
   evhttp_set_allowed_methods(gw.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD);
   evhttp_set_gencb(gw.http, on_request, &gw);
   gw.sock = evhttp_bind_socket_with_handle(gw.http, host, (ev_uint16_t)port);
   if (!gw.sock) {
      err = xasprintf("cannot listen on %s: %s (is another gateway running there? pick another --listen)",
                      cfg->listen, strerror(errno));
      goto out;
   }
   evutil_socket_t fd = evhttp_bound_socket_get_fd(gw.sock);
   /* Accepted sockets inherit TCP_NODELAY on Linux: no Nagle delay on small replies. */
   int one = 1;
   setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
   struct sockaddr_storage ss;
   socklen_t sl = sizeof ss;
   getsockname(fd, (struct sockaddr *)&ss, &sl);
   int bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
   int sigs[] = { SIGTERM, SIGINT, SIGHUP };
   for (int i = 0; i < 3; i++) {
      gw.sig[i] = evsignal_new(gw.base, sigs[i], on_signal, &gw);
      evsignal_add(gw.sig[i], NULL);
   }
   printf("offramp gateway: listening on http://%s:%d (%d routes, default upstream %s, capture %s, admin %s)\n",
          strchr(host, ':') ? "[::1]" : host, bound, gw.n_routes, cfg->upstream ? cfg->upstream : "none",
          cfg->capture ? "on" : "off", gw.admin_token ? "on" : "off");
   fflush(stdout);
   event_base_dispatch(gw.base);
   rc = EXIT_SUCCESS;
   if (gw.flights)
      rc = EXIT_FAILURE;
   fprintf(stderr, "offramp gateway: stopped\n");

out:
   if (err) {
      fprintf(stderr, "offramp gateway: %s\n", err);
      free(err);
   }
   for (int i = 0; i < 3; i++) {
      if (gw.sig[i])
         event_free(gw.sig[i]);
   }
   if (gw.drain_timer)
      event_free(gw.drain_timer);
   if (gw.http)
      evhttp_free(gw.http);
   Capture_stop(gw.cap);
   Upstream_free(gw.up);
   GwStats_free(gw.stats);
   if (gw.base)
      event_base_free(gw.base);
   routes_free(&gw);
   Route_unref(gw.fallback_route);
   free(gw.admin_token);
   free(gw.chat_url);
   Store_close(gw.st);
   free(host);
   return rc;
}
