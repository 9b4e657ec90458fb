/* demo.c - the demo: a workspace seeded with seven touchpoints shaped like seed 001's audit
 * table and two weeks of their logs, and its services on loopback. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "control/dataset.h"
#include "control/eval.h"
#include "control/experiment.h"
#include "control/importer.h"
#include "control/kindinfer.h"
#include "control/rollout.h"
#include "control/runbook.h"
#include "control/task.h"
#include "demo/demo.h"
#include "demo/demologs.h"

char *Demo_default_path(void) {
   const char *xdg = getenv("XDG_DATA_HOME");
   if (xdg && *xdg)
      return xasprintf("%s/offramp/demo.db", xdg);
   const char *home = getenv("HOME");
   return xasprintf("%s/.local/share/offramp/demo.db", home && *home ? home : ".");
}

/* Field values by option name, in Task_fields terms; NULL ends a task. */
static const char *const demo_tasks[][32] = {
   { "content-classification", "description", "Classify support tickets into one of 8 queues",
     "provider", "openai", "model", "gpt-4o-mini", "volume", "135000", "cost", "270",
     "input-format", "ticket text, 1-3 paragraphs", "output-format", "one label of 8",
     "quality", "90%+ accuracy", "criticality", "high", "data", "18 months of classified tickets in the CRM",
     "examples", "18000", "kind", "label", NULL },
   { "chat-responses", "description", "Answer customer questions in the support chat",
     "provider", "openai", "model", "gpt-4o", "volume", "240000", "cost", "1920",
     "input-format", "multi-turn conversation", "output-format", "free text",
     "quality", "helpful, on-policy", "criticality", "high", "data", "chat transcripts",
     "examples", "50000", "kind", "open-ended", NULL },
   { "summary-generation", "description", "Summarise a ticket thread in three bullets",
     "provider", "openai", "model", "gpt-4o-mini", "volume", "96000", "cost", "480",
     "input-format", "ticket thread", "output-format", "3 bullet points",
     "quality", "faithful, 3 bullets", "criticality", "medium", "data", "from the logs",
     "examples", "0", "kind", "rewrite", NULL },
   { "tone-analysis", "description", "Tag the customer's tone on each message",
     "provider", "openai", "model", "gpt-4o-mini", "volume", "84000", "cost", "84",
     "input-format", "one message", "output-format", "one of 5 tones",
     "quality", "85%+ accuracy", "criticality", "low", "data", "from the logs",
     "examples", "0", "kind", "label", NULL },
   { "complex-analysis", "description", "Weekly account health analysis for managers",
     "provider", "openai", "model", "gpt-4o", "volume", "18000", "cost", "1080",
     "input-format", "account history, long", "output-format", "multi-page report",
     "quality", "expert judgement", "criticality", "medium", "data", "none",
     "examples", "0", "kind", "open-ended", NULL },
   /* No kind declared: the logs say it (KindInfer_audit_tasks after the import). */
   { "order-extraction", "description", "Pull order details out of contact-form messages as JSON",
     "provider", "openai", "model", "gpt-4o-mini", "volume", "72000", "cost", "144",
     "input-format", "one customer message", "output-format", "JSON, 5 fields",
     "quality", "every field right", "criticality", "medium", "data", "from the logs",
     "examples", "0", NULL },
   { "ticket-rewrite", "description", "Rewrite tickets into the queue's 3-bullet format",
     "provider", "openai", "model", "gpt-4o-mini", "volume", "54000", "cost", "162",
     "input-format", "ticket text", "output-format", "3 bullets: Issue, Details, Asks",
     "quality", "faithful, 3 bullets", "criticality", "medium", "data", "from the logs",
     "examples", "0", NULL },
};

