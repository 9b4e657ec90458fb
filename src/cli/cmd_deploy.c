/* cmd_deploy.c - "offramp deploy": record a trainer's artifact as a model version, put it on a
 * model server (vLLM, Ollama, llama.cpp server), list versions and deployments, roll back, and
 * run the readiness smoke check. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "control/deploy.h"
#include "control/task.h"

#define DEPLOY_TIMEOUT_MS 60000L   /* one call to the server (loading an adapter takes a while) */
#define SMOKE_TIMEOUT_MS 30000L    /* one smoke row */

static const char usage[] =
   "usage: offramp deploy TASK --to URL --kind KIND [--version V] [--served-path PATH] [--base NAME]\n"
   "                      [--scale S] [--key-env VAR] [--reason TEXT] [--no-smoke]\n"
   "       offramp deploy register TASK --artifact PATH|URL --base-model MODEL [--rank R] [--job ID]\n"
   "                      [--dataset N] [--sha256 HEX] [--size BYTES]\n"
   "       offramp deploy list [TASK] [--json]\n"
   "       offramp deploy rollback TASK [--reason TEXT] [--no-smoke]\n"
   "       offramp deploy smoke TASK\n"
   "       offramp deploy gate TASK\n"
   "       offramp deploy load TASK [--concurrency N] [--requests R]\n"
   "\n"
   "The owned model: a trainer's result (a LoRA adapter directory or a GGUF file) recorded as the\n"
   "task's next version with its lineage (dataset, job, base model, rank, sha256, size), put on\n"
   "a model server over the server's own API, and checked before shadow: the smoke check sends\n"
   "10 held-out rows of the version's dataset the way 'offramp eval' does and wants every one\n"
   "answered in the task's format. The route's candidate is then CHAT_URL and MODEL as printed.\n"
   "\n"
   "kinds:\n"
   "  vllm      POST /v1/load_lora_adapter (the server needs VLLM_ALLOW_RUNTIME_LORA_UPDATING=True\n"
   "            and --enable-lora); served as TASK-vN\n"
   "  ollama    the artifact's files pushed to /api/blobs, then POST /api/create from the base\n"
   "            model with the adapter; served as TASK:vN on its /v1\n"
   "  llamacpp  llama-server started with --lora FILE for each version; POST /lora-adapters\n"
   "            applies this version's adapter alone\n"
   "\n"
   "options:\n"
   "  --to URL           the server's base URL, e.g. http://gpu-box:8000\n"
   "  --version V        the version to deploy (default: the latest)\n"
   "  --served-path PATH the artifact's path on the server when it differs from the registered one\n"
   "  --base NAME        Ollama: the base model's name there (default: the version's base model)\n"
   "  --scale S          llama.cpp: the adapter's scale (default 1)\n"
   "  --key-env VAR      the environment variable holding the server's API key (vLLM --api-key,\n"
   "                     llama-server --api-key); sent as a bearer token, never stored\n"
   "  --no-smoke         deploy or roll back without running the smoke check now\n"
   "  --artifact PATH    an absolute path (digest and size computed), or a URL with --sha256\n"
   "  --job ID           the experiment that trained it (its number or job id in offramp jobs):\n"
   "                     its dataset is the lineage\n"
   "  --dataset N        the dataset, when there is no job (default: the task's latest)\n"
   "  --concurrency N    load: requests in flight at once (default 4)\n"
   "  --requests R       load: streamed requests in all (default 50), the test set's rows in turn\n"
   "  --json             machine-readable list\n"
   "\n"
   "'deploy rollback' re-activates the previous version, loading it again on its server when the\n"
   "server dropped it. 'deploy gate' says whether shadow may start as far as the deployment goes\n"
   "(from the workspace, no network). 'deploy load' measures the active deployment: time to first\n"
   "token and latency p50/p99, decode tokens/s, at a concurrency; deploy list --json keeps them.\n"
   "Exit status 3 when the smoke check fails or the gate is shut.\n";

static int smoke(Store *st, const char *task) {
   SmokeResult res;
   char *summary = NULL, *err = NULL;
   if (!Deploy_smoke(st, task, SMOKE_TIMEOUT_MS, &res, &summary, &err)) {
      warnx_("deploy smoke: %s", err);
      free(err);
      free(summary);
      return EXIT_ERROR;
   }
   printf("smoke %s: %s\n", res.passed ? "passed" : "FAILED", summary);
   if (!res.passed)
      fprintf(stderr, "offramp: deploy smoke: shadow stays closed until the smoke check passes "
                      "(offramp deploy smoke %s)\n", task);
   free(summary);
   return res.passed ? EXIT_OK : EXIT_GATE;
}

