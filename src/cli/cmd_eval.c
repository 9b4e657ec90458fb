/* cmd_eval.c - "offramp eval" (run, list, show, compare, apply-threshold) and "offramp report". */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"
#include "control/deploy.h"
#include "control/eval.h"
#include "control/phase.h"
#include "control/report.h"
#include "control/task.h"

static const char eval_usage[] =
   "usage: offramp eval TASK [--candidate BACKEND:MODEL] [--reference BACKEND:MODEL]\n"
   "                         [--dataset ID | --test-file FILE] [options]\n"
   "       offramp eval list TASK [--json]\n"
   "       offramp eval show RUN [--json]\n"
   "       offramp eval compare RUN RUN... [--json]\n"
   "       offramp eval apply-threshold TASK [RUN]\n"
   "\n"
   "Sends every held-out test row to the candidate (and the reference model, when given;\n"
   "otherwise the frontier's logged answer is the reference), then computes accuracy,\n"
   "per-class precision/recall/F1, format compliance, consistency, latency, tokens and\n"
   "cost per 1,000 requests, and the confidence/coverage curve. Every finished request is\n"
   "kept: re-running the same command resumes an interrupted run.\n"
   "\n"
   "A model is BACKEND:MODEL (the backends table) or URL|MODEL with an OpenAI-compatible\n"
   "base URL, e.g. 'http://127.0.0.1:8402/v1|intent-3'. Without --candidate, the experiment\n"
   "the task picked in training.\n"
   "\n"
   "options:\n"
   "  --dataset ID            the dataset's test split (default: the task's latest)\n"
   "  --test-file FILE        a test.jsonl in chat fine-tuning format (train.jsonl beside it\n"
   "                          adds to the label set)\n"
   "  --concurrency N         requests in flight (8)\n"
   "  --repeat-sample K       ask K more times at the model's default temperature, on a\n"
   "                          sample of rows, for consistency (0: skip)\n"
   "  --repeat-rows N         rows in that sample (20)\n"
   "  --timeout-ms MS         per request (30000)\n"
   "  --retries N             retries on connection errors, 429 and 5xx (3)\n"
   "  --backoff-ms MS         first retry delay, doubling (500)\n"
   "  --max-tokens N          (default: from the longest expected answer)\n"
   "  --compare MODE          label, exact, json, text or tool_calls (default: the route's, else from\n"
   "                          the task's output kind)\n"
   "  --bar FRACTION          accuracy bar for the recommended threshold (the task's\n"
   "                          agreement bar)\n"
   "  --price-in USD, --price-out USD        candidate price per 1M tokens\n"
   "  --ref-price-in USD, --ref-price-out USD reference price per 1M tokens\n"
   "  --fresh                 start a new run even if an unfinished one matches\n"
   "  --set-min-confidence    store the recommended threshold as the task's min_confidence\n"
   "  --json                  print the metrics as JSON\n"
   "\n"
   "Load (the performance figures): --load N streams --requests R (default 50) chat requests,\n"
   "N in flight at once, the test set's rows in turn, to the task's active deployment (offramp\n"
   "deploy), then the same requests the same way to the frontier given as --reference. Per\n"
   "request it times the first content token (TTFT) and the whole answer, and the decode speed\n"
   "(completion tokens over the time after the first token); it prints p50/p99 of TTFT and\n"
   "latency in ms and tokens/s with the number of requests answered, side by side, and keeps\n"
   "them on the deployment: offramp report shows them.\n"
   "\n"
   "Exit status: 0 when the run finished, 1 on errors or when interrupted (run the\n"
   "same command again to resume), 2 on usage errors.\n";

static const char report_usage[] =
   "usage: offramp report TASK [--run N] [--json] [--out FILE] [--setup-cost USD]\n"
   "\n"
   "The migration report: audit figures, dataset, experiments, evaluation runs, the latest\n"
   "evaluation (or --run N) with its per-class table and confidence curve, the\n"
   "evaluate -> shadow gate, and the rollout: agreement with its 95 % CI while each\n"
   "route was in force, the route history, fallbacks by reason, verified agreement,\n"
   "graded disagreements, the analysis log, and the savings (the API calls still made\n"
   "plus the hosting set with offramp rollout set --hosting-cost) with the break-even\n"
   "in months of a one-off cost given as --setup-cost (default 0). Markdown by default,\n"
   "JSON with --json.\n"
   "\n"
   "Exit status: 0 when the gate passes, 3 when it does not, 1 on errors.\n";

