/* capture.c - writer thread: drains the queue in batches, builds each record's text from the
 * texts and scalars the loop handed over, one transaction per batch (tried again with back-off
 * while the workspace refuses writes), completes records whose pending calls ended, keeps the
 * WAL short, and hands the items back to be freed. */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/fingerprint.h"
#include "common/jsonscan.h"
#include "common/util.h"
#include "gateway/capture.h"
#include "store/exchange.h"
#include "store/store.h"

/* Big enough to amortise the commit, small enough to keep each transaction short so the
 * console and the admin API are not locked out for long. */
#define BATCH_MAX 2000
/* Below BATCH_MIN queued records the writer lingers LINGER_US for more: each commit writes
 * every page it dirtied (the exchange, its indexes, the audit aggregates), so a few
 * records per commit cost several times more than a few dozen, and each wake-up of the
 * writer takes a core from the loop for a while. Records still reach the workspace within
 * about 50 ms (doc/benchmarks.md, eighth pass: 10 ms cost a fifth of the throughput). */
#define BATCH_MIN 64
#define LINGER_US 50000
/* The writer runs at a lower priority than the loop: where both want the same core, the
 * proxy goes first and capture catches up after; the queue's bounds (--queue,
 * --queue-bytes) still hold and what they refuse is counted as dropped. */
#define WRITER_NICE 10
/* A record whose other calls still run waits this long in the queue for their results, so
 * most join it there (an update of the stored record costs the writer several times an
 * insert); a crash in that time loses it, as it loses any record not yet written. */
#define HOLD_S 0.05
/* Written items the pusher frees per push: a batch of thousands freed at once would stall
 * the loop for milliseconds. Each push adds one item, so the list drains. */
#define FREE_PER_PUSH 4
/* One attempt waits this long for the write lock (SQLite's busy handler); a refused batch is
 * tried again after RETRY_FIRST_MS, doubling up to RETRY_MAX_MS. Short attempts let the
 * writer say "degraded" and log drops while another process holds the lock. */
#define BUSY_MS 1000
#define RETRY_FIRST_MS 50
#define RETRY_MAX_MS 1000
/* On stop, how long the writer keeps trying a workspace that refuses writes before it gives
 * up on what is queued (counted and logged as dropped). */
#define STOP_GRACE_S 10.0
/* Log lines: drops at most once a second per reason, a refusing workspace every 10 s. */
#define LOG_DROPS_S 1.0
#define LOG_FAILING_S 10.0
/* /healthz stays degraded this long after the last drop. */
#define DEGRADED_AFTER_DROP_S 60.0
/* The WAL: a PASSIVE checkpoint after a commit once it holds this many pages (SQLite's own
 * autocheckpoint threshold), a TRUNCATE once the writer has been idle IDLE_CHECKPOINT_S (tried
 * again every CHECKPOINT_RETRY_S while readers hold it). Readers that never all let go at
 * once would otherwise let the WAL grow without end. */
#define WAL_PASSIVE_PAGES 1000
#define IDLE_CHECKPOINT_S 1.0
#define CHECKPOINT_RETRY_S 5.0
#define CHECKPOINT_BUSY_MS 100
/* The writer's idle wake-up, for the duties above. */
#define IDLE_WAKE_S 0.5
/* Error bodies that are not JSON (HTML pages) are kept up to this many bytes. */
#define ERROR_BODY_MAX 16384
/* The workspace setting with the lowest row id that may still hold pending calls: a gateway
 * that did not stop cleanly leaves it, and the next start records those calls as lost. One
 * gateway per workspace (design.md): a second one would take the first's pending calls for
 * lost. */
#define PENDING_KEY "capture.pending_from"

const char *const Capture_drop_names[CAPTURE_DROPS] = { "queue_records", "queue_bytes", "rejected", "stopped" };

struct Capture {
   Store *st;
   ExchangeWriter *w;
   FingerprintMemo *memo;     /* the writer's: untagged requests' system prompts */
   pthread_t thread;
   pthread_mutex_t lock;
   pthread_cond_t wake;
   CaptureItem *head, *tail;
   CaptureItem *done;         /* written, for the pushing thread to free */
   CaptureItem *to_free;      /* the pushing thread's own: taken from done, freed a few at a time */
   long waiting;              /* items in the queue */
   long depth, max;           /* items not yet written (the writer's batch included) */
   long long bytes, max_bytes;
   unsigned long long seq;    /* the last item queued */
   unsigned long long taken;  /* the last item the writer took: items after it are still queued */
   bool stop;
   /* Health, under the lock. */
   double failing_since;      /* mono seconds, 0 when writes succeed */
   char *failure;             /* the last refusal's message */
   double last_drop;
   /* The writer's own. */
   Sbuf rec, model;           /* the record being built, its model column */
   Sbuf old_tail, new_tail;   /* an update's tails */
   long long *pend;           /* row ids of stored records with pending calls, ascending */
   size_t npend, cappend;
   long long pend_saved;      /* PENDING_KEY as stored, 0 none */
   long long added[BATCH_MAX], resolved[BATCH_MAX];
   int nadded, nresolved;
   long long logged[CAPTURE_DROPS];
   double logged_at[CAPTURE_DROPS], failing_logged;
   char *reject_reason;       /* the last rejected record's error, for the drop log */
   int wal_pages;
   bool dirty;                /* committed since the last TRUNCATE checkpoint */
   double last_write, next_checkpoint;
   bool gave_up;
   double stop_at;
   atomic_llong queued, committed, retries, joined, updated, lost;
   atomic_llong dropped[CAPTURE_DROPS];
};

