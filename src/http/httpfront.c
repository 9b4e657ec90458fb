/* httpfront.c - limits in front of evhttp, for every daemon of offramp.
 *
 * libevent 2.1's evhttp has a per-read timeout (a byte a second resets it), answers size
 * violations with an HTML page, and has no connection count. So the front end creates each
 * connection's bufferevent itself (evhttp_set_bevcb) and taps its input buffer: an evbuffer
 * callback sees every byte read from the socket before evhttp parses it. The tap follows
 * request boundaries (header end, Content-Length, chunk sizes), refuses what is too large with a
 * reply written straight to the socket, and arms one deadline per request that bytes do not
 * push back. A connection is known by its file descriptor; before its first request the front
 * end holds a reference on the bufferevent (evhttp may free it and the front end would not be
 * told), afterwards evhttp's close callback says when it goes.
 *
 * Two changes to evhttp's socket use, each worth one epoll_ctl per request (three in all, of
 * the eleven system calls a proxied request cost): the connection stays watched for reading
 * while its request is served (evhttp stops reading, so a client that left was noticed only at
 * the answer; now its close reaches the daemon's close hook at once, and what it sends meanwhile
 * is held, up to BUSY_INPUT_MAX), and a request's first answer bytes are written in the loop
 * pass that produced them instead of after a round through epoll for writability. */
#include "config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http/httpfront.h"
#include "http/httpreply.h"

typedef enum {
   C_IDLE,     /* between requests (or accepted, nothing read yet) */
   C_HEAD,     /* reading request line and headers */
   C_BODY,     /* reading a body */
   C_READ,     /* read whole; evhttp is about to hand it over */
   C_BUSY,     /* handed to the daemon, not yet answered */
   C_REJECT,   /* over the connection cap: answer 503 at the first byte */
   C_LINGER,   /* refused and answered: discard what comes until the client closes */
} ConnState;

/* Bytes a client may send ahead (pipelining) while its request is served; past them the
 * connection is not read until the answer is out, as evhttp alone would do. */
#define BUSY_INPUT_MAX (64 * 1024)

/* The chunked-body decoder's states (RFC 9112 section 7.1). */
enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_DONE };

typedef struct Conn {
   HttpFront *fr;
   struct bufferevent *bev;
   struct evbuffer_cb_entry *tap, *out_tap;
   struct event *timer;
   struct event *flush;        /* writes the answer in the pass that produced it */
   bool flushed;               /* the request's one direct write is done (or scheduled) */
   evutil_socket_t fd;         /* -1 until the first bytes arrive */
   ConnState state;
   bool held;                  /* the front end holds a reference on bev (before the first request) */
   bool closed;                /* evhttp has freed the connection */
   bool in_timer;              /* the timer callback is running: it releases the connection */
   bool inflight;              /* counted in the front end's in-flight requests */
   bool served;                /* a request was answered on this connection before */
   struct evhttp_request *req; /* being answered */
   void (*on_close)(void *);
   void *on_close_arg;
   Sbuf head;                  /* the request line and headers read so far */
   int eoh;                    /* how much of "\r\n\r\n" the last header bytes matched */
   long long body_left;        /* Content-Length bytes still to come */
   bool chunked;
   int ch_state;
   long long ch_left;          /* bytes of the current chunk still to come */
   size_t body_seen;
   struct Conn *prev, *next;
} Conn;

enum { MAX_LISTENERS = 8 };

struct HttpFront {
   struct event_base *base;
   struct evhttp *http;
   char *name;
   HttpLimits lim;
   void (*cb)(struct evhttp_request *, void *);
   void *arg;
   Conn *conns;
   Conn **byfd;
   size_t nbyfd;
   HttpFrontStats st;
   struct evconnlistener *lev[MAX_LISTENERS];
   int nlev;
   struct event *resume, *sweep;
   bool draining, paused, done_called;
   void (*done)(void *);
   void *done_arg;
   long pauses_unlogged;
   double last_pause_log;
};

/* The listeners' error callback gets evhttp's argument, not ours: find the front end by listener. */
static struct {
   struct evconnlistener *lev;
   HttpFront *fr;
} registry[MAX_LISTENERS * 4];

static const char *reason_phrase(int code) {
   switch (code) {
   case 408:
      return "Request Timeout";
   case 413:
      return "Content Too Large";
   case 431:
      return "Request Header Fields Too Large";
   default:
      return "Service Unavailable";
   }
}

