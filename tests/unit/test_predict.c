/* Tests for trainer/predict: rows are scored through the model's own messages mode. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "predict.h"

Test(predict, scores_prompts_and_messages_like_the_extractor)
{
    char path[] = "/tmp/sl_test_predict_XXXXXX";
    int fd = mkstemp(path);
    FILE *fp = fdopen(fd, "w");
    struct sl_dataset d;
    struct sl_classifier c = {0};
    struct sl_features f;
    char *buf = NULL;
    size_t cap = 0;
    double score[2];
    float *w = calloc(SL_FEATURES_DIM, sizeof(float));

    fputs("{\"prompt\":\"Explain entropy.\",\"label\":1}\n"
          "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
          "{\"role\":\"user\",\"content\":\"Explain entropy.\"}],\"label\":1}\n",
          fp);
    fclose(fp);
    sl_dataset_init(&d);
    cr_assert_eq(sl_dataset_load(&d, path, NULL, stderr), 0);
    for (size_t j = 0; j < SL_FEATURES_DIM; j++)
        w[j] = (float)((j % 7) - 3) / 10.0f;
    c.w = w;
    c.bias = 0.25;
    c.messages = SL_MESSAGES_SYSTEM_LAST;
    cr_assert_eq(sl_predict_rows(&c, &d, NULL, 2, score), 0);
    sl_features_init(&f);
    cr_assert_eq(sl_features_extract(&f, "Explain entropy.", 16, 1), 0);
    cr_assert_eq(score[0], sl_classifier_score(&c, &f));
    cr_assert_eq(
        sl_features_from_messages(&f, d.rows[1].messages, SL_MESSAGES_SYSTEM_LAST, &buf, &cap), 0);
    cr_assert_eq(score[1], sl_classifier_score(&c, &f));
    free(buf);
    free(w);
    sl_features_free(&f);
    sl_dataset_free(&d);
    unlink(path);
}
