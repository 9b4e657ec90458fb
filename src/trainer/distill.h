/* distill.h - the distiller: a compact CPU text classifier (hashed n-grams -> softmax) and its file. */
#ifndef OFFRAMP_DISTILL_H
#define OFFRAMP_DISTILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Model. A text becomes a sparse vector of hashed features: lowercased words, word n-grams up to
 * word_ngrams, and character n-grams (char_min..char_max UTF-8 characters) of each word wrapped
 * in '<' '>'. Features seen in fewer than min_count training texts are dropped; the rest get
 * (1 + ln tf) * idf weights and the vector is L2-normalised. A linear softmax layer is trained
 * with SGD (learning rate decaying linearly to 0 over epochs_max), the epoch with the lowest
 * validation loss is kept (stopping after `patience` epochs without improvement), and a
 * temperature is fitted on the validation set so that probabilities are calibrated.
 *
 * Training is single-threaded on purpose: ~1 s for 10k texts, and bit-for-bit reproducible for
 * a given seed and input order. A trained model is immutable; Distill_predict may be called
 * from several threads at once.
 *
 * Errors are returned as a malloc'ed message in *err (when err is not NULL) that the caller
 * frees; on error nothing else is allocated or written.
 */
typedef struct Distill Distill;

typedef struct {
   int epochs_max;     /* upper bound on passes over the training set (default 10) */
   int patience;       /* epochs without validation-loss improvement before stopping (2) */
   double lr;          /* initial SGD learning rate (2.0) */
   int buckets_log2;   /* feature hash space is 2^buckets_log2, 10..24 (20) */
   int min_count;      /* a feature must occur in this many training texts (2) */
   int word_ngrams;    /* longest word n-gram, 1..3 (2) */
   int char_min;       /* shortest character n-gram, 0 disables them (3) */
   int char_max;       /* longest character n-gram, <= 8 (5) */
   double val_frac;    /* share of each label held out when no validation set is given (0.1) */
   uint64_t seed;      /* validation split and example order (1) */
} DistillParams;

void Distill_defaults(DistillParams *p);

/* Called after every epoch; return false to cancel training. */
typedef bool (*DistillProgress)(void *ctx, int epoch, int epochs_max, double train_loss,
                                double valid_loss, double valid_acc);

/*
 * Trains on n (text, label) pairs. With nval == 0 a stratified, seeded val_frac of the training
 * set is held out for early stopping and calibration; otherwise val_texts/val_labels are used
 * and every validation label must occur in the training set. p NULL means defaults; cb may be
 * NULL. Returns NULL with *err set on bad input or cancellation.
 */
Distill *Distill_train(const char *const *texts, const char *const *labels, size_t n,
                       const char *const *val_texts, const char *const *val_labels, size_t nval,
                       const DistillParams *p, DistillProgress cb, void *ctx, char **err);

/*
 * Writes the min(k, nlabels) most probable labels for text, best first: their indices into
 * label_idx and their natural-log probabilities (softmax after temperature) into logprob.
 * Returns the number written.
 */
int Distill_predict(const Distill *m, const char *text, int k, int *label_idx, double *logprob);

/* Labels are sorted by strcmp; idx out of range gives NULL. */
const char *Distill_label(const Distill *m, int idx);
int Distill_nlabels(const Distill *m);
double Distill_temperature(const Distill *m);
/* Number of features with a learned weight row. */
size_t Distill_nfeatures(const Distill *m);

/* Written with write_file_atomic: owner-only, fsynced, never seen partial. */
bool Distill_save(const Distill *m, const char *path, char **err);
/* Refuses truncated, corrupted (checksum), foreign or newer-version files. */
Distill *Distill_load(const char *path, char **err);
void Distill_free(Distill *m);

#endif
