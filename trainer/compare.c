/* Two models on the same rows, side by side, and whether the new one may replace the old. */
#include "compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classifier.h"
#include "evaluate.h"

static bool both_apgr(const struct sl_compare_scores *a, const struct sl_compare_scores *b)
{
    return !isnan(a->apgr) && !isnan(b->apgr);
}

/* AUC ranks by the label: models fitted to different targets are compared on APGR alone. */
static bool apgr_alone(const struct sl_compare_scores *a, const struct sl_compare_scores *b)
{
    return both_apgr(a, b) && a->target != b->target;
}

bool sl_compare_not_worse(const struct sl_compare_scores *candidate,
                          const struct sl_compare_scores *baseline, double tolerance)
{
    bool apgr = both_apgr(candidate, baseline);

    if (apgr_alone(candidate, baseline))
        return candidate->apgr >= baseline->apgr - tolerance;
    /* Written so that a NAN AUC fails the test rather than passes it. */
    if (!(candidate->auc >= baseline->auc - tolerance))
        return false;
    return !apgr || candidate->apgr >= baseline->apgr - tolerance;
}

void sl_compare_config_default(struct sl_compare_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->split = SL_SPLIT_TEST;
}

/* One side of the comparison. */
struct side {
    const char *role; /* "new" or "baseline" */
    const char *path;
    struct sl_classifier *c;
    struct sl_evaluate_result r;
    struct sl_compare_scores s;
};

static double lambda_of(const struct sl_classifier *c)
{
    const cJSON *tr = c->meta ? cJSON_GetObjectItemCaseSensitive(c->meta, "training") : NULL;
    const cJSON *lambda = tr ? cJSON_GetObjectItemCaseSensitive(tr, "lambda") : NULL;

    return cJSON_IsNumber(lambda) ? lambda->valuedouble : NAN;
}

static double overall(const struct sl_evaluate_result *r, int which)
{
    const struct sl_evaluate_group *g = r->overall;

    if (!g)
        return NAN;
    return which == 0 ? g->learned.apgr : which == 1 ? g->learned.cpt50 : g->learned.cpt80;
}

static void print_row(FILE *out, const char *name, double a, double b)
{
    fprintf(out, "  %-22s %9.4f %9.4f %+9.4f\n", name, a, b, a - b);
}

static void print_tables(FILE *out, const struct sl_compare_config *cfg, const char *data,
                         const struct side *nw, const struct side *base, bool not_worse)
{
    const struct sl_evaluate_result *a = &nw->r, *b = &base->r;
    double tol = cfg->tolerance;

    for (const struct side *s = nw; s; s = s == nw ? base : NULL) {
        fprintf(out, "%-9s %s", s->role, s->path);
        if (!isnan(lambda_of(s->c)))
            fprintf(out, " (lambda %g)", lambda_of(s->c));
        fputc('\n', out);
    }
    fprintf(out, "rows: %zu (%s, split %s), %zu with both tiers' quality scores\n\n", a->rows, data,
            cfg->all_rows ? "all" : sl_dataset_split_name(cfg->split),
            a->overall ? a->overall->n : 0);
    fprintf(out, "  %-22s %9s %9s %9s\n", "", "new", "baseline", "change");
    print_row(out, "auc", a->auc, b->auc);
    print_row(out, "logloss", a->logloss, b->logloss);
    if (a->overall) {
        print_row(out, "apgr", nw->s.apgr, base->s.apgr);
        print_row(out, "cpt(50%)", overall(a, 1), overall(b, 1));
        print_row(out, "cpt(80%)", overall(a, 2), overall(b, 2));
    }
    /* Per source when there are several (the last group is then "all", printed above). */
    for (size_t i = 0; a->n_groups > 1 && i + 1 < a->n_groups; i++) {
        char name[64];

        snprintf(name, sizeof(name), "apgr %s", a->groups[i].name);
        print_row(out, name, a->groups[i].learned.apgr, b->groups[i].learned.apgr);
    }
    if (apgr_alone(&nw->s, &base->s))
        fprintf(out, "\ndecision: %s (auc not compared: the models are fitted to the %s and the %s",
                not_worse ? "not worse" : "worse", sl_dataset_target_name(nw->s.target),
                sl_dataset_target_name(base->s.target));
    else
        fprintf(out, "\ndecision: %s (auc %.4f %s %.4f - %g", not_worse ? "not worse" : "worse",
                nw->s.auc, nw->s.auc >= base->s.auc - tol ? ">=" : "<", base->s.auc, tol);
    if (!both_apgr(&nw->s, &base->s))
        fprintf(out, "; apgr not compared: no rows with both tiers' quality scores, or the "
                     "premium tier no better than the cheap one on them)\n");
    else
        fprintf(out, "; apgr %.4f %s %.4f - %g)\n", nw->s.apgr,
                nw->s.apgr >= base->s.apgr - tol ? ">=" : "<", base->s.apgr, tol);
}

/* Adds a number, or null for NAN (undefined). */
static void add_number(cJSON *o, const char *key, double v)
{
    if (isnan(v))
        cJSON_AddNullToObject(o, key);
    else
        cJSON_AddNumberToObject(o, key, v);
}

