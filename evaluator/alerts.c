/* Quality alerts: conditions -> drift detectors -> eval.db rows, ZeroMQ messages and
 * webhook posts, and their recovery after a restart. */
#include "alerts.h"

#define SL_LOG_MODULE "alerts"
#include "clock.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

/* Scored samples replayed at creation, newest first: enough for a busy condition's
 * reference (baseline_n + holdout) several times over, and read in well under a second. */
#define REPLAY_MAX 200000
/* The webhook: a timeout per attempt; attempts per message, the waits between them, and the
 * longest wait a 429's Retry-After may ask; the messages waiting (alerts are rare: a full queue
 * means a webhook down for long); how long destroy lets the queue drain; and how often a full
 * queue is logged. */
#define WEBHOOK_TIMEOUT_MS         2000L
#define WEBHOOK_ATTEMPTS           3
#define WEBHOOK_RETRY_AFTER_MAX_MS 30000L
#define WEBHOOK_QUEUE              1000
#define WEBHOOK_DRAIN_MS           5000
#define WEBHOOK_DROP_LOG_US        60000000ull
static const long webhook_backoff_ms[WEBHOOK_ATTEMPTS - 1] = {1000, 4000};
/* An open alert's row is brought up to date at most this often. */
#define UPDATE_EVERY_MS 1000

struct cond {
    struct cond *next; /* hash chain */
    char *key;
    char *route, *tier, *model, *arm; /* NULL when not part of the condition */
    struct sl_drift *drift;
    /* The open alert, when alert_id != 0. */
    int64_t alert_id;
    int64_t first_seen_ms, written_ms;
    const char *severity; /* the highest seen while open */
    cJSON *at_raise;      /* the evidence that raised it; NULL when unknown */
    /* Restart bookkeeping. */
    bool replay_opened; /* the replay saw the alert's period (raised, or opened by force) */
    int64_t replay_raised_ms;
};

struct sl_alerts {
    sqlite3 *db;
    void *pub;
    struct webhook *webhook; /* NULL without one */
    struct sl_drift_config cfg;
    struct cond **slots; /* chained hash table, a power-of-two size */
    size_t n_slots, n_conds;
    sqlite3_stmt *insert, *update, *resolve;
    bool replaying;
    struct sl_alerts_stats st;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort(); /* small internal allocation */
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = s ? strdup(s) : NULL;
    if (s && !p)
        abort();
    return p;
}

static bool present(const char *s)
{
    return s && *s;
}

