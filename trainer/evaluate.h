/* The `sluice-trainer eval` command: a model artifact against the rows of one split of a
 * labelled file. Classification quality (AUC, log-loss, a calibration table) and, for rows that
 * carry both models' scores, the routing measures per source beside two baselines: random
 * routing and the category prior (see curve.h, baseline.h). Tables for people, or JSON. */
#ifndef SL_EVALUATE_H
#define SL_EVALUATE_H

#include <stdbool.h>
#include <stdio.h>

#include "dataset.h"
#include "errors.h"

struct sl_evaluate_config {
    const char *model;
    const char *data;
    bool eval_db;        /* data is an eval.db, whose labels are read, not a JSONL file */
    enum sl_split split; /* test by default */
    bool all_rows;       /* every row of data, whatever its split */
    const char *source;  /* only rows of this source, or NULL */
    double price_weak;   /* per token (any unit, the same for both); NAN: not given */
    double price_strong;
    bool json;
};

/* Fills the defaults: split test, no prices, tables. */
void sl_evaluate_config_default(struct sl_evaluate_config *cfg);

/* Runs the command; the report goes to out, problems to err. SL_EPARSE (bad data lines),
 * SL_EINVAL (model refused, no rows), SL_ENOMEM. */
int sl_evaluate_run(const struct sl_evaluate_config *cfg, FILE *out, FILE *err) SL_MUST_CHECK;

#endif
