/* Worker threads, listening sockets and the endpoints that are not proxied calls. */
#include "server.h"
#include "accounts.h"
#include "admin.h"
#include "audit.h"
#include "call.h"
#include "follower.h"
#include "sampler.h"
#include "snapshot.h"
#include "health.h"
#include "upstream.h"

#define SL_LOG_MODULE "server"
#include "auth.h"
#include "buf.h"
#include "json.h"
#include "db.h"
#include "log.h"
#include "portfile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define ALL_METHODS                                                                                \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |     \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH)

void sl_server_count(struct sl_worker *w, int status)
{
    if (status >= 100 && status < 600)
        sl_metrics_inc(&w->metrics.status[status]);
}

/* The bufferevent of req's connection, before an answer is queued on it. */
static struct bufferevent *bev_of(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    return evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
}

/* Writes what evhttp queued on bev in this loop pass rather than the next. Why: a socket
 * bufferevent writes only from its write event, so every answer cost an epoll_ctl to watch for
 * EPOLLOUT, an epoll_wait that returns at once and an epoll_ctl to stop watching. Made active
 * here, the write event runs before the loop polls again; when it drains the buffer it deletes
 * itself, and the changelist (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) drops the add and the
 * delete unapplied. A write the socket cannot take whole keeps the event added, as before. Only
 * after evhttp_send_reply and a chunk: neither frees the connection before the write is done. */
static void write_now(struct bufferevent *bev)
{
    if (bev && evbuffer_get_length(bufferevent_get_output(bev)))
        event_active(&bev->ev_write, EV_WRITE, 1);
}

void sl_server_send_chunk(struct evhttp_request *req, struct evbuffer *chunk,
                          void (*cb)(struct evhttp_connection *, void *), void *arg)
{
    struct bufferevent *bev = bev_of(req);

    evhttp_send_reply_chunk_with_cb(req, chunk, cb, arg);
    write_now(bev);
}

void sl_server_send(struct sl_worker *w, struct evhttp_request *req, int status,
                    struct evbuffer *body)
{
    struct bufferevent *bev = bev_of(req);

    sl_server_count(w, status);
    if (body && evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        /* libevent writes a HEAD answer's body too, without a Content-Length, so a keep-alive
         * client reads it as the start of the next answer: send the length, not the body. */
        char len[32];
        snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
        body = NULL;
    }
    evhttp_send_reply(req, status, NULL, body);
    write_now(bev);
}

void sl_server_error(struct sl_worker *w, struct evhttp_request *req, const char *reqid, int status,
                     const char *type, const char *code, const char *param, const char *message)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *body = evbuffer_new();
    struct sl_buf b;
    int rc;

    sl_buf_init(&b, 8192);
    rc = sl_json_add_error(&b, type, code, param, message);
    rc = rc ? rc : sl_buf_adds(&b, "\n");
    if (rc == 0 && body)
        evbuffer_add(body, b.data, b.len);
    sl_buf_free(&b);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (reqid && *reqid)
        evhttp_add_header(h, "x-request-id", reqid);
    sl_server_send(w, req, status, body);
    if (body)
        evbuffer_free(body);
}

const char *sl_server_secret(struct evhttp_request *req, size_t *len)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);

    return sl_auth_key(evhttp_find_header(h, "Authorization"), evhttp_find_header(h, "x-api-key"),
                       len);
}

