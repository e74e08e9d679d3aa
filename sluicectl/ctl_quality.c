/* sluicectl quality: one SQL query over eval.db's samples and results, grouped by bucket and
 * group, as a table or JSON. Results are first folded per sample, so that a sample scored by
 * several scorers counts once in samples, scored and passed. */
#include "ctl_quality.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "ctl.h"
#include "ctl_table.h"
#include "evaldb.h"

#define SQL_MAX 8192
#define HOUR_MS 3600000LL
#define DAY_MS  86400000LL

static const char *const by_names[] = {
    [SL_CTL_QUALITY_BY_TIER] = "tier",
    [SL_CTL_QUALITY_BY_MODEL] = "model",
    [SL_CTL_QUALITY_BY_ROUTE] = "route",
    [SL_CTL_QUALITY_BY_ARM] = "arm",
};

int sl_ctl_quality_by_parse(const char *s, enum sl_ctl_quality_by *by)
{
    int i = sl_ctl_lookup(s, by_names, sizeof(by_names) / sizeof(by_names[0]));

    if (i < 0)
        return SL_EINVAL;
    *by = (enum sl_ctl_quality_by)i;
    return 0;
}

const char *sl_ctl_quality_by_name(enum sl_ctl_quality_by by)
{
    return (size_t)by < sizeof(by_names) / sizeof(by_names[0]) ? by_names[by] : "?";
}

int sl_ctl_quality_bucket_parse(const char *s, enum sl_ctl_quality_bucket *b)
{
    if (strcmp(s, "hour") == 0)
        *b = SL_CTL_QUALITY_HOUR;
    else if (strcmp(s, "day") == 0)
        *b = SL_CTL_QUALITY_DAY;
    else
        return SL_EINVAL;
    return 0;
}

const char *sl_ctl_quality_bucket_name(enum sl_ctl_quality_bucket b)
{
    return b == SL_CTL_QUALITY_HOUR ? "hour" : "day";
}

/* The group's SQL expression over samples s (text from this file only, never from input).
 * The evaluator may store "" for "none"; both read as NULL. */
static const char *group_expr(enum sl_ctl_quality_by by)
{
    switch (by) {
    case SL_CTL_QUALITY_BY_TIER:
        return "NULLIF(s.route, '') || '/' || NULLIF(s.tier, '')";
    case SL_CTL_QUALITY_BY_MODEL:
        return "NULLIF(s.model, '')";
    case SL_CTL_QUALITY_BY_ROUTE:
        return "NULLIF(s.route, '')";
    case SL_CTL_QUALITY_BY_ARM:
        return "NULLIF(s.arm, '')";
    }
    return "NULL";
}

/* ?1 ?2: the window; ?3: the bucket's length in ms. The %s takes the group expression. */
static const char query[] =
    "WITH " SL_CTL_QUALITY_PER_SAMPLE " SELECT s.ts_ms - s.ts_ms %% ?3, %s, " SL_CTL_QUALITY_COLUMNS
    " FROM samples s LEFT JOIN per p ON p.sid = s.id"
    " WHERE s.ts_ms >= ?1 AND s.ts_ms < ?2"
    " GROUP BY 1, 2 ORDER BY 1, 2";

void sl_ctl_quality_free(struct sl_ctl_quality *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->rows[i].group);
    free(r->rows);
    r->rows = NULL;
    r->n = 0;
}

/* Adds the counts of x into t; grade_mean holds both grade sums until finish. */
static void add_counts(struct sl_ctl_quality_counts *t, const struct sl_ctl_quality_counts *x)
{
    t->samples += x->samples;
    t->scored += x->scored;
    t->passed += x->passed;
    t->graded += x->graded;
    t->grade_mean += x->grade_mean;
    t->wins += x->wins;
    t->ties += x->ties;
    t->losses += x->losses;
    t->judge_failures += x->judge_failures;
    t->shadow_failures += x->shadow_failures;
}

