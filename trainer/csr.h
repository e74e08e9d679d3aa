/* A sparse matrix in compressed sparse row form: one row of (index, value) pairs per example,
 * as the feature extractor produced them. The trainer's design matrix; it never holds a dense
 * row. The caller owns a struct sl_csr (init/free). */
#ifndef SL_CSR_H
#define SL_CSR_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "errors.h"
#include "features.h"

struct sl_csr {
    size_t n_rows;            /* read-only */
    size_t nnz;               /* read-only */
    size_t *ptr;              /* read-only: row i is idx/val[ptr[i] .. ptr[i+1]) */
    uint32_t *idx;            /* read-only: ascending within a row, < SL_FEATURES_DIM */
    float *val;               /* read-only */
    size_t cap_rows, cap_nnz; /* private */
};

void sl_csr_init(struct sl_csr *m);
void sl_csr_free(struct sl_csr *m);

/* Appends f as a new row. SL_ENOMEM. */
int sl_csr_add_row(struct sl_csr *m, const struct sl_features *f) SL_MUST_CHECK;

/* Appends the features of d's rows rows[0..n) (all of d's rows when rows is NULL), read with
 * which. SL_ENOMEM, or the extractor's error. */
int sl_csr_add_dataset(struct sl_csr *m, const struct sl_dataset *d, const size_t *rows, size_t n,
                       enum sl_features_messages which) SL_MUST_CHECK;

/* Points f at row i without copying (f must not be freed or extended afterwards): lets
 * sl_classifier_score read a stored row. */
void sl_csr_row(const struct sl_csr *m, size_t i, struct sl_features *f);

#endif
