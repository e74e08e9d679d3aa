/* Tests for trainer/timing: the synthetic prompts and the percentile helper. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"

Test(timing, text_has_the_asked_length_and_is_deterministic)
{
    char a[2001], b[2001], c[2001];

    sl_timing_text(a, 2000, 7);
    sl_timing_text(b, 2000, 7);
    sl_timing_text(c, 2000, 8);
    cr_assert_eq(strlen(a), 2000);
    cr_assert_str_eq(a, b);
    cr_assert_str_neq(a, c);
}

Test(timing, text_looks_like_prose_with_numbers_and_punctuation)
{
    char t[20001];
    int spaces = 0, digits = 0, stops = 0, upper = 0, other = 0;

    sl_timing_text(t, 20000, 1);
    for (const char *p = t; *p; p++) {
        spaces += *p == ' ';
        digits += isdigit((unsigned char)*p) != 0;
        stops += *p == '.' || *p == '?' || *p == '!';
        upper += isupper((unsigned char)*p) != 0;
        other += *p == ',' || *p == ';' || *p == ':' || *p == '(' || *p == '"';
    }
    cr_assert_gt(spaces, 2000);
    cr_assert_gt(digits, 100);
    cr_assert_gt(stops, 100);
    cr_assert_gt(upper, 100);
    cr_assert_gt(other, 50);
}

Test(timing, short_texts_are_exact_too)
{
    char t[8];

    sl_timing_text(t, 1, 3);
    cr_assert_eq(strlen(t), 1);
    sl_timing_text(t, 0, 3);
    cr_assert_eq(strlen(t), 0);
}

Test(timing, percentile_by_nearest_rank)
{
    double v[100];

    for (int i = 0; i < 100; i++)
        v[i] = 100 - i; /* 100 .. 1 */
    cr_assert_float_eq(sl_timing_percentile(v, 100, 0.5), 50, 0);
    cr_assert_float_eq(sl_timing_percentile(v, 100, 0.99), 99, 0);
    cr_assert_float_eq(sl_timing_percentile(v, 100, 1.0), 100, 0);
    cr_assert_float_eq(sl_timing_percentile(v, 100, 0.0), 1, 0);
}
