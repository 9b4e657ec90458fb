/* eval.c - evaluation runs: sending the test set, scoring, metrics, resume, gate figures. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/formatcheck.h"
#include "common/stats.h"
#include "common/util.h"
#include "control/dataset.h"
#include "control/eval.h"
#include "control/task.h"
#include "http/httpbatch.h"

/* ---------------------------------------------------------------- endpoints */

static void endpoint_price(Store *st, const char *backend, EvalEndpoint *e) {
   /* Price columns are optional in a backends table: ask, and stay unpriced if absent. */
   sqlite3_stmt *s = NULL;
   if (sqlite3_prepare_v2(st->db, "SELECT price_in, price_out FROM backends WHERE name = ?", -1, &s, NULL) != SQLITE_OK)
      return;
   sqlite3_bind_text(s, 1, backend, -1, SQLITE_STATIC);
   if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
      e->price_in = sqlite3_column_double(s, 0);
      e->price_out = sqlite3_column_double(s, 1);
   }
   sqlite3_finalize(s);
}

/* The one place a candidate spec becomes a URL: the lead switches it to the backends module
 * when the trainer branch lands. */
bool Eval_endpoint(Store *st, const char *spec, EvalEndpoint *e, char **err) {
   memset(e, 0, sizeof *e);
   e->price_in = e->price_out = -1;
   const char *bar = strchr(spec, '|');
   char *base = NULL;
   if (bar) {
      base = xstrndup(spec, (size_t)(bar - spec));
      e->model = xstrdup(bar + 1);
      if (!str_startswith(base, "http://") && !str_startswith(base, "https://")) {
         *err = xasprintf("'%s': the part before '|' must be an http(s) base URL like http://127.0.0.1:8402/v1", spec);
         goto fail;
      }
   } else {
      const char *colon = strchr(spec, ':');
      if (!colon || !Store_has_table(st, "backends")) {
         *err = xasprintf("'%s' is not BACKEND:MODEL%s; pass URL|MODEL, e.g. 'http://127.0.0.1:8402/v1|intent-3'",
                          spec, Store_has_table(st, "backends") ? "" : " (this workspace has no backends yet)");
         return false;
      }
      char *name = xstrndup(spec, (size_t)(colon - spec));
      e->model = xstrdup(colon + 1);
      sqlite3_stmt *s = Store_prepare(st, "SELECT base_url, key_env FROM backends WHERE name = ?");
      sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
      if (sqlite3_step(s) == SQLITE_ROW) {
         base = xstrdup((const char *)sqlite3_column_text(s, 0));
         const char *key_env = (const char *)sqlite3_column_text(s, 1);
         const char *key = key_env && *key_env ? getenv(key_env) : NULL;
         if (key_env && *key_env && (!key || !*key))
            *err = xasprintf("backend %s needs its key in $%s, which is not set (export %s=...)", name, key_env, key_env);
         e->key = key && *key ? xstrdup(key) : NULL;
      } else {
         *err = xasprintf("no backend named '%s' (list them with 'offramp backend list', or pass URL|MODEL)", name);
      }
      sqlite3_finalize(s);
      if (!*err)
         endpoint_price(st, name, e);
      free(name);
      if (*err)
         goto fail;
   }
   if (!*e->model) {
      *err = xasprintf("'%s' names no model after the separator", spec);
      goto fail;
   }
   size_t len = strlen(base);
   while (len && base[len - 1] == '/')
      base[--len] = '\0';
   e->url = xasprintf("%s/chat/completions", base);
   e->spec = xstrdup(spec);
   free(base);
   return true;
fail:
   free(base);
   EvalEndpoint_clear(e);
   return false;
}

void EvalEndpoint_clear(EvalEndpoint *e) {
   free(e->spec);
   free(e->url);
   free(e->model);
   free(e->key);
   memset(e, 0, sizeof *e);
}

/* ---------------------------------------------------------------- test sets */

/* The test file of a registered dataset (the task's latest when dataset is NULL). */
static char *dataset_test_path(Store *st, long long task_id, const char *dataset, char **err) {
   long long id = 0;
   if (dataset) {
      long v;
      if (!parse_long(dataset, &v) || v <= 0) {
         *err = xasprintf("--dataset '%s' is not a dataset id (offramp dataset list)", dataset);
         return NULL;
      }
      id = v;
   }
   /* Dataset_get names the task in its messages: look its name up. */
   Task t;
   Task_init(&t);
   sqlite3_stmt *s = Store_prepare(st, "SELECT name FROM tasks WHERE id = ?1");
   sqlite3_bind_int64(s, 1, task_id);
   bool found;
   if (sqlite3_step(s) == SQLITE_ROW) {
      found = Task_get(st, (const char *)sqlite3_column_text(s, 0), &t, err);
   } else {
      found = false;
      *err = xasprintf("no task with id %lld", task_id);
   }
   sqlite3_finalize(s);
   char *path = NULL;
   Dataset d;
   if (found && Dataset_get(st, &t, id, &d, err)) {
      path = xasprintf("%s/test.jsonl", d.dir);
      Dataset_clear(&d);
   } else if (found) {
      char *why = *err;
      *err = xasprintf("%s, or pass --test-file test.jsonl", why);
      free(why);
   }
   Task_clear(&t);
   return path;
}

/* Reads chat JSONL; calls row() with each line's messages. */
static bool read_jsonl(const char *path, bool (*row)(void *ctx, json_t *example, json_t *messages, long line, char **err),
                       void *ctx,
                       uint64_t *hash, char **err) {
   FILE *f = fopen(path, "r");
   if (!f) {
      *err = xasprintf("cannot read %s: %s", path, strerror(errno));
      return false;
   }
   char *line = NULL;
   size_t cap = 0;
   ssize_t len;
   long lineno = 0;
   uint64_t h = hash64("", 0);
   bool ok = true;
   while (ok && (len = getline(&line, &cap, f)) >= 0) {
      lineno++;
      h ^= hash64(line, (size_t)len) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      char *p = line;
      while (isspace((unsigned char)*p))
         p++;
      if (!*p)
         continue;
      json_error_t je;
      json_t *j = json_loads(p, 0, &je);
      json_t *msgs = json_object_get(j, "messages");
      if (!json_is_array(msgs) || json_array_size(msgs) < 2) {
         *err = xasprintf("%s:%ld: not a chat example ({\"messages\":[...,{\"role\":\"assistant\",...}]})%s%s", path,
                          lineno, j ? "" : ": ", j ? "" : je.text);
         ok = false;
      } else {
         ok = row(ctx, j, msgs, lineno, err);
      }
      json_decref(j);
   }
   free(line);
   fclose(f);
   if (hash)
      *hash = h;
   return ok;
}

/* The last message's answer as a new string: its content, or its tool calls (canonical). */
static char *assistant_answer(json_t *messages) {
   json_t *last = json_array_get(messages, json_array_size(messages) - 1);
   if (!str_eq(json_string_value(json_object_get(last, "role")), "assistant"))
      return NULL;
   const char *content = json_string_value(json_object_get(last, "content"));
   return content ? xstrdup(content) : Compare_tool_calls_canonical(json_object_get(last, "tool_calls"));
}

typedef struct {
   EvalSet *set;
   const char *path;
   bool labels;
   size_t cap;
} LoadCtx;

