/* Quality drift of one condition (a tier, a route, a model, an A/B arm): a detector over its
 * stream of outcomes in [0, 1] (1 pass, 0 fail, or a grade) that raises when quality drops
 * and clears when it has recovered. The caller owns each sl_drift (sl_drift_create /
 * sl_drift_destroy); the config is copied, and evidence holds only static strings. Not
 * thread-safe: one sl_drift is used by one thread.
 *
 * The reference is what the condition's quality normally is: the mean of its outcomes but
 * the newest `holdout` ones (held out so that a drop cannot dilute its own reference before
 * it is detected), cumulative up to baseline_n outcomes and from then on exponentially
 * weighted with that effective length. It is frozen while an alert is open, and while the
 * CUSUM is past half its threshold. Until it holds min_samples outcomes nothing is tested
 * (and outcomes join it at once); then two detectors watch every outcome:
 *   "cusum" Page's CUSUM of the Bernoulli log-likelihood ratio of "the pass rate fell by
 *           2 cusum_k" against "it is the reference's p0" (less `margin` standard errors
 *           of the reference's mean): each outcome x adds
 *           x ln(p1/p0) + (1 - x) ln((1 - p1)/(1 - p0)), p1 = max(p0 - 2 cusum_k, p0 / 2),
 *           p0 clamped to [0.01, 0.99]. That is c (p0 - x - k') with c > 0 and k' close to
 *           cusum_k: the CUSUM of (baseline - x - k) in nats, so one threshold cusum_h fits
 *           every pass rate. Raises when the sum reaches cusum_h. The quickest detector of a
 *           drop of that size for a given false-alarm rate (Lorden, Moustakides), and it
 *           accumulates gradual drops.
 *   "drop"  a one-sided test of the newest `window` outcomes against the reference: for
 *           pass/fail the beta-binomial predictive P(passes <= k) given the reference's
 *           counts (exact at any pass rate, and the reference's own uncertainty included);
 *           for grades a pooled-variance z-test. Raises when the p-value is below alpha. For
 *           pass/fail the CUSUM nearly always raises first; this test gives an alert
 *           evidence in plain terms (window against reference, p-value), and for grades,
 *           whose variance is below the Bernoulli's the CUSUM assumes, it is the faster one.
 * While an alert is open the CUSUM tracks recovery instead: held at 3/4 cusum_h, it takes the
 * log-likelihood ratio of a drop of only cusum_k, so it drains to 0 once the pass rate is
 * back within about cusum_k / 2 of the reference, and not while it stays cusum_k or more
 * below. The alert clears when it has drained and the window is no longer below the
 * reference at the looser level alpha_clear. Raising needs the pass rate cusum_k below the
 * reference, clearing needs it within cusum_k / 2, and the CUSUM must climb from 0 to cusum_h
 * again to raise again, so alerts do not flap (the figures are in drift.c). Severity is "critical"
 * when the window's mean is at least critical_drop below the reference, "warning" otherwise.
 *
 * Calibration. Both tests run after every outcome, so alpha and cusum_h are not per-run
 * rates. The defaults were set by simulating this code (tests/bench/bench_drift.c): in
 * stationary runs of 10,000 pass/fail outcomes from an empty detector, at pass rates 0.5,
 * 0.7, 0.8, 0.9, 0.95 and 0.99, at most 1 run in 100 raises an alert, both detectors
 * together; most such alerts come while the reference is short (1,000 - 3,000 outcomes),
 * which is what sets cusum_h. The figures are with sl_drift_config_default in drift.c. Change
 * a default only with a new simulation. */
#ifndef SL_DRIFT_H
#define SL_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct sl_drift_config {
    int baseline_n;       /* the reference's effective length, outcomes (5000) */
    int holdout;          /* newest outcomes kept out of the reference (1000) */
    int window;           /* outcomes in the drop test's window (200); <= holdout */
    int min_samples;      /* outcomes in the reference before anything may raise (1000) */
    double alpha;         /* the drop test's one-sided level, per test (1e-6; see Calibration) */
    double alpha_clear;   /* to clear, the window's p-value must be at least this (0.05) */
    double cusum_k;       /* half the drop the CUSUM is tuned to (0.05: a 10-point drop) */
    double cusum_h;       /* the CUSUM's threshold, nats (12; see Calibration) */
    double margin;        /* the CUSUM's p0 is the reference lowered by this many standard
                             errors (0: calibration found a higher cusum_h better) */
    double critical_drop; /* severity "critical" when reference - window mean >= this (0.2) */
};

/* Fills c with the calibrated defaults. */
void sl_drift_config_default(struct sl_drift_config *c);
/* 0 when c is usable; SL_EINVAL with "field: what is wrong" in err otherwise. */
int sl_drift_config_check(const struct sl_drift_config *c, char *err, size_t errlen) SL_MUST_CHECK;

enum sl_drift_event {
    SL_DRIFT_NONE,    /* no alert, none raised */
    SL_DRIFT_RAISED,  /* this outcome opened an alert */
    SL_DRIFT_ONGOING, /* an alert is open and stays open */
    SL_DRIFT_CLEARED, /* this outcome closed the open alert */
};

/* Why an event happened, or the current state for ONGOING / CLEARED. The strings are
 * static. */
struct sl_drift_evidence {
    const char *detector; /* "drop" or "cusum": the detector that raised the alert */
    const char *severity; /* "warning" or "critical" */
    long baseline_n;      /* outcomes in the reference (their weight: baseline_n at most) */
    double baseline_mean; /* the reference's mean */
    int window_n;         /* outcomes in the window */
    double window_mean;   /* their mean */
    double statistic;     /* drop: the z score; cusum: the sum, nats (open: the recovery sum) */
    double p_value;       /* drop: one-sided p-value; cusum: NaN */
    double threshold;     /* drop: alpha; cusum: cusum_h */
    int64_t samples;      /* outcomes seen since creation (or the last reset) */
};

struct sl_drift;

/* A detector with an empty history; NULL when out of memory or cfg fails
 * sl_drift_config_check. */
struct sl_drift *sl_drift_create(const struct sl_drift_config *cfg);
void sl_drift_destroy(struct sl_drift *d);

/* Adds one outcome x (clamped to [0, 1]; NaN is ignored) and says what it changed. ev, when
 * not NULL, is filled for every event but NONE. */
enum sl_drift_event sl_drift_add(struct sl_drift *d, double x, struct sl_drift_evidence *ev);

/* Opens an alert without evidence of its own: for a restart that found an alert still open.
 * The reference is frozen as it is and the CUSUM held at 3/4 cusum_h, as for any open alert,
 * so it clears only after a recovery. detector is "drop" or "cusum" (anything else:
 * "cusum"). Does nothing when an alert is open already. */
void sl_drift_force_open(struct sl_drift *d, const char *detector);

/* Is an alert open? */
bool sl_drift_is_open(const struct sl_drift *d);
/* The current state as evidence (detector "" when no alert is open). */
void sl_drift_evidence(const struct sl_drift *d, struct sl_drift_evidence *ev);

/* Forgets everything: the next outcomes build a new reference. For a condition whose change
 * was accepted as the new normal. */
void sl_drift_reset(struct sl_drift *d);

#endif
