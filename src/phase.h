/* phase.h - the migration phase machine: audit -> ... -> operate, gates, history. */
#ifndef OFFRAMP_PHASE_H
#define OFFRAMP_PHASE_H

#include <stdarg.h>
#include <stdbool.h>

#include "store.h"
#include "task.h"
#include "util.h"

typedef enum {
   PHASE_AUDIT,
   PHASE_DATASET,
   PHASE_TRAIN,
   PHASE_EVALUATE,
   PHASE_SHADOW,
   PHASE_CANARY,
   PHASE_CUTOVER,
   PHASE_OPERATE,
   PHASE_STAY,       /* "stays on the API": off the ladder */
   PHASE_COUNT
} Phase;

#define PHASE_LADDER PHASE_STAY   /* phases before this one form the ladder */

const char *Phase_name(Phase p);
/* Human title, e.g. "stays on API". */
const char *Phase_title(Phase p);
/* The runbook that goes with the phase ("training" for train, ...). */
const char *Phase_runbook(Phase p);
bool Phase_parse(const char *s, Phase *out);

typedef enum { CHECK_PASS, CHECK_FAIL, CHECK_MISSING } CheckStatus;

typedef struct {
   CheckStatus status;
   char what[48];      /* "logged examples" */
   char detail[256];   /* "212, the gate needs 500 (import more logs: offramp import FILE)" */
} GateCheck;

/* Fill one check: what it is, its status and the detail (printf-style). */
void GateCheck_set(GateCheck *c, CheckStatus status, const char *what, const char *fmt, ...) ATTR_PRINTF(4, 5);
void GateCheck_vset(GateCheck *c, CheckStatus status, const char *what, const char *fmt, va_list ap) ATTR_PRINTF(4, 0);

#define GATE_MAX_CHECKS 8

typedef struct {
   Phase from, to;
   GateCheck checks[GATE_MAX_CHECKS];
   int n;
   bool open;          /* every check passed */
} Gate;

/* The gate out of the task's current phase. */
void Phase_gate(Store *st, const Task *t, Gate *g);
/* The gate out of phase from, wherever the task is (the report shows the evaluation gate). */
void Phase_gate_from(Store *st, const Task *t, Phase from, Gate *g);

/* Advance one phase when the gate is open; otherwise *err lists what is missing. */
bool Phase_advance(Store *st, const char *task, const char *reason, Gate *g, char **err);
/* Move back to an earlier phase (or out of "stays on API" to any phase). */
bool Phase_rollback(Store *st, const char *task, Phase to, const char *reason, char **err);
/* Move to phase to without a gate, recorded as an advance or a rollback: the rollout commands
 * checked their own gates and the phase follows the route they set (shadow, canary, cutover). */
bool Phase_follow(Store *st, const char *task, Phase to, const char *reason, char **err);
/* Park the task on the API. */
bool Phase_stay(Store *st, const char *task, const char *reason, char **err);

/* Append to the audit trail inside the caller's transaction (actor: Store_actor()). */
bool Phase_record(Store *st, long long task_id, const char *kind, const char *from, const char *to,
                  const char *reason, char **err);
/* The same with who did it, and whether it was forced past a closed gate. */
bool Phase_record_by(Store *st, long long task_id, const char *kind, const char *from, const char *to,
                     const char *actor, const char *reason, bool forced, char **err);
/* Set t's phase to `to` and record it (kind advance|rollback), inside the caller's transaction:
 * the route changes move the phase with the route this way (gates.c). */
bool Phase_move(Store *st, const Task *t, const char *kind, Phase to, const char *actor, const char *reason,
                bool forced, char **err);

/* The task's picked candidate (tasks.candidate_experiment): the experiment, its model, the
 * dataset it was trained on (0: files given directly) and its backend. */
typedef struct {
   long long experiment, dataset_id;
   char *backend, *model, *base_url;   /* base_url NULL: the backend is gone */
} Picked;

/* false (p zeroed) when the task has no picked experiment with a model. */
bool Phase_picked(Store *st, long long task_id, Picked *p);
void Picked_clear(Picked *p);
/* The latest finished evaluation run of the picked model on the dataset it was trained from
 * (any test set when it was trained from files), 0 when none: what the evaluate gate reads. */
long long Phase_candidate_run(Store *st, long long task_id, const Picked *p);

typedef struct {
   char *ts, *kind, *from, *to, *actor, *reason;
   bool forced;        /* moved past a closed gate by force */
} PhaseEvent;

PhaseEvent *Phase_history(Store *st, long long task_id, int *n);
void Phase_free_history(PhaseEvent *ev, int n);

#endif
