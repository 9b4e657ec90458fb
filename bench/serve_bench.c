/* serve_bench.c - the built-in trainer through its HTTP API: upload train.jsonl, create a job,
 * wait for it, then send every test example to /v1/chat/completions over one keep-alive
 * connection and report accuracy and latency percentiles as "key value" lines.
 * Usage: serve_bench BASE_URL train.jsonl test.jsonl. Built by bench/trainer.sh against the
 * engine library (the trainer client, src/control/ftclient.c). */
#include "config.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "control/ftclient.h"

static size_t on_body(char *d, size_t s, size_t n, void *arg) {
   Sbuf_add(arg, d, s * n);
   return s * n;
}

static CURL *curl;
static struct curl_slist *json_hdr;

/* POSTs a JSON body; dies on transport errors or non-2xx. Only the timed chat completions go
 * this way: one reused handle keeps one keep-alive connection. */
static json_t *call(const char *url, const char *body) {
   Sbuf out = { 0 };
   curl_easy_reset(curl);
   curl_easy_setopt(curl, CURLOPT_URL, url);
   curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
   curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
   curl_easy_setopt(curl, CURLOPT_HTTPHEADER, json_hdr);
   curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
   CURLcode rc = curl_easy_perform(curl);
   long status = 0;
   curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
   if (rc != CURLE_OK || status >= 300)
      die(1, "%s: %s %ld %s", url, curl_easy_strerror(rc), status, out.buf ? out.buf : "");
   json_t *v = json_loads(out.buf, 0, NULL);
   Sbuf_free(&out);
   return v;
}

static int cmp_double(const void *a, const void *b) {
   double x = *(const double *)a, y = *(const double *)b;
   return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
   if (argc != 4)
      die(2, "usage: serve_bench BASE_URL train.jsonl test.jsonl");
   const char *base = argv[1];
   curl_global_init(CURL_GLOBAL_DEFAULT);
   curl = curl_easy_init();
   json_hdr = curl_slist_append(NULL, "Content-Type: application/json");
   /* The trainer's token, when it has one, from the variable it reads itself. */
   const char *token = getenv("OFFRAMP_TRAINER_TOKEN");
   char *auth = token && *token ? xasprintf("Authorization: Bearer %s", token) : NULL;
   if (auth)
      json_hdr = curl_slist_append(json_hdr, auth);

   /* Training through the project's own client (the trainer's defaults: 10 epochs, batch 1). */
   double t0 = mono_seconds();
   FtBackend be = { .name = "bench", .kind = FtKind_find("openai-ft"), .base_url = (char *)base,
                    .key_env = auth ? "OFFRAMP_TRAINER_TOKEN" : "",
                    .accepts = "", .timeout_ms = 600000 };
   char *err = NULL;
   char *file = be.kind->upload(&be, argv[2], &err);
   if (!file)
      die(1, "%s", err);
   FtJobSpec spec = { .training_file = file, .base_model = "distill", .suffix = "bench", .epochs = 10, .batch = 1,
                      .has_seed = true, .seed = 1 };
   json_t *sent = NULL;
   char *notes = NULL;
   json_t *job = be.kind->create_job(&be, &spec, &sent, &notes, &err);
   if (!job)
      die(1, "%s", err);
   json_t *j = NULL;
   for (;;) {
      json_decref(j);
      j = be.kind->get_job(&be, json_string_value(json_object_get(job, "id")), &err);
      const char *s = j ? json_string_value(json_object_get(j, "status")) : NULL;
      if (!j)
         die(1, "%s", err);
      if (str_eq(s, "succeeded"))
         break;
      if (str_eq(s, "failed") || str_eq(s, "cancelled"))
         die(1, "job %s: %s", s, json_dumps(j, 0));
      struct timespec ts = { 0, 20 * 1000000L };
      nanosleep(&ts, NULL);
   }
   double train_s = mono_seconds() - t0;
   char *model = xstrdup(json_string_value(json_object_get(j, "fine_tuned_model")));
   json_decref(j);
   json_decref(job);
   json_decref(sent);
   free(notes);
   free(file);

   /* Requests, built before timing: the examples without their assistant message. */
   FILE *in = fopen(argv[3], "r");
   if (!in)
      die(2, "cannot read %s", argv[3]);
   char **reqs = NULL, **want = NULL;
   size_t n = 0;
   char line[65536];
   while (fgets(line, sizeof line, in)) {
      json_t *ex = json_loads(line, 0, NULL);
      json_t *msgs = json_object_get(ex, "messages");
      if (!msgs)
         continue;
      size_t last = json_array_size(msgs) - 1;
      want = xrealloc(want, (n + 1) * sizeof *want);
      reqs = xrealloc(reqs, (n + 1) * sizeof *reqs);
      want[n] = xstrdup(json_string_value(json_object_get(json_array_get(msgs, last), "content")));
      json_array_remove(msgs, last);
      json_t *r = json_pack("{s:s, s:O, s:b, s:i}", "model", model, "messages", msgs, "logprobs", 1, "top_logprobs", 5);
      reqs[n++] = json_dumps(r, JSON_COMPACT);
      json_decref(r);
      json_decref(ex);
   }
   fclose(in);

   char *url = xasprintf("%s/chat/completions", base);
   double *lat = xmalloc(n * sizeof *lat);
   size_t right = 0;
   for (int pass = 0; pass < 2; pass++) {   /* pass 0 warms the connection and caches */
      for (size_t i = 0; i < (pass ? n : 200 < n ? 200 : n); i++) {
         double s = mono_seconds();
         json_t *r = call(url, reqs[i]);
         double us = (mono_seconds() - s) * 1e6;
         if (pass) {
            lat[i] = us;
            const char *got = json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(r, "choices"), 0), "message"), "content"));
            right += str_eq(got, want[i]);
         }
         json_decref(r);
      }
   }
   qsort(lat, n, sizeof *lat, cmp_double);
   printf("served_requests %zu\n", n);
   printf("served_accuracy %.2f\n", 100.0 * right / n);
   printf("served_p50_us %.0f\n", lat[n / 2]);
   printf("served_p99_us %.0f\n", lat[(size_t)(0.99 * (n - 1))]);
   printf("served_max_us %.0f\n", lat[n - 1]);
   printf("api_train_s %.2f\n", train_s);
   for (size_t i = 0; i < n; i++) {
      free(reqs[i]);
      free(want[i]);
   }
   free(reqs);
   free(want);
   free(lat);
   free(url);
   free(model);
   curl_slist_free_all(json_hdr);
   free(auth);
   curl_easy_cleanup(curl);
   return 0;
}
