/* routewriter.h - route saves on a thread of their own, with their own workspace connection.
 * A save takes the workspace's write lock (BEGIN IMMEDIATE) and waits up to SQLite's busy
 * timeout when another process holds it: on the gateway's loop that froze every client, here it
 * only delays the admin reply. Every save goes through the gate check the binary hands in
 * (RouteGates: the control plane's Gates_change_route, which moves the task's phase with the
 * route). Finished saves come back on the loop through a pipe. */
#ifndef OFFRAMP_ROUTEWRITER_H
#define OFFRAMP_ROUTEWRITER_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>

#include "gateway/route.h"
#include "store/store.h"

/* What the gate check of a route change says, as far as the data plane needs to know. */
typedef struct {
   bool known;          /* the task is in the workspace's inventory */
   bool forced;         /* made past unmet checks by force (recorded as forced) */
   bool refused;        /* not made: unmet checks and no force */
   int n;               /* unmet checks */
   char phase[16];      /* known: the task's phase with the change */
   char *refusal;       /* refused: "TASK: shadow -> cutover refused, not met: ..." */
   char *unmet;         /* refused: " what: detail; what: detail" */
   json_t *missing;     /* refused: the unmet checks as [{"gate","what","status","detail"}] */
} RouteVerdict;

void RouteVerdict_clear(RouteVerdict *v);

/* The control plane's gates, handed to the data plane by the binary (cmd_gateway.c), so that
 * the gateway includes nothing above the store and the route. */
typedef struct RouteGates {
   /* THE gate check of a route change, in one transaction: checks r against the task's phase
    * and gates, moves the phase with it and records who and why. False when not saved: with
    * v->refused, or with *err. */
   bool (*change)(Store *st, const Route *r, const char *kind, const char *actor, const char *reason, bool force,
                  RouteVerdict *v, char **err);
   /* The route a gateway starting from the workspace may serve for r (a new reference); *why
    * says so when it serves less than r. */
   Route *(*serve)(Store *st, Route *r, char **why);
} RouteGates;

struct RouteSave;
typedef void (*RouteWriterDone)(struct RouteSave *save, void *arg);

typedef struct RouteSave {
   /* Set by the caller; the writer only reads them, and owns them until the save is done. */
   Route *route;              /* one reference, handed over; NULL with a job */
   const char *kind;          /* "set" or "rollback" (a literal) */
   char *actor, *reason;      /* malloc'd */
   bool force;                /* past unmet gate checks (recorded as forced) */
   void *arg;                 /* the caller's */
   /* Instead of a route: a write of the caller's, run on the writer's thread with its
    * connection, in turn with the route saves (reason may carry its data). */
   bool (*job)(Store *st, struct RouteSave *save, char **err);
   long num;                  /* a job's number */
   RouteWriterDone done;      /* called instead of the writer's callback (with arg), when set */
   /* Set by the writer: */
   bool ok;
   RouteVerdict verdict;      /* the gate check (RouteGates.change); verdict.refused: not saved */
   bool busy;                 /* the workspace stayed locked by another writer past the busy timeout */
   char *err;                 /* why not, when !ok */
   struct RouteSave *next;
} RouteSave;

/* RouteWriterDone is called on the loop thread for each finished save; the callee frees it with
 * RouteSave_free. */

typedef struct RouteWriter RouteWriter;

/* Starts the thread (saves are checked by gates, which must outlive it), which opens its own connection to the workspace (already migrated) at
 * its first save. NULL with *err naming what failed. */
RouteWriter *RouteWriter_start(const char *workspace, const RouteGates *gates, struct event_base *base,
                               RouteWriterDone done, void *arg, char **err);
/* Queues a save (taken); saves run one at a time, in order. */
void RouteWriter_submit(RouteWriter *w, RouteSave *save);
/* Waits for the save in progress, if any, and frees what is left unanswered (no callbacks). */
void RouteWriter_stop(RouteWriter *w);

void RouteSave_free(RouteSave *save);

#endif
