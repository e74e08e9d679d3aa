/* Tests for trainer/scores: AUC, log-loss, calibration and quantiles on hand-computed cases. */
#include <criterion/criterion.h>
#include <math.h>

#include "scores.h"

Test(scores, auc_of_a_perfect_ranking_is_one)
{
    double s[] = {0.1, 0.2, 0.8, 0.9}, auc;
    int y[] = {0, 0, 1, 1};

    cr_assert_eq(sl_scores_auc(s, y, 4, &auc), 0);
    cr_assert_float_eq(auc, 1.0, 1e-12);
}

Test(scores, auc_of_a_reversed_ranking_is_zero)
{
    double s[] = {0.9, 0.8, 0.2, 0.1}, auc;
    int y[] = {0, 0, 1, 1};

    cr_assert_eq(sl_scores_auc(s, y, 4, &auc), 0);
    cr_assert_float_eq(auc, 0.0, 1e-12);
}

Test(scores, auc_counts_ties_as_one_half)
{
    double s[] = {0.5, 0.5, 0.5, 0.5}, auc;
    int y[] = {0, 1, 0, 1};

    cr_assert_eq(sl_scores_auc(s, y, 4, &auc), 0);
    cr_assert_float_eq(auc, 0.5, 1e-12);
}

Test(scores, auc_on_a_small_example)
{
    /* Pairs (pos, neg): (0.8 > 0.3) (0.8 > 0.6) (0.4 > 0.3) (0.4 < 0.6): 3 of 4. */
    double s[] = {0.3, 0.8, 0.6, 0.4}, auc;
    int y[] = {0, 1, 0, 1};

    cr_assert_eq(sl_scores_auc(s, y, 4, &auc), 0);
    cr_assert_float_eq(auc, 0.75, 1e-12);
}

Test(scores, auc_is_nan_with_one_class)
{
    double s[] = {0.3, 0.8}, auc;
    int y[] = {1, 1};

    cr_assert_eq(sl_scores_auc(s, y, 2, &auc), 0);
    cr_assert(isnan(auc));
}

Test(scores, logloss_on_a_small_example)
{
    double p[] = {0.8, 0.25};
    double y[] = {1, 0};

    cr_assert_float_eq(sl_scores_logloss(p, y, 2), -(log(0.8) + log(0.75)) / 2, 1e-12);
}

Test(scores, logloss_of_soft_targets_is_their_cross_entropy)
{
    double p[] = {0.8, 0.5};
    double t[] = {0.5, 0.5};

    cr_assert_float_eq(sl_scores_logloss(p, t, 2),
                       -(0.5 * log(0.8) + 0.5 * log(0.2) + 2 * 0.5 * log(0.5)) / 2, 1e-12);
}

Test(scores, logloss_clips_certain_mistakes)
{
    double p[] = {0.0};
    double y[] = {1};

    cr_assert(isfinite(sl_scores_logloss(p, y, 1)));
}

Test(scores, calibration_bins_predictions_by_tenths)
{
    double p[] = {0.05, 0.15, 0.12, 0.95, 1.0};
    double y[] = {0, 1, 0.5, 1, 1};
    struct sl_scores_bin b[SL_SCORES_BINS];

    sl_scores_calibration(p, y, 5, b);
    cr_assert_eq(b[0].n, 1);
    cr_assert_eq(b[1].n, 2);
    cr_assert_float_eq(b[1].mean_pred, 0.135, 1e-12);
    cr_assert_float_eq(b[1].rate, 0.75, 1e-12, "the mean target of the bin");
    cr_assert_eq(b[9].n, 2, "1.0 falls in the last bin");
    cr_assert_eq(b[5].n, 0);
    cr_assert(isnan(b[5].mean_pred));
    cr_assert_float_eq(b[3].lo, 0.3, 1e-12);
}

Test(scores, quantile_interpolates_linearly)
{
    double v[] = {4, 1, 3, 2}, q;

    cr_assert_eq(sl_scores_quantile(v, 4, 0.5, &q), 0);
    cr_assert_float_eq(q, 2.5, 1e-12);
    cr_assert_eq(sl_scores_quantile(v, 4, 0.0, &q), 0);
    cr_assert_float_eq(q, 1.0, 1e-12);
    cr_assert_eq(sl_scores_quantile(v, 4, 1.0, &q), 0);
    cr_assert_float_eq(q, 4.0, 1e-12);
    cr_assert_float_eq(v[0], 4.0, 0, "the input is left alone");
}
