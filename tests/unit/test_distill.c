/* test_distill.c - the distiller on a generated 4-label task: learning, top-k, file format, determinism. */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "tap.h"
#include "trainer/distill.h"

#define NLABELS 4
#define NTRAIN 240
#define NTEST 80

static const char *const label_names[NLABELS] = {"billing", "delivery", "login", "refund"};
static const char *const keywords[NLABELS][5] = {
   {"invoice", "charged", "payment", "bill", "fee"},
   {"parcel", "shipping", "courier", "arrive", "tracking"},
   {"password", "sign", "account", "locked", "username"},
   {"refund", "return", "money", "back", "reimburse"},
};
static const char *const filler[] = {
   "i", "my", "the", "a", "please", "help", "with", "why", "is", "it", "can", "you", "today",
   "still", "not", "again", "hello", "thanks", "café", "über", "need", "what", "about", "this",
};

typedef struct {
   char *text[NTRAIN];
   const char *label[NTRAIN];
   size_t n;
} Set;

static uint64_t rng = 42;

static unsigned rnd(unsigned n) {
   rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
   return (unsigned)(rng >> 33) % n;
}

/* Filler words plus one or two of the label's keywords, with some capitals and punctuation. */
static void make_set(Set *s, size_t n) {
   s->n = n;
   for (size_t i = 0; i < n; i++) {
      int c = (int)(i % NLABELS);
      Sbuf b = {0};
      int words = 4 + (int)rnd(5), kw = (int)rnd((unsigned)words), kw2 = rnd(2) ? (int)rnd((unsigned)words) : -1;
      for (int w = 0; w < words; w++) {
         if (w)
            Sbuf_puts(&b, rnd(6) ? " " : ", ");
         if (w == kw || w == kw2)
            Sbuf_puts(&b, keywords[c][rnd(5)]);
         else
            Sbuf_puts(&b, filler[rnd(ARRAY_SIZE(filler))]);
      }
      Sbuf_puts(&b, rnd(2) ? "?" : "!");
      if (b.buf[0] >= 'a' && b.buf[0] <= 'z')
         b.buf[0] -= 'a' - 'A';
      s->text[i] = Sbuf_steal(&b);
      s->label[i] = label_names[c];
   }
}

static void free_set(Set *s) {
   for (size_t i = 0; i < s->n; i++)
      free(s->text[i]);
}

static double accuracy(const Distill *m, const Set *s) {
   size_t right = 0;
   for (size_t i = 0; i < s->n; i++) {
      int idx;
      double lp;
      if (Distill_predict(m, s->text[i], 1, &idx, &lp) == 1 && str_eq(Distill_label(m, idx), s->label[i]))
         right++;
   }
   return (double)right / (double)s->n;
}

/* True when both models give bit-identical top-k lists on every text. */
static bool same_predictions(const Distill *a, const Distill *b, const Set *s) {
   for (size_t i = 0; i < s->n; i++) {
      int ia[NLABELS], ib[NLABELS];
      double la[NLABELS], lb[NLABELS];
      int na = Distill_predict(a, s->text[i], NLABELS, ia, la), nb = Distill_predict(b, s->text[i], NLABELS, ib, lb);
      if (na != nb || memcmp(ia, ib, sizeof ia) != 0 || memcmp(la, lb, sizeof la) != 0)
         return false;
   }
   return true;
}

typedef struct {
   int calls, last_epoch, cancel_at;
   double last_train, last_valid, last_acc;
} Progress;

static bool on_epoch(void *ctx, int epoch, int epochs_max, double train_loss, double valid_loss, double valid_acc) {
   Progress *p = ctx;
   (void)epochs_max;
   p->calls++;
   p->last_epoch = epoch;
   p->last_train = train_loss;
   p->last_valid = valid_loss;
   p->last_acc = valid_acc;
   return epoch != p->cancel_at;
}

static Distill *train(const Set *s, const DistillParams *p, Progress *prog, char **err) {
   return Distill_train((const char *const *)s->text, s->label, s->n, NULL, NULL, 0, p, on_epoch, prog, err);
}

static unsigned char *read_all(const char *path, size_t *n) {
   char *err = NULL;
   char *data = read_file(path, n, &err);
   free(err);
   return (unsigned char *)data;
}

static void write_all(const char *path, const void *data, size_t n) {
   FILE *f = fopen(path, "wb");
   if (!f || fwrite(data, 1, n, f) != n)
      die(1, "cannot write %s", path);
   fclose(f);
}

