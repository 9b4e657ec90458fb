/* cmd_dataset.c - "offramp dataset": build, list, show and export datasets, edit label sets. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/sha256.h"
#include "common/util.h"
#include "control/dataset.h"
#include "control/task.h"

static const char dataset_usage[] =
   "usage: offramp dataset build TASK [--since TIME] [--until TIME] [--test-frac F]\n"
   "                             [--min-train N] [--balance cap|none] [--cap-factor K]\n"
   "                             [--near-dup J] [--outlier-k K] [--min-label N]\n"
   "                             [--seed N] [--json]\n"
   "       offramp dataset list TASK [--json]\n"
   "       offramp dataset show TASK [ID] [--json]\n"
   "       offramp dataset export TASK [ID] [--out DIR] [--json]\n"
   "       offramp dataset labels TASK [--set a,b,c | --learn] [--json]\n"
   "\n"
   "'build' turns the task's frontier answers (exchange records, arm primary or\n"
   "fallback) in a time window into train.jsonl and test.jsonl (OpenAI chat\n"
   "fine-tuning format: the request's system and user messages, the answer as the\n"
   "assistant message) and dataset.json (counts, filters, window, labels, sha256s).\n"
   "Rows are dropped, each reason counted: error responses, truncated answers\n"
   "(finish_reason length), empty inputs or answers, answers flagged wrong or\n"
   "corrected, answers outside the label set (label tasks), prompts longer than\n"
   "median + K x MAD tokens, exact duplicates of the user input (the first kept).\n"
   "Near-duplicate inputs (MinHash, Jaccard >= J) stay together on one side of the\n"
   "split. The split is stratified by label and fixed by the seed: the same data,\n"
   "options and seed give the same files, byte for byte. Files go under\n"
   "<workspace without .db>.data/datasets/TASK/ID/ (owner-only).\n"
   "\n"
   "build options:\n"
   "  --since TIME, --until TIME  the window, inclusive (YYYY-MM-DD[THH:MM[:SS]]Z, UTC;\n"
   "                              a date alone takes the whole day); default: all\n"
   "  --test-frac F     share held out as the test set, 0.10-0.15 (default 0.15)\n"
   "  --min-train N     train rows needed, else no dataset (default: the task's\n"
   "                    min-examples, 500 unless edited)\n"
   "  --balance cap|none  label tasks: cap each label at K x the median label count\n"
   "                    (default cap)\n"
   "  --cap-factor K    the K of --balance cap (default 3)\n"
   "  --near-dup J      Jaccard similarity of near-duplicate inputs (default 0.85)\n"
   "  --outlier-k K     length outliers: prompt tokens > median + K x MAD (default 15)\n"
   "  --min-label N     warn about labels with fewer rows (default 10)\n"
   "  --seed N          the split and the row order (default 1)\n"
   "\n"
   "'labels' shows a label task's label set: learned from the data (answers given\n"
   "at least twice) unless set with --set; --learn drops a set label set.\n"
   "'export' prints the files' paths, or copies them into DIR after checking their\n"
   "sha256. Exit status: 0 done, 1 no dataset (the message gives the numbers),\n"
   "2 bad usage.\n";

/* "15.0 %", "9,875" ... from a report. */
static long long jint(json_t *o, const char *a, const char *b) {
   return json_integer_value(json_object_get(b ? json_object_get(o, a) : o, b ? b : a));
}

static double jreal(json_t *o, const char *a, const char *b) {
   return json_number_value(json_object_get(json_object_get(o, a), b));
}

static const char *jstr(json_t *o, const char *a, const char *b, const char *fallback) {
   const char *s = json_string_value(json_object_get(json_object_get(o, a), b));
   return s ? s : fallback;
}

static json_t *dataset_json(const Dataset *d) {
   json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)d->id, "created_at", d->created_at,
                         "actor", d->actor, "dir", d->dir, "report", json_incref(d->report),
                         "sha256", json_pack("{s:s, s:s, s:s}", "train.jsonl", d->train_sha256, "test.jsonl",
                                             d->test_sha256, "dataset.json", d->report_sha256),
                         "rows", json_pack("{s:I, s:I}", "train", (json_int_t)d->rows_train, "test",
                                           (json_int_t)d->rows_test));
   return o;
}

