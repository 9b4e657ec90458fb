/* test_capture.c - the capture writer splices the request and answer texts into the record:
 * every stored record must equal, as JSON, the record built the old way from parsed trees,
 * stay one line, and feed the same columns. Then what must not be lost: records queued with
 * pending calls that join them later (in the queue or in the workspace) or are recorded as
 * lost on a stop or after a crash; a locked workspace retried, not discarded; full queues and
 * rejected records counted by reason and said by Capture_health. */
#include "config.h"

#include <jansson.h>
#include <time.h>
#include <unistd.h>

#include "common/fingerprint.h"
#include "common/stats.h"
#include "common/util.h"
#include "control/audit.h"
#include "control/task.h"
#include "gateway/capture.h"
#include "store/store.h"
#include "tap.h"

typedef struct {
   bool started;
   const char *arm, *model;
   long status;
   double latency_ms;
   const char *error;
   double confidence;
   int agree;
   const char *response;
   const char *error_body;     /* a body that is not JSON, as the upstream sent it */
   const char *error_body_want; /* as the record must keep it (UTF-8, no NUL) */
   const char *error_message;
} CallCase;

typedef struct {
   const char *name;
   const char *task, *arm;
   int status;
   bool stream;
   const char *truncated;
   const char *fallback;
   int agree;
   double confidence;
   const char *request;
   double waited_ms;            /* 0: the serving call's latency is the client's */
   CallCase calls[CAPTURE_CALLS];
} Case;

#define STANDIN_ANSWER(model, content) \
   "{\"id\":\"chatcmpl-standin\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"" model "\"," \
   "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" content "\"}," \
   "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":1,\"total_tokens\":13}}"
#define REQUEST(content) \
   "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"Classify the ticket.\"}," \
   "{\"role\":\"user\",\"content\":\"" content "\"}],\"temperature\":0}"
/* Records pushed after the cases: more aggregate keys than the writer sums at once. */
#define BULK 60
#define NO_CALL { .started = false }
#define CALL(arm, model, status, latency_ms, error, confidence, agree, response) \
   { true, arm, model, status, latency_ms, error, confidence, agree, response }
#define SERVING(arm, model, response) CALL(arm, model, 200, 12.25, NULL, -1, -1, response)

