/* The controller's follower: subscribe, ask for a snapshot, apply updates in sequence, notice
 * gaps and silence, report. Everything here runs on the follower's own thread. */
#include "follower.h"
#include "accounts.h"
#include "server.h"
#include "snapshot.h"

#define SL_LOG_MODULE "follower"
#include "clfcache.h"
#include "clock.h"
#include "clone.h"
#include "jsonconf.h"
#include "log.h"
#include "sha256.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zmq.h>

/* Names that have a metrics row: a route (or "route/tier") keeps its row in every version. */
struct slots {
    char *names[SL_CONFIG_MAX_ROUTE_TIERS];
    size_t n;
};

struct sl_follower {
    struct sl_server *srv;
    const struct sl_controller_config *ctl;
    cJSON *file_root; /* the proxy's own file, which every version is built on */
    void *zmq;
    void *sub, *dealer, *push;
    char id[300];     /* how the controller knows this proxy: host:port */
    char ledger[600]; /* whose spending it reports: host:data_dir, the same across restarts */
    pthread_t thread;
    bool started;

    uint64_t seq;  /* the last change applied */
    bool synced;   /* a snapshot came and no update was missed since */
    char *pending; /* the snapshot's config, applied when the snapshot ends */
    int64_t heard_ms, asked_ms, reported_ms;
    int64_t applied_us; /* when the version served now was published */
    char error[512];    /* why the newest version was refused; "" when it was not */
    int64_t refused;    /* that version, so that its error is logged once */

    unsigned char accounts[32]; /* digest of the teams and keys last made the proxy's */
    struct sl_clfcache *clfs;   /* received ones by "sha256:HEX", files by their identity */
    struct slots routes, tiers;
};

/* --- classifiers and metrics rows ---------------------------------------------------------- */

/* The resolver for sl_config_build: a classifier the controller sent, or a file. */
static struct sl_classifier *resolve(void *ctx, const char *file, const char *ref, char *err,
                                     size_t errlen)
{
    struct sl_follower *f = ctx;
    struct sl_classifier *c;

    if (strncmp(ref, "sha256:", 7) != 0)
        return sl_clfcache_file(f->clfs, file, ref, err, errlen);
    if (!(c = sl_clfcache_get(f->clfs, ref))) {
        snprintf(err, errlen, "%s: the controller has not sent this classifier", ref);
        return NULL;
    }
    return sl_classifier_ref(c);
}

/* A classifier from the controller, checked against the digest that names it. */
static void receive_classifier(struct sl_follower *f, const struct sl_clone_msg *m)
{
    const char *id = m->key + strlen(SL_CLONE_CLF);
    char hex[65], err[1024];
    struct sl_classifier *c;

    if (sl_clfcache_get(f->clfs, id))
        return;
    sl_sha256_hex(m->body, m->len, hex);
    if (strncmp(id, "sha256:", 7) || strcmp(id + 7, hex)) {
        sl_error("classifier %.80s: its body's digest is sha256:%s; dropped", id, hex);
        return;
    }
    if (!(c = sl_classifier_parse(id, m->body, m->len, err, sizeof(err)))) {
        sl_error("%s", err);
        return;
    }
    if (sl_clfcache_put(f->clfs, id, c))
        sl_error("classifier %s: out of memory", id);
}

/* The row of name, given one if it has none; SIZE_MAX when the table is full. */
static size_t slot_of(struct slots *s, const char *name, size_t max)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return i;
    if (s->n == max || !(s->names[s->n] = strdup(name)))
        return SIZE_MAX;
    return s->n++;
}

static bool assign_slots(struct sl_follower *f, struct sl_config *cfg)
{
    for (size_t r = 0; r < cfg->n_routes; r++) {
        struct sl_route *rt = &cfg->routes[r];
        if ((rt->slot = slot_of(&f->routes, rt->name, SL_CONFIG_MAX_ROUTES)) == SIZE_MAX)
            return false;
        for (size_t t = 0; t < rt->n_tiers; t++) {
            char name[600];
            snprintf(name, sizeof(name), "%s/%s", rt->name, rt->tiers[t].name);
            if ((rt->tiers[t].slot = slot_of(&f->tiers, name, SL_CONFIG_MAX_ROUTE_TIERS)) ==
                SIZE_MAX)
                return false;
        }
    }
    return true;
}

/* --- versions ------------------------------------------------------------------------------- */