static void print_dataset(const Dataset *d) {
   json_t *r = d->report;
   char a[32], b[32], c[32], e[32];
   printf("dataset %lld of %s, built %s by %s\n", d->id, json_string_value(json_object_get(r, "task")), d->created_at,
          d->actor);
   printf("  %-9s %s .. %s (asked: %s .. %s)\n", "window", jstr(r, "window", "first", "-"), jstr(r, "window", "last", "-"),
          d->since ? d->since : "start", d->until ? d->until : "now");
   long long kept = d->rows_train + d->rows_test;
   printf("  %-9s %s train + %s test = %s (%.1f %% test) from %s records\n", "rows", fmt_count(a, sizeof a, d->rows_train),
          fmt_count(b, sizeof b, d->rows_test), fmt_count(c, sizeof c, kept),
          kept ? 100.0 * d->rows_test / kept : 0.0, fmt_count(e, sizeof e, jint(r, "counts", "records")));
   printf("  %-9s", "filtered");
   json_t *f = json_object_get(r, "filters");
   const char *k;
   json_t *v;
   bool any = false;
   json_object_foreach(f, k, v) {
      printf("%s %s ", any ? "," : "", fmt_count(a, sizeof a, json_integer_value(v)));
      for (const char *p = k; *p; p++)
         putchar(*p == '_' ? ' ' : *p);
      any = true;
   }
   printf("\n");
   printf("  %-9s prompt tokens median %.0f, MAD %.0f: above %.0f is an outlier (k %g)\n", "length",
          jreal(r, "length", "median_prompt_tokens"), jreal(r, "length", "mad"), jreal(r, "length", "limit"),
          jreal(r, "params", "outlier_k"));
   long long groups = jint(r, "near_dup", "groups"), split = jint(r, "near_dup", "split_groups");
   printf("  %-9s %s groups of 2+ similar inputs (%s rows, largest %lld), %s split (Jaccard >= %.2f)\n", "near-dup",
          fmt_count(a, sizeof a, groups), fmt_count(b, sizeof b, jint(r, "near_dup", "rows_in_groups")),
          jint(r, "near_dup", "largest_group"), split ? fmt_count(c, sizeof c, split) : "none",
          jreal(r, "near_dup", "threshold"));
   json_t *labels = json_object_get(r, "labels");
   if (labels) {
      json_t *dist = json_object_get(labels, "distribution");
      long long cap = jint(labels, "cap", NULL);
      printf("  %-9s %lld (%s)%s", "labels", jint(labels, "count", NULL), json_string_value(json_object_get(labels, "source")),
             cap ? "" : "\n");
      if (cap)
         printf(", at most %s rows each\n", fmt_count(a, sizeof a, cap));
      size_t i;
      int width = 8;
      json_array_foreach(dist, i, v) {
         int len = (int)strlen(json_string_value(json_object_get(v, "label")));
         if (i < 10 && len > width)
            width = len < 48 ? len : 48;
      }
      json_array_foreach(dist, i, v) {
         if (i == 10) {
            printf("  %-9s ... %zu more (--json lists them all)\n", "", json_array_size(dist) - 10);
            break;
         }
         long long tr = jint(v, "train", NULL), te = jint(v, "test", NULL);
         printf("  %-9s %-*s %6s train %5s test (%.1f %%)\n", "", width, json_string_value(json_object_get(v, "label")),
                fmt_count(a, sizeof a, tr), fmt_count(b, sizeof b, te), kept ? 100.0 * (tr + te) / kept : 0.0);
      }
      json_array_foreach(json_object_get(labels, "warnings"), i, v)
         printf("  warning   %s\n", json_string_value(v));
   }
   printf("  %-9s %s/train.jsonl  sha256 %s\n", "files", d->dir, d->train_sha256);
   printf("  %-9s %s/test.jsonl   sha256 %s\n", "", d->dir, d->test_sha256);
   printf("  %-9s %s/dataset.json sha256 %s\n", "", d->dir, d->report_sha256);
}

static bool get_task(Store *st, const char *name, Task *t) {
   char *err = NULL;
   Task_init(t);
   if (Task_get(st, name, t, &err))
      return true;
   fprintf(stderr, "offramp: %s\n", err);
   free(err);
   return false;
}

