/* view_rollout.c - a task's rollout, live: agreement now / 1 min / 10 min / all with Wilson
 * intervals, the noise baseline, agreement per minute, latency, errors, fallbacks, the route and
 * its history, from the gateway's admin API about once a second. The requests are non-blocking
 * (polled from the input loop's timeout), so keys are handled while they run. Keys step the
 * route, abort, promote-full (100 % is asked twice, with the gate figures shown), tune cutover. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/stats.h"
#include "common/util.h"
#include "console.h"
#include "control/gwadmin.h"
#include "control/phase.h"
#include "control/review.h"
#include "control/rollout.h"
#include "control/rolloutctl.h"

#define REFRESH_S 1.0
#define POLL_MS 100
#define NOW_WINDOW_S 10.0
#define SNAPS 64

typedef struct {
   Task t;
   bool loaded;
   GwAdmin gw;
   char *gw_err;            /* why the admin API cannot be used (no token) */
   GwFetch *fs, *fr;        /* stats and route requests in flight */
   double started;          /* mono time the last refresh started */
   json_t *stats, *route, *history;
   char *fetch_err;
   struct {
      double t, k, n;
   } snap[SNAPS];           /* all-time agreement counters per refresh, for "now" */
   int nsnap;
   Action pending;          /* an action waiting for its confirming second press */
   char *confirm;           /* the gate figures shown meanwhile */
   UText text;
} RolloutView;

static double num(const json_t *o, const char *k) {
   return json_number_value(json_object_get(o, k));
}

/* An agreement figure against its bar: below it in the warning colour, and said in words (a
 * terminal without colour, a screen dump). With no candidate there is nothing to agree: the
 * line says so rather than show a rate. */
static void rate_line(UText *u, const char *label, double k, double n, double bar, bool candidate) {
   char c[32];
   UText_nl(u);
   UText_add(u, A_NORMAL, "  %-12s ", label);
   if (!candidate) {
      UText_add(u, Draw_attr(C_DIM), "no candidate yet");
      return;
   }
   if (n <= 0) {
      UText_add(u, Draw_attr(C_DIM), "no comparisons yet");
      return;
   }
   double lo, hi, p = k / n;
   wilson95((long long)k, (long long)n, &lo, &hi);
   bool below = bar >= 0 && p < bar;
   UText_add(u, below ? Draw_attr(C_MISSING) | A_BOLD : A_BOLD, "%5.1f %%", 100 * p);
   UText_add(u, A_NORMAL, "  95 %% CI %.1f-%.1f  (n=%s)", 100 * lo, 100 * hi, fmt_count(c, sizeof c, (long long)n));
   if (below)
      UText_add(u, Draw_attr(C_MISSING), "  below the bar");
}

/* Agreement over the last NOW_WINDOW_S seconds, from the snapshots of the all-time counters. */
static void now_rate(const RolloutView *rv, double *k, double *n) {
   *k = *n = 0;
   if (rv->nsnap < 2)
      return;
   int last = rv->nsnap - 1, from = last;
   while (from > 0 && rv->snap[last].t - rv->snap[from].t < NOW_WINDOW_S)
      from--;
   *k = rv->snap[last].k - rv->snap[from].k;
   *n = rv->snap[last].n - rv->snap[from].n;
}

static void sparkline(UText *u, const json_t *per_min) {
   static const char *const bars[] = { "\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
                                       "\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88" };
   UText_nl(u);
   UText_add(u, A_NORMAL, "  %-12s ", "per minute");
   size_t i;
   json_t *m;
   Sbuf sb = { 0 };
   json_array_foreach(per_min, i, m) {
      if (!json_is_object(m)) {
         Sbuf_puts(&sb, "\xc2\xb7");   /* · */
         continue;
      }
      double r = num(m, "agree") / num(m, "n");
      /* 50 % .. 100 % spread over the eight bars: the range where a decision is made. */
      int b = (int)((r - 0.5) / 0.5 * 8);
      Sbuf_puts(&sb, bars[b < 0 ? 0 : b > 7 ? 7 : b]);
   }
   UText_add(u, Draw_attr(C_OK), "%s", sb.buf ? sb.buf : "");
   UText_add(u, Draw_attr(C_DIM), "  (10 min, oldest first; 50-100 %%)");
   Sbuf_free(&sb);
}

