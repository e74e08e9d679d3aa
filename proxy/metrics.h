/* Per-worker counters and histograms, rendered together as Prometheus text.
 * Each worker thread owns one sl_metrics and is its only writer; /metrics reads every
 * worker's with relaxed atomic loads, so counting costs a plain add on the hot path. */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

struct sl_health;

#define SL_HIST_BUCKETS 21

struct sl_hist {
    uint64_t bucket[SL_HIST_BUCKETS + 1]; /* the last one is +Inf */
    uint64_t count;
    uint64_t sum_us;
};

/* Why an upstream attempt failed, for sluice_upstream_failures_total. */
enum sl_fail {
    SL_FAIL_CONNECT,
    SL_FAIL_TIMEOUT,
    SL_FAIL_STATUS_429,
    SL_FAIL_STATUS_5XX,
    SL_FAIL_STATUS_OTHER,
    SL_FAIL_MALFORMED,
    SL_FAIL_STREAM, /* the stream broke after bytes reached the client */
    SL_FAIL_OTHER,
    SL_FAIL_COUNT
};

struct sl_metrics {
    const struct sl_config *cfg;
    uint64_t status[600];     /* responses by HTTP status */
    struct sl_hist *upstream; /* [deployment]: upstream time of successful attempts */
    struct sl_hist *overhead; /* [model * n_deployments + deployment]: gateway overhead */
    uint64_t *retries;        /* [model]: attempts beyond the first */
    uint64_t *fallbacks;      /* [model]: requests served by a fallback alias */
    uint64_t *failures;       /* [deployment * SL_FAIL_COUNT + reason] */
    uint64_t *decisions;      /* [tier slot]: requests a route sent to a tier */
    uint64_t *tokens;         /* [model * 2 + 0 prompt / 1 completion]: tokens served */
    uint64_t *cost_nusd;      /* [model]: cost of priced answers, in nano-USD */
    uint64_t *unpriced;       /* [model]: answers with usage but no price */
    uint64_t *premium_nusd;   /* [route slot]: the same answers' cost on the premium tier */
    uint64_t client_cancels;  /* clients that left before their answer was complete */
};

/* Allocates the tables for cfg (which must outlive m); aborts when out of memory. */
void sl_metrics_init(struct sl_metrics *m, const struct sl_config *cfg);
void sl_metrics_free(struct sl_metrics *m);

/* Adds one to a counter the calling thread owns. */
static inline void sl_metrics_inc(uint64_t *c)
{
    __atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
}

/* Adds n to a counter the calling thread owns. */
static inline void sl_metrics_add(uint64_t *c, uint64_t n)
{
    __atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

void sl_metrics_observe(struct sl_hist *h, uint64_t us);

/* Appends the Prometheus text for all workers' metrics and the deployments' circuits. */
int sl_metrics_render(struct sl_buf *out, const struct sl_config *cfg,
                      struct sl_metrics *const *workers, size_t n_workers,
                      struct sl_health *const *health) SL_MUST_CHECK;

#endif
