/* httpfront.c - the HTTP/1.1 server of offramp's daemons, with nginx's limits.
 *
 * One connection is one Conn: a socket watched for reading for as long as it is open (so a
 * client that leaves while its request is served is heard at once, and the watch is not
 * dropped and added again around every request), an input buffer the request is parsed from
 * in place, and an output buffer written as soon as an answer is put in it (in the pass that
 * produced it, not after a round through epoll). A request read whole is handed to the daemon
 * as an HttpReq that takes the input buffer with it (the two buffers of a connection change
 * places at every request, so a kept-alive connection allocates nothing once warm); its
 * headers are offsets into that buffer, found once, with nothing copied.
 *
 * Limits are checked as the bytes arrive: the header block against max_header before it is
 * whole, a declared body against max_body before it is read, a chunked body as it is decoded
 * (in place). One deadline per request, armed at its first byte, is not pushed back by more
 * bytes. A refusal is written straight away in OpenAI's error shape, then the connection reads
 * and discards for a while (nginx's lingering close) so the client sees the answer and not a
 * reset. The API never closes a connection from inside a call the daemon made: a connection
 * that must go is closed from its own events. */
#include "config.h"

#include <errno.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/httpfront.h"
#include "http/httperror.h"

typedef enum {
   C_IDLE,      /* between requests (or accepted, nothing read yet) */
   C_HEAD,      /* reading request line and headers */
   C_BODY,      /* reading a body (or none: about to hand the request over) */
   C_BUSY,      /* handed to the daemon, not yet answered */
   C_REJECT,    /* over the connection cap: answer 503 at the first byte */
   C_LINGER,    /* answered, our side shut: discard what comes until the client closes */
   C_CLOSING,   /* answered with Connection: close: linger once the answer is written */
} ConnState;

/* Bytes a client may send ahead (pipelining) while its request is served; past them the
 * connection is not read until the answer is out. */
#define BUSY_INPUT_MAX (64 * 1024)
/* Answer bytes not yet taken by a client past which requests it sent ahead wait. */
#define OUTPUT_AHEAD_MAX (256 * 1024)
/* nginx's lingering close: after the last answer, how long what the client still sends is
 * read and discarded, so that it sees the answer rather than a reset. */
#define LINGER_S 2
/* The first read of a connection (and the least room a read is given). */
#define READ_MIN 4096

/* The chunked-body decoder's states (RFC 9112 section 7.1). */
enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TRAILER_LINE, CH_DONE };

typedef struct {
   uint32_t name, value;   /* offsets of NUL-terminated text in the request's buffer */
} Header;

typedef struct Conn Conn;

struct HttpReq {
   HttpFront *fr;
   Conn *c;                /* NULL once the client left */
   Sbuf buf;               /* the request's bytes: head (NULs put in) and body */
   HttpMethod method;
   bool http10, keepalive, inflight;
   bool close;             /* close the connection after the answer */
   bool has_date;
   bool streaming;         /* reply_start was called */
   bool chunked_out;       /* the streamed answer is chunked (HTTP/1.1) */
   char head_len[20];      /* HEAD: the length a GET would have had, as the daemon said it */
   uint32_t path, query;   /* offsets; query UINT32_MAX when none */
   uint32_t body, body_len;
   Header *hdr;
   size_t nhdr, hcap;
   Sbuf oh;                /* answer headers, "Name: value\r\n" each */
   void (*on_close)(void *);
   void *on_close_arg;
   void (*drained)(void *);
   void *drained_arg;
};

struct Conn {
   HttpFront *fr;
   int fd;
   struct event *rev, *wev, *timer;
   ConnState state;
   bool reading;           /* rev is added */
   bool writing;           /* wev is added (output waits for the socket) */
   bool served;            /* a request was answered on this connection before */
   bool in_process;        /* process() is running: it follows requests sent ahead itself */
   bool broken;            /* a write failed: close from the write event */
   double deadline;        /* the request being read must be whole by then */
   double last_read;       /* ... and the client silent no longer than keepalive_timeout */
   Sbuf in;                /* bytes read and not handed over; a request starts at 0 */
   size_t scan;            /* head: where the search for its end resumes */
   size_t head_end;
   unsigned long long clen;
   bool chunked;
   int ch_state;
   unsigned long long ch_left;
   size_t raw_at;          /* chunked: the next byte to decode; data is compacted below it */
   size_t ch_extra;        /* chunked: bytes of chunk extensions and trailers */
   size_t body_end;        /* chunked: the end of the decoded data */
   Sbuf out;
   size_t out_off;
   HttpReq *req;           /* being read (from its head on) or served */
   HttpReq *spare;         /* the last one answered, for the next */
   struct sockaddr_storage peer;
   socklen_t peerlen;
   Conn *prev, *next;
};

enum { MAX_LISTENERS = 8 };

struct HttpFront {
   struct event_base *base;
   char *name;
   HttpLimits lim;
   void (*cb)(HttpReq *, void *);
   void *arg;
   Conn *conns;
   HttpFrontStats st;
   struct evconnlistener *lev[MAX_LISTENERS];
   int nlev;
   struct event *resume;
   bool draining, done_called;
   void (*done)(void *);
   void *done_arg;
   long pauses_unlogged;
   double last_pause_log;
   time_t date_sec;
   char date[40];          /* "Date: ...\r\n" of date_sec */
};

static const struct {
   const char *name;
   size_t len;
   HttpMethod m;
} methods[] = {
   { "GET", 3, HTTP_GET },       { "POST", 4, HTTP_POST },       { "HEAD", 4, HTTP_HEAD },   { "PUT", 3, HTTP_PUT },
   { "DELETE", 6, HTTP_DELETE }, { "OPTIONS", 7, HTTP_OPTIONS }, { "PATCH", 5, HTTP_PATCH },
};

