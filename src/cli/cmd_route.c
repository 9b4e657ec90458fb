/* cmd_route.c - "offramp route show|set|rollback": drives a running gateway's admin API. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "control/gwadmin.h"
#include "control/task.h"

static const char usage[] =
   "usage: offramp route show [TASK] [--json]\n"
   "       offramp route set TASK [ROUTE OPTIONS] [--reason TEXT]\n"
   "       offramp route rollback TASK --reason TEXT\n"
   "       offramp route revert TASK [REVISION] [--reason TEXT]\n"
   "\n"
   "Show or change a task's route on a running gateway (its admin API). 'set' starts\n"
   "from the current route (or --json FILE, '-' for stdin) and applies the options;\n"
   "'rollback' sends all of the task's traffic to the primary now; 'revert' puts back\n"
   "the candidate model of an earlier revision (default: the one before the current\n"
   "model; 'route show TASK' numbers them), keeping the mode. Every change is\n"
   "recorded with who, when, old -> new and the reason.\n"
   "\n"
   "The gateway checks every change against the task's phase and gates: a mode past\n"
   "an unmet gate is refused (exit 3, the missing items listed) unless --force with a\n"
   "--reason, recorded as forced. A change moves the phase with it (a rollback back).\n"
   "\n"
   "route options:\n"
   "  --mode MODE               passthrough | shadow | canary | cutover\n"
   "  --percent N               canary: share of traffic the candidate answers\n"
   "  --candidate-url URL       the candidate model server (…/v1)\n"
   "  --candidate-model NAME    model name sent to the candidate\n"
   "  --candidate-key-env NAME  environment variable (of the gateway) with its key\n"
   "  --primary-url URL         the primary (default: the gateway's --upstream)\n"
   "  --primary-model NAME      model name sent to the primary\n"
   "  --primary-key-env NAME\n"
   "  --compare MODE            label | exact | json | text | tool_calls\n"
   "  --metric NAME             compare text: chrf | rouge-l (default: the task's)\n"
   "  --threshold X             compare text: score (0-1) at which answers agree\n"
   "                            (default: the task's --metric-threshold)\n"
   "  --min-confidence X        cutover: fall back below this confidence (0-1)\n"
   "  --timeout-ms N            candidate timeout before falling back\n"
   "  --no-fallback-on-error    serve candidate errors as they are\n"
   "  --verify-percent N        share of candidate answers also checked on the primary\n"
   "  --noise-percent N         shadow: share asked of the primary twice (noise baseline)\n"
   "  --sticky KEY              canary split by user | conversation | random\n"
   "  --alias MODEL             a request \"model\" that selects this route (repeatable)\n"
   "  --json FILE               start from this route JSON instead of the current one\n"
   "\n"
   "common options:\n"
   "  --gateway URL             the gateway (default $OFFRAMP_GATEWAY, else the\n"
   "                            workspace's setting gateway.url, else\n"
   "                            http://127.0.0.1:8400)\n"
   "  --admin-token-file FILE   admin token (default $OFFRAMP_ADMIN_TOKEN, else the file\n"
   "                            in the workspace's setting gateway.admin_token_file)\n"
   "  --reason TEXT             why, for the audit trail\n"
   "  --force                   past unmet gates (needs --reason; recorded as forced)\n"
   "  -h, --help                this help\n";

/* One admin call; the answer (an error body too, see *status), or NULL after printing why. */
static json_t *admin_call(const GwAdmin *a, const char *method, const char *path, const char *body, long *status) {
   char *err = NULL;
   json_t *j = GwAdmin_call(a, method, path, body, status, &err);
   if (!j) {
      fprintf(stderr, "offramp route: %s\n", err);
      free(err);
   }
   return j;
}

