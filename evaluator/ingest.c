/* The evaluator's loop: PULL, decode, store, score, commit, report outcomes. */
#include "ingest.h"

#define SL_LOG_MODULE "ingest"
#include "buf.h"
#include "clock.h"
#include "judge.h"
#include "llm.h"
#include "log.h"
#include "rand.h"
#include "rules.h"
#include "sample.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define DRAIN_MAX     1000         /* messages read per loop pass */
#define BATCH_SAMPLES 1000         /* samples per transaction, at most */
#define BATCH_US      50000        /* longest a write waits for its commit */
#define IDLE_WAIT_MS  1000         /* longest wait with nothing pending */
#define STATS_US      60000000ull  /* the counters' log line, once a minute */
#define INVALID_LOGS  10           /* invalid samples logged per minute, at most */
#define ERROR_LOGS    10           /* failed writes logged per minute, at most */
#define STOP_GRACE_MS 5000         /* longest wait for calls in flight when stopping */
#define MSG_MAX       (64ll << 20) /* ZMQ_MAXMSGSIZE: the proxy's largest sample */
#define BODY_MAX      (64u << 20)  /* a judge call's body */
#define RECV_HWM      100000       /* messages queued in the PULL socket */

/* A stored sample whose scoring is not over: it waits for its commit, then for its judge and
 * shadow calls, then for the commit of their results. */
struct scored {
    struct scored *next; /* in ing->batch or ing->finished */
    struct sl_ingest *ing;
    int64_t id;
    struct sl_sample s; /* messages and answer freed once no call needs them */
    const struct sl_evroute *route;
    unsigned todo; /* SL_SCORER_JUDGE / SL_SCORER_SHADOW still to call */
    int waiting;   /* calls (or two-step shadow comparisons) outstanding */
    int passes, fails;
    char *question; /* the last user message's text, for the judge */
    char *premium;  /* shadow: the premium model's answer, between the two steps */
};

/* A list with a tail, in arrival order. */
struct list {
    struct scored *head, *tail;
    size_t n;
};

struct sl_ingest {
    const struct sl_evconfig *cfg;
    struct sl_store *store;
    struct sl_alerts *alerts;
    void *pull;
    struct sl_llm *llm;
    struct sl_rand rand;
    char *judge_url, *shadow_url;
    struct list batch;    /* stored in the open transaction; their calls start at commit */
    struct list finished; /* every scorer done; outcomes reported after the next commit */
    uint64_t dirty_since; /* when the open transaction got its first write; 0: none */
    bool stopping;
    struct sl_ingest_stats total; /* committed (and received / invalid / errors as they come) */
    struct sl_ingest_stats delta; /* written in the open transaction, not committed yet */
    uint64_t last_stats_us;
    int logged_invalid; /* invalid samples logged in the current minute */
    int logged_errors;  /* failed writes logged in the current minute */
    struct sl_buf body; /* scratch for call bodies */
};

static void list_push(struct list *l, struct scored *sc)
{
    sc->next = NULL;
    if (l->tail)
        l->tail->next = sc;
    else
        l->head = sc;
    l->tail = sc;
    l->n++;
}

static struct scored *list_pop(struct list *l)
{
    struct scored *sc = l->head;

    if (sc) {
        l->head = sc->next;
        if (!l->head)
            l->tail = NULL;
        l->n--;
        sc->next = NULL;
    }
    return sc;
}

static void scored_free(struct scored *sc)
{
    sl_sample_free(&sc->s);
    free(sc->question);
    free(sc->premium);
    free(sc);
}

/* Marks the open transaction as written, for the commit timer. */
static void touch(struct sl_ingest *ing)
{
    if (!ing->dirty_since)
        ing->dirty_since = sl_clock_mono_us();
}

/* Counts a failed write, and logs it unless ERROR_LOGS were this minute (a full disk fails
 * every write). */
static void write_failed(struct sl_ingest *ing, const char *what)
{
    ing->total.store_errors++;
    if (ing->logged_errors++ < ERROR_LOGS)
        sl_error("eval.db: cannot write %s: %s", what, sl_store_error(ing->store));
}

