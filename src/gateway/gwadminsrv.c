/* gwadminsrv.c - the gateway's admin API server (the /admin/ endpoints): routes read and
 * changed through the route writer (every change gate-checked), stats, the canary analysis'
 * state, samples and export. The admin *client* the CLI and console use is gwadmin.c. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/jsonscan.h"
#include "common/taskname.h"
#include "common/util.h"
#include "gateway/canary.h"
#include "gateway/gateway_private.h"
#include "gateway/gwexport.h"
#include "gateway/gwstats.h"
#include "gateway/route.h"
#include "gateway/routewriter.h"
#include "http/httpreply.h"
#include "store/store.h"

/* ---- admin API ---- */

static bool is_loopback(HttpReq *req) {
   const struct sockaddr *sa = HttpReq_peer(req);
   if (!sa)
      return false;
   if (sa->sa_family == AF_INET)
      return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
   if (sa->sa_family == AF_INET6) {
      const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
      return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
   }
   return false;
}

static bool admin_allowed(Gateway *gw, HttpReq *req) {
   if (!gw->admin_token) {
      Reply_error(req, 403, "permission_error", NULL, NULL, "%s",
                 "the admin API is off: start the gateway with --admin-token-file FILE or OFFRAMP_ADMIN_TOKEN");
      return false;
   }
   if (!gw->cfg->admin_remote && !is_loopback(req)) {
      Reply_error(req, 403, "permission_error", NULL, NULL, "%s", "the admin API answers loopback clients only (see --admin-remote)");
      return false;
   }
   const char *auth = header(req, "Authorization");
   if (!auth || !str_startswith(auth, "Bearer ") || !token_equal(gw->admin_token, auth + 7)) {
      HttpReq_add_header(req, "WWW-Authenticate", "Bearer");
      Reply_error(req, 401, "authentication_error", NULL, NULL, "%s",
                 "the admin API needs 'Authorization: Bearer TOKEN' with the gateway's admin token");
      return false;
   }
   return true;
}

static json_t *routes_json(Gateway *gw) {
   json_t *a = json_array();
   for (int i = 0; i < gw->n_routes; i++)
      json_array_append_new(a, Route_to_json(gw->routes[i]));
   return json_pack("{s:o, s:s?}", "routes", a, "default_upstream", gw->cfg->upstream);
}

/* A reason longer than this is not a reason but a payload: route_events keeps every one. */
#define ADMIN_REASON_MAX 1024
#define ADMIN_ACTOR_MAX 128

/* Whether s[0..n) is UTF-8 without NUL or control bytes: what the audit trail and the
 * console can show on one line, and what jansson accepts when the history is read back. */
static bool admin_text_ok(const char *s, size_t n) {
   for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)s[i];
      if (c < 0x20 || c == 0x7f)
         return false;
   }
   char *clean = Utf8_clean(s, n);
   bool same = strlen(clean) == n && memcmp(clean, s, n) == 0;
   free(clean);
   return same;
}

/* A client-supplied text for the audit trail (reason, actor), checked; false with *err. */
static bool admin_text_check(const char *what, const char *s, size_t max, char **err) {
   size_t n = strlen(s);
   if (n > max) {
      *err = xasprintf("the %s is %zu bytes long; the limit is %zu (say why in a sentence, link to the rest)",
                       what, n, max);
      return false;
   }
   if (!admin_text_ok(s, n)) {
      *err = xasprintf("the %s must be UTF-8 text on one line, without control characters", what);
      return false;
   }
   return true;
}

/* The task of an admin route URL (the raw, still percent-encoded segment), decoded and checked
 * as the data plane checks X-Offramp-Task, plus what decoding can bring in: a NUL (%00) and
 * bytes that are not UTF-8. NULL with *err saying why. */
static char *admin_task(const char *seg, size_t n, char **err) {
   char *raw = xstrndup(seg, n);
   size_t len = 0;
   char *task = evhttp_uridecode(raw, 0, &len);
   free(raw);
   if (!task) {
      *err = xstrdup("the task in the URL is not valid percent-encoding");
      return NULL;
   }
   if (len > 256)
      *err = xasprintf("the task name in the URL is %zu bytes long; task names are 1 to 64 characters "
                       "(e.g. ticket-intent)", len);
   else if (memchr(task, '\0', len))
      *err = xstrdup("the task name in the URL holds a NUL byte (%00); task names are letters, digits, "
                     "'-', '_' or '.'");
   else if (!admin_text_ok(task, len))
      *err = xstrdup("the task name in the URL is not UTF-8 text; task names are letters, digits, "
                     "'-', '_' or '.'");
   else if (Task_name_valid(task, err))
      return task;
   free(task);
   return NULL;
}

