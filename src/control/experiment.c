/* experiment.c - backends and experiments in the workspace, and following jobs. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/dataset.h"
#include "control/experiment.h"
#include "control/task.h"

static char *col_text(sqlite3_stmt *s, int i) {
   const unsigned char *v = sqlite3_column_text(s, i);
   return v ? xstrdup((const char *)v) : NULL;
}

/* ---- backends ---- */

bool Backend_add(Store *st, const char *name, const char *kind, const char *url, const char *key_env,
                 const char *accepts, char **err) {
   if (!Task_name_valid(name, err))
      return false;
   if (!FtKind_find(kind)) {
      Sbuf sb = { 0 };
      for (int i = 0; i < FtKinds_count; i++)
         Sbuf_printf(&sb, "%s%s", i ? ", " : "", FtKinds[i]->name);
      *err = xasprintf("backend kind '%s' is not known (kinds: %s)", kind, sb.buf);
      Sbuf_free(&sb);
      return false;
   }
   if (!str_startswith(url, "http://") && !str_startswith(url, "https://")) {
      *err = xasprintf("backend URL '%s' is not http(s)://... (e.g. http://127.0.0.1:8402/v1)", url);
      return false;
   }
   if (key_env && strspn(key_env, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != strlen(key_env)) {
      *err = xasprintf("--key-env '%s' is not an environment variable name (give the name, never the key)", key_env);
      return false;
   }
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *s = Store_prepare(st, "INSERT INTO backends(name, kind, base_url, key_env, accepts, created_at) "
                                       "VALUES (?, ?, ?, ?, ?, ?)");
   sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 3, url, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 4, key_env ? key_env : "", -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 5, accepts ? accepts : "", -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 6, ts, -1, SQLITE_STATIC);
   int rc = sqlite3_step(s);
   sqlite3_finalize(s);
   if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
      *err = xasprintf("backend '%s' already exists (remove it first: offramp backend rm %s)", name, name);
      return false;
   }
   if (rc != SQLITE_DONE) {
      *err = Store_errmsg(st, "adding the backend");
      return false;
   }
   return true;
}

bool Backend_remove(Store *st, const char *name, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT count(*) FROM experiments WHERE backend = ? AND status NOT IN "
                                       "('succeeded', 'failed', 'cancelled')");
   sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   long long active = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
   sqlite3_finalize(s);
   if (active) {
      *err = xasprintf("backend '%s' still runs %lld job%s: cancel or follow them first (offramp jobs)", name, active,
                       active == 1 ? "" : "s");
      return false;
   }
   s = Store_prepare(st, "DELETE FROM backends WHERE name = ?");
   sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   if (!ok)
      *err = Store_errmsg(st, "removing the backend");
   else if (sqlite3_changes(st->db) == 0) {
      *err = xasprintf("no backend named '%s' (offramp backend list)", name);
      ok = false;
   }
   return ok;
}

bool Backend_get(Store *st, const char *name, FtBackend *b, char **err) {
   memset(b, 0, sizeof *b);
   sqlite3_stmt *s = Store_prepare(st, name ? "SELECT name, kind, base_url, key_env, accepts FROM backends WHERE name = ?"
                                            : "SELECT name, kind, base_url, key_env, accepts FROM backends "
                                              "ORDER BY created_at DESC, rowid DESC LIMIT 1");
   if (name)
      sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_ROW;
   if (ok) {
      b->name = col_text(s, 0);
      b->kind = FtKind_find((const char *)sqlite3_column_text(s, 1));
      b->base_url = col_text(s, 2);
      b->key_env = col_text(s, 3);
      b->accepts = col_text(s, 4);
      if (!b->kind) {
         *err = xasprintf("backend '%s' has kind '%s', which this offramp does not know", b->name,
                          (const char *)sqlite3_column_text(s, 1));
         FtBackend_clear(b);
         ok = false;
      }
   } else if (name) {
      *err = xasprintf("no backend named '%s' (add one: offramp backend add %s --kind openai-ft --url URL)", name, name);
   } else {
      *err = xstrdup("no training backend configured (offramp backend add local --kind openai-ft "
                     "--url http://127.0.0.1:8402/v1, and run offramp trainer)");
   }
   sqlite3_finalize(s);
   return ok;
}

