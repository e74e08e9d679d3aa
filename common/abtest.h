/* Two-sample tests for A/B experiments: is an arm's pass rate or mean cost different from the
 * control arm's? Proportions by Fisher's exact test (a two-proportion z-test once both arms
 * are large), means by Welch's t-test; every p-value is two-sided. Pure functions over
 * numbers: nothing is allocated and nothing is kept. */
#ifndef SL_ABTEST_H
#define SL_ABTEST_H

#include <stdbool.h>
#include <stdint.h>

#include "errors.h"

/* A difference is significant when its p-value is below this. */
#define SL_ABTEST_ALPHA 0.05
/* Below this many observations in either arm, no difference is called significant. */
#define SL_ABTEST_MIN_SAMPLES 30
/* Above this many observations in both arms, proportions use the z-test: Fisher's exact test
 * costs time linear in the table, and the normal approximation is then accurate. */
#define SL_ABTEST_Z_ABOVE 2000

/* Fisher's exact test of the 2x2 table [[a, b], [c, d]] (rows: arms; columns: pass, fail):
 * the probability, with the margins fixed, of every table no more likely than the observed
 * one (the usual two-sided definition; "no more likely" with a relative tolerance of 1e-7, as
 * R's fisher.test). 1 when a row or a column is empty. SL_EINVAL when a margin does not fit
 * in an unsigned int (GSL's hypergeometric distribution takes them so). */
int sl_abtest_fisher(uint64_t a, uint64_t b, uint64_t c, uint64_t d, double *p) SL_MUST_CHECK;

/* The pooled two-proportion z-test of x1 successes in n1 trials against x2 in n2: z (of
 * x1/n1 - x2/n2) and its two-sided p. z = 0, p = 1 when every trial had the same outcome.
 * SL_EINVAL when n1 or n2 is 0 or x > n. */
int sl_abtest_ztest(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double *z,
                    double *p) SL_MUST_CHECK;

/* Welch's unequal-variance t-test of mean1 against mean2 from n observations, mean and sample
 * variance (divisor n - 1) per group: t (of mean1 - mean2), the Welch-Satterthwaite degrees
 * of freedom and the two-sided p. SL_EINVAL when a group has fewer than 2 observations, a
 * value is not finite, a variance is negative, or both variances are 0 (no spread: the test
 * is undefined). */
int sl_abtest_welch(uint64_t n1, double mean1, double var1, uint64_t n2, double mean2, double var2,
                    double *t, double *df, double *p) SL_MUST_CHECK;

enum sl_abtest_method {
    SL_ABTEST_NONE, /* no test could be made (an arm is empty, or no spread) */
    SL_ABTEST_FISHER,
    SL_ABTEST_ZTEST,
    SL_ABTEST_WELCH,
};

/* One arm (b) against the control (a). */
struct sl_abtest {
    double diff;      /* b - a: of proportions or of means; NAN when an arm is empty */
    double p;         /* two-sided; NAN with SL_ABTEST_NONE */
    double statistic; /* z or t; NAN for Fisher and NONE */
    double df;        /* Welch's degrees of freedom; NAN otherwise */
    enum sl_abtest_method method;
    bool too_few;     /* an arm has fewer than SL_ABTEST_MIN_SAMPLES observations */
    bool significant; /* p < SL_ABTEST_ALPHA, and not too_few */
};

/* Compares proportions x_b / n_b against x_a / n_a: Fisher's exact test, or the z-test when
 * both n are above SL_ABTEST_Z_ABOVE. */
void sl_abtest_proportions(uint64_t x_a, uint64_t n_a, uint64_t x_b, uint64_t n_b,
                           struct sl_abtest *r);
/* Compares means by Welch's t-test (variances with divisor n - 1). */
void sl_abtest_means(uint64_t n_a, double mean_a, double var_a, uint64_t n_b, double mean_b,
                     double var_b, struct sl_abtest *r);

/* "fisher", "z", "welch", or "none". */
const char *sl_abtest_method_name(enum sl_abtest_method m);

#endif