static void add_label(EvalSet *set, const char *answer) {
   for (int i = 0; i < set->nlabels; i++) {
      if (Compare_answers(COMPARE_LABEL, set->labels[i], answer))
         return;
   }
   set->labels = xrealloc(set->labels, (size_t)(set->nlabels + 1) * sizeof *set->labels);
   char *label = xstrdup(answer);
   set->labels[set->nlabels++] = str_trim(label);
}

static bool test_row(void *vctx, json_t *example, json_t *messages, long line, char **err) {
   LoadCtx *c = vctx;
   char *answer = assistant_answer(messages);
   if (!answer) {
      *err = xasprintf("%s:%ld: the last message must be the assistant's answer (the reference): content or "
                       "tool_calls", c->path, line);
      return false;
   }
   EvalSet *set = c->set;
   if (set->n == c->cap)
      set->rows = xrealloc(set->rows, (c->cap = c->cap ? 2 * c->cap : 256) * sizeof *set->rows);
   EvalRow *r = &set->rows[set->n++];
   r->expected = answer;
   json_t *tools = json_object_get(example, "tools");
   r->tools = json_is_array(tools) ? json_incref(tools) : NULL;
   r->prompt = json_array();
   for (size_t i = 0; i + 1 < json_array_size(messages); i++)
      json_array_append(r->prompt, json_array_get(messages, i));
   if (c->labels)
      add_label(set, answer);
   return true;
}

static bool train_row(void *vctx, json_t *example, json_t *messages, long line, char **err) {
   (void)example;
   char *answer = assistant_answer(messages);
   if (answer)
      add_label(((LoadCtx *)vctx)->set, answer);
   free(answer);
   return true;
}

bool EvalSet_load(Store *st, long long task_id, const char *dataset, const char *test_file, bool labels,
                  EvalSet *set, char **err) {
   memset(set, 0, sizeof *set);
   char *path = test_file ? xstrdup(test_file) : dataset_test_path(st, task_id, dataset, err);
   if (!path)
      return false;
   LoadCtx c = { .set = set, .path = path, .labels = labels };
   uint64_t h;
   bool ok = read_jsonl(path, test_row, &c, &h, err);
   if (ok && set->n == 0) {
      *err = xasprintf("%s has no test rows", path);
      ok = false;
   }
   if (ok && labels) {
      /* The label set is what the frontier answered anywhere in the dataset. */
      char *slash = strrchr(path, '/');
      char *train = slash ? xasprintf("%.*s/train.jsonl", (int)(slash - path), path) : xstrdup("train.jsonl");
      FILE *probe = fopen(train, "r");
      if (probe) {
         fclose(probe);
         c.path = train;
         ok = read_jsonl(train, train_row, &c, NULL, err);
      }
      free(train);
   }
   if (ok) {
      set->source = test_file ? xasprintf("file %s", test_file) : xasprintf("dataset %s", dataset ? dataset : path);
      set->hash = xasprintf("%016llx", (unsigned long long)h);
   } else {
      EvalSet_clear(set);
   }
   free(path);
   return ok;
}

void EvalSet_clear(EvalSet *set) {
   for (size_t i = 0; i < set->n; i++) {
      json_decref(set->rows[i].prompt);
      json_decref(set->rows[i].tools);
      free(set->rows[i].expected);
   }
   free(set->rows);
   for (int i = 0; i < set->nlabels; i++)
      free(set->labels[i]);
   free(set->labels);
   free(set->source);
   free(set->hash);
   memset(set, 0, sizeof *set);
}

static int label_index(const EvalSet *set, const char *answer) {
   for (int i = 0; answer && i < set->nlabels; i++) {
      if (Compare_answers(COMPARE_LABEL, set->labels[i], answer))
         return i;
   }
   return -1;
}

/* ---------------------------------------------------------------- running */

void EvalOpts_defaults(EvalOpts *o) {
   memset(o, 0, sizeof *o);
   o->concurrency = 8;
   o->repeat = 0;
   o->repeat_rows = 20;
   o->timeout_ms = 30000;
   o->backoff_ms = 500;
   o->max_attempts = 4;
   o->price_in = o->price_out = o->ref_price_in = o->ref_price_out = -1;
   o->bar = -1;
}

/* The route's comparison when the gateway keeps one, else the task's output kind's. */
static CompareMode task_compare(Store *st, const Task *t) {
   CompareMode m;
   if (Store_has_table(st, "routes")) {
      sqlite3_stmt *s = NULL;
      if (sqlite3_prepare_v2(st->db, "SELECT json_extract(route, '$.compare') FROM routes WHERE task = ?", -1, &s,
                             NULL) == SQLITE_OK) {
         sqlite3_bind_text(s, 1, t->name, -1, SQLITE_STATIC);
         bool found = sqlite3_step(s) == SQLITE_ROW &&
                      Compare_mode_parse((const char *)sqlite3_column_text(s, 0), &m);
         sqlite3_finalize(s);
         if (found)
            return m;
      }
   }
   return t->kind == KIND_LABEL ? COMPARE_LABEL : t->kind == KIND_EXTRACTION ? COMPARE_JSON
        : t->kind == KIND_TOOL_CALL ? COMPARE_TOOL_CALLS : COMPARE_TEXT;
}

typedef struct {
   Store *st;
   const EvalOpts *o;
   const EvalSet *set;
   CompareMode mode;
   TextMetric metric;      /* text: scored with it, agreeing at threshold */
   double threshold;
   const FormatSpec *fmt;  /* the task's declared format */
   long long run_id;
   size_t done, total;
   char *err;
} RunCtx;

typedef struct {
   long idx;
   int rep;
   const char *arm;
} JobTag;

/* Whether the row's tool calls name only the tools its request offered. */
static bool tools_offered(const json_t *tools, const char *answer) {
   json_t *calls = json_loads(answer, 0, NULL);
   bool ok = json_is_array(calls) && json_array_size(calls) > 0;
   size_t i;
   json_t *call;
   json_array_foreach(calls, i, call) {
      const char *name = json_string_value(json_object_get(call, "name"));
      bool found = !tools;
      for (size_t k = 0; k < json_array_size(tools) && !found; k++)
         found = str_eq(name, json_string_value(json_object_get(json_object_get(json_array_get(tools, k), "function"),
                                                                "name")));
      ok = ok && name && found;
   }
   json_decref(calls);
   return ok;
}

static bool mode_compliant(const RunCtx *c, const EvalRow *row, const char *answer, const char *expected);

/* Whether answer is in the expected format (mode_compliant) and passes the task's declared
 * checks; *why gets the first failure. */
static bool compliant(const RunCtx *c, const EvalRow *row, const char *answer, char **why) {
   *why = NULL;
   if (!mode_compliant(c, row, answer, row->expected)) {
      *why = xstrdup(c->mode == COMPARE_LABEL ? "not a label of the set" : c->mode == COMPARE_JSON
                                                                         ? "not JSON with the expected fields"
                     : c->mode == COMPARE_TOOL_CALLS ? "not a call of an offered tool" : "empty");
      return false;
   }
   return FormatSpec_check(c->fmt, answer, why);
}

/* The mode's own format: a known label, JSON with the expected keys, calls of offered
 * tools, or any non-empty text. */
