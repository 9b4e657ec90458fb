/* upconn.c - the gateway's lean HTTP/1.1 upstream client (see upconn.h for what it serves).
 * Per proxied request on a kept-alive connection it costs one sendmsg and, for an answer
 * that fits one segment, one recv: no poll, no FIONREAD, no epoll_ctl (a connection's read
 * event stays registered from its connect to its close, idle or busy). Where curl and this
 * client could differ, this one does what curl 7.88 does: the same CURLcode for the same
 * failure, one retry on a fresh connection when a reused one turns out closed before any of
 * the answer came, the same header lines and reason phrase handed to the callbacks. What
 * curl tolerates and nginx refuses (a header line without a colon, control bytes in a
 * header, a malformed Content-Length or chunk size) is refused here as an upstream error. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event_struct.h>

#include "gateway/upconn.h"

#define BODY_MAX (64L << 20)   /* as upstream.c: a runaway upstream must not exhaust memory */
#define HEAD_MAX (64 * 1024)   /* one response's header block; past it the reply is refused */
#define LINE_MAX_ (4 * 1024)   /* a chunk-size or trailer line */
#define RBUF_MIN (16 * 1024)
#define IDLE_MAX 512           /* kept-alive connections per upstream */
#define HOSTS_MAX 64           /* upstream URLs remembered; a handful per gateway */
#define CONNECT_MAX_MS 10000L  /* as upstream.c's CURLOPT_CONNECTTIMEOUT_MS cap */

typedef struct Conn Conn;
typedef struct Host Host;
typedef UpconnCall Call;

/* One upstream URL, parsed once. */
struct Host {
   char *url;
   struct sockaddr_storage addr;
   socklen_t addrlen;
   char *line;        /* the request line, Host, Accept and Content-Type, each with its CRLF */
   size_t line_len;
   char *where;       /* "127.0.0.1 port 8080", for error messages */
   Conn **idle;
   int nidle, capidle;
};

struct Conn {
   Upconn *uc;
   Host *h;
   int fd;
   struct event rev, wev;
   bool rev_added;
   bool connected;
   bool reused;       /* it served a call before this one */
   Call *call;        /* NULL while idle */
   char *rbuf;
   size_t rcap, rpos, rlen;
};

enum { ST_HEAD, ST_LEN, ST_CHUNK_SIZE, ST_CHUNK_DATA, ST_CHUNK_END, ST_TRAILER, ST_CLOSE, ST_DONE };

struct UpconnCall {
   bool lean;          /* always true: first, see upconn.h */
   Upconn *uc;
   Host *h;
   Conn *conn;
   Call *prev, *next;  /* the running calls, for Upconn_free */
   UpResult res;
   UpDataFn on_data;
   UpDoneFn on_done;
   void *ud;
   struct event timer; /* the deadline; fires at once for a deferred end */
   double t0;
   long timeout_ms;
   char *head;         /* the request head */
   size_t head_len;
   const char *body;
   size_t body_len;
   size_t sent;
   int retries;
   int state;
   long long remain;   /* of the Content-Length or of the chunk */
   bool keep;          /* the connection may serve another call after this one */
   bool got;           /* a byte of the answer arrived */
   bool checked, paused, cancel, dead;
   char *ctype;
   char reason[64];
   char errbuf[256];
};

struct Upconn {
   struct event_base *base;
   Host **hosts;
   int nhosts;
   Call *calls;
   int active;
};

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);
static void call_timer_cb(evutil_socket_t fd, short what, void *arg);

/* ---- upstream URLs ---- */

static void host_free(Host *h);

