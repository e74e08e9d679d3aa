/* Sends sampled calls to evaluators. Workers hand over raw copies of a call (its body, its
 * answer) as a job; one sampler thread builds each sample (redacts, encodes) and PUSHes it
 * over ZeroMQ to every evaluator endpoint (round-robin over them). So sampling costs a worker
 * a few copies and an uncontended lock, never a system call or a stall. Sending never blocks:
 * when the socket's queue or the job queue is full (the evaluators are slow, down, or not
 * there yet) the sample is dropped and counted. */
#ifndef SL_SAMPLER_H
#define SL_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

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

struct sl_sampler;

/* Creates the PUSH socket in ctx (a zmq context), connects it to cfg's endpoints and starts
 * the sampler thread. NULL after logging why. */
struct sl_sampler *sl_sampler_create(void *ctx, const struct sl_evaluators *cfg);
/* Starts a job for a call whose request body is body[0..len) (copied); NULL when out of
 * memory. */
struct sl_sample_job *sl_sample_job_create(const char *body, size_t len);
/* Frees a job that will not be sent, and what it points to. NULL is a no-op. */
void sl_sample_job_destroy(struct sl_sample_job *j);
/* Takes a job (heap, with its body and answer). Thread-safe; never blocks on the network. */
void sl_sampler_queue(struct sl_sampler *s, struct sl_sample_job *job);
/* Samples sent to the socket and dropped so far (any thread). */
void sl_sampler_counts(struct sl_sampler *s, uint64_t *sent, uint64_t *dropped);
/* Sends what is queued, closes the socket giving samples up to linger_ms to leave, and stops
 * the thread. NULL is a no-op. */
void sl_sampler_destroy(struct sl_sampler *s, int linger_ms);

#endif
