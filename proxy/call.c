/* A proxied call: validate, choose a deployment, send upstream, retry or fall back before
 * the first byte reaches the client, then stream or send the answer back. */
#include "call.h"
#include "accounts.h"
#include "audit.h"
#include "health.h"
#include "sampler.h"
#include "server.h"
#include "snapshot.h"
#include "upstream.h"

#define SL_LOG_MODULE "call"
#include "buf.h"
#include "clock.h"
#include "cost.h"
#include "json.h"
#include "log.h"
#include "redact.h"
#include "reqid.h"
#include "sse.h"
#include "tokens.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event_struct.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_DEPLOYMENTS   SL_CONFIG_MAX_DEPLOYMENTS
#define MAX_RESPONSE      (64u << 20) /* a non-stream answer larger than this is refused */
#define MAX_ERROR_BODY    (64u << 10) /* an upstream error body is kept up to this */
#define MAX_SSE_EVENT     (4u << 20)  /* one SSE event from upstream */
#define CLIENT_HIGH_WATER (1u << 20)  /* pause the upstream while the client lags this much */
#define MAX_ANSWER_TEXT   (1u << 20)  /* a stream's text kept for payload logging or counting */

/* A client connection's watch (see "the client's connection" below). */
struct sl_client {
    struct event watch; /* EV_READ on the socket */
    bool watching;      /* watch is added */
    bool fresh;         /* a call was attached since the watch last fired */
    evutil_socket_t fd;
    struct sl_worker *w;
    struct sl_call *call; /* the call attached to the connection, or NULL */
};

struct sl_call {
    struct sl_worker *w;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    enum sl_endpoint kind;
    const struct sl_model *model; /* what the client asked for, or what its route chose */
    const struct sl_route *route; /* the route the client asked for, or NULL */
    size_t tier;
    double score;
    const char *body; /* the client's body, inside req's input buffer */
    size_t body_len;
    size_t mstart, mend; /* span of the "model" value in body; 0, 0 when the raw scan missed it */
    bool stream;
    char reqid[SL_REQID_MAX + 1];
    uint64_t t_start, t_attempt, upstream_us;

    /* attempts */
    int attempts, n_timeouts, n_429;
    uint64_t tried[MAX_DEPLOYMENTS / 64];
    uint64_t retry_after_us; /* the shortest Retry-After seen, for a final 429 */

    /* the current attempt */
    const struct sl_deployment *dep;
    const struct sl_model *dep_model; /* the alias it was chosen from */
    bool probe;
    CURL *easy;
    long status;
    bool failed; /* a callback decided this attempt failed: reason in fail */
    enum sl_fail fail;
    struct sl_buf upbody;  /* the upstream body when the model name changes */
    struct evbuffer *resp; /* a non-stream answer, or an upstream error body */
    struct evbuffer *chunk;
    struct sl_sse sse;
    bool sent_headers, saw_done, paused;
    bool may_inject;    /* a stream without stream_options: we may ask for the usage chunk */
    bool inject_usage;  /* this attempt asked for it (its provider supports it) */
    size_t close_brace; /* offset of the body's final '}', where the request is extended */
    struct sl_usage usage;
    bool have_usage;

    /* accounting */
    struct sl_audit_row row;      /* filled as the call goes, pushed to the audit log at its end */
    struct sl_admission adm;      /* key, team and reserved limits; adm.key NULL when none */
    bool client_usage;            /* the client asked for the stream's usage chunk itself */
    struct sl_sample_job *sample; /* when the call is sampled: its job, filled as it goes */
    char finish_reason[24];       /* a stream's, from its events */
    int sent_status;              /* the status the client got (499: it left first) */
    const char *err_code;         /* the error code the client got, or NULL */
    double cost, premium_cost;    /* USD; < 0: unknown or unpriced */
    bool tokens_estimated;        /* no usage from upstream: counted by us */
    bool keep_text;               /* collect the answer's text (payload log, or no usage coming) */
    bool text_cut;                /* the text outgrew MAX_ANSWER_TEXT and was not all kept */
    long content_events;          /* a stream's events: a fallback token count when no text kept */
    struct sl_buf text;           /* a stream's answer text, when kept */

    struct event timer;       /* first-byte timeout, or the wait for a Retry-After */
    struct sl_client *client; /* the connection's watch, while the call is attached to it */
    struct sl_snapshot *snap; /* the configuration version serving the call (a reference) */
    const struct sl_arm *arm; /* the route's A/B arm for the call, or NULL */
    struct sl_call *next_free;
};

static void attempt(struct sl_call *c);
static void call_end(struct sl_call *c);

/* --- small helpers --------------------------------------------------------------------- */

static bool tried(const struct sl_call *c, size_t i)
{
    return c->tried[i / 64] >> (i % 64) & 1;
}

/* Time spent in the gateway so far: total minus upstream, the attempt in flight included. */
static uint64_t overhead_us(const struct sl_call *c)
{
    uint64_t now = sl_clock_mono_us();
    uint64_t total = now - c->t_start;
    uint64_t up = c->upstream_us + (c->easy ? now - c->t_attempt : 0);

    return total > up ? total - up : 0;
}

static void add_reset(struct evkeyvalq *h, const char *name, long ms)
{
    char v[32];

    if (ms < 1000)
        snprintf(v, sizeof(v), "%ldms", ms);
    else
        snprintf(v, sizeof(v), "%lds", (ms + 999) / 1000);
    evhttp_add_header(h, name, v);
}

/* x-ratelimit-* (OpenAI's names) for the tightest of the key's and team's limits, and what is
 * left of the team's budget. */
static void add_limit_headers(struct sl_call *c)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    const struct sl_admission *a = &c->adm;
    char num[32];

    if (a->limit_req) {
        snprintf(num, sizeof(num), "%ld", a->limit_req);
        evhttp_add_header(h, "x-ratelimit-limit-requests", num);
        snprintf(num, sizeof(num), "%ld", a->remaining_req);
        evhttp_add_header(h, "x-ratelimit-remaining-requests", num);
        add_reset(h, "x-ratelimit-reset-requests", a->reset_req_ms);
    }
    if (a->limit_tok) {
        snprintf(num, sizeof(num), "%ld", a->limit_tok);
        evhttp_add_header(h, "x-ratelimit-limit-tokens", num);
        snprintf(num, sizeof(num), "%ld", a->remaining_tok);
        evhttp_add_header(h, "x-ratelimit-remaining-tokens", num);
        add_reset(h, "x-ratelimit-reset-tokens", a->reset_tok_ms);
    }
    if (a->key && a->budget_left_usd >= 0) { /* admitted with a key whose team has a budget */
        snprintf(num, sizeof(num), "%.6f", a->budget_left_usd);
        evhttp_add_header(h, "x-sluice-budget-remaining-usd", num);
    }
}

static void add_common_headers(struct sl_call *c, const char *content_type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    char num[32];

    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "x-request-id", c->reqid);
    if (c->route) {
        snprintf(num, sizeof(num), "%.6f", c->score);
        evhttp_add_header(h, "x-sluice-route", c->route->name);
        evhttp_add_header(h, "x-sluice-tier", c->route->tiers[c->tier].name);
        evhttp_add_header(h, "x-sluice-score", num);
        if (c->arm)
            evhttp_add_header(h, "x-sluice-arm", c->arm->name);
    }
    snprintf(num, sizeof(num), "%lld", (long long)c->snap->version);
    evhttp_add_header(h, "x-sluice-config-version", num);
    if (c->dep) {
        evhttp_add_header(h, "x-sluice-model", c->dep->name);
        snprintf(num, sizeof(num), "%d", c->attempts);
        evhttp_add_header(h, "x-sluice-attempts", num);
    }
    snprintf(num, sizeof(num), "%llu", (unsigned long long)overhead_us(c));
    evhttp_add_header(h, "x-sluice-overhead-us", num);
    add_limit_headers(c);
}

