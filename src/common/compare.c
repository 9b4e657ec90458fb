/* compare.c - answer comparison modes and confidence from logprobs. */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/compare.h"
#include "common/jsonscan.h"
#include "common/util.h"

static const char *const mode_names[] = {
   [COMPARE_LABEL] = "label",
   [COMPARE_EXACT] = "exact",
   [COMPARE_JSON] = "json",
   [COMPARE_TEXT] = "text",
   [COMPARE_TOOL_CALLS] = "tool_calls",
};

bool Compare_mode_parse(const char *s, CompareMode *out) {
   for (size_t i = 0; s && i < ARRAY_SIZE(mode_names); i++) {
      if (str_eq(s, mode_names[i])) {
         *out = (CompareMode)i;
         return true;
      }
   }
   return false;
}

const char *Compare_mode_name(CompareMode m) {
   return mode_names[m];
}

const char *Compare_answer(const json_t *response) {
   json_t *choice = json_array_get(json_object_get(response, "choices"), 0);
   json_t *content = json_object_get(json_object_get(choice, "message"), "content");
   if (!content)
      content = json_object_get(choice, "text");
   return json_string_value(content);
}

/* The member key of the object text[0..len); *odd when the text is an object the scanner
 * declines (escaped keys, too many members): the caller then asks the parser. */
static const JsonMember *member(const char *text, size_t len, const char *key, JsonMember *m, bool *odd) {
   int n = Jsonscan_members(text, len, m, JSONSCAN_MEMBERS);
   if (n < 0 && len && text[0] == '{')
      *odd = true;
   return n < 0 ? NULL : Jsonscan_find(m, n, key);
}

char *Compare_tool_calls_canonical(const json_t *tool_calls) {
   if (!json_is_array(tool_calls) || json_array_size(tool_calls) == 0)
      return NULL;
   json_t *out = json_array();
   size_t i;
   json_t *call;
   json_array_foreach(tool_calls, i, call) {
      json_t *fn = json_object_get(call, "function");
      const char *name = json_string_value(json_object_get(fn, "name"));
      if (!name) {
         json_decref(out);
         return NULL;
      }
      json_t *args = json_object_get(fn, "arguments");
      json_t *parsed = json_is_string(args) ? json_loads(json_string_value(args), JSON_DECODE_ANY, NULL) : NULL;
      json_array_append_new(out, json_pack("{s:s, s:o}", "name", name, "arguments",
                                           parsed ? parsed : args ? json_incref(args) : json_object()));
   }
   char *s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
   json_decref(out);
   return s;
}

char *Compare_answer_new(const json_t *response) {
   const char *a = Compare_answer(response);
   if (a)
      return xstrdup(a);
   json_t *choice = json_array_get(json_object_get(response, "choices"), 0);
   return Compare_tool_calls_canonical(json_object_get(json_object_get(choice, "message"), "tool_calls"));
}

char *Compare_answer_text(const char *body, size_t len) {
   JsonMember m[JSONSCAN_MEMBERS];
   bool odd = false;
   const JsonMember *choices = member(body, len, "choices", m, &odd);
   size_t clen;
   const char *choice = choices ? Jsonscan_first(choices->val, choices->vallen, &clen) : NULL;
   const JsonMember *x = NULL;
   if (choice) {
      x = member(choice, clen, "message", m, &odd);
      if (x)
         x = member(x->val, x->vallen, "content", m, &odd);
      if (!x)
         x = member(choice, clen, "text", m, &odd);
   }
   /* No content (null): the model may have called tools, which the parser reads. */
   if (odd || (choice && (!x || (x->vallen == 4 && memcmp(x->val, "null", 4) == 0)))) {
      json_t *j = json_loadb(body, len, 0, NULL);
      char *out = Compare_answer_new(j);
      json_decref(j);
      return out;
   }
   return x ? Jsonscan_string(x->val, x->vallen) : NULL;
}

/* Whitespace-normalised copy: runs collapsed to one space, ends trimmed, optionally
 * case-folded (ASCII; labels are ASCII in practice and UTF-8 bytes pass unchanged). */
static char *normalise(const char *s, bool fold) {
   char *out = xmalloc(strlen(s) + 1), *o = out;
   bool space = false;
   for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
      if (isspace(*p)) {
         space = o != out;
         continue;
      }
      if (space)
         *o++ = ' ';
      space = false;
      *o++ = fold ? (char)tolower(*p) : (char)*p;
   }
   *o = '\0';
   return out;
}

