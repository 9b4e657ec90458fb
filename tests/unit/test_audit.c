/* test_audit.c - import of each log format, attribution, pricing and the audit figures
 * checked against values computed by hand for a small crafted log. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "control/audit.h"
#include "control/importer.h"
#include "control/prices.h"
#include "control/task.h"
#include "control/touchpoints.h"
#include "store/exchange.h"
#include "store/store.h"
#include "tap.h"

static char dir[] = "/tmp/offramp-audit-XXXXXX";

static Store *fresh(const char *name) {
   char *path = xasprintf("%s/%s", dir, name);
   char *err = NULL;
   Store *st = Store_open(path, STORE_CREATE, &err);
   if (!st)
      die(1, "%s", err);
   free(path);
   return st;
}

static const ImportStats *import_text(Store *st, Importer **im, const char *name, const char *text, size_t len) {
   ImportOptions o;
   ImportOptions_init(&o);
   o.chunk = 3;   /* several transactions even in small tests */
   char *err = NULL;
   *im = Importer_new(st, &o, &err);
   if (!Importer_buffer(*im, name, text, len, &err))
      die(1, "import failed: %s", err);
   return Importer_stats(*im);
}

static const AuditRow *row_of(const Audit *a, const char *task) {
   for (int i = 0; i < a->n; i++) {
      if (a->rows[i].name && str_eq(a->rows[i].name, task))
         return &a->rows[i];
   }
   return NULL;
}

#define MINI "\"model\":\"gpt-4o-mini-2024-07-18\""
#define SYS "{\"role\":\"system\",\"content\":\"Classify the ticket.\"}"

/* intent: 4 calls over 2 days, gpt-4o-mini ($0.15/$0.60 per 1M), one a 500 error.
 * summary: 2 calls of gpt-4o ($2.50/$10), tagged through metadata.feature.
 * odd: 1 call of an unpriced model, tagged through the X-Offramp-Task header. */
static const char crafted[] =
   "{\"id\":\"i1\",\"ts\":\"2026-11-01T10:00:00Z\",\"task\":\"intent\",\"request\":{\"messages\":[" SYS "]},"
   "\"response\":{" MINI ",\"choices\":[{\"message\":{\"content\":\"billing\"}}]},"
   "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":10},\"status\":200,\"latency_ms\":100}\n"
   "{\"id\":\"i2\",\"ts\":\"2026-11-01T11:00:00Z\",\"task\":\"intent\",\"request\":{\"messages\":[" SYS "]},"
   "\"response\":{" MINI ",\"choices\":[{\"message\":{\"content\":\"refund\"}}]},"
   "\"usage\":{\"prompt_tokens\":2000,\"completion_tokens\":20},\"status\":200,\"latency_ms\":200}\n"
   "{\"id\":\"i3\",\"ts\":\"2026-11-02T10:00:00Z\",\"task\":\"intent\",\"request\":{\"messages\":[" SYS "]},"
   "\"response\":{" MINI ",\"choices\":[{\"message\":{\"content\":\"billing\"}}]},"
   "\"usage\":{\"prompt_tokens\":3000,\"completion_tokens\":30},\"status\":200,\"latency_ms\":400}\n"
   "{\"id\":\"i4\",\"ts\":\"2026-11-02T11:00:00Z\",\"task\":\"intent\",\"model\":\"gpt-4o-mini\",\"request\":{\"messages\":[" SYS "]},"
   "\"response\":{\"error\":{\"message\":\"overloaded\"}},\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0},"
   "\"status\":500,\"latency_ms\":800}\n"
   "{\"request\":{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise: a\"}]},"
   "\"metadata\":{\"feature\":\"summary\"},\"timestamp\":\"2026-11-01T12:00:00Z\","
   "\"response\":{\"id\":\"s1\",\"model\":\"gpt-4o\",\"choices\":[{\"message\":{\"content\":\"{\\\"a\\\":1}\"}}],"
   "\"usage\":{\"prompt_tokens\":10000,\"completion_tokens\":500}},\"latency\":1.5}\n"
   "{\"request\":{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Summarise: b\"}]},"
   "\"metadata\":{\"feature\":\"summary\"},\"timestamp\":\"2026-11-02T12:00:00Z\","
   "\"response\":{\"id\":\"s2\",\"model\":\"gpt-4o\",\"choices\":[{\"message\":{\"content\":\"plain text\"}}],"
   "\"usage\":{\"prompt_tokens\":10000,\"completion_tokens\":500}},\"latency\":1.5}\n"
   "{\"request\":{\"model\":\"acme-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]},"
   "\"headers\":{\"X-Offramp-Task\":\"odd\",\"Authorization\":\"Bearer sk-secret\"},\"timestamp\":\"2026-11-02T13:00:00Z\","
   "\"response\":{\"id\":\"o1\",\"model\":\"acme-1\",\"choices\":[{\"message\":{\"content\":\"hello\"}}],"
   "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}}\n";

