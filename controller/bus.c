/* The bus thread: clone-pattern distribution of versions, proxy reports and alerts. */
#include "bus.h"
#include "policy.h"

#define SL_LOG_MODULE "bus"
#include "clock.h"
#include "clone.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_PROXIES 1024        /* reporting proxies remembered; the longest silent goes first */
#define MAX_HISTORY 1000        /* versions remembered per proxy, for propagation times */
#define MAX_ID      128         /* a proxy's id, bytes */
#define MAX_ERROR   512         /* a proxy's error, bytes kept */
#define DRAIN_MAX   100         /* messages read from one socket per loop pass */
#define BAD_LOGS    10          /* malformed messages logged per minute, at most */
#define MINUTE_US   60000000ull /* the bad-message log window */
#define SNDHWM      1000        /* messages queued per peer before PUB or ROUTER drops */
#define MAX_LEDGER  600         /* a ledger's id (host:data_dir), bytes */
#define REPORT_MAX  (1 << 20)   /* ZMQ_MAXMSGSIZE of the report and alert sockets */
#define REQUEST_MAX 4096        /* ... and of the snapshot socket */

/* One key of the clone state. */
struct entry {
    char key[SL_CLONE_MAX_KEY];
    uint64_t seq;
    char *body;
    size_t len;
};

/* When a proxy reported applying a version. */
struct applied {
    int64_t version, applied_us;
};

struct proxy {
    char id[MAX_ID + 1];
    int64_t version, applied_us, last_seen_us;
    char *error;          /* NULL: none */
    struct applied *hist; /* a ring of MAX_HISTORY, allocated as it fills */
    size_t n_hist, head;  /* head: the slot the next one goes to once full */
};

/* What one ledger (a proxy's audit log, which outlives the proxy's port) last reported
 * spending: {"TEAM": {"since": S, "usd": X}}. */
struct ledger {
    char id[MAX_LEDGER + 1];
    cJSON *spend;
    int64_t last_us;
    bool dirty; /* spend differs from control.db's row */
};

struct sl_bus {
    const struct sl_ctrlconf *cfg;
    struct sl_versions *vs;
    void *ctx;
    void *router, *pub, *pull, *sub;
    void *wake_rx; /* the bus thread's end */
    void *wake_tx; /* any thread's end, under wake_mu */
    pthread_mutex_t wake_mu;
    pthread_t thread;
    bool started;

    /* the clone state; the bus thread's alone once started */
    uint64_t seq;
    int64_t version;       /* the version the state holds */
    struct entry *entries; /* classifiers first, then "config" */
    size_t n_entries;

    int bad_logged; /* malformed messages in the current minute */
    uint64_t bad_window_us;

    pthread_mutex_t mu; /* guards proxies and ledgers: the HTTP thread reads them */
    struct proxy *proxies;
    size_t n_proxies, cap_proxies;
    struct ledger *ledgers;
    size_t n_ledgers, cap_ledgers;
};

/* Logs a dropped message unless BAD_LOGS were this minute. */
__attribute__((format(printf, 2, 3))) static void bad(struct sl_bus *b, const char *fmt, ...)
{
    uint64_t now = sl_clock_mono_us();
    char line[512];
    va_list ap;

    if (now - b->bad_window_us >= MINUTE_US) {
        if (b->bad_logged > BAD_LOGS)
            sl_warn("%d more malformed messages were dropped without a log line",
                    b->bad_logged - BAD_LOGS);
        b->bad_logged = 0;
        b->bad_window_us = now;
    }
    if (b->bad_logged++ >= BAD_LOGS)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sl_warn("dropped: %s", line);
}

/* Reads one whole message of at most max frames into f (the caller closes them all). Returns
 * the number of frames, 0 when nothing is waiting, or -1 for a message with more than max
 * frames (its frames are all read and closed) or a socket error. */
static int recv_frames(void *sock, zmq_msg_t *f, int max)
{
    int n = 0, more = 1;

    while (more) {
        zmq_msg_t extra;
        zmq_msg_t *m = n < max ? &f[n] : &extra;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m);
            for (int i = 0; i < n && i < max; i++)
                zmq_msg_close(&f[i]);
            return n == 0 && errno == EAGAIN ? 0 : -1;
        }
        more = zmq_msg_more(m);
        if (m == &extra)
            zmq_msg_close(m);
        n++;
    }
    if (n > max) {
        for (int i = 0; i < max; i++)
            zmq_msg_close(&f[i]);
        return -1;
    }
    return n;
}

