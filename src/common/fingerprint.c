/* fingerprint.c - prompt-template fingerprints: mask what varies, hash what the developer wrote.
 *
 * The fingerprint must be computable per request (the gateway tags live traffic with it), so it
 * is stateless: no clustering across calls. The rules, and why:
 *
 * 1. Text is tokenized once. Numbers, dates, times, amounts and anything alphanumeric with a
 *    digit (ORD-12345, uuids, hex ids) become <n>; emails <email>; urls <url>; quoted spans
 *    ('…', "…", “…”, «…», `…`) <q>; capitalised words that do not start a sentence <N> (names of
 *    customers, companies, products, weekdays and months are slot values far more often than
 *    template text). Runs of one mask collapse ("Jane van Dijk", "12 / 14") so the *number* of
 *    tokens a slot filled in does not matter. Punctuation, case and whitespace never count.
 * 2. The system prompt (system + developer messages) counts in full, except that short
 *    "Key: value" lines mask their value and "Label:" lines mask the block under them, since
 *    that is how apps inject the customer, the date or retrieved context. Capped at 400 words.
 * 3. Only the first user message counts, and only its leading fixed instruction: the text before
 *    the first delimiter (blank line, newline, colon, a leading input label like "Ticket:").
 *    Everything after it is the variable input. Later turns never count, so every turn of one
 *    chat lands on the same id. A leading persona line ("You are ...") does not end the
 *    instruction.
 * 4. With a system prompt present the user message is usually pure input (a chat message, the
 *    text to classify), so a leading piece only counts as instruction when it looks like one:
 *    it starts with a task verb (classify, summarize, extract, ...). Otherwise the user part is
 *    just <text> (so is a leading input label like "Ticket:" or "Subject:", which raw inputs
 *    carry as often as templates do).
 * 5. Without a system prompt the leading piece always counts; with no delimiter at all the
 *    first sentence (at most 16 words) does.
 *
 * Known limits: a slot at the very start of a sentence that is not a number/id/quote (a name
 * opening the prompt) leaks into the id; two templates that differ only after their first
 * delimiter share an id; a chat whose first message happens to start with a task verb and a
 * delimiter gets an id of its own.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/fingerprint.h"
#include "common/jsonscan.h"
#include "common/util.h"

enum {
   TK_WORD, TK_CAP, TK_NUM, TK_ID, TK_EMAIL, TK_URL, TK_QUOTE, TK_PUNCT, TK_NL, TK_PARA,
   TK_VALUE, TK_BLOCK
};

typedef struct {
   unsigned char kind;
   bool space; /* whitespace before it (for the skeleton) */
   size_t off, len;
} Tok;

typedef struct {
   const char *s;
   Tok *v;
   size_t n, cap;
} Toks;

/* Inputs can be huge (documents pasted into prompts); the template lives near the start. */
#define SYS_SCAN_MAX 16384
#define USER_SCAN_MAX 4096
#define QUOTE_SCAN_MAX 2000
#define SYS_MAX_WORDS 400
#define PREFIX_MAX_WORDS 200
#define SENTENCE_MAX_WORDS 16
#define LABEL_MAX_WORDS 4

enum { U_NONE, U_SPACE, U_DQ_OPEN, U_DQ_CLOSE, U_SQ_OPEN, U_SQ_CLOSE, U_GUIL_OPEN, U_GUIL_CLOSE,
       U_PUNCT, U_ELLIPSIS, U_BULLET };

static void Toks_push(Toks *t, int kind, bool space, size_t off, size_t len) {
   if (t->n == t->cap) {
      t->cap = t->cap ? t->cap * 2 : 64;
      t->v = xrealloc(t->v, t->cap * sizeof *t->v);
   }
   t->v[t->n++] = (Tok){ .kind = (unsigned char)kind, .space = space, .off = off, .len = len };
}

static bool is_alpha(unsigned char c) {
   return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c) {
   return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c) {
   return is_alpha(c) || is_digit(c);
}

