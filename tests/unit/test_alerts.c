/* Tests for evaluator/alerts: a drop gives one open row and one message, updates while it
 * lasts, resolution on recovery, restarts without duplicates, the four conditions, and a
 * webhook that fails, hangs or works again without holding anything up. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <gsl/gsl_rng.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zmq.h>

#include "alerts.h"
#include "evaldb.h"

#define T0 1767225600000LL /* 2026-01-01 */

static char dir[64];
static char path[128];
static sqlite3 *db;
static void *ctx, *pub, *sub;
static gsl_rng *rng;
static int64_t now_ms;
static int sample_seq;

static void setup(void)
{
    char err[256] = "", endpoint[64], buf[64];
    static int n;

    snprintf(dir, sizeof(dir), "/tmp/sluice-test-alerts-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/eval.db", dir);
    db = sl_evaldb_open(path, false, err, sizeof(err));
    cr_assert_not_null(db, "%s", err);
    /* An XPUB stands in for the evaluator's PUB: it says when the subscriber has joined, so
     * no message is lost to the "slow joiner". */
    ctx = zmq_ctx_new();
    pub = zmq_socket(ctx, ZMQ_XPUB);
    sub = zmq_socket(ctx, ZMQ_SUB);
    snprintf(endpoint, sizeof(endpoint), "inproc://alerts-%d-%d", (int)getpid(), n++);
    cr_assert_eq(zmq_bind(pub, endpoint), 0);
    cr_assert_eq(zmq_connect(sub, endpoint), 0);
    cr_assert_eq(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "alert.", 6), 0);
    cr_assert_gt(zmq_recv(pub, buf, sizeof(buf), 0), 0, "the subscription");
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7);
    now_ms = T0;
    sample_seq = 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    int zero = 0;

    zmq_setsockopt(pub, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_close(sub);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    gsl_rng_free(rng);
    sqlite3_close(db);
    curl_global_cleanup();
    for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(alerts, .init = setup, .fini = teardown);

static struct sl_alerts *create(const char *webhook)
{
    char err[256] = "";
    struct sl_alerts *a = sl_alerts_create(db, pub, webhook, NULL, err, sizeof(err));

    cr_assert_not_null(a, "%s", err);
    return a;
}

static struct sl_alerts_stats stats(struct sl_alerts *a)
{
    struct sl_alerts_stats st;

    sl_alerts_stats(a, &st);
    return st;
}

/* As the evaluator does: the sample and its result go to eval.db, the outcome to alerts. */
static void observe(struct sl_alerts *a, const struct sl_alert_subject *s, double p)
{
    int pass = gsl_rng_uniform(rng) < p;
    char *q;

    now_ms += 100;
    q = sqlite3_mprintf("INSERT INTO samples(request_id, received_ms, ts_ms, route, tier, model,"
                        " arm) VALUES ('req_%d', %lld, %lld, %Q, %Q, %Q, %Q);"
                        "INSERT INTO results(sample_id, scorer, ts_ms, pass)"
                        " VALUES (last_insert_rowid(), 'rules', %lld, %d);",
                        ++sample_seq, (long long)now_ms, (long long)now_ms, s->route, s->tier,
                        s->model, s->arm, (long long)now_ms, pass);
    cr_assert_eq(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_free(q);
    cr_assert_eq(sl_alerts_observe(a, s, pass, now_ms), 0);
}

/* Observes at pass rate p until stats field *counter reaches want, at most n times; returns
 * how many it took (0: never). */
static int observe_until(struct sl_alerts *a, const struct sl_alert_subject *s, double p, int n,
                         size_t offset, uint64_t want)
{
    for (int i = 1; i <= n; i++) {
        struct sl_alerts_stats st;
        observe(a, s, p);
        sl_alerts_stats(a, &st);
        if (*(uint64_t *)((char *)&st + offset) >= want)
            return i;
    }
    return 0;
}

#define RAISED   offsetof(struct sl_alerts_stats, raised)
#define RESOLVED offsetof(struct sl_alerts_stats, resolved)

static long long count(const char *where)
{
    sqlite3_stmt *st;
    char sql[256];
    long long n;

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM alerts WHERE %s", where);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Receives one two-frame message; returns its body parsed (NULL when none is waiting). */
static cJSON *receive(char *topic, size_t len)
{
    char body[8192];
    int n, more = 0;
    size_t more_len = sizeof(more);

    n = zmq_recv(sub, topic, len - 1, ZMQ_DONTWAIT);
    if (n < 0)
        return NULL;
    topic[n] = 0;
    cr_assert_eq(zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &more_len), 0);
    cr_assert(more, "a second frame");
    n = zmq_recv(sub, body, sizeof(body) - 1, 0);
    cr_assert_gt(n, 0);
    body[n] = 0;
    return cJSON_Parse(body);
}

struct row {
    long long id, first_seen_ms, last_seen_ms, resolved_ms;
    char key[64], state[16], detector[16], severity[16], metric[16];
    bool route_null, tier_null, model_null, arm_null;
    cJSON *evidence;
};

static struct row get_row(const char *key)
{
    struct row r = {0};
    sqlite3_stmt *st;

    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT id, key, state, detector, severity, metric,"
                                    " first_seen_ms, last_seen_ms, resolved_ms, evidence,"
                                    " route IS NULL, tier IS NULL, model IS NULL, arm IS NULL"
                                    " FROM alerts WHERE key = ? ORDER BY id DESC",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "no alert for %s", key);
    r.id = sqlite3_column_int64(st, 0);
    snprintf(r.key, sizeof(r.key), "%s", sqlite3_column_text(st, 1));
    snprintf(r.state, sizeof(r.state), "%s", sqlite3_column_text(st, 2));
    snprintf(r.detector, sizeof(r.detector), "%s", sqlite3_column_text(st, 3));
    snprintf(r.severity, sizeof(r.severity), "%s", sqlite3_column_text(st, 4));
    snprintf(r.metric, sizeof(r.metric), "%s", sqlite3_column_text(st, 5));
    r.first_seen_ms = sqlite3_column_int64(st, 6);
    r.last_seen_ms = sqlite3_column_int64(st, 7);
    r.resolved_ms = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 8);
    r.evidence = cJSON_Parse((const char *)sqlite3_column_text(st, 9));
    r.route_null = sqlite3_column_int(st, 10);
    r.tier_null = sqlite3_column_int(st, 11);
    r.model_null = sqlite3_column_int(st, 12);
    r.arm_null = sqlite3_column_int(st, 13);
    sqlite3_finalize(st);
    cr_assert_not_null(r.evidence);
    return r;
}

