/* upconn.h - a lean HTTP/1.1 client on libevent for the gateway's chat POSTs to plain-http
 * upstreams at a numeric address (the owned model server on the LAN, a stand-in on loopback):
 * kept-alive connections pooled per upstream, the request in one send, the response read
 * into the connection's own buffer and parsed in place (Content-Length, chunked, or to the
 * close). Same result and callback contract as Upstream_post (upstream.h), CURLcode values
 * included, so the gateway cannot tell the two apart; upstream.c hands it every call it can
 * serve and keeps libcurl for the rest (https, host names, proxies). */
#ifndef OFFRAMP_UPCONN_H
#define OFFRAMP_UPCONN_H

#include <event2/event.h>
#include <stdbool.h>

#include "gateway/upresult.h"

typedef struct Upconn Upconn;
/* Starts with a bool that is always true (upstream.c tells the two kinds of call apart by it). */
typedef struct UpconnCall UpconnCall;

Upconn *Upconn_new(struct event_base *base);
/* NULL when the call is not one for this client (not http://, a host name, a userinfo or
 * fragment, a header value with CR or LF): the caller uses libcurl. Otherwise the contract
 * of Upstream_post: on_done exactly once, from the loop, never from inside this call. */
UpconnCall *Upconn_post(Upconn *uc, const char *url, const char *auth, const char *body, size_t len,
                        long timeout_ms, UpDataFn on_data, UpDoneFn on_done, void *ud);
void Upconn_cancel(UpconnCall *c);
void Upconn_resume(UpconnCall *c);
int Upconn_active(const Upconn *uc);
/* Closes every connection; calls still running are dropped without their callbacks. */
void Upconn_free(Upconn *uc);

#endif