static void print_route(json_t *r) {
   const char *mode = json_string_value(json_object_get(r, "mode"));
   json_t *cand = json_object_get(r, "candidate"), *prim = json_object_get(r, "primary");
   json_t *fb = json_object_get(r, "fallback");
   printf("%s: %s", json_string_value(json_object_get(r, "task")), mode);
   if (str_eq(mode, "canary"))
      printf(" %g %%", json_number_value(json_object_get(r, "percent")));
   printf(", compare %s\n", json_string_value(json_object_get(r, "compare")));
   const char *pu = json_string_value(json_object_get(prim, "url"));
   const char *pm = json_string_value(json_object_get(prim, "model"));
   printf("  primary:   %s%s%s%s\n", pu ? pu : "the gateway's default upstream", pm ? " (" : "", pm ? pm : "",
          pm ? ")" : "");
   if (cand) {
      const char *cm = json_string_value(json_object_get(cand, "model"));
      printf("  candidate: %s%s%s%s\n", json_string_value(json_object_get(cand, "url")), cm ? " (" : "",
             cm ? cm : "", cm ? ")" : "");
   }
   printf("  fallback:  min_confidence %g, on_error %s, timeout %lld ms; verify %g %%, noise %g %%\n",
          json_number_value(json_object_get(fb, "min_confidence")),
          json_is_true(json_object_get(fb, "on_error")) ? "yes" : "no",
          (long long)json_integer_value(json_object_get(fb, "timeout_ms")),
          json_number_value(json_object_get(r, "verify_percent")),
          json_number_value(json_object_get(r, "noise_percent")));
   json_t *an = json_object_get(r, "analysis");
   if (json_is_object(an) && json_is_true(json_object_get(an, "enabled")))
      printf("  analysis:  in canary a check every %g s, rollback at %lld failed, verify %g %%, auto-promote %s\n",
             json_number_value(json_object_get(an, "interval_s")),
             (long long)json_integer_value(json_object_get(an, "failure_limit")),
             json_number_value(json_object_get(an, "verify_percent")),
             json_is_true(json_object_get(an, "auto_promote")) ? "on" : "off");
   else if (json_is_object(an))
      printf("  analysis:  off (the gateway does not check this route in canary)\n");
}

static int show(const GwAdmin *a, const char *task, bool as_json) {
   long status;
   char *t = task ? GwAdmin_escape(task) : NULL;
   char *path = task ? xasprintf("/admin/routes/%s", t) : xstrdup("/admin/routes");
   json_t *j = admin_call(a, "GET", path, NULL, &status);
   free(path);
   free(t);
   if (!j)
      return EXIT_ERROR;
   if (status != 200) {
      fprintf(stderr, "offramp route: %s\n", GwAdmin_error_message(j));
      json_decref(j);
      return EXIT_ERROR;
   }
   if (as_json) {
      Cli_print_json(j);
      return EXIT_OK;
   }
   if (!task) {
      size_t i;
      json_t *r;
      json_array_foreach(json_object_get(j, "routes"), i, r) print_route(r);
      if (json_array_size(json_object_get(j, "routes")) == 0)
         printf("no routes: every task passes through to %s\n",
                json_string_value(json_object_get(j, "default_upstream")) ?: "the default upstream (none set)");
   } else {
      json_t *r = json_object_get(j, "route");
      if (json_is_object(r))
         print_route(r);
      size_t i;
      json_t *ev;
      json_array_foreach(json_object_get(j, "history"), i, ev) {
         json_t *old = json_object_get(ev, "old");
         json_t *new = json_object_get(ev, "new");
         const char *model = json_string_value(json_object_get(json_object_get(new, "candidate"), "model"));
         printf("  r%lld %s %s %s: %s -> %s", (long long)json_integer_value(json_object_get(ev, "revision")),
                json_string_value(json_object_get(ev, "ts")), json_string_value(json_object_get(ev, "actor")),
                json_string_value(json_object_get(ev, "kind")),
                json_is_object(old) ? json_string_value(json_object_get(old, "mode")) : "(none)",
                json_string_value(json_object_get(new, "mode")));
         const char *why = json_string_value(json_object_get(ev, "reason"));
         if (why && *why)
            printf(" \"%s\"", why);
         printf("%s%s%s\n", model ? "  candidate " : "", model ? model : "",
                json_is_true(json_object_get(ev, "forced")) ? "  FORCED past the gates" : "");
      }
   }
   json_decref(j);
   return EXIT_OK;
}

