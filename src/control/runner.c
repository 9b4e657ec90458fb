/* runner.c - self-hosted LoRA training through a command template (see runner.h). The config
 * follows axolotl v0.6.0's YAML (docs/config.qmd: base_model, adapter: lora, lora_r,
 * lora_alpha, lora_dropout, lora_target_linear, datasets with type chat_template and
 * field_messages, test_datasets, num_epochs, micro_batch_size, learning_rate, output_dir,
 * logging_steps); the log is the Hugging Face Trainer's as axolotl prints it: a Python dict per
 * logging step ({'loss': 1.23, 'grad_norm': ..., 'learning_rate': 0.0002, 'epoch': 0.5}, and
 * {'eval_loss': ...} after an evaluation) between tqdm counters ("12/300 [00:05<02:00]"). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "control/dataset.h"
#include "control/deploy.h"
#include "control/experiment.h"
#include "control/runner.h"
#include "control/task.h"

static const char *const placeholders[] = { "dir", "config", "output", "train", "test", "base_model" };

bool Runner_check_template(const char *tmpl, char **err) {
   const char *p = tmpl;
   while (*p == ' ' || *p == '\t')
      p++;
   if (!*p) {
      *err = xstrdup("the --runner template is empty: give the command that trains, e.g. "
                     "--runner 'axolotl train {config}' or --runner 'ssh gpu-box ...'");
      return false;
   }
   bool uses_job = false;
   for (p = tmpl; *p; p++) {
      if (*p == '}') {
         *err = xasprintf("the --runner template has a '}' without its '{' at offset %ld: '%s'", (long)(p - tmpl), tmpl);
         return false;
      }
      if (*p != '{')
         continue;
      const char *end = strchr(p, '}');
      if (!end) {
         *err = xasprintf("the --runner template has a '{' that is not closed at offset %ld: '%s'", (long)(p - tmpl),
                          tmpl);
         return false;
      }
      size_t n = (size_t)(end - p - 1);
      bool known = false;
      for (size_t i = 0; i < ARRAY_SIZE(placeholders); i++) {
         if (strlen(placeholders[i]) == n && strncmp(p + 1, placeholders[i], n) == 0) {
            known = true;
            uses_job |= i < 2;
         }
      }
      if (!known) {
         *err = xasprintf("the --runner template names {%.*s}, which is not a placeholder: use {dir}, {config}, "
                          "{output}, {train}, {test} or {base_model}", (int)n, p + 1);
         return false;
      }
      p = end;
   }
   if (!uses_job) {
      *err = xasprintf("the --runner template '%s' names neither {config} nor {dir}: the trainer would not find the "
                       "job's config (e.g. --runner 'axolotl train {config}')", tmpl);
      return false;
   }
   return true;
}

/* s in single quotes for sh, a quote inside as '\''. */
static void shell_quote(Sbuf *sb, const char *s) {
   Sbuf_puts(sb, "'");
   for (; *s; s++) {
      if (*s == '\'')
         Sbuf_puts(sb, "'\\''");
      else
         Sbuf_add(sb, s, 1);
   }
   Sbuf_puts(sb, "'");
}

static char *expand(const char *tmpl, const char *const values[]) {
   Sbuf sb = { 0 };
   for (const char *p = tmpl; *p; p++) {
      const char *end = *p == '{' ? strchr(p, '}') : NULL;
      if (!end) {
         Sbuf_add(&sb, p, 1);
         continue;
      }
      size_t n = (size_t)(end - p - 1);
      for (size_t i = 0; i < ARRAY_SIZE(placeholders); i++) {
         if (strlen(placeholders[i]) == n && strncmp(p + 1, placeholders[i], n) == 0)
            shell_quote(&sb, values[i]);
      }
      p = end;
   }
   return Sbuf_steal(&sb);
}

/* ---------------------------------------------------------------- the log */

/* The number after 'key': in a Python dict line. */
static bool dict_number(const char *line, const char *key, double *v) {
   char pat[48];
   snprintf(pat, sizeof pat, "'%s':", key);
   const char *k = strstr(line, pat);
   if (!k)
      return false;
   char *end;
   errno = 0;
   double d = strtod(k + strlen(pat), &end);
   if (end == k + strlen(pat) || errno)
      return false;
   *v = d;
   return true;
}

