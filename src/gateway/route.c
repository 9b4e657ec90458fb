/* route.c - route model, validation and persistence. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/fingerprint.h"
#include "common/util.h"
#include "gateway/route.h"

static const char *const mode_names[] = {
   [ROUTE_PASSTHROUGH] = "passthrough",
   [ROUTE_SHADOW] = "shadow",
   [ROUTE_CANARY] = "canary",
   [ROUTE_CUTOVER] = "cutover",
};

const char *Route_mode_name(RouteMode m) {
   return mode_names[m];
}

static void arm_free(RouteArm *a) {
   free(a->url);
   free(a->chat_url);
   free(a->model);
   free(a->model_json);
   free(a->key_env);
}

static void strv_free(char **v, int n) {
   for (int i = 0; i < n; i++)
      free(v[i]);
   free(v);
}

Route *Route_ref(Route *r) {
   r->refs++;
   return r;
}

void Route_unref(Route *r) {
   if (!r || --r->refs > 0)
      return;
   free(r->task);
   strv_free(r->aliases, r->n_aliases);
   strv_free(r->fingerprints, r->n_fingerprints);
   arm_free(&r->primary);
   arm_free(&r->candidate);
   free(r->sticky);
   free(r);
}

static bool bad(char **err, const char *task, const char *what) {
   *err = xasprintf("route %s: %s", task, what);
   return false;
}

static bool get_string(const json_t *o, const char *key, char **out, const char *task, const char *where,
                       char **err) {
   json_t *v = json_object_get(o, key);
   if (!v || json_is_null(v))
      return true;
   if (!json_is_string(v) || !*json_string_value(v)) {
      char *m = xasprintf("%s%s must be a non-empty string", where, key);
      bad(err, task, m);
      free(m);
      return false;
   }
   *out = xstrdup(json_string_value(v));
   return true;
}

static bool get_number(const json_t *o, const char *key, double *out, double min, double max,
                       const char *task, const char *where, char **err) {
   json_t *v = json_object_get(o, key);
   if (!v || json_is_null(v))
      return true;
   if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max) {
      char *m = xasprintf("%s%s must be a number from %g to %g", where, key, min, max);
      bad(err, task, m);
      free(m);
      return false;
   }
   *out = json_number_value(v);
   return true;
}

static bool only_keys(const json_t *o, const char *const *keys, const char *task, const char *where,
                      char **err) {
   const char *k;
   json_t *v;
   json_object_foreach((json_t *)o, k, v) {
      bool known = false;
      for (int i = 0; keys[i] && !known; i++)
         known = str_eq(k, keys[i]);
      if (!known) {
         *err = xasprintf("route %s: unknown field %s%s (check the spelling against design.md's route)",
                          task, where, k);
         return false;
      }
   }
   return true;
}

static bool parse_arm(const json_t *j, RouteArm *a, const char *task, const char *name, char **err) {
   if (!j || json_is_null(j))
      return true;
   char where[32];
   snprintf(where, sizeof where, "%s.", name);
   if (!json_is_object(j))
      return bad(err, task, str_eq(name, "primary") ? "primary must be an object {url, model, key_env}"
                                                          : "candidate must be an object {url, model, key_env}");
   static const char *const keys[] = { "url", "model", "key_env", NULL };
   if (!only_keys(j, keys, task, where, err) || !get_string(j, "url", &a->url, task, where, err) ||
       !get_string(j, "model", &a->model, task, where, err) ||
       !get_string(j, "key_env", &a->key_env, task, where, err))
      return false;
   if (a->url) {
      if (!str_startswith(a->url, "http://") && !str_startswith(a->url, "https://")) {
         *err = xasprintf("route %s: %surl '%s' is not an http:// or https:// URL", task, where, a->url);
         return false;
      }
      size_t n = strlen(a->url);
      while (n > 0 && a->url[n - 1] == '/')
         a->url[--n] = '\0';
      a->chat_url = xasprintf("%s/chat/completions", a->url);
   }
   if (a->model)
      a->model_json = json_dumps(json_object_get(j, "model"), JSON_ENCODE_ANY | JSON_COMPACT);
   return true;
}

void RouteAnalysis_default(RouteAnalysis *a) {
   static const int steps[] = { 5, 10, 20, 50, 100 };
   memset(a, 0, sizeof *a);
   a->enabled = true;
   a->interval_s = 60;
   a->failure_limit = 3;
   a->max_error_rate = 0.02;
   a->min_agreement = 0.90;
   a->max_fallback_rate = 0.25;
   a->min_samples = 20;
   a->verify_percent = 10;
   a->dwell_s = 300;
   memcpy(a->steps, steps, sizeof steps);
   a->n_steps = (int)ARRAY_SIZE(steps);
}

static bool get_bool(const json_t *o, const char *key, bool *out, const char *task, const char *where, char **err) {
   json_t *v = json_object_get(o, key);
   if (!v || json_is_null(v))
      return true;
   if (!json_is_boolean(v)) {
      *err = xasprintf("route %s: %s%s must be true or false", task, where, key);
      return false;
   }
   *out = json_is_true(v);
   return true;
}

static bool parse_steps(const json_t *v, RouteAnalysis *a, const char *task, char **err) {
   if (!v || json_is_null(v))
      return true;
   size_t n = json_is_array(v) ? json_array_size(v) : 0;
   if (n == 0 || n > ROUTE_MAX_STEPS) {
      *err = xasprintf("route %s: analysis.steps must be an array of 1 to %d rising whole percentages, e.g. "
                       "[5,25,50,100]", task, ROUTE_MAX_STEPS);
      return false;
   }
   for (size_t i = 0; i < n; i++) {
      json_t *e = json_array_get(v, i);
      json_int_t p = json_is_integer(e) ? json_integer_value(e) : -1;
      if (p < 1 || p > 100 || (i && p <= a->steps[i - 1])) {
         *err = xasprintf("route %s: analysis.steps[%zu] must be a whole percentage from 1 to 100 above the step "
                          "before it, e.g. [5,25,50,100]", task, i);
         return false;
      }
      a->steps[i] = (int)p;
   }
   a->n_steps = (int)n;
   return true;
}

static bool parse_analysis(const json_t *j, RouteAnalysis *a, const char *task, char **err) {
   RouteAnalysis_default(a);
   if (!j || json_is_null(j))
      return true;
   if (!json_is_object(j)) {
      *err = xasprintf("route %s: analysis must be an object {interval_s, failure_limit, max_error_rate, ...}", task);
      return false;
   }
   static const char *const keys[] = { "enabled", "interval_s", "failure_limit", "max_error_rate", "max_p95_ms",
                                       "min_agreement", "max_fallback_rate", "min_samples", "verify_percent",
                                       "auto_promote", "dwell_s", "steps", NULL };
   const char *w = "analysis.";
   double limit = a->failure_limit, samples = (double)a->min_samples;
   bool ok = only_keys(j, keys, task, w, err) && get_bool(j, "enabled", &a->enabled, task, w, err) &&
             get_number(j, "interval_s", &a->interval_s, 1, 86400, task, w, err) &&
             get_number(j, "failure_limit", &limit, 1, 1000, task, w, err) &&
             get_number(j, "max_error_rate", &a->max_error_rate, 0, 1, task, w, err) &&
             get_number(j, "max_p95_ms", &a->max_p95_ms, 0, 3600000, task, w, err) &&
             get_number(j, "min_agreement", &a->min_agreement, 0, 1, task, w, err) &&
             get_number(j, "max_fallback_rate", &a->max_fallback_rate, 0, 1, task, w, err) &&
             get_number(j, "min_samples", &samples, 1, 1e9, task, w, err) &&
             get_number(j, "verify_percent", &a->verify_percent, 0, 100, task, w, err) &&
             get_bool(j, "auto_promote", &a->auto_promote, task, w, err) &&
             get_number(j, "dwell_s", &a->dwell_s, 0, 604800, task, w, err) &&
             parse_steps(json_object_get(j, "steps"), a, task, err);
   if (ok && (limit != (double)(int)limit || samples != (double)(long)samples)) {
      *err = xasprintf("route %s: analysis.%s must be a whole number", task,
                       limit != (double)(int)limit ? "failure_limit" : "min_samples");
      ok = false;
   }
   a->failure_limit = (int)limit;
   a->min_samples = (long)samples;
   return ok;
}

static json_t *analysis_json(const RouteAnalysis *a) {
   json_t *steps = json_array();
   for (int i = 0; i < a->n_steps; i++)
      json_array_append_new(steps, json_integer(a->steps[i]));
   return json_pack("{s:b, s:f, s:i, s:f, s:f, s:f, s:f, s:I, s:f, s:b, s:f, s:o}", "enabled", a->enabled,
                    "interval_s", a->interval_s, "failure_limit", a->failure_limit, "max_error_rate",
                    a->max_error_rate, "max_p95_ms", a->max_p95_ms, "min_agreement", a->min_agreement,
                    "max_fallback_rate", a->max_fallback_rate, "min_samples", (json_int_t)a->min_samples,
                    "verify_percent", a->verify_percent, "auto_promote", a->auto_promote, "dwell_s", a->dwell_s,
                    "steps", steps);
}

static bool parse_strv(const json_t *j, const char *key, char ***out, int *n, const char *task, char **err) {
   json_t *v = json_object_get(j, key);
   if (!v || json_is_null(v))
      return true;
   if (!json_is_array(v)) {
      *err = xasprintf("route %s: %s must be an array of strings", task, key);
      return false;
   }
   *out = xcalloc(json_array_size(v) + 1, sizeof **out);
   size_t i;
   json_t *s;
   json_array_foreach(v, i, s) {
      if (!json_is_string(s) || !*json_string_value(s)) {
         *err = xasprintf("route %s: %s[%zu] must be a non-empty string", task, key, i);
         return false;
      }
      (*out)[(*n)++] = xstrdup(json_string_value(s));
   }
   return true;
}

Route *Route_from_json(const char *task, const json_t *j, char **err) {
   if (!json_is_object(j)) {
      *err = xasprintf("route %s: the body must be a JSON object (see design.md's route)", task);
      return NULL;
   }
   static const char *const keys[] = { "task", "aliases", "fingerprints", "primary", "candidate", "mode",
                                       "percent", "sticky", "compare", "metric", "threshold", "fallback",
                                       "verify_percent", "noise_percent", "analysis", NULL };
   if (!only_keys(j, keys, task, "", err))
      return NULL;
   const char *named = json_string_value(json_object_get(j, "task"));
   if (json_object_get(j, "task") && (!named || !str_eq(named, task))) {
      *err = xasprintf("route %s: the body names task '%s'; PUT it to /admin/routes/%s instead", task,
                       named ? named : "(not a string)", named ? named : "TASK");
      return NULL;
   }
   Route *r = xcalloc(1, sizeof *r);
   r->refs = 1;
   r->task = xstrdup(task);
   r->fallback_on_error = true;
   r->timeout_ms = 2000;
   r->threshold = COMPARE_TEXT_THRESHOLD;
   char *mode = NULL, *compare = NULL, *metric = NULL;
   double timeout = (double)r->timeout_ms;
   json_t *fb = json_object_get(j, "fallback");
   static const char *const fb_keys[] = { "min_confidence", "on_error", "timeout_ms", NULL };
   bool ok = parse_arm(json_object_get(j, "primary"), &r->primary, task, "primary", err) &&
             parse_arm(json_object_get(j, "candidate"), &r->candidate, task, "candidate", err) &&
             parse_strv(j, "aliases", &r->aliases, &r->n_aliases, task, err) &&
             parse_strv(j, "fingerprints", &r->fingerprints, &r->n_fingerprints, task, err) &&
             get_string(j, "mode", &mode, task, "", err) && get_string(j, "compare", &compare, task, "", err) &&
             get_string(j, "sticky", &r->sticky, task, "", err) &&
             get_number(j, "percent", &r->percent, 0, 100, task, "", err) &&
             get_number(j, "verify_percent", &r->verify_percent, 0, 100, task, "", err) &&
             get_number(j, "noise_percent", &r->noise_percent, 0, 100, task, "", err) &&
             get_string(j, "metric", &metric, task, "", err) &&
             get_number(j, "threshold", &r->threshold, 0, 1, task, "", err) &&
             parse_analysis(json_object_get(j, "analysis"), &r->analysis, task, err);
   if (ok && metric && !TextMetric_parse(metric, &r->metric)) {
      *err = xasprintf("route %s: metric '%s' is not one of chrf, rouge-l", task, metric);
      ok = false;
   }
   if (ok && fb && !json_is_null(fb)) {
      if (!json_is_object(fb)) {
         *err = xasprintf("route %s: fallback must be an object {min_confidence, on_error, timeout_ms}", task);
         ok = false;
      } else {
         json_t *oe = json_object_get(fb, "on_error");
         ok = only_keys(fb, fb_keys, task, "fallback.", err) &&
              get_number(fb, "min_confidence", &r->min_confidence, 0, 1, task, "fallback.", err) &&
              get_number(fb, "timeout_ms", &timeout, 1, 3600000, task, "fallback.", err);
         if (ok && oe && !json_is_boolean(oe)) {
            *err = xasprintf("route %s: fallback.on_error must be true or false", task);
            ok = false;
         }
         if (ok && oe)
            r->fallback_on_error = json_is_true(oe);
      }
   }
   r->timeout_ms = (long)timeout;
   if (ok && mode) {
      ok = false;
      for (size_t i = 0; i < ARRAY_SIZE(mode_names); i++) {
         if (str_eq(mode, mode_names[i])) {
            r->mode = (RouteMode)i;
            ok = true;
         }
      }
      if (!ok)
         *err = xasprintf("route %s: mode '%s' is not one of passthrough, shadow, canary, cutover", task, mode);
   }
   if (ok && compare && !Compare_mode_parse(compare, &r->compare)) {
      *err = xasprintf("route %s: compare '%s' is not one of label, exact, json, text, tool_calls", task, compare);
      ok = false;
   }
   if (ok && r->sticky && !str_eq(r->sticky, "user") && !str_eq(r->sticky, "conversation") &&
       !str_eq(r->sticky, "random")) {
      *err = xasprintf("route %s: sticky '%s' is not one of user, conversation, random", task, r->sticky);
      ok = false;
   }
   if (ok && r->mode != ROUTE_PASSTHROUGH && !r->candidate.url) {
      *err = xasprintf("route %s: mode %s needs candidate.url (the model server to try)", task,
                       mode_names[r->mode]);
      ok = false;
   }
   if (ok && !r->sticky)
      r->sticky = xstrdup("user");
   free(mode);
   free(compare);
   free(metric);
   if (!ok) {
      Route_unref(r);
      return NULL;
   }
   return r;
}

static json_t *arm_json(const RouteArm *a) {
   json_t *o = json_object();
   if (a->url)
      json_object_set_new(o, "url", json_string(a->url));
   if (a->model)
      json_object_set_new(o, "model", json_string(a->model));
   if (a->key_env)
      json_object_set_new(o, "key_env", json_string(a->key_env));
   return o;
}

static json_t *strv_json(char **v, int n) {
   json_t *a = json_array();
   for (int i = 0; i < n; i++)
      json_array_append_new(a, json_string(v[i]));
   return a;
}

json_t *Route_to_json(const Route *r) {
   json_t *j = json_pack("{s:s}", "task", r->task);
   if (r->n_aliases)
      json_object_set_new(j, "aliases", strv_json(r->aliases, r->n_aliases));
   if (r->n_fingerprints)
      json_object_set_new(j, "fingerprints", strv_json(r->fingerprints, r->n_fingerprints));
   json_object_set_new(j, "primary", arm_json(&r->primary));
   if (r->candidate.url)
      json_object_set_new(j, "candidate", arm_json(&r->candidate));
   json_object_set_new(j, "mode", json_string(mode_names[r->mode]));
   json_object_set_new(j, "percent", json_real(r->percent));
   json_object_set_new(j, "sticky", json_string(r->sticky));
   json_object_set_new(j, "compare", json_string(Compare_mode_name(r->compare)));
   if (r->compare == COMPARE_TEXT) {
      json_object_set_new(j, "metric", json_string(TextMetric_name(r->metric)));
      json_object_set_new(j, "threshold", json_real(r->threshold));
   }
   json_object_set_new(j, "fallback", json_pack("{s:f, s:b, s:I}", "min_confidence", r->min_confidence,
                                                "on_error", r->fallback_on_error, "timeout_ms",
                                                (json_int_t)r->timeout_ms));
   json_object_set_new(j, "verify_percent", json_real(r->verify_percent));
   json_object_set_new(j, "noise_percent", json_real(r->noise_percent));
   json_object_set_new(j, "analysis", analysis_json(&r->analysis));
   return j;
}

Route **Route_load_all(Store *st, int *n, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT task, route FROM routes ORDER BY task");
   Route **v = NULL;
   *n = 0;
   int rc;
   while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      const char *task = (const char *)sqlite3_column_text(s, 0);
      json_error_t je;
      json_t *j = json_loads((const char *)sqlite3_column_text(s, 1), 0, &je);
      Route *r = j ? Route_from_json(task, j, err) : NULL;
      if (!j)
         *err = xasprintf("route %s: stored JSON is unreadable (%s); set it again with 'offramp route set'",
                          task, je.text);
      json_decref(j);
      if (!r) {
         for (int i = 0; i < *n; i++)
            Route_unref(v[i]);
         free(v);
         sqlite3_finalize(s);
         return NULL;
      }
      v = xrealloc(v, (size_t)(*n + 1) * sizeof *v);
      v[(*n)++] = r;
   }
   if (rc != SQLITE_DONE) {
      *err = Store_errmsg(st, "reading routes");
      for (int i = 0; i < *n; i++)
         Route_unref(v[i]);
      free(v);
      v = NULL;
   }
   sqlite3_finalize(s);
   return v ? v : xcalloc(1, sizeof *v);
}

bool Route_save_in(Store *st, const Route *r, const char *kind, const char *actor, const char *reason, bool forced,
                   char **err) {
   json_t *j = Route_to_json(r);
   char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
   json_decref(j);
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *old = Store_prepare(st, "SELECT route FROM routes WHERE task = ?");
   sqlite3_bind_text(old, 1, r->task, -1, SQLITE_STATIC);
   char *old_text = sqlite3_step(old) == SQLITE_ROW ? xstrdup((const char *)sqlite3_column_text(old, 0)) : NULL;
   sqlite3_finalize(old);
   sqlite3_stmt *put = Store_prepare(st,
      "INSERT INTO routes(task, route, updated_at) VALUES (?1, ?2, ?3)"
      " ON CONFLICT(task) DO UPDATE SET route = excluded.route, updated_at = excluded.updated_at");
   sqlite3_bind_text(put, 1, r->task, -1, SQLITE_STATIC);
   sqlite3_bind_text(put, 2, text, -1, SQLITE_STATIC);
   sqlite3_bind_text(put, 3, ts, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(put) == SQLITE_DONE;
   sqlite3_finalize(put);
   if (ok) {
      sqlite3_stmt *ev = Store_prepare(st,
         "INSERT INTO route_events(ts, task, kind, actor, old_route, new_route, reason, forced)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
      sqlite3_bind_text(ev, 1, ts, -1, SQLITE_STATIC);
      sqlite3_bind_text(ev, 2, r->task, -1, SQLITE_STATIC);
      sqlite3_bind_text(ev, 3, kind, -1, SQLITE_STATIC);
      sqlite3_bind_text(ev, 4, actor, -1, SQLITE_STATIC);
      if (old_text)
         sqlite3_bind_text(ev, 5, old_text, -1, SQLITE_STATIC);
      sqlite3_bind_text(ev, 6, text, -1, SQLITE_STATIC);
      sqlite3_bind_text(ev, 7, reason ? reason : "", -1, SQLITE_STATIC);
      sqlite3_bind_int(ev, 8, forced);
      ok = sqlite3_step(ev) == SQLITE_DONE;
      sqlite3_finalize(ev);
   }
   free(old_text);
   free(text);
   if (!ok)
      *err = Store_errmsg(st, "saving a route");
   return ok;
}

bool Route_save(Store *st, const Route *r, const char *kind, const char *actor, const char *reason,
                char **err) {
   if (!Store_begin(st, err))
      return false;
   if (!Route_save_in(st, r, kind, actor, reason, false, err)) {
      Store_rollback(st);
      return false;
   }
   return Store_commit(st, err);
}

json_t *Route_history(Store *st, const char *task) {
   sqlite3_stmt *s = Store_prepare(st,
      "SELECT ts, kind, actor, old_route, new_route, reason, forced FROM route_events WHERE task = ? ORDER BY id");
   sqlite3_bind_text(s, 1, task, -1, SQLITE_STATIC);
   json_t *a = json_array();
   while (sqlite3_step(s) == SQLITE_ROW) {
      json_t *old = sqlite3_column_type(s, 3) == SQLITE_NULL
                       ? json_null()
                       : json_loads((const char *)sqlite3_column_text(s, 3), 0, NULL);
      json_t *new = json_loads((const char *)sqlite3_column_text(s, 4), 0, NULL);
      json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:s, s:b}", "revision",
                                         (json_int_t)json_array_size(a) + 1, "ts", sqlite3_column_text(s, 0),
                                         "kind", sqlite3_column_text(s, 1), "actor", sqlite3_column_text(s, 2),
                                         "old", old ? old : json_null(), "new", new ? new : json_null(),
                                         "reason", sqlite3_column_text(s, 5), "forced", sqlite3_column_int(s, 6)));
   }
   sqlite3_finalize(s);
   return a;
}

bool Route_key_envs_allowed(const Route *r, const char *const *allowed, int n, char **err) {
   const RouteArm *arms[] = { &r->primary, &r->candidate };
   const char *names[] = { "primary", "candidate" };
   for (int a = 0; a < 2; a++) {
      const char *k = arms[a]->key_env;
      bool ok = !k;
      for (int i = 0; !ok && i < n; i++)
         ok = str_eq(allowed[i], k);
      if (ok)
         continue;
      Sbuf list = { 0 };
      for (int i = 0; i < n; i++)
         Sbuf_printf(&list, "%s%s", i ? ", " : "", allowed[i]);
      *err = xasprintf("route %s: %s.key_env %s is not one the gateway may read (allowed: %s; start the gateway "
                       "with --key-env %s to allow it)",
                       r->task, names[a], k, n ? list.buf : "none", k);
      Sbuf_free(&list);
      return false;
   }
   return true;
}

Route *Route_find(Route *const *routes, int n, const char *task) {
   for (int i = 0; i < n; i++) {
      if (str_eq(routes[i]->task, task))
         return routes[i];
   }
   return NULL;
}

Route *Route_attribute(Route *const *routes, int n, const char *tag, const char *model, const char *body,
                       size_t len, const char **task) {
   if (tag && *tag) {
      *task = tag;
      return Route_find(routes, n, tag);
   }
   for (int i = 0; model && i < n; i++) {
      bool hit = str_eq(routes[i]->task, model);
      for (int k = 0; !hit && k < routes[i]->n_aliases; k++)
         hit = str_eq(routes[i]->aliases[k], model);
      if (hit) {
         *task = routes[i]->task;
         return routes[i];
      }
   }
   /* The fingerprint costs a parse of the request: only when some route asks for it. */
   char fp[FINGERPRINT_LEN + 1] = "";
   bool have_fp = false;
   Route *found = NULL;
   for (int i = 0; !found && i < n; i++) {
      for (int k = 0; !found && k < routes[i]->n_fingerprints; k++) {
         if (!have_fp) {
            have_fp = true;
            json_t *request = json_loadb(body, len, 0, NULL);
            Fingerprint_messages(json_object_get(request, "messages"), fp, NULL);
            json_decref(request);
         }
         if (str_eq(routes[i]->fingerprints[k], fp))
            found = routes[i];
      }
   }
   *task = found ? found->task : NULL;
   return found;
}
