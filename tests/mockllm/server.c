/* One event-loop thread of mockllm: its listener, request routing, authentication and the
 * /mock control endpoints. */
#define SL_LOG_MODULE "mockllm"
#include "mockllm.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "log.h"
#include "portfile.h"

#define LISTEN_BACKLOG 1024

typedef enum mock_handled (*mock_handler)(struct mock_server *srv, struct evhttp_request *req,
                                          const char *rest);

const char *mock_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return NULL; /* libevent's own phrase */
    }
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "?";
    }
}

int mock_stage_json(struct evhttp_request *req, const char *json, size_t len)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    return evbuffer_add(evhttp_request_get_output_buffer(req), json, len) ? SL_ENOMEM : 0;
}

void mock_send_json(struct evhttp_request *req, int status, const char *json, size_t len)
{
    if (mock_stage_json(req, json, len)) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_send_reply(req, status, mock_reason(status), NULL);
}

void mock_send_error(struct mock_server *srv, struct evhttp_request *req, int status,
                     const char *type, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_buf_reset(&srv->scratch);
    if (mock_body_error(&srv->scratch, msg, type, code)) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    mock_send_json(req, status, srv->scratch.data, srv->scratch.len);
}

cJSON *mock_read_json(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const char *text;

    /* The NUL lets cJSON reject trailing garbage without copying the body. */
    if (evbuffer_add(in, "", 1) != 0 || !(text = (const char *)evbuffer_pullup(in, -1)))
        return NULL;
    return cJSON_ParseWithOpts(text, NULL, 1);
}

static bool authorized(const struct mock_server *srv, const char *authorization)
{
    const char *key = srv->cfg->api_key;

    return !key || (authorization && strncmp(authorization, "Bearer ", 7) == 0 &&
                    strcmp(authorization + 7, key) == 0);
}

static enum mock_handled send_ok(struct evhttp_request *req)
{
    static const char ok[] = "{\"ok\":true}";

    mock_send_json(req, 200, ok, sizeof(ok) - 1);
    return MOCK_ANSWERED;
}

/* POST /mock/models/NAME: merges settings into a model. */
static enum mock_handled control_model(struct mock_server *srv, struct evhttp_request *req,
                                       const char *rest)
{
    char *name = evhttp_uridecode(rest, 0, NULL);
    cJSON *body = NULL;
    char err[256];

    if (!name || !*name) {
        mock_send_error(srv, req, 400, "invalid_request_error", NULL, "missing model name");
        goto out;
    }
    if (!(body = mock_read_json(req))) {
        mock_send_error(srv, req, 400, "invalid_request_error", NULL, "body: invalid JSON");
        goto out;
    }
    if (mock_models_update(srv->models, name, body, err, sizeof(err))) {
        mock_send_error(srv, req, 400, "invalid_request_error", NULL, "%s", err);
        goto out;
    }
    sl_info("model %s updated", name);
    send_ok(req);
out:
    cJSON_Delete(body);
    free(name);
    return MOCK_ANSWERED;
}

static enum mock_handled control_stats(struct mock_server *srv, struct evhttp_request *req,
                                       const char *rest)
{
    char *json = mock_stats_json(srv->stats, srv->models);

    if (!json) {
        mock_send_error(srv, req, 500, "server_error", NULL, "out of memory");
        return MOCK_ANSWERED;
    }
    mock_send_json(req, 200, json, strlen(json));
    free(json);
    return MOCK_ANSWERED;
}

static enum mock_handled control_reset(struct mock_server *srv, struct evhttp_request *req,
                                       const char *rest)
{
    mock_stats_reset(srv->stats);
    mock_models_reset_counts(srv->models);
    return send_ok(req);
}

static const struct route {
    const char *path;
    bool prefix; /* path ends in '/' and the rest of the URL names a model */
    enum evhttp_cmd_type method;
    mock_handler handle;
} routes[] = {
    {"/v1/chat/completions", false, EVHTTP_REQ_POST, mock_api_chat},
    {"/v1/embeddings", false, EVHTTP_REQ_POST, mock_api_embeddings},
    {"/v1/models", false, EVHTTP_REQ_GET, mock_api_models},
    {"/mock/models/", true, EVHTTP_REQ_POST, control_model},
    {"/mock/stats", false, EVHTTP_REQ_GET, control_stats},
    {"/mock/reset", false, EVHTTP_REQ_POST, control_reset},
};

static const struct route *find_route(const char *path, const char **rest)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const struct route *r = &routes[i];
        size_t n = strlen(r->path);

        if (r->prefix ? strncmp(path, r->path, n) == 0 : strcmp(path, r->path) == 0) {
            *rest = path + n;
            return r;
        }
    }
    return NULL;
}

