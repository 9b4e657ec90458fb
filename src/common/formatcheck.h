/* formatcheck.h - the format a task declares for its answers, checked per answer: a POSIX
 * extended regex, a JSON Schema subset (type, required, properties, items,
 * additionalProperties, enum, minLength, maxLength), length bounds in characters, a required
 * prefix, and a set of allowed labels. Pure functions, no I/O. */
#ifndef OFFRAMP_FORMATCHECK_H
#define OFFRAMP_FORMATCHECK_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>

typedef struct FormatSpec {
   char *regex;            /* as declared, or NULL */
   regex_t re;
   char *starts_with;      /* or NULL */
   long min_length, max_length;   /* characters; 0: no bound */
   json_t *labels;         /* array of allowed answers (compared trimmed, case-folded), or NULL */
   json_t *schema;         /* or NULL */
} FormatSpec;

/* Each argument may be NULL or "" (no such check). labels is a JSON array of strings, schema
 * a JSON Schema object (both as stored by the task). false with *err naming the bad part. */
bool FormatSpec_init(FormatSpec *f, const char *regex, const char *starts_with, long min_length, long max_length,
                     const char *labels, const char *schema, char **err);
void FormatSpec_clear(FormatSpec *f);
/* Whether any check is declared. */
bool FormatSpec_any(const FormatSpec *f);

/* Whether answer passes every declared check; when not, *why (may be NULL) gets the first
 * failure, e.g. "longer than 400 characters (512)" or "$.amount: not a number". */
bool FormatSpec_check(const FormatSpec *f, const char *answer, char **why);

/* Validation of declared values, for the task's options. */
bool Format_regex_valid(const char *regex, char **err);
/* schema as JSON text; only the subset's keywords are accepted (an unknown one is an error,
 * never silently ignored). */
bool Format_schema_valid(const char *schema, char **err);
/* Comma-separated labels into a JSON array text (caller frees); NULL with *err when empty. */
char *Format_labels_json(const char *list, char **err);

/* Characters (code points) of UTF-8 text. */
long Format_chars(const char *s);

#endif
