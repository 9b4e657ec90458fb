/* upstream.c - libcurl multi on libevent: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to wake it (CURLMOPT_TIMERFUNCTION), the way curl's
 * multi-event.c example does it. Easy handles are pooled; connections are kept by the multi.
 * A kept-alive connection stays registered for reading between calls, so a call on it costs no
 * epoll_ctl: curl opens and closes its connection sockets through us and so never leaves a
 * closed descriptor registered. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event_struct.h>

#include "gateway/upconn.h"
#include "gateway/upstream.h"

/* A runaway upstream must not exhaust the gateway's memory. */
#define BODY_MAX (64L << 20)

/* What the loop knows of one descriptor curl uses. */
typedef struct {
   struct event ev;
   short kind;        /* the registered events (EV_PERSIST included), 0 when not registered */
   bool watched;      /* curl wants to hear of it (between its POLL_IN/OUT and POLL_REMOVE) */
   bool conn;         /* a connection socket opened through open_socket */
} Sock;

struct Upstream {
   struct event_base *base;
   CURLM *multi;
   struct event *timer;
   Sock **socks;                 /* by descriptor */
   int nsocks;
   /* Upstream URLs parsed once: a call hands curl the parsed handle (CURLOPT_CURLU). */
   char **urls;
   CURLU **parsed;
   int nurls;
   bool no_proxy;                /* no proxy variable is set: curl need not look each call */
   CURL **pool;
   int npool, cappool;
   int active;
   int in_cb;                    /* inside on_data: curl is in a callback */
   struct curl_slist *headers;   /* the headers of every call without an Authorization */
   Upconn *lean;                 /* the chat POSTs to plain-http upstreams; NULL: curl for all */
};

struct UpCall {
   bool lean;          /* always false: an UpconnCall starts with true (upconn.h) */
   Upstream *u;
   CURL *easy;
   struct curl_slist *auth_headers;   /* own list when the call carries a key, else NULL */
   UpResult res;
   UpDataFn on_data;
   UpDoneFn on_done;
   void *ud;
   bool checked;
   bool own;           /* the easy handle is this call's own (Upstream_request), not pooled */
   bool stream_any;
   bool in_multi;        /* added to the multi handle */
   bool cancel, failed;
   struct event *later;  /* a deferred add, cancel or failure, pending on the loop */
   double t0;
   char reason[64];
   char errbuf[CURL_ERROR_SIZE];
};
typedef UpCall Call;

static void call_free(Call *c) {
   if (c->later)
      event_free(c->later);
   curl_slist_free_all(c->auth_headers);
   Sbuf_free(&c->res.body);
   Sbuf_free(&c->res.headers);
   free(c);
}

/* A finished call's easy handle goes back to the pool with its options set (the next call
 * changes only the per-call ones; the error buffer belongs to the call being freed), or is
 * cleaned up when it was the call's own. */
static void call_release(Upstream *u, Call *c) {
   CURL *e = c->easy;
   if (c->own) {
      curl_easy_cleanup(e);
   } else {
      curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
      if (u->npool == u->cappool) {
         u->cappool = u->cappool ? 2 * u->cappool : 64;
         u->pool = xrealloc(u->pool, (size_t)u->cappool * sizeof *u->pool);
      }
      u->pool[u->npool++] = e;
   }
   call_free(c);
}

/* Runs fn(c) from the loop as soon as it turns, outside every curl callback (curl refuses
 * calls on its multi handle from inside them). Replaces what was pending. */
static void call_later(Call *c, event_callback_fn fn) {
   static const struct timeval now = { 0, 0 };
   if (c->later)
      event_free(c->later);
   c->later = evtimer_new(c->u->base, fn, c);
   evtimer_add(c->later, &now);
}

static void check_done(Upstream *u) {
   CURLMsg *msg;
   int left;
   while ((msg = curl_multi_info_read(u->multi, &left))) {
      if (msg->msg != CURLMSG_DONE)
         continue;
      CURL *e = msg->easy_handle;
      Call *c;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
      c->res.code = msg->data.result;
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &c->res.status);
      char *ct = NULL;
      curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
      c->res.content_type = ct;
      c->res.ms = (mono_seconds() - c->t0) * 1000.0;
      c->res.reason = c->reason;
      if (c->res.code != CURLE_OK)
         c->res.error = c->errbuf[0] ? c->errbuf : curl_easy_strerror(c->res.code);
      curl_multi_remove_handle(u->multi, e);
      c->in_multi = false;
      u->active--;
      c->on_done(c->ud, &c->res);
      call_release(u, c);
   }
}