static void arm_latency(UText *u, const char *name, const json_t *arm) {
   char c[32];
   UText_add(u, A_NORMAL, "%s p50 %.0f ms  p95 %.0f ms  p99 %.0f ms (n=%s)", name, num(arm, "p50_ms"),
             num(arm, "p95_ms"), num(arm, "p99_ms"), fmt_count(c, sizeof c, (long long)num(arm, "requests")));
}

static void build(RolloutView *rv) {
   UText *u = &rv->text;
   Store *st = Console_store();
   UText_clear(u);
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "ROLLOUT  ");
   UText_add(u, A_BOLD, "%s", rv->t.name);
   if (!rv->loaded)
      return;
   RolloutSettings s;
   RolloutState state;
   Rollout_observe(st, &rv->t, &s, &state);
   char steps[ROLLOUT_MAX_STEPS * 4 + 1];
   Rollout_format_steps(&s, steps, sizeof steps);
   const char *mode = json_string_value(json_object_get(rv->route, "mode"));
   UText_add(u, A_NORMAL, "  route ");
   if (mode && str_eq(mode, "canary"))
      UText_add(u, Draw_attr(C_CURRENT), "canary %g %%", num(rv->route, "percent"));
   else
      UText_add(u, mode ? Draw_attr(C_CURRENT) : Draw_attr(C_DIM), "%s", mode ? mode : "(asking the gateway)");
   UText_add(u, A_NORMAL, "  steps %s  phase %s", steps, rv->t.phase);
   if (state.paused) {
      UText_nl(u);
      UText_add(u, Draw_attr(C_FAIL), "  PAUSED: %s", state.pause_reason);
   }
   UText_nl(u);
   UText_add(u, Draw_attr(C_DIM), "  ] step up  [ step down  X abort  F promote-full  P pause  +/- min_confidence  "
                                  "V/v verify  D disagreements");
   if (rv->gw_err) {
      UText_nl(u);
      UText_nl(u);
      UText_add(u, Draw_attr(C_FAIL), "  %s", rv->gw_err);
      return;
   }
   if (rv->confirm) {
      UText_nl(u);
      UText_nl(u);
      UText_add(u, Draw_attr(C_FAIL), "CONFIRM  ");
      UText_add(u, A_BOLD, "press the key again to go to 100 %% (cutover); any other key cancels");
      char *copy = xstrdup(rv->confirm), *save = NULL;
      for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
         UText_nl(u);
         UText_add(u, str_startswith(l, "ok ") ? Draw_attr(C_OK) : str_startswith(l, "NOT MET") ? Draw_attr(C_FAIL)
                                                                                                : (int)A_NORMAL,
                   "  %s", l);
      }
      free(copy);
   }
   if (rv->fetch_err) {
      UText_nl(u);
      UText_add(u, Draw_attr(C_FAIL), "  %s", rv->fetch_err);
   }
   if (!rv->stats) {
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "  waiting for the gateway at %s ...", rv->gw.gateway);
      return;
   }
   json_t *win = json_object_get(rv->stats, "windows");
   json_t *all = json_object_get(win, "all"), *m1 = json_object_get(win, "1m"), *m10 = json_object_get(win, "10m");
   UText_nl(u);
   UText_nl(u);
   /* The bar this phase holds agreement to, and where it is set: the shadow gate's is the
    * task's; from canary on the rollout's (Rollout_agreement_bar), which may differ. */
   const char *bar_source = Rollout_task_bar_source;
   double bar = rv->t.agreement_bar;
   Phase ph;
   if (Phase_parse(rv->t.phase, &ph) && ph >= PHASE_CANARY)
      bar = Rollout_agreement_bar(&s, &rv->t, &bar_source);
   const json_t *cand_spec = json_object_get(rv->route, "candidate");
   bool has_cand = json_is_object(cand_spec) && json_object_size(cand_spec) > 0;
   UText_add(u, Draw_attr(C_HEADING), "AGREEMENT  ");
   UText_add(u, Draw_attr(C_DIM), "candidate vs primary; bar %.1f %%: %s", 100 * bar, bar_source);
   double k, n;
   now_rate(rv, &k, &n);
   rate_line(u, "now (10 s)", k, n, bar, has_cand);
   json_t *a1 = json_object_get(m1, "agreement"), *a10 = json_object_get(m10, "agreement");
   json_t *aa = json_object_get(all, "agreement"), *noise = json_object_get(all, "noise_agreement");
   rate_line(u, "1 min", num(a1, "agree"), num(a1, "n"), bar, has_cand);
   rate_line(u, "10 min", num(a10, "agree"), num(a10, "n"), bar, has_cand);
   rate_line(u, "all", num(aa, "agree"), num(aa, "n"), bar, has_cand);
   if (num(noise, "n") > 0)
      rate_line(u, "noise", num(noise, "agree"), num(noise, "n"), -1, true);
   else {
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "  %-12s off (route noise_percent 0: the primary is not asked twice)", "noise");
   }
   sparkline(u, json_object_get(rv->stats, "agreement_per_minute"));
   long long grades[GRADE_COUNT];
   Review_counts(st, rv->t.id, grades);
   double acc = Review_accuracy(num(aa, "n") > 0 ? num(aa, "agree") / num(aa, "n") : 0, grades);
   UText_nl(u);
   UText_add(u, A_NORMAL, "  %-12s ", "graded");
   if (acc < 0)
      UText_add(u, Draw_attr(C_DIM), "no disagreement graded yet (D reviews them)");
   else
      UText_add(u, A_BOLD, "%.1f %%", 100 * acc);
   if (acc >= 0)
      UText_add(u, A_NORMAL, "  from %lld graded: primary right %lld, candidate right %lld, both fine %lld, both wrong %lld",
                grades[0] + grades[1] + grades[2] + grades[3], grades[GRADE_PRIMARY], grades[GRADE_CANDIDATE],
                grades[GRADE_BOTH], grades[GRADE_NEITHER]);

   json_t *arms = json_object_get(m1, "arms");
   json_t *cand = json_object_get(json_object_get(all, "arms"), "candidate");
   UText_nl(u);
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "LATENCY  ");
   UText_add(u, Draw_attr(C_DIM), "last minute");
   UText_nl(u);
   UText_add(u, A_NORMAL, "  ");
   arm_latency(u, "primary  ", json_object_get(arms, "primary"));
   UText_nl(u);
   UText_add(u, A_NORMAL, "  ");
   arm_latency(u, "candidate", json_object_get(arms, "candidate"));
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "ERRORS   ");
   double req = num(cand, "requests"), errs = num(cand, "errors");
   char c1[32], c2[32];
   if (req > 0)
      UText_add(u, errs > 0 ? Draw_attr(C_FAIL) : (int)A_NORMAL, "candidate %s of %s (%.1f %%)",
                fmt_count(c1, sizeof c1, (long long)errs), fmt_count(c2, sizeof c2, (long long)req), 100 * errs / req);
   else
      UText_add(u, Draw_attr(C_DIM), has_cand ? "no candidate answers yet" : "no candidate yet");
   json_t *byk = json_object_get(cand, "errors_by_kind");
   const char *key;
   json_t *val;
   json_object_foreach(byk, key, val) {
      if (json_integer_value(val))
         UText_add(u, A_NORMAL, "  %s %lld", key, (long long)json_integer_value(val));
   }
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "FALLBACK ");
   double fb_total = 0;
   json_object_foreach(json_object_get(all, "fallbacks"), key, val) fb_total += json_number_value(val);
   if (req > 0)
      UText_add(u, A_NORMAL, "%.1f %% of candidate answers:", 100 * fb_total / req);
   else
      UText_add(u, Draw_attr(C_DIM), has_cand ? "no candidate answers yet" : "no candidate yet");
   json_object_foreach(json_object_get(all, "fallbacks"), key, val)
      UText_add(u, A_NORMAL, "  %s %lld", key, (long long)json_integer_value(val));
   json_t *fb = json_object_get(rv->route, "fallback");
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "CUTOVER  ");
   UText_add(u, A_NORMAL, "min_confidence %.2f  verify %g %%  on_error %s  timeout %lld ms", num(fb, "min_confidence"),
             num(rv->route, "verify_percent"), json_is_true(json_object_get(fb, "on_error")) ? "yes" : "no",
             (long long)json_integer_value(json_object_get(fb, "timeout_ms")));

   Gate g;
   GateCheck cg;
   Phase_gate_from(st, &rv->t, PHASE_SHADOW, &g);
   Rollout_canary_gate(st, &rv->t, &cg);
   UText_nl(u);
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "GATES");
   for (int i = 0; i < g.n; i++) {
      UText_nl(u);
      UText_add(u, Draw_attr(g.checks[i].status == CHECK_PASS ? C_OK : C_FAIL), "  %s ",
                g.checks[i].status == CHECK_PASS ? "\xe2\x9c\x93" : "\xe2\x9c\x97");
      UText_add(u, A_NORMAL, "%s: %s", g.checks[i].what, g.checks[i].detail);
   }
   UText_nl(u);
   UText_add(u, Draw_attr(cg.status == CHECK_PASS ? C_OK : C_FAIL), "  %s ", cg.status == CHECK_PASS ? "\xe2\x9c\x93" : "\xe2\x9c\x97");
   UText_add(u, A_NORMAL, "%s: %s", cg.what, cg.detail);

   UText_nl(u);
   UText_nl(u);
   UText_add(u, Draw_attr(C_HEADING), "HISTORY  ");
   UText_add(u, Draw_attr(C_DIM), "the gateway's record of route changes, newest first");
   for (int i = (int)json_array_size(rv->history) - 1; i >= 0; i--) {
      json_t *ev = json_array_get(rv->history, (size_t)i), *old = json_object_get(ev, "old"), *nw = json_object_get(ev, "new");
      const char *om = json_string_value(json_object_get(old, "mode")), *nm = json_string_value(json_object_get(nw, "mode"));
      UText_nl(u);
      UText_add(u, Draw_attr(C_DIM), "  %.16s ", json_string_value(json_object_get(ev, "ts")));
      UText_add(u, A_NORMAL, "%-8s %s: ", json_string_value(json_object_get(ev, "kind")),
                json_string_value(json_object_get(ev, "actor")));
      if (om && str_eq(om, "canary"))
         UText_add(u, A_NORMAL, "canary %g %%", num(old, "percent"));
      else
         UText_add(u, A_NORMAL, "%s", om ? om : "(none)");
      if (nm && str_eq(nm, "canary"))
         UText_add(u, A_BOLD, " -> canary %g %%", num(nw, "percent"));
      else
         UText_add(u, A_BOLD, " -> %s", nm ? nm : "?");
      const char *why = json_string_value(json_object_get(ev, "reason"));
      if (why && *why)
         UText_add(u, Draw_attr(C_DIM), "  \"%s\"", why);
   }
   UText_wrap(u, COLS);
}