static bool mode_compliant(const RunCtx *c, const EvalRow *row, const char *answer, const char *expected) {
   if (c->mode == COMPARE_LABEL)
      return label_index(c->set, answer) >= 0;
   if (c->mode == COMPARE_TOOL_CALLS)
      return tools_offered(row->tools, answer);
   if (c->mode != COMPARE_JSON) {
      for (const char *p = answer; *p; p++) {
         if (!isspace((unsigned char)*p))
            return true;
      }
      return false;
   }
   json_t *got = json_loads(answer, JSON_DECODE_ANY, NULL), *want = json_loads(expected, JSON_DECODE_ANY, NULL);
   bool ok = got != NULL;
   if (ok && json_is_object(want)) {
      const char *k;
      json_t *v;
      ok = json_is_object(got);
      json_object_foreach(want, k, v) {
         if (ok && !json_object_get(got, k))
            ok = false;
      }
   }
   json_decref(got);
   json_decref(want);
   return ok;
}

static void on_done(void *vctx, HttpJob *job, const HttpResult *r) {
   RunCtx *c = vctx;
   JobTag *tag = job->user;
   const EvalRow *row = &c->set->rows[tag->idx];
   const char *outcome = r->outcome == HTTP_TIMEOUT ? "timeout" : r->outcome == HTTP_FAILED ? "error" : "ok";
   char *answer = NULL, *fmt_error = NULL;
   double confidence = -1, score = -1;
   long fields_ok = 0, fields = 0, ptok = -1, ctok = -1;
   bool correct = false, fmt = false;
   json_t *resp = NULL;
   char *error = NULL;
   if (r->outcome == HTTP_OK) {
      resp = json_loadb(r->body, r->len, 0, NULL);
      answer = Compare_answer_new(resp);
      if (!answer) {
         outcome = "malformed";
         error = xasprintf("no choices[0].message.content or tool_calls in: %.120s", r->body);
      } else {
         confidence = Compare_confidence(resp, c->mode);
         correct = Compare_agree(c->mode, c->metric, c->threshold, answer, row->expected);
         if (c->mode == COMPARE_TEXT)
            score = Textmetrics_score(c->metric, answer, row->expected);
         fmt = compliant(c, row, answer, &fmt_error);
         Compare_fields(c->mode, answer, row->expected, &fields_ok, &fields);
         json_t *usage = json_object_get(resp, "usage");
         if (json_is_integer(json_object_get(usage, "prompt_tokens")))
            ptok = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
         if (json_is_integer(json_object_get(usage, "completion_tokens")))
            ctok = (long)json_integer_value(json_object_get(usage, "completion_tokens"));
      }
   } else {
      error = xasprintf("%s%sHTTP %ld: %.120s", r->error, *r->error ? "; " : "", r->status, r->body);
   }
   sqlite3_stmt *s = Store_prepare(c->st,
      "INSERT OR REPLACE INTO eval_rows(run_id, idx, arm, rep, outcome, status, answer, confidence, correct, compliant,"
      " fields_ok, fields, latency_ms, prompt_tokens, completion_tokens, attempts, error, score, format_error)"
      " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
   sqlite3_bind_int64(s, 1, c->run_id);
   sqlite3_bind_int64(s, 2, tag->idx);
   sqlite3_bind_text(s, 3, tag->arm, -1, SQLITE_STATIC);
   sqlite3_bind_int(s, 4, tag->rep);
   sqlite3_bind_text(s, 5, outcome, -1, SQLITE_STATIC);
   if (r->status)
      sqlite3_bind_int64(s, 6, r->status);
   if (answer)
      sqlite3_bind_text(s, 7, answer, -1, SQLITE_TRANSIENT);
   if (confidence >= 0)
      sqlite3_bind_double(s, 8, confidence);
   sqlite3_bind_int(s, 9, correct);
   sqlite3_bind_int(s, 10, fmt);
   sqlite3_bind_int64(s, 11, fields_ok);
   sqlite3_bind_int64(s, 12, fields);
   if (r->outcome == HTTP_OK)   /* latency is the model's answering time, not a failure's */
      sqlite3_bind_double(s, 13, r->latency_ms);
   if (ptok >= 0)
      sqlite3_bind_int64(s, 14, ptok);
   if (ctok >= 0)
      sqlite3_bind_int64(s, 15, ctok);
   sqlite3_bind_int(s, 16, r->attempts);
   if (error)
      sqlite3_bind_text(s, 17, error, -1, SQLITE_TRANSIENT);
   if (score >= 0)
      sqlite3_bind_double(s, 18, score);
   if (fmt_error)
      sqlite3_bind_text(s, 19, fmt_error, -1, SQLITE_TRANSIENT);
   /* Autocommit per row: a killed run keeps every answer it received. */
   if (sqlite3_step(s) != SQLITE_DONE && !c->err)
      c->err = Store_errmsg(c->st, "saving an evaluation row");
   sqlite3_finalize(s);
   free(error);
   free(answer);
   free(fmt_error);
   json_decref(resp);
   c->done++;
   if (c->o->progress)
      c->o->progress(c->o->ctx, c->done, c->total);
}

static char *request_body(const EvalRow *row, const char *model, bool sampled, int max_tokens) {
   json_t *b = json_pack("{s:s, s:O, s:b, s:i, s:i}", "model", model, "messages", row->prompt, "logprobs", 1,
                         "top_logprobs", 5, "max_tokens", max_tokens);
   if (row->tools)
      json_object_set(b, "tools", row->tools);
   /* Repeats run at the model's default temperature: consistency is about what it does when
    * nobody pins it. */
   if (!sampled)
      json_object_set_new(b, "temperature", json_real(0));
   char *s = json_dumps(b, JSON_COMPACT);
   json_decref(b);
   return s;
}

static int default_max_tokens(const EvalSet *set) {
   size_t longest = 0;
   for (size_t i = 0; i < set->n; i++) {
      size_t len = strlen(set->rows[i].expected);
      if (len > longest)
         longest = len;
   }
   /* Roughly 4 bytes a token; double it so a verbose but right answer is not cut short. */
   size_t t = longest / 2 + 16;
   return (int)(t > 4096 ? 4096 : t);
}

/* Rows spread evenly over the test set, for the repeats. */
static bool sampled_row(size_t idx, size_t n, int rows) {
   if ((size_t)rows >= n)
      return true;
   for (int i = 0; i < rows; i++) {
      if ((size_t)i * n / (size_t)rows == idx)
         return true;
   }
   return false;
}

static bool row_done(sqlite3_stmt *q, long long run, size_t idx, const char *arm, int rep) {
   sqlite3_reset(q);
   sqlite3_bind_int64(q, 1, run);
   sqlite3_bind_int64(q, 2, (long long)idx);
   sqlite3_bind_text(q, 3, arm, -1, SQLITE_STATIC);
   sqlite3_bind_int(q, 4, rep);
   return sqlite3_step(q) == SQLITE_ROW;
}

static long long find_or_create_run(Store *st, const Task *t, const EvalOpts *o, const EvalSet *set,
                                    const char *reference, json_t *params, char **err) {
   if (!o->fresh) {
      sqlite3_stmt *s = Store_prepare(st, "SELECT id, test_hash FROM eval_runs WHERE task_id = ? AND dataset = ? "
                                          "AND candidate = ? AND reference = ? AND status = 'running' ORDER BY id DESC LIMIT 1");
      sqlite3_bind_int64(s, 1, t->id);
      sqlite3_bind_text(s, 2, set->source, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 3, o->candidate, -1, SQLITE_STATIC);
      sqlite3_bind_text(s, 4, reference, -1, SQLITE_STATIC);
      long long id = 0;
      bool same = false;
      if (sqlite3_step(s) == SQLITE_ROW) {
         id = sqlite3_column_int64(s, 0);
         same = str_eq((const char *)sqlite3_column_text(s, 1), set->hash);
      }
      sqlite3_finalize(s);
      if (id && same)
         return id;
      /* The test file changed under an unfinished run: its rows no longer line up. */
      if (id) {
         s = Store_prepare(st, "UPDATE eval_runs SET status = 'abandoned' WHERE id = ?");
         sqlite3_bind_int64(s, 1, id);
         bool ok = sqlite3_step(s) == SQLITE_DONE;
         sqlite3_finalize(s);
         if (!ok) {
            *err = Store_errmsg(st, "abandoning an evaluation run whose test file changed");
            return 0;
         }
      }
   }
   char ts[32];
   now_iso8601(ts);
   char *p = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
   sqlite3_stmt *s = Store_prepare(st, "INSERT INTO eval_runs(task_id, dataset, test_hash, candidate, reference, params, "
                                       "created_at) VALUES (?,?,?,?,?,?,?)");
   sqlite3_bind_int64(s, 1, t->id);
   sqlite3_bind_text(s, 2, set->source, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 3, set->hash, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 4, o->candidate, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 5, reference, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 6, p, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 7, ts, -1, SQLITE_STATIC);
   long long id = 0;
   if (sqlite3_step(s) == SQLITE_DONE)
      id = sqlite3_last_insert_rowid(st->db);
   else
      *err = Store_errmsg(st, "starting an evaluation run");
   sqlite3_finalize(s);
   free(p);
   return id;
}

static json_t *compute_metrics(Store *st, const Task *t, long long run, const EvalSet *set, CompareMode mode,
                               const EvalEndpoint *cand, const EvalEndpoint *ref, const EvalOpts *o);

/* "BACKEND:MODEL" of the experiment the task picked in training, when the workspace has them. */
static char *default_candidate(Store *st, long long task_id) {
   sqlite3_stmt *s = NULL;
   if (sqlite3_prepare_v2(st->db, "SELECT e.backend, e.fine_tuned_model FROM tasks t JOIN experiments e "
                                  "ON e.id = t.candidate_experiment WHERE t.id = ? AND e.fine_tuned_model IS NOT NULL",
                          -1, &s, NULL) != SQLITE_OK)
      return NULL;
   sqlite3_bind_int64(s, 1, task_id);
   char *spec = NULL;
   if (sqlite3_step(s) == SQLITE_ROW)
      spec = xasprintf("%s:%s", sqlite3_column_text(s, 0), sqlite3_column_text(s, 1));
   sqlite3_finalize(s);
   return spec;
}

long long Eval_run(Store *st, const char *task, const EvalOpts *o, bool *complete, size_t *resumed, char **err) {
   *complete = false;
   *resumed = 0;
   Task t;
   Task_init(&t);
   if (!Task_get(st, task, &t, err))
      return 0;
   CompareMode mode;
   if (o->compare && !Compare_mode_parse(o->compare, &mode)) {
      *err = xasprintf("--compare '%s' is not one of label, exact, json, text, tool_calls", o->compare);
      Task_clear(&t);
      return 0;
   }
   if (!o->compare)
      mode = task_compare(st, &t);
   EvalEndpoint cand = { 0 }, ref = { 0 };
   EvalSet set = { 0 };
   FormatSpec fmt = { 0 };
   long long run = 0;
   HttpJob *jobs = NULL;
   JobTag *tags = NULL;
   size_t njobs = 0;
   EvalOpts oo = *o;   /* the candidate may come from the task's picked experiment */
   char *picked = oo.candidate ? NULL : default_candidate(st, t.id);
   o = &oo;
   if (!oo.candidate && !(oo.candidate = picked)) {
      *err = xasprintf("%s has no candidate: pass --candidate BACKEND:MODEL (or URL|MODEL), or pick an experiment "
                       "(offramp job pick ID)", t.name);
      goto out;
   }
   if (!Eval_endpoint(st, o->candidate, &cand, err) || (o->reference && !Eval_endpoint(st, o->reference, &ref, err)))
      goto out;
   if (!Task_format(&t, &fmt, err))
      goto out;
   if (o->price_in >= 0)
      cand.price_in = o->price_in, cand.price_out = o->price_out >= 0 ? o->price_out : o->price_in;
   if (o->ref_price_in >= 0)
      ref.price_in = o->ref_price_in, ref.price_out = o->ref_price_out >= 0 ? o->ref_price_out : o->ref_price_in;
   if (!EvalSet_load(st, t.id, o->dataset, o->test_file, mode == COMPARE_LABEL, &set, err))
      goto out;
   int max_tokens = o->max_tokens > 0 ? o->max_tokens : default_max_tokens(&set);
   json_t *params = json_pack("{s:s, s:i, s:i, s:i, s:I, s:i}", "compare", Compare_mode_name(mode), "concurrency",
                              o->concurrency, "repeat", o->repeat, "repeat_rows", o->repeat_rows, "timeout_ms",
                              (json_int_t)o->timeout_ms, "max_tokens", max_tokens);
   if (mode == COMPARE_TEXT) {
      json_object_set_new(params, "metric", json_string(TextMetric_name(t.text_metric)));
      json_object_set_new(params, "threshold", json_real(t.text_threshold));
   }
   run = find_or_create_run(st, &t, o, &set, o->reference ? o->reference : "", params, err);
   json_decref(params);
   if (!run)
      goto out;

   /* Every request of the run, less those a previous attempt finished. */
   size_t cap = set.n * (o->reference ? 2 : 1) + (size_t)o->repeat * (size_t)o->repeat_rows;
   jobs = xcalloc(cap ? cap : 1, sizeof *jobs);
   tags = xcalloc(cap ? cap : 1, sizeof *tags);
   sqlite3_stmt *q = Store_prepare(st, "SELECT 1 FROM eval_rows WHERE run_id = ? AND idx = ? AND arm = ? AND rep = ?");
   for (size_t i = 0; i < set.n; i++) {
      for (int rep = 0; rep <= o->repeat; rep++) {
         for (int arm = 0; arm < 2; arm++) {
            if ((arm == 1 && (!o->reference || rep > 0)) || (rep > 0 && !sampled_row(i, set.n, o->repeat_rows)))
               continue;
            const EvalEndpoint *e = arm ? &ref : &cand;
            const char *armname = arm ? "reference" : "candidate";
            if (row_done(q, run, i, armname, rep)) {
               (*resumed)++;
               continue;
            }
            tags[njobs] = (JobTag){ .idx = (long)i, .rep = rep, .arm = armname };
            jobs[njobs] = (HttpJob){ .url = e->url, .bearer = e->key, .body = request_body(&set.rows[i], e->model, rep > 0,
                                                                                             max_tokens),
                                     .user = &tags[njobs] };
            njobs++;
         }
      }
   }
   sqlite3_finalize(q);

   RunCtx c = { .st = st, .o = o, .set = &set, .mode = mode, .metric = t.text_metric, .threshold = t.text_threshold,
                .fmt = &fmt, .run_id = run, .done = *resumed, .total = njobs + *resumed };
   HttpBatchOpts bo = { .concurrency = o->concurrency, .max_attempts = o->max_attempts, .timeout_ms = o->timeout_ms,
                        .backoff_ms = o->backoff_ms, .stop = o->stop, .done = on_done, .ctx = &c };
   size_t finished = HttpBatch_run(jobs, njobs, &bo);
   if (c.err) {
      *err = c.err;
      run = 0;
      goto out;
   }
   if (finished < njobs) {
      *complete = false;   /* interrupted: the run stays 'running' and resumes */
      goto out;
   }
   json_t *m = compute_metrics(st, &t, run, &set, mode, &cand, o->reference ? &ref : NULL, o);
   char *text = json_dumps(m, JSON_COMPACT);
   json_decref(m);
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *s = Store_prepare(st, "UPDATE eval_runs SET status = 'done', finished_at = ?, metrics = ? WHERE id = ?");
   sqlite3_bind_text(s, 1, ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
   sqlite3_bind_int64(s, 3, run);
   if (sqlite3_step(s) != SQLITE_DONE) {
      *err = Store_errmsg(st, "saving the evaluation's metrics");
      run = 0;
   }
   sqlite3_finalize(s);
   free(text);
   *complete = run != 0;
out:
   for (size_t i = 0; i < njobs; i++)
      free(jobs[i].body);
   free(jobs);
   free(tags);
   EvalSet_clear(&set);
   FormatSpec_clear(&fmt);
   EvalEndpoint_clear(&cand);
   EvalEndpoint_clear(&ref);
   Task_clear(&t);
   free(picked);
   return run;
}

/* ---------------------------------------------------------------- metrics */

static json_t *rate_json(long k, long n) {
   double lo, hi;
   wilson95(k, n, &lo, &hi);
   return json_pack("{s:I, s:I, s:f, s:f, s:f}", "k", (json_int_t)k, "n", (json_int_t)n, "value",
                    n ? (double)k / (double)n : 0.0, "lo", lo, "hi", hi);
}

static json_t *num_or_null(double v) {
   return isfinite(v) ? json_real(v) : json_null();
}

typedef struct {
   long idx;
   char outcome[12];
   const char *answer;
   double confidence;
   bool correct, compliant;
   long fields_ok, fields;
   double latency;
   long ptok, ctok;
   double score;            /* text metric, -1 none */
   const char *format_error;
} RowView;

/* The arm's rep-0 rows in index order, one per test row (missing rows count as errors). */
static RowView *arm_rows(sqlite3_stmt *s, size_t n) {
   RowView *v = xcalloc(n ? n : 1, sizeof *v);
   for (size_t i = 0; i < n; i++)
      v[i] = (RowView){ .idx = (long)i, .outcome = "error", .confidence = -1, .latency = NAN, .ptok = -1, .ctok = -1,
                        .score = -1 };
   while (sqlite3_step(s) == SQLITE_ROW) {
      long i = (long)sqlite3_column_int64(s, 0);
      if (i < 0 || (size_t)i >= n)
         continue;
      RowView *r = &v[i];
      snprintf(r->outcome, sizeof r->outcome, "%s", (const char *)sqlite3_column_text(s, 1));
      r->answer = sqlite3_column_type(s, 2) == SQLITE_NULL ? NULL : xstrdup((const char *)sqlite3_column_text(s, 2));
      r->confidence = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_double(s, 3);
      r->correct = sqlite3_column_int(s, 4);
      r->compliant = sqlite3_column_int(s, 5);
      r->fields_ok = sqlite3_column_int(s, 6);
      r->fields = sqlite3_column_int(s, 7);
      r->latency = sqlite3_column_type(s, 8) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 8);
      r->ptok = sqlite3_column_type(s, 9) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 9);
      r->ctok = sqlite3_column_type(s, 10) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 10);
      r->score = sqlite3_column_type(s, 11) == SQLITE_NULL ? -1 : sqlite3_column_double(s, 11);
      r->format_error = sqlite3_column_type(s, 12) == SQLITE_NULL ? NULL : xstrdup((const char *)sqlite3_column_text(s, 12));
   }
   return v;
}

