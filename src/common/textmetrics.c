/* textmetrics.c - chrF and ROUGE-L, computed exactly (n-grams and tokens are compared by
 * content after sorting, never by hash). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/textmetrics.h"
#include "common/util.h"

static const char *const metric_names[METRIC_COUNT] = {
   [METRIC_CHRF] = "chrf",
   [METRIC_ROUGE_L] = "rouge-l",
};

const char *TextMetric_name(TextMetric m) {
   return m < METRIC_COUNT ? metric_names[m] : "?";
}

bool TextMetric_parse(const char *s, TextMetric *out) {
   for (int i = 0; s && i < METRIC_COUNT; i++) {
      if (str_eq(s, metric_names[i])) {
         *out = (TextMetric)i;
         return true;
      }
   }
   return false;
}

/* ---------------------------------------------------------------- chrF */

/* The next code point of s (advanced); a byte that starts no valid sequence is itself. */
static uint32_t next_cp(const unsigned char **s) {
   const unsigned char *p = *s;
   uint32_t c = p[0];
   int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
   if (len <= 1) {
      *s = p + 1;
      return c;
   }
   uint32_t v = c & (0xFF >> (len + 1));
   for (int i = 1; i < len; i++) {
      if ((p[i] & 0xC0) != 0x80) {
         *s = p + 1;
         return c;
      }
      v = (v << 6) | (p[i] & 0x3F);
   }
   *s = p + len;
   return v;
}

