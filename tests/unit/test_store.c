/* test_store.c - workspace creation, permissions, migrations and refusals. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "store/store.h"
#include "tap.h"

static char dir[] = "/tmp/offramp-store-XXXXXX";

static char *path_in(const char *name) {
   return xasprintf("%s/%s", dir, name);
}

static int user_version(const char *path) {
   sqlite3 *db;
   sqlite3_open(path, &db);
   sqlite3_stmt *s;
   sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
   int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
   sqlite3_finalize(s);
   sqlite3_close(db);
   return v;
}

static void raw_exec(const char *path, const char *sql) {
   sqlite3 *db;
   sqlite3_open(path, &db);
   sqlite3_exec(db, sql, NULL, NULL, NULL);
   sqlite3_close(db);
}

int main(void) {
   char *err = NULL;
   if (!mkdtemp(dir))
      tap_skip_all("cannot create a temporary directory");

   /* A new workspace: created owner-only, in a new directory, at the current schema. */
   char *p = path_in("sub/dir/ws.db");
   Store *st = Store_open(p, STORE_CREATE, &err);
   ok(st != NULL, "create a workspace in a new directory (%s)", err ? err : "");
   struct stat sb;
   ok(stat(p, &sb) == 0 && (sb.st_mode & 0777) == 0600, "workspace file is owner-only (mode %o)", sb.st_mode & 0777);
   is_int(Store_count(st, "PRAGMA user_version", 0), Store_schema_version(), "user_version is the current schema");
   is_int(Store_count(st, "PRAGMA foreign_keys", 0), 1, "foreign keys on");
   sqlite3_stmt *s = Store_prepare(st, "PRAGMA journal_mode");
   sqlite3_step(s);
   is_str((const char *)sqlite3_column_text(s, 0), "wal", "journal mode is WAL");
   sqlite3_finalize(s);
   ok(Store_has_table(st, "tasks") && Store_has_table(st, "exchanges"), "schema has tasks and exchanges");
   ok(Store_set_setting(st, "k", "v1", &err) && Store_set_setting(st, "k", "v2", &err), "settings upsert");
   char *v = Store_setting(st, "k", NULL);
   is_str(v, "v2", "setting read back");
   free(v);
   Store_close(st);

   /* Missing file without create: refused, nothing created. */
   char *missing = path_in("nope.db");
   st = Store_open(missing, 0, &err);
   ok(st == NULL && access(missing, F_OK) != 0, "missing workspace refused without creating it");
   ok(err && strstr(err, missing), "error names the path (%s)", err);
   free(err);
   err = NULL;

   /* An older workspace (user_version 0 with an empty schema is new; simulate a v0 file that
    * already carries our application id) migrates in one go. */
   char *old = path_in("old.db");
   char *mark = xasprintf("PRAGMA application_id = %d;", STORE_APPLICATION_ID);
   raw_exec(old, mark);
   st = Store_open(old, 0, &err);
   ok(st != NULL, "an old workspace opens (%s)", err ? err : "");
   if (st)
      Store_close(st);
   is_int(user_version(old), Store_schema_version(), "old workspace migrated to the current schema");

   /* A newer workspace: refused, untouched. */
   char *newer = path_in("newer.db");
   char *sql = xasprintf("PRAGMA application_id = %d; PRAGMA user_version = %d;", STORE_APPLICATION_ID,
                         Store_schema_version() + 5);
   raw_exec(newer, sql);
   free(sql);
   st = Store_open(newer, 0, &err);
   ok(st == NULL && err && strstr(err, "newer"), "newer schema refused (%s)", err ? err : "");
   free(err);
   err = NULL;
   is_int(user_version(newer), Store_schema_version() + 5, "newer workspace left untouched");

   /* A foreign SQLite database: refused, untouched. */
   char *foreign = path_in("foreign.db");
   raw_exec(foreign, "CREATE TABLE customers(id INTEGER); INSERT INTO customers VALUES (1);");
   st = Store_open(foreign, 0, &err);
   ok(st == NULL && err && strstr(err, "not an offramp workspace"), "foreign database refused (%s)", err ? err : "");
   free(err);
   err = NULL;
   is_int(user_version(foreign), 0, "foreign database not migrated");

   /* A corrupt file (not SQLite at all). */
   char *corrupt = path_in("corrupt.db");
   FILE *f = fopen(corrupt, "w");
   fputs("this is not a database, just text that is long enough to have a header......", f);
   fclose(f);
   st = Store_open(corrupt, 0, &err);
   ok(st == NULL && err, "corrupt file refused (%s)", err ? err : "");
   free(err);
   err = NULL;

   /* A failing migration leaves the file as it was: a table that collides with migration 1. */
   char *clash = path_in("clash.db");
   char *clash_sql = xasprintf("%s CREATE TABLE tasks(x);", mark);
   raw_exec(clash, clash_sql);
   free(clash_sql);
   st = Store_open(clash, 0, &err);
   ok(st == NULL && err && strstr(err, "nothing was changed"), "failed migration reported (%s)", err ? err : "");
   free(err);
   err = NULL;
   is_int(user_version(clash), 0, "failed migration rolled back (user_version still 0)");

   /* Default path resolution. */
   setenv("OFFRAMP_WORKSPACE", "/x/env.db", 1);
   char *d = Store_default_path(NULL);
   is_str(d, "/x/env.db", "OFFRAMP_WORKSPACE is used");
   free(d);
   d = Store_default_path("/y/flag.db");
   is_str(d, "/y/flag.db", "an explicit path wins");
   free(d);
   unsetenv("OFFRAMP_WORKSPACE");
   setenv("XDG_DATA_HOME", "/z", 1);
   d = Store_default_path(NULL);
   is_str(d, "/z/offramp/workspace.db", "XDG_DATA_HOME is the fallback");
   free(d);

   char *cmd = xasprintf("rm -rf %s", dir);
   if (system(cmd) != 0)
      fprintf(stderr, "cleanup failed\n");
   free(cmd);
   free(p);
   free(missing);
   free(old);
   free(newer);
   free(foreign);
   free(corrupt);
   free(clash);
   free(mark);
   return tap_done();
}
