/* audit.h - where the money goes: per-task figures (volume, tokens, cost, latency, errors,
 * output shape) read from the aggregates ExchangeWriter_add keeps, never from a rescan. */
#ifndef OFFRAMP_AUDIT_H
#define OFFRAMP_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/stats.h"
#include "store/exchange.h"
#include "store/store.h"

typedef struct {
   long long task_id;          /* 0: not attributed to a task */
   char *name;                 /* the task's name; NULL for a discovered touchpoint */
   char *fingerprint;          /* discovered touchpoint ("" = calls with no prompt) */
   char *skeleton;
   long long calls, errors, in_tokens, out_tokens, est_calls;
   long long priced_calls, unpriced_calls;
   double cost;                /* USD over the window, priced calls only */
   double calls_per_day, avg_in, avg_out, avg_cost, daily_cost, monthly_cost, share;
   double error_rate;
   double p50, p95;            /* ms; < 0 when no latency was logged */
   long long outputs, distinct;
   bool distinct_capped;
   double json_share, label_share, avg_out_chars;
} AuditRow;

typedef struct {
   char *model;
   long long calls;
} Unpriced;

typedef struct {
   char first_day[11], last_day[11];
   int days;                   /* days the window spans (first to last logged day) */
   AuditRow *rows;
   int n;
   long long calls, est_calls, unpriced_calls;
   double cost, daily_cost, monthly_cost;
   Unpriced *unpriced;
   int nunpriced;
} Audit;

/* since: NULL (everything), "YYYY-MM-DD", or "Nd" (the last N days up to the newest logged
 * day). with_shape adds the output-shape figures (distinct, JSON, labels), which read the
 * tracked outputs. false with *err on a bad since or a workspace error. */
bool Audit_compute(Store *st, const char *since, bool with_shape, Audit *a, char **err);
/* The row of a task, NULL when it has no logged calls. */
const AuditRow *Audit_find_task(const Audit *a, long long task_id);
void Audit_free(Audit *a);
json_t *Audit_to_json(const Audit *a);

typedef enum { AUDIT_SORT_COST, AUDIT_SORT_CALLS, AUDIT_SORT_COST_PER_CALL, AUDIT_SORT_NAME, AUDIT_SORT_COUNT } AuditSort;
const char *AuditSort_name(AuditSort s);
void Audit_sort(Audit *a, AuditSort s);

/* The seed-001 table (feature, calls/day, avg cost/call, daily, monthly, % of total),
 * fitted to width columns; shared by the CLI and the console. */
void Audit_header(char *buf, size_t size, int width);
void Audit_row(const AuditRow *r, char *buf, size_t size, int width);
/* "3f2a9c01 sys: You are..." or the task name. */
void AuditRow_label(const AuditRow *r, char *buf, size_t size);

#endif
