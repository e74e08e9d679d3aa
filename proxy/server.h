/* The proxy's HTTP server: worker threads, each with its own event loop, listening socket
 * (SO_REUSEPORT, all on one port), evhttp and upstream client. sl_server_create binds every
 * socket up front so that start-up errors are reported before anything runs; the server
 * owns its workers and the per-deployment state, and borrows the config, which must
 * outlive it. */
#ifndef SL_SERVER_H
#define SL_SERVER_H

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdbool.h>

#include "config.h"
#include "fdmap.h"
#include "features.h"
#include "metrics.h"
#include "rand.h"

struct sl_accounts;
struct sl_sampler;
struct sl_audit;
struct sl_health;
struct sl_upstream;
struct sl_call;
struct sl_follower;
struct sl_snapshot;

/* How to reach one deployment: prebuilt URLs and headers, shared read-only by workers. */
struct sl_target {
    char *url_chat;
    char *url_embeddings;
    struct curl_slist *headers; /* Content-Type, Authorization (the provider key), Expect */
};

struct sl_worker {
    struct sl_server *server;
    struct sl_snapshot *snap;    /* the configuration version new calls get (a reference) */
    struct sl_snapshot *mailbox; /* a newer one, handed over by sl_server_publish */
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener;
    struct sl_upstream *up;
    struct sl_metrics metrics;
    struct sl_rand rng;
    struct event *wake_ev; /* other threads write to wake_pipe: 'x' to drain, 's' to swap */
    struct event *reap_ev; /* activated to release the references in retired */
    struct sl_snapshot *retired[32];
    int n_retired;
    int wake_pipe[2];
    int in_flight; /* calls not yet finished */
    bool draining;
    struct event *drain_ev; /* while draining, checks whether the worker may exit */
    int drain_ticks, drain_idle;
    struct sl_call *free_calls;
    struct sl_fdmap clients;     /* struct sl_client *: the client connections' watches (call.c) */
    struct sl_features features; /* scratch for routing, reused by every request */
    char *route_text;
    size_t route_text_cap;
    pthread_t thread;
};

struct sl_server {
    const struct sl_config *cfg;
    int port;                     /* the bound port, useful when the config asked for 0 */
    struct sl_health **health;    /* [deployment] */
    struct sl_target *targets;    /* [deployment] */
    struct sl_follower *follower; /* follows the controller; NULL without one */
    int64_t version;              /* the version published last (atomic) */
    bool env_proxy;               /* an http(s)_proxy/all_proxy variable is set: let curl use it */
    struct sl_accounts *accounts; /* teams and keys; NULL when auth is not required */
    struct sl_audit *audit;       /* the audit log writer; NULL when the log is off */
    void *zmq;                    /* ZeroMQ context; NULL without evaluators */
    struct sl_sampler *sampler;   /* sends samples to the evaluators; NULL without them */
    struct sl_worker *workers;
    size_t n_workers;
};

/* Opens keys.db and audit.db in the data directory, binds the listening sockets and prepares
 * every worker; NULL after logging why. */
struct sl_server *sl_server_create(const struct sl_config *cfg);
/* Runs the workers until sl_server_stop has drained them. Returns when all have exited. */
int sl_server_run(struct sl_server *srv) SL_MUST_CHECK;
/* Asks every worker to stop accepting, finish its in-flight requests and exit.
 * Async-signal-safe: it only writes to pipes. */
void sl_server_stop(struct sl_server *srv);
/* Frees the workers (calls still attached end with them), then flushes the audit log. */
void sl_server_destroy(struct sl_server *srv);

/* Makes snap (a reference, which is taken) the version every worker's new calls get: each
 * worker picks it up at its next request or wake-up and drops its old one, which is freed when
 * the last call on it ends. Thread-safe; never blocks on the workers. */
void sl_server_publish(struct sl_server *srv, struct sl_snapshot *snap);
/* The version the worker's new calls get (borrowed: take a reference to keep it). */
struct sl_snapshot *sl_server_snapshot(struct sl_worker *w);
/* Drops a call's reference to its version. A reference to an older version than the worker's
 * is dropped later in the loop pass (the last one frees a whole configuration, which is then
 * no part of the latency of the calls already due). */
void sl_server_release(struct sl_worker *w, struct sl_snapshot *snap);

/* The client's key: "Authorization: Bearer KEY" or "x-api-key: KEY"; NULL when neither. */
const char *sl_server_secret(struct evhttp_request *req, size_t *len);

/* Sends an OpenAI-shaped error: {"error":{"message","type","param","code"}}. */
void sl_server_error(struct sl_worker *w, struct evhttp_request *req, const char *reqid, int status,
                     const char *type, const char *code, const char *param, const char *message);
/* Sends a complete response and counts its status. */
void sl_server_send(struct sl_worker *w, struct evhttp_request *req, int status,
                    struct evbuffer *body);
/* Counts a response whose status went out through evhttp_send_reply_start. */
void sl_server_count(struct sl_worker *w, int status);
/* Sends a stream's chunk (taking chunk's bytes); cb runs once it is written. */
void sl_server_send_chunk(struct evhttp_request *req, struct evbuffer *chunk,
                          void (*cb)(struct evhttp_connection *, void *), void *arg);

#endif
