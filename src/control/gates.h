/* gates.h - the one gate check every route change goes through (the CLI's route and rollout
 * commands, the console, the admin API all end in the gateway's route writer, which calls
 * Gates_change_route): the requested mode against what the task's phase and its gates allow,
 * the phase moved with the route, who and why recorded, in one transaction. So the route a
 * gateway serves and the task's phase cannot disagree. */
#ifndef OFFRAMP_GATES_H
#define OFFRAMP_GATES_H

#include <jansson.h>
#include <stdbool.h>

#include "control/phase.h"
#include "gateway/route.h"
#include "gateway/routewriter.h"
#include "store/store.h"

#define GATES_MAX_MISSING 24

typedef struct {
   bool known;          /* the task is in the workspace's inventory */
   Phase from, to;      /* the task's phase before the change and with it */
   bool allowed;        /* within what the phase and its gates allow */
   bool forced;         /* made past unmet checks by force (recorded as forced) */
   bool refused;        /* not made: unmet checks and no force */
   int n;
   GateCheck missing[GATES_MAX_MISSING];   /* the unmet checks, gate by gate */
   Phase gate[GATES_MAX_MISSING];          /* whose gate each is (PHASE_COUNT: the route's own) */
} GateVerdict;

/* Read-only: may the task's route become r (old: the route saved now, or NULL)? Moving the
 * route forward (passthrough < shadow < canary < cutover) needs every gate between the task's
 * phase and the mode's phase open; a new candidate (not one that served before) must be the
 * picked experiment's model with its evaluation passed; lower modes are always allowed. */
void Gates_check_route(Store *st, const Route *r, const Route *old, GateVerdict *v);

/* THE gate check of a route change, in one transaction: checks r against the phase and the
 * gates, and unless refused moves the phase with the route (a rollback moves it back, a forward
 * change through open gates forward) and saves the route with kind ("set" or "rollback"), actor,
 * reason and the forced mark. force: make it past unmet checks (the caller demands a reason).
 * true when saved; false when refused (v->refused, *err NULL) or on an error (*err). */
bool Gates_change_route(Store *st, const Route *r, const char *kind, const char *actor, const char *reason,
                        bool force, GateVerdict *v, char **err);

/* The route a gateway starting from the workspace may serve for r: r itself (a new reference)
 * or, when r is ahead of the task's phase (an old workspace, a phase rolled back by hand), a
 * copy at the phase's mode with *why saying so. */
Route *Gates_serve(Store *st, Route *r, char **why);

/* "TASK: shadow -> cutover refused, not met:\n  failed agreement: ..." (caller frees). */
char *Gates_refusal(const GateVerdict *v, const char *task, RouteMode mode);
/* The unmet checks as [{"gate","what","status","detail"}]. */
json_t *Gates_missing_json(const GateVerdict *v);

/* The gates handed to the gateway's data plane (cmd_gateway.c): its route writer checks every
 * change with them, and a starting gateway serves what they allow. */
extern const RouteGates Gates_for_gateway;

#endif
