/* The audit writer: request threads append copies of rows to an array under a mutex; one
 * thread swaps that array for its own empty one and writes it in batched transactions. */
#include "audit.h"

#define SL_LOG_MODULE "audit"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_QUEUE  65536
#define DEFAULT_BATCH_ROWS 4096
#define DEFAULT_FLUSH_MS   20
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     2000
#define GIVE_UP_MS         10000 /* how long destroy keeps retrying a file it cannot write */
/* How long one attempt waits for another connection's lock. Shorter than sl_db_open's 5 s:
 * the writer has its own backoff, a locked file shows up as write errors within a second, and
 * destroy's 10 s bound is kept to within this much. */
#define WRITER_BUSY_MS 1000

const uint64_t sl_audit_latency_bounds_us[15] = {100,    250,    500,     1000,    2500,
                                                 5000,   10000,  25000,   50000,   100000,
                                                 250000, 500000, 1000000, 2500000, 10000000};

#define N_BUCKETS (sizeof(sl_audit_latency_bounds_us) / sizeof(*sl_audit_latency_bounds_us) + 1)

/* A growable array of rows; it keeps its memory when emptied, for the next swap. */
struct rows {
    struct sl_audit_row *v;
    size_t n, cap;
};

struct sl_audit {
    struct sl_auditdb db; /* the writer thread's alone while it runs */
    struct sl_audit_options opt;
    char *path; /* for messages */
    pthread_t thread;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* the writer sleeps on it: a batch is full, or destroy was called */
    struct rows in;      /* under mu: pushed, not yet taken by the writer */
    bool stopping;       /* under mu */
    uint64_t stop_us;    /* under mu: when destroy was called */

    /* The writer thread's failure episode. */
    bool failing;
    long backoff_ms;
    uint64_t failed_attempts;
    char last_error[256];

    _Atomic uint64_t queued, written, batches, write_errors, backlogged;
    _Atomic uint64_t latency_bucket[N_BUCKETS], latency_count, latency_sum_us;
};

_Static_assert(N_BUCKETS == sizeof(((struct sl_audit_stats *)0)->latency_bucket) / sizeof(uint64_t),
               "one bucket per bound and one above them");

static void add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort(); /* small internal allocation */
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

/* Makes room for one more row. Out of memory aborts: dropping a row would leave a request
 * unaccounted for, and the proxy refuses requests long before the queue gets this large. */
static void grow(struct rows *r)
{
    size_t cap = r->cap ? r->cap * 2 : 256;
    void *p = cap > SIZE_MAX / sizeof(*r->v) ? NULL : realloc(r->v, cap * sizeof(*r->v));

    if (!p) {
        sl_error("out of memory queueing audit row %zu: aborting rather than losing it", r->n);
        abort();
    }
    r->v = p;
    r->cap = cap;
}

/* Forgets rows [from, r->n) that will never be written. */
static void discard(struct sl_audit *a, struct rows *r, size_t from)
{
    for (size_t i = from; i < r->n; i++) {
        free(r->v[i].prompt);
        free(r->v[i].response);
    }
    atomic_fetch_sub_explicit(&a->queued, r->n - from, memory_order_relaxed);
    r->n = from;
}

static struct timespec after_ms(long ms)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static void observe(struct sl_audit *a, uint64_t us)
{
    size_t i = 0;

    while (i < N_BUCKETS - 1 && us > sl_audit_latency_bounds_us[i])
        i++;
    add(&a->latency_bucket[i], 1);
    add(&a->latency_count, 1);
    add(&a->latency_sum_us, us);
}

/* One transaction of k rows. The latency observed runs from BEGIN to the end of COMMIT: the
 * time a batch takes to reach the file. On failure the transaction is rolled back and the
 * reason kept in a->last_error. */
