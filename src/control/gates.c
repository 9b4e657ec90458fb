/* gates.c - the one gate check of every route change, and what a starting gateway may serve. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/gates.h"
#include "control/task.h"

/* passthrough < shadow < canary < cutover; a canary at 100 % serves like a cutover. */
static int rank(const Route *r) {
   if (r->mode == ROUTE_CANARY && r->percent >= 100)
      return ROUTE_CUTOVER;
   return (int)r->mode;
}

/* The phase a route mode puts the task in, from phase cur. */
static Phase phase_for(Phase cur, const Route *r) {
   switch (rank(r)) {
   case ROUTE_SHADOW: return PHASE_SHADOW;
   case ROUTE_CANARY: return PHASE_CANARY;
   case ROUTE_CUTOVER: return cur == PHASE_OPERATE ? PHASE_OPERATE : PHASE_CUTOVER;
   default:
      /* Every phase before shadow routes in passthrough: back to evaluate from a later one. */
      return cur >= PHASE_SHADOW && cur < PHASE_STAY ? PHASE_EVALUATE : cur;
   }
}

/* The highest mode phase p allows. */
static RouteMode mode_for(Phase p) {
   switch (p) {
   case PHASE_SHADOW: return ROUTE_SHADOW;
   case PHASE_CANARY: return ROUTE_CANARY;
   case PHASE_CUTOVER:
   case PHASE_OPERATE: return ROUTE_CUTOVER;
   default: return ROUTE_PASSTHROUGH;
   }
}

static void miss(GateVerdict *v, Phase gate, CheckStatus status, const char *what, const char *fmt, ...) ATTR_PRINTF(5, 6);
static void miss(GateVerdict *v, Phase gate, CheckStatus status, const char *what, const char *fmt, ...) {
   if (v->n == GATES_MAX_MISSING)
      return;
   va_list ap;
   va_start(ap, fmt);
   GateCheck_vset(&v->missing[v->n], status, what, fmt, ap);
   va_end(ap);
   v->gate[v->n++] = gate;
}

static void add_gate(GateVerdict *v, Store *st, const Task *t, Phase from) {
   Gate g;
   Phase_gate_from(st, t, from, &g);
   for (int i = 0; i < g.n; i++) {
      if (g.checks[i].status != CHECK_PASS)
         miss(v, from, g.checks[i].status, g.checks[i].what, "%s", g.checks[i].detail);
   }
}

static bool same(const char *a, const char *b) {
   return a == b || (a && b && str_eq(a, b));
}

/* Whether r's candidate served the task before, in a change not forced: going back to it is a
 * rollback of the model (offramp route revert), not a new artifact. */
static bool served_before(Store *st, const Route *r) {
   sqlite3_stmt *q = Store_prepare(st, "SELECT count(*) FROM route_events WHERE task = ?1 AND forced = 0"
                                       " AND json_extract(new_route, '$.mode') <> 'passthrough'"
                                       " AND json_extract(new_route, '$.candidate.url') IS ?2"
                                       " AND json_extract(new_route, '$.candidate.model') IS ?3");
   sqlite3_bind_text(q, 1, r->task, -1, SQLITE_STATIC);
   sqlite3_bind_text(q, 2, r->candidate.url, -1, SQLITE_STATIC);
   sqlite3_bind_text(q, 3, r->candidate.model, -1, SQLITE_STATIC);
   bool yes = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) > 0;
   sqlite3_finalize(q);
   return yes;
}

