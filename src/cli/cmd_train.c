/* cmd_train.c - "offramp backend", "offramp train", "offramp jobs" and "offramp job": training
 * backends, starting fine-tuning jobs, following them and picking the candidate. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"
#include "control/experiment.h"
#include "control/runner.h"

#define UPLOAD_TIMEOUT_MS 120000L   /* uploads and job creation */
#define POLL_TIMEOUT_MS 15000L      /* one status/events/checkpoints call */

/* ---- backend ---- */

static const char backend_usage[] =
   "usage: offramp backend add NAME --kind KIND --url URL [--key-env VAR] [--accepts PARAMS]\n"
   "       offramp backend list [--json]\n"
   "       offramp backend rm NAME\n"
   "\n"
   "Training backends: services speaking a fine-tuning API. The API key is never stored: --key-env\n"
   "names the environment variable that holds it.\n"
   "\n"
   "options:\n"
   "  --kind KIND       openai-ft (OpenAI's fine-tuning API shape; offramp trainer speaks it)\n"
   "  --url URL         base URL including /v1, e.g. http://127.0.0.1:8402/v1\n"
   "  --key-env VAR     environment variable with the API key (sent as a bearer token)\n"
   "  --accepts PARAMS  extra hyperparameters the service takes beyond OpenAI's, comma-separated:\n"
   "                    learning_rate, lora_rank (OpenAI takes neither: the default is none)\n"
   "  --json            machine-readable list\n";

int cmd_backend(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, backend_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "kind", required_argument, NULL, 'k' }, { "url", required_argument, NULL, 'u' },
      { "key-env", required_argument, NULL, 'e' }, { "accepts", required_argument, NULL, 'a' },
      { "json", no_argument, NULL, 'j' }, { 0 },
   };
   const char *kind = NULL, *url = NULL, *key_env = NULL, *accepts = NULL;
   bool json = false;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'k': kind = optarg; break;
      case 'u': url = optarg; break;
      case 'e': key_env = optarg; break;
      case 'a': accepts = optarg; break;
      case 'j': json = true; break;
      default: return Cli_bad_option("backend", argc, argv);
      }
   }
   const char *sub = optind < argc ? argv[optind] : "list";
   const char *name = optind + 1 < argc ? argv[optind + 1] : NULL;
   char *err = NULL;
   if (str_eq(sub, "list")) {
      Store *st = Cli_open(cli, false);
      json_t *list = Backend_list_json(st);
      Store_close(st);
      if (json) {
         Cli_print_json(list);
         return EXIT_OK;
      }
      if (json_array_size(list) == 0)
         printf("no backends (offramp backend add local --kind openai-ft --url http://127.0.0.1:8402/v1)\n");
      size_t i;
      json_t *b;
      json_array_foreach(list, i, b)
         printf("%-14s %-10s %-40s %s%s%s%s\n", json_string_value(json_object_get(b, "name")),
                json_string_value(json_object_get(b, "kind")), json_string_value(json_object_get(b, "url")),
                *json_string_value(json_object_get(b, "key_env")) ? "key $" : "",
                json_string_value(json_object_get(b, "key_env")),
                *json_string_value(json_object_get(b, "accepts")) ? " accepts " : "",
                json_string_value(json_object_get(b, "accepts")));
      json_decref(list);
      return EXIT_OK;
   }
   if (!name)
      return Cli_usage_error("backend", "'%s' needs a backend NAME", sub);
   if (str_eq(sub, "add")) {
      if (!kind || !url)
         return Cli_usage_error("backend", "add needs --kind and --url");
      Store *st = Cli_open(cli, true);
      bool ok = Backend_add(st, name, kind, url, key_env, accepts, &err);
      Store_close(st);
      if (!ok) {
         fprintf(stderr, "offramp backend: %s\n", err);
         free(err);
         return EXIT_ERROR;
      }
      printf("added backend %s (%s, %s)\n", name, kind, url);
      return EXIT_OK;
   }
   if (str_eq(sub, "rm")) {
      Store *st = Cli_open(cli, false);
      bool ok = Backend_remove(st, name, &err);
      Store_close(st);
      if (!ok) {
         fprintf(stderr, "offramp backend: %s\n", err);
         free(err);
         return EXIT_ERROR;
      }
      printf("removed backend %s\n", name);
      return EXIT_OK;
   }
   return Cli_usage_error("backend", "'%s' is not add, list or rm", sub);
}