/* Models often fence JSON in ```json ... ```; the fence is presentation, not content. */
json_t *Compare_answer_json(const char *s) {
   while (isspace((unsigned char)*s))
      s++;
   const char *end = s + strlen(s);
   if (str_startswith(s, "```")) {
      const char *nl = strchr(s, '\n');
      if (!nl)
         return NULL;
      s = nl + 1;
      while (end > s && isspace((unsigned char)end[-1]))
         end--;
      if (end - s < 3 || memcmp(end - 3, "```", 3) != 0)
         return NULL;
      end -= 3;
   }
   return json_loadb(s, (size_t)(end - s), JSON_DECODE_ANY, NULL);
}

static bool json_same(const json_t *a, const json_t *b) {
   if (json_is_number(a) && json_is_number(b))
      return json_number_value(a) == json_number_value(b);
   if (json_typeof(a) != json_typeof(b))
      return false;
   if (json_is_object(a)) {
      if (json_object_size(a) != json_object_size(b))
         return false;
      const char *k;
      json_t *v;
      json_object_foreach((json_t *)a, k, v) {
         json_t *w = json_object_get(b, k);
         if (!w || !json_same(v, w))
            return false;
      }
      return true;
   }
   if (json_is_array(a)) {
      if (json_array_size(a) != json_array_size(b))
         return false;
      for (size_t i = 0; i < json_array_size(a); i++) {
         if (!json_same(json_array_get(a, i), json_array_get(b, i)))
            return false;
      }
      return true;
   }
   return json_equal((json_t *)a, (json_t *)b);
}

/* Tool calls agree when every call of a has a JSON-equal call (name and arguments) in b not
 * already matched, and they are as many: parallel calls may come in any order. */
static bool tool_calls_same(const json_t *a, const json_t *b) {
   if (!json_is_array(a) || !json_is_array(b) || json_array_size(a) != json_array_size(b))
      return false;
   size_t n = json_array_size(a);
   bool *used = xcalloc(n ? n : 1, sizeof *used), same = true;
   for (size_t i = 0; i < n && same; i++) {
      bool found = false;
      for (size_t j = 0; j < n && !found; j++) {
         if (!used[j] && json_same(json_array_get(a, i), json_array_get(b, j)))
            found = used[j] = true;
      }
      same = found;
   }
   free(used);
   return same;
}

bool Compare_answers(CompareMode m, const char *a, const char *b) {
   return Compare_agree(m, METRIC_CHRF, COMPARE_TEXT_THRESHOLD, a, b);
}

bool Compare_agree(CompareMode m, TextMetric metric, double threshold, const char *a, const char *b) {
   if (!a || !b)
      return false;
   bool same = false;
   switch (m) {
   case COMPARE_EXACT:
      return str_eq(a, b);
   case COMPARE_LABEL:
   case COMPARE_TEXT: {
      char *na = normalise(a, m == COMPARE_LABEL), *nb = normalise(b, m == COMPARE_LABEL);
      same = str_eq(na, nb);
      free(na);
      free(nb);
      /* Text agrees on its metric: the same summary with other bullets or a reworded clause
       * is the same answer, which exact comparison called a disagreement. */
      if (!same && m == COMPARE_TEXT)
         same = Textmetrics_score(metric, a, b) >= threshold - 1e-12;
      return same;
   }
   case COMPARE_TOOL_CALLS: {
      json_t *ja = json_loads(a, 0, NULL), *jb = json_loads(b, 0, NULL);
      same = tool_calls_same(ja, jb);
      json_decref(ja);
      json_decref(jb);
      return same;
   }
   case COMPARE_JSON: {
      json_t *ja = Compare_answer_json(a), *jb = Compare_answer_json(b);
      same = ja && jb && json_same(ja, jb);
      json_decref(ja);
      json_decref(jb);
      return same;
   }
   }
   return false;
}

/* Of expected's fields (members of an object), those answer has JSON-equal. */
static void object_fields(const json_t *want, const json_t *got, long *ok, long *total) {
   const char *k;
   json_t *v;
   json_object_foreach((json_t *)want, k, v) {
      (*total)++;
      json_t *g = json_object_get(got, k);
      *ok += g && json_same(v, g);
   }
}