void Gates_check_route(Store *st, const Route *r, const Route *old, GateVerdict *v) {
   memset(v, 0, sizeof *v);
   Task t;
   Task_init(&t);
   char *err = NULL;
   if (!Task_get(st, r->task, &t, &err)) {
      free(err);
      v->from = v->to = PHASE_COUNT;
      if (rank(r) > ROUTE_PASSTHROUGH)
         miss(v, PHASE_COUNT, CHECK_MISSING, "inventory",
              "task %s is not in the workspace's inventory: no phase or gates to check it against "
              "(offramp task add %s, then its phases)", r->task, r->task);
      v->allowed = v->n == 0;
      Task_clear(&t);
      return;
   }
   v->known = true;
   Phase cur = PHASE_AUDIT;
   Phase_parse(t.phase, &cur);
   v->from = cur;
   v->to = phase_for(cur, r);
   if (cur == PHASE_STAY && rank(r) > ROUTE_PASSTHROUGH) {
      miss(v, PHASE_STAY, CHECK_FAIL, "stays on API",
           "%s stays on the API (offramp phase rollback %s PHASE to resume the ladder)", t.name, t.name);
   } else {
      for (Phase p = cur; p < v->to; p++)
         add_gate(v, st, &t, p);
   }
   /* A new artifact in front of traffic: the picked model, evaluated (its gate is counted above
    * when the change passes it anyway). Without a pick there is nothing to tie the route to. */
   Picked pk;
   bool changed = !old || rank(old) < ROUTE_SHADOW || !same(old->candidate.url, r->candidate.url) ||
                  !same(old->candidate.model, r->candidate.model);
   bool forward = v->to > cur;
   if (rank(r) >= ROUTE_SHADOW && cur != PHASE_STAY && (changed || forward) && Phase_picked(st, t.id, &pk)) {
      /* A candidate that served before through the gates may come back (a revert) and go on;
       * any other must be the picked model, evaluated. */
      if (!served_before(st, r)) {
         if (!same(r->candidate.model, pk.model))
            miss(v, PHASE_EVALUATE, CHECK_FAIL, "candidate model",
                 "the route names %s, the picked candidate is %s (experiment %lld): set --candidate-model %s, "
                 "or pick and evaluate that model", r->candidate.model ? r->candidate.model : "no model",
                 pk.model, pk.experiment, pk.model);
         else if (!(cur <= PHASE_EVALUATE && v->to > PHASE_EVALUATE))
            add_gate(v, st, &t, PHASE_EVALUATE);
      }
      Picked_clear(&pk);
   }
   v->allowed = v->n == 0;
   Task_clear(&t);
}

/* The saved route of r's task, or NULL. */
static Route *saved_route(Store *st, const char *task) {
   sqlite3_stmt *q = Store_prepare(st, "SELECT route FROM routes WHERE task = ?1");
   sqlite3_bind_text(q, 1, task, -1, SQLITE_STATIC);
   Route *r = NULL;
   if (sqlite3_step(q) == SQLITE_ROW) {
      json_t *j = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
      char *err = NULL;
      r = j ? Route_from_json(task, j, &err) : NULL;
      free(err);
      json_decref(j);
   }
   sqlite3_finalize(q);
   return r;
}

bool Gates_change_route(Store *st, const Route *r, const char *kind, const char *actor, const char *reason,
                        bool force, GateVerdict *v, char **err) {
   memset(v, 0, sizeof *v);
   if (!Store_begin(st, err))
      return false;
   Route *old = saved_route(st, r->task);
   Gates_check_route(st, r, old, v);
   if (str_eq(kind, "rollback") && (!old || rank(r) <= rank(old))) {
      /* A rollback is always allowed, and only ever moves the phase back. */
      v->n = 0;
      v->allowed = true;
      if (v->to > v->from || v->from == PHASE_STAY)
         v->to = v->from;
   }
   Route_unref(old);
   if (!v->allowed && !force) {
      v->refused = true;
      Store_rollback(st);
      return false;
   }
   v->forced = !v->allowed;
   bool ok = true;
   if (!v->known && rank(r) > ROUTE_PASSTHROUGH) {
      /* Forced for a task the inventory lacks: add it, so its phase can follow the route (and a
       * restarted gateway keeps serving what was forced). */
      ok = Task_create_in_tx(st, r->task, "added by a forced route change", reason, err) != 0;
      v->known = true;
      v->from = PHASE_AUDIT;
      v->to = phase_for(PHASE_AUDIT, r);
   }
   if (ok && v->known && v->to != v->from) {
      Task t;
      Task_init(&t);
      ok = Task_get(st, r->task, &t, err) &&
           Phase_move(st, &t, v->from == PHASE_STAY || v->to > v->from ? "advance" : "rollback",
                      v->to, actor, reason, v->forced, err);
      Task_clear(&t);
   }
   ok = ok && Route_save_in(st, r, kind, actor, reason, v->forced, err);
   if (!ok) {
      Store_rollback(st);
      return false;
   }
   return Store_commit(st, err);
}

