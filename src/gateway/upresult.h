/* upresult.h - what an upstream call gives its caller, the contract both upstream clients keep
 * (upstream.c over libcurl, upconn.c the lean HTTP/1.1 one): the result and the callbacks. */
#ifndef OFFRAMP_UPRESULT_H
#define OFFRAMP_UPRESULT_H

#include <curl/curl.h>
#include <stdbool.h>

#include "common/util.h"

typedef struct {
   CURLcode code;              /* CURLE_OK, CURLE_OPERATION_TIMEDOUT, ... */
   long status;                /* HTTP status, 0 when none arrived */
   Sbuf body;                  /* the whole body, streamed or not; a callback may steal it */
   const char *content_type;   /* valid during the callback */
   const char *error;          /* curl's message when code != CURLE_OK */
   double ms;                  /* wall time of the transfer */
   bool streamed;              /* the body went to on_data as it arrived */
   const char *reason;         /* the status line's reason phrase ("" when none), valid during callbacks */
   Sbuf headers;               /* the final response's header lines, "Name: value\r\n" each; may be stolen */
   long long bytes;            /* body bytes received, kept or not */
   void *call;                 /* this call, for Upstream_resume; valid until on_done returns */
   bool cancelled;             /* Upstream_cancel ended it: body holds what came before */
} UpResult;

/* Body bytes as they arrive, once the response turned out to be 2xx (any status for a
 * request made with UPREQ_STREAM_ANY); status, reason, headers and content_type are set.
 * Returning false leaves the bytes unread and pauses the transfer (the upstream's TCP window
 * then holds the rest) until Upstream_resume, after which they come again. */
typedef bool (*UpDataFn)(void *ud, const UpResult *res, const char *p, size_t n);
typedef void (*UpDoneFn)(void *ud, UpResult *res);

#endif