/* An error reply written to the socket directly, before evhttp has a request to answer. Small
 * enough for an empty socket buffer; what does not fit is dropped with the connection. */
static void send_raw(Conn *c, int code, const char *errcode, const char *msg) {
   if (c->fd < 0)
      c->fd = bufferevent_getfd(c->bev);
   if (c->fd < 0)
      return;
   Sbuf body = { 0 }, out = { 0 };
   Reply_error_text(&body, code, NULL, NULL, errcode, msg);
   Sbuf_printf(&out,
               "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
               code, reason_phrase(code), body.len, code == 503 ? "Retry-After: 1\r\n" : "");
   Sbuf_add(&out, body.buf, body.len);
   ssize_t n = send(c->fd, out.buf, out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
   (void)n;
   Sbuf_free(&body);
   Sbuf_free(&out);
}

static void arm(Conn *c, double seconds) {
   struct timeval tv = { (time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6) };
   evtimer_add(c->timer, &tv);
}

/* evhttp freed the connection: told by the close callback, or, while the front end holds the
 * bufferevent, seen in its callbacks being cleared by bufferevent_free. */
static bool conn_gone(Conn *c) {
   if (c->closed)
      return true;
   if (!c->held)
      return false;
   bufferevent_event_cb ecb = NULL;
   bufferevent_getcb(c->bev, NULL, NULL, &ecb, NULL);
   return ecb == NULL;
}

static void check_drained(HttpFront *fr) {
   if (fr->draining && !fr->done_called && fr->st.inflight == 0) {
      fr->done_called = true;
      if (fr->done)
         fr->done(fr->done_arg);
   }
}

static void conn_release(Conn *c) {
   HttpFront *fr = c->fr;
   if (c->inflight) {
      fr->st.inflight--;
      c->inflight = false;
   }
   if (c->tap)
      evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->tap);
   if (c->out_tap)
      evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_tap);
   event_free(c->flush);
   if (c->fd >= 0 && (size_t)c->fd < fr->nbyfd && fr->byfd[c->fd] == c)
      fr->byfd[c->fd] = NULL;
   if (c->prev)
      c->prev->next = c->next;
   else
      fr->conns = c->next;
   if (c->next)
      c->next->prev = c->prev;
   event_free(c->timer);
   Sbuf_free(&c->head);
   if (c->held)
      bufferevent_decref(c->bev);
   fr->st.conns--;
   free(c);
   check_drained(fr);
}

/* Makes evhttp drop the connection as if the client had closed it. Only from the timer. */
static void conn_kill(Conn *c) {
   if (!conn_gone(c))
      bufferevent_trigger_event(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING, 0);
}

static void refuse(Conn *c, int code, const char *errcode, const char *msg) {
   struct evbuffer *in = bufferevent_get_input(c->bev);
   evbuffer_drain(in, evbuffer_get_length(in));
   send_raw(c, code, errcode, msg);
   if (c->fd >= 0)
      shutdown(c->fd, SHUT_WR);
   c->state = C_LINGER;
   /* nginx's lingering close: read and discard for a while so the client sees the answer
    * rather than a reset for the bytes it was still sending. */
   arm(c, 2);
}

static void register_fd(Conn *c) {
   HttpFront *fr = c->fr;
   c->fd = bufferevent_getfd(c->bev);
   if (c->fd < 0)
      return;
   if ((size_t)c->fd >= fr->nbyfd) {
      size_t n = fr->nbyfd ? fr->nbyfd : 256;
      while (n <= (size_t)c->fd)
         n *= 2;
      fr->byfd = xrealloc(fr->byfd, n * sizeof *fr->byfd);
      memset(fr->byfd + fr->nbyfd, 0, (n - fr->nbyfd) * sizeof *fr->byfd);
      fr->nbyfd = n;
   }
   fr->byfd[c->fd] = c;
}

/* Content-Length and chunked transfer coding from the header block. */
static bool header_value(const char *head, size_t len, const char *name, const char **val, size_t *vlen) {
   size_t nl = strlen(name);
   const char *p = head, *end = head + len;
   while (p < end) {
      const char *eol = memchr(p, '\n', (size_t)(end - p));
      if (!eol)
         eol = end;
      if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
         const char *v = p + nl + 1;
         while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
         const char *ve = eol;
         while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
         *val = v;
         *vlen = (size_t)(ve - v);
         return true;
      }
      p = eol + 1;
   }
   return false;
}

