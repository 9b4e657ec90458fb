/* gwstats.h - the gateway's live statistics per task and arm over sliding windows (1 min,
 * 10 min, all time), as admin JSON and Prometheus text. Owned by the event loop thread. */
#ifndef OFFRAMP_GWSTATS_H
#define OFFRAMP_GWSTATS_H

#include <jansson.h>
#include <stdbool.h>

#include "common/util.h"

enum { STATS_PRIMARY, STATS_CANDIDATE, STATS_FALLBACK, STATS_ARMS };
enum { UPERR_NONE = -1, UPERR_STATUS, UPERR_TIMEOUT, UPERR_MALFORMED, UPERR_CONNECT, UPERR_KINDS };
enum { FALLBACK_NONE = -1, FALLBACK_ERROR, FALLBACK_TIMEOUT, FALLBACK_LOW_CONFIDENCE, FALLBACK_KINDS };

extern const char *const Stats_arm_names[STATS_ARMS];
extern const char *const Stats_error_names[UPERR_KINDS];
extern const char *const Stats_fallback_names[FALLBACK_KINDS];

/* One observation; fields left at -1 do not count. */
typedef struct {
   int arm;            /* STATS_*, -1 none */
   int error;          /* UPERR_*, -1 success */
   double latency_ms;
   int agree;          /* primary vs candidate, -1 not compared */
   int noise_agree;    /* primary vs primary, -1 not compared */
   int fallback;       /* FALLBACK_* */
   double confidence;  /* candidate confidence, < 0 none */
} StatsEvent;

void StatsEvent_init(StatsEvent *ev);

typedef struct GwStats GwStats;

GwStats *GwStats_new(void);
void GwStats_free(GwStats *gs);

/* Where traffic of task names past the cap is counted. */
#define GWSTATS_OTHER "(other)"
/* At most max task names come in through GwStats_admit (negative: no bound, the default). */
void GwStats_limit_tasks(GwStats *gs, long max);
/* Whether task has, or may now get, stats of its own: a task tag without a route is admitted
 * while fewer than the limit were; the caller counts the rest under GWSTATS_OTHER. */
bool GwStats_admit(GwStats *gs, const char *task);

/* Pass-through endpoints (the first path segment after /v1/); anything else is "other", so a
 * client cannot grow the series. */
enum { STATS_ENDPOINTS = 20 };
extern const char *const Stats_endpoint_names[STATS_ENDPOINTS];
int GwStats_endpoint(const char *path_after_v1);
/* One proxied request: status 0 when no answer came; bytes of the request and answer bodies. */
void GwStats_passthrough(GwStats *gs, int endpoint, long status, double ms, long long bytes_in,
                         long long bytes_out);
/* task "" for traffic attributed to no task. now: mono seconds. */
void GwStats_add(GwStats *gs, const char *task, const StatsEvent *ev, double now);
/* The gateway's own time per request, excluding the upstream's. */
void GwStats_overhead(GwStats *gs, double ms);
/* {"tasks":[{task, windows:{"1m":..., "10m":..., "all":...}, agreement_per_minute:[10 x {agree, n}
 * or null, oldest first]}], "overhead":{...}, "passthrough":{endpoint: {...}}}; task NULL =
 * every task. Percentiles are bucket upper bounds (x1.25 buckets: within 25 % above). */
json_t *GwStats_json(GwStats *gs, const char *task, double now);
void GwStats_prometheus(GwStats *gs, Sbuf *out);

#endif
