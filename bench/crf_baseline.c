/* crf_baseline.c - the CRF anchor for bench/extractor.sh: one linear-chain CRF per field
 * (CRFsuite, L-BFGS, its defaults but max_iterations) over the same tokens, BIO tags, span
 * alignment, decoding rule (the first B I* span) and scoring as bench/extractor_bench.c, with
 * the extractor's own feature strings (Tagger_features) as CRFsuite attributes. Built by the bench script against
 * CRFsuite's C source from the npm package crfsuite; never part of offramp. */
#include "config.h"

#include <crfsuite.h>
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
      fprintf(stderr, "crf_baseline: %s: %s\n", path, err);
      return false;
   }
   free(text);
   return true;
}

/* The extractor's own feature strings of each token as CRFsuite attributes. */
static void items(const char *text, crfsuite_dictionary_t *attrs, bool add, crfsuite_instance_t *inst,
                  const int *labels) {
   TaggerTok *t;
   size_t nt = Tagger_tokenize(text, &t), len;
   char *all = Tagger_features(text, t, nt, &len);
   const char *p = all;
   for (size_t i = 0; i < nt; i++) {
      crfsuite_item_t item;
      crfsuite_item_init(&item);
      for (int k = 0; k < TAGGER_NFEAT; k++, p += strlen(p) + 1) {
         int aid = add ? attrs->get(attrs, p) : attrs->to_id(attrs, p);
         if (aid >= 0) {
            crfsuite_attribute_t a;
            crfsuite_attribute_set(&a, aid, 1.0);
            crfsuite_item_append_attribute(&item, &a);
         }
      }
      crfsuite_instance_append(inst, &item, labels ? labels[i] : 0);
      crfsuite_item_finish(&item);
   }
   free(all);
   free(t);
}

static int silent(void *user, const char *format, va_list args) {
   (void)user;
   (void)format;
   (void)args;
   return 0;
}

