/* Tests for sluicectl/report: spend, savings and routes over a small audit log whose answers
 * are worked out by hand in the comments, their JSON, and the commands' exit statuses. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditdb.h"
#include "report.h"

#define DAY_MS  86400000LL
#define HOUR_MS 3600000LL
#define D0      1730419200000LL /* 2024-11-01 00:00 UTC */
#define EPS     1e-9

static char dir[64];
static char path[128];
static struct sl_auditdb db;

struct spec {
    int64_t ts_ms;
    const char *team, *key, *model, *route, *tier;
    int status;
    int64_t tokens_in, tokens_out;
    double cost, premium;
    int64_t overhead_us;
};

static void insert(const struct spec *s)
{
    struct sl_audit_row r = {
        .ts_ms = s->ts_ms,
        .status = s->status,
        .attempts = 1,
        .tokens_in = s->tokens_in,
        .tokens_out = s->tokens_out,
        .tokens_cached = -1,
        .cost_usd = s->cost,
        .premium_cost_usd = s->premium,
        .upstream_us = 1000,
        .overhead_us = s->overhead_us,
    };
    snprintf(r.team, sizeof(r.team), "%s", s->team);
    snprintf(r.key_id, sizeof(r.key_id), "%s", s->key);
    snprintf(r.model, sizeof(r.model), "%s", s->model);
    snprintf(r.model_requested, sizeof(r.model_requested), "%s", *s->route ? s->route : s->model);
    snprintf(r.route, sizeof(r.route), "%s", s->route);
    snprintf(r.tier, sizeof(r.tier), "%s", s->tier);
    snprintf(r.endpoint, sizeof(r.endpoint), "chat");
    cr_assert_eq(sl_auditdb_insert(&db, &r), 0, "%s", sqlite3_errmsg(db.db));
}

/* The fixture's requests. The window [D0, D0 + 3 days) holds rows 1-11; row 12 is the day
 * before. -1: unknown ("" strings are stored as NULL). */
static const struct spec rows[] = {
    /* team search, key key_s1, day 1 */
    {D0 + 1 * HOUR_MS, "search", "key_s1", "gpt-4o-mini", "auto", "small", 200, 100, 50, 0.001,
     0.01, 100},
    {D0 + 2 * HOUR_MS, "search", "key_s1", "gpt-4o", "auto", "large", 200, 200, 100, 0.02, 0.02,
     300},
    {D0 + 3 * HOUR_MS, "search", "key_s1", "gpt-4o-mini", "auto", "small", 200, 100, 20, -1, 0.005,
     200}, /* unpriced */
    {D0 + 4 * HOUR_MS, "search", "key_s1", "gpt-4o-mini", "", "", 200, 10, 10, 0.0005, -1, 50},
    {D0 + 5 * HOUR_MS, "search", "key_s1", "gpt-4o-mini", "auto", "small", 502, -1, -1, -1, -1,
     400},
    /* team search, key key_s2, day 2 */
    {D0 + DAY_MS + 1 * HOUR_MS, "search", "key_s2", "gpt-4o", "", "", 200, 1000, 500, 0.05, -1, 80},
    {D0 + DAY_MS + 2 * HOUR_MS, "search", "key_s2", "local-llama", "code", "small", 200, 300, 300,
     -1, 0.03, 120}, /* unpriced */
    /* team ads, key key_a1, days 2 and 3 */
    {D0 + DAY_MS + 3 * HOUR_MS, "ads", "key_a1", "gpt-4o", "code", "large", 200, 500, 500, 0.1, 0.1,
     90},
    {D0 + 2 * DAY_MS + 1 * HOUR_MS, "ads", "key_a1", "", "code", "", 429, -1, -1, -1, -1, 30},
    {D0 + 2 * DAY_MS + 2 * HOUR_MS, "ads", "key_a1", "gpt-4o-mini", "code", "small", 200, 100, 100,
     0.002, 0.02, 60},
    /* no key */
    {D0 + 2 * DAY_MS + 3 * HOUR_MS, "", "", "", "", "", 401, -1, -1, -1, -1, 10},
    /* before the window */
    {D0 - DAY_MS, "search", "key_s1", "gpt-4o", "auto", "large", 200, 1, 1, 5.0, 5.0, 1000},
};

