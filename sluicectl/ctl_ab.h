/* sluicectl ab ROUTE: an A/B experiment's results from eval.db (common/evaldb.h). Per arm of
 * the route (samples whose arm is not empty): quality counted as sluicectl quality counts it
 * (ctl_quality.h), the mean cost per call and the premium tier's share; and each arm against
 * the control arm (the one named "control", else the first by name), with p-values
 * (common/abtest.h). The report owns its strings and arms and is released with
 * sl_ctl_ab_free; the JSON document is the caller's to delete. */
#ifndef SL_CTL_AB_H
#define SL_CTL_AB_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "abtest.h"
#include "ctl_quality.h"
#include "errors.h"

struct sl_ctl_ab_arm {
    char *name;
    struct sl_ctl_quality_counts c; /* samples, pass rate, judge grade, shadow verdicts */
    int64_t costed;                 /* samples with a cost (cost_usd >= 0) */
    double cost_mean;               /* their mean cost per call, USD; NAN when none */
    double cost_var;                /* its sample variance (divisor n - 1); NAN under 2 */
    int64_t premium;                /* samples the route's premium tier answered */
    double premium_share;           /* premium / samples */
    /* Against the control: pass rate (passed of scored) and mean cost per call. For the
     * control itself, method SL_ABTEST_NONE. */
    struct sl_abtest pass, cost;
};

struct sl_ctl_ab {
    char *route;
    int64_t since_ms, until_ms; /* samples' ts_ms in [since, until); INT64_MIN/MAX: open */
    struct sl_ctl_ab_arm *arms; /* by name */
    size_t n;
    size_t control; /* the control's index; 0 when there are no arms */
};

/* The results of route over samples with ts_ms in [since_ms, until_ms). SL_EIO when SQLite
 * fails (sqlite3_errmsg(db) says why), SL_ENOMEM; on failure r holds nothing to free. */
int sl_ctl_ab_run(sqlite3 *db, const char *route, int64_t since_ms, int64_t until_ms,
                  struct sl_ctl_ab *r) SL_MUST_CHECK;
void sl_ctl_ab_free(struct sl_ctl_ab *r);

/* {"report": "ab", "route", "since", "until", "control", "arms": [{"arm", the counts of
 * sluicectl quality's rows, "cost": {"calls", "mean_usd", "variance"}, "premium": {"samples",
 * "share"}, "against_control": null for the control, else {"pass_rate", "cost_per_call"}: each
 * {"diff", "p", "test": "fisher"|"z"|"welch"|"none", "significant", "too_few_samples"}}]};
 * undefined numbers are null. */
cJSON *sl_ctl_ab_json(const struct sl_ctl_ab *r);
/* Two tables: the arms, then each arm against the control. SL_ENOMEM, SL_EIO. */
int sl_ctl_ab_print(const struct sl_ctl_ab *r, FILE *out) SL_MUST_CHECK;

/* sluicectl ab ROUTE ARGS (argv[0] is "ab"): the exit status. */
int sl_ctl_ab_cmd(int argc, char **argv, FILE *out, FILE *err);

#endif