static const struct sl_alert_subject model_only = {.model = "gpt-4o-mini"};

Test(alerts, drop_raises_one_alert_updates_it_and_resolves_it_on_recovery)
{
    struct sl_alerts *a = create(NULL);
    struct row r;
    char topic[64];
    cJSON *m;
    int64_t raised_at;

    cr_assert_eq(observe_until(a, &model_only, 0.9, 1000, RAISED, 1), 0);
    cr_assert_eq(count("1"), 0);
    cr_assert_null(receive(topic, sizeof(topic)));
    cr_assert_gt(observe_until(a, &model_only, 0.7, 1000, RAISED, 1), 0);
    raised_at = now_ms;

    cr_assert_eq(count("1"), 1);
    r = get_row("model=gpt-4o-mini");
    cr_assert_str_eq(r.state, "open");
    cr_assert_str_eq(r.metric, "pass_rate");
    cr_assert_str_eq(r.detector, "cusum");
    cr_assert_str_eq(r.severity, "warning");
    cr_assert(r.route_null && r.tier_null && r.arm_null && !r.model_null);
    cr_assert_eq(r.first_seen_ms, raised_at);
    cr_assert_eq(r.resolved_ms, -1);
    cr_assert_float_eq(cJSON_GetObjectItem(r.evidence, "baseline_mean")->valuedouble, 0.9, 0.03);
    cr_assert_eq(cJSON_GetObjectItem(r.evidence, "window_n")->valueint, 200);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(r.evidence, "p_value")));
    cJSON_Delete(r.evidence);

    m = receive(topic, sizeof(topic));
    cr_assert_not_null(m);
    cr_assert_str_eq(topic, "alert.raised");
    cr_assert_eq(cJSON_GetObjectItem(m, "v")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(m, "id")->valuedouble, (double)r.id);
    cr_assert_str_eq(cJSON_GetObjectItem(m, "key")->valuestring, "model=gpt-4o-mini");
    cr_assert_str_eq(cJSON_GetObjectItem(m, "state")->valuestring, "open");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(m, "route")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(m, "resolved_ms")));
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(m, "evidence")));
    cJSON_Delete(m);

    /* While it lasts: the same row, seen later, and nothing more published. */
    for (int i = 0; i < 500; i++)
        observe(a, &model_only, 0.7);
    cr_assert_eq(count("1"), 1);
    r = get_row("model=gpt-4o-mini");
    cr_assert_str_eq(r.state, "open");
    cr_assert_geq(r.last_seen_ms, now_ms - 1000);
    cr_assert_eq(r.first_seen_ms, raised_at);
    cr_assert_not_null(cJSON_GetObjectItem(r.evidence, "at_raise"));
    cJSON_Delete(r.evidence);
    cr_assert_null(receive(topic, sizeof(topic)));

    cr_assert_gt(observe_until(a, &model_only, 0.9, 5000, RESOLVED, 1), 0);
    cr_assert_eq(count("1"), 1);
    r = get_row("model=gpt-4o-mini");
    cr_assert_str_eq(r.state, "resolved");
    cr_assert_eq(r.resolved_ms, now_ms);
    cr_assert_eq(r.last_seen_ms, now_ms);
    cJSON_Delete(r.evidence);
    m = receive(topic, sizeof(topic));
    cr_assert_not_null(m);
    cr_assert_str_eq(topic, "alert.resolved");
    cr_assert_str_eq(cJSON_GetObjectItem(m, "state")->valuestring, "resolved");
    cr_assert_eq(cJSON_GetObjectItem(m, "resolved_ms")->valuedouble, (double)now_ms);
    cJSON_Delete(m);
    cr_assert_eq(stats(a).open, 0);
    cr_assert_eq(stats(a).publish_failures, 0);
    sl_alerts_destroy(a);
}

