/* Sampled calls: built from raw copies on the sampler's own thread, redacted, encoded and
 * PUSHed without ever waiting. */
#include "sampler.h"

#define SL_LOG_MODULE "sampler"
#include "json.h"
#include "log.h"
#include "redact.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define FLUSH_MS 20 /* longest a sample waits for the thread to take its batch */

struct sl_sampler {
    void *sock; /* ZeroMQ PUSH, the thread's alone */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;               /* destroy wakes the thread; workers never do */
    struct sl_sample_job *head, *tail; /* under mu */
    long queued, max_queued;           /* under mu */
    bool stopping;                     /* under mu */
    struct sl_buf msg;                 /* the thread's encoding, reused */
    uint64_t sent, dropped;            /* atomics */
};

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

struct sl_sample_job *sl_sample_job_create(const char *body, size_t len)
{
    struct sl_sample_job *j = calloc(1, sizeof(*j));

    if (j && !(j->body = malloc(len + 1))) {
        free(j);
        return NULL;
    }
    if (j) {
        memcpy(j->body, body, len);
        j->body_len = len;
    }
    return j;
}

void sl_sample_job_destroy(struct sl_sample_job *j)
{
    if (!j)
        return;
    free(j->body);
    free(j->answer);
    free(j);
}

/* Completes a job's sample and sends it. */
static void send_job(struct sl_sampler *sp, struct sl_sample_job *j)
{
    struct sl_sample *s = &j->s;

    s->messages = messages_of(j->body, j->body_len);
    s->json_mode = json_mode_of(j->body, j->body_len);
    s->answer = sl_sample_answer(j->answer, j->answer_len, j->answer_is_text, s->finish_reason,
                                 sizeof(s->finish_reason));
    sl_buf_reset(&sp->msg);
    if (s->answer && sl_sample_encode(s, &sp->msg) == 0 &&
        zmq_send(sp->sock, sp->msg.data, sp->msg.len, ZMQ_DONTWAIT) >= 0)
        __atomic_add_fetch(&sp->sent, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&sp->dropped, 1, __ATOMIC_RELAXED);
    free(s->messages);
    free(s->answer);
    sl_sample_job_destroy(j);
}

/* The thread: every FLUSH_MS (or at once when stopping) it takes the whole queue and sends it.
 * Workers never signal: the timed wait batches the work without a system call per call. */
static void *run(void *arg)
{
    struct sl_sampler *s = arg;
    struct sched_param idle = {0};
    bool stopping = false;

    /* Building samples is background work: on a busy machine it must wait for idle CPU rather
     * than take it from the workers (the job queue's bound then turns the wait into drops). */
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle))
        sl_warn("the sampler thread runs at normal priority: SCHED_IDLE refused");

    while (!stopping) {
        struct sl_sample_job *batch;
        struct timespec until;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += FLUSH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->mu);
        if (!s->stopping)
            pthread_cond_timedwait(&s->wake, &s->mu, &until);
        batch = s->head;
        s->head = s->tail = NULL;
        s->queued = 0;
        stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        while (batch) {
            struct sl_sample_job *j = batch;
            batch = j->next;
            send_job(s, j);
        }
    }
    return NULL;
}

struct sl_sampler *sl_sampler_create(void *ctx, const struct sl_evaluators *cfg)
{
    struct sl_sampler *s = calloc(1, sizeof(*s));
    int hwm = (int)cfg->queue, zero = 0;

    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    sl_buf_init(&s->msg, 64u << 20);
    s->max_queued = cfg->queue;
    s->sock = zmq_socket(ctx, ZMQ_PUSH);
    if (!s->sock || zmq_setsockopt(s->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
        zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof(zero))) {
        sl_error("cannot create the sample socket: %s", zmq_strerror(errno));
        goto fail;
    }
    for (char **e = cfg->endpoints; *e; e++) {
        /* connect succeeds before the evaluator is up: ZeroMQ reconnects in the background */
        if (zmq_connect(s->sock, *e)) {
            sl_error("evaluators.endpoints: %s: %s", *e, zmq_strerror(errno));
            goto fail;
        }
    }
    if (pthread_create(&s->thread, NULL, run, s)) {
        sl_error("cannot start the sampler thread: %s", strerror(errno));
        goto fail;
    }
    return s;
fail:
    if (s->sock)
        zmq_close(s->sock);
    sl_buf_free(&s->msg);
    free(s);
    return NULL;
}

void sl_sampler_queue(struct sl_sampler *s, struct sl_sample_job *job)
{
    bool full;

    job->next = NULL;
    pthread_mutex_lock(&s->mu);
    full = s->queued >= s->max_queued;
    if (!full) {
        if (s->tail)
            s->tail->next = job;
        else
            s->head = job;
        s->tail = job;
        s->queued++;
    }
    pthread_mutex_unlock(&s->mu);
    if (full) { /* the thread is behind by a whole queue: drop rather than grow */
        __atomic_add_fetch(&s->dropped, 1, __ATOMIC_RELAXED);
        sl_sample_job_destroy(job);
    }
}

void sl_sampler_counts(struct sl_sampler *s, uint64_t *sent, uint64_t *dropped)
{
    *sent = __atomic_load_n(&s->sent, __ATOMIC_RELAXED);
    *dropped = __atomic_load_n(&s->dropped, __ATOMIC_RELAXED);
}

void sl_sampler_destroy(struct sl_sampler *s, int linger_ms)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    zmq_setsockopt(s->sock, ZMQ_LINGER, &linger_ms, sizeof(linger_ms));
    zmq_close(s->sock);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    sl_buf_free(&s->msg);
    free(s);
}