static void free_rows(RowView *v, size_t n) {
   for (size_t i = 0; i < n; i++) {
      free((char *)v[i].answer);
      free((char *)v[i].format_error);
   }
   free(v);
}

static RowView *load_arm(Store *st, long long run, const char *arm, size_t n) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT idx, outcome, answer, confidence, correct, compliant, fields_ok, fields, "
                                       "latency_ms, prompt_tokens, completion_tokens, score, format_error FROM eval_rows "
                                       "WHERE run_id = ? AND arm = ? AND rep = 0");
   sqlite3_bind_int64(s, 1, run);
   sqlite3_bind_text(s, 2, arm, -1, SQLITE_STATIC);
   RowView *v = arm_rows(s, n);
   sqlite3_finalize(s);
   return v;
}

/* The most frequent reasons answers failed the format, most first (at most 5). */
static json_t *format_failures(const RowView *v, size_t n) {
   json_t *counts = json_object();
   for (size_t i = 0; i < n; i++) {
      if (!v[i].format_error)
         continue;
      json_t *c = json_object_get(counts, v[i].format_error);
      json_object_set_new(counts, v[i].format_error, json_integer(c ? json_integer_value(c) + 1 : 1));
   }
   json_t *out = json_array();
   for (int k = 0; k < 5 && json_object_size(counts); k++) {
      const char *best = NULL, *key;
      json_int_t most = 0;
      json_t *val;
      json_object_foreach(counts, key, val) {
         if (json_integer_value(val) > most || (json_integer_value(val) == most && best && strcmp(key, best) < 0)) {
            most = json_integer_value(val);
            best = key;
         }
      }
      json_array_append_new(out, json_pack("{s:s, s:I}", "why", best, "n", most));
      json_object_del(counts, best);
   }
   json_decref(counts);
   return out;
}

