/* AUC by ranks (ties averaged), log-loss, calibration bins, quantiles. */
#include "scores.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

int sl_scores_auc(const double *score, const int *label, size_t n, double *auc)
{
    size_t *order = NULL, pos = 0, neg = 0;
    double rank_sum = 0;
    int rc = 0;

    *auc = NAN;
    for (size_t i = 0; i < n; i++)
        pos += label[i] != 0;
    neg = n - pos;
    if (pos == 0 || neg == 0)
        goto out;
    order = malloc(n * sizeof(*order));
    if (!order) {
        rc = SL_ENOMEM;
        goto out;
    }
    gsl_sort_index(order, score, 1, n);
    /* Mann-Whitney: the sum of the positives' ranks, tied scores sharing their mean rank. */
    for (size_t i = 0; i < n;) {
        size_t j = i, npos = 0;
        while (j < n && score[order[j]] == score[order[i]]) {
            npos += label[order[j]] != 0;
            j++;
        }
        rank_sum += (double)npos * ((double)(i + 1) + (double)j) / 2.0;
        i = j;
    }
    *auc = (rank_sum - (double)pos * ((double)pos + 1) / 2.0) / ((double)pos * (double)neg);
out:
    free(order);
    return rc;
}

double sl_scores_logloss(const double *prob, const double *target, size_t n)
{
    double sum = 0;

    if (n == 0)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        double p = prob[i] < 1e-15 ? 1e-15 : prob[i] > 1 - 1e-15 ? 1 - 1e-15 : prob[i];
        sum -= target[i] * log(p) + (1 - target[i]) * log1p(-p);
    }
    return sum / (double)n;
}

void sl_scores_calibration(const double *prob, const double *target, size_t n,
                           struct sl_scores_bin *bins)
{
    double sum_p[SL_SCORES_BINS] = {0}, sum_y[SL_SCORES_BINS] = {0};

    for (int b = 0; b < SL_SCORES_BINS; b++) {
        bins[b].lo = (double)b / SL_SCORES_BINS;
        bins[b].hi = (double)(b + 1) / SL_SCORES_BINS;
        bins[b].n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        int b = (int)(prob[i] * SL_SCORES_BINS);
        b = b < 0 ? 0 : b >= SL_SCORES_BINS ? SL_SCORES_BINS - 1 : b;
        sum_p[b] += prob[i];
        sum_y[b] += target[i];
        bins[b].n++;
    }
    for (int b = 0; b < SL_SCORES_BINS; b++) {
        bins[b].mean_pred = bins[b].n ? sum_p[b] / (double)bins[b].n : NAN;
        bins[b].rate = bins[b].n ? sum_y[b] / (double)bins[b].n : NAN;
    }
}

int sl_scores_quantile(const double *v, size_t n, double q, double *out)
{
    double *sorted;

    *out = NAN;
    if (n == 0)
        return 0;
    if (!(sorted = malloc(n * sizeof(*sorted))))
        return SL_ENOMEM;
    memcpy(sorted, v, n * sizeof(*sorted));
    gsl_sort(sorted, 1, n);
    *out = gsl_stats_quantile_from_sorted_data(sorted, 1, n, q < 0 ? 0 : q > 1 ? 1 : q);
    free(sorted);
    return 0;
}