typedef struct {
   double started, last;
   size_t first_done;
} Progress;

static void progress(void *ctx, size_t done, size_t total) {
   Progress *p = ctx;
   double now = mono_seconds();
   if (p->started == 0) {
      p->started = now;
      p->first_done = done ? done - 1 : 0;
   }
   if (now - p->last < 0.1 && done < total)
      return;
   p->last = now;
   double rate = (double)(done - p->first_done) / (now - p->started > 1e-3 ? now - p->started : 1e-3);
   double eta = rate > 0 ? (double)(total - done) / rate : 0;
   int fill = total ? (int)(30.0 * (double)done / (double)total) : 30;
   char bar[31], a[32], b[32];
   memset(bar, '#', (size_t)fill);
   memset(bar + fill, '.', (size_t)(30 - fill));
   bar[30] = '\0';
   fprintf(stderr, "\r[%s] %s/%s requests  %.1f/s  ETA %d:%02d ", bar, fmt_count(a, sizeof a, (long long)done),
           fmt_count(b, sizeof b, (long long)total), rate, (int)(eta / 60), (int)fmod(eta, 60));
   fflush(stderr);
}

static double cli_double(const char *option, const char *value, double min, double max) {
   double v;
   if (!parse_double(value, &v) || v < min || v > max) {
      exit(Cli_bad_value("eval", option, value, "a number from %g to %g", min, max));
   }
   return v;
}

static void print_rate(const char *name, const json_t *arm, const char *key) {
   const json_t *r = json_object_get(arm, key);
   if (!r)
      return;
   char buf[96];
   Eval_fmt_rate(buf, sizeof buf, (long)json_integer_value(json_object_get(r, "k")),
                 (long)json_integer_value(json_object_get(r, "n")));
   printf("  %-20s %s\n", name, buf);
}

static void print_arm(const char *title, const json_t *a) {
   printf("%s: %s%s\n", title, json_string_value(json_object_get(a, "model")),
          str_eq(json_string_value(json_object_get(a, "source")), "logged") ? " (logged answers: the gold)" : "");
   print_rate("accuracy", a, "accuracy");
   print_rate("field accuracy", a, "field_accuracy");
   print_rate("argument accuracy", a, "argument_accuracy");
   const json_t *tm = json_object_get(a, "metric");
   if (tm) {
      char n[32];
      printf("  %-20s mean %.1f points (n=%s); an answer agrees at %.0f or more\n",
             json_string_value(json_object_get(tm, "name")), 100 * json_number_value(json_object_get(tm, "mean")),
             fmt_count(n, sizeof n, json_integer_value(json_object_get(tm, "n"))),
             100 * json_number_value(json_object_get(tm, "threshold")));
   }
   print_rate("format compliance", a, "format");
   size_t fi;
   const json_t *ff;
   json_array_foreach(json_object_get(a, "format_failures"), fi, ff)
      printf("  %-20s %lld x %s\n", fi ? "" : "format failures", (long long)json_integer_value(json_object_get(ff, "n")),
             json_string_value(json_object_get(ff, "why")));
   print_rate("consistency", a, "consistency");
   const json_t *l = json_object_get(a, "latency_ms");
   if (json_integer_value(json_object_get(l, "n")) > 0)
   {
      char n[32];
      printf("  %-20s p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (n=%s)\n", "latency",
             json_number_value(json_object_get(l, "p50")), json_number_value(json_object_get(l, "p95")),
             json_number_value(json_object_get(l, "p99")), fmt_count(n, sizeof n, json_integer_value(json_object_get(l, "n"))));
   }
   const json_t *c = json_object_get(a, "cost_per_1k");
   char m[32];
   printf("  %-20s %s\n", "cost per 1,000", json_is_number(c) ? fmt_money(m, sizeof m, json_number_value(c), -1) : "unpriced");
   if (json_object_get(a, "errors"))
      printf("  %-20s %lld errors, %lld timeouts, %lld malformed\n", "failures",
             (long long)json_integer_value(json_object_get(a, "errors")),
             (long long)json_integer_value(json_object_get(a, "timeouts")),
             (long long)json_integer_value(json_object_get(a, "malformed")));
}

