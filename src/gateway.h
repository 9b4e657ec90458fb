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
   bool capture;
} GatewayConfig;

/* The chat request body, checked: a JSON object with a non-empty "messages" array and a
 * boolean "stream" if any. NULL with *why (the message for the 400) otherwise. */
json_t *Gateway_parse_request(const char *body, size_t len, char **why);

/* Serve until SIGTERM/SIGINT (then drain). Returns an exit code. */
int Gateway_run(const GatewayConfig *cfg);

#endif
