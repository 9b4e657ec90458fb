/* exchange.c - inserting exchange records with dedupe, task attribution (tag, else a named
 * fingerprint) and the incremental audit aggregates: audit_daily (per task, fingerprint,
 * day and model), audit_outputs (distinct outputs, capped) and touchpoints. */
#include "config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonscan.h"
#include "common/stats.h"
#include "common/taskname.h"
#include "common/util.h"
#include "store/exchange.h"

/* Samples kept per discovered touchpoint, and their length. */
#define TP_SAMPLES 3
#define TP_SAMPLE_LEN 240
/* Fingerprints remembered by one writer; the cache is dropped when full (flat memory). */
#define FP_CACHE 4096
/* Output-tracking keys remembered by one writer. */
#define OUT_CACHE 256
/* Aggregate rows a batching writer sums in memory before writing them out. */
#define PENDING_MAX 16

typedef struct {
   char fp[40];           /* "" = empty slot */
   long long task_id;     /* the task it was named or merged into, 0 none */
   int samples;           /* samples stored; TP_SAMPLES = complete */
} FpEntry;

typedef struct {
   long long task_id;
   char fp[40];
   int tracked;           /* distinct outputs stored for the key */
} OutEntry;

/* One audit_daily row's additions, summed over a batch. */
typedef struct {
   long long task_id;
   char fp[40];
   char day[11];
   char *model;
   long long calls, errors, in_tokens, out_tokens, est_calls, lat_n, outputs, out_chars, json_outputs;
   double lat_sum;
   long long h[AUDIT_BUCKETS];
} AggDelta;

