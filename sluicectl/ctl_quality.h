/* sluicectl quality: answer quality over time from eval.db (common/evaldb.h), per hour or day
 * and per tier, model, route or A/B arm. A sample passes when none of its scorers' results
 * failed it (pass = 0), and counts as scored once at least one result has a pass that is not
 * NULL; a scorer that failed itself (pass NULL) neither passes nor fails it. The report's rows
 * own their group names and are released with sl_ctl_quality_free; the JSON document is the
 * caller's to delete. */
#ifndef SL_CTL_QUALITY_H
#define SL_CTL_QUALITY_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"

enum sl_ctl_quality_by {
    SL_CTL_QUALITY_BY_TIER, /* "route/tier" */
    SL_CTL_QUALITY_BY_MODEL,
    SL_CTL_QUALITY_BY_ROUTE,
    SL_CTL_QUALITY_BY_ARM,
};

enum sl_ctl_quality_bucket { SL_CTL_QUALITY_HOUR, SL_CTL_QUALITY_DAY };

/* "tier", "model", "route", "arm" / "hour", "day" <-> enum. SL_EINVAL for another name. */
int sl_ctl_quality_by_parse(const char *s, enum sl_ctl_quality_by *by) SL_MUST_CHECK;
const char *sl_ctl_quality_by_name(enum sl_ctl_quality_by by);
int sl_ctl_quality_bucket_parse(const char *s, enum sl_ctl_quality_bucket *b) SL_MUST_CHECK;
const char *sl_ctl_quality_bucket_name(enum sl_ctl_quality_bucket b);

/* What the scorers said about the samples of one bucket and group. */
struct sl_ctl_quality_counts {
    int64_t samples;            /* received */
    int64_t scored;             /* with at least one pass that is not NULL */
    int64_t passed;             /* scored, and no result with pass = 0 */
    double pass_rate;           /* passed / scored; NAN when nothing was scored */
    int64_t graded;             /* judge results with a grade */
    double grade_mean;          /* their mean grade, in [0, 1]; NAN when there are none */
    int64_t wins, ties, losses; /* shadow verdicts of the answer against the premium tier's */
    int64_t judge_failures;     /* judge results without a verdict (pass NULL) */
    int64_t shadow_failures;    /* shadow results without a verdict */
};

/* For other reports over eval.db that count as this one does (ctl_ab). SL_CTL_QUALITY_PER_SAMPLE
 * is a common table expression "per" that folds each sample's results into one row (for
 * samples with ts_ms in [?1, ?2)); SL_CTL_QUALITY_COLUMNS, selected over samples s LEFT JOIN
 * per p ON p.sid = s.id and a GROUP BY, are the SL_CTL_QUALITY_N_COLUMNS counts that
 * sl_ctl_quality_counts_read takes from a row, starting at column col. Until
 * sl_ctl_quality_counts_finish, grade_mean holds the sum of the grades (so that counts can be
 * added) and pass_rate is NAN. Neither text holds a '%'. */
#define SL_CTL_QUALITY_PER_SAMPLE                                                                  \
    "per AS (SELECT r.sample_id AS sid,"                                                           \
    "  MAX(r.pass IS NOT NULL) AS scored,"                                                         \
    "  COALESCE(MAX(r.pass = 0), 0) AS failed,"                                                    \
    "  SUM(r.scorer = 'judge' AND r.grade IS NOT NULL) AS graded,"                                 \
    "  TOTAL(CASE WHEN r.scorer = 'judge' THEN r.grade END) AS grade_sum,"                         \
    "  SUM(r.scorer = 'shadow' AND r.verdict = 'win') AS wins,"                                    \
    "  SUM(r.scorer = 'shadow' AND r.verdict = 'tie') AS ties,"                                    \
    "  SUM(r.scorer = 'shadow' AND r.verdict = 'loss') AS losses,"                                 \
    "  SUM(r.scorer = 'judge' AND r.pass IS NULL) AS judge_failures,"                              \
    "  SUM(r.scorer = 'shadow' AND r.verdict IS NULL) AS shadow_failures"                          \
    " FROM results r JOIN samples s ON s.id = r.sample_id"                                         \
    " WHERE s.ts_ms >= ?1 AND s.ts_ms < ?2"                                                        \
    " GROUP BY r.sample_id)"
#define SL_CTL_QUALITY_COLUMNS                                                                     \
    "COUNT(*), TOTAL(p.scored), TOTAL(p.scored = 1 AND p.failed = 0), TOTAL(p.graded),"            \
    " TOTAL(p.grade_sum), TOTAL(p.wins), TOTAL(p.ties), TOTAL(p.losses),"                          \
    " TOTAL(p.judge_failures), TOTAL(p.shadow_failures)"
#define SL_CTL_QUALITY_N_COLUMNS 10

void sl_ctl_quality_counts_read(sqlite3_stmt *st, int col, struct sl_ctl_quality_counts *c);
/* Sets pass_rate and turns the grade sum into the mean (NAN where nothing counts). */
void sl_ctl_quality_counts_finish(struct sl_ctl_quality_counts *c);
/* Adds c's members to o as the report's rows have them ("samples" ... "shadow_failures"). */
void sl_ctl_quality_counts_json(cJSON *o, const struct sl_ctl_quality_counts *c);

struct sl_ctl_quality_row {
    int64_t bucket_ms; /* the bucket's start, Unix ms (UTC hours and days) */
    char *group;       /* NULL: samples that recorded none */
    struct sl_ctl_quality_counts c;
};

struct sl_ctl_quality {
    enum sl_ctl_quality_by by;
    enum sl_ctl_quality_bucket bucket;
    int64_t since_ms, until_ms;      /* samples' ts_ms in [since, until); INT64_MIN/MAX: open */
    struct sl_ctl_quality_row *rows; /* by bucket, then group (NULL first) */
    size_t n;
    struct sl_ctl_quality_counts totals; /* the whole window */
};

/* The report over samples with ts_ms in [since_ms, until_ms). SL_EIO when SQLite fails
 * (sqlite3_errmsg(db) says why), SL_ENOMEM; on failure r holds nothing to free. */
int sl_ctl_quality_run(sqlite3 *db, enum sl_ctl_quality_by by, enum sl_ctl_quality_bucket bucket,
                       int64_t since_ms, int64_t until_ms, struct sl_ctl_quality *r) SL_MUST_CHECK;
void sl_ctl_quality_free(struct sl_ctl_quality *r);

/* {"report": "quality", "by", "bucket", "since", "until", "rows": [{"bucket": ISO 8601, BY:
 * group, "samples", "scored", "passed", "pass_rate", "judge_graded", "judge_grade_mean",
 * "shadow": {"win", "tie", "loss"}, "judge_failures", "shadow_failures"}], "totals": {the
 * same without bucket and group}}; rates and means are null when undefined. */
cJSON *sl_ctl_quality_json(const struct sl_ctl_quality *r);
int sl_ctl_quality_print(const struct sl_ctl_quality *r, FILE *out) SL_MUST_CHECK;

/* sluicectl quality ARGS (argv[0] is "quality"): the exit status. */
int sl_ctl_quality_cmd(int argc, char **argv, FILE *out, FILE *err);

#endif
