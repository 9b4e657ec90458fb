/* gwexport.c - an export's reader thread and the loop's side. The thread owns the read
 * connection and reads one slice when asked: a range of ids (so a rare task never makes one
 * slice scan the table) cut short at a byte budget. The loop sends each slice with a callback
 * for when the connection has written it all out, and only then asks for the next: one slice
 * in memory, and none of the reading (or a page fault on a cold workspace) on the loop. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "gateway/gwexport.h"
#include "http/httpreply.h"
#include "store/store.h"

#define SLICE_IDS 4096
#define SLICE_BYTES (128 * 1024)

struct GwExport {
   /* The loop's: */
   HttpReq *req;   /* NULL once answered or given up */
   bool started;                 /* the 200 and headers are out */
   struct event *wake, *watch;
   GwExportDone done;
   void *arg;
   pthread_t thread;
   bool joinable;
   int pipe[2];
   /* The thread's, set before it starts: */
   char *workspace, *task, *since;
   long left;                    /* records still allowed, < 0: no limit */
   /* Shared, under lock: */
   pthread_mutex_t lock;
   pthread_cond_t cond;
   bool want, stop;              /* the loop asks for a slice / tells the thread to stop */
   Sbuf *ready;                  /* a slice read, for the loop */
   bool end;                     /* ready is the last slice (or there was an error) */
   char *err;                    /* the reading failed: why */
   long long sent;               /* records read so far */
};

/* Reads the next non-empty slice into b, or up to the end; *end set at the end. */
static int read_slice(sqlite3_stmt *stmt, long long *last, long long max_id, long *left, Sbuf *b,
                      long long *records, bool *end) {
   int rc = SQLITE_DONE;
   size_t bytes = 0;
   while (bytes == 0 && *left != 0 && *last < max_id) {
      long long hi = *last + SLICE_IDS < max_id ? *last + SLICE_IDS : max_id;
      long long upto = hi;
      sqlite3_bind_int64(stmt, 1, *last);
      sqlite3_bind_int64(stmt, 2, hi);
      while (*left != 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
         size_t n = (size_t)sqlite3_column_bytes(stmt, 1);
         Sbuf_add(b, (const char *)sqlite3_column_text(stmt, 1), n);
         Sbuf_add(b, "\n", 1);
         bytes += n + 1;
         (*records)++;
         if (*left > 0)
            (*left)--;
         if (bytes >= SLICE_BYTES) {
            upto = sqlite3_column_int64(stmt, 0);
            break;
         }
      }
      /* Reset ends the slice's read transaction: no snapshot held between slices. */
      sqlite3_reset(stmt);
      if (rc != SQLITE_ROW && rc != SQLITE_DONE)
         break;
      rc = SQLITE_DONE;
      *last = upto;
   }
   *end = rc != SQLITE_DONE || *left == 0 || *last >= max_id;
   return rc;
}

static void post(GwExport *ex, Sbuf *b, bool end, char *err, long long records) {
   pthread_mutex_lock(&ex->lock);
   ex->ready = b;
   ex->end = end;
   ex->err = err;
   ex->sent = records;
   pthread_mutex_unlock(&ex->lock);
   ssize_t n = write(ex->pipe[1], "", 1);
   (void)n;
}

static void *run(void *arg) {
   GwExport *ex = arg;
   char *err = NULL;
   Store *st = Store_open(ex->workspace, STORE_READONLY, &err);
   sqlite3_stmt *stmt = NULL;
   long long last = 0, max_id = 0, records = 0;
   if (st) {
      long long task_id = 0;
      if (ex->task) {
         sqlite3_stmt *t = Store_prepare(st, "SELECT id FROM tasks WHERE name = ?");
         sqlite3_bind_text(t, 1, ex->task, -1, SQLITE_STATIC);
         task_id = sqlite3_step(t) == SQLITE_ROW ? sqlite3_column_int64(t, 0) : -1;
         sqlite3_finalize(t);
      }
      /* The rows there are now: what is captured during the export is for the next one. */
      max_id = task_id < 0 ? 0 : Store_count(st, "SELECT coalesce(max(id), 0) FROM exchanges", 0);
      /* NOT INDEXED: the id range bounds a slice's work; an index on task or time could make
       * one slice walk far outside it. */
      stmt = Store_prepare(st, "SELECT id, record FROM exchanges NOT INDEXED WHERE id > ?1 AND id <= ?2"
                               " AND (?3 IS NULL OR task_id = ?3) AND (?4 IS NULL OR ts >= ?4) ORDER BY id");
      if (ex->task)
         sqlite3_bind_int64(stmt, 3, task_id);
      if (ex->since)
         sqlite3_bind_text(stmt, 4, ex->since, -1, SQLITE_STATIC);
   }
   for (;;) {
      pthread_mutex_lock(&ex->lock);
      while (!ex->want && !ex->stop)
         pthread_cond_wait(&ex->cond, &ex->lock);
      bool stop = ex->stop;
      ex->want = false;
      pthread_mutex_unlock(&ex->lock);
      if (stop)
         break;
      if (!st) {
         post(ex, NULL, true, err, 0);
         break;
      }
      Sbuf *b = xcalloc(1, sizeof *b);
      bool end;
      int rc = read_slice(stmt, &last, max_id, &ex->left, b, &records, &end);
      post(ex, b, end, rc == SQLITE_DONE ? NULL : Store_errmsg(st, "reading exchanges"), records);
      if (end)
         break;
   }
   sqlite3_finalize(stmt);
   Store_close(st);
   return NULL;
}