static void observe_overhead(struct sl_call *c)
{
    struct sl_metrics *m = &c->w->metrics;
    const struct sl_config *cfg = c->snap->cfg;
    size_t mi = (size_t)(c->model - cfg->models);

    if (!c->dep)
        return;
    sl_metrics_observe(&m->overhead[mi * cfg->n_deployments + c->dep->index], overhead_us(c));
}

/* Lets go of the client before its final answer: evhttp may free the connection (and call
 * the close callback) as soon as that answer is written. The watch stays for the next call. */
static void detach_client(struct sl_call *c)
{
    if (!c->client)
        return;
    c->client->call = NULL;
    c->client = NULL;
}

static void error_reply_param(struct sl_call *c, int status, const char *type, const char *code,
                              const char *param, const char *message)
{
    c->sent_status = status;
    c->err_code = code;
    detach_client(c);
    sl_server_error(c->w, c->req, c->reqid, status, type, code, param, message);
}

static void error_reply(struct sl_call *c, int status, const char *type, const char *code,
                        const char *message)
{
    error_reply_param(c, status, type, code, NULL, message);
}

/* --- the client's side ---------------------------------------------------------------- */

/* Drops the upstream side of the current attempt, if any. */
static void stop_attempt(struct sl_call *c)
{
    if (event_initialized(&c->timer))
        event_del(&c->timer);
    if (c->easy) {
        sl_upstream_cancel(c->w->up, c->easy);
        sl_upstream_release(c->w->up, c->easy);
        c->easy = NULL;
        if (c->probe)
            sl_health_abandon(c->w->server->health[c->dep->index], sl_clock_mono_us());
        c->probe = false;
    }
}

/* Records that the client left before its answer was complete (nginx's 499). */
static void client_left(struct sl_call *c)
{
    if (!c->sent_status || c->sent_headers) {
        c->sent_status = 499;
        c->err_code = "client_closed_request";
    }
}

/* --- the client's connection ------------------------------------------------------------
 * evhttp stops reading a connection while a request is being answered, so a client that hangs
 * up during a slow upstream would go unnoticed until the first write: we watch the socket
 * ourselves. The watch belongs to the connection, not to a call: added once, it stays while the
 * connection lives (found again by its descriptor). evhttp's own reading then starts and stops
 * beside it without changing what epoll watches, where a watch per call cost two epoll_ctl
 * calls a call. */
/* evhttp is freeing the connection (the client left, a write failed, the worker stops), before
 * it closes the socket. */
static void on_client_close(struct evhttp_connection *evcon, void *arg)
{
    struct sl_client *cl = arg;
    struct sl_call *c = cl->call;

    if (cl->watching)
        event_del(&cl->watch);
    *sl_fdmap_slot(&cl->w->clients, cl->fd) = NULL;
    free(cl);
    if (!c)
        return;
    c->client = NULL;
    sl_metrics_inc(&c->w->metrics.client_cancels);
    client_left(c);
    stop_attempt(c);
    /* A request evhttp detached from its connection is ours to free; an attached one is
     * freed by evhttp with the connection. */
    if (!evhttp_request_get_connection(c->req))
        evhttp_request_free(c->req);
    c->req = NULL;
    call_end(c);
}

static void on_client_readable(evutil_socket_t fd, short events, void *arg)
{
    struct sl_client *cl = arg;
    struct sl_call *c = cl->call;
    char ch;
    ssize_t n;

    if (c && cl->fresh) {
        /* Fired with evhttp's read of the request just attached, whose bytes are gone: no
         * need to look. A hang-up that came with them leaves the socket readable, and the
         * watch fires again on the next loop pass. */
        cl->fresh = false;
        return;
    }
    n = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0 || !c) {
        /* A pipelined request, or bytes (an end of file) evhttp reads when it reads again:
         * not a hang-up of a call. Stop watching, or the level-triggered watch would fire on
         * every loop pass until then; the next call watches again. */
        event_del(&cl->watch);
        cl->watching = false;
        return;
    }
    sl_metrics_inc(&c->w->metrics.client_cancels);
    client_left(c);
    stop_attempt(c);
    detach_client(c);
    evhttp_connection_free(c->evcon); /* frees c->req and cl with it */
    c->req = NULL;
    call_end(c);
}

/* Attaches c to its connection's watch, making the watch the first time. False when out of
 * memory (the call then goes unwatched). */
static bool watch_client(struct sl_call *c)
{
    struct sl_worker *w = c->w;
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon));
    void **slot = sl_fdmap_slot(&w->clients, fd);
    struct sl_client *cl;

    if (!slot)
        return false;
    cl = *slot;
    if (!cl) {
        if (!(cl = calloc(1, sizeof(*cl))))
            return false;
        cl->fd = fd;
        cl->w = w;
        event_assign(&cl->watch, w->base, fd, EV_READ | EV_PERSIST, on_client_readable, cl);
        evhttp_connection_set_closecb(c->evcon, on_client_close, cl);
        *slot = cl;
    }
    if (!cl->watching)
        cl->watching = event_add(&cl->watch, NULL) == 0;
    cl->call = c;
    cl->fresh = true;
    c->client = cl;
    return true;
}

static void on_client_drained(struct evhttp_connection *evcon, void *arg)
{
    struct sl_call *c = arg;

    if (c->paused && c->easy) {
        c->paused = false;
        curl_easy_pause(c->easy, CURLPAUSE_CONT);
    }
}

static void send_chunk(struct sl_call *c, const char *p, size_t n)
{
    evbuffer_add(c->chunk, p, n);
    sl_server_send_chunk(c->req, c->chunk, on_client_drained, c);
}

static void start_stream(struct sl_call *c)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);

    add_common_headers(c, "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_send_reply_start(c->req, 200, "OK");
    sl_server_count(c->w, 200);
    c->sent_status = 200;
    c->sent_headers = true;
    observe_overhead(c);
}

/* Ends a stream that already reached the client with an error event: never a silent cut. */
static void end_stream_with_error(struct sl_call *c, const char *message)
{
    struct sl_buf b;
    int rc;

    sl_buf_init(&b, 4096);
    rc = sl_buf_adds(&b, "data: ");
    rc = rc ? rc : sl_json_add_error(&b, "server_error", "upstream_stream_error", NULL, message);
    rc = rc ? rc : sl_buf_adds(&b, "\n\n");
    if (rc == 0)
        send_chunk(c, b.data, b.len);
    sl_buf_free(&b);
    c->err_code = "upstream_stream_error";
    detach_client(c);
    evhttp_send_reply_end(c->req);
    c->req = NULL;
}

/* --- the upstream's side -------------------------------------------------------------- */

