/* Replies that wait: delayed answers, token streams, hangs and deliberate drops.
 *
 * Each waiting reply holds a timer and a watch on the client's socket: evhttp stops reading
 * once it has a whole request, so it would not notice a client that leaves until our next
 * write. A reply ends exactly once, in one of three ways: we finish it (reply_end, then hand
 * the request back to evhttp), the client leaves (cancel, or on_close when evhttp noticed
 * first), or we drop the connection on purpose (drop). */
#define SL_LOG_MODULE "mockllm"
#include "mockllm.h"

#include <errno.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>

#include "log.h"

enum reply_kind { REPLY_LATER, REPLY_DROP, REPLY_HANG, REPLY_STREAM };

struct mock_reply {
    struct mock_server *srv;
    struct evhttp_request *req;
    struct evhttp_connection *evcon; /* NULL once evhttp is freeing it */
    struct event *timer;             /* NULL for a hang */
    struct event *watch;             /* NULL once the client has pipelined a request */
    enum reply_kind kind;
    int status;                /* REPLY_LATER */
    struct mock_answer answer; /* REPLY_STREAM, from here on */
    enum mock_stream_mode mode;
    int itl_ms;
    int sent; /* content chunks sent */
    int last; /* content chunks to send before the end, or before the drop */
    struct mock_reply *prev, *next;
};

/* Failing to allocate a few bytes or to add an event is not worth a code path of its own. */
static void die(const char *what)
{
    sl_error("%s failed", what);
    abort();
}

static void *need(void *p)
{
    if (!p)
        die("allocation");
    return p;
}

static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_close(struct evhttp_connection *evcon, void *arg);

static struct mock_reply *reply_new(struct mock_server *srv, struct evhttp_request *req,
                                    enum reply_kind kind)
{
    struct mock_reply *r = need(calloc(1, sizeof(*r)));
    evutil_socket_t fd;

    r->srv = srv;
    r->req = req;
    r->kind = kind;
    r->evcon = evhttp_request_get_connection(req);
    fd = bufferevent_getfd(evhttp_connection_get_bufferevent(r->evcon));
    r->watch = need(event_new(srv->base, fd, EV_READ | EV_PERSIST, on_readable, r));
    if (event_add(r->watch, NULL) != 0)
        die("event_add");
    if (kind != REPLY_HANG)
        r->timer = need(evtimer_new(srv->base, on_timer, r));
    evhttp_connection_set_closecb(r->evcon, on_close, r);
    r->next = srv->replies;
    if (r->next)
        r->next->prev = r;
    srv->replies = r;
    return r;
}

/* Forgets r: its events, its close callback and its place in the list. The request and the
 * connection are left to the caller. */
static void reply_free(struct mock_reply *r)
{
    if (r->evcon)
        evhttp_connection_set_closecb(r->evcon, NULL, NULL);
    if (r->watch)
        event_free(r->watch);
    if (r->timer)
        event_free(r->timer);
    if (r->prev)
        r->prev->next = r->next;
    else
        r->srv->replies = r->next;
    if (r->next)
        r->next->prev = r->prev;
    mock_answer_free(&r->answer);
    free(r);
}

static void reply_end(struct mock_reply *r, enum mock_outcome outcome)
{
    mock_stats_end(r->srv->stats, outcome);
    reply_free(r);
}

/* The client went away (or we are shutting down): close the connection, which frees the
 * request with it. */
static void cancel(struct mock_reply *r)
{
    struct evhttp_connection *evcon = r->evcon;

    reply_end(r, MOCK_CANCELLED);
    evhttp_connection_free(evcon);
}

/* Closes the connection on purpose, without finishing the response. */
static void drop(struct mock_reply *r)
{
    struct evhttp_connection *evcon = r->evcon;

    reply_end(r, MOCK_DROPPED);
    evhttp_connection_free(evcon);
}

/* evhttp is freeing the connection on its own, after a failed write. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct mock_reply *r = arg;
    struct evhttp_request *req = r->req;

    sl_debug("connection closed by evhttp: cancelling its request");
    r->evcon = NULL; /* being freed: its close callback needs no clearing */
    reply_end(r, MOCK_CANCELLED);
    /* After a failed write evhttp detaches the request and leaves it to us; otherwise it frees
     * the request along with the connection. */
    if (!evhttp_request_get_connection(req))
        evhttp_send_reply_end(req);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct mock_reply *r = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK);

    if (n > 0) {
        /* A pipelined request, not a close: evhttp reads it once this reply is done. */
        event_free(r->watch);
        r->watch = NULL;
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    sl_debug("client left: cancelling its request");
    cancel(r);
}

static void arm(struct mock_reply *r, int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};

    if (evtimer_add(r->timer, &tv) != 0)
        die("evtimer_add");
}

/* Hands the staged response to evhttp. */
static void finish_later(struct mock_reply *r)
{
    struct evhttp_request *req = r->req;
    int status = r->status;

    reply_end(r, MOCK_COMPLETED);
    evhttp_send_reply(req, status, mock_reason(status), NULL);
}

