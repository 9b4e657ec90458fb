/* capture.c - writer thread: drains the queue in batches, one transaction per batch. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "capture.h"
#include "exchange.h"
#include "fingerprint.h"
#include "store.h"
#include "util.h"

/* Big enough to amortise the commit, small enough to keep each transaction short so the
 * console and the admin API are not locked out for long. */
#define BATCH_MAX 2000

struct Capture {
   Store *st;
   ExchangeWriter *w;
   pthread_t thread;
   pthread_mutex_t lock;
   pthread_cond_t wake;
   CaptureItem *head, *tail;
   long depth, max;
   bool stop;
   atomic_llong queued, dropped, committed, failed;
};

void Capture_item_free(CaptureItem *it) {
   free(it->task);
   free(it->model);
   json_decref(it->record);
   free(it);
}

static void write_batch(Capture *c, CaptureItem *list) {
   char *err = NULL;
   long n = 0;
   bool ok = Store_begin(c->st, &err);
   for (CaptureItem *it = list; it; it = it->next) {
      n++;
      if (!ok)
         continue;
      char fp[FINGERPRINT_LEN + 1];
      Exchange e;
      Exchange_init(&e);
      e.rid = it->rid;
      e.ts = it->ts;
      e.task = it->task;
      if (!it->task) {
         json_t *messages = json_object_get(json_object_get(it->record, "request"), "messages");
         Fingerprint_messages(messages, fp, NULL);
         e.fingerprint = fp;
      }
      e.arm = it->arm;
      e.model = it->model;
      e.status = it->status;
      e.latency_ms = it->latency_ms;
      e.prompt_tokens = it->prompt_tokens;
      e.completion_tokens = it->completion_tokens;
      e.agree = it->agree;
      e.confidence = it->confidence;
      char *text = json_dumps(it->record, JSON_COMPACT | JSON_PRESERVE_ORDER);
      e.record = text;
      if (ExchangeWriter_add(c->w, &e, &err) < 0)
         ok = false;
      free(text);
   }
   if (ok)
      ok = Store_commit(c->st, &err);
   else
      Store_rollback(c->st);
   if (ok) {
      atomic_fetch_add(&c->committed, n);
   } else {
      atomic_fetch_add(&c->failed, n);
      fprintf(stderr, "offramp gateway: %ld records not captured: %s\n", n, err ? err : "unknown error");
   }
   free(err);
   while (list) {
      CaptureItem *next = list->next;
      Capture_item_free(list);
      list = next;
   }
}

static void *writer(void *arg) {
   Capture *c = arg;
   for (;;) {
      pthread_mutex_lock(&c->lock);
      while (!c->head && !c->stop)
         pthread_cond_wait(&c->wake, &c->lock);
      if (c->depth < 64 && !c->stop) {
         /* A trickle: wait a moment so a commit carries more than one record. */
         pthread_mutex_unlock(&c->lock);
         usleep(2000);
         pthread_mutex_lock(&c->lock);
      }
      if (!c->head) {
         pthread_mutex_unlock(&c->lock);
         return NULL;
      }
      CaptureItem *list = c->head, *last = list;
      long n = 1;
      while (last->next && n < BATCH_MAX) {
         last = last->next;
         n++;
      }
      c->head = last->next;
      if (!c->head)
         c->tail = NULL;
      last->next = NULL;
      c->depth -= n;
      pthread_mutex_unlock(&c->lock);
      write_batch(c, list);
   }
}

Capture *Capture_start(const char *workspace, long queue_max, char **err) {
   Store *st = Store_open(workspace, STORE_CREATE, err);
   if (!st)
      return NULL;
   /* WAL with synchronous=NORMAL: a committed batch survives a crash of the gateway (kill -9);
    * only a power loss may take the last batches. fsync per batch would cap the capture rate. */
   if (!Store_exec(st, "PRAGMA synchronous = NORMAL", err)) {
      Store_close(st);
      return NULL;
   }
   Capture *c = xcalloc(1, sizeof *c);
   c->st = st;
   c->w = ExchangeWriter_new(st);
   c->max = queue_max;
   pthread_mutex_init(&c->lock, NULL);
   pthread_cond_init(&c->wake, NULL);
   if (pthread_create(&c->thread, NULL, writer, c) != 0) {
      *err = xasprintf("cannot start the capture thread");
      ExchangeWriter_free(c->w);
      Store_close(st);
      free(c);
      return NULL;
   }
   return c;
}

bool Capture_push(Capture *c, CaptureItem *it) {
   it->next = NULL;
   pthread_mutex_lock(&c->lock);
   if (c->depth >= c->max) {
      pthread_mutex_unlock(&c->lock);
      atomic_fetch_add(&c->dropped, 1);
      Capture_item_free(it);
      return false;
   }
   if (c->tail)
      c->tail->next = it;
   else
      c->head = it;
   c->tail = it;
   c->depth++;
   pthread_cond_signal(&c->wake);
   pthread_mutex_unlock(&c->lock);
   atomic_fetch_add(&c->queued, 1);
   return true;
}

void Capture_stats(Capture *c, CaptureStats *out) {
   pthread_mutex_lock(&c->lock);
   out->depth = c->depth;
   pthread_mutex_unlock(&c->lock);
   out->queued = atomic_load(&c->queued);
   out->dropped = atomic_load(&c->dropped);
   out->committed = atomic_load(&c->committed);
   out->failed = atomic_load(&c->failed);
}

void Capture_stop(Capture *c) {
   if (!c)
      return;
   pthread_mutex_lock(&c->lock);
   c->stop = true;
   pthread_cond_signal(&c->wake);
   pthread_mutex_unlock(&c->lock);
   pthread_join(c->thread, NULL);
   ExchangeWriter_free(c->w);
   Store_close(c->st);
   pthread_mutex_destroy(&c->lock);
   pthread_cond_destroy(&c->wake);
   free(c);
}
