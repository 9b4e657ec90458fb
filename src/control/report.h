/* report.h - the migration report of a task: audit figures, dataset, experiments, the latest
 * evaluation with its per-class table and confidence curve, the evaluation gate and the rollout, as
 * Markdown (rendered by the console's runbook viewer) or JSON. */
#ifndef OFFRAMP_REPORT_H
#define OFFRAMP_REPORT_H

#include <jansson.h>
#include <stdbool.h>

#include "store/store.h"

/* run 0: the task's latest finished evaluation. *gate_open tells CI whether the evaluation
 * gate passes. NULL with *err when the task or the run does not exist. */
char *Report_markdown(Store *st, const char *task, long long run, bool *gate_open, char **err);
json_t *Report_json(Store *st, const char *task, long long run, bool *gate_open, char **err);

/* A rate as the report and offramp operate give it: {k, n, value (null when n is 0), lo95, hi95},
 * the bounds the Wilson 95 % interval. */
json_t *Report_rate_json(long long k, long long n);

/* The confidence thresholds the coverage by kind is read at. */
#define REPORT_KIND_THRESHOLDS 5
extern const double Report_kind_thresholds[REPORT_KIND_THRESHOLDS];

/* Coverage against agreement per answer kind, from the workspace's compared answers that carry
 * a confidence (shadow, verified canary and cutover answers): for each kind with any,
 * {kind, confidence (how it is read for that kind), n, points: [{threshold, covered, agreed,
 * coverage (covered / n), agreement (agreed / covered, null when none is covered)}]}; the
 * candidate keeps the answers at or above the threshold, the rest fall back to the API.
 * task_id 0: every task's; else that task's alone (one kind). */
json_t *Report_coverage_by_kind(Store *st, long long task_id);

typedef struct {
   double setup_cost;   /* one-off USD of the migration (work, training): the break-even's numerator */
} ReportOpts;

/* With options (NULL: none); the report ends with the rollout: agreement with its 95 % CI per
 * route, the route history, fallbacks by reason, verified agreement, savings and break-even. */
char *Report_markdown_opts(Store *st, const char *task, long long run, const ReportOpts *o, bool *gate_open, char **err);
json_t *Report_json_opts(Store *st, const char *task, long long run, const ReportOpts *o, bool *gate_open, char **err);

#endif
