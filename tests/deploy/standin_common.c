/* standin_common.c - the model-server stand-ins' shared server loop and chat answers. */
#include "config.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "standin_common.h"

static struct event_base *base;
static json_t *answers;   /* last user message -> logged answer */

char *Standin_body(Req *req, size_t *len) {
   struct evbuffer *b = evhttp_request_get_input_buffer(req);
   size_t n = evbuffer_get_length(b);
   char *s = malloc(n + 1);
   evbuffer_copyout(b, s, n);
   s[n] = '\0';
   if (len)
      *len = n;
   return s;
}

const char *Standin_header(Req *req, const char *name) {
   return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

bool Standin_method(Req *req, const char *method) {
   switch (evhttp_request_get_command(req)) {
   case EVHTTP_REQ_GET: return strcmp(method, "GET") == 0;
   case EVHTTP_REQ_POST: return strcmp(method, "POST") == 0;
   case EVHTTP_REQ_HEAD: return strcmp(method, "HEAD") == 0;
   case EVHTTP_REQ_DELETE: return strcmp(method, "DELETE") == 0;
   default: return false;
   }
}

void Standin_reply(Req *req, int status, const char *ctype, const char *body, size_t len) {
   struct evbuffer *out = evbuffer_new();
   if (body)
      evbuffer_add(out, body, len);
   if (ctype)
      evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
   evhttp_send_reply(req, status, status < 300 ? "OK" : "Error", out);
   evbuffer_free(out);
}

void Standin_json(Req *req, int status, json_t *v) {
   char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
   Standin_reply(req, status, "application/json", s, strlen(s));
   free(s);
   json_decref(v);
}

/* The last user message and the last assistant message of a chat, NULL when absent. */
static void chat_parts(json_t *msgs, const char **user, const char **assistant) {
   size_t i;
   json_t *m;
   *user = *assistant = NULL;
   json_array_foreach(msgs, i, m) {
      const char *role = json_string_value(json_object_get(m, "role"));
      if (role && strcmp(role, "user") == 0)
         *user = json_string_value(json_object_get(m, "content"));
      else if (role && strcmp(role, "assistant") == 0)
         *assistant = json_string_value(json_object_get(m, "content"));
   }
}

void Standin_chat(Req *req, json_t *body, bool adapter_on) {
   const char *user, *prefill;
   chat_parts(json_object_get(body, "messages"), &user, &prefill);
   const char *known = user ? json_string_value(json_object_get(answers, user)) : NULL;
   const char *answer = adapter_on && known ? known : "I am not sure what you are asking.";
   json_t *choice = json_pack("{s:i, s:{s:s, s:s}, s:s}", "index", 0, "message", "role", "assistant", "content",
                              answer, "finish_reason", "stop");
   if (json_is_true(json_object_get(body, "logprobs")))
      json_object_set_new(choice, "logprobs", json_pack("{s:[{s:s, s:f, s:[{s:s, s:f}]}]}", "content", "token",
                                                        answer, "logprob", -0.05, "top_logprobs", "token", answer,
                                                        "logprob", -0.05));
   const char *model = json_string_value(json_object_get(body, "model"));
   if (json_is_true(json_object_get(body, "stream"))) {
      /* OpenAI's chunks: the role first, then the content, then the finish reason, the usage
       * when stream_options.include_usage asks for it, and [DONE]. */
      json_t *chunks[] = {
         json_pack("{s:[{s:i, s:{s:s, s:s}}]}", "choices", "index", 0, "delta", "role", "assistant", "content", ""),
         json_pack("{s:[{s:i, s:{s:s}}]}", "choices", "index", 0, "delta", "content", answer),
         json_pack("{s:[{s:i, s:{}, s:s}]}", "choices", "index", 0, "delta", "finish_reason", "stop"),
         json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"))
            ? json_pack("{s:[], s:{s:i, s:i, s:i}}", "choices", "usage", "prompt_tokens", 20, "completion_tokens", 1,
                        "total_tokens", 21)
            : NULL,
      };
      struct evbuffer *out = evbuffer_new();
      for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
         if (!chunks[k])
            continue;
         json_object_set_new(chunks[k], "id", json_string("chatcmpl-standin"));
         json_object_set_new(chunks[k], "object", json_string("chat.completion.chunk"));
         json_object_set_new(chunks[k], "model", json_string(model ? model : ""));
         char *txt = json_dumps(chunks[k], JSON_COMPACT);
         evbuffer_add_printf(out, "data: %s\n\n", txt);
         free(txt);
         json_decref(chunks[k]);
      }
      evbuffer_add_printf(out, "data: [DONE]\n\n");
      json_decref(choice);
      evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/event-stream");
      evhttp_send_reply(req, 200, "OK", out);
      evbuffer_free(out);
      return;
   }
   Standin_json(req, 200, json_pack("{s:s, s:s, s:i, s:s, s:[o], s:{s:i, s:i, s:i}}", "id", "chatcmpl-standin",
                                    "object", "chat.completion", "created", 1765000000, "model", model ? model : "",
                                    "choices", choice, "usage", "prompt_tokens", 20, "completion_tokens", 1,
                                    "total_tokens", 21));
}

