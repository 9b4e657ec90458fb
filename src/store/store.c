/* store.c - opening, creating and migrating the SQLite workspace. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "store/store.h"

int Store_schema_version(void) {
   return Store_migrations_n;
}

const char *Store_actor(void) {
   const char *a = getenv("OFFRAMP_ACTOR");
   if (!a || !*a)
      a = getenv("USER");
   if (!a || !*a) {
      /* Cron, systemd units and containers often run without $USER: the login name then. */
      struct passwd *pw = getpwuid(geteuid());
      a = pw ? pw->pw_name : NULL;
   }
   return a && *a ? a : "unknown";
}

char *Store_default_path(const char *explicit_path) {
   if (explicit_path && *explicit_path)
      return xstrdup(explicit_path);
   const char *env = getenv("OFFRAMP_WORKSPACE");
   if (env && *env)
      return xstrdup(env);
   const char *xdg = getenv("XDG_DATA_HOME");
   if (xdg && *xdg)
      return xasprintf("%s/offramp/workspace.db", xdg);
   const char *home = getenv("HOME");
   return xasprintf("%s/.local/share/offramp/workspace.db", home && *home ? home : ".");
}

char *Store_data_dir(const char *path) {
   size_t n = strlen(path);
   if (n > 3 && str_eq(path + n - 3, ".db"))
      n -= 3;
   return xasprintf("%.*s.data", (int)n, path);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
   (void)sb;
   (void)flag;
   (void)ftw;
   return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static long long usage_sum;

static int add_usage(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
   (void)path;
   (void)ftw;
   if (flag == FTW_F)
      usage_sum += (long long)sb->st_blocks * 512;
   return 0;
}

long long Store_disk_usage(const char *path) {
   static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
   usage_sum = 0;
   for (size_t i = 0; i < ARRAY_SIZE(suffix); i++) {
      char *f = xasprintf("%s%s", path, suffix[i]);
      struct stat sb;
      if (stat(f, &sb) == 0)
         usage_sum += (long long)sb.st_blocks * 512;
      free(f);
   }
   char *data = Store_data_dir(path);
   if (access(data, F_OK) == 0)
      nftw(data, add_usage, 16, FTW_PHYS);
   free(data);
   return usage_sum;
}

bool Store_remove(const char *path, char **err) {
   static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
   bool ok = true;
   for (size_t i = 0; i < ARRAY_SIZE(suffix) && ok; i++) {
      char *f = xasprintf("%s%s", path, suffix[i]);
      if (unlink(f) != 0 && errno != ENOENT) {
         *err = xasprintf("cannot delete %s: %s", f, strerror(errno));
         ok = false;
      }
      free(f);
   }
   char *data = Store_data_dir(path);
   if (ok && access(data, F_OK) == 0 && nftw(data, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
      *err = xasprintf("cannot delete %s: %s", data, strerror(errno));
      ok = false;
   }
   free(data);
   return ok;
}

char *Store_errmsg(Store *st, const char *doing) {
   return xasprintf("%s: %s (workspace %s)", doing, sqlite3_errmsg(st->db), st->path);
}

bool Store_exec(Store *st, const char *sql, char **err) {
   char *msg = NULL;
   if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) == SQLITE_OK)
      return true;
   if (err)
      *err = xasprintf("%s (workspace %s)", msg ? msg : sqlite3_errmsg(st->db), st->path);
   sqlite3_free(msg);
   return false;
}

bool Store_begin(Store *st, char **err) {
   return Store_exec(st, "BEGIN IMMEDIATE", err);
}

bool Store_commit(Store *st, char **err) {
   if (Store_exec(st, "COMMIT", err))
      return true;
   Store_rollback(st);
   return false;
}

void Store_rollback(Store *st) {
   if (!sqlite3_get_autocommit(st->db))
      sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *Store_prepare(Store *st, const char *sql) {
   sqlite3_stmt *stmt = NULL;
   if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK)
      die(70, "internal error preparing \"%s\": %s", sql, sqlite3_errmsg(st->db));
   return stmt;
}

long long Store_count(Store *st, const char *sql, long long param) {
   sqlite3_stmt *stmt = Store_prepare(st, sql);
   if (sqlite3_bind_parameter_count(stmt) > 0)
      sqlite3_bind_int64(stmt, 1, param);
   long long v = 0;
   if (sqlite3_step(stmt) == SQLITE_ROW)
      v = sqlite3_column_int64(stmt, 0);
   sqlite3_finalize(stmt);
   return v;
}

