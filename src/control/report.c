/* report.c - the Markdown and JSON migration report. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stats.h"
#include "common/util.h"
#include "control/deploy.h"
#include "control/eval.h"
#include "control/phase.h"
#include "control/report.h"
#include "control/review.h"
#include "control/rollout.h"
#include "control/task.h"

#define TABLE_CHUNK 50   /* rows per Markdown table: the console's table renderer holds 64 */

/* A table cell: '|' would end the cell ("URL|MODEL" specs), newlines the row. */
static void cell(Sbuf *sb, const char *s) {
   Sbuf_puts(sb, "| ");
   for (const char *p = s ? s : ""; *p; p++) {
      if (*p == '|')
         Sbuf_puts(sb, "\xc2\xa6");   /* ¦ */
      else
         Sbuf_putc(sb, *p == '\n' ? ' ' : *p);
   }
   Sbuf_putc(sb, ' ');
}

static void row_end(Sbuf *sb) {
   Sbuf_puts(sb, "|\n");
}

static void header(Sbuf *sb, const char *const *cols, int n) {
   for (int i = 0; i < n; i++)
      cell(sb, cols[i]);
   row_end(sb);
   for (int i = 0; i < n; i++)
      cell(sb, "---");
   row_end(sb);
}

static const json_t *jget(const json_t *o, const char *a) {
   return json_object_get(o, a);
}

static void rate(char *buf, size_t size, const json_t *r) {
   if (!json_is_object(r)) {
      snprintf(buf, size, "-");
      return;
   }
   Eval_fmt_rate(buf, size, (long)json_integer_value(jget(r, "k")), (long)json_integer_value(jget(r, "n")));
}

/* Every row of a table the other steps own (datasets, experiments) as a Markdown table, when the
 * workspace has it: the report shows what is there without depending on its exact columns. */
static void generic_table(Store *st, Sbuf *sb, const char *table, long long task_id) {
   if (!Store_has_table(st, table))
      return;
   char *sql = xasprintf("SELECT * FROM %s WHERE task_id = ? ORDER BY 1 LIMIT 20", table);
   sqlite3_stmt *s = NULL;
   if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
      free(sql);
      return;
   }
   free(sql);
   sqlite3_bind_int64(s, 1, task_id);
   int rows = 0, ncol = sqlite3_column_count(s);
   if (ncol > 8)
      ncol = 8;
   while (sqlite3_step(s) == SQLITE_ROW) {
      if (rows++ == 0) {
         for (int i = 0; i < ncol; i++)
            cell(sb, sqlite3_column_name(s, i));
         row_end(sb);
         for (int i = 0; i < ncol; i++)
            cell(sb, "---");
         row_end(sb);
      }
      for (int i = 0; i < ncol; i++) {
         const char *v = (const char *)sqlite3_column_text(s, i);
         char buf[64];
         snprintf(buf, sizeof buf, "%.60s", v ? v : "");
         cell(sb, buf);
      }
      row_end(sb);
   }
   sqlite3_finalize(s);
   Sbuf_puts(sb, rows ? "\n" : "");
   if (!rows)
      Sbuf_printf(sb, "No %s for this task yet.\n\n", table);
}

static void audit_section(Store *st, Sbuf *sb, const Task *t) {
   char a[32], b[32];
   Sbuf_puts(sb, "## Audit\n\n");
   static const char *const cols[] = { "figure", "value" };
   header(sb, cols, 2);
   char *model = xasprintf("%s%s%s", t->provider, *t->provider ? " " : "", *t->model ? t->model : "not set");
   cell(sb, "API model");
   cell(sb, model);
   row_end(sb);
   free(model);
   cell(sb, "monthly calls (declared)");
   cell(sb, fmt_count(a, sizeof a, t->monthly_volume));
   row_end(sb);
   cell(sb, "monthly cost (declared)");
   cell(sb, fmt_money(b, sizeof b, t->monthly_cost, 0));
   row_end(sb);
   cell(sb, "output kind");
   cell(sb, OutputKind_name(t->kind));
   row_end(sb);
   cell(sb, "logged exchanges");
   cell(sb, fmt_count(a, sizeof a, t->logged));
   row_end(sb);
   cell(sb, "phase");
   cell(sb, t->phase);
   row_end(sb);
   if (Store_has_table(st, "audit_daily")) {
      sqlite3_stmt *s = NULL;
      if (sqlite3_prepare_v2(st->db, "SELECT sum(calls), sum(errors), sum(in_tokens), sum(out_tokens), min(day), max(day) "
                                     "FROM audit_daily WHERE task_id = ?", -1, &s, NULL) == SQLITE_OK) {
         sqlite3_bind_int64(s, 1, t->id);
         if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
            char v[96];
            snprintf(v, sizeof v, "%s calls, %s errors, %s to %s", fmt_count(a, sizeof a, sqlite3_column_int64(s, 0)),
                     fmt_count(b, sizeof b, sqlite3_column_int64(s, 1)), sqlite3_column_text(s, 4),
                     sqlite3_column_text(s, 5));
            cell(sb, "audited traffic");
            cell(sb, v);
            row_end(sb);
            snprintf(v, sizeof v, "%s in, %s out", fmt_count(a, sizeof a, sqlite3_column_int64(s, 2)),
                     fmt_count(b, sizeof b, sqlite3_column_int64(s, 3)));
            cell(sb, "audited tokens");
            cell(sb, v);
            row_end(sb);
         }
         sqlite3_finalize(s);
      }
   }
   Sbuf_putc(sb, '\n');
}

static void runs_section(Store *st, Sbuf *sb, const Task *t) {
   Sbuf_puts(sb, "## Evaluation runs\n\n");
   sqlite3_stmt *s = Store_prepare(st, "SELECT id FROM eval_runs WHERE task_id = ? ORDER BY id DESC LIMIT 20");
   sqlite3_bind_int64(s, 1, t->id);
   int n = 0;
   static const char *const cols[] = { "run", "candidate", "reference", "test set", "status", "accuracy", "format" };
   while (sqlite3_step(s) == SQLITE_ROW) {
      EvalRunInfo r;
      char *err = NULL, buf[96];
      if (!Eval_get_run(st, sqlite3_column_int64(s, 0), &r, &err)) {
         free(err);
         continue;
      }
      if (n++ == 0)
         header(sb, cols, 7);
      snprintf(buf, sizeof buf, "%lld", r.id);
      cell(sb, buf);
      cell(sb, r.candidate);
      cell(sb, *r.reference ? r.reference : "logged answers");
      cell(sb, r.dataset);
      cell(sb, r.status);
      const json_t *c = jget(r.metrics, "candidate");
      rate(buf, sizeof buf, jget(c, "accuracy"));
      cell(sb, buf);
      rate(buf, sizeof buf, jget(c, "format"));
      cell(sb, buf);
      row_end(sb);
      EvalRunInfo_clear(&r);
   }
   sqlite3_finalize(s);
   Sbuf_puts(sb, n ? "\n" : "No evaluation run yet: `offramp eval TASK --candidate BACKEND:MODEL`.\n\n");
}

