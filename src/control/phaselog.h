/* phaselog.h - the phases' names, a gate's checks as plain data, and the transition log
 * (phase_events): beneath task.h, so creating a task can log it without the ladder above. */
#ifndef OFFRAMP_PHASELOG_H
#define OFFRAMP_PHASELOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "common/util.h"
#include "store/store.h"

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

/* Append to the audit trail inside the caller's transaction (actor: Store_actor()). */
bool Phase_record(Store *st, long long task_id, const char *kind, const char *from, const char *to,
                  const char *reason, char **err);
/* The same with who did it, and whether it was forced past a closed gate. */
bool Phase_record_by(Store *st, long long task_id, const char *kind, const char *from, const char *to,
                     const char *actor, const char *reason, bool forced, char **err);

typedef struct {
   char *ts, *kind, *from, *to, *actor, *reason;
   bool forced;        /* moved past a closed gate by force */
} PhaseEvent;

PhaseEvent *Phase_history(Store *st, long long task_id, int *n);
void Phase_free_history(PhaseEvent *ev, int n);

#endif
