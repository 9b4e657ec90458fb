/* capture_bench.c - pushes N synthetic exchanges (request and answer texts shaped like the
 * stand-in upstream's, one in three with a shadow call on the candidate) through Capture into
 * a fresh workspace, as the gateway's loop would, and reports the writer thread's rate and
 * CPU time per record (from /proc/self/task/TID/schedstat, read once every record is
 * committed). With "pending", the shadow calls are queued pending and join their records once
 * all are written, as updates: the writer's cost per update too. Prints "key value" lines. */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "control/task.h"
#include "gateway/capture.h"

/* CPU seconds of every thread of the process but the calling one: the writer. */
static double other_threads_cpu(void) {
   DIR *d = opendir("/proc/self/task");
   if (!d)
      die(1, "cannot read /proc/self/task");
   double sum = 0;
   long self = (long)gettid();
   struct dirent *de;
   while ((de = readdir(d))) {
      long tid = atol(de->d_name);
      if (tid <= 0 || tid == self)
         continue;
      char path[64];
      snprintf(path, sizeof path, "/proc/self/task/%ld/schedstat", tid);
      FILE *f = fopen(path, "r");
      unsigned long long ns = 0;
      if (f && fscanf(f, "%llu", &ns) == 1)
         sum += (double)ns / 1e9;
      if (f)
         fclose(f);
   }
   closedir(d);
   return sum;
}

static char *text(size_t *len, const char *fmt, ...) ATTR_PRINTF(2, 3);
static char *text(size_t *len, const char *fmt, ...) {
   va_list ap;
   va_start(ap, fmt);
   char *s = xvasprintf(fmt, ap);
   va_end(ap);
   *len = strlen(s);
   return s;
}

static const char *const labels[] = { "billing", "refund", "shipping", "account_access", "bug_report", "other" };

static char *answer(size_t *len, const char *model, const char *label, long id) {
   return text(len,
               "{\"id\":\"chatcmpl-%ld\",\"object\":\"chat.completion\",\"created\":1763719200,\"model\":\"%s\","
               "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"%s\"},"
               "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":%ld,\"completion_tokens\":1,"
               "\"total_tokens\":%ld}}",
               id, model, label, 40 + id % 60, 41 + id % 60);
}

static CaptureItem *item_new(long i, uint64_t x) {
   static const char model[] = "ft:ticket-intent:3";
   bool shadow = i % 3 == 0;
   CaptureItem *it = Capture_item_new(sizeof "ticket-intent" + (shadow ? sizeof model : 0));
   snprintf(it->rid, sizeof it->rid, "ofr-bench-%ld", i);
   now_iso8601(it->ts);
   it->task = Capture_item_put(it, "ticket-intent", strlen("ticket-intent"));
   it->arm = "primary";
   it->status = 200;
   it->agree = -1;
   it->confidence = -1;
   it->request = text(&it->request_len,
                      "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"Classify the "
                      "support ticket into billing, refund, shipping, account_access, bug_report or other. "
                      "Answer with the label only.\"},{\"role\":\"user\",\"content\":\"Ticket #%lu from "
                      "customer %lu: my invoice shows two charges for order %lu, please fix it. I was told "
                      "last week it would be refunded but nothing happened.\"}],\"max_tokens\":5,"
                      "\"temperature\":0}",
                      (unsigned long)(x % 100000), (unsigned long)(x >> 20) % 10000, (unsigned long)(x >> 40));
   const char *label = labels[x % ARRAY_SIZE(labels)];
   CaptureCall *s = &it->calls[CAPTURE_SERVING];
   s->started = true;
   s->arm = "primary";
   s->status = 200;
   s->latency_ms = 180 + (double)(x % 4000) / 10;
   s->confidence = -1;
   s->agree = -1;
   s->response = answer(&s->response_len, "gpt-4o-mini-2024-07-18", label, i);
   if (shadow) {
      bool agree = (x >> 8) % 10 != 0;
      CaptureCall *c = &it->calls[CAPTURE_SHADOW];
      c->started = true;
      c->arm = "candidate";
      c->model = Capture_item_put(it, model, strlen(model));
      c->status = 200;
      c->latency_ms = 8 + (double)(x % 300) / 100;
      c->confidence = 0.6 + (double)(x % 400) / 1000;
      c->agree = agree;
      c->response = answer(&c->response_len, model, agree ? label : "other", i);
      it->agree = agree;
      it->confidence = c->confidence;
   }
   return it;
}

