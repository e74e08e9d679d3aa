/* Tests for trainer/curve: the routing measures on cases small enough to compute by hand. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "curve.h"
#include "rand.h"

/* n rows, the first `needed` of which only the strong model answers (weak 0, strong 1), the rest
 * both answer (1, 1). */
static void needs(size_t n, size_t needed, double *qw, double *qs)
{
    for (size_t i = 0; i < n; i++) {
        qw[i] = i < needed ? 0.0 : 1.0;
        qs[i] = 1.0;
    }
}

Test(curve, perfect_router_on_four_rows)
{
    /* Row 0 alone needs the strong model, and scores highest. PGR is 0 at x = 0, 1 from
     * x = 1/4 on: APGR = 1/4 * 1/2 + 3/4 = 0.875. */
    double score[] = {0.9, 0.2, 0.3, 0.1}, qw[4], qs[4];
    struct sl_curve c;

    needs(4, 1, qw, qs);
    sl_curve_init(&c);
    cr_assert_eq(sl_curve_quantiles(&c, score, qw, qs, 4, 100), 0);
    cr_assert_float_eq(c.q_weak, 0.75, 1e-12);
    cr_assert_float_eq(c.q_strong, 1.0, 1e-12);
    cr_assert_float_eq(c.pts[0].x, 0.0, 0);
    cr_assert_float_eq(c.pts[c.n - 1].x, 1.0, 0);
    cr_assert_float_eq(sl_curve_apgr(&c), 0.875, 1e-12);
    cr_assert_float_eq(sl_curve_cpt(&c, 0.5), 0.125, 1e-12);
    sl_curve_free(&c);
}

Test(curve, perfect_router_recovers_nearly_the_whole_gap)
{
    size_t n = 1000;
    double *score = malloc(n * sizeof(double)), *qw = malloc(n * sizeof(double)),
           *qs = malloc(n * sizeof(double));
    struct sl_curve c;

    needs(n, 10, qw, qs);
    for (size_t i = 0; i < n; i++)
        score[i] = i < 10 ? 0.9 : 0.1 + 0.0001 * (double)i;
    sl_curve_init(&c);
    cr_assert_eq(sl_curve_quantiles(&c, score, qw, qs, n, 100), 0);
    cr_assert_float_eq(sl_curve_apgr(&c), 1 - 0.01 / 2, 1e-9);
    sl_curve_free(&c);
    free(score);
    free(qw);
    free(qs);
}

Test(curve, random_scores_give_one_half)
{
    size_t n = 20000;
    double *score = malloc(n * sizeof(double)), *qw = malloc(n * sizeof(double)),
           *qs = malloc(n * sizeof(double));
    struct sl_curve c;
    struct sl_rand r;

    sl_rand_seed(&r, 11);
    needs(n, n / 5, qw, qs);
    for (size_t i = 0; i < n; i++)
        score[i] = sl_rand_double(&r);
    sl_curve_init(&c);
    cr_assert_eq(sl_curve_quantiles(&c, score, qw, qs, n, 100), 0);
    cr_assert_float_eq(sl_curve_apgr(&c), 0.5, 0.02);
    cr_assert_float_eq(sl_curve_cpt(&c, 0.5), 0.5, 0.03);
    sl_curve_free(&c);
    free(score);
    free(qw);
    free(qs);
}

Test(curve, a_constant_score_is_exactly_random)
{
    double score[] = {0.3, 0.3, 0.3, 0.3, 0.3}, qw[5], qs[5];
    struct sl_curve c;

    needs(5, 2, qw, qs);
    sl_curve_init(&c);
    cr_assert_eq(sl_curve_quantiles(&c, score, qw, qs, 5, 100), 0);
    cr_assert_eq(c.n, 2, "all or nothing");
    cr_assert_float_eq(sl_curve_apgr(&c), 0.5, 1e-12);
    cr_assert_float_eq(sl_curve_cpt(&c, 0.8), 0.8, 1e-12);
    sl_curve_free(&c);
}

