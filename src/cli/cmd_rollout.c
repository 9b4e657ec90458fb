/* cmd_rollout.c - "offramp rollout": settings, status, the step/abort/promote actions, and
 * watch, which shows what the gateway's own canary analysis decides. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "control/gwadmin.h"
#include "control/phase.h"
#include "control/rollout.h"
#include "control/rolloutctl.h"

static const char usage[] =
   "usage: offramp rollout set TASK [SETTINGS]\n"
   "       offramp rollout status TASK [--json]\n"
   "       offramp rollout step-up|step-down|abort|promote|promote-full TASK [--reason TEXT] [--yes] [--force]\n"
   "       offramp rollout pause|resume TASK [--reason TEXT]\n"
   "       offramp rollout watch TASK [--auto-promote] [--interval S] [--once] [--rounds N]\n"
   "\n"
   "Progressive delivery of the task's candidate through its gateway route (Argo\n"
   "Rollouts / Flagger words): shadow -> canary steps (default 5,10,20,50,100 %) ->\n"
   "cutover at 100 %. step-up/step-down move one step; promote (or any step forward,\n"
   "also one routed by hand) clears a pause; promote-full skips the remaining steps;\n"
   "abort sends all traffic back to the stable arm (the primary) and keeps the\n"
   "candidate in shadow. Leaving\n"
   "shadow needs the shadow gate (N comparisons, lower 95 % bound of agreement >= the\n"
   "task's bar); 100 % needs --yes and the canary gate (every step held for its dwell\n"
   "without a failed check). --force passes a closed gate and says so in the record.\n"
   "Every route change goes through the gateway, which records it (time, actor,\n"
   "reason); the task's phase follows the route (shadow, canary, cutover).\n"
   "\n"
   "The gateway runs the canary analysis itself, whether or not anything watches:\n"
   "every interval, on the candidate's answers of that interval, error rate, p95\n"
   "latency and fallback rate, and agreement with the primary on an automatic verify\n"
   "share (--verify-percent) since the step began. A failed check counts; at the\n"
   "failure limit the gateway rolls the route back to shadow and records it (route\n"
   "history, actor gateway, the figures). Too few requests in an interval is\n"
   "inconclusive: it neither fails nor promotes. With auto-promote the gateway takes\n"
   "the next step after each dwell without a failed check (the 100 % step is\n"
   "cutover; pause turns it off). The settings go to the gateway with the route ('set'\n"
   "sends them when the task has a route there; steps send them too).\n"
   "\n"
   "The gateway's changes pass the gate check like everyone's: a rollback moves the\n"
   "phase back with it; a promotion to cutover needs the canary gate, which counts the\n"
   "failed checks the gateway recorded at the step (refused, it is held there).\n"
   "\n"
   "watch shows what the gateway decides (GET /admin/rollout/TASK): each check, each\n"
   "rollback, promotion or refused promotion.\n"
   "--interval S polls every S seconds (default: the analysis interval);\n"
   "--auto-promote turns auto-promote on in the gateway's route first.\n"
   "\n"
   "settings (set):\n"
   "  --steps LIST              candidate share per step, rising, e.g. 5,10,20,50,100\n"
   "  --dwell S                 seconds a step is held before the next (300)\n"
   "  --interval S              analysis interval in seconds (60)\n"
   "  --failure-limit N         failed checks before the automatic rollback (3)\n"
   "  --max-error-rate X        candidate error rate trigger, 0-1 (0.02)\n"
   "  --min-agreement X         agreement trigger, 0-1 (default: the task's bar)\n"
   "  --max-p95-ms N            candidate p95 latency trigger (0 = off)\n"
   "  --max-fallback-rate X     fallback rate trigger, 0-1 (0.25)\n"
   "  --min-samples N           fewer candidate requests per interval: inconclusive (20)\n"
   "  --hosting-cost USD        monthly cost of serving the candidate (savings)\n"
   "  --auto-promote            the gateway steps up after each dwell without a failed\n"
   "                            check (--no-auto-promote: steps are a human's)\n"
   "  --verify-percent N        share of the candidate's canary answers also asked of the\n"
   "                            primary, for the agreement check (10)\n"
   "\n"
   "common options:\n"
   "  --gateway URL             the gateway (default $OFFRAMP_GATEWAY, else\n"
   "                            http://127.0.0.1:8400)\n"
   "  --admin-token-file FILE   admin token (default $OFFRAMP_ADMIN_TOKEN)\n"
   "  -h, --help                this help\n";

static double fraction(const char *opt, const char *v) {
   double d;
   if (!parse_double(v, &d) || d < 0 || d > 1) {
      exit(Cli_bad_value("rollout", opt, v, "a fraction from 0 to 1 (e.g. 0.02 for 2 %%)"));
   }
   return d;
}

static double seconds(const char *opt, const char *v) {
   double d;
   if (!parse_double(v, &d) || d <= 0 || d > 86400) {
      exit(Cli_bad_value("rollout", opt, v, "a number of seconds (0 < S <= 86400)"));
   }
   return d;
}

static void print_event(json_t *ev) {
   json_t *old = json_object_get(ev, "old"), *nw = json_object_get(ev, "new");
   printf("  %s %s %s: %s", json_string_value(json_object_get(ev, "ts")), json_string_value(json_object_get(ev, "actor")),
          json_string_value(json_object_get(ev, "kind")),
          json_is_object(old) ? json_string_value(json_object_get(old, "mode")) : "(none)");
   if (json_is_object(old) && str_eq(json_string_value(json_object_get(old, "mode")), "canary"))
      printf(" %g %%", json_number_value(json_object_get(old, "percent")));
   printf(" -> %s", json_string_value(json_object_get(nw, "mode")));
   if (str_eq(json_string_value(json_object_get(nw, "mode")), "canary"))
      printf(" %g %%", json_number_value(json_object_get(nw, "percent")));
   const char *why = json_string_value(json_object_get(ev, "reason"));
   printf(why && *why ? " \"%s\"\n" : "\n", why);
}

static int status(Store *st, const GwAdmin *gw, Task *t, bool as_json) {
   /* The gateway may have rolled back or promoted on its own since: the phase follows first. */
   char *moved = NULL, *ferr = NULL;
   if (!Rollout_follow_gateway(st, t->name, &moved, &ferr))
      fprintf(stderr, "offramp rollout: the phase could not follow the gateway's route: %s\n", ferr);
   else if (moved) {
      char *name = xstrdup(t->name);
      Task_clear(t);
      Task_init(t);
      if (Task_get(st, name, t, &ferr) && !as_json)
         printf("%s\n", moved);
      free(name);
   }
   free(moved);
   free(ferr);
   RolloutSettings s;
   RolloutState state;
   Rollout_load(st, t->id, &s, &state);
   char *err = NULL, *tq = GwAdmin_escape(t->name), *path = xasprintf("/admin/routes/%s", tq);
   json_t *gwj = GwAdmin_ok(gw, "GET", path, NULL, &err);
   free(path);
   free(tq);
   json_t *route = json_object_get(gwj, "route"), *hist = json_object_get(gwj, "history");
   json_t *log = Rollout_log(st, t->id, 20);
   /* Where the gateway's own analysis stands (none when unreachable). */
   tq = GwAdmin_escape(t->name);
   path = xasprintf("/admin/rollout/%s", tq);
   char *aerr = NULL;
   json_t *now = err ? NULL : GwAdmin_ok(gw, "GET", path, NULL, &aerr);
   free(aerr);
   free(path);
   free(tq);
   Gate shadow;
   GateCheck canary;
   Phase_gate_from(st, t, PHASE_SHADOW, &shadow);
   Rollout_canary_gate(st, t, &canary);
   char steps[ROLLOUT_MAX_STEPS * 4 + 1];
   Rollout_format_steps(&s, steps, sizeof steps);
   if (as_json) {
      json_t *gate = json_array();
      for (int i = 0; i < shadow.n; i++)
         json_array_append_new(gate, json_pack("{s:s, s:b, s:s}", "check", shadow.checks[i].what, "pass",
                                               shadow.checks[i].status == CHECK_PASS, "detail", shadow.checks[i].detail));
      json_t *out = json_pack(
         "{s:s, s:s, s:s, s:f, s:f, s:i, s:f, s:f, s:f, s:f, s:I, s:f, s:i, s:b, s:s, s:i, s:i, s:o, s:{s:b, s:s},"
         " s:o, s:o, s:o, s:s?}",
         "task", t->name, "phase", t->phase, "steps", steps, "dwell_s", s.dwell_s, "interval_s", s.interval_s,
         "failure_limit", s.failure_limit, "max_error_rate", s.max_error_rate, "min_agreement",
         Rollout_agreement_bar(&s, t, NULL), "max_p95_ms", s.max_p95_ms, "max_fallback_rate",
         s.max_fallback_rate, "min_samples", (json_int_t)s.min_samples, "hosting_cost", s.hosting_cost, "position",
         state.pos, "paused", state.paused, "pause_reason", state.pause_reason, "failures", state.failures, "held",
         Rollout_held(&s, &state, (double)time(NULL)), "shadow_gate", gate, "canary_gate", "pass",
         canary.status == CHECK_PASS, "detail", canary.detail, "route", route ? json_incref(route) : json_null(),
         "history", hist ? json_incref(hist) : json_array(), "analysis", log, "gateway_error", err);
      json_object_set_new(out, "gateway_analysis", now ? json_incref(now) : json_null());
      Cli_print_json(out);
   } else {
      if (json_is_object(route)) {
         const char *mode = json_string_value(json_object_get(route, "mode"));
         printf("%s: route %s", t->name, mode);
         if (str_eq(mode, "canary"))
            printf(" %g %%", json_number_value(json_object_get(route, "percent")));
      } else {
         printf("%s: route unknown (%s)", t->name, err ? err : "no route on the gateway");
      }
      printf(", phase %s; steps %s", t->phase, steps);
      if (state.pos >= 0)
         printf(" (at step %d of %d)", state.pos + 1, s.n_steps);
      printf("\n  analysis every %g s, failure limit %d (failed checks at this step: %d), dwell %g s per step\n",
             s.interval_s, s.failure_limit, state.failures, s.dwell_s);
      const char *bar_source;
      double bar = Rollout_agreement_bar(&s, t, &bar_source);
      printf("  triggers: error rate <= %.1f %%, agreement >= %.1f %% (bar: %s), fallbacks <= %.1f %%",
             100 * s.max_error_rate, 100 * bar, bar_source, 100 * s.max_fallback_rate);
      if (s.max_p95_ms > 0)
         printf(", p95 <= %g ms", s.max_p95_ms);
      printf("; inconclusive under %ld requests\n", s.min_samples);
      if (state.paused)
         printf("  PAUSED: %s (offramp rollout resume %s)\n", state.pause_reason, t->name);
      if (json_is_true(json_object_get(now, "active")))
         printf("  the gateway's analysis: %s, %lld of %lld failed checks, next check in %.0f s, auto-promote %s\n",
                json_string_value(json_object_get(now, "state")),
                (long long)json_integer_value(json_object_get(now, "failed_checks")),
                (long long)json_integer_value(json_object_get(now, "failure_limit")),
                json_number_value(json_object_get(now, "next_check_in_s")),
                json_is_true(json_object_get(now, "auto_promote")) ? "on" : "off");
      else if (now)
         printf("  the gateway's analysis: %s (it checks a route while it is in canary)\n",
                json_string_value(json_object_get(now, "state")));
      printf("  gate shadow -> canary: %s\n", shadow.open ? "open" : "closed");
      for (int i = 0; i < shadow.n; i++)
         printf("    [%s] %s: %s\n", shadow.checks[i].status == CHECK_PASS ? "ok" : "no", shadow.checks[i].what,
                shadow.checks[i].detail);
      printf("  gate canary -> cutover: %s\n    [%s] %s: %s\n", canary.status == CHECK_PASS ? "open" : "closed",
             canary.status == CHECK_PASS ? "ok" : "no", canary.what, canary.detail);
      printf("route history (the gateway's record):\n");
      size_t i;
      json_t *ev;
      json_array_foreach(hist, i, ev) print_event(ev);
      if (json_array_size(hist) == 0)
         printf("  (none%s)\n", err ? ": gateway not reachable" : "");
      printf("analysis log:\n");
      json_array_foreach(log, i, ev) {
         printf("  %s %s at %lld %%: %s\n", json_string_value(json_object_get(ev, "ts")),
                json_string_value(json_object_get(ev, "kind")), (long long)json_integer_value(json_object_get(ev, "percent")),
                json_string_value(json_object_get(ev, "detail")));
      }
      if (json_array_size(log) == 0)
         printf("  (no checks yet: the gateway checks a route while it is in canary)\n");
      json_decref(log);
   }
   free(err);
   json_decref(gwj);
   json_decref(now);
   return EXIT_OK;
}