static void report(struct sl_follower *f)
{
    cJSON *o = cJSON_CreateObject();
    char *text;

    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "proxy", f->id);
    cJSON_AddNumberToObject(o, "version",
                            (double)__atomic_load_n(&f->srv->version, __ATOMIC_ACQUIRE));
    cJSON_AddNumberToObject(o, "applied_us", (double)f->applied_us);
    if (f->error[0])
        cJSON_AddStringToObject(o, "error", f->error);
    else
        cJSON_AddNullToObject(o, "error");
    if (f->srv->accounts) {
        cJSON_AddStringToObject(o, "ledger", f->ledger);
        cJSON_AddItemToObject(o, "spend", sl_accounts_spend_json(f->srv->accounts));
    }
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    /* Never wait for the controller: a report it misses is followed by the next one. */
    if (text && zmq_send(f->push, text, strlen(text), ZMQ_DONTWAIT) < 0 && errno != EAGAIN)
        sl_warn("cannot report to the controller: %s", zmq_strerror(errno));
    free(text);
    f->reported_ms = sl_clock_mono_us() / 1000;
}

/* Makes the version's teams and keys the proxy's (only when they changed: most versions
 * change routes, and keys.db is written in a transaction). 0, or an error in err. */
static int sync_accounts(struct sl_follower *f, const struct sl_config *cfg, const cJSON *doc,
                         char *err, size_t errlen)
{
    unsigned char digest[32];
    char *text;
    int rc;

    if (!cfg->accounts || !f->srv->accounts)
        return 0; /* none in the version, or a proxy that takes no keys */
    if (!(text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(doc, "accounts")))) {
        snprintf(err, errlen, "out of memory");
        return SL_ENOMEM;
    }
    sl_sha256(text, strlen(text), digest);
    free(text);
    if (memcmp(digest, f->accounts, sizeof(digest)) == 0)
        return 0;
    if ((rc = sl_accounts_sync(f->srv->accounts, cfg->accounts, err, errlen)) == 0)
        memcpy(f->accounts, digest, sizeof(digest));
    return rc;
}

/* Builds and publishes the version in a "config" body: {"version": N, "document": {...}}. */
static void apply(struct sl_follower *f, const char *body, size_t len)
{
    cJSON *msg = cJSON_ParseWithLength(body, len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, "version");
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(msg, "document");
    struct sl_config *cfg = NULL;
    struct sl_snapshot *snap;
    char name[64], err[1024];
    int64_t version;

    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 9e15 ||
        v->valuedouble != (double)(int64_t)v->valuedouble || !cJSON_IsObject(doc)) {
        sl_error("the controller sent a malformed configuration; still serving version %lld",
                 (long long)__atomic_load_n(&f->srv->version, __ATOMIC_ACQUIRE));
        goto out;
    }
    version = (int64_t)v->valuedouble;
    if (version == __atomic_load_n(&f->srv->version, __ATOMIC_ACQUIRE) || version == f->refused)
        goto out;
    snprintf(name, sizeof(name), "version %lld", (long long)version);
    cfg = sl_config_build(name, f->srv->cfg->path, f->file_root, doc, resolve, f, err, sizeof(err));
    if (cfg && !assign_slots(f, cfg)) {
        snprintf(err, sizeof(err),
                 "%s: routes: more distinct route or tier names than %d/%d "
                 "over this process's life; restart it",
                 name, SL_CONFIG_MAX_ROUTES, SL_CONFIG_MAX_ROUTE_TIERS);
        sl_config_destroy(cfg);
        cfg = NULL;
    }
    if (cfg && sync_accounts(f, cfg, doc, err, sizeof(err))) {
        char why[1024];
        snprintf(why, sizeof(why), "%s: accounts: %s", name, err);
        snprintf(err, sizeof(err), "%s", why);
        sl_config_destroy(cfg);
        cfg = NULL;
    }
    if (!cfg) {
        /* Refused versions leave the proxy on the one it serves; the controller shows why. */
        snprintf(f->error, sizeof(f->error), "%s", err);
        f->refused = version;
        sl_error("%s; still serving version %lld", err,
                 (long long)__atomic_load_n(&f->srv->version, __ATOMIC_ACQUIRE));
        report(f);
        goto out;
    }
    if (!(snap = sl_snapshot_create(cfg, true, version))) {
        sl_error("version %lld: out of memory", (long long)version);
        goto out;
    }
    sl_server_publish(f->srv, snap);
    f->applied_us = sl_clock_wall_us(); /* from here on new calls get it */
    sl_clfcache_prune(f->clfs);         /* what no version holds any more */
    f->error[0] = '\0';
    f->refused = 0;
    sl_info("serving configuration version %lld", (long long)version);
    report(f);
out:
    cJSON_Delete(msg);
}

