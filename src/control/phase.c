/* phase.c - the ladder: the gate out of each phase (reading dataset, eval, rollout and deploy)
 * and the moves along it. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stats.h"
#include "common/util.h"
#include "control/dataset.h"
#include "control/deploy.h"
#include "control/eval.h"
#include "control/phase.h"
#include "control/rollout.h"
#include "control/score.h"

static GateCheck *check(Gate *g, CheckStatus status, const char *what, const char *fmt, ...) ATTR_PRINTF(4, 5);
static GateCheck *check(Gate *g, CheckStatus status, const char *what, const char *fmt, ...) {
   GateCheck *c = &g->checks[g->n++];
   va_list ap;
   va_start(ap, fmt);
   GateCheck_vset(c, status, what, fmt, ap);
   va_end(ap);
   if (status != CHECK_PASS)
      g->open = false;
   return c;
}

static void gate_audit(Store *st, const Task *t, Gate *g) {
   char a[32], b[32];
   if (t->scored_at)
      check(g, CHECK_PASS, "scored", "scores reviewed %.10s", t->scored_at);
   else
      check(g, CHECK_FAIL, "scored", "not reviewed (s here, or offramp task score %s)", t->name);
   long long ok = Store_count(st, "SELECT count(*) FROM exchanges WHERE task_id = ?1 AND arm = 'primary' "
                                  "AND (status IS NULL OR status BETWEEN 200 AND 299)", t->id);
   check(g, ok >= t->min_examples ? CHECK_PASS : CHECK_FAIL, "logged examples",
         ok >= t->min_examples ? "%s, the gate needs %s" : "%s, the gate needs %s (offramp import FILE)",
         fmt_count(a, sizeof a, ok), fmt_count(b, sizeof b, t->min_examples));
}

void Picked_clear(Picked *p) {
   free(p->backend);
   free(p->model);
   free(p->base_url);
   memset(p, 0, sizeof *p);
}

bool Phase_picked(Store *st, long long task_id, Picked *p) {
   memset(p, 0, sizeof *p);
   sqlite3_stmt *q = Store_prepare(st, "SELECT e.id, coalesce(e.dataset_id, 0), e.backend, e.fine_tuned_model, b.base_url"
                                       " FROM tasks t JOIN experiments e ON e.id = t.candidate_experiment"
                                       " LEFT JOIN backends b ON b.name = e.backend"
                                       " WHERE t.id = ?1 AND e.fine_tuned_model IS NOT NULL");
   sqlite3_bind_int64(q, 1, task_id);
   if (sqlite3_step(q) == SQLITE_ROW) {
      p->experiment = sqlite3_column_int64(q, 0);
      p->dataset_id = sqlite3_column_int64(q, 1);
      p->backend = xstrdup((const char *)sqlite3_column_text(q, 2));
      p->model = xstrdup((const char *)sqlite3_column_text(q, 3));
      if (sqlite3_column_type(q, 4) != SQLITE_NULL)
         p->base_url = xstrdup((const char *)sqlite3_column_text(q, 4));
   }
   sqlite3_finalize(q);
   /* The picked experiment's adapter deployed by offramp deploy: the model is the one its server
    * serves, under the name and at the URL the deployment gives (what eval and shadow ask for). */
   if (p->model && Store_has_table(st, "deployments")) {
      q = Store_prepare(st, "SELECT d.model, d.chat_url FROM deployments d JOIN model_versions v ON v.id = d.version_id"
                            " WHERE d.task_id = ?1 AND d.status = 'active' AND v.experiment_id = ?2"
                            " ORDER BY d.id DESC LIMIT 1");
      sqlite3_bind_int64(q, 1, task_id);
      sqlite3_bind_int64(q, 2, p->experiment);
      if (sqlite3_step(q) == SQLITE_ROW) {
         free(p->model);
         free(p->base_url);
         p->model = xstrdup((const char *)sqlite3_column_text(q, 0));
         p->base_url = xstrdup((const char *)sqlite3_column_text(q, 1));
      }
      sqlite3_finalize(q);
   }
   return p->model != NULL;
}