/* The route's analysis block set from the settings (and auto_promote / verify_percent when
 * given, < 0 not), sent to the gateway. *msg: its answer, or why not. */
static bool push_analysis(const GwAdmin *gw, const Task *t, const RolloutSettings *s, int auto_promote,
                          double verify, const char *why, char **msg) {
   char *tq = GwAdmin_escape(t->name), *path = xasprintf("/admin/routes/%s", tq);
   json_t *j = GwAdmin_ok(gw, "GET", path, NULL, msg), *route = json_object_get(j, "route");
   bool ok = false;
   free(path);
   if (j && !json_is_object(route)) {
      *msg = xasprintf("task %s has no route on the gateway yet", t->name);
   } else if (j) {
      Rollout_analysis_to_route(s, t->agreement_bar, route);
      json_t *a = json_object_get(route, "analysis");
      if (auto_promote >= 0)
         json_object_set_new(a, "auto_promote", json_boolean(auto_promote));
      if (verify >= 0)
         json_object_set_new(a, "verify_percent", json_real(verify));
      char *r = GwAdmin_escape(why), *body = json_dumps(route, JSON_COMPACT);
      path = xasprintf("/admin/routes/%s?reason=%s", tq, r);
      json_t *done = GwAdmin_ok(gw, "PUT", path, body, msg);
      if (done) {
         json_t *na = json_object_get(json_object_get(done, "route"), "analysis");
         *msg = xasprintf("gateway: analysis every %g s, failure limit %lld, auto-promote %s, verify %g %%",
                          json_number_value(json_object_get(na, "interval_s")),
                          (long long)json_integer_value(json_object_get(na, "failure_limit")),
                          json_is_true(json_object_get(na, "auto_promote")) ? "on" : "off",
                          json_number_value(json_object_get(na, "verify_percent")));
         ok = true;
      }
      json_decref(done);
      free(path);
      free(body);
      free(r);
   }
   json_decref(j);
   free(tq);
   return ok;
}

