/* Tests for sluicectl/ctl_ab: an A/B experiment's arms and tests over a temporary eval.db. The
 * expected p-values were computed independently (exact fractions for Fisher's test, mpmath's
 * incomplete beta function for Welch's t-test) from the samples below. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_ab.h"
#include "evaldb.h"

#define D0     1730419200000LL /* 2024-11-01 00:00 UTC */
#define DAY_MS 86400000LL
#define EPS    1e-9

static char dir[64];
static char path[128];
static sqlite3 *db;

static void exec(const char *fmt, ...)
{
    char sql[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
}

/* route, arm and cost are SQL literals (NULL allowed); the premium tier is "large". */
static void sample(int id, long long ts, const char *route, const char *arm, const char *tier,
                   const char *cost)
{
    exec("INSERT INTO samples(id, request_id, received_ms, ts_ms, route, tier, premium_tier, arm,"
         " cost_usd) VALUES (%d, 'r%d', 0, %lld, %s, '%s', 'large', %s, %s)",
         id, id, ts, route, tier, arm, cost);
}

static void result(int id, const char *scorer, const char *pass, const char *grade,
                   const char *verdict)
{
    exec("INSERT INTO results(sample_id, scorer, ts_ms, pass, grade, verdict)"
         " VALUES (%d, '%s', 0, %s, %s, %s)",
         id, scorer, pass, grade, verdict);
}

/* Route auto, in the window [D0, D0 + 1 day):
 *   control  1-40   rules pass 1-32, fail 33-40 (40 scored, 32 passed: 80%); judge on 1-4,
 *                   grades 0.5 0.7 0.9 1.0 (mean 0.775); cost 0.0010 (odd) / 0.0014 (even):
 *                   mean 0.0012, variance 40 * 0.0002^2 / 39; tier large (premium) on 1-4
 *            41-42  unscored; cost NULL and -1 (no cost): samples 42, costed 40
 *   b        101-140  rules pass 101-120, fail 121-140 (50%); shadow win, tie, loss on
 *                   101-103; cost 0.0008 / 0.0010: mean 0.0009, variance 40 * 0.0001^2 / 39
 *   c        201-210  all pass; cost 0.002 / 0.003; all large; 10 samples: too few
 * Left out: 301 (arm ''), 302 (arm NULL), 303 (route code), 304 (arm b, the day before; a
 * failure). Route code: b 303, x 401-402 (pass), y 403-405 (fail): no "control", so b is. */
static void setup(void)
{
    char err[256] = "";

    snprintf(dir, sizeof(dir), "/tmp/sluice-test-ab-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/eval.db", dir);
    db = sl_evaldb_open(path, false, err, sizeof(err));
    cr_assert_not_null(db, "%s", err);
    exec("BEGIN");
    for (int i = 1; i <= 40; i++) {
        sample(i, D0 + i * 1000, "'auto'", "'control'", i <= 4 ? "large" : "small",
               i % 2 ? "0.0010" : "0.0014");
        result(i, "rules", i <= 32 ? "1" : "0", "NULL", "NULL");
    }
    result(1, "judge", "1", "0.5", "NULL");
    result(2, "judge", "1", "0.7", "NULL");
    result(3, "judge", "1", "0.9", "NULL");
    result(4, "judge", "1", "1.0", "NULL");
    sample(41, D0 + 41000, "'auto'", "'control'", "small", "NULL");
    sample(42, D0 + 42000, "'auto'", "'control'", "small", "-1");
    for (int i = 101; i <= 140; i++) {
        sample(i, D0 + i * 1000, "'auto'", "'b'", "small", i % 2 ? "0.0008" : "0.0010");
        result(i, "rules", i <= 120 ? "1" : "0", "NULL", "NULL");
    }
    result(101, "shadow", "NULL", "NULL", "'win'");
    result(102, "shadow", "NULL", "NULL", "'tie'");
    result(103, "shadow", "NULL", "NULL", "'loss'");
    for (int i = 201; i <= 210; i++) {
        sample(i, D0 + i * 1000, "'auto'", "'c'", "large", i % 2 ? "0.002" : "0.003");
        result(i, "rules", "1", "NULL", "NULL");
    }
    sample(301, D0 + 301000, "'auto'", "''", "small", "0.001");
    sample(302, D0 + 302000, "'auto'", "NULL", "small", "0.001");
    sample(303, D0 + 303000, "'code'", "'b'", "small", "0.001");
    sample(304, D0 - DAY_MS, "'auto'", "'b'", "small", "0.0009");
    result(304, "rules", "0", "NULL", "NULL");
    for (int i = 401; i <= 405; i++) {
        sample(i, D0 + i * 1000, "'code'", i <= 402 ? "'x'" : "'y'", "small", "0.001");
        result(i, "rules", i <= 402 ? "1" : "0", "NULL", "NULL");
    }
    exec("COMMIT");
}

static void teardown(void)
{
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};

    sqlite3_close(db);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(ctl_ab, .init = setup, .fini = teardown);

static const struct sl_ctl_ab_arm *arm(const struct sl_ctl_ab *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->arms[i].name, name) == 0)
            return &r->arms[i];
    cr_assert_fail("no arm %s", name);
    return NULL;
}