/* The last line of a refusal, what the console shows of it: the unmet checks by name. */
static void print_refused(const json_t *j) {
   size_t i;
   json_t *m;
   fprintf(stderr, "offramp route: refused by the gates, not met:");
   json_array_foreach(json_object_get(json_object_get(j, "error"), "missing"), i, m)
      fprintf(stderr, "%s %s", i ? "," : "", json_string_value(json_object_get(m, "what")));
   fprintf(stderr, "\n");
}

static json_t *load_json_file(const char *file) {
   json_error_t je;
   json_t *j = str_eq(file, "-") ? json_loadf(stdin, 0, &je) : json_load_file(file, 0, &je);
   if (!j)
      fprintf(stderr, "offramp route: --json %s: %s (line %d)\n", file, je.text, je.line);
   return j;
}

static void set_arm(json_t *route, const char *arm, const char *key, const char *value) {
   json_t *o = json_object_get(route, arm);
   if (!json_is_object(o)) {
      o = json_object();
      json_object_set_new(route, arm, o);
   }
   json_object_set_new(o, key, json_string(value));
}

static json_t *fallback_obj(json_t *route) {
   json_t *o = json_object_get(route, "fallback");
   if (!json_is_object(o)) {
      o = json_object();
      json_object_set_new(route, "fallback", o);
   }
   return o;
}

static double number_arg(const char *opt, const char *v, double min, double max) {
   double d;
   if (!parse_double(v, &d) || d < min || d > max) {
      exit(Cli_bad_value("route", opt, v, "a number from %g to %g", min, max));
   }
   return d;
}