bool Runner_parse_line(const char *line, RunnerProgress *p) {
   bool any = false;
   const char *brace = strchr(line, '{');
   if (brace && strchr(brace, '}')) {
      double v;
      if (dict_number(brace, "loss", &v)) {
         p->loss = v;
         p->has_loss = any = true;
      }
      if (dict_number(brace, "eval_loss", &v)) {
         p->eval_loss = v;
         p->has_eval_loss = any = true;
      }
      if (dict_number(brace, "learning_rate", &v)) {
         p->lr = v;
         any = true;
      }
      if (dict_number(brace, "epoch", &v)) {
         p->epoch = v;
         any = true;
      }
   }
   /* A tqdm counter: "N/M" followed by " [" (its times), the last one on the line. */
   for (const char *s = line; (s = strchr(s, '/')); s++) {
      const char *a = s;
      while (a > line && a[-1] >= '0' && a[-1] <= '9')
         a--;
      if (a == s || (a > line && a[-1] != ' ' && a[-1] != '|'))
         continue;
      char *end;
      long step = strtol(a, NULL, 10), total = strtol(s + 1, &end, 10);
      if (end == s + 1 || strncmp(end, " [", 2) != 0 || total <= 0 || step > total)
         continue;
      p->step = step;
      p->total = total;
      p->has_step = any = true;
   }
   return any;
}

/* ---------------------------------------------------------------- the job */

void RunnerResult_clear(RunnerResult *res) {
   free(res->dir);
   res->dir = NULL;
}

static bool copy_file(const char *from, const char *to, char **err) {
   size_t len;
   char *data = read_file(from, &len, err);
   if (!data)
      return false;
   bool ok = write_file_atomic(to, data, len, err);
   free(data);
   return ok;
}

static char *axolotl_yaml(const RunnerRequest *r, const char *base_model) {
   Sbuf sb = { 0 };
   Sbuf_printf(&sb, "# axolotl config (v0.6.0 format) written by offramp %s for task %s\n", PACKAGE_VERSION, r->task);
   Sbuf_puts(&sb, "base_model: '");   /* a YAML single-quoted scalar: a quote inside is doubled */
   for (const char *c = base_model; *c; c++) {
      if (*c == '\'')
         Sbuf_puts(&sb, "''");
      else
         Sbuf_add(&sb, c, 1);
   }
   Sbuf_puts(&sb, "'");
   Sbuf_printf(&sb, "\n"
               "adapter: lora\n"
               "lora_r: %ld\n"
               "lora_alpha: %ld\n"
               "lora_dropout: 0.05\n"
               "lora_target_linear: true\n"
               "datasets:\n"
               "  - path: train.jsonl\n"
               "    ds_type: json\n"
               "    type: chat_template\n"
               "    field_messages: messages\n"
               "test_datasets:\n"
               "  - path: test.jsonl\n"
               "    ds_type: json\n"
               "    split: train\n"
               "    type: chat_template\n"
               "    field_messages: messages\n"
               "chat_template: tokenizer_default\n"
               "sequence_len: 2048\n"
               "num_epochs: %ld\n"
               "micro_batch_size: %ld\n"
               "gradient_accumulation_steps: 1\n"
               "learning_rate: %g\n"
               "optimizer: adamw_torch\n"
               "lr_scheduler: cosine\n"
               "warmup_ratio: 0.03\n"
               "logging_steps: 1\n"
               "eval_strategy: epoch\n"
               "save_safetensors: true\n"
               "bf16: auto\n"
               "seed: %ld\n"
               "output_dir: ./adapter\n",
               r->lora_rank, 2 * r->lora_rank, r->epochs, r->batch, r->lr, r->seed);
   return Sbuf_steal(&sb);
}