/* "http://1.2.3.4:port/path?query" or "http://[::1]:port/path"; NULL for anything else. */
static Host *host_parse(const char *url) {
   if (strncasecmp(url, "http://", 7) != 0)
      return NULL;
   const char *a = url + 7;
   size_t alen = strcspn(a, "/?#");
   if (strpbrk(url, "#@ \t\r\n") || alen == 0)
      return NULL;
   const char *path = a + alen;
   char host[64];
   const char *port = NULL;
   Host *h = xcalloc(1, sizeof *h);
   if (*a == '[') {
      const char *rb = memchr(a, ']', alen);
      if (!rb || (size_t)(rb - a - 1) >= sizeof host)
         goto bad;
      memcpy(host, a + 1, (size_t)(rb - a - 1));
      host[rb - a - 1] = '\0';
      if (rb + 1 < path && rb[1] != ':')
         goto bad;
      port = rb + 1 < path ? rb + 2 : NULL;
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->addr;
      s6->sin6_family = AF_INET6;
      if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
         goto bad;
      h->addrlen = sizeof *s6;
   } else {
      const char *colon = memchr(a, ':', alen);
      size_t hl = colon ? (size_t)(colon - a) : alen;
      if (hl >= sizeof host)
         goto bad;
      memcpy(host, a, hl);
      host[hl] = '\0';
      port = colon ? colon + 1 : NULL;
      struct sockaddr_in *s4 = (struct sockaddr_in *)&h->addr;
      s4->sin_family = AF_INET;
      /* inet_pton takes only the dotted quad, so a host name is never mistaken for one. */
      if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
         goto bad;
      h->addrlen = sizeof *s4;
   }
   long pn = 80;
   if (port && port < path) {
      pn = 0;
      for (const char *p = port; p < path; p++) {
         if (*p < '0' || *p > '9' || pn > 65535)
            goto bad;
         pn = pn * 10 + (*p - '0');
      }
      if (pn < 1 || pn > 65535)
         goto bad;
   } else if (port) {
      goto bad;   /* "http://1.2.3.4:/" */
   }
   if (h->addr.ss_family == AF_INET)
      ((struct sockaddr_in *)&h->addr)->sin_port = htons((unsigned short)pn);
   else
      ((struct sockaddr_in6 *)&h->addr)->sin6_port = htons((unsigned short)pn);
   /* curl's Host header: the authority as written, without a default port. */
   char *hosthdr = pn == 80 ? xstrndup(a, port ? (size_t)(port - 1 - a) : alen) : xstrndup(a, alen);
   h->line = xasprintf("POST %s%s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\nContent-Type: application/json\r\n",
                       *path == '/' ? "" : "/", path, hosthdr);
   free(hosthdr);
   h->line_len = strlen(h->line);
   h->where = xasprintf("%s port %ld", host, pn);
   h->url = xstrdup(url);
   return h;
bad:
   host_free(h);
   return NULL;
}

static void host_free(Host *h) {
   free(h->url);
   free(h->line);
   free(h->where);
   free(h->idle);
   free(h);
}

static Host *host_for(Upconn *uc, const char *url) {
   for (int i = 0; i < uc->nhosts; i++) {
      if (str_eq(uc->hosts[i]->url, url))
         return uc->hosts[i];
   }
   if (uc->nhosts == HOSTS_MAX)
      return NULL;
   Host *h = host_parse(url);
   if (!h)
      return NULL;
   uc->hosts = xrealloc(uc->hosts, (size_t)(uc->nhosts + 1) * sizeof *uc->hosts);
   uc->hosts[uc->nhosts++] = h;
   return h;
}

/* ---- connections ---- */

static void conn_close(Conn *k) {
   if (k->rev_added)
      event_del(&k->rev);
   event_del(&k->wev);
   close(k->fd);
   free(k->rbuf);
   free(k);
}

static void idle_remove(Host *h, Conn *k) {
   for (int i = 0; i < h->nidle; i++) {
      if (h->idle[i] == k) {
         h->idle[i] = h->idle[--h->nidle];
         return;
      }
   }
}

/* A new connection, connecting; NULL with errno set when the socket could not even start. */
static Conn *conn_open(Upconn *uc, Host *h, long connect_ms) {
   int fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
   if (fd < 0)
      return NULL;
   int one = 1;
   setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
   if (connect(fd, (const struct sockaddr *)&h->addr, h->addrlen) != 0 && errno != EINPROGRESS) {
      int e = errno;
      close(fd);
      errno = e;
      return NULL;
   }
   Conn *k = xcalloc(1, sizeof *k);
   k->uc = uc;
   k->h = h;
   k->fd = fd;
   event_assign(&k->rev, uc->base, fd, EV_READ | EV_PERSIST, conn_read_cb, k);
   event_assign(&k->wev, uc->base, fd, EV_WRITE, conn_write_cb, k);
   struct timeval tv = { connect_ms / 1000, (connect_ms % 1000) * 1000 };
   event_add(&k->wev, connect_ms > 0 ? &tv : NULL);
   return k;
}