/* The header block is whole: refuse a declared body past the limit, else expect the body. */
static bool head_done(Conn *c) {
   const HttpLimits *lim = &c->fr->lim;
   const char *v;
   size_t vl;
   c->chunked = false;
   c->body_left = 0;
   c->body_seen = 0;
   if (header_value(c->head.buf, c->head.len, "transfer-encoding", &v, &vl)) {
      for (size_t i = 0; i + 7 <= vl; i++)
         c->chunked |= strncasecmp(v + i, "chunked", 7) == 0;
   }
   if (c->chunked) {
      c->ch_state = CH_SIZE;
      c->ch_left = 0;
      c->state = C_BODY;
      return true;
   }
   if (header_value(c->head.buf, c->head.len, "content-length", &v, &vl)) {
      long long n = 0;
      for (size_t i = 0; i < vl && v[i] >= '0' && v[i] <= '9' && n < (1LL << 50); i++)
         n = n * 10 + (v[i] - '0');
      if ((unsigned long long)n > lim->max_body) {
         c->fr->st.body_too_large++;
         char *msg = xasprintf("the request body is %lld bytes; this server takes at most %zu (send less, or raise "
                               "the server's body limit)", n, lim->max_body);
         refuse(c, 413, "request_too_large", msg);
         free(msg);
         return false;
      }
      c->body_left = n;
   }
   c->state = c->body_left > 0 ? C_BODY : C_READ;
   return true;
}

/* Chunked body bytes p[0..n): counts the data, false once it is past the limit. */
static bool chunked_feed(Conn *c, const unsigned char *p, size_t n) {
   for (size_t i = 0; i < n && c->ch_state != CH_DONE; i++) {
      unsigned char b = p[i];
      switch (c->ch_state) {
      case CH_SIZE: {
         int d = b >= '0' && b <= '9' ? b - '0' : b >= 'a' && b <= 'f' ? b - 'a' + 10 : b >= 'A' && b <= 'F' ? b - 'A' + 10 : -1;
         if (d >= 0 && c->ch_left < (1LL << 40)) {
            c->ch_left = c->ch_left * 16 + d;
            break;
         }
         /* The size is known: refuse a chunk that would go past the limit before its data. */
         if (c->body_seen + (unsigned long long)c->ch_left > c->fr->lim.max_body)
            return false;
         if (b == '\r')
            c->ch_state = CH_SIZE_LF;
         else if (b == '\n')
            c->ch_state = c->ch_left ? CH_DATA : CH_TRAILER;
         else
            c->ch_state = CH_EXT;
         break;
      }
      case CH_EXT:
      case CH_SIZE_LF:
         if (b == '\n')
            c->ch_state = c->ch_left ? CH_DATA : CH_TRAILER;
         break;
      case CH_DATA: {
         size_t k = n - i < (size_t)c->ch_left ? n - i : (size_t)c->ch_left;
         c->ch_left -= (long long)k;
         c->body_seen += k;
         i += k - 1;
         if (c->body_seen > c->fr->lim.max_body)
            return false;
         if (c->ch_left == 0)
            c->ch_state = CH_DATA_CR;
         break;
      }
      case CH_DATA_CR:
         c->ch_state = b == '\r' ? CH_DATA_LF : CH_SIZE;
         if (b == '\n')
            c->ch_state = CH_SIZE;
         break;
      case CH_DATA_LF:
         c->ch_state = CH_SIZE;
         break;
      case CH_TRAILER:
         /* Trailers are rare and small; the header limit's evhttp backstop covers them. */
         if (b == '\n')
            c->ch_state = CH_DONE;
         break;
      }
   }
   return true;
}