/* The route's candidate for the task's newest deployment: the model name and the chat URL. */
static void print_candidate(Store *st, const char *task) {
   json_t *l = Deploy_list_json(st, task);
   json_t *d = json_array_get(json_object_get(l, "deployments"), 0);
   printf("  route candidate: --candidate-url %s --candidate-model %s\n", json_string_value(json_object_get(d, "chat_url")),
          json_string_value(json_object_get(d, "model")));
   json_decref(l);
}

static void print_list(json_t *l) {
   json_t *vs = json_object_get(l, "versions"), *ds = json_object_get(l, "deployments");
   size_t i;
   json_t *o;
   printf("%-20s %4s  %-11s %-28s %4s  %-12s %s\n", "TASK", "VER", "FORMAT", "BASE MODEL", "RANK", "SHA256", "ARTIFACT");
   json_array_foreach(vs, i, o) {
      char rank[16] = "-";
      if (json_is_integer(json_object_get(o, "rank")))
         snprintf(rank, sizeof rank, "%lld", (long long)json_integer_value(json_object_get(o, "rank")));
      printf("%-20s %4lld  %-11s %-28s %4s  %.12s %s\n", json_string_value(json_object_get(o, "task")),
             (long long)json_integer_value(json_object_get(o, "version")), json_string_value(json_object_get(o, "format")),
             json_string_value(json_object_get(o, "base_model")), rank, json_string_value(json_object_get(o, "sha256")),
             json_string_value(json_object_get(o, "artifact")));
   }
   if (!json_array_size(ds))
      return;
   printf("\n%-4s %-20s %4s  %-8s %-11s %-6s %-6s %s\n", "ID", "TASK", "VER", "KIND", "STATUS", "SMOKE", "ROUTE",
          "MODEL @ CHAT URL");
   json_array_foreach(ds, i, o) {
      json_t *ok = json_object_get(o, "smoke_ok"), *rev = json_object_get(o, "route_event");
      char route[16] = "-";
      if (json_is_integer(rev))
         snprintf(route, sizeof route, "#%lld", (long long)json_integer_value(rev));
      printf("%-4lld %-20s %4lld  %-8s %-11s %-6s %-6s %s @ %s\n", (long long)json_integer_value(json_object_get(o, "id")),
             json_string_value(json_object_get(o, "task")), (long long)json_integer_value(json_object_get(o, "version")),
             json_string_value(json_object_get(o, "kind")), json_string_value(json_object_get(o, "status")),
             json_is_null(ok) ? "-" : json_integer_value(ok) ? "pass" : "FAIL", route,
             json_string_value(json_object_get(o, "model")), json_string_value(json_object_get(o, "chat_url")));
   }
}