static json_t *arm_metrics(const RowView *v, size_t n, CompareMode mode, const EvalEndpoint *e, TextMetric metric,
                           double threshold) {
   long correct = 0, fmt_k = 0, fmt_n = 0, errors = 0, timeouts = 0, malformed = 0, fok = 0, ftot = 0;
   long tok_n = 0, no_logprobs = 0, scored = 0;
   double ptok = 0, ctok = 0, score_sum = 0;
   double *lat = xcalloc(n ? n : 1, sizeof *lat);
   size_t nlat = 0;
   for (size_t i = 0; i < n; i++) {
      const RowView *r = &v[i];
      correct += r->correct;
      if (str_eq(r->outcome, "error"))
         errors++;
      else if (str_eq(r->outcome, "timeout"))
         timeouts++;
      else {
         /* A malformed answer is a format failure; transport failures are not the model's format. */
         fmt_n++;
         fmt_k += r->compliant;
         malformed += str_eq(r->outcome, "malformed");
         no_logprobs += str_eq(r->outcome, "ok") && r->confidence < 0;
      }
      fok += r->fields_ok;
      ftot += r->fields;
      /* An arm that gave no answer scores 0 on the metric: errors are not left out. */
      scored++;
      score_sum += r->score > 0 ? r->score : 0;
      if (isfinite(r->latency))
         lat[nlat++] = r->latency;
      if (r->ptok >= 0 && r->ctok >= 0) {
         tok_n++;
         ptok += (double)r->ptok;
         ctok += (double)r->ctok;
      }
   }
   json_t *m = json_object();
   json_object_set_new(m, "model", json_string(e->spec));
   json_object_set_new(m, "source", json_string("model"));
   json_object_set_new(m, "accuracy", rate_json(correct, (long)n));
   if (mode == COMPARE_JSON)
      json_object_set_new(m, "field_accuracy", rate_json(fok, ftot));
   if (mode == COMPARE_TOOL_CALLS)
      json_object_set_new(m, "argument_accuracy", rate_json(fok, ftot));
   if (mode == COMPARE_TEXT)
      json_object_set_new(m, "metric", json_pack("{s:s, s:f, s:I, s:f}", "name", TextMetric_name(metric), "mean",
                                                 scored ? score_sum / (double)scored : 0.0, "n", (json_int_t)scored,
                                                 "threshold", threshold));
   json_object_set_new(m, "format", rate_json(fmt_k, fmt_n));
   json_object_set_new(m, "format_failures", format_failures(v, n));
   json_object_set_new(m, "latency_ms", json_pack("{s:I, s:o, s:o, s:o}", "n", (json_int_t)nlat,
                                                   "p50", num_or_null(EvalStats_percentile(lat, nlat, 0.50)),
                                                   "p95", num_or_null(EvalStats_percentile(lat, nlat, 0.95)),
                                                   "p99", num_or_null(EvalStats_percentile(lat, nlat, 0.99))));
   free(lat);
   double pk = tok_n ? ptok / (double)tok_n * 1000 : NAN, ck = tok_n ? ctok / (double)tok_n * 1000 : NAN;
   json_object_set_new(m, "tokens_per_1k", json_pack("{s:I, s:o, s:o}", "n", (json_int_t)tok_n, "prompt",
                                                      num_or_null(pk), "completion", num_or_null(ck)));
   bool priced = e->price_in >= 0 && tok_n > 0;
   json_object_set_new(m, "cost_per_1k", priced ? json_real((pk * e->price_in + ck * e->price_out) / 1e6) : json_null());
   if (e->price_in >= 0)
      json_object_set_new(m, "price_per_1m", json_pack("{s:f, s:f}", "in", e->price_in, "out", e->price_out));
   json_object_set_new(m, "errors", json_integer(errors));
   json_object_set_new(m, "timeouts", json_integer(timeouts));
   json_object_set_new(m, "malformed", json_integer(malformed));
   json_object_set_new(m, "no_logprobs", json_integer(no_logprobs));
   return m;
}

