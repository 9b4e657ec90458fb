/* cmd_audit.c - "offramp audit", "offramp touchpoints" and "offramp prices": where the
 * money goes, which untagged calls belong together, and what each model costs. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"
#include "control/audit.h"
#include "control/kindinfer.h"
#include "control/prices.h"
#include "control/touchpoints.h"

static const char audit_usage[] =
   "usage: offramp audit [--json] [--since DATE|Nd] [--sort cost|calls|cost-per-call|name] [--task NAME]\n"
   "\n"
   "Where the API money goes, per task (seed 001's table): calls/day, average cost per\n"
   "call, daily and monthly cost, share of the total. Untagged calls appear as\n"
   "discovered touchpoints ('? FINGERPRINT template'; name them with 'offramp\n"
   "touchpoints name'). Costs use the current price table ('offramp prices'); calls of\n"
   "models without a price are counted and flagged, never priced at zero. Monthly =\n"
   "daily x 30, daily = cost / days spanned by the logs.\n"
   "\n"
   "options:\n"
   "  --json          every figure, per task: tokens, latency p50/p95, error rate,\n"
   "                  output shape (distinct outputs, JSON share, label share, length)\n"
   "  --since WHEN    only calls from this day (2026-11-01) or the last N days (7d,\n"
   "                  counted back from the newest logged day)\n"
   "  --sort KEY      table order (default cost)\n"
   "  --task NAME     all figures of one task\n";

static void print_details(const AuditRow *r, const Audit *a) {
   char x[32], y[32], z[32], label[256];
   AuditRow_label(r, label, sizeof label);
   printf("%s\n", label);
   printf("  calls          %s over %d days (%s/day), %.1f %% errors\n", fmt_count(x, sizeof x, r->calls), a->days,
          fmt_count(y, sizeof y, (long long)(r->calls_per_day + 0.5)), 100 * r->error_rate);
   printf("  tokens         %.0f in, %.0f out per call on average%s\n", r->avg_in, r->avg_out,
          r->est_calls ? " (some estimated)" : "");
   if (r->priced_calls)
      printf("  cost (measured) %s per call, %s/day, %s/month, %.1f %% of the total%s\n",
             fmt_money(x, sizeof x, r->avg_cost, 4), fmt_money(y, sizeof y, r->daily_cost, 2),
             fmt_money(z, sizeof z, r->monthly_cost, 0), 100 * r->share, r->unpriced_calls ? " (priced calls only)" : "");
   if (r->unpriced_calls)
      printf("  unpriced       %s calls\n", fmt_count(x, sizeof x, r->unpriced_calls));
   if (r->p50 >= 0)
      printf("  latency        p50 %.0f ms, p95 %.0f ms\n", r->p50, r->p95);
   else
      printf("  latency        not logged\n");
   printf("  output shape   %s%s distinct of %s outputs, %.1f %% valid JSON, %.1f %% in a label set of %d, "
          "%.0f characters on average\n", r->distinct_capped ? ">= " : "", fmt_count(x, sizeof x, r->distinct),
          fmt_count(y, sizeof y, r->outputs), 100 * r->json_share, 100 * r->label_share, AUDIT_LABEL_SET,
          r->avg_out_chars);
}

int cmd_audit(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, audit_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "json", no_argument, NULL, 'j' }, { "since", required_argument, NULL, 's' },
      { "sort", required_argument, NULL, 'o' }, { "task", required_argument, NULL, 't' }, { 0 },
   };
   static const char *const sort_opts[AUDIT_SORT_COUNT] = { "cost", "calls", "cost-per-call", "name" };
   bool json = false;
   const char *since = NULL, *task = NULL;
   AuditSort sort = AUDIT_SORT_COST;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'j': json = true; break;
      case 's': since = optarg; break;
      case 't': task = optarg; break;
      case 'o':
         for (sort = 0; sort < AUDIT_SORT_COUNT && !str_eq(optarg, sort_opts[sort]); sort++)
            ;
         if (sort == AUDIT_SORT_COUNT)
            return Cli_bad_value("audit", "--sort", optarg, "one of cost, calls, cost-per-call, name");
         break;
      default: return Cli_bad_option("audit", argc, argv);
      }
   }
   if (optind < argc)
      return Cli_usage_error("audit", "unexpected argument '%s'", argv[optind]);
   Store *st = Cli_open(cli, false);
   Audit a;
   char *err = NULL;
   if (!Audit_compute(st, since, true, &a, &err)) {
      fprintf(stderr, "offramp audit: %s\n", err);
      free(err);
      Store_close(st);
      return EXIT_USAGE;
   }
   Audit_sort(&a, sort);
   int rc = EXIT_OK;
   const AuditRow *one = NULL;
   if (task) {
      for (int i = 0; i < a.n && !one; i++) {
         if (a.rows[i].name && str_eq(a.rows[i].name, task))
            one = &a.rows[i];
      }
      if (!one) {
         fprintf(stderr, "offramp audit: no logged calls for task '%s' (see 'offramp audit' for the tasks with calls)\n",
                 task);
         rc = EXIT_ERROR;
      }
   }
   if (rc != EXIT_OK) {
   } else if (json) {
      json_t *j = Audit_to_json(&a);
      if (one) {
         size_t i;
         json_t *r;
         json_array_foreach(json_object_get(j, "rows"), i, r) {
            if (str_eq(json_string_value(json_object_get(r, "task")), task)) {
               Cli_print_json(json_incref(r));
               break;
            }
         }
         json_decref(j);
      } else {
         Cli_print_json(j);
      }
   } else if (one) {
      print_details(one, &a);
   } else if (a.calls == 0) {
      printf("No logged calls yet. Import logs with 'offramp import FILE' or point the app at 'offramp gateway'.\n");
   } else {
      char x[32], y[32], line[512];
      printf("audit: %d day%s (%s to %s), %s calls, %s/month on the API (measured)\n\n", a.days, a.days == 1 ? "" : "s",
             a.first_day, a.last_day, fmt_count(x, sizeof x, a.calls), fmt_money(y, sizeof y, a.monthly_cost, 0));
      Audit_header(line, sizeof line, 100);
      printf("%s\n", line);
      for (int i = 0; i < a.n; i++) {
         Audit_row(&a.rows[i], line, sizeof line, 100);
         printf("%s\n", line);
      }
      AuditRow total = { .name = "total", .fingerprint = "", .calls = a.calls, .priced_calls = a.calls - a.unpriced_calls,
                         .unpriced_calls = a.unpriced_calls, .cost = a.cost, .calls_per_day = (double)a.calls / a.days,
                         .daily_cost = a.daily_cost, .monthly_cost = a.monthly_cost, .share = a.cost > 0 ? 1 : 0 };
      total.avg_cost = total.priced_calls ? a.cost / (double)total.priced_calls : 0;
      Audit_row(&total, line, sizeof line, 100);
      printf("%s\n", line);
      for (int i = 0; i < a.nunpriced; i++)
         printf("unpriced: %s calls of model %s (not in the totals; add a price: offramp prices set '%s' IN OUT)\n",
                fmt_count(x, sizeof x, a.unpriced[i].calls), a.unpriced[i].model, a.unpriced[i].model);
      if (a.est_calls)
         printf("estimated tokens: %s calls logged no usage; their tokens are estimated (~4 characters per token)\n",
                fmt_count(x, sizeof x, a.est_calls));
      printf("* share of priced calls only (the row has unpriced calls)\n");
   }
   Audit_free(&a);
   Store_close(st);
   return rc;
}

/* ---- touchpoints ---- */

