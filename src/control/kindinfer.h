/* kindinfer.h - a task's output kind read from its logged answers: tool calls, JSON objects
 * with stable keys (extraction), a small repeated set of short answers (label), or free text,
 * which is a rewrite when most of an answer's words come from its input and open-ended
 * otherwise. Each guess carries the evidence in words. */
#ifndef OFFRAMP_KINDINFER_H
#define OFFRAMP_KINDINFER_H

#include <jansson.h>
#include <stdbool.h>

#include "control/task.h"
#include "store/store.h"

/* Records read per task: the newest ones. */
#define KINDINFER_SAMPLE 2000

typedef struct {
   long answers;            /* successful frontier answers read */
   long tool_calls;         /* of them, function calls */
   long json_objects;       /* JSON objects (a code fence allowed) */
   long same_keys;          /* JSON objects with the most common key set */
   char keys[160];          /* that key set, "a, b, c" */
   long distinct;           /* distinct answers (trimmed, case-folded) */
   long repeated;           /* answers whose value occurs at least twice */
   long median_words;
   double input_overlap;    /* median share of an answer's words found in its input */
   char functions[160];     /* tool-call names seen, "a, b" */
} KindEvidence;

/* The kind of the answers given; false when there are too few answers (< 20) to say. *reason
 * gets the evidence in one line (caller frees). */
bool KindInfer_from_answers(const KindEvidence *e, OutputKind *kind, char **reason);

/* Reads the task's newest answers into *e and infers; false (with *reason saying why) when
 * there is nothing to infer from. */
bool KindInfer_task(Store *st, long long task_id, KindEvidence *e, OutputKind *kind, char **reason);

/* Infers and records the kind of every task still in phase audit whose kind the user has not
 * set (tasks made from imported or captured logs). Returns [{task, kind, was, reason}] of the
 * tasks it looked at; NULL with *err when the workspace refused the write. */
json_t *KindInfer_audit_tasks(Store *st, char **err);

#endif