/* --- conditions ---------------------------------------------------------------------- */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct cond *find(const struct sl_alerts *a, const char *key)
{
    if (!a->n_slots)
        return NULL;
    for (struct cond *c = a->slots[hash(key) & (a->n_slots - 1)]; c; c = c->next)
        if (strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

static void grow(struct sl_alerts *a)
{
    size_t n = a->n_slots ? a->n_slots * 2 : 64;
    struct cond **slots = xcalloc(n, sizeof(*slots));

    for (size_t i = 0; i < a->n_slots; i++) {
        for (struct cond *c = a->slots[i], *next; c; c = next) {
            size_t j = hash(c->key) & (n - 1);
            next = c->next;
            c->next = slots[j];
            slots[j] = c;
        }
    }
    free(a->slots);
    a->slots = slots;
    a->n_slots = n;
}

/* The condition called key, created with the given subject fields when new; NULL when its
 * detector cannot be created. */
static struct cond *get(struct sl_alerts *a, const char *key, const char *route, const char *tier,
                        const char *model, const char *arm)
{
    struct cond *c = find(a, key);
    size_t i;

    if (c)
        return c;
    c = xcalloc(1, sizeof(*c));
    c->drift = sl_drift_create(&a->cfg);
    if (!c->drift) {
        free(c);
        return NULL;
    }
    c->key = xstrdup(key);
    c->route = present(route) ? xstrdup(route) : NULL;
    c->tier = present(tier) ? xstrdup(tier) : NULL;
    c->model = present(model) ? xstrdup(model) : NULL;
    c->arm = present(arm) ? xstrdup(arm) : NULL;
    c->severity = "warning";
    if (a->n_conds + 1 > a->n_slots)
        grow(a);
    i = hash(key) & (a->n_slots - 1);
    c->next = a->slots[i];
    a->slots[i] = c;
    a->n_conds++;
    return c;
}

static void cond_destroy(struct cond *c)
{
    sl_drift_destroy(c->drift);
    cJSON_Delete(c->at_raise);
    free(c->key);
    free(c->route);
    free(c->tier);
    free(c->model);
    free(c->arm);
    free(c);
}

/* --- rows and messages --------------------------------------------------------------- */

static void add_number(cJSON *o, const char *name, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static void add_string(cJSON *o, const char *name, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static cJSON *evidence_json(const struct sl_drift_evidence *ev)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "baseline_n", (double)ev->baseline_n);
    add_number(o, "baseline_mean", ev->baseline_mean);
    cJSON_AddNumberToObject(o, "window_n", ev->window_n);
    add_number(o, "window_mean", ev->window_mean);
    add_number(o, "statistic", ev->statistic);
    add_number(o, "p_value", ev->p_value);
    add_number(o, "threshold", ev->threshold);
    cJSON_AddNumberToObject(o, "samples", (double)ev->samples);
    return o;
}

/* The stored evidence: the current state, and the state that raised the alert. */
static char *evidence_text(const struct cond *c, const struct sl_drift_evidence *ev)
{
    cJSON *o = evidence_json(ev);
    char *text;

    if (c->at_raise)
        cJSON_AddItemToObject(o, "at_raise", cJSON_Duplicate(c->at_raise, true));
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        abort();
    return text;
}

/* The alert row as JSON, as published. */
static cJSON *row_json(const struct cond *c, const char *state, const char *detector,
                       int64_t last_seen_ms, int64_t resolved_ms, const char *evidence)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddNumberToObject(o, "id", (double)c->alert_id);
    cJSON_AddStringToObject(o, "key", c->key);
    add_string(o, "route", c->route);
    add_string(o, "tier", c->tier);
    add_string(o, "model", c->model);
    add_string(o, "arm", c->arm);
    cJSON_AddStringToObject(o, "metric", "pass_rate");
    cJSON_AddStringToObject(o, "detector", detector);
    cJSON_AddStringToObject(o, "severity", c->severity);
    cJSON_AddStringToObject(o, "state", state);
    cJSON_AddNumberToObject(o, "first_seen_ms", (double)c->first_seen_ms);
    cJSON_AddNumberToObject(o, "last_seen_ms", (double)last_seen_ms);
    if (resolved_ms)
        cJSON_AddNumberToObject(o, "resolved_ms", (double)resolved_ms);
    else
        cJSON_AddNullToObject(o, "resolved_ms");
    cJSON_AddItemToObject(o, "evidence", cJSON_Parse(evidence));
    return o;
}

static void publish(struct sl_alerts *a, const char *topic, const cJSON *row)
{
    char *text;

    if (!a->pub)
        return;
    text = cJSON_PrintUnformatted(row);
    if (!text)
        abort();
    /* PUB never blocks: at its high-water mark it drops, and then so do we. */
    if (zmq_send(a->pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(a->pub, text, strlen(text), ZMQ_DONTWAIT) < 0) {
        a->st.publish_failures++;
        sl_warn("cannot publish %s: %s", topic, zmq_strerror(errno));
    }
    free(text);
}

/* --- the webhook ----------------------------------------------------------------------
 * Posts leave the ingest path: post_webhook only queues the body, and a thread of its own
 * delivers the queue in order, each message with a few attempts, so that a slow or hanging
 * webhook never holds up the detectors. */

struct webhook {
    char *url;
    CURL *curl; /* the thread's alone once it runs */
    struct curl_slist *headers;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* a message queued, or destroy called */
    /* Under mu. */
    char *queue[WEBHOOK_QUEUE]; /* bodies, a ring from head */
    size_t head, n;
    bool stopping;
    uint64_t give_up_us; /* when stopping: what is not delivered by then is dropped */
    uint64_t failures, dropped;
    /* The main thread's alone: the once-a-minute log line of a full queue. */
    uint64_t dropped_logged, drop_log_us;
};

static size_t discard(char *ptr, size_t size, size_t n, void *user)
{
    return size * n;
}

static struct timespec mono_timespec(uint64_t us)
{
    return (struct timespec){.tv_sec = (time_t)(us / 1000000),
                             .tv_nsec = (long)(us % 1000000) * 1000};
}

/* Waits ms before the next attempt, cut short at the shutdown deadline (a wake-up by a new
 * message or by destroy only recomputes it). False when that deadline has come: give up. */
static bool webhook_wait(struct webhook *w, long ms)
{
    uint64_t due = sl_clock_mono_us() + (uint64_t)ms * 1000, until, now;
    struct timespec at;
    bool go_on;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        now = sl_clock_mono_us();
        until = w->stopping && w->give_up_us < due ? w->give_up_us : due;
        if (now >= until)
            break;
        at = mono_timespec(until);
        pthread_cond_timedwait(&w->wake, &w->mu, &at);
    }
    go_on = !w->stopping || now < w->give_up_us;
    pthread_mutex_unlock(&w->mu);
    return go_on;
}

/* The time an attempt may take: the usual timeout, or less once destroy has set a deadline;
 * 0 when that deadline has come. */
static long webhook_budget_ms(struct webhook *w)
{
    long ms = WEBHOOK_TIMEOUT_MS;
    uint64_t now;

    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        now = sl_clock_mono_us();
        if (now >= w->give_up_us)
            ms = 0;
        else if ((w->give_up_us - now + 999) / 1000 < (uint64_t)ms)
            ms = (long)((w->give_up_us - now + 999) / 1000);
    }
    pthread_mutex_unlock(&w->mu);
    return ms;
}

