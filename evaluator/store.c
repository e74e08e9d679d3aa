/* eval.db writes: prepared statements, one transaction per batch. */
#include "store.h"

#define SL_LOG_MODULE "store"
#include "buf.h"
#include "evaldb.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct sl_store {
    sqlite3 *db;
    sqlite3_stmt *insert_sample, *insert_result;
    size_t pending;
    struct sl_buf thresholds; /* scratch for the thresholds column */
    char error[256];
};

static const char insert_sample_sql[] =
    "INSERT OR IGNORE INTO samples(request_id, received_ms, ts_ms, team, route, tier,"
    " tier_index, premium_tier, model, deployment, arm, config_version, score, thresholds,"
    " status, error, json_mode, prompt, answer, finish_reason, latency_ms, tokens_in,"
    " tokens_out, cost_usd)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
    " ?19, ?20, ?21, ?22, ?23, ?24)";

static const char insert_result_sql[] =
    "INSERT INTO results(sample_id, scorer, ts_ms, pass, grade, verdict, reason, error,"
    " premium_answer) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

struct sl_store *sl_store_open(const char *data_dir, char *err, size_t errlen)
{
    struct sl_store *st = calloc(1, sizeof(*st));
    char path[4096];

    if (!st) {
        snprintf(err, errlen, "%s: out of memory", data_dir);
        return NULL;
    }
    sl_buf_init(&st->thresholds, 4096);
    if (sl_db_mkdirs(data_dir)) {
        snprintf(err, errlen, "%s: cannot create: %s", data_dir, strerror(errno));
        goto fail;
    }
    snprintf(path, sizeof(path), "%s/eval.db", data_dir);
    if (!(st->db = sl_evaldb_open(path, false, err, errlen)))
        goto fail;
    if (sqlite3_prepare_v2(st->db, insert_sample_sql, -1, &st->insert_sample, NULL) ||
        sqlite3_prepare_v2(st->db, insert_result_sql, -1, &st->insert_result, NULL)) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(st->db));
        goto fail;
    }
    return st;
fail:
    sl_store_close(st);
    return NULL;
}

void sl_store_close(struct sl_store *st)
{
    if (!st)
        return;
    if (st->pending && sl_store_commit(st))
        sl_error("eval.db: the last %zu writes are lost: %s", st->pending, st->error);
    sqlite3_finalize(st->insert_sample);
    sqlite3_finalize(st->insert_result);
    sqlite3_close(st->db);
    sl_buf_free(&st->thresholds);
    free(st);
}

sqlite3 *sl_store_db(struct sl_store *st)
{
    return st->db;
}

static int sql_failed(struct sl_store *st)
{
    snprintf(st->error, sizeof(st->error), "%s", sqlite3_errmsg(st->db));
    return SL_EIO;
}

/* Opens the batch's transaction before its first write. */
static int begin(struct sl_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        return 0;
    st->pending = 0;
    return sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0
                                                                                  : sql_failed(st);
}

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, i);
}

int sl_store_sample(struct sl_store *st, const struct sl_sample *s, int64_t received_ms,
                    int64_t *id)
{
    sqlite3_stmt *q = st->insert_sample;
    int rc = begin(st);

    *id = 0;
    if (rc)
        return rc;
    sl_buf_reset(&st->thresholds);
    rc = sl_buf_adds(&st->thresholds, "[");
    for (int i = 0; i < s->n_thresholds && rc == 0; i++)
        rc = sl_buf_addf(&st->thresholds, "%s%.17g", i ? "," : "", s->thresholds[i]);
    rc = rc ? rc : sl_buf_adds(&st->thresholds, "]");
    if (rc)
        return rc;
    sqlite3_bind_text(q, 1, s->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, received_ms);
    sqlite3_bind_int64(q, 3, s->ts_ms);
    bind_text(q, 4, s->team);
    bind_text(q, 5, s->route);
    bind_text(q, 6, s->tier);
    sqlite3_bind_int(q, 7, s->tier_index);
    bind_text(q, 8, s->premium_tier);
    bind_text(q, 9, s->model);
    bind_text(q, 10, s->deployment);
    bind_text(q, 11, s->arm);
    sqlite3_bind_int64(q, 12, s->config_version);
    sqlite3_bind_double(q, 13, s->score);
    sqlite3_bind_text(q, 14, st->thresholds.data, (int)st->thresholds.len, SQLITE_STATIC);
    sqlite3_bind_int(q, 15, s->status);
    bind_text(q, 16, s->error);
    sqlite3_bind_int(q, 17, s->json_mode);
    sqlite3_bind_text(q, 18, s->messages ? s->messages : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 19, s->answer ? s->answer : "", -1, SQLITE_STATIC);
    bind_text(q, 20, s->finish_reason);
    sqlite3_bind_int64(q, 21, s->latency_ms);
    if (s->tokens_in >= 0)
        sqlite3_bind_int64(q, 22, s->tokens_in);
    else
        sqlite3_bind_null(q, 22);
    if (s->tokens_out >= 0)
        sqlite3_bind_int64(q, 23, s->tokens_out);
    else
        sqlite3_bind_null(q, 23);
    if (s->cost_usd >= 0)
        sqlite3_bind_double(q, 24, s->cost_usd);
    else
        sqlite3_bind_null(q, 24);
    rc = sqlite3_step(q) == SQLITE_DONE ? 0 : sql_failed(st);
    if (rc == 0 && sqlite3_changes(st->db) > 0) {
        *id = sqlite3_last_insert_rowid(st->db);
        st->pending++;
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc;
}

int sl_store_result(struct sl_store *st, int64_t sample_id, int64_t ts_ms,
                    const struct sl_result *r)
{
    sqlite3_stmt *q = st->insert_result;
    int rc = begin(st);

    if (rc)
        return rc;
    sqlite3_bind_int64(q, 1, sample_id);
    sqlite3_bind_text(q, 2, r->scorer, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, ts_ms);
    if (r->pass >= 0)
        sqlite3_bind_int(q, 4, r->pass);
    else
        sqlite3_bind_null(q, 4);
    if (r->grade >= 0)
        sqlite3_bind_double(q, 5, r->grade);
    else
        sqlite3_bind_null(q, 5);
    bind_text(q, 6, r->verdict);
    bind_text(q, 7, r->reason);
    bind_text(q, 8, r->error);
    /* an empty premium answer is still an answer: stored as "" */
    if (r->premium_answer)
        sqlite3_bind_text(q, 9, r->premium_answer, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(q, 9);
    rc = sqlite3_step(q) == SQLITE_DONE ? 0 : sql_failed(st);
    if (rc == 0)
        st->pending++;
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc;
}

int sl_store_commit(struct sl_store *st)
{
    if (sqlite3_get_autocommit(st->db))
        return 0;
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        st->pending = 0;
        return 0;
    }
    sql_failed(st);
    if (!sqlite3_get_autocommit(st->db)) /* SQLite may have rolled back already (SQLITE_FULL) */
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    st->pending = 0;
    return SL_EIO;
}

size_t sl_store_pending(const struct sl_store *st)
{
    return st->pending;
}

const char *sl_store_error(const struct sl_store *st)
{
    return st->error;
}
