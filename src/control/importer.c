/* importer.c - reading log files line by line with bounded memory, recognising each
 * record's format, normalising it into an Exchange and adding it through ExchangeWriter_add,
 * one transaction per chunk. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/fingerprint.h"
#include "common/jsonscan.h"
#include "common/util.h"
#include "control/importer.h"
#include "control/prices.h"
#include "control/task.h"
#include "store/exchange.h"

enum { FMT_EXCHANGE, FMT_OPENAI, FMT_BATCH, FMT_LITELLM };
const char *const Import_format_names[4] = { "offramp exchange", "OpenAI request/response", "OpenAI Batch output",
                                             "LiteLLM spend log" };

#define READ_CHUNK (1 << 20)
#define SAMPLE_LEN 240

typedef struct {
   gzFile gz;                 /* NULL: reading mem */
   const char *mem;
   size_t memlen, mempos;
   off_t size;                /* bytes on disk, 0 unknown (stdin, pipes) */
   char *buf;
   size_t cap, start, end, scan;
   bool eof;
   long long lineno;
} Reader;

struct Importer {
   Store *st;
   ExchangeWriter *w;
   Prices *prices;
   char *last_model;
   const Price *last_price;
   ImportOptions o;
   ImportStats s;
   bool in_tx;
   int in_chunk;
   /* the current source */
   const char *name;
   long long lineno;
   bool csv;
   char **cols;
   int ncols;
   double t0, last_draw;
   long long src_bytes;
};

void ImportOptions_init(ImportOptions *o) {
   o->max_record = 16u << 20;
   o->chunk = 5000;
   o->progress = false;
}