static void setup(void)
{
    char err[256] = "";

    snprintf(dir, sizeof(dir), "/tmp/sluice-test-report-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/audit.db", dir);
    cr_assert_eq(sl_auditdb_open(&db, path, false, err, sizeof(err)), 0, "%s", err);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        insert(&rows[i]);
}

static void teardown(void)
{
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};

    sl_auditdb_close(&db);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(report, .init = setup, .fini = teardown);

static struct sl_report_filter window(void)
{
    struct sl_report_filter f;

    sl_report_filter_init(&f);
    f.since_ms = D0;
    f.until_ms = D0 + 3 * DAY_MS;
    return f;
}

static void assert_str(const char *got, const char *want)
{
    if (!want)
        cr_assert_null(got, "got \"%s\", want NULL", got);
    else
        cr_assert(got && strcmp(got, want) == 0, "got \"%s\", want \"%s\"", got ? got : "(null)",
                  want);
}

/* ---- spend ---- */

Test(report, spend_by_team_sums_and_sorts_by_cost)
{
    struct sl_report_filter f = window();
    struct sl_report_spend r;

    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_TEAM, &f, &r), 0);
    cr_assert_eq(r.n, 3);
    /* ads: rows 8-10 */
    assert_str(r.rows[0].group, "ads");
    cr_assert_eq(r.rows[0].requests, 3);
    cr_assert_eq(r.rows[0].errors, 1);
    cr_assert_eq(r.rows[0].tokens_in, 600);
    cr_assert_eq(r.rows[0].tokens_out, 600);
    cr_assert_float_eq(r.rows[0].cost_usd, 0.102, EPS);
    cr_assert_eq(r.rows[0].unpriced, 0);
    /* search: rows 1-7; unpriced rows 3 and 7, not the failed row 5 */
    assert_str(r.rows[1].group, "search");
    cr_assert_eq(r.rows[1].requests, 7);
    cr_assert_eq(r.rows[1].errors, 1);
    cr_assert_eq(r.rows[1].tokens_in, 1710);
    cr_assert_eq(r.rows[1].tokens_out, 980);
    cr_assert_float_eq(r.rows[1].cost_usd, 0.0715, EPS);
    cr_assert_eq(r.rows[1].unpriced, 2);
    /* the request without a key */
    assert_str(r.rows[2].group, NULL);
    cr_assert_eq(r.rows[2].requests, 1);
    cr_assert_eq(r.rows[2].errors, 1);
    cr_assert_float_eq(r.rows[2].cost_usd, 0, EPS);

    cr_assert_eq(r.totals.requests, 11);
    cr_assert_eq(r.totals.errors, 3);
    cr_assert_eq(r.totals.tokens_in, 2310);
    cr_assert_eq(r.totals.tokens_out, 1580);
    cr_assert_float_eq(r.totals.cost_usd, 0.1735, EPS);
    cr_assert_eq(r.totals.unpriced, 2);
    sl_report_spend_free(&r);
}

Test(report, spend_without_a_window_covers_every_row)
{
    struct sl_report_filter f;
    struct sl_report_spend r;

    sl_report_filter_init(&f);
    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_TEAM, &f, &r), 0);
    assert_str(r.rows[0].group, "search");
    cr_assert_eq(r.rows[0].requests, 8);
    cr_assert_float_eq(r.rows[0].cost_usd, 5.0715, EPS);
    cr_assert_eq(r.totals.requests, 12);
    sl_report_spend_free(&r);
}

Test(report, spend_window_end_is_exclusive)
{
    struct sl_report_filter f;
    struct sl_report_spend r;

    sl_report_filter_init(&f);
    f.since_ms = D0 + 1 * HOUR_MS; /* row 1 exactly: included */
    f.until_ms = D0 + 2 * HOUR_MS; /* row 2 exactly: excluded */
    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_TEAM, &f, &r), 0);
    cr_assert_eq(r.totals.requests, 1);
    cr_assert_float_eq(r.totals.cost_usd, 0.001, EPS);
    sl_report_spend_free(&r);
}

