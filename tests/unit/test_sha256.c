/* test_sha256.c - FIPS 180-4 test vectors, streaming in odd pieces, whole files. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sha256.h"
#include "common/util.h"
#include "tap.h"

static void digest(const char *data, size_t n, size_t piece, char hex[65]) {
   Sha256 s;
   Sha256_init(&s);
   for (size_t o = 0; o < n; o += piece)
      Sha256_update(&s, data + o, n - o < piece ? n - o : piece);
   Sha256_final_hex(&s, hex);
}

int main(void) {
   static const struct {
      const char *in, *want;
   } vec[] = {
      { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
      { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
      { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
      { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
   };
   char hex[65];
   for (size_t i = 0; i < ARRAY_SIZE(vec); i++) {
      digest(vec[i].in, strlen(vec[i].in), 64, hex);
      is_str(hex, vec[i].want, "FIPS 180-4 vector");
   }
   /* Every message length around the padding boundaries, in pieces of 1, 7 and all at once. */
   char buf[200];
   for (size_t i = 0; i < sizeof buf; i++)
      buf[i] = (char)('a' + i % 26);
   bool same = true;
   for (size_t n = 0; n < sizeof buf; n++) {
      char a[65], b[65], c[65];
      digest(buf, n, 1, a);
      digest(buf, n, 7, b);
      digest(buf, n, n ? n : 1, c);
      same &= str_eq(a, b) && str_eq(b, c);
   }
   ok(same, "streaming in pieces of 1, 7 and n bytes agrees for lengths 0-199");

   size_t million = 1000000;
   char *as = xmalloc(million);
   memset(as, 'a', million);
   digest(as, million, 4093, hex);
   is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "a million 'a'");

   char path[] = "/tmp/offramp-sha256-XXXXXX";
   int fd = mkstemp(path);
   ok(fd >= 0 && write(fd, as, million) == (ssize_t)million, "temp file written");
   close(fd);
   char fhex[65];
   ok(Sha256_file(path, fhex) && str_eq(fhex, hex), "Sha256_file matches the in-memory digest");
   unlink(path);
   ok(!Sha256_file(path, fhex), "a missing file is an error");
   free(as);
   return tap_done();
}
