/* test_demologs.c - the demo log generator: contract fields, determinism, volumes, error and
 * truncation rates, untagged calls, label sets, and that fingerprints recover every feature. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/fingerprint.h"
#include "common/util.h"
#include "demo/demologs.h"
#include "tap.h"

#define DAYS 14
#define SCALE 0.02
#define MAX_FP 16

static const char *share;

typedef struct {
   char *data;
   size_t len;
   int progress_calls, last_day;
   unsigned long long last_records;
} Run;

static void on_progress(void *ctx, const DemologsProgress *p) {
   Run *r = ctx;
   r->progress_calls++;
   r->last_day = p->day;
   r->last_records = p->records;
}

static bool run(Run *r, uint64_t seed, double scale, int days, char **err) {
   DemologsParams p;
   Demologs_defaults(&p);
   p.days = days;
   p.scale = scale;
   p.seed = seed;
   p.share_dir = share;
   p.progress = on_progress;
   p.progress_ctx = r;
   memset(r, 0, sizeof *r);
   FILE *f = open_memstream(&r->data, &r->len);
   bool ok = Demologs_write(f, &p, err);
   fclose(f);
   return ok;
}

static int feature_index(const char *task) {
   for (size_t i = 0; i < Demologs_nfeatures; i++)
      if (str_eq(task, Demologs_features[i].task))
         return (int)i;
   return -1;
}

static bool in_labels(json_t *labels, const char *s) {
   size_t i;
   json_t *l;
   json_array_foreach(labels, i, l) if (str_eq(json_string_value(l), s)) return true;
   return false;
}

static json_t *load_share(const char *name) {
   char *path = xasprintf("%s/demo/%s", share, name);
   json_t *j = json_load_file(path, 0, NULL);
   free(path);
   return j;
}

static bool is_iso_ts(const char *s) {
   /* 2026-11-21T10:00:00.123Z */
   static const char *pat = "dddd-dd-ddTdd:dd:dd.dddZ";
   if (!s || strlen(s) != strlen(pat))
      return false;
   for (size_t i = 0; pat[i]; i++)
      if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i])
         return false;
   return true;
}

/* 0 = Monday, from "YYYY-MM-DD..." */
static int weekday(const char *ts) {
   long long y = atoi(ts), m = atoi(ts + 5), d = atoi(ts + 8);
   y -= m <= 2;
   long long era = y / 400, yoe = y - era * 400, doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
   long long days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
   return (int)((days + 3) % 7);
}

