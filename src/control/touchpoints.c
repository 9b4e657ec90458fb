/* touchpoints.c - listing discovered touchpoints and attributing them to tasks, moving
 * their aggregates in the same transaction so the audit stays exact. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/stats.h"
#include "common/util.h"
#include "control/audit.h"
#include "control/task.h"
#include "control/touchpoints.h"

Touchpoint *Touchpoints_list(Store *st, int *n) {
   sqlite3_stmt *s = Store_prepare(st,
      "SELECT t.fingerprint, t.skeleton, t.samples, sum(d.calls), t.first_seen FROM touchpoints t"
      " JOIN audit_daily d ON d.task_id = 0 AND d.fingerprint = t.fingerprint"
      " WHERE t.task_id IS NULL GROUP BY t.fingerprint ORDER BY 4 DESC, 1");
   Touchpoint *tp = NULL;
   *n = 0;
   while (sqlite3_step(s) == SQLITE_ROW) {
      tp = xrealloc(tp, (*n + 1) * sizeof *tp);
      Touchpoint *t = &tp[(*n)++];
      memset(t, 0, sizeof *t);
      t->fingerprint = xstrdup((const char *)sqlite3_column_text(s, 0));
      t->skeleton = xstrdup((const char *)sqlite3_column_text(s, 1));
      json_t *arr = json_loads((const char *)sqlite3_column_text(s, 2), 0, NULL);
      t->samples = xcalloc(json_array_size(arr) + 1, sizeof *t->samples);
      size_t i;
      json_t *v;
      json_array_foreach(arr, i, v) {
         if (json_is_string(v))
            t->samples[t->nsamples++] = xstrdup(json_string_value(v));
      }
      json_decref(arr);
      t->calls = sqlite3_column_int64(s, 3);
      t->first_seen = xstrdup((const char *)sqlite3_column_text(s, 4));
   }
   sqlite3_finalize(s);
   return tp;
}

void Touchpoints_free(Touchpoint *tp, int n) {
   for (int i = 0; i < n; i++) {
      free(tp[i].fingerprint);
      free(tp[i].skeleton);
      for (int j = 0; j < tp[i].nsamples; j++)
         free(tp[i].samples[j]);
      free(tp[i].samples);
      free(tp[i].first_seen);
   }
   free(tp);
}

json_t *Touchpoint_to_json(const Touchpoint *t) {
   json_t *samples = json_array();
   for (int i = 0; i < t->nsamples; i++)
      json_array_append_new(samples, json_string(t->samples[i]));
   return json_pack("{s:s,s:I,s:s,s:o,s:s}", "fingerprint", t->fingerprint, "calls", (json_int_t)t->calls, "skeleton",
                    t->skeleton, "samples", samples, "first_seen", t->first_seen);
}

/* The full fingerprint for fp or a unique prefix of it; NULL with *err. */
static char *resolve_fp(Store *st, const char *fp, long long *task_id, char **err) {
   if (strlen(fp) < 6 || strspn(fp, "0123456789abcdef") != strlen(fp)) {
      *err = xasprintf("'%s' is not a fingerprint (6 to 16 hex digits, see 'offramp touchpoints')", fp);
      return NULL;
   }
   sqlite3_stmt *s = Store_prepare(st, "SELECT fingerprint, coalesce(task_id, 0) FROM touchpoints"
                                       " WHERE fingerprint >= ?1 AND fingerprint < ?1 || 'g' LIMIT 2");
   sqlite3_bind_text(s, 1, fp, -1, SQLITE_STATIC);
   char *full = NULL;
   int found = 0;
   while (sqlite3_step(s) == SQLITE_ROW) {
      if (!found++) {
         full = xstrdup((const char *)sqlite3_column_text(s, 0));
         *task_id = sqlite3_column_int64(s, 1);
      }
   }
   sqlite3_finalize(s);
   if (found != 1) {
      *err = found ? xasprintf("fingerprint prefix '%s' is ambiguous (type more digits)", fp)
                   : xasprintf("no discovered touchpoint '%s' (see 'offramp touchpoints')", fp);
      free(full);
      return NULL;
   }
   return full;
}

static long long task_id_of(Store *st, const char *name, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT id FROM tasks WHERE name = ?");
   sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   long long id = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
   sqlite3_finalize(s);
   if (!id)
      *err = xasprintf("no task named '%s' (see 'offramp task list'; 'offramp touchpoints name' creates one)", name);
   return id;
}

static bool run(Store *st, const char *sql, long long task_id, const char *fp, char **err) {
   sqlite3_stmt *s = Store_prepare(st, sql);
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_text(s, 2, fp, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "attributing a touchpoint");
   sqlite3_finalize(s);
   return ok;
}