static const char touchpoints_usage[] =
   "usage: offramp touchpoints [--json]\n"
   "       offramp touchpoints name FINGERPRINT TASK\n"
   "       offramp touchpoints merge FINGERPRINT TASK\n"
   "\n"
   "Untagged calls grouped by their prompt template: the system prompt and the fixed\n"
   "part of the user prompt, with numbers, ids, quoted spans and the variable tail\n"
   "normalised away. 'name' creates a task from a touchpoint, 'merge' attributes it to\n"
   "an existing task; either moves its logged calls and every later call with the\n"
   "same fingerprint. FINGERPRINT may be a unique prefix (6+ hex digits).\n";

int cmd_touchpoints(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, touchpoints_usage))
      return EXIT_OK;
   bool json = false;
   if (!Cli_json_option("touchpoints", argc, argv, &json))
      return EXIT_USAGE;
   int nargs = argc - optind;
   char **args = argv + optind;
   if (nargs > 0 && !str_eq(args[0], "name") && !str_eq(args[0], "merge"))
      return Cli_usage_error("touchpoints", "'%s' is not a touchpoints command (name, merge)", args[0]);
   if (nargs > 0 && nargs != 3)
      return Cli_usage_error("touchpoints", "%s takes FINGERPRINT TASK", args[0]);
   Store *st = Cli_open(cli, false);
   int rc = EXIT_OK;
   if (nargs == 3) {
      char *err = NULL;
      bool create = str_eq(args[0], "name");
      long long moved = Touchpoints_assign(st, args[1], args[2], create, &err);
      if (moved < 0) {
         fprintf(stderr, "offramp touchpoints %s: %s\n", args[0], err);
         free(err);
         rc = EXIT_ERROR;
      } else {
         char x[32];
         printf("%s touchpoint %s %s task '%s': %s calls attributed\n", create ? "named" : "merged", args[1],
                create ? "as" : "into", args[2], fmt_count(x, sizeof x, moved));
         /* The new task's kind from the calls it just got, as an import gives it. */
         json_t *kinds = KindInfer_audit_tasks(st, &err);
         size_t i;
         json_t *k;
         json_array_foreach(kinds, i, k) {
            if (str_eq(json_string_value(json_object_get(k, "task")), args[2]))
               printf("kind of %s: %s (%s)\n", args[2], json_string_value(json_object_get(k, "kind")),
                      json_string_value(json_object_get(k, "reason")));
         }
         if (!kinds) {
            fprintf(stderr, "offramp touchpoints: inferring the output kind: %s\n", err);
            free(err);
         }
         json_decref(kinds);
      }
   } else {
      int n;
      Touchpoint *tp = Touchpoints_list(st, &n);
      if (json) {
         json_t *arr = json_array();
         for (int i = 0; i < n; i++)
            json_array_append_new(arr, Touchpoint_to_json(&tp[i]));
         Cli_print_json(arr);
      } else if (n == 0) {
         printf("No discovered touchpoints: every logged call is attributed to a task.\n");
      } else {
         char x[32];
         for (int i = 0; i < n; i++) {
            printf("%s  %9s calls  %s\n", tp[i].fingerprint, fmt_count(x, sizeof x, tp[i].calls), tp[i].skeleton);
            for (int j = 0; j < tp[i].nsamples; j++)
               printf("    e.g. %.100s\n", tp[i].samples[j]);
         }
         printf("\nName one: offramp touchpoints name FINGERPRINT TASK (or merge it into a task)\n");
      }
      Touchpoints_free(tp, n);
   }
   Store_close(st);
   return rc;
}

