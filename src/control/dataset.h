/* dataset.h - the dataset step: a task's captured exchanges filtered, deduplicated, balanced
 * and split into train/test chat JSONL, written under the workspace's data directory and
 * registered in the workspace so training and evaluation refer to it by id. */
#ifndef OFFRAMP_DATASET_H
#define OFFRAMP_DATASET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/phaselog.h"
#include "control/task.h"
#include "store/store.h"

#define DATASET_TEST_FRAC_MIN 0.10
#define DATASET_TEST_FRAC_MAX 0.15

typedef struct {
   const char *since, *until;   /* inclusive bounds on the record time (ISO-8601 UTC); NULL = open */
   double test_frac;            /* share of rows held out, DATASET_TEST_FRAC_MIN..MAX */
   long long min_train;         /* train rows the build (and the gate) need; < 0 = the task's min_examples */
   bool balance;                /* label tasks: cap each label at cap_factor x the median label count */
   double cap_factor;
   double near_dup;             /* Jaccard threshold of a near-duplicate pair */
   /* Prompt tokens above median + k x MAD are length outliers. Text lengths have a long tail
    * and a shared system prompt makes the MAD small: k 5 dropped 9.4 % of banking77, k 15
    * drops 0.8 % (its longest questions) and still catches a pasted document. */
   double outlier_k;
   long long min_label;         /* warn about labels with fewer rows than this */
   uint64_t seed;               /* the split and row order: same data + params + seed, same bytes */
} DatasetParams;

void Dataset_defaults(DatasetParams *p);
/* false with *err naming the parameter, its value and the allowed range. */
bool Dataset_check_params(const DatasetParams *p, char **err);

/* A registered dataset. */
typedef struct {
   long long id;
   long long task_id;
   char *created_at, *actor;
   char *since, *until;         /* the window asked for; NULL = open */
   long long rows_train, rows_test;
   char *dir;                   /* absolute path of the dataset's directory */
   char *train_sha256, *test_sha256, *report_sha256;
   json_t *report;              /* dataset.json's content */
   /* Filled by Dataset_build only: seconds spent reading and parsing the records, grouping
    * duplicates (MinHash), and the rest (filters, split, writing, registering). */
   double secs_read, secs_dedupe, secs_rest;
} Dataset;

void Dataset_clear(Dataset *d);

/* Build, write and register a dataset of task. On failure *err says why with the numbers,
 * no files are left behind and nothing is registered. */
bool Dataset_build(Store *st, const char *task, const DatasetParams *p, Dataset *out, char **err);

/* Datasets of a task, newest first; caller frees each with Dataset_clear and the array. */
Dataset *Dataset_list(Store *st, long long task_id, int *n);
/* One dataset of the task by id, or its latest when id is 0; false with *err when none. */
bool Dataset_get(Store *st, const Task *t, long long id, Dataset *out, char **err);

/* The workspace's data directory: its path without ".db", plus ".data". Caller frees. */
char *Dataset_data_dir(const Store *st);

/* The dataset -> train gate's checks on the task's latest dataset: rows, test fraction,
 * train/test overlap re-checked from the stored files, near-duplicate groups kept whole.
 * Returns the number of checks written to out (at most max). */
int Dataset_gate_checks(Store *st, const Task *t, GateCheck *out, int max);

/* The label set of a label task: the user's when set, else learned from the data (and not
 * stored). counts[i] (may be NULL) = rows answering labels[i] among the task's usable
 * records. Caller frees with Dataset_free_labels. */
typedef struct {
   char **labels;
   long long *counts;
   int n;
   bool user;           /* set by the user rather than learned */
   long long rows;      /* usable records looked at */
   long long off_label; /* of those, rows whose answer is outside the set */
} LabelSet;

bool Dataset_labels(Store *st, const Task *t, LabelSet *ls, char **err);
void Dataset_free_labels(LabelSet *ls);
/* Replace the task's label set with the user's (n = 0 goes back to learning it). */
bool Dataset_set_labels(Store *st, const Task *t, char *const *labels, int n, char **err);

#endif