/* Flags per task (domain-vocab, customer-facing, sla, revenue). */
static const char *const demo_flags[][4] = {
   { "yes", "no", "yes", "no" },
   { "yes", "yes", "yes", "yes" },
   { "no", "yes", "no", "no" },
   { "no", "no", "no", "no" },
   { "yes", "no", "no", "yes" },
   { "no", "no", "yes", "no" },
   { "no", "no", "no", "no" },
};

static const TaskField *field(const char *option) {
   for (int i = 0; i < Task_nfields; i++) {
      if (str_eq(Task_fields[i].option, option))
         return &Task_fields[i];
   }
   die(70, "demo: unknown field %s", option);
}


/* The rollout of the tasks the demo walks to cutover (the label task, the extraction task): two
 * canary steps, each held a few seconds (the demo replays two weeks of calls in a minute, and
 * the script waits for enough verified comparisons in each step), and the monthly cost of
 * hosting the candidate, which the savings and the break-even count. */
static bool seed_rollout(Store *st, char **err) {
   static const char *const walked[] = { DEMO_TASK, DEMO_EXTRACTION_TASK };
   bool ok = true;
   for (size_t i = 0; ok && i < ARRAY_SIZE(walked); i++) {
      Task t;
      Task_init(&t);
      RolloutSettings s;
      RolloutState state;
      ok = Task_get(st, walked[i], &t, err);
      if (ok) {
         Rollout_load(st, t.id, &s, &state);
         ok = Rollout_parse_steps(DEMO_ROLLOUT_STEPS, &s, err);
         s.dwell_s = DEMO_ROLLOUT_DWELL_S;
         s.interval_s = DEMO_ROLLOUT_DWELL_S;
         s.hosting_cost = DEMO_HOSTING_COST;
         ok = ok && Rollout_save(st, t.id, &s, &state, err);
      }
      Task_clear(&t);
   }
   return ok;
}

bool Demo_seed(Store *st, char **err) {
   if (Store_count(st, "SELECT count(*) FROM tasks", 0) > 0)
      return true;
   static const char *const flag_names[4] = { "domain-vocab", "customer-facing", "sla", "revenue" };
   for (size_t t = 0; t < ARRAY_SIZE(demo_tasks); t++) {
      const TaskField *fields[32];
      const char *values[32];
      int n = 0;
      for (int i = 1; demo_tasks[t][i]; i += 2) {
         fields[n] = field(demo_tasks[t][i]);
         values[n++] = demo_tasks[t][i + 1];
      }
      for (int f = 0; f < 4; f++) {
         fields[n] = field(flag_names[f]);
         values[n++] = demo_flags[t][f];
      }
      if (!Task_add(st, demo_tasks[t][0], fields, values, n, err))
         return false;
   }
   return seed_rollout(st, err);
}

/* ---- the demo's logs and services ---------------------------------------------------------- */

void DemoParams_defaults(DemoParams *p) {
   p->scale = 0.1;
   p->days = 14;
   p->frontier_latency_ms = 400;
}

static char *demo_dir(Store *st) {
   char *data = Dataset_data_dir(st), *dir = xasprintf("%s/demo", data);
   free(data);
   return dir;
}