static void close_frames(zmq_msg_t *f, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static bool frame_is(zmq_msg_t *f, const char *s)
{
    return zmq_msg_size(f) == strlen(s) && memcmp(zmq_msg_data(f), s, strlen(s)) == 0;
}

/* ---- the clone state ---- */

static struct entry *find_entry(struct sl_bus *b, const char *key)
{
    for (size_t i = 0; i < b->n_entries; i++)
        if (b->entries[i].body && strcmp(b->entries[i].key, key) == 0)
            return &b->entries[i];
    return NULL;
}

static void send_update(struct sl_bus *b, const struct entry *e)
{
    /* PUB never blocks: a subscriber past its high-water mark loses the message, sees the
     * sequence jump at the next one or at a HUGZ, and asks for a snapshot */
    if (sl_clone_send(b->pub, e->key, e->seq, e->body, e->len, ZMQ_DONTWAIT))
        sl_warn("cannot publish %s: %s", e->key, zmq_strerror(errno));
}

/* Brings the clone state to the current version, publishing what changed when publish. The
 * classifiers the state already holds are not sent again; one that a later version names again
 * after a version without it is, so that a proxy that joined in between gets it. */
static void refresh(struct sl_bus *b, bool publish)
{
    cJSON *doc = NULL, *msg;
    int64_t v = sl_versions_current(b->vs, &doc);
    char **ids = NULL;
    struct entry *next;
    size_t n = 0, n_ids = 0;

    if (v == b->version) {
        cJSON_Delete(doc);
        return;
    }
    ids = sl_versions_doc_classifiers(doc);
    while (ids[n_ids])
        n_ids++;
    if (!(next = calloc(n_ids + 1, sizeof(*next))))
        abort();
    for (size_t i = 0; i < n_ids; i++) {
        struct entry *e = &next[n], *old;
        snprintf(e->key, sizeof(e->key), "%s%s", SL_CLONE_CLF, ids[i]);
        if ((old = find_entry(b, e->key))) {
            *e = *old;
            old->body = NULL; /* moved */
            n++;
            continue;
        }
        if (sl_versions_classifier_body(b->vs, ids[i], &e->body, &e->len)) {
            sl_error("version %lld names %s, which cannot be read from control.db", (long long)v,
                     ids[i]);
            continue;
        }
        e->seq = ++b->seq;
        if (publish)
            send_update(b, e);
        n++;
    }
    if (!(msg = cJSON_CreateObject()))
        abort();
    cJSON_AddNumberToObject(msg, "version", (double)v);
    cJSON_AddItemToObject(msg, "document", doc);
    snprintf(next[n].key, sizeof(next[n].key), "%s", SL_CLONE_CONFIG);
    if (!(next[n].body = cJSON_PrintUnformatted(msg)))
        abort();
    cJSON_Delete(msg); /* doc with it */
    next[n].len = strlen(next[n].body);
    next[n].seq = ++b->seq;
    if (publish)
        send_update(b, &next[n]);
    n++;
    for (size_t i = 0; i < b->n_entries; i++)
        free(b->entries[i].body);
    free(b->entries);
    b->entries = next;
    b->n_entries = n;
    b->version = v;
    sl_versions_ids_free(ids);
    if (publish)
        sl_info("published version %lld (sequence %llu)", (long long)v, (unsigned long long)b->seq);
}

/* One snapshot request: [identity]["ICANHAZ?"][proxy id]; the proxy id may be left out. */
static bool on_snapshot(struct sl_bus *b)
{
    zmq_msg_t f[3];
    int n = recv_frames(b->router, f, 3);
    const void *ident;
    size_t ilen;
    bool ok = true;

    if (n == 0)
        return false;
    if (n < 2 || !frame_is(&f[1], SL_CLONE_ICANHAZ) || (n == 3 && zmq_msg_size(&f[2]) > MAX_ID)) {
        bad(b, "a snapshot request that is not [ICANHAZ?][proxy id] (%d frames)", n);
        if (n > 0)
            close_frames(f, n);
        return true;
    }
    ident = zmq_msg_data(&f[0]);
    ilen = zmq_msg_size(&f[0]);
    sl_debug("snapshot for %.*s: version %lld, sequence %llu",
             n == 3 ? (int)zmq_msg_size(&f[2]) : 1, n == 3 ? (char *)zmq_msg_data(&f[2]) : "?",
             (long long)b->version, (unsigned long long)b->seq);
    /* ROUTER drops what it cannot deliver (a peer gone, or past its high-water mark); the
     * proxy then times out and asks again */
    for (size_t i = 0; ok && i < b->n_entries; i++) {
        const struct entry *e = &b->entries[i];
        ok = zmq_send(b->router, ident, ilen, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
             sl_clone_send(b->router, e->key, e->seq, e->body, e->len, ZMQ_DONTWAIT) == 0;
    }
    ok = ok && zmq_send(b->router, ident, ilen, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
         sl_clone_send(b->router, SL_CLONE_KTHXBAI, b->seq, "", 0, ZMQ_DONTWAIT) == 0;
    if (!ok)
        sl_warn("a snapshot could not be sent whole: %s", zmq_strerror(errno));
    close_frames(f, n);
    return true;
}

/* ---- proxy reports ---- */

static struct proxy *find_proxy(struct sl_bus *b, const char *id)
{
    struct proxy *p;
    size_t oldest = 0;

    for (size_t i = 0; i < b->n_proxies; i++) {
        if (strcmp(b->proxies[i].id, id) == 0)
            return &b->proxies[i];
        if (b->proxies[i].last_seen_us < b->proxies[oldest].last_seen_us)
            oldest = i;
    }
    if (b->n_proxies == MAX_PROXIES) {
        p = &b->proxies[oldest];
        sl_warn("%d proxies reporting: forgetting %s, silent the longest", MAX_PROXIES, p->id);
        free(p->error);
        free(p->hist);
    } else {
        if (b->n_proxies == b->cap_proxies) {
            b->cap_proxies = b->cap_proxies ? b->cap_proxies * 2 : 8;
            b->proxies = realloc(b->proxies, b->cap_proxies * sizeof(*b->proxies));
            if (!b->proxies)
                abort();
        }
        p = &b->proxies[b->n_proxies++];
    }
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    sl_info("proxy %s reported for the first time", id);
    return p;
}

static const struct applied *find_applied(const struct proxy *p, int64_t version)
{
    for (size_t i = 0; i < p->n_hist; i++)
        if (p->hist[i].version == version)
            return &p->hist[i];
    return NULL;
}

static void remember(struct proxy *p, int64_t version, int64_t applied_us)
{
    if (find_applied(p, version))
        return; /* the first report of a version says when it was applied */
    if (!p->hist && !(p->hist = calloc(MAX_HISTORY, sizeof(*p->hist))))
        abort();
    if (p->n_hist < MAX_HISTORY) {
        p->hist[p->n_hist++] = (struct applied){version, applied_us};
    } else {
        p->hist[p->head] = (struct applied){version, applied_us};
        p->head = (p->head + 1) % MAX_HISTORY;
    }
}

static bool whole(const cJSON *v, double min)
{
    return cJSON_IsNumber(v) && v->valuedouble >= min && v->valuedouble <= 9e15 &&
           v->valuedouble == (double)(int64_t)v->valuedouble;
}

/* A report's spending: {"TEAM": {"since": Unix s, "usd": >= 0}, ...}. */
static bool valid_spend(const cJSON *spend)
{
    const cJSON *t;

    if (!cJSON_IsObject(spend))
        return false;
    cJSON_ArrayForEach(t, spend)
    {
        const cJSON *usd = cJSON_GetObjectItemCaseSensitive(t, "usd");
        if (!whole(cJSON_GetObjectItemCaseSensitive(t, "since"), 0) || !cJSON_IsNumber(usd) ||
            !(usd->valuedouble >= 0 && usd->valuedouble < 1e15))
            return false;
    }
    return true;
}

/* Keeps a ledger's latest spending (taking spend), as of last_us; the caller holds mu. */
static struct ledger *record_spend(struct sl_bus *b, const char *id, cJSON *spend, int64_t last_us)
{
    struct ledger *l = NULL;
    size_t oldest = 0;

    for (size_t i = 0; i < b->n_ledgers && !l; i++) {
        if (strcmp(b->ledgers[i].id, id) == 0)
            l = &b->ledgers[i];
        else if (b->ledgers[i].last_us < b->ledgers[oldest].last_us)
            oldest = i;
    }
    if (!l && b->n_ledgers == MAX_PROXIES) {
        l = &b->ledgers[oldest]; /* its money was spent, but memory is bounded */
        sl_warn("%d ledgers reporting: forgetting %s, silent the longest", MAX_PROXIES, l->id);
        cJSON_Delete(l->spend);
        l->spend = NULL;
    } else if (!l) {
        if (b->n_ledgers == b->cap_ledgers) {
            b->cap_ledgers = b->cap_ledgers ? b->cap_ledgers * 2 : 8;
            b->ledgers = realloc(b->ledgers, b->cap_ledgers * sizeof(*b->ledgers));
            if (!b->ledgers)
                abort();
        }
        l = &b->ledgers[b->n_ledgers++];
        l->spend = NULL;
    }
    /* a ledger reports every heartbeat; its row is written only when its spending changed */
    l->dirty = !l->spend || !cJSON_Compare(l->spend, spend, 1);
    cJSON_Delete(l->spend);
    snprintf(l->id, sizeof(l->id), "%s", id);
    l->spend = spend;
    l->last_us = last_us;
    return l;
}

/* Writes the ledgers whose spending changed to control.db, in one transaction; when that fails
 * they stay marked, to be tried again at the next heartbeat. Bus thread only, and without mu:
 * this thread alone changes the ledgers (the HTTP thread only reads them, under mu). */
static void save_ledgers(struct sl_bus *b)
{
    struct sl_versions_ledger *rows = NULL;
    size_t n = 0;

    for (size_t i = 0; i < b->n_ledgers; i++) {
        const struct ledger *l = &b->ledgers[i];
        if (!l->dirty)
            continue;
        if (!rows && !(rows = calloc(b->n_ledgers, sizeof(*rows))))
            abort();
        if (!(rows[n].spend = cJSON_PrintUnformatted(l->spend)))
            abort();
        rows[n].id = l->id;
        rows[n++].last_us = l->last_us;
    }
    if (n && sl_versions_ledgers_save(b->vs, rows, n, MAX_PROXIES) == 0)
        for (size_t i = 0; i < b->n_ledgers; i++)
            b->ledgers[i].dirty = false;
    for (size_t k = 0; k < n; k++)
        free((char *)rows[k].spend);
    free(rows);
}

/* sl_versions_ledgers_load's callback: a stored ledger, as if it had just reported (a row that
 * does not read as spending, edited by hand, is skipped). */
static void load_ledger(void *ctx, const struct sl_versions_ledger *row)
{
    struct sl_bus *b = ctx;
    cJSON *spend = cJSON_Parse(row->spend);

    if (!valid_spend(spend) || !row->id[0] || strlen(row->id) > MAX_LEDGER) {
        sl_warn("control.db: ledgers: the row of %.100s is not spending; skipped", row->id);
        cJSON_Delete(spend);
        return;
    }
    record_spend(b, row->id, spend, row->last_us)->dirty = false;
}

/* One ledger's spending for one team, while spend_by_team groups them. */
struct team_spend {
    const char *team, *ledger;
    double since, usd;
};

/* By team, then the latest period first. */
static int team_spend_cmp(const void *x, const void *y)
{
    const struct team_spend *a = x, *b = y;
    int c = strcmp(a->team, b->team);

    return c ? c : (a->since < b->since) - (a->since > b->since);
}

/* {"TEAM": {"since": S, "by": {"LEDGER": usd}}}: per team, the ledgers' spending in the latest
 * period any of them reports (an older period is over). Sorted rather than looked up team by
 * team, as the teams times the proxies can be many. The caller holds mu. */
static cJSON *spend_by_team(const struct sl_bus *b)
{
    cJSON *teams = cJSON_CreateObject(), *by = NULL;
    struct team_spend *all;
    double latest = 0;
    size_t n = 0;

    for (size_t i = 0; i < b->n_ledgers; i++)
        n += (size_t)cJSON_GetArraySize(b->ledgers[i].spend);
    if (!(all = malloc((n ? n : 1) * sizeof(*all))))
        abort();
    n = 0;
    for (size_t i = 0; i < b->n_ledgers; i++) {
        const cJSON *t;
        cJSON_ArrayForEach(t, b->ledgers[i].spend)
        {
            all[n++] =
                (struct team_spend){t->string, b->ledgers[i].id,
                                    cJSON_GetObjectItemCaseSensitive(t, "since")->valuedouble,
                                    cJSON_GetObjectItemCaseSensitive(t, "usd")->valuedouble};
        }
    }
    qsort(all, n, sizeof(*all), team_spend_cmp);
    for (size_t k = 0; k < n; k++) {
        if (k == 0 || strcmp(all[k].team, all[k - 1].team) != 0) {
            cJSON *o = cJSON_AddObjectToObject(teams, all[k].team);
            cJSON_AddNumberToObject(o, "since", all[k].since);
            by = cJSON_AddObjectToObject(o, "by");
            latest = all[k].since;
        } else if (all[k].since < latest) {
            continue; /* an older period of the team's (the latest sorts first) */
        }
        cJSON_AddNumberToObject(by, all[k].ledger, all[k].usd);
    }
    free(all);
    return teams;
}

/* The proxies that take keys and reported within 3 heartbeats (at least 1): they share each
 * key's and team's limits. The caller holds mu. */
static size_t alive_ledgers(const struct sl_bus *b)
{
    int64_t since = sl_clock_wall_us() - 3 * (int64_t)b->cfg->heartbeat_ms * 1000;
    size_t n = 0;

    for (size_t i = 0; i < b->n_ledgers; i++)
        n += b->ledgers[i].last_us >= since;
    return n ? n : 1;
}

/* Tells every proxy what the others spent, so that a team's budget holds across them. */
static void publish_spend(struct sl_bus *b)
{
    cJSON *root;
    char *text;

    pthread_mutex_lock(&b->mu);
    if (!b->n_ledgers) {
        pthread_mutex_unlock(&b->mu);
        return;
    }
    root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "proxies", (double)alive_ledgers(b));
    cJSON_AddItemToObject(root, "teams", spend_by_team(b));
    pthread_mutex_unlock(&b->mu);
    if (!(text = cJSON_PrintUnformatted(root)))
        abort();
    if (sl_clone_send(b->pub, SL_CLONE_SPEND, 0, text, strlen(text), ZMQ_DONTWAIT))
        sl_warn("cannot publish spending: %s", zmq_strerror(errno));
    free(text);
    cJSON_Delete(root);
}

static bool on_report(struct sl_bus *b)
{
    zmq_msg_t f[1];
    int n = recv_frames(b->pull, f, 1);
    const cJSON *v, *id, *version, *applied, *error, *ledger;
    cJSON *root, *spend;
    struct proxy *p;

    if (n == 0)
        return false;
    if (n < 0) {
        bad(b, "a proxy report of more than one frame");
        return true;
    }
    root = cJSON_ParseWithLength(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]));
    close_frames(f, n);
    v = cJSON_GetObjectItemCaseSensitive(root, "v");
    id = cJSON_GetObjectItemCaseSensitive(root, "proxy");
    version = cJSON_GetObjectItemCaseSensitive(root, "version");
    applied = cJSON_GetObjectItemCaseSensitive(root, "applied_us");
    error = cJSON_GetObjectItemCaseSensitive(root, "error");
    ledger = cJSON_GetObjectItemCaseSensitive(root, "ledger");
    spend = cJSON_GetObjectItemCaseSensitive(root, "spend");
    if (!cJSON_IsObject(root) || !cJSON_IsNumber(v) || v->valuedouble != 1 || !cJSON_IsString(id) ||
        !id->valuestring[0] || strlen(id->valuestring) > MAX_ID || !whole(version, 0) ||
        !whole(applied, 0) || (error && !cJSON_IsNull(error) && !cJSON_IsString(error)) ||
        (spend && (!cJSON_IsString(ledger) || !ledger->valuestring[0] ||
                   strlen(ledger->valuestring) > MAX_LEDGER || !valid_spend(spend)))) {
        bad(b, "a proxy report that is not {\"v\":1,\"proxy\",\"version\",\"applied_us\","
               "\"error\"[,\"ledger\",\"spend\"]}");
        cJSON_Delete(root);
        return true;
    }
    pthread_mutex_lock(&b->mu);
    p = find_proxy(b, id->valuestring);
    p->version = (int64_t)version->valuedouble;
    p->applied_us = (int64_t)applied->valuedouble;
    p->last_seen_us = sl_clock_wall_us();
    free(p->error);
    p->error = cJSON_IsString(error) ? strndup(error->valuestring, MAX_ERROR) : NULL;
    if (p->version > 0)
        remember(p, p->version, p->applied_us);
    if (spend)
        record_spend(b, ledger->valuestring, cJSON_DetachItemViaPointer(root, spend),
                     p->last_seen_us);
    pthread_mutex_unlock(&b->mu);
    if (cJSON_IsString(error))
        sl_debug("proxy %s runs version %lld and refused the latest: %.200s", id->valuestring,
                 (long long)version->valuedouble, error->valuestring);
    cJSON_Delete(root);
    return true;
}