static int dataset_build(Cli *cli, const char *task, DatasetParams *p, bool json) {
   char *err = NULL;
   if (!Dataset_check_params(p, &err)) {
      fprintf(stderr, "offramp dataset: %s\n", err);
      free(err);
      return EXIT_USAGE;
   }
   Store *st = Cli_open(cli, false);
   Dataset d;
   int rc = EXIT_OK;
   if (!Dataset_build(st, task, p, &d, &err)) {
      fprintf(stderr, "offramp: %s\n", err);
      free(err);
      rc = EXIT_ERROR;
   } else {
      if (json) {
         json_t *o = dataset_json(&d);
         json_object_set_new(o, "seconds", json_pack("{s:f, s:f, s:f}", "read", d.secs_read, "dedupe", d.secs_dedupe,
                                                     "rest", d.secs_rest));
         Cli_print_json(o);
      } else {
         print_dataset(&d);
         printf("  %-9s %.2f s: reading %.2f s, duplicates %.2f s, filters, split and files %.2f s\n", "time",
                d.secs_read + d.secs_dedupe + d.secs_rest, d.secs_read, d.secs_dedupe, d.secs_rest);
      }
      Dataset_clear(&d);
   }
   Store_close(st);
   return rc;
}

static int dataset_list(Store *st, const Task *t, bool json) {
   int n;
   Dataset *ds = Dataset_list(st, t->id, &n);
   json_t *arr = json ? json_array() : NULL;
   if (!json && n == 0)
      printf("%s has no datasets yet (offramp dataset build %s)\n", t->name, t->name);
   else if (!json)
      printf("%5s  %-24s %9s %8s %7s  %s\n", "id", "created", "train", "test", "test %", "window");
   for (int i = 0; i < n; i++) {
      if (json) {
         json_array_append_new(arr, dataset_json(&ds[i]));
      } else {
         char a[32], b[32];
         long long total = ds[i].rows_train + ds[i].rows_test;
         printf("%5lld  %-24s %9s %8s %6.1f%%  %s .. %s\n", ds[i].id, ds[i].created_at,
                fmt_count(a, sizeof a, ds[i].rows_train), fmt_count(b, sizeof b, ds[i].rows_test),
                total ? 100.0 * ds[i].rows_test / total : 0.0, jstr(ds[i].report, "window", "first", "-"),
                jstr(ds[i].report, "window", "last", "-"));
      }
      Dataset_clear(&ds[i]);
   }
   free(ds);
   if (json)
      Cli_print_json(arr);
   return EXIT_OK;
}

/* Copy a dataset file into dir after checking it is the file that was registered. */
static bool export_file(const Dataset *d, const char *name, const char *sha, const char *dir) {
   char *src = xasprintf("%s/%s", d->dir, name), *dst = xasprintf("%s/%s", dir, name);
   char hex[65];
   bool ok = false;
   if (!Sha256_file(src, hex))
      fprintf(stderr, "offramp: cannot read %s: %s (rebuild the dataset)\n", src, strerror(errno));
   else if (!str_eq(hex, sha))
      fprintf(stderr, "offramp: %s changed since the build (sha256 %.12s, registered %.12s): rebuild the dataset\n",
              src, hex, sha);
   else {
      FILE *in = fopen(src, "rb");
      int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
      if (in && out) {
         char buf[65536];
         size_t n;
         ok = true;
         while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
            ok = fwrite(buf, 1, n, out) == n;
         ok = ok && !ferror(in);
      }
      if (out && fclose(out) != 0)
         ok = false;
      else if (!out && fd >= 0)
         close(fd);
      if (in)
         fclose(in);
      if (!ok)
         fprintf(stderr, "offramp: cannot write %s: %s\n", dst, strerror(errno));
   }
   free(src);
   free(dst);
   return ok;
}

static int dataset_export(Store *st, const Task *t, long long id, const char *out, bool json) {
   Dataset d;
   char *err = NULL;
   if (!Dataset_get(st, t, id, &d, &err)) {
      fprintf(stderr, "offramp: %s\n", err);
      free(err);
      return EXIT_ERROR;
   }
   static const char *const names[] = { "train.jsonl", "test.jsonl", "dataset.json" };
   const char *shas[] = { d.train_sha256, d.test_sha256, d.report_sha256 };
   const char *dir = out ? out : d.dir;
   int rc = EXIT_OK;
   if (out && !mkdir_p(out, 0700)) {
      fprintf(stderr, "offramp: cannot create %s: %s\n", out, strerror(errno));
      rc = EXIT_ERROR;
   }
   for (size_t i = 0; rc == EXIT_OK && out && i < ARRAY_SIZE(names); i++) {
      if (!export_file(&d, names[i], shas[i], out))
         rc = EXIT_ERROR;
   }
   if (rc == EXIT_OK) {
      json_t *o = json_pack("{s:I}", "id", (json_int_t)d.id);
      for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
         char *path = xasprintf("%s/%s", dir, names[i]);
         if (json)
            json_object_set_new(o, names[i], json_pack("{s:s, s:s}", "path", path, "sha256", shas[i]));
         else
            printf("%s\n", path);
         free(path);
      }
      if (json)
         Cli_print_json(o);
      else
         json_decref(o);
   }
   Dataset_clear(&d);
   return rc;
}