static void add_result(struct sl_ingest *ing, struct scored *sc, const struct sl_result *r)
{
    if (sl_store_result(ing->store, sc->id, sl_clock_wall_ms(), r)) {
        write_failed(ing, "a result");
        return;
    }
    touch(ing);
    sc->passes += r->pass == 1;
    sc->fails += r->pass == 0;
}

/* One of sc's calls is over: once none is left, its outcome waits for the next commit. */
static void call_over(struct scored *sc)
{
    if (--sc->waiting > 0)
        return;
    sl_sample_free(&sc->s); /* subject fields are arrays in the struct and stay */
    list_push(&sc->ing->finished, sc);
    touch(sc->ing);
}

static void on_judge(void *arg, const struct sl_llm_reply *reply)
{
    struct scored *sc = arg;
    struct sl_ingest *ing = sc->ing;
    struct sl_result r = {.scorer = "judge", .pass = -1, .grade = -1};
    struct sl_judge_grade g;
    char err[200], why[160];

    if (reply->status == SL_LLM_CANCELLED)
        goto out;
    if (reply->status == SL_LLM_OK && sl_judge_parse_grade(reply->content, &g, why, sizeof(why))) {
        snprintf(err, sizeof(err), "unparseable verdict: %s", why);
        r.error = err;
    } else if (reply->status == SL_LLM_OK) {
        r.pass = g.score >= ing->cfg->judge.pass_score;
        r.grade = (g.score - 1) / 4.0;
        r.reason = g.reason;
    } else {
        r.error = reply->error;
    }
    add_result(ing, sc, &r);
    if (r.pass < 0)
        ing->delta.judge_failures++;
    else
        ing->delta.judged++;
out:
    call_over(sc);
}

/* The shadow comparison's second step: the judge's verdict. */
static void on_compare(void *arg, const struct sl_llm_reply *reply)
{
    struct scored *sc = arg;
    struct sl_ingest *ing = sc->ing;
    struct sl_result r = {.scorer = "shadow", .pass = -1, .grade = -1};
    struct sl_judge_verdict v;
    char err[200], why[160];

    if (reply->status == SL_LLM_CANCELLED)
        goto out;
    r.premium_answer = sc->premium;
    if (reply->status == SL_LLM_OK &&
        sl_judge_parse_verdict(reply->content, &v, why, sizeof(why))) {
        snprintf(err, sizeof(err), "judge: unparseable verdict: %s", why);
        r.error = err;
    } else if (reply->status == SL_LLM_OK) {
        r.pass = v.verdict != SL_VERDICT_LOSS;
        r.verdict = sl_judge_verdict_name(v.verdict);
        r.reason = v.reason;
    } else {
        snprintf(err, sizeof(err), "judge: %s", reply->error);
        r.error = err;
    }
    add_result(ing, sc, &r);
    if (r.pass < 0)
        ing->delta.shadow_failures++;
    else
        ing->delta.shadowed++;
out:
    call_over(sc);
}

/* The shadow comparison's first step: the premium model's answer. On success the judge is
 * asked at once (ahead of the queue: the premium call is paid for already). */
static void on_premium(void *arg, const struct sl_llm_reply *reply)
{
    struct scored *sc = arg;
    struct sl_ingest *ing = sc->ing;
    const struct sl_evjudge *j = &ing->cfg->judge;
    struct sl_result r = {.scorer = "shadow", .pass = -1, .grade = -1};
    char err[200];
    int rc;

    if (reply->status == SL_LLM_CANCELLED)
        goto out;
    if (reply->status != SL_LLM_OK) {
        snprintf(err, sizeof(err), "premium call: %s", reply->error);
        r.error = err;
        add_result(ing, sc, &r);
        ing->delta.shadow_failures++;
        goto out;
    }
    if (!(sc->premium = strdup(reply->content)))
        goto oom;
    sl_buf_reset(&ing->body);
    rc = sl_judge_compare_body(&ing->body, j->model,
                               j->pairwise ? j->pairwise : sl_judge_pairwise_rubric, sc->question,
                               sc->s.answer ? sc->s.answer : "", sc->premium);
    if (rc)
        goto oom;
    rc = sl_llm_submit(ing->llm, ing->judge_url, j->endpoint.api_key, ing->body.data, ing->body.len,
                       true, on_compare, sc);
    if (rc == 0)
        return; /* the comparison goes on in on_compare */
    if (rc == SL_EINVAL)
        goto out; /* stopping */
oom:
    r.error = "out of memory";
    r.premium_answer = reply->content;
    add_result(ing, sc, &r);
    ing->delta.shadow_failures++;
out:
    call_over(sc);
}

