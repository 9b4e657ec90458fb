/* review.h - grades a reviewer gives shadow disagreements (primary right, candidate right, both
 * fine, both wrong): stored per exchange, summarised as a graded accuracy, and fed to the dataset
 * filters by flagging the primary's answer when it was not right. */
#ifndef OFFRAMP_REVIEW_H
#define OFFRAMP_REVIEW_H

#include <stdbool.h>

#include "store.h"

typedef enum { GRADE_PRIMARY, GRADE_CANDIDATE, GRADE_BOTH, GRADE_NEITHER, GRADE_COUNT } Grade;
extern const char *const Grade_names[GRADE_COUNT];   /* primary, candidate, both, neither */
extern const char *const Grade_titles[GRADE_COUNT];  /* "primary right", ... */

/* Grade the exchange rid of task_id; the primary record's flag becomes 'corrected' (candidate
 * right) or 'wrong' (both wrong), else is cleared, so the dataset drops what the frontier got wrong. */
bool Review_grade(Store *st, long long task_id, const char *rid, Grade g, char **err);
/* The grade of rid, or -1. */
int Review_get(Store *st, const char *rid);
/* Graded disagreements per grade. */
void Review_counts(Store *st, long long task_id, long long counts[GRADE_COUNT]);
/* Candidate accuracy estimated from raw agreement and the graded disagreements: agreements are
 * right, disagreements right in the share graded candidate-right or both-fine. -1 when none graded. */
double Review_accuracy(double agreement, const long long counts[GRADE_COUNT]);

#endif
