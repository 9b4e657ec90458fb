/* test_formatcheck.c - declared answer formats: each check passes what it should, fails what
 * it should with a reason that names the failure, and bad declarations are refused. */
#include "config.h"

#include <stdlib.h>

#include "common/formatcheck.h"
#include "tap.h"

static bool passes(const FormatSpec *f, const char *answer, const char *want_why) {
   char *why = NULL;
   bool ok = FormatSpec_check(f, answer, &why);
   bool match = want_why ? (!ok && why && strstr(why, want_why)) : ok;
   if (!match)
      printf("# %s: got %s (%s)\n", answer, ok ? "pass" : "fail", why ? why : "-");
   free(why);
   return match;
}

int main(void) {
   FormatSpec f;
   char *err = NULL;
   ok(FormatSpec_init(&f, "^Summary: ", NULL, 10, 40, NULL, NULL, &err), "regex and length bounds");
   ok(!FormatSpec_any(&(FormatSpec){ 0 }), "an empty spec declares nothing");
   ok(FormatSpec_any(&f), "this one does");
   ok(passes(&f, "Summary: all good", NULL), "matches and within 10-40 characters");
   ok(passes(&f, "Summary:", "shorter than 10"), "too short named");
   ok(passes(&f, "Summary: a very long answer that goes on and on and on", "longer than 40"), "too long named");
   ok(passes(&f, "Note: all good here", "does not match"), "regex miss named");
   /* Length is in characters: 12 two-byte characters are 12, not 24. */
   FormatSpec_clear(&f);
   ok(FormatSpec_init(&f, NULL, NULL, 0, 12, NULL, NULL, &err), "max length only");
   ok(passes(&f, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL),
      "12 UTF-8 characters fit 12");
   FormatSpec_clear(&f);

   ok(FormatSpec_init(&f, NULL, "Dear ", 0, 0, "[\"refund\",\"billing\"]", NULL, &err), "prefix and labels");
   ok(passes(&f, "Dear refund", "not one of the allowed labels"), "prefix ok, label not");
   FormatSpec_clear(&f);
   ok(FormatSpec_init(&f, NULL, NULL, 0, 0, "[\"refund\",\"billing\"]", NULL, &err), "labels only");
   ok(passes(&f, "  Billing\n", NULL), "labels compare trimmed and case-folded");
   ok(passes(&f, "shipping", "not one of"), "another label fails");
   FormatSpec_clear(&f);
   ok(FormatSpec_init(&f, NULL, "Dear ", 0, 0, NULL, NULL, &err), "prefix only");
   ok(passes(&f, "\nDear Ann, ...", NULL), "leading whitespace before the prefix is ignored");
   ok(passes(&f, "Hi Ann", "does not start with \"Dear \""), "missing prefix named");
   FormatSpec_clear(&f);

   const char *schema = "{\"type\":\"object\",\"required\":[\"name\",\"amount\"],\"additionalProperties\":false,"
                        "\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":5},"
                        "\"amount\":{\"type\":\"number\"},\"currency\":{\"enum\":[\"EUR\",\"USD\"]},"
                        "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}";
   ok(FormatSpec_init(&f, NULL, NULL, 0, 0, NULL, schema, &err), "schema accepted");
   ok(passes(&f, "{\"name\":\"Ann\",\"amount\":12.5,\"currency\":\"EUR\",\"tags\":[\"a\"]}", NULL), "valid object passes");
   ok(passes(&f, "```json\n{\"name\":\"Ann\",\"amount\":3}\n```", NULL), "a fenced object passes");
   ok(passes(&f, "{\"name\":\"Ann\"}", "required field 'amount' is missing"), "missing required field");
   ok(passes(&f, "{\"name\":\"Ann\",\"amount\":\"12\"}", "$.amount: not a number"), "wrong type with its path");
   ok(passes(&f, "{\"name\":\"Annabel\",\"amount\":1}", "$.name: 7 characters"), "maxLength");
   ok(passes(&f, "{\"name\":\"Ann\",\"amount\":1,\"currency\":\"GBP\"}", "$.currency: not one of"), "enum");
   ok(passes(&f, "{\"name\":\"Ann\",\"amount\":1,\"tags\":[1]}", "$.tags[0]: not a string"), "items");
   ok(passes(&f, "{\"name\":\"Ann\",\"amount\":1,\"x\":1}", "$.x: a field the schema does not allow"),
      "additionalProperties false");
   ok(passes(&f, "name: Ann", "not JSON"), "not JSON at all");
   FormatSpec_clear(&f);
   ok(FormatSpec_init(&f, NULL, NULL, 0, 0, NULL, "{\"type\":\"integer\"}", &err), "integer schema");
   ok(passes(&f, "3", NULL) && passes(&f, "3.0", NULL) && passes(&f, "3.5", "not an integer"), "integer: 3 and 3.0, not 3.5");
   FormatSpec_clear(&f);

   /* The result first: the message printed with it must be this call's error. */
   bool refused = !Format_regex_valid("([a-z]", &err);
   ok(refused && strstr(err, "--format-regex '([a-z]'"), "bad regex refused: %s", refused ? err : "-");
   if (refused)
      free(err);
   refused = !Format_schema_valid("{\"type\":\"object\",\"pattern\":\"x\"}", &err);
   ok(refused && strstr(err, "'pattern'"), "unsupported keyword named, not ignored: %s", refused ? err : "-");
   if (refused)
      free(err);
   refused = !Format_schema_valid("{\"properties\":{\"a\":{\"type\":\"text\"}}}", &err);
   ok(refused && strstr(err, "$.properties.a.type"), "bad nested type named with its path: %s", refused ? err : "-");
   if (refused)
      free(err);
   refused = !Format_schema_valid("{\"type\":", &err);
   ok(refused && strstr(err, "not JSON"), "not JSON: %s", refused ? err : "-");
   if (refused)
      free(err);
   char *labels = Format_labels_json(" refund, billing ,,other", &err);
   ok(labels && strcmp(labels, "[\"refund\",\"billing\",\"other\"]") == 0, "labels list: %s", labels);
   free(labels);
   labels = Format_labels_json(" , ", &err);
   ok(!labels, "no label refused");
   if (!labels)
      free(err);
   return tap_done();
}