static void print_summary(long long run, const json_t *m) {
   printf("run %lld: %lld test rows from %s, compared as %s\n", run, (long long)json_integer_value(json_object_get(m, "n")),
          json_string_value(json_object_get(json_object_get(m, "test_set"), "source")),
          json_string_value(json_object_get(m, "compare")));
   print_arm("candidate", json_object_get(m, "candidate"));
   print_arm("reference", json_object_get(m, "reference"));
   EvalHeadline h;
   Eval_headline(m, &h);
   EvalTaskMetric tm;
   if (Eval_task_metric(m, &tm))
      printf("task metric: %s %.1f points, reference %.1f\n", tm.name, 100 * tm.value, 100 * tm.reference);
   if (!h.has_logprobs)
      printf("confidence: the candidate returned no logprobs; no coverage curve, no min_confidence\n");
   else if (h.threshold < 0)
      printf("confidence: no threshold reaches the accuracy bar %.1f %%\n", 100 * h.bar);
   else
      printf("confidence: recommended min_confidence %.2f: %.1f %% coverage at %.1f %% accuracy (bar %.1f %%)\n",
             h.threshold, 100 * h.coverage, 100 * h.covered_accuracy, 100 * h.bar);
}

static void print_gate(Store *st, const char *task) {
   Task t;
   Task_init(&t);
   char *err = NULL;
   if (!Task_get(st, task, &t, &err)) {
      free(err);
      return;
   }
   Gate g;
   Phase_gate_from(st, &t, PHASE_EVALUATE, &g);
   printf("gate evaluate -> shadow: %s\n", g.open ? "passed" : "not passed");
   for (int i = 0; i < g.n; i++)
      printf("  %s %s: %s\n", g.checks[i].status == CHECK_PASS ? "ok  " : g.checks[i].status == CHECK_FAIL ? "FAIL" : "miss",
             g.checks[i].what, g.checks[i].detail);
   Task_clear(&t);
}

/* A run id given as an argument, or as the value of option opt (report --run). */
static long long run_arg(const char *cmd, const char *opt, const char *s) {
   long v;
   if (!parse_long(s, &v) || v <= 0) {
      if (opt)
         exit(Cli_bad_value(cmd, opt, s, "a run id (a number: offramp eval list TASK)"));
      exit(Cli_usage_error(cmd, "'%s' is not a run id (a number: offramp eval list TASK)", s));
   }
   return v;
}

static int eval_list(Store *st, const char *task, bool json) {
   Task t;
   Task_init(&t);
   char *err = NULL;
   if (!Task_get(st, task, &t, &err)) {
      fprintf(stderr, "offramp: %s\n", err);
      free(err);
      return EXIT_ERROR;
   }
   sqlite3_stmt *s = Store_prepare(st, "SELECT id FROM eval_runs WHERE task_id = ? ORDER BY id");
   sqlite3_bind_int64(s, 1, t.id);
   json_t *arr = json_array();
   if (!json)
      printf("%-5s %-10s %-22s %-32s %s\n", "RUN", "STATUS", "ACCURACY", "CANDIDATE", "TEST SET");
   while (sqlite3_step(s) == SQLITE_ROW) {
      EvalRunInfo r;
      if (!Eval_get_run(st, sqlite3_column_int64(s, 0), &r, &err))
         continue;
      const json_t *acc = json_object_get(json_object_get(r.metrics, "candidate"), "accuracy");
      if (json) {
         json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:O?}", "run", (json_int_t)r.id, "status",
                                              r.status, "candidate", r.candidate, "reference", r.reference, "dataset",
                                              r.dataset, "created_at", r.created_at, "accuracy", acc));
      } else {
         char a[40] = "-";
         if (acc)
            snprintf(a, sizeof a, "%.1f %% (n=%lld)", 100 * json_number_value(json_object_get(acc, "value")),
                     (long long)json_integer_value(json_object_get(acc, "n")));
         printf("%-5lld %-10s %-22s %-32s %s\n", r.id, r.status, a, r.candidate, r.dataset);
      }
      EvalRunInfo_clear(&r);
   }
   sqlite3_finalize(s);
   if (json)
      Cli_print_json(arr);
   else
      json_decref(arr);
   Task_clear(&t);
   return EXIT_OK;
}

