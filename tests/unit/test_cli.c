/* Tests for trainer/cli: exit statuses and messages of the command line. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
    for (const char *c = "fit\0eval\0thresholds\0export\0time-score\0"; *c; c += strlen(c) + 1)
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
    cr_assert_not_null(strstr(err_text, "fit: --data is required"), "%s", err_text);
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
    cr_assert_eq(run("eval", "--model", "m", "--data", "d", "--split", "valid", NULL), 2);
    cr_assert_eq(run("eval", "--model", "m", "--data", "d", "--price-weak", "1", NULL), 2);
    cr_assert_not_null(strstr(err_text, "both --price-weak and --price-strong"), "%s", err_text);
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