/* Move the untagged aggregates of fp onto the task, adding to rows already there. */
static bool move_aggregates(Store *st, long long task_id, const char *fp, char **err) {
   Sbuf cols = { 0 }, upd = { 0 };
   Sbuf_puts(&cols, "calls, errors, in_tokens, out_tokens, est_calls, lat_n, lat_sum, outputs, out_chars, json_outputs");
   for (int b = 0; b < AUDIT_BUCKETS; b++)
      Sbuf_printf(&cols, ", h%d", b);
   /* "a, b" -> "a = a + excluded.a, b = b + excluded.b" */
   char *list = xstrdup(cols.buf);
   for (char *save = NULL, *c = strtok_r(list, ", ", &save); c; c = strtok_r(NULL, ", ", &save))
      Sbuf_printf(&upd, "%s%s = %s + excluded.%s", upd.len ? ", " : "", c, c, c);
   free(list);
   char *sql = xasprintf("INSERT INTO audit_daily(task_id, fingerprint, day, model, %s) SELECT ?1, fingerprint, day,"
                         " model, %s FROM audit_daily WHERE task_id = 0 AND fingerprint = ?2"
                         " ON CONFLICT DO UPDATE SET %s", cols.buf, cols.buf, upd.buf);
   bool ok = run(st, sql, task_id, fp, err) &&
             run(st, "DELETE FROM audit_daily WHERE task_id = 0 AND fingerprint = ?2 AND ?1 IS NOT NULL", task_id, fp,
                 err) &&
             run(st, "INSERT INTO audit_outputs(task_id, fingerprint, hash, n, sample) SELECT ?1, fingerprint, hash, n,"
                     " sample FROM audit_outputs WHERE task_id = 0 AND fingerprint = ?2"
                     " ON CONFLICT DO UPDATE SET n = n + excluded.n", task_id, fp, err) &&
             run(st, "DELETE FROM audit_outputs WHERE task_id = 0 AND fingerprint = ?2 AND ?1 IS NOT NULL", task_id, fp,
                 err);
   free(sql);
   Sbuf_free(&cols);
   Sbuf_free(&upd);
   return ok;
}

long long Touchpoints_assign(Store *st, const char *fp_arg, const char *task, bool create, char **err) {
   if (!Store_begin(st, err))
      return -1;
   long long owner = 0, task_id = 0, moved = -1;
   char *fp = resolve_fp(st, fp_arg, &owner, err);
   if (!fp)
      goto fail;
   if (owner) {
      sqlite3_stmt *s = Store_prepare(st, "SELECT name FROM tasks WHERE id = ?");
      sqlite3_bind_int64(s, 1, owner);
      const char *name = sqlite3_step(s) == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : "?";
      *err = xasprintf("touchpoint %s already belongs to task '%s'", fp, name);
      sqlite3_finalize(s);
      goto fail;
   }
   if (create) {
      char *desc = NULL;
      sqlite3_stmt *s = Store_prepare(st, "SELECT skeleton FROM touchpoints WHERE fingerprint = ?");
      sqlite3_bind_text(s, 1, fp, -1, SQLITE_STATIC);
      if (sqlite3_step(s) == SQLITE_ROW)
         desc = xasprintf("discovered touchpoint %s: %s", fp, (const char *)sqlite3_column_text(s, 0));
      sqlite3_finalize(s);
      char *reason = xasprintf("named from discovered touchpoint %s", fp);
      task_id = Task_create_in_tx(st, task, desc ? desc : "", reason, err);
      free(reason);
      free(desc);
      if (task_id == 0 && *err && strstr(*err, "already exists")) {
         char *e2 = xasprintf("%s (merge the touchpoint into it: offramp touchpoints merge %s %s)", *err, fp_arg, task);
         free(*err);
         *err = e2;
      }
   } else {
      task_id = task_id_of(st, task, err);
   }
   if (!task_id)
      goto fail;
   {
      sqlite3_stmt *s = Store_prepare(st, "SELECT coalesce(sum(calls), 0) FROM audit_daily WHERE task_id = 0 AND fingerprint = ?");
      sqlite3_bind_text(s, 1, fp, -1, SQLITE_STATIC);
      moved = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
      sqlite3_finalize(s);
   }
   if (!run(st, "UPDATE touchpoints SET task_id = ?1 WHERE fingerprint = ?2", task_id, fp, err) ||
       !run(st, "UPDATE exchanges SET task_id = ?1 WHERE task_id IS NULL AND fingerprint = ?2", task_id, fp, err) ||
       !move_aggregates(st, task_id, fp, err)) {
      moved = -1;
      goto fail;
   }
   free(fp);
   return Store_commit(st, err) ? moved : -1;
fail:
   free(fp);
   Store_rollback(st);
   return -1;
}
