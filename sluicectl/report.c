/* sluicectl spend, savings and routes: SQL over the audit log's requests table, the results as
 * JSON or tables. Totals are summed from the groups, so that the two can never disagree about
 * what counts, and the table is read once per measure. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "auditdb.h"
#include "buf.h"
#include "clock.h"
#include "ctl.h"
#include "ctl_table.h"

#define SQL_MAX 8192

/* Every query's window and team, bound as ?1 ?2 ?3; the two %s take TS(f). A negative cost,
 * token count or overhead means unknown as NULL does (the writer stores NULL; older rows may
 * hold -1). */
#define FILTER      "%s >= ?1 AND %s < ?2 AND (?3 IS NULL OR team = ?3)"
#define TS(f)       ts_column(f), ts_column(f)
#define ANSWERED    "status BETWEEN 200 AND 299"
#define BOTH_PRICED "cost_usd >= 0 AND premium_cost_usd >= 0"

void sl_report_filter_init(struct sl_report_filter *f)
{
    f->since_ms = INT64_MIN;
    f->until_ms = INT64_MAX;
    f->team = NULL;
}

static const char *const by_names[] = {
    [SL_REPORT_BY_TEAM] = "team", [SL_REPORT_BY_KEY] = "key",     [SL_REPORT_BY_MODEL] = "model",
    [SL_REPORT_BY_DAY] = "day",   [SL_REPORT_BY_ROUTE] = "route",
};

int sl_report_by_parse(const char *s, enum sl_report_by *by)
{
    int i = sl_ctl_lookup(s, by_names, sizeof(by_names) / sizeof(by_names[0]));

    if (i < 0)
        return SL_EINVAL;
    *by = (enum sl_report_by)i;
    return 0;
}

const char *sl_report_by_name(enum sl_report_by by)
{
    return (size_t)by < sizeof(by_names) / sizeof(by_names[0]) ? by_names[by] : "?";
}

/* Without a window every row is wanted, and reading the table in order beats going through
 * the ts_ms index, which SQLite would otherwise choose for the always-present range; "+" hides
 * the index from it. */
static const char *ts_column(const struct sl_report_filter *f)
{
    return f->since_ms == INT64_MIN && f->until_ms == INT64_MAX ? "+ts_ms" : "ts_ms";
}

/* The column a report groups by (SQL text from this file only, never from input). */
static const char *group_column(enum sl_report_by by)
{
    switch (by) {
    case SL_REPORT_BY_TEAM:
        return "team";
    case SL_REPORT_BY_KEY:
        return "key_id";
    case SL_REPORT_BY_MODEL:
        return "model";
    case SL_REPORT_BY_DAY:
        return "strftime('%Y-%m-%d', ts_ms / 1000, 'unixepoch')";
    case SL_REPORT_BY_ROUTE:
        return "route";
    }
    return "NULL";
}

/* Prepares the statement in sql and binds the filter; built is the result of writing sql
 * (an error is passed on). sql is released either way. SL_EIO, SL_ENOMEM, SL_ETOOBIG. */
static int prepare(sqlite3 *db, struct sl_buf *sql, int built, const struct sl_report_filter *f,
                   sqlite3_stmt **st)
{
    int rc = built;

    *st = NULL;
    if (rc == 0 && sqlite3_prepare_v2(db, sql->data, (int)sql->len, st, NULL) != SQLITE_OK)
        rc = SL_EIO;
    if (rc == 0 && (sqlite3_bind_int64(*st, 1, f->since_ms) != SQLITE_OK ||
                    sqlite3_bind_int64(*st, 2, f->until_ms) != SQLITE_OK ||
                    (f->team ? sqlite3_bind_text(*st, 3, f->team, -1, SQLITE_STATIC)
                             : sqlite3_bind_null(*st, 3)) != SQLITE_OK))
        rc = SL_EIO;
    if (rc != 0) {
        sqlite3_finalize(*st);
        *st = NULL;
    }
    sl_buf_free(sql);
    return rc;
}

/* A heap copy of a text column, NULL for SQL NULL. *rc becomes SL_ENOMEM when the copy
 * fails. */
static char *column_text(sqlite3_stmt *st, int i, int *rc)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    char *copy;

    if (!s)
        return NULL;
    copy = strdup((const char *)s);
    if (!copy)
        *rc = SL_ENOMEM;
    return copy;
}

/* Grows an array of rows of size sz by one zeroed row; NULL when out of memory. */
static void *grow(void **rows, size_t *n, size_t sz)
{
    char *p = realloc(*rows, (*n + 1) * sz);

    if (!p)
        return NULL;
    *rows = p;
    memset(p + *n * sz, 0, sz);
    return p + (*n)++ * sz;
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static void tiers_free(struct sl_report_tier *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i].name);
    free(t);
}

/* Adds requests to the tier called name in t[0..n), appending it when missing. */
static int add_tier(struct sl_report_tier **t, size_t *n, const char *name, int64_t requests)
{
    struct sl_report_tier *tier = NULL;

    for (size_t i = 0; i < *n && !tier; i++)
        if (same((*t)[i].name, name))
            tier = &(*t)[i];
    if (!tier) {
        if (!(tier = grow((void **)t, n, sizeof(**t))))
            return SL_ENOMEM;
        if (name && !(tier->name = strdup(name))) {
            (*n)--;
            return SL_ENOMEM;
        }
    }
    tier->requests += requests;
    return 0;
}