/* Bytes p[0..n) just read on c, in order. */
static void feed(Conn *c, const unsigned char *p, size_t n) {
   HttpFront *fr = c->fr;
   while (n > 0) {
      switch (c->state) {
      case C_IDLE:
         c->state = C_HEAD;
         c->eoh = 0;
         Sbuf_reset(&c->head);
         /* The first request's deadline runs from the accept; later ones from their first byte
          * (until then the keep-alive timer ran). */
         if (c->served)
            arm(c, fr->lim.request_timeout);
         break;
      case C_HEAD: {
         /* Blank lines before a request line are allowed (RFC 9112 section 2.2): skip them. */
         while (c->head.len == 0 && n > 0 && (*p == '\r' || *p == '\n')) {
            p++;
            n--;
         }
         /* eoh: 1 after a '\n', 2 after "\n\r"; a '\n' then ends the block. Inside a line
          * (eoh 0) nothing but its '\n' changes that: jump to it. */
         size_t i = 0;
         bool end = false;
         while (i < n && !end) {
            if (c->eoh == 0) {
               const unsigned char *nl = memchr(p + i, '\n', n - i);
               if (!nl) {
                  i = n;
                  break;
               }
               i = (size_t)(nl - p) + 1;
               c->eoh = 1;
               continue;
            }
            unsigned char b = p[i++];
            if (b == '\n') {
               end = c->eoh != 0;
               c->eoh = 1;
            } else {
               c->eoh = b == '\r' && c->eoh == 1 ? 2 : 0;
            }
         }
         if (c->head.len + i > fr->lim.max_header) {
            fr->st.header_too_large++;
            char *msg = xasprintf("the request line and headers are over %zu bytes (send fewer or shorter headers)",
                                  fr->lim.max_header);
            refuse(c, 431, "request_header_fields_too_large", msg);
            free(msg);
            return;
         }
         Sbuf_add(&c->head, (const char *)p, i);
         p += i;
         n -= i;
         if (end && !head_done(c))
            return;
         break;
      }
      case C_BODY:
         if (c->chunked) {
            if (!chunked_feed(c, p, n)) {
               fr->st.body_too_large++;
               char *msg = xasprintf("the request body is over %zu bytes (send less, or raise the server's body limit)",
                                     fr->lim.max_body);
               refuse(c, 413, "request_too_large", msg);
               free(msg);
               return;
            }
            if (c->ch_state == CH_DONE)
               c->state = C_READ;
            return;   /* what follows a chunked body in the same read is not followed */
         } else {
            size_t k = n < (size_t)c->body_left ? n : (size_t)c->body_left;
            c->body_left -= (long long)k;
            p += k;
            n -= k;
            if (c->body_left == 0)
               c->state = C_READ;
         }
         break;
      case C_READ:
      case C_BUSY:
         /* What the client sends ahead (pipelining) waits in the input buffer, followed once
          * this request is answered (on_complete). Held, not read further past BUSY_INPUT_MAX. */
         if (c->state == C_BUSY && evbuffer_get_length(bufferevent_get_input(c->bev)) > BUSY_INPUT_MAX)
            bufferevent_disable(c->bev, EV_READ);
         return;
      case C_REJECT:
         fr->st.conn_limit++;
         refuse(c, 503, "too_many_connections",
                "the server has too many open connections; retry after a second");
         return;
      case C_LINGER: {
         struct evbuffer *in = bufferevent_get_input(c->bev);
         evbuffer_drain(in, evbuffer_get_length(in));
         return;
      }
      }
   }
}

/* Feeds the n bytes of buf from offset from, in order. */
static void scan(Conn *c, struct evbuffer *buf, size_t from, size_t n) {
   struct evbuffer_ptr at;
   if (evbuffer_ptr_set(buf, &at, from, EVBUFFER_PTR_SET) < 0)
      return;
   struct evbuffer_iovec v[8];
   size_t left = n;
   while (left > 0) {
      int nv = evbuffer_peek(buf, (ev_ssize_t)left, &at, v, 8);
      if (nv <= 0)
         return;
      size_t got = 0;
      for (int i = 0; i < nv && i < 8 && got < left; i++) {
         size_t k = v[i].iov_len < left - got ? v[i].iov_len : left - got;
         feed(c, v[i].iov_base, k);
         got += k;
         if (c->state == C_LINGER)
            return;   /* the buffer was drained under us */
      }
      left -= got;
      if (left > 0 && evbuffer_ptr_set(buf, &at, got, EVBUFFER_PTR_ADD) < 0)
         return;
   }
}

