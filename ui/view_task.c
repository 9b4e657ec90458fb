/* view_task.c - one task: its fields, the phase stepper with the gate out of the current
 * phase, the latest dataset, the score editor with the criteria behind each suggestion, and
 * the timeline. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dataset.h"
#include "eval.h"
#include "inventory.h"
#include "phase.h"
#include "score.h"
#include "task.h"
#include "util.h"

typedef struct {
   Task t;
   bool loaded;
   int sel;            /* selected score dimension */
   UText text;
} TaskView;

enum { TAG_NONE, TAG_SCORE };

static void phase_stepper(UText *u, Phase cur) {
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), " ");
   for (int p = 0; p < PHASE_LADDER; p++) {
      if (p)
         UText_add(u, Draw_attr(C_DIM), " \xe2\x80\xba ");   /* › */
      if (cur != PHASE_STAY && p < (int)cur)
         UText_add(u, Draw_attr(C_OK), "\xe2\x9c\x93%s", Phase_name(p));   /* ✓ */
      else if (p == (int)cur)
         UText_add(u, Draw_attr(C_CURRENT), "[%s]", Phase_name(p));
      else
         UText_add(u, Draw_attr(C_DIM), "%s", Phase_name(p));
   }
   if (cur == PHASE_STAY)
      UText_add(u, Draw_attr(C_CURRENT), "  [stays on API]");
}

/* The latest dataset: rows, filters, the largest labels and the dataset gate's checks. */
static void dataset_panel(UText *u, Store *st, const Task *t) {
   char a[32], b[32];
   Dataset d;
   char *err = NULL;
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "DATASET  ");
   if (!Dataset_get(st, t, 0, &d, &err)) {
      free(err);
      DatasetParams p;
      Dataset_defaults(&p);
      UText_add(u, Draw_attr(C_DIM), "none yet (d builds one: test %.0f %%, near-dup %.2f, seed %llu)",
                100 * p.test_frac, p.near_dup, (unsigned long long)p.seed);
      UText_nl(u);
      return;
   }
   long long total = d.rows_train + d.rows_test;
   UText_add(u, A_NORMAL, "#%lld  %s train / %s test (%.1f %%)", d.id, fmt_count(a, sizeof a, d.rows_train),
             fmt_count(b, sizeof b, d.rows_test), total ? 100.0 * d.rows_test / total : 0.0);
   UText_add(u, Draw_attr(C_DIM), "  built %.10s", d.created_at);
   UText_nl(u);
   UText_add(u, Draw_attr(C_DIM), "  filtered ");
   const char *k;
   json_t *v;
   int shown = 0;
   json_object_foreach(json_object_get(d.report, "filters"), k, v) {
      if (!json_integer_value(v))
         continue;
      char name[32];
      snprintf(name, sizeof name, "%s", k);
      for (char *c = name; *c; c++)
         *c = *c == '_' ? ' ' : *c;
      UText_add(u, A_NORMAL, "%s%s %s", shown++ ? " \xc2\xb7 " : "", fmt_count(a, sizeof a, json_integer_value(v)), name);
   }
   if (!shown)
      UText_add(u, A_NORMAL, "nothing");
   json_t *nd = json_object_get(d.report, "near_dup");
   UText_add(u, Draw_attr(C_DIM), "  near-dup groups %lld", (long long)json_integer_value(json_object_get(nd, "groups")));
   json_t *labels = json_object_get(d.report, "labels");
   if (labels) {
      json_t *dist = json_object_get(labels, "distribution");
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "  %zu labels", json_array_size(dist));
      size_t i;
      json_array_foreach(dist, i, v) {
         if (i == 4)
            break;
         long long n = json_integer_value(json_object_get(v, "train")) + json_integer_value(json_object_get(v, "test"));
         UText_add(u, A_NORMAL, "%s %s %.1f %%", i ? "," : "", json_string_value(json_object_get(v, "label")),
                   total ? 100.0 * n / total : 0.0);
      }
      size_t warnings = json_array_size(json_object_get(labels, "warnings"));
      if (warnings)
         UText_add(u, Draw_attr(C_MISSING), "  %zu thin", warnings);
   }
   UText_nl(u);
   UText_add(u, Draw_attr(C_DIM), "  gate");
   GateCheck gc[GATE_MAX_CHECKS];
   int n = Dataset_gate_checks(st, t, gc, GATE_MAX_CHECKS);
   for (int i = 0; i < n; i++)
      UText_add(u, Draw_attr(gc[i].status == CHECK_PASS ? C_OK : C_FAIL), " %s %s",
                gc[i].status == CHECK_PASS ? "\xe2\x9c\x93" : "\xe2\x9c\x97", gc[i].what);
   UText_nl(u);
   Dataset_clear(&d);
}

