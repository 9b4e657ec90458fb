/* fuzz_jsonscan.c - libFuzzer target, differential: whatever jansson accepts as one JSON
 * value the scanner accepts too, ending where the value ends; Jsonscan_members agrees with
 * jansson on objects. */
#include "config.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
   const char *s = (const char *)data;
   if (memchr(s, '\0', size))
      return 0;   /* jansson's buffer reader takes a NUL for the end of input */
   json_t *v = json_loadb(s, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
   const char *end = Jsonscan_value(s, s + size);
   if (v) {
      if (!end)
         abort();
      while (end < s + size && (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r'))
         end++;
      if (end != s + size)
         abort();
      if (json_is_object(v)) {
         JsonMember m[256];
         int n = Jsonscan_members(s, size, m, 256);
         /* -1 only for escaped keys or too many members; duplicate keys collapse in jansson */
         if (n >= 0 && (size_t)n < json_object_size(v))
            abort();
      }
      json_decref(v);
   }
   return 0;
}