/* ---- alerts ---- */

static bool on_alert(struct sl_bus *b)
{
    zmq_msg_t f[2];
    int n = recv_frames(b->sub, f, 2);
    char topic[32];
    int64_t version = 0;
    int rc;

    if (n == 0)
        return false;
    if (n != 2 || zmq_msg_size(&f[0]) >= sizeof(topic)) {
        bad(b, "an alert that is not [topic][JSON]");
        if (n > 0)
            close_frames(f, n);
        return true;
    }
    snprintf(topic, sizeof(topic), "%.*s", (int)zmq_msg_size(&f[0]), (char *)zmq_msg_data(&f[0]));
    if (strcmp(topic, "alert.raised") != 0 && strcmp(topic, "alert.resolved") != 0) {
        sl_debug("ignoring %s", topic); /* another kind of alert message: not the policy's */
        close_frames(f, n);
        return true;
    }
    rc = sl_policy_on_alert(b->vs, topic, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]),
                            sl_clock_wall_us(), &version);
    close_frames(f, n);
    if (rc == SL_EPARSE)
        bad(b, "an %s message that is not an alert's JSON", topic);
    else if (rc)
        sl_error("an alert could not be recorded in control.db");
    if (version)
        refresh(b, true);
    return true;
}

/* ---- the loop ---- */

