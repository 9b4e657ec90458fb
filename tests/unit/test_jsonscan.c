/* test_jsonscan.c - the scanner's verdict against jansson's on tricky texts: a text the scanner
 * passes is stored as it is and read back by json_loadb later, so every verdict must agree. */
#include "config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonscan.h"
#include "common/util.h"
#include "control/task.h"
#include "tap.h"

/* As json_loadb with JSON_DECODE_ANY reads a text: one value, whitespace around it. */
static bool scan_any(const char *s, size_t n) {
   const char *end = Jsonscan_value(s, s + n);
   if (!end)
      return false;
   while (end < s + n && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
      end++;
   return end == s + n;
}

static void agree(const char *s, size_t n, const char *name) {
   json_error_t je;
   json_t *any = json_loadb(s, n, JSON_DECODE_ANY, &je);
   bool scanned = scan_any(s, n);
   ok(scanned == (any != NULL), "%s: scanner %s, jansson %s%s", name, scanned ? "accepts" : "refuses",
      any ? "accepts" : "refuses: ", any ? "" : je.text);
   json_decref(any);
   json_t *doc = json_loadb(s, n, 0, NULL);
   bool document = Jsonscan_document(s, n);
   ok(document == (doc != NULL), "%s as a document: scanner %s, jansson %s", name, document ? "accepts" : "refuses",
      doc ? "accepts" : "refuses");
   json_decref(doc);
}

/* Each text alone, and as the value of a member and the element of an array, where the
 * scanner reads it in another state. */
static void agree_everywhere(const char *s, size_t n) {
   /* The text for the test's name: its first 60 bytes, the unprintable ones as '?'. */
   Sbuf nb = { 0 };
   Sbuf_putc(&nb, '\'');
   for (size_t i = 0; i < n && i < 60; i++)
      Sbuf_putc(&nb, (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i]);
   Sbuf_puts(&nb, n > 60 ? "...'" : "'");
   char *name = Sbuf_steal(&nb);
   agree(s, n, name);
   Sbuf b = { 0 };
   Sbuf_puts(&b, "{\"k\": ");
   Sbuf_add(&b, s, n);
   Sbuf_puts(&b, "}");
   char *in_object = xasprintf("%s in an object", name);
   agree(b.buf, b.len, in_object);
   JsonMember m[4];
   json_t *j = json_loadb(b.buf, b.len, 0, NULL);
   ok((Jsonscan_members(b.buf, b.len, m, 4) == 1) == (j != NULL), "%s: Jsonscan_members agrees", in_object);
   json_decref(j);
   Sbuf_reset(&b);
   Sbuf_puts(&b, "[0,");
   Sbuf_add(&b, s, n);
   Sbuf_puts(&b, "]");
   char *in_array = xasprintf("%s in an array", name);
   agree(b.buf, b.len, in_array);
   free(in_array);
   free(in_object);
   free(b.buf);
   free(name);
}

#define T(lit) agree_everywhere(lit, sizeof lit - 1)

/* depth nested arrays (or objects) around 1. */
static void nesting(int depth, bool objects) {
   Sbuf b = { 0 };
   for (int i = 0; i < depth; i++)
      Sbuf_puts(&b, objects ? "{\"a\":" : "[");
   Sbuf_puts(&b, "1");
   for (int i = 0; i < depth; i++)
      Sbuf_putc(&b, objects ? '}' : ']');
   char *name = xasprintf("%d nested %s", depth, objects ? "objects" : "arrays");
   agree(b.buf, b.len, name);
   free(name);
   free(b.buf);
}

int main(void) {
   /* Escapes: NUL and surrogates are what jansson decodes and refuses. */
   T("\"\\u0000\"");
   T("\"x\\u0000y\"");
   T("{\"\\u0000\":1}");
   T("\"\\u0001\"");
   T("\"\\ud800\"");
   T("\"\\udc00x\"");
   T("\"\\udfff\"");
   T("\"\\ud800\\u0041\"");
   T("\"\\ud800\\ud800\"");
   T("\"\\ud800\\n\"");
   T("\"\\ud800\\\"");
   T("\"\\ud800\\u\"");
   T("\"\\ud800\\udc0\"");
   T("\"\\ud800x\\udc00\"");
   T("\"\\ud800\\udc00\"");
   T("\"\\uDBFF\\uDFFF\"");
   T("\"\\uD83D\\uDE00\"");
   T("\"\\u00e9\\u20AC\"");
   T("\"\\uFFFE\\uFFFF\"");
   T("\"\\u12G4\"");
   T("\"\\x\"");
   T("\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"");
   T("\"\\");
   T("\"abc");
   /* Raw bytes in strings: UTF-8 as RFC 3629 has it, noncharacters allowed. */
   T("\"\xef\xbf\xbe\"");
   T("\"\xef\xbf\xbf\"");
   T("\"\xf4\x8f\xbf\xbf\"");
   T("\"\xc3\xa9\"");
   T("\"\xc0\xaf\"");
   T("\"\xc1\xbf\"");
   T("\"\xe0\x80\xaf\"");
   T("\"\xf0\x80\x80\xaf\"");
   T("\"\xed\xa0\x80\"");
   T("\"\xed\xbf\xbf\"");
   T("\"\xf4\x90\x80\x80\"");
   T("\"\xf5\x80\x80\x80\"");
   T("\"\x80\"");
   T("\"\xc3\"");
   T("\"\xe2\x82\"");
   T("\"\xff\"");
   T("\"a\tb\"");
   T("\"\x7f\"");
   T("\"a\0b\"");
   T("\xef\xbf\xbe");
   /* Numbers: jansson reads integers into 64 bits and refuses reals that overflow. */
   T("0");
   T("-0");
   T("-0.0");
   T("0e999");
   T("01");
   T("-01");
   T("00");
   T("1.");
   T(".5");
   T("-");
   T("+1");
   T("1e");
   T("1e+");
   T("1E+2");
   T("1e01");
   T("1e999");
   T("-1e999");
   T("1E+999");
   T("1e-999");
   T("1e308");
   T("10e308");
   T("0.00001e313");
   T("0.000001e315");
   T("1e0000000000000000000000000000308");
   T("0.0e99999999999999999999999999999");
   T("1e99999999999999999999999999999999");
   T("1e-99999999999999999999999999999999");
   T("1.7976931348623157e308");
   T("1.7976931348623158e308");
   T("-1.7976931348623158e308");
   T("1.797693134862315807937289714053034150799341327100378269361737789804449682927647509466490179775872070963302864166928879109465555478519404026306574886715058206819089020007083836762738548458177115317644757302700698555713669596228429148198608349364752927190741684443655107043427115596995080930428801779041744977920e0");
   T("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792.0");
   T("179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.9999");
   T("-179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792.0");
   T("9223372036854775807");
   T("9223372036854775808");
   T("-9223372036854775808");
   T("-9223372036854775809");
   T("92233720368547758070");
   T("10000000000000000000");
   T("0000000000000000000001");
   /* Structure. */
   T("");
   T("  ");
   T("[]");
   T(" [ ] ");
   T("{}");
   T("[1,]");
   T("[,1]");
   T("{\"a\":1,}");
   T("{\"a\" 1}");
   T("{\"a\":1 \"b\":2}");
   T("{\"a\":1,\"a\":2}");
   T("{1:2}");
   T("[");
   T("]");
   T("\"a\" \"b\"");
   T("{\"a\":1}{}");
   T("true");
   T("tru");
   T("truex");
   T("[true1]");
   T("nul");
   T("null ");
   T("\v1");
   T("\f[]");
   nesting(2047, false);
   nesting(2048, false);
   nesting(2049, false);
   nesting(2048, true);
   nesting(2049, true);
   {
      /* The deepest array jansson takes, empty inside. */
      Sbuf b = { 0 };
      for (int i = 0; i < 2048; i++)
         Sbuf_putc(&b, '[');
      for (int i = 0; i < 2048; i++)
         Sbuf_putc(&b, ']');
      agree(b.buf, b.len, "2048 nested empty arrays");
      free(b.buf);
   }

   /* jansson's buffer reader drops a NUL right after a number or a word (its unget cannot
    * give a NUL back): the scanner refuses those texts, the safe way to differ. */
   static const char *after_nul[] = { "1\0", "[1\0]", "{\"k\":true\0}" };
   static const size_t after_nul_len[] = { 2, 4, 11 };
   for (size_t i = 0; i < ARRAY_SIZE(after_nul); i++)
      ok(!scan_any(after_nul[i], after_nul_len[i]) && !Jsonscan_document(after_nul[i], after_nul_len[i]),
         "a NUL after a value is refused (text %zu)", i);

   /* Found by fuzz_http: the gateway took a task header that is not UTF-8 (X-Offramp-Task:
    * \x97\xc3\xa9che) and made a task of it, which no JSON listing can carry. */
   ok(Jsonscan_utf8("t\xc3\xa9" "che", 6), "UTF-8 is UTF-8");
   ok(!Jsonscan_utf8("\x97\xc3\xa9" "che", 7), "a stray continuation byte is not");
   ok(!Jsonscan_utf8("a\xed\xa0\x80", 4) && !Jsonscan_utf8("\xc0\xaf", 2) && !Jsonscan_utf8("\xc3", 1),
      "nor a surrogate, an overlong form, a cut sequence");
   char *terr = NULL;
   ok(Task_name_valid("t\xc3\xa9" "che", &terr), "a task name in UTF-8 is valid");
   bool valid = Task_name_valid("\x97\xc3\xa9" "che", &terr);
   ok(!valid && terr && strstr(terr, "UTF-8"), "one that is not UTF-8 is not: %s", terr ? terr : "(accepted)");
   free(terr);

   /* What the writer makes of any bytes reads back. */
   static const char bytes[] = "nul \0 ctl \x01\x1f bad \xff\xc0\xaf\xed\xa0\x80 ok \xc3\xa9 \"\\";
   Sbuf b = { 0 };
   Jsonscan_put_string(&b, bytes, sizeof bytes - 1);
   json_error_t je;
   json_t *j = json_loadb(b.buf, b.len, JSON_DECODE_ANY, &je);
   ok(j != NULL, "Jsonscan_put_string of a NUL, controls and bad UTF-8 reads back (%s)", j ? b.buf : je.text);
   ok(scan_any(b.buf, b.len), "and scans");
   is_str(json_string_value(j), "nul \xef\xbf\xbd ctl \x01\x1f bad \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                "\xef\xbf\xbd\xef\xbf\xbd ok \xc3\xa9 \"\\",
          "NUL and each bad byte became U+FFFD");
   json_decref(j);
   free(b.buf);
   return tap_done();
}
