/* tagger.h - the extractor: one sequence tagger per JSON field (averaged perceptron over BIO
 * tags, Viterbi decoding) that copies each field's value out of the user input, and its file. */
#ifndef OFFRAMP_TAGGER_H
#define OFFRAMP_TAGGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Task. Each example is (user input, assistant answer) where the answer is a JSON object whose
 * field values are copied from the input: names, ids, dates, amounts, categories. A value is
 * a span when its bytes occur in the input starting and ending at token boundaries (numbers
 * are spelled as JSON spells them). A field whose present, non-null values are not spans in
 * more than TAGGER_MAX_NONSPAN_SHARE of the examples that have it is refused: the extractor
 * can only copy. The examples where a field's value is not a span are left out of that
 * field's training; null and missing values are learned as "no span" (every token O).
 *
 * Model. Per field, a linear scorer over 3 tags (O, B, I) with hashed token features (word,
 * lowercase, shape, prefixes and suffixes, length, line start, the neighbours two either
 * side, word bigrams) and tag-transition weights (the previous tag, START included), trained
 * as an averaged perceptron; I only follows B or I. Decoding is Viterbi; the field's value is
 * the first B I* span, or null. Held-out examples (val_frac, when there are at least
 * TAGGER_MIN_HELDOUT examples) choose the epoch, and fit a temperature T per field so that
 * p(path) = exp(score(path)/T) / sum over paths exp(score/T) is calibrated; the field's
 * logprob is log p of the decoded path.
 *
 * Deterministic: the same examples, order and seed give the same model bit for bit.
 * Errors come back as a malloc'ed message in *err the caller frees.
 */
typedef struct Tagger Tagger;

#define TAGGER_MAX_NONSPAN_SHARE 0.05
#define TAGGER_MAX_FIELDS 64
#define TAGGER_MIN_HELDOUT 20

enum { TAG_O, TAG_B, TAG_I, TAG_N };
/* Transition rows: the previous tag, and row TAG_START before the first token. */
#define TAG_START 3

typedef struct {
   int epochs_max;     /* passes over the training set (10) */
   int patience;       /* epochs without held-out improvement before stopping (3) */
   int buckets_log2;   /* feature hash space per field, 12..24 (17) */
   double val_frac;    /* share held out for the epoch choice and calibration (0.1) */
   uint64_t seed;      /* split and example order (1) */
} TaggerParams;

void Tagger_defaults(TaggerParams *p);

/* Byte offsets [start, end) of one token of a text. */
typedef struct {
   size_t start, end;
} TaggerTok;

/* Splits text into tokens: runs of letters and digits (bytes >= 0x80 count as letters) kept
 * together across one inner '.', '-', '/', '@', '_', '\'' between two of them, and ',' or ':'
 * between two digits ("INV-2024-001", "12.50", "1,200", "10:30", "a@b.com"); every other
 * non-space byte is a token of its own. Returns the count; *out is malloc'ed (NULL for 0). */
size_t Tagger_tokenize(const char *text, TaggerTok **out);

/* The features of every token as text: TAGGER_NFEAT NUL-terminated strings a token, tokens
 * in order, back to back in one malloc'ed buffer of *len bytes ("w=invoice", "w-1=order",
 * "b=Xd", ...). The tagger hashes them; another learner can read the same ones. */
#define TAGGER_NFEAT 24
char *Tagger_features(const char *text, const TaggerTok *t, size_t nt, size_t *len);

/* The first token span [*first, *first + *ntok) of text whose bytes are exactly value.
 * false when value is empty or no such span exists. */
bool Tagger_align(const char *text, const TaggerTok *t, size_t nt, const char *value, size_t *first, size_t *ntok);

/* The value of a JSON field as the text the input must contain: a string as is, a number as
 * JSON spells it; NULL for null, booleans, objects and arrays (never spans). Caller frees. */
char *Tagger_value_text(const json_t *v);

/* Whether the text is a JSON object (what makes a training file an extraction task). */
bool Tagger_is_object(const char *answer);

/* Checks that the answers are JSON objects whose fields are spans of the texts (the rule
 * above). false with *err naming the field, its share and an example otherwise. */
bool Tagger_check(const char *const *texts, const char *const *answers, size_t n, char **err);

/* Called after every epoch with the share of (example, field) pairs the epoch got wrong
 * while learning and the held-out field accuracy (-1 without a held-out set); return false
 * to cancel. */
typedef bool (*TaggerProgress)(void *ctx, int epoch, int epochs_max, double train_err, double valid_acc);

/* Runs Tagger_check, then trains. p NULL means defaults; cb may be NULL. */
Tagger *Tagger_train(const char *const *texts, const char *const *answers, size_t n, const TaggerParams *p,
                     TaggerProgress cb, void *ctx, char **err);

/* The answer for text: a JSON object with every field in training order (null when no span
 * was found), and each field's natural-log confidence in logprob[field] (may be NULL). */
json_t *Tagger_extract(const Tagger *m, const char *text, double *logprob);

/* The chat answer for text: the object of Tagger_extract as compact JSON, and in *lp (when lp
 * is not NULL) OpenAI's choices[0].logprobs: {"content": [tokens]} whose tokens spell the answer
 * exactly: the fixed parts ('{"name":', ',"date":', '}') at logprob 0, and each field's value
 * (or null) as one token whose logprob is the field's log-confidence. A reader that multiplies
 * the probabilities of the tokens of a value (Compare_confidence in json mode) gets the field's
 * probability, and the least of them is the answer's. Caller frees both. */
char *Tagger_answer(const Tagger *m, const char *text, json_t **lp);

int Tagger_nfields(const Tagger *m);
const char *Tagger_field(const Tagger *m, int i);
double Tagger_temperature(const Tagger *m, int i);
/* Held-out field accuracy of the kept epoch (-1 without a held-out set) and that epoch. */
double Tagger_valid_accuracy(const Tagger *m);
int Tagger_epoch(const Tagger *m);

/* Viterbi over n tokens with emission scores emit[i * TAG_N + tag] and transitions
 * trans[prev][tag] (prev TAG_START at the first token), I never after O or START. Writes the
 * best tags and returns their score. */
double Tagger_viterbi(size_t n, const double *emit, const double trans[4][TAG_N], int *tags);
/* log of the sum over allowed paths of exp(score / T). */
double Tagger_logz(size_t n, const double *emit, const double trans[4][TAG_N], double T);

/* Written with write_file_atomic (owner-only, never partial); load refuses foreign,
 * truncated, corrupted or newer files. */
bool Tagger_save(const Tagger *m, const char *path, char **err);
Tagger *Tagger_load(const char *path, char **err);
void Tagger_free(Tagger *m);

#endif
