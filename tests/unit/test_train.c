/* Tests for trainer/train (sluice-trainer fit): the artifact it writes loads in the proxy's
 * loader and scores exactly as the trainer does, with the training record and metrics. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier.h"
#include "dataset.h"
#include "evaluate.h"
#include "rand.h"
#include "scores.h"
#include "train.h"

static char dir[] = "/tmp/sl_test_train_XXXXXX";
static char data[96], model[96];
static FILE *quiet;

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/data.jsonl", dir);
    snprintf(model, sizeof(model), "%s/model.json", dir);
    quiet = fopen("/dev/null", "w");
}

static void teardown(void)
{
    fclose(quiet);
    unlink(data);
    unlink(model);
    rmdir(dir);
}

TestSuite(train, .init = setup, .fini = teardown);

static const char *const vocabulary[] = {"apple", "river", "stone", "cloud", "paper",
                                         "green", "table", "light", "music", "horse",
                                         "chair", "money", "water", "glass", "plant"};

/* Writes n rows: prompts of random words, label 1 exactly when the word "zebra" is in them.
 * splits: NULL for no split field, else the split of row i is splits[i % 10]. */
static void write_data(size_t n, const char *const *splits, const char *source)
{
    FILE *fp = fopen(data, "w");
    struct sl_rand r;

    sl_rand_seed(&r, 5);
    for (size_t i = 0; i < n; i++) {
        int label = sl_rand_double(&r) < 0.3, words = 5 + (int)(sl_rand_u64(&r) % 8);
        int at = (int)(sl_rand_u64(&r) % (uint64_t)words);
        fputs("{\"prompt\":\"", fp);
        for (int k = 0; k < words; k++)
            fprintf(fp, "%s%s", k ? " " : "",
                    label && k == at ? "zebra" : vocabulary[sl_rand_u64(&r) % 15]);
        fprintf(fp, "\",\"label\":%d", label);
        if (splits)
            fprintf(fp, ",\"split\":\"%s\"", splits[i % 10]);
        if (source)
            fprintf(fp, ",\"source\":\"%s\"", i % 2 ? source : "other");
        fputs("}\n", fp);
    }
    fclose(fp);
}

static const char *const tdt[10] = {"train", "train", "train", "train", "train",
                                    "train", "train", "dev",   "test",  "test"};

static void config(struct sl_train_config *cfg, const char *const *files, const double *grid,
                   size_t n_grid)
{
    sl_train_config_default(cfg);
    cfg->data = files;
    cfg->n_data = 1;
    cfg->out = model;
    cfg->lambdas = grid;
    cfg->n_lambdas = n_grid;
}

Test(train, the_artifact_scores_exactly_as_the_trainer)
{
    static const double grid[] = {1e-2, 1e-3};
    const char *files[] = {data};
    struct sl_train_config cfg;
    struct sl_train_result res;
    struct sl_classifier view, *loaded;
    struct sl_features f;
    char err[256];
    const char *prompts[] = {"a zebra by the river", "stone paper chair",
                             "water water water glass zebra", "", "music"};

    write_data(600, tdt, NULL);
    config(&cfg, files, grid, 2);
    cr_assert_eq(sl_train_run(&cfg, &res, quiet, stderr), 0);
    loaded = sl_classifier_load(model, err, sizeof(err));
    cr_assert_not_null(loaded, "%s", err);
    sl_train_view(&view, res.w, res.bias, res.messages);
    sl_features_init(&f);
    for (size_t i = 0; i < sizeof(prompts) / sizeof(prompts[0]); i++) {
        cr_assert_eq(sl_features_extract(&f, prompts[i], strlen(prompts[i]), 1), 0);
        double mine = sl_classifier_score(&view, &f), proxy = sl_classifier_score(loaded, &f);
        cr_assert_eq(mine, proxy, "\"%s\": trainer %.17g, artifact %.17g", prompts[i], mine, proxy);
    }
    /* The rule was learned. */
    cr_assert_eq(sl_features_extract(&f, "stone zebra paper chair", 23, 1), 0);
    double marked = sl_classifier_score(loaded, &f);
    cr_assert_eq(sl_features_extract(&f, prompts[1], strlen(prompts[1]), 1), 0);
    double plain = sl_classifier_score(loaded, &f);
    cr_assert_gt(marked, 0.5, "%g", marked);
    cr_assert_lt(plain, 0.5, "%g", plain);
    sl_features_free(&f);

    cr_assert_eq(loaded->n_thresholds, 1);
    cr_assert_float_eq(loaded->thresholds[0], res.threshold, 1e-15);
    cr_assert_eq(loaded->messages, SL_MESSAGES_LAST_USER);
    cr_assert_gt(res.val_auc, 0.99);

    const cJSON *t = cJSON_GetObjectItem(loaded->meta, "training");
    const cJSON *m = cJSON_GetObjectItem(loaded->meta, "metrics");
    cr_assert_not_null(t);
    cr_assert_not_null(m);
    cr_assert_eq(cJSON_GetObjectItem(t, "rows")->valuedouble, (double)res.rows);
    cr_assert_eq(cJSON_GetObjectItem(t, "positives")->valuedouble, (double)res.positives);
    cr_assert_float_eq(cJSON_GetObjectItem(t, "lambda")->valuedouble, res.lambda, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(t, "feature_spec_hash")->valuestring,
                     sl_features_spec_hash());
    cr_assert_str_eq(cJSON_GetObjectItem(t, "messages")->valuestring, "last_user");
    cr_assert_str_eq(cJSON_GetObjectItem(t, "selection")->valuestring, "dev auc");
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data"), 0)->valuestring, data);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(t, "date")));
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(t, "iterations")));
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(t, "fit_seconds")));
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(t, "class_weights")));
    const cJSON *val = cJSON_GetObjectItem(m, "validation");
    cr_assert_str_eq(cJSON_GetObjectItem(val, "kind")->valuestring, "dev");
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "train"), "auc")));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(m, "lambda_search")), 2);
    sl_classifier_destroy(loaded);
    sl_train_result_free(&res);
}

