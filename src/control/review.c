/* review.c - disagreement grades and the flags they set on the primary's record. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/review.h"

const char *const Grade_names[GRADE_COUNT] = { "primary", "candidate", "both", "neither" };
const char *const Grade_titles[GRADE_COUNT] = { "primary right", "candidate right", "both fine", "both wrong" };

bool Grade_parse(const char *s, Grade *g) {
   for (int i = 0; i < GRADE_COUNT; i++) {
      char key[2] = { (char)('1' + i), '\0' };
      if (str_eq(s, Grade_names[i]) || str_eq(s, key)) {
         *g = (Grade)i;
         return true;
      }
   }
   return false;
}

bool Review_grade(Store *st, long long task_id, const char *rid, Grade g, char **err) {
   if (!Store_begin(st, err))
      return false;
   /* 0: no such request of the task, 1: a disagreement, 2: agreed or not compared */
   sqlite3_stmt *c = Store_prepare(st, "SELECT t.name, (SELECT CASE WHEN e.agree = 0 THEN 1 ELSE 2 END FROM exchanges e"
                                       " WHERE e.rid = ?1 AND e.task_id = t.id) FROM tasks t WHERE t.id = ?2");
   sqlite3_bind_text(c, 1, rid, -1, SQLITE_STATIC);
   sqlite3_bind_int64(c, 2, task_id);
   int found = 0;
   char *task = NULL;
   if (sqlite3_step(c) == SQLITE_ROW) {
      task = xstrdup((const char *)sqlite3_column_text(c, 0));
      found = sqlite3_column_int(c, 1);
   }
   sqlite3_finalize(c);
   if (found != 1) {
      *err = found ? xasprintf("request %s of task %s is not a disagreement (its answers agreed or were not compared): "
                               "only disagreements are graded (offramp review list %s)", rid, task, task)
                   : xasprintf("no captured request %s in task %s (offramp review list %s shows the disagreements "
                               "and their request ids)", rid, task ? task : "?", task ? task : "TASK");
      free(task);
      Store_rollback(st);
      return false;
   }
   free(task);
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *q = Store_prepare(st, "INSERT OR REPLACE INTO review_grades(rid, task_id, grade, actor, ts)"
                                       " VALUES (?,?,?,?,?)");
   sqlite3_bind_text(q, 1, rid, -1, SQLITE_STATIC);
   sqlite3_bind_int64(q, 2, task_id);
   sqlite3_bind_text(q, 3, Grade_names[g], -1, SQLITE_STATIC);
   sqlite3_bind_text(q, 4, Store_actor(), -1, SQLITE_STATIC);
   sqlite3_bind_text(q, 5, ts, -1, SQLITE_TRANSIENT);
   bool ok = sqlite3_step(q) == SQLITE_DONE;
   sqlite3_finalize(q);
   if (ok) {
      q = Store_prepare(st, "UPDATE exchanges SET flag = ? WHERE rid = ?");
      if (g == GRADE_CANDIDATE || g == GRADE_NEITHER)
         sqlite3_bind_text(q, 1, g == GRADE_CANDIDATE ? "corrected" : "wrong", -1, SQLITE_STATIC);
      sqlite3_bind_text(q, 2, rid, -1, SQLITE_STATIC);
      ok = sqlite3_step(q) == SQLITE_DONE;
      sqlite3_finalize(q);
   }
   if (!ok) {
      *err = Store_errmsg(st, "storing the grade");
      Store_rollback(st);
      return false;
   }
   return Store_commit(st, err);
}

int Review_get(Store *st, const char *rid) {
   sqlite3_stmt *q = Store_prepare(st, "SELECT grade FROM review_grades WHERE rid = ?");
   sqlite3_bind_text(q, 1, rid, -1, SQLITE_STATIC);
   int g = -1;
   if (sqlite3_step(q) == SQLITE_ROW) {
      for (int i = 0; i < GRADE_COUNT; i++) {
         if (str_eq((const char *)sqlite3_column_text(q, 0), Grade_names[i]))
            g = i;
      }
   }
   sqlite3_finalize(q);
   return g;
}

