/* capture.c - writer thread: drains the queue in batches, builds each record from what the
 * loop handed over, one transaction per batch, and hands the items back to be freed. */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "exchange.h"
#include "fingerprint.h"
#include "store.h"
#include "util.h"

/* Big enough to amortise the commit, small enough to keep each transaction short so the
 * console and the admin API are not locked out for long. */
#define BATCH_MAX 2000
/* Below BATCH_MIN queued records the writer lingers LINGER_US for more: each commit writes
 * every page it dirtied (the exchange, its indexes, the audit aggregates), so a few
 * records per commit cost several times more than a few dozen. Records still reach the
 * workspace within about 10 ms. */
#define BATCH_MIN 64
#define LINGER_US 10000
/* Written items the pusher frees per push: a batch of thousands freed at once would stall
 * the loop for milliseconds. Each push adds one item, so the list drains. */
#define FREE_PER_PUSH 4

struct Capture {
   Store *st;
   ExchangeWriter *w;
   pthread_t thread;
   pthread_mutex_t lock;
   pthread_cond_t wake;
   CaptureItem *head, *tail;
   CaptureItem *done;         /* written, for the pushing thread to free */
   CaptureItem *to_free;      /* the pushing thread's own: taken from done, freed a few at a time */
   long depth, max;
   bool stop;
   atomic_llong queued, dropped, committed, failed;
};

CaptureItem *Capture_item_new(size_t blob_size) {
   CaptureItem *it = xcalloc(1, sizeof *it + blob_size);
   it->size = blob_size;
   return it;
}

const char *Capture_item_put(CaptureItem *it, const char *s, size_t n) {
   if (!s)
      return NULL;
   if (it->used + n + 1 > it->size)
      abort();   /* the caller sized the blob: a miscount is a bug, never input */
   char *p = it->blob + it->used;
   memcpy(p, s, n);
   p[n] = '\0';
   it->used += n + 1;
   return p;
}

static void item_free(CaptureItem *it) {
   json_decref(it->request);
   for (int i = 0; i < CAPTURE_CALLS; i++)
      json_decref(it->calls[i].response);
   free(it);
}

/* Frees up to n items of the list (n < 0: all); returns the rest. */
static CaptureItem *items_free(CaptureItem *list, long n) {
   while (list && n--) {
      CaptureItem *next = list->next;
      item_free(list);
      list = next;
   }
   return list;
}


/* Which model answered: the response says so, else the arm's, else the client's. */
static const char *call_model(const CaptureCall *c, const json_t *request) {
   const char *m = json_string_value(json_object_get(c->response, "model"));
   if (m)
      return m;
   return c->model ? c->model : json_string_value(json_object_get(request, "model"));
}

static json_t *call_json(const CaptureCall *c, const json_t *request) {
   json_t *o = json_pack("{s:s, s:s?, s:I, s:f}", "arm", c->arm, "model", call_model(c, request), "status",
                         (json_int_t)c->status, "latency_ms", c->latency_ms);
   json_object_set(o, "response", c->response ? c->response : json_null());
   if (c->error)
      json_object_set_new(o, "error", json_string(c->error));
   if (c->confidence >= 0)
      json_object_set_new(o, "confidence", json_real(c->confidence));
   if (c->agree >= 0)
      json_object_set_new(o, "agree", json_boolean(c->agree));
   return o;
}

/* The record (design.md's exchange record), with the columns it feeds: e->model points into
 * the returned tree. */
static json_t *record_build(const CaptureItem *it, Exchange *e) {
   const CaptureCall *s = &it->calls[CAPTURE_SERVING];
   json_t *request = it->request, *resp = s->response;
   json_t *rec = json_pack("{s:s, s:s, s:s?, s:s, s:O}", "id", it->rid, "ts", it->ts, "task", it->task, "arm",
                           it->arm, "request", request);
   json_object_set(rec, "response", resp ? resp : json_null());
   json_object_set_new(rec, "status", json_integer(it->status));
   json_object_set_new(rec, "latency_ms", json_real(s->latency_ms));
   const char *model = call_model(s, request);
   if (model)
      json_object_set_new(rec, "model", json_string(model));
   json_t *usage = json_object_get(resp, "usage");
   if (usage)
      json_object_set(rec, "usage", usage);
   if (it->stream)
      json_object_set_new(rec, "stream", json_true());
   if (s->error)
      json_object_set_new(rec, "error", json_string(s->error));
   if (it->fallback)
      json_object_set_new(rec, "fallback_reason", json_string(it->fallback));
   if (it->calls[CAPTURE_SHADOW].started)
      json_object_set_new(rec, "shadow", call_json(&it->calls[CAPTURE_SHADOW], request));
   if (it->calls[CAPTURE_NOISE].started)
      json_object_set_new(rec, "noise", call_json(&it->calls[CAPTURE_NOISE], request));
   e->rid = it->rid;
   e->ts = it->ts;
   e->task = it->task;
   e->arm = it->arm;
   e->model = json_string_value(json_object_get(rec, "model"));
   e->status = it->status;
   e->latency_ms = s->latency_ms;
   json_t *pt = json_object_get(usage, "prompt_tokens"), *ct = json_object_get(usage, "completion_tokens");
   e->prompt_tokens = json_is_integer(pt) ? json_integer_value(pt) : -1;
   e->completion_tokens = json_is_integer(ct) ? json_integer_value(ct) : -1;
   e->agree = it->agree;
   e->confidence = it->confidence;
   return rec;
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
      json_t *rec = record_build(it, &e);
      if (!it->task) {
         json_t *messages = json_object_get(json_object_get(rec, "request"), "messages");
         Fingerprint_messages(messages, fp, NULL);
         e.fingerprint = fp;
      }
      char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
      e.record = text;
      if (ExchangeWriter_add(c->w, &e, &err) < 0)
         ok = false;
      free(text);
      json_decref(rec);
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
   CaptureItem *last = list;
   while (last->next)
      last = last->next;
   pthread_mutex_lock(&c->lock);
   last->next = c->done;
   c->done = list;
   pthread_mutex_unlock(&c->lock);
}

static void *writer(void *arg) {
   Capture *c = arg;
   for (;;) {
      pthread_mutex_lock(&c->lock);
      while (!c->head && !c->stop)
         pthread_cond_wait(&c->wake, &c->lock);
      if (c->depth < BATCH_MIN && !c->stop) {
         pthread_mutex_unlock(&c->lock);
         usleep(LINGER_US);
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
   if (!c->to_free) {
      c->to_free = c->done;
      c->done = NULL;
   }
   if (c->depth >= c->max) {
      pthread_mutex_unlock(&c->lock);
      c->to_free = items_free(c->to_free, FREE_PER_PUSH);
      atomic_fetch_add(&c->dropped, 1);
      item_free(it);
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
   c->to_free = items_free(c->to_free, FREE_PER_PUSH);
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
   items_free(c->done, -1);
   items_free(c->to_free, -1);
   ExchangeWriter_free(c->w);
   Store_close(c->st);
   pthread_mutex_destroy(&c->lock);
   pthread_cond_destroy(&c->wake);
   free(c);
}
