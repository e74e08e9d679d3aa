/* Tests for common/buf: a growable, capped, NUL-terminated byte buffer. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

Test(buf, starts_empty_without_allocating)
{
    struct sl_buf b;

    sl_buf_init(&b, 100);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    sl_buf_free(&b);
}

Test(buf, appends_in_order_and_stays_nul_terminated)
{
    struct sl_buf b;

    sl_buf_init(&b, 1024);
    cr_assert_eq(sl_buf_adds(&b, "hello"), 0);
    cr_assert_eq(b.len, 5);
    cr_assert_eq(b.data[5], '\0');
    cr_assert_eq(sl_buf_add(&b, ", wor", 5), 0);
    cr_assert_eq(sl_buf_adds(&b, "ld"), 0);
    cr_assert_str_eq(b.data, "hello, world");
    cr_assert_eq(b.len, 12);
    sl_buf_free(&b);
}

Test(buf, add_copies_exactly_n_bytes_including_nuls)
{
    struct sl_buf b;

    sl_buf_init(&b, 1024);
    cr_assert_eq(sl_buf_add(&b, "a\0b\0c-not-this", 5), 0);
    cr_assert_eq(b.len, 5);
    cr_assert_eq(memcmp(b.data, "a\0b\0c", 5), 0);
    cr_assert_eq(b.data[5], '\0');
    sl_buf_free(&b);
}

Test(buf, empty_append_gives_an_empty_string)
{
    struct sl_buf b;

    sl_buf_init(&b, 1024);
    cr_assert_eq(sl_buf_add(&b, "", 0), 0);
    cr_assert_not_null(b.data);
    cr_assert_str_eq(b.data, "");
    cr_assert_eq(b.len, 0);
    sl_buf_free(&b);
}

Test(buf, grows_past_its_first_allocation)
{
    struct sl_buf b;
    char chunk[37];

    sl_buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++) {
        memset(chunk, 'a' + i % 26, sizeof(chunk));
        cr_assert_eq(sl_buf_add(&b, chunk, sizeof(chunk)), 0);
    }
    cr_assert_eq(b.len, 1000 * sizeof(chunk));
    cr_assert_eq(b.data[b.len], '\0');
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(b.data[i * sizeof(chunk) + 36], 'a' + i % 26, "chunk %d", i);
    sl_buf_free(&b);
}

Test(buf, exactly_at_the_cap_fits)
{
    struct sl_buf b;

    sl_buf_init(&b, 10);
    cr_assert_eq(sl_buf_adds(&b, "0123456"), 0);
    cr_assert_eq(sl_buf_adds(&b, "789"), 0);
    cr_assert_eq(b.len, 10);
    cr_assert_str_eq(b.data, "0123456789");
    sl_buf_free(&b);
}

Test(buf, past_the_cap_fails_and_leaves_the_buffer_unchanged)
{
    struct sl_buf b;

    sl_buf_init(&b, 10);
    cr_assert_eq(sl_buf_adds(&b, "0123456"), 0);
    cr_assert_eq(sl_buf_adds(&b, "7890"), SL_ETOOBIG);
    cr_assert_eq(b.len, 7);
    cr_assert_str_eq(b.data, "0123456");
    cr_assert_eq(sl_buf_addf(&b, "%s", "7890"), SL_ETOOBIG);
    cr_assert_eq(b.len, 7);
    cr_assert_str_eq(b.data, "0123456");
    /* what still fits is still accepted */
    cr_assert_eq(sl_buf_adds(&b, "789"), 0);
    cr_assert_str_eq(b.data, "0123456789");
    cr_assert_eq(sl_buf_adds(&b, "x"), SL_ETOOBIG);
    cr_assert_str_eq(b.data, "0123456789");
    sl_buf_free(&b);
}

Test(buf, a_first_append_past_the_cap_fails)
{
    struct sl_buf b;

    sl_buf_init(&b, 4);
    cr_assert_eq(sl_buf_adds(&b, "12345"), SL_ETOOBIG);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(sl_buf_add(&b, "x", (size_t)-1), SL_ETOOBIG, "a huge n must not wrap around");
    cr_assert_eq(b.len, 0);
    sl_buf_free(&b);
}

