/* httpreply.h - the one way offramp's HTTP servers (gateway, trainer, replay server) answer
 * with JSON: replies and OpenAI-shaped errors that cannot fail on bad bytes. Invalid UTF-8 in
 * any text becomes U+FFFD, and a document that cannot be serialised becomes a 500 with a fixed
 * text, so no request can make a reply crash or come out as invalid JSON. */
#ifndef OFFRAMP_HTTPREPLY_H
#define OFFRAMP_HTTPREPLY_H

#include <jansson.h>
#include <stddef.h>

#include "common/util.h"
#include "http/httperror.h"
#include "http/httpfront.h"

/* Sends j (taken: decref'd here) with Content-Type application/json. A NULL j (a failed
 * json_pack) or one json_dumps refuses is answered 500 server_error instead. */
void Reply_json(HttpReq *req, int code, json_t *j);

/* OpenAI's error shape {"error":{"message","type","param","code"}}: client libraries show the
 * message. type NULL picks it from the status (invalid_request_error, authentication_error,
 * permission_error, not_found_error, rate_limit_error, server_error); param and code may be
 * NULL (JSON null). The message is formatted from fmt; its bytes need not be UTF-8. */
void Reply_error(HttpReq *req, int code, const char *type, const char *param, const char *errcode,
                 const char *fmt, ...) ATTR_PRINTF(6, 7);

/* A JSON string of s[0..n) that jansson always accepts (invalid UTF-8 and NUL become U+FFFD);
 * never NULL. For text a client sent (headers, file names, task names) put into a document. */
json_t *Json_text(const char *s, size_t n);
/* The same for a NUL-terminated string; NULL s gives JSON null. */
json_t *Json_textz(const char *s);

/* A NUL-terminated copy of s[0..n) that is valid UTF-8 with no NUL (both become U+FFFD). */
char *Utf8_clean(const char *s, size_t n);

#endif
