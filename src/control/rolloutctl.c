/* rolloutctl.c - drives a task's rollout: each action checks the gates, sends the route change
 * to the gateway's admin API and keeps the phase with the route (above phase.c). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "control/phase.h"
#include "control/rolloutctl.h"

static const char *const action_names[] = {
   [ROLLOUT_STEP_UP] = "step-up", [ROLLOUT_STEP_DOWN] = "step-down", [ROLLOUT_ABORT] = "abort",
   [ROLLOUT_PROMOTE] = "promote", [ROLLOUT_PROMOTE_FULL] = "promote-full", [ROLLOUT_PAUSE] = "pause",
   [ROLLOUT_RESUME] = "resume",
};

bool RolloutAction_parse(const char *s, RolloutAction *a) {
   for (size_t i = 0; i < ARRAY_SIZE(action_names); i++) {
      if (str_eq(s, action_names[i])) {
         *a = (RolloutAction)i;
         return true;
      }
   }
   return false;
}

const char *RolloutAction_name(RolloutAction a) {
   return a < ARRAY_SIZE(action_names) ? action_names[a] : "?";
}

static int pos_percent(const RolloutSettings *s, int pos) {
   RouteMode m;
   double p;
   Rollout_target(s, pos, &m, &p);
   return (int)p;
}

static void describe_pos(const RolloutSettings *s, int pos, char *buf, size_t size) {
   RouteMode m;
   double p;
   Rollout_target(s, pos, &m, &p);
   if (m == ROUTE_CANARY)
      snprintf(buf, size, "canary %g %%", p);
   else
      snprintf(buf, size, "%s", Route_mode_name(m));
}

char *Rollout_gate_figures(Store *st, const Task *t) {
   Gate g;
   GateCheck c;
   Sbuf sb = { 0 };
   Phase_gate_from(st, t, PHASE_SHADOW, &g);
   for (int i = 0; i < g.n; i++)
      Sbuf_printf(&sb, "%s%s %s: %s", sb.len ? "\n" : "", g.checks[i].status == CHECK_PASS ? "ok" : "NOT MET",
                  g.checks[i].what, g.checks[i].detail);
   Rollout_canary_gate(st, t, &c);
   Sbuf_printf(&sb, "\n%s %s: %s", c.status == CHECK_PASS ? "ok" : "NOT MET", c.what, c.detail);
   return Sbuf_steal(&sb);
}

static Phase phase_of(RouteMode m) {
   return m == ROUTE_CUTOVER ? PHASE_CUTOVER : m == ROUTE_CANARY ? PHASE_CANARY : PHASE_SHADOW;
}

/* The task's route from the gateway, or NULL with *err. */
static json_t *fetch_route(const GwAdmin *gw, const char *task, char **err) {
   char *t = GwAdmin_escape(task), *path = xasprintf("/admin/routes/%s", t);
   json_t *j = GwAdmin_ok(gw, "GET", path, NULL, err), *r = NULL;
   free(path);
   free(t);
   if (j && json_is_object(json_object_get(j, "route")))
      r = json_incref(json_object_get(j, "route"));
   else if (j)
      *err = xasprintf("task %s has no route on the gateway (offramp route set %s --mode shadow --candidate-url URL)",
                       task, task);
   json_decref(j);
   return r;
}

static bool route_mode(const json_t *route, RouteMode *m, double *percent) {
   const char *name = json_string_value(json_object_get(route, "mode"));
   for (int i = ROUTE_PASSTHROUGH; i <= ROUTE_CUTOVER; i++) {
      if (name && str_eq(name, Route_mode_name((RouteMode)i))) {
         *m = (RouteMode)i;
         *percent = json_number_value(json_object_get(route, "percent"));
         return true;
      }
   }
   return false;
}

/* Send the route for step `to` (abort: the gateway's rollback to shadow); the new route or NULL.
 * force: past the gateway's gate check (recorded as forced); *refused: the gate check said no. */
