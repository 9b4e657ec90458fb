/* cmd_import.c - "offramp import": production API logs into the workspace. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"
#include "control/importer.h"
#include "control/kindinfer.h"
#include "control/runbook.h"
#include "demo/demologs.h"

static const char import_usage[] =
   "usage: offramp import [--json] [--strict] [--quiet] [--chunk N] [--max-record MB] FILE... | -\n"
   "\n"
   "Import logged API calls; '-' reads stdin, gzip is detected. Each line (or CSV row)\n"
   "may be any of, recognised per record:\n"
   "  - offramp exchange records (the gateway's capture and export format)\n"
   "  - OpenAI request/response pairs {\"request\":{...},\"response\":{...}} with optional\n"
   "    ts/timestamp, latency_ms (or latency in seconds), status, usage, metadata, tags\n"
   "  - OpenAI Batch API output lines\n"
   "  - LiteLLM LiteLLM_SpendLogs rows, as JSON lines or CSV with a header row\n"
   "\n"
   "A call's task is its explicit tag (task, metadata.task/feature, X-Offramp-Task\n"
   "header, LiteLLM request_tags: 'task:NAME' or the first tag), else the task its\n"
   "prompt-template fingerprint was named as ('offramp touchpoints'). Re-importing adds\n"
   "nothing: records are keyed by their request id, else a hash of the line.\n"
   "Malformed records are counted and listed with their line numbers; the rest is\n"
   "imported, one transaction per chunk.\n"
   "\n"
   "options:\n"
   "  --json            print the summary as JSON on stdout\n"
   "  --strict          exit 1 when any record was malformed\n"
   "  --quiet           no progress bar\n"
   "  --chunk N         records per transaction (default 5000)\n"
   "  --max-record MB   longest line or CSV row accepted (default 16)\n";

static json_t *stats_json(const ImportStats *s) {
   json_t *errors = json_array(), *unpriced = json_array(), *formats = json_object();
   for (int i = 0; i < s->nerrors; i++)
      json_array_append_new(errors, json_string(s->errors[i]));
   for (int i = 0; i < s->nunpriced; i++)
      json_array_append_new(unpriced, json_pack("{s:s,s:I}", "model", s->unpriced[i].model, "calls",
                                                (json_int_t)s->unpriced[i].calls));
   for (int i = 0; i < 4; i++)
      json_object_set_new(formats, Import_format_names[i], json_integer(s->by_format[i]));
   return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:o,s:o,s:o}", "rows", (json_int_t)s->rows, "imported",
                    (json_int_t)s->imported, "duplicates", (json_int_t)s->duplicates, "malformed",
                    (json_int_t)s->malformed, "estimated_tokens", (json_int_t)s->estimated, "bytes",
                    (json_int_t)s->bytes, "seconds", s->seconds, "formats", formats, "malformed_shown", errors,
                    "unpriced", unpriced);
}

int cmd_import(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, import_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "json", no_argument, NULL, 'j' },       { "strict", no_argument, NULL, 's' },
      { "quiet", no_argument, NULL, 'q' },      { "chunk", required_argument, NULL, 'c' },
      { "max-record", required_argument, NULL, 'm' }, { 0 },
   };
   ImportOptions o;
   ImportOptions_init(&o);
   bool json = false, strict = false, quiet = false;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'j': json = true; break;
      case 's': strict = true; break;
      case 'q': quiet = true; break;
      case 'c': o.chunk = (int)Cli_long("import", "--chunk", optarg, 1, 1000000); break;
      case 'm': o.max_record = (size_t)Cli_long("import", "--max-record", optarg, 1, 2047) << 20; break;
      default: return Cli_bad_option("import", argc, argv);
      }
   }
   if (optind >= argc)
      return Cli_usage_error("import", "no log files given (pass FILE... or - for stdin)");
   int stdin_uses = 0;
   for (int i = optind; i < argc; i++) {
      stdin_uses += str_eq(argv[i], "-");
      if (!str_eq(argv[i], "-") && access(argv[i], R_OK) != 0) {
         fprintf(stderr, "offramp import: cannot read %s: %s (nothing was imported)\n", argv[i], strerror(errno));
         return EXIT_ERROR;
      }
   }
   if (stdin_uses > 1)
      return Cli_usage_error("import", "'-' (stdin) given more than once");
   o.progress = !quiet && isatty(2);
   Store *st = Cli_open(cli, true);
   char *err = NULL;
   Importer *im = Importer_new(st, &o, &err);
   int rc = EXIT_OK;
   if (!im) {
      fprintf(stderr, "offramp import: %s\n", err);
      rc = EXIT_ERROR;
      goto out;
   }
   for (int i = optind; i < argc && rc == EXIT_OK; i++) {
      if (!Importer_file(im, argv[i], &err)) {
         fprintf(stderr, "offramp import: %s (records before it were imported; re-running the import is safe)\n", err);
         rc = EXIT_ERROR;
      }
   }
   const ImportStats *s = Importer_stats(im);
   /* Tasks the logs made (or that are still in audit) get the kind their answers show. */
   json_t *kinds = KindInfer_audit_tasks(st, &err);
   if (!kinds) {
      fprintf(stderr, "offramp import: inferring output kinds: %s (the records were imported)\n", err);
      rc = EXIT_ERROR;
   }
   if (json) {
      json_t *out = stats_json(s);
      json_object_set_new(out, "kinds", kinds ? json_incref(kinds) : json_array());
      Cli_print_json(out);
   } else {
      ImportStats_print(s, stdout);
      size_t i;
      json_t *k;
      json_array_foreach(kinds, i, k)
         printf("kind of %s: %s (%s)\n", json_string_value(json_object_get(k, "task")),
                json_string_value(json_object_get(k, "kind")), json_string_value(json_object_get(k, "reason")));
   }
   json_decref(kinds);
   if (rc == EXIT_OK && strict && s->malformed)
      rc = EXIT_ERROR;