/* Most requests first, then by name, requests without a tier first (SQLite's order). */
static int cmp_tier(const void *a, const void *b)
{
    const struct sl_report_tier *x = a, *y = b;

    if (x->requests != y->requests)
        return x->requests > y->requests ? -1 : 1;
    if (!x->name || !y->name)
        return !y->name - !x->name;
    return strcmp(x->name, y->name);
}

/* Where the requests per tier of one group go. */
struct tier_target {
    const char *group;
    struct sl_report_tier **tiers;
    size_t *n;
};

/* Counts routed requests per (group, tier), only answered ones when answered_only, and hands
 * each count to the target of its group (counts of groups without one are dropped) and to
 * totals, whose tiers end sorted like the targets'. */
static int load_tiers(sqlite3 *db, const char *group, bool answered_only,
                      const struct sl_report_filter *f, struct tier_target *targets, size_t n,
                      struct tier_target *totals)
{
    sqlite3_stmt *st = NULL;
    struct sl_buf sql;
    int rc, step;

    sl_buf_init(&sql, SQL_MAX);
    rc = sl_buf_addf(&sql,
                     "SELECT %s, tier, COUNT(*) FROM requests WHERE " FILTER
                     " AND route IS NOT NULL%s GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
                     group, TS(f), answered_only ? " AND " ANSWERED : "");
    if ((rc = prepare(db, &sql, rc, f, &st)) != 0)
        goto out;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(st, 0);
        const char *tier = (const char *)sqlite3_column_text(st, 1);
        int64_t count = sqlite3_column_int64(st, 2);

        for (size_t i = 0; i < n && rc == 0; i++)
            if (same(targets[i].group, g)) {
                rc = add_tier(targets[i].tiers, targets[i].n, tier, count);
                break;
            }
        if (rc == 0)
            rc = add_tier(totals->tiers, totals->n, tier, count);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = SL_EIO;
    if (rc == 0 && *totals->n > 1) /* qsort(NULL, 0, ...) is undefined */
        qsort(*totals->tiers, *totals->n, sizeof(**totals->tiers), cmp_tier);
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- spend ------------------------------------------------------------------------------ */

static void spend_row_free(struct sl_report_spend_row *row)
{
    free(row->group);
    free(row->team);
}

void sl_report_spend_free(struct sl_report_spend *r)
{
    for (size_t i = 0; i < r->n; i++)
        spend_row_free(&r->rows[i]);
    free(r->rows);
    spend_row_free(&r->totals);
    memset(r, 0, sizeof(*r));
}

int sl_report_spend(sqlite3 *db, enum sl_report_by by, const struct sl_report_filter *f,
                    struct sl_report_spend *r)
{
    sqlite3_stmt *st = NULL;
    struct sl_buf sql;
    int rc, step;

    memset(r, 0, sizeof(*r));
    r->by = by;
    r->filter = *f;
    if (by == SL_REPORT_BY_ROUTE)
        return SL_EINVAL;
    sl_buf_init(&sql, SQL_MAX);
    rc = sl_buf_addf(&sql,
                     "SELECT %s, %s, COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),"
                     " SUM(CASE WHEN tokens_in > 0 THEN tokens_in ELSE 0 END),"
                     " SUM(CASE WHEN tokens_out > 0 THEN tokens_out ELSE 0 END),"
                     " TOTAL(CASE WHEN cost_usd >= 0 THEN cost_usd END),"
                     " SUM(CASE WHEN " ANSWERED " AND (cost_usd IS NULL OR cost_usd < 0)"
                     " AND (tokens_in >= 0 OR tokens_out >= 0) THEN 1 ELSE 0 END)"
                     " FROM requests WHERE " FILTER " GROUP BY 1, 2 ORDER BY %s",
                     group_column(by), by == SL_REPORT_BY_KEY ? "team" : "NULL", TS(f),
                     by == SL_REPORT_BY_DAY ? "1" : "7 DESC, 3 DESC, 1, 2");
    if ((rc = prepare(db, &sql, rc, f, &st)) != 0)
        goto out;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sl_report_spend_row *row = grow((void **)&r->rows, &r->n, sizeof(*row));
        if (!row) {
            rc = SL_ENOMEM;
            break;
        }
        row->group = column_text(st, 0, &rc);
        row->team = column_text(st, 1, &rc);
        row->requests = sqlite3_column_int64(st, 2);
        row->errors = sqlite3_column_int64(st, 3);
        row->tokens_in = sqlite3_column_int64(st, 4);
        row->tokens_out = sqlite3_column_int64(st, 5);
        row->cost_usd = sqlite3_column_double(st, 6);
        row->unpriced = sqlite3_column_int64(st, 7);
        r->totals.requests += row->requests;
        r->totals.errors += row->errors;
        r->totals.tokens_in += row->tokens_in;
        r->totals.tokens_out += row->tokens_out;
        r->totals.cost_usd += row->cost_usd;
        r->totals.unpriced += row->unpriced;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = SL_EIO;
out:
    sqlite3_finalize(st);
    if (rc != 0)
        sl_report_spend_free(r);
    return rc;
}

/* ---- savings ---------------------------------------------------------------------------- */

static void savings_row_free(struct sl_report_savings_row *row)
{
    free(row->group);
    tiers_free(row->tiers, row->n_tiers);
}

void sl_report_savings_free(struct sl_report_savings *r)
{
    for (size_t i = 0; i < r->n; i++)
        savings_row_free(&r->rows[i]);
    free(r->rows);
    savings_row_free(&r->totals);
    memset(r, 0, sizeof(*r));
}

static double saved_fraction(const struct sl_report_savings_row *row)
{
    return row->premium_cost_usd > 0 ? 1 - row->cost_usd / row->premium_cost_usd : NAN;
}

int sl_report_savings(sqlite3 *db, enum sl_report_by by, const struct sl_report_filter *f,
                      struct sl_report_savings *r)
{
    struct sl_report_savings_row *t = &r->totals;
    struct tier_target *targets = NULL, totals;
    sqlite3_stmt *st = NULL;
    struct sl_buf sql;
    int rc, step;