/* ---- ending a call ---- */

static void call_unlink(Call *c) {
   Upconn *uc = c->uc;
   if (c->prev)
      c->prev->next = c->next;
   else
      uc->calls = c->next;
   if (c->next)
      c->next->prev = c->prev;
   uc->active--;
}

static void call_free(Call *c) {
   event_del(&c->timer);
   Sbuf_free(&c->res.body);
   Sbuf_free(&c->res.headers);
   free(c->head);
   free(c->ctype);
   free(c);
}

/* on_done, then the call is gone; its connection was closed or pooled before. */
static void call_end(Call *c) {
   call_unlink(c);
   event_del(&c->timer);
   c->res.ms = (mono_seconds() - c->t0) * 1000.0;
   c->res.reason = c->reason;
   c->res.content_type = c->ctype;
   if (c->res.code != CURLE_OK && !c->res.error)
      c->res.error = c->errbuf[0] ? c->errbuf : curl_easy_strerror(c->res.code);
   c->on_done(c->ud, &c->res);
   call_free(c);
}

/* The call fails: its connection closes now, on_done follows from the loop. */
static void call_fail(Call *c, CURLcode code, const char *fmt, ...) ATTR_PRINTF(3, 4);
static void call_fail(Call *c, CURLcode code, const char *fmt, ...) {
   static const struct timeval now = { 0, 0 };
   if (c->dead)
      return;
   if (c->conn) {
      conn_close(c->conn);
      c->conn = NULL;
   }
   c->dead = true;
   c->res.code = code;
   va_list ap;
   va_start(ap, fmt);
   vsnprintf(c->errbuf, sizeof c->errbuf, fmt, ap);
   va_end(ap);
   event_del(&c->timer);
   evtimer_add(&c->timer, &now);
}

static void call_timer_cb(evutil_socket_t fd, short what, void *arg) {
   Call *c = arg;
   if (c->cancel && !c->dead) {
      if (c->conn) {
         conn_close(c->conn);
         c->conn = NULL;
      }
      c->res.cancelled = true;
      c->res.code = CURLE_ABORTED_BY_CALLBACK;
      c->res.error = "cancelled: the client it was for has gone";
      call_end(c);
   } else if (c->dead) {
      call_end(c);
   } else {
      /* libevent adds a timer to the time cached at the start of the loop's turn, so it can
       * fire early by however long that turn ran: a timeout is never shorter than asked. */
      long rest = c->timeout_ms - (long)((mono_seconds() - c->t0) * 1000.0);
      if (rest > 0) {
         struct timeval tv = { rest / 1000, (rest % 1000) * 1000 };
         evtimer_add(&c->timer, &tv);
         return;
      }
      /* curl's wording, so a stored error reads the same whichever client made the call. */
      if (c->got)
         call_fail(c, CURLE_OPERATION_TIMEDOUT, "Operation timed out after %ld milliseconds with %lld bytes received",
                   c->timeout_ms, c->res.bytes);
      else
         call_fail(c, CURLE_OPERATION_TIMEDOUT, "Operation timed out after %ld milliseconds with 0 bytes received",
                   c->timeout_ms);
   }
}

/* The answer is complete: the connection goes back to the pool when it can serve again. */
static void call_complete(Call *c) {
   Conn *k = c->conn;
   c->conn = NULL;
   k->call = NULL;
   Host *h = k->h;
   bool sent_all = c->sent == c->head_len + c->body_len;
   if (c->keep && sent_all && k->rpos == k->rlen && h->nidle < IDLE_MAX && !c->paused) {
      k->rpos = k->rlen = 0;
      k->reused = true;
      if (h->nidle == h->capidle) {
         h->capidle = h->capidle ? 2 * h->capidle : 16;
         h->idle = xrealloc(h->idle, (size_t)h->capidle * sizeof *h->idle);
      }
      h->idle[h->nidle++] = k;
   } else {
      conn_close(k);
   }
   c->res.code = CURLE_OK;
   call_end(c);
}