json_t *Backend_list_json(Store *st) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT name, kind, base_url, key_env, accepts, created_at, "
                                       "(SELECT count(*) FROM experiments e WHERE e.backend = b.name) "
                                       "FROM backends b ORDER BY name");
   json_t *a = json_array();
   while (sqlite3_step(s) == SQLITE_ROW)
      json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "name", sqlite3_column_text(s, 0),
                                         "kind", sqlite3_column_text(s, 1), "url", sqlite3_column_text(s, 2), "key_env",
                                         sqlite3_column_text(s, 3), "accepts", sqlite3_column_text(s, 4), "created_at",
                                         sqlite3_column_text(s, 5), "experiments", (json_int_t)sqlite3_column_int64(s, 6)));
   sqlite3_finalize(s);
   return a;
}

/* ---- datasets ---- */

long long Experiment_latest_dataset(Store *st, long long task_id) {
   if (!Store_has_table(st, "datasets"))
      return 0;
   return Store_count(st, "SELECT coalesce(max(id), 0) FROM datasets WHERE task_id = ?1", task_id);
}

/* Paths of a registered dataset's train and test files (the dataset module resolves its directory
 * against the workspace's data directory). */
static bool dataset_files(Store *st, long long id, const Task *t, char **train, char **test, char **err) {
   *train = *test = NULL;
   Dataset d;
   if (!Dataset_get(st, t, id, &d, err))
      return false;
   *train = xasprintf("%s/train.jsonl", d.dir);
   *test = xasprintf("%s/test.jsonl", d.dir);
   Dataset_clear(&d);
   return true;
}

/* ---- experiments ---- */

bool Experiment_final(const char *status) {
   return str_eq(status, "succeeded") || str_eq(status, "failed") || str_eq(status, "cancelled");
}

static const char exp_columns[] =
   "e.id, e.task_id, coalesce(e.dataset_id, 0), t.name, e.backend, e.job_id, e.base_model, e.hyperparameters, "
   "e.training_file, e.validation_file, e.status, e.fine_tuned_model, e.metrics, e.error, e.created_at, "
   "e.updated_at, coalesce(e.trained_tokens, -1), coalesce(t.candidate_experiment = e.id, 0) "
   "FROM experiments e JOIN tasks t ON t.id = e.task_id";

static void exp_row(sqlite3_stmt *s, Experiment *e) {
   e->id = sqlite3_column_int64(s, 0);
   e->task_id = sqlite3_column_int64(s, 1);
   e->dataset_id = sqlite3_column_int64(s, 2);
   e->task = col_text(s, 3);
   e->backend = col_text(s, 4);
   e->job_id = col_text(s, 5);
   e->base_model = col_text(s, 6);
   e->hyperparameters = col_text(s, 7);
   e->training_file = col_text(s, 8);
   e->validation_file = col_text(s, 9);
   e->status = col_text(s, 10);
   e->fine_tuned_model = col_text(s, 11);
   e->metrics = col_text(s, 12);
   e->error = col_text(s, 13);
   e->created_at = col_text(s, 14);
   e->updated_at = col_text(s, 15);
   e->trained_tokens = sqlite3_column_int64(s, 16);
   e->candidate = sqlite3_column_int(s, 17) != 0;
}

void Experiment_clear(Experiment *e) {
   free(e->task);
   free(e->backend);
   free(e->job_id);
   free(e->base_model);
   free(e->hyperparameters);
   free(e->training_file);
   free(e->validation_file);
   free(e->status);
   free(e->fine_tuned_model);
   free(e->metrics);
   free(e->error);
   free(e->created_at);
   free(e->updated_at);
   memset(e, 0, sizeof *e);
}

Experiment *Experiment_list(Store *st, const char *task, bool active_only, int *n) {
   char *sql = xasprintf("SELECT %s WHERE (?1 IS NULL OR t.name = ?1)%s ORDER BY e.id", exp_columns,
                         active_only ? " AND e.status NOT IN ('succeeded', 'failed', 'cancelled')" : "");
   sqlite3_stmt *s = Store_prepare(st, sql);
   free(sql);
   if (task)
      sqlite3_bind_text(s, 1, task, -1, SQLITE_STATIC);
   Experiment *out = NULL;
   *n = 0;
   while (sqlite3_step(s) == SQLITE_ROW) {
      out = xrealloc(out, (*n + 1) * sizeof *out);
      memset(&out[*n], 0, sizeof *out);
      exp_row(s, &out[(*n)++]);
   }
   sqlite3_finalize(s);
   return out;
}

