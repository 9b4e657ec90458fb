/* route.h - per-task routes (design.md's route JSON): parsing, validation, persistence with an
 * audit trail of every change, and the lookup the gateway does per request. */
#ifndef OFFRAMP_ROUTE_H
#define OFFRAMP_ROUTE_H

#include <jansson.h>
#include <stdbool.h>

#include "common/compare.h"
#include "store/store.h"

typedef enum { ROUTE_PASSTHROUGH, ROUTE_SHADOW, ROUTE_CANARY, ROUTE_CUTOVER } RouteMode;

typedef struct {
   char *url;       /* base URL ending in /v1 (no trailing slash); NULL = the default upstream */
   char *model;     /* model name sent upstream; NULL keeps the client's */
   char *key_env;   /* environment variable holding the upstream key, or NULL */
   /* Made once per route, not per request: */
   char *chat_url;     /* url + "/chat/completions", or NULL */
   char *model_json;   /* model as a JSON string, to splice into request bodies, or NULL */
} RouteArm;

/* The canary analysis the gateway runs on the route while it is in canary (Flagger's analysis,
 * Argo Rollouts' background analysis): a check every interval on the candidate's answers, a
 * rollback to shadow at failure_limit failed checks, and with auto_promote the next step after
 * each dwell without a failed check. */
#define ROUTE_MAX_STEPS 16

typedef struct {
   bool enabled;              /* false: no automatic checks (the route stays where it is put) */
   double interval_s;         /* one check per interval */
   int failure_limit;         /* failed checks in the canary run that roll it back */
   double max_error_rate;     /* candidate errors / candidate requests in an interval */
   double max_p95_ms;         /* candidate p95 latency in an interval; 0 = not checked */
   double min_agreement;      /* verified agreement since the step began */
   double max_fallback_rate;  /* fallbacks / candidate requests in an interval */
   long min_samples;          /* fewer candidate requests in an interval: inconclusive */
   double verify_percent;     /* canary: share of candidate answers also asked of the primary */
   bool auto_promote;
   double dwell_s;            /* auto-promote: a step is held this long without a failed check */
   int steps[ROUTE_MAX_STEPS];   /* rising candidate shares; 100 means cutover */
   int n_steps;
} RouteAnalysis;

void RouteAnalysis_default(RouteAnalysis *a);

typedef struct Route {
   int refs;                  /* in-flight requests keep the route they started with */
   char *task;
   char **aliases;            /* request "model" values that select this route */
   int n_aliases;
   char **fingerprints;       /* prompt-template fingerprints that select this route */
   int n_fingerprints;
   RouteArm primary, candidate;
   RouteMode mode;
   double percent;            /* canary: share of traffic the candidate answers */
   char *sticky;              /* user | conversation | random */
   CompareMode compare;
   TextMetric metric;         /* compare text: the metric ... */
   double threshold;          /* ... and the score at which answers agree */
   double min_confidence;     /* 0 = no confidence fallback */
   bool fallback_on_error;
   long timeout_ms;           /* candidate timeout */
   double verify_percent;     /* cutover/canary: candidate answers also checked against the primary */
   double noise_percent;      /* shadow: primary asked twice to measure its own noise */
   RouteAnalysis analysis;
} Route;

const char *Route_mode_name(RouteMode m);

/* A route from its JSON (task from the URL; a "task" member, if any, must match). NULL with
 * *err naming the field, the value and the fix. */
Route *Route_from_json(const char *task, const json_t *j, char **err);
/* Canonical JSON with every default spelled out. */
json_t *Route_to_json(const Route *r);
Route *Route_ref(Route *r);
void Route_unref(Route *r);

/* Whether every key_env r names is in allowed[0..n) (the gateway's --key-env list): a route must
 * not make the gateway read an arbitrary secret of its environment and send it to the route's
 * url. False with *err naming the variable and the allowed ones. */
bool Route_key_envs_allowed(const Route *r, const char *const *allowed, int n, char **err);

/* The route for a task name, or NULL. */
Route *Route_find(Route *const *routes, int n, const char *task);
/* Which route a chat request takes: the X-Offramp-Task tag (may be NULL), else a route whose task
 * or alias is the request's "model" (may be NULL), else a route listing the prompt fingerprint of
 * the request body[0..len). *task is the task to record (the tag, or the route's task; NULL when
 * unattributed). NULL when no route applies (the caller's default passthrough). */
Route *Route_attribute(Route *const *routes, int n, const char *tag, const char *model, const char *body,
                       size_t len, const char **task);

/* Every persisted route; *n set. */
Route **Route_load_all(Store *st, int *n, char **err);
/* Persist r (replacing the task's route) and append a route event (time, actor, old -> new,
 * kind "set" or "rollback", reason), in one transaction. */
bool Route_save(Store *st, const Route *r, const char *kind, const char *actor, const char *reason,
                char **err);
/* The same inside the caller's transaction; forced: made past a closed gate (gates.c). */
bool Route_save_in(Store *st, const Route *r, const char *kind, const char *actor, const char *reason, bool forced,
                   char **err);
/* The task's route changes, oldest first, as a JSON array: [{revision (1, 2, ...), ts, kind,
 * actor, old, new, reason, forced}]. */
json_t *Route_history(Store *st, const char *task);

#endif
