/* demoscript.c - the demo's migration path run headless: audit, dataset, train, evaluate,
 * shadow, canary, cutover, each phase's figures printed, for the label task and then the
 * extraction task; the rewrite task stays on the API with the reason. The engine does each step
 * the way the console does; the gateway's route changes go through "offramp route"
 * (Demo_step_args) and "offramp rollout". */
#include "config.h"

#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "common/stats.h"
#include "common/textmetrics.h"
#include "common/util.h"
#include "control/audit.h"
#include "control/dataset.h"
#include "control/eval.h"
#include "control/experiment.h"
#include "control/inventory.h"
#include "control/phase.h"
#include "control/rollout.h"
#include "control/rolloutctl.h"
#include "control/score.h"
#include "control/task.h"
#include "demo/demoscript.h"
#include "replay/recorded.h"
#include "replay/replay.h"
#include "trainer/trainer.h"

void DemoScriptParams_defaults(DemoScriptParams *p) {
   p->shadow_requests = 600;
   p->canary_requests = 200;
   p->canary_comparisons = 50;
   p->cutover_requests = 300;
   p->rate = 200;
   p->canary_rate = 250;
   p->fallback_bar = atof(DEMO_FALLBACK_BAR);
}

typedef struct {
   Store *st;
   DemoEnv *env;
   const DemoScriptParams *p;
   FILE *out;
   const char *task; /* the task the phases below work on */
   Task t;
   char *err;
   Recorded calls;   /* the task's logged requests, replayed in every traffic phase */
   long replayed;    /* calls used so far: each phase replays the next ones */
   bool indent;      /* phases under the task's own heading (the extraction), not numbered */
   char headbuf[16];
} Run;

/* A phase's heading: "3 train    " in the label task's walk; indented under the task's own
 * heading in the extraction task's, the same width. */
static const char *head(Run *r, const char *numbered) {
   snprintf(r->headbuf, sizeof r->headbuf, "%s", numbered);
   if (r->indent)
      r->headbuf[0] = ' ';
   return r->headbuf;
}

/* The figures of a JSON task beside accuracy: extraction's per-field. */
static bool is_json(const Run *r) {
   return r->t.kind == KIND_EXTRACTION;
}

static void nap(double s) {
   struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
   nanosleep(&ts, NULL);
}

static bool reload_task(Run *r) {
   Task_clear(&r->t);
   Task_init(&r->t);
   return Task_get(r->st, r->task, &r->t, &r->err);
}

static void print_gate(Run *r, const Gate *g) {
   for (int i = 0; i < g->n; i++)
      fprintf(r->out, "           %s %s: %s\n", g->checks[i].status == CHECK_PASS ? "ok  " : "FAIL",
              g->checks[i].what, g->checks[i].detail);
}

/* Advance out of the current phase; prints the gate when it refuses. */
static bool advance(Run *r, const char *reason) {
   Gate g;
   Phase from = PHASE_AUDIT;
   Phase_parse(r->t.phase, &from);
   char *err = NULL;
   bool ok = Phase_advance(r->st, r->task, reason, &g, &err);
   if (ok) {
      fprintf(r->out, "           phase %s -> %s\n", Phase_name(from), Phase_name(from + 1));
   } else {
      fprintf(r->out, "           gate %s -> %s refused:\n", Phase_name(from), Phase_name(from + 1));
      print_gate(r, &g);
   }
   free(err);
   return reload_task(r) && ok;
}