    memset(r, 0, sizeof(*r));
    r->by = by;
    r->filter = *f;
    t->saved_fraction = NAN;
    if (by != SL_REPORT_BY_ROUTE && by != SL_REPORT_BY_TEAM)
        return SL_EINVAL;
    sl_buf_init(&sql, SQL_MAX);
    rc = sl_buf_addf(&sql,
                     "SELECT %s, COUNT(*), SUM(CASE WHEN " BOTH_PRICED " THEN 1 ELSE 0 END),"
                     " TOTAL(CASE WHEN " BOTH_PRICED " THEN cost_usd END),"
                     " TOTAL(CASE WHEN " BOTH_PRICED " THEN premium_cost_usd END),"
                     " TOTAL(CASE WHEN " BOTH_PRICED " THEN premium_cost_usd - cost_usd END)"
                     " FROM requests WHERE " FILTER " AND route IS NOT NULL AND " ANSWERED
                     " GROUP BY 1 ORDER BY 6 DESC, 2 DESC, 1",
                     group_column(by), TS(f));
    if ((rc = prepare(db, &sql, rc, f, &st)) != 0)
        goto out;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sl_report_savings_row *row = grow((void **)&r->rows, &r->n, sizeof(*row));
        if (!row) {
            rc = SL_ENOMEM;
            break;
        }
        row->group = column_text(st, 0, &rc);
        row->requests = sqlite3_column_int64(st, 1);
        row->priced = sqlite3_column_int64(st, 2);
        row->cost_usd = sqlite3_column_double(st, 3);
        row->premium_cost_usd = sqlite3_column_double(st, 4);
        row->saved_usd = sqlite3_column_double(st, 5);
        row->saved_fraction = saved_fraction(row);
        t->requests += row->requests;
        t->priced += row->priced;
        t->cost_usd += row->cost_usd;
        t->premium_cost_usd += row->premium_cost_usd;
        t->saved_usd += row->saved_usd;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = SL_EIO;
    if (rc != 0)
        goto out;
    t->saved_fraction = saved_fraction(t);
    if (!(targets = calloc(r->n + 1, sizeof(*targets)))) {
        rc = SL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < r->n; i++)
        targets[i] = (struct tier_target){r->rows[i].group, &r->rows[i].tiers, &r->rows[i].n_tiers};
    totals = (struct tier_target){NULL, &t->tiers, &t->n_tiers};
    rc = load_tiers(db, group_column(by), true, f, targets, r->n, &totals);
out:
    sqlite3_finalize(st);
    free(targets);
    if (rc != 0)
        sl_report_savings_free(r);
    return rc;
}

/* ---- routes ----------------------------------------------------------------------------- */

static void route_row_free(struct sl_report_route_row *row)
{
    free(row->route);
    tiers_free(row->tiers, row->n_tiers);
}

void sl_report_routes_free(struct sl_report_routes *r)
{
    for (size_t i = 0; i < r->n; i++)
        route_row_free(&r->rows[i]);
    free(r->rows);
    route_row_free(&r->totals);
    memset(r, 0, sizeof(*r));
}

/* The nearest rank of the p-th percentile among n values: the smallest k with k >= p% of n. */
static int64_t rank_of(int64_t n, int p)
{
    return (n * p + 99) / 100;
}

/* Walks the known overheads in order (per route when grouped, else of every routed request)
 * and picks the values at the percentiles' ranks. An ordered scan that SQLite sorts for us is
 * several times cheaper than ranking with window functions, and needs no memory here. */
static int load_percentiles(sqlite3 *db, bool grouped, const struct sl_report_filter *f,
                            struct sl_report_routes *r)
{
    struct sl_report_route_row *row = grouped ? NULL : &r->totals;
    sqlite3_stmt *st = NULL;
    struct sl_buf sql;
    int64_t k = 0;
    int rc, step;

