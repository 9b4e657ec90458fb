/* fuzz_http.c - libFuzzer target over the whole request path, headers included: each input is
 * written as raw bytes (request line, headers, body, several pipelined requests if it likes) to
 * the gateway's HTTP front end (httpfront) on an event base in this process, through
 * a Unix socket, and read back until the server closes. The server dispatches as the gateway's on_request does and runs the
 * gateway's own intake (Gateway_intake: method, body, X-Offramp-Task attribution and checks,
 * Authorization), answering through httpreply like the gateway. Checked beyond "no crash": what
 * the gateway forwards upstream (Authorization, the model's place in the body) and what it
 * records (the task) is safe to forward and record. Built and run by bench/fuzz.sh http. */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/jsonscan.h"
#include "common/util.h"
#include "fuzz_routes.h"
#include "gateway/gwintake.h"
#include "gateway/route.h"
#include "http/httpfront.h"
#include "http/httpreply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static HttpFront *front;
static struct sockaddr_un addr;
static socklen_t addr_len;
static Route *routes[2];
/* A connection the server does not close within this after the client's EOF is a hang. */
static const struct timeval bound = { 20, 0 };

typedef struct {
   const uint8_t *data;
   size_t size, sent;
   int fd;
   bool done;
   struct event *ev;
} Client;

static bool valid_utf8(const char *s) {
   char *clean = Utf8_clean(s, strlen(s));
   bool same = strcmp(clean, s) == 0;
   free(clean);
   return same;
}

static void check_chat(HttpReq *req) {
   GwIntake in;
   if (!Gateway_intake(req, routes, 2, &in)) {
      Reply_error(req, in.status, "invalid_request_error", NULL, NULL, "%s", in.why);
      free(in.why);
      return;
   }
   /* Forwarded to the primary as a header line: a CR or LF in it would be header injection. */
   if (in.auth && strpbrk(in.auth, "\r\n"))
      abort();
   /* Recorded as the task and created as one: must read back as the same text. */
   if (in.task && !valid_utf8(in.task))
      abort();
   /* arm_body splices another model over exactly this range of the client's text. */
   if (!in.rq.parsed && in.rq.model_len) {
      const char *v = in.body + in.rq.model_at;
      if (in.rq.model_at + in.rq.model_len > in.len || Jsonscan_value(v, v + in.rq.model_len) != v + in.rq.model_len)
         abort();
   }
   const char *ctype = HttpReq_header(req, "Content-Type");
   Reply_json(req, 200,
              json_pack("{s:o, s:o, s:o, s:o, s:b}", "task", Json_textz(in.task), "model", Json_textz(in.rq.model),
                        "user", Json_textz(in.rq.user), "content_type", Json_textz(ctype), "stream", in.rq.stream));
   GwRequest_clear(&in.rq);
}

/* The gateway's on_request dispatch, with stand-ins for what needs a workspace. */
static void on_request(HttpReq *req, void *arg) {
   (void)arg;
   const char *path = HttpReq_path(req);
   if (str_eq(path, "/v1/chat/completions")) {
      check_chat(req);
   } else if (str_startswith(path, "/admin/")) {
      struct evkeyvalq q = { 0 };
      const char *query = HttpReq_query(req);
      if (query && evhttp_parse_query_str(query, &q) != 0) {
         Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "the query string is malformed");
         return;
      }
      char *task = evhttp_uridecode(path + strlen("/admin/"), 0, NULL);
      Reply_error(req, 404, "not_found_error", NULL, NULL, "no route for task %s (stats for %s)", task ? task : "",
                  evhttp_find_header(&q, "task") ? evhttp_find_header(&q, "task") : "-");
      free(task);
      evhttp_clear_headers(&q);
   } else {
      Reply_error(req, 404, "not_found_error", NULL, NULL, "no such endpoint %s", path);
   }
}

static void setup(void) {
   signal(SIGPIPE, SIG_IGN);
   fuzz_routes(routes, "{\"url\":\"http://127.0.0.1:9/v1\",\"model\":\"small\"}");
   base = event_base_new();
   /* The gateway's front end with its limits, as Gateway_run sets it up. */
   HttpLimits lim = HTTP_LIMITS_DEFAULT;
   lim.request_timeout = 10;
   lim.keepalive_timeout = 30;
   lim.methods = HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_HEAD | HTTP_DELETE |
                 HTTP_PATCH | HTTP_OPTIONS;
   front = HttpFront_new(base, "fuzz_http", &lim, on_request, NULL);
   /* An abstract Unix socket: no file to clean up, and no TIME_WAIT to run out of ports with. */
   int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
   memset(&addr, 0, sizeof addr);
   addr.sun_family = AF_UNIX;
   int n = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "offramp-fuzz-http-%d", (int)getpid());
   addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
   char *err = NULL;
   if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, addr_len) != 0 || listen(lfd, 16) != 0 ||
       !HttpFront_listen_fd(front, lfd, &err)) {
      fprintf(stderr, "fuzz_http: listening socket: %s\n", err ? err : strerror(errno));
      abort();
   }
}

static void on_client(evutil_socket_t fd, short what, void *arg) {
   Client *c = arg;
   if (what & EV_WRITE) {
      while (c->sent < c->size) {
         ssize_t k = send(fd, c->data + c->sent, c->size - c->sent, MSG_NOSIGNAL);
         if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
         if (k <= 0) {
            c->sent = c->size;   /* the server closed first: a 400 for bad bytes */
            break;
         }
         c->sent += (size_t)k;
      }
      if (c->sent == c->size) {
         /* The end of the input is the end of the connection: the server sees EOF and closes. */
         shutdown(fd, SHUT_WR);
         event_del(c->ev);
         event_assign(c->ev, base, fd, EV_READ | EV_PERSIST, on_client, c);
         event_add(c->ev, &bound);
      }
   }
   if (what & EV_READ) {
      char buf[16384];
      ssize_t k;
      while ((k = recv(fd, buf, sizeof buf, 0)) > 0)
         ;
      if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
         c->done = true;
         event_base_loopbreak(base);
      }
   }
   if (what & EV_TIMEOUT) {
      fprintf(stderr, "fuzz_http: the server did not close the connection in 20 s after the client's EOF\n");
      abort();
   }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
   if (!base)
      setup();
   Client c = { .data = data, .size = size };
   c.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
   if (c.fd < 0 || connect(c.fd, (struct sockaddr *)&addr, addr_len) != 0) {
      perror("fuzz_http: connect");
      abort();
   }
   /* Reading from the start: the server may answer (and close) before it has read it all. */
   c.ev = event_new(base, c.fd, EV_READ | EV_WRITE | EV_PERSIST, on_client, &c);
   event_add(c.ev, &bound);
   while (!c.done)
      event_base_loop(base, EVLOOP_ONCE);
   event_free(c.ev);
   close(c.fd);
   /* Let the server side finish closing its end before the next input. */
   event_base_loop(base, EVLOOP_NONBLOCK);
   return 0;
}