/* The others' spending, {"proxies": N, "teams": {"TEAM": {"since": S, "by": {"LEDGER": usd,
 * ...}}}}: each team's budget counts what every proxy but this one spent, and its limits are
 * shared by the N proxies that take keys. */
static void receive_spend(struct sl_follower *f, const struct sl_clone_msg *m)
{
    cJSON *root = cJSON_ParseWithLength(m->body, m->len);
    const cJSON *teams = cJSON_GetObjectItemCaseSensitive(root, "teams"), *t, *l;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "proxies");

    if (!f->srv->accounts)
        goto out;
    if (!cJSON_IsObject(teams) || !cJSON_IsNumber(n) ||
        !(n->valuedouble >= 1 && n->valuedouble <= 1e6)) {
        sl_warn("the controller sent a malformed spend message; dropped");
        goto out;
    }
    sl_accounts_set_share(f->srv->accounts, (long)n->valuedouble);
    cJSON_ArrayForEach(t, teams)
    {
        const cJSON *since = cJSON_GetObjectItemCaseSensitive(t, "since");
        double others = 0;
        if (!cJSON_IsNumber(since))
            continue;
        cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(t, "by"))
        {
            if (cJSON_IsNumber(l) && l->valuedouble > 0 && strcmp(l->string, f->ledger) != 0)
                others += l->valuedouble;
        }
        sl_accounts_set_others(f->srv->accounts, t->string, (int64_t)since->valuedouble, others);
    }
out:
    cJSON_Delete(root);
}

/* --- the conversation with the controller ---------------------------------------------------- */

