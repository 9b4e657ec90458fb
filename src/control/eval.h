/* eval.h - held-out evaluation runs: resolve the candidate and the test set, send every row
 * (resumably), score the answers, keep the metrics, and answer the gate and the route's
 * min_confidence from the latest run. */
#ifndef OFFRAMP_EVAL_H
#define OFFRAMP_EVAL_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/compare.h"
#include "common/formatcheck.h"
#include "store/store.h"

/* A model to send rows to. */
typedef struct {
   char *spec;          /* as the user wrote it: "builtin:intent-3" or "http://host/v1|intent-3" */
   char *url;           /* the chat completions URL */
   char *model;
   char *key;           /* API key read from the backend's key_env, or NULL */
   double price_in, price_out;   /* USD per 1M tokens; < 0 unpriced */
} EvalEndpoint;

/* "BACKEND:MODEL" through the backends table when the workspace has one, else
 * "URL|MODEL" with an OpenAI-compatible base URL. */
bool Eval_endpoint(Store *st, const char *spec, EvalEndpoint *e, char **err);
void EvalEndpoint_clear(EvalEndpoint *e);

typedef struct {
   json_t *prompt;      /* the messages before the expected answer */
   char *expected;      /* the logged (frontier) answer: the gold (tool calls in canonical form) */
   json_t *tools;       /* the tools the request offered, or NULL */
} EvalRow;

typedef struct {
   EvalRow *rows;
   size_t n;
   char **labels;       /* label set from the train and test answers (label comparison only) */
   int nlabels;
   char *source;        /* "dataset 3" or "file PATH": what a resumed run must match */
   char *hash;          /* of the test file's bytes */
} EvalSet;

/* The test rows of dataset (an id of the datasets table) or of test_file (a test.jsonl in
 * OpenAI chat fine-tuning format, train.jsonl beside it). With neither, the task's latest
 * dataset. labels: learn the label set. */
bool EvalSet_load(Store *st, long long task_id, const char *dataset, const char *test_file, bool labels,
                  EvalSet *set, char **err);
void EvalSet_clear(EvalSet *set);

typedef struct {
   const char *candidate, *reference;   /* endpoint specs; reference NULL: the logged answers */
   const char *dataset, *test_file;
   const char *compare;                 /* NULL: the route's, else from the task's output kind */
   int concurrency;                     /* 8 */
   int repeat;                          /* K repeats for consistency; 0 skips it */
   int repeat_rows;                     /* rows sampled for the repeats (20) */
   long timeout_ms;                     /* 30000 */
   long backoff_ms;                     /* 500 */
   int max_attempts;                    /* 4 */
   int max_tokens;                      /* 0: from the longest expected answer */
   bool fresh;                          /* never resume */
   double bar;                          /* accuracy bar for the threshold; < 0: the task's agreement_bar */
   double price_in, price_out, ref_price_in, ref_price_out;   /* < 0: backend's or unpriced */
   volatile sig_atomic_t *stop;
   /* Each finished request; total counts those already kept by an earlier attempt. */
   void (*progress)(void *ctx, size_t done, size_t total);
   void *ctx;
} EvalOpts;

void EvalOpts_defaults(EvalOpts *o);

/* Runs (or resumes) an evaluation; returns its id, 0 with *err on failure. *complete is false
 * when *stop interrupted it (the finished rows are kept: the same command resumes). *resumed
 * gets the requests an earlier attempt had finished. */
long long Eval_run(Store *st, const char *task, const EvalOpts *o, bool *complete, size_t *resumed, char **err);

typedef struct {
   long long id, task_id;
   char *task, *dataset, *candidate, *reference, *status, *created_at, *finished_at;
   json_t *metrics;     /* NULL until done */
   json_t *params;
} EvalRunInfo;

bool Eval_get_run(Store *st, long long id, EvalRunInfo *r, char **err);
void EvalRunInfo_clear(EvalRunInfo *r);
/* The task's latest finished run, 0 when none. */
long long Eval_latest_run(Store *st, long long task_id);

/* The figures the gate, the task view and the report headline use. */
typedef struct {
   long long run_id;
   long acc_k, acc_n, ref_k, ref_n, fmt_k, fmt_n;
   bool has_logprobs;
   double threshold, coverage, covered_accuracy;   /* threshold < 0: none reached the bar */
   double bar;
} EvalHeadline;

bool Eval_headline(const json_t *metrics, EvalHeadline *h);

/* The task's own metric in a finished run: accuracy (labels, exact), field accuracy
 * (extraction), argument accuracy (tool calls) or the text metric's mean score (chrf,
 * rouge-l), for the candidate and for the reference: the reference model's when the run had
 * one (for text, the frontier against its own logged answers: the noise the candidate is
 * measured against), else the logged answers, which score 1. Fractions 0..1. The gate
 * "within N points of the frontier on the task's metric" is value >= reference - N / 100. */
typedef struct {
   char name[24];
   double value, reference;
   long n;
} EvalTaskMetric;
bool Eval_task_metric(const json_t *metrics, EvalTaskMetric *m);

/* Side by side, with an exact McNemar test for every pair; runs must share the test set. */
json_t *Eval_compare(Store *st, const long long *ids, int n, char **err);

/* Store run's recommended threshold as the task's min_confidence; *value gets it. */
bool Eval_apply_threshold(Store *st, const char *task, long long run_id, double *value, char **err);
/* The task's recommended min_confidence for its route's fallback; false when none was set. */
bool Eval_min_confidence(Store *st, long long task_id, double *out);

/* A row asked the way an evaluation asks it (temperature 0, logprobs, the set's max_tokens),
 * the comparison the task's evaluation uses, and whether an answer is in the task's format:
 * the deployment's readiness smoke check (deploy.c) shares them so it checks what eval checks. */
struct Task;
char *Eval_request_body(const EvalRow *row, const char *model, int max_tokens);
int Eval_max_tokens(const EvalSet *set);
CompareMode Eval_compare_mode(Store *st, const struct Task *t);
/* Whether answer has the format evaluation asks of row: the mode's own and fmt's declared
 * checks (fmt may be NULL: none). */
bool Eval_compliant(CompareMode mode, const EvalSet *set, const FormatSpec *fmt, const EvalRow *row, const char *answer);

/* "%.1f %%" figure with its interval and n, e.g. "91.2 % (95 % CI 90.1-92.2, n=3,080)". */
void Eval_fmt_rate(char *buf, size_t size, long k, long n);

#endif
