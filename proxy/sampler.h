/* Sends sampled calls to evaluators: one ZeroMQ PUSH socket per worker, connected to every
 * evaluator endpoint (ZeroMQ spreads messages round-robin over them). Sending never blocks:
 * when the socket's queue is full (the evaluators are slow, down, or not there yet) the sample
 * is dropped and counted. A sampler belongs to one worker thread. */
#ifndef SL_SAMPLER_H
#define SL_SAMPLER_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "sample.h"

struct sl_sampler {
    void *sock;             /* ZeroMQ PUSH */
    struct sl_buf msg;      /* the encoding, reused */
    uint64_t sent, dropped; /* read by /metrics with relaxed atomic loads */
};

/* Creates the socket in ctx (a zmq context) and connects it to cfg's endpoints. */
int sl_sampler_init(struct sl_sampler *s, void *ctx, const struct sl_evaluators *cfg) SL_MUST_CHECK;
/* Queues one sample without waiting; counts it as sent or dropped. */
void sl_sampler_send(struct sl_sampler *s, const struct sl_sample *sample);
/* Closes the socket, giving queued samples up to linger_ms to leave. */
void sl_sampler_free(struct sl_sampler *s, int linger_ms);

#endif