/* ---- following ---- */

static void print_event(const Experiment *e, const JobEvent *ev) {
   char when[32] = "";
   time_t t = (time_t)ev->created_at;
   struct tm tm;
   if (t > 0 && gmtime_r(&t, &tm))
      strftime(when, sizeof when, "%H:%M:%S", &tm);
   printf("#%lld %s %-5s %s\n", e->id, when, ev->level, ev->message);
}

static void print_outcome(const Experiment *e) {
   if (str_eq(e->status, "succeeded"))
      printf("#%lld %s succeeded: %s\n", e->id, e->job_id, e->fine_tuned_model ? e->fine_tuned_model : "(no model name)");
   else if (str_eq(e->status, "failed"))
      fprintf(stderr, "offramp: job %s (experiment #%lld) failed: %s\n", e->job_id, e->id,
              e->error ? e->error : "the trainer gave no reason");
   else if (str_eq(e->status, "cancelled"))
      fprintf(stderr, "offramp: job %s (experiment #%lld) was cancelled\n", e->job_id, e->id);
}

/*
 * Follows experiments until each is final, printing new events. Polls every `interval`
 * seconds while events arrive and backs off (doubling, up to 10x) while they do not or while
 * the backend is unreachable. timeout <= 0: no limit. Returns EXIT_OK when every job
 * succeeded, EXIT_ERROR otherwise (or on timeout/interrupt: the jobs keep running and can be
 * followed again).
 */
static int follow(Store *st, Experiment *exps, int n, double interval, double timeout) {
   long long *printed = xcalloc(n ? n : 1, sizeof *printed);
   bool *done = xcalloc(n ? n : 1, sizeof *done);
   double start = mono_seconds(), wait = interval;
   int remaining = n, rc = EXIT_OK;
   volatile sig_atomic_t *interrupted = Cli_catch_stop(false);
   while (remaining > 0 && !*interrupted) {
      bool progress = false;
      for (int i = 0; i < n; i++) {
         if (done[i])
            continue;
         int fresh = 0;
         char *err = NULL;
         bool was_final = Experiment_final(exps[i].status);
         if (!was_final && !Experiment_poll(st, &exps[i], POLL_TIMEOUT_MS, &fresh, &err)) {
            fprintf(stderr, "offramp: #%lld: %s (retrying)\n", exps[i].id, err);
            free(err);
         }
         progress |= fresh > 0;
         int k;
         JobEvent *ev = Experiment_events(st, exps[i].id, printed[i], &k);
         for (int j = 0; j < k; j++) {
            print_event(&exps[i], &ev[j]);
            printed[i] = ev[j].row;
         }
         Experiment_free_events(ev, k);
         fflush(stdout);
         if (Experiment_final(exps[i].status)) {
            done[i] = true;
            remaining--;
            print_outcome(&exps[i]);
            if (!str_eq(exps[i].status, "succeeded"))
               rc = EXIT_ERROR;
         }
      }
      if (remaining == 0)
         break;
      if (timeout > 0 && mono_seconds() - start >= timeout) {
         fprintf(stderr, "offramp: stopped following after %.0f s; %d job%s still running (offramp jobs --follow "
                 "resumes)\n", timeout, remaining, remaining == 1 ? "" : "s");
         rc = EXIT_ERROR;
         break;
      }
      wait = progress ? interval : fmin(wait * 2, interval * 10);
      struct timespec ts = { (time_t)wait, (long)((wait - floor(wait)) * 1e9) };
      nanosleep(&ts, NULL);
   }
   if (*interrupted) {
      fprintf(stderr, "offramp: interrupted; the jobs keep running (offramp jobs --follow resumes)\n");
      rc = EXIT_ERROR;
   }
   Cli_release_stop();
   free(printed);
   free(done);
   return rc;
}

static double parse_seconds(const char *cmd, const char *opt, const char *v) {
   double d;
   if (!parse_double(v, &d) || d < 0.01 || d > 86400) {
      exit(Cli_bad_value(cmd, opt, v, "a number of seconds from 0.01 to 86400"));
   }
   return d;
}

/* ---- train ---- */

