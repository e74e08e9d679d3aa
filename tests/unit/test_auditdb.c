/* Tests for common/auditdb: rows and payloads round-trip, unknowns are NULL, team spending. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditdb.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-auditdb-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/audit.db", dir);
}

static void teardown(void)
{
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};

    for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(auditdb, .init = setup, .fini = teardown);

static void open_rw(struct sl_auditdb *a)
{
    char err[256] = "";
    cr_assert_eq(sl_auditdb_open(a, path, false, err, sizeof(err)), 0, "%s", err);
}

static struct sl_audit_row full_row(void)
{
    struct sl_audit_row r = {
        .ts_ms = 1767225600123,
        .config_version = 42,
        .status = 200,
        .attempts = 2,
        .tokens_in = 1234,
        .tokens_out = 567,
        .tokens_cached = 89,
        .tokens_estimated = true,
        .stream = true,
        .cost_usd = 0.00123,
        .premium_cost_usd = 0.0456,
        .upstream_us = 812345,
        .overhead_us = 321,
    };
    snprintf(r.request_id, sizeof(r.request_id), "req_0123456789abcdef");
    snprintf(r.team, sizeof(r.team), "search");
    snprintf(r.key_id, sizeof(r.key_id), "key_7f3a");
    snprintf(r.endpoint, sizeof(r.endpoint), "chat");
    snprintf(r.route, sizeof(r.route), "auto");
    snprintf(r.model_requested, sizeof(r.model_requested), "auto");
    snprintf(r.model, sizeof(r.model), "gpt-4o-mini");
    snprintf(r.tier, sizeof(r.tier), "small");
    snprintf(r.deployment, sizeof(r.deployment), "openai-eu-1");
    snprintf(r.arm, sizeof(r.arm), "B");
    snprintf(r.error, sizeof(r.error), "upstream_timeout");
    return r;
}

/* The one row of requests, as a prepared statement positioned on it. */
static sqlite3_stmt *select_row(sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st = NULL;

    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT ts_ms, request_id, team, key_id, endpoint, route,"
                                    " model_requested, model, tier, deployment, arm, error,"
                                    " config_version, status, attempts, tokens_in, tokens_out,"
                                    " tokens_cached, tokens_estimated, stream, cost_usd,"
                                    " premium_cost_usd, upstream_us, overhead_us"
                                    " FROM requests WHERE id = ?",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, id);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    return st;
}

static const char *text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int64_t count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t n;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

Test(auditdb, a_full_row_round_trips)
{
    struct sl_auditdb a;
    struct sl_audit_row r = full_row();
    sqlite3_stmt *st;

    open_rw(&a);
    cr_assert_eq(sl_auditdb_insert(&a, &r), 0, "%s", sqlite3_errmsg(a.db));
    st = select_row(a.db, sqlite3_last_insert_rowid(a.db));
    cr_assert_eq(sqlite3_column_int64(st, 0), r.ts_ms);
    cr_assert_str_eq(text(st, 1), "req_0123456789abcdef");
    cr_assert_str_eq(text(st, 2), "search");
    cr_assert_str_eq(text(st, 3), "key_7f3a");
    cr_assert_str_eq(text(st, 4), "chat");
    cr_assert_str_eq(text(st, 5), "auto");
    cr_assert_str_eq(text(st, 6), "auto");
    cr_assert_str_eq(text(st, 7), "gpt-4o-mini");
    cr_assert_str_eq(text(st, 8), "small");
    cr_assert_str_eq(text(st, 9), "openai-eu-1");
    cr_assert_str_eq(text(st, 10), "B");
    cr_assert_str_eq(text(st, 11), "upstream_timeout");
    cr_assert_eq(sqlite3_column_int64(st, 12), 42);
    cr_assert_eq(sqlite3_column_int(st, 13), 200);
    cr_assert_eq(sqlite3_column_int(st, 14), 2);
    cr_assert_eq(sqlite3_column_int64(st, 15), 1234);
    cr_assert_eq(sqlite3_column_int64(st, 16), 567);
    cr_assert_eq(sqlite3_column_int64(st, 17), 89);
    cr_assert_eq(sqlite3_column_int(st, 18), 1);
    cr_assert_eq(sqlite3_column_int(st, 19), 1);
    cr_assert_eq(sqlite3_column_double(st, 20), 0.00123);
    cr_assert_eq(sqlite3_column_double(st, 21), 0.0456);
    cr_assert_eq(sqlite3_column_int64(st, 22), 812345);
    cr_assert_eq(sqlite3_column_int64(st, 23), 321);
    sqlite3_finalize(st);
    cr_assert_eq(count(a.db, "SELECT count(*) FROM payloads"), 0);
    sl_auditdb_close(&a);
}