/* Drains the wake socket; false once asked to stop. */
static bool on_wake(struct sl_bus *b)
{
    char c;
    bool go_on = true;

    while (zmq_recv(b->wake_rx, &c, 1, ZMQ_DONTWAIT) >= 0)
        if (c == 'S')
            go_on = false;
    if (go_on)
        refresh(b, true);
    return go_on;
}

/* Handles what a socket holds, DRAIN_MAX messages at most so that no socket starves the
 * others; one() returns false when nothing was waiting. */
static void drain(struct sl_bus *b, bool (*one)(struct sl_bus *b))
{
    for (int i = 0; i < DRAIN_MAX && one(b); i++)
        ;
}

static void *run(void *arg)
{
    struct sl_bus *b = arg;
    uint64_t period = (uint64_t)b->cfg->heartbeat_ms * 1000;
    uint64_t next_hugz = sl_clock_mono_us() + period;
    zmq_pollitem_t items[5] = {
        {.socket = b->wake_rx, .events = ZMQ_POLLIN},
        {.socket = b->router, .events = ZMQ_POLLIN},
        {.socket = b->pull, .events = ZMQ_POLLIN},
        {.socket = b->sub, .events = ZMQ_POLLIN},
    };
    int n_items = b->sub ? 4 : 3;

    for (;;) {
        uint64_t now = sl_clock_mono_us();
        long timeout = next_hugz > now ? (long)((next_hugz - now + 999) / 1000) : 0;

        if (zmq_poll(items, n_items, timeout) < 0) {
            if (errno == EINTR)
                continue;
            sl_error("zmq_poll: %s; the bus stops", zmq_strerror(errno));
            break;
        }
        if ((items[0].revents & ZMQ_POLLIN) && !on_wake(b))
            break;
        if (items[1].revents & ZMQ_POLLIN)
            drain(b, on_snapshot);
        if (items[2].revents & ZMQ_POLLIN)
            drain(b, on_report);
        if (n_items > 3 && (items[3].revents & ZMQ_POLLIN))
            drain(b, on_alert);
        now = sl_clock_mono_us();
        if (now >= next_hugz) {
            if (sl_clone_send(b->pub, SL_CLONE_HUGZ, b->seq, "", 0, ZMQ_DONTWAIT))
                sl_warn("cannot publish HUGZ: %s", zmq_strerror(errno));
            save_ledgers(b);
            publish_spend(b);
            next_hugz += period;
            if (next_hugz <= now) /* asleep for a while: no burst of heartbeats */
                next_hugz = now + period;
        }
    }
    save_ledgers(b); /* what changed since the last heartbeat */
    return NULL;
}

