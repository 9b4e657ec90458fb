/* test_neardup.c - exact and near-duplicate grouping: normalisation, shingle Jaccard, the
 * threshold, transitive groups, determinism, and agreement with an all-pairs brute force. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <strings.h>

#include "common/neardup.h"
#include "common/util.h"
#include "tap.h"

/* A text of n distinct words "<tag>0 <tag>1 ...", with word k replaced where edit[k] is set. */
static char *words(const char *tag, int n, const char *const *edit) {
   Sbuf sb = {0};
   for (int k = 0; k < n; k++) {
      if (k)
         Sbuf_putc(&sb, ' ');
      if (edit && edit[k])
         Sbuf_puts(&sb, edit[k]);
      else
         Sbuf_printf(&sb, "%s%d", tag, k);
   }
   return Sbuf_steal(&sb);
}

static size_t group2(const char *a, const char *b, const NeardupParams *p, size_t g[2],
                     bool ex[2]) {
   const char *t[2] = {a, b};
   return Neardup_group(t, 2, p, g, ex);
}

static void test_exact(void) {
   size_t g[2];
   bool ex[2];
   size_t n = group2("Where is my order?", "Where is my order?", NULL, g, ex);
   ok(n == 1 && g[1] == 0 && ex[1] && !ex[0], "identical texts: one group, the second exact");

   n = group2("  WHERE is   my\torder?\n", "where is my order", NULL, g, ex);
   ok(n == 1 && g[1] == 0 && ex[1], "case, spacing and edge punctuation fold to an exact dup");

   n = group2("\"Hello,\" (world)!", "hello world", NULL, g, ex);
   ok(n == 1 && ex[1], "quotes, commas and brackets at word edges are stripped");

   n = group2("my e-mail is broken", "my email is broken", NULL, g, ex);
   ok(!ex[1] && g[1] == 1 && n == 2, "punctuation inside a word is kept (e-mail != email)");

   n = group2("the order", "order the", NULL, g, ex);
   ok(!ex[1] && n == 2, "word order matters: a permutation is neither exact nor near");

   n = group2("Caf\xc3\xa9 au lait", "CAF\xc3\xa9 au lait", NULL, g, ex);
   ok(ex[1], "ASCII letters fold around UTF-8 bytes");

   const char *empty[4] = {"", "  \n", "?!", NULL};
   size_t ge[4];
   bool ee[4];
   n = Neardup_group(empty, 4, NULL, ge, ee);
   ok(n == 1 && ge[3] == 0 && ee[1] && ee[2] && ee[3] && !ee[0],
      "empty, blank, punctuation-only and NULL texts are one exact group");
   is_near(Neardup_jaccard("", "...", NULL), 1.0, 1e-12, "Jaccard of two wordless texts");
   is_near(Neardup_jaccard("", "hello", NULL), 0.0, 1e-12, "Jaccard of wordless vs words");
}

static void test_near_edits(void) {
   size_t g[2];
   bool ex[2];
   char *base = words("w", 30, NULL); /* 28 distinct 3-word shingles */

   /* Replacing the last word changes 1 of 28 shingles: 27 / 29. */
   const char *last[30] = {[29] = "changed"};
   char *e1 = words("w", 30, last);
   is_near(Neardup_jaccard(base, e1, NULL), 27.0 / 29, 1e-9, "last word replaced: J = 27/29");
   size_t n = group2(base, e1, NULL, g, ex);
   ok(n == 1 && g[1] == 0 && !ex[1], "last word replaced in 30: near, grouped, not exact");

   /* Appending a word adds one shingle: 28 / 29. */
   char *e2 = xasprintf("%s extra", base);
   is_near(Neardup_jaccard(base, e2, NULL), 28.0 / 29, 1e-9, "word appended: J = 28/29");
   n = group2(base, e2, NULL, g, ex);
   ok(n == 1 && g[1] == 0, "word appended to 30: grouped");

   /* Dropping the first word removes one shingle: 27 / 28. */
   n = group2(base, base + strlen("w0 "), NULL, g, ex);
   is_near(Neardup_jaccard(base, base + 3, NULL), 27.0 / 28, 1e-9, "first word dropped: J");
   ok(n == 1 && g[1] == 0, "first word dropped from 30: grouped");

   /* Replacing the second word touches two shingles: 26 / 30 = 0.867, still above 0.85. */
   const char *second[30] = {[1] = "changed"};
   char *e3 = words("w", 30, second);
   is_near(Neardup_jaccard(base, e3, NULL), 26.0 / 30, 1e-9, "second word replaced: J = 26/30");
   n = group2(base, e3, NULL, g, ex);
   ok(n == 1, "second word replaced in 30: grouped at 0.867");

   /* A word in the middle touches three shingles: 25 / 31 = 0.806, below 0.85. */
   const char *mid[30] = {[15] = "changed"};
   char *e4 = words("w", 30, mid);
   is_near(Neardup_jaccard(base, e4, NULL), 25.0 / 31, 1e-9, "middle word replaced: J = 25/31");
   n = group2(base, e4, NULL, g, ex);
   ok(n == 2 && g[1] == 1, "middle word replaced in 30 (0.806): not grouped at 0.85");
   free(base);
   free(e1);
   free(e2);
   free(e3);
   free(e4);
}