static int eval_compare(Store *st, int argc, char **argv, bool json) {
   long long *ids = xcalloc((size_t)argc, sizeof *ids);
   for (int i = 0; i < argc; i++)
      ids[i] = run_arg("eval", NULL, argv[i]);
   char *err = NULL;
   json_t *c = Eval_compare(st, ids, argc, &err);
   free(ids);
   if (!c) {
      fprintf(stderr, "offramp eval compare: %s\n", err);
      free(err);
      return EXIT_ERROR;
   }
   if (json) {
      Cli_print_json(c);
      return EXIT_OK;
   }
   size_t i;
   json_t *r;
   printf("%-5s %-32s %-38s %-38s\n", "RUN", "CANDIDATE", "ACCURACY", "FORMAT");
   json_array_foreach(json_object_get(c, "runs"), i, r) {
      char a[96], f[96];
      const json_t *acc = json_object_get(r, "accuracy"), *fmt = json_object_get(r, "format");
      Eval_fmt_rate(a, sizeof a, (long)json_integer_value(json_object_get(acc, "k")), (long)json_integer_value(json_object_get(acc, "n")));
      Eval_fmt_rate(f, sizeof f, (long)json_integer_value(json_object_get(fmt, "k")), (long)json_integer_value(json_object_get(fmt, "n")));
      printf("%-5lld %-32s %-38s %-38s\n", (long long)json_integer_value(json_object_get(r, "run")),
             json_string_value(json_object_get(r, "candidate")), a, f);
   }
   printf("\nMcNemar exact test on the paired answers:\n");
   json_array_foreach(json_object_get(c, "mcnemar"), i, r) {
      printf("  run %lld vs run %lld: only %lld right %lld, only %lld right %lld, p = %.4g: %s\n",
             (long long)json_integer_value(json_object_get(r, "a")), (long long)json_integer_value(json_object_get(r, "b")),
             (long long)json_integer_value(json_object_get(r, "a")), (long long)json_integer_value(json_object_get(r, "only_a_right")),
             (long long)json_integer_value(json_object_get(r, "b")), (long long)json_integer_value(json_object_get(r, "only_b_right")),
             json_number_value(json_object_get(r, "p_value")), json_string_value(json_object_get(r, "verdict")));
   }
   json_decref(c);
   return EXIT_OK;
}

static int apply_threshold(Store *st, const char *task, long long run) {
   double v;
   char *err = NULL;
   if (!Eval_apply_threshold(st, task, run, &v, &err)) {
      fprintf(stderr, "offramp eval apply-threshold: %s\n", err);
      free(err);
      return EXIT_ERROR;
   }
   printf("%s: min_confidence set to %.2f (the route's fallback.min_confidence takes it)\n", task, v);
   return EXIT_OK;
}