static void ask(GwExport *ex) {
   pthread_mutex_lock(&ex->lock);
   ex->want = true;
   pthread_cond_signal(&ex->cond);
   pthread_mutex_unlock(&ex->lock);
}

static void finish(GwExport *ex, bool whole) {
   if (ex->req) {
      if (whole) {
         HttpReq_reply_end(ex->req);
      } else {
         /* No terminating chunk: the client must see a cut-off body, not a short but complete
          * one. */
         HttpReq_abort(ex->req);
      }
      ex->req = NULL;
   }
   event_del(ex->wake);
   event_del(ex->watch);
   ex->done(ex, ex->arg);
}

static void on_drained(void *arg) {
   ask(arg);
}

static void on_wake(evutil_socket_t fd, short what, void *arg) {
   GwExport *ex = arg;
   char c[16];
   while (read(fd, c, sizeof c) > 0)
      continue;
   pthread_mutex_lock(&ex->lock);
   Sbuf *b = ex->ready;
   bool end = ex->end;
   char *err = ex->err;
   long long sent = ex->sent;
   ex->ready = NULL;
   ex->err = NULL;
   pthread_mutex_unlock(&ex->lock);
   if (!b && !end && !err)
      return;
   if (err && !ex->started) {
      Reply_error(ex->req, 500, NULL, NULL, NULL, "cannot export: %s", err);
      ex->req = NULL;
   } else if (err) {
      fprintf(stderr, "offramp gateway: /admin/export cut off after %lld records: %s\n", sent, err);
   }
   if (ex->req && !ex->started) {
      ex->started = true;
      HttpReq_add_header(ex->req, "Content-Type", "application/x-ndjson");
      HttpReq_reply_start(ex->req, 200, NULL);
   }
   if (ex->req && b && b->len > 0)
      HttpReq_reply_chunk_cb(ex->req, b->buf, b->len, end ? NULL : on_drained, ex);
   else if (ex->req && !end)
      ask(ex);
   if (b) {
      Sbuf_free(b);
      free(b);
   }
   free(err);
   if (end)
      finish(ex, !err);
}

/* A client that leaves mid-export takes the drained callback with it. Checked once a second. */
static void on_watch(evutil_socket_t fd, short what, void *arg) {
   GwExport *ex = arg;
   if (ex->req && !HttpReq_connected(ex->req)) {
      pthread_mutex_lock(&ex->lock);
      long long sent = ex->sent;
      pthread_mutex_unlock(&ex->lock);
      fprintf(stderr, "offramp gateway: /admin/export: the client left after %lld records\n", sent);
      finish(ex, false);
   }
}

GwExport *GwExport_start(HttpReq *req, struct event_base *base, const char *workspace,
                         const char *task, const char *since, long limit, GwExportDone done, void *arg,
                         char **err) {
   GwExport *ex = xcalloc(1, sizeof *ex);
   if (pipe2(ex->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      *err = xasprintf("cannot make the export's pipe: %s", strerror(errno));
      free(ex);
      return NULL;
   }
   ex->req = req;
   ex->done = done;
   ex->arg = arg;
   ex->workspace = xstrdup(workspace);
   ex->task = task ? xstrdup(task) : NULL;
   ex->since = since ? xstrdup(since) : NULL;
   ex->left = limit;
   ex->want = true;
   pthread_mutex_init(&ex->lock, NULL);
   pthread_cond_init(&ex->cond, NULL);
   ex->wake = event_new(base, ex->pipe[0], EV_READ | EV_PERSIST, on_wake, ex);
   ex->watch = event_new(base, -1, EV_PERSIST, on_watch, ex);
   int rc = pthread_create(&ex->thread, NULL, run, ex);
   if (rc != 0) {
      *err = xasprintf("cannot start the export's thread: %s", strerror(rc));
      ex->req = NULL;
      GwExport_free(ex);
      return NULL;
   }
   ex->joinable = true;
   struct timeval second = { 1, 0 };
   event_add(ex->wake, NULL);
   event_add(ex->watch, &second);
   return ex;
}

void GwExport_free(GwExport *ex) {
   if (!ex)
      return;
   pthread_mutex_lock(&ex->lock);
   ex->stop = true;
   pthread_cond_signal(&ex->cond);
   pthread_mutex_unlock(&ex->lock);
   if (ex->joinable)
      pthread_join(ex->thread, NULL);
   if (ex->ready) {
      Sbuf_free(ex->ready);
      free(ex->ready);
   }
   free(ex->err);
   event_free(ex->wake);
   event_free(ex->watch);
   close(ex->pipe[0]);
   close(ex->pipe[1]);
   pthread_mutex_destroy(&ex->lock);
   pthread_cond_destroy(&ex->cond);
   free(ex->workspace);
   free(ex->task);
   free(ex->since);
   free(ex);
}
