/* rollout.c - the rollout state machine, its analysis and its records. The gateway owns the
 * route and its history; this file owns the steps, the analysis log and the pause. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollout.h"
#include "stats.h"
#include "util.h"

const char *const Verdict_names[] = { "pass", "fail", "inconclusive" };

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

static double epoch_now(void) {
   struct timespec ts;
   clock_gettime(CLOCK_REALTIME, &ts);
   return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The defaults are the gateway's: a route without rollout settings is analysed with them. */
void RolloutSettings_default(RolloutSettings *s) {
   RouteAnalysis a;
   RouteAnalysis_default(&a);
   memset(s, 0, sizeof *s);
   memcpy(s->steps, a.steps, sizeof a.steps);
   s->n_steps = a.n_steps;
   s->dwell_s = a.dwell_s;
   s->interval_s = a.interval_s;
   s->failure_limit = a.failure_limit;
   s->max_error_rate = a.max_error_rate;
   s->min_agreement = -1;   /* the task's bar */
   s->max_p95_ms = a.max_p95_ms;
   s->max_fallback_rate = a.max_fallback_rate;
   s->min_samples = a.min_samples;
}

bool Rollout_parse_steps(const char *text, RolloutSettings *s, char **err) {
   int steps[ROLLOUT_MAX_STEPS], n = 0;
   char *copy = xstrdup(text), *save = NULL;
   bool ok = true;
   for (char *p = strtok_r(copy, ",", &save); p && ok; p = strtok_r(NULL, ",", &save)) {
      long v;
      if (n == ROLLOUT_MAX_STEPS) {
         *err = xasprintf("--steps '%s' has more than %d steps", text, ROLLOUT_MAX_STEPS);
         ok = false;
      } else if (!parse_long(str_trim(p), &v) || v < 1 || v > 100) {
         *err = xasprintf("--steps '%s': '%s' is not a whole percentage from 1 to 100", text, p);
         ok = false;
      } else if (n && v <= steps[n - 1]) {
         *err = xasprintf("--steps '%s': steps must rise (%ld after %d), e.g. 5,10,20,50,100", text, v, steps[n - 1]);
         ok = false;
      } else {
         steps[n++] = (int)v;
      }
   }
   free(copy);
   if (ok && n == 0) {
      *err = xasprintf("--steps '%s' names no step (e.g. 5,10,20,50,100)", text);
      ok = false;
   }
   if (ok) {
      memcpy(s->steps, steps, sizeof steps);
      s->n_steps = n;
   }
   return ok;
}

void Rollout_format_steps(const RolloutSettings *s, char *buf, size_t size) {
   size_t used = 0;
   buf[0] = '\0';
   for (int i = 0; i < s->n_steps && used < size; i++)
      used += (size_t)snprintf(buf + used, size - used, "%s%d", i ? "," : "", s->steps[i]);
}

static void state_default(RolloutState *state) {
   memset(state, 0, sizeof *state);
   state->pos = -1;
   state->held = -1;
}

void Rollout_load(Store *st, long long task_id, RolloutSettings *s, RolloutState *state) {
   RolloutSettings_default(s);
   state_default(state);
   sqlite3_stmt *q = Store_prepare(st,
      "SELECT steps, dwell_s, interval_s, failure_limit, max_error_rate, min_agreement, max_p95_ms,"
      " max_fallback_rate, min_samples, hosting_cost, pos, paused, pause_reason, failures, step_since, held"
      " FROM rollouts WHERE task_id = ?");
   sqlite3_bind_int64(q, 1, task_id);
   if (sqlite3_step(q) == SQLITE_ROW) {
      char *err = NULL;
      if (!Rollout_parse_steps((const char *)sqlite3_column_text(q, 0), s, &err))
         free(err);   /* stored by Rollout_save, which validated it */
      s->dwell_s = sqlite3_column_double(q, 1);
      s->interval_s = sqlite3_column_double(q, 2);
      s->failure_limit = sqlite3_column_int(q, 3);
      s->max_error_rate = sqlite3_column_double(q, 4);
      s->min_agreement = sqlite3_column_type(q, 5) == SQLITE_NULL ? -1 : sqlite3_column_double(q, 5);
      s->max_p95_ms = sqlite3_column_double(q, 6);
      s->max_fallback_rate = sqlite3_column_double(q, 7);
      s->min_samples = (long)sqlite3_column_int64(q, 8);
      s->hosting_cost = sqlite3_column_double(q, 9);
      state->pos = sqlite3_column_int(q, 10);
      state->paused = sqlite3_column_int(q, 11) != 0;
      snprintf(state->pause_reason, sizeof state->pause_reason, "%s", (const char *)sqlite3_column_text(q, 12));
      state->failures = sqlite3_column_int(q, 13);
      state->step_since = sqlite3_column_double(q, 14);
      state->held = sqlite3_column_int(q, 15);
   }
   sqlite3_finalize(q);
}

