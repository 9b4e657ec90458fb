/* canary.c - the gateway's own canary analysis: a run per task while its route is in canary,
 * the interval's counters, the checks, and the route changes they lead to. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/stats.h"
#include "gateway/canary.h"
#include "store/store.h"

#define TICK_US 200000
#define LAT_MAX 4096          /* latencies kept per interval (a uniform sample past it) */
#define LOG_MAX 32            /* checks kept for the admin API */
#define DECISIONS_MAX 16
#define RECORDS_MAX 16        /* check records waiting for the writer; more are counted and dropped */

enum { VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICTS };
static const char *const verdict_names[VERDICTS] = { "pass", "fail", "inconclusive" };

typedef struct {
   long long seq;
   char ts[32];
   int verdict;
   double percent;
   char *detail;
} Check;

typedef struct {
   char ts[32];
   const char *kind;          /* "rollback" | "promote" */
   char from[32], to[32];
   char *reason;
} Decision;

typedef struct Run {
   char *task;
   Route *route;              /* the route analysed (a reference); NULL once it has left canary */
   bool active;
   const char *state;         /* what the run is doing or how it ended */
   double percent;
   double run_since, step_since, clean_since, next_check;   /* mono seconds */
   int failed;                /* failed checks in the run (Flagger's failedChecks) */
   int step_passed, step_failed;
   /* The interval in progress. */
   long req, err, fb;
   double *lat;
   long n_lat, seen_lat;
   /* Verified agreement since the step began. */
   long agree_k, agree_n;
   Check log[LOG_MAX];
   int n_log;
   Decision dec[DECISIONS_MAX];
   int n_dec;
   long long checks_total[VERDICTS], rollbacks, promotions;
   Route *unsaved;            /* a rollback of ours the workspace did not take: tried again */
   Route *promoting;          /* the route a promotion of ours left, while its save runs */
   bool promote_refused;      /* the gate check refused this step's promotion */
   struct Run *next;
} Run;

struct Canary {
   CanaryHost host;
   struct event *tick;
   Run *runs;
   long long seq;
   long pending;              /* route changes with the writer */
   long records;              /* check records with the writer */
   long long records_dropped;
   unsigned long long rng;
};

/* ---- runs ---- */

static Run *run_find(Canary *c, const char *task) {
   for (Run *r = c->runs; r; r = r->next) {
      if (str_eq(r->task, task))
         return r;
   }
   return NULL;
}

static void run_window_reset(Run *r) {
   r->req = r->err = r->fb = 0;
   r->n_lat = r->seen_lat = 0;
}

static bool same_candidate(const Route *a, const Route *b) {
   return a && b && str_eq(a->candidate.url, b->candidate.url) &&
          ((!a->candidate.model && !b->candidate.model) ||
           (a->candidate.model && b->candidate.model && str_eq(a->candidate.model, b->candidate.model)));
}

/* The run analyses route rt from now on: a new step (the failed checks of the run stay while the
 * candidate is the same one; a new candidate, or a canary after a rollback, starts a new run). */
static void run_enter(Run *r, Route *rt, double now) {
   if (!r->active || !same_candidate(r->route, rt)) {
      r->failed = 0;
      r->run_since = now;
   }
   Route_unref(r->route);
   r->route = Route_ref(rt);
   r->active = true;
   r->state = "analysing";
   r->percent = rt->percent;
   r->step_since = r->clean_since = now;
   r->next_check = now + rt->analysis.interval_s;
   r->step_passed = r->step_failed = 0;
   r->promote_refused = false;
   r->agree_k = r->agree_n = 0;
   run_window_reset(r);
}

static void run_leave(Run *r, const Route *now_route) {
   if (r->active && !str_eq(r->state, "rolled back"))
      r->state = now_route && now_route->mode == ROUTE_CUTOVER ? "promoted" : "stopped";
   r->active = false;
   Route_unref(r->route);
   r->route = NULL;
}

static void run_free(Run *r) {
   Route_unref(r->route);
   Route_unref(r->unsaved);
   Route_unref(r->promoting);
   free(r->task);
   free(r->lat);
   for (int i = 0; i < r->n_log; i++)
      free(r->log[i].detail);
   for (int i = 0; i < r->n_dec; i++)
      free(r->dec[i].reason);
   free(r);
}

static unsigned long long rng_next(Canary *c) {
   c->rng ^= c->rng << 13;
   c->rng ^= c->rng >> 7;
   c->rng ^= c->rng << 17;
   return c->rng;
}