static const Case cases[] = {
   { .name = "plain record", .task = "ticket-intent", .arm = "primary", .status = 200, .agree = -1,
     .confidence = -1, .request = REQUEST("my card was charged twice"),
     .calls = { SERVING("primary", NULL, STANDIN_ANSWER("standin", "billing")), NO_CALL, NO_CALL } },
   { .name = "shadow and noise calls", .task = "ticket-intent", .arm = "primary", .status = 200, .agree = 1,
     .confidence = 0.93, .request = REQUEST("where is my parcel"),
     .calls = { SERVING("primary", "gpt-4o-mini", STANDIN_ANSWER("gpt-4o-mini-2024-07-18", "shipping")),
                CALL("candidate", "ft:ticket-intent:3", 200, 3.0, NULL, 0.93, 1,
                     STANDIN_ANSWER("ft:ticket-intent:3", "shipping")),
                CALL("primary", NULL, 200, 0.1 + 0.2, NULL, -1, 0, STANDIN_ANSWER("gpt-4o-mini", "refund")) } },
   { .name = "fallback record", .task = "ticket-intent", .arm = "fallback", .status = 200,
     .fallback = "low_confidence", .agree = 0, .confidence = 0.41, .request = REQUEST("reset my password"),
     .calls = { SERVING("fallback", NULL, STANDIN_ANSWER("standin", "account_access")),
                CALL("candidate", "ft:ticket-intent:3", 200, 1e-3, NULL, 0.41, 0,
                     STANDIN_ANSWER("ft:ticket-intent:3", "billing")),
                NO_CALL } },
   { .name = "error call with no response", .task = "ticket-intent", .arm = "primary", .status = 504,
     .agree = -1, .confidence = -1, .request = REQUEST("app crashes on start"),
     .calls = { CALL("primary", "gpt-4o", 0, 2000, "timeout", -1, -1, NULL),
                CALL("candidate", "ft:ticket-intent:3", 500, 4.5, "status", -1, -1, NULL),
                NO_CALL } },
   { .name = "streamed answer", .task = "ticket-intent", .arm = "primary", .status = 200, .stream = true,
     .agree = -1, .confidence = -1,
     .request = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
     .calls = { SERVING("primary", NULL,
                        "{\"id\":\"chatcmpl-standin\",\"object\":\"chat.completion\",\"model\":\"standin\","
                        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
                        "\"billing\"},\"finish_reason\":\"stop\"}]}"),
                NO_CALL, NO_CALL } },
   { .name = "stream cut short by the client", .task = "ticket-intent", .arm = "primary", .status = 200,
     .stream = true, .truncated = "client_disconnected", .agree = -1, .confidence = -1,
     .request = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
     .calls = { CALL("primary", NULL, 200, 40, NULL, -1, -1,
                     "{\"id\":\"chatcmpl-standin\",\"object\":\"chat.completion\",\"model\":\"standin\","
                     "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"bil\"},"
                     "\"finish_reason\":null}]}"),
                NO_CALL, NO_CALL } },
   { .name = "unattributed record", .arm = "primary", .status = 200, .agree = -1, .confidence = -1,
     .request = REQUEST("the invoice total is wrong"),
     .calls = { SERVING("primary", NULL, STANDIN_ANSWER("standin", "billing")), NO_CALL, NO_CALL } },
   { .name = "request with newlines and escapes", .task = "ticket-intent", .arm = "primary", .status = 200,
     .agree = -1, .confidence = -1,
     .request = "{\r\n  \"model\" : \"gpt-4o-mini\",\n  \"messages\": [\n    {\"role\": \"user\",\n"
                "     \"content\": \"line one\\nline \\\"two\\\"\\r\\n\\ttab \\\\ caf\\u00e9 caf\xc3\xa9 \\ud83d\\ude00\"}\n"
                "  ],\n\t\"stop\": [\"\\n\"]\n}\n",
     .calls = { SERVING("primary", NULL,
                        "{\n \"model\": \"standin\",\r\n \"choices\": [{\"message\": {\"content\": "
                        "\"a\\nb\"}}],\n \"usage\": {\n  \"prompt_tokens\": 30,\n"
                        "  \"completion_tokens\": 2\n }\n}"),
                NO_CALL, NO_CALL } },
   { .name = "model names needing escapes", .task = "odd.task_\xc3\xa9", .arm = "candidate", .status = 200,
     .agree = -1, .confidence = 0.5,
     .request = "{\"model\":\"req\\\"model\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
     .calls = { SERVING("candidate", "arm \"model\" \\ with\ttab\x01",
                        "{\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2.0}}"),
                CALL("primary", NULL, 200, 7, NULL, -1, 1, "{\"model\":\"gpt\\\"4\\u00e9\",\"choices\":[]}"),
                CALL("primary", NULL, 200, 7, NULL, -1, 1, "{\"choices\":[]}") } },
   { .name = "escaped keys and duplicates", .task = "ticket-intent", .arm = "primary", .status = 200, .agree = -1,
     .confidence = -1, .request = REQUEST("dup"),
     .calls = { SERVING("primary", NULL,
                        "{\"model\":\"first\",\"model\":\"second\",\"us\\u0061ge\":{\"prompt_tokens\":9},"
                        "\"usage\":{\"prompt_tokens\":1,\"prompt_tokens\":4,\"completion_tokens\":7}}"),
                CALL("primary", NULL, 200, 7, NULL, -1, 1, "[\"not an object\"]"),
                NO_CALL } },
   { .name = "duplicate keys, no escapes", .task = "ticket-intent", .arm = "primary", .status = 200, .agree = -1,
     .confidence = -1, .request = REQUEST("dup"),
     .calls = { SERVING("primary", NULL,
                        "{\"model\":\"first\",\"model\":\"second\",\"usage\":{\"prompt_tokens\":9},"
                        "\"usage\":{\"prompt_tokens\":1,\"prompt_tokens\":4,\"completion_tokens\":7}}"),
                NO_CALL, NO_CALL } },
   { .name = "upstream error bodies and messages", .task = "ticket-intent", .arm = "primary", .status = 429,
     .agree = -1, .confidence = -1, .request = REQUEST("rate limited"),
     .calls = { CALL("primary", NULL, 429, 3.5, "status", -1, -1,
                     "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}"),
                { true, "candidate", "ft:ticket-intent:3", 502, 8, "status", -1, -1, NULL,
                  "<html>bad \xff gateway\0 page</html>", "<html>bad \xef\xbf\xbd gateway\xef\xbf\xbd page</html>",
                  NULL },
                { true, "primary", NULL, 0, 2000, "timeout", -1, -1, NULL, NULL, NULL,
                  "Operation timed out after 2000 milliseconds with 0 bytes received" } } },
   { .name = "fallback: the client's wait", .task = "ticket-intent", .arm = "fallback", .status = 200,
     .fallback = "timeout", .agree = -1, .confidence = -1, .request = REQUEST("slow candidate"), .waited_ms = 2412.5,
     .calls = { SERVING("fallback", NULL, STANDIN_ANSWER("standin", "billing")),
                { true, "candidate", "ft:ticket-intent:3", 0, 2400, "timeout", -1, -1, NULL, NULL, NULL,
                  "Operation timed out" },
                NO_CALL } },
};