enum delivery { DELIVERED, FAILED, GAVE_UP };

/* Posts body, retrying a connection error, a timeout, a 5xx, 408 or 429 after the backoff (or a
 * 429's Retry-After, capped). GAVE_UP when the shutdown deadline came first. */
static enum delivery webhook_deliver(struct webhook *w, const char *body)
{
    char why[CURL_ERROR_SIZE + 32] = "";
    curl_off_t retry_after;
    long status, budget, wait_ms;
    CURLcode rc;

    curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
    for (int attempt = 1;; attempt++) {
        if (!(budget = webhook_budget_ms(w)))
            return GAVE_UP;
        curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, budget);
        curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT_MS, budget);
        status = 0;
        retry_after = 0;
        rc = curl_easy_perform(w->curl);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
            if (status >= 200 && status <= 299)
                return DELIVERED;
            if (status == 429)
                curl_easy_getinfo(w->curl, CURLINFO_RETRY_AFTER, &retry_after);
            snprintf(why, sizeof(why), "HTTP status %ld", status);
        } else {
            snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
        }
        /* A 4xx other than a timeout or a rate limit says the post itself is refused (a wrong
         * URL or token): the same post will not do better. */
        if (attempt == WEBHOOK_ATTEMPTS ||
            (status >= 400 && status <= 499 && status != 408 && status != 429))
            break;
        wait_ms = webhook_backoff_ms[attempt - 1];
        if (retry_after > 0) { /* a 429's Retry-After, in seconds, when longer */
            long asked = retry_after >= WEBHOOK_RETRY_AFTER_MAX_MS / 1000
                             ? WEBHOOK_RETRY_AFTER_MAX_MS
                             : (long)retry_after * 1000;
            if (asked > wait_ms)
                wait_ms = asked;
        }
        /* the URL may carry a secret token (Slack's do): never logged */
        sl_debug("webhook post failed (%s): attempt %d of %d, next in %ld ms", why, attempt,
                 WEBHOOK_ATTEMPTS, wait_ms);
        if (!webhook_wait(w, wait_ms))
            return GAVE_UP;
    }
    pthread_mutex_lock(&w->mu);
    w->failures++;
    pthread_mutex_unlock(&w->mu);
    sl_warn("webhook post failed after %d attempts: %s", WEBHOOK_ATTEMPTS, why);
    return FAILED;
}

