/* records.h - test data: exchange records shaped like a frontier's chat completions, with the
 * defects the dataset step filters planted on request. Shared by mkexchanges and unit tests. */
#ifndef OFFRAMP_TEST_RECORDS_H
#define OFFRAMP_TEST_RECORDS_H

#include <stdbool.h>

#include "store/exchange.h"

typedef enum {
   DEFECT_NONE,
   DEFECT_ERROR,          /* HTTP 500 with an error object */
   DEFECT_ERROR_OBJECT,   /* HTTP 200 but an error object instead of choices */
   DEFECT_TRUNCATED,      /* finish_reason "length" */
   DEFECT_EMPTY,          /* the answer is "" */
   DEFECT_FLAGGED,        /* the user marked the answer wrong */
   DEFECT_CORRECTED,      /* the user corrected the answer */
} Defect;

/* "", "error", "error-object", "truncated", "empty", "flagged", "corrected". */
bool Defect_parse(const char *s, Defect *d);

typedef struct {
   Store *st;
   ExchangeWriter *w;
   const char *task;
   const char *system;    /* the system prompt of every request */
   long long t0;          /* epoch seconds of the first record */
   long long step;        /* seconds between records */
   const char *prefix;    /* request ids are PREFIX-N */
   long long n;           /* records added so far */
} RecordGen;

/* Add one exchange: the text as the user message, answer as the assistant's; false with *err. */
bool Records_add(RecordGen *g, const char *text, const char *answer, Defect d, char **err);

#endif