Test(report, spend_by_key_carries_the_team)
{
    struct sl_report_filter f = window();
    struct sl_report_spend r;

    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_KEY, &f, &r), 0);
    cr_assert_eq(r.n, 4);
    assert_str(r.rows[0].group, "key_a1");
    assert_str(r.rows[0].team, "ads");
    assert_str(r.rows[1].group, "key_s2");
    assert_str(r.rows[1].team, "search");
    cr_assert_float_eq(r.rows[1].cost_usd, 0.05, EPS);
    assert_str(r.rows[2].group, "key_s1");
    cr_assert_eq(r.rows[2].requests, 5);
    cr_assert_float_eq(r.rows[2].cost_usd, 0.0215, EPS);
    assert_str(r.rows[3].group, NULL);
    sl_report_spend_free(&r);
}

Test(report, spend_by_model_breaks_cost_ties_by_requests)
{
    struct sl_report_filter f = window();
    struct sl_report_spend r;

    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_MODEL, &f, &r), 0);
    cr_assert_eq(r.n, 4);
    assert_str(r.rows[0].group, "gpt-4o");
    cr_assert_eq(r.rows[0].requests, 3);
    cr_assert_float_eq(r.rows[0].cost_usd, 0.17, EPS);
    assert_str(r.rows[1].group, "gpt-4o-mini");
    cr_assert_eq(r.rows[1].requests, 5);
    cr_assert_float_eq(r.rows[1].cost_usd, 0.0035, EPS);
    cr_assert_eq(r.rows[1].unpriced, 1);
    /* cost 0 both: the 2 requests without a model before local-llama's 1 */
    assert_str(r.rows[2].group, NULL);
    cr_assert_eq(r.rows[2].requests, 2);
    assert_str(r.rows[3].group, "local-llama");
    cr_assert_eq(r.rows[3].unpriced, 1);
    sl_report_spend_free(&r);
}

Test(report, spend_by_day_is_in_date_order)
{
    struct sl_report_filter f;
    struct sl_report_spend r;

    sl_report_filter_init(&f);
    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_DAY, &f, &r), 0);
    cr_assert_eq(r.n, 4);
    assert_str(r.rows[0].group, "2024-10-31");
    assert_str(r.rows[1].group, "2024-11-01");
    cr_assert_eq(r.rows[1].requests, 5);
    assert_str(r.rows[2].group, "2024-11-02");
    cr_assert_eq(r.rows[2].requests, 3);
    cr_assert_float_eq(r.rows[2].cost_usd, 0.15, EPS);
    assert_str(r.rows[3].group, "2024-11-03");
    sl_report_spend_free(&r);
}

Test(report, spend_of_one_team)
{
    struct sl_report_filter f = window();
    struct sl_report_spend r;

    f.team = "ads";
    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_MODEL, &f, &r), 0);
    cr_assert_eq(r.n, 3);
    assert_str(r.rows[0].group, "gpt-4o");
    cr_assert_float_eq(r.rows[0].cost_usd, 0.1, EPS);
    cr_assert_eq(r.totals.requests, 3);
    cr_assert_float_eq(r.totals.cost_usd, 0.102, EPS);
    sl_report_spend_free(&r);
}

Test(report, spend_of_an_empty_window_is_zero)
{
    struct sl_report_filter f;
    struct sl_report_spend r;

    sl_report_filter_init(&f);
    f.since_ms = D0 + 10 * DAY_MS;
    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_TEAM, &f, &r), 0);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(r.totals.requests, 0);
    cr_assert_float_eq(r.totals.cost_usd, 0, EPS);
    sl_report_spend_free(&r);
}

Test(report, spend_refuses_by_route)
{
    struct sl_report_filter f = window();
    struct sl_report_spend r;

    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_ROUTE, &f, &r), SL_EINVAL);
}

