/* bench-eval-ingest: how many samples per second a running sluice-evaluator stores.
 *   bench-eval-ingest --endpoint ENDPOINT --db PATH [--samples N] [--seed S]
 * PUSHes N realistic samples (default 50,000: chat prompts of a few hundred bytes, answers of
 * about a kilobyte, some refusals, empty, truncated and JSON-mode answers, a few duplicates of
 * earlier request ids) to ENDPOINT, where the evaluator PULLs, and polls its eval.db at PATH
 * until every distinct sample is stored (committed, with its rule checks). The only line on
 * stdout is
 *   samples_per_s=N sent_s=S stored_s=S samples=N
 * samples_per_s counting from the first send to the moment the last sample was seen stored;
 * sent_s is how long sending took. Fails (exit 1) when the samples are not all stored within
 * 120 s, or when the evaluator's database cannot be read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "buf.h"
#include "clock.h"
#include "evaldb.h"
#include "rand.h"
#include "sample.h"

#define DUPLICATE_EVERY  100 /* one sample in this many repeats an earlier request id */
#define STORE_TIMEOUT_US 120000000ull

static const char *const questions[] = {
    "Summarise the following support ticket in two sentences and suggest a priority. The "
    "customer reports that exports to CSV time out for reports with more than 10,000 rows, "
    "started after last Tuesday's release, and affects their month-end close.",
    "Write a Python function that parses ISO 8601 durations such as P3DT4H5M and returns the "
    "number of seconds. Include type hints and two doctest examples.",
    "Explain why the sky is blue to a curious ten-year-old, in under 120 words.",
    "Translate into French: 'Our office will be closed on Monday for the public holiday; "
    "urgent requests can be sent to the on-call address.'",
    "Given the table of quarterly revenue (Q1 4.2M, Q2 4.8M, Q3 5.1M, Q4 6.0M), compute the "
    "growth rate for each quarter and the compound annual growth rate.",
    "Prove that the square root of 2 is irrational, step by step.",
};

static const char answer_text[] =
    "Here is a careful answer. First, restate the problem in plain terms so that nothing is "
    "lost: the request asks for a concise result with the reasoning shown. Second, work "
    "through the details one at a time, checking each intermediate value against the input. "
    "Third, summarise the outcome and point out any assumptions that were made along the way, "
    "so the reader can verify them independently. In practice this means the numbers above "
    "are consistent, the edge cases (empty input, very large values, unusual formats) are "
    "handled explicitly, and the final recommendation follows directly from the evidence. If "
    "anything is unclear, ask a follow-up question and I will expand on that part. ";

static const char *const models[][3] = {
    /* model, tier, tier_index */
    {"gpt-4o-mini", "small", "0"},
    {"gpt-4o-mini", "small", "0"},
    {"gpt-4o-mini", "small", "0"},
    {"gpt-4o", "large", "1"},
};

static void usage(void)
{
    fprintf(stderr, "usage: bench-eval-ingest --endpoint ENDPOINT --db PATH [--samples N] "
                    "[--seed S]\n");
    exit(2);
}

static long number(const char *flag, const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "bench-eval-ingest: %s: must be a whole number from %ld to %ld\n", flag,
                min, max);
        exit(2);
    }
    return v;
}

/* Encodes sample i (its request id from id) into out. */
static void make_sample(struct sl_rand *r, long id, struct sl_buf *out, struct sl_buf *text)
{
    struct sl_sample s;
    const char *const *m = models[sl_rand_u64(r) % (sizeof(models) / sizeof(*models))];
    const char *q = questions[sl_rand_u64(r) % (sizeof(questions) / sizeof(*questions))];
    double u = sl_rand_double(r);

    memset(&s, 0, sizeof(s));
    s.ts_ms = sl_clock_wall_ms();
    snprintf(s.request_id, sizeof(s.request_id), "bench-%08ld", id);
    snprintf(s.team, sizeof(s.team), "team-%d", (int)(sl_rand_u64(r) % 8));
    strcpy(s.route, "auto");
    strcpy(s.tier, m[1]);
    s.tier_index = atoi(m[2]);
    strcpy(s.premium_tier, "large");
    strcpy(s.model, m[0]);
    snprintf(s.deployment, sizeof(s.deployment), "openai/%s", m[0]);
    strcpy(s.arm, u < 0.5 ? "a" : "b");
    s.score = sl_rand_double(r);
    s.thresholds[0] = 0.45;
    s.n_thresholds = 1;
    s.config_version = 7;
    s.status = 200;
    s.latency_ms = 300 + (int64_t)(sl_rand_u64(r) % 2000);
    s.tokens_in = 120;
    s.tokens_out = 250;
    s.cost_usd = 0.00042;
    strcpy(s.finish_reason, "stop");

    sl_buf_reset(text);
    if (sl_buf_addf(text,
                    "[{\"role\":\"system\",\"content\":\"You are a helpful assistant for "
                    "[EMAIL]'s team. Answer precisely.\"},{\"role\":\"user\",\"content\":\"%s\"}]",
                    q))
        abort();
    s.messages = text->data;
    if (u < 0.05) {
        s.answer = "I'm sorry, but I can't help with that request.";
    } else if (u < 0.07) {
        s.answer = "";
    } else if (u < 0.10) {
        s.answer = (char *)answer_text;
        strcpy(s.finish_reason, "length");
    } else if (u < 0.13) {
        s.json_mode = true;
        s.answer = u < 0.12 ? "{\"priority\": \"high\", \"summary\": \"CSV exports time out\"}"
                            : "{\"priority\": \"high\", \"summary\": ";
    } else if (u < 0.14) {
        s.status = 502;
        strcpy(s.error, "upstream_failed");
        s.answer = "";
        s.finish_reason[0] = '\0';
    } else {
        s.answer = (char *)answer_text;
    }
    sl_buf_reset(out);
    if (sl_sample_encode(&s, out))
        abort();
}