static const char *reason_phrase(int code) {
   switch (code) {
   case 100: return "Continue";
   case 200: return "OK";
   case 201: return "Created";
   case 202: return "Accepted";
   case 204: return "No Content";
   case 301: return "Moved Permanently";
   case 302: return "Found";
   case 304: return "Not Modified";
   case 400: return "Bad Request";
   case 401: return "Unauthorized";
   case 403: return "Forbidden";
   case 404: return "Not Found";
   case 405: return "Method Not Allowed";
   case 408: return "Request Timeout";
   case 409: return "Conflict";
   case 411: return "Length Required";
   case 413: return "Content Too Large";
   case 415: return "Unsupported Media Type";
   case 417: return "Expectation Failed";
   case 422: return "Unprocessable Content";
   case 429: return "Too Many Requests";
   case 431: return "Request Header Fields Too Large";
   case 499: return "Client Closed Request";
   case 500: return "Internal Server Error";
   case 501: return "Not Implemented";
   case 502: return "Bad Gateway";
   case 503: return "Service Unavailable";
   case 504: return "Gateway Timeout";
   case 505: return "HTTP Version Not Supported";
   default: return code < 300 ? "OK" : code < 400 ? "Redirect" : code < 500 ? "Client Error" : "Server Error";
   }
}

/* -- small writers: the answer head is put together without printf -- */

static void put(Sbuf *o, const char *s, size_t n) {
   Sbuf_add(o, s, n);
}

static void put_dec(Sbuf *o, unsigned long long v) {
   char t[24];
   int i = (int)sizeof t;
   do {
      t[--i] = (char)('0' + v % 10);
      v /= 10;
   } while (v);
   put(o, t + i, sizeof t - (size_t)i);
}

static void put_hex(Sbuf *o, size_t v) {
   char t[24];
   int i = (int)sizeof t;
   do {
      t[--i] = "0123456789abcdef"[v & 15];
      v >>= 4;
   } while (v);
   put(o, t + i, sizeof t - (size_t)i);
}

static void arm(Conn *c, double seconds) {
   struct timeval tv = { (time_t)seconds, (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6) };
   evtimer_add(c->timer, &tv);
}

