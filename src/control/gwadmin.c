/* gwadmin.c - admin API calls over libcurl; the blocking and the polled call share the request
 * setup and the answer decoding. */
#include "config.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/gates.h"
#include "control/gwadmin.h"
#include "control/phase.h"
#include "gateway/route.h"
#include "store/store.h"

struct GwFetch {
   CURLM *multi;
   CURL *e;
   struct curl_slist *h;
   Sbuf out;
   char *url;
   char *gateway;
};

static void global_init(void) {
   static bool done;
   if (!done) {
      curl_global_init(CURL_GLOBAL_DEFAULT);
      done = true;
   }
}

static char *read_token(const char *file) {
   if (!file) {
      const char *env = getenv("OFFRAMP_ADMIN_TOKEN");
      return env && *env ? xstrdup(env) : NULL;
   }
   FILE *fp = fopen(file, "r");
   if (!fp)
      return NULL;
   char buf[512] = "";
   if (!fgets(buf, sizeof buf, fp))
      buf[0] = '\0';
   fclose(fp);
   return xstrdup(str_trim(buf));
}

/* $OFFRAMP_ACTOR / $USER as a header value: a control byte would end the header (or start
 * another), and the gateway refuses actors past 128 bytes. */
static char *actor_header_value(const char *actor) {
   size_t all = strlen(actor), n = all < 128 ? all : 128;
   char *v = xstrndup(actor, n);
   if (n < all) {
      /* Cut at 128 bytes: drop a UTF-8 character the cut split. */
      size_t k = n;
      while (k > 0 && ((unsigned char)v[k - 1] & 0xc0) == 0x80)
         k--;
      if (k > 0 && (unsigned char)v[k - 1] >= 0xc0) {
         unsigned char lead = (unsigned char)v[k - 1];
         size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
         if (n - (k - 1) < need)
            v[k - 1] = '\0';
      }
   }
   for (char *p = v; *p; p++) {
      if ((unsigned char)*p < 0x20 || *p == 0x7f)
         *p = '?';
   }
   return v;
}

bool GwAdmin_init(GwAdmin *a, Store *st, const char *gateway, const char *token_file, char **err) {
   memset(a, 0, sizeof *a);
   char *ws_gateway = NULL, *ws_token_file = NULL;
   if (st) {
      ws_gateway = Store_setting(st, "gateway.url", NULL);
      ws_token_file = Store_setting(st, "gateway.admin_token_file", NULL);
   }
   if (!gateway || !*gateway)
      gateway = getenv("OFFRAMP_GATEWAY");
   if (!gateway || !*gateway)
      gateway = ws_gateway;
   if (!gateway || !*gateway)
      gateway = "http://127.0.0.1:8400";
   const char *env_token = getenv("OFFRAMP_ADMIN_TOKEN");
   if (!token_file && !(env_token && *env_token))
      token_file = ws_token_file;
   size_t n = strlen(gateway);
   a->gateway = xstrndup(gateway, n && gateway[n - 1] == '/' ? n - 1 : n);
   a->token = read_token(token_file);
   a->actor = actor_header_value(Store_actor());
   a->timeout_s = 30;
   bool ok = a->token && *a->token;
   if (!ok) {
      *err = token_file ? xasprintf("cannot read an admin token from %s (put the gateway's admin token in it)", token_file)
                        : xstrdup("no admin token: pass --admin-token-file FILE or set OFFRAMP_ADMIN_TOKEN (the same "
                                  "token the gateway was started with)");
      GwAdmin_clear(a);
   }
   free(ws_gateway);
   free(ws_token_file);
   if (ok)
      global_init();
   return ok;
}

void GwAdmin_clear(GwAdmin *a) {
   free(a->gateway);
   free(a->token);
   free(a->actor);
   memset(a, 0, sizeof *a);
}

static size_t collect(char *p, size_t size, size_t n, void *ud) {
   Sbuf_add(ud, p, size * n);
   return size * n;
}

static CURL *setup(const GwAdmin *a, const char *method, const char *path, const char *body, GwFetch *f) {
   CURL *e = curl_easy_init();
   f->url = xasprintf("%s%s", a->gateway, path);
   f->gateway = xstrdup(a->gateway);
   char *auth = xasprintf("Authorization: Bearer %s", a->token);
   char *actor = xasprintf("X-Offramp-Actor: %s", a->actor);
   f->h = curl_slist_append(NULL, auth);
   f->h = curl_slist_append(f->h, "Content-Type: application/json");
   f->h = curl_slist_append(f->h, actor);
   free(auth);
   free(actor);
   curl_easy_setopt(e, CURLOPT_URL, f->url);
   curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
   curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->h);
   curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
   curl_easy_setopt(e, CURLOPT_WRITEDATA, &f->out);
   curl_easy_setopt(e, CURLOPT_TIMEOUT, a->timeout_s);
   curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
   if (body)
      curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
   f->e = e;
   return e;
}

