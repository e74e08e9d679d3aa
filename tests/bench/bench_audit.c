/* bench-audit: the audit writer's sustained throughput and the file's size per million rows.
 *   bench-audit [--rows N] [--threads T] [--db PATH]
 * T threads push N rows (default 1,000,000 from 2 threads) as fast as the writer lets them:
 * like the proxy, a producer holds back while sl_audit_backlogged says yes. The only line on
 * stdout is
 *   audit_rows_per_s=N db_bytes_per_million_rows=N
 * rows/s counting from the first push to sl_audit_destroy's return (every row committed), the
 * size of the file after a WAL checkpoint scaled to a million rows. Without --db the file is in
 * a temporary directory, removed afterwards; a --db file must not exist yet. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "clock.h"
#include "rand.h"
#include "reqid.h"

struct producer {
    struct sl_audit *a;
    long rows;
    uint64_t seed;
};

static const char *const teams[] = {"search",   "support-bot", "analytics", "mobile-app",
                                    "checkout", "internal",    "research",  "docs"};
static const char *const models[][3] = {
    /* model, tier, deployment */
    {"gpt-4o-mini", "small", "openai-eu-1"},
    {"gpt-4o", "premium", "openai-us-2"},
    {"claude-3-5-haiku", "small", "anthropic-1"},
    {"claude-3-5-sonnet", "premium", "anthropic-1"},
    {"llama-3.1-8b-instruct", "small", "vllm-local-a100"},
};

static void usage(void)
{
    fprintf(stderr, "usage: bench-audit [--rows N] [--threads T] [--db PATH]\n");
    exit(2);
}

static long number(const char *flag, const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "bench-audit: %s: must be a whole number from %ld to %ld\n", flag, min,
                max);
        exit(2);
    }
    return v;
}

/* Fills the fields a request sets, with the spread of values a busy gateway sees. */
static void fill(struct sl_audit_row *r, struct sl_rand *rng, int64_t now_ms)
{
    uint64_t x = sl_rand_u64(rng);
    const char *const *m = models[x % 5];
    int routed = (x >> 8) % 4 != 0;
    int failed = (x >> 12) % 100 == 0;
    int64_t in = 50 + (int64_t)((x >> 16) % 4000), out = 10 + (int64_t)((x >> 28) % 800);
    double price_in = m[1][0] == 'p' ? 2.5e-6 : 0.15e-6, price_out = price_in * 4;

    r->ts_ms = now_ms;
    sl_reqid_new(r->request_id);
    snprintf(r->team, sizeof(r->team), "%s", teams[(x >> 40) % 8]);
    snprintf(r->key_id, sizeof(r->key_id), "key_%04x", (unsigned)((x >> 44) % 3000));
    snprintf(r->endpoint, sizeof(r->endpoint), "chat");
    snprintf(r->route, sizeof(r->route), "%s", routed ? "auto" : "");
    snprintf(r->model_requested, sizeof(r->model_requested), "%s", routed ? "auto" : m[0]);
    snprintf(r->model, sizeof(r->model), "%s", m[0]);
    snprintf(r->tier, sizeof(r->tier), "%s", routed ? m[1] : "");
    snprintf(r->deployment, sizeof(r->deployment), "%s", m[2]);
    snprintf(r->arm, sizeof(r->arm), "%s", routed && (x >> 50) % 10 == 0 ? "candidate" : "");
    snprintf(r->error, sizeof(r->error), "%s", failed ? "upstream_timeout" : "");
    r->config_version = 17;
    r->status = failed ? 504 : 200;
    r->attempts = 1 + (int)((x >> 54) % 20 == 0);
    r->tokens_in = in;
    r->tokens_out = failed ? -1 : out;
    r->tokens_cached = (x >> 58) % 4 == 0 ? in / 2 : 0;
    r->tokens_estimated = false;
    r->stream = (x >> 60) % 2;
    r->cost_usd = failed ? -1 : (double)in * price_in + (double)out * price_out;
    r->premium_cost_usd = routed && !failed ? (double)in * 2.5e-6 + (double)out * 10e-6 : -1;
    r->upstream_us = failed ? 60000000 : 150000 + (int64_t)(x % 2500000);
    r->overhead_us = 40 + (int64_t)((x >> 20) % 300);
    r->prompt = r->response = NULL;
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    struct sl_audit_row r;
    struct sl_rand rng;
    struct timespec pause = {0, 1000000};
    int64_t now_ms = sl_clock_wall_ms();

    memset(&r, 0, sizeof(r));
    sl_rand_seed(&rng, p->seed);
    for (long i = 0; i < p->rows; i++) {
        if ((i & 1023) == 0)
            now_ms = sl_clock_wall_ms();
        while (sl_audit_backlogged(p->a))
            nanosleep(&pause, NULL); /* the proxy would answer 503 meanwhile */
        fill(&r, &rng, now_ms);
        sl_audit_push(p->a, &r);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long rows = 1000000, threads = 2;
    const char *db_path = NULL;
    char dir[64] = "", path[PATH_MAX], err[512];
    struct producer *p;
    pthread_t *t;
    struct sl_audit *a;
    struct stat st;
    sqlite3 *db = NULL;
    uint64_t t0, t1;

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--rows") == 0)
            rows = number("--rows", argv[++i], 1, LONG_MAX / 2);
        else if (strcmp(argv[i], "--threads") == 0)
            threads = number("--threads", argv[++i], 1, 256);
        else if (strcmp(argv[i], "--db") == 0)
            db_path = argv[++i];
        else
            usage();
    }
    if (db_path) {
        if (stat(db_path, &st) == 0) {
            fprintf(stderr, "bench-audit: %s exists; give a path to a new file\n", db_path);
            return 1;
        }
        snprintf(path, sizeof(path), "%s", db_path);
    } else {
        snprintf(dir, sizeof(dir), "/tmp/bench-audit-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("bench-audit: mkdtemp");
            return 1;
        }
        snprintf(path, sizeof(path), "%s/audit.db", dir);
    }

    a = sl_audit_create(path, NULL, err, sizeof(err));
    if (!a) {
        fprintf(stderr, "bench-audit: %s\n", err);
        return 1;
    }
    p = calloc((size_t)threads, sizeof(*p));
    t = calloc((size_t)threads, sizeof(*t));
    if (!p || !t)
        abort();
    t0 = sl_clock_mono_us();
    for (long i = 0; i < threads; i++) {
        p[i] = (struct producer){a, rows / threads + (i < rows % threads), 0x5eed + (uint64_t)i};
        if (pthread_create(&t[i], NULL, produce, &p[i]) != 0)
            abort();
    }
    for (long i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    sl_audit_destroy(a);
    t1 = sl_clock_mono_us();

    /* The size the rows take once the WAL is folded into the file. */
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench-audit: %s: %s\n", path, sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_close(db);
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    printf("audit_rows_per_s=%.0f db_bytes_per_million_rows=%.0f\n",
           (double)rows / ((double)(t1 - t0 ? t1 - t0 : 1) / 1e6),
           (double)st.st_size * 1e6 / (double)rows);

    if (dir[0]) {
        const char *suffix[] = {"", "-wal", "-shm"};
        for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
            char f[PATH_MAX + 8];
            snprintf(f, sizeof(f), "%s%s", path, suffix[i]);
            unlink(f);
        }
        rmdir(dir);
    }
    free(p);
    free(t);
    return 0;
}
