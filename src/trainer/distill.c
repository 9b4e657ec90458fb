/* distill.c - the distiller: hashed n-gram features, softmax SGD, temperature calibration, model file. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "trainer/distill.h"

/*
 * Weight rows are padded to a multiple of VEC_WIDTH floats and the hot loops use GCC vector types:
 * they become SIMD at plain -O2 on any target, where the auto-vectoriser would not. aligned(4)
 * lets a Vec sit anywhere a float can, so buffers come straight from xmalloc.
 */
#define VEC_WIDTH 8
typedef float Vec __attribute__((vector_size(VEC_WIDTH * sizeof(float)), aligned(sizeof(float))));

#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define GOLDEN 0x9e3779b97f4a7c15ULL
/* Salts keep a word, a word n-gram and a character n-gram with equal bytes apart. */
#define SALT_WORD 0x5d0c1e4f00000000ULL
#define SALT_CHAR 0x2b7e151628aed2a6ULL

#define WORD_NGRAMS_MAX 3
#define CHAR_NGRAM_MAX 8
#define NLABELS_MAX (1u << 20)
#define TEMPERATURE_MIN 0.2
#define TEMPERATURE_MAX 20.0
#define SLOT_EMPTY UINT32_MAX
#define MODEL_VERSION 1u
static const unsigned char MODEL_MAGIC[8] = {'O', 'F', 'R', 'D', 'S', 'T', 'L', '\0'};
/* magic, version, nlabels, nrows, buckets_log2, word_ngrams, char_min, char_max, size, T */
#define HEADER_BYTES (8 + 7 * 4 + 8 + 8)

struct Distill {
   int nlabels;
   int stride;          /* nlabels rounded up to VEC_WIDTH */
   char **labels;       /* sorted by strcmp */
   int buckets_log2;
   int word_ngrams;
   int char_min;        /* 0: no character n-grams */
   int char_max;
   uint32_t nrows;
   uint32_t *bucket;    /* row -> feature bucket, strictly increasing */
   int32_t *row_of;     /* bucket -> row, -1 for features that were not kept */
   float *idf;          /* per row */
   float *bias;         /* stride floats */
   float *w;            /* nrows x stride */
   double temperature;
};

typedef struct {
   uint32_t row;
   float val;
} Entry;

/* Per-call work buffers, so a const model can be shared by threads. */
typedef struct {
   uint32_t *feat;      /* feature buckets; distinct after count_features */
   size_t nfeat, capfeat;
   uint32_t *tf;        /* occurrences of each distinct bucket */
   size_t captf;
   uint32_t *slot;      /* open-addressing table: index into feat, or SLOT_EMPTY */
   size_t capslot;
   unsigned char *word;
   size_t capword;
   size_t *cpos;
   size_t capcpos;
   Entry *ent;
   size_t capent;
   float *z;
} Scratch;

/* Training set in compressed-row form. */
typedef struct {
   Entry *ent;
   size_t *off;         /* n + 1 */
   int *y;
   size_t n, nent, capent;
} Rows;

