/* kindinfer.c - output kind inference from logged answers. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/compare.h"
#include "common/util.h"
#include "control/kindinfer.h"

#define MIN_ANSWERS 20
#define TOOL_SHARE 0.5       /* of answers: function calls */
#define JSON_SHARE 0.8       /* of text answers: JSON objects ... */
#define KEYS_SHARE 0.8       /* ... of which this many have the same keys */
#define LABEL_REPEAT 0.9     /* of text answers: a value seen at least twice */
#define LABEL_WORDS 5        /* median words of a label */
#define REWRITE_OVERLAP 0.5  /* median share of an answer's words taken from its input */
#define REWRITE_WORDS 300    /* longer answers are long-form writing, not a rewrite */

static int pct(long k, long n) {
   return n ? (int)(100.0 * (double)k / (double)n + 0.5) : 0;
}

bool KindInfer_from_answers(const KindEvidence *e, OutputKind *kind, char **reason) {
   char a[32], b[32];
   if (e->answers < MIN_ANSWERS) {
      *reason = xasprintf("only %ld answers logged; %d are needed to infer the kind", e->answers, MIN_ANSWERS);
      return false;
   }
   long text = e->answers - e->tool_calls;
   if ((double)e->tool_calls >= TOOL_SHARE * (double)e->answers) {
      *kind = KIND_TOOL_CALL;
      *reason = xasprintf("%s of %s answers (%d %%) are tool calls (%s)", fmt_count(a, sizeof a, e->tool_calls),
                          fmt_count(b, sizeof b, e->answers), pct(e->tool_calls, e->answers), e->functions);
      return true;
   }
   if (text > 0 && (double)e->json_objects >= JSON_SHARE * (double)text &&
       (double)e->same_keys >= KEYS_SHARE * (double)e->json_objects) {
      *kind = KIND_EXTRACTION;
      *reason = xasprintf("%d %% of %s answers are JSON objects, %d %% of them with the same keys (%s)",
                          pct(e->json_objects, text), fmt_count(b, sizeof b, text), pct(e->same_keys, e->json_objects),
                          e->keys);
      return true;
   }
   if (text > 0 && (double)e->repeated >= LABEL_REPEAT * (double)text && e->median_words <= LABEL_WORDS) {
      *kind = KIND_LABEL;
      *reason = xasprintf("%s distinct short answers (median %ld word%s) in %s; %d %% of answers repeat one seen before",
                          fmt_count(a, sizeof a, e->distinct), e->median_words, e->median_words == 1 ? "" : "s",
                          fmt_count(b, sizeof b, text), pct(e->repeated, text));
      return true;
   }
   bool from_input = e->input_overlap >= REWRITE_OVERLAP, short_enough = e->median_words <= REWRITE_WORDS;
   *kind = from_input && short_enough ? KIND_REWRITE : KIND_OPEN_ENDED;
   *reason = xasprintf("free text: %s distinct answers in %s, median %ld words%s, %d %% of an answer's words come "
                       "from its input (median; a rewrite takes %d %% or more)",
                       fmt_count(a, sizeof a, e->distinct), fmt_count(b, sizeof b, text), e->median_words,
                       short_enough ? "" : " (long-form: a rewrite is shorter)", (int)(100 * e->input_overlap + 0.5),
                       (int)(100 * REWRITE_OVERLAP));
   return true;
}

/* ---------------------------------------------------------------- reading answers */

