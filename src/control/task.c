/* task.c - inventory records: validation, storage and JSON for AI touchpoints. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/formatcheck.h"
#include "common/jsonscan.h"
#include "common/util.h"
#include "control/audit.h"
#include "control/phaselog.h"
#include "control/task.h"

static const char *const kind_names[KIND_COUNT] = {
   [KIND_LABEL] = "label",
   [KIND_EXTRACTION] = "extraction",
   [KIND_TOOL_CALL] = "tool-call",
   [KIND_REWRITE] = "rewrite",
   [KIND_OPEN_ENDED] = "open-ended",
   [KIND_MULTIMODAL] = "multimodal",
};

const char *OutputKind_name(OutputKind k) {
   return k < KIND_COUNT ? kind_names[k] : "?";
}

bool OutputKind_parse(const char *s, OutputKind *out) {
   for (int k = 0; k < KIND_COUNT; k++) {
      if (str_eq(s, kind_names[k])) {
         *out = (OutputKind)k;
         return true;
      }
   }
   return false;
}

const TaskField Task_fields[] = {
   { "description", "description", FIELD_TEXT, "what the call does" },
   { "provider", "provider", FIELD_TEXT, "API provider (openai, anthropic, ...)" },
   { "model", "model", FIELD_TEXT, "model the call uses today" },
   { "volume", "monthly_volume", FIELD_COUNT, "requests per month" },
   { "cost", "monthly_cost", FIELD_MONEY, "API spend per month, USD" },
   { "input-format", "input_format", FIELD_TEXT, "what goes in" },
   { "output-format", "output_format", FIELD_TEXT, "what comes out" },
   { "quality", "quality_req", FIELD_TEXT, "quality requirement, e.g. \"90%+ accuracy\"" },
   { "criticality", "criticality", FIELD_CRIT, "low | medium | high" },
   { "data", "data_available", FIELD_TEXT, "training data available, in words" },
   { "examples", "examples", FIELD_COUNT, "labelled examples available outside the logs" },
   { "kind", "answer_kind", FIELD_KIND, "label | extraction | tool-call | rewrite | open-ended | multimodal" },
   { "domain-vocab", "domain_vocab", FIELD_FLAG, "domain-specific vocabulary (yes|no)" },
   { "customer-facing", "customer_facing", FIELD_FLAG, "users see the output (yes|no)" },
   { "sla", "sla", FIELD_FLAG, "latency SLA applies (yes|no)" },
   { "revenue", "revenue", FIELD_FLAG, "revenue-generating (yes|no)" },
   { "changing", "changing", FIELD_FLAG, "prompt or spec still changing (yes|no)" },
   { "min-examples", "min_examples", FIELD_COUNT, "logged examples the audit gate needs" },
   { "agreement-bar", "agreement_bar", FIELD_FRACTION, "shadow agreement bar, 0-1 (lower 95% bound)" },
   { "min-comparisons", "min_comparisons", FIELD_COUNT, "shadow comparisons the gate needs" },
   { "eval-margin", "eval_margin", FIELD_POINTS, "points below the reference the eval gate allows" },
   { "format-bar", "format_bar", FIELD_FRACTION, "format compliance bar, 0-1" },
   { "metric", "text_metric", FIELD_METRIC, "text answers' metric against the logged answer: chrf | rouge-l" },
   { "metric-threshold", "text_threshold", FIELD_FRACTION, "metric score (0-1) at which a text answer agrees" },
   { "format-regex", "format_regex", FIELD_REGEX, "POSIX extended regex every answer must match (\"\" clears)" },
   { "format-starts-with", "format_starts_with", FIELD_TEXT, "text every answer must start with" },
   { "format-min-length", "format_min_length", FIELD_COUNT, "fewest characters an answer may have (0: no bound)" },
   { "format-max-length", "format_max_length", FIELD_COUNT, "most characters an answer may have (0: no bound)" },
   { "format-labels", "format_labels", FIELD_LABELS, "the allowed answers, comma-separated" },
   { "format-schema", "format_schema", FIELD_SCHEMA, "JSON Schema (type, required, properties, items, enum, "
                                                     "min/maxLength), inline or @FILE" },
};
const int Task_nfields = (int)ARRAY_SIZE(Task_fields);

static bool parse_flag(const char *s, bool *out) {
   static const char *const yes[] = { "yes", "y", "true", "1", "on" };
   static const char *const no[] = { "no", "n", "false", "0", "off" };
   for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
      if (strcasecmp(s, yes[i]) == 0)
         return (*out = true);
      if (strcasecmp(s, no[i]) == 0)
         return !(*out = false);
   }
   return false;
}

bool TaskField_check(const TaskField *f, const char *value, char **norm, char **err) {
   long l;
   double d;
   bool b;
   OutputKind k;
   TextMetric m;
   switch (f->type) {
   case FIELD_TEXT:
      if (strlen(value) > 4096) {
         *err = xasprintf("--%s: %zu characters is too long (at most 4096)", f->option, strlen(value));
         return false;
      }
      *norm = xstrdup(value);
      return true;
   case FIELD_COUNT:
      if (!parse_long(value, &l) || l < 0) {
         *err = xasprintf("--%s '%s' is not a whole number >= 0 (e.g. --%s 12000)", f->option, value, f->option);
         return false;
      }
      *norm = xasprintf("%ld", l);
      return true;
   case FIELD_MONEY:
      if (value[0] == '$')
         value++;
      if (!parse_double(value, &d) || d < 0) {
         *err = xasprintf("--%s '%s' is not an amount in USD >= 0 (e.g. --%s 340)", f->option, value, f->option);
         return false;
      }
      *norm = xasprintf("%.6f", d);
      return true;
   case FIELD_FRACTION:
      if (!parse_double(value, &d) || d < 0 || d > 1) {
         *err = xasprintf("--%s '%s' is not a fraction between 0 and 1 (e.g. --%s 0.9)", f->option, value, f->option);
         return false;
      }
      *norm = xasprintf("%.6f", d);
      return true;
   case FIELD_POINTS:
      if (!parse_double(value, &d) || d < 0 || d > 100) {
         *err = xasprintf("--%s '%s' is not a number of points between 0 and 100 (e.g. --%s 5)", f->option, value, f->option);
         return false;
      }
      *norm = xasprintf("%.6f", d);
      return true;
   case FIELD_FLAG:
      if (!parse_flag(value, &b)) {
         *err = xasprintf("--%s '%s' is not yes or no", f->option, value);
         return false;
      }
      *norm = xstrdup(b ? "1" : "0");
      return true;
   case FIELD_KIND:
      if (!OutputKind_parse(value, &k)) {
         *err = xasprintf("--%s '%s' is not an output kind (label, extraction, tool-call, rewrite, open-ended, "
                          "multimodal)", f->option, value);
         return false;
      }
      *norm = xstrdup(value);
      return true;
   case FIELD_CRIT:
      if (!str_eq(value, "low") && !str_eq(value, "medium") && !str_eq(value, "high")) {
         *err = xasprintf("--%s '%s' is not a criticality (low, medium, high)", f->option, value);
         return false;
      }
      *norm = xstrdup(value);
      return true;
   case FIELD_METRIC:
      if (!TextMetric_parse(value, &m)) {
         *err = xasprintf("--%s '%s' is not a text metric (chrf, rouge-l)", f->option, value);
         return false;
      }
      *norm = xstrdup(value);
      return true;
   case FIELD_REGEX:
      if (*value && !Format_regex_valid(value, err))
         return false;
      *norm = xstrdup(value);
      return true;
   case FIELD_LABELS:
      *norm = *value ? Format_labels_json(value, err) : xstrdup("");
      return *norm != NULL;
   case FIELD_SCHEMA: {
      char *text = NULL;
      if (value[0] == '@') {
         text = read_file(value + 1, NULL, err);
         if (!text) {
            char *why = *err;
            *err = xasprintf("--%s: %s", f->option, why);
            free(why);
            return false;
         }
      }
      const char *schema = text ? text : value;
      bool ok = !*schema || Format_schema_valid(schema, err);
      if (ok) {
         /* Stored compact: one line in the task's JSON and in 'task show'. */
         json_t *j = *schema ? json_loads(schema, 0, NULL) : NULL;
         *norm = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : xstrdup("");
         json_decref(j);
      }
      free(text);
      return ok;
   }
   case FIELD_SCORE:
      if (!parse_long(value, &l) || l < 1 || l > 5) {
         *err = xasprintf("--%s '%s' is not a score from 1 to 5 (or 'auto' for the suggestion)", f->option, value);
         return false;
      }
      *norm = xasprintf("%ld", l);
      return true;
   }
   return false;
}

