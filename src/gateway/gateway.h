/* gateway.h - the data plane: an OpenAI-compatible HTTP proxy (its own HTTP/1.1 front end on libevent) that captures
 * every exchange and routes each task in passthrough, shadow, canary or cutover mode.
 * Folder rule, src/gateway/: the data plane; includes common/, store/ and http/ only.
 */
#ifndef OFFRAMP_GATEWAY_H
#define OFFRAMP_GATEWAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "gateway/routewriter.h"
#include "store/exchange.h"

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
   /* What the data plane asks of the control plane, handed in by the binary (cmd_gateway.c) so
    * that the gateway includes nothing above the store and the route: the gate check of every
    * route change, and the task a new X-Offramp-Task tag creates. */
   const RouteGates *gates;
   ExchangeNewTask new_task;
} GatewayConfig;

/* The default connection cap: 4096, or half the descriptors this process may open (each client
 * request may hold upstream sockets too), after raising the soft limit to the hard one. */
long Gateway_default_max_conns(void);

/* Serve until SIGTERM/SIGINT (then drain). Returns an exit code. */
int Gateway_run(const GatewayConfig *cfg);

#endif
