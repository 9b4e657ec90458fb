/* score.h - seed 000's prioritisation: suitability x impact / complexity, and the
 * "stay on the API" verdict, each with the criteria that produced it. */
#ifndef OFFRAMP_SCORE_H
#define OFFRAMP_SCORE_H

#include <stdbool.h>

#include "control/task.h"

typedef enum { DIM_SUITABILITY, DIM_IMPACT, DIM_COMPLEXITY, DIM_COUNT } ScoreDim;

/* One criterion as the console shows it: "+1 large volume (45,000/month >= 30,000)". */
typedef struct {
   ScoreDim dim;
   int delta;         /* contribution to the suggestion; 0 = considered, did not apply */
   char text[96];
} Criterion;

#define SCORE_MAX_CRITERIA 16
#define VERDICT_MAX_REASONS 4

typedef struct {
   int suggested[DIM_COUNT];
   int value[DIM_COUNT];         /* the override where set, else the suggestion */
   bool overridden[DIM_COUNT];
   double priority;              /* suitability x impact / complexity */
   Criterion criteria[SCORE_MAX_CRITERIA];
   int ncriteria;
   bool stay;                    /* "stay on the API" */
   char reasons[VERDICT_MAX_REASONS][96];
   const char *codes[VERDICT_MAX_REASONS];   /* short forms for tables: "volume", "data", ... */
   int nreasons;
} Score;

/* Thresholds the criteria use; the numbers a user sees in the explanations. */
#define SCORE_LARGE_VOLUME 30000     /* requests/month: "thousands a day" */
#define SCORE_HIGH_COST 250.0        /* USD/month */
#define VERDICT_MIN_VOLUME 3000      /* requests/month: ~100 a day */
#define VERDICT_MIN_EXAMPLES 500

const char *ScoreDim_name(ScoreDim d);
/* Fill sc from the task's fields (and its logged examples) and overrides. */
void Score_compute(const Task *t, Score *sc);

#endif