Test(ctl_ab, arms_count_as_quality_does)
{
    struct sl_ctl_ab r;
    const struct sl_ctl_ab_arm *a;

    cr_assert_eq(sl_ctl_ab_run(db, "auto", D0, D0 + DAY_MS, &r), 0, "%s", sqlite3_errmsg(db));
    cr_assert_eq(r.n, 3);
    cr_assert_str_eq(r.arms[0].name, "b"); /* by name */
    cr_assert_str_eq(r.arms[1].name, "c");
    cr_assert_str_eq(r.arms[2].name, "control");
    cr_assert_eq(r.control, 2);

    a = arm(&r, "control");
    cr_assert_eq(a->c.samples, 42);
    cr_assert_eq(a->c.scored, 40);
    cr_assert_eq(a->c.passed, 32);
    cr_assert_float_eq(a->c.pass_rate, 0.8, EPS);
    cr_assert_eq(a->c.graded, 4);
    cr_assert_float_eq(a->c.grade_mean, 0.775, EPS);
    cr_assert_eq(a->costed, 40);
    cr_assert_float_eq(a->cost_mean, 0.0012, 1e-15);
    cr_assert_float_eq(a->cost_var, 40 * 0.0002 * 0.0002 / 39, 1e-15);
    cr_assert_eq(a->premium, 4);
    cr_assert_float_eq(a->premium_share, 4.0 / 42, EPS);
    cr_assert_eq(a->pass.method, SL_ABTEST_NONE);
    cr_assert_eq(a->cost.method, SL_ABTEST_NONE);

    a = arm(&r, "b");
    cr_assert_eq(a->c.samples, 40);
    cr_assert_eq(a->c.passed, 20);
    cr_assert_float_eq(a->c.pass_rate, 0.5, EPS);
    cr_assert(isnan(a->c.grade_mean));
    cr_assert_eq(a->c.wins, 1);
    cr_assert_eq(a->c.ties, 1);
    cr_assert_eq(a->c.losses, 1);
    cr_assert_float_eq(a->cost_mean, 0.0009, 1e-15);
    cr_assert_eq(a->premium, 0);
    cr_assert_float_eq(a->premium_share, 0, EPS);

    a = arm(&r, "c");
    cr_assert_eq(a->c.samples, 10);
    cr_assert_float_eq(a->c.pass_rate, 1.0, EPS);
    cr_assert_float_eq(a->premium_share, 1.0, EPS);
    sl_ctl_ab_free(&r);
}

Test(ctl_ab, arms_against_the_control)
{
    struct sl_ctl_ab r;
    const struct sl_ctl_ab_arm *a;

    cr_assert_eq(sl_ctl_ab_run(db, "auto", D0, D0 + DAY_MS, &r), 0);
    /* b: 20/40 against 32/40, Fisher's exact test; cost 0.0009 against 0.0012, Welch. */
    a = arm(&r, "b");
    cr_assert_eq(a->pass.method, SL_ABTEST_FISHER);
    cr_assert_float_eq(a->pass.diff, -0.3, EPS);
    cr_assert_float_eq(a->pass.p, 0.00931061072179976, 1e-12);
    cr_assert(a->pass.significant);
    cr_assert_eq(a->cost.method, SL_ABTEST_WELCH);
    cr_assert_float_eq(a->cost.diff, -0.0003, 1e-15);
    cr_assert_float_eq(a->cost.statistic, -8.37854402626136470193, 1e-7);
    cr_assert_float_eq(a->cost.df, 57.352941176470588235, 1e-7);
    cr_assert_float_eq(a->cost.p, 1.54900793297371634721e-11, 1e-16);
    cr_assert(a->cost.significant);
    /* c: 10 samples. p-values all the same, but never significant. */
    a = arm(&r, "c");
    cr_assert_float_eq(a->pass.p, 0.18394285189027354, 1e-12);
    cr_assert_float_eq(a->cost.p, 0.0000207955885069972698, 1e-12);
    cr_assert(a->pass.too_few);
    cr_assert(a->cost.too_few);
    cr_assert_not(a->cost.significant);
    sl_ctl_ab_free(&r);
}

Test(ctl_ab, the_window_and_the_route_select_samples)
{
    struct sl_ctl_ab r;

    cr_assert_eq(sl_ctl_ab_run(db, "auto", INT64_MIN, INT64_MAX, &r), 0);
    cr_assert_eq(arm(&r, "b")->c.samples, 41); /* 304, the day before, too */
    cr_assert_eq(arm(&r, "b")->c.passed, 20);
    sl_ctl_ab_free(&r);

    /* No arm named control: the first by name is. */
    cr_assert_eq(sl_ctl_ab_run(db, "code", D0, D0 + DAY_MS, &r), 0);
    cr_assert_eq(r.n, 3);
    cr_assert_str_eq(r.arms[r.control].name, "b");
    sl_ctl_ab_free(&r);

    cr_assert_eq(sl_ctl_ab_run(db, "none", INT64_MIN, INT64_MAX, &r), 0);
    cr_assert_eq(r.n, 0);
    sl_ctl_ab_free(&r);
}

