/* Choosing the regularisation: fit every lambda of a grid and score it on validation rows,
 * either a dev set or K-fold cross-validation over the training rows (stratified folds, a
 * fixed seed). Lambdas are fitted from the largest down, each warm-started from the previous
 * solution. A struct sl_tune_result (free with sl_tune_result_free) owns its arrays. */
#ifndef SL_TUNE_H
#define SL_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "csr.h"
#include "errors.h"
#include "fit.h"

enum sl_tune_by { SL_TUNE_AUC, SL_TUNE_LOGLOSS };

struct sl_tune_config {
    const double *lambdas;
    size_t n_lambdas;
    int folds; /* K for cross-validation (used when there is no dev set), >= 2 */
    enum sl_tune_by by;
    enum sl_fit_weights weights;
    struct sl_fit_options fit;
    int threads;
};

struct sl_tune_entry {
    double lambda;
    double auc;     /* on the validation rows (pooled out-of-fold predictions for CV) */
    double logloss; /* against the targets */
    int iterations; /* summed over folds */
    double seconds; /* summed over folds */
};

struct sl_tune_result {
    struct sl_tune_entry *entries; /* in the grid's order */
    size_t n_entries;
    size_t best;      /* index of the chosen lambda */
    bool cv;          /* validated by cross-validation */
    double *val_prob; /* predictions at the chosen lambda: per dev row, or out-of-fold per
                         training row */
    size_t n_val;
    double seconds; /* the whole search */
};

/* Rows for the search: features, 0/1 labels (for AUC, folds and class weights) and the
 * targets fitted, as in struct sl_fit_problem. */
struct sl_tune_rows {
    const struct sl_csr *x;
    const int *y;
    const double *t;
};

/* Runs the search. train holds the training rows; dev the dev rows, or NULL for
 * cross-validation. Log-loss is measured against the targets. SL_EINVAL (empty grid, too few
 * rows for the folds), SL_ENOMEM. */
int sl_tune_run(const struct sl_tune_config *cfg, const struct sl_tune_rows *train,
                const struct sl_tune_rows *dev, struct sl_tune_result *out) SL_MUST_CHECK;

void sl_tune_result_free(struct sl_tune_result *r);

const char *sl_tune_by_name(enum sl_tune_by by);
/* Parses "auc" or "logloss"; SL_EINVAL otherwise. */
int sl_tune_by_parse(const char *s, enum sl_tune_by *out) SL_MUST_CHECK;

/* Splits n rows with labels y into k stratified folds: fold[i] in 0..k-1, each fold holding
 * the same share of each class within one row, deterministic for a seed. SL_ENOMEM. */
int sl_tune_folds(const int *y, size_t n, int k, uint64_t seed, int *fold) SL_MUST_CHECK;

#endif
