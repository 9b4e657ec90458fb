/* test_phase.c - gates, transitions, rollback, stay, the audit trail, Wilson intervals. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/stats.h"
#include "common/util.h"
#include "control/phase.h"
#include "control/task.h"
#include "store/exchange.h"
#include "tap.h"

static Store *st;

static void add_exchanges(const char *task, int n, int agree_every) {
   ExchangeWriter *w = ExchangeWriter_new(st, Task_create_in_tx);
   char *err = NULL;
   Store_begin(st, &err);
   static int seq;
   for (int i = 0; i < n; i++) {
      Exchange e;
      Exchange_init(&e);
      char rid[64];
      snprintf(rid, sizeof rid, "r%d", seq++);
      e.rid = rid;
      e.ts = "2026-11-01T00:00:00.000Z";
      e.task = task;
      e.status = 200;
      e.record = "{}";
      if (agree_every > 0)
         e.agree = (i % agree_every) != 0;
      if (ExchangeWriter_add(w, &e, &err) != 1)
         fprintf(stderr, "add failed: %s\n", err);
   }
   Store_commit(st, &err);
   ExchangeWriter_free(w);
}

static const GateCheck *find(const Gate *g, const char *what) {
   for (int i = 0; i < g->n; i++) {
      if (strcmp(g->checks[i].what, what) == 0)
         return &g->checks[i];
   }
   return NULL;
}

int main(void) {
   char path[] = "/tmp/offramp-phase-XXXXXX";
   int fd = mkstemp(path);
   close(fd);
   unlink(path);
   char *err = NULL;
   st = Store_open(path, STORE_CREATE, &err);
   if (!st)
      tap_skip_all(err);
   setenv("OFFRAMP_ACTOR", "alice", 1);

   ok(Task_add(st, "intent", NULL, NULL, 0, &err), "add a task");
   Task t;
   Task_init(&t);
   Task_get(st, "intent", &t, &err);
   is_str(t.phase, "audit", "new tasks start in audit");

   Gate g;
   Phase_gate(st, &t, &g);
   ok(!g.open, "audit gate closed for a new task");
   ok(find(&g, "scored") && find(&g, "scored")->status == CHECK_FAIL, "not scored: fails");
   const GateCheck *ex = find(&g, "logged examples");
   ok(ex && ex->status == CHECK_FAIL && strstr(ex->detail, "0, the gate needs 500"), "0 examples: '%s'", ex ? ex->detail : "");

   /* A refused advance lists exactly what is missing and changes nothing. */
   ok(!Phase_advance(st, "intent", "try", &g, &err), "advance refused");
   ok(err && strstr(err, "scored") && strstr(err, "logged examples"), "refusal lists both checks");
   free(err);
   err = NULL;
   is_int(Store_count(st, "SELECT count(*) FROM phase_events WHERE kind = 'advance'", 0), 0, "nothing recorded");

   add_exchanges("intent", 499, 0);
   Store_exec(st, "UPDATE tasks SET scored_at = '2026-11-01T00:00:00Z'", &err);
   Task_clear(&t);
   Task_get(st, "intent", &t, &err);
   is_int(t.logged, 499, "499 logged examples");
   Phase_gate(st, &t, &g);
   ok(!g.open && find(&g, "scored")->status == CHECK_PASS, "scored passes, 499 examples still closed");
   add_exchanges("intent", 1, 0);
   Task_clear(&t);
   Task_get(st, "intent", &t, &err);
   Phase_gate(st, &t, &g);
   ok(g.open, "500 examples and scored: gate open");

   /* Errors do not count as examples. */
   Store_exec(st, "UPDATE exchanges SET status = 500 WHERE id = (SELECT max(id) FROM exchanges)", &err);
   Phase_gate(st, &t, &g);
   ok(!g.open, "an error response is not an example");
   Store_exec(st, "UPDATE exchanges SET status = 200", &err);

   ok(Phase_advance(st, "intent", "enough data", &g, &err), "advance audit -> dataset");
   is_int(g.to, PHASE_DATASET, "moved to dataset");
   Task_clear(&t);
   Task_get(st, "intent", &t, &err);
   Phase_gate(st, &t, &g);
   ok(!g.open && g.checks[0].status == CHECK_MISSING, "dataset gate says its input is missing");

   /* Rollback only to earlier phases. */
   ok(!Phase_rollback(st, "intent", PHASE_SHADOW, "no", &err), "rollback forward refused");
   free(err);
   err = NULL;
   ok(!Phase_rollback(st, "intent", PHASE_DATASET, "no", &err), "rollback to the same phase refused");
   free(err);
   err = NULL;
   ok(Phase_rollback(st, "intent", PHASE_AUDIT, "relabel", &err), "rollback to audit");

   /* Stay on the API and come back. */
   ok(Phase_stay(st, "intent", "prompt still changing", &err), "stay on the API");
   ok(!Phase_stay(st, "intent", "again", &err), "staying twice refused");
   free(err);
   err = NULL;
   Task_clear(&t);
   Task_get(st, "intent", &t, &err);
   Phase_gate(st, &t, &g);
   ok(!g.open, "no advance while staying on the API");
   ok(Phase_rollback(st, "intent", PHASE_DATASET, "resume", &err), "resume from stay to any phase");

   int n;
   PhaseEvent *ev = Phase_history(st, t.id, &n);
   is_int(n, 5, "five events: create, advance, rollback, stay, rollback");
   if (n == 5) {
      is_str(ev[1].kind, "advance", "event 2 is the advance");
      is_str(ev[1].from, "audit", "advance from audit");
      is_str(ev[1].to, "dataset", "advance to dataset");
      is_str(ev[1].actor, "alice", "actor recorded");
      is_str(ev[1].reason, "enough data", "reason recorded");
      is_str(ev[3].kind, "stay", "event 4 is the stay");
   }
   Phase_free_history(ev, n);

   /* Shadow gate: n comparisons and the lower Wilson bound against the task's bar. */
   Task_add(st, "tone", NULL, NULL, 0, &err);
   Store_exec(st, "UPDATE tasks SET phase = 'shadow', agreement_bar = 0.85, min_comparisons = 100 WHERE name = 'tone'", &err);
   add_exchanges("tone", 100, 10);   /* 90 % agreement */
   Task_clear(&t);
   Task_get(st, "tone", &t, &err);
   Phase_gate(st, &t, &g);
   const GateCheck *ag = find(&g, "agreement");
   ok(ag && ag->status == CHECK_FAIL, "90/100 agreement: lower bound 82.6 %% < 85 %% bar (%s)", ag ? ag->detail : "");
   ok(ag && strstr(ag->detail, "n=100"), "the detail carries n");
   Store_exec(st, "UPDATE tasks SET agreement_bar = 0.80 WHERE name = 'tone'", &err);
   Task_clear(&t);
   Task_get(st, "tone", &t, &err);
   Phase_gate(st, &t, &g);
   ok(g.open, "bar 80 %%: open");

   double lo, hi;
   wilson95(90, 100, &lo, &hi);
   is_near(lo, 0.82563, 1e-4, "Wilson lower bound of 90/100");
   is_near(hi, 0.94477, 1e-4, "Wilson upper bound of 90/100");
   wilson95(0, 0, &lo, &hi);
   ok(lo == 0 && hi == 1, "no data: [0, 1]");

   /* Deleting a task keeps the workspace consistent (events cascade). */
   ok(Task_remove(st, "tone", &err), "remove a task");
   is_int(Store_count(st, "SELECT count(*) FROM phase_events e LEFT JOIN tasks t ON t.id = e.task_id WHERE t.id IS NULL", 0),
          0, "no orphaned events");
   is_int(Store_count(st, "PRAGMA foreign_key_check", 0), 0, "foreign keys hold");

   Task_clear(&t);
   Store_close(st);
   char *rm_err = NULL;
   if (!Store_remove(path, &rm_err))
      fprintf(stderr, "# %s\n", rm_err);
   free(rm_err);
   return tap_done();
}
