/* runbook.c - locating share files, loading runbooks and persisting checklist items. */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "control/phaselog.h"
#include "control/runbook.h"

const char *const Runbook_names[] = {
   "audit", "dataset", "training", "evaluation", "shadow", "canary", "cutover", "rollback", "operate",
};
const int Runbook_count = (int)ARRAY_SIZE(Runbook_names);

static bool is_dir(const char *path) {
   struct stat sb;
   return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const char *Share_dir(void) {
   static char *dir;
   if (dir)
      return dir;
   const char *env = getenv("OFFRAMP_SHARE");
   if (env && *env)
      return dir = xstrdup(env);
   /* An uninstalled binary in the source tree uses the tree's share/ (never a stale install). */
   char exe[PATH_MAX];
   ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
   if (n > 0) {
      exe[n] = '\0';
      char *slash = strrchr(exe, '/');
      if (slash) {
         *slash = '\0';
         char *cand = xasprintf("%s/share/runbooks", exe);
         bool found = is_dir(cand);
         free(cand);
         if (found)
            return dir = xasprintf("%s/share", exe);
      }
   }
   if (is_dir(PKGDATADIR))
      return dir = xstrdup(PKGDATADIR);
   return dir = xstrdup(SRCDIR "/share");
}

int Runbook_index(const char *name) {
   for (int i = 0; i < Runbook_count; i++) {
      if (str_eq(name, Runbook_names[i]))
         return i;
   }
   return -1;
}

const char *Runbook_name(const char *name) {
   if (Runbook_index(name) >= 0)
      return Runbook_names[Runbook_index(name)];
   Phase p;
   return Phase_parse(name, &p) ? Phase_runbook(p) : NULL;
}

MdDoc *Runbook_load(const char *name, int width, char **err) {
   if (!Runbook_name(name)) {
      *err = xasprintf("'%s' is not a runbook or a phase (runbooks: audit, dataset, training, evaluation, "
                       "shadow, canary, cutover, rollback, operate)", name);
      return NULL;
   }
   name = Runbook_name(name);
   char *path = xasprintf("%s/runbooks/%s.md", Share_dir(), name);
   char *text = read_file(path, NULL, err);
   free(path);
   if (!text)
      return NULL;
   MdDoc *d = Md_render(text, width);
   free(text);
   return d;
}

void Runbook_apply_checks(Store *st, long long task_id, const char *name, MdDoc *doc) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT 1 FROM checklist WHERE task_id = ? AND runbook = ? AND item = ?");
   for (int i = 0; i < doc->n; i++) {
      MdLine *l = &doc->lines[i];
      if (l->check < 0 || !l->key)
         continue;
      sqlite3_reset(s);
      sqlite3_bind_int64(s, 1, task_id);
      sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 3, l->key, -1, SQLITE_STATIC);
      l->check = sqlite3_step(s) == SQLITE_ROW;
      for (int r = 0; r < l->nruns; r++) {
         char *t = l->runs[r].text;
         /* The marker run is the one that opens with the box. */
         if (t[0] == '[' && (t[1] == ' ' || t[1] == 'x') && t[2] == ']') {
            t[1] = l->check ? 'x' : ' ';
            break;
         }
      }
   }
   sqlite3_finalize(s);
}

int Runbook_toggle(Store *st, long long task_id, const char *name, const char *key, char **err) {
   if (!Store_begin(st, err))
      return -1;
   sqlite3_stmt *s = Store_prepare(st, "DELETE FROM checklist WHERE task_id = ? AND runbook = ? AND item = ?");
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 3, key, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   int state = sqlite3_changes(st->db) ? 0 : 1;
   sqlite3_finalize(s);
   if (ok && state == 1) {
      char ts[32];
      now_iso8601(ts);
      s = Store_prepare(st, "INSERT INTO checklist(task_id, runbook, item, checked_at, actor) VALUES (?,?,?,?,?)");
      sqlite3_bind_int64(s, 1, task_id);
      sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 3, key, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 4, ts, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 5, Store_actor(), -1, SQLITE_STATIC);
      ok = sqlite3_step(s) == SQLITE_DONE;
      sqlite3_finalize(s);
   }
   if (!ok) {
      *err = Store_errmsg(st, "saving the checklist");
      Store_rollback(st);
      return -1;
   }
   return Store_commit(st, err) ? state : -1;
}

int Runbook_done(Store *st, long long task_id, const char *name) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT count(*) FROM checklist WHERE task_id = ? AND runbook = ?");
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
   int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
   sqlite3_finalize(s);
   return n;
}
