/* Threshold choice on the exact cost/quality curve, its CSV and SVG, and the artifact rewrite. */
#include "thresholds.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier.h"
#include "plot.h"
#include "predict.h"

/* Quality of a point as a share of the premium-only quality. */
static double share_of_strong(const struct sl_curve *c, double y)
{
    return c->q_strong > 0 ? y / c->q_strong : y;
}

int sl_thresholds_choose(const struct sl_curve *c, enum sl_thresholds_target target, double value,
                         struct sl_thresholds_choice *out)
{
    const struct sl_curve_point *best = NULL;

    for (size_t k = 0; k < c->n; k++) {
        const struct sl_curve_point *p = &c->pts[k];
        if (target == SL_THRESHOLDS_MIN_QUALITY) {
            /* 1e-12: a target of exactly a point's quality must not fail on rounding. */
            if (share_of_strong(c, p->y) >= value - 1e-12) {
                best = p;
                break;
            }
        } else if (p->x <= value + 1e-12 && (!best || p->y > best->y)) {
            best = p;
        }
    }
    if (!best)
        return SL_ENOTFOUND;
    out->threshold = best->threshold;
    out->premium_share = best->x;
    out->quality = share_of_strong(c, best->y);
    out->pgr = best->pgr;
    return 0;
}

int sl_thresholds_write_csv(FILE *fp, const struct sl_curve *c)
{
    fputs("threshold,premium_share,quality,pgr\n", fp);
    for (size_t k = 0; k < c->n; k++)
        fprintf(fp, "%.9g,%.6f,%.6f,%.6f\n", c->pts[k].threshold, c->pts[k].x,
                share_of_strong(c, c->pts[k].y), c->pts[k].pgr);
    return ferror(fp) ? SL_EIO : 0;
}

/* Writes path through a temporary file and a rename, so that a reader never sees half. */
static int write_file(const char *path, int (*body)(FILE *, const void *), const void *arg,
                      FILE *err)
{
    char *tmp = NULL;
    FILE *fp = NULL;
    int rc = 0;

    if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
        tmp = NULL;
        rc = SL_ENOMEM;
        goto out;
    }
    if (!(fp = fopen(tmp, "w"))) {
        fprintf(err, "%s: cannot write: %s\n", path, strerror(errno));
        rc = SL_EIO;
        goto out;
    }
    rc = body(fp, arg);
    if (fclose(fp) != 0 && rc == 0)
        rc = SL_EIO;
    fp = NULL;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = SL_EIO;
    if (rc != 0)
        fprintf(err, "%s: cannot write: %s\n", path, sl_strerror(rc));
out:
    if (tmp && rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

static int csv_body(FILE *fp, const void *arg)
{
    return sl_thresholds_write_csv(fp, arg);
}

struct svg_args {
    const struct sl_curve *curve;
    const struct sl_plot *plot;
};

static int svg_body(FILE *fp, const void *arg)
{
    const struct svg_args *a = arg;
    return sl_plot_curve_svg(fp, a->curve, a->plot);
}

static cJSON *choice_json(const struct sl_thresholds_config *cfg,
                          const struct sl_thresholds_choice *ch, size_t rows)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "target",
                            cfg->target == SL_THRESHOLDS_MIN_QUALITY ? "min_quality"
                                                                     : "max_premium_share");
    cJSON_AddNumberToObject(o, "target_value", cfg->value);
    cJSON_AddStringToObject(o, "data", cfg->data);
    cJSON_AddStringToObject(o, "split", cfg->all_rows ? "all" : sl_dataset_split_name(cfg->split));
    cJSON_AddNumberToObject(o, "rows", (double)rows);
    cJSON_AddNumberToObject(o, "threshold", ch->threshold);
    cJSON_AddNumberToObject(o, "premium_share", ch->premium_share);
    cJSON_AddNumberToObject(o, "quality", ch->quality);
    cJSON_AddNumberToObject(o, "pgr", ch->pgr);
    return o;
}

/* Rewrites the artifact with the new threshold, keeping its weights and training record and
 * noting the choice under metrics.threshold. */
static int store(const struct sl_thresholds_config *cfg, const struct sl_classifier *c,
                 const struct sl_thresholds_choice *ch, size_t rows, FILE *err)
{
    const cJSON *training = c->meta ? cJSON_GetObjectItemCaseSensitive(c->meta, "training") : NULL;
    const cJSON *old = c->meta ? cJSON_GetObjectItemCaseSensitive(c->meta, "metrics") : NULL;
    cJSON *metrics = old ? cJSON_Duplicate(old, true) : cJSON_CreateObject();
    char msg[512];
    int rc = 0;

    if (!metrics)
        return SL_ENOMEM;
    cJSON_DeleteItemFromObjectCaseSensitive(metrics, "threshold");
    cJSON_AddItemToObject(metrics, "threshold", choice_json(cfg, ch, rows));
    rc = sl_classifier_save(cfg->model, c->w, c->bias, c->messages, &ch->threshold, 1, training,
                            metrics, msg, sizeof(msg));
    if (rc != 0)
        fprintf(err, "%s\n", msg);
    cJSON_Delete(metrics);
    return rc;
}

