/* Router curves: sort once by score, then every threshold is a prefix of the sorted rows. */
#include "curve.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>

void sl_curve_init(struct sl_curve *c)
{
    memset(c, 0, sizeof(*c));
}

void sl_curve_free(struct sl_curve *c)
{
    free(c->pts);
    memset(c, 0, sizeof(*c));
}

/* Rows sorted by descending score, with the running gain of sending them to strong. */
struct ranked {
    size_t n;
    size_t *order;   /* row indices, descending score */
    double *sorted;  /* scores, ascending (for quantiles and counting) */
    double *gain;    /* gain[k] = sum of (q_strong - q_weak) over the top k rows, k = 0..n */
    double sum_weak; /* sum of q_weak over all rows */
};

static void ranked_free(struct ranked *r)
{
    free(r->order);
    free(r->sorted);
    free(r->gain);
}

static int ranked_init(struct ranked *r, const double *score, const double *qw, const double *qs,
                       size_t n)
{
    memset(r, 0, sizeof(*r));
    r->n = n;
    r->order = malloc(n * sizeof(*r->order));
    r->sorted = malloc(n * sizeof(*r->sorted));
    r->gain = malloc((n + 1) * sizeof(*r->gain));
    if (!r->order || !r->sorted || !r->gain)
        return SL_ENOMEM;
    gsl_sort_index(r->order, score, 1, n); /* ascending */
    for (size_t k = 0; k < n / 2; k++) {
        size_t t = r->order[k];
        r->order[k] = r->order[n - 1 - k];
        r->order[n - 1 - k] = t;
    }
    r->gain[0] = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = r->order[k];
        r->sorted[n - 1 - k] = score[i];
        r->gain[k + 1] = r->gain[k] + (qs[i] - qw[i]);
        r->sum_weak += qw[i];
    }
    return 0;
}

static void set_point(struct sl_curve *c, const struct ranked *r, size_t k, double threshold)
{
    double n = (double)r->n;
    struct sl_curve_point *p = &c->pts[c->n++];

    p->threshold = threshold;
    p->x = (double)k / n;
    p->y = (r->sum_weak + r->gain[k]) / n;
    p->pgr = c->q_strong > c->q_weak ? (p->y - c->q_weak) / (c->q_strong - c->q_weak) : NAN;
}

static int start(struct sl_curve *c, const struct ranked *r, size_t max_points)
{
    free(c->pts);
    c->n = 0;
    c->rows = r->n;
    c->q_weak = r->sum_weak / (double)r->n;
    c->q_strong = (r->sum_weak + r->gain[r->n]) / (double)r->n;
    c->pts = malloc(max_points * sizeof(*c->pts));
    return c->pts ? 0 : SL_ENOMEM;
}

int sl_curve_exact(struct sl_curve *c, const double *score, const double *q_weak,
                   const double *q_strong, size_t n)
{
    struct ranked r;
    int rc;

    if (n == 0)
        return SL_EINVAL;
    if ((rc = ranked_init(&r, score, q_weak, q_strong, n)) != 0)
        goto out;
    if ((rc = start(c, &r, n + 1)) != 0)
        goto out;
    const double *s = r.sorted; /* ascending: the top k rows are s[n-k .. n) */
    double top = s[n - 1];
    set_point(c, &r, 0, top < 1 ? (top + 1) / 2 : nextafter(top, INFINITY));
    for (size_t k = 0; k < n;) {
        double v = s[n - 1 - k];
        while (k < n && s[n - 1 - k] == v)
            k++;
        /* Rows scoring v and above go to strong: cut midway to the next lower score (at v
         * itself when the two are too close for a midpoint). */
        double cut = v > 0 ? v / 2 : v;
        if (k < n) {
            double lower = s[n - 1 - k], mid = lower + (v - lower) / 2;
            cut = mid > lower ? mid : v;
        }
        set_point(c, &r, k, cut);
    }
out:
    ranked_free(&r);
    return rc;
}

