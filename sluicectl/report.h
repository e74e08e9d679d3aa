/* Reports over the audit log (common/auditdb.h): spend, savings from routing, and routes.
 * Each report runs its aggregation in SQL (totals are the sums of the groups) into a result
 * struct that the caller holds and
 * releases with the report's _free; the result then becomes a cJSON document (the caller
 * deletes it) or a table for people. Group names and tier names are heap strings owned by the
 * result, NULL where the audit rows had none. A report runs several queries: inside one read
 * transaction they see one snapshot of a file the proxy is writing (the commands do that). */
#ifndef SL_REPORT_H
#define SL_REPORT_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"

/* Which requests a report covers. */
struct sl_report_filter {
    int64_t since_ms, until_ms; /* ts_ms in [since_ms, until_ms); INT64_MIN / INT64_MAX: open */
    const char *team;           /* only this team's requests; NULL: every team */
};

/* Sets an open window over every team. */
void sl_report_filter_init(struct sl_report_filter *f);

enum sl_report_by {
    SL_REPORT_BY_TEAM,
    SL_REPORT_BY_KEY,
    SL_REPORT_BY_MODEL, /* the alias that served */
    SL_REPORT_BY_DAY,   /* UTC date */
    SL_REPORT_BY_ROUTE,
};

/* "team", "key", "model", "day", "route" <-> enum. SL_EINVAL for another name. */
int sl_report_by_parse(const char *s, enum sl_report_by *by) SL_MUST_CHECK;
const char *sl_report_by_name(enum sl_report_by by);

/* Requests of one tier within a group. */
struct sl_report_tier {
    char *name; /* NULL: requests that recorded no tier */
    int64_t requests;
};

/* ---- spend: what each team, key, model or day consumed ---- */

struct sl_report_spend_row {
    char *group; /* team, key id, model or YYYY-MM-DD */
    char *team;  /* by key: the key's team; otherwise NULL */
    int64_t requests;
    int64_t errors;                /* status >= 400 */
    int64_t tokens_in, tokens_out; /* known counts only */
    double cost_usd;               /* the sum of known costs */
    int64_t unpriced; /* answered (2xx) with tokens known but no cost: cost_usd is a floor */
};

struct sl_report_spend {
    enum sl_report_by by;
    struct sl_report_filter filter; /* filter.team is not owned */
    struct sl_report_spend_row *rows;
    size_t n;
    struct sl_report_spend_row totals; /* group and team NULL */
};

/* Spend per group (by team, key, model or day), sorted by cost descending (by day: by date).
 * SL_EINVAL for by route, SL_EIO when SQLite fails (sqlite3_errmsg(db) says why), SL_ENOMEM.
 * On failure r holds nothing to free. */
int sl_report_spend(sqlite3 *db, enum sl_report_by by, const struct sl_report_filter *f,
                    struct sl_report_spend *r) SL_MUST_CHECK;
void sl_report_spend_free(struct sl_report_spend *r);
/* {"report":"spend","by","since","until","team","rows":[...],"totals":{...}}; NULL when out
 * of memory. */
cJSON *sl_report_spend_json(const struct sl_report_spend *r);
int sl_report_spend_print(const struct sl_report_spend *r, FILE *out) SL_MUST_CHECK;

/* ---- savings: routed answers against the route's premium tier ---- */

struct sl_report_savings_row {
    char *group;      /* route or team */
    int64_t requests; /* routed (route set) and answered (2xx) */
    int64_t priced;   /* of those, the ones with both the cost and the premium cost known */
    /* Over the priced requests only, so that saved = premium - cost: */
    double cost_usd, premium_cost_usd, saved_usd;
    double saved_fraction;        /* 1 - cost / premium; NAN when premium_cost_usd is 0 */
    struct sl_report_tier *tiers; /* requests per tier, most first */
    size_t n_tiers;
};

struct sl_report_savings {
    enum sl_report_by by; /* route or team */
    struct sl_report_filter filter;
    struct sl_report_savings_row *rows; /* most saved first */
    size_t n;
    struct sl_report_savings_row totals;
};

/* Savings per route or team. SL_EINVAL for another by; otherwise as sl_report_spend. */
int sl_report_savings(sqlite3 *db, enum sl_report_by by, const struct sl_report_filter *f,
                      struct sl_report_savings *r) SL_MUST_CHECK;
void sl_report_savings_free(struct sl_report_savings *r);
cJSON *sl_report_savings_json(const struct sl_report_savings *r);
int sl_report_savings_print(const struct sl_report_savings *r, FILE *out) SL_MUST_CHECK;

/* ---- routes: the busiest routes ---- */

struct sl_report_route_row {
    char *route;
    int64_t requests, errors;     /* every request to the route; errors: status >= 400 */
    double cost_usd;              /* the sum of known costs */
    int64_t overhead_known;       /* requests that recorded the gateway's overhead */
    int64_t overhead_p50_us;      /* nearest-rank percentiles of the overhead over those */
    int64_t overhead_p95_us;      /* requests; -1 when there are none */
    struct sl_report_tier *tiers; /* requests per tier, most first */
    size_t n_tiers;
};

struct sl_report_routes {
    struct sl_report_filter filter;
    struct sl_report_route_row *rows; /* the top routes by requests */
    size_t n;
    struct sl_report_route_row totals; /* every routed request in the window, not just the top */
};

/* The top routes by requests (at most top of them). As sl_report_spend. */
int sl_report_routes(sqlite3 *db, long top, const struct sl_report_filter *f,
                     struct sl_report_routes *r) SL_MUST_CHECK;
void sl_report_routes_free(struct sl_report_routes *r);
cJSON *sl_report_routes_json(const struct sl_report_routes *r);
int sl_report_routes_print(const struct sl_report_routes *r, FILE *out) SL_MUST_CHECK;

/* ---- the commands: sluicectl spend|savings|routes ARGS (argv[0] is the command name) ---- */

int sl_report_spend_cmd(int argc, char **argv, FILE *out, FILE *err);
int sl_report_savings_cmd(int argc, char **argv, FILE *out, FILE *err);
int sl_report_routes_cmd(int argc, char **argv, FILE *out, FILE *err);

#endif