void Task_init(Task *t) {
   memset(t, 0, sizeof *t);
}

void Task_clear(Task *t) {
   free(t->name);
   free(t->description);
   free(t->provider);
   free(t->model);
   free(t->input_format);
   free(t->output_format);
   free(t->quality_req);
   free(t->criticality);
   free(t->data_available);
   free(t->scored_at);
   free(t->phase);
   free(t->created_at);
   free(t->updated_at);
   free(t->kind_reason);
   free(t->format_regex);
   free(t->format_starts_with);
   free(t->format_labels);
   free(t->format_schema);
   Task_init(t);
}

#define TASK_COLUMNS \
   "id, name, description, provider, model, monthly_volume, monthly_cost, input_format, " \
   "output_format, quality_req, criticality, data_available, examples, coalesce(answer_kind, output_kind), domain_vocab, " \
   "customer_facing, sla, revenue, changing, suitability, impact, complexity, scored_at, phase, " \
   "min_examples, agreement_bar, min_comparisons, eval_margin, format_bar, created_at, updated_at, " \
   "(SELECT coalesce(sum(calls), 0) FROM audit_daily a WHERE a.task_id = tasks.id), kind_reason, text_metric, " \
   "text_threshold, format_regex, format_starts_with, format_labels, format_schema, format_min_length, format_max_length"

