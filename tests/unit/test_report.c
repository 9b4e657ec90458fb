/* test_report.c - the report's coverage against agreement per answer kind, on hand-made
 * comparisons with hand-computed figures. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "control/report.h"
#include "control/task.h"
#include "store/exchange.h"
#include "tap.h"

static Store *st;

/* One compared answer of task with the candidate's confidence (< 0: none). */
static void compared(const char *task, double confidence, int agree) {
   static int seq;
   ExchangeWriter *w = ExchangeWriter_new(st, Task_create_in_tx);
   char *err = NULL;
   Exchange e;
   Exchange_init(&e);
   char rid[32];
   snprintf(rid, sizeof rid, "c%d", seq++);
   e.rid = rid;
   e.ts = "2026-11-01T00:00:00.000Z";
   e.task = task;
   e.arm = "primary";
   e.status = 200;
   e.record = "{}";
   e.agree = agree;
   e.confidence = confidence;
   if (ExchangeWriter_add(w, &e, &err) != 1)
      fprintf(stderr, "add failed: %s\n", err);
   ExchangeWriter_free(w);
}

static const json_t *kind_entry(const json_t *kinds, const char *kind) {
   size_t i;
   const json_t *k;
   json_array_foreach(kinds, i, k) if (str_eq(json_string_value(json_object_get(k, "kind")), kind)) return k;
   return NULL;
}

static double pt(const json_t *k, int j, const char *what) {
   return json_number_value(json_object_get(json_array_get(json_object_get(k, "points"), (size_t)j), what));
}

int main(void) {
   char path[] = "/tmp/offramp-report-XXXXXX";
   int fd = mkstemp(path);
   close(fd);
   unlink(path);
   char *err = NULL;
   st = Store_open(path, STORE_CREATE, &err);
   if (!st)
      tap_skip_all(err);
   const TaskField *kind = NULL;
   for (int i = 0; i < Task_nfields; i++)
      if (str_eq(Task_fields[i].option, "kind"))
         kind = &Task_fields[i];
   const TaskField *f[1] = { kind };
   const char *lab[1] = { "label" }, *ext[1] = { "extraction" }, *rw[1] = { "rewrite" };
   ok(Task_add(st, "queues", f, lab, 1, &err) && Task_add(st, "fields", f, ext, 1, &err) &&
      Task_add(st, "notes", f, rw, 1, &err), "three tasks, three kinds");

   /* label: confidences 0.99 (agrees), 0.92 (agrees), 0.85 (disagrees), 0.6 (agrees),
    * 0.4 (disagrees). At >= 0.5: 4 of 5 kept (80 %), 3 of them agree (75 %); >= 0.7: 3 kept
    * (60 %), 2 agree (66.7 %); >= 0.8: the same 3; >= 0.9: 2 kept (40 %), both agree (100 %);
    * >= 0.95: 1 kept (20 %), it agrees. */
   compared("queues", 0.99, 1);
   compared("queues", 0.92, 1);
   compared("queues", 0.85, 0);
   compared("queues", 0.6, 1);
   compared("queues", 0.4, 0);
   /* an answer without a confidence, and one never compared, count nowhere */
   compared("queues", -1, 1);
   compared("queues", 0.97, -1);
   /* extraction: 0.8 exactly (agrees: the threshold keeps what is at it), 0.5 (disagrees) */
   compared("fields", 0.8, 1);
   compared("fields", 0.5, 0);

   json_t *kinds = Report_coverage_by_kind(st, 0);
   is_int((long long)json_array_size(kinds), 2, "two kinds have compared answers with a confidence (rewrite none)");
   const json_t *l = kind_entry(kinds, "label"), *x = kind_entry(kinds, "extraction");
   ok(l && x && !kind_entry(kinds, "rewrite"), "label and extraction listed, rewrite not");
   is_int(json_integer_value(json_object_get(l, "n")), 5, "label: n=5 (no confidence, not compared: left out)");
   is_near(pt(l, 0, "threshold"), 0.5, 1e-12, "first threshold 0.5");
   is_near(pt(l, 0, "coverage"), 0.8, 1e-12, "label >= 0.5: 80 % kept");
   is_near(pt(l, 0, "agreement"), 0.75, 1e-12, "label >= 0.5: 75 % agree");
   is_near(pt(l, 1, "coverage"), 0.6, 1e-12, "label >= 0.7: 60 % kept");
   is_near(pt(l, 1, "agreement"), 2.0 / 3.0, 1e-12, "label >= 0.7: 66.7 % agree");
   is_near(pt(l, 2, "coverage"), 0.6, 1e-12, "label >= 0.8: 60 % kept");
   is_near(pt(l, 3, "coverage"), 0.4, 1e-12, "label >= 0.9: 40 % kept");
   is_near(pt(l, 3, "agreement"), 1.0, 1e-12, "label >= 0.9: 100 % agree");
   is_near(pt(l, 4, "coverage"), 0.2, 1e-12, "label >= 0.95: 20 % kept");
   is_int((long long)pt(l, 4, "covered"), 1, "label >= 0.95: 1 covered");
   is_str(json_string_value(json_object_get(x, "confidence")), "the least sure field", "extraction's confidence named");
   is_int(json_integer_value(json_object_get(x, "n")), 2, "extraction: n=2");
   is_near(pt(x, 2, "coverage"), 0.5, 1e-12, "extraction >= 0.8: the answer at 0.8 kept (50 %)");
   is_near(pt(x, 2, "agreement"), 1.0, 1e-12, "extraction >= 0.8: it agrees");
   is_near(pt(x, 3, "coverage"), 0.0, 1e-12, "extraction >= 0.9: nothing kept");
   ok(json_is_null(json_object_get(json_array_get(json_object_get(x, "points"), 3), "agreement")),
      "extraction >= 0.9: no agreement without answers (null, not 0)");
   json_decref(kinds);
   Task ft;
   Task_init(&ft);
   Task_get(st, "fields", &ft, &err);
   kinds = Report_coverage_by_kind(st, ft.id);
   is_int((long long)json_array_size(kinds), 1, "one task's: its kind alone");
   is_int(json_integer_value(json_object_get(kind_entry(kinds, "extraction"), "n")), 2, "... with its n");
   json_decref(kinds);
   Task_clear(&ft);

   bool open;
   char *md = Report_markdown(st, "fields", 0, &open, &err);
   ok(md && strstr(md, "## Coverage by confidence, per answer kind"), "the report has the section");
   ok(md && strstr(md, "| extraction (this task's) (n=2) | the least sure field | 100.0 % kept, 50.0 % agree (1 of 2) |"),
      "the task's own kind marked, with n and the counts");
   ok(md && strstr(md, "| label (n=5) | the label's probability | 80.0 % kept, 75.0 % agree (3 of 4) |"),
      "the other kinds too");
   free(md);
   Store_close(st);
   char *rm_err = NULL;
   if (!Store_remove(path, &rm_err))
      fprintf(stderr, "# %s\n", rm_err);
   free(rm_err);
   return tap_done();
}