static size_t on_header(char *line, size_t size, size_t nitems, void *arg)
{
    struct sl_call *c = arg;
    size_t n = size * nitems;

    if (n > 5 && memcmp(line, "HTTP/", 5) == 0) {
        const char *sp = memchr(line, ' ', n);
        c->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        event_del(&c->timer); /* the first byte arrived */
    } else if (n > 12 && strncasecmp(line, "retry-after:", 12) == 0) {
        long s = strtol(line + 12, NULL, 10); /* an HTTP-date reads as 0: no wait known */
        if (s > 0 && s < 86400) {
            uint64_t us = (uint64_t)s * 1000000u;
            if (!c->retry_after_us || us < c->retry_after_us)
                c->retry_after_us = us;
            sl_health_cool_down(c->w->server->health[c->dep->index], sl_clock_mono_us() + us);
        }
    }
    return n;
}

/* Forwards the complete SSE events now buffered, as one chunk. Every event must be JSON or
 * the [DONE] marker; the first bad one fails the attempt (and, once bytes have gone out,
 * ends the stream with an error). */
static void flush_events(struct sl_call *c, const char *first, size_t len)
{
    if (!len)
        return;
    if (!c->sent_headers)
        start_stream(c);
    send_chunk(c, first, len);
}

/* True for the include_usage chunk we asked for ourselves: usage and no choices. Providers
 * that put usage on content chunks too keep those chunks. */
static bool is_our_usage_chunk(const struct sl_call *c, const struct sl_sse_event *ev)
{
    size_t s, e;

    return c->inject_usage && sl_json_member_span(ev->data, ev->data_len, "choices", &s, &e) &&
           e - s >= 2 && ev->data[s] == '[' && ev->data[s + 1] == ']';
}

static bool forward_events(struct sl_call *c)
{
    struct sl_sse_event ev;
    const char *first = NULL;
    size_t len = 0;
    int rc;

    while ((rc = sl_sse_next(&c->sse, &ev)) == 1) {
        if (ev.done) {
            c->saw_done = true;
        } else if (ev.data_len && !sl_json_valid(ev.data, ev.data_len)) {
            rc = SL_EPARSE;
            break;
        } else {
            c->content_events++;
            if (c->keep_text && sl_json_chat_text(ev.data, ev.data_len, &c->text, c->finish_reason,
                                                  sizeof(c->finish_reason))) {
                c->keep_text = false; /* too long: the payload log gets what was kept */
                c->text_cut = true;
            }
            if (strstr(ev.data, "\"usage\"")) {
                c->have_usage |= sl_usage_parse(ev.data, ev.data_len, &c->usage);
                if (is_our_usage_chunk(c, &ev)) {
                    flush_events(c, first, len);
                    first = NULL;
                    len = 0;
                    continue;
                }
            }
        }
        if (!first)
            first = ev.raw;
        len = (size_t)(ev.raw + ev.raw_len - first);
    }
    flush_events(c, first, len);
    if (rc < 0) {
        c->failed = true;
        c->fail = SL_FAIL_MALFORMED;
        return false;
    }
    return true;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    struct sl_call *c = arg;
    size_t n = size * nmemb;

    if (c->status < 200 || c->status > 299) {
        size_t room = MAX_ERROR_BODY - evbuffer_get_length(c->resp);
        evbuffer_add(c->resp, p, n < room ? n : room);
        return n;
    }
    if (!c->stream) {
        if (evbuffer_get_length(c->resp) + n > MAX_RESPONSE) {
            c->failed = true;
            c->fail = SL_FAIL_OTHER;
            return 0;
        }
        evbuffer_add(c->resp, p, n);
        return n;
    }
    if (c->sent_headers) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
        if (evbuffer_get_length(bufferevent_get_output(bev)) > CLIENT_HIGH_WATER) {
            c->paused = true; /* resumed by on_client_drained */
            return CURL_WRITEFUNC_PAUSE;
        }
    }
    if (sl_sse_feed(&c->sse, p, n)) {
        c->failed = true;
        c->fail = SL_FAIL_MALFORMED;
        return 0;
    }
    return forward_events(c) ? n : 0;
}

static void on_first_byte_timeout(evutil_socket_t fd, short events, void *arg)
{
    struct sl_call *c = arg;

    sl_upstream_cancel(c->w->up, c->easy);
    c->failed = true;
    c->fail = SL_FAIL_TIMEOUT;
    sl_call_upstream_done(c, CURLE_OPERATION_TIMEDOUT);
}

/* --- choosing a deployment ------------------------------------------------------------ */

/* Weighted choice among the alias's deployments that are available and pass the filter
 * (untried first, then any); NULL when none is. */
static const struct sl_deployment *pick(struct sl_call *c, const struct sl_model *m,
                                        bool untried_only, uint64_t now)
{
    struct sl_health *const *health = c->w->server->health;
    const struct sl_deployment *ok[MAX_DEPLOYMENTS];
    size_t n = 0;
    double total = 0, r;

    for (size_t i = 0; i < m->n_deployments; i++) {
        const struct sl_deployment *d = m->deployments[i];
        if (untried_only && tried(c, d->index))
            continue;
        if (!sl_health_available(health[d->index], now))
            continue;
        ok[n++] = d;
        total += d->weight;
    }
    while (n > 0) {
        size_t i = 0;
        r = sl_rand_double(&c->w->rng) * total;
        while (i + 1 < n && r >= ok[i]->weight)
            r -= ok[i++]->weight;
        if (sl_health_acquire(health[ok[i]->index], now, &c->probe))
            return ok[i];
        total -= ok[i]->weight; /* another request took the half-open probe */
        ok[i] = ok[--n];
    }
    return NULL;
}

/* The fallback chain: the requested alias, then its fallbacks in order. Untried
 * deployments anywhere in the chain come before a second try of the same one. */
static bool choose(struct sl_call *c, uint64_t now)
{
    for (int pass = 0; pass < 2; pass++) {
        const struct sl_model *m = c->model;
        for (size_t k = 0; k <= c->model->n_fallbacks; k++) {
            if (k > 0)
                m = c->model->fallbacks[k - 1];
            c->dep = pick(c, m, pass == 0, now);
            if (c->dep) {
                c->dep_model = m;
                return true;
            }
        }
    }
    return false;
}

/* The soonest moment a deployment of the chain comes out of a Retry-After cool-down. */
static uint64_t soonest_cool_down_end(const struct sl_call *c)
{
    struct sl_health *const *health = c->w->server->health;
    uint64_t best = 0;

    for (size_t k = 0; k <= c->model->n_fallbacks; k++) {
        const struct sl_model *m = k ? c->model->fallbacks[k - 1] : c->model;
        for (size_t i = 0; i < m->n_deployments; i++) {
            struct sl_health *h = health[m->deployments[i]->index];
            uint64_t until = sl_health_cool_until(h);
            if (until && sl_health_state(h) == SL_CIRCUIT_CLOSED && (!best || until < best))
                best = until;
        }
    }
    return best;
}

/* --- ending a call -------------------------------------------------------------------- */

/* The usage of an answer whose upstream reported none: counted from the request's text and
 * the answer's text (or, for a stream whose text was not kept, its number of events). */