Test(auditdb, a_minimal_row_stores_unknowns_as_null)
{
    struct sl_auditdb a;
    struct sl_audit_row r = {
        .ts_ms = 1000,
        .status = 502,
        .attempts = 1,
        .tokens_in = -1,
        .tokens_out = -1,
        .tokens_cached = -1,
        .cost_usd = -1,
        .premium_cost_usd = -1,
    };
    sqlite3_stmt *st;

    open_rw(&a);
    cr_assert_eq(sl_auditdb_insert(&a, &r), 0, "%s", sqlite3_errmsg(a.db));
    st = select_row(a.db, sqlite3_last_insert_rowid(a.db));
    cr_assert_eq(sqlite3_column_int64(st, 0), 1000);
    for (int i = 1; i <= 11; i++) /* every string */
        cr_assert_eq(sqlite3_column_type(st, i), SQLITE_NULL, "column %d", i);
    for (int i = 15; i <= 17; i++) /* token counts */
        cr_assert_eq(sqlite3_column_type(st, i), SQLITE_NULL, "column %d", i);
    cr_assert_eq(sqlite3_column_type(st, 20), SQLITE_NULL);
    cr_assert_eq(sqlite3_column_type(st, 21), SQLITE_NULL);
    /* Numbers that are never unknown stay numbers, zeros included. */
    cr_assert_eq(sqlite3_column_type(st, 12), SQLITE_INTEGER);
    cr_assert_eq(sqlite3_column_int(st, 13), 502);
    cr_assert_eq(sqlite3_column_int(st, 18), 0);
    cr_assert_eq(sqlite3_column_int64(st, 22), 0);
    sqlite3_finalize(st);
    sl_auditdb_close(&a);
}

Test(auditdb, a_zero_cost_is_kept_as_zero)
{
    struct sl_auditdb a;
    struct sl_audit_row r = full_row();
    sqlite3_stmt *st;

    r.cost_usd = 0;
    open_rw(&a);
    cr_assert_eq(sl_auditdb_insert(&a, &r), 0);
    st = select_row(a.db, sqlite3_last_insert_rowid(a.db));
    cr_assert_eq(sqlite3_column_type(st, 20), SQLITE_FLOAT);
    cr_assert_eq(sqlite3_column_double(st, 20), 0.0);
    sqlite3_finalize(st);
    sl_auditdb_close(&a);
}

Test(auditdb, payloads_are_stored_only_when_present)
{
    struct sl_auditdb a;
    struct sl_audit_row r = full_row();
    sqlite3_stmt *st = NULL;
    int64_t with_prompt, with_both;

    open_rw(&a);
    cr_assert_eq(sl_auditdb_insert(&a, &r), 0); /* none */
    r.prompt = "What is 2+2?";
    cr_assert_eq(sl_auditdb_insert(&a, &r), 0);
    with_prompt = count(a.db, "SELECT max(id) FROM requests");
    r.prompt = NULL;
    cr_assert_eq(sl_auditdb_insert(&a, &r), 0); /* none again: the last binding is not reused */
    r.prompt = "Say hi";
    r.response = "Hi!";
    cr_assert_eq(sl_auditdb_insert(&a, &r), 0);
    with_both = count(a.db, "SELECT max(id) FROM requests");

    cr_assert_eq(count(a.db, "SELECT count(*) FROM requests"), 4);
    cr_assert_eq(count(a.db, "SELECT count(*) FROM payloads"), 2);
    cr_assert_eq(sqlite3_prepare_v2(a.db,
                                    "SELECT request_row, prompt, response FROM payloads"
                                    " ORDER BY request_row",
                                    -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int64(st, 0), with_prompt);
    cr_assert_str_eq(text(st, 1), "What is 2+2?");
    cr_assert_eq(sqlite3_column_type(st, 2), SQLITE_NULL);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int64(st, 0), with_both);
    cr_assert_str_eq(text(st, 1), "Say hi");
    cr_assert_str_eq(text(st, 2), "Hi!");
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sl_auditdb_close(&a);
}

