/* httpfront.h - the one HTTP front end of offramp's daemons (gateway, trainer, replay server):
 * an HTTP/1.1 server on a libevent loop with the limits nginx's defaults give, owned in one place.
 *
 * - request line + headers past max_header bytes: 431, connection closed;
 * - a body declared (Content-Length) or sent (chunked) past max_body: 413, closed;
 * - a request not read whole within request_timeout of its first byte (or of the accept): the
 *   connection is closed; trickling a byte a second does not reset this deadline (slowloris);
 * - a kept-alive connection idle past keepalive_timeout: closed; an answer the client does not
 *   read for keepalive_timeout: closed;
 * - past max_conns open connections: the new one gets 503 and is closed;
 * - past max_inflight requests being handled: 503 with Retry-After before any work is done;
 * - accept() failing for want of descriptors (EMFILE/ENFILE): accepting pauses and resumes,
 *   one log line per pause instead of one per failed accept;
 * - drain: stop accepting, close idle connections, answer what is in flight with
 *   Connection: close, tell the owner when nothing is left.
 * Every refusal is OpenAI's error JSON (httpreply.h) and is counted.
 *
 * A request (HttpReq) handed to the daemon stays valid until the daemon ends it with
 * HttpReq_reply or HttpReq_reply_end, whether or not its client is still there: a request
 * whose client left is answered into nothing (HttpReq_connected says which). At HttpFront_free
 * the requests not yet ended are freed with their connections.
 * Folder rule, src/http/: the HTTP front end and client helpers; includes common/ only.
 */
#ifndef OFFRAMP_HTTPFRONT_H
#define OFFRAMP_HTTPFRONT_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/util.h"

/* Request methods, as bits for HttpLimits.methods. */
typedef enum {
   HTTP_GET = 1 << 0,
   HTTP_POST = 1 << 1,
   HTTP_HEAD = 1 << 2,
   HTTP_PUT = 1 << 3,
   HTTP_DELETE = 1 << 4,
   HTTP_OPTIONS = 1 << 5,
   HTTP_PATCH = 1 << 6,
} HttpMethod;

typedef struct {
   size_t max_header;          /* bytes of request line and headers (431 past it) */
   size_t max_body;            /* bytes of body (413 past it) */
   double request_timeout;     /* seconds to receive one whole request */
   double keepalive_timeout;   /* seconds a connection may wait between requests, or an answer unread */
   long max_conns;             /* open client connections (503 past it) */
   long max_inflight;          /* requests handed to the daemon and not yet answered (503 past it) */
   int methods;                /* HTTP_* allowed (others get 405) */
} HttpLimits;

/* nginx's defaults where nginx has one (client_header_timeout 60 s, keepalive_timeout 75 s),
 * 16 KB of headers, 1 MB of body; caps sized for one process on one core. */
#define HTTP_LIMITS_DEFAULT                                                                      \
   {                                                                                             \
      .max_header = 16384, .max_body = 1 << 20, .request_timeout = 60, .keepalive_timeout = 75, \
      .max_conns = 4096, .max_inflight = 1024, .methods = HTTP_GET | HTTP_POST                    \
   }

typedef struct HttpFront HttpFront;
typedef struct HttpReq HttpReq;

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
                         void (*cb)(HttpReq *, void *), void *arg);

/* Listens on host:port (port 0: a free one); *bound_port gets the port. False with *err naming
 * the address when it cannot. May be called more than once. */
bool HttpFront_listen(HttpFront *fr, const char *host, int port, int *bound_port, char **err);

/* Serves on fd, a socket already listening (a Unix socket, one inherited); false with *err. */
bool HttpFront_listen_fd(HttpFront *fr, evutil_socket_t fd, char **err);

/* Calls cb(arg) once if the client's connection closes before the answer to req is complete
 * (the client left: stop working for it; req stays valid and must still be ended). cb NULL
 * forgets it. False when the connection is already gone. */
bool HttpFront_on_close(HttpFront *fr, HttpReq *req, void (*cb)(void *), void *arg);

/* Stops accepting, closes idle connections, marks answers still to come Connection: close,
 * and calls done(arg) once no request is in flight. */
void HttpFront_drain(HttpFront *fr, void (*done)(void *), void *arg);
bool HttpFront_draining(const HttpFront *fr);

void HttpFront_stats(const HttpFront *fr, HttpFrontStats *out);
/* The stats as Prometheus text, metric names starting with prefix ("offramp_http"). */
void HttpFront_metrics(const HttpFront *fr, Sbuf *sb, const char *prefix);

void HttpFront_free(HttpFront *fr);

/* SIGINT and SIGTERM end the loop of base; SIGPIPE is ignored. For the small daemons (trainer,
 * replay server); free the two events with event_free after the loop. */
void HttpFront_stop_on_signals(struct event_base *base, struct event *ev[2]);

/* -- the request, as the daemon sees it -- */

HttpMethod HttpReq_method(const HttpReq *req);
const char *HttpReq_method_name(const HttpReq *req);
/* The target's path as sent (not percent-decoded), and its query (after '?'; NULL if none). */
const char *HttpReq_path(const HttpReq *req);
const char *HttpReq_query(const HttpReq *req);
/* The first header named name (any case), its value trimmed; NULL if none. */
const char *HttpReq_header(const HttpReq *req, const char *name);
/* The request's headers in order: false past the last. */
bool HttpReq_header_at(const HttpReq *req, size_t i, const char **name, const char **value);
/* The body, followed by a NUL not counted in *len (an empty body is ""). */
const char *HttpReq_body(const HttpReq *req, size_t *len);
/* The client's address (NULL for a Unix socket's peer or once the client left). */
const struct sockaddr *HttpReq_peer(const HttpReq *req);
/* Whether the client is still connected. */
bool HttpReq_connected(const HttpReq *req);

/* An answer header; false (and not added) when name or value holds CR, LF or NUL, or name is
 * empty. Content-Length, Transfer-Encoding and Connection are the front end's own: a
 * Connection value with "close" closes the connection after the answer. */
bool HttpReq_add_header(HttpReq *req, const char *name, const char *value);
/* Whether an answer header named name (any case) was added. */
bool HttpReq_has_header(const HttpReq *req, const char *name);

/* The whole answer: status code (reason NULL: the standard phrase), the headers added, and the
 * body. Ends req. */
void HttpReq_reply(HttpReq *req, int code, const char *reason, const void *body, size_t len);
/* A streamed answer: the status and headers now, chunks as they come, then the end (which
 * ends req). */
void HttpReq_reply_start(HttpReq *req, int code, const char *reason);
void HttpReq_reply_chunk(HttpReq *req, const void *p, size_t n);
/* The same, calling drained(arg) once everything sent so far is written to the socket (or the
 * client left); never from within this call. */
void HttpReq_reply_chunk_cb(HttpReq *req, const void *p, size_t n, void (*drained)(void *), void *arg);
void HttpReq_reply_end(HttpReq *req);
/* Ends req without ending its answer: what was queued is written, then the connection closes,
 * so the client sees a cut-off body rather than a short but complete one. */
void HttpReq_abort(HttpReq *req);
/* Answer bytes queued for the client and not yet written (0 once the client left). */
size_t HttpReq_pending(const HttpReq *req);

#endif
