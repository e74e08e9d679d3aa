/* Tests for sluicectl/ctl_quality: quality per bucket and group over a small eval.db whose
 * answers are worked out by hand in the comments, its JSON and table, and the command. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_quality.h"
#include "evaldb.h"

#define HOUR_MS 3600000LL
#define DAY_MS  86400000LL
#define D0      1730419200000LL /* 2024-11-01 00:00 UTC */
#define EPS     1e-9

static char dir[64];
static char path[128];
static sqlite3 *db;

/* Samples (route, tier, model, arm) and what the scorers said. Shadow results carry no pass:
 * their verdict is counted apart.
 *   1  day 0 01:00  auto small mini a   rules pass, judge pass 0.8, shadow win    -> passed
 *   2  day 0 01:30  auto small mini b   rules pass, judge FAIL 0.2, shadow loss   -> failed
 *   3  day 0 02:10  auto small mini a   judge error, shadow error                 -> unscored
 *   4  day 0 02:20  auto large gpt-4o -  no results                               -> unscored
 *   5  day 1 01:00  auto small mini a   rules FAIL, shadow tie                    -> failed
 *   6  day 1 02:00  code small llama b  rules pass, judge pass 1.0                -> passed
 *   7  day -1       auto small mini a   rules FAIL                 (before the window) */
static const char fixture[] =
    "INSERT INTO samples(id, request_id, received_ms, ts_ms, route, tier, model, arm) VALUES"
    " (1, 'r1', 0, 1730422800000, 'auto', 'small', 'mini', 'a'),"
    " (2, 'r2', 0, 1730424600000, 'auto', 'small', 'mini', 'b'),"
    " (3, 'r3', 0, 1730427000000, 'auto', 'small', 'mini', 'a'),"
    " (4, 'r4', 0, 1730427600000, 'auto', 'large', 'gpt-4o', ''),"
    " (5, 'r5', 0, 1730509200000, 'auto', 'small', 'mini', 'a'),"
    " (6, 'r6', 0, 1730512800000, 'code', 'small', 'llama', 'b'),"
    " (7, 'r7', 0, 1730332800000, 'auto', 'small', 'mini', 'a');"
    "INSERT INTO results(sample_id, scorer, ts_ms, pass, grade, verdict, error) VALUES"
    " (1, 'rules', 0, 1, NULL, NULL, NULL), (1, 'judge', 0, 1, 0.8, NULL, NULL),"
    " (1, 'shadow', 0, NULL, NULL, 'win', NULL),"
    " (2, 'rules', 0, 1, NULL, NULL, NULL), (2, 'judge', 0, 0, 0.2, NULL, NULL),"
    " (2, 'shadow', 0, NULL, NULL, 'loss', NULL),"
    " (3, 'judge', 0, NULL, NULL, NULL, 'timeout'), (3, 'shadow', 0, NULL, NULL, NULL, 'HTTP 500'),"
    " (5, 'rules', 0, 0, NULL, NULL, NULL), (5, 'shadow', 0, NULL, NULL, 'tie', NULL),"
    " (6, 'rules', 0, 1, NULL, NULL, NULL), (6, 'judge', 0, 1, 1.0, NULL, NULL),"
    " (7, 'rules', 0, 0, NULL, NULL, NULL);";