static void latency(char *buf, size_t size, const json_t *l) {
   if (!json_is_object(l) || json_integer_value(jget(l, "n")) == 0) {
      snprintf(buf, size, "-");
      return;
   }
   char a[32];
   snprintf(buf, size, "%.1f / %.1f / %.1f ms (n=%s)", json_number_value(jget(l, "p50")),
            json_number_value(jget(l, "p95")), json_number_value(jget(l, "p99")),
            fmt_count(a, sizeof a, json_integer_value(jget(l, "n"))));
}

static void money(char *buf, size_t size, const json_t *arm) {
   const json_t *c = jget(arm, "cost_per_1k");
   if (json_is_number(c))
      fmt_money(buf, size, json_number_value(c), -1);
   else
      snprintf(buf, size, "unpriced");
}

static void metric_row(Sbuf *sb, const char *name, const char *a, const char *b) {
   cell(sb, name);
   cell(sb, a);
   cell(sb, b);
   row_end(sb);
}

static void eval_table(Sbuf *sb, const json_t *m) {
   const json_t *c = jget(m, "candidate"), *r = jget(m, "reference");
   bool logged = str_eq(json_string_value(jget(r, "source")), "logged");
   char a[128], b[128];
   char *rname = logged ? xasprintf("reference: logged answers (%s)", json_string_value(jget(r, "model")))
                        : xasprintf("reference: %s", json_string_value(jget(r, "model")));
   char *cname = xasprintf("candidate: %s", json_string_value(jget(c, "model")));
   const char *cols[] = { "metric", cname, rname };
   header(sb, cols, 3);
   free(cname);
   free(rname);
   rate(a, sizeof a, jget(c, "accuracy"));
   rate(b, sizeof b, jget(r, "accuracy"));
   metric_row(sb, "accuracy", a, b);
   if (jget(c, "field_accuracy")) {
      rate(a, sizeof a, jget(c, "field_accuracy"));
      rate(b, sizeof b, jget(r, "field_accuracy"));
      metric_row(sb, "field accuracy", a, b);
   }
   rate(a, sizeof a, jget(c, "format"));
   rate(b, sizeof b, jget(r, "format"));
   metric_row(sb, "format compliance", a, logged ? "-" : b);
   if (jget(c, "consistency")) {
      rate(a, sizeof a, jget(c, "consistency"));
      size_t len = strlen(a);
      snprintf(a + len, sizeof a - len, ", %lld repeats", (long long)json_integer_value(jget(jget(c, "consistency"), "repeats")));
      metric_row(sb, "consistency", a, "-");
   }
   latency(a, sizeof a, jget(c, "latency_ms"));
   latency(b, sizeof b, jget(r, "latency_ms"));
   metric_row(sb, "latency p50 / p95 / p99", a, b);
   const json_t *tc = jget(c, "tokens_per_1k"), *tr = jget(r, "tokens_per_1k");
   if (json_is_number(jget(tc, "prompt")))
      snprintf(a, sizeof a, "%.0f in / %.0f out", json_number_value(jget(tc, "prompt")), json_number_value(jget(tc, "completion")));
   else
      snprintf(a, sizeof a, "not reported");
   if (json_is_number(jget(tr, "prompt")))
      snprintf(b, sizeof b, "%.0f in / %.0f out", json_number_value(jget(tr, "prompt")), json_number_value(jget(tr, "completion")));
   else
      snprintf(b, sizeof b, logged ? "-" : "not reported");
   metric_row(sb, "tokens per 1,000 requests", a, b);
   money(a, sizeof a, c);
   money(b, sizeof b, r);
   if (logged && json_is_number(jget(r, "cost_per_1k")))
      snprintf(b + strlen(b), sizeof b - strlen(b), " (audit: monthly cost / calls)");
   metric_row(sb, "cost per 1,000 requests", a, b);
   snprintf(a, sizeof a, "%lld / %lld / %lld", (long long)json_integer_value(jget(c, "errors")),
            (long long)json_integer_value(jget(c, "timeouts")), (long long)json_integer_value(jget(c, "malformed")));
   snprintf(b, sizeof b, "%lld / %lld / %lld", (long long)json_integer_value(jget(r, "errors")),
            (long long)json_integer_value(jget(r, "timeouts")), (long long)json_integer_value(jget(r, "malformed")));
   metric_row(sb, "errors / timeouts / malformed", a, logged ? "-" : b);
   Sbuf_putc(sb, '\n');
}

static int by_f1(const void *a, const void *b) {
   double x = json_number_value(json_object_get(*(json_t *const *)a, "f1"));
   double y = json_number_value(json_object_get(*(json_t *const *)b, "f1"));
   return x < y ? -1 : x > y;
}