struct ExchangeWriter {
   Store *st;
   ExchangeNewTask new_task;
   sqlite3_stmt *insert, *task_id;
   sqlite3_stmt *tp_get, *tp_insert, *tp_samples;
   sqlite3_stmt *agg[AUDIT_BUCKETS + 1];   /* one per latency bucket, the last for "unknown" */
   sqlite3_stmt *out_bump, *out_insert, *out_count;
   /* Last task resolved: imports and captures come in runs of one task. */
   char *last_task;
   long long last_id;
   FpEntry *fps;
   int nfps;
   OutEntry outs[OUT_CACHE];
   int nouts;
   bool batch;
   AggDelta pending[PENDING_MAX];
   int npending;
   sqlite3_stmt *agg_delta;
   sqlite3_stmt *set_tail;
   long long last_rowid;      /* the exchange the last add inserted */
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

ExchangeWriter *ExchangeWriter_new(Store *st, ExchangeNewTask new_task) {
   ExchangeWriter *w = xcalloc(1, sizeof *w);
   w->new_task = new_task;
   w->st = st;
   w->insert = Store_prepare(st,
      "INSERT INTO exchanges(rid, task_id, fingerprint, ts, arm, model, status, latency_ms, prompt_tokens,"
      " completion_tokens, tokens_estimated, cost, agree, confidence, record)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
      " ON CONFLICT(rid) DO NOTHING");
   w->task_id = Store_prepare(st, "SELECT id FROM tasks WHERE name = ?");
   w->tp_get = Store_prepare(st, "SELECT coalesce(task_id, 0), json_array_length(samples), skeleton != ''"
                                 " FROM touchpoints WHERE fingerprint = ?");
   w->tp_insert = Store_prepare(st, "INSERT INTO touchpoints(fingerprint, skeleton, samples, first_seen)"
                                    " VALUES (?1, coalesce(?2, ''), json_array(?3), ?4)"
                                    " ON CONFLICT(fingerprint) DO NOTHING");
   w->tp_samples = Store_prepare(st,
      "UPDATE touchpoints SET skeleton = CASE WHEN skeleton = '' THEN coalesce(?2, '') ELSE skeleton END,"
      " samples = CASE WHEN ?3 IS NULL OR json_array_length(samples) >= ?4"
      "   OR EXISTS (SELECT 1 FROM json_each(samples) WHERE value = ?3) THEN samples"
      "   ELSE json_insert(samples, '$[#]', ?3) END"
      " WHERE fingerprint = ?1");
   w->out_bump = Store_prepare(st, "UPDATE audit_outputs SET n = n + 1 WHERE task_id = ?1 AND fingerprint = ?2 AND hash = ?3");
   w->out_insert = Store_prepare(st, "INSERT INTO audit_outputs(task_id, fingerprint, hash, n, sample) VALUES (?1, ?2, ?3, 1, ?4)");
   w->out_count = Store_prepare(st, "SELECT count(*) FROM audit_outputs WHERE task_id = ?1 AND fingerprint = ?2");
   return w;
}

/* The aggregate upsert for latency bucket b (AUDIT_BUCKETS: latency unknown), prepared on
 * first use: one statement per bucket keeps each update a handful of additions. */
static sqlite3_stmt *agg_stmt(ExchangeWriter *w, int b) {
   if (w->agg[b])
      return w->agg[b];
   bool known = b < AUDIT_BUCKETS;
   Sbuf sb = { 0 };
   Sbuf_puts(&sb, "INSERT INTO audit_daily(task_id, fingerprint, day, model, calls, errors, in_tokens, out_tokens,"
                  " est_calls, lat_n, lat_sum, outputs, out_chars, json_outputs");
   if (known)
      Sbuf_printf(&sb, ", h%d", b);
   Sbuf_puts(&sb, ") VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13");
   if (known)
      Sbuf_puts(&sb, ", 1");
   Sbuf_puts(&sb, ") ON CONFLICT DO UPDATE SET calls = calls + 1, errors = errors + excluded.errors,"
                  " in_tokens = in_tokens + excluded.in_tokens, out_tokens = out_tokens + excluded.out_tokens,"
                  " est_calls = est_calls + excluded.est_calls, lat_n = lat_n + excluded.lat_n,"
                  " lat_sum = lat_sum + excluded.lat_sum, outputs = outputs + excluded.outputs,"
                  " out_chars = out_chars + excluded.out_chars, json_outputs = json_outputs + excluded.json_outputs");
   if (known)
      Sbuf_printf(&sb, ", h%d = h%d + 1", b, b);
   w->agg[b] = Store_prepare(w->st, sb.buf);
   Sbuf_free(&sb);
   return w->agg[b];
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
      id = w->new_task(w->st, name, "discovered from tagged calls", "first tagged call", err);
      if (!id)
         return 0;
   }
   free(w->last_task);
   w->last_task = xstrdup(name);
   w->last_id = id;
   return id;
}

/* The cache slot of fp, loading it from the touchpoints table on a miss; NULL when fp does
 * not fit a slot (never for the engine's fingerprints). */
static FpEntry *fp_entry(ExchangeWriter *w, const char *fp) {
   if (strlen(fp) >= sizeof w->fps[0].fp)
      return NULL;
   if (!w->fps || w->nfps >= FP_CACHE * 3 / 4) {
      free(w->fps);
      w->fps = xcalloc(FP_CACHE, sizeof *w->fps);
      w->nfps = 0;
   }
   size_t i = hash64_str(fp) % FP_CACHE;
   while (w->fps[i].fp[0] && !str_eq(w->fps[i].fp, fp))
      i = (i + 1) % FP_CACHE;
   FpEntry *f = &w->fps[i];
   if (f->fp[0])
      return f;
   snprintf(f->fp, sizeof f->fp, "%s", fp);
   w->nfps++;
   f->task_id = 0;
   f->samples = -1;   /* no touchpoint row yet */
   sqlite3_stmt *s = w->tp_get;
   sqlite3_reset(s);
   sqlite3_bind_text(s, 1, fp, -1, SQLITE_TRANSIENT);
   if (sqlite3_step(s) == SQLITE_ROW) {
      f->task_id = sqlite3_column_int64(s, 0);
      f->samples = sqlite3_column_int(s, 2) ? sqlite3_column_int(s, 1) : 0;
   }
   sqlite3_reset(s);
   return f;
}

