/* task.h - the inventory: AI touchpoints ("tasks") with the seed's fields and their scores. */
#ifndef OFFRAMP_TASK_H
#define OFFRAMP_TASK_H

#include <jansson.h>
#include <stdbool.h>

#include "common/taskname.h"
#include "common/textmetrics.h"
#include "store/store.h"

typedef enum {
   KIND_LABEL,
   KIND_EXTRACTION,
   KIND_TOOL_CALL,     /* the answer is a function call (tool_calls), not text */
   KIND_REWRITE,
   KIND_OPEN_ENDED,
   KIND_MULTIMODAL,
   KIND_COUNT
} OutputKind;

typedef struct Task {
   long long id;
   char *name;
   char *description;
   char *provider;
   char *model;
   long long monthly_volume;
   double monthly_cost;
   char *input_format;
   char *output_format;
   char *quality_req;
   char *criticality;     /* low | medium | high */
   char *data_available;
   long long examples;    /* training examples available outside the logs */
   OutputKind kind;
   bool domain_vocab, customer_facing, sla, revenue, changing;
   int suitability, impact, complexity;   /* user overrides; 0 = use the suggestion */
   char *scored_at;
   char *phase;
   long long min_examples;
   double agreement_bar;
   long long min_comparisons;
   double eval_margin;
   double format_bar;
   char *kind_reason;     /* why the kind is what it is (inferred from the logs, or set) */
   TextMetric text_metric;      /* text answers are scored with it ... */
   double text_threshold;       /* ... and agree at or above this score (0-1) */
   /* The declared format of every answer (FormatSpec_init takes them); "" / 0: none. */
   char *format_regex, *format_starts_with, *format_labels, *format_schema;
   long long format_min_length, format_max_length;
   char *created_at, *updated_at;
   long long logged;      /* API calls logged for the task (filled by Task_get/list) */
   /* monthly_volume / monthly_cost were 0 (unset) and read from the audit figures */
   bool volume_from_audit, cost_from_audit;
} Task;

/* The kind_reason of a kind the user chose: inference never overrides it. */
#define KIND_SET_BY_USER "set by the user"

const char *OutputKind_name(OutputKind k);
bool OutputKind_parse(const char *s, OutputKind *out);

/* Every editable field, described once: the CLI's options, the JSON keys and validation
 * all come from this table. */
typedef enum { FIELD_TEXT, FIELD_COUNT, FIELD_MONEY, FIELD_FLAG, FIELD_KIND, FIELD_CRIT,
               FIELD_FRACTION, FIELD_POINTS, FIELD_SCORE, FIELD_METRIC, FIELD_REGEX, FIELD_LABELS,
               FIELD_SCHEMA } FieldType;
typedef struct {
   const char *option;    /* CLI long option and JSON key */
   const char *column;
   FieldType type;
   const char *help;
} TaskField;
extern const TaskField Task_fields[];
extern const int Task_nfields;

/* Validate value for field f; on success the normalised text to store goes into *norm. */
bool TaskField_check(const TaskField *f, const char *value, char **norm, char **err);

void Task_init(Task *t);
void Task_clear(Task *t);

/* NULL/false with *err naming the task when it does not exist. */
bool Task_get(Store *st, const char *name, Task *t, char **err);
/* All tasks, unsorted; caller frees with Task_free_list. */
Task *Task_list(Store *st, int *n);
void Task_free_list(Task *ts, int n);

/* Create a task in phase audit with the given field values (parallel arrays of Task_fields
 * entries and values). Records the creation in the phase history. */
bool Task_add(Store *st, const char *name, const TaskField **fields, const char **values, int n, char **err);
/* Inside the caller's transaction: create a task in phase audit with a description and the
 * reason recorded in its phase history; its id, or 0 with *err (bad or taken name). */
long long Task_create_in_tx(Store *st, const char *name, const char *description, const char *reason, char **err);
bool Task_edit(Store *st, const char *name, const char *rename, const TaskField **fields,
               const char **values, int n, char **err);
bool Task_remove(Store *st, const char *name, char **err);

json_t *Task_to_json(const Task *t);

/* The task's declared answer format; false with *err when a stored part no longer compiles. */
struct FormatSpec;
bool Task_format(const Task *t, struct FormatSpec *f, char **err);

/* Record an inferred kind and why, unless the user set the kind. */
bool Task_set_inferred_kind(Store *st, long long task_id, OutputKind k, const char *reason, char **err);

#endif