/* The latest evaluation's headline and its gate, once the task has reached evaluate or has a run. */
static void evaluation(UText *u, Store *st, const Task *t, Phase cur) {
   long long run = Eval_latest_run(st, t->id);
   if (!run && (cur < PHASE_EVALUATE || cur == PHASE_STAY))
      return;
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "EVALUATION  ");
   EvalRunInfo r;
   char *err = NULL;
   EvalHeadline h;
   if (!run || !Eval_get_run(st, run, &r, &err)) {
      UText_add(u, Draw_attr(C_MISSING), "no finished run (offramp eval %s --candidate ...)", t->name);
      UText_nl(u);
      free(err);
      return;
   }
   Eval_headline(r.metrics, &h);
   UText_add(u, Draw_attr(C_DIM), "run %lld \xc2\xb7 %s \xc2\xb7 %.10s \xc2\xb7 e: report", r.id, r.candidate,
             r.finished_at ? r.finished_at : "");
   char buf[96];
   Eval_fmt_rate(buf, sizeof buf, h.acc_k, h.acc_n);
   UText_nl(u);
   UText_add(u, A_NORMAL, "  %-15s %s", "accuracy", buf);
   UText_add(u, Draw_attr(C_DIM), "  reference %.1f %%", h.ref_n ? 100.0 * (double)h.ref_k / (double)h.ref_n : 0);
   Eval_fmt_rate(buf, sizeof buf, h.fmt_k, h.fmt_n);
   UText_nl(u);
   UText_add(u, A_NORMAL, "  %-15s %s", "format", buf);
   UText_nl(u);
   UText_add(u, A_NORMAL, "  %-15s ", "min_confidence");
   if (!h.has_logprobs)
      UText_add(u, Draw_attr(C_MISSING), "the candidate returned no logprobs");
   else if (h.threshold < 0)
      UText_add(u, Draw_attr(C_FAIL), "no threshold reaches the %.1f %% bar", 100 * h.bar);
   else
      UText_add(u, A_NORMAL, "recommended %.2f (%.1f %% coverage at %.1f %%)", h.threshold, 100 * h.coverage,
                100 * h.covered_accuracy);
   double set;
   if (Eval_min_confidence(st, t->id, &set))
      UText_add(u, Draw_attr(C_OK), " \xc2\xb7 set %.2f", set);
   else if (h.threshold >= 0)
      UText_add(u, Draw_attr(C_DIM), " \xc2\xb7 M sets it");
   if (cur != PHASE_EVALUATE) {
      Gate g;
      Phase_gate_from(st, t, PHASE_EVALUATE, &g);
      UText_nl(u);
      UText_add(u, A_NORMAL, "  %-15s ", "eval gate");
      UText_add(u, Draw_attr(g.open ? C_OK : C_FAIL), "%s", g.open ? "passed" : "not passed");
   }
   UText_nl(u);
   EvalRunInfo_clear(&r);
}

