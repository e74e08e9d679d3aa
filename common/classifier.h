/* A logistic-regression router model: score = sigmoid(w.x + b), p(premium needed | prompt) or,
 * for a model fitted to the gain (sluice-trainer fit --target gain), the premium tier's
 * expected gain in quality mapped onto [0, 1]. Either way a higher score asks more of the
 * premium tier, and a route's thresholds are chosen on the scores.
 * Loaded from the JSON artifact sluice-trainer writes:
 *   {"v":1, "feature_spec_hash":"...", "messages":"last_user", "bias":b,
 *    "weights":{"dim":D, "idx":[...], "val":[...]},   (non-zero weights only)
 *    "thresholds":[t1, ...], "training":{...}, "metrics":{...}}
 * sl_classifier_load returns a heap object owning everything in it; it is read-only once
 * loaded (safe to share between threads). It is reference-counted, so that configuration
 * versions can share one: sl_classifier_ref adds a reference, sl_classifier_destroy drops
 * one and frees the object with the last. */
#ifndef SL_CLASSIFIER_H
#define SL_CLASSIFIER_H

#include <stddef.h>

#include "features.h"

struct sl_classifier {
    float *w; /* SL_FEATURES_DIM weights, dense for constant-time scoring */
    double bias;
    double *thresholds; /* ascending, in (0,1); may be empty */
    size_t n_thresholds;
    enum sl_features_messages messages;
    char *path;
    cJSON *meta; /* "training" and "metrics" as written by the trainer, or NULL */
    int refs;
};

/* Loads and validates path. NULL on failure with "path: what is wrong" in err; a model made
 * for another feature specification is refused, naming both hashes. */
struct sl_classifier *sl_classifier_load(const char *path, char *err, size_t errlen);
/* Same, from an artifact already in memory; name stands for the path in messages. */
struct sl_classifier *sl_classifier_parse(const char *name, const char *text, size_t len, char *err,
                                          size_t errlen);
/* Adds a reference and returns c. Thread-safe. */
struct sl_classifier *sl_classifier_ref(struct sl_classifier *c);
/* Drops a reference; the last one frees c. NULL is a no-op. */
void sl_classifier_destroy(struct sl_classifier *c);

/* The score of already extracted features. */
double sl_classifier_score(const struct sl_classifier *c, const struct sl_features *f);

/* Writes a model artifact atomically (temp file + rename). w is dense (SL_FEATURES_DIM);
 * only non-zero weights are written. meta (training, metrics) may be NULL and is not taken.
 * On failure nothing is left at path and err says why. */
int sl_classifier_save(const char *path, const float *w, double bias,
                       enum sl_features_messages messages, const double *thresholds,
                       size_t n_thresholds, const cJSON *training, const cJSON *metrics, char *err,
                       size_t errlen) SL_MUST_CHECK;

#endif