int cmd_route(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, usage))
      return EXIT_OK;
   enum { O_GW = 256, O_TOKEN, O_REASON, O_JSONOUT, O_MODE, O_PERCENT, O_CURL, O_CMODEL, O_CKEY, O_PURL,
          O_PMODEL, O_PKEY, O_COMPARE, O_MINCONF, O_TIMEOUT, O_NOFB, O_VERIFY, O_NOISE, O_STICKY, O_ALIAS,
          O_JSONIN, O_FORCE, O_METRIC, O_THRESHOLD };
   static const struct option opts[] = {
      { "gateway", required_argument, NULL, O_GW },
      { "admin-token-file", required_argument, NULL, O_TOKEN },
      { "reason", required_argument, NULL, O_REASON },
      { "mode", required_argument, NULL, O_MODE },
      { "percent", required_argument, NULL, O_PERCENT },
      { "candidate-url", required_argument, NULL, O_CURL },
      { "candidate-model", required_argument, NULL, O_CMODEL },
      { "candidate-key-env", required_argument, NULL, O_CKEY },
      { "primary-url", required_argument, NULL, O_PURL },
      { "primary-model", required_argument, NULL, O_PMODEL },
      { "primary-key-env", required_argument, NULL, O_PKEY },
      { "compare", required_argument, NULL, O_COMPARE },
      { "metric", required_argument, NULL, O_METRIC },
      { "threshold", required_argument, NULL, O_THRESHOLD },
      { "min-confidence", required_argument, NULL, O_MINCONF },
      { "timeout-ms", required_argument, NULL, O_TIMEOUT },
      { "no-fallback-on-error", no_argument, NULL, O_NOFB },
      { "verify-percent", required_argument, NULL, O_VERIFY },
      { "noise-percent", required_argument, NULL, O_NOISE },
      { "sticky", required_argument, NULL, O_STICKY },
      { "alias", required_argument, NULL, O_ALIAS },
      { "json", optional_argument, NULL, O_JSONIN },
      { "force", no_argument, NULL, O_FORCE },
      { 0 },
   };
   GwAdmin a;
   const char *gateway = NULL, *token_file = NULL, *reason = NULL, *json_in = NULL;
   bool json_out = false, force = false;
   json_t *changes = json_object(), *aliases = NULL;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      json_t *fb;
      switch (c) {
      case O_GW: gateway = optarg; break;
      case O_TOKEN: token_file = optarg; break;
      case O_REASON: reason = optarg; break;
      case O_FORCE: force = true; break;
      case O_JSONIN:
         if (optarg)
            json_in = optarg;
         else
            json_out = true;
         break;
      case O_MODE: json_object_set_new(changes, "mode", json_string(optarg)); break;
      case O_PERCENT: json_object_set_new(changes, "percent", json_real(number_arg("--percent", optarg, 0, 100))); break;
      case O_CURL: set_arm(changes, "candidate", "url", optarg); break;
      case O_CMODEL: set_arm(changes, "candidate", "model", optarg); break;
      case O_CKEY: set_arm(changes, "candidate", "key_env", optarg); break;
      case O_PURL: set_arm(changes, "primary", "url", optarg); break;
      case O_PMODEL: set_arm(changes, "primary", "model", optarg); break;
      case O_PKEY: set_arm(changes, "primary", "key_env", optarg); break;
      case O_COMPARE: json_object_set_new(changes, "compare", json_string(optarg)); break;
      case O_METRIC: json_object_set_new(changes, "metric", json_string(optarg)); break;
      case O_THRESHOLD: json_object_set_new(changes, "threshold", json_real(number_arg("--threshold", optarg, 0, 1))); break;
      case O_STICKY: json_object_set_new(changes, "sticky", json_string(optarg)); break;
      case O_MINCONF:
         fb = fallback_obj(changes);
         json_object_set_new(fb, "min_confidence", json_real(number_arg("--min-confidence", optarg, 0, 1)));
         break;
      case O_TIMEOUT:
         fb = fallback_obj(changes);
         json_object_set_new(fb, "timeout_ms", json_integer(Cli_long("route", "--timeout-ms", optarg, 1, 3600000)));
         break;
      case O_NOFB: json_object_set_new(fallback_obj(changes), "on_error", json_false()); break;
      case O_VERIFY:
         json_object_set_new(changes, "verify_percent", json_real(number_arg("--verify-percent", optarg, 0, 100)));
         break;
      case O_NOISE:
         json_object_set_new(changes, "noise_percent", json_real(number_arg("--noise-percent", optarg, 0, 100)));
         break;
      case O_ALIAS:
         if (!aliases)
            aliases = json_array();
         json_array_append_new(aliases, json_string(optarg));
         break;
      default:
         json_decref(changes);
         json_decref(aliases);
         return Cli_bad_option("route", argc, argv);
      }
   }
   if (aliases)
      json_object_set_new(changes, "aliases", aliases);
   const char *action = optind < argc ? argv[optind] : NULL;
   const char *task = optind + 1 < argc ? argv[optind + 1] : NULL;
   int rc = EXIT_ERROR;
   if (!action || (!str_eq(action, "show") && !str_eq(action, "set") && !str_eq(action, "rollback") &&
                   !str_eq(action, "revert"))) {
      json_decref(changes);
      return Cli_usage_error("route", action ? "unknown action '%s' (show, set, rollback or revert)"
                                             : "missing action: show, set, rollback or revert%s", action ? action : "");
   }
   bool revert = str_eq(action, "revert");
   const char *revision = revert && optind + 2 < argc ? argv[optind + 2] : NULL;
   if (optind + (revision ? 3 : 2) < argc) {
      json_decref(changes);
      return Cli_usage_error("route", "unexpected argument '%s'", argv[optind + (revision ? 3 : 2)]);
   }
   if (!task && !str_eq(action, "show")) {
      json_decref(changes);
      return Cli_usage_error("route", "%s needs a TASK", action);
   }
   if (force && (!reason || !*reason)) {
      json_decref(changes);
      return Cli_usage_error("route", "--force needs --reason TEXT: say why the gates are overridden (it is recorded)");
   }
   long rev = 0;
   if (revision && (!parse_long(revision, &rev) || rev < 1)) {
      json_decref(changes);
      return Cli_usage_error("route", "revision '%s' is not a revision number (offramp route show %s lists them)",
                             revision, task);
   }
   if (revert && json_object_size(changes) > 0) {
      json_decref(changes);
      return Cli_usage_error("route", "revert takes no route options: it changes the candidate only");
   }
   char *err = NULL;
   /* The workspace, when there is one, may say where its gateway is (offramp demo records it). */
   char *ws_path = Store_default_path(cli->workspace);
   Store *st = access(ws_path, F_OK) == 0 ? Store_open(ws_path, 0, &err) : NULL;
   free(ws_path);
   free(err);
   err = NULL;
   bool ready = GwAdmin_init(&a, st, gateway, token_file, &err);
   /* Text compared on the gateway the way the evaluation scored it: the task's metric and
    * threshold, unless given here. */
   Task tk;
   Task_init(&tk);
   char *terr = NULL;
   if (st && task && str_eq(json_string_value(json_object_get(changes, "compare")), "text") &&
       Task_get(st, task, &tk, &terr)) {
      if (!json_object_get(changes, "metric"))
         json_object_set_new(changes, "metric", json_string(TextMetric_name(tk.text_metric)));
      if (!json_object_get(changes, "threshold"))
         json_object_set_new(changes, "threshold", json_real(tk.text_threshold));
   }
   free(terr);
   Task_clear(&tk);
   Store_close(st);
   if (!ready) {
      fprintf(stderr, "offramp route: %s\n", err);
      free(err);
      json_decref(changes);
      return EXIT_USAGE;
   }
   if (str_eq(action, "show")) {
      rc = show(&a, task, json_out);
   } else {
      char *t = GwAdmin_escape(task);
      char *r = GwAdmin_escape(reason ? reason : "");
      long status;
      json_t *route = NULL;
      char *path;
      const char *method = "PUT";
      if (str_eq(action, "rollback")) {
         path = xasprintf("/admin/routes/%s/rollback?reason=%s", t, r);
         method = "POST";
         route = json_object();
      } else if (revert) {
         json_t *j = GwAdmin_revert(&a, task, rev, reason, &status, &err);
         if (j && status == 200) {
            print_route(json_object_get(j, "route"));
            rc = EXIT_OK;
         } else {
            fprintf(stderr, "offramp route: %s\n", j ? GwAdmin_error_message(j) : err);
            rc = j && status == 409 ? EXIT_GATE : EXIT_ERROR;
            if (rc == EXIT_GATE)
               print_refused(j);
         }
         free(err);
         json_decref(j);
         path = NULL;
      } else {
         path = xasprintf("/admin/routes/%s?reason=%s%s", t, r, force ? "&force=1" : "");
         if (json_in) {
            route = load_json_file(json_in);
         } else {
            char *cur = xasprintf("/admin/routes/%s", t);
            json_t *j = admin_call(&a, "GET", cur, NULL, &status);
            free(cur);
            if (j && status == 200 && json_is_object(json_object_get(j, "route")))
               route = json_incref(json_object_get(j, "route"));
            else if (j && (status == 404 || status == 200))
               route = json_object();
            else if (j)
               fprintf(stderr, "offramp route: %s\n", GwAdmin_error_message(j));
            json_decref(j);
         }
         if (route) {
            const char *k;
            json_t *v;
            json_object_foreach(changes, k, v) {
               json_t *cur = json_object_get(route, k);
               if (json_is_object(v) && json_is_object(cur))
                  json_object_update(cur, v);
               else
                  json_object_set(route, k, v);
            }
         }
      }
      if (route) {
         char *body = json_dumps(route, JSON_COMPACT);
         json_t *j = admin_call(&a, method, path, body, &status);
         free(body);
         if (j && status == 200) {
            print_route(json_object_get(j, "route"));
            const char *phase = json_string_value(json_object_get(j, "phase"));
            if (phase && *phase)
               printf("  phase:     %s\n", phase);
            if (json_is_true(json_object_get(j, "forced")))
               printf("  FORCED past the gates, recorded: %s\n", reason);
            rc = EXIT_OK;
         } else if (j) {
            fprintf(stderr, "offramp route: %s\n", GwAdmin_error_message(j));
            if (status == 409) {
               print_refused(j);
               rc = EXIT_GATE;
            }
         }
         json_decref(j);
         json_decref(route);
      }
      free(path);
      free(t);
      free(r);
   }
   json_decref(changes);
   GwAdmin_clear(&a);
   return rc;
}
