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
   return tap_done();
}
