/* rollout.h - progressive delivery of a task's candidate, in Argo Rollouts / Flagger words:
 * step weights as data (5, 10, 20, 50, 100), an analysis every interval against triggers, a
 * failure limit that aborts (all traffic back to the stable arm), inconclusive analysis that
 * pauses for a human, promote / promote-full. Route changes go through the gateway's admin API,
 * which records them (route_events: the one route history); the task's phase follows the route.
 * The analysis itself (checks, automatic rollback, auto-promote) runs in the gateway. */
#ifndef OFFRAMP_ROLLOUT_H
#define OFFRAMP_ROLLOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "control/phaselog.h"
#include "control/task.h"
#include "gateway/route.h"
#include "store/store.h"

#define ROLLOUT_MAX_STEPS ROUTE_MAX_STEPS   /* the gateway takes as many */

typedef struct {
   int steps[ROLLOUT_MAX_STEPS];   /* candidate share per step, ascending; 100 = cutover */
   int n_steps;
   double dwell_s;                 /* a step is held this long before the next (auto-promote, gate) */
   double interval_s;              /* analysis interval */
   int failure_limit;              /* failed checks at a step before the automatic rollback */
   double max_error_rate;          /* candidate errors / candidate requests */
   double min_agreement;           /* agreement on the compared sample; < 0: the task's bar */
   double max_p95_ms;              /* candidate p95 latency; 0 = off */
   double max_fallback_rate;       /* fallbacks / candidate requests */
   long min_samples;               /* fewer candidate requests in an interval: inconclusive */
   double hosting_cost;            /* USD per month for serving the candidate */
} RolloutSettings;

typedef struct {
   int pos;                        /* -1 shadow (nothing served by the candidate), else a step index */
   bool paused;
   char pause_reason[200];
   int failures;                   /* failed checks since the step was entered */
   double step_since;              /* epoch seconds the step was entered; 0 unknown */
   int held;                       /* highest step held for its dwell without a failed check; -1 none */
} RolloutState;

void RolloutSettings_default(RolloutSettings *s);
/* "5,10,20,50,100": ascending whole percentages 1..100. */
bool Rollout_parse_steps(const char *text, RolloutSettings *s, char **err);
void Rollout_format_steps(const RolloutSettings *s, char *buf, size_t size);

/* Settings and state of the task's rollout (defaults when it has none yet). */
void Rollout_load(Store *st, long long task_id, RolloutSettings *s, RolloutState *state);
bool Rollout_save(Store *st, long long task_id, const RolloutSettings *s, const RolloutState *state, char **err);

/* The step a route is at (-1: passthrough or shadow) and the route a step means. */
int Rollout_position(const RolloutSettings *s, RouteMode mode, double percent);
void Rollout_target(const RolloutSettings *s, int pos, RouteMode *mode, double *percent);
/* The highest step held for its dwell without a failed check, counting the current one. */
int Rollout_held(const RolloutSettings *s, const RolloutState *state, double now);
/* The canary gate: every step below 100 % held for its dwell without a failed check. */
void Rollout_canary_gate(Store *st, const Task *t, GateCheck *c);

/* ---- analysis: the gateway runs it (src/gateway/canary.c) on the route's "analysis" ---- */
/* Sets route's "analysis" from the settings (steps, dwell, interval, failure limit, triggers; the
 * task's agreement bar when min_agreement is unset), keeping what only the route holds
 * (enabled, auto_promote, verify_percent). */
void Rollout_analysis_to_route(const RolloutSettings *s, double agreement_bar, json_t *route);

/* The one definition of the bar verified agreement is held to in canary, cutover and operate:
 * the rollout's min_agreement when set, else the task's agreement bar (which is also the
 * shadow gate's bar). Every view and command shows this value; *source, when asked, says
 * where it comes from and how to change it ("the task's agreement bar (offramp task edit
 * --agreement-bar)"). */
double Rollout_agreement_bar(const RolloutSettings *s, const Task *t, const char **source);
/* Where the shadow gate's bar (the task's agreement bar) comes from, in the same words. */
extern const char Rollout_task_bar_source[];

/* The rollout as the workspace's records say it stands (the steps the gateway serves, the step
 * its last route event put it at, a pause a later step forward ended), without saving it: what
 * the console shows between two saves. */
void Rollout_observe(Store *st, const Task *t, RolloutSettings *s, RolloutState *state);
/* The same, and *changed: whether it differs from the stored state. */
void Rollout_observe_changed(Store *st, const Task *t, RolloutSettings *s, RolloutState *state, bool *changed);

/* ---- operate: after cutover, from the captured exchanges ---- */
typedef struct {
   long long verified_k, verified_n;       /* last 24 h: candidate answers checked on the primary, agreeing */
   long long verified_k_prev, verified_n_prev;   /* the 7 days before */
   long long served, fallbacks;            /* last 24 h: answers meant for the candidate, and those fallen back */
   long long served_prev, fallbacks_prev;
   long long api_calls, calls;             /* last 24 h: answers that cost a frontier call, of all answers */
   long long dataset_id, new_since_dataset;
   char dataset_at[32];
   double cost_before, cost_now, saving;   /* USD per month */
   double breakeven_share;                 /* share of traffic on the candidate that pays for the hosting */
   bool drift_agreement, drift_fallback;   /* past the rollout's bars */
} OperateFigures;

void Rollout_operate(Store *st, const Task *t, OperateFigures *f);

/* ---- records ---- */
/* Record an analysis result or a pause/resume (kind pass|fail|inconclusive|pause|resume). */
bool Rollout_record(Store *st, long long task_id, const char *kind, int percent, const char *detail, char **err);
/* The task's rollout log, oldest first: [{ts, kind, percent, actor, detail}]. */
json_t *Rollout_log(Store *st, long long task_id, int limit);

#endif