void Canary_observe(Canary *c, const Route *rt, const CanaryObs *o) {
   if (!c || !o->candidate || rt->mode != ROUTE_CANARY)
      return;
   Run *r = run_find(c, rt->task);
   /* An exchange that started on an earlier route (another step, before a rollback) is not
    * this step's. */
   if (!r || !r->active || r->route != rt)
      return;
   r->req++;
   r->err += o->error;
   r->fb += o->fell_back;
   if (!r->lat)
      r->lat = xcalloc(LAT_MAX, sizeof *r->lat);
   r->seen_lat++;
   if (r->n_lat < LAT_MAX)
      r->lat[r->n_lat++] = o->latency_ms;
   else if ((long)(rng_next(c) % (unsigned long long)r->seen_lat) < LAT_MAX)
      r->lat[rng_next(c) % LAT_MAX] = o->latency_ms;
   if (o->agree >= 0 && !o->fell_back) {
      r->agree_n++;
      r->agree_k += o->agree;
   }
}

double Canary_verify_percent(const Route *r) {
   double automatic = r->mode == ROUTE_CANARY && r->analysis.enabled ? r->analysis.verify_percent : 0;
   return automatic > r->verify_percent ? automatic : r->verify_percent;
}

/* ---- checks ---- */

static int cmp_double(const void *a, const void *b) {
   double x = *(const double *)a, y = *(const double *)b;
   return x < y ? -1 : x > y;
}

static double p95(Run *r) {
   if (!r->n_lat)
      return 0;
   qsort(r->lat, (size_t)r->n_lat, sizeof *r->lat, cmp_double);
   long i = (long)ceil(0.95 * (double)r->n_lat) - 1;
   return r->lat[i < 0 ? 0 : i];
}

/* The interval's verdict, with the figures behind it. A rate fails only when its 95 % interval
 * lies wholly past the bar, so a small sample does not roll back on noise. */
static int analyse(Run *r, const RouteAnalysis *a, Sbuf *sb) {
   if (r->req < a->min_samples) {
      Sbuf_printf(sb, "inconclusive: %ld candidate requests in the interval, the analysis needs %ld", r->req,
                  a->min_samples);
      return VERDICT_INCONCLUSIVE;
   }
   int v = VERDICT_PASS;
   double lo, hi, n = (double)r->req;
   wilson95(r->err, r->req, &lo, &hi);
   bool bad = lo > a->max_error_rate;
   Sbuf_printf(sb, "error rate %.1f %% (n=%ld) %s %.1f %%", 100 * (double)r->err / n, r->req, bad ? ">" : "<=",
               100 * a->max_error_rate);
   v = bad ? VERDICT_FAIL : v;
   double p = p95(r);
   if (a->max_p95_ms > 0) {
      bad = p > a->max_p95_ms;
      Sbuf_printf(sb, "; p95 %.0f ms %s %.0f ms", p, bad ? ">" : "<=", a->max_p95_ms);
      v = bad ? VERDICT_FAIL : v;
   } else {
      Sbuf_printf(sb, "; p95 %.0f ms", p);
   }
   wilson95(r->fb, r->req, &lo, &hi);
   bad = lo > a->max_fallback_rate;
   Sbuf_printf(sb, "; fallbacks %.1f %% %s %.1f %%", 100 * (double)r->fb / n, bad ? ">" : "<=",
               100 * a->max_fallback_rate);
   v = bad ? VERDICT_FAIL : v;
   if (r->agree_n > 0) {
      wilson95(r->agree_k, r->agree_n, &lo, &hi);
      bad = hi < a->min_agreement;
      Sbuf_printf(sb, "; agreement %.1f %% (95 %% CI %.1f-%.1f, n=%ld verified this step) %s %.1f %%",
                  100 * (double)r->agree_k / (double)r->agree_n, 100 * lo, 100 * hi, r->agree_n, bad ? "<" : ">=",
                  100 * a->min_agreement);
      v = bad ? VERDICT_FAIL : v;
   } else {
      Sbuf_printf(sb, "; agreement not verified yet this step (verify share %g %%)", Canary_verify_percent(r->route));
   }
   return v;
}

