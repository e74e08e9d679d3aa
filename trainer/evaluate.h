/* The `sluice-trainer eval` command: a model artifact against the rows of one split of a
 * labelled file. Classification quality (AUC, log-loss, a calibration table) and, for rows that
 * carry both models' scores, the routing measures per source beside two baselines: random
 * routing and the category prior (see curve.h, baseline.h). Tables for people, or JSON. */
#ifndef SL_EVALUATE_H
#define SL_EVALUATE_H

#include <stdbool.h>
#include <stdio.h>

#include "classifier.h"
#include "curve.h"
#include "dataset.h"
#include "errors.h"
#include "scores.h"

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

/* What c was fitted to predict, as its training record says (the label when it does not). */
enum sl_target sl_evaluate_model_target(const struct sl_classifier *c);

/* Fills the defaults: split test, no prices, tables. */
void sl_evaluate_config_default(struct sl_evaluate_config *cfg);

/* Runs the command; the report goes to out, problems to err. SL_EPARSE (bad data lines),
 * SL_EINVAL (model refused, no rows), SL_ENOMEM. */
int sl_evaluate_run(const struct sl_evaluate_config *cfg, FILE *out, FILE *err) SL_MUST_CHECK;

/* The routing measures of one group of rows that carry both tiers' quality scores: one
 * source, or all of them. */
struct sl_evaluate_group {
    const char *name; /* the source (interned in the dataset), or "all" */
    size_t n;
    double auc;
    struct sl_curve_summary learned, prior, random;
};

/* One model's measures on a set of rows, as `sluice-trainer eval` reports them. Owns groups
 * (sl_evaluate_result_free); the group names borrow the dataset's strings. */
struct sl_evaluate_result {
    size_t rows;
    double auc; /* NAN when the rows have one class */
    double logloss;
    struct sl_scores_bin bins[SL_SCORES_BINS];
    struct sl_evaluate_group *groups; /* one per source of the rows with scores, by name,
                                         then "all" when there are several */
    size_t n_groups;
    const struct sl_evaluate_group *overall; /* every row with scores (a member of groups), or
                                                NULL when no row has them */
};

/* Scores d's rows rows[0..n) (n > 0) with c and measures them into *res, the saving at the
 * given prices (NAN, NAN: the cheap tier counted as free). On failure *res holds nothing to
 * free. SL_ENOMEM, or the feature extractor's error. */
int sl_evaluate_rows(const struct sl_classifier *c, const struct sl_dataset *d, const size_t *rows,
                     size_t n, double price_weak, double price_strong,
                     struct sl_evaluate_result *res) SL_MUST_CHECK;

void sl_evaluate_result_free(struct sl_evaluate_result *res);

#endif
