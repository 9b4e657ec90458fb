/* httpserve.c - binding an evhttp listener and stopping on signals, for the trainer and the
 * replay server. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include "httpserve.h"
#include "util.h"

struct evhttp *HttpServe_bind(struct event_base *base, const char *host, int port, size_t max_body,
                              void (*cb)(struct evhttp_request *, void *), void *arg, int *bound_port,
                              char **err) {
   struct evhttp *http = evhttp_new(base);
   evhttp_set_max_body_size(http, (ev_ssize_t)max_body);
   evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
   evhttp_set_gencb(http, cb, arg);
   struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
   if (!bound) {
      *err = xasprintf("cannot listen on %s:%d: %s (choose another --listen address)", host, port, strerror(errno));
      evhttp_free(http);
      return NULL;
   }
   struct sockaddr_storage ss;
   socklen_t sl = sizeof ss;
   *bound_port = port;
   if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) == 0)
      *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
   return http;
}

static void on_signal(evutil_socket_t sig, short what, void *base) {
   (void)sig;
   (void)what;
   event_base_loopexit(base, NULL);
}

void HttpServe_stop_on_signals(struct event_base *base, struct event *ev[2]) {
   signal(SIGPIPE, SIG_IGN);
   ev[0] = evsignal_new(base, SIGINT, on_signal, base);
   ev[1] = evsignal_new(base, SIGTERM, on_signal, base);
   event_add(ev[0], NULL);
   event_add(ev[1], NULL);
}