static json_t *send_step(const GwAdmin *gw, const char *task, const RolloutSettings *s, double bar, json_t *route,
                         int to, bool abort, bool force, const char *reason, bool *refused, char **err) {
   char *t = GwAdmin_escape(task), *r = GwAdmin_escape(reason);
   char *path, *body;
   const char *method = "PUT";
   if (abort) {
      path = xasprintf("/admin/routes/%s/rollback?reason=%s", t, r);
      body = xstrdup("{\"mode\":\"shadow\"}");
      method = "POST";
   } else {
      RouteMode m;
      double p;
      Rollout_target(s, to, &m, &p);
      json_t *next = json_deep_copy(route);
      Rollout_analysis_to_route(s, bar, next);
      json_object_set_new(next, "mode", json_string(Route_mode_name(m)));
      if (m == ROUTE_CANARY)
         json_object_set_new(next, "percent", json_real(p));
      path = xasprintf("/admin/routes/%s?reason=%s%s", t, r, force ? "&force=1" : "");
      body = json_dumps(next, JSON_COMPACT);
      json_decref(next);
   }
   long status = 0;
   json_t *j = GwAdmin_call(gw, method, path, body, &status, err), *out = NULL;
   *refused = j && status == 409;
   if (j && status == 200)
      out = json_incref(json_object_get(j, "route"));
   else if (j)
      *err = xstrdup(GwAdmin_error_message(j));
   json_decref(j);
   free(body);
   free(path);
   free(t);
   free(r);
   return out;
}

/* The phase follows the route; operate stays operate while the candidate serves everything. */
static bool follow_phase(Store *st, const Task *t, RouteMode m, const char *reason, char **err) {
   Phase cur = PHASE_AUDIT, to = phase_of(m);
   Phase_parse(t->phase, &cur);
   if (cur == to || (cur == PHASE_OPERATE && to == PHASE_CUTOVER))
      return true;
   return Phase_follow(st, t->name, to, reason, err);
}

