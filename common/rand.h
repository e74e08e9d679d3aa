/* Small, fast pseudo-random numbers (xoshiro256**) for choices that need no cryptography:
 * weighted deployment choice, request ids, the mock provider's faults. The caller owns the
 * state; one state per thread, never shared. */
#ifndef SL_RAND_H
#define SL_RAND_H

#include <stdint.h>

struct sl_rand {
    uint64_t s[4]; /* private */
};

/* Seeds deterministically: the same seed gives the same sequence. */
void sl_rand_seed(struct sl_rand *r, uint64_t seed);
/* Seeds from the operating system's entropy. */
void sl_rand_seed_os(struct sl_rand *r);
uint64_t sl_rand_u64(struct sl_rand *r);
/* Uniform in [0, 1). */
double sl_rand_double(struct sl_rand *r);
/* A 64-bit mix of x (splitmix64's finaliser): for hashing seeds together. */
uint64_t sl_rand_mix(uint64_t x);

#endif
