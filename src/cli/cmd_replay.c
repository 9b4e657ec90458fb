/* cmd_replay.c - "offramp replay" (logged requests through a gateway at a steady rate) and
 * "offramp replay-server" (recorded responses served as an OpenAI-compatible API). */
#include "config.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/stats.h"
#include "replay/replay.h"
#include "replay/replayserver.h"

static const char replay_usage[] =
   "usage: offramp replay (FILE | --task TASK) --to URL [--rate R] [--duration S] [--count N]\n"
   "                      [--concurrency C] [--timeout-ms MS] [--quiet] [--json]\n"
   "\n"
   "Send logged requests through a gateway (or any OpenAI-compatible server) at a steady\n"
   "rate, as the application would: how to get shadow agreement on realistic traffic before\n"
   "going live. The requests come from FILE (exchange records, JSON lines, plain or gzip)\n"
   "or from the workspace's exchanges of TASK (-w/--workspace). A tagged record is sent with\n"
   "its task in X-Offramp-Task. The calls repeat in order until --count or --duration is\n"
   "reached; with neither, each is sent once. Progress on a terminal, then a summary:\n"
   "sent, ok, errors, the arms that answered, latency p50/p95/p99.\n"
   "\n"
   "options:\n"
   "  --to URL           where to send: the gateway's base URL, e.g. http://127.0.0.1:8400\n"
   "  --task TASK        only this task's requests (with FILE: filter it)\n"
   "  --workspace FILE   the workspace to read with --task (default: -w, else the usual)\n"
   "  --rate R           requests per second (default 10; 0: as fast as --concurrency allows)\n"
   "  --duration S       stop after S seconds\n"
   "  --count N          stop after N requests\n"
   "  --concurrency C    requests in flight at most (default 16)\n"
   "  --timeout-ms MS    per request (default 30000)\n"
   "  --quiet            no progress line\n"
   "  --json             the summary as JSON\n"
   "\n"
   "Exit status: 0 when at least one request got a 2xx answer, 1 otherwise, 2 on usage errors.\n";

static void progress(void *ctx, const ReplayStats *s, bool last) {
   (void)ctx;
   char a[32], b[32];
   fprintf(stderr, "\rreplay: %s sent, %s ok, %ld errors, %.1f req/s, %.0f s%s", fmt_count(a, sizeof a, s->sent),
           fmt_count(b, sizeof b, s->ok), s->errors, s->elapsed > 0 ? (double)s->done / s->elapsed : 0.0, s->elapsed,
           last ? "\n" : "   ");
}

static void latency(ReplayStats *s, double out[3]) {
   static const double q[3] = { 0.50, 0.95, 0.99 };
   for (int i = 0; i < 3; i++)
      out[i] = s->nlat ? EvalStats_percentile(s->lat, (size_t)s->nlat, q[i]) : -1;
}

static void print_summary(ReplayStats *s, const char *url, bool json) {
   double p[3];
   latency(s, p);
   if (json) {
      Cli_print_json(json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:f, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}, "
                               "s:{s:f, s:f, s:f, s:I}}",
                               "to", url, "sent", (json_int_t)s->sent, "ok", (json_int_t)s->ok, "errors",
                               (json_int_t)s->errors, "no_answer", (json_int_t)s->transport, "seconds", s->elapsed,
                               "rate", s->elapsed > 0 ? (double)s->done / s->elapsed : 0.0, "by_class", "2xx",
                               (json_int_t)s->by_class[2], "3xx", (json_int_t)s->by_class[3], "4xx",
                               (json_int_t)s->by_class[4], "5xx", (json_int_t)s->by_class[5], "arms", "primary",
                               (json_int_t)s->arms[0], "candidate", (json_int_t)s->arms[1], "fallback",
                               (json_int_t)s->arms[2], "latency_ms", "p50", p[0], "p95", p[1], "p99", p[2], "n",
                               (json_int_t)s->nlat));
      return;
   }
   char a[32], b[32], c[32];
   printf("replayed %s requests to %s in %.1f s (%.1f req/s)\n", fmt_count(a, sizeof a, s->sent), url, s->elapsed,
          s->elapsed > 0 ? (double)s->done / s->elapsed : 0.0);
   printf("  ok %s, errors %s (4xx %ld, 5xx %ld, no answer %ld)\n", fmt_count(b, sizeof b, s->ok),
          fmt_count(c, sizeof c, s->errors), s->by_class[4], s->by_class[5], s->transport);
   if (s->arms[0] + s->arms[1] + s->arms[2])
      printf("  answered by: primary %ld, candidate %ld, fallback %ld\n", s->arms[0], s->arms[1], s->arms[2]);
   if (s->nlat)
      printf("  latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (n=%s)\n", p[0], p[1], p[2],
             fmt_count(a, sizeof a, s->nlat));
}

