/* The fit pipeline: data -> CSR -> lambda search -> final fit -> metrics -> artifact. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "csr.h"
#include "dataset.h"
#include "scores.h"

static const double default_grid[] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2};

void sl_train_config_default(struct sl_train_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->messages = SL_MESSAGES_LAST_USER;
    cfg->lambdas = default_grid;
    cfg->n_lambdas = sizeof(default_grid) / sizeof(default_grid[0]);
    cfg->folds = 5;
    cfg->weights = SL_FIT_WEIGHTS_NONE;
    cfg->target = SL_TARGET_LABEL;
    cfg->by = SL_TUNE_AUC;
    sl_fit_options_default(&cfg->fit);
    cfg->threads = 1;
}

void sl_train_result_free(struct sl_train_result *r)
{
    free(r->w);
    memset(r, 0, sizeof(*r));
}

void sl_train_view(struct sl_classifier *view, float *w, double bias,
                   enum sl_features_messages messages)
{
    memset(view, 0, sizeof(*view));
    view->w = w;
    view->bias = bias;
    view->messages = messages;
}

/* Scores CSR rows with the float weights through sl_classifier_score, the proxy's path. */
static void score_rows(const struct sl_classifier *c, const struct sl_csr *x, double *score)
{
    struct sl_features f;

    for (size_t i = 0; i < x->n_rows; i++) {
        sl_csr_row(x, i, &f);
        score[i] = sl_classifier_score(c, &f);
    }
}

/* The training rows' and the dev rows' data. */
struct split_data {
    size_t *rows;
    size_t n;
    int *y;
    double *t; /* the targets fitted */
    size_t positives;
    struct sl_csr x;
};

static void split_free(struct split_data *s)
{
    free(s->rows);
    free(s->y);
    free(s->t);
    sl_csr_free(&s->x);
}

static int split_build(struct split_data *s, const struct sl_dataset *d, enum sl_split split,
                       enum sl_features_messages messages, enum sl_target target)
{
    int rc;

    memset(s, 0, sizeof(*s));
    sl_csr_init(&s->x);
    if ((rc = sl_dataset_select(d, &split, &s->rows, &s->n)) != 0)
        return rc;
    s->y = malloc((s->n ? s->n : 1) * sizeof(*s->y));
    s->t = malloc((s->n ? s->n : 1) * sizeof(*s->t));
    if (!s->y || !s->t)
        return SL_ENOMEM;
    for (size_t k = 0; k < s->n; k++) {
        s->y[k] = d->rows[s->rows[k]].label;
        s->t[k] = sl_dataset_target(&d->rows[s->rows[k]], target);
        s->positives += s->y[k] != 0;
    }
    return sl_csr_add_dataset(&s->x, d, s->rows, s->n, messages);
}

static void add_metrics(cJSON *parent, const char *name, const char *kind, size_t rows, double auc,
                        double logloss)
{
    cJSON *o = cJSON_AddObjectToObject(parent, name);

    if (kind)
        cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddNumberToObject(o, "rows", (double)rows);
    cJSON_AddNumberToObject(o, "auc", auc);
    cJSON_AddNumberToObject(o, "logloss", logloss);
}

