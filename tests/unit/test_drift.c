/* Tests for evaluator/drift: no alert on a stationary stream, a 10-point drop raised within
 * 500 outcomes, clearing after recovery without flapping, minimum sample sizes, evidence. */
#include <criterion/criterion.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sf_gamma.h>
#include <math.h>
#include <string.h>

#include "drift.h"

static gsl_rng *rng;

static void setup(void)
{
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 20261124);
}

static void teardown(void)
{
    gsl_rng_free(rng);
}

TestSuite(drift, .init = setup, .fini = teardown);

static struct sl_drift *create_default(void)
{
    struct sl_drift_config cfg;
    struct sl_drift *d;

    sl_drift_config_default(&cfg);
    d = sl_drift_create(&cfg);
    cr_assert_not_null(d);
    return d;
}

static double pass(double p)
{
    return gsl_rng_uniform(rng) < p ? 1.0 : 0.0;
}

/* Adds n outcomes at pass rate p; returns the 1-based index of the first one that gave event
 * want (filling *ev), or 0 when none did. */
static int feed(struct sl_drift *d, double p, int n, enum sl_drift_event want,
                struct sl_drift_evidence *ev)
{
    struct sl_drift_evidence tmp;

    for (int i = 1; i <= n; i++)
        if (sl_drift_add(d, pass(p), &tmp) == want) {
            if (ev)
                *ev = tmp;
            return i;
        }
    return 0;
}

Test(drift, stationary_streams_raise_nothing_in_10000_outcomes)
{
    const double rates[] = {0.5, 0.7, 0.8, 0.9, 0.95, 0.99};

    for (size_t i = 0; i < sizeof(rates) / sizeof(*rates); i++) {
        struct sl_drift *d = create_default();
        for (int n = 0; n < 10000; n++)
            cr_assert_eq(sl_drift_add(d, pass(rates[i]), NULL), SL_DRIFT_NONE,
                         "pass rate %.2f: event at outcome %d", rates[i], n + 1);
        cr_assert_not(sl_drift_is_open(d));
        sl_drift_destroy(d);
    }
}

/* The target is 95% of drops from 0.9 to 0.8 within 500 outcomes (bench-drift measures it
 * over many runs); here 20 runs, and every 10-point drop is raised in the end. */
Test(drift, ten_point_drop_is_raised_within_500_outcomes)
{
    const double rates[] = {0.9, 0.8, 0.7};

    for (size_t i = 0; i < sizeof(rates) / sizeof(*rates); i++) {
        int within = 0;
        for (int run = 0; run < 20; run++) {
            struct sl_drift *d = create_default();
            int at;

            cr_assert_eq(feed(d, rates[i], 1000, SL_DRIFT_RAISED, NULL), 0);
            at = feed(d, rates[i] - 0.1, 3000, SL_DRIFT_RAISED, NULL);
            cr_assert_gt(at, 0, "%.2f -> %.2f not raised within 3000 outcomes", rates[i],
                         rates[i] - 0.1);
            within += at <= 500;
            cr_assert(sl_drift_is_open(d));
            cr_assert_eq(sl_drift_add(d, 0, NULL), SL_DRIFT_ONGOING);
            sl_drift_destroy(d);
        }
        if (rates[i] == 0.9)
            cr_assert_geq(within, 17, "only %d of 20 raised within 500 outcomes", within);
    }
}

Test(drift, evidence_describes_the_drop)
{
    struct sl_drift *d = create_default();
    struct sl_drift_evidence ev;
    int at;

    feed(d, 0.9, 1000, SL_DRIFT_RAISED, NULL);
    at = feed(d, 0.8, 2000, SL_DRIFT_RAISED, &ev);
    cr_assert_gt(at, 0);
    cr_assert_str_eq(ev.detector, "cusum");
    cr_assert_str_eq(ev.severity, "warning");
    cr_assert_eq(ev.baseline_n, 1000, "the hold-out keeps the drop out of the reference");
    cr_assert(fabs(ev.baseline_mean - 0.9) < 0.03, "baseline %f", ev.baseline_mean);
    cr_assert_eq(ev.window_n, 200);
    cr_assert_lt(ev.window_mean, ev.baseline_mean - 0.03);
    cr_assert_geq(ev.statistic, 12.0, "the CUSUM's value when it crossed");
    cr_assert(isnan(ev.p_value));
    cr_assert_eq(ev.threshold, 12.0);
    cr_assert_eq(ev.samples, 1000 + at);
    sl_drift_destroy(d);
}