void sl_ctl_quality_counts_read(sqlite3_stmt *st, int col, struct sl_ctl_quality_counts *c)
{
    c->samples = sqlite3_column_int64(st, col);
    c->scored = sqlite3_column_int64(st, col + 1);
    c->passed = sqlite3_column_int64(st, col + 2);
    c->graded = sqlite3_column_int64(st, col + 3);
    c->grade_mean = sqlite3_column_double(st, col + 4); /* the sum until finish */
    c->wins = sqlite3_column_int64(st, col + 5);
    c->ties = sqlite3_column_int64(st, col + 6);
    c->losses = sqlite3_column_int64(st, col + 7);
    c->judge_failures = sqlite3_column_int64(st, col + 8);
    c->shadow_failures = sqlite3_column_int64(st, col + 9);
    c->pass_rate = NAN;
}

void sl_ctl_quality_counts_finish(struct sl_ctl_quality_counts *c)
{
    c->pass_rate = c->scored > 0 ? (double)c->passed / (double)c->scored : NAN;
    c->grade_mean = c->graded > 0 ? c->grade_mean / (double)c->graded : NAN;
}

int sl_ctl_quality_run(sqlite3 *db, enum sl_ctl_quality_by by, enum sl_ctl_quality_bucket bucket,
                       int64_t since_ms, int64_t until_ms, struct sl_ctl_quality *r)
{
    sqlite3_stmt *st = NULL;
    struct sl_buf sql;
    size_t cap = 0;
    int rc, step;

    memset(r, 0, sizeof(*r));
    r->by = by;
    r->bucket = bucket;
    r->since_ms = since_ms;
    r->until_ms = until_ms;
    sl_buf_init(&sql, SQL_MAX);
    if ((rc = sl_buf_addf(&sql, query, group_expr(by))) != 0)
        goto out;
    if (sqlite3_prepare_v2(db, sql.data, (int)sql.len, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, since_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, until_ms) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, bucket == SL_CTL_QUALITY_HOUR ? HOUR_MS : DAY_MS) != SQLITE_OK) {
        rc = SL_EIO;
        goto out;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sl_ctl_quality_row *row;
        const unsigned char *g = sqlite3_column_text(st, 1);

        if (r->n == cap) {
            size_t ncap = cap ? 2 * cap : 32;
            struct sl_ctl_quality_row *p = realloc(r->rows, ncap * sizeof(*p));
            if (!p) {
                rc = SL_ENOMEM;
                goto out;
            }
            r->rows = p;
            cap = ncap;
        }
        row = &r->rows[r->n];
        memset(row, 0, sizeof(*row));
        if (g && !(row->group = strdup((const char *)g))) {
            rc = SL_ENOMEM;
            goto out;
        }
        r->n++;
        row->bucket_ms = sqlite3_column_int64(st, 0);
        sl_ctl_quality_counts_read(st, 2, &row->c);
        add_counts(&r->totals, &row->c);
        sl_ctl_quality_counts_finish(&row->c);
    }
    if (step != SQLITE_DONE)
        rc = SL_EIO;
    sl_ctl_quality_counts_finish(&r->totals);
out:
    sqlite3_finalize(st);
    sl_buf_free(&sql);
    if (rc)
        sl_ctl_quality_free(r);
    return rc;
}

/* ---- JSON ------------------------------------------------------------------------------- */

/* The builders do not check each cJSON call: cJSON's adders ignore a NULL object, and
 * sluicectl's main makes cJSON abort when out of memory rather than drop a member. */
void sl_ctl_quality_counts_json(cJSON *o, const struct sl_ctl_quality_counts *c)
{
    cJSON *shadow;

    cJSON_AddNumberToObject(o, "samples", (double)c->samples);
    cJSON_AddNumberToObject(o, "scored", (double)c->scored);
    cJSON_AddNumberToObject(o, "passed", (double)c->passed);
    sl_ctl_json_number(o, "pass_rate", c->pass_rate);
    cJSON_AddNumberToObject(o, "judge_graded", (double)c->graded);
    sl_ctl_json_number(o, "judge_grade_mean", c->grade_mean);
    shadow = cJSON_AddObjectToObject(o, "shadow");
    cJSON_AddNumberToObject(shadow, "win", (double)c->wins);
    cJSON_AddNumberToObject(shadow, "tie", (double)c->ties);
    cJSON_AddNumberToObject(shadow, "loss", (double)c->losses);
    cJSON_AddNumberToObject(o, "judge_failures", (double)c->judge_failures);
    cJSON_AddNumberToObject(o, "shadow_failures", (double)c->shadow_failures);
}

