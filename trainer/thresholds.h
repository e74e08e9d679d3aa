/* Choosing a router's threshold for a cost/quality target on held-out rows, and the
 * `sluice-trainer thresholds` command: print the choice, write the curve as CSV and SVG, and
 * store the threshold in the model artifact. Quality is the share of the premium-only quality:
 * mean quality of the routed answers over the mean quality with every call on premium. */
#ifndef SL_THRESHOLDS_H
#define SL_THRESHOLDS_H

#include <stdbool.h>
#include <stdio.h>

#include "curve.h"
#include "dataset.h"
#include "errors.h"

enum sl_thresholds_target {
    SL_THRESHOLDS_MIN_QUALITY,      /* quality >= value at the lowest premium share */
    SL_THRESHOLDS_MAX_PREMIUM_SHARE /* the best quality with premium share <= value */
};

struct sl_thresholds_choice {
    double threshold;     /* premium when score >= threshold */
    double premium_share; /* 0..1 */
    double quality;       /* share of the premium-only quality */
    double pgr;
};

/* Picks the point of the exact curve c (sl_curve_exact) meeting the target: for
 * MIN_QUALITY the lowest premium share whose quality >= value; for MAX_PREMIUM_SHARE the
 * highest quality among shares <= value, the lower share on a tie. SL_ENOTFOUND when no
 * point meets it. */
int sl_thresholds_choose(const struct sl_curve *c, enum sl_thresholds_target target, double value,
                         struct sl_thresholds_choice *out) SL_MUST_CHECK;

/* Writes "threshold,premium_share,quality,pgr" and one line per point of c. SL_EIO. */
int sl_thresholds_write_csv(FILE *fp, const struct sl_curve *c) SL_MUST_CHECK;

struct sl_thresholds_config {
    const char *model;
    const char *data;
    bool eval_db;        /* data is an eval.db, whose labels are read, not a JSONL file */
    enum sl_split split; /* rows to choose on (dev by default) */
    bool all_rows;       /* every row of data, whatever its split */
    const char *source;  /* only rows of this source, or NULL */
    enum sl_thresholds_target target;
    double value;
    const char *csv; /* or NULL */
    const char *svg; /* or NULL */
    bool write;      /* store the threshold in the model artifact */
};

/* The command: reports to out, problems to err. SL_EPARSE for bad data lines, SL_EINVAL for a
 * model or data that cannot serve (no rows), SL_ENOTFOUND when the target cannot be met, SL_EIO,
 * SL_ENOMEM. */
int sl_thresholds_run(const struct sl_thresholds_config *cfg, FILE *out, FILE *err) SL_MUST_CHECK;

#endif
