/* Tests for trainer/compare (sluice-trainer compare): the decision, the report and the exit
 * statuses that the retraining job relies on. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "compare.h"
#include "rand.h"
#include "train.h"

static char dir[] = "/tmp/sl_test_compare_XXXXXX";
static char *out_text, *err_text; /* the last run's output, freed by teardown */
static char data[96], backwards[96], good[96], bad[96], alien[96], one_class[96];

/* RouteLLM-format rows of two sources: the premium tier is needed exactly on prompts with the
 * word "zebra". Rows 0..7 of each 10 train, 8 dev, 9 test. With inverted, every label is the
 * opposite: a model fitted on those rows ranks the real rows backwards. */
static void write_rows(const char *path, int inverted, int n)
{
    static const char *const words[] = {"apple", "river", "stone", "cloud", "paper", "green"};
    struct sl_rand r;
    FILE *fp = fopen(path, "w");

    cr_assert_not_null(fp);
    sl_rand_seed(&r, 11);
    for (int i = 0; i < n; i++) {
        int needed = sl_rand_double(&r) < 0.25;
        int label = inverted ? !needed : needed;
        const char *split = i % 10 < 8 ? "train" : i % 10 == 8 ? "dev" : "test";
        fprintf(fp, "{\"prompt\":\"%s %s %s\",\"source\":\"%s\",\"category\":\"c\",",
                words[sl_rand_u64(&r) % 6], needed ? "zebra" : words[sl_rand_u64(&r) % 6],
                words[sl_rand_u64(&r) % 6], (i / 10) % 2 ? "b" : "a");
        fprintf(fp,
                "\"score_scale\":\"binary\",\"score_weak\":%d,\"score_strong\":1,"
                "\"label_strong_needed\":%d,\"split\":\"%s\",\"contaminated\":false}\n",
                !label, label, split);
    }
    fclose(fp);
}

static void fit_to(const char *rows, const char *out, enum sl_target target)
{
    static double grid[] = {1e-3};
    const char *files[1] = {rows};
    struct sl_train_config cfg;
    FILE *quiet = fopen("/dev/null", "w");

    sl_train_config_default(&cfg);
    cfg.target = target;
    cfg.data = files;
    cfg.n_data = 1;
    cfg.out = out;
    cfg.lambdas = grid;
    cfg.n_lambdas = 1;
    cfg.fit.progress = false;
    cr_assert_eq(sl_train_run(&cfg, NULL, quiet, quiet), 0);
    fclose(quiet);
}

static void fit(const char *rows, const char *out)
{
    fit_to(rows, out, SL_TARGET_LABEL);
}

/* A copy of the model at from whose feature-specification hash is another build's. */
static void write_alien(const char *from, const char *to)
{
    FILE *in = fopen(from, "r"), *out = fopen(to, "w");
    char *text = NULL;
    size_t cap = 0;
    ssize_t len;

    cr_assert(in && out);
    len = getdelim(&text, &cap, '\0', in);
    cr_assert_gt(len, 0);
    cJSON *o = cJSON_Parse(text);
    cr_assert_not_null(o);
    cJSON_ReplaceItemInObject(o, "feature_spec_hash", cJSON_CreateString("0123456789abcdef"));
    char *printed = cJSON_PrintUnformatted(o);
    fputs(printed, out);
    free(printed);
    cJSON_Delete(o);
    free(text);
    fclose(in);
    fclose(out);
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/data.jsonl", dir);
    snprintf(backwards, sizeof(backwards), "%s/backwards.jsonl", dir);
    snprintf(good, sizeof(good), "%s/good.json", dir);
    snprintf(bad, sizeof(bad), "%s/bad.json", dir);
    snprintf(alien, sizeof(alien), "%s/alien.json", dir);
    snprintf(one_class, sizeof(one_class), "%s/one_class.jsonl", dir);
    write_rows(data, 0, 600);
    write_rows(backwards, 1, 600);
    fit(data, good);
    fit(backwards, bad);
    write_alien(good, alien);
    /* Ten rows, all labelled 0: the test row is of one class. */
    FILE *fp = fopen(one_class, "w");
    for (int i = 0; i < 10; i++)
        fprintf(fp, "{\"prompt\":\"apple %d\",\"label\":0,\"split\":\"%s\"}\n", i,
                i < 8   ? "train"
                : i < 9 ? "dev"
                        : "test");
    fclose(fp);
}