cJSON *sl_ctl_quality_json(const struct sl_ctl_quality *r)
{
    cJSON *o = cJSON_CreateObject(), *rows, *totals;
    const char *by = sl_ctl_quality_by_name(r->by);

    cJSON_AddStringToObject(o, "report", "quality");
    cJSON_AddStringToObject(o, "by", by);
    cJSON_AddStringToObject(o, "bucket", sl_ctl_quality_bucket_name(r->bucket));
    sl_ctl_json_time(o, "since", r->since_ms);
    sl_ctl_json_time(o, "until", r->until_ms);
    rows = cJSON_AddArrayToObject(o, "rows");
    for (size_t i = 0; rows && i < r->n; i++) {
        cJSON *row = cJSON_CreateObject();

        sl_ctl_json_time(row, "bucket", r->rows[i].bucket_ms);
        if (r->rows[i].group)
            cJSON_AddStringToObject(row, by, r->rows[i].group);
        else
            cJSON_AddNullToObject(row, by);
        sl_ctl_quality_counts_json(row, &r->rows[i].c);
        cJSON_AddItemToArray(rows, row);
    }
    totals = cJSON_AddObjectToObject(o, "totals");
    sl_ctl_quality_counts_json(totals, &r->totals);
    return o;
}

/* ---- table ------------------------------------------------------------------------------ */

static void title(FILE *out, const struct sl_ctl_quality *r)
{
    fprintf(out, "quality by %s per %s", sl_ctl_quality_by_name(r->by),
            sl_ctl_quality_bucket_name(r->bucket));
    sl_ctl_print_window(out, r->since_ms, r->until_ms);
    fputc('\n', out);
}

static void counts_cells(struct sl_ctl_table *t, const struct sl_ctl_quality_counts *c)
{
    sl_ctl_table_cellf(t, "%lld", (long long)c->samples);
    sl_ctl_table_cellf(t, "%lld", (long long)c->scored);
    sl_ctl_table_percent(t, c->pass_rate);
    if (isnan(c->grade_mean))
        sl_ctl_table_cell(t, NULL);
    else
        sl_ctl_table_cellf(t, "%.2f", c->grade_mean);
    sl_ctl_table_cellf(t, "%lld", (long long)c->wins);
    sl_ctl_table_cellf(t, "%lld", (long long)c->ties);
    sl_ctl_table_cellf(t, "%lld", (long long)c->losses);
    sl_ctl_table_cellf(t, "%lld", (long long)c->judge_failures);
}

int sl_ctl_quality_print(const struct sl_ctl_quality *r, FILE *out)
{
    struct sl_ctl_table *t;
    int rc;

    title(out, r);
    if (r->n == 0) {
        fputs("no samples\n", out);
        return ferror(out) ? SL_EIO : 0;
    }
    if (!(t = sl_ctl_table_create()))
        return SL_ENOMEM;
    sl_ctl_table_column(t, r->bucket == SL_CTL_QUALITY_HOUR ? "hour UTC" : "day UTC", SL_CTL_LEFT);
    sl_ctl_table_column(t, sl_ctl_quality_by_name(r->by), SL_CTL_LEFT);
    sl_ctl_table_column(t, "samples", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "scored", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "pass", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "grade", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "win", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "tie", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "loss", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "judge fail", SL_CTL_RIGHT);
    for (size_t i = 0; i < r->n; i++) {
        char when[32];

        sl_ctl_format_time(r->rows[i].bucket_ms / 1000, when, sizeof(when));
        if (r->bucket == SL_CTL_QUALITY_DAY)
            when[10] = '\0'; /* the date alone */
        sl_ctl_table_cell(t, when);
        sl_ctl_table_cell(t, r->rows[i].group ? r->rows[i].group : "(none)");
        counts_cells(t, &r->rows[i].c);
    }
    sl_ctl_table_rule(t);
    sl_ctl_table_cell(t, "total");
    sl_ctl_table_cell(t, "");
    counts_cells(t, &r->totals);
    rc = sl_ctl_table_print(t, out);
    sl_ctl_table_destroy(t);
    if (rc == 0)
        fputs("pass: scored samples no scorer failed; grade: the judge's mean (0 to 1); "
              "win/tie/loss:\nshadow verdicts against the premium tier; judge fail: judge "
              "calls without a verdict\n",
              out);
    return rc == 0 && ferror(out) ? SL_EIO : rc;
}

