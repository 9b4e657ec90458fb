/* util.c - allocation, strings, diagnostics, clocks and formatting shared by every module. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

const char *progname = "offramp";

static void oom(size_t size) {
   fprintf(stderr, "%s: out of memory (%zu bytes)\n", progname, size);
   abort();
}

void *xmalloc(size_t size) {
   void *p = malloc(size ? size : 1);
   if (!p)
      oom(size);
   return p;
}

void *xcalloc(size_t n, size_t size) {
   void *p = calloc(n ? n : 1, size ? size : 1);
   if (!p)
      oom(n * size);
   return p;
}

void *xrealloc(void *p, size_t size) {
   void *q = realloc(p, size ? size : 1);
   if (!q)
      oom(size);
   return q;
}

char *xstrdup(const char *s) {
   return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n) {
   char *p = xmalloc(n + 1);
   memcpy(p, s, n);
   p[n] = '\0';
   return p;
}

char *xvasprintf(const char *fmt, va_list ap) {
   char *s;
   if (vasprintf(&s, fmt, ap) < 0)
      oom(strlen(fmt));
   return s;
}

char *xasprintf(const char *fmt, ...) {
   va_list ap;
   va_start(ap, fmt);
   char *s = xvasprintf(fmt, ap);
   va_end(ap);
   return s;
}

void warnx_(const char *fmt, ...) {
   va_list ap;
   fprintf(stderr, "%s: ", progname);
   va_start(ap, fmt);
   vfprintf(stderr, fmt, ap);
   va_end(ap);
   fputc('\n', stderr);
}

void die(int status, const char *fmt, ...) {
   va_list ap;
   fprintf(stderr, "%s: ", progname);
   va_start(ap, fmt);
   vfprintf(stderr, fmt, ap);
   va_end(ap);
   fputc('\n', stderr);
   exit(status);
}

void Sbuf_add(Sbuf *sb, const char *s, size_t n) {
   if (sb->len + n + 1 > sb->cap) {
      size_t cap = sb->cap ? sb->cap : 64;
      while (cap < sb->len + n + 1)
         cap *= 2;
      sb->buf = xrealloc(sb->buf, cap);
      sb->cap = cap;
   }
   memcpy(sb->buf + sb->len, s, n);
   sb->len += n;
   sb->buf[sb->len] = '\0';
}

void Sbuf_puts(Sbuf *sb, const char *s) {
   Sbuf_add(sb, s, strlen(s));
}

void Sbuf_putc(Sbuf *sb, char c) {
   Sbuf_add(sb, &c, 1);
}

void Sbuf_printf(Sbuf *sb, const char *fmt, ...) {
   va_list ap;
   va_start(ap, fmt);
   char *s = xvasprintf(fmt, ap);
   va_end(ap);
   Sbuf_puts(sb, s);
   free(s);
}

void Sbuf_reset(Sbuf *sb) {
   sb->len = 0;
   if (sb->buf)
      sb->buf[0] = '\0';
}

char *Sbuf_steal(Sbuf *sb) {
   char *s = sb->buf ? sb->buf : xstrdup("");
   sb->buf = NULL;
   sb->len = sb->cap = 0;
   return s;
}

void Sbuf_free(Sbuf *sb) {
   free(sb->buf);
   sb->buf = NULL;
   sb->len = sb->cap = 0;
}

bool parse_long(const char *s, long *out) {
   char *end;
   if (!s || !*s)
      return false;
   errno = 0;
   long v = strtol(s, &end, 10);
   if (errno || *end)
      return false;
   *out = v;
   return true;
}

bool parse_double(const char *s, double *out) {
   char *end;
   if (!s || !*s)
      return false;
   errno = 0;
   double v = strtod(s, &end);
   if (errno || *end || !isfinite(v))
      return false;
   *out = v;
   return true;
}

char *fmt_count(char *buf, size_t size, long long n) {
   char digits[32];
   int len = snprintf(digits, sizeof digits, "%lld", n < 0 ? -n : n);
   size_t o = 0;
   if (n < 0 && o + 1 < size)
      buf[o++] = '-';
   for (int i = 0; i < len && o + 1 < size; i++) {
      if (i > 0 && (len - i) % 3 == 0 && o + 1 < size)
         buf[o++] = ',';
      if (o + 1 < size)
         buf[o++] = digits[i];
   }
   buf[o] = '\0';
   return buf;
}

char *fmt_money(char *buf, size_t size, double usd, int decimals) {
   if (decimals < 0) {
      double a = fabs(usd);
      decimals = a >= 100 ? 0 : a >= 1 ? 2 : a >= 0.01 ? 3 : 4;
      if (a == 0)
         decimals = 0;
   }
   if (decimals == 0) {
      char c[32];
      fmt_count(c, sizeof c, llround(usd));
      snprintf(buf, size, "%s$%s", c[0] == '-' ? "-" : "", c[0] == '-' ? c + 1 : c);
   } else {
      snprintf(buf, size, "$%.*f", decimals, usd);
   }
   return buf;
}

void now_iso8601(char buf[32]) {
   struct timespec ts;
   struct tm tm;
   clock_gettime(CLOCK_REALTIME, &ts);
   gmtime_r(&ts.tv_sec, &tm);
   size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
   snprintf(buf + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

double now_seconds(void) {
   struct timespec ts;
   clock_gettime(CLOCK_REALTIME, &ts);
   return ts.tv_sec + ts.tv_nsec / 1e9;
}

double mono_seconds(void) {
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool str_eq(const char *a, const char *b) {
   return a && b && strcmp(a, b) == 0;
}

bool str_startswith(const char *s, const char *prefix) {
   return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *str_trim(char *s) {
   char *p = s;
   while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
      p++;
   size_t n = strlen(p);
   while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' || p[n - 1] == '\r'))
      n--;
   memmove(s, p, n);
   s[n] = '\0';
   return s;
}

uint64_t hash64(const void *data, size_t n) {
   const unsigned char *p = data;
   uint64_t h = 0xcbf29ce484222325ULL;
   for (size_t i = 0; i < n; i++) {
      h ^= p[i];
      h *= 0x100000001b3ULL;
   }
   return h;
}

uint64_t hash64_str(const char *s) {
   return hash64(s, strlen(s));
}

char *read_file(const char *path, size_t *len, char **err) {
   FILE *f = fopen(path, "rb");
   if (!f) {
      *err = xasprintf("cannot read %s: %s", path, strerror(errno));
      return NULL;
   }
   Sbuf sb = { 0 };
   char buf[65536];
   size_t k;
   while ((k = fread(buf, 1, sizeof buf, f)) > 0)
      Sbuf_add(&sb, buf, k);
   bool failed = ferror(f);
   fclose(f);
   if (failed) {
      *err = xasprintf("cannot read %s: read error", path);
      Sbuf_free(&sb);
      return NULL;
   }
   if (len)
      *len = sb.len;
   return Sbuf_steal(&sb);
}

uint64_t mix64(uint64_t x) {
   x ^= x >> 30;
   x *= 0xbf58476d1ce4e5b9ULL;
   x ^= x >> 27;
   x *= 0x94d049bb133111ebULL;
   return x ^ (x >> 31);
}

uint64_t splitmix64(uint64_t *state) {
   *state += 0x9e3779b97f4a7c15ULL;
   return mix64(*state);
}

bool mkdir_p(const char *path, unsigned mode) {
   char *p = xstrdup(path);
   for (char *q = p + 1; *q; q++) {
      if (*q != '/')
         continue;
      *q = '\0';
      if (mkdir(p, mode) != 0 && errno != EEXIST) {
         free(p);
         return false;
      }
      *q = '/';
   }
   bool ok = mkdir(p, mode) == 0 || errno == EEXIST;
   free(p);
   return ok;
}

/* fsync of the directory holding path, so a rename in it survives a power loss. */
static bool sync_dir_of(const char *path) {
   const char *slash = strrchr(path, '/');
   char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
   int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
   bool ok = fd >= 0 && fsync(fd) == 0;
   if (fd >= 0)
      close(fd);
   free(dir);
   return ok;
}