/* The answer of a finished transfer. */
static json_t *answer(GwFetch *f, CURLcode rc, long *status, char **err) {
   *status = 0;
   curl_easy_getinfo(f->e, CURLINFO_RESPONSE_CODE, status);
   if (rc != CURLE_OK) {
      *err = xasprintf("cannot reach the gateway at %s: %s (is 'offramp gateway' running? see --gateway or "
                       "$OFFRAMP_GATEWAY)", f->gateway, curl_easy_strerror(rc));
      return NULL;
   }
   json_t *j = json_loadb(f->out.buf ? f->out.buf : "", f->out.len, 0, NULL);
   if (!j)
      *err = xasprintf("%s answered HTTP %ld with a body that is not JSON", f->url, *status);
   return j;
}

static void release(GwFetch *f) {
   if (f->multi) {
      curl_multi_remove_handle(f->multi, f->e);
      curl_multi_cleanup(f->multi);
   }
   curl_easy_cleanup(f->e);
   curl_slist_free_all(f->h);
   Sbuf_free(&f->out);
   free(f->url);
   free(f->gateway);
}

json_t *GwAdmin_call(const GwAdmin *a, const char *method, const char *path, const char *body, long *status,
                     char **err) {
   GwFetch f = { 0 };
   CURLcode rc = curl_easy_perform(setup(a, method, path, body, &f));
   json_t *j = answer(&f, rc, status, err);
   release(&f);
   return j;
}

const char *GwAdmin_error_message(const json_t *j) {
   const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
   return m ? m : "(no message)";
}

static json_t *only_ok(json_t *j, long status, char **err) {
   if (j && status != 200) {
      *err = xasprintf("the gateway answered HTTP %ld: %s", status, GwAdmin_error_message(j));
      json_decref(j);
      return NULL;
   }
   return j;
}

json_t *GwAdmin_ok(const GwAdmin *a, const char *method, const char *path, const char *body, char **err) {
   long status;
   json_t *j = GwAdmin_call(a, method, path, body, &status, err);
   return only_ok(j, status, err);
}

bool GwAdmin_phase_rollback(Store *st, const char *task, int to, const char *reason, char **note, char **err) {
   *note = NULL;
   if (!Phase_rollback(st, task, (Phase)to, reason, err))
      return false;
   /* What the phase now allows is what a starting gateway would serve (Gates_serve); a
    * rollback cannot set a canary share, so shadow is the safe side of one. */
   int n = 0;
   char *lerr = NULL;
   Route **all = Route_load_all(st, &n, &lerr);
   free(lerr);
   Route *r = NULL;
   for (int i = 0; i < n; i++) {
      if (!r && str_eq(all[i]->task, task))
         r = Route_ref(all[i]);
      Route_unref(all[i]);
   }
   free(all);
   char *why = NULL;
   Route *served = r ? Gates_serve(st, r, &why) : NULL;
   free(why);
   bool ahead = served && served->mode < r->mode;
   const char *mode = ahead ? Route_mode_name(r->mode) : NULL;
   const char *target = served && served->mode >= ROUTE_SHADOW ? "shadow" : "passthrough";
   Route_unref(served);
   Route_unref(r);
   if (!ahead)
      return true;
   GwAdmin gw;
   char *e = NULL;
   json_t *j = NULL;
   if (GwAdmin_init(&gw, st, NULL, NULL, &e)) {
      char *t = GwAdmin_escape(task), *path = xasprintf("/admin/routes/%s/rollback", t);
      json_t *body = json_pack("{s:s, s:s}", "mode", target, "reason", reason ? reason : "phase rollback");
      char *b = json_dumps(body, JSON_COMPACT);
      j = GwAdmin_ok(&gw, "POST", path, b, &e);
      free(b);
      json_decref(body);
      free(path);
      free(t);
      GwAdmin_clear(&gw);
   }
   if (j)
      *note = xasprintf("route: %s -> %s on the gateway, with the phase", mode, target);
   else
      *note = xasprintf("route: still %s in the workspace; the gateway did not take the rollback (%s): it serves "
                        "what the phase allows when it next starts", mode, e ? e : "no answer");
   json_decref(j);
   free(e);
   return true;
}

