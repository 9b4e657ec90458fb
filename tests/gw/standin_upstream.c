/* standin_upstream.c - a stand-in upstream for the gateway tests and benches: a small
 * OpenAI-compatible chat completions server (libevent) with configurable latency (fixed, and
 * --slow-rate of the answers --slow-ms late), faults, logprobs, wrong answers, streaming and an
 * idle timeout that closes kept-alive connections.
 * Prints its port on stdout; GET /stats reports what it did; GET /control?fail_rate=X&latency_ms=N
 * changes the error rate and the latency while it runs.
 * It follows OpenAI's API reference (platform.openai.com/docs/api-reference, 2024-2025): chat
 * completions (chat.completion objects, and with "stream": true server-sent events of
 * chat.completion.chunk objects ending in "data: [DONE]"; logprobs.content token lists, which
 * a stream carries in its chunks; --echo-auth answers with the Authorization it got), GET
 * /v1/models, and with --api-headers the response headers the API sends (x-request-id,
 * x-ratelimit-*, openai-processing-ms, openai-version; Retry-After on errors, whose status and
 * reason --fail-status and --fail-reason set). --garbage-rate answers 200 text/html (streamed or
 * not), --sse-error streams an error event instead of chunks (as vLLM does when generation
 * fails), and /stats counts streams a client abandoned before their end. Any other /v1/ path is
 * echoed for the gateway's pass-through tests: {method, path, query, authorization,
 * content_type, organization, body_len, body_hash} as JSON, status from ?status=N, a chunked
 * stream of ?chunks=N pieces --chunk-delay-ms apart, or ?bytes=N bytes at once. With --tool-call
 * NAME it answers as a function-calling model does (the reference's chat.completion with
 * message.content null, message.tool_calls [{id, type "function", function {name, arguments as
 * a JSON string}}] and finish_reason "tool_calls"): NAME called with {"order": N}, N the first
 * number in the last message; a wrong answer (--wrong-rate) names order N + 1, and whether an
 * order is answered wrong depends on N and --seed only (the same question gets the same answer,
 * as from a model, whatever the order the requests come in). */
#include "config.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct {
   const char *content, *model, *tool_call;
   bool echo;
   long latency_ms, hang_ms, chunks, chunk_delay_ms, slow_ms;
   double slow_rate, fail_rate, timeout_rate, garbage_rate, low_rate, wrong_rate, logprob, low_logprob;
   bool logprobs, api_headers, echo_auth, sse_error;
   int fail_status;
   const char *fail_reason;
} opt = { .fail_status = 500, .fail_reason = "Internal Server Error", .content = "billing", .model = "standin", .hang_ms = 5000, .chunks = 4, .low_logprob = -3.0 };

static struct {
   long requests, ok, fail, timeout, garbage, low, wrong, slow;
   long streams_done, streams_abandoned;
} stats;

static struct event_base *base;
static unsigned long long rng = 88172645463325252ULL, seed0;

static double rnd(void) {
   rng ^= rng << 13;
   rng ^= rng >> 7;
   rng ^= rng << 17;
   return (double)(rng >> 11) / 9007199254740992.0;
}

/* A draw in [0, 1) fixed by x and the seed (splitmix64's finaliser). */
static double rnd_of(unsigned long long x) {
   x += seed0 + 0x9e3779b97f4a7c15ULL;
   x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
   x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
   x ^= x >> 31;
   return (double)(x >> 11) / 9007199254740992.0;
}

typedef struct Pending {
   struct evhttp_request *req;
   struct event *timer;
   char *answer;
   bool stream, low, garbage;
   long sent;   /* stream chunks sent */
   long id;
   struct Pending *prev, *next;
} Pending;

/* Requests still waiting (hung ones mostly), freed at exit. */
static Pending *pending;

static json_t *logprobs_json(const char *answer, double lp) {
   json_t *tokens = json_array();
   /* One token per word; the first carries top_logprobs with the answer and an alternative. */
   char *copy = strdup(answer), *save = NULL;
   int n = 0;
   for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save), n++) {
      json_t *t = json_pack("{s:s, s:f}", "token", w, "logprob", lp);
      if (n == 0)
         json_object_set_new(t, "top_logprobs", json_pack("[{s:s, s:f}, {s:s, s:f}]", "token", w, "logprob", lp,
                                                          "token", "other", "logprob", -4.0));
      json_array_append_new(tokens, t);
   }
   free(copy);
   return json_pack("{s:o}", "content", tokens);
}