/* ---- life cycle ---- */

static void *make_socket(struct sl_bus *b, int type, int maxmsg, char *err, size_t errlen)
{
    void *s = zmq_socket(b->ctx, type);
    int zero = 0, hwm = SNDHWM;
    int64_t max = maxmsg;

    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
        (maxmsg && zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max))) ||
        (type == ZMQ_ROUTER && zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &zero, sizeof(zero)))) {
        snprintf(err, errlen, "cannot create a ZeroMQ socket: %s", zmq_strerror(errno));
        if (s)
            zmq_close(s);
        return NULL;
    }
    return s;
}

static bool bind_to(void *s, const char *file, const char *key, const char *endpoint, char *err,
                    size_t errlen)
{
    if (zmq_bind(s, endpoint) == 0)
        return true;
    snprintf(err, errlen, "%s: %s: cannot bind %s: %s", file, key, endpoint, zmq_strerror(errno));
    return false;
}

struct sl_bus *sl_bus_create(const struct sl_ctrlconf *cfg, struct sl_versions *vs, char *err,
                             size_t errlen)
{
    struct sl_bus *b = calloc(1, sizeof(*b));
    char wake[64];

    if (!b)
        abort();
    b->cfg = cfg;
    b->vs = vs;
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->wake_mu, NULL);
    b->seq = (uint64_t)sl_clock_wall_us();
    b->bad_window_us = sl_clock_mono_us();
    snprintf(wake, sizeof(wake), "inproc://sluice-bus-wake-%p", (void *)b);
    if (!(b->ctx = zmq_ctx_new())) {
        snprintf(err, errlen, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        goto fail;
    }
    if (!(b->router = make_socket(b, ZMQ_ROUTER, REQUEST_MAX, err, errlen)) ||
        !(b->pub = make_socket(b, ZMQ_PUB, 0, err, errlen)) ||
        !(b->pull = make_socket(b, ZMQ_PULL, REPORT_MAX, err, errlen)) ||
        !(b->wake_rx = make_socket(b, ZMQ_PULL, 0, err, errlen)) ||
        !(b->wake_tx = make_socket(b, ZMQ_PUSH, 0, err, errlen)))
        goto fail;
    if (!bind_to(b->router, cfg->path, "snapshot", cfg->snapshot, err, errlen) ||
        !bind_to(b->pub, cfg->path, "updates", cfg->updates, err, errlen) ||
        !bind_to(b->pull, cfg->path, "reports", cfg->reports, err, errlen) ||
        !bind_to(b->wake_rx, cfg->path, "wake", wake, err, errlen))
        goto fail;
    if (zmq_connect(b->wake_tx, wake)) {
        snprintf(err, errlen, "cannot connect %s: %s", wake, zmq_strerror(errno));
        goto fail;
    }
    if (cfg->alerts[0]) {
        if (!(b->sub = make_socket(b, ZMQ_SUB, REPORT_MAX, err, errlen)))
            goto fail;
        if (zmq_setsockopt(b->sub, ZMQ_SUBSCRIBE, "alert.", 6)) {
            snprintf(err, errlen, "cannot subscribe to alerts: %s", zmq_strerror(errno));
            goto fail;
        }
        for (char **e = cfg->alerts; *e; e++) {
            if (zmq_connect(b->sub, *e)) {
                snprintf(err, errlen, "%s: alerts: cannot connect %s: %s", cfg->path, *e,
                         zmq_strerror(errno));
                goto fail;
            }
        }
    }
    if (sl_versions_ledgers_load(vs, load_ledger, b)) {
        snprintf(err, errlen, "%s/control.db: cannot read the ledgers' spending", cfg->data_dir);
        goto fail;
    }
    refresh(b, false);
    return b;
fail:
    sl_bus_destroy(b);
    return NULL;
}