static void *webhook_run(void *arg)
{
    struct webhook *w = arg;
    char *body;
    size_t lost = 0;

    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->n && !w->stopping)
            pthread_cond_wait(&w->wake, &w->mu);
        if (!w->n) { /* stopping, and everything is delivered */
            pthread_mutex_unlock(&w->mu);
            break;
        }
        body = w->queue[w->head];
        w->queue[w->head] = NULL;
        w->head = (w->head + 1) % WEBHOOK_QUEUE;
        w->n--;
        pthread_mutex_unlock(&w->mu);
        if (webhook_deliver(w, body) == GAVE_UP) {
            free(body);
            /* No message comes once destroy is called: what is queued is all. */
            pthread_mutex_lock(&w->mu);
            lost = w->n + 1;
            for (; w->n; w->n--, w->head = (w->head + 1) % WEBHOOK_QUEUE) {
                free(w->queue[w->head]);
                w->queue[w->head] = NULL;
            }
            pthread_mutex_unlock(&w->mu);
            sl_warn("webhook: %zu messages not delivered within %d s of the stop: dropped", lost,
                    WEBHOOK_DRAIN_MS / 1000);
            break;
        }
        free(body);
    }
    return NULL;
}

static void webhook_destroy(struct webhook *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stopping = true;
        w->give_up_us = sl_clock_mono_us() + (uint64_t)WEBHOOK_DRAIN_MS * 1000;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    for (; w->n; w->n--, w->head = (w->head + 1) % WEBHOOK_QUEUE)
        free(w->queue[w->head]); /* none, unless the thread never started */
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
    curl_easy_cleanup(w->curl);
    curl_slist_free_all(w->headers);
    free(w->url);
    free(w);
}

/* Returns NULL with "what is wrong" in err when the curl handle or the thread cannot be
 * created. */
static struct webhook *webhook_create(const char *url, char *err, size_t errlen)
{
    struct webhook *w = xcalloc(1, sizeof(*w));
    pthread_condattr_t ca;
    int e;

    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* sl_clock_mono_us's clock */
    pthread_cond_init(&w->wake, &ca);
    pthread_condattr_destroy(&ca);
    w->url = xstrdup(url);
    w->curl = curl_easy_init();
    w->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!w->curl || !w->headers) {
        snprintf(err, errlen, "webhook: cannot create a curl handle");
        goto fail;
    }
    curl_easy_setopt(w->curl, CURLOPT_URL, w->url);
    curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->headers);
    curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    e = pthread_create(&w->thread, NULL, webhook_run, w);
    if (e) {
        snprintf(err, errlen, "webhook: cannot start its thread: %s", strerror(e));
        goto fail;
    }
    w->started = true;
    return w;
fail:
    webhook_destroy(w);
    return NULL;
}

/* Queues text for the webhook thread; never waits. A full queue drops the new message. */
static void post_webhook(struct sl_alerts *a, const char *text)
{
    struct webhook *w = a->webhook;
    cJSON *o;
    char *body;
    uint64_t dropped = 0, now;

    if (!w)
        return;
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", text);
    body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!body)
        abort();
    pthread_mutex_lock(&w->mu);
    if (w->n < WEBHOOK_QUEUE) {
        w->queue[(w->head + w->n) % WEBHOOK_QUEUE] = body;
        w->n++;
        body = NULL;
        pthread_cond_signal(&w->wake);
    } else {
        dropped = ++w->dropped;
    }
    pthread_mutex_unlock(&w->mu);
    if (body) {
        free(body);
        now = sl_clock_mono_us();
        if (!w->drop_log_us || now - w->drop_log_us >= WEBHOOK_DROP_LOG_US) {
            sl_warn("webhook queue full (%d messages): %llu dropped since the last report",
                    WEBHOOK_QUEUE, (unsigned long long)(dropped - w->dropped_logged));
            w->dropped_logged = dropped;
            w->drop_log_us = now;
        }
    }
}

