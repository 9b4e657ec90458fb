/* phaselog.c - the phases' names and the audit trail of every transition. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "control/phaselog.h"

static const struct {
   const char *name, *title, *runbook;
} phases[PHASE_COUNT] = {
   [PHASE_AUDIT] = { "audit", "audit", "audit" },
   [PHASE_DATASET] = { "dataset", "dataset", "dataset" },
   [PHASE_TRAIN] = { "train", "train", "training" },
   [PHASE_EVALUATE] = { "evaluate", "evaluate", "evaluation" },
   [PHASE_SHADOW] = { "shadow", "shadow", "shadow" },
   [PHASE_CANARY] = { "canary", "canary", "canary" },
   [PHASE_CUTOVER] = { "cutover", "cutover", "cutover" },
   [PHASE_OPERATE] = { "operate", "operate", "operate" },
   [PHASE_STAY] = { "stay", "stays on API", "rollback" },
};

const char *Phase_name(Phase p) {
   return p < PHASE_COUNT ? phases[p].name : "?";
}

const char *Phase_title(Phase p) {
   return p < PHASE_COUNT ? phases[p].title : "?";
}

const char *Phase_runbook(Phase p) {
   return p < PHASE_COUNT ? phases[p].runbook : "audit";
}

bool Phase_parse(const char *s, Phase *out) {
   for (int p = 0; p < PHASE_COUNT; p++) {
      if (str_eq(s, phases[p].name)) {
         *out = (Phase)p;
         return true;
      }
   }
   return false;
}

void GateCheck_vset(GateCheck *c, CheckStatus status, const char *what, const char *fmt, va_list ap) {
   c->status = status;
   snprintf(c->what, sizeof c->what, "%s", what);
   vsnprintf(c->detail, sizeof c->detail, fmt, ap);
}

void GateCheck_set(GateCheck *c, CheckStatus status, const char *what, const char *fmt, ...) {
   va_list ap;
   va_start(ap, fmt);
   GateCheck_vset(c, status, what, fmt, ap);
   va_end(ap);
}

bool Phase_record(Store *st, long long task_id, const char *kind, const char *from, const char *to,
                  const char *reason, char **err) {
   return Phase_record_by(st, task_id, kind, from, to, Store_actor(), reason, false, err);
}

bool Phase_record_by(Store *st, long long task_id, const char *kind, const char *from, const char *to,
                     const char *actor, const char *reason, bool forced, char **err) {
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *s = Store_prepare(st,
      "INSERT INTO phase_events(task_id, ts, kind, from_phase, to_phase, actor, reason, forced) VALUES (?,?,?,?,?,?,?,?)");
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_text(s, 2, ts, -1, SQLITE_TRANSIENT);
   sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 4, from, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 5, to, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 6, actor, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 7, reason ? reason : "", -1, SQLITE_STATIC);
   sqlite3_bind_int(s, 8, forced);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "recording the phase history");
   sqlite3_finalize(s);
   return ok;
}

PhaseEvent *Phase_history(Store *st, long long task_id, int *n) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT ts, kind, coalesce(from_phase, ''), to_phase, actor, reason, forced "
                                       "FROM phase_events WHERE task_id = ? ORDER BY id");
   sqlite3_bind_int64(s, 1, task_id);
   int cap = 8;
   PhaseEvent *ev = xcalloc(cap, sizeof *ev);
   *n = 0;
   while (sqlite3_step(s) == SQLITE_ROW) {
      if (*n == cap)
         ev = xrealloc(ev, (cap *= 2) * sizeof *ev);
      PhaseEvent *e = &ev[(*n)++];
      e->ts = xstrdup((const char *)sqlite3_column_text(s, 0));
      e->kind = xstrdup((const char *)sqlite3_column_text(s, 1));
      e->from = xstrdup((const char *)sqlite3_column_text(s, 2));
      e->to = xstrdup((const char *)sqlite3_column_text(s, 3));
      e->actor = xstrdup((const char *)sqlite3_column_text(s, 4));
      e->reason = xstrdup((const char *)sqlite3_column_text(s, 5));
      e->forced = sqlite3_column_int(s, 6) != 0;
   }
   sqlite3_finalize(s);
   return ev;
}

void Phase_free_history(PhaseEvent *ev, int n) {
   for (int i = 0; i < n; i++) {
      free(ev[i].ts);
      free(ev[i].kind);
      free(ev[i].from);
      free(ev[i].to);
      free(ev[i].actor);
      free(ev[i].reason);
   }
   free(ev);
}
