/* neardup.c - exact duplicates by normalised word sequence, near duplicates by MinHash + LSH
 * over word shingles, each LSH candidate verified with the exact shingle-set Jaccard. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/neardup.h"
#include "common/util.h"

/* A pair right at the threshold may slip through LSH with at most this probability. */
#define LSH_MISS_AT_THRESHOLD 1e-3
/* Per text placed: earlier members looked at in each band's bucket, and Jaccard verifications
 * against other groups. Both bound the quadratic worst case of inputs where everything looks
 * alike; see lsh_join. */
#define CHAIN_WALK 64
#define VERIFY_BUDGET 128

typedef struct {
   double threshold;
   size_t shingle;
   int num_perm;
   int bands;
   int rows;
   uint64_t seed;
} Plan;

typedef struct {
   uint64_t *v;
   size_t len, cap;
} U64s;

typedef struct {
   uint32_t *v;
   size_t len, cap;
} U32s;

static void U64s_push(U64s *a, uint64_t x) {
   if (a->len == a->cap) {
      a->cap = a->cap ? a->cap * 2 : 64;
      a->v = xrealloc(a->v, a->cap * sizeof *a->v);
   }
   a->v[a->len++] = x;
}

static void U32s_reserve(U32s *a, size_t more) {
   if (a->len + more <= a->cap)
      return;
   size_t cap = a->cap ? a->cap : 1024;
   while (cap < a->len + more)
      cap *= 2;
   a->v = xrealloc(a->v, cap * sizeof *a->v);
   a->cap = cap;
}


void Neardup_defaults(NeardupParams *p) {
   p->threshold = 0.85;
   p->shingle = 3;
   p->num_perm = 128;
   p->seed = 0x6f666672616d70ULL;
}

static double pow_int(double x, int k) {
   double r = 1.0;
   while (k-- > 0)
      r *= x;
   return r;
}

static void Plan_make(const NeardupParams *p, Plan *pl) {
   NeardupParams d;
   Neardup_defaults(&d);
   if (!p)
      p = &d;
   double t = p->threshold;
   if (!(t >= 0.01)) /* also catches NaN */
      t = t < 0.01 ? 0.01 : d.threshold;
   if (t > 1.0)
      t = 1.0;
   pl->threshold = t;
   pl->shingle = p->shingle >= 1 ? (size_t)p->shingle : 1;
   pl->num_perm = p->num_perm < 8 ? 8 : p->num_perm > 1024 ? 1024 : p->num_perm;
   pl->seed = p->seed;

   /* More rows per band means fewer chance collisions between unrelated texts; take the most
    * rows that still meet the miss target at the threshold. */
   int P = pl->num_perm;
   pl->rows = 1;
   pl->bands = P;
   for (int r = 1; r <= P; r++) {
      int b = P / r;
      double miss = pow_int(1.0 - pow_int(t, r), b);
      if (miss <= LSH_MISS_AT_THRESHOLD) {
         pl->rows = r;
         pl->bands = b;
      }
   }
}

void Neardup_bands(const NeardupParams *p, int *bands, int *rows) {
   Plan pl;
   Plan_make(p, &pl);
   *bands = pl.bands;
   *rows = pl.rows;
}

/* ---- normalisation ------------------------------------------------------------------------ */

