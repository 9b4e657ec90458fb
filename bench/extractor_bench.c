/* extractor_bench.c - trains the extractor on chat JSONL whose answers are JSON objects and
 * scores it on another file: field-level precision, recall and F1 per field and micro-averaged
 * (a predicted value counts when it equals the expected one; null is "no value"). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "trainer/chatdata.h"
#include "trainer/tagger.h"

static bool load(const char *path, ChatData *d) {
   char *err = NULL;
   size_t len;
   char *text = read_file(path, &len, &err);
   if (!text || !ChatData_parse(text, len, d, &err)) {
      fprintf(stderr, "extractor_bench: %s: %s\n", path, err);
      return false;
   }
   free(text);
   return true;
}

int main(int argc, char **argv) {
   if (argc < 3) {
      fprintf(stderr, "usage: extractor_bench TRAIN.jsonl TEST.jsonl [MODEL-PATH]\n");
      return 2;
   }
   ChatData tr, te;
   if (!load(argv[1], &tr) || !load(argv[2], &te))
      return 1;
   char *err = NULL;
   double t0 = mono_seconds();
   Tagger *m = Tagger_train((const char *const *)tr.texts, (const char *const *)tr.labels, tr.n, NULL, NULL, NULL, &err);
   double t1 = mono_seconds();
   if (!m) {
      fprintf(stderr, "extractor_bench: %s\n", err);
      return 1;
   }
   if (argc > 3 && !Tagger_save(m, argv[3], &err)) {
      fprintf(stderr, "extractor_bench: %s\n", err);
      return 1;
   }
   int nf = Tagger_nfields(m);
   long *tp = xcalloc((size_t)nf, sizeof *tp), *fp = xcalloc((size_t)nf, sizeof *fp), *fn = xcalloc((size_t)nf, sizeof *fn);
   double t2 = mono_seconds();
   for (size_t i = 0; i < te.n; i++) {
      json_t *want = json_loads(te.labels[i], 0, NULL), *got = Tagger_extract(m, te.texts[i], NULL);
      for (int k = 0; k < nf; k++) {
         json_t *a = json_object_get(want, Tagger_field(m, k)), *b = json_object_get(got, Tagger_field(m, k));
         bool has_a = a && !json_is_null(a), has_b = b && !json_is_null(b);
         if (has_a && has_b && json_equal(a, b)) {
            tp[k]++;
         } else {
            fp[k] += has_b;
            fn[k] += has_a;
         }
      }
      json_decref(want);
      json_decref(got);
   }
   double t3 = mono_seconds();
   long TP = 0, FP = 0, FN = 0;
   for (int k = 0; k < nf; k++) {
      double p = tp[k] + fp[k] ? (double)tp[k] / (double)(tp[k] + fp[k]) : 0;
      double r = tp[k] + fn[k] ? (double)tp[k] / (double)(tp[k] + fn[k]) : 0;
      printf("f1_%s %.2f\n", Tagger_field(m, k), p + r > 0 ? 100 * 2 * p * r / (p + r) : 0);
      TP += tp[k];
      FP += fp[k];
      FN += fn[k];
   }
   double P = TP + FP ? (double)TP / (double)(TP + FP) : 0, R = TP + FN ? (double)TP / (double)(TP + FN) : 0;
   printf("micro_f1 %.2f\n", P + R > 0 ? 100 * 2 * P * R / (P + R) : 0);
   printf("micro_precision %.2f\nmicro_recall %.2f\n", 100 * P, 100 * R);
   printf("train_time %.3f\n", t1 - t0);
   printf("extract_us %.1f\n", 1e6 * (t3 - t2) / (double)(te.n ? te.n : 1));
   printf("epoch %d\nheldout_accuracy %.4f\n", Tagger_epoch(m), Tagger_valid_accuracy(m));
   Tagger_free(m);
   ChatData_free(&tr);
   ChatData_free(&te);
   free(tp);
   free(fp);
   free(fn);
   return 0;
}