static cJSON *side_json(const struct side *s)
{
    cJSON *o = cJSON_CreateObject(), *sources;

    cJSON_AddStringToObject(o, "model", s->path);
    add_number(o, "lambda", lambda_of(s->c));
    add_number(o, "auc", s->r.auc);
    add_number(o, "logloss", s->r.logloss);
    add_number(o, "apgr", s->s.apgr);
    add_number(o, "cpt50", overall(&s->r, 1));
    add_number(o, "cpt80", overall(&s->r, 2));
    sources = cJSON_AddObjectToObject(o, "apgr_by_source");
    for (size_t i = 0; i < s->r.n_groups; i++)
        if (&s->r.groups[i] != s->r.overall || s->r.n_groups == 1)
            add_number(sources, s->r.groups[i].name, s->r.groups[i].learned.apgr);
    return o;
}

static int print_json(FILE *out, const struct sl_compare_config *cfg, const struct side *nw,
                      const struct side *base, bool not_worse)
{
    cJSON *o = cJSON_CreateObject();
    char *text;

    cJSON_AddItemToObject(o, "new", side_json(nw));
    cJSON_AddItemToObject(o, "baseline", side_json(base));
    cJSON_AddBoolToObject(o, "not_worse", not_worse);
    cJSON_AddNumberToObject(o, "rows", (double)nw->r.rows);
    cJSON_AddNumberToObject(o, "rows_with_scores", nw->r.overall ? (double)nw->r.overall->n : 0.0);
    cJSON_AddStringToObject(o, "split", cfg->all_rows ? "all" : sl_dataset_split_name(cfg->split));
    cJSON_AddNumberToObject(o, "tolerance", cfg->tolerance);
    text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text)
        return SL_ENOMEM;
    fprintf(out, "%s\n", text);
    free(text);
    return 0;
}

/* The paths of the data, joined for messages; NULL when out of memory. */
static char *data_label(const struct sl_compare_config *cfg)
{
    size_t len = 1, n = cfg->n_data + cfg->n_eval_dbs;
    char *s;

    for (size_t i = 0; i < n; i++)
        len += strlen(i < cfg->n_data ? cfg->data[i] : cfg->eval_dbs[i - cfg->n_data]) + 2;
    if (!(s = malloc(len)))
        return NULL;
    *s = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, ", ");
        strcat(s, i < cfg->n_data ? cfg->data[i] : cfg->eval_dbs[i - cfg->n_data]);
    }
    return s;
}

int sl_compare_run(const struct sl_compare_config *cfg, bool *not_worse, FILE *out, FILE *err)
{
    struct side sides[2] = {{.role = "new", .path = cfg->model},
                            {.role = "baseline", .path = cfg->baseline}};
    struct sl_dataset d;
    size_t *rows = NULL, n = 0;
    char msg[512], *data = NULL;
    int rc = 0;

    *not_worse = false;
    sl_dataset_init(&d);
    for (int i = 0; i < 2; i++)
        if (!(sides[i].c = sl_classifier_load(sides[i].path, msg, sizeof(msg)))) {
            fprintf(err, "compare: %s model: %s\n", sides[i].role, msg);
            rc = SL_EINVAL;
            goto out;
        }
    if (!(data = data_label(cfg))) {
        rc = SL_ENOMEM;
        goto out;
    }
    /* One load and one selection: both models see exactly the same rows. */
    if ((rc = sl_dataset_load_many(&d, cfg->data, cfg->n_data, cfg->eval_dbs, cfg->n_eval_dbs,
                                   cfg->source, err)) != 0 ||
        (rc = sl_dataset_select(&d, cfg->all_rows ? NULL : &cfg->split, &rows, &n)) != 0)
        goto out;
    if (n == 0) {
        fprintf(err, "compare: %s: no rows in split %s\n", data,
                cfg->all_rows ? "all" : sl_dataset_split_name(cfg->split));
        rc = SL_EINVAL;
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        struct side *s = &sides[i];

        if ((rc = sl_evaluate_rows(s->c, &d, rows, n, NAN, NAN, &s->r)) != 0)
            goto out;
        s->s.auc = s->r.auc;
        s->s.apgr = overall(&s->r, 0);
        s->s.target = sl_evaluate_model_target(s->c);
    }
    if (isnan(sides[0].s.auc)) {
        fprintf(err, "compare: the %zu rows of split %s are all of one class: AUC is undefined\n",
                n, cfg->all_rows ? "all" : sl_dataset_split_name(cfg->split));
        rc = SL_EINVAL;
        goto out;
    }
    *not_worse = sl_compare_not_worse(&sides[0].s, &sides[1].s, cfg->tolerance);
    if (cfg->json)
        rc = print_json(out, cfg, &sides[0], &sides[1], *not_worse);
    else
        print_tables(out, cfg, data, &sides[0], &sides[1], *not_worse);
out:
    if (rc == SL_ENOMEM)
        fprintf(err, "compare: out of memory\n");
    for (int i = 0; i < 2; i++) {
        sl_evaluate_result_free(&sides[i].r);
        sl_classifier_destroy(sides[i].c);
    }
    free(data);
    free(rows);
    sl_dataset_free(&d);
    return rc;
}
