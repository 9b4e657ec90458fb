/* gateway.c - the gateway's HTTP server: request handling, routing per mode, fallback,
 * comparison, capture hand-off, admin API, signals. One libevent loop thread does all of it;
 * the other threads wait on the workspace for it: the capture writer, the route writer
 * (admin route saves) and one reader per running /admin/export. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/compare.h"
#include "common/jsonscan.h"
#include "common/taskname.h"
#include "common/util.h"
#include "gateway/canary.h"
#include "gateway/capture.h"
#include "gateway/clientkeys.h"
#include "gateway/gateway.h"
#include "gateway/gateway_private.h"
#include "gateway/gwexport.h"
#include "gateway/gwintake.h"
#include "gateway/gwstats.h"
#include "gateway/route.h"
#include "gateway/routewriter.h"
#include "gateway/upstream.h"
#include "http/httpfront.h"
#include "http/httpreply.h"
#include "store/store.h"


/* ---- small helpers ---- */

static unsigned long long rng_next(Gateway *gw) {
   /* xorshift64*: sampling only, never security. */
   gw->rng ^= gw->rng >> 12;
   gw->rng ^= gw->rng << 25;
   gw->rng ^= gw->rng >> 27;
   return gw->rng * 2685821657736338717ULL;
}

/* "ofr-" + 12 hex digits of the run's seed + "-" + the request's number in at least RID_DIGITS
 * digits, without printf. Zero-padded so a run's ids sort in the order they are made: each
 * capture batch then appends to the end of the rid index instead of touching pages all over
 * it (unpadded, "-10" sorts between "-1" and "-2"). */
#define RID_DIGITS 9
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
   } while (v || n < RID_DIGITS);
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

/* The Date header's value, formatted once a second. */
static const char *http_date(Gateway *gw) {
   clock_now(gw);
   return gw->date;
}

static bool sampled(Gateway *gw, double percent) {
   return percent > 0 && (double)(rng_next(gw) % 10000) < percent * 100;
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
   /* Serve what the task's phase allows, whatever the stored route says. */
   for (int i = 0; i < n; i++) {
      char *why = NULL;
      Route *r = gw->cfg->gates->serve(gw->st, v[i], &why);
      Route_unref(v[i]);
      v[i] = r;
      if (why)
         fprintf(stderr, "offramp gateway: %s\n", why);
      free(why);
   }
   routes_free(gw);
   gw->routes = v;
   gw->n_routes = n;
   return true;
}

Route *Gateway_route_for_task(Gateway *gw, const char *task) {
   return Route_find(gw->routes, gw->n_routes, task);
}