static void setup(void)
{
    char err[256] = "";

    snprintf(dir, sizeof(dir), "/tmp/sluice-test-quality-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/eval.db", dir);
    db = sl_evaldb_open(path, false, err, sizeof(err));
    cr_assert_not_null(db, "%s", err);
    cr_assert_eq(sqlite3_exec(db, fixture, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
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

TestSuite(ctl_quality, .init = setup, .fini = teardown);

static void assert_group(const struct sl_ctl_quality_row *row, int64_t bucket_ms, const char *group)
{
    cr_assert_eq(row->bucket_ms, bucket_ms, "bucket %lld", (long long)row->bucket_ms);
    if (!group)
        cr_assert_null(row->group, "%s", row->group);
    else
        cr_assert(row->group && strcmp(row->group, group) == 0, "got %s, want %s",
                  row->group ? row->group : "(null)", group);
}

Test(ctl_quality, by_tier_per_day)
{
    struct sl_ctl_quality r;
    const struct sl_ctl_quality_counts *c;

    cr_assert_eq(
        sl_ctl_quality_run(db, SL_CTL_QUALITY_BY_TIER, SL_CTL_QUALITY_DAY, D0, D0 + 2 * DAY_MS, &r),
        0, "%s", sqlite3_errmsg(db));
    cr_assert_eq(r.n, 4);
    /* Day 0, auto/large: sample 4, never scored. */
    assert_group(&r.rows[0], D0, "auto/large");
    c = &r.rows[0].c;
    cr_assert_eq(c->samples, 1);
    cr_assert_eq(c->scored, 0);
    cr_assert(isnan(c->pass_rate));
    cr_assert(isnan(c->grade_mean));
    /* Day 0, auto/small: samples 1-3; 1 passed, 2 failed, 3 unscored. */
    assert_group(&r.rows[1], D0, "auto/small");
    c = &r.rows[1].c;
    cr_assert_eq(c->samples, 3);
    cr_assert_eq(c->scored, 2);
    cr_assert_eq(c->passed, 1);
    cr_assert_float_eq(c->pass_rate, 0.5, EPS);
    cr_assert_eq(c->graded, 2);
    cr_assert_float_eq(c->grade_mean, 0.5, EPS);
    cr_assert_eq(c->wins, 1);
    cr_assert_eq(c->ties, 0);
    cr_assert_eq(c->losses, 1);
    cr_assert_eq(c->judge_failures, 1);
    cr_assert_eq(c->shadow_failures, 1);
    /* Day 1, auto/small: sample 5, failed by the rules; a tie. */
    assert_group(&r.rows[2], D0 + DAY_MS, "auto/small");
    c = &r.rows[2].c;
    cr_assert_eq(c->samples, 1);
    cr_assert_eq(c->scored, 1);
    cr_assert_eq(c->passed, 0);
    cr_assert_float_eq(c->pass_rate, 0, EPS);
    cr_assert(isnan(c->grade_mean));
    cr_assert_eq(c->ties, 1);
    /* Day 1, code/small: sample 6. */
    assert_group(&r.rows[3], D0 + DAY_MS, "code/small");
    cr_assert_float_eq(r.rows[3].c.pass_rate, 1, EPS);
    cr_assert_float_eq(r.rows[3].c.grade_mean, 1, EPS);
    /* Totals: samples 1-6; 4 scored, 2 passed; grades 0.8, 0.2, 1.0. */
    c = &r.totals;
    cr_assert_eq(c->samples, 6);
    cr_assert_eq(c->scored, 4);
    cr_assert_eq(c->passed, 2);
    cr_assert_float_eq(c->pass_rate, 0.5, EPS);
    cr_assert_eq(c->graded, 3);
    cr_assert_float_eq(c->grade_mean, 2.0 / 3, EPS);
    cr_assert_eq(c->wins + c->ties + c->losses, 3);
    sl_ctl_quality_free(&r);
}

Test(ctl_quality, by_tier_per_hour)
{
    struct sl_ctl_quality r;

    cr_assert_eq(
        sl_ctl_quality_run(db, SL_CTL_QUALITY_BY_TIER, SL_CTL_QUALITY_HOUR, D0, D0 + DAY_MS, &r),
        0);
    /* 01:00 auto/small (1, 2); 02:00 auto/large (4), auto/small (3). */
    cr_assert_eq(r.n, 3);
    assert_group(&r.rows[0], D0 + HOUR_MS, "auto/small");
    cr_assert_eq(r.rows[0].c.samples, 2);
    assert_group(&r.rows[1], D0 + 2 * HOUR_MS, "auto/large");
    assert_group(&r.rows[2], D0 + 2 * HOUR_MS, "auto/small");
    cr_assert_eq(r.rows[2].c.scored, 0);
    cr_assert_eq(r.rows[2].c.judge_failures, 1);
    sl_ctl_quality_free(&r);
}

Test(ctl_quality, by_arm_counts_samples_without_one_apart)
{
    struct sl_ctl_quality r;

    cr_assert_eq(
        sl_ctl_quality_run(db, SL_CTL_QUALITY_BY_ARM, SL_CTL_QUALITY_DAY, D0, D0 + DAY_MS, &r), 0);
    /* "" reads as no arm, sorted first. */
    cr_assert_eq(r.n, 3);
    assert_group(&r.rows[0], D0, NULL);
    assert_group(&r.rows[1], D0, "a");
    cr_assert_eq(r.rows[1].c.samples, 2);
    cr_assert_eq(r.rows[1].c.passed, 1);
    assert_group(&r.rows[2], D0, "b");
    cr_assert_eq(r.rows[2].c.passed, 0);
    sl_ctl_quality_free(&r);
}

Test(ctl_quality, without_a_window_every_sample_counts)
{
    struct sl_ctl_quality r;

    cr_assert_eq(sl_ctl_quality_run(db, SL_CTL_QUALITY_BY_MODEL, SL_CTL_QUALITY_DAY, INT64_MIN,
                                    INT64_MAX, &r),
                 0);
    cr_assert_eq(r.totals.samples, 7);
    assert_group(&r.rows[0], D0 - DAY_MS, "mini");
    cr_assert_eq(r.rows[0].c.passed, 0);
    sl_ctl_quality_free(&r);
}

Test(ctl_quality, an_empty_window_has_no_rows)
{
    struct sl_ctl_quality r;
    char *text = NULL;
    size_t len;
    FILE *out;

    cr_assert_eq(sl_ctl_quality_run(db, SL_CTL_QUALITY_BY_ROUTE, SL_CTL_QUALITY_DAY,
                                    D0 + 10 * DAY_MS, D0 + 11 * DAY_MS, &r),
                 0);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(r.totals.samples, 0);
    cr_assert(isnan(r.totals.pass_rate));
    out = open_memstream(&text, &len);
    cr_assert_eq(sl_ctl_quality_print(&r, out), 0);
    fclose(out);
    cr_assert_str_eq(text, "quality by route per day, 2024-11-11 00:00 to 2024-11-12 00:00 UTC\n"
                           "no samples\n");
    free(text);
    sl_ctl_quality_free(&r);
}

Test(ctl_quality, json_shape)
{
    struct sl_ctl_quality r;
    cJSON *o, *row, *shadow;

    cr_assert_eq(
        sl_ctl_quality_run(db, SL_CTL_QUALITY_BY_TIER, SL_CTL_QUALITY_DAY, D0, D0 + 2 * DAY_MS, &r),
        0);
    o = sl_ctl_quality_json(&r);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "report")->valuestring, "quality");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "by")->valuestring, "tier");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "bucket")->valuestring, "day");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "since")->valuestring, "2024-11-01T00:00:00.000Z");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")), 4);
    row = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "rows"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(row, "bucket")->valuestring, "2024-11-01T00:00:00.000Z");
    cr_assert_str_eq(cJSON_GetObjectItem(row, "tier")->valuestring, "auto/large");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(row, "pass_rate")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(row, "judge_grade_mean")));
    row = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "rows"), 1);
    cr_assert_float_eq(cJSON_GetObjectItem(row, "pass_rate")->valuedouble, 0.5, EPS);
    cr_assert_eq(cJSON_GetObjectItem(row, "judge_graded")->valueint, 2);
    cr_assert_eq(cJSON_GetObjectItem(row, "judge_failures")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(row, "shadow_failures")->valueint, 1);
    shadow = cJSON_GetObjectItem(row, "shadow");
    cr_assert_eq(cJSON_GetObjectItem(shadow, "win")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(shadow, "loss")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "totals"), "samples")->valueint, 6);
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "totals"), "tier"));
    cJSON_Delete(o);
    sl_ctl_quality_free(&r);
}