static size_t u8_len(unsigned char c) {
   return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/* Classifies the non-ASCII sequence at p: the punctuation and spaces that must not be read as
 * letters. Returns its length in *len (1 for a stray byte). */
static int u8_class(const unsigned char *p, size_t left, size_t *len) {
   size_t l = u8_len(p[0]);
   if (l > left)
      l = left;
   *len = l;
   if (l == 2 && p[0] == 0xc2) {
      if (p[1] == 0xa0)
         return U_SPACE;
      if (p[1] == 0xab)
         return U_GUIL_OPEN;
      if (p[1] == 0xbb)
         return U_GUIL_CLOSE;
      if (p[1] == 0xb7 || p[1] == 0xa7 || p[1] == 0xb6)
         return U_PUNCT;
   }
   if (l == 3 && p[0] == 0xe2 && p[1] == 0x80) {
      unsigned char c = p[2];
      if ((c >= 0x80 && c <= 0x8b) || c == 0xaf)
         return U_SPACE;
      if (c == 0x9c || c == 0x9e)
         return U_DQ_OPEN;
      if (c == 0x9d)
         return U_DQ_CLOSE;
      if (c == 0x98)
         return U_SQ_OPEN;
      if (c == 0x99)
         return U_SQ_CLOSE;
      if (c == 0xa6)
         return U_ELLIPSIS;
      if (c == 0xa2)
         return U_BULLET;
      return U_PUNCT;
   }
   if (l == 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
      return U_SPACE;
   if (l == 3 && p[0] == 0xe2 && (p[1] >= 0x81 && p[1] <= 0xaf))
      return U_PUNCT; /* arrows, math, box drawing, dingbats */
   if (l == 4 || l == 1)
      return U_PUNCT; /* emoji, stray bytes */
   return U_NONE;
}

static bool is_ascii_space(unsigned char c) {
   return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' || c == '\n';
}

/* A letter-like byte sequence starts at s[i] (ASCII alnum or non-special UTF-8). */
static bool letter_at(const char *s, size_t n, size_t i) {
   unsigned char c = (unsigned char)s[i];
   if (c < 0x80)
      return is_alnum(c);
   size_t l;
   return u8_class((const unsigned char *)s + i, n - i, &l) == U_NONE;
}

static bool prev_is_letter(const char *s, size_t i) {
   if (i == 0)
      return false;
   unsigned char c = (unsigned char)s[i - 1];
   return is_alnum(c) || (c >= 0x80 && c < 0xc0); /* a continuation byte ends a letter mostly */
}

static bool starts_with_ci(const char *s, size_t n, size_t i, const char *p) {
   size_t l = strlen(p);
   if (n - i < l)
      return false;
   for (size_t k = 0; k < l; k++) {
      char c = s[i + k];
      if (c >= 'A' && c <= 'Z')
         c = (char)(c - 'A' + 'a');
      if (c != p[k])
         return false;
   }
   return true;
}

static size_t scan_url(const char *s, size_t n, size_t i) {
   size_t j = i;
   while (j < n) {
      unsigned char c = (unsigned char)s[j];
      if (is_ascii_space(c) || c == '"' || c == '<' || c == '>' || c == '`')
         break;
      if (c >= 0x80) {
         size_t l;
         if (u8_class((const unsigned char *)s + j, n - j, &l) != U_NONE)
            break;
         j += l;
         continue;
      }
      j++;
   }
   while (j > i && strchr(".,;:!?)]}'", s[j - 1]))
      j--;
   return j;
}

/* Length of an email address at s[i], or 0. */
static size_t scan_email(const char *s, size_t n, size_t i) {
   size_t j = i;
   while (j < n && (is_alnum((unsigned char)s[j]) || strchr("._%+-", s[j])))
      j++;
   if (j == i || j >= n || s[j] != '@')
      return 0;
   size_t d = ++j, last_dot = 0;
   while (j < n && (is_alnum((unsigned char)s[j]) || s[j] == '-' || s[j] == '.')) {
      if (s[j] == '.')
         last_dot = j;
      j++;
   }
   while (j > d && s[j - 1] == '.')
      j--;
   if (last_dot == 0 || last_dot + 1 >= j || last_dot <= d)
      return 0;
   return j - i;
}

/* End (exclusive) of the quoted span opened at s[i..i+olen), or 0 when it never closes. */
static size_t scan_quote(const char *s, size_t n, size_t i, size_t olen, int cls) {
   size_t lim = i + olen + QUOTE_SCAN_MAX < n ? i + olen + QUOTE_SCAN_MAX : n;
   if (cls == '`' && n - i >= 3 && memcmp(s + i, "```", 3) == 0) {
      const char *e = NULL;
      for (size_t j = i + 3; j + 3 <= lim; j++)
         if (memcmp(s + j, "```", 3) == 0) {
            e = s + j;
            break;
         }
      return e ? (size_t)(e - s) + 3 : 0;
   }
   for (size_t j = i + olen; j < lim;) {
      unsigned char c = (unsigned char)s[j];
      size_t l = 1;
      int k = U_NONE;
      if (c >= 0x80)
         k = u8_class((const unsigned char *)s + j, n - j, &l);
      switch (cls) {
      case '"':
         if (c == '"' || k == U_DQ_CLOSE)
            return j + l;
         break;
      case '`':
         if (c == '`')
            return j + 1;
         break;
      case U_GUIL_OPEN:
         if (k == U_GUIL_CLOSE)
            return j + l;
         break;
      case '\'':
         if ((c == '\'' || k == U_SQ_CLOSE) && j > i + olen && !is_ascii_space((unsigned char)s[j - 1])
             && (j + l >= n || !is_alnum((unsigned char)s[j + l])))
            return j + l;
         break;
      }
      j += l;
   }
   return 0;
}

static void tokenize(Toks *t, const char *s, size_t n) {
   size_t i = 0;
   bool space = false, sent = true, line_start = true;
   t->s = s;
   t->n = 0;
   while (i < n) {
      unsigned char c = (unsigned char)s[i];
      size_t ul = 1;
      int uc = c >= 0x80 ? u8_class((const unsigned char *)s + i, n - i, &ul) : U_NONE;

      if (is_ascii_space(c) || uc == U_SPACE) {
         int nl = 0;
         size_t start = i;
         while (i < n) {
            c = (unsigned char)s[i];
            if (is_ascii_space(c)) {
               nl += c == '\n';
               i++;
            } else if (c >= 0x80 && u8_class((const unsigned char *)s + i, n - i, &ul) == U_SPACE) {
               i += ul;
            } else {
               break;
            }
         }
         if (nl) {
            Toks_push(t, nl >= 2 ? TK_PARA : TK_NL, true, start, i - start);
            sent = line_start = true;
         }
         space = true;
         continue;
      }

      /* quoted spans */
      int qcls = 0;
      if (c == '"' && !(i > 0 && is_digit((unsigned char)s[i - 1])))
         qcls = '"';
      else if (uc == U_DQ_OPEN || uc == U_DQ_CLOSE)
         qcls = '"';
      else if (c == '`')
         qcls = '`';
      else if (uc == U_GUIL_OPEN)
         qcls = U_GUIL_OPEN;
      else if ((c == '\'' || uc == U_SQ_OPEN) && !prev_is_letter(s, i) && i + ul < n
               && !is_ascii_space((unsigned char)s[i + ul]))
         qcls = '\'';
      if (qcls) {
         size_t e = scan_quote(s, n, i, ul, qcls);
         if (e) {
            Toks_push(t, TK_QUOTE, space, i, e - i);
            i = e;
            space = sent = line_start = false;
            continue;
         }
      }

      if (c < 0x80 && is_alnum(c)) {
         size_t e;
         if ((c == 'h' || c == 'H' || c == 'w' || c == 'W') && !prev_is_letter(s, i)
             && (starts_with_ci(s, n, i, "http://") || starts_with_ci(s, n, i, "https://")
                 || starts_with_ci(s, n, i, "www."))) {
            e = scan_url(s, n, i);
            Toks_push(t, TK_URL, space, i, e - i);
            i = e;
            space = sent = line_start = false;
            continue;
         }
         if ((e = scan_email(s, n, i)) != 0) {
            Toks_push(t, TK_EMAIL, space, i, e);
            i += e;
            space = sent = line_start = false;
            continue;
         }
      }

      if ((c < 0x80 && is_alnum(c)) || (c >= 0x80 && uc == U_NONE)) {
         size_t j = i;
         bool digit = false, alpha = false, lower = false;
         while (j < n) {
            unsigned char d = (unsigned char)s[j];
            if (d < 0x80 && is_alnum(d)) {
               digit |= is_digit(d);
               alpha |= is_alpha(d);
               lower |= d >= 'a' && d <= 'z';
               j++;
               continue;
            }
            if (d >= 0x80) {
               size_t l;
               int k = u8_class((const unsigned char *)s + j, n - j, &l);
               if (k == U_NONE) {
                  alpha = lower = true;
                  j += l;
                  continue;
               }
               if (k == U_SQ_CLOSE && j > i && j + l < n && is_alpha((unsigned char)s[j + l])
                   && prev_is_letter(s, j)) {
                  j += l;
                  continue;
               }
               break;
            }
            if (j + 1 < n && ((d == '\'' && is_alpha((unsigned char)s[j + 1]) && prev_is_letter(s, j))
                              || ((d == '-' || d == '_' || d == '.' || d == '/') && letter_at(s, n, j + 1))
                              || ((d == ',' || d == ':') && is_digit((unsigned char)s[j - 1])
                                  && is_digit((unsigned char)s[j + 1])))) {
               j++;
               continue;
            }
            break;
         }
         int kind;
         if (digit)
            kind = alpha ? TK_ID : TK_NUM;
         else if (!sent && c >= 'A' && c <= 'Z' && lower && j - i >= 2
                  && !(c == 'I' && (s[i + 1] == '\'' || (unsigned char)s[i + 1] == 0xe2)))
            kind = TK_CAP;
         else
            kind = TK_WORD;
         Toks_push(t, kind, space, i, j - i);
         i = j;
         space = sent = line_start = false;
         continue;
      }

      /* punctuation */
      Toks_push(t, TK_PUNCT, space, i, ul);
      if ((c < 0x80 && strchr(".!?;", c)) || uc == U_ELLIPSIS)
         sent = true;
      else if (line_start && ((c < 0x80 && strchr("-*>#+", c)) || uc == U_BULLET))
         sent = true;
      i += ul;
      space = false;
   }
}

static bool tok_is(const Toks *t, size_t i, const char *lit) {
   const Tok *k = &t->v[i];
   return k->len == strlen(lit) && memcmp(t->s + k->off, lit, k->len) == 0;
}

static bool tok_word_ci(const Toks *t, size_t i, const char *w) {
   const Tok *k = &t->v[i];
   if (k->kind != TK_WORD && k->kind != TK_CAP)
      return false;
   size_t l = strlen(w);
   return k->len == l && starts_with_ci(t->s + k->off, l, 0, w);
}

static bool tok_in(const Toks *t, size_t i, const char *const *list) {
   for (; *list; list++)
      if (tok_word_ci(t, i, *list))
         return true;
   return false;
}

static bool is_break(const Toks *t, size_t i) {
   return i >= t->n || t->v[i].kind == TK_NL || t->v[i].kind == TK_PARA;
}

/* If a "Label:" (1..LABEL_MAX_WORDS words, after an optional bullet) starts at token i, returns
 * the index of its colon, else SIZE_MAX. */
static size_t label_at(const Toks *t, size_t i) {
   while (i < t->n && t->v[i].kind == TK_PUNCT && !tok_is(t, i, ":"))
      i++;
   size_t k = i, words = 0;
   while (k < t->n && (t->v[k].kind == TK_WORD || t->v[k].kind == TK_CAP) && words < LABEL_MAX_WORDS) {
      k++;
      words++;
   }
   if (words == 0 || k >= t->n || !tok_is(t, k, ":"))
      return SIZE_MAX;
   return k;
}

/* Masks "Key: short value" values and "Label:\n<block>" blocks of a system prompt. */
static void mask_fields(const Toks *in, Toks *out) {
   out->s = in->s;
   out->n = 0;
   size_t i = 0;
   bool line_start = true;
   while (i < in->n) {
      size_t colon;
      if (line_start && (colon = label_at(in, i)) != SIZE_MAX) {
         for (; i <= colon; i++)
            Toks_push(out, in->v[i].kind, in->v[i].space, in->v[i].off, in->v[i].len);
         line_start = false;
         if (!is_break(in, i)) {
            size_t e = i;
            while (!is_break(in, e))
               e++;
            if (e - i <= 16) {
               Toks_push(out, TK_VALUE, in->v[i].space, in->v[i].off, 0);
               i = e;
            }
            continue;
         }
         if (i < in->n && in->v[i].kind == TK_NL) {
            size_t e = i + 1;
            while (e < in->n && in->v[e].kind != TK_PARA
                   && !(in->v[e].kind == TK_NL && label_at(in, e + 1) != SIZE_MAX))
               e++;
            if (e > i + 1) {
               Toks_push(out, TK_BLOCK, true, in->v[i].off, 0);
               i = e;
            }
         }
         continue;
      }
      const Tok *k = &in->v[i];
      Toks_push(out, k->kind, k->space, k->off, k->len);
      line_start = k->kind == TK_NL || k->kind == TK_PARA;
      i++;
   }
}

static const char *const task_verbs[] = {
   "classify", "categorize", "categorise", "label", "tag", "summarize", "summarise", "extract",
   "analyze", "analyse", "rate", "score", "translate", "rewrite", "rephrase", "paraphrase",
   "proofread", "determine", "identify", "detect", "generate", "write", "draft", "compose",
   "evaluate", "assess", "convert", "parse", "normalize", "normalise", "grade", "predict",
   "infer", "assign", "route", "triage", "given", "based", "using", "read", "review", "compare",
   "answer", "respond", "output", "format", "decide", "estimate", "redact", "anonymize",
   "create", "produce", "list", "explain", "describe", "check", "verify", "validate", "suggest",
   "recommend", "find", "map", "match", "sort", "rank", "split", "correct", "fix", "improve",
   "shorten", "expand", "simplify", "outline", "task", "instructions", "instruction", NULL
};

/* Verbs a customer also opens a chat message with; they count only with a task-like object. */
static const char *const weak_verbs[] = {
   "create", "produce", "list", "explain", "describe", "check", "verify", "validate", "suggest",
   "recommend", "find", "map", "match", "sort", "rank", "split", "correct", "fix", "improve",
   "answer", "respond", "read", "review", "compare", "write", "draft", NULL
};

static const char *const task_objects[] = {
   "following", "below", "above", "text", "ticket", "tickets", "message", "messages", "input",
   "review", "reviews", "email", "emails", "document", "conversation", "transcript", "content",
   "article", "passage", "snippet", "json", "data", "report", "summary", "list", "table",
   "question", "response", "reply", "tone", "sentiment", NULL
};

static const char *const input_nouns[] = {
   "ticket", "text", "message", "input", "review", "email", "document", "conversation",
   "transcript", "content", "query", "article", "post", "comment", "feedback", "description",
   "context", "data", "passage", "snippet", "chat", "tweet", "note", "notes", "complaint",
   "body", "subject", "title", "request", "source", "excerpt", NULL
};

static const char *const instruction_labels[] = {
   "task", "instructions", "instruction", "goal", "objective", "role", "system", "prompt", NULL
};

static const char *const persona_starts[][2] = {
   { "you", "are" }, { "you're", NULL }, { "act", "as" }, { "as", "an" }, { "as", "a" },
   { "imagine", "you" }, { "pretend", "you" },
};

static size_t first_word(const Toks *t, size_t a, size_t b) {
   for (size_t i = a; i < b; i++)
      if (t->v[i].kind != TK_PUNCT && t->v[i].kind != TK_NL && t->v[i].kind != TK_PARA)
         return i;
   return SIZE_MAX;
}

static bool starts_persona(const Toks *t) {
   size_t i = first_word(t, 0, t->n);
   if (i == SIZE_MAX)
      return false;
   for (size_t p = 0; p < ARRAY_SIZE(persona_starts); p++) {
      if (!tok_word_ci(t, i, persona_starts[p][0]))
         continue;
      if (!persona_starts[p][1])
         return true;
      if (i + 1 < t->n && tok_word_ci(t, i + 1, persona_starts[p][1]))
         return true;
   }
   return false;
}

/* Does tokens [a, b) read like an instruction (rather than a customer's own words)? */
static bool instruction_like(const Toks *t, size_t a, size_t b) {
   size_t i = first_word(t, a, b);
   if (i == SIZE_MAX)
      return false;
   if (tok_word_ci(t, i, "please") && i + 1 < b)
      i++;
   if (tok_word_ci(t, i, "the") && i + 1 < b && tok_in(t, i + 1, (const char *const[]){ "following", "text", "input", NULL }))
      return true;
   if (tok_in(t, i, (const char *const[]){ "below", "following", NULL }))
      return true;
   if (!tok_in(t, i, task_verbs))
      return false;
   if (!tok_in(t, i, weak_verbs))
      return true;
   for (size_t k = i + 1; k < b && k < i + 8; k++)
      if (tok_in(t, k, task_objects))
         return true;
   return false;
}

/* "one of: billing, refund, shipping." is part of an instruction, not a slot: after a colon, at
 * least three short items (words or quoted words, at most three words each) separated by
 * commas and ended by a period or a line break. Returns the index of that end, or SIZE_MAX. */
static size_t enumeration_end(const Toks *t, size_t i) {
   size_t items = 0, words = 0;
   for (; i < t->n; i++) {
      const Tok *k = &t->v[i];
      if (k->kind == TK_WORD || k->kind == TK_CAP || k->kind == TK_QUOTE) {
         if (++words > 3)
            return SIZE_MAX;
      } else if (k->kind == TK_PUNCT && (tok_is(t, i, ",") || tok_is(t, i, "/") || tok_is(t, i, "|"))) {
         if (!words)
            return SIZE_MAX;
         items++;
         words = 0;
      } else if (k->kind == TK_NL || k->kind == TK_PARA || (k->kind == TK_PUNCT && tok_is(t, i, "."))) {
         return words && items + 1 >= 3 ? i : SIZE_MAX;
      } else {
         return SIZE_MAX;
      }
   }
   return SIZE_MAX; /* running into the end of the text means it was the input */
}

enum { CUT_NONE, CUT_BREAK, CUT_COLON, CUT_LABEL };

/* End (exclusive) of the leading instruction of a user message. */
static size_t find_cut(const Toks *t, int *kind) {
   bool persona = starts_persona(t), skipped = false;
   size_t colon = label_at(t, 0), from = 0;
   *kind = CUT_NONE;
   if (colon != SIZE_MAX) {
      if (tok_in(t, colon - 1, input_nouns)) {
         *kind = CUT_LABEL;
         return colon + 1;
      }
      size_t w = first_word(t, 0, colon);
      if (w != SIZE_MAX && tok_in(t, w, instruction_labels))
         from = colon + 1; /* "Task: ..." introduces the fixed part rather than ending it */
   }
   for (size_t i = from; i < t->n; i++) {
      const Tok *k = &t->v[i];
      if (k->kind == TK_NL || k->kind == TK_PARA) {
         if (persona && !skipped) {
            skipped = true;
            continue;
         }
         *kind = CUT_BREAK;
         return i;
      }
      if (k->kind == TK_PUNCT && tok_is(t, i, ":")) {
         size_t e = enumeration_end(t, i + 1);
         if (e != SIZE_MAX) {
            i = e - 1;
            continue;
         }
         *kind = CUT_COLON;
         return i + 1;
      }
   }
   return t->n;
}

static size_t sentence_end(const Toks *t) {
   size_t words = 0;
   for (size_t i = 0; i < t->n; i++) {
      const Tok *k = &t->v[i];
      if (k->kind == TK_PUNCT && k->len == 1 && strchr(".?!", t->s[k->off]))
         return i + 1;
      if (k->kind != TK_PUNCT && ++words >= SENTENCE_MAX_WORDS)
         return i + 1;
   }
   return t->n;
}

static const char *const name_joiners[] = {
   "of", "and", "&", "de", "van", "von", "der", "den", "du", "la", "le", "da", "di", "del", "y",
   NULL
};

static const char *mask_canon(int kind) {
   switch (kind) {
   case TK_NUM:
   case TK_ID:
      return "<n>";
   case TK_CAP:
      return "<N>";
   case TK_EMAIL:
      return "<email>";
   case TK_URL:
      return "<url>";
   case TK_QUOTE:
      return "<q>";
   case TK_VALUE:
      return "<v>";
   case TK_BLOCK:
      return "<block>";
   }
   return NULL;
}

static const char *mask_skel(int kind) {
   switch (kind) {
   case TK_NUM:
      return "<n>";
   case TK_ID:
      return "<id>";
   case TK_CAP:
      return "<name>";
   case TK_EMAIL:
      return "<email>";
   case TK_URL:
      return "<url>";
   case TK_QUOTE:
      return "\"...\"";
   case TK_VALUE:
      return "<value>";
   case TK_BLOCK:
      return "<block>";
   }
   return NULL;
}

/* Appends the canonical form of tokens [a, b) (lowercase words and masks, one space apart) to
 * canon and the readable form to skel (may be NULL). Returns the number of words written. */
static size_t render(const Toks *t, size_t a, size_t b, size_t max_words, Sbuf *canon, Sbuf *skel) {
   const char *last = NULL;     /* last canonical mask, for collapsing runs */
   const char *last_sk = NULL;  /* same for the skeleton, adjacent masks only */
   bool pending = false;        /* a line break to show as a space */
   size_t words = 0;
   for (size_t i = a; i < b && words < max_words; i++) {
      const Tok *k = &t->v[i];
      const char *m = mask_canon(k->kind);
      if (k->kind == TK_WORD && last && strcmp(last, "<N>") == 0 && tok_in(t, i, name_joiners)) {
         size_t j = i + 1;
         while (j < b && t->v[j].kind == TK_PUNCT)
            j++;
         if (j < b && t->v[j].kind == TK_CAP)
            continue; /* "Bank of Oslo" is one name */
      }
      if (skel) {
         if (k->kind == TK_NL || k->kind == TK_PARA) {
            pending = true;
         } else {
            const char *ms = mask_skel(k->kind);
            if (!(ms && ms == last_sk)) {
               if (skel->len && (k->space || pending))
                  Sbuf_putc(skel, ' ');
               if (ms)
                  Sbuf_puts(skel, ms);
               else
                  Sbuf_add(skel, t->s + k->off, k->len);
            }
            last_sk = ms;
            pending = false;
         }
      }
      if (k->kind == TK_PUNCT || k->kind == TK_NL || k->kind == TK_PARA)
         continue;
      if (m) {
         if (last == m)
            continue;
         last = m;
         if (canon->len)
            Sbuf_putc(canon, ' ');
         Sbuf_puts(canon, m);
      } else {
         last = NULL;
         if (canon->len)
            Sbuf_putc(canon, ' ');
         for (size_t c = 0; c < k->len; c++) {
            char ch = t->s[k->off + c];
            Sbuf_putc(canon, (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch);
         }
      }
      words++;
   }
   return words;
}

/* Shortens a skeleton part to about max bytes on a UTF-8 boundary, marking the cut. */
static void clip(Sbuf *sb, size_t max) {
   if (sb->len <= max)
      return;
   size_t n = max;
   while (n > 0 && ((unsigned char)sb->buf[n] & 0xc0) == 0x80)
      n--;
   sb->len = n;
   sb->buf[n] = '\0';
   Sbuf_puts(sb, "...");
}

/* The system prompt's canonical text into cs; false when it has no words. */
static bool sys_render(const char *sys, size_t sys_len, Toks *raw, Toks *masked, Sbuf *cs, Sbuf *sks) {
   tokenize(raw, sys, sys_len < SYS_SCAN_MAX ? sys_len : SYS_SCAN_MAX);
   mask_fields(raw, masked);
   return render(masked, 0, masked->n, SYS_MAX_WORDS, cs, sks) > 0;
}

/* The system prompts seen last and their canonical texts: every call of a touchpoint sends
 * the same system prompt, and tokenizing it is most of a fingerprint's work. Keyed by the
 * text itself (compared whole), so a hit gives exactly what rendering would. */
#define MEMO_SLOTS 32
#define MEMO_TEXT_MAX 4096
typedef struct {
   char *text, *canon;
   size_t len, canon_len;
   uint64_t hash;
   bool has;
} MemoSlot;

struct FingerprintMemo {
   MemoSlot slot[MEMO_SLOTS];
   unsigned next;
   long hits, misses;
};

FingerprintMemo *Fingerprint_memo_new(void) {
   return xcalloc(1, sizeof(FingerprintMemo));
}

void Fingerprint_memo_free(FingerprintMemo *m) {
   if (!m)
      return;
   for (int i = 0; i < MEMO_SLOTS; i++) {
      free(m->slot[i].text);
      free(m->slot[i].canon);
   }
   free(m);
}

void Fingerprint_memo_counts(const FingerprintMemo *m, long *hits, long *misses) {
   *hits = m->hits;
   *misses = m->misses;
}

static bool sys_canon(FingerprintMemo *memo, const char *sys, size_t sys_len, Toks *raw, Toks *masked, Sbuf *cs) {
   if (!memo || sys_len > MEMO_TEXT_MAX)
      return sys_render(sys, sys_len, raw, masked, cs, NULL);
   uint64_t h = hash64(sys, sys_len);
   for (int i = 0; i < MEMO_SLOTS; i++) {
      MemoSlot *e = &memo->slot[i];
      if (e->text && e->hash == h && e->len == sys_len && memcmp(e->text, sys, sys_len) == 0) {
         memo->hits++;
         Sbuf_add(cs, e->canon, e->canon_len);
         return e->has;
      }
   }
   memo->misses++;
   bool has = sys_render(sys, sys_len, raw, masked, cs, NULL);
   MemoSlot *e = &memo->slot[memo->next++ % MEMO_SLOTS];
   free(e->text);
   free(e->canon);
   e->text = xmalloc(sys_len);
   memcpy(e->text, sys, sys_len);
   e->len = sys_len;
   e->hash = h;
   e->canon = xmalloc(cs->len + 1);
   memcpy(e->canon, cs->buf ? cs->buf : "", cs->len);
   e->canon[cs->len] = '\0';
   e->canon_len = cs->len;
   e->has = has;
   return has;
}

static void fingerprint(FingerprintMemo *memo, const char *sys, size_t sys_len, const char *user, size_t user_len,
                        bool has_user, char out[FINGERPRINT_LEN + 1], char **skeleton) {
   Toks raw = { 0 }, masked = { 0 };
   Sbuf canon = { 0 }, sk_sys = { 0 }, sk_user = { 0 };
   Sbuf *sks = skeleton ? &sk_sys : NULL, *sku = skeleton ? &sk_user : NULL;
   bool has_sys = false;

   Sbuf_puts(&canon, "S:");
   if (sys && sys_len) {
      Sbuf cs = { 0 };
      has_sys = sks ? sys_render(sys, sys_len, &raw, &masked, &cs, sks) : sys_canon(memo, sys, sys_len, &raw, &masked, &cs);
      if (has_sys) {
         Sbuf_putc(&canon, ' ');
         Sbuf_add(&canon, cs.buf, cs.len);
      }
      Sbuf_free(&cs);
   }

   Sbuf_puts(&canon, "\nU:");
   if (has_user) {
      tokenize(&raw, user, user_len < USER_SCAN_MAX ? user_len : USER_SCAN_MAX);
      int kind;
      size_t cut = find_cut(&raw, &kind);
      bool accept;
      if (kind == CUT_NONE) {
         cut = has_sys && !instruction_like(&raw, 0, raw.n) ? 0 : sentence_end(&raw);
         accept = cut > 0;
      } else if (has_sys) {
         /* a leading "Subject:" or "Ticket:" is as likely the input's own as the template's;
            reading it as input keeps one template on one id either way */
         accept = kind != CUT_LABEL && instruction_like(&raw, 0, cut);
      } else {
         accept = true;
      }
      Sbuf cu = { 0 };
      size_t words = accept ? render(&raw, 0, cut, PREFIX_MAX_WORDS, &cu, sku) : 0;
      if (words) {
         Sbuf_putc(&canon, ' ');
         Sbuf_add(&canon, cu.buf, cu.len);
      }
      Sbuf_free(&cu);
      bool tail = !words || cut < raw.n || user_len > USER_SCAN_MAX;
      if (tail) {
         Sbuf_puts(&canon, " <text>");
         if (sku)
            Sbuf_puts(sku, sku->len ? " <text>" : "<text>");
      }
   }

   static const char hexd[] = "0123456789abcdef";
   uint64_t h = hash64(canon.buf, canon.len);
   for (int i = FINGERPRINT_LEN - 1; i >= 0; i--, h >>= 4)
      out[i] = hexd[h & 15];
   out[FINGERPRINT_LEN] = '\0';

   if (skeleton) {
      Sbuf sk = { 0 };
      clip(&sk_sys, 100);
      clip(&sk_user, 160);
      if (sk_sys.len) {
         Sbuf_puts(&sk, "sys: ");
         Sbuf_add(&sk, sk_sys.buf, sk_sys.len);
      }
      if (sk_user.len) {
         if (sk.len)
            Sbuf_puts(&sk, " | ");
         Sbuf_puts(&sk, "user: ");
         Sbuf_add(&sk, sk_user.buf, sk_user.len);
      }
      if (!sk.len)
         Sbuf_puts(&sk, "(empty)");
      *skeleton = Sbuf_steal(&sk);
   }
   Sbuf_free(&canon);
   Sbuf_free(&sk_sys);
   Sbuf_free(&sk_user);
   free(raw.v);
   free(masked.v);
}

void Fingerprint_text(const char *system, const char *user, char out[FINGERPRINT_LEN + 1],
                      char **skeleton) {
   fingerprint(NULL, system, system ? strlen(system) : 0, user, user ? strlen(user) : 0, user && *user,
               out, skeleton);
}

/* The text of a message's content: a string, or the text parts of a content-part array with
 * non-text parts standing in as "<type>". */
static void content_text(json_t *content, Sbuf *sb) {
   if (json_is_string(content)) {
      Sbuf_add(sb, json_string_value(content), json_string_length(content));
      return;
   }
   if (!json_is_array(content))
      return;
   size_t i;
   json_t *part;
   json_array_foreach(content, i, part) {
      const char *type = json_string_value(json_object_get(part, "type"));
      json_t *text = json_object_get(part, "text");
      if (sb->len)
         Sbuf_puts(sb, "\n\n");
      if (json_is_string(text))
         Sbuf_add(sb, json_string_value(text), json_string_length(text));
      else if (json_is_string(part))
         Sbuf_add(sb, json_string_value(part), json_string_length(part));
      else
         Sbuf_printf(sb, "<%s>", type ? type : "part");
   }
}

/* What a message adds: the system prompt gathers system and developer messages, the first
 * user message is the user part. One rule for the tree and the scanned text. */
typedef struct {
   Sbuf sys, user;
   bool has_user, any_text;
} Collect;

static void collect(Collect *k, const char *role, const char *text, size_t n) {
   if (str_eq(role, "system") || str_eq(role, "developer")) {
      size_t before = k->sys.len;
      if (k->sys.len)
         Sbuf_puts(&k->sys, "\n\n");
      if (n)
         Sbuf_add(&k->sys, text, n);
      if (k->sys.len == before + (before ? 2 : 0) && k->sys.buf) {
         k->sys.len = before; /* an empty system message adds nothing */
         k->sys.buf[before] = '\0';
      }
      k->any_text |= k->sys.len > 0;
   } else if (str_eq(role, "user") && !k->has_user) {
      k->has_user = true;
      if (n)
         Sbuf_add(&k->user, text, n);
      k->any_text |= k->user.len > 0;
   }
}

static bool collect_end(Collect *k, FingerprintMemo *memo, char out[FINGERPRINT_LEN + 1], char **skeleton) {
   fingerprint(memo, k->sys.buf, k->sys.len, k->user.buf ? k->user.buf : "", k->user.len, k->has_user && k->user.len, out,
               skeleton);
   Sbuf_free(&k->sys);
   Sbuf_free(&k->user);
   return k->any_text;
}

bool Fingerprint_messages(const json_t *messages, char out[FINGERPRINT_LEN + 1], char **skeleton) {
   /* jansson's getters are not const-correct; nothing here modifies the array */
   json_t *msgs = (json_t *)messages;
   Collect k = { 0 };
   if (json_is_array(msgs)) {
      size_t i;
      json_t *m;
      Sbuf text = { 0 };
      json_array_foreach(msgs, i, m) {
         const char *role = json_string_value(json_object_get(m, "role"));
         if (!role)
            continue;
         Sbuf_reset(&text);
         content_text(json_object_get(m, "content"), &text);
         collect(&k, role, text.buf, text.len);
      }
      Sbuf_free(&text);
   }
   return collect_end(&k, NULL, out, skeleton);
}

/* The capture writer's path: the same id from the JSON text of the messages array, read with
 * the scanner (no tree: building one cost the writer a quarter of its time per record). */
int Fingerprint_messages_text(const char *val, size_t len, FingerprintMemo *memo, char out[FINGERPRINT_LEN + 1]) {
   enum { MSGS_MAX = 64 };
   JsonMember el[MSGS_MAX];
   int n = Jsonscan_elements(val, len, el, MSGS_MAX);
   if (n < 0 || n > MSGS_MAX)
      return -1;
   Collect k = { 0 };
   int r = 0;
   for (int i = 0; i < n && r == 0; i++) {
      if (el[i].val[0] != '{')
         continue;   /* not an object: no role */
      JsonMember m[JSONSCAN_MEMBERS];
      int nm = Jsonscan_members(el[i].val, el[i].vallen, m, JSONSCAN_MEMBERS);
      if (nm < 0) {
         r = -1;
         break;
      }
      const JsonMember *rm = Jsonscan_find(m, nm, "role"), *cm = Jsonscan_find(m, nm, "content");
      if (!rm || rm->val[0] != '"')
         continue;
      /* Content parts, or a string the scanner does not decode: the tree's path. */
      if (cm && cm->val[0] == '[') {
         r = -1;
         break;
      }
      char *role = Jsonscan_string(rm->val, rm->vallen);
      char *text = cm && cm->val[0] == '"' ? Jsonscan_string(cm->val, cm->vallen) : NULL;
      if (!role || (cm && cm->val[0] == '"' && !text))
         r = -1;
      else
         collect(&k, role, text, text ? strlen(text) : 0);
      free(role);
      free(text);
   }
   if (r < 0) {
      Sbuf_free(&k.sys);
      Sbuf_free(&k.user);
      return -1;
   }
   return collect_end(&k, memo, out, NULL) ? 1 : 0;
}