/* ---- the record as it was built before the texts: from parsed trees (the oracle) ---- */

static const char *old_call_model(const CallCase *c, json_t *resp, const json_t *request) {
   const char *m = json_string_value(json_object_get(resp, "model"));
   if (m)
      return m;
   return c->model ? c->model : json_string_value(json_object_get(request, "model"));
}

static json_t *old_call_json(const CallCase *c, json_t *resp, const json_t *request) {
   json_t *o = json_pack("{s:s, s:s?, s:I, s:f}", "arm", c->arm, "model", old_call_model(c, resp, request), "status",
                         (json_int_t)c->status, "latency_ms", c->latency_ms);
   json_object_set(o, "response", resp ? resp : json_null());
   if (c->error)
      json_object_set_new(o, "error", json_string(c->error));
   if (c->error_message)
      json_object_set_new(o, "error_message", json_string(c->error_message));
   if (c->error_body)
      json_object_set_new(o, "error_body", json_string(c->error_body_want));
   if (c->confidence >= 0)
      json_object_set_new(o, "confidence", json_real(c->confidence));
   if (c->agree >= 0)
      json_object_set_new(o, "agree", json_boolean(c->agree));
   return o;
}

static json_t *parse(const char *text) {
   return text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
}

static json_t *old_record(const Case *k, const char *rid, const char *ts, char **model, long long *pt,
                          long long *ct) {
   const CallCase *s = &k->calls[CAPTURE_SERVING];
   json_t *request = parse(k->request), *resp = parse(s->response);
   json_t *rec = json_pack("{s:s, s:s, s:s?, s:s, s:O}", "id", rid, "ts", ts, "task", k->task, "arm", k->arm,
                           "request", request);
   json_object_set(rec, "response", resp ? resp : json_null());
   json_object_set_new(rec, "status", json_integer(k->status));
   json_object_set_new(rec, "latency_ms", json_real(k->waited_ms > 0 ? k->waited_ms : s->latency_ms));
   if (k->waited_ms > 0)
      json_object_set_new(rec, "upstream_latency_ms", json_real(s->latency_ms));
   const char *m = old_call_model(s, resp, request);
   *model = m ? xstrdup(m) : NULL;
   if (m)
      json_object_set_new(rec, "model", json_string(m));
   json_t *usage = json_object_get(resp, "usage");
   if (usage)
      json_object_set(rec, "usage", usage);
   json_t *p = json_object_get(usage, "prompt_tokens"), *c = json_object_get(usage, "completion_tokens");
   *pt = json_is_integer(p) ? json_integer_value(p) : -1;
   *ct = json_is_integer(c) ? json_integer_value(c) : -1;
   if (k->stream)
      json_object_set_new(rec, "stream", json_true());
   if (k->truncated)
      json_object_set_new(rec, "truncated", json_string(k->truncated));
   if (s->error)
      json_object_set_new(rec, "error", json_string(s->error));
   if (s->error_message)
      json_object_set_new(rec, "error_message", json_string(s->error_message));
   if (s->error_body)
      json_object_set_new(rec, "error_body", json_string(s->error_body_want));
   if (k->fallback)
      json_object_set_new(rec, "fallback_reason", json_string(k->fallback));
   static const char *const names[] = { NULL, "shadow", "noise" };
   for (int i = CAPTURE_SHADOW; i < CAPTURE_CALLS; i++) {
      if (!k->calls[i].started)
         continue;
      json_t *r = parse(k->calls[i].response);
      json_object_set_new(rec, names[i], old_call_json(&k->calls[i], r, request));
      json_decref(r);
   }
   json_decref(request);
   json_decref(resp);
   return rec;
}

/* ---- the item as the loop hands it over ---- */

