/* store.h - the workspace: one SQLite file shared by the console, the CLI and the gateway.
 * Folder rule, src/store/: the workspace database; includes common/ only. */
#ifndef OFFRAMP_STORE_H
#define OFFRAMP_STORE_H

#include <sqlite3.h>
#include <stdbool.h>

/* 'OFRM': marks a workspace so a foreign SQLite file is refused rather than migrated. */
#define STORE_APPLICATION_ID 0x4f46524d

typedef struct Store {
   sqlite3 *db;
   char *path;
   bool readonly;
} Store;

enum {
   STORE_CREATE = 1 << 0,   /* create the file (owner-only) if it does not exist */
   STORE_READONLY = 1 << 1,
};

/* Resolve the workspace path: explicit, else $OFFRAMP_WORKSPACE, else
 * $XDG_DATA_HOME/offramp/workspace.db (~/.local/share when unset). Caller frees. */
char *Store_default_path(const char *explicit_path);

/* The directory beside a workspace that holds its files (datasets, logs): "<path without .db>.data".
 * Caller frees. */
char *Store_data_dir(const char *path);
/* Delete a workspace: the database, its -wal/-shm/-journal files and its data directory. Missing
 * pieces are fine; false with *err naming what could not be deleted. */
bool Store_remove(const char *path, char **err);
/* Bytes on disk of a workspace: the database, its -wal/-shm/-journal files, its data directory. */
long long Store_disk_usage(const char *path);

/* Process-wide SQLite settings; call once, first thing in main, before any thread starts. */
void Store_init(void);
/* Open (and migrate) a workspace; NULL with *err set on failure (nothing modified). */
Store *Store_open(const char *path, int flags, char **err);
void Store_close(Store *st);

/* Schema version this build writes. */
int Store_schema_version(void);

bool Store_begin(Store *st, char **err);
bool Store_commit(Store *st, char **err);
void Store_rollback(Store *st);

/* Run SQL with no result rows; false with *err on failure. */
bool Store_exec(Store *st, const char *sql, char **err);
/* Prepare or die with the SQL and SQLite's message (programming errors only). */
sqlite3_stmt *Store_prepare(Store *st, const char *sql);
/* Single integer result of a query; binds param to ?1 when the query has a parameter. */
long long Store_count(Store *st, const char *sql, long long param);
bool Store_has_table(Store *st, const char *name);

/* Settings: small key/value pairs kept in the workspace. */
char *Store_setting(Store *st, const char *key, const char *fallback);
bool Store_set_setting(Store *st, const char *key, const char *value, char **err);

/* An error message from SQLite's current state, prefixed with what was being done. */
char *Store_errmsg(Store *st, const char *doing);

/* The actor recorded in audit trails: $OFFRAMP_ACTOR, else $USER, else "unknown". */
const char *Store_actor(void);

/* Migrations, oldest first: Store_migrations[i] takes user_version i to i + 1 (migrations.c). */
extern const char *const Store_migrations[];
extern const int Store_migrations_n;

#endif