/* ---- prices ---- */

static const char prices_usage[] =
   "usage: offramp prices [list] [--json]\n"
   "       offramp prices set MODEL INPUT OUTPUT\n"
   "       offramp prices rm MODEL\n"
   "\n"
   "USD per 1M input and output tokens. The shipped table (share/prices.json) carries\n"
   "the date and source of each figure; 'set' overrides or adds a model in this\n"
   "workspace, 'rm' removes an override. A reported model name matches exactly, else\n"
   "without its provider prefix and its date or version suffix\n"
   "(openai/gpt-4o-mini-2024-07-18 -> gpt-4o-mini). The audit always prices with the\n"
   "current table.\n";

int cmd_prices(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, prices_usage))
      return EXIT_OK;
   bool json = false;
   if (!Cli_json_option("prices", argc, argv, &json))
      return EXIT_USAGE;
   int nargs = argc - optind;
   char **args = argv + optind;
   const char *sub = nargs ? args[0] : "list";
   char *err = NULL;
   int rc = EXIT_OK;
   if (str_eq(sub, "set")) {
      double in, out;
      if (nargs != 4)
         return Cli_usage_error("prices", "set takes MODEL INPUT OUTPUT (USD per 1M tokens)");
      if (!parse_double(args[2], &in) || !parse_double(args[3], &out) || in < 0 || out < 0 || in > 1e6 || out > 1e6)
         return Cli_usage_error("prices", "prices '%s' '%s' are not USD per 1M tokens (e.g. 0.15 0.60)", args[2], args[3]);
      Store *st = Cli_open(cli, true);
      if (!Prices_set(st, args[1], in, out, &err))
         rc = EXIT_ERROR;
      else
         printf("%s: $%g in, $%g out per 1M tokens (workspace override)\n", args[1], in, out);
      Store_close(st);
   } else if (str_eq(sub, "rm")) {
      if (nargs != 2)
         return Cli_usage_error("prices", "rm takes MODEL");
      Store *st = Cli_open(cli, false);
      if (!Prices_remove(st, args[1], &err))
         rc = EXIT_ERROR;
      Store_close(st);
   } else if (str_eq(sub, "list")) {
      if (nargs > 1)
         return Cli_usage_error("prices", "unexpected argument '%s'", args[1]);
      Store *st = NULL;
      char *path = Store_default_path(cli->workspace);
      if (access(path, F_OK) == 0)
         st = Cli_open(cli, false);
      free(path);
      Prices *ps = Prices_load(st, &err);
      if (!ps) {
         rc = EXIT_ERROR;
      } else if (json) {
         json_t *arr = json_array();
         for (int i = 0; i < ps->n; i++)
            json_array_append_new(arr, json_pack("{s:s,s:f,s:f,s:s,s:b}", "model", ps->p[i].model, "input",
                                                 ps->p[i].input, "output", ps->p[i].output, "source", ps->p[i].source,
                                                 "override", ps->p[i].override));
         Cli_print_json(arr);
      } else {
         printf("%-26s %9s %9s  %s\n", "model", "input", "output", "source (USD per 1M tokens)");
         for (int i = 0; i < ps->n; i++)
            printf("%-26s %9.3f %9.3f  %s\n", ps->p[i].model, ps->p[i].input, ps->p[i].output, ps->p[i].source);
      }
      Prices_free(ps);
      Store_close(st);
   } else {
      return Cli_usage_error("prices", "'%s' is not a prices command (list, set, rm)", sub);
   }
   if (err) {
      fprintf(stderr, "offramp prices %s: %s\n", sub, err);
      free(err);
   }
   return rc;
}