static void log_check(Canary *c, Run *r, int verdict, const char *detail) {
   if (r->n_log == LOG_MAX) {
      free(r->log[0].detail);
      memmove(r->log, r->log + 1, (LOG_MAX - 1) * sizeof *r->log);
      r->n_log--;
   }
   Check *k = &r->log[r->n_log++];
   k->seq = ++c->seq;
   now_iso8601(k->ts);
   k->verdict = verdict;
   k->percent = r->percent;
   k->detail = xstrdup(detail);
   r->checks_total[verdict]++;
}

static void log_decision(Run *r, const char *kind, const char *from, const char *to, const char *reason) {
   if (r->n_dec == DECISIONS_MAX) {
      free(r->dec[0].reason);
      memmove(r->dec, r->dec + 1, (DECISIONS_MAX - 1) * sizeof *r->dec);
      r->n_dec--;
   }
   Decision *d = &r->dec[r->n_dec++];
   now_iso8601(d->ts);
   d->kind = kind;
   snprintf(d->from, sizeof d->from, "%s", from);
   snprintf(d->to, sizeof d->to, "%s", to);
   d->reason = xstrdup(reason);
}

/* ---- writes, through the route writer ---- */

/* The check as a line of the task's rollout log; nothing when the task is not in the
 * workspace's inventory (a route may serve a task nobody has added). */