/* Loading must fail with a message containing want. */
static void refused(const char *path, const char *want, const char *name) {
   char *err = NULL;
   Distill *m = Distill_load(path, &err);
   ok(!m && err && strstr(err, want), "%s is refused (%s)", name, err ? err : "no error");
   Distill_free(m);
   free(err);
}

static void test_errors(const Set *tr) {
   char *err = NULL;
   DistillParams p;
   Distill_defaults(&p);
   p.lr = 0;
   Progress none = {0};
   Distill *m = train(tr, &p, &none, &err);
   ok(!m && err && strstr(err, "lr 0"), "lr 0 is refused (%s)", err ? err : "no error");
   free(err);

   const char *one[] = {"billing", "billing", "billing"};
   err = NULL;
   m = Distill_train((const char *const *)tr->text, one, 3, NULL, NULL, 0, NULL, NULL, NULL, &err);
   ok(!m && err && strstr(err, "at least 2"), "a single label is refused (%s)", err ? err : "no error");
   free(err);

   const char *vt[] = {"where is my parcel"}, *vl[] = {"cancel"};
   err = NULL;
   m = Distill_train((const char *const *)tr->text, tr->label, tr->n, vt, vl, 1, NULL, NULL, NULL, &err);
   ok(!m && err && strstr(err, "\"cancel\""), "an unknown validation label is refused (%s)", err ? err : "no error");
   free(err);

   Progress prog = {.cancel_at = 2};
   err = NULL;
   m = train(tr, NULL, &prog, &err);
   ok(!m && err && strstr(err, "cancelled at epoch 2"), "returning false from the callback cancels (%s)", err ? err : "no error");
   is_int(prog.calls, 2, "no epoch runs after the cancel");
   free(err);
}

static void test_file(const Distill *m, const Set *te, const char *dir) {
   char *path = xasprintf("%s/model.bin", dir), *bad = xasprintf("%s/bad.bin", dir);
   char *err = NULL;
   bool saved = Distill_save(m, path, &err);
   ok(saved && !err, "save (%s)", err ? err : "ok");
   free(err);

   err = NULL;
   Distill *back = Distill_load(path, &err);
   ok(back && !err, "load (%s)", err ? err : "ok");
   free(err);
   if (back) {
      is_int(Distill_nlabels(back), Distill_nlabels(m), "loaded label count");
      ok(Distill_temperature(back) == Distill_temperature(m), "loaded temperature is identical");
      ok(same_predictions(m, back, te), "loaded model predicts identically");
      Distill_free(back);
   }

   size_t n = 0;
   unsigned char *bytes = read_all(path, &n);
   ok(bytes && n > 100, "model file has %zu bytes", n);
   if (!bytes)
      bytes = xcalloc(1, 1);

   write_all(bad, bytes, n / 2);
   refused(bad, "truncated", "a file cut in half");
   write_all(bad, bytes, 12);
   refused(bad, "truncated", "a file cut inside the header");
   write_all(bad, "", 0);
   refused(bad, "not a distill model", "an empty file");
   const char csv[] = "text,category\nwhere is my card,card_arrival\n";
   write_all(bad, csv, sizeof csv - 1);
   refused(bad, "not a distill model", "a CSV file");

   if (n > 100) {
      unsigned char *copy = xmalloc(n);
      memcpy(copy, bytes, n);
      copy[n / 2] ^= 0x10;
      write_all(bad, copy, n);
      refused(bad, "checksum", "a file with one flipped byte");

      /* a newer version with a valid checksum must be refused for its version, not its bytes */
      memcpy(copy, bytes, n);
      copy[8] = 2;
      uint64_t h = hash64(copy, n - 8);
      for (int i = 0; i < 8; i++)
         copy[n - 8 + i] = (unsigned char)(h >> (8 * i));
      write_all(bad, copy, n);
      refused(bad, "version 2", "a file from a newer format version");

      memcpy(copy, bytes, n);
      copy[n - 9] = 0xff;
      copy[n - 10] = 0xff;  /* last weight becomes a NaN */
      h = hash64(copy, n - 8);
      for (int i = 0; i < 8; i++)
         copy[n - 8 + i] = (unsigned char)(h >> (8 * i));
      write_all(bad, copy, n);
      refused(bad, "weights not finite", "a file with a NaN weight");
      free(copy);
   }
   refused("/nonexistent/model.bin", "cannot open", "a missing file");

   err = NULL;
   saved = Distill_save(m, "/nonexistent/dir/model.bin", &err);
   ok(!saved && err && strstr(err, "/nonexistent/dir/model.bin"), "saving into a missing directory fails (%s)",
      err ? err : "no error");
   free(err);

   free(bytes);
   unlink(path);
   unlink(bad);
   free(path);
   free(bad);
}