int sl_thresholds_run(const struct sl_thresholds_config *cfg, FILE *out, FILE *err)
{
    struct sl_dataset d;
    struct sl_classifier *c = NULL;
    struct sl_curve curve;
    struct sl_thresholds_choice ch;
    size_t *rows = NULL, n = 0;
    double *score = NULL, *qw = NULL, *qs = NULL;
    char msg[512];
    int rc;

    sl_dataset_init(&d);
    sl_curve_init(&curve);
    if (!(c = sl_classifier_load(cfg->model, msg, sizeof(msg)))) {
        fprintf(err, "%s\n", msg);
        rc = SL_EINVAL;
        goto out;
    }
    if ((rc = sl_dataset_load_rows(&d, cfg->data, cfg->eval_db, cfg->source,
                                   cfg->all_rows ? NULL : &cfg->split, &rows, &n, err)) != 0)
        goto out;
    score = malloc(n * sizeof(*score));
    qw = malloc(n * sizeof(*qw));
    qs = malloc(n * sizeof(*qs));
    if (!score || !qw || !qs) {
        rc = SL_ENOMEM;
        goto out;
    }
    if ((rc = sl_predict_rows(c, &d, rows, n, score)) != 0)
        goto out;
    size_t with_scores = 0;
    for (size_t k = 0; k < n; k++) {
        sl_dataset_quality(&d.rows[rows[k]], &qw[k], &qs[k]);
        with_scores += d.rows[rows[k]].has_scores;
    }
    if ((rc = sl_curve_exact(&curve, score, qw, qs, n)) != 0)
        goto out;
    rc = sl_thresholds_choose(&curve, cfg->target, cfg->value, &ch);
    if (rc == SL_ENOTFOUND) {
        fprintf(err, "no threshold reaches %s %g on these %zu rows\n",
                cfg->target == SL_THRESHOLDS_MIN_QUALITY ? "quality" : "premium share", cfg->value,
                n);
        goto out;
    }
    fprintf(out, "rows: %zu (%s split %s; quality from %s)\n", n, cfg->data,
            cfg->all_rows ? "all" : sl_dataset_split_name(cfg->split),
            with_scores == n   ? "per-model scores"
            : with_scores == 0 ? "labels"
                               : "scores where given, else labels");
    fprintf(out, "target: %s %g\n",
            cfg->target == SL_THRESHOLDS_MIN_QUALITY ? "min quality" : "max premium share",
            cfg->value);
    fprintf(out, "threshold: %.6g\n", ch.threshold);
    fprintf(out, "premium share: %.1f%%  quality: %.2f%% of premium-only  PGR: %.3f\n",
            100 * ch.premium_share, 100 * ch.quality, ch.pgr);
    if (cfg->csv && (rc = write_file(cfg->csv, csv_body, &curve, err)) != 0)
        goto out;
    if (cfg->svg) {
        char subtitle[256];
        const char *base = strrchr(cfg->data, '/');
        struct sl_plot plot = {
            .title = "Router cost / quality",
            .subtitle = subtitle,
            .have_choice = true,
            .choice_x = ch.premium_share,
            .choice_quality = ch.quality,
            .choice_threshold = ch.threshold,
            .target_quality = cfg->target == SL_THRESHOLDS_MIN_QUALITY ? cfg->value : NAN,
            .target_share = cfg->target == SL_THRESHOLDS_MAX_PREMIUM_SHARE ? cfg->value : NAN,
        };
        struct svg_args args = {&curve, &plot};
        snprintf(subtitle, sizeof(subtitle), "%s, split %s, %zu prompts; APGR %.3f",
                 base ? base + 1 : cfg->data,
                 cfg->all_rows ? "all" : sl_dataset_split_name(cfg->split), n,
                 sl_curve_apgr(&curve));
        if ((rc = write_file(cfg->svg, svg_body, &args, err)) != 0)
            goto out;
    }
    if (cfg->write) {
        if ((rc = store(cfg, c, &ch, n, err)) != 0)
            goto out;
        fprintf(out, "wrote threshold %.6g to %s\n", ch.threshold, cfg->model);
    }
out:
    if (rc == SL_ENOMEM)
        fprintf(err, "out of memory\n");
    free(score);
    free(qw);
    free(qs);
    free(rows);
    sl_curve_free(&curve);
    sl_dataset_free(&d);
    sl_classifier_destroy(c);
    return rc;
}
