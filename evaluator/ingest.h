/* The evaluator's loop: receives samples on a ZeroMQ PULL socket, stores them in eval.db,
 * scores them per route and feeds each sample's outcome to the alerts. One thread does it all.
 *
 * The loop. Each pass drains the PULL socket without blocking (at most 1000 messages), then
 * commits the batch when it holds 1000 samples or is 50 ms old, then waits in
 * curl_multi_poll for the judge's HTTP transfers, with the PULL socket's ZMQ_FD and the stop
 * descriptor as extra descriptors. ZMQ_FD only signals that the socket's state may have
 * changed, so the loop reads ZMQ_EVENTS before waiting and does not wait while a message is
 * ready; the wait is at most the time left until the batch's commit (or 1 s).
 *
 * A sample. Decoded with sl_sample_decode (an invalid one is counted, and logged at most 10
 * times a minute, without payload text); stored in `samples` unless its request_id is there
 * already (a duplicate is counted and ignored); the rules scorer's result is written in the
 * same transaction. Once the transaction is committed the sample counts as stored and its
 * judge and shadow calls are queued (see llm.h; when max_queue calls wait, new ones are
 * dropped and counted). Judge and shadow are not called for a sample that has no answer to
 * assess: the rules found an upstream error or an empty answer. Shadow compares only samples
 * answered by a tier below the route's premium tier, a shadow_rate share of them. When every
 * scorer of a sample has finished, and its results are committed, its outcome goes to
 * sl_alerts_observe: 0 when a scorer gave pass = 0, else 1 when one gave pass = 1, else none
 * (only scorer failures).
 *
 * Stopping. When stop_fd is readable: the samples already queued in the PULL socket are read
 * and the socket closed; waiting judge calls are dropped; calls in flight get up to
 * min(judge.timeout_ms, 5 s) to finish; then everything is committed. Results of calls that
 * had not finished are lost: their samples stay stored with the results they have (and are
 * not scored again after a restart). Every committed row survives a restart. */
#ifndef SL_INGEST_H
#define SL_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "alerts.h"
#include "errors.h"
#include "evconfig.h"
#include "store.h"

struct sl_ingest_stats {
    uint64_t received;        /* messages read from the PULL socket */
    uint64_t invalid;         /* messages sl_sample_decode refused */
    uint64_t stored;          /* samples committed */
    uint64_t duplicates;      /* samples whose request_id was stored already */
    uint64_t judged;          /* judge grades committed */
    uint64_t judge_failures;  /* judge results with pass NULL (timeout, HTTP, unparseable) */
    uint64_t shadowed;        /* shadow verdicts committed */
    uint64_t shadow_failures; /* shadow results with pass NULL */
    uint64_t dropped;         /* judge or shadow calls not made: the queue was full */
    uint64_t store_errors;    /* samples or results lost to a failed write */
};

struct sl_ingest;

/* Binds a PULL socket of zmq_ctx to every cfg->listen endpoint. cfg, store and alerts (NULL:
 * no alerts) must outlive the sl_ingest. NULL with "what is wrong" in err. */
struct sl_ingest *sl_ingest_create(const struct sl_evconfig *cfg, void *zmq_ctx,
                                   struct sl_store *store, struct sl_alerts *alerts, char *err,
                                   size_t errlen);
/* Closes the socket (when still open) and drops every call; commits nothing. NULL: no-op. */
void sl_ingest_destroy(struct sl_ingest *ing);

/* Runs the loop until stop_fd is readable, then stops as described above. SL_EIO when the
 * loop cannot go on (a ZeroMQ or curl failure); the caller should still destroy. */
int sl_ingest_run(struct sl_ingest *ing, int stop_fd) SL_MUST_CHECK;

/* Counters so far. */
void sl_ingest_stats(const struct sl_ingest *ing, struct sl_ingest_stats *out);

#endif
