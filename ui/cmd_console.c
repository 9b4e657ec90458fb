/* cmd_console.c - "offramp console" and "offramp demo": the console's entry points. */
#include "config.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "console.h"
#include "demo.h"
#include "demoscript.h"
#include "util.h"

static const char console_usage[] =
   "usage: offramp [-w FILE] console [--help]\n"
   "\n"
   "Open the console on the workspace: the ranked inventory, each task's phase\n"
   "stepper, gate, score editor and timeline, and the phase runbooks. Press ? inside\n"
   "for the keys. NO_COLOR turns colour off. OFFRAMP_SCRIPT=FILE runs headless from a\n"
   "key script (lines of keys, or :commands such as :save-display FILE).\n";

int cmd_console(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, console_usage))
      return EXIT_OK;
   if (argc > 1)
      return Cli_usage_error("console", "unexpected argument '%s'", argv[1]);
   Store *st = Cli_open(cli, true);
   int rc = Console_run(st, NULL);
   Store_close(st);
   return rc;
}

static const char demo_usage[] =
   "usage: offramp [-w FILE] demo [--reset] [--no-console [--no-logs]] [--script] [--scale X]\n"
   "\n"
   "The whole migration on one machine, offline: a demo workspace (default\n"
   "$XDG_DATA_HOME/offramp/demo.db, never your own) seeded with five touchpoints shaped\n"
   "like a real app's audit and 14 days of their API logs (offramp demo-logs), imported.\n"
   "Then it starts on loopback a replay server standing in for the frontier API (recorded\n"
   "answers, 400 ms latency), the built-in trainer (backend demo-trainer) and the gateway\n"
   "(its URL and admin token go into the workspace settings, so offramp route finds them),\n"
   "and opens the console on the audit view. The status line shows the services; leaving\n"
   "the console stops them. Logs are in <workspace>.data/demo/.\n"
   "\n"
   "In the console, on content-classification: score it (+/- s), build its dataset (d),\n"
   "train (t, then n and p to pick), :eval, :shadow with :replay 20 for traffic, :canary 10,\n"
   "then :canary 50, :cutover, and r for each phase's runbook.\n"
   "\n"
   "  --reset        start the demo workspace afresh (deletes it and its data directory)\n"
   "  --no-console   set the workspace up and print its path; start no services\n"
   "  --no-logs      with --no-console: the five touchpoints only, no generated logs\n"
   "  --script       run the path headless, from a fresh workspace (default demo-script.db\n"
   "                 beside demo.db), and print each phase's figures: audit table,\n"
   "                 dataset, training, evaluation, shadow agreement, canary, cutover\n"
   "                 fallbacks (exit 0 when every phase got through, 3 when a gate refused)\n"
   "  --scale X      volume of the generated logs (default 0.1; 1 = the demo app's)\n";

int cmd_demo(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, demo_usage))
      return EXIT_OK;
   bool reset = false, console = true, script = false, logs = true;
   DemoParams dp;
   DemoParams_defaults(&dp);
   for (int i = 1; i < argc; i++) {
      if (str_eq(argv[i], "--reset")) {
         reset = true;
      } else if (str_eq(argv[i], "--no-console")) {
         console = false;
      } else if (str_eq(argv[i], "--no-logs")) {
         logs = false;
      } else if (str_eq(argv[i], "--script")) {
         script = true;
      } else if (str_eq(argv[i], "--scale") && i + 1 < argc) {
         if (!parse_double(argv[++i], &dp.scale) || dp.scale <= 0 || dp.scale > 100)
            return Cli_usage_error("demo", "--scale '%s' is not a volume factor from 0 to 100", argv[i]);
      } else {
         return Cli_usage_error("demo", "unknown argument '%s'", argv[i]);
      }
   }
   if (!logs && (console || script))
      return Cli_usage_error("demo", "--no-logs goes with --no-console (the console and --script need the logs)");
   char *path = cli->workspace ? xstrdup(cli->workspace) : Demo_default_path();
   if (script && !cli->workspace) {
      /* The script starts afresh every time: on its own workspace, never the demo you walk. */
      char *dot = strrchr(path, '.'), *p = xasprintf("%.*s-script.db", (int)(dot - path), path);
      free(path);
      path = p;
   }
   reset = reset || script;
   char *err = NULL;
   if (reset && !Store_remove(path, &err)) {
      fprintf(stderr, "offramp demo: %s\n", err);
      free(err);
      free(path);
      return EXIT_ERROR;
   }
   Cli demo = { .workspace = path };
   Store *st = Cli_open(&demo, true);
   double t0 = mono_seconds();
   int rc = EXIT_OK;
   DemoEnv env = { 0 };
   if (!logs ? !Demo_seed(st, &err) : !Demo_populate(st, &dp, script || !console ? stdout : stderr, &err)) {
      rc = EXIT_ERROR;
   } else if (!console && !script) {
      printf("demo workspace ready: %s\n", path);
   } else if (!Demo_start(st, &dp, &env, &err)) {
      rc = EXIT_ERROR;
   } else if (script) {
      char status[256];
      Demo_status(&env, NULL, status, sizeof status);
      printf("offramp demo --script: workspace %s\nsetup      %.1f s: %s\n", path, mono_seconds() - t0, status);
      fflush(stdout);
      DemoScriptParams sp;
      DemoScriptParams_defaults(&sp);
      curl_global_init(CURL_GLOBAL_DEFAULT);
      rc = Demo_script(st, &env, &sp, stdout);
      curl_global_cleanup();
   } else {
      rc = Console_run_demo(st, &env);
   }
   Demo_stop(&env);
   if (err) {
      fprintf(stderr, "offramp demo: %s\n", err);
      free(err);
   }
   Store_close(st);
   free(path);
   return rc;
}
