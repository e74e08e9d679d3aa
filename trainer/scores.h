/* How well a set of scores (predicted probabilities) matches 0/1 labels (ROC AUC) and the
 * targets they were fitted to, 0/1 labels or soft targets in [0, 1] (log-loss, a calibration
 * table). Nothing here keeps memory between calls. */
#ifndef SL_SCORES_H
#define SL_SCORES_H

#include <stddef.h>

#include "errors.h"

#define SL_SCORES_BINS 10

/* One bin of predicted probability [lo, hi): the mean prediction in it, the observed mean
 * target (for labels, the rate of label 1), and how many rows fell in it (mean_pred and rate
 * are NAN when n is 0). */
struct sl_scores_bin {
    double lo, hi;
    double mean_pred;
    double rate;
    size_t n;
};

/* The area under the ROC curve (the probability that a random positive outscores a random
 * negative, ties counting one half). *auc is NAN when one class is absent. SL_ENOMEM. */
int sl_scores_auc(const double *score, const int *label, size_t n, double *auc) SL_MUST_CHECK;

/* Mean cross-entropy -(t log p + (1 - t) log(1 - p)) of the targets t, probabilities clipped
 * to [1e-15, 1 - 1e-15]; for 0/1 labels, their negative log-likelihood. NAN when n is 0. */
double sl_scores_logloss(const double *prob, const double *target, size_t n);

/* Fills bins[SL_SCORES_BINS]: ten equal-width bins over [0, 1] (1.0 falls in the last). */
void sl_scores_calibration(const double *prob, const double *target, size_t n,
                           struct sl_scores_bin *bins);

/* The q-quantile (0..1) of v[0..n), linearly interpolated as numpy's default; NAN when n is
 * 0. SL_ENOMEM. */
int sl_scores_quantile(const double *v, size_t n, double q, double *out) SL_MUST_CHECK;

#endif
