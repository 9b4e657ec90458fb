/* jsonscan.h - validating JSON without building it: lets the importer and the capture writer
 * read only the members of a text they need and keep the rest as the original text, and
 * write JSON text the same way. */
#ifndef OFFRAMP_JSONSCAN_H
#define OFFRAMP_JSONSCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

typedef struct {
   const char *key;   /* the key's characters, without quotes (no escapes) */
   size_t keylen;
   const char *val;   /* the member's value as JSON text */
   size_t vallen;
} JsonMember;

/* The end of the JSON value starting at p (leading whitespace allowed), checked against
 * RFC 8259 including UTF-8 in strings; NULL when invalid. Whatever jansson's json_loadb
 * refuses is refused too, so a text stored because it scanned reads back: \u0000, a lone or
 * misordered surrogate escape, an integer outside 64 bits, a real that overflows a double,
 * values nested deeper than 2048 (the outermost counts as 1). */
const char *Jsonscan_value(const char *p, const char *end);

/* The members of the object that is the whole of s[0..len) (whitespace around allowed);
 * -1 when s is not exactly one valid object, has more than max members, or a key uses
 * escapes (callers then fall back to a full parser for its error message). */
int Jsonscan_members(const char *s, size_t len, JsonMember *out, int max);

/* Room for the members of the objects offramp reads this way (requests, chat completions,
 * usage, choices): an object with more goes to the full parser, like one with escaped keys. */
#define JSONSCAN_MEMBERS 64

/* Whether s[0..n) is one JSON object or array (whitespace around allowed), as a parser that
 * takes only those at the top would read it. */
bool Jsonscan_document(const char *s, size_t n);

/* The last member named key (a JSON parser keeps the last of duplicates), or NULL. */
const JsonMember *Jsonscan_find(const JsonMember *m, int n, const char *key);

/* The first element of the array that is val[0..len) (a member's value as found above), as
 * JSON text with its length in *elen; NULL when val is not an array or is empty. */
const char *Jsonscan_first(const char *val, size_t len, size_t *elen);

/* The elements of the array val[0..len) as text ranges (out[i].val, .vallen; keys unset), the
 * first max of them stored; the number of elements, -1 when val is not a valid array. */
int Jsonscan_elements(const char *val, size_t len, JsonMember *out, int max);

/* The string that is val[0..len), decoded into a new NUL-terminated string; NULL when val is
 * not a string or holds a NUL. */
char *Jsonscan_string(const char *val, size_t len);

/* Whether s[0..n) is UTF-8 as RFC 3629 has it (no overlong forms, surrogates or code points
 * past U+10FFFF), as a JSON string must hold it. */
bool Jsonscan_utf8(const char *s, size_t n);

/* s[0..n) at the end of sb as text: valid UTF-8 kept, each byte that is not (and NUL) as U+FFFD,
 * byte for byte as Jsonscan_put_string replaces them. */
void Jsonscan_put_utf8(Sbuf *sb, const char *s, size_t n);

/* s[0..n) as a JSON string (quotes included) at the end of sb. Invalid UTF-8 and NUL become
 * U+FFFD, so the text stays valid, and readable by jansson, whatever the bytes. */
void Jsonscan_put_string(Sbuf *sb, const char *s, size_t n);

/* The valid JSON text s[0..n) at the end of sb on one line: a raw '\n' or '\r' can only be
 * whitespace between tokens there, and becomes a space. */
void Jsonscan_put_oneline(Sbuf *sb, const char *s, size_t n);

#endif