static void classes_section(Sbuf *sb, const json_t *m) {
   const json_t *classes = jget(m, "classes");
   size_t n = json_array_size(classes);
   if (!n)
      return;
   Sbuf_puts(sb, "### Per class (weakest F1 first)\n\n");
   json_t **sorted = xcalloc(n, sizeof *sorted);
   for (size_t i = 0; i < n; i++)
      sorted[i] = json_array_get(classes, i);
   qsort(sorted, n, sizeof *sorted, by_f1);
   static const char *const cols[] = { "class", "support", "answered", "precision", "recall", "F1" };
   for (size_t i = 0; i < n; i++) {
      if (i % TABLE_CHUNK == 0) {
         if (i)
            Sbuf_putc(sb, '\n');
         header(sb, cols, 6);
      }
      char buf[32];
      cell(sb, json_string_value(jget(sorted[i], "label")));
      snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(jget(sorted[i], "support")));
      cell(sb, buf);
      snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(jget(sorted[i], "predicted")));
      cell(sb, buf);
      snprintf(buf, sizeof buf, "%.3f", json_number_value(jget(sorted[i], "precision")));
      cell(sb, buf);
      snprintf(buf, sizeof buf, "%.3f", json_number_value(jget(sorted[i], "recall")));
      cell(sb, buf);
      snprintf(buf, sizeof buf, "%.3f", json_number_value(jget(sorted[i], "f1")));
      cell(sb, buf);
      row_end(sb);
   }
   free(sorted);
   Sbuf_putc(sb, '\n');

   /* A full matrix is readable up to a handful of labels; past that, the largest confusions. */
   const json_t *conf = jget(m, "confusion"), *labels = jget(conf, "labels"), *counts = jget(conf, "counts");
   size_t L = json_array_size(labels);
   if (L <= 6) {
      Sbuf_puts(sb, "### Confusion matrix (rows: expected, columns: answered)\n\n");
      cell(sb, "expected \\ answered");
      for (size_t j = 0; j < L; j++)
         cell(sb, json_string_value(json_array_get(labels, j)));
      cell(sb, "other");
      row_end(sb);
      for (size_t j = 0; j <= L + 1; j++)
         cell(sb, "---");
      row_end(sb);
      for (size_t i = 0; i < L; i++) {
         cell(sb, json_string_value(json_array_get(labels, i)));
         for (size_t j = 0; j <= L; j++) {
            char buf[24];
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(json_array_get(json_array_get(counts, i), j)));
            cell(sb, buf);
         }
         row_end(sb);
      }
      Sbuf_putc(sb, '\n');
      return;
   }
   Sbuf_puts(sb, "### Most frequent confusions\n\n");
   static const char *const ccols[] = { "expected", "answered", "rows" };
   header(sb, ccols, 3);
   int shown = 0;
   /* Ten largest off-diagonal cells, by repeated selection (L is small enough). */
   while (shown < 10) {
      long best = 0;
      size_t bi = 0, bj = 0;
      for (size_t i = 0; i < L; i++) {
         for (size_t j = 0; j <= L; j++) {
            long v = (long)json_integer_value(json_array_get(json_array_get(counts, i), j));
            if (i == j || v <= 0)
               continue;
            if (v > best) {
               best = v;
               bi = i;
               bj = j;
            }
         }
      }
      if (best == 0)
         break;
      char buf[24];
      cell(sb, json_string_value(json_array_get(labels, bi)));
      cell(sb, bj == L ? "(outside the label set)" : json_string_value(json_array_get(labels, bj)));
      snprintf(buf, sizeof buf, "%ld", best);
      cell(sb, buf);
      row_end(sb);
      /* Zeroed in the metrics this report loaded (and frees): the next pass finds the next largest. */
      json_array_set_new(json_array_get(counts, bi), bj, json_integer(0));
      shown++;
   }
   Sbuf_putc(sb, '\n');
}

/* How Compare_confidence reads a kind's answers (the route's compare for each kind). */
static const char *confidence_of(OutputKind k) {
   switch (k) {
   case KIND_LABEL:
      return "the label's probability";
   case KIND_EXTRACTION:
      return "the least sure field";
   case KIND_REWRITE:
   case KIND_OPEN_ENDED:
      return "e^(mean token logprob)";
   default:
      return "the answer's token probabilities multiplied";
   }
}

static void curve_section(Sbuf *sb, const json_t *m, Store *st, const Task *t, long long run) {
   const json_t *curve = jget(m, "curve"), *pts = jget(curve, "points"), *rec = jget(curve, "recommended");
   Sbuf_puts(sb, "## Confidence and coverage\n\n");
   if (!json_is_array(pts)) {
      Sbuf_puts(sb, "The candidate returned no logprobs, so there is no confidence to fall back on: the curve and "
                    "the route's `min_confidence` need a server that returns `logprobs`.\n\n");
      return;
   }
   double bar = json_number_value(jget(curve, "bar"));
   int best = json_is_object(rec) ? (int)lround(json_number_value(jget(rec, "threshold")) * 100) : -1;
   Sbuf_printf(sb, "If the candidate only answered at or above a confidence threshold and the rest fell back to the "
                   "API: the share it answers (bar) and its accuracy on that share (bar of the task: %.1f %%). "
                   "Confidence of a %s answer: %s.\n\n",
               100 * bar, OutputKind_name(t->kind), confidence_of(t->kind));
   Sbuf_puts(sb, "```\nthreshold  coverage (# = 2.5 %)                       share  accuracy\n");
   int shown[16], n = 0;
   for (int p = 0; p <= 90; p += 10)
      shown[n++] = p;
   shown[n++] = 95;
   shown[n++] = 99;
   if (best >= 0 && best % 10 != 0 && best != 95 && best != 99)
      shown[n++] = best;
   for (int i = 0; i < n; i++) {   /* keep thresholds ascending with the recommended one in place */
      for (int j = i + 1; j < n; j++) {
         if (shown[j] < shown[i]) {
            int x = shown[i];
            shown[i] = shown[j];
            shown[j] = x;
         }
      }
   }
   for (int i = 0; i < n; i++) {
      const json_t *pt = json_array_get(pts, (size_t)shown[i]);
      double cov = json_number_value(jget(pt, "coverage"));
      int hashes = (int)lround(cov * 40);
      char bar_text[48], acc[16];
      memset(bar_text, '#', (size_t)hashes);
      memset(bar_text + hashes, '.', (size_t)(40 - hashes));
      bar_text[40] = '\0';
      if (json_is_number(jget(pt, "accuracy")))
         snprintf(acc, sizeof acc, "%5.1f %%", 100 * json_number_value(jget(pt, "accuracy")));
      else
         snprintf(acc, sizeof acc, "    -  ");
      Sbuf_printf(sb, "%s %.2f     %s %5.1f %%  %s\n", shown[i] == best ? ">" : " ", shown[i] / 100.0, bar_text,
                  100 * cov, acc);
   }
   Sbuf_puts(sb, "```\n\n");
   if (best < 0) {
      Sbuf_printf(sb, "**No threshold reaches the bar of %.1f %%**: the candidate is not accurate enough even on the "
                      "answers it is most sure of.\n\n", 100 * bar);
   } else {
      char a[32];
      Sbuf_printf(sb, "**Recommended min_confidence %.2f**: the candidate answers %.1f %% of requests (%s rows) at "
                      "%.1f %% accuracy; the rest fall back to the API. Set it with "
                      "`offramp eval apply-threshold %s %lld`.\n\n",
                  best / 100.0, 100 * json_number_value(jget(rec, "coverage")),
                  fmt_count(a, sizeof a, json_integer_value(jget(rec, "covered"))),
                  100 * json_number_value(jget(rec, "accuracy")), t->name, run);
   }
   double cur;
   if (Eval_min_confidence(st, t->id, &cur))
      Sbuf_printf(sb, "The task's min_confidence is set to %.2f.\n\n", cur);
}

/* The deployment's performance under load beside the frontier's, measured the same way by
 * offramp eval --load (seed 002's performance metrics). */