/* Queues one call for sc; counts it when made, or as dropped. */
static void submit(struct sl_ingest *ing, struct scored *sc, const char *url, const char *api_key,
                   sl_llm_done_fn done)
{
    int rc = sl_llm_submit(ing->llm, url, api_key, ing->body.data, ing->body.len, false, done, sc);

    if (rc == 0)
        sc->waiting++;
    else
        ing->total.dropped++;
}

/* A committed sample's judge and shadow calls. */
static void dispatch(struct sl_ingest *ing, struct scored *sc)
{
    const struct sl_evconfig *cfg = ing->cfg;
    const struct sl_evjudge *j = &cfg->judge;
    struct sl_buf q;

    if (ing->stopping || !sc->todo)
        return;
    sl_buf_init(&q, BODY_MAX);
    if (sl_judge_question(sc->s.messages, &q) == SL_ENOMEM) {
        sl_buf_free(&q);
        ing->total.dropped++;
        return;
    }
    sc->question = sl_buf_take(&q, NULL); /* "" for messages without a user message */
    sl_buf_free(&q);
    if (!sc->question) {
        ing->total.dropped++;
        return;
    }
    if (sc->todo & SL_SCORER_JUDGE) {
        sl_buf_reset(&ing->body);
        if (sl_judge_grade_body(&ing->body, j->model, j->rubric ? j->rubric : sl_judge_rubric,
                                sc->question, sc->s.answer ? sc->s.answer : "") == 0)
            submit(ing, sc, ing->judge_url, j->endpoint.api_key, on_judge);
        else
            ing->total.dropped++;
    }
    if (sc->todo & SL_SCORER_SHADOW) {
        sl_buf_reset(&ing->body);
        if (sl_judge_shadow_body(&ing->body, sc->route->shadow_model, sc->s.messages) == 0)
            submit(ing, sc, ing->shadow_url, cfg->shadow.api_key, on_premium);
        else
            ing->total.dropped++;
    }
}

/* Reports a finished sample's outcome (see ingest.h) and frees it. */
static void finalize(struct sl_ingest *ing, struct scored *sc)
{
    struct sl_alert_subject subj = {sc->s.route, sc->s.tier, sc->s.model, sc->s.arm};

    if (ing->alerts && (sc->fails || sc->passes) &&
        sl_alerts_observe(ing->alerts, &subj, sc->fails ? 0.0 : 1.0, sl_clock_wall_ms()))
        sl_warn("an alert change could not be written to eval.db");
    scored_free(sc);
}

static void add_stats(struct sl_ingest_stats *to, const struct sl_ingest_stats *from)
{
    to->stored += from->stored;
    to->duplicates += from->duplicates;
    to->judged += from->judged;
    to->judge_failures += from->judge_failures;
    to->shadowed += from->shadowed;
    to->shadow_failures += from->shadow_failures;
}

/* Commits the open transaction; then starts the calls of the samples it stored and reports
 * the outcomes of the samples whose last results it held. */