static void estimate_usage(struct sl_call *c)
{
    cJSON *root = cJSON_ParseWithLength(c->body, c->body_len);
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *it;

    c->usage = (struct sl_usage){0};
    if (c->kind == SL_ENDPOINT_CHAT) {
        c->usage.prompt =
            sl_tokens_estimate_messages(cJSON_GetObjectItemCaseSensitive(root, "messages"));
    } else if (cJSON_IsString(in)) {
        c->usage.prompt = sl_tokens_estimate(in->valuestring, strlen(in->valuestring));
    } else {
        cJSON_ArrayForEach(it, in)
        {
            if (cJSON_IsString(it))
                c->usage.prompt += sl_tokens_estimate(it->valuestring, strlen(it->valuestring));
        }
    }
    cJSON_Delete(root);
    if (c->stream) {
        c->usage.completion = c->text.len && !c->text_cut
                                  ? sl_tokens_estimate(c->text.data, c->text.len)
                                  : c->content_events;
    } else if (c->kind == SL_ENDPOINT_CHAT) {
        struct sl_buf text;
        sl_buf_init(&text, MAX_RESPONSE);
        if (sl_json_chat_text((const char *)evbuffer_pullup(c->resp, -1),
                              evbuffer_get_length(c->resp), &text, NULL, 0) == 0)
            c->usage.completion = sl_tokens_estimate(text.data, text.len);
        sl_buf_free(&text);
    }
    c->have_usage = c->tokens_estimated = true;
}

/* Counts tokens and cost of a successful answer; for a non-stream answer also says the cost
 * in headers (a stream's headers went out before its usage arrived). */
static void account(struct sl_call *c)
{
    const struct sl_config *cfg = c->snap->cfg;
    struct sl_metrics *m = &c->w->metrics;
    size_t mi = (size_t)(c->dep_model - cfg->models);
    double cost;
    char num[32];

    if (!c->stream)
        c->have_usage = sl_usage_parse((const char *)evbuffer_pullup(c->resp, -1),
                                       evbuffer_get_length(c->resp), &c->usage);
    if (!c->have_usage)
        estimate_usage(c);
    sl_metrics_add(&m->tokens[mi * 2], (uint64_t)c->usage.prompt);
    sl_metrics_add(&m->tokens[mi * 2 + 1], (uint64_t)c->usage.completion);
    cost = c->cost = sl_cost_usd(&c->dep_model->price, &c->usage);
    if (cost < 0)
        sl_metrics_inc(&m->unpriced[mi]);
    else
        sl_metrics_add(&m->cost_nusd[mi], (uint64_t)(cost * 1e9 + 0.5));
    if (!c->stream) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
        snprintf(num, sizeof(num), "%.8f", cost);
        evhttp_add_header(h, "x-sluice-cost-usd", cost < 0 ? "unpriced" : num);
    }
    if (c->route) {
        /* The counterfactual: the premium tier's cheapest model, same tokens. */
        const struct sl_tier *top = &c->route->tiers[c->route->n_tiers - 1];
        double premium = c->premium_cost = sl_cost_usd(&top->models[0]->price, &c->usage);
        if (premium >= 0) {
            sl_metrics_add(&m->premium_nusd[c->route->slot], (uint64_t)(premium * 1e9 + 0.5));
            if (!c->stream) {
                snprintf(num, sizeof(num), "%.8f", premium);
                evhttp_add_header(evhttp_request_get_output_headers(c->req),
                                  "x-sluice-premium-cost-usd", num);
            }
        }
    }
}

static void finish_error(struct sl_call *c)
{
    uint64_t now = sl_clock_mono_us(), until = soonest_cool_down_end(c);
    bool limited = c->attempts ? c->n_429 == c->attempts : until > now;
    char msg[256];

    if (limited) {
        /* Tell the client how long the upstream asked us to wait. */
        uint64_t wait = c->attempts ? c->retry_after_us : until - now;
        char ra[32];
        snprintf(ra, sizeof(ra), "%llu",
                 (unsigned long long)(wait ? (wait + 999999) / 1000000 : 1));
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", ra);
        error_reply(c, 429, "rate_limit_error", "upstream_rate_limited",
                    "Every upstream deployment is rate limiting; retry later.");
    } else if (c->attempts == 0) {
        error_reply(c, 503, "server_error", "no_healthy_upstream",
                    "No deployment of this model is available right now (circuit open); "
                    "retry later.");
    } else if (c->n_timeouts == c->attempts) {
        snprintf(msg, sizeof(msg), "The upstream did not answer in time (%d attempt%s).",
                 c->attempts, c->attempts > 1 ? "s" : "");
        error_reply(c, 504, "timeout_error", "upstream_timeout", msg);
    } else {
        snprintf(msg, sizeof(msg), "All %d upstream attempt%s failed.", c->attempts,
                 c->attempts > 1 ? "s" : "");
        error_reply(c, 502, "server_error", "upstream_failed", msg);
    }
    c->req = NULL;
}

static void finish_ok(struct sl_call *c)
{
    struct sl_metrics *m = &c->w->metrics;
    size_t mi = (size_t)(c->model - c->snap->cfg->models);

    if (c->dep_model != c->model)
        sl_metrics_inc(&m->fallbacks[mi]);
    account(c);
    if (c->adm.log_payloads && c->kind == SL_ENDPOINT_CHAT)
        c->row.response = c->stream
                              ? sl_sample_answer(c->text.data, c->text.len, true, NULL, 0)
                              : sl_sample_answer((const char *)evbuffer_pullup(c->resp, -1),
                                                 evbuffer_get_length(c->resp), false, NULL, 0);
    if (c->sample && !c->stream) { /* sending the answer empties c->resp */
        size_t n = evbuffer_get_length(c->resp);
        if ((c->sample->answer = malloc(n + 1))) {
            evbuffer_copyout(c->resp, c->sample->answer, n);
            c->sample->answer_len = n;
        }
    }
    detach_client(c);
    if (c->stream) {
        evhttp_send_reply_end(c->req);
    } else {
        add_common_headers(c, "application/json");
        observe_overhead(c);
        c->sent_status = (int)c->status;
        sl_server_send(c->w, c->req, (int)c->status, c->resp);
    }
    c->req = NULL;
}

/* An upstream 4xx that is the client's own doing (bad parameters): pass it on. */
static void finish_passthrough(struct sl_call *c)
{
    size_t n = evbuffer_get_length(c->resp);
    const char *body = (const char *)evbuffer_pullup(c->resp, -1);
    char msg[128];

    detach_client(c);
    if (n && sl_json_valid(body, n)) {
        add_common_headers(c, "application/json");
        c->sent_status = (int)c->status;
        c->err_code = "upstream_rejected";
        sl_server_send(c->w, c->req, (int)c->status, c->resp);
    } else {
        snprintf(msg, sizeof(msg), "The upstream rejected the request with status %ld.", c->status);
        error_reply(c, (int)c->status, "invalid_request_error", "upstream_rejected", msg);
    }
    c->req = NULL;
}

