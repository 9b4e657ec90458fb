/* httpreply.c - JSON replies and OpenAI-shaped errors that cannot fail on bad bytes. The error
 * document is written by hand (Jsonscan_put_string), not by json_pack, so there is no NULL to
 * check: every byte sequence gives a valid reply. */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonscan.h"
#include "http/httpreply.h"

static const char unserialisable[] =
   "{\"error\":{\"message\":\"the reply could not be serialised (a server bug; the request may be retried)\","
   "\"type\":\"server_error\",\"param\":null,\"code\":\"internal_error\"}}";

static void send_text(HttpReq *req, int code, const char *s, size_t n) {
   HttpReq_add_header(req, "Content-Type", "application/json");
   HttpReq_reply(req, code, NULL, s, n);
}

void Reply_json(HttpReq *req, int code, json_t *j) {
   char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
   json_decref(j);
   if (!s) {
      send_text(req, 500, unserialisable, sizeof unserialisable - 1);
      return;
   }
   send_text(req, code, s, strlen(s));
   free(s);
}

void Reply_error(HttpReq *req, int code, const char *type, const char *param, const char *errcode,
                 const char *fmt, ...) {
   va_list ap;
   va_start(ap, fmt);
   char *msg = xvasprintf(fmt, ap);
   va_end(ap);
   Sbuf sb = { 0 };
   Reply_error_text(&sb, code, type, param, errcode, msg);
   free(msg);
   send_text(req, code, sb.buf, sb.len);
   Sbuf_free(&sb);
}

char *Utf8_clean(const char *s, size_t n) {
   Sbuf sb = { 0 };
   Jsonscan_put_utf8(&sb, s, n);
   return Sbuf_steal(&sb);
}

json_t *Json_text(const char *s, size_t n) {
   char *c = Utf8_clean(s, n);
   json_t *j = json_string(c);
   free(c);
   return j ? j : json_string("\xef\xbf\xbd");
}

json_t *Json_textz(const char *s) {
   return s ? Json_text(s, strlen(s)) : json_null();
}
