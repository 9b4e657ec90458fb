/* jsonscan.c - a validating JSON skipper (one pass, no allocation) and JSON text writing. */
#include "config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/jsonscan.h"
#include "common/util.h"

/* jansson's JSON_PARSER_MAX_DEPTH: it counts every value, the outermost as 1. */
#define MAX_DEPTH 2048

static const char *ws(const char *p, const char *e) {
   while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
      p++;
   return p;
}

static int hexval(char c) {
   if (c >= '0' && c <= '9')
      return c - '0';
   if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
   if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
   return -1;
}

/* The value of the four hex digits at p, -1 when one is not a hex digit. */
static long hex4(const char *p) {
   long v = 0;
   for (int i = 0; i < 4; i++) {
      int d = hexval(p[i]);
      if (d < 0)
         return -1;
      v = v * 16 + d;
   }
   return v;
}

/* p at the 'u' of a \u escape; the position after it (after both halves of a surrogate pair).
 * NULL for what jansson refuses: \u0000 (a NUL it will not put in a string without
 * JSON_ALLOW_NUL, nor ever in a key) and a surrogate that is not a high one followed by a low
 * one, which no UTF-8 can hold. */
static const char *unicode_escape(const char *p, const char *e) {
   long v = e - p >= 5 ? hex4(p + 1) : -1;
   if (v <= 0 || (v >= 0xDC00 && v <= 0xDFFF))
      return NULL;
   p += 5;
   if (v < 0xD800 || v > 0xDBFF)
      return p;
   long low = e - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
   return low >= 0xDC00 && low <= 0xDFFF ? p + 6 : NULL;
}

/* A UTF-8 sequence starting at p (a byte >= 0x80); its end, NULL when invalid (overlong
 * forms, surrogates and code points past U+10FFFF included). */
static const char *utf8(const char *p, const char *e) {
   const unsigned char *u = (const unsigned char *)p;
   size_t left = (size_t)(e - p);
   if (u[0] >= 0xC2 && u[0] <= 0xDF)
      return left >= 2 && (u[1] & 0xC0) == 0x80 ? p + 2 : NULL;
   if (u[0] >= 0xE0 && u[0] <= 0xEF) {
      if (left < 3 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80)
         return NULL;
      if ((u[0] == 0xE0 && u[1] < 0xA0) || (u[0] == 0xED && u[1] >= 0xA0))
         return NULL;
      return p + 3;
   }
   if (u[0] >= 0xF0 && u[0] <= 0xF4) {
      if (left < 4 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80 || (u[3] & 0xC0) != 0x80)
         return NULL;
      if ((u[0] == 0xF0 && u[1] < 0x90) || (u[0] == 0xF4 && u[1] >= 0x90))
         return NULL;
      return p + 4;
   }
   return NULL;
}

/* The bytes of the 8 in w (little-endian load) that string() must look at: a quote, a
 * backslash, a control character, a byte >= 0x80; their top bits set in the result. Borrows
 * only run upwards, so the lowest set bit is exact: it marks the first such byte. */
static uint64_t special8(uint64_t w) {
   const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
   uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
   return (((q - ones) & ~q) | ((b - ones) & ~b) | (w - ones * 0x20) | w) & high;
}

/* p at the opening quote; the position after the closing one. */
static const char *string(const char *p, const char *e, bool *escaped) {
   p++;
   while (p < e) {
      if (e - p >= 8) {
         /* Plain bytes 8 at a time, to the first one that needs a look. */
         uint64_t w;
         memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
         uint64_t m = special8(w);
         if (!m) {
            p += 8;
            continue;
         }
         p += __builtin_ctzll(m) / 8;
#else
         if (!special8(w)) {
            p += 8;
            continue;
         }
#endif
      }
      unsigned char c = (unsigned char)*p;
      if (c == '"')
         return p + 1;
      if (c < 0x20)
         return NULL;
      if (c == '\\') {
         *escaped = true;
         if (++p >= e)
            return NULL;
         if (*p == 'u') {
            if (!(p = unicode_escape(p, e)))
               return NULL;
         } else if (*p && strchr("\"\\/bfnrt", *p)) {
            p++;
         } else {
            return NULL;
         }
      } else if (c >= 0x80) {
         if (!(p = utf8(p, e)))
            return NULL;
      } else {
         p++;
      }
   }
   return NULL;
}

