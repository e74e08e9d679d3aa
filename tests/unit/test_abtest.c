/* Tests for common/abtest: p-values against values computed independently (exact fractions
 * for Fisher, the normal tail by erfc for z, the regularised incomplete beta function in
 * mpmath for Welch's t), and the choice of test and verdict for A/B arms. */
#include <criterion/criterion.h>
#include <math.h>

#include "abtest.h"

static double fisher(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    double p = -1;

    cr_assert_eq(sl_abtest_fisher(a, b, c, d, &p), 0);
    return p;
}

Test(abtest, fisher_known_values)
{
    cr_assert_float_eq(fisher(3, 1, 1, 3), 0.4857142857142857, 1e-12);
    cr_assert_float_eq(fisher(10, 0, 0, 10), 1.082508822446903e-05, 1e-15);
    cr_assert_float_eq(fisher(7, 3, 2, 8), 0.06977851869492736, 1e-12);
    cr_assert_float_eq(fisher(40, 10, 30, 20), 0.048581631612940976, 1e-12);
    cr_assert_float_eq(fisher(120, 80, 100, 100), 0.05604779162551655, 1e-12);
}

Test(abtest, fisher_is_symmetric_and_one_when_alike)
{
    cr_assert_float_eq(fisher(1, 3, 3, 1), fisher(3, 1, 1, 3), 1e-12);
    cr_assert_float_eq(fisher(8, 2, 3, 7), fisher(3, 7, 8, 2), 1e-12);
    /* Identical rows: the observed table is the most likely one and every table counts. */
    cr_assert_float_eq(fisher(25, 5, 25, 5), 1.0, 1e-12);
}

Test(abtest, fisher_degenerate_tables_are_one)
{
    cr_assert_eq(fisher(0, 0, 5, 5), 1.0); /* an empty arm */
    cr_assert_eq(fisher(4, 0, 6, 0), 1.0); /* nothing failed */
    cr_assert_eq(fisher(0, 4, 0, 6), 1.0); /* nothing passed */
    cr_assert_eq(fisher(0, 0, 0, 0), 1.0);
}

Test(abtest, fisher_refuses_counts_gsl_cannot_take)
{
    double p;

    cr_assert_eq(sl_abtest_fisher(1ull << 32, 1, 1, 1, &p), SL_EINVAL);
    cr_assert_eq(sl_abtest_fisher(3000000000u, 0, 3000000000u, 0, &p), SL_EINVAL);
}

Test(abtest, fisher_far_in_the_tail_does_not_underflow_to_one)
{
    /* The observed table's probability is about 1e-600, far below the smallest double. */
    double p = fisher(1000, 0, 0, 1000);

    cr_assert(p >= 0 && p < 1e-300, "p = %g", p);
}

Test(abtest, ztest_known_values)
{
    double z, p;

    cr_assert_eq(sl_abtest_ztest(2300, 2500, 2200, 2500, &z, &p), 0);
    cr_assert_float_eq(z, 4.7140452079103214, 1e-9);
    cr_assert_float_eq(p, 2.4284674729757878e-06, 1e-12);
    cr_assert_eq(sl_abtest_ztest(2100, 3000, 2000, 3000, &z, &p), 0);
    cr_assert_float_eq(z, 2.7752805777039447, 1e-9);
    cr_assert_float_eq(p, 0.0055154102593926715, 1e-12);
    /* The other way round: z changes sign, p does not. */
    cr_assert_eq(sl_abtest_ztest(2000, 3000, 2100, 3000, &z, &p), 0);
    cr_assert_float_eq(z, -2.7752805777039447, 1e-9);
    cr_assert_float_eq(p, 0.0055154102593926715, 1e-12);
}

Test(abtest, ztest_edges)
{
    double z = -1, p = -1;

    cr_assert_eq(sl_abtest_ztest(10, 10, 20, 20, &z, &p), 0);
    cr_assert_eq(z, 0);
    cr_assert_eq(p, 1);
    cr_assert_eq(sl_abtest_ztest(0, 0, 1, 2, &z, &p), SL_EINVAL);
    cr_assert_eq(sl_abtest_ztest(3, 2, 1, 2, &z, &p), SL_EINVAL);
}