static void test_records(void) {
   Run r;
   char *err = NULL;
   if (!run(&r, 7, SCALE, DAYS, &err)) {
      ok(0, "Demologs_write: %s", err);
      free(err);
      return;
   }
   ok(r.len > 0, "wrote %zu bytes", r.len);
   is_int(r.progress_calls, DAYS, "progress once per day");
   is_int(r.last_day, DAYS, "last progress call is the last day");

   json_t *tickets_doc = load_share("tickets.json"), *tone_doc = load_share("tone.json");
   json_t *cls_labels = json_object_get(tickets_doc, "labels");
   json_t *tone_labels = json_object_get(tone_doc, "labels");

   size_t n = 0, bad_contract = 0, bad_json = 0, bad_order = 0, errors = 0, truncated = 0, bad_trunc = 0;
   size_t untagged = 0, bad_task = 0, bad_label = 0, bad_tone = 0, bad_usage = 0;
   size_t per_feature[8] = { 0 }, weekday_n = 0, weekend_n = 0, peak = 0, night = 0;
   json_t *label_seen = json_object(), *cls_texts = json_object();
   size_t cls_n = 0;
   /* extraction: answers that are the five keys, values found verbatim in the message */
   static const char *const xkeys[5] = { "customer_name", "order_id", "order_date", "amount", "product" };
   size_t x_n = 0, x_bad_json = 0, x_not_span = 0, x_present[5] = { 0 }, x_all = 0, x_none = 0;
   json_t *x_texts = json_object();
   /* rewrite: three lines, Issue / Details / Asks */
   size_t rw_n = 0, rw_bad = 0, rw_third = 0;
   char fps[8][MAX_FP][FINGERPRINT_LEN + 1];
   int nfps[8] = { 0 };
   char unt_fp[4096][FINGERPRINT_LEN + 1];
   size_t nunt = 0;
   char last_ts[32] = "";

   for (char *line = r.data; line < r.data + r.len;) {
      char *nl = memchr(line, '\n', (size_t)(r.data + r.len - line));
      if (!nl)
         break;
      n++;
      json_error_t je;
      json_t *rec = json_loadb(line, (size_t)(nl - line), 0, &je);
      line = nl + 1;
      if (!rec) {
         bad_json++;
         continue;
      }
      const char *id = json_string_value(json_object_get(rec, "id"));
      const char *ts = json_string_value(json_object_get(rec, "ts"));
      const char *arm = json_string_value(json_object_get(rec, "arm"));
      json_t *task = json_object_get(rec, "task");
      json_t *req = json_object_get(rec, "request"), *resp = json_object_get(rec, "response");
      json_t *msgs = json_object_get(req, "messages");
      json_t *status = json_object_get(rec, "status"), *lat = json_object_get(rec, "latency_ms");
      const char *model = json_string_value(json_object_get(rec, "model"));
      json_t *usage = json_object_get(rec, "usage");
      bool contract = id && strlen(id) == 36 && is_iso_ts(ts) && str_eq(arm, "primary") && json_is_object(req)
                      && json_is_object(resp) && json_is_array(msgs) && json_array_size(msgs) >= 2
                      && json_is_number(json_object_get(req, "temperature")) && json_is_integer(status)
                      && json_is_number(lat) && json_number_value(lat) > 0 && model
                      && str_eq(model, json_string_value(json_object_get(req, "model")))
                      && json_is_integer(json_object_get(usage, "prompt_tokens"))
                      && json_is_integer(json_object_get(usage, "completion_tokens"))
                      && (!task || json_is_string(task)) && !json_object_get(rec, "shadow");
      long long st = json_integer_value(status);
      const char *content = NULL, *finish = NULL;
      if (contract && st == 200) {
         json_t *choice = json_array_get(json_object_get(resp, "choices"), 0);
         content = json_string_value(json_object_get(json_object_get(choice, "message"), "content"));
         finish = json_string_value(json_object_get(choice, "finish_reason"));
         json_t *ru = json_object_get(resp, "usage");
         contract = str_eq(json_string_value(json_object_get(resp, "object")), "chat.completion") && content
                    && (str_eq(finish, "stop") || str_eq(finish, "length"))
                    && json_is_integer(json_object_get(resp, "created"));
         if (json_integer_value(json_object_get(ru, "prompt_tokens")) != json_integer_value(json_object_get(usage, "prompt_tokens"))
             || json_integer_value(json_object_get(ru, "completion_tokens")) != json_integer_value(json_object_get(usage, "completion_tokens"))
             || json_integer_value(json_object_get(ru, "total_tokens"))
                   != json_integer_value(json_object_get(ru, "prompt_tokens")) + json_integer_value(json_object_get(ru, "completion_tokens"))
             || json_integer_value(json_object_get(usage, "prompt_tokens")) < 10)
            bad_usage++;
      } else if (contract) {
         contract = (st == 429 || st == 500 || st == 503)
                    && json_is_string(json_object_get(json_object_get(resp, "error"), "message"));
         errors++;
      }
      if (!contract) {
         if (!bad_contract++) {
            char *dump = json_dumps(rec, JSON_COMPACT);
            printf("# first bad record: %.600s\n", dump);
            free(dump);
         }
         json_decref(rec);
         continue;
      }
      if (strcmp(ts, last_ts) < 0)
         bad_order++;
      snprintf(last_ts, sizeof last_ts, "%s", ts);

      if (str_eq(finish, "length")) {
         truncated++;
         if (json_integer_value(json_object_get(req, "max_tokens")) != json_integer_value(json_object_get(usage, "completion_tokens")))
            bad_trunc++;
      }

      int hour = atoi(ts + 11);
      if (weekday(ts) >= 5)
         weekend_n++;
      else
         weekday_n++;
      if (hour >= 13 && hour <= 16)
         peak++;
      if (hour >= 3 && hour <= 5)
         night++;

      char fp[FINGERPRINT_LEN + 1];
      Fingerprint_messages(msgs, fp, NULL);
      if (task) {
         int fi = feature_index(json_string_value(task));
         if (fi < 0) {
            bad_task++;
         } else {
            per_feature[fi]++;
            bool known = false;
            for (int k = 0; k < nfps[fi]; k++)
               known |= strcmp(fps[fi][k], fp) == 0;
            if (!known && nfps[fi] < MAX_FP)
               snprintf(fps[fi][nfps[fi]++], FINGERPRINT_LEN + 1, "%s", fp);
            if (content && str_eq(json_string_value(task), "content-classification")) {
               if (!in_labels(cls_labels, content))
                  bad_label++;
               json_object_set_new(label_seen, content, json_true());
            }
            if (content && str_eq(json_string_value(task), "tone-analysis") && !in_labels(tone_labels, content))
               bad_tone++;
            if (content && str_eq(finish, "stop") && str_eq(json_string_value(task), "order-extraction")) {
               const char *u = json_string_value(json_object_get(json_array_get(msgs, 1), "content"));
               json_t *a = json_loads(content, 0, NULL);
               x_n++;
               if (u)
                  json_object_set_new(x_texts, u, json_true());
               if (!json_is_object(a) || json_object_size(a) != 5) {
                  x_bad_json++;
               } else {
                  int present = 0;
                  for (int k = 0; k < 5; k++) {
                     json_t *v = json_object_get(a, xkeys[k]);
                     if (json_is_string(v)) {
                        present++;
                        x_present[k]++;
                        if (!u || !strstr(u, json_string_value(v)))
                           x_not_span++;
                     } else if (!json_is_null(v)) {
                        x_bad_json++;
                     }
                  }
                  x_all += present == 5;
                  x_none += present == 0;
               }
               json_decref(a);
            }
            if (content && str_eq(finish, "stop") && str_eq(json_string_value(task), "ticket-rewrite")) {
               rw_n++;
               const char *l2 = strchr(content, '\n'), *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
               if (strncmp(content, "- Issue: ", 9) != 0 || !l2 || strncmp(l2 + 1, "- Details: ", 11) != 0 || !l3 ||
                   strncmp(l3 + 1, "- Asks: ", 8) != 0 || strchr(l3 + 1, '\n'))
                  rw_bad++;
               rw_third += strstr(content, "they") != NULL || strstr(content, "They") != NULL ||
                           strstr(content, "their") != NULL;
            }
            if (str_eq(json_string_value(task), "content-classification")) {
               cls_n++;
               const char *u = json_string_value(json_object_get(json_array_get(msgs, 1), "content"));
               if (u)
                  json_object_set_new(cls_texts, u, json_true());
            }
         }
      } else {
         untagged++;
         if (nunt < ARRAY_SIZE(unt_fp))
            snprintf(unt_fp[nunt++], FINGERPRINT_LEN + 1, "%s", fp);
      }
      json_decref(rec);
   }

   is_int(bad_json, 0, "every line parses as JSON");
   is_int(bad_contract, 0, "every record has the contract fields");
   is_int(bad_order, 0, "records are in time order");
   is_int(bad_usage, 0, "usage agrees between record and response");
   is_int(bad_task, 0, "tasks are the demo's features");
   ok(r.last_records == n, "progress counted %llu records, file has %zu", r.last_records, n);

   double want_total = 0;
   for (size_t i = 0; i < Demologs_nfeatures; i++)
      want_total += Demologs_features[i].calls_per_day * SCALE * DAYS;
   ok(n > want_total * 0.9 && n < want_total * 1.1, "volume: %zu records, expected about %.0f", n, want_total);
   for (size_t i = 0; i < Demologs_nfeatures; i++) {
      double want = Demologs_features[i].calls_per_day * SCALE * DAYS * (1 - Demologs_features[i].untagged);
      ok(per_feature[i] > want * 0.75 && per_feature[i] < want * 1.25, "%s: %zu tagged calls, expected about %.0f",
         Demologs_features[i].task, per_feature[i], want);
   }
   double er = (double)errors / n, tr = (double)truncated / n, ur = (double)untagged / n;
   ok(er >= 0.003 && er <= 0.015, "error rate %.2f %% within 0.3..1.5 %%", er * 100);
   ok(tr >= 0.0015 && tr <= 0.015, "truncation rate %.2f %% within 0.15..1.5 %%", tr * 100);
   is_int(bad_trunc, 0, "truncated answers used exactly max_tokens");
   ok(ur >= 0.07 && ur <= 0.13, "untagged share %.1f %% within 7..13 %%", ur * 100);
   is_int(bad_label, 0, "classification answers are in the label set");
   ok(json_object_size(label_seen) >= 8, "classification uses %zu labels (>= 8)", json_object_size(label_seen));
   is_int(bad_tone, 0, "tone answers are in the tone set");
   ok(json_object_size(cls_texts) >= cls_n * 97 / 100, "tickets are varied: %zu distinct of %zu",
      json_object_size(cls_texts), cls_n);
   ok(weekday_n / 10.0 > 1.3 * (weekend_n / 4.0), "weekdays busier than weekends (%.0f vs %.0f a day)",
      weekday_n / 10.0, weekend_n / 4.0);
   ok(peak > 3 * night, "afternoon peak (%zu) over the night (%zu)", peak, night);

   /* the importer's job: untagged calls must land on their feature's fingerprint */
   for (size_t i = 0; i < Demologs_nfeatures; i++)
      is_int(nfps[i], 1, Demologs_features[i].task);
   int distinct = 0;
   for (size_t i = 0; i < Demologs_nfeatures; i++) {
      bool dup = false;
      for (size_t k = 0; k < i; k++)
         dup |= nfps[i] && nfps[k] && strcmp(fps[i][0], fps[k][0]) == 0;
      distinct += !dup && nfps[i];
   }
   is_int(distinct, (long long)Demologs_nfeatures, "one distinct fingerprint per feature");
   size_t matched = 0;
   bool hit[8] = { false };
   for (size_t u = 0; u < nunt; u++)
      for (size_t i = 0; i < Demologs_nfeatures; i++)
         if (nfps[i] && strcmp(unt_fp[u], fps[i][0]) == 0) {
            matched++;
            hit[i] = true;
         }
   ok(matched == nunt && nunt > 0, "all %zu untagged calls map to a feature fingerprint (%zu did)", nunt, matched);
   int features_hit = 0;
   for (size_t i = 0; i < Demologs_nfeatures; i++)
      features_hit += hit[i];
   is_int(features_hit, (long long)Demologs_nfeatures, "every feature has untagged calls");

   ok(x_n > 300, "extraction answers: %zu", x_n);
   is_int(x_bad_json, 0, "every extraction answer is a JSON object of the five keys, strings or null");
   is_int(x_not_span, 0, "every extracted value is written verbatim in the message");
   for (int k = 0; k < 5; k++)
      ok(x_present[k] > x_n / 4 && x_present[k] < x_n, "%s: in %zu of %zu answers (some messages leave it out)",
         xkeys[k], x_present[k], x_n);
   ok(x_all > 0 && x_all < x_n / 2, "%zu messages name all five fields", x_all);
   ok(json_object_size(x_texts) >= x_n * 97 / 100, "extraction messages are varied: %zu distinct of %zu",
      json_object_size(x_texts), x_n);
   ok(rw_n > 200, "rewrite answers: %zu", rw_n);
   is_int(rw_bad, 0, "every rewrite is the three lines Issue, Details, Asks");
   ok(rw_third > rw_n / 3 && rw_third < rw_n, "%zu of %zu rewrites turn the customer into the third person", rw_third,
      rw_n);

   json_decref(x_texts);
   json_decref(label_seen);
   json_decref(cls_texts);
   json_decref(tickets_doc);
   json_decref(tone_doc);
   free(r.data);
}