/* ---- the command ------------------------------------------------------------------------ */

static const int quality_options[] = {SL_CTL_OPT_DB,
                                      SL_CTL_OPT_SINCE,
                                      SL_CTL_OPT_UNTIL,
                                      SL_CTL_OPT_JSON,
                                      SL_CTL_OPT_BY,
                                      SL_CTL_OPT_BUCKET,
                                      0};

static const struct sl_ctl_spec quality_spec = {
    "quality",
    "quality [--by tier|model|route|arm] [--bucket hour|day] [--since WHEN] [--until WHEN] "
    "[--db PATH] [--json]",
    "Answer quality over time, from the evaluator's scores of sampled traffic: per hour or\n"
    "day and per group, the samples received, those scored, the pass rate (a sample passes\n"
    "when no scorer failed it; scorers that failed themselves do not count), the judge's\n"
    "mean grade (0 to 1), the shadow verdicts of the answer against the premium tier's (win,\n"
    "tie, loss) and the judge calls that gave no verdict.\n"
    "\n"
    "  --by GROUP      tier (default: route/tier), model (the alias that answered), route or\n"
    "                  arm (the A/B arm)\n"
    "  --bucket SIZE   hour or day (default), UTC\n"
    "  --since WHEN    samples from WHEN on: YYYY-MM-DD (00:00 UTC) or a relative 7d / 24h\n"
    "                  (that long ago); default: the first sample\n"
    "  --until WHEN    samples before WHEN (exclusive), same forms; default: now\n"
    "  --db PATH       the evaluator's database, opened read-only (default\n"
    "                  $SLUICE_DATA_DIR/eval.db, or data/eval.db when SLUICE_DATA_DIR is not set)\n"
    "  --json          one JSON document {\"rows\":[...],\"totals\":{...}} instead of a table\n",
    quality_options,
    0,
    0,
};

int sl_ctl_quality_cmd(int argc, char **argv, FILE *out, FILE *err)
{
    enum sl_ctl_quality_by by = SL_CTL_QUALITY_BY_TIER;
    enum sl_ctl_quality_bucket bucket = SL_CTL_QUALITY_DAY;
    struct sl_ctl_quality r;
    struct sl_ctl_args a;
    sqlite3 *db;
    char path[4096], msg[512];
    int status, rc, wrc = 0;

    if ((status = sl_ctl_parse(&quality_spec, argc, argv, sl_clock_wall_ms(), &a, out, err)) !=
        SL_CTL_RUN)
        return status;
    if (a.by && sl_ctl_quality_by_parse(a.by, &by) != 0)
        return sl_ctl_usage(&quality_spec, err,
                            "--by: bad value \"%s\" (want tier, model, route or arm)", a.by);
    if (a.bucket && sl_ctl_quality_bucket_parse(a.bucket, &bucket) != 0)
        return sl_ctl_usage(&quality_spec, err, "--bucket: bad value \"%s\"", a.bucket);
    if (a.db)
        snprintf(path, sizeof(path), "%s", a.db);
    else
        sl_ctl_default_evaldb(path, sizeof(path));
    if (!(db = sl_evaldb_open(path, true, msg, sizeof(msg))))
        return sl_ctl_fail(err, "%s", msg);
    if ((rc = sl_ctl_quality_run(db, by, bucket, a.since_ms, a.until_ms, &r)) == 0) {
        wrc = a.json ? sl_ctl_print_json(sl_ctl_quality_json(&r), out)
                     : sl_ctl_quality_print(&r, out);
        sl_ctl_quality_free(&r);
    }
    status = sl_ctl_report_status(out, err, path, sqlite3_errmsg(db), rc, wrc);
    sqlite3_close(db);
    return status;
}
