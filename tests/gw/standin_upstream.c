/* standin_upstream.c - a stand-in upstream for the gateway tests and benches: a small
 * OpenAI-compatible chat completions server (libevent) with configurable latency (fixed, and
 * --slow-rate of the answers --slow-ms late), faults, logprobs, wrong answers, streaming and an
 * idle timeout that closes kept-alive connections.
 * Prints its port on stdout; GET /stats reports what it did; GET /control?fail_rate=X changes
 * the error rate while it runs. */
#include "config.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct {
   const char *content, *model;
   bool echo;
   long latency_ms, hang_ms, chunks, chunk_delay_ms, slow_ms;
   double slow_rate, fail_rate, timeout_rate, garbage_rate, low_rate, wrong_rate, logprob, low_logprob;
   bool logprobs;
} opt = { .content = "billing", .model = "standin", .hang_ms = 5000, .chunks = 4, .low_logprob = -3.0 };

static struct {
   long requests, ok, fail, timeout, garbage, low, wrong, slow;
} stats;

static struct event_base *base;
static unsigned long long rng = 88172645463325252ULL;

static double rnd(void) {
   rng ^= rng << 13;
   rng ^= rng >> 7;
   rng ^= rng << 17;
   return (double)(rng >> 11) / 9007199254740992.0;
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
      if (opt.logprobs)
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
      evhttp_send_reply_start(p->req, 200, "OK");
   }
   struct evbuffer *b = evbuffer_new();
   if (p->sent < n) {
      size_t from = len * (size_t)p->sent / (size_t)n, to = len * (size_t)(p->sent + 1) / (size_t)n;
      json_t *delta = json_pack("{s:s%}", "content", p->answer + from, to - from);
      if (p->sent == 0)
         json_object_set_new(delta, "role", json_string("assistant"));
      json_t *choice = json_pack("{s:i, s:o, s:o}", "index", 0, "delta", delta, "finish_reason",
                                 p->sent == n - 1 ? json_string("stop") : json_null());
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
      evhttp_send_reply(req, 500, "Internal Server Error", b);
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
   bool wrong = !p->garbage && opt.wrong_rate > 0 && rnd() < opt.wrong_rate;
   if (wrong) {
      stats.wrong++;
      p->answer = strdup("wrong");
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

static void on_request(struct evhttp_request *req, void *arg) {
   const char *uri = evhttp_request_get_uri(req);
   if (strncmp(uri, "/v1/chat/completions", 20) == 0) {
      on_chat(req);
   } else if (strncmp(uri, "/control?fail_rate=", 19) == 0) {
      /* Tests raise the error rate of a running stand-in (an error burst). */
      opt.fail_rate = atof(uri + 19);
      evhttp_send_reply(req, 200, "OK", NULL);
   } else if (strcmp(uri, "/stats") == 0) {
      struct evbuffer *b = evbuffer_new();
      evbuffer_add_printf(b, "{\"requests\":%ld,\"ok\":%ld,\"fail\":%ld,\"timeout\":%ld,\"garbage\":%ld,\"low\":%ld,"
                          "\"wrong\":%ld,\"slow\":%ld}\n", stats.requests, stats.ok, stats.fail, stats.timeout,
                          stats.garbage, stats.low, stats.wrong, stats.slow);
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
      { "chunks", required_argument, NULL, 'k' },
      { "chunk-delay-ms", required_argument, NULL, 'd' },
      { "seed", required_argument, NULL, 's' },
      { "idle-timeout", required_argument, NULL, 'i' },
      { "slow-rate", required_argument, NULL, 'R' },
      { "slow-ms", required_argument, NULL, 'S' },
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
      case 'k': opt.chunks = atol(optarg); break;
      case 'd': opt.chunk_delay_ms = atol(optarg); break;
      case 's': rng = strtoull(optarg, NULL, 10) | 1; break;
      case 'i': idle_timeout = atoi(optarg); break;
      case 'R': opt.slow_rate = atof(optarg); break;
      case 'S': opt.slow_ms = atol(optarg); break;
      default: fprintf(stderr, "standin_upstream: bad option\n"); return 2;
      }
   }
   signal(SIGPIPE, SIG_IGN);
   base = event_base_new();
   struct evhttp *http = evhttp_new(base);
   evhttp_set_gencb(http, on_request, NULL);
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