static cJSON *training_json(const struct sl_train_config *cfg, const struct sl_dataset *d,
                            const struct split_data *tr, const struct split_data *dev,
                            const struct sl_fit_problem *p, const struct sl_fit_result *fr,
                            const struct sl_train_result *res, const char *selection)
{
    cJSON *t = cJSON_CreateObject(), *files, *w, *grid;
    char date[32];

    files = cJSON_AddArrayToObject(t, "data");
    for (size_t i = 0; i < d->n_files; i++)
        cJSON_AddItemToArray(files, cJSON_CreateString(d->files[i]));
    if (cfg->source)
        cJSON_AddStringToObject(t, "source", cfg->source);
    cJSON_AddNumberToObject(t, "rows", (double)tr->n);
    cJSON_AddNumberToObject(t, "positives", (double)tr->positives);
    cJSON_AddNumberToObject(t, "dev_rows", (double)dev->n);
    cJSON_AddNumberToObject(t, "contaminated_dropped", (double)d->n_contaminated);
    cJSON_AddNumberToObject(t, "nonzeros", (double)tr->x.nnz);
    cJSON_AddNumberToObject(t, "lambda", res->lambda);
    grid = cJSON_AddArrayToObject(t, "lambda_grid");
    for (size_t l = 0; l < cfg->n_lambdas; l++)
        cJSON_AddItemToArray(grid, cJSON_CreateNumber(cfg->lambdas[l]));
    cJSON_AddStringToObject(t, "selection", selection);
    cJSON_AddStringToObject(t, "target", sl_dataset_target_name(cfg->target));
    w = cJSON_AddObjectToObject(t, "class_weights");
    cJSON_AddStringToObject(w, "kind", sl_fit_weights_name(cfg->weights));
    cJSON_AddNumberToObject(w, "0", p->weight[0]);
    cJSON_AddNumberToObject(w, "1", p->weight[1]);
    cJSON_AddStringToObject(t, "optimizer", "gsl_multimin_fdfminimizer_vector_bfgs2");
    cJSON_AddNumberToObject(t, "threads", cfg->threads);
    cJSON_AddNumberToObject(t, "tol", cfg->fit.tol);
    cJSON_AddNumberToObject(t, "max_iter", cfg->fit.max_iter);
    cJSON_AddNumberToObject(t, "iterations", fr->iterations);
    cJSON_AddBoolToObject(t, "converged", fr->converged);
    cJSON_AddNumberToObject(t, "objective", fr->objective);
    cJSON_AddNumberToObject(t, "gradient_norm", fr->grad_norm);
    cJSON_AddNumberToObject(t, "fit_seconds", res->fit_seconds);
    cJSON_AddNumberToObject(t, "search_seconds", res->search_seconds);
    cJSON_AddStringToObject(t, "feature_spec_hash", sl_features_spec_hash());
    cJSON_AddStringToObject(t, "messages", sl_features_messages_name(cfg->messages));
    sl_clock_iso8601(sl_clock_wall_ms(), date, sizeof(date));
    cJSON_AddStringToObject(t, "date", date);
    return t;
}

static cJSON *metrics_json(const struct sl_train_result *res, const struct split_data *tr,
                           const char *val_kind, size_t val_rows, const struct sl_tune_result *tu)
{
    cJSON *m = cJSON_CreateObject();

    add_metrics(m, "train", NULL, tr->n, res->train_auc, res->train_logloss);
    if (val_kind)
        add_metrics(m, "validation", val_kind, val_rows, res->val_auc, res->val_logloss);
    if (tu && tu->n_entries) {
        cJSON *grid = cJSON_AddArrayToObject(m, "lambda_search");
        for (size_t l = 0; l < tu->n_entries; l++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "lambda", tu->entries[l].lambda);
            cJSON_AddNumberToObject(e, "auc", tu->entries[l].auc);
            cJSON_AddNumberToObject(e, "logloss", tu->entries[l].logloss);
            cJSON_AddNumberToObject(e, "iterations", tu->entries[l].iterations);
            cJSON_AddNumberToObject(e, "seconds", tu->entries[l].seconds);
            cJSON_AddItemToArray(grid, e);
        }
    }
    return m;
}

/* Target gain needs both tiers' scores on every row fitted or validated on: a row with a label
 * alone would read as the cheap tier failing exactly when it is labelled 1. Says which rows
 * lack them. SL_EINVAL. */
static int need_scores(const struct sl_dataset *d, FILE *err)
{
    const struct sl_example *first = NULL;
    size_t missing = 0;

    for (size_t i = 0; i < d->n; i++) {
        const struct sl_example *e = &d->rows[i];
        if (e->split != SL_SPLIT_TEST && !e->has_scores && missing++ == 0)
            first = e;
    }
    if (!first)
        return 0;
    /* Only JSONL rows can lack them: an eval.db's verdicts give both tiers' quality. */
    fprintf(err,
            "fit: --target gain needs both tiers' scores (\"score_weak\", \"score_strong\") on "
            "every training and dev row; rows with a label only: %zu, the first at %s:%zu\n",
            missing, d->files[first->file], first->line);
    return SL_EINVAL;
}

/* The initial threshold: the score above which the validation rows' base rate of positives
 * lies (so that the premium tier gets about as many calls as need it), else 0.5. */
static int initial_threshold(const double *score, size_t n, double base_rate, double *t)
{
    int rc;

    *t = 0.5;
    if (n == 0)
        return 0;
    if ((rc = sl_scores_quantile(score, n, 1 - base_rate, t)) != 0)
        return rc;
    /* The artifact wants thresholds inside (0, 1). */
    *t = *t < 1e-6 ? 1e-6 : *t > 1 - 1e-6 ? 1 - 1e-6 : *t;
    return 0;
}

