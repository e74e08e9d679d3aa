/* sluicectl alerts list|show|ack: SQL over eval.db's alerts table, the results as tables or
 * JSON. Only ack writes, and it opens the file read-write for that one statement. */
#include "ctl_alerts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctl.h"
#include "ctl_table.h"
#include "evaldb.h"

#define COLUMNS                                                                                    \
    "id, key, route, tier, model, arm, metric, detector, severity, state, first_seen_ms,"          \
    " last_seen_ms, resolved_ms, acked_ms, acked_by, evidence"

void sl_ctl_alert_free(struct sl_ctl_alert *a)
{
    char **s[] = {&a->key,      &a->route,    &a->tier,  &a->model,    &a->arm,     &a->metric,
                  &a->detector, &a->severity, &a->state, &a->acked_by, &a->evidence};

    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        free(*s[i]);
        *s[i] = NULL;
    }
}

void sl_ctl_alerts_free(struct sl_ctl_alerts *r)
{
    for (size_t i = 0; i < r->n; i++)
        sl_ctl_alert_free(&r->rows[i]);
    free(r->rows);
    r->rows = NULL;
    r->n = 0;
}

/* A heap copy of a text column, NULL for SQL NULL; *rc becomes SL_ENOMEM when it fails. */
static char *column_text(sqlite3_stmt *st, int i, int *rc)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    char *copy;

    if (!s)
        return NULL;
    if (!(copy = strdup((const char *)s)))
        *rc = SL_ENOMEM;
    return copy;
}

static int64_t column_ms(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

/* Fills a from the current row of a SELECT COLUMNS. */
static int read_alert(sqlite3_stmt *st, struct sl_ctl_alert *a)
{
    int rc = 0;

    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(st, 0);
    a->key = column_text(st, 1, &rc);
    a->route = column_text(st, 2, &rc);
    a->tier = column_text(st, 3, &rc);
    a->model = column_text(st, 4, &rc);
    a->arm = column_text(st, 5, &rc);
    a->metric = column_text(st, 6, &rc);
    a->detector = column_text(st, 7, &rc);
    a->severity = column_text(st, 8, &rc);
    a->state = column_text(st, 9, &rc);
    a->first_seen_ms = column_ms(st, 10);
    a->last_seen_ms = column_ms(st, 11);
    a->resolved_ms = column_ms(st, 12);
    a->acked_ms = column_ms(st, 13);
    a->acked_by = column_text(st, 14, &rc);
    a->evidence = column_text(st, 15, &rc);
    if (rc)
        sl_ctl_alert_free(a);
    return rc;
}

int sl_ctl_alerts_list(sqlite3 *db, bool all, struct sl_ctl_alerts *r)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc = 0, step;

    memset(r, 0, sizeof(*r));
    r->all = all;
    if (sqlite3_prepare_v2(db,
                           all ? "SELECT " COLUMNS " FROM alerts"
                                 " ORDER BY state = 'open' DESC, last_seen_ms DESC, id DESC"
                               : "SELECT " COLUMNS " FROM alerts WHERE state = 'open'"
                                 " ORDER BY last_seen_ms DESC, id DESC",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = SL_EIO;
        goto out;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            struct sl_ctl_alert *p = realloc(r->rows, ncap * sizeof(*p));
            if (!p) {
                rc = SL_ENOMEM;
                goto out;
            }
            r->rows = p;
            cap = ncap;
        }
        if ((rc = read_alert(st, &r->rows[r->n])) != 0)
            goto out;
        r->n++;
    }
    if (step != SQLITE_DONE)
        rc = SL_EIO;
out:
    sqlite3_finalize(st);
    if (rc)
        sl_ctl_alerts_free(r);
    return rc;
}

int sl_ctl_alert_get(sqlite3 *db, int64_t id, struct sl_ctl_alert *a)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, step;

    memset(a, 0, sizeof(*a));
    if (sqlite3_prepare_v2(db, "SELECT " COLUMNS " FROM alerts WHERE id = ?1", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_bind_int64(st, 1, id) != SQLITE_OK) {
        rc = SL_EIO;
        goto out;
    }
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = read_alert(st, a);
    else
        rc = step == SQLITE_DONE ? SL_ENOTFOUND : SL_EIO;
out:
    sqlite3_finalize(st);
    return rc;
}