int sl_bus_start(struct sl_bus *b)
{
    sigset_t all, old;
    int rc;

    /* signals are the main thread's business */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&b->thread, NULL, run, b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        sl_error("cannot start the bus thread: %s", strerror(rc));
        return SL_ESYS;
    }
    b->started = true;
    return 0;
}

/* Sends one wake byte: 'P' publish, 'S' stop. */
static int wake(struct sl_bus *b, char c, int flags)
{
    int rc;

    pthread_mutex_lock(&b->wake_mu); /* a ZeroMQ socket is not thread-safe */
    rc = zmq_send(b->wake_tx, &c, 1, flags);
    pthread_mutex_unlock(&b->wake_mu);
    return rc;
}

void sl_bus_publish(struct sl_bus *b)
{
    /* when the queue is full a wake is pending already, and it publishes the current version */
    (void)wake(b, 'P', ZMQ_DONTWAIT);
}

void sl_bus_destroy(struct sl_bus *b)
{
    void **socks[] = {&b->router, &b->pub, &b->pull, &b->sub, &b->wake_rx, &b->wake_tx};

    if (!b)
        return;
    if (b->started) {
        if (wake(b, 'S', 0) < 0)
            sl_error("cannot stop the bus thread: %s", zmq_strerror(errno));
        else
            pthread_join(b->thread, NULL);
    }
    for (size_t i = 0; i < sizeof(socks) / sizeof(*socks); i++)
        if (*socks[i])
            zmq_close(*socks[i]);
    if (b->ctx)
        zmq_ctx_term(b->ctx);
    for (size_t i = 0; i < b->n_entries; i++)
        free(b->entries[i].body);
    free(b->entries);
    for (size_t i = 0; i < b->n_proxies; i++) {
        free(b->proxies[i].error);
        free(b->proxies[i].hist);
    }
    free(b->proxies);
    for (size_t i = 0; i < b->n_ledgers; i++)
        cJSON_Delete(b->ledgers[i].spend);
    free(b->ledgers);
    pthread_mutex_destroy(&b->mu);
    pthread_mutex_destroy(&b->wake_mu);
    free(b);
}

