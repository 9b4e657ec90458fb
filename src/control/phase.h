/* phase.h - the ladder audit -> ... -> operate: the gate out of each phase (above dataset, eval,
 * rollout and deploy, whose checks it reads) and the moves along it. The names and the
 * transition log are phaselog.h, beneath task.h.
 * Folder rule, src/control/: the control plane; includes anything but demo/, cli/ and ui/.
 */
#ifndef OFFRAMP_PHASE_H
#define OFFRAMP_PHASE_H

#include <stdarg.h>
#include <stdbool.h>

#include "common/util.h"
#include "control/phaselog.h"
#include "control/task.h"
#include "store/store.h"

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

#endif
