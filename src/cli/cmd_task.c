/* cmd_task.c - "offramp task": the inventory from the command line. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "control/inventory.h"
#include "control/phase.h"
#include "control/score.h"
#include "control/task.h"

static const char task_usage[] =
   "usage: offramp task add NAME [FIELD OPTIONS]\n"
   "       offramp task edit NAME [--rename NEW] [FIELD OPTIONS]\n"
   "       offramp task list [--json]\n"
   "       offramp task show NAME [--json]\n"
   "       offramp task rm NAME\n"
   "       offramp task score NAME [--suitability N|auto] [--impact N|auto] [--complexity N|auto]\n"
   "                               [--accept] [--json]\n"
   "\n"
   "The inventory of AI touchpoints. 'list' ranks tasks by priority =\n"
   "suitability x impact / complexity; 'score' shows the scores and the criteria behind\n"
   "each suggestion; --accept marks them reviewed (which the audit gate asks for), and\n"
   "overriding a score (1-5, or auto for the suggestion) marks them reviewed too.\n"
   "\n"
   "field options (add, edit):\n";

static void print_usage(void) {
   fputs(task_usage, stdout);
   for (int i = 0; i < Task_nfields; i++) {
      const TaskField *f = &Task_fields[i];
      char opt[40];
      snprintf(opt, sizeof opt, "--%s%s", f->option, f->type == FIELD_FLAG ? "[=yes|no]" : " VALUE");
      printf("  %-28s %s\n", opt, f->help);
   }
}

/* Collect field options into parallel arrays; returns -1 after printing a usage error. */
static int parse_fields(const char *cmd, int argc, char **argv, const TaskField **fields,
                        const char **values, const char **rename, bool *json) {
   struct option *opts = xcalloc(Task_nfields + 3, sizeof *opts);
   int n = 0;
   for (int i = 0; i < Task_nfields; i++) {
      opts[i].name = Task_fields[i].option;
      opts[i].has_arg = Task_fields[i].type == FIELD_FLAG ? optional_argument : required_argument;
      opts[i].val = 1000 + i;
   }
   opts[Task_nfields] = (struct option){ "rename", required_argument, NULL, 'r' };
   opts[Task_nfields + 1] = (struct option){ "json", no_argument, NULL, 'j' };
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      if (c >= 1000) {
         fields[n] = &Task_fields[c - 1000];
         values[n++] = optarg ? optarg : "yes";
      } else if (c == 'r' && rename) {
         *rename = optarg;
      } else if (c == 'j' && json) {
         *json = true;
      } else {
         free(opts);
         Cli_bad_option(cmd, argc, argv);
         return -1;
      }
   }
   free(opts);
   return n;
}

static json_t *score_json(const Score *sc) {
   json_t *crit = json_array();
   for (int i = 0; i < sc->ncriteria; i++)
      json_array_append_new(crit, json_pack("{s:s, s:i, s:s}", "dimension", ScoreDim_name(sc->criteria[i].dim),
                                            "delta", sc->criteria[i].delta, "criterion", sc->criteria[i].text));
   json_t *reasons = json_array();
   for (int i = 0; i < sc->nreasons; i++)
      json_array_append_new(reasons, json_string(sc->reasons[i]));
   return json_pack("{s:i, s:i, s:i, s:{s:i, s:i, s:i}, s:{s:b, s:b, s:b}, s:f, s:o, s:{s:s, s:o}}",
                    "suitability", sc->value[DIM_SUITABILITY], "impact", sc->value[DIM_IMPACT],
                    "complexity", sc->value[DIM_COMPLEXITY],
                    "suggested", "suitability", sc->suggested[DIM_SUITABILITY], "impact", sc->suggested[DIM_IMPACT],
                    "complexity", sc->suggested[DIM_COMPLEXITY],
                    "overridden", "suitability", sc->overridden[DIM_SUITABILITY], "impact", sc->overridden[DIM_IMPACT],
                    "complexity", sc->overridden[DIM_COMPLEXITY],
                    "priority", sc->priority, "criteria", crit,
                    "verdict", "decision", sc->stay ? "stay on the API" : "migrate", "reasons", reasons);
}

