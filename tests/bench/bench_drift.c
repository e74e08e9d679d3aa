/* bench-drift: the drift detector's detection delay and false-alarm rate, simulated with the
 * production code (evaluator/drift.c) and its default configuration.
 *
 *   bench-drift [--runs N] [--fa-runs N] [--seed S] [--pre B] [--horizon H] [config overrides]
 *
 * (a) Detection: N runs (1000) per pass rate p in {0.9, 0.8, 0.7}: B outcomes (5000) at p,
 *     then outcomes at p - 0.1; the delay is the number of outcomes after the change up to
 *     the one that raised. A run that raises before the change, or not within H outcomes
 *     (5000) after it, counts as never detecting (infinite delay). B = 5000 is a condition
 *     with some history, as a tier is after its first hours: its reference holds 4,000
 *     outcomes (the newest 1,000 are held out). Lines for B = 1000 (a condition as young as
 *     min_samples allows, whose reference is shortest) and for a 30-point drop follow, for
 *     information.
 * (b) False alarms: N runs (--fa-runs, 5000) per pass rate p in {0.5, 0.7, 0.8, 0.9, 0.95,
 *     0.99} of 10,000 outcomes at p from an empty detector; a run with any alert counts once.
 * (c) The bound: per pass rate, the same drop seen by a CUSUM that knows both pass rates, its
 *     threshold set so that 1 stationary run of 10,000 in 100 raises. No detector that has to
 *     learn the pass rate from the data does better, so a p95 over 500 there says that the
 *     target cannot be met at that pass rate, whatever the detector.
 * Outcomes are Bernoulli from GSL's MT19937, seeded per run from S, so a run is repeatable.
 * The last line is "detect_p95_samples=N false_alarms_per_100_runs=R": the p95 delay of the
 * drop from 0.90 in (a) ("inf" when over 5% of runs never detect), the pass rate at which the
 * target is judged (the bound puts 0.8 and 0.7 out of any detector's reach), and the worst
 * pass rate's false alarms per 100 runs. The overrides (--alpha, --h, --margin, --k, --window,
 * --holdout, --min-samples, --baseline-n) exist to calibrate the defaults; see drift.h. */
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift.h"

#define FA_LENGTH 10000

static const double detect_levels[] = {0.9, 0.8, 0.7};
static const double fa_levels[] = {0.5, 0.7, 0.8, 0.9, 0.95, 0.99};

static unsigned long run_seed(unsigned long seed, int level, int run)
{
    return seed * 1000003ul + (unsigned long)level * 7919ul + (unsigned long)run + 1;
}

/* Outcomes after the change (from p to p - drop) up to the one that raised; HUGE_VAL when
 * none did in time, -1 when one raised before the change. */
static double one_detection(const struct sl_drift_config *cfg, gsl_rng *r, double p, double drop,
                            int pre, int horizon)
{
    struct sl_drift *d = sl_drift_create(cfg);
    double delay = HUGE_VAL;

    if (!d) {
        fprintf(stderr, "bench-drift: invalid configuration\n");
        exit(2);
    }
    for (int i = 0; i < pre; i++)
        if (sl_drift_add(d, gsl_rng_uniform(r) < p, NULL) == SL_DRIFT_RAISED)
            goto early;
    for (int i = 1; i <= horizon; i++) {
        if (sl_drift_add(d, gsl_rng_uniform(r) < p - drop, NULL) == SL_DRIFT_RAISED) {
            delay = i;
            break;
        }
    }
    sl_drift_destroy(d);
    return delay;
early:
    sl_drift_destroy(d);
    return -1;
}

/* 0: no alert in the run; 1: the drop test raised; 2: the CUSUM did. */
static int one_false_alarm(const struct sl_drift_config *cfg, gsl_rng *r, double p)
{
    struct sl_drift *d = sl_drift_create(cfg);
    struct sl_drift_evidence ev;
    int raised = 0;

    for (int i = 0; i < FA_LENGTH && !raised; i++)
        if (sl_drift_add(d, gsl_rng_uniform(r) < p, &ev) == SL_DRIFT_RAISED)
            raised = strcmp(ev.detector, "drop") == 0 ? 1 : 2;
    sl_drift_destroy(d);
    return raised;
}

/* (c): the p95 delay of a CUSUM that knows p and p - drop. The threshold is the 99th
 * percentile of the statistic's maximum over stationary runs of FA_LENGTH. */
static double bound(gsl_rng *r, unsigned long seed, int level, double p, double drop, int runs,
                    int horizon)
{
    double up = log((p - drop) / p), down = log((1 - p + drop) / (1 - p)), h, p95;
    double *v = calloc((size_t)runs, sizeof(*v));

    if (!v)
        abort();
    for (int run = 0; run < runs; run++) {
        double s = 0, max = 0;
        gsl_rng_set(r, run_seed(seed + 2000, level, run));
        for (int i = 0; i < FA_LENGTH; i++) {
            s = fmax(0, s + (gsl_rng_uniform(r) < p ? up : down));
            max = fmax(max, s);
        }
        v[run] = max;
    }
    gsl_sort(v, 1, (size_t)runs);
    h = v[(size_t)ceil(0.99 * runs) - 1];
    for (int run = 0; run < runs; run++) {
        double s = 0;
        gsl_rng_set(r, run_seed(seed + 3000, level, run));
        v[run] = HUGE_VAL;
        for (int i = 1; i <= horizon; i++) {
            s = fmax(0, s + (gsl_rng_uniform(r) < p - drop ? up : down));
            if (s > h) {
                v[run] = i;
                break;
            }
        }
    }
    gsl_sort(v, 1, (size_t)runs);
    p95 = v[(size_t)ceil(0.95 * runs) - 1];
    printf("bound %.2f -> %.2f, CUSUM knowing both rates (h %.2f): p50 %.0f, p95 %.0f\n", p,
           p - drop, h, v[runs / 2], p95);
    free(v);
    return p95;
}

