/* httpbatch.c - a bounded-concurrency POST loop over libcurl multi, with retries. */
#include "config.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "http/httpbatch.h"

typedef struct {
   HttpJob *job;
   CURL *easy;
   struct curl_slist *headers;
   Sbuf body;
   int attempts;
   double started;        /* mono seconds of the current attempt */
   double not_before;     /* retry back-off */
   long retry_after_ms;   /* from the server's Retry-After header, -1 when absent */
   char error[CURL_ERROR_SIZE];
} Slot;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud) {
   Sbuf_add(&((Slot *)ud)->body, p, size * nmemb);
   return size * nmemb;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
   size_t n = size * nmemb;
   static const char name[] = "retry-after:";
   if (n > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
      char *v = xstrndup(p + sizeof name - 1, n - (sizeof name - 1));
      long secs;
      if (parse_long(str_trim(v), &secs) && secs >= 0)
         ((Slot *)ud)->retry_after_ms = (secs > 30 ? 30 : secs) * 1000;
      free(v);
   }
   return n;
}

static void start(CURLM *multi, Slot *s, const HttpBatchOpts *o) {
   s->easy = curl_easy_init();
   if (!s->easy)
      die(70, "curl_easy_init failed");
   s->headers = curl_slist_append(NULL, "Content-Type: application/json");
   if (s->job->bearer) {
      char *auth = xasprintf("Authorization: Bearer %s", s->job->bearer);
      s->headers = curl_slist_append(s->headers, auth);
      free(auth);
   }
   Sbuf_reset(&s->body);
   s->error[0] = '\0';
   s->retry_after_ms = -1;
   curl_easy_setopt(s->easy, CURLOPT_URL, s->job->url);
   curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
   curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->job->body);
   curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_body);
   curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
   curl_easy_setopt(s->easy, CURLOPT_HEADERFUNCTION, on_header);
   curl_easy_setopt(s->easy, CURLOPT_HEADERDATA, s);
   curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->error);
   curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, o->timeout_ms);
   curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
   curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
   s->attempts++;
   s->started = mono_seconds();
   curl_multi_add_handle(multi, s->easy);
}

static void release(CURLM *multi, Slot *s) {
   curl_multi_remove_handle(multi, s->easy);
   curl_easy_cleanup(s->easy);
   curl_slist_free_all(s->headers);
   s->easy = NULL;
   s->headers = NULL;
}

/* Connection trouble, rate limits and server errors pass; a 4xx other than 429 will not. */
static bool transient(CURLcode rc, long status) {
   if (rc == CURLE_OK)
      return status == 429 || (status >= 500 && status != 501);
   return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_SEND_ERROR ||
          rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE;
}

static double backoff(const Slot *s, const HttpBatchOpts *o) {
   if (s->retry_after_ms >= 0)
      return s->retry_after_ms / 1000.0;
   double ms = (double)o->backoff_ms * (double)(1L << (s->attempts - 1 < 10 ? s->attempts - 1 : 10));
   ms *= 0.5 + 0.5 * ((double)rand() / RAND_MAX);
   return (ms > 10000 ? 10000 : ms) / 1000.0;
}

size_t HttpBatch_run(HttpJob *jobs, size_t n, const HttpBatchOpts *o) {
   static bool global_init;
   if (!global_init) {
      curl_global_init(CURL_GLOBAL_DEFAULT);
      global_init = true;
   }
   int width = o->concurrency > 0 ? o->concurrency : 1;
   Slot *slots = xcalloc((size_t)width, sizeof *slots);
   CURLM *multi = curl_multi_init();
   size_t next = 0, finished = 0;
   int busy = 0;   /* slots holding a job (in flight or waiting to retry) */
   for (;;) {
      bool stopping = o->stop && *o->stop;
      double now = mono_seconds(), wait = 1.0;
      for (int i = 0; i < width; i++) {
         Slot *s = &slots[i];
         if (!s->job && !stopping && next < n) {
            s->job = &jobs[next++];
            s->attempts = 0;
            s->not_before = 0;
            busy++;
         }
         if (s->job && !s->easy && !stopping) {
            if (s->not_before <= now)
               start(multi, s, o);
            else if (s->not_before - now < wait)
               wait = s->not_before - now;
         }
      }
      int running = 0;
      curl_multi_perform(multi, &running);
      CURLMsg *m;
      int left;
      bool freed = false;   /* a slot to refill at once rather than after the next poll */
      while ((m = curl_multi_info_read(multi, &left))) {
         if (m->msg != CURLMSG_DONE)
            continue;
         Slot *s;
         curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
         CURLcode rc = m->data.result;
         long status = 0;
         curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
         double latency = (mono_seconds() - s->started) * 1000;
         release(multi, s);
         freed = true;
         if (transient(rc, status) && s->attempts < o->max_attempts) {
            /* Stopping: the job stays unfinished (a resumed run sends it again) rather than
             * being reported as failed for want of its retry. */
            s->not_before = mono_seconds() + backoff(s, o);
            continue;
         }
         HttpResult r = {
            .outcome = rc == CURLE_OK && status >= 200 && status < 300 ? HTTP_OK
                       : rc == CURLE_OPERATION_TIMEDOUT ? HTTP_TIMEOUT : HTTP_FAILED,
            .status = status,
            .body = s->body.buf ? s->body.buf : "",
            .len = s->body.len,
            .latency_ms = latency,
            .attempts = s->attempts,
            .error = rc == CURLE_OK ? "" : *s->error ? s->error : curl_easy_strerror(rc),
         };
         o->done(o->ctx, s->job, &r);
         s->job = NULL;
         busy--;
         finished++;
      }
      if (stopping) {
         /* Requests in flight are abandoned unanswered: their rows are sent again on resume. */
         for (int i = 0; i < width; i++) {
            if (slots[i].easy)
               release(multi, &slots[i]);
            slots[i].job = NULL;
         }
         break;
      }
      if (busy == 0 && next >= n)
         break;
      if (freed)
         continue;
      int ms = (int)(wait * 1000);
      curl_multi_poll(multi, NULL, 0, ms < 1 ? 1 : ms > 100 ? 100 : ms, NULL);
   }
   for (int i = 0; i < width; i++)
      Sbuf_free(&slots[i].body);
   free(slots);
   curl_multi_cleanup(multi);
   return finished;
}