static void build(TaskView *tv) {
   UText *u = &tv->text;
   Task *t = &tv->t;
   Store *st = Console_store();
   char a[32], b[32];
   UText_clear(u);

   UText_nl(u);
   UText_add(u, A_BOLD, "%s", t->name);
   if (*t->description)
      UText_add(u, A_NORMAL, " \xc2\xb7 %s", t->description);
   UText_nl(u);
   UText_add(u, Draw_attr(C_DIM), "%s%s%s \xc2\xb7 %s calls/month \xc2\xb7 %s/month \xc2\xb7 %s output",
             t->provider, *t->provider ? " " : "", *t->model ? t->model : "(model not set)",
             fmt_count(a, sizeof a, t->monthly_volume), fmt_money(b, sizeof b, t->monthly_cost, 0),
             OutputKind_name(t->kind));
   UText_nl(u);
   UText_add(u, Draw_attr(C_DIM), "criticality %s \xc2\xb7 %s examples logged, %s declared \xc2\xb7 quality: %s",
             t->criticality, fmt_count(a, sizeof a, t->logged), fmt_count(b, sizeof b, t->examples),
             *t->quality_req ? t->quality_req : "not set");
   UText_nl(u);

   Phase cur = PHASE_AUDIT;
   Phase_parse(t->phase, &cur);
   phase_stepper(u, cur);
   Gate g;
   Phase_gate(st, t, &g);
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "GATE  ");
   UText_add(u, A_NORMAL, "%s \xe2\x86\x92 %s: ", Phase_name(g.from), Phase_name(g.to));
   UText_add(u, Draw_attr(g.open ? C_OK : C_FAIL), "%s", g.open ? "open (> advances)" : "closed");
   for (int i = 0; i < g.n; i++) {
      const GateCheck *c = &g.checks[i];
      UText_nl(u);
      UText_add(u, Draw_attr(c->status == CHECK_PASS ? C_OK : c->status == CHECK_FAIL ? C_FAIL : C_MISSING),
                "  %s ", c->status == CHECK_PASS ? "\xe2\x9c\x93" : c->status == CHECK_FAIL ? "\xe2\x9c\x97" : "?");
      UText_add(u, A_NORMAL, "%s: %s", c->what, c->detail);
   }
   UText_nl(u);
   dataset_panel(u, st, t);
   evaluation(u, st, t, cur);

   Score sc;
   Score_compute(t, &sc);
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "SCORE  ");
   UText_add(u, Draw_attr(C_DIM), "%s", t->scored_at ? "reviewed" : "suggested, not reviewed (s accepts)");
   for (int d = 0; d < DIM_COUNT; d++) {
      UText_nl(u);
      u->l[u->n - 1].tag = TAG_SCORE;
      bool sel = d == tv->sel;
      UText_add(u, sel ? (int)A_BOLD : (int)A_NORMAL, "%s %-12s %d", sel ? "\xe2\x96\xb8" : " ", ScoreDim_name(d), sc.value[d]);
      if (sc.overridden[d])
         UText_add(u, Draw_attr(C_MISSING), "  override (suggested %d)", sc.suggested[d]);
      else
         UText_add(u, Draw_attr(C_DIM), "  suggested");
   }
   UText_nl(u);
   UText_add(u, A_BOLD, "  %-12s %.1f", "priority", sc.priority);
   UText_add(u, Draw_attr(C_DIM), "  = %d \xc3\x97 %d \xc3\xb7 %d", sc.value[0], sc.value[1], sc.value[2]);
   UText_nl(u);
   UText_add(u, A_BOLD, "  %-12s ", "verdict");
   UText_add(u, Draw_attr(sc.stay ? C_FAIL : C_OK), "%s", sc.stay ? "stay on the API" : "migrate");
   for (int i = 0; i < sc.nreasons; i++) {
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "      - %s", sc.reasons[i]);
   }
   UText_nl(u);
   UText_add(u, Draw_attr(C_DIM), "  criteria behind the %s suggestion:", ScoreDim_name(tv->sel));
   for (int i = 0; i < sc.ncriteria; i++) {
      const Criterion *c = &sc.criteria[i];
      if ((int)c->dim != tv->sel)
         continue;
      UText_nl(u);
      UText_add(u, c->delta > 0 ? Draw_attr(C_OK) : c->delta < 0 ? Draw_attr(C_FAIL) : Draw_attr(C_DIM),
                "    %+d ", c->delta);
      UText_add(u, c->delta ? (int)A_NORMAL : Draw_attr(C_DIM), "%s", c->text);
   }
   UText_nl(u);

   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "TIMELINE");
   int n;
   PhaseEvent *ev = Phase_history(st, t->id, &n);
   for (int i = 0; i < n; i++) {
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "  %.10s %.5s  ", ev[i].ts, ev[i].ts + 11);
      UText_add(u, A_NORMAL, "%-8s %s%s%s", ev[i].kind, *ev[i].from ? ev[i].from : "", *ev[i].from ? " \xe2\x86\x92 " : "",
                ev[i].to);
      UText_add(u, Draw_attr(C_DIM), "  %s%s%s", ev[i].actor, *ev[i].reason ? ": " : "", ev[i].reason);
   }
   Phase_free_history(ev, n);
}