/* ---- sending ---- */

static void call_send(Call *c);

/* A reused connection the upstream had closed before it read the request: curl's rule, one
 * more try on a new connection. True when that try started. */
static bool call_retry(Call *c) {
   Conn *k = c->conn;
   if (!k->reused || c->got || c->retries)
      return false;
   conn_close(k);
   c->retries++;
   c->sent = 0;
   long cm = c->timeout_ms > 0 && c->timeout_ms < CONNECT_MAX_MS ? c->timeout_ms : CONNECT_MAX_MS;
   c->conn = conn_open(c->uc, c->h, cm);
   if (!c->conn) {
      call_fail(c, CURLE_COULDNT_CONNECT, "Failed to connect to %s: %s", c->h->where, strerror(errno));
      return true;
   }
   c->conn->call = c;
   return true;
}

static void call_send(Call *c) {
   Conn *k = c->conn;
   size_t total = c->head_len + c->body_len;
   while (c->sent < total) {
      struct iovec iov[2];
      int n = 0;
      if (c->sent < c->head_len) {
         iov[n].iov_base = c->head + c->sent;
         iov[n++].iov_len = c->head_len - c->sent;
         if (c->body_len) {
            iov[n].iov_base = (void *)c->body;
            iov[n++].iov_len = c->body_len;
         }
      } else {
         iov[n].iov_base = (void *)(c->body + (c->sent - c->head_len));
         iov[n++].iov_len = total - c->sent;
      }
      struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
      ssize_t w = sendmsg(k->fd, &m, MSG_NOSIGNAL);
      if (w < 0) {
         if (errno == EINTR)
            continue;
         if (errno == EAGAIN || errno == EWOULDBLOCK) {
            event_add(&k->wev, NULL);
            return;
         }
         int e = errno;
         if (!call_retry(c))
            call_fail(c, CURLE_SEND_ERROR, "Send failure: %s", strerror(e));
         return;
      }
      c->sent += (size_t)w;
   }
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg) {
   Conn *k = arg;
   Call *c = k->call;
   if (!c || c->dead || c->cancel)
      return;
   if (!k->connected) {
      int err = 0;
      socklen_t el = sizeof err;
      if (what & EV_TIMEOUT) {
         call_fail(c, CURLE_OPERATION_TIMEDOUT, "Failed to connect to %s after %.0f ms: Timeout was reached",
                   c->h->where, (mono_seconds() - c->t0) * 1000.0);
         return;
      }
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
         err = errno;
      if (err) {
         call_fail(c, CURLE_COULDNT_CONNECT, "Failed to connect to %s after %.0f ms: %s", c->h->where,
                   (mono_seconds() - c->t0) * 1000.0, strerror(err));
         return;
      }
      k->connected = true;
      event_add(&k->rev, NULL);
      k->rev_added = true;
   }
   call_send(c);
}

/* ---- receiving ---- */

/* Body bytes: to on_data (a 2xx, or any status streamed) and kept, as upstream.c's write_cb.
 * False when the call stopped (paused, cancelled, failed): the bytes stay unread. */
static bool call_body(Call *c, const char *p, size_t n) {
   if (!n)
      return true;
   if (c->on_data && !c->checked) {
      c->checked = true;
      c->res.streamed = c->res.status >= 200 && c->res.status < 300;
      c->res.content_type = c->ctype;
      c->res.reason = c->reason;
   }
   if (c->res.streamed && !c->cancel && !c->on_data(c->ud, &c->res, p, n)) {
      c->paused = true;
      return false;
   }
   c->res.bytes += (long long)n;
   if (c->res.body.len + n > BODY_MAX) {
      call_fail(c, CURLE_WRITE_ERROR, "Failure writing output to destination (the body passed %ld bytes)", BODY_MAX);
      return false;
   }
   Sbuf_add(&c->res.body, p, n);
   /* on_data may have cancelled the call: the bytes are kept, nothing more is read. */
   return !c->cancel;
}