bool Demo_populate(Store *st, const DemoParams *p, FILE *log, char **err) {
   if (!Demo_seed(st, err))
      return false;
   if (Store_count(st, "SELECT count(*) FROM exchanges", 0) > 0)
      return true;
   char *dir = demo_dir(st), *path = xasprintf("%s/demo-logs.jsonl", dir);
   bool ok = false;
   FILE *out = NULL;
   if (!mkdir_p(dir, 0700)) {
      *err = xasprintf("cannot create %s: %s", dir, strerror(errno));
      goto done;
   }
   if (!(out = fopen(path, "w"))) {
      *err = xasprintf("cannot write %s: %s", path, strerror(errno));
      goto done;
   }
   DemologsParams dp;
   Demologs_defaults(&dp);
   dp.days = p->days;
   dp.scale = p->scale;
   dp.share_dir = Share_dir();
   if (log)
      fprintf(log, "demo: generating %d days of the demo app's API logs (scale %g)\n", dp.days, dp.scale);
   if (!Demologs_write(out, &dp, err))
      goto done;
   if (fclose(out) != 0) {
      out = NULL;
      *err = xasprintf("writing %s: %s", path, strerror(errno));
      goto done;
   }
   out = NULL;
   ImportOptions io;
   ImportOptions_init(&io);
   Importer *im = Importer_new(st, &io, err);
   if (!im)
      goto done;
   ok = Importer_file(im, path, err);
   if (ok && log) {
      const ImportStats *is = Importer_stats(im);
      char a[32];
      fprintf(log, "demo: imported %s calls in %.1f s\n", fmt_count(a, sizeof a, is->imported), is->seconds);
   }
   Importer_free(im);
   /* The tasks the logs brought (the extraction and rewrite tasks) get the kind their answers
    * show, as offramp import gives them; the seeded tasks keep the kind they were declared with. */
   if (ok) {
      json_t *kinds = KindInfer_audit_tasks(st, err);
      size_t i;
      json_t *k;
      json_array_foreach(kinds, i, k) if (log && !str_eq(json_string_value(json_object_get(k, "kind")),
                                                         json_string_value(json_object_get(k, "was"))))
         fprintf(log, "demo: %s: kind %s (%s)\n", json_string_value(json_object_get(k, "task")),
                 json_string_value(json_object_get(k, "kind")), json_string_value(json_object_get(k, "reason")));
      ok = kinds != NULL;
      json_decref(kinds);
   }
done:
   if (out)
      fclose(out);
   unlink(path);
   free(path);
   free(dir);
   return ok;
}

/* A fresh random token (the gateway's admin API, the trainer), owner-only. */
static bool write_token(const char *path, char **err) {
   unsigned char raw[16];
   FILE *r = fopen("/dev/urandom", "rb");
   if (!r || fread(raw, 1, sizeof raw, r) != sizeof raw) {
      if (r)
         fclose(r);
      *err = xasprintf("cannot read /dev/urandom for the token in %s", path);
      return false;
   }
   fclose(r);
   char hex[2 * sizeof raw + 2];
   for (size_t i = 0; i < sizeof raw; i++)
      snprintf(hex + 2 * i, 3, "%02x", raw[i]);
   strcat(hex, "\n");
   return write_file_atomic(path, hex, strlen(hex), err);
}

/* Starts "offramp ARGS..." (args ends with NULL) with its log in the demo directory. */
static bool start(Service *s, const char *name, const char *dir, bool announce, char **err, const char *const *args) {
   char *log = xasprintf("%s/%s.log", dir, name);
   bool ok = Service_start(s, name, args, log, announce, 30, err);
   free(log);
   return ok;
}