static int watch(Store *st, GwAdmin *gw, const char *task, double interval, long rounds) {
   volatile sig_atomic_t *stop = Cli_catch_stop(false);
   RolloutWatch w = { 0 };
   int rc = EXIT_OK;
   for (long r = 0; r < rounds && !*stop; r++) {
      char *msg = NULL;
      if (Rollout_watch_round(st, gw, task, &w, &msg)) {
         if (*msg)
            printf("%s\n", msg);
      } else {
         fprintf(stderr, "offramp rollout watch: %s\n", msg);
         rc = EXIT_ERROR;
      }
      fflush(stdout);
      free(msg);
      if (r + 1 == rounds)
         break;
      struct timespec ts = { (time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9) };
      while (!*stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
         ;
   }
   Cli_release_stop();
   return rc;
}

int cmd_rollout(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, usage))
      return EXIT_OK;
   enum { O_GW = 256, O_TOKEN, O_REASON, O_JSON, O_YES, O_FORCE, O_STEPS, O_DWELL, O_INTERVAL, O_LIMIT, O_ERR,
          O_AGREE, O_P95, O_FB, O_MINS, O_HOST, O_AUTO, O_NOAUTO, O_VERIFY, O_ONCE, O_ROUNDS };
   static const struct option opts[] = {
      { "gateway", required_argument, NULL, O_GW },
      { "admin-token-file", required_argument, NULL, O_TOKEN },
      { "reason", required_argument, NULL, O_REASON },
      { "json", no_argument, NULL, O_JSON },
      { "yes", no_argument, NULL, O_YES },
      { "force", no_argument, NULL, O_FORCE },
      { "steps", required_argument, NULL, O_STEPS },
      { "dwell", required_argument, NULL, O_DWELL },
      { "interval", required_argument, NULL, O_INTERVAL },
      { "failure-limit", required_argument, NULL, O_LIMIT },
      { "max-error-rate", required_argument, NULL, O_ERR },
      { "min-agreement", required_argument, NULL, O_AGREE },
      { "max-p95-ms", required_argument, NULL, O_P95 },
      { "max-fallback-rate", required_argument, NULL, O_FB },
      { "min-samples", required_argument, NULL, O_MINS },
      { "hosting-cost", required_argument, NULL, O_HOST },
      { "auto-promote", no_argument, NULL, O_AUTO },
      { "no-auto-promote", no_argument, NULL, O_NOAUTO },
      { "verify-percent", required_argument, NULL, O_VERIFY },
      { "once", no_argument, NULL, O_ONCE },
      { "rounds", required_argument, NULL, O_ROUNDS },
      { 0 },
   };
   const char *gateway = NULL, *token_file = NULL, *steps = NULL;
   RolloutOpts o = { 0 };
   bool as_json = false, changed = false;
   int auto_promote = -1;
   double interval = 0, dwell = -1, err_rate = -1, agree = -2, p95 = -1, fb = -1, host = -1, verify = -1;
   long limit = -1, min_samples = -1, rounds = -1;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      double d;
      switch (c) {
      case O_GW: gateway = optarg; break;
      case O_TOKEN: token_file = optarg; break;
      case O_REASON: o.reason = optarg; break;
      case O_JSON: as_json = true; break;
      case O_YES: o.confirmed = true; break;
      case O_FORCE: o.force = true; break;
      case O_STEPS: steps = optarg; changed = true; break;
      case O_DWELL: dwell = seconds("--dwell", optarg); changed = true; break;
      case O_INTERVAL: interval = seconds("--interval", optarg); break;
      case O_LIMIT: limit = Cli_long("rollout", "--failure-limit", optarg, 1, 1000); changed = true; break;
      case O_ERR: err_rate = fraction("--max-error-rate", optarg); changed = true; break;
      case O_AGREE: agree = fraction("--min-agreement", optarg); changed = true; break;
      case O_P95: p95 = (double)Cli_long("rollout", "--max-p95-ms", optarg, 0, 3600000); changed = true; break;
      case O_FB: fb = fraction("--max-fallback-rate", optarg); changed = true; break;
      case O_MINS: min_samples = Cli_long("rollout", "--min-samples", optarg, 1, 1000000000); changed = true; break;
      case O_HOST:
         if (!parse_double(optarg, &d) || d < 0 || d > 1e9) {
            return Cli_bad_value("rollout", "--hosting-cost", optarg, "an amount of USD per month from 0 (e.g. 400)");
         }
         host = d;
         changed = true;
         break;
      case O_AUTO: auto_promote = 1; break;
      case O_NOAUTO: auto_promote = 0; break;
      case O_VERIFY:
         if (!parse_double(optarg, &d) || d < 0 || d > 100) {
            return Cli_bad_value("rollout", "--verify-percent", optarg, "a percentage from 0 to 100");
         }
         verify = d;
         break;
      case O_ONCE: rounds = 1; break;
      case O_ROUNDS: rounds = Cli_long("rollout", "--rounds", optarg, 1, 1000000); break;
      default: return Cli_bad_option("rollout", argc, argv);
      }
   }
   const char *action = optind < argc ? argv[optind] : NULL;
   const char *task = optind + 1 < argc ? argv[optind + 1] : NULL;
   RolloutAction act = ROLLOUT_STEP_UP;
   bool is_act = action && RolloutAction_parse(action, &act);
   if (!action || (!is_act && !str_eq(action, "set") && !str_eq(action, "status") && !str_eq(action, "watch")))
      return Cli_usage_error("rollout", action ? "unknown action '%s' (set, status, step-up, step-down, abort, promote, "
                                                 "promote-full, pause, resume, watch)"
                                               : "missing action%s", action ? action : "");
   if (!task)
      return Cli_usage_error("rollout", "%s needs a TASK", action);
   if (optind + 2 < argc)
      return Cli_usage_error("rollout", "unexpected argument '%s'", argv[optind + 2]);
   Store *st = Cli_open(cli, false);
   Task t;
   Task_init(&t);
   char *err = NULL;
   int rc = EXIT_ERROR;
   GwAdmin gw = { 0 };
   if (!Task_get(st, task, &t, &err)) {
      fprintf(stderr, "offramp rollout: %s\n", err);
      goto out;
   }
   if (str_eq(action, "set")) {
      RolloutSettings s;
      RolloutState state;
      Rollout_load(st, t.id, &s, &state);
      if (steps && !Rollout_parse_steps(steps, &s, &err)) {
         fprintf(stderr, "offramp rollout: %s\n", err);
         rc = EXIT_USAGE;
         goto out;
      }
      if (dwell >= 0) s.dwell_s = dwell;
      if (interval > 0) s.interval_s = interval;
      if (limit > 0) s.failure_limit = (int)limit;
      if (err_rate >= 0) s.max_error_rate = err_rate;
      if (agree >= 0) s.min_agreement = agree;
      if (p95 >= 0) s.max_p95_ms = p95;
      if (fb >= 0) s.max_fallback_rate = fb;
      if (min_samples > 0) s.min_samples = min_samples;
      if (host >= 0) s.hosting_cost = host;
      if (!changed && interval <= 0 && auto_promote < 0 && verify < 0) {
         fprintf(stderr, "offramp rollout: set %s changes nothing (see --help for the settings)\n", task);
         rc = EXIT_USAGE;
         goto out;
      }
      if (!Rollout_save(st, t.id, &s, &state, &err)) {
         fprintf(stderr, "offramp rollout: %s\n", err);
         goto out;
      }
      char buf[ROLLOUT_MAX_STEPS * 4 + 1];
      Rollout_format_steps(&s, buf, sizeof buf);
      printf("%s: steps %s, dwell %g s, interval %g s, failure limit %d, max error rate %g, max fallback rate %g, "
             "hosting %g USD/month\n", t.name, buf, s.dwell_s, s.interval_s, s.failure_limit, s.max_error_rate,
             s.max_fallback_rate, s.hosting_cost);
      /* The gateway runs the analysis: it gets the settings with the route. auto-promote and the
       * verify share live in the route only. */
      char *msg = NULL;
      bool gw_ok = GwAdmin_init(&gw, st, gateway, token_file, &msg) &&
                   push_analysis(&gw, &t, &s, auto_promote, verify, "rollout settings", &msg);
      if (gw_ok) {
         printf("%s\n", msg);
         rc = EXIT_OK;
      } else if (auto_promote >= 0 || verify >= 0) {
         fprintf(stderr, "offramp rollout: %s: --auto-promote and --verify-percent are set on the gateway's route: "
                         "%s (set the route first: offramp route set %s --mode shadow ...)\n", t.name, msg, t.name);
      } else {
         printf("(the gateway gets them with the next step: %s)\n", msg);
         rc = EXIT_OK;
      }
      free(msg);
      goto out;
   }
   if (!GwAdmin_init(&gw, st, gateway, token_file, &err)) {
      fprintf(stderr, "offramp rollout: %s\n", err);
      rc = EXIT_USAGE;
      goto out;
   }
   if (str_eq(action, "status")) {
      rc = status(st, &gw, &t, as_json);
   } else if (str_eq(action, "watch")) {
      RolloutSettings s;
      RolloutState state;
      Rollout_load(st, t.id, &s, &state);
      rc = EXIT_OK;
      if (auto_promote >= 0) {
         char *msg = NULL;
         if (push_analysis(&gw, &t, &s, auto_promote, -1, auto_promote ? "auto-promote on (rollout watch)"
                                                                        : "auto-promote off (rollout watch)", &msg)) {
            printf("%s: %s\n", t.name, msg);
         } else {
            fprintf(stderr, "offramp rollout watch: %s\n", msg);
            rc = EXIT_ERROR;
         }
         free(msg);
      }
      if (rc == EXIT_OK)
         rc = watch(st, &gw, t.name, interval > 0 ? interval : s.interval_s, rounds > 0 ? rounds : 1L << 40);
   } else {
      char *msg = NULL;
      ActResult r = Rollout_act(st, &gw, t.name, act, &o, &msg);
      fprintf(r == ACT_OK ? stdout : stderr, "%s%s\n", r == ACT_OK ? "" : "offramp rollout: ", msg);
      if (r == ACT_CONFIRM)
         fprintf(stderr, "(add --yes to go to 100 %%)\n");
      free(msg);
      rc = r == ACT_OK ? EXIT_OK : r == ACT_ERROR ? EXIT_ERROR : EXIT_GATE;
   }
out:
   GwAdmin_clear(&gw);
   free(err);
   Task_clear(&t);
   Store_close(st);
   return rc;
}
