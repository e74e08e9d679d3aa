/* Tests for common/rand: seeded, reproducible pseudo-random numbers. */
#include <criterion/criterion.h>

#include "rand.h"

#define N 100000

Test(rand, same_seed_gives_the_same_sequence)
{
    struct sl_rand a, b;

    sl_rand_seed(&a, 42);
    sl_rand_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(sl_rand_u64(&a), sl_rand_u64(&b), "draw %d", i);
}

Test(rand, reseeding_restarts_the_sequence)
{
    struct sl_rand r;
    uint64_t first[8];

    sl_rand_seed(&r, 7);
    for (int i = 0; i < 8; i++)
        first[i] = sl_rand_u64(&r);
    sl_rand_seed(&r, 7);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(sl_rand_u64(&r), first[i], "draw %d", i);
}

Test(rand, different_seeds_give_different_sequences)
{
    struct sl_rand a, b;
    int same = 0;

    sl_rand_seed(&a, 1);
    sl_rand_seed(&b, 2);
    for (int i = 0; i < 1000; i++)
        same += sl_rand_u64(&a) == sl_rand_u64(&b);
    cr_assert_eq(same, 0);
}

Test(rand, seed_zero_is_not_degenerate)
{
    struct sl_rand r;
    uint64_t prev;

    sl_rand_seed(&r, 0);
    prev = sl_rand_u64(&r);
    for (int i = 0; i < 1000; i++) {
        uint64_t v = sl_rand_u64(&r);
        cr_assert_neq(v, prev, "draw %d repeats", i);
        prev = v;
    }
}

Test(rand, os_seeds_differ)
{
    struct sl_rand a, b;

    sl_rand_seed_os(&a);
    sl_rand_seed_os(&b);
    cr_assert_neq(sl_rand_u64(&a), sl_rand_u64(&b));
}

Test(rand, double_is_in_zero_one)
{
    struct sl_rand r;

    sl_rand_seed(&r, 123);
    for (int i = 0; i < N; i++) {
        double d = sl_rand_double(&r);
        cr_assert(d >= 0.0 && d < 1.0, "draw %d is %.17g", i, d);
    }
}

Test(rand, double_is_roughly_uniform)
{
    struct sl_rand r;
    int buckets[10] = {0};
    double sum = 0;

    sl_rand_seed(&r, 2024);
    for (int i = 0; i < N; i++) {
        double d = sl_rand_double(&r);
        sum += d;
        buckets[(int)(d * 10)]++;
    }
    cr_assert_float_eq(sum / N, 0.5, 0.01);
    /* each tenth expects 10000 draws; 500 is about five standard deviations */
    for (int i = 0; i < 10; i++)
        cr_assert(buckets[i] > N / 10 - 500 && buckets[i] < N / 10 + 500, "bucket %d has %d", i,
                  buckets[i]);
}

Test(rand, u64_uses_all_bits)
{
    struct sl_rand r;
    uint64_t ored = 0, anded = ~(uint64_t)0;

    sl_rand_seed(&r, 99);
    for (int i = 0; i < 1000; i++) {
        uint64_t v = sl_rand_u64(&r);
        ored |= v;
        anded &= v;
    }
    cr_assert_eq(ored, ~(uint64_t)0, "some bit is never set");
    cr_assert_eq(anded, 0, "some bit is always set");
}

Test(rand, mix_is_deterministic_and_spreads_nearby_inputs)
{
    cr_assert_eq(sl_rand_mix(12345), sl_rand_mix(12345));
    cr_assert_neq(sl_rand_mix(0), sl_rand_mix(1));
    /* neighbouring inputs differ in about half of their output bits */
    int bits = __builtin_popcountll(sl_rand_mix(1000) ^ sl_rand_mix(1001));
    cr_assert(bits > 16 && bits < 48, "%d bits differ", bits);
}