static CaptureItem *item_for(const Case *k, const char *rid, const char *ts) {
   size_t size = k->task ? strlen(k->task) + 1 : 0;
   for (int i = 0; i < CAPTURE_CALLS; i++)
      size += k->calls[i].model ? strlen(k->calls[i].model) + 1 : 0;
   CaptureItem *it = Capture_item_new(size);
   snprintf(it->rid, sizeof it->rid, "%s", rid);
   snprintf(it->ts, sizeof it->ts, "%s", ts);
   it->task = k->task ? Capture_item_put(it, k->task, strlen(k->task)) : NULL;
   it->arm = k->arm;
   it->status = k->status;
   it->stream = k->stream;
   it->truncated = k->truncated;
   it->fallback = k->fallback;
   it->agree = k->agree;
   it->confidence = k->confidence;
   it->waited_ms = k->waited_ms > 0 ? k->waited_ms : -1;
   it->request = xstrdup(k->request);
   it->request_len = strlen(k->request);
   for (int i = 0; i < CAPTURE_CALLS; i++) {
      const CallCase *c = &k->calls[i];
      CaptureCall *cc = &it->calls[i];
      cc->started = c->started;
      cc->arm = c->arm;
      cc->model = c->model ? Capture_item_put(it, c->model, strlen(c->model)) : NULL;
      cc->status = c->status;
      cc->latency_ms = c->latency_ms;
      cc->error = c->error;
      cc->confidence = c->confidence;
      cc->agree = c->agree;
      cc->response = c->response ? xstrdup(c->response) : NULL;
      cc->response_len = c->response ? strlen(c->response) : 0;
      if (c->error_body) {
         /* Sized by hand: the body holds a NUL. */
         cc->error_body_len = strlen(c->error_body) + 1 + strlen(c->error_body + strlen(c->error_body) + 1);
         cc->error_body = xmalloc(cc->error_body_len);
         memcpy(cc->error_body, c->error_body, cc->error_body_len);
      }
      cc->error_message = c->error_message ? xstrdup(c->error_message) : NULL;
   }
   return it;
}

static const char *column_text(sqlite3_stmt *s, int col) {
   return (const char *)sqlite3_column_text(s, col);
}

static long long column_int(sqlite3_stmt *s, int col) {
   return sqlite3_column_type(s, col) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, col);
}

/* ---- what must not be lost ---- */

static void sleep_ms(long ms) {
   struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
   nanosleep(&ts, NULL);
}

/* Polls the capture's figures until cond holds (20 s max). */
#define WAIT_FOR(cap, cs, cond) do { \
   for (int w_ = 0; w_ < 2000; w_++) { \
      Capture_stats(cap, &cs); \
      if (cond) \
         break; \
      sleep_ms(10); \
   } } while (0)

static char *stored_record(const char *path, const char *rid) {
   char *err = NULL;
   Store *st = Store_open(path, 0, &err);
   if (!st) {
      free(err);
      return NULL;
   }
   sqlite3_stmt *q = Store_prepare(st, "SELECT record FROM exchanges WHERE rid = ?");
   sqlite3_bind_text(q, 1, rid, -1, SQLITE_STATIC);
   char *rec = sqlite3_step(q) == SQLITE_ROW ? xstrdup(column_text(q, 0)) : NULL;
   sqlite3_finalize(q);
   Store_close(st);
   return rec;
}

/* The record of case k as the capture queues it when the client is answered: its shadow and
 * noise calls still running. */
static CaptureItem *pending_item(const Case *k, const char *rid) {
   CaptureItem *it = item_for(k, rid, "2026-11-22T08:00:00.000Z");
   for (int i = CAPTURE_SHADOW; i < CAPTURE_CALLS; i++) {
      CaptureCall *cc = &it->calls[i];
      if (!cc->started)
         continue;
      free(cc->response);
      free(cc->error_body);
      free(cc->error_message);
      cc->response = cc->error_body = cc->error_message = NULL;
      cc->response_len = cc->error_body_len = 0;
      cc->pending = true;
   }
   it->agree = -1;
   it->confidence = -1;
   return it;
}

/* The results of those calls, for Capture_join. */
static CaptureItem *update_item(const Case *k, const char *rid) {
   CaptureItem *u = item_for(k, rid, "2026-11-22T08:00:00.000Z");
   free(u->request);
   u->request = NULL;
   u->request_len = 0;
   CaptureCall *sv = &u->calls[CAPTURE_SERVING];
   free(sv->response);
   sv->response = NULL;
   sv->response_len = 0;
   sv->started = false;
   return u;
}

