/* compare.h - comparing two arms' answers and reading a model's confidence from logprobs.
 * Pure functions: the gateway, the evaluator and the fuzz target share them. */
#ifndef OFFRAMP_COMPARE_H
#define OFFRAMP_COMPARE_H

#include <jansson.h>
#include <stdbool.h>

typedef enum {
   COMPARE_LABEL,   /* trimmed, case-folded */
   COMPARE_EXACT,   /* byte for byte */
   COMPARE_JSON,    /* field by field, key order ignored, numbers by value */
   COMPARE_TEXT,    /* runs of whitespace collapsed, ends trimmed */
} CompareMode;

bool Compare_mode_parse(const char *s, CompareMode *out);
const char *Compare_mode_name(CompareMode m);

/* choices[0].message.content of a chat completion (or its text for a legacy completion);
 * NULL when there is none. Borrowed from response. */
const char *Compare_answer(const json_t *response);

/* The same answer read from the response's JSON text without building it: a new string, or
 * NULL when there is none (or the text is not a JSON object). */
char *Compare_answer_text(const char *body, size_t len);

/* Whether two answers agree under the mode. NULL never agrees. */
bool Compare_answers(CompareMode m, const char *a, const char *b);

/* Probability of the answer from choices[0].logprobs: for a label, the first token's
 * top_logprobs entry that spells the answer when present; otherwise exp(sum of the answer
 * tokens' logprobs). -1 when the response carries no logprobs. */
double Compare_confidence(const json_t *response, CompareMode m);
/* The same read from the response's JSON text, without building it. */
double Compare_confidence_text(const char *body, size_t len, CompareMode m);

/* A chat completion assembled from a streamed (SSE) response: content deltas joined, logprobs
 * tokens collected, id/model/finish_reason/usage kept. NULL when no chunk parsed. */
json_t *Compare_stream_response(const char *sse, size_t n);

#endif
