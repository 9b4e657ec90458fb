/* test_rollout.c - the rollout engine without a gateway: steps, positions, trigger evaluation,
 * the dwell that opens the canary gate, settings and the analysis log in the workspace. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "phase.h"
#include "rollout.h"
#include "tap.h"
#include "task.h"
#include "util.h"

static RolloutSample sample(double req, double err, double k, double n, double fb, double p95) {
   RolloutSample s = { .requests = req, .errors = err, .agree_k = k, .agree_n = n, .fallbacks = fb, .p95_ms = p95 };
   return s;
}

int main(void) {
   RolloutSettings s;
   RolloutSettings_default(&s);
   char buf[80], *err = NULL;
   Rollout_format_steps(&s, buf, sizeof buf);
   is_str(buf, "5,10,20,50,100", "default steps");
   ok(!Rollout_parse_steps("5,10,10", &s, &err) && err && strstr(err, "must rise"), "steps must rise (%s)", err ? err : "");
   free(err);
   err = NULL;
   ok(!Rollout_parse_steps("5,abc", &s, &err) && err && strstr(err, "'abc'"), "a bad step is named (%s)", err ? err : "");
   free(err);
   err = NULL;
   ok(!Rollout_parse_steps("0,50", &s, &err), "0 is not a step");
   free(err);
   err = NULL;
   ok(Rollout_parse_steps("25, 50,100", &s, &err) && s.n_steps == 3 && s.steps[0] == 25, "steps parsed");

   /* Positions: shadow/passthrough -1, canary share -> the step at or below it, cutover the last. */
   is_int(Rollout_position(&s, ROUTE_SHADOW, 0), -1, "shadow is before the steps");
   is_int(Rollout_position(&s, ROUTE_PASSTHROUGH, 0), -1, "passthrough is before the steps");
   is_int(Rollout_position(&s, ROUTE_CANARY, 25), 0, "canary 25 %% is step 1");
   is_int(Rollout_position(&s, ROUTE_CANARY, 60), 1, "canary 60 %% (by hand) counts as the 50 %% step");
   is_int(Rollout_position(&s, ROUTE_CANARY, 3), 0, "below the first step counts as the first");
   is_int(Rollout_position(&s, ROUTE_CUTOVER, 0), 2, "cutover is the last step");
   RouteMode m;
   double p;
   Rollout_target(&s, -1, &m, &p);
   ok(m == ROUTE_SHADOW && p == 0, "step -1 is shadow 0 %%");
   Rollout_target(&s, 1, &m, &p);
   ok(m == ROUTE_CANARY && p == 50, "step 2 is canary 50 %%");
   Rollout_target(&s, 2, &m, &p);
   ok(m == ROUTE_CUTOVER, "the 100 %% step is cutover");

   /* Triggers. */
   RolloutSettings_default(&s);
   Analysis a;
   RolloutSample d = sample(10, 5, 0, 0, 0, 0);
   Rollout_analyse(&s, 0.9, &d, &a);
   ok(a.verdict == VERDICT_INCONCLUSIVE && strstr(a.detail, "needs 20"), "10 requests < 20: inconclusive (%s)", a.detail);
   d = sample(200, 1, 190, 200, 2, 0);
   Rollout_analyse(&s, 0.9, &d, &a);
   ok(a.verdict == VERDICT_PASS, "0.5 %% errors, 95 %% agreement: pass (%s)", a.detail);
   d = sample(200, 20, 190, 200, 0, 0);
   Rollout_analyse(&s, 0.9, &d, &a);
   ok(a.verdict == VERDICT_FAIL && strstr(a.detail, "error rate 10.0 %"), "10 %% errors: fail (%s)", a.detail);
   d = sample(40, 2, 0, 0, 0, 0);
   Rollout_analyse(&s, 0.9, &d, &a);
   ok(a.verdict == VERDICT_PASS, "2 of 40 errors: the interval reaches below 2 %%, no rollback on noise (%s)", a.detail);
   d = sample(200, 0, 150, 200, 0, 0);
   Rollout_analyse(&s, 0.9, &d, &a);
   ok(a.verdict == VERDICT_FAIL && strstr(a.detail, "agreement 75.0 %"), "75 %% agreement vs bar 90 %%: fail (%s)", a.detail);
   d = sample(200, 0, 17, 20, 0, 0);
   Rollout_analyse(&s, 0.9, &d, &a);
   ok(a.verdict == VERDICT_PASS, "17/20 agreement: too few to fail the 90 %% bar (%s)", a.detail);
   s.min_agreement = 0.5;
   d = sample(200, 0, 150, 200, 0, 0);
   Rollout_analyse(&s, 0.9, &d, &a);
   ok(a.verdict == VERDICT_PASS, "--min-agreement 0.5 overrides the task bar");
   d = sample(200, 0, 0, 0, 100, 0);
   Rollout_analyse(&s, 0.9, &d, &a);
   ok(a.verdict == VERDICT_FAIL && strstr(a.detail, "fallbacks 50.0 %"), "50 %% fallbacks: fail (%s)", a.detail);
   s.max_p95_ms = 100;
   d = sample(200, 0, 0, 0, 0, 150);
   Rollout_analyse(&s, 0.9, &d, &a);
   ok(a.verdict == VERDICT_FAIL && strstr(a.detail, "p95 150 ms > 100 ms"), "p95 over the bar: fail (%s)", a.detail);

   /* Deltas between two snapshots of the gateway's all-time counters. */
   json_t *w = json_pack("{s:{s:{s:i, s:i, s:f}}, s:{s:i, s:i}, s:{s:i, s:i, s:i}}", "arms", "candidate", "requests", 300,
                         "errors", 30, "p95_ms", 12.5, "agreement", "agree", 80, "n", 100, "fallbacks", "error", 3,
                         "timeout", 1, "low_confidence", 6);
   RolloutSample now, before = sample(100, 10, 40, 50, 4, 0);
   RolloutSample_from_window(w, &now);
   json_decref(w);
   ok(now.requests == 300 && now.errors == 30 && now.agree_k == 80 && now.fallbacks == 10 && now.p95_ms == 12.5,
      "sample read from a stats window");
   RolloutSample_delta(&now, &before, &d);
   ok(d.requests == 200 && d.errors == 20 && d.agree_n == 50 && d.fallbacks == 6, "interval = now - before");

   /* Held steps and the canary gate, through the workspace. */
   char path[] = "/tmp/offramp-rollout-XXXXXX";
   int fd = mkstemp(path);
   close(fd);
   unlink(path);
   setenv("OFFRAMP_ACTOR", "alice", 1);
   Store *st = Store_open(path, STORE_CREATE, &err);
   if (!st)
      tap_skip_all(err);
   ok(Task_add(st, "intent", NULL, NULL, 0, &err), "add a task");
   Task t;
   Task_init(&t);
   Task_get(st, "intent", &t, &err);
   RolloutState state;
   Rollout_load(st, t.id, &s, &state);
   ok(state.pos == -1 && state.held == -1 && s.n_steps == 5, "a task without a rollout row gets the defaults");
   GateCheck c;
   Rollout_canary_gate(st, &t, &c);
   ok(c.status == CHECK_MISSING, "canary gate before any step: missing (%s)", c.detail);
   double now_s = (double)time(NULL);
   s.dwell_s = 60;
   state.pos = 3;   /* 50 % */
   state.step_since = now_s - 30;
   state.held = 2;
   ok(Rollout_save(st, t.id, &s, &state, &err), "save the rollout");
   Rollout_canary_gate(st, &t, &c);
   ok(c.status == CHECK_FAIL && strstr(c.detail, "at 50 %"), "30 s into a 60 s dwell at 50 %%: closed (%s)", c.detail);
   is_int(Rollout_held(&s, &state, now_s), 2, "held stays at the previous step");
   state.step_since = now_s - 61;
   Rollout_save(st, t.id, &s, &state, &err);
   Rollout_canary_gate(st, &t, &c);
   ok(c.status == CHECK_PASS, "50 %% held past its dwell: open (%s)", c.detail);
   state.failures = 1;
   Rollout_save(st, t.id, &s, &state, &err);
   Rollout_canary_gate(st, &t, &c);
   ok(c.status == CHECK_FAIL, "a failed check at the step keeps it closed");
   Store_exec(st, "UPDATE tasks SET phase = 'canary'", &err);
   Task_clear(&t);
   Task_get(st, "intent", &t, &err);
   Gate g;
   Phase_gate(st, &t, &g);
   ok(!g.open && g.n == 1 && strstr(g.checks[0].what, "canary"), "the phase gate out of canary is the rollout's");
   RolloutSettings s2;
   RolloutState st2;
   Rollout_load(st, t.id, &s2, &st2);
   ok(s2.dwell_s == 60 && st2.pos == 3 && st2.failures == 1 && s2.min_agreement < 0, "settings and state round-trip");

   ok(Rollout_record(st, t.id, "fail", 50, "error rate 40 %", &err), "record a check");
   json_t *log = Rollout_log(st, t.id, 10);
   ok(json_array_size(log) == 1 && str_eq(json_string_value(json_object_get(json_array_get(log, 0), "actor")), "alice"),
      "the log holds the check and who made it");
   json_decref(log);

   /* The phase follows the route both ways, recorded as advance / rollback. */
   ok(Phase_follow(st, "intent", PHASE_CUTOVER, "promote-full", &err), "follow to cutover");
   ok(Phase_follow(st, "intent", PHASE_SHADOW, "abort", &err), "follow back to shadow");
   is_int(Store_count(st, "SELECT count(*) FROM phase_events WHERE kind = 'rollback' AND to_phase = 'shadow' "
                          "AND reason = 'abort'", 0), 1, "the abort is a recorded rollback");
   RolloutAction act;
   ok(RolloutAction_parse("promote-full", &act) && act == ROLLOUT_PROMOTE_FULL, "action names parse");
   ok(!RolloutAction_parse("promote-all", &act), "unknown action refused");

   Task_clear(&t);
   Store_close(st);
   char *rm_err = NULL;
   if (!Store_remove(path, &rm_err))
      fprintf(stderr, "# %s\n", rm_err);
   free(rm_err);
   return tap_done();
}