void Experiment_free_list(Experiment *e, int n) {
   for (int i = 0; i < n; i++)
      Experiment_clear(&e[i]);
   free(e);
}

bool Experiment_get(Store *st, const char *ref, Experiment *e, char **err) {
   memset(e, 0, sizeof *e);
   long num;
   bool by_num = parse_long(ref, &num);
   char *sql = xasprintf("SELECT %s WHERE %s ORDER BY e.id DESC LIMIT 1", exp_columns, by_num ? "e.id = ?" : "e.job_id = ?");
   sqlite3_stmt *s = Store_prepare(st, sql);
   free(sql);
   if (by_num)
      sqlite3_bind_int64(s, 1, num);
   else
      sqlite3_bind_text(s, 1, ref, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_ROW;
   if (ok)
      exp_row(s, e);
   else
      *err = xasprintf("no experiment or job '%s' in the workspace (offramp jobs lists them)", ref);
   sqlite3_finalize(s);
   return ok;
}

bool Experiment_start(Store *st, TrainRequest *r, long timeout_ms, long long *exp_id, char **notes, char **err) {
   *notes = NULL;
   Task t;
   Task_init(&t);
   if (!Task_get(st, r->task, &t, err))
      return false;
   FtBackend b;
   char *train = NULL, *test = NULL, *training_id = NULL, *validation_id = NULL;
   json_t *job = NULL, *sent = NULL;
   bool ok = false;
   if (!Backend_get(st, r->backend, &b, err)) {
      Task_clear(&t);
      return false;
   }
   b.timeout_ms = timeout_ms;
   if (r->dataset_id) {
      if (!dataset_files(st, r->dataset_id, &t, &train, &test, err))
         goto out;
   } else if (r->train_path) {
      train = xstrdup(r->train_path);
      test = r->validation_path ? xstrdup(r->validation_path) : NULL;
   } else {
      *err = xasprintf("%s: say what to train on: --dataset ID or --train FILE", t.name);
      goto out;
   }
   if (!(training_id = b.kind->upload(&b, train, err)))
      goto out;
   if (test && !(validation_id = b.kind->upload(&b, test, err)))
      goto out;
   r->spec.training_file = training_id;
   r->spec.validation_file = validation_id;
   job = b.kind->create_job(&b, &r->spec, &sent, notes, err);
   if (!job)
      goto out;
   char ts[32];
   now_iso8601(ts);
   char *hp = json_dumps(sent, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
   sqlite3_stmt *s = Store_prepare(st,
      "INSERT INTO experiments(task_id, dataset_id, backend, job_id, base_model, hyperparameters, training_file, "
      "validation_file, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
   sqlite3_bind_int64(s, 1, t.id);
   if (r->dataset_id)
      sqlite3_bind_int64(s, 2, r->dataset_id);
   sqlite3_bind_text(s, 3, b.name, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 4, json_string_value(json_object_get(job, "id")), -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 5, r->spec.base_model, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 6, hp, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 7, training_id, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 8, validation_id, -1, SQLITE_STATIC);
   const char *status = json_string_value(json_object_get(job, "status"));
   sqlite3_bind_text(s, 9, status ? status : "validating_files", -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 10, ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 11, ts, -1, SQLITE_STATIC);
   ok = sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   free(hp);
   if (!ok)
      *err = Store_errmsg(st, "recording the experiment (the job was created on the backend)");
   else
      *exp_id = sqlite3_last_insert_rowid(st->db);
out:
   json_decref(job);
   json_decref(sent);
   free(train);
   free(test);
   free(training_id);
   free(validation_id);
   FtBackend_clear(&b);
   Task_clear(&t);
   return ok;
}

/* ---- following ---- */

static bool event_known(Store *st, long long exp_id, const char *event_id) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT 1 FROM job_events WHERE experiment_id = ? AND event_id = ?");
   sqlite3_bind_int64(s, 1, exp_id);
   sqlite3_bind_text(s, 2, event_id, -1, SQLITE_STATIC);
   bool known = sqlite3_step(s) == SQLITE_ROW;
   sqlite3_finalize(s);
   return known;
}

static char *dump(const json_t *v) {
   return v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : xstrdup("{}");
}

/* New events oldest first: pages are read newest first until one reaches a stored event. */
static json_t *fetch_new_events(Store *st, const FtBackend *b, long long exp_id, const char *job_id, char **err) {
   json_t *fresh = json_array();
   char *after = NULL;
   for (int pages = 0; pages < 100; pages++) {
      json_t *page = b->kind->events(b, job_id, after, 100, err);
      free(after);
      after = NULL;
      if (!page) {
         json_decref(fresh);
         return NULL;
      }
      json_t *data = json_object_get(page, "data");
      bool reached = false;
      size_t i;
      json_t *ev;
      json_array_foreach(data, i, ev) {
         const char *id = json_string_value(json_object_get(ev, "id"));
         if (!id)
            continue;
         if (event_known(st, exp_id, id)) {
            reached = true;
            break;
         }
         json_array_insert(fresh, 0, ev);
         free(after);
         after = xstrdup(id);
      }
      bool more = json_is_true(json_object_get(page, "has_more")) && !reached && json_array_size(data) > 0;
      json_decref(page);
      if (!more)
         break;
   }
   free(after);
   return fresh;
}

static bool store_poll(Store *st, Experiment *e, json_t *job, json_t *events, json_t *ckpts, int *new_events, char **err) {
   if (!Store_begin(st, err))
      return false;
   sqlite3_stmt *s = Store_prepare(st, "INSERT OR IGNORE INTO job_events(experiment_id, event_id, created_at, level, "
                                       "type, message, data) VALUES (?, ?, ?, ?, ?, ?, ?)");
   size_t i;
   json_t *ev;
   bool ok = true;
   *new_events = 0;
   json_array_foreach(events, i, ev) {
      const char *type = json_string_value(json_object_get(ev, "type"));
      json_t *data = json_object_get(ev, "data");
      char *d = dump(json_is_object(data) ? data : NULL);
      sqlite3_bind_int64(s, 1, e->id);
      sqlite3_bind_text(s, 2, json_string_value(json_object_get(ev, "id")), -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 3, (sqlite3_int64)json_integer_value(json_object_get(ev, "created_at")));
      const char *level = json_string_value(json_object_get(ev, "level"));
      sqlite3_bind_text(s, 4, level ? level : "info", -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 5, type ? type : json_object_size(data) ? "metrics" : "message", -1, SQLITE_STATIC);
      const char *msg = json_string_value(json_object_get(ev, "message"));
      sqlite3_bind_text(s, 6, msg ? msg : "", -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 7, d, -1, SQLITE_TRANSIENT);
      free(d);
      ok = ok && sqlite3_step(s) == SQLITE_DONE;
      *new_events += sqlite3_changes(st->db);
      sqlite3_reset(s);
   }
   sqlite3_finalize(s);
   s = Store_prepare(st, "INSERT OR IGNORE INTO checkpoints(experiment_id, checkpoint_id, created_at, step_number, "
                         "fine_tuned_model_checkpoint, metrics) VALUES (?, ?, ?, ?, ?, ?)");
   json_array_foreach(json_object_get(ckpts, "data"), i, ev) {
      const char *id = json_string_value(json_object_get(ev, "id"));
      if (!id)
         continue;
      char *m = dump(json_object_get(ev, "metrics"));
      sqlite3_bind_int64(s, 1, e->id);
      sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 3, (sqlite3_int64)json_integer_value(json_object_get(ev, "created_at")));
      sqlite3_bind_int64(s, 4, (sqlite3_int64)json_integer_value(json_object_get(ev, "step_number")));
      sqlite3_bind_text(s, 5, json_string_value(json_object_get(ev, "fine_tuned_model_checkpoint")), -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 6, m, -1, SQLITE_TRANSIENT);
      free(m);
      ok = ok && sqlite3_step(s) == SQLITE_DONE;
      sqlite3_reset(s);
   }
   sqlite3_finalize(s);

   /* Last metrics: the newest metrics event, overlaid with the newest checkpoint's metrics. */
   json_t *metrics = json_object();
   s = Store_prepare(st, "SELECT data FROM job_events WHERE experiment_id = ? AND type = 'metrics' ORDER BY id DESC LIMIT 1");
   sqlite3_bind_int64(s, 1, e->id);
   if (sqlite3_step(s) == SQLITE_ROW) {
      json_t *d = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
      json_object_update(metrics, d);
      json_decref(d);
   }
   sqlite3_finalize(s);
   s = Store_prepare(st, "SELECT metrics FROM checkpoints WHERE experiment_id = ? ORDER BY step_number DESC, id DESC LIMIT 1");
   sqlite3_bind_int64(s, 1, e->id);
   if (sqlite3_step(s) == SQLITE_ROW) {
      json_t *d = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
      json_t *full = json_object_get(d, "full_valid_loss"), *facc = json_object_get(d, "full_valid_mean_token_accuracy");
      if (full)
         json_object_set(metrics, "full_valid_loss", full);
      if (facc)
         json_object_set(metrics, "full_valid_mean_token_accuracy", facc);
      json_decref(d);
   }
   sqlite3_finalize(s);

   const char *status = json_string_value(json_object_get(job, "status"));
   const char *model = json_string_value(json_object_get(job, "fine_tuned_model"));
   json_t *tokens = json_object_get(job, "trained_tokens");
   json_t *error = json_object_get(job, "error");
   const char *emsg = json_string_value(json_object_get(error, "message"));
   const char *ecode = json_string_value(json_object_get(error, "code"));
   char *errtext = !emsg ? NULL : ecode ? xasprintf("%s (%s)", emsg, ecode) : xstrdup(emsg);
   char *m = dump(metrics);
   json_decref(metrics);
   char ts[32];
   now_iso8601(ts);
   s = Store_prepare(st, "UPDATE experiments SET status = coalesce(?, status), fine_tuned_model = coalesce(?, fine_tuned_model), "
                         "trained_tokens = coalesce(?, trained_tokens), metrics = ?, error = coalesce(?, error), "
                         "updated_at = ? WHERE id = ?");
   sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 2, model, -1, SQLITE_STATIC);
   if (json_is_integer(tokens))
      sqlite3_bind_int64(s, 3, (sqlite3_int64)json_integer_value(tokens));
   sqlite3_bind_text(s, 4, m, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 5, errtext, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 6, ts, -1, SQLITE_STATIC);
   sqlite3_bind_int64(s, 7, e->id);
   ok = ok && sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   free(m);
   free(errtext);
   if (!ok) {
      *err = Store_errmsg(st, "storing the job's progress");
      Store_rollback(st);
      return false;
   }
   if (!Store_commit(st, err))
      return false;
   /* Refresh the caller's copy. */
   char ref[32];
   snprintf(ref, sizeof ref, "%lld", e->id);
   Experiment fresh;
   if (Experiment_get(st, ref, &fresh, err)) {
      Experiment_clear(e);
      *e = fresh;
   }
   return true;
}