Test(drift, a_collapse_is_critical)
{
    struct sl_drift *d = create_default();
    struct sl_drift_evidence ev;

    feed(d, 0.9, 1000, SL_DRIFT_RAISED, NULL);
    cr_assert_gt(feed(d, 0.3, 100, SL_DRIFT_RAISED, &ev), 0);
    /* Raised in a few dozen outcomes, when the window still holds mostly good ones. */
    cr_assert_str_eq(ev.severity, "warning");
    for (int i = 0; i < 200; i++)
        cr_assert_eq(sl_drift_add(d, pass(0.3), NULL), SL_DRIFT_ONGOING);
    sl_drift_evidence(d, &ev);
    cr_assert_str_eq(ev.severity, "critical");
    cr_assert(fabs(ev.window_mean - 0.3) < 0.1, "window %f", ev.window_mean);
    sl_drift_destroy(d);
}

Test(drift, clears_after_recovery_and_does_not_flap)
{
    struct sl_drift *d = create_default();
    struct sl_drift_evidence ev;
    int cleared;

    feed(d, 0.9, 1000, SL_DRIFT_RAISED, NULL);
    cr_assert_gt(feed(d, 0.8, 2000, SL_DRIFT_RAISED, NULL), 0);
    /* A long alert: recovery time must not grow with it. */
    cr_assert_eq(feed(d, 0.8, 5000, SL_DRIFT_CLEARED, NULL), 0);
    cleared = feed(d, 0.9, 2000, SL_DRIFT_CLEARED, &ev);
    cr_assert_gt(cleared, 0, "not cleared within 2000 outcomes of recovery");
    cr_assert_geq(cleared, 100, "cleared after %d outcomes: too eager", cleared);
    cr_assert_str_eq(ev.detector, "cusum");
    cr_assert(ev.window_mean > ev.baseline_mean - 0.05, "window %f", ev.window_mean);
    cr_assert(fabs(ev.baseline_mean - 0.9) < 0.03, "the reference was frozen during the alert");
    cr_assert_not(sl_drift_is_open(d));
    cr_assert_eq(feed(d, 0.9, 10000, SL_DRIFT_RAISED, NULL), 0, "raised again after clearing");
    sl_drift_destroy(d);
}

Test(drift, stays_open_while_only_partly_recovered)
{
    struct sl_drift *d = create_default();

    feed(d, 0.9, 1000, SL_DRIFT_RAISED, NULL);
    cr_assert_gt(feed(d, 0.7, 1000, SL_DRIFT_RAISED, NULL), 0);
    cr_assert_eq(feed(d, 0.85, 5000, SL_DRIFT_CLEARED, NULL), 0);
    cr_assert(sl_drift_is_open(d));
    sl_drift_destroy(d);
}

Test(drift, nothing_is_raised_before_min_samples)
{
    struct sl_drift_config cfg;
    struct sl_drift *d;
    struct sl_drift_evidence ev;

    sl_drift_config_default(&cfg);
    cfg.min_samples = 300;
    cfg.holdout = 300;
    d = sl_drift_create(&cfg);
    cr_assert_not_null(d);
    /* Good, then nothing but failures: the reference is still being built. */
    cr_assert_eq(feed(d, 1.0, 200, SL_DRIFT_RAISED, NULL), 0);
    for (int i = 0; i < 99; i++)
        cr_assert_eq(sl_drift_add(d, 0, NULL), SL_DRIFT_NONE);
    cr_assert_not(sl_drift_is_open(d));
    /* From the 300th outcome on, the failures are tested against the reference. */
    cr_assert_gt(feed(d, 0.0, 100, SL_DRIFT_RAISED, &ev), 0);
    cr_assert_eq(ev.baseline_n, 300);
    sl_drift_destroy(d);
}