    sl_buf_init(&sql, SQL_MAX);
    rc = sl_buf_addf(&sql,
                     "SELECT %s, overhead_us FROM requests WHERE " FILTER
                     " AND route IS NOT NULL AND overhead_us >= 0 ORDER BY %s",
                     grouped ? "route" : "NULL", TS(f), grouped ? "1, 2" : "2");
    if ((rc = prepare(db, &sql, rc, f, &st)) != 0)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *route = (const char *)sqlite3_column_text(st, 0);
        int64_t v = sqlite3_column_int64(st, 1);

        if (grouped && (!row || !same(row->route, route))) {
            row = NULL;
            for (size_t i = 0; i < r->n && !row; i++)
                if (same(r->rows[i].route, route))
                    row = &r->rows[i];
            k = 0;
            if (!row) /* a route new since the first query (outside a transaction) */
                continue;
        }
        if (!row)
            continue;
        if (++k == rank_of(row->overhead_known, 50))
            row->overhead_p50_us = v;
        if (k == rank_of(row->overhead_known, 95))
            row->overhead_p95_us = v;
    }
    if (step != SQLITE_DONE)
        rc = SL_EIO;
out:
    sqlite3_finalize(st);
    return rc;
}

int sl_report_routes(sqlite3 *db, long top, const struct sl_report_filter *f,
                     struct sl_report_routes *r)
{
    struct sl_report_route_row *t = &r->totals;
    struct tier_target *targets = NULL, totals;
    sqlite3_stmt *st = NULL;
    struct sl_buf sql;
    int rc, step;

    memset(r, 0, sizeof(*r));
    r->filter = *f;
    t->overhead_p50_us = t->overhead_p95_us = -1;
    if (top < 1)
        return SL_EINVAL;
    /* Every route first, for the totals and the percentiles; the top ones are kept at the end. */
    sl_buf_init(&sql, SQL_MAX);
    rc = sl_buf_addf(&sql,
                     "SELECT route, COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),"
                     " TOTAL(CASE WHEN cost_usd >= 0 THEN cost_usd END),"
                     " SUM(CASE WHEN overhead_us >= 0 THEN 1 ELSE 0 END)"
                     " FROM requests WHERE " FILTER " AND route IS NOT NULL"
                     " GROUP BY 1 ORDER BY 2 DESC, 1",
                     TS(f));
    if ((rc = prepare(db, &sql, rc, f, &st)) != 0)
        goto out;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sl_report_route_row *row = grow((void **)&r->rows, &r->n, sizeof(*row));
        if (!row) {
            rc = SL_ENOMEM;
            break;
        }
        row->route = column_text(st, 0, &rc);
        row->requests = sqlite3_column_int64(st, 1);
        row->errors = sqlite3_column_int64(st, 2);
        row->cost_usd = sqlite3_column_double(st, 3);
        row->overhead_known = sqlite3_column_int64(st, 4);
        row->overhead_p50_us = row->overhead_p95_us = -1;
        t->requests += row->requests;
        t->errors += row->errors;
        t->cost_usd += row->cost_usd;
        t->overhead_known += row->overhead_known;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = SL_EIO;
    if (rc != 0 || (rc = load_percentiles(db, true, f, r)) != 0 ||
        (rc = load_percentiles(db, false, f, r)) != 0)
        goto out;
    if (!(targets = calloc(r->n + 1, sizeof(*targets)))) {
        rc = SL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < r->n; i++)
        targets[i] = (struct tier_target){r->rows[i].route, &r->rows[i].tiers, &r->rows[i].n_tiers};
    totals = (struct tier_target){NULL, &t->tiers, &t->n_tiers};
    if ((rc = load_tiers(db, "route", false, f, targets, r->n, &totals)) != 0)
        goto out;
    while (r->n > (size_t)top)
        route_row_free(&r->rows[--r->n]);
out:
    sqlite3_finalize(st);
    free(targets);
    if (rc != 0)
        sl_report_routes_free(r);
    return rc;
}

/* ---- JSON ------------------------------------------------------------------------------- */

static void add_number_or_null(cJSON *o, const char *name, double x, bool known)
{
    if (known)
        cJSON_AddNumberToObject(o, name, x);
    else
        cJSON_AddNullToObject(o, name);
}

/* The document's head: {"report", "by", "since", "until", "team"}. */
static cJSON *json_head(const char *report, const char *by, const struct sl_report_filter *f)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "report", report);
    if (by)
        cJSON_AddStringToObject(o, "by", by);
    sl_ctl_json_time(o, "since", f->since_ms);
    sl_ctl_json_time(o, "until", f->until_ms);
    sl_ctl_json_string(o, "team", f->team);
    return o;
}

/* A name for requests without a tier: JSON object keys cannot be null. */
#define NO_TIER "(none)"

/* {"tier": {"requests": N, "share": F}, ...}, shares of total. */
static cJSON *tiers_json(const struct sl_report_tier *t, size_t n, int64_t total)
{
    cJSON *o = cJSON_CreateObject();

    for (size_t i = 0; o && i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(o, t[i].name ? t[i].name : NO_TIER);
        cJSON_AddNumberToObject(e, "requests", (double)t[i].requests);
        cJSON_AddNumberToObject(e, "share", total > 0 ? (double)t[i].requests / total : 0);
    }
    return o;
}