int sl_train_run(const struct sl_train_config *cfg, struct sl_train_result *res_out, FILE *out,
                 FILE *err)
{
    struct sl_dataset d;
    struct split_data tr, dev;
    struct sl_tune_result tu;
    struct sl_train_result res;
    struct sl_fit_problem p;
    struct sl_fit_result fr;
    struct sl_classifier view;
    double *wb = NULL, *score = NULL;
    cJSON *training = NULL, *metrics = NULL;
    const char *val_kind = NULL;
    char selection[64] = "none (one lambda)", msg[512];
    size_t nonzero = 0;
    uint64_t t0;
    int rc = 0;

    sl_dataset_init(&d);
    memset(&tr, 0, sizeof(tr));
    memset(&dev, 0, sizeof(dev));
    memset(&tu, 0, sizeof(tu));
    memset(&res, 0, sizeof(res));
    res.val_auc = res.val_logloss = NAN;

    if ((rc = sl_dataset_load_many(&d, cfg->data, cfg->n_data, cfg->eval_dbs, cfg->n_eval_dbs,
                                   cfg->source, err)) != 0)
        goto out;
    t0 = sl_clock_mono_us();
    if (cfg->target == SL_TARGET_GAIN && (rc = need_scores(&d, err)) != 0)
        goto out;
    if ((rc = split_build(&tr, &d, SL_SPLIT_TRAIN, cfg->messages, cfg->target)) != 0 ||
        (rc = split_build(&dev, &d, SL_SPLIT_DEV, cfg->messages, cfg->target)) != 0)
        goto out;
    if (tr.n == 0 || tr.positives == 0 || tr.positives == tr.n) {
        fprintf(err, "fit: %s\n",
                tr.n == 0 ? "no training rows"
                          : "the training rows all have the same label: nothing to learn");
        rc = SL_EINVAL;
        goto out;
    }
    fprintf(out, "data: %zu training rows (%zu positive), %zu dev rows", tr.n, tr.positives, dev.n);
    if (d.n_contaminated)
        fprintf(out, "; %zu contaminated rows dropped", d.n_contaminated);
    if (d.n_no_prompt)
        fprintf(out, "; %zu samples without a prompt dropped", d.n_no_prompt);
    if (cfg->source)
        fprintf(out, "; source %s only (%zu other rows skipped)", cfg->source, d.n_other_source);
    fprintf(out, "\nfeatures: %zu non-zeros (%.1f per training row), extracted in %.1f s\n",
            tr.x.nnz + dev.x.nnz, (double)tr.x.nnz / (double)tr.n,
            (double)(sl_clock_mono_us() - t0) / 1e6);

    /* Choose lambda. */
    res.lambda = cfg->lambdas[0];
    if (cfg->n_lambdas > 1 || (cfg->folds_set && dev.n == 0)) {
        struct sl_tune_config tc = {
            .lambdas = cfg->lambdas,
            .n_lambdas = cfg->n_lambdas,
            .folds = cfg->folds,
            .by = cfg->by,
            .weights = cfg->weights,
            .fit = cfg->fit,
            .threads = cfg->threads,
        };
        struct sl_tune_rows trows = {&tr.x, tr.y, tr.t}, drows = {&dev.x, dev.y, dev.t};
        if ((rc = sl_tune_run(&tc, &trows, dev.n > 0 ? &drows : NULL, &tu)) != 0) {
            if (rc == SL_EINVAL)
                fprintf(err, "fit: %d-fold cross-validation needs at least %d training rows\n",
                        cfg->folds, cfg->folds);
            goto out;
        }
        res.lambda = tu.entries[tu.best].lambda;
        res.search_seconds = tu.seconds;
        if (tu.cv)
            snprintf(selection, sizeof(selection), "%d-fold cv %s", cfg->folds,
                     sl_tune_by_name(cfg->by));
        else
            snprintf(selection, sizeof(selection), "dev %s", sl_tune_by_name(cfg->by));
        fprintf(out, "lambda search (%s):\n  %-8s %-8s %-8s %-10s %s\n", selection, "lambda", "auc",
                "logloss", "iterations", "seconds");
        for (size_t l = 0; l < tu.n_entries; l++)
            fprintf(out, "  %-8.0e %-8.4f %-8.4f %-10d %.1f%s\n", tu.entries[l].lambda,
                    tu.entries[l].auc, tu.entries[l].logloss, tu.entries[l].iterations,
                    tu.entries[l].seconds, l == tu.best ? "  <- chosen" : "");
    }

    /* The final fit, from zero, on every training row: timed alone. */
    p = (struct sl_fit_problem){
        .x = &tr.x, .y = tr.y, .t = tr.t, .n = tr.n, .lambda = res.lambda, .threads = cfg->threads};
    sl_fit_class_weights(&p, cfg->weights);
    wb = calloc(SL_FIT_DIM, sizeof(double));
    res.w = malloc(SL_FEATURES_DIM * sizeof(float));
    score = malloc((tr.n > dev.n ? tr.n : dev.n) * sizeof(double));
    if (!wb || !res.w || !score) {
        rc = SL_ENOMEM;
        goto out;
    }
    {
        struct sl_fit_options o = cfg->fit;
        o.label = "final";
        if ((rc = sl_fit_run(&p, &o, wb, &fr)) != 0)
            goto out;
    }
    res.fit_seconds = fr.seconds;
    res.iterations = fr.iterations;
    res.converged = fr.converged;
    res.rows = tr.n;
    res.positives = tr.positives;
    res.messages = cfg->messages;
    for (size_t j = 0; j < SL_FEATURES_DIM; j++) {
        res.w[j] = (float)wb[j];
        nonzero += res.w[j] != 0;
    }
    res.bias = wb[SL_FEATURES_DIM];
    fprintf(out,
            "final fit at lambda %g on %zu rows: %d iterations, %.2f s, %s (|gradient| %.2g)\n",
            res.lambda, tr.n, fr.iterations, fr.seconds,
            fr.converged ? "converged" : "stopped before convergence", fr.grad_norm);

    /* Metrics with the float weights, scored as the proxy scores. */
    sl_train_view(&view, res.w, res.bias, res.messages);
    score_rows(&view, &tr.x, score);
    if ((rc = sl_scores_auc(score, tr.y, tr.n, &res.train_auc)) != 0)
        goto out;
    res.train_logloss = sl_scores_logloss(score, tr.t, tr.n);
    res.threshold = 0.5;
    if (dev.n > 0) {
        val_kind = "dev";
        score_rows(&view, &dev.x, score);
        if ((rc = sl_scores_auc(score, dev.y, dev.n, &res.val_auc)) != 0)
            goto out;
        res.val_logloss = sl_scores_logloss(score, dev.t, dev.n);
        if ((rc = initial_threshold(score, dev.n, (double)dev.positives / (double)dev.n,
                                    &res.threshold)) != 0)
            goto out;
    } else if (tu.cv) {
        val_kind = "cv";
        res.val_auc = tu.entries[tu.best].auc;
        res.val_logloss = tu.entries[tu.best].logloss;
        if ((rc = initial_threshold(tu.val_prob, tu.n_val, (double)tr.positives / (double)tr.n,
                                    &res.threshold)) != 0)
            goto out;
    }
    fprintf(out, "train: auc %.4f logloss %.4f", res.train_auc, res.train_logloss);
    if (val_kind)
        fprintf(out, "; validation (%s): auc %.4f logloss %.4f", val_kind, res.val_auc,
                res.val_logloss);
    fprintf(out, "\nthreshold: %.4g (%s)\n", res.threshold,
            val_kind ? "validation base-rate quantile" : "0.5: no validation rows");

    training = training_json(cfg, &d, &tr, &dev, &p, &fr, &res, selection);
    metrics = metrics_json(&res, &tr, val_kind, dev.n ? dev.n : tr.n, tu.n_entries ? &tu : NULL);
    if (!training || !metrics) {
        rc = SL_ENOMEM;
        goto out;
    }
    if ((rc = sl_classifier_save(cfg->out, res.w, res.bias, res.messages, &res.threshold, 1,
                                 training, metrics, msg, sizeof(msg))) != 0) {
        fprintf(err, "%s\n", msg);
        goto out;
    }
    fprintf(out, "wrote %s: %zu non-zero weights\n", cfg->out, nonzero);
    fprintf(out,
            "fit: lambda=%g search_s=%.2f fit_s=%.2f iterations=%d train_auc=%.4f val_auc=%.4f\n",
            res.lambda, res.search_seconds, res.fit_seconds, res.iterations, res.train_auc,
            res.val_auc);
    if (res_out) {
        *res_out = res;
        res.w = NULL;
    }
out:
    if (rc == SL_ENOMEM)
        fprintf(err, "fit: out of memory\n");
    cJSON_Delete(training);
    cJSON_Delete(metrics);
    free(wb);
    free(score);
    sl_train_result_free(&res);
    sl_tune_result_free(&tu);
    split_free(&tr);
    split_free(&dev);
    sl_dataset_free(&d);
    return rc;
}
