/* gwintake.h - what the gateway reads and checks of a chat completions request before it calls
 * anyone: method, body, task attribution, the client's credentials. Apart from the event loop
 * and the Gateway (gateway.c includes it, not the other way) so that a fuzzer can drive it through the front end's own request parsing
 * (tests/fuzz/fuzz_http.c) exactly as the gateway does. */
#ifndef OFFRAMP_GWINTAKE_H
#define OFFRAMP_GWINTAKE_H

#include "http/httpfront.h"
#include <stdbool.h>
#include <stddef.h>

#include "gateway/route.h"

/* What the gateway reads of a chat request; the body itself is forwarded as the client sent it. */
typedef struct {
   char *model;                 /* "model" if a string, else NULL */
   char *user;                  /* "user" if a string, else NULL */
   bool stream;
   bool logprobs;               /* the client set "logprobs" (to anything) */
   size_t model_at, model_len;  /* where the "model" value is in the body; model_len 0 when absent */
   size_t messages_at, messages_len; /* the same for "messages" (scanner only; 0 when parsed) */
   bool parsed;                 /* read by the full parser (the scanner declines escaped keys):
                                 * a changed body is then rebuilt by the parser too */
} GwRequest;

/* The chat request body, checked: a JSON object with a non-empty "messages" array and a
 * boolean "stream" if any. False with *why (the message for the 400) otherwise. */
bool Gateway_parse_request(const char *body, size_t len, GwRequest *out, char **why);
void GwRequest_clear(GwRequest *r);

typedef struct {
   GwRequest rq;            /* the caller's to clear once accepted */
   Route *route;            /* the attributed route, borrowed from the caller's; NULL for none */
   const char *task;        /* the task to record: the header's or the route's; NULL when none */
   const char *body;        /* the client's body, in the request's input buffer */
   size_t len;
   const char *auth;        /* the client's Authorization header, forwarded to the primary; or NULL */
   int status;              /* refused: the HTTP status to answer */
   char *why;               /* refused: the message (the caller frees it); bytes may not be UTF-8 */
} GwIntake;

/* Reads and checks req for POST /v1/chat/completions against the routes. False when the
 * request is refused, with in->status and in->why. */
bool Gateway_intake(HttpReq *req, Route *const *routes, int n, GwIntake *in);

#endif