/* Sorts out a finished attempt: success, a failure to retry, or the end of the call. */
void sl_call_upstream_done(void *priv, CURLcode res)
{
    struct sl_call *c = priv;
    struct sl_health *h = c->w->server->health[c->dep->index];
    struct sl_metrics *m = &c->w->metrics;
    uint64_t now = sl_clock_mono_us();
    uint64_t took = now - c->t_attempt;
    bool ok = false, passthrough = false;
    enum sl_fail why = c->fail;

    event_del(&c->timer);
    c->upstream_us += took;
    sl_upstream_release(c->w->up, c->easy);
    c->easy = NULL;

    if (c->failed) {
        /* a callback already decided */
    } else if (res == CURLE_OK && c->status >= 200 && c->status <= 299) {
        if (!c->stream) {
            size_t n = evbuffer_get_length(c->resp);
            ok = sl_json_valid((const char *)evbuffer_pullup(c->resp, -1), n);
            why = SL_FAIL_MALFORMED;
        } else {
            ok = c->saw_done && !sl_sse_partial(&c->sse);
            why = c->sent_headers ? SL_FAIL_STREAM : SL_FAIL_MALFORMED;
        }
    } else if (res == CURLE_OK) {
        long s = c->status;
        /* Another 4xx is about the request itself; the upstream is healthy. A 401/403
         * means the gateway's provider key is wrong: another deployment may do. */
        passthrough = s >= 400 && s < 500 && s != 408 && s != 429 && s != 401 && s != 403;
        why = s == 429 ? SL_FAIL_STATUS_429 : s >= 500 ? SL_FAIL_STATUS_5XX : SL_FAIL_STATUS_OTHER;
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        why = SL_FAIL_TIMEOUT;
    } else if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ||
               res == CURLE_COULDNT_RESOLVE_PROXY) {
        why = SL_FAIL_CONNECT;
    } else {
        why = c->sent_headers ? SL_FAIL_STREAM : SL_FAIL_OTHER;
    }
    if (c->sent_headers && !ok)
        why = why == SL_FAIL_MALFORMED ? why : SL_FAIL_STREAM;

    sl_health_record(h, ok || passthrough, now);
    c->probe = false;
    if (ok || passthrough) {
        sl_metrics_observe(&m->upstream[c->dep->index], took);
        if (ok)
            finish_ok(c);
        else
            finish_passthrough(c);
        call_end(c);
        return;
    }

    sl_metrics_inc(&m->failures[c->dep->index * SL_FAIL_COUNT + why]);
    c->n_timeouts += why == SL_FAIL_TIMEOUT;
    c->n_429 += why == SL_FAIL_STATUS_429;
    sl_debug("%s: attempt %d on %s failed: %s (status %ld)", c->reqid, c->attempts, c->dep->name,
             res == CURLE_OK ? "status" : curl_easy_strerror(res), c->status);
    if (c->sent_headers) {
        end_stream_with_error(c, why == SL_FAIL_MALFORMED
                                     ? "The upstream sent a malformed event."
                                     : "The upstream stream ended before it was complete.");
        call_end(c);
        return;
    }
    if (c->attempts >= c->w->server->cfg->max_attempts) {
        finish_error(c);
        call_end(c);
        return;
    }
    attempt(c);
}

static void on_retry_wait_over(evutil_socket_t fd, short events, void *arg)
{
    attempt(arg);
}

/* Starts the next upstream attempt, waits out a short Retry-After, or ends the call. */
static void attempt(struct sl_call *c)
{
    const struct sl_server *srv = c->w->server;
    const struct sl_target *t;
    uint64_t now = sl_clock_mono_us();
    const char *body = c->body;
    size_t body_len = c->body_len;
    CURL *e;

    if (!choose(c, now)) {
        uint64_t until = soonest_cool_down_end(c);
        if (until && until - now <= (uint64_t)srv->cfg->max_retry_wait_ms * 1000u) {
            struct timeval tv = {(time_t)((until - now) / 1000000),
                                 (suseconds_t)((until - now) % 1000000)};
            event_assign(&c->timer, c->w->base, -1, 0, on_retry_wait_over, c);
            event_add(&c->timer, &tv);
            return;
        }
        finish_error(c);
        call_end(c);
        return;
    }
    c->attempts++;
    if (c->attempts > 1)
        sl_metrics_inc(&c->w->metrics.retries[c->model - c->snap->cfg->models]);
    c->tried[c->dep->index / 64] |= 1ull << (c->dep->index % 64);
    c->status = 0;
    c->failed = false;
    c->fail = SL_FAIL_OTHER;
    evbuffer_drain(c->resp, evbuffer_get_length(c->resp));
    sl_sse_reset(&c->sse);
    c->saw_done = c->have_usage = false;
    sl_buf_reset(&c->text);
    c->text_cut = false;
    c->content_events = 0;

    /* Rewrite "model" to the provider's name, and ask a stream for its usage, by splicing
     * the raw body: no re-encoding. */
    c->inject_usage = c->may_inject && c->dep->provider->stream_usage;
    /* The text is kept for the payload log, or to count tokens when no usage will come. */
    c->keep_text =
        c->adm.log_payloads || c->sample || (c->stream && !c->inject_usage && !c->client_usage);
    if (c->inject_usage || strlen(c->dep->model) != c->mend - c->mstart - 2 ||
        memcmp(c->body + c->mstart + 1, c->dep->model, c->mend - c->mstart - 2) != 0) {
        int rc;
        sl_buf_reset(&c->upbody);
        rc = sl_buf_add(&c->upbody, c->body, c->mstart);
        rc = rc ? rc : sl_json_add_string(&c->upbody, c->dep->model);
        if (c->inject_usage) {
            rc = rc ? rc : sl_buf_add(&c->upbody, c->body + c->mend, c->close_brace - c->mend);
            rc = rc ? rc : sl_buf_adds(&c->upbody, ",\"stream_options\":{\"include_usage\":true}");
            rc =
                rc ? rc
                   : sl_buf_add(&c->upbody, c->body + c->close_brace, c->body_len - c->close_brace);
        } else {
            rc = rc ? rc : sl_buf_add(&c->upbody, c->body + c->mend, c->body_len - c->mend);
        }
        if (rc) {
            error_reply(c, 500, "server_error", "internal_error", "Out of memory.");
            call_end(c);
            return;
        }
        body = c->upbody.data;
        body_len = c->upbody.len;
    }

    t = &srv->targets[c->dep->index];
    e = c->easy = sl_upstream_easy(c->w->up);
    if (!e) {
        error_reply(c, 500, "server_error", "internal_error", "Out of memory.");
        call_end(c);
        return;
    }
    /* The same options every time, so a recycled handle never carries a stale one. */
    curl_easy_setopt(e, CURLOPT_URL, c->kind == SL_ENDPOINT_CHAT ? t->url_chat : t->url_embeddings);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (!srv->env_proxy) /* spares curl a getenv() of every proxy variable per transfer */
        curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->dep->timeouts.connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->dep->timeouts.total_ms);

    event_assign(&c->timer, c->w->base, -1, 0, on_first_byte_timeout, c);
    {
        long ms = c->dep->timeouts.first_byte_ms;
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        event_add(&c->timer, &tv);
    }
    c->t_attempt = now;
    if (sl_upstream_start(c->w->up, e)) {
        c->failed = true;
        c->fail = SL_FAIL_OTHER;
        sl_call_upstream_done(c, CURLE_FAILED_INIT);
    }
}

/* --- starting and ending -------------------------------------------------------------- */

static struct sl_call *call_new(struct sl_worker *w)
{
    struct sl_call *c = w->free_calls;

    if (c) {
        w->free_calls = c->next_free;
    } else {
        c = calloc(1, sizeof(*c));
        if (!c)
            return NULL;
        c->resp = evbuffer_new();
        c->chunk = evbuffer_new();
        sl_buf_init(&c->upbody, (size_t)1 << 30);
        sl_buf_init(&c->text, MAX_ANSWER_TEXT);
        sl_sse_init(&c->sse, MAX_SSE_EVENT);
        if (!c->resp || !c->chunk) {
            evbuffer_free(c->resp);
            evbuffer_free(c->chunk);
            free(c);
            return NULL;
        }
    }
    c->w = w;
    c->cost = c->premium_cost = -1;
    w->in_flight++;
    return c;
}

static void copy(char *dst, size_t size, const char *src)
{
    if (src)
        snprintf(dst, size, "%s", src);
}

/* What an A/B arm changes of its route: the thresholds, and tier t's models (n of them). */
static const double *thresholds_of(const struct sl_route *r, const struct sl_arm *arm)
{
    return arm && arm->thresholds ? arm->thresholds : r->thresholds;
}

