/* Compressed sparse rows built from extracted features. */
#include "csr.h"

#include <stdlib.h>
#include <string.h>

void sl_csr_init(struct sl_csr *m)
{
    memset(m, 0, sizeof(*m));
}

void sl_csr_free(struct sl_csr *m)
{
    free(m->ptr);
    free(m->idx);
    free(m->val);
    memset(m, 0, sizeof(*m));
}

static int reserve(struct sl_csr *m, size_t more)
{
    if (m->n_rows + 2 > m->cap_rows) {
        size_t cap = m->cap_rows ? 2 * m->cap_rows : 1024;
        size_t *p = realloc(m->ptr, cap * sizeof(*p));
        if (!p)
            return SL_ENOMEM;
        m->ptr = p;
        m->cap_rows = cap;
        if (m->n_rows == 0)
            m->ptr[0] = 0;
    }
    if (m->nnz + more > m->cap_nnz) {
        size_t cap = m->cap_nnz ? 2 * m->cap_nnz : 65536;
        while (cap < m->nnz + more)
            cap *= 2;
        uint32_t *i = realloc(m->idx, cap * sizeof(*i));
        if (!i)
            return SL_ENOMEM;
        m->idx = i;
        float *v = realloc(m->val, cap * sizeof(*v));
        if (!v)
            return SL_ENOMEM;
        m->val = v;
        m->cap_nnz = cap;
    }
    return 0;
}

int sl_csr_add_row(struct sl_csr *m, const struct sl_features *f)
{
    int rc = reserve(m, f->n);

    if (rc != 0)
        return rc;
    if (f->n) {
        memcpy(m->idx + m->nnz, f->idx, f->n * sizeof(*f->idx));
        memcpy(m->val + m->nnz, f->val, f->n * sizeof(*f->val));
    }
    m->nnz += f->n;
    m->ptr[++m->n_rows] = m->nnz;
    return 0;
}

int sl_csr_add_dataset(struct sl_csr *m, const struct sl_dataset *d, const size_t *rows, size_t n,
                       enum sl_features_messages which)
{
    struct sl_features f;
    char *buf = NULL;
    size_t bufcap = 0;
    int rc = 0;

    sl_features_init(&f);
    if (!rows)
        n = d->n;
    for (size_t k = 0; k < n; k++) {
        const struct sl_example *row = &d->rows[rows ? rows[k] : k];
        if ((rc = sl_dataset_features(row, which, &f, &buf, &bufcap)) != 0)
            goto out;
        if ((rc = sl_csr_add_row(m, &f)) != 0)
            goto out;
    }
out:
    free(buf);
    sl_features_free(&f);
    return rc;
}

void sl_csr_row(const struct sl_csr *m, size_t i, struct sl_features *f)
{
    f->idx = m->idx + m->ptr[i];
    f->val = m->val + m->ptr[i];
    f->n = m->ptr[i + 1] - m->ptr[i];
    f->cap = 0;
}
