/* svmlight export of extracted features. */
#include "export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sl_export_svmlight(FILE *fp, const struct sl_dataset *d, const size_t *rows, size_t n,
                       enum sl_features_messages which)
{
    struct sl_features f;
    char *buf = NULL;
    size_t bufcap = 0;
    int rc = 0;

    sl_features_init(&f);
    if (!rows)
        n = d->n;
    for (size_t k = 0; k < n && rc == 0; k++) {
        const struct sl_example *e = &d->rows[rows ? rows[k] : k];
        if ((rc = sl_dataset_features(e, which, &f, &buf, &bufcap)) != 0)
            break;
        fputc(e->label ? '1' : '0', fp);
        /* %.9g: a float's value, exactly, once read back as a double. */
        for (size_t j = 0; j < f.n; j++)
            fprintf(fp, " %u:%.9g", f.idx[j] + 1, (double)f.val[j]);
        fputc('\n', fp);
        if (ferror(fp))
            rc = SL_EIO;
    }
    free(buf);
    sl_features_free(&f);
    return rc;
}

int sl_export_run(const struct sl_export_config *cfg, FILE *out, FILE *err)
{
    struct sl_dataset d;
    size_t *rows = NULL, n = 0;
    char *tmp = NULL;
    FILE *fp = NULL;
    int rc;

    sl_dataset_init(&d);
    if ((rc = sl_dataset_load_rows(&d, cfg->data, cfg->eval_db, cfg->source,
                                   cfg->all_rows ? NULL : &cfg->split, &rows, &n, err)) != 0)
        goto out;
    if (asprintf(&tmp, "%s.tmp.%ld", cfg->out, (long)getpid()) < 0) {
        tmp = NULL;
        rc = SL_ENOMEM;
        goto out;
    }
    if (!(fp = fopen(tmp, "w"))) {
        fprintf(err, "%s: cannot write: %s\n", cfg->out, strerror(errno));
        rc = SL_EIO;
        goto out;
    }
    rc = sl_export_svmlight(fp, &d, rows, n, cfg->messages);
    if (fclose(fp) != 0 && rc == 0)
        rc = SL_EIO;
    fp = NULL;
    if (rc == 0 && rename(tmp, cfg->out) != 0)
        rc = SL_EIO;
    if (rc != 0) {
        fprintf(err, "%s: cannot write: %s\n", cfg->out, sl_strerror(rc));
        goto out;
    }
    fprintf(out, "export: %zu rows of %s (split %s) to %s, svmlight, 1-based indices\n", n,
            cfg->data, cfg->all_rows ? "all" : sl_dataset_split_name(cfg->split), cfg->out);
out:
    if (fp)
        fclose(fp);
    if (tmp && rc != 0)
        unlink(tmp);
    free(tmp);
    free(rows);
    sl_dataset_free(&d);
    return rc;
}
