/* test_route.c - route JSON validation, persistence with history, attribution. */
#include "config.h"

#include <unistd.h>

#include "common/fingerprint.h"
#include "common/util.h"
#include "gateway/route.h"
#include "tap.h"

static Route *parse(const char *task, const char *text, char **err) {
   json_t *j = json_loads(text, 0, NULL);
   Route *r = Route_from_json(task, j, err);
   json_decref(j);
   return r;
}

int main(void) {
   char *err = NULL;
   Route *r = parse("intent", "{}", &err);
   ok(r && r->mode == ROUTE_PASSTHROUGH && r->compare == COMPARE_LABEL && r->timeout_ms == 2000,
      "empty route: passthrough with defaults");
   Route_unref(r);

   r = parse("notes", "{\"compare\":\"text\"}", &err);
   ok(r && r->metric == METRIC_CHRF && r->threshold == COMPARE_TEXT_THRESHOLD, "text route: chrF at 0.80 by default");
   Route_unref(r);
   r = parse("notes", "{\"compare\":\"text\",\"metric\":\"rouge-l\",\"threshold\":0.65}", &err);
   ok(r && r->metric == METRIC_ROUGE_L && r->threshold == 0.65, "text route: metric and threshold read");
   json_t *tj = r ? Route_to_json(r) : NULL;
   ok(tj && str_eq(json_string_value(json_object_get(tj, "metric")), "rouge-l") &&
      json_number_value(json_object_get(tj, "threshold")) == 0.65, "... and written back");
   json_decref(tj);
   Route_unref(r);
   r = parse("notes", "{\"compare\":\"text\",\"metric\":\"bleu\"}", &err);
   ok(!r && err && strstr(err, "metric 'bleu' is not one of chrf, rouge-l"), "unknown metric refused: %s", err ? err : "");
   free(err);
   err = NULL;
   r = parse("notes", "{\"threshold\":1.5}", &err);
   ok(!r && err && strstr(err, "threshold"), "threshold over 1 refused");
   free(err);
   err = NULL;
   r = parse("tools", "{\"compare\":\"tool_calls\"}", &err);
   ok(r && r->compare == COMPARE_TOOL_CALLS, "tool_calls compare mode");
   Route_unref(r);

   r = parse("intent", "{\"mode\":\"shadow\"}", &err);
   ok(!r && err && strstr(err, "candidate.url"), "shadow without a candidate refused: %s", err ? err : "");
   free(err);
   err = NULL;
   r = parse("intent", "{\"mode\":\"sideways\"}", &err);
   ok(!r && err && strstr(err, "sideways"), "unknown mode named in the error");
   free(err);
   err = NULL;
   r = parse("intent", "{\"percnt\":5}", &err);
   ok(!r && err && strstr(err, "percnt"), "misspelt field refused");
   free(err);
   err = NULL;
   r = parse("intent", "{\"percent\":150}", &err);
   ok(!r && err && strstr(err, "percent"), "percent over 100 refused");
   free(err);
   err = NULL;
   r = parse("intent", "{\"candidate\":{\"url\":\"ftp://x\"},\"mode\":\"canary\"}", &err);
   ok(!r && err && strstr(err, "ftp://x"), "non-http url refused");
   free(err);
   err = NULL;
   r = parse("intent", "{\"task\":\"other\"}", &err);
   ok(!r && err, "task mismatch refused");
   free(err);
   err = NULL;

   const char *full = "{\"task\":\"intent\",\"aliases\":[\"intent-model\"],"
                      "\"primary\":{\"url\":\"https://api.example.com/v1/\",\"model\":\"gpt-4o-mini\",\"key_env\":\"K\"},"
                      "\"candidate\":{\"url\":\"http://127.0.0.1:9/v1\",\"model\":\"ft:1\"},\"mode\":\"canary\","
                      "\"percent\":10,\"sticky\":\"conversation\",\"compare\":\"json\","
                      "\"fallback\":{\"min_confidence\":0.8,\"on_error\":false,\"timeout_ms\":500},\"verify_percent\":5}";
   r = parse("intent", full, &err);
   ok(r != NULL, "full route parses");
   if (!r)
      return tap_done();
   is_str(r->primary.url, "https://api.example.com/v1", "trailing slash dropped");
   ok(r->mode == ROUTE_CANARY && r->percent == 10 && r->compare == COMPARE_JSON && r->min_confidence == 0.8 &&
         !r->fallback_on_error && r->timeout_ms == 500 && r->verify_percent == 5,
      "fields read");
   ok(r->analysis.enabled && r->analysis.interval_s == 60 && r->analysis.failure_limit == 3 &&
         r->analysis.verify_percent == 10 && !r->analysis.auto_promote && r->analysis.n_steps == 5 &&
         r->analysis.steps[4] == 100,
      "a route without analysis gets the default canary analysis");
   Route *an = parse("intent", "{\"candidate\":{\"url\":\"http://127.0.0.1:9/v1\"},\"mode\":\"canary\","
                               "\"analysis\":{\"interval_s\":1,\"failure_limit\":2,\"max_p95_ms\":300,"
                               "\"auto_promote\":true,\"steps\":[5,25,50,100],\"verify_percent\":20}}", &err);
   ok(an && an->analysis.interval_s == 1 && an->analysis.failure_limit == 2 && an->analysis.max_p95_ms == 300 &&
         an->analysis.auto_promote && an->analysis.n_steps == 4 && an->analysis.steps[1] == 25 &&
         an->analysis.verify_percent == 20 && an->analysis.min_samples == 20,
      "analysis fields read, the rest defaulted");
   Route_unref(an);
   static const struct { const char *analysis, *names; } bad[] = {
      { "{\"steps\":[5,5,100]}", "analysis.steps[1]" },
      { "{\"steps\":[]}", "analysis.steps" },
      { "{\"interval_s\":0}", "analysis.interval_s" },
      { "{\"failure_limit\":1.5}", "failure_limit" },
      { "{\"auto_promote\":\"yes\"}", "analysis.auto_promote" },
      { "{\"treshold\":3}", "analysis.treshold" },
      { "[]", "analysis must be an object" },
   };
   for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
      char *text = xasprintf("{\"analysis\":%s}", bad[i].analysis);
      err = NULL;
      an = parse("intent", text, &err);
      ok(!an && err && strstr(err, bad[i].names), "analysis %s refused, naming %s (%s)", bad[i].analysis, bad[i].names,
         err ? err : "");
      free(err);
      free(text);
   }
   err = NULL;
   json_t *j = Route_to_json(r);
   Route *again = Route_from_json("intent", j, &err);
   json_t *j2 = Route_to_json(again);
   ok(json_equal(j, j2), "to_json/from_json round trip");
   json_decref(j);
   json_decref(j2);
   Route_unref(again);

   const char *body = "{\"model\":\"intent-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
   Route *routes[] = { r };
   const char *task = NULL;
   ok(Route_attribute(routes, 1, NULL, "intent-model", body, strlen(body), &task) == r && task &&
         str_eq(task, "intent"),
      "alias selects the route");
   ok(Route_attribute(routes, 1, "other", "intent-model", body, strlen(body), &task) == NULL && str_eq(task, "other"),
      "header wins; unknown task has no route but keeps its tag");
   ok(Route_attribute(routes, 1, NULL, "gpt-4o", body, strlen(body), &task) == NULL && task == NULL,
      "no match: unattributed");
   {
      /* A route listing the prompt's fingerprint takes requests whose model matches nothing. */
      char fp[FINGERPRINT_LEN + 1];
      json_t *parsed = json_loads(body, 0, NULL);
      Fingerprint_messages(json_object_get(parsed, "messages"), fp, NULL);
      json_decref(parsed);
      json_t *fj = json_pack("{s:[s]}", "fingerprints", fp);
      Route *byfp = Route_from_json("by-prompt", fj, &err);
      json_decref(fj);
      Route *both[] = { r, byfp };
      ok(Route_attribute(both, 2, NULL, "gpt-4o", body, strlen(body), &task) == byfp && task &&
            str_eq(task, "by-prompt"),
         "fingerprint selects the route when the model does not");
      const char *other = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"bye\"}]}";
      ok(Route_attribute(both, 2, NULL, "gpt-4o", other, strlen(other), &task) == NULL && task == NULL,
         "another prompt's fingerprint does not");
      Route_unref(byfp);
   }

   char path[] = "/tmp/offramp-route-XXXXXX";
   int fd = mkstemp(path);
   close(fd);
   unlink(path);
   Store *st = Store_open(path, STORE_CREATE, &err);
   ok(st != NULL, "workspace opens");
   ok(Route_save(st, r, "set", "tester", "first", &err), "save");
   r->mode = ROUTE_PASSTHROUGH;
   ok(Route_save(st, r, "rollback", "tester", "bad agreement", &err), "save again");
   int n = 0;
   Route **all = Route_load_all(st, &n, &err);
   ok(n == 1 && all[0]->mode == ROUTE_PASSTHROUGH && all[0]->percent == 10, "load returns the latest route");
   for (int i = 0; i < n; i++)
      Route_unref(all[i]);
   free(all);
   json_t *hist = Route_history(st, "intent");
   is_int((long long)json_array_size(hist), 2, "two route events");
   json_t *ev = json_array_get(hist, 1);
   ok(str_eq(json_string_value(json_object_get(json_object_get(ev, "old"), "mode")), "canary") &&
         str_eq(json_string_value(json_object_get(json_object_get(ev, "new"), "mode")), "passthrough") &&
         str_eq(json_string_value(json_object_get(ev, "reason")), "bad agreement") &&
         str_eq(json_string_value(json_object_get(ev, "actor")), "tester"),
      "event keeps old -> new, actor and reason");
   ok(json_is_null(json_object_get(json_array_get(hist, 0), "old")), "first event has no old route");
   json_decref(hist);
   Store_close(st);
   char *rm_err = NULL;
   if (!Store_remove(path, &rm_err))
      fprintf(stderr, "# %s\n", rm_err);
   free(rm_err);
   Route_unref(r);

   /* key_env only from the gateway's allow-list, for either arm. */
   static const char *const allowed[] = { "OPENAI_API_KEY", "VLLM_KEY" };
   r = parse("kx", "{\"primary\":{\"key_env\":\"OPENAI_API_KEY\"},\"candidate\":{\"url\":\"http://c/v1\","
                   "\"key_env\":\"VLLM_KEY\"}}", &err);
   ok(r && Route_key_envs_allowed(r, allowed, 2, &err), "allowed key_envs pass");
   Route_unref(r);
   r = parse("kx", "{\"candidate\":{\"url\":\"http://c/v1\",\"key_env\":\"AWS_SECRET_ACCESS_KEY\"}}", &err);
   ok(r && !Route_key_envs_allowed(r, allowed, 2, &err) && strstr(err, "candidate.key_env AWS_SECRET_ACCESS_KEY") &&
         strstr(err, "allowed: OPENAI_API_KEY, VLLM_KEY") && strstr(err, "--key-env AWS_SECRET_ACCESS_KEY"),
      "another is refused, naming it, the allowed ones and the fix: %s", err ? err : "");
   free(err);
   err = NULL;
   Route_unref(r);
   r = parse("kx", "{}", &err);
   ok(r && Route_key_envs_allowed(r, NULL, 0, &err), "a route without key_env needs no allow-list");
   Route_unref(r);
   return tap_done();
}
