/* The `sluice-trainer export` command: the features of a split in svmlight format,
 * "label index:value ...", indices 1-based (index = feature slot + 1), for comparing with
 * other learners (scikit-learn's load_svmlight_file with zero_based=False). */
#ifndef SL_EXPORT_H
#define SL_EXPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "dataset.h"
#include "errors.h"

/* Writes d's rows rows[0..n) (all rows when rows is NULL), one line each. SL_EIO, SL_ENOMEM,
 * or the extractor's error. */
int sl_export_svmlight(FILE *fp, const struct sl_dataset *d, const size_t *rows, size_t n,
                       enum sl_features_messages which) SL_MUST_CHECK;

struct sl_export_config {
    const char *data;
    bool eval_db; /* data is an eval.db, whose labels are read, not a JSONL file */
    enum sl_split split;
    bool all_rows; /* every row, whatever its split */
    const char *source;
    const char *out;
    enum sl_features_messages messages;
};

/* The command: writes cfg->out atomically (temporary file, rename) and a one-line summary to
 * out. SL_EPARSE (bad data lines), SL_EINVAL (no rows), SL_EIO, SL_ENOMEM. */
int sl_export_run(const struct sl_export_config *cfg, FILE *out, FILE *err) SL_MUST_CHECK;

#endif