bool Rollout_save(Store *st, long long task_id, const RolloutSettings *s, const RolloutState *state, char **err) {
   char steps[ROLLOUT_MAX_STEPS * 4 + 1];
   Rollout_format_steps(s, steps, sizeof steps);
   sqlite3_stmt *q = Store_prepare(st,
      "INSERT OR REPLACE INTO rollouts(task_id, steps, dwell_s, interval_s, failure_limit, max_error_rate,"
      " min_agreement, max_p95_ms, max_fallback_rate, min_samples, hosting_cost, pos, paused, pause_reason,"
      " failures, step_since, held) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
   sqlite3_bind_int64(q, 1, task_id);
   sqlite3_bind_text(q, 2, steps, -1, SQLITE_TRANSIENT);
   sqlite3_bind_double(q, 3, s->dwell_s);
   sqlite3_bind_double(q, 4, s->interval_s);
   sqlite3_bind_int(q, 5, s->failure_limit);
   sqlite3_bind_double(q, 6, s->max_error_rate);
   if (s->min_agreement >= 0)
      sqlite3_bind_double(q, 7, s->min_agreement);
   sqlite3_bind_double(q, 8, s->max_p95_ms);
   sqlite3_bind_double(q, 9, s->max_fallback_rate);
   sqlite3_bind_int64(q, 10, s->min_samples);
   sqlite3_bind_double(q, 11, s->hosting_cost);
   sqlite3_bind_int(q, 12, state->pos);
   sqlite3_bind_int(q, 13, state->paused);
   sqlite3_bind_text(q, 14, state->pause_reason, -1, SQLITE_TRANSIENT);
   sqlite3_bind_int(q, 15, state->failures);
   sqlite3_bind_double(q, 16, state->step_since);
   sqlite3_bind_int(q, 17, state->held);
   bool ok = sqlite3_step(q) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "saving the rollout");
   sqlite3_finalize(q);
   return ok;
}

int Rollout_position(const RolloutSettings *s, RouteMode mode, double percent) {
   if (mode == ROUTE_PASSTHROUGH || mode == ROUTE_SHADOW)
      return -1;
   if (mode == ROUTE_CUTOVER)
      return s->n_steps - 1;
   /* A canary share set by hand between steps counts as the step below it. */
   int pos = -1;
   for (int i = 0; i < s->n_steps; i++) {
      if (s->steps[i] <= percent + 1e-9)
         pos = i;
   }
   return pos < 0 ? 0 : pos;
}

void Rollout_target(const RolloutSettings *s, int pos, RouteMode *mode, double *percent) {
   if (pos < 0) {
      *mode = ROUTE_SHADOW;
      *percent = 0;
   } else if (pos >= s->n_steps - 1 && s->steps[s->n_steps - 1] >= 100) {
      *mode = ROUTE_CUTOVER;
      *percent = 100;
   } else {
      *mode = ROUTE_CANARY;
      *percent = s->steps[pos < s->n_steps ? pos : s->n_steps - 1];
   }
}

int Rollout_held(const RolloutSettings *s, const RolloutState *state, double now) {
   int held = state->held;
   if (state->pos >= 0 && state->step_since > 0 && now - state->step_since >= s->dwell_s && state->failures == 0 &&
       state->pos > held)
      held = state->pos;
   return held;
}

/* The last step that is a canary share (below 100 %), -1 when every step is 100 %. */
static int last_canary(const RolloutSettings *s) {
   int last = s->n_steps - 1;
   return s->steps[last] >= 100 ? last - 1 : last;
}

static void fmt_duration(char *buf, size_t size, double s) {
   if (s >= 3600)
      snprintf(buf, size, "%.1f h", s / 3600);
   else if (s >= 60)
      snprintf(buf, size, "%.0f min", s / 60);
   else
      snprintf(buf, size, "%.0f s", s);
}

