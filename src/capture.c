/* capture.c - writer thread: drains the queue in batches, builds each record's text from the
 * texts and scalars the loop handed over, one transaction per batch, and hands the items
 * back to be freed. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "exchange.h"
#include "fingerprint.h"
#include "jsonscan.h"
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
   Sbuf rec, model;           /* the writer's: the record being built, its model column */
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
   free(it->request);
   for (int i = 0; i < CAPTURE_CALLS; i++)
      free(it->calls[i].response);
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

/* What a record takes from a request's or an answer's JSON text, read on first use: the scan
 * finds the members without parsing; jansson parses the text only when the scan cannot
 * read it (escapes in a key or in the model, not an object) or a tree is needed. */
typedef struct {
   const char *text;
   size_t len;
   bool scanned;
   const char *model;        /* the top-level "model" string's characters (unescaped), or NULL */
   size_t model_len;
   const char *usage;        /* the "usage" member as JSON text, or NULL */
   size_t usage_len;
   long long prompt_tokens, completion_tokens;   /* usage's integers, else -1 */
   json_t *tree;
   char *usage_dump;         /* usage re-serialised from the tree */
} Doc;

static void doc_clear(Doc *d) {
   json_decref(d->tree);
   free(d->usage_dump);
}

/* A JSON number's value when jansson would make it an integer, else -1. */
static long long int_value(const char *s, size_t n) {
   if (!n || (*s != '-' && (*s < '0' || *s > '9')) || memchr(s, '.', n) || memchr(s, 'e', n) ||
       memchr(s, 'E', n) || n > 20)
      return -1;
   char buf[24];
   memcpy(buf, s, n);
   buf[n] = '\0';
   errno = 0;
   long long v = strtoll(buf, NULL, 10);
   return errno ? -1 : v;
}

