/* stats.h - the statistics every part shares, at the bottom of the house (includes nothing of
 * offramp's): Wilson intervals, percentiles, the latency histogram's buckets, per-class
 * precision/recall/F1
 * and confusion counts, the confidence/coverage curve and its recommended threshold, and the
 * exact McNemar test. Pure functions, no I/O. */
#ifndef OFFRAMP_STATS_H
#define OFFRAMP_STATS_H

#include <stdbool.h>
#include <stddef.h>

/* Wilson score interval (95 %) for k successes out of n. */
void wilson95(long long k, long long n, double *lo, double *hi);

/* Latency histogram: bucket 0 is < 1 ms, bucket k covers [2^((k-1)/4), 2^(k/4)) ms (19 %
 * wide), the last also everything above ~46 s. */
#define AUDIT_BUCKETS 64
int Audit_latency_bucket(double ms);

/* Nearest-rank percentile (q in 0..1) of n values; sorts v in place. NAN when n is 0. */
double EvalStats_percentile(double *v, size_t n, double q);

typedef struct {
   long support;      /* rows whose expected label is this one */
   long predicted;    /* rows the candidate gave this label */
   long tp;
   double precision, recall, f1;   /* 0 when the denominator is 0 */
} ClassStats;

/* gold[i] and pred[i] are label indices (0..nlabels-1); pred -1 is an answer outside the label
 * set (or none) and is counted in the confusion matrix's last column. confusion holds
 * nlabels x (nlabels + 1) counts, row = expected, column = answered; it may be NULL. */
void EvalStats_classes(const int *gold, const int *pred, size_t n, int nlabels, ClassStats *out, long *confusion);

#define CURVE_POINTS 100   /* thresholds 0.00, 0.01, ..., 0.99 */

typedef struct {
   double threshold;
   long covered;      /* rows with confidence >= threshold */
   long correct;      /* of those, answered correctly */
} CurvePoint;

/* Rows with confidence < 0 (none) are never covered; coverage is covered / n of all rows. */
void EvalStats_curve(const double *confidence, const bool *correct, size_t n, CurvePoint pts[CURVE_POINTS]);

/* The point with the largest coverage whose accuracy on the covered rows reaches bar (lowest
 * threshold on ties); -1 when none does. */
int EvalStats_recommend(const CurvePoint pts[CURVE_POINTS], double bar);

/* Exact two-sided McNemar p-value: b rows only A got right, c rows only B got right; a binomial
 * test of min(b, c) against Binomial(b + c, 1/2). 1 when b + c is 0. */
double EvalStats_mcnemar(long b, long c);

#endif