/* Runs (a) for one pass rate and drop, prints a line and returns the p95 delay. */
static double detection(const struct sl_drift_config *cfg, gsl_rng *r, unsigned long seed,
                        int level, double p, double drop, int runs, int pre, int horizon)
{
    double *delays = calloc((size_t)runs, sizeof(*delays)), p95;
    int never = 0, early = 0, within = 0;
    size_t i95 = (size_t)ceil(0.95 * runs) - 1;

    if (!delays)
        abort();
    for (int run = 0; run < runs; run++) {
        gsl_rng_set(r, run_seed(seed, level, run));
        delays[run] = one_detection(cfg, r, p, drop, pre, horizon);
        if (delays[run] < 0) {
            early++;
            delays[run] = HUGE_VAL;
        }
        never += isinf(delays[run]);
        within += delays[run] <= 500;
    }
    gsl_sort(delays, 1, (size_t)runs);
    p95 = delays[i95];
    printf("drop %.2f -> %.2f after %d: p50 %.0f, p95 %.0f, within 500: %.1f%%, never: %d of %d"
           " (%d raised before the change)\n",
           p, p - drop, pre, delays[runs / 2], p95, 100.0 * within / runs, never, runs, early);
    free(delays);
    return p95;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-drift [--runs N] [--fa-runs N] [--seed S] [--pre B]"
                    " [--horizon H] [--alpha A] [--h H] [--margin M] [--k K] [--window W]"
                    " [--holdout L] [--min-samples N] [--baseline-n N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct sl_drift_config cfg;
    int runs = 1000, fa_runs = 5000, pre = 5000, horizon = 5000;
    unsigned long seed = 1;
    double p95 = 0, worst_fa = 0;
    char err[128];
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);

    sl_drift_config_default(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (strcmp(o, "--runs") == 0)
            runs = atoi(v);
        else if (strcmp(o, "--fa-runs") == 0)
            fa_runs = atoi(v);
        else if (strcmp(o, "--seed") == 0)
            seed = strtoul(v, NULL, 10);
        else if (strcmp(o, "--pre") == 0)
            pre = atoi(v);
        else if (strcmp(o, "--horizon") == 0)
            horizon = atoi(v);
        else if (strcmp(o, "--alpha") == 0)
            cfg.alpha = atof(v);
        else if (strcmp(o, "--h") == 0)
            cfg.cusum_h = atof(v);
        else if (strcmp(o, "--margin") == 0)
            cfg.margin = atof(v);
        else if (strcmp(o, "--k") == 0)
            cfg.cusum_k = atof(v);
        else if (strcmp(o, "--window") == 0)
            cfg.window = atoi(v);
        else if (strcmp(o, "--holdout") == 0)
            cfg.holdout = atoi(v);
        else if (strcmp(o, "--min-samples") == 0)
            cfg.min_samples = atoi(v);
        else if (strcmp(o, "--baseline-n") == 0)
            cfg.baseline_n = atoi(v);
        else
            usage();
    }
    if (runs < 1 || fa_runs < 0 || pre < 0 || horizon < 1 || !r)
        usage();
    if (sl_drift_config_check(&cfg, err, sizeof(err))) {
        fprintf(stderr, "bench-drift: %s\n", err);
        return 2;
    }
    printf("config: baseline_n=%d holdout=%d window=%d min_samples=%d alpha=%g cusum_k=%g"
           " cusum_h=%g margin=%g; %d outcomes before each change\n",
           cfg.baseline_n, cfg.holdout, cfg.window, cfg.min_samples, cfg.alpha, cfg.cusum_k,
           cfg.cusum_h, cfg.margin, pre);

    for (size_t l = 0; l < sizeof(detect_levels) / sizeof(*detect_levels); l++) {
        double d = detection(&cfg, r, seed, (int)l, detect_levels[l], 0.1, runs, pre, horizon);
        if (l == 0)
            p95 = d;
    }
    /* Not part of the targets: a large, sudden drop, and drops in a condition as young as
     * min_samples allows. */
    (void)detection(&cfg, r, seed, 9, 0.9, 0.3, runs, pre, horizon);
    for (size_t l = 0; l < sizeof(detect_levels) / sizeof(*detect_levels) && pre != 1000; l++)
        (void)detection(&cfg, r, seed, 10 + (int)l, detect_levels[l], 0.1, runs, 1000, horizon);

    for (size_t l = 0; l < sizeof(detect_levels) / sizeof(*detect_levels); l++)
        (void)bound(r, seed, (int)l, detect_levels[l], 0.1, runs, horizon);

    for (size_t l = 0; l < sizeof(fa_levels) / sizeof(*fa_levels) && fa_runs; l++) {
        int alarms = 0, by[3] = {0};
        double per100;

        for (int run = 0; run < fa_runs; run++) {
            gsl_rng_set(r, run_seed(seed + 1000, (int)l, run));
            by[one_false_alarm(&cfg, r, fa_levels[l])]++;
        }
        alarms = by[1] + by[2];
        per100 = 100.0 * alarms / fa_runs;
        printf("stationary %.2f: %d of %d runs raised (%.2f per 100; drop %d, cusum %d)\n",
               fa_levels[l], alarms, fa_runs, per100, by[1], by[2]);
        if (per100 > worst_fa)
            worst_fa = per100;
    }
    gsl_rng_free(r);
    if (isinf(p95))
        printf("detect_p95_samples=inf false_alarms_per_100_runs=%g\n", worst_fa);
    else
        printf("detect_p95_samples=%.0f false_alarms_per_100_runs=%g\n", p95, worst_fa);
    return 0;
}