/* A route change waiting for the route writer: validated, answered once saved. Changes are
 * saved one at a time, in order, so a rollback starts from the route the changes before it
 * left. */
typedef struct AdminChange {
   HttpReq *req;
   char *task;
   bool rollback;
   char *to;                  /* rollback: the mode to go to */
   Route *route;              /* set: the new route */
   char *actor, *reason;
   bool force;                /* past unmet gate checks: the admin token holder's call, recorded */
   struct AdminChange *next;
} AdminChange;

typedef struct AdminWork {
   RouteWriter *rw;
   AdminChange *head, *tail;  /* waiting for their turn */
   int changes;               /* waiting or being saved */
   AdminChange *saving;       /* the one with the route writer */
   GwExport *exports[4];      /* exports being streamed; more at once are refused (503) */
} AdminWork;

/* Route changes beyond this many waiting for a locked workspace are refused (503) rather
 * than piled up. */
#define ADMIN_CHANGES_MAX 64

static void admin_change_free(AdminChange *c) {
   free(c->task);
   free(c->to);
   Route_unref(c->route);
   free(c->actor);
   free(c->reason);
   free(c);
}

/* Every admin answer given after its request's callback counts in admin_pending meanwhile, so
 * a drain waits for it (and its thread) even when the client has left. */
static void admin_answered(Gateway *gw) {
   gw->admin_pending--;
   Gateway_maybe_exit(gw);
}

static void admin_change_done(Gateway *gw, AdminChange *c) {
   gw->work->changes--;
   admin_change_free(c);
   admin_answered(gw);
}

static void admin_next_change(Gateway *gw);

static void on_route_saved(RouteSave *s, void *arg) {
   Gateway *gw = arg;
   AdminChange *c = s->arg;
   gw->work->saving = NULL;
   if (s->ok) {
      Gateway_route_put(gw, Route_ref(s->route));
      fprintf(stderr, "offramp gateway: route %s %s: mode %s\n", c->task, c->rollback ? "rolled back" : "set",
              Route_mode_name(s->route->mode));
      if (s->verdict.forced)
         fprintf(stderr, "offramp gateway: route %s forced past %d unmet gate check%s by %s: %s\n", c->task,
                 s->verdict.n, s->verdict.n == 1 ? "" : "s", s->actor, s->reason);
      Reply_json(c->req, 200, json_pack("{s:o, s:b, s:s}", "route", Route_to_json(s->route), "forced", s->verdict.forced,
                                        "phase", s->verdict.known ? s->verdict.phase : ""));
   } else if (s->verdict.refused) {
      /* OpenAI's error shape, with the unmet checks listed in the message and as data. */
      const char *msg = s->verdict.refusal;
      json_t *e = json_pack("{s:s, s:s, s:n, s:s}", "message", "", "type", "invalid_request_error", "param", "code",
                            "gate_closed");
      json_object_set_new(e, "message", Json_textz(msg));
      json_object_set(e, "missing", s->verdict.missing);
      Reply_json(c->req, 409, json_pack("{s:o}", "error", e));
   } else if (s->busy) {
      HttpReq_add_header(c->req, "Retry-After", "1");
      Reply_error(c->req, 503, NULL, NULL, "workspace_locked",
                  "route %s not changed: %s; another process held the workspace's write lock through the whole "
                  "busy timeout (an 'offramp' command or a sqlite3 session in a transaction?): retry",
                  c->task, s->err);
   } else {
      Reply_error(c->req, 500, NULL, NULL, NULL, "route %s not changed: %s", c->task, s->err);
   }
   RouteSave_free(s);
   admin_change_done(gw, c);
   admin_next_change(gw);
}