static const char train_usage[] =
   "usage: offramp train TASK (--dataset ID | --train FILE [--validation FILE]) --base-model MODEL\n"
   "                    [--backend NAME] [--epochs N] [--lr X] [--batch N] [--lora-rank N]\n"
   "                    [--suffix TEXT] [--seed N] [--follow [--interval S] [--timeout S]]\n"
   "       offramp train TASK --runner TEMPLATE --base-model MODEL [--dataset ID] [--epochs N] [--lr X]\n"
   "                    [--batch N] [--lora-rank N] [--seed N]\n"
   "\n"
   "Upload a dataset's train file (and its test file as validation) to a training backend, create\n"
   "a fine-tuning job and record it as an experiment of TASK. Defaults follow the playbook: epochs 3,\n"
   "lr 2e-4, batch 8, LoRA rank 32; the learning rate and LoRA rank are sent only to backends that\n"
   "declare them (offramp backend add --accepts).\n"
   "\n"
   "options:\n"
   "  --dataset ID      a dataset built for the task (offramp dataset)\n"
   "  --train FILE      chat JSONL to train on, instead of a dataset\n"
   "  --validation FILE chat JSONL to validate on (with --train)\n"
   "  --backend NAME    the backend (default: the latest added)\n"
   "  --base-model MODEL the model to fine-tune (offramp trainer: distill)\n"
   "  --epochs N        passes over the data (3)\n"
   "  --lr X            learning rate (2e-4)\n"
   "  --batch N         batch size (8)\n"
   "  --lora-rank N     LoRA rank (32; 0 sends none)\n"
   "  --suffix TEXT     part of the fine-tuned model's name\n"
   "  --seed N          the backend's random seed\n"
   "  --follow          follow the job until it ends (exit 0 only if it succeeded)\n"
   "  --interval S      seconds between polls while following (1; backs off to 10x)\n"
   "  --timeout S       stop following after S seconds (the job keeps running)\n"
   "  --runner TEMPLATE train with your own LoRA trainer instead of a backend (below)\n"
   "\n"
   "Self-hosted trainers (--runner): offramp writes a job directory with an axolotl config\n"
   "(axolotl.yaml, axolotl v0.6.0 format: LoRA rank, alpha 2x rank, epochs, lr, batch from the\n"
   "options) and the dataset's train.jsonl and test.jsonl, then runs TEMPLATE with /bin/sh in that\n"
   "directory and follows its output: the trainer's log lines ({'loss': 1.23, 'learning_rate': ...,\n"
   "'epoch': 0.5}, {'eval_loss': ...} and step counters 12/300) become progress and the loss\n"
   "curve. When it exits 0 the adapter it left in {output} (a PEFT directory with\n"
   "adapter_config.json) is recorded as the task's next model version for offramp deploy.\n"
   "Placeholders, each replaced by its shell-quoted value: {dir} the job directory, {config} its\n"
   "axolotl.yaml, {output} its adapter/ (the config's output_dir), {train} {test} the data files,\n"
   "{base_model}. The GPU host is yours; for example:\n"
   "  --runner 'axolotl train {config}'                                  (this machine)\n"
   "  --runner 'rsync -a {dir}/ gpu:job/ && ssh gpu \"cd job && axolotl train axolotl.yaml\" &&\n"
   "            rsync -a gpu:job/adapter/ {output}/'                     (over SSH)\n";

/* offramp train --runner: the user's trainer, run to its end (it is followed as it runs). */
static int train_runner(Cli *cli, const TrainRequest *tr, const char *tmpl, bool follow_opts) {
   char *err = NULL;
   if (!Runner_check_template(tmpl, &err)) {
      fprintf(stderr, "offramp train: %s\n", err);
      free(err);
      return EXIT_USAGE;
   }
   if (tr->backend || tr->train_path || tr->spec.suffix || follow_opts)
      return Cli_usage_error("train", "--runner trains the task's dataset with your command, which is followed to its "
                                      "end: --backend, --train, --validation, --suffix, --follow and --timeout do not apply");
   if (tr->spec.lora_rank <= 0)
      return Cli_usage_error("train", "--runner trains a LoRA adapter: --lora-rank must be 1 or more");
   RunnerRequest rr = { .task = tr->task, .tmpl = tmpl, .base_model = tr->spec.base_model,
                        .dataset_id = tr->dataset_id, .epochs = tr->spec.epochs, .batch = tr->spec.batch,
                        .lora_rank = tr->spec.lora_rank, .lr = tr->spec.lr,
                        .seed = tr->spec.has_seed ? (long)tr->spec.seed : 42 };
   Store *st = Cli_open(cli, false);
   RunnerResult res;
   int rc = EXIT_OK;
   if (Runner_run(st, &rr, &res, &err)) {
      printf("experiment #%lld succeeded: %ld/%ld steps", res.experiment, res.steps, res.total_steps);
      if (!isnan(res.last_loss))
         printf(", last loss %.4f", res.last_loss);
      if (!isnan(res.last_eval_loss))
         printf(", eval loss %.4f", res.last_eval_loss);
      printf("\n%s: version %ld recorded (%s/adapter)\n"
             "  next: offramp job pick %lld; offramp deploy %s --to URL --kind vllm|ollama|llamacpp\n",
             tr->task, res.version, res.dir, res.experiment, tr->task);
   } else {
      if (res.experiment)
         fprintf(stderr, "offramp train: experiment #%lld failed: %s\n", res.experiment, err);
      else
         fprintf(stderr, "offramp train: %s\n", err);
      free(err);
      rc = EXIT_ERROR;
   }
   RunnerResult_clear(&res);
   Store_close(st);
   return rc;
}