static void api_headers(struct evhttp_request *req, bool error) {
   if (!opt.api_headers)
      return;
   struct evkeyvalq *h = evhttp_request_get_output_headers(req);
   char id[40];
   snprintf(id, sizeof id, "req_standin_%ld", stats.requests);
   evhttp_add_header(h, "x-request-id", id);
   evhttp_add_header(h, "x-ratelimit-limit-requests", "10000");
   evhttp_add_header(h, "x-ratelimit-remaining-requests", "9999");
   evhttp_add_header(h, "openai-processing-ms", "3");
   evhttp_add_header(h, "openai-version", "2020-10-01");
   /* Not the API's: the chat answer must not carry it, a pass-through answer must. */
   evhttp_add_header(h, "X-Standin-Private", "yes");
   if (error)
      evhttp_add_header(h, "Retry-After", "7");
}

static void finish(Pending *p) {
   if (p->prev)
      p->prev->next = p->next;
   else if (pending == p)
      pending = p->next;
   if (p->next)
      p->next->prev = p->prev;
   event_free(p->timer);
   free(p->answer);
   free(p);
}

static void send_full(Pending *p) {
   struct evbuffer *b = evbuffer_new();
   if (p->garbage) {
      evbuffer_add_printf(b, "<html>upstream exploded %ld</html>", p->id);
   } else {
      json_t *choice = json_pack("{s:i, s:{s:s, s:s}, s:s}", "index", 0, "message", "role", "assistant", "content",
                                 p->answer, "finish_reason", "stop");
      if (opt.tool_call) {
         char id[32];
         snprintf(id, sizeof id, "call_standin%ld", p->id);
         json_object_set_new(choice, "message",
                             json_pack("{s:s, s:n, s:[{s:s, s:s, s:{s:s, s:s}}]}", "role", "assistant", "content",
                                       "tool_calls", "id", id, "type", "function", "function", "name", opt.tool_call,
                                       "arguments", p->answer));
         json_object_set_new(choice, "finish_reason", json_string("tool_calls"));
      } else if (opt.logprobs)
         json_object_set_new(choice, "logprobs", logprobs_json(p->answer, p->low ? opt.low_logprob : opt.logprob));
      json_t *r = json_pack("{s:s, s:s, s:i, s:s, s:[o], s:{s:i, s:i, s:i}}", "id", "chatcmpl-standin", "object",
                            "chat.completion", "created", 0, "model", opt.model, "choices", choice, "usage",
                            "prompt_tokens", 12, "completion_tokens", 1, "total_tokens", 13);
      char *s = json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER);
      evbuffer_add(b, s, strlen(s));
      free(s);
      json_decref(r);
   }
   evhttp_add_header(evhttp_request_get_output_headers(p->req), "Content-Type",
                     p->garbage ? "text/html" : "application/json");
   api_headers(p->req, false);
   evhttp_send_reply(p->req, 200, "OK", b);
   evbuffer_free(b);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
   Pending *p = arg;
   if (!p->stream || p->garbage) {
      send_full(p);
      finish(p);
      return;
   }
   size_t len = strlen(p->answer);
   long n = opt.chunks < 1 ? 1 : opt.chunks;
   if (p->sent == 0) {
      evhttp_add_header(evhttp_request_get_output_headers(p->req), "Content-Type", "text/event-stream");
      api_headers(p->req, false);
      evhttp_send_reply_start(p->req, 200, "OK");
   } else if (!evhttp_request_get_connection(p->req)) {
      /* The client closed the connection mid-stream; evhttp left the request to us. */
      stats.streams_abandoned++;
      evhttp_send_reply_end(p->req);
      finish(p);
      return;
   }
   struct evbuffer *b = evbuffer_new();
   if (opt.sse_error && p->sent == 0) {
      evbuffer_add_printf(b, "data: {\"error\":{\"message\":\"stand-in generation failed\",\"type\":\"server_error\"}}\n\n");
      p->sent = n;
      evhttp_send_reply_chunk(p->req, b);
      evbuffer_free(b);
      static const struct timeval now = { 0, 0 };
      evtimer_add(p->timer, &now);
      return;
   }
   if (p->sent < n) {
      size_t from = len * (size_t)p->sent / (size_t)n, to = len * (size_t)(p->sent + 1) / (size_t)n;
      json_t *delta = json_pack("{s:s%}", "content", p->answer + from, to - from);
      if (p->sent == 0)
         json_object_set_new(delta, "role", json_string("assistant"));
      json_t *choice = json_pack("{s:i, s:o, s:o}", "index", 0, "delta", delta, "finish_reason",
                                 p->sent == n - 1 ? json_string("stop") : json_null());
      /* The answer's tokens ride on its first chunk, so a stream scores as the whole answer. */
      if (opt.logprobs && p->sent == 0)
         json_object_set_new(choice, "logprobs", logprobs_json(p->answer, p->low ? opt.low_logprob : opt.logprob));
      json_t *chunk = json_pack("{s:s, s:s, s:i, s:s, s:[o]}", "id", "chatcmpl-standin", "object",
                                "chat.completion.chunk", "created", 0, "model", opt.model, "choices", choice);
      char *s = json_dumps(chunk, JSON_COMPACT | JSON_PRESERVE_ORDER);
      evbuffer_add_printf(b, "data: %s\n\n", s);
      free(s);
      json_decref(chunk);
      p->sent++;
      evhttp_send_reply_chunk(p->req, b);
      evbuffer_free(b);
      struct timeval tv = { opt.chunk_delay_ms / 1000, (opt.chunk_delay_ms % 1000) * 1000 };
      evtimer_add(p->timer, &tv);
      return;
   }
   evbuffer_add_printf(b, "data: [DONE]\n\n");
   evhttp_send_reply_chunk(p->req, b);
   evbuffer_free(b);
   evhttp_send_reply_end(p->req);
   stats.streams_done++;
   finish(p);
}