/* Hands the next waiting change to the route writer, unless one is being saved. */
static void admin_next_change(Gateway *gw) {
   AdminWork *w = gw->work;
   while (!w->saving && w->head) {
      AdminChange *c = w->head;
      w->head = c->next;
      if (!w->head)
         w->tail = NULL;
      Route *r = c->route;
      c->route = NULL;
      if (c->rollback) {
         /* Rollback = every request to the stable arm now; the rest of the route is kept.
          * "shadow" (Argo's abort) keeps mirroring to the candidate so its comparisons go on. */
         Route *old = Gateway_route_for_task(gw, c->task);
         char *err = NULL;
         if (old) {
            json_t *now = Route_to_json(old);
            json_object_set_new(now, "mode", json_string(c->to ? c->to : "passthrough"));
            r = Route_from_json(c->task, now, &err);
            json_decref(now);
         }
         if (!r) {
            if (old)
               Reply_error(c->req, 500, NULL, NULL, NULL, "route %s: %s", c->task, err);
            else
               Reply_error(c->req, 404, "not_found_error", NULL, NULL, "no route for task %s to roll back", c->task);
            free(err);
            admin_change_done(gw, c);
            continue;
         }
      }
      RouteSave *s = xcalloc(1, sizeof *s);
      s->route = r;
      s->kind = c->rollback ? "rollback" : "set";
      s->actor = c->actor;
      s->reason = c->reason;
      s->force = c->force;
      c->actor = c->reason = NULL;
      s->arg = c;
      w->saving = c;
      RouteWriter_submit(w->rw, s);
   }
}

static void admin_route_change(Gateway *gw, HttpReq *req, const char *task, bool rollback,
                               struct evkeyvalq *q) {
   Route *r = NULL;
   char *err = NULL, *to_mode = NULL;
   size_t len;
   const char *body = HttpReq_body(req, &len);
   size_t blank = 0;
   while (blank < len && strchr(" \t\r\n", body[blank]))
      blank++;
   if (blank == len && !rollback) {
      /* An empty PUT used to reset the route to its defaults: a lost body must not do that. */
      Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s",
                  "the body is empty: PUT a route object, e.g. {\"mode\":\"passthrough\"} (see design.md's route)");
      return;
   }
   json_error_t je;
   json_t *j = blank == len ? json_object() : json_loadb(body, len, 0, &je);
   if (!j) {
      Reply_error(req, 400, "invalid_request_error", NULL, NULL, "the body is not valid JSON: %s (line %d, column %d)",
                  je.text, je.line, je.column);
      return;
   }
   /* The reason is copied: the body's string dies with the body, before Route_save runs. */
   json_t *jreason = json_object_get(j, "reason");
   const char *qreason = evhttp_find_header(q, "reason");
   const char *actor = header(req, "X-Offramp-Actor");
   if (!actor || !*actor)
      actor = "admin-api";
   char *reason = NULL;
   if (!qreason && jreason && !json_is_string(jreason))
      err = xstrdup("reason must be a string");
   else
      reason = xstrdup(qreason ? qreason : jreason ? json_string_value(jreason) : "");
   /* force: past unmet gate checks, only with a reason for the record. */
   json_t *jforce = json_object_get(j, "force");
   const char *qforce = evhttp_find_header(q, "force");
   bool force = json_is_true(jforce) || (qforce && str_eq(qforce, "1"));
   if (!err && jforce && !json_is_boolean(jforce))
      err = xstrdup("force must be true or false");
   else if (!err && qforce && !str_eq(qforce, "0") && !str_eq(qforce, "1"))
      err = xasprintf("force=%s in the query: use force=1 (or leave it out)", qforce);
   else if (!err && force && (!reason || !*str_trim(reason)))
      err = xstrdup("force needs a reason: say why the gates are overridden (\"reason\":\"...\"), it is recorded");
   if (err || !admin_text_check("reason", reason, ADMIN_REASON_MAX, &err) ||
       !admin_text_check("X-Offramp-Actor header", actor, ADMIN_ACTOR_MAX, &err)) {
      Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", err);
      free(err);
      free(reason);
      json_decref(j);
      return;
   }
   if (rollback) {
      const char *to = json_string_value(json_object_get(j, "mode"));
      if (to && !str_eq(to, "passthrough") && !str_eq(to, "shadow")) {
         Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "a rollback goes to mode passthrough (default) or shadow");
         free(reason);
         json_decref(j);
         return;
      }
      to_mode = to ? xstrdup(to) : NULL;
   } else {
      json_object_del(j, "reason");
      json_object_del(j, "force");
      r = Route_from_json(task, j, &err);
      if (!r) {
         Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", err);
         free(err);
         free(reason);
         json_decref(j);
         return;
      }
   }
   json_decref(j);
   if (r && !Route_key_envs_allowed(r, gw->key_envs, gw->n_key_envs, &err)) {
      Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", err);
      free(err);
      Route_unref(r);
      free(reason);
      return;
   }
   if (!gw->work)
      gw->work = xcalloc(1, sizeof *gw->work);
   AdminWork *w = gw->work;
   char *werr = NULL;
   if (!w->rw && !(w->rw = RouteWriter_start(gw->cfg->workspace, gw->cfg->gates, gw->base, on_route_saved, gw, &werr))) {
      Reply_error(req, 500, NULL, NULL, NULL, "route %s not changed: %s", task, werr);
      free(werr);
   } else if (w->changes >= ADMIN_CHANGES_MAX) {
      HttpReq_add_header(req, "Retry-After", "5");
      Reply_error(req, 503, NULL, NULL, "workspace_locked",
                  "route %s not changed: %d route changes are already waiting for the workspace's write lock; "
                  "retry later", task, w->changes);
   } else {
      AdminChange *c = xcalloc(1, sizeof *c);
      c->req = req;
      c->task = xstrdup(task);
      c->rollback = rollback;
      c->to = to_mode;
      c->route = r;
      c->actor = xstrdup(actor);
      c->reason = reason;
      c->force = force;
      if (w->tail)
         w->tail->next = c;
      else
         w->head = c;
      w->tail = c;
      w->changes++;
      gw->admin_pending++;
      admin_next_change(gw);
      return;
   }
   free(to_mode);
   Route_unref(r);
   free(reason);
}

