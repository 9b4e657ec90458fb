/* loadgen.c - a small load client for the gateway tests and bench. Closed loop (libcurl
 * multi): N chat requests at concurrency C, each answer checked, arms counted, canary
 * stickiness checked per user. Open loop (--rate, libevent's HTTP client): requests sent at
 * evenly spaced times on C keep-alive connections, latency timed from each request's
 * scheduled send time, so a slow answer delays no measurement (no coordinated omission).
 * With --task-b and --window, the requests of every other window go to the second task, so
 * two routes are measured side by side under the same conditions (drift, other load);
 * --url-b does the same with a second address (its own C connections), e.g. the gateway
 * against the upstream it fronts;
 * --latencies FILE writes every latency ("a MS" / "b MS" lines) for pooling runs.
 * Prints one JSON summary line. */
#include "config.h"

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <getopt.h>
#include <stdbool.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

typedef struct {
   CURL *e;
   long i;
   char *body;
   char *buf;
   size_t len;
   char arm[16];
   double t0;
   struct curl_slist *h;
} Req;

static struct {
   const char *url, *task, *model, *body_file, *task_b, *url_b, *latencies;
   double window;
   long n, c, users;
   double rate, seconds;
   bool expect_echo, stream;
   struct curl_slist *extra;
} opt = { .n = 100, .c = 8, .model = "gpt-test" };

static long ok, wrong, http_err, transport_err, arms[3], sticky_violations, status_count[600];
static double *lat;
static long nlat;
static signed char *user_arm;   /* per user: -1 unseen, 0 primary side, 1 candidate side */

static double now_ms(void) {
   struct timeval tv;
   gettimeofday(&tv, NULL);
   return tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
}

static size_t on_body(char *p, size_t s, size_t n, void *ud) {
   Req *r = ud;
   r->buf = realloc(r->buf, r->len + s * n + 1);
   memcpy(r->buf + r->len, p, s * n);
   r->len += s * n;
   r->buf[r->len] = '\0';
   return s * n;
}

static size_t on_header(char *p, size_t s, size_t n, void *ud) {
   Req *r = ud;
   size_t len = s * n;
   if (len > 15 && strncasecmp(p, "X-Offramp-Arm: ", 15) == 0) {
      size_t k = len - 15;
      while (k && (p[15 + k - 1] == '\r' || p[15 + k - 1] == '\n'))
         k--;
      if (k >= sizeof r->arm)
         k = sizeof r->arm - 1;
      memcpy(r->arm, p + 15, k);
      r->arm[k] = '\0';
   }
   return len;
}

static void start(CURLM *m, Req *r, long i) {
   memset(r, 0, sizeof *r);
   r->i = i;
   r->e = curl_easy_init();
   char q[32];
   snprintf(q, sizeof q, "q%ld", i);
   json_t *b = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "model", opt.model, "messages", "role", "system",
                         "content", "Classify the ticket.", "role", "user", "content", q);
   if (opt.users) {
      char u[32];
      snprintf(u, sizeof u, "u%ld", i % opt.users);
      json_object_set_new(b, "user", json_string(u));
   }
   if (opt.stream)
      json_object_set_new(b, "stream", json_true());
   r->body = json_dumps(b, JSON_COMPACT);
   json_decref(b);
   r->h = curl_slist_append(NULL, "Content-Type: application/json");
   r->h = curl_slist_append(r->h, "Expect:");
   if (opt.task) {
      char h[256];
      snprintf(h, sizeof h, "X-Offramp-Task: %s", opt.task);
      r->h = curl_slist_append(r->h, h);
   }
   for (struct curl_slist *x = opt.extra; x; x = x->next)
      r->h = curl_slist_append(r->h, x->data);
   curl_easy_setopt(r->e, CURLOPT_URL, opt.url);
   curl_easy_setopt(r->e, CURLOPT_POSTFIELDS, r->body);
   curl_easy_setopt(r->e, CURLOPT_HTTPHEADER, r->h);
   curl_easy_setopt(r->e, CURLOPT_WRITEFUNCTION, on_body);
   curl_easy_setopt(r->e, CURLOPT_WRITEDATA, r);
   curl_easy_setopt(r->e, CURLOPT_HEADERFUNCTION, on_header);
   curl_easy_setopt(r->e, CURLOPT_HEADERDATA, r);
   curl_easy_setopt(r->e, CURLOPT_PRIVATE, r);
   curl_easy_setopt(r->e, CURLOPT_TIMEOUT, 60L);
   curl_easy_setopt(r->e, CURLOPT_NOSIGNAL, 1L);
   r->t0 = now_ms();
   curl_multi_add_handle(m, r->e);
}

