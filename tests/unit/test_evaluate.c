/* Tests for trainer/evaluate (sluice-trainer eval): the report, as JSON and as tables. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evaluate.h"
#include "rand.h"
#include "train.h"

static char dir[] = "/tmp/sl_test_evaluate_XXXXXX";
static char data[96], model[96];

/* RouteLLM-format rows of two sources. The strong model is needed exactly on prompts with the
 * word "zebra"; in source b the category says so too. Rows 0..7 of each 10 train, 8 dev, 9 test. */
static void setup(void)
{
    static const char *const words[] = {"apple", "river", "stone", "cloud", "paper", "green"};
    const char *files[1];
    static double grid[] = {1e-3};
    struct sl_train_config cfg;
    struct sl_rand r;
    FILE *fp, *quiet = fopen("/dev/null", "w");

    cr_assert_not_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/data.jsonl", dir);
    snprintf(model, sizeof(model), "%s/model.json", dir);
    fp = fopen(data, "w");
    sl_rand_seed(&r, 8);
    for (int i = 0; i < 600; i++) {
        int needed = sl_rand_double(&r) < 0.25, b = (i / 10) % 2;
        const char *split = i % 10 < 8 ? "train" : i % 10 == 8 ? "dev" : "test";
        fprintf(fp, "{\"prompt\":\"%s %s %s\",\"source\":\"%s\",\"category\":\"%s\",",
                words[sl_rand_u64(&r) % 6], needed ? "zebra" : words[sl_rand_u64(&r) % 6],
                words[sl_rand_u64(&r) % 6], b ? "b" : "a", b && needed ? "hard" : "easy");
        fprintf(fp,
                "\"score_scale\":\"binary\",\"score_weak\":%d,\"score_strong\":1,"
                "\"label_strong_needed\":%d,\"split\":\"%s\",\"contaminated\":false}\n",
                !needed, needed, split);
    }
    fclose(fp);
    sl_train_config_default(&cfg);
    files[0] = data;
    cfg.data = files;
    cfg.n_data = 1;
    cfg.out = model;
    cfg.lambdas = grid;
    cfg.n_lambdas = 1;
    cr_assert_eq(sl_train_run(&cfg, NULL, quiet, stderr), 0);
    fclose(quiet);
}

static void teardown(void)
{
    unlink(data);
    unlink(model);
    rmdir(dir);
}

TestSuite(evaluate, .init = setup, .fini = teardown);

static char *run(struct sl_evaluate_config *cfg, int expect)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    cr_assert_eq(sl_evaluate_run(cfg, out, stderr), expect);
    fclose(out);
    return text;
}

static double num(const cJSON *o, const char *a, const char *b, const char *c)
{
    const cJSON *v = cJSON_GetObjectItem(o, a);
    if (b)
        v = cJSON_GetObjectItem(v, b);
    if (c)
        v = cJSON_GetObjectItem(v, c);
    cr_assert_not_null(v, "%s.%s.%s", a, b ? b : "", c ? c : "");
    return cJSON_IsNull(v) ? NAN : v->valuedouble;
}

Test(evaluate, reports_routing_per_source_beside_the_baselines)
{
    struct sl_evaluate_config cfg;
    char *text;
    cJSON *o, *routing;

    sl_evaluate_config_default(&cfg);
    cfg.model = model;
    cfg.data = data;
    cfg.json = true;
    cfg.price_weak = 1;
    cfg.price_strong = 10;
    text = run(&cfg, 0);
    o = cJSON_Parse(text);
    cr_assert_not_null(o, "not JSON: %s", text);
    cr_assert_eq(num(o, "rows", NULL, NULL), 60);
    cr_assert_gt(num(o, "auc", NULL, NULL), 0.95);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "calibration")), 10);
    routing = cJSON_GetObjectItem(o, "routing");
    cr_assert_not_null(cJSON_GetObjectItem(routing, "a"));
    cr_assert_not_null(cJSON_GetObjectItem(routing, "b"));
    cr_assert_not_null(cJSON_GetObjectItem(routing, "all"));
    cr_assert_eq(num(routing, "a", "rows", NULL), 30);
    /* The learned router finds the needed rows; random is one half by construction; the
     * category prior knows source b's rule but not a's. */
    cr_assert_gt(num(routing, "a", "learned", "apgr"), 0.8);
    cr_assert_float_eq(num(routing, "a", "random", "apgr"), 0.5, 1e-12);
    cr_assert_float_eq(num(routing, "a", "random", "cpt50"), 0.5, 1e-12);
    cr_assert_float_eq(num(routing, "a", "category_prior", "apgr"), 0.5, 1e-12);
    cr_assert_gt(num(routing, "b", "category_prior", "apgr"), 0.8);
    cr_assert_lt(num(routing, "a", "learned", "cpt80"), 0.5);
    double share = num(routing, "a", "learned", "premium_share_at_95");
    cr_assert_float_eq(num(routing, "a", "learned", "cost_saved_at_95"),
                       1 - (10 * share + (1 - share)) / 10, 1e-12);
    cJSON_Delete(o);
    free(text);
}

Test(evaluate, prints_tables_for_people)
{
    struct sl_evaluate_config cfg;
    char *text;

    sl_evaluate_config_default(&cfg);
    cfg.model = model;
    cfg.data = data;
    cfg.split = SL_SPLIT_DEV;
    text = run(&cfg, 0);
    cr_assert_not_null(strstr(text, "rows: 60"), "%s", text);
    cr_assert_not_null(strstr(text, "calibration:"));
    cr_assert_not_null(strstr(text, "category-prior"));
    cr_assert_not_null(strstr(text, "APGR"));
    cr_assert_not_null(strstr(text, "CPT(50%)"));
    free(text);
}

Test(evaluate, an_empty_split_is_an_error)
{
    struct sl_evaluate_config cfg;
    FILE *null = fopen("/dev/null", "w");

    sl_evaluate_config_default(&cfg);
    cfg.model = model;
    cfg.data = data;
    cfg.source = "nope";
    cr_assert_eq(sl_evaluate_run(&cfg, null, null), SL_EINVAL);
    fclose(null);
}

Test(evaluate, a_missing_model_is_an_error)
{
    struct sl_evaluate_config cfg;
    char *errors = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&errors, &len), *null = fopen("/dev/null", "w");

    sl_evaluate_config_default(&cfg);
    cfg.model = "/nonexistent/model.json";
    cfg.data = data;
    cr_assert_eq(sl_evaluate_run(&cfg, null, err), SL_EINVAL);
    fclose(err);
    fclose(null);
    cr_assert(strncmp(errors, "/nonexistent/model.json: ", 25) == 0, "%s", errors);
    free(errors);
}