/* ---- the live refresh ---- */

static void start_round(RolloutView *rv) {
   char *t = GwAdmin_escape(rv->t.name);
   char *ps = xasprintf("/admin/stats?task=%s", t), *pr = xasprintf("/admin/routes/%s", t);
   rv->fs = GwFetch_start(&rv->gw, ps);
   rv->fr = GwFetch_start(&rv->gw, pr);
   rv->started = mono_seconds();
   free(ps);
   free(pr);
   free(t);
}

static void take_stats(RolloutView *rv, json_t *j) {
   json_t *entry = NULL;
   size_t i;
   json_t *e;
   json_array_foreach(json_object_get(j, "tasks"), i, e) {
      if (str_eq(json_string_value(json_object_get(e, "task")), rv->t.name))
         entry = e;
   }
   json_decref(rv->stats);
   rv->stats = entry ? json_incref(entry) : json_object();
   json_t *aa = json_object_get(json_object_get(json_object_get(rv->stats, "windows"), "all"), "agreement");
   if (rv->nsnap == SNAPS) {
      memmove(rv->snap, rv->snap + 1, (SNAPS - 1) * sizeof rv->snap[0]);
      rv->nsnap--;
   }
   rv->snap[rv->nsnap].t = mono_seconds();
   rv->snap[rv->nsnap].k = num(aa, "agree");
   rv->snap[rv->nsnap].n = num(aa, "n");
   rv->nsnap++;
}

