/* Tests for trainer/export: svmlight lines with 1-based indices, the extractor's values. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"

static char dir[] = "/tmp/sl_test_export_XXXXXX";
static char data[96], out[96];

static void setup(void)
{
    FILE *fp;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(data, sizeof(data), "%s/data.jsonl", dir);
    snprintf(out, sizeof(out), "%s/out.svm", dir);
    fp = fopen(data, "w");
    fputs("{\"prompt\":\"Why is the sky blue?\",\"label\":1,\"split\":\"test\"}\n"
          "{\"prompt\":\"hello\",\"label\":0,\"split\":\"train\"}\n"
          "{\"prompt\":\"What is 2 + 2?\",\"label\":0,\"split\":\"test\"}\n",
          fp);
    fclose(fp);
}

static void teardown(void)
{
    unlink(data);
    unlink(out);
    rmdir(dir);
}

TestSuite(export, .init = setup, .fini = teardown);

/* The expected line for a prompt: label, then index+1:value for each extracted feature. */
static void expected_line(const char *prompt, int label, char *buf, size_t cap)
{
    struct sl_features f;
    size_t len;

    sl_features_init(&f);
    cr_assert_eq(sl_features_extract(&f, prompt, strlen(prompt), 1), 0);
    len = (size_t)snprintf(buf, cap, "%d", label);
    for (size_t j = 0; j < f.n; j++)
        len += (size_t)snprintf(buf + len, cap - len, " %u:%.9g", f.idx[j] + 1, (double)f.val[j]);
    snprintf(buf + len, cap - len, "\n");
    sl_features_free(&f);
}

Test(export, writes_the_split_in_svmlight_format)
{
    struct sl_export_config cfg = {.data = data, .split = SL_SPLIT_TEST, .out = out};
    char line1[65536], line2[65536], *text = NULL;
    size_t cap = 0;
    FILE *null = fopen("/dev/null", "w"), *fp;

    cr_assert_eq(sl_export_run(&cfg, null, stderr), 0);
    fclose(null);
    expected_line("Why is the sky blue?", 1, line1, sizeof(line1));
    expected_line("What is 2 + 2?", 0, line2, sizeof(line2));
    fp = fopen(out, "r");
    cr_assert_gt(getline(&text, &cap, fp), 0);
    cr_assert_str_eq(text, line1);
    cr_assert_gt(getline(&text, &cap, fp), 0);
    cr_assert_str_eq(text, line2);
    cr_assert_eq(getline(&text, &cap, fp), -1, "the train row is not exported");
    fclose(fp);
    free(text);
}

Test(export, indices_are_one_based_and_ascending)
{
    struct sl_export_config cfg = {.data = data, .all_rows = true, .out = out};
    FILE *null = fopen("/dev/null", "w"), *fp;
    char *text = NULL;
    size_t cap = 0;
    int lines = 0;

    cr_assert_eq(sl_export_run(&cfg, null, stderr), 0);
    fclose(null);
    fp = fopen(out, "r");
    while (getline(&text, &cap, fp) > 0) {
        long last = 0;
        char *p = strchr(text, ' ');
        lines++;
        while (p && *p == ' ') {
            long idx = strtol(p + 1, &p, 10);
            cr_assert_eq(*p, ':');
            cr_assert_gt(idx, last, "ascending, from 1");
            cr_assert_leq(idx, (long)SL_FEATURES_DIM);
            last = idx;
            strtod(p + 1, &p);
        }
    }
    cr_assert_eq(lines, 3);
    fclose(fp);
    free(text);
}

Test(export, an_empty_split_is_an_error_and_writes_nothing)
{
    struct sl_export_config cfg = {.data = data, .split = SL_SPLIT_DEV, .out = out};
    FILE *null = fopen("/dev/null", "w");

    cr_assert_eq(sl_export_run(&cfg, null, null), SL_EINVAL);
    fclose(null);
    cr_assert_neq(access(out, F_OK), 0);
}