static bool record_job(Store *st, RouteSave *s, char **err) {
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *q = Store_prepare(st, "INSERT INTO rollout_events(task_id, ts, kind, percent, actor, detail)"
                                       " SELECT id, ?1, ?2, ?3, 'gateway', ?4 FROM tasks WHERE name = ?5");
   sqlite3_bind_text(q, 1, ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(q, 2, s->kind, -1, SQLITE_STATIC);
   sqlite3_bind_int64(q, 3, s->num);
   sqlite3_bind_text(q, 4, s->reason, -1, SQLITE_STATIC);
   sqlite3_bind_text(q, 5, s->actor, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(q) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "recording a canary check");
   sqlite3_finalize(q);
   return ok;
}

static void record_done(RouteSave *s, void *arg) {
   Canary *c = arg;
   c->records--;
   if (!s->ok)
      fprintf(stderr, "offramp gateway: canary %s: check not recorded in the rollout log: %s\n", s->actor, s->err);
   RouteSave_free(s);
}

static void record_check(Canary *c, Run *r, int verdict, const char *detail) {
   if (c->records >= RECORDS_MAX) {
      c->records_dropped++;
      return;
   }
   char *err = NULL;
   RouteWriter *w = c->host.writer(c->host.arg, &err);
   if (!w) {
      fprintf(stderr, "offramp gateway: canary %s: check not recorded: %s\n", r->task, err);
      free(err);
      return;
   }
   RouteSave *s = xcalloc(1, sizeof *s);
   s->job = record_job;
   s->kind = verdict_names[verdict];
   s->num = (long)lround(r->percent);
   s->actor = xstrdup(r->task);
   s->reason = xstrdup(detail);
   s->arg = c;
   s->done = record_done;
   c->records++;
   RouteWriter_submit(w, s);
}

static void describe(const Route *rt, char *buf, size_t size);

/* A promotion serves once saved, as the gate check allows (a rollback serves at once: it is
 * always allowed). */
static void promotion_done(Canary *c, Run *r, RouteSave *s, Route *now) {
   Route *from = r ? r->promoting : NULL;
   if (r)
      r->promoting = NULL;
   char a[32] = "?", b[32];
   if (from)
      describe(from, a, sizeof a);
   describe(s->route, b, sizeof b);
   if (s->ok) {
      /* Unless something else took the route meanwhile (a rollback, an admin change). */
      if (from && now == from) {
         fprintf(stderr, "offramp gateway: canary %s: promote %s -> %s: %s\n", s->route->task, a, b, s->reason);
         log_decision(r, "promote", a, b, s->reason);
         r->promotions++;
         c->host.put(c->host.arg, Route_ref(s->route));
      }
   } else if (s->verdict.refused) {
      Sbuf why = { 0 };
      Sbuf_printf(&why, "the gate check refused it:%s", s->verdict.unmet);
      fprintf(stderr, "offramp gateway: canary %s: promote %s -> %s held: %s\n", s->route->task, a, b, why.buf);
      if (r) {
         r->promote_refused = true;
         log_decision(r, "promotion refused", a, b, why.buf);
      }
      Sbuf_free(&why);
   } else {
      fprintf(stderr, "offramp gateway: canary %s: promote %s -> %s not saved (the next passing check tries again): "
                      "%s\n", s->route->task, a, b, s->err);
   }
   Route_unref(from);
}

static void change_done(RouteSave *s, void *arg) {
   Canary *c = arg;
   c->pending--;
   Run *r = run_find(c, s->route->task);
   int n = 0;
   Route *const *routes = c->host.routes(c->host.arg, &n);
   Route *now = Route_find(routes, n, s->route->task);
   if (!str_eq(s->kind, "rollback")) {
      promotion_done(c, r, s, now);
   } else if (s->ok) {
      /* Saves are written in the order they were given: the last one saved is what the
       * workspace holds, so it is what serves (an admin change saved before it was put
       * in place when it finished). */
      if (now != s->route)
         c->host.put(c->host.arg, Route_ref(s->route));
   } else {
      fprintf(stderr, "offramp gateway: canary %s: the rollback serves but is not saved yet: %s; trying again\n",
              s->route->task, s->err ? s->err : "refused");
      if (r && now == s->route) {
         Route_unref(r->unsaved);
         r->unsaved = Route_ref(s->route);
      }
   }
   RouteSave_free(s);
   c->host.settled(c->host.arg);
}

static void submit_change(Canary *c, Run *r, Route *nr, const char *kind, const char *reason) {
   char *err = NULL;
   RouteWriter *w = c->host.writer(c->host.arg, &err);
   if (!w) {
      fprintf(stderr, "offramp gateway: canary %s: the route change (%s) cannot be saved: %s\n", r->task, kind, err);
      free(err);
      if (str_eq(kind, "rollback")) {
         /* It serves already: tried again at the next tick. */
         Route_unref(r->unsaved);
         r->unsaved = Route_ref(nr);
      } else {
         Route_unref(r->promoting);
         r->promoting = NULL;
      }
      return;
   }
   RouteSave *s = xcalloc(1, sizeof *s);
   s->route = Route_ref(nr);
   s->kind = kind;
   s->actor = xstrdup("gateway");
   s->reason = xstrdup(reason);
   s->arg = c;
   s->done = change_done;
   c->pending++;
   RouteWriter_submit(w, s);
}

static void describe(const Route *rt, char *buf, size_t size) {
   if (rt->mode == ROUTE_CANARY)
      snprintf(buf, size, "canary %g %%", rt->percent);
   else
      snprintf(buf, size, "%s", Route_mode_name(rt->mode));
}

/* The route with another mode and share; NULL when it does not validate (it did before). */
static Route *route_moved(const Route *rt, RouteMode mode, double percent) {
   json_t *j = Route_to_json(rt);
   json_object_set_new(j, "mode", json_string(Route_mode_name(mode)));
   json_object_set_new(j, "percent", json_real(percent));
   char *err = NULL;
   Route *nr = Route_from_json(rt->task, j, &err);
   json_decref(j);
   if (!nr) {
      fprintf(stderr, "offramp gateway: canary %s: %s\n", rt->task, err);
      free(err);
   }
   return nr;
}

/* Serves nr at once and saves it; the run follows. */
/* Serves the rollback at once and saves it; the run ends. */
static void change(Canary *c, Run *r, Route *nr, const char *reason) {
   char from[32], to[32];
   describe(r->route, from, sizeof from);
   describe(nr, to, sizeof to);
   fprintf(stderr, "offramp gateway: canary %s: rollback %s -> %s: %s\n", r->task, from, to, reason);
   log_decision(r, "rollback", from, to, reason);
   c->host.put(c->host.arg, Route_ref(nr));
   submit_change(c, r, nr, "rollback", reason);
   r->state = "rolled back";
   run_leave(r, nr);
}

static void rollback(Canary *c, Run *r, const char *detail) {
   const RouteAnalysis *a = &r->route->analysis;
   Route *nr = route_moved(r->route, ROUTE_SHADOW, r->route->percent);
   if (!nr)
      return;
   char *why = xasprintf("canary analysis: %d failed checks (limit %d) at canary %g %%, rolled back to shadow: %s",
                         r->failed, a->failure_limit, r->percent, detail);
   r->rollbacks++;
   change(c, r, nr, why);
   free(why);
   Route_unref(nr);
}

static void promote(Canary *c, Run *r, const char *detail, double now) {
   const RouteAnalysis *a = &r->route->analysis;
   int next = -1;
   for (int i = 0; i < a->n_steps && next < 0; i++) {
      if (a->steps[i] > r->percent + 1e-9)
         next = a->steps[i];
   }
   if (next < 0)
      return;   /* the last step below 100 %: cutover is a human's call */
   Route *nr = route_moved(r->route, next >= 100 ? ROUTE_CUTOVER : ROUTE_CANARY, next);
   if (!nr)
      return;
   char *why = xasprintf("canary analysis: auto-promote after %.0f s at canary %g %% without a failed check (%d "
                         "passed): %s", now - r->clean_since, r->percent, r->step_passed, detail);
   Route_unref(r->promoting);
   r->promoting = Route_ref(r->route);
   submit_change(c, r, nr, "set", why);
   free(why);
   Route_unref(nr);
}

static void check(Canary *c, Run *r, double now) {
   const RouteAnalysis *a = &r->route->analysis;
   Sbuf sb = { 0 };
   int v = analyse(r, a, &sb);
   r->next_check += a->interval_s;
   if (r->next_check <= now)
      r->next_check = now + a->interval_s;
   run_window_reset(r);
   if (v == VERDICT_FAIL) {
      r->failed++;
      r->step_failed++;
      r->clean_since = now;
      Sbuf_printf(&sb, " (failed check %d of %d)", r->failed, a->failure_limit);
   } else if (v == VERDICT_PASS) {
      r->step_passed++;
   }
   log_check(c, r, v, sb.buf);
   record_check(c, r, v, sb.buf);
   if (v == VERDICT_FAIL && r->failed >= a->failure_limit)
      rollback(c, r, sb.buf);
   else if (v == VERDICT_PASS && a->auto_promote && !r->promoting && !r->promote_refused &&
            now - r->clean_since >= a->dwell_s)
      promote(c, r, sb.buf, now);
   Sbuf_free(&sb);
}

static void on_tick(evutil_socket_t fd, short what, void *arg) {
   Canary *c = arg;
   double now = mono_seconds();
   int n = 0;
   Route *const *routes = c->host.routes(c->host.arg, &n);
   for (Run **pp = &c->runs; *pp;) {
      Run *r = *pp;
      Route *rt = Route_find(routes, n, r->task);
      if (!rt) {
         /* The route is gone (a reload without it). */
         *pp = r->next;
         run_free(r);
         continue;
      }
      pp = &r->next;
   }
   for (int i = 0; i < n; i++) {
      Route *rt = routes[i];
      Run *r = run_find(c, rt->task);
      if (r && r->unsaved) {
         Route *u = r->unsaved;
         r->unsaved = NULL;
         if (u == rt)
            submit_change(c, r, u, "rollback", r->n_dec ? r->dec[r->n_dec - 1].reason : "canary analysis");
         Route_unref(u);
      }
      bool analysed = rt->mode == ROUTE_CANARY && rt->analysis.enabled && rt->candidate.url;
      if (!analysed) {
         if (r && r->active)
            run_leave(r, rt);
         continue;
      }
      if (!r) {
         r = xcalloc(1, sizeof *r);
         r->task = xstrdup(rt->task);
         r->next = c->runs;
         c->runs = r;
      }
      if (r->route != rt)
         run_enter(r, rt, now);
      else if (now >= r->next_check)
         check(c, r, now);
   }
}

Canary *Canary_new(struct event_base *base, const CanaryHost *host) {
   Canary *c = xcalloc(1, sizeof *c);
   c->host = *host;
   c->rng = 0x9e3779b97f4a7c15ULL;
   c->tick = event_new(base, -1, EV_PERSIST, on_tick, c);
   struct timeval tv = { 0, TICK_US };
   event_add(c->tick, &tv);
   return c;
}

void Canary_free(Canary *c) {
   if (!c)
      return;
   event_free(c->tick);
   while (c->runs) {
      Run *next = c->runs->next;
      run_free(c->runs);
      c->runs = next;
   }
   free(c);
}

long Canary_pending(const Canary *c) {
   return c ? c->pending : 0;
}

/* ---- what the admin API and /metrics show ---- */

static json_t *run_json(const Run *r, double now) {
   json_t *checks = json_array(), *decisions = json_array();
   for (int i = 0; i < r->n_log; i++) {
      const Check *k = &r->log[i];
      json_array_append_new(checks, json_pack("{s:I, s:s, s:s, s:f, s:s}", "seq", (json_int_t)k->seq, "ts", k->ts,
                                              "verdict", verdict_names[k->verdict], "percent", k->percent, "detail",
                                              k->detail));
   }
   for (int i = 0; i < r->n_dec; i++) {
      const Decision *d = &r->dec[i];
      json_array_append_new(decisions, json_pack("{s:s, s:s, s:s, s:s, s:s}", "ts", d->ts, "kind", d->kind, "from",
                                                 d->from, "to", d->to, "reason", d->reason));
   }
   json_t *j = json_pack("{s:s, s:s, s:b, s:I, s:o, s:o}", "task", r->task, "state", r->state, "active", r->active,
                         "failed_checks", (json_int_t)r->failed, "checks", checks, "decisions", decisions);
   if (r->active) {
      const RouteAnalysis *a = &r->route->analysis;
      json_object_set_new(j, "percent", json_real(r->percent));
      json_object_set_new(j, "failure_limit", json_integer(a->failure_limit));
      json_object_set_new(j, "interval_s", json_real(a->interval_s));
      json_object_set_new(j, "next_check_in_s", json_real(fmax(0, r->next_check - now)));
      json_object_set_new(j, "at_step_s", json_real(now - r->step_since));
      json_object_set_new(j, "auto_promote", json_boolean(a->auto_promote));
      json_object_set_new(j, "promotion_refused", json_boolean(r->promote_refused));
      json_object_set_new(j, "dwell_s", json_real(a->dwell_s));
      json_object_set_new(j, "dwell_left_s", json_real(a->auto_promote ? fmax(0, a->dwell_s - (now - r->clean_since)) : 0));
      json_object_set_new(j, "verify_percent", json_real(Canary_verify_percent(r->route)));
      json_object_set_new(j, "interval", json_pack("{s:I, s:I, s:I}", "requests", (json_int_t)r->req, "errors",
                                                   (json_int_t)r->err, "fallbacks", (json_int_t)r->fb));
      json_object_set_new(j, "step_agreement", json_pack("{s:I, s:I}", "agree", (json_int_t)r->agree_k, "n",
                                                         (json_int_t)r->agree_n));
   }
   return j;
}

json_t *Canary_json(Canary *c, const char *task) {
   double now = mono_seconds();
   if (task) {
      Run *r = run_find(c, task);
      return r ? run_json(r, now) : NULL;
   }
   json_t *a = json_array();
   for (Run *r = c->runs; r; r = r->next)
      json_array_append_new(a, run_json(r, now));
   return a;
}

static double m_weight(const Run *r) { return r->active ? r->percent : 0; }
static double m_failed(const Run *r) { return r->failed; }
static double m_rollbacks(const Run *r) { return (double)r->rollbacks; }
static double m_promotions(const Run *r) { return (double)r->promotions; }

void Canary_prometheus(Canary *c, Sbuf *out) {
   static const struct {
      const char *name, *type, *help;
      double (*value)(const Run *r);
   } per_task[] = {
      { "offramp_canary_weight", "gauge", "Candidate share of a task in canary under analysis (percent).", m_weight },
      { "offramp_canary_failed_checks", "gauge", "Failed checks in the task's canary run (rollback at the limit).",
        m_failed },
      { "offramp_canary_rollbacks_total", "counter", "Routes the analysis rolled back to shadow.", m_rollbacks },
      { "offramp_canary_promotions_total", "counter", "Steps the analysis took up (auto-promote).", m_promotions },
   };
   for (size_t i = 0; i < ARRAY_SIZE(per_task); i++) {
      Sbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", per_task[i].name, per_task[i].help, per_task[i].name,
                  per_task[i].type);
      for (Run *r = c->runs; r; r = r->next)
         Sbuf_printf(out, "%s{task=\"%s\"} %g\n", per_task[i].name, r->task, per_task[i].value(r));
   }
   Sbuf_puts(out, "# HELP offramp_canary_checks_total Canary analysis checks, by result.\n"
                  "# TYPE offramp_canary_checks_total counter\n");
   for (Run *r = c->runs; r; r = r->next) {
      for (int v = 0; v < VERDICTS; v++)
         Sbuf_printf(out, "offramp_canary_checks_total{task=\"%s\",result=\"%s\"} %lld\n", r->task, verdict_names[v],
                     r->checks_total[v]);
   }
   Sbuf_printf(out, "# HELP offramp_canary_records_dropped_total Checks not written to the rollout log because the "
                    "workspace was behind.\n# TYPE offramp_canary_records_dropped_total counter\n"
                    "offramp_canary_records_dropped_total %lld\n", c->records_dropped);
}