/* The loop's time of this pass, in seconds. */
static double now_s(HttpFront *fr) {
   struct timeval tv;
   event_base_gettimeofday_cached(fr->base, &tv);
   return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* A request is being read from now: its deadline, and the timer for it or for silence. */
static void arm_request(Conn *c) {
   const HttpLimits *lim = &c->fr->lim;
   c->last_read = now_s(c->fr);
   c->deadline = c->last_read + lim->request_timeout;
   arm(c, lim->request_timeout < lim->keepalive_timeout ? lim->request_timeout : lim->keepalive_timeout);
}

static void check_drained(HttpFront *fr) {
   if (fr->draining && !fr->done_called && fr->st.inflight == 0) {
      fr->done_called = true;
      if (fr->done)
         fr->done(fr->done_arg);
   }
}

static void req_free(HttpReq *req) {
   if (!req)
      return;
   Sbuf_free(&req->buf);
   Sbuf_free(&req->oh);
   free(req->hdr);
   free(req);
}

/* Makes sure the input buffer has room for want more bytes (and the NUL after them). */
static void in_reserve(Conn *c, size_t want) {
   if (c->in.len + want + 1 <= c->in.cap)
      return;
   size_t cap = c->in.cap ? c->in.cap : READ_MIN;
   while (cap < c->in.len + want + 1)
      cap *= 2;
   c->in.buf = xrealloc(c->in.buf, cap);
   c->in.cap = cap;
}

/* Writes what the output buffer holds: 1 all of it, 0 the socket is full (the write event
 * waits for it), -1 the connection is broken. */
static int write_out(Conn *c) {
   while (c->out_off < c->out.len) {
      ssize_t n = send(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
      if (n > 0) {
         c->out_off += (size_t)n;
         continue;
      }
      if (n < 0 && errno == EINTR)
         continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
         if (!c->writing) {
            /* A client that does not read its answer for the keep-alive time is dropped. */
            double s = c->fr->lim.keepalive_timeout;
            struct timeval tv = { (time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6) };
            event_add(c->wev, &tv);
            c->writing = true;
         }
         return 0;
      }
      c->broken = true;
      c->out_off = c->out.len = 0;
      return -1;
   }
   c->out_off = c->out.len = 0;
   if (c->writing) {
      event_del(c->wev);
      c->writing = false;
   }
   return 1;
}

/* Writes from inside a call the daemon made: what needs the connection's own event to finish
 * (a close, a drained callback) is scheduled there. */
static void flush(Conn *c) {
   int r = write_out(c);
   if (r < 0 || (r > 0 && (c->state == C_CLOSING || c->state == C_LINGER || (c->req && c->req->drained))))
      event_active(c->wev, EV_WRITE, 0);
}

static void conn_close(Conn *c) {
   HttpFront *fr = c->fr;
   HttpReq *req = c->req;
   c->req = NULL;
   if (req) {
      req->c = NULL;
      req->drained = NULL;
      if (req->inflight) {
         /* No longer in flight for the front end: nobody waits for its answer. */
         req->inflight = false;
         fr->st.inflight--;
      }
      if (c->state != C_BUSY) {
         req_free(req);   /* still being read: the daemon never saw it */
      } else if (req->on_close) {
         void (*cb)(void *) = req->on_close;
         req->on_close = NULL;
         cb(req->on_close_arg);   /* may end req: it is detached already */
      }
   }
   event_free(c->rev);
   event_free(c->wev);
   event_free(c->timer);
   close(c->fd);
   Sbuf_free(&c->in);
   Sbuf_free(&c->out);
   req_free(c->spare);
   if (c->prev)
      c->prev->next = c->next;
   else
      fr->conns = c->next;
   if (c->next)
      c->next->prev = c->prev;
   fr->st.conns--;
   free(c);
   check_drained(fr);
}

/* A refusal before the daemon saw anything: the error written now, then lingering. */
static void refuse(Conn *c, int code, const char *errcode, const char *msg) {
   Sbuf body = { 0 };
   Reply_error_text(&body, code, NULL, NULL, errcode, msg);
   Sbuf *o = &c->out;
   put(o, "HTTP/1.1 ", 9);
   put_dec(o, (unsigned)code);
   Sbuf_putc(o, ' ');
   Sbuf_puts(o, reason_phrase(code));
   put(o, "\r\nContent-Type: application/json\r\nContent-Length: ", 50);
   put_dec(o, body.len);
   if (code == 503)
      put(o, "\r\nRetry-After: 1", 15);
   if (code == 405) {
      put(o, "\r\nAllow: ", 9);
      for (size_t i = 0, n = 0; i < ARRAY_SIZE(methods); i++) {
         if (c->fr->lim.methods & (int)methods[i].m) {
            if (n++)
               put(o, ", ", 2);
            put(o, methods[i].name, methods[i].len);
         }
      }
   }
   put(o, "\r\nConnection: close\r\n\r\n", 23);
   put(o, body.buf, body.len);
   Sbuf_free(&body);
   if (c->req && c->state != C_BUSY) {
      req_free(c->req);
      c->req = NULL;
   }
   c->in.len = 0;
   c->state = C_LINGER;
   if (write_out(c) > 0)
      shutdown(c->fd, SHUT_WR);
   arm(c, LINGER_S);
}

static void refusef(Conn *c, int code, const char *errcode, const char *fmt, ...) ATTR_PRINTF(4, 5);
static void refusef(Conn *c, int code, const char *errcode, const char *fmt, ...) {
   va_list ap;
   va_start(ap, fmt);
   char *msg = xvasprintf(fmt, ap);
   va_end(ap);
   refuse(c, code, errcode, msg);
   free(msg);
}

/* Where the header block that starts the input ends (past its blank line); 0 if not yet. */
static size_t head_end(Conn *c) {
   const char *b = c->in.buf;
   size_t n = c->in.len, i = c->scan;
   while (i < n) {
      const char *nl = memchr(b + i, '\n', n - i);
      if (!nl) {
         c->scan = n;
         return 0;
      }
      size_t j = (size_t)(nl - b) + 1;
      if (j < n && b[j] == '\n')
         return j + 1;
      if (j + 1 < n && b[j] == '\r' && b[j + 1] == '\n')
         return j + 2;
      if (j >= n || (b[j] == '\r' && j + 1 >= n)) {
         c->scan = (size_t)(nl - b);   /* decided by bytes still to come: look again */
         return 0;
      }
      i = j;
   }
   c->scan = n;
   return 0;
}

static bool is_tchar(unsigned char b) {
   static const char extra[] = "!#$%&'*+-.^_`|~";
   return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || (b && strchr(extra, b));
}

/* Whether the comma-separated list v holds token tok (any case). */
static bool has_token(const char *v, const char *tok) {
   size_t tl = strlen(tok);
   while (*v) {
      while (*v == ' ' || *v == '\t' || *v == ',')
         v++;
      const char *e = v;
      while (*e && *e != ',')
         e++;
      const char *t = e;
      while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
         t--;
      if ((size_t)(t - v) == tl && strncasecmp(v, tok, tl) == 0)
         return true;
      v = e;
   }
   return false;
}

/* Parses the header block in[0..end) in place into a new request; false when refused. */
static bool parse_head(Conn *c, size_t end) {
   HttpFront *fr = c->fr;
   HttpReq *req = c->spare;
   c->spare = NULL;
   if (!req)
      req = xcalloc(1, sizeof *req);
   req->fr = fr;
   req->c = c;
   req->nhdr = 0;
   req->query = UINT32_MAX;
   req->body = req->body_len = 0;
   req->http10 = req->inflight = req->close = req->has_date = req->streaming = req->chunked_out = false;
   req->head_len[0] = '\0';
   req->on_close = req->drained = NULL;
   Sbuf_reset(&req->oh);
   c->req = req;
   char *b = c->in.buf;

   /* The request line: method SP target SP version. */
   char *eol = memchr(b, '\n', end);
   size_t ll = (size_t)(eol - b);
   if (ll && b[ll - 1] == '\r')
      ll--;
   b[ll] = '\0';
   char *sp1 = memchr(b, ' ', ll);
   char *sp2 = sp1 ? memchr(sp1 + 1, ' ', ll - (size_t)(sp1 + 1 - b)) : NULL;
   if (!sp1 || !sp2 || sp1 == b || sp2 == sp1 + 1 || memchr(sp2 + 1, ' ', ll - (size_t)(sp2 + 1 - b))) {
      refuse(c, 400, "bad_request", "the request line is not \"METHOD /path HTTP/1.1\"");
      return false;
   }
   size_t ml = (size_t)(sp1 - b);
   req->method = 0;
   for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
      if (methods[i].len == ml && memcmp(b, methods[i].name, ml) == 0)
         req->method = methods[i].m;
   }
   const char *ver = sp2 + 1;
   if (strcmp(ver, "HTTP/1.1") == 0) {
      req->http10 = false;
   } else if (strcmp(ver, "HTTP/1.0") == 0) {
      req->http10 = true;
   } else if (strncmp(ver, "HTTP/", 5) == 0 && ver[5] >= '0' && ver[5] <= '9') {
      refuse(c, 505, "http_version_not_supported", "this server speaks HTTP/1.1 and HTTP/1.0");
      return false;
   } else {
      refuse(c, 400, "bad_request", "the request line does not end in HTTP/1.1");
      return false;
   }
   if (!req->method) {
      for (size_t i = 0; i < ml; i++) {
         if (!is_tchar((unsigned char)b[i])) {
            refuse(c, 400, "bad_request", "the request's method is not a token");
            return false;
         }
      }
      refuse(c, 501, "method_not_supported", "this server knows GET, POST, HEAD, PUT, DELETE, OPTIONS and PATCH");
      return false;
   }
   if (!(fr->lim.methods & (int)req->method)) {
      refusef(c, 405, "method_not_allowed", "%s is not served here", methods[__builtin_ctz(req->method)].name);
      return false;
   }
   /* The target: origin form, or absolute form (its scheme and authority dropped). */
   char *t = sp1 + 1;
   *sp2 = '\0';
   for (char *p = t; p < sp2; p++) {
      if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
         refuse(c, 400, "bad_request", "the request target holds a control character");
         return false;
      }
   }
   if (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0) {
      char *slash = strchr(strstr(t, "//") + 2, '/');
      if (slash) {
         t = slash;
      } else {
         t = sp2 - 1;   /* the ' ' before the version, now the path "/" */
         t[0] = '/';
      }
   }
   if (t[0] != '/' && !(t[0] == '*' && t[1] == '\0')) {
      refuse(c, 400, "bad_request", "the request target is not a path");
      return false;
   }
   char *hash = strchr(t, '#');
   if (hash)
      *hash = '\0';
   char *q = strchr(t, '?');
   if (q) {
      *q = '\0';
      req->query = (uint32_t)(q + 1 - b);
   }
   req->path = (uint32_t)(t - b);

   /* Header lines up to the blank one. */
   const char *clen = NULL, *te = NULL, *conn = NULL, *expect = NULL;
   int nclen = 0;
   char *p = eol + 1;
   for (;;) {
      char *nl = memchr(p, '\n', end - (size_t)(p - b));
      /* Obsolete line folding: the continuation joins the line, CRLF made spaces (RFC 9112
       * section 5.2), so what it holds is checked as part of the value. */
      while (p != nl && (size_t)(nl + 1 - b) < end && (nl[1] == ' ' || nl[1] == '\t')) {
         if (nl > p && nl[-1] == '\r')
            nl[-1] = ' ';
         *nl = ' ';
         nl = memchr(nl, '\n', end - (size_t)(nl - b));
      }
      size_t len = (size_t)(nl - p);
      if (len && p[len - 1] == '\r')
         len--;
      if (len == 0)
         break;
      if (*p == ' ' || *p == '\t') {
         refuse(c, 400, "bad_request", "the first header line starts with whitespace");
         return false;
      }
      char *colon = p;
      while (colon < p + len && is_tchar((unsigned char)*colon))
         colon++;
      if (colon == p || colon == p + len || *colon != ':') {
         refuse(c, 400, "bad_request", "a header line is not \"Name: value\" (a name of token characters, then ':')");
         return false;
      }
      char *v = colon + 1, *ve = p + len;
      while (v < ve && (*v == ' ' || *v == '\t'))
         v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
         ve--;
      for (char *k = v; k < ve; k++) {
         unsigned char ch = (unsigned char)*k;
         if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            refusef(c, 400, "bad_request", "%.*s: byte 0x%02x at offset %zu is a control character (a header's value "
                    "may not hold CR, LF, NUL or other control bytes)", (int)(colon - p), p, ch, (size_t)(k - v));
            return false;
         }
      }
      *colon = '\0';
      *ve = '\0';
      if (req->nhdr == req->hcap) {
         req->hcap = req->hcap ? req->hcap * 2 : 32;
         req->hdr = xrealloc(req->hdr, req->hcap * sizeof *req->hdr);
      }
      req->hdr[req->nhdr].name = (uint32_t)(p - b);
      req->hdr[req->nhdr].value = (uint32_t)(v - b);
      req->nhdr++;
      size_t nlen = (size_t)(colon - p);
      if (nlen == 14 && strcasecmp(p, "content-length") == 0) {
         if (clen && strcmp(clen, v) != 0)
            nclen++;
         clen = v;
      } else if (nlen == 17 && strcasecmp(p, "transfer-encoding") == 0) {
         if (te) {
            refuse(c, 400, "bad_request", "Transfer-Encoding is sent twice");
            return false;
         }
         te = v;
      } else if (nlen == 10 && strcasecmp(p, "connection") == 0) {
         conn = v;
      } else if (nlen == 6 && strcasecmp(p, "expect") == 0) {
         expect = v;
      }
      p = nl + 1;
   }

   req->keepalive = req->http10 ? conn && has_token(conn, "keep-alive") : !(conn && has_token(conn, "close"));
   /* The body's framing (RFC 9112 section 6.3); both given is how requests are smuggled. */
   c->chunked = false;
   c->clen = 0;
   if (te) {
      if (clen) {
         refuse(c, 400, "bad_request", "both Transfer-Encoding and Content-Length are sent");
         return false;
      }
      if (strcasecmp(te, "chunked") != 0 || req->http10) {
         refusef(c, 501, "transfer_encoding_not_supported",
                 "Transfer-Encoding \"%s\" is not supported (send Content-Length, or chunked over HTTP/1.1)", te);
         return false;
      }
      c->chunked = true;
      c->ch_state = CH_SIZE;
      c->ch_left = 0;
      c->raw_at = c->body_end = end;
      c->ch_extra = 0;
   } else if (clen) {
      unsigned long long n = 0;
      size_t i = 0;
      for (; clen[i] >= '0' && clen[i] <= '9' && i < 19; i++)
         n = n * 10 + (unsigned)(clen[i] - '0');
      if (nclen || i == 0 || clen[i]) {
         refuse(c, 400, "bad_request", "Content-Length is not one decimal number");
         return false;
      }
      if (n > fr->lim.max_body) {
         fr->st.body_too_large++;
         refusef(c, 413, "request_too_large",
                 "the request body is %llu bytes; this server takes at most %zu (send less, or raise the server's body "
                 "limit)", n, fr->lim.max_body);
         return false;
      }
      c->clen = n;
   }
   c->head_end = end;
   /* curl and others wait for this before sending a body (a second, if it never comes). */
   if (expect && !req->http10 && (c->chunked || c->in.len < end + c->clen) && strcasecmp(expect, "100-continue") == 0) {
      put(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
      write_out(c);
   }
   /* Room for the whole body at once; this may move the buffer, so no pointer into the head is
    * used after it (the header table keeps offsets). */
   if (c->in.len < end + c->clen)
      in_reserve(c, end + c->clen - c->in.len);
   return true;
}