/* The builders do not check each cJSON call: cJSON's adders ignore a NULL object, and
 * sluicectl's main makes cJSON abort when out of memory rather than drop a member. */
static cJSON *spend_row_json(const struct sl_report_spend_row *row, enum sl_report_by by,
                             bool total)
{
    cJSON *o = cJSON_CreateObject();

    if (!total) {
        sl_ctl_json_string(o, sl_report_by_name(by), row->group);
        if (by == SL_REPORT_BY_KEY)
            sl_ctl_json_string(o, "team", row->team);
    }
    cJSON_AddNumberToObject(o, "requests", (double)row->requests);
    cJSON_AddNumberToObject(o, "errors", (double)row->errors);
    cJSON_AddNumberToObject(o, "tokens_in", (double)row->tokens_in);
    cJSON_AddNumberToObject(o, "tokens_out", (double)row->tokens_out);
    cJSON_AddNumberToObject(o, "cost_usd", row->cost_usd);
    cJSON_AddNumberToObject(o, "unpriced", (double)row->unpriced);
    return o;
}

cJSON *sl_report_spend_json(const struct sl_report_spend *r)
{
    cJSON *o = json_head("spend", sl_report_by_name(r->by), &r->filter);
    cJSON *rows = cJSON_AddArrayToObject(o, "rows");

    for (size_t i = 0; rows && i < r->n; i++)
        cJSON_AddItemToArray(rows, spend_row_json(&r->rows[i], r->by, false));
    cJSON_AddItemToObject(o, "totals", spend_row_json(&r->totals, r->by, true));
    return o;
}

static cJSON *savings_row_json(const struct sl_report_savings_row *row, enum sl_report_by by,
                               bool total)
{
    cJSON *o = cJSON_CreateObject();

    if (!total)
        sl_ctl_json_string(o, sl_report_by_name(by), row->group);
    cJSON_AddNumberToObject(o, "requests", (double)row->requests);
    cJSON_AddNumberToObject(o, "priced", (double)row->priced);
    cJSON_AddNumberToObject(o, "cost_usd", row->cost_usd);
    cJSON_AddNumberToObject(o, "premium_cost_usd", row->premium_cost_usd);
    cJSON_AddNumberToObject(o, "saved_usd", row->saved_usd);
    add_number_or_null(o, "saved_fraction", row->saved_fraction, !isnan(row->saved_fraction));
    cJSON_AddItemToObject(o, "tiers", tiers_json(row->tiers, row->n_tiers, row->requests));
    return o;
}

cJSON *sl_report_savings_json(const struct sl_report_savings *r)
{
    cJSON *o = json_head("savings", sl_report_by_name(r->by), &r->filter);
    cJSON *rows = cJSON_AddArrayToObject(o, "rows");

    for (size_t i = 0; rows && i < r->n; i++)
        cJSON_AddItemToArray(rows, savings_row_json(&r->rows[i], r->by, false));
    cJSON_AddItemToObject(o, "totals", savings_row_json(&r->totals, r->by, true));
    return o;
}

static cJSON *route_row_json(const struct sl_report_route_row *row, bool total)
{
    cJSON *o = cJSON_CreateObject();

    if (!total)
        sl_ctl_json_string(o, "route", row->route);
    cJSON_AddNumberToObject(o, "requests", (double)row->requests);
    cJSON_AddItemToObject(o, "tiers", tiers_json(row->tiers, row->n_tiers, row->requests));
    add_number_or_null(o, "overhead_p50_us", (double)row->overhead_p50_us,
                       row->overhead_p50_us >= 0);
    add_number_or_null(o, "overhead_p95_us", (double)row->overhead_p95_us,
                       row->overhead_p95_us >= 0);
    cJSON_AddNumberToObject(o, "errors", (double)row->errors);
    cJSON_AddNumberToObject(o, "error_rate",
                            row->requests > 0 ? (double)row->errors / row->requests : 0);
    cJSON_AddNumberToObject(o, "cost_usd", row->cost_usd);
    return o;
}

cJSON *sl_report_routes_json(const struct sl_report_routes *r)
{
    cJSON *o = json_head("routes", NULL, &r->filter);
    cJSON *rows = cJSON_AddArrayToObject(o, "rows");

    for (size_t i = 0; rows && i < r->n; i++)
        cJSON_AddItemToArray(rows, route_row_json(&r->rows[i], false));
    cJSON_AddItemToObject(o, "totals", route_row_json(&r->totals, true));
    return o;
}

/* ---- tables ----------------------------------------------------------------------------- */

/* "spend by team, team search, 2024-11-01 00:00 to 2024-11-08 00:00 UTC" */
static void print_title(FILE *out, const char *what, const struct sl_report_filter *f)
{
    fputs(what, out);
    if (f->team)
        fprintf(out, ", team %s", f->team);
    sl_ctl_print_window(out, f->since_ms, f->until_ms);
    fputc('\n', out);
}

/* Cost columns: six decimals while every amount is below a dollar, four above. */
static int usd_decimals(double largest)
{
    return fabs(largest) >= 1 ? 4 : 6;
}

