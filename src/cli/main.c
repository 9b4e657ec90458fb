/* main.c - the offramp binary: global options and git-style subcommand dispatch. */
#include "config.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "store/store.h"

const Command Commands[] = {
   { "task", cmd_task, "inventory: add, edit, list, show, remove and score AI touchpoints" },
   { "phase", cmd_phase, "migration phases: show the gate, advance, roll back, history" },
   { "eval", cmd_eval, "evaluate a candidate on the held-out set; compare runs; set min_confidence" },
   { "report", cmd_report, "the migration report (Markdown or JSON); exit 3 when the eval gate fails" },
   { "dataset", cmd_dataset, "build, list, show and export train/test sets from captured exchanges" },
   { "import", cmd_import, "import production API logs (offramp, OpenAI, OpenAI Batch, LiteLLM; .gz, stdin)" },
   { "demo-logs", cmd_demo_logs, "write synthetic API logs for the demo and benchmarks" },
   { "audit", cmd_audit, "where the API money goes: calls, cost, latency, output shape per task" },
   { "touchpoints", cmd_touchpoints, "untagged calls grouped by prompt template: list, name, merge" },
   { "prices", cmd_prices, "the model price table and workspace overrides" },
   { "runbook", cmd_runbook, "print a phase runbook and a task's checklist progress" },
   { "backend", cmd_backend, "training backends: add, list and remove fine-tuning services" },
   { "train", cmd_train, "start a fine-tuning job for a task (an experiment)" },
   { "jobs", cmd_jobs, "list experiments; --follow resumes following running jobs" },
   { "job", cmd_job, "one experiment: show, events, follow, cancel, pick as candidate" },
   { "trainer", cmd_trainer, "run the built-in trainer: fine-tuning API and model server for label tasks" },
   { "gateway", cmd_gateway, "run the OpenAI-compatible gateway: capture, shadow, canary, cutover" },
   { "deploy", cmd_deploy, "model versions on vLLM, Ollama or llama.cpp: register, deploy, list, roll back, smoke" },
   { "route", cmd_route, "show and change a task's route on a running gateway" },
   { "rollout", cmd_rollout, "step a task's candidate through canary to cutover, with analysis and rollback" },
   { "review", cmd_review, "the disagreements of shadow and verification: list, grade by request id" },
   { "operate", cmd_operate, "after cutover: verified agreement, fallback rate, drift, savings, versions" },
   { "versions", cmd_versions, "a task's candidate versions: dataset, job, model, route revision" },
   { "replay", cmd_replay, "send logged requests through a gateway at a steady rate" },
   { "replay-server", cmd_replay_server, "serve recorded responses as an OpenAI-compatible API (offline)" },
   { "console", cmd_console, "open the console (the default without a subcommand)" },
   { "demo", cmd_demo, "open the console on a self-contained demo workspace" },
};
const int Commands_count = (int)ARRAY_SIZE(Commands);

static void usage(FILE *out) {
   fprintf(out,
           "usage: offramp [-w FILE] [COMMAND [ARGS]]\n"
           "\n"
           "Move a team's narrow LLM API calls onto small models it owns: audit, dataset,\n"
           "train, evaluate, shadow, canary, cutover, operate. Without a command, opens\n"
           "the console.\n"
           "\n"
           "options:\n"
           "  -w, --workspace FILE  the workspace (default: $OFFRAMP_WORKSPACE, else\n"
           "                        $XDG_DATA_HOME/offramp/workspace.db)\n"
           "  -h, --help            this help\n"
           "  -V, --version         print the version\n"
           "\n"
           "commands:\n");
   for (int i = 0; i < Commands_count; i++)
      fprintf(out, "  %-10s %s\n", Commands[i].name, Commands[i].summary);
   fprintf(out, "\n'offramp COMMAND --help' describes each command.\n");
}

int main(int argc, char **argv) {
   static const struct option opts[] = {
      { "workspace", required_argument, NULL, 'w' },
      { "help", no_argument, NULL, 'h' },
      { "version", no_argument, NULL, 'V' },
      { 0 },
   };
   Cli cli = { 0 };
   Store_init();
   setlocale(LC_ALL, "");
   /* The user's locale for characters (wide-character display), never for numbers: JSON,
    * CSV and option values always use a decimal point. */
   setlocale(LC_NUMERIC, "C");
   int c;
   /* '+' stops at the subcommand so its own options are left for it. */
   while ((c = getopt_long(argc, argv, "+w:hV", opts, NULL)) != -1) {
      switch (c) {
      case 'w':
         cli.workspace = optarg;
         break;
      case 'h':
         usage(stdout);
         return EXIT_OK;
      case 'V':
         printf("offramp %s\n", PACKAGE_VERSION);
         return EXIT_OK;
      default:
         fprintf(stderr, "Try 'offramp --help'.\n");
         return EXIT_USAGE;
      }
   }
   argc -= optind;
   argv += optind;
   optind = 0;   /* glibc: 0 fully re-initialises getopt for the subcommand */
   opterr = 0;   /* each command says what was wrong in one message (Cli_bad_option) */
   if (argc == 0) {
      char *none[] = { "console", NULL };
      return cmd_console(&cli, 1, none);
   }
   for (int i = 0; i < Commands_count; i++) {
      if (str_eq(argv[0], Commands[i].name))
         return Commands[i].run(&cli, argc, argv);
   }
   if (str_eq(argv[0], "help")) {
      usage(stdout);
      return EXIT_OK;
   }
   fprintf(stderr, "offramp: '%s' is not a command. See 'offramp --help'.\n", argv[0]);
   return EXIT_USAGE;
}
