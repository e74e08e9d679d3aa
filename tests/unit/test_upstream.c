/* curl multi on a libevent loop: transfers complete, handles are reused, cancel is silent. */
#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "upstream.h"

struct fixture {
    struct event_base *base;
    struct evhttp *http;
    int port;
    int done;
    CURLcode last;
    char body[256];
    size_t len;
};

static void serve(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "hello %s", evhttp_request_get_uri(req));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void on_done(void *priv, CURLcode res)
{
    struct fixture *f = priv;
    f->done++;
    f->last = res;
    event_base_loopbreak(f->base);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    struct fixture *f = arg;
    size_t k = size * n;
    if (f->len + k < sizeof(f->body)) {
        memcpy(f->body + f->len, p, k);
        f->len += k;
        f->body[f->len] = '\0';
    }
    return k;
}

static void setup(struct fixture *f)
{
    struct evhttp_bound_socket *s;
    f->base = event_base_new();
    f->http = evhttp_new(f->base);
    evhttp_set_gencb(f->http, serve, NULL);
    s = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
    cr_assert_not_null(s);
    {
        struct sockaddr_in a;
        socklen_t l = sizeof(a);
        getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&a, &l);
        f->port = ntohs(a.sin_port);
    }
}

static CURL *prepare(struct sl_upstream *up, struct fixture *f, const char *path)
{
    CURL *e = sl_upstream_easy(up);
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, f);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
    f->len = 0;
    return e;
}

Test(upstream, runs_transfers_on_the_event_loop_and_reuses_handles_and_connections)
{
    struct fixture f = {0};
    struct sl_upstream *up;
    CURL *first, *second;
    long conns = -1;

    setup(&f);
    up = sl_upstream_create(f.base, on_done);
    first = prepare(up, &f, "/one");
    cr_assert_eq(sl_upstream_start(up, first), 0);
    event_base_dispatch(f.base);
    cr_assert_eq(f.done, 1);
    cr_assert_eq(f.last, CURLE_OK);
    cr_assert_str_eq(f.body, "hello /one");
    sl_upstream_release(up, first);

    second = prepare(up, &f, "/two");
    cr_assert_eq(second, first, "a released handle is handed out again");
    cr_assert_eq(sl_upstream_start(up, second), 0);
    event_base_dispatch(f.base);
    cr_assert_eq(f.done, 2);
    cr_assert_str_eq(f.body, "hello /two");
    curl_easy_getinfo(second, CURLINFO_NUM_CONNECTS, &conns);
    cr_assert_eq(conns, 0, "the second transfer reused the kept-alive connection");
    sl_upstream_release(up, second);

    sl_upstream_destroy(up);
    evhttp_free(f.http);
    event_base_free(f.base);
}

Test(upstream, a_refused_connection_reports_an_error)
{
    struct fixture f = {0};
    struct sl_upstream *up;
    CURL *e;

    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    /* bound but not listening: connections to it are refused */
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    f.port = ntohs(a.sin_port);
    f.base = event_base_new();
    up = sl_upstream_create(f.base, on_done);
    e = prepare(up, &f, "/");
    cr_assert_eq(sl_upstream_start(up, e), 0);
    event_base_dispatch(f.base);
    close(fd);
    cr_assert_eq(f.done, 1);
    cr_assert_eq(f.last, CURLE_COULDNT_CONNECT);
    sl_upstream_release(up, e);
    sl_upstream_destroy(up);
    event_base_free(f.base);
}

Test(upstream, a_cancelled_transfer_never_calls_done)
{
    struct fixture f = {0};
    struct sl_upstream *up;
    struct timeval tv = {0, 200000};
    CURL *e;

    setup(&f);
    up = sl_upstream_create(f.base, on_done);
    e = prepare(up, &f, "/x");
    cr_assert_eq(sl_upstream_start(up, e), 0);
    sl_upstream_cancel(up, e);
    event_base_loopexit(f.base, &tv);
    event_base_dispatch(f.base);
    cr_assert_eq(f.done, 0);
    sl_upstream_release(up, e);
    sl_upstream_destroy(up);
    evhttp_free(f.http);
    event_base_free(f.base);
}
