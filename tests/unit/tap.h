/* tap.h - a tiny TAP producer for unit tests (automake's tap-driver reads it). */
#ifndef OFFRAMP_TAP_H
#define OFFRAMP_TAP_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static void tap_ok_(int pass, const char *file, int line, const char *fmt, ...)
   __attribute__((format(printf, 4, 5)));
#include <stdarg.h>
static void tap_ok_(int pass, const char *file, int line, const char *fmt, ...) {
   va_list ap;
   tap_n++;
   if (!pass)
      tap_failed++;
   printf("%s %d - ", pass ? "ok" : "not ok", tap_n);
   va_start(ap, fmt);
   vprintf(fmt, ap);
   va_end(ap);
   printf("\n");
   if (!pass)
      printf("# failed at %s:%d\n", file, line);
   fflush(stdout);
}

#define is_int(got, want, name) do { \
   long long g_ = (got), w_ = (want); \
   ok(g_ == w_, "%s (got %lld, want %lld)", name, g_, w_); } while (0)
#define is_str(got, want, name) do { \
   const char *g_ = (got), *w_ = (want); \
   ok(g_ && w_ && strcmp(g_, w_) == 0, "%s (got \"%s\", want \"%s\")", name, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); } while (0)
#define is_near(got, want, eps, name) do { \
   double g_ = (got), w_ = (want); \
   ok(fabs(g_ - w_) <= (eps), "%s (got %.6g, want %.6g)", name, g_, w_); } while (0)

/* Prints the plan at the end and returns the exit status. */
static inline int tap_done(void) {
   printf("1..%d\n", tap_n);
   return tap_failed ? 1 : 0;
}

static inline void tap_skip_all(const char *why) {
   printf("1..0 # SKIP %s\n", why);
   exit(0);
}

#endif