/* RFC 9110 5.5: a recipient must refuse (or blank) CR, LF and NUL in a field; other control
 * bytes pass, as curl lets them (the front end's writer decides what reaches a client). */
static bool header_byte_ok(unsigned char ch) {
   return ch != '\0' && ch != '\r';
}

/* Parses one header block (lines from p, the blank line at end included). Returns false when
 * it failed the call. */
static bool call_head(Call *c, const char *p, const char *end) {
   const char *eol = memchr(p, '\n', (size_t)(end - p));
   size_t sl = (size_t)(eol - p);
   if (sl && p[sl - 1] == '\r')
      sl--;
   /* "HTTP/1.1 200 OK": version, three digits, then the reason after one space. */
   if (sl < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' || p[9] < '1' ||
       p[9] > '9' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' || (sl > 12 && p[12] != ' ')) {
      call_fail(c, CURLE_WEIRD_SERVER_REPLY, "Unsupported response from %s: not an HTTP/1.x status line",
                c->h->where);
      return false;
   }
   c->res.status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
   bool http10 = p[7] == '0';
   size_t r = sl > 13 ? sl - 13 : 0;
   if (r >= sizeof c->reason)
      r = sizeof c->reason - 1;
   for (size_t i = 0; i < r; i++) {
      unsigned char ch = (unsigned char)p[13 + i];
      c->reason[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
   }
   c->reason[r] = '\0';
   Sbuf_reset(&c->res.headers);
   size_t block = (size_t)(end - p);
   if (c->res.headers.cap < block + 1 && block < 65536) {
      /* One allocation for the lines kept, instead of doubling from 64 bytes. */
      c->res.headers.buf = xrealloc(c->res.headers.buf, block + 1);
      c->res.headers.cap = block + 1;
      c->res.headers.buf[c->res.headers.len] = '\0';
   }
   free(c->ctype);
   c->ctype = NULL;
   long long clen = -1;
   bool chunked = false, has_te = false, closing = http10, keep_alive = false;
   for (p = eol + 1; p < end;) {
      eol = memchr(p, '\n', (size_t)(end - p));
      size_t len = (size_t)(eol - p);
      if (len && p[len - 1] == '\r')
         len--;
      if (len == 0)
         break;
      const char *colon = memchr(p, ':', len);
      bool ok = colon && colon > p && p[0] != ' ' && p[0] != '\t';
      for (size_t i = 0; ok && i < len; i++)
         ok = header_byte_ok((unsigned char)p[i]);
      if (!ok) {
         call_fail(c, CURLE_WEIRD_SERVER_REPLY, "Invalid header line from %s", c->h->where);
         return false;
      }
      size_t nl = (size_t)(colon - p);
      const char *v = colon + 1, *ve = p + len;
      while (v < ve && (*v == ' ' || *v == '\t'))
         v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
         ve--;
      size_t vl = (size_t)(ve - v);
      if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
         long long n = 0;
         bool num = vl > 0 && vl <= 18;
         for (size_t i = 0; num && i < vl; i++) {
            num = v[i] >= '0' && v[i] <= '9';
            n = n * 10 + (v[i] - '0');
         }
         if (!num || (clen >= 0 && clen != n)) {
            call_fail(c, CURLE_WEIRD_SERVER_REPLY, "Invalid Content-Length from %s", c->h->where);
            return false;
         }
         clen = n;
      } else if (nl == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
         has_te = true;
         /* chunked must be the last coding; anything else is read to the close (RFC 9112 6.3). */
         chunked = vl >= 7 && strncasecmp(ve - 7, "chunked", 7) == 0;
      } else if (nl == 10 && strncasecmp(p, "connection", 10) == 0) {
         for (const char *t = v; t + 5 <= ve; t++) {
            if (strncasecmp(t, "close", 5) == 0)
               closing = true;
            else if (t + 10 <= ve && strncasecmp(t, "keep-alive", 10) == 0)
               keep_alive = true;
         }
      } else if (nl == 12 && strncasecmp(p, "content-type", 12) == 0) {
         c->ctype = xstrndup(v, vl);
      }
      if (c->res.headers.len + len + 2 <= 65536) {
         Sbuf_add(&c->res.headers, p, len);
         Sbuf_add(&c->res.headers, "\r\n", 2);
      }
      p = eol + 1;
   }
   c->keep = !closing || (http10 && keep_alive && !has_te && clen >= 0);
   if (has_te && chunked) {
      c->state = ST_CHUNK_SIZE;
   } else if (has_te) {
      c->state = ST_CLOSE;
      c->keep = false;
   } else if (c->res.status == 204 || c->res.status == 304) {
      c->state = ST_DONE;
   } else if (clen >= 0) {
      c->remain = clen;
      c->state = clen ? ST_LEN : ST_DONE;
   } else {
      c->state = ST_CLOSE;
      c->keep = false;
   }
   return true;
}

