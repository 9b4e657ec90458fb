/* gateway_private.h - the gateway module's private header: its state, shared by the data path
 * (gateway.c) and the admin API server (gwadminsrv.c), and the entry points each calls in the
 * other; nothing else includes it. */
#ifndef OFFRAMP_GATEWAY_PRIVATE_H
#define OFFRAMP_GATEWAY_PRIVATE_H

#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "common/util.h"
#include "gateway/canary.h"
#include "gateway/capture.h"
#include "gateway/clientkeys.h"
#include "gateway/gateway.h"
#include "gateway/gwintake.h"
#include "gateway/gwstats.h"
#include "gateway/route.h"
#include "gateway/routewriter.h"
#include "gateway/upstream.h"
#include "http/httpfront.h"
#include "store/store.h"

enum { CALL_PRIMARY, CALL_CANDIDATE, CALL_NOISE, CALLS };

typedef struct Gateway {
   const GatewayConfig *cfg;
   struct event_base *base;
   HttpFront *front;
   Upstream *up;
   Capture *cap;
   GwStats *stats;
   Canary *canary;            /* the canary analysis of routes in canary */
   Store *st;                 /* routes and admin reads; captures use the writer's connection */
   struct AdminWork *work;    /* admin route saves and exports in progress (NULL until the first) */
   Route **routes;
   int n_routes;
   Route *fallback_route;     /* unknown tasks: passthrough to the default upstream */
   char *admin_token;
   char *chat_url;            /* the default upstream's chat completions URL, or NULL */
   const char *upstream_key;  /* the default upstream's key from the environment, or NULL */
   ClientKeys clients;        /* --client-keys; none: clients are not asked for a key */
   bool operator_keys;        /* the operator's keys serve clients (client keys or --open-relay) */
   const char **key_envs;     /* what a route's key_env may name */
   int n_key_envs;
   long flights;              /* exchanges in progress, background calls included */
   bool draining;
   bool front_drained;        /* draining, and every client request has been answered */
   long admin_pending;        /* admin answers still to come from a worker thread */
   struct event *sig[4], *drain_timer;
   unsigned long long rid_seed, rid_next, rng;
   time_t ts_sec;             /* the second ts_prefix and date spell, so a timestamp costs no strftime */
   char ts_prefix[24];
   char date[40];             /* the HTTP Date header of that second (formatted once a second) */
} Gateway;

typedef struct Flight Flight;

typedef struct {
   Flight *f;
   int which;
   bool started, done, stream;
   long status;
   int error;                 /* UPERR_*, UPERR_NONE on success */
   char *errmsg;
   char *req_body;            /* this arm's own request body, when it differs from the client's */
   char *body;
   size_t len;
   CaptureSpans spans;        /* where is_completion's scan found body's members */
   char *content_type;
   char *headers;             /* the upstream's response header lines */
   size_t headers_len;
   char *reason;              /* the upstream's reason phrase, or NULL */
   double ms;
   json_t *resp;              /* the completion assembled from a streamed answer, else NULL */
   double confidence;
   UpCall *up;                /* the transfer while it runs */
   Sbuf held;                 /* a serving candidate's stream, held until it is safe to send */
   bool committed;            /* the held stream went to the client, the rest follows as it comes */
   bool bad_stream;           /* 2xx, but not an SSE stream of chat.completion.chunk */
} Call;

struct Flight {
   Gateway *gw;
   HttpReq *req;   /* NULL once answered */
   Route *route;
   char *task;
   GwRequest rq;
   char *raw;                    /* the client's body, forwarded as is when no model is swapped */
   size_t raw_len;
   char *client_auth;
   bool stream, streaming, fell_back;
   bool replay;   /* sent by offramp replay (X-Offramp-Replay): kept out of the audit figures */
   bool other;                   /* a task tag past --max-tasks: counted under GWSTATS_OTHER, captured untagged */
   bool watching;                /* the client's connection has our close callback */
   bool client_gone;             /* it closed before the answer was complete */
   int serving;
   int fallback;                 /* FALLBACK_* */
   int reply_status;
   Call calls[CALLS];
   int pending;
   double t0;
   char rid[40], ts[32];
   /* Capture: the record is queued when the client is answered (cap holds it while other
    * calls still run, for their results to join it). */
   CaptureTicket cap;
   bool captured;                /* the record went to the capture (queued or dropped) */
   char *answer;                 /* the serving call's answer text, once its body went to the capture */
   double waited_ms;             /* from the request to the answer */
   /* Why the answer was cut short (a static string, e.g. "client_disconnected" when the client
    * left mid-stream and the upstream stream was cancelled), for the record; NULL when whole. */
   const char *truncated;
};

/* The request's header name, or NULL. */
static inline const char *header(HttpReq *req, const char *name) {
   return HttpReq_header(req, name);
}

/* ---- gateway.c, for the admin server ---- */
/* The task's route, or NULL. */
Route *Gateway_route_for_task(Gateway *gw, const char *task);
/* Serve r (one reference, handed over) in place of its task's route. */
void Gateway_route_put(Gateway *gw, Route *r);
/* Exits the loop once draining and nothing is left in flight. */
void Gateway_maybe_exit(Gateway *gw);

/* ---- gwadminsrv.c, for gateway.c ---- */
/* Answers the /admin/ endpoints (path decoded, q its query). */
void GwAdminSrv_handle(Gateway *gw, HttpReq *req, const char *path, struct evkeyvalq *q);
/* The route writer, started at the first save (an admin change or the canary analysis'). */
RouteWriter *GwAdminSrv_route_writer(void *arg, char **err);
/* At exit: what is left of the admin work. */
void GwAdminSrv_free(Gateway *gw);

#endif