static void check(Req *r, CURLcode code) {
   lat[nlat++] = now_ms() - r->t0;
   long status = 0;
   curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &status);
   if (code != CURLE_OK) {
      transport_err++;
      return;
   }
   if (status > 0 && status < 600)
      status_count[status]++;
   if (status != 200) {
      http_err++;
      return;
   }
   int side = strcmp(r->arm, "candidate") == 0 ? 1 : 0;
   arms[strcmp(r->arm, "candidate") == 0 ? 1 : strcmp(r->arm, "fallback") == 0 ? 2 : 0]++;
   if (opt.users) {
      long u = r->i % opt.users;
      if (user_arm[u] < 0)
         user_arm[u] = (signed char)side;
      else if (user_arm[u] != side)
         sticky_violations++;
   }
   if (opt.expect_echo && !opt.stream) {
      json_t *j = json_loads(r->buf ? r->buf : "", 0, NULL);
      const char *content = json_string_value(
         json_object_get(json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"), "content"));
      char want[48];
      snprintf(want, sizeof want, "echo:q%ld", r->i);
      if (content && strcmp(content, want) == 0)
         ok++;
      else
         wrong++;
      json_decref(j);
   } else {
      ok++;
   }
}

static int cmp(const void *a, const void *b) {
   double x = *(const double *)a, y = *(const double *)b;
   return x < y ? -1 : x > y;
}

/* ---- open loop: --rate ---- */

typedef struct Conn {
   struct evhttp_connection *con;
   long i;                      /* the request in flight */
   int side;                    /* 0: --url, 1: --url-b */
   struct Conn *next_idle;
} Conn;

/* Where requests go: --url, and --url-b in odd windows. */
typedef struct {
   struct evhttp_uri *uri;
   Conn *idle;
   long *backlog;               /* scheduled requests waiting for a free connection (FIFO) */
   long bl_head, bl_tail;
} Target;

static struct {
   struct event_base *base;
   struct event *timer;
   Target to[2];
   char *body;
   size_t body_len;
   long total, next, done, ok, errors, waited;
   double t0;
   double *lat, *lat_b;   /* latencies of the first task's windows and of the second's */
   long nlat, nlat_b;
} R;

static double mono_ms(void) {
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double sched_ms(long i) {
   return R.t0 + (double)i * 1e3 / opt.rate;
}

static void rate_done(struct evhttp_request *req, void *arg);

/* Request i goes to --task-b or --url-b: it is scheduled in an odd window. */
static bool in_b(long i) {
   return (opt.task_b || opt.url_b) && (long)floor((sched_ms(i) - R.t0) / (opt.window * 1e3)) % 2 == 1;
}

static void rate_send(Conn *c, long i) {
   c->i = i;
   struct evhttp_request *req = evhttp_request_new(rate_done, c);
   struct evkeyvalq *h = evhttp_request_get_output_headers(req);
   struct evhttp_uri *uri = R.to[c->side].uri;
   evhttp_add_header(h, "Host", evhttp_uri_get_host(uri));
   evhttp_add_header(h, "Content-Type", "application/json");
   const char *task = in_b(i) && opt.task_b ? opt.task_b : opt.task;
   if (task)
      evhttp_add_header(h, "X-Offramp-Task", task);
   for (struct curl_slist *x = opt.extra; x; x = x->next) {
      char *colon = strchr(x->data, ':');
      if (!colon)
         continue;
      char name[128];
      size_t n = (size_t)(colon - x->data) < sizeof name - 1 ? (size_t)(colon - x->data) : sizeof name - 1;
      memcpy(name, x->data, n);
      name[n] = '\0';
      evhttp_add_header(h, name, colon + 1 + strspn(colon + 1, " "));
   }
   evbuffer_add_reference(evhttp_request_get_output_buffer(req), R.body, R.body_len, NULL, NULL);
   evhttp_make_request(c->con, req, EVHTTP_REQ_POST, evhttp_uri_get_path(uri));
}

static void rate_done(struct evhttp_request *req, void *arg) {
   Conn *c = arg;
   if (req && evhttp_request_get_response_code(req) == 200) {
      R.ok++;
      double ms = mono_ms() - sched_ms(c->i);
      if (in_b(c->i))
         R.lat_b[R.nlat_b++] = ms;
      else
         R.lat[R.nlat++] = ms;
   } else {
      R.errors++;
   }
   R.done++;
   Target *t = &R.to[c->side];
   if (t->bl_head < t->bl_tail) {
      rate_send(c, t->backlog[t->bl_head++]);
   } else {
      c->next_idle = t->idle;
      t->idle = c;
   }
   if (R.done == R.total)
      event_base_loopexit(R.base, NULL);
}

/* Sends every request whose time has come, then sleeps until the next one's. */
static void rate_tick(evutil_socket_t fd, short what, void *arg) {
   double now = mono_ms();
   while (R.next < R.total && sched_ms(R.next) <= now) {
      long i = R.next++;
      Target *t = &R.to[opt.url_b && in_b(i)];
      if (t->idle) {
         Conn *c = t->idle;
         t->idle = c->next_idle;
         rate_send(c, i);
      } else {
         R.waited++;
         t->backlog[t->bl_tail++] = i;
      }
   }
   if (R.next < R.total) {
      double wait = sched_ms(R.next) - now;
      struct timeval tv = { (time_t)(wait / 1e3), (suseconds_t)(fmod(wait, 1e3) * 1e3) };
      evtimer_add(R.timer, &tv);
   }
}

static double pct_of(const double *sorted, long n, double q) {
   if (!n)
      return 0;
   long k = (long)ceil(q * (double)n) - 1;
   return sorted[k < 0 ? 0 : k];
}

static double pct(double q) {
   return pct_of(R.lat, R.nlat, q);
}

static int rate_main(void) {
   int sides = opt.url_b ? 2 : 1;
   for (int s = 0; s < sides; s++) {
      const char *url = s ? opt.url_b : opt.url;
      R.to[s].uri = evhttp_uri_parse(url);
      if (!R.to[s].uri || !evhttp_uri_get_host(R.to[s].uri)) {
         fprintf(stderr, "loadgen: %s %s is not an http URL\n", s ? "--url-b" : "--url", url);
         return 2;
      }
   }
   FILE *fp = opt.body_file ? fopen(opt.body_file, "rb") : NULL;
   if (!fp) {
      fprintf(stderr, "loadgen: --rate needs --body-file FILE (the request body)\n");
      return 2;
   }
   R.body = malloc(1 << 20);
   R.body_len = fread(R.body, 1, 1 << 20, fp);
   fclose(fp);
   while (R.body_len && (R.body[R.body_len - 1] == '\n' || R.body[R.body_len - 1] == '\r'))
      R.body_len--;
   struct event_config *cfg = event_config_new();
   /* Microsecond timers (timerfd): at thousands of requests a second, millisecond ticks
    * would send them in bursts. */
   event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
   R.base = event_base_new_with_config(cfg);
   event_config_free(cfg);
   R.total = (long)(opt.rate * opt.seconds);
   R.lat = calloc((size_t)R.total + 1, sizeof *R.lat);
   R.lat_b = calloc((size_t)R.total + 1, sizeof *R.lat_b);
   long nconns = sides * opt.c;
   Conn *conns = calloc((size_t)nconns, sizeof *conns);
   for (int s = 0; s < sides; s++) {
      Target *t = &R.to[s];
      t->backlog = calloc((size_t)R.total + 1, sizeof *t->backlog);
      int port = evhttp_uri_get_port(t->uri);
      for (long k = s * opt.c; k < (s + 1) * opt.c; k++) {
         conns[k].con = evhttp_connection_base_new(R.base, NULL, evhttp_uri_get_host(t->uri), port > 0 ? port : 80);
         evhttp_connection_set_timeout(conns[k].con, 60);
         conns[k].side = s;
         conns[k].next_idle = t->idle;
         t->idle = &conns[k];
      }
   }
   R.timer = evtimer_new(R.base, rate_tick, NULL);
   R.t0 = mono_ms();
   if (R.total > 0) {
      rate_tick(-1, 0, NULL);
      event_base_dispatch(R.base);
   }
   double secs = (mono_ms() - R.t0) / 1e3;
   qsort(R.lat, (size_t)R.nlat, sizeof *R.lat, cmp);
   qsort(R.lat_b, (size_t)R.nlat_b, sizeof *R.lat_b, cmp);
   if (opt.task_b || opt.url_b)
      printf("{\"a\":{\"url\":\"%s\",\"task\":\"%s\",\"n\":%ld,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f},"
             "\"b\":{\"url\":\"%s\",\"task\":\"%s\",\"n\":%ld,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f},",
             opt.url, opt.task ? opt.task : "", R.nlat, pct(0.5), pct(0.99), pct(0.999),
             opt.url_b ? opt.url_b : opt.url, opt.task_b ? opt.task_b : opt.task ? opt.task : "", R.nlat_b,
             pct_of(R.lat_b, R.nlat_b, 0.5), pct_of(R.lat_b, R.nlat_b, 0.99), pct_of(R.lat_b, R.nlat_b, 0.999));
   else
      printf("{");
   printf("\"rate\":%.0f,\"seconds\":%.1f,\"connections\":%ld,\"sent\":%ld,\"ok\":%ld,\"errors\":%ld,"
          "\"waited_for_connection\":%ld,\"elapsed\":%.2f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
          "\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
          opt.rate, opt.seconds, opt.c, R.next, R.ok, R.errors, R.waited, secs, pct(0.5), pct(0.9), pct(0.99),
          pct(0.999), R.nlat ? R.lat[R.nlat - 1] : 0);
   FILE *out = opt.latencies ? fopen(opt.latencies, "w") : NULL;
   if (opt.latencies && !out)
      fprintf(stderr, "loadgen: cannot write %s\n", opt.latencies);
   for (long k = 0; out && k < R.nlat; k++)
      fprintf(out, "a %.4f\n", R.lat[k]);
   for (long k = 0; out && k < R.nlat_b; k++)
      fprintf(out, "b %.4f\n", R.lat_b[k]);
   if (out)
      fclose(out);
   for (long k = 0; k < nconns; k++)
      evhttp_connection_free(conns[k].con);
   free(conns);
   event_free(R.timer);
   event_base_free(R.base);
   for (int s = 0; s < sides; s++) {
      evhttp_uri_free(R.to[s].uri);
      free(R.to[s].backlog);
   }
   free(R.body);
   free(R.lat);
   free(R.lat_b);
   curl_slist_free_all(opt.extra);
   return R.errors ? 1 : 0;
}

int main(int argc, char **argv) {
   static const struct option opts[] = {
      { "url", required_argument, NULL, 'u' },
      { "requests", required_argument, NULL, 'n' },
      { "concurrency", required_argument, NULL, 'c' },
      { "task", required_argument, NULL, 't' },
      { "model", required_argument, NULL, 'm' },
      { "users", required_argument, NULL, 'U' },
      { "header", required_argument, NULL, 'H' },
      { "expect-echo", no_argument, NULL, 'e' },
      { "stream", no_argument, NULL, 's' },
      { "rate", required_argument, NULL, 'r' },
      { "seconds", required_argument, NULL, 'S' },
      { "body-file", required_argument, NULL, 'b' },
      { "task-b", required_argument, NULL, 'B' },
      { "url-b", required_argument, NULL, 'V' },
      { "window", required_argument, NULL, 'w' },
      { "latencies", required_argument, NULL, 'L' },
      { 0 },
   };
   int c;
   while ((c = getopt_long(argc, argv, "u:n:c:", opts, NULL)) != -1) {
      switch (c) {
      case 'u': opt.url = optarg; break;
      case 'n': opt.n = atol(optarg); break;
      case 'c': opt.c = atol(optarg); break;
      case 't': opt.task = optarg; break;
      case 'm': opt.model = optarg; break;
      case 'U': opt.users = atol(optarg); break;
      case 'H': opt.extra = curl_slist_append(opt.extra, optarg); break;
      case 'e': opt.expect_echo = true; break;
      case 's': opt.stream = true; break;
      case 'r': opt.rate = atof(optarg); break;
      case 'S': opt.seconds = atof(optarg); break;
      case 'b': opt.body_file = optarg; break;
      case 'B': opt.task_b = optarg; break;
      case 'V': opt.url_b = optarg; break;
      case 'w': opt.window = atof(optarg); break;
      case 'L': opt.latencies = optarg; break;
      default: fprintf(stderr, "loadgen: bad option\n"); return 2;
      }
   }
   if (!opt.url) {
      fprintf(stderr, "loadgen: --url is required\n");
      return 2;
   }
   if ((opt.task_b || opt.url_b) && (opt.rate <= 0 || opt.window <= 0)) {
      fprintf(stderr, "loadgen: --task-b and --url-b need --rate and --window SECONDS\n");
      return 2;
   }
   if (opt.rate > 0)
      return rate_main();
   curl_global_init(CURL_GLOBAL_DEFAULT);
   CURLM *m = curl_multi_init();
   curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, opt.c);
   Req *reqs = calloc((size_t)opt.c, sizeof *reqs);
   lat = calloc((size_t)opt.n + 1, sizeof *lat);
   if (opt.users) {
      user_arm = malloc((size_t)opt.users);
      memset(user_arm, -1, (size_t)opt.users);
   }
   long next = 0, done = 0;
   double t0 = now_ms();
   for (long k = 0; k < opt.c && next < opt.n; k++)
      start(m, &reqs[k], next++);
   while (done < opt.n) {
      int running;
      curl_multi_perform(m, &running);
      CURLMsg *msg;
      int left;
      while ((msg = curl_multi_info_read(m, &left))) {
         if (msg->msg != CURLMSG_DONE)
            continue;
         Req *r;
         curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
         check(r, msg->data.result);
         curl_multi_remove_handle(m, r->e);
         curl_easy_cleanup(r->e);
         curl_slist_free_all(r->h);
         free(r->body);
         free(r->buf);
         done++;
         if (next < opt.n)
            start(m, r, next++);
      }
      if (done < opt.n)
         curl_multi_poll(m, NULL, 0, 100, NULL);
   }
   double secs = (now_ms() - t0) / 1e3;
   qsort(lat, (size_t)nlat, sizeof *lat, cmp);
   printf("{\"sent\":%ld,\"ok\":%ld,\"wrong\":%ld,\"http_errors\":%ld,\"transport_errors\":%ld,"
          "\"primary\":%ld,\"candidate\":%ld,\"fallback\":%ld,\"sticky_violations\":%ld,"
          "\"status_200\":%ld,\"status_502\":%ld,\"status_504\":%ld,\"seconds\":%.2f,\"rps\":%.0f,"
          "\"p50_ms\":%.2f,\"p99_ms\":%.2f}\n",
          opt.n, ok, wrong, http_err, transport_err, arms[0], arms[1], arms[2], sticky_violations, status_count[200],
          status_count[502], status_count[504], secs, opt.n / secs, nlat ? lat[nlat / 2] : 0,
          nlat ? lat[(long)floor(0.99 * (nlat - 1))] : 0);
   curl_multi_cleanup(m);
   curl_slist_free_all(opt.extra);
   free(reqs);
   free(lat);
   free(user_arm);
   curl_global_cleanup();
   return 0;
}
