/* Tests for trainer/thresholds: the choice for each kind of target, the CSV, and the command's
 * artifact rewrite. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier.h"
#include "thresholds.h"

/* Six rows in score order; the strong model is needed on rows 0, 1 and 3. Quality with k rows
 * on strong: 3/6, 4/6, 5/6, 5/6, 6/6, 6/6, 6/6 for k = 0..6. */
static void curve6(struct sl_curve *c)
{
    double score[] = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4};
    double qw[] = {0, 0, 1, 0, 1, 1}, qs[] = {1, 1, 1, 1, 1, 1};

    sl_curve_init(c);
    cr_assert_eq(sl_curve_exact(c, score, qw, qs, 6), 0);
}

Test(thresholds, min_quality_takes_the_lowest_premium_share_that_meets_it)
{
    struct sl_curve c;
    struct sl_thresholds_choice ch;

    curve6(&c);
    cr_assert_eq(sl_thresholds_choose(&c, SL_THRESHOLDS_MIN_QUALITY, 0.8, &ch), 0);
    cr_assert_float_eq(ch.premium_share, 2.0 / 6, 1e-12);
    cr_assert_float_eq(ch.quality, 5.0 / 6, 1e-12);
    cr_assert_float_eq(ch.threshold, 0.75, 1e-12);
    cr_assert_eq(sl_thresholds_choose(&c, SL_THRESHOLDS_MIN_QUALITY, 1.0, &ch), 0);
    cr_assert_float_eq(ch.premium_share, 4.0 / 6, 1e-12, "not 5/6 or 6/6: also 100%");
    cr_assert_float_eq(ch.threshold, 0.55, 1e-12);
    cr_assert_eq(sl_thresholds_choose(&c, SL_THRESHOLDS_MIN_QUALITY, 0.4, &ch), 0);
    cr_assert_float_eq(ch.premium_share, 0.0, 0, "the cheap tier alone meets it");
    cr_assert_gt(ch.threshold, 0.9);
    sl_curve_free(&c);
}

Test(thresholds, max_premium_share_takes_the_best_quality_within_budget)
{
    struct sl_curve c;
    struct sl_thresholds_choice ch;

    curve6(&c);
    cr_assert_eq(sl_thresholds_choose(&c, SL_THRESHOLDS_MAX_PREMIUM_SHARE, 0.5, &ch), 0);
    /* Shares 2/6 and 3/6 both give 5/6: the cheaper one. */
    cr_assert_float_eq(ch.premium_share, 2.0 / 6, 1e-12);
    cr_assert_float_eq(ch.quality, 5.0 / 6, 1e-12);
    cr_assert_eq(sl_thresholds_choose(&c, SL_THRESHOLDS_MAX_PREMIUM_SHARE, 0.1, &ch), 0);
    cr_assert_float_eq(ch.premium_share, 0.0, 0);
    cr_assert_eq(sl_thresholds_choose(&c, SL_THRESHOLDS_MAX_PREMIUM_SHARE, 1.0, &ch), 0);
    cr_assert_float_eq(ch.premium_share, 4.0 / 6, 1e-12);
    sl_curve_free(&c);
}

Test(thresholds, an_unreachable_quality_is_not_found)
{
    struct sl_curve c;
    struct sl_thresholds_choice ch;

    curve6(&c);
    cr_assert_eq(sl_thresholds_choose(&c, SL_THRESHOLDS_MIN_QUALITY, 1.01, &ch), SL_ENOTFOUND);
    sl_curve_free(&c);
}

Test(thresholds, csv_has_a_header_and_a_line_per_point)
{
    struct sl_curve c;
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);

    curve6(&c);
    cr_assert_eq(sl_thresholds_write_csv(fp, &c), 0);
    fclose(fp);
    cr_assert(strncmp(text, "threshold,premium_share,quality,pgr\n", 36) == 0);
    cr_assert_not_null(strstr(text, "\n0.75,0.333333,0.833333,0.666667\n"));
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 1 + (int)c.n);
    free(text);
    sl_curve_free(&c);
}

/* ---- the command, on a model that scores prompts by a marker word ---- */

static char dir[] = "/tmp/sl_test_thresholds_XXXXXX";
static char model[96], data[96], csv[96], svg[96];