int sl_ctl_alert_ack(sqlite3 *db, int64_t id, const char *by, int64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;

    if (sqlite3_prepare_v2(db, "UPDATE alerts SET acked_ms = ?1, acked_by = ?2 WHERE id = ?3", -1,
                           &st, NULL) != SQLITE_OK ||
        sqlite3_bind_int64(st, 1, now_ms) != SQLITE_OK ||
        (by ? sqlite3_bind_text(st, 2, by, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 2)) !=
            SQLITE_OK ||
        sqlite3_bind_int64(st, 3, id) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        rc = SL_EIO;
        goto out;
    }
    if (sqlite3_changes(db) == 0)
        rc = SL_ENOTFOUND;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- JSON ------------------------------------------------------------------------------- */

/* The builders do not check each cJSON call: cJSON's adders ignore a NULL object, and
 * sluicectl's main makes cJSON abort when out of memory rather than drop a member. */
cJSON *sl_ctl_alert_json(const struct sl_ctl_alert *a)
{
    cJSON *o = cJSON_CreateObject(), *evidence = a->evidence ? cJSON_Parse(a->evidence) : NULL;

    cJSON_AddNumberToObject(o, "id", (double)a->id);
    sl_ctl_json_string(o, "key", a->key);
    sl_ctl_json_string(o, "route", a->route);
    sl_ctl_json_string(o, "tier", a->tier);
    sl_ctl_json_string(o, "model", a->model);
    sl_ctl_json_string(o, "arm", a->arm);
    sl_ctl_json_string(o, "metric", a->metric);
    sl_ctl_json_string(o, "detector", a->detector);
    sl_ctl_json_string(o, "severity", a->severity);
    sl_ctl_json_string(o, "state", a->state);
    sl_ctl_json_time(o, "first_seen", a->first_seen_ms);
    sl_ctl_json_time(o, "last_seen", a->last_seen_ms);
    sl_ctl_json_time(o, "resolved", a->resolved_ms);
    sl_ctl_json_time(o, "acked", a->acked_ms);
    sl_ctl_json_string(o, "acked_by", a->acked_by);
    if (evidence)
        cJSON_AddItemToObject(o, "evidence", evidence);
    else
        sl_ctl_json_string(o, "evidence", a->evidence);
    return o;
}

cJSON *sl_ctl_alerts_json(const struct sl_ctl_alerts *r)
{
    cJSON *o = cJSON_CreateObject(), *rows;

    cJSON_AddStringToObject(o, "report", "alerts");
    cJSON_AddBoolToObject(o, "all", r->all);
    rows = cJSON_AddArrayToObject(o, "rows");
    for (size_t i = 0; rows && i < r->n; i++)
        cJSON_AddItemToArray(rows, sl_ctl_alert_json(&r->rows[i]));
    return o;
}

/* ---- text ------------------------------------------------------------------------------- */

/* "YYYY-MM-DD HH:MM" (UTC), or NULL (printed as "-") when ms is -1. */
static const char *when(int64_t ms, char *buf, size_t len)
{
    if (ms < 0)
        return NULL;
    sl_ctl_format_time(ms / 1000, buf, len);
    return buf;
}

int sl_ctl_alerts_print(const struct sl_ctl_alerts *r, FILE *out)
{
    struct sl_ctl_table *t;
    char a[32], b[32];
    int rc;

    if (r->n == 0) {
        fputs(r->all ? "no alerts\n" : "no open alerts\n", out);
        return ferror(out) ? SL_EIO : 0;
    }
    if (!(t = sl_ctl_table_create()))
        return SL_ENOMEM;
    sl_ctl_table_column(t, "id", SL_CTL_RIGHT);
    sl_ctl_table_column(t, "key", SL_CTL_LEFT);
    sl_ctl_table_column(t, "severity", SL_CTL_LEFT);
    sl_ctl_table_column(t, "detector", SL_CTL_LEFT);
    sl_ctl_table_column(t, "state", SL_CTL_LEFT);
    sl_ctl_table_column(t, "first seen UTC", SL_CTL_LEFT);
    sl_ctl_table_column(t, "last seen UTC", SL_CTL_LEFT);
    sl_ctl_table_column(t, "acked", SL_CTL_LEFT);
    for (size_t i = 0; i < r->n; i++) {
        const struct sl_ctl_alert *x = &r->rows[i];

        sl_ctl_table_cellf(t, "%lld", (long long)x->id);
        sl_ctl_table_cell(t, x->key);
        sl_ctl_table_cell(t, x->severity);
        sl_ctl_table_cell(t, x->detector);
        sl_ctl_table_cell(t, x->state);
        sl_ctl_table_cell(t, when(x->first_seen_ms, a, sizeof(a)));
        sl_ctl_table_cell(t, when(x->last_seen_ms, b, sizeof(b)));
        if (x->acked_ms < 0)
            sl_ctl_table_cell(t, NULL);
        else if (x->acked_by)
            sl_ctl_table_cellf(t, "%s", x->acked_by);
        else
            sl_ctl_table_cell(t, "yes");
    }
    rc = sl_ctl_table_print(t, out);
    sl_ctl_table_destroy(t);
    if (rc == 0)
        fputs("sluicectl alerts show ID: an alert's evidence; alerts ack ID: acknowledge it\n",
              out);
    return rc == 0 && ferror(out) ? SL_EIO : rc;
}

static void field(FILE *out, const char *name, const char *value)
{
    fprintf(out, "%-12s %s\n", name, value ? value : "-");
}

/* "name  YYYY-MM-DD HH:MM UTC[ by WHO]", or "name  -" when ms is -1. */
static void time_field(FILE *out, const char *name, int64_t ms, const char *who)
{
    char t[32];

    if (ms < 0) {
        field(out, name, NULL);
        return;
    }
    sl_ctl_format_time(ms / 1000, t, sizeof(t));
    fprintf(out, "%-12s %s UTC%s%s\n", name, t, who ? " by " : "", who ? who : "");
}

/* Prints text's lines indented by two spaces; cJSON's tabs become two spaces of indentation,
 * or one space after a colon. */
static void print_indented(FILE *out, const char *text)
{
    bool start = true, indent = true;

    for (const char *p = text; *p; p++) {
        if (start)
            fputs("  ", out);
        start = *p == '\n';
        if (*p != '\t')
            indent = start;
        if (*p == '\t')
            fputs(indent ? "  " : " ", out);
        else
            fputc(*p, out);
    }
    if (!start)
        fputc('\n', out);
}

int sl_ctl_alert_print(const struct sl_ctl_alert *a, FILE *out)
{
    cJSON *evidence = a->evidence ? cJSON_Parse(a->evidence) : NULL;
    char *pretty = evidence ? cJSON_Print(evidence) : NULL;

    fprintf(out, "alert %lld\n", (long long)a->id);
    field(out, "key", a->key);
    field(out, "state", a->state);
    field(out, "severity", a->severity);
    field(out, "metric", a->metric);
    field(out, "detector", a->detector);
    field(out, "route", a->route);
    field(out, "tier", a->tier);
    field(out, "model", a->model);
    field(out, "arm", a->arm);
    time_field(out, "first seen", a->first_seen_ms, NULL);
    time_field(out, "last seen", a->last_seen_ms, NULL);
    time_field(out, "resolved", a->resolved_ms, NULL);
    time_field(out, "acked", a->acked_ms, a->acked_by);
    fputs("evidence\n", out);
    /* Evidence that is not JSON is still evidence: shown as written. */
    print_indented(out, pretty ? pretty : a->evidence ? a->evidence : "-");
    free(pretty);
    cJSON_Delete(evidence);
    return ferror(out) ? SL_EIO : 0;
}

/* ---- commands --------------------------------------------------------------------------- */

#define DB_HELP                                                                                    \
    "  --db PATH       the evaluator's database (default $SLUICE_DATA_DIR/eval.db, or\n"           \
    "                  data/eval.db when SLUICE_DATA_DIR is not set)\n"

static const int list_options[] = {SL_CTL_OPT_DB, SL_CTL_OPT_ALL, SL_CTL_OPT_JSON, 0};
static const int show_options[] = {SL_CTL_OPT_DB, SL_CTL_OPT_JSON, 0};
static const int ack_options[] = {SL_CTL_OPT_DB, SL_CTL_OPT_BY, 0};

static const struct sl_ctl_spec alerts_spec = {
    "alerts",
    "alerts [list [--all] | show ID | ack ID [--by NAME]] [--db PATH] [--json]",
    "The evaluator's quality alerts: one per drift condition (a tier, model or arm whose\n"
    "answers got worse) while it lasts.\n"
    "\n"
    "  alerts [list]   the open alerts (--all: resolved ones too), most recently seen first\n"
    "  alerts show ID  one alert with its evidence (windows, means, statistic, p-value)\n"
    "  alerts ack ID   acknowledge it: records when and by whom (--by NAME, default $USER)\n"
    "\n" DB_HELP "  --json          JSON instead of text (list and show)\n",
    list_options,
    0,
    0,
};

static const struct sl_ctl_spec list_spec = {
    "alerts list",
    "alerts [list] [--all] [--db PATH] [--json]",
    "The open alerts, most recently seen first: id, key (the condition, e.g. tier=auto/small),\n"
    "severity, detector, state, when first and last seen (UTC), and who acknowledged it.\n"
    "\n"
    "  --all           resolved alerts too, after the open ones\n" DB_HELP
    "  --json          {\"report\":\"alerts\",\"all\":false,\"rows\":[...]} instead of a table\n",
    list_options,
    0,
    0,
};

static const struct sl_ctl_spec show_spec = {
    "alerts show",
    "alerts show ID [--db PATH] [--json]",
    "Everything about one alert: what it is about, its state and times, who acknowledged it,\n"
    "and the detector's evidence pretty-printed.\n"
    "\n" DB_HELP "  --json          the alert as one JSON object, evidence included as JSON\n",
    show_options,
    1,
    1,
};

static const struct sl_ctl_spec ack_spec = {
    "alerts ack",
    "alerts ack ID [--by NAME] [--db PATH]",
    "Acknowledges an alert: stores the time and who (acked_ms, acked_by) in the database,\n"
    "which is opened read-write for this. Acknowledging again replaces both. An alert stays\n"
    "open until the evaluator resolves it.\n"
    "\n"
    "  --by NAME       who acknowledges (default $USER)\n" DB_HELP,
    ack_options,
    1,
    1,
};

/* Opens the database of a->db, or the default one. Read-write never creates it: a mistyped
 * path must not leave an empty eval.db behind, so the file is first opened read-only. */
static sqlite3 *open_db(const struct sl_ctl_args *a, bool readonly, char *path, size_t pathlen,
                        FILE *err)
{
    sqlite3 *db;
    char msg[512];

    if (a->db)
        snprintf(path, pathlen, "%s", a->db);
    else
        sl_ctl_default_evaldb(path, pathlen);
    db = sl_evaldb_open(path, true, msg, sizeof(msg));
    if (db && !readonly) {
        sqlite3_close(db);
        db = sl_evaldb_open(path, false, msg, sizeof(msg));
    }
    if (!db)
        sl_ctl_fail(err, "%s", msg);
    return db;
}

/* The exit status for a command's result rc and its output's wrc. */
static int status_of(int rc, int wrc, sqlite3 *db, const char *path, FILE *out, FILE *err)
{
    if (rc == SL_EIO)
        return sl_ctl_fail(err, "%s: %s", path, sqlite3_errmsg(db));
    if (rc != 0 || wrc == SL_ENOMEM)
        return sl_ctl_fail(err, "%s", sl_strerror(rc ? rc : wrc));
    if (wrc != 0 || fflush(out) != 0)
        return sl_ctl_fail(err, "cannot write: %s", strerror(errno));
    return 0;
}

static int list(int argc, char **argv, FILE *out, FILE *err)
{
    struct sl_ctl_alerts r;
    struct sl_ctl_args a;
    char path[4096];
    sqlite3 *db;
    int status, rc, wrc = 0;

    if ((status = sl_ctl_parse(&list_spec, argc, argv, sl_clock_wall_ms(), &a, out, err)) !=
        SL_CTL_RUN)
        return status;
    if (!(db = open_db(&a, true, path, sizeof(path), err)))
        return SL_CTL_EXIT_FAILURE;
    if ((rc = sl_ctl_alerts_list(db, a.all, &r)) == 0) {
        wrc =
            a.json ? sl_ctl_print_json(sl_ctl_alerts_json(&r), out) : sl_ctl_alerts_print(&r, out);
        sl_ctl_alerts_free(&r);
    }
    status = status_of(rc, wrc, db, path, out, err);
    sqlite3_close(db);
    return status;
}

static int show(int argc, char **argv, FILE *out, FILE *err)
{
    struct sl_ctl_alert x;
    struct sl_ctl_args a;
    char path[4096];
    sqlite3 *db;
    int64_t id;
    int status, rc, wrc = 0;

    if ((status = sl_ctl_parse(&show_spec, argc, argv, sl_clock_wall_ms(), &a, out, err)) !=
        SL_CTL_RUN)
        return status;
    if (sl_ctl_parse_id(a.args[0], &id) != 0)
        return sl_ctl_usage(&show_spec, err, "bad alert ID \"%s\"", a.args[0]);
    if (!(db = open_db(&a, true, path, sizeof(path), err)))
        return SL_CTL_EXIT_FAILURE;
    rc = sl_ctl_alert_get(db, id, &x);
    if (rc == 0) {
        wrc = a.json ? sl_ctl_print_json(sl_ctl_alert_json(&x), out) : sl_ctl_alert_print(&x, out);
        sl_ctl_alert_free(&x);
    }
    if (rc == SL_ENOTFOUND)
        status = sl_ctl_fail(err, "%s: no alert %lld", path, (long long)id);
    else
        status = status_of(rc, wrc, db, path, out, err);
    sqlite3_close(db);
    return status;
}

static int ack(int argc, char **argv, FILE *out, FILE *err)
{
    struct sl_ctl_args a;
    const char *by;
    char path[4096], t[32];
    int64_t id, now = sl_clock_wall_ms();
    sqlite3 *db;
    int status, rc;

    if ((status = sl_ctl_parse(&ack_spec, argc, argv, now, &a, out, err)) != SL_CTL_RUN)
        return status;
    if (sl_ctl_parse_id(a.args[0], &id) != 0)
        return sl_ctl_usage(&ack_spec, err, "bad alert ID \"%s\"", a.args[0]);
    if (a.by && !*a.by)
        return sl_ctl_usage(&ack_spec, err, "--by: the name is empty");
    by = a.by ? a.by : getenv("USER");
    if (by && !*by)
        by = NULL;
    if (!(db = open_db(&a, false, path, sizeof(path), err)))
        return SL_CTL_EXIT_FAILURE;
    rc = sl_ctl_alert_ack(db, id, by, now);
    if (rc == SL_ENOTFOUND) {
        status = sl_ctl_fail(err, "%s: no alert %lld", path, (long long)id);
    } else if (rc == 0) {
        sl_ctl_format_time(now / 1000, t, sizeof(t));
        fprintf(out, "alert %lld acknowledged at %s UTC%s%s\n", (long long)id, t, by ? " by " : "",
                by ? by : "");
        status = status_of(0, 0, db, path, out, err);
    } else {
        status = status_of(rc, 0, db, path, out, err);
    }
    sqlite3_close(db);
    return status;
}

int sl_ctl_alerts_cmd(int argc, char **argv, FILE *out, FILE *err)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "help") == 0)) {
        fprintf(out, "usage: sluicectl %s\n\n%s", alerts_spec.synopsis, alerts_spec.help);
        return 0;
    }
    /* "alerts" alone, or followed by options, lists. */
    if (argc < 2 || argv[1][0] == '-')
        return list(argc, argv, out, err);
    if (strcmp(argv[1], "list") == 0)
        return list(argc - 1, argv + 1, out, err);
    if (strcmp(argv[1], "show") == 0)
        return show(argc - 1, argv + 1, out, err);
    if (strcmp(argv[1], "ack") == 0)
        return ack(argc - 1, argv + 1, out, err);
    return sl_ctl_usage(&alerts_spec, err, "unknown command \"%s\"", argv[1]);
}