int cmd_deploy(Cli *cli, int argc, char **argv) {
   /* --version takes a value here; alone it prints the program's version like everywhere. */
   for (int i = 1; i < argc && !str_eq(argv[i], "--"); i++) {
      if (str_eq(argv[i], "-h") || str_eq(argv[i], "--help")) {
         fputs(usage, stdout);
         return EXIT_OK;
      }
   }
   if (argc == 2 && str_eq(argv[1], "--version")) {
      printf("offramp deploy %s\n", PACKAGE_VERSION);
      return EXIT_OK;
   }
   static const struct option opts[] = {
      { "to", required_argument, NULL, 't' }, { "kind", required_argument, NULL, 'k' },
      { "version", required_argument, NULL, 'V' }, { "served-path", required_argument, NULL, 'p' },
      { "base", required_argument, NULL, 'b' }, { "scale", required_argument, NULL, 's' },
      { "reason", required_argument, NULL, 'r' }, { "no-smoke", no_argument, NULL, 'n' },
      { "artifact", required_argument, NULL, 'a' }, { "base-model", required_argument, NULL, 'm' },
      { "rank", required_argument, NULL, 'R' }, { "job", required_argument, NULL, 'j' },
      { "dataset", required_argument, NULL, 'd' }, { "sha256", required_argument, NULL, 'H' },
      { "size", required_argument, NULL, 'z' }, { "json", no_argument, NULL, 'J' },
      { "key-env", required_argument, NULL, 'K' }, { "concurrency", required_argument, NULL, 'c' }, { "requests", required_argument, NULL, 'q' }, { 0 },
   };
   DeployRequest r = { .scale = 1, .timeout_ms = DEPLOY_TIMEOUT_MS };
   VersionSpec v = { .size = -1 };
   bool json = false, no_smoke = false;
   long concurrency = 4, requests = 50;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 't': r.server = optarg; break;
      case 'k': r.kind = optarg; break;
      case 'V': r.version = Cli_long("deploy", "--version", optarg, 1, 1000000); break;
      case 'p': r.served_path = optarg; break;
      case 'b': r.base = optarg; break;
      case 'K': r.key_env = optarg; break;
      case 's':
         if (!parse_double(optarg, &r.scale))
            return Cli_bad_value("deploy", "--scale", optarg, "a number above 0 (e.g. 0.5)");
         break;
      case 'r': r.reason = optarg; break;
      case 'n': no_smoke = true; break;
      case 'a': v.artifact = optarg; break;
      case 'm': v.base_model = optarg; break;
      case 'R': v.rank = Cli_long("deploy", "--rank", optarg, 1, 4096); break;
      case 'j': v.job = optarg; break;
      case 'd': v.dataset_id = Cli_long("deploy", "--dataset", optarg, 1, 1L << 40); break;
      case 'H': v.sha256 = optarg; break;
      case 'z': v.size = Cli_long("deploy", "--size", optarg, 0, 1L << 50); break;
      case 'J': json = true; break;
      case 'c': concurrency = Cli_long("deploy", "--concurrency", optarg, 1, 256); break;
      case 'q': requests = Cli_long("deploy", "--requests", optarg, 1, 100000); break;
      default: return Cli_bad_option("deploy", argc, argv);
      }
   }
   const char *sub = optind < argc ? argv[optind] : NULL;
   const char *task = optind + 1 < argc ? argv[optind + 1] : NULL;
   if (!sub)
      return Cli_usage_error("deploy", "name a task or one of register, list, rollback, smoke, gate, load");
   char *err = NULL;
   int rc = EXIT_OK;
   if (str_eq(sub, "list")) {
      Store *st = Cli_open(cli, false);
      json_t *l = Deploy_list_json(st, task);
      if (json)
         Cli_print_json(l);
      else {
         print_list(l);
         json_decref(l);
      }
      Store_close(st);
      return EXIT_OK;
   }
   if (str_eq(sub, "register") || str_eq(sub, "rollback") || str_eq(sub, "smoke") || str_eq(sub, "gate") ||
       str_eq(sub, "load")) {
      if (!task)
         return Cli_usage_error("deploy", "%s needs a task", sub);
      if (optind + 2 < argc)
         return Cli_usage_error("deploy", "unexpected argument '%s'", argv[optind + 2]);
   } else {
      if (task)
         return Cli_usage_error("deploy", "unexpected argument '%s'", task);
      task = sub;
      sub = "deploy";
      if (!r.server || !r.kind)
         return Cli_usage_error("deploy", "deploying %s needs --to URL and --kind vllm|ollama|llamacpp", task);
   }
   Store *st = Cli_open(cli, false);
   if (str_eq(sub, "register")) {
      if (!v.artifact)
         rc = Cli_usage_error("deploy", "register needs --artifact PATH|URL");
      else {
         long number;
         v.task = task;
         if (Deploy_register(st, &v, &number, &err))
            printf("%s: version %ld recorded (%s)\n", task, number, v.artifact);
         else
            rc = EXIT_ERROR;
      }
   } else if (str_eq(sub, "smoke")) {
      rc = smoke(st, task);
   } else if (str_eq(sub, "load")) {
      LoadResult lr;
      if (Deploy_load(st, task, (int)concurrency, (int)requests, SMOKE_TIMEOUT_MS, NULL, &lr, NULL, &err)) {
         char *txt = Deploy_load_text(task, &lr, NULL, NULL);
         fputs(txt, stdout);
         free(txt);
      } else {
         rc = EXIT_ERROR;
      }
   } else if (str_eq(sub, "gate")) {
      Task t;
      Task_init(&t);
      if (Task_get(st, task, &t, &err)) {
         /* The check as the phase gate shows it. */
         GateCheck gc;
         bool applies = Deploy_gate_check(st, t.id, &gc);
         if (!applies)
            printf("not applicable: %s has no model version registered by offramp deploy\n", t.name);
         else
            printf("%s: %s\n", gc.status == CHECK_PASS ? "ready" : "waiting", gc.detail);
         rc = applies && gc.status != CHECK_PASS ? EXIT_GATE : EXIT_OK;
      } else {
         rc = EXIT_ERROR;
      }
      Task_clear(&t);
   } else if (str_eq(sub, "rollback")) {
      long long id;
      bool reloaded;
      if (Deploy_rollback(st, task, r.reason, DEPLOY_TIMEOUT_MS, &id, &reloaded, &err)) {
         printf("%s: rolled back (deployment %lld)%s\n", task, id,
                reloaded ? "; the server no longer served the previous version, which was put back on it" : "");
         print_candidate(st, task);
         rc = no_smoke ? EXIT_OK : smoke(st, task);
      } else {
         rc = EXIT_ERROR;
      }
   } else {
      long long id;
      char *model = NULL;
      r.task = task;
      if (Deploy_run(st, &r, &id, &model, &err)) {
         printf("%s: deployment %lld on %s: model %s\n", task, id, r.kind, model);
         print_candidate(st, task);
         free(model);
         rc = no_smoke ? EXIT_OK : smoke(st, task);
      } else {
         rc = EXIT_ERROR;
      }
   }
   if (err) {
      warnx_("deploy: %s", err);
      free(err);
   }
   Store_close(st);
   return rc;
}
