/* rolloutctl.h - the rollout's driver, above the ladder (phase.h): actions that check the gates,
 * send the route change to the gateway and move the phase with it; the watch that follows what
 * the gateway's own analysis decides. The steps, state and canary gate are rollout.h. */
#ifndef OFFRAMP_ROLLOUTCTL_H
#define OFFRAMP_ROLLOUTCTL_H

#include "control/gwadmin.h"
#include "control/rollout.h"

/* ---- actions ---- */
typedef enum { ROLLOUT_STEP_UP, ROLLOUT_STEP_DOWN, ROLLOUT_ABORT, ROLLOUT_PROMOTE, ROLLOUT_PROMOTE_FULL,
               ROLLOUT_PAUSE, ROLLOUT_RESUME } RolloutAction;
bool RolloutAction_parse(const char *s, RolloutAction *a);
const char *RolloutAction_name(RolloutAction a);

typedef enum { ACT_OK, ACT_GATE, ACT_CONFIRM, ACT_ERROR } ActResult;

typedef struct {
   const char *reason;
   bool force;        /* past a closed gate (said in the recorded reason) */
   bool confirmed;    /* going to 100 % was confirmed */
} RolloutOpts;

/* Apply an action: checks the gates, sends the route change to the gateway, follows with the
 * phase and the rollout state. *msg (always set, caller frees): what happened with the gateway's
 * answer, or for ACT_GATE / ACT_CONFIRM the gate figures. */
ActResult Rollout_act(Store *st, const GwAdmin *gw, const char *task, RolloutAction a, const RolloutOpts *o,
                      char **msg);

/* Change one cutover setting of the task's route on the gateway: "min_confidence" (0-1) or
 * "verify_percent" (0-100). *msg: the gateway's answer, or why not. */
bool Rollout_tune(const GwAdmin *gw, const char *task, const char *field, double value, char **msg);

/* Figures shown before a change to 100 %: the shadow and canary gates. */
char *Rollout_gate_figures(Store *st, const Task *t);

/* ---- watch: a viewer of what the gateway's analysis decides ---- */
typedef struct {
   long long last_seq;      /* the last check shown */
   char last_decision[32];  /* the time of the last decision shown */
   bool started;
} RolloutWatch;

/* One round: reads GET /admin/rollout/TASK, says what is new (checks, the gateway's rollbacks and
 * promotions; the first round also where the analysis stands) and lets the phase follow the
 * gateway (Rollout_follow_gateway). *msg: one line per thing; false on an error. */
bool Rollout_watch_round(Store *st, const GwAdmin *gw, const char *task, RolloutWatch *w, char **msg);

/* The gateway changes a route on its own (its canary analysis rolls back or promotes) through
 * the gate check, which moves the phase with it, and records its checks (rollout_events, actor
 * "gateway"). This stores the rollout's step as those records say (the saved route's step since
 * its route event, the failed checks the gateway recorded there), and moves the phase after a
 * gateway change when a workspace lags behind it. *msg (may stay NULL): what moved. */
bool Rollout_follow_gateway(Store *st, const char *task, char **msg, char **err);
#endif
