/* eval.db labels to JSONL. */
#include "labels.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"

/* Writes d to path through a temporary file, so that a reader never sees half of it, and a
 * crash never leaves half of it under the final name. */
static int write_atomically(const char *path, const struct sl_dataset *d)
{
    char *tmp = NULL;
    FILE *fp = NULL;
    int rc;

    if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
        return SL_ENOMEM;
    if (!(fp = fopen(tmp, "w"))) {
        rc = SL_EIO;
        goto out;
    }
    rc = sl_dataset_write_jsonl(fp, d, NULL, 0);
    if (rc == 0 && (fflush(fp) != 0 || fsync(fileno(fp)) != 0))
        rc = SL_EIO;
    if (fclose(fp) != 0 && rc == 0)
        rc = SL_EIO;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = SL_EIO;
    if (rc != 0) {
        int saved = errno; /* for the caller's message */

        unlink(tmp);
        errno = saved;
    }
out:
    free(tmp);
    return rc;
}

int sl_labels_run(const struct sl_labels_config *cfg, FILE *out, FILE *err)
{
    struct sl_dataset d;
    size_t positives = 0, split[3] = {0};
    int rc;

    sl_dataset_init(&d);
    if ((rc = sl_dataset_load_evaldb(&d, cfg->eval_db, NULL, err)) != 0)
        goto out;
    if (d.n == 0) {
        fprintf(err, "%s: no labelled samples (the labels come from shadow verdicts)\n",
                cfg->eval_db);
        rc = SL_EINVAL;
        goto out;
    }
    if ((rc = write_atomically(cfg->out, &d)) != 0) {
        fprintf(err, "%s: cannot write: %s\n", cfg->out,
                rc == SL_EIO ? strerror(errno) : sl_strerror(rc));
        goto out;
    }
    for (size_t i = 0; i < d.n; i++) {
        positives += d.rows[i].label;
        split[d.rows[i].split]++;
    }
    fprintf(out, "labels: %zu samples of %s (%zu premium needed; train %zu, dev %zu, test %zu)",
            d.n, cfg->eval_db, positives, split[SL_SPLIT_TRAIN], split[SL_SPLIT_DEV],
            split[SL_SPLIT_TEST]);
    if (d.n_no_prompt)
        fprintf(out, "; %zu without a prompt dropped", d.n_no_prompt);
    fprintf(out, " to %s\n", cfg->out);
out:
    sl_dataset_free(&d);
    return rc;
}
