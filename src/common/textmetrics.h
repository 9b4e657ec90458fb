/* textmetrics.h - generation metrics for text answers against the logged (frontier) answer:
 * chrF (sacreBLEU's default: character 6-grams, beta 2, whitespace removed, effective order)
 * and ROUGE-L (LCS F-measure on rouge-score's tokens). Pure functions, no I/O. Scores are
 * fractions 0..1; people see them as points (x 100). */
#ifndef OFFRAMP_TEXTMETRICS_H
#define OFFRAMP_TEXTMETRICS_H

#include <stdbool.h>

typedef enum { METRIC_CHRF, METRIC_ROUGE_L, METRIC_COUNT } TextMetric;

/* "chrf", "rouge-l". */
const char *TextMetric_name(TextMetric m);
bool TextMetric_parse(const char *s, TextMetric *out);

#define CHRF_MAX_ORDER 6

/* Per-order n-gram counts of one or more hypothesis/reference pairs: summing them over pairs
 * and scoring the sum is sacreBLEU's corpus chrF. */
typedef struct {
   long hyp[CHRF_MAX_ORDER], ref[CHRF_MAX_ORDER], match[CHRF_MAX_ORDER];
} ChrfStats;

/* Adds the pair's counts for orders 1..order (at most 6) to s. Characters are Unicode code
 * points (invalid UTF-8 bytes count one each); whitespace is removed unless keep_whitespace. */
void Chrf_add(ChrfStats *s, const char *hyp, const char *ref, int order, bool keep_whitespace);
/* The F-beta score of the counts, averaging precision and recall over the orders both sides
 * have n-grams of (sacreBLEU's eps_smoothing=False); 0 when there are none. */
double Chrf_score(const ChrfStats *s, int order, double beta);

/* sacreBLEU's default sentence chrF (order 6, beta 2, whitespace removed), 0..1. */
double Textmetrics_chrf(const char *hyp, const char *ref);

typedef struct {
   double precision, recall, f;
} RougeScore;

/* ROUGE-L of prediction against target, tokenised as rouge-score does without stemming
 * (ASCII lower-cased, every run of characters other than [a-z0-9] a separator). One
 * deliberate difference: bytes of multi-byte UTF-8 characters are kept as word characters,
 * where rouge-score drops them (and would score any non-English answer 0). */
RougeScore Textmetrics_rouge_l(const char *prediction, const char *target);

/* The metric's score of answer against expected, 0..1 (ROUGE-L: its F-measure). */
double Textmetrics_score(TextMetric m, const char *answer, const char *expected);

#endif
