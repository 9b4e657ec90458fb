/* cmd_runbook.c - "offramp runbook": print a runbook, and check items for a task. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "control/runbook.h"
#include "control/task.h"

static const char runbook_usage[] =
   "usage: offramp runbook [list] [--task TASK]\n"
   "       offramp runbook NAME [--task TASK] [--width N]\n"
   "       offramp runbook NAME --task TASK --toggle TEXT\n"
   "\n"
   "The phase runbooks (audit, dataset, training, evaluation, shadow, canary,\n"
   "cutover, rollback, operate), rendered as text. With --task, checklist items show\n"
   "that task's progress; --toggle checks or unchecks the first item containing TEXT.\n";

int cmd_runbook(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, runbook_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "task", required_argument, NULL, 't' },
      { "width", required_argument, NULL, 'w' },
      { "toggle", required_argument, NULL, 'x' },
      { 0 },
   };
   const char *task = NULL, *toggle = NULL;
   int width = 78, c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 't': task = optarg; break;
      case 'w': width = (int)Cli_long("runbook", "--width", optarg, 20, 1000); break;
      case 'x': toggle = optarg; break;
      default: return Cli_bad_option("runbook", argc, argv);
      }
   }
   const char *name = optind < argc ? argv[optind] : "list";
   if (optind + 1 < argc)
      return Cli_usage_error("runbook", "unexpected argument '%s'", argv[optind + 1]);
   if (toggle && !task)
      return Cli_usage_error("runbook", "--toggle needs --task TASK");
   Store *st = NULL;
   Task t;
   Task_init(&t);
   char *err = NULL;
   if (task) {
      st = Cli_open(cli, false);
      if (!Task_get(st, task, &t, &err)) {
         fprintf(stderr, "offramp: %s\n", err);
         Store_close(st);
         return EXIT_ERROR;
      }
   }
   int rc = EXIT_OK;
   if (str_eq(name, "list")) {
      for (int i = 0; i < Runbook_count; i++) {
         MdDoc *d = Runbook_load(Runbook_names[i], width, &err);
         if (!d) {
            fprintf(stderr, "offramp: %s\n", err);
            rc = EXIT_ERROR;
            break;
         }
         if (task)
            printf("%-11s %d/%d checked\n", Runbook_names[i], Runbook_done(st, t.id, Runbook_names[i]), d->nchecks);
         else
            printf("%-11s %d checklist items\n", Runbook_names[i], d->nchecks);
         Md_free(d);
      }
   } else {
      if (Runbook_name(name))
         name = Runbook_name(name);   /* a phase's name stands for its runbook */
      MdDoc *d = Runbook_load(name, width, &err);
      if (!d) {
         fprintf(stderr, "offramp: %s\n", err);
         rc = EXIT_ERROR;
      } else if (toggle) {
         int found = -1;
         for (int i = 0; i < d->n && found < 0; i++) {
            if (d->lines[i].check >= 0 && d->lines[i].key && strstr(d->lines[i].key, toggle))
               found = i;
         }
         if (found < 0) {
            fprintf(stderr, "offramp: no checklist item in the %s runbook contains '%s'\n", name, toggle);
            rc = EXIT_ERROR;
         } else {
            int state = Runbook_toggle(st, t.id, name, d->lines[found].key, &err);
            if (state < 0) {
               fprintf(stderr, "offramp: %s\n", err);
               rc = EXIT_ERROR;
            } else {
               printf("%s: [%c] %s\n", t.name, state ? 'x' : ' ', d->lines[found].key);
            }
         }
      } else {
         if (task)
            Runbook_apply_checks(st, t.id, name, d);
         for (int i = 0; i < d->n; i++) {
            char *line = Md_line_text(&d->lines[i]);
            printf("%s\n", line);
            free(line);
         }
      }
      Md_free(d);
   }
   free(err);
   Task_clear(&t);
   Store_close(st);
   return rc;
}
