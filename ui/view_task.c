/* view_task.c - one task: its fields, the phase stepper with the gate out of the current
 * phase, the latest dataset, the training panel (experiments, progress, loss curve), the latest
 * evaluation, the score editor with the criteria behind each suggestion, and the timeline. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "console.h"
#include "control/dataset.h"
#include "control/deploy.h"
#include "control/eval.h"
#include "control/experiment.h"
#include "control/gwadmin.h"
#include "control/inventory.h"
#include "control/phase.h"
#include "control/report.h"
#include "control/rollout.h"
#include "control/score.h"
#include "control/task.h"
#include "control/versions.h"
#include "trainer/trainer.h"

/* The console never waits long on a trainer: one poll round per second while jobs run. */
#define POLL_TIMEOUT_MS 1500L
#define START_TIMEOUT_MS 15000L

typedef struct {
   Task t;
   bool loaded;
   int sel;            /* selected score dimension */
   int exp_sel;        /* selected experiment (index into exps) */
   Experiment *exps;
   int nexps;
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

static void pct_trend(UText *u, const char *label, long long k, long long n, long long kp, long long np, bool alert,
                      const char *bar) {
   char c[32];
   UText_nl(u);
   UText_add(u, A_NORMAL, "  %-20s ", label);
   if (n == 0) {
      UText_add(u, Draw_attr(C_DIM), "no data in the last 24 h");
      return;
   }
   UText_add(u, Draw_attr(alert ? C_FAIL : C_OK), "%.1f %%", 100.0 * (double)k / (double)n);
   UText_add(u, A_NORMAL, " (n=%s, 24 h)", fmt_count(c, sizeof c, n));
   if (np > 0)
      UText_add(u, A_NORMAL, "  %s from %.1f %% the week before", (double)k / (double)n >= (double)kp / (double)np ? "\xe2\x86\x91" : "\xe2\x86\x93",
                100.0 * (double)kp / (double)np);
   if (alert)
      UText_add(u, Draw_attr(C_FAIL), "  DRIFT: past the bar %s", bar);
}

/* After cutover: verified agreement and fallback rate with their trend and drift alerts, new
 * data since the dataset, the versions that served, and the savings. */
static void operate_panel(UText *u, Store *st, const Task *t) {
   OperateFigures f;
   RolloutSettings s;
   RolloutState state;
   char a[32], b[32], c[32], d[32], bar[32];
   Rollout_operate(st, t, &f);
   Rollout_load(st, t->id, &s, &state);
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "OPERATE  ");
   UText_add(u, Draw_attr(C_DIM), "N builds a new dataset and trains again; R opens the rollout (X rolls back)");
   snprintf(bar, sizeof bar, "%.1f %%", 100 * Rollout_agreement_bar(&s, t, NULL));
   pct_trend(u, "verified agreement", f.verified_k, f.verified_n, f.verified_k_prev, f.verified_n_prev,
             f.drift_agreement, bar);
   snprintf(bar, sizeof bar, "%.1f %%", 100 * s.max_fallback_rate);
   pct_trend(u, "fallback rate", f.fallbacks, f.served, f.fallbacks_prev, f.served_prev, f.drift_fallback, bar);
   UText_nl(u);
   UText_add(u, A_NORMAL, "  %-20s %s", "new since dataset", fmt_count(a, sizeof a, f.new_since_dataset));
   if (f.dataset_id)
      UText_add(u, Draw_attr(C_DIM), " (dataset %lld built %.16s)", f.dataset_id, f.dataset_at);
   UText_nl(u);
   UText_add(u, A_NORMAL, "  %-20s %s/month declared before, %s now (API calls %s of %s incl. fallbacks and verification, "
             "hosting %s)", "savings", fmt_money(a, sizeof a, f.cost_before, 0), fmt_money(b, sizeof b, f.cost_now, 0),
             fmt_count(c, sizeof c, f.api_calls), fmt_count(d, sizeof d, f.calls),
             fmt_money(bar, sizeof bar, s.hosting_cost, 0));
   UText_nl(u);
   UText_add(u, f.saving >= 0 ? Draw_attr(C_OK) : Draw_attr(C_FAIL), "  %-20s %s/month", "saving",
             fmt_money(a, sizeof a, f.saving, 0));
   if (f.breakeven_share >= 0)
      UText_add(u, A_NORMAL, "; break-even: hosting is paid once %.0f %% of the API spend moves to the candidate",
                100 * f.breakeven_share);
   /* Versions: dataset -> job -> model -> the route revision that put it in front. */
   json_t *versions = Versions_list(st, t, 5), *ver;
   size_t vi;
   json_array_foreach(versions, vi, ver) {
      UText_nl(u);
      UText_add(u, A_NORMAL, "  version  dataset %lld \xe2\x86\x92 job %s \xe2\x86\x92 %s \xe2\x86\x92 ",
                (long long)json_integer_value(json_object_get(ver, "dataset")),
                json_string_value(json_object_get(ver, "job")), json_string_value(json_object_get(ver, "model")));
      if (json_is_null(json_object_get(ver, "route_revision")))
         UText_add(u, Draw_attr(C_DIM), "never routed");
      else
         UText_add(u, A_NORMAL, "route revision %lld", (long long)json_integer_value(json_object_get(ver, "route_revision")));
   }
   json_decref(versions);
   UText_nl(u);
   UText_add(u, Draw_attr(C_DIM), "  V puts back an earlier version (offramp route revert %s [REVISION])", t->name);
   UText_nl(u);
}