static void take_route(RolloutView *rv, json_t *j) {
   json_decref(rv->route);
   json_decref(rv->history);
   rv->route = json_incref(json_object_get(j, "route"));
   rv->history = json_incref(json_object_get(j, "history"));
}

/* Poll one transfer; true when it finished (its answer taken, or its error kept). */
static bool poll_one(RolloutView *rv, GwFetch **f, void (*take)(RolloutView *, json_t *)) {
   json_t *j;
   char *err = NULL;
   if (!*f || !GwFetch_poll(*f, &j, &err))
      return false;
   GwFetch_free(*f);
   *f = NULL;
   if (j) {
      take(rv, j);
      json_decref(j);
   } else {
      free(rv->fetch_err);
      rv->fetch_err = err;
      err = NULL;
   }
   free(err);
   return true;
}

static int rv_tick(View *v) {
   RolloutView *rv = v->data;
   if (rv->gw_err || !rv->loaded)
      return NOT_HANDLED;
   bool s = poll_one(rv, &rv->fs, take_stats), r = poll_one(rv, &rv->fr, take_route);
   if ((s || r) && !rv->fs && !rv->fr && rv->stats && rv->route) {
      free(rv->fetch_err);
      rv->fetch_err = NULL;
   }
   if (!rv->fs && !rv->fr && mono_seconds() - rv->started >= REFRESH_S)
      start_round(rv);
   if (!s && !r)
      return NOT_HANDLED;
   build(rv);
   return REDRAW;
}