static void commit(struct sl_ingest *ing)
{
    struct scored *sc;

    ing->dirty_since = 0;
    if (sl_store_commit(ing->store)) {
        sl_error("eval.db: commit failed, %zu samples and their results are lost: %s", ing->batch.n,
                 sl_store_error(ing->store));
        ing->total.store_errors += ing->batch.n;
        while ((sc = list_pop(&ing->batch)))
            scored_free(sc);
        while ((sc = list_pop(&ing->finished)))
            scored_free(sc);
        memset(&ing->delta, 0, sizeof(ing->delta));
        return;
    }
    add_stats(&ing->total, &ing->delta);
    memset(&ing->delta, 0, sizeof(ing->delta));
    while ((sc = list_pop(&ing->batch))) {
        dispatch(ing, sc);
        if (sc->waiting == 0)
            finalize(ing, sc);
    }
    /* no transaction is open here: alert rows written now commit on their own */
    while ((sc = list_pop(&ing->finished)))
        finalize(ing, sc);
}

/* Decodes, stores and rule-checks one message. */
static void take(struct sl_ingest *ing, zmq_msg_t *msg, bool more)
{
    const struct sl_evconfig *cfg = ing->cfg;
    struct scored *sc = NULL;
    enum sl_rule rule;
    unsigned scorers;
    char err[256];
    int64_t id;

    ing->total.received++;
    if (more)
        snprintf(err, sizeof(err), "a multipart message (a sample is one frame)");
    sc = calloc(1, sizeof(*sc));
    if (!sc) {
        ing->total.store_errors++;
        return;
    }
    if (more || sl_sample_decode(zmq_msg_data(msg), zmq_msg_size(msg), &sc->s, err, sizeof(err))) {
        const char *peer = zmq_msg_gets(msg, "Peer-Address");
        ing->total.invalid++;
        if (ing->logged_invalid++ < INVALID_LOGS)
            sl_warn("sample from %s: %s", peer && *peer ? peer : "a local peer", err);
        free(sc);
        return;
    }
    sc->ing = ing;
    if (sl_store_sample(ing->store, &sc->s, sl_clock_wall_ms(), &id)) {
        write_failed(ing, "a sample");
        scored_free(sc);
        return;
    }
    touch(ing);
    if (!id) {
        ing->delta.duplicates++;
        scored_free(sc);
        return;
    }
    sc->id = id;
    ing->delta.stored++;
    scorers = sl_evconfig_scorers(cfg, sc->s.route, &sc->route);
    rule = sl_rules_check(&sc->s);
    if (scorers & SL_SCORER_RULES) {
        struct sl_result r = {.scorer = "rules", .pass = rule == SL_RULE_PASS, .grade = -1};
        if (rule != SL_RULE_PASS)
            r.reason = sl_rules_name(rule);
        add_result(ing, sc, &r);
    }
    /* nothing to grade or compare without an answer */
    if (rule != SL_RULE_UPSTREAM_ERROR && rule != SL_RULE_EMPTY) {
        sc->todo = scorers & SL_SCORER_JUDGE;
        if ((scorers & SL_SCORER_SHADOW) && sc->route &&
            strcmp(sc->s.tier, sc->s.premium_tier) != 0 &&
            sl_rand_double(&ing->rand) < sc->route->shadow_rate)
            sc->todo |= SL_SCORER_SHADOW;
    }
    list_push(&ing->batch, sc);
}

/* Reads what the PULL socket holds, up to max messages; returns how many. */
static int drain(struct sl_ingest *ing, int max)
{
    zmq_msg_t msg;
    int n = 0;

    zmq_msg_init(&msg);
    while (n < max && zmq_msg_recv(&msg, ing->pull, ZMQ_DONTWAIT) >= 0) {
        int more = zmq_msg_more(&msg);
        n++;
        take(ing, &msg, more);
        /* the rest of a multipart message belongs to the one already counted */
        while (more && zmq_msg_recv(&msg, ing->pull, ZMQ_DONTWAIT) >= 0)
            more = zmq_msg_more(&msg);
        if (ing->batch.n >= BATCH_SAMPLES)
            commit(ing);
    }
    zmq_msg_close(&msg);
    return n;
}

