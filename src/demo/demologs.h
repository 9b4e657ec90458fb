/* demologs.h - synthetic API logs for the demo: weeks of a support app's OpenAI traffic. */
#ifndef OFFRAMP_DEMOLOGS_H
#define OFFRAMP_DEMOLOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Default end of the generated period: 2026-11-21T00:00:00Z, so that output is deterministic. */
#define DEMOLOGS_DEFAULT_END 1795219200LL

typedef struct {
   int day, days;     /* days finished, of days */
   uint64_t records;  /* records written so far */
   uint64_t bytes;    /* bytes written so far */
} DemologsProgress;

typedef struct {
   int days;              /* days of traffic, 1..3660 (default 14) */
   uint64_t seed;         /* same seed, same parameters -> byte-identical output (default 1) */
   double scale;          /* volume factor; 1.0 = the volumes of Demologs_features (default) */
   long long start;       /* epoch seconds of the first day (00:00 UTC); 0 = DEMOLOGS_DEFAULT_END - days */
   const char *share_dir; /* offramp's share/ root; the inputs are the JSON files in <share_dir>/demo
                             (default "share") */
   /* Called after every generated day, the last call has day == days. May be NULL. */
   void (*progress)(void *ctx, const DemologsProgress *p);
   void *progress_ctx;
} DemologsParams;

/* The touchpoints of the demo app (seed 001's audit table) at scale 1. */
typedef struct {
   const char *task;      /* the "task" of tagged records */
   const char *model;     /* request model */
   double calls_per_day;  /* average day; weekdays run higher, weekends lower */
   double untagged;       /* share of calls logged without "task" */
   const char *what;      /* one line for humans */
} DemologsFeature;

extern const DemologsFeature Demologs_features[];
extern const size_t Demologs_nfeatures;

void Demologs_defaults(DemologsParams *p);

/*
 * Writes exchange records (design.md contract, one JSON object per line, time-ordered) for
 * p->days days to out. Records of errors (429/500/503) carry the OpenAI error object as
 * response and zero usage; truncated answers have finish_reason "length" and the request's
 * max_tokens. Returns false with a malloc'd message in *err (when err != NULL) on a missing
 * or malformed share file, bad parameters or a write error.
 */
bool Demologs_write(FILE *out, const DemologsParams *p, char **err);

#endif