ActResult Rollout_act(Store *st, const GwAdmin *gw, const char *task, RolloutAction a, const RolloutOpts *o,
                      char **msg) {
   Task t;
   Task_init(&t);
   char *err = NULL;
   ActResult res = ACT_ERROR;
   json_t *route = NULL, *now_route = NULL;
   *msg = NULL;
   if (!Task_get(st, task, &t, &err))
      goto out;
   Phase ph = PHASE_AUDIT;
   Phase_parse(t.phase, &ph);
   if (ph < PHASE_SHADOW || ph == PHASE_STAY) {
      err = xasprintf("%s is in phase %s: a rollout starts in shadow (offramp phase advance %s, and route the task "
                      "in shadow mode)", t.name, Phase_title(ph), t.name);
      goto out;
   }
   RolloutSettings s;
   RolloutState state;
   Rollout_load(st, t.id, &s, &state);
   double now = now_seconds();
   if (a == ROLLOUT_PAUSE || a == ROLLOUT_RESUME) {
      bool pause = a == ROLLOUT_PAUSE;
      state.paused = pause;
      snprintf(state.pause_reason, sizeof state.pause_reason, "%s", pause ? (o->reason && *o->reason ? o->reason : "paused by hand") : "");
      if (Store_begin(st, &err)) {
         if (Rollout_save(st, t.id, &s, &state, &err) &&
             Rollout_record(st, t.id, pause ? "pause" : "resume", pos_percent(&s, state.pos), o->reason, &err) &&
             Store_commit(st, &err)) {
            *msg = xasprintf("%s: rollout %s", t.name, pause ? "paused" : "resumed");
            res = ACT_OK;
            /* Auto-promote is the gateway's: a pause turns it off in the route. */
            json_t *r = pause ? fetch_route(gw, task, &err) : NULL;
            json_t *an = json_object_get(r, "analysis");
            if (r && json_is_true(json_object_get(an, "auto_promote"))) {
               json_object_set_new(an, "auto_promote", json_false());
               char *tq = GwAdmin_escape(task), *why = GwAdmin_escape("paused: auto-promote off");
               char *path = xasprintf("/admin/routes/%s?reason=%s", tq, why), *body = json_dumps(r, JSON_COMPACT);
               json_t *done = GwAdmin_ok(gw, "PUT", path, body, &err);
               char *m = *msg;
               *msg = done ? xasprintf("%s; the gateway's auto-promote is off (offramp rollout set %s --auto-promote "
                                       "turns it on again)", m, t.name)
                           : xasprintf("%s, but the gateway's auto-promote is still on: %s", m, err);
               free(m);
               json_decref(done);
               free(body);
               free(path);
               free(why);
               free(tq);
            }
            json_decref(r);
         } else {
            Store_rollback(st);
         }
      }
      goto out;
   }
   route = fetch_route(gw, task, &err);
   if (!route)
      goto out;
   RouteMode mode;
   double percent;
   if (!route_mode(route, &mode, &percent)) {
      err = xasprintf("the gateway's route for %s has an unknown mode", task);
      goto out;
   }
   int pos = Rollout_position(&s, mode, percent), to = pos, last = s.n_steps - 1;
   bool abort = false;
   switch (a) {
   case ROLLOUT_STEP_UP:
   case ROLLOUT_PROMOTE: to = pos + 1; break;
   case ROLLOUT_STEP_DOWN: to = pos - 1; break;
   case ROLLOUT_PROMOTE_FULL: to = last; break;
   case ROLLOUT_ABORT: to = -1; abort = true; break;
   default: break;
   }
   char from_s[32], to_s[32];
   describe_pos(&s, pos, from_s, sizeof from_s);
   describe_pos(&s, to, to_s, sizeof to_s);
   if (mode == ROUTE_PASSTHROUGH && !abort)
      snprintf(from_s, sizeof from_s, "passthrough");
   if (to > last || (to == pos && !abort && mode != ROUTE_PASSTHROUGH)) {
      err = xasprintf("%s is already at %s: nothing to %s", t.name, from_s, RolloutAction_name(a));
      goto out;
   }
   if (to < -1 || (abort && mode == ROUTE_SHADOW)) {
      err = xasprintf("%s is already in %s: no traffic is on the candidate", t.name, from_s);
      goto out;
   }
   Sbuf why = { 0 };
   bool forced = false;   /* past a closed gate: the gateway records it as forced */
   Sbuf_printf(&why, "%s: %s -> %s", RolloutAction_name(a), from_s, to_s);
   if (o->reason && *o->reason)
      Sbuf_printf(&why, ": %s", o->reason);
   /* Gates: out of shadow, the shadow gate; into 100 %, confirmation and the canary gate
    * (promote-full skips the remaining steps, so not their dwell). */
   {
      Gate g;
      GateCheck c;
      bool leaving_shadow = pos < 0 && to >= 0, to_full = to == last && pos_percent(&s, to) >= 100;
      char *figures = NULL;
      if (leaving_shadow) {
         Phase_gate_from(st, &t, PHASE_SHADOW, &g);
         if (!g.open && !o->force) {
            Sbuf sb = { 0 };
            Sbuf_printf(&sb, "%s: the shadow -> canary gate is closed:", t.name);
            for (int i = 0; i < g.n; i++)
               Sbuf_printf(&sb, "\n  %s %s: %s", g.checks[i].status == CHECK_PASS ? "ok" : "NOT MET", g.checks[i].what,
                           g.checks[i].detail);
            Sbuf_puts(&sb, "\n(wait for more shadow traffic, or --force with a reason)");
            *msg = Sbuf_steal(&sb);
            Sbuf_free(&why);
            res = ACT_GATE;
            goto out;
         }
         if (!g.open)
            Sbuf_puts(&why, " (forced past the closed shadow gate)");
         forced = !g.open;
      }
      if (to_full && !abort) {
         Rollout_canary_gate(st, &t, &c);
         figures = Rollout_gate_figures(st, &t);
         if (!o->confirmed) {
            *msg = xasprintf("%s: %s -> cutover (the candidate answers 100 %%) needs confirmation:\n%s", t.name, from_s,
                             figures);
            free(figures);
            Sbuf_free(&why);
            res = ACT_CONFIRM;
            goto out;
         }
         if (c.status != CHECK_PASS && a != ROLLOUT_PROMOTE_FULL && !o->force) {
            *msg = xasprintf("%s: the canary -> cutover gate is closed: %s\n(hold each step, promote-full to skip the "
                             "remaining steps, or --force with a reason)", t.name, c.detail);
            free(figures);
            Sbuf_free(&why);
            res = ACT_GATE;
            goto out;
         }
         if (c.status != CHECK_PASS) {
            Sbuf_printf(&why, " (%s past the canary gate)", a == ROLLOUT_PROMOTE_FULL ? "promote-full skipped the steps" : "forced");
            forced = true;
         }
      }
      free(figures);
   }
   int held = Rollout_held(&s, &state, now);
   bool refused = false;
   now_route = send_step(gw, task, &s, t.agreement_bar, route, to, abort, forced, why.buf, &refused, &err);
   if (!now_route) {
      if (refused) {
         *msg = err;
         err = NULL;
         res = ACT_GATE;
      }
      Sbuf_free(&why);
      goto out;
   }
   RouteMode got = mode;
   double got_p = 0;
   route_mode(now_route, &got, &got_p);
   state.pos = Rollout_position(&s, got, got_p);
   state.step_since = now;
   state.failures = 0;
   state.held = abort ? -1 : held;
   if (abort) {
      state.paused = true;
      snprintf(state.pause_reason, sizeof state.pause_reason, "aborted: %s", why.buf);
   } else if (a == ROLLOUT_PROMOTE || a == ROLLOUT_PROMOTE_FULL || (a == ROLLOUT_STEP_UP && state.pos > pos)) {
      /* A step forward ends a pause, as one routed by hand does (observed): the route moves on,
       * the rollout must not say PAUSED. */
      state.paused = false;
      state.pause_reason[0] = '\0';
   }
   if (Store_begin(st, &err)) {
      if (Rollout_save(st, t.id, &s, &state, &err) && Store_commit(st, &err)) {
         res = ACT_OK;
      } else {
         Store_rollback(st);
      }
   }
   if (res == ACT_OK && !follow_phase(st, &t, got, why.buf, &err))
      res = ACT_ERROR;
   if (res == ACT_OK) {
      char pct[32] = "";
      if (got == ROUTE_CANARY)
         snprintf(pct, sizeof pct, " %g %%", got_p);
      *msg = xasprintf("%s: %s -> %s; gateway: mode %s%s", t.name, from_s, to_s, Route_mode_name(got), pct);
   }
   Sbuf_free(&why);
out:
   if (!*msg)
      *msg = err ? err : xstrdup("rollout failed");
   else
      free(err);
   json_decref(route);
   json_decref(now_route);
   Task_clear(&t);
   return res;
}