/* The stored record of rid equals case k's whole record. */
static void check_whole(const char *path, const Case *k, const char *rid, const char *what) {
   char *text = stored_record(path, rid), *model;
   long long pt, ct;
   json_t *got = text ? json_loads(text, 0, NULL) : NULL;
   json_t *want = old_record(k, rid, "2026-11-22T08:00:00.000Z", &model, &pt, &ct);
   bool same = got && json_equal(got, want);
   ok(same, "%s: the record is whole, as if it had been written at once", what);
   if (!same) {
      char *w = json_dumps(want, JSON_COMPACT | JSON_PRESERVE_ORDER);
      printf("# got  %s\n# want %s\n", text ? text : "(none)", w);
      free(w);
   }
   json_decref(got);
   json_decref(want);
   free(model);
   free(text);
}

static long long count(const char *path, const char *sql) {
   char *err = NULL;
   Store *st = Store_open(path, 0, &err);
   if (!st) {
      free(err);
      return -1;
   }
   long long n = Store_count(st, sql, 0);
   Store_close(st);
   return n;
}

/* Records queued with pending calls: the results join them in the queue or in the
 * workspace; a stop records the rest as lost, and so does the start after a crash. */
static void test_pending(const char *dir) {
   const Case *k = &cases[1];   /* shadow and noise calls */
   char *path = xasprintf("%s/pending.db", dir), *err = NULL;
   Capture *cap = Capture_start(path, 100, 1LL << 30, Task_create_in_tx, &err);
   ok(cap != NULL, "pending: capture started: %s", err ? err : "");
   if (!cap)
      return;
   CaptureStats cs;
   CaptureTicket t1, t2, t3;
   ok(Capture_push(cap, pending_item(k, "p-1"), &t1) && t1.seq, "a record with pending calls is queued");
   Capture_join(cap, &t1, update_item(k, "p-1"));
   ok(Capture_push(cap, pending_item(k, "p-2"), &t2), "a second one");
   WAIT_FOR(cap, cs, cs.committed >= 2);
   is_int(cs.committed, 2, "both committed before the second's calls end");
   char *text = stored_record(path, "p-2");
   ok(text && strstr(text, ",\"shadow\":{\"arm\":\"candidate\",\"error\":\"pending\"},"
                           "\"noise\":{\"arm\":\"primary\",\"error\":\"pending\"}}"),
      "the stored record says its calls are pending: %s", text ? strstr(text, ",\"shadow\"") : "(none)");
   free(text);
   is_int(count(path, "SELECT count(*) FROM exchanges WHERE rid = 'p-2' AND agree IS NULL"), 1, "not compared yet");
   Capture_join(cap, &t2, update_item(k, "p-2"));
   ok(!t2.seq, "a join uses the ticket up");
   WAIT_FOR(cap, cs, cs.joined + cs.updated >= 2 && cs.depth == 0);
   is_int(cs.joined + cs.updated, 2, "both results joined their records");
   ok(cs.updated >= 1, "one of them as an update of the stored record (%lld)", cs.updated);
   check_whole(path, k, "p-1", "joined");
   check_whole(path, k, "p-2", "updated");
   is_int(count(path, "SELECT count(*) FROM exchanges WHERE rid IN ('p-1', 'p-2') AND agree = 1"
                      " AND confidence BETWEEN 0.929 AND 0.931"), 2, "agree and confidence columns set");
   ok(Capture_push(cap, pending_item(k, "p-3"), &t3), "a third, whose calls never end");
   WAIT_FOR(cap, cs, cs.committed >= 3);
   is_int(count(path, "SELECT count(*) FROM settings WHERE key = 'capture.pending_from'"), 1,
          "the workspace knows a record has pending calls");
   Capture_stop(cap);
   text = stored_record(path, "p-3");
   ok(text && strstr(text, ",\"shadow\":{\"arm\":\"candidate\",\"error\":\"lost\"},"
                           "\"noise\":{\"arm\":\"primary\",\"error\":\"lost\"}}"),
      "a stop records the calls still pending as lost: %s", text ? strstr(text, ",\"shadow\"") : "(none)");
   json_t *j = text ? json_loads(text, 0, NULL) : NULL;
   ok(j != NULL, "and the record stays valid JSON");
   json_decref(j);
   free(text);
   is_int(count(path, "SELECT count(*) FROM settings WHERE key = 'capture.pending_from'"), 0, "nothing left pending");

   /* A crash: a record left with pending calls and the mark that says where to look. */
   Store *st = Store_open(path, 0, &err);
   Store_exec(st, "UPDATE exchanges SET record = substr(record, 1, instr(record, ',\"shadow\":') - 1)"
                  " || ',\"shadow\":{\"arm\":\"primary\",\"error\":\"pending\"}}' WHERE rid = 'p-1'", &err);
   char *mark = xasprintf("%lld", Store_count(st, "SELECT id FROM exchanges WHERE rid = 'p-1'", 0));
   Store_set_setting(st, "capture.pending_from", mark, &err);
   free(mark);
   Store_close(st);
   cap = Capture_start(path, 100, 1LL << 30, Task_create_in_tx, &err);
   WAIT_FOR(cap, cs, cs.lost >= 1);
   is_int(cs.lost, 1, "the next start records a crashed run's pending calls as lost");
   Capture_stop(cap);
   text = stored_record(path, "p-1");
   ok(text && strstr(text, ",\"shadow\":{\"arm\":\"primary\",\"error\":\"lost\"}}"), "in the record: %s",
      text ? strstr(text, ",\"shadow\"") : "(none)");
   free(text);
   is_int(count(path, "SELECT count(*) FROM exchanges WHERE json_extract(record, '$.shadow.error') = 'lost'"), 2,
          "no other record touched");
   if (!Store_remove(path, &err))
      die(1, "%s", err);
   free(path);
}