Test(drift, no_test_until_the_window_is_full)
{
    struct sl_drift_config cfg;
    struct sl_drift *d;
    struct sl_drift_evidence ev;

    sl_drift_config_default(&cfg);
    cfg.min_samples = 10;
    cfg.window = 50;
    cfg.holdout = 50;
    cfg.cusum_h = 1000; /* the CUSUM out of the way: only the drop test may raise */
    d = sl_drift_create(&cfg);
    feed(d, 1.0, 10, SL_DRIFT_RAISED, NULL);
    /* Failures against a reference of 10 passes: the drop test waits for a full window. */
    for (int i = 0; i < 39; i++)
        cr_assert_eq(sl_drift_add(d, 0, NULL), SL_DRIFT_NONE, "outcome %d", i);
    cr_assert_gt(feed(d, 0.0, 20, SL_DRIFT_RAISED, &ev), 0);
    cr_assert_str_eq(ev.detector, "drop");
    sl_drift_destroy(d);
}

/* P(K <= k) for K ~ BetaBinomial(n, a, b), summed directly. */
static double betabinom_cdf(int k, int n, double a, double b)
{
    double p = 0;

    for (int j = 0; j <= k; j++)
        p += exp(gsl_sf_lnchoose((unsigned)n, (unsigned)j) + gsl_sf_lnbeta(j + a, n - j + b) -
                 gsl_sf_lnbeta(a, b));
    return p;
}

Test(drift, drop_test_p_value_is_the_beta_binomial_tail)
{
    struct sl_drift_config cfg;
    struct sl_drift *d;
    struct sl_drift_evidence ev;
    int passes = 0, n = 0;

    sl_drift_config_default(&cfg);
    cfg.cusum_h = 1000;
    d = sl_drift_create(&cfg);
    /* 1000 outcomes, exactly 950 passes, then a window whose pass rate falls to 70%. */
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(sl_drift_add(d, i % 20 != 0, NULL), SL_DRIFT_NONE);
    for (; n < 200; n++) {
        double x = n % 10 < 7;
        passes += (int)x;
        if (sl_drift_add(d, x, &ev) == SL_DRIFT_RAISED)
            break;
    }
    cr_assert_lt(n, 200, "the drop test did not raise");
    cr_assert_str_eq(ev.detector, "drop");
    cr_assert_eq(ev.threshold, cfg.alpha);
    cr_assert_lt(ev.p_value, cfg.alpha);
    cr_assert_eq(ev.baseline_n, 1000);
    cr_assert_float_eq(ev.baseline_mean, 0.95, 1e-12);
    cr_assert_eq(ev.window_n, 200);
    /* The window: the reference's last 200 - (n + 1) outcomes, then the new ones. */
    {
        int k = passes;
        for (int i = 1000 - (200 - (n + 1)); i < 1000; i++)
            k += i % 20 != 0;
        double want = betabinom_cdf(k, 200, 950.5, 50.5);
        cr_assert_float_eq(ev.window_mean, k / 200.0, 1e-6);
        cr_assert(fabs(ev.p_value - want) <= 1e-6 * want, "p %g, want %g", ev.p_value, want);
    }
    cr_assert_gt(ev.statistic, 0);
    sl_drift_destroy(d);
}

