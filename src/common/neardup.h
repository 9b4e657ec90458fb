/* neardup.h - exact and near-duplicate grouping of texts (MinHash + LSH over word shingles),
 * so the dataset split can keep every group of look-alikes on one side of train/test. */
#ifndef OFFRAMP_NEARDUP_H
#define OFFRAMP_NEARDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * How texts are compared
 *   Normalisation: split on ASCII whitespace, strip ASCII punctuation from both edges of every
 *   word, fold ASCII letters to lower case, drop words that were only punctuation. Bytes >= 0x80
 *   (UTF-8) are kept as they are. "Hello,  World!" and "hello world" normalise alike.
 *   Shingles: every run of `shingle` consecutive normalised words; a text with fewer words uses
 *   all of its words as one shingle, so short texts still compare (but a 2-word text never
 *   shares a shingle with a 3-word one). Jaccard = |A & B| / |A u B| of the shingle sets.
 *   Two texts with no words at all are identical (Jaccard 1); a wordless text against one with
 *   words scores 0.
 *
 * Feed the part of a logged call that varies (the user's message), not a prompt with a long
 * shared template: a 500-word template around a 20-word question makes every call a
 * near-duplicate of every other, which is what Jaccard says but not what a split wants.
 */
typedef struct {
   double threshold; /* near when Jaccard >= threshold; clamped to [0.01, 1]; default 0.85 */
   int shingle;      /* words per shingle, >= 1; default 3 */
   int num_perm;     /* MinHash permutations (hash functions), 8..1024; default 128 */
   uint64_t seed;    /* MinHash seed; changes only which borderline candidates LSH meets */
} NeardupParams;

void Neardup_defaults(NeardupParams *p);

/*
 * Groups texts[0..n) into connected components of "exact duplicate or Jaccard >= threshold".
 * group[i] = index of the first (lowest-index) member of i's group, so a singleton has
 * group[i] == i. exact (may be NULL): exact[i] is true when text i normalises to the same word
 * sequence as an earlier text. Returns the number of groups. p NULL means the defaults; a NULL
 * text counts as empty.
 *
 * Every LSH candidate pair is verified with the exact Jaccard of the two shingle sets before it
 * is joined, so a joined pair is always truly >= threshold (up to 32-bit shingle-hash
 * collisions); groups can still hold two members below the threshold that are linked through a
 * third, by design. Recall is what LSH costs: bands and rows are chosen so a pair right at the
 * threshold never meets in any band with probability <= 0.1 % (far less above it).
 * Time is bounded on inputs where nearly everything looks alike (thousands of form letters at
 * Jaccard ~0.7 to each other): each text looks at most 64 earlier texts deep into each LSH
 * bucket and verifies at most 128 candidates from other groups, those sharing the most bands
 * first. On such inputs some true pairs are missed; on ordinary data the bounds are not reached.
 * Deterministic for given texts and params. At most UINT32_MAX - 1 texts.
 * Cost grows with the total number of words (MinHash is num_perm hashes per shingle): 100,000
 * support messages of 15-60 words take about 0.6 s and 40 MB on one core (bench/dataset.sh).
 */
size_t Neardup_group(const char *const *texts, size_t n, const NeardupParams *p, size_t *group,
                     bool *exact);

/* Jaccard of the two texts' shingle sets with the same normalisation and shingling
 * (exact up to 32-bit shingle-hash collisions, not a MinHash estimate). */
double Neardup_jaccard(const char *a, const char *b, const NeardupParams *p);

/* The LSH layout Neardup_group uses for p: bands * rows <= num_perm. For reports and benches. */
void Neardup_bands(const NeardupParams *p, int *bands, int *rows);

#endif