static void test_template_and_short(void) {
   size_t g[2];
   bool ex[2];
   /* Same 15-word template prefix, different 15-word bodies: 13 shared of 43 shingles. */
   char *pre = words("tmpl", 15, NULL), *b1 = words("alpha", 15, NULL),
        *b2 = words("beta", 15, NULL);
   char *t1 = xasprintf("%s %s", pre, b1), *t2 = xasprintf("%s %s", pre, b2);
   is_near(Neardup_jaccard(t1, t2, NULL), 13.0 / 43, 1e-9, "shared template prefix: J = 13/43");
   size_t n = group2(t1, t2, NULL, g, ex);
   ok(n == 2 && g[1] == 1, "texts sharing only a template prefix stay apart");

   n = group2("Thanks!", "thanks", NULL, g, ex);
   ok(n == 1 && ex[1], "one-word texts: exact after folding");
   n = group2("yes", "no", NULL, g, ex);
   ok(n == 2, "different one-word texts stay apart");
   /* Were short texts left without shingles, both would be empty sets and score 1. */
   is_near(Neardup_jaccard("reset password", "password reset", NULL), 0.0, 1e-12,
           "two-word texts shingle as one 2-word shingle (order matters)");
   is_near(Neardup_jaccard("reset password", "Reset password.", NULL), 1.0, 1e-12,
           "two-word texts that normalise alike score 1");
   n = group2("reset password", "reset password please", NULL, g, ex);
   ok(n == 2, "2-word and 3-word texts share no shingle (fallback length differs)");
   is_near(Neardup_jaccard("where is my order", "where is my parcel", NULL), 1.0 / 3, 1e-9,
           "4-word texts differing in the last word: J = 1/3");
   n = group2("where is my order", "where is my parcel", NULL, g, ex);
   ok(n == 2, "short texts one word apart are not near at 0.85");

   NeardupParams p;
   Neardup_defaults(&p);
   p.shingle = 1;
   is_near(Neardup_jaccard("where is my order", "where is my parcel", &p), 3.0 / 5, 1e-9,
           "shingle = 1: word-set Jaccard 3/5");
   free(pre);
   free(b1);
   free(b2);
   free(t1);
   free(t2);
}

static void test_transitive(void) {
   /* A, B (one word off A), C (one more word off B), 60 words: A-B and B-C are 0.902, A-C is
    * 0.8125, so only the chain puts A and C together. Unrelated texts sit in between. */
   const char *eb[60] = {[20] = "bee"}, *ec[60] = {[20] = "bee", [40] = "sea"};
   char *a = words("w", 60, NULL), *b = words("w", 60, eb), *c = words("w", 60, ec);
   char *x = words("x", 60, NULL), *y = words("y", 40, NULL);
   is_near(Neardup_jaccard(a, b, NULL), 55.0 / 61, 1e-9, "A-B: J = 55/61");
   is_near(Neardup_jaccard(b, c, NULL), 55.0 / 61, 1e-9, "B-C: J = 55/61");
   is_near(Neardup_jaccard(a, c, NULL), 52.0 / 64, 1e-9, "A-C: J = 52/64, below 0.85");
   const char *t[5] = {x, c, y, a, b};
   size_t g[5];
   bool ex[5];
   size_t n = Neardup_group(t, 5, NULL, g, ex);
   is_int(n, 3, "A, B, C chain into one group beside two singletons");
   ok(g[1] == 1 && g[3] == 1 && g[4] == 1, "chain group id is its first member's index (1)");
   ok(g[0] == 0 && g[2] == 2, "singletons are their own group id");
   ok(!ex[1] && !ex[3] && !ex[4], "near duplicates are not flagged exact");
   free(a);
   free(b);
   free(c);
   free(x);
   free(y);
}

