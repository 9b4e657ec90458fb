/* test_gates.c - the route change gate check (gates.c): modes against phases, rollbacks,
 * forced changes, the picked model's evaluation run (the frontier's run does not count), what
 * a starting gateway serves. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "control/gates.h"
#include "control/task.h"
#include "tap.h"

static Store *st;

static Route *route(const char *task, const char *json) {
   char *err = NULL;
   json_t *j = json_loads(json, 0, NULL);
   Route *r = Route_from_json(task, j, &err);
   json_decref(j);
   if (!r)
      fprintf(stderr, "route: %s\n", err);
   free(err);
   return r;
}

static const char *phase(void) {
   static char buf[32];
   sqlite3_stmt *q = Store_prepare(st, "SELECT phase FROM tasks WHERE name = 'intent'");
   snprintf(buf, sizeof buf, "%s", sqlite3_step(q) == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : "-");
   sqlite3_finalize(q);
   return buf;
}

static bool has(const GateVerdict *v, const char *what) {
   for (int i = 0; i < v->n; i++) {
      if (str_eq(v->missing[i].what, what))
         return true;
   }
   return false;
}

/* A finished eval run of spec on dataset with acc_k of 10 right (the reference 10 of 10). */
static void eval_run(const char *spec, const char *dataset, int acc_k) {
   char *sql = xasprintf("INSERT INTO eval_runs(task_id, dataset, test_hash, candidate, status, created_at, finished_at, metrics)"
                         " VALUES (1, '%s', 'h', '%s', 'done', 'now', 'now', '{\"candidate\":{\"accuracy\":{\"k\":%d,\"n\":10},"
                         "\"format\":{\"k\":10,\"n\":10}},\"reference\":{\"accuracy\":{\"k\":10,\"n\":10}}}')",
                         dataset, spec, acc_k);
   char *err = NULL;
   if (!Store_exec(st, sql, &err))
      fprintf(stderr, "%s\n", err);
   free(sql);
}

