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

#include "store.h"
#include "util.h"

/* Migrations, oldest first: migrations[i] takes user_version i to i + 1. Never edit a shipped
 * entry; append a new one. */
static const char *const migrations[] = {
   /* 0 -> 1: inventory, phases, checklists, settings, exchanges */
   "CREATE TABLE tasks ("
   "  id INTEGER PRIMARY KEY,"
   "  name TEXT NOT NULL UNIQUE,"
   "  description TEXT NOT NULL DEFAULT '',"
   "  provider TEXT NOT NULL DEFAULT '',"
   "  model TEXT NOT NULL DEFAULT '',"
   "  monthly_volume INTEGER NOT NULL DEFAULT 0 CHECK (monthly_volume >= 0),"
   "  monthly_cost REAL NOT NULL DEFAULT 0 CHECK (monthly_cost >= 0),"
   "  input_format TEXT NOT NULL DEFAULT '',"
   "  output_format TEXT NOT NULL DEFAULT '',"
   "  quality_req TEXT NOT NULL DEFAULT '',"
   "  criticality TEXT NOT NULL DEFAULT 'medium' CHECK (criticality IN ('low','medium','high')),"
   "  data_available TEXT NOT NULL DEFAULT '',"
   "  examples INTEGER NOT NULL DEFAULT 0 CHECK (examples >= 0),"
   "  output_kind TEXT NOT NULL DEFAULT 'label' CHECK (output_kind IN"
   "    ('label','extraction','rewrite','open-ended','multimodal')),"
   "  domain_vocab INTEGER NOT NULL DEFAULT 0,"
   "  customer_facing INTEGER NOT NULL DEFAULT 0,"
   "  sla INTEGER NOT NULL DEFAULT 0,"
   "  revenue INTEGER NOT NULL DEFAULT 0,"
   "  changing INTEGER NOT NULL DEFAULT 0,"
   "  suitability INTEGER CHECK (suitability BETWEEN 1 AND 5),"
   "  impact INTEGER CHECK (impact BETWEEN 1 AND 5),"
   "  complexity INTEGER CHECK (complexity BETWEEN 1 AND 5),"
   "  scored_at TEXT,"
   "  phase TEXT NOT NULL DEFAULT 'audit',"
   "  min_examples INTEGER NOT NULL DEFAULT 500,"
   "  agreement_bar REAL NOT NULL DEFAULT 0.90,"
   "  min_comparisons INTEGER NOT NULL DEFAULT 500,"
   "  eval_margin REAL NOT NULL DEFAULT 5.0,"
   "  format_bar REAL NOT NULL DEFAULT 0.98,"
   "  created_at TEXT NOT NULL,"
   "  updated_at TEXT NOT NULL);"
   "CREATE TABLE phase_events ("
   "  id INTEGER PRIMARY KEY,"
   "  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
   "  ts TEXT NOT NULL,"
   "  kind TEXT NOT NULL CHECK (kind IN ('create','advance','rollback','stay')),"
   "  from_phase TEXT,"
   "  to_phase TEXT NOT NULL,"
   "  actor TEXT NOT NULL,"
   "  reason TEXT NOT NULL DEFAULT '');"
   "CREATE INDEX phase_events_task ON phase_events(task_id, id);"
   "CREATE TABLE checklist ("
   "  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
   "  runbook TEXT NOT NULL,"
   "  item TEXT NOT NULL,"
   "  checked_at TEXT NOT NULL,"
   "  actor TEXT NOT NULL,"
   "  PRIMARY KEY (task_id, runbook, item));"
   "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
   "CREATE TABLE exchanges ("
   "  id INTEGER PRIMARY KEY,"
   "  rid TEXT NOT NULL UNIQUE,"
   "  task_id INTEGER REFERENCES tasks(id) ON DELETE SET NULL,"
   "  fingerprint TEXT,"
   "  ts TEXT NOT NULL,"
   "  arm TEXT NOT NULL DEFAULT 'primary',"
   "  model TEXT,"
   "  status INTEGER,"
   "  latency_ms REAL,"
   "  prompt_tokens INTEGER,"
   "  completion_tokens INTEGER,"
   "  tokens_estimated INTEGER NOT NULL DEFAULT 0,"
   "  cost REAL,"
   "  agree INTEGER,"
   "  confidence REAL,"
   "  flag TEXT CHECK (flag IN ('wrong','corrected')),"
   "  record TEXT NOT NULL);"
   "CREATE INDEX exchanges_task_ts ON exchanges(task_id, ts);"
   "CREATE INDEX exchanges_fingerprint ON exchanges(fingerprint) WHERE task_id IS NULL;",
   /* 1 -> 2: evaluation runs, every finished request (so an interrupted run resumes), and the
    * confidence threshold an evaluation recommended for the task's route */
   "CREATE TABLE eval_runs ("
   "  id INTEGER PRIMARY KEY,"
   "  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
   "  dataset TEXT NOT NULL,"
   "  test_hash TEXT NOT NULL,"
   "  candidate TEXT NOT NULL,"
   "  reference TEXT NOT NULL DEFAULT '',"
   "  params TEXT NOT NULL DEFAULT '{}',"
   "  status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running','done','abandoned')),"
   "  created_at TEXT NOT NULL,"
   "  finished_at TEXT,"
   "  metrics TEXT);"
   "CREATE INDEX eval_runs_task ON eval_runs(task_id, id);"
   "CREATE TABLE eval_rows ("
   "  run_id INTEGER NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,"
   "  idx INTEGER NOT NULL,"
   "  arm TEXT NOT NULL CHECK (arm IN ('candidate','reference')),"
   "  rep INTEGER NOT NULL DEFAULT 0,"
   "  outcome TEXT NOT NULL CHECK (outcome IN ('ok','malformed','error','timeout')),"
   "  status INTEGER,"
   "  answer TEXT,"
   "  confidence REAL,"
   "  correct INTEGER NOT NULL DEFAULT 0,"
   "  compliant INTEGER NOT NULL DEFAULT 0,"
   "  fields_ok INTEGER NOT NULL DEFAULT 0,"
   "  fields INTEGER NOT NULL DEFAULT 0,"
   "  latency_ms REAL,"
   "  prompt_tokens INTEGER,"
   "  completion_tokens INTEGER,"
   "  attempts INTEGER NOT NULL DEFAULT 1,"
   "  error TEXT,"
   "  PRIMARY KEY (run_id, idx, arm, rep));"
   "ALTER TABLE tasks ADD COLUMN min_confidence REAL;",
   /* 2 -> 3: datasets (snapshots built from exchanges, files under the data directory) and
    * the label set a user gave a label task (without one it is learned from the data) */
   "CREATE TABLE datasets ("
   "  id INTEGER PRIMARY KEY,"
   "  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
   "  created_at TEXT NOT NULL,"
   "  actor TEXT NOT NULL,"
   "  since TEXT,"
   "  until TEXT,"
   "  params TEXT NOT NULL,"
   "  rows_train INTEGER NOT NULL,"
   "  rows_test INTEGER NOT NULL,"
   "  dir TEXT NOT NULL,"
   "  train_sha256 TEXT NOT NULL,"
   "  test_sha256 TEXT NOT NULL,"
   "  report_sha256 TEXT NOT NULL,"
   "  report TEXT NOT NULL);"
   "CREATE INDEX datasets_task ON datasets(task_id, id);"
   "CREATE TABLE task_labels ("
   "  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
   "  label TEXT NOT NULL,"
   "  PRIMARY KEY (task_id, label));",
   /* 3 -> 4: audit aggregates kept by ExchangeWriter_add, discovered touchpoints, price overrides */
   "CREATE TABLE audit_daily ("
   "  task_id INTEGER NOT NULL DEFAULT 0,"   /* 0: not attributed to a task */
   "  fingerprint TEXT NOT NULL DEFAULT '',"
   "  day TEXT NOT NULL,"
   "  model TEXT NOT NULL DEFAULT '',"
   "  calls INTEGER NOT NULL DEFAULT 0,"
   "  errors INTEGER NOT NULL DEFAULT 0,"
   "  in_tokens INTEGER NOT NULL DEFAULT 0,"
   "  out_tokens INTEGER NOT NULL DEFAULT 0,"
   "  est_calls INTEGER NOT NULL DEFAULT 0,"
   "  lat_n INTEGER NOT NULL DEFAULT 0,"
   "  lat_sum REAL NOT NULL DEFAULT 0,"
   "  outputs INTEGER NOT NULL DEFAULT 0,"
   "  out_chars INTEGER NOT NULL DEFAULT 0,"
   "  json_outputs INTEGER NOT NULL DEFAULT 0,"
   "  h0 INTEGER NOT NULL DEFAULT 0,"
   "  h1 INTEGER NOT NULL DEFAULT 0,"
   "  h2 INTEGER NOT NULL DEFAULT 0,"
   "  h3 INTEGER NOT NULL DEFAULT 0,"
   "  h4 INTEGER NOT NULL DEFAULT 0,"
   "  h5 INTEGER NOT NULL DEFAULT 0,"
   "  h6 INTEGER NOT NULL DEFAULT 0,"
   "  h7 INTEGER NOT NULL DEFAULT 0,"
   "  h8 INTEGER NOT NULL DEFAULT 0,"
   "  h9 INTEGER NOT NULL DEFAULT 0,"
   "  h10 INTEGER NOT NULL DEFAULT 0,"
   "  h11 INTEGER NOT NULL DEFAULT 0,"
   "  h12 INTEGER NOT NULL DEFAULT 0,"
   "  h13 INTEGER NOT NULL DEFAULT 0,"
   "  h14 INTEGER NOT NULL DEFAULT 0,"
   "  h15 INTEGER NOT NULL DEFAULT 0,"
   "  h16 INTEGER NOT NULL DEFAULT 0,"
   "  h17 INTEGER NOT NULL DEFAULT 0,"
   "  h18 INTEGER NOT NULL DEFAULT 0,"
   "  h19 INTEGER NOT NULL DEFAULT 0,"
   "  h20 INTEGER NOT NULL DEFAULT 0,"
   "  h21 INTEGER NOT NULL DEFAULT 0,"
   "  h22 INTEGER NOT NULL DEFAULT 0,"
   "  h23 INTEGER NOT NULL DEFAULT 0,"
   "  h24 INTEGER NOT NULL DEFAULT 0,"
   "  h25 INTEGER NOT NULL DEFAULT 0,"
   "  h26 INTEGER NOT NULL DEFAULT 0,"
   "  h27 INTEGER NOT NULL DEFAULT 0,"
   "  h28 INTEGER NOT NULL DEFAULT 0,"
   "  h29 INTEGER NOT NULL DEFAULT 0,"
   "  h30 INTEGER NOT NULL DEFAULT 0,"
   "  h31 INTEGER NOT NULL DEFAULT 0,"
   "  h32 INTEGER NOT NULL DEFAULT 0,"
   "  h33 INTEGER NOT NULL DEFAULT 0,"
   "  h34 INTEGER NOT NULL DEFAULT 0,"
   "  h35 INTEGER NOT NULL DEFAULT 0,"
   "  h36 INTEGER NOT NULL DEFAULT 0,"
   "  h37 INTEGER NOT NULL DEFAULT 0,"
   "  h38 INTEGER NOT NULL DEFAULT 0,"
   "  h39 INTEGER NOT NULL DEFAULT 0,"
   "  h40 INTEGER NOT NULL DEFAULT 0,"
   "  h41 INTEGER NOT NULL DEFAULT 0,"
   "  h42 INTEGER NOT NULL DEFAULT 0,"
   "  h43 INTEGER NOT NULL DEFAULT 0,"
   "  h44 INTEGER NOT NULL DEFAULT 0,"
   "  h45 INTEGER NOT NULL DEFAULT 0,"
   "  h46 INTEGER NOT NULL DEFAULT 0,"
   "  h47 INTEGER NOT NULL DEFAULT 0,"
   "  h48 INTEGER NOT NULL DEFAULT 0,"
   "  h49 INTEGER NOT NULL DEFAULT 0,"
   "  h50 INTEGER NOT NULL DEFAULT 0,"
   "  h51 INTEGER NOT NULL DEFAULT 0,"
   "  h52 INTEGER NOT NULL DEFAULT 0,"
   "  h53 INTEGER NOT NULL DEFAULT 0,"
   "  h54 INTEGER NOT NULL DEFAULT 0,"
   "  h55 INTEGER NOT NULL DEFAULT 0,"
   "  h56 INTEGER NOT NULL DEFAULT 0,"
   "  h57 INTEGER NOT NULL DEFAULT 0,"
   "  h58 INTEGER NOT NULL DEFAULT 0,"
   "  h59 INTEGER NOT NULL DEFAULT 0,"
   "  h60 INTEGER NOT NULL DEFAULT 0,"
   "  h61 INTEGER NOT NULL DEFAULT 0,"
   "  h62 INTEGER NOT NULL DEFAULT 0,"
   "  h63 INTEGER NOT NULL DEFAULT 0,"
   "  PRIMARY KEY (task_id, fingerprint, day, model)) WITHOUT ROWID;"
   "CREATE TABLE audit_outputs ("
   "  task_id INTEGER NOT NULL,"
   "  fingerprint TEXT NOT NULL,"
   "  hash INTEGER NOT NULL,"
   "  n INTEGER NOT NULL DEFAULT 0,"
   "  sample TEXT,"
   "  PRIMARY KEY (task_id, fingerprint, hash)) WITHOUT ROWID;"
   "CREATE TABLE touchpoints ("
   "  fingerprint TEXT PRIMARY KEY,"
   "  task_id INTEGER REFERENCES tasks(id) ON DELETE SET NULL,"
   "  skeleton TEXT NOT NULL DEFAULT '',"
   "  samples TEXT NOT NULL DEFAULT '[]',"
   "  first_seen TEXT NOT NULL);"
   "CREATE TABLE prices ("
   "  model TEXT PRIMARY KEY,"
   "  input REAL NOT NULL CHECK (input >= 0),"
   "  output REAL NOT NULL CHECK (output >= 0),"
   "  updated_at TEXT NOT NULL,"
   "  actor TEXT NOT NULL);"
   "CREATE TRIGGER tasks_delete_audit AFTER DELETE ON tasks BEGIN"
   "  DELETE FROM audit_daily WHERE task_id = old.id;"
   "  DELETE FROM audit_outputs WHERE task_id = old.id;"
   "END;",
   /* 4 -> 5: training: fine-tuning backends, experiments (one job each), their events and checkpoints,
    * and the experiment a task picked as its candidate */
   "CREATE TABLE backends ("
   "  name TEXT PRIMARY KEY,"
   "  kind TEXT NOT NULL,"
   "  base_url TEXT NOT NULL,"
   "  key_env TEXT NOT NULL DEFAULT '',"
   "  accepts TEXT NOT NULL DEFAULT '',"
   "  created_at TEXT NOT NULL);"
   "CREATE TABLE experiments ("
   "  id INTEGER PRIMARY KEY,"
   "  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
   "  dataset_id INTEGER,"
   "  backend TEXT NOT NULL,"
   "  job_id TEXT NOT NULL,"
   "  base_model TEXT NOT NULL,"
   "  hyperparameters TEXT NOT NULL DEFAULT '{}',"
   "  training_file TEXT,"
   "  validation_file TEXT,"
   "  status TEXT NOT NULL,"
   "  fine_tuned_model TEXT,"
   "  trained_tokens INTEGER,"
   "  metrics TEXT NOT NULL DEFAULT '{}',"
   "  error TEXT,"
   "  created_at TEXT NOT NULL,"
   "  updated_at TEXT NOT NULL,"
   "  UNIQUE (backend, job_id));"
   "CREATE INDEX experiments_task ON experiments(task_id, id);"
   "CREATE TABLE job_events ("
   "  id INTEGER PRIMARY KEY,"
   "  experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,"
   "  event_id TEXT NOT NULL,"
   "  created_at INTEGER,"
   "  level TEXT NOT NULL DEFAULT 'info',"
   "  type TEXT NOT NULL DEFAULT 'message',"
   "  message TEXT NOT NULL DEFAULT '',"
   "  data TEXT NOT NULL DEFAULT '{}',"
   "  UNIQUE (experiment_id, event_id));"
   "CREATE TABLE checkpoints ("
   "  id INTEGER PRIMARY KEY,"
   "  experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,"
   "  checkpoint_id TEXT NOT NULL,"
   "  created_at INTEGER,"
   "  step_number INTEGER,"
   "  fine_tuned_model_checkpoint TEXT,"
   "  metrics TEXT NOT NULL DEFAULT '{}',"
   "  UNIQUE (experiment_id, checkpoint_id));"
   "ALTER TABLE tasks ADD COLUMN candidate_experiment INTEGER REFERENCES experiments(id) ON DELETE SET NULL;",
   /* 5 -> 6: gateway routes and their audit trail (who changed what, old -> new, why) */
   "CREATE TABLE routes ("
   "  task TEXT PRIMARY KEY,"
   "  route TEXT NOT NULL,"
   "  updated_at TEXT NOT NULL);"
   "CREATE TABLE route_events ("
   "  id INTEGER PRIMARY KEY,"
   "  ts TEXT NOT NULL,"
   "  task TEXT NOT NULL,"
   "  kind TEXT NOT NULL CHECK (kind IN ('set','rollback')),"
   "  actor TEXT NOT NULL,"
   "  old_route TEXT,"
   "  new_route TEXT NOT NULL,"
   "  reason TEXT NOT NULL DEFAULT '');"
   "CREATE INDEX route_events_task ON route_events(task, id);",
   /* 6 -> 7: rollouts (steps, analysis triggers, hosting cost, where the rollout stands), their
    * analysis log, and the grades a reviewer gave shadow disagreements */
   "CREATE TABLE rollouts ("
   "  task_id INTEGER PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,"
   "  steps TEXT NOT NULL DEFAULT '5,10,20,50,100',"
   "  dwell_s REAL NOT NULL DEFAULT 300,"
   "  interval_s REAL NOT NULL DEFAULT 60,"
   "  failure_limit INTEGER NOT NULL DEFAULT 3,"
   "  max_error_rate REAL NOT NULL DEFAULT 0.02,"
   "  min_agreement REAL,"
   "  max_p95_ms REAL NOT NULL DEFAULT 0,"
   "  max_fallback_rate REAL NOT NULL DEFAULT 0.25,"
   "  min_samples INTEGER NOT NULL DEFAULT 20,"
   "  hosting_cost REAL NOT NULL DEFAULT 0,"
   "  pos INTEGER NOT NULL DEFAULT -1,"
   "  paused INTEGER NOT NULL DEFAULT 0,"
   "  pause_reason TEXT NOT NULL DEFAULT '',"
   "  failures INTEGER NOT NULL DEFAULT 0,"
   "  step_since REAL NOT NULL DEFAULT 0,"
   "  held INTEGER NOT NULL DEFAULT -1);"
   "CREATE TABLE rollout_events ("
   "  id INTEGER PRIMARY KEY,"
   "  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
   "  ts TEXT NOT NULL,"
   "  kind TEXT NOT NULL CHECK (kind IN ('pass','fail','inconclusive','pause','resume')),"
   "  percent INTEGER NOT NULL DEFAULT 0,"
   "  actor TEXT NOT NULL,"
   "  detail TEXT NOT NULL DEFAULT '');"
   "CREATE INDEX rollout_events_task ON rollout_events(task_id, id);"
   "CREATE TABLE review_grades ("
   "  rid TEXT PRIMARY KEY,"
   "  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
   "  grade TEXT NOT NULL CHECK (grade IN ('primary','candidate','both','neither')),"
   "  actor TEXT NOT NULL,"
   "  ts TEXT NOT NULL);",
   /* 7 -> 8: /admin/samples reads a task's newest records of one kind; without these it scanned
    * the whole table when the kind was rare or absent (seconds on a large workspace). Partial,
    * so a capture only writes the entries of the kinds it is; ts in them answers "since"
    * without reading the rows. */
   "CREATE INDEX exchanges_disagree ON exchanges(task_id, id, ts) WHERE agree = 0;"
   "CREATE INDEX exchanges_agree ON exchanges(task_id, id, ts) WHERE agree = 1;"
   "CREATE INDEX exchanges_fallback ON exchanges(task_id, id, ts) WHERE arm = 'fallback';"
   "CREATE INDEX exchanges_error ON exchanges(task_id, id, ts) WHERE status IS NULL OR status >= 400;",
   /* 8 -> 9: binding gates: a route change or phase move made past a closed gate by force is
    * marked, for the history (red in the console) and the report */
   "ALTER TABLE route_events ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;"
   "ALTER TABLE phase_events ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;",
};

int Store_schema_version(void) {
   return (int)ARRAY_SIZE(migrations);
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
      if (!Store_exec(st, migrations[v], &msg)) {
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