static const char *digits(const char *p, const char *e) {
   const char *s = p;
   while (p < e && *p >= '0' && *p <= '9')
      p++;
   return p > s ? p : NULL;
}

/* Decimal digits of 2^1024 - 2^970, the least value strtod rounds to infinity: a real at or
 * past it is a "real number overflow" to jansson. */
static const char overflow_digits[] =
   "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207"
   "096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764"
   "475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177"
   "904174497792";

/* Whether the digits of the mantissa i[0..ni) f[0..nf), with the decimal point between them
 * and times 10^exp, reach overflow_digits' value. Decided on the digits: strtod would need a
 * copy (the text is not terminated) and reads a locale's decimal point. */
static bool real_overflows(const char *i, size_t ni, const char *f, size_t nf, long long exp) {
   size_t n = ni + nf, z = 0;
#define DIGIT(k) ((k) < ni ? i[k] : f[(k) - ni])
   while (z < n && DIGIT(z) == '0')
      z++;
   if (z == n)
      return false;   /* zero, whatever the exponent */
   /* The value is 0.d1d2... times 10^mag, d1 the first non-zero digit; the threshold's mag is 309. */
   long long mag = (long long)ni - (long long)z + exp;
   const long long limit = (long long)sizeof overflow_digits - 1;
   if (mag != limit)
      return mag > limit;
   for (size_t k = 0; k < (size_t)limit || z + k < n; k++) {
      char d = z + k < n ? DIGIT(z + k) : '0', t = k < (size_t)limit ? overflow_digits[k] : '0';
      if (d != t)
         return d > t;
   }
#undef DIGIT
   return true;
}

/* A number jansson reads: an integer in json_int_t's range (it says "too big integer"
 * otherwise), a real that does not overflow. p and e bound the number's text, already checked
 * against the grammar. */
static bool number_in_range(const char *p, const char *e) {
   bool neg = *p == '-';
   const char *i = p + neg, *ie = i;
   while (ie < e && *ie >= '0' && *ie <= '9')
      ie++;
   if (ie == e) {
      static const char max[] = "9223372036854775807", min[] = "9223372036854775808";
      size_t n = (size_t)(ie - i);
      return n < sizeof max - 1 || (n == sizeof max - 1 && memcmp(i, neg ? min : max, n) <= 0);
   }
   const char *f = ie, *fe = ie;
   if (*f == '.') {
      fe = ++f;
      while (fe < e && *fe >= '0' && *fe <= '9')
         fe++;
   }
   long long exp = 0;
   if (fe < e) {   /* at the 'e' or 'E' */
      const char *x = fe + 1;
      bool xneg = *x == '-';
      if (*x == '-' || *x == '+')
         x++;
      /* Saturated far past any mantissa's length, so the sum below cannot overflow. */
      for (; x < e && exp < 1000000000000000000LL / 100; x++)
         exp = exp * 10 + (*x - '0');
      if (xneg)
         exp = -exp;
   }
   return !real_overflows(i, (size_t)(ie - i), f, (size_t)(fe - f), exp);
}

static const char *number(const char *p, const char *e) {
   const char *start = p;
   if (p < e && *p == '-')
      p++;
   if (p < e && *p == '0')
      p++;
   else if (!(p = digits(p, e)))
      return NULL;
   if (p < e && *p == '.' && !(p = digits(p + 1, e)))
      return NULL;
   if (p < e && (*p == 'e' || *p == 'E')) {
      p++;
      if (p < e && (*p == '+' || *p == '-'))
         p++;
      if (!(p = digits(p, e)))
         return NULL;
   }
   return number_in_range(start, p) ? p : NULL;
}

