/* console_bench.c - fills a workspace with N exchanges through ExchangeWriter_add (the
 * importer's and the gateway's path) and times what the console does to open the
 * inventory, the audit view and the touchpoints view; a full rescan of the exchanges is
 * the anchor. Prints "key value" lines. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/audit.h"
#include "control/inventory.h"
#include "control/score.h"
#include "control/task.h"
#include "control/touchpoints.h"
#include "store/exchange.h"

static double median(double *v, int n) {
   for (int i = 1; i < n; i++)
      for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
         double t = v[j];
         v[j] = v[j - 1];
         v[j - 1] = t;
      }
   return v[n / 2];
}

int main(int argc, char **argv) {
   if (argc != 3)
      die(2, "usage: console_bench WORKSPACE N");
   long n = atol(argv[2]);
   char *err = NULL;
   Store *st = Store_open(argv[1], STORE_CREATE, &err);
   if (!st)
      die(1, "%s", err);
   static const char *const tasks[] = { "chat-responses", "content-classification", "summary-generation",
                                        "tone-analysis", "complex-analysis", "field-extraction" };
   static const char *const models[] = { "gpt-4o", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", "claude-3-5-haiku-20241022" };
   static const char *const labels[] = { "billing", "refund", "shipping", "account_access", "bug_report", "other" };
   Store_exec(st, "PRAGMA synchronous = NORMAL", NULL);
   ExchangeWriter *w = ExchangeWriter_new(st, Task_create_in_tx);
   double t0 = mono_seconds();
   uint64_t x = 88172645463325252ull;
   char rid[32], ts[32], fp[17], out[64], skel[64], sample[64];
   Store_begin(st, &err);
   for (long i = 0; i < n; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      Exchange e;
      Exchange_init(&e);
      snprintf(rid, sizeof rid, "b%ld", i);
      snprintf(ts, sizeof ts, "2026-11-%02ldT%02lu:00:00.000Z", 7 + i * 14 / n, (unsigned long)(x % 24));
      e.rid = rid;
      e.ts = ts;
      int k = (int)(x % 100);
      if (k < 90) {
         e.task = tasks[x % ARRAY_SIZE(tasks)];
      } else {
         snprintf(fp, sizeof fp, "%016llx", (unsigned long long)(x % 40));
         snprintf(skel, sizeof skel, "sys: template %d | user: <text>", (int)(x % 40));
         snprintf(sample, sizeof sample, "sample prompt %lu", (unsigned long)(x % 1000));
         e.fingerprint = fp;
         e.skeleton = skel;
         e.sample = sample;
      }
      e.model = models[(x >> 8) % ARRAY_SIZE(models)];
      e.status = (x >> 16) % 50 ? 200 : 500;
      e.latency_ms = 50 + (double)((x >> 20) % 3000);
      e.prompt_tokens = 100 + (long long)((x >> 24) % 2000);
      e.completion_tokens = 1 + (long long)((x >> 32) % 300);
      if (e.task && str_eq(e.task, "content-classification"))
         snprintf(out, sizeof out, "%s", labels[(x >> 40) % ARRAY_SIZE(labels)]);
      else
         snprintf(out, sizeof out, "answer %lu", (unsigned long)((x >> 40) % 100000));
      e.output = out;
      e.record = "{\"request\":{},\"response\":{}}";
      if (ExchangeWriter_add(w, &e, &err) < 0)
         die(1, "%s", err);
      if (i % 10000 == 9999) {
         Store_commit(st, &err);
         Store_begin(st, &err);
      }
   }
   Store_commit(st, &err);
   ExchangeWriter_free(w);
   double fill = mono_seconds() - t0;
   printf("exchanges %ld\nfill_seconds %.2f\nfill_per_second %.0f\n", n, fill, n / fill);
   Store_close(st);

   st = Store_open(argv[1], 0, &err);
   enum { RUNS = 7 };
   double inv[RUNS], aud[RUNS], tp[RUNS], shape[RUNS], scan[RUNS];
   for (int r = 0; r < RUNS; r++) {
      double a = mono_seconds();
      int nt;
      Task *ts_ = Task_list(st, &nt);
      int *order = Inventory_rank(ts_, nt);
      for (int i = 0; i < nt; i++) {
         Score sc;
         Score_compute(&ts_[order[i]], &sc);
      }
      free(order);
      Task_free_list(ts_, nt);
      double b = mono_seconds();
      Audit au;
      Audit_compute(st, NULL, false, &au, &err);
      Audit_free(&au);
      double c = mono_seconds();
      int ntp;
      Touchpoint *t = Touchpoints_list(st, &ntp);
      Touchpoints_free(t, ntp);
      double d = mono_seconds();
      Audit_compute(st, NULL, true, &au, &err);
      Audit_free(&au);
      double e = mono_seconds();
      Store_count(st, "SELECT sum(x) FROM (SELECT task_id, count(*) + sum(cost) + sum(latency_ms) AS x"
                      " FROM exchanges GROUP BY task_id)", 0);
      double f = mono_seconds();
      inv[r] = (b - a) * 1000;
      aud[r] = (c - b) * 1000;
      tp[r] = (d - c) * 1000;
      shape[r] = (e - d) * 1000;
      scan[r] = (f - e) * 1000;
   }
   printf("inventory_open_ms %.2f\naudit_view_open_ms %.2f\ntouchpoints_open_ms %.2f\naudit_cli_with_shape_ms %.2f\n"
          "full_rescan_ms %.2f\n", median(inv, RUNS), median(aud, RUNS), median(tp, RUNS), median(shape, RUNS),
          median(scan, RUNS));
   Store_close(st);
   return 0;
}