static void set_status(Store *st, long long id, const char *status, const char *model, const char *error,
                       const RunnerProgress *p) {
   char ts[32];
   now_iso8601(ts);
   json_t *m = json_object();
   if (p->has_step) {
      json_object_set_new(m, "step", json_integer(p->step));
      json_object_set_new(m, "total_steps", json_integer(p->total));
   }
   if (p->has_loss)
      json_object_set_new(m, "train_loss", json_real(p->loss));
   if (p->has_eval_loss)
      json_object_set_new(m, "valid_loss", json_real(p->eval_loss));
   char *mt = json_dumps(m, JSON_COMPACT);
   json_decref(m);
   sqlite3_stmt *s = Store_prepare(st, "UPDATE experiments SET status = ?2, fine_tuned_model = coalesce(?3, fine_tuned_model),"
                                       " error = ?4, metrics = coalesce(?5, metrics), updated_at = ?6 WHERE id = ?1");
   sqlite3_bind_int64(s, 1, id);
   sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 3, model, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 4, error, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 5, mt, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 6, ts, -1, SQLITE_STATIC);
   sqlite3_step(s);
   sqlite3_finalize(s);
   free(mt);
}

static void add_event(Store *st, long long id, long row, const RunnerProgress *p, bool eval) {
   json_t *d = json_pack("{s:f}", "epoch", p->epoch);
   if (!d)
      return;
   if (p->has_step)
      json_object_set_new(d, "step", json_integer(p->step));
   if (eval)
      json_object_set_new(d, "valid_loss", json_real(p->eval_loss));
   else {
      json_object_set_new(d, "train_loss", json_real(p->loss));
      json_object_set_new(d, "learning_rate", json_real(p->lr));
   }
   char *dt = json_dumps(d, JSON_COMPACT);
   json_decref(d);
   char *msg = eval ? xasprintf("step %ld/%ld: eval loss %.4f", p->step, p->total, p->eval_loss)
                    : xasprintf("step %ld/%ld: loss %.4f", p->step, p->total, p->loss);
   char evid[32];
   snprintf(evid, sizeof evid, "log-%ld", row);
   sqlite3_stmt *s = Store_prepare(st, "INSERT OR IGNORE INTO job_events(experiment_id, event_id, created_at, type, message,"
                                       " data) VALUES (?1, ?2, strftime('%s', 'now'), 'metrics', ?3, ?4)");
   sqlite3_bind_int64(s, 1, id);
   sqlite3_bind_text(s, 2, evid, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 3, msg, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 4, dt, -1, SQLITE_STATIC);
   sqlite3_step(s);
   sqlite3_finalize(s);
   free(msg);
   free(dt);
}

#define TAIL_LINES 8

/* The trainer runs in its own process group; ^C or a kill of offramp ends that group, and
 * offramp stays to record how it ended. */
static volatile sig_atomic_t child_pgid;

static void forward_signal(int sig) {
   if (child_pgid > 0)
      kill(-(pid_t)child_pgid, sig);
}