int cmd_replay(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, replay_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "to", required_argument, NULL, 'T' },         { "task", required_argument, NULL, 't' },
      { "workspace", required_argument, NULL, 'w' },  { "rate", required_argument, NULL, 'r' },
      { "duration", required_argument, NULL, 'd' },   { "count", required_argument, NULL, 'n' },
      { "concurrency", required_argument, NULL, 'c' }, { "timeout-ms", required_argument, NULL, 'o' },
      { "quiet", no_argument, NULL, 'q' },            { "json", no_argument, NULL, 'j' },
      { 0 },
   };
   ReplayOpts o;
   ReplayOpts_defaults(&o);
   const char *task = NULL;
   bool quiet = false, json = false;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      double d;
      switch (c) {
      case 'T': o.url = optarg; break;
      case 't': task = optarg; break;
      case 'w': cli->workspace = optarg; break;
      case 'r':
      case 'd':
         if (!parse_double(optarg, &d) || d < 0 || d > 1e6)
            return Cli_bad_value("replay", c == 'r' ? "--rate" : "--duration", optarg, "a number of %s from 0 to 1e6",
                                 c == 'r' ? "requests per second" : "seconds");
         *(c == 'r' ? &o.rate : &o.duration) = d;
         break;
      case 'n': o.count = Cli_long("replay", "--count", optarg, 1, 1000000000L); break;
      case 'c': o.concurrency = (int)Cli_long("replay", "--concurrency", optarg, 1, 4096); break;
      case 'o': o.timeout_ms = Cli_long("replay", "--timeout-ms", optarg, 1, 3600000L); break;
      case 'q': quiet = true; break;
      case 'j': json = true; break;
      default: return Cli_bad_option("replay", argc, argv);
      }
   }
   const char *file = optind < argc ? argv[optind] : NULL;
   if (optind + 1 < argc)
      return Cli_usage_error("replay", "unexpected argument '%s'", argv[optind + 1]);
   if (!file && !task)
      return Cli_usage_error("replay", "say what to replay: a FILE of exchange records or --task TASK");
   if (!o.url)
      return Cli_usage_error("replay", "say where to send: --to URL (the gateway, e.g. http://127.0.0.1:8400)");
   Recorded calls = { 0 };
   RecordedFilter f = { .task = task, .max = o.count > 0 ? (size_t)o.count : 0 };
   char *err = NULL;
   bool ok;
   if (file) {
      ok = Recorded_load_file(&calls, file, &f, &err);
   } else {
      Store *st = Cli_open(cli, false);
      ok = Recorded_load_store(&calls, st, &f, &err);
      Store_close(st);
   }
   if (ok && calls.n == 0) {
      err = task ? xasprintf("no logged requests of task %s in %s", task, file ? file : "the workspace")
                 : xasprintf("no exchange records with a chat request in %s", file);
      ok = false;
   }
   int rc = EXIT_ERROR;
   if (ok) {
      curl_global_init(CURL_GLOBAL_DEFAULT);
      o.stop = Cli_catch_stop(false);
      if (!quiet && isatty(STDERR_FILENO))
         o.progress = progress;
      ReplayStats s;
      if (Replay_run(&calls, &o, &s, &err)) {
         print_summary(&s, o.url, json);
         rc = s.ok > 0 ? EXIT_OK : EXIT_ERROR;
      }
      ReplayStats_free(&s);
      Cli_release_stop();
      curl_global_cleanup();
   }
   if (err) {
      fprintf(stderr, "offramp replay: %s\n", err);
      free(err);
   }
   Recorded_free(&calls);
   return rc;
}