static json_t *consistency(Store *st, long long run, CompareMode mode, int repeats) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT idx, outcome, answer FROM eval_rows WHERE run_id = ? AND arm = 'candidate' "
                                       "AND rep > 0 ORDER BY idx, rep");
   sqlite3_bind_int64(s, 1, run);
   long rows = 0, same = 0, cur = -1;
   bool all_same = false;
   char *first = NULL;
   while (sqlite3_step(s) == SQLITE_ROW) {
      long idx = (long)sqlite3_column_int64(s, 0);
      const char *answer = (const char *)sqlite3_column_text(s, 2);
      bool ok = str_eq((const char *)sqlite3_column_text(s, 1), "ok") && answer;
      if (idx != cur) {
         same += cur >= 0 && all_same;
         rows++;
         cur = idx;
         free(first);
         first = ok ? xstrdup(answer) : NULL;
         all_same = ok;
      } else {
         all_same = all_same && ok && Compare_answers(mode, first, answer);
      }
   }
   same += cur >= 0 && all_same;
   free(first);
   sqlite3_finalize(s);
   json_t *r = rate_json(same, rows);
   json_object_set_new(r, "repeats", json_integer(repeats));
   return r;
}

static json_t *compute_metrics(Store *st, const Task *t, long long run, const EvalSet *set, CompareMode mode,
                               const EvalEndpoint *cand, const EvalEndpoint *ref, const EvalOpts *o) {
   size_t n = set->n;
   json_t *m = json_object();
   json_object_set_new(m, "n", json_integer((json_int_t)n));
   json_object_set_new(m, "compare", json_string(Compare_mode_name(mode)));
   json_object_set_new(m, "test_set", json_pack("{s:s, s:s}", "source", set->source, "hash", set->hash));
   RowView *cv = load_arm(st, run, "candidate", n);
   json_object_set_new(m, "candidate", arm_metrics(cv, n, mode, cand, t->text_metric, t->text_threshold));
   if (ref) {
      RowView *rv = load_arm(st, run, "reference", n);
      json_object_set_new(m, "reference", arm_metrics(rv, n, mode, ref, t->text_metric, t->text_threshold));
      free_rows(rv, n);
   } else {
      /* The logged answers are the gold, so they agree with themselves; their cost per 1,000
       * is what the audit says the task costs today. */
      json_t *r = json_pack("{s:s, s:s, s:o}", "model", t->model, "source", "logged", "accuracy",
                            rate_json((long)n, (long)n));
      if (mode == COMPARE_TEXT)
         json_object_set_new(r, "metric", json_pack("{s:s, s:f, s:I, s:f}", "name", TextMetric_name(t->text_metric),
                                                    "mean", 1.0, "n", (json_int_t)n, "threshold", t->text_threshold));
      json_object_set_new(r, "cost_per_1k", t->monthly_volume > 0 && t->monthly_cost > 0
                                               ? json_real(t->monthly_cost / (double)t->monthly_volume * 1000)
                                               : json_null());
      json_object_set_new(m, "reference", r);
   }
   if (o->repeat > 0)
      json_object_set_new(json_object_get(m, "candidate"), "consistency", consistency(st, run, mode, o->repeat));

   if (mode == COMPARE_LABEL && set->nlabels > 0) {
      int L = set->nlabels;
      int *gold = xcalloc(n ? n : 1, sizeof *gold), *pred = xcalloc(n ? n : 1, sizeof *pred);
      for (size_t i = 0; i < n; i++) {
         gold[i] = label_index(set, set->rows[i].expected);
         pred[i] = label_index(set, cv[i].answer);
      }
      ClassStats *cs = xcalloc((size_t)L, sizeof *cs);
      long *conf = xcalloc((size_t)L * (size_t)(L + 1), sizeof *conf);
      EvalStats_classes(gold, pred, n, L, cs, conf);
      json_t *classes = json_array(), *labels = json_array(), *matrix = json_array();
      for (int c = 0; c < L; c++) {
         json_array_append_new(labels, json_string(set->labels[c]));
         json_array_append_new(classes, json_pack("{s:s, s:I, s:I, s:I, s:f, s:f, s:f}", "label", set->labels[c],
                                                  "support", (json_int_t)cs[c].support, "predicted",
                                                  (json_int_t)cs[c].predicted, "tp", (json_int_t)cs[c].tp,
                                                  "precision", cs[c].precision, "recall", cs[c].recall, "f1", cs[c].f1));
         json_t *row = json_array();
         for (int p = 0; p <= L; p++)
            json_array_append_new(row, json_integer(conf[(size_t)c * (size_t)(L + 1) + (size_t)p]));
         json_array_append_new(matrix, row);
      }
      json_object_set_new(m, "classes", classes);
      json_object_set_new(m, "confusion", json_pack("{s:o, s:o, s:s}", "labels", labels, "counts", matrix, "last_column",
                                                    "answers outside the label set (or none)"));
      free(gold);
      free(pred);
      free(cs);
      free(conf);
   }

   double *confv = xcalloc(n ? n : 1, sizeof *confv);
   bool *corr = xcalloc(n ? n : 1, sizeof *corr);
   size_t with_conf = 0;
   for (size_t i = 0; i < n; i++) {
      confv[i] = cv[i].confidence;
      corr[i] = cv[i].correct;
      with_conf += confv[i] >= 0;
   }
   json_t *curve = json_object();
   json_object_set_new(curve, "rows_with_logprobs", json_integer((json_int_t)with_conf));
   double bar = o->bar >= 0 ? o->bar : t->agreement_bar;
   json_object_set_new(curve, "bar", json_real(bar));
   if (with_conf > 0) {
      CurvePoint pts[CURVE_POINTS];
      EvalStats_curve(confv, corr, n, pts);
      json_t *arr = json_array();
      for (int i = 0; i < CURVE_POINTS; i++)
         json_array_append_new(arr, json_pack("{s:f, s:I, s:I, s:f, s:o}", "threshold", pts[i].threshold, "covered",
                                              (json_int_t)pts[i].covered, "correct", (json_int_t)pts[i].correct,
                                              "coverage", (double)pts[i].covered / (double)n, "accuracy",
                                              pts[i].covered ? json_real((double)pts[i].correct / (double)pts[i].covered)
                                                             : json_null()));
      json_object_set_new(curve, "points", arr);
      int best = EvalStats_recommend(pts, bar);
      json_object_set_new(curve, "recommended",
                          best < 0 ? json_null()
                                   : json_pack("{s:f, s:f, s:f, s:I}", "threshold", pts[best].threshold, "coverage",
                                               (double)pts[best].covered / (double)n, "accuracy",
                                               (double)pts[best].correct / (double)pts[best].covered, "covered",
                                               (json_int_t)pts[best].covered));
   }
   json_object_set_new(m, "curve", curve);
   free(confv);
   free(corr);
   free_rows(cv, n);
   json_object_set_new(m, "gate", json_pack("{s:f, s:f}", "eval_margin_points", t->eval_margin, "format_bar",
                                            t->format_bar));
   return m;
}

