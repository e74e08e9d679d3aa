/* Row scoring through the proxy's own code path. */
#include "predict.h"

#include <stdlib.h>

int sl_predict_rows(const struct sl_classifier *c, const struct sl_dataset *d, const size_t *rows,
                    size_t n, double *score)
{
    struct sl_features f;
    char *buf = NULL;
    size_t bufcap = 0;
    int rc = 0;

    sl_features_init(&f);
    for (size_t k = 0; k < n; k++) {
        if ((rc = sl_dataset_features(&d->rows[rows ? rows[k] : k], c->messages, &f, &buf,
                                      &bufcap)) != 0)
            goto out;
        score[k] = sl_classifier_score(c, &f);
    }
out:
    free(buf);
    sl_features_free(&f);
    return rc;
}