static void log_stats(struct sl_ingest *ing, const char *when)
{
    const struct sl_ingest_stats *t = &ing->total;

    sl_info("%sreceived=%llu invalid=%llu stored=%llu duplicates=%llu judged=%llu "
            "judge_failures=%llu shadowed=%llu shadow_failures=%llu dropped=%llu "
            "store_errors=%llu judge_queue=%zu judge_in_flight=%zu",
            when, (unsigned long long)t->received, (unsigned long long)t->invalid,
            (unsigned long long)t->stored, (unsigned long long)t->duplicates,
            (unsigned long long)t->judged, (unsigned long long)t->judge_failures,
            (unsigned long long)t->shadowed, (unsigned long long)t->shadow_failures,
            (unsigned long long)t->dropped, (unsigned long long)t->store_errors,
            sl_llm_waiting(ing->llm), sl_llm_in_flight(ing->llm));
    if (ing->alerts) {
        struct sl_alerts_stats a;
        sl_alerts_stats(ing->alerts, &a);
        sl_info("%salerts open=%llu raised=%llu resolved=%llu publish_failures=%llu "
                "webhook_failures=%llu webhook_dropped=%llu db_errors=%llu",
                when, (unsigned long long)a.open, (unsigned long long)a.raised,
                (unsigned long long)a.resolved, (unsigned long long)a.publish_failures,
                (unsigned long long)a.webhook_failures, (unsigned long long)a.webhook_dropped,
                (unsigned long long)a.db_errors);
    }
}

/* The commit timer and the minute's log line. */
static void tick(struct sl_ingest *ing, uint64_t now)
{
    if (ing->dirty_since && (now - ing->dirty_since >= BATCH_US || ing->stopping))
        commit(ing);
    if (now - ing->last_stats_us >= STATS_US) {
        if (ing->logged_invalid > INVALID_LOGS)
            sl_warn("%d more invalid samples were not logged", ing->logged_invalid - INVALID_LOGS);
        if (ing->logged_errors > ERROR_LOGS)
            sl_error("%d more failed writes were not logged", ing->logged_errors - ERROR_LOGS);
        ing->logged_invalid = ing->logged_errors = 0;
        log_stats(ing, "");
        ing->last_stats_us = now;
    }
}

/* How long the loop may sleep. */
static int wait_ms(const struct sl_ingest *ing, uint64_t now)
{
    uint64_t left;

    if (!ing->dirty_since)
        return IDLE_WAIT_MS;
    left = ing->dirty_since + BATCH_US > now ? ing->dirty_since + BATCH_US - now : 0;
    return (int)((left + 999) / 1000);
}

static bool pull_ready(struct sl_ingest *ing)
{
    int events = 0;
    size_t len = sizeof(events);

    return zmq_getsockopt(ing->pull, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN);
}

struct sl_ingest *sl_ingest_create(const struct sl_evconfig *cfg, void *zmq_ctx,
                                   struct sl_store *store, struct sl_alerts *alerts, char *err,
                                   size_t errlen)
{
    struct sl_ingest *ing = calloc(1, sizeof(*ing));
    struct sl_llm_options lo = {.concurrency = cfg->judge.concurrency,
                                .timeout_ms = cfg->judge.timeout_ms,
                                .retries = cfg->judge.retries,
                                .max_queue = cfg->judge.max_queue};
    int hwm = RECV_HWM, zero = 0;
    int64_t max = MSG_MAX;

    if (!ing) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ing->cfg = cfg;
    ing->store = store;
    ing->alerts = alerts;
    sl_rand_seed_os(&ing->rand);
    sl_buf_init(&ing->body, BODY_MAX);
    ing->last_stats_us = sl_clock_mono_us();
    if ((cfg->judge.endpoint.base_url &&
         asprintf(&ing->judge_url, "%s/chat/completions", cfg->judge.endpoint.base_url) < 0) ||
        (cfg->shadow.base_url &&
         asprintf(&ing->shadow_url, "%s/chat/completions", cfg->shadow.base_url) < 0)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(ing->llm = sl_llm_create(&lo))) {
        snprintf(err, errlen, "cannot start curl's multi interface");
        goto fail;
    }
    ing->pull = zmq_socket(zmq_ctx, ZMQ_PULL);
    if (!ing->pull || zmq_setsockopt(ing->pull, ZMQ_RCVHWM, &hwm, sizeof(hwm)) ||
        zmq_setsockopt(ing->pull, ZMQ_MAXMSGSIZE, &max, sizeof(max)) ||
        zmq_setsockopt(ing->pull, ZMQ_LINGER, &zero, sizeof(zero))) {
        snprintf(err, errlen, "cannot create the PULL socket: %s", zmq_strerror(errno));
        goto fail;
    }
    for (char **e = cfg->listen; *e; e++) {
        if (zmq_bind(ing->pull, *e)) {
            snprintf(err, errlen, "%s: listen: %s: %s", cfg->path, *e, zmq_strerror(errno));
            goto fail;
        }
    }
    return ing;
fail:
    sl_ingest_destroy(ing);
    return NULL;
}

