/* chatdata.c - chat JSONL to (text, label) pairs, and the label-set checks. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "trainer/chatdata.h"

/* String content, or the concatenated text parts of array content; NULL otherwise. */
static bool content_text(const json_t *content, Sbuf *out) {
   if (json_is_string(content)) {
      Sbuf_add(out, json_string_value(content), json_string_length(content));
      return true;
   }
   if (!json_is_array(content))
      return false;
   size_t i;
   json_t *part;
   bool any = false;
   json_array_foreach(content, i, part) {
      json_t *text = json_object_get(part, "text");
      if (json_is_string(text)) {
         if (any)
            Sbuf_putc(out, ' ');
         Sbuf_add(out, json_string_value(text), json_string_length(text));
         any = true;
      }
   }
   return any;
}

char *ChatData_text(const json_t *messages) {
   Sbuf sb = { 0 };
   bool any = false;
   size_t i;
   json_t *m;
   json_array_foreach(messages, i, m) {
      if (!str_eq(json_string_value(json_object_get(m, "role")), "user"))
         continue;
      if (any)
         Sbuf_putc(&sb, '\n');
      any |= content_text(json_object_get(m, "content"), &sb);
   }
   if (!any) {
      Sbuf_free(&sb);
      return NULL;
   }
   return Sbuf_steal(&sb);
}

long long ChatData_tokens(const char *s) {
   size_t n = strlen(s);
   return n ? (long long)(n + 3) / 4 : 0;
}

void ChatData_free(ChatData *d) {
   for (size_t i = 0; i < d->n; i++) {
      free(d->texts[i]);
      free(d->labels[i]);
   }
   free(d->texts);
   free(d->labels);
   memset(d, 0, sizeof *d);
}

static const char *role_of(const json_t *m) {
   return json_string_value(json_object_get(m, "role"));
}

/* Checks one example; on success adds it to d. */
static bool parse_line(const char *line, size_t len, size_t lineno, ChatData *d, size_t *cap, char **err) {
   json_error_t je;
   json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
   if (!root) {
      *err = xasprintf("line %zu is not valid JSON (%s at column %d): the file must be JSONL, one example "
                       "object per line", lineno, je.text, je.column);
      return false;
   }
   json_t *msgs = json_object_get(root, "messages");
   const char *shape = "each line must be {\"messages\": [system?, user, assistant]} with string contents";
   bool ok = false;
   size_t n = json_array_size(msgs);
   size_t first = n > 0 && str_eq(role_of(json_array_get(msgs, 0)), "system") ? 1 : 0;
   if (!json_is_object(root) || !json_is_array(msgs)) {
      *err = xasprintf("line %zu has no \"messages\" array: %s", lineno, shape);
   } else if (n != first + 2 || !str_eq(role_of(json_array_get(msgs, first)), "user") ||
              !str_eq(role_of(json_array_get(msgs, first + 1)), "assistant")) {
      Sbuf roles = { 0 };
      for (size_t i = 0; i < n; i++) {
         const char *r = role_of(json_array_get(msgs, i));
         Sbuf_printf(&roles, "%s%s", i ? ", " : "", r ? r : "?");
      }
      *err = xasprintf("line %zu has messages [%s]: %s", lineno, roles.buf ? roles.buf : "", shape);
      Sbuf_free(&roles);
   } else {
      ok = true;
      for (size_t i = 0; i < n && ok; i++) {
         if (!json_is_string(json_object_get(json_array_get(msgs, i), "content"))) {
            *err = xasprintf("line %zu, message %zu (%s): content must be a string: %s", lineno, i + 1,
                             role_of(json_array_get(msgs, i)), shape);
            ok = false;
         }
      }
   }
   if (ok) {
      const char *label = json_string_value(json_object_get(json_array_get(msgs, first + 1), "content"));
      if (!*label) {
         *err = xasprintf("line %zu: the assistant message is empty (it is the label to learn)", lineno);
         ok = false;
      } else {
         if (d->n == *cap) {
            *cap = *cap ? *cap * 2 : 256;
            d->texts = xrealloc(d->texts, *cap * sizeof *d->texts);
            d->labels = xrealloc(d->labels, *cap * sizeof *d->labels);
         }
         d->texts[d->n] = ChatData_text(msgs);
         d->labels[d->n] = xstrdup(label);
         d->n++;
         for (size_t i = 0; i < n; i++)
            d->tokens += ChatData_tokens(json_string_value(json_object_get(json_array_get(msgs, i), "content")));
      }
   }
   json_decref(root);
   return ok;
}

bool ChatData_parse(const char *buf, size_t len, ChatData *d, char **err) {
   memset(d, 0, sizeof *d);
   size_t cap = 0, lineno = 0;
   const char *p = buf, *end = buf + len;
   while (p < end) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      const char *eol = nl ? nl : end;
      lineno++;
      const char *s = p;
      while (s < eol && (*s == ' ' || *s == '\t' || *s == '\r'))
         s++;
      if (s < eol && !parse_line(p, (size_t)(eol - p), lineno, d, &cap, err)) {
         ChatData_free(d);
         return false;
      }
      p = nl ? nl + 1 : end;
   }
   if (d->n == 0) {
      *err = xstrdup("the file has no examples: it is empty or blank (one JSON object per line expected)");
      return false;
   }
   return true;
}

static int cmp_str(const void *a, const void *b) {
   return strcmp(*(char *const *)a, *(char *const *)b);
}

bool ChatData_check_labels(const ChatData *d, char **err) {
   char **sorted = xmalloc(d->n * sizeof *sorted);
   double total = 0;
   for (size_t i = 0; i < d->n; i++) {
      sorted[i] = d->labels[i];
      total += (double)strlen(d->labels[i]);
   }
   qsort(sorted, d->n, sizeof *sorted, cmp_str);
   size_t distinct = 0;
   for (size_t i = 0; i < d->n; i++)
      distinct += i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0;
   free(sorted);
   double avg = total / (double)d->n;
   const char *why = "the built-in trainer learns label tasks (intent, routing, tone); use a generative trainer "
                     "for this task";
   if (avg > CHATDATA_MAX_LABEL_AVG)
      *err = xasprintf("the assistant messages are free text, not labels: %.0f bytes on average (at most %.0f): %s",
                       avg, CHATDATA_MAX_LABEL_AVG, why);
   else if (distinct > CHATDATA_MAX_LABELS)
      *err = xasprintf("the assistant messages are not a label set: %zu distinct outputs (at most %d): %s",
                       distinct, CHATDATA_MAX_LABELS, why);
   else if ((double)distinct > CHATDATA_MAX_DISTINCT_SHARE * (double)d->n)
      *err = xasprintf("the assistant messages are not a label set: %zu distinct outputs in %zu examples "
                       "(at most %.0f %% distinct): %s", distinct, d->n, 100 * CHATDATA_MAX_DISTINCT_SHARE, why);
   else if (distinct < 2)
      *err = xasprintf("every example has the same assistant message ('%s'): a classifier needs at least two labels",
                       d->labels[0]);
   else
      return true;
   return false;
}