static const char *pct(double v, char *buf, size_t len)
{
    if (isfinite(v))
        snprintf(buf, len, "%.1f%%", 100 * v);
    else
        snprintf(buf, len, "n/a");
    return buf;
}

static void notify_raised(struct sl_alerts *a, const struct cond *c,
                          const struct sl_drift_evidence *ev)
{
    char text[768], w[16], b[16];

    snprintf(text, sizeof(text),
             "Sluice quality alert (%s): %s pass rate %s over the last %d samples, against %s"
             " normally (%ld samples); detector %s, statistic %.3g, threshold %.3g.",
             c->severity, c->key, pct(ev->window_mean, w, sizeof(w)), ev->window_n,
             pct(ev->baseline_mean, b, sizeof(b)), ev->baseline_n, ev->detector, ev->statistic,
             ev->threshold);
    post_webhook(a, text);
}

static void notify_resolved(struct sl_alerts *a, const struct cond *c,
                            const struct sl_drift_evidence *ev)
{
    char text[768], w[16], b[16];

    snprintf(text, sizeof(text),
             "Sluice quality alert resolved: %s pass rate %s over the last %d samples, against"
             " %s normally.",
             c->key, pct(ev->window_mean, w, sizeof(w)), ev->window_n,
             pct(ev->baseline_mean, b, sizeof(b)));
    post_webhook(a, text);
}

static int bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int step_done(struct sl_alerts *a, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc == SQLITE_DONE)
        return 0;
    a->st.db_errors++;
    sl_error("eval.db: cannot write an alert: %s", sqlite3_errmsg(a->db));
    return SL_EIO;
}

/* The higher of two severities, as one of the two static strings. */
static const char *worse(const char *s1, const char *s2)
{
    return strcmp(s1, "critical") == 0 || strcmp(s2, "critical") == 0 ? "critical" : "warning";
}

/* Inserts the open row for c's alert, raised at first_seen_ms, and announces it. */
static int raise_alert(struct sl_alerts *a, struct cond *c, const struct sl_drift_evidence *ev,
                       int64_t first_seen_ms, int64_t now_ms)
{
    sqlite3_stmt *st = a->insert;
    char *evidence = NULL;
    cJSON *row = NULL;
    int rc;

    c->severity = ev->severity;
    c->first_seen_ms = first_seen_ms;
    cJSON_Delete(c->at_raise);
    c->at_raise = evidence_json(ev);
    evidence = evidence_text(c, ev);
    bind_opt(st, 1, c->key);
    bind_opt(st, 2, c->route);
    bind_opt(st, 3, c->tier);
    bind_opt(st, 4, c->model);
    bind_opt(st, 5, c->arm);
    bind_opt(st, 6, ev->detector);
    bind_opt(st, 7, c->severity);
    sqlite3_bind_int64(st, 8, first_seen_ms);
    sqlite3_bind_int64(st, 9, now_ms);
    bind_opt(st, 10, evidence);
    rc = step_done(a, st);
    c->written_ms = now_ms;
    if (rc)
        goto out; /* tried again while the detector stays open, once a second */
    c->alert_id = sqlite3_last_insert_rowid(a->db);
    a->st.raised++;
    a->st.open++;
    sl_warn("alert %lld raised: %s (%s, %s): window %.3f (%d) against %.3f (%ld)",
            (long long)c->alert_id, c->key, ev->detector, c->severity, ev->window_mean,
            ev->window_n, ev->baseline_mean, ev->baseline_n);
    row = row_json(c, "open", ev->detector, now_ms, 0, evidence);
    publish(a, "alert.raised", row);
    notify_raised(a, c, ev);
out:
    cJSON_Delete(row);
    free(evidence);
    return rc;
}

