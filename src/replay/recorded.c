/* recorded.c - logged calls read back for replay (the replay client and the replay server). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"
#include "replay/recorded.h"

/* Arms whose response is the frontier's: a record without one comes from an import. */
static bool frontier_arm(const char *arm) {
   return !arm || str_eq(arm, "primary") || str_eq(arm, "fallback");
}

/* Takes one record; task is the workspace's attribution when known, else the record's tag. */
static void add_record(Recorded *r, const json_t *rec, const char *task, const RecordedFilter *f) {
   const json_t *req = json_object_get(rec, "request");
   if (!json_is_object(req) || !json_is_array(json_object_get(req, "messages"))) {
      r->skipped++;
      return;
   }
   if (!task)
      task = json_string_value(json_object_get(rec, "task"));
   if (f->task && !str_eq(task, f->task))
      return;
   const json_t *resp = json_object_get(rec, "response");
   if (f->answers && (!frontier_arm(json_string_value(json_object_get(rec, "arm"))) || !json_is_object(resp)))
      return;
   if (r->n == r->cap) {
      r->cap = r->cap ? 2 * r->cap : 1024;
      r->v = xrealloc(r->v, r->cap * sizeof *r->v);
   }
   RecordedCall *c = &r->v[r->n++];
   c->task = task ? xstrdup(task) : NULL;
   const char *model = json_string_value(json_object_get(req, "model"));
   c->model = model ? xstrdup(model) : NULL;
   c->key = Recorded_key(req);
   c->request = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
   c->response = f->answers ? json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
   json_int_t st = json_integer_value(json_object_get(rec, "status"));
   c->status = st >= 100 && st <= 599 ? (int)st : 200;
}

static bool full(const Recorded *r, const RecordedFilter *f) {
   return f->max && r->n >= f->max;
}

bool Recorded_load_file(Recorded *r, const char *path, const RecordedFilter *f, char **err) {
   gzFile gz = gzopen(path, "rb");
   if (!gz) {
      *err = xasprintf("cannot read %s: %s", path, strerror(errno ? errno : ENOMEM));
      return false;
   }
   gzbuffer(gz, 1 << 17);
   Sbuf line = { 0 };
   char chunk[65536];
   bool ok = true;
   while (!full(r, f)) {
      Sbuf_reset(&line);
      bool got = false;
      while (gzgets(gz, chunk, sizeof chunk)) {
         got = true;
         size_t n = strlen(chunk);
         Sbuf_add(&line, chunk, n);
         if (n && chunk[n - 1] == '\n')
            break;
      }
      if (!got)
         break;
      const char *p = line.buf;
      while (isspace((unsigned char)*p))
         p++;
      if (!*p)
         continue;
      json_t *rec = json_loads(p, 0, NULL);
      if (json_is_object(rec))
         add_record(r, rec, NULL, f);
      else
         r->skipped++;
      json_decref(rec);
   }
   int zerr;
   const char *msg = gzerror(gz, &zerr);
   if (zerr != Z_OK && zerr != Z_STREAM_END) {
      *err = xasprintf("reading %s: %s", path, msg);
      ok = false;
   }
   gzclose(gz);
   Sbuf_free(&line);
   return ok;
}

bool Recorded_load_store(Recorded *r, Store *st, const RecordedFilter *f, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT t.name, e.record FROM exchanges e LEFT JOIN tasks t ON t.id = e.task_id "
                                       "WHERE ?1 IS NULL OR t.name = ?1 ORDER BY e.ts, e.id");
   if (f->task)
      sqlite3_bind_text(s, 1, f->task, -1, SQLITE_STATIC);
   int rc;
   while (!full(r, f) && (rc = sqlite3_step(s)) == SQLITE_ROW) {
      json_t *rec = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
      if (json_is_object(rec))
         add_record(r, rec, (const char *)sqlite3_column_text(s, 0), f);
      else
         r->skipped++;
      json_decref(rec);
   }
   bool ok = full(r, f) || rc == SQLITE_DONE;
   if (!ok)
      *err = xasprintf("reading the workspace's exchanges: %s", sqlite3_errstr(rc));
   sqlite3_finalize(s);
   return ok;
}

void Recorded_free(Recorded *r) {
   for (size_t i = 0; i < r->n; i++) {
      free(r->v[i].task);
      free(r->v[i].model);
      free(r->v[i].request);
      free(r->v[i].response);
   }
   free(r->v);
   memset(r, 0, sizeof *r);
}

/* A message's text: a string content, or the text parts of a content array. */
static void add_text(Sbuf *sb, const json_t *content) {
   if (json_is_string(content)) {
      const char *s = json_string_value(content);
      size_t n = json_string_length(content);
      while (n && isspace((unsigned char)*s))
         s++, n--;
      while (n && isspace((unsigned char)s[n - 1]))
         n--;
      Sbuf_add(sb, s, n);
   } else if (json_is_array(content)) {
      size_t i;
      const json_t *part;
      json_array_foreach(content, i, part) add_text(sb, json_object_get(part, "text"));
   }
}

uint64_t Recorded_key(const json_t *request) {
   Sbuf sb = { 0 };
   const char *model = json_string_value(json_object_get(request, "model"));
   Sbuf_puts(&sb, model ? model : "");
   size_t i;
   const json_t *m;
   json_array_foreach(json_object_get(request, "messages"), i, m) {
      const char *role = json_string_value(json_object_get(m, "role"));
      Sbuf_putc(&sb, '\x1e');
      Sbuf_puts(&sb, role ? role : "");
      Sbuf_putc(&sb, '\x1f');
      add_text(&sb, json_object_get(m, "content"));
   }
   uint64_t h = hash64(sb.buf ? sb.buf : "", sb.len);
   Sbuf_free(&sb);
   return h;
}
