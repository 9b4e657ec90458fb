/* dataset.c - from a task's exchanges to train.jsonl/test.jsonl/dataset.json: quality filters,
 * exact and near-duplicate removal, label balance, a seeded group-aware stratified split, and
 * an all-or-nothing write (temp dir renamed into place, registered in one transaction). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/compare.h"
#include "common/neardup.h"
#include "common/sha256.h"
#include "common/util.h"
#include "control/dataset.h"

/* Why a row left the dataset; rows are counted under the first reason that hits them. */
typedef enum {
   DROP_NONE,
   DROP_ERROR,
   DROP_TRUNCATED,
   DROP_EMPTY,
   DROP_FLAGGED,
   DROP_OFF_LABEL,
   DROP_OUTLIER,
   DROP_EXACT_DUP,
   DROP_CAPPED,
   DROP_COUNT
} Drop;

static const char *const drop_names[DROP_COUNT] = {
   [DROP_NONE] = "kept",
   [DROP_ERROR] = "error",
   [DROP_TRUNCATED] = "truncated",
   [DROP_EMPTY] = "empty",
   [DROP_FLAGGED] = "flagged",
   [DROP_OFF_LABEL] = "off_label",
   [DROP_OUTLIER] = "length_outlier",
   [DROP_EXACT_DUP] = "exact_duplicate",
   [DROP_CAPPED] = "capped",
};

/* Label tasks whose answers look like this are free text, not labels. */
#define FREE_TEXT_MEDIAN_WORDS 5
#define FREE_TEXT_MIN_COVERAGE 0.90

typedef struct {
   long long xid;
   char *ts;
   char *user;          /* the user messages, joined: what dedupe and overlap compare */
   char *answer;        /* the frontier's answer, as sent */
   char *line;          /* the exported JSONL line, without its newline */
   long long tokens;    /* prompt tokens: recorded, else estimated */
   uint64_t key;        /* hash of the normalised user text */
   int label;           /* index in the label set, -1 none */
   size_t group;        /* near-duplicate group: index of its first row */
   Drop drop;
   bool test;
} Row;

typedef struct {
   Row *r;
   size_t n, cap;
} Rows;

void Dataset_defaults(DatasetParams *p) {
   memset(p, 0, sizeof *p);
   p->test_frac = 0.15;
   p->min_train = -1;
   p->balance = true;
   p->cap_factor = 3.0;
   p->near_dup = 0.85;
   p->outlier_k = 15.0;
   p->min_label = 10;
   p->seed = 1;
}

