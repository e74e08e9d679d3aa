/* Drift detection over one condition's outcomes: a windowed z-test and a Bernoulli CUSUM
 * against a held-out, slowly forgetting reference. */
#include "drift.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sf_gamma.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Outcomes join the reference only while the CUSUM is below this share of cusum_h. */
#define FREEZE_AT 0.5
/* While an alert is open the CUSUM is held at most at this share of cusum_h, and the alert
 * clears when it has drained to 0. In simulation (a 10-point drop after 1,000 outcomes, then a
 * full recovery) that takes a median of 640 outcomes at a pass rate of 0.9 and 1,300 at 0.7
 * (p95 1,800 and 6,000: a short reference leaves "within cusum_k / 2" uncertain); a recovery
 * only halfway, cusum_k below the reference, clears within 5,000 outcomes in 3 to 5 alerts
 * in 100. At 0.5 the halfway case cleared 1 alert in 5, at 1.0 recovery took 40% longer. */
#define OPEN_AT 0.75

/* The drop test computes its exact p-value only when the z score is within this of alpha's:
 * the z score is never that far below the exact test's (bench-drift gives the same results
 * with the screen off: -DDROP_SCREEN=100). */
#ifndef DROP_SCREEN
#define DROP_SCREEN 1.5
#endif

struct sl_drift {
    struct sl_drift_config cfg;
    double z_raise, z_clear; /* the z scores of alpha and alpha_clear */
    /* The newest outcomes, a ring; the newest `pending` of them are not in the reference
     * yet (the oldest of the ring are, when they arrived before monitoring began). */
    float *ring;
    int cap, pos, count, pending;
    double win_sum, win_sq; /* over the newest cfg.window outcomes */
    int win_n;
    double ref_w, ref_w2, ref_sum, ref_sq; /* weighted sums of the reference */
    bool monitoring; /* the reference reached min_samples: the hold-out applies */
    bool graded;     /* an outcome other than 0 or 1 was seen */
    double cusum;
    bool open;
    const char *detector;
    int64_t samples;
};

/* Calibrated with tests/bench/bench_drift.c (this code, Bernoulli outcomes; 1,000 runs per
 * drop, 10,000 stationary runs of 10,000 outcomes per pass rate, two seeds):
 *   - false alarms per 100 runs at 0.5 / 0.7 / 0.8 / 0.9 / 0.95 / 0.99: at most 0.67 (seed 3:
 *     0.67 0.64 0.51 0.52 0.37 0.19; seed 4: 0.47 0.54 0.50 0.45 0.49 0.13); 9 alerts in 10
 *     are the CUSUM's, and most come while the reference holds 1,000 - 3,000 outcomes;
 *   - a 10-point drop after 1,000 outcomes (the reference as short as min_samples allows),
 *     p95 delay in outcomes [share within 500]: 0.9 -> 0.8: 505 - 524 [93 - 95%],
 *     0.8 -> 0.7: 900 - 915 [74 - 76%], 0.7 -> 0.6: 1087 - 1186 [56 - 57%]; after 5,000
 *     outcomes about 450, 710 and 910. 0.9 -> 0.6: p95 about 90.
 * That is near what any detector can do: a CUSUM that knows both pass rates exactly needs
 * about 410, 615 and 710 outcomes (p95) for these drops at the same false-alarm rate, and
 * an estimated reference adds its own noise. cusum_h 11.5 gives 94.7% within 500 at 0.9 for
 * 0.92 false alarms per 100 runs; 12.5 gives 92% for 0.52. The margin (0.5 to 1 standard
 * errors with a lower cusum_h) and holdout 500 or 2,000 did worse at the same rate. */
void sl_drift_config_default(struct sl_drift_config *c)
{
    c->baseline_n = 5000;
    c->holdout = 1000;
    c->window = 200;
    c->min_samples = 1000;
    c->alpha = 1e-6;
    c->alpha_clear = 0.05;
    c->cusum_k = 0.05;
    c->cusum_h = 12.0;
    c->margin = 0;
    c->critical_drop = 0.2;
}