Test(drift, grades_are_tested_with_their_own_variance)
{
    struct sl_drift *d = create_default();
    struct sl_drift_evidence ev;
    int at = 0;

    /* Grades around 0.8 (sd 0.1): a 10-point drop is many standard errors. */
    for (int i = 0; i < 10000; i++)
        cr_assert_eq(sl_drift_add(d, 0.8 + 0.1 * (gsl_rng_uniform(rng) - 0.5) * 3.46, NULL),
                     SL_DRIFT_NONE);
    for (int i = 1; i <= 500 && !at; i++)
        if (sl_drift_add(d, 0.7 + 0.1 * (gsl_rng_uniform(rng) - 0.5) * 3.46, &ev) ==
            SL_DRIFT_RAISED)
            at = i;
    cr_assert_gt(at, 0);
    cr_assert_lt(at, 200, "raised after %d outcomes", at);
    cr_assert_str_eq(ev.detector, "drop");
    sl_drift_destroy(d);
}

Test(drift, nan_is_ignored_and_values_are_clamped)
{
    struct sl_drift *d = create_default();
    struct sl_drift_evidence ev;

    cr_assert_eq(sl_drift_add(d, NAN, NULL), SL_DRIFT_NONE);
    cr_assert_eq(sl_drift_add(d, 7, NULL), SL_DRIFT_NONE);
    cr_assert_eq(sl_drift_add(d, -3, NULL), SL_DRIFT_NONE);
    sl_drift_evidence(d, &ev);
    cr_assert_eq(ev.samples, 2);
    cr_assert_float_eq(ev.baseline_mean, 0.5, 1e-12);
    cr_assert_str_eq(ev.detector, "");
    sl_drift_destroy(d);
}

Test(drift, forced_open_alert_clears_once_the_data_is_good)
{
    struct sl_drift *d = create_default();
    struct sl_drift_evidence ev;

    feed(d, 0.9, 3000, SL_DRIFT_RAISED, NULL);
    sl_drift_force_open(d, "drop");
    cr_assert(sl_drift_is_open(d));
    sl_drift_evidence(d, &ev);
    cr_assert_str_eq(ev.detector, "drop");
    cr_assert_eq(sl_drift_add(d, 1, NULL), SL_DRIFT_ONGOING);
    cr_assert_gt(feed(d, 0.9, 3000, SL_DRIFT_CLEARED, NULL), 0);
    sl_drift_destroy(d);
}

Test(drift, reset_forgets_the_reference)
{
    struct sl_drift *d = create_default();
    struct sl_drift_evidence ev;

    feed(d, 0.9, 1000, SL_DRIFT_RAISED, NULL);
    cr_assert_gt(feed(d, 0.5, 500, SL_DRIFT_RAISED, NULL), 0);
    sl_drift_reset(d);
    cr_assert_not(sl_drift_is_open(d));
    sl_drift_evidence(d, &ev);
    cr_assert_eq(ev.samples, 0);
    cr_assert_eq(ev.baseline_n, 0);
    /* The new normal is 0.5: nothing to raise. */
    cr_assert_eq(feed(d, 0.5, 5000, SL_DRIFT_RAISED, NULL), 0);
    sl_drift_destroy(d);
}

Test(drift, config_is_checked)
{
    struct sl_drift_config cfg;
    char err[128] = "";

    sl_drift_config_default(&cfg);
    cr_assert_eq(sl_drift_config_check(&cfg, err, sizeof(err)), 0);
    cfg.window = cfg.holdout + 1;
    cr_assert_eq(sl_drift_config_check(&cfg, err, sizeof(err)), SL_EINVAL);
    cr_assert(strncmp(err, "holdout:", 8) == 0, "%s", err);
    cr_assert_null(sl_drift_create(&cfg));
    sl_drift_config_default(&cfg);
    cfg.alpha = 0;
    cr_assert_eq(sl_drift_config_check(&cfg, err, sizeof(err)), SL_EINVAL);
    cr_assert(strncmp(err, "alpha:", 6) == 0, "%s", err);
    sl_drift_config_default(&cfg);
    cfg.min_samples = cfg.baseline_n + 1;
    cr_assert_eq(sl_drift_config_check(&cfg, err, sizeof(err)), SL_EINVAL);
    sl_drift_destroy(NULL);
}