/* Works through the connection's buffer. Returns 1 when the call ended (completed or
 * failed: the connection is no longer the caller's to touch), 0 when it needs more bytes
 * or stopped (paused, cancelled). */
static int call_parse(Call *c) {
   Conn *k = c->conn;
   for (;;) {
      const char *p = k->rbuf + k->rpos, *end = k->rbuf + k->rlen;
      size_t avail = (size_t)(end - p);
      switch (c->state) {
      case ST_HEAD: {
         /* The blank line ends the block: "\n\r\n" or "\n\n". */
         const char *q = p, *stop = NULL;
         while ((q = memchr(q, '\n', (size_t)(end - q)))) {
            q++;
            if (q < end && *q == '\n') {
               stop = q + 1;
               break;
            }
            if (q + 1 < end && q[0] == '\r' && q[1] == '\n') {
               stop = q + 2;
               break;
            }
         }
         if (!stop) {
            if (avail > HEAD_MAX) {
               call_fail(c, CURLE_RECV_ERROR, "Too large response headers from %s: over %d bytes", c->h->where,
                         HEAD_MAX);
               return 1;
            }
            return 0;
         }
         if (stop - p > HEAD_MAX) {
            call_fail(c, CURLE_RECV_ERROR, "Too large response headers from %s: over %d bytes", c->h->where,
                      HEAD_MAX);
            return 1;
         }
         if (!call_head(c, p, stop))
            return 1;
         k->rpos += (size_t)(stop - p);
         /* An interim answer (100 Continue, 103 Early Hints) comes before the real one. */
         if (c->res.status >= 100 && c->res.status < 200) {
            if (c->res.status == 101) {
               call_fail(c, CURLE_WEIRD_SERVER_REPLY, "Unexpected 101 Switching Protocols from %s", c->h->where);
               return 1;
            }
            c->state = ST_HEAD;
         }
         break;
      }
      case ST_LEN:
      case ST_CHUNK_DATA: {
         size_t n = (long long)avail < c->remain ? avail : (size_t)c->remain;
         if (!n)
            return 0;
         if (!call_body(c, p, n))
            return c->dead;
         k->rpos += n;
         c->remain -= (long long)n;
         if (!c->remain)
            c->state = c->state == ST_LEN ? ST_DONE : ST_CHUNK_END;
         break;
      }
      case ST_CLOSE:
         if (!avail)
            return 0;
         if (!call_body(c, p, avail))
            return c->dead;
         k->rpos += avail;
         break;
      case ST_CHUNK_SIZE:
      case ST_CHUNK_END:
      case ST_TRAILER: {
         const char *eol = memchr(p, '\n', avail);
         if (!eol) {
            if (avail > LINE_MAX_) {
               call_fail(c, CURLE_RECV_ERROR, "Chunk line too long from %s", c->h->where);
               return 1;
            }
            return 0;
         }
         size_t len = (size_t)(eol - p);
         if (len && p[len - 1] == '\r')
            len--;
         if (c->state == ST_CHUNK_END) {
            if (len) {
               call_fail(c, CURLE_RECV_ERROR, "Malformed encoding found in chunked-encoding from %s", c->h->where);
               return 1;
            }
            c->state = ST_CHUNK_SIZE;
         } else if (c->state == ST_TRAILER) {
            if (!len)
               c->state = ST_DONE;
         } else {
            long long n = 0;
            size_t i = 0;
            for (; i < len; i++) {
               int d = p[i] >= '0' && p[i] <= '9'   ? p[i] - '0'
                       : p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
                       : p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10
                                                    : -1;
               if (d < 0)
                  break;
               if (n > (BODY_MAX << 4)) {
                  call_fail(c, CURLE_RECV_ERROR, "Chunk size too large from %s", c->h->where);
                  return 1;
               }
               n = n * 16 + d;
            }
            /* Hex digits, then optional whitespace and ";extensions". */
            size_t j = i;
            while (j < len && (p[j] == ' ' || p[j] == '\t'))
               j++;
            if (i == 0 || (j < len && p[j] != ';')) {
               call_fail(c, CURLE_RECV_ERROR, "Illegal or missing hexadecimal sequence in chunked-encoding from %s",
                         c->h->where);
               return 1;
            }
            c->remain = n;
            c->state = n ? ST_CHUNK_DATA : ST_TRAILER;
         }
         k->rpos += (size_t)(eol + 1 - p);
         break;
      }
      case ST_DONE:
         call_complete(c);
         return 1;
      }
   }
}

