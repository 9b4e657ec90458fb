/* recorded.h - logged calls read back for replay: the request (and the frontier's answer) of
 * exchange records from a JSONL file (plain or gzip) or from the workspace. */
#ifndef OFFRAMP_RECORDED_H
#define OFFRAMP_RECORDED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct {
   char *task;       /* the record's task, or NULL when untagged */
   char *model;      /* the request's model, or NULL */
   uint64_t key;     /* Recorded_key of the request */
   char *request;    /* the OpenAI chat request, compact JSON */
   char *response;   /* the answer, compact JSON; NULL unless asked for */
   int status;       /* the answer's HTTP status (200 when the record has none) */
} RecordedCall;

typedef struct {
   RecordedCall *v;
   size_t n, cap;
   size_t skipped;   /* lines that were not exchange records with a chat request */
} Recorded;

typedef struct {
   const char *task;      /* only records of this task (NULL: all) */
   bool answers;          /* keep responses, and only of arms that the frontier answered */
   size_t max;            /* stop after this many calls (0: all) */
} RecordedFilter;

/* Appends to r. false with *err when the file or workspace cannot be read. */
bool Recorded_load_file(Recorded *r, const char *path, const RecordedFilter *f, char **err);
bool Recorded_load_store(Recorded *r, Store *st, const RecordedFilter *f, char **err);
void Recorded_free(Recorded *r);

/* The lookup key of a chat request: its model and its messages' roles and text, whitespace
 * at either end of a text ignored, so the same call logged twice maps to the same key. */
uint64_t Recorded_key(const json_t *request);

#endif
