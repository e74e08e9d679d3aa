/* sluicectl ab ROUTE: one SQL query over eval.db folds the samples of each arm as sluicectl
 * quality does (the shared per-sample expression of ctl_quality.h), with the costs' mean and
 * spread (two passes: the mean first, then squared deviations from it, which loses no
 * precision to cancellation); the tests against the control are common/abtest's. */
#include "ctl_ab.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctl.h"
#include "ctl_table.h"
#include "evaldb.h"

#define CONTROL "control"

/* ?1 ?2: the window; ?3: the route. An arm is a sample's non-empty arm. */
static const char query[] =
    "WITH " SL_CTL_QUALITY_PER_SAMPLE ","
    " costs AS (SELECT arm, AVG(cost_usd) AS m FROM samples"
    "  WHERE route = ?3 AND ts_ms >= ?1 AND ts_ms < ?2 AND arm <> '' AND cost_usd >= 0"
    "  GROUP BY arm)"
    " SELECT s.arm, " SL_CTL_QUALITY_COLUMNS ","
    "  TOTAL(s.cost_usd >= 0),"
    "  TOTAL(CASE WHEN s.cost_usd >= 0 THEN s.cost_usd END),"
    "  TOTAL(CASE WHEN s.cost_usd >= 0 THEN (s.cost_usd - c.m) * (s.cost_usd - c.m) END),"
    "  TOTAL(s.tier <> '' AND s.tier = s.premium_tier)"
    " FROM samples s LEFT JOIN per p ON p.sid = s.id LEFT JOIN costs c ON c.arm = s.arm"
    " WHERE s.route = ?3 AND s.ts_ms >= ?1 AND s.ts_ms < ?2 AND s.arm <> ''"
    " GROUP BY s.arm ORDER BY s.arm";

void sl_ctl_ab_free(struct sl_ctl_ab *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->arms[i].name);
    free(r->arms);
    free(r->route);
    memset(r, 0, sizeof(*r));
}

/* No comparison: the control's own row. */
static void no_test(struct sl_abtest *t)
{
    *t = (struct sl_abtest){.diff = NAN, .p = NAN, .statistic = NAN, .df = NAN};
}

/* Reads one arm's row (column 0: its name). false when out of memory. */
static bool read_arm(sqlite3_stmt *st, struct sl_ctl_ab_arm *a)
{
    const int col = 1 + SL_CTL_QUALITY_N_COLUMNS;
    double cost_sum, cost_ss;

    memset(a, 0, sizeof(*a));
    if (!(a->name = strdup((const char *)sqlite3_column_text(st, 0))))
        return false;
    sl_ctl_quality_counts_read(st, 1, &a->c);
    sl_ctl_quality_counts_finish(&a->c);
    a->costed = sqlite3_column_int64(st, col);
    cost_sum = sqlite3_column_double(st, col + 1);
    cost_ss = sqlite3_column_double(st, col + 2);
    a->premium = sqlite3_column_int64(st, col + 3);
    a->cost_mean = a->costed > 0 ? cost_sum / (double)a->costed : NAN;
    a->cost_var = a->costed > 1 ? cost_ss / (double)(a->costed - 1) : NAN;
    a->premium_share = a->c.samples > 0 ? (double)a->premium / (double)a->c.samples : NAN;
    no_test(&a->pass);
    no_test(&a->cost);
    return true;
}

/* The control and every other arm's tests against it. */
static void compare(struct sl_ctl_ab *r)
{
    const struct sl_ctl_ab_arm *ctl;

    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->arms[i].name, CONTROL) == 0)
            r->control = i;
    ctl = &r->arms[r->control];
    for (size_t i = 0; i < r->n; i++) {
        struct sl_ctl_ab_arm *a = &r->arms[i];

        if (i == r->control)
            continue;
        sl_abtest_proportions((uint64_t)ctl->c.passed, (uint64_t)ctl->c.scored,
                              (uint64_t)a->c.passed, (uint64_t)a->c.scored, &a->pass);
        sl_abtest_means((uint64_t)ctl->costed, ctl->cost_mean, ctl->cost_var, (uint64_t)a->costed,
                        a->cost_mean, a->cost_var, &a->cost);
    }
}

