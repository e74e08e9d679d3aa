/* Tests for common/reqid: request id generation and validation of ids from clients. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reqid.h"

#define N 100000

static void assert_well_formed(const char *id)
{
    cr_assert_eq(strlen(id), 20, "\"%s\" has the wrong length", id);
    cr_assert_eq(strncmp(id, "req_", 4), 0, "\"%s\" lacks the prefix", id);
    for (int i = 4; i < 20; i++)
        cr_assert((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'),
                  "\"%s\": character %d is not lowercase hex", id, i);
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 21);
}

/* Fails the test if any two of the n ids (21 bytes each) are equal. Sorts ids. */
static void assert_distinct(char (*ids)[21], size_t n)
{
    qsort(ids, n, sizeof(ids[0]), cmp_id);
    for (size_t i = 1; i < n; i++)
        cr_assert_neq(memcmp(ids[i - 1], ids[i], 21), 0, "\"%s\" was made twice", ids[i]);
}

Test(reqid, format_is_req_and_16_lowercase_hex)
{
    char id[21];

    for (int i = 0; i < 1000; i++) {
        sl_reqid_new(id);
        assert_well_formed(id);
    }
}

Test(reqid, generated_ids_are_valid)
{
    char id[21];

    sl_reqid_new(id);
    cr_assert(sl_reqid_valid(id), "\"%s\"", id);
}

Test(reqid, many_ids_are_distinct)
{
    char(*ids)[21] = malloc(N * sizeof(*ids));

    cr_assert_not_null(ids);
    for (size_t i = 0; i < N; i++)
        sl_reqid_new(ids[i]);
    assert_distinct(ids, N);
    free(ids);
}

struct batch {
    char (*ids)[21];
    size_t n;
};

static void *make_ids(void *arg)
{
    struct batch *b = arg;
    for (size_t i = 0; i < b->n; i++)
        sl_reqid_new(b->ids[i]);
    return NULL;
}

Test(reqid, ids_from_different_threads_are_distinct)
{
    enum { PER_THREAD = N / 2 };
    char(*ids)[21] = malloc(2 * PER_THREAD * sizeof(*ids));
    struct batch b[2] = {{ids, PER_THREAD}, {ids + PER_THREAD, PER_THREAD}};
    pthread_t t[2];

    cr_assert_not_null(ids);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, make_ids, &b[i]), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_join(t[i], NULL), 0);
    for (size_t i = 0; i < 2 * PER_THREAD; i++)
        assert_well_formed(ids[i]);
    assert_distinct(ids, 2 * PER_THREAD);
    free(ids);
}

Test(reqid, valid_accepts_safe_ids)
{
    cr_assert(sl_reqid_valid("a"));
    cr_assert(sl_reqid_valid("req_0123456789abcdef"));
    cr_assert(sl_reqid_valid("Trace-ID.v2:abc_DEF-09"));
    cr_assert(sl_reqid_valid("123e4567-e89b-12d3-a456-426614174000"));
}

Test(reqid, valid_takes_up_to_64_characters)
{
    char id[SL_REQID_MAX + 2];

    memset(id, 'x', SL_REQID_MAX);
    id[SL_REQID_MAX] = '\0';
    cr_assert_eq(strlen(id), 64);
    cr_assert(sl_reqid_valid(id), "64 characters must be accepted");
    id[SL_REQID_MAX] = 'x';
    id[SL_REQID_MAX + 1] = '\0';
    cr_assert_not(sl_reqid_valid(id), "65 characters must be rejected");
}

Test(reqid, valid_rejects_unsafe_ids)
{
    static const char *const bad[] = {
        "",      " ",      "abc def", " abc",       "abc ", "abc\r\nX-Evil: 1",
        "abc\n", "abc\r",  "abc\t",   "\"quoted\"", "it's", "a/b",
        "a\\b",  "a;b",    "a,b",     "<script>",   "a=b",  "caf\xc3\xa9",
        "\x7f",  "%0d%0a",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(sl_reqid_valid(bad[i]), "\"%s\" must be rejected", bad[i]);
}