char *GwAdmin_escape(const char *s) {
   char *e = curl_easy_escape(NULL, s, 0);
   char *r = xstrdup(e);
   curl_free(e);
   return r;
}

GwFetch *GwFetch_start(const GwAdmin *a, const char *path) {
   GwFetch *f = xcalloc(1, sizeof *f);
   f->multi = curl_multi_init();
   curl_multi_add_handle(f->multi, setup(a, "GET", path, NULL, f));
   return f;
}

bool GwFetch_poll(GwFetch *f, json_t **out, char **err) {
   int running = 0, left;
   *out = NULL;
   curl_multi_perform(f->multi, &running);
   CURLMsg *m = curl_multi_info_read(f->multi, &left);
   if (!m || m->msg != CURLMSG_DONE)
      return false;
   long status;
   json_t *j = answer(f, m->data.result, &status, err);
   *out = only_ok(j, status, err);
   return true;
}

void GwFetch_free(GwFetch *f) {
   if (!f)
      return;
   release(f);
   free(f);
}

/* The current route with the candidate of revision rev (0: the latest earlier revision, not
 * forced, that served another candidate), or NULL with *err; *why: the reason to record. */
static json_t *revert_route(const GwAdmin *a, const char *task, long rev, const char *reason, char **why, char **err) {
   char *t = GwAdmin_escape(task), *path = xasprintf("/admin/routes/%s", t);
   long status;
   json_t *j = GwAdmin_call(a, "GET", path, NULL, &status, err), *out = NULL;
   free(path);
   free(t);
   if (!j)
      return NULL;
   json_t *cur = json_object_get(j, "route"), *hist = json_object_get(j, "history");
   if (status != 200 || !json_is_object(cur)) {
      *err = xasprintf("%s", status == 200 ? "no route to revert" : GwAdmin_error_message(j));
      json_decref(j);
      return NULL;
   }
   json_t *cc = json_object_get(cur, "candidate");
   const char *cur_url = json_string_value(json_object_get(cc, "url"));
   const char *cur_model = json_string_value(json_object_get(cc, "model"));
   size_t n = json_array_size(hist);
   json_t *cand = NULL;
   if (rev > 0) {
      json_t *ev = (size_t)rev <= n ? json_array_get(hist, (size_t)rev - 1) : NULL;
      cand = json_object_get(json_object_get(ev, "new"), "candidate");
      if (!ev)
         *err = xasprintf("%s has %zu route revisions, not %ld (offramp route show %s lists them)", task, n, rev, task);
      else if (!json_is_object(cand))
         *err = xasprintf("revision %ld of %s's route has no candidate to go back to", rev, task);
   } else {
      for (size_t i = n; i-- > 0 && !cand;) {
         json_t *ev = json_array_get(hist, i), *c = json_object_get(json_object_get(ev, "new"), "candidate");
         const char *u = json_string_value(json_object_get(c, "url"));
         const char *m = json_string_value(json_object_get(c, "model"));
         bool other = u && (!cur_url || !str_eq(u, cur_url) || (m == NULL) != (cur_model == NULL) ||
                            (m && !str_eq(m, cur_model)));
         if (other && !json_is_true(json_object_get(ev, "forced"))) {
            cand = c;
            rev = (long)i + 1;
         }
      }
      if (!cand)
         *err = xasprintf("%s's route has served no other candidate: nothing to revert to", task);
   }
   if (json_is_object(cand)) {
      out = json_deep_copy(cur);
      json_object_set(out, "candidate", cand);
      const char *m = json_string_value(json_object_get(cand, "model"));
      *why = xasprintf("revert to revision %ld (%s)%s%s", rev, m ? m : json_string_value(json_object_get(cand, "url")),
                       reason && *reason ? ": " : "", reason && *reason ? reason : "");
   }
   json_decref(j);
   return out;
}

json_t *GwAdmin_revert(const GwAdmin *a, const char *task, long rev, const char *reason, long *status, char **err) {
   char *why = NULL;
   *status = 0;
   json_t *route = revert_route(a, task, rev, reason, &why, err), *j = NULL;
   if (route) {
      char *t = GwAdmin_escape(task), *r = GwAdmin_escape(why);
      char *path = xasprintf("/admin/routes/%s?reason=%s", t, r), *body = json_dumps(route, JSON_COMPACT);
      j = GwAdmin_call(a, "PUT", path, body, status, err);
      free(body);
      free(path);
      free(r);
      free(t);
      json_decref(route);
   }
   free(why);
   return j;
}
