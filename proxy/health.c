/* Circuit breaker and Retry-After cool-down per deployment. The hot checks read atomics;
 * outcomes are recorded under a mutex that only the deployment's own requests take. */
#include "health.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct sl_health {
    const struct sl_breaker_config *cfg;
    _Atomic int state;           /* enum sl_circuit */
    _Atomic uint64_t opened_at;  /* µs, when state became OPEN */
    _Atomic uint64_t cool_until; /* µs; 0 when not cooling */
    _Atomic uint64_t opens;
    pthread_mutex_t mu;     /* guards the fields below */
    int consecutive;        /* failures in a row */
    int count, failures;    /* outcomes in the window and how many failed */
    int next;               /* ring position */
    unsigned char window[]; /* 1 = failure, cfg->window entries */
};

struct sl_health *sl_health_create(const struct sl_breaker_config *cfg)
{
    struct sl_health *h = calloc(1, sizeof(*h) + (size_t)cfg->window);
    if (!h)
        return NULL;
    h->cfg = cfg;
    pthread_mutex_init(&h->mu, NULL);
    return h;
}

void sl_health_destroy(struct sl_health *h)
{
    if (!h)
        return;
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static bool open_expired(struct sl_health *h, uint64_t now_us)
{
    return now_us >= h->opened_at + (uint64_t)h->cfg->open_ms * 1000u;
}

bool sl_health_available(struct sl_health *h, uint64_t now_us)
{
    uint64_t cool = h->cool_until;

    if (cool && now_us < cool)
        return false;
    switch (h->state) {
    case SL_CIRCUIT_CLOSED:
        return true;
    case SL_CIRCUIT_OPEN:
        return open_expired(h, now_us);
    default:
        return false; /* a probe is in flight */
    }
}

bool sl_health_acquire(struct sl_health *h, uint64_t now_us, bool *probe)
{
    int expected = SL_CIRCUIT_OPEN;

    *probe = false;
    if (h->state == SL_CIRCUIT_CLOSED)
        return true;
    if (!open_expired(h, now_us))
        return false;
    /* Exactly one request moves OPEN -> HALF_OPEN and becomes the probe. */
    if (!atomic_compare_exchange_strong(&h->state, &expected, SL_CIRCUIT_HALF_OPEN))
        return false;
    *probe = true;
    return true;
}

static void reset_window(struct sl_health *h)
{
    h->consecutive = h->count = h->failures = h->next = 0;
}

static void open_circuit(struct sl_health *h, uint64_t now_us)
{
    h->opened_at = now_us;
    h->state = SL_CIRCUIT_OPEN;
    h->opens++;
    reset_window(h);
}

void sl_health_record(struct sl_health *h, bool success, uint64_t now_us)
{
    const struct sl_breaker_config *cfg = h->cfg;

    pthread_mutex_lock(&h->mu);
    if (h->state == SL_CIRCUIT_HALF_OPEN) {
        if (success) {
            reset_window(h);
            h->state = SL_CIRCUIT_CLOSED;
        } else {
            open_circuit(h, now_us);
        }
        goto out;
    }
    if (h->state == SL_CIRCUIT_OPEN)
        goto out; /* a request that started before the circuit opened */

    if (h->count == cfg->window)
        h->failures -= h->window[h->next];
    else
        h->count++;
    h->window[h->next] = !success;
    h->failures += !success;
    h->next = (h->next + 1) % cfg->window;
    h->consecutive = success ? 0 : h->consecutive + 1;

    if (h->consecutive >= cfg->consecutive_failures ||
        (h->count >= cfg->min_calls && (double)h->failures >= cfg->error_rate * h->count))
        open_circuit(h, now_us);
out:
    pthread_mutex_unlock(&h->mu);
}

void sl_health_abandon(struct sl_health *h, uint64_t now_us)
{
    int expected = SL_CIRCUIT_HALF_OPEN;
    uint64_t open_us = (uint64_t)h->cfg->open_ms * 1000u;

    pthread_mutex_lock(&h->mu);
    /* Back to OPEN, already expired, so the next request may probe at once. */
    h->opened_at = now_us > open_us ? now_us - open_us : 0;
    atomic_compare_exchange_strong(&h->state, &expected, SL_CIRCUIT_OPEN);
    pthread_mutex_unlock(&h->mu);
}

void sl_health_cool_down(struct sl_health *h, uint64_t until_us)
{
    uint64_t cur = h->cool_until;
    /* Keep the later of two deadlines; a lost race only shortens a cool-down slightly. */
    if (until_us > cur)
        h->cool_until = until_us;
}

uint64_t sl_health_cool_until(struct sl_health *h)
{
    return h->cool_until;
}

enum sl_circuit sl_health_state(struct sl_health *h)
{
    return (enum sl_circuit)h->state;
}

uint64_t sl_health_opens(struct sl_health *h)
{
    return h->opens;
}