static int cmp_proxy(const void *x, const void *y)
{
    return strcmp(((const struct proxy *)x)->id, ((const struct proxy *)y)->id);
}

cJSON *sl_bus_rollout_json(struct sl_bus *b, int64_t version, int64_t created_us, bool *complete)
{
    cJSON *arr = cJSON_CreateArray();
    int64_t now = sl_clock_wall_us();
    int64_t alive_us = 3 * (int64_t)b->cfg->heartbeat_ms * 1000;

    if (!arr)
        abort();
    *complete = true;
    pthread_mutex_lock(&b->mu);
    if (b->n_proxies) /* qsort's array must not be NULL, even for 0 elements */
        qsort(b->proxies, b->n_proxies, sizeof(*b->proxies), cmp_proxy);
    for (size_t i = 0; i < b->n_proxies; i++) {
        const struct proxy *p = &b->proxies[i];
        const struct applied *a = find_applied(p, version);
        bool alive = now - p->last_seen_us <= alive_us;
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "id", p->id);
        cJSON_AddNumberToObject(o, "version", (double)p->version);
        cJSON_AddNumberToObject(o, "applied_us", (double)p->applied_us);
        if (a && created_us)
            cJSON_AddNumberToObject(o, "propagation_ms",
                                    (double)(a->applied_us - created_us) / 1e3);
        cJSON_AddBoolToObject(o, "alive", alive);
        cJSON_AddNumberToObject(o, "last_seen_us", (double)p->last_seen_us);
        if (p->error)
            cJSON_AddStringToObject(o, "error", p->error);
        else
            cJSON_AddNullToObject(o, "error");
        cJSON_AddItemToArray(arr, o);
        if (alive && p->version < version)
            *complete = false;
    }
    pthread_mutex_unlock(&b->mu);
    return arr;
}

cJSON *sl_bus_spend_json(struct sl_bus *b)
{
    cJSON *out = cJSON_CreateObject(), *by, *t, *l;

    pthread_mutex_lock(&b->mu);
    by = spend_by_team(b);
    pthread_mutex_unlock(&b->mu);
    cJSON_ArrayForEach(t, by)
    {
        cJSON *o = cJSON_AddObjectToObject(out, t->string);
        double usd = 0;
        cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(t, "by"))
        {
            usd += l->valuedouble;
        }
        cJSON_AddNumberToObject(o, "since",
                                cJSON_GetObjectItemCaseSensitive(t, "since")->valuedouble);
        cJSON_AddNumberToObject(o, "usd", usd);
    }
    cJSON_Delete(by);
    return out;
}
