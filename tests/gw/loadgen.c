/* loadgen.c - a small load client for the gateway tests (libcurl multi): N chat requests at
 * concurrency C, each answer checked, arms counted, canary stickiness checked per user.
 * Prints one JSON summary line. */
#include "config.h"

#include <curl/curl.h>
#include <getopt.h>
#include <stdbool.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

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
   const char *url, *task, *model;
   long n, c, users;
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
      default: fprintf(stderr, "loadgen: bad option\n"); return 2;
      }
   }
   if (!opt.url) {
      fprintf(stderr, "loadgen: --url is required\n");
      return 2;
   }
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