static int update_alert(struct sl_alerts *a, struct cond *c, const struct sl_drift_evidence *ev,
                        int64_t now_ms)
{
    sqlite3_stmt *st = a->update;
    char *evidence;
    int rc;

    c->severity = worse(c->severity, ev->severity);
    evidence = evidence_text(c, ev);
    sqlite3_bind_int64(st, 1, now_ms);
    bind_opt(st, 2, c->severity);
    bind_opt(st, 3, evidence);
    sqlite3_bind_int64(st, 4, c->alert_id);
    rc = step_done(a, st);
    if (rc == 0)
        c->written_ms = now_ms;
    free(evidence);
    return rc;
}

static int resolve_alert(struct sl_alerts *a, struct cond *c, const struct sl_drift_evidence *ev,
                         int64_t now_ms)
{
    sqlite3_stmt *st = a->resolve;
    char *evidence = evidence_text(c, ev);
    cJSON *row = NULL;
    int rc;

    sqlite3_bind_int64(st, 1, now_ms);
    bind_opt(st, 2, evidence);
    sqlite3_bind_int64(st, 3, c->alert_id);
    rc = step_done(a, st);
    if (rc)
        goto out; /* stays open in eval.db; resolved in memory all the same */
    sl_info("alert %lld resolved: %s: window %.3f (%d) against %.3f (%ld)", (long long)c->alert_id,
            c->key, ev->window_mean, ev->window_n, ev->baseline_mean, ev->baseline_n);
    a->st.resolved++;
    row = row_json(c, "resolved", ev->detector, now_ms, now_ms, evidence);
    publish(a, "alert.resolved", row);
    notify_resolved(a, c, ev);
out:
    a->st.open--;
    c->alert_id = 0;
    cJSON_Delete(c->at_raise);
    c->at_raise = NULL;
    cJSON_Delete(row);
    free(evidence);
    return rc;
}

/* --- observing ----------------------------------------------------------------------- */

static int observe_one(struct sl_alerts *a, struct cond *c, double outcome, int64_t now_ms)
{
    struct sl_drift_evidence ev;
    enum sl_drift_event e;

    if (a->replaying && c->alert_id && !c->replay_opened && now_ms >= c->first_seen_ms) {
        /* The alert still open in eval.db began here: if the replay has not found the drop
         * by now, its reference ends here all the same. */
        sl_drift_force_open(c->drift, "cusum");
        c->replay_opened = true;
    }
    e = sl_drift_add(c->drift, outcome, &ev);
    if (a->replaying) {
        if (e == SL_DRIFT_RAISED)
            c->replay_raised_ms = now_ms;
        return 0;
    }
    switch (e) {
    case SL_DRIFT_RAISED:
        if (c->alert_id)
            return update_alert(a, c, &ev, now_ms); /* open already (a restart) */
        return raise_alert(a, c, &ev, now_ms, now_ms);
    case SL_DRIFT_ONGOING:
        if (!c->alert_id) /* the insert failed */
            return now_ms - c->written_ms >= UPDATE_EVERY_MS
                       ? raise_alert(a, c, &ev, c->first_seen_ms, now_ms)
                       : 0;
        if (now_ms - c->written_ms >= UPDATE_EVERY_MS ||
            strcmp(worse(c->severity, ev.severity), c->severity) != 0)
            return update_alert(a, c, &ev, now_ms);
        return 0;
    case SL_DRIFT_CLEARED:
        return c->alert_id ? resolve_alert(a, c, &ev, now_ms) : 0;
    default:
        return 0;
    }
}

