/* test_rollout.c - the rollout engine without a gateway: steps, positions, trigger evaluation,
 * the dwell that opens the canary gate, settings and the analysis log in the workspace. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "control/phase.h"
#include "control/rollout.h"
#include "control/rolloutctl.h"
#include "control/task.h"
#include "tap.h"

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

   /* The settings go to the gateway in the route's analysis; what only the route holds stays. */
   RolloutSettings_default(&s);
   s.failure_limit = 2;
   s.max_p95_ms = 800;
   json_t *route = json_pack("{s:s, s:{s:s}, s:{s:b, s:f, s:i}}", "mode", "canary", "candidate", "url",
                             "http://127.0.0.1:1/v1", "analysis", "auto_promote", 1,
                             "verify_percent", 25.0, "failure_limit", 9);
   Rollout_analysis_to_route(&s, 0.85, route);
   json_t *an = json_object_get(route, "analysis");
   ok(json_integer_value(json_object_get(an, "failure_limit")) == 2 &&
      json_number_value(json_object_get(an, "max_p95_ms")) == 800 &&
      json_number_value(json_object_get(an, "min_agreement")) == 0.85 &&
      json_array_size(json_object_get(an, "steps")) == 5, "the route gets the settings, the task's bar unless set");
   ok(json_is_true(json_object_get(an, "auto_promote")) && json_number_value(json_object_get(an, "verify_percent")) == 25,
      "auto_promote and verify_percent stay as the route has them");
   char *rerr = NULL;
   Route *parsed = Route_from_json("intent", route, &rerr);
   ok(parsed && parsed->analysis.failure_limit == 2 && parsed->analysis.auto_promote, "the gateway reads it back (%s)",
      rerr ? rerr : "");
   Route_unref(parsed);
   free(rerr);
   json_decref(route);

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
   /* A route change the gateway made on its own moves the phase and the step after it. */
   Store_exec(st, "UPDATE tasks SET phase = 'canary'", &err);
   Store_exec(st, "INSERT INTO route_events(ts, task, kind, actor, new_route, reason) VALUES ('2026-12-01T10:00:00Z',"
                  " 'intent', 'set', 'alice', '{\"mode\":\"canary\",\"percent\":50}', 'by hand')", &err);
   char *moved = NULL;
   ok(Rollout_follow_gateway(st, "intent", &moved, &err) && !moved, "a change by a person is not the gateway's");
   Store_exec(st, "INSERT INTO route_events(ts, task, kind, actor, new_route, reason) VALUES ('2026-12-01T10:00:05Z',"
                  " 'intent', 'rollback', 'gateway', '{\"mode\":\"shadow\",\"percent\":50}',"
                  " 'canary analysis: 3 failed checks (limit 3)')", &err);
   ok(Rollout_follow_gateway(st, "intent", &moved, &err) && moved && strstr(moved, "canary -> shadow"),
      "the gateway's rollback moves the phase back to shadow (%s)", moved ? moved : err);
   free(moved);
   is_int(Store_count(st, "SELECT count(*) FROM phase_events WHERE to_phase = 'shadow' AND reason LIKE "
                          "'gateway: canary analysis: 3 failed checks%'", 0), 1, "... recorded with the gateway's reason");
   Rollout_load(st, t.id, &s2, &st2);
   is_int(st2.pos, -1, "the rollout's step follows: back before the steps");
   ok(Rollout_follow_gateway(st, "intent", &moved, &err) && !moved, "following again changes nothing");
   /* A failed check the gateway recorded at the current step keeps the canary gate closed. */
   st2.pos = 0;
   st2.step_since = (double)time(NULL) - 3600;
   st2.failures = 0;
   st2.held = -1;
   s2.dwell_s = 60;
   Rollout_save(st, t.id, &s2, &st2, &err);
   Store_exec(st, "INSERT INTO route_events(ts, task, kind, actor, new_route, reason) VALUES ("
                  "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-3600 seconds'), 'intent', 'set', 'alice',"
                  " '{\"mode\":\"canary\",\"percent\":5}', 'step-up')", &err);
   Store_exec(st, "INSERT INTO rollout_events(task_id, ts, kind, percent, actor, detail) SELECT id,"
                  " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'fail', 5, 'gateway', 'error rate 9 %' FROM tasks", &err);
   Rollout_canary_gate(st, &t, &c);
   ok(c.status == CHECK_FAIL && strstr(c.detail, "with 1 failed check"),
      "the canary gate counts the failed check the gateway recorded at the step (%s)", c.detail);
   ok(Rollout_follow_gateway(st, "intent", &moved, &err), "follow the gateway's checks");
   free(moved);
   Rollout_load(st, t.id, &s2, &st2);
   is_int(st2.failures, 1, "... and following stores it in the rollout's state");
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