/* Decodes chunked bytes from raw_at in place; false when refused. */
static bool dechunk(Conn *c) {
   HttpFront *fr = c->fr;
   unsigned char *b = (unsigned char *)c->in.buf;
   size_t n = c->in.len, i = c->raw_at;
   while (i < n && c->ch_state != CH_DONE) {
      unsigned char ch = b[i];
      switch (c->ch_state) {
      case CH_SIZE: {
         int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
         if (d >= 0) {
            if (c->ch_left > fr->lim.max_body)
               goto too_large;
            c->ch_left = c->ch_left * 16 + (unsigned)d;
            i++;
            break;
         }
         /* The size is known: refuse a chunk that would go past the limit before its data. */
         if (c->body_end - c->head_end + c->ch_left > fr->lim.max_body)
            goto too_large;
         if (ch == '\r')
            c->ch_state = CH_SIZE_LF;
         else if (ch == '\n')
            c->ch_state = c->ch_left ? CH_DATA : CH_TRAILER;
         else if (ch == ';' || ch == ' ' || ch == '\t')
            c->ch_state = CH_EXT;
         else
            goto bad;
         i++;
         break;
      }
      case CH_EXT:
      case CH_SIZE_LF:
         if (++c->ch_extra > fr->lim.max_header)
            goto too_long;
         if (ch == '\n')
            c->ch_state = c->ch_left ? CH_DATA : CH_TRAILER;
         else if (c->ch_state == CH_SIZE_LF)
            goto bad;
         i++;
         break;
      case CH_DATA: {
         size_t k = n - i < c->ch_left ? n - i : (size_t)c->ch_left;
         memmove(b + c->body_end, b + i, k);
         c->body_end += k;
         c->ch_left -= k;
         i += k;
         if (c->ch_left == 0)
            c->ch_state = CH_DATA_CR;
         break;
      }
      case CH_DATA_CR:
         if (ch == '\r')
            c->ch_state = CH_DATA_LF;
         else if (ch == '\n')
            c->ch_state = CH_SIZE;
         else
            goto bad;
         i++;
         break;
      case CH_DATA_LF:
         if (ch != '\n')
            goto bad;
         c->ch_state = CH_SIZE;
         i++;
         break;
      case CH_TRAILER:   /* at the start of a trailer line: a blank one ends the body */
         if (ch == '\n')
            c->ch_state = CH_DONE;
         else if (ch != '\r')
            c->ch_state = CH_TRAILER_LINE;
         i++;
         break;
      case CH_TRAILER_LINE:   /* trailers are skipped; the header limit bounds them */
         if (++c->ch_extra > fr->lim.max_header)
            goto too_long;
         if (ch == '\n')
            c->ch_state = CH_TRAILER;
         i++;
         break;
      }

   }
   c->raw_at = i;
   return true;
too_large:
   fr->st.body_too_large++;
   refusef(c, 413, "request_too_large", "the request body is over %zu bytes (send less, or raise the server's body limit)",
           fr->lim.max_body);
   return false;
bad:
   refuse(c, 400, "bad_request", "the chunked body is malformed");
   return false;
too_long:
   fr->st.header_too_large++;
   refusef(c, 431, "request_header_fields_too_large",
           "the chunked body's extensions and trailers are over %zu bytes (send fewer)", fr->lim.max_header);
   return false;
}

