/* fuzz_import.c - libFuzzer target for the importer: one input is one log file. Built
 * three ways by bench/fuzz: FUZZ_FORMAT 0 feeds JSON lines as they are (offramp exchange
 * records, OpenAI pairs and Batch output, LiteLLM JSON rows), 1 prefixes a LiteLLM CSV
 * header so the bytes are read as spend-log CSV rows. Every record goes through
 * ExchangeWriter_add into a real workspace. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "control/importer.h"
#include "store/store.h"

#ifndef FUZZ_FORMAT
#define FUZZ_FORMAT 0
#endif

static Store *st;

static const char csv_header[] =
   "request_id,call_type,spend,prompt_tokens,completion_tokens,startTime,endTime,model,metadata,request_tags,"
   "messages,response,status\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
   char *err = NULL;
   if (!st) {
      char *path = xasprintf("/tmp/offramp-fuzz-%d.db", (int)getpid());
      unlink(path);
      st = Store_open(path, STORE_CREATE, &err);
      if (!st)
         abort();
      free(path);
   }
   ImportOptions o;
   ImportOptions_init(&o);
   o.max_record = 1 << 16;
   o.chunk = 7;
   Importer *im = Importer_new(st, &o, &err);
   if (!im)
      abort();
   Sbuf sb = { 0 };
   if (FUZZ_FORMAT == 1)
      Sbuf_puts(&sb, csv_header);
   Sbuf_add(&sb, (const char *)data, size);
   if (!Importer_buffer(im, "fuzz", sb.buf, sb.len, &err))
      abort();   /* a workspace error on valid-or-not input is a bug */
   const ImportStats *s = Importer_stats(im);
   if (s->imported + s->duplicates + s->malformed != s->rows)
      abort();   /* every record is accounted for */
   Importer_free(im);
   Sbuf_free(&sb);
   free(err);
   return 0;
}
