/* standin_model.c - a stand-in OpenAI-compatible model server for the evaluation tests: known
 * answers and confidences per input, with scripted delays, failures, malformed answers and
 * missing logprobs, and a log of every request so tests count what was sent.
 *
 * usage: standin_model --port-file F --log F [--max-seconds N] MODEL=MAPFILE...
 * MAPFILE: one line per input, tab-separated: input, answer, confidence, script. The script is
 * comma-separated: ok | delay=MS | fail=N:STATUS (first N requests get STATUS) |
 * always=STATUS | malformed | nologprobs | alt=ANSWER (sampled requests, i.e. without
 * temperature 0, alternate between answer and ANSWER) | toolcall (the answer is "NAME ARGS":
 * a function call with that name and JSON arguments, content null). Unknown inputs get
 * "unknown" at 0.5. The log's fourth column is the names of the tools the request offered. */
#include "config.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct {
   char *model, *input, *answer, *alt;
   double confidence;
   long delay_ms, fail_n, fail_status, always_status;
   int malformed, nologprobs, toolcall;
   long seen, sampled;
} Entry;

static Entry *entries;
static int nentries;
static FILE *reqlog;
static struct event_base *base;

static void load_map(const char *model, const char *path) {
   FILE *f = fopen(path, "r");
   if (!f) {
      perror(path);
      exit(1);
   }
   char line[4096];
   while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n")] = '\0';
      if (!*line)
         continue;
      char *fields[4] = { 0 };
      char *p = line;
      for (int i = 0; i < 4 && p; i++) {
         fields[i] = p;
         p = strchr(p, '\t');
         if (p)
            *p++ = '\0';
      }
      entries = realloc(entries, (size_t)(nentries + 1) * sizeof *entries);
      Entry *e = &entries[nentries++];
      memset(e, 0, sizeof *e);
      e->model = strdup(model);
      e->input = strdup(fields[0]);
      e->answer = strdup(fields[1] ? fields[1] : "");
      e->confidence = fields[2] ? atof(fields[2]) : 1.0;
      for (char *save = NULL, *tok = fields[3] ? strtok_r(fields[3], ",", &save) : NULL; tok;
           tok = strtok_r(NULL, ",", &save)) {
         if (strncmp(tok, "delay=", 6) == 0)
            e->delay_ms = atol(tok + 6);
         else if (strncmp(tok, "fail=", 5) == 0)
            sscanf(tok + 5, "%ld:%ld", &e->fail_n, &e->fail_status);
         else if (strncmp(tok, "always=", 7) == 0)
            e->always_status = atol(tok + 7);
         else if (strcmp(tok, "malformed") == 0)
            e->malformed = 1;
         else if (strcmp(tok, "nologprobs") == 0)
            e->nologprobs = 1;
         else if (strcmp(tok, "toolcall") == 0)
            e->toolcall = 1;
         else if (strncmp(tok, "alt=", 4) == 0)
            e->alt = strdup(tok + 4);
      }
   }
   fclose(f);
}

typedef struct {
   struct evhttp_request *req;
   int status;
   char *body;
} Reply;

static void send_reply(evutil_socket_t fd, short what, void *arg) {
   Reply *r = arg;
   struct evbuffer *b = evbuffer_new();
   evbuffer_add(b, r->body, strlen(r->body));
   evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", "application/json");
   if (r->status == 429)
      evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "0");
   evhttp_send_reply(r->req, r->status, r->status == 200 ? "OK" : "Scripted", b);
   evbuffer_free(b);
   free(r->body);
   free(r);
}

