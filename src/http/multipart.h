/* multipart.h - a multipart/form-data parser (RFC 7578) for request bodies held in memory. */
#ifndef OFFRAMP_MULTIPART_H
#define OFFRAMP_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

/* One form field. data points into the body given to Multipart_parse (not copied, not
 * NUL-terminated); the strings are owned by the Multipart. filename is NULL for a plain field. */
typedef struct {
   char *name;
   char *filename;
   char *content_type;
   const char *data;
   size_t len;
} MultipartPart;

typedef struct {
   MultipartPart *parts;
   int n;
} Multipart;

/* The boundary parameter of a Content-Type header value ("multipart/form-data; boundary=..."),
 * quoted or not. NULL with *err when the type is not multipart/form-data or lacks a valid
 * boundary (1-70 characters). Caller frees. */
char *Multipart_boundary(const char *content_type, char **err);

/* Splits body into parts. Refuses a body without the opening delimiter, a part without a
 * Content-Disposition: form-data header and a name, or a body that ends before the closing
 * delimiter. On failure nothing is left allocated in mp. */
bool Multipart_parse(const char *body, size_t len, const char *boundary, Multipart *mp, char **err);

/* The first part with this field name, or NULL. */
const MultipartPart *Multipart_get(const Multipart *mp, const char *name);

void Multipart_free(Multipart *mp);

#endif