static int write_batch(struct sl_audit *a, const struct sl_audit_row *rows, size_t k)
{
    sqlite3 *db = a->db.db;
    uint64_t t0 = sl_clock_mono_us();
    int rc = SL_EIO;

    /* IMMEDIATE takes the write lock first, where the busy timeout applies; a deferred
     * transaction could fail its first insert with SQLITE_BUSY_SNAPSHOT without waiting. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    for (size_t i = 0; i < k; i++)
        if (sl_auditdb_insert(&a->db, &rows[i]) != 0)
            goto out;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    observe(a, sl_clock_mono_us() - t0);
    rc = 0;
out:
    if (rc) {
        snprintf(a->last_error, sizeof(a->last_error), "%s", sqlite3_errmsg(db));
        if (!sqlite3_get_autocommit(db)) /* SQLite may have rolled back already (SQLITE_FULL) */
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

/* After a failed transaction: waits out the backoff (cut short when destroy is called, to try
 * once more at once). False when destroy's grace period is over: give up. */
static bool wait_to_retry(struct sl_audit *a)
{
    long ms = a->backoff_ms, left_ms = 0;
    struct timespec at;
    bool was_stopping, go_on = true;

    a->backoff_ms = ms * 2 < BACKOFF_MAX_MS ? ms * 2 : BACKOFF_MAX_MS;
    pthread_mutex_lock(&a->mu);
    was_stopping = a->stopping;
    if (was_stopping) {
        left_ms = GIVE_UP_MS - (long)((sl_clock_mono_us() - a->stop_us) / 1000);
        if (left_ms <= 0) {
            go_on = false;
            goto out;
        }
        if (ms > left_ms)
            ms = left_ms;
    }
    at = after_ms(ms);
    while (a->stopping == was_stopping &&
           pthread_cond_timedwait(&a->wake, &a->mu, &at) != ETIMEDOUT)
        ; /* woken by producers filling a batch: keep waiting */
    if (a->stopping) {
        left_ms = GIVE_UP_MS - (long)((sl_clock_mono_us() - a->stop_us) / 1000);
        go_on = left_ms > 0;
        /* the next attempt must not wait for a lock past the deadline either */
        sqlite3_busy_timeout(a->db.db, (int)(left_ms < WRITER_BUSY_MS ? left_ms : WRITER_BUSY_MS));
    }
out:
    pthread_mutex_unlock(&a->mu);
    return go_on;
}

/* Writes r in transactions of at most batch_rows, in order, retrying a failed one until it
 * succeeds or destroy's grace period is over. Leaves r empty. */
static void write_rows(struct sl_audit *a, struct rows *r)
{
    size_t done = 0, k, lost;

    while (done < r->n) {
        k = r->n - done < a->opt.batch_rows ? r->n - done : a->opt.batch_rows;
        if (write_batch(a, r->v + done, k) == 0) {
            for (size_t i = done; i < done + k; i++) {
                free(r->v[i].prompt);
                free(r->v[i].response);
            }
            done += k;
            add(&a->written, k);
            add(&a->batches, 1);
            atomic_fetch_sub_explicit(&a->queued, k, memory_order_relaxed);
            if (a->failing)
                sl_info("%s: writing again after %llu failed attempts", a->path,
                        (unsigned long long)a->failed_attempts);
            a->failing = false;
            continue;
        }
        add(&a->write_errors, 1);
        if (!a->failing) {
            sl_error("%s: cannot write %zu audit rows (%s); keeping them and retrying", a->path, k,
                     a->last_error);
            a->failing = true;
            a->failed_attempts = 0;
            a->backoff_ms = BACKOFF_MIN_MS;
        }
        a->failed_attempts++;
        if (!wait_to_retry(a)) {
            /* No more pushes come once destroy is called: whatever is queued is all. */
            pthread_mutex_lock(&a->mu);
            lost = r->n - done + a->in.n;
            discard(a, &a->in, 0);
            pthread_mutex_unlock(&a->mu);
            sl_error("%s: gave up after %d s: %zu audit rows could not be written (%s)", a->path,
                     GIVE_UP_MS / 1000, lost, a->last_error);
            discard(a, r, done);
            break;
        }
    }
    /* Once a backlog is over (an array grown large now comes back mostly empty), give the
     * memory back. Not while it lasts: growing into fresh memory again after every swap costs
     * a page fault per five rows pushed, more than the writing. */
    if (r->cap > 2 * a->opt.batch_rows && r->n < r->cap / 8) {
        free(r->v);
        *r = (struct rows){0};
    }
    r->n = 0;
}

static void *run(void *arg)
{
    struct sl_audit *a = arg;
    struct rows mine = {0}, t;
    bool stop;

    sqlite3_busy_timeout(a->db.db, WRITER_BUSY_MS);
    do {
        pthread_mutex_lock(&a->mu);
        if (!a->stopping && a->in.n < a->opt.batch_rows) {
            struct timespec at = after_ms(a->opt.flush_ms);
            while (!a->stopping && a->in.n < a->opt.batch_rows &&
                   pthread_cond_timedwait(&a->wake, &a->mu, &at) != ETIMEDOUT)
                ;
        }
        stop = a->stopping; /* then every row is in a->in: it is the last swap */
        t = a->in;
        a->in = mine;
        mine = t;
        pthread_mutex_unlock(&a->mu);
        if (mine.n)
            write_rows(a, &mine);
    } while (!stop);
    free(mine.v);
    return NULL;
}

/* Releases everything but the thread, which is not running. */
static void release(struct sl_audit *a)
{
    discard(a, &a->in, 0); /* nothing, unless pushed after destroy was called */
    free(a->in.v);
    sl_auditdb_close(&a->db);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->mu);
    free(a->path);
    free(a);
}

