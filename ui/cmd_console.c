/* cmd_console.c - "offramp console" and "offramp demo": the console's entry points. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "console.h"
#include "demo.h"
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
   "usage: offramp [-w FILE] demo [--reset] [--no-console]\n"
   "\n"
   "Open the console on a demo workspace (default $XDG_DATA_HOME/offramp/demo.db,\n"
   "never your own workspace) seeded with five touchpoints shaped like a real\n"
   "app's audit: chat responses, content classification, summaries, tone analysis\n"
   "and complex analysis.\n"
   "\n"
   "  --reset        start the demo workspace afresh\n"
   "  --no-console   set the workspace up and print its path, do not open the console\n";

int cmd_demo(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, demo_usage))
      return EXIT_OK;
   bool reset = false, console = true;
   for (int i = 1; i < argc; i++) {
      if (str_eq(argv[i], "--reset"))
         reset = true;
      else if (str_eq(argv[i], "--no-console"))
         console = false;
      else
         return Cli_usage_error("demo", "unknown argument '%s'", argv[i]);
   }
   char *path = cli->workspace ? xstrdup(cli->workspace) : Demo_default_path();
   if (reset) {
      char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);
      unlink(path);
      unlink(wal);
      unlink(shm);
      free(wal);
      free(shm);
   }
   Cli demo = { .workspace = path };
   Store *st = Cli_open(&demo, true);
   char *err = NULL;
   if (!Demo_seed(st, &err)) {
      fprintf(stderr, "offramp: setting up the demo workspace: %s\n", err);
      Store_close(st);
      return EXIT_ERROR;
   }
   int rc = EXIT_OK;
   if (console)
      rc = Console_run(st, NULL);
   else
      printf("demo workspace ready: %s\n", path);
   Store_close(st);
   free(path);
   return rc;
}