void Compare_fields(CompareMode m, const char *answer, const char *expected, long *ok, long *total) {
   *ok = *total = 0;
   if (!expected || (m != COMPARE_JSON && m != COMPARE_TOOL_CALLS))
      return;
   json_t *want = m == COMPARE_JSON ? Compare_answer_json(expected) : json_loads(expected, 0, NULL);
   json_t *got = !answer ? NULL : m == COMPARE_JSON ? Compare_answer_json(answer) : json_loads(answer, 0, NULL);
   if (m == COMPARE_JSON && json_is_object(want)) {
      object_fields(want, got, ok, total);
   } else if (m == COMPARE_TOOL_CALLS && json_is_array(want)) {
      size_t i;
      json_t *call;
      json_array_foreach(want, i, call) {
         json_t *g = json_array_get(got, i);
         const char *name = json_string_value(json_object_get(call, "name"));
         bool same_fn = name && str_eq(name, json_string_value(json_object_get(g, "name")));
         (*total)++;
         *ok += same_fn;
         json_t *args = json_object_get(call, "arguments");
         if (json_is_object(args))
            object_fields(args, same_fn ? json_object_get(g, "arguments") : NULL, ok, total);
      }
   }
   json_decref(want);
   json_decref(got);
}

double Compare_confidence(const json_t *response, CompareMode m) {
   char *text = json_dumps(response, JSON_COMPACT);
   double p = text ? Compare_confidence_text(text, strlen(text), m) : -1;
   free(text);
   return p;
}

/* A JSON number's value; false when v is not a number. */
static bool number(const JsonMember *v, double *out) {
   if (!v || !v->vallen || !(v->val[0] == '-' || (v->val[0] >= '0' && v->val[0] <= '9')))
      return false;
   *out = strtod(v->val, NULL);
   return true;
}

/* The elements of an array member, on the heap when there are many; NULL (and *n -1) when it
 * is not an array. *odd when it is an array the scanner cannot read. */
static JsonMember *elements(const JsonMember *arr, JsonMember *stack, int max, int *n) {
   *n = arr ? Jsonscan_elements(arr->val, arr->vallen, stack, max) : -1;
   if (*n <= max)
      return *n < 0 ? NULL : stack;
   JsonMember *heap = xmalloc((size_t)*n * sizeof *heap);
   Jsonscan_elements(arr->val, arr->vallen, heap, *n);
   return heap;
}

#define SCAN_TOKENS 64

/* The label's probability from the first token's top_logprobs, or -1. */
static double label_probability(const char *body, size_t len, const JsonMember *first, JsonMember *m, bool *odd) {
   char *answer = Compare_answer_text(body, len);
   JsonMember stack[SCAN_TOKENS];
   int n;
   JsonMember *alts = answer ? elements(member(first->val, first->vallen, "top_logprobs", m, odd), stack,
                                        SCAN_TOKENS, &n)
                             : NULL;
   double p = -1;
   if (alts) {
      char *want = normalise(answer, true);
      for (int i = 0; i < n && p < 0; i++) {
         const JsonMember *t = member(alts[i].val, alts[i].vallen, "token", m, odd);
         char *tok = t ? Jsonscan_string(t->val, t->vallen) : NULL;
         double lp;
         if (tok && number(member(alts[i].val, alts[i].vallen, "logprob", m, odd), &lp)) {
            char *got = normalise(tok, true);
            if (str_eq(got, want))
               p = exp(lp);
            free(got);
         }
         free(tok);
      }
      free(want);
      if (alts != stack)
         free(alts);
   }
   free(answer);
   return p;
}

/* An extraction answer is as sure as its least sure field: each top-level field's value
 * scores the product of the probabilities of the tokens that spell it (keys and punctuation,
 * fixed by the format, are left out), so a long object is not less certain for being long.
 * -1 when the tokens do not spell a JSON object (the caller then multiplies them all). */
static double field_confidence(const JsonMember *tokens, int n, JsonMember *m, bool *odd) {
   Sbuf text = { 0 };
   size_t *start = xmalloc((size_t)(n + 1) * sizeof *start);
   double *lp = xmalloc((size_t)(n ? n : 1) * sizeof *lp);
   bool all = true;
   for (int i = 0; i < n && all; i++) {
      const JsonMember *t = member(tokens[i].val, tokens[i].vallen, "token", m, odd);
      char *tok = t ? Jsonscan_string(t->val, t->vallen) : NULL;
      all = tok && number(member(tokens[i].val, tokens[i].vallen, "logprob", m, odd), &lp[i]);
      start[i] = text.len;
      if (tok)
         Sbuf_puts(&text, tok);
      free(tok);
   }
   start[n] = text.len;
   double p = -1;
   const char *b = text.buf ? strchr(text.buf, '{') : NULL, *e = text.buf ? strrchr(text.buf, '}') : NULL;
   JsonMember f[JSONSCAN_MEMBERS];
   int nf = all && b && e > b ? Jsonscan_members(b, (size_t)(e - b + 1), f, JSONSCAN_MEMBERS) : -1;
   for (int k = 0; k < nf; k++) {
      size_t vs = (size_t)(f[k].val - text.buf), ve = vs + f[k].vallen;
      double sum = 0;
      for (int i = 0; i < n; i++) {
         if (start[i] < ve && start[i + 1] > vs)
            sum += lp[i];
      }
      double fp = exp(sum);
      p = p < 0 || fp < p ? fp : p;
   }
   Sbuf_free(&text);
   free(start);
   free(lp);
   return p;
}