/* The upstream closed the connection (or reset it): the end of a to-the-close body, or a
 * failure worded as curl words it. */
static void call_eof(Call *c, int err) {
   if (!err && c->state == ST_CLOSE) {
      c->state = ST_DONE;
      c->keep = false;
      call_parse(c);
      return;
   }
   if (call_retry(c))
      return;
   if (err)
      call_fail(c, CURLE_RECV_ERROR, "Recv failure: %s", strerror(err));
   else if (!c->got)
      call_fail(c, CURLE_GOT_NOTHING, "Empty reply from server");
   else if (c->state == ST_LEN)
      call_fail(c, CURLE_PARTIAL_FILE, "transfer closed with %lld bytes remaining to read", c->remain);
   else if (c->state == ST_HEAD)
      call_fail(c, CURLE_RECV_ERROR, "Connection closed in the middle of the response headers from %s",
                c->h->where);
   else
      call_fail(c, CURLE_PARTIAL_FILE, "transfer closed with outstanding read data remaining");
}

/* A paused call stops reading: the socket's buffer and the TCP window hold the rest. */
static void conn_stop_reading(Conn *k, const Call *c) {
   if (c->paused && k->rev_added) {
      event_del(&k->rev);
      k->rev_added = false;
   }
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg) {
   Conn *k = arg;
   Call *c = k->call;
   if (!c) {
      /* An idle connection turned readable: closed by the upstream, or bytes nobody asked
       * for. Either way it cannot serve another call. */
      idle_remove(k->h, k);
      conn_close(k);
      return;
   }
   if (c->dead || c->cancel)
      return;
   if (c->paused) {
      /* Upconn_resume activated us: the buffered bytes first. */
      c->paused = false;
      if (call_parse(c))
         return;
      if (c->paused || c->cancel) {
         conn_stop_reading(k, c);
         return;
      }
   }
   if (k->rlen == k->rcap) {
      if (k->rpos) {
         memmove(k->rbuf, k->rbuf + k->rpos, k->rlen - k->rpos);
         k->rlen -= k->rpos;
         k->rpos = 0;
      } else {
         k->rcap = k->rcap ? 2 * k->rcap : RBUF_MIN;
         k->rbuf = xrealloc(k->rbuf, k->rcap);
      }
   }
   ssize_t n = recv(fd, k->rbuf + k->rlen, k->rcap - k->rlen, 0);
   if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
         return;
      call_eof(c, errno);
      return;
   }
   if (n == 0) {
      call_eof(c, 0);
      return;
   }
   c->got = true;
   k->rlen += (size_t)n;
   if (call_parse(c))
      return;
   if (k->rpos == k->rlen)
      k->rpos = k->rlen = 0;
   conn_stop_reading(k, c);
}

/* The request head: the URL's part, then Authorization and Content-Length, in one allocation
 * (no printf on the hot path). */
