/* audit.c - per-task figures from the audit_daily/audit_outputs aggregates, priced with
 * the current price table (so a price change applies at once, without repricing calls). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/stats.h"
#include "common/util.h"
#include "control/audit.h"
#include "control/prices.h"

/* The p-quantile from a histogram, interpolated geometrically inside its bucket. */
static double quantile(const long long *h, long long n, double p) {
   if (n <= 0)
      return -1;
   double rank = p * (double)n;
   long long cum = 0;
   for (int b = 0; b < AUDIT_BUCKETS; b++) {
      if (!h[b])
         continue;
      if ((double)(cum + h[b]) >= rank) {
         double f = (rank - (double)cum) / (double)h[b];
         if (b == 0)
            return f;
         double lo = exp2((b - 1) / 4.0);
         return lo * exp2(f / 4.0);
      }
      cum += h[b];
   }
   return exp2((AUDIT_BUCKETS - 1) / 4.0);
}

static bool parse_day(const char *s, time_t *out) {
   struct tm tm = { 0 };
   const char *end = strptime(s, "%Y-%m-%d", &tm);
   if (!end || *end)
      return false;
   *out = timegm(&tm);
   return true;
}

static void day_string(time_t t, char out[11]) {
   struct tm tm;
   gmtime_r(&t, &tm);
   strftime(out, 11, "%Y-%m-%d", &tm);
}

/* The first day of the window as YYYY-MM-DD ("" = everything). */
static bool since_day(Store *st, const char *since, char out[11], char **err) {
   out[0] = '\0';
   if (!since || !*since)
      return true;
   time_t t;
   if (parse_day(since, &t)) {
      day_string(t, out);
      return true;
   }
   size_t n = strlen(since);
   long days;
   char *num = xstrndup(since, n - 1);
   bool ok = n >= 2 && since[n - 1] == 'd' && parse_long(num, &days) && days >= 1 && days <= 100000;
   free(num);
   if (!ok) {
      *err = xasprintf("--since '%s' is neither a date (2026-11-01) nor a number of days (7d)", since);
      return false;
   }
   sqlite3_stmt *s = Store_prepare(st, "SELECT max(day) FROM audit_daily");
   const char *last = sqlite3_step(s) == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
   if (last && parse_day(last, &t)) {
      day_string(t - (time_t)(days - 1) * 86400, out);
   }
   sqlite3_finalize(s);
   return true;
}

typedef struct {
   AuditRow r;
   long long hist[AUDIT_BUCKETS];
   long long lat_n;
   double lat_sum;
   long long out_chars, json_outputs;
} Acc;

static Acc *find_acc(Acc **accs, int *n, long long task_id, const char *fp) {
   for (int i = 0; i < *n; i++) {
      if ((*accs)[i].r.task_id == task_id && str_eq((*accs)[i].r.fingerprint, fp))
         return &(*accs)[i];
   }
   *accs = xrealloc(*accs, (*n + 1) * sizeof **accs);
   Acc *a = &(*accs)[(*n)++];
   memset(a, 0, sizeof *a);
   a->r.task_id = task_id;
   a->r.fingerprint = xstrdup(fp);
   return a;
}

static void note_unpriced(Audit *a, const char *model, long long calls) {
   for (int i = 0; i < a->nunpriced; i++) {
      if (str_eq(a->unpriced[i].model, model)) {
         a->unpriced[i].calls += calls;
         return;
      }
   }
   a->unpriced = xrealloc(a->unpriced, (a->nunpriced + 1) * sizeof *a->unpriced);
   a->unpriced[a->nunpriced++] = (Unpriced){ xstrdup(model), calls };
}

