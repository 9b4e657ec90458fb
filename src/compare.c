/* compare.c - answer comparison modes and confidence from logprobs. */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "jsonscan.h"
#include "util.h"

static const char *const mode_names[] = {
   [COMPARE_LABEL] = "label",
   [COMPARE_EXACT] = "exact",
   [COMPARE_JSON] = "json",
   [COMPARE_TEXT] = "text",
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
   if (odd) {
      json_t *j = json_loadb(body, len, 0, NULL);
      const char *a = Compare_answer(j);
      char *out = a ? xstrdup(a) : NULL;
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
static json_t *load_answer_json(const char *s) {
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

bool Compare_answers(CompareMode m, const char *a, const char *b) {
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
      return same;
   }
   case COMPARE_JSON: {
      json_t *ja = load_answer_json(a), *jb = load_answer_json(b);
      same = ja && jb && json_same(ja, jb);
      json_decref(ja);
      json_decref(jb);
      return same;
   }
   }
   return false;
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
   } else {
      double sum = 0, v;
      bool all = true;
      for (int i = 0; i < n && all; i++) {
         all = number(member(tokens[i].val, tokens[i].vallen, "logprob", m, odd), &v);
         sum += v;
      }
      p = all ? exp(sum) : -1;
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

json_t *Compare_stream_response(const char *sse, size_t n) {
   Sbuf content = { 0 };
   json_t *tokens = json_array(), *first = NULL, *finish = NULL, *usage = NULL;
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
      Sbuf_free(&content);
      json_decref(tokens);
      json_decref(finish);
      json_decref(usage);
      return NULL;
   }
   json_t *message = json_pack("{s:s, s:s%}", "role", "assistant", "content", content.buf ? content.buf : "",
                               content.len);
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