/* Model versions recorded by offramp deploy or the runner: how many, and the active deployment;
 * v opens them (nothing when the task has none). */
static void versions_panel(UText *u, Store *st, const Task *t) {
   json_t *l = Deploy_list_json(st, t->name), *vs = json_object_get(l, "versions"), *d;
   if (json_array_size(vs)) {
      json_t *active = NULL;
      size_t i;
      json_array_foreach(json_object_get(l, "deployments"), i, d) {
         if (!active && str_eq(json_string_value(json_object_get(d, "status")), "active"))
            active = d;
      }
      UText_nl(u);
      UText_add(u, Draw_attr(C_HEADING), "MODEL VERSIONS  ");
      UText_add(u, A_NORMAL, "%zu recorded; ", json_array_size(vs));
      if (active)
         UText_add(u, A_NORMAL, "v%lld active on %s at %s", (long long)json_integer_value(json_object_get(active, "version")),
                   json_string_value(json_object_get(active, "kind")), json_string_value(json_object_get(active, "server")));
      else
         UText_add(u, Draw_attr(C_DIM), "none deployed");
      UText_add(u, Draw_attr(C_DIM), "  (v opens them; B there rolls back)");
      UText_nl(u);
   }
   json_decref(l);
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

/* "ep3 bs8 r32 lr2e-04" from the hyperparameters sent. */
static void hyper_text(const char *json, char *buf, size_t size) {
   json_t *h = json_loads(json ? json : "{}", 0, NULL);
   static const struct { const char *key, *abbr; } keys[] = {
      { "n_epochs", "ep" }, { "batch_size", "bs" }, { "lora_rank", "r" }, { "learning_rate", "lr" },
      { "learning_rate_multiplier", "lr\xc3\x97" },
   };
   size_t o = 0;
   buf[0] = '\0';
   for (size_t i = 0; i < ARRAY_SIZE(keys) && o < size; i++) {
      json_t *v = json_object_get(h, keys[i].key);
      if (json_is_integer(v))
         o += snprintf(buf + o, size - o, "%s%s%lld", o ? " " : "", keys[i].abbr, (long long)json_integer_value(v));
      else if (json_is_real(v))
         o += snprintf(buf + o, size - o, "%s%s%.0e", o ? " " : "", keys[i].abbr, json_real_value(v));
   }
   json_decref(h);
}

/* A sparkline of the finite values, scaled to their range. */
static void sparkline(Sbuf *sb, const double *v, int n) {
   static const char *const bars[] = { "\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
                                       "\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88" };
   double lo = INFINITY, hi = -INFINITY;
   int from = n > 24 ? n - 24 : 0;   /* the latest steps fit the panel */
   for (int i = from; i < n; i++) {
      if (isfinite(v[i])) {
         lo = fmin(lo, v[i]);
         hi = fmax(hi, v[i]);
      }
   }
   for (int i = from; i < n; i++) {
      if (!isfinite(v[i]))
         Sbuf_puts(sb, " ");
      else
         Sbuf_puts(sb, bars[hi > lo ? (int)lrint(7 * (v[i] - lo) / (hi - lo)) : 0]);
   }
}

static void training_panel(TaskView *tv, UText *u) {
   Store *st = Console_store();
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "TRAINING  ");
   UText_add(u, Draw_attr(C_DIM), "t start \xc2\xb7 n next \xc2\xb7 X cancel \xc2\xb7 p pick candidate");
   if (tv->nexps == 0) {
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "  no experiments yet: t starts one on the latest backend and dataset");
      UText_nl(u);
      return;
   }
   UText_nl(u);
   UText_add(u, Draw_attr(C_DIM), "    #  %-11s %-13s %-10s %-16s %8s %7s %6s", "base", "hyper", "status", "progress",
             "tokens", "loss", "acc");
   for (int i = 0; i < tv->nexps; i++) {
      Experiment *e = &tv->exps[i];
      json_t *m = json_loads(e->metrics ? e->metrics : "{}", 0, NULL);
      json_t *step = json_object_get(m, "step"), *total = json_object_get(m, "total_steps");
      json_t *loss = json_object_get(m, "valid_loss"), *acc = json_object_get(m, "valid_mean_token_accuracy");
      if (!loss)
         loss = json_object_get(m, "train_loss");
      char hyper[40], tok[24] = "-", lossb[16] = "-", accb[16] = "-", prog[64];
      hyper_text(e->hyperparameters, hyper, sizeof hyper);
      if (e->trained_tokens >= 0)
         fmt_count(tok, sizeof tok, e->trained_tokens);
      if (loss)
         snprintf(lossb, sizeof lossb, "%.4f", json_number_value(loss));
      if (acc)
         snprintf(accb, sizeof accb, "%.1f%%", 100 * json_number_value(acc));
      long long s = json_integer_value(step), t = json_integer_value(total);
      if (str_eq(e->status, "succeeded") && t > 0)
         s = t;   /* early stopping ends before the last planned step */
      int filled = t > 0 ? (int)(10 * s / t) : str_eq(e->status, "succeeded") ? 10 : 0;
      Sbuf bar = { 0 };
      for (int k = 0; k < 10; k++)
         Sbuf_puts(&bar, k < filled ? "\xe2\x96\x88" : "\xe2\x96\x91");
      if (t > 0)
         snprintf(prog, sizeof prog, "%s %lld/%lld", bar.buf, s, t);
      else
         snprintf(prog, sizeof prog, "%s", bar.buf);
      Sbuf_free(&bar);
      UText_nl(u);
      bool sel = i == tv->exp_sel;
      int sattr = str_eq(e->status, "succeeded") ? Draw_attr(C_OK) : str_eq(e->status, "failed") ? Draw_attr(C_FAIL)
                : Experiment_final(e->status) ? Draw_attr(C_DIM) : Draw_attr(C_MISSING);
      UText_add(u, sel ? (int)A_BOLD : (int)A_NORMAL, "%s %3lld  %-11.11s %-13.13s ", sel ? "\xe2\x96\xb8" : " ", e->id,
                e->base_model, hyper);
      UText_add(u, sattr, "%-10.10s ", e->status);
      UText_add(u, A_NORMAL, "%s %8s %7s %6s", prog, tok, lossb, accb);
      json_decref(m);
   }
   Experiment *e = &tv->exps[tv->exp_sel];
   UText_nl(u);
   UText_add(u, Draw_attr(C_DIM), "  #%lld on %s: ", e->id, e->backend);
   UText_add(u, A_NORMAL, "%s", e->fine_tuned_model ? e->fine_tuned_model : e->job_id);
   if (e->candidate)
      UText_add(u, Draw_attr(C_OK), "  \xe2\x98\x85 candidate");
   double *tr, *va;
   int n = Experiment_losses(st, e->id, &tr, &va);
   if (n > 0) {
      Sbuf sb = { 0 };
      Sbuf_puts(&sb, "train ");
      sparkline(&sb, tr, n);
      Sbuf_puts(&sb, "  valid ");
      sparkline(&sb, va, n);
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "  loss  ");
      UText_add(u, A_NORMAL, "%s", sb.buf);
      UText_add(u, Draw_attr(C_DIM), "  (%d step%s)", n, n == 1 ? "" : "s");
      Sbuf_free(&sb);
   }
   free(tr);
   free(va);
   if (e->error) {
      UText_nl(u);
      UText_add(u, Draw_attr(C_FAIL), "  failed: %s", e->error);
   }
   UText_nl(u);
}

