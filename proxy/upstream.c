/* curl multi on libevent: curl tells us which sockets to watch and when to wake it. */
#include "upstream.h"

#define SL_LOG_MODULE "upstream"
#include "log.h"

#include <stdlib.h>

#define FREE_MAX 256 /* easy handles kept for reuse per worker */

struct sl_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct event *check; /* activated to collect finished transfers outside any caller */
    sl_upstream_done_fn done;
    CURL *free_list[FREE_MAX];
    int n_free;
};

/* One per socket curl asks us to watch, attached to it with curl_multi_assign. */
struct sock {
    struct event *ev;
    int what; /* CURL_POLL_* currently registered */
};

static void check_done(struct sl_upstream *up)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(up->multi, &left))) {
        CURL *easy = msg->easy_handle;
        CURLcode res = msg->data.result;
        void *priv = NULL;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        curl_multi_remove_handle(up->multi, easy);
        up->done(priv, res);
    }
}

static void on_socket(evutil_socket_t fd, short events, void *arg)
{
    struct sl_upstream *up = arg;
    int running;
    int action =
        ((events & EV_READ) ? CURL_CSELECT_IN : 0) | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);

    curl_multi_socket_action(up->multi, fd, action, &running);
    check_done(up);
}

static void on_check(evutil_socket_t fd, short events, void *arg)
{
    check_done(arg);
}

static void on_timer(evutil_socket_t fd, short events, void *arg)
{
    struct sl_upstream *up = arg;
    int running;

    curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(up);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    struct sl_upstream *up = arg;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

    if (timeout_ms < 0)
        evtimer_del(up->timer);
    else
        evtimer_add(up->timer, &tv); /* 0 ms: run on the next loop pass, not from here */
    return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    struct sl_upstream *up = arg;
    struct sock *s = sockp;
    short kind;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            event_free(s->ev);
            free(s);
            curl_multi_assign(up->multi, fd, NULL);
        }
        return 0;
    }
    kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) |
                   EV_PERSIST);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->ev = event_new(up->base, fd, kind, on_socket, up);
        if (!s->ev) {
            free(s);
            return -1;
        }
        curl_multi_assign(up->multi, fd, s);
    } else if (s->what == what) {
        return 0; /* already watching exactly this */
    } else {
        event_del(s->ev);
        event_assign(s->ev, up->base, fd, kind, on_socket, up);
    }
    s->what = what;
    event_add(s->ev, NULL);
    return 0;
}

struct sl_upstream *sl_upstream_create(struct event_base *base, sl_upstream_done_fn done)
{
    struct sl_upstream *up = calloc(1, sizeof(*up));

    if (!up)
        return NULL;
    up->base = base;
    up->done = done;
    up->multi = curl_multi_init();
    up->timer = evtimer_new(base, on_timer, up);
    up->check = event_new(base, -1, 0, on_check, up);
    if (!up->multi || !up->timer || !up->check) {
        sl_upstream_destroy(up);
        return NULL;
    }
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
    /* Idle upstream connections kept alive for reuse, per worker. */
    curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, 256L);
    curl_multi_setopt(up->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    return up;
}

void sl_upstream_destroy(struct sl_upstream *up)
{
    if (!up)
        return;
    for (int i = 0; i < up->n_free; i++)
        curl_easy_cleanup(up->free_list[i]);
    if (up->multi)
        curl_multi_cleanup(up->multi); /* closes cached connections via socket_cb */
    if (up->timer)
        event_free(up->timer);
    if (up->check)
        event_free(up->check);
    free(up);
}

CURL *sl_upstream_easy(struct sl_upstream *up)
{
    if (up->n_free > 0)
        return up->free_list[--up->n_free];
    return curl_easy_init();
}

void sl_upstream_release(struct sl_upstream *up, CURL *easy)
{
    if (!easy)
        return;
    if (up->n_free < FREE_MAX)
        up->free_list[up->n_free++] = easy;
    else
        curl_easy_cleanup(easy);
}

int sl_upstream_start(struct sl_upstream *up, CURL *easy)
{
    CURLMcode mc = curl_multi_add_handle(up->multi, easy);
    int running;

    if (mc != CURLM_OK) {
        sl_error("curl_multi_add_handle: %s", curl_multi_strerror(mc));
        return SL_EIO;
    }
    /* Send the request now rather than on curl's 0 ms timer one loop pass later. A transfer
     * that ends at once is collected from a deferred event, never inside our caller. */
    curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    event_active(up->check, 0, 0);
    return 0;
}

void sl_upstream_cancel(struct sl_upstream *up, CURL *easy)
{
    curl_multi_remove_handle(up->multi, easy);
}