Test(report, spend_json_shape)
{
    struct sl_report_filter f = window();
    struct sl_report_spend r;
    cJSON *doc, *row0, *totals;

    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_KEY, &f, &r), 0);
    doc = sl_report_spend_json(&r);
    sl_report_spend_free(&r);
    cr_assert_not_null(doc);
    assert_str(cJSON_GetObjectItem(doc, "report")->valuestring, "spend");
    assert_str(cJSON_GetObjectItem(doc, "by")->valuestring, "key");
    assert_str(cJSON_GetObjectItem(doc, "since")->valuestring, "2024-11-01T00:00:00.000Z");
    assert_str(cJSON_GetObjectItem(doc, "until")->valuestring, "2024-11-04T00:00:00.000Z");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(doc, "team")));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "rows")), 4);
    row0 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "rows"), 0);
    assert_str(cJSON_GetObjectItem(row0, "key")->valuestring, "key_a1");
    assert_str(cJSON_GetObjectItem(row0, "team")->valuestring, "ads");
    cr_assert_float_eq(cJSON_GetObjectItem(row0, "cost_usd")->valuedouble, 0.102, EPS);
    cr_assert(cJSON_IsNull(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "rows"), 3), "key")));
    totals = cJSON_GetObjectItem(doc, "totals");
    cr_assert_eq(cJSON_GetObjectItem(totals, "requests")->valueint, 11);
    cr_assert_eq(cJSON_GetObjectItem(totals, "unpriced")->valueint, 2);
    cr_assert_eq(cJSON_GetObjectItem(totals, "tokens_in")->valueint, 2310);
    cr_assert_null(cJSON_GetObjectItem(totals, "key"));
    cJSON_Delete(doc);
}

/* ---- savings ---- */

static int64_t tier_requests(const struct sl_report_tier *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (name ? t[i].name && strcmp(t[i].name, name) == 0 : !t[i].name)
            return t[i].requests;
    return 0;
}

Test(report, savings_by_route)
{
    struct sl_report_filter f = window();
    struct sl_report_savings r;

    cr_assert_eq(sl_report_savings(db.db, SL_REPORT_BY_ROUTE, &f, &r), 0);
    cr_assert_eq(r.n, 2);
    /* code: rows 7, 8, 10 answered; 8 and 10 priced both ways */
    assert_str(r.rows[0].group, "code");
    cr_assert_eq(r.rows[0].requests, 3);
    cr_assert_eq(r.rows[0].priced, 2);
    cr_assert_float_eq(r.rows[0].cost_usd, 0.102, EPS);
    cr_assert_float_eq(r.rows[0].premium_cost_usd, 0.12, EPS);
    cr_assert_float_eq(r.rows[0].saved_usd, 0.018, EPS);
    cr_assert_float_eq(r.rows[0].saved_fraction, 0.15, EPS);
    cr_assert_eq(tier_requests(r.rows[0].tiers, r.rows[0].n_tiers, "small"), 2);
    cr_assert_eq(tier_requests(r.rows[0].tiers, r.rows[0].n_tiers, "large"), 1);
    /* auto: rows 1-3 answered (5 failed); 1 and 2 priced */
    assert_str(r.rows[1].group, "auto");
    cr_assert_eq(r.rows[1].requests, 3);
    cr_assert_eq(r.rows[1].priced, 2);
    cr_assert_float_eq(r.rows[1].cost_usd, 0.021, EPS);
    cr_assert_float_eq(r.rows[1].premium_cost_usd, 0.03, EPS);
    cr_assert_float_eq(r.rows[1].saved_usd, 0.009, EPS);
    cr_assert_float_eq(r.rows[1].saved_fraction, 0.3, EPS);
    cr_assert_eq(r.rows[1].n_tiers, 2);
    assert_str(r.rows[1].tiers[0].name, "small"); /* most requests first */
    cr_assert_eq(r.rows[1].tiers[0].requests, 2);

    cr_assert_eq(r.totals.requests, 6);
    cr_assert_eq(r.totals.priced, 4);
    cr_assert_float_eq(r.totals.saved_usd, 0.027, EPS);
    cr_assert_float_eq(r.totals.saved_fraction, 0.18, EPS);
    cr_assert_eq(tier_requests(r.totals.tiers, r.totals.n_tiers, "small"), 4);
    cr_assert_eq(tier_requests(r.totals.tiers, r.totals.n_tiers, "large"), 2);
    sl_report_savings_free(&r);
}

