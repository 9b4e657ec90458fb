/* exchange.h - exchange records (design.md's capture/import/export contract) and the one
 * path by which they enter the workspace, used by the importer and the gateway alike. */
#ifndef OFFRAMP_EXCHANGE_H
#define OFFRAMP_EXCHANGE_H

#include <stdbool.h>

#include "store/store.h"

/* Distinct outputs counted per task and fingerprint; past it the count reads ">= 1,000". */
#define AUDIT_DISTINCT_CAP 1000
/* An output at most this long (bytes) may be a label; the label set is the task's
 * AUDIT_LABEL_SET most frequent such outputs. */
#define AUDIT_LABEL_MAX 40
#define AUDIT_LABEL_SET 20

typedef struct {
   const char *rid;          /* request id, else a content hash; the dedupe key */
   const char *ts;           /* ISO-8601 UTC */
   const char *task;         /* explicit task tag, or NULL */
   const char *fingerprint;  /* prompt-template fingerprint, or NULL */
   const char *arm;          /* primary | candidate | fallback */
   const char *model;
   int status;               /* HTTP status, 0 unknown */
   double latency_ms;        /* < 0 unknown */
   long long prompt_tokens, completion_tokens;   /* < 0 unknown */
   bool tokens_estimated;
   double cost;              /* USD, < 0 unpriced */
   int agree;                /* -1 not compared, 0/1 */
   double confidence;        /* < 0 none */
   const char *record;       /* the whole record as JSON text */
   /* Replayed traffic (offramp replay through a gateway, "replay":true in the record): stored
    * and compared like any call, but not counted in the audit aggregates, whose window and
    * volumes are the application's own traffic. */
   bool replay;
   /* Optional, for the audit aggregates and touchpoint discovery (NULL when unknown). */
   const char *output;       /* the answer's text (first choice's message content) */
   const char *skeleton;     /* the fingerprint's readable template */
   const char *sample;       /* a short sample of the prompt's variable part */
} Exchange;

void Exchange_init(Exchange *e);

typedef struct ExchangeWriter ExchangeWriter;

/* Prepared statements and a task-name cache; the caller owns transactions (batch many
 * adds in one). */
/* Creates the task an unknown tag names, inside the caller's transaction: its id, 0 with *err.
 * The control plane's Task_create_in_tx, handed in by whoever opens a writer (the importer, the
 * binary for the gateway's capture), so the writer includes nothing above the store. */
typedef long long (*ExchangeNewTask)(Store *st, const char *name, const char *description, const char *reason,
                                     char **err);

ExchangeWriter *ExchangeWriter_new(Store *st, ExchangeNewTask new_task);
/* 1 inserted, 0 duplicate (same rid), -1 error with *err. A task tag that names no task
 * creates the task (phase audit), so tagged traffic is never orphaned. An untagged call
 * goes to the task its fingerprint was named or merged into, else stays a discovered
 * touchpoint. Every inserted API call (arm other than candidate) also updates the audit
 * aggregates (audit.h) in the same transaction, so figures never need a rescan. */
int ExchangeWriter_add(ExchangeWriter *w, const Exchange *e, char **err);
/* Batch mode, for a caller that adds many records per transaction (the gateway's capture):
 * the audit aggregates of its adds are summed in memory, and ExchangeWriter_flush writes them
 * (one upsert per task, fingerprint, day and model instead of one per record). The caller
 * must flush before it commits, and discard what is pending after a rollback. */
void ExchangeWriter_batch(ExchangeWriter *w);
bool ExchangeWriter_flush(ExchangeWriter *w, char **err);
void ExchangeWriter_discard(ExchangeWriter *w);
/* Whether the touchpoint of fingerprint fp still wants a skeleton or a sample prompt:
 * lets callers skip building them for the common, already-known case. */
bool ExchangeWriter_wants_sample(ExchangeWriter *w, const char *fp);
/* The row id of the exchange the last ExchangeWriter_add inserted. */
long long ExchangeWriter_last_id(ExchangeWriter *w);
/* Completes a stored record whose text ends with old_tail (the gateway's capture writes the
 * calls still running at the end of the record): replaces that tail with new_tail and sets the
 * agree and confidence columns (< 0: NULL). 1 with the row's id in *id, 0 when no record of
 * that rid ends so, -1 with *err. The aggregates are not touched: they count the serving call,
 * which the record had from the start. */
int ExchangeWriter_set_tail(ExchangeWriter *w, const char *rid, const char *old_tail, size_t old_len,
                            const char *new_tail, size_t new_len, int agree, double confidence, long long *id,
                            char **err);
/* The same for every record from row from_id on that ends with old_tail (no column changes):
 * the number of records changed, -1 with *err. */
long long Exchange_replace_tails(Store *st, long long from_id, const char *old_tail, size_t old_len,
                                 const char *new_tail, size_t new_len, char **err);
void ExchangeWriter_free(ExchangeWriter *w);

#endif