/* offramp eval TASK --load N: the deployed model and the frontier under the same load. */
static int eval_load(Cli *cli, const char *task, const EvalOpts *o, int concurrency, int requests, bool json) {
   if (!o->reference)
      return Cli_usage_error("eval", "--load measures the frontier beside the deployed model: give the frontier as "
                                     "--reference BACKEND:MODEL or 'URL|MODEL' (e.g. --reference openai:gpt-4o-mini)");
   if (o->candidate || o->dataset || o->test_file)
      return Cli_usage_error("eval", "--load measures the task's active deployment on its version's test set: "
                                     "--candidate, --dataset and --test-file do not apply");
   Store *st = Cli_open(cli, false);
   EvalEndpoint fe;
   LoadResult r, f;
   char *err = NULL;
   int rc = EXIT_OK;
   memset(&fe, 0, sizeof fe);
   if (!Eval_endpoint(st, o->reference, &fe, &err) ||
       !Deploy_load(st, task, concurrency, requests, o->timeout_ms, &fe, &r, &f, &err)) {
      fprintf(stderr, "offramp eval --load: %s\n", err);
      free(err);
      rc = EXIT_ERROR;
   } else {
      Task t;
      Task_init(&t);
      json_t *j = Task_get(st, task, &t, &err) ? Deploy_load_figures(st, t.id) : NULL;
      Task_clear(&t);
      free(err);
      if (json) {
         Cli_print_json(j ? j : json_null());
      } else {
         json_t *l = json_object_get(j, "load");
         char *name = xasprintf("v%lld %s", (long long)json_integer_value(json_object_get(l, "version")),
                                json_string_value(json_object_get(l, "model")));
         char *txt = Deploy_load_text(name, &r, fe.model, &f);
         fputs(txt, stdout);
         printf("kept on deployment %lld (%s at %s): offramp report %s shows them\n",
                (long long)json_integer_value(json_object_get(j, "deployment")),
                json_string_value(json_object_get(j, "kind")), json_string_value(json_object_get(j, "server")), task);
         free(txt);
         free(name);
         json_decref(j);
      }
   }
   EvalEndpoint_clear(&fe);
   Store_close(st);
   return rc;
}