Test(report, savings_by_team)
{
    struct sl_report_filter f = window();
    struct sl_report_savings r;

    cr_assert_eq(sl_report_savings(db.db, SL_REPORT_BY_TEAM, &f, &r), 0);
    cr_assert_eq(r.n, 2);
    assert_str(r.rows[0].group, "ads");
    cr_assert_eq(r.rows[0].requests, 2);
    cr_assert_float_eq(r.rows[0].saved_usd, 0.018, EPS);
    assert_str(r.rows[1].group, "search");
    cr_assert_eq(r.rows[1].requests, 4);
    cr_assert_eq(r.rows[1].priced, 2);
    cr_assert_eq(tier_requests(r.rows[1].tiers, r.rows[1].n_tiers, "small"), 3);
    sl_report_savings_free(&r);
}

Test(report, savings_without_priced_rows_has_no_fraction)
{
    struct sl_report_filter f;
    struct sl_report_savings r;
    cJSON *doc;

    sl_report_filter_init(&f);
    f.since_ms = D0 + 10 * DAY_MS;
    cr_assert_eq(sl_report_savings(db.db, SL_REPORT_BY_ROUTE, &f, &r), 0);
    cr_assert_eq(r.n, 0);
    cr_assert(isnan(r.totals.saved_fraction));
    doc = sl_report_savings_json(&r);
    cr_assert(
        cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "totals"), "saved_fraction")));
    cJSON_Delete(doc);
    sl_report_savings_free(&r);
}

Test(report, savings_json_has_tiers_with_shares)
{
    struct sl_report_filter f = window();
    struct sl_report_savings r;
    cJSON *doc, *auto_row, *small;

    cr_assert_eq(sl_report_savings(db.db, SL_REPORT_BY_ROUTE, &f, &r), 0);
    doc = sl_report_savings_json(&r);
    sl_report_savings_free(&r);
    auto_row = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "rows"), 1);
    assert_str(cJSON_GetObjectItem(auto_row, "route")->valuestring, "auto");
    cr_assert_float_eq(cJSON_GetObjectItem(auto_row, "saved_fraction")->valuedouble, 0.3, EPS);
    small = cJSON_GetObjectItem(cJSON_GetObjectItem(auto_row, "tiers"), "small");
    cr_assert_eq(cJSON_GetObjectItem(small, "requests")->valueint, 2);
    cr_assert_float_eq(cJSON_GetObjectItem(small, "share")->valuedouble, 2.0 / 3, EPS);
    cJSON_Delete(doc);
}

/* ---- routes ---- */

Test(report, routes_counts_tiers_percentiles_and_errors)
{
    struct sl_report_filter f = window();
    struct sl_report_routes r;

    cr_assert_eq(sl_report_routes(db.db, 10, &f, &r), 0);
    cr_assert_eq(r.n, 2);
    /* 4 requests each: by name */
    assert_str(r.rows[0].route, "auto");
    cr_assert_eq(r.rows[0].requests, 4);
    cr_assert_eq(r.rows[0].errors, 1);
    cr_assert_float_eq(r.rows[0].cost_usd, 0.021, EPS);
    cr_assert_eq(r.rows[0].overhead_p50_us, 200); /* of 100 200 300 400 */
    cr_assert_eq(r.rows[0].overhead_p95_us, 400);
    cr_assert_eq(tier_requests(r.rows[0].tiers, r.rows[0].n_tiers, "small"), 3);
    cr_assert_eq(tier_requests(r.rows[0].tiers, r.rows[0].n_tiers, "large"), 1);
    assert_str(r.rows[1].route, "code");
    cr_assert_eq(r.rows[1].errors, 1);
    cr_assert_eq(r.rows[1].overhead_p50_us, 60); /* of 30 60 90 120 */
    cr_assert_eq(r.rows[1].overhead_p95_us, 120);
    cr_assert_eq(tier_requests(r.rows[1].tiers, r.rows[1].n_tiers, NULL), 1); /* the 429 */

    cr_assert_eq(r.totals.requests, 8);
    cr_assert_eq(r.totals.errors, 2);
    cr_assert_eq(r.totals.overhead_p50_us, 100); /* 4th of 8 */
    cr_assert_eq(r.totals.overhead_p95_us, 400);
    sl_report_routes_free(&r);
}

