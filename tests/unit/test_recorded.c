/* test_recorded.c - reading logged calls back for replay, and the replay server's lookup key. */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "common/util.h"
#include "replay/recorded.h"
#include "tap.h"

static uint64_t key(const char *json) {
   json_t *j = json_loads(json, 0, NULL);
   uint64_t k = Recorded_key(j);
   json_decref(j);
   return k;
}

int main(void) {
   const char *base = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"route it\"},"
                      "{\"role\":\"user\",\"content\":\"my parcel is late\"}]}";
   uint64_t k = key(base);
   ok(k == key("{\"messages\":[{\"content\":\"  route it\\n\",\"role\":\"system\"},{\"role\":\"user\","
               "\"content\":\"my parcel is late \"}],\"model\":\"m\",\"temperature\":0}"),
      "key: field order, other parameters and outer whitespace do not matter");
   ok(k == key("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"route it\"}]},"
               "{\"role\":\"user\",\"content\":\"my parcel is late\"}]}"),
      "key: a content array of text parts is its text");
   ok(k != key("{\"model\":\"n\",\"messages\":[{\"role\":\"system\",\"content\":\"route it\"},"
               "{\"role\":\"user\",\"content\":\"my parcel is late\"}]}"),
      "key: another model is another request");
   ok(k != key("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"route it\"},"
               "{\"role\":\"user\",\"content\":\"my parcel is lost\"}]}"),
      "key: other text is another request");
   ok(k != key("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"route it\"},"
               "{\"role\":\"user\",\"content\":\"my parcel is late\"}]}"),
      "key: roles count");

   char path[] = "/tmp/offramp-recorded-XXXXXX";
   int fd = mkstemp(path);
   FILE *f = fdopen(fd, "w");
   fprintf(f, "{\"task\":\"a\",\"arm\":\"primary\",\"request\":%s,\"response\":{\"choices\":[]},\"status\":200}\n", base);
   fprintf(f, "\n{\"task\":\"a\",\"arm\":\"candidate\",\"request\":%s,\"response\":{\"choices\":[]}}\n", base);
   fprintf(f, "{\"task\":\"b\",\"request\":%s,\"response\":{\"error\":{}},\"status\":429}\n", base);
   fprintf(f, "not json\n{\"task\":\"a\",\"request\":{\"model\":\"m\"}}\n");
   fclose(f);
   Recorded r = { 0 };
   char *err = NULL;
   RecordedFilter all = { 0 };
   ok(Recorded_load_file(&r, path, &all, &err), "load a file");
   is_int((long long)r.n, 3, "every chat request, whatever its arm");
   is_int((long long)r.skipped, 2, "a line that is not JSON and a record without messages skipped");
   ok(r.v[0].key == k && r.v[0].response == NULL, "requests only, keyed");
   Recorded_free(&r);
   RecordedFilter answers = { .answers = true };
   ok(Recorded_load_file(&r, path, &answers, &err), "load answers");
   is_int((long long)r.n, 2, "answers: the candidate's is not the frontier's");
   is_int(r.v[1].status, 429, "a logged error keeps its status");
   is_str(r.v[1].task, "b", "and its task");
   Recorded_free(&r);
   RecordedFilter one = { .task = "a", .max = 1 };
   ok(Recorded_load_file(&r, path, &one, &err) && r.n == 1 && str_eq(r.v[0].task, "a"), "task filter and max");
   Recorded_free(&r);
   ok(!Recorded_load_file(&r, "/nonexistent/calls.jsonl", &all, &err) && err, "a missing file is an error");
   free(err);
   unlink(path);
   return tap_done();
}
