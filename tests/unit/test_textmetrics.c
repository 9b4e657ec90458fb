/* test_textmetrics.c - chrF and ROUGE-L against the values their reference implementations
 * publish in their own tests, and against small cases worked out by hand. */
#include "config.h"

#include "common/textmetrics.h"
#include "tap.h"

static double corpus_chrf(const char *const *hyp, const char *const *ref, int n, double beta, bool keep_ws) {
   ChrfStats s = { 0 };
   for (int i = 0; i < n; i++)
      Chrf_add(&s, hyp[i], ref[i], 6, keep_ws);
   return 100 * Chrf_score(&s, 6, beta);
}

static void published_chrf(void) {
   /* sacreBLEU's test/test_chrf.py (github.com/mjpost/sacrebleu), test_cases_effective_order
    * and test_cases_keep_whitespace: corpus_chrf with char_order=6, word_order=0, beta=3,
    * eps_smoothing=False (sacreBLEU's default scoring), tolerance 1e-4. */
   struct { const char *hyp[2], *ref[2]; int n; double want; } eff[] = {
      { { "a" }, { "a" }, 1, 100.0 },
      { { "" }, { "reference" }, 1, 0.0 },
      { { "a b c" }, { "a b c" }, 1, 100.0 },
      { { "a b c" }, { "abc" }, 1, 100.0 },
      { { "" }, { "c" }, 1, 0.0 },
      { { "a", "b" }, { "a", "c" }, 2, 50.0 },
      { { "aa" }, { "ab" }, 1, 25.0 },
   };
   for (size_t i = 0; i < sizeof eff / sizeof eff[0]; i++)
      is_near(corpus_chrf(eff[i].hyp, eff[i].ref, eff[i].n, 3, false), eff[i].want, 1e-4, "sacreBLEU effective order case");
   const char *h1[] = { "Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich." };
   const char *r1[] = { "Das Verh\xc3\xa4ltnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich." };
   is_near(corpus_chrf(h1, r1, 1, 3, true), 67.3481606, 1e-4, "sacreBLEU keep-whitespace case 1 (UTF-8 counted in code points)");
   const char *h2[] = { "risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ." };
   const char *r2[] = { "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ." };
   is_near(corpus_chrf(h2, r2, 1, 3, true), 65.2414427, 1e-4, "sacreBLEU keep-whitespace case 2");
}

static void hand_chrf(void) {
   /* beta 2 (sacreBLEU's default), worked by hand:
    * "abc" vs "abcd": orders 1-3 have n-grams on both sides, precision 1 at each, recall
    * 3/4, 2/3, 1/2 -> R = 23/36; F2 = 5 P R / (4 P + R) = 115/167. */
   is_near(Textmetrics_chrf("abc", "abcd"), 115.0 / 167.0, 1e-12, "chrF2 abc vs abcd = 115/167");
   /* "aa" vs "ab": order 1 P = R = 1/2, order 2 P = R = 0 -> P = R = 1/4 -> F = 1/4 whatever beta. */
   is_near(Textmetrics_chrf("aa", "ab"), 0.25, 1e-12, "chrF2 aa vs ab = 1/4");
   is_near(Textmetrics_chrf("The cat sat.", "The  cat\n sat."), 1.0, 1e-12, "whitespace is not a character");
   is_near(Textmetrics_chrf("abc", "xyz"), 0.0, 1e-12, "nothing shared scores 0");
   is_near(Textmetrics_chrf("", ""), 0.0, 1e-12, "two empty answers score 0 (no n-grams)");
   /* "abcd" vs "abce": orders 1-4; matches 3/4, 2/3, 1/2, 0/1 on both sides: P = R = (3/4+2/3+1/2)/4 = 23/48. */
   is_near(Textmetrics_chrf("abcd", "abce"), 23.0 / 48.0, 1e-12, "chrF2 abcd vs abce = 23/48");
   /* Repeated n-grams are matched at most as often as the reference has them: "aaa" vs "a":
    * order 1 P = 1/3, R = 1; no other order on both sides -> F2 = 5 (1/3) / (4/3 + 1) = 5/7. */
   is_near(Textmetrics_chrf("aaa", "a"), 5.0 / 7.0, 1e-12, "chrF2 aaa vs a = 5/7 (clipped counts)");
   /* One multi-byte character is one character: "\xc3\xa9" vs "e" share nothing. */
   is_near(Textmetrics_chrf("\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"), 1.0, 1e-12, "UTF-8 text matches itself");
   is_near(Textmetrics_chrf("\xc3\xa9", "e"), 0.0, 1e-12, "é is not e");
   /* A bullet style change on a realistic summary still scores high (the case). */
   double bullets = Textmetrics_chrf("* Customer was charged twice for order 1182\n* Refund issued to the card\n* Apology sent",
                                     "- Customer was charged twice for order 1182\n- Refund issued to the card\n- Apology sent");
   ok(bullets > 0.85 && bullets < 1.0, "bullets '* ' vs '- ' score high but below 1 (%.4f)", bullets);
}