/* A logprobs entry per field rather than per token (a model that scores fields, such as a
 * sequence tagger): as many entries as the answer object has members, each entry's token
 * naming a different member by its key or by its value as written (a string's characters, the
 * JSON text of anything else, "null" for an absent field). The answer is then as sure as its
 * least sure field. -1 when the entries do not look like that. */
static double per_field_entries(const char *body, size_t len, const JsonMember *tokens, int n, JsonMember *m,
                                bool *odd) {
   char *answer = Compare_answer_text(body, len);
   const char *b = answer ? strchr(answer, '{') : NULL, *e = answer ? strrchr(answer, '}') : NULL;
   JsonMember f[JSONSCAN_MEMBERS];
   int nf = b && e > b ? Jsonscan_members(b, (size_t)(e - b + 1), f, JSONSCAN_MEMBERS) : -1;
   double p = -1;
   if (nf > 0 && nf == n) {
      bool used[JSONSCAN_MEMBERS] = { false }, all = true;
      double least = 1;
      for (int i = 0; i < n && all; i++) {
         const JsonMember *t = member(tokens[i].val, tokens[i].vallen, "token", m, odd);
         char *tok = t ? Jsonscan_string(t->val, t->vallen) : NULL;
         double lp;
         int hit = -1;
         if (tok && number(member(tokens[i].val, tokens[i].vallen, "logprob", m, odd), &lp)) {
            size_t tl = strlen(tok);
            for (int k = 0; k < nf && hit < 0; k++) {
               if (used[k])
                  continue;
               bool named = f[k].keylen == tl && memcmp(f[k].key, tok, tl) == 0;
               if (!named && f[k].vallen && f[k].val[0] == '"') {
                  char *v = Jsonscan_string(f[k].val, f[k].vallen);
                  named = v && str_eq(v, tok);
                  free(v);
               } else if (!named) {
                  named = f[k].vallen == tl && memcmp(f[k].val, tok, tl) == 0;
               }
               if (named)
                  hit = k;
            }
         }
         free(tok);
         all = hit >= 0;
         if (all) {
            used[hit] = true;
            least = exp(lp) < least ? exp(lp) : least;
         }
      }
      p = all ? least : -1;
   }
   free(answer);
   return p;
}

static double confidence_scan(const char *body, size_t len, CompareMode mode, bool *odd) {
   JsonMember m[JSONSCAN_MEMBERS], stack[SCAN_TOKENS];
   const JsonMember *choices = member(body, len, "choices", m, odd);
   size_t clen;
   const char *choice = choices ? Jsonscan_first(choices->val, choices->vallen, &clen) : NULL;
   const JsonMember *lp = choice ? member(choice, clen, "logprobs", m, odd) : NULL;
   int n;
   JsonMember *tokens = elements(lp ? member(lp->val, lp->vallen, "content", m, odd) : NULL, stack, SCAN_TOKENS, &n);
   double p = -1;
   if (!tokens || n == 0) {
      /* none */
   } else if (mode == COMPARE_LABEL && (p = label_probability(body, len, &tokens[0], m, odd)) >= 0) {
      p = p > 1 ? 1 : p;
   } else if (mode == COMPARE_JSON && ((p = per_field_entries(body, len, tokens, n, m, odd)) >= 0 ||
                                       (p = field_confidence(tokens, n, m, odd)) >= 0)) {
      p = p > 1 ? 1 : p;
   } else {
      double sum = 0, v;
      bool all = true;
      for (int i = 0; i < n && all; i++) {
         all = number(member(tokens[i].val, tokens[i].vallen, "logprob", m, odd), &v);
         sum += v;
      }
      /* Text and JSON are not less certain for being long: the mean, not the sum. */
      p = all ? exp(mode == COMPARE_TEXT || mode == COMPARE_JSON ? sum / n : sum) : -1;
      p = p > 1 ? 1 : p;
   }
   if (tokens != stack)
      free(tokens);
   return p;
}

