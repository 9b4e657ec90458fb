/* jsonscan.h - validating JSON without building it: lets the importer and the capture writer
 * read only the members of a text they need and keep the rest as the original text, and
 * write JSON text the same way. */
#ifndef OFFRAMP_JSONSCAN_H
#define OFFRAMP_JSONSCAN_H

#include <stddef.h>

#include "util.h"

typedef struct {
   const char *key;   /* the key's characters, without quotes (no escapes) */
   size_t keylen;
   const char *val;   /* the member's value as JSON text */
   size_t vallen;
} JsonMember;

/* The end of the JSON value starting at p (leading whitespace allowed), checked against
 * RFC 8259 including UTF-8 in strings; NULL when invalid or nested deeper than 512. */
const char *Jsonscan_value(const char *p, const char *end);

/* The members of the object that is the whole of s[0..len) (whitespace around allowed);
 * -1 when s is not exactly one valid object, has more than max members, or a key uses
 * escapes (callers then fall back to a full parser for its error message). */
int Jsonscan_members(const char *s, size_t len, JsonMember *out, int max);

/* s[0..n) as a JSON string (quotes included) at the end of sb. Invalid UTF-8 becomes U+FFFD,
 * so the text stays valid whatever the bytes. */
void Jsonscan_put_string(Sbuf *sb, const char *s, size_t n);

/* The valid JSON text s[0..n) at the end of sb on one line: a raw '\n' or '\r' can only be
 * whitespace between tokens there, and becomes a space. */
void Jsonscan_put_oneline(Sbuf *sb, const char *s, size_t n);

#endif
