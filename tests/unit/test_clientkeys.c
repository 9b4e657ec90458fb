/* test_clientkeys.c - the client keys file: hashes, task lists, comments, what is refused. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "gateway/clientkeys.h"
#include "tap.h"




static char path[] = "/tmp/offramp-clientkeys-XXXXXX";

static bool load_text(ClientKeys *ck, const char *text, char **err) {
   FILE *fp = fopen(path, "w");
   fputs(text, fp);
   fclose(fp);
   *err = NULL;
   return ClientKeys_load(ck, path, err);
}

int main(void) {
   int fd = mkstemp(path);
   close(fd);
   char *err = NULL;
   ClientKeys ck;
   /* Any 64 hex digits make an entry; upper-case ones are kept lower-case. */
   const char *text = "# comment\n\n"
                      "sha256:5ad9b0d1e9e5eba1e2d7d6c6fbc6d26c1a0a2ee0a8b4f5f8c7b4f9b6c7be0b1c *\n"
                      "  sha256:E7CC0F1E0D40E3A4B6B5A8F3C2B1D7E9A0C1B2D3E4F5A6B7C8D9E0F1A2B3C4D5 intent,tone  \n";
   ok(load_text(&ck, text, &err) && ck.n == 2, "two keys, a comment and a blank line: %s", err ? err : "");
   ok(ck.n == 2 && !ck.keys[0].tasks && ck.keys[1].n_tasks == 2 && str_eq(ck.keys[1].tasks[1], "tone"),
      "'*' is every task, a list is its tasks");
   ok(ck.n == 2 && str_eq(ck.keys[1].hash, "e7cc0f1e0d40e3a4b6b5a8f3c2b1d7e9a0c1b2d3e4f5a6b7c8d9e0f1a2b3c4d5"),
      "hex is kept lower-case");
   ok(ck.n == 2 && ClientKey_allows(&ck.keys[0], NULL) && ClientKey_allows(&ck.keys[0], "x"), "'*' allows all");
   ok(ck.n == 2 && ClientKey_allows(&ck.keys[1], "intent") && !ClientKey_allows(&ck.keys[1], "billing") &&
         !ClientKey_allows(&ck.keys[1], NULL),
      "a list allows its tasks only, not untagged traffic");
   char *t = ck.n == 2 ? ClientKey_tasks_text(&ck.keys[1]) : xstrdup("");
   is_str(t, "intent, tone", "tasks text");
   free(t);
   ClientKeys_clear(&ck);

   /* Lookup by the key's SHA-256: "abc" is the FIPS 180-4 vector. */
   ok(load_text(&ck, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n", &err),
      "a key without a task list");
   ok(ck.n == 1 && ClientKeys_find(&ck, "abc") == &ck.keys[0] && !ck.keys[0].tasks, "found by its key, every task");
   ok(!ClientKeys_find(&ck, "abd") && !ClientKeys_find(&ck, ""), "another key is not");
   ClientKeys_clear(&ck);

   static const struct {
      const char *text, *want;
   } bad[] = {
      { "plainkey\n", ":1: a key line is 'sha256:HEX" },
      { "sha256:abc\n", ":1: a key line" },
      { "# only a comment\n", "holds no key" },
      { "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad bad!task\n", ":1: task name" },
      { "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad a, b\n", "has blanks" },
      { "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
        "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD x\n",
        ":2: the same key as line 1" },
   };
   for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
      bool loaded = load_text(&ck, bad[i].text, &err);
      ok(!loaded && err && strstr(err, bad[i].want), "refused: %s", err ? err : "(loaded)");
      free(err);
      err = NULL;
      ClientKeys_clear(&ck);
   }
   ok(!ClientKeys_load(&ck, "/nonexistent/keys", &err) && strstr(err, "/nonexistent/keys"), "a missing file is named");
   free(err);
   unlink(path);
   return tap_done();
}