Test(ctl_ab, json)
{
    struct sl_ctl_ab r;
    cJSON *doc, *arms, *b, *x;

    cr_assert_eq(sl_ctl_ab_run(db, "auto", D0, D0 + DAY_MS, &r), 0);
    doc = sl_ctl_ab_json(&r);
    sl_ctl_ab_free(&r);
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "route")->valuestring, "auto");
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "control")->valuestring, "control");
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "since")->valuestring, "2024-11-01T00:00:00.000Z");
    arms = cJSON_GetObjectItem(doc, "arms");
    cr_assert_eq(cJSON_GetArraySize(arms), 3);
    b = cJSON_GetArrayItem(arms, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(b, "arm")->valuestring, "b");
    cr_assert_float_eq(cJSON_GetObjectItem(b, "pass_rate")->valuedouble, 0.5, EPS);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "shadow"), "win")->valueint, 1);
    x = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "against_control"), "pass_rate");
    cr_assert_str_eq(cJSON_GetObjectItem(x, "test")->valuestring, "fisher");
    cr_assert_float_eq(cJSON_GetObjectItem(x, "p")->valuedouble, 0.00931061072179976, 1e-12);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(x, "significant")));
    x = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "against_control"), "cost_per_call");
    cr_assert_str_eq(cJSON_GetObjectItem(x, "test")->valuestring, "welch");
    x = cJSON_GetObjectItem(cJSON_GetArrayItem(arms, 1), "against_control");
    cr_assert(
        cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(x, "pass_rate"), "too_few_samples")));
    x = cJSON_GetArrayItem(arms, 2);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(x, "against_control")));
    cr_assert_float_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(x, "cost"), "mean_usd")->valuedouble,
                       0.0012, 1e-15);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(x, "premium"), "samples")->valueint, 4);
    cJSON_Delete(doc);
}

static char *out_text, *err_text;

static int run(const char *first, ...)
{
    char *argv[16] = {(char *)first};
    int argc = 1, rc;
    size_t olen = 0, elen = 0;
    va_list ap;
    FILE *out, *err;

    va_start(ap, first);
    for (const char *a = va_arg(ap, const char *); a && argc < 15; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    free(out_text);
    free(err_text);
    out = open_memstream(&out_text, &olen);
    err = open_memstream(&err_text, &elen);
    rc = sl_ctl_ab_cmd(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

Test(ctl_ab, the_command_prints_both_tables)
{
    cr_assert_eq(
        run("ab", "auto", "--db", path, "--since", "2024-11-01", "--until", "2024-11-02", NULL), 0,
        "%s", err_text);
    cr_assert_str_eq(
        out_text,
        "A/B results of route auto, 2024-11-01 00:00 to 2024-11-02 00:00 UTC; control: control\n"
        "arm      samples  scored    pass  grade  win  tie  loss  cost/call USD  premium\n"
        "b             40      40   50.0%      -    1    1     1       0.000900     0.0%\n"
        "c             10      10  100.0%      -    0    0     0       0.002500   100.0%\n"
        "control       42      40   80.0%   0.78    0    0     0       0.001200     9.5%\n"
        "pass: scored samples no scorer failed; grade: the judge's mean (0 to 1); win/tie/loss:\n"
        "shadow verdicts against the premium tier; cost/call: mean over samples with a cost;\n"
        "premium: share of samples the premium tier answered\n"
        "\n"
        "against control:\n"
        "arm  pass diff       p  significant       cost/call diff USD        p  significant\n"
        "b     -30.0 pp  0.0093  yes               -0.000300 (-25.0%)  <0.0001  yes\n"
        "c     +20.0 pp  0.1839  too few samples  +0.001300 (+108.3%)  <0.0001  too few samples\n"
        "pass diff: Fisher's exact test (a z-test above 2000 scored samples per arm); cost/call\n"
        "diff: Welch's t-test; p two-sided; significant: p < 0.05, with at least 30 samples\n"
        "per arm\n");
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
}

Test(ctl_ab, the_command_as_json_and_its_failures)
{
    cJSON *doc;

    cr_assert_eq(run("ab", "code", "--db", path, "--json", NULL), 0, "%s", err_text);
    cr_assert_not_null(doc = cJSON_Parse(out_text), "%s", out_text);
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "control")->valuestring, "b");
    cJSON_Delete(doc);
    cr_assert_eq(run("ab", "none", "--db", path, NULL), 0, "%s", err_text);
    cr_assert_str_eq(out_text, "A/B results of route none, all time: no samples with an A/B arm\n");
    cr_assert_eq(run("ab", "--db", path, NULL), 2);
    cr_assert_eq(run("ab", "", "--db", path, NULL), 2);
    cr_assert_eq(run("ab", "auto", "--by", "arm", "--db", path, NULL), 2);
    cr_assert_eq(run("ab", "auto", "--db", "/nonexistent/eval.db", NULL), 1);
    cr_assert_not_null(strstr(err_text, "/nonexistent/eval.db"), "%s", err_text);
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
}
