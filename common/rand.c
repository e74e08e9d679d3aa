/* xoshiro256** seeded through splitmix64 (both public-domain algorithms by Vigna). */
#include "rand.h"

#include <sys/random.h>
#include <time.h>

uint64_t sl_rand_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void sl_rand_seed(struct sl_rand *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed = sl_rand_mix(seed);
        r->s[i] = seed;
    }
}

void sl_rand_seed_os(struct sl_rand *r)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)r;
    sl_rand_seed(r, seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sl_rand_u64(struct sl_rand *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sl_rand_double(struct sl_rand *r)
{
    return (double)(sl_rand_u64(r) >> 11) * 0x1.0p-53;
}