static void test_crowd(void) {
   /* A form letter, 30 variants with one middle word changed (0.806 to it, 0.65-0.81 to each
    * other: look-alikes that share LSH buckets with it but are not near), then a true near
    * copy of it (last word changed, 0.93). The copy must still reach past the look-alikes. */
   enum { LOOK = 30 };
   const char *t[LOOK + 2];
   char *own[LOOK + 2];
   own[0] = words("w", 30, NULL);
   for (int k = 0; k < LOOK; k++) {
      char alt[16];
      snprintf(alt, sizeof alt, "alt%d", k);
      const char *ed[30] = {0};
      ed[8 + k % 14] = alt;
      own[k + 1] = words("w", 30, ed);
   }
   const char *last[30] = {[29] = "changed"};
   own[LOOK + 1] = words("w", 30, last);
   for (int k = 0; k < LOOK + 2; k++)
      t[k] = own[k];
   size_t g[LOOK + 2];
   size_t n = Neardup_group(t, LOOK + 2, NULL, g, NULL);
   ok(g[LOOK + 1] == 0, "near copy joins its original behind %d look-alikes (group %zu)", LOOK,
      g[LOOK + 1]);
   size_t joined = 0;
   for (int k = 1; k <= LOOK; k++)
      joined += g[k] != (size_t)k;
   ok(joined == 0 && n == LOOK + 1, "look-alikes at 0.806 stay out (%zu joined, %zu groups)",
      joined, n);
   for (int k = 0; k < LOOK + 2; k++)
      free(own[k]);
}

static void test_threshold(void) {
   /* 40 words, two words far apart replaced: 32 / 44 = 0.727. */
   const char *ed[40] = {[10] = "one", [30] = "two"};
   char *a = words("w", 40, NULL), *b = words("w", 40, ed);
   is_near(Neardup_jaccard(a, b, NULL), 32.0 / 44, 1e-9, "pair at J = 32/44 = 0.727");
   NeardupParams p;
   Neardup_defaults(&p);
   size_t g[2];
   bool ex[2];
   size_t n = group2(a, b, &p, g, ex);
   ok(n == 2 && g[1] == 1, "0.727 pair apart at threshold 0.85");
   p.threshold = 0.6;
   n = group2(a, b, &p, g, ex);
   ok(n == 1 && g[1] == 0, "0.727 pair joins at threshold 0.6");
   p.threshold = 0.75;
   n = group2(a, b, &p, g, ex);
   ok(n == 2, "0.727 pair apart at threshold 0.75");
   /* 20 words vs their first 19 plus two new: 17 shared of 20 shingles, exactly 0.85. */
   char *c = words("w", 20, NULL), *d = words("w", 19, NULL);
   char *d2 = xasprintf("%s new1 new2", d);
   is_near(Neardup_jaccard(c, d2, NULL), 17.0 / 20, 1e-12, "pair at exactly J = 17/20 = 0.85");
   p.threshold = 0.85;
   n = group2(c, d2, &p, g, ex);
   ok(n == 1 && g[1] == 0, "a pair exactly at the threshold joins (>=, not >)");
   p.threshold = 0.86;
   n = group2(c, d2, &p, g, ex);
   ok(n == 2, "the same pair stays apart at 0.86");
   free(c);
   free(d);
   free(d2);

   p.threshold = 1.0;
   n = group2(a, a, &p, g, ex);
   ok(n == 1 && ex[1], "threshold 1.0 still groups exact duplicates");
   n = group2(a, b, &p, g, ex);
   ok(n == 2, "threshold 1.0 keeps a 0.727 pair apart");

   int bands, rows;
   Neardup_defaults(&p);
   Neardup_bands(&p, &bands, &rows);
   ok(bands >= 1 && rows >= 1 && bands * rows <= p.num_perm, "default LSH layout fits num_perm");
   /* The layout must keep a pair at the threshold from slipping through: (1 - t^r)^b <= 1e-3. */
   double hit = 1.0;
   for (int k = 0; k < rows; k++)
      hit *= p.threshold;
   double miss = 1.0;
   for (int k = 0; k < bands; k++)
      miss *= 1.0 - hit;
   ok(miss <= 1e-3 && rows > 1, "default layout misses a 0.85 pair with p <= 1e-3 (p = %.2g)",
      miss);
   int b2, r2;
   p.threshold = 0.6;
   Neardup_bands(&p, &b2, &r2);
   ok(r2 < rows, "a lower threshold gets fewer rows per band (%d < %d)", r2, rows);
   free(a);
   free(b);
}