static void load_section(Store *st, Sbuf *sb, const Task *t) {
   json_t *j = Deploy_load_figures(st, t->id);
   if (!j)
      return;
   const json_t *l = jget(j, "load"), *f = jget(l, "frontier");
   Sbuf_printf(sb, "## Performance under load (deployment %lld, %s at %s, %s)\n\n",
               (long long)json_integer_value(jget(j, "deployment")), json_string_value(jget(j, "kind")),
               json_string_value(jget(j, "server")), json_string_value(jget(j, "status")));
   Sbuf_printf(sb, "Measured %.10s %.5s UTC: %lld streamed requests to each at concurrency %lld, the test set's rows in "
               "turn; TTFT is the time to the first content token, decode speed the completion tokens over the time "
               "after it (median per request).\n\n", json_string_value(jget(l, "at")),
               json_string_value(jget(l, "at")) + 11, (long long)json_integer_value(jget(l, "requests")),
               (long long)json_integer_value(jget(l, "concurrency")));
   char head_a[160], head_b[160];
   snprintf(head_a, sizeof head_a, "deployed v%lld %s", (long long)json_integer_value(jget(l, "version")),
            json_string_value(jget(l, "model")));
   if (json_is_object(f))
      snprintf(head_b, sizeof head_b, "frontier %s", json_string_value(jget(f, "model")));
   else
      snprintf(head_b, sizeof head_b, "frontier (not measured: offramp eval %s --load N --reference MODEL)", t->name);
   const char *cols[] = { "metric", head_a, head_b };
   header(sb, cols, 3);
   static const struct {
      const char *label, *key, *unit;
      int prec;
   } rows[] = {
      { "time to first token p50", "ttft_p50_ms", "ms", 1 }, { "time to first token p99", "ttft_p99_ms", "ms", 1 },
      { "latency p50", "latency_p50_ms", "ms", 1 },          { "latency p99", "latency_p99_ms", "ms", 1 },
      { "decode speed (median)", "tokens_per_s", "tokens/s", 1 },
      { "throughput", "throughput_tokens_s", "tokens/s", 1 }, { "wall time", "wall_s", "s", 2 },
   };
   char a[64], b[64];
   snprintf(a, sizeof a, "%lld of %lld", (long long)json_integer_value(jget(l, "ok")),
            (long long)json_integer_value(jget(l, "requests")));
   if (json_is_object(f))
      snprintf(b, sizeof b, "%lld of %lld", (long long)json_integer_value(jget(f, "ok")),
               (long long)json_integer_value(jget(f, "requests")));
   else
      snprintf(b, sizeof b, "-");
   metric_row(sb, "answered (n)", a, b);
   for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
      snprintf(a, sizeof a, "%.*f %s", rows[i].prec, json_number_value(jget(l, rows[i].key)), rows[i].unit);
      if (json_is_object(f))
         snprintf(b, sizeof b, "%.*f %s", rows[i].prec, json_number_value(jget(f, rows[i].key)), rows[i].unit);
      else
         snprintf(b, sizeof b, "-");
      metric_row(sb, rows[i].label, a, b);
   }
   Sbuf_puts(sb, "\n");
   json_decref(j);
}

static void gate_section(Sbuf *sb, const Gate *g) {
   Sbuf_printf(sb, "## Gate: evaluate \xe2\x86\x92 shadow: %s\n\n", g->open ? "PASSED" : "NOT PASSED");
   for (int i = 0; i < g->n; i++) {
      const GateCheck *c = &g->checks[i];
      Sbuf_printf(sb, "- %s **%s**: %s\n", c->status == CHECK_PASS ? "\xe2\x9c\x93" : c->status == CHECK_FAIL ? "\xe2\x9c\x97" : "?",
                  c->what, c->detail);
   }
   Sbuf_putc(sb, '\n');
}

/* Route changes and phase moves made past a closed gate by force, oldest first. */
static json_t *forced_changes(Store *st, const Task *t) {
   sqlite3_stmt *q = Store_prepare(st,
      "SELECT ts, 'route', kind, actor, reason, coalesce(json_extract(old_route, '$.mode'), '(none)') || ' -> ' ||"
      " json_extract(new_route, '$.mode') FROM route_events WHERE task = ?2 AND forced = 1"
      " UNION ALL SELECT ts, 'phase', kind, actor, reason, coalesce(from_phase, '') || ' -> ' || to_phase"
      " FROM phase_events WHERE task_id = ?1 AND forced = 1 ORDER BY 1, 2 DESC");
   sqlite3_bind_int64(q, 1, t->id);
   sqlite3_bind_text(q, 2, t->name, -1, SQLITE_STATIC);
   json_t *a = json_array();
   while (sqlite3_step(q) == SQLITE_ROW)
      json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ts", sqlite3_column_text(q, 0), "what",
                                         sqlite3_column_text(q, 1), "kind", sqlite3_column_text(q, 2), "actor",
                                         sqlite3_column_text(q, 3), "reason", sqlite3_column_text(q, 4), "change",
                                         sqlite3_column_text(q, 5)));
   sqlite3_finalize(q);
   return a;
}

static void forced_section(Store *st, Sbuf *sb, const Task *t) {
   json_t *a = forced_changes(st, t);
   if (json_array_size(a)) {
      Sbuf_printf(sb, "## FORCED past the gates (%zu)\n\n", json_array_size(a));
      static const char *const cols[] = { "when", "what", "change", "who", "why" };
      header(sb, cols, 5);
      size_t i;
      json_t *e;
      json_array_foreach(a, i, e) {
         char when[32];
         snprintf(when, sizeof when, "%.10s %.5s", json_string_value(json_object_get(e, "ts")),
                  json_string_value(json_object_get(e, "ts")) + 11);
         cell(sb, when);
         cell(sb, json_string_value(json_object_get(e, "what")));
         cell(sb, json_string_value(json_object_get(e, "change")));
         cell(sb, json_string_value(json_object_get(e, "actor")));
         cell(sb, json_string_value(json_object_get(e, "reason")));
         row_end(sb);
      }
      Sbuf_puts(sb, "\n");
   }
   json_decref(a);
}

/* ---- the rollout: built once as JSON, rendered as Markdown from it ---- */

json_t *Report_rate_json(long long k, long long n) {
   double lo = 0, hi = 0;
   if (n > 0)
      wilson95(k, n, &lo, &hi);
   return json_pack("{s:I, s:I, s:o, s:f, s:f}", "k", (json_int_t)k, "n", (json_int_t)n, "value",
                    n > 0 ? json_real((double)k / (double)n) : json_null(), "lo95", lo, "hi95", hi);
}

/* "shadow", "canary 10 %", "cutover" */
static char *route_label(const char *route_text) {
   json_t *r = route_text ? json_loads(route_text, 0, NULL) : NULL;
   const char *mode = json_string_value(json_object_get(r, "mode"));
   char *out = !r ? xstrdup("(none)")
               : mode && str_eq(mode, "canary") ? xasprintf("canary %g %%", json_number_value(json_object_get(r, "percent")))
                                                : xstrdup(mode ? mode : "?");
   json_decref(r);
   return out;
}

