/* test_multipart.c - multipart/form-data: boundaries, parts, quoting, truncation. */
#include "config.h"

#include "common/util.h"
#include "http/httpreply.h"
#include "http/multipart.h"
#include "tap.h"

static bool parse(const char *body, const char *boundary, Multipart *mp, char **err) {
   return Multipart_parse(body, strlen(body), boundary, mp, err);
}

int main(void) {
   char *err = NULL;
   char *b = Multipart_boundary("multipart/form-data; boundary=----abc123", &err);
   is_str(b, "----abc123", "plain boundary");
   free(b);
   b = Multipart_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b;c\"", &err);
   is_str(b, "a b;c", "quoted boundary with ';' after another parameter, type case-insensitive");
   free(b);
   b = Multipart_boundary("application/json", &err);
   ok(!b && err && strstr(err, "not multipart/form-data"), "JSON content type refused (%s)", err);
   free(err);
   err = NULL;
   b = Multipart_boundary("multipart/form-data", &err);
   ok(!b && err && strstr(err, "boundary"), "missing boundary refused");
   free(err);
   err = NULL;
   b = Multipart_boundary("multipart/form-data; boundary=" "12345678901234567890123456789012345678901234567890123456789012345678901", &err);
   ok(!b && err, "71-character boundary refused");
   free(err);
   err = NULL;
   ok(!Multipart_boundary(NULL, &err) && err, "no Content-Type refused");
   free(err);
   err = NULL;

   Multipart mp;
   const char *body =
      "preamble to ignore\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"purpose\"\r\n"
      "\r\n"
      "fine-tune\r\n"
      "--XyZ\r\n"
      "content-disposition: form-data; name=\"file\"; filename=\"tr\\\"ain.jsonl\"\r\n"
      "Content-Type: application/jsonl\r\n"
      "\r\n"
      "{\"a\":1}\r\n{\"a\":2}\r\n--XyZ-not-a-delimiter\r\n"
      "--XyZ--\r\n"
      "epilogue";
   ok(parse(body, "XyZ", &mp, &err), "two-part body parses");
   is_int(mp.n, 2, "two parts");
   const MultipartPart *p = Multipart_get(&mp, "purpose");
   ok(p && p->len == 9 && memcmp(p->data, "fine-tune", 9) == 0, "field value without trailing CRLF");
   p = Multipart_get(&mp, "file");
   is_str(p ? p->filename : NULL, "tr\"ain.jsonl", "quoted filename with an escaped quote");
   is_str(p ? p->content_type : NULL, "application/jsonl", "part content type");
   ok(p && p->len == strlen("{\"a\":1}\r\n{\"a\":2}\r\n--XyZ-not-a-delimiter"), "file data keeps inner CRLFs and "
      "boundary-like text that is not a delimiter");
   ok(!Multipart_get(&mp, "nope"), "absent field is NULL");
   Multipart_free(&mp);

   /* Binary data with NUL bytes is kept whole. */
   char bin[] = "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\na\0b\r\n--B--";
   ok(Multipart_parse(bin, sizeof bin - 1, "B", &mp, &err) && mp.n == 1 && mp.parts[0].len == 3, "NUL bytes kept");
   Multipart_free(&mp);

   ok(parse("--B\r\n\r\nvalue\r\n--B--", "B", &mp, &err) == false && strstr(err, "no Content-Disposition"),
      "part without headers refused");
   free(err);
   err = NULL;
   ok(!parse("--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\ntruncated", "B", &mp, &err) &&
      strstr(err, "closing boundary"), "truncated body refused");
   free(err);
   err = NULL;
   ok(!parse("--B\r\nContent-Disposition: form-data; name=\"f\"\r\n", "B", &mp, &err) && strstr(err, "headers never end"),
      "body ending in the headers refused");
   free(err);
   err = NULL;
   ok(!parse("no boundary here", "B", &mp, &err) && strstr(err, "does not contain"), "body without the boundary refused");
   free(err);
   err = NULL;
   ok(!parse("--B\r\nContent-Disposition: attachment; name=\"f\"\r\n\r\nx\r\n--B--", "B", &mp, &err) &&
      strstr(err, "not form-data"), "non form-data disposition refused");
   free(err);
   err = NULL;
   ok(!parse("--B\r\nContent-Disposition: form-data; name=\"f\r\n\r\nx\r\n--B--", "B", &mp, &err) && err,
      "unterminated quote refused");
   free(err);
   err = NULL;
   ok(!parse("--Bjunk", "B", &mp, &err) && err, "delimiter not followed by CRLF refused");
   free(err);
   err = NULL;
   ok(parse("--B--\r\n", "B", &mp, &err) && mp.n == 0, "empty form (closing delimiter only) has no parts");
   Multipart_free(&mp);

   /* A client's filename is bytes, not text: the parser keeps them as sent and the file
    * record the trainer builds from them (Json_textz) is always valid JSON. */
   ok(parse("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bad\xff\xc3.jsonl\"\r\n\r\nx\r\n--B--",
            "B", &mp, &err), "non-UTF-8 filename parses");
   p = Multipart_get(&mp, "file");
   is_str(p ? p->filename : NULL, "bad\xff\xc3.jsonl", "its bytes are kept as sent");
   json_t *rec = json_pack("{s:o}", "filename", Json_textz(p ? p->filename : NULL));
   char *s = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
   is_str(s, "{\"filename\":\"bad\xef\xbf\xbd\xef\xbf\xbd.jsonl\"}", "the record holds U+FFFD for each bad byte");
   free(s);
   json_decref(rec);
   Multipart_free(&mp);
   return tap_done();
}