bool Experiment_poll(Store *st, Experiment *e, long timeout_ms, int *new_events, char **err) {
   *new_events = 0;
   /* offramp train --runner writes its experiment's progress itself as the trainer runs: read it. */
   if (str_eq(e->backend, "runner")) {
      char ref[32];
      Experiment fresh;
      snprintf(ref, sizeof ref, "%lld", e->id);
      if (!Experiment_get(st, ref, &fresh, err))
         return false;
      Experiment_clear(e);
      *e = fresh;
      return true;
   }
   FtBackend b;
   if (!Backend_get(st, e->backend, &b, err))
      return false;
   b.timeout_ms = timeout_ms;
   json_t *job = b.kind->get_job(&b, e->job_id, err), *events = NULL, *ckpts = NULL;
   if (job)
      events = fetch_new_events(st, &b, e->id, e->job_id, err);
   if (events)
      ckpts = b.kind->checkpoints(&b, e->job_id, err);
   bool ok = ckpts && store_poll(st, e, job, events, ckpts, new_events, err);
   json_decref(job);
   json_decref(events);
   json_decref(ckpts);
   FtBackend_clear(&b);
   return ok;
}

bool Experiment_cancel(Store *st, Experiment *e, long timeout_ms, char **err) {
   if (Experiment_final(e->status)) {
      *err = xasprintf("job %s (experiment %lld) has already %s: nothing to cancel", e->job_id, e->id, e->status);
      return false;
   }
   if (str_eq(e->backend, "runner")) {
      *err = xasprintf("experiment %lld runs in its offramp train --runner process: stop it there (^C), which "
                       "records it as interrupted", e->id);
      return false;
   }
   FtBackend b;
   if (!Backend_get(st, e->backend, &b, err))
      return false;
   b.timeout_ms = timeout_ms;
   json_t *job = b.kind->cancel_job(&b, e->job_id, err);
   FtBackend_clear(&b);
   if (!job)
      return false;
   json_decref(job);
   int n;
   return Experiment_poll(st, e, timeout_ms, &n, err);
}