static void fail_later(evutil_socket_t fd, short what, void *arg) {
   Call *c = arg;
   event_free(c->later);
   c->later = NULL;
   c->res.reason = c->reason;
   c->on_done(c->ud, &c->res);
   curl_easy_cleanup(c->easy);
   call_free(c);
}

static void add_now(Call *c) {
   Upstream *u = c->u;
   CURLMcode rc = curl_multi_add_handle(u->multi, c->easy);
   if (rc != CURLM_OK) {
      /* Never expected; reported through the normal completion path, from the loop. */
      u->active--;
      c->failed = true;
      c->res.code = CURLE_FAILED_INIT;
      c->res.error = curl_multi_strerror(rc);
      call_later(c, fail_later);
      return;
   }
   c->in_multi = true;
}

static void add_later(evutil_socket_t fd, short what, void *arg) {
   Call *c = arg;
   event_free(c->later);
   c->later = NULL;
   add_now(c);
}

static void cancel_now(evutil_socket_t fd, short what, void *arg) {
   Call *c = arg;
   Upstream *u = c->u;
   event_free(c->later);
   c->later = NULL;
   if (c->in_multi) {
      curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->res.status);
      char *ct = NULL;
      curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct);
      c->res.content_type = ct;
      curl_multi_remove_handle(u->multi, c->easy);
      c->in_multi = false;
   }
   u->active--;
   c->res.cancelled = true;
   c->res.code = CURLE_ABORTED_BY_CALLBACK;
   c->res.error = "cancelled: the client it was for has gone";
   c->res.reason = c->reason;
   c->res.ms = (mono_seconds() - c->t0) * 1000.0;
   c->on_done(c->ud, &c->res);
   call_release(u, c);
}

/* Which client made a call: the first member of both kinds says. */
static bool call_is_lean(const void *call) {
   return *(const bool *)call;
}

void Upstream_cancel(Upstream *u, UpCall *c) {
   (void)u;
   if (call_is_lean(c)) {
      Upconn_cancel((UpconnCall *)(void *)c);
      return;
   }
   if (c->cancel || c->failed)
      return;
   c->cancel = true;
   call_later(c, cancel_now);
}

static Sock *sock_at(Upstream *u, curl_socket_t fd) {
   if (fd >= u->nsocks) {
      int n = u->nsocks ? u->nsocks : 64;
      while (n <= fd)
         n *= 2;
      u->socks = xrealloc(u->socks, (size_t)n * sizeof *u->socks);
      memset(u->socks + u->nsocks, 0, (size_t)(n - u->nsocks) * sizeof *u->socks);
      u->nsocks = n;
   }
   if (!u->socks[fd])
      u->socks[fd] = xcalloc(1, sizeof(Sock));
   return u->socks[fd];
}

static void sock_unregister(Sock *sk) {
   if (sk->kind)
      event_del(&sk->ev);
   sk->kind = 0;
}

static void on_event(evutil_socket_t fd, short what, void *arg) {
   Upstream *u = arg;
   Sock *sk = u->socks[fd];
   if (!sk->watched) {
      /* An idle kept-alive connection turned readable: the upstream closed it (or sent
       * something unasked). curl finds it dead when it next picks it; stop listening. */
      sock_unregister(sk);
      return;
   }
   int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
   int running;
   curl_multi_socket_action(u->multi, fd, action, &running);
   check_done(u);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
   Upstream *u = arg;
   int running;
   curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
   check_done(u);
}

static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
   Upstream *u = userp;
   Sock *sk = sock_at(u, s);
   if (what == CURL_POLL_REMOVE) {
      sk->watched = false;
      /* A connection going back to curl's cache stays registered for reading (its next
       * call then costs no epoll_ctl); anything else, or a write watch, is dropped. */
      if (!sk->conn || (sk->kind & EV_WRITE))
         sock_unregister(sk);
      return 0;
   }
   short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
   sk->watched = true;
   if (sk->kind == kind)
      return 0;
   sock_unregister(sk);
   event_assign(&sk->ev, u->base, s, kind, on_event, u);
   event_add(&sk->ev, NULL);
   sk->kind = kind;
   return 0;
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
   Upstream *u = clientp;
   curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
   if (fd != CURL_SOCKET_BAD) {
      Sock *sk = sock_at(u, fd);
      sk->conn = true;
      sk->watched = false;
   }
   return fd;
}

static int close_socket(void *clientp, curl_socket_t fd) {
   Upstream *u = clientp;
   if (fd < u->nsocks && u->socks[fd]) {
      sock_unregister(u->socks[fd]);
      free(u->socks[fd]);
      u->socks[fd] = NULL;
   }
   return close(fd);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp) {
   Upstream *u = userp;
   if (timeout_ms < 0) {
      evtimer_del(u->timer);
      return 0;
   }
   struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
   evtimer_add(u->timer, &tv);
   return 0;
}

