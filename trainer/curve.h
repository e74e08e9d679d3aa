/* Cost/quality curves of a two-tier router, and the routing literature's measures on them
 * (see ../shared/datasets/README.md, "How routers are scored"). A row is routed to the strong
 * (premium) tier when its score >= the threshold; each row then gets the quality of the tier
 * it went to. x = share of rows routed to strong, y = mean quality of the routed answers,
 * PGR = (y - q_weak) / (q_strong - q_weak) with q_weak / q_strong the all-weak / all-strong
 * means. PGR, APGR and CPT measure a gap to recover: where the strong tier is no better than the
 * weak one on the rows (q_strong <= q_weak; shadow verdicts can say so) they are NAN, as a
 * router that sent more to the strong tier would then score as recovering more. A struct
 * sl_curve (init/free) owns its points. */
#ifndef SL_CURVE_H
#define SL_CURVE_H

#include <stddef.h>

#include "errors.h"

struct sl_curve_point {
    double threshold; /* route to strong when score >= threshold */
    double x;         /* share routed to strong, 0..1 */
    double y;         /* mean quality of the routed answers */
    double pgr;       /* performance gap recovered; NAN when q_strong <= q_weak */
};

struct sl_curve {
    struct sl_curve_point *pts; /* ascending x, one point per distinct x */
    size_t n;
    double q_weak, q_strong; /* mean quality with every row on the weak / strong tier */
    size_t rows;
};

/* The measures reported per router. NAN where undefined (no gap, no prices). */
struct sl_curve_summary {
    size_t rows;
    double q_weak, q_strong;
    double apgr;     /* area under PGR(x), trapezoids over x in [0, 1] */
    double cpt50;    /* strong-call share at which PGR first reaches 50% (interpolated) */
    double cpt80;    /* ... 80% */
    double share95;  /* lowest strong-call share of a threshold reaching 95% of q_strong */
    double saving95; /* 1 - cost(router at share95) / cost(all strong) */
};

void sl_curve_init(struct sl_curve *c);
void sl_curve_free(struct sl_curve *c);

/* Every operating point: one per distinct score, plus x = 0. Thresholds are midway between
 * neighbouring distinct scores (and beyond the extremes), so that they survive rounding.
 * Replaces c's points. SL_ENOMEM, SL_EINVAL (n == 0). */
int sl_curve_exact(struct sl_curve *c, const double *score, const double *q_weak,
                   const double *q_strong, size_t n) SL_MUST_CHECK;

/* RouteLLM's sweep: thresholds at the k/steps quantiles of the scores (k = 0..steps), plus
 * the exact endpoint x = 0 (x = 1 is the 0% quantile). SL_ENOMEM, SL_EINVAL. */
int sl_curve_quantiles(struct sl_curve *c, const double *score, const double *q_weak,
                       const double *q_strong, size_t n, int steps) SL_MUST_CHECK;

/* APGR of c: NAN when q_strong == q_weak. */
double sl_curve_apgr(const struct sl_curve *c);

/* The x at which PGR first reaches target, interpolated linearly between points; NAN when it
 * never does or PGR is undefined. */
double sl_curve_cpt(const struct sl_curve *c, double target);

/* The point of lowest x whose y >= share * q_strong, or NULL. */
const struct sl_curve_point *sl_curve_first_quality(const struct sl_curve *c, double share);

/* 1 - (x p_strong + (1 - x) p_weak) / p_strong: the saving of sending a share x of the calls
 * to the strong tier instead of all of them, with equal tokens per call. NAN when
 * p_strong <= 0. */
double sl_curve_saving(double x, double price_weak, double price_strong);

/* The summary of a scored router: APGR and CPT on the 100-step quantile sweep, share95 and
 * saving95 on the exact curve. SL_ENOMEM, SL_EINVAL. */
int sl_curve_summarise(const double *score, const double *q_weak, const double *q_strong, size_t n,
                       double price_weak, double price_strong,
                       struct sl_curve_summary *out) SL_MUST_CHECK;

/* The same summary for random routing, analytically: PGR(x) = x, so APGR = 0.5,
 * CPT(p) = p, and share95 = (0.95 q_strong - q_weak) / (q_strong - q_weak). */
void sl_curve_random_summary(double q_weak, double q_strong, size_t rows, double price_weak,
                             double price_strong, struct sl_curve_summary *out);

#endif
