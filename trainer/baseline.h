/* Baseline routers that a learned router must beat: the category prior (score = the
 * premium-needed rate of the row's category among the training rows). Random routing is
 * summarised analytically by sl_curve_random_summary. */
#ifndef SL_BASELINE_H
#define SL_BASELINE_H

#include <stddef.h>

#include "dataset.h"
#include "errors.h"

/* For each of d's rows rows[0..n): the label-1 rate of the training rows (split "train") of d
 * with the same source and category; the rate over all of d's training rows when the category
 * has none (and 0.5 when d has no training rows). SL_ENOMEM. */
int sl_baseline_category_prior(const struct sl_dataset *d, const size_t *rows, size_t n,
                               double *score) SL_MUST_CHECK;

#endif
