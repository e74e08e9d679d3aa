/* Tests for sluicectl/ctl_alerts: listing, showing and acknowledging the alerts of a small
 * eval.db, their JSON and text, and the commands' exit statuses. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_alerts.h"
#include "evaldb.h"

#define HOUR_MS 3600000LL
#define D0      1730419200000LL /* 2024-11-01 00:00 UTC */

static char dir[64];
static char path[128];
static sqlite3 *db;

/* Alert 1: open, seen last at 05:00; 2: resolved and acknowledged; 3: open, seen last at 06:00,
 * evidence that is not JSON. */
static const char fixture[] =
    "INSERT INTO alerts(id, key, route, tier, model, arm, metric, detector, severity, state,"
    " first_seen_ms, last_seen_ms, resolved_ms, acked_ms, acked_by, evidence) VALUES"
    " (1, 'tier=auto/small', 'auto', 'small', NULL, NULL, 'pass_rate', 'two_proportion',"
    "  'critical', 'open', 1730422800000, 1730437200000, NULL, NULL, NULL,"
    "  '{\"window\":200,\"before\":0.92,\"after\":0.61,\"p_value\":0.0001}'),"
    " (2, 'model=gpt-4o-mini', NULL, NULL, 'gpt-4o-mini', NULL, 'judge_grade', 'cusum',"
    "  'warning', 'resolved', 1730419200000, 1730426400000, 1730430000000, 1730428200000,"
    "  'bob', '{\"statistic\":5.1}'),"
    " (3, 'tier=code/small', 'code', 'small', NULL, 'b', 'pass_rate', 'cusum', 'warning',"
    "  'open', 1730433600000, 1730440800000, NULL, NULL, NULL, 'n/a');";

static void setup(void)
{
    char err[256] = "";

    snprintf(dir, sizeof(dir), "/tmp/sluice-test-alerts-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/eval.db", dir);
    db = sl_evaldb_open(path, false, err, sizeof(err));
    cr_assert_not_null(db, "%s", err);
    cr_assert_eq(sqlite3_exec(db, fixture, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
}

static void teardown(void)
{
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};

    sqlite3_close(db);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(ctl_alerts, .init = setup, .fini = teardown);

Test(ctl_alerts, list_shows_open_alerts_most_recent_first)
{
    struct sl_ctl_alerts r;

    cr_assert_eq(sl_ctl_alerts_list(db, false, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.rows[0].id, 3);
    cr_assert_eq(r.rows[1].id, 1);
    cr_assert_str_eq(r.rows[1].key, "tier=auto/small");
    cr_assert_str_eq(r.rows[1].severity, "critical");
    cr_assert_eq(r.rows[1].first_seen_ms, D0 + 1 * HOUR_MS);
    cr_assert_eq(r.rows[1].last_seen_ms, D0 + 5 * HOUR_MS);
    cr_assert_eq(r.rows[1].resolved_ms, -1);
    cr_assert_eq(r.rows[1].acked_ms, -1);
    cr_assert_null(r.rows[1].acked_by);
    cr_assert_null(r.rows[1].model);
    sl_ctl_alerts_free(&r);
}

Test(ctl_alerts, list_all_puts_resolved_alerts_after_open_ones)
{
    struct sl_ctl_alerts r;

    cr_assert_eq(sl_ctl_alerts_list(db, true, &r), 0);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(r.rows[0].id, 3);
    cr_assert_eq(r.rows[1].id, 1);
    cr_assert_eq(r.rows[2].id, 2);
    cr_assert_str_eq(r.rows[2].state, "resolved");
    cr_assert_eq(r.rows[2].resolved_ms, D0 + 3 * HOUR_MS);
    cr_assert_str_eq(r.rows[2].acked_by, "bob");
    sl_ctl_alerts_free(&r);
}

Test(ctl_alerts, get_finds_one_alert_or_says_there_is_none)
{
    struct sl_ctl_alert a;

    cr_assert_eq(sl_ctl_alert_get(db, 2, &a), 0);
    cr_assert_str_eq(a.key, "model=gpt-4o-mini");
    cr_assert_str_eq(a.model, "gpt-4o-mini");
    cr_assert_str_eq(a.metric, "judge_grade");
    cr_assert_str_eq(a.detector, "cusum");
    cr_assert_str_eq(a.evidence, "{\"statistic\":5.1}");
    cr_assert_eq(a.acked_ms, D0 + 2 * HOUR_MS + 30 * 60000);
    sl_ctl_alert_free(&a);
    cr_assert_eq(sl_ctl_alert_get(db, 99, &a), SL_ENOTFOUND);
}

Test(ctl_alerts, ack_records_when_and_who)
{
    struct sl_ctl_alert a;

    cr_assert_eq(sl_ctl_alert_ack(db, 1, "alice", D0 + 7 * HOUR_MS), 0);
    cr_assert_eq(sl_ctl_alert_get(db, 1, &a), 0);
    cr_assert_eq(a.acked_ms, D0 + 7 * HOUR_MS);
    cr_assert_str_eq(a.acked_by, "alice");
    cr_assert_str_eq(a.state, "open", "acknowledging does not resolve");
    sl_ctl_alert_free(&a);
    /* Again, without a name: both are replaced. */
    cr_assert_eq(sl_ctl_alert_ack(db, 1, NULL, D0 + 8 * HOUR_MS), 0);
    cr_assert_eq(sl_ctl_alert_get(db, 1, &a), 0);
    cr_assert_eq(a.acked_ms, D0 + 8 * HOUR_MS);
    cr_assert_null(a.acked_by);
    sl_ctl_alert_free(&a);
    cr_assert_eq(sl_ctl_alert_ack(db, 99, "alice", D0), SL_ENOTFOUND);
}

Test(ctl_alerts, json_has_every_field_and_the_evidence_as_json)
{
    struct sl_ctl_alert a;
    cJSON *o;

    cr_assert_eq(sl_ctl_alert_get(db, 1, &a), 0);
    o = sl_ctl_alert_json(&a);
    cr_assert_eq(cJSON_GetObjectItem(o, "id")->valueint, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "key")->valuestring, "tier=auto/small");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "tier")->valuestring, "small");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "model")));
    cr_assert_str_eq(cJSON_GetObjectItem(o, "first_seen")->valuestring, "2024-11-01T01:00:00.000Z");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "resolved")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "acked")));
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "evidence"), "window")->valueint, 200);
    cJSON_Delete(o);
    sl_ctl_alert_free(&a);
    /* Evidence that is not JSON stays text. */
    cr_assert_eq(sl_ctl_alert_get(db, 3, &a), 0);
    o = sl_ctl_alert_json(&a);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "evidence")->valuestring, "n/a");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "arm")->valuestring, "b");
    cJSON_Delete(o);
    sl_ctl_alert_free(&a);
}