static void tv_open(View *v) {
   TaskView *tv = v->data;
   if (!tv)
      v->data = tv = xcalloc(1, sizeof *tv);
   Task_clear(&tv->t);
   char *err = NULL;
   tv->loaded = Task_get(Console_store(), v->arg, &tv->t, &err);
   if (!tv->loaded) {
      UText_clear(&tv->text);
      UText_nl(&tv->text);
      UText_add(&tv->text, Draw_attr(C_FAIL), "%s", err);
      free(err);
      return;
   }
   build(tv);
}

static int tv_lines(View *v) {
   return ((TaskView *)v->data)->text.n;
}

static void tv_draw(View *v, int top, int height, int width) {
   UText_draw(&((TaskView *)v->data)->text, v->offset, top, height, width, -1);
}

static void tv_title(View *v, char *buf, size_t size) {
   TaskView *tv = v->data;
   snprintf(buf, size, "offramp \xc2\xb7 task %s \xc2\xb7 %s", v->arg, tv->loaded ? tv->t.phase : "?");
}

static void set_score(View *v, int value) {
   TaskView *tv = v->data;
   int values[DIM_COUNT] = { -1, -1, -1 };
   values[tv->sel] = value;
   char *err = NULL;
   if (!Inventory_set_scores(Console_store(), v->arg, values, &err)) {
      Console_message("%s", err);
      free(err);
   }
   tv_open(v);
}