/* Another connection holds the write lock: records wait and are retried, none dropped. */
static void test_locked(const char *dir) {
   char *path = xasprintf("%s/locked.db", dir), *err = NULL;
   Capture *cap = Capture_start(path, 100, 1LL << 30, Task_create_in_tx, &err);
   ok(cap != NULL, "locked: capture started: %s", err ? err : "");
   if (!cap)
      return;
   CaptureStats cs;
   Capture_push(cap, item_for(&cases[0], "l-0", "2026-11-22T08:00:00.000Z"), NULL);
   WAIT_FOR(cap, cs, cs.committed >= 1);
   Store *lock = Store_open(path, 0, &err);
   ok(lock && Store_begin(lock, &err), "another connection takes the write lock");
   for (int i = 1; i <= 5; i++) {
      char rid[16];
      snprintf(rid, sizeof rid, "l-%d", i);
      Capture_push(cap, item_for(&cases[0], rid, "2026-11-22T08:00:00.000Z"), NULL);
   }
   WAIT_FOR(cap, cs, cs.retries >= 2);
   ok(cs.retries >= 2, "the refused batch is retried (%lld retries)", cs.retries);
   is_int(cs.committed, 1, "nothing written while the lock is held");
   long long dropped = 0;
   for (int r = 0; r < CAPTURE_DROPS; r++)
      dropped += cs.dropped[r];
   is_int(dropped, 0, "nothing dropped");
   Sbuf why = { 0 };
   bool healthy = Capture_health(cap, &why);
   ok(!healthy && why.buf && strstr(why.buf, "refuses writes"), "health says why: %s", why.buf ? why.buf : "");
   Sbuf_free(&why);
   Store_commit(lock, &err);
   Store_close(lock);
   WAIT_FOR(cap, cs, cs.committed >= 6);
   is_int(cs.committed, 6, "every record written once the lock is released");
   ok(Capture_health(cap, &why), "health is good again");
   Sbuf_free(&why);
   Capture_stop(cap);
   if (!Store_remove(path, &err))
      die(1, "%s", err);
   free(path);
}