/* The kinds of /admin/samples, each with the partial index (schema 8) that holds its rows by
 * task, newest last: a task's newest samples are a seek, never a scan of the table. */
static const struct {
   const char *kind, *index, *cond;
} sample_kinds[] = {
   { "disagree", "exchanges_disagree", "agree = 0" },
   { "agree", "exchanges_agree", "agree = 1" },
   { "fallback", "exchanges_fallback", "arm = 'fallback'" },
   { "error", "exchanges_error", "(status IS NULL OR status >= 400)" },
};

#define SAMPLES_MAX 1000

static int id_newest_first(const void *a, const void *b) {
   long long x = *(const long long *)a, y = *(const long long *)b;
   return x < y ? 1 : x > y ? -1 : 0;
}

/* The ids of the newest limit records of sample kind k, newest first: a seek in the kind's
 * index per task (the one asked for, else each task and the unattributed), merged. One walk
 * of the index in id order would read every entry of the kind and sort them. */
static int sample_ids(Store *st, size_t k, const char *task, const char *since, long limit, long long **out,
                      size_t *n) {
   sqlite3_stmt *tasks = Store_prepare(st, task ? "SELECT id FROM tasks WHERE name = ?1"
                                                : "SELECT id FROM tasks UNION ALL SELECT NULL");
   if (task)
      sqlite3_bind_text(tasks, 1, task, -1, SQLITE_STATIC);
   char *sql = xasprintf("SELECT id FROM exchanges INDEXED BY %s WHERE %s AND task_id IS ?1"
                         " AND (?2 IS NULL OR ts >= ?2) ORDER BY id DESC LIMIT ?3",
                         sample_kinds[k].index, sample_kinds[k].cond);
   sqlite3_stmt *s = Store_prepare(st, sql);
   free(sql);
   if (since)
      sqlite3_bind_text(s, 2, since, -1, SQLITE_STATIC);
   sqlite3_bind_int64(s, 3, limit);
   long long *ids = NULL;
   size_t len = 0, cap = 0;
   int rc;
   while ((rc = sqlite3_step(tasks)) == SQLITE_ROW) {
      sqlite3_bind_value(s, 1, sqlite3_column_value(tasks, 0));
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
         if (len == cap) {
            cap = cap ? cap * 2 : 64;
            ids = xrealloc(ids, cap * sizeof *ids);
         }
         ids[len++] = sqlite3_column_int64(s, 0);
      }
      sqlite3_reset(s);
      if (rc != SQLITE_DONE)
         break;
      if (len > 2 * (size_t)limit) {
         qsort(ids, len, sizeof *ids, id_newest_first);
         len = (size_t)limit;
      }
   }
   sqlite3_finalize(s);
   sqlite3_finalize(tasks);
   if (len)
      qsort(ids, len, sizeof *ids, id_newest_first);
   *out = ids;
   *n = len < (size_t)limit ? len : (size_t)limit;
   return rc;
}

