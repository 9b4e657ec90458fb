/* multipart.c - multipart/form-data bodies: boundaries, part headers, Content-Disposition. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "http/multipart.h"

#define BOUNDARY_MAX 70   /* RFC 2046 */

static const char *skip_ws(const char *s, const char *end) {
   while (s < end && (*s == ' ' || *s == '\t'))
      s++;
   return s;
}

/* One header parameter value at *p: a quoted string (with backslash escapes) or a token up to
 * ';'. Advances *p past it. NULL on an unterminated quote. */
static char *param_value(const char **p, const char *end) {
   const char *s = *p;
   Sbuf v = { 0 };
   Sbuf_puts(&v, "");
   if (s < end && *s == '"') {
      for (s++; s < end && *s != '"'; s++) {
         if (*s == '\\' && s + 1 < end)
            s++;
         Sbuf_putc(&v, *s);
      }
      if (s >= end) {
         Sbuf_free(&v);
         return NULL;
      }
      s++;
   } else {
      const char *start = s;
      while (s < end && *s != ';')
         s++;
      const char *stop = s;
      while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
         stop--;
      Sbuf_add(&v, start, (size_t)(stop - start));
   }
   *p = s;
   return Sbuf_steal(&v);
}

/* Finds parameter `want` in "type; a=1; b="x"" (header value s..end); NULL when absent. */
static char *header_param(const char *s, const char *end, const char *want, bool *bad) {
   *bad = false;
   const char *p = memchr(s, ';', (size_t)(end - s));
   while (p && p < end) {
      p = skip_ws(p + 1, end);
      const char *key = p;
      while (p < end && *p != '=' && *p != ';')
         p++;
      const char *kend = p;
      while (kend > key && (kend[-1] == ' ' || kend[-1] == '\t'))
         kend--;
      if (p >= end || *p == ';')
         continue;
      p = skip_ws(p + 1, end);
      char *val = param_value(&p, end);
      if (!val) {
         *bad = true;
         return NULL;
      }
      if ((size_t)(kend - key) == strlen(want) && strncasecmp(key, want, strlen(want)) == 0)
         return val;
      free(val);
      p = memchr(p, ';', (size_t)(end - p));
   }
   return NULL;
}

char *Multipart_boundary(const char *content_type, char **err) {
   if (!content_type) {
      *err = xstrdup("the request has no Content-Type: send multipart/form-data");
      return NULL;
   }
   const char *end = content_type + strlen(content_type);
   const char *s = skip_ws(content_type, end);
   static const char type[] = "multipart/form-data";
   if (strncasecmp(s, type, sizeof type - 1) != 0 ||
       (s[sizeof type - 1] && s[sizeof type - 1] != ';' && s[sizeof type - 1] != ' ')) {
      *err = xasprintf("Content-Type '%s' is not multipart/form-data", content_type);
      return NULL;
   }
   bool bad;
   char *b = header_param(s, end, "boundary", &bad);
   if (!b || !*b || strlen(b) > BOUNDARY_MAX) {
      *err = xasprintf("Content-Type '%s' has no usable boundary (1-%d characters)", content_type, BOUNDARY_MAX);
      free(b);
      return NULL;
   }
   return b;
}

static void part_clear(MultipartPart *p) {
   free(p->name);
   free(p->filename);
   free(p->content_type);
}

void Multipart_free(Multipart *mp) {
   for (int i = 0; i < mp->n; i++)
      part_clear(&mp->parts[i]);
   free(mp->parts);
   mp->parts = NULL;
   mp->n = 0;
}