static int tv_request(View *v, Action a) {
   TaskView *tv = v->data;
   if (!tv->loaded)
      return NOT_HANDLED;
   Score sc;
   Score_compute(&tv->t, &sc);
   char *err = NULL;
   switch (a) {
   case ACTION_SCORE_NEXT:
      tv->sel = (tv->sel + 1) % DIM_COUNT;
      build(tv);
      return REDRAW;
   case ACTION_SCORE_PREV:
      tv->sel = (tv->sel + DIM_COUNT - 1) % DIM_COUNT;
      build(tv);
      return REDRAW;
   case ACTION_SCORE_UP:
   case ACTION_SCORE_DOWN: {
      int nv = sc.value[tv->sel] + (a == ACTION_SCORE_UP ? 1 : -1);
      if (nv < 1 || nv > 5) {
         Console_message("%s stays at %d: scores run from 1 to 5", ScoreDim_name(tv->sel), sc.value[tv->sel]);
         return REDRAW;
      }
      set_score(v, nv);
      Console_message("%s set to %d (override)", ScoreDim_name(tv->sel), nv);
      return REDRAW;
   }
   case ACTION_SCORE_AUTO:
      set_score(v, 0);
      Console_message("%s back to the suggestion (%d)", ScoreDim_name(tv->sel), sc.suggested[tv->sel]);
      return REDRAW;
   case ACTION_SCORE_ACCEPT: {
      int keep[DIM_COUNT] = { -1, -1, -1 };
      if (!Inventory_set_scores(Console_store(), v->arg, keep, &err))
         Console_message("%s", err);
      else
         Console_message("scores accepted: priority %.1f", sc.priority);
      free(err);
      tv_open(v);
      return REDRAW;
   }
   case ACTION_PHASE_ADVANCE: {
      Gate g;
      if (Phase_advance(Console_store(), v->arg, "console", &g, &err)) {
         Console_message("advanced %s \xe2\x86\x92 %s", Phase_name(g.from), Phase_name(g.to));
      } else {
         int missing = 0;
         for (int i = 0; i < g.n; i++)
            missing += g.checks[i].status != CHECK_PASS;
         Console_message("gate closed: %d check%s not met (see GATE)", missing, missing == 1 ? "" : "s");
      }
      free(err);
      tv_open(v);
      return REDRAW;
   }
   case ACTION_PHASE_ROLLBACK: {
      Phase cur = PHASE_AUDIT;
      Phase_parse(tv->t.phase, &cur);
      const char *initial = cur == PHASE_STAY ? "audit" : cur > PHASE_AUDIT ? Phase_name(cur - 1) : "";
      char *to = Console_prompt("roll back to phase: ", initial);
      if (!to)
         return REDRAW;
      char *reason = Console_prompt("reason: ", "");
      Phase p;
      if (!Phase_parse(str_trim(to), &p))
         Console_message("'%s' is not a phase (audit, dataset, train, evaluate, shadow, canary, cutover)", to);
      else if (Phase_rollback(Console_store(), v->arg, p, reason ? reason : "", &err))
         Console_message("rolled back to %s", Phase_name(p));
      else
         Console_message("%s", err);
      free(err);
      free(to);
      free(reason);
      tv_open(v);
      return REDRAW;
   }
   case ACTION_PHASE_STAY: {
      char *reason = Console_prompt("stay on the API because: ", sc.nreasons ? sc.reasons[0] : "");
      if (!reason)
         return REDRAW;
      if (Phase_stay(Console_store(), v->arg, reason, &err))
         Console_message("%s stays on the API", v->arg);
      else
         Console_message("%s", err);
      free(err);
      free(reason);
      tv_open(v);
      return REDRAW;
   }
   case ACTION_VIEW_REPORT:
      Console_open_view(&report_ops, v->arg, NULL);
      return REDRAW;
   case ACTION_APPLY_THRESHOLD: {
      double value;
      if (Eval_apply_threshold(Console_store(), v->arg, 0, &value, &err))
         Console_message("min_confidence set to %.2f from the latest evaluation", value);
      else
         Console_message("%s", err);
      free(err);
      tv_open(v);
      return REDRAW;
   }
   case ACTION_DATASET_BUILD: {
      DatasetParams p;
      Dataset_defaults(&p);
      Dataset d;
      if (Dataset_build(Console_store(), v->arg, &p, &d, &err)) {
         char tr[32], te[32];
         Console_message("dataset %lld built: %s train / %s test (offramp dataset show %s)", d.id,
                         fmt_count(tr, sizeof tr, d.rows_train), fmt_count(te, sizeof te, d.rows_test), v->arg);
         Dataset_clear(&d);
      } else {
         Console_message("%s", err);
      }
      free(err);
      tv_open(v);
      return REDRAW;
   }
   case ACTION_VIEW_RUNBOOK: {
      Phase cur = PHASE_AUDIT;
      Phase_parse(tv->t.phase, &cur);
      Console_open_view(&runbook_ops, Phase_runbook(cur), v->arg);
      return REDRAW;
   }
   default:
      return NOT_HANDLED;
   }
}

static void tv_done(View *v) {
   TaskView *tv = v->data;
   if (!tv)
      return;
   Task_clear(&tv->t);
   UText_clear(&tv->text);
   free(tv);
   v->data = NULL;
}

const ViewOps task_ops = {
   .name = "task",
   .open = tv_open,
   .draw = tv_draw,
   .request = tv_request,
   .done = tv_done,
   .title = tv_title,
   .lines = tv_lines,
};
