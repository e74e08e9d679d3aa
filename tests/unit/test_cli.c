/* Tests for trainer/cli: exit statuses and messages of the command line. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "evaldb.h"

static char *out_text, *err_text;

/* Runs sluice-trainer with the NULL-terminated arguments; returns the exit status. */
static int run(const char *first, ...)
{
    char *argv[32] = {"sluice-trainer"};
    int argc = 1, rc;
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

static void cleanup(void)
{
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
}

TestSuite(cli, .fini = cleanup);

Test(cli, help_lists_every_command)
{
    cr_assert_eq(run("--help", NULL), 0);
    for (const char *c = "fit\0eval\0thresholds\0export\0labels\0time-score\0--eval-db\0"; *c;
         c += strlen(c) + 1)
        cr_assert_not_null(strstr(out_text, c), "%s", c);
}

Test(cli, no_command_is_a_usage_error)
{
    cr_assert_eq(run(NULL), 2);
    cr_assert_not_null(strstr(err_text, "usage:"));
}

Test(cli, unknown_command_is_a_usage_error)
{
    cr_assert_eq(run("train", NULL), 2);
    cr_assert_str_eq(err_text, "sluice-trainer: unknown command \"train\"\n(sluice-trainer --help "
                               "for usage)\n");
}

Test(cli, required_options_are_named)
{
    cr_assert_eq(run("fit", "--out", "m.json", NULL), 2);
    cr_assert_not_null(strstr(err_text, "fit: --data or --eval-db is required"), "%s", err_text);
    cr_assert_eq(run("labels", "--out", "l.jsonl", NULL), 2);
    cr_assert_not_null(strstr(err_text, "labels: --eval-db is required"), "%s", err_text);
    cr_assert_eq(run("labels", "--eval-db", "e.db", NULL), 2);
    cr_assert_not_null(strstr(err_text, "labels: --out is required"), "%s", err_text);
    cr_assert_eq(run("eval", "--data", "d.jsonl", NULL), 2);
    cr_assert_not_null(strstr(err_text, "eval: --model is required"), "%s", err_text);
    cr_assert_eq(run("export", "--data", "d.jsonl", "--out", "x.svm", NULL), 2);
    cr_assert_not_null(strstr(err_text, "export: --split is required"), "%s", err_text);
}

Test(cli, options_of_another_command_are_refused)
{
    cr_assert_eq(run("eval", "--model", "m", "--data", "d", "--lambda", "1", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--lambda is not an option of this command"), "%s",
                       err_text);
}

Test(cli, bad_values_are_refused)
{
    cr_assert_eq(run("fit", "--data", "d", "--out", "m", "--lambda", "-1", NULL), 2);
    cr_assert_not_null(strstr(err_text, "bad value"), "%s", err_text);
    cr_assert_eq(run("fit", "--data", "d", "--out", "m", "--lambdas", "1e-3,x", NULL), 2);
    cr_assert_eq(run("fit", "--data", "d", "--out", "m", "--cv", "1", NULL), 2);
    cr_assert_eq(run("fit", "--data", "d", "--out", "m", "--messages", "first", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--messages: first is not"), "%s", err_text);
    cr_assert_eq(run("fit", "--data", "d", "--out", "m", "--class-weight", "auto", NULL), 2);
    cr_assert_eq(run("fit", "--data", "d", "--out", "m", "--target", "labels", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--target: labels is not label or gain"), "%s", err_text);
    cr_assert_eq(run("eval", "--model", "m", "--data", "d", "--split", "valid", NULL), 2);
    cr_assert_eq(run("eval", "--model", "m", "--data", "d", "--price-weak", "1", NULL), 2);
    cr_assert_not_null(strstr(err_text, "both --price-weak and --price-strong"), "%s", err_text);
}

Test(cli, commands_of_one_dataset_take_one_file_or_one_database)
{
    cr_assert_eq(run("eval", "--model", "m", "--data", "d", "--eval-db", "e", NULL), 2);
    cr_assert_not_null(strstr(err_text, "give one --data file or one --eval-db"), "%s", err_text);
    cr_assert_eq(
        run("export", "--eval-db", "e", "--eval-db", "f", "--split", "test", "--out", "x", NULL),
        2);
    cr_assert_eq(run("thresholds", "--model", "m", "--max-premium-share", "0.3", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--data or --eval-db is required"), "%s", err_text);
    cr_assert_eq(run("labels", "--eval-db", "e", "--data", "d", "--out", "x", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--data is not an option of this command"), "%s", err_text);
}

Test(cli, lambda_and_lambdas_exclude_each_other)
{
    cr_assert_eq(run("fit", "--data", "d", "--out", "m", "--lambda", "1", "--lambdas", "1,2", NULL),
                 2);
}

Test(cli, thresholds_wants_exactly_one_target)
{
    cr_assert_eq(run("thresholds", "--model", "m", "--data", "d", NULL), 2);
    cr_assert_eq(run("thresholds", "--model", "m", "--data", "d", "--min-quality", "0.9",
                     "--max-premium-share", "0.3", NULL),
                 2);
    cr_assert_not_null(strstr(err_text, "exactly one of --min-quality and --max-premium-share"));
}

Test(cli, unknown_options_are_refused)
{
    cr_assert_eq(run("fit", "--dta", "d", NULL), 2);
    cr_assert_not_null(strstr(err_text, "unknown option or missing value: --dta"), "%s", err_text);
    cr_assert_eq(run("fit", "--data", NULL), 2);
}

Test(cli, bad_data_exits_2_and_writes_nothing)
{
    char dir[] = "/tmp/sl_test_cli_XXXXXX", data[64], model[64];
    FILE *fp;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/d.jsonl", dir);
    snprintf(model, sizeof(model), "%s/m.json", dir);
    fp = fopen(data, "w");
    fputs("{\"prompt\":\"a\",\"label\":1}\n{oops}\n", fp);
    fclose(fp);
    cr_assert_eq(run("fit", "--data", data, "--out", model, "--quiet", NULL), 2);
    cr_assert_not_null(strstr(err_text, ":2: invalid JSON"), "%s", err_text);
    cr_assert_neq(access(model, F_OK), 0);
    unlink(data);
    rmdir(dir);
}

Test(cli, a_missing_data_file_exits_1)
{
    cr_assert_eq(
        run("fit", "--data", "/nonexistent.jsonl", "--out", "/tmp/x.json", "--quiet", NULL), 1);
    cr_assert_not_null(strstr(err_text, "/nonexistent.jsonl: cannot open"), "%s", err_text);
}

Test(cli, fit_then_eval_then_thresholds)
{
    char dir[] = "/tmp/sl_test_cli_XXXXXX", data[64], model[64], svm[64];
    FILE *fp;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/d.jsonl", dir);
    snprintf(model, sizeof(model), "%s/m.json", dir);
    snprintf(svm, sizeof(svm), "%s/t.svm", dir);
    fp = fopen(data, "w");
    for (int i = 0; i < 200; i++)
        fprintf(fp, "{\"prompt\":\"%s number %d\",\"label\":%d,\"split\":\"%s\"}\n",
                i % 3 ? "easy question" : "hard proof", i, i % 3 == 0,
                i % 5 == 4   ? "test"
                : i % 5 == 3 ? "dev"
                             : "train");
    fclose(fp);
    cr_assert_eq(
        run("fit", "--data", data, "--out", model, "--lambdas", "1e-2,1e-3", "--quiet", NULL), 0,
        "%s", err_text);
    cr_assert_not_null(strstr(out_text, "\nfit: lambda="), "%s", out_text);
    cr_assert_eq(run("eval", "--model", model, "--data", data, "--json", NULL), 0, "%s", err_text);
    cr_assert_eq(out_text[0], '{');
    cr_assert_eq(run("thresholds", "--model", model, "--data", data, "--max-premium-share", "0.5",
                     "--write", NULL),
                 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "wrote threshold"), "%s", out_text);
    cr_assert_eq(run("export", "--data", data, "--split", "test", "--out", svm, NULL), 0, "%s",
                 err_text);
    cr_assert_eq(run("time-score", "--model", model, "--n", "50", NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "time-score: p99_us_200="), "%s", out_text);
    unlink(data);
    unlink(model);
    unlink(svm);
    rmdir(dir);
}

Test(cli, a_gain_fit_chooses_lambda_by_log_loss_and_eval_says_what_it_fits)
{
    char dir[] = "/tmp/sl_test_cli_XXXXXX", data[64], model[64];
    FILE *fp;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/d.jsonl", dir);
    snprintf(model, sizeof(model), "%s/m.json", dir);
    fp = fopen(data, "w");
    for (int i = 0; i < 200; i++)
        fprintf(fp,
                "{\"prompt\":\"%s number %d\",\"label\":%d,\"score_weak\":%d,"
                "\"score_strong\":1,\"split\":\"%s\"}\n",
                i % 3 ? "easy question" : "hard proof", i, i % 3 == 0, i % 3 != 0,
                i % 5 == 4   ? "test"
                : i % 5 == 3 ? "dev"
                             : "train");
    fclose(fp);
    cr_assert_eq(run("fit", "--data", data, "--out", model, "--target", "gain", "--lambdas",
                     "1e-2,1e-3", "--quiet", NULL),
                 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "lambda search (dev logloss)"), "%s", out_text);
    cr_assert_eq(run("eval", "--model", model, "--data", data, NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, ", fitted to the gain\n"), "%s", out_text);
    unlink(data);
    unlink(model);
    rmdir(dir);
}

/* An eval.db of 200 shadow-judged samples: "hard proof" prompts lost against the premium tier
 * (label 1), "easy question" ones tied with it. */
static void make_evaldb(const char *path)
{
    char err[256] = "", sql[512];
    sqlite3 *db = sl_evaldb_open(path, false, err, sizeof(err));

    cr_assert_not_null(db, "%s", err);
    cr_assert_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 1; i <= 200; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO samples(id, request_id, received_ms, ts_ms, route, prompt)"
                 " VALUES (%d, 'req-%d', 0, %d, 'auto',"
                 " '[{\"role\":\"user\",\"content\":\"%s number %d\"}]');"
                 "INSERT INTO results(sample_id, scorer, ts_ms, verdict) VALUES (%d, 'shadow', 0,"
                 " '%s');",
                 i, i, i, i % 3 ? "easy question" : "hard proof", i, i, i % 3 ? "tie" : "loss");
        cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    }
    cr_assert_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Removes a database file and its WAL companions. */
static void remove_db(const char *path)
{
    const char *suffix[] = {"", "-wal", "-shm"};
    char p[128];

    for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
}

/* The line of text that starts with prefix, copied into out. */
static void line_of(const char *text, const char *prefix, char *out, size_t outlen)
{
    const char *p = strstr(text, prefix);
    size_t n;

    cr_assert_not_null(p, "no \"%s\" in %s", prefix, text);
    n = strcspn(p, "\n");
    cr_assert_lt(n, outlen);
    memcpy(out, p, n);
    out[n] = '\0';
}

Test(cli, fit_reads_eval_db_and_labels_writes_what_fit_reads_back)
{
    char dir[] = "/tmp/sl_test_cli_XXXXXX", db[64], labels[64], m1[64], m2[64], svm[64];
    char data1[256], data2[256], fit1[256], fit2[256];

    cr_assert_not_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/eval.db", dir);
    snprintf(labels, sizeof(labels), "%s/labels.jsonl", dir);
    snprintf(m1, sizeof(m1), "%s/m1.json", dir);
    snprintf(m2, sizeof(m2), "%s/m2.json", dir);
    snprintf(svm, sizeof(svm), "%s/t.svm", dir);
    make_evaldb(db);

    cr_assert_eq(run("fit", "--eval-db", db, "--out", m1, "--lambda", "1e-3", "--quiet", NULL), 0,
                 "%s", err_text);
    line_of(out_text, "data: ", data1, sizeof(data1));
    line_of(out_text, "fit: lambda=", fit1, sizeof(fit1));
    cr_assert_eq(run("labels", "--eval-db", db, "--out", labels, NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "labels: 200 samples of "), "%s", out_text);
    cr_assert_not_null(strstr(out_text, " (66 premium needed; train "), "%s", out_text);
    cr_assert_eq(run("fit", "--data", labels, "--out", m2, "--lambda", "1e-3", "--quiet", NULL), 0,
                 "%s", err_text);
    line_of(out_text, "data: ", data2, sizeof(data2));
    line_of(out_text, "fit: lambda=", fit2, sizeof(fit2));
    /* The same rows, split alike: the same fit (but for its time). */
    cr_assert_str_eq(data2, data1);
    cr_assert_str_eq(strstr(fit2, "iterations="), strstr(fit1, "iterations="));

    cr_assert_eq(run("eval", "--model", m1, "--eval-db", db, "--split", "all", "--json", NULL), 0,
                 "%s", err_text);
    /* The verdicts give both tiers' quality, so routing is measured on them: a router that
     * sends the proofs (lost by the cheap tier) to the premium tier first reaches the most
     * APGR can be here, 1 - 0.33 / 2 (random: 0.5). */
    cJSON *ev = cJSON_Parse(out_text);
    const cJSON *apgr = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "routing"), ""), "learned"),
        "apgr");
    cr_assert(cJSON_IsNumber(apgr), "%s", out_text);
    cr_assert_float_eq(apgr->valuedouble, 1 - 0.33 / 2, 0.01, "%s", out_text);
    cJSON_Delete(ev);
    cr_assert_eq(run("fit", "--eval-db", db, "--out", m2, "--target", "gain", "--lambda", "1e-3",
                     "--quiet", NULL),
                 0, "%s", err_text);
    cr_assert_eq(
        run("thresholds", "--model", m1, "--eval-db", db, "--max-premium-share", "0.5", NULL), 0,
        "%s", err_text);
    cr_assert_eq(run("export", "--eval-db", db, "--split", "train", "--out", svm, NULL), 0, "%s",
                 err_text);
    remove_db(db);
    unlink(labels);
    unlink(m1);
    unlink(m2);
    unlink(svm);
    rmdir(dir);
}

Test(cli, labels_of_an_eval_db_without_verdicts_exit_2)
{
    char dir[] = "/tmp/sl_test_cli_XXXXXX", db[64], labels[64], err[256];
    sqlite3 *h;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/eval.db", dir);
    snprintf(labels, sizeof(labels), "%s/labels.jsonl", dir);
    h = sl_evaldb_open(db, false, err, sizeof(err));
    cr_assert_not_null(h, "%s", err);
    sqlite3_close(h);
    cr_assert_eq(run("labels", "--eval-db", db, "--out", labels, NULL), 2);
    cr_assert_not_null(strstr(err_text, "no labelled samples"), "%s", err_text);
    cr_assert_neq(access(labels, F_OK), 0);
    cr_assert_eq(run("labels", "--eval-db", "/nonexistent/eval.db", "--out", labels, NULL), 1);
    cr_assert_not_null(strstr(err_text, "/nonexistent/eval.db: cannot open"), "%s", err_text);
    remove_db(db);
    rmdir(dir);
}
