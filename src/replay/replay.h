/* replay.h - send logged requests through a gateway (or any OpenAI-compatible server) at a
 * steady rate, GoReplay-style: shadow agreement on realistic traffic before going live.
 * Folder rule, src/replay/: recorded traffic and its replay; includes common/, store/ and http/ only.
 */
#ifndef OFFRAMP_REPLAY_H
#define OFFRAMP_REPLAY_H

#include <signal.h>
#include <stdbool.h>

#include "replay/recorded.h"

typedef struct {
   long sent, done, ok, errors;   /* errors: HTTP >= 400 or no answer */
   long transport;                /* of errors: no HTTP answer (refused, timeout) */
   long by_class[6];              /* HTTP status / 100 (0: no answer) */
   long arms[3];                  /* X-Offramp-Arm: primary, candidate, fallback */
   double elapsed;                /* seconds */
   double *lat;                   /* ms of each answered request */
   long nlat, caplat;
} ReplayStats;

typedef struct {
   const char *url;         /* base URL: http://HOST:PORT or …/v1 */
   double rate;             /* requests per second; 0: as fast as concurrency allows */
   double duration;         /* seconds; 0: no limit */
   long count;              /* requests (the calls repeat in order); 0: each call once, or until duration */
   int concurrency;         /* requests in flight at most */
   long timeout_ms;         /* per request */
   volatile sig_atomic_t *stop;   /* set (by a signal handler or another thread) to stop early */
   /* Called about every interval seconds and once at the end; may be NULL. */
   void (*progress)(void *ctx, const ReplayStats *s, bool last);
   void *ctx;
   double interval;
} ReplayOpts;

void ReplayOpts_defaults(ReplayOpts *o);
/* Sends calls per o; false with *err only when nothing could be started (no calls, bad URL). */
bool Replay_run(const Recorded *calls, const ReplayOpts *o, ReplayStats *s, char **err);
void ReplayStats_free(ReplayStats *s);

#endif