static double iso_epoch(const char *ts) {
   struct tm tm;
   memset(&tm, 0, sizeof tm);
   if (!ts || !strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm))
      return 0;
   return (double)timegm(&tm);
}

/* The rollout as the workspace's records say it stands: the gateway moves routes and checks
 * them on its own. Steps and dwell are whoever steps': the saved route's analysis when the
 * gateway auto-promotes, else the rollout's settings; the step is the saved route's, since its route event (a step the gateway left upward
 * was held: it promotes only after a clean dwell); the failures are the failed checks the
 * gateway recorded at the step. *changed: the state differs from the stored one. */
static void observed(Store *st, const Task *t, RolloutSettings *s, RolloutState *state, bool *changed) {
   Rollout_load(st, t->id, s, state);
   RolloutState was = *state;
   sqlite3_stmt *q = Store_prepare(st, "SELECT json_extract(route, '$.analysis.steps'),"
                                       " json_extract(route, '$.analysis.dwell_s') FROM routes WHERE task = ?"
                                       " AND json_extract(route, '$.analysis.auto_promote')");
   sqlite3_bind_text(q, 1, t->name, -1, SQLITE_STATIC);
   if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_TEXT) {
      json_t *steps = json_loads((const char *)sqlite3_column_text(q, 0), 0, NULL);
      RolloutSettings from = *s;
      size_t i;
      json_t *v;
      from.n_steps = 0;
      json_array_foreach(steps, i, v) {
         if (from.n_steps < ROLLOUT_MAX_STEPS)
            from.steps[from.n_steps++] = (int)json_integer_value(v);
      }
      if (from.n_steps > 0) {
         memcpy(s->steps, from.steps, sizeof s->steps);
         s->n_steps = from.n_steps;
         s->dwell_s = sqlite3_column_double(q, 1);
      }
      json_decref(steps);
   }
   sqlite3_finalize(q);
   q = Store_prepare(st, "SELECT actor, ts, json_extract(new_route, '$.mode'), json_extract(new_route, '$.percent')"
                         " FROM route_events WHERE task = ? ORDER BY id DESC LIMIT 1");
   sqlite3_bind_text(q, 1, t->name, -1, SQLITE_STATIC);
   if (sqlite3_step(q) == SQLITE_ROW) {
      RouteMode mode = ROUTE_PASSTHROUGH;
      const char *name = (const char *)sqlite3_column_text(q, 2);
      for (int m = ROUTE_PASSTHROUGH; m <= ROUTE_CUTOVER; m++) {
         if (name && str_eq(name, Route_mode_name((RouteMode)m)))
            mode = (RouteMode)m;
      }
      int pos = Rollout_position(s, mode, sqlite3_column_double(q, 3));
      if (pos != state->pos) {
         bool gateway = str_eq((const char *)sqlite3_column_text(q, 0), "gateway");
         if (gateway && pos > state->pos && state->pos >= 0 && state->pos > state->held)
            state->held = state->pos;
         if (pos < 0)
            state->held = -1;
         /* A step forward recorded after a pause or an abort (someone routed the canary again)
          * ends the pause: the panel must not say PAUSED while the route moves on. */
         if (state->paused && pos >= 0 && pos > state->pos &&
             iso_epoch((const char *)sqlite3_column_text(q, 1)) >= floor(state->step_since)) {   /* ts: whole seconds */
            state->paused = false;
            state->pause_reason[0] = '\0';
         }
         state->pos = pos;
         state->step_since = iso_epoch((const char *)sqlite3_column_text(q, 1));
         state->failures = 0;
      }
   }
   sqlite3_finalize(q);
   if (state->pos >= 0 && state->step_since > 0) {
      char since[32];
      time_t sec = (time_t)state->step_since;
      struct tm tm;
      gmtime_r(&sec, &tm);
      strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%S", &tm);
      q = Store_prepare(st, "SELECT count(*) FROM rollout_events WHERE task_id = ? AND kind = 'fail'"
                            " AND actor = 'gateway' AND ts >= ?");
      sqlite3_bind_int64(q, 1, t->id);
      sqlite3_bind_text(q, 2, since, -1, SQLITE_STATIC);
      if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) > state->failures)
         state->failures = sqlite3_column_int(q, 0);
      sqlite3_finalize(q);
   }
   *changed = memcmp(&was, state, sizeof was) != 0;
}