Test(abtest, welch_known_values)
{
    double t, df, p;

    cr_assert_eq(sl_abtest_welch(10, 5.0, 4.0, 12, 3.5, 9.0, &t, &df, &p), 0);
    cr_assert_float_eq(t, 1.39875721236047064845, 1e-12);
    cr_assert_float_eq(df, 19.1905459875412238915, 1e-9);
    cr_assert_float_eq(p, 0.177839848432354704370, 1e-9);
    /* Costs per call: small means, smaller variances. */
    cr_assert_eq(sl_abtest_welch(40, 0.0012, 4e-7, 35, 0.0009, 1e-7, &t, &df, &p), 0);
    cr_assert_float_eq(t, 2.64575131106458994050, 1e-9);
    cr_assert_float_eq(df, 58.9495060373216245884, 1e-9);
    cr_assert_float_eq(p, 0.0104338878738702500233, 1e-9);
    /* Equal means: t = 0, p = 1; df = 7.2 by hand: (1/5 + 2/5)^2 / ((1/25 + 4/25) / 4). */
    cr_assert_eq(sl_abtest_welch(5, 1, 1, 5, 1, 2, &t, &df, &p), 0);
    cr_assert_eq(t, 0);
    cr_assert_float_eq(df, 7.2, 1e-12);
    cr_assert_float_eq(p, 1.0, 1e-12);
}

Test(abtest, welch_one_constant_group_has_the_other_groups_df)
{
    double t, df, p;

    cr_assert_eq(sl_abtest_welch(10, 2, 1, 30, 1, 0, &t, &df, &p), 0);
    cr_assert_float_eq(df, 9, 1e-12);
    cr_assert_float_eq(t, 1 / sqrt(0.1), 1e-12);
}

Test(abtest, welch_refuses_what_it_cannot_test)
{
    double t, df, p;

    cr_assert_eq(sl_abtest_welch(1, 1, 1, 10, 1, 1, &t, &df, &p), SL_EINVAL);
    cr_assert_eq(sl_abtest_welch(10, 1, 0, 10, 2, 0, &t, &df, &p), SL_EINVAL);
    cr_assert_eq(sl_abtest_welch(10, 1, -1, 10, 2, 1, &t, &df, &p), SL_EINVAL);
    cr_assert_eq(sl_abtest_welch(10, NAN, 1, 10, 2, 1, &t, &df, &p), SL_EINVAL);
}

Test(abtest, proportions_use_fisher_then_z)
{
    struct sl_abtest r;

    /* Control 40/50 against 30/50: Fisher, p just under 0.05. */
    sl_abtest_proportions(40, 50, 30, 50, &r);
    cr_assert_eq(r.method, SL_ABTEST_FISHER);
    cr_assert_float_eq(r.diff, -0.2, 1e-12);
    cr_assert_float_eq(r.p, 0.048581631612940976, 1e-12);
    cr_assert(isnan(r.statistic));
    cr_assert_not(r.too_few);
    cr_assert(r.significant);
    /* Both above 2000: the z-test, z of b - a. */
    sl_abtest_proportions(2200, 2500, 2300, 2500, &r);
    cr_assert_eq(r.method, SL_ABTEST_ZTEST);
    cr_assert_float_eq(r.statistic, 4.7140452079103214, 1e-9);
    cr_assert_float_eq(r.diff, 0.04, 1e-12);
    cr_assert(r.significant);
    /* One arm small: still Fisher. */
    sl_abtest_proportions(2200, 2500, 40, 50, &r);
    cr_assert_eq(r.method, SL_ABTEST_FISHER);
    cr_assert_str_eq(sl_abtest_method_name(r.method), "fisher");
}

Test(abtest, few_samples_are_never_significant)
{
    struct sl_abtest r;

    sl_abtest_proportions(10, 10, 0, 10, &r);
    cr_assert_float_eq(r.p, 1.082508822446903e-05, 1e-15);
    cr_assert(r.too_few);
    cr_assert_not(r.significant);
    sl_abtest_proportions(0, 0, 5, 40, &r);
    cr_assert_eq(r.method, SL_ABTEST_NONE);
    cr_assert(isnan(r.diff));
    cr_assert(isnan(r.p));
    cr_assert_not(r.significant);
}

Test(abtest, means)
{
    struct sl_abtest r;

    sl_abtest_means(35, 0.0009, 1e-7, 40, 0.0012, 4e-7, &r);
    cr_assert_eq(r.method, SL_ABTEST_WELCH);
    cr_assert_float_eq(r.diff, 0.0003, 1e-15);
    cr_assert_float_eq(r.statistic, 2.64575131106458994050, 1e-9);
    cr_assert_float_eq(r.p, 0.0104338878738702500233, 1e-9);
    cr_assert(r.significant);
    sl_abtest_means(35, 1, 0, 40, 1, 0, &r); /* no spread: no test */
    cr_assert_eq(r.method, SL_ABTEST_NONE);
    cr_assert_eq(r.diff, 0);
    cr_assert(isnan(r.p));
    cr_assert(isnan(r.df));
    cr_assert_not(r.significant);
    cr_assert_str_eq(sl_abtest_method_name(SL_ABTEST_WELCH), "welch");
}