/* Coverage against agreement at confidence thresholds, from the task's compared answers that
 * carry the candidate's confidence (shadow, verified canary and cutover answers); nothing
 * before there are any. */
static void coverage_panel(UText *u, Store *st, const Task *t) {
   json_t *kinds = Report_coverage_by_kind(st, t->id);
   const json_t *k = json_array_get(kinds, 0);
   if (k) {
      char a[32], b[32];
      UText_nl(u);
      UText_add(u, Draw_attr(C_HEADING), "COVERAGE  ");
      UText_add(u, Draw_attr(C_DIM), "compared answers by the candidate's confidence (%s: %s), n=%s",
                json_string_value(json_object_get(k, "kind")), json_string_value(json_object_get(k, "confidence")),
                fmt_count(a, sizeof a, json_integer_value(json_object_get(k, "n"))));
      size_t i;
      const json_t *pt;
      json_array_foreach(json_object_get(k, "points"), i, pt) {
         UText_nl(u);
         const json_t *ag = json_object_get(pt, "agreement");
         UText_add(u, A_NORMAL, "  >= %.2f  kept %5.1f %%", json_number_value(json_object_get(pt, "threshold")),
                   100 * json_number_value(json_object_get(pt, "coverage")));
         if (json_is_number(ag))
            UText_add(u, A_NORMAL, "  agree %5.1f %% (%s of %s)", 100 * json_number_value(ag),
                      fmt_count(a, sizeof a, json_integer_value(json_object_get(pt, "agreed"))),
                      fmt_count(b, sizeof b, json_integer_value(json_object_get(pt, "covered"))));
      }
      UText_nl(u);
   }
   json_decref(kinds);
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
   UText_add(u, Draw_attr(C_DIM), "%s%s%s \xc2\xb7 %s calls/month \xc2\xb7 %s/month declared \xc2\xb7 %s output",
             t->provider, *t->provider ? " " : "", *t->model ? t->model : "(model not set)",
             fmt_count(a, sizeof a, t->monthly_volume), fmt_money(b, sizeof b, t->monthly_cost, 0),
             OutputKind_name(t->kind));
   UText_nl(u);
   UText_add(u, Draw_attr(C_DIM), "criticality %s \xc2\xb7 %s examples logged, %s declared \xc2\xb7 quality: %s",
             t->criticality, fmt_count(a, sizeof a, t->logged), fmt_count(b, sizeof b, t->examples),
             *t->quality_req ? t->quality_req : "not set");
   UText_nl(u);
   /* Why the kind is what it is, when the logs said it (a kind the user set needs no why). */
   if (t->kind_reason && *t->kind_reason && !str_eq(t->kind_reason, KIND_SET_BY_USER)) {
      UText_add(u, Draw_attr(C_DIM), "kind %s, from the logs: %s", OutputKind_name(t->kind), t->kind_reason);
      UText_nl(u);
   }

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
   if (cur == PHASE_CUTOVER || cur == PHASE_OPERATE)
      operate_panel(u, st, t);
   versions_panel(u, st, t);
   dataset_panel(u, st, t);

   Experiment_free_list(tv->exps, tv->nexps);
   tv->exps = Experiment_list(st, t->name, false, &tv->nexps);
   if (tv->exp_sel >= tv->nexps)
      tv->exp_sel = tv->nexps ? tv->nexps - 1 : 0;
   if ((cur >= PHASE_TRAIN && cur < PHASE_STAY) || tv->nexps > 0)
      training_panel(tv, u);
   evaluation(u, st, t, cur);
   coverage_panel(u, st, t);

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
      /* Forced past a closed gate: red, and said so. */
      UText_add(u, ev[i].forced ? Draw_attr(C_FAIL) : (int)A_NORMAL, "%-8s %s%s%s%s", ev[i].kind,
                *ev[i].from ? ev[i].from : "", *ev[i].from ? " \xe2\x86\x92 " : "", ev[i].to,
                ev[i].forced ? "  FORCED" : "");
      UText_add(u, Draw_attr(C_DIM), "  %s%s%s", ev[i].actor, *ev[i].reason ? ": " : "", ev[i].reason);
   }
   Phase_free_history(ev, n);
   UText_wrap(u, COLS);
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

