/* demologs.c - generator of demo-scale exchange records for `offramp demo-logs`.
 *
 * The text comes from templates in the JSON files of share/demo ("{slot}" picks from a vocabulary list, a
 * built-in generator such as {order} or {amount}, or a value the feature sets per call such as
 * {ticket}). Everything is pre-escaped for JSON when the templates are loaded, so writing a
 * record is mostly memcpy: the generator has to produce a gigabyte in seconds. One
 * xoshiro256** stream drives every choice, in a fixed order, so a seed reproduces the bytes.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "demo/demologs.h"

/* ------------------------------------------------------------------ random numbers */

typedef struct {
   uint64_t s[4];
} Rng;

static void Rng_seed(Rng *r, uint64_t seed) {
   for (int i = 0; i < 4; i++)
      r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) {
   return (x << k) | (x >> (64 - k));
}

static inline uint64_t Rng_next(Rng *r) {
   uint64_t *s = r->s;
   uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
   s[2] ^= s[0];
   s[3] ^= s[1];
   s[1] ^= s[2];
   s[0] ^= s[3];
   s[2] ^= t;
   s[3] = rotl(s[3], 45);
   return result;
}

static inline uint32_t Rng_below(Rng *r, uint32_t n) {
   return (uint32_t)(((Rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static inline uint32_t Rng_range(Rng *r, uint32_t lo, uint32_t hi) {
   return lo + Rng_below(r, hi - lo + 1);
}

static inline double Rng_unit(Rng *r) {
   return (double)(Rng_next(r) >> 11) * 0x1.0p-53;
}

static inline bool Rng_chance(Rng *r, double p) {
   return Rng_unit(r) < p;
}

static double Rng_normal(Rng *r) {
   double u1 = Rng_unit(r), u2 = Rng_unit(r);
   if (u1 < 1e-300)
      u1 = 1e-300;
   return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double Rng_lognormal(Rng *r, double median, double sigma) {
   return median * exp(sigma * Rng_normal(r));
}

/* A count with mean m: Poisson for small means, its normal approximation above. */
static uint32_t Rng_count(Rng *r, double m) {
   if (m <= 0)
      return 0;
   if (m < 40) {
      double l = exp(-m), p = 1.0;
      uint32_t k = 0;
      do {
         k++;
         p *= Rng_unit(r);
      } while (p > l);
      return k - 1;
   }
   double v = m + sqrt(m) * Rng_normal(r);
   return v < 0 ? 0 : (uint32_t)(v + 0.5);
}

/* ------------------------------------------------------------------ output text */

/* JSON text that is already escaped; raw counts the characters of *content* it holds, which
 * is what token counts are estimated from (syntax added with Buf_syn does not count). */
typedef struct {
   char *p;
   size_t len, cap, raw;
} Buf;

static void Buf_grow(Buf *b, size_t n) {
   size_t cap = b->cap ? b->cap : 4096;
   while (cap < b->len + n + 1)
      cap *= 2;
   b->p = xrealloc(b->p, cap);
   b->cap = cap;
}

static inline void Buf_syn(Buf *b, const char *s, size_t n) {
   if (b->len + n + 1 > b->cap)
      Buf_grow(b, n);
   memcpy(b->p + b->len, s, n);
   b->len += n;
}

#define SYN(b, lit) Buf_syn((b), (lit), sizeof(lit) - 1)

static inline void Buf_text(Buf *b, const char *s, size_t n, size_t raw) {
   Buf_syn(b, s, n);
   b->raw += raw;
}

static inline void Buf_str(Buf *b, const char *s) {
   Buf_syn(b, s, strlen(s));
}

static void Buf_clear(Buf *b) {
   b->len = b->raw = 0;
}

static void Buf_free(Buf *b) {
   free(b->p);
   memset(b, 0, sizeof *b);
}

static size_t fmt_u64(char *d, uint64_t v) {
   char t[24];
   size_t n = 0;
   do {
      t[n++] = (char)('0' + v % 10);
      v /= 10;
   } while (v);
   for (size_t i = 0; i < n; i++)
      d[i] = t[n - 1 - i];
   return n;
}

static void Buf_u64(Buf *b, uint64_t v) {
   char t[24];
   Buf_syn(b, t, fmt_u64(t, v));
}

/* Zero-padded decimal as content text. */
static void Buf_pad(Buf *b, uint64_t v, int width) {
   char t[24];
   size_t n = fmt_u64(t, v);
   for (int i = (int)n; i < width; i++)
      Buf_text(b, "0", 1, 1);
   Buf_text(b, t, n, n);
}

static void Buf_num(Buf *b, uint64_t v) {
   char t[24];
   size_t n = fmt_u64(t, v);
   Buf_text(b, t, n, n);
}

/* "1,284" */
static void Buf_thousands(Buf *b, uint64_t v) {
   char t[24];
   size_t n = fmt_u64(t, v);
   for (size_t i = 0; i < n; i++) {
      if (i && (n - i) % 3 == 0)
         Buf_text(b, ",", 1, 1);
      Buf_text(b, t + i, 1, 1);
   }
}

/* Fixed-point with one decimal, as JSON syntax ("412.5"). */
static void Buf_dec1(Buf *b, double v) {
   uint64_t t = (uint64_t)(v * 10.0 + 0.5);
   Buf_u64(b, t / 10);
   char d[2] = { '.', (char)('0' + t % 10) };
   Buf_syn(b, d, 2);
}

static void json_escape(Sbuf *out, const char *s, size_t n) {
   static const char hex[] = "0123456789abcdef";
   for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)s[i];
      switch (c) {
      case '"':
         Sbuf_add(out, "\\\"", 2);
         break;
      case '\\':
         Sbuf_add(out, "\\\\", 2);
         break;
      case '\n':
         Sbuf_add(out, "\\n", 2);
         break;
      case '\t':
         Sbuf_add(out, "\\t", 2);
         break;
      case '\r':
         Sbuf_add(out, "\\r", 2);
         break;
      default:
         if (c < 0x20) {
            char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            Sbuf_add(out, u, 6);
         } else {
            Sbuf_add(out, (const char *)&s[i], 1);
         }
      }
   }
}

/* Characters (not bytes) of UTF-8 text, the unit token estimates are made in. */
static size_t u8_chars(const char *s, size_t n) {
   size_t c = 0;
   for (size_t i = 0; i < n; i++)
      c += ((unsigned char)s[i] & 0xc0) != 0x80;
   return c;
}

/* ------------------------------------------------------------------ templates */

enum {
   SLOT_LIT = 0,
   BI_ORDER, BI_AMOUNT, BI_SMALL, BI_NUM, BI_DAYS, BI_HOURS, BI_QTY, BI_PCT, BI_CARD4, BI_YEAR,
   BI_DATE, BI_TIME, BI_PHONE, BI_ZIP, BI_REF, BI_TRACKING, BI_INVOICE, BI_VERSION, BI_CODE,
   BI_EMAIL, BI_COUNT,
   SLOT_DYN = 64,
   SLOT_LIST = 128,
};

static const char *const builtin_names[] = {
   [BI_ORDER] = "order", [BI_AMOUNT] = "amount", [BI_SMALL] = "small", [BI_NUM] = "num",
   [BI_DAYS] = "days", [BI_HOURS] = "hours", [BI_QTY] = "qty", [BI_PCT] = "pct",
   [BI_CARD4] = "card4", [BI_YEAR] = "year", [BI_DATE] = "date", [BI_TIME] = "time",
   [BI_PHONE] = "phone", [BI_ZIP] = "zip", [BI_REF] = "ref", [BI_TRACKING] = "tracking",
   [BI_INVOICE] = "invoice", [BI_VERSION] = "version", [BI_CODE] = "code", [BI_EMAIL] = "email",
   [BI_COUNT] = "count",
};

/* Values a feature sets for each call. */
enum {
   DYN_CUST_FIRST, DYN_CUST_LAST, DYN_CUST_EMAIL, DYN_CUST_PLAN, DYN_CUST_SINCE, DYN_ORDERS,
   DYN_TODAY, DYN_TICKET, DYN_CONVERSATION, DYN_WEEK, DYN_METRICS, DYN_SAMPLES, DYN_CAT, DYN_CAT2,
   DYN_TOTAL, DYN_CHANGE, DYN_X_NAME, DYN_X_ORDER, DYN_X_DATE, DYN_X_AMOUNT, DYN_X_PRODUCT, NDYN
};

static const char *const dyn_names[NDYN] = {
   "cust_first", "cust_last", "cust_email", "cust_plan", "cust_since", "orders", "today", "ticket",
   "conversation", "week", "metrics", "samples", "cat", "cat2", "total", "change", "x_name", "x_order", "x_date",
   "x_amount", "x_product",
};

typedef struct {
   uint32_t slot, off, len, raw;
} Seg;

typedef struct {
   uint32_t first, n;
} Tpl;

/* A list of templates, one picked at random. */
typedef struct {
   uint32_t first, n;
} Pool;

typedef struct {
   char *name;
   json_t *src;
   const char *file;
   Pool pool;
} List;

typedef struct {
   Sbuf text; /* escaped literals */
   Seg *segs;
   size_t nsegs, capsegs;
   Tpl *tpls;
   size_t ntpls, captpls;
   List *lists;
   size_t nlists;
} Lib;

static int Lib_list(const Lib *L, const char *name, size_t n) {
   for (size_t i = 0; i < L->nlists; i++)
      if (strlen(L->lists[i].name) == n && memcmp(L->lists[i].name, name, n) == 0)
         return (int)i;
   return -1;
}

static void Lib_seg(Lib *L, Seg s) {
   if (L->nsegs == L->capsegs) {
      L->capsegs = L->capsegs ? L->capsegs * 2 : 1024;
      L->segs = xrealloc(L->segs, L->capsegs * sizeof *L->segs);
   }
   L->segs[L->nsegs++] = s;
}

static void Lib_literal(Lib *L, const char *s, size_t n) {
   if (!n)
      return;
   size_t off = L->text.len;
   json_escape(&L->text, s, n);
   Lib_seg(L, (Seg){ SLOT_LIT, (uint32_t)off, (uint32_t)(L->text.len - off), (uint32_t)u8_chars(s, n) });
}

static bool Lib_compile(Lib *L, const char *s, Tpl *out, const char *where, char **err) {
   out->first = (uint32_t)L->nsegs;
   const char *lit = s, *p = s;
   while (*p) {
      if (*p != '{') {
         p++;
         continue;
      }
      const char *e = strchr(p, '}');
      if (!e) {
         *err = xasprintf("%s: unclosed \"{\" in \"%.60s\"", where, s);
         return false;
      }
      Lib_literal(L, lit, (size_t)(p - lit));
      const char *name = p + 1;
      size_t n = (size_t)(e - name);
      uint32_t slot = 0;
      for (size_t i = 1; i < ARRAY_SIZE(builtin_names); i++)
         if (builtin_names[i] && strlen(builtin_names[i]) == n && memcmp(builtin_names[i], name, n) == 0)
            slot = (uint32_t)i;
      for (size_t i = 0; !slot && i < NDYN; i++)
         if (strlen(dyn_names[i]) == n && memcmp(dyn_names[i], name, n) == 0)
            slot = SLOT_DYN + (uint32_t)i;
      int li;
      if (!slot && (li = Lib_list(L, name, n)) >= 0)
         slot = SLOT_LIST + (uint32_t)li;
      if (!slot) {
         *err = xasprintf("%s: unknown slot {%.*s} (add a list of that name to vocab.json)", where,
                          (int)n, name);
         return false;
      }
      Lib_seg(L, (Seg){ slot, 0, 0, 0 });
      p = lit = e + 1;
   }
   Lib_literal(L, lit, (size_t)(p - lit));
   out->n = (uint32_t)(L->nsegs - out->first);
   return true;
}

static bool Lib_pool(Lib *L, json_t *arr, Pool *out, const char *where, char **err) {
   if (!json_is_array(arr) || json_array_size(arr) == 0) {
      *err = xasprintf("%s: expected a non-empty array of strings", where);
      return false;
   }
   size_t n = json_array_size(arr);
   if (L->ntpls + n > L->captpls) {
      while (L->ntpls + n > L->captpls)
         L->captpls = L->captpls ? L->captpls * 2 : 1024;
      L->tpls = xrealloc(L->tpls, L->captpls * sizeof *L->tpls);
   }
   out->first = (uint32_t)L->ntpls;
   out->n = (uint32_t)n;
   L->ntpls += n;
   for (size_t i = 0; i < n; i++) {
      const char *s = json_string_value(json_array_get(arr, i));
      if (!s) {
         *err = xasprintf("%s[%zu]: expected a string", where, i);
         return false;
      }
      if (!Lib_compile(L, s, &L->tpls[out->first + i], where, err))
         return false;
   }
   return true;
}

static void Lib_free(Lib *L) {
   Sbuf_free(&L->text);
   free(L->segs);
   free(L->tpls);
   for (size_t i = 0; i < L->nlists; i++)
      free(L->lists[i].name);
   free(L->lists);
   memset(L, 0, sizeof *L);
}

/* ------------------------------------------------------------------ demo data */

#define MAX_LABELS 16
#define MAX_INTENTS 24

typedef struct {
   const char *name; /* owned by the json document */
   uint32_t esc_len;
   double cum;       /* cumulative weight, for picking */
   int confusion[MAX_LABELS], nconfusion;
} Label;

typedef struct {
   Tpl sys, user;
   Label labels[MAX_LABELS];
   int nlabels;
   Pool subject[MAX_LABELS], body[MAX_LABELS], detail[MAX_LABELS];
   Pool opener, closer, signoff, context;
   int first[MAX_LABELS]; /* rank in "first": of two topics, the API answers the lower rank */
} Tickets;

typedef struct {
   Tpl sys;
   Label labels[MAX_LABELS];
   int nlabels;
   Pool text[MAX_LABELS];
   Pool greeting, fact, signoff;
} Tone;

typedef struct {
   const char *name;
   double cum;
   Pool open, reply1;
   Pool turn_customer, turn_agent; /* parallel: an agent answer per customer follow-up */
   Pool problem, tried, next; /* summary bullets */
} Intent;

typedef struct {
   Tpl sys;
   Intent intents[MAX_INTENTS];
   int nintents;
   Pool thanks, close, extra;
   Tpl sum_sys, sum_user;
} Chat;

typedef struct {
   Tpl sys, user;
   Pool summary, driver, evidence, emerging, recommendation, caveat;
} Analysis;

/* Extraction: the message's parts; which fields a message has follows from the parts picked. */
typedef struct {
   Tpl sys;
   Pool greeting, intro, main, more[4], context, signoff_name, signoff;
} Extraction;

typedef struct {
   Tpl sys, user;
   Pool asks[MAX_LABELS]; /* per ticket category, in tickets.json's label order */
} Rewrite;

typedef struct {
   Lib lib;
   json_t *docs[8];
   Tickets tickets;
   Tone tone;
   Chat chat;
   Analysis analysis;
   Extraction extraction;
   Rewrite rewrite;
   int list_first, list_last, list_plan, list_month, list_product, list_carrier, list_city;
} Data;

static const char *const data_files[] = { "vocab", "tickets", "tone", "chat", "summary", "analysis", "extraction",
                                          "rewrite" };
enum { DOC_VOCAB, DOC_TICKETS, DOC_TONE, DOC_CHAT, DOC_SUMMARY, DOC_ANALYSIS, DOC_EXTRACTION, DOC_REWRITE };

static bool get_tpl(Data *D, json_t *obj, const char *key, const char *file, Tpl *out, char **err) {
   const char *s = json_string_value(json_object_get(obj, key));
   char *where = xasprintf("%s: \"%s\"", file, key);
   bool ok = s ? Lib_compile(&D->lib, s, out, where, err) : false;
   if (!s)
      *err = xasprintf("%s must be a string", where);
   free(where);
   return ok;
}

static bool get_pool(Data *D, json_t *obj, const char *key, const char *file, Pool *out, char **err) {
   char *where = xasprintf("%s: \"%s\"", file, key);
   bool ok = Lib_pool(&D->lib, json_object_get(obj, key), out, where, err);
   free(where);
   return ok;
}

/* labels, weights and confusion of a label task */
static bool get_labels(json_t *doc, const char *file, Label *labels, int *nlabels, char **err) {
   json_t *names = json_object_get(doc, "labels"), *weights = json_object_get(doc, "weights");
   json_t *conf = json_object_get(doc, "confusion");
   size_t n = json_array_size(names);
   if (n < 2 || n > MAX_LABELS || json_array_size(weights) != n || !json_is_object(conf)) {
      *err = xasprintf("%s: needs \"labels\" (2..%d), \"weights\" of the same length and \"confusion\"",
                       file, MAX_LABELS);
      return false;
   }
   double cum = 0;
   for (size_t i = 0; i < n; i++) {
      Label *l = &labels[i];
      l->name = json_string_value(json_array_get(names, i));
      if (!l->name || strspn(l->name, "abcdefghijklmnopqrstuvwxyz_") != strlen(l->name)) {
         *err = xasprintf("%s: label %zu must be a lowercase word", file, i);
         return false;
      }
      l->esc_len = (uint32_t)strlen(l->name);
      cum += json_number_value(json_array_get(weights, i));
      l->cum = cum;
   }
   for (size_t i = 0; i < n; i++) {
      json_t *c = json_object_get(conf, labels[i].name);
      labels[i].nconfusion = 0;
      for (size_t k = 0; k < json_array_size(c) && k < MAX_LABELS; k++) {
         const char *s = json_string_value(json_array_get(c, k));
         for (size_t j = 0; s && j < n; j++)
            if (strcmp(s, labels[j].name) == 0)
               labels[i].confusion[labels[i].nconfusion++] = (int)j;
      }
      if (!labels[i].nconfusion) {
         *err = xasprintf("%s: \"confusion\" has no known labels for \"%s\"", file, labels[i].name);
         return false;
      }
   }
   if (cum <= 0) {
      *err = xasprintf("%s: \"weights\" must be positive", file);
      return false;
   }
   *nlabels = (int)n;
   return true;
}

/* "first": every label once, the order a ticket's topics are resolved in */
static bool get_first(json_t *doc, const char *file, const Label *labels, int nlabels, int *rank, char **err) {
   json_t *first = json_object_get(doc, "first");
   for (int i = 0; i < nlabels; i++)
      rank[i] = -1;
   for (size_t k = 0; k < json_array_size(first); k++) {
      const char *s = json_string_value(json_array_get(first, k));
      for (int i = 0; s && i < nlabels; i++)
         if (strcmp(s, labels[i].name) == 0 && rank[i] < 0)
            rank[i] = (int)k;
   }
   for (int i = 0; i < nlabels; i++) {
      if (rank[i] < 0 || json_array_size(first) != (size_t)nlabels) {
         *err = xasprintf("%s: \"first\" must list every label once (\"%s\" is %s)", file, labels[i].name,
                          rank[i] < 0 ? "missing" : "there, but so is something else");
         return false;
      }
   }
   return true;
}

static bool Data_load(Data *D, const char *share, char **err) {
   char *files[ARRAY_SIZE(data_files)];
   for (size_t i = 0; i < ARRAY_SIZE(data_files); i++) {
      files[i] = xasprintf("%s/demo/%s.json", share, data_files[i]);
      json_error_t je;
      D->docs[i] = json_load_file(files[i], 0, &je);
      if (!D->docs[i]) {
         if (je.line < 0)
            *err = xasprintf("%s (point --share or OFFRAMP_SHARE at offramp's share directory)", je.text);
         else
            *err = xasprintf("%s:%d: %s", files[i], je.line, je.text);
         for (size_t k = 0; k <= i; k++)
            free(files[k]);
         return false;
      }
   }
   bool ok = false;
   Lib *L = &D->lib;

   /* every file may add vocabulary; names are known before any template is compiled */
   for (size_t i = 0; i < ARRAY_SIZE(data_files); i++) {
      json_t *vocab = json_object_get(D->docs[i], "vocab");
      const char *key;
      json_t *val;
      json_object_foreach(vocab, key, val) {
         if (Lib_list(L, key, strlen(key)) >= 0) {
            *err = xasprintf("%s: vocabulary list \"%s\" is defined twice", files[i], key);
            goto out;
         }
         L->lists = xrealloc(L->lists, (L->nlists + 1) * sizeof *L->lists);
         L->lists[L->nlists++] = (List){ .name = xstrdup(key), .src = val, .file = data_files[i] };
      }
   }
   for (size_t i = 0; i < L->nlists; i++) {
      char *where = xasprintf("%s: vocab \"%s\"", files[0], L->lists[i].name);
      bool lok = Lib_pool(L, L->lists[i].src, &L->lists[i].pool, where, err);
      free(where);
      if (!lok)
         goto out;
   }
   static const char *const needed[] = { "first", "last", "plan", "month", "product", "carrier", "city" };
   int *idx[] = { &D->list_first, &D->list_last, &D->list_plan, &D->list_month, &D->list_product,
                  &D->list_carrier, &D->list_city };
   for (size_t i = 0; i < ARRAY_SIZE(needed); i++)
      if ((*idx[i] = Lib_list(L, needed[i], strlen(needed[i]))) < 0) {
         *err = xasprintf("%s: vocabulary list \"%s\" is missing", files[DOC_VOCAB], needed[i]);
         goto out;
      }

   /* tickets */
   Tickets *T = &D->tickets;
   json_t *doc = D->docs[DOC_TICKETS];
   const char *f = files[DOC_TICKETS];
   if (!get_tpl(D, doc, "system", f, &T->sys, err) || !get_tpl(D, doc, "user", f, &T->user, err)
       || !get_labels(doc, f, T->labels, &T->nlabels, err) || !get_first(doc, f, T->labels, T->nlabels, T->first, err)
       || !get_pool(D, doc, "opener", f, &T->opener, err)
       || !get_pool(D, doc, "closer", f, &T->closer, err) || !get_pool(D, doc, "signoff", f, &T->signoff, err)
       || !get_pool(D, doc, "context", f, &T->context, err))
      goto out;
   for (int i = 0; i < T->nlabels; i++) {
      json_t *t = json_object_get(json_object_get(doc, "tickets"), T->labels[i].name);
      char *w = xasprintf("%s: tickets.%s", f, T->labels[i].name);
      bool tok = get_pool(D, t, "subject", w, &T->subject[i], err) && get_pool(D, t, "body", w, &T->body[i], err)
                 && get_pool(D, t, "detail", w, &T->detail[i], err);
      free(w);
      if (!tok)
         goto out;
   }

   /* tone */
   Tone *O = &D->tone;
   doc = D->docs[DOC_TONE];
   f = files[DOC_TONE];
   if (!get_tpl(D, doc, "system", f, &O->sys, err) || !get_labels(doc, f, O->labels, &O->nlabels, err)
       || !get_pool(D, doc, "greeting", f, &O->greeting, err) || !get_pool(D, doc, "fact", f, &O->fact, err)
       || !get_pool(D, doc, "signoff", f, &O->signoff, err))
      goto out;
   for (int i = 0; i < O->nlabels; i++)
      if (!get_pool(D, json_object_get(doc, "tones"), O->labels[i].name, f, &O->text[i], err))
         goto out;

   /* chat and summary share the intents */
   Chat *C = &D->chat;
   doc = D->docs[DOC_CHAT];
   f = files[DOC_CHAT];
   if (!get_tpl(D, doc, "system", f, &C->sys, err) || !get_pool(D, doc, "thanks", f, &C->thanks, err)
       || !get_pool(D, doc, "close", f, &C->close, err) || !get_pool(D, doc, "extra", f, &C->extra, err))
      goto out;
   json_t *bullets = json_object_get(D->docs[DOC_SUMMARY], "bullets");
   const char *iname;
   json_t *it;
   double cum = 0;
   json_object_foreach(json_object_get(doc, "intents"), iname, it) {
      if (C->nintents == MAX_INTENTS) {
         *err = xasprintf("%s: more than %d intents", f, MAX_INTENTS);
         goto out;
      }
      Intent *in = &C->intents[C->nintents++];
      in->name = iname;
      cum += json_number_value(json_object_get(it, "weight"));
      in->cum = cum;
      char *w = xasprintf("%s: intents.%s", f, iname);
      char *ws = xasprintf("%s: bullets.%s", files[DOC_SUMMARY], iname);
      json_t *b = json_object_get(bullets, iname);
      json_t *turns = json_object_get(it, "turns");
      json_t *tc = json_array(), *ta = json_array();
      size_t ti;
      json_t *pair;
      json_array_foreach(turns, ti, pair) {
         json_array_append(tc, json_array_get(pair, 0));
         json_array_append(ta, json_array_get(pair, 1));
      }
      bool iok = get_pool(D, it, "open", w, &in->open, err) && get_pool(D, it, "reply1", w, &in->reply1, err)
                 && Lib_pool(&D->lib, tc, &in->turn_customer, w, err)
                 && Lib_pool(&D->lib, ta, &in->turn_agent, w, err)
                 && get_pool(D, b, "problem", ws, &in->problem, err) && get_pool(D, b, "tried", ws, &in->tried, err)
                 && get_pool(D, b, "next", ws, &in->next, err);
      if (iok && (json_array_size(tc) != json_array_size(turns) || json_array_size(ta) != json_array_size(turns))) {
         *err = xasprintf("%s: \"turns\" must be [customer, assistant] pairs of strings", w);
         iok = false;
      }
      json_decref(tc);
      json_decref(ta);
      free(w);
      free(ws);
      if (!iok)
         goto out;
   }
   if (C->nintents == 0 || cum <= 0) {
      *err = xasprintf("%s: \"intents\" is empty or has no weight", f);
      goto out;
   }
   if (!get_tpl(D, D->docs[DOC_SUMMARY], "system", files[DOC_SUMMARY], &C->sum_sys, err)
       || !get_tpl(D, D->docs[DOC_SUMMARY], "user", files[DOC_SUMMARY], &C->sum_user, err))
      goto out;

   /* analysis */
   Analysis *A = &D->analysis;
   doc = D->docs[DOC_ANALYSIS];
   f = files[DOC_ANALYSIS];
   if (!get_tpl(D, doc, "system", f, &A->sys, err) || !get_tpl(D, doc, "user", f, &A->user, err)
       || !get_pool(D, doc, "summary", f, &A->summary, err) || !get_pool(D, doc, "driver", f, &A->driver, err)
       || !get_pool(D, doc, "evidence", f, &A->evidence, err)
       || !get_pool(D, doc, "emerging", f, &A->emerging, err)
       || !get_pool(D, doc, "recommendation", f, &A->recommendation, err)
       || !get_pool(D, doc, "caveat", f, &A->caveat, err))
      goto out;

   /* extraction */
   Extraction *X = &D->extraction;
   doc = D->docs[DOC_EXTRACTION];
   f = files[DOC_EXTRACTION];
   static const char *const more[4] = { "more_order", "more_date", "more_amount", "more_product" };
   if (!get_tpl(D, doc, "system", f, &X->sys, err) || !get_pool(D, doc, "greeting", f, &X->greeting, err)
       || !get_pool(D, doc, "intro", f, &X->intro, err) || !get_pool(D, doc, "main", f, &X->main, err)
       || !get_pool(D, doc, "context", f, &X->context, err)
       || !get_pool(D, doc, "signoff_name", f, &X->signoff_name, err)
       || !get_pool(D, doc, "signoff", f, &X->signoff, err))
      goto out;
   for (int i = 0; i < 4; i++)
      if (!get_pool(D, doc, more[i], f, &X->more[i], err))
         goto out;

   /* rewrite: the tickets' categories */
   Rewrite *R = &D->rewrite;
   doc = D->docs[DOC_REWRITE];
   f = files[DOC_REWRITE];
   if (!get_tpl(D, doc, "system", f, &R->sys, err) || !get_tpl(D, doc, "user", f, &R->user, err))
      goto out;
   for (int i = 0; i < T->nlabels; i++) {
      char *w = xasprintf("%s: asks", f);
      bool aok = get_pool(D, json_object_get(doc, "asks"), T->labels[i].name, w, &R->asks[i], err);
      free(w);
      if (!aok)
         goto out;
   }
   ok = true;
out:
   for (size_t i = 0; i < ARRAY_SIZE(data_files); i++)
      free(files[i]);
   return ok;
}

static void Data_free(Data *D) {
   Lib_free(&D->lib);
   for (size_t i = 0; i < ARRAY_SIZE(D->docs); i++)
      json_decref(D->docs[i]);
}

/* ------------------------------------------------------------------ the generator */

typedef struct {
   const char *p;
   size_t len, raw;
} Slice;

/* Slots that keep their value for a whole call, so one conversation is about one order. */
enum { STICKY_ORDER, STICKY_TRACKING, STICKY_REF, STICKY_DATE, STICKY_PRODUCT, STICKY_CARRIER, STICKY_CITY,
       NSTICKY };
#define STICKY_MAX 192

typedef struct {
   Buf msgs;        /* the "messages" array's elements */
   int nmsgs;
   size_t sys_raw;  /* characters of the system prompt (cached-token estimate) */
   Buf answer;      /* assistant content */
   Buf meta;        /* request metadata object */
   char user[24];   /* request "user" or "" */
} Call;

typedef struct Gen Gen;

typedef struct {
   const char *task, *model, *snapshot, *sys_fp, *temperature;
   const char *request_extra; /* more request members, JSON text starting with a comma */
   double per_day, untagged, p_err, p_trunc;
   int max_tokens;
   double ttft_ms, ttft_sigma, tok_per_s;
   void (*gen)(Gen *g, Call *c);
} Feature;

struct Gen {
   Rng rng;
   /* The features added after the first five draw from a stream of their own, so that adding
    * them left the first five's records as they were, byte for byte. */
   Rng rng2;
   Data *D;
   long long ts_ms;
   Slice dyn[NDYN];
   unsigned memo_mask;
   char memo[NSTICKY][STICKY_MAX];
   uint16_t memo_len[NSTICKY], memo_raw[NSTICKY];
   Buf persona, ticket, conv, metrics, samples, cats, xf;
   Call call;
   Buf out;
};

static void emit_pool(Gen *g, Buf *b, Pool p, int depth);

static const char *const month_names[] = { "January", "February", "March", "April", "May", "June", "July",
                                           "August", "September", "October", "November", "December" };
static const char *const day_names[] = { "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                                         "Sunday" };

static void emit_builtin(Gen *g, Buf *b, uint32_t slot) {
   Rng *r = &g->rng;
   static const char alnum[] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
   switch (slot) {
   case BI_ORDER:
      Buf_text(b, "ORD-", 4, 4);
      Buf_num(b, Rng_range(r, 100000, 999999));
      break;
   case BI_AMOUNT: {
      double v = Rng_lognormal(r, 58, 0.8);
      uint32_t d = v < 3 ? 3 : v > 2400 ? 2400 : (uint32_t)v;
      Buf_text(b, "$", 1, 1);
      Buf_num(b, d);
      Buf_text(b, ".", 1, 1);
      Buf_pad(b, Rng_below(r, 4) ? 99 - Rng_below(r, 2) * 49 : Rng_below(r, 100), 2);
      break;
   }
   case BI_SMALL:
      Buf_num(b, Rng_range(r, 2, 9));
      break;
   case BI_NUM:
      Buf_num(b, Rng_range(r, 1, 30));
      break;
   case BI_DAYS:
      Buf_num(b, Rng_range(r, 2, 21));
      break;
   case BI_HOURS:
      Buf_num(b, Rng_range(r, 2, 72));
      break;
   case BI_QTY:
      Buf_num(b, Rng_range(r, 2, 6));
      break;
   case BI_PCT:
      Buf_num(b, Rng_range(r, 3, 45));
      break;
   case BI_CARD4:
      Buf_pad(b, Rng_below(r, 10000), 4);
      break;
   case BI_YEAR:
      Buf_num(b, Rng_range(r, 2015, 2026));
      break;
   case BI_DATE: {
      const char *m = month_names[Rng_below(r, 12)];
      Buf_text(b, m, strlen(m), strlen(m));
      Buf_text(b, " ", 1, 1);
      Buf_num(b, Rng_range(r, 1, 28));
      break;
   }
   case BI_TIME:
      Buf_num(b, Rng_range(r, 7, 21));
      Buf_text(b, ":", 1, 1);
      Buf_pad(b, Rng_below(r, 12) * 5, 2);
      break;
   case BI_PHONE:
      Buf_text(b, "+1 555 01", 9, 9);
      Buf_pad(b, Rng_below(r, 100), 2);
      Buf_text(b, " ", 1, 1);
      Buf_pad(b, Rng_below(r, 10000), 4);
      break;
   case BI_ZIP:
      Buf_num(b, Rng_range(r, 10001, 99950));
      break;
   case BI_REF:
      Buf_text(b, "CS-", 3, 3);
      Buf_num(b, Rng_range(r, 200000, 899999));
      break;
   case BI_TRACKING: {
      char t[18] = { '1', 'Z' };
      for (int i = 2; i < 18; i++)
         t[i] = alnum[Rng_below(r, sizeof alnum - 1)];
      Buf_text(b, t, 18, 18);
      break;
   }
   case BI_INVOICE:
      Buf_text(b, "INV-2026-", 9, 9);
      Buf_pad(b, Rng_below(r, 100000), 5);
      break;
   case BI_VERSION:
      Buf_text(b, "4.", 2, 2);
      Buf_num(b, Rng_range(r, 8, 16));
      Buf_text(b, ".", 1, 1);
      Buf_num(b, Rng_below(r, 10));
      break;
   case BI_CODE:
      Buf_pad(b, Rng_below(r, 1000000), 6);
      break;
   case BI_COUNT:
      Buf_num(b, Rng_range(r, 120, 1900));
      break;
   case BI_EMAIL: {
      static const char *const domains[] = { "gmail.com", "outlook.com", "yahoo.com", "icloud.com",
                                             "hotmail.co.uk", "proton.me", "example.com" };
      size_t mark = b->len, raw0 = b->raw;
      emit_pool(g, b, g->D->lib.lists[g->D->list_first].pool, 1);
      SYN(b, ".");
      emit_pool(g, b, g->D->lib.lists[g->D->list_last].pool, 1);
      /* an address is lowercase letters and dots ("van Dijk" -> "vandijk") */
      size_t w = mark;
      for (size_t i = mark; i < b->len; i++) {
         char c = b->p[i];
         if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
         if ((c >= 'a' && c <= 'z') || c == '.')
            b->p[w++] = c;
      }
      b->len = w;
      if (Rng_chance(r, 0.4))
         Buf_u64(b, Rng_below(r, 100));
      const char *d = domains[Rng_below(r, ARRAY_SIZE(domains))];
      SYN(b, "@");
      Buf_str(b, d);
      b->raw = raw0 + (b->len - mark); /* all ASCII, one character per byte */
      break;
   }
   }
}

static int sticky_of(Gen *g, uint32_t slot) {
   switch (slot) {
   case BI_ORDER:
      return STICKY_ORDER;
   case BI_TRACKING:
      return STICKY_TRACKING;
   case BI_REF:
      return STICKY_REF;
   case BI_DATE:
      return STICKY_DATE;
   }
   if (slot == SLOT_LIST + (uint32_t)g->D->list_product)
      return STICKY_PRODUCT;
   if (slot == SLOT_LIST + (uint32_t)g->D->list_carrier)
      return STICKY_CARRIER;
   if (slot == SLOT_LIST + (uint32_t)g->D->list_city)
      return STICKY_CITY;
   return -1;
}

static void emit_tpl(Gen *g, Buf *b, Tpl t, int depth) {
   const Lib *L = &g->D->lib;
   const Seg *s = L->segs + t.first, *e = s + t.n;
   for (; s < e; s++) {
      if (s->slot == SLOT_LIT) {
         Buf_text(b, L->text.buf + s->off, s->len, s->raw);
      } else if (s->slot >= SLOT_LIST) {
         int k = sticky_of(g, s->slot);
         if (k >= 0 && (g->memo_mask & (1u << k))) {
            Buf_text(b, g->memo[k], g->memo_len[k], g->memo_raw[k]);
            continue;
         }
         size_t mark = b->len, raw = b->raw;
         if (depth < 6)
            emit_pool(g, b, L->lists[s->slot - SLOT_LIST].pool, depth + 1);
         if (k >= 0 && b->len - mark <= STICKY_MAX) {
            memcpy(g->memo[k], b->p + mark, b->len - mark);
            g->memo_len[k] = (uint16_t)(b->len - mark);
            g->memo_raw[k] = (uint16_t)(b->raw - raw);
            g->memo_mask |= 1u << k;
         }
      } else if (s->slot >= SLOT_DYN) {
         const Slice *d = &g->dyn[s->slot - SLOT_DYN];
         Buf_text(b, d->p, d->len, d->raw);
      } else {
         int k = sticky_of(g, s->slot);
         if (k >= 0 && (g->memo_mask & (1u << k))) {
            Buf_text(b, g->memo[k], g->memo_len[k], g->memo_raw[k]);
            continue;
         }
         size_t mark = b->len, raw = b->raw;
         emit_builtin(g, b, s->slot);
         if (k >= 0) {
            memcpy(g->memo[k], b->p + mark, b->len - mark);
            g->memo_len[k] = (uint16_t)(b->len - mark);
            g->memo_raw[k] = (uint16_t)(b->raw - raw);
            g->memo_mask |= 1u << k;
         }
      }
   }
}

static void emit_pool(Gen *g, Buf *b, Pool p, int depth) {
   emit_tpl(g, b, g->D->lib.tpls[p.first + Rng_below(&g->rng, p.n)], depth);
}

#define EMIT(g, b, pool) emit_pool((g), (b), (pool), 0)

/* An index of p not yet in *used, so one call does not say the same sentence twice. */
static uint32_t pick_fresh(Rng *r, Pool p, uint64_t *used) {
   uint32_t i = Rng_below(r, p.n);
   if (p.n > 64)
      return i;
   uint64_t all = p.n == 64 ? ~0ULL : (1ULL << p.n) - 1;
   if ((*used & all) == all)
      *used = 0; /* everything said: repeating is all that is left */
   while (*used >> i & 1)
      i = (i + 1) % p.n;
   *used |= 1ULL << i;
   return i;
}

static void emit_at(Gen *g, Buf *b, Pool p, uint32_t i) {
   emit_tpl(g, b, g->D->lib.tpls[p.first + i], 0);
}

static void emit_fresh(Gen *g, Buf *b, Pool p, uint64_t *used) {
   emit_at(g, b, p, pick_fresh(&g->rng, p, used));
}

static void txt(Buf *b, const char *s) {
   size_t n = strlen(s);
   Buf_text(b, s, n, n);
}

/* Escaped newlines count as one character each. */
#define NL(b) Buf_text((b), "\\n", 2, 1)
#define PARA(b) Buf_text((b), "\\n\\n", 4, 2)

static void set_dyn(Gen *g, int k, const Buf *b, size_t from, size_t raw_from) {
   g->dyn[k] = (Slice){ b->p + from, b->len - from, b->raw - raw_from };
}

static void lowercase(Buf *b, size_t from) {
   for (size_t i = from; i < b->len; i++)
      if (b->p[i] >= 'A' && b->p[i] <= 'Z')
         b->p[i] = (char)(b->p[i] - 'A' + 'a');
}

static int pick_label(Rng *r, const Label *l, int n) {
   double x = Rng_unit(r) * l[n - 1].cum;
   for (int i = 0; i < n; i++)
      if (x < l[i].cum)
         return i;
   return n - 1;
}

/* The customer behind a call: name, email, plan, tenure, orders, and today's date. */
static void make_persona(Gen *g) {
   Buf *p = &g->persona;
   Data *D = g->D;
   Rng *r = &g->rng;
   size_t off[NDYN + 1], raw[NDYN + 1];
   Buf_clear(p);

   off[0] = p->len, raw[0] = p->raw;
   emit_pool(g, p, D->lib.lists[D->list_first].pool, 1);
   off[1] = p->len, raw[1] = p->raw;
   emit_pool(g, p, D->lib.lists[D->list_last].pool, 1);
   off[2] = p->len, raw[2] = p->raw;
   /* the email follows the name most of the time */
   size_t e0 = p->len;
   if (Rng_chance(r, 0.7)) {
      for (size_t i = off[0]; i < off[2]; i++) {
         char c = p->p[i];
         if (i == off[1])
            SYN(p, ".");
         if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
         if (c >= 'a' && c <= 'z')
            Buf_syn(p, &c, 1);
      }
      if (Rng_chance(r, 0.5))
         Buf_u64(p, Rng_range(r, 1, 99));
      static const char *const domains[] = { "@gmail.com", "@outlook.com", "@icloud.com", "@yahoo.com" };
      Buf_str(p, domains[Rng_below(r, ARRAY_SIZE(domains))]);
      p->raw += p->len - e0;
   } else {
      emit_builtin(g, p, BI_EMAIL);
   }
   off[3] = p->len, raw[3] = p->raw;
   emit_pool(g, p, D->lib.lists[D->list_plan].pool, 1);
   off[4] = p->len, raw[4] = p->raw;
   emit_pool(g, p, D->lib.lists[D->list_month].pool, 1);
   txt(p, " ");
   Buf_num(p, Rng_range(r, 2016, 2026));
   off[5] = p->len, raw[5] = p->raw;
   int n = (int)Rng_below(r, 3) + 1;
   static const char *const states[] = { "delivered", "in transit", "processing", "delivered", "returned",
                                         "shipped" };
   for (int i = 0; i < n; i++) {
      if (i)
         txt(p, ", ");
      emit_builtin(g, p, BI_ORDER);
      txt(p, " (");
      txt(p, states[Rng_below(r, ARRAY_SIZE(states))]);
      txt(p, ")");
   }
   off[6] = p->len, raw[6] = p->raw;
   /* today, from the call's own timestamp */
   long long days = g->ts_ms / 86400000;
   int wd = (int)((days + 3) % 7); /* 1970-01-01 was a Thursday */
   long long z = days + 719468, era = z / 146097, doe = z - era * 146097;
   long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
   long long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
   long long y = yoe + era * 400 + (m <= 2);
   txt(p, day_names[wd]);
   txt(p, ", ");
   txt(p, month_names[m - 1]);
   txt(p, " ");
   Buf_num(p, (uint64_t)d);
   txt(p, ", ");
   Buf_num(p, (uint64_t)y);
   off[7] = p->len, raw[7] = p->raw;
   /* slices only now: the buffer no longer moves */
   static const int order[] = { DYN_CUST_FIRST, DYN_CUST_LAST, DYN_CUST_EMAIL, DYN_CUST_PLAN, DYN_CUST_SINCE,
                                DYN_ORDERS, DYN_TODAY };
   for (int i = 0; i < 7; i++)
      g->dyn[order[i]] = (Slice){ p->p + off[i], off[i + 1] - off[i], raw[i + 1] - raw[i] };
}

static void msg_open(Call *c, const char *role) {
   if (c->nmsgs++)
      SYN(&c->msgs, ",");
   SYN(&c->msgs, "{\"role\":\"");
   Buf_str(&c->msgs, role);
   SYN(&c->msgs, "\",\"content\":\"");
}

static void msg_close(Call *c) {
   SYN(&c->msgs, "\"}");
}

/* Where a ticket's sentences are in its buffer (byte offsets; equal ends: not there). */
typedef struct {
   size_t body, body_end, detail, detail_end, context, context_end;
} TicketParts;

/* A support ticket of the given category; inline tickets (report samples) stay on one line.
 * Returns the ticket's second topic, -1 when it has one topic; *parts (may be NULL) gets where
 * its body, detail and context sentences are. */
static int compose_ticket(Gen *g, Buf *b, int label, bool inline_, TicketParts *parts) {
   TicketParts tp = { 0 };
   Tickets *T = &g->D->tickets;
   Rng *r = &g->rng;
   size_t start = b->len;
   bool paras = !inline_ && Rng_chance(r, 0.5);
   g->memo_mask = 0;
   if (!inline_ && Rng_chance(r, 0.5)) {
      txt(b, "Subject: ");
      EMIT(g, b, T->subject[label]);
      if (paras)
         PARA(b);
      else
         NL(b);
   }
   if (Rng_chance(r, inline_ ? 0.3 : 0.7)) {
      EMIT(g, b, T->opener);
      if (paras)
         PARA(b);
      else
         txt(b, " ");
   }
   tp.body = b->len;
   EMIT(g, b, T->body[label]);
   tp.body_end = b->len;
   if (Rng_chance(r, 0.55)) {
      txt(b, " ");
      tp.detail = b->len;
      EMIT(g, b, T->detail[label]);
      tp.detail_end = b->len;
   }
   int other = -1;
   if (Rng_chance(r, 0.1)) { /* a second topic: real tickets are not always clean */
      other = (int)Rng_below(r, (uint32_t)T->nlabels);
      txt(b, " Also, ");
      size_t m = b->len;
      EMIT(g, b, T->body[other]);
      if (b->len > m && b->p[m] >= 'A' && b->p[m] <= 'Z' && !(b->p[m] == 'I' && (b->p[m + 1] == ' ' || b->p[m + 1] == '\'')))
         b->p[m] = (char)(b->p[m] - 'A' + 'a');
   }
   if (Rng_chance(r, 0.35)) {
      txt(b, " ");
      tp.context = b->len;
      EMIT(g, b, T->context);
      tp.context_end = b->len;
   }
   if (Rng_chance(r, inline_ ? 0.2 : 0.7)) {
      if (paras)
         PARA(b);
      else
         txt(b, " ");
      EMIT(g, b, T->closer);
   }
   if (!inline_ && Rng_chance(r, 0.6)) {
      if (paras)
         PARA(b);
      else
         NL(b);
      EMIT(g, b, T->signoff);
   }
   if (Rng_chance(r, 0.07))
      lowercase(b, start);
   if (parts)
      *parts = tp;
   return other;
}

static void answer_label(Gen *g, Call *c, const Label *labels, int label, double p_noise) {
   int a = label;
   if (Rng_chance(&g->rng, p_noise))
      a = labels[label].confusion[Rng_below(&g->rng, (uint32_t)labels[label].nconfusion)];
   Buf_text(&c->answer, labels[a].name, labels[a].esc_len, labels[a].esc_len);
}

static void meta_ticket(Gen *g, Call *c) {
   static const char *const channels[] = { "email", "web_form", "app", "email", "web_form" };
   SYN(&c->meta, "{\"ticket_id\":\"T-");
   Buf_u64(&c->meta, Rng_range(&g->rng, 1000000, 9999999));
   SYN(&c->meta, "\",\"channel\":\"");
   Buf_str(&c->meta, channels[Rng_below(&g->rng, ARRAY_SIZE(channels))]);
   SYN(&c->meta, "\"}");
}

/* A call about a new ticket of the category: the system prompt sys and the user message user,
 * which quotes the ticket ({ticket}). Returns compose_ticket's second topic. */
static int ticket_call(Gen *g, Call *c, int label, Tpl sys, Tpl user, TicketParts *parts) {
   Buf_clear(&g->ticket);
   int other = compose_ticket(g, &g->ticket, label, false, parts);
   set_dyn(g, DYN_TICKET, &g->ticket, 0, 0);
   msg_open(c, "system");
   emit_tpl(g, &c->msgs, sys, 0);
   msg_close(c);
   c->sys_raw = c->msgs.raw;
   msg_open(c, "user");
   emit_tpl(g, &c->msgs, user, 0);
   msg_close(c);
   return other;
}

static void gen_classification(Gen *g, Call *c) {
   Tickets *T = &g->D->tickets;
   make_persona(g);
   int label = pick_label(&g->rng, T->labels, T->nlabels);
   int other = ticket_call(g, c, label, T->sys, T->user, NULL);
   /* The API reads a ticket the same way every time: with two topics it follows the system
    * prompt's "the one the customer needs resolved first"; past that, a sampled 1.5 % strays. */
   if (other >= 0 && T->first[other] < T->first[label])
      label = other;
   answer_label(g, c, T->labels, label, 0.015);
   meta_ticket(g, c);
}

static void gen_tone(Gen *g, Call *c) {
   Tone *O = &g->D->tone;
   Rng *r = &g->rng;
   make_persona(g);
   g->memo_mask = 0;
   int label = pick_label(r, O->labels, O->nlabels);
   msg_open(c, "system");
   emit_tpl(g, &c->msgs, O->sys, 0);
   msg_close(c);
   c->sys_raw = c->msgs.raw;
   msg_open(c, "user");
   size_t start = c->msgs.len;
   bool paras = Rng_chance(r, 0.4);
   if (Rng_chance(r, 0.45)) {
      EMIT(g, &c->msgs, O->greeting);
      if (paras)
         PARA(&c->msgs);
      else
         txt(&c->msgs, " ");
   }
   EMIT(g, &c->msgs, O->text[label]);
   if (Rng_chance(r, 0.3)) {
      txt(&c->msgs, " ");
      EMIT(g, &c->msgs, O->text[label]);
   }
   if (Rng_chance(r, 0.4)) {
      txt(&c->msgs, " ");
      EMIT(g, &c->msgs, O->fact);
   }
   if (Rng_chance(r, 0.4)) {
      if (paras)
         PARA(&c->msgs);
      else
         NL(&c->msgs);
      EMIT(g, &c->msgs, O->signoff);
   }
   if (Rng_chance(r, 0.08))
      lowercase(&c->msgs, start);
   msg_close(c);
   answer_label(g, c, O->labels, label, 0.06);
   SYN(&c->meta, "{\"message_id\":\"msg_");
   for (int i = 0; i < 12; i++) {
      char h = "0123456789abcdef"[Rng_below(r, 16)];
      Buf_syn(&c->meta, &h, 1);
   }
   SYN(&c->meta, "\"}");
}

static int pick_intent(Rng *r, const Chat *C) {
   double x = Rng_unit(r) * C->intents[C->nintents - 1].cum;
   for (int i = 0; i < C->nintents; i++)
      if (x < C->intents[i].cum)
         return i;
   return C->nintents - 1;
}

/* An assistant turn: the intent's answer, often with a sentence or two of the usual extras. */
static void agent_extra(Gen *g, Buf *b, double p_extra, uint64_t *used) {
   Chat *C = &g->D->chat;
   if (Rng_chance(&g->rng, p_extra)) {
      txt(b, " ");
      emit_fresh(g, b, C->extra, used);
      if (Rng_chance(&g->rng, 0.35)) {
         txt(b, " ");
         emit_fresh(g, b, C->extra, used);
      }
   }
}

static void gen_chat(Gen *g, Call *c) {
   Chat *C = &g->D->chat;
   Rng *r = &g->rng;
   make_persona(g);
   g->memo_mask = 0;
   const Intent *in = &C->intents[pick_intent(r, C)];
   /* how far into the conversation this call is: most chats are short */
   int turns = 1;
   while (turns < 6 && Rng_chance(r, 0.42))
      turns++;
   bool thanked = turns >= 2 && Rng_chance(r, 0.25);
   uint64_t used_turns = 0, used_extra = 0;
   uint32_t turn[6];
   for (int t = 1; t < turns; t++)
      turn[t] = pick_fresh(r, in->turn_customer, &used_turns);
   msg_open(c, "system");
   emit_tpl(g, &c->msgs, C->sys, 0);
   msg_close(c);
   c->sys_raw = c->msgs.raw;
   for (int t = 0; t < turns; t++) {
      if (t > 0) {
         msg_open(c, "assistant");
         if (t == 1)
            EMIT(g, &c->msgs, in->reply1);
         else
            emit_at(g, &c->msgs, in->turn_agent, turn[t - 1]);
         agent_extra(g, &c->msgs, 0.6, &used_extra);
         msg_close(c);
      }
      msg_open(c, "user");
      size_t start = c->msgs.len;
      if (t == 0)
         EMIT(g, &c->msgs, in->open);
      else if (t == turns - 1 && thanked)
         EMIT(g, &c->msgs, C->thanks);
      else
         emit_at(g, &c->msgs, in->turn_customer, turn[t]);
      if (Rng_chance(r, 0.12))
         lowercase(&c->msgs, start);
      msg_close(c);
   }
   if (thanked) {
      EMIT(g, &c->answer, C->close);
   } else {
      if (turns == 1)
         EMIT(g, &c->answer, in->reply1);
      else
         emit_at(g, &c->answer, in->turn_agent, turn[turns - 1]);
      agent_extra(g, &c->answer, 0.6, &used_extra);
   }
   if (!thanked && Rng_chance(r, 0.3))
      txt(&c->answer, Rng_chance(r, 0.5) ? " Is there anything else I can help you with?"
                                         : " Let me know if you have any other questions.");
   snprintf(c->user, sizeof c->user, "u_%06u", Rng_below(r, Rng_range(r, 1, 60000)) + 100000);
   static const char *const channels[] = { "web", "ios", "android", "web" };
   SYN(&c->meta, "{\"session_id\":\"sess_");
   Buf_u64(&c->meta, Rng_next(r) >> 20);
   SYN(&c->meta, "\",\"channel\":\"");
   Buf_str(&c->meta, channels[Rng_below(r, ARRAY_SIZE(channels))]);
   SYN(&c->meta, "\"}");
}

static void gen_summary(Gen *g, Call *c) {
   Chat *C = &g->D->chat;
   Rng *r = &g->rng;
   make_persona(g);
   g->memo_mask = 0;
   const Intent *in = &C->intents[pick_intent(r, C)];
   Buf *v = &g->conv;
   Buf_clear(v);
   int rounds = (int)Rng_range(r, 2, 7);
   uint64_t used_turns = 0, used_extra = 0;
   for (int t = 0; t < rounds; t++) {
      uint32_t k = t ? pick_fresh(r, in->turn_customer, &used_turns) : 0;
      txt(v, "Customer: ");
      if (t == 0)
         EMIT(g, v, in->open);
      else
         emit_at(g, v, in->turn_customer, k);
      NL(v);
      txt(v, "Agent: ");
      if (t == 0)
         EMIT(g, v, in->reply1);
      else
         emit_at(g, v, in->turn_agent, k);
      agent_extra(g, v, 0.5, &used_extra);
      NL(v);
   }
   if (Rng_chance(r, 0.4)) {
      txt(v, "Customer: ");
      EMIT(g, v, C->thanks);
      NL(v);
   }
   set_dyn(g, DYN_CONVERSATION, v, 0, 0);
   msg_open(c, "system");
   emit_tpl(g, &c->msgs, C->sum_sys, 0);
   msg_close(c);
   c->sys_raw = c->msgs.raw;
   msg_open(c, "user");
   emit_tpl(g, &c->msgs, C->sum_user, 0);
   msg_close(c);
   txt(&c->answer, "- ");
   EMIT(g, &c->answer, in->problem);
   NL(&c->answer);
   txt(&c->answer, "- ");
   EMIT(g, &c->answer, in->tried);
   NL(&c->answer);
   txt(&c->answer, "- ");
   EMIT(g, &c->answer, in->next);
   meta_ticket(g, c);
}

static void gen_analysis(Gen *g, Call *c) {
   Analysis *A = &g->D->analysis;
   Tickets *T = &g->D->tickets;
   Rng *r = &g->rng;
   make_persona(g);
   g->memo_mask = 0;

   /* the reported week: the Monday-to-Sunday week before the call */
   long long day = g->ts_ms / 86400000, wd = (day + 3) % 7, monday = day - wd - 7;
   long long z = monday + 719468, era = z / 146097, doe = z - era * 146097;
   long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
   long long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
   long long y = yoe + era * 400 + (m <= 2);
   Buf *w = &g->cats;
   Buf_clear(w);
   txt(w, month_names[m - 1]);
   txt(w, " ");
   Buf_num(w, (uint64_t)d);
   txt(w, ", ");
   Buf_num(w, (uint64_t)y);
   size_t week_end = w->len, week_raw = w->raw;

   /* metrics table; remember the two largest categories for the report */
   Buf *mt = &g->metrics;
   Buf_clear(mt);
   txt(mt, "| category | tickets | last week | change | median first response | CSAT |");
   NL(mt);
   txt(mt, "|---|---|---|---|---|---|");
   NL(mt);
   uint32_t total = 0, total_prev = 0, top[2] = { 0, 0 };
   int topi[2] = { 0, 1 };
   for (int i = 0; i < T->nlabels; i++) {
      double base = (T->labels[i].cum - (i ? T->labels[i - 1].cum : 0)) * Rng_lognormal(r, 95, 0.15);
      uint32_t now = (uint32_t)base, prev = (uint32_t)(base * Rng_lognormal(r, 1.0, 0.14));
      if (prev == 0)
         prev = 1;
      total += now;
      total_prev += prev;
      if (now > top[0]) {
         top[1] = top[0], topi[1] = topi[0];
         top[0] = now, topi[0] = i;
      } else if (now > top[1]) {
         top[1] = now, topi[1] = i;
      }
      txt(mt, "| ");
      txt(mt, T->labels[i].name);
      txt(mt, " | ");
      Buf_thousands(mt, now);
      txt(mt, " | ");
      Buf_thousands(mt, prev);
      txt(mt, " | ");
      long ch = lround(((double)now / prev - 1.0) * 1000);
      txt(mt, ch < 0 ? "-" : "+");
      Buf_num(mt, (uint64_t)labs(ch) / 10);
      txt(mt, ".");
      Buf_num(mt, (uint64_t)labs(ch) % 10);
      txt(mt, " % | ");
      uint32_t frt = Rng_range(r, 8, 60);
      Buf_num(mt, frt / 10);
      txt(mt, ".");
      Buf_num(mt, frt % 10);
      txt(mt, " h | ");
      uint32_t csat = Rng_range(r, 34, 47);
      Buf_num(mt, csat / 10);
      txt(mt, ".");
      Buf_num(mt, csat % 10);
      txt(mt, " |");
      NL(mt);
   }
   txt(mt, "| total | ");
   Buf_thousands(mt, total);
   txt(mt, " | ");
   Buf_thousands(mt, total_prev);
   txt(mt, " | | | |");
   NL(mt);
   txt(mt, "Repeat contacts: ");
   Buf_num(mt, Rng_range(r, 9, 24));
   txt(mt, " %. Self-service deflection: ");
   Buf_num(mt, Rng_range(r, 18, 41));
   txt(mt, " %. Chat share of contacts: ");
   Buf_num(mt, Rng_range(r, 35, 62));
   txt(mt, " %.");

   /* sample tickets */
   Buf *sm = &g->samples;
   Buf_clear(sm);
   int n = (int)Rng_range(r, 50, 80);
   for (int i = 0; i < n; i++) {
      int label = pick_label(r, T->labels, T->nlabels);
      make_persona(g); /* every sample ticket has its own customer */
      Buf_num(sm, (uint64_t)i + 1);
      txt(sm, ". [");
      txt(sm, T->labels[label].name);
      txt(sm, "] ");
      compose_ticket(g, sm, label, true, NULL);
      NL(sm);
   }
   g->memo_mask = 0;

   /* numbers and category names for the report */
   size_t tot = w->len, tot_raw = w->raw;
   Buf_thousands(w, total);
   size_t tot_end = w->len, tot_raw_end = w->raw, chg = w->len, chg_raw = w->raw;
   long tch = lround(((double)total / total_prev - 1.0) * 1000);
   txt(w, tch < 0 ? "down " : "up ");
   Buf_num(w, (uint64_t)labs(tch) / 10);
   txt(w, ".");
   Buf_num(w, (uint64_t)labs(tch) % 10);
   txt(w, " %");
   size_t c1 = w->len, c1r = w->raw;
   txt(w, T->labels[topi[0]].name);
   size_t c2 = w->len, c2r = w->raw;
   txt(w, T->labels[topi[1]].name);
   g->dyn[DYN_WEEK] = (Slice){ w->p, week_end, week_raw };
   g->dyn[DYN_CAT] = (Slice){ w->p + c1, c2 - c1, c2r - c1r };
   g->dyn[DYN_CAT2] = (Slice){ w->p + c2, w->len - c2, w->raw - c2r };
   g->dyn[DYN_TOTAL] = (Slice){ w->p + tot, tot_end - tot, tot_raw_end - tot_raw };
   g->dyn[DYN_CHANGE] = (Slice){ w->p + chg, c1 - chg, c1r - chg_raw };
   set_dyn(g, DYN_METRICS, mt, 0, 0);
   set_dyn(g, DYN_SAMPLES, sm, 0, 0);

   msg_open(c, "system");
   emit_tpl(g, &c->msgs, A->sys, 0);
   msg_close(c);
   c->sys_raw = c->msgs.raw;
   msg_open(c, "user");
   emit_tpl(g, &c->msgs, A->user, 0);
   msg_close(c);

   Buf *a = &c->answer;
   uint64_t used_sum = 0, used_drv = 0, used_ev = 0, used_em = 0, used_rec = 0;
   txt(a, "## Summary");
   PARA(a);
   int k = (int)Rng_range(r, 4, 5);
   for (int i = 0; i < k; i++) {
      if (i)
         txt(a, " ");
      emit_fresh(g, a, A->summary, &used_sum);
   }
   PARA(a);
   txt(a, "## Drivers");
   PARA(a);
   for (int i = 0; i < 3; i++) {
      /* each driver names its own category */
      int cat = i < 2 ? topi[i] : (int)Rng_below(r, (uint32_t)T->nlabels);
      g->dyn[DYN_CAT] = (Slice){ T->labels[cat].name, T->labels[cat].esc_len, T->labels[cat].esc_len };
      Buf_num(a, (uint64_t)i + 1);
      txt(a, ". ");
      emit_fresh(g, a, A->driver, &used_drv);
      txt(a, " ");
      emit_fresh(g, a, A->evidence, &used_ev);
      if (Rng_chance(r, 0.5)) {
         txt(a, " ");
         emit_fresh(g, a, A->evidence, &used_ev);
      }
      NL(a);
   }
   NL(a);
   txt(a, "## Emerging issues");
   PARA(a);
   k = (int)Rng_range(r, 2, 3);
   for (int i = 0; i < k; i++) {
      txt(a, "- ");
      emit_fresh(g, a, A->emerging, &used_em);
      NL(a);
   }
   NL(a);
   txt(a, "## Recommendations");
   PARA(a);
   k = (int)Rng_range(r, 5, 7);
   for (int i = 0; i < k; i++) {
      Buf_num(a, (uint64_t)i + 1);
      txt(a, ". ");
      emit_fresh(g, a, A->recommendation, &used_rec);
      NL(a);
   }
   NL(a);
   EMIT(g, a, A->caveat);

   SYN(&c->meta, "{\"report\":\"weekly-cx\",\"week_of\":\"");
   Buf_u64(&c->meta, (uint64_t)y);
   SYN(&c->meta, "-");
   char dd[6] = { (char)('0' + m / 10), (char)('0' + m % 10), '-', (char)('0' + d / 10), (char)('0' + d % 10) };
   Buf_syn(&c->meta, dd, 5);
   SYN(&c->meta, "\"}");
}

/* ------------------------------------------------------------------ extraction and rewrite */

/* Whether template t uses the dynamic value k. */
static bool tpl_uses(const Gen *g, Tpl t, int k) {
   const Seg *s = g->D->lib.segs + t.first;
   for (uint32_t i = 0; i < t.n; i++)
      if (s[i].slot == SLOT_DYN + (uint32_t)k)
         return true;
   return false;
}

/* Emits a template of p picked at random and marks the extraction fields it names. */
static void emit_marking(Gen *g, Buf *b, Pool p, bool have[5]) {
   Tpl t = g->D->lib.tpls[p.first + Rng_below(&g->rng, p.n)];
   for (int k = 0; k < 5; k++)
      have[k] |= tpl_uses(g, t, DYN_X_NAME + k);
   emit_tpl(g, b, t, 0);
}

/* The values one message can name, each written the way customers write it. */
static void make_fields(Gen *g) {
   Buf *x = &g->xf;
   Data *D = g->D;
   Rng *r = &g->rng;
   size_t off[6], raw[6];
   Buf_clear(x);
   off[0] = x->len, raw[0] = x->raw;
   emit_pool(g, x, D->lib.lists[D->list_first].pool, 1);
   if (Rng_chance(r, 0.75)) {
      txt(x, " ");
      emit_pool(g, x, D->lib.lists[D->list_last].pool, 1);
   }
   off[1] = x->len, raw[1] = x->raw;
   uint32_t num = Rng_range(r, 100000, 999999), u = Rng_below(r, 20);
   txt(x, u < 15 ? "ORD-" : u < 18 ? "#" : "");
   Buf_num(x, num);
   off[2] = x->len, raw[2] = x->raw;
   uint32_t m = Rng_below(r, 12), d = Rng_range(r, 1, 28);
   u = Rng_below(r, 20);
   if (u < 7) { /* March 3 */
      txt(x, month_names[m]);
      txt(x, " ");
      Buf_num(x, d);
   } else if (u < 10) { /* 3 March */
      Buf_num(x, d);
      txt(x, " ");
      txt(x, month_names[m]);
   } else if (u < 13) { /* 3/14/2026 */
      Buf_num(x, m + 1);
      txt(x, "/");
      Buf_num(x, d);
      txt(x, "/2026");
   } else if (u < 15) { /* 2026-03-14 */
      txt(x, "2026-");
      Buf_pad(x, m + 1, 2);
      txt(x, "-");
      Buf_pad(x, d, 2);
   } else if (u < 18) { /* March 3rd */
      txt(x, month_names[m]);
      txt(x, " ");
      Buf_num(x, d);
      txt(x, d % 10 == 1 && d != 11 ? "st" : d % 10 == 2 && d != 12 ? "nd" : d % 10 == 3 && d != 13 ? "rd" : "th");
   } else { /* Mar 3 */
      Buf_text(x, month_names[m], 3, 3);
      txt(x, " ");
      Buf_num(x, d);
   }
   off[3] = x->len, raw[3] = x->raw;
   double v = Rng_lognormal(r, 64, 0.8);
   uint32_t whole = v < 4 ? 4 : v > 2400 ? 2400 : (uint32_t)v, cents = Rng_below(r, 3) ? 99 : Rng_below(r, 100);
   u = Rng_below(r, 20);
   if (u < 14 || u >= 16) {
      /* US dollars, pounds or euros in front */
      static const char *const sign[] = { "$", "\xc2\xa3", "\xe2\x82\xac" };
      int k = u < 14 ? 0 : u < 18 ? 1 : 2;
      Buf_text(x, sign[k], strlen(sign[k]), 1);
      Buf_thousands(x, whole);
      txt(x, ".");
      Buf_pad(x, cents, 2);
   } else {
      Buf_thousands(x, whole);
      txt(x, ".");
      Buf_pad(x, cents, 2);
      txt(x, " USD");
   }
   off[4] = x->len, raw[4] = x->raw;
   g->memo_mask = 0;
   emit_pool(g, x, D->lib.lists[D->list_product].pool, 1);
   off[5] = x->len, raw[5] = x->raw;
   for (int k = 0; k < 5; k++)
      g->dyn[DYN_X_NAME + k] = (Slice){ x->p + off[k], off[k + 1] - off[k], raw[k + 1] - raw[k] };
}

/* A JSON string inside the answer, which is itself a JSON string: s is escaped once already
 * (for the record), so its backslashes and quotes are escaped once more. */
static void nested_string(Buf *b, const Slice *s) {
   SYN(b, "\\\"");
   size_t raw0 = b->raw;
   for (size_t i = 0; i < s->len; i++) {
      char c = s->p[i];
      if (c == '\\' || c == '"')
         SYN(b, "\\");
      Buf_syn(b, &c, 1);
   }
   SYN(b, "\\\"");
   b->raw = raw0 + s->raw + 2;
}

static void gen_extraction(Gen *g, Call *c) {
   Extraction *X = &g->D->extraction;
   Rng *r = &g->rng;
   make_persona(g);
   make_fields(g);
   g->memo_mask = 0;
   bool have[5] = { false };
   msg_open(c, "system");
   emit_tpl(g, &c->msgs, X->sys, 0);
   msg_close(c);
   c->sys_raw = c->msgs.raw;
   msg_open(c, "user");
   Buf *b = &c->msgs;
   bool paras = Rng_chance(r, 0.4);
   double who = Rng_unit(r); /* where the customer names themselves: intro, sign-off or nowhere */
   if (Rng_chance(r, 0.55)) {
      EMIT(g, b, X->greeting);
      if (paras)
         PARA(b);
      else
         txt(b, " ");
   }
   if (who < 0.3) {
      emit_marking(g, b, X->intro, have);
      txt(b, " ");
   }
   emit_marking(g, b, X->main, have);
   /* fields the main sentence left out, some added after it, in a random order */
   uint32_t first = Rng_below(r, 4);
   for (uint32_t i = 0; i < 4; i++) {
      uint32_t k = (first + i) % 4;
      if (!have[k + 1] && Rng_chance(r, 0.3)) {
         txt(b, " ");
         emit_marking(g, b, X->more[k], have);
      }
   }
   if (Rng_chance(r, 0.4)) {
      txt(b, " ");
      EMIT(g, b, X->context);
   }
   if (who >= 0.3 && who < 0.65) {
      if (paras)
         PARA(b);
      else
         NL(b);
      emit_marking(g, b, X->signoff_name, have);
   } else if (Rng_chance(r, 0.5)) {
      if (paras)
         PARA(b);
      else
         NL(b);
      EMIT(g, b, X->signoff);
   }
   msg_close(c);

   static const char *const keys[5] = { "customer_name", "order_id", "order_date", "amount", "product" };
   Buf *a = &c->answer;
   SYN(a, "{");
   for (int k = 0; k < 5; k++) {
      SYN(a, "\\\"");
      Buf_str(a, keys[k]);
      SYN(a, "\\\": ");
      a->raw += strlen(keys[k]) + 4;
      if (have[k]) {
         nested_string(a, &g->dyn[DYN_X_NAME + k]);
      } else {
         SYN(a, "null");
         a->raw += 4;
      }
      if (k < 4) {
         SYN(a, ", ");
         a->raw += 2;
      }
   }
   SYN(a, "}");
   a->raw += 2;
   SYN(&c->meta, "{\"form_id\":\"cf_");
   Buf_u64(&c->meta, Rng_range(r, 10000000, 99999999));
   SYN(&c->meta, "\",\"channel\":\"contact_form\"}");
}

static bool word_char(char c) {
   return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '\'';
}

/* The customer's first person turned into the third ("I returned my ..." -> "They returned
 * their ..."), the way an intake note is written; b from `from` on is plain ASCII words. */
static void third_person(Buf *b, size_t from) {
   static const struct {
      const char *w, *to;
   } sub[] = { { "I'm", "they're" }, { "I've", "they've" }, { "I'd", "they'd" }, { "I", "they" }, { "my", "their" },
               { "My", "Their" }, { "me", "them" }, { "am", "are" },
               { "i'm", "they're" }, { "i've", "they've" }, { "i'd", "they'd" }, { "i", "they" } };
   Sbuf o = { 0 };
   size_t i = from;
   while (i < b->len) {
      if (word_char(b->p[i]) && (i == from || !word_char(b->p[i - 1]))) {
         size_t e = i;
         while (e < b->len && word_char(b->p[e]))
            e++;
         const char *to = NULL;
         for (size_t k = 0; k < ARRAY_SIZE(sub) && !to; k++)
            if (strlen(sub[k].w) == e - i && memcmp(sub[k].w, b->p + i, e - i) == 0)
               to = sub[k].to;
         if (to) {
            Sbuf_puts(&o, to);
            if (i == from && o.buf[o.len - strlen(to)] >= 'a')
               o.buf[o.len - strlen(to)] = (char)(o.buf[o.len - strlen(to)] - 32);
         } else {
            Sbuf_add(&o, b->p + i, e - i);
         }
         i = e;
      } else {
         Sbuf_add(&o, b->p + i, 1);
         i++;
      }
   }
   size_t old = b->len - from;
   b->len = from;
   if (o.len)
      Buf_syn(b, o.buf, o.len);
   b->raw = b->raw - old + o.len;
   Sbuf_free(&o);
}

/* Copies b[from, to) of the ticket into the answer: one line, no trailing blank. */
static void copy_part(Buf *a, const Buf *t, size_t from, size_t to) {
   while (to > from && t->p[to - 1] == ' ')
      to--;
   for (size_t i = from; i < to; i++) {
      if (t->p[i] == '\\' && i + 1 < to && t->p[i + 1] == 'n') {
         Buf_text(a, " ", 1, 1);
         i++;
      } else {
         Buf_text(a, t->p + i, 1, ((unsigned char)t->p[i] & 0xc0) != 0x80);
      }
   }
}

static void gen_rewrite(Gen *g, Call *c) {
   Tickets *T = &g->D->tickets;
   Rewrite *R = &g->D->rewrite;
   Rng *r = &g->rng;
   make_persona(g);
   int label = pick_label(r, T->labels, T->nlabels);
   TicketParts tp;
   ticket_call(g, c, label, R->sys, R->user, &tp);
   /* the frontier writes most notes in the third person, some in the customer's own words */
   bool third = Rng_chance(r, 0.7);
   Buf *a = &c->answer;
   txt(a, "- Issue: ");
   size_t m = a->len;
   copy_part(a, &g->ticket, tp.body, tp.body_end);
   if (third)
      third_person(a, m);
   NL(a);
   txt(a, "- Details: ");
   m = a->len;
   if (tp.detail_end > tp.detail)
      copy_part(a, &g->ticket, tp.detail, tp.detail_end);
   if (tp.context_end > tp.context) {
      if (a->len > m)
         txt(a, " ");
      copy_part(a, &g->ticket, tp.context, tp.context_end);
   }
   if (a->len == m)
      txt(a, "none given.");
   else if (third)
      third_person(a, m);
   NL(a);
   txt(a, "- Asks: ");
   EMIT(g, a, R->asks[label]);
   meta_ticket(g, c);
}

/* Per-feature behaviour behind the public table: snapshots, latency and failure profiles. */
static const Feature features[] = {
   { .task = "chat-responses", .model = "gpt-4o", .snapshot = "gpt-4o-2024-08-06", .sys_fp = "fp_7fcd609668",
     .temperature = "0.7", .per_day = 8000, .untagged = 0.08, .p_err = 0.0065, .p_trunc = 0.004,
     .max_tokens = 400, .ttft_ms = 420, .ttft_sigma = 0.35, .tok_per_s = 78, .gen = gen_chat },
   { .task = "content-classification", .model = "gpt-4o-mini", .snapshot = "gpt-4o-mini-2024-07-18",
     .sys_fp = "fp_0ba0d124f1", .temperature = "0", .per_day = 4500, .untagged = 0.12, .p_err = 0.0065,
     .p_trunc = 0, .max_tokens = 5, .ttft_ms = 300, .ttft_sigma = 0.3, .tok_per_s = 110, .gen = gen_classification },
   { .task = "summary-generation", .model = "gpt-4o", .snapshot = "gpt-4o-2024-08-06", .sys_fp = "fp_7fcd609668",
     .temperature = "0.3", .per_day = 3200, .untagged = 0.10, .p_err = 0.0065, .p_trunc = 0.015,
     .max_tokens = 200, .ttft_ms = 450, .ttft_sigma = 0.35, .tok_per_s = 78, .gen = gen_summary },
   { .task = "tone-analysis", .model = "gpt-4o", .snapshot = "gpt-4o-2024-08-06", .sys_fp = "fp_7fcd609668",
     .temperature = "0", .per_day = 2800, .untagged = 0.09, .p_err = 0.0065, .p_trunc = 0, .max_tokens = 3,
     .ttft_ms = 360, .ttft_sigma = 0.3, .tok_per_s = 78, .gen = gen_tone },
   { .task = "complex-analysis", .model = "gpt-4-turbo", .snapshot = "gpt-4-turbo-2024-04-09",
     .sys_fp = "fp_5b9f1c8b31", .temperature = "0.2", .per_day = 600, .untagged = 0.11, .p_err = 0.012,
     .p_trunc = 0.04, .max_tokens = 1500, .ttft_ms = 900, .ttft_sigma = 0.4, .tok_per_s = 32, .gen = gen_analysis },
   { .task = "order-extraction", .model = "gpt-4o-mini", .snapshot = "gpt-4o-mini-2024-07-18",
     .sys_fp = "fp_0ba0d124f1", .temperature = "0", .request_extra = ",\"response_format\":{\"type\":\"json_object\"}",
     .per_day = 2400, .untagged = 0.10, .p_err = 0.0065, .p_trunc = 0, .max_tokens = 200, .ttft_ms = 320,
     .ttft_sigma = 0.3, .tok_per_s = 110, .gen = gen_extraction },
   { .task = "ticket-rewrite", .model = "gpt-4o-mini", .snapshot = "gpt-4o-mini-2024-07-18",
     .sys_fp = "fp_0ba0d124f1", .temperature = "0.2", .per_day = 1800, .untagged = 0.10, .p_err = 0.0065,
     .p_trunc = 0.005, .max_tokens = 250, .ttft_ms = 340, .ttft_sigma = 0.3, .tok_per_s = 110, .gen = gen_rewrite },
};

/* The features drawn from the first random stream (see Gen.rng2). */
#define NFEATURES_FIRST 5

#define NFEATURES ARRAY_SIZE(features)

const DemologsFeature Demologs_features[] = {
   { "chat-responses", "gpt-4o", 8000, 0.08, "multi-turn support chat on the website and apps" },
   { "content-classification", "gpt-4o-mini", 4500, 0.12, "routes support tickets to one of 8 queues" },
   { "summary-generation", "gpt-4o", 3200, 0.10, "3-bullet handoff notes of support conversations" },
   { "tone-analysis", "gpt-4o", 2800, 0.09, "one-word tone of incoming customer messages" },
   { "complex-analysis", "gpt-4-turbo", 600, 0.11, "weekly customer-experience reports from metrics and tickets" },
   { "order-extraction", "gpt-4o-mini", 2400, 0.10, "order details (name, order id, date, amount, product) as JSON" },
   { "ticket-rewrite", "gpt-4o-mini", 1800, 0.10, "support tickets rewritten into the queue's 3-bullet format" },
};
const size_t Demologs_nfeatures = ARRAY_SIZE(Demologs_features);

/* UTC hour-of-day profile of a store with European and North American customers. */
static const double hour_weight[24] = { 3.0, 2.4, 1.8, 1.4, 1.2, 1.3, 1.9, 2.9, 4.0, 4.8, 5.2, 5.4,
                                        5.6, 6.0, 6.5, 6.7, 6.5, 6.0, 5.5, 5.2, 4.9, 4.5, 4.0, 3.5 };
/* Monday first */
static const double weekday_weight[7] = { 1.06, 1.08, 1.05, 1.03, 0.96, 0.66, 0.60 };

static void iso8601(Buf *b, long long ms) {
   long long secs = ms / 1000, days = secs / 86400, rem = secs % 86400;
   long long z = days + 719468, era = z / 146097, doe = z - era * 146097;
   long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
   long long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
   long long y = yoe + era * 400 + (m <= 2);
   int h = (int)(rem / 3600), mi = (int)(rem / 60 % 60), s = (int)(rem % 60), f = (int)(ms % 1000);
   char t[24] = { (char)('0' + y / 1000 % 10), (char)('0' + y / 100 % 10), (char)('0' + y / 10 % 10),
                  (char)('0' + y % 10), '-', (char)('0' + m / 10), (char)('0' + m % 10), '-',
                  (char)('0' + d / 10), (char)('0' + d % 10), 'T', (char)('0' + h / 10), (char)('0' + h % 10),
                  ':', (char)('0' + mi / 10), (char)('0' + mi % 10), ':', (char)('0' + s / 10),
                  (char)('0' + s % 10), '.', (char)('0' + f / 100), (char)('0' + f / 10 % 10),
                  (char)('0' + f % 10), 'Z' };
   Buf_syn(b, t, 24);
}

static void hex(Buf *b, uint64_t v, int digits) {
   char t[16];
   for (int i = digits - 1; i >= 0; i--, v >>= 4)
      t[i] = "0123456789abcdef"[v & 15];
   Buf_syn(b, t, (size_t)digits);
}

/* UUIDv7: time-ordered, so ids sort like the records. */
static void uuid7(Buf *b, Rng *r, long long ms) {
   uint64_t a = Rng_next(r), c = Rng_next(r);
   hex(b, (uint64_t)ms >> 16, 8);
   SYN(b, "-");
   hex(b, (uint64_t)ms & 0xffff, 4);
   SYN(b, "-7");
   hex(b, a & 0xfff, 3);
   SYN(b, "-");
   hex(b, 0x8 | ((a >> 12) & 0x3), 1);
   hex(b, (a >> 14) & 0xfff, 3);
   SYN(b, "-");
   hex(b, c & 0xffffffffffffULL, 12);
}

/* Cuts escaped text after about raw_keep characters, never inside an escape or a UTF-8 char. */
static void truncate_answer(Buf *b, size_t raw_keep) {
   size_t i = 0, raw = 0;
   while (i < b->len && raw < raw_keep) {
      unsigned char c = (unsigned char)b->p[i];
      if (c == '\\')
         i += b->p[i + 1] == 'u' ? 6 : 2;
      else if (c >= 0xc0)
         i += c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      else
         i++;
      raw++;
   }
   b->len = i < b->len ? i : b->len;
   b->raw = raw;
}

static void write_error(Gen *g, const Feature *f, int status, double *latency) {
   Buf *o = &g->out;
   Rng *r = &g->rng;
   if (status == 429) {
      SYN(o, "{\"error\":{\"message\":\"Rate limit reached for ");
      Buf_str(o, f->model);
      SYN(o, " in organization org-brightcart on tokens per min (TPM): Limit 2000000, Used ");
      Buf_u64(o, Rng_range(r, 1990000, 1999999));
      SYN(o, ", Requested ");
      Buf_u64(o, Rng_range(r, 200, 9000));
      SYN(o, ". Please try again in ");
      Buf_u64(o, Rng_range(r, 20, 900));
      SYN(o, "ms. Visit https://platform.openai.com/account/rate-limits to learn more.\",\"type\":\"tokens\","
             "\"param\":null,\"code\":\"rate_limit_exceeded\"}}");
      *latency = Rng_lognormal(r, 140, 0.5);
   } else if (status == 500) {
      SYN(o, "{\"error\":{\"message\":\"The server had an error while processing your request. Sorry about that!\","
             "\"type\":\"server_error\",\"param\":null,\"code\":null}}");
      *latency = Rng_lognormal(r, 2400, 0.7);
   } else {
      SYN(o, "{\"error\":{\"message\":\"The server is overloaded or not ready yet.\",\"type\":\"server_error\","
             "\"param\":null,\"code\":null}}");
      *latency = Rng_lognormal(r, 700, 0.6);
   }
}

static void write_record(Gen *g, const Feature *f, long long ts_ms, double err_factor) {
   Rng *r = &g->rng;
   Call *c = &g->call;
   Buf_clear(&c->msgs);
   Buf_clear(&c->answer);
   Buf_clear(&c->meta);
   c->nmsgs = 0;
   c->sys_raw = 0;
   c->user[0] = '\0';
   g->ts_ms = ts_ms;
   f->gen(g, c);

   /* roughly 4 characters per token, varying with the text */
   double per_char = 0.235 + 0.03 * Rng_unit(r);
   uint64_t prompt = (uint64_t)(c->msgs.raw * per_char + 0.5) + 3 + 4 * (uint64_t)c->nmsgs;
   uint64_t completion = (uint64_t)(c->answer.raw * per_char + 0.5);
   if (completion < 1)
      completion = 1;
   int max_tokens = f->max_tokens;
   bool truncated = false;
   if (f->p_trunc > 0 && completion > 24 && Rng_chance(r, f->p_trunc)) {
      /* this caller asked for fewer tokens than the answer needed */
      max_tokens = (int)(completion * (0.45 + 0.35 * Rng_unit(r)));
      truncate_answer(&c->answer, (size_t)(max_tokens / per_char));
      completion = (uint64_t)max_tokens;
      truncated = true;
   } else if (max_tokens && completion > (uint64_t)max_tokens) {
      completion = (uint64_t)max_tokens;
   }
   int status = 200;
   if (Rng_chance(r, f->p_err * err_factor)) {
      double u = Rng_unit(r);
      status = u < 0.55 ? 429 : u < 0.85 ? 500 : 503;
   }
   bool tagged = !Rng_chance(r, f->untagged);

   Buf *o = &g->out;
   SYN(o, "{\"id\":\"");
   uuid7(o, r, ts_ms);
   SYN(o, "\",\"ts\":\"");
   iso8601(o, ts_ms);
   if (tagged) {
      SYN(o, "\",\"task\":\"");
      Buf_str(o, f->task);
   }
   SYN(o, "\",\"arm\":\"primary\",\"request\":{\"model\":\"");
   Buf_str(o, f->model);
   SYN(o, "\",\"messages\":[");
   Buf_syn(o, c->msgs.p, c->msgs.len);
   SYN(o, "],\"temperature\":");
   Buf_str(o, f->temperature);
   if (f->request_extra)
      Buf_str(o, f->request_extra);
   if (max_tokens) {
      SYN(o, ",\"max_tokens\":");
      Buf_u64(o, (uint64_t)max_tokens);
   }
   if (c->user[0]) {
      SYN(o, ",\"user\":\"");
      Buf_str(o, c->user);
      SYN(o, "\"");
   }
   if (c->meta.len) {
      SYN(o, ",\"metadata\":");
      Buf_syn(o, c->meta.p, c->meta.len);
   }
   SYN(o, "},\"response\":");

   double latency;
   if (status != 200) {
      write_error(g, f, status, &latency);
      prompt = completion = 0;
   } else {
      static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
      char id[29];
      for (int i = 0; i < 29; i++)
         id[i] = alnum[Rng_below(r, 62)];
      SYN(o, "{\"id\":\"chatcmpl-");
      Buf_syn(o, id, 29);
      SYN(o, "\",\"object\":\"chat.completion\",\"created\":");
      Buf_u64(o, (uint64_t)(ts_ms / 1000));
      SYN(o, ",\"model\":\"");
      Buf_str(o, f->snapshot);
      SYN(o, "\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
      Buf_syn(o, c->answer.p, c->answer.len);
      SYN(o, "\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"");
      Buf_str(o, truncated ? "length" : "stop");
      SYN(o, "\"}],\"usage\":{\"prompt_tokens\":");
      Buf_u64(o, prompt);
      SYN(o, ",\"completion_tokens\":");
      Buf_u64(o, completion);
      SYN(o, ",\"total_tokens\":");
      Buf_u64(o, prompt + completion);
      /* OpenAI caches prompt prefixes of 1024+ tokens in 128-token steps */
      uint64_t sys_tokens = (uint64_t)(c->sys_raw * per_char);
      uint64_t cached = prompt >= 1024 && sys_tokens >= 1024 && Rng_chance(r, 0.7) ? sys_tokens / 128 * 128 : 0;
      SYN(o, ",\"prompt_tokens_details\":{\"cached_tokens\":");
      Buf_u64(o, cached);
      SYN(o, ",\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
             "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},\"service_tier\":\"default\","
             "\"system_fingerprint\":\"");
      Buf_str(o, f->sys_fp);
      SYN(o, "\"}");
      latency = Rng_lognormal(r, f->ttft_ms, f->ttft_sigma) + prompt * 0.03
                + completion * 1000.0 / f->tok_per_s * Rng_lognormal(r, 1.0, 0.2);
   }
   SYN(o, ",\"status\":");
   Buf_u64(o, (uint64_t)status);
   SYN(o, ",\"latency_ms\":");
   Buf_dec1(o, latency);
   SYN(o, ",\"model\":\"");
   Buf_str(o, f->model);
   SYN(o, "\",\"usage\":{\"prompt_tokens\":");
   Buf_u64(o, prompt);
   SYN(o, ",\"completion_tokens\":");
   Buf_u64(o, completion);
   SYN(o, "}}\n");
}

typedef struct {
   uint32_t ms;      /* offset in the hour */
   uint32_t seq;     /* tie-break, keeps the sort total and so the output deterministic */
   uint8_t feature;
} Event;

static int event_cmp(const void *a, const void *b) {
   const Event *x = a, *y = b;
   if (x->ms != y->ms)
      return x->ms < y->ms ? -1 : 1;
   return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void Demologs_defaults(DemologsParams *p) {
   memset(p, 0, sizeof *p);
   p->days = 14;
   p->seed = 1;
   p->scale = 1.0;
   p->share_dir = "share";
}

static bool flush_out(FILE *out, Buf *b, uint64_t *bytes) {
   if (b->len && fwrite(b->p, 1, b->len, out) != b->len)
      return false;
   *bytes += b->len;
   b->len = 0;
   return true;
}

bool Demologs_write(FILE *out, const DemologsParams *p, char **err) {
   char *e = NULL;
   if (p->days < 1 || p->days > 3660) {
      e = xasprintf("demo-logs: --days %d is out of range (1..3660)", p->days);
      goto fail_early;
   }
   if (!(p->scale > 0 && p->scale <= 1000)) {
      e = xasprintf("demo-logs: --scale %g is out of range (above 0, at most 1000)", p->scale);
      goto fail_early;
   }

   Data *D = xcalloc(1, sizeof *D);
   if (!Data_load(D, p->share_dir ? p->share_dir : "share", &e)) {
      Data_free(D);
      free(D);
      char *m = xasprintf("demo-logs: %s", e);
      free(e);
      e = m;
      goto fail_early;
   }

   Gen *g = xcalloc(1, sizeof *g);
   g->D = D;
   Rng_seed(&g->rng, p->seed);
   Rng_seed(&g->rng2, p->seed ^ 0x6f666672616d7032ULL);
   long long start = p->start ? p->start : DEMOLOGS_DEFAULT_END - 86400LL * p->days;
   start -= ((start % 86400) + 86400) % 86400; /* days run midnight to midnight UTC */

   double hsum = 0, wmean = 0;
   for (int h = 0; h < 24; h++)
      hsum += hour_weight[h];
   for (int d = 0; d < 7; d++)
      wmean += weekday_weight[d] / 7;

   Event *ev = NULL;
   size_t evcap = 0;
   DemologsProgress pr = { .days = p->days };
   bool ok = true;
   for (int day = 0; day < p->days && ok; day++) {
      long long day_start = start + 86400LL * day;
      int wd = (int)(((day_start / 86400 + 3) % 7 + 7) % 7);
      /* slow growth over the period, so "new examples since" and drift have something to see */
      double trend = 1.0 + 0.004 * (day - p->days / 2.0);
      for (int h = 0; h < 24 && ok; h++) {
         size_t n = 0;
         for (size_t f = 0; f < NFEATURES; f++) {
            Rng *fr = f < NFEATURES_FIRST ? &g->rng : &g->rng2;
            double mean = features[f].per_day * p->scale * weekday_weight[wd] / wmean * hour_weight[h] / hsum * trend;
            uint32_t k = Rng_count(fr, mean);
            if (n + k > evcap) {
               evcap = (n + k) * 2;
               ev = xrealloc(ev, evcap * sizeof *ev);
            }
            for (uint32_t i = 0; i < k; i++, n++)
               ev[n] = (Event){ Rng_below(fr, 3600000), (uint32_t)n, (uint8_t)f };
         }
         qsort(ev, n, sizeof *ev, event_cmp);
         /* errors bunch up at peak hours, when providers run hot */
         double err_factor = hour_weight[h] / (hsum / 24) > 1.15 ? 1.4 : 0.75;
         for (size_t i = 0; i < n; i++) {
            bool second = ev[i].feature >= NFEATURES_FIRST;
            if (second) {
               Rng keep = g->rng;
               g->rng = g->rng2;
               write_record(g, &features[ev[i].feature], (day_start + h * 3600LL) * 1000 + ev[i].ms, err_factor);
               g->rng2 = g->rng;
               g->rng = keep;
            } else {
               write_record(g, &features[ev[i].feature], (day_start + h * 3600LL) * 1000 + ev[i].ms, err_factor);
            }
            pr.records++;
            if (g->out.len >= (1u << 20) && !flush_out(out, &g->out, &pr.bytes)) {
               ok = false;
               break;
            }
         }
      }
      if (ok && !flush_out(out, &g->out, &pr.bytes))
         ok = false;
      if (ok && fflush(out) != 0)
         ok = false;
      pr.day = day + 1;
      if (ok && p->progress)
         p->progress(p->progress_ctx, &pr);
   }
   if (!ok)
      e = xasprintf("demo-logs: write failed after %llu records: %s", (unsigned long long)pr.records,
                    strerror(errno ? errno : EIO));

   free(ev);
   Buf *bufs[] = { &g->persona, &g->ticket, &g->conv, &g->metrics, &g->samples, &g->cats, &g->xf,
                   &g->call.msgs, &g->call.answer, &g->call.meta, &g->out };
   for (size_t i = 0; i < ARRAY_SIZE(bufs); i++)
      Buf_free(bufs[i]);
   free(g);
   Data_free(D);
   free(D);
   if (!ok)
      goto fail_early;
   return true;

fail_early:
   if (err)
      *err = e;
   else
      free(e);
   return false;
}
