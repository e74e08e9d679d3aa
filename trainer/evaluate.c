/* Model evaluation: classification measures, calibration, routing per source with baselines. */
#include "evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "baseline.h"
#include "classifier.h"
#include "curve.h"
#include "predict.h"
#include "scores.h"

void sl_evaluate_config_default(struct sl_evaluate_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->split = SL_SPLIT_TEST;
    cfg->price_weak = NAN;
    cfg->price_strong = NAN;
}

/* Everything scored once, then sliced per group. */
struct scored {
    size_t n;
    const size_t *rows;
    double *score, *prior, *qw, *qs, *target;
    int *label;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The measures of the rows of s whose source is name (every row with scores when NULL). */
static int group_measure(const struct sl_dataset *d, const struct scored *s, double pw, double ps,
                         const char *name, struct sl_evaluate_group *g)
{
    double *buf = malloc((s->n ? s->n : 1) * 4 * sizeof(double));
    int *lab = malloc((s->n ? s->n : 1) * sizeof(int));
    size_t m = 0;
    int rc = 0;

    if (!buf || !lab) {
        rc = SL_ENOMEM;
        goto out;
    }
    double *sc = buf, *pr = buf + s->n, *qw = buf + 2 * s->n, *qs = buf + 3 * s->n;
    for (size_t k = 0; k < s->n; k++) {
        const struct sl_example *e = &d->rows[s->rows[k]];
        if (!e->has_scores || (name && strcmp(e->source, name) != 0))
            continue;
        sc[m] = s->score[k];
        pr[m] = s->prior[k];
        qw[m] = s->qw[k];
        qs[m] = s->qs[k];
        lab[m] = s->label[k];
        m++;
    }
    memset(g, 0, sizeof(*g));
    g->name = name ? name : "all";
    g->n = m;
    if (m == 0)
        goto out;
    /* Without prices the cheap tier counts as free: the saving is the premium calls saved. */
    if (isnan(pw) || isnan(ps)) {
        pw = 0;
        ps = 1;
    }
    if ((rc = sl_scores_auc(sc, lab, m, &g->auc)) != 0 ||
        (rc = sl_curve_summarise(sc, qw, qs, m, pw, ps, &g->learned)) != 0 ||
        (rc = sl_curve_summarise(pr, qw, qs, m, pw, ps, &g->prior)) != 0)
        goto out;
    sl_curve_random_summary(g->learned.q_weak, g->learned.q_strong, m, pw, ps, &g->random);
out:
    free(buf);
    free(lab);
    return rc;
}

enum sl_target sl_evaluate_model_target(const struct sl_classifier *c)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(c->meta, "training");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "target");
    enum sl_target kind;

    if (!cJSON_IsString(v) || sl_dataset_target_parse(v->valuestring, &kind) != 0)
        return SL_TARGET_LABEL;
    return kind;
}

int sl_evaluate_rows(const struct sl_classifier *c, const struct sl_dataset *d, const size_t *rows,
                     size_t n, double price_weak, double price_strong,
                     struct sl_evaluate_result *res)
{
    enum sl_target target = sl_evaluate_model_target(c);
    struct scored s = {0};
    const char **names = NULL;
    size_t nnames = 0;
    int rc;

