/* replay.c - logged requests replayed at a steady rate with libcurl multi, bounded in flight. */
#include "config.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "replay/replay.h"

void ReplayOpts_defaults(ReplayOpts *o) {
   memset(o, 0, sizeof *o);
   o->rate = 10;
   o->concurrency = 16;
   o->timeout_ms = 30000;
   o->interval = 0.5;
}

typedef struct {
   CURL *easy;
   struct curl_slist *headers;
   double started;
   int arm;   /* -1 unknown */
} Transfer;

static size_t discard(char *p, size_t size, size_t n, void *ctx) {
   (void)p;
   (void)ctx;
   return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx) {
   Transfer *t = ctx;
   size_t len = size * n;
   static const char name[] = "x-offramp-arm:";
   if (len > sizeof name && strncasecmp(p, name, sizeof name - 1) == 0) {
      const char *v = p + sizeof name - 1;
      while (*v == ' ')
         v++;
      t->arm = strncmp(v, "primary", 7) == 0 ? 0 : strncmp(v, "candidate", 9) == 0 ? 1 : strncmp(v, "fallback", 8) == 0 ? 2 : -1;
   }
   return len;
}

static void add_latency(ReplayStats *s, double ms) {
   if (s->nlat == s->caplat) {
      s->caplat = s->caplat ? 2 * s->caplat : 1024;
      s->lat = xrealloc(s->lat, (size_t)s->caplat * sizeof *s->lat);
   }
   s->lat[s->nlat++] = ms;
}

static void finish(CURLM *multi, CURLMsg *msg, ReplayStats *s) {
   Transfer *t;
   curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
   long status = 0;
   if (msg->data.result == CURLE_OK)
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
   s->done++;
   int cls = status >= 100 && status < 600 ? (int)(status / 100) : 0;
   s->by_class[cls]++;
   if (cls == 2)
      s->ok++;
   else
      s->errors++;
   if (!status)
      s->transport++;
   else
      add_latency(s, 1000.0 * (mono_seconds() - t->started));
   if (t->arm >= 0)
      s->arms[t->arm]++;
   curl_multi_remove_handle(multi, msg->easy_handle);
   curl_easy_cleanup(msg->easy_handle);
   curl_slist_free_all(t->headers);
   free(t);
}

bool Replay_run(const Recorded *calls, const ReplayOpts *o, ReplayStats *s, char **err) {
   memset(s, 0, sizeof *s);
   if (calls->n == 0) {
      *err = xstrdup("no logged requests to replay");
      return false;
   }
   if (!str_startswith(o->url, "http://") && !str_startswith(o->url, "https://")) {
      *err = xasprintf("--to '%s' is not an http:// or https:// URL (the gateway, e.g. http://127.0.0.1:8400)", o->url);
      return false;
   }
   size_t ulen = strlen(o->url);
   while (ulen && o->url[ulen - 1] == '/')
      ulen--;
   bool has_v1 = ulen >= 3 && strncmp(o->url + ulen - 3, "/v1", 3) == 0;
   char *url = xasprintf("%.*s%s/chat/completions", (int)ulen, o->url, has_v1 ? "" : "/v1");
   long total = o->count > 0 ? o->count : o->duration > 0 ? -1 : (long)calls->n;
   CURLM *multi = curl_multi_init();
   int inflight = 0, conc = o->concurrency > 0 ? o->concurrency : 1;
   double start = mono_seconds(), last_progress = start;
   for (;;) {
      double now = mono_seconds();
      s->elapsed = now - start;
      bool stopping = (o->stop && *o->stop) || (o->duration > 0 && s->elapsed >= o->duration) ||
                      (total >= 0 && s->sent >= total);
      if (stopping && inflight == 0)
         break;
      long due = o->rate > 0 ? (long)(s->elapsed * o->rate) + 1 - s->sent : conc;
      while (!stopping && due > 0 && inflight < conc && (total < 0 || s->sent < total)) {
         const RecordedCall *c = &calls->v[(size_t)s->sent % calls->n];
         Transfer *t = xcalloc(1, sizeof *t);
         t->arm = -1;
         t->headers = curl_slist_append(NULL, "Content-Type: application/json");
         /* The gateway marks these records and keeps them out of the audit figures. */
         t->headers = curl_slist_append(t->headers, "X-Offramp-Replay: 1");
         if (c->task) {
            char *h = xasprintf("X-Offramp-Task: %s", c->task);
            t->headers = curl_slist_append(t->headers, h);
            free(h);
         }
         t->easy = curl_easy_init();
         curl_easy_setopt(t->easy, CURLOPT_URL, url);
         curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, c->request);
         curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
         curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, discard);
         curl_easy_setopt(t->easy, CURLOPT_HEADERFUNCTION, on_header);
         curl_easy_setopt(t->easy, CURLOPT_HEADERDATA, t);
         curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
         curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 30000L);
         curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
         curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "offramp-replay/" PACKAGE_VERSION);
         t->started = mono_seconds();
         curl_multi_add_handle(multi, t->easy);
         s->sent++;
         inflight++;
         due--;
      }
      int running;
      curl_multi_perform(multi, &running);
      CURLMsg *msg;
      int left;
      while ((msg = curl_multi_info_read(multi, &left))) {
         if (msg->msg == CURLMSG_DONE) {
            finish(multi, msg, s);
            inflight--;
         }
      }
      /* Wake for the next send slot, a finished transfer, or the progress tick. */
      double wait = 0.05;
      if (o->rate > 0 && !stopping) {
         double next = (double)s->sent / o->rate - (mono_seconds() - start);
         if (next < wait)
            wait = next > 0 ? next : 0;
      }
      curl_multi_poll(multi, NULL, 0, (int)(wait * 1000), NULL);
      if (o->progress && mono_seconds() - last_progress >= o->interval) {
         last_progress = mono_seconds();
         s->elapsed = last_progress - start;
         o->progress(o->ctx, s, false);
      }
   }
   s->elapsed = mono_seconds() - start;
   if (o->progress)
      o->progress(o->ctx, s, true);
   curl_multi_cleanup(multi);
   free(url);
   return true;
}

void ReplayStats_free(ReplayStats *s) {
   free(s->lat);
   memset(s, 0, sizeof *s);
}