static const char *literal(const char *p, const char *e, const char *word) {
   size_t n = strlen(word);
   return (size_t)(e - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* depth: the arrays and objects around p. */
static const char *value(const char *p, const char *e, int depth) {
   p = ws(p, e);
   if (p >= e || depth >= MAX_DEPTH)
      return NULL;
   bool esc = false;
   switch (*p) {
   case '"': return string(p, e, &esc);
   case 't': return literal(p, e, "true");
   case 'f': return literal(p, e, "false");
   case 'n': return literal(p, e, "null");
   case '[':
      p = ws(p + 1, e);
      if (p < e && *p == ']')
         return p + 1;
      for (;;) {
         if (!(p = value(p, e, depth + 1)))
            return NULL;
         p = ws(p, e);
         if (p < e && *p == ']')
            return p + 1;
         if (p >= e || *p != ',')
            return NULL;
         p++;
      }
   case '{':
      p = ws(p + 1, e);
      if (p < e && *p == '}')
         return p + 1;
      for (;;) {
         p = ws(p, e);
         if (p >= e || *p != '"' || !(p = string(p, e, &esc)))
            return NULL;
         p = ws(p, e);
         if (p >= e || *p != ':')
            return NULL;
         if (!(p = value(p + 1, e, depth + 1)))
            return NULL;
         p = ws(p, e);
         if (p < e && *p == '}')
            return p + 1;
         if (p >= e || *p != ',')
            return NULL;
         p++;
      }
   default:
      return number(p, e);
   }
}

const char *Jsonscan_value(const char *p, const char *end) {
   return value(p, end, 0);
}

int Jsonscan_members(const char *s, size_t len, JsonMember *out, int max) {
   const char *e = s + len, *p = ws(s, e);
   if (p >= e || *p != '{')
      return -1;
   p = ws(p + 1, e);
   int n = 0;
   if (p < e && *p == '}') {
      p++;
   } else {
      for (;;) {
         p = ws(p, e);
         bool esc = false;
         const char *k = p;
         if (p >= e || *p != '"' || !(p = string(p, e, &esc)) || esc || n == max)
            return -1;
         out[n].key = k + 1;
         out[n].keylen = (size_t)(p - k - 2);
         p = ws(p, e);
         if (p >= e || *p != ':')
            return -1;
         const char *v = ws(p + 1, e);
         if (!(p = value(v, e, 1)))
            return -1;
         out[n].val = v;
         out[n].vallen = (size_t)(p - v);
         n++;
         p = ws(p, e);
         if (p < e && *p == '}') {
            p++;
            break;
         }
         if (p >= e || *p != ',')
            return -1;
         p++;
      }
   }
   return ws(p, e) == e ? n : -1;
}

bool Jsonscan_document(const char *s, size_t n) {
   const char *e = s + n, *p = ws(s, e);
   if (p >= e || (*p != '{' && *p != '['))
      return false;
   p = value(p, e, 0);
   return p && ws(p, e) == e;
}

const JsonMember *Jsonscan_find(const JsonMember *m, int n, const char *key) {
   size_t kl = strlen(key);
   for (int i = n - 1; i >= 0; i--) {
      if (m[i].keylen == kl && memcmp(m[i].key, key, kl) == 0)
         return &m[i];
   }
   return NULL;
}

const char *Jsonscan_first(const char *val, size_t len, size_t *elen) {
   const char *e = val + len;
   if (len == 0 || *val != '[')
      return NULL;
   const char *p = ws(val + 1, e);
   if (p >= e || *p == ']')
      return NULL;
   const char *end = value(p, e, 1);
   if (!end)
      return NULL;
   *elen = (size_t)(end - p);
   return p;
}

int Jsonscan_elements(const char *val, size_t len, JsonMember *out, int max) {
   const char *e = val + len, *p = ws(val, e);
   if (p >= e || *p != '[')
      return -1;
   p = ws(p + 1, e);
   int n = 0;
   if (p < e && *p == ']')
      return ws(p + 1, e) == e ? 0 : -1;
   for (;;) {
      const char *v = ws(p, e);
      if (!(p = value(v, e, 1)))
         return -1;
      if (n < max) {
         out[n].key = NULL;
         out[n].keylen = 0;
         out[n].val = v;
         out[n].vallen = (size_t)(p - v);
      }
      n++;
      p = ws(p, e);
      if (p < e && *p == ']')
         break;
      if (p >= e || *p != ',')
         return -1;
      p++;
   }
   return ws(p + 1, e) == e ? n : -1;
}

char *Jsonscan_string(const char *val, size_t len) {
   if (len < 2 || val[0] != '"' || val[len - 1] != '"')
      return NULL;
   if (!memchr(val, '\\', len))
      return xstrndup(val + 1, len - 2);
   /* Escapes are rare in the strings looked up this way: the full decoder handles them. */
   json_t *j = json_loadb(val, len, JSON_DECODE_ANY, NULL);
   const char *s = json_string_value(j);
   char *out = s && strlen(s) == json_string_length(j) ? xstrdup(s) : NULL;
   json_decref(j);
   return out;
}

void Jsonscan_put_utf8(Sbuf *sb, const char *s, size_t n) {
   const char *e = s + n, *run = s;
   while (s < e) {
      unsigned char c = (unsigned char)*s;
      const char *next = c >= 0x80 ? utf8(s, e) : c ? s + 1 : NULL;
      if (next) {
         s = next;
         continue;
      }
      Sbuf_add(sb, run, (size_t)(s - run));
      Sbuf_puts(sb, "\xef\xbf\xbd");
      run = ++s;
   }
   Sbuf_add(sb, run, (size_t)(s - run));
}

bool Jsonscan_utf8(const char *s, size_t n) {
   const char *e = s + n;
   while (s < e) {
      if ((unsigned char)*s < 0x80)
         s++;
      else if (!(s = utf8(s, e)))
         return false;
   }
   return true;
}

void Jsonscan_put_string(Sbuf *sb, const char *s, size_t n) {
   static const char hexd[] = "0123456789abcdef";
   const char *e = s + n, *run = s;
   Sbuf_putc(sb, '"');
   while (s < e) {
      unsigned char c = (unsigned char)*s;
      const char *next;
      if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
         s++;
         continue;
      }
      if (c >= 0x80 && (next = utf8(s, e))) {
         s = next;
         continue;
      }
      Sbuf_add(sb, run, (size_t)(s - run));
      char esc[8] = { '\\', (char)c, 0 };
      size_t len = 2;
      if (c >= 0x80 || c == 0) {
         memcpy(esc, "\\ufffd", 6);
         len = 6;
      } else if (c == '\n') {
         esc[1] = 'n';
      } else if (c == '\r') {
         esc[1] = 'r';
      } else if (c == '\t') {
         esc[1] = 't';
      } else if (c < 0x20) {
         memcpy(esc, "\\u00", 4);
         esc[4] = hexd[c >> 4];
         esc[5] = hexd[c & 15];
         len = 6;
      }
      Sbuf_add(sb, esc, len);
      run = ++s;
   }
   Sbuf_add(sb, run, (size_t)(s - run));
   Sbuf_putc(sb, '"');
}

void Jsonscan_put_oneline(Sbuf *sb, const char *s, size_t n) {
   size_t at = sb->len;
   Sbuf_add(sb, s, n);
   for (char *p = sb->buf + at, *e = sb->buf + sb->len; (p = memchr(p, '\n', (size_t)(e - p))); p++)
      *p = ' ';
   for (char *p = sb->buf + at, *e = sb->buf + sb->len; (p = memchr(p, '\r', (size_t)(e - p))); p++)
      *p = ' ';
}