/* Exchanges of the task in [from, to) (to NULL: open): compared ones and those that agreed. */
static void agreement_between(Store *st, long long task_id, const char *from, const char *to, long long *k, long long *n) {
   sqlite3_stmt *q = Store_prepare(st, "SELECT count(*), coalesce(sum(agree = 1), 0) FROM exchanges WHERE task_id = ?1"
                                       " AND agree IS NOT NULL AND ts >= ?2 AND (?3 IS NULL OR ts < ?3)");
   sqlite3_bind_int64(q, 1, task_id);
   sqlite3_bind_text(q, 2, from, -1, SQLITE_STATIC);
   if (to)
      sqlite3_bind_text(q, 3, to, -1, SQLITE_STATIC);
   *k = *n = 0;
   if (sqlite3_step(q) == SQLITE_ROW) {
      *n = sqlite3_column_int64(q, 0);
      *k = sqlite3_column_int64(q, 1);
   }
   sqlite3_finalize(q);
}

/* The route history (route_events, oldest first) and the agreement while each route was in force. */
static void route_steps(Store *st, const Task *t, json_t *history, json_t *steps, char *cutover_since, size_t size) {
   sqlite3_stmt *q = Store_prepare(st, "SELECT id, ts, kind, actor, old_route, new_route, reason, "
                                       "lead(ts) OVER (ORDER BY id), json_extract(new_route, '$.mode') "
                                       "FROM route_events WHERE task = ?1 ORDER BY id");
   sqlite3_bind_text(q, 1, t->name, -1, SQLITE_STATIC);
   cutover_since[0] = '\0';
   while (sqlite3_step(q) == SQLITE_ROW) {
      const char *ts = (const char *)sqlite3_column_text(q, 1), *reason = (const char *)sqlite3_column_text(q, 6);
      const char *until = (const char *)sqlite3_column_text(q, 7), *mode = (const char *)sqlite3_column_text(q, 8);
      char *from = route_label((const char *)sqlite3_column_text(q, 4)), *to = route_label((const char *)sqlite3_column_text(q, 5));
      json_array_append_new(history, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "revision",
                                               (json_int_t)sqlite3_column_int64(q, 0), "ts", ts, "kind",
                                               (const char *)sqlite3_column_text(q, 2), "actor",
                                               (const char *)sqlite3_column_text(q, 3), "from", from, "to", to, "reason",
                                               reason, "forced", strstr(reason, "forced") != NULL));
      long long k, n;
      agreement_between(st, t->id, ts, until, &k, &n);
      json_array_append_new(steps, json_pack("{s:s, s:s, s:s?, s:o}", "route", to, "since", ts, "until", until,
                                             "agreement", Report_rate_json(k, n)));
      if (mode && str_eq(mode, "cutover") && !until)
         snprintf(cutover_since, size, "%s", ts);
      else if (!until)
         cutover_since[0] = '\0';
      free(from);
      free(to);
   }
   sqlite3_finalize(q);
}

/* Calls answered by the candidate or fallen back to the primary, and the fallbacks by reason. */
static json_t *fallbacks_json(Store *st, const Task *t) {
   long long served = Store_count(st, "SELECT count(*) FROM exchanges WHERE task_id = ?1 AND arm IN ('candidate', 'fallback')",
                                  t->id);
   json_t *by = json_object();
   long long total = 0;
   sqlite3_stmt *q = Store_prepare(st, "SELECT coalesce(json_extract(record, '$.fallback_reason'), 'unknown'), count(*) "
                                       "FROM exchanges WHERE task_id = ?1 AND arm = 'fallback' GROUP BY 1 ORDER BY 2 DESC");
   sqlite3_bind_int64(q, 1, t->id);
   while (sqlite3_step(q) == SQLITE_ROW) {
      json_object_set_new(by, (const char *)sqlite3_column_text(q, 0), json_integer(sqlite3_column_int64(q, 1)));
      total += sqlite3_column_int64(q, 1);
   }
   sqlite3_finalize(q);
   return json_pack("{s:I, s:I, s:o, s:o}", "served", (json_int_t)served, "fallbacks", (json_int_t)total, "rate",
                    served ? json_real((double)total / (double)served) : json_null(), "by_reason", by);
}

/* The monthly saving: the operate figures' (last 24 h), and since the route reached cutover the
 * same count (calls that cost a frontier call: primary, fallback, verified) on that traffic alone.
 * The break-even is the one-off cost over the saving. */
static json_t *savings_json(Store *st, const Task *t, const OperateFigures *f, double hosting, double setup_cost,
                            const char *cutover_since) {
   json_t *o = json_pack("{s:f, s:f, s:f, s:{s:f, s:I, s:I, s:f}}", "cost_before", f->cost_before, "hosting_cost", hosting,
                         "setup_cost", setup_cost, "last_24h", "cost_now", f->cost_now, "api_calls", (json_int_t)f->api_calls,
                         "calls", (json_int_t)f->calls, "saving", f->saving);
   double saving = f->saving;
   if (*cutover_since) {
      sqlite3_stmt *q = Store_prepare(st, "SELECT count(*), coalesce(sum(arm IN ('primary', 'fallback') OR agree IS NOT NULL), 0)"
                                          " FROM exchanges WHERE task_id = ?1 AND ts >= ?2");
      sqlite3_bind_int64(q, 1, t->id);
      sqlite3_bind_text(q, 2, cutover_since, -1, SQLITE_STATIC);
      long long calls = 0, api = 0;
      if (sqlite3_step(q) == SQLITE_ROW) {
         calls = sqlite3_column_int64(q, 0);
         api = sqlite3_column_int64(q, 1);
      }
      sqlite3_finalize(q);
      if (calls > 0) {
         double now = f->cost_before * (double)api / (double)calls + hosting;
         saving = f->cost_before - now;
         json_object_set_new(o, "since_cutover", json_pack("{s:s, s:f, s:I, s:I, s:f}", "since", cutover_since, "cost_now",
                                                           now, "api_calls", (json_int_t)api, "calls", (json_int_t)calls,
                                                           "saving", saving));
      }
   }
   json_object_set_new(o, "saving", json_real(saving));
   json_object_set_new(o, "breakeven_months", saving > 0 ? json_real(setup_cost / saving) : json_null());
   json_object_set_new(o, "breakeven_share", f->breakeven_share >= 0 ? json_real(f->breakeven_share) : json_null());
   return o;
}