static void test_prices(void) {
   char *err = NULL;
   Store *st = fresh("prices.db");
   Prices *ps = Prices_load(st, &err);
   ok(ps != NULL, "the shipped price table loads");
   const Price *p = Prices_match(ps, "gpt-4o-mini-2024-07-18");
   ok(p && str_eq(p->model, "gpt-4o-mini"), "a dated snapshot matches its base model");
   p = Prices_match(ps, "openai/gpt-4o-mini");
   ok(p && str_eq(p->model, "gpt-4o-mini"), "a provider prefix is ignored");
   p = Prices_match(ps, "claude-3-5-haiku-20241022");
   ok(p && str_eq(p->model, "claude-3-5-haiku"), "an Anthropic snapshot matches");
   p = Prices_match(ps, "gpt-4-0613");
   ok(p && str_eq(p->model, "gpt-4"), "a 4-digit snapshot matches, the version stays");
   p = Prices_match(ps, "gpt-4o-2024-05-13");
   ok(p && p->input == 5.0, "a snapshot with its own price keeps it");
   ok(Prices_match(ps, "acme-1") == NULL, "an unknown model is unpriced");
   ok(Prices_match(ps, "ft:gpt-4o-mini:org::abc") == NULL, "a fine-tuned model is not priced as its base");
   ok(Prices_match(ps, "gpt") == NULL && Prices_match(ps, "") == NULL, "no partial-name matches");
   p = Prices_match(ps, "gpt-4o-mini");
   is_near(Price_cost(p, 1000000, 1000000), 0.75, 1e-12, "cost of 1M in + 1M out of gpt-4o-mini");
   for (int i = 0; i < ps->n; i++) {
      if (!strstr(ps->p[i].source, "as published by")) {
         ok(0, "price of %s carries its source", ps->p[i].model);
         break;
      }
   }
   Prices_free(ps);
   ok(Prices_set(st, "acme-1", 1.0, 2.0, &err), "set a workspace price");
   ps = Prices_load(st, &err);
   p = Prices_match(ps, "acme-1-20250101");
   ok(p && p->override && p->output == 2.0, "the override prices the model and its snapshots");
   Prices_free(ps);
   ok(Prices_remove(st, "acme-1", &err), "remove the override");
   ok(!Prices_remove(st, "gpt-4o", &err) && strstr(err, "no workspace price"), "shipped prices cannot be removed");
   free(err);
   Store_close(st);
}