static int dataset_labels(Store *st, const Task *t, const char *set, bool learn, bool json) {
   char *err = NULL;
   if (t->kind != KIND_LABEL) {
      fprintf(stderr, "offramp: %s is a %s task, not a label task: it has no label set (offramp task edit %s --kind label)\n",
              t->name, OutputKind_name(t->kind), t->name);
      return EXIT_ERROR;
   }
   if (set || learn) {
      char **labels = NULL;
      int n = 0;
      char *copy = xstrdup(set ? set : "");
      for (char *save = NULL, *l = strtok_r(copy, ",", &save); set && l; l = strtok_r(NULL, ",", &save)) {
         labels = xrealloc(labels, (n + 1) * sizeof *labels);
         labels[n++] = l;
      }
      bool ok = true;
      if (set && n == 0) {
         fprintf(stderr, "offramp: --set '%s' names no labels (give them as a,b,c)\n", set);
         ok = false;
      } else if (!Dataset_set_labels(st, t, labels, n, &err)) {
         fprintf(stderr, "offramp: %s\n", err);
         free(err);
         ok = false;
      }
      free(labels);
      free(copy);
      if (!ok)
         return EXIT_ERROR;
   }
   LabelSet ls;
   if (!Dataset_labels(st, t, &ls, &err)) {
      /* A free-text verdict is still worth showing after --set cleared it; here it is the answer. */
      fprintf(stderr, "offramp: %s\n", err);
      free(err);
      Dataset_free_labels(&ls);
      return EXIT_ERROR;
   }
   char a[32], b[32];
   if (json) {
      json_t *arr = json_array();
      for (int i = 0; i < ls.n; i++)
         json_array_append_new(arr, json_pack("{s:s, s:I}", "label", ls.labels[i], "rows", (json_int_t)ls.counts[i]));
      Cli_print_json(json_pack("{s:s, s:s, s:o, s:I, s:I}", "task", t->name, "source", ls.user ? "user" : "learned",
                               "labels", arr, "rows", (json_int_t)ls.rows, "off_label", (json_int_t)ls.off_label));
   } else {
      printf("%s: %d labels (%s), %s usable records, %s with an answer outside the set\n", t->name, ls.n,
             ls.user ? "set by the user" : "learned: answers given at least twice", fmt_count(a, sizeof a, ls.rows),
             fmt_count(b, sizeof b, ls.off_label));
      for (int i = 0; i < ls.n; i++)
         printf("  %-40s %s\n", ls.labels[i], fmt_count(a, sizeof a, ls.counts[i]));
   }
   Dataset_free_labels(&ls);
   return EXIT_OK;
}