static size_t write_cb(char *p, size_t size, size_t n, void *userp) {
   Call *c = userp;
   size_t len = size * n;
   if (c->on_data && !c->checked) {
      c->checked = true;
      curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->res.status);
      c->res.streamed = c->stream_any || (c->res.status >= 200 && c->res.status < 300);
      char *ct = NULL;
      curl_easy_getinfo(c->easy, CURLINFO_CONTENT_TYPE, &ct);
      c->res.content_type = ct;
      c->res.reason = c->reason;
   }
   if (c->res.streamed && !c->cancel) {
      c->u->in_cb++;
      bool go_on = c->on_data(c->ud, &c->res, p, len);
      c->u->in_cb--;
      if (!go_on)
         return CURL_WRITEFUNC_PAUSE;
   }
   c->res.bytes += (long long)len;
   /* A pass-through body goes to the client only: a large file download is never held. */
   if (c->res.streamed && c->stream_any)
      return len;
   if (c->res.body.len + len > BODY_MAX)
      return 0;
   Sbuf_add(&c->res.body, p, len);
   return len;
}

/* The response's header lines, the final response's only (a 100 Continue comes first). */
static size_t header_cb(char *p, size_t size, size_t n, void *userp) {
   Call *c = userp;
   size_t len = size * n;
   if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
      Sbuf_reset(&c->res.headers);
      /* "HTTP/1.1 429 Too Many Requests\r\n": the reason follows the second space. */
      const char *sp = memchr(p, ' ', len);
      const char *sp2 = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - p)) : NULL;
      size_t r = 0;
      if (sp2) {
         const char *end = p + len;
         while (end > sp2 + 1 && (end[-1] == '\r' || end[-1] == '\n'))
            end--;
         r = (size_t)(end - (sp2 + 1));
         if (r >= sizeof c->reason)
            r = sizeof c->reason - 1;
         memcpy(c->reason, sp2 + 1, r);
         /* It goes into the client's status line: no control bytes. */
         for (size_t i = 0; i < r; i++) {
            if ((unsigned char)c->reason[i] < 0x20 || c->reason[i] == 0x7f)
               c->reason[i] = ' ';
         }
      }
      c->reason[r] = '\0';
      return len;
   }
   if (len > 2 && c->res.headers.len + len <= 65536)
      Sbuf_add(&c->res.headers, p, len);
   return len;
}

Upstream *Upstream_new(struct event_base *base) {
   Upstream *u = xcalloc(1, sizeof *u);
   static const char *const proxy_vars[] = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                             "all_proxy",  "ALL_PROXY",  NULL };
   u->no_proxy = true;
   for (int i = 0; proxy_vars[i]; i++)
      u->no_proxy = u->no_proxy && !getenv(proxy_vars[i]);
   u->base = base;
   u->multi = curl_multi_init();
   u->timer = evtimer_new(base, on_timer, u);
   curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
   curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
   curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
   curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
   /* Keep enough idle connections for a few hundred concurrent requests per upstream. */
   curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 1024L);
   u->headers = curl_slist_append(NULL, "Content-Type: application/json");
   u->headers = curl_slist_append(u->headers, "Expect:");
   /* A proxy variable is for curl to honour (and no_proxy with it); OFFRAMP_UPSTREAM_CLIENT=curl
    * measures or works around the lean client. */
   const char *client = getenv("OFFRAMP_UPSTREAM_CLIENT");
   if (u->no_proxy && !(client && str_eq(client, "curl")))
      u->lean = Upconn_new(base);
   return u;
}

/* A new easy handle with the options every call shares. */
static CURL *easy_new(Upstream *u) {
   CURL *e = curl_easy_init();
   curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
   curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, u);
   curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
   curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, u);
   curl_easy_setopt(e, CURLOPT_POST, 1L);
   curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
   curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
   curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
   curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
   curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
   curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
   if (u->no_proxy)
      curl_easy_setopt(e, CURLOPT_PROXY, "");
   return e;
}

/* The parsed handle of url, made on its first call; NULL when curl cannot parse it (the
 * call then reports curl's own error) or too many URLs came by. A handful of URLs per
 * gateway (the default upstream and the routes' arms): a list is enough. */
#define URLS_MAX 64