static json_t *rollout_json(Store *st, const Task *t, double setup_cost) {
   json_t *history = json_array(), *steps = json_array();
   char cutover_since[32];
   route_steps(st, t, history, steps, cutover_since, sizeof cutover_since);
   OperateFigures f;
   RolloutSettings s;
   RolloutState state;
   Rollout_operate(st, t, &f);
   Rollout_load(st, t->id, &s, &state);
   /* One statement: the gateway may write between two, and k must not outgrow n. */
   long long verified_n = 0, verified_k = 0;
   sqlite3_stmt *q = Store_prepare(st, "SELECT count(*), coalesce(sum(agree = 1), 0) FROM exchanges WHERE task_id = ?1"
                                       " AND arm = 'candidate' AND agree IS NOT NULL");
   sqlite3_bind_int64(q, 1, t->id);
   if (sqlite3_step(q) == SQLITE_ROW) {
      verified_n = sqlite3_column_int64(q, 0);
      verified_k = sqlite3_column_int64(q, 1);
   }
   sqlite3_finalize(q);
   long long grades[GRADE_COUNT];
   Review_counts(st, t->id, grades);
   json_t *g = json_object();
   for (int i = 0; i < GRADE_COUNT; i++)
      json_object_set_new(g, Grade_names[i], json_integer(grades[i]));
   char steps_s[ROLLOUT_MAX_STEPS * 4 + 1];
   Rollout_format_steps(&s, steps_s, sizeof steps_s);
   const char *bar_source;
   double bar = Rollout_agreement_bar(&s, t, &bar_source);
   return json_pack("{s:s, s:f, s:o, s:o, s:o, s:{s:o, s:o, s:f, s:s}, s:o, s:o, s:o}", "canary_steps", steps_s, "dwell_s",
                    s.dwell_s, "steps", steps, "history", history, "fallbacks", fallbacks_json(st, t),
                    "verified_agreement", "all", Report_rate_json(verified_k, verified_n), "last_24h",
                    Report_rate_json(f.verified_k, f.verified_n), "bar", bar, "bar_source", bar_source,
                    "graded", g, "analysis", Rollout_log(st, t->id, 50),
                    "savings", savings_json(st, t, &f, s.hosting_cost, setup_cost, cutover_since));
}

static void md_rate(char *buf, size_t size, const json_t *r) {
   Eval_fmt_rate(buf, size, (long)json_integer_value(jget(r, "k")), (long)json_integer_value(jget(r, "n")));
}

static void rollout_section(Sbuf *sb, const json_t *ro) {
   char a[96], b[32], c[32], d[32];
   Sbuf_puts(sb, "## Rollout\n\n");
   const json_t *steps = jget(ro, "steps"), *e;
   size_t i;
   if (json_array_size(steps) == 0) {
      Sbuf_puts(sb, "No route yet: the task has not been routed through the gateway (offramp route set).\n\n");
      return;
   }
   Sbuf_printf(sb, "Canary steps %s %%, each held %.0f s. Agreement with the primary while each route was in force "
                   "(shadow: every call compared; canary and cutover: the verified share):\n\n",
               json_string_value(jget(ro, "canary_steps")), json_number_value(jget(ro, "dwell_s")));
   static const char *const sc[] = { "route", "from", "agreement (95 % CI)" };
   header(sb, sc, 3);
   json_array_foreach(steps, i, e) {
      cell(sb, json_string_value(jget(e, "route")));
      cell(sb, json_string_value(jget(e, "since")));
      if (json_integer_value(jget(jget(e, "agreement"), "n")) > 0)
         md_rate(a, sizeof a, jget(e, "agreement"));
      else
         snprintf(a, sizeof a, "not compared");
      cell(sb, a);
      row_end(sb);
   }
   Sbuf_puts(sb, "\n### Route history\n\n");
   static const char *const hc[] = { "revision", "time", "kind", "actor", "change", "reason" };
   header(sb, hc, 6);
   json_array_foreach(jget(ro, "history"), i, e) {
      snprintf(a, sizeof a, "%lld", (long long)json_integer_value(jget(e, "revision")));
      cell(sb, a);
      cell(sb, json_string_value(jget(e, "ts")));
      cell(sb, json_string_value(jget(e, "kind")));
      cell(sb, json_string_value(jget(e, "actor")));
      char *change = xasprintf("%s \xe2\x86\x92 %s", json_string_value(jget(e, "from")), json_string_value(jget(e, "to")));
      cell(sb, change);
      free(change);
      char *why = xasprintf("%s%s", json_is_true(jget(e, "forced")) ? "**FORCED** " : "", json_string_value(jget(e, "reason")));
      cell(sb, why);
      free(why);
      row_end(sb);
   }
   const json_t *an = jget(ro, "analysis");
   if (json_array_size(an)) {
      Sbuf_puts(sb, "\n### Canary analysis\n\n");
      json_array_foreach(an, i, e)
         Sbuf_printf(sb, "- %.19s at %lld %%: **%s** %s\n", json_string_value(jget(e, "ts")),
                     (long long)json_integer_value(jget(e, "percent")), json_string_value(jget(e, "kind")),
                     json_string_value(jget(e, "detail")));
   }
   const json_t *fb = jget(ro, "fallbacks");
   Sbuf_puts(sb, "\n### Fallbacks and verification\n\n");
   long long served = json_integer_value(jget(fb, "served")), nfb = json_integer_value(jget(fb, "fallbacks"));
   if (served) {
      Sbuf_printf(sb, "- fallback rate: %.1f %% (%s of %s calls meant for the candidate)", 100.0 * (double)nfb / (double)served,
                  fmt_count(b, sizeof b, nfb), fmt_count(c, sizeof c, served));
      const char *k;
      json_t *v;
      int shown = 0;
      json_object_foreach((json_t *)jget(fb, "by_reason"), k, v) Sbuf_printf(sb, "%s%s %.1f %% (%lld)", shown++ ? ", " : ": ",
                                                                           k, 100.0 * (double)json_integer_value(v) / (double)served,
                                                                           (long long)json_integer_value(v));
      Sbuf_putc(sb, '\n');
   } else {
      Sbuf_puts(sb, "- fallback rate: the candidate has not served yet\n");
   }
   const json_t *va = jget(ro, "verified_agreement");
   if (json_integer_value(jget(jget(va, "all"), "n")) > 0) {
      md_rate(a, sizeof a, jget(va, "all"));
      Sbuf_printf(sb, "- verified agreement (the candidate's answers also asked of the primary): %s", a);
      if (json_integer_value(jget(jget(va, "last_24h"), "n")) > 0) {
         md_rate(a, sizeof a, jget(va, "last_24h"));
         Sbuf_printf(sb, "; last 24 h %s", a);
      }
      Sbuf_printf(sb, " (bar %.1f %%: %s)\n", 100 * json_number_value(jget(va, "bar")),
                  json_string_value(jget(va, "bar_source")));
   } else {
      Sbuf_puts(sb, "- verified agreement: no verified answer yet (route verify_percent)\n");
   }
   const json_t *g = jget(ro, "graded");
   long long graded = 0;
   const char *k;
   json_t *v;
   json_object_foreach((json_t *)g, k, v) graded += json_integer_value(v);
   if (graded)
      Sbuf_printf(sb, "- disagreements graded: %lld (primary right %lld, candidate right %lld, both fine %lld, both wrong %lld)\n",
                  graded, (long long)json_integer_value(jget(g, "primary")), (long long)json_integer_value(jget(g, "candidate")),
                  (long long)json_integer_value(jget(g, "both")), (long long)json_integer_value(jget(g, "neither")));
   const json_t *sv = jget(ro, "savings"), *cut = jget(sv, "since_cutover"), *d24 = jget(sv, "last_24h");
   Sbuf_puts(sb, "\n### Savings\n\n");
   Sbuf_printf(sb, "- before: %s/month on the API (declared: offramp task edit --cost)\n", fmt_money(a, sizeof a, json_number_value(jget(sv, "cost_before")), 0));
   Sbuf_printf(sb, "- last 24 h: %s/month (API calls %s of %s, including fallbacks and verification, plus hosting %s/month)\n",
               fmt_money(a, sizeof a, json_number_value(jget(d24, "cost_now")), 0),
               fmt_count(b, sizeof b, json_integer_value(jget(d24, "api_calls"))),
               fmt_count(c, sizeof c, json_integer_value(jget(d24, "calls"))),
               fmt_money(d, sizeof d, json_number_value(jget(sv, "hosting_cost")), 0));
   if (cut)
      Sbuf_printf(sb, "- since cutover (%.16s): %s/month (API calls %s of %s)\n", json_string_value(jget(cut, "since")),
                  fmt_money(a, sizeof a, json_number_value(jget(cut, "cost_now")), 0),
                  fmt_count(b, sizeof b, json_integer_value(jget(cut, "api_calls"))),
                  fmt_count(c, sizeof c, json_integer_value(jget(cut, "calls"))));
   double saving = json_number_value(jget(sv, "saving"));
   Sbuf_printf(sb, "- saving: **%s/month**%s\n", fmt_money(a, sizeof a, saving, 0), cut ? " (since cutover)" : " (last 24 h)");
   double setup = json_number_value(jget(sv, "setup_cost"));
   if (json_is_null(jget(sv, "breakeven_months")))
      Sbuf_printf(sb, "- break-even: never at this saving (the hosting costs more than the API calls it replaces)\n");
   else
      Sbuf_printf(sb, "- break-even: %.1f months for a one-off cost of %s (report --setup-cost)\n",
                  json_number_value(jget(sv, "breakeven_months")), fmt_money(a, sizeof a, setup, 0));
   Sbuf_putc(sb, '\n');
}

