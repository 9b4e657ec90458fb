/* httperror.c - OpenAI's error document, written by hand (Jsonscan_put_string) so that any
 * bytes give a valid one. */
#include "config.h"

#include <string.h>

#include "common/jsonscan.h"
#include "http/httperror.h"

const char *Reply_error_type(int code) {
   switch (code) {
   case 401:
      return "authentication_error";
   case 403:
      return "permission_error";
   case 404:
      return "not_found_error";
   case 429:
      return "rate_limit_error";
   default:
      return code >= 500 ? "server_error" : "invalid_request_error";
   }
}

static void put_field(Sbuf *sb, const char *name, const char *val) {
   Sbuf_printf(sb, ",\"%s\":", name);
   if (val)
      Jsonscan_put_string(sb, val, strlen(val));
   else
      Sbuf_puts(sb, "null");
}

void Reply_error_text(Sbuf *sb, int code, const char *type, const char *param, const char *errcode, const char *msg) {
   Sbuf_puts(sb, "{\"error\":{\"message\":");
   Jsonscan_put_string(sb, msg ? msg : "", msg ? strlen(msg) : 0);
   put_field(sb, "type", type ? type : Reply_error_type(code));
   put_field(sb, "param", param);
   put_field(sb, "code", errcode);
   Sbuf_puts(sb, "}}");
}