static void test_figures(void) {
   Store *st = fresh("figures.db");
   Importer *im;
   const ImportStats *s = import_text(st, &im, "crafted", crafted, strlen(crafted));
   is_int(s->rows, 7, "rows read");
   is_int(s->imported, 7, "all imported");
   is_int(s->malformed, 0, "nothing malformed");
   is_int(s->nunpriced, 1, "one unpriced model reported");
   ok(s->nunpriced == 1 && str_eq(s->unpriced[0].model, "acme-1") && s->unpriced[0].calls == 1, "it is acme-1, 1 call");
   Importer_free(im);

   Audit a;
   char *err = NULL;
   ok(Audit_compute(st, NULL, true, &a, &err), "audit computes");
   is_int(a.days, 2, "the window spans 2 days");
   const AuditRow *r = row_of(&a, "intent");
   ok(r != NULL, "intent has a row");
   if (r) {
      double cost = (1000 * 0.15 + 10 * 0.60 + 2000 * 0.15 + 20 * 0.60 + 3000 * 0.15 + 30 * 0.60) / 1e6;
      is_int(r->calls, 4, "intent calls");
      is_near(r->calls_per_day, 2.0, 1e-9, "intent calls/day");
      is_near(r->avg_in, 1500, 1e-9, "intent avg input tokens");
      is_near(r->avg_out, 15, 1e-9, "intent avg output tokens");
      is_near(r->cost, cost, 1e-12, "intent cost over the window");
      is_near(r->avg_cost, cost / 4, 1e-12, "intent avg cost/call");
      is_near(r->daily_cost, cost / 2, 1e-12, "intent daily cost");
      is_near(r->monthly_cost, cost / 2 * 30, 1e-12, "intent monthly cost");
      is_near(r->error_rate, 0.25, 1e-9, "intent error rate");
      /* latencies 100, 200, 400, 800: the histogram is 19 % wide per bucket */
      ok(r->p50 >= 200 * 0.81 && r->p50 <= 200 * 1.19, "intent p50 near 200 ms (got %.1f)", r->p50);
      ok(r->p95 >= 800 * 0.81 && r->p95 <= 800 * 1.19, "intent p95 near 800 ms (got %.1f)", r->p95);
      is_int(r->outputs, 3, "intent outputs (the error has none)");
      is_int(r->distinct, 2, "intent distinct outputs");
      is_near(r->label_share, 1.0, 1e-9, "intent outputs all in the label set");
      is_near(r->json_share, 0, 1e-9, "intent outputs are not JSON");
      is_near(r->avg_out_chars, 20.0 / 3, 1e-9, "intent avg output length");
   }
   r = row_of(&a, "summary");
   ok(r != NULL, "summary (metadata.feature) has a row");
   if (r) {
      is_near(r->cost, 2 * (10000 * 2.5 + 500 * 10.0) / 1e6, 1e-12, "summary cost");
      is_near(r->json_share, 0.5, 1e-9, "summary: half the outputs are JSON");
      ok(r->p50 >= 1500 * 0.81 && r->p50 <= 1500 * 1.19, "latency in seconds read as 1500 ms (got %.1f)", r->p50);
   }
   r = row_of(&a, "odd");
   ok(r && r->unpriced_calls == 1 && r->priced_calls == 0 && r->cost == 0, "odd (header tag) is unpriced, not $0");
   double total = (1000 * 0.15 + 10 * 0.60 + 2000 * 0.15 + 20 * 0.60 + 3000 * 0.15 + 30 * 0.60) / 1e6 +
                  2 * (10000 * 2.5 + 500 * 10.0) / 1e6;
   is_near(a.cost, total, 1e-12, "total cost of priced calls");
   r = row_of(&a, "intent");
   if (r)
      is_near(r->share, ((1000 * 0.15 + 10 * 0.60 + 2000 * 0.15 + 20 * 0.60 + 3000 * 0.15 + 30 * 0.60) / 1e6) / total,
              1e-12, "intent share of the total");
   is_int(a.unpriced_calls, 1, "unpriced calls counted");
   Audit_free(&a);

   ok(Audit_compute(st, "2026-11-02", false, &a, &err), "audit --since a day");
   r = row_of(&a, "intent");
   ok(r && r->calls == 2 && a.days == 1, "since 2026-11-02: 2 intent calls in 1 day");
   Audit_free(&a);
   ok(Audit_compute(st, "1d", false, &a, &err) && a.days == 1, "since 1d counts back from the newest day");
   Audit_free(&a);
   ok(!Audit_compute(st, "yesterday", false, &a, &err) && strstr(err, "yesterday"), "a bad --since is refused");
   free(err);
   err = NULL;

   /* Re-import: nothing new, figures unchanged. */
   s = import_text(st, &im, "crafted", crafted, strlen(crafted));
   is_int(s->duplicates, 7, "re-import: all duplicates");
   is_int(s->imported, 0, "re-import: nothing imported");
   Importer_free(im);
   Audit_compute(st, NULL, false, &a, &err);
   r = row_of(&a, "intent");
   ok(r && r->calls == 4, "re-import leaves the figures as they were");
   Audit_free(&a);
   is_int(Store_count(st, "SELECT count(*) FROM exchanges WHERE record LIKE '%sk-secret%'", 0), 0,
          "credentials in headers are not stored");
   is_int(Store_count(st, "SELECT count(*) FROM exchanges WHERE record LIKE '%X-Offramp-Task%'", 0), 1,
          "the rest of the record is kept");
   Store_close(st);
}