bool write_file_atomic(const char *path, const void *data, size_t len, char **err) {
   /* mkostemp: a name no other writer (thread or process) uses, created 0600 with O_EXCL. */
   char *tmp = xasprintf("%s.tmp.XXXXXX", path);
   int fd = mkostemp(tmp, O_CLOEXEC);
   bool ok = fd >= 0;
   const char *p = data;
   for (size_t left = len; ok && left > 0;) {
      ssize_t n = write(fd, p, left);
      if (n < 0 && errno == EINTR)
         continue;
      ok = n > 0;
      p += ok ? n : 0;
      left -= ok ? (size_t)n : 0;
   }
   /* The data must be on disk before the rename makes it the file: after a crash a reader
    * then finds the old file or the whole new one, never an empty one. */
   ok = ok && fsync(fd) == 0;
   int saved = errno;
   if (fd >= 0 && close(fd) != 0 && ok) {
      ok = false;
      saved = errno;
   }
   if (ok && rename(tmp, path) != 0) {
      ok = false;
      saved = errno;
   }
   if (ok && !sync_dir_of(path)) {
      ok = false;
      saved = errno;
   }
   if (!ok) {
      *err = xasprintf("cannot write %s: %s (check the directory's space and permissions)", path, strerror(saved));
      if (fd >= 0)
         unlink(tmp);
   }
   free(tmp);
   return ok;
}