Test(curve, reversed_router_scores_below_one_half)
{
    double score[] = {0.1, 0.2, 0.9, 0.8, 0.7, 0.6}, qw[6], qs[6];
    struct sl_curve c;

    needs(6, 2, qw, qs);
    sl_curve_init(&c);
    cr_assert_eq(sl_curve_quantiles(&c, score, qw, qs, 6, 100), 0);
    /* PGR stays 0 until the last two rows: APGR = (1/6 * 1/2) + (1/6 * (1/2 + 1) / 2)... */
    cr_assert_lt(sl_curve_apgr(&c), 0.5);
    cr_assert_float_eq(sl_curve_apgr(&c), (1.0 / 6) * 0.25 + (1.0 / 6) * 0.75, 1e-12);
    sl_curve_free(&c);
}

Test(curve, cpt_interpolates_between_points)
{
    /* Gains 0.4, 0.4, 0.2, 0 in score order: PGR 0, 0.4, 0.8, 1, 1 at x = 0, 1/4, 1/2, 3/4, 1. */
    double score[] = {0.9, 0.7, 0.5, 0.3}, qw[] = {0, 0, 0, 0}, qs[] = {0.4, 0.4, 0.2, 0};
    struct sl_curve c;

    sl_curve_init(&c);
    cr_assert_eq(sl_curve_exact(&c, score, qw, qs, 4), 0);
    cr_assert_eq(c.n, 5);
    cr_assert_float_eq(c.pts[1].pgr, 0.4, 1e-12);
    cr_assert_float_eq(c.pts[2].pgr, 0.8, 1e-12);
    cr_assert_float_eq(sl_curve_cpt(&c, 0.5), 0.25 + 0.25 * 0.25, 1e-12);
    cr_assert_float_eq(sl_curve_cpt(&c, 0.8), 0.5, 1e-12);
    cr_assert_float_eq(sl_curve_cpt(&c, 0.9), 0.5 + 0.5 * 0.25, 1e-12);
    cr_assert(isnan(sl_curve_cpt(&c, 1.5)));
    /* Trapezoids: 1/4 * (0 + .4 + .4 + .8 + .8 + 1 + 1 + 1) / 2 = 0.675. */
    cr_assert_float_eq(sl_curve_apgr(&c), 0.675, 1e-12);
    sl_curve_free(&c);
}

Test(curve, exact_thresholds_separate_neighbouring_scores)
{
    double score[] = {0.8, 0.2, 0.5, 0.5}, qw[] = {0, 1, 1, 0}, qs[] = {1, 1, 1, 1};
    struct sl_curve c;

    sl_curve_init(&c);
    cr_assert_eq(sl_curve_exact(&c, score, qw, qs, 4), 0);
    cr_assert_eq(c.n, 4, "x = 0, then one point per distinct score");
    cr_assert_gt(c.pts[0].threshold, 0.8);
    cr_assert_lt(c.pts[0].threshold, 1.0);
    cr_assert_float_eq(c.pts[1].threshold, 0.65, 1e-12);
    cr_assert_float_eq(c.pts[1].x, 0.25, 1e-12);
    cr_assert_float_eq(c.pts[2].threshold, 0.35, 1e-12);
    cr_assert_float_eq(c.pts[2].x, 0.75, 1e-12);
    cr_assert_float_eq(c.pts[3].threshold, 0.1, 1e-12);
    cr_assert_float_eq(c.pts[3].x, 1.0, 1e-12);
    /* Each point's y is what routing at its threshold gives. */
    for (size_t k = 0; k < c.n; k++) {
        double y = 0;
        for (int i = 0; i < 4; i++)
            y += score[i] >= c.pts[k].threshold ? qs[i] : qw[i];
        cr_assert_float_eq(c.pts[k].y, y / 4, 1e-12);
    }
    sl_curve_free(&c);
}