Test(report, routes_top_limits_rows_not_totals)
{
    struct sl_report_filter f = window();
    struct sl_report_routes r;

    cr_assert_eq(sl_report_routes(db.db, 1, &f, &r), 0);
    cr_assert_eq(r.n, 1);
    assert_str(r.rows[0].route, "auto");
    cr_assert_eq(r.totals.requests, 8);
    sl_report_routes_free(&r);
}

Test(report, routes_percentiles_are_nearest_rank_over_known_overheads)
{
    struct sl_report_filter f;
    struct sl_report_routes r;

    /* Route "p": overheads 1..20 in a shuffled order, and two unknown (-1). */
    for (int i = 0; i < 22; i++) {
        struct spec s = {
            D0 + 5 * DAY_MS + i,           "t", "k", "m", "p", "small", 200, 1, 1, 0.0, 0.0,
            i < 20 ? (i * 7) % 20 + 1 : -1};
        insert(&s);
    }
    sl_report_filter_init(&f);
    f.since_ms = D0 + 5 * DAY_MS;
    cr_assert_eq(sl_report_routes(db.db, 5, &f, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.rows[0].requests, 22);
    cr_assert_eq(r.rows[0].overhead_p50_us, 10);
    cr_assert_eq(r.rows[0].overhead_p95_us, 19);
    sl_report_routes_free(&r);
}

Test(report, routes_json_shape)
{
    struct sl_report_filter f = window();
    struct sl_report_routes r;
    cJSON *doc, *code, *tiers;

    cr_assert_eq(sl_report_routes(db.db, 10, &f, &r), 0);
    doc = sl_report_routes_json(&r);
    sl_report_routes_free(&r);
    cr_assert_null(cJSON_GetObjectItem(doc, "by"));
    code = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "rows"), 1);
    assert_str(cJSON_GetObjectItem(code, "route")->valuestring, "code");
    cr_assert_eq(cJSON_GetObjectItem(code, "overhead_p50_us")->valueint, 60);
    cr_assert_float_eq(cJSON_GetObjectItem(code, "error_rate")->valuedouble, 0.25, EPS);
    tiers = cJSON_GetObjectItem(code, "tiers");
    cr_assert_float_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(tiers, "small"), "share")->valuedouble, 0.5, EPS);
    cr_assert_not_null(cJSON_GetObjectItem(tiers, "(none)"));
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "totals"), "requests")->valueint, 8);
    cJSON_Delete(doc);
}

/* ---- printing ---- */

static char *printed;

static FILE *open_out(void)
{
    static size_t len;
    free(printed);
    printed = NULL;
    return open_memstream(&printed, &len);
}

Test(report, spend_table_has_a_totals_line)
{
    struct sl_report_filter f = window();
    struct sl_report_spend r;
    FILE *out = open_out();

    cr_assert_eq(sl_report_spend(db.db, SL_REPORT_BY_TEAM, &f, &r), 0);
    cr_assert_eq(sl_report_spend_print(&r, out), 0);
    fclose(out);
    sl_report_spend_free(&r);
    cr_assert_not_null(strstr(printed, "spend by team, 2024-11-01 00:00 to 2024-11-04 00:00 UTC\n"),
                       "%s", printed);
    cr_assert_not_null(strstr(printed, "team    requests  errors  tokens in  tokens out  cost USD"
                                       "  unpriced\n"),
                       "%s", printed);
    cr_assert_not_null(strstr(printed, "ads            3       1        600         600  0.102000"),
                       "%s", printed);
    cr_assert_not_null(strstr(printed, "total         11       3       2310        1580  0.173500"
                                       "         2\n"),
                       "%s", printed);
    free(printed);
    printed = NULL;
}

Test(report, savings_and_routes_tables_have_a_column_per_tier)
{
    struct sl_report_filter f = window();
    struct sl_report_savings s;
    struct sl_report_routes r;
    FILE *out = open_out();

    cr_assert_eq(sl_report_savings(db.db, SL_REPORT_BY_ROUTE, &f, &s), 0);
    cr_assert_eq(sl_report_savings_print(&s, out), 0);
    cr_assert_eq(sl_report_routes(db.db, 10, &f, &r), 0);
    cr_assert_eq(sl_report_routes_print(&r, out), 0);
    fclose(out);
    sl_report_savings_free(&s);
    sl_report_routes_free(&r);
    cr_assert_not_null(strstr(printed, "saved  small  large\n"), "%s", printed);
    cr_assert_not_null(strstr(printed, "code          3       2  0.102000     0.120000   0.018000"
                                       "  15.0%      2      1\n"),
                       "%s", printed);
    cr_assert_not_null(strstr(printed, "auto               4  75.0%  25.0%    0.0%"), "%s",
                       printed);
    free(printed);
    printed = NULL;
}