/* ---- coverage against agreement per answer kind */

const double Report_kind_thresholds[REPORT_KIND_THRESHOLDS] = { 0.5, 0.7, 0.8, 0.9, 0.95 };

json_t *Report_coverage_by_kind(Store *st, long long task_id) {
   int nt;
   Task *ts = Task_list(st, &nt);
   long n[KIND_COUNT] = { 0 }, covered[KIND_COUNT][REPORT_KIND_THRESHOLDS] = { { 0 } },
        agreed[KIND_COUNT][REPORT_KIND_THRESHOLDS] = { { 0 } };
   sqlite3_stmt *q = Store_prepare(st, "SELECT task_id, confidence, agree FROM exchanges WHERE agree IS NOT NULL "
                                       "AND confidence >= 0 AND task_id IS NOT NULL AND (?1 = 0 OR task_id = ?1)");
   sqlite3_bind_int64(q, 1, task_id);
   while (sqlite3_step(q) == SQLITE_ROW) {
      long long id = sqlite3_column_int64(q, 0);
      int k = -1;
      for (int i = 0; i < nt && k < 0; i++)
         if (ts[i].id == id)
            k = (int)ts[i].kind;
      if (k < 0 || k >= KIND_COUNT)
         continue;
      double c = sqlite3_column_double(q, 1);
      bool agree = sqlite3_column_int(q, 2) != 0;
      n[k]++;
      for (int j = 0; j < REPORT_KIND_THRESHOLDS; j++) {
         if (c >= Report_kind_thresholds[j] - 1e-12) {
            covered[k][j]++;
            agreed[k][j] += agree;
         }
      }
   }
   sqlite3_finalize(q);
   Task_free_list(ts, nt);
   json_t *out = json_array();
   for (int k = 0; k < KIND_COUNT; k++) {
      if (!n[k])
         continue;
      json_t *pts = json_array();
      for (int j = 0; j < REPORT_KIND_THRESHOLDS; j++)
         json_array_append_new(pts, json_pack("{s:f, s:I, s:I, s:f, s:o}", "threshold", Report_kind_thresholds[j],
                                              "covered", (json_int_t)covered[k][j], "agreed", (json_int_t)agreed[k][j],
                                              "coverage", (double)covered[k][j] / (double)n[k], "agreement",
                                              covered[k][j] ? json_real((double)agreed[k][j] / (double)covered[k][j])
                                                            : json_null()));
      json_array_append_new(out, json_pack("{s:s, s:s, s:I, s:o}", "kind", OutputKind_name((OutputKind)k), "confidence",
                                           confidence_of((OutputKind)k), "n", (json_int_t)n[k], "points", pts));
   }
   return out;
}

static void kind_curve_section(Sbuf *sb, const json_t *kinds, const Task *t) {
   if (!json_array_size(kinds))
      return;
   Sbuf_puts(sb, "## Coverage by confidence, per answer kind\n\n");
   Sbuf_puts(sb, "Every compared answer in the workspace that carries the candidate's confidence (shadow, verified "
                 "canary and cutover answers), by the kind of its task: at each threshold, the share of requests the "
                 "candidate would keep (the rest fall back to the API) and how often those agree with the API. Text "
                 "is scored by its mean token logprob, so a long answer is not less sure for being long; an "
                 "extraction by its least sure field.\n\n");
   const char *cols[2 + REPORT_KIND_THRESHOLDS] = { "kind", "confidence", NULL };
   char heads[REPORT_KIND_THRESHOLDS][24];
   for (int j = 0; j < REPORT_KIND_THRESHOLDS; j++) {
      snprintf(heads[j], sizeof heads[j], ">= %.2f", Report_kind_thresholds[j]);
      cols[2 + j] = heads[j];
   }
   header(sb, cols, 2 + REPORT_KIND_THRESHOLDS);
   size_t i;
   const json_t *k;
   json_array_foreach(kinds, i, k) {
      const char *name = json_string_value(jget(k, "kind"));
      char first[64], cellbuf[96], a[32], b[32];
      snprintf(first, sizeof first, "%s%s (n=%s)", name, str_eq(name, OutputKind_name(t->kind)) ? " (this task's)" : "",
               fmt_count(a, sizeof a, json_integer_value(jget(k, "n"))));
      cell(sb, first);
      cell(sb, json_string_value(jget(k, "confidence")));
      for (int j = 0; j < REPORT_KIND_THRESHOLDS; j++) {
         const json_t *pt = json_array_get(jget(k, "points"), (size_t)j);
         const json_t *ag = jget(pt, "agreement");
         if (json_is_number(ag))
            snprintf(cellbuf, sizeof cellbuf, "%.1f %% kept, %.1f %% agree (%s of %s)",
                     100 * json_number_value(jget(pt, "coverage")), 100 * json_number_value(ag),
                     fmt_count(a, sizeof a, json_integer_value(jget(pt, "agreed"))),
                     fmt_count(b, sizeof b, json_integer_value(jget(pt, "covered"))));
         else
            snprintf(cellbuf, sizeof cellbuf, "0 %% kept");
         cell(sb, cellbuf);
      }
      row_end(sb);
   }
   Sbuf_putc(sb, '\n');
}