static void on_tap(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
   Conn *c = arg;
   if (!info->n_added || c->closed)
      return;
   if (c->fd < 0)
      register_fd(c);
   size_t len = evbuffer_get_length(buf);
   if (info->n_added <= len)
      scan(c, buf, len - info->n_added, info->n_added);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
   (void)fd;
   (void)what;
   Conn *c = arg;
   HttpFront *fr = c->fr;
   if (conn_gone(c)) {
      conn_release(c);
      return;
   }
   c->in_timer = true;
   switch (c->state) {
   case C_IDLE:
      if (!fr->draining)
         fr->st.idle_timeouts++;
      conn_kill(c);
      break;
   case C_HEAD:
   case C_BODY:
   case C_READ:
      fr->st.request_timeouts++;
      {
         char *msg = xasprintf("the request was not received whole within %.0f s (send it faster)",
                               fr->lim.request_timeout);
         send_raw(c, 408, "request_timeout", msg);
         free(msg);
      }
      conn_kill(c);
      break;
   case C_REJECT:
      fr->st.conn_limit++;
      send_raw(c, 503, "too_many_connections", "the server has too many open connections; retry after a second");
      conn_kill(c);
      break;
   case C_LINGER:
      conn_kill(c);
      break;
   case C_BUSY:
      break;
   }
   c->in_timer = false;
   if (conn_gone(c))
      conn_release(c);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg) {
   (void)evcon;
   Conn *c = arg;
   c->closed = true;
   if (c->state == C_BUSY && c->on_close) {
      void (*cb)(void *) = c->on_close;
      c->on_close = NULL;
      cb(c->on_close_arg);
   }
   if (!c->in_timer)
      conn_release(c);
}

/* The answer's bytes, written now rather than when epoll next says the socket is writable:
 * what bufferevent's write callback would do then (write, and once all is out tell evhttp,
 * which finishes the request). The enable/disable of write watching evhttp made in between
 * cancel out in libevent's changelist, so epoll is never asked. What the socket does not take
 * now is left to the bufferevent, as is an error, which it then reports the usual way. */
static void on_flush(evutil_socket_t fd, short what, void *arg) {
   (void)fd;
   (void)what;
   Conn *c = arg;
   struct bufferevent *bev = c->bev;
   if (conn_gone(c) || c->fd < 0 || !(bufferevent_get_enabled(bev) & EV_WRITE))
      return;
   struct evbuffer *out = bufferevent_get_output(bev);
   if (!evbuffer_get_length(out) || evbuffer_write(out, c->fd) <= 0 || evbuffer_get_length(out))
      return;
   bufferevent_data_cb wcb = NULL;
   void *cbarg = NULL;
   bufferevent_getcb(bev, NULL, &wcb, NULL, &cbarg);
   if (!wcb)
      return;
   /* evhttp may finish the request and free the connection (and with it c) in there. */
   bufferevent_incref(bev);
   wcb(bev, cbarg);
   bufferevent_decref(bev);
}

/* Output added: a request's first answer bytes are written in this loop pass (once per
 * request: a streamed answer's later chunks go the bufferevent's way, so a producer that
 * refills from the write callback cannot keep the loop to itself). */
static void on_out_tap(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg) {
   (void)buf;
   Conn *c = arg;
   if (info->n_added && c->state == C_BUSY && !c->flushed && !c->closed) {
      c->flushed = true;
      event_active(c->flush, EV_WRITE, 0);
   }
}

static struct bufferevent *on_new_conn(struct event_base *base, void *arg) {
   HttpFront *fr = arg;
   Conn *c = xcalloc(1, sizeof *c);
   c->fr = fr;
   c->fd = -1;
   c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
   bufferevent_incref(c->bev);
   c->held = true;
   c->tap = evbuffer_add_cb(bufferevent_get_input(c->bev), on_tap, c);
   c->out_tap = evbuffer_add_cb(bufferevent_get_output(c->bev), on_out_tap, c);
   c->timer = evtimer_new(base, on_timer, c);
   c->flush = event_new(base, -1, 0, on_flush, c);
   c->next = fr->conns;
   if (fr->conns)
      fr->conns->prev = c;
   fr->conns = c;
   fr->st.conns++;
   if (fr->st.conns > fr->lim.max_conns || fr->draining) {
      c->state = C_REJECT;
      arm(c, 1);
   } else {
      c->state = C_IDLE;
      arm(c, fr->lim.request_timeout);
   }
   return c->bev;
}

static Conn *conn_of(HttpFront *fr, struct evhttp_request *req) {
   struct evhttp_connection *evcon = evhttp_request_get_connection(req);
   if (!evcon)
      return NULL;
   struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
   evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
   if (fd < 0 || (size_t)fd >= fr->nbyfd || !fr->byfd[fd] || fr->byfd[fd]->bev != bev)
      return NULL;
   return fr->byfd[fd];
}

