/* upstream.h - HTTP POSTs to upstream model servers with libcurl's multi interface, driven by
 * the gateway's libevent loop (one thread, no blocking calls). */
#ifndef OFFRAMP_UPSTREAM_H
#define OFFRAMP_UPSTREAM_H

#include <curl/curl.h>
#include <event2/event.h>
#include <stdbool.h>

#include "util.h"

typedef struct {
   CURLcode code;              /* CURLE_OK, CURLE_OPERATION_TIMEDOUT, ... */
   long status;                /* HTTP status, 0 when none arrived */
   Sbuf body;                  /* the whole body, streamed or not; a callback may steal it */
   const char *content_type;   /* valid during the callback */
   const char *error;          /* curl's message when code != CURLE_OK */
   double ms;                  /* wall time of the transfer */
   bool streamed;              /* the body went to on_data as it arrived */
   bool cancelled;             /* Upstream_cancel ended it: body holds what came before */
} UpResult;

/* Body bytes as they arrive, once the response turned out to be 2xx (content_type set). */
typedef void (*UpDataFn)(void *ud, const char *content_type, const char *p, size_t n);
typedef void (*UpDoneFn)(void *ud, UpResult *res);

typedef struct Upstream Upstream;
typedef struct UpCall UpCall;

Upstream *Upstream_new(struct event_base *base);
/* POST body to url with an optional "Authorization" value. The body must stay valid until
 * on_done, which is called exactly once, from the loop, never from inside this call. May be
 * called from on_data (the transfer then starts once curl's callback has returned). The
 * handle is valid until on_done returns. */
UpCall *Upstream_post(Upstream *u, const char *url, const char *auth, const char *body, size_t len, long timeout_ms,
                      UpDataFn on_data, UpDoneFn on_done, void *ud);
/* Stops the transfer (the client it was for has gone): on_done follows from the loop with
 * res->cancelled and the body received so far. Safe from any callback, once per call. */
void Upstream_cancel(Upstream *u, UpCall *c);
int Upstream_active(const Upstream *u);
void Upstream_free(Upstream *u);

#endif