    memset(res, 0, sizeof(*res));
    res->rows = n;
    s.n = n;
    s.rows = rows;
    s.score = malloc((n ? n : 1) * sizeof(double));
    s.prior = malloc((n ? n : 1) * sizeof(double));
    s.qw = malloc((n ? n : 1) * sizeof(double));
    s.qs = malloc((n ? n : 1) * sizeof(double));
    s.label = malloc((n ? n : 1) * sizeof(int));
    s.target = malloc((n ? n : 1) * sizeof(double));
    names = malloc((n ? n : 1) * sizeof(*names));
    res->groups = malloc((n + 1) * sizeof(*res->groups));
    if (!s.score || !s.prior || !s.qw || !s.qs || !s.label || !s.target || !names || !res->groups) {
        rc = SL_ENOMEM;
        goto out;
    }
    if ((rc = sl_predict_rows(c, d, rows, n, s.score)) != 0 ||
        (rc = sl_baseline_category_prior(d, rows, n, s.prior)) != 0)
        goto out;
    for (size_t k = 0; k < n; k++) {
        const struct sl_example *e = &d->rows[rows[k]];
        s.label[k] = e->label;
        s.target[k] = sl_dataset_target(e, target);
        sl_dataset_quality(e, &s.qw[k], &s.qs[k]);
        if (!e->has_scores)
            continue;
        /* Sources are interned: a new pointer is a new source. */
        size_t j = 0;
        while (j < nnames && names[j] != e->source)
            j++;
        if (j == nnames)
            names[nnames++] = e->source;
    }
    if ((rc = sl_scores_auc(s.score, s.label, n, &res->auc)) != 0)
        goto out;
    res->logloss = sl_scores_logloss(s.score, s.target, n);
    sl_scores_calibration(s.score, s.target, n, res->bins);
    qsort(names, nnames, sizeof(*names), cmp_str);
    for (size_t j = 0; j < nnames; j++)
        if ((rc = group_measure(d, &s, price_weak, price_strong, names[j],
                                &res->groups[res->n_groups++])) != 0)
            goto out;
    if (nnames > 1 && (rc = group_measure(d, &s, price_weak, price_strong, NULL,
                                          &res->groups[res->n_groups++])) != 0)
        goto out;
    if (res->n_groups > 0)
        res->overall = &res->groups[res->n_groups - 1];
out:
    if (rc != 0)
        sl_evaluate_result_free(res);
    free(s.score);
    free(s.prior);
    free(s.qw);
    free(s.target);
    free(s.qs);
    free(s.label);
    free(names);
    return rc;
}

void sl_evaluate_result_free(struct sl_evaluate_result *res)
{
    free(res->groups);
    res->groups = NULL;
    res->n_groups = 0;
    res->overall = NULL;
}

static void print_summary_row(FILE *out, const char *source, const char *router,
                              const struct sl_curve_summary *s)
{
    fprintf(out, "  %-18s %-15s %6.3f %9.1f%% %9.1f%% %12.1f%% %10.1f%%\n", source, router, s->apgr,
            100 * s->cpt50, 100 * s->cpt80, 100 * s->share95, 100 * s->saving95);
}

static void print_tables(FILE *out, const struct sl_evaluate_config *cfg,
                         const struct sl_classifier *c, const struct sl_evaluate_result *r)
{
    const struct sl_scores_bin *bins = r->bins;
    const struct sl_evaluate_group *g = r->groups;
    size_t ng = r->n_groups;
    const cJSON *tr = c->meta ? cJSON_GetObjectItemCaseSensitive(c->meta, "training") : NULL;
    const cJSON *lambda = tr ? cJSON_GetObjectItemCaseSensitive(tr, "lambda") : NULL;

    fprintf(out, "model: %s", cfg->model);
    if (cJSON_IsNumber(lambda))
        fprintf(out, " (lambda %g)", lambda->valuedouble);
    fprintf(out, ", fitted to the %s", sl_dataset_target_name(sl_evaluate_model_target(c)));
    fprintf(out, "\nrows: %zu (%s, split %s)\n", r->rows, cfg->data,
            cfg->all_rows ? "all" : sl_dataset_split_name(cfg->split));
    fprintf(out, "auc: %.4f  logloss: %.4f\n\ncalibration:\n  %-9s %10s %9s %6s\n", r->auc,
            r->logloss, "p", "mean_pred", "observed", "rows");
    for (int b = 0; b < SL_SCORES_BINS; b++) {
        if (bins[b].n == 0)
            fprintf(out, "  %.1f-%.1f   %10s %9s %6d\n", bins[b].lo, bins[b].hi, "-", "-", 0);
        else
            fprintf(out, "  %.1f-%.1f   %10.3f %9.3f %6zu\n", bins[b].lo, bins[b].hi,
                    bins[b].mean_pred, bins[b].rate, bins[b].n);
    }
    if (ng == 0) {
        fprintf(out, "\nrouting: no rows carry score_weak/score_strong\n");
        return;
    }
    fprintf(out,
            "\nrouting (APGR and CPT on a 101-point quantile sweep; premium@95%% = share of "
            "premium calls at the lowest threshold reaching 95%% of premium-only quality;\n"
            "saved@95%% = cost saved there %s):\n",
            isnan(cfg->price_weak) || isnan(cfg->price_strong)
                ? "with the cheap tier counted as free (no --price-weak/--price-strong)"
                : "at the given prices");
    fprintf(out, "  %-18s %-15s %6s %10s %10s %13s %11s\n", "source", "router", "APGR", "CPT(50%)",
            "CPT(80%)", "premium@95%", "saved@95%");
    for (size_t i = 0; i < ng; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s", *g[i].name ? g[i].name : "(no source)");
        print_summary_row(out, name, "learned", &g[i].learned);
        print_summary_row(out, "", "category-prior", &g[i].prior);
        print_summary_row(out, "", "random", &g[i].random);
        fprintf(out, "  %-18s rows %zu, auc %.4f, quality weak %.3f strong %.3f\n", "", g[i].n,
                g[i].auc, g[i].learned.q_weak, g[i].learned.q_strong);
    }
}