/* Samples stored so far, or -1 when the database cannot be read. */
static long stored(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    long n = -1;

    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM samples", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

static void sleep_ms(long ms)
{
    usleep((useconds_t)ms * 1000);
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *db_path = NULL;
    long n = 50000, seed = 1, base, distinct = 0, have = 0;
    struct sl_buf msg, text;
    struct sl_rand r;
    sqlite3 *db = NULL;
    void *ctx, *push;
    int hwm = 0, linger = -1;
    uint64_t t0, t_sent, t_stored = 0;
    char err[512];
    struct stat st;

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--endpoint") == 0)
            endpoint = argv[++i];
        else if (strcmp(argv[i], "--db") == 0)
            db_path = argv[++i];
        else if (strcmp(argv[i], "--samples") == 0)
            n = number("--samples", argv[++i], 1, 100000000);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = number("--seed", argv[++i], 0, 1L << 62);
        else
            usage();
    }
    if (!endpoint || !db_path)
        usage();
    /* the evaluator creates its database at start */
    for (int i = 0; i < 1000 && stat(db_path, &st) != 0; i++)
        sleep_ms(10);
    if (!(db = sl_evaldb_open(db_path, true, err, sizeof(err)))) {
        fprintf(stderr, "bench-eval-ingest: %s\n", err);
        return 1;
    }
    /* ... and its schema, a moment later */
    for (int i = 0; i < 1000 && (base = stored(db)) < 0; i++)
        sleep_ms(10);
    if (base < 0) {
        fprintf(stderr, "bench-eval-ingest: %s: %s\n", db_path, sqlite3_errmsg(db));
        return 1;
    }
    ctx = zmq_ctx_new();
    push = zmq_socket(ctx, ZMQ_PUSH);
    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof(hwm)); /* 0: no limit, never drop */
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_connect(push, endpoint)) {
        fprintf(stderr, "bench-eval-ingest: %s: %s\n", endpoint, zmq_strerror(errno));
        return 1;
    }
    sl_rand_seed(&r, (uint64_t)seed);
    sl_buf_init(&msg, 1 << 20);
    sl_buf_init(&text, 1 << 20);
    t0 = sl_clock_mono_us();
    for (long i = 0; i < n; i++) {
        long id = i;
        /* a duplicate repeats an earlier id that was sent itself: the first of its hundred */
        if (i % DUPLICATE_EVERY == DUPLICATE_EVERY - 1)
            id = (long)(sl_rand_u64(&r) % (uint64_t)i) / DUPLICATE_EVERY * DUPLICATE_EVERY;
        else
            distinct++;
        make_sample(&r, id, &msg, &text);
        if (zmq_send(push, msg.data, msg.len, 0) < 0) {
            fprintf(stderr, "bench-eval-ingest: send: %s\n", zmq_strerror(errno));
            return 1;
        }
    }
    t_sent = sl_clock_mono_us();
    while (sl_clock_mono_us() - t0 < STORE_TIMEOUT_US) {
        have = stored(db) - base;
        if (have >= distinct) {
            t_stored = sl_clock_mono_us();
            break;
        }
        sleep_ms(5);
    }
    if (!t_stored) {
        fprintf(stderr, "bench-eval-ingest: %ld of %ld samples stored after %llu s\n", have,
                distinct, STORE_TIMEOUT_US / 1000000);
        return 1;
    }
    printf("samples_per_s=%.0f sent_s=%.2f stored_s=%.2f samples=%ld\n",
           (double)distinct / ((double)(t_stored - t0) / 1e6), (double)(t_sent - t0) / 1e6,
           (double)(t_stored - t0) / 1e6, distinct);
    sl_buf_free(&msg);
    sl_buf_free(&text);
    zmq_close(push);
    zmq_ctx_term(ctx);
    sqlite3_close(db);
    return 0;
}