/* Python's \s, which sacreBLEU's re.sub(r'\s+', '') removes. */
static bool py_space(uint32_t c) {
   return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
          (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static uint32_t *code_points(const char *s, bool keep_whitespace, size_t *n) {
   size_t len = strlen(s);
   uint32_t *v = xmalloc((len ? len : 1) * sizeof *v);
   *n = 0;
   for (const unsigned char *p = (const unsigned char *)s; *p;) {
      uint32_t c = next_cp(&p);
      if (keep_whitespace || !py_space(c))
         v[(*n)++] = c;
   }
   return v;
}

typedef struct {
   const uint32_t *cp;
   int n;
} GramCtx;

static int gram_cmp(const void *a, const void *b, void *vctx) {
   const GramCtx *c = vctx;
   const uint32_t *x = c->cp + *(const size_t *)a, *y = c->cp + *(const size_t *)b;
   for (int i = 0; i < c->n; i++) {
      if (x[i] != y[i])
         return x[i] < y[i] ? -1 : 1;
   }
   return 0;
}

static int gram_cmp2(const uint32_t *x, const uint32_t *y, int n) {
   for (int i = 0; i < n; i++) {
      if (x[i] != y[i])
         return x[i] < y[i] ? -1 : 1;
   }
   return 0;
}

/* Start offsets of the n-grams of cp[0..len), sorted by content. */
static size_t *sorted_grams(const uint32_t *cp, size_t len, int n, size_t *count) {
   *count = len >= (size_t)n ? len - (size_t)n + 1 : 0;
   size_t *v = xmalloc((*count ? *count : 1) * sizeof *v);
   for (size_t i = 0; i < *count; i++)
      v[i] = i;
   GramCtx c = { cp, n };
   qsort_r(v, *count, sizeof *v, gram_cmp, &c);
   return v;
}

void Chrf_add(ChrfStats *s, const char *hyp, const char *ref, int order, bool keep_whitespace) {
   size_t hn, rn;
   uint32_t *h = code_points(hyp, keep_whitespace, &hn), *r = code_points(ref, keep_whitespace, &rn);
   if (order > CHRF_MAX_ORDER)
      order = CHRF_MAX_ORDER;
   for (int n = 1; n <= order; n++) {
      size_t hc, rc;
      size_t *hg = sorted_grams(h, hn, n, &hc), *rg = sorted_grams(r, rn, n, &rc);
      /* Walking both sorted lists counts min(count in hyp, count in ref) per n-gram: the
       * size of the multiset intersection (Counter & Counter). */
      long match = 0;
      size_t i = 0, j = 0;
      while (i < hc && j < rc) {
         int c = gram_cmp2(h + hg[i], r + rg[j], n);
         if (c == 0) {
            match++;
            i++;
            j++;
         } else if (c < 0) {
            i++;
         } else {
            j++;
         }
      }
      s->hyp[n - 1] += (long)hc;
      s->ref[n - 1] += (long)rc;
      s->match[n - 1] += match;
      free(hg);
      free(rg);
   }
   free(h);
   free(r);
}

double Chrf_score(const ChrfStats *s, int order, double beta) {
   double prec = 0, rec = 0;
   int effective = 0;
   if (order > CHRF_MAX_ORDER)
      order = CHRF_MAX_ORDER;
   for (int i = 0; i < order; i++) {
      if (s->hyp[i] > 0 && s->ref[i] > 0) {
         prec += (double)s->match[i] / (double)s->hyp[i];
         rec += (double)s->match[i] / (double)s->ref[i];
         effective++;
      }
   }
   if (effective == 0)
      return 0;
   prec /= effective;
   rec /= effective;
   if (prec + rec == 0)
      return 0;
   double b2 = beta * beta;
   return (1 + b2) * prec * rec / (b2 * prec + rec);
}

double Textmetrics_chrf(const char *hyp, const char *ref) {
   ChrfStats s = { 0 };
   Chrf_add(&s, hyp, ref, CHRF_MAX_ORDER, false);
   return Chrf_score(&s, CHRF_MAX_ORDER, 2.0);
}

/* ---------------------------------------------------------------- ROUGE-L */

typedef struct {
   const char *s;
   size_t len;
} Tok;

static bool word_byte(unsigned char c) {
   return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static Tok *tokens(const char *s, size_t *n) {
   size_t cap = 16;
   Tok *v = xmalloc(cap * sizeof *v);
   *n = 0;
   const char *p = s;
   while (*p) {
      while (*p && !word_byte((unsigned char)*p))
         p++;
      const char *b = p;
      while (*p && word_byte((unsigned char)*p))
         p++;
      if (p > b) {
         if (*n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
         v[(*n)++] = (Tok){ b, (size_t)(p - b) };
      }
   }
   return v;
}

static bool tok_eq(const Tok *a, const Tok *b) {
   if (a->len != b->len)
      return false;
   for (size_t i = 0; i < a->len; i++) {
      unsigned char x = (unsigned char)a->s[i], y = (unsigned char)b->s[i];
      if ((x >= 'A' && x <= 'Z' ? x + 32 : x) != (y >= 'A' && y <= 'Z' ? y + 32 : y))
         return false;
   }
   return true;
}

/* Length of the longest common subsequence, two rows of the table at a time. */
static size_t lcs(const Tok *a, size_t na, const Tok *b, size_t nb) {
   size_t *prev = xcalloc(nb + 1, sizeof *prev), *cur = xcalloc(nb + 1, sizeof *cur);
   for (size_t i = 1; i <= na; i++) {
      for (size_t j = 1; j <= nb; j++) {
         if (tok_eq(&a[i - 1], &b[j - 1]))
            cur[j] = prev[j - 1] + 1;
         else
            cur[j] = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
      }
      size_t *t = prev;
      prev = cur;
      cur = t;
   }
   size_t v = prev[nb];
   free(prev);
   free(cur);
   return v;
}

RougeScore Textmetrics_rouge_l(const char *prediction, const char *target) {
   RougeScore r = { 0, 0, 0 };
   size_t np, nt;
   Tok *p = tokens(prediction, &np), *t = tokens(target, &nt);
   if (np && nt) {
      size_t l = lcs(t, nt, p, np);
      r.precision = (double)l / (double)np;
      r.recall = (double)l / (double)nt;
      if (l)
         r.f = 2 * r.precision * r.recall / (r.precision + r.recall);
   }
   free(p);
   free(t);
   return r;
}

double Textmetrics_score(TextMetric m, const char *answer, const char *expected) {
   if (!answer || !expected)
      return 0;
   return m == METRIC_ROUGE_L ? Textmetrics_rouge_l(answer, expected).f : Textmetrics_chrf(answer, expected);
}