/* How many rows score >= t: binary search in the ascending scores. */
static size_t count_at_least(const struct ranked *r, double t)
{
    size_t lo = 0, hi = r->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->sorted[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return r->n - lo;
}

/* The q-quantile of ascending v[0..n), interpolated linearly as numpy's default, but exact when
 * the two neighbours are equal: interpolating between equal scores can land an ulp above them
 * and leave the tied rows out. */
static double quantile(const double *v, size_t n, double q)
{
    double h = q * (double)(n - 1);
    size_t lo = (size_t)h;

    if (lo >= n - 1)
        return v[n - 1];
    if (v[lo] == v[lo + 1])
        return v[lo];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

static int cmp_x(const void *a, const void *b)
{
    const struct sl_curve_point *p = a, *q = b;
    return p->x < q->x ? -1 : p->x > q->x;
}

int sl_curve_quantiles(struct sl_curve *c, const double *score, const double *q_weak,
                       const double *q_strong, size_t n, int steps)
{
    struct ranked r;
    int rc;

    if (n == 0 || steps < 1)
        return SL_EINVAL;
    if ((rc = ranked_init(&r, score, q_weak, q_strong, n)) != 0)
        goto out;
    if ((rc = start(c, &r, (size_t)steps + 2)) != 0)
        goto out;
    set_point(c, &r, 0, INFINITY);
    for (int k = steps; k >= 0; k--) {
        double t = quantile(r.sorted, n, (double)k / steps);
        set_point(c, &r, count_at_least(&r, t), t);
    }
    /* One point per share routed to strong, in ascending order (thresholds giving the same
     * share route the same rows: any of them will do). */
    qsort(c->pts, c->n, sizeof(*c->pts), cmp_x);
    size_t m = 0;
    for (size_t k = 0; k < c->n; k++)
        if (m == 0 || c->pts[k].x != c->pts[m - 1].x)
            c->pts[m++] = c->pts[k];
    c->n = m;
out:
    ranked_free(&r);
    return rc;
}

double sl_curve_apgr(const struct sl_curve *c)
{
    double area = 0;

    if (c->n == 0 || !(c->q_strong > c->q_weak))
        return NAN;
    for (size_t k = 1; k < c->n; k++)
        area += (c->pts[k].x - c->pts[k - 1].x) * (c->pts[k].pgr + c->pts[k - 1].pgr) / 2;
    return area;
}

double sl_curve_cpt(const struct sl_curve *c, double target)
{
    if (c->n == 0 || !(c->q_strong > c->q_weak))
        return NAN;
    if (c->pts[0].pgr >= target)
        return c->pts[0].x;
    for (size_t k = 1; k < c->n; k++) {
        const struct sl_curve_point *a = &c->pts[k - 1], *b = &c->pts[k];
        if (b->pgr >= target)
            return a->x + (target - a->pgr) / (b->pgr - a->pgr) * (b->x - a->x);
    }
    return NAN;
}

const struct sl_curve_point *sl_curve_first_quality(const struct sl_curve *c, double share)
{
    for (size_t k = 0; k < c->n; k++)
        if (c->pts[k].y >= share * c->q_strong)
            return &c->pts[k];
    return NULL;
}

double sl_curve_saving(double x, double price_weak, double price_strong)
{
    if (!(price_strong > 0))
        return NAN;
    return 1 - (x * price_strong + (1 - x) * price_weak) / price_strong;
}

int sl_curve_summarise(const double *score, const double *q_weak, const double *q_strong, size_t n,
                       double price_weak, double price_strong, struct sl_curve_summary *out)
{
    struct sl_curve c;
    const struct sl_curve_point *p;
    int rc;

    sl_curve_init(&c);
    if ((rc = sl_curve_quantiles(&c, score, q_weak, q_strong, n, 100)) != 0)
        goto out;
    out->rows = n;
    out->q_weak = c.q_weak;
    out->q_strong = c.q_strong;
    out->apgr = sl_curve_apgr(&c);
    out->cpt50 = sl_curve_cpt(&c, 0.5);
    out->cpt80 = sl_curve_cpt(&c, 0.8);
    if ((rc = sl_curve_exact(&c, score, q_weak, q_strong, n)) != 0)
        goto out;
    p = sl_curve_first_quality(&c, 0.95);
    out->share95 = p ? p->x : NAN;
    out->saving95 = sl_curve_saving(out->share95, price_weak, price_strong);
out:
    sl_curve_free(&c);
    return rc;
}

void sl_curve_random_summary(double q_weak, double q_strong, size_t rows, double price_weak,
                             double price_strong, struct sl_curve_summary *out)
{
    bool gap = q_strong > q_weak;
    double share = 0;

    out->rows = rows;
    out->q_weak = q_weak;
    out->q_strong = q_strong;
    out->apgr = gap ? 0.5 : NAN;
    out->cpt50 = gap ? 0.5 : NAN;
    out->cpt80 = gap ? 0.8 : NAN;
    if (q_weak < 0.95 * q_strong)
        share = gap ? (0.95 * q_strong - q_weak) / (q_strong - q_weak) : NAN;
    out->share95 = share > 1 ? 1 : share;
    out->saving95 = sl_curve_saving(out->share95, price_weak, price_strong);
}
