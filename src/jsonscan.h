/* jsonscan.h - validating JSON without building it: lets the importer parse only the
 * members of a record it needs and keep the rest as the original text. */
#ifndef OFFRAMP_JSONSCAN_H
#define OFFRAMP_JSONSCAN_H

#include <stddef.h>

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

#endif