static char *col_text(sqlite3_stmt *s, int i) {
   const unsigned char *t = sqlite3_column_text(s, i);
   return t ? xstrdup((const char *)t) : NULL;
}

static void task_from_row(sqlite3_stmt *s, Task *t) {
   int i = 0;
   t->id = sqlite3_column_int64(s, i++);
   t->name = col_text(s, i++);
   t->description = col_text(s, i++);
   t->provider = col_text(s, i++);
   t->model = col_text(s, i++);
   t->monthly_volume = sqlite3_column_int64(s, i++);
   t->monthly_cost = sqlite3_column_double(s, i++);
   t->input_format = col_text(s, i++);
   t->output_format = col_text(s, i++);
   t->quality_req = col_text(s, i++);
   t->criticality = col_text(s, i++);
   t->data_available = col_text(s, i++);
   t->examples = sqlite3_column_int64(s, i++);
   OutputKind k = KIND_LABEL;
   OutputKind_parse((const char *)sqlite3_column_text(s, i++), &k);
   t->kind = k;
   t->domain_vocab = sqlite3_column_int(s, i++);
   t->customer_facing = sqlite3_column_int(s, i++);
   t->sla = sqlite3_column_int(s, i++);
   t->revenue = sqlite3_column_int(s, i++);
   t->changing = sqlite3_column_int(s, i++);
   t->suitability = sqlite3_column_int(s, i++);
   t->impact = sqlite3_column_int(s, i++);
   t->complexity = sqlite3_column_int(s, i++);
   t->scored_at = col_text(s, i++);
   t->phase = col_text(s, i++);
   t->min_examples = sqlite3_column_int64(s, i++);
   t->agreement_bar = sqlite3_column_double(s, i++);
   t->min_comparisons = sqlite3_column_int64(s, i++);
   t->eval_margin = sqlite3_column_double(s, i++);
   t->format_bar = sqlite3_column_double(s, i++);
   t->created_at = col_text(s, i++);
   t->updated_at = col_text(s, i++);
   t->logged = sqlite3_column_int64(s, i++);
   t->kind_reason = col_text(s, i++);
   TextMetric m = METRIC_CHRF;
   TextMetric_parse((const char *)sqlite3_column_text(s, i++), &m);
   t->text_metric = m;
   t->text_threshold = sqlite3_column_double(s, i++);
   t->format_regex = col_text(s, i++);
   t->format_starts_with = col_text(s, i++);
   t->format_labels = col_text(s, i++);
   t->format_schema = col_text(s, i++);
   t->format_min_length = sqlite3_column_int64(s, i++);
   t->format_max_length = sqlite3_column_int64(s, i++);
}