/* ---- watch: the gateway decides, this shows it ---- */

bool Rollout_follow_gateway(Store *st, const char *task, char **msg, char **err) {
   Task t;
   Task_init(&t);
   *msg = NULL;
   if (!Task_get(st, task, &t, err))
      return false;
   RolloutSettings s;
   RolloutState state;
   bool changed, ok = true;
   Rollout_observe_changed(st, &t, &s, &state, &changed);
   if (changed) {
      /* Saved as stored: only the state follows the records, the settings stay the user's. */
      RolloutSettings stored;
      RolloutState ignored;
      Rollout_load(st, t.id, &stored, &ignored);
      ok = Rollout_save(st, t.id, &stored, &state, err);
   }
   /* The gate check moves the phase with every saved route change; a workspace written before
    * it may still lag behind a change the gateway made. */
   sqlite3_stmt *q = Store_prepare(st, "SELECT actor, json_extract(new_route, '$.mode'), reason FROM route_events"
                                       " WHERE task = ? ORDER BY id DESC LIMIT 1");
   sqlite3_bind_text(q, 1, t.name, -1, SQLITE_STATIC);
   if (ok && sqlite3_step(q) == SQLITE_ROW && str_eq((const char *)sqlite3_column_text(q, 0), "gateway")) {
      json_t *route = json_pack("{s:s}", "mode", (const char *)sqlite3_column_text(q, 1));
      char *why = xasprintf("gateway: %s", (const char *)sqlite3_column_text(q, 2));
      RouteMode mode = ROUTE_SHADOW;
      double percent = 0;
      route_mode(route, &mode, &percent);
      Phase before = PHASE_AUDIT, after = PHASE_AUDIT;
      Phase_parse(t.phase, &before);
      if (before >= PHASE_SHADOW && before != PHASE_STAY)
         ok = follow_phase(st, &t, mode, why, err);
      Task_clear(&t);
      if (ok && Task_get(st, task, &t, err)) {
         Phase_parse(t.phase, &after);
         if (after != before)
            *msg = xasprintf("%s: phase %s -> %s, following the gateway's route", t.name, Phase_title(before),
                             Phase_title(after));
      }
      free(why);
      json_decref(route);
   }
   sqlite3_finalize(q);
   Task_clear(&t);
   return ok;
}

