/* Tests for proxy/audit: no row lost or reordered, payloads owned, back-pressure on a locked
 * file, destroy flushes. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-audit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/audit.db", dir);
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

TestSuite(audit, .init = setup, .fini = teardown, .timeout = 120);

static struct sl_audit *create(const struct sl_audit_options *opt)
{
    char err[256] = "";
    struct sl_audit *a = sl_audit_create(path, opt, err, sizeof(err));

    cr_assert_not_null(a, "%s", err);
    return a;
}

static sqlite3 *open_db(void)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t n;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (at most about 60 s, a generous bound for the sanitizer build) until the writer's
 * counters satisfy done(). */
static void wait_for(struct sl_audit *a, bool (*done)(const struct sl_audit_stats *),
                     struct sl_audit_stats *st)
{
    for (int i = 0; i < 6000; i++) {
        sl_audit_stats(a, st);
        if (done(st))
            return;
        sleep_ms(10);
    }
    cr_assert_fail("the audit writer did not get there in 60 s");
}

static bool all_written(const struct sl_audit_stats *st)
{
    return st->queued == 0;
}

static bool failed_once(const struct sl_audit_stats *st)
{
    return st->write_errors > 0;
}

static struct sl_audit_row make_row(int thread, int seq)
{
    struct sl_audit_row r = {
        .ts_ms = 1767225600000 + seq,
        .status = 200,
        .attempts = 1,
        .tokens_in = seq, /* the push order within its thread */
        .tokens_out = thread,
        .tokens_cached = -1,
        .cost_usd = 0.001,
        .premium_cost_usd = -1,
    };
    snprintf(r.request_id, sizeof(r.request_id), "req_t%d_%06d", thread, seq);
    snprintf(r.team, sizeof(r.team), "team-%d", thread % 2);
    snprintf(r.endpoint, sizeof(r.endpoint), "chat");
    snprintf(r.model, sizeof(r.model), "gpt-4o-mini");
    return r;
}

#define THREADS    4
#define PER_THREAD 25000

struct producer {
    struct sl_audit *a;
    int thread;
};

static void *produce(void *arg)
{
    struct producer *p = arg;

    for (int i = 0; i < PER_THREAD; i++) {
        struct sl_audit_row r = make_row(p->thread, i);
        sl_audit_push(p->a, &r);
    }
    return NULL;
}