/* One poll round a second while a job runs. */
static int tv_busy(View *v) {
   TaskView *tv = v->data;
   for (int i = 0; tv && i < tv->nexps; i++) {
      if (!Experiment_final(tv->exps[i].status))
         return 1000;
   }
   return 0;
}

/* One poll round for the task's running jobs; an unreachable trainer is said once a round. */
static int tv_tick(View *v) {
   TaskView *tv = v->data;
   for (int i = 0; i < tv->nexps; i++) {
      Experiment *e = &tv->exps[i];
      if (Experiment_final(e->status))
         continue;
      int fresh;
      char *err = NULL;
      if (!Experiment_poll(Console_store(), e, POLL_TIMEOUT_MS, &fresh, &err))
         Console_message("#%lld: %s", e->id, err);
      else if (str_eq(e->status, "failed"))
         Console_message("#%lld failed: %s", e->id, e->error ? e->error : "no reason given");
      else if (str_eq(e->status, "succeeded"))
         Console_message("#%lld succeeded: %s (p picks it as the candidate)", e->id, e->fine_tuned_model);
      free(err);
   }
   build(tv);
   return REDRAW;
}

static void train_start(View *v) {
   TaskView *tv = v->data;
   Store *st = Console_store();
   TrainRequest r = { .task = v->arg };
   r.spec.epochs = TRAIN_DEFAULT_EPOCHS;
   r.spec.lr = TRAIN_DEFAULT_LR;
   r.spec.batch = TRAIN_DEFAULT_BATCH;
   r.spec.lora_rank = TRAIN_DEFAULT_LORA_RANK;
   r.dataset_id = Experiment_latest_dataset(st, tv->t.id);
   char *file = NULL, *model = NULL, *err = NULL, *notes = NULL;
   FtBackend b;
   if (!Backend_get(st, NULL, &b, &err)) {   /* say so before asking anything */
      Console_message("%s", err);
      free(err);
      return;
   }
   FtBackend_clear(&b);
   if (!r.dataset_id) {
      file = Console_prompt("no dataset yet; train on file: ", "");
      if (!file || !*str_trim(file)) {
         free(file);
         Console_message("not started: build a dataset first, or give a chat JSONL file");
         return;
      }
      r.train_path = file;
   }
   model = Console_prompt("base model: ", tv->nexps ? tv->exps[tv->nexps - 1].base_model : TRAINER_BASE_MODEL);
   if (model && *str_trim(model)) {
      r.spec.base_model = model;
      long long id;
      if (Experiment_start(st, &r, START_TIMEOUT_MS, &id, &notes, &err))
         Console_message("experiment #%lld started%s%s", id, notes && *notes ? "; " : "", notes ? notes : "");
      else
         Console_message("%s", err);
      tv_open(v);
      tv->exp_sel = tv->nexps ? tv->nexps - 1 : 0;
   }
   free(file);
   free(model);
   free(err);
   free(notes);
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

/* A dataset with the default filters and split; the outcome on the status line. */
static bool dataset_build(View *v) {
   DatasetParams p;
   Dataset_defaults(&p);
   Dataset d;
   char *err = NULL;
   if (!Dataset_build(Console_store(), v->arg, &p, &d, &err)) {
      Console_message("%s", err);
      free(err);
      return false;
   }
   char tr[32], te[32];
   Console_message("dataset %lld built: %s train / %s test (offramp dataset show %s)", d.id,
                   fmt_count(tr, sizeof tr, d.rows_train), fmt_count(te, sizeof te, d.rows_test), v->arg);
   Dataset_clear(&d);
   return true;
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
      char *reason = Console_prompt("reason (goes to the audit trail): ", "");
      char *note = NULL;
      Phase p;
      if (!reason)
         Console_message("not rolled back");
      else if (!*str_trim(reason))
         Console_message("not rolled back: a roll back needs a reason (it goes to the audit trail)");
      else if (!Phase_parse(str_trim(to), &p))
         Console_message("'%s' is not a phase (audit, dataset, train, evaluate, shadow, canary, cutover)", to);
      else if (GwAdmin_phase_rollback(Console_store(), v->arg, p, reason, &note, &err))
         Console_message("rolled back to %s%s%s", Phase_name(p), note ? "; " : "", note ? note : "");
      else
         Console_message("%s", err);
      free(err);
      free(note);
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
   case ACTION_VIEW_ROLLOUT:
      Console_open_view(&rollout_ops, v->arg, NULL);
      return REDRAW;
   case ACTION_VIEW_VERSIONS:
      Console_open_view(&versions_ops, v->arg, NULL);
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
   case ACTION_DATASET_BUILD:
      dataset_build(v);
      tv_open(v);
      return REDRAW;
   case ACTION_OPERATE_RETRAIN:
      /* A new dataset version from everything captured so far, then a job on it. */
      if (dataset_build(v)) {
         tv_open(v);
         train_start(v);
      }
      tv_open(v);
      return REDRAW;
   case ACTION_TRAIN_START:
      train_start(v);
      build(tv);
      return REDRAW;
   case ACTION_TRAIN_NEXT:
      if (tv->nexps == 0) {
         Console_message("no experiments yet (t starts one)");
         return REDRAW;
      }
      tv->exp_sel = (tv->exp_sel + 1) % tv->nexps;
      build(tv);
      return REDRAW;
   case ACTION_TRAIN_CANCEL:
   case ACTION_TRAIN_PICK: {
      if (tv->nexps == 0) {
         Console_message("no experiments yet (t starts one)");
         return REDRAW;
      }
      Experiment *e = &tv->exps[tv->exp_sel];
      bool ok = a == ACTION_TRAIN_CANCEL ? Experiment_cancel(Console_store(), e, POLL_TIMEOUT_MS, &err)
                                         : Experiment_pick(Console_store(), e, &err);
      if (!ok)
         Console_message("%s", err);
      else if (a == ACTION_TRAIN_CANCEL)
         Console_message("#%lld %s", e->id, e->status);
      else
         Console_message("candidate: #%lld %s", e->id, e->fine_tuned_model);
      free(err);
      int keep = tv->exp_sel;
      tv_open(v);
      tv->exp_sel = keep;
      build(tv);
      return REDRAW;
   }
   case ACTION_ROUTE_REVERT: {
      /* Back to an earlier model through the gateway's gate check, as offramp route revert. */
      char *rev = Console_prompt("revert to route revision (empty: the previous model): ", "");
      if (!rev)
         return REDRAW;
      long n = 0;
      GwAdmin gw;
      if (*str_trim(rev) && (!parse_long(rev, &n) || n < 1)) {
         Console_message("'%s' is not a route revision (the versions list their revisions)", rev);
      } else if (!GwAdmin_init(&gw, Console_store(), NULL, NULL, &err)) {
         Console_message("%s", err);
      } else {
         long status;
         json_t *j = GwAdmin_revert(&gw, v->arg, n, "console", &status, &err);
         const char *model = json_string_value(json_object_get(json_object_get(json_object_get(j, "route"), "candidate"), "model"));
         if (j && status == 200)
            Console_message("reverted: the candidate is %s again", model ? model : "the earlier one");
         else
            Console_message("revert refused: %s", j ? GwAdmin_error_message(j) : err);
         json_decref(j);
         GwAdmin_clear(&gw);
      }
      free(err);
      free(rev);
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
   Experiment_free_list(tv->exps, tv->nexps);
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
   .busy = tv_busy,
   .tick = tv_tick,
   .hint = "Tab:select +/-:score s:accept >:advance r:runbook",
};