void sl_ingest_destroy(struct sl_ingest *ing)
{
    struct scored *sc;

    if (!ing)
        return;
    ing->stopping = true;
    sl_llm_destroy(ing->llm); /* cancelled calls move their samples to finished */
    while ((sc = list_pop(&ing->batch)))
        scored_free(sc);
    while ((sc = list_pop(&ing->finished)))
        scored_free(sc);
    if (ing->pull)
        zmq_close(ing->pull);
    sl_buf_free(&ing->body);
    free(ing->judge_url);
    free(ing->shadow_url);
    free(ing);
}

/* The end of run: read what is queued, let calls in flight finish, commit. */
static int stop(struct sl_ingest *ing)
{
    long grace =
        ing->cfg->judge.timeout_ms < STOP_GRACE_MS ? ing->cfg->judge.timeout_ms : STOP_GRACE_MS;
    uint64_t deadline;
    int rc = 0;

    ing->stopping = true;
    while (drain(ing, DRAIN_MAX) > 0)
        ;
    zmq_close(ing->pull);
    ing->pull = NULL;
    commit(ing); /* stopping: the new samples' calls are not made */
    if (sl_llm_waiting(ing->llm))
        sl_info("dropping %zu judge calls that had not started", sl_llm_waiting(ing->llm));
    sl_llm_stop(ing->llm);
    deadline = sl_clock_mono_us() + (uint64_t)grace * 1000;
    if (sl_llm_in_flight(ing->llm))
        sl_info("waiting up to %ld ms for %zu judge calls in flight", grace,
                sl_llm_in_flight(ing->llm));
    while (rc == 0 && sl_llm_in_flight(ing->llm) && sl_clock_mono_us() < deadline)
        rc = sl_llm_poll(ing->llm, NULL, 0, 50);
    commit(ing);
    log_stats(ing, "stopped: ");
    return rc;
}

int sl_ingest_run(struct sl_ingest *ing, int stop_fd)
{
    struct curl_waitfd fds[2];
    size_t len = sizeof(fds[0].fd);
    int rc = 0;

    if (zmq_getsockopt(ing->pull, ZMQ_FD, &fds[0].fd, &len)) {
        sl_error("cannot watch the PULL socket: %s", zmq_strerror(errno));
        return SL_EIO;
    }
    fds[1].fd = stop_fd;
    for (;;) {
        uint64_t now;
        int timeout;

        drain(ing, DRAIN_MAX);
        now = sl_clock_mono_us();
        tick(ing, now);
        /* ZMQ_FD is edge-like: wait only after ZMQ_EVENTS has said there is nothing to read */
        timeout = pull_ready(ing) ? 0 : wait_ms(ing, now);
        fds[0].events = fds[1].events = CURL_WAIT_POLLIN;
        fds[0].revents = fds[1].revents = 0;
        if ((rc = sl_llm_poll(ing->llm, fds, 2, timeout)))
            break;
        if (fds[1].revents)
            break;
    }
    return stop(ing) ? SL_EIO : rc;
}

void sl_ingest_stats(const struct sl_ingest *ing, struct sl_ingest_stats *out)
{
    *out = ing->total;
}
