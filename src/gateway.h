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
   long client_timeout_s;          /* idle kept-alive connection; slow reader per write */
   long request_timeout_s;         /* one whole request, from its first byte */
   long max_header;                /* bytes of request line + headers */
   long max_conns;                 /* open client connections */
   long max_inflight;              /* client requests being answered */
   long upstream_timeout_ms;
   long drain_timeout_s;
   long queue_max;                 /* capture queue bound (records) */
   long long queue_bytes;          /* capture queue bound (bytes) */
   bool capture;
   const char *const *key_envs;    /* --key-env: what a route's key_env may name (upstream_key_env is added) */
   int n_key_envs;
   const char *client_keys_file;   /* --client-keys: clients must present one of its keys */
   bool open_relay;                /* --open-relay: serve clients without a key on the operator's keys */
   long max_tasks;                 /* distinct unrouted task names kept in stats; more go to "(other)" */
   bool known_tasks_only;          /* a task tag without a route gets 404 */
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

/* The default connection cap: 4096, or half the descriptors this process may open (each client
 * request may hold upstream sockets too), after raising the soft limit to the hard one. */
long Gateway_default_max_conns(void);

/* Serve until SIGTERM/SIGINT (then drain). Returns an exit code. */
int Gateway_run(const GatewayConfig *cfg);

#endif
