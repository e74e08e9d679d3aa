/* Scores dataset rows with a model exactly as the proxy does: the shared feature extractor,
 * then sl_classifier_score. */
#ifndef SL_PREDICT_H
#define SL_PREDICT_H

#include <stddef.h>

#include "classifier.h"
#include "dataset.h"
#include "errors.h"

/* score[k] = p(premium needed) for d's row rows[k] (k when rows is NULL), k < n, read with
 * the model's messages mode. SL_ENOMEM, or the extractor's error. */
int sl_predict_rows(const struct sl_classifier *c, const struct sl_dataset *d, const size_t *rows,
                    size_t n, double *score) SL_MUST_CHECK;

#endif
