/* httpfront.h - the one HTTP front end of offramp's daemons (gateway, trainer, replay server):
 * an evhttp server with the limits nginx's defaults give, owned in one place.
 *
 * - request line + headers past max_header bytes: 431, connection closed;
 * - a body declared (Content-Length) or sent (chunked) past max_body: 413, closed;
 * - a request not read whole within request_timeout of its first byte (or of the accept): the
 *   connection is closed; trickling a byte a second does not reset this deadline (slowloris);
 * - a kept-alive connection idle past keepalive_timeout: closed;
 * - past max_conns open connections: the new one gets 503 and is closed;
 * - past max_inflight requests being handled: 503 with Retry-After before any work is done;
 * - accept() failing for want of descriptors (EMFILE/ENFILE): accepting pauses and resumes,
 *   one log line per pause instead of one per failed accept;
 * - drain: stop accepting, close idle connections, answer what is in flight with
 *   Connection: close, tell the owner when nothing is left.
 * Every refusal is OpenAI's error JSON (httpreply.h) and is counted.
 * Folder rule, src/http/: the HTTP front end and client helpers; includes common/ only.
 */
#ifndef OFFRAMP_HTTPFRONT_H
#define OFFRAMP_HTTPFRONT_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

typedef struct {
   size_t max_header;          /* bytes of request line and headers (431 past it) */
   size_t max_body;            /* bytes of body (413 past it) */
   double request_timeout;     /* seconds to receive one whole request */
   double keepalive_timeout;   /* seconds a connection may wait between requests */
   long max_conns;             /* open client connections (503 past it) */
   long max_inflight;          /* requests handed to the daemon and not yet answered (503 past it) */
   int methods;                /* EVHTTP_REQ_* allowed (others get 501 from evhttp) */
} HttpLimits;

/* nginx's defaults where nginx has one (client_header_timeout 60 s, keepalive_timeout 75 s),
 * 16 KB of headers, 1 MB of body; caps sized for one process on one core. */
#define HTTP_LIMITS_DEFAULT                                                                      \
   {                                                                                             \
      .max_header = 16384, .max_body = 1 << 20, .request_timeout = 60, .keepalive_timeout = 75, \
      .max_conns = 4096, .max_inflight = 1024, .methods = EVHTTP_REQ_GET | EVHTTP_REQ_POST        \
   }

typedef struct HttpFront HttpFront;

typedef struct {
   long conns;                 /* open now */
   long inflight;              /* handed to the daemon now */
   long requests;              /* handed to the daemon since start */
   long header_too_large;      /* 431 */
   long body_too_large;        /* 413 */
   long conn_limit;            /* 503: too many connections */
   long inflight_limit;        /* 503: too many requests in flight */
   long request_timeouts;      /* closed: request not read in time */
   long idle_timeouts;         /* closed: kept-alive connection idle */
   long accept_pauses;         /* accept paused for want of file descriptors */
} HttpFrontStats;

/* A front end on base calling cb(req, arg) for each request read whole within the limits.
 * name prefixes log lines ("offramp gateway"). */
HttpFront *HttpFront_new(struct event_base *base, const char *name, const HttpLimits *lim,
                         void (*cb)(struct evhttp_request *, void *), void *arg);

/* Listens on host:port (port 0: a free one); *bound_port gets the port. False with *err naming
 * the address when it cannot. May be called more than once. */
bool HttpFront_listen(HttpFront *fr, const char *host, int port, int *bound_port, char **err);

/* Serves on fd, a socket already listening (a Unix socket, one inherited); false with *err. */
bool HttpFront_listen_fd(HttpFront *fr, evutil_socket_t fd, char **err);

/* Calls cb(arg) once if the client's connection closes before the answer to req is complete
 * (the client left: stop working for it). False when the connection is already gone. */
bool HttpFront_on_close(HttpFront *fr, struct evhttp_request *req, void (*cb)(void *), void *arg);

/* Stops accepting, closes idle connections, marks answers still to come Connection: close,
 * and calls done(arg) once no request is in flight or being read. */
void HttpFront_drain(HttpFront *fr, void (*done)(void *), void *arg);
bool HttpFront_draining(const HttpFront *fr);

void HttpFront_stats(const HttpFront *fr, HttpFrontStats *out);
/* The stats as Prometheus text, metric names starting with prefix ("offramp_http"). */
void HttpFront_metrics(const HttpFront *fr, Sbuf *sb, const char *prefix);

void HttpFront_free(HttpFront *fr);

/* SIGINT and SIGTERM end the loop of base; SIGPIPE is ignored. For the small daemons (trainer,
 * replay server); free the two events with event_free after the loop. */
void HttpFront_stop_on_signals(struct event_base *base, struct event *ev[2]);

#endif