int cmd_eval(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, eval_usage))
      return EXIT_OK;
   enum { O_CAND = 256, O_REF, O_DATASET, O_TESTFILE, O_CONC, O_REPEAT, O_REPROWS, O_TIMEOUT, O_RETRIES, O_BACKOFF,
          O_MAXTOK, O_COMPARE, O_BAR, O_PIN, O_POUT, O_RPIN, O_RPOUT, O_FRESH, O_SETMIN, O_JSON, O_LOAD, O_REQUESTS };
   static const struct option opts[] = {
      { "candidate", required_argument, NULL, O_CAND }, { "reference", required_argument, NULL, O_REF },
      { "dataset", required_argument, NULL, O_DATASET }, { "test-file", required_argument, NULL, O_TESTFILE },
      { "concurrency", required_argument, NULL, O_CONC }, { "repeat-sample", required_argument, NULL, O_REPEAT },
      { "repeat-rows", required_argument, NULL, O_REPROWS }, { "timeout-ms", required_argument, NULL, O_TIMEOUT },
      { "retries", required_argument, NULL, O_RETRIES }, { "backoff-ms", required_argument, NULL, O_BACKOFF },
      { "max-tokens", required_argument, NULL, O_MAXTOK }, { "compare", required_argument, NULL, O_COMPARE },
      { "bar", required_argument, NULL, O_BAR }, { "price-in", required_argument, NULL, O_PIN },
      { "price-out", required_argument, NULL, O_POUT }, { "ref-price-in", required_argument, NULL, O_RPIN },
      { "ref-price-out", required_argument, NULL, O_RPOUT }, { "fresh", no_argument, NULL, O_FRESH },
      { "set-min-confidence", no_argument, NULL, O_SETMIN }, { "json", no_argument, NULL, O_JSON },
      { "load", required_argument, NULL, O_LOAD }, { "requests", required_argument, NULL, O_REQUESTS },
      { 0 },
   };
   EvalOpts o;
   EvalOpts_defaults(&o);
   bool json = false, set_min = false;
   long load = 0, requests = 50;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case O_CAND: o.candidate = optarg; break;
      case O_REF: o.reference = optarg; break;
      case O_DATASET: o.dataset = optarg; break;
      case O_TESTFILE: o.test_file = optarg; break;
      case O_CONC: o.concurrency = (int)Cli_long("eval", "--concurrency", optarg, 1, 256); break;
      case O_REPEAT: o.repeat = (int)Cli_long("eval", "--repeat-sample", optarg, 0, 20); break;
      case O_REPROWS: o.repeat_rows = (int)Cli_long("eval", "--repeat-rows", optarg, 1, 100000); break;
      case O_TIMEOUT: o.timeout_ms = Cli_long("eval", "--timeout-ms", optarg, 1, 3600000); break;
      case O_RETRIES: o.max_attempts = 1 + (int)Cli_long("eval", "--retries", optarg, 0, 10); break;
      case O_BACKOFF: o.backoff_ms = Cli_long("eval", "--backoff-ms", optarg, 0, 60000); break;
      case O_MAXTOK: o.max_tokens = (int)Cli_long("eval", "--max-tokens", optarg, 1, 100000); break;
      case O_COMPARE: o.compare = optarg; break;
      case O_BAR: o.bar = cli_double("--bar", optarg, 0, 1); break;
      case O_PIN: o.price_in = cli_double("--price-in", optarg, 0, 1e6); break;
      case O_POUT: o.price_out = cli_double("--price-out", optarg, 0, 1e6); break;
      case O_RPIN: o.ref_price_in = cli_double("--ref-price-in", optarg, 0, 1e6); break;
      case O_RPOUT: o.ref_price_out = cli_double("--ref-price-out", optarg, 0, 1e6); break;
      case O_FRESH: o.fresh = true; break;
      case O_SETMIN: set_min = true; break;
      case O_JSON: json = true; break;
      case O_LOAD: load = Cli_long("eval", "--load", optarg, 1, 256); break;
      case O_REQUESTS: requests = Cli_long("eval", "--requests", optarg, 1, 100000); break;
      default: return Cli_bad_option("eval", argc, argv);
      }
   }
   argc -= optind;
   argv += optind;
   if (argc == 0)
      return Cli_usage_error("eval", "missing TASK");
   if (str_eq(argv[0], "list") || str_eq(argv[0], "show") || str_eq(argv[0], "compare") ||
       str_eq(argv[0], "apply-threshold")) {
      const char *sub = argv[0];
      if (argc < 2 || (str_eq(sub, "compare") && argc < 3))
         return Cli_usage_error("eval", "%s needs %s", sub, str_eq(sub, "compare") ? "two or more RUN ids" :
                                                          str_eq(sub, "show") ? "a RUN id" : "a TASK");
      Store *st = Cli_open(cli, false);
      int rc = EXIT_OK;
      if (str_eq(sub, "list")) {
         rc = eval_list(st, argv[1], json);
      } else if (str_eq(sub, "compare")) {
         rc = eval_compare(st, argc - 1, argv + 1, json);
      } else if (str_eq(sub, "apply-threshold")) {
         rc = apply_threshold(st, argv[1], argc > 2 ? run_arg("eval", NULL, argv[2]) : 0);
      } else {
         EvalRunInfo r;
         char *err = NULL;
         long long id = run_arg("eval", NULL, argv[1]);
         if (!Eval_get_run(st, id, &r, &err)) {
            fprintf(stderr, "offramp eval show: %s\n", err);
            free(err);
            rc = EXIT_ERROR;
         } else {
            if (json)
               Cli_print_json(json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:O?, s:O?}", "run", (json_int_t)r.id, "task",
                                        r.task, "status", r.status, "candidate", r.candidate, "reference", r.reference,
                                        "dataset", r.dataset, "params", r.params, "metrics", r.metrics));
            else if (r.metrics)
               print_summary(r.id, r.metrics);
            else
               printf("run %lld is %s: re-run its offramp eval command to finish it\n", r.id, r.status);
            EvalRunInfo_clear(&r);
         }
      }
      Store_close(st);
      return rc;
   }
   if (argc > 1)
      return Cli_usage_error("eval", "unexpected argument '%s'", argv[1]);
   if (o.dataset && o.test_file)
      return Cli_usage_error("eval", "give --dataset or --test-file, not both");
   if (load)
      return eval_load(cli, argv[0], &o, (int)load, (int)requests, json);

   Store *st = Cli_open(cli, false);
   Progress p = { 0 };
   if (isatty(STDERR_FILENO)) {
      o.progress = progress;
      o.ctx = &p;
   }
   o.stop = Cli_catch_stop(true);   /* a second ^C kills */
   bool complete;
   size_t resumed;
   char *err = NULL;
   long long run = Eval_run(st, argv[0], &o, &complete, &resumed, &err);
   Cli_release_stop();
   if (o.progress && p.started > 0)
      fputc('\n', stderr);
   int rc = EXIT_OK;
   if (!run) {
      fprintf(stderr, "offramp eval: %s\n", err);
      free(err);
      rc = EXIT_ERROR;
   } else if (!complete) {
      long long kept = Store_count(st, "SELECT count(*) FROM eval_rows WHERE run_id = ?1", run);
      fprintf(stderr, "offramp eval: interrupted; run %lld keeps %lld finished requests: run the same command to resume\n",
              run, kept);
      rc = EXIT_ERROR;
   } else {
      if (resumed)
         fprintf(stderr, "offramp eval: resumed run %lld: %zu requests were already done\n", run, resumed);
      EvalRunInfo r;
      if (!Eval_get_run(st, run, &r, &err)) {
         fprintf(stderr, "offramp eval: %s\n", err);
         free(err);
         rc = EXIT_ERROR;
      } else {
         if (json)
            Cli_print_json(json_pack("{s:I, s:O}", "run", (json_int_t)run, "metrics", r.metrics));
         else
            print_summary(run, r.metrics);
         EvalRunInfo_clear(&r);
         if (set_min)
            rc = apply_threshold(st, argv[0], run);
         if (!json)
            print_gate(st, argv[0]);
      }
   }
   Store_close(st);
   return rc;
}