static void on_complete(struct evhttp_request *req, void *arg) {
   (void)req;
   Conn *c = arg;
   HttpFront *fr = c->fr;
   c->req = NULL;
   c->on_close = NULL;
   if (c->inflight) {
      c->inflight = false;
      fr->st.inflight--;
   }
   c->state = C_IDLE;
   c->served = true;
   /* Draining: close the connection once this answer is out (0 s: after evhttp is done with it). */
   arm(c, fr->draining ? 0 : fr->lim.keepalive_timeout);
   /* What the client sent ahead (pipelined requests) arrived while this one was served, when
    * the tap did not follow it: follow it now, before evhttp parses it, so the next request
    * meets the same limits and deadline as one sent on its own. A refusal here only drains the
    * input and writes to the socket: nothing evhttp holds is freed under it. */
   struct evbuffer *in = bufferevent_get_input(c->bev);
   if (!fr->draining && !c->closed && evbuffer_get_length(in))
      scan(c, in, 0, evbuffer_get_length(in));
   check_drained(fr);
}

static void on_request(struct evhttp_request *req, void *arg) {
   HttpFront *fr = arg;
   Conn *c = conn_of(fr, req);
   if (c) {
      if (c->held) {
         /* From now on evhttp says when the connection goes; the reference can go. */
         evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, c);
         c->held = false;
         bufferevent_decref(c->bev);
      }
      evtimer_del(c->timer);
      c->state = C_BUSY;
      c->req = req;
      c->flushed = false;
      evhttp_request_set_on_complete_cb(req, on_complete, c);
      /* evhttp stopped reading the connection for the time the request is served; keep
       * watching it (with no read callback, as evhttp itself does while it writes), so a close
       * is heard now and the watch is not dropped and added again around every request. */
      bufferevent_data_cb wcb = NULL;
      bufferevent_event_cb ecb = NULL;
      void *cbarg = NULL;
      bufferevent_getcb(c->bev, NULL, &wcb, &ecb, &cbarg);
      bufferevent_setcb(c->bev, NULL, wcb, ecb, cbarg);
      if (evbuffer_get_length(bufferevent_get_input(c->bev)) <= BUSY_INPUT_MAX)
         bufferevent_enable(c->bev, EV_READ);
   }
   struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
   if (fr->draining)
      evhttp_add_header(oh, "Connection", "close");
   if (fr->st.inflight >= fr->lim.max_inflight) {
      fr->st.inflight_limit++;
      evhttp_add_header(oh, "Retry-After", "1");
      Reply_error(req, 503, "server_error", NULL, "overloaded",
                  "the server is handling %ld requests, its limit; retry after a second", fr->st.inflight);
      return;
   }
   if (c) {
      c->inflight = true;
      fr->st.inflight++;
   }
   fr->st.requests++;
   fr->cb(req, fr->arg);
}

bool HttpFront_on_close(HttpFront *fr, struct evhttp_request *req, void (*cb)(void *), void *arg) {
   Conn *c = conn_of(fr, req);
   if (!c || c->closed)
      return false;
   c->on_close = cb;
   c->on_close_arg = arg;
   return true;
}

static void set_listeners(HttpFront *fr, bool on) {
   for (int i = 0; i < fr->nlev; i++) {
      if (on)
         evconnlistener_enable(fr->lev[i]);
      else
         evconnlistener_disable(fr->lev[i]);
   }
}

static void on_resume(evutil_socket_t fd, short what, void *arg) {
   (void)fd;
   (void)what;
   HttpFront *fr = arg;
   fr->paused = false;
   if (!fr->draining)
      set_listeners(fr, true);
}

static void on_accept_error(struct evconnlistener *lev, void *ctx) {
   (void)ctx;
   int err = errno;
   HttpFront *fr = NULL;
   for (size_t i = 0; i < ARRAY_SIZE(registry); i++) {
      if (registry[i].lev == lev)
         fr = registry[i].fr;
   }
   if (!fr)
      return;
   /* Out of descriptors (or memory): accept() fails at once as long as the listener is ready,
    * so stop watching it for a while instead of spinning. Other errors: the same, briefly. */
   bool starved = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
   set_listeners(fr, false);
   fr->paused = true;
   fr->st.accept_pauses++;
   fr->pauses_unlogged++;
   struct timeval tv = { 0, starved ? 250000 : 50000 };
   evtimer_add(fr->resume, &tv);
   double now = mono_seconds();
   if (now - fr->last_pause_log >= 10) {
      fprintf(stderr, "%s: accept: %s; not accepting for %d ms (%ld pauses since the last line; %ld connections "
                      "open)\n",
              fr->name, strerror(err), starved ? 250 : 50, fr->pauses_unlogged, fr->st.conns);
      fr->last_pause_log = now;
      fr->pauses_unlogged = 0;
   }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg) {
   (void)fd;
   (void)what;
   HttpFront *fr = arg;
   for (Conn *c = fr->conns, *next; c; c = next) {
      next = c->next;
      if (c->held && !c->in_timer && conn_gone(c))
         conn_release(c);
   }
}

