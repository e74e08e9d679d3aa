/* SHA-256 (FIPS 180-4), for hashing virtual API keys before they are stored or compared.
 * The caller owns the context (a plain struct: nothing to free); the one-shot functions
 * write into arrays the caller provides. */
#ifndef SL_SHA256_H
#define SL_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_SHA256_LEN 32 /* digest bytes */

struct sl_sha256 {
    uint32_t h[8];           /* private: the chaining state */
    uint64_t total;          /* private: bytes hashed so far */
    unsigned char block[64]; /* private: input not yet compressed */
    size_t used;             /* private: bytes in block */
};

/* Starts a new digest; a context can be reused after sl_sha256_final by calling this. */
void sl_sha256_init(struct sl_sha256 *c);
/* Hashes n more bytes; any split of the input into updates gives the same digest. */
void sl_sha256_update(struct sl_sha256 *c, const void *p, size_t n);
/* Writes the 32-byte digest. The context must be re-initialised before further use. */
void sl_sha256_final(struct sl_sha256 *c, unsigned char out[32]);

/* The digest of p[0..n) in one call. */
void sl_sha256(const void *p, size_t n, unsigned char out[32]);
/* The digest of p[0..n) as 64 lowercase hex digits and a NUL. */
void sl_sha256_hex(const void *p, size_t n, char out[65]);
/* Whether the secret given[0..len) is expected (a NUL-terminated string; NULL never matches),
 * compared by digest in constant time so that timing says nothing about expected. */
bool sl_sha256_secret_equal(const char *given, size_t len, const char *expected);

#endif