bool Demo_start(Store *st, const DemoParams *p, DemoEnv *env, char **err) {
   memset(env, 0, sizeof *env);
   env->dir = demo_dir(st);
   char *token = xasprintf("%s/admin.token", env->dir), *trainer_token = xasprintf("%s/trainer.token", env->dir),
        *trainer_dir = xasprintf("%s/trainer", env->dir), *latency = xasprintf("%ld", p->frontier_latency_ms);
   bool ok = false;
   if (!mkdir_p(env->dir, 0700)) {
      *err = xasprintf("cannot create %s: %s", env->dir, strerror(errno));
      goto done;
   }
   const char *path = st->path;
   if (!write_token(token, err) || !write_token(trainer_token, err))
      goto done;
   /* The trainer's clients find its token where they look for it: the demo-trainer backend and
    * the route's candidate name DEMO_TRAINER_KEY_ENV, set here for this process and the
    * services it starts (the gateway calls the trainer as the candidate). */
   char *tok = read_token_file(trainer_token, err);
   if (!tok)
      goto done;
   setenv(DEMO_TRAINER_KEY_ENV, tok, 1);
   free(tok);
   if (!start(&env->frontier, "frontier", env->dir, true, err,
              (const char *const[]){ "-w", path, "replay-server", "--task", DEMO_TASK, "--task", DEMO_EXTRACTION_TASK,
                                     "--latency-ms", latency, NULL }))
      goto done;
   if (!start(&env->trainer, "trainer", env->dir, true, err,
              (const char *const[]){ "trainer", "--listen", "127.0.0.1:0", "--dir", trainer_dir, "--token-file",
                                     trainer_token, NULL }))
      goto done;
   /* A reused demo: the route the gateway loads still names the last run's trainer port (and,
    * from before the trainer had a token, no key). */
   sqlite3_stmt *rs = Store_prepare(st, "UPDATE routes SET route = json_set(route, '$.candidate.url', ?1, "
                                        "'$.candidate.key_env', ?2) "
                                        "WHERE json_extract(route, '$.candidate.url') LIKE 'http://127.0.0.1:%'");
   sqlite3_bind_text(rs, 1, env->trainer.url, -1, SQLITE_STATIC);
   sqlite3_bind_text(rs, 2, DEMO_TRAINER_KEY_ENV, -1, SQLITE_STATIC);
   bool moved = sqlite3_step(rs) == SQLITE_DONE;
   sqlite3_finalize(rs);
   if (!moved) {
      *err = Store_errmsg(st, "pointing the demo's routes at the trainer");
      goto done;
   }
   if (!start(&env->gateway, "gateway", env->dir, true, err,
              (const char *const[]){ "-w", path, "gateway", "--listen", "127.0.0.1:0", "--upstream", env->frontier.url,
                                     "--admin-token-file", token, "--key-env", "OFFRAMP_TRAINER_TOKEN", NULL }))
      goto done;
   /* The trainer's port changes from run to run: the backend follows it. */
   FtBackend b;
   if (Backend_get(st, "demo-trainer", &b, err)) {
      FtBackend_clear(&b);
      sqlite3_stmt *s = Store_prepare(st, "UPDATE backends SET base_url = ?1, key_env = ?2 WHERE name = 'demo-trainer'");
      sqlite3_bind_text(s, 1, env->trainer.url, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 2, DEMO_TRAINER_KEY_ENV, -1, SQLITE_STATIC);
      ok = sqlite3_step(s) == SQLITE_DONE;
      sqlite3_finalize(s);
      if (!ok)
         *err = Store_errmsg(st, "updating backend demo-trainer");
   } else {
      free(*err);
      *err = NULL;
      ok = Backend_add(st, "demo-trainer", "openai-ft", env->trainer.url, DEMO_TRAINER_KEY_ENV, NULL, err);
   }
   ok = ok && Store_set_setting(st, "gateway.url", env->gateway.url, err) &&
        Store_set_setting(st, "gateway.admin_token_file", token, err);
done:
   if (!ok)
      Demo_stop(env);
   free(token);
   free(trainer_token);
   free(trainer_dir);
   free(latency);
   return ok;
}

bool Demo_replay_start(DemoEnv *env, const char *workspace, double rate, char **err) {
   if (env->replay.pid)
      return true;
   Service_clear(&env->replay);
   char *r = xasprintf("%g", rate);
   bool ok = start(&env->replay, "replay", env->dir, false, err,
                   (const char *const[]){ "-w", workspace, "replay", "--task", DEMO_TASK, "--to", env->gateway.url,
                                          "--rate", r, "--duration", "3600", "--concurrency", "64", "--quiet", NULL });
   free(r);
   if (ok)
      env->replay_rate = rate;
   return ok;
}

void Demo_replay_stop(DemoEnv *env) {
   Service_stop(&env->replay, 5);
}

void Demo_stop(DemoEnv *env) {
   /* Traffic first, then the gateway (it drains), then what it calls. */
   Service_clear(&env->replay);
   Service_clear(&env->gateway);
   Service_clear(&env->trainer);
   Service_clear(&env->frontier);
   free(env->dir);
   env->dir = NULL;
}