static void set_err(char **err, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void set_err(char **err, const char *fmt, ...) {
   if (!err)
      return;
   va_list ap;
   va_start(ap, fmt);
   *err = xvasprintf(fmt, ap);
   va_end(ap);
}

/* MurmurHash3's fmix64 finaliser (not util's splitmix mix64: model files depend on these bits). */
static uint64_t fmix64(uint64_t h) {
   h ^= h >> 33;
   h *= 0xff51afd7ed558ccdULL;
   h ^= h >> 33;
   h *= 0xc4ceb9fe1a85ec53ULL;
   h ^= h >> 33;
   return h;
}

static uint64_t rng_next(uint64_t *state) {
   *state += GOLDEN;
   return fmix64(*state);
}

static void shuffle(size_t *a, size_t n, uint64_t *rng) {
   for (size_t i = n; i > 1; i--) {
      size_t j = rng_next(rng) % i;
      size_t t = a[i - 1];
      a[i - 1] = a[j];
      a[j] = t;
   }
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
   if (need <= *cap)
      return p;
   size_t c = *cap ? *cap : 64;
   while (c < need)
      c *= 2;
   *cap = c;
   return xrealloc(p, c * elem);
}

/* ---- features ---- */

static bool is_word_byte(unsigned char c) {
   return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static unsigned char ascii_lower(unsigned char c) {
   return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static void push_feature(const Distill *m, Scratch *s, uint64_t h) {
   s->feat = grow(s->feat, &s->capfeat, s->nfeat + 1, sizeof *s->feat);
   s->feat[s->nfeat++] = (uint32_t)(fmix64(h) >> (64 - m->buckets_log2));
}

/* n-grams count UTF-8 characters, not bytes, so accented words split like ASCII ones. */
static void push_char_ngrams(const Distill *m, Scratch *s, const unsigned char *w, size_t len) {
   size_t n = len + 2;
   s->word = grow(s->word, &s->capword, n, 1);
   s->cpos = grow(s->cpos, &s->capcpos, n + 1, sizeof *s->cpos);
   s->word[0] = '<';
   for (size_t i = 0; i < len; i++)
      s->word[i + 1] = ascii_lower(w[i]);
   s->word[n - 1] = '>';
   size_t nc = 0;
   for (size_t i = 0; i < n; i++)
      if ((s->word[i] & 0xc0) != 0x80)
         s->cpos[nc++] = i;
   s->cpos[nc] = n;
   for (size_t a = 0; a < nc; a++) {
      uint64_t h = FNV_BASIS;
      for (size_t l = 1; l <= (size_t)m->char_max && a + l <= nc; l++) {
         for (size_t i = s->cpos[a + l - 1]; i < s->cpos[a + l]; i++)
            h = (h ^ s->word[i]) * FNV_PRIME;
         /* "<word>" itself is the word feature already */
         if (l >= (size_t)m->char_min && !(a == 0 && l == nc))
            push_feature(m, s, h ^ SALT_CHAR);
      }
   }
}

/* Fills s->feat with the bucket of every feature occurrence in text. */
static void featurize(const Distill *m, const char *text, Scratch *s) {
   uint64_t prev[WORD_NGRAMS_MAX - 1];
   int nprev = 0;
   const unsigned char *p = (const unsigned char *)text;
   s->nfeat = 0;
   while (*p) {
      if (!is_word_byte(*p)) {
         p++;
         continue;
      }
      const unsigned char *start = p;
      while (is_word_byte(*p))
         p++;
      size_t len = (size_t)(p - start);
      uint64_t hw = FNV_BASIS;
      for (size_t i = 0; i < len; i++)
         hw = (hw ^ ascii_lower(start[i])) * FNV_PRIME;
      push_feature(m, s, hw ^ SALT_WORD);
      uint64_t h = hw;
      for (int j = 0; j < nprev && j + 1 < m->word_ngrams; j++) {
         h = h * GOLDEN + prev[j];
         push_feature(m, s, h ^ (SALT_WORD + (uint64_t)j + 1));
      }
      for (int j = WORD_NGRAMS_MAX - 2; j > 0; j--)
         prev[j] = prev[j - 1];
      prev[0] = hw;
      if (nprev < WORD_NGRAMS_MAX - 1)
         nprev++;
      if (m->char_min > 0)
         push_char_ngrams(m, s, start, len);
   }
}

/*
 * Collapses s->feat to its distinct buckets in order of first occurrence, counting them in s->tf.
 * A hash table rather than a sort: this is half of the prediction time otherwise. Buckets are
 * already hash bits, so their low bits index the table directly.
 */
static void count_features(Scratch *s) {
   size_t cap = 16;
   while (cap < 2 * s->nfeat)
      cap *= 2;
   s->slot = grow(s->slot, &s->capslot, cap, sizeof *s->slot);
   s->tf = grow(s->tf, &s->captf, s->nfeat, sizeof *s->tf);
   memset(s->slot, 0xff, cap * sizeof *s->slot);
   size_t n = 0;
   for (size_t i = 0; i < s->nfeat; i++) {
      uint32_t b = s->feat[i];
      size_t h = b & (cap - 1);
      while (s->slot[h] != SLOT_EMPTY && s->feat[s->slot[h]] != b)
         h = (h + 1) & (cap - 1);
      if (s->slot[h] == SLOT_EMPTY) {
         s->slot[h] = (uint32_t)n;
         s->feat[n] = b;
         s->tf[n++] = 1;
      } else {
         s->tf[s->slot[h]]++;
      }
   }
   s->nfeat = n;
}

/* The text as an L2-normalised (1 + ln tf) * idf vector over kept rows, in s->ent. */
static size_t vectorize(const Distill *m, const char *text, Scratch *s) {
   featurize(m, text, s);
   count_features(s);
   size_t n = 0;
   double ss = 0;
   for (size_t i = 0; i < s->nfeat; i++) {
      int32_t row = m->row_of[s->feat[i]];
      if (row < 0)
         continue;
      double v = (s->tf[i] == 1 ? 1.0 : 1.0 + log((double)s->tf[i])) * m->idf[row];
      s->ent = grow(s->ent, &s->capent, n + 1, sizeof *s->ent);
      s->ent[n++] = (Entry){(uint32_t)row, (float)v};
      ss += v * v;
   }
   if (ss > 0) {
      double inv = 1.0 / sqrt(ss);
      for (size_t i = 0; i < n; i++)
         s->ent[i].val = (float)(s->ent[i].val * inv);
   }
   return n;
}

static void Scratch_init(const Distill *m, Scratch *s) {
   memset(s, 0, sizeof *s);
   s->z = xmalloc((size_t)m->stride * sizeof *s->z);
}

static void Scratch_free(Scratch *s) {
   free(s->feat);
   free(s->tf);
   free(s->slot);
   free(s->word);
   free(s->cpos);
   free(s->ent);
   free(s->z);
}

/* ---- the linear layer ---- */

static void logits(const Distill *m, const Entry *e, size_t n, float *z) {
   int nv = m->stride / VEC_WIDTH;
   Vec *zv = (Vec *)z;
   const Vec *bv = (const Vec *)m->bias;
   for (int k = 0; k < nv; k++)
      zv[k] = bv[k];
   for (size_t i = 0; i < n; i++) {
      const Vec *wv = (const Vec *)(m->w + (size_t)e[i].row * m->stride);
      float v = e[i].val;
      for (int k = 0; k < nv; k++)
         zv[k] += v * wv[k];
   }
}

/* log of sum_k exp(beta * z[k]) over the real labels, computed stably. */
static double log_sum_exp(const float *z, int n, double beta) {
   double mx = beta * z[0];
   for (int k = 1; k < n; k++)
      if (beta * z[k] > mx)
         mx = beta * z[k];
   double s = 0;
   for (int k = 0; k < n; k++)
      s += exp(beta * z[k] - mx);
   return mx + log(s);
}

/* One SGD step on example (e, n) with label y; returns its cross-entropy loss. */
static double sgd_step(Distill *m, const Entry *e, size_t n, int y, float eta, float *z) {
   int C = m->nlabels, nv = m->stride / VEC_WIDTH;
   logits(m, e, n, z);
   float mx = z[0];
   for (int k = 1; k < C; k++)
      if (z[k] > mx)
         mx = z[k];
   float zy = z[y], sum = 0;
   for (int k = 0; k < C; k++) {
      z[k] = expf(z[k] - mx);
      sum += z[k];
   }
   double loss = log(sum) - (zy - mx);
   /* z becomes the gradient of the loss wrt the logits; padding stays 0 so it never learns */
   float inv = 1.0f / sum;
   for (int k = 0; k < C; k++)
      z[k] *= inv;
   z[y] -= 1.0f;
   for (int k = C; k < m->stride; k++)
      z[k] = 0;
   const Vec *gv = (const Vec *)z;
   Vec *bv = (Vec *)m->bias;
   for (int k = 0; k < nv; k++)
      bv[k] -= eta * gv[k];
   for (size_t i = 0; i < n; i++) {
      Vec *wv = (Vec *)(m->w + (size_t)e[i].row * m->stride);
      float step = eta * e[i].val;
      for (int k = 0; k < nv; k++)
         wv[k] -= step * gv[k];
   }
   return loss;
}

/* Mean loss and accuracy at temperature 1; also keeps the logits when zs is not NULL. */
static void evaluate(const Distill *m, const Rows *r, float *z, float *zs, double *loss, double *acc) {
   double total = 0;
   size_t right = 0;
   for (size_t i = 0; i < r->n; i++) {
      logits(m, r->ent + r->off[i], r->off[i + 1] - r->off[i], z);
      int best = 0;
      for (int k = 1; k < m->nlabels; k++)
         if (z[k] > z[best])
            best = k;
      right += best == r->y[i];
      total += log_sum_exp(z, m->nlabels, 1.0) - z[r->y[i]];
      if (zs)
         memcpy(zs + i * (size_t)m->nlabels, z, (size_t)m->nlabels * sizeof *z);
   }
   *loss = r->n ? total / (double)r->n : 0;
   *acc = r->n ? (double)right / (double)r->n : 0;
}

static double nll_at(const float *zs, const int *y, size_t n, int C, double beta) {
   double total = 0;
   for (size_t i = 0; i < n; i++) {
      const float *z = zs + i * (size_t)C;
      total += log_sum_exp(z, C, beta) - beta * z[y[i]];
   }
   return total / (double)n;
}

/*
 * The validation NLL is convex in 1/T, so a golden-section search finds the best temperature.
 * When validation is separable the optimum runs off to T -> 0 (certainty); the bound keeps a
 * small validation set from sharpening logits more than 5-fold.
 */
static double fit_temperature(const float *zs, const int *y, size_t n, int C) {
   const double phi = (sqrt(5.0) - 1) / 2;
   double lo = 1 / TEMPERATURE_MAX, hi = 1 / TEMPERATURE_MIN;
   double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo);
   double fa = nll_at(zs, y, n, C, a), fb = nll_at(zs, y, n, C, b);
   for (int it = 0; it < 50; it++) {
      if (fa < fb) {
         hi = b, b = a, fb = fa;
         a = hi - phi * (hi - lo);
         fa = nll_at(zs, y, n, C, a);
      } else {
         lo = a, a = b, fa = fb;
         b = lo + phi * (hi - lo);
         fb = nll_at(zs, y, n, C, b);
      }
   }
   return 2.0 / (lo + hi);
}

/* ---- training ---- */

void Distill_defaults(DistillParams *p) {
   *p = (DistillParams){
      .epochs_max = 10,
      .patience = 2,
      .lr = 2.0,
      .buckets_log2 = 20,
      .min_count = 2,
      .word_ngrams = 2,
      .char_min = 3,
      .char_max = 5,
      .val_frac = 0.1,
      .seed = 1,
   };
}

static bool check_params(const DistillParams *p, char **err) {
   if (p->epochs_max < 1 || p->epochs_max > 1000)
      set_err(err, "distill: epochs_max %d is out of range (use 1..1000)", p->epochs_max);
   else if (p->patience < 1)
      set_err(err, "distill: patience %d is out of range (use 1 or more)", p->patience);
   else if (!(p->lr > 0 && p->lr <= 100))
      set_err(err, "distill: lr %g is out of range (use a value in (0, 100], e.g. 2)", p->lr);
   else if (p->buckets_log2 < 10 || p->buckets_log2 > 24)
      set_err(err, "distill: buckets_log2 %d is out of range (use 10..24)", p->buckets_log2);
   else if (p->min_count < 1)
      set_err(err, "distill: min_count %d is out of range (use 1 or more)", p->min_count);
   else if (p->word_ngrams < 1 || p->word_ngrams > WORD_NGRAMS_MAX)
      set_err(err, "distill: word_ngrams %d is out of range (use 1..%d)", p->word_ngrams, WORD_NGRAMS_MAX);
   else if (p->char_min != 0 && (p->char_min < 1 || p->char_max < p->char_min || p->char_max > CHAR_NGRAM_MAX))
      set_err(err, "distill: character n-grams %d..%d are out of range (use 1 <= char_min <= char_max <= %d, or char_min 0 for none)",
              p->char_min, p->char_max, CHAR_NGRAM_MAX);
   else if (!(p->val_frac > 0 && p->val_frac <= 0.5))
      set_err(err, "distill: val_frac %g is out of range (use a value in (0, 0.5])", p->val_frac);
   else
      return true;
   return false;
}

static int cmp_str(const void *a, const void *b) {
   return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int label_index(const Distill *m, const char *label) {
   char **hit = bsearch(&label, m->labels, (size_t)m->nlabels, sizeof *m->labels, cmp_str);
   return hit ? (int)(hit - m->labels) : -1;
}

static bool check_rows(const char *what, const char *const *texts, const char *const *labels, size_t n, char **err) {
   for (size_t i = 0; i < n; i++) {
      if (!texts[i] || !labels[i]) {
         set_err(err, "distill: %s row %zu has no %s (every row needs a text and a label)", what, i + 1, texts[i] ? "label" : "text");
         return false;
      }
      if (!labels[i][0]) {
         set_err(err, "distill: %s row %zu has an empty label (drop the row or label it)", what, i + 1);
         return false;
      }
   }
   return true;
}

/* The distinct training labels, sorted; the strings are copied. */
static bool collect_labels(Distill *m, const char *const *labels, size_t n, char **err) {
   const char **sorted = xmalloc(n * sizeof *sorted);
   memcpy(sorted, labels, n * sizeof *sorted);
   qsort(sorted, n, sizeof *sorted, cmp_str);
   size_t k = 0;
   for (size_t i = 0; i < n; i++)
      if (k == 0 || strcmp(sorted[i], sorted[k - 1]) != 0)
         sorted[k++] = sorted[i];
   bool ok = false;
   if (k < 2)
      set_err(err, "distill: the training set has %zu distinct label%s (\"%s\"); a classifier needs at least 2",
              k, k == 1 ? "" : "s", k ? sorted[0] : "");
   else if (k > NLABELS_MAX)
      set_err(err, "distill: the training set has %zu distinct labels, more than %u (merge rare labels)", k, NLABELS_MAX);
   else
      ok = true;
   if (ok) {
      m->nlabels = (int)k;
      m->stride = (int)((k + VEC_WIDTH - 1) / VEC_WIDTH * VEC_WIDTH);
      m->labels = xmalloc(k * sizeof *m->labels);
      for (size_t i = 0; i < k; i++)
         m->labels[i] = xstrdup(sorted[i]);
   }
   free(sorted);
   return ok;
}

/* Holds out round(val_frac * count) texts of each label, keeping at least one for training. */
static void split_validation(const int *y, size_t n, int C, double frac, uint64_t *rng,
                             size_t *train, size_t *ntrain, size_t *val, size_t *nval) {
   size_t *perm = xmalloc(n * sizeof *perm);
   size_t *total = xcalloc((size_t)C, sizeof *total), *taken = xcalloc((size_t)C, sizeof *taken);
   for (size_t i = 0; i < n; i++) {
      perm[i] = i;
      total[y[i]]++;
   }
   shuffle(perm, n, rng);
   *ntrain = *nval = 0;
   for (size_t i = 0; i < n; i++) {
      size_t e = perm[i];
      int c = y[e];
      size_t quota = (size_t)floor(frac * (double)total[c] + 0.5);
      if (quota >= total[c])
         quota = total[c] - 1;
      if (taken[c] < quota) {
         taken[c]++;
         val[(*nval)++] = e;
      } else {
         train[(*ntrain)++] = e;
      }
   }
   free(perm);
   free(total);
   free(taken);
}

/* Keeps the buckets that occur in at least min_count texts and gives each an idf. */
static void build_dictionary(Distill *m, const char *const *texts, const size_t *idx, size_t n, int min_count) {
   size_t nb = (size_t)1 << m->buckets_log2;
   uint32_t *df = xcalloc(nb, sizeof *df);
   Scratch s;
   Scratch_init(m, &s);
   for (size_t i = 0; i < n; i++) {
      featurize(m, texts[idx[i]], &s);
      count_features(&s);
      for (size_t j = 0; j < s.nfeat; j++)
         df[s.feat[j]]++;
   }
   Scratch_free(&s);
   m->row_of = xmalloc(nb * sizeof *m->row_of);
   m->nrows = 0;
   for (size_t b = 0; b < nb; b++)
      m->nrows += df[b] >= (uint32_t)min_count;
   m->bucket = xmalloc(m->nrows * sizeof *m->bucket);
   m->idf = xmalloc(m->nrows * sizeof *m->idf);
   uint32_t r = 0;
   for (size_t b = 0; b < nb; b++) {
      if (df[b] < (uint32_t)min_count) {
         m->row_of[b] = -1;
         continue;
      }
      m->bucket[r] = (uint32_t)b;
      /* smoothed idf, as in scikit-learn: never zero, so ubiquitous features still count */
      m->idf[r] = (float)(log((1.0 + (double)n) / (1.0 + df[b])) + 1.0);
      m->row_of[b] = (int32_t)r++;
   }
   free(df);
}

static void Rows_build(Rows *r, const Distill *m, const char *const *texts, const int *y, const size_t *idx, size_t n) {
   memset(r, 0, sizeof *r);
   r->n = n;
   r->off = xmalloc((n + 1) * sizeof *r->off);
   r->y = xmalloc(n * sizeof *r->y);
   Scratch s;
   Scratch_init(m, &s);
   r->off[0] = 0;
   for (size_t i = 0; i < n; i++) {
      size_t k = vectorize(m, texts[idx ? idx[i] : i], &s);
      if (k) {
         r->ent = grow(r->ent, &r->capent, r->nent + k, sizeof *r->ent);
         memcpy(r->ent + r->nent, s.ent, k * sizeof *s.ent);
         r->nent += k;
      }
      r->off[i + 1] = r->nent;
      r->y[i] = y[idx ? idx[i] : i];
   }
   Scratch_free(&s);
}

static void Rows_free(Rows *r) {
   free(r->ent);
   free(r->off);
   free(r->y);
}

/* SGD epochs with early stopping; leaves the best epoch's weights in m. false when cancelled. */
static bool fit(Distill *m, const Rows *tr, const Rows *va, const DistillParams *p, DistillProgress cb, void *ctx, char **err) {
   size_t nw = (size_t)m->nrows * (size_t)m->stride;
   /* zeros, like the initial model, in case no epoch ever has a finite validation loss */
   float *best_w = xcalloc(nw, sizeof *best_w);
   float *best_bias = xcalloc((size_t)m->stride, sizeof *best_bias);
   float *z = xmalloc((size_t)m->stride * sizeof *z);
   size_t *order = xmalloc(tr->n * sizeof *order);
   for (size_t i = 0; i < tr->n; i++)
      order[i] = i;
   uint64_t rng = p->seed ^ 0x6f6672616d70ULL;
   double total_steps = (double)p->epochs_max * (double)tr->n, step = 0;
   double best_loss = INFINITY;
   int stale = 0;
   bool ok = true;
   for (int epoch = 1; epoch <= p->epochs_max; epoch++) {
      shuffle(order, tr->n, &rng);
      double train_loss = 0;
      for (size_t i = 0; i < tr->n; i++, step++) {
         size_t e = order[i];
         float eta = (float)(p->lr * (1.0 - step / total_steps));
         train_loss += sgd_step(m, tr->ent + tr->off[e], tr->off[e + 1] - tr->off[e], tr->y[e], eta, z);
      }
      train_loss /= (double)tr->n;
      double val_loss, val_acc;
      evaluate(m, va, z, NULL, &val_loss, &val_acc);
      if (val_loss < best_loss) {
         best_loss = val_loss;
         stale = 0;
         memcpy(best_w, m->w, nw * sizeof *best_w);
         memcpy(best_bias, m->bias, (size_t)m->stride * sizeof *best_bias);
      } else {
         stale++;
      }
      if (cb && !cb(ctx, epoch, p->epochs_max, train_loss, val_loss, val_acc)) {
         set_err(err, "distill: training cancelled at epoch %d of %d", epoch, p->epochs_max);
         ok = false;
         break;
      }
      if (stale >= p->patience)
         break;
   }
   if (stale > 0) {
      memcpy(m->w, best_w, nw * sizeof *best_w);
      memcpy(m->bias, best_bias, (size_t)m->stride * sizeof *best_bias);
   }
   free(best_w);
   free(best_bias);
   free(z);
   free(order);
   return ok;
}

/* Label indices for rows; only validation rows can name a label the training set lacks. */
static bool encode_labels(const Distill *m, const char *const *labels, size_t n, int *y, char **err) {
   for (size_t i = 0; i < n; i++) {
      y[i] = label_index(m, labels[i]);
      if (y[i] < 0) {
         set_err(err, "distill: validation row %zu has label \"%s\", which no training row has (add training rows for it or drop the row)",
                 i + 1, labels[i]);
         return false;
      }
   }
   return true;
}

static void calibrate(Distill *m, const Rows *va) {
   float *z = xmalloc((size_t)m->stride * sizeof *z);
   float *zs = xmalloc(va->n * (size_t)m->nlabels * sizeof *zs);
   double loss, acc;
   evaluate(m, va, z, zs, &loss, &acc);
   m->temperature = fit_temperature(zs, va->y, va->n, m->nlabels);
   free(z);
   free(zs);
}

Distill *Distill_train(const char *const *texts, const char *const *labels, size_t n,
                       const char *const *val_texts, const char *const *val_labels, size_t nval,
                       const DistillParams *p, DistillProgress cb, void *ctx, char **err) {
   DistillParams defaults;
   if (!p) {
      Distill_defaults(&defaults);
      p = &defaults;
   }
   if (err)
      *err = NULL;
   if (!check_params(p, err))
      return NULL;
   if (n == 0) {
      set_err(err, "distill: the training set is empty (pass at least 2 labelled texts per label)");
      return NULL;
   }
   if (!check_rows("training", texts, labels, n, err) || !check_rows("validation", val_texts, val_labels, nval, err))
      return NULL;

   Distill *m = xcalloc(1, sizeof *m);
   m->buckets_log2 = p->buckets_log2;
   m->word_ngrams = p->word_ngrams;
   m->char_min = p->char_min;
   m->char_max = p->char_min ? p->char_max : 0;
   m->temperature = 1;
   int *y = xmalloc(n * sizeof *y), *vy = xmalloc(nval * sizeof *vy);
   size_t *train = xmalloc(n * sizeof *train), *val = xmalloc(n * sizeof *val), ntrain = n, nv = nval;
   bool ok = collect_labels(m, labels, n, err) && encode_labels(m, labels, n, y, err) &&
             encode_labels(m, val_labels, nval, vy, err);
   for (size_t i = 0; i < n; i++)
      train[i] = i;
   if (ok && nval == 0) {
      uint64_t rng = p->seed;
      split_validation(y, n, m->nlabels, p->val_frac, &rng, train, &ntrain, val, &nv);
      if (nv == 0) {
         set_err(err, "distill: %zu training rows leave no validation rows at val_frac %.2f (pass a validation set, add rows or raise val_frac)",
                 n, p->val_frac);
         ok = false;
      }
   }
   if (ok) {
      build_dictionary(m, texts, train, ntrain, p->min_count);
      m->bias = xcalloc((size_t)m->stride, sizeof *m->bias);
      m->w = xcalloc((size_t)m->nrows * (size_t)m->stride, sizeof *m->w);
      Rows tr, va;
      Rows_build(&tr, m, texts, y, train, ntrain);
      if (nval == 0)
         Rows_build(&va, m, texts, y, val, nv);
      else
         Rows_build(&va, m, val_texts, vy, NULL, nval);
      ok = fit(m, &tr, &va, p, cb, ctx, err);
      if (ok)
         calibrate(m, &va);
      Rows_free(&tr);
      Rows_free(&va);
   }
   free(y);
   free(vy);
   free(train);
   free(val);
   if (!ok) {
      Distill_free(m);
      return NULL;
   }
   return m;
}

/* ---- inference ---- */

int Distill_predict(const Distill *m, const char *text, int k, int *label_idx, double *logprob) {
   if (k > m->nlabels)
      k = m->nlabels;
   if (k <= 0)
      return 0;
   Scratch s;
   Scratch_init(m, &s);
   size_t n = vectorize(m, text, &s);
   logits(m, s.ent, n, s.z);
   double beta = 1.0 / m->temperature;
   double lse = log_sum_exp(s.z, m->nlabels, beta);
   int got = 0;
   /* insertion into a sorted top-k list: k is small next to nlabels */
   for (int c = 0; c < m->nlabels; c++) {
      double lp = beta * s.z[c] - lse;
      if (got == k && lp <= logprob[k - 1])
         continue;
      int j = got < k ? got++ : k - 1;
      while (j > 0 && logprob[j - 1] < lp) {
         logprob[j] = logprob[j - 1];
         label_idx[j] = label_idx[j - 1];
         j--;
      }
      logprob[j] = lp;
      label_idx[j] = c;
   }
   Scratch_free(&s);
   return got;
}

const char *Distill_label(const Distill *m, int idx) {
   return idx >= 0 && idx < m->nlabels ? m->labels[idx] : NULL;
}

int Distill_nlabels(const Distill *m) {
   return m->nlabels;
}

double Distill_temperature(const Distill *m) {
   return m->temperature;
}

size_t Distill_nfeatures(const Distill *m) {
   return m->nrows;
}

void Distill_free(Distill *m) {
   if (!m)
      return;
   if (m->labels)
      for (int i = 0; i < m->nlabels; i++)
         free(m->labels[i]);
   free(m->labels);
   free(m->bucket);
   free(m->row_of);
   free(m->idf);
   free(m->bias);
   free(m->w);
   free(m);
}

/* ---- model file ----
 * Little-endian: magic "OFRDSTL\0", u32 version, u32 nlabels, u32 nrows, u32 buckets_log2,
 * u32 word_ngrams, u32 char_min, u32 char_max, u64 file size, f64 temperature; then nlabels x
 * (u32 length, bytes), nrows x u32 bucket, nrows x f32 idf, nlabels x f32 bias, nrows x nlabels
 * x f32 weights (row-major); then u64 FNV-1a of every byte before it.
 */

static void serialize(const Distill *m, Sbuf *b) {
   Sbuf_add(b, (const char *)MODEL_MAGIC, sizeof MODEL_MAGIC);
   Sbuf_put_u32(b, MODEL_VERSION);
   Sbuf_put_u32(b, (uint32_t)m->nlabels);
   Sbuf_put_u32(b, m->nrows);
   Sbuf_put_u32(b, (uint32_t)m->buckets_log2);
   Sbuf_put_u32(b, (uint32_t)m->word_ngrams);
   Sbuf_put_u32(b, (uint32_t)m->char_min);
   Sbuf_put_u32(b, (uint32_t)m->char_max);
   size_t size_at = b->len;
   Sbuf_put_u64(b, 0);
   Sbuf_put_f64(b, m->temperature);
   for (int i = 0; i < m->nlabels; i++) {
      size_t len = strlen(m->labels[i]);
      Sbuf_put_u32(b, (uint32_t)len);
      Sbuf_add(b, m->labels[i], len);
   }
   for (uint32_t r = 0; r < m->nrows; r++)
      Sbuf_put_u32(b, m->bucket[r]);
   for (uint32_t r = 0; r < m->nrows; r++)
      Sbuf_put_f32(b, m->idf[r]);
   for (int k = 0; k < m->nlabels; k++)
      Sbuf_put_f32(b, m->bias[k]);
   for (uint32_t r = 0; r < m->nrows; r++)
      for (int k = 0; k < m->nlabels; k++)
         Sbuf_put_f32(b, m->w[(size_t)r * m->stride + k]);
   uint64_t size = b->len + 8;
   for (int i = 0; i < 8; i++)
      b->buf[size_at + i] = (char)(size >> (8 * i));
   Sbuf_put_u64(b, hash64(b->buf, b->len));
}

bool Distill_save(const Distill *m, const char *path, char **err) {
   if (err)
      *err = NULL;
   Sbuf b = {0};
   serialize(m, &b);
   char *werr = NULL;
   bool ok = write_file_atomic(path, b.buf, b.len, &werr);
   if (!ok)
      set_err(err, "distill: %s", werr);
   free(werr);
   Sbuf_free(&b);
   return ok;
}

static unsigned char *read_model_file(const char *path, size_t *size, char **err) {
   FILE *f = fopen(path, "rb");
   if (!f) {
      set_err(err, "distill: cannot open model %s: %s (check the path)", path, strerror(errno));
      return NULL;
   }
   struct stat st;
   if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
      set_err(err, "distill: model %s is not a regular file (pass the file written by the trainer)", path);
      fclose(f);
      return NULL;
   }
   *size = (size_t)st.st_size;
   unsigned char *buf = xmalloc(*size);
   if (fread(buf, 1, *size, f) != *size) {
      set_err(err, "distill: cannot read model %s: %s (check the file)", path, ferror(f) ? strerror(errno) : "short read");
      free(buf);
      buf = NULL;
   }
   fclose(f);
   return buf;
}

/* Checks everything the header promises before a single model buffer is allocated. */
static bool check_envelope(const char *path, const unsigned char *buf, size_t size, char **err) {
   size_t head = size < sizeof MODEL_MAGIC ? size : sizeof MODEL_MAGIC;
   if (size == 0 || memcmp(buf, MODEL_MAGIC, head) != 0) {
      set_err(err, "distill: %s is not a distill model (bad magic; pass a file written by Distill_save)", path);
      return false;
   }
   if (size < HEADER_BYTES + 8) {
      set_err(err, "distill: model %s is truncated (%zu bytes, shorter than the header; re-save or re-train it)", path, size);
      return false;
   }
   ByteReader r = {buf, size, sizeof MODEL_MAGIC, false};
   uint32_t version = Bytes_u32(&r);
   if (version != MODEL_VERSION) {
      set_err(err, "distill: model %s has format version %u, this build reads version %u (%s)", path, version,
              MODEL_VERSION, version > MODEL_VERSION ? "upgrade offramp" : "re-train the model");
      return false;
   }
   r.off = HEADER_BYTES - 16;
   uint64_t want = Bytes_u64(&r);
   if (want != size) {
      set_err(err, "distill: model %s is %s (%zu bytes, the header says %llu; re-save or re-train it)", path,
              size < want ? "truncated" : "oversized", size, (unsigned long long)want);
      return false;
   }
   r.off = size - 8;
   if (Bytes_u64(&r) != hash64(buf, size - 8)) {
      set_err(err, "distill: model %s is corrupted (checksum mismatch; re-save or re-train it)", path);
      return false;
   }
   return true;
}

static bool all_finite(const float *v, size_t n) {
   for (size_t i = 0; i < n; i++)
      if (!isfinite(v[i]))
         return false;
   return true;
}

/* Fills m from a file whose envelope is valid; returns what is wrong with it, or NULL. */
static const char *parse_model(Distill *m, const unsigned char *buf, size_t size) {
   ByteReader r = {buf, size - 8, sizeof MODEL_MAGIC + 4, false};
   uint32_t nlabels = Bytes_u32(&r), nrows = Bytes_u32(&r), blog2 = Bytes_u32(&r);
   uint32_t wng = Bytes_u32(&r), cmin = Bytes_u32(&r), cmax = Bytes_u32(&r);
   Bytes_u64(&r);
   double t = Bytes_f64(&r);
   if (nlabels < 2 || nlabels > NLABELS_MAX)
      return "label count out of range";
   if (blog2 < 10 || blog2 > 24 || nrows > (1u << blog2))
      return "bucket or feature count out of range";
   if (wng < 1 || wng > WORD_NGRAMS_MAX)
      return "word n-gram length out of range";
   if (cmin == 0 ? cmax != 0 : cmax < cmin || cmax > CHAR_NGRAM_MAX)
      return "character n-gram range out of range";
   if (!(isfinite(t) && t > 0))
      return "temperature not positive";
   m->nlabels = (int)nlabels;
   m->stride = (int)((nlabels + VEC_WIDTH - 1) / VEC_WIDTH * VEC_WIDTH);
   m->nrows = nrows;
   m->buckets_log2 = (int)blog2;
   m->word_ngrams = (int)wng;
   m->char_min = (int)cmin;
   m->char_max = (int)cmax;
   m->temperature = t;

   m->labels = xcalloc(nlabels, sizeof *m->labels);
   for (uint32_t i = 0; i < nlabels; i++) {
      if (r.n - r.off < 4)
         return "label length missing";
      uint32_t len = Bytes_u32(&r);
      if (len == 0 || len > r.n - r.off || memchr(r.p + r.off, '\0', len))
         return "label truncated";
      m->labels[i] = xstrndup((const char *)r.p + r.off, len);
      r.off += len;
      if (i > 0 && strcmp(m->labels[i - 1], m->labels[i]) >= 0)
         return "labels not sorted and distinct";
   }
   uint64_t need = (uint64_t)nrows * 8 + (uint64_t)nlabels * 4 + (uint64_t)nrows * nlabels * 4;
   if (r.n - r.off != need)
      return "section sizes disagree with the counts";

   size_t nb = (size_t)1 << blog2;
   m->bucket = xmalloc(nrows * sizeof *m->bucket);
   m->idf = xmalloc(nrows * sizeof *m->idf);
   m->row_of = xmalloc(nb * sizeof *m->row_of);
   memset(m->row_of, 0xff, nb * sizeof *m->row_of);
   for (uint32_t i = 0; i < nrows; i++) {
      m->bucket[i] = Bytes_u32(&r);
      if (m->bucket[i] >= nb || (i > 0 && m->bucket[i] <= m->bucket[i - 1]))
         return "feature buckets not increasing";
      m->row_of[m->bucket[i]] = (int32_t)i;
   }
   for (uint32_t i = 0; i < nrows; i++)
      m->idf[i] = Bytes_f32(&r);
   m->bias = xcalloc((size_t)m->stride, sizeof *m->bias);
   for (uint32_t k = 0; k < nlabels; k++)
      m->bias[k] = Bytes_f32(&r);
   m->w = xcalloc((size_t)nrows * (size_t)m->stride, sizeof *m->w);
   for (uint32_t i = 0; i < nrows; i++)
      for (uint32_t k = 0; k < nlabels; k++)
         m->w[(size_t)i * m->stride + k] = Bytes_f32(&r);
   if (!all_finite(m->idf, nrows) || !all_finite(m->bias, nlabels) || !all_finite(m->w, (size_t)nrows * m->stride))
      return "weights not finite";
   return NULL;
}

Distill *Distill_load(const char *path, char **err) {
   if (err)
      *err = NULL;
   size_t size;
   unsigned char *buf = read_model_file(path, &size, err);
   if (!buf)
      return NULL;
   if (!check_envelope(path, buf, size, err)) {
      free(buf);
      return NULL;
   }
   Distill *m = xcalloc(1, sizeof *m);
   const char *bad = parse_model(m, buf, size);
   free(buf);
   if (bad) {
      set_err(err, "distill: model %s is invalid: %s (the checksum matches, so it was written wrong; re-train it)", path, bad);
      Distill_free(m);
      return NULL;
   }
   return m;
}
