/* mkexchanges.c - test helper: CSV rows (text,label[,defect]) into exchange records of a task in
 * a workspace, each as a frontier call with a fixed system prompt, the text as the user message
 * and the label as the answer. Turns banking77-style data sets into something to build from. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/task.h"
#include "records.h"

static const char usage[] =
   "usage: mkexchanges WORKSPACE TASK FILE.csv... [--system TEXT] [--start EPOCH] [--step SECONDS]\n"
   "CSV with a header line; columns text,label and optionally a defect (error, error-object,\n"
   "truncated, empty, flagged, corrected). Quoted fields as in RFC 4180.\n";

/* One CSV field from *p (quotes undone) into sb; *end_of_row set at a line end or EOF. */
static bool csv_field(const char **p, Sbuf *sb, bool *end_of_row) {
   const char *s = *p;
   Sbuf_reset(sb);
   Sbuf_puts(sb, "");
   if (*s == '"') {
      s++;
      for (;;) {
         if (!*s)
            return false;
         if (*s == '"' && s[1] == '"') {
            Sbuf_putc(sb, '"');
            s += 2;
         } else if (*s == '"') {
            s++;
            break;
         } else {
            Sbuf_putc(sb, *s++);
         }
      }
   } else {
      while (*s && *s != ',' && *s != '\n' && *s != '\r')
         Sbuf_putc(sb, *s++);
   }
   if (*s == ',') {
      *end_of_row = false;
      s++;
   } else {
      *end_of_row = true;
      if (*s == '\r')
         s++;
      if (*s == '\n')
         s++;
      else if (*s)
         return false;
   }
   *p = s;
   return true;
}

/* The next CSV record of f into rec: lines are joined while a quoted field is still open. */
static bool csv_record(FILE *f, Sbuf *rec) {
   char *line = NULL;
   size_t cap = 0;
   size_t quotes = 0;
   Sbuf_reset(rec);
   while (getline(&line, &cap, f) > 0) {
      Sbuf_puts(rec, line);
      for (const char *p = line; *p; p++)
         quotes += *p == '"';
      if (quotes % 2 == 0)
         break;
   }
   free(line);
   return rec->len > 0;
}

static bool load_csv(RecordGen *g, const char *path, long long *added) {
   FILE *in = fopen(path, "r");
   if (!in) {
      fprintf(stderr, "mkexchanges: cannot read %s\n", path);
      return false;
   }
   Sbuf rec = { 0 }, f[3] = { { 0 } };
   bool ok = csv_record(in, &rec);   /* the header */
   long long line = 1;
   while (ok && csv_record(in, &rec)) {
      const char *p = rec.buf;
      int nf = 0;
      bool end = false;
      line++;
      while (ok && !end) {
         Sbuf scratch = { 0 };
         ok = csv_field(&p, nf < 3 ? &f[nf] : &scratch, &end);
         Sbuf_free(&scratch);
         nf++;
      }
      Defect d = DEFECT_NONE;
      if (!ok) {
         fprintf(stderr, "mkexchanges: %s:%lld: bad CSV quoting\n", path, line);
      } else if (nf == 1 && !*f[0].buf) {
         continue;
      } else if (nf < 2 || (nf >= 3 && !Defect_parse(f[2].buf, &d))) {
         fprintf(stderr, "mkexchanges: %s:%lld: want text,label[,defect]\n", path, line);
         ok = false;
      } else {
         char *err = NULL;
         ok = Records_add(g, f[0].buf, f[1].buf, d, &err);
         if (!ok)
            fprintf(stderr, "mkexchanges: %s\n", err);
         free(err);
         (*added)++;
      }
   }
   for (int i = 0; i < 3; i++)
      Sbuf_free(&f[i]);
   Sbuf_free(&rec);
   fclose(in);
   return ok;
}

int main(int argc, char **argv) {
   RecordGen g = { .system = "Classify the customer's banking question into one intent. Answer with the intent name only.",
                   .t0 = 1793491200 /* 2026-11-01T00:00:00Z */, .step = 60 };
   const char *files[64];
   int nfiles = 0;
   const char *args[2];
   int nargs = 0;
   for (int i = 1; i < argc; i++) {
      if (str_eq(argv[i], "--system") && i + 1 < argc)
         g.system = argv[++i];
      else if (str_eq(argv[i], "--start") && i + 1 < argc)
         g.t0 = atoll(argv[++i]);
      else if (str_eq(argv[i], "--step") && i + 1 < argc)
         g.step = atoll(argv[++i]);
      else if (argv[i][0] == '-')
         break;
      else if (nargs < 2)
         args[nargs++] = argv[i];
      else if (nfiles < (int)ARRAY_SIZE(files))
         files[nfiles++] = argv[i];
   }
   if (nargs < 2 || nfiles == 0) {
      fputs(usage, stderr);
      return 2;
   }
   char *err = NULL;
   g.st = Store_open(args[0], STORE_CREATE, &err);
   if (!g.st) {
      fprintf(stderr, "mkexchanges: %s\n", err);
      return 1;
   }
   g.task = args[1];
   /* Ids unique per run, so a second file or run adds rather than deduplicates. */
   long long existing = Store_count(g.st, "SELECT count(*) FROM exchanges", 0);
   char *prefix = xasprintf("%s-%lld", g.task, existing);
   g.prefix = prefix;
   g.n = 0;
   g.w = ExchangeWriter_new(g.st, Task_create_in_tx);
   bool ok = Store_begin(g.st, &err);
   long long added = 0;
   for (int i = 0; ok && i < nfiles; i++)
      ok = load_csv(&g, files[i], &added);
   if (ok)
      ok = Store_commit(g.st, &err);
   else
      Store_rollback(g.st);
   if (err)
      fprintf(stderr, "mkexchanges: %s\n", err);
   ExchangeWriter_free(g.w);
   Store_close(g.st);
   free(prefix);
   free(err);
   if (ok)
      printf("%lld records\n", added);
   return ok ? 0 : 1;
}