static int rv_busy(View *v) {
   RolloutView *rv = v->data;
   return rv && rv->loaded && !rv->gw_err ? POLL_MS : 0;
}

static void rv_open(View *v) {
   RolloutView *rv = v->data;
   if (!rv) {
      v->data = rv = xcalloc(1, sizeof *rv);
      rv->pending = ACTION_NONE;
      if (!GwAdmin_init(&rv->gw, Console_store(), NULL, NULL, &rv->gw_err)) {
         char *m = xasprintf("%s; the console reads $OFFRAMP_GATEWAY and $OFFRAMP_ADMIN_TOKEN", rv->gw_err);
         free(rv->gw_err);
         rv->gw_err = m;
      }
      rv->gw.timeout_s = 5;   /* a key's change may wait this long, a refresh never blocks */
   }
   Task_clear(&rv->t);
   char *err = NULL;
   rv->loaded = Task_get(Console_store(), v->arg, &rv->t, &err);
   if (!rv->loaded) {
      free(rv->fetch_err);
      rv->fetch_err = err;
   }
   rv->started = 0;   /* refresh at the next tick */
   build(rv);
}

static int rv_lines(View *v) {
   return ((RolloutView *)v->data)->text.n;
}

static void rv_draw(View *v, int top, int height, int width) {
   UText_draw(&((RolloutView *)v->data)->text, v->offset, top, height, width, -1);
}

static void rv_title(View *v, char *buf, size_t size) {
   snprintf(buf, size, "offramp \xc2\xb7 rollout %s", v->arg);
}

static void act(View *v, RolloutAction a, bool confirmed) {
   RolloutView *rv = v->data;
   RolloutOpts o = { .reason = "console", .confirmed = confirmed };
   char *msg = NULL;
   ActResult r = Rollout_act(Console_store(), &rv->gw, v->arg, a, &o, &msg);
   if (r == ACT_CONFIRM) {
      free(rv->confirm);
      rv->confirm = msg;
      Console_message("going to 100 %% (cutover): check the gate figures, press the key again to confirm");
      return;
   }
   /* Gate refusals carry their checks on the following lines: the message area keeps them as
    * lines (L shows them whole when they are more than it holds). */
   if (r == ACT_GATE) {
      free(rv->confirm);
      rv->confirm = NULL;
   }
   Console_message("%s", msg);
   free(msg);
}