/* ---- the table and the command ---- */

static char *out_text, *err_text;

/* Runs sluicectl quality with the arguments, up to a NULL. */
static int run(const char *argv0, ...)
{
    char *argv[16] = {(char *)argv0};
    int argc = 1, rc;
    size_t olen, elen;
    FILE *out, *err;
    va_list ap;

    va_start(ap, argv0);
    for (const char *s; (s = va_arg(ap, const char *)) && argc < 15;)
        argv[argc++] = (char *)s;
    va_end(ap);
    argv[argc] = NULL;
    free(out_text);
    free(err_text);
    out = open_memstream(&out_text, &olen);
    err = open_memstream(&err_text, &elen);
    rc = sl_ctl_quality_cmd(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static void free_texts(void)
{
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
}

Test(ctl_quality, the_table_has_a_line_per_bucket_and_group_and_a_total)
{
    static const char want[] =
        "quality by tier per day, 2024-11-01 00:00 to 2024-11-03 00:00 UTC\n"
        "day UTC     tier        samples  scored    pass  grade  win  tie  loss  judge fail\n"
        "2024-11-01  auto/large        1       0       -      -    0    0     0           0\n"
        "2024-11-01  auto/small        3       2   50.0%   0.50    1    0     1           1\n"
        "2024-11-02  auto/small        1       1    0.0%      -    0    1     0           0\n"
        "2024-11-02  code/small        1       1  100.0%   1.00    0    0     0           0\n"
        "----------------------------------------------------------------------------------\n"
        "total                         6       4   50.0%   0.67    1    1     1           1\n";

    cr_assert_eq(
        run("quality", "--db", path, "--since", "2024-11-01", "--until", "2024-11-03", NULL), 0,
        "%s", err_text);
    cr_assert_eq(strncmp(out_text, want, strlen(want)), 0, "%s", out_text);
    cr_assert_not_null(strstr(out_text + strlen(want), "judge fail: judge calls without a verdict"),
                       "%s", out_text);
    free_texts();
}

Test(ctl_quality, the_command_prints_json)
{
    cJSON *o;

    cr_assert_eq(run("quality", "--db", path, "--by", "route", "--bucket", "hour", "--json", NULL),
                 0, "%s", err_text);
    o = cJSON_Parse(out_text);
    cr_assert_not_null(o, "%s", out_text);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "bucket")->valuestring, "hour");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "since")));
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "rows"), 0), "route")
            ->valuestring,
        "auto");
    cJSON_Delete(o);
    free_texts();
}

Test(ctl_quality, the_default_database_is_in_the_data_dir)
{
    setenv("SLUICE_DATA_DIR", dir, 1);
    cr_assert_eq(run("quality", "--json", NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "\"rows\""));
    free_texts();
}

Test(ctl_quality, bad_usage_and_missing_databases)
{
    cr_assert_eq(run("quality", "--by", "team", NULL), 2);
    cr_assert_not_null(
        strstr(err_text, "--by: bad value \"team\" (want tier, model, route or arm)"), "%s",
        err_text);
    cr_assert_eq(run("quality", "--bucket", "week", NULL), 2);
    cr_assert_not_null(strstr(err_text, "(want hour or day)"), "%s", err_text);
    cr_assert_eq(run("quality", "--top", "3", NULL), 2);
    cr_assert_eq(run("quality", "--db", "/nonexistent/eval.db", NULL), 1);
    cr_assert_str_eq(
        err_text, "sluicectl: /nonexistent/eval.db: cannot open: unable to open database file\n");
    cr_assert_eq(run("quality", "--help", NULL), 0);
    cr_assert_eq(strncmp(out_text, "usage: sluicectl quality [--by", 30), 0, "%s", out_text);
    free_texts();
}