static bool is_space(unsigned char c) {
   return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_punct(unsigned char c) {
   return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
          (c >= '{' && c <= '~');
}

static unsigned char fold(unsigned char c) {
   return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Next normalised word at *pp: its bytes, not yet case-folded, are [*w, *w + *len). */
static bool word_next(const char **pp, const unsigned char **w, size_t *len) {
   const unsigned char *p = (const unsigned char *)*pp;
   for (;;) {
      while (*p && is_space(*p))
         p++;
      if (!*p) {
         *pp = (const char *)p;
         return false;
      }
      const unsigned char *s = p;
      while (*p && !is_space(*p))
         p++;
      const unsigned char *e = p;
      while (s < e && is_punct(*s))
         s++;
      while (e > s && is_punct(e[-1]))
         e--;
      if (s < e) {
         *w = s;
         *len = (size_t)(e - s);
         *pp = (const char *)p;
         return true;
      }
   }
}

static uint64_t word_hash(const unsigned char *w, size_t len) {
   uint64_t h = 0xcbf29ce484222325ULL;
   for (size_t i = 0; i < len; i++) {
      h ^= fold(w[i]);
      h *= 0x100000001b3ULL;
   }
   return mix64(h ^ len);
}

/* Word hashes of text into words (reset first); returns the hash of the normalised sequence. */
static uint64_t text_words(const char *text, U64s *words) {
   const unsigned char *w;
   size_t len;
   uint64_t h = 0x243f6a8885a308d3ULL;
   words->len = 0;
   if (!text)
      return mix64(h);
   while (word_next(&text, &w, &len)) {
      uint64_t wh = word_hash(w, len);
      U64s_push(words, wh);
      h = mix64(h ^ wh) + 0x9e3779b97f4a7c15ULL;
   }
   return mix64(h ^ words->len);
}

/* Whether two texts normalise to the same word sequence; settles 64-bit hash collisions. */
static bool texts_equal(const char *a, const char *b) {
   const unsigned char *wa, *wb;
   size_t la, lb;
   if (!a)
      a = "";
   if (!b)
      b = "";
   for (;;) {
      bool ha = word_next(&a, &wa, &la);
      bool hb = word_next(&b, &wb, &lb);
      if (ha != hb)
         return false;
      if (!ha)
         return true;
      if (la != lb)
         return false;
      for (size_t i = 0; i < la; i++)
         if (fold(wa[i]) != fold(wb[i]))
            return false;
   }
}

/* ---- shingle sets ------------------------------------------------------------------------- */

static void sort_u32(uint32_t *a, size_t n) {
   while (n > 16) {
      uint32_t x = a[0], y = a[n / 2], z = a[n - 1];
      uint32_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
      size_t i = 0, j = n - 1;
      for (;;) {
         while (a[i] < pivot)
            i++;
         while (a[j] > pivot)
            j--;
         if (i >= j)
            break;
         uint32_t tmp = a[i];
         a[i] = a[j];
         a[j] = tmp;
         i++;
         j--;
      }
      /* Recurse into the smaller side so deep inputs cannot exhaust the stack. */
      size_t left = j + 1;
      if (left < n - left) {
         sort_u32(a, left);
         a += left;
         n -= left;
      } else {
         sort_u32(a + left, n - left);
         n = left;
      }
   }
   for (size_t i = 1; i < n; i++) {
      uint32_t v = a[i];
      size_t j = i;
      while (j > 0 && a[j - 1] > v) {
         a[j] = a[j - 1];
         j--;
      }
      a[j] = v;
   }
}

/* Appends the sorted, de-duplicated shingle hashes of words to out; returns how many. */
static size_t shingles_append(const U64s *words, size_t shingle, U32s *out) {
   size_t nw = words->len;
   if (nw == 0)
      return 0;
   size_t k = nw < shingle ? nw : shingle;
   size_t count = nw - k + 1;
   U32s_reserve(out, count);
   uint32_t *s = out->v + out->len;
   for (size_t i = 0; i < count; i++) {
      uint64_t h = k;
      for (size_t j = 0; j < k; j++)
         h = mix64(h ^ words->v[i + j]);
      s[i] = (uint32_t)(h >> 32);
   }
   sort_u32(s, count);
   size_t u = 1;
   for (size_t i = 1; i < count; i++)
      if (s[i] != s[u - 1])
         s[u++] = s[i];
   out->len += u;
   return u;
}

/* Exact Jaccard of two sorted sets, or -1 as soon as it cannot reach need: most LSH candidates
 * are unrelated texts, and the early exit makes rejecting them several times cheaper. */
static double set_jaccard(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                          double need) {
   if (na == 0 && nb == 0)
      return 1.0;
   /* J >= need  <=>  |A & B| >= need * (|A| + |B|) / (1 + need); the slack keeps float
    * rounding from rejecting a pair exactly at the threshold. */
   double need_inter = need * (double)(na + nb) / (1.0 + need) - 1e-9;
   size_t i = 0, j = 0, inter = 0;
   /* Branch-free merge: which side advances is a coin flip on hashed data, so branches would
    * mispredict on every other step. The give-up test runs every 8 steps for the same reason. */
   while (i < na && j < nb) {
      for (int k = 0; k < 8 && i < na && j < nb; k++) {
         uint32_t x = a[i], y = b[j];
         inter += x == y;
         i += x <= y;
         j += y <= x;
      }
      size_t left = na - i < nb - j ? na - i : nb - j;
      if ((double)(inter + left) < need_inter)
         return -1.0;
   }
   if ((double)inter < need_inter)
      return -1.0;
   return (double)inter / (double)(na + nb - inter);
}

double Neardup_jaccard(const char *a, const char *b, const NeardupParams *p) {
   Plan pl;
   Plan_make(p, &pl);
   U64s words = {0};
   U32s sets = {0};
   text_words(a, &words);
   size_t na = shingles_append(&words, pl.shingle, &sets);
   text_words(b, &words);
   size_t nb = shingles_append(&words, pl.shingle, &sets);
   double j = set_jaccard(sets.v, na, sets.v + na, nb, 0.0);
   free(words.v);
   free(sets.v);
   return j;
}

/* ---- union-find: the root is always the lowest index, which is the group id we promise ---- */

static size_t uf_find(size_t *parent, size_t x) {
   while (parent[x] != x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
   }
   return x;
}

static void uf_union(size_t *parent, size_t a, size_t b) {
   a = uf_find(parent, a);
   b = uf_find(parent, b);
   if (a < b)
      parent[b] = a;
   else if (b < a)
      parent[a] = b;
}

/* ---- grouping ----------------------------------------------------------------------------- */

static size_t pow2_at_least(size_t n) {
   size_t s = 16;
   while (s < n)
      s *= 2;
   return s;
}

/* Marks exact duplicates and joins them to their first occurrence; the first occurrences get
 * their shingle sets in sets/off and are listed in reps for LSH. */
static size_t exact_pass(const char *const *texts, size_t n, const Plan *pl, size_t *parent,
                         bool *exact, U32s *sets, size_t *off, size_t *reps) {
   size_t mask = pow2_at_least(2 * n) - 1;
   uint64_t *keys = xmalloc((mask + 1) * sizeof *keys);
   size_t *first = xmalloc((mask + 1) * sizeof *first);
   for (size_t s = 0; s <= mask; s++)
      first[s] = SIZE_MAX;
   U64s words = {0};
   size_t nrep = 0;

   for (size_t i = 0; i < n; i++) {
      uint64_t h = text_words(texts[i], &words);
      size_t s = (size_t)h & mask;
      bool dup = false;
      for (; first[s] != SIZE_MAX; s = (s + 1) & mask) {
         if (keys[s] == h && texts_equal(texts[first[s]], texts[i])) {
            dup = true;
            break;
         }
      }
      off[i] = sets->len;
      if (exact)
         exact[i] = dup;
      if (dup) {
         parent[i] = first[s];
         continue;
      }
      keys[s] = h;
      first[s] = i;
      if (shingles_append(&words, pl->shingle, sets) > 0)
         reps[nrep++] = i;
   }
   off[n] = sets->len;
   free(words.v);
   free(keys);
   free(first);
   return nrep;
}

/* One LSH key per band for every representative, band-major: keys[band * nrep + r]. */
static uint64_t *band_keys(const Plan *pl, const U32s *sets, const size_t *off,
                           const size_t *reps, size_t nrep) {
   int P = pl->bands * pl->rows, P4 = (P + 3) / 4 * 4;
   uint64_t *mul = xmalloc((size_t)P4 * sizeof *mul);
   uint64_t *add = xmalloc((size_t)P4 * sizeof *add);
   uint32_t *sig = xmalloc((size_t)P4 * sizeof *sig);
   uint64_t st = pl->seed;
   for (int i = 0; i < P4; i++) {
      mul[i] = splitmix64(&st) | 1;
      add[i] = splitmix64(&st);
   }
   uint64_t *keys = xmalloc((size_t)pl->bands * nrep * sizeof *keys);

   for (size_t r = 0; r < nrep; r++) {
      const uint32_t *x = sets->v + off[reps[r]];
      size_t m = off[reps[r] + 1] - off[reps[r]];
      /* Multiply-add-shift is 2-independent for 32-bit keys, enough to stand in for a random
       * permutation, and far cheaper than a full mix per hash function. Four functions per
       * pass over the set keep the multiplier busy (about 25 % faster than one at a time);
       * the arrays are padded to a multiple of 4, so the last pass may compute unread values. */
      for (int i = 0; i < P; i += 4) {
         uint32_t m0 = UINT32_MAX, m1 = UINT32_MAX, m2 = UINT32_MAX, m3 = UINT32_MAX;
         for (size_t s = 0; s < m; s++) {
            uint64_t xs = x[s];
            uint32_t v0 = (uint32_t)((mul[i] * xs + add[i]) >> 32);
            uint32_t v1 = (uint32_t)((mul[i + 1] * xs + add[i + 1]) >> 32);
            uint32_t v2 = (uint32_t)((mul[i + 2] * xs + add[i + 2]) >> 32);
            uint32_t v3 = (uint32_t)((mul[i + 3] * xs + add[i + 3]) >> 32);
            m0 = v0 < m0 ? v0 : m0;
            m1 = v1 < m1 ? v1 : m1;
            m2 = v2 < m2 ? v2 : m2;
            m3 = v3 < m3 ? v3 : m3;
         }
         sig[i] = m0;
         sig[i + 1] = m1;
         sig[i + 2] = m2;
         sig[i + 3] = m3;
      }
      for (int band = 0; band < pl->bands; band++) {
         uint64_t h = mix64(pl->seed ^ (uint64_t)(band + 1));
         const uint32_t *row = sig + band * pl->rows;
         for (int k = 0; k < pl->rows; k++)
            h = mix64(h ^ row[k]) + (uint64_t)k;
         keys[(size_t)band * nrep + r] = h;
      }
   }
   free(mul);
   free(add);
   free(sig);
   return keys;
}

typedef struct {
   uint64_t key;
   uint32_t last; /* rep index + 1 of the bucket's newest member; 0 = empty slot */
} Bucket;

/* prev[band * nrep + r] = rep index + 1 of the newest earlier rep with r's key in that band
 * (0 = none): every band's buckets as chains, newest first, so reps can be visited one at a
 * time across all bands. */
static uint32_t *band_chains(const Plan *pl, const uint64_t *keys, size_t nrep) {
   size_t mask = pow2_at_least(2 * nrep) - 1;
   Bucket *table = xmalloc((mask + 1) * sizeof *table);
   uint32_t *prev = xmalloc((size_t)pl->bands * nrep * sizeof *prev);
   for (int band = 0; band < pl->bands; band++) {
      const uint64_t *bk = keys + (size_t)band * nrep;
      uint32_t *bp = prev + (size_t)band * nrep;
      memset(table, 0, (mask + 1) * sizeof *table);
      for (size_t r = 0; r < nrep; r++) {
         size_t s = (size_t)bk[r] & mask;
         while (table[s].last && table[s].key != bk[r])
            s = (s + 1) & mask;
         table[s].key = bk[r];
         bp[r] = table[s].last;
         table[s].last = (uint32_t)(r + 1);
      }
   }
   free(table);
   return prev;
}

typedef struct {
   uint32_t rep;
   uint32_t bands; /* how many bands this candidate shares with the rep being placed */
} Cand;

/*
 * Places each rep in turn: gathers the earlier reps it shares a band with (each pair verified
 * once however many bands it shares) and verifies them most-shared-bands first. A pair at
 * Jaccard J shares each band with probability J^rows, so near-duplicates tend to share several
 * bands and chance look-alikes one; when the budget runs out on crowded inputs (thousands of
 * form letters at Jaccard ~0.7 to each other) the likelier pairs have had their turn.
 */
static void lsh_join(const Plan *pl, const U32s *sets, const size_t *off, const size_t *reps,
                     size_t nrep, const uint32_t *prev, size_t *parent) {
   size_t maxc = (size_t)pl->bands * CHAIN_WALK;
   Cand *cand = xmalloc(maxc * sizeof *cand);
   Cand *sorted = xmalloc(maxc * sizeof *sorted);
   size_t *bycount = xmalloc(((size_t)pl->bands + 2) * sizeof *bycount);
   uint32_t *stamp = xcalloc(nrep, sizeof *stamp); /* r + 1 when already gathered for r */
   uint32_t *slot = xmalloc(nrep * sizeof *slot);

   for (size_t r = 0; r < nrep; r++) {
      size_t nc = 0;
      for (int band = 0; band < pl->bands; band++) {
         const uint32_t *bp = prev + (size_t)band * nrep;
         uint32_t m = bp[r];
         for (int steps = 0; m && steps < CHAIN_WALK; steps++, m = bp[m - 1]) {
            if (stamp[m - 1] == r + 1) {
               cand[slot[m - 1]].bands++;
               continue;
            }
            stamp[m - 1] = (uint32_t)(r + 1);
            slot[m - 1] = (uint32_t)nc;
            cand[nc++] = (Cand){m - 1, 1};
         }
      }
      if (nc == 0)
         continue;

      /* Counting sort, most shared bands first; stable, so ties keep the gathering order. */
      memset(bycount, 0, ((size_t)pl->bands + 2) * sizeof *bycount);
      for (size_t c = 0; c < nc; c++)
         bycount[pl->bands - (int)cand[c].bands + 1]++;
      for (int k = 1; k <= pl->bands + 1; k++)
         bycount[k] += bycount[k - 1];
      for (size_t c = 0; c < nc; c++)
         sorted[bycount[pl->bands - (int)cand[c].bands]++] = cand[c];

      size_t di = reps[r];
      const uint32_t *a = sets->v + off[di];
      size_t na = off[di + 1] - off[di];
      int budget = VERIFY_BUDGET;
      for (size_t c = 0; c < nc && budget > 0; c++) {
         size_t dm = reps[sorted[c].rep];
         if (uf_find(parent, dm) == uf_find(parent, di))
            continue;
         budget--;
         double j = set_jaccard(a, na, sets->v + off[dm], off[dm + 1] - off[dm], pl->threshold);
         if (j >= pl->threshold)
            uf_union(parent, dm, di);
      }
   }
   free(cand);
   free(sorted);
   free(bycount);
   free(stamp);
   free(slot);
}

size_t Neardup_group(const char *const *texts, size_t n, const NeardupParams *p, size_t *group,
                     bool *exact) {
   if (n == 0)
      return 0;
   /* LSH chains hold rep indices + 1 in 32 bits to halve their memory. */
   if (n >= UINT32_MAX)
      die(1, "neardup: %zu texts, at most %u can be grouped at once (split the data set)", n,
          UINT32_MAX - 1);
   Plan pl;
   Plan_make(p, &pl);

   /* group[] doubles as the union-find parent array until the final pass flattens it. */
   for (size_t i = 0; i < n; i++)
      group[i] = i;
   U32s sets = {0};
   size_t *off = xmalloc((n + 1) * sizeof *off);
   size_t *reps = xmalloc(n * sizeof *reps);
   size_t nrep = exact_pass(texts, n, &pl, group, exact, &sets, off, reps);

   if (nrep > 1) {
      uint64_t *keys = band_keys(&pl, &sets, off, reps, nrep);
      uint32_t *prev = band_chains(&pl, keys, nrep);
      free(keys);
      lsh_join(&pl, &sets, off, reps, nrep, prev, group);
      free(prev);
   }

   size_t groups = 0;
   for (size_t i = 0; i < n; i++) {
      group[i] = uf_find(group, i);
      groups += group[i] == i;
   }
   free(sets.v);
   free(off);
   free(reps);
   return groups;
}
