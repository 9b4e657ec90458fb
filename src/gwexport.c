/* gwexport.c - the export's slices: a range of ids per slice (so a rare task never makes one
 * slice scan the table), cut short at a byte budget, sent with a callback for when the
 * connection has written it all out. */
#include "config.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwexport.h"
#include "store.h"
#include "util.h"

/* A slice reads at most SLICE_IDS rows and stops past SLICE_BYTES of records: about a
 * millisecond of the loop's time, and the most the export holds in memory. */
#define SLICE_IDS 4096
#define SLICE_BYTES (128 * 1024)

struct GwExport {
   struct evhttp_request *req;   /* NULL once answered or given up */
   Store *st;
   sqlite3_stmt *stmt;
   long long last, max_id;       /* ids (last, max_id] are still to read */
   long long sent;
   long left;                    /* records still allowed, < 0: no limit */
   struct event *next, *watch;
   GwExportDone done;
   void *arg;
};

static void finish(GwExport *ex, bool whole) {
   if (ex->req) {
      if (whole) {
         evhttp_send_reply_end(ex->req);
      } else {
         /* No terminating chunk: the client must see a cut-off body, not a short but complete
          * one. A client that already left took the connection with it. */
         struct evhttp_connection *con = evhttp_request_get_connection(ex->req);
         if (con)
            evhttp_connection_free(con);
         else
            evhttp_send_reply_end(ex->req);   /* frees a request that lost its connection */
      }
      ex->req = NULL;
   }
   event_del(ex->next);
   event_del(ex->watch);
   ex->done(ex, ex->arg);
}

static void on_drained(struct evhttp_connection *con, void *arg);

static void slice(GwExport *ex) {
   long long hi = ex->last + SLICE_IDS < ex->max_id ? ex->last + SLICE_IDS : ex->max_id;
   sqlite3_bind_int64(ex->stmt, 1, ex->last);
   sqlite3_bind_int64(ex->stmt, 2, hi);
   struct evbuffer *b = evbuffer_new();
   size_t bytes = 0;
   long long upto = hi;
   int rc;
   while (ex->left != 0 && (rc = sqlite3_step(ex->stmt)) == SQLITE_ROW) {
      const char *text = (const char *)sqlite3_column_text(ex->stmt, 1);
      size_t n = (size_t)sqlite3_column_bytes(ex->stmt, 1);
      evbuffer_add(b, text, n);
      evbuffer_add(b, "\n", 1);
      bytes += n + 1;
      ex->sent++;
      if (ex->left > 0)
         ex->left--;
      if (bytes >= SLICE_BYTES) {
         upto = sqlite3_column_int64(ex->stmt, 0);
         rc = SQLITE_DONE;
         break;
      }
   }
   if (ex->left == 0)
      rc = SQLITE_DONE;
   bool failed = rc != SQLITE_DONE;
   if (failed) {
      char *msg = Store_errmsg(ex->st, "exporting exchanges");
      fprintf(stderr, "offramp gateway: /admin/export cut off after %lld records: %s\n", ex->sent, msg);
      free(msg);
   }
   /* Reset ends the slice's read transaction. */
   sqlite3_reset(ex->stmt);
   ex->last = upto;
   bool end = failed || ex->left == 0 || ex->last >= ex->max_id;
   if (evbuffer_get_length(b) > 0 && !failed) {
      evhttp_send_reply_chunk_with_cb(ex->req, b, end ? NULL : on_drained, ex);
   } else if (!end) {
      /* Nothing in this range: the next one on the loop's next turn, not by recursion. */
      event_active(ex->next, 0, 0);
   }
   evbuffer_free(b);
   if (end)
      finish(ex, !failed);
}

static void on_drained(struct evhttp_connection *con, void *arg) {
   (void)con;
   slice(arg);
}

static void on_next(evutil_socket_t fd, short what, void *arg) {
   slice(arg);
}

/* A client that leaves mid-export takes the connection, and the drained callback with it:
 * evhttp only detaches the request. Checked once a second. */
static void on_watch(evutil_socket_t fd, short what, void *arg) {
   GwExport *ex = arg;
   if (ex->req && !evhttp_request_get_connection(ex->req)) {
      fprintf(stderr, "offramp gateway: /admin/export: the client left after %lld records\n", ex->sent);
      finish(ex, false);
   }
}

GwExport *GwExport_start(struct evhttp_request *req, struct event_base *base, const char *workspace,
                         const char *task, const char *since, long limit, GwExportDone done, void *arg,
                         char **err) {
   Store *st = Store_open(workspace, STORE_READONLY, err);
   if (!st)
      return NULL;
   long long task_id = 0;
   if (task) {
      sqlite3_stmt *t = Store_prepare(st, "SELECT id FROM tasks WHERE name = ?");
      sqlite3_bind_text(t, 1, task, -1, SQLITE_STATIC);
      task_id = sqlite3_step(t) == SQLITE_ROW ? sqlite3_column_int64(t, 0) : -1;
      sqlite3_finalize(t);
   }
   GwExport *ex = xcalloc(1, sizeof *ex);
   ex->req = req;
   ex->st = st;
   ex->left = limit;
   ex->done = done;
   ex->arg = arg;
   /* The rows there are now: what is captured during the export is for the next one. */
   ex->max_id = task_id < 0 ? 0 : Store_count(st, "SELECT coalesce(max(id), 0) FROM exchanges", 0);
   /* NOT INDEXED: the id range is the bound of a slice's work; an index on task or time could
    * make one slice walk far outside it. */
   ex->stmt = Store_prepare(st, "SELECT id, record FROM exchanges NOT INDEXED WHERE id > ?1 AND id <= ?2"
                                " AND (?3 IS NULL OR task_id = ?3) AND (?4 IS NULL OR ts >= ?4) ORDER BY id");
   if (task)
      sqlite3_bind_int64(ex->stmt, 3, task_id);
   if (since)
      sqlite3_bind_text(ex->stmt, 4, since, -1, SQLITE_TRANSIENT);
   ex->next = event_new(base, -1, 0, on_next, ex);
   ex->watch = event_new(base, -1, EV_PERSIST, on_watch, ex);
   struct timeval second = { 1, 0 };
   event_add(ex->watch, &second);
   evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/x-ndjson");
   evhttp_send_reply_start(req, 200, NULL);
   event_active(ex->next, 0, 0);
   return ex;
}

long long GwExport_records(const GwExport *ex) {
   return ex->sent;
}

void GwExport_free(GwExport *ex) {
   if (!ex)
      return;
   event_free(ex->next);
   event_free(ex->watch);
   sqlite3_finalize(ex->stmt);
   Store_close(ex->st);
   free(ex);
}
