/* Tests for common/sha256: FIPS 180-4 SHA-256, incremental and one-shot. */
#include <criterion/criterion.h>
#include <string.h>

#include "sha256.h"

static void hex_of(const unsigned char d[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 0xf];
    }
    out[64] = '\0';
}

static void assert_digest(const char *msg, const char *want)
{
    char hex[65];
    unsigned char d[32];

    sl_sha256_hex(msg, strlen(msg), hex);
    cr_assert_str_eq(hex, want, "sha256_hex(\"%s\")", msg);
    sl_sha256(msg, strlen(msg), d);
    hex_of(d, hex);
    cr_assert_str_eq(hex, want, "sha256(\"%s\")", msg);
}

Test(sha256, empty_message)
{
    assert_digest("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(sha256, abc)
{
    assert_digest("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, two_block_448_bit_message)
{
    assert_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, two_block_896_bit_message)
{
    assert_digest("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                  "klmnopqrlmnopqrsmnopqrstnopqrstu",
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

Test(sha256, one_million_a_in_uneven_updates)
{
    struct sl_sha256 c;
    unsigned char d[32];
    char chunk[997], hex[65];
    size_t left = 1000000;

    memset(chunk, 'a', sizeof(chunk));
    sl_sha256_init(&c);
    /* 997 is prime, so the updates straddle block boundaries in every way */
    while (left) {
        size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
        sl_sha256_update(&c, chunk, n);
        left -= n;
    }
    sl_sha256_final(&c, d);
    hex_of(d, hex);
    cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

Test(sha256, padding_boundaries_agree_byte_by_byte)
{
    /* lengths around 55/56/64 bytes decide whether the length field needs an extra block */
    unsigned char msg[130], one[32], two[32];

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 7 + 1);
    for (size_t n = 0; n <= sizeof(msg); n++) {
        struct sl_sha256 c;

        sl_sha256(msg, n, one);
        sl_sha256_init(&c);
        for (size_t i = 0; i < n; i++)
            sl_sha256_update(&c, msg + i, 1);
        sl_sha256_final(&c, two);
        cr_assert_eq(memcmp(one, two, 32), 0, "length %zu", n);
    }
}

Test(sha256, every_split_of_a_200_byte_message_gives_the_one_shot_digest)
{
    unsigned char msg[200], want[32], got[32];

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 131 + 17);
    sl_sha256(msg, sizeof(msg), want);
    for (size_t split = 0; split <= sizeof(msg); split++) {
        struct sl_sha256 c;

        sl_sha256_init(&c);
        sl_sha256_update(&c, msg, split);
        sl_sha256_update(&c, msg + split, sizeof(msg) - split);
        sl_sha256_final(&c, got);
        cr_assert_eq(memcmp(want, got, 32), 0, "split at %zu", split);
    }
}

Test(sha256, a_context_is_reusable_after_init)
{
    struct sl_sha256 c;
    unsigned char d[32];
    char hex[65];

    sl_sha256_init(&c);
    sl_sha256_update(&c, "something else entirely", 23);
    sl_sha256_final(&c, d);
    sl_sha256_init(&c);
    sl_sha256_update(&c, "abc", 3);
    sl_sha256_final(&c, d);
    hex_of(d, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, hex_is_lowercase_and_nul_terminated)
{
    char hex[66];

    memset(hex, 'X', sizeof(hex));
    sl_sha256_hex("sk-virtual-key", 14, hex);
    cr_assert_eq(hex[64], '\0');
    cr_assert_eq(hex[65], 'X', "nothing written past the NUL");
    for (int i = 0; i < 64; i++)
        cr_assert((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'),
                  "position %d is '%c'", i, hex[i]);
}

Test(sha256, a_one_byte_difference_changes_the_digest)
{
    char a[65], b[65];

    sl_sha256_hex("sk-slc-0123456789abcdef", 23, a);
    sl_sha256_hex("sk-slc-0123456789abcdeg", 23, b);
    cr_assert_str_neq(a, b);
}