void Review_counts(Store *st, long long task_id, long long counts[GRADE_COUNT]) {
   memset(counts, 0, GRADE_COUNT * sizeof counts[0]);
   sqlite3_stmt *q = Store_prepare(st, "SELECT grade, count(*) FROM review_grades WHERE task_id = ? GROUP BY grade");
   sqlite3_bind_int64(q, 1, task_id);
   while (sqlite3_step(q) == SQLITE_ROW) {
      for (int i = 0; i < GRADE_COUNT; i++) {
         if (str_eq((const char *)sqlite3_column_text(q, 0), Grade_names[i]))
            counts[i] = sqlite3_column_int64(q, 1);
      }
   }
   sqlite3_finalize(q);
}

double Review_accuracy(double agreement, const long long counts[GRADE_COUNT]) {
   long long n = 0;
   for (int i = 0; i < GRADE_COUNT; i++)
      n += counts[i];
   if (n == 0)
      return -1;
   return agreement + (1 - agreement) * (double)(counts[GRADE_CANDIDATE] + counts[GRADE_BOTH]) / (double)n;
}

static char *answer(const json_t *response) {
   const char *c = json_string_value(json_object_get(
      json_object_get(json_array_get(json_object_get(response, "choices"), 0), "message"), "content"));
   return xstrdup(c ? c : "(no answer)");
}

/* The user's input: every user message of the request, whole (a template's instructions and the
 * text it wraps), one after the other. */
static char *user_input(const json_t *rec) {
   json_t *msgs = json_object_get(json_object_get(rec, "request"), "messages"), *m;
   size_t i;
   Sbuf sb = { 0 };
   json_array_foreach(msgs, i, m) {
      const char *role = json_string_value(json_object_get(m, "role"));
      const char *c = json_string_value(json_object_get(m, "content"));
      if (c && (!role || str_eq(role, "user")))
         Sbuf_printf(&sb, "%s%s", sb.len ? "\n\n" : "", c);
   }
   return sb.buf ? Sbuf_steal(&sb) : xstrdup("");
}

ReviewSample *Review_samples(const GwAdmin *gw, const char *task, int limit, int *n, char **err) {
   char *tq = GwAdmin_escape(task), *path = xasprintf("/admin/samples?task=%s&kind=disagree&limit=%d", tq, limit);
   json_t *j = GwAdmin_ok(gw, "GET", path, NULL, err);
   free(path);
   free(tq);
   *n = 0;
   if (!j)
      return NULL;
   json_t *list = json_object_get(j, "samples"), *rec;
   size_t i;
   ReviewSample *out = xcalloc(json_array_size(list) + 1, sizeof *out);
   json_array_foreach(list, i, rec) {
      ReviewSample *s = &out[(*n)++];
      const json_t *shadow = json_object_get(rec, "shadow");
      bool primary_served = !str_eq(json_string_value(json_object_get(rec, "arm")), "candidate");
      s->rid = xstrdup(json_string_value(json_object_get(rec, "id")) ?: "");
      s->ts = xstrdup(json_string_value(json_object_get(rec, "ts")) ?: "");
      s->input = user_input(rec);
      /* The record's response is the served arm's; "shadow" holds the other one. */
      s->primary = answer(json_object_get(primary_served ? rec : shadow, "response"));
      s->candidate = answer(json_object_get(primary_served ? shadow : rec, "response"));
   }
   json_decref(j);
   return out;
}

void Review_samples_free(ReviewSample *s, int n) {
   for (int i = 0; i < n; i++) {
      free(s[i].rid);
      free(s[i].ts);
      free(s[i].input);
      free(s[i].primary);
      free(s[i].candidate);
   }
   free(s);
}