static cJSON *summary_json(const struct sl_curve_summary *s)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "apgr", s->apgr);
    cJSON_AddNumberToObject(o, "cpt50", s->cpt50);
    cJSON_AddNumberToObject(o, "cpt80", s->cpt80);
    cJSON_AddNumberToObject(o, "premium_share_at_95", s->share95);
    cJSON_AddNumberToObject(o, "cost_saved_at_95", s->saving95);
    return o;
}

static int print_json(FILE *out, const struct sl_evaluate_config *cfg,
                      const struct sl_evaluate_result *r)
{
    const struct sl_scores_bin *bins = r->bins;
    const struct sl_evaluate_group *g = r->groups;
    size_t ng = r->n_groups;
    cJSON *o = cJSON_CreateObject(), *cal, *routing;
    char *text;

    cJSON_AddStringToObject(o, "model", cfg->model);
    cJSON_AddStringToObject(o, "data", cfg->data);
    cJSON_AddStringToObject(o, "split", cfg->all_rows ? "all" : sl_dataset_split_name(cfg->split));
    cJSON_AddNumberToObject(o, "rows", (double)r->rows);
    cJSON_AddNumberToObject(o, "auc", r->auc);
    cJSON_AddNumberToObject(o, "logloss", r->logloss);
    cal = cJSON_AddArrayToObject(o, "calibration");
    for (int b = 0; b < SL_SCORES_BINS; b++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "lo", bins[b].lo);
        cJSON_AddNumberToObject(e, "hi", bins[b].hi);
        cJSON_AddNumberToObject(e, "mean_pred", bins[b].mean_pred);
        cJSON_AddNumberToObject(e, "observed", bins[b].rate);
        cJSON_AddNumberToObject(e, "rows", (double)bins[b].n);
        cJSON_AddItemToArray(cal, e);
    }
    routing = cJSON_AddObjectToObject(o, "routing");
    for (size_t i = 0; i < ng; i++) {
        cJSON *e = cJSON_AddObjectToObject(routing, g[i].name);
        cJSON_AddNumberToObject(e, "rows", (double)g[i].n);
        cJSON_AddNumberToObject(e, "auc", g[i].auc);
        cJSON_AddNumberToObject(e, "quality_weak", g[i].learned.q_weak);
        cJSON_AddNumberToObject(e, "quality_strong", g[i].learned.q_strong);
        cJSON_AddItemToObject(e, "learned", summary_json(&g[i].learned));
        cJSON_AddItemToObject(e, "category_prior", summary_json(&g[i].prior));
        cJSON_AddItemToObject(e, "random", summary_json(&g[i].random));
    }
    text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return SL_ENOMEM;
    fprintf(out, "%s\n", text);
    free(text);
    return 0;
}

int sl_evaluate_run(const struct sl_evaluate_config *cfg, FILE *out, FILE *err)
{
    struct sl_dataset d;
    struct sl_classifier *c = NULL;
    struct sl_evaluate_result res = {0};
    size_t *rows = NULL, n = 0;
    char msg[512];
    int rc;

    sl_dataset_init(&d);
    if (!(c = sl_classifier_load(cfg->model, msg, sizeof(msg)))) {
        fprintf(err, "%s\n", msg);
        rc = SL_EINVAL;
        goto out;
    }
    if ((rc = sl_dataset_load_rows(&d, cfg->data, cfg->eval_db, cfg->source,
                                   cfg->all_rows ? NULL : &cfg->split, &rows, &n, err)) != 0 ||
        (rc = sl_evaluate_rows(c, &d, rows, n, cfg->price_weak, cfg->price_strong, &res)) != 0)
        goto out;
    if (cfg->json)
        rc = print_json(out, cfg, &res);
    else
        print_tables(out, cfg, c, &res);
out:
    if (rc == SL_ENOMEM)
        fprintf(err, "eval: out of memory\n");
    sl_evaluate_result_free(&res);
    free(rows);
    sl_dataset_free(&d);
    sl_classifier_destroy(c);
    return rc;
}