/* YYYY-MM-DD, optionally THH:MM[:SS[.fff]] and Z: the prefix of a record's ts. */
static bool ts_valid(const char *s) {
   static const char tmpl[] = "dddd-dd-ddTdd:dd:dd";
   size_t i = 0;
   for (; s[i] && tmpl[i]; i++) {
      if (tmpl[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != tmpl[i])
         return false;
   }
   if (i != 10 && i != 16 && i != 19)
      return false;
   if (i == 19 && s[i] == '.') {
      i++;
      if (s[i] < '0' || s[i] > '9')
         return false;
      while (s[i] >= '0' && s[i] <= '9')
         i++;
   }
   if (i > 10 && s[i] == 'Z')
      i++;
   return s[i] == '\0';
}

bool Dataset_check_params(const DatasetParams *p, char **err) {
   if (!(p->test_frac >= DATASET_TEST_FRAC_MIN - 1e-9 && p->test_frac <= DATASET_TEST_FRAC_MAX + 1e-9))
      *err = xasprintf("--test-frac %g is outside %.2f-%.2f (hold out 10-15 %% of the rows as the test set)",
                       p->test_frac, DATASET_TEST_FRAC_MIN, DATASET_TEST_FRAC_MAX);
   else if (!(p->near_dup > 0 && p->near_dup <= 1))
      *err = xasprintf("--near-dup %g is not a Jaccard similarity in (0, 1] (e.g. 0.85)", p->near_dup);
   else if (!(p->cap_factor >= 1))
      *err = xasprintf("--cap-factor %g must be at least 1 (a label is capped at that many times the median)",
                       p->cap_factor);
   else if (!(p->outlier_k > 0))
      *err = xasprintf("--outlier-k %g must be above 0 (e.g. 15: median + 15 x MAD)", p->outlier_k);
   else if (p->since && !ts_valid(p->since))
      *err = xasprintf("--since '%s' is not a time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)", p->since);
   else if (p->until && !ts_valid(p->until))
      *err = xasprintf("--until '%s' is not a time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC)", p->until);
   else if (p->since && p->until && strncmp(p->since, p->until, strlen(p->until)) > 0)
      *err = xasprintf("the window is empty: --since %s is after --until %s", p->since, p->until);
   else
      return true;
   return false;
}

void Dataset_clear(Dataset *d) {
   free(d->created_at);
   free(d->actor);
   free(d->since);
   free(d->until);
   free(d->dir);
   free(d->train_sha256);
   free(d->test_sha256);
   free(d->report_sha256);
   json_decref(d->report);
   memset(d, 0, sizeof *d);
}

char *Dataset_data_dir(const Store *st) {
   return Store_data_dir(st->path);
}

/* ---- text -------------------------------------------------------------------------------- */

static bool is_space(unsigned char c) {
   return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_punct(unsigned char c) {
   return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

/* Hash of the text normalised as neardup.h defines it (words split on white space, ASCII
 * punctuation stripped from their edges, ASCII folded to lower case), so two inputs the
 * duplicate pass calls exact duplicates hash alike here. */
static uint64_t norm_key(const char *s) {
   uint64_t h = 0xcbf29ce484222325ULL;
   const unsigned char *p = (const unsigned char *)s;
   bool first = true;
   while (*p) {
      while (*p && is_space(*p))
         p++;
      const unsigned char *b = p;
      while (*p && !is_space(*p))
         p++;
      const unsigned char *e = p;
      while (b < e && is_punct(*b))
         b++;
      while (e > b && is_punct(e[-1]))
         e--;
      if (b == e)
         continue;
      if (!first)
         h = (h ^ ' ') * 0x100000001b3ULL;
      first = false;
      for (; b < e; b++)
         h = (h ^ (*b >= 'A' && *b <= 'Z' ? *b + 32 : *b)) * 0x100000001b3ULL;
   }
   return mix64(h);
}

/* A message's content as text: a string, or the text parts of a content array. */
static const char *content_text(json_t *content, Sbuf *sb) {
   if (json_is_string(content))
      return json_string_value(content);
   Sbuf_reset(sb);
   Sbuf_puts(sb, "");
   size_t i;
   json_t *part;
   json_array_foreach(content, i, part) {
      const char *t = json_string_value(json_object_get(part, "text"));
      if (t) {
         if (sb->len)
            Sbuf_putc(sb, '\n');
         Sbuf_puts(sb, t);
      }
   }
   return sb->buf;
}

/* The user messages of a chat messages array joined by newlines (caller frees). */
static char *user_text(json_t *messages) {
   Sbuf sb = { 0 }, tmp = { 0 };
   size_t i;
   json_t *m;
   Sbuf_puts(&sb, "");
   json_array_foreach(messages, i, m) {
      if (!str_eq(json_string_value(json_object_get(m, "role")), "user"))
         continue;
      if (sb.len)
         Sbuf_putc(&sb, '\n');
      Sbuf_puts(&sb, content_text(json_object_get(m, "content"), &tmp));
   }
   Sbuf_free(&tmp);
   return Sbuf_steal(&sb);
}

static bool blank(const char *s) {
   for (; *s; s++) {
      if (!is_space((unsigned char)*s))
         return false;
   }
   return true;
}

static char *trimmed(const char *s) {
   return str_trim(xstrdup(s));
}

/* ---- loading ----------------------------------------------------------------------------- */

/* The answer's tool calls as OpenAI's fine-tuning format takes them: id, type "function",
 * name and the arguments as a JSON string (an id is made up when the log has none). */
static json_t *export_calls(json_t *calls) {
   json_t *out = json_array();
   size_t i;
   json_t *c;
   json_array_foreach(calls, i, c) {
      json_t *fn = json_object_get(c, "function"), *args = json_object_get(fn, "arguments");
      const char *id = json_string_value(json_object_get(c, "id"));
      char made[32];
      snprintf(made, sizeof made, "call_%zu", i + 1);
      char *argtext = json_is_string(args) ? xstrdup(json_string_value(args))
                      : args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : xstrdup("{}");
      json_array_append_new(out, json_pack("{s:s, s:s, s:{s:O, s:s}}", "id", id ? id : made, "type", "function",
                                           "function", "name", json_object_get(fn, "name"), "arguments", argtext));
      free(argtext);
   }
   return out;
}

/* Parse one record into r; returns the filter it fails (error, truncated, empty) or
 * DROP_NONE. Only rows that pass keep their text and line. */
static Drop parse_record(const char *record, int status, Row *r) {
   json_t *rec = json_loads(record, 0, NULL);
   if (!rec)
      return DROP_ERROR;
   Drop d = DROP_NONE;
   json_t *resp = json_object_get(rec, "response");
   json_t *st = json_object_get(rec, "status");
   if (!status && json_is_integer(st))
      status = (int)json_integer_value(st);
   json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
   json_t *msg = json_object_get(choice, "message");
   json_t *messages = json_object_get(json_object_get(rec, "request"), "messages");
   if ((status && (status < 200 || status > 299)) || !json_is_object(resp) ||
       (json_object_get(resp, "error") && !json_is_null(json_object_get(resp, "error"))) ||
       !json_is_object(msg) || !json_is_array(messages)) {
      d = DROP_ERROR;
      goto out;
   }
   if (str_eq(json_string_value(json_object_get(choice, "finish_reason")), "length")) {
      d = DROP_TRUNCATED;
      goto out;
   }
   Sbuf tmp = { 0 };
   const char *answer = content_text(json_object_get(msg, "content"), &tmp);
   /* A function-calling answer has no content: its tool calls are the answer (canonical for
    * dedupe and comparison; exported as OpenAI's fine-tuning format has them). */
   json_t *calls = json_object_get(msg, "tool_calls");
   char *canon = (!answer || blank(answer)) ? Compare_tool_calls_canonical(calls) : NULL;
   char *user = user_text(messages);
   if ((!canon && (!answer || blank(answer))) || blank(user)) {
      free(user);
      free(canon);
      Sbuf_free(&tmp);
      d = DROP_EMPTY;
      goto out;
   }
   r->answer = canon ? canon : xstrdup(answer);
   r->user = user;

   /* The export: the request's system (developer) and chat turns, then the answer. */
   json_t *out = json_array();
   size_t i, bytes = 0;
   json_t *m;
   json_array_foreach(messages, i, m) {
      const char *role = json_string_value(json_object_get(m, "role"));
      if (str_eq(role, "developer"))
         role = "system";
      if (!str_eq(role, "system") && !str_eq(role, "user") && !str_eq(role, "assistant") && !str_eq(role, "tool"))
         continue;
      const char *text = content_text(json_object_get(m, "content"), &tmp);
      json_t *past_calls = json_object_get(m, "tool_calls");
      if (str_eq(role, "assistant") && !text && json_array_size(past_calls)) {
         /* An earlier turn's tool calls, kept so the tool results after them make sense. */
         json_array_append_new(out, json_pack("{s:s, s:n, s:O}", "role", role, "content", "tool_calls", past_calls));
         continue;
      }
      if (!text)
         continue;
      bytes += strlen(text);
      json_t *msg_out = json_pack("{s:s, s:s}", "role", role, "content", text);
      if (str_eq(role, "tool") && json_is_string(json_object_get(m, "tool_call_id")))
         json_object_set(msg_out, "tool_call_id", json_object_get(m, "tool_call_id"));
      json_array_append_new(out, msg_out);
   }
   if (canon)
      json_array_append_new(out, json_pack("{s:s, s:o}", "role", "assistant", "tool_calls", export_calls(calls)));
   else
      json_array_append_new(out, json_pack("{s:s, s:s}", "role", "assistant", "content", r->answer));
   json_t *line = json_pack("{s:o}", "messages", out);
   json_t *req = json_object_get(rec, "request");
   if (json_is_array(json_object_get(req, "tools")))
      json_object_set(line, "tools", json_object_get(req, "tools"));
   if (json_is_boolean(json_object_get(req, "parallel_tool_calls")))
      json_object_set(line, "parallel_tool_calls", json_object_get(req, "parallel_tool_calls"));
   r->line = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
   json_decref(line);
   Sbuf_free(&tmp);
   if (r->tokens < 0) {
      json_t *pt = json_object_get(json_object_get(rec, "usage"), "prompt_tokens");
      r->tokens = json_is_integer(pt) ? (long long)json_integer_value(pt) : (long long)(bytes + 3) / 4;
   }
   r->key = norm_key(r->user);
out:
   json_decref(rec);
   return d;
}

static void Rows_free(Rows *rs) {
   for (size_t i = 0; i < rs->n; i++) {
      free(rs->r[i].ts);
      free(rs->r[i].user);
      free(rs->r[i].answer);
      free(rs->r[i].line);
   }
   free(rs->r);
   memset(rs, 0, sizeof *rs);
}

typedef struct {
   Row *rows;
   char **records;
   const int *status;
   size_t from, to;
} ParseJob;

static void *parse_range(void *arg) {
   ParseJob *job = arg;
   for (size_t i = job->from; i < job->to; i++) {
      Row *r = &job->rows[i];
      Drop flagged = r->drop;
      r->drop = parse_record(job->records[i], job->status[i], r);
      if (r->drop == DROP_NONE)
         r->drop = flagged;
   }
   return NULL;
}

/* Parsing the records' JSON is most of a build's time: a batch is parsed on every core. */
static void parse_batch(Row *rows, char **records, const int *status, size_t n) {
   enum { MAX_THREADS = 8 };
   long cores = sysconf(_SC_NPROCESSORS_ONLN);
   size_t nt = n < 512 || cores < 2 ? 1 : (size_t)(cores < MAX_THREADS ? cores : MAX_THREADS);
   pthread_t th[MAX_THREADS];
   ParseJob job[MAX_THREADS];
   size_t started = 0;
   for (size_t t = 0; t < nt; t++) {
      job[t] = (ParseJob){ rows, records, status, n * t / nt, n * (t + 1) / nt };
      if (t > 0 && pthread_create(&th[t], NULL, parse_range, &job[t]) == 0)
         started |= (size_t)1 << t;
      else if (t > 0)
         parse_range(&job[t]);
   }
   parse_range(&job[0]);
   for (size_t t = 1; t < nt; t++) {
      if (started & ((size_t)1 << t))
         pthread_join(th[t], NULL);
   }
}

/* The task's frontier answers (arm primary or fallback) in the window, oldest first, with the
 * record-level filters applied. */
static void load_rows(Store *st, long long task_id, const char *since, const char *until, Rows *rs) {
   enum { BATCH = 8192 };
   sqlite3_stmt *s = Store_prepare(st,
      "SELECT id, ts, coalesce(status, 0), coalesce(prompt_tokens, -1), flag IS NOT NULL, record FROM exchanges"
      " WHERE task_id = ?1 AND arm IN ('primary', 'fallback') AND (?2 IS NULL OR ts >= ?2)"
      " AND (?3 IS NULL OR substr(ts, 1, length(?3)) <= ?3) ORDER BY ts, id");
   sqlite3_bind_int64(s, 1, task_id);
   if (since)
      sqlite3_bind_text(s, 2, since, -1, SQLITE_STATIC);
   if (until)
      sqlite3_bind_text(s, 3, until, -1, SQLITE_STATIC);
   char **records = xcalloc(BATCH, sizeof *records);
   int *status = xcalloc(BATCH, sizeof *status);
   size_t nb = 0;
   bool more = true;
   while (more) {
      more = sqlite3_step(s) == SQLITE_ROW;
      if (more) {
         if (rs->n == rs->cap) {
            rs->cap = rs->cap ? rs->cap * 2 : 1024;
            rs->r = xrealloc(rs->r, rs->cap * sizeof *rs->r);
         }
         Row *r = &rs->r[rs->n++];
         memset(r, 0, sizeof *r);
         r->xid = sqlite3_column_int64(s, 0);
         r->ts = xstrdup((const char *)sqlite3_column_text(s, 1));
         r->tokens = sqlite3_column_int64(s, 3);
         r->label = -1;
         r->drop = sqlite3_column_int(s, 4) ? DROP_FLAGGED : DROP_NONE;
         status[nb] = sqlite3_column_int(s, 2);
         records[nb++] = xstrdup((const char *)sqlite3_column_text(s, 5));
      }
      if (nb == BATCH || (!more && nb)) {
         parse_batch(rs->r + rs->n - nb, records, status, nb);
         for (size_t i = 0; i < nb; i++)
            free(records[i]);
         nb = 0;
      }
   }
   sqlite3_finalize(s);
   free(records);
   free(status);
}

/* ---- labels ------------------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) {
   return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_ll(const void *a, const void *b) {
   long long x = *(const long long *)a, y = *(const long long *)b;
   return (x > y) - (x < y);
}

static int cmp_dbl(const void *a, const void *b) {
   double x = *(const double *)a, y = *(const double *)b;
   return (x > y) - (x < y);
}

static int label_index(const LabelSet *ls, const char *answer) {
   char *t = trimmed(answer);
   char **hit = ls->n ? bsearch(&t, ls->labels, ls->n, sizeof *ls->labels, cmp_str) : NULL;
   free(t);
   return hit ? (int)(hit - ls->labels) : -1;
}

void Dataset_free_labels(LabelSet *ls) {
   for (int i = 0; i < ls->n; i++)
      free(ls->labels[i]);
   free(ls->labels);
   free(ls->counts);
   memset(ls, 0, sizeof *ls);
}

static size_t words(const char *s) {
   size_t n = 0;
   for (const unsigned char *p = (const unsigned char *)s; *p;) {
      while (*p && is_space(*p))
         p++;
      if (*p)
         n++;
      while (*p && !is_space(*p))
         p++;
   }
   return n;
}

/* The user's label set of a task (sorted), or none. */
static void user_labels(Store *st, long long task_id, LabelSet *ls) {
   sqlite3_stmt *s = Store_prepare(st, "SELECT label FROM task_labels WHERE task_id = ? ORDER BY label");
   sqlite3_bind_int64(s, 1, task_id);
   while (sqlite3_step(s) == SQLITE_ROW) {
      ls->labels = xrealloc(ls->labels, (ls->n + 1) * sizeof *ls->labels);
      ls->labels[ls->n++] = xstrdup((const char *)sqlite3_column_text(s, 0));
   }
   sqlite3_finalize(s);
   /* strcmp order, which bsearch relies on, whatever SQLite's collation did. */
   if (ls->n)
      qsort(ls->labels, ls->n, sizeof *ls->labels, cmp_str);
   ls->user = ls->n > 0;
}

/* The label set over the rows still kept: the user's, else every answer given at least twice
 * (a one-off is a typo or a hallucinated class). Counts and off-label rows are filled in.
 * false with *err when a learned set says the answers are free text. */
static bool label_set(Store *st, const Task *t, const Rows *rs, LabelSet *ls, char **err) {
   memset(ls, 0, sizeof *ls);
   user_labels(st, t->id, ls);
   char **ans = xcalloc(rs->n ? rs->n : 1, sizeof *ans);
   long long *wc = xcalloc(rs->n ? rs->n : 1, sizeof *wc);
   size_t m = 0;
   for (size_t i = 0; i < rs->n; i++) {
      if (rs->r[i].drop == DROP_NONE) {
         ans[m] = trimmed(rs->r[i].answer);
         wc[m] = (long long)words(ans[m]);
         m++;
      }
   }
   ls->rows = (long long)m;
   qsort(ans, m, sizeof *ans, cmp_str);
   size_t distinct = 0;
   if (!ls->user) {
      for (size_t i = 0; i < m;) {
         size_t j = i;
         while (j < m && str_eq(ans[j], ans[i]))
            j++;
         distinct++;
         if (j - i >= 2) {
            ls->labels = xrealloc(ls->labels, (ls->n + 1) * sizeof *ls->labels);
            ls->labels[ls->n++] = xstrdup(ans[i]);
         }
         i = j;
      }
   }
   ls->counts = xcalloc(ls->n ? ls->n : 1, sizeof *ls->counts);
   for (size_t i = 0; i < m; i++) {
      char **hit = ls->n ? bsearch(&ans[i], ls->labels, ls->n, sizeof *ls->labels, cmp_str) : NULL;
      if (hit)
         ls->counts[hit - ls->labels]++;
      else
         ls->off_label++;
   }
   bool ok = true;
   if (!ls->user && m > 0) {
      qsort(wc, m, sizeof *wc, cmp_ll);
      long long median_words = wc[m / 2];
      double coverage = 1.0 - (double)ls->off_label / m;
      if (median_words > FREE_TEXT_MEDIAN_WORDS || coverage < FREE_TEXT_MIN_COVERAGE) {
         char a[32], b[32];
         *err = xasprintf("%s is a label task but its answers look like free text: %s distinct answers in %s rows, "
                          "%.1f %% of rows give an answer seen twice or more (labels need %.0f %%), median answer "
                          "%lld words (labels need at most %d). Set the output kind (offramp task edit %s --kind "
                          "rewrite) or the label set (offramp dataset labels %s --set a,b,c)",
                          t->name, fmt_count(a, sizeof a, (long long)distinct), fmt_count(b, sizeof b, (long long)m),
                          100 * coverage, 100 * FREE_TEXT_MIN_COVERAGE, median_words, FREE_TEXT_MEDIAN_WORDS,
                          t->name, t->name);
         ok = false;
      }
   }
   for (size_t i = 0; i < m; i++)
      free(ans[i]);
   free(ans);
   free(wc);
   return ok;
}

bool Dataset_labels(Store *st, const Task *t, LabelSet *ls, char **err) {
   Rows rs = { 0 };
   load_rows(st, t->id, NULL, NULL, &rs);
   bool ok = label_set(st, t, &rs, ls, err);
   Rows_free(&rs);
   return ok;
}

bool Dataset_set_labels(Store *st, const Task *t, char *const *labels, int n, char **err) {
   for (int i = 0; i < n; i++) {
      if (blank(labels[i])) {
         *err = xasprintf("label %d of %d is empty (give labels as a,b,c)", i + 1, n);
         return false;
      }
   }
   if (!Store_begin(st, err))
      return false;
   sqlite3_stmt *del = Store_prepare(st, "DELETE FROM task_labels WHERE task_id = ?");
   sqlite3_bind_int64(del, 1, t->id);
   bool ok = sqlite3_step(del) == SQLITE_DONE;
   sqlite3_finalize(del);
   sqlite3_stmt *ins = Store_prepare(st, "INSERT OR IGNORE INTO task_labels(task_id, label) VALUES (?, ?)");
   for (int i = 0; ok && i < n; i++) {
      char *l = trimmed(labels[i]);
      sqlite3_reset(ins);
      sqlite3_bind_int64(ins, 1, t->id);
      sqlite3_bind_text(ins, 2, l, -1, SQLITE_TRANSIENT);
      ok = sqlite3_step(ins) == SQLITE_DONE;
      free(l);
   }
   sqlite3_finalize(ins);
   if (!ok) {
      *err = Store_errmsg(st, "saving the label set");
      Store_rollback(st);
      return false;
   }
   return Store_commit(st, err);
}

/* ---- the pipeline ------------------------------------------------------------------------ */

typedef struct {
   long long dropped[DROP_COUNT];
   double tok_median, tok_mad, tok_limit;
   long long groups, group_rows, group_largest, groups_split, overlap;
   long long cap;            /* rows per label at most; 0 = no cap */
   long long train, test;
} Stats;

static double median_of(double *v, size_t n) {
   if (!n)
      return 0;
   qsort(v, n, sizeof *v, cmp_dbl);
   return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void drop_outliers(Rows *rs, double k, Stats *s) {
   double *v = xcalloc(rs->n, sizeof *v);
   size_t m = 0;
   for (size_t i = 0; i < rs->n; i++) {
      if (rs->r[i].drop == DROP_NONE)
         v[m++] = (double)rs->r[i].tokens;
   }
   s->tok_median = median_of(v, m);
   for (size_t i = 0; i < m; i++)
      v[i] = fabs(v[i] - s->tok_median);
   s->tok_mad = median_of(v, m);
   /* A MAD of 0 (most prompts the same length) would make one extra token an outlier. */
   s->tok_limit = s->tok_median + k * fmax(s->tok_mad, 1.0);
   for (size_t i = 0; i < rs->n; i++) {
      if (rs->r[i].drop == DROP_NONE && rs->r[i].tokens > s->tok_limit)
         rs->r[i].drop = DROP_OUTLIER;
   }
   free(v);
}

/* Exact duplicates dropped (the earliest kept), near-duplicate groups recorded on the rows. */
static void group_duplicates(Rows *rs, double threshold) {
   size_t *idx = xcalloc(rs->n, sizeof *idx);
   size_t m = 0;
   for (size_t i = 0; i < rs->n; i++) {
      if (rs->r[i].drop == DROP_NONE)
         idx[m++] = i;
   }
   const char **texts = xcalloc(m, sizeof *texts);
   for (size_t j = 0; j < m; j++)
      texts[j] = rs->r[idx[j]].user;
   size_t *group = xcalloc(m, sizeof *group);
   bool *exact = xcalloc(m, sizeof *exact);
   NeardupParams np;
   Neardup_defaults(&np);
   np.threshold = threshold;
   Neardup_group(texts, m, &np, group, exact);
   for (size_t j = 0; j < m; j++) {
      Row *r = &rs->r[idx[j]];
      r->group = idx[group[j]];
      if (exact[j])
         r->drop = DROP_EXACT_DUP;
   }
   free(idx);
   free(texts);
   free(group);
   free(exact);
}

/* Seeded order of a row: stable whatever order the rows were read in. */
static uint64_t row_order(const Row *r, uint64_t seed) {
   return mix64(r->key ^ mix64(seed));
}

typedef struct {
   uint64_t order;
   size_t row;
} Ord;

static int cmp_ord(const void *a, const void *b) {
   const Ord *x = a, *y = b;
   if (x->order != y->order)
      return x->order < y->order ? -1 : 1;
   return (x->row > y->row) - (x->row < y->row);
}

/* Each label at most cap rows; the rows kept are a seeded sample. */
static void cap_labels(Rows *rs, const LabelSet *ls, const DatasetParams *p, Stats *s) {
   long long *count = xcalloc(ls->n ? ls->n : 1, sizeof *count);
   for (size_t i = 0; i < rs->n; i++) {
      if (rs->r[i].drop == DROP_NONE && rs->r[i].label >= 0)
         count[rs->r[i].label]++;
   }
   double *v = xcalloc(ls->n ? ls->n : 1, sizeof *v);
   size_t m = 0;
   for (int l = 0; l < ls->n; l++) {
      if (count[l])
         v[m++] = (double)count[l];
   }
   s->cap = (long long)ceil(p->cap_factor * median_of(v, m));
   free(v);
   Ord *ord = xcalloc(rs->n ? rs->n : 1, sizeof *ord);
   size_t no = 0;
   for (size_t i = 0; i < rs->n; i++) {
      if (rs->r[i].drop == DROP_NONE && rs->r[i].label >= 0 && count[rs->r[i].label] > s->cap)
         ord[no++] = (Ord){ row_order(&rs->r[i], p->seed ^ 0x636170ULL), i };
   }
   qsort(ord, no, sizeof *ord, cmp_ord);
   long long *kept = xcalloc(ls->n ? ls->n : 1, sizeof *kept);
   for (size_t j = 0; j < no; j++) {
      Row *r = &rs->r[ord[j].row];
      if (++kept[r->label] > s->cap)
         r->drop = DROP_CAPPED;
   }
   free(ord);
   free(kept);
   free(count);
}

typedef struct {
   size_t rep;          /* the group's first kept row */
   long long size;      /* kept rows in it */
   int stratum;
   uint64_t order;
   bool test;
} Unit;

static int cmp_unit(const void *a, const void *b) {
   const Unit *x = a, *y = b;
   if (x->stratum != y->stratum)
      return x->stratum - y->stratum;
   if (x->order != y->order)
      return x->order < y->order ? -1 : 1;
   return (x->rep > y->rep) - (x->rep < y->rep);
}

/* Whole near-duplicate groups go to test, stratum by stratum (the label of the group's first
 * row), in seeded order, until each stratum holds its share of the test rows (quotas by
 * largest remainder so they add up to round(frac x rows)); a last pass tops up from any
 * stratum when large groups left a stratum short. */
static void split(Rows *rs, int nstrata, const DatasetParams *p, Stats *s) {
   size_t *unit_of = xcalloc(rs->n ? rs->n : 1, sizeof *unit_of);
   Unit *u = xcalloc(rs->n ? rs->n : 1, sizeof *u);
   size_t nu = 0;
   long long total = 0;
   long long *srows = xcalloc(nstrata, sizeof *srows);
   for (size_t i = 0; i < rs->n; i++) {
      Row *r = &rs->r[i];
      if (r->drop != DROP_NONE)
         continue;
      size_t g = r->group;
      /* Rows come in order, so a group's unit stands on its first kept row. */
      if (unit_of[g] == 0) {
         u[nu] = (Unit){ .rep = i, .stratum = r->label >= 0 ? r->label : 0, .order = row_order(r, p->seed) };
         unit_of[g] = ++nu;
      }
      u[unit_of[g] - 1].size++;
      srows[u[unit_of[g] - 1].stratum]++;
      total++;
   }
   /* Rounding must not step out of the allowed range (0.15 x 645 = 96.75 rows is 97: 15.04 %). */
   long long want = llround(p->test_frac * (double)total);
   long long lo = (long long)ceil(DATASET_TEST_FRAC_MIN * (double)total - 1e-9);
   long long hi = (long long)floor(DATASET_TEST_FRAC_MAX * (double)total + 1e-9);
   want = want < lo ? lo : want > hi ? hi : want;
   long long *quota = xcalloc(nstrata, sizeof *quota);
   double *rem = xcalloc(nstrata, sizeof *rem);
   long long given = 0;
   for (int k = 0; k < nstrata; k++) {
      double exact = total ? (double)want * srows[k] / total : 0;
      quota[k] = (long long)floor(exact);
      rem[k] = exact - quota[k];
      given += quota[k];
   }
   while (given < want) {
      int best = 0;
      for (int k = 1; k < nstrata; k++) {
         if (rem[k] > rem[best])
            best = k;
      }
      quota[best]++;
      rem[best] = -1;
      given++;
   }
   /* Sorting moves units: each group finds its unit again through the unit's first row. */
   qsort(u, nu, sizeof *u, cmp_unit);
   long long *taken = xcalloc(nstrata, sizeof *taken);
   long long test = 0;
   for (size_t j = 0; j < nu; j++) {
      if (taken[u[j].stratum] + u[j].size <= quota[u[j].stratum]) {
         u[j].test = true;
         taken[u[j].stratum] += u[j].size;
         test += u[j].size;
      }
   }
   for (size_t j = 0; j < nu && test < want; j++) {
      if (!u[j].test && test + u[j].size <= want) {
         u[j].test = true;
         test += u[j].size;
      }
   }
   for (size_t j = 0; j < nu; j++)
      unit_of[rs->r[u[j].rep].group] = j + 1;
   for (size_t i = 0; i < rs->n; i++) {
      Row *r = &rs->r[i];
      if (r->drop == DROP_NONE)
         r->test = u[unit_of[r->group] - 1].test;
   }
   s->test = test;
   s->train = total - test;
   free(unit_of);
   free(u);
   free(srows);
   free(quota);
   free(rem);
   free(taken);
}

static int cmp_u64(const void *a, const void *b) {
   uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
   return (x > y) - (x < y);
}

/* Test keys also present in train: the leak count; train keys sorted in place. */
static long long count_overlap(uint64_t *train, size_t ntrain, const uint64_t *test, size_t ntest) {
   if (ntrain == 0)
      return 0;
   qsort(train, ntrain, sizeof *train, cmp_u64);
   long long n = 0;
   for (size_t i = 0; i < ntest; i++)
      n += bsearch(&test[i], train, ntrain, sizeof *train, cmp_u64) != NULL;
   return n;
}

/* What the split must guarantee, measured rather than assumed: no group on both sides and no
 * normalised input on both sides. */
static void verify_split(const Rows *rs, Stats *s) {
   /* side[g]: 1 train, 2 test, 3 both, for each group's first row g. */
   unsigned char *side = xcalloc(rs->n ? rs->n : 1, 1);
   uint64_t *tr = xcalloc(rs->n ? rs->n : 1, sizeof *tr), *te = xcalloc(rs->n ? rs->n : 1, sizeof *te);
   size_t ntr = 0, nte = 0;
   for (size_t i = 0; i < rs->n; i++) {
      const Row *r = &rs->r[i];
      if (r->drop != DROP_NONE)
         continue;
      side[r->group] |= r->test ? 2 : 1;
      if (r->test)
         te[nte++] = r->key;
      else
         tr[ntr++] = r->key;
   }
   long long *size = xcalloc(rs->n ? rs->n : 1, sizeof *size);
   for (size_t i = 0; i < rs->n; i++) {
      if (rs->r[i].drop == DROP_NONE)
         size[rs->r[i].group]++;
   }
   for (size_t g = 0; g < rs->n; g++) {
      s->groups_split += side[g] == 3;
      if (size[g] >= 2) {
         s->groups++;
         s->group_rows += size[g];
         if (size[g] > s->group_largest)
            s->group_largest = size[g];
      }
   }
   s->overlap = count_overlap(tr, ntr, te, nte);
   free(side);
   free(size);
   free(tr);
   free(te);
}

/* ---- report and files -------------------------------------------------------------------- */

static json_t *report_json(const Task *t, const DatasetParams *p, long long min_train, const Rows *rs,
                           const LabelSet *ls, bool label_task, const Stats *s) {
   const char *first = NULL, *last = NULL;
   for (size_t i = 0; i < rs->n; i++) {
      if (!first)
         first = rs->r[i].ts;
      last = rs->r[i].ts;
   }
   json_t *filters = json_object();
   for (int d = DROP_ERROR; d < DROP_COUNT; d++)
      json_object_set_new(filters, drop_names[d], json_integer(s->dropped[d]));
   int nb = 0, rows = 0;
   NeardupParams np;
   Neardup_defaults(&np);
   np.threshold = p->near_dup;
   Neardup_bands(&np, &nb, &rows);
   json_t *rep = json_pack(
      "{s:s, s:s, s:{s:o, s:o, s:o, s:o}, s:{s:f, s:I, s:s, s:f, s:f, s:f, s:I, s:I}, "
      "s:{s:I, s:I, s:I, s:I, s:f}, s:o, s:{s:f, s:f, s:f}, "
      "s:{s:f, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I}}",
      "task", t->name, "output_kind", OutputKind_name(t->kind),
      "window", "since", p->since ? json_string(p->since) : json_null(),
      "until", p->until ? json_string(p->until) : json_null(),
      "first", first ? json_string(first) : json_null(), "last", last ? json_string(last) : json_null(),
      "params", "test_frac", p->test_frac, "min_train", (json_int_t)min_train,
      "balance", p->balance ? "cap" : "none", "cap_factor", p->cap_factor, "near_dup", p->near_dup,
      "outlier_k", p->outlier_k, "min_label", (json_int_t)p->min_label, "seed", (json_int_t)p->seed,
      "counts", "records", (json_int_t)rs->n, "kept", (json_int_t)(s->train + s->test),
      "train", (json_int_t)s->train, "test", (json_int_t)s->test,
      "test_frac", s->train + s->test ? (double)s->test / (double)(s->train + s->test) : 0.0,
      "filters", filters,
      "length", "median_prompt_tokens", s->tok_median, "mad", s->tok_mad, "limit", s->tok_limit,
      "near_dup", "threshold", p->near_dup, "shingle", np.shingle, "bands", nb, "rows_per_band", rows,
      "groups", (json_int_t)s->groups, "rows_in_groups", (json_int_t)s->group_rows,
      "largest_group", (json_int_t)s->group_largest, "split_groups", (json_int_t)s->groups_split,
      "overlap", (json_int_t)s->overlap);
   if (label_task) {
      long long *tr = xcalloc(ls->n ? ls->n : 1, sizeof *tr), *te = xcalloc(ls->n ? ls->n : 1, sizeof *te);
      for (size_t i = 0; i < rs->n; i++) {
         const Row *r = &rs->r[i];
         if (r->drop == DROP_NONE && r->label >= 0)
            (r->test ? te : tr)[r->label]++;
      }
      /* Largest first, then by name: the order people read a distribution in. */
      int *order = xcalloc(ls->n ? ls->n : 1, sizeof *order);
      for (int l = 0; l < ls->n; l++)
         order[l] = l;
      for (int a = 1; a < ls->n; a++) {
         int x = order[a], b = a;
         for (; b > 0 && (tr[order[b - 1]] + te[order[b - 1]] < tr[x] + te[x]); b--)
            order[b] = order[b - 1];
         order[b] = x;
      }
      json_t *dist = json_array(), *warn = json_array();
      for (int a = 0; a < ls->n; a++) {
         int l = order[a];
         json_array_append_new(dist, json_pack("{s:s, s:I, s:I}", "label", ls->labels[l], "train", (json_int_t)tr[l],
                                               "test", (json_int_t)te[l]));
         if (tr[l] + te[l] < p->min_label)
            json_array_append_new(warn, json_sprintf("label '%s' has %lld rows (fewer than %lld: log or label more)",
                                                     ls->labels[l], tr[l] + te[l], p->min_label));
      }
      json_object_set_new(rep, "labels", json_pack("{s:s, s:i, s:I, s:o, s:o}", "source", ls->user ? "user" : "learned",
                                                    "count", ls->n, "cap", (json_int_t)s->cap, "distribution", dist,
                                                    "warnings", warn));
      free(order);
      free(tr);
      free(te);
   }
   return rep;
}

/* An owner-only file written in one go (buffered in sb) and synced, with its sha256. */
static bool write_file(const char *dir, const char *name, const Sbuf *sb, char hex[65], char **err) {
   char *path = xasprintf("%s/%s", dir, name);
   const char *data = sb->buf ? sb->buf : "";
   int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
   FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
   bool ok = f && fwrite(data, 1, sb->len, f) == sb->len && fflush(f) == 0 && fsync(fd) == 0;
   if (f ? fclose(f) != 0 : fd >= 0 && close(fd) != 0)
      ok = false;
   if (!ok)
      *err = xasprintf("cannot write %s: %s", path, strerror(errno));
   Sha256 h;
   Sha256_init(&h);
   Sha256_update(&h, data, sb->len);
   Sha256_final_hex(&h, hex);
   free(path);
   return ok;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
   (void)sb;
   (void)flag;
   (void)ftw;
   return remove(path);
}

static void rm_rf(const char *path) {
   nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* The JSONL of one side, rows in seeded order. */
static void side_jsonl(const Rows *rs, bool test, uint64_t seed, Sbuf *sb) {
   Ord *ord = xcalloc(rs->n ? rs->n : 1, sizeof *ord);
   size_t n = 0;
   for (size_t i = 0; i < rs->n; i++) {
      if (rs->r[i].drop == DROP_NONE && rs->r[i].test == test)
         ord[n++] = (Ord){ row_order(&rs->r[i], seed ^ 0x6f72646572ULL), i };
   }
   qsort(ord, n, sizeof *ord, cmp_ord);
   for (size_t j = 0; j < n; j++) {
      Sbuf_puts(sb, rs->r[ord[j].row].line);
      Sbuf_putc(sb, '\n');
   }
   free(ord);
}

typedef struct {
   char train[65], test[65], report[65];
} Hashes;

/* Files into a fresh temp dir under parent; returns the temp dir (caller renames or removes). */
static char *write_files(const char *parent, const Rows *rs, uint64_t seed, json_t *report, Hashes *h, char **err) {
   char *tmp = xasprintf("%s/.tmp-XXXXXX", parent);
   if (!mkdtemp(tmp)) {
      *err = xasprintf("cannot create a directory in %s: %s", parent, strerror(errno));
      free(tmp);
      return NULL;
   }
   Sbuf tr = { 0 }, te = { 0 }, js = { 0 };
   side_jsonl(rs, false, seed, &tr);
   side_jsonl(rs, true, seed, &te);
   bool ok = write_file(tmp, "train.jsonl", &tr, h->train, err) && write_file(tmp, "test.jsonl", &te, h->test, err);
   if (ok) {
      json_t *files = json_pack("{s:{s:I, s:I, s:s}, s:{s:I, s:I, s:s}}",
                                "train.jsonl", "rows", (json_int_t)json_integer_value(json_object_get(json_object_get(report, "counts"), "train")),
                                "bytes", (json_int_t)tr.len, "sha256", h->train,
                                "test.jsonl", "rows", (json_int_t)json_integer_value(json_object_get(json_object_get(report, "counts"), "test")),
                                "bytes", (json_int_t)te.len, "sha256", h->test);
      json_object_set_new(report, "files", files);
      char *text = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
      Sbuf_puts(&js, text);
      Sbuf_putc(&js, '\n');
      free(text);
      ok = write_file(tmp, "dataset.json", &js, h->report, err);
   }
   Sbuf_free(&tr);
   Sbuf_free(&te);
   Sbuf_free(&js);
   if (!ok) {
      rm_rf(tmp);
      free(tmp);
      return NULL;
   }
   return tmp;
}

/* Rename the temp dir to datasets/<task>/<id> and register it, in one transaction. */
static bool register_dataset(Store *st, const Task *t, const DatasetParams *p, const char *datadir, const char *tmp,
                             json_t *report, const Hashes *h, const Stats *s, Dataset *out, char **err) {
   if (!Store_begin(st, err))
      return false;
   char ts[32];
   now_iso8601(ts);
   char *params = json_dumps(json_object_get(report, "params"), JSON_COMPACT | JSON_PRESERVE_ORDER);
   char *text = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
   sqlite3_stmt *ins = Store_prepare(st,
      "INSERT INTO datasets(task_id, created_at, actor, since, until, params, rows_train, rows_test, dir,"
      " train_sha256, test_sha256, report_sha256, report) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '', ?9, ?10, ?11, ?12)");
   sqlite3_bind_int64(ins, 1, t->id);
   sqlite3_bind_text(ins, 2, ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(ins, 3, Store_actor(), -1, SQLITE_STATIC);
   if (p->since)
      sqlite3_bind_text(ins, 4, p->since, -1, SQLITE_STATIC);
   if (p->until)
      sqlite3_bind_text(ins, 5, p->until, -1, SQLITE_STATIC);
   sqlite3_bind_text(ins, 6, params, -1, SQLITE_STATIC);
   sqlite3_bind_int64(ins, 7, s->train);
   sqlite3_bind_int64(ins, 8, s->test);
   sqlite3_bind_text(ins, 9, h->train, -1, SQLITE_STATIC);
   sqlite3_bind_text(ins, 10, h->test, -1, SQLITE_STATIC);
   sqlite3_bind_text(ins, 11, h->report, -1, SQLITE_STATIC);
   sqlite3_bind_text(ins, 12, text, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(ins) == SQLITE_DONE;
   sqlite3_finalize(ins);
   free(params);
   free(text);
   long long id = sqlite3_last_insert_rowid(st->db);
   char *rel = xasprintf("datasets/%s/%lld", t->name, id);
   char *final = xasprintf("%s/%s", datadir, rel);
   if (!ok) {
      *err = Store_errmsg(st, "registering the dataset");
   } else {
      sqlite3_stmt *up = Store_prepare(st, "UPDATE datasets SET dir = ? WHERE id = ?");
      sqlite3_bind_text(up, 1, rel, -1, SQLITE_STATIC);
      sqlite3_bind_int64(up, 2, id);
      ok = sqlite3_step(up) == SQLITE_DONE;
      sqlite3_finalize(up);
      if (!ok)
         *err = Store_errmsg(st, "registering the dataset");
   }
   if (ok) {
      /* A directory with an unregistered id is a leftover of a crash between rename and commit. */
      rm_rf(final);
      if (rename(tmp, final) != 0) {
         *err = xasprintf("cannot move the dataset into %s: %s", final, strerror(errno));
         ok = false;
      }
   }
   if (ok && !Store_commit(st, err)) {
      rename(final, tmp);
      ok = false;
   }
   if (!ok)
      Store_rollback(st);
   else
      ok = Dataset_get(st, t, id, out, err);
   free(rel);
   free(final);
   return ok;
}

static char *filter_summary(const Stats *s) {
   Sbuf sb = { 0 };
   char a[32];
   Sbuf_puts(&sb, "");
   for (int d = DROP_ERROR; d < DROP_COUNT; d++) {
      if (!s->dropped[d])
         continue;
      Sbuf_printf(&sb, "%s%s ", sb.len ? ", " : "", fmt_count(a, sizeof a, s->dropped[d]));
      for (const char *p = drop_names[d]; *p; p++)
         Sbuf_putc(&sb, *p == '_' ? ' ' : *p);
   }
   if (!sb.len)
      Sbuf_puts(&sb, "none");
   return Sbuf_steal(&sb);
}

bool Dataset_build(Store *st, const char *task, const DatasetParams *p, Dataset *out, char **err) {
   memset(out, 0, sizeof *out);
   if (!Dataset_check_params(p, err))
      return false;
   Task t;
   Task_init(&t);
   if (!Task_get(st, task, &t, err))
      return false;
   long long min_train = p->min_train >= 0 ? p->min_train : t.min_examples;
   bool label_task = t.kind == KIND_LABEL;
   char a[32], b[32], c[32];
   Rows rs = { 0 };
   LabelSet ls = { 0 };
   Stats s = { 0 };
   json_t *report = NULL;
   char *datadir = NULL, *parent = NULL, *tmp = NULL;
   bool ok = false;

   double t0 = mono_seconds();
   load_rows(st, t.id, p->since, p->until, &rs);
   double t1 = mono_seconds(), t2 = t1;
   double secs_read = t1 - t0;
   if (rs.n == 0) {
      long long all = Store_count(st, "SELECT count(*) FROM exchanges WHERE task_id = ?1 AND arm IN ('primary', 'fallback')", t.id);
      if (all == 0 || (!p->since && !p->until))
         *err = xasprintf("%s has no exchange records to build a dataset from (import logs with 'offramp import FILE', "
                          "or capture them through the gateway)", t.name);
      else
         *err = xasprintf("no records of %s in the window %s .. %s (the task has %s records; widen --since/--until)",
                          t.name, p->since ? p->since : "start", p->until ? p->until : "now", fmt_count(a, sizeof a, all));
      goto out;
   }
   if (label_task) {
      if (!label_set(st, &t, &rs, &ls, err))
         goto out;
      for (size_t i = 0; i < rs.n; i++) {
         Row *r = &rs.r[i];
         if (r->drop == DROP_NONE && (r->label = label_index(&ls, r->answer)) < 0)
            r->drop = DROP_OFF_LABEL;
      }
   }
   drop_outliers(&rs, p->outlier_k, &s);
   t1 = mono_seconds();
   group_duplicates(&rs, p->near_dup);
   t2 = mono_seconds();
   if (label_task && p->balance)
      cap_labels(&rs, &ls, p, &s);
   split(&rs, label_task && ls.n ? ls.n : 1, p, &s);
   verify_split(&rs, &s);
   for (size_t i = 0; i < rs.n; i++)
      s.dropped[rs.r[i].drop]++;

   if (s.train < min_train) {
      char *f = filter_summary(&s);
      *err = xasprintf("dataset: %s train rows, the gate needs %s (import more logs or lower --min-train); "
                       "%s records in the window, filtered: %s", fmt_count(a, sizeof a, s.train),
                       fmt_count(b, sizeof b, min_train), fmt_count(c, sizeof c, (long long)rs.n), f);
      free(f);
      goto out;
   }
   double frac = (double)s.test / (double)(s.train + s.test);
   if (frac < DATASET_TEST_FRAC_MIN - 1e-9 || frac > DATASET_TEST_FRAC_MAX + 1e-9) {
      *err = xasprintf("dataset: the split holds out %.1f %% (%lld of %lld rows), outside 10-15 %%: near-duplicate "
                       "groups are too large for the set (largest %lld rows; raise --near-dup)",
                       100 * frac, s.test, s.train + s.test, s.group_largest);
      goto out;
   }
   if (s.overlap || s.groups_split) {
      *err = xasprintf("internal error: the split leaks (%lld test inputs in train, %lld groups split); nothing written",
                       s.overlap, s.groups_split);
      goto out;
   }
   report = report_json(&t, p, min_train, &rs, &ls, label_task, &s);

   datadir = Dataset_data_dir(st);
   parent = xasprintf("%s/datasets/%s", datadir, t.name);
   if (!mkdir_p(parent, 0700)) {
      *err = xasprintf("cannot create the data directory %s: %s", parent, strerror(errno));
      goto out;
   }
   Hashes h;
   tmp = write_files(parent, &rs, p->seed, report, &h, err);
   if (!tmp)
      goto out;
   ok = register_dataset(st, &t, p, datadir, tmp, report, &h, &s, out, err);
   if (!ok)
      rm_rf(tmp);
   out->secs_read = secs_read;
   out->secs_dedupe = t2 - t1;
   out->secs_rest = mono_seconds() - t0 - out->secs_dedupe - out->secs_read;
out:
   json_decref(report);
   free(datadir);
   free(parent);
   free(tmp);
   Dataset_free_labels(&ls);
   Rows_free(&rs);
   Task_clear(&t);
   return ok;
}

/* ---- the registry ------------------------------------------------------------------------ */

#define DATASET_COLUMNS \
   "SELECT id, task_id, created_at, actor, since, until, rows_train, rows_test, dir, train_sha256, test_sha256," \
   " report_sha256, report FROM datasets "

static char *col_dup(sqlite3_stmt *s, int i) {
   const char *v = (const char *)sqlite3_column_text(s, i);
   return v ? xstrdup(v) : NULL;
}

static void read_row(sqlite3_stmt *s, const char *datadir, Dataset *d) {
   d->id = sqlite3_column_int64(s, 0);
   d->task_id = sqlite3_column_int64(s, 1);
   d->created_at = col_dup(s, 2);
   d->actor = col_dup(s, 3);
   d->since = col_dup(s, 4);
   d->until = col_dup(s, 5);
   d->rows_train = sqlite3_column_int64(s, 6);
   d->rows_test = sqlite3_column_int64(s, 7);
   /* Relative to the data directory, so a workspace can be moved with its .data; an absolute
    * dir (registered by hand) is taken as is. */
   const char *dir = (const char *)sqlite3_column_text(s, 8);
   d->dir = dir[0] == '/' ? xstrdup(dir) : xasprintf("%s/%s", datadir, dir);
   d->train_sha256 = col_dup(s, 9);
   d->test_sha256 = col_dup(s, 10);
   d->report_sha256 = col_dup(s, 11);
   d->report = json_loads((const char *)sqlite3_column_text(s, 12), 0, NULL);
   if (!d->report)
      d->report = json_object();
}

Dataset *Dataset_list(Store *st, long long task_id, int *n) {
   char *datadir = Dataset_data_dir(st);
   sqlite3_stmt *s = Store_prepare(st, DATASET_COLUMNS "WHERE task_id = ? ORDER BY id DESC");
   sqlite3_bind_int64(s, 1, task_id);
   Dataset *ds = NULL;
   *n = 0;
   while (sqlite3_step(s) == SQLITE_ROW) {
      ds = xrealloc(ds, (*n + 1) * sizeof *ds);
      memset(&ds[*n], 0, sizeof *ds);
      read_row(s, datadir, &ds[(*n)++]);
   }
   sqlite3_finalize(s);
   free(datadir);
   return ds;
}

bool Dataset_get(Store *st, const Task *t, long long id, Dataset *out, char **err) {
   memset(out, 0, sizeof *out);
   char *datadir = Dataset_data_dir(st);
   sqlite3_stmt *s = Store_prepare(st, DATASET_COLUMNS "WHERE task_id = ?1 AND (?2 = 0 OR id = ?2) ORDER BY id DESC LIMIT 1");
   sqlite3_bind_int64(s, 1, t->id);
   sqlite3_bind_int64(s, 2, id);
   bool found = sqlite3_step(s) == SQLITE_ROW;
   if (found)
      read_row(s, datadir, out);
   else if (id)
      *err = xasprintf("%s has no dataset %lld (offramp dataset list %s)", t->name, id, t->name);
   else
      *err = xasprintf("%s has no dataset yet (offramp dataset build %s)", t->name, t->name);
   sqlite3_finalize(s);
   free(datadir);
   return found;
}

/* ---- the gate ---------------------------------------------------------------------------- */

/* Keys of a stored JSONL file after checking its sha256; -1 with *why on any problem. */
static long long file_keys(const char *dir, const char *name, const char *sha, uint64_t **keys, char **why) {
   char *path = xasprintf("%s/%s", dir, name);
   char hex[65];
   long long n = -1;
   *keys = NULL;
   if (!Sha256_file(path, hex)) {
      *why = xasprintf("%s unreadable (%s): rebuild the dataset", name, strerror(errno));
      free(path);
      return -1;
   }
   if (!str_eq(hex, sha)) {
      *why = xasprintf("%s changed since the build (sha256 %.12s, registered %.12s): rebuild", name, hex, sha);
      free(path);
      return -1;
   }
   FILE *f = fopen(path, "r");
   char *line = NULL;
   size_t cap = 0, alloc = 0;
   n = 0;
   while (f && getline(&line, &cap, f) > 0) {
      json_t *j = json_loads(line, 0, NULL);
      char *user = user_text(json_object_get(j, "messages"));
      json_decref(j);
      if ((size_t)n == alloc)
         *keys = xrealloc(*keys, (alloc = alloc ? alloc * 2 : 1024) * sizeof **keys);
      (*keys)[n++] = norm_key(user);
      free(user);
   }
   free(line);
   if (f)
      fclose(f);
   free(path);
   return n;
}

/* The overlap check reads and parses both files, and the console asks on every rebuild of a
 * task view: the last answer stands while the dataset's registry row and files are the same. */
static struct {
   long long id, rows_train, rows_test;
   char train_sha256[65], test_sha256[65];
   struct stat train, test;
   GateCheck check;
} overlap_cache;

static bool same_stat(const struct stat *a, const struct stat *b) {
   return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
          a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void overlap_check(const Dataset *d, GateCheck *c) {
   char a[32], b[32];
   char *trp = xasprintf("%s/train.jsonl", d->dir), *tep = xasprintf("%s/test.jsonl", d->dir);
   struct stat trs, tes;
   bool stats = stat(trp, &trs) == 0 && stat(tep, &tes) == 0;
   free(trp);
   free(tep);
   if (stats && overlap_cache.id == d->id && overlap_cache.rows_train == d->rows_train &&
       overlap_cache.rows_test == d->rows_test && str_eq(overlap_cache.train_sha256, d->train_sha256) &&
       str_eq(overlap_cache.test_sha256, d->test_sha256) && same_stat(&overlap_cache.train, &trs) &&
       same_stat(&overlap_cache.test, &tes)) {
      *c = overlap_cache.check;
      return;
   }
   uint64_t *tr = NULL, *te = NULL;
   char *why = NULL;
   long long ntr = file_keys(d->dir, "train.jsonl", d->train_sha256, &tr, &why);
   long long nte = ntr < 0 ? -1 : file_keys(d->dir, "test.jsonl", d->test_sha256, &te, &why);
   const char *what = "train/test overlap";
   if (ntr < 0 || nte < 0) {
      GateCheck_set(c, CHECK_FAIL, what, "%s", why);
   } else if (ntr != d->rows_train || nte != d->rows_test) {
      GateCheck_set(c, CHECK_FAIL, what, "the files hold %lld + %lld rows, registered %lld + %lld: rebuild", ntr, nte,
                d->rows_train, d->rows_test);
   } else {
      long long leak = count_overlap(tr, (size_t)ntr, te, (size_t)nte);
      if (leak)
         GateCheck_set(c, CHECK_FAIL, what, "%s of %s test inputs also in train (rebuild)", fmt_count(a, sizeof a, leak),
                   fmt_count(b, sizeof b, nte));
      else
         GateCheck_set(c, CHECK_PASS, what, "none: %s test inputs checked against %s train inputs by hash",
                   fmt_count(a, sizeof a, nte), fmt_count(b, sizeof b, ntr));
   }
   free(why);
   free(tr);
   free(te);
   if (stats) {
      overlap_cache.id = d->id;
      overlap_cache.rows_train = d->rows_train;
      overlap_cache.rows_test = d->rows_test;
      snprintf(overlap_cache.train_sha256, sizeof overlap_cache.train_sha256, "%s", d->train_sha256);
      snprintf(overlap_cache.test_sha256, sizeof overlap_cache.test_sha256, "%s", d->test_sha256);
      overlap_cache.train = trs;
      overlap_cache.test = tes;
      overlap_cache.check = *c;
   }
}

int Dataset_gate_checks(Store *st, const Task *t, GateCheck *out, int max) {
   Dataset d;
   char *err = NULL;
   char a[32], b[32];
   GateCheck c[4];
   int n = 0;
   if (!Dataset_get(st, t, 0, &d, &err)) {
      free(err);
      GateCheck_set(&c[n++], CHECK_MISSING, "dataset", "no dataset built yet (offramp dataset build %s)", t->name);
   } else {
      json_t *params = json_object_get(d.report, "params");
      long long min_train = json_integer_value(json_object_get(params, "min_train"));
      GateCheck_set(&c[n++], d.rows_train >= min_train ? CHECK_PASS : CHECK_FAIL, "train rows",
                "%s in dataset %lld, the gate needs %s", fmt_count(a, sizeof a, d.rows_train), d.id,
                fmt_count(b, sizeof b, min_train));
      long long total = d.rows_train + d.rows_test;
      double frac = total ? (double)d.rows_test / (double)total : 0;
      bool in_range = frac >= DATASET_TEST_FRAC_MIN - 1e-9 && frac <= DATASET_TEST_FRAC_MAX + 1e-9;
      GateCheck_set(&c[n++], in_range ? CHECK_PASS : CHECK_FAIL, "test fraction",
                "%.1f %% (%s of %s rows), the gate needs 10-15 %%", 100 * frac, fmt_count(a, sizeof a, d.rows_test),
                fmt_count(b, sizeof b, total));
      overlap_check(&d, &c[n++]);
      json_t *nd = json_object_get(d.report, "near_dup");
      long long split_groups = json_integer_value(json_object_get(nd, "split_groups"));
      long long groups = json_integer_value(json_object_get(nd, "groups"));
      if (split_groups == 0)
         GateCheck_set(&c[n++], CHECK_PASS, "near-dup groups", "%s groups of look-alikes, each on one side (Jaccard >= %.2f)",
                   fmt_count(a, sizeof a, groups), json_real_value(json_object_get(nd, "threshold")));
      else
         GateCheck_set(&c[n++], CHECK_FAIL, "near-dup groups", "%s groups straddle train and test (rebuild)",
                   fmt_count(a, sizeof a, split_groups));
      Dataset_clear(&d);
   }
   if (n > max)
      n = max;
   memcpy(out, c, (size_t)n * sizeof *c);
   return n;
}