/* The request is read whole: hand it over with its bytes; what follows stays for the next. */
static void dispatch(Conn *c) {
   HttpFront *fr = c->fr;
   HttpReq *req = c->req;
   size_t body_end = c->chunked ? c->body_end : c->head_end + (size_t)c->clen;
   size_t next = c->chunked ? c->raw_at : body_end;
   req->body = (uint32_t)c->head_end;
   req->body_len = (uint32_t)(body_end - c->head_end);
   Sbuf tmp = req->buf;
   req->buf = c->in;
   c->in = tmp;
   c->in.len = 0;
   if (next < req->buf.len) {
      in_reserve(c, req->buf.len - next);
      memcpy(c->in.buf, req->buf.buf + next, req->buf.len - next);
      c->in.len = req->buf.len - next;
   }
   req->buf.len = body_end;
   req->buf.buf[body_end] = '\0';
   c->state = C_BUSY;
   evtimer_del(c->timer);
   if (fr->draining)
      req->close = true;
   if (fr->st.inflight >= fr->lim.max_inflight) {
      fr->st.inflight_limit++;
      char *msg = xasprintf("the server is handling %ld requests, its limit; retry after a second", fr->st.inflight);
      Sbuf body = { 0 };
      Reply_error_text(&body, 503, "server_error", NULL, "overloaded", msg);
      free(msg);
      HttpReq_add_header(req, "Retry-After", "1");
      HttpReq_add_header(req, "Content-Type", "application/json");
      HttpReq_reply(req, 503, NULL, body.buf, body.len);
      Sbuf_free(&body);
      return;
   }
   req->inflight = true;
   fr->st.inflight++;
   fr->st.requests++;
   fr->cb(req, fr->arg);
}