static const char *port_of(const Service *s) {
   const char *p = s->url ? strrchr(s->url, ':') : NULL;
   return p ? p + 1 : "-";
}

/* "route canary 10 % · last min: primary N, candidate N, fallback N (x %)" */
static void route_status(Store *st, char *buf, size_t size) {
   char *mode = NULL;
   double percent = 0;
   sqlite3_stmt *s = Store_prepare(st, "SELECT json_extract(route, '$.mode'), json_extract(route, '$.percent') "
                                       "FROM routes WHERE task = ?1");
   sqlite3_bind_text(s, 1, DEMO_TASK, -1, SQLITE_STATIC);
   if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
      mode = xstrdup((const char *)sqlite3_column_text(s, 0));
      percent = sqlite3_column_double(s, 1);
   }
   sqlite3_finalize(s);
   int n = snprintf(buf, size, "route %s", mode ? mode : "passthrough");
   if (mode && str_eq(mode, "canary") && n > 0 && (size_t)n < size)
      n += snprintf(buf + n, size - (size_t)n, " %g %%", percent);
   free(mode);
   time_t since = time(NULL) - 60;
   struct tm tm;
   char iso[32];
   strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", gmtime_r(&since, &tm));
   long long arm[3] = { 0, 0, 0 };
   s = Store_prepare(st, "SELECT e.arm, count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id "
                         "WHERE t.name = ?1 AND e.ts >= ?2 GROUP BY e.arm");
   sqlite3_bind_text(s, 1, DEMO_TASK, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 2, iso, -1, SQLITE_STATIC);
   while (sqlite3_step(s) == SQLITE_ROW) {
      const char *a = (const char *)sqlite3_column_text(s, 0);
      int i = str_eq(a, "primary") ? 0 : str_eq(a, "candidate") ? 1 : str_eq(a, "fallback") ? 2 : -1;
      if (i >= 0)
         arm[i] = sqlite3_column_int64(s, 1);
   }
   sqlite3_finalize(s);
   long long total = arm[0] + arm[1] + arm[2];
   if (total && !arm[1] && !arm[2] && n > 0 && (size_t)n < size)
      snprintf(buf + n, size - (size_t)n, " · last min: primary %lld", arm[0]);
   else if (total && n > 0 && (size_t)n < size)
      snprintf(buf + n, size - (size_t)n, " · last min: primary %lld, candidate %lld, fallback %lld (%.1f %%)", arm[0],
               arm[1], arm[2], 100.0 * (double)arm[2] / (double)(arm[1] + arm[2] ? arm[1] + arm[2] : 1));
}

void Demo_status(DemoEnv *env, Store *st, char *buf, size_t size) {
   /* The route and its traffic first: they change; the ports do not. */
   size_t n = 0;
   buf[0] = '\0';
   if (st)
      route_status(st, buf, size);
   n = strlen(buf);
   Service *sv[3] = { &env->frontier, &env->trainer, &env->gateway };
   static const char *const label[3] = { "frontier (replay)", "trainer", "gateway" };
   for (int i = 0; i < 3 && n < size; i++) {
      char port[16];
      snprintf(port, sizeof port, "%.*s", (int)strcspn(port_of(sv[i]), "/"), port_of(sv[i]));
      n += (size_t)snprintf(buf + n, size - n, "%s%s :%s%s", n ? " · " : "", label[i], port,
                            Service_running(sv[i], NULL) ? "" : " DOWN");
   }
   if (n < size) {
      if (Service_running(&env->replay, NULL))
         snprintf(buf + n, size - n, " · replay %g req/s", env->replay_rate);
      else
         snprintf(buf + n, size - n, " · replay off");
   }
}

/* ---- the rollout steps: through the gateway's admin API with offramp route ---------------- */