static void send_text(struct sl_worker *w, struct evhttp_request *req, const char *type,
                      const char *text, size_t len)
{
    struct evbuffer *body = evbuffer_new();

    if (body)
        evbuffer_add(body, text, len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    sl_server_send(w, req, 200, body);
    if (body)
        evbuffer_free(body);
}

static int render_samples(struct sl_server *srv, struct sl_buf *b)
{
    uint64_t sent, dropped;

    sl_sampler_counts(srv->sampler, &sent, &dropped);
    return sl_buf_addf(b,
                       "# TYPE sluice_samples_sent_total counter\nsluice_samples_sent_total %llu\n"
                       "# TYPE sluice_samples_dropped_total counter\n"
                       "sluice_samples_dropped_total %llu\n",
                       (unsigned long long)sent, (unsigned long long)dropped);
}

static void handle_metrics(struct sl_worker *w, struct evhttp_request *req)
{
    struct sl_server *srv = w->server;
    struct sl_metrics *all[256];
    struct sl_buf b;
    size_t n = srv->n_workers < 256 ? srv->n_workers : 256;

    for (size_t i = 0; i < n; i++)
        all[i] = &srv->workers[i].metrics;
    sl_buf_init(&b, 64u << 20);
    if (sl_metrics_render(&b, sl_server_snapshot(w)->cfg, all, n, srv->health) ||
        sl_buf_addf(&b,
                    "# HELP sluice_config_version The configuration version new calls get (0: "
                    "the file's).\n# TYPE sluice_config_version gauge\nsluice_config_version "
                    "%lld\n",
                    (long long)__atomic_load_n(&srv->version, __ATOMIC_ACQUIRE)) ||
        (srv->accounts && sl_accounts_render_metrics(srv->accounts, &b)) ||
        (srv->audit && sl_audit_render_metrics(srv->audit, &b)) ||
        (srv->sampler && render_samples(srv, &b))) {
        sl_server_error(w, req, NULL, 500, "server_error", "internal_error", NULL,
                        "The metrics could not be rendered.");
    } else {
        send_text(w, req, "text/plain; version=0.0.4", b.data, b.len);
    }
    sl_buf_free(&b);
}

static bool is_get(struct evhttp_request *req)
{
    enum evhttp_cmd_type t = evhttp_request_get_command(req);
    return t == EVHTTP_REQ_GET || t == EVHTTP_REQ_HEAD;
}

/* GET /v1/models/ID: one alias or route, as OpenAI's "retrieve model" gives it. id[0..len) is
 * the rest of the path, percent-encoded. */
static void handle_model(struct sl_worker *w, struct evhttp_request *req, const char *id,
                         size_t len)
{
    const struct sl_config *cfg = sl_server_snapshot(w)->cfg;
    char raw[256], *name = NULL;
    size_t n = 0;
    struct sl_buf b;
    bool route = false, found = false;

    if (len < sizeof(raw)) {
        memcpy(raw, id, len);
        raw[len] = '\0';
        name = evhttp_uridecode(raw, 0, &n);
    }
    if (name && n == strlen(name)) { /* a %00 names nothing */
        found = sl_config_model(cfg, name) != NULL;
        route = !found && sl_config_route(cfg, name);
        found = found || route;
    }
    sl_buf_init(&b, 4096);
    if (!found) {
        sl_server_error(w, req, NULL, 404, "invalid_request_error", "model_not_found", "model",
                        "No model or route of that name.");
    } else if (sl_snapshot_model_json(&b, name, route) || sl_buf_adds(&b, "\n")) {
        sl_server_error(w, req, NULL, 500, "server_error", "internal_error", NULL,
                        "Out of memory.");
    } else {
        send_text(w, req, "application/json", b.data, b.len);
    }
    sl_buf_free(&b);
    free(name);
}

/* Routes one request by path. Anything unknown gets an OpenAI-shaped 404. */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct sl_worker *w = arg;
    const char *uri = evhttp_request_get_uri(req);
    size_t plen = strcspn(uri, "?#");
    bool model = plen > 11 && memcmp(uri, "/v1/models/", 11) == 0; /* /v1/models/ID */

    if (w->draining) /* answer, but tell keep-alive clients to go elsewhere next time */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");

#define PATH_IS(p) (plen == sizeof(p) - 1 && memcmp(uri, p, plen) == 0)
    if (PATH_IS("/v1/chat/completions")) {
        sl_call_handle(w, req, SL_ENDPOINT_CHAT);
    } else if (PATH_IS("/v1/embeddings")) {
        sl_call_handle(w, req, SL_ENDPOINT_EMBEDDINGS);
    } else if (PATH_IS("/v1/models") || model || PATH_IS("/health") || PATH_IS("/metrics")) {
        if (!is_get(req)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
            sl_server_error(w, req, NULL, 405, "invalid_request_error", "method_not_allowed", NULL,
                            "Use GET for this endpoint.");
        } else if (PATH_IS("/v1/models")) {
            const char *models = sl_server_snapshot(w)->models_json;
            send_text(w, req, "application/json", models, strlen(models));
        } else if (model) {
            handle_model(w, req, uri + 11, plen - 11);
        } else if (PATH_IS("/health")) {
            char ok[80];
            int n = snprintf(ok, sizeof(ok), "{\"status\":\"ok\",\"config_version\":%lld}\n",
                             (long long)sl_server_snapshot(w)->version);
            send_text(w, req, "application/json", ok, (size_t)n);
        } else {
            handle_metrics(w, req);
        }
    } else if (plen >= 6 && memcmp(uri, "/admin", 6) == 0 && (plen == 6 || uri[6] == '/')) {
        sl_admin_handle(w, req, uri, plen);
    } else {
        sl_server_error(w, req, NULL, 404, "invalid_request_error", "not_found", NULL,
                        "Unknown path. Sluice serves /v1/chat/completions, /v1/embeddings, "
                        "/v1/models, /v1/models/ID, /health, /metrics and /admin/.");
    }
#undef PATH_IS
}

