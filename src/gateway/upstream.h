/* upstream.h - HTTP calls to upstream model servers with libcurl's multi interface, driven by
 * the gateway's libevent loop (one thread, no blocking calls): chat POSTs, and any method for
 * the gateway's pass-through of the rest of the API. */
#ifndef OFFRAMP_UPSTREAM_H
#define OFFRAMP_UPSTREAM_H

#include <curl/curl.h>
#include <event2/event.h>
#include <stdbool.h>

#include "common/util.h"
#include "gateway/upresult.h"

/* A request other than the chat POST (Upstream_request). */
typedef struct {
   const char *method;              /* GET, POST, PUT, PATCH, DELETE, HEAD, ... */
   const char *url;
   const struct curl_slist *headers;   /* every request header to send, Authorization included */
   const char *body;                /* NULL or len 0: none; must stay valid until on_done */
   size_t len;
   long timeout_ms;
   int flags;                       /* UPREQ_* */
} UpRequest;

enum {
   UPREQ_STREAM_ANY = 1,   /* on_data gets the body whatever the status, and it is not kept in res.body */
};

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
/* Any method with the caller's headers, on a handle of its own (pass-through traffic does not
 * disturb the pooled chat handles' options). Same callback contract as Upstream_post. */
void Upstream_request(Upstream *u, const UpRequest *rq, UpDataFn on_data, UpDoneFn on_done, void *ud);
/* Un-pauses a call whose on_data returned false (res->call). */
void Upstream_resume(void *call);
int Upstream_active(const Upstream *u);
void Upstream_free(Upstream *u);

#endif
