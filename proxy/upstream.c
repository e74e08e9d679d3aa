/* curl multi on libevent: curl tells us which sockets to watch and when to wake it. */
#include "upstream.h"
#include "fdmap.h"

#define SL_LOG_MODULE "upstream"
#include "log.h"

#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FREE_MAX 256 /* easy handles kept for reuse per worker */

struct sl_upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct event *kick; /* activated for curl's 0 ms timeouts: see timer_cb */
    sl_upstream_done_fn done;
    CURL *free_list[FREE_MAX];
    int n_free;
    struct sl_fdmap socks; /* struct sock *: the sockets watched, or that may be again */
};

/* A socket curl asks us to watch. One that curl opened for a connection (through
 * open_socket) stays registered for reading while the connection idles in curl's cache, until
 * curl closes it (close_socket): the next transfer on it then costs no epoll_ctl to remove
 * and add it again, which was two of a call's system calls. Any other socket may be closed by
 * curl without telling us, so it is forgotten as soon as curl stops watching it: a registration
 * left on a closed descriptor would swallow the next socket given that number. */
struct sock {
    struct sl_upstream *up;
    struct event ev;
    short kind; /* the events ev is added for; 0 when it is not added */
    bool idle;  /* curl does not watch it now: a connection resting in the cache */
    bool keep;  /* a connection socket: kept until close_socket */
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
    struct sock *s = arg;
    struct sl_upstream *up = s->up; /* s may be freed by the action below */
    int running;
    int action =
        ((events & EV_READ) ? CURL_CSELECT_IN : 0) | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);

    if (s->idle) {
        /* An idle connection became readable: the server closed it (or sent what it should
         * not). curl finds that out when it next checks the connection; until then, stop
         * watching, or the level-triggered event would fire on every loop pass. */
        event_del(&s->ev);
        s->kind = 0;
        return;
    }
    curl_multi_socket_action(up->multi, fd, action, &running);
    check_done(up);
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

    if (timeout_ms > 0)
        evtimer_add(up->timer, &tv);
    else
        evtimer_del(up->timer);
    /* 0 ms (a transfer just added or ended): run right after the current callback, in the same
     * loop pass, not from here, as curl requires. A 0 ms timer would cost a pass with an
     * epoll_wait of its own. So a new transfer's request leaves as soon as the caller returns,
     * and one that ends at once is collected outside the caller. */
    if (timeout_ms == 0)
        event_active(up->kick, 0, 0);
    return 0;
}

/* The sock for fd, made when make and there is none; NULL when out of memory (or none). */
static struct sock *sock_of(struct sl_upstream *up, curl_socket_t fd, bool make)
{
    void **slot;
    struct sock *s;

    if (!make)
        return sl_fdmap_get(&up->socks, fd);
    if (!(slot = sl_fdmap_slot(&up->socks, fd)))
        return NULL;
    if (!*slot && (s = calloc(1, sizeof(*s)))) {
        s->up = up;
        *slot = s;
    }
    return *slot;
}

static void sock_free(struct sl_upstream *up, curl_socket_t fd)
{
    struct sock *s = sock_of(up, fd, false);

    if (!s)
        return;
    if (s->kind)
        event_del(&s->ev);
    free(s);
    *sl_fdmap_slot(&up->socks, fd) = NULL;
}

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    struct sock *s;

    if (fd != CURL_SOCKET_BAD && purpose == CURLSOCKTYPE_IPCXN && (s = sock_of(arg, fd, true)))
        s->keep = true;
    return fd;
}

static int close_socket(void *arg, curl_socket_t fd)
{
    sock_free(arg, fd); /* before close: the number may be reused at once */
    return close(fd);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    struct sl_upstream *up = arg;
    struct sock *s = sock_of(up, fd, what != CURL_POLL_REMOVE);
    short kind;

    if (what == CURL_POLL_REMOVE) {
        if (s && !s->keep) {
            sock_free(up, fd);
        } else if (s) { /* a connection going idle stays registered for reading, nothing else */
            if (s->kind && s->kind != (EV_READ | EV_PERSIST)) {
                event_del(&s->ev);
                s->kind = 0;
            }
            s->idle = true;
        }
        return 0;
    }
    if (!s)
        return -1;
    s->idle = false;
    kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) |
                   EV_PERSIST);
    if (s->kind == kind)
        return 0; /* already watching exactly this */
    if (s->kind)
        event_del(&s->ev);
    event_assign(&s->ev, up->base, fd, kind, on_socket, s);
    if (event_add(&s->ev, NULL)) {
        s->kind = 0;
        return -1;
    }
    s->kind = kind;
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
    up->kick = event_new(base, -1, 0, on_timer, up);
    if (!up->multi || !up->timer || !up->kick) {
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
        curl_multi_cleanup(up->multi); /* closes cached connections through close_socket */
    for (size_t fd = 0; fd < up->socks.n; fd++)
        sock_free(up, (curl_socket_t)fd);
    sl_fdmap_free(&up->socks);
    if (up->timer)
        event_free(up->timer);
    if (up->kick)
        event_free(up->kick);
    free(up);
}

CURL *sl_upstream_easy(struct sl_upstream *up)
{
    CURL *easy;

    if (up->n_free > 0)
        return up->free_list[--up->n_free];
    if ((easy = curl_easy_init())) {
        curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, up);
        curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
        curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, up);
    }
    return easy;
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
    CURLMcode mc = curl_multi_add_handle(up->multi, easy); /* asks for a 0 ms timeout */

    if (mc != CURLM_OK) {
        sl_error("curl_multi_add_handle: %s", curl_multi_strerror(mc));
        return SL_EIO;
    }
    return 0;
}

void sl_upstream_cancel(struct sl_upstream *up, CURL *easy)
{
    curl_multi_remove_handle(up->multi, easy);
}