static void admin_samples(Gateway *gw, HttpReq *req, struct evkeyvalq *q) {
   const char *task = evhttp_find_header(q, "task"), *kind = evhttp_find_header(q, "kind");
   const char *since = evhttp_find_header(q, "since"), *limit_s = evhttp_find_header(q, "limit");
   long limit = 20;
   if (limit_s && (!parse_long(limit_s, &limit) || limit < 1 || limit > SAMPLES_MAX)) {
      Reply_error(req, 400, "invalid_request_error", NULL, NULL,
                  "limit must be a whole number from 1 to %d (use /admin/export for more)", SAMPLES_MAX);
      return;
   }
   kind = kind ? kind : "disagree";
   size_t k = 0;
   while (k < ARRAY_SIZE(sample_kinds) && !str_eq(kind, sample_kinds[k].kind))
      k++;
   if (k == ARRAY_SIZE(sample_kinds)) {
      Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "kind must be disagree, agree, fallback or error");
      return;
   }
   json_t *samples = json_array();
   long long *ids = NULL;
   size_t n = 0;
   int rc = sample_ids(gw->st, k, task, since, limit, &ids, &n);
   sqlite3_stmt *s = Store_prepare(gw->st, "SELECT record FROM exchanges WHERE id = ?");
   for (size_t i = 0; rc == SQLITE_DONE && i < n; i++) {
      sqlite3_bind_int64(s, 1, ids[i]);
      if (sqlite3_step(s) == SQLITE_ROW) {
         json_t *rec = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
         if (rec)
            json_array_append_new(samples, rec);
      }
      rc = sqlite3_reset(s) == SQLITE_OK ? SQLITE_DONE : SQLITE_ERROR;
   }
   sqlite3_finalize(s);
   free(ids);
   if (rc != SQLITE_DONE) {
      char *msg = Store_errmsg(gw->st, "reading exchanges");
      Reply_error(req, 500, NULL, NULL, NULL, "%s", msg);
      free(msg);
      json_decref(samples);
      return;
   }
   Reply_json(req, 200, json_pack("{s:o, s:s, s:o}", "task", Json_textz(task), "kind", kind, "samples", samples));
}

static void on_export_done(GwExport *ex, void *arg) {
   Gateway *gw = arg;
   for (size_t i = 0; i < ARRAY_SIZE(gw->work->exports); i++) {
      if (gw->work->exports[i] == ex)
         gw->work->exports[i] = NULL;
   }
   GwExport_free(ex);
   admin_answered(gw);
}

static void admin_export(Gateway *gw, HttpReq *req, struct evkeyvalq *q) {
   const char *task = evhttp_find_header(q, "task"), *since = evhttp_find_header(q, "since");
   const char *limit_s = evhttp_find_header(q, "limit");
   long limit = -1;
   if (limit_s && (!parse_long(limit_s, &limit) || limit < 1)) {
      Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", "limit must be a whole number of at least 1");
      return;
   }
   if (!gw->work)
      gw->work = xcalloc(1, sizeof *gw->work);
   AdminWork *w = gw->work;
   size_t slot = 0;
   while (slot < ARRAY_SIZE(w->exports) && w->exports[slot])
      slot++;
   if (slot == ARRAY_SIZE(w->exports)) {
      HttpReq_add_header(req, "Retry-After", "10");
      Reply_error(req, 503, NULL, NULL, NULL, "%zu exports are already running; retry when one has finished",
                  ARRAY_SIZE(w->exports));
      return;
   }
   char *err = NULL;
   w->exports[slot] = GwExport_start(req, gw->base, gw->cfg->workspace, task, since, limit, on_export_done, gw, &err);
   if (!w->exports[slot]) {
      Reply_error(req, 500, NULL, NULL, NULL, "cannot export: %s", err);
      free(err);
      return;
   }
   gw->admin_pending++;
}

/* At exit: the front end has freed the requests; what is left of the admin work is ours to free. */
void GwAdminSrv_free(Gateway *gw) {
   AdminWork *w = gw->work;
   if (!w)
      return;
   RouteWriter_stop(w->rw);
   if (w->saving)
      admin_change_free(w->saving);
   for (size_t i = 0; i < ARRAY_SIZE(w->exports); i++)
      GwExport_free(w->exports[i]);
   while (w->head) {
      AdminChange *c = w->head;
      w->head = c->next;
      admin_change_free(c);
   }
   free(w);
   gw->work = NULL;
}

