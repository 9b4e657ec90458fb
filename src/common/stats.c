/* stats.c - Wilson intervals, percentiles, latency buckets, per-class figures, coverage curve,
 * McNemar. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/stats.h"

void wilson95(long long k, long long n, double *lo, double *hi) {
   if (n <= 0) {
      *lo = 0;
      *hi = 1;
      return;
   }
   const double z = 1.959963984540054;
   double p = (double)k / n, z2 = z * z;
   double denom = 1 + z2 / n;
   double centre = (p + z2 / (2.0 * n)) / denom;
   double half = z * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / denom;
   *lo = fmax(0, centre - half);
   *hi = fmin(1, centre + half);
}

int Audit_latency_bucket(double ms) {
   if (!(ms >= 1))
      return 0;
   int b = (int)floor(4 * log2(ms)) + 1;
   return b >= AUDIT_BUCKETS ? AUDIT_BUCKETS - 1 : b;
}

static int cmp_double(const void *a, const void *b) {
   double x = *(const double *)a, y = *(const double *)b;
   return x < y ? -1 : x > y;
}

double EvalStats_percentile(double *v, size_t n, double q) {
   if (n == 0)
      return NAN;
   qsort(v, n, sizeof *v, cmp_double);
   size_t rank = (size_t)ceil(q * (double)n);
   return v[rank == 0 ? 0 : rank - 1];
}

static double ratio(long a, long b) {
   return b > 0 ? (double)a / (double)b : 0;
}

void EvalStats_classes(const int *gold, const int *pred, size_t n, int nlabels, ClassStats *out, long *confusion) {
   memset(out, 0, (size_t)nlabels * sizeof *out);
   if (confusion)
      memset(confusion, 0, (size_t)nlabels * (size_t)(nlabels + 1) * sizeof *confusion);
   for (size_t i = 0; i < n; i++) {
      int g = gold[i], p = pred[i];
      if (g < 0 || g >= nlabels)
         continue;
      out[g].support++;
      if (p >= 0 && p < nlabels) {
         out[p].predicted++;
         if (p == g)
            out[g].tp++;
      }
      if (confusion)
         confusion[(size_t)g * (size_t)(nlabels + 1) + (size_t)(p >= 0 && p < nlabels ? p : nlabels)]++;
   }
   for (int c = 0; c < nlabels; c++) {
      ClassStats *s = &out[c];
      s->precision = ratio(s->tp, s->predicted);
      s->recall = ratio(s->tp, s->support);
      s->f1 = s->precision + s->recall > 0 ? 2 * s->precision * s->recall / (s->precision + s->recall) : 0;
   }
}

void EvalStats_curve(const double *confidence, const bool *correct, size_t n, CurvePoint pts[CURVE_POINTS]) {
   for (int t = 0; t < CURVE_POINTS; t++) {
      pts[t].threshold = t / 100.0;
      pts[t].covered = pts[t].correct = 0;
   }
   for (size_t i = 0; i < n; i++) {
      if (confidence[i] < 0)
         continue;
      /* Thresholds are compared in hundredths so 0.29 is not lost to binary rounding. */
      long hundredths = lround(floor(confidence[i] * 100 + 1e-9));
      for (int t = 0; t < CURVE_POINTS && t <= hundredths; t++) {
         pts[t].covered++;
         pts[t].correct += correct[i];
      }
   }
}

int EvalStats_recommend(const CurvePoint pts[CURVE_POINTS], double bar) {
   int best = -1;
   for (int t = 0; t < CURVE_POINTS; t++) {
      if (pts[t].covered == 0 || (double)pts[t].correct < bar * (double)pts[t].covered - 1e-9)
         continue;
      if (best < 0 || pts[t].covered > pts[best].covered)
         best = t;
   }
   return best;
}

double EvalStats_mcnemar(long b, long c) {
   long m = b + c, k = b < c ? b : c;
   if (m == 0)
      return 1;
   /* Sum the binomial tail in log space: m can be thousands. */
   double tail = 0;
   for (long i = 0; i <= k; i++)
      tail += exp(lgamma((double)m + 1) - lgamma((double)i + 1) - lgamma((double)(m - i) + 1) - (double)m * log(2));
   double p = 2 * tail;
   return p > 1 ? 1 : p;
}
