/* review.h - grades a reviewer gives shadow disagreements (primary right, candidate right, both
 * fine, both wrong): stored per exchange, summarised as a graded accuracy, and fed to the dataset
 * filters by flagging the primary's answer when it was not right. */
#ifndef OFFRAMP_REVIEW_H
#define OFFRAMP_REVIEW_H

#include <stdbool.h>

#include "control/gwadmin.h"
#include "store/store.h"

typedef enum { GRADE_PRIMARY, GRADE_CANDIDATE, GRADE_BOTH, GRADE_NEITHER, GRADE_COUNT } Grade;
extern const char *const Grade_names[GRADE_COUNT];   /* primary, candidate, both, neither */
extern const char *const Grade_titles[GRADE_COUNT];  /* "primary right", ... */

/* "primary", "candidate", "both", "neither" (or 1-4, the console's keys). */
bool Grade_parse(const char *s, Grade *g);

/* Grade the disagreement rid (a captured exchange of task_id whose answers disagreed); the
 * primary record's flag becomes 'corrected' (candidate right) or 'wrong' (both wrong), else is
 * cleared, so the dataset drops what the frontier got wrong. Any other rid is refused and
 * nothing is written. */
bool Review_grade(Store *st, long long task_id, const char *rid, Grade g, char **err);
/* The grade of rid, or -1. */
int Review_get(Store *st, const char *rid);
/* Graded disagreements per grade. */
void Review_counts(Store *st, long long task_id, long long counts[GRADE_COUNT]);
/* Candidate accuracy estimated from raw agreement and the graded disagreements: agreements are
 * right, disagreements right in the share graded candidate-right or both-fine. -1 when none graded. */
double Review_accuracy(double agreement, const long long counts[GRADE_COUNT]);

/* A recent disagreement: the request's last message and both answers. */
typedef struct {
   char *rid, *ts, *input, *primary, *candidate;
} ReviewSample;

/* The task's newest disagreements, newest first, from the gateway (GET /admin/samples
 * kind=disagree), as the console's review shows them. NULL with *err when the gateway fails. */
ReviewSample *Review_samples(const GwAdmin *gw, const char *task, int limit, int *n, char **err);
void Review_samples_free(ReviewSample *s, int n);

#endif