Test(audit, concurrent_pushes_are_all_written_in_each_threads_order)
{
    struct sl_audit *a = create(NULL);
    struct producer p[THREADS];
    pthread_t t[THREADS];
    struct sl_audit_stats st;
    sqlite3 *db;
    sqlite3_stmt *q = NULL;
    int64_t next[THREADS] = {0}, bucketed = 0;

    for (int i = 0; i < THREADS; i++) {
        p[i] = (struct producer){a, i};
        cr_assert_eq(pthread_create(&t[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    wait_for(a, all_written, &st);
    cr_assert_eq(st.written, THREADS * PER_THREAD);
    cr_assert_eq(st.write_errors, 0);
    cr_assert_geq(st.batches, THREADS * PER_THREAD / 4096);
    cr_assert_eq(st.latency_count, st.batches);
    for (int i = 0; i < 16; i++)
        bucketed += (int64_t)st.latency_bucket[i];
    cr_assert_eq(bucketed, (int64_t)st.batches);
    sl_audit_destroy(a);

    db = open_db();
    cr_assert_eq(count(db, "SELECT count(*) FROM requests"), THREADS * PER_THREAD);
    cr_assert_eq(count(db, "SELECT count(DISTINCT request_id) FROM requests"),
                 THREADS * PER_THREAD);
    cr_assert_eq(count(db, "SELECT count(*) FROM payloads"), 0);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT tokens_out, tokens_in FROM requests ORDER BY id",
                                    -1, &q, NULL),
                 SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        int thread = sqlite3_column_int(q, 0);
        int64_t seq = sqlite3_column_int64(q, 1);

        cr_assert(thread >= 0 && thread < THREADS);
        cr_assert_eq(seq, next[thread], "thread %d: row %ld after row %ld", thread, (long)seq,
                     (long)next[thread] - 1);
        next[thread]++;
    }
    sqlite3_finalize(q);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(next[i], PER_THREAD);
    sqlite3_close(db);
}

Test(audit, payloads_are_written_and_freed_by_the_writer)
{
    struct sl_audit *a = create(&(struct sl_audit_options){.batch_rows = 7});
    sqlite3 *db;

    for (int i = 0; i < 100; i++) {
        struct sl_audit_row r = make_row(0, i);
        char text[64];

        snprintf(text, sizeof(text), "prompt %d", i);
        if (i % 3 == 0)
            r.prompt = strdup(text);
        snprintf(text, sizeof(text), "response %d", i);
        if (i % 3 == 0 || i % 5 == 0)
            r.response = strdup(text);
        sl_audit_push(a, &r); /* now the writer's: leak or double free show in the SAN build */
    }
    sl_audit_destroy(a);

    db = open_db();
    cr_assert_eq(count(db, "SELECT count(*) FROM requests"), 100);
    /* i % 3 == 0: 34 rows; i % 5 == 0 but not i % 3: 13 more */
    cr_assert_eq(count(db, "SELECT count(*) FROM payloads"), 47);
    cr_assert_eq(count(db, "SELECT count(*) FROM payloads WHERE prompt IS NOT NULL"), 34);
    cr_assert_eq(count(db, "SELECT count(*) FROM payloads p JOIN requests r ON r.id ="
                           " p.request_row WHERE p.response = 'response ' || r.tokens_in"),
                 47);
    sqlite3_close(db);
}

Test(audit, a_locked_file_backs_up_the_queue_and_nothing_is_lost)
{
    struct sl_audit *a = create(&(struct sl_audit_options){.max_queue = 10, .flush_ms = 5});
    struct sl_audit_stats st;
    sqlite3 *db = open_db();

    cr_assert_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_not(sl_audit_backlogged(a));
    for (int i = 0; i < 20; i++) {
        struct sl_audit_row r = make_row(0, i);
        if (i % 2)
            r.prompt = strdup("kept while the file is locked");
        sl_audit_push(a, &r);
    }
    cr_assert(sl_audit_backlogged(a));
    wait_for(a, failed_once, &st);
    cr_assert_eq(st.queued, 20);
    cr_assert_eq(st.written, 0);
    cr_assert(sl_audit_backlogged(a));

    cr_assert_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    wait_for(a, all_written, &st);
    cr_assert_eq(st.written, 20);
    cr_assert_not(sl_audit_backlogged(a));
    cr_assert_geq(st.backlogged, 2); /* the yes answers are counted */
    sl_audit_destroy(a);

    cr_assert_eq(count(db, "SELECT count(*) FROM requests"), 20);
    cr_assert_eq(count(db, "SELECT count(*) FROM payloads"), 10);
    sqlite3_close(db);
}

Test(audit, destroy_writes_the_rows_pushed_just_before_it)
{
    /* Neither the batch size nor the flush interval would write these rows: only destroy. */
    struct sl_audit *a = create(&(struct sl_audit_options){.batch_rows = 1000, .flush_ms = 600000});
    sqlite3 *db;

    for (int i = 0; i < 10; i++) {
        struct sl_audit_row r = make_row(1, i);
        r.response = strdup("last words");
        sl_audit_push(a, &r);
    }
    sl_audit_destroy(a);

    db = open_db();
    cr_assert_eq(count(db, "SELECT count(*) FROM requests"), 10);
    cr_assert_eq(count(db, "SELECT count(*) FROM payloads"), 10);
    sqlite3_close(db);
}

Test(audit, rows_are_written_within_the_flush_interval_without_a_full_batch)
{
    struct sl_audit *a = create(&(struct sl_audit_options){.flush_ms = 10});
    struct sl_audit_row r = make_row(0, 0);
    struct sl_audit_stats st;

    sl_audit_push(a, &r);
    wait_for(a, all_written, &st);
    cr_assert_eq(st.written, 1);
    cr_assert_eq(st.batches, 1);
    sl_audit_destroy(a);
}

Test(audit, create_names_the_file_it_cannot_open)
{
    char err[256] = "", bad[200];

    snprintf(bad, sizeof(bad), "%s/no-such-dir/audit.db", dir);
    cr_assert_null(sl_audit_create(bad, NULL, err, sizeof(err)));
    cr_assert(strstr(err, bad) == err, "%s", err);
}

Test(audit, destroy_of_null_does_nothing)
{
    sl_audit_destroy(NULL);
}