int cmd_report(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, report_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "run", required_argument, NULL, 'r' },
      { "json", no_argument, NULL, 'j' },
      { "out", required_argument, NULL, 'o' },
      { "setup-cost", required_argument, NULL, 's' },
      { 0 },
   };
   ReportOpts ro = { 0 };
   long long run = 0;
   bool json = false;
   const char *out = NULL;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'r': run = run_arg("report", "--run", optarg); break;
      case 'j': json = true; break;
      case 'o': out = optarg; break;
      case 's':
         if (!parse_double(optarg, &ro.setup_cost) || ro.setup_cost < 0 || ro.setup_cost > 1e9)
            return Cli_bad_value("report", "--setup-cost", optarg, "an amount of USD from 0 (e.g. 2000)");
         break;
      default: return Cli_bad_option("report", argc, argv);
      }
   }
   if (optind >= argc)
      return Cli_usage_error("report", "missing TASK");
   if (optind + 1 < argc)
      return Cli_usage_error("report", "unexpected argument '%s'", argv[optind + 1]);
   Store *st = Cli_open(cli, false);
   char *err = NULL, *text = NULL;
   bool open = false;
   if (json) {
      json_t *j = Report_json_opts(st, argv[optind], run, &ro, &open, &err);
      if (j) {
         text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
         json_decref(j);
      }
   } else {
      text = Report_markdown_opts(st, argv[optind], run, &ro, &open, &err);
   }
   Store_close(st);
   if (!text) {
      fprintf(stderr, "offramp report: %s\n", err);
      free(err);
      return EXIT_ERROR;
   }
   int rc = open ? EXIT_OK : EXIT_GATE;
   if (out) {
      /* Written beside the target and renamed over it: CI never reads half a report. */
      char *tmp = xasprintf("%s.tmp.%ld", out, (long)getpid());
      FILE *f = fopen(tmp, "w");
      bool ok = f && fputs(text, f) >= 0 && (!json || fputc('\n', f) != EOF);
      ok = f && fclose(f) == 0 && ok;
      if (!ok || rename(tmp, out) != 0) {
         fprintf(stderr, "offramp report: cannot write %s (check the directory exists and is writable)\n", out);
         unlink(tmp);
         rc = EXIT_ERROR;
      } else {
         fprintf(stderr, "offramp report: wrote %s (gate %s)\n", out, open ? "passed" : "not passed");
      }
      free(tmp);
   } else {
      fputs(text, stdout);
      if (json)
         fputc('\n', stdout);
   }
   free(text);
   return rc;
}
