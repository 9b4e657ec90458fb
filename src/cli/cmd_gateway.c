/* cmd_gateway.c - "offramp gateway": options, then the gateway's event loop. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "control/gates.h"
#include "control/task.h"
#include "gateway/gateway.h"

static const char usage[] =
   "usage: offramp gateway [OPTIONS]\n"
   "\n"
   "Run the OpenAI-compatible gateway: point the application's base URL at it\n"
   "(http://HOST:PORT/v1). Every exchange is captured in the workspace; each task's\n"
   "route (passthrough, shadow, canary, cutover) is changed at runtime with\n"
   "'offramp route' or the admin API. A route in canary is analysed by the gateway\n"
   "itself (its \"analysis\": a check every interval, a rollback to shadow at the\n"
   "failure limit, auto-promote; see 'offramp rollout --help' and GET\n"
   "/admin/rollout/TASK). SIGTERM drains in-flight requests; SIGHUP reloads routes,\n"
   "the admin token and the --client-keys file.\n"
   "\n"
   "options:\n"
   "  --listen HOST:PORT        where to listen (default 127.0.0.1:8400; port 0 picks one)\n"
   "  --upstream URL            default upstream for unrouted traffic, e.g.\n"
   "                            https://api.openai.com/v1 (default: workspace setting\n"
   "                            gateway.upstream)\n"
   "  --upstream-key-env NAME   environment variable with the default upstream's key\n"
   "                            (default OPENAI_API_KEY); used only with --client-keys or\n"
   "                            --open-relay, else the client's Authorization goes upstream\n"
   "  --client-keys FILE        clients must send 'Authorization: Bearer KEY' with a key\n"
   "                            listed in FILE as 'sha256:HEX [TASKS]' (HEX: the key's\n"
   "                            SHA-256, TASKS: * or task1,task2); they are served on\n"
   "                            the operator's keys\n"
   "  --open-relay              serve every client on the operator's keys, no client auth\n"
   "  --key-env NAME            an environment variable a route's key_env may name\n"
   "                            (repeatable; the --upstream-key-env one always may)\n"
   "  --max-tasks N             distinct unrouted task names kept in stats (default 256;\n"
   "                            more are counted as \"(other)\" and captured untagged)\n"
   "  --known-tasks-only        a task tag without a route gets 404\n"
   "  --admin-token-file FILE   bearer token for /admin/* (default $OFFRAMP_ADMIN_TOKEN;\n"
   "                            without either the admin API is off)\n"
   "  --admin-remote            accept admin calls from non-loopback clients\n"
   "  --max-body BYTES          largest request body (default 4194304; larger gets 413)\n"
   "  --client-timeout SEC      how long a kept-alive client connection may sit idle, and\n"
   "                            a slow reader may take per write (default 120)\n"
   "  --request-timeout SEC     a request must arrive whole (headers and body) within\n"
   "                            this of its first byte, however it trickles (default 60)\n"
   "  --max-header BYTES        largest request line + headers (default 16384; 431 past it)\n"
   "  --max-conns N             open client connections (default: 4096, or half the\n"
   "                            descriptor limit; past it 503 and close)\n"
   "  --max-inflight N          requests being answered at once (default 1024; past it\n"
   "                            503 with Retry-After)\n"
   "  --upstream-timeout MS     primary upstream timeout (default 60000; then 504)\n"
   "  --drain-timeout SEC       how long SIGTERM waits for in-flight requests (default 30)\n"
   "  --queue N                 capture queue bound in records (default 100000)\n"
   "  --queue-bytes BYTES       capture queue bound in bytes (default 268435456); past\n"
   "                            either bound records are dropped, counted and logged\n"
   "  --no-capture              do not record exchanges\n"
   "  -h, --help                this help\n";

int cmd_gateway(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, usage))
      return EXIT_OK;
   enum { O_LISTEN = 256, O_UPSTREAM, O_KEYENV, O_TOKEN, O_REMOTE, O_BODY, O_CTO, O_UTO, O_DTO, O_QUEUE, O_NOCAP,
          O_RTO, O_HDR, O_CONNS, O_INFLIGHT, O_CLIENTKEYS, O_OPENRELAY, O_ALLOWENV, O_MAXTASKS, O_KNOWN, O_QBYTES };
   static const struct option opts[] = {
      { "listen", required_argument, NULL, O_LISTEN },
      { "upstream", required_argument, NULL, O_UPSTREAM },
      { "upstream-key-env", required_argument, NULL, O_KEYENV },
      { "admin-token-file", required_argument, NULL, O_TOKEN },
      { "admin-remote", no_argument, NULL, O_REMOTE },
      { "max-body", required_argument, NULL, O_BODY },
      { "client-timeout", required_argument, NULL, O_CTO },
      { "upstream-timeout", required_argument, NULL, O_UTO },
      { "drain-timeout", required_argument, NULL, O_DTO },
      { "queue", required_argument, NULL, O_QUEUE },
      { "queue-bytes", required_argument, NULL, O_QBYTES },
      { "no-capture", no_argument, NULL, O_NOCAP },
      { "request-timeout", required_argument, NULL, O_RTO },
      { "max-header", required_argument, NULL, O_HDR },
      { "max-conns", required_argument, NULL, O_CONNS },
      { "max-inflight", required_argument, NULL, O_INFLIGHT },
      { "client-keys", required_argument, NULL, O_CLIENTKEYS },
      { "open-relay", no_argument, NULL, O_OPENRELAY },
      { "key-env", required_argument, NULL, O_ALLOWENV },
      { "max-tasks", required_argument, NULL, O_MAXTASKS },
      { "known-tasks-only", no_argument, NULL, O_KNOWN },
      { 0 },
   };
   GatewayConfig cfg = {
      .listen = "127.0.0.1:8400",
      .upstream_key_env = "OPENAI_API_KEY",
      .max_body = 4L << 20,
      .client_timeout_s = 120,
      .upstream_timeout_ms = 60000,
      .drain_timeout_s = 30,
      .queue_max = 100000,
      .queue_bytes = 256LL << 20,
      .capture = true,
      .gates = &Gates_for_gateway,
      .new_task = Task_create_in_tx,
      .request_timeout_s = 60,
      .max_header = 16384,
      .max_conns = Gateway_default_max_conns(),
      .max_inflight = 1024,
      .max_tasks = 256,
   };
   const char **key_envs = xcalloc((size_t)argc + 1, sizeof *key_envs);
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case O_LISTEN: cfg.listen = optarg; break;
      case O_UPSTREAM: cfg.upstream = optarg; break;
      case O_KEYENV: cfg.upstream_key_env = optarg; break;
      case O_TOKEN: cfg.admin_token_file = optarg; break;
      case O_REMOTE: cfg.admin_remote = true; break;
      case O_BODY: cfg.max_body = Cli_long("gateway", "--max-body", optarg, 1024, 1L << 30); break;
      case O_CTO: cfg.client_timeout_s = Cli_long("gateway", "--client-timeout", optarg, 1, 86400); break;
      case O_UTO: cfg.upstream_timeout_ms = Cli_long("gateway", "--upstream-timeout", optarg, 1, 3600000); break;
      case O_DTO: cfg.drain_timeout_s = Cli_long("gateway", "--drain-timeout", optarg, 0, 3600); break;
      case O_QUEUE: cfg.queue_max = Cli_long("gateway", "--queue", optarg, 1, 100000000); break;
      case O_QBYTES: cfg.queue_bytes = Cli_long("gateway", "--queue-bytes", optarg, 65536, 1L << 40); break;
      case O_NOCAP: cfg.capture = false; break;
      case O_RTO: cfg.request_timeout_s = Cli_long("gateway", "--request-timeout", optarg, 1, 3600); break;
      case O_HDR: cfg.max_header = Cli_long("gateway", "--max-header", optarg, 1024, 1L << 20); break;
      case O_CONNS: cfg.max_conns = Cli_long("gateway", "--max-conns", optarg, 1, 1000000); break;
      case O_INFLIGHT: cfg.max_inflight = Cli_long("gateway", "--max-inflight", optarg, 1, 1000000); break;
      case O_CLIENTKEYS: cfg.client_keys_file = optarg; break;
      case O_OPENRELAY: cfg.open_relay = true; break;
      case O_ALLOWENV: key_envs[cfg.n_key_envs++] = optarg; break;
      case O_MAXTASKS: cfg.max_tasks = Cli_long("gateway", "--max-tasks", optarg, 0, 1000000); break;
      case O_KNOWN: cfg.known_tasks_only = true; break;
      default: free(key_envs); return Cli_bad_option("gateway", argc, argv);
      }
   }
   cfg.key_envs = key_envs;
   if (optind < argc) {
      free(key_envs);
      return Cli_usage_error("gateway", "unexpected argument '%s'", argv[optind]);
   }
   if (cfg.open_relay && cfg.client_keys_file) {
      free(key_envs);
      return Cli_usage_error("gateway", "--open-relay serves clients without a key; it cannot go with --client-keys");
   }
   Store *st = Cli_open(cli, true);
   char *path = xstrdup(st->path);
   char *upstream = cfg.upstream ? xstrdup(cfg.upstream) : Store_setting(st, "gateway.upstream", NULL);
   Store_close(st);
   if (upstream) {
      size_t n = strlen(upstream);
      while (n > 0 && upstream[n - 1] == '/')
         upstream[--n] = '\0';
      if (!str_startswith(upstream, "http://") && !str_startswith(upstream, "https://")) {
         fprintf(stderr, "offramp gateway: --upstream '%s' is not an http:// or https:// URL\n", upstream);
         free(upstream);
         free(path);
         free(key_envs);
         return EXIT_USAGE;
      }
   }
   cfg.workspace = path;
   cfg.upstream = upstream;
   int rc = Gateway_run(&cfg);
   free(upstream);
   free(path);
   free(key_envs);
   return rc;
}