int sl_drift_config_check(const struct sl_drift_config *c, char *err, size_t errlen)
{
    const char *what = NULL;

    if (c->baseline_n < 10 || c->baseline_n > 10000000)
        what = "baseline_n: must be from 10 to 10000000";
    else if (c->window < 10 || c->window > 100000)
        what = "window: must be from 10 to 100000";
    else if (c->holdout < c->window || c->holdout > 100000)
        what = "holdout: must be at least window and at most 100000";
    else if (c->min_samples < 10 || c->min_samples > c->baseline_n)
        what = "min_samples: must be from 10 to baseline_n";
    else if (!(c->alpha > 0 && c->alpha < 0.5))
        what = "alpha: must be in (0, 0.5)";
    else if (!(c->alpha_clear >= c->alpha && c->alpha_clear < 1))
        what = "alpha_clear: must be in [alpha, 1)";
    else if (!(c->cusum_k > 0 && c->cusum_k <= 0.25))
        what = "cusum_k: must be in (0, 0.25]";
    else if (!(c->cusum_h > 0 && c->cusum_h <= 1000))
        what = "cusum_h: must be in (0, 1000]";
    else if (!(c->margin >= 0 && c->margin <= 10))
        what = "margin: must be in [0, 10]";
    else if (!(c->critical_drop > 0 && c->critical_drop <= 1))
        what = "critical_drop: must be in (0, 1]";
    if (what && err && errlen)
        snprintf(err, errlen, "%s", what);
    return what ? SL_EINVAL : 0;
}

struct sl_drift *sl_drift_create(const struct sl_drift_config *cfg)
{
    struct sl_drift *d = NULL;

    if (sl_drift_config_check(cfg, NULL, 0))
        return NULL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cfg = *cfg;
    d->cap = cfg->holdout;
    d->ring = calloc((size_t)d->cap, sizeof(*d->ring));
    if (!d->ring) {
        free(d);
        return NULL;
    }
    d->z_raise = gsl_cdf_ugaussian_Qinv(cfg->alpha);
    d->z_clear = gsl_cdf_ugaussian_Qinv(cfg->alpha_clear);
    d->detector = "";
    return d;
}

void sl_drift_destroy(struct sl_drift *d)
{
    if (!d)
        return;
    free(d->ring);
    free(d);
}

void sl_drift_reset(struct sl_drift *d)
{
    float *ring = d->ring;
    struct sl_drift_config cfg = d->cfg;
    double z_raise = d->z_raise, z_clear = d->z_clear;
    int cap = d->cap;

    memset(d, 0, sizeof(*d));
    memset(ring, 0, (size_t)cap * sizeof(*ring));
    d->cfg = cfg;
    d->ring = ring;
    d->cap = cap;
    d->z_raise = z_raise;
    d->z_clear = z_clear;
    d->detector = "";
}

bool sl_drift_is_open(const struct sl_drift *d)
{
    return d->open;
}

/* --- the reference ------------------------------------------------------------------- */

static void absorb(struct sl_drift *d, double x)
{
    /* Cumulative until baseline_n, then exponential forgetting with that effective length:
     * at ref_w == baseline_n the decay and the new weight balance. */
    if (d->ref_w >= d->cfg.baseline_n) {
        double keep = 1.0 - 1.0 / d->cfg.baseline_n;
        d->ref_w *= keep;
        d->ref_w2 *= keep * keep;
        d->ref_sum *= keep;
        d->ref_sq *= keep;
    }
    d->ref_w += 1;
    d->ref_w2 += 1;
    d->ref_sum += x;
    d->ref_sq += x * x;
}

static double ref_mean(const struct sl_drift *d)
{
    return d->ref_w > 0 ? d->ref_sum / d->ref_w : NAN;
}

/* The reference's size for its variance: (sum w)^2 / sum w^2, which is ref_w while
 * cumulative and about 2 baseline_n once forgetting. */
static double ref_neff(const struct sl_drift *d)
{
    return d->ref_w2 > 0 ? d->ref_w * d->ref_w / d->ref_w2 : 0;
}

/* --- the window ---------------------------------------------------------------------- */

static void window_recount(struct sl_drift *d)
{
    d->win_sum = d->win_sq = 0;
    d->win_n = d->count < d->cfg.window ? d->count : d->cfg.window;
    for (int i = 1; i <= d->win_n; i++) {
        double x = d->ring[(d->pos - i + d->cap) % d->cap];
        d->win_sum += x;
        d->win_sq += x * x;
    }
}

