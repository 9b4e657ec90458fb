/* test_compare.c - comparison modes, confidence from logprobs, stream assembly. */
#include "config.h"

#include "compare.h"
#include "util.h"
#include "tap.h"

static json_t *resp(const char *content, const char *logprobs) {
   char *s = NULL;
   json_t *lp = logprobs ? json_loads(logprobs, 0, NULL) : NULL;
   json_t *choice = json_pack("{s:i, s:{s:s, s:s}}", "index", 0, "message", "role", "assistant", "content", content);
   if (lp)
      json_object_set_new(choice, "logprobs", lp);
   (void)s;
   return json_pack("{s:[o]}", "choices", choice);
}

int main(void) {
   CompareMode m;
   ok(Compare_mode_parse("json", &m) && m == COMPARE_JSON, "parse json mode");
   ok(!Compare_mode_parse("fuzzy", &m), "unknown mode refused");
   is_str(Compare_mode_name(COMPARE_TEXT), "text", "mode name");

   ok(Compare_answers(COMPARE_LABEL, "  Billing\n", "billing"), "label: trimmed and case-folded");
   ok(!Compare_answers(COMPARE_LABEL, "billing", "bill ing"), "label: inner difference counts");
   ok(!Compare_answers(COMPARE_LABEL, "billing", "refund"), "label: different labels");
   ok(Compare_answers(COMPARE_EXACT, "a b", "a b"), "exact: same bytes");
   ok(!Compare_answers(COMPARE_EXACT, "a b", "a  b"), "exact: whitespace counts");
   ok(!Compare_answers(COMPARE_EXACT, "Yes", "yes"), "exact: case counts");
   ok(Compare_answers(COMPARE_TEXT, " The  cat\n sat ", "The cat sat"), "text: whitespace normalised");
   ok(!Compare_answers(COMPARE_TEXT, "The cat", "the cat"), "text: case counts");
   ok(Compare_answers(COMPARE_JSON, "{\"a\":1,\"b\":[1,2]}", "{ \"b\": [1, 2], \"a\": 1.0 }"),
      "json: key order and number spelling ignored");
   ok(!Compare_answers(COMPARE_JSON, "{\"a\":1,\"b\":[1,2]}", "{\"a\":1,\"b\":[2,1]}"), "json: array order counts");
   ok(!Compare_answers(COMPARE_JSON, "{\"a\":1}", "{\"a\":1,\"c\":null}"), "json: extra field disagrees");
   ok(Compare_answers(COMPARE_JSON, "```json\n{\"x\":\"y\"}\n```", "{\"x\":\"y\"}"), "json: code fence ignored");
   ok(!Compare_answers(COMPARE_JSON, "{not json", "{not json"), "json: unparsable never agrees");
   ok(!Compare_answers(COMPARE_LABEL, NULL, "x"), "missing answer never agrees");

   json_t *r = resp("billing", NULL);
   is_str(Compare_answer(r), "billing", "answer from choices[0].message.content");
   is_near(Compare_confidence(r, COMPARE_LABEL), -1, 0, "no logprobs: no confidence");
   json_decref(r);

   r = resp("the cat", "{\"content\":[{\"token\":\"the\",\"logprob\":-0.1},{\"token\":\" cat\",\"logprob\":-0.2}]}");
   is_near(Compare_confidence(r, COMPARE_TEXT), exp(-0.3), 1e-9, "text: exp(sum of token logprobs)");
   json_decref(r);

   r = resp("Billing", "{\"content\":[{\"token\":\"Bill\",\"logprob\":-0.5,\"top_logprobs\":["
                       "{\"token\":\"refund\",\"logprob\":-1.2},{\"token\":\"billing\",\"logprob\":-0.05}]},"
                       "{\"token\":\"ing\",\"logprob\":-0.01}]}");
   is_near(Compare_confidence(r, COMPARE_LABEL), exp(-0.05), 1e-9, "label: top_logprobs entry for the answer");
   is_near(Compare_confidence(r, COMPARE_EXACT), exp(-0.51), 1e-9, "other modes: token sum");
   json_decref(r);

   r = resp("x", "{\"content\":[{\"token\":\"x\"}]}");
   is_near(Compare_confidence(r, COMPARE_EXACT), -1, 0, "token without logprob: no confidence");
   json_decref(r);

   const char *sse = "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"bil\"},"
                     "\"logprobs\":{\"content\":[{\"token\":\"bil\",\"logprob\":-0.2}]}}]}\n\n"
                     "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"ling\"},\"finish_reason\":\"stop\","
                     "\"logprobs\":{\"content\":[{\"token\":\"ling\",\"logprob\":-0.1}]}}]}\n\n"
                     "data: [DONE]\n\n";
   r = Compare_stream_response(sse, strlen(sse));
   is_str(Compare_answer(r), "billing", "stream: deltas joined");
   is_str(json_string_value(json_object_get(r, "model")), "m", "stream: model kept");
   is_near(Compare_confidence(r, COMPARE_TEXT), exp(-0.3), 1e-9, "stream: logprobs collected");
   json_decref(r);
   ok(Compare_stream_response("garbage\n", 8) == NULL, "stream: nothing parsed gives NULL");

   /* The gateway reads answers from the text without building it: the same answers as the
    * parser's, including the texts the scanner hands to the parser (escaped keys). */
   static const struct {
      const char *text, *answer;
      double confidence;   /* label mode; -2: do not check */
   } texts[] = {
      { "{\"choices\":[{\"message\":{\"content\":\"billing\"}}]}", "billing", -1 },
      { " {\n \"choices\" : [ {\"message\":{\"role\":\"assistant\",\"content\":\"a\\\"b\\u00e9\"}} ] }\n", "a\"b\xc3\xa9", -1 },
      { "{\"choices\":[{\"message\":{\"content\":null},\"text\":\"x\"}]}", NULL, -1 },
      { "{\"choices\":[{\"text\":\"legacy\"}]}", "legacy", -1 },
      { "{\"choices\":[{\"message\":{\"content\":\"old\"}}],\"choices\":[{\"message\":{\"content\":\"new\"}}]}", "new", -1 },
      { "{\"choic\\u0065s\":[{\"message\":{\"content\":\"escaped key\"}}]}", "escaped key", -1 },
      { "{\"choices\":[]}", NULL, -1 },
      { "[1,2]", NULL, -1 },
      { "{\"choices\":[{\"message\":{\"content\":\"Refund\"},\"logprobs\":{\"content\":[{\"token\":\"Ref\",\"logprob\":-0.5,"
        "\"top_logprobs\":[{\"token\":\"billing\",\"logprob\":-1.2},{\"token\":\" refund \",\"logprob\":-0.25}]},"
        "{\"token\":\"und\",\"logprob\":-0.125}]}}]}", "Refund", 0.7788007830714049 },
      { "{\"choices\":[{\"message\":{\"content\":\"a b\"},\"logprobs\":{\"content\":[{\"token\":\"a\",\"logprob\":-0.5},"
        "{\"token\":\" b\",\"logprob\":-1e-1}]}}]}", "a b", 0.5488116360940264 },
      { "{\"choices\":[{\"message\":{\"content\":\"a\"},\"logprobs\":{\"content\":[{\"token\":\"a\",\"logprob\":\"x\"}]}}]}", "a", -1 },
      { "{\"choices\":[{\"message\":{\"content\":\"k\"},\"logprobs\":{\"cont\\u0065nt\":[{\"token\":\"k\",\"logprob\":-2}]}}]}", "k",
        0.1353352832366127 },
   };
   for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
      size_t n = strlen(texts[i].text);
      char *a = Compare_answer_text(texts[i].text, n);
      json_t *j = json_loadb(texts[i].text, n, 0, NULL);
      ok((a == NULL) == (texts[i].answer == NULL) && (!a || str_eq(a, texts[i].answer)), "text %zu: answer %s", i,
         a ? a : "(none)");
      ok((a == NULL) == (Compare_answer(j) == NULL) && (!a || str_eq(a, Compare_answer(j))),
         "text %zu: the parser reads the same answer", i);
      is_near(Compare_confidence_text(texts[i].text, n, COMPARE_LABEL), texts[i].confidence, 1e-12, "text confidence");
      free(a);
      json_decref(j);
   }
   /* Many tokens: the element list moves to the heap. */
   Sbuf many = { 0 };
   Sbuf_puts(&many, "{\"choices\":[{\"message\":{\"content\":\"long\"},\"logprobs\":{\"content\":[");
   for (int i = 0; i < 300; i++)
      Sbuf_printf(&many, "%s{\"token\":\"t\",\"logprob\":-0.001}", i ? "," : "");
   Sbuf_puts(&many, "]}}]}");
   is_near(Compare_confidence_text(many.buf, many.len, COMPARE_TEXT), exp(-0.3), 1e-9, "300 tokens: all summed");
   Sbuf_free(&many);
   return tap_done();
}