/* Parses the header block hs..he (lines separated by CRLF) into part. */
static bool part_headers(const char *hs, const char *he, MultipartPart *part, int index, char **err) {
   bool disposition = false;
   while (hs < he) {
      const char *eol = memmem(hs, (size_t)(he - hs), "\r\n", 2);
      if (!eol)
         eol = he;
      const char *colon = memchr(hs, ':', (size_t)(eol - hs));
      if (!colon) {
         *err = xasprintf("part %d: header line without a colon", index + 1);
         return false;
      }
      const char *v = skip_ws(colon + 1, eol);
      size_t klen = (size_t)(colon - hs);
      if (klen == 19 && strncasecmp(hs, "Content-Disposition", 19) == 0) {
         if (strncasecmp(v, "form-data", 9) != 0) {
            *err = xasprintf("part %d: Content-Disposition is not form-data", index + 1);
            return false;
         }
         bool bad1, bad2;
         free(part->name);
         free(part->filename);
         part->name = header_param(v, eol, "name", &bad1);
         part->filename = header_param(v, eol, "filename", &bad2);
         if (bad1 || bad2) {
            *err = xasprintf("part %d: unterminated quoted string in Content-Disposition", index + 1);
            return false;
         }
         disposition = true;
      } else if (klen == 12 && strncasecmp(hs, "Content-Type", 12) == 0) {
         free(part->content_type);
         part->content_type = xstrndup(v, (size_t)(eol - v));
      }
      hs = eol + 2;
   }
   if (!disposition || !part->name) {
      *err = xasprintf("part %d has no Content-Disposition: form-data; name=...", index + 1);
      return false;
   }
   return true;
}

/* The next delimiter at or after p: CRLF--boundary followed by "--", or by optional padding and
 * CRLF. Text that merely starts like a delimiter is data. */
static const char *find_delimiter(const char *p, const char *end, const char *delim, size_t dlen) {
   for (;;) {
      const char *d = memmem(p, (size_t)(end - p), delim, dlen);
      if (!d)
         return NULL;
      const char *after = d + dlen;
      if (end - after >= 2 && after[0] == '-' && after[1] == '-')
         return d;
      after = skip_ws(after, end);
      if (end - after >= 2 && after[0] == '\r' && after[1] == '\n')
         return d;
      p = d + 1;
   }
}

bool Multipart_parse(const char *body, size_t len, const char *boundary, Multipart *mp, char **err) {
   memset(mp, 0, sizeof *mp);
   const char *end = body + len;
   char *delim = xasprintf("\r\n--%s", boundary);
   size_t dlen = strlen(delim);
   /* The first delimiter may open the body (no preceding CRLF) or follow a preamble. */
   const char *p;
   if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
      p = body + dlen - 2;
   } else {
      p = memmem(body, len, delim, dlen);
      if (!p) {
         *err = xasprintf("the body does not contain the boundary '%s'", boundary);
         free(delim);
         return false;
      }
      p += dlen;
   }
   int cap = 0;
   for (;;) {
      /* After a delimiter: "--" closes the body, otherwise optional padding then CRLF. */
      if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
         free(delim);
         return true;
      }
      p = skip_ws(p, end);
      if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
         *err = xasprintf("part %d: the boundary line is not followed by CRLF (truncated body?)", mp->n + 1);
         break;
      }
      p += 2;
      const char *hend;
      const char *hs = p;
      if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
         hend = p;   /* no headers at all */
         p += 2;
      } else {
         hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
         if (!hend) {
            *err = xasprintf("part %d: the headers never end (truncated body?)", mp->n + 1);
            break;
         }
         p = hend + 4;
      }
      if (mp->n == cap)
         mp->parts = xrealloc(mp->parts, (cap = cap ? cap * 2 : 4) * sizeof *mp->parts);
      MultipartPart *part = &mp->parts[mp->n];
      memset(part, 0, sizeof *part);
      bool ok = part_headers(hs, hend, part, mp->n, err);
      mp->n++;
      if (!ok)
         break;
      const char *next = find_delimiter(p, end, delim, dlen);
      if (!next) {
         *err = xasprintf("part %d ('%s'): the closing boundary is missing (truncated body?)", mp->n, part->name);
         break;
      }
      part->data = p;
      part->len = (size_t)(next - p);
      p = next + dlen;
   }
   free(delim);
   Multipart_free(mp);
   return false;
}

const MultipartPart *Multipart_get(const Multipart *mp, const char *name) {
   for (int i = 0; i < mp->n; i++) {
      if (str_eq(mp->parts[i].name, name))
         return &mp->parts[i];
   }
   return NULL;
}