void Rollout_observe(Store *st, const Task *t, RolloutSettings *s, RolloutState *state) {
   bool changed;
   observed(st, t, s, state, &changed);
}

void Rollout_canary_gate(Store *st, const Task *t, GateCheck *c) {
   RolloutSettings s;
   RolloutState state;
   bool changed;
   observed(st, t, &s, &state, &changed);
   int need = last_canary(&s), held = Rollout_held(&s, &state, epoch_now());
   char dwell[32];
   fmt_duration(dwell, sizeof dwell, s.dwell_s);
   if (need < 0) {
      GateCheck_set(c, CHECK_PASS, "canary analysis", "no canary step below 100 %%");
   } else if (held >= need) {
      GateCheck_set(c, CHECK_PASS, "canary analysis", "every step up to %d %% held %s without a failed check",
                    s.steps[need], dwell);
   } else if (state.pos < 0) {
      GateCheck_set(c, CHECK_MISSING, "canary analysis", "no canary step yet (offramp rollout step-up %s)", t->name);
   } else {
      char in[32];
      fmt_duration(in, sizeof in, state.step_since > 0 ? epoch_now() - state.step_since : 0);
      GateCheck_set(c, CHECK_FAIL, "canary analysis",
                    "at %d %% for %s with %d failed check%s; each step to %d %% is held %s without one",
                    s.steps[state.pos], in, state.failures, state.failures == 1 ? "" : "s", s.steps[need], dwell);
   }
}

/* ---- analysis ---- */

const char Rollout_task_bar_source[] = "the task's agreement bar (offramp task edit --agreement-bar)";

double Rollout_agreement_bar(const RolloutSettings *s, const Task *t, const char **source) {
   if (source)
      *source = s->min_agreement >= 0 ? "the rollout's min_agreement (offramp rollout set --min-agreement)"
                                       : Rollout_task_bar_source;
   return s->min_agreement >= 0 ? s->min_agreement : t->agreement_bar;
}

void Rollout_analysis_to_route(const RolloutSettings *s, double agreement_bar, json_t *route) {
   json_t *a = json_object_get(route, "analysis");
   if (!json_is_object(a)) {
      a = json_object();
      json_object_set_new(route, "analysis", a);
   }
   json_t *steps = json_array();
   for (int i = 0; i < s->n_steps; i++)
      json_array_append_new(steps, json_integer(s->steps[i]));
   json_object_set_new(a, "steps", steps);
   json_object_set_new(a, "dwell_s", json_real(s->dwell_s));
   json_object_set_new(a, "interval_s", json_real(s->interval_s));
   json_object_set_new(a, "failure_limit", json_integer(s->failure_limit));
   json_object_set_new(a, "max_error_rate", json_real(s->max_error_rate));
   json_object_set_new(a, "min_agreement", json_real(s->min_agreement >= 0 ? s->min_agreement : agreement_bar));
   json_object_set_new(a, "max_p95_ms", json_real(s->max_p95_ms));
   json_object_set_new(a, "max_fallback_rate", json_real(s->max_fallback_rate));
   json_object_set_new(a, "min_samples", json_integer(s->min_samples));
}

/* ---- records ---- */

bool Rollout_record(Store *st, long long task_id, const char *kind, int percent, const char *detail, char **err) {
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *q = Store_prepare(st, "INSERT INTO rollout_events(task_id, ts, kind, percent, actor, detail)"
                                       " VALUES (?,?,?,?,?,?)");
   sqlite3_bind_int64(q, 1, task_id);
   sqlite3_bind_text(q, 2, ts, -1, SQLITE_TRANSIENT);
   sqlite3_bind_text(q, 3, kind, -1, SQLITE_STATIC);
   sqlite3_bind_int(q, 4, percent);
   sqlite3_bind_text(q, 5, Store_actor(), -1, SQLITE_STATIC);
   sqlite3_bind_text(q, 6, detail ? detail : "", -1, SQLITE_STATIC);
   bool ok = sqlite3_step(q) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "recording the rollout analysis");
   sqlite3_finalize(q);
   return ok;
}