bool Experiment_pick(Store *st, const Experiment *e, char **err) {
   if (!str_eq(e->status, "succeeded")) {
      *err = xasprintf("experiment %lld is %s: only a succeeded job can be the candidate", e->id, e->status);
      return false;
   }
   sqlite3_stmt *s = Store_prepare(st, "UPDATE tasks SET candidate_experiment = ?, updated_at = ? WHERE id = ?");
   char ts[32];
   now_iso8601(ts);
   sqlite3_bind_int64(s, 1, e->id);
   sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
   sqlite3_bind_int64(s, 3, e->task_id);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   if (!ok)
      *err = Store_errmsg(st, "picking the candidate");
   return ok;
}

JobEvent *Experiment_events(Store *st, long long exp_id, long long after_row, int *n) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT id, coalesce(created_at, 0), level, type, message, data FROM job_events "
                                       "WHERE experiment_id = ? AND id > ? ORDER BY id");
   sqlite3_bind_int64(s, 1, exp_id);
   sqlite3_bind_int64(s, 2, after_row);
   JobEvent *ev = NULL;
   *n = 0;
   while (sqlite3_step(s) == SQLITE_ROW) {
      ev = xrealloc(ev, (*n + 1) * sizeof *ev);
      JobEvent *e = &ev[(*n)++];
      e->row = sqlite3_column_int64(s, 0);
      e->created_at = sqlite3_column_int64(s, 1);
      e->level = col_text(s, 2);
      e->type = col_text(s, 3);
      e->message = col_text(s, 4);
      e->data = col_text(s, 5);
   }
   sqlite3_finalize(s);
   return ev;
}