/* Full queues (records, bytes) and a record the workspace rejects: counted by reason. */
static void test_drops(const char *dir) {
   char *path = xasprintf("%s/drops.db", dir), *err = NULL;
   for (int bound = 0; bound < 2; bound++) {
      Capture *cap = bound ? Capture_start(path, 1000, 8192, Task_create_in_tx, &err) : Capture_start(path, 3, 1LL << 30, Task_create_in_tx, &err);
      ok(cap != NULL, "drops: capture started: %s", err ? err : "");
      if (!cap)
         return;
      CaptureStats cs;
      Store *lock = Store_open(path, 0, &err);
      Store_begin(lock, &err);
      int accepted = 0;
      for (int i = 0; i < 10; i++) {
         char rid[16];
         snprintf(rid, sizeof rid, "d-%d-%d", bound, i);
         accepted += Capture_push(cap, item_for(&cases[0], rid, "2026-11-22T08:00:00.000Z"), NULL);
      }
      Capture_stats(cap, &cs);
      int reason = bound ? CAPTURE_DROP_BYTES : CAPTURE_DROP_RECORDS;
      ok(accepted > 0 && accepted < 10, "%s: %d of 10 accepted", Capture_drop_names[reason], accepted);
      is_int(cs.dropped[reason], 10 - accepted, "the others counted under their reason");
      is_int(cs.queued, 10, "every record handed over is counted");
      Sbuf why = { 0 };
      bool healthy = Capture_health(cap, &why);
      ok(!healthy && why.buf && strstr(why.buf, "dropped"), "health says records were dropped: %s",
         why.buf ? why.buf : "");
      Sbuf_free(&why);
      Store_commit(lock, &err);
      Store_close(lock);
      WAIT_FOR(cap, cs, cs.committed >= accepted);
      is_int(cs.committed + cs.dropped[reason], 10, "written + dropped = handed over");
      Capture_stop(cap);
   }
   Capture *cap = Capture_start(path, 100, 1LL << 30, Task_create_in_tx, &err);
   CaptureItem *bad = item_for(&cases[0], "r-bad", "2026-11-22T08:00:00.000Z");
   bad->task = "not a task name";
   Capture_push(cap, item_for(&cases[0], "r-1", "2026-11-22T08:00:00.000Z"), NULL);
   Capture_push(cap, bad, NULL);
   Capture_push(cap, item_for(&cases[0], "r-2", "2026-11-22T08:00:00.000Z"), NULL);
   CaptureStats cs;
   WAIT_FOR(cap, cs, cs.committed + cs.dropped[CAPTURE_DROP_REJECTED] >= 3);
   is_int(cs.dropped[CAPTURE_DROP_REJECTED], 1, "a record the workspace rejects is counted");
   is_int(count(path, "SELECT count(*) FROM exchanges WHERE rid IN ('r-1', 'r-2')"), 2,
          "and the rest of its batch written");
   Capture_stop(cap);
   if (!Store_remove(path, &err))
      die(1, "%s", err);
   free(path);
}