static void gate_shadow(Store *st, const Task *t, Gate *g) {
   char a[32], b[32];
   /* Comparisons of the picked candidate's model only: the candidate arm's own model, else the
    * mirrored call's (the model that answered, as the capture records it). Without a pick there
    * is no artifact to tie them to, so every comparison counts (a route set by hand). */
   Picked pk;
   bool picked = Phase_picked(st, t->id, &pk);
   /* One statement, one snapshot: two counts taken apart let captures land between them
    * (k > n, agreement over 100 %) while the gateway writes. */
   sqlite3_stmt *q = Store_prepare(st, "SELECT count(*), coalesce(sum(agree = 1), 0) FROM exchanges"
                                       " WHERE task_id = ?1 AND agree IS NOT NULL AND (?2 IS NULL OR"
                                       " coalesce(CASE WHEN arm = 'candidate' THEN model END,"
                                       " json_extract(record, '$.shadow.model')) = ?2)");
   sqlite3_bind_int64(q, 1, t->id);
   if (picked)
      sqlite3_bind_text(q, 2, pk.model, -1, SQLITE_STATIC);
   long long n = 0, k = 0;
   if (sqlite3_step(q) == SQLITE_ROW) {
      n = sqlite3_column_int64(q, 0);
      k = sqlite3_column_int64(q, 1);
   }
   sqlite3_finalize(q);
   check(g, n >= t->min_comparisons ? CHECK_PASS : CHECK_FAIL, "shadow comparisons",
         "%s%s%s, the gate needs %s", fmt_count(a, sizeof a, n), picked ? " of " : "", picked ? pk.model : "",
         fmt_count(b, sizeof b, t->min_comparisons));
   Picked_clear(&pk);
   if (n == 0) {
      check(g, CHECK_MISSING, "agreement", "no comparisons yet (route the task in shadow mode)");
      return;
   }
   double lo, hi;
   wilson95(k, n, &lo, &hi);
   check(g, lo >= t->agreement_bar ? CHECK_PASS : CHECK_FAIL, "agreement",
         "%.1f %% (95 %% CI %.1f-%.1f, n=%s), lower bound vs bar %.1f %%", 100.0 * k / n, 100 * lo, 100 * hi,
         fmt_count(a, sizeof a, n), 100 * t->agreement_bar);
}

/* The spec an eval run named ("BACKEND:MODEL" or "URL|MODEL") is the picked model: the same
 * model name, and the same backend (or its base URL). */
static bool spec_is(const char *spec, const Picked *p) {
   const char *bar = strchr(spec, '|');
   if (bar) {
      if (!str_eq(bar + 1, p->model) || !p->base_url)
         return false;
      size_t n = (size_t)(bar - spec), m = strlen(p->base_url);
      while (n && spec[n - 1] == '/')
         n--;
      while (m && p->base_url[m - 1] == '/')
         m--;
      return n == m && strncmp(spec, p->base_url, n) == 0;
   }
   const char *colon = strchr(spec, ':');
   return colon && str_eq(colon + 1, p->model) && strlen(p->backend) == (size_t)(colon - spec) &&
          strncmp(spec, p->backend, (size_t)(colon - spec)) == 0;
}

long long Phase_candidate_run(Store *st, long long task_id, const Picked *p) {
   char *dir = NULL;
   if (p->dataset_id > 0) {
      sqlite3_stmt *d = Store_prepare(st, "SELECT dir FROM datasets WHERE id = ?1");
      sqlite3_bind_int64(d, 1, p->dataset_id);
      if (sqlite3_step(d) == SQLITE_ROW)
         dir = xasprintf("%s/test.jsonl", (const char *)sqlite3_column_text(d, 0));
      sqlite3_finalize(d);
   }
   char by_id[48];
   snprintf(by_id, sizeof by_id, "dataset %lld", p->dataset_id);
   sqlite3_stmt *q = Store_prepare(st, "SELECT id, candidate, dataset FROM eval_runs"
                                       " WHERE task_id = ?1 AND status = 'done' ORDER BY id DESC");
   sqlite3_bind_int64(q, 1, task_id);
   long long run = 0;
   while (!run && sqlite3_step(q) == SQLITE_ROW) {
      const char *spec = (const char *)sqlite3_column_text(q, 1), *ds = (const char *)sqlite3_column_text(q, 2);
      /* The experiment's own dataset: a later one's test rows may be in its training rows. */
      bool same_data = p->dataset_id <= 0 || str_eq(ds, by_id) ||
                       (dir && str_startswith(ds, "dataset ") && strlen(ds) >= strlen(dir) &&
                        str_eq(ds + strlen(ds) - strlen(dir), dir));
      if (same_data && spec_is(spec, p))
         run = sqlite3_column_int64(q, 0);
   }
   sqlite3_finalize(q);
   free(dir);
   return run;
}

/* The evaluation of the picked candidate's model on the data it was trained from: accuracy
 * within the task's margin of the reference, and format compliance at the task's bar. A run
 * of any other model (the frontier itself, an earlier pick) says nothing about this one. */