char **Demo_step_args(Store *st, const char *workspace, const char *task, DemoStep step, int percent, char **err) {
   static const char *const mode[] = { "shadow", "canary", "cutover" };
   Sbuf why = { 0 };
   char **a = xcalloc(24, sizeof *a);
   int n = 0;
   a[n++] = xstrdup("-w");
   a[n++] = xstrdup(workspace);
   a[n++] = xstrdup("route");
   if (step == DEMO_STEP_ROLLBACK) {
      a[n++] = xstrdup("rollback");
      a[n++] = xstrdup(task);
      a[n++] = xstrdup("--reason");
      a[n++] = xstrdup("demo: roll back to the API");
      return a;
   }
   a[n++] = xstrdup("set");
   a[n++] = xstrdup(task);
   a[n++] = xstrdup("--mode");
   a[n++] = xstrdup(mode[step]);
   if (step == DEMO_STEP_SHADOW) {
      /* The candidate: the experiment picked in training, served by its backend. */
      sqlite3_stmt *s = Store_prepare(st, "SELECT e.fine_tuned_model, b.base_url, b.key_env FROM tasks t "
                                          "JOIN experiments e ON e.id = t.candidate_experiment "
                                          "JOIN backends b ON b.name = e.backend WHERE t.name = ?1");
      sqlite3_bind_text(s, 1, task, -1, SQLITE_STATIC);
      bool found = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0);
      if (found) {
         a[n++] = xstrdup("--candidate-model");
         a[n++] = xstrdup((const char *)sqlite3_column_text(s, 0));
         a[n++] = xstrdup("--candidate-url");
         a[n++] = xstrdup((const char *)sqlite3_column_text(s, 1));
         const char *key_env = (const char *)sqlite3_column_text(s, 2);
         if (key_env && *key_env) {
            a[n++] = xstrdup("--candidate-key-env");
            a[n++] = xstrdup(key_env);
         }
      }
      sqlite3_finalize(s);
      if (!found) {
         *err = xasprintf("%s has no candidate yet: train it and pick the experiment (t, then p)", task);
         Demo_free_args(a);
         return NULL;
      }
      /* Answers compared the way the task's kind reads them: labels, JSON objects per field. */
      Task t;
      Task_init(&t);
      if (!Task_get(st, task, &t, err)) {
         Task_clear(&t);
         Demo_free_args(a);
         return NULL;
      }
      a[n++] = xstrdup("--compare");
      a[n++] = xstrdup(Compare_mode_name(Eval_compare_mode(st, &t)));
      Task_clear(&t);
      /* The share of the candidate's answers checked on the frontier once it serves: the
       * canary analysis reads its agreement from them. */
      a[n++] = xstrdup("--verify-percent");
      a[n++] = xstrdup(DEMO_VERIFY_PERCENT);
      Sbuf_puts(&why, "demo: shadow the picked candidate");
   } else if (step == DEMO_STEP_CANARY) {
      a[n++] = xstrdup("--percent");
      a[n++] = xasprintf("%d", percent);
      Sbuf_printf(&why, "demo: canary at %d %%", percent);
   }
   if (step != DEMO_STEP_CANARY) {
      Task t;
      Task_init(&t);
      double mc;
      if (Task_get(st, task, &t, err) && Eval_min_confidence(st, t.id, &mc)) {
         a[n++] = xstrdup("--min-confidence");
         a[n++] = xasprintf("%.2f", mc);
      }
      free(*err);
      *err = NULL;
      Task_clear(&t);
   }
   if (step == DEMO_STEP_CUTOVER)
      Sbuf_puts(&why, "demo: cut over, the API as per-request fallback");
   a[n++] = xstrdup("--reason");
   a[n++] = Sbuf_steal(&why);
   return a;
}

void Demo_free_args(char **args) {
   for (int i = 0; args && args[i]; i++)
      free(args[i]);
   free(args);
}