static int observe(struct sl_alerts *a, const struct sl_alert_subject *s, double outcome,
                   int64_t now_ms)
{
    char key[512];
    int rc = 0, n;
    struct cond *c;

    for (int i = 0; i < 4; i++) {
        const char *route = NULL, *tier = NULL, *model = NULL, *arm = NULL;
        switch (i) {
        case 0:
            if (!present(s->route) || !present(s->tier))
                continue;
            n = snprintf(key, sizeof(key), "tier=%s/%s", s->route, s->tier);
            route = s->route;
            tier = s->tier;
            break;
        case 1:
            if (!present(s->route))
                continue;
            n = snprintf(key, sizeof(key), "route=%s", s->route);
            route = s->route;
            break;
        case 2:
            if (!present(s->model))
                continue;
            n = snprintf(key, sizeof(key), "model=%s", s->model);
            model = s->model;
            break;
        default:
            if (!present(s->route) || !present(s->arm))
                continue;
            n = snprintf(key, sizeof(key), "arm=%s/%s", s->route, s->arm);
            route = s->route;
            arm = s->arm;
            break;
        }
        if (n < 0 || (size_t)n >= sizeof(key))
            continue; /* names are at most 64 characters: not a real condition */
        c = get(a, key, route, tier, model, arm);
        if (c && observe_one(a, c, outcome, now_ms))
            rc = SL_EIO;
    }
    return rc;
}

int sl_alerts_observe(struct sl_alerts *a, const struct sl_alert_subject *s, double outcome,
                      int64_t now_ms)
{
    return observe(a, s, outcome, now_ms);
}

/* --- restart ------------------------------------------------------------------------- */

static const char *column_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Keeps the raising evidence of a stored alert, so that updates after a restart keep it. */
static void keep_at_raise(struct cond *c, const char *evidence)
{
    cJSON *o = evidence ? cJSON_Parse(evidence) : NULL;
    cJSON *at = cJSON_DetachItemFromObject(o, "at_raise");

    c->at_raise = cJSON_IsObject(at) ? at : NULL;
    if (!c->at_raise)
        cJSON_Delete(at);
    cJSON_Delete(o);
}

static int load_open(struct sl_alerts *a, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = SL_EIO, step;

    if (sqlite3_prepare_v2(a->db,
                           "SELECT id, key, route, tier, model, arm, severity, first_seen_ms,"
                           " last_seen_ms, evidence FROM alerts WHERE state = 'open' ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct cond *c = get(a, column_text(st, 1), column_text(st, 2), column_text(st, 3),
                             column_text(st, 4), column_text(st, 5));
        if (!c)
            goto out;
        if (c->alert_id) {
            sl_warn("alert %lld: %s has an older open alert (%lld): this one is ignored",
                    (long long)sqlite3_column_int64(st, 0), c->key, (long long)c->alert_id);
            continue;
        }
        c->alert_id = sqlite3_column_int64(st, 0);
        c->severity = worse("warning", column_text(st, 6) ? column_text(st, 6) : "warning");
        c->first_seen_ms = sqlite3_column_int64(st, 7);
        c->written_ms = sqlite3_column_int64(st, 8);
        keep_at_raise(c, column_text(st, 9));
        a->st.open++;
    }
    if (step != SQLITE_DONE)
        goto out;
    rc = 0;
out:
    if (rc)
        snprintf(err, errlen, "eval.db: cannot read the open alerts: %s", sqlite3_errmsg(a->db));
    sqlite3_finalize(st);
    return rc;
}