static void gate_evaluate(Store *st, const Task *t, Gate *g) {
   Picked pk;
   if (!Phase_picked(st, t->id, &pk)) {
      check(g, CHECK_MISSING, "candidate", "no experiment picked as the candidate (offramp job pick ID)");
      return;
   }
   long long run = Phase_candidate_run(st, t->id, &pk);
   EvalRunInfo r;
   char *err = NULL;
   EvalHeadline h;
   if (!run || !Eval_get_run(st, run, &r, &err)) {
      if (pk.dataset_id > 0)
         check(g, CHECK_MISSING, "evaluation", "no finished evaluation of %s on dataset %lld (offramp eval %s --candidate %s:%s --dataset %lld)",
               pk.model, pk.dataset_id, t->name, pk.backend, pk.model, pk.dataset_id);
      else
         check(g, CHECK_MISSING, "evaluation", "no finished evaluation of %s (offramp eval %s --candidate %s:%s)",
               pk.model, t->name, pk.backend, pk.model);
      free(err);
      Picked_clear(&pk);
      return;
   }
   Picked_clear(&pk);
   if (!Eval_headline(r.metrics, &h)) {
      check(g, CHECK_MISSING, "evaluation", "run %lld has no metrics (re-run offramp eval %s)", run, t->name);
      EvalRunInfo_clear(&r);
      return;
   }
   char acc[80], fmt[80];
   Eval_fmt_rate(acc, sizeof acc, h.acc_k, h.acc_n);
   Eval_fmt_rate(fmt, sizeof fmt, h.fmt_k, h.fmt_n);
   double ref = h.ref_n ? (double)h.ref_k / (double)h.ref_n : 0, need = ref - t->eval_margin / 100;
   double got = h.acc_n ? (double)h.acc_k / (double)h.acc_n : 0;
   check(g, got >= need - 1e-12 ? CHECK_PASS : CHECK_FAIL, "accuracy", "%s, needs %.1f %% (reference %.1f %% - %g pts; run %lld)",
         acc, 100 * need, 100 * ref, t->eval_margin, run);
   /* Beyond labels the task's own metric counts too (field or argument accuracy, chrF, ROUGE-L):
    * the candidate's within the margin of the reference's on the same metric. */
   EvalTaskMetric tm;
   if (Eval_task_metric(r.metrics, &tm) && !str_eq(tm.name, "accuracy")) {
      double tneed = tm.reference - t->eval_margin / 100;
      check(g, tm.value >= tneed - 1e-12 ? CHECK_PASS : CHECK_FAIL, tm.name,
            "%.1f %% (n=%ld), needs %.1f %% (reference %.1f %% - %g pts; run %lld)", 100 * tm.value, tm.n,
            100 * tneed, 100 * tm.reference, t->eval_margin, run);
   }
   double fv = h.fmt_n ? (double)h.fmt_k / (double)h.fmt_n : 0;
   check(g, h.fmt_n && fv >= t->format_bar - 1e-12 ? CHECK_PASS : CHECK_FAIL, "format compliance", "%s, needs %.1f %%", fmt,
         100 * t->format_bar);
   EvalRunInfo_clear(&r);
}

static void gate_train(Store *st, const Task *t, Gate *g) {
   long long total = Store_count(st, "SELECT count(*) FROM experiments WHERE task_id = ?1", t->id);
   long long ok = Store_count(st, "SELECT count(*) FROM experiments WHERE task_id = ?1 AND status = 'succeeded'", t->id);
   if (ok > 0)
      check(g, CHECK_PASS, "training job", "%lld of %lld experiment%s succeeded", ok, total, total == 1 ? "" : "s");
   else if (total > 0)
      check(g, CHECK_FAIL, "training job", "%lld experiment%s, none succeeded yet (offramp jobs %s)", total,
            total == 1 ? "" : "s", t->name);
   else
      check(g, CHECK_MISSING, "training job", "no training job has succeeded yet (offramp train %s ...)", t->name);
}

void Phase_gate(Store *st, const Task *t, Gate *g) {
   Phase from = PHASE_AUDIT;
   Phase_parse(t->phase, &from);
   Phase_gate_from(st, t, from, g);
}

void Phase_gate_from(Store *st, const Task *t, Phase from, Gate *g) {
   memset(g, 0, sizeof *g);
   g->from = from;
   g->to = from + 1;
   g->open = true;
   switch (from) {
   case PHASE_AUDIT:
      gate_audit(st, t, g);
      break;
   case PHASE_DATASET: {
      GateCheck dc[GATE_MAX_CHECKS];
      int n = Dataset_gate_checks(st, t, dc, GATE_MAX_CHECKS);
      for (int i = 0; i < n; i++)
         check(g, dc[i].status, dc[i].what, "%s", dc[i].detail);
      break;
   }
   case PHASE_TRAIN:
      gate_train(st, t, g);
      break;
   case PHASE_EVALUATE: {
      gate_evaluate(st, t, g);
      /* A model deployed on the team's own server (offramp deploy) must first answer its smoke
       * set in the evaluation's format; a task with no deployed version has no such check. */
      GateCheck dc;
      if (Deploy_gate_check(st, t->id, &dc))
         check(g, dc.status, dc.what, "%s", dc.detail);
      break;
   }
   case PHASE_SHADOW:
      gate_shadow(st, t, g);
      break;
   case PHASE_CANARY: {
      GateCheck c;
      Rollout_canary_gate(st, t, &c);
      check(g, c.status, c.what, "%s", c.detail);
      break;
   }
   case PHASE_CUTOVER:
      check(g, CHECK_PASS, "cutover", "no gate: operate once the candidate serves");
      break;
   case PHASE_OPERATE:
      check(g, CHECK_FAIL, "last phase", "operate is the last phase");
      g->to = PHASE_OPERATE;
      break;
   case PHASE_STAY:
   case PHASE_COUNT:
      check(g, CHECK_FAIL, "stays on API", "the task stays on the API (roll back to a phase to resume)");
      g->to = PHASE_STAY;
      break;
   }
}