static json_t *task_json(const Task *t) {
   Score sc;
   Score_compute(t, &sc);
   json_t *o = Task_to_json(t);
   json_object_set_new(o, "score", score_json(&sc));
   json_object_set_new(o, "scored", json_boolean(t->scored_at != NULL));
   return o;
}

static int task_list(Cli *cli, int argc, char **argv) {
   bool json = false;
   const TaskField *fields[1];
   const char *values[1];
   if (parse_fields("task list", argc, argv, fields, values, NULL, &json) != 0)
      return EXIT_USAGE;
   Store *st = Cli_open(cli, false);
   int n;
   Task *ts = Task_list(st, &n);
   int *order = Inventory_rank(ts, n);
   if (json) {
      json_t *arr = json_array();
      for (int i = 0; i < n; i++)
         json_array_append_new(arr, task_json(&ts[order[i]]));
      Cli_print_json(arr);
   } else if (n == 0) {
      printf("no tasks yet: add one with 'offramp task add NAME --volume N --cost USD --kind label'\n");
   } else {
      char line[256];
      Inventory_header(line, sizeof line, 120);
      printf("%s\n", line);
      for (int i = 0; i < n; i++) {
         Inventory_row(&ts[order[i]], i + 1, line, sizeof line, 120);
         printf("%s\n", line);
      }
   }
   free(order);
   Task_free_list(ts, n);
   Store_close(st);
   return EXIT_OK;
}

static void print_score(const Score *sc) {
   for (int d = 0; d < DIM_COUNT; d++) {
      if (sc->overridden[d])
         printf("  %-12s %d (override; suggested %d)\n", ScoreDim_name(d), sc->value[d], sc->suggested[d]);
      else
         printf("  %-12s %d (suggested)\n", ScoreDim_name(d), sc->value[d]);
      for (int i = 0; i < sc->ncriteria; i++) {
         const Criterion *c = &sc->criteria[i];
         if (c->dim == (ScoreDim)d)
            printf("      %+2d %s\n", c->delta, c->text);
      }
   }
   printf("  %-12s %.1f = %d x %d / %d\n", "priority", sc->priority, sc->value[DIM_SUITABILITY],
          sc->value[DIM_IMPACT], sc->value[DIM_COMPLEXITY]);
   printf("  %-12s %s\n", "verdict", sc->stay ? "stay on the API" : "migrate");
   for (int i = 0; i < sc->nreasons; i++)
      printf("      - %s\n", sc->reasons[i]);
}

