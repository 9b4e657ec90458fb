/* test_compare.c - comparison modes, confidence from logprobs, stream assembly. */
#include "config.h"

#include "common/compare.h"
#include "common/util.h"
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
   ok(!Compare_answers(COMPARE_TEXT, "The cat", "the cat"), "text: case counts (chrF 0.59 of a short answer)");
   {
      const char *dash = "- Customer was charged twice for order 1182\n- Refund issued to the card\n- Apology sent";
      const char *star = "* Customer was charged twice for order 1182\n* Refund issued to the card\n* Apology sent";
      ok(Compare_answers(COMPARE_TEXT, star, dash), "text: other bullets agree on chrF (0.88 >= 0.80)");
      ok(!Compare_agree(COMPARE_TEXT, METRIC_CHRF, 0.95, star, dash), "text: ... but not at a 0.95 threshold");
      ok(Compare_agree(COMPARE_TEXT, METRIC_ROUGE_L, 0.95, star, dash), "text: ROUGE-L ignores the bullets (1.0)");
      ok(!Compare_answers(COMPARE_TEXT, "Refund issued to the card", "Order shipped yesterday by courier"),
         "text: another answer disagrees");
   }
   ok(Compare_mode_parse("tool_calls", &m) && m == COMPARE_TOOL_CALLS, "parse tool_calls mode");
   {
      json_t *calls = json_loads("[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_order\","
                                 "\"arguments\":\"{\\\"id\\\": 42, \\\"full\\\": true}\"}}]", 0, NULL);
      char *canon = Compare_tool_calls_canonical(calls);
      is_str(canon, "[{\"name\":\"get_order\",\"arguments\":{\"id\":42,\"full\":true}}]",
             "tool calls: canonical form (id dropped, arguments parsed)");
      ok(Compare_answers(COMPARE_TOOL_CALLS, canon, "[{\"name\":\"get_order\",\"arguments\":{\"full\":true,\"id\":42.0}}]"),
         "tool calls: argument order and number spelling ignored");
      ok(!Compare_answers(COMPARE_TOOL_CALLS, canon, "[{\"name\":\"get_order\",\"arguments\":{\"id\":43,\"full\":true}}]"),
         "tool calls: another argument value disagrees");
      ok(!Compare_answers(COMPARE_TOOL_CALLS, canon, "[{\"name\":\"cancel_order\",\"arguments\":{\"id\":42,\"full\":true}}]"),
         "tool calls: another function disagrees");
      ok(Compare_answers(COMPARE_TOOL_CALLS, "[{\"name\":\"a\",\"arguments\":{}},{\"name\":\"b\",\"arguments\":{\"x\":1}}]",
                         "[{\"name\":\"b\",\"arguments\":{\"x\":1}},{\"name\":\"a\",\"arguments\":{}}]"),
         "tool calls: parallel calls in another order agree");
      long k, n;
      Compare_fields(COMPARE_TOOL_CALLS, "[{\"name\":\"get_order\",\"arguments\":{\"id\":43,\"full\":true}}]", canon, &k, &n);
      ok(k == 2 && n == 3, "tool calls: per-argument accuracy counts the name and each argument (%ld/%ld, want 2/3)", k, n);
      Compare_fields(COMPARE_TOOL_CALLS, "[{\"name\":\"cancel_order\",\"arguments\":{\"id\":42,\"full\":true}}]", canon, &k, &n);
      ok(k == 0 && n == 3, "tool calls: the wrong function gets no argument right (%ld/%ld, want 0/3)", k, n);
      Compare_fields(COMPARE_JSON, "{\"a\":1,\"b\":2}", "```json\n{\"a\":1,\"b\":3,\"c\":4}\n```", &k, &n);
      ok(k == 1 && n == 3, "json: per-field accuracy 1/3 (%ld/%ld)", k, n);
      json_t *resp = json_pack("{s:[{s:{s:s, s:n, s:O}}]}", "choices", "message", "role", "assistant", "content",
                               "tool_calls", calls);
      char *body = json_dumps(resp, JSON_COMPACT);
      char *a1 = Compare_answer_new(resp), *a2 = Compare_answer_text(body, strlen(body));
      is_str(a1, canon, "answer of a tool-call response is its canonical calls");
      is_str(a2, canon, "... read from the response text too");
      free(a1);
      free(a2);
      free(body);
      json_decref(resp);
      free(canon);
      json_decref(calls);
   }
   {
      const char *sse = "data: {\"id\":\"c2\",\"choices\":[{\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,"
                        "\"id\":\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"\"}}]}}]}\n\n"
                        "data: {\"id\":\"c2\",\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
                        "{\"arguments\":\"{\\\"q\\\":\"}}]}}]}\n\n"
                        "data: {\"id\":\"c2\",\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
                        "{\"arguments\":\"\\\"x\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n";
      json_t *sr = Compare_stream_response(sse, strlen(sse));
      char *a = Compare_answer_new(sr);
      is_str(a, "[{\"name\":\"lookup\",\"arguments\":{\"q\":\"x\"}}]", "stream: tool call deltas joined");
      free(a);
      json_decref(sr);
   }
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
   is_near(Compare_confidence(r, COMPARE_TEXT), exp(-0.3 / 2), 1e-9, "text: exp(mean token logprob), length-normalised");
   is_near(Compare_confidence(r, COMPARE_JSON), exp(-0.3 / 2), 1e-9,
           "json: not an object: exp(mean token logprob), length-normalised like text");
   {
      /* {"name": "Ann", "amount": 12}: the name's value "Ann" is spelt by  ` "` (-0.1), `Ann`
       * (-0.2) and `",` (-0.05): -0.35; the amount's 12 by `12` (-0.5) alone (the space before
       * it is its own token). The least sure field: exp(-0.5); all twelve tokens would give exp(-0.93). */
      json_t *jr = resp("{\"name\": \"Ann\", \"amount\": 12}",
                        "{\"content\":[{\"token\":\"{\\\"\",\"logprob\":-0.01},{\"token\":\"name\",\"logprob\":-0.01},"
                        "{\"token\":\"\\\":\",\"logprob\":-0.01},{\"token\":\" \\\"\",\"logprob\":-0.1},"
                        "{\"token\":\"Ann\",\"logprob\":-0.2},{\"token\":\"\\\",\",\"logprob\":-0.05},"
                        "{\"token\":\" \\\"\",\"logprob\":-0.01},{\"token\":\"amount\",\"logprob\":-0.01},"
                        "{\"token\":\"\\\":\",\"logprob\":-0.01},{\"token\":\" \",\"logprob\":-0.01},"
                        "{\"token\":\"12\",\"logprob\":-0.5},{\"token\":\"}\",\"logprob\":-0.01}]}");
      is_near(Compare_confidence(jr, COMPARE_JSON), exp(-0.5), 1e-9, "json: the least sure field's value tokens");
      is_near(Compare_confidence(jr, COMPARE_EXACT), exp(-0.93), 1e-9, "exact: every token multiplied");
      json_decref(jr);
   }
   {
      /* The built-in extractor's shape: fixed parts at logprob 0, each field's value one token
       * carrying the field's log-confidence (a value with '}' and ',' inside included). The
       * answer is as sure as its least sure field, exp(-0.7), not exp(-0.2 - 0.7 - 0.1). */
      json_t *xr = resp("{\"customer\":\"Maya Costa\",\"date\":null,\"note\":\"a},b\"}",
                        "{\"content\":[{\"token\":\"{\\\"customer\\\":\",\"logprob\":0},"
                        "{\"token\":\"\\\"Maya Costa\\\"\",\"logprob\":-0.2},"
                        "{\"token\":\",\\\"date\\\":\",\"logprob\":0},{\"token\":\"null\",\"logprob\":-0.7},"
                        "{\"token\":\",\\\"note\\\":\",\"logprob\":0},{\"token\":\"\\\"a},b\\\"\",\"logprob\":-0.1},"
                        "{\"token\":\"}\",\"logprob\":0}]}");
      ok(xr != NULL, "the extractor-shaped response parses");
      is_near(Compare_confidence(xr, COMPARE_JSON), exp(-0.7), 1e-9, "extractor: the least sure field (null, -0.7)");
      is_near(Compare_confidence(xr, COMPARE_EXACT), exp(-1.0), 1e-9, "the product would punish three fields");
      char *body = xr ? json_dumps(xr, JSON_COMPACT) : NULL;
      is_near(body ? Compare_confidence_text(body, strlen(body), COMPARE_JSON) : -2, exp(-0.7), 1e-9,
              "the gateway's scan of the body reads the same");
      free(body);
      json_decref(xr);
   }
   json_decref(r);

   {
      /* A field-scoring model: one entry per field, its token the field's value (or key).
       * {"customer_name": "Ann Lee", "order_id": "A-1", "amount": null}: fields at -0.1, -0.5
       * and -0.02; the least sure is the order id: exp(-0.5) = 0.60653. The product of the three
       * would be exp(-0.62) = 0.5379, the mean exp(-0.2067) = 0.8133. */
      const char *obj = "{\"customer_name\": \"Ann Lee\", \"order_id\": \"A-1\", \"amount\": null}";
      json_t *fr = resp(obj, "{\"content\":[{\"token\":\"Ann Lee\",\"logprob\":-0.1},"
                             "{\"token\":\"A-1\",\"logprob\":-0.5},{\"token\":\"null\",\"logprob\":-0.02}]}");
      is_near(Compare_confidence(fr, COMPARE_JSON), 0.6065306597, 1e-9, "json, an entry per field value: the least sure");
      is_near(Compare_confidence(fr, COMPARE_EXACT), 0.5379444375, 1e-9, "exact: the same entries multiplied");
      json_decref(fr);
      /* entries named by key, in another order than the object's */
      fr = resp(obj, "{\"content\":[{\"token\":\"amount\",\"logprob\":-0.02},"
                     "{\"token\":\"customer_name\",\"logprob\":-0.1},{\"token\":\"order_id\",\"logprob\":-0.5}]}");
      is_near(Compare_confidence(fr, COMPARE_JSON), 0.6065306597, 1e-9, "json, an entry per field key: the least sure");
      json_decref(fr);
      /* three entries that name no field (tokens of something else): length-normalised,
       * exp((-0.1 - 0.5 - 0.02) / 3) = exp(-0.20667) = 0.81330 */
      fr = resp(obj, "{\"content\":[{\"token\":\"Ann\",\"logprob\":-0.1},"
                     "{\"token\":\"A-1\",\"logprob\":-0.5},{\"token\":\"null\",\"logprob\":-0.02}]}");
      is_near(Compare_confidence(fr, COMPARE_JSON), 0.8133, 1e-4, "json, entries that are not the fields: the mean");
      json_decref(fr);
      /* the same field named twice does not count as two fields */
      fr = resp(obj, "{\"content\":[{\"token\":\"A-1\",\"logprob\":-0.1},"
                     "{\"token\":\"A-1\",\"logprob\":-0.5},{\"token\":\"null\",\"logprob\":-0.02}]}");
      is_near(Compare_confidence(fr, COMPARE_JSON), 0.8133, 1e-4, "json, a field named twice: not per field, the mean");
      json_decref(fr);
   }

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
   is_near(Compare_confidence(r, COMPARE_EXACT), exp(-0.3), 1e-9, "stream: logprobs collected");
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
   is_near(Compare_confidence_text(many.buf, many.len, COMPARE_EXACT), exp(-0.3), 1e-9, "300 tokens: all summed");
   is_near(Compare_confidence_text(many.buf, many.len, COMPARE_TEXT), exp(-0.001), 1e-9,
           "300 text tokens: as confident as one of them");
   Sbuf_free(&many);
   return tap_done();
}
