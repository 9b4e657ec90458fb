/* importer.h - streaming import of production API logs into the workspace: offramp exchange
 * records, OpenAI request/response pairs (and Batch API output lines), LiteLLM
 * LiteLLM_SpendLogs rows as JSON lines or CSV; plain or gzip, file or stdin. */
#ifndef OFFRAMP_IMPORTER_H
#define OFFRAMP_IMPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "store/store.h"

/* Malformed records listed in the summary; all are counted. */
#define IMPORT_SHOWN_ERRORS 20

typedef struct {
   size_t max_record;     /* bytes; a longer line/row is skipped and reported */
   int chunk;             /* records per transaction */
   bool progress;         /* draw a progress bar on stderr */
} ImportOptions;

typedef struct {
   char *model;
   long long calls;
} ImportUnpriced;

typedef struct {
   long long rows, imported, duplicates, malformed;
   long long bytes;                  /* uncompressed bytes read */
   long long estimated;              /* imported calls whose tokens are an estimate */
   long long by_format[4];           /* exchange, openai, openai-batch, litellm */
   char *errors[IMPORT_SHOWN_ERRORS];  /* "FILE:LINE: why" */
   int nerrors;
   ImportUnpriced *unpriced;
   int nunpriced;
   double seconds;
} ImportStats;

extern const char *const Import_format_names[4];

typedef struct Importer Importer;

void ImportOptions_init(ImportOptions *o);
Importer *Importer_new(Store *st, const ImportOptions *o, char **err);
/* Import one source ("-" = stdin; gzip is detected from the data). Malformed records are
 * counted in the stats, not errors; false with *err only when the source cannot be read
 * or the workspace refuses a write (committed chunks stay: re-running the import is
 * idempotent and completes it). */
bool Importer_file(Importer *im, const char *path, char **err);
/* Import records from a buffer as if it were a file named name (fuzzers and tests). */
bool Importer_buffer(Importer *im, const char *name, const char *data, size_t len, char **err);
const ImportStats *Importer_stats(const Importer *im);
void Importer_free(Importer *im);

/* The human summary ("rows read, imported, ...", malformed lines, unpriced models). */
void ImportStats_print(const ImportStats *s, FILE *out);

#endif