int sl_ctl_ab_run(sqlite3 *db, const char *route, int64_t since_ms, int64_t until_ms,
                  struct sl_ctl_ab *r)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = 0, step;

    memset(r, 0, sizeof(*r));
    r->since_ms = since_ms;
    r->until_ms = until_ms;
    if (!(r->route = strdup(route))) {
        rc = SL_ENOMEM;
        goto out;
    }
    if (sqlite3_prepare_v2(db, query, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, since_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, until_ms) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, route, -1, SQLITE_STATIC) != SQLITE_OK) {
        rc = SL_EIO;
        goto out;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            struct sl_ctl_ab_arm *p = realloc(r->arms, ncap * sizeof(*p));
            if (!p) {
                rc = SL_ENOMEM;
                goto out;
            }
            r->arms = p;
            cap = ncap;
        }
        if (!read_arm(st, &r->arms[r->n])) {
            rc = SL_ENOMEM;
            goto out;
        }
        r->n++;
    }
    if (step != SQLITE_DONE) {
        rc = SL_EIO;
        goto out;
    }
    if (r->n > 0)
        compare(r);
out:
    sqlite3_finalize(st);
    if (rc)
        sl_ctl_ab_free(r);
    return rc;
}

/* ---- JSON ------------------------------------------------------------------------------- */

/* As in ctl_quality: cJSON's adders ignore a NULL object, and sluicectl's main makes cJSON
 * abort when out of memory rather than drop a member. */
static void test_json(cJSON *o, const char *name, const struct sl_abtest *t)
{
    cJSON *x = cJSON_AddObjectToObject(o, name);

    sl_ctl_json_number(x, "diff", t->diff);
    sl_ctl_json_number(x, "p", t->p);
    cJSON_AddStringToObject(x, "test", sl_abtest_method_name(t->method));
    cJSON_AddBoolToObject(x, "significant", t->significant);
    cJSON_AddBoolToObject(x, "too_few_samples", t->too_few);
}

cJSON *sl_ctl_ab_json(const struct sl_ctl_ab *r)
{
    cJSON *o = cJSON_CreateObject(), *arms;

    cJSON_AddStringToObject(o, "report", "ab");
    cJSON_AddStringToObject(o, "route", r->route);
    sl_ctl_json_time(o, "since", r->since_ms);
    sl_ctl_json_time(o, "until", r->until_ms);
    sl_ctl_json_string(o, "control", r->n > 0 ? r->arms[r->control].name : NULL);
    arms = cJSON_AddArrayToObject(o, "arms");
    for (size_t i = 0; arms && i < r->n; i++) {
        const struct sl_ctl_ab_arm *a = &r->arms[i];
        cJSON *row = cJSON_CreateObject(), *x;

        cJSON_AddStringToObject(row, "arm", a->name);
        sl_ctl_quality_counts_json(row, &a->c);
        x = cJSON_AddObjectToObject(row, "cost");
        cJSON_AddNumberToObject(x, "calls", (double)a->costed);
        sl_ctl_json_number(x, "mean_usd", a->cost_mean);
        sl_ctl_json_number(x, "variance", a->cost_var);
        x = cJSON_AddObjectToObject(row, "premium");
        cJSON_AddNumberToObject(x, "samples", (double)a->premium);
        sl_ctl_json_number(x, "share", a->premium_share);
        if (i == r->control) {
            cJSON_AddNullToObject(row, "against_control");
        } else {
            x = cJSON_AddObjectToObject(row, "against_control");
            test_json(x, "pass_rate", &a->pass);
            test_json(x, "cost_per_call", &a->cost);
        }
        cJSON_AddItemToArray(arms, row);
    }
    return o;
}

/* ---- tables ----------------------------------------------------------------------------- */

static void title(FILE *out, const struct sl_ctl_ab *r)
{
    fprintf(out, "A/B results of route %s", r->route);
    sl_ctl_print_window(out, r->since_ms, r->until_ms);
}