/* ---- the commands ---- */

static char *out_text, *err_text;

/* Runs cmd with the NULL-terminated arguments; returns the exit status. */
static int run(int (*cmd)(int, char **, FILE *, FILE *), const char *name, ...)
{
    char *argv[32] = {(char *)name};
    int argc = 1, rc;
    size_t olen = 0, elen = 0;
    va_list ap;
    FILE *out, *err;

    va_start(ap, name);
    for (const char *a = va_arg(ap, const char *); a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    free(out_text);
    free(err_text);
    out = open_memstream(&out_text, &olen);
    err = open_memstream(&err_text, &elen);
    rc = cmd(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static void free_texts(void)
{
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
}

Test(report, spend_command_prints_json)
{
    cJSON *doc;

    cr_assert_eq(run(sl_report_spend_cmd, "spend", "--db", path, "--by", "day", "--since",
                     "2024-11-02", "--until", "2024-11-03", "--json", NULL),
                 0, "%s", err_text);
    doc = cJSON_Parse(out_text);
    cr_assert_not_null(doc, "%s", out_text);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "rows")), 1);
    assert_str(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "rows"), 0), "day")
                   ->valuestring,
               "2024-11-02");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "totals"), "requests")->valueint, 3);
    cJSON_Delete(doc);
    free_texts();
}

Test(report, routes_and_savings_commands_run)
{
    cr_assert_eq(run(sl_report_routes_cmd, "routes", "--db", path, "--top", "1", NULL), 0, "%s",
                 err_text);
    cr_assert_not_null(strstr(out_text, "all routes"), "%s", out_text);
    cr_assert_eq(run(sl_report_savings_cmd, "savings", "--db", path, "--by", "team", "--team",
                     "ads", "--json", NULL),
                 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "\"team\":\t\"ads\""), "%s", out_text);
    free_texts();
}

Test(report, a_missing_database_is_a_failure)
{
    cr_assert_eq(run(sl_report_spend_cmd, "spend", "--db", "/nonexistent/audit.db", NULL), 1);
    cr_assert_str_eq(
        err_text, "sluicectl: /nonexistent/audit.db: cannot open: unable to open database file\n");
    free_texts();
}

Test(report, the_default_database_is_in_the_data_dir)
{
    setenv("SLUICE_DATA_DIR", dir, 1);
    cr_assert_eq(run(sl_report_spend_cmd, "spend", "--json", NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "\"rows\""));
    free_texts();
}

Test(report, bad_options_are_usage_errors)
{
    cr_assert_eq(run(sl_report_spend_cmd, "spend", "--by", "route", NULL), 2);
    cr_assert_not_null(strstr(err_text, "sluicectl spend: --by: bad value \"route\""), "%s",
                       err_text);
    cr_assert_not_null(strstr(err_text, "\nusage: sluicectl spend [--by"), "%s", err_text);
    cr_assert_eq(run(sl_report_savings_cmd, "savings", "--by", "day", NULL), 2);
    cr_assert_eq(run(sl_report_routes_cmd, "routes", "--by", "team", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--by is not an option of this command"), "%s", err_text);
    cr_assert_eq(run(sl_report_routes_cmd, "routes", "--top", "0", NULL), 2);
    cr_assert_eq(run(sl_report_spend_cmd, "spend", "--since", "yesterday", NULL), 2);
    cr_assert_eq(run(sl_report_spend_cmd, "spend", "extra", NULL), 2);
    free_texts();
}

Test(report, help_goes_to_out_and_succeeds)
{
    cr_assert_eq(run(sl_report_savings_cmd, "savings", "--help", NULL), 0);
    cr_assert_eq(strncmp(out_text, "usage: sluicectl savings", 24), 0, "%s", out_text);
    cr_assert_str_eq(err_text, "");
    free_texts();
}