static void tune(View *v, const char *field, double delta, double lo, double hi) {
   RolloutView *rv = v->data;
   json_t *fb = json_object_get(rv->route, "fallback");
   double cur = str_eq(field, "min_confidence") ? num(fb, "min_confidence") : num(rv->route, "verify_percent");
   double next = round((cur + delta) * 100) / 100;   /* 0.8 + 0.05 is 0.85, not 0.8500000000000001 */
   next = next < lo ? lo : next > hi ? hi : next;
   char *msg = NULL;
   Rollout_tune(&rv->gw, v->arg, field, next, &msg);
   Console_message("%s", msg);
   free(msg);
}

static int rv_request(View *v, Action a) {
   RolloutView *rv = v->data;
   Action pending = rv->pending;
   rv->pending = ACTION_NONE;
   if (pending != ACTION_NONE && a != pending) {
      free(rv->confirm);
      rv->confirm = NULL;
      Console_message("cutover cancelled");
   }
   bool gw_action = a == ACTION_ROLLOUT_STEP_UP || a == ACTION_ROLLOUT_STEP_DOWN || a == ACTION_ROLLOUT_ABORT ||
                    a == ACTION_ROLLOUT_PROMOTE_FULL || a == ACTION_CONFIDENCE_UP || a == ACTION_CONFIDENCE_DOWN ||
                    a == ACTION_VERIFY_UP || a == ACTION_VERIFY_DOWN;
   if (gw_action && (rv->gw_err || !rv->loaded)) {
      Console_message("%s", rv->gw_err ? rv->gw_err : "no such task");
      return REDRAW;
   }
   switch (a) {
   case ACTION_ROLLOUT_STEP_UP:
   case ACTION_ROLLOUT_PROMOTE_FULL: {
      bool confirmed = pending == a;
      act(v, a == ACTION_ROLLOUT_STEP_UP ? ROLLOUT_STEP_UP : ROLLOUT_PROMOTE_FULL, confirmed);
      if (rv->confirm && !confirmed) {
         rv->pending = a;
      } else {
         free(rv->confirm);
         rv->confirm = NULL;
      }
      break;
   }
   case ACTION_ROLLOUT_STEP_DOWN: act(v, ROLLOUT_STEP_DOWN, false); break;
   case ACTION_ROLLOUT_ABORT: act(v, ROLLOUT_ABORT, false); break;
   case ACTION_ROLLOUT_PAUSE: {
      RolloutSettings s;
      RolloutState state;
      Rollout_load(Console_store(), rv->t.id, &s, &state);
      act(v, state.paused ? ROLLOUT_RESUME : ROLLOUT_PAUSE, false);
      break;
   }
   case ACTION_CONFIDENCE_UP: tune(v, "min_confidence", 0.05, 0, 1); break;
   case ACTION_CONFIDENCE_DOWN: tune(v, "min_confidence", -0.05, 0, 1); break;
   case ACTION_VERIFY_UP: tune(v, "verify_percent", 1, 0, 100); break;
   case ACTION_VERIFY_DOWN: tune(v, "verify_percent", -1, 0, 100); break;
   case ACTION_VIEW_REVIEW:
      Console_open_view(&review_ops, v->arg, NULL);
      return REDRAW;
   default:
      /* A cancelled confirmation still lets the key do its generic work (move, back, ...). */
      if (pending != ACTION_NONE)
         build(rv);
      return NOT_HANDLED;
   }
   rv_open(v);   /* the phase may have followed the route; refresh at once */
   return REDRAW;
}

static void rv_done(View *v) {
   RolloutView *rv = v->data;
   if (!rv)
      return;
   GwFetch_free(rv->fs);
   GwFetch_free(rv->fr);
   json_decref(rv->stats);
   json_decref(rv->route);
   json_decref(rv->history);
   free(rv->fetch_err);
   free(rv->gw_err);
   free(rv->confirm);
   GwAdmin_clear(&rv->gw);
   Task_clear(&rv->t);
   UText_clear(&rv->text);
   free(rv);
   v->data = NULL;
}

const ViewOps rollout_ops = {
   .name = "rollout",
   .open = rv_open,
   .draw = rv_draw,
   .request = rv_request,
   .done = rv_done,
   .title = rv_title,
   .lines = rv_lines,
   .busy = rv_busy,
   .tick = rv_tick,
   .hint = "[/]:step X:abort F:promote D:review r:runbook",
};
