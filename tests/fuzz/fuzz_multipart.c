/* fuzz_multipart.c - libFuzzer target over the trainer's upload path: the Content-Type's
 * boundary, the multipart body, the fields the upload handler reads, the file record built
 * from the client's filename (it must always serialise) and the chat JSONL check of the file.
 * Input: the Content-Type header value, a newline, then the body. Built and run by
 * bench/fuzz.sh (target "multipart"). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "http/httpreply.h"
#include "http/multipart.h"
#include "trainer/chatdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
   const char *text = (const char *)data, *nl = memchr(text, '\n', size);
   size_t hlen = nl ? (size_t)(nl - text) : 0;
   char *ctype = xstrndup(text, hlen);
   const char *body = nl ? nl + 1 : text;
   size_t blen = size - (size_t)(body - text);
   char *err = NULL;
   char *boundary = Multipart_boundary(ctype, &err);
   free(err);
   err = NULL;
   Multipart mp;
   if (Multipart_parse(body, blen, boundary ? boundary : "XyZ", &mp, &err)) {
      for (int i = 0; i < mp.n; i++) {
         const MultipartPart *p = &mp.parts[i];
         if (!p->name || (p->len && !p->data) || p->data < body || p->data + p->len > body + blen)
            abort();
         json_t *rec = json_pack("{s:o, s:o, s:I}", "filename", Json_textz(p->filename), "content_type",
                                 Json_textz(p->content_type), "bytes", (json_int_t)p->len);
         char *s = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
         if (!s)
            abort();   /* a client's filename must never make the record unwritable */
         free(s);
         json_decref(rec);
      }
      const MultipartPart *file = Multipart_get(&mp, "file");
      ChatData d;
      if (file && ChatData_parse(file->data, file->len, &d, &err))
         ChatData_free(&d);
      Multipart_free(&mp);
   } else if (!err) {
      abort();   /* a refusal always says why */
   }
   free(err);
   free(boundary);
   free(ctype);
   return 0;
}
