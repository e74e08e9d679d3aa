/* Opening SQLite files in WAL mode and migrating their schema by PRAGMA user_version. */
#include "db.h"

#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define BUSY_TIMEOUT_MS 5000

static void fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!errlen)
        return;
    n = snprintf(err, errlen, "%s: ", path);
    if (n < 0 || (size_t)n >= errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Runs a pragma that returns one row and copies its first column into out. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *s = sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", s ? (const char *)s : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_ERROR; /* a pragma that answers nothing: not the one we asked for */
    }
    sqlite3_finalize(st);
    return rc;
}

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Applies the migrations the file lacks, one transaction each. The version is read again
 * inside each transaction, so that two processes opening the same file at once never apply a
 * migration twice. */
static int migrate(sqlite3 *db, const char *path, const char *const *migrations, size_t n,
                   char *err, size_t errlen)
{
    char sql[64];
    int v = 0, rc = -1;

    for (;;) {
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            fail(err, errlen, path, "cannot start a migration: %s", sqlite3_errmsg(db));
            goto out;
        }
        if (user_version(db, &v) != SQLITE_OK) {
            fail(err, errlen, path, "cannot read the schema version: %s", sqlite3_errmsg(db));
            goto out;
        }
        if (v < 0 || (size_t)v > n) {
            fail(err, errlen, path, "schema version %d is newer than this program's %zu", v, n);
            goto out;
        }
        if ((size_t)v == n)
            break; /* another process got here first */
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
        if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            fail(err, errlen, path, "migration %d: %s", v + 1, sqlite3_errmsg(db));
            goto out;
        }
    }
    rc = 0;
out:
    /* after a failure, or the transaction that only read the version */
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

sqlite3 *sl_db_open(const char *path, bool readonly, const char *const *migrations, size_t n,
                    char *err, size_t errlen)
{
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    sqlite3 *db = NULL;
    char mode[16];
    int v = 0, ok = 0;

    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        fail(err, errlen, path, "cannot open: %s", db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* Opening is lazy: reading the version is the first access, so this is where a file that
     * is not a database says so. */
    if (user_version(db, &v) != SQLITE_OK) {
        fail(err, errlen, path, "cannot read: %s", sqlite3_errmsg(db));
        goto out;
    }
    if (v < 0 || (size_t)v > n) {
        fail(err, errlen, path, "schema version %d is newer than this program's %zu", v, n);
        goto out;
    }
    if (readonly) {
        ok = 1; /* the journal mode is the writer's to set, the schema the writer's to migrate */
        goto out;
    }
    if (pragma_text(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode)) != SQLITE_OK) {
        fail(err, errlen, path, "cannot enable WAL: %s", sqlite3_errmsg(db));
        goto out;
    }
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) { /* ":memory:" has no WAL */
        fail(err, errlen, path, "cannot enable WAL: the journal mode stays %s", mode);
        goto out;
    }
    if (sqlite3_exec(db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        fail(err, errlen, path, "cannot set synchronous: %s", sqlite3_errmsg(db));
        goto out;
    }
    if ((size_t)v < n && migrate(db, path, migrations, n, err, errlen) != 0)
        goto out;
    ok = 1;
out:
    if (!ok) {
        sqlite3_close(db);
        db = NULL;
    }
    return db;
}

int sl_db_mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);

    if (n >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) && errno != EEXIST ? -1 : 0;
}