int main(int argc, char **argv) {
   if (argc < 4) {
      fprintf(stderr, "usage: crf_baseline TRAIN.jsonl TEST.jsonl WORKDIR [MAX-ITERATIONS]\n");
      return 2;
   }
   ChatData tr, te;
   if (!load(argv[1], &tr) || !load(argv[2], &te))
      return 1;
   int max_iter = argc > 4 ? atoi(argv[4]) : 100;
   /* The fields, in first-seen order, as the extractor has them. */
   char *fields[TAGGER_MAX_FIELDS];
   int nf = 0;
   for (size_t r = 0; r < tr.n; r++) {
      json_t *o = json_loads(tr.labels[r], 0, NULL);
      const char *key;
      json_t *v;
      json_object_foreach(o, key, v) {
         bool seen = false;
         for (int k = 0; k < nf; k++)
            seen |= str_eq(fields[k], key);
         if (!seen && nf < TAGGER_MAX_FIELDS)
            fields[nf++] = xstrdup(key);
      }
      json_decref(o);
   }
   double train_time = 0, t_extract = 0;
   long TP = 0, FP = 0, FN = 0;
   for (int k = 0; k < nf; k++) {
      double t0 = mono_seconds();
      crfsuite_data_t data;
      crfsuite_data_init(&data);
      crfsuite_create_instance("dictionary", (void **)&data.attrs);
      crfsuite_create_instance("dictionary", (void **)&data.labels);
      int lid[3] = { data.labels->get(data.labels, "O"), data.labels->get(data.labels, "B"),
                     data.labels->get(data.labels, "I") };
      for (size_t r = 0; r < tr.n; r++) {
         json_t *o = json_loads(tr.labels[r], 0, NULL), *v = json_object_get(o, fields[k]);
         char *val = v && !json_is_null(v) ? Tagger_value_text(v) : NULL;
         TaggerTok *t;
         size_t nt = Tagger_tokenize(tr.texts[r], &t), a = 0, l = 0;
         bool none = !v || json_is_null(v);
         if (nt && (none || (val && Tagger_align(tr.texts[r], t, nt, val, &a, &l)))) {
            int *lab = xmalloc(nt * sizeof *lab);
            for (size_t i = 0; i < nt; i++)
               lab[i] = lid[none || i < a || i >= a + l ? 0 : i == a ? 1 : 2];
            crfsuite_instance_t inst;
            crfsuite_instance_init(&inst);
            items(tr.texts[r], data.attrs, true, &inst, lab);
            crfsuite_data_append(&data, &inst);
            crfsuite_instance_finish(&inst);
            free(lab);
         }
         free(t);
         free(val);
         json_decref(o);
      }
      crfsuite_trainer_t *trainer = NULL;
      if (!crfsuite_create_instance("train/crf1d/lbfgs", (void **)&trainer)) {
         fprintf(stderr, "crf_baseline: CRFsuite has no train/crf1d/lbfgs\n");
         return 1;
      }
      crfsuite_params_t *params = trainer->params(trainer);
      params->set_int(params, "max_iterations", max_iter);
      params->release(params);
      trainer->set_message_callback(trainer, NULL, silent);
      char *path = xasprintf("%s/%s.crf", argv[3], fields[k]);
      if (trainer->train(trainer, &data, path, -1) != 0) {
         fprintf(stderr, "crf_baseline: training field %s failed\n", fields[k]);
         return 1;
      }
      trainer->release(trainer);
      crfsuite_dictionary_t *da = data.attrs, *dl = data.labels;
      crfsuite_data_finish(&data);   /* clears the struct, not the dictionaries */
      da->release(da);
      dl->release(dl);
      train_time += mono_seconds() - t0;

      double t1 = mono_seconds();
      crfsuite_model_t *model = NULL;
      crfsuite_tagger_t *tagger = NULL;
      crfsuite_dictionary_t *attrs = NULL, *labels = NULL;
      if (crfsuite_create_instance_from_file(path, (void **)&model) != 0 || model->get_tagger(model, &tagger) != 0 ||
          model->get_attrs(model, &attrs) != 0 || model->get_labels(model, &labels) != 0) {
         fprintf(stderr, "crf_baseline: cannot read back %s\n", path);
         return 1;
      }
      int B = labels->to_id(labels, "B"), I = labels->to_id(labels, "I");
      long tp = 0, fp = 0, fn = 0;
      for (size_t r = 0; r < te.n; r++) {
         json_t *o = json_loads(te.labels[r], 0, NULL), *want = json_object_get(o, fields[k]);
         char *gold = want && !json_is_null(want) ? Tagger_value_text(want) : NULL;
         crfsuite_instance_t inst;
         crfsuite_instance_init(&inst);
         items(te.texts[r], attrs, false, &inst, NULL);
         char *got = NULL;
         if (inst.num_items) {
            int *out = xmalloc((size_t)inst.num_items * sizeof *out);
            floatval_t score;
            tagger->set(tagger, &inst);
            tagger->viterbi(tagger, out, &score);
            TaggerTok *t;
            Tagger_tokenize(te.texts[r], &t);
            for (int i = 0; i < inst.num_items && !got; i++) {
               if (out[i] == B) {
                  int j = i + 1;
                  while (j < inst.num_items && out[j] == I)
                     j++;
                  got = xstrndup(te.texts[r] + t[i].start, t[j - 1].end - t[i].start);
               }
            }
            free(t);
            free(out);
         }
         crfsuite_instance_finish(&inst);
         if (gold && got && str_eq(gold, got)) {
            tp++;
         } else {
            fp += got != NULL;
            fn += gold != NULL;
         }
         free(gold);
         free(got);
         json_decref(o);
      }
      double p = tp + fp ? (double)tp / (double)(tp + fp) : 0, rc = tp + fn ? (double)tp / (double)(tp + fn) : 0;
      printf("f1_%s %.2f\n", fields[k], p + rc > 0 ? 100 * 2 * p * rc / (p + rc) : 0);
      TP += tp;
      FP += fp;
      FN += fn;
      attrs->release(attrs);
      labels->release(labels);
      tagger->release(tagger);
      model->release(model);
      free(path);
      t_extract += mono_seconds() - t1;
   }
   double P = TP + FP ? (double)TP / (double)(TP + FP) : 0, R = TP + FN ? (double)TP / (double)(TP + FN) : 0;
   printf("micro_f1 %.2f\n", P + R > 0 ? 100 * 2 * P * R / (P + R) : 0);
   printf("micro_precision %.2f\nmicro_recall %.2f\n", 100 * P, 100 * R);
   printf("train_time %.3f\n", train_time);
   printf("extract_us %.1f\n", 1e6 * t_extract / (double)(te.n ? te.n : 1));
   for (int k = 0; k < nf; k++)
      free(fields[k]);
   ChatData_free(&tr);
   ChatData_free(&te);
   return 0;
}