Test(ctl_alerts, list_json_shape)
{
    struct sl_ctl_alerts r;
    cJSON *o;

    cr_assert_eq(sl_ctl_alerts_list(db, true, &r), 0);
    o = sl_ctl_alerts_json(&r);
    cr_assert_str_eq(cJSON_GetObjectItem(o, "report")->valuestring, "alerts");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "all")));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "rows")), 3);
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "rows"), 2), "acked")
            ->valuestring,
        "2024-11-01T02:30:00.000Z");
    cJSON_Delete(o);
    sl_ctl_alerts_free(&r);
}

/* ---- text and commands ---- */

static char *out_text, *err_text;

/* Runs sluicectl alerts with the arguments after argv0, up to a NULL. */
static int run(const char *argv0, ...)
{
    char *argv[16] = {(char *)argv0};
    int argc = 1, rc;
    size_t olen, elen;
    FILE *out, *err;
    va_list ap;

    va_start(ap, argv0);
    for (const char *s; (s = va_arg(ap, const char *)) && argc < 15;)
        argv[argc++] = (char *)s;
    va_end(ap);
    argv[argc] = NULL;
    free(out_text);
    free(err_text);
    out = open_memstream(&out_text, &olen);
    err = open_memstream(&err_text, &elen);
    rc = sl_ctl_alerts_cmd(argc, argv, out, err);
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

Test(ctl_alerts, the_table_has_one_line_per_alert)
{
    cr_assert_eq(run("alerts", "--db", path, "--all", NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "id  key"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "first seen UTC"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "tier=auto/small"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "2024-11-01 05:00"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "bob"), "%s", out_text);
    cr_assert_eq(run("alerts", "list", "--db", path, NULL), 0, "%s", err_text);
    cr_assert_null(strstr(out_text, "model=gpt-4o-mini"), "%s", out_text);
    free_texts();
}

Test(ctl_alerts, no_open_alerts_says_so)
{
    cr_assert_eq(sqlite3_exec(db, "UPDATE alerts SET state = 'resolved'", NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(run("alerts", "--db", path, NULL), 0, "%s", err_text);
    cr_assert_str_eq(out_text, "no open alerts\n");
    free_texts();
}

Test(ctl_alerts, show_pretty_prints_the_evidence)
{
    cr_assert_eq(run("alerts", "show", "1", "--db", path, NULL), 0, "%s", err_text);
    cr_assert_eq(strncmp(out_text, "alert 1\nkey          tier=auto/small\n", 37), 0, "%s",
                 out_text);
    cr_assert_not_null(strstr(out_text, "detector     two_proportion\n"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "first seen   2024-11-01 01:00 UTC\n"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "acked        -\n"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "evidence\n  {\n    \"window\": 200,\n"), "%s", out_text);
    cr_assert_eq(run("alerts", "show", "2", "--db", path, NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "acked        2024-11-01 02:30 UTC by bob\n"), "%s",
                       out_text);
    free_texts();
}

Test(ctl_alerts, show_json_is_one_object)
{
    cJSON *o;

    cr_assert_eq(run("alerts", "show", "3", "--db", path, "--json", NULL), 0, "%s", err_text);
    o = cJSON_Parse(out_text);
    cr_assert_not_null(o, "%s", out_text);
    cr_assert_eq(cJSON_GetObjectItem(o, "id")->valueint, 3);
    cJSON_Delete(o);
    free_texts();
}

Test(ctl_alerts, ack_writes_to_the_database)
{
    struct sl_ctl_alert a;

    cr_assert_eq(run("alerts", "ack", "1", "--by", "carol", "--db", path, NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "alert 1 acknowledged at "), "%s", out_text);
    cr_assert_not_null(strstr(out_text, " UTC by carol\n"), "%s", out_text);
    cr_assert_eq(sl_ctl_alert_get(db, 1, &a), 0);
    cr_assert_str_eq(a.acked_by, "carol");
    cr_assert_gt(a.acked_ms, D0);
    sl_ctl_alert_free(&a);
    /* The name defaults to $USER. */
    setenv("USER", "dave", 1);
    cr_assert_eq(run("alerts", "ack", "3", "--db", path, NULL), 0, "%s", err_text);
    cr_assert_eq(sl_ctl_alert_get(db, 3, &a), 0);
    cr_assert_str_eq(a.acked_by, "dave");
    sl_ctl_alert_free(&a);
    free_texts();
}

Test(ctl_alerts, missing_alerts_and_databases_are_failures)
{
    char missing[160];
    struct stat sb;

    cr_assert_eq(run("alerts", "ack", "99", "--db", path, NULL), 1);
    cr_assert_not_null(strstr(err_text, ": no alert 99"), "%s", err_text);
    cr_assert_eq(run("alerts", "show", "99", "--db", path, NULL), 1);
    cr_assert_not_null(strstr(err_text, ": no alert 99"), "%s", err_text);
    /* ack opens read-write, but never creates the file. */
    snprintf(missing, sizeof(missing), "%s/none.db", dir);
    cr_assert_eq(run("alerts", "ack", "1", "--db", missing, NULL), 1);
    cr_assert_not_null(strstr(err_text, "cannot open"), "%s", err_text);
    cr_assert_neq(stat(missing, &sb), 0);
    cr_assert_eq(run("alerts", "--db", missing, NULL), 1);
    free_texts();
}

Test(ctl_alerts, the_default_database_is_in_the_data_dir)
{
    setenv("SLUICE_DATA_DIR", dir, 1);
    cr_assert_eq(run("alerts", "--json", NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(out_text, "\"tier=auto/small\""), "%s", out_text);
    free_texts();
}

Test(ctl_alerts, bad_usage_exits_2)
{
    cr_assert_eq(run("alerts", "show", NULL), 2);
    cr_assert_not_null(strstr(err_text, "sluicectl alerts show: missing argument"), "%s", err_text);
    cr_assert_eq(run("alerts", "show", "x1", "--db", path, NULL), 2);
    cr_assert_not_null(strstr(err_text, "bad alert ID \"x1\""), "%s", err_text);
    cr_assert_eq(run("alerts", "ack", "0", "--db", path, NULL), 2);
    cr_assert_eq(run("alerts", "ack", "1", "--json", "--db", path, NULL), 2);
    cr_assert_eq(run("alerts", "list", "--by", "x", NULL), 2);
    cr_assert_eq(run("alerts", "silence", "1", NULL), 2);
    cr_assert_not_null(strstr(err_text, "unknown command \"silence\""), "%s", err_text);
    free_texts();
}

Test(ctl_alerts, help_goes_to_out_and_succeeds)
{
    cr_assert_eq(run("alerts", "--help", NULL), 0);
    cr_assert_eq(strncmp(out_text, "usage: sluicectl alerts", 23), 0, "%s", out_text);
    cr_assert_eq(run("alerts", "ack", "--help", NULL), 0);
    cr_assert_eq(strncmp(out_text, "usage: sluicectl alerts ack ID", 30), 0, "%s", out_text);
    cr_assert_str_eq(err_text, "");
    free_texts();
}