CaptureItem *Capture_item_new(size_t blob_size) {
   CaptureItem *it = xcalloc(1, sizeof *it + blob_size);
   it->size = blob_size;
   it->waited_ms = -1;
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
   for (int i = 0; i < CAPTURE_CALLS; i++) {
      free(it->calls[i].response);
      free(it->calls[i].error_body);
      free(it->calls[i].error_message);
   }
   free(it);
}

static size_t call_bytes(const CaptureCall *cc) {
   return cc->response_len + cc->error_body_len + (cc->error_message ? strlen(cc->error_message) : 0);
}

/* What the item holds in memory, for the queue's byte bound. */
static size_t item_bytes(const CaptureItem *it) {
   size_t n = sizeof *it + it->size + it->request_len;
   for (int i = 0; i < CAPTURE_CALLS; i++)
      n += call_bytes(&it->calls[i]);
   return n;
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
   const CaptureSpans *spans; /* what the loop's scan found, or NULL */
   bool scanned;
   const char *model;        /* the top-level "model" string's characters (unescaped), or NULL */
   size_t model_len;
   const char *usage;        /* the "usage" member as JSON text, or NULL */
   size_t usage_len;
   long long prompt_tokens, completion_tokens;   /* usage's integers, else -1 */
   const char *messages;     /* the "messages" member as JSON text, or NULL (scanned only) */
   size_t messages_len;
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

/* The member at [at, at + len) of d's text, as the scanner gives it; NULL for len 0. */
static const char *span(const Doc *d, size_t at, size_t len) {
   return len && at < d->len && len <= d->len - at ? d->text + at : NULL;
}

static void doc_scan(Doc *d) {
   if (d->scanned)
      return;
   d->scanned = true;
   d->prompt_tokens = d->completion_tokens = -1;
   if (!d->text)
      return;
   const char *model = NULL, *usage = NULL, *messages = NULL;
   size_t model_len = 0;
   bool ok = true;
   const CaptureSpans *sp = d->spans;
   if (sp && sp->known) {
      /* The loop scanned this text already. */
      model = span(d, sp->model_at, sp->model_len);
      model_len = sp->model_len;
      usage = span(d, sp->usage_at, sp->usage_len);
      d->usage_len = sp->usage_len;
      messages = span(d, sp->messages_at, sp->messages_len);
      d->messages_len = sp->messages_len;
   } else {
      JsonMember m[JSONSCAN_MEMBERS];
      int n = Jsonscan_members(d->text, d->len, m, JSONSCAN_MEMBERS);
      ok = n >= 0;
      const JsonMember *mm = ok ? Jsonscan_find(m, n, "model") : NULL;
      const JsonMember *um = ok ? Jsonscan_find(m, n, "usage") : NULL;
      const JsonMember *gm = ok ? Jsonscan_find(m, n, "messages") : NULL;
      if (mm) {
         model = mm->val;
         model_len = mm->vallen;
      }
      if (um) {
         usage = um->val;
         d->usage_len = um->vallen;
      }
      if (gm) {
         messages = gm->val;
         d->messages_len = gm->vallen;
      }
   }
   d->messages = messages;
   d->usage = usage;
   ok = ok && (!d->usage || scan_usage(d));
   if (ok && model && model[0] == '"') {
      d->model = model + 1;
      d->model_len = model_len - 2;
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

/* Text that may hold anything as a JSON string jansson reads back: invalid UTF-8 and NUL
 * (which jansson refuses as \u0000) become U+FFFD. */
static void put_clean_string(Sbuf *sb, const char *s, size_t n) {
   Sbuf_putc(sb, '"');
   while (n) {
      const char *nul = memchr(s, '\0', n);
      size_t k = nul ? (size_t)(nul - s) : n;
      size_t at = sb->len;
      Jsonscan_put_string(sb, s, k);
      /* Without its quotes. */
      memmove(sb->buf + at, sb->buf + at + 1, sb->len - at - 2);
      sb->len -= 2;
      sb->buf[sb->len] = '\0';
      if (nul) {
         PUT(sb, "\\ufffd");
         k++;
      }
      s += k;
      n -= k;
   }
   Sbuf_putc(sb, '"');
}

/* What the call's error was, beyond its name: the transport's message, a body that is not
 * JSON. */
static void put_error_detail(Sbuf *sb, const CaptureCall *c) {
   if (c->error_message) {
      PUT(sb, ",\"error_message\":");
      put_clean_string(sb, c->error_message, strlen(c->error_message));
   }
   if (c->error_body) {
      PUT(sb, ",\"error_body\":");
      put_clean_string(sb, c->error_body, c->error_body_len < ERROR_BODY_MAX ? c->error_body_len : ERROR_BODY_MAX);
   }
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
   Doc resp = { .text = c->response, .len = c->response_len, .spans = &c->spans };
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
   put_error_detail(sb, c);
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

/* Whether the record's other calls are deferred: when one is still running, all are written
 * as pending, so the tail an update replaces depends on nothing but their arms. */
static bool deferred(const CaptureItem *it) {
   return it->calls[CAPTURE_SHADOW].pending || it->calls[CAPTURE_NOISE].pending;
}

/* The end of a record: its shadow and noise calls, then the closing brace. state NULL: the
 * calls as they are; else each started call as {"arm":…,"error":state}. */
static void put_tail(Sbuf *sb, const CaptureCall *calls, const char *state, Doc *req) {
   static const char *const names[CAPTURE_CALLS] = { NULL, ",\"shadow\":", ",\"noise\":" };
   for (int i = CAPTURE_SHADOW; i < CAPTURE_CALLS; i++) {
      const CaptureCall *c = &calls[i];
      if (!c->started)
         continue;
      Sbuf_puts(sb, names[i]);
      if (state) {
         PUT(sb, "{\"arm\":");
         put_string(sb, c->arm);
         PUT(sb, ",\"error\":");
         put_string(sb, state);
         Sbuf_putc(sb, '}');
      } else {
         put_call(sb, c, req);
      }
   }
   Sbuf_putc(sb, '}');
}

/* The record (design.md's exchange record) as one line of JSON text into rec, with the
 * columns it feeds; e->model points into model_col. The request and the answers are spliced
 * in as the texts the loop handed over. */
static void record_build(const CaptureItem *it, Doc *req, Sbuf *rec, Sbuf *model_col, Exchange *e) {
   const CaptureCall *s = &it->calls[CAPTURE_SERVING];
   Doc resp = { .text = s->response, .len = s->response_len, .spans = &s->spans };
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
   double latency = it->waited_ms >= 0 ? it->waited_ms : s->latency_ms;
   put_real(rec, latency);
   if (it->waited_ms >= 0) {
      PUT(rec, ",\"upstream_latency_ms\":");
      put_real(rec, s->latency_ms);
   }
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
   if (it->replay)
      PUT(rec, ",\"replay\":true");
   if (it->truncated) {
      PUT(rec, ",\"truncated\":");
      put_string(rec, it->truncated);
   }
   if (s->error) {
      PUT(rec, ",\"error\":");
      put_string(rec, s->error);
   }
   put_error_detail(rec, s);
   if (it->fallback) {
      PUT(rec, ",\"fallback_reason\":");
      put_string(rec, it->fallback);
   }
   put_tail(rec, it->calls, deferred(it) ? "pending" : NULL, req);
   e->rid = it->rid;
   e->ts = it->ts;
   e->task = it->task;
   e->arm = it->arm;
   e->model = model ? model_col->buf : NULL;
   e->status = it->status;
   e->latency_ms = latency;
   e->prompt_tokens = resp.prompt_tokens;
   e->completion_tokens = resp.completion_tokens;
   e->agree = it->agree;
   e->confidence = it->confidence;
   e->record = rec->buf;
   e->replay = it->replay;
   doc_clear(&resp);
}

/* ---- health and log lines (the writer logs; the loop only counts) ---- */

static void note_drop(Capture *c, int reason, long long n) {
   atomic_fetch_add(&c->dropped[reason], n);
   pthread_mutex_lock(&c->lock);
   c->last_drop = mono_seconds();
   pthread_mutex_unlock(&c->lock);
}

static void drop_why(Capture *c, int reason, Sbuf *sb) {
   switch (reason) {
   case CAPTURE_DROP_RECORDS:
      Sbuf_printf(sb, "the queue was full (%ld records: raise --queue)", c->max);
      break;
   case CAPTURE_DROP_BYTES:
      Sbuf_printf(sb, "the queue was full (%lld bytes: raise --queue-bytes)", c->max_bytes);
      break;
   case CAPTURE_DROP_REJECTED:
      Sbuf_printf(sb, "the workspace rejected them (%s)", c->reject_reason ? c->reject_reason : "unknown error");
      break;
   default:
      Sbuf_puts(sb, "the gateway stopped while the workspace still refused writes");
      break;
   }
}

/* One line per reason with new drops, at most once a second each (all of them when final):
 * the counts logged add up to offramp_capture_dropped_total. */
static void log_drops(Capture *c, bool final) {
   double now = mono_seconds();
   for (int r = 0; r < CAPTURE_DROPS; r++) {
      long long total = atomic_load(&c->dropped[r]), n = total - c->logged[r];
      if (n <= 0 || (!final && now - c->logged_at[r] < LOG_DROPS_S))
         continue;
      Sbuf why = { 0 };
      drop_why(c, r, &why);
      fprintf(stderr, "offramp gateway: capture: %lld records dropped: %s; %lld %s in all\n", n, why.buf, total,
              Capture_drop_names[r]);
      Sbuf_free(&why);
      c->logged[r] = total;
      c->logged_at[r] = now;
   }
}

static void set_failing(Capture *c, const char *err) {
   double now = mono_seconds();
   pthread_mutex_lock(&c->lock);
   if (!c->failing_since)
      c->failing_since = now;
   double since = c->failing_since;
   free(c->failure);
   c->failure = xstrdup(err ? err : "unknown error");
   long waiting = c->depth;
   pthread_mutex_unlock(&c->lock);
   if (!c->failing_logged || now - c->failing_logged >= LOG_FAILING_S) {
      fprintf(stderr, "offramp gateway: capture: the workspace refuses writes for %.1f s (%s); retrying, %ld records "
              "waiting in the queue\n", now - since, err ? err : "unknown error", waiting);
      c->failing_logged = now;
   }
}

static void set_working(Capture *c) {
   pthread_mutex_lock(&c->lock);
   double since = c->failing_since;
   c->failing_since = 0;
   pthread_mutex_unlock(&c->lock);
   if (since) {
      fprintf(stderr, "offramp gateway: capture: the workspace accepts writes again after %.1f s; %lld retries "
              "in all\n", mono_seconds() - since, (long long)atomic_load(&c->retries));
      c->failing_logged = 0;
   }
}

bool Capture_health(Capture *c, Sbuf *why) {
   double now = mono_seconds();
   long long dropped = 0;
   for (int r = 0; r < CAPTURE_DROPS; r++)
      dropped += atomic_load(&c->dropped[r]);
   pthread_mutex_lock(&c->lock);
   bool failing = c->failing_since > 0;
   bool dropping = c->last_drop > 0 && now - c->last_drop < DEGRADED_AFTER_DROP_S;
   if (failing)
      Sbuf_printf(why, "capture: the workspace refuses writes for %.1f s (%s); %ld records waiting", now - c->failing_since,
                  c->failure, c->depth);
   if (dropping)
      Sbuf_printf(why, "%scapture: %lld records dropped (see offramp_capture_dropped_total), the last %.0f s ago",
                  failing ? "; " : "", dropped, now - c->last_drop);
   pthread_mutex_unlock(&c->lock);
   return !failing && !dropping;
}

/* ---- writing ---- */

/* Errors that say nothing about the records: try the batch again later. */
static bool transient(Store *st) {
   switch (sqlite3_extended_errcode(st->db) & 0xff) {
   case SQLITE_BUSY:
   case SQLITE_LOCKED:
   case SQLITE_IOERR:
   case SQLITE_FULL:
   case SQLITE_NOMEM:
   case SQLITE_CANTOPEN:
   case SQLITE_READONLY:
   case SQLITE_PROTOCOL:
   case SQLITE_CORRUPT:
   case SQLITE_NOTADB:
      return true;
   default:
      return false;
   }
}

static int on_wal(void *arg, sqlite3 *db, const char *name, int pages) {
   ((Capture *)arg)->wal_pages = pages;
   return SQLITE_OK;
}

static void checkpoint(Capture *c, int mode) {
   if (mode == SQLITE_CHECKPOINT_TRUNCATE)
      sqlite3_busy_timeout(c->st->db, CHECKPOINT_BUSY_MS);
   int rc = sqlite3_wal_checkpoint_v2(c->st->db, NULL, mode, NULL, NULL);
   if (mode == SQLITE_CHECKPOINT_TRUNCATE) {
      sqlite3_busy_timeout(c->st->db, BUSY_MS);
      if (rc == SQLITE_OK)
         c->dirty = false;
      else
         c->next_checkpoint = mono_seconds() + CHECKPOINT_RETRY_S;
   }
}

/* The tail a record with deferred calls was stored with, and the one that completes it. */
static void update_tails(Capture *c, const CaptureItem *u) {
   Doc none = { 0 };
   Sbuf_reset(&c->old_tail);
   Sbuf_reset(&c->new_tail);
   put_tail(&c->old_tail, u->calls, "pending", &none);
   put_tail(&c->new_tail, u->calls, NULL, &none);
   doc_clear(&none);
}

static long long *bsearch_id(long long *v, size_t n, long long id) {
   size_t lo = 0, hi = n;
   while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (v[mid] < id)
         lo = mid + 1;
      else
         hi = mid;
   }
   return lo < n && v[lo] == id ? &v[lo] : NULL;
}

/* The batch's changes to the set of records with pending calls, once it is committed. */
static void pend_apply(Capture *c) {
   for (int i = 0; i < c->nadded; i++) {
      if (c->npend == c->cappend) {
         c->cappend = c->cappend ? 2 * c->cappend : 1024;
         c->pend = xrealloc(c->pend, c->cappend * sizeof *c->pend);
      }
      /* Row ids grow, but a deleted last row may be reused: keep the order. */
      size_t at = c->npend;
      while (at > 0 && c->pend[at - 1] > c->added[i])
         at--;
      memmove(c->pend + at + 1, c->pend + at, (c->npend - at) * sizeof *c->pend);
      c->pend[at] = c->added[i];
      c->npend++;
   }
   for (int i = 0; i < c->nresolved; i++) {
      long long *p = bsearch_id(c->pend, c->npend, c->resolved[i]);
      if (p) {
         memmove(p, p + 1, (size_t)(c->pend + c->npend - p - 1) * sizeof *c->pend);
         c->npend--;
      }
   }
}

/* Keeps PENDING_KEY at or below the lowest row that may hold pending calls once the batch is
 * committed (resolutions in the batch are left for the next one: a lower mark only costs the
 * crash recovery a longer scan). */
static long long pend_low(const Capture *c) {
   long long mark = c->npend ? c->pend[0] : 0;
   for (int i = 0; i < c->nadded; i++) {
      if (!mark || c->added[i] < mark)
         mark = c->added[i];
   }
   return mark;
}

static bool pend_mark(Capture *c, char **err) {
   long long mark = pend_low(c);
   if (mark == c->pend_saved)
      return true;
   bool ok;
   if (mark) {
      char v[24];
      snprintf(v, sizeof v, "%lld", mark);
      ok = Store_set_setting(c->st, PENDING_KEY, v, err);
   } else {
      ok = Store_exec(c->st, "DELETE FROM settings WHERE key = '" PENDING_KEY "'", err);
   }
   return ok;
}

enum { BATCH_OK, BATCH_TRANSIENT, BATCH_REJECTED };

static int write_item(Capture *c, CaptureItem *it, char **err) {
   if (it->kind == CAPTURE_UPDATE) {
      update_tails(c, it);
      long long id = 0;
      int r = ExchangeWriter_set_tail(c->w, it->rid, c->old_tail.buf, c->old_tail.len, c->new_tail.buf,
                                      c->new_tail.len, it->agree, it->confidence, &id, err);
      if (r > 0)
         c->resolved[c->nresolved++] = id;
      return r;
   }
   char fp[FINGERPRINT_LEN + 1];
   Exchange e;
   Exchange_init(&e);
   Doc req = { .text = it->request, .len = it->request_len, .spans = &it->request_spans };
   record_build(it, &req, &c->rec, &c->model, &e);
   if (!it->task) {
      /* From the scanned text; jansson's tree only for what the scanner leaves to it. */
      doc_scan(&req);
      if (!req.messages || Fingerprint_messages_text(req.messages, req.messages_len, c->memo, fp) < 0)
         Fingerprint_messages(json_object_get(doc_tree(&req), "messages"), fp, NULL);
      e.fingerprint = fp;
   }
   int r = ExchangeWriter_add(c->w, &e, err);
   if (r > 0 && deferred(it))
      c->added[c->nadded++] = ExchangeWriter_last_id(c->w);
   doc_clear(&req);
   return r;
}

/* One attempt at the batch in one transaction; *bad is the record the workspace rejected. */
static int try_batch(Capture *c, CaptureItem *list, CaptureItem **bad, char **err) {
   c->nadded = c->nresolved = 0;
   if (!Store_begin(c->st, err))
      return BATCH_TRANSIENT;
   long long records = 0, updates = 0;
   for (CaptureItem *it = list; it; it = it->next) {
      if (write_item(c, it, err) < 0) {
         bool again = transient(c->st);
         Store_rollback(c->st);
         ExchangeWriter_discard(c->w);
         *bad = it;
         return again ? BATCH_TRANSIENT : BATCH_REJECTED;
      }
      if (it->kind == CAPTURE_UPDATE)
         updates++;
      else
         records++;
   }
   if (!ExchangeWriter_flush(c->w, err) || !pend_mark(c, err) || !Store_commit(c->st, err)) {
      Store_rollback(c->st);
      ExchangeWriter_discard(c->w);
      return BATCH_TRANSIENT;
   }
   c->pend_saved = pend_low(c);
   pend_apply(c);
   atomic_fetch_add(&c->committed, records);
   atomic_fetch_add(&c->updated, updates);
   c->dirty = true;
   if (c->wal_pages >= WAL_PASSIVE_PAGES)
      checkpoint(c, SQLITE_CHECKPOINT_PASSIVE);
   return BATCH_OK;
}

static long long count_records(CaptureItem *list) {
   long long n = 0;
   for (; list; list = list->next)
      n += list->kind == CAPTURE_RECORD;
   return n;
}

static bool stopping(Capture *c) {
   pthread_mutex_lock(&c->lock);
   bool stop = c->stop;
   pthread_mutex_unlock(&c->lock);
   return stop;
}

/* Waits ms, logging drops on the way. */
static void backoff_sleep(Capture *c, long ms) {
   usleep((useconds_t)ms * 1000);
   log_drops(c, false);
}

/* Writes the batch, trying again while the workspace refuses it; a record it rejects is
 * counted, logged and left out. Then hands the items back. */
static void write_batch(Capture *c, CaptureItem *list) {
   CaptureItem *rejected = NULL;   /* left out of list, handed back with it */
   long n = 0;
   long long bytes = 0;
   for (CaptureItem *it = list; it; it = it->next) {
      n++;
      bytes += (long long)it->bytes;
   }
   long backoff = RETRY_FIRST_MS;
   while (list) {
      if (c->gave_up) {
         note_drop(c, CAPTURE_DROP_STOPPED, count_records(list));
         break;
      }
      char *err = NULL;
      CaptureItem *bad = NULL;
      int r = try_batch(c, list, &bad, &err);
      if (r == BATCH_OK) {
         free(err);
         set_working(c);
         break;
      }
      if (r == BATCH_REJECTED) {
         /* Not the workspace's state but this item: leave it out and write the rest now. */
         CaptureItem **pp = &list;
         while (*pp != bad)
            pp = &(*pp)->next;
         *pp = bad->next;
         bad->next = rejected;
         rejected = bad;
         if (bad->kind == CAPTURE_RECORD) {
            free(c->reject_reason);
            c->reject_reason = err;
            err = NULL;
            note_drop(c, CAPTURE_DROP_REJECTED, 1);
         } else {
            fprintf(stderr, "offramp gateway: capture: the result of %s's pending calls was not stored: %s\n", bad->rid,
                    err ? err : "unknown error");
         }
         free(err);
         continue;
      }
      atomic_fetch_add(&c->retries, 1);
      set_failing(c, err);
      free(err);
      if (stopping(c)) {
         double now = mono_seconds();
         if (!c->stop_at)
            c->stop_at = now;
         if (now - c->stop_at >= STOP_GRACE_S) {
            c->gave_up = true;
            continue;
         }
      }
      backoff_sleep(c, backoff);
      backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
   }
   /* Hand everything back: the batch and the records left out of it. */
   CaptureItem **end = &list;
   while (*end)
      end = &(*end)->next;
   *end = rejected;
   while (*end)
      end = &(*end)->next;
   c->last_write = mono_seconds();
   pthread_mutex_lock(&c->lock);
   c->depth -= n;
   c->bytes -= bytes;
   *end = c->done;
   c->done = list;
   pthread_mutex_unlock(&c->lock);
}

/* ---- pending calls that never ended ---- */

/* Records from row from on whose calls were still pending now say "lost"; the number changed,
 * -1 when the workspace refused (err). */
static long long lose_pending(Capture *c, long long from, char **err) {
   static const char *const shadow_arms[] = { "candidate", "primary", NULL };
   if (!Store_begin(c->st, err))
      return -1;
   long long n = 0;
   Doc none = { 0 };
   for (int a = 0; a < 3; a++) {
      for (int noise = 0; noise < 2; noise++) {
         if (!shadow_arms[a] && !noise)
            continue;
         CaptureCall calls[CAPTURE_CALLS] = { { 0 } };
         calls[CAPTURE_SHADOW].started = shadow_arms[a] != NULL;
         calls[CAPTURE_SHADOW].arm = shadow_arms[a];
         calls[CAPTURE_NOISE].started = noise;
         calls[CAPTURE_NOISE].arm = "primary";
         Sbuf_reset(&c->old_tail);
         Sbuf_reset(&c->new_tail);
         put_tail(&c->old_tail, calls, "pending", &none);
         put_tail(&c->new_tail, calls, "lost", &none);
         long long k = Exchange_replace_tails(c->st, from, c->old_tail.buf, c->old_tail.len, c->new_tail.buf,
                                              c->new_tail.len, err);
         if (k < 0) {
            Store_rollback(c->st);
            return -1;
         }
         n += k;
      }
   }
   if (!Store_exec(c->st, "DELETE FROM settings WHERE key = '" PENDING_KEY "'", err) || !Store_commit(c->st, err)) {
      Store_rollback(c->st);
      return -1;
   }
   atomic_fetch_add(&c->lost, n);
   c->pend_saved = 0;
   return n;
}

/* A run that did not stop cleanly left PENDING_KEY: its pending calls will never end. */
static void recover_lost(Capture *c) {
   char *v = Store_setting(c->st, PENDING_KEY, NULL);
   long from;
   if (!v || !parse_long(v, &from)) {
      free(v);
      return;
   }
   free(v);
   long backoff = RETRY_FIRST_MS;
   for (;;) {
      char *err = NULL;
      long long n = lose_pending(c, from, &err);
      if (n >= 0) {
         set_working(c);
         if (n)
            fprintf(stderr, "offramp gateway: capture: %lld records of the last run had calls still running when it "
                    "stopped; they are recorded as lost\n", n);
         return;
      }
      atomic_fetch_add(&c->retries, 1);
      set_failing(c, err);
      free(err);
      if (stopping(c))
         return;   /* the next start tries again */
      backoff_sleep(c, backoff);
      backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
   }
}

/* On a clean stop: the calls still pending (the drain gave up on their exchanges) are lost. */
static void stop_pending(Capture *c) {
   if (!c->npend && !c->pend_saved)
      return;
   long long from = c->npend ? c->pend[0] : c->pend_saved;
   char *err = NULL;
   long long n = lose_pending(c, from, &err);
   if (n < 0) {
      fprintf(stderr, "offramp gateway: capture: the calls still running at the stop could not be recorded as lost "
              "(%s); the next start records them\n", err ? err : "unknown error");
   } else if (n) {
      fprintf(stderr, "offramp gateway: capture: %lld records had calls still running at the stop; they are "
              "recorded as lost\n", n);
   }
   free(err);
   c->npend = 0;
}

/* ---- the thread ---- */

static void idle_duties(Capture *c) {
   log_drops(c, false);
   double now = mono_seconds();
   if (c->dirty && now - c->last_write >= IDLE_CHECKPOINT_S && now >= c->next_checkpoint)
      checkpoint(c, SQLITE_CHECKPOINT_TRUNCATE);
}

static void *writer(void *arg) {
   Capture *c = arg;
#ifdef SYS_gettid
   /* Linux: a thread's own nice value, set through its thread id (harmless when refused). */
   setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WRITER_NICE);
#endif
   recover_lost(c);
   for (;;) {
      pthread_mutex_lock(&c->lock);
      if (!c->head && !c->stop) {
         struct timespec ts;
         clock_gettime(CLOCK_MONOTONIC, &ts);
         long long ns = ts.tv_nsec + (long long)(IDLE_WAKE_S * 1e9);
         ts.tv_sec += (time_t)(ns / 1000000000);
         ts.tv_nsec = (long)(ns % 1000000000);
         pthread_cond_timedwait(&c->wake, &c->lock, &ts);
      }
      if (!c->head) {
         bool stop = c->stop;
         pthread_mutex_unlock(&c->lock);
         if (stop)
            break;
         idle_duties(c);
         continue;
      }
      if (c->waiting < BATCH_MIN && !c->stop) {
         pthread_mutex_unlock(&c->lock);
         usleep(LINGER_US);
         pthread_mutex_lock(&c->lock);
      }
      /* The batch: the queue's head up to the first record held for its pending calls. */
      double cutoff = mono_seconds() - HOLD_S;
      CaptureItem *list = c->head, *last = NULL;
      long n = 0;
      for (CaptureItem *it = list; it && n < BATCH_MAX; it = it->next) {
         if (!c->stop && it->kind == CAPTURE_RECORD && deferred(it) && it->queued_at > cutoff)
            break;
         last = it;
         n++;
      }
      if (!n) {
         double wait = list->queued_at - cutoff;
         pthread_mutex_unlock(&c->lock);
         usleep((useconds_t)(wait * 1e6) + 1);
         continue;
      }
      c->head = last->next;
      if (!c->head)
         c->tail = NULL;
      last->next = NULL;
      c->waiting -= n;
      c->taken = last->seq;
      pthread_mutex_unlock(&c->lock);
      write_batch(c, list);
      log_drops(c, false);
   }
   if (!c->gave_up)
      stop_pending(c);
   log_drops(c, true);
   return NULL;
}

Capture *Capture_start(const char *workspace, long queue_max, long long queue_bytes, ExchangeNewTask new_task,
                       char **err) {
   Store *st = Store_open(workspace, STORE_CREATE, err);
   if (!st)
      return NULL;
   /* WAL with synchronous=NORMAL: a committed batch survives a crash of the gateway (kill -9);
    * only a power loss may take the last batches. fsync per batch would cap the capture rate. */
   if (!Store_exec(st, "PRAGMA synchronous = NORMAL", err)) {
      Store_close(st);
      return NULL;
   }
   sqlite3_busy_timeout(st->db, BUSY_MS);
   Capture *c = xcalloc(1, sizeof *c);
   c->st = st;
   /* Replaces SQLite's autocheckpoint on this connection: the writer checkpoints itself. */
   sqlite3_wal_hook(st->db, on_wal, c);
   c->w = ExchangeWriter_new(st, new_task);
   c->memo = Fingerprint_memo_new();
   ExchangeWriter_batch(c->w);
   c->max = queue_max;
   c->max_bytes = queue_bytes;
   pthread_mutex_init(&c->lock, NULL);
   pthread_condattr_t ca;
   pthread_condattr_init(&ca);
   pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
   pthread_cond_init(&c->wake, &ca);
   pthread_condattr_destroy(&ca);
   if (pthread_create(&c->thread, NULL, writer, c) != 0) {
      *err = xasprintf("cannot start the capture thread");
      ExchangeWriter_free(c->w);
      Fingerprint_memo_free(c->memo);
      Store_close(st);
      pthread_mutex_destroy(&c->lock);
      pthread_cond_destroy(&c->wake);
      free(c);
      return NULL;
   }
   return c;
}

/* Under the lock. */
static void enqueue(Capture *c, CaptureItem *it) {
   it->next = NULL;
   it->seq = ++c->seq;
   if (c->tail)
      c->tail->next = it;
   else
      c->head = it;
   c->tail = it;
   c->waiting++;
   c->depth++;
   c->bytes += (long long)it->bytes;
   pthread_cond_signal(&c->wake);
}

/* Under the lock: the written items become the pusher's to free. */
static void take_done(Capture *c) {
   if (!c->to_free) {
      c->to_free = c->done;
      c->done = NULL;
   }
}

bool Capture_push(Capture *c, CaptureItem *it, CaptureTicket *t) {
   it->kind = CAPTURE_RECORD;
   it->bytes = item_bytes(it);
   it->queued_at = mono_seconds();
   if (t) {
      t->seq = 0;
      t->item = NULL;
   }
   atomic_fetch_add(&c->queued, 1);
   pthread_mutex_lock(&c->lock);
   take_done(c);
   int full = c->depth >= c->max                                  ? CAPTURE_DROP_RECORDS
              : c->bytes + (long long)it->bytes > c->max_bytes ? CAPTURE_DROP_BYTES
                                                                : -1;
   if (full >= 0) {
      c->last_drop = mono_seconds();
      pthread_mutex_unlock(&c->lock);
      atomic_fetch_add(&c->dropped[full], 1);
      c->to_free = items_free(c->to_free, FREE_PER_PUSH);
      item_free(it);
      return false;
   }
   enqueue(c, it);
   if (t) {
      t->seq = it->seq;
      t->item = it;
   }
   pthread_mutex_unlock(&c->lock);
   c->to_free = items_free(c->to_free, FREE_PER_PUSH);
   return true;
}

/* Moves call u into call r (the same call: r keeps its model and arm, which live in r's item). */
static void call_move(CaptureCall *r, CaptureCall *u) {
   const char *model = r->model, *arm = r->arm;
   *r = *u;
   r->model = model;
   r->arm = arm;
   r->pending = false;
   u->response = u->error_body = u->error_message = NULL;
   u->response_len = u->error_body_len = 0;
}

void Capture_join(Capture *c, CaptureTicket *t, CaptureItem *u) {
   u->kind = CAPTURE_UPDATE;
   for (int i = CAPTURE_SHADOW; i < CAPTURE_CALLS; i++)
      u->calls[i].pending = false;
   u->bytes = item_bytes(u);
   pthread_mutex_lock(&c->lock);
   take_done(c);
   if (t->seq && t->seq > c->taken) {
      /* Still queued: the record is written whole, once. */
      CaptureItem *it = t->item;
      for (int i = CAPTURE_SHADOW; i < CAPTURE_CALLS; i++) {
         if (it->calls[i].started && u->calls[i].started)
            call_move(&it->calls[i], &u->calls[i]);
      }
      it->agree = u->agree;
      it->confidence = u->confidence;
      size_t bytes = item_bytes(it);
      c->bytes += (long long)(bytes - it->bytes);
      it->bytes = bytes;
      pthread_mutex_unlock(&c->lock);
      atomic_fetch_add(&c->joined, 1);
      item_free(u);
   } else if (t->seq) {
      /* Updates pass the bound: there is one per exchange in flight at most. */
      enqueue(c, u);
      pthread_mutex_unlock(&c->lock);
   } else {
      pthread_mutex_unlock(&c->lock);
      item_free(u);
   }
   t->seq = 0;
   t->item = NULL;
   c->to_free = items_free(c->to_free, FREE_PER_PUSH);
}

void Capture_stats(Capture *c, CaptureStats *out) {
   pthread_mutex_lock(&c->lock);
   out->depth = c->depth;
   out->bytes = c->bytes;
   pthread_mutex_unlock(&c->lock);
   out->queued = atomic_load(&c->queued);
   out->committed = atomic_load(&c->committed);
   for (int r = 0; r < CAPTURE_DROPS; r++)
      out->dropped[r] = atomic_load(&c->dropped[r]);
   out->retries = atomic_load(&c->retries);
   out->joined = atomic_load(&c->joined);
   out->updated = atomic_load(&c->updated);
   out->lost = atomic_load(&c->lost);
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
   Fingerprint_memo_free(c->memo);
   Store_close(c->st);
   Sbuf_free(&c->rec);
   Sbuf_free(&c->model);
   Sbuf_free(&c->old_tail);
   Sbuf_free(&c->new_tail);
   free(c->pend);
   free(c->failure);
   free(c->reject_reason);
   pthread_mutex_destroy(&c->lock);
   pthread_cond_destroy(&c->wake);
   free(c);
}