/* ---------------------------------------------------------------- runs */

static char *col_text(sqlite3_stmt *s, int i) {
   const char *v = (const char *)sqlite3_column_text(s, i);
   return v ? xstrdup(v) : NULL;
}

bool Eval_get_run(Store *st, long long id, EvalRunInfo *r, char **err) {
   memset(r, 0, sizeof *r);
   sqlite3_stmt *s = Store_prepare(st, "SELECT r.id, r.task_id, t.name, r.dataset, r.candidate, r.reference, r.status, "
                                       "r.created_at, r.finished_at, r.metrics, r.params FROM eval_runs r "
                                       "JOIN tasks t ON t.id = r.task_id WHERE r.id = ?");
   sqlite3_bind_int64(s, 1, id);
   bool ok = sqlite3_step(s) == SQLITE_ROW;
   if (ok) {
      r->id = sqlite3_column_int64(s, 0);
      r->task_id = sqlite3_column_int64(s, 1);
      r->task = col_text(s, 2);
      r->dataset = col_text(s, 3);
      r->candidate = col_text(s, 4);
      r->reference = col_text(s, 5);
      r->status = col_text(s, 6);
      r->created_at = col_text(s, 7);
      r->finished_at = col_text(s, 8);
      const char *m = (const char *)sqlite3_column_text(s, 9);
      r->metrics = m ? json_loads(m, 0, NULL) : NULL;
      const char *p = (const char *)sqlite3_column_text(s, 10);
      r->params = p ? json_loads(p, 0, NULL) : NULL;
   } else {
      *err = xasprintf("no evaluation run %lld (offramp eval list TASK)", id);
   }
   sqlite3_finalize(s);
   return ok;
}

void EvalRunInfo_clear(EvalRunInfo *r) {
   free(r->task);
   free(r->dataset);
   free(r->candidate);
   free(r->reference);
   free(r->status);
   free(r->created_at);
   free(r->finished_at);
   json_decref(r->metrics);
   json_decref(r->params);
   memset(r, 0, sizeof *r);
}

long long Eval_latest_run(Store *st, long long task_id) {
   return Store_count(st, "SELECT coalesce(max(id), 0) FROM eval_runs WHERE task_id = ?1 AND status = 'done'", task_id);
}

static long jlong(const json_t *o, const char *a, const char *b) {
   return (long)json_integer_value(json_object_get(json_object_get(o, a), b));
}

bool Eval_headline(const json_t *m, EvalHeadline *h) {
   memset(h, 0, sizeof *h);
   h->threshold = -1;
   const json_t *c = json_object_get(m, "candidate"), *r = json_object_get(m, "reference");
   if (!c || !r)
      return false;
   h->acc_k = jlong(c, "accuracy", "k");
   h->acc_n = jlong(c, "accuracy", "n");
   h->ref_k = jlong(r, "accuracy", "k");
   h->ref_n = jlong(r, "accuracy", "n");
   h->fmt_k = jlong(c, "format", "k");
   h->fmt_n = jlong(c, "format", "n");
   const json_t *curve = json_object_get(m, "curve");
   h->has_logprobs = json_integer_value(json_object_get(curve, "rows_with_logprobs")) > 0;
   h->bar = json_number_value(json_object_get(curve, "bar"));
   const json_t *rec = json_object_get(curve, "recommended");
   if (json_is_object(rec)) {
      h->threshold = json_number_value(json_object_get(rec, "threshold"));
      h->coverage = json_number_value(json_object_get(rec, "coverage"));
      h->covered_accuracy = json_number_value(json_object_get(rec, "accuracy"));
   }
   return true;
}

/* The arm's value of the task's metric; logged answers (no such member) score 1. */
static double arm_metric(const json_t *arm, const char *compare, long *n) {
   const json_t *x;
   if (str_eq(compare, "text") && (x = json_object_get(arm, "metric"))) {
      *n = (long)json_integer_value(json_object_get(x, "n"));
      return json_number_value(json_object_get(x, "mean"));
   }
   const char *key = str_eq(compare, "json") ? "field_accuracy" : str_eq(compare, "tool_calls") ? "argument_accuracy"
                                                                                               : "accuracy";
   if ((x = json_object_get(arm, key)) || (x = json_object_get(arm, "accuracy"))) {
      *n = (long)json_integer_value(json_object_get(x, "n"));
      return json_number_value(json_object_get(x, "value"));
   }
   *n = 0;
   return str_eq(json_string_value(json_object_get(arm, "source")), "logged") ? 1.0 : 0.0;
}

bool Eval_task_metric(const json_t *metrics, EvalTaskMetric *tm) {
   memset(tm, 0, sizeof *tm);
   const json_t *c = json_object_get(metrics, "candidate"), *r = json_object_get(metrics, "reference");
   const char *compare = json_string_value(json_object_get(metrics, "compare"));
   if (!c || !r || !compare)
      return false;
   const char *name = str_eq(compare, "json") ? "field_accuracy" : str_eq(compare, "tool_calls") ? "argument_accuracy"
                                                                                                 : "accuracy";
   if (str_eq(compare, "text") && json_object_get(c, "metric"))
      name = json_string_value(json_object_get(json_object_get(c, "metric"), "name"));
   snprintf(tm->name, sizeof tm->name, "%s", name);
   long rn;
   tm->value = arm_metric(c, compare, &tm->n);
   /* The logged answers' own accuracy member says k = n: they are the gold, 1 on any metric. */
   tm->reference = str_eq(json_string_value(json_object_get(r, "source")), "logged") ? 1.0 : arm_metric(r, compare, &rn);
   return true;
}

void Eval_fmt_rate(char *buf, size_t size, long k, long n) {
   char a[32];
   double lo, hi;
   wilson95(k, n, &lo, &hi);
   if (n == 0)
      snprintf(buf, size, "- (n=0)");
   else
      snprintf(buf, size, "%.1f %% (95 %% CI %.1f-%.1f, n=%s)", 100.0 * (double)k / (double)n, 100 * lo, 100 * hi,
               fmt_count(a, sizeof a, n));
}

