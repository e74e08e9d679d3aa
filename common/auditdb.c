/* audit.db: the schema, inserting rows, and the per-team spending read back at start-up. */
#include "auditdb.h"

#include "db.h"

#include <stdio.h>
#include <string.h>

/* One string per schema version; a released one is never edited, only followed. Columns keep
 * the order of struct sl_audit_row. The index on ts_ms serves the time-window queries (team
 * spending at start-up, sluicectl's reports), which would otherwise scan the whole log. As ts_ms
 * grows with the row id, inserts append at the index's right edge: measured with bench-audit,
 * it costs about a quarter of the insert throughput and 11% of the file size. */
static const char *const migrations[] = {
    "CREATE TABLE requests(id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, request_id TEXT,"
    " team TEXT, key_id TEXT, endpoint TEXT, route TEXT, model_requested TEXT, model TEXT,"
    " tier TEXT, deployment TEXT, arm TEXT, error TEXT, config_version INTEGER, status INTEGER,"
    " attempts INTEGER, tokens_in INTEGER, tokens_out INTEGER, tokens_cached INTEGER,"
    " tokens_estimated INTEGER, stream INTEGER, cost_usd REAL, premium_cost_usd REAL,"
    " upstream_us INTEGER, overhead_us INTEGER);"
    "CREATE INDEX requests_ts ON requests(ts_ms);"
    "CREATE TABLE payloads(request_row INTEGER PRIMARY KEY REFERENCES requests(id),"
    " prompt TEXT, response TEXT);",
};

static const char insert_row_sql[] =
    "INSERT INTO requests(ts_ms, request_id, team, key_id, endpoint, route, model_requested,"
    " model, tier, deployment, arm, error, config_version, status, attempts, tokens_in,"
    " tokens_out, tokens_cached, tokens_estimated, stream, cost_usd, premium_cost_usd,"
    " upstream_us, overhead_us)"
    " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

static const char insert_payload_sql[] =
    "INSERT INTO payloads(request_row, prompt, response) VALUES(?, ?, ?)";

static const char team_spend_sql[] = "SELECT team, SUM(cost_usd) FROM requests"
                                     " WHERE ts_ms >= ? AND team IS NOT NULL GROUP BY team";

int sl_auditdb_open(struct sl_auditdb *a, const char *path, bool readonly, char *err, size_t errlen)
{
    int rc = SL_EIO;

    *a = (struct sl_auditdb){0};
    a->db = sl_db_open(path, readonly, migrations, sizeof(migrations) / sizeof(*migrations), err,
                       errlen);
    if (!a->db)
        goto out;
    if (!readonly && (sqlite3_prepare_v3(a->db, insert_row_sql, -1, SQLITE_PREPARE_PERSISTENT,
                                         &a->insert_row, NULL) != SQLITE_OK ||
                      sqlite3_prepare_v3(a->db, insert_payload_sql, -1, SQLITE_PREPARE_PERSISTENT,
                                         &a->insert_payload, NULL) != SQLITE_OK)) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(a->db));
        goto out;
    }
    rc = 0;
out:
    if (rc)
        sl_auditdb_close(a);
    return rc;
}

void sl_auditdb_close(struct sl_auditdb *a)
{
    sqlite3_finalize(a->insert_row);
    sqlite3_finalize(a->insert_payload);
    sqlite3_close(a->db);
    *a = (struct sl_auditdb){0};
}

/* Binds a string field, "" as NULL. The length is bounded by the array, so a field that lost
 * its NUL cannot make SQLite read past it. */
#define bind_field(st, i, field) bind_text((st), (i), (field), strnlen((field), sizeof(field)))

static int bind_text(sqlite3_stmt *st, int i, const char *s, size_t len)
{
    if (!s || !len)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, s, (int)len, SQLITE_STATIC);
}

/* Unknown counts (< 0) as NULL. */
static int bind_count(sqlite3_stmt *st, int i, int64_t v)
{
    return v < 0 ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v);
}

/* Unknown costs (< 0, or NaN) as NULL. */
static int bind_cost(sqlite3_stmt *st, int i, double v)
{
    return v >= 0 ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

/* Runs an insert and makes its statement ready for the next one. The bindings stay (pointing
 * into a row the caller may free) but nothing reads them before the next insert replaces them
 * all. */
static int step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st); /* after a failure this leaves the message in sqlite3_errmsg */
    return rc == SQLITE_DONE ? 0 : SL_EIO;
}

int sl_auditdb_insert(struct sl_auditdb *a, const struct sl_audit_row *row)
{
    sqlite3_stmt *st = a->insert_row;
    int i = 0, rc = SL_EIO;

    /* Binding cannot fail here: the statement is idle and every index exists. */
    sqlite3_bind_int64(st, ++i, row->ts_ms);
    bind_field(st, ++i, row->request_id);
    bind_field(st, ++i, row->team);
    bind_field(st, ++i, row->key_id);
    bind_field(st, ++i, row->endpoint);
    bind_field(st, ++i, row->route);
    bind_field(st, ++i, row->model_requested);
    bind_field(st, ++i, row->model);
    bind_field(st, ++i, row->tier);
    bind_field(st, ++i, row->deployment);
    bind_field(st, ++i, row->arm);
    bind_field(st, ++i, row->error);
    sqlite3_bind_int64(st, ++i, row->config_version);
    sqlite3_bind_int(st, ++i, row->status);
    sqlite3_bind_int(st, ++i, row->attempts);
    bind_count(st, ++i, row->tokens_in);
    bind_count(st, ++i, row->tokens_out);
    bind_count(st, ++i, row->tokens_cached);
    sqlite3_bind_int(st, ++i, row->tokens_estimated);
    sqlite3_bind_int(st, ++i, row->stream);
    bind_cost(st, ++i, row->cost_usd);
    bind_cost(st, ++i, row->premium_cost_usd);
    sqlite3_bind_int64(st, ++i, row->upstream_us);
    sqlite3_bind_int64(st, ++i, row->overhead_us);
    if (step(st) != 0)
        goto out;
    if (row->prompt || row->response) {
        st = a->insert_payload;
        sqlite3_bind_int64(st, 1, sqlite3_last_insert_rowid(a->db));
        bind_text(st, 2, row->prompt, row->prompt ? strlen(row->prompt) : 0);
        bind_text(st, 3, row->response, row->response ? strlen(row->response) : 0);
        if (step(st) != 0)
            goto out;
    }
    rc = 0;
out:
    return rc;
}

int sl_auditdb_team_spend(struct sl_auditdb *a, int64_t since_ms,
                          void (*fn)(const char *team, double usd, void *arg), void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = SL_EIO, step;

    if (sqlite3_prepare_v2(a->db, team_spend_sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, since_ms);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        fn((const char *)sqlite3_column_text(st, 0), sqlite3_column_double(st, 1), arg);
    if (step != SQLITE_DONE)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}