HttpFront *HttpFront_new(struct event_base *base, const char *name, const HttpLimits *lim,
                         void (*cb)(struct evhttp_request *, void *), void *arg) {
   HttpFront *fr = xcalloc(1, sizeof *fr);
   fr->base = base;
   fr->name = xstrdup(name);
   fr->lim = *lim;
   fr->cb = cb;
   fr->arg = arg;
   fr->last_pause_log = -1e9;
   fr->http = evhttp_new(base);
   /* evhttp's own limits stay as a backstop for what the tap does not follow (pipelined
    * requests, trailers); the tap refuses first with the OpenAI-shaped answer. */
   evhttp_set_max_headers_size(fr->http, (ev_ssize_t)lim->max_header);
   evhttp_set_max_body_size(fr->http, (ev_ssize_t)lim->max_body);
   /* evhttp's own timeout is per read and write: a connection silent for keepalive_timeout in
    * any state (a stalled body, a client that stopped reading) is dropped. */
   struct timeval ka = { (time_t)lim->keepalive_timeout,
                         (suseconds_t)((lim->keepalive_timeout - (double)(time_t)lim->keepalive_timeout) * 1e6) };
   evhttp_set_timeout_tv(fr->http, &ka);
   evhttp_set_allowed_methods(fr->http, (ev_uint16_t)lim->methods);
   evhttp_set_bevcb(fr->http, on_new_conn, fr);
   evhttp_set_gencb(fr->http, on_request, fr);
   fr->resume = evtimer_new(base, on_resume, fr);
   fr->sweep = event_new(base, -1, EV_PERSIST, on_sweep, fr);
   struct timeval tv = { 0, 250000 };
   event_add(fr->sweep, &tv);
   return fr;
}

/* Serves HTTP on lev (taken: freed on failure) behind the front end's limits. */
static bool adopt(HttpFront *fr, struct evconnlistener *lev) {
   if (!evhttp_bind_listener(fr->http, lev)) {
      evconnlistener_free(lev);
      return false;
   }
   evconnlistener_set_error_cb(lev, on_accept_error);
   for (size_t i = 0; i < ARRAY_SIZE(registry); i++) {
      if (!registry[i].lev) {
         registry[i].lev = lev;
         registry[i].fr = fr;
         break;
      }
   }
   fr->lev[fr->nlev++] = lev;
   return true;
}

bool HttpFront_listen_fd(HttpFront *fr, evutil_socket_t fd, char **err) {
   struct evconnlistener *lev =
      fr->nlev < MAX_LISTENERS ? evconnlistener_new(fr->base, NULL, NULL, LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_CLOSE_ON_FREE,
                                                    0, fd)
                               : NULL;
   if (!lev || !adopt(fr, lev)) {
      *err = xasprintf("cannot serve HTTP on descriptor %d", (int)fd);
      return false;
   }
   return true;
}

bool HttpFront_listen(HttpFront *fr, const char *host, int port, int *bound_port, char **err) {
   if (fr->nlev == MAX_LISTENERS) {
      *err = xasprintf("cannot listen on %s:%d: at most %d addresses", host, port, MAX_LISTENERS);
      return false;
   }
   struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP,
                                    .ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV }, *ai = NULL;
   char portstr[16];
   snprintf(portstr, sizeof portstr, "%d", port);
   int gai = evutil_getaddrinfo(host, portstr, &hints, &ai);
   if (gai != 0 || !ai) {
      *err = xasprintf("cannot listen on %s:%d: %s (give an IP address or a resolvable name)", host, port,
                       evutil_gai_strerror(gai));
      return false;
   }
   /* nginx's backlog (511), not libevent's 128: a burst of connections queues in the kernel
    * instead of retrying its SYN a second later. */
   struct evconnlistener *lev =
      evconnlistener_new_bind(fr->base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_CLOSE_ON_FREE,
                              511, ai->ai_addr, (int)ai->ai_addrlen);
   int bind_errno = errno;
   evutil_freeaddrinfo(ai);
   if (!lev) {
      *err = xasprintf("cannot listen on %s:%d: %s (is another server running there? choose another --listen address)",
                       host, port, strerror(bind_errno));
      return false;
   }
   if (!adopt(fr, lev)) {
      *err = xasprintf("cannot serve HTTP on %s:%d", host, port);
      return false;
   }
   evutil_socket_t fd = evconnlistener_get_fd(lev);
   /* Accepted sockets inherit TCP_NODELAY on Linux: no Nagle delay on small replies. */
   int one = 1;
   setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
   struct sockaddr_storage ss;
   socklen_t sl = sizeof ss;
   *bound_port = port;
   if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
      *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
   return true;
}