#define DRAIN_TICK_MS 50
#define DRAIN_MAX_MS  30000

/* While draining: exit once no call has been in flight for a whole tick, which also gives
 * the last answers' bytes a loop pass or more to leave their buffers. */
static void on_drain_tick(evutil_socket_t fd, short events, void *arg)
{
    struct sl_worker *w = arg;

    w->drain_ticks++;
    if (w->in_flight == 0 && w->drain_idle++ >= 1) {
        event_base_loopexit(w->base, NULL);
    } else if (w->drain_ticks * DRAIN_TICK_MS >= DRAIN_MAX_MS) {
        sl_warn("drain took over %d ms: stopping with %d requests in flight", DRAIN_MAX_MS,
                w->in_flight);
        event_base_loopexit(w->base, NULL);
    } else if (w->in_flight) {
        w->drain_idle = 0;
    }
}

/* Releases the references retire() put off. */
static void on_reap(evutil_socket_t fd, short events, void *arg)
{
    struct sl_worker *w = arg;

    for (int i = 0; i < w->n_retired; i++)
        sl_snapshot_release(w->retired[i]);
    w->n_retired = 0;
}

/* Another thread woke the worker: to take a new configuration version ('s'), or to stop ('x'):
 * stop accepting, finish in-flight calls. */
static void on_wake(evutil_socket_t fd, short events, void *arg)
{
    struct sl_worker *w = arg;
    struct timeval tick = {0, DRAIN_TICK_MS * 1000};
    char buf[64];
    ssize_t n = read(fd, buf, sizeof(buf));

    sl_server_snapshot(w);
    if (n <= 0 || !memchr(buf, 'x', (size_t)n) || w->draining)
        return;
    w->draining = true;
    evconnlistener_disable(w->listener);
    w->drain_ev = event_new(w->base, -1, EV_PERSIST, on_drain_tick, w);
    if (!w->drain_ev || event_add(w->drain_ev, &tick))
        event_base_loopexit(w->base, NULL);
}

