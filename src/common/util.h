/* util.h - allocation that aborts on failure, strings, errors and number formatting.
 * Folder rule, src/common/: pure helpers; includes nothing of offramp's outside common/. */
#ifndef OFFRAMP_UTIL_H
#define OFFRAMP_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ATTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define ATTR_NORETURN __attribute__((noreturn))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) ATTR_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) ATTR_PRINTF(1, 0);

/* Program name used as the prefix of every diagnostic ("offramp"). */
extern const char *progname;

/* "offramp: <msg>\n" on stderr. */
void warnx_(const char *fmt, ...) ATTR_PRINTF(1, 2);
/* "offramp: <msg>\n" on stderr, then exit(status). */
void die(int status, const char *fmt, ...) ATTR_PRINTF(2, 3) ATTR_NORETURN;

/* Growable string buffer; buf is always NUL-terminated once anything was added. */
typedef struct {
   char *buf;
   size_t len;
   size_t cap;
} Sbuf;

void Sbuf_add(Sbuf *sb, const char *s, size_t n);
void Sbuf_puts(Sbuf *sb, const char *s);
void Sbuf_putc(Sbuf *sb, char c);
void Sbuf_printf(Sbuf *sb, const char *fmt, ...) ATTR_PRINTF(2, 3);
void Sbuf_reset(Sbuf *sb);
/* Hands the buffer to the caller (never NULL) and resets sb. */
char *Sbuf_steal(Sbuf *sb);
void Sbuf_free(Sbuf *sb);

/* Little-endian fixed-width values, for the model files. */
void Sbuf_put_u32(Sbuf *sb, uint32_t v);
void Sbuf_put_u64(Sbuf *sb, uint64_t v);
void Sbuf_put_f32(Sbuf *sb, float f);
void Sbuf_put_f64(Sbuf *sb, double d);

/* Reads them back from p[off..n); a read past n returns 0 and sets bad. */
typedef struct {
   const unsigned char *p;
   size_t n, off;
   bool bad;
} ByteReader;
uint32_t Bytes_u32(ByteReader *r);
uint64_t Bytes_u64(ByteReader *r);
float Bytes_f32(ByteReader *r);
double Bytes_f64(ByteReader *r);

/* Strict integer/real parsing of a whole string; false on junk, overflow or empty. */
bool parse_long(const char *s, long *out);
bool parse_double(const char *s, double *out);

/* "12,345" into buf (thousands separators); returns buf. */
char *fmt_count(char *buf, size_t size, long long n);
/* "$1,920" / "$0.0080" style money; decimals chosen from magnitude when decimals < 0. */
char *fmt_money(char *buf, size_t size, double usd, int decimals);

/* Current wall time as ISO-8601 UTC with milliseconds: "2026-11-21T10:00:00.123Z". */
void now_iso8601(char buf[32]);
/* Seconds since the epoch, with sub-second precision. */
double now_seconds(void);
/* Monotonic clock in seconds. */
double mono_seconds(void);

bool str_eq(const char *a, const char *b);
bool str_startswith(const char *s, const char *prefix);
/* Trim ASCII whitespace in place; returns s. */
char *str_trim(char *s);

/* 64-bit FNV-1a, for stable hashing (fingerprints, sticky splits, checklist keys). */
uint64_t hash64(const void *data, size_t n);
uint64_t hash64_str(const char *s);
/* splitmix64's finaliser: spreads every input bit over the output (FNV and sums leave the
 * low bits poorly mixed). */
uint64_t mix64(uint64_t x);
/* splitmix64: the next value of a seeded stream (deterministic, for seeded sampling). */
uint64_t splitmix64(uint64_t *state);

/* A whole file, NUL-terminated (len, when not NULL, excludes the NUL); NULL with *err naming
 * the file on failure. */
char *read_file(const char *path, size_t *len, char **err);

/* mkdir -p with the given mode for created directories; false with errno set on failure. */
bool mkdir_p(const char *path, unsigned mode);

/* Writes a temporary file beside path (mode 0600), fsyncs it, renames it over path and fsyncs
 * the directory, so a reader sees the old or the new file, never a partial one, even after a
 * crash. The file is owner-only: the callers store uploads, models and tokens. false with
 * *err naming the file on failure, and no temporary file left. */
bool write_file_atomic(const char *path, const void *data, size_t len, char **err);

/* Bearer tokens: compared in time independent of where they differ, read from the first line
 * of a file (at least TOKEN_MIN_CHARS; NULL with *err naming the file otherwise). */
#define TOKEN_MIN_CHARS 16
bool token_equal(const char *want, const char *got);
char *read_token_file(const char *path, char **err);

#endif
