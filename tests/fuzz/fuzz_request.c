/* fuzz_request.c - libFuzzer target over the gateway's request-handling path: body parsing,
 * task attribution (header, alias, fingerprint), route JSON, response parsing, stream
 * assembly, comparison and confidence. Built and run by bench/fuzz.sh. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/compare.h"
#include "common/util.h"
#include "fuzz_routes.h"
#include "gateway/gwintake.h"
#include "gateway/route.h"

static Route *routes[2];

static void setup(void) {
   fuzz_routes(routes, "{\"url\":\"http://127.0.0.1:9/v1\"}");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
   if (!routes[0])
      setup();
   const char *text = (const char *)data;
   char *why = NULL;
   GwRequest req;
   const char *task;
   if (Gateway_parse_request(text, size, &req, &why)) {
      Route_attribute(routes, 2, NULL, req.model, text, size, &task);
      Route_attribute(routes, 2, req.user, req.model, text, size, &task);
      GwRequest_clear(&req);
   }
   free(why);
   json_t *any = json_loadb(text, size, JSON_DECODE_ANY, NULL);
   char *err = NULL;
   Route *r = Route_from_json("fuzz", any, &err);
   Route_unref(r);
   free(err);
   json_t *streamed = Compare_stream_response(text, size);
   /* Two answers from the halves of the input, and the parsed ones against a fixed label. */
   char *a = xstrndup(text, size / 2), *b = xstrndup(text + size / 2, size - size / 2);
   for (int m = COMPARE_LABEL; m <= COMPARE_TEXT; m++) {
      Compare_answers((CompareMode)m, a, b);
      Compare_answers((CompareMode)m, Compare_answer(any), "billing");
      Compare_answers((CompareMode)m, Compare_answer(streamed), Compare_answer(any));
      char *scanned = Compare_answer_text(text, size);
      /* The scanner and the parser must read the same answer. */
      if (!Compare_answers(COMPARE_EXACT, scanned, Compare_answer(any)) && (scanned || Compare_answer(any)) &&
          json_is_object(any))
         abort();
      free(scanned);
      Compare_confidence(any, (CompareMode)m);
      Compare_confidence(streamed, (CompareMode)m);
   }
   free(a);
   free(b);
   json_decref(streamed);
   json_decref(any);
   return 0;
}