Test(alerts, each_outcome_counts_for_tier_route_model_and_arm)
{
    const struct sl_alert_subject s = {"auto", "small", "gpt-4o-mini", "b"};
    const struct sl_alert_subject no_arm = {"auto", "large", "gpt-4o", ""};
    struct sl_alerts *a = create(NULL);
    struct row r;

    observe_until(a, &s, 0.9, 1000, RAISED, 1);
    observe(a, &no_arm, 0.9);
    cr_assert_eq(stats(a).conditions, 4 + 2, "tier=auto/large and model=gpt-4o");
    cr_assert_gt(observe_until(a, &s, 0.6, 1000, RAISED, 4), 0);
    cr_assert_eq(count("state = 'open'"), 4);
    r = get_row("tier=auto/small");
    cr_assert(!r.route_null && !r.tier_null && r.model_null && r.arm_null);
    cJSON_Delete(r.evidence);
    r = get_row("route=auto");
    cr_assert(!r.route_null && r.tier_null && r.model_null && r.arm_null);
    cJSON_Delete(r.evidence);
    r = get_row("arm=auto/b");
    cr_assert(!r.route_null && r.tier_null && r.model_null && !r.arm_null);
    cJSON_Delete(r.evidence);
    r = get_row("model=gpt-4o-mini");
    cJSON_Delete(r.evidence);
    sl_alerts_destroy(a);
}

