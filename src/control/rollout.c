/* rollout.c - the rollout state machine, its analysis and its records. The gateway owns the
 * route and its history; this file owns the steps, the analysis log and the pause. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/stats.h"
#include "common/util.h"
#include "control/rollout.h"

const char *const Verdict_names[] = { "pass", "fail", "inconclusive" };

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
void Rollout_observe_changed(Store *st, const Task *t, RolloutSettings *s, RolloutState *state, bool *changed) {
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
   Rollout_observe_changed(st, t, s, state, &changed);
}

void Rollout_canary_gate(Store *st, const Task *t, GateCheck *c) {
   RolloutSettings s;
   RolloutState state;
   bool changed;
   Rollout_observe_changed(st, t, &s, &state, &changed);
   int need = last_canary(&s), held = Rollout_held(&s, &state, now_seconds());
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
      fmt_duration(in, sizeof in, state.step_since > 0 ? now_seconds() - state.step_since : 0);
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