/* Prints and destroys t, then the footnote if any. */
static int finish(struct sl_ctl_table *t, FILE *out, const char *note)
{
    int rc = sl_ctl_table_print(t, out);

    sl_ctl_table_destroy(t);
    if (rc == 0 && note)
        fputs(note, out);
    return rc == 0 && ferror(out) ? SL_EIO : rc;
}

static void spend_cells(struct sl_ctl_table *t, const struct sl_report_spend *r,
                        const struct sl_report_spend_row *row, int dec, const char *label)
{
    sl_ctl_table_cell(t, label ? label : row->group);
    if (r->by == SL_REPORT_BY_KEY)
        sl_ctl_table_cell(t, label ? "" : row->team);
    sl_ctl_table_cellf(t, "%lld", (long long)row->requests);
    sl_ctl_table_cellf(t, "%lld", (long long)row->errors);
    sl_ctl_table_cellf(t, "%lld", (long long)row->tokens_in);
    sl_ctl_table_cellf(t, "%lld", (long long)row->tokens_out);
    sl_ctl_table_cellf(t, "%.*f", dec, row->cost_usd);
    sl_ctl_table_cellf(t, "%lld", (long long)row->unpriced);
}

int sl_report_spend_print(const struct sl_report_spend *r, FILE *out)
{
    struct sl_ctl_table *t;
    char what[32];
    int dec = usd_decimals(r->totals.cost_usd);

    snprintf(what, sizeof(what), "spend by %s", sl_report_by_name(r->by));
    print_title(out, what, &r->filter);
    if (r->n == 0) {
        fputs("no requests\n", out);
        return ferror(out) ? SL_EIO : 0;
    }
    if (!(t = sl_ctl_table_create()))
        return SL_ENOMEM;
    sl_ctl_table_column(t, sl_report_by_name(r->by), SL_CTL_LEFT);
    if (r->by == SL_REPORT_BY_KEY)
        sl_ctl_table_column(t, "team", SL_CTL_LEFT);
    sl_ctl_table_column(t, "requests", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "errors", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "tokens in", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "tokens out", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "cost USD", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "unpriced", SL_CTL_RIGHT);
    for (size_t i = 0; i < r->n; i++)
        spend_cells(t, r, &r->rows[i], dec, NULL);
    sl_ctl_table_rule(t);
    spend_cells(t, r, &r->totals, dec, "total");
    return finish(t, out,
                  r->totals.unpriced > 0 ? "unpriced: answered with tokens but no "
                                           "price, not in the cost\n"
                                         : NULL);
}

static void savings_cells(struct sl_ctl_table *t, const struct sl_report_savings *r,
                          const struct sl_report_savings_row *row, int dec, const char *label)
{
    sl_ctl_table_cell(t, label ? label : row->group);
    sl_ctl_table_cellf(t, "%lld", (long long)row->requests);
    sl_ctl_table_cellf(t, "%lld", (long long)row->priced);
    sl_ctl_table_cellf(t, "%.*f", dec, row->cost_usd);
    sl_ctl_table_cellf(t, "%.*f", dec, row->premium_cost_usd);
    sl_ctl_table_cellf(t, "%.*f", dec, row->saved_usd);
    sl_ctl_table_percent(t, row->saved_fraction);
    /* One column per tier of the totals, so that every row lines up. */
    for (size_t k = 0; k < r->totals.n_tiers; k++) {
        int64_t n = 0;
        for (size_t j = 0; j < row->n_tiers; j++)
            if (same(row->tiers[j].name, r->totals.tiers[k].name))
                n = row->tiers[j].requests;
        sl_ctl_table_cellf(t, "%lld", (long long)n);
    }
}

int sl_report_savings_print(const struct sl_report_savings *r, FILE *out)
{
    struct sl_ctl_table *t;
    char what[64];
    int dec = usd_decimals(r->totals.premium_cost_usd);

    snprintf(what, sizeof(what), "savings by %s (routed, answered requests)",
             sl_report_by_name(r->by));
    print_title(out, what, &r->filter);
    if (r->n == 0) {
        fputs("no routed requests\n", out);
        return ferror(out) ? SL_EIO : 0;
    }
    if (!(t = sl_ctl_table_create()))
        return SL_ENOMEM;
    sl_ctl_table_column(t, sl_report_by_name(r->by), SL_CTL_LEFT);
    sl_ctl_table_column(t, "requests", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "priced", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "cost USD", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "premium USD", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "saved USD", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "saved", SL_CTL_RIGHT);
    for (size_t k = 0; k < r->totals.n_tiers; k++) {
        const char *name = r->totals.tiers[k].name;
        char h[80];
        snprintf(h, sizeof(h), "%s", name ? name : NO_TIER);
        sl_ctl_table_column(t, h, SL_CTL_RIGHT);
    }
    for (size_t i = 0; i < r->n; i++)
        savings_cells(t, r, &r->rows[i], dec, NULL);
    sl_ctl_table_rule(t);
    savings_cells(t, r, &r->totals, dec, "total");
    return finish(t, out,
                  "cost, premium and saved over the priced requests; then requests per tier\n");
}

