/* cmd_operate.c - "offramp operate" and "offramp versions": the console's operate panel as
 * commands (Rollout_operate's figures, Versions_list). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "control/report.h"
#include "control/rollout.h"
#include "control/task.h"
#include "control/versions.h"

static const char operate_usage[] =
   "usage: offramp operate TASK [--json]\n"
   "\n"
   "The task after cutover, as the console's task view shows it: verified agreement\n"
   "(candidate answers also checked on the primary) and fallback rate over the last\n"
   "24 h against the 7 days before, with a drift alert past the rollout's bars; calls\n"
   "captured since the last dataset; the monthly cost before and now (API calls\n"
   "including fallbacks and verification, plus the hosting set with offramp rollout\n"
   "set --hosting-cost), the saving and the break-even share; and the versions.\n";

static const char versions_usage[] =
   "usage: offramp versions TASK [--limit N] [--json]\n"
   "\n"
   "The task's candidate versions, newest first: dataset -> training job -> model ->\n"
   "the route revision that put it in front (never routed when none did). Route back\n"
   "to one with offramp route set TASK --candidate-model MODEL --reason WHY.\n"
   "\n"
   "  --limit N   versions listed (default 20)\n"
   "  --json      JSON instead of text\n";

static void print_versions(const json_t *v) {
   size_t i;
   json_t *e;
   if (json_array_size(v) == 0)
      printf("  no succeeded experiment yet (offramp train TASK ...)\n");
   json_array_foreach(v, i, e) {
      printf("  experiment %lld: dataset %lld -> job %s -> %s -> ", (long long)json_integer_value(json_object_get(e, "experiment")),
             (long long)json_integer_value(json_object_get(e, "dataset")), json_string_value(json_object_get(e, "job")),
             json_string_value(json_object_get(e, "model")) ? json_string_value(json_object_get(e, "model")) : "(no model)");
      if (json_is_null(json_object_get(e, "route_revision")))
         printf("never routed\n");
      else
         printf("route revision %lld\n", (long long)json_integer_value(json_object_get(e, "route_revision")));
   }
}

/* "97.1 % (n=1,234, 24 h); 96.0 % the week before" */
static void print_trend(const char *what, long long k, long long n, long long kp, long long np, bool drift, double bar,
                        const char *bar_source) {
   char a[32];
   printf("%-20s ", what);
   if (n == 0)
      printf("no data in the last 24 h");
   else
      printf("%.1f %% (n=%s, 24 h)", 100.0 * (double)k / (double)n, fmt_count(a, sizeof a, n));
   if (np > 0)
      printf("; %.1f %% the week before", 100.0 * (double)kp / (double)np);
   if (drift)
      printf("; DRIFT: past the bar");
   printf("\n%-20s bar %.1f %%: %s\n", "", 100 * bar, bar_source);
}

static bool open_task(Cli *cli, const char *cmd, const char *name, Store **st, Task *t) {
   char *err = NULL;
   *st = Cli_open(cli, false);
   Task_init(t);
   if (Task_get(*st, name, t, &err))
      return true;
   fprintf(stderr, "offramp %s: %s\n", cmd, err);
   free(err);
   Task_clear(t);
   Store_close(*st);
   return false;
}

