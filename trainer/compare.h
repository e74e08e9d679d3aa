/* The `sluice-trainer compare` command: a new model against the one it would replace, both
 * evaluated by sl_evaluate_rows on exactly the same rows, and the decision whether the new one
 * is not worse. The scheduled retraining job (scripts/retrain.sh) registers a model only then.
 * Nothing here keeps memory between calls. */
#ifndef SL_COMPARE_H
#define SL_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dataset.h"
#include "errors.h"

/* What the decision looks at, for one model on the compared rows. */
struct sl_compare_scores {
    double auc;  /* NAN when undefined */
    double apgr; /* over the rows with both tiers' quality scores; NAN when there are none */
    enum sl_target target; /* what the model was fitted to */
};

/* The decision: the candidate is not worse than the baseline when its AUC is at least the
 * baseline's minus tolerance and, when both have an APGR, its APGR is at least the baseline's
 * minus tolerance. An undefined AUC on either side is worse: nothing shows the candidate is
 * not. AUC ranks by the label, so a model fitted to another target than the baseline's is
 * judged on APGR alone when both have one (a gain model ranks the prompts the premium tier gets
 * wrong below those both tiers answer, which AUC does not reward and APGR does). */
bool sl_compare_not_worse(const struct sl_compare_scores *candidate,
                          const struct sl_compare_scores *baseline, double tolerance);

struct sl_compare_config {
    const char *model;       /* the new model */
    const char *baseline;    /* the current one */
    const char *const *data; /* JSONL files */
    size_t n_data;
    const char *const *eval_dbs; /* eval.db files, read after the JSONL */
    size_t n_eval_dbs;
    enum sl_split split; /* test by default */
    bool all_rows;       /* every row, whatever its split */
    const char *source;  /* only rows of this source, or NULL */
    double tolerance;    /* >= 0; 0 by default */
    bool json;
};

/* Fills the defaults: split test, tolerance 0, tables. */
void sl_compare_config_default(struct sl_compare_config *cfg);

/* Runs the command: the report goes to out, problems to err, and the decision to *not_worse.
 * Both models must load (sl_classifier_load: the same feature specification as this build).
 * SL_EPARSE (bad data lines), SL_EINVAL (a model refused, no rows, rows of a single class, on
 * which AUC is undefined), SL_ENOMEM. */
int sl_compare_run(const struct sl_compare_config *cfg, bool *not_worse, FILE *out,
                   FILE *err) SL_MUST_CHECK;

#endif
