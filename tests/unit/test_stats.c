/* test_evalstats.c - evaluation arithmetic against hand-computed values. */
#include "config.h"

#include <math.h>

#include "common/stats.h"
#include "tap.h"

int main(void) {
   /* Nearest rank: of 10..100 ms, p50 is the 5th value, p95 and p99 the 10th. */
   double lat[] = { 100, 10, 90, 20, 80, 30, 70, 40, 60, 50 };
   is_near(EvalStats_percentile(lat, 10, 0.50), 50, 1e-9, "p50 of 10..100");
   is_near(EvalStats_percentile(lat, 10, 0.95), 100, 1e-9, "p95 of 10..100");
   is_near(EvalStats_percentile(lat, 10, 0.90), 90, 1e-9, "p90 of 10..100");
   double one[] = { 7 };
   is_near(EvalStats_percentile(one, 1, 0.99), 7, 1e-9, "p99 of one value");
   ok(isnan(EvalStats_percentile(one, 0, 0.5)), "percentile of nothing is NAN");

   /* Three labels a, b, c; expected a a a b b c, answered a a b b ? c (? outside the set).
    * a: support 3, answered 2, tp 2 -> P 1, R 2/3, F1 0.8
    * b: support 2, answered 2, tp 1 -> P 0.5, R 0.5, F1 0.5
    * c: support 1, answered 1, tp 1 -> P 1, R 1, F1 1 */
   int gold[] = { 0, 0, 0, 1, 1, 2 }, pred[] = { 0, 0, 1, 1, -1, 2 };
   ClassStats cs[3];
   long conf[3 * 4];
   EvalStats_classes(gold, pred, 6, 3, cs, conf);
   is_near(cs[0].precision, 1.0, 1e-9, "a precision");
   is_near(cs[0].recall, 2.0 / 3, 1e-9, "a recall");
   is_near(cs[0].f1, 0.8, 1e-9, "a F1");
   is_near(cs[1].precision, 0.5, 1e-9, "b precision");
   is_near(cs[1].recall, 0.5, 1e-9, "b recall");
   is_near(cs[1].f1, 0.5, 1e-9, "b F1");
   is_near(cs[2].f1, 1.0, 1e-9, "c F1");
   is_int(conf[0 * 4 + 0], 2, "confusion a->a");
   is_int(conf[0 * 4 + 1], 1, "confusion a->b");
   is_int(conf[1 * 4 + 3], 1, "confusion b->outside");
   is_int(conf[2 * 4 + 2], 1, "confusion c->c");

   /* Five rows: confidences 0.95 0.90 0.60 0.30 none; right, right, wrong, right, wrong.
    * At 0.00: 4 covered, 3 right (0.75); at 0.31..0.60: 3 covered, 2 right; at 0.61..0.90: 2
    * covered, both right; at 0.91..0.95: 1; above: 0. Bar 0.9 -> threshold 0.61, coverage 2/5. */
   double c5[] = { 0.95, 0.90, 0.60, 0.30, -1 };
   bool r5[] = { true, true, false, true, false };
   CurvePoint pts[CURVE_POINTS];
   EvalStats_curve(c5, r5, 5, pts);
   is_int(pts[0].covered, 4, "t=0.00 covers the rows with a confidence");
   is_int(pts[0].correct, 3, "t=0.00 correct");
   is_int(pts[30].covered, 4, "t=0.30 still covers 0.30");
   is_int(pts[31].covered, 3, "t=0.31 drops 0.30");
   is_int(pts[60].covered, 3, "t=0.60 covers 0.60");
   is_int(pts[61].covered, 2, "t=0.61");
   is_int(pts[95].covered, 1, "t=0.95");
   is_int(pts[96].covered, 0, "t=0.96");
   int best = EvalStats_recommend(pts, 0.9);
   is_int(best, 61, "recommended threshold for bar 0.90 is 0.61");
   is_int(EvalStats_recommend(pts, 0.75), 0, "bar 0.75 is met with everything covered");
   double bad[] = { 0.9, 0.8 };
   bool wrong[] = { false, false };
   EvalStats_curve(bad, wrong, 2, pts);
   is_int(EvalStats_recommend(pts, 0.5), -1, "no threshold when nothing is right");

   /* McNemar: b=10, c=2: p = 2 * (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 * 79 / 4096. */
   is_near(EvalStats_mcnemar(10, 2), 158.0 / 4096, 1e-12, "McNemar 10 vs 2");
   is_near(EvalStats_mcnemar(2, 10), 158.0 / 4096, 1e-12, "McNemar is symmetric");
   /* b=5, c=5: two-sided p capped at 1. */
   is_near(EvalStats_mcnemar(5, 5), 1.0, 1e-12, "McNemar balanced is 1");
   is_near(EvalStats_mcnemar(0, 0), 1.0, 1e-12, "McNemar with no discordant pairs is 1");
   /* b=6, c=0: 2 / 64. */
   is_near(EvalStats_mcnemar(6, 0), 2.0 / 64, 1e-12, "McNemar 6 vs 0");
   /* Large counts stay finite: b=1000, c=900. */
   double p = EvalStats_mcnemar(1000, 900);
   ok(p > 0.02 && p < 0.03, "McNemar 1000 vs 900 is about 0.023 (got %g)", p);
   return tap_done();
}