static CURLU *parsed_url(Upstream *u, const char *url) {
   for (int i = 0; i < u->nurls; i++) {
      if (str_eq(u->urls[i], url))
         return u->parsed[i];
   }
   CURLU *h = curl_url();
   if (u->nurls == URLS_MAX || curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK) {
      curl_url_cleanup(h);
      return NULL;
   }
   u->urls = xrealloc(u->urls, (size_t)(u->nurls + 1) * sizeof *u->urls);
   u->parsed = xrealloc(u->parsed, (size_t)(u->nurls + 1) * sizeof *u->parsed);
   u->urls[u->nurls] = xstrdup(url);
   u->parsed[u->nurls++] = h;
   return h;
}

/* From inside curl's data callback (a fallback started there) the add waits for the loop. */
static void call_add(Upstream *u, Call *c) {
   u->active++;
   if (u->in_cb)
      call_later(c, add_later);
   else
      add_now(c);
}

UpCall *Upstream_post(Upstream *u, const char *url, const char *auth, const char *body, size_t len, long timeout_ms,
                      UpDataFn on_data, UpDoneFn on_done, void *ud) {
   if (u->lean) {
      UpconnCall *lc = Upconn_post(u->lean, url, auth, body, len, timeout_ms, on_data, on_done, ud);
      if (lc)
         return (UpCall *)(void *)lc;
   }
   Call *c = xcalloc(1, sizeof *c);
   c->u = u;
   c->on_data = on_data;
   c->on_done = on_done;
   c->ud = ud;
   c->res.call = c;
   c->t0 = mono_seconds();
   c->easy = u->npool ? u->pool[--u->npool] : easy_new(u);
   struct curl_slist *headers = u->headers;
   if (auth) {
      /* Only calls with a key pay for their own header list. */
      char *h = xasprintf("Authorization: %s", auth);
      for (struct curl_slist *l = u->headers; l; l = l->next)
         c->auth_headers = curl_slist_append(c->auth_headers, l->data);
      c->auth_headers = curl_slist_append(c->auth_headers, h);
      free(h);
      headers = c->auth_headers;
   }
   CURL *e = c->easy;
   CURLU *parsed = parsed_url(u, url);
   curl_easy_setopt(e, CURLOPT_CURLU, parsed);
   if (!parsed)
      curl_easy_setopt(e, CURLOPT_URL, url);
   curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
   curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
   curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
   curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
   curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
   curl_easy_setopt(e, CURLOPT_PRIVATE, c);
   curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
   curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
   curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
   call_add(u, c);
   return c;
}

void Upstream_request(Upstream *u, const UpRequest *rq, UpDataFn on_data, UpDoneFn on_done, void *ud) {
   Call *c = xcalloc(1, sizeof *c);
   c->u = u;
   c->on_data = on_data;
   c->on_done = on_done;
   c->ud = ud;
   c->own = true;
   c->res.call = c;
   c->stream_any = (rq->flags & UPREQ_STREAM_ANY) != 0;
   c->t0 = mono_seconds();
   CURL *e = c->easy = easy_new(u);
   /* Not through parsed_url: every file id and query would take a slot the routes need. */
   curl_easy_setopt(e, CURLOPT_URL, rq->url);
   bool body = rq->body && rq->len;
   if (str_eq(rq->method, "HEAD")) {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
   } else if (body || str_eq(rq->method, "POST")) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? rq->body : "");
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? rq->len : 0));
   } else {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
   }
   if (!str_eq(rq->method, "GET") && !str_eq(rq->method, "POST") && !str_eq(rq->method, "HEAD"))
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
   curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->headers);
   curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
   curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
   curl_easy_setopt(e, CURLOPT_PRIVATE, c);
   curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
   curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
   curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, rq->timeout_ms < 10000 ? rq->timeout_ms : 10000L);
   call_add(u, c);
}

void Upstream_resume(void *call) {
   if (call_is_lean(call)) {
      Upconn_resume(call);
      return;
   }
   Call *c = call;
   /* curl sets itself a timer to go on, which the loop serves. */
   curl_easy_pause(c->easy, CURLPAUSE_CONT);
}

int Upstream_active(const Upstream *u) {
   return u->active + (u->lean ? Upconn_active(u->lean) : 0);
}

void Upstream_free(Upstream *u) {
   if (!u)
      return;
   Upconn_free(u->lean);
   for (int i = 0; i < u->npool; i++)
      curl_easy_cleanup(u->pool[i]);
   free(u->pool);
   curl_slist_free_all(u->headers);
   curl_multi_cleanup(u->multi);
   for (int i = 0; i < u->nsocks; i++) {
      if (u->socks[i])
         sock_unregister(u->socks[i]);
      free(u->socks[i]);
   }
   free(u->socks);
   for (int i = 0; i < u->nurls; i++) {
      free(u->urls[i]);
      curl_url_cleanup(u->parsed[i]);
   }
   free(u->urls);
   free(u->parsed);
   event_free(u->timer);
   free(u);
}