static void test_determinism(void) {
   Run a, b, c;
   char *err = NULL;
   bool ok1 = run(&a, 42, 0.005, 3, &err), ok2 = run(&b, 42, 0.005, 3, &err), ok3 = run(&c, 43, 0.005, 3, &err);
   ok(ok1 && ok2 && ok3, "three small runs");
   ok(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "same seed, same bytes (%zu)", a.len);
   ok(a.len != c.len || memcmp(a.data, c.data, a.len) != 0, "different seed, different bytes");
   ok(strstr(a.data, "\"ts\":\"2026-11-18T") != NULL, "default period ends before 2026-11-21");
   ok(strstr(a.data, "\"ts\":\"2026-11-21T") == NULL, "and not after");
   free(a.data);
   free(b.data);
   free(c.data);
}

static void test_errors(void) {
   DemologsParams p;
   char *err = NULL;
   FILE *f = fopen("/dev/null", "w");
   Demologs_defaults(&p);
   p.share_dir = "/nonexistent/share";
   bool rc = Demologs_write(f, &p, &err);
   ok(!rc && err && strstr(err, "/nonexistent/share/demo/vocab.json"), "missing share dir is named: %s",
      err ? err : "(null)");
   free(err);
   err = NULL;
   Demologs_defaults(&p);
   p.share_dir = share;
   p.days = 0;
   rc = Demologs_write(f, &p, &err);
   ok(!rc && err && strstr(err, "--days"), "days 0 rejected: %s", err ? err : "(null)");
   free(err);
   err = NULL;
   p.days = 1;
   p.scale = -1;
   rc = Demologs_write(f, &p, &err);
   ok(!rc && err && strstr(err, "--scale"), "negative scale rejected: %s", err ? err : "(null)");
   free(err);
   fclose(f);
}

int main(void) {
   share = getenv("OFFRAMP_SHARE");
   if (!share || !*share)
      share = "share";
   char *probe = xasprintf("%s/demo/vocab.json", share);
   FILE *f = fopen(probe, "r");
   free(probe);
   /* a missing share dir is a broken setup, not a reason to skip */
   ok(f != NULL, "share files found in %s/demo (set OFFRAMP_SHARE to offramp's share directory)", share);
   if (!f)
      return tap_done();
   fclose(f);
   test_records();
   test_determinism();
   test_errors();
   return tap_done();
}