static void add_shape(Store *st, Audit *a) {
   /* Distinct outputs per row, and the label set: the most frequent short outputs. */
   sqlite3_stmt *s = Store_prepare(st,
      "SELECT task_id, CASE WHEN task_id = 0 THEN fingerprint ELSE '' END, count(DISTINCT hash),"
      " max(cnt) >= ?1 FROM (SELECT task_id, fingerprint, hash,"
      "  count(*) OVER (PARTITION BY task_id, fingerprint) AS cnt FROM audit_outputs) GROUP BY 1, 2");
   sqlite3_bind_int(s, 1, AUDIT_DISTINCT_CAP);
   while (sqlite3_step(s) == SQLITE_ROW) {
      long long tid = sqlite3_column_int64(s, 0);
      const char *fp = (const char *)sqlite3_column_text(s, 1);
      for (int i = 0; i < a->n; i++) {
         if (a->rows[i].task_id == tid && str_eq(a->rows[i].fingerprint, fp)) {
            a->rows[i].distinct = sqlite3_column_int64(s, 2);
            a->rows[i].distinct_capped = sqlite3_column_int(s, 3);
         }
      }
   }
   sqlite3_finalize(s);
   s = Store_prepare(st,
      "SELECT tid, k, sum(n) FROM (SELECT task_id AS tid, CASE WHEN task_id = 0 THEN fingerprint ELSE '' END AS k,"
      "  sum(n) AS n, row_number() OVER (PARTITION BY task_id, CASE WHEN task_id = 0 THEN fingerprint ELSE '' END"
      "  ORDER BY sum(n) DESC) AS rn FROM audit_outputs WHERE sample IS NOT NULL GROUP BY 1, 2, sample)"
      " WHERE rn <= ?1 GROUP BY 1, 2");
   sqlite3_bind_int(s, 1, AUDIT_LABEL_SET);
   while (sqlite3_step(s) == SQLITE_ROW) {
      long long tid = sqlite3_column_int64(s, 0);
      const char *fp = (const char *)sqlite3_column_text(s, 1);
      for (int i = 0; i < a->n; i++) {
         AuditRow *r = &a->rows[i];
         if (r->task_id == tid && str_eq(r->fingerprint, fp) && r->outputs > 0) {
            double share = (double)sqlite3_column_int64(s, 2) / (double)r->outputs;
            r->label_share = share > 1 ? 1 : share;
         }
      }
   }
   sqlite3_finalize(s);
}

bool Audit_compute(Store *st, const char *since, bool with_shape, Audit *a, char **err) {
   memset(a, 0, sizeof *a);
   char from[11];
   if (!since_day(st, since, from, err))
      return false;
   Prices *prices = Prices_load(st, err);
   if (!prices)
      return false;

   sqlite3_stmt *s = Store_prepare(st, "SELECT min(day), max(day) FROM audit_daily WHERE day >= ?1");
   sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
   time_t t0 = 0, t1 = 0;
   if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
      snprintf(a->first_day, sizeof a->first_day, "%s", (const char *)sqlite3_column_text(s, 0));
      snprintf(a->last_day, sizeof a->last_day, "%s", (const char *)sqlite3_column_text(s, 1));
      if (parse_day(a->first_day, &t0) && parse_day(a->last_day, &t1))
         a->days = (int)((t1 - t0) / 86400) + 1;
   }
   sqlite3_finalize(s);
   if (a->days < 1)
      a->days = 1;

   Sbuf sql = { 0 };
   Sbuf_puts(&sql, "SELECT d.task_id, CASE WHEN d.task_id = 0 THEN d.fingerprint ELSE '' END AS k, model,"
                   " sum(calls), sum(errors), sum(in_tokens), sum(out_tokens), sum(est_calls), sum(lat_n),"
                   " sum(lat_sum), sum(outputs), sum(out_chars), sum(json_outputs)");
   for (int b = 0; b < AUDIT_BUCKETS; b++)
      Sbuf_printf(&sql, ", sum(h%d)", b);
   Sbuf_puts(&sql, " FROM audit_daily d WHERE day >= ?1 GROUP BY 1, 2, 3");
   s = Store_prepare(st, sql.buf);
   Sbuf_free(&sql);
   sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
   Acc *accs = NULL;
   int nacc = 0;
   while (sqlite3_step(s) == SQLITE_ROW) {
      Acc *c = find_acc(&accs, &nacc, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1));
      const char *model = (const char *)sqlite3_column_text(s, 2);
      long long calls = sqlite3_column_int64(s, 3), in = sqlite3_column_int64(s, 5), out = sqlite3_column_int64(s, 6);
      c->r.calls += calls;
      c->r.errors += sqlite3_column_int64(s, 4);
      c->r.in_tokens += in;
      c->r.out_tokens += out;
      c->r.est_calls += sqlite3_column_int64(s, 7);
      c->lat_n += sqlite3_column_int64(s, 8);
      c->lat_sum += sqlite3_column_double(s, 9);
      c->r.outputs += sqlite3_column_int64(s, 10);
      c->out_chars += sqlite3_column_int64(s, 11);
      c->json_outputs += sqlite3_column_int64(s, 12);
      for (int b = 0; b < AUDIT_BUCKETS; b++)
         c->hist[b] += sqlite3_column_int64(s, 13 + b);
      const Price *p = Prices_match(prices, model);
      if (p) {
         c->r.priced_calls += calls;
         c->r.cost += Price_cost(p, in, out);
      } else {
         c->r.unpriced_calls += calls;
         note_unpriced(a, *model ? model : "(no model)", calls);
      }
   }
   sqlite3_finalize(s);
   Prices_free(prices);

   sqlite3_stmt *name = Store_prepare(st, "SELECT name FROM tasks WHERE id = ?");
   sqlite3_stmt *skel = Store_prepare(st, "SELECT skeleton FROM touchpoints WHERE fingerprint = ?");
   a->rows = xcalloc(nacc ? nacc : 1, sizeof *a->rows);
   for (int i = 0; i < nacc; i++) {
      Acc *c = &accs[i];
      AuditRow *r = &c->r;
      if (r->task_id) {
         sqlite3_bind_int64(name, 1, r->task_id);
         if (sqlite3_step(name) == SQLITE_ROW)
            r->name = xstrdup((const char *)sqlite3_column_text(name, 0));
         sqlite3_reset(name);
         if (!r->name) {   /* aggregates of a task removed meanwhile */
            free(r->fingerprint);
            continue;
         }
      } else if (*r->fingerprint) {
         sqlite3_bind_text(skel, 1, r->fingerprint, -1, SQLITE_STATIC);
         if (sqlite3_step(skel) == SQLITE_ROW)
            r->skeleton = xstrdup((const char *)sqlite3_column_text(skel, 0));
         sqlite3_reset(skel);
      }
      double calls = (double)(r->calls ? r->calls : 1);
      r->calls_per_day = (double)r->calls / a->days;
      r->avg_in = (double)r->in_tokens / calls;
      r->avg_out = (double)r->out_tokens / calls;
      r->avg_cost = r->priced_calls ? r->cost / (double)r->priced_calls : 0;
      r->daily_cost = r->cost / a->days;
      r->monthly_cost = r->daily_cost * 30;
      r->error_rate = (double)r->errors / calls;
      r->p50 = quantile(c->hist, c->lat_n, 0.50);
      r->p95 = quantile(c->hist, c->lat_n, 0.95);
      if (r->outputs) {
         r->json_share = (double)c->json_outputs / (double)r->outputs;
         r->avg_out_chars = (double)c->out_chars / (double)r->outputs;
      }
      a->calls += r->calls;
      a->est_calls += r->est_calls;
      a->unpriced_calls += r->unpriced_calls;
      a->cost += r->cost;
      a->rows[a->n++] = *r;
   }
   sqlite3_finalize(name);
   sqlite3_finalize(skel);
   free(accs);
   a->daily_cost = a->cost / a->days;
   a->monthly_cost = a->daily_cost * 30;
   for (int i = 0; i < a->n; i++)
      a->rows[i].share = a->cost > 0 ? a->rows[i].cost / a->cost : 0;
   if (with_shape)
      add_shape(st, a);
   Audit_sort(a, AUDIT_SORT_COST);
   return true;
}

