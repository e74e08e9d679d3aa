/* Two-sample tests over GSL's distributions. Inputs are checked before they reach GSL, whose
 * default error handler would abort the process. */
#include "abtest.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sf_gamma.h>
#include <limits.h>
#include <math.h>

/* Tables whose probability is within this factor of the observed one's count as "no more
 * likely": floating-point noise must not drop a table that ties with the observed one. */
#define FISHER_REL_TOL 1e-7

int sl_abtest_fisher(uint64_t a, uint64_t b, uint64_t c, uint64_t d, double *p)
{
    uint64_t n1 = a + b, n2 = c + d, t = a + c;
    double lnorm, lobs, sum = 0;
    unsigned lo, hi;

    /* Each count is below the sum of the margins, which must fit GSL's unsigned int. */
    if (a > UINT_MAX || b > UINT_MAX || c > UINT_MAX || d > UINT_MAX || n1 + n2 > UINT_MAX)
        return SL_EINVAL;
    if (n1 == 0 || n2 == 0 || t == 0 || t == n1 + n2) {
        *p = 1;
        return 0;
    }
    /* With the margins fixed the table is the count k of row 1's passes, hypergeometric: t
     * draws from n1 + n2 of which n1 are row 1's. In logs, so that a table far in the tail
     * is still compared rather than underflowing to 0. */
    lnorm = gsl_sf_lnchoose((unsigned)(n1 + n2), (unsigned)t);
    lobs = gsl_sf_lnchoose((unsigned)n1, (unsigned)a) +
           gsl_sf_lnchoose((unsigned)n2, (unsigned)(t - a)) - lnorm;
    lo = t > n2 ? (unsigned)(t - n2) : 0;
    hi = (unsigned)(t < n1 ? t : n1);
    for (unsigned k = lo;; k++) {
        double lk = gsl_sf_lnchoose((unsigned)n1, k) +
                    gsl_sf_lnchoose((unsigned)n2, (unsigned)(t - k)) - lnorm;
        if (lk <= lobs + log1p(FISHER_REL_TOL))
            sum += exp(lk);
        if (k == hi)
            break;
    }
    *p = sum < 1 ? sum : 1;
    return 0;
}

int sl_abtest_ztest(uint64_t x1, uint64_t n1, uint64_t x2, uint64_t n2, double *z, double *p)
{
    double p1, p2, pooled, se;

    if (n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2)
        return SL_EINVAL;
    p1 = (double)x1 / (double)n1;
    p2 = (double)x2 / (double)n2;
    pooled = ((double)x1 + (double)x2) / ((double)n1 + (double)n2);
    se = sqrt(pooled * (1 - pooled) * (1 / (double)n1 + 1 / (double)n2));
    if (!(se > 0)) { /* all passed or all failed: the proportions are equal */
        *z = 0;
        *p = 1;
        return 0;
    }
    *z = (p1 - p2) / se;
    *p = 2 * gsl_cdf_ugaussian_Q(fabs(*z));
    if (*p > 1)
        *p = 1;
    return 0;
}

int sl_abtest_welch(uint64_t n1, double mean1, double var1, uint64_t n2, double mean2, double var2,
                    double *t, double *df, double *p)
{
    double s1, s2, se2;

    if (n1 < 2 || n2 < 2 || !isfinite(mean1) || !isfinite(mean2) || !isfinite(var1) ||
        !isfinite(var2) || var1 < 0 || var2 < 0)
        return SL_EINVAL;
    s1 = var1 / (double)n1;
    s2 = var2 / (double)n2;
    se2 = s1 + s2;
    if (!(se2 > 0))
        return SL_EINVAL;
    *t = (mean1 - mean2) / sqrt(se2);
    *df = se2 * se2 / (s1 * s1 / (double)(n1 - 1) + s2 * s2 / (double)(n2 - 1));
    *p = 2 * gsl_cdf_tdist_Q(fabs(*t), *df);
    if (*p > 1)
        *p = 1;
    return 0;
}

static void result_init(struct sl_abtest *r, uint64_t n_a, uint64_t n_b)
{
    r->diff = r->p = r->statistic = r->df = NAN;
    r->method = SL_ABTEST_NONE;
    r->too_few = n_a < SL_ABTEST_MIN_SAMPLES || n_b < SL_ABTEST_MIN_SAMPLES;
    r->significant = false;
}

static void result_finish(struct sl_abtest *r)
{
    r->significant = r->method != SL_ABTEST_NONE && !r->too_few && r->p < SL_ABTEST_ALPHA;
}

void sl_abtest_proportions(uint64_t x_a, uint64_t n_a, uint64_t x_b, uint64_t n_b,
                           struct sl_abtest *r)
{
    result_init(r, n_a, n_b);
    if (n_a == 0 || n_b == 0 || x_a > n_a || x_b > n_b)
        return;
    r->diff = (double)x_b / (double)n_b - (double)x_a / (double)n_a;
    if (n_a > SL_ABTEST_Z_ABOVE && n_b > SL_ABTEST_Z_ABOVE) {
        if (sl_abtest_ztest(x_b, n_b, x_a, n_a, &r->statistic, &r->p) == 0)
            r->method = SL_ABTEST_ZTEST;
    } else if (sl_abtest_fisher(x_a, n_a - x_a, x_b, n_b - x_b, &r->p) == 0) {
        r->method = SL_ABTEST_FISHER;
    }
    result_finish(r);
}

void sl_abtest_means(uint64_t n_a, double mean_a, double var_a, uint64_t n_b, double mean_b,
                     double var_b, struct sl_abtest *r)
{
    result_init(r, n_a, n_b);
    if (n_a == 0 || n_b == 0)
        return;
    r->diff = mean_b - mean_a;
    if (sl_abtest_welch(n_b, mean_b, var_b, n_a, mean_a, var_a, &r->statistic, &r->df, &r->p) == 0)
        r->method = SL_ABTEST_WELCH; /* on failure t and df are untouched: NAN */
    result_finish(r);
}

const char *sl_abtest_method_name(enum sl_abtest_method m)
{
    switch (m) {
    case SL_ABTEST_FISHER:
        return "fisher";
    case SL_ABTEST_ZTEST:
        return "z";
    case SL_ABTEST_WELCH:
        return "welch";
    case SL_ABTEST_NONE:
        break;
    }
    return "none";
}