/* What both forms need: the task, the run, the gate. */
typedef struct {
   Task t;
   EvalRunInfo r;
   bool has_run;
   Gate g;
} ReportData;

static bool report_load(Store *st, const char *task, long long run, ReportData *d, char **err) {
   memset(d, 0, sizeof *d);
   Task_init(&d->t);
   if (!Task_get(st, task, &d->t, err))
      return false;
   if (!run) {
      /* The run the gate reads: the picked candidate's, when one is picked. */
      Picked pk;
      if (Phase_picked(st, d->t.id, &pk))
         run = Phase_candidate_run(st, d->t.id, &pk);
      else
         run = Eval_latest_run(st, d->t.id);
      Picked_clear(&pk);
   }
   if (run) {
      if (!Eval_get_run(st, run, &d->r, err)) {
         Task_clear(&d->t);
         return false;
      }
      if (d->r.task_id != d->t.id) {
         *err = xasprintf("run %lld evaluated task %s, not %s", run, d->r.task, d->t.name);
         EvalRunInfo_clear(&d->r);
         Task_clear(&d->t);
         return false;
      }
      d->has_run = d->r.metrics != NULL;
   }
   Phase_gate_from(st, &d->t, PHASE_EVALUATE, &d->g);
   return true;
}

static void report_clear(ReportData *d) {
   Task_clear(&d->t);
   EvalRunInfo_clear(&d->r);
}

char *Report_markdown(Store *st, const char *task, long long run, bool *gate_open, char **err) {
   return Report_markdown_opts(st, task, run, NULL, gate_open, err);
}

char *Report_markdown_opts(Store *st, const char *task, long long run, const ReportOpts *o, bool *gate_open, char **err) {
   ReportData d;
   if (!report_load(st, task, run, &d, err))
      return NULL;
   Sbuf sb = { 0 };
   char ts[32];
   now_iso8601(ts);
   Sbuf_printf(&sb, "# Migration report: %s\n\n", d.t.name);
   Sbuf_printf(&sb, "%s%sGenerated %.10s %.5s UTC by offramp %s. Gate: **%s**.\n\n", d.t.description,
               *d.t.description ? ". " : "", ts, ts + 11, PACKAGE_VERSION, d.g.open ? "passed" : "not passed");
   audit_section(st, &sb, &d.t);
   Sbuf_puts(&sb, "## Dataset\n\n");
   if (d.has_run) {
      const json_t *ts_ = jget(d.r.metrics, "test_set");
      char a[32];
      Sbuf_printf(&sb, "The evaluation's test set: %s, %s rows (content hash %s), compared as `%s`.\n\n",
                  json_string_value(jget(ts_, "source")), fmt_count(a, sizeof a, json_integer_value(jget(d.r.metrics, "n"))),
                  json_string_value(jget(ts_, "hash")), json_string_value(jget(d.r.metrics, "compare")));
   }
   generic_table(st, &sb, "datasets", d.t.id);
   if (Store_has_table(st, "experiments")) {
      Sbuf_puts(&sb, "## Experiments\n\n");
      generic_table(st, &sb, "experiments", d.t.id);
   }
   runs_section(st, &sb, &d.t);
   if (d.has_run) {
      Sbuf_printf(&sb, "## Evaluation (run %lld, %.10s)\n\n", d.r.id, d.r.finished_at ? d.r.finished_at : "");
      eval_table(&sb, d.r.metrics);
      classes_section(&sb, d.r.metrics);
      curve_section(&sb, d.r.metrics, st, &d.t, d.r.id);
   }
   json_t *kinds = Report_coverage_by_kind(st, 0);
   kind_curve_section(&sb, kinds, &d.t);
   json_decref(kinds);
   load_section(st, &sb, &d.t);
   gate_section(&sb, &d.g);
   forced_section(st, &sb, &d.t);
   json_t *ro = rollout_json(st, &d.t, o ? o->setup_cost : 0);
   rollout_section(&sb, ro);
   json_decref(ro);
   *gate_open = d.g.open;
   report_clear(&d);
   return Sbuf_steal(&sb);
}

json_t *Report_json(Store *st, const char *task, long long run, bool *gate_open, char **err) {
   return Report_json_opts(st, task, run, NULL, gate_open, err);
}

json_t *Report_json_opts(Store *st, const char *task, long long run, const ReportOpts *o, bool *gate_open, char **err) {
   ReportData d;
   if (!report_load(st, task, run, &d, err))
      return NULL;
   json_t *checks = json_array();
   for (int i = 0; i < d.g.n; i++) {
      const GateCheck *c = &d.g.checks[i];
      json_array_append_new(checks, json_pack("{s:s, s:s, s:s}", "what", c->what, "status",
                                              c->status == CHECK_PASS ? "pass" : c->status == CHECK_FAIL ? "fail" : "missing",
                                              "detail", c->detail));
   }
   double mc;
   json_t *j = json_pack("{s:o, s:o, s:o, s:o}", "task", Task_to_json(&d.t), "run",
                         d.has_run ? json_integer(d.r.id) : json_null(), "evaluation",
                         d.has_run ? json_incref(d.r.metrics) : json_null(), "gate",
                         json_pack("{s:s, s:s, s:b, s:o}", "from", "evaluate", "to", "shadow", "open", d.g.open,
                                   "checks", checks));
   json_object_set_new(j, "min_confidence", Eval_min_confidence(st, d.t.id, &mc) ? json_real(mc) : json_null());
   json_object_set_new(j, "forced", forced_changes(st, &d.t));
   json_object_set_new(j, "coverage_by_kind", Report_coverage_by_kind(st, 0));
   json_t *load = Deploy_load_figures(st, d.t.id);
   json_object_set_new(j, "load", load ? load : json_null());
   json_object_set_new(j, "rollout", rollout_json(st, &d.t, o ? o->setup_cost : 0));
   *gate_open = d.g.open;
   report_clear(&d);
   return j;
}
