/* distill_bench.c - trains the distiller on a text,category CSV and measures it on another. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "trainer/distill.h"

#define ECE_BINS 15

typedef struct {
   char **text;
   char **label;
   size_t n;
} Table;

/* One RFC 4180 field starting at *p (quotes, doubled quotes, embedded newlines); *end_row is set
 * when the field ends its record. */
static char *csv_field(const char **p, bool *end_row) {
   Sbuf f = {0};
   const char *s = *p;
   if (*s == '"') {
      s++;
      for (;;) {
         if (!*s)
            break;
         if (*s == '"') {
            if (s[1] != '"') {
               s++;
               break;
            }
            s++;
         }
         Sbuf_putc(&f, *s++);
      }
   }
   while (*s && *s != ',' && *s != '\n' && *s != '\r')
      Sbuf_putc(&f, *s++);
   if (*s == '\r')
      s++;
   *end_row = *s != ',';
   if (*s)
      s++;
   *p = s;
   return Sbuf_steal(&f);
}

static char *slurp(const char *path) {
   char *err = NULL;
   char *text = read_file(path, NULL, &err);
   if (!text)
      die(2, "%s (check the path)", err);
   return text;
}

/* Reads the "text" and "category" (or "label") columns of a CSV with a header row. */
static Table read_csv(const char *path) {
   char *data = slurp(path);
   const char *p = data;
   int text_col = -1, label_col = -1, ncol = 0;
   for (bool end = false; !end && *p; ncol++) {
      char *name = csv_field(&p, &end);
      if (str_eq(name, "text"))
         text_col = ncol;
      else if (str_eq(name, "category") || str_eq(name, "label"))
         label_col = ncol;
      free(name);
   }
   if (text_col < 0 || label_col < 0)
      die(2, "%s: the header needs a text and a category column (got %d columns)", path, ncol);
   Table t = {0};
   size_t cap = 0, line = 1;
   while (*p) {
      char *text = NULL, *label = NULL;
      int col = 0;
      line++;
      for (bool end = false; !end && *p; col++) {
         char *f = csv_field(&p, &end);
         if (col == text_col)
            text = f;
         else if (col == label_col)
            label = f;
         else
            free(f);
      }
      if (!text || !label) {
         if (col > 1 || (text && *text))
            die(2, "%s: record %zu has %d columns, the header has %d", path, line, col, ncol);
         free(text);
         free(label);
         continue;
      }
      if (t.n == cap) {
         cap = cap ? 2 * cap : 1024;
         t.text = xrealloc(t.text, cap * sizeof *t.text);
         t.label = xrealloc(t.label, cap * sizeof *t.label);
      }
      t.text[t.n] = text;
      t.label[t.n++] = label;
   }
   free(data);
   return t;
}

static void Table_free(Table *t) {
   for (size_t i = 0; i < t->n; i++) {
      free(t->text[i]);
      free(t->label[i]);
   }
   free(t->text);
   free(t->label);
}

static bool progress(void *ctx, int epoch, int epochs_max, double train_loss, double valid_loss, double valid_acc) {
   *(int *)ctx = epoch;
   fprintf(stderr, "epoch %2d/%d  train loss %.4f  valid loss %.4f  valid accuracy %.2f %%\n",
           epoch, epochs_max, train_loss, valid_loss, 100 * valid_acc);
   return true;
}

static int cmp_double(const void *a, const void *b) {
   double x = *(const double *)a, y = *(const double *)b;
   return (x > y) - (x < y);
}

int main(int argc, char **argv) {
   progname = "distill_bench";
   const char *model_path = NULL;
   if (argc == 5 && str_eq(argv[3], "--model"))
      model_path = argv[4];
   else if (argc != 3)
      die(2, "usage: distill_bench TRAIN.csv TEST.csv [--model OUT]");
   Table train = read_csv(argv[1]), test = read_csv(argv[2]);
   if (test.n == 0)
      die(2, "%s: no test rows", argv[2]);

   char *err = NULL;
   int epochs = 0;
   double t0 = mono_seconds();
   Distill *trained = Distill_train((const char *const *)train.text, (const char *const *)train.label, train.n,
                                    NULL, NULL, 0, NULL, progress, &epochs, &err);
   double train_s = mono_seconds() - t0;
   if (!trained)
      die(1, "%s", err);

   /* measure the model as it comes back from disk, which also exercises the round trip */
   char *tmp = model_path ? xstrdup(model_path) : xasprintf("/tmp/distill_bench.%ld.model", (long)getpid());
   if (!Distill_save(trained, tmp, &err))
      die(1, "%s", err);
   Distill_free(trained);
   struct stat st;
   if (stat(tmp, &st) != 0)
      die(1, "cannot stat %s: %m", tmp);
   Distill *m = Distill_load(tmp, &err);
   if (!m)
      die(1, "%s", err);
   if (!model_path)
      unlink(tmp);

   double *lat = xmalloc(test.n * sizeof *lat);
   double bin_n[ECE_BINS] = {0}, bin_conf[ECE_BINS] = {0}, bin_right[ECE_BINS] = {0};
   size_t right = 0;
   for (size_t i = 0; i < test.n; i++) {
      int idx;
      double lp;
      double s = mono_seconds();
      Distill_predict(m, test.text[i], 1, &idx, &lp);
      lat[i] = (mono_seconds() - s) * 1e6;
      bool hit = str_eq(Distill_label(m, idx), test.label[i]);
      double conf = exp(lp);
      int b = (int)(conf * ECE_BINS);
      if (b >= ECE_BINS)
         b = ECE_BINS - 1;
      bin_n[b]++;
      bin_conf[b] += conf;
      bin_right[b] += hit;
      right += hit;
   }
   double ece = 0;
   for (int b = 0; b < ECE_BINS; b++)
      ece += fabs(bin_conf[b] - bin_right[b]);
   ece /= (double)test.n;
   qsort(lat, test.n, sizeof *lat, cmp_double);
   struct rusage ru;
   getrusage(RUSAGE_SELF, &ru);

   char c1[32], c2[32], c3[32];
   printf("train_time %.2f s (%s rows, %d labels, %d epochs, temperature %.3f)\n", train_s,
          fmt_count(c1, sizeof c1, (long long)train.n), Distill_nlabels(m), epochs, Distill_temperature(m));
   printf("test_accuracy %.2f %% (n=%s)\n", 100.0 * (double)right / (double)test.n, fmt_count(c2, sizeof c2, (long long)test.n));
   printf("ece %.4f (%d bins)\n", ece, ECE_BINS);
   printf("peak_rss %.1f MB\n", ru.ru_maxrss / 1024.0);
   printf("model_size %.2f MB (%s features)\n", (double)st.st_size / (1024.0 * 1024.0),
          fmt_count(c3, sizeof c3, (long long)Distill_nfeatures(m)));
   printf("predict_p50 %.1f us\n", lat[test.n / 2]);
   printf("predict_p99 %.1f us\n", lat[(size_t)((double)test.n * 0.99)]);

   free(lat);
   free(tmp);
   Distill_free(m);
   Table_free(&train);
   Table_free(&test);
   return 0;
}