/* The route writer, started at the first save (an admin change or the analysis'). */
RouteWriter *GwAdminSrv_route_writer(void *arg, char **err) {
   Gateway *gw = arg;
   if (!gw->work)
      gw->work = xcalloc(1, sizeof *gw->work);
   if (!gw->work->rw)
      gw->work->rw = RouteWriter_start(gw->cfg->workspace, gw->cfg->gates, gw->base, on_route_saved, gw, err);
   return gw->work->rw;
}

/* GET /admin/rollout/TASK: what the analysis sees and decided. */
static void admin_rollout(Gateway *gw, HttpReq *req, const char *seg) {
   char *err = NULL, *task = admin_task(seg, strlen(seg), &err);
   if (!task) {
      Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", err);
      free(err);
      return;
   }
   json_t *j = Canary_json(gw->canary, task);
   Route *r = Gateway_route_for_task(gw, task);
   if (!j && !r) {
      Reply_error(req, 404, "not_found_error", NULL, NULL,
                  "no route for task %s (set one with 'offramp route set %s ...')", task, task);
   } else {
      if (!j)
         j = json_pack("{s:s, s:s, s:b, s:i, s:[], s:[]}", "task", task, "state", "idle", "active", 0,
                       "failed_checks", 0, "checks", "decisions");
      json_object_set_new(j, "route", Route_to_json(r ? r : gw->fallback_route));
      Reply_json(req, 200, j);
   }
   free(task);
}

void GwAdminSrv_handle(Gateway *gw, HttpReq *req, const char *path, struct evkeyvalq *q) {
   if (!admin_allowed(gw, req))
      return;
   HttpMethod cmd = HttpReq_method(req);
   if (str_eq(path, "/admin/routes") && cmd == HTTP_GET) {
      Reply_json(req, 200, routes_json(gw));
   } else if (str_startswith(path, "/admin/routes/")) {
      /* Split before decoding: an encoded '/' (%2F) is part of a name, not a path step. */
      const char *seg = path + strlen("/admin/routes/");
      const char *slash = strchr(seg, '/');
      bool rollback = slash && str_eq(slash, "/rollback");
      char *err = NULL;
      char *task = admin_task(seg, slash ? (size_t)(slash - seg) : strlen(seg), &err);
      if (!task) {
         Reply_error(req, 400, "invalid_request_error", NULL, NULL, "%s", err);
         free(err);
         return;
      }
      Route *r = Gateway_route_for_task(gw, task);
      if (rollback && cmd == HTTP_POST) {
         admin_route_change(gw, req, task, true, q);
      } else if (!slash && cmd == HTTP_PUT) {
         admin_route_change(gw, req, task, false, q);
      } else if (!slash && cmd == HTTP_GET) {
         json_t *hist = Route_history(gw->st, task);
         if (!r && json_array_size(hist) == 0) {
            json_decref(hist);
            char *msg = xasprintf("no route for task %s (set one with 'offramp route set %s ...')", task, task);
            Reply_error(req, 404, "not_found_error", NULL, NULL, "%s", msg);
            free(msg);
         } else {
            Reply_json(req, 200, json_pack("{s:o, s:o}", "route", r ? Route_to_json(r) : json_null(), "history",
                                          hist));
         }
      } else {
         Reply_error(req, 405, "invalid_request_error", NULL, NULL, "%s",
                    "use GET or PUT /admin/routes/TASK, or POST /admin/routes/TASK/rollback");
      }
      free(task);
   } else if (str_eq(path, "/admin/stats") && cmd == HTTP_GET) {
      const char *task = evhttp_find_header(q, "task");
      json_t *j = GwStats_json(gw->stats, task, mono_seconds()), *a = Canary_json(gw->canary, task);
      if (task) {
         json_t *one = json_array();
         if (a)
            json_array_append_new(one, a);
         a = one;
      }
      json_object_set_new(j, "analysis", a);
      Reply_json(req, 200, j);
   } else if (str_startswith(path, "/admin/rollout/") && cmd == HTTP_GET) {
      admin_rollout(gw, req, path + strlen("/admin/rollout/"));
   } else if (str_eq(path, "/admin/samples") && cmd == HTTP_GET) {
      admin_samples(gw, req, q);
   } else if (str_eq(path, "/admin/export") && cmd == HTTP_GET) {
      admin_export(gw, req, q);
   } else {
      Reply_error(req, 404, "not_found_error", NULL, NULL, "%s", "no such admin endpoint");
   }
}