static void teardown(void)
{
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
    unlink(data);
    unlink(backwards);
    unlink(good);
    unlink(bad);
    unlink(alien);
    unlink(one_class);
    rmdir(dir);
}

TestSuite(compare, .init = setup, .fini = teardown);

/* --- the decision --- */

Test(compare, a_better_or_equal_model_is_not_worse)
{
    struct sl_compare_scores base = {0.80, 0.60, SL_TARGET_LABEL},
                             better = {0.82, 0.65, SL_TARGET_LABEL}, same = base;

    cr_assert(sl_compare_not_worse(&better, &base, 0));
    cr_assert(sl_compare_not_worse(&same, &base, 0));
    cr_assert_not(sl_compare_not_worse(&base, &better, 0));
}

Test(compare, the_tolerance_allows_a_small_drop_and_no_more)
{
    struct sl_compare_scores base = {0.80, 0.60, SL_TARGET_LABEL};
    struct sl_compare_scores auc_drop = {0.79, 0.60, SL_TARGET_LABEL},
                             apgr_drop = {0.80, 0.59, SL_TARGET_LABEL};

    cr_assert_not(sl_compare_not_worse(&auc_drop, &base, 0));
    cr_assert(sl_compare_not_worse(&auc_drop, &base, 0.02));
    cr_assert_not(sl_compare_not_worse(&auc_drop, &base, 0.005));
    cr_assert_not(sl_compare_not_worse(&apgr_drop, &base, 0));
    cr_assert(sl_compare_not_worse(&apgr_drop, &base, 0.02));
}

Test(compare, a_better_auc_does_not_excuse_a_worse_apgr)
{
    struct sl_compare_scores base = {0.80, 0.60, SL_TARGET_LABEL},
                             cand = {0.90, 0.50, SL_TARGET_LABEL};

    cr_assert_not(sl_compare_not_worse(&cand, &base, 0.05));
}

Test(compare, apgr_counts_only_when_both_models_have_one)
{
    struct sl_compare_scores base = {0.80, NAN, SL_TARGET_LABEL},
                             cand = {0.81, 0.10, SL_TARGET_LABEL};
    struct sl_compare_scores base2 = {0.80, 0.60, SL_TARGET_LABEL},
                             cand2 = {0.81, NAN, SL_TARGET_LABEL};

    cr_assert(sl_compare_not_worse(&cand, &base, 0));
    cr_assert(sl_compare_not_worse(&cand2, &base2, 0));
    cand.auc = 0.79;
    cr_assert_not(sl_compare_not_worse(&cand, &base, 0));
}

Test(compare, a_model_of_another_target_is_judged_on_apgr_alone)
{
    struct sl_compare_scores base = {0.80, 0.60, SL_TARGET_LABEL};
    struct sl_compare_scores gain = {0.70, 0.65, SL_TARGET_GAIN},
                             worse = {0.90, 0.55, SL_TARGET_GAIN};
    struct sl_compare_scores no_apgr = {0.70, NAN, SL_TARGET_GAIN};

    cr_assert(sl_compare_not_worse(&gain, &base, 0), "a lower AUC does not count");
    cr_assert_not(sl_compare_not_worse(&worse, &base, 0));
    cr_assert_not(sl_compare_not_worse(&no_apgr, &base, 0), "without APGR, AUC is all there is");
    gain.target = SL_TARGET_LABEL;
    cr_assert_not(sl_compare_not_worse(&gain, &base, 0), "the same target: AUC counts");
}