Test(train, cross_validates_when_there_are_no_dev_rows)
{
    static const double grid[] = {1e-1, 1e-3};
    const char *files[] = {data};
    struct sl_train_config cfg;
    struct sl_train_result res;
    struct sl_classifier *c;
    char err[256];

    write_data(300, NULL, NULL);
    config(&cfg, files, grid, 2);
    cfg.folds = 3;
    cr_assert_eq(sl_train_run(&cfg, &res, quiet, stderr), 0);
    cr_assert_eq(res.rows, 300, "a file without splits is all training rows");
    cr_assert_float_eq(res.lambda, 1e-3, 0, "the weaker regularisation fits the rule better");
    cr_assert_gt(res.val_auc, 0.95);
    c = sl_classifier_load(model, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    const cJSON *val = cJSON_GetObjectItem(cJSON_GetObjectItem(c->meta, "metrics"), "validation");
    cr_assert_str_eq(cJSON_GetObjectItem(val, "kind")->valuestring, "cv");
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(c->meta, "training"), "selection")->valuestring,
        "3-fold cv auc");
    sl_classifier_destroy(c);
    sl_train_result_free(&res);
}

Test(train, one_lambda_without_validation_keeps_threshold_one_half)
{
    static const double grid[] = {1e-2};
    const char *files[] = {data};
    struct sl_train_config cfg;
    struct sl_train_result res;

    write_data(100, NULL, NULL);
    config(&cfg, files, grid, 1);
    cr_assert_eq(sl_train_run(&cfg, &res, quiet, stderr), 0);
    cr_assert_float_eq(res.threshold, 0.5, 0);
    cr_assert(isnan(res.val_auc));
    cr_assert_float_eq(res.search_seconds, 0, 0);
    sl_train_result_free(&res);
}

Test(train, balanced_class_weights_are_recorded)
{
    static const double grid[] = {1e-2};
    const char *files[] = {data};
    struct sl_train_config cfg;
    struct sl_classifier *c;
    char err[256];

    write_data(100, NULL, NULL);
    config(&cfg, files, grid, 1);
    cfg.weights = SL_FIT_WEIGHTS_BALANCED;
    cr_assert_eq(sl_train_run(&cfg, NULL, quiet, stderr), 0);
    c = sl_classifier_load(model, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    const cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(c->meta, "training"), "class_weights");
    cr_assert_str_eq(cJSON_GetObjectItem(w, "kind")->valuestring, "balanced");
    cr_assert_gt(cJSON_GetObjectItem(w, "1")->valuedouble, 1.0, "positives are the minority");
    sl_classifier_destroy(c);
}

Test(train, keeps_only_the_chosen_source)
{
    static const double grid[] = {1e-2};
    const char *files[] = {data};
    struct sl_train_config cfg;
    struct sl_train_result res;

    write_data(200, NULL, "mine");
    config(&cfg, files, grid, 1);
    cfg.source = "mine";
    cr_assert_eq(sl_train_run(&cfg, &res, quiet, stderr), 0);
    cr_assert_eq(res.rows, 100);
    sl_train_result_free(&res);
}

Test(train, bad_data_writes_nothing)
{
    static const double grid[] = {1e-2};
    const char *files[] = {data};
    struct sl_train_config cfg;
    char *errors = NULL, expected[160];
    size_t len = 0;
    FILE *err = open_memstream(&errors, &len);
    FILE *fp = fopen(data, "w");

    fputs("{\"prompt\":\"a\",\"label\":1}\n{\"prompt\":\"b\",\"label\":3}\n", fp);
    fclose(fp);
    config(&cfg, files, grid, 1);
    cr_assert_eq(sl_train_run(&cfg, NULL, quiet, err), SL_EPARSE);
    fclose(err);
    snprintf(expected, sizeof(expected), "%s:2: field \"label\" is 3, not 0 or 1\n", data);
    cr_assert_str_eq(errors, expected);
    cr_assert_neq(access(model, F_OK), 0, "no artifact");
    free(errors);
}