Importer *Importer_new(Store *st, const ImportOptions *o, char **err) {
   Prices *p = Prices_load(st, err);
   if (!p)
      return NULL;
   /* WAL with synchronous=NORMAL stays consistent on power loss, it may lose only the
    * last commits, which a re-import restores. */
   if (!Store_exec(st, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536", err)) {
      Prices_free(p);
      return NULL;
   }
   Importer *im = xcalloc(1, sizeof *im);
   im->st = st;
   im->o = *o;
   if (im->o.chunk < 1)
      im->o.chunk = 1;
   im->w = ExchangeWriter_new(st, Task_create_in_tx);
   im->prices = p;
   return im;
}

const ImportStats *Importer_stats(const Importer *im) {
   return &im->s;
}

static void free_cols(Importer *im) {
   for (int i = 0; i < im->ncols; i++)
      free(im->cols[i]);
   free(im->cols);
   im->cols = NULL;
   im->ncols = 0;
}

void Importer_free(Importer *im) {
   if (!im)
      return;
   Store_rollback(im->st);
   ExchangeWriter_free(im->w);
   Prices_free(im->prices);
   free(im->last_model);
   free_cols(im);
   for (int i = 0; i < im->s.nerrors; i++)
      free(im->s.errors[i]);
   for (int i = 0; i < im->s.nunpriced; i++)
      free(im->s.unpriced[i].model);
   free(im->s.unpriced);
   free(im);
}

static void malformed(Importer *im, long long line, const char *fmt, ...) ATTR_PRINTF(3, 4);
static void malformed(Importer *im, long long line, const char *fmt, ...) {
   im->s.malformed++;
   if (im->s.nerrors == IMPORT_SHOWN_ERRORS)
      return;
   va_list ap;
   va_start(ap, fmt);
   char *why = xvasprintf(fmt, ap);
   va_end(ap);
   im->s.errors[im->s.nerrors++] = xasprintf("%s:%lld: %s", im->name, line, why);
   free(why);
}

/* ---- reading ---- */

static ssize_t reader_read(Reader *r, char *dst, size_t n) {
   if (!r->gz) {
      size_t k = r->memlen - r->mempos < n ? r->memlen - r->mempos : n;
      memcpy(dst, r->mem + r->mempos, k);
      r->mempos += k;
      return (ssize_t)k;
   }
   int k = gzread(r->gz, dst, (unsigned)n);
   return k;
}

enum { LINE_EOF, LINE_OK, LINE_LONG, LINE_ERROR };

/* The next line without its '\n' (and '\r'); *newline false for a last line that lacks
 * one. LINE_LONG: a line over max bytes was skipped, *len is its length. */
static int reader_line(Reader *r, Importer *im, const char **line, size_t *len, bool *newline) {
   size_t max = im->o.max_record;
   for (;;) {
      char *nl = r->end > r->scan ? memchr(r->buf + r->scan, '\n', r->end - r->scan) : NULL;
      if (nl) {
         *line = r->buf + r->start;
         *len = (size_t)(nl - *line);
         r->start = r->scan = (size_t)(nl - r->buf) + 1;
         *newline = true;
         break;
      }
      r->scan = r->end;
      if (r->eof) {
         if (r->start == r->end)
            return LINE_EOF;
         *line = r->buf + r->start;
         *len = r->end - r->start;
         r->start = r->scan = r->end;
         *newline = false;
         break;
      }
      if (r->start > 0) {
         memmove(r->buf, r->buf + r->start, r->end - r->start);
         r->end -= r->start;
         r->scan -= r->start;
         r->start = 0;
      }
      if (r->end == r->cap) {
         if (r->cap > max) {
            /* Over the limit: skip to the end of the line keeping nothing of it. */
            long long skipped = (long long)r->end;
            r->start = r->end = r->scan = 0;
            for (;;) {
               ssize_t k = reader_read(r, r->buf, r->cap);
               if (k < 0)
                  return LINE_ERROR;
               im->s.bytes += k;
               if (k == 0) {
                  r->eof = true;
                  break;
               }
               char *e = memchr(r->buf, '\n', (size_t)k);
               if (e) {
                  skipped += e - r->buf;
                  r->start = r->scan = (size_t)(e - r->buf) + 1;
                  r->end = (size_t)k;
                  break;
               }
               skipped += k;
            }
            r->lineno++;
            *len = (size_t)skipped;
            return LINE_LONG;
         }
         r->cap = r->cap * 2 > max + 1 ? max + 1 : r->cap * 2;
         r->buf = xrealloc(r->buf, r->cap);
      }
      ssize_t k = reader_read(r, r->buf + r->end, r->cap - r->end);
      if (k < 0)
         return LINE_ERROR;
      im->s.bytes += k;
      if (k == 0)
         r->eof = true;
      r->end += (size_t)k;
   }
   r->lineno++;
   if (*len && (*line)[*len - 1] == '\r')
      (*len)--;
   return LINE_OK;
}

/* ---- small JSON helpers ---- */

static const char *jstr(json_t *o, const char *key) {
   return json_string_value(json_object_get(o, key));
}

/* A value that may arrive JSON-encoded inside a string (LiteLLM CSV and some exports). */
static json_t *decoded(json_t *v, json_t **owned) {
   *owned = NULL;
   if (json_is_string(v)) {
      const char *s = json_string_value(v);
      while (*s == ' ')
         s++;
      if (*s == '{' || *s == '[') {
         *owned = json_loads(s, 0, NULL);
         if (*owned)
            return *owned;
      }
   }
   return v;
}

/* Text of a message content: a string, or the text parts of a part list. */
static void text_of(json_t *content, Sbuf *sb) {
   if (json_is_string(content)) {
      Sbuf_add(sb, json_string_value(content), json_string_length(content));
      return;
   }
   size_t i;
   json_t *part;
   json_array_foreach(content, i, part) {
      json_t *t = json_object_get(part, "text");
      if (json_is_string(t))
         Sbuf_add(sb, json_string_value(t), json_string_length(t));
   }
}

/* The answer's text: first choice's content, else its tool call arguments, else legacy text. */
static char *output_of(json_t *resp) {
   json_t *c0 = json_array_get(json_object_get(resp, "choices"), 0);
   if (!c0)
      return NULL;
   json_t *msg = json_object_get(c0, "message");
   Sbuf sb = { 0 };
   json_t *content = json_object_get(msg, "content");
   if (json_is_string(content) || json_is_array(content)) {
      text_of(content, &sb);
   } else if (msg) {
      json_t *args = json_object_get(json_object_get(json_array_get(json_object_get(msg, "tool_calls"), 0), "function"),
                                     "arguments");
      if (json_is_string(args))
         Sbuf_add(&sb, json_string_value(args), json_string_length(args));
   } else if (json_is_string(json_object_get(c0, "text"))) {
      text_of(json_object_get(c0, "text"), &sb);
   }
   return sb.buf ? Sbuf_steal(&sb) : NULL;
}

/* "task:NAME" wins over a bare first tag. */
static const char *task_from_tags(json_t *tags) {
   const char *first = NULL;
   size_t i;
   json_t *t;
   json_array_foreach(tags, i, t) {
      const char *s = json_string_value(t);
      if (!s)
         continue;
      if (str_startswith(s, "task:") && s[5])
         return s + 5;
      if (!first)
         first = s;
   }
   return first;
}

static const char *task_from_meta(json_t *meta) {
   const char *t = jstr(meta, "task");
   return t ? t : jstr(meta, "feature");
}

static const char *header(json_t *headers, const char *name) {
   const char *k;
   json_t *v;
   json_object_foreach(headers, k, v) {
      if (strcasecmp(k, name) == 0 && json_is_string(v))
         return json_string_value(v);
   }
   return NULL;
}

/* Remove credentials a log line may carry; true when something was removed. */
static bool scrub(json_t *root) {
   static const char *const secret[] = { "authorization", "api-key", "x-api-key", "proxy-authorization", "cookie" };
   json_t *holders[] = { json_object_get(root, "headers"), json_object_get(root, "request_headers"),
                         json_object_get(json_object_get(root, "request"), "headers") };
   bool removed = false;
   for (size_t h = 0; h < ARRAY_SIZE(holders); h++) {
      if (!json_is_object(holders[h]))
         continue;
      const char *k;
      json_t *v;
      void *tmp;
      json_object_foreach_safe(holders[h], tmp, k, v) {
         for (size_t i = 0; i < ARRAY_SIZE(secret); i++) {
            if (strcasecmp(k, secret[i]) == 0) {
               json_object_del(holders[h], k);
               removed = true;
               break;
            }
         }
      }
   }
   if (json_object_get(root, "api_key")) {
      json_object_del(root, "api_key");
      removed = true;
   }
   return removed;
}

/* ---- time ---- */

static bool digits(const char *s, int n, int *out) {
   int v = 0;
   for (int i = 0; i < n; i++) {
      if (s[i] < '0' || s[i] > '9')
         return false;
      v = v * 10 + (s[i] - '0');
   }
   *out = v;
   return true;
}

/* ISO-8601-ish text ("2026-11-21T10:00:00.123Z", "2026-11-21 10:00:00", "+02:00" offsets)
 * or Unix seconds/milliseconds, to epoch seconds. */
static bool parse_time(json_t *v, double *epoch) {
   if (json_is_number(v)) {
      double x = json_number_value(v);
      if (!(x > 0 && x < 1e15))
         return false;
      *epoch = x > 1e11 ? x / 1000 : x;
      return true;
   }
   const char *s = json_string_value(v);
   if (!s || strlen(s) < 19)
      return false;
   struct tm tm = { 0 };
   int y, mo, d, h, mi, se;
   if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
       (s[10] != 'T' && s[10] != ' ') || !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
       s[16] != ':' || !digits(s + 17, 2, &se) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
      return false;
   tm.tm_year = y - 1900;
   tm.tm_mon = mo - 1;
   tm.tm_mday = d;
   tm.tm_hour = h;
   tm.tm_min = mi;
   tm.tm_sec = se;
   double frac = 0;
   const char *p = s + 19;
   if (*p == '.') {
      double scale = 0.1;
      for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
         frac += (*p - '0') * scale;
   }
   int off = 0;
   if (*p == '+' || *p == '-') {
      int oh, om = 0;
      if (!digits(p + 1, 2, &oh))
         return false;
      const char *q = p + 3;
      if (*q == ':')
         q++;
      if (*q && !digits(q, 2, &om))
         return false;
      off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
   } else if (*p && *p != 'Z') {
      return false;
   }
   *epoch = (double)timegm(&tm) - off + frac;
   return true;
}

static void format_time(double epoch, char out[32]) {
   time_t t = (time_t)floor(epoch);
   int ms = (int)((epoch - floor(epoch)) * 1000);
   struct tm tm;
   gmtime_r(&t, &tm);
   size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
   snprintf(out + n, 32 - n, ".%03dZ", ms > 999 ? 999 : ms);
}

/* ---- one record ---- */

typedef struct {
   Exchange e;
   char rid[48], ts[32], fp[FINGERPRINT_LEN + 1];
   char *record, *output, *skeleton, *sample;
   json_t *messages;        /* borrowed */
   json_t *owned[3];        /* decoded JSON-in-strings */
} Rec;

static void rec_free(Rec *r) {
   free(r->record);
   free(r->output);
   free(r->skeleton);
   free(r->sample);
   for (size_t i = 0; i < ARRAY_SIZE(r->owned); i++)
      json_decref(r->owned[i]);
}

static void usage_into(json_t *u, Exchange *e) {
   json_t *in = json_object_get(u, "prompt_tokens"), *out = json_object_get(u, "completion_tokens");
   if (!in)
      in = json_object_get(u, "input_tokens");
   if (!out)
      out = json_object_get(u, "output_tokens");
   if (json_is_integer(in) && json_integer_value(in) >= 0)
      e->prompt_tokens = json_integer_value(in);
   if (json_is_integer(out) && json_integer_value(out) >= 0)
      e->completion_tokens = json_integer_value(out);
}

/* offramp exchange records and OpenAI request/response pairs share one shape. */
static void parse_pair(json_t *root, Rec *r) {
   Exchange *e = &r->e;
   json_t *req = json_object_get(root, "request"), *resp = json_object_get(root, "response");
   const char *id = jstr(root, "id");
   if (!id)
      id = jstr(root, "request_id");
   if (!id)
      id = jstr(resp, "id");
   if (id)
      snprintf(r->rid, sizeof r->rid, "%.47s", id);
   double t;
   if (parse_time(json_object_get(root, "ts"), &t) || parse_time(json_object_get(root, "timestamp"), &t) ||
       parse_time(json_object_get(root, "created_at"), &t) || parse_time(json_object_get(resp, "created"), &t))
      format_time(t, r->ts);
   const char *task = jstr(root, "task");
   if (!task)
      task = task_from_meta(json_object_get(root, "metadata"));
   if (!task)
      task = task_from_meta(json_object_get(req, "metadata"));
   if (!task)
      task = header(json_object_get(root, "headers"), "X-Offramp-Task");
   if (!task)
      task = header(json_object_get(root, "request_headers"), "X-Offramp-Task");
   if (!task)
      task = task_from_tags(json_object_get(root, "tags"));
   e->task = task;
   const char *arm = jstr(root, "arm");
   if (arm && (str_eq(arm, "primary") || str_eq(arm, "candidate") || str_eq(arm, "fallback")))
      e->arm = arm;
   e->model = jstr(root, "model");
   if (!e->model)
      e->model = jstr(resp, "model");
   if (!e->model)
      e->model = jstr(req, "model");
   json_t *status = json_object_get(root, "status");
   if (!json_is_integer(status))
      status = json_object_get(root, "status_code");
   if (json_is_integer(status))
      e->status = (int)json_integer_value(status);
   else if ((json_object_get(root, "error") && !json_is_null(json_object_get(root, "error"))) ||
            json_object_get(resp, "error"))
      e->status = 500;
   else if (resp)
      e->status = 200;
   json_t *lat = json_object_get(root, "latency_ms");
   if (!json_is_number(lat))
      lat = json_object_get(root, "duration_ms");
   if (json_is_number(lat))
      e->latency_ms = json_number_value(lat);
   else if (json_is_number(json_object_get(root, "latency")))   /* seconds */
      e->latency_ms = 1000 * json_number_value(json_object_get(root, "latency"));
   json_t *u = json_object_get(root, "usage");
   usage_into(u ? u : json_object_get(resp, "usage"), e);
   e->replay = json_is_true(json_object_get(root, "replay"));   /* our own records: replayed traffic */
   json_t *shadow = json_object_get(root, "shadow");
   if (json_is_boolean(json_object_get(shadow, "agree")))
      e->agree = json_is_true(json_object_get(shadow, "agree"));
   if (json_is_number(json_object_get(shadow, "confidence")))
      e->confidence = json_number_value(json_object_get(shadow, "confidence"));
   r->messages = json_object_get(req, "messages");
   r->output = output_of(resp);
}

static void parse_batch(json_t *root, Rec *r) {
   Exchange *e = &r->e;
   json_t *resp = json_object_get(root, "response");
   json_t *body = json_object_get(resp, "body");
   const char *id = jstr(resp, "request_id");
   if (!id)
      id = jstr(root, "id");
   if (id)
      snprintf(r->rid, sizeof r->rid, "%.47s", id);
   double t;
   if (parse_time(json_object_get(body, "created"), &t))
      format_time(t, r->ts);
   e->model = jstr(body, "model");
   json_t *sc = json_object_get(resp, "status_code");
   e->status = json_is_integer(sc) ? (int)json_integer_value(sc) : json_is_null(json_object_get(root, "error")) ? 200 : 500;
   usage_into(json_object_get(body, "usage"), e);
   r->output = output_of(body);
   json_t *norm = json_pack("{s:s,s:s,s:O,s:s?,s:i,s:O?,s:O?,s:s}", "id", r->rid, "ts", "", "response", body ? body : json_null(),
                            "model", e->model, "status", e->status, "custom_id", json_object_get(root, "custom_id"),
                            "error", json_object_get(root, "error"), "source", "openai-batch");
   r->owned[0] = norm;
}

static void parse_litellm(json_t *root, Rec *r) {
   Exchange *e = &r->e;
   snprintf(r->rid, sizeof r->rid, "%.47s", jstr(root, "request_id"));
   double t0, t1;
   bool has0 = parse_time(json_object_get(root, "startTime"), &t0);
   if (has0)
      format_time(t0, r->ts);
   if (has0 && parse_time(json_object_get(root, "endTime"), &t1) && t1 >= t0)
      e->latency_ms = (t1 - t0) * 1000;
   e->model = jstr(root, "model");
   if (!e->model || !*e->model)
      e->model = jstr(root, "model_group");
   json_t *meta = decoded(json_object_get(root, "metadata"), &r->owned[1]);
   json_t *tags = decoded(json_object_get(root, "request_tags"), &r->owned[2]);
   e->task = task_from_meta(meta);
   if (!e->task)
      e->task = task_from_tags(tags);
   json_t *pt = json_object_get(root, "prompt_tokens"), *ct = json_object_get(root, "completion_tokens");
   if (json_is_integer(pt) && (json_integer_value(pt) > 0 || json_is_integer(ct)))
      e->prompt_tokens = json_integer_value(pt);
   if (json_is_integer(ct) && (json_integer_value(ct) > 0 || json_is_integer(pt)))
      e->completion_tokens = json_integer_value(ct);
   /* A row with both counts at 0 means LiteLLM did not know them. */
   if (e->prompt_tokens == 0 && e->completion_tokens == 0)
      e->prompt_tokens = e->completion_tokens = -1;
   const char *st = jstr(root, "status");
   e->status = st && str_eq(st, "failure") ? 500 : 200;
   json_t *mo = NULL, *ro = NULL;
   json_t *msgs = decoded(json_object_get(root, "messages"), &mo);
   json_t *resp = decoded(json_object_get(root, "response"), &ro);
   if (json_is_object(msgs) && json_is_array(json_object_get(msgs, "messages")))
      msgs = json_object_get(msgs, "messages");
   json_t *req = json_pack("{s:s?,s:O?}", "model", e->model, "messages", json_is_array(msgs) ? msgs : NULL);
   json_t *usage = e->prompt_tokens >= 0 ? json_pack("{s:I,s:I}", "prompt_tokens", (json_int_t)e->prompt_tokens,
                                                     "completion_tokens", (json_int_t)e->completion_tokens)
                                         : json_null();
   json_t *norm = json_pack("{s:s,s:s,s:s?,s:o,s:O?,s:s?,s:i,s:o,s:O?,s:s}", "id", r->rid, "ts", "", "task", e->task,
                            "request", req, "response", resp, "model", e->model, "status", e->status, "usage", usage,
                            "spend", json_object_get(root, "spend"), "source", "litellm");
   if (e->latency_ms >= 0)
      json_object_set_new(norm, "latency_ms", json_real(e->latency_ms));
   r->owned[0] = norm;
   r->messages = json_object_get(req, "messages");
   r->output = json_is_object(resp) ? output_of(resp) : json_is_string(resp) ? xstrdup(json_string_value(resp)) : NULL;
   json_decref(mo);
   json_decref(ro);
   /* e->task points into meta/tags (kept in owned[1..2]) and e->model into root. */
}

static int detect(json_t *root) {
   json_t *resp = json_object_get(root, "response");
   if (json_object_get(root, "custom_id") && json_is_object(json_object_get(resp, "body")))
      return FMT_BATCH;
   if (json_is_object(json_object_get(root, "request")))
      return json_object_get(root, "ts") || json_object_get(root, "arm") ? FMT_EXCHANGE : FMT_OPENAI;
   if (json_is_string(json_object_get(root, "request_id")) &&
       (json_object_get(root, "startTime") || json_object_get(root, "spend") || json_object_get(root, "call_type")))
      return FMT_LITELLM;
   return -1;
}

/* Rough token count when the log has none: ~4 characters per token (OpenAI's rule of
 * thumb for English), plus a few tokens of framing per message. */
static long long estimate_tokens(size_t chars, size_t messages) {
   return (long long)((chars + 3) / 4 + 3 * messages);
}

static void note_unpriced(Importer *im, const char *model) {
   const char *m = model && *model ? model : "(no model)";
   for (int i = 0; i < im->s.nunpriced; i++) {
      if (str_eq(im->s.unpriced[i].model, m)) {
         im->s.unpriced[i].calls++;
         return;
      }
   }
   im->s.unpriced = xrealloc(im->s.unpriced, (im->s.nunpriced + 1) * sizeof *im->s.unpriced);
   im->s.unpriced[im->s.nunpriced++] = (ImportUnpriced){ xstrdup(m), 1 };
}

static const Price *price_of(Importer *im, const char *model) {
   if (!model)
      return NULL;
   if (!im->last_model || !str_eq(im->last_model, model)) {
      free(im->last_model);
      im->last_model = xstrdup(model);
      im->last_price = Prices_match(im->prices, model);
   }
   return im->last_price;
}

static bool commit_chunk(Importer *im, char **err) {
   if (!im->in_tx)
      return true;
   im->in_tx = false;
   im->in_chunk = 0;
   return Store_commit(im->st, err);
}

/* Add one parsed record; false only on a workspace error. */
static bool add_record(Importer *im, json_t *root, const char *text, size_t len, long long line, char **err) {
   int fmt = detect(root);
   if (fmt < 0) {
      malformed(im, line, "not a known record (offramp exchange, OpenAI request/response or Batch output, "
                          "LiteLLM spend log)");
      return true;
   }
   Rec r;
   memset(&r, 0, sizeof r);
   Exchange_init(&r.e);
   if (fmt == FMT_BATCH)
      parse_batch(root, &r);
   else if (fmt == FMT_LITELLM)
      parse_litellm(root, &r);
   else
      parse_pair(root, &r);
   Exchange *e = &r.e;
   char *why = NULL;
   if (e->task && !Task_name_valid(e->task, &why)) {
      malformed(im, line, "task tag: %s", why);
      free(why);
      rec_free(&r);
      return true;
   }
   if (!r.rid[0])
      snprintf(r.rid, sizeof r.rid, "h:%016llx", (unsigned long long)hash64(text, len));
   if (!r.ts[0])
      now_iso8601(r.ts);
   e->rid = r.rid;
   e->ts = r.ts;
   e->output = r.output;

   /* The stored record: the line itself unless it had to be normalised or scrubbed. */
   if (r.owned[0]) {
      json_object_set_new(r.owned[0], "ts", json_string(r.ts));
      r.record = json_dumps(r.owned[0], JSON_COMPACT);
   } else if (scrub(root) || !text) {
      r.record = json_dumps(root, JSON_COMPACT);
   }
   e->record = r.record ? r.record : NULL;
   char *line_copy = NULL;
   if (!e->record) {
      line_copy = xstrndup(text, len);
      e->record = line_copy;
   }

   /* Attribution by fingerprint for untagged calls. */
   Sbuf in_text = { 0 };
   size_t nmsg = json_array_size(r.messages);
   if (nmsg) {
      size_t i;
      json_t *m;
      const char *last_user = NULL;
      json_array_foreach(r.messages, i, m) {
         text_of(json_object_get(m, "content"), &in_text);
         if (str_eq(jstr(m, "role"), "user") && json_is_string(json_object_get(m, "content")))
            last_user = jstr(m, "content");
      }
      if (!e->task) {
         Fingerprint_messages(r.messages, r.fp, NULL);
         e->fingerprint = r.fp;
         if (ExchangeWriter_wants_sample(im->w, r.fp)) {
            Fingerprint_messages(r.messages, r.fp, &r.skeleton);
            e->skeleton = r.skeleton;
            if (last_user) {
               /* The tail is where a template's variable input sits. */
               size_t n = strlen(last_user), from = n > SAMPLE_LEN ? n - SAMPLE_LEN : 0;
               while (from < n && ((unsigned char)last_user[from] & 0xC0) == 0x80)
                  from++;
               r.sample = xasprintf("%s%s", from ? "\xe2\x80\xa6" : "", last_user + from);
               e->sample = r.sample;
            }
         }
      }
   }
   if (e->prompt_tokens < 0 && e->completion_tokens < 0 && (nmsg || r.output)) {
      e->prompt_tokens = nmsg ? estimate_tokens(in_text.len, nmsg) : 0;
      e->completion_tokens = r.output ? estimate_tokens(strlen(r.output), 0) : 0;
      e->tokens_estimated = true;
   }
   Sbuf_free(&in_text);
   const Price *p = price_of(im, e->model);
   if (p)
      e->cost = Price_cost(p, e->prompt_tokens, e->completion_tokens);

   bool ok = true;
   if (!im->in_tx) {
      ok = Store_begin(im->st, err);
      im->in_tx = ok;
   }
   if (ok) {
      int rc = ExchangeWriter_add(im->w, e, err);
      if (rc < 0) {
         ok = false;
      } else if (rc == 0) {
         im->s.duplicates++;
      } else {
         im->s.imported++;
         im->s.by_format[fmt]++;
         im->s.estimated += e->tokens_estimated;
         if (!p && e->arm && !str_eq(e->arm, "candidate"))
            note_unpriced(im, e->model);
      }
      if (ok && ++im->in_chunk >= im->o.chunk)
         ok = commit_chunk(im, err);
   }
   free(line_copy);
   rec_free(&r);
   return ok;
}

/* Whether a header-like name may appear in s: glibc's memmem is fast, case variants are
 * few ("Authorization", "authorization", "AUTHORIZATION"). */
static bool mentions(const char *s, size_t n, const char *lower, const char *upper) {
   return memmem(s, n, lower, strlen(lower)) || memmem(s, n, upper, strlen(upper));
}

/* A tagged record's "request" is most of its bytes and nothing of it is needed (the tag
 * attributes the call, the record is stored as its original text): validate it without
 * building it and parse the other members. NULL when the record does not qualify; the
 * caller then parses the whole line, which also yields the error messages. */
static json_t *load_tagged(const char *line, size_t len) {
   JsonMember m[64];
   int n = Jsonscan_members(line, len, m, (int)ARRAY_SIZE(m));
   int req = -1;
   bool tagged = false, usage = false;
   for (int i = 0; i < n; i++) {
      if (m[i].keylen == 7 && memcmp(m[i].key, "request", 7) == 0)
         req = i;
      else if (m[i].keylen == 5 && memcmp(m[i].key, "usage", 5) == 0)
         usage = true;
      else if (m[i].keylen == 8 && memcmp(m[i].key, "response", 8) == 0)
         usage |= memmem(m[i].val, m[i].vallen, "\"usage\"", 7) != NULL;
      else if (m[i].keylen == 4 && memcmp(m[i].key, "task", 4) == 0)
         tagged = m[i].vallen > 2 && m[i].val[0] == '"';
      else if ((m[i].keylen == 7 && memcmp(m[i].key, "headers", 7) == 0) ||
               (m[i].keylen == 15 && memcmp(m[i].key, "request_headers", 15) == 0) ||
               (m[i].keylen == 7 && memcmp(m[i].key, "api_key", 7) == 0))
         return NULL;   /* credentials may need scrubbing */
   }
   /* Without usage the token estimate needs the request's text. */
   if (n < 0 || !tagged || !usage || req < 0 || mentions(m[req].val, m[req].vallen, "uthorization", "UTHORIZATION") ||
       mentions(m[req].val, m[req].vallen, "pi-key", "PI-KEY"))
      return NULL;
   json_t *root = json_object();
   for (int i = 0; i < n; i++) {
      if (i == req)
         continue;
      json_t *v = json_loadb(m[i].val, m[i].vallen, JSON_DECODE_ANY, NULL);
      char *key = xstrndup(m[i].key, m[i].keylen);
      if (v)
         json_object_set_new(root, key, v);
      free(key);
      if (!v) {
         json_decref(root);
         return NULL;
      }
   }
   /* Detection and the model fallback still see a request object. */
   json_object_set_new(root, "request", json_object());
   return root;
}

static bool do_json_line(Importer *im, const char *line, size_t len, bool newline, char **err) {
   json_error_t je;
   if (memchr(line, '\0', len)) {   /* jansson would read it as the end of the text */
      malformed(im, im->lineno, "contains a NUL byte");
      return true;
   }
   json_t *root = load_tagged(line, len);
   if (!root)
      root = json_loadb(line, len, 0, &je);
   if (!root) {
      if (json_error_code(&je) == json_error_invalid_utf8)
         malformed(im, im->lineno, "not UTF-8 text");
      else if (!newline)
         malformed(im, im->lineno, "truncated: the file ends inside this record (%s)", je.text);
      else
         malformed(im, im->lineno, "invalid JSON at column %d: %s", je.column, je.text);
      return true;
   }
   bool ok = true;
   if (!json_is_object(root))
      malformed(im, im->lineno, "a JSON %s, not an object", json_is_array(root) ? "array" : "value");
   else
      ok = add_record(im, root, line, len, im->lineno, err);
   json_decref(root);
   return ok;
}

/* ---- CSV (LiteLLM's export of LiteLLM_SpendLogs) ---- */

/* Split one RFC 4180 record into fields (in place into out). */
static int csv_fields(const char *s, size_t n, char ***out) {
   int nf = 0, cap = 16;
   char **f = xmalloc(cap * sizeof *f);
   size_t i = 0;
   for (;;) {
      Sbuf sb = { 0 };
      Sbuf_add(&sb, "", 0);
      if (i < n && s[i] == '"') {
         i++;
         while (i < n) {
            if (s[i] == '"') {
               if (i + 1 < n && s[i + 1] == '"') {
                  Sbuf_putc(&sb, '"');
                  i += 2;
                  continue;
               }
               i++;
               break;
            }
            Sbuf_putc(&sb, s[i++]);
         }
         while (i < n && s[i] != ',')
            i++;
      } else {
         size_t j = i;
         while (j < n && s[j] != ',')
            j++;
         Sbuf_add(&sb, s + i, j - i);
         i = j;
      }
      if (nf == cap) {
         cap *= 2;
         f = xrealloc(f, cap * sizeof *f);
      }
      f[nf++] = Sbuf_steal(&sb);
      if (i >= n)
         break;
      i++;   /* the comma */
   }
   *out = f;
   return nf;
}

static void free_fields(char **f, int n) {
   for (int i = 0; i < n; i++)
      free(f[i]);
   free(f);
}

static bool csv_header(Importer *im, const char *line, size_t len) {
   if (len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
      line += 3;
      len -= 3;
   }
   free_cols(im);
   im->ncols = csv_fields(line, len, &im->cols);
   for (int i = 0; i < im->ncols; i++) {
      str_trim(im->cols[i]);
      if (str_eq(im->cols[i], "request_id"))
         return true;
   }
   return false;
}

static json_t *csv_value(const char *col, const char *v) {
   static const char *const numeric[] = { "spend", "total_tokens", "prompt_tokens", "completion_tokens" };
   for (size_t i = 0; i < ARRAY_SIZE(numeric); i++) {
      if (str_eq(col, numeric[i])) {
         long l;
         double d;
         if (parse_long(v, &l))
            return json_integer(l);
         if (parse_double(v, &d))
            return json_real(d);
      }
   }
   return json_string(v);   /* NULL when not UTF-8; JSON-in-strings are decoded later */
}

static bool do_csv_record(Importer *im, const char *rec, size_t len, long long line, char **err) {
   char **f;
   int nf = csv_fields(rec, len, &f);
   if (nf != im->ncols) {
      malformed(im, line, "%d CSV fields, the header has %d", nf, im->ncols);
      free_fields(f, nf);
      return true;
   }
   json_t *root = json_object();
   bool utf8 = true;
   for (int i = 0; i < nf && utf8; i++) {
      if (!*f[i])
         continue;
      json_t *v = csv_value(im->cols[i], f[i]);
      utf8 = v != NULL;
      json_object_set_new(root, im->cols[i], v);
   }
   free_fields(f, nf);
   bool ok = true;
   if (!utf8)
      malformed(im, line, "not UTF-8 text");
   else
      ok = add_record(im, root, rec, len, line, err);
   json_decref(root);
   return ok;
}

/* Whether the record so far ends inside a quoted field. */
static bool csv_open_quote(const char *s, size_t n) {
   bool in = false;
   for (size_t i = 0; i < n; i++) {
      if (s[i] == '"')
         in = !in;
   }
   return in;
}

/* ---- progress ---- */

static void draw_progress(Importer *im, Reader *r, bool final) {
   double now = mono_seconds();
   if (!final && now - im->last_draw < 0.2)
      return;
   im->last_draw = now;
   double el = now - im->t0;
   double mb = (double)(im->s.bytes - im->src_bytes) / 1e6;
   char rows[32], pct[16] = "";
   if (r->size > 0 && r->gz) {
      double done = (double)gzoffset(r->gz) / (double)r->size;
      snprintf(pct, sizeof pct, "%3.0f %% ", 100 * (done > 1 ? 1 : done));
   }
   fprintf(stderr, "\r\033[K%s  %s%.1f MB  %.1f MB/s  %s rows%s", im->name, pct, mb, el > 0 ? mb / el : 0,
           fmt_count(rows, sizeof rows, im->s.rows), final ? "\n" : "");
   fflush(stderr);
}

/* ---- sources ---- */

static bool import_reader(Importer *im, Reader *r, char **err) {
   im->csv = false;
   free_cols(im);
   im->t0 = mono_seconds();
   im->last_draw = 0;
   im->src_bytes = im->s.bytes;
   r->cap = READ_CHUNK < im->o.max_record + 1 ? READ_CHUNK : im->o.max_record + 1;
   r->buf = xmalloc(r->cap);
   Sbuf rec = { 0 };
   long long rec_line = 0;
   bool first = true, ok = true;
   const char *line;
   size_t len;
   bool newline;
   int rc;
   while (ok && (rc = reader_line(r, im, &line, &len, &newline)) != LINE_EOF) {
      if (rc == LINE_ERROR) {
         int zerr;
         *err = xasprintf("reading %s: %s", im->name, r->gz ? gzerror(r->gz, &zerr) : "read error");
         ok = false;
         break;
      }
      im->lineno = r->lineno;
      if (rc == LINE_LONG) {
         im->s.rows++;
         malformed(im, r->lineno, "%s bytes, over the %zu MB record limit (raise --max-record)",
                   fmt_count((char[32]){ 0 }, 32, (long long)len), im->o.max_record >> 20);
         continue;
      }
      if (first) {
         first = false;
         size_t k = len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
         while (k < len && (line[k] == ' ' || line[k] == '\t'))
            k++;
         if (k < len && line[k] != '{' && line[k] != '[' && memmem(line, len, "request_id", 10)) {
            im->csv = csv_header(im, line, len);
            continue;
         }
      }
      if (im->csv) {
         if (!rec.len)
            rec_line = r->lineno;
         else
            Sbuf_putc(&rec, '\n');
         Sbuf_add(&rec, line, len);
         if (rec.len > im->o.max_record) {
            im->s.rows++;
            malformed(im, rec_line, "CSV record over the %zu MB record limit", im->o.max_record >> 20);
            Sbuf_reset(&rec);
            continue;
         }
         if (csv_open_quote(rec.buf, rec.len) && newline)
            continue;
         bool blank = rec.len == 0;
         if (!blank) {
            im->s.rows++;
            if (csv_open_quote(rec.buf, rec.len))
               malformed(im, rec_line, "truncated: the file ends inside a quoted CSV field");
            else
               ok = do_csv_record(im, rec.buf, rec.len, rec_line, err);
         }
         Sbuf_reset(&rec);
      } else {
         size_t k = 0;
         while (k < len && (line[k] == ' ' || line[k] == '\t'))
            k++;
         if (k == len)
            continue;
         im->s.rows++;
         ok = do_json_line(im, line, len, newline, err);
      }
      if (im->o.progress)
         draw_progress(im, r, false);
   }
   if (ok && rec.len) {   /* the file ended inside a quoted field: its last line had a newline */
      im->s.rows++;
      malformed(im, rec_line, "truncated: the file ends inside a quoted CSV field");
   }
   Sbuf_free(&rec);
   free(r->buf);
   if (ok) {
      ok = commit_chunk(im, err);
   } else {
      Store_rollback(im->st);
      im->in_tx = false;
   }
   if (im->o.progress)
      draw_progress(im, r, true);
   im->s.seconds += mono_seconds() - im->t0;
   return ok;
}

bool Importer_file(Importer *im, const char *path, char **err) {
   Reader r = { 0 };
   int fd = str_eq(path, "-") ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
   if (fd < 0) {
      *err = xasprintf("cannot read %s: %s", path, strerror(errno));
      return false;
   }
   struct stat sb;
   if (fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
      close(fd);
      *err = xasprintf("%s is a directory (pass log files)", path);
      return false;
   }
   if (S_ISREG(sb.st_mode))
      r.size = sb.st_size;
   r.gz = gzdopen(fd, "rb");
   if (!r.gz) {
      close(fd);
      *err = xasprintf("cannot read %s: out of memory", path);
      return false;
   }
   gzbuffer(r.gz, READ_CHUNK);
   im->name = str_eq(path, "-") ? "stdin" : path;
   bool ok = import_reader(im, &r, err);
   gzclose(r.gz);
   return ok;
}

bool Importer_buffer(Importer *im, const char *name, const char *data, size_t len, char **err) {
   Reader r = { 0 };
   r.mem = data;
   r.memlen = len;
   im->name = name;
   return import_reader(im, &r, err);
}

void ImportStats_print(const ImportStats *s, FILE *out) {
   char a[32], b[32], c[32], d[32];
   fprintf(out, "%s rows read, %s imported, %s duplicates skipped, %s malformed", fmt_count(a, sizeof a, s->rows),
           fmt_count(b, sizeof b, s->imported), fmt_count(c, sizeof c, s->duplicates),
           fmt_count(d, sizeof d, s->malformed));
   if (s->seconds > 0)
      fprintf(out, " (%.1f MB in %.1f s, %.1f MB/s)", (double)s->bytes / 1e6, s->seconds,
              (double)s->bytes / 1e6 / s->seconds);
   fputc('\n', out);
   for (int i = 0; i < 4; i++) {
      if (s->by_format[i])
         fprintf(out, "  %s: %s\n", Import_format_names[i], fmt_count(a, sizeof a, s->by_format[i]));
   }
   for (int i = 0; i < s->nerrors; i++)
      fprintf(out, "  malformed %s\n", s->errors[i]);
   if (s->malformed > s->nerrors)
      fprintf(out, "  ... and %s more malformed records (the first %d are shown)\n",
              fmt_count(a, sizeof a, s->malformed - s->nerrors), s->nerrors);
   for (int i = 0; i < s->nunpriced; i++)
      fprintf(out, "unpriced: %s calls of model %s (add a price: offramp prices set '%s' IN OUT)\n",
              fmt_count(a, sizeof a, s->unpriced[i].calls), s->unpriced[i].model, s->unpriced[i].model);
   if (s->estimated)
      fprintf(out, "estimated tokens: %s calls had no usage; their tokens are estimated (~4 characters per token)\n",
              fmt_count(a, sizeof a, s->estimated));
}