Test(buf, addf_formats)
{
    struct sl_buf b;

    sl_buf_init(&b, 1024);
    cr_assert_eq(sl_buf_adds(&b, "x="), 0);
    cr_assert_eq(sl_buf_addf(&b, "%d %s %.2f %zu", -42, "str", 1.5, (size_t)7), 0);
    cr_assert_str_eq(b.data, "x=-42 str 1.50 7");
    cr_assert_eq(b.len, strlen("x=-42 str 1.50 7"));
    sl_buf_free(&b);
}

Test(buf, addf_with_long_strings_grows)
{
    struct sl_buf b;
    char *big = malloc(5001);

    memset(big, 'z', 5000);
    big[5000] = '\0';
    sl_buf_init(&b, 1 << 20);
    cr_assert_eq(sl_buf_addf(&b, "<%s>", "a"), 0);
    cr_assert_eq(sl_buf_addf(&b, "[%s]", big), 0);
    cr_assert_eq(sl_buf_addf(&b, "[%s]", big), 0);
    cr_assert_eq(b.len, 3 + 2 * 5002);
    cr_assert_eq(strlen(b.data), b.len);
    cr_assert_eq(strncmp(b.data, "<a>[zzz", 7), 0);
    cr_assert_eq(b.data[3 + 5001], ']');
    cr_assert_eq(b.data[3 + 5002], '[');
    cr_assert_eq(b.data[b.len - 1], ']');
    sl_buf_free(&b);
    free(big);
}

Test(buf, addf_of_nothing_gives_an_empty_string)
{
    struct sl_buf b;

    sl_buf_init(&b, 16);
    cr_assert_eq(sl_buf_addf(&b, "%s", ""), 0);
    cr_assert_not_null(b.data);
    cr_assert_str_eq(b.data, "");
    sl_buf_free(&b);
}

Test(buf, take_hands_over_the_data_and_empties)
{
    struct sl_buf b;
    size_t len = 0;
    char *p;

    sl_buf_init(&b, 1024);
    cr_assert_eq(sl_buf_adds(&b, "payload"), 0);
    p = sl_buf_take(&b, &len);
    cr_assert_str_eq(p, "payload");
    cr_assert_eq(len, 7);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);

    /* the buffer is reusable, keeps its cap, and no longer shares memory with p */
    cr_assert_eq(sl_buf_adds(&b, "next"), 0);
    cr_assert_str_eq(b.data, "next");
    cr_assert_str_eq(p, "payload");
    cr_assert_eq(sl_buf_add(&b, "x", 1021), SL_ETOOBIG);
    free(p);
    sl_buf_free(&b);
}

Test(buf, take_of_an_empty_buffer_gives_an_empty_string)
{
    struct sl_buf b;
    size_t len = 99;
    char *p;

    sl_buf_init(&b, 1024);
    p = sl_buf_take(&b, &len);
    cr_assert_not_null(p);
    cr_assert_str_eq(p, "");
    cr_assert_eq(len, 0);
    free(p);

    p = sl_buf_take(&b, NULL); /* len is optional */
    cr_assert_not_null(p);
    cr_assert_str_eq(p, "");
    free(p);
    sl_buf_free(&b);
}

Test(buf, reset_empties_but_keeps_the_memory)
{
    struct sl_buf b;
    char *before;

    sl_buf_init(&b, 1024);
    cr_assert_eq(sl_buf_adds(&b, "some text that is here"), 0);
    before = b.data;
    sl_buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.data, before);
    cr_assert_str_eq(b.data, "");
    cr_assert_eq(sl_buf_adds(&b, "short"), 0);
    cr_assert_eq(b.data, before, "refilling to less than before must not reallocate");
    cr_assert_str_eq(b.data, "short");
    sl_buf_free(&b);
}

Test(buf, reset_restores_the_whole_cap)
{
    struct sl_buf b;

    sl_buf_init(&b, 8);
    cr_assert_eq(sl_buf_adds(&b, "12345678"), 0);
    sl_buf_reset(&b);
    cr_assert_eq(sl_buf_adds(&b, "abcdefgh"), 0);
    cr_assert_str_eq(b.data, "abcdefgh");
    sl_buf_free(&b);
}

Test(buf, free_then_reuse)
{
    struct sl_buf b;

    sl_buf_init(&b, 8);
    cr_assert_eq(sl_buf_adds(&b, "abc"), 0);
    sl_buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    sl_buf_free(&b); /* freeing twice is harmless */
    sl_buf_init(&b, 8);
    cr_assert_eq(sl_buf_adds(&b, "def"), 0);
    cr_assert_str_eq(b.data, "def");
    sl_buf_free(&b);
}