static void *open_socket(struct sl_follower *f, int type, const char *endpoint)
{
    void *s = zmq_socket(f->zmq, type);
    int zero = 0, hwm = 1000;

    if (!s)
        return NULL;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(s, endpoint)) {
        sl_error("%s: %s", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* Asks for a snapshot on a fresh socket, so that a request queued for a controller that has
 * gone is dropped rather than answered twice. */
static void ask(struct sl_follower *f)
{
    if (f->dealer)
        zmq_close(f->dealer);
    free(f->pending);
    f->pending = NULL;
    f->synced = false;
    f->asked_ms = sl_clock_mono_us() / 1000;
    f->dealer = open_socket(f, ZMQ_DEALER, f->ctl->snapshot);
    if (f->dealer &&
        (zmq_send(f->dealer, SL_CLONE_ICANHAZ, strlen(SL_CLONE_ICANHAZ),
                  ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
         zmq_send(f->dealer, f->id, strlen(f->id), ZMQ_DONTWAIT) < 0) &&
        errno != EAGAIN)
        sl_warn("cannot ask the controller for a snapshot: %s", zmq_strerror(errno));
}

static void on_snapshot(struct sl_follower *f)
{
    struct sl_clone_msg m;
    int rc;

    while ((rc = sl_clone_recv(f->dealer, &m, ZMQ_DONTWAIT)) != SL_EAGAIN && rc != SL_EIO) {
        if (rc) {
            sl_warn("the controller sent a malformed snapshot message; asking again");
            ask(f);
            return;
        }
        if (strcmp(m.key, SL_CLONE_KTHXBAI) == 0) {
            f->seq = m.seq;
            f->synced = true;
            f->heard_ms = sl_clock_mono_us() / 1000;
            if (f->pending)
                apply(f, f->pending, strlen(f->pending));
            free(f->pending);
            f->pending = NULL;
        } else if (strcmp(m.key, SL_CLONE_CONFIG) == 0) {
            free(f->pending);
            f->pending = m.body;
            m.body = NULL;
        } else if (strncmp(m.key, SL_CLONE_CLF, strlen(SL_CLONE_CLF)) == 0) {
            receive_classifier(f, &m);
        }
        sl_clone_msg_free(&m);
        if (f->synced)
            return;
    }
}

static void on_update(struct sl_follower *f)
{
    struct sl_clone_msg m;
    int rc;

    while (f->synced && (rc = sl_clone_recv(f->sub, &m, ZMQ_DONTWAIT)) != SL_EAGAIN &&
           rc != SL_EIO) {
        if (rc) {
            sl_warn("the controller sent a malformed update; asking for a snapshot");
            ask(f);
            return;
        }
        f->heard_ms = sl_clock_mono_us() / 1000;
        if (strcmp(m.key, SL_CLONE_SPEND) == 0) {
            receive_spend(f, &m); /* not a change of state: outside the sequence */
        } else if (strcmp(m.key, SL_CLONE_HUGZ) == 0) {
            /* A heartbeat carries the controller's sequence: another one means a missed
             * update, or a controller that started afresh. */
            if (m.seq != f->seq)
                ask(f);
        } else if (m.seq > f->seq) { /* older ones were in the snapshot */
            if (m.seq != f->seq + 1) {
                ask(f);
            } else {
                f->seq = m.seq;
                if (strcmp(m.key, SL_CLONE_CONFIG) == 0)
                    apply(f, m.body, m.len);
                else if (strncmp(m.key, SL_CLONE_CLF, strlen(SL_CLONE_CLF)) == 0)
                    receive_classifier(f, &m);
            }
        }
        sl_clone_msg_free(&m);
    }
}

static void *follow(void *arg)
{
    struct sl_follower *f = arg;
    int64_t hb = f->ctl->heartbeat_ms;
    bool lost = false;
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    /* Building a version is background work: a lower weight than the workers' keeps it from
     * taking their CPU on a busy machine, yet (unlike SCHED_IDLE) it still runs at once. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10))
        sl_warn("the follower thread runs at the workers' priority: setpriority refused");
    ask(f);
    for (;;) {
        zmq_pollitem_t items[2] = {{f->dealer, 0, ZMQ_POLLIN, 0}, {f->sub, 0, ZMQ_POLLIN, 0}};
        int64_t now;

        if (zmq_poll(items, f->synced ? 2 : 1, (long)(hb / 4 + 1)) < 0 && errno == ETERM)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            on_snapshot(f);
        if (f->synced && items[1].revents & ZMQ_POLLIN)
            on_update(f);
        now = sl_clock_mono_us() / 1000;
        if (f->synced && now - f->heard_ms > 3 * hb) {
            if (!lost)
                sl_warn("the controller is silent; still serving version %lld",
                        (long long)__atomic_load_n(&f->srv->version, __ATOMIC_ACQUIRE));
            lost = true;
            ask(f);
        } else if (!f->synced && now - f->asked_ms > 3 * hb) {
            ask(f);
        } else if (f->synced && lost) {
            sl_info("the controller is back");
            lost = false;
        }
        if (now - f->reported_ms >= hb)
            report(f);
    }
    return NULL;
}

struct sl_follower *sl_follower_create(struct sl_server *srv)
{
    struct sl_follower *f = calloc(1, sizeof(*f));
    char host[256], dir[PATH_MAX], err[1024];
    size_t len;
    char *text = NULL;

    if (!f)
        return NULL;
    f->srv = srv;
    f->ctl = &srv->cfg->controller;
    if (!(f->clfs = sl_clfcache_create()))
        goto fail;
    if (gethostname(host, sizeof(host)))
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(f->id, sizeof(f->id), "%s:%d", host, srv->port);
    if (!realpath(srv->cfg->data_dir, dir))
        snprintf(dir, sizeof(dir), "%s", srv->cfg->data_dir);
    snprintf(f->ledger, sizeof(f->ledger), "%s:%s", host, dir);
    /* The routes of the proxy's own file are its version 0; their rows come first. */
    if (!assign_slots(f, (struct sl_config *)srv->cfg))
        goto fail;
    if (!(text = sl_jsonconf_read(srv->cfg->path, 16u << 20, &len, err, sizeof(err))) ||
        !(f->file_root = sl_jsonconf_parse(srv->cfg->path, text, len, err, sizeof(err)))) {
        sl_error("%s", err);
        goto fail;
    }
    if (!(f->zmq = zmq_ctx_new()) || !(f->sub = open_socket(f, ZMQ_SUB, f->ctl->updates)) ||
        !(f->push = open_socket(f, ZMQ_PUSH, f->ctl->reports)))
        goto fail;
    if (pthread_create(&f->thread, NULL, follow, f)) {
        sl_error("cannot start the follower thread");
        goto fail;
    }
    f->started = true;
    free(text);
    return f;
fail:
    free(text);
    sl_follower_destroy(f);
    return NULL;
}

void sl_follower_destroy(struct sl_follower *f)
{
    if (!f)
        return;
    if (f->zmq)
        zmq_ctx_shutdown(f->zmq); /* the thread's poll returns ETERM */
    if (f->started)
        pthread_join(f->thread, NULL);
    if (f->sub)
        zmq_close(f->sub);
    if (f->dealer)
        zmq_close(f->dealer);
    if (f->push)
        zmq_close(f->push);
    if (f->zmq)
        zmq_ctx_term(f->zmq);
    sl_clfcache_destroy(f->clfs);
    for (size_t i = 0; i < f->routes.n; i++)
        free(f->routes.names[i]);
    for (size_t i = 0; i < f->tiers.n; i++)
        free(f->tiers.names[i]);
    free(f->pending);
    cJSON_Delete(f->file_root);
    free(f);
}