static void arms_table(struct sl_ctl_table *t, const struct sl_ctl_ab *r)
{
    sl_ctl_table_column(t, "arm", SL_CTL_LEFT);
    sl_ctl_table_column(t, "samples", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "scored", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "pass", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "grade", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "win", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "tie", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "loss", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "cost/call USD", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "premium", SL_CTL_RIGHT);
    for (size_t i = 0; i < r->n; i++) {
        const struct sl_ctl_ab_arm *a = &r->arms[i];

        sl_ctl_table_cell(t, a->name);
        sl_ctl_table_cellf(t, "%lld", (long long)a->c.samples);
        sl_ctl_table_cellf(t, "%lld", (long long)a->c.scored);
        sl_ctl_table_percent(t, a->c.pass_rate);
        if (isnan(a->c.grade_mean))
            sl_ctl_table_cell(t, NULL);
        else
            sl_ctl_table_cellf(t, "%.2f", a->c.grade_mean);
        sl_ctl_table_cellf(t, "%lld", (long long)a->c.wins);
        sl_ctl_table_cellf(t, "%lld", (long long)a->c.ties);
        sl_ctl_table_cellf(t, "%lld", (long long)a->c.losses);
        if (isnan(a->cost_mean))
            sl_ctl_table_cell(t, NULL);
        else
            sl_ctl_table_cellf(t, "%.6f", a->cost_mean);
        sl_ctl_table_percent(t, a->premium_share);
    }
}

static void p_cell(struct sl_ctl_table *t, double p)
{
    if (isnan(p))
        sl_ctl_table_cell(t, NULL);
    else if (p < 1e-4)
        sl_ctl_table_cell(t, "<0.0001");
    else
        sl_ctl_table_cellf(t, "%.4f", p);
}

static void verdict_cell(struct sl_ctl_table *t, const struct sl_abtest *x)
{
    if (x->too_few)
        sl_ctl_table_cell(t, "too few samples");
    else if (x->method == SL_ABTEST_NONE)
        sl_ctl_table_cell(t, NULL);
    else
        sl_ctl_table_cell(t, x->significant ? "yes" : "no");
}

static void tests_table(struct sl_ctl_table *t, const struct sl_ctl_ab *r)
{
    const struct sl_ctl_ab_arm *ctl = &r->arms[r->control];

    sl_ctl_table_column(t, "arm", SL_CTL_LEFT);
    sl_ctl_table_column(t, "pass diff", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "p", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "significant", SL_CTL_LEFT);
    sl_ctl_table_column(t, "cost/call diff USD", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "p", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "significant", SL_CTL_LEFT);
    for (size_t i = 0; i < r->n; i++) {
        const struct sl_ctl_ab_arm *a = &r->arms[i];

        if (i == r->control)
            continue;
        sl_ctl_table_cell(t, a->name);
        if (isnan(a->pass.diff))
            sl_ctl_table_cell(t, NULL);
        else
            sl_ctl_table_cellf(t, "%+.1f pp", 100 * a->pass.diff);
        p_cell(t, a->pass.p);
        verdict_cell(t, &a->pass);
        if (isnan(a->cost.diff))
            sl_ctl_table_cell(t, NULL);
        else if (ctl->cost_mean > 0)
            sl_ctl_table_cellf(t, "%+.6f (%+.1f%%)", a->cost.diff,
                               100 * a->cost.diff / ctl->cost_mean);
        else
            sl_ctl_table_cellf(t, "%+.6f", a->cost.diff);
        p_cell(t, a->cost.p);
        verdict_cell(t, &a->cost);
    }
}

