/* sha256.h - SHA-256 (FIPS 180-4) for the checksums datasets carry, without linking a crypto
 * library for it. */
#ifndef OFFRAMP_SHA256_H
#define OFFRAMP_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
   uint32_t h[8];
   uint64_t len;          /* bytes hashed so far */
   unsigned char buf[64];
   size_t nbuf;
} Sha256;

void Sha256_init(Sha256 *s);
void Sha256_update(Sha256 *s, const void *data, size_t n);
/* The digest as 64 lower-case hex digits and a NUL. */
void Sha256_final_hex(Sha256 *s, char hex[65]);
/* Digest of a whole file; false with errno set when it cannot be read. */
bool Sha256_file(const char *path, char hex[65]);

#endif