int main(void) {
   static char dir[] = "/tmp/offramp-capture-XXXXXX";
   if (!mkdtemp(dir))
      die(1, "mkdtemp failed");
   char *path = xasprintf("%s/ws.db", dir), *err = NULL;
   Capture *cap = Capture_start(path, 100, 1LL << 30, Task_create_in_tx, &err);
   ok(cap != NULL, "capture started: %s", err ? err : "");
   if (!cap)
      return tap_done();
   size_t n = ARRAY_SIZE(cases);
   for (size_t i = 0; i < n; i++) {
      char rid[40];
      snprintf(rid, sizeof rid, "rid-%zu", i);
      ok(Capture_push(cap, item_for(&cases[i], rid, "2026-11-21T10:00:00.123Z"), NULL), "%s: queued", cases[i].name);
   }
   for (int i = 0; i < BULK; i++) {
      char rid[40], ts[32];
      snprintf(rid, sizeof rid, "bulk-%d", i);
      snprintf(ts, sizeof ts, "2026-11-%02dT10:00:00.000Z", 1 + i % 25);
      CaptureItem *it = item_for(&cases[i % 3], rid, ts);
      it->calls[CAPTURE_SERVING].latency_ms = 0.5 + i * 37.0;
      Capture_push(cap, it, NULL);
   }
   Capture_stop(cap);

   Store *st = Store_open(path, 0, &err);
   ok(st != NULL, "workspace opens: %s", err ? err : "");
   if (!st)
      return tap_done();
   sqlite3_stmt *q = Store_prepare(st, "SELECT record, model, prompt_tokens, completion_tokens, fingerprint,"
                                       " (SELECT name FROM tasks WHERE id = task_id) FROM exchanges WHERE rid = ?");
   for (size_t i = 0; i < n; i++) {
      const Case *k = &cases[i];
      char rid[40], *model;
      long long pt, ct;
      snprintf(rid, sizeof rid, "rid-%zu", i);
      json_t *want = old_record(k, rid, "2026-11-21T10:00:00.123Z", &model, &pt, &ct);
      sqlite3_reset(q);
      sqlite3_bind_text(q, 1, rid, -1, SQLITE_STATIC);
      if (sqlite3_step(q) != SQLITE_ROW) {
         ok(0, "%s: stored", k->name);
         json_decref(want);
         free(model);
         continue;
      }
      const char *text = column_text(q, 0);
      json_error_t je;
      json_t *got = json_loads(text, 0, &je);
      ok(got != NULL, "%s: the record is valid JSON%s%s", k->name, got ? "" : ": ", got ? "" : je.text);
      ok(!strchr(text, '\n') && !strchr(text, '\r'), "%s: the record is one line", k->name);
      bool same = json_equal(got, want);
      ok(same, "%s: equals the record built from trees", k->name);
      if (!same) {
         char *w = json_dumps(want, JSON_COMPACT | JSON_PRESERVE_ORDER);
         printf("# got  %s\n# want %s\n", text, w);
         free(w);
      }
      /* Same keys in the same order: compare the key sequences. */
      Sbuf gk = { 0 }, wk = { 0 };
      const char *key;
      json_t *v;
      json_object_foreach(got, key, v) {
         Sbuf_puts(&gk, key);
         Sbuf_putc(&gk, ' ');
      }
      json_object_foreach(want, key, v) {
         Sbuf_puts(&wk, key);
         Sbuf_putc(&wk, ' ');
      }
      ok(gk.buf && wk.buf && str_eq(gk.buf, wk.buf), "%s: keys in order (%s)", k->name, gk.buf ? gk.buf : "");
      Sbuf_free(&gk);
      Sbuf_free(&wk);
      const char *col = column_text(q, 1);
      ok(model ? col && str_eq(col, model) : !col, "%s: model column (%s)", k->name, col ? col : "NULL");
      is_int(column_int(q, 2), pt, "prompt_tokens column");
      is_int(column_int(q, 3), ct, "completion_tokens column");
      if (k->task) {
         ok(column_text(q, 5) && str_eq(column_text(q, 5), k->task), "%s: attributed to its task", k->name);
      } else {
         json_t *request = json_loads(k->request, 0, NULL);
         char fp[FINGERPRINT_LEN + 1];
         Fingerprint_messages(json_object_get(request, "messages"), fp, NULL);
         json_decref(request);
         ok(column_text(q, 4) && str_eq(column_text(q, 4), fp), "%s: fingerprint %s", k->name, fp);
      }
      json_decref(got);
      json_decref(want);
      free(model);
   }
   sqlite3_finalize(q);

   /* The audit aggregates, summed in memory per batch, equal the stored exchanges' figures. */
   const char *groups = "SELECT coalesce(task_id, 0), coalesce(fingerprint, ''), substr(ts, 1, 10),"
                        " coalesce(model, ''), count(*), sum(status >= 400), sum(max(coalesce(prompt_tokens, 0), 0)),"
                        " sum(max(coalesce(completion_tokens, 0), 0)), count(latency_ms), round(sum(latency_ms), 6)"
                        " FROM exchanges WHERE arm != 'candidate' GROUP BY 1, 2, 3, 4";
   const char *rows = "SELECT task_id, fingerprint, day, model, calls, errors, in_tokens, out_tokens, lat_n,"
                      " round(lat_sum, 6) FROM audit_daily";
   char *sql = xasprintf("SELECT (SELECT count(*) FROM (%s EXCEPT %s)) + (SELECT count(*) FROM (%s EXCEPT %s))",
                         groups, rows, rows, groups);
   is_int(Store_count(st, sql, 0), 0, "audit_daily rows equal the exchanges' figures");
   free(sql);
   long long keys = Store_count(st, "SELECT count(*) FROM audit_daily", 0);
   ok(keys > 16, "more keys (%lld) than the writer sums at once", keys);
   is_int(Store_count(st, "SELECT sum(calls) FROM audit_daily", 0), (long long)n - 1 + BULK,
          "every API call counted once");
   const char *hist = "SELECT count(*) FROM exchanges WHERE arm != 'candidate' AND latency_ms >= 1024 AND latency_ms < 1217";
   long long want_h = Store_count(st, hist, 0);
   is_int(Store_count(st, "SELECT sum(h41) FROM audit_daily", 0), want_h, "latency histogram bucket counted");
   Sbuf h = { 0 };
   Sbuf_puts(&h, "SELECT sum(0");
   for (int b = 0; b < AUDIT_BUCKETS; b++)
      Sbuf_printf(&h, " + h%d", b);
   Sbuf_puts(&h, ") - sum(lat_n) FROM audit_daily");
   is_int(Store_count(st, h.buf, 0), 0, "every latency in the histogram");
   Sbuf_free(&h);
   Store_close(st);
   if (!Store_remove(path, &err))
      die(1, "%s", err);
   test_pending(dir);
   test_locked(dir);
   test_drops(dir);
   rmdir(dir);
   free(path);
   return tap_done();
}