Route *Gates_serve(Store *st, Route *r, char **why) {
   *why = NULL;
   Task t;
   Task_init(&t);
   char *err = NULL;
   RouteMode allowed;
   Phase cur = PHASE_COUNT;
   if (Task_get(st, r->task, &t, &err)) {
      Phase_parse(t.phase, &cur);
      allowed = mode_for(cur);
   } else {
      free(err);   /* no phase: nothing but passthrough (a forced change adds the task) */
      allowed = ROUTE_PASSTHROUGH;
   }
   Task_clear(&t);
   if (rank(r) <= (int)allowed)
      return Route_ref(r);
   json_t *j = Route_to_json(r);
   json_object_set_new(j, "mode", json_string(Route_mode_name(allowed)));
   Route *c = Route_from_json(r->task, j, &err);
   json_decref(j);
   if (!c) {
      free(err);
      return Route_ref(r);
   }
   if (cur == PHASE_COUNT)
      *why = xasprintf("route %s: the task is not in the inventory, so no phase allows the stored mode %s: serving %s "
                       "(offramp task add %s, then its phases)", r->task, Route_mode_name(r->mode),
                       Route_mode_name(allowed), r->task);
   else
      *why = xasprintf("route %s: the stored mode %s is ahead of the phase %s: serving %s (offramp route set %s moves "
                       "it forward through the gates)", r->task, Route_mode_name(r->mode), Phase_name(cur),
                       Route_mode_name(allowed), r->task);
   return c;
}

char *Gates_refusal(const GateVerdict *v, const char *task, RouteMode mode) {
   Sbuf sb = { 0 };
   if (v->known)
      Sbuf_printf(&sb, "%s: route %s (phase %s -> %s) refused, not met:", task, Route_mode_name(mode),
                  Phase_name(v->from), Phase_name(v->to));
   else
      Sbuf_printf(&sb, "%s: route %s refused, not met:", task, Route_mode_name(mode));
   for (int i = 0; i < v->n; i++)
      Sbuf_printf(&sb, "\n  %s %s: %s", v->missing[i].status == CHECK_MISSING ? "missing" : "failed",
                  v->missing[i].what, v->missing[i].detail);
   Sbuf_puts(&sb, "\n(meet the gates, or --force --reason TEXT: recorded as forced)");
   return Sbuf_steal(&sb);
}

json_t *Gates_missing_json(const GateVerdict *v) {
   json_t *a = json_array();
   for (int i = 0; i < v->n; i++)
      json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}", "gate",
                                         v->gate[i] < PHASE_COUNT ? Phase_name(v->gate[i]) : "route", "what",
                                         v->missing[i].what, "status",
                                         v->missing[i].status == CHECK_MISSING ? "missing" : "failed", "detail",
                                         v->missing[i].detail));
   return a;
}

/* ---- the gates as the data plane takes them (routewriter.h) ---- */

static bool route_change(Store *st, const Route *r, const char *kind, const char *actor, const char *reason, bool force,
                         RouteVerdict *rv, char **err) {
   GateVerdict v;
   bool ok = Gates_change_route(st, r, kind, actor, reason, force, &v, err);
   RouteVerdict_clear(rv);
   rv->known = v.known;
   rv->forced = v.forced;
   rv->refused = v.refused;
   rv->n = v.n;
   if (v.known)
      snprintf(rv->phase, sizeof rv->phase, "%s", Phase_name(v.to));
   if (v.refused) {
      Sbuf unmet = { 0 };
      for (int i = 0; i < v.n; i++)
         Sbuf_printf(&unmet, "%s %s: %s", i ? ";" : "", v.missing[i].what, v.missing[i].detail);
      rv->unmet = unmet.buf ? Sbuf_steal(&unmet) : xstrdup("");
      rv->refusal = Gates_refusal(&v, r->task, r->mode);
      rv->missing = Gates_missing_json(&v);
   }
   return ok;
}

const RouteGates Gates_for_gateway = { .change = route_change, .serve = Gates_serve };