static void test_formats(void) {
   Store *st = fresh("formats.db");
   Importer *im;
   static const char litellm_json[] =
      "{\"request_id\":\"ll-1\",\"call_type\":\"acompletion\",\"model\":\"openai/gpt-4o-mini\",\"api_key\":\"88dc28\","
      "\"startTime\":\"2026-11-02 10:00:00.000\",\"endTime\":\"2026-11-02 10:00:00.250\",\"prompt_tokens\":50,"
      "\"completion_tokens\":5,\"spend\":0.00001,\"request_tags\":[\"env:prod\",\"task:tone\"],"
      "\"messages\":[{\"role\":\"user\",\"content\":\"Tone of: thanks!\"}],"
      "\"response\":{\"choices\":[{\"message\":{\"content\":\"positive\"}}]}}\n"
      "{\"id\":\"batch_req_1\",\"custom_id\":\"x1\",\"response\":{\"status_code\":200,\"request_id\":\"req_b1\","
      "\"body\":{\"id\":\"chatcmpl-b\",\"created\":1793613600,\"model\":\"gpt-4o-mini\",\"choices\":[{\"message\":"
      "{\"content\":\"ok\"}}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5}}},\"error\":null}\n";
   const ImportStats *s = import_text(st, &im, "mixed", litellm_json, strlen(litellm_json));
   is_int(s->by_format[3], 1, "LiteLLM JSON row recognised");
   is_int(s->by_format[2], 1, "Batch output line recognised");
   Importer_free(im);
   is_int(Store_count(st, "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id"
                          " WHERE t.name = 'tone' AND e.latency_ms BETWEEN 249 AND 251 AND e.prompt_tokens = 50", 0),
          1, "LiteLLM: task:tone tag, latency from start/end, tokens");
   is_int(Store_count(st, "SELECT count(*) FROM exchanges WHERE rid = 'req_b1' AND ts LIKE '2026-11-02T%'"
                          " AND status = 200 AND completion_tokens = 5", 0), 1, "Batch: request id, created time, usage");
   is_int(Store_count(st, "SELECT count(*) FROM exchanges WHERE record LIKE '%88dc28%'", 0), 0,
          "LiteLLM api_key is not stored");

   static const char csv[] =
      "request_id,call_type,model,startTime,endTime,prompt_tokens,completion_tokens,spend,request_tags,messages,response\n"
      "c-1,acompletion,gpt-4o-mini,2026-11-03T10:00:00Z,2026-11-03T10:00:01Z,100,3,0.00002,\"[\"\"task:intent\"\"]\","
      "\"[{\"\"role\"\":\"\"user\"\",\n \"\"content\"\":\"\"line one\\nline two\"\"}]\","
      "\"{\"\"choices\"\":[{\"\"message\"\":{\"\"content\"\":\"\"billing\"\"}}]}\"\n"
      "c-2,acompletion,gpt-4o-mini,2026-11-03T10:00:00Z,,,,,,,\n"
      "c-3,too,few\n"
      "c-4,acompletion,gpt-4o-mini,2026-11-03T10:00:00Z,,,,,,\"[unterminated\n";
   s = import_text(st, &im, "spend.csv", csv, strlen(csv));
   is_int(s->by_format[3], 2, "CSV rows (one spanning two lines) imported");
   is_int(s->malformed, 2, "short CSV row and unterminated quote are malformed");
   ok(s->nerrors == 2 && strstr(s->errors[0], "spend.csv:5:") && strstr(s->errors[1], "spend.csv:6:"),
      "CSV errors carry the row's first line number (%s; %s)", s->nerrors > 0 ? s->errors[0] : "",
      s->nerrors > 1 ? s->errors[1] : "");
   Importer_free(im);
   is_int(Store_count(st, "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'intent'"
                          " AND json_extract(e.record, '$.request.messages[0].content') = 'line one' || char(10) || 'line two'", 0),
          1, "CSV: JSON in a quoted field spanning two lines decoded");
   is_int(Store_count(st, "SELECT tokens_estimated FROM exchanges WHERE rid = 'c-2'", 0), 0,
          "a row without messages or output has no estimate");
   Store_close(st);
}

