/* exchange.c - inserting exchange records with dedupe and task attribution. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "exchange.h"
#include "phase.h"
#include "task.h"
#include "util.h"

struct ExchangeWriter {
   Store *st;
   sqlite3_stmt *insert, *task_id;
   /* Last task resolved: imports and captures come in runs of one task. */
   char *last_task;
   long long last_id;
};

void Exchange_init(Exchange *e) {
   memset(e, 0, sizeof *e);
   e->arm = "primary";
   e->latency_ms = -1;
   e->prompt_tokens = e->completion_tokens = -1;
   e->cost = -1;
   e->agree = -1;
   e->confidence = -1;
}

ExchangeWriter *ExchangeWriter_new(Store *st) {
   ExchangeWriter *w = xcalloc(1, sizeof *w);
   w->st = st;
   w->insert = Store_prepare(st,
      "INSERT INTO exchanges(rid, task_id, fingerprint, ts, arm, model, status, latency_ms, prompt_tokens,"
      " completion_tokens, tokens_estimated, cost, agree, confidence, record)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
      " ON CONFLICT(rid) DO NOTHING");
   w->task_id = Store_prepare(st, "SELECT id FROM tasks WHERE name = ?");
   return w;
}

/* The task's id, creating the task for an unknown tag; 0 with *err when the tag is not a
 * usable task name. */
static long long resolve_task(ExchangeWriter *w, const char *name, char **err) {
   if (w->last_task && str_eq(w->last_task, name))
      return w->last_id;
   sqlite3_reset(w->task_id);
   sqlite3_bind_text(w->task_id, 1, name, -1, SQLITE_TRANSIENT);
   long long id = 0;
   if (sqlite3_step(w->task_id) == SQLITE_ROW)
      id = sqlite3_column_int64(w->task_id, 0);
   sqlite3_reset(w->task_id);
   if (!id) {
      if (!Task_name_valid(name, err))
         return 0;
      char ts[32];
      now_iso8601(ts);
      sqlite3_stmt *s = Store_prepare(w->st, "INSERT INTO tasks(name, description, created_at, updated_at) "
                                             "VALUES (?, 'discovered from tagged calls', ?, ?)");
      sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 3, ts, -1, SQLITE_STATIC);
      bool ok = sqlite3_step(s) == SQLITE_DONE;
      sqlite3_finalize(s);
      if (!ok) {
         *err = Store_errmsg(w->st, "creating a task for a tagged call");
         return 0;
      }
      id = sqlite3_last_insert_rowid(w->st->db);
      if (!Phase_record(w->st, id, "create", NULL, "audit", "first tagged call", err))
         return 0;
   }
   free(w->last_task);
   w->last_task = xstrdup(name);
   w->last_id = id;
   return id;
}

int ExchangeWriter_add(ExchangeWriter *w, const Exchange *e, char **err) {
   sqlite3_stmt *s = w->insert;
   long long task_id = 0;
   if (e->task && *e->task) {
      task_id = resolve_task(w, e->task, err);
      if (!task_id)
         return -1;
   }
   sqlite3_reset(s);
   sqlite3_clear_bindings(s);
   sqlite3_bind_text(s, 1, e->rid, -1, SQLITE_STATIC);
   if (task_id)
      sqlite3_bind_int64(s, 2, task_id);
   if (e->fingerprint)
      sqlite3_bind_text(s, 3, e->fingerprint, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 4, e->ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 5, e->arm ? e->arm : "primary", -1, SQLITE_STATIC);
   if (e->model)
      sqlite3_bind_text(s, 6, e->model, -1, SQLITE_STATIC);
   if (e->status)
      sqlite3_bind_int(s, 7, e->status);
   if (e->latency_ms >= 0)
      sqlite3_bind_double(s, 8, e->latency_ms);
   if (e->prompt_tokens >= 0)
      sqlite3_bind_int64(s, 9, e->prompt_tokens);
   if (e->completion_tokens >= 0)
      sqlite3_bind_int64(s, 10, e->completion_tokens);
   sqlite3_bind_int(s, 11, e->tokens_estimated);
   if (e->cost >= 0)
      sqlite3_bind_double(s, 12, e->cost);
   if (e->agree >= 0)
      sqlite3_bind_int(s, 13, e->agree);
   if (e->confidence >= 0)
      sqlite3_bind_double(s, 14, e->confidence);
   sqlite3_bind_text(s, 15, e->record, -1, SQLITE_STATIC);
   if (sqlite3_step(s) != SQLITE_DONE) {
      *err = Store_errmsg(w->st, "storing an exchange");
      sqlite3_reset(s);
      return -1;
   }
   int inserted = sqlite3_changes(w->st->db) > 0;
   sqlite3_reset(s);
   return inserted;
}

void ExchangeWriter_free(ExchangeWriter *w) {
   if (!w)
      return;
   sqlite3_finalize(w->insert);
   sqlite3_finalize(w->task_id);
   free(w->last_task);
   free(w);
}
