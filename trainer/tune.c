/* The lambda search: a regularisation path per validation scheme, warm-started. */
#include "tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "rand.h"
#include "scores.h"

const char *sl_tune_by_name(enum sl_tune_by by)
{
    return by == SL_TUNE_LOGLOSS ? "logloss" : "auc";
}

int sl_tune_by_parse(const char *s, enum sl_tune_by *out)
{
    if (strcmp(s, "auc") == 0)
        *out = SL_TUNE_AUC;
    else if (strcmp(s, "logloss") == 0)
        *out = SL_TUNE_LOGLOSS;
    else
        return SL_EINVAL;
    return 0;
}

int sl_tune_folds(const int *y, size_t n, int k, uint64_t seed, int *fold)
{
    size_t *perm = malloc((n ? n : 1) * sizeof(*perm));
    struct sl_rand r;

    if (!perm)
        return SL_ENOMEM;
    sl_rand_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
        size_t j = (size_t)(sl_rand_double(&r) * (double)i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    /* Deal each class's rows round-robin, so that every fold gets its share of positives. */
    size_t dealt[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        int c = y[perm[i]] != 0;
        fold[perm[i]] = (int)((dealt[c]++ + (size_t)c * (size_t)(k / 2)) % (size_t)k);
    }
    free(perm);
    return 0;
}

void sl_tune_result_free(struct sl_tune_result *r)
{
    free(r->entries);
    free(r->val_prob);
    memset(r, 0, sizeof(*r));
}

/* Lambdas from the largest down: the heavily regularised solutions are quick to reach and a
 * good start for the next. */
static size_t *descending(const double *l, size_t n)
{
    size_t *o = malloc(n * sizeof(*o));

    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++)
        o[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && l[o[j]] > l[o[j - 1]]; j--) {
            size_t t = o[j];
            o[j] = o[j - 1];
            o[j - 1] = t;
        }
    return o;
}

static int fit_one(const struct sl_tune_config *cfg, const struct sl_tune_rows *train,
                   const size_t *rows, size_t n, double lambda, const char *label, double *wb,
                   struct sl_tune_entry *e)
{
    struct sl_fit_problem p = {.x = train->x,
                               .y = train->y,
                               .t = train->t,
                               .rows = rows,
                               .n = n,
                               .lambda = lambda,
                               .threads = cfg->threads};
    struct sl_fit_options o = cfg->fit;
    struct sl_fit_result r;
    int rc;

    sl_fit_class_weights(&p, cfg->weights);
    o.label = label;
    if ((rc = sl_fit_run(&p, &o, wb, &r)) != 0)
        return rc;
    e->iterations += r.iterations;
    e->seconds += r.seconds;
    if (cfg->fit.progress)
        fprintf(stderr, "tune: %s: %d iterations, %.1f s%s\n", label, r.iterations, r.seconds,
                r.converged ? "" : " (not converged)");
    return 0;
}

static bool better(enum sl_tune_by by, const struct sl_tune_entry *a, const struct sl_tune_entry *b)
{
    if (by == SL_TUNE_LOGLOSS)
        return a->logloss < b->logloss || (isnan(b->logloss) && !isnan(a->logloss));
    return a->auc > b->auc || (isnan(b->auc) && !isnan(a->auc));
}

int sl_tune_run(const struct sl_tune_config *cfg, const struct sl_tune_rows *train,
                const struct sl_tune_rows *dev, struct sl_tune_result *out)
{
    size_t L = cfg->n_lambdas, n = train->x->n_rows, nv = dev ? dev->x->n_rows : n;
    size_t *order = NULL, *fit_rows = NULL, *val_rows = NULL;
    double *wb = NULL, *prob = NULL;
    const struct sl_tune_rows *val = dev ? dev : train;
    int *fold = NULL, folds = dev ? 1 : cfg->folds;
    uint64_t t0 = sl_clock_mono_us();
    char label[96];
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (L == 0 || n == 0 || (!dev && (folds < 2 || (size_t)folds > n))) {
        rc = SL_EINVAL;
        goto out;
    }
    out->cv = !dev;
    out->n_entries = L;
    out->n_val = nv;
    out->entries = calloc(L, sizeof(*out->entries));
    out->val_prob = malloc(nv * sizeof(double));
    order = descending(cfg->lambdas, L);
    wb = malloc(SL_FIT_DIM * sizeof(double));
    prob = malloc(L * nv * sizeof(double)); /* predictions of every lambda on the validation rows */
    fold = malloc(n * sizeof(*fold));
    fit_rows = malloc(n * sizeof(*fit_rows));
    val_rows = malloc(n * sizeof(*val_rows));
    if (!out->entries || !out->val_prob || !order || !wb || !prob || !fold || !fit_rows ||
        !val_rows) {
        rc = SL_ENOMEM;
        goto out;
    }
    for (size_t l = 0; l < L; l++)
        out->entries[l].lambda = cfg->lambdas[l];
    if (!dev && (rc = sl_tune_folds(train->y, n, folds, 1, fold)) != 0)
        goto out;

    for (int f = 0; f < folds; f++) {
        size_t nfit = 0, nval = 0;
        for (size_t i = 0; i < n; i++) {
            if (dev || fold[i] != f)
                fit_rows[nfit++] = i;
            else
                val_rows[nval++] = i;
        }
        memset(wb, 0, SL_FIT_DIM * sizeof(double));
        for (size_t k = 0; k < L; k++) {
            size_t l = order[k];
            if (dev)
                snprintf(label, sizeof(label), "lambda=%g", cfg->lambdas[l]);
            else
                snprintf(label, sizeof(label), "lambda=%g fold %d/%d", cfg->lambdas[l], f + 1,
                         folds);
            if ((rc = fit_one(cfg, train, fit_rows, nfit, cfg->lambdas[l], label, wb,
                              &out->entries[l])) != 0)
                goto out;
            if (dev) {
                sl_fit_predict(dev->x, NULL, nv, wb, prob + l * nv);
            } else {
                double *p = prob + l * nv;
                for (size_t j = 0; j < nval; j++)
                    sl_fit_predict(train->x, &val_rows[j], 1, wb, &p[val_rows[j]]);
            }
        }
    }
    out->best = order[0];
    for (size_t k = 0; k < L; k++) {
        size_t l = order[k];
        struct sl_tune_entry *e = &out->entries[l];
        if ((rc = sl_scores_auc(prob + l * nv, val->y, nv, &e->auc)) != 0)
            goto out;
        e->logloss = sl_scores_logloss(prob + l * nv, val->t, nv);
        if (k > 0 && better(cfg->by, e, &out->entries[out->best]))
            out->best = l;
    }
    memcpy(out->val_prob, prob + out->best * nv, nv * sizeof(double));
out:
    out->seconds = (double)(sl_clock_mono_us() - t0) / 1e6;
    free(order);
    free(wb);
    free(prob);
    free(fold);
    free(fit_rows);
    free(val_rows);
    if (rc != 0)
        sl_tune_result_free(out);
    return rc;
}