static void on_chat(struct evhttp_request *req, void *arg) {
   struct evbuffer *in = evhttp_request_get_input_buffer(req);
   size_t len = evbuffer_get_length(in);
   char *text = malloc(len + 1);
   evbuffer_remove(in, text, len);
   text[len] = '\0';
   json_t *j = json_loads(text, 0, NULL);
   free(text);
   const char *model = json_string_value(json_object_get(j, "model"));
   json_t *msgs = json_object_get(j, "messages");
   const char *input = json_string_value(json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "content"));
   json_t *temp = json_object_get(j, "temperature");
   int sampled = !(json_is_number(temp) && json_number_value(temp) == 0);
   char tools[256] = "";
   size_t ti;
   json_t *tool;
   json_array_foreach(json_object_get(j, "tools"), ti, tool) {
      const char *name = json_string_value(json_object_get(json_object_get(tool, "function"), "name"));
      size_t used = strlen(tools);
      snprintf(tools + used, sizeof tools - used, "%s%s", used ? "," : "", name ? name : "?");
   }
   fprintf(reqlog, "%s\t%s\t%s\t%s\n", model ? model : "", input ? input : "", sampled ? "sampled" : "t0", tools);
   fflush(reqlog);

   Entry *e = NULL;
   for (int i = 0; i < nentries && model && input; i++) {
      if (strcmp(entries[i].model, model) == 0 && strcmp(entries[i].input, input) == 0)
         e = &entries[i];
   }
   Reply *r = calloc(1, sizeof *r);
   r->req = req;
   r->status = 200;
   const char *answer = e ? e->answer : "unknown";
   double conf = e ? e->confidence : 0.5;
   long delay = 0;
   if (e) {
      e->seen++;
      delay = e->delay_ms;
      if (e->always_status)
         r->status = (int)e->always_status;
      else if (e->seen <= e->fail_n)
         r->status = (int)e->fail_status;
      if (sampled && e->alt && (e->sampled++ % 2))
         answer = e->alt;
   }
   if (r->status != 200) {
      r->body = strdup("{\"error\":{\"message\":\"scripted failure\",\"type\":\"server_error\"}}");
   } else if (e && e->malformed) {
      r->body = strdup("{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[]}");
   } else {
      double lp = log(conf > 0 ? conf : 1e-9);
      json_t *choice = json_pack("{s:i, s:{s:s, s:s}, s:s}", "index", 0, "message", "role", "assistant", "content",
                                 answer, "finish_reason", "stop");
      if (e && e->toolcall) {
         const char *sp = strchr(answer, ' ');
         char *name = sp ? strndup(answer, (size_t)(sp - answer)) : strdup(answer);
         json_t *msg = json_object_get(choice, "message");
         json_object_set_new(msg, "content", json_null());
         json_object_set_new(msg, "tool_calls", json_pack("[{s:s, s:s, s:{s:s, s:s}}]", "id", "call_standin", "type",
                                                         "function", "function", "name", name, "arguments",
                                                         sp ? sp + 1 : "{}"));
         json_object_set_new(choice, "finish_reason", json_string("tool_calls"));
         free(name);
      } else if (!(e && e->nologprobs)) {
         json_t *top = json_pack("[{s:s, s:f}]", "token", answer, "logprob", lp);
         if (conf < 1)
            json_array_append_new(top, json_pack("{s:s, s:f}", "token", "other", "logprob", log(1 - conf)));
         json_object_set_new(choice, "logprobs",
                             json_pack("{s:[{s:s, s:f, s:o}]}", "content", "token", answer, "logprob", lp, "top_logprobs", top));
      }
      json_t *resp = json_pack("{s:s, s:s, s:s, s:[o], s:{s:i, s:i, s:i}}", "id", "chatcmpl-standin", "object",
                               "chat.completion", "model", model ? model : "", "choices", choice, "usage",
                               "prompt_tokens", 10, "completion_tokens", 2, "total_tokens", 12);
      r->body = json_dumps(resp, JSON_COMPACT);
      json_decref(resp);
   }
   json_decref(j);
   struct timeval tv = { delay / 1000, (delay % 1000) * 1000 };
   event_base_once(base, -1, EV_TIMEOUT, send_reply, r, &tv);
}

static void on_stop(evutil_socket_t fd, short what, void *arg) {
   event_base_loopbreak(base);
}

int main(int argc, char **argv) {
   const char *port_file = NULL, *log_path = NULL;
   long max_seconds = 300;
   signal(SIGPIPE, SIG_IGN);
   for (int i = 1; i < argc; i++) {
      if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
         port_file = argv[++i];
      else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc)
         log_path = argv[++i];
      else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc)
         max_seconds = atol(argv[++i]);
      else {
         char *eq = strchr(argv[i], '=');
         if (!eq) {
            fprintf(stderr, "standin_model: '%s' is not MODEL=MAPFILE\n", argv[i]);
            return 2;
         }
         *eq = '\0';
         load_map(argv[i], eq + 1);
      }
   }
   if (!port_file || !log_path) {
      fprintf(stderr, "usage: standin_model --port-file F --log F [--max-seconds N] MODEL=MAPFILE...\n");
      return 2;
   }
   reqlog = fopen(log_path, "a");
   base = event_base_new();
   struct evhttp *http = evhttp_new(base);
   evhttp_set_cb(http, "/v1/chat/completions", on_chat, NULL);
   struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
   if (!sock || !reqlog) {
      fprintf(stderr, "standin_model: cannot listen on 127.0.0.1 or open the log\n");
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
   event_add(term, NULL);
   event_base_dispatch(base);
   event_free(term);
   evhttp_free(http);
   event_base_free(base);
   fclose(reqlog);
   for (int i = 0; i < nentries; i++) {
      free(entries[i].model);
      free(entries[i].input);
      free(entries[i].answer);
      free(entries[i].alt);
   }
   free(entries);
   return 0;
}