Test(compare, an_undefined_auc_is_worse)
{
    struct sl_compare_scores base = {0.80, 0.60, SL_TARGET_LABEL},
                             nan_auc = {NAN, 0.70, SL_TARGET_LABEL};

    cr_assert_not(sl_compare_not_worse(&nan_auc, &base, 0.5));
    cr_assert_not(sl_compare_not_worse(&base, &nan_auc, 0.5));
}

/* --- the command --- */

/* Runs sluice-trainer compare with the NULL-terminated arguments; returns the exit status. */
static int run(const char *first, ...)
{
    char *argv[32] = {"sluice-trainer", "compare"};
    int argc = 2, rc;
    size_t olen = 0, elen = 0;
    va_list ap;
    FILE *out, *err;

    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    free(out_text);
    free(err_text);
    out = open_memstream(&out_text, &olen);
    err = open_memstream(&err_text, &elen);
    rc = sl_cli_main(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    cr_assert(cJSON_IsNumber(v), "%s.%s is not a number", a, b ? b : "");
    return v->valuedouble;
}

Test(compare, the_better_model_passes_and_the_worse_one_exits_3)
{
    cr_assert_eq(run("--model", good, "--baseline", bad, "--data", data, NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "decision: not worse"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "apgr"), "%s", out_text);
    cr_assert_eq(run("--model", bad, "--baseline", good, "--data", data, NULL), 3, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "decision: worse"), "%s", out_text);
    /* A tolerance as wide as the whole scale lets anything through. */
    cr_assert_eq(run("--model", bad, "--baseline", good, "--data", data, "--tolerance", "1", NULL),
                 0);
}

Test(compare, json_reports_both_models_on_the_same_rows)
{
    cJSON *o;

    cr_assert_eq(run("--model", bad, "--baseline", good, "--data", data, "--json", NULL), 3);
    o = cJSON_Parse(out_text);
    cr_assert_not_null(o, "not JSON: %s", out_text);
    cr_assert_eq(num(o, "rows", NULL), 60); /* the test split: one row in ten */
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "not_worse")));
    cr_assert_gt(num(o, "baseline", "auc"), 0.95);
    cr_assert_lt(num(o, "new", "auc"), 0.5, "%s", out_text);
    cr_assert_gt(num(o, "baseline", "apgr"), num(o, "new", "apgr"));
    cr_assert(num(o, "new", "logloss") > 0);
    cr_assert_str_eq(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(o, "new"), "model")->valuestring, bad);
    cJSON_Delete(o);
}

Test(compare, a_model_against_itself_is_not_worse)
{
    cJSON *o;

    cr_assert_eq(
        run("--model", good, "--baseline", good, "--data", data, "--split", "dev", "--json", NULL),
        0);
    o = cJSON_Parse(out_text);
    cr_assert_not_null(o);
    cr_assert_eq(num(o, "new", "auc"), num(o, "baseline", "auc"));
    cr_assert_eq(num(o, "new", "apgr"), num(o, "baseline", "apgr"));
    cr_assert_eq(num(o, "rows", NULL), 60);
    cJSON_Delete(o);
}

Test(compare, rows_without_quality_scores_are_compared_on_auc)
{
    char plain[128];
    FILE *fp;
    cJSON *o;

    /* The same prompts in the plain format, without score_weak/score_strong. */
    snprintf(plain, sizeof(plain), "%s/plain.jsonl", dir);
    fp = fopen(plain, "w");
    for (int i = 0; i < 40; i++)
        fprintf(fp, "{\"prompt\":\"apple %s\",\"label\":%d,\"split\":\"test\"}\n",
                i % 3 ? "river" : "zebra", i % 3 == 0);
    fclose(fp);
    cr_assert_eq(run("--model", good, "--baseline", bad, "--data", plain, "--json", NULL), 0);
    o = cJSON_Parse(out_text);
    cr_assert_not_null(o);
    cr_assert(
        cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(o, "new"), "apgr")));
    cr_assert_eq(num(o, "rows_with_scores", NULL), 0);
    cJSON_Delete(o);
    cr_assert_eq(run("--model", good, "--baseline", bad, "--data", plain, NULL), 0);
    cr_assert_not_null(strstr(out_text, "apgr not compared"), "%s", out_text);
    unlink(plain);
}