void HttpFront_drain(HttpFront *fr, void (*done)(void *), void *arg) {
   if (fr->draining)
      return;
   fr->draining = true;
   fr->done = done;
   fr->done_arg = arg;
   set_listeners(fr, false);
   evtimer_del(fr->resume);
   for (Conn *c = fr->conns; c; c = c->next) {
      if (c->state == C_IDLE)
         arm(c, 0);
      else if (c->state == C_BUSY && c->req)
         evhttp_add_header(evhttp_request_get_output_headers(c->req), "Connection", "close");
   }
   check_drained(fr);
}

bool HttpFront_draining(const HttpFront *fr) {
   return fr->draining;
}

void HttpFront_stats(const HttpFront *fr, HttpFrontStats *out) {
   *out = fr->st;
}

void HttpFront_metrics(const HttpFront *fr, Sbuf *sb, const char *p) {
   const HttpFrontStats *s = &fr->st;
   Sbuf_printf(sb, "# TYPE %s_connections gauge\n%s_connections %ld\n", p, p, s->conns);
   Sbuf_printf(sb, "# TYPE %s_inflight gauge\n%s_inflight %ld\n", p, p, s->inflight);
   Sbuf_printf(sb, "# TYPE %s_requests_total counter\n%s_requests_total %ld\n", p, p, s->requests);
   Sbuf_printf(sb, "# TYPE %s_refused_total counter\n", p);
   Sbuf_printf(sb, "%s_refused_total{reason=\"header_too_large\"} %ld\n", p, s->header_too_large);
   Sbuf_printf(sb, "%s_refused_total{reason=\"body_too_large\"} %ld\n", p, s->body_too_large);
   Sbuf_printf(sb, "%s_refused_total{reason=\"connection_limit\"} %ld\n", p, s->conn_limit);
   Sbuf_printf(sb, "%s_refused_total{reason=\"inflight_limit\"} %ld\n", p, s->inflight_limit);
   Sbuf_printf(sb, "# TYPE %s_timeouts_total counter\n", p);
   Sbuf_printf(sb, "%s_timeouts_total{kind=\"request\"} %ld\n", p, s->request_timeouts);
   Sbuf_printf(sb, "%s_timeouts_total{kind=\"idle\"} %ld\n", p, s->idle_timeouts);
   Sbuf_printf(sb, "# TYPE %s_accept_pauses_total counter\n%s_accept_pauses_total %ld\n", p, p, s->accept_pauses);
}

void HttpFront_free(HttpFront *fr) {
   if (!fr)
      return;
   for (size_t i = 0; i < ARRAY_SIZE(registry); i++) {
      if (registry[i].fr == fr) {
         registry[i].fr = NULL;
         registry[i].lev = NULL;
      }
   }
   /* evhttp_free frees the connections; the close callbacks release their Conns, telling no one:
    * the daemon is past caring. */
   fr->done = NULL;
   for (Conn *c = fr->conns; c; c = c->next)
      c->on_close = NULL;
   evhttp_free(fr->http);
   while (fr->conns) {
      Conn *c = fr->conns;
      c->closed = c->closed || !c->held;
      conn_release(c);
   }
   event_free(fr->resume);
   event_free(fr->sweep);
   free(fr->byfd);
   free(fr->name);
   free(fr);
}

static void on_signal(evutil_socket_t sig, short what, void *base) {
   (void)sig;
   (void)what;
   event_base_loopexit(base, NULL);
}

void HttpFront_stop_on_signals(struct event_base *base, struct event *ev[2]) {
   signal(SIGPIPE, SIG_IGN);
   ev[0] = evsignal_new(base, SIGINT, on_signal, base);
   ev[1] = evsignal_new(base, SIGTERM, on_signal, base);
   event_add(ev[0], NULL);
   event_add(ev[1], NULL);
}