/* Sends srv->scratch as one piece of the response body; cb runs once it is all written. */
static void send_scratch(struct mock_server *srv, struct evhttp_request *req,
                         void (*cb)(struct evhttp_connection *, void *), void *arg)
{
    if (evbuffer_add(srv->chunk, srv->scratch.data, srv->scratch.len) != 0)
        die("evbuffer_add");
    evhttp_send_reply_chunk_with_cb(req, srv->chunk, cb, arg);
    /* evhttp leaves the buffer alone when it will not send a body at all. */
    evbuffer_drain(srv->chunk, evbuffer_get_length(srv->chunk));
}

static void start_stream(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_send_reply_start(req, 200, "OK");
}

static void on_flushed(struct evhttp_connection *evcon, void *arg)
{
    drop(arg);
}

static void stream_end(struct mock_reply *r)
{
    struct evhttp_request *req = r->req;

    reply_end(r, MOCK_COMPLETED);
    evhttp_send_reply_end(req);
}

/* Sends the next chunk, or all that remain when there is no delay between tokens. */
static void stream_step(struct mock_reply *r)
{
    struct sl_buf *b = &r->srv->scratch;
    int to = r->itl_ms > 0 ? r->sent + 1 : r->last;
    int rc;

    sl_buf_reset(b);
    if (r->mode == MOCK_STREAM_MALFORMED) {
        rc = sl_buf_adds(b, MOCK_MALFORMED_STREAM);
        to = r->last;
    } else {
        rc = mock_body_chunks(b, &r->answer, r->sent, to);
        if (!rc && to == r->last && r->mode == MOCK_STREAM_NORMAL)
            rc = mock_body_stream_end(b, &r->answer);
    }
    if (rc) {
        sl_error("cannot build a stream chunk: %s", sl_strerror(rc));
        drop(r);
        return;
    }
    r->sent = to;
    if (r->sent < r->last) {
        send_scratch(r->srv, r->req, NULL, NULL);
        arm(r, r->itl_ms);
    } else if (r->mode == MOCK_STREAM_CLOSE) {
        /* Drop once the chunks are on the wire, or the client would never see them. */
        send_scratch(r->srv, r->req, on_flushed, r);
    } else {
        send_scratch(r->srv, r->req, NULL, NULL);
        stream_end(r);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct mock_reply *r = arg;

    switch (r->kind) {
    case REPLY_LATER:
        finish_later(r);
        break;
    case REPLY_DROP:
        drop(r);
        break;
    case REPLY_STREAM:
        stream_step(r);
        break;
    case REPLY_HANG:
        break;
    }
}

enum mock_handled mock_reply_later(struct mock_server *srv, struct evhttp_request *req, int status,
                                   int64_t delay_ms)
{
    struct mock_reply *r;

    if (delay_ms <= 0) {
        evhttp_send_reply(req, status, mock_reason(status), NULL);
        return MOCK_ANSWERED;
    }
    r = reply_new(srv, req, REPLY_LATER);
    r->status = status;
    arm(r, delay_ms);
    return MOCK_DEFERRED;
}

enum mock_handled mock_reply_drop(struct mock_server *srv, struct evhttp_request *req,
                                  int64_t delay_ms)
{
    /* Even with no delay, not from inside evhttp's request callback. */
    arm(reply_new(srv, req, REPLY_DROP), delay_ms);
    return MOCK_DEFERRED;
}

enum mock_handled mock_reply_hang(struct mock_server *srv, struct evhttp_request *req)
{
    reply_new(srv, req, REPLY_HANG);
    return MOCK_DEFERRED;
}

/* The benchmark's path: the whole stream in one write, with no reply state. */
static enum mock_handled stream_now(struct mock_server *srv, struct evhttp_request *req,
                                    const struct mock_answer *a)
{
    struct sl_buf *b = &srv->scratch;
    int rc;

    sl_buf_reset(b);
    rc = mock_body_chunks(b, a, 0, mock_answer_chunks(a));
    if (!rc)
        rc = mock_body_stream_end(b, a);
    if (rc) {
        mock_send_error(srv, req, 500, "server_error", NULL, "mockllm: %s", sl_strerror(rc));
        return MOCK_ANSWERED;
    }
    start_stream(req);
    send_scratch(srv, req, NULL, NULL);
    evhttp_send_reply_end(req);
    return MOCK_ANSWERED;
}

enum mock_handled mock_reply_stream(struct mock_server *srv, struct evhttp_request *req,
                                    struct mock_answer *a, enum mock_stream_mode mode, int ttft_ms,
                                    int itl_ms)
{
    struct mock_reply *r;
    int chunks = mock_answer_chunks(a);

    if (mode == MOCK_STREAM_NORMAL && ttft_ms == 0 && itl_ms == 0)
        return stream_now(srv, req, a);
    start_stream(req);
    r = reply_new(srv, req, REPLY_STREAM);
    r->answer = *a;
    a->model_json = NULL;
    a->text = NULL;
    r->mode = mode;
    r->itl_ms = itl_ms;
    /* Rounded up, so that a one-token answer still sends something before the drop. */
    r->last = mode == MOCK_STREAM_CLOSE ? (chunks + 1) / 2 : chunks;
    arm(r, ttft_ms);
    return MOCK_DEFERRED;
}

void mock_reply_cancel_all(struct mock_server *srv)
{
    while (srv->replies)
        cancel(srv->replies);
}