static void route_cells(struct sl_ctl_table *t, const struct sl_report_routes *r,
                        const struct sl_report_route_row *row, int dec, const char *label)
{
    sl_ctl_table_cell(t, label ? label : row->route);
    sl_ctl_table_cellf(t, "%lld", (long long)row->requests);
    for (size_t k = 0; k < r->totals.n_tiers; k++) {
        int64_t n = 0;
        for (size_t j = 0; j < row->n_tiers; j++)
            if (same(row->tiers[j].name, r->totals.tiers[k].name))
                n = row->tiers[j].requests;
        sl_ctl_table_percent(t, row->requests > 0 ? (double)n / row->requests : 0);
    }
    if (row->overhead_p50_us >= 0)
        sl_ctl_table_cellf(t, "%lld", (long long)row->overhead_p50_us);
    else
        sl_ctl_table_cell(t, NULL);
    if (row->overhead_p95_us >= 0)
        sl_ctl_table_cellf(t, "%lld", (long long)row->overhead_p95_us);
    else
        sl_ctl_table_cell(t, NULL);
    sl_ctl_table_percent(t, row->requests > 0 ? (double)row->errors / row->requests : 0);
    sl_ctl_table_cellf(t, "%.*f", dec, row->cost_usd);
}

int sl_report_routes_print(const struct sl_report_routes *r, FILE *out)
{
    struct sl_ctl_table *t;
    int dec = usd_decimals(r->totals.cost_usd);

    print_title(out, "routes by requests", &r->filter);
    if (r->n == 0) {
        fputs("no routed requests\n", out);
        return ferror(out) ? SL_EIO : 0;
    }
    if (!(t = sl_ctl_table_create()))
        return SL_ENOMEM;
    sl_ctl_table_column(t, "route", SL_CTL_LEFT);
    sl_ctl_table_column(t, "requests", SL_CTL_RIGHT);
    for (size_t k = 0; k < r->totals.n_tiers; k++) {
        const char *name = r->totals.tiers[k].name;
        char h[80];
        snprintf(h, sizeof(h), "%s", name ? name : NO_TIER);
        sl_ctl_table_column(t, h, SL_CTL_RIGHT);
    }
    sl_ctl_table_column(t, "p50 overhead us", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "p95 overhead us", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "errors", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "cost USD", SL_CTL_RIGHT);
    for (size_t i = 0; i < r->n; i++)
        route_cells(t, r, &r->rows[i], dec, NULL);
    sl_ctl_table_rule(t);
    route_cells(t, r, &r->totals, dec, "all routes");
    return finish(t, out,
                  "tiers: share of requests; overhead: the gateway's own time; errors: "
                  "status >= 400\n");
}

/* ---- commands --------------------------------------------------------------------------- */

#define COMMON_HELP                                                                                \
    "  --team T        only team T's requests\n"                                                   \
    "  --since WHEN    requests from WHEN on: YYYY-MM-DD (00:00 UTC) or a relative 7d / 24h\n"     \
    "                  (that long ago); default: the beginning of the log\n"                       \
    "  --until WHEN    requests before WHEN (exclusive), same forms; default: now\n"               \
    "  --db PATH       the audit database, opened read-only (default $SLUICE_DATA_DIR/audit.db,\n" \
    "                  or data/audit.db when SLUICE_DATA_DIR is not set)\n"                        \
    "  --json          one JSON document {\"rows\":[...],\"totals\":{...}} instead of a table\n"

static const int report_options[] = {SL_CTL_OPT_DB,
                                     SL_CTL_OPT_SINCE,
                                     SL_CTL_OPT_UNTIL,
                                     SL_CTL_OPT_JSON,
                                     SL_CTL_OPT_BY,
                                     SL_CTL_OPT_TEAM,
                                     0};
static const int routes_options[] = {SL_CTL_OPT_DB,
                                     SL_CTL_OPT_SINCE,
                                     SL_CTL_OPT_UNTIL,
                                     SL_CTL_OPT_JSON,
                                     SL_CTL_OPT_TOP,
                                     SL_CTL_OPT_TEAM,
                                     0};

static const struct sl_ctl_spec spend_spec = {
    "spend",
    "spend [--by team|key|model|day] [--team T] [--since WHEN] [--until WHEN] [--db PATH] "
    "[--json]",
    "Requests, errors (status >= 400), tokens in and out, and cost per team, virtual key,\n"
    "model (the alias that served) or UTC day, from the audit log. The cost is the sum of the\n"
    "known costs; \"unpriced\" counts answered requests whose tokens are known but whose cost\n"
    "is not (a model without a price), so a cost beside unpriced requests is a lower bound.\n"
    "Sorted by cost, highest first (by day: by date).\n"
    "\n"
    "  --by GROUP      team (default), key, model or day\n" COMMON_HELP,
    report_options,
    0,
    0,
};

static const struct sl_ctl_spec savings_spec = {
    "savings",
    "savings [--by route|team] [--team T] [--since WHEN] [--until WHEN] [--db PATH] [--json]",
    "What routing saved. For routed requests (the client asked for a route) that were\n"
    "answered (2xx): the cost paid against the cost of the same tokens on the route's premium\n"
    "tier. Cost, premium, saved (premium - cost) and saved % (1 - cost / premium) cover the\n"
    "\"priced\" requests, those with both costs known. Then the requests served per tier.\n"
    "Sorted by the amount saved, highest first.\n"
    "\n"
    "  --by GROUP      route (default) or team\n" COMMON_HELP,
    report_options,
    0,
    0,
};