bool Phase_move(Store *st, const Task *t, const char *kind, Phase to, const char *actor, const char *reason,
                bool forced, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "UPDATE tasks SET phase = ?, updated_at = ? WHERE id = ?");
   char ts[32];
   now_iso8601(ts);
   sqlite3_bind_text(s, 1, Phase_name(to), -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
   sqlite3_bind_int64(s, 3, t->id);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "changing the phase");
   sqlite3_finalize(s);
   return ok && Phase_record_by(st, t->id, kind, t->phase, Phase_name(to), actor, reason, forced, err);
}

/* Set the phase and record the transition, in one transaction. */
static bool transition(Store *st, const Task *t, const char *kind, Phase to, const char *reason, char **err) {
   if (!Store_begin(st, err))
      return false;
   if (Phase_move(st, t, kind, to, Store_actor(), reason, false, err))
      return Store_commit(st, err);
   Store_rollback(st);
   return false;
}

/* The task and its current phase, for the transitions below; false with *err when no such task. */
static bool load(Store *st, const char *task, Task *t, Phase *cur, char **err) {
   Task_init(t);
   if (!Task_get(st, task, t, err))
      return false;
   *cur = PHASE_AUDIT;
   Phase_parse(t->phase, cur);
   return true;
}

bool Phase_advance(Store *st, const char *task, const char *reason, Gate *g, char **err) {
   memset(g, 0, sizeof *g);
   Task t;
   Task_init(&t);
   if (!Task_get(st, task, &t, err))
      return false;
   Phase_gate(st, &t, g);
   bool ok = false;
   if (!g->open) {
      Sbuf sb = { 0 };
      Sbuf_printf(&sb, "%s: cannot advance from %s to %s:", t.name, Phase_title(g->from), Phase_title(g->to));
      for (int i = 0; i < g->n; i++) {
         if (g->checks[i].status != CHECK_PASS)
            Sbuf_printf(&sb, "\n  %s %s: %s", g->checks[i].status == CHECK_MISSING ? "missing" : "failed",
                        g->checks[i].what, g->checks[i].detail);
      }
      *err = Sbuf_steal(&sb);
   } else {
      ok = transition(st, &t, "advance", g->to, reason, err);
   }
   Task_clear(&t);
   return ok;
}

bool Phase_rollback(Store *st, const char *task, Phase to, const char *reason, char **err) {
   Task t;
   Phase cur;
   if (!load(st, task, &t, &cur, err))
      return false;
   bool ok = false;
   if (to == PHASE_STAY)
      *err = xasprintf("%s: 'stay' is not a phase to roll back to (use 'offramp phase stay %s')", t.name, t.name);
   else if (cur != PHASE_STAY && to >= cur)
      *err = xasprintf("%s: cannot roll back from %s to %s: choose an earlier phase (audit .. %s)", t.name,
                       Phase_name(cur), Phase_name(to), cur > PHASE_AUDIT ? Phase_name(cur - 1) : "none");
   else
      ok = transition(st, &t, "rollback", to, reason, err);
   Task_clear(&t);
   return ok;
}

bool Phase_follow(Store *st, const char *task, Phase to, const char *reason, char **err) {
   Task t;
   Phase cur;
   if (!load(st, task, &t, &cur, err))
      return false;
   bool ok = cur == to || transition(st, &t, to > cur ? "advance" : "rollback", to, reason, err);
   Task_clear(&t);
   return ok;
}

bool Phase_stay(Store *st, const char *task, const char *reason, char **err) {
   Task t;
   Phase cur;
   if (!load(st, task, &t, &cur, err))
      return false;
   bool ok = false;
   if (cur == PHASE_STAY)
      *err = xasprintf("%s already stays on the API", t.name);
   else
      ok = transition(st, &t, "stay", PHASE_STAY, reason, err);
   Task_clear(&t);
   return ok;
}