static void test_predict(const Distill *m) {
   int idx[NLABELS + 2];
   double lp[NLABELS + 2];
   int got = Distill_predict(m, "I was charged a fee twice on my invoice", 3, idx, lp);
   is_int(got, 3, "top-3 returns 3 labels");
   is_str(Distill_label(m, idx[0]), "billing", "top label of a billing text");
   ok(lp[0] >= lp[1] && lp[1] >= lp[2], "top-3 sorted (%.3f %.3f %.3f)", lp[0], lp[1], lp[2]);
   double sum = exp(lp[0]) + exp(lp[1]) + exp(lp[2]);
   ok(sum <= 1 + 1e-9 && lp[2] <= 0, "top-3 probabilities sum to %.6f <= 1", sum);
   ok(idx[0] != idx[1] && idx[1] != idx[2] && idx[0] != idx[2], "top-3 labels are distinct");

   got = Distill_predict(m, "", NLABELS + 2, idx, lp);
   is_int(got, NLABELS, "k above the label count is clamped");
   sum = 0;
   for (int i = 0; i < got; i++)
      sum += exp(lp[i]);
   is_near(sum, 1.0, 1e-9, "all labels' probabilities sum to 1 (empty text)");
   is_int(Distill_predict(m, "refund", 0, idx, lp), 0, "k 0 writes nothing");

   /* one 200 KB "word" plus invalid UTF-8: buffers must grow, nothing may overrun */
   size_t big = 200000;
   char *text = xmalloc(big + 16);
   for (size_t i = 0; i < big; i++)
      text[i] = (char)("ab\xc3\xa9\xff"[i % 5]);
   strcpy(text + big, " my invoice");
   got = Distill_predict(m, text, 1, idx, lp);
   ok(got == 1 && str_eq(Distill_label(m, idx[0]), "billing") && lp[0] <= 0, "a 200 KB text predicts (%s)",
      got == 1 ? Distill_label(m, idx[0]) : "nothing");
   free(text);
}

int main(void) {
   char dir[] = "/tmp/test_distill.XXXXXX";
   if (!mkdtemp(dir))
      die(1, "mkdtemp failed");
   Set tr, te;
   make_set(&tr, NTRAIN);
   make_set(&te, NTEST);

   Progress prog = {0};
   char *err = NULL;
   Distill *m = train(&tr, NULL, &prog, &err);
   ok(m && !err, "train (%s)", err ? err : "ok");
   free(err);
   if (!m)
      return tap_done();
   is_int(Distill_nlabels(m), NLABELS, "label count");
   is_str(Distill_label(m, 0), "billing", "labels are sorted, first");
   is_str(Distill_label(m, NLABELS - 1), "refund", "labels are sorted, last");
   ok(Distill_label(m, NLABELS) == NULL && Distill_label(m, -1) == NULL, "out-of-range label index gives NULL");
   ok(prog.calls >= 1 && prog.last_epoch == prog.calls, "progress called once per epoch (%d)", prog.calls);
   ok(isfinite(prog.last_train) && isfinite(prog.last_valid) && prog.last_valid < log(NLABELS),
      "validation loss %.4f beats chance (%.4f)", prog.last_valid, log(NLABELS));
   ok(prog.last_acc >= 0.95, "validation accuracy %.3f", prog.last_acc);
   double acc = accuracy(m, &te);
   ok(acc >= 0.97, "test accuracy %.3f on a separable task", acc);
   double t = Distill_temperature(m);
   ok(isfinite(t) && t > 0, "temperature %.4f is positive", t);

   test_predict(m);
   test_file(m, &te, dir);

   err = NULL;
   Distill *again = train(&tr, NULL, &prog, &err);
   ok(again && same_predictions(m, again, &te), "same seed, same predictions");
   Distill_free(again);
   free(err);

   DistillParams p;
   Distill_defaults(&p);
   p.seed = 7;
   err = NULL;
   Distill *other = train(&tr, &p, &prog, &err);
   ok(other && !same_predictions(m, other, &te), "another seed gives another model");
   Distill_free(other);
   free(err);

   err = NULL;
   Distill *withval = Distill_train((const char *const *)tr.text, tr.label, tr.n, (const char *const *)te.text,
                                    te.label, te.n, NULL, NULL, NULL, &err);
   ok(withval && accuracy(withval, &te) >= 0.97, "training with an explicit validation set");
   Distill_free(withval);
   free(err);

   test_errors(&tr);

   Distill_free(m);
   free_set(&tr);
   free_set(&te);
   rmdir(dir);
   return tap_done();
}
