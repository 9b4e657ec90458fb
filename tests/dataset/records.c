/* records.c - exchange records for tests, through the one insert path (ExchangeWriter_add). */
#include "config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "records.h"

bool Defect_parse(const char *s, Defect *d) {
   static const char *const names[] = { "", "error", "error-object", "truncated", "empty", "flagged", "corrected" };
   for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
      if (str_eq(s, names[i])) {
         *d = (Defect)i;
         return true;
      }
   }
   return false;
}

bool Records_add(RecordGen *g, const char *text, const char *answer, Defect d, char **err) {
   char rid[96], ts[32];
   snprintf(rid, sizeof rid, "%s-%lld", g->prefix, g->n);
   time_t t = (time_t)(g->t0 + g->n * g->step);
   struct tm tm;
   gmtime_r(&t, &tm);
   strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
   g->n++;

   long long ptok = (long long)(strlen(g->system) + strlen(text)) / 4 + 8;
   long long ctok = (long long)strlen(answer) / 4 + 1;
   int status = d == DEFECT_ERROR ? 500 : 200;
   json_t *usage = json_pack("{s:I, s:I}", "prompt_tokens", (json_int_t)ptok, "completion_tokens", (json_int_t)ctok);
   json_t *resp;
   if (d == DEFECT_ERROR || d == DEFECT_ERROR_OBJECT)
      resp = json_pack("{s:{s:s, s:s}}", "error", "message", "The server had an error", "type", "server_error");
   else
      resp = json_pack("{s:s, s:s, s:s, s:[{s:i, s:{s:s, s:s}, s:s}], s:O}", "id", rid, "object", "chat.completion",
                       "model", "gpt-4o-mini", "choices", "index", 0, "message", "role", "assistant", "content",
                       d == DEFECT_EMPTY ? "" : answer, "finish_reason", d == DEFECT_TRUNCATED ? "length" : "stop",
                       "usage", usage);
   json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:[{s:s, s:s}, {s:s, s:s}]}, s:o, s:i, s:f, s:s, s:o}",
                           "id", rid, "ts", ts, "task", g->task, "arm", "primary",
                           "request", "model", "gpt-4o-mini", "messages", "role", "system", "content", g->system,
                           "role", "user", "content", text,
                           "response", resp, "status", status, "latency_ms", 400.0, "model", "gpt-4o-mini",
                           "usage", usage);
   char *record = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
   json_decref(rec);
   Exchange e;
   Exchange_init(&e);
   e.rid = rid;
   e.ts = ts;
   e.task = g->task;
   e.model = "gpt-4o-mini";
   e.status = status;
   e.latency_ms = 400;
   e.prompt_tokens = ptok;
   e.completion_tokens = ctok;
   e.tokens_estimated = true;
   e.record = record;
   bool ok = ExchangeWriter_add(g->w, &e, err) >= 0;
   free(record);
   if (ok && (d == DEFECT_FLAGGED || d == DEFECT_CORRECTED)) {
      sqlite3_stmt *s = Store_prepare(g->st, "UPDATE exchanges SET flag = ? WHERE rid = ?");
      sqlite3_bind_text(s, 1, d == DEFECT_FLAGGED ? "wrong" : "corrected", -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 2, rid, -1, SQLITE_STATIC);
      ok = sqlite3_step(s) == SQLITE_DONE;
      sqlite3_finalize(s);
      if (!ok)
         *err = Store_errmsg(g->st, "flagging a record");
   }
   return ok;
}