bool Store_has_table(Store *st, const char *name) {
   sqlite3_stmt *stmt = Store_prepare(st, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
   sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
   bool has = sqlite3_step(stmt) == SQLITE_ROW;
   sqlite3_finalize(stmt);
   return has;
}

char *Store_setting(Store *st, const char *key, const char *fallback) {
   sqlite3_stmt *stmt = Store_prepare(st, "SELECT value FROM settings WHERE key = ?");
   sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
   char *v = NULL;
   if (sqlite3_step(stmt) == SQLITE_ROW)
      v = xstrdup((const char *)sqlite3_column_text(stmt, 0));
   sqlite3_finalize(stmt);
   return v ? v : fallback ? xstrdup(fallback) : NULL;
}

bool Store_set_setting(Store *st, const char *key, const char *value, char **err) {
   sqlite3_stmt *stmt = Store_prepare(st,
      "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
   sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
   sqlite3_bind_text(stmt, 2, value, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(stmt) == SQLITE_DONE;
   if (!ok && err)
      *err = Store_errmsg(st, "saving a setting");
   sqlite3_finalize(stmt);
   return ok;
}

static int pragma_int(sqlite3 *db, const char *sql, bool *ok) {
   sqlite3_stmt *stmt;
   int v = 0;
   *ok = false;
   if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
      return 0;
   if (sqlite3_step(stmt) == SQLITE_ROW) {
      v = sqlite3_column_int(stmt, 0);
      *ok = true;
   }
   sqlite3_finalize(stmt);
   return v;
}

/* An owner-only file must exist before SQLite opens it: SQLite would create it with the
 * umask's mode, and the workspace holds customer prompts. */
static bool create_private_file(const char *path, char **err) {
   char *dir = xstrdup(path);
   char *slash = strrchr(dir, '/');
   if (slash && slash != dir) {
      *slash = '\0';
      if (!mkdir_p(dir, 0700)) {
         *err = xasprintf("cannot create the workspace directory %s: %s", dir, strerror(errno));
         free(dir);
         return false;
      }
   }
   free(dir);
   int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
   if (fd < 0 && errno != EEXIST) {
      *err = xasprintf("cannot create the workspace %s: %s", path, strerror(errno));
      return false;
   }
   if (fd >= 0)
      close(fd);
   return true;
}

static bool migrate(Store *st, int from, char **err) {
   if (!Store_begin(st, err))
      return false;
   for (int v = from; v < Store_schema_version(); v++) {
      char *msg = NULL;
      if (!Store_exec(st, Store_migrations[v], &msg)) {
         *err = xasprintf("migrating the workspace from schema %d to %d failed, nothing was changed: %s",
                          v, v + 1, msg);
         free(msg);
         Store_rollback(st);
         return false;
      }
   }
   char *sql = xasprintf("PRAGMA application_id = %d; PRAGMA user_version = %d",
                         STORE_APPLICATION_ID, Store_schema_version());
   bool ok = Store_exec(st, sql, err);
   free(sql);
   if (!ok) {
      Store_rollback(st);
      return false;
   }
   return Store_commit(st, err);
}

void Store_init(void) {
   /* No allocation statistics: offramp reads none, and keeping them takes a global mutex on
    * every SQLite malloc and free (about 0.8 us of the capture writer's 6 us per insert,
    * doc/benchmarks.md eighth pass). */
   sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

Store *Store_open(const char *path, int flags, char **err) {
   struct stat sb;
   bool exists = stat(path, &sb) == 0;
   if (!exists && !(flags & STORE_CREATE)) {
      *err = xasprintf("no workspace at %s (create one with 'offramp task add', or pass -w FILE)", path);
      return NULL;
   }
   if (exists && !S_ISREG(sb.st_mode)) {
      *err = xasprintf("the workspace %s is not a regular file (pass -w FILE)", path);
      return NULL;
   }
   if (!exists && !create_private_file(path, err))
      return NULL;

   Store *st = xcalloc(1, sizeof *st);
   st->path = xstrdup(path);
   st->readonly = (flags & STORE_READONLY) != 0;
   int oflags = st->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
   if (sqlite3_open_v2(path, &st->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
      *err = xasprintf("cannot open the workspace %s: %s", path, sqlite3_errmsg(st->db));
      Store_close(st);
      return NULL;
   }
   sqlite3_busy_timeout(st->db, 5000);
   sqlite3_extended_result_codes(st->db, 1);

   bool ok;
   int appid = pragma_int(st->db, "PRAGMA application_id", &ok);
   if (!ok) {
      *err = xasprintf("%s is not an offramp workspace (not an SQLite database, or corrupt: %s); "
                       "pass -w with a workspace file", path, sqlite3_errmsg(st->db));
      Store_close(st);
      return NULL;
   }
   int version = pragma_int(st->db, "PRAGMA user_version", &ok);
   long long objects = Store_count(st, "SELECT count(*) FROM sqlite_master", 0);
   if (appid != STORE_APPLICATION_ID && (appid != 0 || version != 0 || objects != 0)) {
      *err = xasprintf("%s is an SQLite database but not an offramp workspace (application_id %#x); "
                       "it was left untouched", path, (unsigned)appid);
      Store_close(st);
      return NULL;
   }
   if (version > Store_schema_version()) {
      *err = xasprintf("the workspace %s has schema %d, newer than this offramp (%s, schema %d); "
                       "it was left untouched: upgrade offramp", path, version, PACKAGE_VERSION,
                       Store_schema_version());
      Store_close(st);
      return NULL;
   }
   if (!st->readonly && objects == 0 && version == 0) {
      /* A new workspace: 16 KB pages (SQLite's default is 4 KB). Captured records are about a
       * KB each; a WAL frame is two writes whatever its size, so the capture writer makes a
       * quarter of the system calls per record. Only settable before the first table and
       * before WAL. */
      if (!Store_exec(st, "PRAGMA page_size = 16384", err)) {
         Store_close(st);
         return NULL;
      }
   }
   if (!st->readonly) {
      /* WAL lets the gateway write captures while the console reads. */
      /* The WAL file is cut back to 64 MiB whenever it restarts: without a limit it keeps the
       * largest size it ever reached (1 GB seen under long readers). */
      if (!Store_exec(st, "PRAGMA journal_mode = WAL; PRAGMA journal_size_limit = 67108864", err)) {
         Store_close(st);
         return NULL;
      }
   }
   if (!Store_exec(st, "PRAGMA foreign_keys = ON", err)) {
      Store_close(st);
      return NULL;
   }
   if (version < Store_schema_version()) {
      if (st->readonly) {
         *err = xasprintf("the workspace %s has schema %d and needs migrating to %d, "
                          "but it is open read-only", path, version, Store_schema_version());
         Store_close(st);
         return NULL;
      }
      if (!migrate(st, version, err)) {
         Store_close(st);
         return NULL;
      }
   }
   return st;
}

void Store_close(Store *st) {
   if (!st)
      return;
   sqlite3_close(st->db);
   free(st->path);
   free(st);
}