/* Puts x in the ring; an outcome leaving the hold-out joins the reference unless an alert
 * is open or the CUSUM is past half its threshold (then it is dropped: the reference stays
 * frozen, and a drop that is being detected does not dilute it). The outcome leaving is
 * `holdout` outcomes old, nearly independent of the CUSUM's current value, so skipping it
 * does not bias the reference. */
static void push(struct sl_drift *d, double x)
{
    if (d->count == d->cap) {
        double oldest = d->ring[d->pos];
        if (d->pending == d->cap) { /* the newest `pending` are pending: so is the oldest */
            if (!d->open && d->cusum < d->cfg.cusum_h * FREEZE_AT)
                absorb(d, oldest);
            d->pending--;
        }
    } else {
        d->count++;
    }
    if (d->win_n == d->cfg.window) {
        double out = d->ring[(d->pos - d->cfg.window + d->cap) % d->cap];
        d->win_sum -= out;
        d->win_sq -= out * out;
    } else {
        d->win_n++;
    }
    d->ring[d->pos] = (float)x;
    x = d->ring[d->pos]; /* the value the window will subtract later */
    d->win_sum += x;
    d->win_sq += x * x;
    d->pos = (d->pos + 1) % d->cap;
    if (d->pos == 0)
        window_recount(d); /* no rounding drift from a long run of additions */

    if (d->monitoring) {
        d->pending++;
    } else {
        absorb(d, x);
        if (d->ref_w >= d->cfg.min_samples)
            d->monitoring = true;
    }
}

/* The drop test's z score: reference mean minus window mean over the pooled standard error;
 * 0 when both are constant (and so equal). Cheap, but poor in the tails near 0 and 1: used to
 * screen, and to clear. */
static double drop_z(const struct sl_drift *d)
{
    double n = d->ref_w + d->win_n;
    double m = (d->ref_sum + d->win_sum) / n;
    double v = (d->ref_sq + d->win_sq) / n - m * m;
    double se;

    if (d->win_n == 0 || d->ref_w <= 0 || !(v > 1e-12))
        return 0;
    se = sqrt(v * (1.0 / ref_neff(d) + 1.0 / d->win_n));
    return (ref_mean(d) - d->win_sum / d->win_n) / se;
}

/* The drop test's p-value. For pass/fail, the probability of so few passes in the window if
 * it came from the reference's rate, which is itself uncertain: the beta-binomial predictive
 * P(K <= k), K ~ BetaBin(W, a, b), a and b the reference's passes and failures (effective
 * counts) + 1/2. Unlike the z-test it holds in the tails at pass rates near 0 or 1, where
 * failures are few. For grades, whose variance the binomial would overstate, the z-test. */
static double drop_p(const struct sl_drift *d)
{
    double neff = ref_neff(d), m = ref_mean(d);
    double a = m * neff + 0.5, b = (1 - m) * neff + 0.5;
    int w = d->win_n, k = (int)floor(d->win_sum + 0.5);
    double lp, term, sum;

    if (w == 0 || d->ref_w <= 0)
        return 1;
    /* At or above the predictive mean there is no lower tail worth summing. */
    if (d->graded || k >= w * a / (a + b))
        return gsl_cdf_ugaussian_Q(drop_z(d));
    /* ln P(K = k), then down to 0 with the ratio P(K = j-1) / P(K = j); the terms fall fast
     * below the mode, so stop once they no longer count. */
    lp = gsl_sf_lnchoose((unsigned)w, (unsigned)k) + gsl_sf_lnbeta(k + a, w - k + b) -
         gsl_sf_lnbeta(a, b);
    term = 1;
    sum = 1;
    for (int j = k; j > 0; j--) {
        term *= (double)j / (w - j + 1) * (w - j + b) / (j - 1 + a);
        sum += term;
        if (term < 1e-12 * sum)
            break;
    }
    lp += log(sum);
    return lp >= 0 ? 1 : exp(lp);
}