static int task_show(Cli *cli, int argc, char **argv) {
   bool json = false;
   const TaskField *fields[1];
   const char *values[1];
   if (parse_fields("task show", argc, argv, fields, values, NULL, &json) != 0)
      return EXIT_USAGE;
   if (optind != argc - 1)
      return Cli_usage_error("task show", "expected one task name");
   Store *st = Cli_open(cli, false);
   Task t;
   Task_init(&t);
   char *err = NULL;
   if (!Task_get(st, argv[optind], &t, &err)) {
      fprintf(stderr, "offramp: %s\n", err);
      Store_close(st);
      return EXIT_ERROR;
   }
   if (json) {
      Cli_print_json(task_json(&t));
   } else {
      char a[32], b[32];
      Phase ph = PHASE_AUDIT;
      Phase_parse(t.phase, &ph);
      printf("%s  (phase: %s)\n", t.name, Phase_title(ph));
      printf("  %-16s %s\n", "description", t.description);
      printf("  %-16s %s %s\n", "provider/model", t.provider, t.model);
      printf("  %-16s %s requests\n", "monthly volume", fmt_count(a, sizeof a, t.monthly_volume));
      printf("  %-16s %s\n", "monthly cost", fmt_money(b, sizeof b, t.monthly_cost, 0));
      printf("  %-16s %s\n", "input format", t.input_format);
      printf("  %-16s %s (%s)\n", "output format", t.output_format, OutputKind_name(t.kind));
      if (t.kind_reason && *t.kind_reason)
         printf("  %-16s %s: %s\n", "kind", OutputKind_name(t.kind), t.kind_reason);
      if (t.kind == KIND_REWRITE || t.kind == KIND_OPEN_ENDED)
         printf("  %-16s %s, an answer agrees at %.0f points or more\n", "text metric", TextMetric_name(t.text_metric),
                100 * t.text_threshold);
      json_t *tj = Task_to_json(&t);
      json_t *fmt = json_object_get(tj, "format");
      if (json_object_size(fmt)) {
         char *ftext = json_dumps(fmt, JSON_COMPACT | JSON_PRESERVE_ORDER);
         printf("  %-16s %s\n", "answer format", ftext);
         free(ftext);
      }
      json_decref(tj);
      printf("  %-16s %s\n", "quality", t.quality_req);
      printf("  %-16s %s\n", "criticality", t.criticality);
      printf("  %-16s %s (%s declared, %s logged)\n", "training data", t.data_available,
             fmt_count(a, sizeof a, t.examples), fmt_count(b, sizeof b, t.logged));
      printf("  %-16s customer-facing %s, SLA %s, revenue %s, domain vocabulary %s, changing %s\n", "flags",
             t.customer_facing ? "yes" : "no", t.sla ? "yes" : "no", t.revenue ? "yes" : "no",
             t.domain_vocab ? "yes" : "no", t.changing ? "yes" : "no");
      Score sc;
      Score_compute(&t, &sc);
      printf("score%s\n", t.scored_at ? "" : " (suggested, not reviewed: offramp task score NAME --accept)");
      print_score(&sc);
      Gate g;
      Phase_gate(st, &t, &g);
      printf("gate %s -> %s: %s\n", Phase_name(g.from), Phase_name(g.to), g.open ? "open" : "closed");
      for (int i = 0; i < g.n; i++)
         printf("  [%s] %s: %s\n", g.checks[i].status == CHECK_PASS ? "ok" : g.checks[i].status == CHECK_FAIL ? "no" : "--",
                g.checks[i].what, g.checks[i].detail);
   }
   Task_clear(&t);
   Store_close(st);
   return EXIT_OK;
}

/* Each option's value, checked before anything is opened. */
static int check_options(const char *cmd, const TaskField **fields, const char **values, int n) {
   for (int i = 0; i < n; i++) {
      char *norm = NULL, *err = NULL;
      bool ok = TaskField_check(fields[i], values[i], &norm, &err);
      free(norm);
      if (!ok) {
         int rc = Cli_usage_error(cmd, "%s", err);
         free(err);
         return rc;
      }
   }
   return EXIT_OK;
}

static int task_write(Cli *cli, int argc, char **argv, bool add) {
   const char *cmd = add ? "task add" : "task edit";
   const TaskField **fields = xcalloc(argc + 1, sizeof *fields);
   const char **values = xcalloc(argc + 1, sizeof *values);
   const char *rename = NULL;
   int n = parse_fields(cmd, argc, argv, fields, values, add ? NULL : &rename, NULL);
   int rc = EXIT_OK;
   if (n < 0) {
      rc = EXIT_USAGE;
   } else if (optind != argc - 1) {
      rc = Cli_usage_error(cmd, "expected one task name");
   } else if ((rc = check_options(cmd, fields, values, n)) != EXIT_OK) {
      /* a bad option value is a usage error (2), as in every command; nothing is opened */
   } else {
      Store *st = Cli_open(cli, add);
      char *err = NULL;
      bool ok = add ? Task_add(st, argv[optind], fields, values, n, &err)
                    : Task_edit(st, argv[optind], rename, fields, values, n, &err);
      if (!ok) {
         fprintf(stderr, "offramp: %s\n", err);
         free(err);
         rc = EXIT_ERROR;
      } else {
         printf("%s %s\n", add ? "added" : "updated", rename ? rename : argv[optind]);
      }
      Store_close(st);
   }
   free(fields);
   free(values);
   return rc;
}

