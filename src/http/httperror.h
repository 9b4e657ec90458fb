/* httperror.h - OpenAI's error document as text, for the front end's own refusals and for
 * httpreply's errors: the layer under both. */
#ifndef OFFRAMP_HTTPERROR_H
#define OFFRAMP_HTTPERROR_H

#include "common/util.h"

/* {"error":{"message","type","param","code"}} appended to sb; type NULL picks it from the status
 * (Reply_error_type), param and code may be NULL (JSON null). msg's bytes need not be UTF-8. */
void Reply_error_text(Sbuf *sb, int code, const char *type, const char *param, const char *errcode, const char *msg);

/* The OpenAI error type for an HTTP status. */
const char *Reply_error_type(int code);

#endif