/* Follows the input: reads requests and hands them over, one at a time. */
static void process(Conn *c) {
   HttpFront *fr = c->fr;
   c->in_process = true;
   for (;;) {
      switch (c->state) {
      case C_IDLE: {
         /* Blank lines before a request line are allowed (RFC 9112 section 2.2): skip them. */
         size_t k = 0;
         while (k < c->in.len && (c->in.buf[k] == '\r' || c->in.buf[k] == '\n'))
            k++;
         if (k) {
            memmove(c->in.buf, c->in.buf + k, c->in.len - k);
            c->in.len -= k;
         }
         if (!c->in.len || c->out.len - c->out_off > OUTPUT_AHEAD_MAX)
            goto out;
         c->state = C_HEAD;
         c->scan = 0;
         /* The first request's deadline runs from the accept; later ones from their first
          * byte (until then the keep-alive timer ran). */
         if (c->served)
            arm_request(c);
         break;
      }
      case C_HEAD: {
         size_t end = head_end(c);
         if ((end ? end : c->in.len) > fr->lim.max_header) {
            fr->st.header_too_large++;
            refusef(c, 431, "request_header_fields_too_large",
                    "the request line and headers are over %zu bytes (send fewer or shorter headers)",
                    fr->lim.max_header);
            goto out;
         }
         if (!end || !parse_head(c, end))
            goto out;
         c->state = C_BODY;
         break;
      }
      case C_BODY:
         if (c->chunked) {
            if (!dechunk(c) || c->ch_state != CH_DONE)
               goto out;
         } else if (c->in.len - c->head_end < c->clen) {
            goto out;
         }
         dispatch(c);
         break;   /* answered at once: the next request, if sent ahead */
      case C_BUSY:
         if (c->in.len > BUSY_INPUT_MAX && c->reading) {
            event_del(c->rev);
            c->reading = false;
         }
         goto out;
      case C_REJECT:
         fr->st.conn_limit++;
         refuse(c, 503, "too_many_connections", "the server has too many open connections; retry after a second");
         goto out;
      case C_LINGER:
      case C_CLOSING:
         c->in.len = 0;
         goto out;
      }
   }
out:
   c->in_process = false;
}

static void on_read(evutil_socket_t fd, short what, void *arg) {
   (void)what;
   Conn *c = arg;
   HttpFront *fr = c->fr;
   /* Room for what a request may still need, at least READ_MIN; one read per wakeup (the
    * loop is level-triggered: what is left is read on the next pass). */
   if (c->state == C_LINGER || c->state == C_CLOSING)
      c->in.len = 0;
   size_t room = c->in.cap > c->in.len + 1 ? c->in.cap - c->in.len - 1 : 0;
   if (room < READ_MIN) {
      size_t limit = fr->lim.max_header + fr->lim.max_body + 2 * READ_MIN;
      if (c->state == C_BODY && c->chunked)
         limit += fr->lim.max_header;   /* framing bytes not yet decoded */
      in_reserve(c, c->in.len < limit ? READ_MIN : 1);
      room = c->in.cap - c->in.len - 1;
   }
   ssize_t n = recv(fd, c->in.buf + c->in.len, room, 0);
   if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      conn_close(c);
      return;
   }
   if (n < 0)
      return;
   c->in.len += (size_t)n;
   c->last_read = now_s(fr);
   process(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg) {
   (void)fd;
   Conn *c = arg;
   if (what & EV_TIMEOUT)
      c->writing = false;   /* a client not reading its answer */
   if ((what & EV_TIMEOUT) || c->broken || write_out(c) < 0) {
      conn_close(c);
      return;
   }
   if (c->out.len)
      return;
   if (c->state == C_LINGER) {
      shutdown(c->fd, SHUT_WR);
   } else if (c->state == C_CLOSING) {
      /* The answer is out (the write timeout ruled until now): linger as after a refusal. */
      shutdown(c->fd, SHUT_WR);
      c->state = C_LINGER;
      arm(c, LINGER_S);
   } else if (c->state == C_BUSY && c->req && c->req->drained) {
      void (*cb)(void *) = c->req->drained;
      c->req->drained = NULL;
      cb(c->req->drained_arg);
   } else if (c->state == C_IDLE && c->in.len && !c->in_process) {
      process(c);   /* requests sent ahead waited for the output */
   }
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
   (void)fd;
   (void)what;
   Conn *c = arg;
   HttpFront *fr = c->fr;
   switch (c->state) {
   case C_IDLE:
      if (!fr->draining)
         fr->st.idle_timeouts++;
      break;
   case C_HEAD:
   case C_BODY: {
      /* Whole by the deadline, and never silent for the keep-alive time (a stalled body). */
      double now = now_s(fr), left = c->deadline - now, quiet = c->last_read + fr->lim.keepalive_timeout - now;
      if (left > 0.001 && quiet > 0.001) {
         arm(c, left < quiet ? left : quiet);
         return;
      }
      fr->st.request_timeouts++;
      {
         char *msg = left > 0.001 ? xasprintf("the client sent nothing for %.0f s in the middle of a request",
                                              fr->lim.keepalive_timeout)
                                  : xasprintf("the request was not received whole within %.0f s (send it faster)",
                                              fr->lim.request_timeout);
         refuse(c, 408, "request_timeout", msg);
         free(msg);
      }
      break;
   }
   case C_REJECT:
      fr->st.conn_limit++;
      refuse(c, 503, "too_many_connections", "the server has too many open connections; retry after a second");
      break;
   case C_BUSY:
      return;
   case C_LINGER:
   case C_CLOSING:
      break;
   }
   conn_close(c);
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg) {
   (void)lev;
   HttpFront *fr = arg;
   Conn *c = xcalloc(1, sizeof *c);
   c->fr = fr;
   c->fd = fd;
   if (salen > 0 && (size_t)salen <= sizeof c->peer) {
      memcpy(&c->peer, sa, (size_t)salen);
      c->peerlen = (socklen_t)salen;
   }
   c->rev = event_new(fr->base, fd, EV_READ | EV_PERSIST, on_read, c);
   c->wev = event_new(fr->base, fd, EV_WRITE, on_write, c);
   c->timer = evtimer_new(fr->base, on_timer, c);
   event_add(c->rev, NULL);
   c->reading = true;
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
      arm_request(c);
   }
}