int cmd_dataset(Cli *cli, int argc, char **argv) {
   if (argc < 2) {
      fputs(dataset_usage, stderr);
      return EXIT_USAGE;
   }
   if (Cli_help_or_version(argc, argv, dataset_usage))
      return EXIT_OK;
   enum { O_SINCE = 1000, O_UNTIL, O_FRAC, O_MIN, O_BAL, O_CAP, O_NEAR, O_OUTK, O_MINL, O_SEED, O_JSON, O_OUT, O_SET,
          O_LEARN };
   static const struct option opts[] = {
      { "since", required_argument, NULL, O_SINCE }, { "until", required_argument, NULL, O_UNTIL },
      { "test-frac", required_argument, NULL, O_FRAC }, { "min-train", required_argument, NULL, O_MIN },
      { "balance", required_argument, NULL, O_BAL }, { "cap-factor", required_argument, NULL, O_CAP },
      { "near-dup", required_argument, NULL, O_NEAR }, { "outlier-k", required_argument, NULL, O_OUTK },
      { "min-label", required_argument, NULL, O_MINL }, { "seed", required_argument, NULL, O_SEED },
      { "json", no_argument, NULL, O_JSON }, { "out", required_argument, NULL, O_OUT },
      { "set", required_argument, NULL, O_SET }, { "learn", no_argument, NULL, O_LEARN },
      { 0 },
   };
   const char *sub = argv[1];
   bool build = str_eq(sub, "build");
   if (!build && !str_eq(sub, "list") && !str_eq(sub, "show") && !str_eq(sub, "export") && !str_eq(sub, "labels"))
      return Cli_usage_error("dataset", "'%s' is not a dataset command (build, list, show, export, labels)", sub);
   DatasetParams p;
   Dataset_defaults(&p);
   bool json = false, learn = false, build_opt = false;
   const char *out = NULL, *set = NULL;
   argc--;
   argv++;
   /* The options that take a real number, and where it goes. */
   const struct {
      int opt;
      double *to;
   } reals[] = { { O_FRAC, &p.test_frac }, { O_CAP, &p.cap_factor }, { O_NEAR, &p.near_dup }, { O_OUTK, &p.outlier_k } };
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      build_opt |= c >= O_SINCE && c <= O_SEED;
      for (size_t i = 0; i < ARRAY_SIZE(reals); i++) {
         if (c == reals[i].opt && !parse_double(optarg, reals[i].to))
            {
               char opt[40];
               snprintf(opt, sizeof opt, "--%s", opts[c - O_SINCE].name);
               return Cli_bad_value("dataset", opt, optarg, "a number (see its range in 'offramp dataset --help')");
            }
      }
      switch (c) {
      case O_FRAC:
      case O_CAP:
      case O_NEAR:
      case O_OUTK:
         break;
      case O_SINCE:
         p.since = optarg;
         break;
      case O_UNTIL:
         p.until = optarg;
         break;
      case O_MIN:
         p.min_train = Cli_long("dataset", "--min-train", optarg, 1, 100000000);
         break;
      case O_BAL:
         if (!str_eq(optarg, "cap") && !str_eq(optarg, "none"))
            return Cli_usage_error("dataset", "--balance '%s' is not cap or none", optarg);
         p.balance = str_eq(optarg, "cap");
         break;
      case O_MINL:
         p.min_label = Cli_long("dataset", "--min-label", optarg, 0, 100000000);
         break;
      case O_SEED:
         p.seed = (uint64_t)Cli_long("dataset", "--seed", optarg, 0, 0x7fffffffffffffffL);
         break;
      case O_JSON:
         json = true;
         break;
      case O_OUT:
         out = optarg;
         break;
      case O_SET:
         set = optarg;
         break;
      case O_LEARN:
         learn = true;
         break;
      default:
         return Cli_bad_option("dataset", argc, argv);
      }
   }
   int nargs = argc - optind;
   char **args = argv + optind;
   bool takes_id = str_eq(sub, "show") || str_eq(sub, "export");
   if (nargs < 1 || nargs > (takes_id ? 2 : 1))
      return Cli_usage_error("dataset", takes_id ? "expected TASK [ID]" : "expected one task name");
   if (build_opt && !build)
      return Cli_usage_error("dataset", "build options go with 'dataset build'");
   if (out && !str_eq(sub, "export"))
      return Cli_usage_error("dataset", "--out goes with 'dataset export'");
   if ((set || learn) && !str_eq(sub, "labels"))
      return Cli_usage_error("dataset", "--set and --learn go with 'dataset labels'");
   if (set && learn)
      return Cli_usage_error("dataset", "--set and --learn exclude each other");
   long long id = nargs == 2 ? Cli_long("dataset", "ID", args[1], 1, 0x7fffffffffffffffL) : 0;
   if (build)
      return dataset_build(cli, args[0], &p, json);

   Store *st = Cli_open(cli, false);
   Task t;
   int rc = EXIT_ERROR;
   if (get_task(st, args[0], &t)) {
      if (str_eq(sub, "list")) {
         rc = dataset_list(st, &t, json);
      } else if (str_eq(sub, "export")) {
         rc = dataset_export(st, &t, id, out, json);
      } else if (str_eq(sub, "labels")) {
         rc = dataset_labels(st, &t, set, learn, json);
      } else {
         Dataset d;
         char *err = NULL;
         if (Dataset_get(st, &t, id, &d, &err)) {
            if (json)
               Cli_print_json(dataset_json(&d));
            else
               print_dataset(&d);
            Dataset_clear(&d);
            rc = EXIT_OK;
         } else {
            fprintf(stderr, "offramp: %s\n", err);
            free(err);
         }
      }
      Task_clear(&t);
   }
   Store_close(st);
   return rc;
}