int sl_ctl_ab_print(const struct sl_ctl_ab *r, FILE *out)
{
    struct sl_ctl_table *t = NULL;
    int rc = 0;

    title(out, r);
    if (r->n == 0) {
        fputs(": no samples with an A/B arm\n", out);
        goto out;
    }
    fprintf(out, "; control: %s\n", r->arms[r->control].name);
    if (!(t = sl_ctl_table_create())) {
        rc = SL_ENOMEM;
        goto out;
    }
    arms_table(t, r);
    if ((rc = sl_ctl_table_print(t, out)) != 0)
        goto out;
    fputs("pass: scored samples no scorer failed; grade: the judge's mean (0 to 1); "
          "win/tie/loss:\nshadow verdicts against the premium tier; cost/call: mean over "
          "samples with a cost;\npremium: share of samples the premium tier answered\n",
          out);
    if (r->n == 1) {
        fputs("\none arm only: nothing to compare\n", out);
        goto out;
    }
    sl_ctl_table_destroy(t);
    if (!(t = sl_ctl_table_create())) {
        rc = SL_ENOMEM;
        goto out;
    }
    fprintf(out, "\nagainst %s:\n", r->arms[r->control].name);
    tests_table(t, r);
    if ((rc = sl_ctl_table_print(t, out)) != 0)
        goto out;
    fprintf(out,
            "pass diff: Fisher's exact test (a z-test above %d scored samples per arm); "
            "cost/call\ndiff: Welch's t-test; p two-sided; significant: p < %.2f, with at least "
            "%d samples\nper arm\n",
            SL_ABTEST_Z_ABOVE, SL_ABTEST_ALPHA, SL_ABTEST_MIN_SAMPLES);
out:
    sl_ctl_table_destroy(t);
    return rc == 0 && ferror(out) ? SL_EIO : rc;
}

/* ---- the command ------------------------------------------------------------------------ */

static const int ab_options[] = {SL_CTL_OPT_DB, SL_CTL_OPT_SINCE, SL_CTL_OPT_UNTIL, SL_CTL_OPT_JSON,
                                 0};

static const struct sl_ctl_spec ab_spec = {
    "ab",
    "ab ROUTE [--since WHEN] [--until WHEN] [--db PATH] [--json]",
    "The results of ROUTE's A/B experiment, from the evaluator's scores of sampled traffic.\n"
    "Per arm: samples, those scored, the pass rate (a sample passes when no scorer failed\n"
    "it), the judge's mean grade, the shadow verdicts against the premium tier, the mean cost\n"
    "per call and the share of calls the premium tier answered. Then each arm against the\n"
    "control (the arm named \"control\", else the first by name): the difference in pass rate\n"
    "(Fisher's exact test; a z-test above 2000 scored samples per arm) and in mean cost\n"
    "(Welch's t-test), two-sided p-values, and whether the difference is significant\n"
    "(p < 0.05; never with fewer than 30 samples in an arm).\n"
    "\n"
    "  --since WHEN    samples from WHEN on: YYYY-MM-DD (00:00 UTC) or a relative 7d / 24h\n"
    "  --until WHEN    samples before WHEN (exclusive), same forms; default: now\n"
    "  --db PATH       the evaluator's database, opened read-only (default\n"
    "                  $SLUICE_DATA_DIR/eval.db, or data/eval.db when SLUICE_DATA_DIR is not set)\n"
    "  --json          one JSON document {\"arms\":[...]} instead of tables\n"
    "\n"
    "The controller changes a split: sluicectl ab promote ROUTE ARM, ab stop ROUTE ARM,\n"
    "ab set ROUTE FILE (sluicectl ab set --help). A route named promote, stop or set is\n"
    "reported with sluicectl ab -- ROUTE.\n",
    ab_options,
    1,
    1,
};

int sl_ctl_ab_cmd(int argc, char **argv, FILE *out, FILE *err)
{
    struct sl_ctl_ab r;
    struct sl_ctl_args a;
    sqlite3 *db;
    char path[4096], msg[512];
    int status, rc, wrc = 0;

    if ((status = sl_ctl_parse(&ab_spec, argc, argv, sl_clock_wall_ms(), &a, out, err)) !=
        SL_CTL_RUN)
        return status;
    if (!*a.args[0])
        return sl_ctl_usage(&ab_spec, err, "the ROUTE is empty");
    if (a.db)
        snprintf(path, sizeof(path), "%s", a.db);
    else
        sl_ctl_default_evaldb(path, sizeof(path));
    if (!(db = sl_evaldb_open(path, true, msg, sizeof(msg))))
        return sl_ctl_fail(err, "%s", msg);
    if ((rc = sl_ctl_ab_run(db, a.args[0], a.since_ms, a.until_ms, &r)) == 0) {
        wrc = a.json ? sl_ctl_print_json(sl_ctl_ab_json(&r), out) : sl_ctl_ab_print(&r, out);
        sl_ctl_ab_free(&r);
    }
    status = sl_ctl_report_status(out, err, path, sqlite3_errmsg(db), rc, wrc);
    sqlite3_close(db);
    return status;
}
