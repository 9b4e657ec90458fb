/* gateway.h - the data plane: an OpenAI-compatible HTTP proxy (libevent evhttp) that captures
 * every exchange and routes each task in passthrough, shadow, canary or cutover mode. */
#ifndef OFFRAMP_GATEWAY_H
#define OFFRAMP_GATEWAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
   const char *workspace;          /* resolved path */
   const char *listen;             /* host:port; port 0 picks a free one */
   const char *upstream;           /* default upstream base URL (…/v1), or NULL */
   const char *upstream_key_env;   /* env var with the default upstream's key */
   const char *admin_token_file;   /* NULL: $OFFRAMP_ADMIN_TOKEN, else admin disabled */
   bool admin_remote;              /* accept admin calls from non-loopback peers */
   long max_body;                  /* bytes */
   long client_timeout_s;
   long upstream_timeout_ms;
   long drain_timeout_s;
   long queue_max;                 /* capture queue bound (records) */
   long long queue_bytes;          /* capture queue bound (bytes) */
   bool capture;
} GatewayConfig;

/* What the gateway reads of a chat request; the body itself is forwarded as the client sent it. */
typedef struct {
   char *model;                 /* "model" if a string, else NULL */
   char *user;                  /* "user" if a string, else NULL */
   bool stream;
   bool logprobs;               /* the client set "logprobs" (to anything) */
   size_t model_at, model_len;  /* where the "model" value is in the body; model_len 0 when absent */
   bool parsed;                 /* read by the full parser (the scanner declines escaped keys):
                                 * a changed body is then rebuilt by the parser too */
} GwRequest;

/* The chat request body, checked: a JSON object with a non-empty "messages" array and a
 * boolean "stream" if any. False with *why (the message for the 400) otherwise. */
bool Gateway_parse_request(const char *body, size_t len, GwRequest *out, char **why);
void GwRequest_clear(GwRequest *r);

/* Serve until SIGTERM/SIGINT (then drain). Returns an exit code. */
int Gateway_run(const GatewayConfig *cfg);

#endif