static void published_rouge(void) {
   /* rouge-score's rouge/rouge_scorer_test.py (github.com/google-research/google-research),
    * scorer.score(target, prediction) for rougeL without stemming. */
   RougeScore r = Textmetrics_rouge_l("testing one", "testing one two");
   is_near(r.precision, 1, 1e-9, "testRougeLConsecutive precision");
   is_near(r.recall, 2.0 / 3, 1e-9, "testRougeLConsecutive recall");
   is_near(r.f, 4.0 / 5, 1e-9, "testRougeLConsecutive fmeasure");
   r = Textmetrics_rouge_l("testing two", "testing one two");
   is_near(r.f, 4.0 / 5, 1e-9, "testRougeLNonConsecutive fmeasure");
   r = Textmetrics_rouge_l("", "testing one two");
   is_near(r.f, 0, 1e-9, "testRougeEmpty");
   /* testRougeLAgainstRouge155, the first two lines of rouge/testdata/target.txt and
    * prediction.txt (values from ROUGE-1.5.5 runs, 5 places). */
   const char *t0 = "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM "
                    "EKBDXkME,yz'RBr q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n";
   const char *p0 = "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n";
   r = Textmetrics_rouge_l(p0, t0);
   is_near(r.recall, 0.40741, 5e-6, "ROUGE-1.5.5 line 1 recall");
   is_near(r.precision, 0.68750, 5e-6, "ROUGE-1.5.5 line 1 precision");
   is_near(r.f, 0.51163, 5e-6, "ROUGE-1.5.5 line 1 fmeasure");
   const char *t1 = "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m "
                    "qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing "
                    "UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n";
   const char *p1 = "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J "
                    "XsurkMeo ,ed nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n";
   r = Textmetrics_rouge_l(p1, t1);
   is_near(r.recall, 0.40476, 5e-6, "ROUGE-1.5.5 line 2 recall");
   is_near(r.precision, 0.65385, 5e-6, "ROUGE-1.5.5 line 2 precision");
   is_near(r.f, 0.50000, 5e-6, "ROUGE-1.5.5 line 2 fmeasure");
}

static void hand_rouge(void) {
   /* target a b c d e, prediction a c x e: LCS a c e = 3; P = 3/4, R = 3/5, F = 2 P R / (P + R) = 2/3. */
   RougeScore r = Textmetrics_rouge_l("A, c; x e!", "a b c d e");
   is_near(r.precision, 0.75, 1e-12, "hand: precision 3/4 (case and punctuation ignored)");
   is_near(r.recall, 0.6, 1e-12, "hand: recall 3/5");
   is_near(r.f, 2.0 / 3, 1e-12, "hand: F 2/3");
   r = Textmetrics_rouge_l("e d c b a", "a b c d e");
   is_near(r.f, 0.2, 1e-12, "reversed order: LCS 1 of 5");
   is_near(Textmetrics_score(METRIC_ROUGE_L, "caf\xc3\xa9 ouvert", "caf\xc3\xa9 ferm\xc3\xa9"), 0.5, 1e-12,
           "UTF-8 words count as words");
}

int main(void) {
   TextMetric m;
   ok(TextMetric_parse("rouge-l", &m) && m == METRIC_ROUGE_L, "parse rouge-l");
   ok(!TextMetric_parse("bleu", &m), "unknown metric refused");
   published_chrf();
   hand_chrf();
   published_rouge();
   hand_rouge();
   return tap_done();
}