static void on_chat(struct evhttp_request *req) {
   struct evbuffer *in = evhttp_request_get_input_buffer(req);
   json_t *body = json_loadb((const char *)evbuffer_pullup(in, -1), evbuffer_get_length(in), 0, NULL);
   stats.requests++;
   if (!body) {
      evhttp_send_error(req, 400, "bad json");
      return;
   }
   double r = rnd();
   Pending *p = calloc(1, sizeof *p);
   p->req = req;
   p->id = stats.requests;
   p->stream = json_is_true(json_object_get(body, "stream"));
   long delay = opt.latency_ms;
   if (r < opt.fail_rate) {
      stats.fail++;
      struct evbuffer *b = evbuffer_new();
      evbuffer_add_printf(b, "{\"error\":{\"message\":\"stand-in failure\",\"type\":\"server_error\"}}");
      evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
      api_headers(req, true);
      evhttp_send_reply(req, opt.fail_status, opt.fail_reason, b);
      evbuffer_free(b);
      free(p);
      json_decref(body);
      return;
   } else if (r < opt.fail_rate + opt.timeout_rate) {
      stats.timeout++;
      delay = opt.hang_ms;
   } else if (r < opt.fail_rate + opt.timeout_rate + opt.garbage_rate) {
      stats.garbage++;
      p->garbage = true;
   } else {
      stats.ok++;
      /* Drawn only when asked for, so other tests' random sequences stay as they were. */
      if (opt.slow_rate > 0 && rnd() < opt.slow_rate) {
         stats.slow++;
         delay = opt.slow_ms;
      }
      if (rnd() < opt.low_rate) {
         p->low = true;
         stats.low++;
      }
   }
   bool may_be_wrong = !p->garbage && opt.wrong_rate > 0;
   bool wrong = may_be_wrong && !opt.tool_call && rnd() < opt.wrong_rate;
   if (opt.tool_call) {
      json_t *msgs = json_object_get(body, "messages");
      const char *last = json_string_value(json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "content"));
      const char *d = last ? last + strcspn(last, "0123456789") : "";
      long order = atol(d);
      if (may_be_wrong && rnd_of((unsigned long long)order) < opt.wrong_rate) {
         order++;
         stats.wrong++;
      }
      p->answer = malloc(32);
      snprintf(p->answer, 32, "{\"order\": %ld}", order);
   } else if (wrong) {
      stats.wrong++;
      p->answer = strdup("wrong");
   } else if (opt.echo_auth) {
      /* What key the gateway sent: the tests of its key rules read it from the answer. */
      const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
      size_t n = strlen(auth ? auth : "none") + 8;
      p->answer = malloc(n);
      snprintf(p->answer, n, "auth:%s", auth ? auth : "none");
   } else if (opt.echo) {
      json_t *msgs = json_object_get(body, "messages");
      const char *last = json_string_value(json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "content"));
      size_t n = strlen(last ? last : "") + 8;
      p->answer = malloc(n);
      snprintf(p->answer, n, "echo:%s", last ? last : "");
   } else {
      p->answer = strdup(opt.content);
   }
   json_decref(body);
   p->timer = evtimer_new(base, on_timer, p);
   p->next = pending;
   if (pending)
      pending->prev = p;
   pending = p;
   if (delay <= 0 && !p->stream) {
      send_full(p);
      finish(p);
      return;
   }
   struct timeval tv = { delay / 1000, (delay % 1000) * 1000 };
   evtimer_add(p->timer, &tv);
}

