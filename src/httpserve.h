/* httpserve.h - what offramp's small HTTP servers (trainer, replay-server) share: binding an
 * evhttp listener and stopping on SIGINT/SIGTERM. */
#ifndef OFFRAMP_HTTPSERVE_H
#define OFFRAMP_HTTPSERVE_H

#include <event2/event.h>
#include <event2/http.h>
#include <stddef.h>

/* An evhttp server for GET and POST on host:port (port 0: a free one) with a body limit and one
 * callback for every request. *bound_port gets the port actually bound. NULL with *err naming the
 * address when it cannot listen. */
struct evhttp *HttpServe_bind(struct event_base *base, const char *host, int port, size_t max_body,
                              void (*cb)(struct evhttp_request *, void *), void *arg, int *bound_port,
                              char **err);

/* SIGINT and SIGTERM end the event loop; SIGPIPE is ignored (a client may hang up mid-answer).
 * Free the two events with event_free once the loop has returned. */
void HttpServe_stop_on_signals(struct event_base *base, struct event *ev[2]);

#endif