static void request_head(Call *c, const char *auth) {
   static const char ah[] = "Authorization: ", cl[] = "Content-Length: ";
   char num[24], *e = num + sizeof num;
   size_t v = c->body_len;
   do {
      *--e = (char)('0' + v % 10);
      v /= 10;
   } while (v);
   size_t nl = (size_t)(num + sizeof num - e), al = auth ? strlen(auth) : 0;
   size_t len = c->h->line_len + (auth ? sizeof ah - 1 + al + 2 : 0) + sizeof cl - 1 + nl + 4;
   char *p = c->head = xmalloc(len + 1);
   memcpy(p, c->h->line, c->h->line_len);
   p += c->h->line_len;
   if (auth) {
      memcpy(p, ah, sizeof ah - 1);
      p += sizeof ah - 1;
      memcpy(p, auth, al);
      p += al;
      memcpy(p, "\r\n", 2);
      p += 2;
   }
   memcpy(p, cl, sizeof cl - 1);
   p += sizeof cl - 1;
   memcpy(p, e, nl);
   p += nl;
   memcpy(p, "\r\n\r\n", 5);   /* with the NUL */
   c->head_len = len;
}

/* ---- the interface ---- */

Upconn *Upconn_new(struct event_base *base) {
   Upconn *uc = xcalloc(1, sizeof *uc);
   uc->base = base;
   return uc;
}

UpconnCall *Upconn_post(Upconn *uc, const char *url, const char *auth, const char *body, size_t len,
                        long timeout_ms, UpDataFn on_data, UpDoneFn on_done, void *ud) {
   if (auth && strpbrk(auth, "\r\n"))
      return NULL;
   Host *h = host_for(uc, url);
   if (!h)
      return NULL;
   Call *c = xcalloc(1, sizeof *c);
   c->lean = true;
   c->uc = uc;
   c->h = h;
   c->on_data = on_data;
   c->on_done = on_done;
   c->ud = ud;
   c->res.call = c;
   c->t0 = mono_seconds();
   c->timeout_ms = timeout_ms;
   c->body = body;
   c->body_len = body ? len : 0;
   request_head(c, auth);
   c->next = uc->calls;
   if (uc->calls)
      uc->calls->prev = c;
   uc->calls = c;
   uc->active++;
   evtimer_assign(&c->timer, uc->base, call_timer_cb, c);
   if (timeout_ms > 0) {
      struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
      evtimer_add(&c->timer, &tv);
   }
   if (h->nidle) {
      c->conn = h->idle[--h->nidle];
      c->conn->call = c;
      call_send(c);
      return c;
   }
   long cm = timeout_ms > 0 && timeout_ms < CONNECT_MAX_MS ? timeout_ms : CONNECT_MAX_MS;
   c->conn = conn_open(uc, h, cm);
   if (!c->conn) {
      call_fail(c, CURLE_COULDNT_CONNECT, "Failed to connect to %s after 0 ms: %s", h->where, strerror(errno));
      return c;
   }
   c->conn->call = c;
   return c;
}

void Upconn_cancel(UpconnCall *c) {
   static const struct timeval now = { 0, 0 };
   if (c->cancel || c->dead)
      return;
   c->cancel = true;
   event_del(&c->timer);
   evtimer_add(&c->timer, &now);
}

void Upconn_resume(UpconnCall *c) {
   Conn *k = c->conn;
   if (!c->paused || !k || c->dead || c->cancel)
      return;
   if (!k->rev_added) {
      event_add(&k->rev, NULL);
      k->rev_added = true;
   }
   event_active(&k->rev, EV_READ, 1);
}

int Upconn_active(const Upconn *uc) {
   return uc->active;
}

void Upconn_free(Upconn *uc) {
   if (!uc)
      return;
   while (uc->calls) {
      Call *c = uc->calls;
      if (c->conn)
         conn_close(c->conn);
      call_unlink(c);
      call_free(c);
   }
   for (int i = 0; i < uc->nhosts; i++) {
      Host *h = uc->hosts[i];
      for (int j = 0; j < h->nidle; j++)
         conn_close(h->idle[j]);
      host_free(h);
   }
   free(uc->hosts);
   free(uc);
}