static void load_answers(const char *path) {
   FILE *f = fopen(path, "r");
   if (!f) {
      perror(path);
      exit(2);
   }
   char line[65536];
   while (fgets(line, sizeof line, f)) {
      json_t *row = json_loads(line, 0, NULL);
      const char *user, *answer;
      chat_parts(json_object_get(row, "messages"), &user, &answer);
      if (user && answer)
         json_object_set_new(answers, user, json_string(answer));
      json_decref(row);
   }
   fclose(f);
}

static const Standin *self;

static void on_request(Req *req, void *arg) {
   (void)arg;
   const char *uri = evhttp_request_get_uri(req);
   char *path = strdup(uri);
   path[strcspn(path, "?")] = '\0';
   self->handle(req, path);
   free(path);
}

static void on_stop(evutil_socket_t fd, short what, void *arg) {
   (void)fd;
   (void)what;
   (void)arg;
   event_base_loopbreak(base);
}

static void on_hup(evutil_socket_t fd, short what, void *arg) {
   (void)fd;
   (void)what;
   (void)arg;
   self->restart();
}

int Standin_main(const Standin *s, int argc, char **argv) {
   const char *port_file = NULL;
   long max_seconds = 120;
   self = s;
   answers = json_object();
   signal(SIGPIPE, SIG_IGN);
   for (int i = 1, used; i < argc; i++) {
      const char *val = i + 1 < argc ? argv[i + 1] : NULL;
      if (strcmp(argv[i], "--port-file") == 0 && val)
         port_file = argv[++i];
      else if (strcmp(argv[i], "--answers") == 0 && val)
         load_answers(argv[++i]);
      else if (strcmp(argv[i], "--max-seconds") == 0 && val)
         max_seconds = atol(argv[++i]);
      else if ((used = s->option(argv[i], val)) > 0)
         i += used - 1;
      else {
         fprintf(stderr, "%s: unknown option '%s'\nusage: %s --port-file F [--answers TEST.jsonl] "
                         "[--max-seconds N] %s\n", s->name, argv[i], s->name, s->usage);
         return 2;
      }
   }
   if (!port_file) {
      fprintf(stderr, "usage: %s --port-file F [--answers TEST.jsonl] [--max-seconds N] %s\n", s->name, s->usage);
      return 2;
   }
   base = event_base_new();
   struct evhttp *http = evhttp_new(base);
   evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_DELETE);
   evhttp_set_gencb(http, on_request, NULL);
   struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
   if (!sock) {
      fprintf(stderr, "%s: cannot listen on 127.0.0.1\n", s->name);
      return 1;
   }
   struct sockaddr_in sin;
   socklen_t slen = sizeof sin;
   getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sin, &slen);
   char tmp[4096];
   snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
   FILE *pf = fopen(tmp, "w");
   fprintf(pf, "%d\n", ntohs(sin.sin_port));
   fclose(pf);
   rename(tmp, port_file);
   /* Never outlive a test that forgot to stop us. */
   struct timeval limit = { max_seconds, 0 };
   event_base_once(base, -1, EV_TIMEOUT, on_stop, NULL, &limit);
   struct event *term = evsignal_new(base, SIGTERM, on_stop, NULL);
   struct event *hup = evsignal_new(base, SIGHUP, on_hup, NULL);
   event_add(term, NULL);
   event_add(hup, NULL);
   event_base_dispatch(base);
   event_free(term);
   event_free(hup);
   evhttp_free(http);
   event_base_free(base);
   json_decref(answers);
   return 0;
}