bool ExchangeWriter_wants_sample(ExchangeWriter *w, const char *fp) {
   FpEntry *f = fp_entry(w, fp);
   return f && f->samples < TP_SAMPLES;
}

static bool step_done(ExchangeWriter *w, sqlite3_stmt *s, const char *doing, char **err) {
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(w->st, doing);
   sqlite3_reset(s);
   return ok;
}

static bool note_touchpoint(ExchangeWriter *w, FpEntry *f, const Exchange *e, char **err) {
   if (f->samples >= TP_SAMPLES || (!e->sample && f->samples >= 0 && !e->skeleton))
      return true;
   char *sample = NULL;
   if (e->sample) {
      /* At most TP_SAMPLE_LEN bytes, cut on a character boundary. */
      size_t n = strnlen(e->sample, TP_SAMPLE_LEN + 1);
      if (n > TP_SAMPLE_LEN) {
         n = TP_SAMPLE_LEN;
         while (n > 0 && ((unsigned char)e->sample[n] & 0xC0) == 0x80)
            n--;
      }
      sample = xstrndup(e->sample, n);
   }
   bool ok;
   if (f->samples < 0) {
      char ts[32];
      now_iso8601(ts);
      sqlite3_stmt *s = w->tp_insert;
      sqlite3_bind_text(s, 1, f->fp, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 2, e->skeleton, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 3, sample, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 4, ts, -1, SQLITE_STATIC);
      ok = step_done(w, s, "recording a touchpoint", err);
      sqlite3_clear_bindings(s);
      f->samples = sample ? 1 : 0;
      if (!e->skeleton)
         f->samples = 0;   /* ask again: a later call may bring the skeleton */
   } else {
      sqlite3_stmt *s = w->tp_samples;
      sqlite3_bind_text(s, 1, f->fp, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 2, e->skeleton, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 3, sample, -1, SQLITE_STATIC);
      sqlite3_bind_int(s, 4, TP_SAMPLES);
      ok = step_done(w, s, "recording a touchpoint sample", err);
      sqlite3_clear_bindings(s);
      if (sample)
         f->samples++;
   }
   free(sample);
   return ok;
}

static OutEntry *out_entry(ExchangeWriter *w, long long task_id, const char *fp) {
   for (int i = 0; i < w->nouts; i++) {
      if (w->outs[i].task_id == task_id && str_eq(w->outs[i].fp, fp))
         return &w->outs[i];
   }
   if (strlen(fp) >= sizeof w->outs[0].fp)
      return NULL;
   if (w->nouts == OUT_CACHE)
      w->nouts = 0;
   OutEntry *o = &w->outs[w->nouts++];
   o->task_id = task_id;
   snprintf(o->fp, sizeof o->fp, "%s", fp);
   sqlite3_stmt *s = w->out_count;
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_text(s, 2, fp, -1, SQLITE_STATIC);
   o->tracked = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
   sqlite3_reset(s);
   return o;
}

/* Count the output among its key's distinct outputs, up to AUDIT_DISTINCT_CAP of them. */
static bool note_output(ExchangeWriter *w, long long task_id, const char *fp, const char *out, size_t len,
                        char **err) {
   OutEntry *o = out_entry(w, task_id, fp);
   if (!o)
      return true;
   sqlite3_int64 h = (sqlite3_int64)hash64(out, len);
   sqlite3_stmt *s = w->out_bump;
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_text(s, 2, fp, -1, SQLITE_STATIC);
   sqlite3_bind_int64(s, 3, h);
   if (!step_done(w, s, "counting an output", err))
      return false;
   if (sqlite3_changes(w->st->db) > 0 || o->tracked >= AUDIT_DISTINCT_CAP)
      return true;
   s = w->out_insert;
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_text(s, 2, fp, -1, SQLITE_STATIC);
   sqlite3_bind_int64(s, 3, h);
   if (len <= AUDIT_LABEL_MAX)
      sqlite3_bind_text(s, 4, out, (int)len, SQLITE_STATIC);
   else
      sqlite3_bind_null(s, 4);
   o->tracked++;
   return step_done(w, s, "counting an output", err);
}