json_t *Rollout_log(Store *st, long long task_id, int limit) {
   sqlite3_stmt *q = Store_prepare(st, "SELECT ts, kind, percent, actor, detail FROM (SELECT * FROM rollout_events"
                                       " WHERE task_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id");
   sqlite3_bind_int64(q, 1, task_id);
   sqlite3_bind_int(q, 2, limit);
   json_t *a = json_array();
   while (sqlite3_step(q) == SQLITE_ROW)
      json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:s, s:s}", "ts", sqlite3_column_text(q, 0), "kind",
                                         sqlite3_column_text(q, 1), "percent", sqlite3_column_int(q, 2), "actor",
                                         sqlite3_column_text(q, 3), "detail", sqlite3_column_text(q, 4)));
   sqlite3_finalize(q);
   return a;
}

/* ---- actions ---- */

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
   double now = epoch_now();
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
   observed(st, &t, &s, &state, &changed);
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
static void count_part_since(Store *st, long long task_id, const char *cond, const char *part, const char *from,
                             const char *to, long long *k, long long *n) {
   char *sql = xasprintf("SELECT count(*), coalesce(sum(%s), 0) FROM exchanges WHERE task_id = ?1 AND %s"
                         " AND ts >= strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now', '%s')"
                         " AND ts < strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now', '%s')", part, cond, from, to);
   sqlite3_stmt *q = Store_prepare(st, sql);
   sqlite3_bind_int64(q, 1, task_id);
   *k = *n = 0;
   if (sqlite3_step(q) == SQLITE_ROW) {
      *n = sqlite3_column_int64(q, 0);
      *k = sqlite3_column_int64(q, 1);
   }
   sqlite3_finalize(q);
   free(sql);
}

void Rollout_operate(Store *st, const Task *t, OperateFigures *f) {
   static const char *const verified = "arm = 'candidate' AND agree IS NOT NULL";
   static const char *const served = "arm IN ('candidate', 'fallback')";
   memset(f, 0, sizeof *f);
   count_part_since(st, t->id, verified, "agree = 1", "-1 day", "+1 minute", &f->verified_k, &f->verified_n);
   count_part_since(st, t->id, verified, "agree = 1", "-8 days", "-1 day", &f->verified_k_prev, &f->verified_n_prev);
   count_part_since(st, t->id, served, "arm = 'fallback'", "-1 day", "+1 minute", &f->fallbacks, &f->served);
   count_part_since(st, t->id, served, "arm = 'fallback'", "-8 days", "-1 day", &f->fallbacks_prev, &f->served_prev);
   count_part_since(st, t->id, "1", "(arm IN ('primary', 'fallback') OR agree IS NOT NULL)", "-1 day", "+1 minute",
                    &f->api_calls, &f->calls);
   sqlite3_stmt *q = Store_prepare(st, "SELECT id, created_at FROM datasets WHERE task_id = ? ORDER BY id DESC LIMIT 1");
   sqlite3_bind_int64(q, 1, t->id);
   if (sqlite3_step(q) == SQLITE_ROW) {
      f->dataset_id = sqlite3_column_int64(q, 0);
      snprintf(f->dataset_at, sizeof f->dataset_at, "%s", (const char *)sqlite3_column_text(q, 1));
   }
   sqlite3_finalize(q);
   q = Store_prepare(st, "SELECT count(*) FROM exchanges WHERE task_id = ? AND arm IN ('primary', 'fallback')"
                         " AND ts > coalesce(?, '')");
   sqlite3_bind_int64(q, 1, t->id);
   if (f->dataset_id)
      sqlite3_bind_text(q, 2, f->dataset_at, -1, SQLITE_STATIC);
   if (sqlite3_step(q) == SQLITE_ROW)
      f->new_since_dataset = sqlite3_column_int64(q, 0);
   sqlite3_finalize(q);
   RolloutSettings s;
   RolloutState state;
   Rollout_load(st, t->id, &s, &state);
   double bar = Rollout_agreement_bar(&s, t, NULL), lo, hi;
   if (f->verified_n > 0) {
      wilson95(f->verified_k, f->verified_n, &lo, &hi);
      f->drift_agreement = hi < bar;
   }
   if (f->served > 0) {
      wilson95(f->fallbacks, f->served, &lo, &hi);
      f->drift_fallback = lo > s.max_fallback_rate;
   }
   f->cost_before = t->monthly_cost;
   double api_share = f->calls ? (double)f->api_calls / (double)f->calls : 1;
   f->cost_now = f->cost_before * api_share + s.hosting_cost;
   f->saving = f->cost_before - f->cost_now;
   f->breakeven_share = f->cost_before > 0 ? s.hosting_cost / f->cost_before : -1;
}