void Gateway_route_put(Gateway *gw, Route *r) {
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
static bool canary_picks_candidate(Gateway *gw, const Route *r, HttpReq *req, const char *user) {
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
static void call_start(Flight *f, int which);

static void call_reset(Call *c) {
   free(c->headers);
   free(c->reason);
   Sbuf_free(&c->held);
   free(c->req_body);
   free(c->errmsg);
   free(c->body);
   free(c->content_type);
   json_decref(c->resp);
}

/* Upstream response headers an application relies on: rate limits and their back-off, and the
 * ids its support needs. The chat answer's other headers are the gateway's own. */
static bool header_for_client(const char *name, size_t n) {
   return (n == 11 && strncasecmp(name, "retry-after", n) == 0) ||
          (n == 12 && strncasecmp(name, "x-request-id", n) == 0) ||
          (n > 12 && strncasecmp(name, "x-ratelimit-", 12) == 0) || (n > 7 && strncasecmp(name, "openai-", 7) == 0);
}

/* Hop-by-hop headers (RFC 9110 7.6.1) and Transfer-Encoding. Content-Length is end to end: an
 * answer's goes to the front end, which frames every answer itself and keeps it only for HEAD
 * (the length a GET would have); a request's is libcurl's to set (pass_headers). */
static bool header_hop_by_hop(const char *name, size_t n) {
   static const char *const hop[] = { "connection", "keep-alive", "proxy-connection", "te", "trailer",
                                      "transfer-encoding", "upgrade", NULL };
   for (int i = 0; hop[i]; i++) {
      if (strlen(hop[i]) == n && strncasecmp(name, hop[i], n) == 0)
         return true;
   }
   return false;
}

/* Adds the upstream's header lines block[0..len) to out: every end-to-end one when all, else
 * those header_for_client names. */
static void forward_headers(HttpReq *out, const char *block, size_t len, bool all) {
   const char *p = block, *end = block + len;
   while (p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      const char *eol = nl ? nl : end;
      const char *colon = memchr(p, ':', (size_t)(eol - p));
      if (colon && colon > p && *p != ' ' && *p != '\t') {
         size_t n = (size_t)(colon - p);
         if (all ? !header_hop_by_hop(p, n) : header_for_client(p, n)) {
            const char *v = colon + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
               v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
               ve--;
            char *name = xstrndup(p, n), *value = xstrndup(v, (size_t)(ve - v));
            HttpReq_add_header(out, name, value);   /* refuses CR/LF itself */
            free(name);
            free(value);
         }
      }
      p = eol + 1;
   }
}

static const char *reason_or_null(const char *reason) {
   return reason && *reason ? reason : NULL;
}

static void add_arm_headers(Flight *f, HttpReq *h);
static void reply_from(Flight *f, Call *c);

/* Starts the streamed answer (headers once the arm is decided: the upstream's that matter to
 * an application, then ours) and sends n bytes of it. */
static void stream_out(Flight *f, const UpResult *res, const char *p, size_t n) {
   if (!f->streaming) {
      f->streaming = true;
      HttpReq *h = f->req;
      forward_headers(h, res->headers.buf, res->headers.len, false);
      HttpReq_add_header(h, "Content-Type", res->content_type ? res->content_type : "text/event-stream");
      HttpReq_add_header(h, "Cache-Control", "no-cache");
      add_arm_headers(f, h);
      HttpReq_reply_start(f->req, 200, reason_or_null(res->reason));
   }
   if (!n)
      return;
   HttpReq_reply_chunk(f->req, p, n);
}

/* The candidate's answer is not the client's: the primary serves it (now, or when it is done). */
static void fall_back(Flight *f, int reason) {
   f->fallback = reason;
   f->fell_back = true;
   f->serving = CALL_PRIMARY;
   Call *p = &f->calls[CALL_PRIMARY];
   if (!p->started)
      call_start(f, CALL_PRIMARY);
   if (p->done && f->req)
      reply_from(f, p);
}

/* How much of a serving candidate's stream is held before the gateway commits to it: enough
 * for any label or short answer whole, small next to the 64 MB a body may reach. */
#define HOLD_MAX (16 * 1024)

/* One SSE event's data is a chat.completion.chunk: a JSON object with a choices array and no
 * error (Azure's first chunk has empty choices and an empty object name). */
static bool chunk_ok(const char *data, size_t n) {
   json_t *j = json_loadb(data, n, 0, NULL);
   const char *object = json_string_value(json_object_get(j, "object"));
   bool ok = json_is_array(json_object_get(j, "choices")) && !json_object_get(j, "error") &&
             (!object || !*object || str_eq(object, "chat.completion.chunk"));
   json_decref(j);
   return ok;
}

/* Whether the stream's first event with data is a chat.completion.chunk: 1 yes, 0 no, -1 not
 * complete yet. Comments (": keep-alive") and other fields are skipped, as SSE says. */
static int first_event_ok(const char *p, size_t n) {
   const char *end = p + n;
   Sbuf data = { 0 };
   int verdict = -1;
   while (p < end && verdict < 0) {
      const char *eol = memchr(p, '\n', (size_t)(end - p));
      if (!eol)
         break;
      size_t len = (size_t)(eol - p);
      if (len && p[len - 1] == '\r')
         len--;
      if (len == 0 && data.len) {
         verdict = chunk_ok(data.buf, data.len);
      } else if (len >= 5 && memcmp(p, "data:", 5) == 0) {
         size_t skip = len > 5 && p[5] == ' ' ? 6 : 5;
         if (data.len)
            Sbuf_putc(&data, '\n');
         Sbuf_add(&data, p + skip, len - skip);
      }
      p = eol + 1;
   }
   Sbuf_free(&data);
   return verdict;
}

/* What holding a serving candidate's stream has come to. */
enum { HOLD_WAIT, HOLD_COMMIT, HOLD_REJECT, HOLD_LOW };

/* The stream must be SSE whose first event is a completion chunk before anything reaches the
 * client; with a confidence bar, it is held until the confidence is known: the whole answer
 * (up to HOLD_MAX) for label, exact and JSON tasks, whose answers are short and scored whole,
 * the first content event for free text, whose first tokens are what the client waits for. */
static int hold_verdict(const Flight *f, const Call *c, const char *content_type) {
   const Route *r = f->route;
   if (!content_type || strncasecmp(content_type, "text/event-stream", 17) != 0)
      return HOLD_REJECT;
   int first = first_event_ok(c->held.buf, c->held.len);
   if (first == 0 || (first < 0 && c->held.len > HOLD_MAX))
      return HOLD_REJECT;
   if (first < 0)
      return HOLD_WAIT;
   if (r->min_confidence <= 0)
      return HOLD_COMMIT;
   bool full = c->held.len > HOLD_MAX;
   if (r->compare != COMPARE_TEXT && !full)
      return HOLD_WAIT;   /* decided on the whole answer when the transfer ends */
   json_t *resp = Compare_stream_response(c->held.buf, c->held.len);
   const char *answer = Compare_answer(resp);
   int v = HOLD_WAIT;
   if (full || (answer && *answer))
      v = Compare_confidence(resp, r->compare) >= r->min_confidence ? HOLD_COMMIT : HOLD_LOW;
   json_decref(resp);
   return v;
}

static bool on_stream_data(void *ud, const UpResult *res, const char *p, size_t n) {
   Call *c = ud;
   Flight *f = c->f;
   const char *content_type = res->content_type;
   if (c->which != f->serving || !f->req || f->client_gone || c->bad_stream)
      return true;
   if (c->which != CALL_CANDIDATE || c->committed) {
      stream_out(f, res, p, n);
      return true;
   }
   Sbuf_add(&c->held, p, n);
   int v = hold_verdict(f, c, content_type);
   if (v == HOLD_COMMIT) {
      c->committed = true;
      stream_out(f, res, c->held.buf, c->held.len);
      Sbuf_free(&c->held);
   } else if (v != HOLD_WAIT) {
      Sbuf_free(&c->held);
      c->bad_stream = v == HOLD_REJECT;
      /* Without on_error a bad stream ends as the non-streamed one does: a 502 when it is done. */
      if (v == HOLD_LOW || f->route->fallback_on_error)
         fall_back(f, v == HOLD_LOW ? FALLBACK_LOW_CONFIDENCE : FALLBACK_ERROR);
   }
   return true;
}

/* The client's connection closed before its answer was complete: the transfer serving it
 * stops, and the exchange is recorded as truncated. */
static void on_client_gone(void *arg) {
   Flight *f = arg;
   f->client_gone = true;
   f->watching = false;
   Call *c = &f->calls[f->serving];
   if (c->up)
      Upstream_cancel(f->gw->up, c->up);
}

/* A streamed answer can last minutes: hear when its client leaves (the front end owns the
 * connection's close callback and passes it on). */
static void watch_client(Flight *f) {
   if (f->watching || !f->req)
      return;
   f->watching = HttpFront_on_close(f->gw->front, f->req, on_client_gone, f);
}

static void unwatch_client(Flight *f, HttpReq *req) {
   if (f->watching)
      HttpFront_on_close(f->gw->front, req, NULL, NULL);
   f->watching = false;
}

/* A 2xx body that is a chat completion: a JSON object with a "choices" array. The scanner
 * checks it without building it; the parser decides what the scanner declines. */
/* Whether body is a chat completion (has a "choices" array); sp gets where the scan found
 * the members the capture reads. */
static bool is_completion(const char *body, size_t len, CaptureSpans *sp) {
   JsonMember m[JSONSCAN_MEMBERS];
   int n = Jsonscan_members(body, len, m, JSONSCAN_MEMBERS);
   if (n < 0) {
      json_t *j = json_loadb(body, len, 0, NULL);
      bool ok = json_is_array(json_object_get(j, "choices"));
      json_decref(j);
      return ok;
   }
   const JsonMember *model = Jsonscan_find(m, n, "model"), *usage = Jsonscan_find(m, n, "usage");
   sp->known = true;
   if (model) {
      sp->model_at = (size_t)(model->val - body);
      sp->model_len = model->vallen;
   }
   if (usage) {
      sp->usage_at = (size_t)(usage->val - body);
      sp->usage_len = usage->vallen;
   }
   const JsonMember *choices = Jsonscan_find(m, n, "choices");
   return choices && choices->val[0] == '[';
}

static void on_call_done(void *ud, UpResult *res) {
   Call *c = ud;
   Flight *f = c->f;
   c->done = true;
   c->up = NULL;
   c->status = res->status;
   c->ms = res->ms;
   c->len = res->body.len;
   c->body = Sbuf_steal(&res->body);
   c->content_type = res->content_type ? xstrdup(res->content_type) : NULL;
   c->headers_len = res->headers.len;
   c->headers = Sbuf_steal(&res->headers);
   c->reason = res->reason && *res->reason ? xstrdup(res->reason) : NULL;
   if (res->code == CURLE_OPERATION_TIMEDOUT) {
      c->error = UPERR_TIMEOUT;
   } else if (res->code != CURLE_OK && !res->cancelled) {
      c->error = UPERR_CONNECT;
   } else if (res->status < 200 || res->status >= 300) {
      c->error = UPERR_STATUS;
   } else if (c->stream) {
      c->resp = Compare_stream_response(c->body, c->len);
      c->error = json_is_array(json_object_get(c->resp, "choices")) ? UPERR_NONE : UPERR_MALFORMED;
   } else {
      c->error = is_completion(c->body, c->len, &c->spans) ? UPERR_NONE : UPERR_MALFORMED;
   }
   if (c->bad_stream && c->error == UPERR_NONE)
      c->error = UPERR_MALFORMED;
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
      if (!s)
         s = xstrdup("");   /* only out of memory: the upstream answers the empty body 400 */
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

static bool key_env_allowed(const Gateway *gw, const char *name) {
   for (int i = 0; i < gw->n_key_envs; i++) {
      if (str_eq(gw->key_envs[i], name))
         return true;
   }
   return false;
}

/* The operator's key for an arm, or NULL. The primary's keys serve clients only with client
 * keys or --open-relay; the candidate (the operator's own model server) always gets its own.
 * A key_env outside --key-env is never read, whatever the stored route says. */
static const char *arm_key(const Gateway *gw, const RouteArm *arm, bool candidate) {
   if (!candidate && !gw->operator_keys)
      return NULL;
   if (arm->key_env)
      return key_env_allowed(gw, arm->key_env) ? getenv(arm->key_env) : NULL;
   return !candidate && !arm->url ? gw->upstream_key : NULL;
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
   /* The candidate only ever gets its own key: the client's key is for the primary's API. A
    * client key is the gateway's, never sent on. */
   const char *key = arm_key(gw, arm, which == CALL_CANDIDATE);
   char *auth = key && *key ? xasprintf("Bearer %s", key)
                : which != CALL_CANDIDATE && f->client_auth && !gw->clients.n ? xstrdup(f->client_auth)
                                                                               : NULL;
   size_t len;
   c->req_body = arm_body(f, arm, which == CALL_CANDIDATE, &len);
   const char *body = c->req_body ? c->req_body : f->raw;
   long timeout = which == CALL_CANDIDATE ? r->timeout_ms : gw->cfg->upstream_timeout_ms;
   bool streams = f->stream && which == f->serving;
   if (streams)
      watch_client(f);
   c->up = Upstream_post(gw->up, url, auth, body, len, timeout, streams ? on_stream_data : NULL, on_call_done, c);
   free(auth);
}

/* ---- answering ---- */

static void add_arm_headers(Flight *f, HttpReq *h) {
   HttpReq_add_header(h, "X-Offramp-Arm",
                     f->fell_back ? "fallback" : f->serving == CALL_CANDIDATE ? "candidate" : "primary");
   if (f->task)
      HttpReq_add_header(h, "X-Offramp-Task", f->task);
   HttpReq_add_header(h, "X-Offramp-Request-Id", f->rid);
   HttpReq_add_header(h, "Date", http_date(f->gw));
}

/* A drain ends when every exchange is done and every answer is on the wire. */
void Gateway_maybe_exit(Gateway *gw) {
   if (gw->draining && gw->flights == 0 && gw->front_drained && gw->admin_pending == 0 &&
       Canary_pending(gw->canary) == 0)
      event_base_loopexit(gw->base, NULL);
}

static void reply_send(Flight *f, Call *c) {
   HttpReq *req = f->req;
   f->req = NULL;
   if (f->client_gone) {
      /* The client left: ending the request frees it. */
      f->reply_status = f->streaming ? 200 : (int)c->status;
      HttpReq_reply_end(req);
      return;
   }
   unwatch_client(f, req);
   /* A fallback waited on two upstreams in turn; only single-upstream answers measure us. */
   if (!f->fell_back && c->done)
      GwStats_overhead(f->gw->stats, (mono_seconds() - f->t0) * 1000.0 - c->ms);
   if (f->streaming) {
      f->reply_status = 200;
      HttpReq_reply_end(req);
      return;
   }
   add_arm_headers(f, req);
   if (c->error == UPERR_NONE || c->error == UPERR_STATUS) {
      /* The upstream's own answer, errors included (a 429 is the API's to give). */
      f->reply_status = (int)c->status;
      forward_headers(req, c->headers, c->headers_len, false);
      HttpReq_add_header(req, "Content-Type", c->content_type ? c->content_type : "application/json");
      HttpReq_reply(req, (int)c->status, reason_or_null(c->reason), c->body, c->len);
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

static void capture_answered(Flight *f);
static char *call_answer(const Call *c);

/* Answers the client with call c's result; the record goes to the capture at once. */
static void reply_from(Flight *f, Call *c) {
   f->waited_ms = (mono_seconds() - f->t0) * 1000.0;
   reply_send(f, c);
   capture_answered(f);
}

/* The serving call finished: answer, or fall back to the primary when the candidate's answer
 * is not good enough. */
static void flight_serve(Flight *f) {
   Call *c = &f->calls[f->serving];
   const Route *r = f->route;
   if (f->serving == CALL_CANDIDATE && !f->streaming && !f->client_gone) {
      int reason = FALLBACK_NONE;
      if (c->error != UPERR_NONE && r->fallback_on_error)
         reason = c->error == UPERR_TIMEOUT ? FALLBACK_TIMEOUT : FALLBACK_ERROR;
      else if (c->error == UPERR_NONE && r->min_confidence > 0 && c->confidence < r->min_confidence)
         reason = FALLBACK_LOW_CONFIDENCE;
      if (reason != FALLBACK_NONE) {
         fall_back(f, reason);
         return;
      }
   }
   reply_from(f, c);
}

/* ---- capture and stats: the record when the client is answered, the rest when every call
 * of the exchange is done ---- */

static const char *call_arm_model(const Flight *f, const Call *c) {
   return (c->which == CALL_CANDIDATE ? &f->route->candidate : &f->route->primary)->model;
}

/* The model a call's record names when its answer names none: the arm's, else (req_model) the
 * client's. */
static const char *capture_model(const Flight *f, const Call *c, bool req_model) {
   const char *model = call_arm_model(f, c);
   return model || !req_model ? model : f->rq.model;
}

static size_t call_blob_size(const Flight *f, const Call *c, bool req_model) {
   const char *model = capture_model(f, c, req_model);
   return c->started && model ? strlen(model) + 1 : 0;
}

/* Hands the call's answer to the item as compact JSON text (a body that is not JSON as text,
 * a transport error's message); a pending call gets its arm and model only. */
static void capture_call(CaptureItem *it, CaptureCall *cc, const Flight *f, Call *c, const char *arm_name,
                         int agree, bool pending, bool req_model) {
   const char *model = capture_model(f, c, req_model);
   cc->started = c->started;
   if (!c->started)
      return;
   cc->arm = arm_name;
   cc->model = model ? Capture_item_put(it, model, strlen(model)) : NULL;
   cc->pending = pending;
   cc->agree = -1;
   cc->confidence = -1;
   if (pending)
      return;
   cc->status = c->status;
   cc->latency_ms = c->ms;
   cc->error = c->error != UPERR_NONE ? Stats_error_names[c->error] : NULL;
   cc->confidence = c->confidence;
   cc->agree = agree;
   if (c->resp) {
      /* A streamed answer: the completion assembled from it. */
      cc->response = json_dumps(c->resp, JSON_COMPACT | JSON_PRESERVE_ORDER);
      cc->response_len = cc->response ? strlen(cc->response) : 0;
   } else if (c->error == UPERR_NONE || (c->len && Jsonscan_document(c->body, c->len))) {
      /* The body as the upstream sent it (a JSON answer without choices and error bodies
       * included). */
      cc->response = c->body;
      cc->response_len = c->len;
      cc->spans = c->spans;
      c->body = NULL;
      c->len = 0;
   } else if (c->len) {
      cc->error_body = c->body;
      cc->error_body_len = c->len;
      c->body = NULL;
      c->len = 0;
   }
   cc->error_message = c->errmsg;
   c->errmsg = NULL;
}

/* The client's body, the answers' texts and scalars: the writer thread builds the record.
 * pending: the other calls still run, and join the record later. */
static CaptureItem *capture_item(Flight *f, Call *s, Call *o, Call *noise, int agree, int noise_agree, bool pending) {
   const Call *cand = &f->calls[CALL_CANDIDATE];
   size_t size = (f->task ? strlen(f->task) + 1 : 0) + call_blob_size(f, s, false) + call_blob_size(f, o, false) +
                 call_blob_size(f, noise, false);
   CaptureItem *it = Capture_item_new(size);
   memcpy(it->rid, f->rid, sizeof it->rid);
   memcpy(it->ts, f->ts, sizeof it->ts);
   it->task = f->task ? Capture_item_put(it, f->task, strlen(f->task)) : NULL;
   it->arm = f->fell_back ? "fallback" : f->serving == CALL_CANDIDATE ? "candidate" : "primary";
   it->status = f->reply_status;
   it->stream = f->stream;
   it->replay = f->replay;
   it->truncated = f->client_gone ? "client_disconnected" : f->truncated;
   it->fallback = f->fell_back ? Stats_fallback_names[f->fallback] : NULL;
   it->agree = agree;
   it->confidence = cand->started ? cand->confidence : -1;
   /* A fallback's client waited on the candidate first. */
   it->waited_ms = f->fell_back ? f->waited_ms : -1;
   it->request = f->raw;
   it->request_len = f->raw_len;
   if (f->rq.messages_len) {
      /* Gateway_parse_request's scan of this very text. */
      it->request_spans = (CaptureSpans){ .known = true, .model_at = f->rq.model_at, .model_len = f->rq.model_len,
                                          .messages_at = f->rq.messages_at, .messages_len = f->rq.messages_len };
   }
   f->raw = NULL;
   capture_call(it, &it->calls[CAPTURE_SERVING], f, s, it->arm, -1, false, false);
   capture_call(it, &it->calls[CAPTURE_SHADOW], f, o, o->which == CALL_CANDIDATE ? "candidate" : "primary", agree,
                pending, false);
   capture_call(it, &it->calls[CAPTURE_NOISE], f, noise, "primary", noise_agree, pending, false);
   return it;
}

static void capture_exchange(Flight *f, Call *s, Call *o, Call *noise, int agree, int noise_agree) {
   f->captured = true;
   Capture_push(f->gw->cap, capture_item(f, s, o, noise, agree, noise_agree, false), NULL);
}

static Call *other_call(Flight *f) {
   return &f->calls[f->serving == CALL_PRIMARY ? CALL_CANDIDATE : CALL_PRIMARY];
}

/* The client has its answer: the record goes to the capture now, with the calls still running
 * marked pending, so a crash or a stop before they end cannot take it. */
static void capture_answered(Flight *f) {
   if (!f->gw->cap || f->pending == 0)
      return;   /* every call is done: flight_finish captures the whole exchange right after */
   Call *s = &f->calls[f->serving];
   /* The comparison needs the answer once the body has gone to the capture. */
   if (s->error == UPERR_NONE)
      f->answer = call_answer(s);
   f->captured = true;
   Capture_push(f->gw->cap, capture_item(f, s, other_call(f), &f->calls[CALL_NOISE], -1, -1, true), &f->cap);
}

/* The pending calls' results, for the record queued when the client was answered. */
static void capture_join(Flight *f, Call *o, Call *noise, int agree, int noise_agree) {
   const Call *cand = &f->calls[CALL_CANDIDATE];
   CaptureItem *u = Capture_item_new(call_blob_size(f, o, true) + call_blob_size(f, noise, true));
   memcpy(u->rid, f->rid, sizeof u->rid);
   u->agree = agree;
   u->confidence = cand->started ? cand->confidence : -1;
   capture_call(u, &u->calls[CAPTURE_SHADOW], f, o, o->which == CALL_CANDIDATE ? "candidate" : "primary", agree,
                false, true);
   capture_call(u, &u->calls[CAPTURE_NOISE], f, noise, "primary", noise_agree, false, true);
   Capture_join(f->gw->cap, &f->cap, u);
}

/* The call's answer text (a new string), or NULL. */
static char *call_answer(const Call *c) {
   return c->resp ? Compare_answer_new(c->resp) : Compare_answer_text(c->body, c->len);
}

static int compare_with(const Flight *f, const char *answer, const Call *other) {
   char *b = call_answer(other);
   const Route *r = f->route;
   int agree = Compare_agree(r->compare, r->metric, r->threshold, answer, b);
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
      /* Captured already: the body went with the record, its answer stayed in f->answer. */
      char *as = f->captured ? f->answer : call_answer(s);
      f->answer = NULL;
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
      GwStats_add(gw->stats, f->other ? GWSTATS_OTHER : f->task, &ev, now);
   }

   if (f->route->mode == ROUTE_CANARY && cand->started && !f->client_gone) {
      CanaryObs ob = { .candidate = true, .error = cand->error != UPERR_NONE, .latency_ms = cand->ms,
                       .fell_back = f->fell_back, .agree = f->serving == CALL_CANDIDATE ? agree : -1 };
      Canary_observe(gw->canary, f->route, &ob);
   }

   if (gw->cap && f->cap.seq)
      capture_join(f, o, noise, agree, noise_agree);
   else if (gw->cap && !f->captured)
      capture_exchange(f, s, o, noise, agree, noise_agree);

   for (int i = 0; i < CALLS; i++)
      call_reset(&f->calls[i]);
   GwRequest_clear(&f->rq);
   free(f->raw);
   free(f->answer);
   free(f->client_auth);
   free(f->task);
   Route_unref(f->route);
   free(f);
   gw->flights--;
   Gateway_maybe_exit(gw);
}

/* ---- POST /v1/chat/completions ---- */

/* With client keys, the data plane answers only a listed key (OpenAI's 401 otherwise): true
 * with *key set, or false once answered. Without, every client passes (*key NULL). */
static bool client_allowed(Gateway *gw, HttpReq *req, const ClientKey **key) {
   *key = NULL;
   if (!gw->clients.n)
      return true;
   const char *auth = header(req, "Authorization");
   const char *bearer = auth && strncasecmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
   *key = bearer && *bearer ? ClientKeys_find(&gw->clients, bearer) : NULL;
   if (*key)
      return true;
   HttpReq_add_header(req, "WWW-Authenticate", "Bearer");
   Reply_error(req, 401, "invalid_request_error", NULL, "invalid_api_key", "%s",
               bearer ? "Incorrect API key provided: this gateway accepts only its client keys "
                        "(ask its operator for one)"
                      : "You didn't provide an API key: send 'Authorization: Bearer KEY' with a client key "
                        "of this gateway");
   return false;
}

/* May this exchange go on under task (NULL: unattributed) and route (the fallback route when
 * none)? Answers 403/404 itself when not. *other is set when the tag is past --max-tasks. */
static bool task_allowed(Gateway *gw, HttpReq *req, const ClientKey *key, const Route *route,
                         const char *task, bool *other) {
   bool routed = route != gw->fallback_route;
   *other = false;
   if (task && !routed && gw->cfg->known_tasks_only) {
      Reply_error(req, 404, "not_found_error", NULL, "unknown_task",
                  "X-Offramp-Task: task %s has no route, and this gateway serves known tasks only (set one with "
                  "'offramp route set %s ...')",
                  task, task);
      return false;
   }
   if (key && !ClientKey_allows(key, task)) {
      char *list = ClientKey_tasks_text(key);
      Reply_error(req, 403, "permission_error", NULL, "task_not_allowed",
                  "this API key may call tasks %s only, not %s (tag the request with X-Offramp-Task)", list,
                  task ? task : "traffic without a task");
      free(list);
      return false;
   }
   *other = task && !routed && !GwStats_admit(gw->stats, task);
   return true;
}

static void handle_chat(Gateway *gw, HttpReq *req) {
   const ClientKey *ckey;
   if (!client_allowed(gw, req, &ckey))
      return;
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
   bool other;
   if (!task_allowed(gw, req, ckey, route, task, &other)) {
      GwRequest_clear(&rq);
      return;
   }
   Flight *f = xcalloc(1, sizeof *f);
   f->gw = gw;
   f->req = req;
   f->route = Route_ref(route);
   f->other = other;
   f->task = task && !other ? xstrdup(task) : NULL;
   f->rq = rq;
   f->raw = xstrndup(body, len);
   f->raw_len = len;
   f->stream = rq.stream;
   const char *replayed = header(req, "X-Offramp-Replay");
   f->replay = replayed && str_eq(replayed, "1");
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
      if (sampled(gw, Canary_verify_percent(route)))
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

/* ---- the canary analysis' view of the gateway ---- */

static Route *const *canary_routes(void *arg, int *n) {
   Gateway *gw = arg;
   *n = gw->n_routes;
   return gw->routes;
}

static void canary_put(void *arg, Route *r) {
   Gateway_route_put(arg, r);
}

static void canary_settled(void *arg) {
   Gateway_maybe_exit(arg);
}

/* ---- the rest of the surface ---- */

static json_t *model_json(const char *id) {
   return json_pack("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created", (json_int_t)0, "owned_by",
                    "offramp");
}

/* The routes' tasks and aliases as model objects, appended to data unless an id is there; a
 * client key with a task list sees its own tasks only. */
static void add_route_models(Gateway *gw, json_t *data, const ClientKey *key) {
   for (int i = 0; i < gw->n_routes; i++) {
      Route *r = gw->routes[i];
      if (key && !ClientKey_allows(key, r->task))
         continue;
      for (int k = -1; k < r->n_aliases; k++) {
         const char *id = k < 0 ? r->task : r->aliases[k];
         bool seen = false;
         size_t at;
         json_t *m;
         json_array_foreach(data, at, m) {
            seen = seen || str_eq(json_string_value(json_object_get(m, "id")), id);
         }
         if (!seen)
            json_array_append_new(data, model_json(id));
      }
   }
}

/* A route's task or alias, as GET /v1/models/{id} names it, or NULL. */
static const char *route_model(Gateway *gw, const char *id) {
   for (int i = 0; i < gw->n_routes; i++) {
      Route *r = gw->routes[i];
      if (str_eq(r->task, id))
         return r->task;
      for (int k = 0; k < r->n_aliases; k++) {
         if (str_eq(r->aliases[k], id))
            return r->aliases[k];
      }
   }
   return NULL;
}

static void passthrough_start(Gateway *gw, HttpReq *req, const char *path, const ClientKey *models_for,
                              bool models);

/* GET /v1/models: the upstream's list (asked with the client's credentials, like any
 * pass-through) with the routes' tasks and aliases added, so an application that checks its
 * model exists still finds it. Without an upstream, or when it does not answer a list, the
 * routes' alone (X-Offramp-Models says which). */
static void handle_models(Gateway *gw, HttpReq *req) {
   const ClientKey *ckey;
   if (!client_allowed(gw, req, &ckey))
      return;
   if (gw->cfg->upstream && HttpReq_method(req) == HTTP_GET) {
      passthrough_start(gw, req, "/v1/models", ckey, true);
      return;
   }
   json_t *data = json_array();
   add_route_models(gw, data, ckey);
   HttpReq_add_header(req, "X-Offramp-Models", "routes");
   Reply_json(req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

/* ---- every other /v1/ path: proxied to the default upstream as it is ---- */

/* One proxied request. The body goes upstream as the client sent it and the answer comes back
 * as it arrives (chunked); only its size, status and time are kept, in the stats. */
typedef struct {
   Gateway *gw;
   HttpReq *req;
   struct curl_slist *headers;
   char *body;
   size_t len;
   int endpoint;             /* Stats_endpoint_names index */
   bool models;              /* GET /v1/models: merged with the routes, not streamed */
   ClientKey *key;           /* whose routes the model list shows (NULL: all); a copy, as
                              * SIGHUP may reload the key file while the call runs */
   bool started;             /* the answer's head went out */
   void *call;               /* the upstream call while it is paused, else NULL */
   struct event *resume;     /* checks, while paused, whether the client took its bytes */
   char rid[40];
} Pass;

/* Unsent answer bytes past which a pass-through pauses its upstream: a file download to a slow
 * client is held by the upstream's TCP window, not in the gateway's memory. */
#define PASS_BUFFER_MAX (1L << 20)
#define PASS_RESUME_CHECK_US 10000

static const char *method_name(HttpMethod cmd) {
   switch (cmd) {
   case HTTP_GET: return "GET";
   case HTTP_POST: return "POST";
   case HTTP_HEAD: return "HEAD";
   case HTTP_PUT: return "PUT";
   case HTTP_DELETE: return "DELETE";
   case HTTP_PATCH: return "PATCH";
   case HTTP_OPTIONS: return "OPTIONS";
   default: return NULL;
   }
}

/* A "." or ".." segment (plain or %2e-encoded) would let curl's dot removal leave the
 * upstream's /v1. */
static bool path_has_dot_segment(const char *path) {
   for (const char *seg = path; seg; seg = strchr(seg + 1, '/')) {
      const char *p = seg + 1;
      int dots = 0;
      for (;;) {
         if (*p == '.')
            p++;
         else if (p[0] == '%' && p[1] == '2' && (p[2] == 'e' || p[2] == 'E'))
            p += 3;
         else
            break;
         dots++;
      }
      if ((dots == 1 || dots == 2) && (*p == '/' || *p == '\0' || *p == '?'))
         return true;
   }
   return false;
}

/* The client's request headers for the upstream: all but the hop-by-hop ones, Content-Length
 * (libcurl frames the body it sends), Host, ours and Authorization, which is the client's own
 * only when no operator key serves it. With an operator key, a client does not pick the
 * operator's organization or project either. */
static struct curl_slist *pass_headers(Gateway *gw, HttpReq *req, bool models) {
   struct curl_slist *l = NULL;
   bool content_type = false;
   const char *k, *value;
   for (size_t i = 0; HttpReq_header_at(req, i, &k, &value); i++) {
      size_t n = strlen(k);
      if (header_hop_by_hop(k, n) || strcasecmp(k, "content-length") == 0 || strcasecmp(k, "host") == 0 ||
          strcasecmp(k, "expect") == 0 || strcasecmp(k, "authorization") == 0 || strncasecmp(k, "x-offramp-", 10) == 0 ||
          (models && strcasecmp(k, "accept-encoding") == 0) ||
          (gw->operator_keys && (strcasecmp(k, "openai-organization") == 0 || strcasecmp(k, "openai-project") == 0)))
         continue;
      content_type = content_type || strcasecmp(k, "content-type") == 0;
      char *line = xasprintf("%s: %s", k, value);
      l = curl_slist_append(l, line);
      free(line);
   }
   /* curl would otherwise add its own Content-Type to a body, and ask for 100-continue. */
   if (!content_type)
      l = curl_slist_append(l, "Content-Type:");
   l = curl_slist_append(l, "Expect:");
   const char *key = gw->operator_keys ? gw->upstream_key : NULL;
   const char *client = header(req, "Authorization");
   char *auth = key && *key ? xasprintf("Authorization: Bearer %s", key)
                : client && !gw->clients.n ? xasprintf("Authorization: %s", client)
                                           : NULL;
   if (auth)
      l = curl_slist_append(l, auth);
   free(auth);
   return l;
}

static void pass_free(Pass *p) {
   Gateway *gw = p->gw;
   if (p->resume)
      event_free(p->resume);
   curl_slist_free_all(p->headers);
   free(p->body);
   ClientKey_free(p->key);
   free(p);
   gw->flights--;
   Gateway_maybe_exit(gw);
}

static void pass_reply_start(Pass *p, const UpResult *res) {
   forward_headers(p->req, res->headers.buf, res->headers.len, true);
   HttpReq_add_header(p->req, "X-Offramp-Request-Id", p->rid);
}

/* Bytes queued for this client and not yet written (0 once the client is gone). */
static size_t pass_unsent(const Pass *p) {
   return HttpReq_pending(p->req);
}

static void on_pass_resume_check(evutil_socket_t fd, short what, void *arg) {
   Pass *p = arg;
   if (pass_unsent(p) > PASS_BUFFER_MAX / 2) {
      struct timeval tv = { 0, PASS_RESUME_CHECK_US };
      evtimer_add(p->resume, &tv);
      return;
   }
   void *call = p->call;
   p->call = NULL;
   Upstream_resume(call);
}

static bool on_pass_data(void *ud, const UpResult *res, const char *data, size_t n) {
   Pass *p = ud;
   if (p->started && pass_unsent(p) > PASS_BUFFER_MAX) {
      p->call = res->call;
      if (!p->resume)
         p->resume = evtimer_new(p->gw->base, on_pass_resume_check, p);
      struct timeval tv = { 0, PASS_RESUME_CHECK_US };
      evtimer_add(p->resume, &tv);
      return false;
   }
   if (!p->started) {
      p->started = true;
      pass_reply_start(p, res);
      HttpReq_reply_start(p->req, (int)res->status, reason_or_null(res->reason));
   }
   HttpReq_reply_chunk(p->req, data, n);
   return true;
}

/* The upstream's model list with the routes' added, or NULL when the answer is not a list. */
static json_t *merged_models(Gateway *gw, const Pass *p, const UpResult *res) {
   if (res->code != CURLE_OK || res->status != 200)
      return NULL;
   json_t *j = json_loadb(res->body.buf ? res->body.buf : "", res->body.len, 0, NULL);
   json_t *data = json_object_get(j, "data");
   if (!json_is_array(data)) {
      json_decref(j);
      return NULL;
   }
   add_route_models(gw, data, p->key);
   return j;
}

static void on_pass_done(void *ud, UpResult *res) {
   Pass *p = ud;
   Gateway *gw = p->gw;
   HttpReq *req = p->req;
   GwStats_passthrough(gw->stats, p->endpoint, res->code == CURLE_OK ? res->status : 0, res->ms, (long long)p->len,
                       res->bytes);
   if (p->started) {
      HttpReq_reply_end(req);
   } else if (p->models) {
      json_t *j = merged_models(gw, p, res);
      if (!j) {
         char *why = res->code == CURLE_OK ? xasprintf("routes; the upstream answered HTTP %ld", res->status)
                                           : xstrdup("routes; the upstream could not be reached");
         HttpReq_add_header(req, "X-Offramp-Models", why);
         free(why);
         json_t *data = json_array();
         add_route_models(gw, data, p->key);
         j = json_pack("{s:s, s:o}", "object", "list", "data", data);
      } else {
         HttpReq_add_header(req, "X-Offramp-Models", "upstream+routes");
      }
      Reply_json(req, 200, j);
   } else if (res->code == CURLE_OK) {
      /* An answer without a body (204, HEAD, an empty 200): nothing was streamed. */
      pass_reply_start(p, res);
      HttpReq_reply(req, (int)res->status, reason_or_null(res->reason), NULL, 0);
   } else {
      bool timeout = res->code == CURLE_OPERATION_TIMEDOUT;
      HttpReq_add_header(req, "X-Offramp-Request-Id", p->rid);
      Reply_error(req, timeout ? 504 : 502, "upstream_error", NULL, NULL, "offramp gateway: the upstream %s (%s)",
                  timeout ? "did not answer in time" : "could not be reached", res->error ? res->error : "");
   }
   pass_free(p);
}

static void passthrough_start(Gateway *gw, HttpReq *req, const char *path, const ClientKey *models_for,
                              bool models) {
   HttpMethod cmd = HttpReq_method(req);
   const char *method = method_name(cmd);
   if (!method) {
      Reply_error(req, 405, "invalid_request_error", NULL, NULL, "%s",
                  "the gateway proxies GET, POST, PUT, PATCH, DELETE, HEAD and OPTIONS");
      return;
   }
   const char *query = HttpReq_query(req);
   /* path is "/v1/...": the default upstream's base URL ends in /v1. */
   char *url = xasprintf("%s%s%s%s", gw->cfg->upstream, path + 3, query ? "?" : "", query ? query : "");
   Pass *p = xcalloc(1, sizeof *p);
   p->gw = gw;
   p->req = req;
   p->models = models;
   p->key = models_for ? ClientKey_copy(models_for) : NULL;
   p->endpoint = GwStats_endpoint(path + 4);
   request_id(gw, p->rid);
   const char *body = HttpReq_body(req, &p->len);
   p->body = p->len ? xstrndup(body, p->len) : NULL;
   /* The model list is read here, so it must come uncompressed. */
   p->headers = pass_headers(gw, req, models);
   gw->flights++;
   UpRequest rq = { .method = method, .url = url, .headers = p->headers, .body = p->body, .len = p->len,
                    .timeout_ms = gw->cfg->upstream_timeout_ms, .flags = models ? 0 : UPREQ_STREAM_ANY };
   Upstream_request(gw->up, &rq, models ? NULL : on_pass_data, on_pass_done, p);
   free(url);
}

/* Any /v1/ path but chat completions and the model list: embeddings, completions, responses,
 * files, moderations, ... go to the default upstream untouched, so an application can point its
 * whole base URL at the gateway. */
static void handle_passthrough(Gateway *gw, HttpReq *req, const char *path) {
   const ClientKey *ckey;
   if (!client_allowed(gw, req, &ckey))
      return;
   const char *model = str_startswith(path, "/v1/models/") ? route_model(gw, path + strlen("/v1/models/")) : NULL;
   if (model && HttpReq_method(req) == HTTP_GET) {
      Reply_json(req, 200, model_json(model));
      return;
   }
   if (ckey && !ClientKey_allows(ckey, NULL)) {
      char *list = ClientKey_tasks_text(ckey);
      Reply_error(req, 403, "permission_error", NULL, "task_not_allowed",
                  "this API key may call tasks %s only (POST /v1/chat/completions); %s needs a key for every task",
                  list, path);
      free(list);
      return;
   }
   if (path_has_dot_segment(path)) {
      Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "the path has a '.' or '..' segment");
      return;
   }
   /* Only what RFC 3986 lets a URI hold goes upstream, and no NUL, which no API path has and
    * some servers cut strings at. */
   const char *query = HttpReq_query(req);
   for (int part = 0; part < 2; part++) {
      const char *s = part ? query : path;
      for (const unsigned char *c = (const unsigned char *)s; c && *c; c++) {
         if (*c <= 0x20 || *c >= 0x7f || (c[0] == '%' && c[1] == '0' && c[2] == '0')) {
            Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s",
                        "the request target has a byte a URI cannot hold, or an encoded NUL");
            return;
         }
      }
   }
   if (!gw->cfg->upstream) {
      Reply_error(req, 404, "not_found_error", NULL, NULL,
                  "%s is proxied to the default upstream, and none is set: start the gateway with --upstream URL "
                  "(this gateway itself serves /v1/chat/completions, /v1/models, /healthz, /metrics and /admin/*)",
                  path);
      return;
   }
   passthrough_start(gw, req, path, NULL, false);
}

/* The capture's figures: what was lost is counted by reason, never silently. */
static void capture_metrics(Gateway *gw, Sbuf *out) {
   CaptureStats cs = { 0 };
   Sbuf why = { 0 };
   bool healthy = true;
   if (gw->cap) {
      Capture_stats(gw->cap, &cs);
      healthy = Capture_health(gw->cap, &why);
      Sbuf_free(&why);
   }
   Sbuf_printf(out,
               "# HELP offramp_capture_queue_depth Items (records and late shadow results) not yet written.\n"
               "# TYPE offramp_capture_queue_depth gauge\nofframp_capture_queue_depth %ld\n"
               "# HELP offramp_capture_queue_bytes Bytes those items hold (bounded by --queue-bytes).\n"
               "# TYPE offramp_capture_queue_bytes gauge\nofframp_capture_queue_bytes %lld\n"
               "# HELP offramp_capture_queued_total Records handed to the capture, dropped ones included.\n"
               "# TYPE offramp_capture_queued_total counter\nofframp_capture_queued_total %lld\n"
               "# HELP offramp_capture_committed_total Records committed to the workspace.\n"
               "# TYPE offramp_capture_committed_total counter\nofframp_capture_committed_total %lld\n"
               "# HELP offramp_capture_dropped_total Records lost, by reason (each loss is also logged).\n"
               "# TYPE offramp_capture_dropped_total counter\n",
               cs.depth, cs.bytes, cs.queued, cs.committed);
   for (int r = 0; r < CAPTURE_DROPS; r++)
      Sbuf_printf(out, "offramp_capture_dropped_total{reason=\"%s\"} %lld\n", Capture_drop_names[r], cs.dropped[r]);
   Sbuf_printf(out,
               "# HELP offramp_capture_retries_total Batches tried again because the workspace refused writes.\n"
               "# TYPE offramp_capture_retries_total counter\nofframp_capture_retries_total %lld\n"
               "# HELP offramp_capture_joined_total Shadow results that joined their record before it was written.\n"
               "# TYPE offramp_capture_joined_total counter\nofframp_capture_joined_total %lld\n"
               "# HELP offramp_capture_updated_total Shadow results written into their stored record.\n"
               "# TYPE offramp_capture_updated_total counter\nofframp_capture_updated_total %lld\n"
               "# HELP offramp_capture_lost_total Records whose shadow calls were cut short by a stop (recorded as lost).\n"
               "# TYPE offramp_capture_lost_total counter\nofframp_capture_lost_total %lld\n"
               "# HELP offramp_capture_healthy 1 when captures work, 0 while writes fail or after drops (see /healthz).\n"
               "# TYPE offramp_capture_healthy gauge\nofframp_capture_healthy %d\n",
               cs.retries, cs.joined, cs.updated, cs.lost, healthy);
}

static void handle_metrics(Gateway *gw, HttpReq *req) {
   Sbuf out = { 0 };
   GwStats_prometheus(gw->stats, &out);
   Canary_prometheus(gw->canary, &out);
   Sbuf_printf(&out,
               "# HELP offramp_inflight Exchanges in progress, background calls included.\n"
               "# TYPE offramp_inflight gauge\nofframp_inflight %ld\n",
               gw->flights);
   capture_metrics(gw, &out);
   HttpFront_metrics(gw->front, &out, "offramp_http");
   HttpReq_add_header(req, "Content-Type", "text/plain; version=0.0.4");
   HttpReq_reply(req, 200, NULL, out.buf, out.len);
   Sbuf_free(&out);
}

/* "ok", "degraded" with the reason (still 200: the gateway serves; its captures do not all
 * land), or 503 "draining". */
static void handle_healthz(Gateway *gw, HttpReq *req) {
   Sbuf why = { 0 };
   bool healthy = !gw->cap || Capture_health(gw->cap, &why);
   const char *status = gw->draining ? "draining" : healthy ? "ok" : "degraded";
   json_t *j = json_pack("{s:s, s:I}", "status", status, "inflight", (json_int_t)gw->flights);
   if (j && !healthy)
      json_object_set_new(j, "reason", Json_text(why.buf, why.len));
   Sbuf_free(&why);
   Reply_json(req, gw->draining ? 503 : 200, j);
}

static void on_request(HttpReq *req, void *arg) {
   Gateway *gw = arg;
   const char *path = HttpReq_path(req);
   if (str_eq(path, "/v1/chat/completions")) {
      handle_chat(gw, req);
   } else if (str_eq(path, "/v1/models")) {
      handle_models(gw, req);
   } else if (str_eq(path, "/healthz")) {
      handle_healthz(gw, req);
   } else if (str_eq(path, "/metrics")) {
      handle_metrics(gw, req);
   } else if (str_startswith(path, "/v1/")) {
      handle_passthrough(gw, req, path);
   } else if (str_startswith(path, "/admin/")) {
      struct evkeyvalq q = { 0 };
      const char *query = HttpReq_query(req);
      if (query && evhttp_parse_query_str(query, &q) != 0) {
         Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "the query string is malformed");
         return;
      }
      GwAdminSrv_handle(gw, req, path, &q);
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
   return read_token_file(cfg->admin_token_file, err);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg) {
   Gateway *gw = arg;
   fprintf(stderr, "offramp gateway: drain timeout, %ld exchanges abandoned\n", gw->flights);
   event_base_loopexit(gw->base, NULL);
}

static void on_front_drained(void *arg) {
   Gateway *gw = arg;
   gw->front_drained = true;
   Gateway_maybe_exit(gw);
}

/* SIGHUP: the client key file again (a key revoked or added without a restart). Nothing that
 * outlives a request holds a key of the old set (a pass-through keeps a copy). A file that no
 * longer reads, or holds no key (which would open the gateway to every client), keeps the old
 * keys. */
static void reload_client_keys(Gateway *gw) {
   const char *path = gw->cfg->client_keys_file;
   if (!path)
      return;
   ClientKeys fresh = { 0 };
   char *err = NULL;
   if (!ClientKeys_load(&fresh, path, &err) || fresh.n == 0) {
      fprintf(stderr, "offramp gateway: SIGHUP: client keys not reloaded, keeping the %d old ones: %s\n",
              gw->clients.n, err ? err : "the file holds no key (to serve every client, restart with --open-relay)");
      free(err);
      ClientKeys_clear(&fresh);
      return;
   }
   ClientKeys_clear(&gw->clients);
   gw->clients = fresh;
   fprintf(stderr, "offramp gateway: SIGHUP: %d client keys reloaded from %s\n", gw->clients.n, path);
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
      reload_client_keys(gw);
      return;
   }
   if (gw->draining)
      return;
   gw->draining = true;
   fprintf(stderr, "offramp gateway: draining %ld exchanges\n", gw->flights);
   HttpFront_drain(gw->front, on_front_drained, gw);
   Gateway_maybe_exit(gw);
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

long Gateway_default_max_conns(void) {
   struct rlimit rl;
   if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
      return 512;
   if (rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
      getrlimit(RLIMIT_NOFILE, &rl);
   }
   long half = rl.rlim_cur == RLIM_INFINITY ? 4096 : (long)(rl.rlim_cur / 2) - 32;
   return half < 16 ? 16 : half > 4096 ? 4096 : half;
}

/* Who may use which of the operator's keys, said at start: the key_env allow-list, client keys
 * or the open relay, and the cap on task names. */
static bool tenancy_start(Gateway *gw, char **err) {
   const GatewayConfig *cfg = gw->cfg;
   gw->key_envs = xcalloc((size_t)cfg->n_key_envs + 2, sizeof *gw->key_envs);
   if (cfg->upstream_key_env)
      gw->key_envs[gw->n_key_envs++] = cfg->upstream_key_env;
   for (int i = 0; i < cfg->n_key_envs; i++) {
      if (!key_env_allowed(gw, cfg->key_envs[i]))
         gw->key_envs[gw->n_key_envs++] = cfg->key_envs[i];
   }
   Sbuf list = { 0 };
   for (int i = 0; i < gw->n_key_envs; i++)
      Sbuf_printf(&list, "%s%s", i ? ", " : "", gw->key_envs[i]);
   fprintf(stderr, "offramp gateway: a route's key_env may name %s (more with --key-env NAME)\n",
           gw->n_key_envs ? list.buf : "nothing");
   Sbuf_free(&list);
   for (int i = 0; i < gw->n_routes; i++) {
      char *why = NULL;
      if (!Route_key_envs_allowed(gw->routes[i], gw->key_envs, gw->n_key_envs, &why)) {
         fprintf(stderr, "offramp gateway: %s; that key is not used\n", why);
         free(why);
      }
   }
   if (cfg->client_keys_file && !ClientKeys_load(&gw->clients, cfg->client_keys_file, err))
      return false;
   gw->operator_keys = cfg->open_relay || gw->clients.n;
   const char *env = cfg->upstream_key_env ? cfg->upstream_key_env : "(no --upstream-key-env)";
   bool have = gw->upstream_key && *gw->upstream_key;
   if (gw->clients.n)
      fprintf(stderr, "offramp gateway: clients need one of the %d keys in %s; they are served on %s%s\n",
              gw->clients.n, cfg->client_keys_file, env, have ? "" : " (not set: the upstream gets no key)");
   else if (cfg->open_relay)
      fprintf(stderr, "offramp gateway: open relay: every client is served on %s%s, with no key of its own\n", env,
              have ? "" : " (not set: the client's Authorization goes upstream)");
   else if (have)
      fprintf(stderr, "offramp gateway: %s is set but not used: each client's own Authorization goes upstream "
                      "(serve clients on it with --client-keys FILE or --open-relay)\n", env);
   GwStats_limit_tasks(gw->stats, cfg->max_tasks);
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
   /* The data plane serves no route without the control plane's gates: refuse to start rather
    * than serve ungated or crash at the first route read. */
   if (!cfg->gates || !cfg->gates->change || !cfg->gates->serve || !cfg->new_task) {
      fprintf(stderr, "offramp gateway: started without the gate check or task creation (GatewayConfig.gates, "
                      ".new_task): the binary must hand them in\n");
      return EXIT_FAILURE;
   }
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
      gw.cap = Capture_start(cfg->workspace, cfg->queue_max, cfg->queue_bytes, cfg->new_task, &err);
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
   /* Every request allocates and frees a few dozen blocks (the upstream transfer's state,
    * the capture copy): without these, glibc gives the top of the heap back and asks
    * for it again many times a second (brk + malloc_consolidate in the profile). */
   mallopt(M_TRIM_THRESHOLD, 64 << 20);
   mallopt(M_TOP_PAD, 16 << 20);
   mallopt(M_MMAP_THRESHOLD, 4 << 20);
   /* The changelist folds a socket's del + add within one loop pass into one epoll_ctl (or
    * none): libcurl moves its sockets between read and write watching on every call. */
   struct event_config *ecfg = event_config_new();
   event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
   gw.base = event_base_new_with_config(ecfg);
   event_config_free(ecfg);
   gw.up = Upstream_new(gw.base);
   gw.stats = GwStats_new();
   CanaryHost hooks = { .routes = canary_routes, .put = canary_put, .writer = GwAdminSrv_route_writer,
                       .settled = canary_settled, .arg = &gw };
   gw.canary = Canary_new(gw.base, &hooks);
   if (!tenancy_start(&gw, &err))
      goto out;
   HttpLimits lim = HTTP_LIMITS_DEFAULT;
   lim.max_body = (size_t)cfg->max_body;
   lim.max_header = (size_t)cfg->max_header;
   lim.request_timeout = (double)cfg->request_timeout_s;
   lim.keepalive_timeout = (double)cfg->client_timeout_s;
   lim.max_conns = cfg->max_conns;
   lim.max_inflight = cfg->max_inflight;
   lim.methods = HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_HEAD | HTTP_DELETE |
                 HTTP_PATCH | HTTP_OPTIONS;
   gw.front = HttpFront_new(gw.base, "offramp gateway", &lim, on_request, &gw);
   int bound;
   if (!HttpFront_listen(gw.front, host, port, &bound, &err))
      goto out;
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
   HttpFront_free(gw.front);
   Capture_stop(gw.cap);
   GwAdminSrv_free(&gw);
   Canary_free(gw.canary);
   Upstream_free(gw.up);
   GwStats_free(gw.stats);
   if (gw.base)
      event_base_free(gw.base);
   routes_free(&gw);
   ClientKeys_clear(&gw.clients);
   free(gw.key_envs);
   Route_unref(gw.fallback_route);
   free(gw.admin_token);
   free(gw.chat_url);
   Store_close(gw.st);
   free(host);
   return rc;
}