static const struct sl_ctl_spec routes_spec = {
    "routes",
    "routes [--top N] [--team T] [--since WHEN] [--until WHEN] [--db PATH] [--json]",
    "The busiest routes: requests, the share of them each tier served, the gateway's own\n"
    "overhead (exact p50 and p95, microseconds), the error rate (status >= 400) and the cost\n"
    "(the sum of known costs). The last line covers every routed request, not only the top.\n"
    "\n"
    "  --top N         how many routes (default 10)\n" COMMON_HELP,
    routes_options,
    0,
    0,
};

enum report_kind { REPORT_SPEND, REPORT_SAVINGS, REPORT_ROUTES };

#define DEFAULT_TOP 10

/* Runs one report and prints it as a table or JSON. Returns the report's error; the output's
 * goes to *wrc. */
static int report(enum report_kind kind, sqlite3 *db, enum sl_report_by by,
                  const struct sl_ctl_args *a, const struct sl_report_filter *f, FILE *out,
                  int *wrc)
{
    int rc = 0;

    switch (kind) {
    case REPORT_SPEND: {
        struct sl_report_spend r;
        if ((rc = sl_report_spend(db, by, f, &r)) == 0) {
            *wrc = a->json ? sl_ctl_print_json(sl_report_spend_json(&r), out)
                           : sl_report_spend_print(&r, out);
            sl_report_spend_free(&r);
        }
        break;
    }
    case REPORT_SAVINGS: {
        struct sl_report_savings r;
        if ((rc = sl_report_savings(db, by, f, &r)) == 0) {
            *wrc = a->json ? sl_ctl_print_json(sl_report_savings_json(&r), out)
                           : sl_report_savings_print(&r, out);
            sl_report_savings_free(&r);
        }
        break;
    }
    case REPORT_ROUTES: {
        struct sl_report_routes r;
        if ((rc = sl_report_routes(db, a->top > 0 ? a->top : DEFAULT_TOP, f, &r)) == 0) {
            *wrc = a->json ? sl_ctl_print_json(sl_report_routes_json(&r), out)
                           : sl_report_routes_print(&r, out);
            sl_report_routes_free(&r);
        }
        break;
    }
    }
    return rc;
}

static int run(const struct sl_ctl_spec *spec, enum report_kind kind, int argc, char **argv,
               FILE *out, FILE *err)
{
    struct sl_auditdb db;
    struct sl_ctl_args a;
    struct sl_report_filter f;
    enum sl_report_by by = kind == REPORT_SPEND ? SL_REPORT_BY_TEAM : SL_REPORT_BY_ROUTE;
    char path[4096], msg[512];
    int status, rc = 0, wrc = 0; /* the report's, then the output's */

    if ((status = sl_ctl_parse(spec, argc, argv, sl_clock_wall_ms(), &a, out, err)) != SL_CTL_RUN)
        return status;
    if (a.by) {
        bool ok = sl_report_by_parse(a.by, &by) == 0 &&
                  (kind == REPORT_SPEND ? by != SL_REPORT_BY_ROUTE
                                        : by == SL_REPORT_BY_ROUTE || by == SL_REPORT_BY_TEAM);
        if (!ok)
            return sl_ctl_usage(spec, err, "--by: bad value \"%s\" (want %s)", a.by,
                                kind == REPORT_SPEND ? "team, key, model or day" : "route or team");
    }
    sl_report_filter_init(&f);
    f.since_ms = a.since_ms;
    f.until_ms = a.until_ms;
    f.team = a.team;
    if (a.db)
        snprintf(path, sizeof(path), "%s", a.db);
    else
        sl_ctl_default_db(path, sizeof(path));
    if (sl_auditdb_open(&db, path, true, msg, sizeof(msg)) != 0)
        return sl_ctl_fail(err, "%s", msg);
    /* One read transaction: a snapshot of the file (WAL) for all of a report's queries, so that
     * the proxy's writes between them cannot make groups, tiers and percentiles disagree. */
    if (sqlite3_exec(db.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        rc = SL_EIO;
    else
        rc = report(kind, db.db, by, &a, &f, out, &wrc);
    status = sl_ctl_report_status(out, err, path, sqlite3_errmsg(db.db), rc, wrc);
    sqlite3_exec(db.db, "ROLLBACK", NULL, NULL, NULL); /* it only read */
    sl_auditdb_close(&db);
    return status;
}

int sl_report_spend_cmd(int argc, char **argv, FILE *out, FILE *err)
{
    return run(&spend_spec, REPORT_SPEND, argc, argv, out, err);
}

int sl_report_savings_cmd(int argc, char **argv, FILE *out, FILE *err)
{
    return run(&savings_spec, REPORT_SAVINGS, argc, argv, out, err);
}

int sl_report_routes_cmd(int argc, char **argv, FILE *out, FILE *err)
{
    return run(&routes_spec, REPORT_ROUTES, argc, argv, out, err);
}