Test(alerts, restart_keeps_the_open_alert_and_resolves_it_later)
{
    struct sl_alerts *a = create(NULL);
    struct row before, after;
    char topic[64];
    cJSON *m;

    observe_until(a, &model_only, 0.9, 1000, RAISED, 1);
    cr_assert_gt(observe_until(a, &model_only, 0.7, 1000, RAISED, 1), 0);
    for (int i = 0; i < 200; i++)
        observe(a, &model_only, 0.7);
    before = get_row("model=gpt-4o-mini");
    cJSON_Delete(before.evidence);
    cJSON_Delete(receive(topic, sizeof(topic)));
    sl_alerts_destroy(a);

    a = create(NULL);
    cr_assert_eq(stats(a).open, 1);
    cr_assert_eq(stats(a).raised, 0);
    cr_assert_gt(stats(a).replayed, 1000);
    cr_assert_eq(count("1"), 1, "no duplicate");
    cr_assert_null(receive(topic, sizeof(topic)), "nothing announced again");
    for (int i = 0; i < 300; i++)
        observe(a, &model_only, 0.7);
    cr_assert_eq(count("1"), 1);
    cr_assert_eq(stats(a).raised, 0);
    after = get_row("model=gpt-4o-mini");
    cr_assert_gt(after.last_seen_ms, before.last_seen_ms);
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(after.evidence, "at_raise")),
              "updates after the restart keep the raising evidence");
    cJSON_Delete(after.evidence);
    cr_assert_gt(observe_until(a, &model_only, 0.9, 5000, RESOLVED, 1), 0);
    after = get_row("model=gpt-4o-mini");
    cr_assert_eq(after.id, before.id);
    cr_assert_str_eq(after.state, "resolved");
    cr_assert_eq(after.first_seen_ms, before.first_seen_ms);
    cJSON_Delete(after.evidence);
    m = receive(topic, sizeof(topic));
    cr_assert_not_null(m);
    cr_assert_str_eq(topic, "alert.resolved");
    cJSON_Delete(m);
    sl_alerts_destroy(a);
}

Test(alerts, restart_raises_a_drop_that_has_no_row)
{
    struct sl_alerts *a = create(NULL);
    char topic[64];
    cJSON *m;

    /* The drop is raised, then its row is lost (as if the evaluator died before writing). */
    observe_until(a, &model_only, 0.9, 1000, RAISED, 1);
    cr_assert_gt(observe_until(a, &model_only, 0.6, 1000, RAISED, 1), 0);
    for (int i = 0; i < 100; i++)
        observe(a, &model_only, 0.6);
    sl_alerts_destroy(a);
    cJSON_Delete(receive(topic, sizeof(topic)));
    cr_assert_eq(sqlite3_exec(db, "DELETE FROM alerts", NULL, NULL, NULL), SQLITE_OK);

    a = create(NULL);
    cr_assert_eq(stats(a).raised, 1);
    cr_assert_eq(count("state = 'open'"), 1);
    m = receive(topic, sizeof(topic));
    cr_assert_not_null(m);
    cr_assert_str_eq(topic, "alert.raised");
    cr_assert_lt(cJSON_GetObjectItem(m, "first_seen_ms")->valuedouble,
                 cJSON_GetObjectItem(m, "last_seen_ms")->valuedouble,
                 "first seen when the replay found the drop");
    cJSON_Delete(m);
    sl_alerts_destroy(a);
}