static void test_malformed(void) {
   Store *st = fresh("bad.db");
   Importer *im;
   Sbuf sb = { 0 };
   Sbuf_puts(&sb, "{\"id\":\"a\",\"task\":\"t\",\"request\":{},\"response\":{}}\n");
   Sbuf_puts(&sb, "{\"id\":\"b\",\"task\":\"t\",\"request\":{\"x\":\"\xff\xfe\"},\"response\":{}}\n");   /* not UTF-8 */
   Sbuf_puts(&sb, "[1,2]\n");
   Sbuf_puts(&sb, "{\"hello\":1}\n");
   Sbuf_puts(&sb, "{\"id\":\"c\",\"task\":\"bad name!\",\"request\":{}}\n");
   /* a 50 MB line */
   Sbuf_puts(&sb, "{\"id\":\"big\",\"task\":\"t\",\"request\":{\"pad\":\"");
   size_t pad = 50u << 20;
   char *big = xmalloc(pad);
   memset(big, 'x', pad);
   Sbuf_add(&sb, big, pad);
   free(big);
   Sbuf_puts(&sb, "\"}}\n");
   Sbuf_puts(&sb, "\n   \n");
   Sbuf_puts(&sb, "{\"id\":\"d\",\"task\":\"t\",\"request\":{},\"response\":{}}\n");
   Sbuf_puts(&sb, "{\"id\":\"e\",\"task\":\"t\",\"requ");   /* truncated last line */
   const ImportStats *s = import_text(st, &im, "bad.jsonl", sb.buf, sb.len);
   is_int(s->rows, 8, "rows read (blank lines skipped)");
   is_int(s->imported, 2, "the valid records are imported");
   is_int(s->malformed, 6, "malformed records counted");
   const char *want[] = { "bad.jsonl:2: not UTF-8", "bad.jsonl:3: a JSON array", "bad.jsonl:4: not a known record",
                          "bad.jsonl:5: task tag", "bad.jsonl:6: 52,428,", "bad.jsonl:10: truncated" };
   for (int i = 0; i < 6; i++)
      ok(i < s->nerrors && str_startswith(s->errors[i], want[i]), "reported: %s (got %s)", want[i],
         i < s->nerrors ? s->errors[i] : "nothing");
   Importer_free(im);
   is_int(Store_count(st, "SELECT count(*) FROM exchanges", 0), 2, "nothing half-written");
   Sbuf_free(&sb);

   /* Found by fuzzing: a NUL byte ends the text for jansson, so the line is refused. */
   static const char nul[] = "{\"id\":\"n\",\"task\":\"t\",\"request\":{},\"response\":{}}\0junk\n";
   s = import_text(st, &im, "nul", nul, sizeof nul - 1);
   ok(s->malformed == 1 && s->nerrors == 1 && strstr(s->errors[0], "NUL"), "a line with a NUL byte is malformed");
   Importer_free(im);

   /* More malformed records than are listed: all counted. */
   Sbuf_reset(&sb);
   for (int i = 0; i < 30; i++)
      Sbuf_puts(&sb, "nope\n");
   s = import_text(st, &im, "junk", sb.buf, sb.len);
   ok(s->malformed == 30 && s->nerrors == IMPORT_SHOWN_ERRORS, "30 malformed counted, %d listed", IMPORT_SHOWN_ERRORS);
   Importer_free(im);
   Sbuf_free(&sb);
   Store_close(st);
}

