/* cmd_console.c - "offramp console" and "offramp demo": the console's entry points. */
#include "config.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"
#include "console.h"
#include "demo/demo.h"
#include "demo/demoscript.h"

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
      return Cli_usage_error("console", argv[1][0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", argv[1]);
   Store *st = Cli_open(cli, true);
   int rc = Console_run(st, NULL);
   Store_close(st);
   return rc;
}

static const char demo_usage[] =
   "usage: offramp [-w FILE] demo [--reset] [--no-console [--no-logs]] [--script] [--scale X]\n"
   "       offramp [-w FILE] demo --clean\n"
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
   "  --scale X      volume of the generated logs (default 0.1; 1 = the demo app's)\n"
   "  --clean        delete the demo workspaces (demo.db, demo-script.db and their data\n"
   "                 directories: generated logs, datasets, models; a few hundred MB) and\n"
   "                 say how much that freed\n";

/* The --script workspace beside the demo's: demo.db -> demo-script.db. */
static char *script_path(const char *path) {
   const char *dot = strrchr(path, '.');
   int stem = dot && !strchr(dot, '/') ? (int)(dot - path) : (int)strlen(path);
   return xasprintf("%.*s-script.db", stem, path);
}

static void fmt_size(char *buf, size_t size, long long bytes) {
   if (bytes >= 1000000)
      snprintf(buf, size, "%.0f MB", (double)bytes / 1e6);
   else
      snprintf(buf, size, "%.0f kB", (double)bytes / 1e3);
}

/* The demo workspaces and what they hold on disk, removed with --clean, said when leaving. */
static long long demo_disk_usage(const char *path) {
   char *sp = script_path(path);
   long long n = Store_disk_usage(path) + Store_disk_usage(sp);
   free(sp);
   return n;
}

static int demo_clean(const char *path) {
   char *paths[2] = { xstrdup(path), script_path(path) };
   long long freed = 0;
   int rc = EXIT_OK;
   for (int i = 0; i < 2; i++) {
      long long n = Store_disk_usage(paths[i]);
      char *err = NULL;
      if (!Store_remove(paths[i], &err)) {
         fprintf(stderr, "offramp demo: %s\n", err);
         free(err);
         rc = EXIT_ERROR;
      } else {
         freed += n;
      }
      free(paths[i]);
   }
   char sz[32];
   fmt_size(sz, sizeof sz, freed);
   if (rc == EXIT_OK)
      printf("demo workspaces removed: %s freed\n", sz);
   return rc;
}

int cmd_demo(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, demo_usage))
      return EXIT_OK;
   bool reset = false, console = true, script = false, logs = true, clean = false;
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
      } else if (str_eq(argv[i], "--clean")) {
         clean = true;
      } else if (str_eq(argv[i], "--scale") && i + 1 < argc) {
         if (!parse_double(argv[++i], &dp.scale) || dp.scale <= 0 || dp.scale > 100)
            return Cli_bad_value("demo", "--scale", argv[i], "a volume factor from 0 to 100");
      } else {
         return Cli_usage_error("demo", argv[i][0] == '-' ? "unknown option '%s'" : "unexpected argument '%s'", argv[i]);
      }
   }
   if (!logs && (console || script))
      return Cli_usage_error("demo", "--no-logs goes with --no-console (the console and --script need the logs)");
   if (clean && (argc > 2))
      return Cli_usage_error("demo", "--clean goes alone (it deletes the demo workspaces)");
   char *path = cli->workspace ? xstrdup(cli->workspace) : Demo_default_path();
   if (clean) {
      int rc = demo_clean(path);
      free(path);
      return rc;
   }
   if (script && !cli->workspace) {
      /* The script starts afresh every time: on its own workspace, never the demo you walk. */
      char *p = script_path(path);
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
   if (console && !script) {
      char sz[32];
      fmt_size(sz, sizeof sz, demo_disk_usage(cli->workspace ? cli->workspace : path));
      fprintf(stderr, "offramp demo: the demo workspaces take %s on disk (offramp demo --clean deletes them)\n", sz);
   }
   if (err) {
      fprintf(stderr, "offramp demo: %s\n", err);
      free(err);
   }
   Store_close(st);
   free(path);
   return rc;
}
