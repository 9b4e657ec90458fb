/* fuzz_jsonscan.c - libFuzzer target, differential against jansson both ways: whatever jansson
 * accepts as one JSON value the scanner accepts too, ending where the value ends, and whatever
 * the scanner accepts jansson reads (a text stored because it scanned must read back). Also:
 * Jsonscan_members and Jsonscan_document agree with jansson on objects and documents, a scanned
 * string decodes, and Jsonscan_put_string of any bytes reads back. */
#include "config.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonscan.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *skip_ws(const char *p, const char *e) {
   while (p < e && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
      p++;
   return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
   const char *s = (const char *)data, *e = s + size;
   /* jansson's buffer reader drops a NUL after a number or a word, so with a NUL in the input
    * only the scanner-accepts direction is checked (the scanner refuses every raw NUL). */
   bool nul = memchr(s, '\0', size) != NULL;
   json_t *v = json_loadb(s, size, JSON_DECODE_ANY, NULL);
   const char *end = Jsonscan_value(s, e);
   bool scanned = end && skip_ws(end, e) == e;
   if (scanned && !v)
      abort();   /* the scanner passed a text jansson refuses */
   if (v && !nul && !scanned)
      abort();   /* the scanner refused a text jansson reads */
   json_t *doc = json_loadb(s, size, 0, NULL);
   if (Jsonscan_document(s, size) != (doc != NULL) && !(nul && doc))
      abort();
   json_decref(doc);
   if (json_is_object(v)) {
      JsonMember m[256];
      int n = Jsonscan_members(s, size, m, 256);
      /* -1 only for escaped keys or too many members; duplicate keys collapse in jansson */
      if (n >= 0 && (size_t)n < json_object_size(v))
         abort();
   }
   if (scanned && json_is_string(v)) {
      const char *p = skip_ws(s, e), *q = end;
      char *got = Jsonscan_string(p, (size_t)(q - p));
      if (!got || strlen(got) != json_string_length(v) || strcmp(got, json_string_value(v)) != 0)
         abort();
      free(got);
   }
   json_decref(v);
   /* Any bytes written as a string read back as one. */
   Sbuf b = { 0 };
   Jsonscan_put_string(&b, s, size);
   json_t *w = json_loadb(b.buf, b.len, JSON_DECODE_ANY, NULL);
   const char *wend = Jsonscan_value(b.buf, b.buf + b.len);
   if (!json_is_string(w) || wend != b.buf + b.len)
      abort();
   json_decref(w);
   free(b.buf);
   return 0;
}