static const struct sl_model *const *tier_models(const struct sl_route *r, const struct sl_arm *arm,
                                                 size_t t, size_t *n)
{
    if (arm && arm->tiers && arm->tiers[t]) {
        *n = arm->n_tier_models[t];
        return arm->tiers[t];
    }
    *n = r->tiers[t].n_models;
    return r->tiers[t].models;
}

static void queue_sample(struct sl_call *c);

/* Settles the call's key and team (limits, spending) and queues its audit row. */
static void record(struct sl_call *c)
{
    struct sl_server *srv = c->w->server;
    struct sl_audit_row *r = &c->row;

    if (c->sample)
        queue_sample(c);

    if (srv->accounts)
        sl_accounts_settle(srv->accounts, &c->adm,
                           c->have_usage ? c->usage.prompt + c->usage.completion : -1, c->cost);
    if (!srv->audit) {
        free(r->prompt);
        free(r->response);
        return;
    }
    copy(r->request_id, sizeof(r->request_id), c->reqid);
    copy(r->team, sizeof(r->team), c->adm.team);
    copy(r->key_id, sizeof(r->key_id), c->adm.key_id);
    copy(r->endpoint, sizeof(r->endpoint), c->kind == SL_ENDPOINT_CHAT ? "chat" : "embeddings");
    if (c->route) {
        copy(r->route, sizeof(r->route), c->route->name);
        copy(r->tier, sizeof(r->tier), c->route->tiers[c->tier].name);
    }
    if (c->dep) {
        copy(r->model, sizeof(r->model), c->dep_model->name);
        copy(r->deployment, sizeof(r->deployment), c->dep->name);
    }
    copy(r->error, sizeof(r->error), c->err_code);
    r->config_version = c->snap->version;
    if (c->arm)
        copy(r->arm, sizeof(r->arm), c->arm->name);
    r->status = c->sent_status;
    r->attempts = c->attempts;
    r->tokens_in = c->have_usage ? c->usage.prompt : -1;
    r->tokens_out = c->have_usage ? c->usage.completion : -1;
    r->tokens_cached = c->have_usage ? c->usage.cached : -1;
    r->tokens_estimated = c->tokens_estimated;
    r->stream = c->stream;
    r->cost_usd = c->cost;
    r->premium_cost_usd = c->premium_cost;
    r->upstream_us = (int64_t)c->upstream_us;
    r->overhead_us = (int64_t)overhead_us(c);
    sl_audit_push(srv->audit, r); /* takes the payloads */
}

/* Hands the call to the sampler: the routing decision and outcome now, the request and the
 * answer as raw copies that the sampler redacts and sends after the response has gone. */
static void queue_sample(struct sl_call *c)
{
    const struct sl_route *rt = c->route;
    struct sl_sample_job *j = c->sample;
    struct sl_sample *s = &j->s;

    c->sample = NULL;
    if (!c->sent_status) { /* nothing was answered: nothing to judge */
        sl_sample_job_destroy(j);
        return;
    }
    s->ts_ms = c->row.ts_ms;
    s->tier_index = (int)c->tier;
    s->score = c->score;
    s->status = c->sent_status;
    s->latency_ms = (int64_t)((sl_clock_mono_us() - c->t_start) / 1000);
    s->tokens_in = c->have_usage ? c->usage.prompt : -1;
    s->tokens_out = c->have_usage ? c->usage.completion : -1;
    s->cost_usd = c->cost;
    copy(s->request_id, sizeof(s->request_id), c->reqid);
    copy(s->team, sizeof(s->team), c->adm.team);
    copy(s->route, sizeof(s->route), rt->name);
    copy(s->tier, sizeof(s->tier), rt->tiers[c->tier].name);
    copy(s->premium_tier, sizeof(s->premium_tier), rt->tiers[rt->n_tiers - 1].name);
    if (c->dep) {
        copy(s->model, sizeof(s->model), c->dep_model->name);
        copy(s->deployment, sizeof(s->deployment), c->dep->name);
    }
    for (size_t i = 0; i + 1 < rt->n_tiers && i < SL_SAMPLE_MAX_THRESHOLDS; i++)
        s->thresholds[s->n_thresholds++] = thresholds_of(rt, c->arm)[i];
    s->config_version = c->snap->version;
    if (c->arm)
        copy(s->arm, sizeof(s->arm), c->arm->name);
    copy(s->error, sizeof(s->error), c->err_code);
    if (c->stream) {
        copy(s->finish_reason, sizeof(s->finish_reason), c->finish_reason);
        j->answer_is_text = true;
        j->answer_len = c->text.len;
        j->answer = sl_buf_take(&c->text, NULL); /* the call's buffer starts afresh */
    }
    sl_sampler_queue(c->w->server->sampler, j);
}

/* Returns a finished call to the worker's pool. The request is answered or gone. */
static void call_end(struct sl_call *c)
{
    struct sl_worker *w = c->w;
    struct evbuffer *resp, *chunk;
    struct sl_buf upbody, text;
    struct sl_sse sse;

    record(c); /* first: a sampled stream's text leaves with its sample */
    sl_server_release(w, c->snap);
    resp = c->resp;
    chunk = c->chunk;
    upbody = c->upbody;
    text = c->text;
    sse = c->sse;
    if (event_initialized(&c->timer))
        event_del(&c->timer);
    detach_client(c);
    evbuffer_drain(resp, evbuffer_get_length(resp));
    evbuffer_drain(chunk, evbuffer_get_length(chunk));
    sl_buf_reset(&upbody);
    sl_buf_reset(&text);
    sl_sse_reset(&sse);
    memset(c, 0, sizeof(*c));
    c->resp = resp;
    c->chunk = chunk;
    c->upbody = upbody;
    c->text = text;
    c->sse = sse;
    c->next_free = w->free_calls;
    w->free_calls = c;
    w->in_flight--;
}

void sl_call_pool_free(struct sl_worker *w)
{
    sl_fdmap_free(&w->clients); /* empty: evhttp_free's close callbacks freed the watches */
    while (w->free_calls) {
        struct sl_call *c = w->free_calls;
        w->free_calls = c->next_free;
        evbuffer_free(c->resp);
        evbuffer_free(c->chunk);
        sl_buf_free(&c->upbody);
        sl_buf_free(&c->text);
        sl_sse_free(&c->sse);
        free(c);
    }
}

/* --- routing ---------------------------------------------------------------------------- */

/* The cheapest of models[0..n) with a deployment that can take a request now. */
static const struct sl_model *
cheapest_available(struct sl_call *c, const struct sl_model *const *models, size_t n, uint64_t now)
{
    struct sl_health *const *health = c->w->server->health;

    for (size_t i = 0; i < n; i++) /* sorted cheapest first at load */
        for (size_t d = 0; d < models[i]->n_deployments; d++)
            if (sl_health_available(health[models[i]->deployments[d]->index], now))
                return models[i];
    return NULL;
}

/* The A/B arm of the call: a hash of the experiment's name and the caller's sticky value
 * (its key, "user" field or header; else its key, else the request id) places it on [0, 1),
 * which the arms' weights divide. The same caller lands in the same arm on every proxy. */