static void *worker_main(void *arg)
{
    struct sl_worker *w = arg;
    sigset_t all;

    /* Signals are the main thread's business. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    event_base_dispatch(w->base);
    return NULL;
}

static struct evconnlistener *listen_on(struct event_base *base, const char *host, int port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    struct evconnlistener *l = NULL;
    char portstr[16];
    int rc;

    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc) {
        sl_error("listen %s:%d: %s", host, port, gai_strerror(rc));
        return NULL;
    }
    /* SO_REUSEPORT: every worker has its own socket on the same port and the kernel
     * spreads connections over them, instead of one thread waking for all. */
    l = evconnlistener_new_bind(base, NULL, NULL,
                                LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE,
                                1024, ai->ai_addr, (int)ai->ai_addrlen);
    if (!l) {
        sl_error("listen %s:%d: %s", host, port, strerror(errno));
    } else {
        /* Accepted sockets inherit TCP_NODELAY on Linux: stream chunks go out as they come
         * instead of waiting for the client's delayed ACK of the previous one. */
        int one = 1;
        setsockopt(evconnlistener_get_fd(l), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    freeaddrinfo(ai);
    return l;
}

static int worker_init(struct sl_server *srv, struct sl_worker *w, int port)
{
    const struct sl_config *cfg = srv->cfg;
    struct event_config *ec = event_config_new();

    w->server = srv;
    w->wake_pipe[0] = w->wake_pipe[1] = -1;
    sl_rand_seed_os(&w->rng);
    sl_features_init(&w->features);
    sl_metrics_init(&w->metrics, cfg);
    if (!ec)
        return SL_ENOMEM;
    /* Coalesces add/del pairs on a socket into one epoll_ctl per loop pass. */
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    if (!w->base)
        return SL_ENOMEM;
    w->listener = listen_on(w->base, cfg->listen_host, port);
    if (!w->listener)
        return SL_ESYS;
    w->http = evhttp_new(w->base);
    w->up = sl_upstream_create(w->base, sl_call_upstream_done);
    /* Non-blocking both ways: a full pipe already holds a wake-up, and no writer may wait. */
    if (!w->http || !w->up || pipe2(w->wake_pipe, O_NONBLOCK | O_CLOEXEC))
        return SL_ENOMEM;
    w->wake_ev = event_new(w->base, w->wake_pipe[0], EV_READ | EV_PERSIST, on_wake, w);
    w->reap_ev = event_new(w->base, -1, 0, on_reap, w);
    if (!w->wake_ev || !w->reap_ev || event_add(w->wake_ev, NULL))
        return SL_ENOMEM;
    /* evhttp's own limit answers with an HTML page; ours answers in OpenAI's shape. So
     * evhttp's is set higher, only to bound memory, and the call checks the real limit. */
    evhttp_set_max_body_size(w->http, (ev_ssize_t)(cfg->max_body_bytes * 2 + 65536));
    evhttp_set_max_headers_size(w->http, (ev_ssize_t)cfg->max_header_bytes);
    evhttp_set_allowed_methods(w->http, ALL_METHODS);
    evhttp_set_timeout(w->http, 120);
    evhttp_set_gencb(w->http, on_request, w);
    if (!evhttp_bind_listener(w->http, w->listener))
        return SL_ESYS;
    return 0;
}

/* Prebuilds what every attempt on a deployment needs: no per-request formatting. */
static int target_init(struct sl_target *t, const struct sl_deployment *d)
{
    const struct sl_provider *p = d->provider;
    struct sl_buf b;
    struct curl_slist *h = NULL;

    sl_buf_init(&b, 4096);
    if (sl_buf_addf(&b, "%s/chat/completions", p->base_url))
        return SL_ENOMEM;
    t->url_chat = sl_buf_take(&b, NULL);
    if (sl_buf_addf(&b, "%s/embeddings", p->base_url))
        return SL_ENOMEM;
    t->url_embeddings = sl_buf_take(&b, NULL);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = h ? curl_slist_append(h, "Expect:") : NULL; /* no 100-continue round trip */
    if (h && p->api_key) {
        if (sl_buf_addf(&b, "Authorization: Bearer %s", p->api_key))
            return SL_ENOMEM;
        h = curl_slist_append(h, b.data);
        sl_buf_free(&b);
    }
    t->headers = h;
    return h ? 0 : SL_ENOMEM;
}

void sl_server_publish(struct sl_server *srv, struct sl_snapshot *snap)
{
    for (size_t i = 0; i < srv->n_workers; i++) {
        struct sl_worker *w = &srv->workers[i];
        /* The exchange hands the reference over whole: the worker takes it with another
         * exchange, and a newer one replaces one the worker has not taken yet. */
        sl_snapshot_release(
            __atomic_exchange_n(&w->mailbox, sl_snapshot_ref(snap), __ATOMIC_ACQ_REL));
        if (w->wake_pipe[1] >= 0 && write(w->wake_pipe[1], "s", 1) < 0) {
            /* the pipe is full: the worker has a wake-up pending */
        }
    }
    __atomic_store_n(&srv->version, snap->version, __ATOMIC_RELEASE);
    sl_snapshot_release(snap);
}

/* Releases snap after the events already due in this loop pass. */
static void retire(struct sl_worker *w, struct sl_snapshot *snap)
{
    if (!snap)
        return;
    if (w->n_retired == (int)(sizeof(w->retired) / sizeof(*w->retired))) {
        sl_snapshot_release(snap);
        return;
    }
    w->retired[w->n_retired++] = snap;
    event_active(w->reap_ev, EV_TIMEOUT, 0);
}

void sl_server_release(struct sl_worker *w, struct sl_snapshot *snap)
{
    if (snap == w->snap)
        sl_snapshot_release(snap); /* the worker holds it too: not the last reference */
    else
        retire(w, snap);
}

struct sl_snapshot *sl_server_snapshot(struct sl_worker *w)
{
    /* A relaxed load first: the common case (nothing new) costs no atomic write. */
    if (__atomic_load_n(&w->mailbox, __ATOMIC_RELAXED)) {
        struct sl_snapshot *s = __atomic_exchange_n(&w->mailbox, NULL, __ATOMIC_ACQ_REL);
        if (s) {
            retire(w, w->snap);
            w->snap = s;
        }
    }
    return w->snap;
}

/* Opens keys.db and starts the audit writer, both in the data directory. */
static int open_data(struct sl_server *srv)
{
    const struct sl_config *cfg = srv->cfg;
    char keys[4096], audit[4096], err[1024];
    struct sl_audit_options opt = {.max_queue = (size_t)cfg->audit.max_queue,
                                   .batch_rows = (size_t)cfg->audit.batch_rows,
                                   .flush_ms = cfg->audit.flush_ms};

    if (sl_db_mkdirs(cfg->data_dir)) {
        sl_error("%s: cannot create the data directory: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    snprintf(keys, sizeof(keys), "%s/keys.db", cfg->data_dir);
    snprintf(audit, sizeof(audit), "%s/audit.db", cfg->data_dir);
    if (cfg->auth_required &&
        !(srv->accounts = sl_accounts_create(keys, audit, err, sizeof(err)))) {
        sl_error("%s", err);
        return -1;
    }
    if (cfg->audit.enabled && !(srv->audit = sl_audit_create(audit, &opt, err, sizeof(err)))) {
        sl_error("%s", err);
        return -1;
    }
    return 0;
}

struct sl_server *sl_server_create(const struct sl_config *cfg)
{
    struct sl_server *srv = calloc(1, sizeof(*srv));
    struct sl_snapshot *snap;
    int port = cfg->listen_port;

    if (!srv)
        return NULL;
    srv->cfg = cfg;
    for (const char *const *v =
             (const char *const[]){"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                   "all_proxy", "ALL_PROXY", NULL};
         *v; v++)
        srv->env_proxy |= getenv(*v) != NULL;
    srv->health = calloc(cfg->n_deployments, sizeof(*srv->health));
    srv->targets = calloc(cfg->n_deployments, sizeof(*srv->targets));
    srv->workers = calloc((size_t)cfg->workers, sizeof(*srv->workers));
    if (!srv->health || !srv->targets || !srv->workers)
        goto fail;
    if ((cfg->auth_required || cfg->audit.enabled) && open_data(srv))
        goto fail;
    if (cfg->evaluators.endpoints) {
        if (!(srv->zmq = zmq_ctx_new())) {
            sl_error("cannot create a ZeroMQ context: %s", zmq_strerror(errno));
            goto fail;
        }
        if (!(srv->sampler = sl_sampler_create(srv->zmq, &cfg->evaluators)))
            goto fail;
    }
    for (size_t i = 0; i < cfg->n_deployments; i++) {
        srv->health[i] = sl_health_create(&cfg->breaker);
        if (!srv->health[i] || target_init(&srv->targets[i], &cfg->deployments[i]))
            goto fail;
    }
    for (int i = 0; i < cfg->workers; i++) {
        srv->n_workers++;
        if (worker_init(srv, &srv->workers[i], port))
            goto fail;
        if (i == 0)
            port = sl_portfile_bound(evconnlistener_get_fd(
                srv->workers[0].listener)); /* port 0: the rest join this one */
    }
    srv->port = port;
    /* Version 0: the file's own routes, until a controller sends a version. */
    if (!(snap = sl_snapshot_create((struct sl_config *)cfg, false, 0)))
        goto fail;
    sl_server_publish(srv, snap);
    for (size_t i = 0; i < srv->n_workers; i++)
        sl_server_snapshot(&srv->workers[i]);
    if (cfg->controller.snapshot && !(srv->follower = sl_follower_create(srv)))
        goto fail;
    return srv;
fail:
    sl_server_destroy(srv);
    return NULL;
}

int sl_server_run(struct sl_server *srv)
{
    size_t started = 0;
    int rc = 0;

    for (; started < srv->n_workers; started++) {
        if (pthread_create(&srv->workers[started].thread, NULL, worker_main,
                           &srv->workers[started])) {
            sl_error("cannot start worker thread: %s", strerror(errno));
            sl_server_stop(srv);
            rc = SL_ESYS;
            break;
        }
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(srv->workers[i].thread, NULL);
    return rc;
}

void sl_server_stop(struct sl_server *srv)
{
    for (size_t i = 0; i < srv->n_workers; i++) {
        if (srv->workers[i].wake_pipe[1] >= 0 && write(srv->workers[i].wake_pipe[1], "x", 1) < 0) {
            /* the pipe is full: a stop is already pending */
        }
    }
}

static void worker_free(struct sl_worker *w)
{
    /* evhttp_free closes the client connections, which frees any call still attached. */
    if (w->http)
        evhttp_free(w->http);
    sl_upstream_destroy(w->up);
    sl_call_pool_free(w);
    if (w->wake_ev)
        event_free(w->wake_ev);
    if (w->reap_ev) {
        on_reap(-1, 0, w);
        event_free(w->reap_ev);
    }
    if (w->drain_ev)
        event_free(w->drain_ev);
    for (int i = 0; i < 2; i++)
        if (w->wake_pipe[i] >= 0)
            close(w->wake_pipe[i]);
    if (w->listener && !w->http)
        evconnlistener_free(w->listener);
    if (w->base)
        event_base_free(w->base);
    sl_metrics_free(&w->metrics);
    sl_features_free(&w->features);
    free(w->route_text);
    sl_snapshot_release(w->mailbox);
    sl_snapshot_release(w->snap);
}

void sl_server_destroy(struct sl_server *srv)
{
    if (!srv)
        return;
    sl_follower_destroy(srv->follower); /* first: it publishes to the workers */
    for (size_t i = 0; i < srv->n_workers; i++)
        worker_free(&srv->workers[i]);
    for (size_t i = 0; srv->targets && i < srv->cfg->n_deployments; i++) {
        free(srv->targets[i].url_chat);
        free(srv->targets[i].url_embeddings);
        curl_slist_free_all(srv->targets[i].headers);
    }
    for (size_t i = 0; srv->health && i < srv->cfg->n_deployments; i++)
        sl_health_destroy(srv->health[i]);
    free(srv->health);
    free(srv->targets);
    free(srv->workers);
    sl_audit_destroy(srv->audit); /* after the workers: their last calls' rows are queued */
    sl_sampler_destroy(srv->sampler, 1000); /* queued samples get a second to leave */
    if (srv->zmq)
        zmq_ctx_term(srv->zmq); /* after the samplers' sockets are closed */
    sl_accounts_destroy(srv->accounts);
    free(srv);
}