double Compare_confidence_text(const char *body, size_t len, CompareMode mode) {
   bool odd = false;
   double p = confidence_scan(body, len, mode, &odd);
   if (odd) {
      /* Escaped keys or a crowd of members: the parser's compact form has neither. */
      json_t *j = json_loadb(body, len, 0, NULL);
      char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
      bool again = false;
      p = text ? confidence_scan(text, strlen(text), mode, &again) : -1;
      free(text);
      json_decref(j);
   }
   return p;
}

/* Streamed tool calls come as deltas by index: the id, type and name once, the arguments
 * string in pieces. */
static void stream_tool_calls(json_t *calls, const json_t *deltas) {
   size_t i;
   json_t *d;
   json_array_foreach(deltas, i, d) {
      json_int_t idx = json_integer_value(json_object_get(d, "index"));
      if (idx < 0 || idx > 64)
         continue;
      while ((json_int_t)json_array_size(calls) <= idx)
         json_array_append_new(calls, json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", "", "type", "function", "function",
                                                "name", "", "arguments", ""));
      json_t *call = json_array_get(calls, (size_t)idx), *fn = json_object_get(call, "function");
      const char *id = json_string_value(json_object_get(d, "id"));
      if (id)
         json_object_set_new(call, "id", json_string(id));
      json_t *dfn = json_object_get(d, "function");
      const char *name = json_string_value(json_object_get(dfn, "name"));
      if (name)
         json_object_set_new(fn, "name", json_string(name));
      const char *piece = json_string_value(json_object_get(dfn, "arguments"));
      if (piece) {
         char *joined = xasprintf("%s%s", json_string_value(json_object_get(fn, "arguments")), piece);
         json_object_set_new(fn, "arguments", json_string(joined));
         free(joined);
      }
   }
}

json_t *Compare_stream_response(const char *sse, size_t n) {
   Sbuf content = { 0 };
   json_t *tokens = json_array(), *first = NULL, *finish = NULL, *usage = NULL, *calls = json_array();
   const char *p = sse, *end = sse + n;
   while (p < end) {
      const char *eol = memchr(p, '\n', (size_t)(end - p));
      const char *line_end = eol ? eol : end;
      if (line_end - p > 5 && memcmp(p, "data:", 5) == 0) {
         const char *d = p + 5;
         while (d < line_end && *d == ' ')
            d++;
         json_t *chunk = json_loadb(d, (size_t)(line_end - d), 0, NULL);
         if (json_is_object(chunk)) {
            if (!first)
               first = json_incref(chunk);
            json_t *choice = json_array_get(json_object_get(chunk, "choices"), 0);
            const char *piece = json_string_value(json_object_get(json_object_get(choice, "delta"), "content"));
            if (piece)
               Sbuf_puts(&content, piece);
            stream_tool_calls(calls, json_object_get(json_object_get(choice, "delta"), "tool_calls"));
            json_t *fr = json_object_get(choice, "finish_reason");
            if (json_is_string(fr)) {
               json_decref(finish);
               finish = json_incref(fr);
            }
            json_t *lp = json_object_get(json_object_get(choice, "logprobs"), "content");
            if (json_is_array(lp))
               json_array_extend(tokens, lp);
            json_t *u = json_object_get(chunk, "usage");
            if (json_is_object(u)) {
               json_decref(usage);
               usage = json_incref(u);
            }
         }
         json_decref(chunk);
      }
      p = line_end + 1;
   }
   if (!first) {
      json_decref(calls);
      Sbuf_free(&content);
      json_decref(tokens);
      json_decref(finish);
      json_decref(usage);
      return NULL;
   }
   json_t *message = json_array_size(calls) && !content.len
                        ? json_pack("{s:s, s:n, s:o}", "role", "assistant", "content", "tool_calls", calls)
                        : json_pack("{s:s, s:s%}", "role", "assistant", "content", content.buf ? content.buf : "",
                                    content.len);
   if (!json_object_get(message, "tool_calls"))
      json_decref(calls);
   json_t *choice = json_pack("{s:i, s:o, s:o}", "index", 0, "message", message, "finish_reason",
                              finish ? finish : json_null());
   if (json_array_size(tokens))
      json_object_set_new(choice, "logprobs", json_pack("{s:o}", "content", tokens));
   else
      json_decref(tokens);
   json_t *r = json_pack("{s:O?, s:s, s:O?, s:[o]}", "id", json_object_get(first, "id"), "object",
                         "chat.completion", "model", json_object_get(first, "model"), "choices", choice);
   if (usage)
      json_object_set_new(r, "usage", usage);
   json_decref(first);
   Sbuf_free(&content);
   return r;
}
