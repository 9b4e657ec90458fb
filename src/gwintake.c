/* gwintake.c - a chat completions request read and checked before the gateway calls anyone. */
#include "config.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "gwintake.h"
#include "task.h"
#include "util.h"

static const char *header(struct evhttp_request *req, const char *name) {
   return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

static bool refuse(GwIntake *in, int status, char *why) {
   in->status = status;
   in->why = why;
   return false;
}

bool Gateway_intake(struct evhttp_request *req, Route *const *routes, int n, GwIntake *in) {
   memset(in, 0, sizeof *in);
   if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
      return refuse(in, 405, xstrdup("use POST for /v1/chat/completions"));
   /* evhttp keeps a bare CR in a header's value (only CRLF ends a line): forwarded to the
    * primary, it would end the Authorization line there and start a header of the client's. */
   in->auth = header(req, "Authorization");
   for (const char *p = in->auth; p && *p; p++) {
      unsigned char c = (unsigned char)*p;
      if ((c < 0x20 && c != '\t') || c == 0x7f)
         return refuse(in, 400, xasprintf("Authorization: byte 0x%02x at offset %zu is a control character "
                                          "(send 'Authorization: Bearer KEY')", c, (size_t)(p - in->auth)));
   }
   struct evbuffer *buf = evhttp_request_get_input_buffer(req);
   in->len = evbuffer_get_length(buf);
   in->body = (const char *)evbuffer_pullup(buf, -1);
   if (!in->body)
      in->body = "";
   char *why = NULL;
   if (!Gateway_parse_request(in->body, in->len, &in->rq, &why))
      return refuse(in, 400, why);
   in->route = Route_attribute(routes, n, header(req, "X-Offramp-Task"), in->rq.model, in->body, in->len, &in->task);
   char *terr = NULL;
   if (in->task && !Task_name_valid(in->task, &terr)) {
      char *msg = xasprintf("X-Offramp-Task: %s", terr);
      free(terr);
      GwRequest_clear(&in->rq);
      return refuse(in, 400, msg);
   }
   return true;
}