static long long dropped(const CaptureStats *cs) {
   long long n = 0;
   for (int r = 0; r < CAPTURE_DROPS; r++)
      n += cs->dropped[r];
   return n;
}

/* Waits until want records are written or dropped and every update is written. */
static void drain(Capture *cap, long long want, CaptureStats *cs) {
   do {
      usleep(1000);
      Capture_stats(cap, cs);
   } while (cs->committed + dropped(cs) < want || cs->depth > 0);
}

int main(int argc, char **argv) {
   if (argc != 3 && !(argc == 4 && str_eq(argv[3], "pending")))
      die(2, "usage: capture_bench WORKSPACE N [pending]");
   long n = atol(argv[2]);
   /* pending: the shadow calls have not ended when the record is queued; their results join
    * once every record is written, so each is an update of a stored record (the slow path). */
   bool pending = argc == 4;
   char *err = NULL;
   Capture *cap = Capture_start(argv[1], n, 1LL << 40, Task_create_in_tx, &err);
   if (!cap)
      die(1, "%s", err);
   CaptureTicket *tickets = pending ? xcalloc((size_t)n, sizeof *tickets) : NULL;
   uint64_t seed = 88172645463325252ull;
   double t0 = mono_seconds();
   for (long i = 0; i < n; i++) {
      uint64_t x = splitmix64(&seed);
      CaptureItem *it = item_new(i, x);
      CaptureCall *c = &it->calls[CAPTURE_SHADOW];
      bool defer = pending && c->started;
      if (defer) {
         free(c->response);
         c->response = NULL;
         c->response_len = 0;
         c->pending = true;
      }
      Capture_push(cap, it, defer ? &tickets[i] : NULL);
   }
   CaptureStats cs;
   drain(cap, n, &cs);
   double wall = mono_seconds() - t0, cpu = other_threads_cpu();
   printf("records %lld\ndropped %lld\nfailed %lld\nseconds %.3f\nrecords_per_second %.0f\nwriter_us_per_record %.2f\n",
          cs.committed, dropped(&cs), cs.dropped[CAPTURE_DROP_REJECTED], wall, cs.committed / wall, cpu * 1e6 / n);
   if (pending) {
      seed = 88172645463325252ull;
      long updates = 0;
      t0 = mono_seconds();
      for (long i = 0; i < n; i++) {
         CaptureItem *u = item_new(i, splitmix64(&seed));
         if (!tickets[i].seq) {
            free(u->request);
            free(u->calls[CAPTURE_SERVING].response);
            free(u->calls[CAPTURE_SHADOW].response);
            free(u);
            continue;
         }
         free(u->request);
         u->request = NULL;
         u->request_len = 0;
         free(u->calls[CAPTURE_SERVING].response);
         u->calls[CAPTURE_SERVING].response = NULL;
         u->calls[CAPTURE_SERVING].started = false;
         Capture_join(cap, &tickets[i], u);
         updates++;
      }
      drain(cap, n, &cs);
      double uwall = mono_seconds() - t0, ucpu = other_threads_cpu() - cpu;
      printf("updates %lld\nupdates_per_second %.0f\nwriter_us_per_update %.2f\n", cs.updated, cs.updated / uwall,
             updates ? ucpu * 1e6 / updates : 0);
      free(tickets);
   }
   Capture_stop(cap);
   return cs.committed == n ? 0 : 1;
}