static bool word_byte(unsigned char c) {
   return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Lower-cased words of s, sorted. */
static char **words(const char *s, size_t *n) {
   size_t cap = 16;
   char **v = xmalloc(cap * sizeof *v);
   *n = 0;
   for (const char *p = s; *p;) {
      while (*p && !word_byte((unsigned char)*p))
         p++;
      const char *b = p;
      while (*p && word_byte((unsigned char)*p))
         p++;
      if (p == b)
         continue;
      if (*n == cap)
         v = xrealloc(v, (cap *= 2) * sizeof *v);
      char *w = xstrndup(b, (size_t)(p - b));
      for (char *q = w; *q; q++)
         *q = *q >= 'A' && *q <= 'Z' ? (char)(*q + 32) : *q;
      v[(*n)++] = w;
   }
   return v;
}

static int cmp_str(const void *a, const void *b) {
   return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_long(const void *a, const void *b) {
   long x = *(const long *)a, y = *(const long *)b;
   return (x > y) - (x < y);
}

static int cmp_dbl(const void *a, const void *b) {
   double x = *(const double *)a, y = *(const double *)b;
   return (x > y) - (x < y);
}

static void free_words(char **v, size_t n) {
   for (size_t i = 0; i < n; i++)
      free(v[i]);
   free(v);
}

/* Share of the answer's words that occur in the input. */
static double overlap(const char *answer, const char *input) {
   size_t na, ni;
   char **aw = words(answer, &na), **iw = words(input, &ni);
   qsort(iw, ni, sizeof *iw, cmp_str);
   size_t hit = 0;
   for (size_t i = 0; i < na; i++)
      hit += ni && bsearch(&aw[i], iw, ni, sizeof *iw, cmp_str) != NULL;
   double v = na ? (double)hit / (double)na : 0;
   free_words(aw, na);
   free_words(iw, ni);
   return v;
}

static void text_of(json_t *content, Sbuf *sb) {
   if (json_is_string(content)) {
      Sbuf_puts(sb, json_string_value(content));
      return;
   }
   size_t i;
   json_t *part;
   json_array_foreach(content, i, part) {
      const char *t = json_string_value(json_object_get(part, "text"));
      if (t)
         Sbuf_puts(sb, t);
   }
}

/* "a, b, c" of a JSON object's keys, sorted. */
static char *key_set(const json_t *o) {
   size_t n = json_object_size(o), i = 0;
   const char **keys = xcalloc(n ? n : 1, sizeof *keys);
   const char *k;
   json_t *v;
   json_object_foreach((json_t *)o, k, v) keys[i++] = k;
   qsort(keys, n, sizeof *keys, cmp_str);
   Sbuf sb = { 0 };
   Sbuf_puts(&sb, "");
   for (i = 0; i < n; i++)
      Sbuf_printf(&sb, "%s%s", i ? ", " : "", keys[i]);
   free(keys);
   return Sbuf_steal(&sb);
}

static void note_name(char *list, size_t size, const char *name) {
   size_t len = strlen(name), at = 0;
   for (const char *p = list; *p;) {
      const char *e = strstr(p, ", ");
      size_t n = e ? (size_t)(e - p) : strlen(p);
      if (n == len && strncmp(p, name, n) == 0)
         return;
      p += n + (e ? 2 : 0);
      at++;
   }
   size_t used = strlen(list);
   if (at == 8 && used + 6 < size)
      strcat(list, ", ...");
   else if (at < 8 && used + len + 3 < size)
      snprintf(list + used, size - used, "%s%s", used ? ", " : "", name);
}

/* The most common string of v (sorted) and how often it occurs. */
static long most_common(char **v, size_t n, const char **which) {
   long best = 0;
   *which = NULL;
   for (size_t i = 0; i < n;) {
      size_t j = i;
      while (j < n && str_eq(v[j], v[i]))
         j++;
      if ((long)(j - i) > best) {
         best = (long)(j - i);
         *which = v[i];
      }
      i = j;
   }
   return best;
}

bool KindInfer_task(Store *st, long long task_id, KindEvidence *e, OutputKind *kind, char **reason) {
   memset(e, 0, sizeof *e);
   sqlite3_stmt *s = Store_prepare(st, "SELECT record FROM exchanges WHERE task_id = ?1 AND arm IN ('primary', "
                                       "'fallback') AND (status IS NULL OR status BETWEEN 200 AND 299) "
                                       "ORDER BY id DESC LIMIT ?2");
   sqlite3_bind_int64(s, 1, task_id);
   sqlite3_bind_int(s, 2, KINDINFER_SAMPLE);
   char **norm = xcalloc(KINDINFER_SAMPLE, sizeof *norm), **sigs = xcalloc(KINDINFER_SAMPLE, sizeof *sigs);
   long *nwords = xcalloc(KINDINFER_SAMPLE, sizeof *nwords);
   double *ov = xcalloc(KINDINFER_SAMPLE, sizeof *ov);
   size_t ntext = 0, nsig = 0;
   Sbuf sb = { 0 }, in = { 0 };
   while (sqlite3_step(s) == SQLITE_ROW) {
      json_t *rec = json_loads((const char *)sqlite3_column_text(s, 0), 0, NULL);
      json_t *choice = json_array_get(json_object_get(json_object_get(rec, "response"), "choices"), 0);
      json_t *msg = json_object_get(choice, "message");
      json_t *calls = json_object_get(msg, "tool_calls");
      Sbuf_reset(&sb);
      Sbuf_puts(&sb, "");
      text_of(json_object_get(msg, "content"), &sb);
      char *t = str_trim(xstrdup(sb.buf));
      if (json_array_size(calls) && !*t) {
         e->answers++;
         e->tool_calls++;
         size_t i;
         json_t *c;
         json_array_foreach(calls, i, c) {
            const char *name = json_string_value(json_object_get(json_object_get(c, "function"), "name"));
            if (name)
               note_name(e->functions, sizeof e->functions, name);
         }
         free(t);
      } else if (*t) {
         e->answers++;
         json_t *j = Compare_answer_json(t);
         if (json_is_object(j)) {
            e->json_objects++;
            sigs[nsig++] = key_set(j);
         }
         json_decref(j);
         size_t nw;
         char **w = words(t, &nw);
         free_words(w, nw);
         nwords[ntext] = (long)nw;
         Sbuf_reset(&in);
         Sbuf_puts(&in, "");
         size_t i;
         json_t *m;
         json_array_foreach(json_object_get(json_object_get(rec, "request"), "messages"), i, m) {
            const char *role = json_string_value(json_object_get(m, "role"));
            if (str_eq(role, "user") || str_eq(role, "tool")) {
               text_of(json_object_get(m, "content"), &in);
               Sbuf_putc(&in, '\n');
            }
         }
         ov[ntext] = overlap(t, in.buf);
         for (char *q = t; *q; q++)
            *q = *q >= 'A' && *q <= 'Z' ? (char)(*q + 32) : *q;
         norm[ntext++] = t;
      } else {
         free(t);
      }
      json_decref(rec);
   }
   sqlite3_finalize(s);
   Sbuf_free(&sb);
   Sbuf_free(&in);
   qsort(norm, ntext, sizeof *norm, cmp_str);
   for (size_t i = 0; i < ntext;) {
      size_t j = i;
      while (j < ntext && str_eq(norm[j], norm[i]))
         j++;
      e->distinct++;
      if (j - i >= 2)
         e->repeated += (long)(j - i);
      i = j;
   }
   qsort(sigs, nsig, sizeof *sigs, cmp_str);
   const char *top;
   e->same_keys = most_common(sigs, nsig, &top);
   snprintf(e->keys, sizeof e->keys, "%s", top ? top : "");
   qsort(nwords, ntext, sizeof *nwords, cmp_long);
   qsort(ov, ntext, sizeof *ov, cmp_dbl);
   e->median_words = ntext ? nwords[ntext / 2] : 0;
   e->input_overlap = ntext ? ov[ntext / 2] : 0;
   free_words(norm, ntext);
   free_words(sigs, nsig);
   free(nwords);
   free(ov);
   return KindInfer_from_answers(e, kind, reason);
}

json_t *KindInfer_audit_tasks(Store *st, char **err) {
   int n;
   Task *ts = Task_list(st, &n);
   json_t *out = json_array();
   for (int i = 0; i < n && out; i++) {
      const Task *t = &ts[i];
      if (!str_eq(t->phase, "audit") || (t->kind_reason && str_eq(t->kind_reason, KIND_SET_BY_USER)))
         continue;
      KindEvidence e;
      OutputKind k;
      char *reason = NULL;
      if (KindInfer_task(st, t->id, &e, &k, &reason)) {
         if (!Task_set_inferred_kind(st, t->id, k, reason, err)) {
            json_decref(out);
            out = NULL;
         } else {
            json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s}", "task", t->name, "kind", OutputKind_name(k),
                                                 "was", OutputKind_name(t->kind), "reason", reason));
         }
      }
      free(reason);
   }
   Task_free_list(ts, n);
   return out;
}