void Audit_free(Audit *a) {
   for (int i = 0; i < a->n; i++) {
      free(a->rows[i].name);
      free(a->rows[i].fingerprint);
      free(a->rows[i].skeleton);
   }
   free(a->rows);
   for (int i = 0; i < a->nunpriced; i++)
      free(a->unpriced[i].model);
   free(a->unpriced);
   memset(a, 0, sizeof *a);
}

const AuditRow *Audit_find_task(const Audit *a, long long task_id) {
   for (int i = 0; i < a->n; i++) {
      if (a->rows[i].task_id == task_id)
         return &a->rows[i];
   }
   return NULL;
}

static const char *const sort_names[AUDIT_SORT_COUNT] = { "monthly cost", "calls/day", "cost/call", "name" };

const char *AuditSort_name(AuditSort s) {
   return s < AUDIT_SORT_COUNT ? sort_names[s] : "?";
}

static AuditSort sort_key;

static int cmp_double(double x, double y) {
   return x > y ? -1 : x < y ? 1 : 0;
}

static int cmp_rows(const void *pa, const void *pb) {
   const AuditRow *x = pa, *y = pb;
   int c = 0;
   switch (sort_key) {
   case AUDIT_SORT_COST: c = cmp_double(x->cost, y->cost); break;
   case AUDIT_SORT_CALLS: c = cmp_double((double)x->calls, (double)y->calls); break;
   case AUDIT_SORT_COST_PER_CALL: c = cmp_double(x->avg_cost, y->avg_cost); break;
   default: break;
   }
   if (c)
      return c;
   char lx[128], ly[128];
   AuditRow_label(x, lx, sizeof lx);
   AuditRow_label(y, ly, sizeof ly);
   /* Tasks before discovered touchpoints at equal keys. */
   if ((x->name != NULL) != (y->name != NULL))
      return x->name ? -1 : 1;
   return strcmp(lx, ly);
}

void Audit_sort(Audit *a, AuditSort s) {
   sort_key = s;
   if (a->n > 1)
      qsort(a->rows, a->n, sizeof *a->rows, cmp_rows);
}

void AuditRow_label(const AuditRow *r, char *buf, size_t size) {
   if (r->name)
      snprintf(buf, size, "%s", r->name);
   else if (*r->fingerprint)
      snprintf(buf, size, "? %.8s %s", r->fingerprint, r->skeleton ? r->skeleton : "");
   else
      snprintf(buf, size, "? calls without a prompt");
}

