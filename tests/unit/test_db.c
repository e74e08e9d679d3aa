/* Tests for common/db: WAL mode, migrations by user_version, refusing newer files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"

/* Each test runs in its own process and gets its own directory. */
static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-db-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/test.db", dir);
}

static void teardown(void)
{
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};

    for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(db, .init = setup, .fini = teardown);

static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static bool has_table(sqlite3 *db, const char *name)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_schema WHERE name = '%s'", name);
    return query_int(db, sql) == 1;
}

/* Each migration also counts its runs in a table of its own, so a second run shows. */
static const char *const two[] = {
    "CREATE TABLE a(x INTEGER); INSERT INTO a VALUES(1);",
    "CREATE TABLE b(x INTEGER); INSERT INTO b VALUES(2);",
};

Test(db, applies_migrations_once_and_sets_user_version)
{
    char err[256] = "";
    sqlite3 *db = sl_db_open(path, false, two, 2, err, sizeof(err));

    cr_assert_not_null(db, "%s", err);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), 2);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM a"), 1);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM b"), 1);
    sqlite3_close(db);

    db = sl_db_open(path, false, two, 2, err, sizeof(err));
    cr_assert_not_null(db, "%s", err);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), 2);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM a"), 1);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM b"), 1);
    sqlite3_close(db);
}

Test(db, reopening_applies_only_the_new_migrations)
{
    char err[256] = "";
    sqlite3 *db = sl_db_open(path, false, two, 1, err, sizeof(err));

    cr_assert_not_null(db, "%s", err);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), 1);
    cr_assert_not(has_table(db, "b"));
    sqlite3_close(db);

    db = sl_db_open(path, false, two, 2, err, sizeof(err));
    cr_assert_not_null(db, "%s", err);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), 2);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM a"), 1);
    cr_assert_eq(query_int(db, "SELECT count(*) FROM b"), 1);
    sqlite3_close(db);
}

Test(db, a_failing_migration_changes_nothing_and_names_the_file)
{
    const char *const bad[] = {
        two[0],
        "CREATE TABLE b(x INTEGER); INSERT INTO no_such_table VALUES(1);",
    };
    char err[256] = "";
    sqlite3 *db = sl_db_open(path, false, bad, 2, err, sizeof(err));

    cr_assert_null(db);
    cr_assert(strstr(err, path) == err, "%s", err);
    cr_assert(strstr(err, "migration 2"), "%s", err);
    cr_assert(strstr(err, "no_such_table"), "%s", err);

    /* The first migration stays applied; the second left no trace. */
    db = sl_db_open(path, false, two, 1, err, sizeof(err));
    cr_assert_not_null(db, "%s", err);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), 1);
    cr_assert_not(has_table(db, "b"));
    sqlite3_close(db);
}

Test(db, refuses_a_file_from_a_newer_version)
{
    char err[256] = "";
    sqlite3 *db = sl_db_open(path, false, two, 2, err, sizeof(err));

    cr_assert_not_null(db, "%s", err);
    sqlite3_close(db);

    cr_assert_null(sl_db_open(path, false, two, 1, err, sizeof(err)));
    cr_assert(strstr(err, path) == err, "%s", err);
    cr_assert(strstr(err, "newer"), "%s", err);
    err[0] = '\0';
    cr_assert_null(sl_db_open(path, true, two, 1, err, sizeof(err)));
    cr_assert(strstr(err, "newer"), "%s", err);
}

Test(db, readonly_open_of_a_missing_file_fails_without_creating_it)
{
    char err[256] = "";
    struct stat st;

    cr_assert_null(sl_db_open(path, true, two, 2, err, sizeof(err)));
    cr_assert(strstr(err, path) == err, "%s", err);
    cr_assert_neq(stat(path, &st), 0);
}

Test(db, readonly_open_applies_no_migration_and_cannot_write)
{
    char err[256] = "";
    sqlite3 *db = sl_db_open(path, false, two, 1, err, sizeof(err));

    cr_assert_not_null(db, "%s", err);
    sqlite3_close(db);

    db = sl_db_open(path, true, two, 2, err, sizeof(err));
    cr_assert_not_null(db, "%s", err);
    cr_assert_eq(query_int(db, "PRAGMA user_version"), 1);
    cr_assert_not(has_table(db, "b"));
    cr_assert_eq(query_int(db, "SELECT count(*) FROM a"), 1);
    cr_assert_eq(sqlite3_exec(db, "INSERT INTO a VALUES(3)", NULL, NULL, NULL), SQLITE_READONLY);
    sqlite3_close(db);
}

Test(db, opens_in_wal_mode_with_normal_sync_and_a_busy_timeout)
{
    char err[256] = "";
    sqlite3 *db = sl_db_open(path, false, two, 2, err, sizeof(err));
    sqlite3_stmt *st = NULL;

    cr_assert_not_null(db, "%s", err);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    cr_assert_eq(query_int(db, "PRAGMA synchronous"), 1); /* NORMAL */
    cr_assert_eq(query_int(db, "PRAGMA busy_timeout"), 5000);
    sqlite3_close(db);
}

Test(db, a_file_that_is_not_a_database_is_refused_with_its_name)
{
    char err[256] = "";
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f);
    fputs("this is not an SQLite database, but it is long enough to look like a header.\n", f);
    fclose(f);
    cr_assert_null(sl_db_open(path, false, two, 2, err, sizeof(err)));
    cr_assert(strstr(err, path) == err, "%s", err);
}
