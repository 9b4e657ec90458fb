/* review.c - disagreement grades and the flags they set on the primary's record. */
#include "config.h"

#include <string.h>

#include "review.h"
#include "util.h"

const char *const Grade_names[GRADE_COUNT] = { "primary", "candidate", "both", "neither" };
const char *const Grade_titles[GRADE_COUNT] = { "primary right", "candidate right", "both fine", "both wrong" };

bool Review_grade(Store *st, long long task_id, const char *rid, Grade g, char **err) {
   if (!Store_begin(st, err))
      return false;
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