/* The CUSUM's increment for x: the log-likelihood ratio of p1 = p0 - drop against p0. */
static double cusum_step(const struct sl_drift *d, double x, double drop)
{
    double p0 = ref_mean(d), p1;

    if (d->cfg.margin > 0) {
        double v = d->ref_sq / d->ref_w - p0 * p0;
        p0 -= d->cfg.margin * sqrt((v > 0 ? v : 0) / ref_neff(d));
    }
    p0 = p0 < 0.01 ? 0.01 : p0 > 0.99 ? 0.99 : p0;
    p1 = p0 - drop;
    if (p1 < p0 / 2)
        p1 = p0 / 2;
    return x * log(p1 / p0) + (1 - x) * log((1 - p1) / (1 - p0));
}

/* --- events -------------------------------------------------------------------------- */

static void fill(const struct sl_drift *d, struct sl_drift_evidence *ev, double z)
{
    memset(ev, 0, sizeof(*ev));
    ev->detector = d->detector;
    ev->baseline_n = lround(d->ref_w);
    ev->baseline_mean = ref_mean(d);
    ev->window_n = d->win_n;
    ev->window_mean = d->win_n ? d->win_sum / d->win_n : NAN;
    if (strcmp(d->detector, "drop") == 0) {
        ev->statistic = z;
        ev->p_value = drop_p(d);
        ev->threshold = d->cfg.alpha;
    } else {
        ev->statistic = d->cusum;
        ev->p_value = NAN;
        ev->threshold = d->cfg.cusum_h;
    }
    ev->severity =
        ev->baseline_mean - ev->window_mean >= d->cfg.critical_drop ? "critical" : "warning";
    ev->samples = d->samples;
}

void sl_drift_evidence(const struct sl_drift *d, struct sl_drift_evidence *ev)
{
    fill(d, ev, drop_z(d));
}

void sl_drift_force_open(struct sl_drift *d, const char *detector)
{
    if (d->open)
        return;
    d->open = true;
    d->detector = detector && strcmp(detector, "drop") == 0 ? "drop" : "cusum";
    d->cusum = d->cfg.cusum_h * OPEN_AT;
}

enum sl_drift_event sl_drift_add(struct sl_drift *d, double x, struct sl_drift_evidence *ev)
{
    enum sl_drift_event e = SL_DRIFT_NONE;
    bool was_monitoring = d->monitoring;
    double z;

    if (isnan(x))
        return d->open ? SL_DRIFT_ONGOING : SL_DRIFT_NONE;
    x = x < 0 ? 0 : x > 1 ? 1 : x;
    if (x != 0 && x != 1)
        d->graded = true;
    d->samples++;
    /* The CUSUM compares x with the reference as it stood before x arrived. */
    if (was_monitoring) {
        /* While an alert is open the alternative is half as far: the sum drains only when
         * the pass rate is back within cusum_k / 2 of the reference (hysteresis). */
        d->cusum += cusum_step(d, x, (d->open ? 1 : 2) * d->cfg.cusum_k);
        if (d->cusum < 0)
            d->cusum = 0;
    }
    push(d, x);
    if (!was_monitoring)
        return d->open ? SL_DRIFT_ONGOING : SL_DRIFT_NONE;

    z = d->win_n == d->cfg.window ? drop_z(d) : 0;
    if (!d->open) {
        if (z >= d->z_raise - DROP_SCREEN && drop_p(d) < d->cfg.alpha)
            d->detector = "drop";
        else if (d->cusum >= d->cfg.cusum_h)
            d->detector = "cusum";
        else
            goto out;
        d->open = true;
        e = SL_DRIFT_RAISED;
    } else {
        e = SL_DRIFT_ONGOING;
        if (d->cusum <= 0 && d->win_n == d->cfg.window && z < d->z_clear)
            e = SL_DRIFT_CLEARED;
    }
    if (ev)
        fill(d, ev, z);
    if (e == SL_DRIFT_CLEARED) {
        d->open = false;
        d->detector = "";
        /* The hold-out mixes the alert's tail with the recovery: keep it out. */
        d->pending = 0;
    } else if (d->cusum > d->cfg.cusum_h * OPEN_AT || e == SL_DRIFT_RAISED) {
        /* Held there while open: recovery takes as long whatever the alert's age, and
         * whichever test raised. */
        d->cusum = d->cfg.cusum_h * OPEN_AT;
    }
out:
    return e;
}