int cmd_operate(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, operate_usage))
      return EXIT_OK;
   bool as_json = false;
   if (!Cli_json_option("operate", argc, argv, &as_json))
      return EXIT_USAGE;
   if (optind >= argc)
      return Cli_usage_error("operate", "missing TASK");
   if (optind + 1 < argc)
      return Cli_usage_error("operate", "unexpected argument '%s'", argv[optind + 1]);
   Store *st;
   Task t;
   if (!open_task(cli, "operate", argv[optind], &st, &t))
      return EXIT_ERROR;
   OperateFigures f;
   RolloutSettings s;
   RolloutState state;
   Rollout_operate(st, &t, &f);
   Rollout_load(st, t.id, &s, &state);
   const char *bar_source;
   double bar = Rollout_agreement_bar(&s, &t, &bar_source);
   static const char fallback_bar_source[] = "the rollout's max_fallback_rate (offramp rollout set --max-fallback-rate)";
   json_t *versions = Versions_list(st, &t, 5);
   if (as_json) {
      Cli_print_json(json_pack(
         "{s:s, s:s, s:{s:o, s:o, s:f, s:s, s:b}, s:{s:o, s:o, s:f, s:s, s:b}, s:{s:I, s:I, s:s?}, s:{s:f, s:f, s:f, s:f, s:I, s:I,"
         " s:o}, s:o}",
         "task", t.name, "phase", t.phase,
         "verified_agreement", "last_24h", Report_rate_json(f.verified_k, f.verified_n), "week_before",
         Report_rate_json(f.verified_k_prev, f.verified_n_prev), "bar", bar, "bar_source", bar_source, "drift", f.drift_agreement,
         "fallback_rate", "last_24h", Report_rate_json(f.fallbacks, f.served), "week_before",
         Report_rate_json(f.fallbacks_prev, f.served_prev), "bar", s.max_fallback_rate, "bar_source", fallback_bar_source, "drift", f.drift_fallback,
         "new_since_dataset", "calls", (json_int_t)f.new_since_dataset, "dataset", (json_int_t)f.dataset_id, "built",
         f.dataset_id ? f.dataset_at : NULL,
         "savings", "cost_before", f.cost_before, "cost_now", f.cost_now, "hosting_cost", s.hosting_cost, "saving",
         f.saving, "api_calls", (json_int_t)f.api_calls, "calls", (json_int_t)f.calls, "breakeven_share",
         f.breakeven_share >= 0 ? json_real(f.breakeven_share) : json_null(),
         "versions", versions));
   } else {
      char a[32], b[32], c[32], d[32], e[32];
      printf("%s: phase %s\n", t.name, t.phase);
      print_trend("verified agreement", f.verified_k, f.verified_n, f.verified_k_prev, f.verified_n_prev,
                  f.drift_agreement, bar, bar_source);
      print_trend("fallback rate", f.fallbacks, f.served, f.fallbacks_prev, f.served_prev, f.drift_fallback,
                  s.max_fallback_rate, fallback_bar_source);
      printf("%-20s %s", "new since dataset", fmt_count(a, sizeof a, f.new_since_dataset));
      if (f.dataset_id)
         printf(" (dataset %lld built %.16s)", f.dataset_id, f.dataset_at);
      printf("\n%-20s %s/month declared before, %s now (API calls %s of %s incl. fallbacks and verification, hosting %s)\n",
             "savings", fmt_money(a, sizeof a, f.cost_before, 0), fmt_money(b, sizeof b, f.cost_now, 0),
             fmt_count(c, sizeof c, f.api_calls), fmt_count(d, sizeof d, f.calls),
             fmt_money(e, sizeof e, s.hosting_cost, 0));
      printf("%-20s %s/month", "saving", fmt_money(a, sizeof a, f.saving, 0));
      if (f.breakeven_share >= 0)
         printf("; break-even: hosting is paid once %.0f %% of the API spend moves to the candidate",
                100 * f.breakeven_share);
      printf("\nversions\n");
      print_versions(versions);
      json_decref(versions);
   }
   Task_clear(&t);
   Store_close(st);
   return EXIT_OK;
}

int cmd_versions(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, versions_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "limit", required_argument, NULL, 'l' },
      { "json", no_argument, NULL, 'j' },
      { 0 },
   };
   long limit = 20;
   bool as_json = false;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'l': limit = Cli_long("versions", "--limit", optarg, 1, 1000); break;
      case 'j': as_json = true; break;
      default: return Cli_bad_option("versions", argc, argv);
      }
   }
   if (optind >= argc)
      return Cli_usage_error("versions", "missing TASK");
   if (optind + 1 < argc)
      return Cli_usage_error("versions", "unexpected argument '%s'", argv[optind + 1]);
   Store *st;
   Task t;
   if (!open_task(cli, "versions", argv[optind], &st, &t))
      return EXIT_ERROR;
   json_t *v = Versions_list(st, &t, (int)limit);
   if (as_json) {
      Cli_print_json(json_pack("{s:s, s:o}", "task", t.name, "versions", v));
   } else {
      printf("%s: versions, newest first\n", t.name);
      print_versions(v);
      json_decref(v);
   }
   Task_clear(&t);
   Store_close(st);
   return EXIT_OK;
}