static void doc_parse(Doc *d) {
   d->tree = json_loadb(d->text, d->len, JSON_DECODE_ANY, NULL);
   json_t *model = json_object_get(d->tree, "model"), *usage = json_object_get(d->tree, "usage");
   d->model = json_string_value(model);
   d->model_len = json_string_length(model);
   d->usage = NULL;
   d->prompt_tokens = d->completion_tokens = -1;
   if (!usage)
      return;
   d->usage = d->usage_dump = json_dumps(usage, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
   d->usage_len = strlen(d->usage_dump);
   json_t *pt = json_object_get(usage, "prompt_tokens"), *ct = json_object_get(usage, "completion_tokens");
   d->prompt_tokens = json_is_integer(pt) ? json_integer_value(pt) : -1;
   d->completion_tokens = json_is_integer(ct) ? json_integer_value(ct) : -1;
}

/* Duplicate keys: the last one counts, as in jansson. */
static bool scan_usage(Doc *d) {
   if (d->usage[0] != '{')
      return true;
   JsonMember m[JSONSCAN_MEMBERS];
   int n = Jsonscan_members(d->usage, d->usage_len, m, JSONSCAN_MEMBERS);
   if (n < 0)
      return false;
   const JsonMember *pt = Jsonscan_find(m, n, "prompt_tokens"), *ct = Jsonscan_find(m, n, "completion_tokens");
   if (pt)
      d->prompt_tokens = int_value(pt->val, pt->vallen);
   if (ct)
      d->completion_tokens = int_value(ct->val, ct->vallen);
   return true;
}

static void doc_scan(Doc *d) {
   if (d->scanned)
      return;
   d->scanned = true;
   d->prompt_tokens = d->completion_tokens = -1;
   if (!d->text)
      return;
   JsonMember m[JSONSCAN_MEMBERS];
   int n = Jsonscan_members(d->text, d->len, m, JSONSCAN_MEMBERS);
   const JsonMember *model = n < 0 ? NULL : Jsonscan_find(m, n, "model");
   const JsonMember *usage = n < 0 ? NULL : Jsonscan_find(m, n, "usage");
   if (usage) {
      d->usage = usage->val;
      d->usage_len = usage->vallen;
   }
   bool ok = n >= 0 && (!d->usage || scan_usage(d));
   if (ok && model && model->val[0] == '"') {
      d->model = model->val + 1;
      d->model_len = model->vallen - 2;
      ok = !memchr(d->model, '\\', d->model_len);
   }
   if (!ok)
      doc_parse(d);
}

static json_t *doc_tree(Doc *d) {
   if (!d->tree && d->text) {
      d->scanned = true;
      doc_parse(d);
   }
   return d->tree;
}

/* A string literal's bytes, for the fixed keys. */
#define PUT(sb, lit) Sbuf_add(sb, lit, sizeof lit - 1)

static void put_string(Sbuf *sb, const char *s) {
   Jsonscan_put_string(sb, s, strlen(s));
}

static void put_text(Sbuf *sb, const char *s, size_t n) {
   if (s)
      Jsonscan_put_oneline(sb, s, n);
   else
      PUT(sb, "null");
}

static void put_long(Sbuf *sb, long v) {
   char buf[24];
   Sbuf_add(sb, buf, (size_t)snprintf(buf, sizeof buf, "%ld", v));
}

/* As jansson writes a real: 17 significant digits, always with a '.' or an exponent so it
 * reads back as a real. */
static void put_real(Sbuf *sb, double v) {
   if (!isfinite(v)) {
      PUT(sb, "null");
      return;
   }
   char buf[40];
   int n = snprintf(buf, sizeof buf, "%.17g", v);
   Sbuf_add(sb, buf, (size_t)n);
   if (!strpbrk(buf, ".eE"))
      PUT(sb, ".0");
}

/* Which model answered: the response says so, else the arm's, else the client's. */
static void call_model(const CaptureCall *c, Doc *resp, Doc *req, const char **model, size_t *len) {
   doc_scan(resp);
   if (resp->model) {
      *model = resp->model;
      *len = resp->model_len;
   } else if (c->model) {
      *model = c->model;
      *len = strlen(c->model);
   } else {
      doc_scan(req);
      *model = req->model;
      *len = req->model_len;
   }
}

static void put_call(Sbuf *sb, const CaptureCall *c, Doc *req) {
   Doc resp = { .text = c->response, .len = c->response_len };
   const char *model;
   size_t model_len;
   call_model(c, &resp, req, &model, &model_len);
   PUT(sb, "{\"arm\":");
   put_string(sb, c->arm);
   if (model) {
      PUT(sb, ",\"model\":");
      Jsonscan_put_string(sb, model, model_len);
   }
   PUT(sb, ",\"status\":");
   put_long(sb, c->status);
   PUT(sb, ",\"latency_ms\":");
   put_real(sb, c->latency_ms);
   PUT(sb, ",\"response\":");
   put_text(sb, c->response, c->response_len);
   if (c->error) {
      PUT(sb, ",\"error\":");
      put_string(sb, c->error);
   }
   if (c->confidence >= 0) {
      PUT(sb, ",\"confidence\":");
      put_real(sb, c->confidence);
   }
   if (c->agree >= 0) {
      if (c->agree)
         PUT(sb, ",\"agree\":true");
      else
         PUT(sb, ",\"agree\":false");
   }
   Sbuf_putc(sb, '}');
   doc_clear(&resp);
}

/* The record (design.md's exchange record) as one line of JSON text into rec, with the
 * columns it feeds; e->model points into model_col. The request and the answers are spliced
 * in as the texts the loop handed over. */
static void record_build(const CaptureItem *it, Doc *req, Sbuf *rec, Sbuf *model_col, Exchange *e) {
   const CaptureCall *s = &it->calls[CAPTURE_SERVING];
   Doc resp = { .text = s->response, .len = s->response_len };
   Sbuf_reset(rec);
   PUT(rec, "{\"id\":");
   put_string(rec, it->rid);
   PUT(rec, ",\"ts\":");
   put_string(rec, it->ts);
   PUT(rec, ",\"task\":");
   if (it->task)
      put_string(rec, it->task);
   else
      PUT(rec, "null");
   PUT(rec, ",\"arm\":");
   put_string(rec, it->arm);
   PUT(rec, ",\"request\":");
   put_text(rec, it->request, it->request_len);
   PUT(rec, ",\"response\":");
   put_text(rec, s->response, s->response_len);
   PUT(rec, ",\"status\":");
   put_long(rec, it->status);
   PUT(rec, ",\"latency_ms\":");
   put_real(rec, s->latency_ms);
   const char *model;
   size_t model_len;
   call_model(s, &resp, req, &model, &model_len);
   Sbuf_reset(model_col);
   if (model) {
      PUT(rec, ",\"model\":");
      Jsonscan_put_string(rec, model, model_len);
      Sbuf_add(model_col, model, model_len);
   }
   if (resp.usage) {
      PUT(rec, ",\"usage\":");
      put_text(rec, resp.usage, resp.usage_len);
   }
   if (it->stream)
      PUT(rec, ",\"stream\":true");
   if (it->truncated)
      PUT(rec, ",\"truncated\":true");
   if (s->error) {
      PUT(rec, ",\"error\":");
      put_string(rec, s->error);
   }
   if (it->fallback) {
      PUT(rec, ",\"fallback_reason\":");
      put_string(rec, it->fallback);
   }
   if (it->calls[CAPTURE_SHADOW].started) {
      PUT(rec, ",\"shadow\":");
      put_call(rec, &it->calls[CAPTURE_SHADOW], req);
   }
   if (it->calls[CAPTURE_NOISE].started) {
      PUT(rec, ",\"noise\":");
      put_call(rec, &it->calls[CAPTURE_NOISE], req);
   }
   Sbuf_putc(rec, '}');
   e->rid = it->rid;
   e->ts = it->ts;
   e->task = it->task;
   e->arm = it->arm;
   e->model = model ? model_col->buf : NULL;
   e->status = it->status;
   e->latency_ms = s->latency_ms;
   e->prompt_tokens = resp.prompt_tokens;
   e->completion_tokens = resp.completion_tokens;
   e->agree = it->agree;
   e->confidence = it->confidence;
   e->record = rec->buf;
   doc_clear(&resp);
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
      Doc req = { .text = it->request, .len = it->request_len };
      record_build(it, &req, &c->rec, &c->model, &e);
      if (!it->task) {
         Fingerprint_messages(json_object_get(doc_tree(&req), "messages"), fp, NULL);
         e.fingerprint = fp;
      }
      if (ExchangeWriter_add(c->w, &e, &err) < 0)
         ok = false;
      doc_clear(&req);
   }
   if (ok)
      ok = ExchangeWriter_flush(c->w, &err) && Store_commit(c->st, &err);
   else
      Store_rollback(c->st);
   if (!ok)
      ExchangeWriter_discard(c->w);
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
   ExchangeWriter_batch(c->w);
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
   Sbuf_free(&c->rec);
   Sbuf_free(&c->model);
   pthread_mutex_destroy(&c->lock);
   pthread_cond_destroy(&c->wake);
   free(c);
}
