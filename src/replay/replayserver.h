/* replayserver.h - an OpenAI-compatible server that answers each recorded request with its
 * recorded response: offline evaluation, and the demo's stand-in for the frontier API. */
#ifndef OFFRAMP_REPLAYSERVER_H
#define OFFRAMP_REPLAYSERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "replay/recorded.h"

typedef struct {
   const char *host;
   int port;              /* 0 picks a free one */
   long latency_ms;       /* added before every answer */
   double error_rate;     /* share of requests answered with an injected HTTP 500 */
   uint64_t seed;         /* of the error injection */
   const char *source;    /* where the calls came from, for the banner and /v1/models */
} ReplayServerOpts;

/* Serves calls (which must hold answers) until SIGINT or SIGTERM. Prints "listening on
 * http://HOST:PORT/v1" on stdout once it accepts connections and a summary on stderr at the
 * end. false with *err when it cannot listen. */
bool ReplayServer_run(const Recorded *calls, const ReplayServerOpts *o, char **err);

#endif
