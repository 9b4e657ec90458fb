/* httpbatch.h - many JSON POSTs with bounded concurrency (libcurl multi), retries with back-off
 * on transient failures, per-request timeouts, and a callback as each one finishes. */
#ifndef OFFRAMP_HTTPBATCH_H
#define OFFRAMP_HTTPBATCH_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
   const char *url;
   const char *bearer;   /* API key sent as "Authorization: Bearer", or NULL */
   char *body;           /* the caller's; not freed here */
   void *user;
} HttpJob;

typedef enum {
   HTTP_OK,        /* a 2xx answer */
   HTTP_FAILED,    /* a non-2xx status or a transport error after the last attempt */
   HTTP_TIMEOUT,   /* the attempt ran past the timeout (not retried: it would only stall the run) */
} HttpOutcome;

typedef struct {
   HttpOutcome outcome;
   long status;          /* HTTP status of the last attempt, 0 without one */
   const char *body;     /* response body (NUL-terminated), valid during the callback */
   size_t len;
   double latency_ms;    /* of the last attempt */
   int attempts;
   const char *error;    /* transport error text, or "" */
} HttpResult;

typedef struct {
   int concurrency;        /* requests in flight at once */
   int max_attempts;       /* per job, counting the first */
   long timeout_ms;        /* per attempt */
   long backoff_ms;        /* first retry delay; doubles each attempt, with jitter; Retry-After wins */
   volatile sig_atomic_t *stop;   /* when set, no new request starts and the run returns */
   void (*done)(void *ctx, HttpJob *job, const HttpResult *r);
   void *ctx;
} HttpBatchOpts;

/* Runs jobs until all finished or *stop is set; returns the number finished (done called). */
size_t HttpBatch_run(HttpJob *jobs, size_t n, const HttpBatchOpts *o);

#endif