/* Routes a request; returns whether it was answered here or handed on. */
static enum mock_handled dispatch(struct mock_server *srv, struct evhttp_request *req,
                                  const char *path, bool v1)
{
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    const char *auth, *rest = "";
    const struct route *r;

    if (v1) {
        auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
        mock_stats_begin(srv->stats, auth);
        if (!authorized(srv, auth)) {
            mock_send_error(srv, req, 401, "invalid_request_error", "invalid_api_key", "%s",
                            auth ? "Incorrect API key provided."
                                 : "You didn't provide an API key.");
            return MOCK_ANSWERED;
        }
    }
    if (!(r = find_route(path, &rest))) {
        mock_send_error(srv, req, 404, "invalid_request_error", NULL, "Invalid URL (%s %s)",
                        method_name(method), path);
        return MOCK_ANSWERED;
    }
    if (method != r->method) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", method_name(r->method));
        mock_send_error(srv, req, 405, "invalid_request_error", "method_not_allowed",
                        "Method %s is not allowed on %s", method_name(method), r->path);
        return MOCK_ANSWERED;
    }
    return r->handle(srv, req, rest);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct mock_server *srv = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    bool v1;

    if (!path)
        path = "";
    /* Only the provider API is counted: the control endpoints would disturb the numbers. */
    v1 = strncmp(path, "/v1/", 4) == 0;
    if (dispatch(srv, req, path, v1) == MOCK_ANSWERED && v1)
        mock_stats_end(srv->stats, MOCK_COMPLETED);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct mock_server *srv = arg;

    event_base_loopbreak(srv->base);
}

struct mock_server *mock_server_create(const struct mock_config *cfg, struct mock_models *models,
                                       struct mock_stats *stats, int stop_fd)
{
    struct mock_server *srv = calloc(1, sizeof(*srv));

    if (!srv)
        return NULL;
    srv->cfg = cfg;
    srv->models = models;
    srv->stats = stats;
    sl_buf_init(&srv->scratch, MOCK_BODY_MAX);
    if (!(srv->base = event_base_new()) || !(srv->http = evhttp_new(srv->base)) ||
        !(srv->chunk = evbuffer_new()) ||
        !(srv->stop = event_new(srv->base, stop_fd, EV_READ | EV_PERSIST, on_stop, srv)) ||
        event_add(srv->stop, NULL) != 0) {
        mock_server_destroy(srv);
        return NULL;
    }
    /* Every method reaches on_request, which answers 405 itself (evhttp would say 501). */
    evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(srv->http, MOCK_REQUEST_MAX);
    evhttp_set_gencb(srv->http, on_request, srv);
    return srv;
}

void mock_server_destroy(struct mock_server *srv)
{
    if (!srv)
        return;
    /* Before evhttp_free: cancelling frees the connections that the replies hold. */
    mock_reply_cancel_all(srv);
    if (srv->http)
        evhttp_free(srv->http);
    if (srv->stop)
        event_free(srv->stop);
    if (srv->chunk)
        evbuffer_free(srv->chunk);
    if (srv->base)
        event_base_free(srv->base);
    sl_buf_free(&srv->scratch);
    free(srv);
}

int mock_server_listen(struct mock_server *srv, const struct sockaddr *sa, int salen,
                       bool reuse_port)
{
    unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC;
    struct evconnlistener *l;

    if (reuse_port)
        flags |= LEV_OPT_REUSEABLE_PORT;
    l = evconnlistener_new_bind(srv->base, NULL, NULL, flags, LISTEN_BACKLOG, sa, salen);
    if (!l)
        return SL_ESYS;
    if (!evhttp_bind_listener(srv->http, l)) {
        evconnlistener_free(l);
        errno = ENOMEM;
        return SL_ESYS;
    }
    srv->port = sl_portfile_bound(evconnlistener_get_fd(l));
    return srv->port < 0 ? SL_ESYS : 0;
}

static void *run(void *arg)
{
    struct mock_server *srv = arg;

    event_base_dispatch(srv->base);
    return NULL;
}

int mock_server_start(struct mock_server *srv)
{
    int err = pthread_create(&srv->thread, NULL, run, srv);

    if (err) {
        errno = err;
        return SL_ESYS;
    }
    srv->started = true;
    return 0;
}

void mock_server_join(struct mock_server *srv)
{
    if (!srv || !srv->started)
        return;
    pthread_join(srv->thread, NULL);
    srv->started = false;
}