static const struct sl_arm *pick_arm(const struct sl_call *c, const struct sl_ab *ab,
                                     const cJSON *root)
{
    const char *v = NULL;
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    double u, at = 0;

    if (ab->sticky == SL_STICKY_USER) {
        const cJSON *user = cJSON_GetObjectItemCaseSensitive(root, "user");
        v = cJSON_IsString(user) && user->valuestring[0] ? user->valuestring : NULL;
    } else if (ab->sticky == SL_STICKY_HEADER) {
        v = evhttp_find_header(evhttp_request_get_input_headers(c->req), ab->header);
    }
    if (!v || !*v)
        v = c->adm.key_id && *c->adm.key_id ? c->adm.key_id : c->reqid;
    for (const char *p = ab->name; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3u;
    h = (h ^ 0xff) * 0x100000001b3u; /* a separator no name or value byte can be */
    for (const char *p = v; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3u;
    h ^= h >> 33; /* FNV's low bits mix poorly: fold the high ones in */
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    u = (double)(h >> 11) * 0x1.0p-53 * ab->total_weight;
    for (size_t i = 0; i + 1 < ab->n_arms; i++) {
        at += ab->arms[i].weight;
        if (u < at)
            return &ab->arms[i];
    }
    return &ab->arms[ab->n_arms - 1];
}

/* Scores the request and picks a model: the scored tier's cheapest available model, else
 * the nearest tier above with one, else below. An A/B arm may score with another classifier
 * or thresholds, give tiers other models, or send every call to one model. Returns false
 * after answering an error. */
static bool route(struct sl_call *c, const cJSON *root)
{
    const struct sl_route *r = c->route;
    struct sl_worker *w = c->w;
    const struct sl_arm *arm = r->ab ? pick_arm(c, r->ab, root) : NULL;
    const struct sl_classifier *clf = arm && arm->classifier ? arm->classifier : r->classifier;
    const double *thresholds = thresholds_of(r, arm);
    const struct sl_model *const *models;
    uint64_t now = sl_clock_mono_us();
    size_t tier = 0, n;

    c->arm = arm;
    if (c->kind != SL_ENDPOINT_CHAT) {
        error_reply(c, 400, "invalid_request_error", "invalid_request",
                    "Routes serve chat completions; ask for a model by name here.");
        return false;
    }
    if (sl_features_from_messages(&w->features, cJSON_GetObjectItemCaseSensitive(root, "messages"),
                                  r->messages, &w->route_text, &w->route_text_cap)) {
        error_reply(c, 500, "server_error", "internal_error", "Out of memory.");
        return false;
    }
    c->score = sl_classifier_score(clf, &w->features);
    while (tier + 1 < r->n_tiers && c->score >= thresholds[tier])
        tier++;
    if (arm && arm->model) {
        /* Unrouted: the arm's model, counted under the route's tier that lists it. */
        c->model = arm->model;
        c->tier = sl_route_tier_of(r, arm->model);
    }
    /* Fallback across tiers: upward first (a stronger model can answer), then downward. */
    for (size_t k = 0; k < r->n_tiers && !c->model; k++) {
        c->tier = tier + k < r->n_tiers ? tier + k : r->n_tiers - 1 - k;
        models = tier_models(r, arm, c->tier, &n);
        c->model = cheapest_available(c, models, n, now);
    }
    if (!c->model) { /* nothing is available: let the attempt report it properly */
        c->model = tier_models(r, arm, tier, &n)[0];
        c->tier = tier;
    }
    sl_metrics_inc(&w->metrics.decisions[r->tiers[c->tier].slot]);
    if (w->server->sampler && r->sampling[c->tier] > 0 &&
        sl_rand_double(&w->rng) < r->sampling[c->tier])
        c->sample = sl_sample_job_create(c->body, c->body_len); /* NULL: not sampled */
    return true;
}

/* A token limit member of the body found without parsing it, or 0. validate() later refuses a
 * value that is not a whole number in 1..INT32_MAX, however it is written (1e3, 1000.0). */
static long raw_count(const struct sl_call *c, const char *key)
{
    size_t s, e;
    char num[32]; /* the body is not NUL-terminated, and not yet known to be JSON */
    double v;

    if (!sl_json_member_span(c->body, c->body_len, key, &s, &e) || e - s >= sizeof(num))
        return 0;
    memcpy(num, c->body + s, e - s);
    num[e - s] = '\0';
    v = strtod(num, NULL);
    return v >= 1 && v <= INT32_MAX ? (long)v : 0;
}

/* Authenticates the key and reserves its limits; false after answering 401 or 429. Runs before
 * the body is parsed: tokens are estimated from its size and max_tokens (and corrected with
 * the real usage when the call ends). */
static bool admit(struct sl_call *c)
{
    size_t len;
    const char *secret = sl_server_secret(c->req, &len);
    long tokens = (long)(c->body_len / 4) + raw_count(c, "max_tokens") +
                  raw_count(c, "max_completion_tokens");
    char ra[32];

    if (!secret) {
        error_reply(c, 401, "invalid_request_error", "missing_api_key",
                    "No API key: send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'.");
        return false;
    }
    if (sl_accounts_admit(c->w->server->accounts, secret, len, tokens < 0 ? 0 : tokens,
                          sl_clock_mono_us(), &c->adm))
        return true;
    if (c->adm.retry_after_s > 0) {
        snprintf(ra, sizeof(ra), "%ld", c->adm.retry_after_s);
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After", ra);
    }
    add_limit_headers(c);
    error_reply(c, c->adm.status, c->adm.type, c->adm.code, c->adm.message);
    return false;
}

/* The first top-level member the proxy reads that appears twice (cJSON decodes escaped names,
 * so "mod\u0065l" counts as "model"), or NULL. Why: the proxy acts on the first one and a
 * provider's JSON parser usually keeps the last, so a second "model" would be served past the
 * alias, its price and its limits, and a second "max_tokens" past the token estimate. */
static const char *duplicate_member(const cJSON *root)
{
    static const char *const read[] = {
        "model", "stream", "stream_options", "messages",
        "input", "user",   "max_tokens",     "max_completion_tokens"};
    unsigned seen = 0;
    const cJSON *it;

    cJSON_ArrayForEach(it, root)
    {
        for (unsigned k = 0; it->string && k < sizeof(read) / sizeof(*read); k++) {
            if (strcmp(it->string, read[k]) != 0)
                continue;
            if (seen & (1u << k))
                return read[k];
            seen |= 1u << k;
        }
    }
    return NULL;
}

/* The token limit field that is neither null nor a whole number in 1..INT32_MAX, or NULL.
 * Why: the limits reserve tokens by it before the call, so 1e300, -5 or 2.5 must not pass as
 * some other number; OpenAI refuses them too. */
static const char *bad_token_limit(const cJSON *root)
{
    static const char *const keys[] = {"max_tokens", "max_completion_tokens"};

    for (unsigned k = 0; k < sizeof(keys) / sizeof(*keys); k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
        if (!v || cJSON_IsNull(v))
            continue;
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= INT32_MAX) ||
            v->valuedouble != floor(v->valuedouble))
            return keys[k];
    }
    return NULL;
}

/* Length of the longest prefix of s, at most max bytes, that is whole valid UTF-8 characters.
 * Why: error messages echo the client's model name, cJSON does not check UTF-8, and a cut at a
 * byte count can split a character; either way the JSON error body would not be UTF-8. */