/* -- answers -- */

static const char *date_line(HttpFront *fr) {
   struct timeval tv;
   event_base_gettimeofday_cached(fr->base, &tv);
   if (tv.tv_sec != fr->date_sec) {
      struct tm tm;
      time_t t = tv.tv_sec;
      gmtime_r(&t, &tm);
      strftime(fr->date, sizeof fr->date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
      fr->date_sec = tv.tv_sec;
   }
   return fr->date;
}

/* The status line and headers; len is the body's (chunked: streamed with chunks; close: streamed
 * until the connection closes). */
static void put_head(HttpReq *req, Conn *c, int code, const char *reason, size_t len, bool streamed) {
   Sbuf *o = &c->out;
   if (req->fr->draining || !req->keepalive)
      req->close = true;
   put(o, "HTTP/1.1 ", 9);
   put_dec(o, (unsigned)code);
   Sbuf_putc(o, ' ');
   Sbuf_puts(o, reason && *reason && !strpbrk(reason, "\r\n") ? reason : reason_phrase(code));
   put(o, "\r\n", 2);
   put(o, req->oh.buf ? req->oh.buf : "", req->oh.len);
   if (!req->has_date)
      Sbuf_puts(o, date_line(req->fr));
   bool nobody = code == 204 || code == 304 || code < 200;
   if (streamed) {
      req->chunked_out = !req->http10 && !nobody;
      if (req->chunked_out)
         put(o, "Transfer-Encoding: chunked\r\n", 28);
      else if (!nobody)
         req->close = true;   /* the end of the answer is the end of the connection */
   } else if (!nobody) {
      put(o, "Content-Length: ", 16);
      if (req->method == HTTP_HEAD && req->head_len[0])
         Sbuf_puts(o, req->head_len);
      else
         put_dec(o, len);
      put(o, "\r\n", 2);
   }
   if (req->close)
      put(o, "Connection: close\r\n\r\n", 21);
   else if (req->http10)
      put(o, "Connection: keep-alive\r\n\r\n", 26);
   else
      put(o, "\r\n", 2);
}

/* The daemon is done with req: the connection goes on to the next request or closes. */
static void req_end(HttpReq *req) {
   HttpFront *fr = req->fr;
   Conn *c = req->c;
   if (req->inflight) {
      req->inflight = false;
      fr->st.inflight--;
   }
   if (!c) {
      req_free(req);
      check_drained(fr);
      return;
   }
   c->req = NULL;
   bool close_after = req->close;
   if (c->spare)
      req_free(c->spare);
   c->spare = req;
   if (close_after) {
      c->state = C_CLOSING;
      c->in.len = 0;
   } else {
      c->state = C_IDLE;
      c->served = true;
      arm(c, fr->lim.keepalive_timeout);
      if (!c->reading) {
         event_add(c->rev, NULL);
         c->reading = true;
      }
   }
   flush(c);
   /* What the client sent ahead: followed from the loop, not from inside the daemon's call
    * (unless that call came from process(), which goes on by itself). */
   if (c->state == C_IDLE && c->in.len && !c->in_process && !c->writing)
      event_active(c->wev, EV_WRITE, 0);
   check_drained(fr);
}

void HttpReq_reply(HttpReq *req, int code, const char *reason, const void *body, size_t len) {
   Conn *c = req->c;
   if (c && !req->streaming) {
      put_head(req, c, code, reason, len, false);
      if (req->method != HTTP_HEAD && code >= 200 && code != 204 && code != 304)
         put(&c->out, body, len);
   }
   req_end(req);
}

void HttpReq_reply_start(HttpReq *req, int code, const char *reason) {
   Conn *c = req->c;
   if (req->streaming)
      return;
   req->streaming = true;
   if (!c)
      return;
   put_head(req, c, code, reason, 0, true);
   flush(c);
}

void HttpReq_reply_chunk(HttpReq *req, const void *p, size_t n) {
   Conn *c = req->c;
   if (!c || !req->streaming || !n || req->method == HTTP_HEAD)
      return;
   if (req->chunked_out) {
      put_hex(&c->out, n);
      put(&c->out, "\r\n", 2);
      put(&c->out, p, n);
      put(&c->out, "\r\n", 2);
   } else {
      put(&c->out, p, n);
   }
   if (!c->writing)
      flush(c);
}

void HttpReq_reply_chunk_cb(HttpReq *req, const void *p, size_t n, void (*drained)(void *), void *arg) {
   req->drained = drained;
   req->drained_arg = arg;
   HttpReq_reply_chunk(req, p, n);
   if (req->c && drained && !req->c->writing)
      event_active(req->c->wev, EV_WRITE, 0);
}

void HttpReq_reply_end(HttpReq *req) {
   Conn *c = req->c;
   if (c) {
      if (!req->streaming)
         put_head(req, c, 200, NULL, 0, false);   /* ended with nothing said: an empty answer */
      else if (req->chunked_out && req->method != HTTP_HEAD)
         put(&c->out, "0\r\n\r\n", 5);
      req->drained = NULL;
   }
   req_end(req);
}

void HttpReq_abort(HttpReq *req) {
   if (req->c) {
      req->close = true;
      req->drained = NULL;
   }
   req_end(req);
}

size_t HttpReq_pending(const HttpReq *req) {
   return req->c ? req->c->out.len - req->c->out_off : 0;
}

bool HttpReq_add_header(HttpReq *req, const char *name, const char *value) {
   if (!name || !value || !*name || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
      return false;
   size_t nl = strlen(name);
   switch (nl) {
   case 4:
      if (strcasecmp(name, "date") == 0)
         req->has_date = true;
      break;
   case 10:
      if (strcasecmp(name, "connection") == 0) {
         req->close |= has_token(value, "close");
         return true;
      }
      break;
   case 14:
      if (strcasecmp(name, "content-length") == 0) {
         /* The front end frames every answer itself; only a HEAD answer may say the length
          * of the body it does not carry (RFC 9110 section 8.6), a plain decimal. */
         size_t vl = strlen(value);
         if (req->method == HTTP_HEAD && vl && vl < sizeof req->head_len && strspn(value, "0123456789") == vl)
            memcpy(req->head_len, value, vl + 1);
         return true;
      }
      break;
   case 17:
      if (strcasecmp(name, "transfer-encoding") == 0)
         return true;
      break;
   }
   put(&req->oh, name, nl);
   put(&req->oh, ": ", 2);
   Sbuf_puts(&req->oh, value);
   put(&req->oh, "\r\n", 2);
   return true;
}

bool HttpReq_has_header(const HttpReq *req, const char *name) {
   size_t nl = strlen(name);
   const char *p = req->oh.buf, *end = p ? p + req->oh.len : NULL;
   while (p && p < end) {
      if ((size_t)(end - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0)
         return true;
      p = memchr(p, '\n', (size_t)(end - p));
      p = p ? p + 1 : NULL;
   }
   return false;
}

/* -- the request -- */

HttpMethod HttpReq_method(const HttpReq *req) {
   return req->method;
}

const char *HttpReq_method_name(const HttpReq *req) {
   return methods[__builtin_ctz(req->method)].name;
}

const char *HttpReq_path(const HttpReq *req) {
   return req->buf.buf + req->path;
}

const char *HttpReq_query(const HttpReq *req) {
   return req->query == UINT32_MAX ? NULL : req->buf.buf + req->query;
}

const char *HttpReq_header(const HttpReq *req, const char *name) {
   for (size_t i = 0; i < req->nhdr; i++) {
      if (strcasecmp(req->buf.buf + req->hdr[i].name, name) == 0)
         return req->buf.buf + req->hdr[i].value;
   }
   return NULL;
}

bool HttpReq_header_at(const HttpReq *req, size_t i, const char **name, const char **value) {
   if (i >= req->nhdr)
      return false;
   *name = req->buf.buf + req->hdr[i].name;
   *value = req->buf.buf + req->hdr[i].value;
   return true;
}

const char *HttpReq_body(const HttpReq *req, size_t *len) {
   *len = req->body_len;
   return req->buf.buf + req->body;
}

const struct sockaddr *HttpReq_peer(const HttpReq *req) {
   if (!req->c || !req->c->peerlen || req->c->peer.ss_family == AF_UNIX)
      return NULL;
   return (const struct sockaddr *)&req->c->peer;
}

bool HttpReq_connected(const HttpReq *req) {
   return req->c != NULL;
}

bool HttpFront_on_close(HttpFront *fr, HttpReq *req, void (*cb)(void *), void *arg) {
   (void)fr;
   if (!req->c)
      return false;
   req->on_close = cb;
   req->on_close_arg = arg;
   return true;
}

/* -- listening -- */

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
   if (!fr->draining)
      set_listeners(fr, true);
}

static void on_accept_error(struct evconnlistener *lev, void *arg) {
   (void)lev;
   int err = errno;
   HttpFront *fr = arg;
   /* Out of descriptors (or memory): accept() fails at once as long as the listener is ready,
    * so stop watching it for a while instead of spinning. Other errors: the same, briefly. */
   bool starved = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
   set_listeners(fr, false);
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

HttpFront *HttpFront_new(struct event_base *base, const char *name, const HttpLimits *lim,
                         void (*cb)(HttpReq *, void *), void *arg) {
   HttpFront *fr = xcalloc(1, sizeof *fr);
   fr->base = base;
   fr->name = xstrdup(name);
   fr->lim = *lim;
   fr->cb = cb;
   fr->arg = arg;
   fr->last_pause_log = -1e9;
   fr->date_sec = -1;
   fr->resume = evtimer_new(base, on_resume, fr);
   return fr;
}

static void adopt(HttpFront *fr, struct evconnlistener *lev) {
   evconnlistener_set_error_cb(lev, on_accept_error);
   fr->lev[fr->nlev++] = lev;
}

bool HttpFront_listen_fd(HttpFront *fr, evutil_socket_t fd, char **err) {
   struct evconnlistener *lev =
      fr->nlev < MAX_LISTENERS ? evconnlistener_new(fr->base, on_accept, fr, LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_CLOSE_ON_FREE,
                                                    0, fd)
                               : NULL;
   if (!lev) {
      *err = xasprintf("cannot serve HTTP on descriptor %d", (int)fd);
      return false;
   }
   adopt(fr, lev);
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
      evconnlistener_new_bind(fr->base, on_accept, fr, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_CLOSE_ON_FREE,
                              511, ai->ai_addr, (int)ai->ai_addrlen);
   int bind_errno = errno;
   evutil_freeaddrinfo(ai);
   if (!lev) {
      *err = xasprintf("cannot listen on %s:%d: %s (is another server running there? choose another --listen address)",
                       host, port, strerror(bind_errno));
      return false;
   }
   adopt(fr, lev);
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
         c->req->close = true;
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
   /* The connections go with their requests, telling no one: the daemon is past caring. */
   fr->done = NULL;
   while (fr->conns) {
      Conn *c = fr->conns;
      if (c->req) {
         c->req->on_close = NULL;
         c->req->c = NULL;
         req_free(c->req);
         c->req = NULL;
      }
      conn_close(c);
   }
   for (int i = 0; i < fr->nlev; i++)
      evconnlistener_free(fr->lev[i]);
   event_free(fr->resume);
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