int main(void) {
   char path[] = "/tmp/offramp-gates-XXXXXX";
   int fd = mkstemp(path);
   close(fd);
   unlink(path);
   char *err = NULL;
   st = Store_open(path, STORE_CREATE, &err);
   if (!st)
      tap_skip_all(err);
   setenv("OFFRAMP_ACTOR", "alice", 1);
   GateVerdict v;

   /* A task the inventory lacks: passthrough only, unless forced (which adds it). */
   Route *shadow = route("intent", "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"http://m/v1\",\"model\":\"ft:1\"}}");
   Route *pass = route("intent", "{\"mode\":\"passthrough\",\"candidate\":{\"url\":\"http://m/v1\",\"model\":\"ft:1\"}}");
   Gates_check_route(st, pass, NULL, &v);
   ok(v.allowed && !v.known, "unknown task: passthrough allowed");
   ok(!Gates_change_route(st, shadow, "set", "alice", "go", false, &v, &err) && v.refused && !err,
      "unknown task: shadow refused");
   ok(has(&v, "inventory"), "the missing item is the inventory");
   is_int(Store_count(st, "SELECT count(*) FROM route_events", 0), 0, "nothing recorded");
   ok(Gates_change_route(st, shadow, "set", "alice", "see it", true, &v, &err) && v.forced, "forced: saved");
   is_str(phase(), "shadow", "forced: the task is added at the route's phase");
   is_int(Store_count(st, "SELECT forced FROM route_events", 0), 1, "the route event is marked forced");
   is_int(Store_count(st, "SELECT count(*) FROM phase_events WHERE forced = 1 AND to_phase = 'shadow'", 0), 1,
          "so is the phase move");

   /* Rollback: always allowed, the phase follows back to evaluate. */
   ok(Gates_change_route(st, pass, "rollback", "alice", "bad", false, &v, &err) && !v.forced, "rollback allowed");
   is_str(phase(), "evaluate", "phase back to evaluate");

   /* The evaluate gate reads the picked model's run on its dataset: no pick, no gate. */
   Gates_check_route(st, shadow, pass, &v);
   ok(!v.allowed && has(&v, "candidate"), "no picked experiment: 'candidate' missing");
   Store_exec(st, "INSERT INTO backends(name, kind, base_url, created_at) VALUES ('b', 'openai-ft', 'http://m/v1/', 'now');"
                  "INSERT INTO datasets(task_id, created_at, actor, params, rows_train, rows_test, dir, train_sha256,"
                  " test_sha256, report_sha256, report) VALUES (1, 'now', 'a', '{}', 1, 1, 'data/ds7', '', '', '', '{}');"
                  "INSERT INTO experiments(task_id, dataset_id, backend, job_id, base_model, status, fine_tuned_model,"
                  " created_at, updated_at) VALUES (1, 1, 'b', 'j1', 'x', 'succeeded', 'ft:1', 'now', 'now');"
                  "UPDATE tasks SET candidate_experiment = 1", &err);
   /* The frontier, perfect; the model on another dataset, perfect; the model on its own: 5/10. */
   eval_run("http://api/v1|gpt-frontier", "dataset 1", 10);
   eval_run("b:ft:1", "dataset 2", 10);
   eval_run("b:ft:1", "dataset /abs/data/ds7/test.jsonl", 5);
   Picked pk;
   ok(Phase_picked(st, 1, &pk), "the pick is found");
   is_int(Phase_candidate_run(st, 1, &pk), 3, "the run of the picked model on its dataset (by path)");
   Gates_check_route(st, shadow, pass, &v);
   ok(!v.allowed && has(&v, "accuracy"), "accuracy 5/10 fails: the frontier's 10/10 does not count");
   eval_run("http://m/v1|ft:1", "dataset 1", 10);
   is_int(Phase_candidate_run(st, 1, &pk), 4, "URL|MODEL of the backend's URL (slash or not) counts");
   Picked_clear(&pk);
   Gates_check_route(st, shadow, pass, &v);
   ok(v.allowed && v.to == PHASE_SHADOW, "evaluated: shadow allowed, the phase goes to shadow");

   /* Another model than the pick is refused; the picked one goes. */
   Route *other = route("intent", "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"http://m/v1\",\"model\":\"ft:9\"}}");
   Gates_check_route(st, other, pass, &v);
   ok(!v.allowed && has(&v, "candidate model"), "a model other than the pick: refused");
   ok(Gates_change_route(st, shadow, "set", "alice", "passed", false, &v, &err) && !v.forced, "shadow saved");
   is_str(phase(), "shadow", "phase shadow");

   /* Past the shadow gate: refused. Stays on the API: refused. */
   Route *cut = route("intent", "{\"mode\":\"cutover\",\"candidate\":{\"url\":\"http://m/v1\",\"model\":\"ft:1\"}}");
   Gates_check_route(st, cut, shadow, &v);
   ok(!v.allowed && has(&v, "shadow comparisons") && has(&v, "canary analysis"), "cutover from shadow: two gates unmet");

   /* A gateway starting with a route ahead of the phase serves the phase's mode. */
   char *why = NULL;
   Route *served = Gates_serve(st, cut, &why);
   is_int(served->mode, ROUTE_SHADOW, "cutover stored, phase shadow: shadow served");
   ok(why && strstr(why, "ahead of the phase shadow"), "and says why: %s", why ? why : "");
   free(why);
   Route_unref(served);
   served = Gates_serve(st, shadow, &why);
   ok(served == shadow && !why, "a route within the phase is served as it is");
   Route_unref(served);

   Store_exec(st, "UPDATE tasks SET phase = 'stay'", &err);
   Gates_check_route(st, shadow, pass, &v);
   ok(!v.allowed && has(&v, "stays on API"), "a task staying on the API gets no candidate");

   Route_unref(shadow);
   Route_unref(pass);
   Route_unref(other);
   Route_unref(cut);
   Store_close(st);
   unlink(path);
   return tap_done();
}