Test(curve, first_point_reaching_a_quality_share)
{
    double score[] = {0.9, 0.7, 0.5, 0.3}, qw[] = {0, 0, 1, 1}, qs[] = {1, 1, 1, 1};
    struct sl_curve c;
    const struct sl_curve_point *p;

    sl_curve_init(&c);
    cr_assert_eq(sl_curve_exact(&c, score, qw, qs, 4), 0);
    p = sl_curve_first_quality(&c, 0.95);
    cr_assert_not_null(p);
    cr_assert_float_eq(p->x, 0.5, 1e-12);
    p = sl_curve_first_quality(&c, 0.7);
    cr_assert_float_eq(p->x, 0.25, 1e-12);
    sl_curve_free(&c);
}

Test(curve, saving_with_prices)
{
    cr_assert_float_eq(sl_curve_saving(0.3, 1, 10), 1 - (3 + 0.7) / 10, 1e-12);
    cr_assert_float_eq(sl_curve_saving(1.0, 1, 10), 0.0, 1e-12);
    cr_assert_float_eq(sl_curve_saving(0.0, 0, 10), 1.0, 1e-12);
    cr_assert(isnan(sl_curve_saving(0.5, 1, 0)));
}

Test(curve, random_router_summary_is_analytic)
{
    struct sl_curve_summary s;

    sl_curve_random_summary(0.6, 0.8, 100, 1, 10, &s);
    cr_assert_float_eq(s.apgr, 0.5, 0);
    cr_assert_float_eq(s.cpt50, 0.5, 0);
    cr_assert_float_eq(s.cpt80, 0.8, 0);
    /* 0.6 + x * 0.2 >= 0.95 * 0.8 = 0.76: x = 0.8. */
    cr_assert_float_eq(s.share95, 0.8, 1e-12);
    cr_assert_float_eq(s.saving95, 1 - (8 + 0.2) / 10, 1e-12);
    sl_curve_random_summary(0.78, 0.8, 100, 1, 10, &s);
    cr_assert_float_eq(s.share95, 0.0, 0, "the weak model alone is good enough");
    sl_curve_random_summary(0.8, 0.8, 100, 1, 10, &s);
    cr_assert(isnan(s.apgr), "no gap, no APGR");
    sl_curve_random_summary(0.8, 0.6, 100, 1, 10, &s);
    cr_assert(isnan(s.apgr), "the strong tier is worse: no gap to recover");
}

Test(curve, a_strong_tier_worse_than_the_weak_one_has_no_apgr)
{
    /* Row 0 is the one the strong tier gets wrong and the weak one right. */
    double score[] = {0.1, 0.9, 0.3, 0.2}, qw[] = {1, 1, 1, 1}, qs[] = {0, 1, 1, 1};
    struct sl_curve c;

    sl_curve_init(&c);
    cr_assert_eq(sl_curve_quantiles(&c, score, qw, qs, 4, 100), 0);
    cr_assert_float_eq(c.q_strong, 0.75, 1e-12);
    cr_assert(isnan(sl_curve_apgr(&c)));
    cr_assert(isnan(sl_curve_cpt(&c, 0.5)));
    cr_assert(isnan(c.pts[1].pgr));
    sl_curve_free(&c);
}

Test(curve, summary_of_a_perfect_router)
{
    double score[] = {0.9, 0.2, 0.3, 0.1}, qw[4], qs[4];
    struct sl_curve_summary s;

    needs(4, 1, qw, qs);
    cr_assert_eq(sl_curve_summarise(score, qw, qs, 4, 0, 1, &s), 0);
    cr_assert_eq(s.rows, 4);
    cr_assert_float_eq(s.apgr, 0.875, 1e-12);
    cr_assert_float_eq(s.share95, 0.25, 1e-12);
    cr_assert_float_eq(s.saving95, 0.75, 1e-12);
}

Test(curve, refuses_no_rows)
{
    struct sl_curve c;

    sl_curve_init(&c);
    cr_assert_eq(sl_curve_exact(&c, NULL, NULL, NULL, 0), SL_EINVAL);
    cr_assert_eq(sl_curve_quantiles(&c, NULL, NULL, NULL, 0, 100), SL_EINVAL);
    sl_curve_free(&c);
}