static int replay(struct sl_alerts *a, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = SL_EIO, step;

    /* A sample's outcome: 0 when a scorer failed it, 1 when the others passed it; scorers
     * that themselves failed (pass NULL) do not count. */
    if (sqlite3_prepare_v2(a->db,
                           "SELECT s.received_ms, s.route, s.tier, s.model, s.arm, MIN(r.pass)"
                           " FROM samples s JOIN results r ON r.sample_id = s.id"
                           " WHERE s.id > (SELECT COALESCE(MAX(id), 0) FROM samples) - ?"
                           " AND r.pass IS NOT NULL GROUP BY s.id ORDER BY s.id",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int(st, 1, REPLAY_MAX);
    a->replaying = true;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct sl_alert_subject s = {column_text(st, 1), column_text(st, 2), column_text(st, 3),
                                     column_text(st, 4)};
        (void)observe(a, &s, sqlite3_column_int(st, 5) ? 1.0 : 0.0, sqlite3_column_int64(st, 0));
        a->st.replayed++;
    }
    a->replaying = false;
    if (step != SQLITE_DONE)
        goto out;
    rc = 0;
out:
    if (rc)
        snprintf(err, errlen, "eval.db: cannot replay the recent outcomes: %s",
                 sqlite3_errmsg(a->db));
    sqlite3_finalize(st);
    return rc;
}

/* After the replay, eval.db and the detectors agree: an alert the replay saw recover is
 * resolved, one it could not see is kept open, and a drop without an open row is raised. */
static void reconcile(struct sl_alerts *a, int64_t now_ms)
{
    struct sl_drift_evidence ev;

    for (size_t i = 0; i < a->n_slots; i++) {
        for (struct cond *c = a->slots[i]; c; c = c->next) {
            bool open = sl_drift_is_open(c->drift);
            if (c->alert_id && !open && c->replay_opened) {
                sl_drift_evidence(c->drift, &ev);
                ev.detector = "cusum";
                (void)resolve_alert(a, c, &ev, now_ms);
            } else if (c->alert_id && !open) {
                sl_drift_force_open(c->drift, "cusum");
            } else if (!c->alert_id && open) {
                sl_drift_evidence(c->drift, &ev);
                (void)raise_alert(a, c, &ev, c->replay_raised_ms, now_ms);
            }
            c->replay_opened = false;
        }
    }
}

/* --- lifecycle ----------------------------------------------------------------------- */

struct sl_alerts *sl_alerts_create(sqlite3 *db, void *zmq_pub, const char *webhook_url,
                                   const struct sl_drift_config *cfg, char *err, size_t errlen)
{
    struct sl_alerts *a = xcalloc(1, sizeof(*a));
    int64_t now_ms = sl_clock_wall_ms();

    a->db = db;
    a->pub = zmq_pub;
    if (cfg)
        a->cfg = *cfg;
    else
        sl_drift_config_default(&a->cfg);
    if (sl_drift_config_check(&a->cfg, err, errlen))
        goto fail;
    /* Before the replay: reconcile may raise alerts, and their posts are queued. */
    if (present(webhook_url) && !(a->webhook = webhook_create(webhook_url, err, errlen)))
        goto fail;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO alerts(key, route, tier, model, arm, metric, detector,"
                           " severity, state, first_seen_ms, last_seen_ms, evidence)"
                           " VALUES (?, ?, ?, ?, ?, 'pass_rate', ?, ?, 'open', ?, ?, ?)",
                           -1, &a->insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "UPDATE alerts SET last_seen_ms = ?, severity = ?, evidence = ?"
                           " WHERE id = ?",
                           -1, &a->update, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "UPDATE alerts SET state = 'resolved', last_seen_ms = ?1,"
                           " resolved_ms = ?1, evidence = ?2 WHERE id = ?3",
                           -1, &a->resolve, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "eval.db: %s", sqlite3_errmsg(db));
        goto fail;
    }
    if (load_open(a, err, errlen) || replay(a, err, errlen))
        goto fail;
    reconcile(a, now_ms);
    sl_info("%zu conditions, %llu open alerts, %llu outcomes replayed", a->n_conds,
            (unsigned long long)a->st.open, (unsigned long long)a->st.replayed);
    return a;
fail:
    sl_alerts_destroy(a);
    return NULL;
}

void sl_alerts_destroy(struct sl_alerts *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_slots; i++) {
        for (struct cond *c = a->slots[i], *next; c; c = next) {
            next = c->next;
            cond_destroy(c);
        }
    }
    free(a->slots);
    sqlite3_finalize(a->insert);
    sqlite3_finalize(a->update);
    sqlite3_finalize(a->resolve);
    webhook_destroy(a->webhook);
    free(a);
}

void sl_alerts_stats(const struct sl_alerts *a, struct sl_alerts_stats *out)
{
    struct webhook *w = a->webhook;

    *out = a->st;
    out->conditions = a->n_conds;
    if (w) {
        pthread_mutex_lock(&w->mu);
        out->webhook_failures = w->failures;
        out->webhook_dropped = w->dropped;
        pthread_mutex_unlock(&w->mu);
    }
}