/* Untagged calls: grouped by fingerprint, then named and merged. */
static void test_touchpoints(void) {
   Store *st = fresh("tp.db");
   Importer *im;
   Sbuf sb = { 0 };
   const char *tickets[] = { "My card was charged twice for order 1234", "Where is my parcel? It is late",
                             "I cannot log in since yesterday", "Please cancel my subscription now" };
   for (int i = 0; i < 8; i++)
      Sbuf_printf(&sb, "{\"request\":{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":"
                  "\"You route support tickets. Answer with one label.\"},{\"role\":\"user\",\"content\":\"%s\"}]},"
                  "\"response\":{\"id\":\"r%d\",\"created\":1793527200,\"choices\":[{\"message\":{\"content\":\"%s\"}}]}}\n",
                  tickets[i % 4], i, i % 2 ? "shipping" : "billing");
   for (int i = 0; i < 3; i++)
      Sbuf_printf(&sb, "{\"request\":{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\",\"content\":"
                  "\"Summarise the conversation in %d bullet points.\"},{\"role\":\"user\",\"content\":\"chat %d\"}]},"
                  "\"response\":{\"id\":\"s%d\",\"created\":1793527200,\"choices\":[{\"message\":{\"content\":\"- x\"}}]}}\n",
                  3, i, i);
   const ImportStats *s = import_text(st, &im, "untagged", sb.buf, sb.len);
   is_int(s->imported, 11, "untagged calls imported");
   is_int(s->estimated, 11, "no usage: tokens estimated");
   Importer_free(im);
   int n;
   Touchpoint *tp = Touchpoints_list(st, &n);
   is_int(n, 2, "two templates, two discovered touchpoints");
   ok(n == 2 && tp[0].calls == 8 && tp[1].calls == 3, "8 routing calls, 3 summaries");
   ok(n == 2 && tp[0].nsamples == 3 && strstr(tp[0].skeleton, "You route support tickets"), "samples and skeleton kept");
   char *route = n ? xstrdup(tp[0].fingerprint) : xstrdup("0000000000");
   char *summ = n > 1 ? xstrdup(tp[1].fingerprint) : xstrdup("0000000000");
   Touchpoints_free(tp, n);
   Audit a;
   char *err = NULL;
   Audit_compute(st, NULL, true, &a, &err);
   ok(a.n == 2 && !a.rows[0].name && a.est_calls == 11, "the audit lists them as touchpoints with estimated tokens");
   Audit_free(&a);

   char prefix[9];
   snprintf(prefix, sizeof prefix, "%s", route);
   is_int(Touchpoints_assign(st, prefix, "ticket-route", true, &err), 8, "name by prefix: 8 calls attributed");
   ok(Touchpoints_assign(st, route, "other", true, &err) < 0 && strstr(err, "already belongs"), "naming twice is refused");
   free(err);
   err = NULL;
   ok(Touchpoints_assign(st, summ, "no-such-task", false, &err) < 0 && strstr(err, "no task named"),
      "merge into a missing task is refused");
   free(err);
   err = NULL;
   ok(Touchpoints_assign(st, "zz", "x", true, &err) < 0, "a bad fingerprint is refused");
   free(err);
   err = NULL;
   is_int(Touchpoints_assign(st, summ, "ticket-route", false, &err), 3, "merge the summaries: 3 calls");
   is_int(Store_count(st, "SELECT count(*) FROM exchanges WHERE task_id IS NULL", 0), 0, "every call attributed");
   Audit_compute(st, NULL, true, &a, &err);
   const AuditRow *r = row_of(&a, "ticket-route");
   ok(a.n == 1 && r && r->calls == 11 && r->outputs == 11 && r->distinct == 3, "the task's figures include both");
   Audit_free(&a);

   /* Later calls with the named fingerprint go to the task. */
   Sbuf_reset(&sb);
   Sbuf_printf(&sb, "{\"request\":{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":"
               "\"You route support tickets. Answer with one label.\"},{\"role\":\"user\",\"content\":\"Refund please\"}]},"
               "\"response\":{\"id\":\"late\",\"created\":1793527200,\"choices\":[{\"message\":{\"content\":\"refund\"}}]}}\n");
   import_text(st, &im, "later", sb.buf, sb.len);
   Importer_free(im);
   is_int(Store_count(st, "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id"
                          " WHERE e.rid = 'late' AND t.name = 'ticket-route'", 0), 1, "a later call follows its fingerprint");
   is_int(Store_count(st, "SELECT sum(calls) FROM audit_daily WHERE task_id = (SELECT id FROM tasks WHERE name = 'ticket-route')", 0),
          12, "and its aggregates too");
   free(route);
   free(summ);
   Sbuf_free(&sb);
   Store_close(st);
}

/* The gateway's path: candidate-arm captures are logged but are not API spend. */
static void test_writer(void) {
   Store *st = fresh("writer.db");
   ExchangeWriter *w = ExchangeWriter_new(st, Task_create_in_tx);
   char *err = NULL;
   Exchange e;
   Exchange_init(&e);
   e.rid = "g1";
   e.ts = "2026-11-05T00:00:00.000Z";
   e.task = "intent";
   e.model = "gpt-4o-mini";
   e.status = 200;
   e.record = "{}";
   Store_begin(st, &err);
   is_int(ExchangeWriter_add(w, &e, &err), 1, "primary capture added");
   e.rid = "g2";
   e.arm = "candidate";
   is_int(ExchangeWriter_add(w, &e, &err), 1, "candidate capture added");
   is_int(ExchangeWriter_add(w, &e, &err), 0, "duplicate rid skipped");
   Store_commit(st, &err);
   ExchangeWriter_free(w);
   is_int(Store_count(st, "SELECT sum(calls) FROM audit_daily", 0), 1, "only the API call is in the audit");
   Store_close(st);
}

int main(void) {
   if (!mkdtemp(dir))
      die(1, "mkdtemp failed");
   test_prices();
   test_figures();
   test_formats();
   test_malformed();
   test_touchpoints();
   test_writer();
   char *cmd = xasprintf("rm -rf %s", dir);
   if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", dir);
   free(cmd);
   return tap_done();
}
