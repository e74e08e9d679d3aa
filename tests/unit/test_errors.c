/* Tests for common/errors: every code has its own message. */
#include <criterion/criterion.h>
#include <string.h>

#include "errors.h"

static const int codes[] = {
#define CODE(name, value, msg) name,
    SL_ERROR_LIST(CODE)
#undef CODE
};
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

Test(errors, zero_is_success)
{
    cr_assert_str_eq(sl_strerror(SL_OK), "success");
}

Test(errors, codes_are_negative_and_distinct)
{
    for (size_t i = 0; i < N_CODES; i++) {
        cr_assert_lt(codes[i], 0, "code #%zu is %d", i, codes[i]);
        for (size_t j = i + 1; j < N_CODES; j++)
            cr_assert_neq(codes[i], codes[j], "codes #%zu and #%zu are both %d", i, j, codes[i]);
    }
}

Test(errors, every_code_has_its_own_message)
{
    for (size_t i = 0; i < N_CODES; i++) {
        const char *m = sl_strerror(codes[i]);
        cr_assert_not_null(m);
        cr_assert_str_neq(m, "", "code %d has an empty message", codes[i]);
        cr_assert_str_neq(m, "unknown error", "code %d has no message", codes[i]);
        cr_assert_str_neq(m, "success", "code %d reads as success", codes[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(m, sl_strerror(codes[j]), "codes %d and %d share a message", codes[i],
                              codes[j]);
    }
}

Test(errors, messages_match_the_list)
{
    cr_assert_str_eq(sl_strerror(SL_ENOMEM), "out of memory");
    cr_assert_str_eq(sl_strerror(SL_ETOOBIG), "size limit exceeded");
}

Test(errors, unknown_code_is_unknown_error)
{
    cr_assert_str_eq(sl_strerror(1), "unknown error");
    cr_assert_str_eq(sl_strerror(-1000), "unknown error");
    cr_assert_str_eq(sl_strerror(-(int)N_CODES - 1), "unknown error");
}
