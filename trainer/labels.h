/* The `sluice-trainer labels` command: the evaluator's labels (eval.db's shadow verdicts, read
 * by sl_dataset_load_evaldb) written as a JSONL dataset in the plain format, which
 * sluice-trainer fit --data reads back as the same rows. */
#ifndef SL_LABELS_H
#define SL_LABELS_H

#include <stdio.h>

#include "errors.h"

struct sl_labels_config {
    const char *eval_db; /* the evaluator's database, opened read-only */
    const char *out;     /* the JSONL file to write */
};

/* Writes cfg->out atomically (temporary file, fsync, rename) and a one-line summary to out.
 * SL_EPARSE (bad samples, each reported on err), SL_EINVAL (no labels), SL_EIO, SL_ENOMEM. */
int sl_labels_run(const struct sl_labels_config *cfg, FILE *out, FILE *err) SL_MUST_CHECK;

#endif
