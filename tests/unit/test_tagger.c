/* test_tagger.c - the extractor: tokens, span alignment, the validation rule, Viterbi and the
 * partition function on hand-built models, learning a tiny set, determinism and the file. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/compare.h"
#include "common/util.h"
#include "tap.h"
#include "trainer/tagger.h"

static char *tok_list(const char *text) {
   TaggerTok *t;
   size_t n = Tagger_tokenize(text, &t);
   Sbuf sb = { 0 };
   for (size_t i = 0; i < n; i++)
      Sbuf_printf(&sb, "%s%.*s", i ? "|" : "", (int)(t[i].end - t[i].start), text + t[i].start);
   free(t);
   return sb.buf ? Sbuf_steal(&sb) : xstrdup("");
}

static bool align(const char *text, const char *value, size_t *first, size_t *ntok) {
   TaggerTok *t;
   size_t n = Tagger_tokenize(text, &t);
   bool ok = Tagger_align(text, t, n, value, first, ntok);
   free(t);
   return ok;
}

static const char *const names[] = { "Alice Martin", "Bob Stone", "Chen Wei", "Dana Fox", "Eve Adams", "Femi Okoro",
                                     "Gus Lund", "Hana Sato" };
static const char *const cities[] = { "Paris", "Lyon", "Oslo", "Rome", "Porto", "Kyoto", "Lima", "Quito" };

int main(void) {
   char *s;
   /* Tokens, by hand. */
   s = tok_list("Invoice INV-2024-001, total $1,200.50 due 2024-01-05.");
   is_str(s, "Invoice|INV-2024-001|,|total|$|1,200.50|due|2024-01-05|.", "ids, amounts and dates stay whole");
   free(s);
   s = tok_list("Mr. Smith <a@b.com> at 10:30, Name:John");
   is_str(s, "Mr|.|Smith|<|a@b.com|>|at|10:30|,|Name|:|John", "':' joins digits only; a final '.' is its own token");
   free(s);
   s = tok_list("  \n ");
   is_str(s, "", "blank text has no tokens");
   free(s);
   s = tok_list("O'Brien's café, 3,5");
   is_str(s, "O'Brien's|café|,|3,5", "apostrophes join, UTF-8 letters are letters");
   free(s);

   /* Span alignment. */
   const char *inv = "Invoice INV-2024-001, total $1,200.50 due 2024-01-05.";
   size_t a = 99, l = 99;
   bool found = align(inv, "1,200.50", &a, &l);
   ok(found && a == 5 && l == 1, "amount is token 5 (got %zu+%zu)", a, l);
   found = align(inv, "total $1,200.50", &a, &l);
   ok(found && a == 3 && l == 3, "a multi-token span: tokens 3..5 (got %zu+%zu)", a, l);
   ok(!align(inv, "due 2024", &a, &l), "a value ending inside a token is not a span");
   ok(!align(inv, "invoice", &a, &l), "case differs: not a span (the extractor copies bytes)");
   ok(!align(inv, "total  $1,200.50", &a, &l), "different spacing: not a span");
   ok(!align(inv, "", &a, &l), "the empty value is not a span");
   ok(align("Smithson met Smith", "Smith", &a, &l) && a == 2, "the whole-token occurrence is found, not the prefix");
   json_t *num = json_integer(1200);
   s = Tagger_value_text(num);
   is_str(s, "1200", "a number is spelled as JSON spells it");
   free(s);
   json_decref(num);
   json_t *tr = json_true();
   ok(Tagger_value_text(tr) == NULL, "booleans are never spans");

   /* Viterbi on a hand-built model: 3 tokens, emissions per (token, tag O/B/I). */
   double trans[4][TAG_N] = { { 0 } };
   double emit[9] = { 1, 0, 5, /* I scores 5 at the start but may not start */
                      0, 2, 0,
                      0, 0, 1.5 };
   int tags[3];
   double sc = Tagger_viterbi(3, emit, trans, tags);
   ok(tags[0] == TAG_O && tags[1] == TAG_B && tags[2] == TAG_I, "O B I wins (%d %d %d)", tags[0], tags[1], tags[2]);
   is_near(sc, 4.5, 1e-12, "its score is 1 + 2 + 1.5");
   trans[TAG_B][TAG_I] = -1;
   sc = Tagger_viterbi(3, emit, trans, tags);
   ok(tags[2] == TAG_I, "B->I at -1 still wins: 3.5 over O B O / O B B at 3");
   is_near(sc, 3.5, 1e-12, "score 3.5");
   trans[TAG_B][TAG_I] = -3;
   emit[6] = 0.5;
   sc = Tagger_viterbi(3, emit, trans, tags);
   ok(tags[0] == TAG_O && tags[1] == TAG_B && tags[2] == TAG_O, "B->I at -3: O B O (3.5) beats O B B (3) and O B I (1.5)");
   is_near(sc, 3.5, 1e-12, "score 3.5");

   /* The partition function, by hand. */
   double z0[4][TAG_N] = { { 0 } };
   double e1[3] = { 0, log(3), 100 };
   is_near(Tagger_logz(1, e1, z0, 1), log(4), 1e-12, "one token: e^0 + e^ln3 = 4 (I may not start)");
   is_near(Tagger_logz(1, e1, z0, 2), log(1 + sqrt(3)), 1e-12, "T = 2: e^0 + e^(ln3/2) = 1 + sqrt 3");
   double e2[6] = { 0 };
   is_near(Tagger_logz(2, e2, z0, 1), log(5), 1e-12, "two tokens, all zero: 5 allowed paths (OO OB BO BB BI)");

   /* The validation rule: > 5 % of the examples giving a field may not be non-spans. */
   const char *texts[40], *answers[40];
   char *own[80];
   int no = 0;
   for (int i = 0; i < 40; i++) {
      own[no] = xasprintf("Order %d for %s shipped to %s today", 1000 + i * 37, names[i % 8], cities[(i * 3) % 8]);
      texts[i] = own[no++];
      /* example 7 has a city that is not in the text (1 of 20 in the first half: 5 %, allowed) */
      own[no] = xasprintf("{\"order\":\"%d\",\"name\":\"%s\",\"city\":%s%s%s,\"note\":null}", 1000 + i * 37, names[i % 8],
                          i % 9 == 4 ? "null" : "\"", i % 9 == 4 ? "" : i == 7 ? "Berlin" : cities[(i * 3) % 8],
                          i % 9 == 4 ? "" : "\"");
      answers[i] = own[no++];
   }
   char *err = NULL;
   /* 20 examples: i % 9 == 4 gives null at 4 and 13, so 18 give a city, 1 of them not a span: 5.6 % > 5 % */
   bool c20 = Tagger_check(texts, answers, 20, &err);
   ok(!c20 && err && strstr(err, "field 'city'") && strstr(err, "1 of 18") && strstr(err, "5.6 %") &&
      strstr(err, "example 8") && strstr(err, "Berlin"), "refused naming the field, the share and the example: %s",
      err ? err : "(accepted)");
   free(err);
   err = NULL;
   ok(Tagger_check(texts, answers, 40, &err), "1 of 36 (2.8 %%) is within the rule: %s", err ? err : "accepted");
   free(err);
   err = NULL;
   const char *bad[2] = { "{\"a\":\"x\"}", "x" };
   const char *btexts[2] = { "x y", "x y" };
   bool refused = !Tagger_check(btexts, bad, 2, &err);
   ok(refused && strstr(err, "example 2") && strstr(err, "not a JSON object"),
      "an answer that is not an object is refused, named: %s", err ? err : "(accepted)");
   free(err);
   err = NULL;
   const char *nested[1] = { "{\"a\":[\"x\"]}" };
   refused = !Tagger_check(btexts, nested, 1, &err);
   ok(refused && strstr(err, "field 'a'") && strstr(err, "100.0 %"),
      "an array value is never a span: %s", err ? err : "(accepted)");
   free(err);
   err = NULL;
   ok(Tagger_is_object("{\"a\":1}") && !Tagger_is_object("billing") && !Tagger_is_object("[1]"),
      "only JSON objects make an extraction dataset");

   /* A tiny set learned perfectly (no held-out set under 20 examples). */
   const char *tt[8], *ta[8];
   char *tiny[16];
   for (int i = 0; i < 8; i++) {
      tiny[2 * i] = xasprintf("Order %d for %s shipped to %s today", 1000 + i * 37, names[i], cities[i]);
      tiny[2 * i + 1] = xasprintf("{\"order\":%d,\"name\":\"%s\",\"city\":\"%s\"}", 1000 + i * 37, names[i], cities[i]);
      tt[i] = tiny[2 * i];
      ta[i] = tiny[2 * i + 1];
   }
   TaggerParams p;
   Tagger_defaults(&p);
   p.buckets_log2 = 14;
   Tagger *m = Tagger_train(tt, ta, 8, &p, NULL, NULL, &err);
   ok(m != NULL, "the tiny set trains: %s", err ? err : "ok");
   is_int(m ? Tagger_nfields(m) : 0, 3, "three fields");
   int right = 0;
   double minlp = 0;
   for (int i = 0; m && i < 8; i++) {
      double lp[3];
      json_t *got = Tagger_extract(m, tt[i], lp);
      json_t *want = json_loads(ta[i], 0, NULL);
      right += json_equal(got, want);
      for (int k = 0; k < 3; k++)
         minlp = lp[k] < minlp ? lp[k] : minlp;
      json_decref(got);
      json_decref(want);
   }
   is_int(right, 8, "every training answer is reproduced, the order id as a JSON integer");
   ok(minlp > log(0.5) && minlp <= 0, "and each field is more likely than not (least %.4f)", minlp);
   if (m) {
      json_t *got = Tagger_extract(m, "nothing to see", NULL);
      ok(json_is_object(got) && json_object_size(got) == 3, "every field is in the answer for any input");
      json_decref(got);
      got = Tagger_extract(m, "", NULL);
      ok(json_is_null(json_object_get(got, "name")), "an empty input gives null fields");
      json_decref(got);
   }

   /* The chat answer: tokens that spell it, and the gateway's confidence is the least sure
    * field's probability. */
   if (m) {
      const char *q = "Order 4242 for Vera Gallo shipped to Kyoto today";
      double lp[3];
      json_t *obj = Tagger_extract(m, q, lp), *lpj = NULL;
      char *ans = Tagger_answer(m, q, &lpj), *want = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
      is_str(ans, want, "the answer is the extracted object, compact, in field order");
      Sbuf spelled = { 0 };
      size_t i;
      json_t *e;
      json_array_foreach(json_object_get(lpj, "content"), i, e)
         Sbuf_puts(&spelled, json_string_value(json_object_get(e, "token")));
      is_str(spelled.buf, ans, "the logprob tokens spell it exactly");
      is_int(json_array_size(json_object_get(lpj, "content")), 7, "3 fixed parts + 3 values + '}'");
      double least = fmin(lp[0], fmin(lp[1], lp[2]));
      json_t *resp = json_pack("{s:[{s:{s:s, s:s}, s:O}]}", "choices", "message", "role", "assistant", "content", ans,
                               "logprobs", lpj);
      is_near(Compare_confidence(resp, COMPARE_JSON), exp(least), 1e-6, "gateway confidence = least field probability");
      Sbuf_free(&spelled);
      json_decref(resp);
      json_decref(lpj);
      json_decref(obj);
      free(ans);
      free(want);
   }

   /* Determinism and the file. */
   char dir[] = "/tmp/test_tagger.XXXXXX";
   ok(mkdtemp(dir) != NULL, "temp dir");
   char *p1 = xasprintf("%s/a.model", dir), *p2 = xasprintf("%s/b.model", dir);
   Tagger *m2 = Tagger_train(tt, ta, 8, &p, NULL, NULL, &err);
   ok(m && m2 && Tagger_save(m, p1, &err) && Tagger_save(m2, p2, &err), "both models saved");
   size_t l1 = 0, l2 = 0;
   char *b1 = read_file(p1, &l1, &err), *b2 = read_file(p2, &l2, &err);
   ok(b1 && b2 && l1 == l2 && memcmp(b1, b2, l1) == 0, "the same data and seed give the same file, byte for byte (%zu)", l1);
   Tagger *back = Tagger_load(p1, &err);
   ok(back != NULL, "the model loads: %s", err ? err : "ok");
   if (back && m) {
      double x[3], y[3];
      json_t *g1 = Tagger_extract(m, "Order 77 for Bob Stone shipped to Lima today", x);
      json_t *g2 = Tagger_extract(back, "Order 77 for Bob Stone shipped to Lima today", y);
      ok(json_equal(g1, g2) && x[0] == y[0] && x[1] == y[1] && x[2] == y[2], "the loaded model answers the same");
      json_decref(g1);
      json_decref(g2);
   }
   Tagger_free(back);
   b1[l1 / 2] ^= 0x40;
   FILE *f = fopen(p1, "wb");
   fwrite(b1, 1, l1, f);
   fclose(f);
   free(err);
   err = NULL;
   back = Tagger_load(p1, &err);
   ok(!back && err && strstr(err, "corrupted"), "a flipped byte is refused: %s", err ? err : "(loaded)");
   free(err);
   err = NULL;
   f = fopen(p1, "wb");
   fwrite(b2, 1, l2 / 2, f);
   fclose(f);
   back = Tagger_load(p1, &err);
   ok(!back && err && strstr(err, "truncated"), "a truncated file is refused: %s", err ? err : "(loaded)");
   free(err);
   unlink(p1);
   unlink(p2);
   rmdir(dir);
   free(b1);
   free(b2);
   free(p1);
   free(p2);
   Tagger_free(m);
   Tagger_free(m2);
   for (int i = 0; i < 16; i++)
      free(tiny[i]);
   for (int i = 0; i < no; i++)
      free(own[i]);
   return tap_done();
}
