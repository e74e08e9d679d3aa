/* Tests for trainer/baseline: the category-prior router. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "baseline.h"

static void load(struct sl_dataset *d, const char *text)
{
    char path[] = "/tmp/sl_test_baseline_XXXXXX";
    int fd = mkstemp(path);
    FILE *fp = fdopen(fd, "w");

    fputs(text, fp);
    fclose(fp);
    sl_dataset_init(d);
    cr_assert_eq(sl_dataset_load(d, path, NULL, stderr), 0);
    unlink(path);
}

#define ROW(src, cat, label, split)                                                                \
    "{\"prompt\":\"p\",\"source\":\"" src "\",\"category\":\"" cat "\",\"label\":" #label          \
    ",\"split\":\"" split "\"}\n"

Test(baseline, scores_rows_by_their_categorys_training_rate)
{
    struct sl_dataset d;
    double score[8];

    load(&d, ROW("s", "law", 1, "train") ROW("s", "law", 0, "train") ROW("s", "law", 0, "train")
                 ROW("s", "law", 1, "train") ROW("s", "art", 1, "train")
                     ROW("s", "art", 0, "dev") /* dev and test rows do not count */
         ROW("s", "art", 0, "test") ROW("s", "math", 1, "test"));
    cr_assert_eq(sl_baseline_category_prior(&d, NULL, d.n, score), 0);
    cr_assert_float_eq(score[0], 0.5, 1e-12);
    cr_assert_float_eq(score[4], 1.0, 1e-12);
    cr_assert_float_eq(score[6], 1.0, 1e-12);
    /* An unseen category gets the rate of all training rows, 3 of 5. */
    cr_assert_float_eq(score[7], 0.6, 1e-12);
    sl_dataset_free(&d);
}

Test(baseline, the_same_category_name_in_another_source_is_another_category)
{
    struct sl_dataset d;
    double score[3];
    size_t rows[] = {2};

    load(&d, ROW("a", "misc", 1, "train") ROW("b", "misc", 0, "train") ROW("b", "misc", 1, "test"));
    cr_assert_eq(sl_baseline_category_prior(&d, rows, 1, score), 0);
    cr_assert_float_eq(score[0], 0.0, 1e-12);
    sl_dataset_free(&d);
}

Test(baseline, without_training_rows_every_score_is_one_half)
{
    struct sl_dataset d;
    double score[1];

    load(&d, ROW("a", "x", 1, "test"));
    cr_assert_eq(sl_baseline_category_prior(&d, NULL, 1, score), 0);
    cr_assert_float_eq(score[0], 0.5, 1e-12);
    sl_dataset_free(&d);
}