static void on_models(struct evhttp_request *req) {
   struct evbuffer *b = evbuffer_new();
   evbuffer_add_printf(b, "{\"object\":\"list\",\"data\":[{\"id\":\"%s\",\"object\":\"model\",\"created\":0,"
                       "\"owned_by\":\"standin\"}]}", opt.model);
   evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
   api_headers(req, false);
   evhttp_send_reply(req, 200, "OK", b);
   evbuffer_free(b);
}

/* A chunked answer of n pieces, one per --chunk-delay-ms. */
typedef struct {
   struct evhttp_request *req;
   struct event *timer;
   long left;
} EchoStream;

static void on_echo_chunk(evutil_socket_t fd, short what, void *arg) {
   EchoStream *e = arg;
   struct evbuffer *b = evbuffer_new();
   evbuffer_add_printf(b, "data: {\"piece\":%ld}\n\n", e->left);
   evhttp_send_reply_chunk(e->req, b);
   evbuffer_free(b);
   if (--e->left > 0) {
      struct timeval tv = { opt.chunk_delay_ms / 1000, (opt.chunk_delay_ms % 1000) * 1000 };
      evtimer_add(e->timer, &tv);
      return;
   }
   evhttp_send_reply_end(e->req);
   event_free(e->timer);
   free(e);
}

static const char *query_get(struct evkeyvalq *q, const char *name) {
   return evhttp_find_header(q, name);
}

static json_t *header_json(struct evhttp_request *req, const char *name) {
   const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
   return v ? json_string(v) : json_null();
}

