/* cmd_review.c - "offramp review": the disagreement review of the console as commands: list the
 * recent disagreements of a task with their grades, grade one by its request id. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "control/gwadmin.h"
#include "control/review.h"
#include "control/task.h"

static const char usage[] =
   "usage: offramp review list TASK [--limit N] [--json]\n"
   "       offramp review grade TASK REQUEST-ID GRADE [--json]\n"
   "\n"
   "The task's recent disagreements (the candidate's answer differs from the\n"
   "primary's, in shadow or on a verified answer), newest first, as the console's\n"
   "review (D) shows them: request id, grade, input and both answers. They come from\n"
   "the gateway (GET /admin/samples?kind=disagree).\n"
   "\n"
   "grade stores a reviewer's verdict on one disagreement, by its request id:\n"
   "  primary    the primary (the frontier) was right\n"
   "  candidate  the candidate was right: the primary's answer is flagged corrected\n"
   "  both       both answers are fine\n"
   "  neither    both are wrong: the primary's answer is flagged wrong\n"
   "(1-4 are the same, as in the console.) Flagged answers leave the next dataset.\n"
   "The graded accuracy (agreement plus the disagreements graded candidate or both)\n"
   "shows in offramp report.\n"
   "\n"
   "options:\n"
   "  --limit N                 disagreements listed (default 20, at most 1000)\n"
   "  --json                    JSON instead of text\n"
   "  --gateway URL             the gateway (default $OFFRAMP_GATEWAY, else the\n"
   "                            workspace's, else http://127.0.0.1:8400)\n"
   "  --admin-token-file FILE   admin token (default $OFFRAMP_ADMIN_TOKEN)\n"
   "  -h, --help                this help\n";

static json_t *counts_json(Store *st, long long task_id) {
   long long c[GRADE_COUNT];
   Review_counts(st, task_id, c);
   json_t *o = json_object();
   for (int i = 0; i < GRADE_COUNT; i++)
      json_object_set_new(o, Grade_names[i], json_integer(c[i]));
   return o;
}

static int list(Store *st, const GwAdmin *gw, const Task *t, long limit, bool as_json) {
   char *err = NULL;
   int n;
   ReviewSample *s = Review_samples(gw, t->name, (int)limit, &n, &err);
   if (!s) {
      fprintf(stderr, "offramp review: %s\n", err);
      free(err);
      return EXIT_ERROR;
   }
   if (as_json) {
      json_t *a = json_array();
      for (int i = 0; i < n; i++) {
         int g = Review_get(st, s[i].rid);
         json_array_append_new(a, json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s}", "id", s[i].rid, "ts", s[i].ts, "grade",
                                            g < 0 ? NULL : Grade_names[g], "input", s[i].input, "primary",
                                            s[i].primary, "candidate", s[i].candidate));
      }
      Cli_print_json(json_pack("{s:s, s:o, s:o}", "task", t->name, "disagreements", a, "graded", counts_json(st, t->id)));
   } else if (n == 0) {
      printf("%s: no disagreements captured yet (the candidate agrees with the primary, or nothing was compared)\n",
             t->name);
   } else {
      printf("%-24s %-15s %-16s %-16s %s\n", "request id", "grade", "primary", "candidate", "input");
      for (int i = 0; i < n; i++) {
         int g = Review_get(st, s[i].rid);
         char in[61];
         snprintf(in, sizeof in, "%s", s[i].input);
         for (char *c = in; *c; c++)
            *c = *c == '\n' || *c == '\t' ? ' ' : *c;
         printf("%-24s %-15s %-16.16s %-16.16s %s\n", s[i].rid, g < 0 ? "-" : Grade_titles[g], s[i].primary,
                s[i].candidate, in);
      }
   }
   Review_samples_free(s, n);
   return EXIT_OK;
}

static int grade(Store *st, const Task *t, const char *rid, const char *grade_s, bool as_json) {
   Grade g;
   if (!Grade_parse(grade_s, &g))
      return Cli_usage_error("review", "grade '%s' is not one of primary, candidate, both, neither (or 1-4)", grade_s);
   char *err = NULL;
   if (!Review_grade(st, t->id, rid, g, &err)) {
      fprintf(stderr, "offramp review: %s\n", err);
      free(err);
      return EXIT_ERROR;
   }
   const char *flag = g == GRADE_CANDIDATE ? "corrected" : g == GRADE_NEITHER ? "wrong" : NULL;
   if (as_json)
      Cli_print_json(json_pack("{s:s, s:s, s:s, s:s?, s:o}", "task", t->name, "id", rid, "grade", Grade_names[g],
                               "primary_flag", flag, "graded", counts_json(st, t->id)));
   else
      printf("%s: %s graded %s%s%s\n", t->name, rid, Grade_titles[g], flag ? "; the primary's answer is flagged " : "",
             flag ? flag : "");
   return EXIT_OK;
}

int cmd_review(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, usage))
      return EXIT_OK;
   enum { O_LIMIT = 1, O_JSON, O_GATEWAY, O_TOKEN };
   static const struct option opts[] = {
      { "limit", required_argument, NULL, O_LIMIT },
      { "json", no_argument, NULL, O_JSON },
      { "gateway", required_argument, NULL, O_GATEWAY },
      { "admin-token-file", required_argument, NULL, O_TOKEN },
      { 0 },
   };
   long limit = 20;
   bool as_json = false;
   const char *gateway = NULL, *token_file = NULL;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case O_LIMIT: limit = Cli_long("review", "--limit", optarg, 1, 1000); break;
      case O_JSON: as_json = true; break;
      case O_GATEWAY: gateway = optarg; break;
      case O_TOKEN: token_file = optarg; break;
      default: return Cli_bad_option("review", argc, argv);
      }
   }
   const char *action = optind < argc ? argv[optind] : NULL;
   bool is_list = action && str_eq(action, "list"), is_grade = action && str_eq(action, "grade");
   if (!is_list && !is_grade)
      return Cli_usage_error("review", action ? "unknown action '%s' (list, grade)" : "missing action (list, grade)%s",
                             action ? action : "");
   int want = is_list ? 2 : 4;
   if (argc - optind < want)
      return Cli_usage_error("review", is_list ? "list needs a TASK" : "grade needs TASK REQUEST-ID GRADE");
   if (argc - optind > want)
      return Cli_usage_error("review", "unexpected argument '%s'", argv[optind + want]);
   Store *st = Cli_open(cli, false);
   Task t;
   Task_init(&t);
   char *err = NULL;
   int rc = EXIT_ERROR;
   if (!Task_get(st, argv[optind + 1], &t, &err)) {
      fprintf(stderr, "offramp review: %s\n", err);
      free(err);
   } else if (is_grade) {
      rc = grade(st, &t, argv[optind + 2], argv[optind + 3], as_json);
   } else {
      GwAdmin gw;
      if (!GwAdmin_init(&gw, st, gateway, token_file, &err)) {
         fprintf(stderr, "offramp review: %s\n", err);
         free(err);
         rc = EXIT_USAGE;
      } else {
         rc = list(st, &gw, &t, limit, as_json);
         GwAdmin_clear(&gw);
      }
   }
   Task_clear(&t);
   Store_close(st);
   return rc;
}
