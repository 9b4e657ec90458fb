/* compare.h - comparing two arms' answers and reading a model's confidence from logprobs.
 * Pure functions: the gateway, the evaluator and the fuzz target share them. */
#ifndef OFFRAMP_COMPARE_H
#define OFFRAMP_COMPARE_H

#include <jansson.h>
#include <stdbool.h>

#include "common/textmetrics.h"

typedef enum {
   COMPARE_LABEL,   /* trimmed, case-folded */
   COMPARE_EXACT,   /* byte for byte */
   COMPARE_JSON,    /* field by field, key order ignored, numbers by value */
   COMPARE_TEXT,    /* a text metric (chrF by default) at or above a threshold */
   COMPARE_TOOL_CALLS,   /* the same functions called with JSON-equal arguments */
} CompareMode;

/* The text agreement threshold when a task or route names none. */
#define COMPARE_TEXT_THRESHOLD 0.80

bool Compare_mode_parse(const char *s, CompareMode *out);
const char *Compare_mode_name(CompareMode m);

/* choices[0].message.content of a chat completion (or its text for a legacy completion);
 * NULL when there is none. Borrowed from response. */
const char *Compare_answer(const json_t *response);

/* The answer as a new string: the content, or when the model called tools instead, its
 * tool calls in the canonical form below. NULL when there is neither. */
char *Compare_answer_new(const json_t *response);

/* The same answer read from the response's JSON text without building it (for the common
 * content answer): a new string, or NULL when there is none (or the text is not a JSON object). */
char *Compare_answer_text(const char *body, size_t len);

/* Tool calls (an OpenAI message's tool_calls array) as the text comparisons and datasets use:
 * [{"name":"f","arguments":{...}}, ...], the arguments string parsed (kept as a string when it
 * is not JSON), call ids dropped (they are random). NULL when tool_calls is not a non-empty
 * array of function calls. */
char *Compare_tool_calls_canonical(const json_t *tool_calls);

/* The answer as a JSON value (any type), a Markdown code fence around it ignored; NULL when
 * it is not JSON. */
json_t *Compare_answer_json(const char *s);

/* Whether two answers agree under the mode; text with chrF at COMPARE_TEXT_THRESHOLD. NULL
 * never agrees. */
bool Compare_answers(CompareMode m, const char *a, const char *b);
/* The same with text scored by metric and agreeing at score >= threshold. */
bool Compare_agree(CompareMode m, TextMetric metric, double threshold, const char *a, const char *b);

/* Field-level agreement of answer with expected: for JSON, the expected object's fields the
 * answer has JSON-equal; for tool calls, each expected call's function name and each of its
 * arguments (calls matched by position). *total 0 for other modes or unparsable expectations. */
void Compare_fields(CompareMode m, const char *answer, const char *expected, long *ok, long *total);

/* Probability of the answer from choices[0].logprobs: for a label, the first token's
 * top_logprobs entry that spells the answer when present; for text, the geometric mean of
 * the tokens' probabilities (exp of the mean logprob: a long answer is not less certain for
 * being long); for a JSON object, its least sure top-level field: with one logprobs entry per
 * field (a field-scoring model: each entry's token is a field's key or value), that entry's
 * probability, else the product of the probabilities of the tokens spelling the field's value;
 * JSON that is neither, length-normalised like text; otherwise exp(sum of the answer tokens'
 * logprobs). -1 when the response carries no logprobs. */
double Compare_confidence(const json_t *response, CompareMode m);
/* The same read from the response's JSON text, without building it. */
double Compare_confidence_text(const char *body, size_t len, CompareMode m);

/* A chat completion assembled from a streamed (SSE) response: content deltas joined, logprobs
 * tokens collected, id/model/finish_reason/usage kept. NULL when no chunk parsed. */
json_t *Compare_stream_response(const char *sse, size_t n);

#endif