static void on_echo(struct evhttp_request *req) {
   stats.requests++;
   const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
   struct evkeyvalq q = { 0 };
   if (evhttp_uri_get_query(u))
      evhttp_parse_query_str(evhttp_uri_get_query(u), &q);
   const char *chunks = query_get(&q, "chunks"), *status = query_get(&q, "status"), *bytes = query_get(&q, "bytes");
   if (bytes) {
      /* A large download (GET /v1/files/ID/content), all written at once: a slow client's
       * gateway must not hold it. */
      long n = atol(bytes);
      struct evbuffer *b = evbuffer_new();
      char block[65536];
      memset(block, 'x', sizeof block);
      for (long left = n; left > 0; left -= (long)sizeof block)
         evbuffer_add(b, block, left < (long)sizeof block ? (size_t)left : sizeof block);
      evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/octet-stream");
      if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
         /* What a GET would bring (RFC 9110 section 9.3.2); evhttp does not say it itself. */
         char len[24];
         snprintf(len, sizeof len, "%ld", n);
         evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
      }
      evhttp_send_reply(req, 200, "OK", b);
      evbuffer_free(b);
      evhttp_clear_headers(&q);
      return;
   }
   if (chunks) {
      EchoStream *e = calloc(1, sizeof *e);
      e->req = req;
      e->left = atol(chunks) > 0 ? atol(chunks) : 1;
      e->timer = evtimer_new(base, on_echo_chunk, e);
      evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/event-stream");
      api_headers(req, false);
      evhttp_send_reply_start(req, 200, "OK");
      on_echo_chunk(-1, 0, e);
      evhttp_clear_headers(&q);
      return;
   }
   static const char *const methods[] = { "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT",
                                          "PATCH" };
   enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
   const char *method = "?";
   for (int i = 0; i < 9; i++) {
      if ((int)cmd == (1 << i))
         method = methods[i];
   }
   struct evbuffer *in = evhttp_request_get_input_buffer(req);
   size_t len = evbuffer_get_length(in);
   const unsigned char *body = len ? evbuffer_pullup(in, -1) : NULL;
   unsigned long long h = 1469598103934665603ULL;   /* FNV-1a */
   for (size_t i = 0; i < len; i++)
      h = (h ^ body[i]) * 1099511628211ULL;
   char hash[24];
   snprintf(hash, sizeof hash, "%016llx", h);
   json_t *j = json_pack("{s:s, s:s, s:s?, s:o, s:o, s:o, s:I, s:s}", "method", method, "path", evhttp_uri_get_path(u),
                         "query", evhttp_uri_get_query(u), "authorization", header_json(req, "Authorization"),
                         "content_type", header_json(req, "Content-Type"), "organization",
                         header_json(req, "OpenAI-Organization"), "body_len", (json_int_t)len, "body_hash", hash);
   char *s = json_dumps(j, JSON_COMPACT);
   json_decref(j);
   struct evbuffer *b = evbuffer_new();
   evbuffer_add(b, s, strlen(s));
   free(s);
   int code = status ? atoi(status) : 200;
   evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
   api_headers(req, code >= 400);
   evhttp_send_reply(req, code, code == 200 ? "OK" : code == 204 ? "No Content" : opt.fail_reason,
                     code == 204 ? NULL : b);
   evbuffer_free(b);
   evhttp_clear_headers(&q);
}

static void on_request(struct evhttp_request *req, void *arg) {
   const char *uri = evhttp_request_get_uri(req);
   if (strncmp(uri, "/v1/chat/completions", 20) == 0) {
      on_chat(req);
   } else if (strcmp(uri, "/v1/models") == 0) {
      on_models(req);
   } else if (strncmp(uri, "/v1/", 4) == 0) {
      on_echo(req);
   } else if (strncmp(uri, "/control?", 9) == 0) {
      /* Tests change a running stand-in: fail_rate (an error burst), latency_ms (a slowdown). */
      struct evkeyvalq q;
      evhttp_parse_query_str(uri + 9, &q);
      const char *v;
      if ((v = evhttp_find_header(&q, "fail_rate")))
         opt.fail_rate = atof(v);
      if ((v = evhttp_find_header(&q, "latency_ms")))
         opt.latency_ms = atol(v);
      evhttp_clear_headers(&q);
      evhttp_send_reply(req, 200, "OK", NULL);
   } else if (strcmp(uri, "/stats") == 0) {
      struct evbuffer *b = evbuffer_new();
      evbuffer_add_printf(b, "{\"requests\":%ld,\"ok\":%ld,\"fail\":%ld,\"timeout\":%ld,\"garbage\":%ld,\"low\":%ld,"
                          "\"wrong\":%ld,\"slow\":%ld,\"streams_done\":%ld,\"streams_abandoned\":%ld}\n", stats.requests,
                          stats.ok, stats.fail, stats.timeout, stats.garbage, stats.low, stats.wrong, stats.slow,
                          stats.streams_done, stats.streams_abandoned);
      evhttp_send_reply(req, 200, "OK", b);
      evbuffer_free(b);
   } else {
      evhttp_send_error(req, 404, "not found");
   }
}

static void on_term(evutil_socket_t sig, short what, void *arg) {
   event_base_loopexit(base, NULL);
}

