/* keys.db's rows into team and key settings. */
#include "keysdb.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Copies a text column into out[size]; false when it does not fit. NULL reads as "". */
static bool text_column(sqlite3_stmt *st, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    return snprintf(out, size, "%s", t ? (const char *)t : "") < (int)size;
}

static struct sl_limits limits_columns(sqlite3_stmt *st, int col)
{
    return (struct sl_limits){(long)sqlite3_column_int64(st, col),
                              (long)sqlite3_column_int64(st, col + 1),
                              (long)sqlite3_column_int64(st, col + 2)};
}

/* How a statement's last step ended: 0, or SL_EIO with SQLite's reason. */
static int done(sqlite3_stmt *st, int step, char *err, size_t errlen)
{
    if (step == SQLITE_DONE)
        return 0;
    snprintf(err, errlen, "keys.db: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
    return SL_EIO;
}

static int read_teams(sqlite3_stmt *st, int (*team)(void *, const struct sl_team_settings *),
                      void *ctx, char *err, size_t errlen)
{
    int rc, step;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sl_team_settings t = {.period = SL_PERIOD_MONTH};
        const char *period = (const char *)sqlite3_column_text(st, 5);
        if (!text_column(st, 0, t.name, sizeof(t.name))) {
            snprintf(err, errlen, "keys.db: a team's name is too long");
            return SL_EPARSE;
        }
        t.limits = limits_columns(st, 1);
        t.budget_usd = sqlite3_column_double(st, 4);
        if (period)
            sl_period_parse(period, &t.period); /* another name keeps the default, a month */
        t.warn_at = sqlite3_column_double(st, 6);
        t.log_payloads = sqlite3_column_int(st, 7) != 0;
        if ((rc = team(ctx, &t)) != 0)
            return rc;
    }
    return done(st, step, err, errlen);
}

static int read_keys(sqlite3_stmt *st, int (*key)(void *, const struct sl_key_settings *),
                     void *ctx, char *err, size_t errlen)
{
    int rc, step;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sl_key_settings k = {0};
        if (!text_column(st, 0, k.id, sizeof(k.id)) ||
            !text_column(st, 1, k.team, sizeof(k.team)) ||
            !text_column(st, 2, k.name, sizeof(k.name)) ||
            !text_column(st, 4, k.hint, sizeof(k.hint)) ||
            sqlite3_column_bytes(st, 3) != (int)sizeof(k.digest)) {
            snprintf(err, errlen, "keys.db: key %.64s: a column does not have the expected size",
                     (const char *)sqlite3_column_text(st, 0));
            return SL_EPARSE;
        }
        memcpy(k.digest, sqlite3_column_blob(st, 3), sizeof(k.digest));
        k.created = sqlite3_column_int64(st, 5);
        k.revoked = sqlite3_column_int64(st, 6); /* NULL reads as 0: live */
        k.limits = limits_columns(st, 7);
        if ((rc = key(ctx, &k)) != 0)
            return rc;
    }
    return done(st, step, err, errlen);
}

int sl_keysdb_read(sqlite3 *db, int (*team)(void *ctx, const struct sl_team_settings *t),
                   int (*key)(void *ctx, const struct sl_key_settings *k), void *ctx, char *err,
                   size_t errlen)
{
    sqlite3_stmt *teams = NULL, *keys = NULL;
    int rc = SL_EIO;

    if (sqlite3_prepare_v2(db,
                           "SELECT name, rpm, tpm, concurrency, budget_usd, period, warn_at,"
                           " log_payloads FROM teams ORDER BY name",
                           -1, &teams, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT id, team, name, sha256, hint, created, revoked, rpm, tpm,"
                           " concurrency FROM keys ORDER BY created, id",
                           -1, &keys, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "keys.db: %s", sqlite3_errmsg(db));
        goto out;
    }
    rc = read_teams(teams, team, ctx, err, errlen);
    if (rc == 0)
        rc = read_keys(keys, key, ctx, err, errlen);
out:
    sqlite3_finalize(teams);
    sqlite3_finalize(keys);
    return rc;
}