struct sl_audit *sl_audit_create(const char *path, const struct sl_audit_options *opt, char *err,
                                 size_t errlen)
{
    struct sl_audit *a = xcalloc(1, sizeof(*a));
    pthread_condattr_t ca;
    bool ok = false;
    int e;

    if (opt)
        a->opt = *opt;
    if (!a->opt.max_queue)
        a->opt.max_queue = DEFAULT_MAX_QUEUE;
    if (!a->opt.batch_rows)
        a->opt.batch_rows = DEFAULT_BATCH_ROWS;
    if (a->opt.flush_ms <= 0)
        a->opt.flush_ms = DEFAULT_FLUSH_MS;
    a->path = xstrdup(path);
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* waits immune to wall-clock jumps */
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (sl_auditdb_open(&a->db, path, false, err, errlen) != 0)
        goto out;
    e = pthread_create(&a->thread, NULL, run, a);
    if (e) {
        snprintf(err, errlen, "%s: cannot start the writer thread: %s", path, strerror(e));
        goto out;
    }
    ok = true;
out:
    if (!ok) {
        release(a);
        a = NULL;
    }
    return a;
}

void sl_audit_push(struct sl_audit *a, const struct sl_audit_row *row)
{
    bool full;

    pthread_mutex_lock(&a->mu);
    if (a->in.n == a->in.cap)
        grow(&a->in);
    memcpy(&a->in.v[a->in.n++], row, sizeof(*row));
    add(&a->queued, 1);
    full = a->in.n == a->opt.batch_rows; /* the only push that wakes the writer early */
    pthread_mutex_unlock(&a->mu);
    if (full)
        pthread_cond_signal(&a->wake);
}

bool sl_audit_backlogged(struct sl_audit *a)
{
    if (get(&a->queued) < a->opt.max_queue)
        return false;
    add(&a->backlogged, 1);
    return true;
}

void sl_audit_stats(struct sl_audit *a, struct sl_audit_stats *out)
{
    *out = (struct sl_audit_stats){
        .queued = get(&a->queued),
        .written = get(&a->written),
        .batches = get(&a->batches),
        .write_errors = get(&a->write_errors),
        .backlogged = get(&a->backlogged),
        .latency_count = get(&a->latency_count),
        .latency_sum_us = get(&a->latency_sum_us),
    };
    for (size_t i = 0; i < N_BUCKETS; i++)
        out->latency_bucket[i] = get(&a->latency_bucket[i]);
}

void sl_audit_destroy(struct sl_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = true;
    a->stop_us = sl_clock_mono_us();
    pthread_mutex_unlock(&a->mu);
    pthread_cond_signal(&a->wake);
    pthread_join(a->thread, NULL);
    release(a);
}

int sl_audit_render_metrics(struct sl_audit *a, struct sl_buf *b)
{
    struct sl_audit_stats st;
    uint64_t cum = 0;
    int rc;

    sl_audit_stats(a, &st);
    rc = sl_buf_addf(b,
                     "# TYPE sluice_audit_queue_rows gauge\nsluice_audit_queue_rows %llu\n"
                     "# TYPE sluice_audit_rows_written_total counter\n"
                     "sluice_audit_rows_written_total %llu\n"
                     "# TYPE sluice_audit_write_errors_total counter\n"
                     "sluice_audit_write_errors_total %llu\n"
                     "# TYPE sluice_audit_backpressure_total counter\n"
                     "sluice_audit_backpressure_total %llu\n"
                     "# TYPE sluice_audit_commit_seconds histogram\n",
                     (unsigned long long)st.queued, (unsigned long long)st.written,
                     (unsigned long long)st.write_errors, (unsigned long long)st.backlogged);
    for (int i = 0; i < 15 && rc == 0; i++) {
        cum += st.latency_bucket[i];
        rc = sl_buf_addf(b, "sluice_audit_commit_seconds_bucket{le=\"%g\"} %llu\n",
                         (double)sl_audit_latency_bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    if (rc == 0)
        rc = sl_buf_addf(b,
                         "sluice_audit_commit_seconds_bucket{le=\"+Inf\"} %llu\n"
                         "sluice_audit_commit_seconds_sum %.6f\n"
                         "sluice_audit_commit_seconds_count %llu\n",
                         (unsigned long long)(cum + st.latency_bucket[15]),
                         (double)st.latency_sum_us / 1e6, (unsigned long long)st.latency_count);
    return rc;
}