out:
   free(err);
   Importer_free(im);
   Store_close(st);
   return rc;
}

/* ---- demo-logs ---- */

static const char demologs_usage[] =
   "usage: offramp demo-logs --out FILE [--days N] [--seed N] [--scale X]\n"
   "\n"
   "Write realistic synthetic API logs (offramp exchange records, JSON lines) of a\n"
   "support app's features in the spirit of seed 001's audit table, with errors,\n"
   "truncations and untagged calls; deterministic for a seed. '-' writes to stdout;\n"
   "a FILE ending in .gz is compressed.\n"
   "\n"
   "options:\n"
   "  --out FILE   where to write (required)\n"
   "  --days N     days of traffic (default 14)\n"
   "  --seed N     random seed (default 1)\n"
   "  --scale X    volume factor, 1 = the demo app's volumes (default 1)\n";

static void demologs_progress(void *ctx, const DemologsProgress *p) {
   const char *name = ctx;
   char a[32];
   fprintf(stderr, "\r\033[K%s  day %d/%d  %s records  %.1f MB%s", name, p->day, p->days,
           fmt_count(a, sizeof a, (long long)p->records), (double)p->bytes / 1e6, p->day == p->days ? "\n" : "");
}

int cmd_demo_logs(Cli *cli, int argc, char **argv) {
   (void)cli;
   if (Cli_help_or_version(argc, argv, demologs_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "out", required_argument, NULL, 'o' },  { "days", required_argument, NULL, 'd' },
      { "seed", required_argument, NULL, 's' }, { "scale", required_argument, NULL, 'x' }, { 0 },
   };
   DemologsParams p;
   Demologs_defaults(&p);
   p.share_dir = Share_dir();
   const char *out = NULL;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'o': out = optarg; break;
      case 'd': p.days = (int)Cli_long("demo-logs", "--days", optarg, 1, 3660); break;
      case 's': p.seed = (uint64_t)Cli_long("demo-logs", "--seed", optarg, 0, LONG_MAX); break;
      case 'x':
         if (!parse_double(optarg, &p.scale) || !(p.scale > 0) || p.scale > 10000)
            return Cli_bad_value("demo-logs", "--scale", optarg, "a factor above 0 (e.g. 0.1 or 20)");
         break;
      default: return Cli_bad_option("demo-logs", argc, argv);
      }
   }
   if (optind < argc)
      return Cli_usage_error("demo-logs", "unexpected argument '%s'", argv[optind]);
   if (!out)
      return Cli_usage_error("demo-logs", "--out FILE is required ('-' for stdout)");
   bool gz = strlen(out) > 3 && str_eq(out + strlen(out) - 3, ".gz");
   /* Write beside the target and rename: a failed run leaves no half file. */
   char *tmp = str_eq(out, "-") ? NULL : xasprintf("%s.tmp%ld", out, (long)getpid());
   FILE *f = tmp ? fopen(tmp, "w") : stdout;
   if (!f) {
      fprintf(stderr, "offramp demo-logs: cannot write %s: %s\n", out, strerror(errno));
      free(tmp);
      return EXIT_ERROR;
   }
   FILE *pipe = NULL;
   if (gz) {
      /* zlib has no FILE*; a gzip child keeps Demologs_write's stdio interface. */
      char *cmd = xasprintf("gzip -c >&%d", fileno(f));
      pipe = popen(cmd, "w");
      free(cmd);
      if (!pipe) {
         fprintf(stderr, "offramp demo-logs: cannot start gzip for %s: %s\n", out, strerror(errno));
         fclose(f);
         unlink(tmp);
         free(tmp);
         return EXIT_ERROR;
      }
   }
   if (isatty(2) && tmp) {
      p.progress = demologs_progress;
      p.progress_ctx = (void *)out;
   }
   char *err = NULL;
   bool ok = Demologs_write(pipe ? pipe : f, &p, &err);
   if (pipe && pclose(pipe) != 0 && ok) {
      ok = false;
      err = xasprintf("gzip failed");
   }
   if (f != stdout && fclose(f) != 0 && ok) {
      ok = false;
      err = xasprintf("%s", strerror(errno));
   }
   if (ok && tmp && rename(tmp, out) != 0) {
      ok = false;
      err = xasprintf("renaming into place: %s", strerror(errno));
   }
   if (!ok) {
      fprintf(stderr, "offramp demo-logs: %s: %s (nothing written)\n", out, err);
      if (tmp)
         unlink(tmp);
   }
   free(err);
   free(tmp);
   return ok ? EXIT_OK : EXIT_ERROR;
}