/* Volume and cost the user left at 0 read as the audit's figures over every logged day
 * (calls/day x 30, daily cost of priced calls x 30): the score suggestions then follow the
 * logs, and a value the user sets always wins. */
static void fill_from_audit(Store *st, Task *ts, int n) {
   bool need = false;
   for (int i = 0; i < n && !need; i++)
      need = ts[i].logged > 0 && (ts[i].monthly_volume == 0 || ts[i].monthly_cost == 0);
   if (!need)
      return;
   Audit a;
   char *err = NULL;
   if (!Audit_compute(st, NULL, false, &a, &err)) {
      free(err);
      return;
   }
   for (int i = 0; i < n; i++) {
      const AuditRow *r = Audit_find_task(&a, ts[i].id);
      if (!r)
         continue;
      if (ts[i].monthly_volume == 0) {
         ts[i].monthly_volume = llround(r->calls_per_day * 30);
         ts[i].volume_from_audit = true;
      }
      if (ts[i].monthly_cost == 0 && r->priced_calls > 0) {
         ts[i].monthly_cost = r->monthly_cost;
         ts[i].cost_from_audit = true;
      }
   }
   Audit_free(&a);
}

bool Task_get(Store *st, const char *name, Task *t, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT " TASK_COLUMNS " FROM tasks WHERE name = ?");
   sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   int rc = sqlite3_step(s);
   if (rc == SQLITE_ROW)
      task_from_row(s, t);
   else if (rc == SQLITE_DONE)
      *err = xasprintf("no task named '%s' (see 'offramp task list')", name);
   else
      *err = Store_errmsg(st, "reading a task");
   sqlite3_finalize(s);
   if (rc == SQLITE_ROW)
      fill_from_audit(st, t, 1);
   return rc == SQLITE_ROW;
}

Task *Task_list(Store *st, int *n) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT " TASK_COLUMNS " FROM tasks ORDER BY name");
   int cap = 16;
   Task *ts = xcalloc(cap, sizeof *ts);
   *n = 0;
   while (sqlite3_step(s) == SQLITE_ROW) {
      if (*n == cap) {
         cap *= 2;
         ts = xrealloc(ts, cap * sizeof *ts);
      }
      Task_init(&ts[*n]);
      task_from_row(s, &ts[(*n)++]);
   }
   sqlite3_finalize(s);
   fill_from_audit(st, ts, *n);
   return ts;
}

void Task_free_list(Task *ts, int n) {
   for (int i = 0; i < n; i++)
      Task_clear(&ts[i]);
   free(ts);
}

static bool name_taken(Store *st, const char *name) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT 1 FROM tasks WHERE name = ?");
   sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   bool taken = sqlite3_step(s) == SQLITE_ROW;
   sqlite3_finalize(s);
   return taken;
}

/* Bind the validated values to ?2.. in order; validation happens before anything is written. */
static bool check_values(const TaskField **fields, const char **values, int n, char ***norm, char **err) {
   *norm = xcalloc(n ? n : 1, sizeof **norm);
   for (int i = 0; i < n; i++) {
      if (!TaskField_check(fields[i], values[i], &(*norm)[i], err))
         return false;
   }
   return true;
}

static void free_values(char **norm, int n) {
   for (int i = 0; i < n; i++)
      free(norm[i]);
   free(norm);
}