/* A corpus with planted near and exact duplicates, for determinism and brute force checks. */
static char **corpus(size_t n, uint64_t seed) {
   static const char *const vocab[] = {"order", "refund", "broken", "late", "please", "help",
      "account", "password", "charge", "card", "delivery", "address", "screen", "battery",
      "return", "label", "invoice", "urgent", "again", "still", "box", "missing", "cable",
      "app", "login", "error", "code", "support", "agent", "wait"};
   char **t = xmalloc(n * sizeof *t);
   uint64_t s = seed;
   for (size_t i = 0; i < n; i++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      uint64_t r = s >> 33;
      if (i > 0 && r % 5 == 0) { /* a copy of an earlier text with one word appended */
         t[i] = xasprintf("%s %s", t[r % i], vocab[(r >> 8) % ARRAY_SIZE(vocab)]);
         continue;
      }
      if (i > 0 && r % 11 == 1) { /* a shouted copy */
         t[i] = xstrdup(t[r % i]);
         for (char *c = t[i]; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
         continue;
      }
      Sbuf sb = {0};
      size_t len = 8 + r % 30;
      for (size_t k = 0; k < len; k++) {
         s = s * 6364136223846793005ULL + 1442695040888963407ULL;
         Sbuf_printf(&sb, "%s%s", k ? " " : "", vocab[(s >> 33) % ARRAY_SIZE(vocab)]);
      }
      t[i] = Sbuf_steal(&sb);
   }
   return t;
}

static size_t bf_find(size_t *p, size_t x) {
   while (p[x] != x)
      x = p[x];
   return x;
}

static void test_corpus(void) {
   enum { N = 400 };
   char **t = corpus(N, 7);
   size_t g1[N], g2[N], g3[N], truth[N];
   bool e1[N], e2[N];
   size_t n1 = Neardup_group((const char *const *)t, N, NULL, g1, e1);
   size_t n2 = Neardup_group((const char *const *)t, N, NULL, g2, e2);
   ok(n1 == n2 && memcmp(g1, g2, sizeof g1) == 0 && memcmp(e1, e2, sizeof e1) == 0,
      "same input, same groups and exact flags (determinism)");
   ok(n1 < N, "the corpus has duplicates to find (%zu groups of %d)", n1, N);

   NeardupParams p;
   Neardup_defaults(&p);
   p.seed = 12345;
   size_t n3 = Neardup_group((const char *const *)t, N, &p, g3, NULL);
   ok(n3 == n1 && memcmp(g1, g3, sizeof g1) == 0, "another MinHash seed, same groups");

   /* All-pairs truth: union every pair at Jaccard >= 0.85, lowest index as root. */
   for (size_t i = 0; i < N; i++)
      truth[i] = i;
   for (size_t i = 0; i < N; i++)
      for (size_t j = i + 1; j < N; j++)
         if (Neardup_jaccard(t[i], t[j], NULL) >= 0.85) {
            size_t a = bf_find(truth, i), b = bf_find(truth, j);
            if (a < b)
               truth[b] = a;
            else if (b < a)
               truth[a] = b;
         }
   size_t wrong = 0, groups = 0, seq = 0, flagged = 0, exact_wrong = 0;
   for (size_t i = 0; i < N; i++) {
      wrong += bf_find(truth, i) != g1[i];
      groups += bf_find(truth, i) == i;
      seq += g1[i] <= i && g1[g1[i]] == g1[i];
      /* The corpus is single-spaced and unpunctuated, so a case-blind repeat is an exact dup. */
      bool repeat = false;
      for (size_t j = 0; j < i && !repeat; j++)
         repeat = strcasecmp(t[i], t[j]) == 0;
      exact_wrong += repeat != e1[i];
      flagged += e1[i];
   }
   is_int(wrong, 0, "every text's group id matches the all-pairs truth");
   is_int(n1, groups, "group count matches the all-pairs truth");
   is_int(seq, N, "group ids point at a lower-or-equal index that is its own group");
   ok(flagged > 0 && exact_wrong == 0,
      "exact flags are set exactly on case-blind repeats (%zu flagged, %zu wrong)", flagged,
      exact_wrong);
   for (size_t i = 0; i < N; i++)
      free(t[i]);
   free(t);
}

static void test_sizes(void) {
   is_int(Neardup_group(NULL, 0, NULL, NULL, NULL), 0, "n = 0 with NULL arrays: 0 groups");
   const char *one[1] = {"just one message"};
   size_t g[1] = {99};
   bool ex[1] = {true};
   size_t n = Neardup_group(one, 1, NULL, g, ex);
   ok(n == 1 && g[0] == 0 && !ex[0], "n = 1: one group, itself, not exact");
   n = Neardup_group(one, 1, NULL, g, NULL);
   ok(n == 1 && g[0] == 0, "exact may be NULL");
}

int main(void) {
   test_exact();
   test_near_edits();
   test_template_and_short();
   test_transitive();
   test_crowd();
   test_threshold();
   test_corpus();
   test_sizes();
   return tap_done();
}