void ExchangeWriter_batch(ExchangeWriter *w) {
   w->batch = true;
}

void ExchangeWriter_discard(ExchangeWriter *w) {
   for (int i = 0; i < w->npending; i++)
      free(w->pending[i].model);
   w->npending = 0;
}

/* The upsert adding a whole AggDelta, prepared on first use. */
static sqlite3_stmt *agg_delta_stmt(ExchangeWriter *w) {
   if (w->agg_delta)
      return w->agg_delta;
   Sbuf sb = { 0 };
   Sbuf_puts(&sb, "INSERT INTO audit_daily(task_id, fingerprint, day, model, calls, errors, in_tokens, out_tokens,"
                  " est_calls, lat_n, lat_sum, outputs, out_chars, json_outputs");
   for (int b = 0; b < AUDIT_BUCKETS; b++)
      Sbuf_printf(&sb, ", h%d", b);
   Sbuf_puts(&sb, ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14");
   for (int b = 0; b < AUDIT_BUCKETS; b++)
      Sbuf_printf(&sb, ", ?%d", 15 + b);
   Sbuf_puts(&sb, ") ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, errors = errors + excluded.errors,"
                  " in_tokens = in_tokens + excluded.in_tokens, out_tokens = out_tokens + excluded.out_tokens,"
                  " est_calls = est_calls + excluded.est_calls, lat_n = lat_n + excluded.lat_n,"
                  " lat_sum = lat_sum + excluded.lat_sum, outputs = outputs + excluded.outputs,"
                  " out_chars = out_chars + excluded.out_chars, json_outputs = json_outputs + excluded.json_outputs");
   for (int b = 0; b < AUDIT_BUCKETS; b++)
      Sbuf_printf(&sb, ", h%d = h%d + excluded.h%d", b, b, b);
   w->agg_delta = Store_prepare(w->st, sb.buf);
   Sbuf_free(&sb);
   return w->agg_delta;
}

bool ExchangeWriter_flush(ExchangeWriter *w, char **err) {
   sqlite3_stmt *s = agg_delta_stmt(w);
   bool ok = true;
   for (int i = 0; i < w->npending && ok; i++) {
      const AggDelta *d = &w->pending[i];
      sqlite3_bind_int64(s, 1, d->task_id);
      sqlite3_bind_text(s, 2, d->fp, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 3, d->day, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 4, d->model, -1, SQLITE_STATIC);
      const long long v[] = { d->calls, d->errors, d->in_tokens, d->out_tokens, d->est_calls, d->lat_n };
      for (int k = 0; k < (int)ARRAY_SIZE(v); k++)
         sqlite3_bind_int64(s, 5 + k, v[k]);
      sqlite3_bind_double(s, 11, d->lat_sum);
      sqlite3_bind_int64(s, 12, d->outputs);
      sqlite3_bind_int64(s, 13, d->out_chars);
      sqlite3_bind_int64(s, 14, d->json_outputs);
      for (int b = 0; b < AUDIT_BUCKETS; b++)
         sqlite3_bind_int64(s, 15 + b, d->h[b]);
      ok = step_done(w, s, "updating the audit figures", err);
   }
   ExchangeWriter_discard(w);
   return ok;
}

/* The pending row for the key (fp shorter than AggDelta.fp), flushing them all when none is
 * free; NULL on a flush error. */
static AggDelta *pending_delta(ExchangeWriter *w, long long task_id, const char *fp, const char *day,
                               const char *model, char **err) {
   for (int i = 0; i < w->npending; i++) {
      AggDelta *d = &w->pending[i];
      if (d->task_id == task_id && str_eq(d->fp, fp) && str_eq(d->day, day) && str_eq(d->model, model))
         return d;
   }
   if (w->npending == PENDING_MAX && !ExchangeWriter_flush(w, err))
      return NULL;
   AggDelta *d = &w->pending[w->npending++];
   memset(d, 0, sizeof *d);
   d->task_id = task_id;
   snprintf(d->fp, sizeof d->fp, "%s", fp);
   snprintf(d->day, sizeof d->day, "%s", day);
   d->model = xstrdup(model);
   return d;
}

static bool update_aggregates(ExchangeWriter *w, const Exchange *e, long long task_id, const char *fp, char **err) {
   int b = e->latency_ms >= 0 ? Audit_latency_bucket(e->latency_ms) : AUDIT_BUCKETS;
   char day[11] = "";
   snprintf(day, sizeof day, "%s", e->ts ? e->ts : "");
   size_t olen = e->output ? strlen(e->output) : 0;
   long long chars = 0;
   for (size_t i = 0; i < olen; i++)
      chars += ((unsigned char)e->output[i] & 0xC0) != 0x80;
   if (w->batch && strlen(fp) < sizeof w->pending[0].fp) {
      AggDelta *d = pending_delta(w, task_id, fp, day, e->model ? e->model : "", err);
      if (!d)
         return false;
      d->calls++;
      d->errors += e->status >= 400;
      d->in_tokens += e->prompt_tokens > 0 ? e->prompt_tokens : 0;
      d->out_tokens += e->completion_tokens > 0 ? e->completion_tokens : 0;
      d->est_calls += e->tokens_estimated;
      d->lat_n += e->latency_ms >= 0;
      d->lat_sum += e->latency_ms >= 0 ? e->latency_ms : 0;
      d->outputs += e->output != NULL;
      d->out_chars += chars;
      d->json_outputs += e->output && Jsonscan_document(e->output, olen);
      if (b < AUDIT_BUCKETS)
         d->h[b]++;
      return !e->output || note_output(w, task_id, fp, e->output, olen, err);
   }
   sqlite3_stmt *s = agg_stmt(w, b);
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_text(s, 2, fp, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 3, day, -1, SQLITE_TRANSIENT);
   sqlite3_bind_text(s, 4, e->model ? e->model : "", -1, SQLITE_STATIC);
   sqlite3_bind_int(s, 5, e->status >= 400);
   sqlite3_bind_int64(s, 6, e->prompt_tokens > 0 ? e->prompt_tokens : 0);
   sqlite3_bind_int64(s, 7, e->completion_tokens > 0 ? e->completion_tokens : 0);
   sqlite3_bind_int(s, 8, e->tokens_estimated);
   sqlite3_bind_int(s, 9, e->latency_ms >= 0);
   sqlite3_bind_double(s, 10, e->latency_ms >= 0 ? e->latency_ms : 0);
   sqlite3_bind_int(s, 11, e->output != NULL);
   sqlite3_bind_int64(s, 12, chars);
   sqlite3_bind_int(s, 13, e->output && Jsonscan_document(e->output, olen));
   if (!step_done(w, s, "updating the audit figures", err))
      return false;
   return !e->output || note_output(w, task_id, fp, e->output, olen, err);
}

int ExchangeWriter_add(ExchangeWriter *w, const Exchange *e, char **err) {
   sqlite3_stmt *s = w->insert;
   long long task_id = 0;
   FpEntry *f = NULL;
   if (e->task && *e->task) {
      task_id = resolve_task(w, e->task, err);
      if (!task_id)
         return -1;
   } else if (e->fingerprint && *e->fingerprint) {
      f = fp_entry(w, e->fingerprint);
      if (f)
         task_id = f->task_id;
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
   if (!inserted)
      return 0;
   w->last_rowid = sqlite3_last_insert_rowid(w->st->db);
   if (f && !note_touchpoint(w, f, e, err))
      return -1;
   /* Candidate calls run on our own model: they are not API spend; replayed calls repeat
    * logged ones, which the audit already counts (and would stretch its window to today). */
   if ((e->arm && str_eq(e->arm, "candidate")) || e->replay)
      return 1;
   if (!update_aggregates(w, e, task_id, f ? f->fp : "", err))
      return -1;
   return 1;
}

long long ExchangeWriter_last_id(ExchangeWriter *w) {
   return w->last_rowid;
}

/* Records are compared and cut as bytes (a TEXT substr counts characters); the tails are cut
 * at a member boundary, so the text stays valid UTF-8. */
#define RECORD_BYTES "CAST(record AS BLOB)"
#define TAIL_REPLACED "CAST(substr(" RECORD_BYTES ", 1, length(" RECORD_BYTES ") - ?2) AS TEXT) || ?3"

int ExchangeWriter_set_tail(ExchangeWriter *w, const char *rid, const char *old_tail, size_t old_len,
                            const char *new_tail, size_t new_len, int agree, double confidence, long long *id,
                            char **err) {
   if (!w->set_tail)
      w->set_tail = Store_prepare(w->st, "UPDATE exchanges SET record = " TAIL_REPLACED ", agree = ?4, confidence = ?5"
                                         " WHERE rid = ?1 AND substr(" RECORD_BYTES ", -?2) = ?6 RETURNING id");
   sqlite3_stmt *s = w->set_tail;
   sqlite3_reset(s);
   sqlite3_clear_bindings(s);
   sqlite3_bind_text(s, 1, rid, -1, SQLITE_STATIC);
   sqlite3_bind_int64(s, 2, (sqlite3_int64)old_len);
   sqlite3_bind_text(s, 3, new_tail, (int)new_len, SQLITE_STATIC);
   if (agree >= 0)
      sqlite3_bind_int(s, 4, agree);
   if (confidence >= 0)
      sqlite3_bind_double(s, 5, confidence);
   sqlite3_bind_blob(s, 6, old_tail, (int)old_len, SQLITE_STATIC);
   int rc = sqlite3_step(s);
   if (rc == SQLITE_ROW) {
      *id = sqlite3_column_int64(s, 0);
      rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) {
         sqlite3_reset(s);
         return 1;
      }
   }
   if (rc != SQLITE_DONE) {
      *err = Store_errmsg(w->st, "completing a stored exchange");
      sqlite3_reset(s);
      return -1;
   }
   sqlite3_reset(s);
   return 0;
}

long long Exchange_replace_tails(Store *st, long long from_id, const char *old_tail, size_t old_len,
                                 const char *new_tail, size_t new_len, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "UPDATE exchanges SET record = " TAIL_REPLACED
                                       " WHERE id >= ?1 AND substr(" RECORD_BYTES ", -?2) = ?4");
   sqlite3_bind_int64(s, 1, from_id);
   sqlite3_bind_int64(s, 2, (sqlite3_int64)old_len);
   sqlite3_bind_text(s, 3, new_tail, (int)new_len, SQLITE_STATIC);
   sqlite3_bind_blob(s, 4, old_tail, (int)old_len, SQLITE_STATIC);
   long long n = -1;
   if (sqlite3_step(s) == SQLITE_DONE)
      n = sqlite3_changes(st->db);
   else
      *err = Store_errmsg(st, "recording lost calls in stored exchanges");
   sqlite3_finalize(s);
   return n;
}

void ExchangeWriter_free(ExchangeWriter *w) {
   if (!w)
      return;
   sqlite3_finalize(w->insert);
   sqlite3_finalize(w->task_id);
   sqlite3_finalize(w->tp_get);
   sqlite3_finalize(w->tp_insert);
   sqlite3_finalize(w->tp_samples);
   for (int i = 0; i <= AUDIT_BUCKETS; i++)
      sqlite3_finalize(w->agg[i]);
   sqlite3_finalize(w->out_bump);
   sqlite3_finalize(w->out_insert);
   sqlite3_finalize(w->out_count);
   sqlite3_finalize(w->agg_delta);
   sqlite3_finalize(w->set_tail);
   ExchangeWriter_discard(w);
   free(w->fps);
   free(w->last_task);
   free(w);
}