static void make_files(void)
{
    struct sl_features f;
    float *w = calloc(SL_FEATURES_DIM, sizeof(float));
    FILE *fp;
    char err[256];

    cr_assert_not_null(mkdtemp(dir));
    snprintf(model, sizeof(model), "%s/model.json", dir);
    snprintf(data, sizeof(data), "%s/data.jsonl", dir);
    snprintf(csv, sizeof(csv), "%s/curve.csv", dir);
    snprintf(svg, sizeof(svg), "%s/curve.svg", dir);
    /* Weights on the word "urgent"'s features: prompts with it score higher. */
    sl_features_init(&f);
    cr_assert_eq(sl_features_extract(&f, "urgent", 6, 1), 0);
    for (size_t k = 0; k < f.n; k++)
        if (f.idx[k] < SL_FEATURES_HASHED)
            w[f.idx[k]] = f.val[k] > 0 ? 3.0f : -3.0f;
    sl_features_free(&f);
    double t = 0.5;
    cr_assert_eq(sl_classifier_save(model, w, -1.0, SL_MESSAGES_LAST_USER, &t, 1, NULL, NULL, err,
                                    sizeof(err)),
                 0, "%s", err);
    free(w);
    fp = fopen(data, "w");
    for (int i = 0; i < 20; i++)
        fprintf(fp, "{\"prompt\":\"%s message number %d\",\"label\":%d,\"split\":\"dev\"}\n",
                i % 4 == 0 ? "urgent" : "plain", i, i % 4 == 0);
    fprintf(fp, "{\"prompt\":\"urgent but a test row\",\"label\":1,\"split\":\"test\"}\n");
    fclose(fp);
}

static void remove_files(void)
{
    unlink(model);
    unlink(data);
    unlink(csv);
    unlink(svg);
    rmdir(dir);
}

TestSuite(thresholds_run, .init = make_files, .fini = remove_files);

Test(thresholds_run, writes_the_choice_the_curve_and_the_artifact)
{
    struct sl_thresholds_config cfg = {.model = model,
                                       .data = data,
                                       .split = SL_SPLIT_DEV,
                                       .target = SL_THRESHOLDS_MIN_QUALITY,
                                       .value = 1.0,
                                       .csv = csv,
                                       .svg = svg,
                                       .write = true};
    struct sl_classifier *before, *after;
    char err[256], *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    before = sl_classifier_load(model, err, sizeof(err));
    cr_assert_not_null(before, "%s", err);
    cr_assert_eq(sl_thresholds_run(&cfg, fp, stderr), 0);
    fclose(fp);
    /* Labels only: every label-1 row must go to premium, and only they need to. */
    cr_assert_not_null(strstr(out, "premium share: 25.0%  quality: 100.00% of premium-only"), "%s",
                       out);
    cr_assert_eq(access(csv, R_OK), 0);
    cr_assert_eq(access(svg, R_OK), 0);
    after = sl_classifier_load(model, err, sizeof(err));
    cr_assert_not_null(after, "%s", err);
    cr_assert_eq(after->n_thresholds, 1);
    cr_assert_gt(after->thresholds[0], 0.0);
    cr_assert_lt(after->thresholds[0], 1.0);
    cr_assert_neq(after->thresholds[0], 0.5, "replaced");
    cr_assert_eq(memcmp(before->w, after->w, SL_FEATURES_DIM * sizeof(float)), 0);
    cr_assert_eq(before->bias, after->bias);
    const cJSON *m = cJSON_GetObjectItem(after->meta, "metrics");
    const cJSON *th = cJSON_GetObjectItem(m, "threshold");
    cr_assert_not_null(th, "the choice is recorded");
    cr_assert_str_eq(cJSON_GetObjectItem(th, "target")->valuestring, "min_quality");
    cr_assert_float_eq(cJSON_GetObjectItem(th, "threshold")->valuedouble, after->thresholds[0],
                       1e-15);
    /* The stored threshold sends exactly the marked dev prompts to premium. */
    struct sl_features f;
    sl_features_init(&f);
    cr_assert_eq(sl_features_extract(&f, "urgent message number 4", 23, 1), 0);
    cr_assert_geq(sl_classifier_score(after, &f), after->thresholds[0]);
    cr_assert_eq(sl_features_extract(&f, "plain message number 5", 22, 1), 0);
    cr_assert_lt(sl_classifier_score(after, &f), after->thresholds[0]);
    sl_features_free(&f);
    sl_classifier_destroy(before);
    sl_classifier_destroy(after);
    free(out);
}

Test(thresholds_run, without_write_leaves_the_artifact_alone)
{
    struct sl_thresholds_config cfg = {.model = model,
                                       .data = data,
                                       .split = SL_SPLIT_DEV,
                                       .target = SL_THRESHOLDS_MAX_PREMIUM_SHARE,
                                       .value = 0.1};
    struct sl_classifier *c;
    char err[256];
    FILE *out = fopen("/dev/null", "w");

    cr_assert_eq(sl_thresholds_run(&cfg, out, stderr), 0);
    fclose(out);
    c = sl_classifier_load(model, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    cr_assert_float_eq(c->thresholds[0], 0.5, 0);
    sl_classifier_destroy(c);
}

Test(thresholds_run, an_empty_split_is_an_error)
{
    struct sl_thresholds_config cfg = {.model = model,
                                       .data = data,
                                       .split = SL_SPLIT_TRAIN,
                                       .target = SL_THRESHOLDS_MIN_QUALITY,
                                       .value = 0.9};
    FILE *out = fopen("/dev/null", "w");

    cr_assert_eq(sl_thresholds_run(&cfg, out, out), SL_EINVAL);
    fclose(out);
}
