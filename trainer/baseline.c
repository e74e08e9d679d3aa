/* The category-prior router: group training rows by (source, category), read off rates. */
#include "baseline.h"

#include <stdint.h>
#include <stdlib.h>

/* Sources and categories are interned in the dataset, so a pair of pointers names a group. */
struct group {
    const char *source, *category;
    size_t n, pos;
};

static int cmp_key(const char *s1, const char *c1, const char *s2, const char *c2)
{
    if (s1 != s2)
        return (uintptr_t)s1 < (uintptr_t)s2 ? -1 : 1;
    if (c1 != c2)
        return (uintptr_t)c1 < (uintptr_t)c2 ? -1 : 1;
    return 0;
}

static int cmp_group(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    return cmp_key(x->source, x->category, y->source, y->category);
}

int sl_baseline_category_prior(const struct sl_dataset *d, const size_t *rows, size_t n,
                               double *score)
{
    struct group *g = NULL;
    size_t ng = 0, total = 0, total_pos = 0;
    double global;
    int rc = 0;

    g = malloc((d->n ? d->n : 1) * sizeof(*g));
    if (!g) {
        rc = SL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < d->n; i++) {
        const struct sl_example *e = &d->rows[i];
        if (e->split != SL_SPLIT_TRAIN)
            continue;
        g[ng++] = (struct group){e->source, e->category, 1, (size_t)(e->label != 0)};
        total++;
        total_pos += e->label != 0;
    }
    qsort(g, ng, sizeof(*g), cmp_group);
    size_t m = 0;
    for (size_t i = 0; i < ng; i++) {
        if (m > 0 && cmp_group(&g[m - 1], &g[i]) == 0) {
            g[m - 1].n += g[i].n;
            g[m - 1].pos += g[i].pos;
        } else {
            g[m++] = g[i];
        }
    }
    global = total ? (double)total_pos / (double)total : 0.5;
    for (size_t k = 0; k < n; k++) {
        const struct sl_example *e = &d->rows[rows ? rows[k] : k];
        struct group key = {e->source, e->category, 0, 0};
        const struct group *hit = bsearch(&key, g, m, sizeof(*g), cmp_group);
        score[k] = hit ? (double)hit->pos / (double)hit->n : global;
    }
out:
    free(g);
    return rc;
}