bool Runner_run(Store *st, const RunnerRequest *r, RunnerResult *res, char **err) {
   memset(res, 0, sizeof *res);
   res->last_loss = res->last_eval_loss = NAN;
   if (!Runner_check_template(r->tmpl, err))
      return false;
   Task t;
   Task_init(&t);
   if (!Task_get(st, r->task, &t, err))
      return false;
   bool ok = false;
   char *datadir = NULL, *train = NULL, *test = NULL, *cfg_path = NULL, *out = NULL, *cmd = NULL, *log_path = NULL;
   char *yaml = NULL, *base = NULL;
   FILE *log = NULL, *pipe_in = NULL;
   char *tail[TAIL_LINES] = { 0 };
   long long dataset = r->dataset_id ? r->dataset_id : Experiment_latest_dataset(st, t.id);
   Dataset d;
   if (!dataset) {
      *err = xasprintf("task %s has no dataset to train on (offramp dataset build %s)", t.name, t.name);
      goto done;
   }
   if (!Dataset_get(st, &t, dataset, &d, err))
      goto done;
   train = xasprintf("%s/train.jsonl", d.dir);
   test = xasprintf("%s/test.jsonl", d.dir);
   Dataset_clear(&d);

   /* The experiment first: its id names the job directory. */
   char ts[32];
   now_iso8601(ts);
   json_t *hp = json_pack("{s:s, s:i, s:f, s:i, s:i, s:i}", "runner", r->tmpl, "n_epochs", (int)r->epochs,
                          "learning_rate", r->lr, "batch_size", (int)r->batch, "lora_rank", (int)r->lora_rank, "seed",
                          (int)r->seed);
   char *hpt = hp ? json_dumps(hp, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
   json_decref(hp);
   if (!hpt) {
      *err = xstrdup("out of memory");
      goto done;
   }
   char job[64];
   snprintf(job, sizeof job, "runner-%.19s-%ld", ts, (long)getpid());
   sqlite3_stmt *s = Store_prepare(st, "INSERT INTO experiments(task_id, dataset_id, backend, job_id, base_model,"
                                       " hyperparameters, training_file, validation_file, status, created_at, updated_at)"
                                       " VALUES (?1, ?2, 'runner', ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?8)");
   sqlite3_bind_int64(s, 1, t.id);
   sqlite3_bind_int64(s, 2, dataset);
   sqlite3_bind_text(s, 3, job, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 4, r->base_model, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 5, hpt, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 6, train, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 7, test, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 8, ts, -1, SQLITE_STATIC);
   bool inserted = sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   free(hpt);
   if (!inserted) {
      *err = Store_errmsg(st, "recording the experiment");
      goto done;
   }
   res->experiment = (long long)sqlite3_last_insert_rowid(st->db);
   datadir = Dataset_data_dir(st);
   res->dir = xasprintf("%s/runs/%s-%lld", datadir, t.name, res->experiment);
   cfg_path = xasprintf("%s/axolotl.yaml", res->dir);
   out = xasprintf("%s/adapter", res->dir);
   log_path = xasprintf("%s/train.log", res->dir);
   char *jtrain = xasprintf("%s/train.jsonl", res->dir), *jtest = xasprintf("%s/test.jsonl", res->dir);
   yaml = axolotl_yaml(r, r->base_model);
   bool prepared = mkdir_p(res->dir, 0755) && copy_file(train, jtrain, err) && copy_file(test, jtest, err) &&
                   write_file_atomic(cfg_path, yaml, strlen(yaml), err);
   if (!prepared && !*err)
      *err = xasprintf("cannot create the job directory %s: %s", res->dir, strerror(errno));
   const char *values[] = { res->dir, cfg_path, out, jtrain, jtest, r->base_model };
   cmd = expand(r->tmpl, values);
   free(jtrain);
   free(jtest);
   RunnerProgress p = { 0 };
   if (!prepared) {
      set_status(st, res->experiment, "failed", NULL, *err, &p);
      goto done;
   }
   log = fopen(log_path, "w");

   /* The command, in the job directory, its stdout and stderr as one stream we read. */
   int fds[2];
   if (pipe(fds) != 0) {
      *err = xasprintf("pipe: %s", strerror(errno));
      set_status(st, res->experiment, "failed", NULL, *err, &p);
      goto done;
   }
   fflush(NULL);
   pid_t pid = fork();
   if (pid == 0) {
      setpgid(0, 0);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      close(fds[0]);
      dup2(fds[1], STDOUT_FILENO);
      dup2(fds[1], STDERR_FILENO);
      close(fds[1]);
      if (chdir(res->dir) != 0)
         _exit(126);
      execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
      _exit(127);
   }
   close(fds[1]);
   if (pid < 0) {
      close(fds[0]);
      *err = xasprintf("fork: %s", strerror(errno));
      set_status(st, res->experiment, "failed", NULL, *err, &p);
      goto done;
   }
   if (!r->quiet)
      fprintf(stderr, "offramp train: experiment #%lld runs in %s: %s\n", res->experiment, res->dir, cmd);
   setpgid(pid, pid);   /* also here: whichever runs first */
   child_pgid = pid;
   struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART }, old_int, old_term;
   sigemptyset(&sa.sa_mask);
   sigaction(SIGINT, &sa, &old_int);
   sigaction(SIGTERM, &sa, &old_term);
   pipe_in = fdopen(fds[0], "r");
   Sbuf line = { 0 };
   long rows = 0, ntail = 0;
   int ch;
   double last_print = 0;
   /* Lines end at \n or \r (tqdm redraws its bar with \r). */
   do {
      ch = fgetc(pipe_in);
      if (ch != EOF && ch != '\n' && ch != '\r') {
         char c = (char)ch;
         Sbuf_add(&line, &c, 1);
         continue;
      }
      if (log && line.len)
         fputs(line.buf, log);
      if (log && ch != EOF)
         fputc(ch, log);
      if (!line.len)
         continue;
      const char *l = line.buf;
      free(tail[ntail % TAIL_LINES]);
      tail[ntail++ % TAIL_LINES] = xstrdup(l);
      bool had_loss = p.has_loss, had_eval = p.has_eval_loss;
      double loss = p.loss, eval_loss = p.eval_loss;
      p.has_loss = p.has_eval_loss = false;
      bool parsed = Runner_parse_line(l, &p);
      bool new_loss = p.has_loss, new_eval = p.has_eval_loss;
      if (new_loss)
         add_event(st, res->experiment, ++rows, &p, false);
      if (new_eval)
         add_event(st, res->experiment, ++rows, &p, true);
      if (!new_loss) {
         p.has_loss = had_loss;
         p.loss = loss;
      }
      if (!new_eval) {
         p.has_eval_loss = had_eval;
         p.eval_loss = eval_loss;
      }
      if (parsed) {
         double now = mono_seconds();
         if (!r->quiet && (new_loss || new_eval || now - last_print >= 5)) {
            last_print = now;
            fprintf(stderr, "  step %ld/%ld", p.step, p.total);
            if (p.total > 0)
               fprintf(stderr, " (%.0f %%)", 100.0 * (double)p.step / (double)p.total);
            fprintf(stderr, ", epoch %.2f", p.epoch);
            if (p.has_loss)
               fprintf(stderr, ", loss %.4f", p.loss);
            if (p.has_eval_loss)
               fprintf(stderr, ", eval loss %.4f", p.eval_loss);
            fputc('\n', stderr);
         }
      }
      line.len = 0;
      if (line.buf)
         line.buf[0] = '\0';
   } while (ch != EOF);
   Sbuf_free(&line);
   fclose(pipe_in);
   pipe_in = NULL;
   int status = 0;
   while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
   child_pgid = 0;
   sigaction(SIGINT, &old_int, NULL);
   sigaction(SIGTERM, &old_term, NULL);
   res->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
   res->steps = p.step;
   res->total_steps = p.total;
   if (p.has_loss)
      res->last_loss = p.loss;
   if (p.has_eval_loss)
      res->last_eval_loss = p.eval_loss;
   Sbuf last = { 0 };
   for (long i = ntail > TAIL_LINES ? ntail - TAIL_LINES : 0; i < ntail; i++)
      Sbuf_printf(&last, "\n  | %s", tail[i % TAIL_LINES]);
   if (res->exit_status != 0) {
      *err = xasprintf("the runner exited with status %d%s (log %s); its last lines:%s", res->exit_status,
                       res->exit_status == 127 ? " (command not found?)"
                       : res->exit_status == 128 + SIGINT || res->exit_status == 128 + SIGTERM ? " (interrupted)" : "",
                       log_path, last.buf ? last.buf : " none");
   } else {
      /* The adapter it left: a PEFT directory with adapter_config.json (base model and rank). */
      char *acp = xasprintf("%s/adapter_config.json", out);
      json_error_t je;
      json_t *ac = json_load_file(acp, 0, &je);
      if (!ac) {
         *err = xasprintf("the runner exited 0 but left no readable %s (%s): the trainer must write its adapter to "
                          "{output} (axolotl: output_dir ./adapter in the job directory)", acp, je.text);
      } else {
         const char *acbase = json_string_value(json_object_get(ac, "base_model_name_or_path"));
         json_t *rank = json_object_get(ac, "r");
         base = xstrdup(acbase && *acbase ? acbase : r->base_model);
         char jobref[32];
         snprintf(jobref, sizeof jobref, "%lld", res->experiment);
         VersionSpec v = { .task = t.name, .artifact = out, .base_model = base, .job = jobref,
                           .rank = json_is_integer(rank) ? (long)json_integer_value(rank) : r->lora_rank, .size = -1 };
         /* succeeded first: registering reads the experiment as the version's job. */
         set_status(st, res->experiment, "succeeded", out, NULL, &p);
         ok = Deploy_register(st, &v, &res->version, err);
         json_decref(ac);
      }
      free(acp);
   }
   Sbuf_free(&last);
   if (!ok)
      set_status(st, res->experiment, "failed", NULL, *err, &p);
done:
   for (int i = 0; i < TAIL_LINES; i++)
      free(tail[i]);
   if (log)
      fclose(log);
   free(datadir);
   free(train);
   free(test);
   free(cfg_path);
   free(out);
   free(cmd);
   free(log_path);
   free(yaml);
   free(base);
   Task_clear(&t);
   return ok;
}
