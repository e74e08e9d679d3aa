/* ZeroMQ PUSH of encoded samples, never blocking the worker. */
#include "sampler.h"

#define SL_LOG_MODULE "sampler"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

int sl_sampler_init(struct sl_sampler *s, void *ctx, const struct sl_evaluators *cfg)
{
    int hwm = (int)cfg->queue, zero = 0;

    memset(s, 0, sizeof(*s));
    sl_buf_init(&s->msg, 64u << 20);
    s->sock = zmq_socket(ctx, ZMQ_PUSH);
    if (!s->sock || zmq_setsockopt(s->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
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

void sl_sampler_send(struct sl_sampler *s, const struct sl_sample *sample)
{
    sl_buf_reset(&s->msg);
    if (sl_sample_encode(sample, &s->msg) == 0 &&
        zmq_send(s->sock, s->msg.data, s->msg.len, ZMQ_DONTWAIT) >= 0)
        __atomic_store_n(&s->sent, s->sent + 1, __ATOMIC_RELAXED);
    else
        __atomic_store_n(&s->dropped, s->dropped + 1, __ATOMIC_RELAXED);
}

void sl_sampler_free(struct sl_sampler *s, int linger_ms)
{
    if (s->sock) {
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger_ms, sizeof(linger_ms));
        zmq_close(s->sock);
    }
    sl_buf_free(&s->msg);
    s->sock = NULL;
}