static size_t utf8_prefix(const char *s, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (u[i]) {
        size_t n = u[i] < 0x80                    ? 1
                   : u[i] >= 0xc2 && u[i] <= 0xdf ? 2
                   : u[i] >= 0xe0 && u[i] <= 0xef ? 3
                   : u[i] >= 0xf0 && u[i] <= 0xf4 ? 4
                                                  : 0;
        if (!n || i + n > max)
            break;
        for (size_t k = 1; k < n; k++)
            if ((u[i + k] & 0xc0) != 0x80)
                return i;
        if ((u[i] == 0xe0 && u[i + 1] < 0xa0) || (u[i] == 0xed && u[i + 1] > 0x9f) ||
            (u[i] == 0xf0 && u[i + 1] < 0x90) || (u[i] == 0xf4 && u[i + 1] > 0x8f))
            break; /* overlong, surrogate, or past U+10FFFF */
        i += n;
    }
    return i;
}

/* Whether the raw "model" value (c->mstart, c->mend) holds a NUL (a raw byte or \u0000).
 * cJSON's string ends there, so "m\u0000anything" would be looked up, and served, as the alias
 * "m". */
static bool model_has_nul(const struct sl_call *c)
{
    const char *b = c->body;
    size_t e = c->mend;

    for (size_t i = c->mstart + 1; i + 1 < e; i++) {
        if (b[i] == '\0')
            return true;
        if (b[i] == '\\') {
            if (b[i + 1] == 'u' && e - i > 6 && memcmp(b + i + 2, "0000", 4) == 0)
                return true;
            i++; /* the escaped character, which may be a quote or a backslash */
        }
    }
    return false;
}

/* Checks the request body; on a problem answers 400 and returns false. */
static bool validate(struct sl_call *c, const cJSON *root)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    const char *param = NULL, *msg = NULL;
    char text[96];

    /* The raw span of "model", found once: for the NUL check here and to rewrite the body. */
    if (!sl_json_member_span(c->body, c->body_len, "model", &c->mstart, &c->mend))
        c->mstart = c->mend = 0;
    if (!cJSON_IsObject(root)) {
        msg = "The request body must be a JSON object.";
    } else if (!cJSON_IsString(model) || !model->valuestring[0]) {
        param = "model";
        msg = "The 'model' field is required and must be a non-empty string.";
    } else if (model_has_nul(c)) {
        param = "model";
        msg = "The 'model' field must not contain a NUL character.";
    } else if ((param = duplicate_member(root))) {
        snprintf(text, sizeof(text), "The '%s' field must appear only once.", param);
        msg = text;
    } else if (stream && !cJSON_IsBool(stream)) {
        param = "stream";
        msg = "The 'stream' field must be a boolean.";
    } else if ((param = bad_token_limit(root))) {
        snprintf(text, sizeof(text), "The '%s' field must be a whole number from 1 to %ld.", param,
                 (long)INT32_MAX);
        msg = text;
    } else if (c->kind == SL_ENDPOINT_CHAT) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        const cJSON *it;
        if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
            param = "messages";
            msg = "The 'messages' field is required and must be a non-empty array.";
        } else {
            cJSON_ArrayForEach(it, msgs)
            {
                if (!cJSON_IsObject(it) ||
                    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(it, "role"))) {
                    param = "messages";
                    msg = "Each message must be an object with a string 'role'.";
                    break;
                }
            }
        }
    } else {
        const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
        if (!(cJSON_IsString(input) || (cJSON_IsArray(input) && cJSON_GetArraySize(input) > 0))) {
            param = "input";
            msg = "The 'input' field is required: a string or a non-empty array.";
        }
    }
    if (msg) {
        error_reply_param(c, 400, "invalid_request_error", "invalid_request", param, msg);
        return false;
    }
    return true;
}

void sl_call_handle(struct sl_worker *w, struct evhttp_request *req, enum sl_endpoint kind)
{
    const struct sl_config *cfg = w->server->cfg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *rid = evhttp_find_header(evhttp_request_get_input_headers(req), "x-request-id");
    struct sl_call *c = call_new(w);
    cJSON *root = NULL;
    const cJSON *model;
    char msg[300];

    if (!c) {
        sl_server_error(w, req, "", 500, "server_error", "internal_error", NULL, "Out of memory.");
        return;
    }
    c->req = req;
    c->evcon = evhttp_request_get_connection(req);
    c->kind = kind;
    c->snap = sl_snapshot_ref(sl_server_snapshot(w));
    c->t_start = sl_clock_mono_us();
    c->row.ts_ms = sl_clock_wall_ms();
    if (rid && sl_reqid_valid(rid))
        snprintf(c->reqid, sizeof(c->reqid), "%s", rid);
    else
        sl_reqid_new(c->reqid);

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        error_reply(c, 405, "invalid_request_error", "method_not_allowed",
                    "Use POST for this endpoint.");
        goto out;
    }
    c->body_len = evbuffer_get_length(in);
    if (c->body_len > cfg->max_body_bytes) {
        snprintf(msg, sizeof(msg), "The request body is %zu bytes; the limit is %zu.", c->body_len,
                 cfg->max_body_bytes);
        error_reply(c, 413, "invalid_request_error", "request_too_large", msg);
        goto out;
    }
    c->body = (const char *)evbuffer_pullup(in, -1);
    if (w->server->accounts && !admit(c))
        goto out;
    if (w->server->audit && sl_audit_backlogged(w->server->audit)) {
        /* Back-pressure: refuse work rather than lose its audit row or wait on the disk. */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        error_reply(c, 503, "server_error", "audit_backlog",
                    "The audit log is behind; retry in a moment.");
        goto out;
    }
    root = c->body ? cJSON_ParseWithLength(c->body, c->body_len) : NULL;
    if (!root) {
        error_reply(c, 400, "invalid_request_error", "invalid_json",
                    "The request body is not valid JSON.");
        goto out;
    }
    if (!validate(c, root))
        goto out;
    model = cJSON_GetObjectItemCaseSensitive(root, "model");
    copy(c->row.model_requested, sizeof(c->row.model_requested), model->valuestring);
    c->model = sl_config_model(c->snap->cfg, model->valuestring);
    if (!c->model && (c->route = sl_config_route(c->snap->cfg, model->valuestring)) &&
        !route(c, root))
        goto out;
    if (!c->model) {
        snprintf(msg, sizeof(msg), "The model '%.*s' does not exist.",
                 (int)utf8_prefix(model->valuestring, 200), model->valuestring);
        error_reply_param(c, 404, "invalid_request_error", "model_not_found", "model", msg);
        goto out;
    }
    c->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
    c->client_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "stream_options"), "include_usage"));
    if (c->adm.log_payloads)
        c->row.prompt = sl_redact_copy(c->body, c->body_len);
    /* Streams are costed from the usage chunk: ask for it when the client did not (and
     * keep it from the client, which does not expect it). */
    if (c->stream && kind == SL_ENDPOINT_CHAT &&
        !cJSON_GetObjectItemCaseSensitive(root, "stream_options")) {
        c->close_brace = c->body_len;
        while (c->close_brace > 0 && c->body[c->close_brace - 1] != '}')
            c->close_brace--;
        c->may_inject = c->close_brace > 0;
        c->close_brace -= c->may_inject;
    }
    if (c->mend == 0 || c->body[c->mstart] != '"') {
        /* "model" spelt with escapes: cJSON reads it, the raw scan does not. */
        error_reply(c, 400, "invalid_request_error", "invalid_request",
                    "The 'model' key must be written without escape sequences.");
        goto out;
    }
    cJSON_Delete(root);

    if (!watch_client(c))
        sl_warn("out of memory: call %s goes unwatched", c->reqid);
    attempt(c);
    return;
out:
    cJSON_Delete(root);
    c->req = NULL;
    call_end(c);
}
