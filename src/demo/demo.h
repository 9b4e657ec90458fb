/* demo.h - the demo: a workspace with the touchpoints of seed 001's audit table and two weeks
 * of their logs, and the services it runs on loopback (a replay server standing in for the
 * frontier API, the built-in trainer, the gateway).
 * Folder rule, src/demo/: the demo, a library of its own; nothing of the product includes it.
 */
#ifndef OFFRAMP_DEMO_H
#define OFFRAMP_DEMO_H

#include <stdbool.h>
#include <stdio.h>

#include "control/service.h"
#include "store/store.h"

/* The task the demo migrates. */
#define DEMO_TASK "content-classification"
/* The tasks the logs bring beyond the label task: an extraction and a fixed-format rewrite. */
#define DEMO_EXTRACTION_TASK "order-extraction"
#define DEMO_REWRITE_TASK "ticket-rewrite"
/* The environment variable that carries the demo trainer's token to its clients. */
#define DEMO_TRAINER_KEY_ENV "OFFRAMP_TRAINER_TOKEN"
/* The accuracy the demo's cutover threshold keeps (offramp eval --bar): the candidate answers
 * what it is sure of, the API the rest, so the fallback rate shows. */
#define DEMO_FALLBACK_BAR "0.98"
/* The share of the candidate's answers also asked of the frontier in canary and cutover (the
 * route's verify_percent): the canary analysis's agreement. High because the demo's canary steps
 * last seconds, not the hours a real one does. */
#define DEMO_VERIFY_PERCENT "50"
/* The demo task's rollout: canary steps, the seconds each is held, and the candidate's hosting
 * in USD a month (a small CPU machine serving the distiller). */
#define DEMO_ROLLOUT_STEPS "10,50,100"
#define DEMO_ROLLOUT_DWELL_S 3
#define DEMO_HOSTING_COST 40

/* Where the demo workspace lives unless -w is given: beside the user's, never it. */
char *Demo_default_path(void);
/* Add the demo tasks to an empty workspace; does nothing when tasks exist. */
bool Demo_seed(Store *st, char **err);

typedef struct {
   double scale;              /* volume of the generated logs (1 = the demo app's) */
   int days;
   long frontier_latency_ms;  /* the replay server's answer delay */
} DemoParams;

void DemoParams_defaults(DemoParams *p);

/* Seeds the tasks and, when the workspace has no exchanges yet, generates the logs and imports
 * them; says what it does on log (may be NULL). */
bool Demo_populate(Store *st, const DemoParams *p, FILE *log, char **err);

typedef struct {
   char *dir;         /* <workspace data dir>/demo: logs, token, trainer state */
   Service frontier, trainer, gateway;
   Service replay;    /* background traffic, when started */
   double replay_rate;
} DemoEnv;

/* Starts the services, registers the trainer as backend "demo-trainer" and stores the
 * gateway's URL and admin token file in the workspace settings (where offramp route and the
 * console find them). On failure whatever started is stopped. */
bool Demo_start(Store *st, const DemoParams *p, DemoEnv *env, char **err);
/* Background traffic: the task's logged requests replayed through the gateway at rate/s. */
bool Demo_replay_start(DemoEnv *env, const char *workspace, double rate, char **err);
void Demo_replay_stop(DemoEnv *env);
/* Stops every service and reaps it. */
void Demo_stop(DemoEnv *env);
/* One line: each service, its port, and whether it runs; the demo task's route and, over the
 * last minute of its traffic, who answered and the fallback rate. */
void Demo_status(DemoEnv *env, Store *st, char *buf, size_t size);

/* The commands of task's rollout steps in the demo, as "offramp" arguments (NULL-terminated,
 * caller frees with Demo_free_args): the one place that says how the demo drives the gateway.
 * The shadow step compares answers as the task's kind reads them (--compare label, json, ...). */
typedef enum { DEMO_STEP_SHADOW, DEMO_STEP_CANARY, DEMO_STEP_CUTOVER, DEMO_STEP_ROLLBACK } DemoStep;
char **Demo_step_args(Store *st, const char *workspace, const char *task, DemoStep step, int percent, char **err);
void Demo_free_args(char **args);

#endif