/* Column widths of the table after the feature column. */
#define NUM_COLS 56

void Audit_header(char *buf, size_t size, int width) {
   int fw = width - NUM_COLS > 12 ? width - NUM_COLS : 12;
   snprintf(buf, size, "%-*s %9s %13s %9s %10s %10s", fw, "feature", "calls/day", "avg cost/call", "daily",
            "monthly", "% of total");
}

void Audit_row(const AuditRow *r, char *buf, size_t size, int width) {
   int fw = width - NUM_COLS > 12 ? width - NUM_COLS : 12;
   char label[256], cpd[32], avg[32], daily[32], monthly[32], share[32];
   AuditRow_label(r, label, sizeof label);
   /* Cut the label at fw bytes without splitting a UTF-8 character. */
   size_t cut = strlen(label);
   if ((int)cut > fw) {
      cut = (size_t)fw;
      while (cut > 0 && ((unsigned char)label[cut] & 0xC0) == 0x80)
         cut--;
      label[cut] = '\0';
   }
   fmt_count(cpd, sizeof cpd, llround(r->calls_per_day));
   if (r->priced_calls == 0) {
      snprintf(avg, sizeof avg, "unpriced");
      snprintf(daily, sizeof daily, "-");
      snprintf(monthly, sizeof monthly, "-");
      snprintf(share, sizeof share, "-");
   } else {
      /* Per-call costs are fractions of a cent: keep three significant digits. */
      fmt_money(avg, sizeof avg, r->avg_cost, r->avg_cost >= 0.01 ? 3 : r->avg_cost >= 0.0001 ? 4 : 6);
      fmt_money(daily, sizeof daily, r->daily_cost, -1);
      fmt_money(monthly, sizeof monthly, r->monthly_cost, -1);
      snprintf(share, sizeof share, "%.1f %%%s", 100 * r->share, r->unpriced_calls ? "*" : "");
   }
   snprintf(buf, size, "%-*s %9s %13s %9s %10s %10s", fw, label, cpd, avg, daily, monthly, share);
}

static json_t *num_or_null(double v) {
   return v < 0 ? json_null() : json_real(v);
}

json_t *Audit_to_json(const Audit *a) {
   json_t *rows = json_array();
   for (int i = 0; i < a->n; i++) {
      const AuditRow *r = &a->rows[i];
      json_t *o = json_pack("{s:o,s:s,s:I,s:f,s:I,s:I,s:I,s:f,s:f,s:o,s:f,s:f,s:f,s:f,s:f,s:o,s:o,s:{s:I,s:I,s:b,s:f,s:f,s:f}}",
         "task", r->name ? json_string(r->name) : json_null(), "fingerprint", r->fingerprint,
         "calls", (json_int_t)r->calls, "calls_per_day", r->calls_per_day,
         "priced_calls", (json_int_t)r->priced_calls, "unpriced_calls", (json_int_t)r->unpriced_calls,
         "estimated_token_calls", (json_int_t)r->est_calls, "avg_input_tokens", r->avg_in,
         "avg_output_tokens", r->avg_out, "avg_cost_per_call", r->priced_calls ? json_real(r->avg_cost) : json_null(),
         "daily_cost", r->daily_cost, "monthly_cost", r->monthly_cost, "share_of_total", r->share,
         "error_rate", r->error_rate, "cost", r->cost, "p50_latency_ms", num_or_null(r->p50),
         "p95_latency_ms", num_or_null(r->p95), "output_shape", "outputs", (json_int_t)r->outputs,
         "distinct_outputs", (json_int_t)r->distinct, "distinct_capped", r->distinct_capped,
         "json_share", r->json_share, "label_share", r->label_share, "avg_output_chars", r->avg_out_chars);
      if (r->skeleton)
         json_object_set_new(o, "skeleton", json_string(r->skeleton));
      json_array_append_new(rows, o);
   }
   json_t *unpriced = json_array();
   for (int i = 0; i < a->nunpriced; i++)
      json_array_append_new(unpriced, json_pack("{s:s,s:I}", "model", a->unpriced[i].model, "calls",
                                                (json_int_t)a->unpriced[i].calls));
   return json_pack("{s:s?,s:s?,s:i,s:I,s:f,s:f,s:f,s:I,s:I,s:o,s:o}", "first_day",
                    a->first_day[0] ? a->first_day : NULL, "last_day", a->last_day[0] ? a->last_day : NULL,
                    "days", a->days, "calls", (json_int_t)a->calls, "cost", a->cost, "daily_cost", a->daily_cost,
                    "monthly_cost", a->monthly_cost, "estimated_token_calls", (json_int_t)a->est_calls,
                    "unpriced_calls", (json_int_t)a->unpriced_calls, "unpriced", unpriced, "rows", rows);
}