long long Task_create_in_tx(Store *st, const char *name, const char *description, const char *reason, char **err) {
   if (!Task_name_valid(name, err))
      return 0;
   if (name_taken(st, name)) {
      *err = xasprintf("a task named '%s' already exists", name);
      return 0;
   }
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *s = Store_prepare(st, "INSERT INTO tasks(name, description, created_at, updated_at) VALUES (?, ?, ?, ?)");
   sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 2, description, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 3, ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 4, ts, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   if (!ok) {
      *err = Store_errmsg(st, "creating a task");
      return 0;
   }
   long long id = sqlite3_last_insert_rowid(st->db);
   return Phase_record(st, id, "create", NULL, "audit", reason, err) ? id : 0;
}

bool Task_add(Store *st, const char *name, const TaskField **fields, const char **values, int n, char **err) {
   char **norm = NULL;
   bool ok = false;
   if (!Task_name_valid(name, err) || !check_values(fields, values, n, &norm, err))
      goto out;
   if (!Store_begin(st, err))
      goto out;
   if (name_taken(st, name)) {
      *err = xasprintf("a task named '%s' already exists (use 'offramp task edit %s')", name, name);
      Store_rollback(st);
      goto out;
   }
   Sbuf cols = { 0 }, qs = { 0 };
   Sbuf_puts(&cols, "name, created_at, updated_at");
   Sbuf_puts(&qs, "?1, ?2, ?2");
   for (int i = 0; i < n; i++) {
      Sbuf_printf(&cols, ", %s", fields[i]->column);
      Sbuf_printf(&qs, ", ?%d", i + 3);
      if (fields[i]->type == FIELD_KIND) {
         Sbuf_puts(&cols, ", kind_reason");
         Sbuf_puts(&qs, ", '" KIND_SET_BY_USER "'");
      }
   }
   char *sql = xasprintf("INSERT INTO tasks(%s) VALUES (%s)", cols.buf, qs.buf);
   Sbuf_free(&cols);
   Sbuf_free(&qs);
   sqlite3_stmt *s = Store_prepare(st, sql);
   free(sql);
   char ts[32];
   now_iso8601(ts);
   sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
   for (int i = 0; i < n; i++)
      sqlite3_bind_text(s, i + 3, norm[i], -1, SQLITE_STATIC);
   ok = sqlite3_step(s) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "adding the task");
   sqlite3_finalize(s);
   ok = ok && Phase_record(st, sqlite3_last_insert_rowid(st->db), "create", NULL, "audit", "task added", err);
   if (ok)
      ok = Store_commit(st, err);
   else
      Store_rollback(st);
out:
   free_values(norm, n);
   return ok;
}

bool Task_edit(Store *st, const char *name, const char *rename, const TaskField **fields,
               const char **values, int n, char **err) {
   char **norm = NULL;
   bool ok = false;
   if ((rename && !Task_name_valid(rename, err)) || !check_values(fields, values, n, &norm, err))
      goto out;
   if (!Store_begin(st, err))
      goto out;
   if (!name_taken(st, name)) {
      *err = xasprintf("no task named '%s' (see 'offramp task list')", name);
      Store_rollback(st);
      goto out;
   }
   if (rename && !str_eq(rename, name) && name_taken(st, rename)) {
      *err = xasprintf("cannot rename '%s' to '%s': a task with that name exists", name, rename);
      Store_rollback(st);
      goto out;
   }
   Sbuf set = { 0 };
   Sbuf_puts(&set, "updated_at = ?2");
   if (rename)
      Sbuf_puts(&set, ", name = ?3");
   for (int i = 0; i < n; i++) {
      Sbuf_printf(&set, ", %s = ?%d", fields[i]->column, i + 4);
      if (fields[i]->type == FIELD_KIND)
         Sbuf_puts(&set, ", kind_reason = '" KIND_SET_BY_USER "'");
   }
   char *sql = xasprintf("UPDATE tasks SET %s WHERE name = ?1", set.buf);
   Sbuf_free(&set);
   sqlite3_stmt *s = Store_prepare(st, sql);
   free(sql);
   char ts[32];
   now_iso8601(ts);
   sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
   if (rename)
      sqlite3_bind_text(s, 3, rename, -1, SQLITE_STATIC);
   for (int i = 0; i < n; i++)
      sqlite3_bind_text(s, i + 4, norm[i], -1, SQLITE_STATIC);
   ok = sqlite3_step(s) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "editing the task");
   sqlite3_finalize(s);
   if (ok)
      ok = Store_commit(st, err);
   else
      Store_rollback(st);
