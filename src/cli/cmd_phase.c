/* cmd_phase.c - "offramp phase": the phase machine from the command line. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "control/gwadmin.h"
#include "control/phase.h"
#include "control/task.h"

static const char phase_usage[] =
   "usage: offramp phase show TASK [--json]\n"
   "       offramp phase advance TASK [--reason TEXT]\n"
   "       offramp phase rollback TASK PHASE [--reason TEXT]\n"
   "       offramp phase stay TASK [--reason TEXT]\n"
   "       offramp phase history TASK [--json]\n"
   "\n"
   "Phases: audit -> dataset -> train -> evaluate -> shadow -> canary -> cutover ->\n"
   "operate, plus 'stay' (the task stays on the API). 'advance' moves one phase when\n"
   "the gate is open and otherwise lists what is missing (exit 3). 'rollback' goes\n"
   "back to any earlier phase, and a route ahead of it comes back on the running\n"
   "gateway (to shadow, or to passthrough before shadow). Every transition is\n"
   "recorded with time, actor ($OFFRAMP_ACTOR or $USER) and reason.\n";

static const char *check_mark(CheckStatus s) {
   return s == CHECK_PASS ? "ok" : s == CHECK_FAIL ? "no" : "--";
}

static json_t *gate_json(const Gate *g) {
   json_t *checks = json_array();
   for (int i = 0; i < g->n; i++)
      json_array_append_new(checks, json_pack("{s:s, s:s, s:s}", "check", g->checks[i].what,
         "status", g->checks[i].status == CHECK_PASS ? "pass" : g->checks[i].status == CHECK_FAIL ? "fail" : "missing",
         "detail", g->checks[i].detail));
   return json_pack("{s:s, s:s, s:b, s:o}", "from", Phase_name(g->from), "to", Phase_name(g->to),
                    "open", g->open, "checks", checks);
}

static int phase_show(Store *st, const char *task, bool json) {
   Task t;
   Task_init(&t);
   char *err = NULL;
   if (!Task_get(st, task, &t, &err)) {
      fprintf(stderr, "offramp: %s\n", err);
      return EXIT_ERROR;
   }
   Gate g;
   Phase_gate(st, &t, &g);
   if (json) {
      Cli_print_json(json_pack("{s:s, s:s, s:o}", "task", t.name, "phase", t.phase, "gate", gate_json(&g)));
   } else {
      Phase cur = g.from;
      for (int p = 0; p < PHASE_LADDER; p++)
         printf("%s%s%s%s", p ? " > " : "", p == (int)cur ? "[" : "", Phase_name(p), p == (int)cur ? "]" : "");
      printf("%s\n", cur == PHASE_STAY ? "   [stays on API]" : "");
      printf("gate %s -> %s: %s\n", Phase_name(g.from), Phase_name(g.to), g.open ? "open" : "closed");
      for (int i = 0; i < g.n; i++)
         printf("  [%s] %s: %s\n", check_mark(g.checks[i].status), g.checks[i].what, g.checks[i].detail);
   }
   Task_clear(&t);
   return EXIT_OK;
}

static int phase_history(Store *st, const char *task, bool json) {
   Task t;
   Task_init(&t);
   char *err = NULL;
   if (!Task_get(st, task, &t, &err)) {
      fprintf(stderr, "offramp: %s\n", err);
      return EXIT_ERROR;
   }
   int n;
   PhaseEvent *ev = Phase_history(st, t.id, &n);
   if (json) {
      json_t *arr = json_array();
      for (int i = 0; i < n; i++)
         json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ts", ev[i].ts, "kind", ev[i].kind,
                                              "from", ev[i].from, "to", ev[i].to, "actor", ev[i].actor,
                                              "reason", ev[i].reason));
      Cli_print_json(arr);
   } else {
      for (int i = 0; i < n; i++)
         printf("%.19s  %-8s %-9s -> %-9s %-10s %s\n", ev[i].ts, ev[i].kind, *ev[i].from ? ev[i].from : "-",
                ev[i].to, ev[i].actor, ev[i].reason);
   }
   Phase_free_history(ev, n);
   Task_clear(&t);
   return EXIT_OK;
}

int cmd_phase(Cli *cli, int argc, char **argv) {
   if (argc < 2) {
      fputs(phase_usage, stderr);
      return EXIT_USAGE;
   }
   if (Cli_help_or_version(argc, argv, phase_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "reason", required_argument, NULL, 'r' },
      { "json", no_argument, NULL, 'j' },
      { 0 },
   };
   const char *sub = argv[1];
   const char *reason = "";
   bool json = false;
   int c;
   argc--;
   argv++;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      if (c == 'r')
         reason = optarg;
      else if (c == 'j')
         json = true;
      else
         return Cli_bad_option("phase", argc, argv);
   }
   int nargs = argc - optind;
   char **args = argv + optind;
   bool rollback = str_eq(sub, "rollback");
   if (!str_eq(sub, "show") && !str_eq(sub, "advance") && !rollback && !str_eq(sub, "history") && !str_eq(sub, "stay"))
      return Cli_usage_error("phase", "'%s' is not a phase command (show, advance, rollback, stay, history)", sub);
   if (nargs != (rollback ? 2 : 1))
      return Cli_usage_error("phase", rollback ? "expected TASK PHASE" : "expected one task name");
   Phase to = PHASE_AUDIT;
   if (rollback && (!Phase_parse(args[1], &to) || to == PHASE_STAY)) {
      fprintf(stderr, "offramp: '%s' is not a phase to roll back to (audit, dataset, train, evaluate, shadow, canary, cutover)\n",
              args[1]);
      return EXIT_ERROR;
   }
   Store *st = Cli_open(cli, false);
   char *err = NULL;
   int rc = EXIT_OK;
   if (str_eq(sub, "show")) {
      rc = phase_show(st, args[0], json);
   } else if (str_eq(sub, "history")) {
      rc = phase_history(st, args[0], json);
   } else if (str_eq(sub, "advance")) {
      Gate g;
      if (Phase_advance(st, args[0], reason, &g, &err)) {
         printf("%s: %s -> %s\n", args[0], Phase_name(g.from), Phase_name(g.to));
      } else {
         fprintf(stderr, "offramp: %s\n", err);
         /* A missing task is an error; a closed gate is the gate's answer. */
         rc = g.n > 0 ? EXIT_GATE : EXIT_ERROR;
      }
   } else if (rollback) {
      char *note = NULL;
      if (GwAdmin_phase_rollback(st, args[0], to, reason, &note, &err)) {
         printf("%s: rolled back to %s\n", args[0], Phase_name(to));
         if (note)
            printf("%s: %s\n", args[0], note);
         free(note);
      } else {
         fprintf(stderr, "offramp: %s\n", err);
         rc = EXIT_ERROR;
      }
   } else {
      if (Phase_stay(st, args[0], reason, &err))
         printf("%s: stays on the API\n", args[0]);
      else {
         fprintf(stderr, "offramp: %s\n", err);
         rc = EXIT_ERROR;
      }
   }
   free(err);
   Store_close(st);
   return rc;
}