int main(int argc, char **argv) {
   static const struct option opts[] = {
      { "port", required_argument, NULL, 'p' },
      { "content", required_argument, NULL, 'C' },
      { "model", required_argument, NULL, 'm' },
      { "echo", no_argument, NULL, 'e' },
      { "latency-ms", required_argument, NULL, 'l' },
      { "hang-ms", required_argument, NULL, 'H' },
      { "fail-rate", required_argument, NULL, 'f' },
      { "timeout-rate", required_argument, NULL, 't' },
      { "garbage-rate", required_argument, NULL, 'g' },
      { "logprob", required_argument, NULL, 'L' },
      { "low-rate", required_argument, NULL, 'w' },
      { "wrong-rate", required_argument, NULL, 'W' },
      { "tool-call", required_argument, NULL, 'T' },
      { "chunks", required_argument, NULL, 'k' },
      { "chunk-delay-ms", required_argument, NULL, 'd' },
      { "seed", required_argument, NULL, 's' },
      { "idle-timeout", required_argument, NULL, 'i' },
      { "api-headers", no_argument, NULL, 'A' },
      { "echo-auth", no_argument, NULL, 'a' },
      { "fail-status", required_argument, NULL, 'F' },
      { "fail-reason", required_argument, NULL, 'R' },
      { "sse-error", no_argument, NULL, 'E' },
      { "slow-rate", required_argument, NULL, 'X' },
      { "slow-ms", required_argument, NULL, 'Y' },
      { 0 },
   };
   int port = 0, idle_timeout = 0, c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'p': port = atoi(optarg); break;
      case 'C': opt.content = optarg; break;
      case 'm': opt.model = optarg; break;
      case 'e': opt.echo = true; break;
      case 'l': opt.latency_ms = atol(optarg); break;
      case 'H': opt.hang_ms = atol(optarg); break;
      case 'f': opt.fail_rate = atof(optarg); break;
      case 't': opt.timeout_rate = atof(optarg); break;
      case 'g': opt.garbage_rate = atof(optarg); break;
      case 'L': opt.logprob = atof(optarg); opt.logprobs = true; break;
      case 'w': opt.low_rate = atof(optarg); break;
      case 'W': opt.wrong_rate = atof(optarg); break;
      case 'T': opt.tool_call = optarg; break;
      case 'k': opt.chunks = atol(optarg); break;
      case 'd': opt.chunk_delay_ms = atol(optarg); break;
      case 's': seed0 = strtoull(optarg, NULL, 10); rng = seed0 | 1; break;
      case 'i': idle_timeout = atoi(optarg); break;
      case 'A': opt.api_headers = true; break;
      case 'a': opt.echo_auth = true; break;
      case 'F': opt.fail_status = atoi(optarg); break;
      case 'R': opt.fail_reason = optarg; break;
      case 'E': opt.sse_error = true; break;
      case 'X': opt.slow_rate = atof(optarg); break;
      case 'Y': opt.slow_ms = atol(optarg); break;
      default: fprintf(stderr, "standin_upstream: bad option\n"); return 2;
      }
   }
   signal(SIGPIPE, SIG_IGN);
   base = event_base_new();
   struct evhttp *http = evhttp_new(base);
   evhttp_set_gencb(http, on_request, NULL);
   evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD |
                                       EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
   if (idle_timeout > 0)
      evhttp_set_timeout(http, idle_timeout);
   struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
   if (!sock) {
      fprintf(stderr, "standin_upstream: cannot listen on port %d\n", port);
      return 1;
   }
   struct sockaddr_in sa;
   socklen_t sl = sizeof sa;
   getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sa, &sl);
   printf("%d\n", ntohs(sa.sin_port));
   fflush(stdout);
   struct event *term = evsignal_new(base, SIGTERM, on_term, NULL);
   struct event *intr = evsignal_new(base, SIGINT, on_term, NULL);
   evsignal_add(term, NULL);
   evsignal_add(intr, NULL);
   event_base_dispatch(base);
   while (pending)
      finish(pending);
   event_free(term);
   event_free(intr);
   evhttp_free(http);
   event_base_free(base);
   return 0;
}