out:
   free_values(norm, n);
   return ok;
}

bool Task_remove(Store *st, const char *name, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "DELETE FROM tasks WHERE name = ?");
   sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "removing the task");
   else if (sqlite3_changes(st->db) == 0) {
      *err = xasprintf("no task named '%s' (see 'offramp task list')", name);
      ok = false;
   }
   sqlite3_finalize(s);
   return ok;
}

json_t *Task_to_json(const Task *t) {
   json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:f, s:s, s:s, s:s, s:s, s:s, s:I, s:s,"
                    " s:b, s:b, s:b, s:b, s:b, s:s, s:I, s:b, s:b, s:I, s:f, s:I, s:f, s:f, s:s, s:s}",
                    "name", t->name, "description", t->description, "provider", t->provider,
                    "model", t->model, "monthly_volume", (json_int_t)t->monthly_volume,
                    "monthly_cost", t->monthly_cost, "input_format", t->input_format,
                    "output_format", t->output_format, "quality", t->quality_req,
                    "criticality", t->criticality, "data", t->data_available,
                    "examples", (json_int_t)t->examples, "kind", OutputKind_name(t->kind),
                    "domain_vocab", t->domain_vocab, "customer_facing", t->customer_facing,
                    "sla", t->sla, "revenue", t->revenue, "changing", t->changing,
                    "phase", t->phase, "logged_examples", (json_int_t)t->logged,
                    "monthly_volume_from_audit", t->volume_from_audit, "monthly_cost_from_audit", t->cost_from_audit,
                    "min_examples", (json_int_t)t->min_examples, "agreement_bar", t->agreement_bar,
                    "min_comparisons", (json_int_t)t->min_comparisons, "eval_margin", t->eval_margin,
                    "format_bar", t->format_bar, "created_at", t->created_at, "updated_at", t->updated_at);
   json_object_set_new(j, "kind_reason", json_string(t->kind_reason ? t->kind_reason : ""));
   json_object_set_new(j, "text_metric", json_string(TextMetric_name(t->text_metric)));
   json_object_set_new(j, "text_threshold", json_real(t->text_threshold));
   json_t *fmt = json_object();
   if (t->format_regex && *t->format_regex)
      json_object_set_new(fmt, "regex", json_string(t->format_regex));
   if (t->format_starts_with && *t->format_starts_with)
      json_object_set_new(fmt, "starts_with", json_string(t->format_starts_with));
   if (t->format_min_length > 0)
      json_object_set_new(fmt, "min_length", json_integer(t->format_min_length));
   if (t->format_max_length > 0)
      json_object_set_new(fmt, "max_length", json_integer(t->format_max_length));
   if (t->format_labels && *t->format_labels)
      json_object_set_new(fmt, "labels", json_loads(t->format_labels, 0, NULL));
   if (t->format_schema && *t->format_schema)
      json_object_set_new(fmt, "schema", json_loads(t->format_schema, 0, NULL));
   json_object_set_new(j, "format", fmt);
   return j;
}

bool Task_format(const Task *t, FormatSpec *f, char **err) {
   return FormatSpec_init(f, t->format_regex, t->format_starts_with, (long)t->format_min_length,
                          (long)t->format_max_length, t->format_labels, t->format_schema, err);
}

bool Task_set_inferred_kind(Store *st, long long task_id, OutputKind k, const char *reason, char **err) {
   sqlite3_stmt *s = Store_prepare(st, "UPDATE tasks SET answer_kind = ?2, kind_reason = ?3 WHERE id = ?1 AND "
                                       "kind_reason != '" KIND_SET_BY_USER "'");
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_text(s, 2, OutputKind_name(k), -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 3, reason, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   if (!ok)
      *err = Store_errmsg(st, "recording the inferred output kind");
   sqlite3_finalize(s);
   return ok;
}
