/* SVG pictures of a router's cost/quality curve for people: quality (as a share of the
 * premium-only quality) against the share of calls sent to the premium tier, with the random
 * router's diagonal, the target, and the chosen threshold marked. Writes to a caller's FILE. */
#ifndef SL_PLOT_H
#define SL_PLOT_H

#include <stdbool.h>
#include <stdio.h>

#include "curve.h"
#include "errors.h"

struct sl_plot {
    const char *title;     /* escaped for XML here */
    const char *subtitle;  /* or NULL */
    bool have_choice;      /* mark the chosen operating point */
    double choice_x;       /* its premium share, 0..1 */
    double choice_quality; /* its quality as a share of q_strong */
    double choice_threshold;
    double target_quality; /* a horizontal target line, or NAN */
    double target_share;   /* a vertical budget line, or NAN */
};

/* Writes the SVG document. SL_EIO when the write fails, SL_EINVAL for an empty curve. */
int sl_plot_curve_svg(FILE *fp, const struct sl_curve *c, const struct sl_plot *p) SL_MUST_CHECK;

#endif