int cmd_train(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, train_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "dataset", required_argument, NULL, 'd' }, { "train", required_argument, NULL, 't' },
      { "validation", required_argument, NULL, 'v' }, { "backend", required_argument, NULL, 'b' },
      { "base-model", required_argument, NULL, 'm' }, { "epochs", required_argument, NULL, 'e' },
      { "lr", required_argument, NULL, 'l' }, { "batch", required_argument, NULL, 'B' },
      { "lora-rank", required_argument, NULL, 'r' }, { "suffix", required_argument, NULL, 's' },
      { "seed", required_argument, NULL, 'S' }, { "follow", no_argument, NULL, 'f' },
      { "interval", required_argument, NULL, 'i' }, { "timeout", required_argument, NULL, 'T' },
      { "runner", required_argument, NULL, 'X' }, { 0 },
   };
   const char *runner = NULL;
   TrainRequest r = { 0 };
   r.spec.epochs = TRAIN_DEFAULT_EPOCHS;
   r.spec.lr = TRAIN_DEFAULT_LR;
   r.spec.batch = TRAIN_DEFAULT_BATCH;
   r.spec.lora_rank = TRAIN_DEFAULT_LORA_RANK;
   bool do_follow = false;
   double interval = 1, timeout = 0;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'd': r.dataset_id = Cli_long("train", "--dataset", optarg, 1, 1L << 40); break;
      case 't': r.train_path = optarg; break;
      case 'v': r.validation_path = optarg; break;
      case 'b': r.backend = optarg; break;
      case 'm': r.spec.base_model = optarg; break;
      case 'e': r.spec.epochs = Cli_long("train", "--epochs", optarg, 1, 100); break;
      case 'l':
         if (!parse_double(optarg, &r.spec.lr) || r.spec.lr <= 0 || r.spec.lr > 10) {
            return Cli_bad_value("train", "--lr", optarg, "a learning rate (a number above 0 up to 10, e.g. 2e-4)");
         }
         break;
      case 'B': r.spec.batch = Cli_long("train", "--batch", optarg, 1, 4096); break;
      case 'r': r.spec.lora_rank = Cli_long("train", "--lora-rank", optarg, 0, 1024); break;
      case 's': r.spec.suffix = optarg; break;
      case 'S':
         r.spec.seed = Cli_long("train", "--seed", optarg, 0, 2147483647);
         r.spec.has_seed = true;
         break;
      case 'f': do_follow = true; break;
      case 'i': interval = parse_seconds("train", "--interval", optarg); break;
      case 'T': timeout = parse_seconds("train", "--timeout", optarg); break;
      case 'X': runner = optarg; break;
      default: return Cli_bad_option("train", argc, argv);
      }
   }
   if (optind + 1 != argc)
      return Cli_usage_error("train", "give exactly one TASK");
   r.task = argv[optind];
   if (!r.spec.base_model)
      return Cli_usage_error("train", "--base-model is required (offramp trainer trains 'distill')");
   if (r.dataset_id && r.train_path)
      return Cli_usage_error("train", "--dataset and --train are alternatives: give one");
   if (r.validation_path && !r.train_path)
      return Cli_usage_error("train", "--validation goes with --train");
   if (runner)
      return train_runner(cli, &r, runner, do_follow || timeout > 0);
   Store *st = Cli_open(cli, false);
   long long id = 0;
   char *err = NULL, *notes = NULL;
   if (!Experiment_start(st, &r, UPLOAD_TIMEOUT_MS, &id, &notes, &err)) {
      fprintf(stderr, "offramp train: %s\n", err);
      free(err);
      Store_close(st);
      return EXIT_ERROR;
   }
   if (notes && *notes)
      fprintf(stderr, "offramp train: note: %s\n", notes);
   free(notes);
   char ref[32];
   snprintf(ref, sizeof ref, "%lld", id);
   Experiment e;
   int rc = EXIT_OK;
   if (Experiment_get(st, ref, &e, &err)) {
      printf("experiment #%lld: job %s on %s (%s)\n", e.id, e.job_id, e.backend, e.status);
      fflush(stdout);
      if (do_follow)
         rc = follow(st, &e, 1, interval, timeout);
      Experiment_clear(&e);
   }
   Store_close(st);
   return rc;
}