Test(train, one_class_is_refused)
{
    static const double grid[] = {1e-2};
    const char *files[] = {data};
    struct sl_train_config cfg;
    FILE *fp = fopen(data, "w");

    fputs("{\"prompt\":\"a\",\"label\":0}\n{\"prompt\":\"b\",\"label\":0}\n", fp);
    fclose(fp);
    config(&cfg, files, grid, 1);
    cr_assert_eq(sl_train_run(&cfg, NULL, quiet, quiet), SL_EINVAL);
    cr_assert_neq(access(model, F_OK), 0);
}

/* Writes n rows whose tiers' scores depend on a word: "zebra", the cheap tier fails and the
 * premium tier answers (label 1, gain +1); "tiger", the other way round (label 0, gain -1);
 * neither, both answer (label 0, gain 0). Row 1 (line 2) has a label only when label_only. */
static void write_gain_data(size_t n, bool label_only)
{
    FILE *fp = fopen(data, "w");
    struct sl_rand r;

    sl_rand_seed(&r, 9);
    for (size_t i = 0; i < n; i++) {
        int kind = (int)(i % 3), label = kind == 1;
        fprintf(fp, "{\"prompt\":\"%s %s %s\",\"label\":%d", vocabulary[sl_rand_u64(&r) % 15],
                kind == 1   ? "zebra"
                : kind == 2 ? "tiger"
                            : vocabulary[sl_rand_u64(&r) % 15],
                vocabulary[sl_rand_u64(&r) % 15], label);
        if (!(label_only && i == 1))
            fprintf(fp, ",\"score_weak\":%d,\"score_strong\":%d", kind != 1, kind != 2);
        fputs("}\n", fp);
    }
    fclose(fp);
}

static double score_of(const struct sl_classifier *c, const char *prompt)
{
    struct sl_features f;

    sl_features_init(&f);
    cr_assert_eq(sl_features_extract(&f, prompt, strlen(prompt), 1), 0);
    double s = sl_classifier_score(c, &f);
    sl_features_free(&f);
    return s;
}

Test(train, gain_target_ranks_prompts_by_the_premium_tiers_expected_gain)
{
    static const double grid[] = {1e-3};
    const char *files[] = {data};
    struct sl_train_config cfg;
    struct sl_train_result res;
    struct sl_classifier *c;
    struct sl_evaluate_result ev;
    struct sl_dataset d;
    size_t *rows, n;
    char err[256];

    write_gain_data(300, false);
    config(&cfg, files, grid, 1);
    cfg.target = SL_TARGET_GAIN;
    cr_assert_eq(sl_train_run(&cfg, &res, quiet, stderr), 0);
    c = sl_classifier_load(model, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    double up = score_of(c, "stone zebra paper"), even = score_of(c, "stone paper chair"),
           down = score_of(c, "stone tiger paper");
    /* A label-fitted model puts "tiger" and the plain prompts together, near 0. */
    cr_assert_gt(up, 0.75, "gain +1: %g", up);
    cr_assert(even > 0.35 && even < 0.65, "gain 0 scores about 1/2: %g", even);
    cr_assert_lt(down, 0.25, "gain -1: %g", down);
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(c->meta, "training"), "target")->valuestring,
        "gain");

    /* eval measures log-loss and calibration against the targets the model was fitted to:
     * the plain prompts' bin holds their gain, 1/2, not their label, 0. */
    sl_dataset_init(&d);
    cr_assert_eq(sl_dataset_load_rows(&d, data, false, NULL, NULL, &rows, &n, stderr), 0);
    cr_assert_eq(sl_evaluate_rows(c, &d, rows, n, NAN, NAN, &ev), 0);
    cr_assert_float_eq(ev.logloss, res.train_logloss, 1e-9, "eval %g, fit %g", ev.logloss,
                       res.train_logloss);
    for (int b = 0; b < SL_SCORES_BINS; b++)
        cr_assert(ev.bins[b].n == 0 || fabs(ev.bins[b].rate - ev.bins[b].mean_pred) < 0.15,
                  "bin %d: mean score %g, mean target %g", b, ev.bins[b].mean_pred,
                  ev.bins[b].rate);
    sl_evaluate_result_free(&ev);
    free(rows);
    sl_dataset_free(&d);
    sl_classifier_destroy(c);
    sl_train_result_free(&res);
}

Test(train, gain_target_needs_both_tiers_scores)
{
    static const double grid[] = {1e-2};
    const char *files[] = {data};
    struct sl_train_config cfg;
    char *errors = NULL, expected[256];
    size_t len = 0;
    FILE *err = open_memstream(&errors, &len);

    write_gain_data(30, true);
    config(&cfg, files, grid, 1);
    cfg.target = SL_TARGET_GAIN;
    cr_assert_eq(sl_train_run(&cfg, NULL, quiet, err), SL_EINVAL);
    fclose(err);
    snprintf(expected, sizeof(expected),
             "fit: --target gain needs both tiers' scores (\"score_weak\", \"score_strong\") on "
             "every training and dev row; rows with a label only: 1, the first at %s:2\n",
             data);
    cr_assert_str_eq(errors, expected);
    cr_assert_neq(access(model, F_OK), 0, "no artifact");
    free(errors);
}