static const char server_usage[] =
   "usage: offramp replay-server [--from FILE | --workspace FILE] [--task TASK] [--listen HOST:PORT]\n"
   "                             [--latency-ms N] [--error-rate F] [--seed N]\n"
   "\n"
   "Serve recorded chat completions: an OpenAI-compatible server that answers each request\n"
   "with the response recorded for it (looked up by the request's model and messages), for\n"
   "offline evaluation and as a stand-in for the frontier API (offramp demo uses it). The\n"
   "calls come from FILE (exchange records, plain or gzip) or the workspace's exchanges;\n"
   "only the frontier's answers are served (arms primary and fallback). A request nobody\n"
   "recorded gets HTTP 404 with an OpenAI error (code not_recorded). The banner and\n"
   "GET /v1/models say that it replays. Stop it with SIGINT or SIGTERM.\n"
   "\n"
   "options:\n"
   "  --from FILE        exchange records to serve\n"
   "  --workspace FILE   serve the workspace's exchanges (default: -w, else the usual)\n"
   "  --task TASK        only this task's calls (repeat it to serve several tasks)\n"
   "  --listen HOST:PORT where to listen (default 127.0.0.1:0: a free port, announced on stdout)\n"
   "  --latency-ms N     wait N ms before each answer (default 0)\n"
   "  --error-rate F     answer this share of requests with an injected HTTP 500 (default 0)\n"
   "  --seed N           of the injected errors (default 1)\n"
   "\n"
   "endpoints: POST /v1/chat/completions (stream or not), GET /v1/models, GET /healthz,\n"
   "GET /stats (requests, answered from the recording, not recorded, injected errors).\n";

int cmd_replay_server(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, server_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "from", required_argument, NULL, 'f' },       { "workspace", required_argument, NULL, 'w' },
      { "task", required_argument, NULL, 't' },       { "listen", required_argument, NULL, 'l' },
      { "latency-ms", required_argument, NULL, 'L' }, { "error-rate", required_argument, NULL, 'e' },
      { "seed", required_argument, NULL, 's' },       { 0 },
   };
   const char *from = NULL, *listen = "127.0.0.1:0";
   ReplayServerOpts o = { .seed = 1 };
   RecordedFilter f = { .answers = true };
   /* Each --task loads its calls in turn (the loads append); none loads every task's. */
   const char *tasks[32];
   int ntasks = 0;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'f': from = optarg; break;
      case 'w': cli->workspace = optarg; break;
      case 't':
         if (ntasks == (int)ARRAY_SIZE(tasks))
            return Cli_usage_error("replay-server", "--task given more than %d times", (int)ARRAY_SIZE(tasks));
         tasks[ntasks++] = optarg;
         break;
      case 'l': listen = optarg; break;
      case 'L': o.latency_ms = Cli_long("replay-server", "--latency-ms", optarg, 0, 600000); break;
      case 'e':
         if (!parse_double(optarg, &o.error_rate) || o.error_rate < 0 || o.error_rate > 1)
            return Cli_bad_value("replay-server", "--error-rate", optarg, "a share from 0 to 1");
         break;
      case 's': o.seed = (uint64_t)Cli_long("replay-server", "--seed", optarg, 0, 0x7fffffffL); break;
      default: return Cli_bad_option("replay-server", argc, argv);
      }
   }
   if (optind < argc)
      return Cli_usage_error("replay-server", "unexpected argument '%s' (the file goes after --from)", argv[optind]);
   const char *colon = strrchr(listen, ':');
   if (!colon || colon == listen)
      return Cli_usage_error("replay-server", "--listen '%s' is not HOST:PORT (e.g. 127.0.0.1:0)", listen);
   o.port = (int)Cli_long("replay-server", "--listen port", colon + 1, 0, 65535);
   char *host = xstrndup(listen, (size_t)(colon - listen));
   o.host = host;
   Recorded calls = { 0 };
   char *err = NULL, *source = NULL;
   Store *st = NULL;
   if (from) {
      source = xstrdup(from);
   } else {
      char *path = Store_default_path(cli->workspace);
      source = xasprintf("workspace %s", path);
      free(path);
      st = Cli_open(cli, false);
   }
   bool ok = true;
   for (int i = 0; ok && i < (ntasks ? ntasks : 1); i++) {
      size_t had = calls.n;
      f.task = ntasks ? tasks[i] : NULL;
      ok = from ? Recorded_load_file(&calls, from, &f, &err) : Recorded_load_store(&calls, st, &f, &err);
      if (ok && calls.n == had) {
         err = xasprintf("%s holds no recorded answers%s%s (exchange records with a request and a response)", source,
                         f.task ? " of task " : "", f.task ? f.task : "");
         ok = false;
      }
   }
   Store_close(st);
   if (ok) {
      o.source = source;
      ok = ReplayServer_run(&calls, &o, &err);
   }
   if (!ok) {
      fprintf(stderr, "offramp replay-server: %s\n", err);
      free(err);
   }
   Recorded_free(&calls);
   free(source);
   free(host);
   return ok ? EXIT_OK : EXIT_ERROR;
}