void Experiment_free_events(JobEvent *ev, int n) {
   for (int i = 0; i < n; i++) {
      free(ev[i].level);
      free(ev[i].type);
      free(ev[i].message);
      free(ev[i].data);
   }
   free(ev);
}

int Experiment_losses(Store *st, long long exp_id, double **train, double **valid) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT json_extract(data, '$.train_loss'), json_extract(data, '$.valid_loss') "
                                       "FROM job_events WHERE experiment_id = ? AND type = 'metrics' "
                                       "ORDER BY coalesce(json_extract(data, '$.step'), 0), id");
   sqlite3_bind_int64(s, 1, exp_id);
   int n = 0;
   *train = *valid = NULL;
   while (sqlite3_step(s) == SQLITE_ROW) {
      *train = xrealloc(*train, (n + 1) * sizeof **train);
      *valid = xrealloc(*valid, (n + 1) * sizeof **valid);
      (*train)[n] = sqlite3_column_type(s, 0) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 0);
      (*valid)[n] = sqlite3_column_type(s, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 1);
      n++;
   }
   sqlite3_finalize(s);
   return n;
}

json_t *Experiment_to_json(const Experiment *e) {
   json_t *hp = json_loads(e->hyperparameters ? e->hyperparameters : "{}", 0, NULL);
   json_t *m = json_loads(e->metrics ? e->metrics : "{}", 0, NULL);
   json_t *v = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:s, s:s?, s:s?, s:s?, s:s?, s:o, s:s, s:s, s:b}",
                         "id", (json_int_t)e->id, "task", e->task, "backend", e->backend, "job_id", e->job_id,
                         "base_model", e->base_model, "hyperparameters", hp ? hp : json_object(), "status", e->status,
                         "fine_tuned_model", e->fine_tuned_model, "training_file", e->training_file,
                         "validation_file", e->validation_file, "error", e->error, "metrics", m ? m : json_object(),
                         "created_at", e->created_at, "updated_at", e->updated_at, "candidate", e->candidate);
   json_object_set_new(v, "dataset_id", e->dataset_id ? json_integer(e->dataset_id) : json_null());
   json_object_set_new(v, "trained_tokens", e->trained_tokens >= 0 ? json_integer(e->trained_tokens) : json_null());
   return v;
}