/* ---- jobs / job ---- */

static void print_table(Experiment *e, int n) {
   printf("%-4s %-18s %-10s %-12s %-10s %-9s %10s %8s %7s  %s\n", "#", "TASK", "BACKEND", "BASE", "STATUS", "STEP",
          "TOKENS", "LOSS", "ACC", "MODEL / JOB");
   for (int i = 0; i < n; i++) {
      json_t *m = json_loads(e[i].metrics ? e[i].metrics : "{}", 0, NULL);
      json_t *step = json_object_get(m, "step"), *total = json_object_get(m, "total_steps");
      json_t *loss = json_object_get(m, "valid_loss"), *acc = json_object_get(m, "valid_mean_token_accuracy");
      if (!loss)
         loss = json_object_get(m, "train_loss");
      char stepbuf[24] = "-", tok[32] = "-", lossbuf[16] = "-", accbuf[16] = "-";
      if (step)
         snprintf(stepbuf, sizeof stepbuf, total ? "%lld/%lld" : "%lld", (long long)json_integer_value(step),
                  (long long)json_integer_value(total));
      if (e[i].trained_tokens >= 0)
         fmt_count(tok, sizeof tok, e[i].trained_tokens);
      if (loss)
         snprintf(lossbuf, sizeof lossbuf, "%.4f", json_number_value(loss));
      if (acc)
         snprintf(accbuf, sizeof accbuf, "%.1f %%", 100 * json_number_value(acc));
      printf("%-4lld %-18.18s %-10.10s %-12.12s %-10s %-9s %10s %8s %7s  %s%s\n", e[i].id, e[i].task, e[i].backend,
             e[i].base_model, e[i].status, stepbuf, tok, lossbuf, accbuf,
             e[i].fine_tuned_model ? e[i].fine_tuned_model : e[i].job_id, e[i].candidate ? " (candidate)" : "");
      if (str_eq(e[i].status, "failed") && e[i].error)
         printf("     failed: %s\n", e[i].error);
      json_decref(m);
   }
}

static const char jobs_usage[] =
   "usage: offramp jobs [TASK] [--json] [--follow [--interval S] [--timeout S]]\n"
   "\n"
   "List training experiments (all tasks, or TASK's). --follow resumes following every job that\n"
   "has not ended (after the console or a follower was closed) until all have.\n";

int cmd_jobs(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, jobs_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "json", no_argument, NULL, 'j' }, { "follow", no_argument, NULL, 'f' },
      { "interval", required_argument, NULL, 'i' }, { "timeout", required_argument, NULL, 'T' }, { 0 },
   };
   bool json = false, do_follow = false;
   double interval = 1, timeout = 0;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'j': json = true; break;
      case 'f': do_follow = true; break;
      case 'i': interval = parse_seconds("jobs", "--interval", optarg); break;
      case 'T': timeout = parse_seconds("jobs", "--timeout", optarg); break;
      default: return Cli_bad_option("jobs", argc, argv);
      }
   }
   if (optind + 1 < argc)
      return Cli_usage_error("jobs", "give at most one TASK");
   const char *task = optind < argc ? argv[optind] : NULL;
   Store *st = Cli_open(cli, false);
   int n, rc = EXIT_OK;
   Experiment *e = Experiment_list(st, task, do_follow, &n);
   if (do_follow) {
      if (n == 0)
         printf("no jobs to follow: every job has ended\n");
      rc = follow(st, e, n, interval, timeout);
   } else if (json) {
      json_t *a = json_array();
      for (int i = 0; i < n; i++)
         json_array_append_new(a, Experiment_to_json(&e[i]));
      Cli_print_json(a);
   } else if (n == 0) {
      printf("no experiments%s%s (offramp train TASK --base-model MODEL ...)\n", task ? " for " : "", task ? task : "");
   } else {
      print_table(e, n);
   }
   Experiment_free_list(e, n);
   Store_close(st);
   return rc;
}

