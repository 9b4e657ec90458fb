/* canary.h - the canary analysis the gateway runs itself, in Flagger's and Argo Rollouts' words:
 * while a route is in canary, a check every analysis interval on the candidate's answers (error
 * rate, p95 latency, fallback rate, and agreement with the primary on an automatic verify share);
 * a failed check counts, and at the route's failure limit the gateway rolls the route back to
 * shadow (all traffic on the stable arm) on its own; with auto-promote, each step held for its
 * dwell without a failed check moves to the next (the last, 100 %, is cutover). Each check is
 * written to the task's rollout log (rollout_events, actor "gateway") and each route change to
 * the route history (route_events, actor "gateway", the reason with the figures), through the
 * route writer: the loop never waits on the workspace. The route change itself serves at once.
 * Owned by the loop thread. Depends on the route, the route writer and the store only. */
#ifndef OFFRAMP_CANARY_H
#define OFFRAMP_CANARY_H

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>

#include "common/util.h"
#include "gateway/route.h"
#include "gateway/routewriter.h"

/* What the analysis needs of the gateway. */
typedef struct {
   /* The routes being served now. */
   Route *const *(*routes)(void *arg, int *n);
   /* Serve r (one reference, handed over) in place of its task's route from now on. */
   void (*put)(void *arg, Route *r);
   /* The route writer, started on demand; NULL with *err. */
   RouteWriter *(*writer)(void *arg, char **err);
   /* A route change of the analysis has been saved (or given up): a drain may be waiting. */
   void (*settled)(void *arg);
   void *arg;
} CanaryHost;

typedef struct Canary Canary;

Canary *Canary_new(struct event_base *base, const CanaryHost *host);
void Canary_free(Canary *c);

/* One finished exchange on route r (the route it started with). */
typedef struct {
   bool candidate;      /* the candidate was asked to serve it (canary split) */
   bool error;          /* its answer was an error: status, timeout, malformed, unreachable */
   double latency_ms;   /* the candidate's */
   bool fell_back;      /* the primary served it instead */
   int agree;           /* verified against the primary: 1, 0; -1 not verified */
} CanaryObs;

void Canary_observe(Canary *c, const Route *r, const CanaryObs *o);

/* The share (percent) of the candidate's canary answers also asked of the primary: the
 * analysis' automatic verify share, or the route's verify_percent when larger. */
double Canary_verify_percent(const Route *r);

/* The analysis of one task ({task, state, percent, failed_checks, ..., checks:[...],
 * decisions:[...]}), NULL when the gateway has analysed none; task NULL: an array of all. */
json_t *Canary_json(Canary *c, const char *task);
void Canary_prometheus(Canary *c, Sbuf *out);
/* Route changes of the analysis not yet saved. */
long Canary_pending(const Canary *c);

#endif
