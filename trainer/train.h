/* The `sluice-trainer fit` command: load labelled data, extract features, choose the
 * regularisation on dev rows or by cross-validation, refit on every training row, and write
 * the model artifact (sl_classifier_save) with its training record and metrics.
 * A struct sl_train_result (free with sl_train_result_free) owns its weights. */
#ifndef SL_TRAIN_H
#define SL_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "classifier.h"
#include "dataset.h"
#include "errors.h"
#include "fit.h"
#include "tune.h"

struct sl_train_config {
    const char *const *data; /* JSONL files */
    size_t n_data;
    const char *const *eval_dbs; /* eval.db files, whose labels are read after the JSONL */
    size_t n_eval_dbs;
    const char *out; /* the artifact to write */
    enum sl_features_messages messages;
    const double *lambdas; /* the grid; one lambda means no search */
    size_t n_lambdas;
    int folds;      /* K for cross-validation when there are no dev rows */
    bool folds_set; /* --cv given: cross-validate even a single lambda */
    enum sl_fit_weights weights;
    enum sl_target target; /* what the model is fitted to predict */
    enum sl_tune_by by;
    const char *source; /* keep only rows of this source, or NULL */
    struct sl_fit_options fit;
    int threads;
};

struct sl_train_result {
    float *w; /* SL_FEATURES_DIM weights as written to the artifact */
    double bias;
    enum sl_features_messages messages;
    double lambda;
    double threshold;
    size_t rows, positives;
    int iterations;
    bool converged;
    double fit_seconds;    /* the final fit at the chosen lambda alone */
    double search_seconds; /* the lambda search, 0 without one */
    double train_auc, train_logloss;
    double val_auc, val_logloss; /* NAN without validation rows */
};

/* Sets the defaults: last_user, the grid 1e-6..1e-2, 5 folds, no class weights, the label as
 * target, by AUC. */
void sl_train_config_default(struct sl_train_config *cfg);

/* Runs the command; a summary goes to out, progress and problems to err. Writes nothing when
 * it fails. SL_EPARSE (bad data lines, each reported as file:line), SL_EINVAL (no training
 * rows, a single class, target gain for rows without both tiers' scores), SL_EIO, SL_ENOMEM. res,
 * when not NULL, receives the model as written. */
int sl_train_run(const struct sl_train_config *cfg, struct sl_train_result *res, FILE *out,
                 FILE *err) SL_MUST_CHECK;

void sl_train_result_free(struct sl_train_result *r);

/* A scoring view of in-memory weights, for sl_classifier_score: it borrows w (no thresholds,
 * path or metadata) and must not be passed to sl_classifier_destroy. */
void sl_train_view(struct sl_classifier *view, float *w, double bias,
                   enum sl_features_messages messages);

#endif