Test(auditdb, a_string_that_fills_its_array_is_kept_whole)
{
    struct sl_auditdb a;
    struct sl_audit_row r = full_row();
    sqlite3_stmt *st;

    memset(r.arm, 'x', sizeof(r.arm) - 1);
    r.arm[sizeof(r.arm) - 1] = '\0';
    open_rw(&a);
    cr_assert_eq(sl_auditdb_insert(&a, &r), 0);
    st = select_row(a.db, sqlite3_last_insert_rowid(a.db));
    cr_assert_str_eq(text(st, 10), r.arm);
    sqlite3_finalize(st);
    sl_auditdb_close(&a);
}

struct spend {
    char team[8][64];
    double usd[8];
    int n;
};

static void collect(const char *team, double usd, void *arg)
{
    struct spend *s = arg;

    cr_assert_lt(s->n, 8);
    snprintf(s->team[s->n], sizeof(s->team[0]), "%s", team);
    s->usd[s->n++] = usd;
}

static double spent(const struct spend *s, const char *team)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->team[i], team) == 0)
            return s->usd[i];
    return NAN;
}

static void add_row(struct sl_auditdb *a, const char *team, int64_t ts_ms, double usd)
{
    struct sl_audit_row r = full_row();

    snprintf(r.team, sizeof(r.team), "%s", team);
    r.ts_ms = ts_ms;
    r.cost_usd = usd;
    cr_assert_eq(sl_auditdb_insert(a, &r), 0, "%s", sqlite3_errmsg(a->db));
}

Test(auditdb, team_spend_sums_each_team_since_a_time_and_skips_unknown_costs)
{
    struct sl_auditdb a, ro;
    struct spend s = {0};
    char err[256] = "";

    open_rw(&a);
    add_row(&a, "search", 1000, 1.0); /* before the window */
    add_row(&a, "search", 2000, 0.25);
    add_row(&a, "search", 3000, 0.5);
    add_row(&a, "search", 3000, -1); /* unpriced: NULL, not counted */
    add_row(&a, "chatbot", 2500, 2.0);
    add_row(&a, "chatbot", 2600, -1);
    add_row(&a, "", 2500, 9.0); /* no team */
    add_row(&a, "unpriced", 2700, -1);

    cr_assert_eq(sl_auditdb_team_spend(&a, 2000, collect, &s), 0);
    cr_assert_eq(s.n, 3);
    cr_assert_float_eq(spent(&s, "search"), 0.75, 1e-12);
    cr_assert_float_eq(spent(&s, "chatbot"), 2.0, 1e-12);
    cr_assert_eq(spent(&s, "unpriced"), 0.0); /* a team with only unknown costs spent $0 */
    sl_auditdb_close(&a);

    /* The proxy reads it back read-only at start-up. */
    cr_assert_eq(sl_auditdb_open(&ro, path, true, err, sizeof(err)), 0, "%s", err);
    cr_assert_null(ro.insert_row);
    s.n = 0;
    cr_assert_eq(sl_auditdb_team_spend(&ro, 0, collect, &s), 0);
    cr_assert_float_eq(spent(&s, "search"), 1.75, 1e-12);
    s.n = 0;
    cr_assert_eq(sl_auditdb_team_spend(&ro, 4000, collect, &s), 0);
    cr_assert_eq(s.n, 0);
    sl_auditdb_close(&ro);
}

Test(auditdb, opening_a_missing_file_read_only_fails_with_its_name)
{
    struct sl_auditdb a;
    char err[256] = "";

    cr_assert_neq(sl_auditdb_open(&a, path, true, err, sizeof(err)), 0);
    cr_assert(strstr(err, path) == err, "%s", err);
    cr_assert_null(a.db);
    sl_auditdb_close(&a); /* harmless after a failed open */
}