static const char job_usage[] =
   "usage: offramp job show|events|follow|cancel|pick ID [--json] [--interval S] [--timeout S]\n"
   "\n"
   "One experiment (by number, or by the backend's job id):\n"
   "  show    status, hyperparameters, metrics (polls the backend once while the job runs)\n"
   "  events  the events stored so far\n"
   "  follow  poll until the job ends, printing events (exit 0 only if it succeeded)\n"
   "  cancel  ask the backend to cancel the job\n"
   "  pick    make a succeeded experiment the task's candidate for evaluation\n";

int cmd_job(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, job_usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "json", no_argument, NULL, 'j' }, { "interval", required_argument, NULL, 'i' },
      { "timeout", required_argument, NULL, 'T' }, { 0 },
   };
   bool json = false;
   double interval = 1, timeout = 0;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      switch (c) {
      case 'j': json = true; break;
      case 'i': interval = parse_seconds("job", "--interval", optarg); break;
      case 'T': timeout = parse_seconds("job", "--timeout", optarg); break;
      default: return Cli_bad_option("job", argc, argv);
      }
   }
   if (optind + 2 != argc)
      return Cli_usage_error("job", "give an action and an experiment ID");
   const char *sub = argv[optind], *ref = argv[optind + 1];
   if (!str_eq(sub, "show") && !str_eq(sub, "events") && !str_eq(sub, "follow") && !str_eq(sub, "cancel") &&
       !str_eq(sub, "pick"))
      return Cli_usage_error("job", "'%s' is not show, events, follow, cancel or pick", sub);
   Store *st = Cli_open(cli, false);
   Experiment e;
   char *err = NULL;
   int rc = EXIT_OK;
   if (!Experiment_get(st, ref, &e, &err)) {
      fprintf(stderr, "offramp job: %s\n", err);
      free(err);
      Store_close(st);
      return EXIT_ERROR;
   }
   if (str_eq(sub, "show")) {
      int fresh;
      if (!Experiment_final(e.status) && !Experiment_poll(st, &e, POLL_TIMEOUT_MS, &fresh, &err)) {
         fprintf(stderr, "offramp job: showing the stored state: %s\n", err);
         free(err);
         err = NULL;
      }
      if (json)
         Cli_print_json(Experiment_to_json(&e));
      else
         print_table(&e, 1);
   } else if (str_eq(sub, "events")) {
      int n;
      JobEvent *ev = Experiment_events(st, e.id, 0, &n);
      json_t *a = json_array();
      for (int i = 0; i < n; i++) {
         if (json) {
            json_t *d = json_loads(ev[i].data, 0, NULL);
            json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:s, s:o}", "created_at", (json_int_t)ev[i].created_at,
                                               "level", ev[i].level, "type", ev[i].type, "message", ev[i].message,
                                               "data", d ? d : json_object()));
         } else {
            print_event(&e, &ev[i]);
         }
      }
      if (json)
         Cli_print_json(a);
      else
         json_decref(a);
      Experiment_free_events(ev, n);
   } else if (str_eq(sub, "follow")) {
      rc = follow(st, &e, 1, interval, timeout);
   } else if (str_eq(sub, "cancel")) {
      if (!Experiment_cancel(st, &e, POLL_TIMEOUT_MS, &err))
         rc = EXIT_ERROR;
      else
         printf("#%lld %s: %s\n", e.id, e.job_id, e.status);
   } else if (!Experiment_pick(st, &e, &err)) {
      rc = EXIT_ERROR;
   } else {
      printf("%s: candidate is experiment #%lld (%s)\n", e.task, e.id, e.fine_tuned_model);
   }
   if (err) {
      fprintf(stderr, "offramp job: %s\n", err);
      free(err);
   }
   Experiment_clear(&e);
   Store_close(st);
   return rc;
}