/* Per-row correctness of a finished run's candidate; NULL with *err when not comparable. */
static signed char *run_correct(Store *st, const EvalRunInfo *r, long n) {
   signed char *v = xmalloc((size_t)(n ? n : 1));
   memset(v, -1, (size_t)(n ? n : 1));
   sqlite3_stmt *s = Store_prepare(st, "SELECT idx, correct FROM eval_rows WHERE run_id = ? AND arm = 'candidate' AND rep = 0");
   sqlite3_bind_int64(s, 1, r->id);
   while (sqlite3_step(s) == SQLITE_ROW) {
      long i = (long)sqlite3_column_int64(s, 0);
      if (i >= 0 && i < n)
         v[i] = (signed char)sqlite3_column_int(s, 1);
   }
   sqlite3_finalize(s);
   return v;
}

json_t *Eval_compare(Store *st, const long long *ids, int n, char **err) {
   if (n < 2) {
      *err = xstrdup("compare needs at least two runs");
      return NULL;
   }
   EvalRunInfo *runs = xcalloc((size_t)n, sizeof *runs);
   signed char **correct = xcalloc((size_t)n, sizeof *correct);
   json_t *out = NULL;
   const char *hash0 = NULL;
   long rows = 0;
   int loaded = 0;
   for (; loaded < n; loaded++) {
      EvalRunInfo *r = &runs[loaded];
      if (!Eval_get_run(st, ids[loaded], r, err))
         goto done;
      if (!r->metrics) {
         *err = xasprintf("run %lld is %s, not finished: finish it first (re-run its 'offramp eval' command)", r->id,
                          r->status);
         loaded++;
         goto done;
      }
      const char *hash = json_string_value(json_object_get(json_object_get(r->metrics, "test_set"), "hash"));
      if (!hash0) {
         hash0 = hash;
         rows = (long)json_integer_value(json_object_get(r->metrics, "n"));
      } else if (!str_eq(hash0, hash)) {
         *err = xasprintf("run %lld was evaluated on a different test set (%s) than run %lld (%s): compare runs of "
                          "the same dataset", r->id, r->dataset, runs[0].id, runs[0].dataset);
         loaded++;
         goto done;
      }
   }
   for (int i = 0; i < n; i++)
      correct[i] = run_correct(st, &runs[i], rows);
   out = json_object();
   json_t *arr = json_array(), *pairs = json_array();
   for (int i = 0; i < n; i++) {
      json_t *c = json_object_get(runs[i].metrics, "candidate");
      json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:O, s:O?, s:O?, s:O?}", "run", (json_int_t)runs[i].id,
                                           "candidate", runs[i].candidate, "dataset", runs[i].dataset, "accuracy",
                                           json_object_get(c, "accuracy"), "format", json_object_get(c, "format"),
                                           "latency_ms", json_object_get(c, "latency_ms"), "cost_per_1k",
                                           json_object_get(c, "cost_per_1k")));
   }
   for (int i = 0; i < n; i++) {
      for (int j = i + 1; j < n; j++) {
         long b = 0, c = 0, both = 0, neither = 0;
         for (long k = 0; k < rows; k++) {
            int x = correct[i][k], y = correct[j][k];
            if (x < 0 || y < 0)
               continue;
            b += x && !y;
            c += !x && y;
            both += x && y;
            neither += !x && !y;
         }
         double p = EvalStats_mcnemar(b, c);
         char *verdict = p < 0.05 ? xasprintf("run %lld (%s) is better than run %lld (%s)", b > c ? runs[i].id : runs[j].id,
                                              b > c ? runs[i].candidate : runs[j].candidate, b > c ? runs[j].id : runs[i].id,
                                              b > c ? runs[j].candidate : runs[i].candidate)
                                  : xstrdup("no significant difference (p >= 0.05): do not claim either is better");
         json_array_append_new(pairs, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:s}", "a", (json_int_t)runs[i].id,
                                                "b", (json_int_t)runs[j].id, "both_right", (json_int_t)both,
                                                "only_a_right", (json_int_t)b, "only_b_right", (json_int_t)c,
                                                "both_wrong", (json_int_t)neither, "p_value", p, "verdict", verdict));
         free(verdict);
      }
   }
   json_object_set_new(out, "runs", arr);
   json_object_set_new(out, "mcnemar", pairs);
done:
   for (int i = 0; i < n; i++) {
      free(correct[i]);
      if (i < loaded)
         EvalRunInfo_clear(&runs[i]);
   }
   free(correct);
   free(runs);
   return out;
}

bool Eval_apply_threshold(Store *st, const char *task, long long run_id, double *value, char **err) {
   Task t;
   Task_init(&t);
   if (!Task_get(st, task, &t, err))
      return false;
   bool ok = false;
   EvalRunInfo r;
   if (!run_id)
      run_id = Eval_latest_run(st, t.id);
   if (!run_id) {
      *err = xasprintf("%s has no finished evaluation run (offramp eval %s --candidate ...)", t.name, t.name);
   } else if (Eval_get_run(st, run_id, &r, err)) {
      EvalHeadline h;
      if (r.task_id != t.id)
         *err = xasprintf("run %lld evaluated task %s, not %s", run_id, r.task, t.name);
      else if (!r.metrics || !Eval_headline(r.metrics, &h))
         *err = xasprintf("run %lld is not finished (%s)", run_id, r.status);
      else if (!h.has_logprobs)
         *err = xasprintf("run %lld: the candidate returned no logprobs, so there is no confidence to threshold", run_id);
      else if (h.threshold < 0)
         *err = xasprintf("run %lld: no confidence threshold reaches the accuracy bar %.1f %% (lower the bar with "
                          "--bar, or improve the candidate)", run_id, 100 * h.bar);
      else {
         sqlite3_stmt *s = Store_prepare(st, "UPDATE tasks SET min_confidence = ?, updated_at = ? WHERE id = ?");
         char ts[32];
         now_iso8601(ts);
         sqlite3_bind_double(s, 1, h.threshold);
         sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
         sqlite3_bind_int64(s, 3, t.id);
         ok = sqlite3_step(s) == SQLITE_DONE;
         if (!ok)
            *err = Store_errmsg(st, "saving min_confidence");
         sqlite3_finalize(s);
         *value = h.threshold;
      }
      EvalRunInfo_clear(&r);
   }
   Task_clear(&t);
   return ok;
}

bool Eval_min_confidence(Store *st, long long task_id, double *out) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT min_confidence FROM tasks WHERE id = ? AND min_confidence IS NOT NULL");
   sqlite3_bind_int64(s, 1, task_id);
   bool ok = sqlite3_step(s) == SQLITE_ROW;
   if (ok)
      *out = sqlite3_column_double(s, 0);
   sqlite3_finalize(s);
   return ok;
}

/* ---------------------------------------------------------------- shared with the smoke check */

char *Eval_request_body(const EvalRow *row, const char *model, int max_tokens) {
   return request_body(row, model, false, max_tokens);
}

int Eval_max_tokens(const EvalSet *set) {
   return default_max_tokens(set);
}

CompareMode Eval_compare_mode(Store *st, const Task *t) {
   return task_compare(st, t);
}

bool Eval_compliant(CompareMode mode, const EvalSet *set, const FormatSpec *fmt, const EvalRow *row, const char *answer) {
   static const FormatSpec none = { 0 };
   RunCtx c = { .mode = mode, .set = set, .fmt = fmt ? fmt : &none };
   char *why = NULL;
   bool ok = compliant(&c, row, answer, &why);
   free(why);
   return ok;
}
