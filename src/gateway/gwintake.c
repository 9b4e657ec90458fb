/* gwintake.c - a chat completions request read and checked before the gateway calls anyone. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/jsonscan.h"
#include "common/taskname.h"
#include "common/util.h"
#include "gateway/gwintake.h"

static const char *header(HttpReq *req, const char *name) {
   return HttpReq_header(req, name);
}

static bool refuse(GwIntake *in, int status, char *why) {
   in->status = status;
   in->why = why;
   return false;
}

bool Gateway_intake(HttpReq *req, Route *const *routes, int n, GwIntake *in) {
   memset(in, 0, sizeof *in);
   if (HttpReq_method(req) != HTTP_POST)
      return refuse(in, 405, xstrdup("use POST for /v1/chat/completions"));
   /* The front end refuses control bytes in header values; this holds whoever parsed them: a
    * bare CR forwarded to the primary would end the Authorization line there and start a
    * header of the client's. */
   in->auth = header(req, "Authorization");
   for (const char *p = in->auth; p && *p; p++) {
      unsigned char c = (unsigned char)*p;
      if ((c < 0x20 && c != '\t') || c == 0x7f)
         return refuse(in, 400, xasprintf("Authorization: byte 0x%02x at offset %zu is a control character "
                                          "(send 'Authorization: Bearer KEY')", c, (size_t)(p - in->auth)));
   }
   in->body = HttpReq_body(req, &in->len);
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

void GwRequest_clear(GwRequest *r) {
   free(r->model);
   free(r->user);
   memset(r, 0, sizeof *r);
}

static const char *request_invalid(bool object, bool messages, bool stream) {
   if (!object)
      return "the request body must be a JSON object";
   if (!messages)
      return "'messages' must be a non-empty array of chat messages";
   if (!stream)
      return "'stream' must be true or false";
   return NULL;
}

/* The parser's reading, for bodies the scanner declines: its error messages say where JSON
 * went wrong. */
static bool parse_request_slow(const char *body, size_t len, GwRequest *out, char **why) {
   json_error_t je;
   json_t *j = json_loadb(body, len, 0, &je);
   if (!j) {
      *why = xasprintf("the request body is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
      return false;
   }
   json_t *messages = json_object_get(j, "messages"), *stream = json_object_get(j, "stream");
   const char *bad = request_invalid(json_is_object(j), json_is_array(messages) && json_array_size(messages) > 0,
                                     !stream || json_is_boolean(stream) || json_is_null(stream));
   if (bad) {
      *why = xstrdup(bad);
   } else {
      const char *model = json_string_value(json_object_get(j, "model"));
      const char *user = json_string_value(json_object_get(j, "user"));
      out->model = model ? xstrdup(model) : NULL;
      out->user = user ? xstrdup(user) : NULL;
      out->stream = json_is_true(stream);
      out->logprobs = json_object_get(j, "logprobs") != NULL;
      out->parsed = true;
   }
   json_decref(j);
   return !bad;
}

static bool is_word(const JsonMember *m, const char *word) {
   return m->vallen == strlen(word) && memcmp(m->val, word, m->vallen) == 0;
}

bool Gateway_parse_request(const char *body, size_t len, GwRequest *out, char **why) {
   memset(out, 0, sizeof *out);
   JsonMember m[JSONSCAN_MEMBERS];
   int n = Jsonscan_members(body, len, m, JSONSCAN_MEMBERS);
   if (n < 0)
      return parse_request_slow(body, len, out, why);
   const JsonMember *messages = Jsonscan_find(m, n, "messages"), *stream = Jsonscan_find(m, n, "stream");
   const JsonMember *model = Jsonscan_find(m, n, "model"), *user = Jsonscan_find(m, n, "user");
   size_t first;
   const char *bad = request_invalid(true, messages && Jsonscan_first(messages->val, messages->vallen, &first),
                                     !stream || is_word(stream, "true") || is_word(stream, "false") ||
                                        is_word(stream, "null"));
   if (bad) {
      *why = xstrdup(bad);
      return false;
   }
   out->stream = stream && is_word(stream, "true");
   out->logprobs = Jsonscan_find(m, n, "logprobs") != NULL;
   if (model) {
      out->model = Jsonscan_string(model->val, model->vallen);
      out->model_at = (size_t)(model->val - body);
      out->model_len = model->vallen;
   }
   out->messages_at = (size_t)(messages->val - body);
   out->messages_len = messages->vallen;
   if (user)
      out->user = Jsonscan_string(user->val, user->vallen);
   return true;
}