static int task_rm(Cli *cli, int argc, char **argv) {
   for (int i = 1; i < argc; i++) {
      if (argv[i][0] == '-' && argv[i][1])
         return Cli_usage_error("task rm", "unknown option '%.*s'", (int)strcspn(argv[i], "="), argv[i]);
   }
   if (argc != 2)
      return Cli_usage_error("task rm", "expected one task name");
   Store *st = Cli_open(cli, false);
   char *err = NULL;
   int rc = EXIT_OK;
   if (!Task_remove(st, argv[1], &err)) {
      fprintf(stderr, "offramp: %s\n", err);
      rc = EXIT_ERROR;
   } else {
      printf("removed %s\n", argv[1]);
   }
   Store_close(st);
   return rc;
}

static int task_score(Cli *cli, int argc, char **argv) {
   static const struct option opts[] = {
      { "suitability", required_argument, NULL, 's' },
      { "impact", required_argument, NULL, 'i' },
      { "complexity", required_argument, NULL, 'c' },
      { "json", no_argument, NULL, 'j' },
      { "accept", no_argument, NULL, 'a' },
      { 0 },
   };
   const char *set[DIM_COUNT] = { 0 };
   bool json = false, accept = false;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 's': set[DIM_SUITABILITY] = optarg; break;
      case 'i': set[DIM_IMPACT] = optarg; break;
      case 'c': set[DIM_COMPLEXITY] = optarg; break;
      case 'j': json = true; break;
      case 'a': accept = true; break;
      default: return Cli_bad_option("task score", argc, argv);
      }
   }
   if (optind != argc - 1)
      return Cli_usage_error("task score", "expected one task name");
   const char *name = argv[optind];
   int values[DIM_COUNT];
   for (int d = 0; d < DIM_COUNT; d++) {
      values[d] = -1;   /* leave as is */
      if (!set[d])
         continue;
      accept = true;   /* an override is a review */
      long v;
      if (str_eq(set[d], "auto"))
         values[d] = 0;
      else if (parse_long(set[d], &v) && v >= 1 && v <= 5)
         values[d] = (int)v;
      else
      {
         char opt[24];
         snprintf(opt, sizeof opt, "--%s", ScoreDim_name(d));
         return Cli_bad_value("task score", opt, set[d], "a score from 1 to 5 (or 'auto' for the suggestion)");
      }
   }
   Store *st = Cli_open(cli, false);
   char *err = NULL;
   int rc = EXIT_OK;
   Task t;
   Task_init(&t);
   if ((accept && !Inventory_set_scores(st, name, values, &err)) || !Task_get(st, name, &t, &err)) {
      fprintf(stderr, "offramp: %s\n", err);
      rc = EXIT_ERROR;
   } else if (json) {
      Cli_print_json(task_json(&t));
   } else {
      Score sc;
      Score_compute(&t, &sc);
      printf("%s%s\n", t.name, t.scored_at ? "" : " (suggested, not reviewed: --accept marks them reviewed)");
      print_score(&sc);
   }
   Task_clear(&t);
   Store_close(st);
   return rc;
}

int cmd_task(Cli *cli, int argc, char **argv) {
   if (argc < 2 || str_eq(argv[1], "--help") || str_eq(argv[1], "-h")) {
      print_usage();
      return argc < 2 ? EXIT_USAGE : EXIT_OK;
   }
   if (str_eq(argv[1], "--version")) {
      printf("offramp task %s\n", PACKAGE_VERSION);
      return EXIT_OK;
   }
   const char *sub = argv[1];
   argc--;
   argv++;
   for (int i = 1; i < argc; i++) {
      if (str_eq(argv[i], "--help") || str_eq(argv[i], "-h")) {
         print_usage();
         return EXIT_OK;
      }
   }
   if (str_eq(sub, "add"))
      return task_write(cli, argc, argv, true);
   if (str_eq(sub, "edit"))
      return task_write(cli, argc, argv, false);
   if (str_eq(sub, "list") || str_eq(sub, "ls"))
      return task_list(cli, argc, argv);
   if (str_eq(sub, "show"))
      return task_show(cli, argc, argv);
   if (str_eq(sub, "rm") || str_eq(sub, "remove"))
      return task_rm(cli, argc, argv);
   if (str_eq(sub, "score"))
      return task_score(cli, argc, argv);
   return Cli_usage_error("task", "'%s' is not a task command (add, edit, list, show, rm, score)", sub);
}
