/* Tests for trainer/tune: stratified folds, and the lambda chosen on validation rows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tune.h"

Test(tune, folds_are_stratified_and_deterministic)
{
    int y[100], fold[100], again[100], pos[5] = {0}, all[5] = {0};

    for (int i = 0; i < 100; i++)
        y[i] = i % 5 == 0; /* 20 positives */
    cr_assert_eq(sl_tune_folds(y, 100, 5, 9, fold), 0);
    cr_assert_eq(sl_tune_folds(y, 100, 5, 9, again), 0);
    cr_assert_eq(memcmp(fold, again, sizeof(fold)), 0);
    for (int i = 0; i < 100; i++) {
        cr_assert(fold[i] >= 0 && fold[i] < 5);
        all[fold[i]]++;
        pos[fold[i]] += y[i];
    }
    for (int f = 0; f < 5; f++) {
        cr_assert_eq(all[f], 20, "fold %d", f);
        cr_assert_eq(pos[f], 4, "fold %d", f);
    }
}

Test(tune, parses_the_selection_measure)
{
    enum sl_tune_by by;

    cr_assert_eq(sl_tune_by_parse("logloss", &by), 0);
    cr_assert_eq(by, SL_TUNE_LOGLOSS);
    cr_assert_eq(sl_tune_by_parse("auc", &by), 0);
    cr_assert_eq(by, SL_TUNE_AUC);
    cr_assert_eq(sl_tune_by_parse("f1", &by), SL_EINVAL);
}

/* Rows with one informative column (1) and one noise column (2): too much regularisation
 * flattens the scores; the search must prefer the small lambda on held-out rows. */
static void rows(struct sl_csr *m, int *y, double *t, size_t n, unsigned seed)
{
    sl_csr_init(m);
    for (size_t i = 0; i < n; i++) {
        unsigned h = (unsigned)(i * 2654435761u) ^ seed;
        uint32_t idx[2] = {1, 2};
        float val[2] = {(float)((h % 100) / 100.0), (float)(((h >> 8) % 100) / 100.0)};
        struct sl_features f = {idx, val, 2, 2};
        y[i] = val[0] > 0.6f;
        t[i] = y[i];
        cr_assert_eq(sl_csr_add_row(m, &f), 0);
    }
}

Test(tune, picks_the_lambda_that_validates_best)
{
    static const double grid[] = {10.0, 1e-4};
    struct sl_csr train, dev;
    int y[200], yd[100];
    double t[200], td[100];
    struct sl_tune_config cfg = {
        .lambdas = grid, .n_lambdas = 2, .folds = 5, .by = SL_TUNE_LOGLOSS};
    struct sl_tune_result r;

    sl_fit_options_default(&cfg.fit);
    rows(&train, y, t, 200, 1);
    rows(&dev, yd, td, 100, 2);
    struct sl_tune_rows tr = {&train, y, t}, dv = {&dev, yd, td};
    cr_assert_eq(sl_tune_run(&cfg, &tr, &dv, &r), 0);
    cr_assert(!r.cv);
    cr_assert_eq(r.n_entries, 2);
    cr_assert_eq(r.best, 1);
    cr_assert_lt(r.entries[1].logloss, r.entries[0].logloss);
    cr_assert_eq(r.n_val, 100);
    sl_tune_result_free(&r);

    cr_assert_eq(sl_tune_run(&cfg, &tr, NULL, &r), 0);
    cr_assert(r.cv);
    cr_assert_eq(r.best, 1);
    cr_assert_eq(r.n_val, 200, "out-of-fold predictions for every training row");
    cr_assert_gt(r.entries[1].auc, 0.95);
    sl_tune_result_free(&r);
    sl_csr_free(&train);
    sl_csr_free(&dev);
}

Test(tune, refuses_more_folds_than_rows)
{
    static const double grid[] = {1.0};
    struct sl_csr train;
    int y[3];
    double t[3];
    struct sl_tune_config cfg = {.lambdas = grid, .n_lambdas = 1, .folds = 5};
    struct sl_tune_result r;

    sl_fit_options_default(&cfg.fit);
    rows(&train, y, t, 3, 1);
    struct sl_tune_rows tr = {&train, y, t};
    cr_assert_eq(sl_tune_run(&cfg, &tr, NULL, &r), SL_EINVAL);
    sl_csr_free(&train);
}