bool token_equal(const char *want, const char *got) {
   size_t n = strlen(want), m = strlen(got);
   unsigned char diff = (unsigned char)(n != m);
   for (size_t i = 0; i < n; i++)
      diff |= (unsigned char)(want[i] ^ (i < m ? got[i] : 0));
   return diff == 0;
}

char *read_token_file(const char *path, char **err) {
   FILE *fp = fopen(path, "r");
   if (!fp) {
      *err = xasprintf("cannot read the token file %s: %s", path, strerror(errno));
      return NULL;
   }
   char buf[512] = "";
   bool got = fgets(buf, sizeof buf, fp) != NULL;
   fclose(fp);
   str_trim(buf);
   if (!got || strlen(buf) < TOKEN_MIN_CHARS) {
      *err = xasprintf("the token in %s is shorter than %d characters (put a long random string in it, e.g. "
                       "'openssl rand -hex 16 > %s')", path, TOKEN_MIN_CHARS, path);
      return NULL;
   }
   return xstrdup(buf);
}

void Sbuf_put_u32(Sbuf *sb, uint32_t v) {
   char c[4] = { (char)v, (char)(v >> 8), (char)(v >> 16), (char)(v >> 24) };
   Sbuf_add(sb, c, 4);
}

void Sbuf_put_u64(Sbuf *sb, uint64_t v) {
   Sbuf_put_u32(sb, (uint32_t)v);
   Sbuf_put_u32(sb, (uint32_t)(v >> 32));
}

void Sbuf_put_f32(Sbuf *sb, float f) {
   uint32_t u;
   memcpy(&u, &f, sizeof u);
   Sbuf_put_u32(sb, u);
}

void Sbuf_put_f64(Sbuf *sb, double d) {
   uint64_t u;
   memcpy(&u, &d, sizeof u);
   Sbuf_put_u64(sb, u);
}

uint32_t Bytes_u32(ByteReader *r) {
   if (r->off > r->n || r->n - r->off < 4) {
      r->bad = true;
      return 0;
   }
   const unsigned char *p = r->p + r->off;
   r->off += 4;
   return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t Bytes_u64(ByteReader *r) {
   uint64_t lo = Bytes_u32(r);
   return lo | (uint64_t)Bytes_u32(r) << 32;
}

float Bytes_f32(ByteReader *r) {
   uint32_t u = Bytes_u32(r);
   float f;
   memcpy(&f, &u, sizeof f);
   return f;
}

double Bytes_f64(ByteReader *r) {
   uint64_t u = Bytes_u64(r);
   double d;
   memcpy(&d, &u, sizeof d);
   return d;
}
