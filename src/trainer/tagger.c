/* tagger.c - the extractor: per-field BIO taggers (averaged perceptron, Viterbi), span
 * alignment of the frontier's answers, calibration, and the model file. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "trainer/tagger.h"

#define NFEAT TAGGER_NFEAT
#define MAGIC "OFRTAG1\n"
#define FILE_VERSION 1u

typedef enum { KIND_STRING, KIND_INTEGER, KIND_REAL } Kind;

typedef struct {
   char *name;
   Kind kind;
   float *w;                  /* buckets * TAG_N */
   double trans[4][TAG_N];
   double temp;
} Field;

struct Tagger {
   int nfields;
   Field *f;
   int blog2;
   double valid_acc;
   int epoch;
};

void Tagger_defaults(TaggerParams *p) {
   *p = (TaggerParams){ .epochs_max = 10, .patience = 3, .buckets_log2 = 17, .val_frac = 0.1, .seed = 1 };
}

static void set_err(char **err, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void set_err(char **err, const char *fmt, ...) {
   if (!err)
      return;
   va_list ap;
   va_start(ap, fmt);
   *err = xvasprintf(fmt, ap);
   va_end(ap);
}

/* ---- tokens ---- */

static bool wordc(unsigned char c) {
   return isalnum(c) || c >= 0x80;
}

size_t Tagger_tokenize(const char *text, TaggerTok **out) {
   size_t n = 0, cap = 0;
   TaggerTok *t = NULL;
   const unsigned char *s = (const unsigned char *)text;
   size_t i = 0;
   while (s[i]) {
      if (isspace(s[i])) {
         i++;
         continue;
      }
      size_t start = i;
      if (!wordc(s[i])) {
         i++;
      } else {
         for (;;) {
            while (wordc(s[i]))
               i++;
            unsigned char c = s[i];
            /* s[i + 1] exists only before the end: c is the terminating NUL otherwise. */
            bool digits = c && i > 0 && isdigit(s[i - 1]) && isdigit(s[i + 1]);
            bool join = c && wordc(s[i + 1]) && (strchr(".-/@_'", c) || ((c == ',' || c == ':') && digits));
            if (!join)
               break;
            i++;
         }
      }
      if (n == cap) {
         cap = cap ? cap * 2 : 32;
         t = xrealloc(t, cap * sizeof *t);
      }
      t[n++] = (TaggerTok){ start, i };
   }
   *out = t;
   return n;
}

bool Tagger_align(const char *text, const TaggerTok *t, size_t nt, const char *value, size_t *first, size_t *ntok) {
   size_t vlen = strlen(value);
   if (!vlen)
      return false;
   for (size_t a = 0; a < nt; a++) {
      if (t[a].start + vlen > strlen(text) || memcmp(text + t[a].start, value, vlen) != 0)
         continue;
      size_t end = t[a].start + vlen;
      for (size_t b = a; b < nt && t[b].end <= end; b++) {
         if (t[b].end == end) {
            *first = a;
            *ntok = b - a + 1;
            return true;
         }
      }
   }
   return false;
}

char *Tagger_value_text(const json_t *v) {
   if (json_is_string(v))
      return xstrdup(json_string_value(v));
   if (json_is_integer(v) || json_is_real(v)) {
      char *s = json_dumps(v, JSON_ENCODE_ANY);
      return s ? s : NULL;
   }
   return NULL;
}

static json_t *answer_object(const char *answer) {
   json_t *v = json_loads(answer, 0, NULL);
   if (!json_is_object(v)) {
      json_decref(v);
      return NULL;
   }
   return v;
}

bool Tagger_is_object(const char *answer) {
   json_t *v = answer_object(answer);
   json_decref(v);
   return v != NULL;
}

/* ---- the data: fields, kinds, gold tags ---- */

typedef struct {
   char *name;
   long present, nonspan, ints, reals, strings;
   long example;      /* first example whose value is not a span, -1 none */
   char *example_value;
} FieldStat;

typedef struct {
   FieldStat *f;
   int n;
   json_t **obj;      /* per example */
} Survey;

static void survey_free(Survey *s, size_t n) {
   for (int i = 0; i < s->n; i++) {
      free(s->f[i].name);
      free(s->f[i].example_value);
   }
   free(s->f);
   if (s->obj)
      for (size_t i = 0; i < n; i++)
         json_decref(s->obj[i]);
   free(s->obj);
   memset(s, 0, sizeof *s);
}

static int field_index(const Survey *s, const char *name) {
   for (int i = 0; i < s->n; i++)
      if (str_eq(s->f[i].name, name))
         return i;
   return -1;
}

/* Parses every answer and counts, per field, the values that are not spans. */
static bool survey(const char *const *texts, const char *const *answers, size_t n, Survey *s, char **err) {
   memset(s, 0, sizeof *s);
   s->obj = xcalloc(n ? n : 1, sizeof *s->obj);
   for (size_t r = 0; r < n; r++) {
      s->obj[r] = answer_object(answers[r]);
      if (!s->obj[r]) {
         set_err(err, "example %zu: the assistant answer is not a JSON object (%.60s%s): an extraction dataset has one "
                 "object per answer", r + 1, answers[r], strlen(answers[r]) > 60 ? "..." : "");
         survey_free(s, n);
         return false;
      }
      TaggerTok *t;
      size_t nt = Tagger_tokenize(texts[r], &t);
      const char *key;
      json_t *v;
      json_object_foreach(s->obj[r], key, v) {
         int k = field_index(s, key);
         if (k < 0) {
            if (s->n == TAGGER_MAX_FIELDS) {
               set_err(err, "example %zu: the answers have more than %d distinct fields (the extractor's limit): "
                       "this is not a fixed-field extraction task", r + 1, TAGGER_MAX_FIELDS);
               free(t);
               survey_free(s, n);
               return false;
            }
            s->f = xrealloc(s->f, (size_t)(s->n + 1) * sizeof *s->f);
            s->f[s->n] = (FieldStat){ .name = xstrdup(key), .example = -1 };
            k = s->n++;
         }
         FieldStat *f = &s->f[k];
         if (json_is_null(v))
            continue;
         f->present++;
         f->ints += json_is_integer(v);
         f->reals += json_is_real(v);
         f->strings += json_is_string(v);
         char *val = Tagger_value_text(v);
         size_t a, l;
         if (!val || !Tagger_align(texts[r], t, nt, val, &a, &l)) {
            f->nonspan++;
            if (f->example < 0) {
               f->example = (long)r;
               char *shown = val ? xstrdup(val) : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
               f->example_value = xasprintf("%.60s%s", shown ? shown : "?", shown && strlen(shown) > 60 ? "..." : "");
               free(shown);
            }
         }
         free(val);
      }
      free(t);
   }
   return true;
}

static bool survey_verdict(const Survey *s, size_t n, char **err) {
   long spans = 0;
   for (int i = 0; i < s->n; i++) {
      const FieldStat *f = &s->f[i];
      spans += f->present - f->nonspan;
      if (f->present && (double)f->nonspan > TAGGER_MAX_NONSPAN_SHARE * (double)f->present) {
         set_err(err, "field '%s': %ld of %ld examples that give it (%.1f %%) have a value that is not a span of the "
                 "user input (at most %.0f %% may), e.g. example %ld: %s; the extractor copies values from the input: "
                 "drop or rewrite that field, or train this task on a generative trainer", f->name, f->nonspan,
                 f->present, 100.0 * (double)f->nonspan / (double)f->present, 100 * TAGGER_MAX_NONSPAN_SHARE,
                 f->example + 1, f->example_value);
         return false;
      }
   }
   if (s->n == 0 || spans == 0) {
      set_err(err, "the %zu answers are JSON objects, but no field has a value copied from the input: there is "
              "nothing for the extractor to learn", n);
      return false;
   }
   return true;
}

bool Tagger_check(const char *const *texts, const char *const *answers, size_t n, char **err) {
   Survey s;
   if (n == 0) {
      set_err(err, "no examples to check");
      return false;
   }
   if (!survey(texts, answers, n, &s, err))
      return false;
   bool ok = survey_verdict(&s, n, err);
   survey_free(&s, n);
   return ok;
}

/* ---- features ---- */

typedef struct {
   char *lower, *word, *shape, *brief;
   size_t len;
   bool line_start;
} TokInfo;

static void tok_info(const char *text, const TaggerTok *t, TokInfo *ti) {
   size_t len = t->end - t->start;
   ti->len = len;
   ti->word = xstrndup(text + t->start, len);
   ti->lower = xstrndup(text + t->start, len);
   ti->shape = xmalloc(len + 1);
   ti->brief = xmalloc(len + 1);
   size_t bl = 0;
   for (size_t i = 0; i < len; i++) {
      unsigned char c = (unsigned char)ti->word[i];
      ti->lower[i] = (char)tolower(c);
      char sh = isupper(c) ? 'X' : islower(c) || c >= 0x80 ? 'x' : isdigit(c) ? 'd' : (char)c;
      ti->shape[i] = sh;
      if (!bl || ti->brief[bl - 1] != sh)
         ti->brief[bl++] = sh;
   }
   ti->shape[len > 16 ? 16 : len] = '\0';
   ti->brief[bl] = '\0';
   size_t p = t->start;
   while (p > 0 && (text[p - 1] == ' ' || text[p - 1] == '\t'))
      p--;
   ti->line_start = p == 0 || text[p - 1] == '\n';
}

static void tok_info_free(TokInfo *ti) {
   free(ti->lower);
   free(ti->word);
   free(ti->shape);
   free(ti->brief);
}

/* One feature string, NUL-terminated, appended to sb. */
static void feat(Sbuf *sb, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void feat(Sbuf *sb, const char *fmt, ...) {
   va_list ap;
   va_start(ap, fmt);
   char *s = xvasprintf(fmt, ap);
   va_end(ap);
   Sbuf_add(sb, s, strlen(s) + 1);
   free(s);
}

char *Tagger_features(const char *text, const TaggerTok *t, size_t nt, size_t *len) {
   Sbuf sb = { 0 };
   TokInfo *ti = xcalloc(nt ? nt : 1, sizeof *ti);
   for (size_t i = 0; i < nt; i++)
      tok_info(text, &t[i], &ti[i]);
#define LO(j) ((j) < 0 ? "<s>" : (size_t)(j) >= nt ? "</s>" : ti[(j)].lower)
#define SH(j) ((j) < 0 ? "<s>" : (size_t)(j) >= nt ? "</s>" : ti[(j)].brief)
   for (size_t i = 0; i < nt; i++) {
      long j = (long)i;
      const TokInfo *x = &ti[i];
      feat(&sb, "bias");
      feat(&sb, "w=%s", x->lower);
      feat(&sb, "W=%s", x->word);
      feat(&sb, "b=%s", x->brief);
      feat(&sb, "s=%s", x->shape);
      for (int k = 1; k <= 3; k++) {
         int l = x->len < (size_t)k ? (int)x->len : k;
         feat(&sb, "p%d=%.*s", k, l, x->lower);
         feat(&sb, "u%d=%s", k, x->lower + x->len - (size_t)l);
      }
      feat(&sb, "w-1=%s", LO(j - 1));
      feat(&sb, "w+1=%s", LO(j + 1));
      feat(&sb, "w-2=%s", LO(j - 2));
      feat(&sb, "w+2=%s", LO(j + 2));
      feat(&sb, "b-1=%s", SH(j - 1));
      feat(&sb, "b+1=%s", SH(j + 1));
      feat(&sb, "w-1w=%s|%s", LO(j - 1), x->lower);
      feat(&sb, "ww+1=%s|%s", x->lower, LO(j + 1));
      feat(&sb, "len=%zu", x->len > 10 ? 10 : x->len);
      feat(&sb, "w-1b=%s|%s", LO(j - 1), x->brief);
      feat(&sb, "%s", x->line_start ? "line" : "mid");
      feat(&sb, "w-2w-1=%s|%s", LO(j - 2), LO(j - 1));
      feat(&sb, "b-1b=%s|%s", SH(j - 1), x->brief);
   }
#undef LO
#undef SH
   for (size_t i = 0; i < nt; i++)
      tok_info_free(&ti[i]);
   free(ti);
   *len = sb.len;
   return sb.buf ? Sbuf_steal(&sb) : xstrdup("");
}

/* Hashes of the NFEAT features of every token: feat[i * NFEAT + k]. */
static uint32_t *features(const char *text, const TaggerTok *t, size_t nt) {
   size_t len;
   char *all = Tagger_features(text, t, nt, &len);
   uint32_t *h = xmalloc((nt ? nt : 1) * NFEAT * sizeof *h);
   const char *p = all;
   for (size_t i = 0; i < nt * NFEAT; i++) {
      size_t l = strlen(p);
      h[i] = (uint32_t)(mix64(hash64(p, l)) >> 32);
      p += l + 1;
   }
   free(all);
   return h;
}

/* ---- decoding ---- */

static bool allowed(int prev, int tag) {
   return tag != TAG_I || prev == TAG_B || prev == TAG_I;
}

double Tagger_viterbi(size_t n, const double *emit, const double trans[4][TAG_N], int *tags) {
   if (n == 0)
      return 0;
   double *best = xmalloc(n * TAG_N * sizeof *best);
   int *back = xmalloc(n * TAG_N * sizeof *back);
   for (int t = 0; t < TAG_N; t++) {
      best[t] = allowed(TAG_START, t) ? trans[TAG_START][t] + emit[t] : -INFINITY;
      back[t] = -1;
   }
   for (size_t i = 1; i < n; i++) {
      for (int t = 0; t < TAG_N; t++) {
         double b = -INFINITY;
         int arg = TAG_O;
         for (int p = 0; p < TAG_N; p++) {
            double s = allowed(p, t) ? best[(i - 1) * TAG_N + p] + trans[p][t] : -INFINITY;
            if (s > b) {
               b = s;
               arg = p;
            }
         }
         best[i * TAG_N + t] = b + emit[i * TAG_N + t];
         back[i * TAG_N + t] = arg;
      }
   }
   int t = TAG_O;
   for (int k = 1; k < TAG_N; k++)
      if (best[(n - 1) * TAG_N + k] > best[(n - 1) * TAG_N + t])
         t = k;
   double score = best[(n - 1) * TAG_N + t];
   for (size_t i = n; i-- > 0;) {
      tags[i] = t;
      t = back[i * TAG_N + t];
   }
   free(best);
   free(back);
   return score;
}

static double lse(double a, double b) {
   if (a == -INFINITY)
      return b;
   if (b == -INFINITY)
      return a;
   return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

double Tagger_logz(size_t n, const double *emit, const double trans[4][TAG_N], double T) {
   if (n == 0)
      return 0;
   double a[TAG_N], nx[TAG_N];
   for (int t = 0; t < TAG_N; t++)
      a[t] = allowed(TAG_START, t) ? (trans[TAG_START][t] + emit[t]) / T : -INFINITY;
   for (size_t i = 1; i < n; i++) {
      for (int t = 0; t < TAG_N; t++) {
         double s = -INFINITY;
         for (int p = 0; p < TAG_N; p++)
            if (allowed(p, t))
               s = lse(s, a[p] + trans[p][t] / T);
         nx[t] = s + emit[i * TAG_N + t] / T;
      }
      memcpy(a, nx, sizeof a);
   }
   double z = -INFINITY;
   for (int t = 0; t < TAG_N; t++)
      z = lse(z, a[t]);
   return z;
}

static double path_score(size_t n, const double *emit, const double trans[4][TAG_N], const int *tags) {
   double s = 0;
   for (size_t i = 0; i < n; i++)
      s += trans[i ? tags[i - 1] : TAG_START][tags[i]] + emit[i * TAG_N + tags[i]];
   return s;
}

/* The first B I* span of tags; false when there is none. */
static bool first_span(const int *tags, size_t n, size_t *a, size_t *len) {
   for (size_t i = 0; i < n; i++) {
      if (tags[i] == TAG_B) {
         size_t j = i + 1;
         while (j < n && tags[j] == TAG_I)
            j++;
         *a = i;
         *len = j - i;
         return true;
      }
   }
   return false;
}

/* ---- training ---- */

typedef struct {
   size_t nt;
   uint32_t *feat;
   int **gold;        /* per field: tags, or NULL when the field's value is not a span here */
} Example;

typedef struct {
   float *w;          /* current weights */
   double *acc;       /* sum over updates of step * delta, for averaging */
   double trans[4][TAG_N], tacc[4][TAG_N];
   float *best;       /* averaged weights of the kept epoch */
   double best_trans[4][TAG_N];
} Learner;

static void emissions(const float *w, uint32_t mask, const Example *e, double *emit) {
   for (size_t i = 0; i < e->nt; i++) {
      const uint32_t *f = e->feat + i * NFEAT;
      double s[TAG_N] = { 0 };
      for (int k = 0; k < NFEAT; k++) {
         const float *row = w + (size_t)(f[k] & mask) * TAG_N;
         for (int t = 0; t < TAG_N; t++)
            s[t] += row[t];
      }
      for (int t = 0; t < TAG_N; t++)
         emit[i * TAG_N + t] = s[t];
   }
}

static void update(Learner *L, uint32_t mask, const Example *e, const int *tags, int tag_delta_sign, double step) {
   for (size_t i = 0; i < e->nt; i++) {
      const uint32_t *f = e->feat + i * NFEAT;
      for (int k = 0; k < NFEAT; k++) {
         size_t x = (size_t)(f[k] & mask) * TAG_N + (size_t)tags[i];
         L->w[x] += (float)tag_delta_sign;
         L->acc[x] += step * tag_delta_sign;
      }
      int prev = i ? tags[i - 1] : TAG_START;
      L->trans[prev][tags[i]] += tag_delta_sign;
      L->tacc[prev][tags[i]] += step * tag_delta_sign;
   }
}

/* Averaged weights w - acc / step into out. */
static void average(const Learner *L, size_t nw, double step, float *out, double trans[4][TAG_N]) {
   for (size_t x = 0; x < nw; x++)
      out[x] = (float)((double)L->w[x] - L->acc[x] / step);
   for (int p = 0; p < 4; p++)
      for (int t = 0; t < TAG_N; t++)
         trans[p][t] = L->trans[p][t] - L->tacc[p][t] / step;
}

static bool tags_equal(const int *a, const int *b, size_t n) {
   return n == 0 || memcmp(a, b, n * sizeof *a) == 0;
}

/* Whether the decoded answer (first span or none) equals the gold one. */
static bool answer_equal(const int *pred, const int *gold, size_t n) {
   size_t a1 = 0, l1 = 0, a2 = 0, l2 = 0;
   bool s1 = first_span(pred, n, &a1, &l1), s2 = first_span(gold, n, &a2, &l2);
   return s1 == s2 && (!s1 || (a1 == a2 && l1 == l2));
}

static Example example_build(const char *text, json_t *obj, const Survey *s) {
   Example e = { 0 };
   TaggerTok *t;
   e.nt = Tagger_tokenize(text, &t);
   e.feat = features(text, t, e.nt);
   e.gold = xcalloc((size_t)s->n, sizeof *e.gold);
   for (int k = 0; k < s->n; k++) {
      json_t *v = json_object_get(obj, s->f[k].name);
      char *val = v && !json_is_null(v) ? Tagger_value_text(v) : NULL;
      size_t a = 0, l = 0;
      bool none = !v || json_is_null(v);
      if (none || (val && Tagger_align(text, t, e.nt, val, &a, &l))) {
         e.gold[k] = xcalloc(e.nt ? e.nt : 1, sizeof *e.gold[k]);
         for (size_t i = 0; !none && i < l; i++)
            e.gold[k][a + i] = i ? TAG_I : TAG_B;
      }
      free(val);
   }
   free(t);
   return e;
}

static void example_free(Example *e, int nfields) {
   free(e->feat);
   for (int k = 0; k < nfields; k++)
      free(e->gold[k]);
   free(e->gold);
}

/* Held-out answers of field k right with weights w, over the examples that have a gold answer. */
static void heldout(const float *w, const double trans[4][TAG_N], uint32_t mask, int k, Example *ex,
                    const size_t *idx, size_t n, long *right, long *total) {
   for (size_t r = 0; r < n; r++) {
      Example *e = &ex[idx[r]];
      if (!e->gold[k])
         continue;
      double *emit = xmalloc((e->nt ? e->nt : 1) * TAG_N * sizeof *emit);
      int *tags = xmalloc((e->nt ? e->nt : 1) * sizeof *tags);
      emissions(w, mask, e, emit);
      Tagger_viterbi(e->nt, emit, trans, tags);
      (*total)++;
      *right += answer_equal(tags, e->gold[k], e->nt);
      free(emit);
      free(tags);
   }
}

/* The temperature minimising the held-out negative log-likelihood of the gold paths. */
static double fit_temperature(const Field *f, int k, Example *ex, const size_t *idx, size_t n, uint32_t mask) {
   static const double grid[] = { 0.25, 0.35, 0.5, 0.7, 1, 1.4, 2, 2.8, 4, 5.6, 8, 11, 16, 23, 32, 45, 64 };
   double nll[sizeof grid / sizeof grid[0]] = { 0 };
   long used = 0;
   for (size_t r = 0; r < n; r++) {
      Example *e = &ex[idx[r]];
      if (!e->gold[k] || e->nt == 0)
         continue;
      double *emit = xmalloc(e->nt * TAG_N * sizeof *emit);
      emissions(f->w, mask, e, emit);
      double gs = path_score(e->nt, emit, f->trans, e->gold[k]);
      for (size_t g = 0; g < ARRAY_SIZE(grid); g++)
         nll[g] += Tagger_logz(e->nt, emit, f->trans, grid[g]) - gs / grid[g];
      used++;
      free(emit);
   }
   if (!used)
      return 1;
   size_t best = 0;
   for (size_t g = 1; g < ARRAY_SIZE(grid); g++)
      if (nll[g] < nll[best])
         best = g;
   return grid[best];
}

Tagger *Tagger_train(const char *const *texts, const char *const *answers, size_t n, const TaggerParams *pp,
                     TaggerProgress cb, void *ctx, char **err) {
   TaggerParams p;
   if (pp)
      p = *pp;
   else
      Tagger_defaults(&p);
   if (p.buckets_log2 < 12 || p.buckets_log2 > 24 || p.epochs_max < 1 || p.val_frac < 0 || p.val_frac >= 1) {
      set_err(err, "tagger: parameters out of range (buckets_log2 12..24 is %d, epochs_max >= 1 is %d, val_frac "
              "0..1 is %g)", p.buckets_log2, p.epochs_max, p.val_frac);
      return NULL;
   }
   if (n == 0) {
      set_err(err, "no examples to train on");
      return NULL;
   }
   Survey s;
   if (!survey(texts, answers, n, &s, err))
      return NULL;
   if (!survey_verdict(&s, n, err)) {
      survey_free(&s, n);
      return NULL;
   }
   Tagger *m = xcalloc(1, sizeof *m);
   m->nfields = s.n;
   m->blog2 = p.buckets_log2;
   m->f = xcalloc((size_t)s.n, sizeof *m->f);
   for (int k = 0; k < s.n; k++) {
      m->f[k].name = xstrdup(s.f[k].name);
      m->f[k].kind = s.f[k].strings || (!s.f[k].ints && !s.f[k].reals) ? KIND_STRING
                     : s.f[k].reals ? KIND_REAL : KIND_INTEGER;
      m->f[k].temp = 1;
   }
   Example *ex = xcalloc(n, sizeof *ex);
   for (size_t r = 0; r < n; r++)
      ex[r] = example_build(texts[r], s.obj[r], &s);

   /* Seeded split, then a seeded order per epoch. */
   uint64_t rng = p.seed ^ 0x5851f42d4c957f2dULL;
   size_t *perm = xmalloc(n * sizeof *perm);
   for (size_t i = 0; i < n; i++)
      perm[i] = i;
   for (size_t i = n; i > 1; i--) {
      size_t j = (size_t)(splitmix64(&rng) % i);
      size_t x = perm[i - 1];
      perm[i - 1] = perm[j];
      perm[j] = x;
   }
   size_t nval = n >= TAGGER_MIN_HELDOUT ? (size_t)(p.val_frac * (double)n) : 0;
   size_t *val = perm, *train = perm + nval, ntrain = n - nval;

   size_t nw = ((size_t)1 << p.buckets_log2) * TAG_N;
   uint32_t mask = (1u << p.buckets_log2) - 1;
   Learner *L = xcalloc((size_t)s.n, sizeof *L);
   for (int k = 0; k < s.n; k++) {
      L[k].w = xcalloc(nw, sizeof *L[k].w);
      L[k].acc = xcalloc(nw, sizeof *L[k].acc);
      L[k].best = xcalloc(nw, sizeof *L[k].best);
   }
   size_t maxnt = 1;
   for (size_t r = 0; r < n; r++)
      maxnt = ex[r].nt > maxnt ? ex[r].nt : maxnt;
   double *emit = xmalloc(maxnt * TAG_N * sizeof *emit);
   int *tags = xmalloc(maxnt * sizeof *tags);
   double step = 1, best_acc = -1;
   int best_epoch = 0, since = 0;
   bool cancelled = false;
   for (int epoch = 1; epoch <= p.epochs_max && !cancelled; epoch++) {
      for (size_t i = ntrain; i > 1; i--) {
         size_t j = (size_t)(splitmix64(&rng) % i);
         size_t x = train[i - 1];
         train[i - 1] = train[j];
         train[j] = x;
      }
      long wrong = 0, seen = 0;
      for (size_t r = 0; r < ntrain; r++) {
         Example *e = &ex[train[r]];
         for (int k = 0; k < s.n; k++) {
            if (!e->gold[k] || e->nt == 0)
               continue;
            emissions(L[k].w, mask, e, emit);
            Tagger_viterbi(e->nt, emit, (const double (*)[TAG_N])L[k].trans, tags);
            seen++;
            if (!tags_equal(tags, e->gold[k], e->nt)) {
               wrong++;
               update(&L[k], mask, e, e->gold[k], 1, step);
               update(&L[k], mask, e, tags, -1, step);
            }
         }
         step++;
      }
      double vacc = -1;
      bool better;
      if (nval) {
         /* This epoch's averaged weights go to m->f[k] as candidates; kept below when better. */
         long right = 0, total = 0;
         for (int k = 0; k < s.n; k++) {
            if (!m->f[k].w)
               m->f[k].w = xmalloc(nw * sizeof *m->f[k].w);
            average(&L[k], nw, step, m->f[k].w, m->f[k].trans);
            heldout(m->f[k].w, (const double (*)[TAG_N])m->f[k].trans, mask, k, ex, val, nval, &right, &total);
         }
         vacc = total ? (double)right / (double)total : 1;
         better = vacc > best_acc;
      } else {
         better = true;
      }
      if (better) {
         best_acc = vacc;
         best_epoch = epoch;
         since = 0;
         for (int k = 0; k < s.n; k++) {
            if (nval) {
               memcpy(L[k].best, m->f[k].w, nw * sizeof *L[k].best);
               memcpy(L[k].best_trans, m->f[k].trans, sizeof L[k].best_trans);
            } else {
               average(&L[k], nw, step, L[k].best, L[k].best_trans);
            }
         }
      } else {
         since++;
      }
      if (cb && !cb(ctx, epoch, p.epochs_max, seen ? (double)wrong / (double)seen : 0, vacc))
         cancelled = true;
      if (since >= p.patience || (seen && wrong == 0 && !nval))
         break;
   }
   free(emit);
   free(tags);
   for (int k = 0; k < s.n; k++) {
      free(m->f[k].w);
      m->f[k].w = L[k].best;
      memcpy(m->f[k].trans, L[k].best_trans, sizeof m->f[k].trans);
      free(L[k].w);
      free(L[k].acc);
   }
   m->valid_acc = nval ? best_acc : -1;
   m->epoch = best_epoch;
   if (nval)
      for (int k = 0; k < s.n; k++)
         m->f[k].temp = fit_temperature(&m->f[k], k, ex, val, nval, mask);
   free(L);
   for (size_t r = 0; r < n; r++)
      example_free(&ex[r], s.n);
   free(ex);
   free(perm);
   survey_free(&s, n);
   if (cancelled) {
      set_err(err, "training cancelled");
      Tagger_free(m);
      return NULL;
   }
   return m;
}

/* ---- serving ---- */

/* The span as the field's JSON value: numbers for number fields when it reads as one. */
static json_t *span_value(const Field *f, const char *text, size_t len) {
   char *s = xstrndup(text, len);
   json_t *v = NULL;
   char *end;
   errno = 0;
   if (f->kind == KIND_INTEGER) {
      long long x = strtoll(s, &end, 10);
      if (end != s && !*end && !errno)
         v = json_integer((json_int_t)x);
   }
   if (!v && f->kind != KIND_STRING) {
      double x = strtod(s, &end);
      if (end != s && !*end && isfinite(x))
         v = json_real(x);
   }
   if (!v)
      v = json_stringn_nocheck(s, len);
   if (!v)
      v = json_null();
   free(s);
   return v;
}

json_t *Tagger_extract(const Tagger *m, const char *text, double *logprob) {
   TaggerTok *t;
   size_t nt = Tagger_tokenize(text, &t);
   uint32_t *feat = features(text, t, nt);
   Example e = { .nt = nt, .feat = feat };
   double *emit = xmalloc((nt ? nt : 1) * TAG_N * sizeof *emit);
   int *tags = xmalloc((nt ? nt : 1) * sizeof *tags);
   uint32_t mask = (1u << m->blog2) - 1;
   json_t *out = json_object();
   for (int k = 0; k < m->nfields; k++) {
      const Field *f = &m->f[k];
      emissions(f->w, mask, &e, emit);
      double score = Tagger_viterbi(nt, emit, (const double (*)[TAG_N])f->trans, tags);
      double lp = nt ? score / f->temp - Tagger_logz(nt, emit, (const double (*)[TAG_N])f->trans, f->temp) : 0;
      size_t a, len;
      json_t *v = nt && first_span(tags, nt, &a, &len)
                  ? span_value(f, text + t[a].start, t[a + len - 1].end - t[a].start) : json_null();
      json_object_set_new(out, f->name, v);
      if (logprob)
         logprob[k] = lp > 0 ? 0 : lp;
   }
   free(emit);
   free(tags);
   free(feat);
   free(t);
   return out;
}

static json_t *token_bytes(const char *s) {
   json_t *a = json_array();
   for (const unsigned char *p = (const unsigned char *)s; *p; p++)
      json_array_append_new(a, json_integer(*p));
   return a;
}

/* One logprobs entry (no alternatives are listed: the extractor scores paths, not tokens). */
static json_t *lp_entry(const char *token, double logprob) {
   return json_pack("{s:s, s:f, s:o, s:[]}", "token", token, "logprob", logprob, "bytes", token_bytes(token),
                    "top_logprobs");
}

char *Tagger_answer(const Tagger *x, const char *text, json_t **lp) {
   int nf = Tagger_nfields(x);
   double *lps = xcalloc((size_t)nf, sizeof *lps);
   json_t *obj = Tagger_extract(x, text, lps);
   json_t *tokens = json_array();
   Sbuf sb = { 0 }, fixed = { 0 };
   for (int k = 0; k < nf; k++) {
      json_t *key = json_string(Tagger_field(x, k));
      char *ks = key ? json_dumps(key, JSON_ENCODE_ANY) : NULL;
      char *vs = json_dumps(json_object_get(obj, Tagger_field(x, k)), JSON_ENCODE_ANY | JSON_COMPACT);
      Sbuf_printf(&fixed, "%s%s:", k ? "," : "{", ks ? ks : "\"?\"");
      json_array_append_new(tokens, lp_entry(fixed.buf, 0));
      Sbuf_puts(&sb, fixed.buf);
      Sbuf_reset(&fixed);
      json_array_append_new(tokens, lp_entry(vs ? vs : "null", lps[k]));
      Sbuf_puts(&sb, vs ? vs : "null");
      free(ks);
      free(vs);
      json_decref(key);
   }
   Sbuf_puts(&sb, "}");
   json_array_append_new(tokens, lp_entry("}", 0));
   if (lp)
      *lp = json_pack("{s:o}", "content", tokens);
   else
      json_decref(tokens);
   Sbuf_free(&fixed);
   json_decref(obj);
   free(lps);
   return Sbuf_steal(&sb);
}

int Tagger_nfields(const Tagger *m) {
   return m->nfields;
}

const char *Tagger_field(const Tagger *m, int i) {
   return i >= 0 && i < m->nfields ? m->f[i].name : NULL;
}

double Tagger_temperature(const Tagger *m, int i) {
   return i >= 0 && i < m->nfields ? m->f[i].temp : 0;
}

double Tagger_valid_accuracy(const Tagger *m) {
   return m->valid_acc;
}

int Tagger_epoch(const Tagger *m) {
   return m->epoch;
}

void Tagger_free(Tagger *m) {
   if (!m)
      return;
   for (int k = 0; k < m->nfields; k++) {
      free(m->f[k].name);
      free(m->f[k].w);
   }
   free(m->f);
   free(m);
}

/* ---- the file: magic, version, body, total size, checksum; weights stored sparse ---- */

bool Tagger_save(const Tagger *m, const char *path, char **err) {
   Sbuf b = { 0 };
   Sbuf_add(&b, MAGIC, 8);
   Sbuf_put_u32(&b, FILE_VERSION);
   Sbuf_put_u64(&b, 0);   /* the total size, filled in below */
   Sbuf_put_u32(&b, (uint32_t)m->nfields);
   Sbuf_put_u32(&b, (uint32_t)m->blog2);
   Sbuf_put_u32(&b, (uint32_t)m->epoch);
   Sbuf_put_f64(&b, m->valid_acc);
   size_t buckets = (size_t)1 << m->blog2;
   for (int k = 0; k < m->nfields; k++) {
      const Field *f = &m->f[k];
      Sbuf_put_u32(&b, (uint32_t)strlen(f->name));
      Sbuf_add(&b, f->name, strlen(f->name));
      Sbuf_put_u32(&b, (uint32_t)f->kind);
      Sbuf_put_f64(&b, f->temp);
      for (int p = 0; p < 4; p++)
         for (int t = 0; t < TAG_N; t++)
            Sbuf_put_f64(&b, f->trans[p][t]);
      uint32_t rows = 0;
      for (size_t x = 0; x < buckets; x++)
         rows += f->w[x * TAG_N] != 0 || f->w[x * TAG_N + 1] != 0 || f->w[x * TAG_N + 2] != 0;
      Sbuf_put_u32(&b, rows);
      for (size_t x = 0; x < buckets; x++) {
         const float *w = f->w + x * TAG_N;
         if (w[0] != 0 || w[1] != 0 || w[2] != 0) {
            Sbuf_put_u32(&b, (uint32_t)x);
            for (int t = 0; t < TAG_N; t++)
               Sbuf_put_f32(&b, w[t]);
         }
      }
   }
   uint64_t total = (uint64_t)b.len + 8;
   for (int i = 0; i < 8; i++)
      b.buf[12 + i] = (char)(total >> (8 * i));
   Sbuf_put_u64(&b, hash64(b.buf, b.len));
   char *werr = NULL;
   bool ok = write_file_atomic(path, b.buf, b.len, &werr);
   if (!ok)
      set_err(err, "extractor: %s", werr);
   free(werr);
   Sbuf_free(&b);
   return ok;
}

/* Fills m from a file whose envelope is valid; what is wrong with it, or NULL. */
static const char *parse(Tagger *m, ByteReader *r) {
   uint32_t nf = Bytes_u32(r), blog2 = Bytes_u32(r);
   m->epoch = (int)Bytes_u32(r);
   m->valid_acc = Bytes_f64(r);
   if (r->bad || nf == 0 || nf > TAGGER_MAX_FIELDS || blog2 < 12 || blog2 > 24)
      return "bad header";
   m->blog2 = (int)blog2;
   m->f = xcalloc(nf, sizeof *m->f);
   size_t buckets = (size_t)1 << blog2;
   for (uint32_t k = 0; k < nf; k++) {
      Field *f = &m->f[k];
      m->nfields = (int)k + 1;
      uint32_t len = Bytes_u32(r);
      if (r->bad || len == 0 || len > r->n - r->off)
         return "bad field name";
      f->name = xstrndup((const char *)r->p + r->off, len);
      r->off += len;
      uint32_t kind = Bytes_u32(r);
      f->kind = (Kind)kind;
      f->temp = Bytes_f64(r);
      for (int p = 0; p < 4; p++)
         for (int t = 0; t < TAG_N; t++)
            f->trans[p][t] = Bytes_f64(r);
      if (r->bad || kind > KIND_REAL || !(f->temp > 0) || !isfinite(f->temp))
         return "bad field header";
      uint32_t rows = Bytes_u32(r);
      if (r->bad || rows > buckets)
         return "bad weight count";
      f->w = xcalloc(buckets * TAG_N, sizeof *f->w);
      for (uint32_t i = 0; i < rows; i++) {
         uint32_t x = Bytes_u32(r);
         if (x >= buckets)
            return "weight row out of range";
         for (int t = 0; t < TAG_N; t++) {
            f->w[(size_t)x * TAG_N + t] = Bytes_f32(r);
            if (!isfinite(f->w[(size_t)x * TAG_N + t]))
               return "a weight is not finite";
         }
      }
      if (r->bad)
         return "weights truncated";
   }
   return r->off == r->n ? NULL : "trailing bytes";
}

Tagger *Tagger_load(const char *path, char **err) {
   size_t size;
   char *rerr = NULL;
   unsigned char *buf = (unsigned char *)read_file(path, &size, &rerr);
   if (!buf) {
      set_err(err, "extractor: %s", rerr);
      free(rerr);
      return NULL;
   }
   Tagger *m = NULL;
   ByteReader r = { buf, size, 8, false };
   if (size < 8 || memcmp(buf, MAGIC, 8) != 0) {
      set_err(err, "extractor: %s is not an extractor model (bad magic)", path);
   } else if (Bytes_u32(&r) != FILE_VERSION) {
      set_err(err, "extractor: model %s has a format version this build does not read (re-train it or upgrade offramp)", path);
   } else if (size < 8 + 4 + 8 + 8) {
      set_err(err, "extractor: model %s is truncated (%zu bytes; re-train it)", path, size);
   } else {
      uint64_t want = Bytes_u64(&r);
      ByteReader tail = { buf, size, size - 8, false };
      uint64_t sum = Bytes_u64(&tail);
      if (want != size) {
         set_err(err, "extractor: model %s is %s (%zu bytes, the file says %llu; re-train it)", path,
                 size < want ? "truncated" : "oversized", size, (unsigned long long)want);
      } else if (sum != hash64(buf, size - 8)) {
         set_err(err, "extractor: model %s is corrupted (checksum mismatch; re-train it)", path);
      } else {
         m = xcalloc(1, sizeof *m);
         r.n = size - 8;
         const char *bad = parse(m, &r);
         if (bad) {
            set_err(err, "extractor: model %s is invalid: %s (the checksum matches, so it was written wrong; re-train it)",
                    path, bad);
            Tagger_free(m);
            m = NULL;
         }
      }
   }
   free(buf);
   return m;
}