/* Runs "offramp ARGS" to the end (bounded); false with its output in r->err when it fails. */
static bool run_offramp(Run *r, char **args) {
   Service s;
   char *log = xasprintf("%s/step.log", r->env->dir);
   bool ok = Service_start(&s, "step", (const char *const *)args, log, false, 0, &r->err);
   int status = -1;
   double until = mono_seconds() + 60;
   while (ok && Service_running(&s, &status) && mono_seconds() < until)
      nap(0.01);
   if (ok && (s.pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
      char *tail = Service_log_tail(log, 800);
      r->err = xasprintf("offramp %s %s failed: %s", args[2], args[3], tail);
      free(tail);
      ok = false;
   }
   Service_clear(&s);
   free(log);
   return ok;
}

static bool route_step(Run *r, DemoStep step, int percent) {
   char **args = Demo_step_args(r->st, r->st->path, r->task, step, percent, &r->err);
   bool ok = args && run_offramp(r, args);
   Demo_free_args(args);
   return ok;
}

static size_t collect(char *p, size_t size, size_t n, void *ctx) {
   Sbuf_add(ctx, p, size * n);
   return size * n;
}

/* The gateway's cumulative figures for the task (GET /admin/stats), window "all". */
static json_t *gateway_stats(Run *r) {
   char *token_file = Store_setting(r->st, "gateway.admin_token_file", NULL);
   FILE *f = token_file ? fopen(token_file, "r") : NULL;
   char tok[256] = "";
   if (f) {
      if (!fgets(tok, sizeof tok, f))
         tok[0] = '\0';
      fclose(f);
   }
   free(token_file);
   char *url = xasprintf("%s/admin/stats?task=%s", r->env->gateway.url, r->task);
   char *auth = xasprintf("Authorization: Bearer %s", str_trim(tok));
   struct curl_slist *h = curl_slist_append(NULL, auth);
   Sbuf body = { 0 };
   CURL *e = curl_easy_init();
   curl_easy_setopt(e, CURLOPT_URL, url);
   curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
   curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
   curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
   curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
   curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
   json_t *all = NULL;
   if (curl_easy_perform(e) == CURLE_OK && body.buf) {
      json_t *j = json_loads(body.buf, 0, NULL);
      all = json_object_get(json_object_get(json_array_get(json_object_get(j, "tasks"), 0), "windows"), "all");
      json_incref(all);
      json_decref(j);
   }
   curl_easy_cleanup(e);
   curl_slist_free_all(h);
   Sbuf_free(&body);
   free(auth);
   free(url);
   if (!all)
      r->err = xasprintf("the gateway at %s did not answer GET /admin/stats (its log: %s)", r->env->gateway.url,
                         r->env->gateway.log);
   return all;
}

static long long jint(const json_t *j, const char *a, const char *b, const char *c) {
   const json_t *v = json_object_get(j, a);
   if (b)
      v = json_object_get(v, b);
   if (c)
      v = json_object_get(v, c);
   return (long long)json_integer_value(v);
}

/* Replays the next n logged calls of the task through the gateway at rate calls a second. */
static bool replay_at(Run *r, long n, double rate, ReplayStats *s) {
   Recorded part = { .v = r->calls.v + (size_t)r->replayed % r->calls.n, .n = r->calls.n - (size_t)r->replayed % r->calls.n };
   ReplayOpts o;
   ReplayOpts_defaults(&o);
   o.url = r->env->gateway.url;
   o.rate = rate;
   o.count = n;
   o.concurrency = 128;
   o.timeout_ms = 10000;
   bool ok = Replay_run(&part, &o, s, &r->err);
   r->replayed += n;
   if (ok && s->ok < n * 9 / 10) {
      r->err = xasprintf("replay: only %ld of %ld requests answered 2xx (gateway log %s)", s->ok, n, r->env->gateway.log);
      ok = false;
   }
   return ok;
}

static bool replay(Run *r, long n, ReplayStats *s) {
   return replay_at(r, n, r->p->rate, s);
}

/* The gateway captures asynchronously: wait until the workspace holds want comparisons. */
static long long wait_comparisons(Run *r, long long want) {
   long long n = 0;
   for (double until = mono_seconds() + 10; mono_seconds() < until; nap(0.05)) {
      n = Store_count(r->st, "SELECT count(*) FROM exchanges WHERE task_id = ?1 AND agree IS NOT NULL", r->t.id);
      if (n >= want)
         break;
   }
   return n;
}

static bool phase_audit(Run *r) {
   Audit a;
   if (!Audit_compute(r->st, NULL, false, &a, &r->err))
      return false;
   Audit_sort(&a, AUDIT_SORT_COST);
   char line[256], days[32], month[32];
   fprintf(r->out, "1 audit    %d days of logs, %s calls, %s a month at list prices\n", a.days,
           fmt_count(days, sizeof days, a.calls), fmt_money(month, sizeof month, a.monthly_cost, 0));
   Audit_header(line, sizeof line, 100);
   fprintf(r->out, "           %s\n", line);
   for (int i = 0; i < a.n && i < 5; i++) {
      Audit_row(&a.rows[i], line, sizeof line, 100);
      fprintf(r->out, "           %s\n", line);
   }
   Audit_free(&a);
   /* Label task, high volume, data in the logs: scored to the top of the inventory. */
   static const int scores[3] = { 5, 4, 1 };
   if (!Inventory_set_scores(r->st, DEMO_TASK, scores, &r->err) || !reload_task(r))
      return false;
   int n;
   Task *ts = Task_list(r->st, &n);
   int *rank = Inventory_rank(ts, n);
   fprintf(r->out, "           %s scored S%d I%d C%d: rank %d of %d\n", DEMO_TASK, scores[0], scores[1], scores[2],
           str_eq(ts[rank[0]].name, DEMO_TASK) ? 1 : 0, n);
   free(rank);
   Task_free_list(ts, n);
   return advance(r, "demo: scored, two weeks of logs");
}

/* Builds r->task's dataset with the defaults and says so after head; a label task's labels too. */
static bool build_dataset(Run *r, const char *head) {
   DatasetParams dp;
   Dataset_defaults(&dp);
   Dataset d;
   if (!Dataset_build(r->st, r->task, &dp, &d, &r->err))
      return false;
   char a[32], b[32];
   fprintf(r->out, "%s#%lld: %s train + %s test rows (%.1f %% test)", head, d.id, fmt_count(a, sizeof a, d.rows_train),
           fmt_count(b, sizeof b, d.rows_test), 100.0 * (double)d.rows_test / (double)(d.rows_train + d.rows_test));
   if (r->t.kind == KIND_LABEL)
      fprintf(r->out, ", %lld labels",
              (long long)json_integer_value(json_object_get(json_object_get(d.report, "labels"), "count")));
   fputc('\n', r->out);
   Dataset_clear(&d);
   return advance(r, "demo: dataset built");
}

static bool phase_dataset(Run *r) {
   return build_dataset(r, "2 dataset  ");
}

/* Training r->task on the demo's trainer with the defaults, on its latest dataset. */
static TrainRequest train_request(Run *r) {
   TrainRequest tr = { .task = r->task, .backend = "demo-trainer" };
   tr.dataset_id = Experiment_latest_dataset(r->st, r->t.id);
   tr.spec.base_model = TRAINER_BASE_MODEL;
   tr.spec.epochs = TRAIN_DEFAULT_EPOCHS;
   tr.spec.lr = TRAIN_DEFAULT_LR;
   tr.spec.batch = TRAIN_DEFAULT_BATCH;
   tr.spec.lora_rank = TRAIN_DEFAULT_LORA_RANK;
   tr.spec.has_seed = true;
   tr.spec.seed = 1;
   return tr;
}

static bool phase_train(Run *r) {
   TrainRequest tr = train_request(r);
   long long id;
   char *notes = NULL;
   double t0 = mono_seconds();
   bool ok = Experiment_start(r->st, &tr, 30000, &id, &notes, &r->err);
   free(notes);
   if (!ok)
      return false;
   char ref[32];
   snprintf(ref, sizeof ref, "%lld", id);
   Experiment e;
   if (!Experiment_get(r->st, ref, &e, &r->err))
      return false;
   int nev;
   while ((ok = Experiment_poll(r->st, &e, 10000, &nev, &r->err)) && !Experiment_final(e.status) &&
          mono_seconds() - t0 < 120)
      nap(0.1);
   if (ok && !str_eq(e.status, "succeeded")) {
      r->err = xasprintf("experiment #%lld ended %s: %s", id, e.status, e.error ? e.error : "(no error given)");
      ok = false;
   }
   if (ok) {
      json_t *m = json_loads(e.metrics ? e.metrics : "{}", 0, NULL);
      fprintf(r->out, "%sexperiment #%lld (%s on demo-trainer, %ld epochs): %s in %.1f s\n", head(r, "3 train    "), id,
              e.base_model, tr.spec.epochs, e.status, mono_seconds() - t0);
      if (is_json(r)) /* the extractor's loss is the share of fields it gets wrong */
         fprintf(r->out, "           an extractor (a tagger per field): %.1f %% of fields wrong in training, validation "
                 "field accuracy %.1f %%\n", 100 * json_real_value(json_object_get(m, "train_loss")),
                 100 * json_real_value(json_object_get(m, "full_valid_mean_token_accuracy")));
      else
         fprintf(r->out, "           train loss %.4f, validation loss %.4f, validation accuracy %.1f %%\n",
                 json_real_value(json_object_get(m, "train_loss")), json_real_value(json_object_get(m, "valid_loss")),
                 100 * json_real_value(json_object_get(m, "full_valid_mean_token_accuracy")));
      fprintf(r->out, "           model %s, picked as the candidate\n", e.fine_tuned_model);
      json_decref(m);
      ok = Experiment_pick(r->st, &e, &r->err);
   }
   Experiment_clear(&e);
   return ok && advance(r, "demo: trained");
}

static bool phase_evaluate(Run *r) {
   EvalOpts o;
   EvalOpts_defaults(&o);
   o.bar = r->p->fallback_bar;
   bool complete;
   size_t resumed;
   long long run = Eval_run(r->st, r->task, &o, &complete, &resumed, &r->err);
   if (!run)
      return false;
   EvalRunInfo info;
   if (!Eval_get_run(r->st, run, &info, &r->err))
      return false;
   EvalHeadline h;
   char acc[96], ref[96];
   bool ok = Eval_headline(info.metrics, &h);
   if (ok) {
      Eval_fmt_rate(acc, sizeof acc, h.acc_k, h.acc_n);
      Eval_fmt_rate(ref, sizeof ref, h.ref_k, h.ref_n);
      if (is_json(r)) {
         const json_t *fa = json_object_get(json_object_get(info.metrics, "candidate"), "field_accuracy");
         char fields[96];
         Eval_fmt_rate(fields, sizeof fields, (long)json_integer_value(json_object_get(fa, "k")),
                       (long)json_integer_value(json_object_get(fa, "n")));
         fprintf(r->out, "%srun %lld: field accuracy %s\n", head(r, "4 evaluate "), run, fields);
         fprintf(r->out, "           whole answers %s; logged answers %s\n", acc, ref);
         fprintf(r->out, "           confidence: an answer's least sure field (logprobs per field, on %lld of %ld answers)\n",
                 (long long)json_integer_value(json_object_get(json_object_get(info.metrics, "curve"), "rows_with_logprobs")),
                 h.acc_n);
      } else {
         fprintf(r->out, "%srun %lld: accuracy %s; logged answers %s\n", head(r, "4 evaluate "), run, acc, ref);
      }
      if (h.threshold >= 0)
         fprintf(r->out, "           recommended min_confidence %.2f: %.1f %% coverage at %.1f %% accuracy (bar %.0f %%)\n",
                 h.threshold, 100 * h.coverage, 100 * h.covered_accuracy, 100 * h.bar);
      double mc;
      ok = Eval_apply_threshold(r->st, r->task, run, &mc, &r->err);
   } else {
      r->err = xasprintf("evaluation run %lld has no metrics", run);
   }
   EvalRunInfo_clear(&info);
   if (!ok || !reload_task(r))
      return false;
   Gate g;
   Phase_gate(r->st, &r->t, &g);
   fprintf(r->out, "           gate evaluate -> shadow: %s\n", g.open ? "passed" : "not passed");
   print_gate(r, &g);
   return advance(r, "demo: evaluated");
}

/* Runs "offramp rollout ACTION TASK --reason WHY [--yes]": the gated path, no --force. */
static bool rollout_step(Run *r, const char *action, const char *why, bool yes) {
   char **args = xcalloc(12, sizeof *args);
   int n = 0;
   args[n++] = xstrdup("-w");
   args[n++] = xstrdup(r->st->path);
   args[n++] = xstrdup("rollout");
   args[n++] = xstrdup(action);
   args[n++] = xstrdup(r->task);
   args[n++] = xstrdup("--reason");
   args[n++] = xstrdup(why);
   if (yes)
      args[n++] = xstrdup("--yes");
   bool ok = run_offramp(r, args);
   Demo_free_args(args);
   return ok && reload_task(r);
}

static bool phase_shadow(Run *r) {
   if (!route_step(r, DEMO_STEP_SHADOW, 0))
      return false;
   long long before = Store_count(r->st, "SELECT count(*) FROM exchanges WHERE task_id = ?1 AND agree IS NOT NULL",
                                  r->t.id);
   ReplayStats s;
   bool ok = replay(r, r->p->shadow_requests, &s);
   long primary = s.arms[0], ok_n = s.ok, errors = s.errors;
   ReplayStats_free(&s);
   if (!ok)
      return false;
   long long n = wait_comparisons(r, before + r->p->shadow_requests * 9 / 10);
   json_t *st = gateway_stats(r);
   if (!st)
      return false;
   const json_t *ag = json_object_get(st, "agreement");
   fprintf(r->out, "%sroute shadow%s; %ld requests replayed at %.0f req/s: %ld ok, %ld errors (as logged), "
           "%ld answered by the primary\n", head(r, "5 shadow   "), is_json(r) ? ", compare json" : "",
           r->p->shadow_requests, r->p->rate, ok_n, errors, primary);
   fprintf(r->out, "           %sagreement %.1f %% (95 %% CI %.1f-%.1f, n=%lld); %lld comparisons in the workspace\n",
           is_json(r) ? "whole-answer " : "",
           100 * json_real_value(json_object_get(ag, "rate")), 100 * json_real_value(json_object_get(ag, "lo95")),
           100 * json_real_value(json_object_get(ag, "hi95")), jint(ag, "n", NULL, NULL), n);
   json_decref(st);
   Gate g;
   Phase_gate(r->st, &r->t, &g);
   fprintf(r->out, "           gate shadow -> canary: %s\n", g.open ? "passed" : "not passed");
   print_gate(r, &g);
   return g.open;
}

/* The gateway's figures once its calls in flight are done: a verified call ends when the
 * frontier answers, after the client has the candidate's answer. */
static json_t *settled_stats(Run *r) {
   json_t *prev = NULL;
   for (double until = mono_seconds() + 5; mono_seconds() < until; nap(0.1)) {
      json_t *now = gateway_stats(r);
      if (!now) {
         json_decref(prev);
         return NULL;
      }
      bool same = prev && jint(prev, "arms", "candidate", "requests") == jint(now, "arms", "candidate", "requests") &&
                  jint(prev, "arms", "primary", "requests") == jint(now, "arms", "primary", "requests") &&
                  jint(prev, "agreement", "n", NULL) == jint(now, "agreement", "n", NULL);
      json_decref(prev);
      prev = now;
      if (same)
         break;
   }
   return prev;
}

/* One canary step: traffic until the analysis has enough real comparisons (the candidate's
 * answers verified on the frontier) and the step its dwell, then the analysis of the whole step
 * (offramp rollout watch's round, run here). */
static bool canary_step(Run *r, GwAdmin *gw, int percent, double dwell) {
   RolloutWatch w = { 0 };
   char *msg = NULL;
   double t0 = mono_seconds();
   json_t *before = NULL, *after = NULL;
   if (!Rollout_watch_round(r->st, gw, r->task, &w, &msg)) {   /* the baseline */
      r->err = msg;
      return false;
   }
   free(msg);
   msg = NULL;
   if (!(before = settled_stats(r)))
      return false;
   /* Enough calls that the expected verified share reaches the want; more if it falls short. */
   long long want = r->p->canary_comparisons, n = 0, replayed = 0;
   long chunk = (long)((double)want * 100.0 / percent * 100.0 / atof(DEMO_VERIFY_PERCENT));
   for (int round = 0; round < 5 && n < want; round++) {
      ReplayStats s;
      bool ok = replay_at(r, chunk, r->p->canary_rate, &s);
      ReplayStats_free(&s);
      json_decref(after);
      if (!ok || !(after = settled_stats(r))) {
         json_decref(before);
         return false;
      }
      replayed += chunk;
      n = jint(after, "agreement", "n", NULL) - jint(before, "agreement", "n", NULL);
      chunk = r->p->canary_requests;
   }
   long long cand = jint(after, "arms", "candidate", "requests") - jint(before, "arms", "candidate", "requests");
   json_decref(before);
   json_decref(after);
   fprintf(r->out, "           route canary %d %%: %lld requests, candidate answered %lld (%.1f %%), %lld of them "
           "verified on the frontier\n", percent, replayed, cand, 100.0 * (double)cand / (double)(replayed ? replayed : 1), n);
   if (n < want) {
      r->err = xasprintf("canary %d %%: %lld verified comparisons after %lld requests, the step waits for %lld", percent,
                         n, replayed, want);
      return false;
   }
   while (mono_seconds() - t0 < dwell)
      nap(0.05);
   /* The gateway analyses the step itself every interval (the demo's dwell): wait, two intervals
    * at most, for its first passing check at this step; a failed one ends the wait. */
   char pass[48], fail[48];
   snprintf(pass, sizeof pass, " at %d %%: pass: ", percent);
   snprintf(fail, sizeof fail, " at %d %%: fail: ", percent);
   char *verdict = NULL;
   bool failed = false;
   double until = mono_seconds() + 2 * dwell + 2;
   while (!verdict && !failed && mono_seconds() < until) {
      if (!Rollout_watch_round(r->st, gw, r->task, &w, &msg)) {
         r->err = msg;
         return false;
      }
      /* The check's line from its verdict on: "pass: error rate ..." or "fail: ...". */
      const char *f = strstr(msg, fail), *p = f ? NULL : strstr(msg, pass);
      const char *at = f ? f + strlen(fail) - strlen("fail: ") : p ? p + strlen(pass) - strlen("pass: ") : NULL;
      if (at) {
         failed = f != NULL;
         verdict = xstrndup(at, strcspn(at, "\n"));
      }
      free(msg);
      msg = NULL;
      if (!verdict && !failed)
         nap(0.2);
   }
   fprintf(r->out, "           %s analysis %s\n", verdict && !failed ? "ok  " : "FAIL",
           verdict ? verdict : "no check of the gateway's at this step in two intervals");
   bool ok = verdict && !failed;
   free(verdict);
   return ok && reload_task(r);
}

static bool phase_canary(Run *r) {
   RolloutSettings s;
   RolloutState state;
   Rollout_load(r->st, r->t.id, &s, &state);
   char steps[ROLLOUT_MAX_STEPS * 4 + 1];
   Rollout_format_steps(&s, steps, sizeof steps);
   fprintf(r->out, "%srollout steps %s %%, each held %.0f s and analysed on %ld verified comparisons "
           "(the demo replays two weeks of calls in a minute)\n", head(r, "6 canary   "), steps, s.dwell_s,
           r->p->canary_comparisons);
   GwAdmin gw;
   if (!GwAdmin_init(&gw, r->st, NULL, NULL, &r->err))
      return false;
   bool ok = rollout_step(r, "step-up", "demo: the shadow gate passed", false);
   if (ok)
      fprintf(r->out, "           phase shadow -> canary (offramp rollout step-up)\n");
   for (int i = 0; ok && i < s.n_steps && s.steps[i] < 100; i++) {
      ok = canary_step(r, &gw, s.steps[i], s.dwell_s);
      if (ok && i + 1 < s.n_steps && s.steps[i + 1] < 100)
         ok = rollout_step(r, "step-up", "demo: the step held without a failed check", false);
   }
   GwAdmin_clear(&gw);
   if (!ok)
      return false;
   Gate g;
   Phase_gate(r->st, &r->t, &g);
   fprintf(r->out, "           gate canary -> cutover: %s\n", g.open ? "passed" : "not passed");
   print_gate(r, &g);
   return g.open;
}

static bool phase_cutover(Run *r) {
   json_t *before = NULL, *after = NULL;
   ReplayStats s;
   if (!rollout_step(r, "step-up", "demo: cut over, the API as per-request fallback", true) ||
       !(before = settled_stats(r)))
      return false;
   fprintf(r->out, "%sphase canary -> %s (offramp rollout step-up --yes)\n", head(r, "7 cutover  "), r->t.phase);
   bool ok = replay(r, r->p->cutover_requests, &s);
   if (ok && (after = settled_stats(r))) {
      long long cand = jint(after, "arms", "candidate", "requests") - jint(before, "arms", "candidate", "requests");
      long long fb[3];
      static const char *const why[3] = { "error", "timeout", "low_confidence" };
      long long fbn = 0;
      for (int i = 0; i < 3; i++) {
         fb[i] = jint(after, "fallbacks", why[i], NULL) - jint(before, "fallbacks", why[i], NULL);
         fbn += fb[i];
      }
      double mc = -1;
      Eval_min_confidence(r->st, r->t.id, &mc);
      fprintf(r->out, "           route cutover (100 %%, min_confidence %.2f): %ld requests, %lld sent to the candidate, "
              "%ld answered by it\n", mc, r->p->cutover_requests, cand, s.arms[1]);
      fprintf(r->out, "           fallbacks %lld (%.1f %%): low_confidence %lld, error %lld, timeout %lld\n", fbn,
              100.0 * (double)fbn / (double)r->p->cutover_requests, fb[2], fb[0], fb[1]);
      fprintf(r->out, "           latency seen by the app: p50 %.1f ms, p99 %.1f ms (n=%ld)\n",
              s.nlat ? EvalStats_percentile(s.lat, (size_t)s.nlat, 0.5) : -1.0,
              s.nlat ? EvalStats_percentile(s.lat, (size_t)s.nlat, 0.99) : -1.0, s.nlat);
   } else {
      ok = false;
   }
   ReplayStats_free(&s);
   json_decref(before);
   json_decref(after);
   return ok && advance(r, "demo: the candidate serves, the API as per-request fallback");
}

/* Where the task ended: its phase and the route the gateway serves, and the operate figures
 * once the gateway's captures are all in the workspace. */
static bool phase_operate(Run *r) {
   long long n = -1;
   for (double until = mono_seconds() + 5; mono_seconds() < until; nap(0.2)) {
      long long now = Store_count(r->st, "SELECT count(*) FROM exchanges WHERE task_id = ?1", r->t.id);
      if (now == n)
         break;
      n = now;
   }
   char *mode = NULL;
   sqlite3_stmt *q = Store_prepare(r->st, "SELECT json_extract(route, '$.mode') FROM routes WHERE task = ?1");
   sqlite3_bind_text(q, 1, r->task, -1, SQLITE_STATIC);
   if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
      mode = xstrdup((const char *)sqlite3_column_text(q, 0));
   sqlite3_finalize(q);
   OperateFigures f;
   Rollout_operate(r->st, &r->t, &f);
   bool serving = mode && str_eq(mode, "cutover");
   fprintf(r->out, "%sphase %s, route %s\n", head(r, "8 operate  "), r->t.phase,
           serving ? "operate (cutover: the candidate serves, the API answers its fallbacks)" : mode ? mode : "none");
   fprintf(r->out, "           last 24 h: fallback rate %.1f %% (n=%lld), verified agreement %.1f %% (n=%lld)\n",
           f.served ? 100.0 * (double)f.fallbacks / (double)f.served : 0.0, f.served,
           f.verified_n ? 100.0 * (double)f.verified_k / (double)f.verified_n : 0.0, f.verified_n);
   if (!serving || !str_eq(r->t.phase, "operate"))
      r->err = xasprintf("the task ended at phase %s with the route at %s", r->t.phase, mode ? mode : "none");
   free(mode);
   return r->err == NULL;
}

/* ---- the tasks beyond labels: kind, score, dataset, and where each one stops */

/* The task's kind as the logs show it, its suggested scores accepted, audit -> dataset -> train
 * with a dataset built; false with r->err on an error, with a printed gate on a refusal. */
static bool audit_to_train(Run *r, const char *head) {
   if (!reload_task(r))
      return false;
   fprintf(r->out, "%s %s: kind %s: %s\n", head, r->task, OutputKind_name(r->t.kind),
           r->t.kind_reason ? r->t.kind_reason : "(no reason recorded)");
   Score sc;
   Score_compute(&r->t, &sc);
   int scores[3] = { sc.suggested[DIM_SUITABILITY], sc.suggested[DIM_IMPACT], sc.suggested[DIM_COMPLEXITY] };
   if (!Inventory_set_scores(r->st, r->task, scores, &r->err) || !reload_task(r))
      return false;
   Score_compute(&r->t, &sc);
   fprintf(r->out, "           scored S%d I%d C%d as suggested: priority %.1f, verdict %s%s%s\n", sc.value[DIM_SUITABILITY],
           sc.value[DIM_IMPACT], sc.value[DIM_COMPLEXITY], sc.priority, sc.stay ? "stay: " : "migrate",
           sc.stay && sc.nreasons ? sc.reasons[0] : "", "");
   return advance(r, "demo: scored, two weeks of logs") && build_dataset(r, "           dataset ");
}

/* Asks the demo's trainer to train r->task on its latest dataset, the way phase_train does,
 * and waits for the job to end: 1 when it succeeded (the experiment picked as the candidate),
 * 0 when the trainer would not or could not (*said says what it answered), -1 with r->err on an
 * error of the demo's own. */
static int try_train(Run *r, char **said) {
   TrainRequest tr = train_request(r);
   long long id = 0;
   char *notes = NULL, *terr = NULL;
   bool started = Experiment_start(r->st, &tr, 30000, &id, &notes, &terr);
   free(notes);
   if (!started) {
      *said = xasprintf("not started: %s", terr);
      free(terr);
      return 0;
   }
   char ref[32];
   snprintf(ref, sizeof ref, "%lld", id);
   Experiment e;
   if (!Experiment_get(r->st, ref, &e, &r->err))
      return -1;
   int nev;
   double t0 = mono_seconds();
   bool ok;
   while ((ok = Experiment_poll(r->st, &e, 10000, &nev, &r->err)) && !Experiment_final(e.status) &&
          mono_seconds() - t0 < 60)
      nap(0.1);
   int rc = ok ? str_eq(e.status, "succeeded") : -1;
   if (ok)
      *said = xasprintf("experiment #%lld %s%s%s", id, e.status, e.error ? ": " : "", e.error ? e.error : "");
   if (rc == 1 && !Experiment_pick(r->st, &e, &r->err))
      rc = -1;
   Experiment_clear(&e);
   return rc;
}

/* The extraction task: audited and its dataset built under its own heading, then the label
 * task's path (train .. operate, the phases below indented under that heading) on the built-in
 * extractor, its own logged calls replayed through the gateway (the demo's frontier stand-in
 * answers them too) and compared as JSON objects. */
static bool extraction_audit(Run *r) {
   r->task = DEMO_EXTRACTION_TASK;
   r->indent = false;
   if (!audit_to_train(r, "9 extract "))
      return false;
   Recorded_free(&r->calls);
   memset(&r->calls, 0, sizeof r->calls);
   r->replayed = 0;
   RecordedFilter f = { .task = r->task };
   if (!Recorded_load_store(&r->calls, r->st, &f, &r->err))
      return false;
   if (!r->calls.n) {
      r->err = xasprintf("no logged calls of %s to replay", r->task);
      return false;
   }
   r->indent = true;
   return true;
}

/* The rewrite task: scored and its dataset built like the others, then it stays on the API,
 * with the reason recorded: nothing here trains a generator, so no candidate can meet the
 * evaluate gate (the task's text metric within the margin of the frontier's, and the format). */
static bool rewrite_task(Run *r) {
   r->task = DEMO_REWRITE_TASK;
   r->indent = false;
   if (!audit_to_train(r, "10 rewrite"))
      return false;
   fprintf(r->out, "           answers scored on %s at threshold %.2f (per answer, against the frontier's); gate "
           "evaluate -> shadow needs %s within %g pts of the frontier's and format compliance >= %.0f %%\n",
           TextMetric_name(r->t.text_metric), r->t.text_threshold, TextMetric_name(r->t.text_metric),
           r->t.eval_margin, 100 * r->t.format_bar);
   char *said = NULL;
   int trained = try_train(r, &said);
   if (trained < 0)
      return false;
   if (trained) { /* a trainer that learns rewrites: the task is no longer the demo's to hold back */
      fprintf(r->out, "           demo-trainer: %s\n", said);
      free(said);
      return true;
   }
   fprintf(r->out, "           demo-trainer: %s\n", said);
   char *why = xasprintf("demo: text generation (a %s task): no owned generator here, the demo's trainer "
                         "trains label classifiers and field extractors (%s), so no candidate can meet the evaluate "
                         "gate (%s within %g pts of the frontier, format >= %.0f %%)",
                         OutputKind_name(r->t.kind), said, TextMetric_name(r->t.text_metric), r->t.eval_margin,
                         100 * r->t.format_bar);
   free(said);
   Phase from = PHASE_TRAIN;
   Phase_parse(r->t.phase, &from);
   bool ok = Phase_stay(r->st, r->task, why, &r->err);
   if (ok)
      fprintf(r->out, "           stays on the API (phase %s -> stay): no owned generator; the gates stay as they are\n",
              Phase_name(from));
   free(why);
   return ok && reload_task(r);
}

int Demo_script(Store *st, DemoEnv *env, const DemoScriptParams *p, FILE *out) {
   Run r = { .st = st, .env = env, .p = p, .out = out, .task = DEMO_TASK };
   Task_init(&r.t);
   double t0 = mono_seconds();
   RecordedFilter f = { .task = DEMO_TASK };
   static const struct {
      const char *name;
      bool (*run)(Run *r);
   } phases[] = {
      { "audit", phase_audit },       { "dataset", phase_dataset }, { "train", phase_train },
      { "evaluate", phase_evaluate }, { "shadow", phase_shadow },   { "canary", phase_canary },
      { "cutover", phase_cutover },   { "operate", phase_operate },
      /* the extraction task: the same path from train on */
      { "extraction audit", extraction_audit }, { "extraction train", phase_train },
      { "extraction evaluate", phase_evaluate }, { "extraction shadow", phase_shadow },
      { "extraction canary", phase_canary },     { "extraction cutover", phase_cutover },
      { "extraction operate", phase_operate },   { "rewrite", rewrite_task },
   };
   int rc = EXIT_SUCCESS;
   if (!reload_task(&r) || !Recorded_load_store(&r.calls, st, &f, &r.err)) {
      rc = 1;
   } else {
      for (size_t i = 0; i < ARRAY_SIZE(phases) && rc == 0; i++) {
         if (!phases[i].run(&r)) {
            rc = r.err ? 1 : 3;
            fprintf(out, "demo --script stopped in phase %s%s%s\n", phases[i].name, r.err ? ": " : " (a gate refused)",
                    r.err ? r.err : "");
         }
         fflush(out);
      }
   }
   if (rc == 0)
      fprintf(out, "demo --script: every phase done in %.1f s\n", mono_seconds() - t0);
   free(r.err);
   Recorded_free(&r.calls);
   Task_clear(&r.t);
   return rc;
}
