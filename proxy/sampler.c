/* Sampled calls: built from raw copies after the response has gone, redacted, encoded and
 * PUSHed without ever waiting. */
#include "sampler.h"

#define SL_LOG_MODULE "sampler"
#include "json.h"
#include "log.h"
#include "redact.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_ANSWER (64u << 20)
#define FLUSH_MS   20 /* longest a sample waits for its batch */

/* Redacts every string in a JSON tree, in place. */
static int redact_tree(cJSON *node)
{
    cJSON *it;

    if (cJSON_IsString(node)) {
        char *r = sl_redact_copy(node->valuestring, strlen(node->valuestring));
        bool ok = r && cJSON_SetValuestring(node, r);
        free(r);
        if (!ok)
            return SL_ENOMEM;
    }
    cJSON_ArrayForEach(it, node)
    {
        if (redact_tree(it))
            return SL_ENOMEM;
    }
    return 0;
}

/* The request's messages, redacted: the raw text as it is when that keeps it valid JSON (a
 * number may read as a card number), else string by string. NULL when there are none. */
static char *messages_of(const char *body, size_t len)
{
    size_t s, e;
    char *out = NULL;
    cJSON *root, *m;

    if (!sl_json_member_span(body, len, "messages", &s, &e))
        return NULL;
    out = sl_redact_copy(body + s, e - s);
    if (out && sl_json_valid(out, strlen(out)))
        return out;
    free(out);
    out = NULL;
    root = cJSON_ParseWithLength(body, len);
    m = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (m && redact_tree(m) == 0)
        out = cJSON_PrintUnformatted(m);
    cJSON_Delete(root);
    return out;
}

/* Whether the request asked for a JSON answer: response_format.type json_object/json_schema. */
static bool json_mode_of(const char *body, size_t len)
{
    size_t s, e, ts, te;

    if (!sl_json_member_span(body, len, "response_format", &s, &e) ||
        !sl_json_member_span(body + s, e - s, "type", &ts, &te))
        return false;
    return (te - ts == 13 && memcmp(body + s + ts, "\"json_object\"", 13) == 0) ||
           (te - ts == 13 && memcmp(body + s + ts, "\"json_schema\"", 13) == 0);
}

/* Completes a job's sample and sends it. */
static void send_job(struct sl_sampler *sp, struct sl_sample_job *j)
{
    struct sl_sample *s = &j->s;
    struct sl_buf text;
    int rc = 0;

    sl_buf_init(&text, MAX_ANSWER);
    s->messages = messages_of(j->body, j->body_len);
    s->json_mode = json_mode_of(j->body, j->body_len);
    if (j->answer && !j->answer_is_text)
        rc = sl_json_chat_text(j->answer, j->answer_len, &text, s->finish_reason,
                               sizeof(s->finish_reason));
    if (rc == 0)
        s->answer = j->answer_is_text ? sl_redact_copy(j->answer ? j->answer : "", j->answer_len)
                                      : sl_redact_copy(text.data ? text.data : "", text.len);
    sl_buf_free(&text);
    sl_buf_reset(&sp->msg);
    if (s->answer && sl_sample_encode(s, &sp->msg) == 0 &&
        zmq_send(sp->sock, sp->msg.data, sp->msg.len, ZMQ_DONTWAIT) >= 0)
        __atomic_store_n(&sp->sent, sp->sent + 1, __ATOMIC_RELAXED);
    else
        __atomic_store_n(&sp->dropped, sp->dropped + 1, __ATOMIC_RELAXED);
    free(s->messages);
    free(s->answer);
    free(j->body);
    free(j->answer);
    free(j);
}

static void send_queued(evutil_socket_t fd, short events, void *arg)
{
    struct sl_sampler *s = arg;

    while (s->head) {
        struct sl_sample_job *j = s->head;
        s->head = j->next;
        send_job(s, j);
    }
    s->tail = NULL;
}

int sl_sampler_init(struct sl_sampler *s, void *ctx, const struct sl_evaluators *cfg,
                    struct event_base *base)
{
    int hwm = (int)cfg->queue, zero = 0;

    memset(s, 0, sizeof(*s));
    sl_buf_init(&s->msg, 64u << 20);
    s->sock = zmq_socket(ctx, ZMQ_PUSH);
    s->send = event_new(base, -1, 0, send_queued, s);
    if (!s->sock || !s->send || zmq_setsockopt(s->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
        zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof(zero))) {
        sl_error("cannot create the sample socket: %s", zmq_strerror(errno));
        return SL_ESYS;
    }
    for (char **e = cfg->endpoints; *e; e++) {
        /* connect succeeds before the evaluator is up: ZeroMQ reconnects in the background */
        if (zmq_connect(s->sock, *e)) {
            sl_error("evaluators.endpoints: %s: %s", *e, zmq_strerror(errno));
            return SL_EINVAL;
        }
    }
    return 0;
}

void sl_sampler_queue(struct sl_sampler *s, struct sl_sample_job *job)
{
    /* Jobs wait up to FLUSH_MS and go out together: a burst of sends wakes ZeroMQ's I/O thread
     * and the evaluator once, not once per call, which on a busy machine is what sampling
     * would otherwise cost the calls that follow. A timeout, not event_active: the client's
     * response is written first whatever the delay. */
    static const struct timeval later = {0, FLUSH_MS * 1000};

    job->next = NULL;
    if (s->tail)
        s->tail->next = job;
    else
        s->head = job;
    s->tail = job;
    if (!event_pending(s->send, EV_TIMEOUT, NULL))
        event_add(s->send, &later);
}

void sl_sampler_free(struct sl_sampler *s, int linger_ms)
{
    if (s->sock) {
        send_queued(-1, 0, s);
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger_ms, sizeof(linger_ms));
        zmq_close(s->sock);
    }
    if (s->send)
        event_free(s->send);
    sl_buf_free(&s->msg);
    s->sock = NULL;
    s->send = NULL;
}