Test(compare, a_gain_model_replaces_a_label_model_on_apgr)
{
    char rows[128], by_label[128], by_gain[128];
    struct sl_rand r;
    FILE *fp;

    /* Labels that disagree with the scores (a labelling rule of its own): "zebra" prompts are
     * labelled 1 but both tiers answer them; only the premium tier answers "tiger" ones. The
     * label model ranks by the label (the better AUC), the gain model by the gain (the better
     * APGR), which is what routing is for. */
    snprintf(rows, sizeof(rows), "%s/disagree.jsonl", dir);
    snprintf(by_label, sizeof(by_label), "%s/by_label.json", dir);
    snprintf(by_gain, sizeof(by_gain), "%s/by_gain.json", dir);
    fp = fopen(rows, "w");
    sl_rand_seed(&r, 3);
    for (int i = 0; i < 600; i++) {
        int kind = (int)(sl_rand_u64(&r) % 3); /* 0 plain, 1 zebra, 2 tiger */
        fprintf(fp,
                "{\"prompt\":\"apple %s river\",\"label\":%d,\"score_weak\":%d,"
                "\"score_strong\":1,\"split\":\"%s\"}\n",
                kind == 1   ? "zebra"
                : kind == 2 ? "tiger"
                            : "stone",
                kind == 1, kind != 2,
                i % 10 < 8    ? "train"
                : i % 10 == 8 ? "dev"
                              : "test");
    }
    fclose(fp);
    fit_to(rows, by_label, SL_TARGET_LABEL);
    fit_to(rows, by_gain, SL_TARGET_GAIN);

    cr_assert_eq(run("--model", by_gain, "--baseline", by_label, "--data", rows, NULL), 0, "%s",
                 out_text);
    cr_assert_not_null(strstr(out_text, "auc not compared: the models are fitted to the gain and "
                                        "the label"),
                       "%s", out_text);
    cr_assert_eq(run("--model", by_label, "--baseline", by_gain, "--data", rows, NULL), 3, "%s",
                 out_text);
    unlink(rows);
    unlink(by_label);
    unlink(by_gain);
}

Test(compare, errors_are_not_confused_with_worse)
{
    /* Usage. */
    cr_assert_eq(run("--model", good, "--data", data, NULL), 2);
    cr_assert_not_null(strstr(err_text, "--baseline is required"), "%s", err_text);
    cr_assert_eq(run("--model", good, "--baseline", bad, NULL), 2);
    cr_assert_eq(run("--model", good, "--baseline", bad, "--data", data, "--tolerance", "-1", NULL),
                 2);
    cr_assert_eq(run("--model", good, "--baseline", bad, "--data", data, "--split", "x", NULL), 2);
    /* A model of another feature specification, a missing one, rows of one class. */
    cr_assert_eq(run("--model", good, "--baseline", alien, "--data", data, NULL), 2);
    cr_assert_not_null(strstr(err_text, "baseline model"), "%s", err_text);
    cr_assert_eq(
        run("--model", "/nonexistent/model.json", "--baseline", good, "--data", data, NULL), 2);
    cr_assert_not_null(strstr(err_text, "new model"), "%s", err_text);
    cr_assert_eq(run("--model", good, "--baseline", bad, "--data", one_class, NULL), 2);
    cr_assert_not_null(strstr(err_text, "one class"), "%s", err_text);
    cr_assert_eq(run("--model", good, "--baseline", bad, "--data", data, "--source", "zz", NULL),
                 2);
    cr_assert_not_null(strstr(err_text, "no rows"), "%s", err_text);
}

Test(compare, help_lists_the_command)
{
    char *argv[] = {"sluice-trainer", "--help", NULL};
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    cr_assert_eq(sl_cli_main(2, argv, out, stderr), 0);
    fclose(out);
    cr_assert_not_null(strstr(text, "compare --model NEW.json --baseline CURRENT.json"));
    cr_assert_not_null(strstr(text, "3 when it is worse"));
    free(text);
}
