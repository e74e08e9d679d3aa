/* Sends sampled calls to evaluators: one ZeroMQ PUSH socket per worker, connected to every
 * evaluator endpoint (ZeroMQ spreads messages round-robin over them). A call hands over raw
 * copies (its body, its answer) as a job; the sample is built (redacted, encoded) and sent on
 * the next loop pass, after the client's response has been written, so sampling costs the
 * client no latency. Sending never blocks: when the socket's queue is full (the evaluators
 * are slow, down, or not there yet) the sample is dropped and counted. A sampler belongs to
 * one worker thread. */
#ifndef SL_SAMPLER_H
#define SL_SAMPLER_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "sample.h"

/* One sampled call waiting to be sent. The sampler owns a queued job and what it points to. */
struct sl_sample_job {
    struct sl_sample s; /* everything but messages and answer, which the sampler makes */
    char *body;         /* the request body (heap) */
    size_t body_len;
    char *answer; /* heap: a stream's text when answer_is_text, else the response body */
    size_t answer_len;
    bool answer_is_text;
    struct sl_sample_job *next;
};

struct sl_sampler {
    void *sock;         /* ZeroMQ PUSH; NULL when no evaluators are configured */
    struct event *send; /* a zero timeout: runs after the loop pass's writes */
    struct sl_sample_job *head, *tail;
    struct sl_buf msg;      /* the encoding, reused */
    uint64_t sent, dropped; /* read by /metrics with relaxed atomic loads */
};

/* Creates the socket in ctx (a zmq context), connects it to cfg's endpoints and the send
 * event on base. */
int sl_sampler_init(struct sl_sampler *s, void *ctx, const struct sl_evaluators *cfg,
                    struct event_base *base) SL_MUST_CHECK;
/* Takes a job (heap, with its body and answer) to send after this loop pass. */
void sl_sampler_queue(struct sl_sampler *s, struct sl_sample_job *job);
/* Sends the queued jobs, then closes the socket giving them up to linger_ms to leave. */
void sl_sampler_free(struct sl_sampler *s, int linger_ms);

#endif
