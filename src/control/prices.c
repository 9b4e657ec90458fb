/* prices.c - loading the price table and matching reported model names to it. */
#include "config.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/prices.h"
#include "control/runbook.h"

static void add(Prices *ps, const char *model, double in, double out, const char *source, bool override) {
   for (int i = 0; i < ps->n; i++) {
      if (str_eq(ps->p[i].model, model)) {
         free(ps->p[i].source);
         ps->p[i].input = in;
         ps->p[i].output = out;
         ps->p[i].source = xstrdup(source);
         ps->p[i].override = override;
         return;
      }
   }
   ps->p = xrealloc(ps->p, (ps->n + 1) * sizeof *ps->p);
   ps->p[ps->n++] = (Price){ xstrdup(model), in, out, xstrdup(source), override };
}

Prices *Prices_load(Store *st, char **err) {
   char *path = xasprintf("%s/prices.json", Share_dir());
   json_error_t je;
   json_t *root = json_load_file(path, 0, &je);
   json_t *models = json_object_get(root, "models");
   if (!json_is_array(models)) {
      *err = xasprintf("the price table %s is unreadable: %s (reinstall offramp or set OFFRAMP_SHARE)", path,
                       root ? "no \"models\" array" : je.text);
      json_decref(root);
      free(path);
      return NULL;
   }
   Prices *ps = xcalloc(1, sizeof *ps);
   size_t i;
   json_t *m;
   json_array_foreach(models, i, m) {
      const char *name = json_string_value(json_object_get(m, "model"));
      json_t *in = json_object_get(m, "input"), *out = json_object_get(m, "output");
      if (!name || !json_is_number(in) || !json_is_number(out))
         continue;
      const char *src = json_string_value(json_object_get(m, "source"));
      add(ps, name, json_number_value(in), json_number_value(out), src ? src : "share/prices.json", false);
   }
   json_decref(root);
   free(path);
   if (st) {
      sqlite3_stmt *s = Store_prepare(st, "SELECT model, input, output, updated_at FROM prices ORDER BY model");
      while (sqlite3_step(s) == SQLITE_ROW) {
         char *src = xasprintf("workspace override, %s", (const char *)sqlite3_column_text(s, 3));
         add(ps, (const char *)sqlite3_column_text(s, 0), sqlite3_column_double(s, 1), sqlite3_column_double(s, 2),
             src, true);
         free(src);
      }
      sqlite3_finalize(s);
   }
   return ps;
}

void Prices_free(Prices *ps) {
   if (!ps)
      return;
   for (int i = 0; i < ps->n; i++) {
      free(ps->p[i].model);
      free(ps->p[i].source);
   }
   free(ps->p);
   free(ps);
}

static const Price *exact(const Prices *ps, const char *model) {
   for (int i = 0; i < ps->n; i++) {
      if (strcasecmp(ps->p[i].model, model) == 0)
         return &ps->p[i];
   }
   return NULL;
}

static bool all_digits(const char *s, size_t n) {
   if (n == 0)
      return false;
   for (size_t i = 0; i < n; i++) {
      if (!isdigit((unsigned char)s[i]))
         return false;
   }
   return true;
}

/* Drop one trailing snapshot marker from name in place; false when there is none. A
 * version number like the "4" of "gpt-4" is not a snapshot: only 3+ digit runs, dates and
 * "-latest" are. */
static bool strip_snapshot(char *name) {
   size_t n = strlen(name);
   char *at = strrchr(name, '@');
   if (at && at != name) {
      *at = '\0';
      return true;
   }
   if (n > 11 && name[n - 11] == '-' && all_digits(name + n - 10, 4) && name[n - 6] == '-' &&
       all_digits(name + n - 5, 2) && name[n - 3] == '-' && all_digits(name + n - 2, 2)) {
      name[n - 11] = '\0';
      return true;
   }
   char *dash = strrchr(name, '-');
   if (!dash || dash == name)
      return false;
   size_t tail = strlen(dash + 1);
   if ((tail >= 3 && all_digits(dash + 1, tail)) || strcasecmp(dash + 1, "latest") == 0) {
      *dash = '\0';
      return true;
   }
   return false;
}

const Price *Prices_match(const Prices *ps, const char *model) {
   if (!ps || !model || !*model)
      return NULL;
   const Price *p = exact(ps, model);
   if (p)
      return p;
   /* LiteLLM and gateways report "openai/gpt-4o-mini", Bedrock "anthropic.claude-..." is
    * left alone: its prices differ by region. */
   const char *slash = strrchr(model, '/');
   char *name = xstrdup(slash ? slash + 1 : model);
   while (!(p = exact(ps, name)) && strip_snapshot(name))
      ;
   free(name);
   return p;
}

double Price_cost(const Price *p, long long in_tokens, long long out_tokens) {
   return ((double)(in_tokens > 0 ? in_tokens : 0) * p->input + (double)(out_tokens > 0 ? out_tokens : 0) * p->output) /
          1e6;
}

bool Prices_set(Store *st, const char *model, double input, double output, char **err) {
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *s = Store_prepare(st,
      "INSERT INTO prices(model, input, output, updated_at, actor) VALUES (?1, ?2, ?3, ?4, ?5)"
      " ON CONFLICT(model) DO UPDATE SET input = ?2, output = ?3, updated_at = ?4, actor = ?5");
   sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
   sqlite3_bind_double(s, 2, input);
   sqlite3_bind_double(s, 3, output);
   sqlite3_bind_text(s, 4, ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 5, Store_actor(), -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "saving a price");
   sqlite3_finalize(s);
   return ok;
}

bool Prices_remove(Store *st, const char *model, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "DELETE FROM prices WHERE model = ?");
   sqlite3_bind_text(s, 1, model, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "removing a price");
   else if (sqlite3_changes(st->db) == 0) {
      *err = xasprintf("no workspace price for '%s' (see 'offramp prices list'; shipped prices cannot be removed, "
                       "override them with 'offramp prices set')", model);
      ok = false;
   }
   sqlite3_finalize(s);
   return ok;
}
