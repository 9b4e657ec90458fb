/* versions.c - the versions of a task's candidate, from experiments and the route history. A
 * version's route revision is numbered per task, as 'offramp route show' and 'route revert'
 * number them: the revision that last put the model in front. */
#include "config.h"

#include "control/versions.h"

json_t *Versions_list(Store *st, const Task *t, int limit) {
   sqlite3_stmt *q = Store_prepare(st,
      "SELECT x.id, x.dataset_id, x.job_id, x.fine_tuned_model, nullif((SELECT count(*) FROM route_events r2"
      " WHERE r2.task = ?2 AND r2.id <= (SELECT max(r.id) FROM route_events r WHERE r.task = ?2"
      " AND json_extract(r.new_route, '$.candidate.model') = x.fine_tuned_model)), 0) FROM experiments x"
      " WHERE x.task_id = ?1 AND x.status = 'succeeded' ORDER BY x.id DESC LIMIT ?3");
   sqlite3_bind_int64(q, 1, t->id);
   sqlite3_bind_text(q, 2, t->name, -1, SQLITE_STATIC);
   sqlite3_bind_int(q, 3, limit);
   json_t *a = json_array();
   while (sqlite3_step(q) == SQLITE_ROW) {
      json_t *rev = sqlite3_column_type(q, 4) == SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int64(q, 4));
      json_t *ds = sqlite3_column_type(q, 1) == SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int64(q, 1));
      json_array_append_new(a, json_pack("{s:I, s:o, s:s, s:s?, s:o}", "experiment", (json_int_t)sqlite3_column_int64(q, 0),
                                         "dataset", ds, "job", (const char *)sqlite3_column_text(q, 2), "model",
                                         (const char *)sqlite3_column_text(q, 3), "route_revision", rev));
   }
   sqlite3_finalize(q);
   return a;
}