bool Rollout_watch_round(Store *st, const GwAdmin *gw, const char *task, RolloutWatch *w, char **msg) {
   char *err = NULL, *tq = GwAdmin_escape(task), *path = xasprintf("/admin/rollout/%s", tq);
   json_t *j = GwAdmin_ok(gw, "GET", path, NULL, &err);
   free(path);
   free(tq);
   if (!j) {
      *msg = err;
      return false;
   }
   Sbuf out = { 0 };
   char ts[32];
   now_iso8601(ts);
   json_t *route = json_object_get(j, "route");
   RouteMode mode = ROUTE_PASSTHROUGH;
   double percent = 0;
   route_mode(route, &mode, &percent);
   char where[32];
   if (mode == ROUTE_CANARY)
      snprintf(where, sizeof where, "canary %g %%", percent);
   else
      snprintf(where, sizeof where, "%s", Route_mode_name(mode));
   json_t *checks = json_object_get(j, "checks"), *decisions = json_object_get(j, "decisions"), *e;
   size_t i;
   if (!w->started) {
      w->started = true;
      const char *state = json_string_value(json_object_get(j, "state"));
      Sbuf_printf(&out, "%.19s %s at %s: the gateway's analysis is %s", ts, task, where, state ? state : "idle");
      if (json_is_true(json_object_get(j, "active")))
         Sbuf_printf(&out, ", %lld of %lld failed checks, a check every %g s%s",
                     (long long)json_integer_value(json_object_get(j, "failed_checks")),
                     (long long)json_integer_value(json_object_get(j, "failure_limit")),
                     json_number_value(json_object_get(j, "interval_s")),
                     json_is_true(json_object_get(j, "auto_promote")) ? ", auto-promote on" : "");
      else if (mode != ROUTE_CANARY)
         Sbuf_puts(&out, " (it analyses a route while it is in canary)");
      /* What came before this watch is history, not news. */
      json_array_foreach(checks, i, e) w->last_seq = json_integer_value(json_object_get(e, "seq"));
      json_array_foreach(decisions, i, e)
         snprintf(w->last_decision, sizeof w->last_decision, "%s", json_string_value(json_object_get(e, "ts")));
   }
   json_array_foreach(checks, i, e) {
      long long seq = json_integer_value(json_object_get(e, "seq"));
      if (seq <= w->last_seq)
         continue;
      w->last_seq = seq;
      Sbuf_printf(&out, "%s%.19s %s at %g %%: %s: %s", out.len ? "\n" : "", json_string_value(json_object_get(e, "ts")),
                  task, json_number_value(json_object_get(e, "percent")),
                  json_string_value(json_object_get(e, "verdict")), json_string_value(json_object_get(e, "detail")));
   }
   json_array_foreach(decisions, i, e) {
      const char *at = json_string_value(json_object_get(e, "ts"));
      if (!at || strcmp(at, w->last_decision) <= 0)
         continue;
      snprintf(w->last_decision, sizeof w->last_decision, "%s", at);
      const char *kind = json_string_value(json_object_get(e, "kind"));
      Sbuf_printf(&out, "%s%s: %s: %s -> %s: %s", out.len ? "\n" : "",
                  str_eq(kind, "rollback")  ? "ROLLED BACK by the gateway"
                  : str_eq(kind, "promote") ? "promoted by the gateway"
                                            : "the gateway's promotion held by the gate check",
                  task, json_string_value(json_object_get(e, "from")), json_string_value(json_object_get(e, "to")),
                  json_string_value(json_object_get(e, "reason")));
   }
   json_decref(j);
   char *moved = NULL;
   if (!Rollout_follow_gateway(st, task, &moved, &err)) {
      Sbuf_printf(&out, "%sthe phase could not follow the gateway: %s", out.len ? "\n" : "", err);
      free(err);
   } else if (moved) {
      Sbuf_printf(&out, "%s%s", out.len ? "\n" : "", moved);
      free(moved);
   }
   *msg = Sbuf_steal(&out);
   if (!*msg)
      *msg = xstrdup("");
   return true;
}

bool Rollout_tune(const GwAdmin *gw, const char *task, const char *field, double value, char **msg) {
   char *err = NULL;
   json_t *route = fetch_route(gw, task, &err);
   if (!route) {
      *msg = err;
      return false;
   }
   bool conf = str_eq(field, "min_confidence");
   json_t *fb = json_object_get(route, "fallback");
   double old = conf ? json_number_value(json_object_get(fb, "min_confidence"))
                     : json_number_value(json_object_get(route, "verify_percent"));
   if (conf)
      json_object_set_new(fb, "min_confidence", json_real(value));
   else
      json_object_set_new(route, "verify_percent", json_real(value));
   char *t = GwAdmin_escape(task), *why = xasprintf("%s %g -> %g", field, old, value);
   char *r = GwAdmin_escape(why), *path = xasprintf("/admin/routes/%s?reason=%s", t, r);
   char *body = json_dumps(route, JSON_COMPACT);
   json_t *j = GwAdmin_ok(gw, "PUT", path, body, &err);
   if (j) {
      json_t *nr = json_object_get(j, "route");
      double now = conf ? json_number_value(json_object_get(json_object_get(nr, "fallback"), "min_confidence"))
                        : json_number_value(json_object_get(nr, "verify_percent"));
      *msg = xasprintf("%s: %s; gateway: %s %g", task, why, field, now);
   } else {
      *msg = err;
   }
   json_decref(j);
   json_decref(route);
   free(body);
   free(path);
   free(r);
   free(why);
   free(t);
   return j != NULL;
}

/* ---- operate ---- */

/* Rows matching cond and, of them, those matching part, in one statement: the gateway writes
 * between two statements, and k must not outgrow n. */