Test(alerts, scorer_failures_do_not_count_in_the_replay)
{
    struct sl_alerts *a;

    /* 1500 samples whose only result is a failed judge call (pass NULL): no outcome. */
    for (int i = 0; i < 1500; i++) {
        char *q = sqlite3_mprintf("INSERT INTO samples(request_id, received_ms, ts_ms, model)"
                                  " VALUES ('req_%d', %lld, %lld, 'm');"
                                  "INSERT INTO results(sample_id, scorer, ts_ms, pass, error)"
                                  " VALUES (last_insert_rowid(), 'judge', 0, NULL, 'timeout');",
                                  i, (long long)(T0 + i), (long long)(T0 + i));
        cr_assert_eq(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_free(q);
    }
    a = create(NULL);
    cr_assert_eq(stats(a).replayed, 0);
    cr_assert_eq(stats(a).conditions, 0);
    sl_alerts_destroy(a);
}

Test(alerts, a_row_that_cannot_be_written_is_written_later)
{
    struct sl_alerts *a = create(NULL);
    int rc = 0, n = 0;

    observe_until(a, &model_only, 0.9, 1000, RAISED, 1);
    cr_assert_eq(sqlite3_exec(db,
                              "CREATE TRIGGER full BEFORE INSERT ON alerts"
                              " BEGIN SELECT RAISE(ABORT, 'disk full'); END",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    /* Until the detector raises, then an error for the row it could not write. */
    while (!rc && n++ < 1000) {
        now_ms += 100;
        rc = sl_alerts_observe(a, &model_only, gsl_rng_uniform(rng) < 0.6, now_ms);
    }
    cr_assert_eq(rc, SL_EIO);
    cr_assert_eq(stats(a).db_errors, 1);
    cr_assert_eq(stats(a).raised, 0);
    /* Retried once a second while the drop lasts. */
    for (int i = 0; i < 9; i++) {
        now_ms += 100;
        cr_assert_eq(sl_alerts_observe(a, &model_only, 0, now_ms), 0);
    }
    cr_assert_eq(sqlite3_exec(db, "DROP TRIGGER full", NULL, NULL, NULL), SQLITE_OK);
    now_ms += 100;
    cr_assert_eq(sl_alerts_observe(a, &model_only, 0, now_ms), 0);
    cr_assert_eq(stats(a).raised, 1);
    cr_assert_eq(stats(a).db_errors, 1);
    cr_assert_eq(count("state = 'open'"), 1);
    sl_alerts_destroy(a);
}

static int closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd); /* nothing listens there now */
    return port;
}

/* Polls stats field *counter of a until it reaches want, for at most seconds; returns it. */
static uint64_t wait_stat(struct sl_alerts *a, size_t offset, uint64_t want, int seconds)
{
    uint64_t v = 0;

    for (int i = 0; i < seconds * 100; i++) {
        struct sl_alerts_stats st;
        sl_alerts_stats(a, &st);
        v = *(uint64_t *)((char *)&st + offset);
        if (v >= want)
            break;
        usleep(10000);
    }
    return v;
}

#define FAILURES offsetof(struct sl_alerts_stats, webhook_failures)

Test(alerts, failing_webhook_is_counted_and_harmless)
{
    char url[64];
    struct sl_alerts *a;
    char topic[64];
    cJSON *m;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", closed_port());
    a = create(url);
    observe_until(a, &model_only, 0.9, 1000, RAISED, 1);
    cr_assert_gt(observe_until(a, &model_only, 0.6, 1000, RAISED, 1), 0);
    cr_assert_eq(count("state = 'open'"), 1);
    m = receive(topic, sizeof(topic));
    cr_assert_not_null(m, "published all the same");
    cJSON_Delete(m);
    cr_assert_gt(observe_until(a, &model_only, 0.9, 5000, RESOLVED, 1), 0);
    cr_assert_eq(count("state = 'resolved'"), 1);
    /* Each message fails once, after all its attempts (about 5 s each). */
    cr_assert_eq(wait_stat(a, FAILURES, 2, 30), 2);
    cr_assert_eq(stats(a).webhook_dropped, 0);
    sl_alerts_destroy(a);
}

/* A webhook on loopback that answers its i-th request with status[i] (the last one from then
 * on), or hangs when that is 0: keeps the connection open and never answers. */
#define HOOK_KEPT 8
struct hook {
    int fd;
    char url[64];
    int status[4];
    pthread_t thread;
    pthread_mutex_t mu;
    /* Under mu. */
    bool stop;
    int requests;                  /* whole requests received */
    int hanging;                   /* connections left unanswered that the client still holds */
    char request[HOOK_KEPT][4096]; /* the first requests, whole */
};

/* Reads one request (headers and Content-Length body) from c into out; false on EOF. */
static bool read_request(int c, char *out, size_t len)
{
    size_t n = 0;
    char *body;

    for (;;) {
        ssize_t r = read(c, out + n, len - 1 - n);
        if (r <= 0)
            return false;
        n += (size_t)r;
        out[n] = 0;
        body = strstr(out, "\r\n\r\n");
        if (body) {
            const char *cl = strcasestr(out, "Content-Length:");
            if (!cl || strlen(body + 4) >= (size_t)atol(cl + 15))
                return true;
        }
        if (n == len - 1)
            return true;
    }
}

static void *hook_serve(void *arg)
{
    struct hook *h = arg;
    struct pollfd fds[1 + HOOK_KEPT];
    size_t n_kept = 0;
    char buf[4096];
    bool stop = false;

    while (!stop) {
        fds[0] = (struct pollfd){.fd = h->fd, .events = POLLIN};
        if (poll(fds, 1 + n_kept, 10) > 0) {
            for (size_t i = 1; i <= n_kept; i++) {
                if (fds[i].revents && read(fds[i].fd, buf, sizeof(buf)) <= 0) {
                    close(fds[i].fd); /* the client gave up */
                    fds[i--] = fds[n_kept--];
                    pthread_mutex_lock(&h->mu);
                    h->hanging--;
                    pthread_mutex_unlock(&h->mu);
                }
            }
            if (fds[0].revents & POLLIN) {
                int c = accept(h->fd, NULL, NULL), status, i;
                struct timeval tv = {.tv_sec = 5};
                if (c < 0)
                    continue;
                setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                if (!read_request(c, buf, sizeof(buf))) {
                    close(c);
                    continue;
                }
                pthread_mutex_lock(&h->mu);
                i = h->requests++;
                if (i < HOOK_KEPT)
                    snprintf(h->request[i], sizeof(h->request[i]), "%s", buf);
                status = h->status[i < 4 ? i : 3];
                if (!status)
                    h->hanging++;
                pthread_mutex_unlock(&h->mu);
                if (status) {
                    int len = snprintf(buf, sizeof(buf),
                                       "HTTP/1.1 %d X\r\nContent-Length: 0\r\n"
                                       "Connection: close\r\n\r\n",
                                       status);
                    if (write(c, buf, (size_t)len) < 0)
                        perror("write");
                    close(c);
                } else {
                    if (n_kept == HOOK_KEPT)
                        abort(); /* no cr_assert outside the test's thread */
                    fds[++n_kept] = (struct pollfd){.fd = c, .events = POLLIN};
                }
            }
        }
        pthread_mutex_lock(&h->mu);
        stop = h->stop;
        pthread_mutex_unlock(&h->mu);
    }
    for (size_t i = 1; i <= n_kept; i++)
        close(fds[i].fd);
    return NULL;
}

/* Starts h answering s0, s1, s2, then s3 from then on (0: hang). */
static void hook_start(struct hook *h, int s0, int s1, int s2, int s3)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);

    memset(h, 0, sizeof(*h));
    h->status[0] = s0;
    h->status[1] = s1;
    h->status[2] = s2;
    h->status[3] = s3;
    pthread_mutex_init(&h->mu, NULL);
    h->fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(h->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(h->fd, 16), 0);
    cr_assert_eq(getsockname(h->fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(h->url, sizeof(h->url), "http://127.0.0.1:%d/hook", ntohs(sa.sin_port));
    cr_assert_eq(pthread_create(&h->thread, NULL, hook_serve, h), 0);
}

static void hook_stop(struct hook *h)
{
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    close(h->fd);
    pthread_mutex_destroy(&h->mu);
}

static int hook_requests(struct hook *h)
{
    int n;

    pthread_mutex_lock(&h->mu);
    n = h->requests;
    pthread_mutex_unlock(&h->mu);
    return n;
}

static int hook_hanging(struct hook *h)
{
    int n;

    pthread_mutex_lock(&h->mu);
    n = h->hanging;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* Polls until h has received n requests, for at most seconds; returns how many it has. */
static int hook_wait_requests(struct hook *h, int n, int seconds)
{
    for (int i = 0; i < seconds * 100 && hook_requests(h) < n; i++)
        usleep(10000);
    return hook_requests(h);
}

/* The body of h's i-th request. */
static const char *hook_body(struct hook *h, int i)
{
    const char *body = strstr(h->request[i], "\r\n\r\n");

    cr_assert_not_null(body);
    return body + 4;
}

Test(alerts, webhook_gets_slack_json)
{
    struct hook h;
    struct sl_alerts *a;
    cJSON *body, *text;

    hook_start(&h, 200, 200, 200, 200);
    a = create(h.url);
    observe_until(a, &model_only, 0.9, 1000, RAISED, 1);
    cr_assert_gt(observe_until(a, &model_only, 0.6, 1000, RAISED, 1), 0);
    cr_assert_eq(hook_wait_requests(&h, 1, 10), 1);
    sl_alerts_destroy(a);
    hook_stop(&h);
    cr_assert_eq(h.requests, 1, "posted once");
    cr_assert(strncmp(h.request[0], "POST /hook ", 11) == 0, "%.40s", h.request[0]);
    cr_assert_not_null(strcasestr(h.request[0], "Content-Type: application/json"));
    body = cJSON_Parse(hook_body(&h, 0));
    cr_assert_not_null(body);
    cr_assert_eq(cJSON_GetArraySize(body), 1, "only text: %s", hook_body(&h, 0));
    text = cJSON_GetObjectItem(body, "text");
    cr_assert(cJSON_IsString(text));
    cr_assert_not_null(strstr(text->valuestring, "model=gpt-4o-mini"), "%s", text->valuestring);
    cJSON_Delete(body);
}

Test(alerts, webhook_that_fails_twice_gets_the_message_once_on_the_third_attempt)
{
    struct hook h;
    struct sl_alerts *a;
    cJSON *body;

    hook_start(&h, 500, 500, 200, 200);
    a = create(h.url);
    observe_until(a, &model_only, 0.9, 1000, RAISED, 1);
    cr_assert_gt(observe_until(a, &model_only, 0.6, 1000, RAISED, 1), 0);
    cr_assert_eq(hook_wait_requests(&h, 3, 20), 3, "retried after each failure");
    cr_assert_eq(stats(a).webhook_failures, 0);
    sl_alerts_destroy(a);
    hook_stop(&h);
    cr_assert_eq(h.requests, 3, "not posted again once delivered");
    cr_assert_str_eq(hook_body(&h, 1), hook_body(&h, 0));
    cr_assert_str_eq(hook_body(&h, 2), hook_body(&h, 0));
    body = cJSON_Parse(hook_body(&h, 2));
    cr_assert_not_null(strstr(cJSON_GetObjectItem(body, "text")->valuestring, "model=gpt-4o-mini"));
    cJSON_Delete(body);
}

Test(alerts, a_webhook_that_refuses_the_post_is_not_asked_again)
{
    struct hook h;
    struct sl_alerts *a;

    hook_start(&h, 404, 200, 200, 200); /* a retry would get 200 */
    a = create(h.url);
    observe_until(a, &model_only, 0.9, 1000, RAISED, 1);
    cr_assert_gt(observe_until(a, &model_only, 0.6, 1000, RAISED, 1), 0);
    cr_assert_eq(wait_stat(a, FAILURES, 1, 10), 1, "a 404 fails the message at once");
    sl_alerts_destroy(a);
    hook_stop(&h);
    cr_assert_eq(h.requests, 1, "posted once");
}

Test(alerts, hanging_webhook_does_not_hold_up_outcomes_or_other_alerts, .timeout = 60)
{
    const struct sl_alert_subject other = {.model = "gpt-4o"};
    struct hook h;
    struct sl_alerts *a;
    char topic[64];
    cJSON *m;
    int n = 0;

    hook_start(&h, 0, 0, 0, 0);
    a = create(h.url);
    /* Both conditions have their reference before the first alert. */
    observe_until(a, &model_only, 0.9, 1000, RAISED, 1);
    observe_until(a, &other, 0.9, 1000, RAISED, 1);
    cr_assert_gt(observe_until(a, &model_only, 0.6, 1000, RAISED, 1), 0);
    cr_assert_eq(hook_wait_requests(&h, 1, 10), 1);
    /* The first post waits for an answer that does not come; meanwhile outcomes go on being
     * taken, and the other condition's drop is raised, stored and published. */
    while (stats(a).raised < 2 && n < 1000) {
        now_ms += 100;
        cr_assert_eq(sl_alerts_observe(a, &other, gsl_rng_uniform(rng) < 0.6, now_ms), 0);
        n++;
    }
    cr_assert_eq(stats(a).raised, 2, "no second alert in %d outcomes", n);
    cr_assert_eq(count("state = 'open'"), 2);
    cr_assert_not_null(m = receive(topic, sizeof(topic)));
    cJSON_Delete(m);
    cr_assert_not_null(m = receive(topic, sizeof(topic)), "the second alert is published");
    cr_assert_str_eq(cJSON_GetObjectItem(m, "key")->valuestring, "model=gpt-4o");
    cJSON_Delete(m);
    cr_assert_eq(hook_requests(&h), 1, "the second message waits behind the first");
    cr_assert_eq(hook_hanging(&h), 1, "the first post still waits for its answer");
    sl_alerts_destroy(a);
    hook_stop(&h);
}

Test(alerts, shutdown_with_a_hanging_webhook_ends_and_lets_go_of_it, .timeout = 60)
{
    const struct sl_alert_subject other = {.model = "gpt-4o"};
    struct hook h;
    struct sl_alerts *a;

    hook_start(&h, 0, 0, 0, 0);
    a = create(h.url);
    observe_until(a, &model_only, 0.9, 1000, RAISED, 1);
    observe_until(a, &other, 0.9, 1000, RAISED, 1);
    cr_assert_gt(observe_until(a, &model_only, 0.6, 1000, RAISED, 1), 0);
    cr_assert_gt(observe_until(a, &other, 0.6, 1000, RAISED, 2), 0);
    cr_assert_geq(hook_wait_requests(&h, 1, 10), 1);
    sl_alerts_destroy(a); /* returns, with a message still queued: the test's timeout says */
    /* No connection left behind: every post the webhook took was let go. */
    for (int i = 0; i < 500 && hook_hanging(&h) > 0; i++)
        usleep(10000);
    cr_assert_eq(hook_hanging(&h), 0);
    cr_assert_geq(hook_requests(&h), 1);
    hook_stop(&h);
}

Test(alerts, invalid_config_is_refused)
{
    struct sl_drift_config cfg;
    char err[256] = "";

    sl_drift_config_default(&cfg);
    cfg.window = 0;
    cr_assert_null(sl_alerts_create(db, NULL, NULL, &cfg, err, sizeof(err)));
    cr_assert(strncmp(err, "window:", 7) == 0, "%s", err);
    sl_alerts_destroy(NULL);
}
