/* The audit log writer: request threads hand it rows, one dedicated thread writes them to
 * audit.db in batched transactions. Pushing copies the row and never touches the disk, so the
 * request path never waits on it. Rows are never dropped: while the writer cannot write (disk
 * full, locked file) they stay queued and the queue grows; sl_audit_backlogged tells the proxy
 * to refuse new requests (back-pressure) until the writer catches up. */
#ifndef SL_AUDIT_H
#define SL_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditdb.h"
#include "buf.h"
#include "errors.h"

struct sl_audit_options {
    size_t max_queue;  /* rows queued before sl_audit_backlogged says yes (default 65536) */
    size_t batch_rows; /* most rows per transaction (default 4096) */
    long flush_ms;     /* longest a row waits before the writer commits it (default 20) */
};

/* Counters for /metrics; read with sl_audit_stats from any thread. */
struct sl_audit_stats {
    uint64_t queued;       /* rows waiting now */
    uint64_t written;      /* rows committed since start */
    uint64_t batches;      /* transactions committed */
    uint64_t write_errors; /* failed transactions (their rows were kept and retried) */
    uint64_t backlogged;   /* times sl_audit_backlogged said yes */
    /* Commit latency of batches, histogram over the bounds of sl_audit_latency_bounds_us. */
    uint64_t latency_bucket[16]; /* the last one counts everything above the last bound */
    uint64_t latency_count, latency_sum_us;
};

extern const uint64_t sl_audit_latency_bounds_us[15];

struct sl_audit;

/* Opens path (see sl_auditdb_open) and starts the writer thread. NULL with err on failure. */
struct sl_audit *sl_audit_create(const char *path, const struct sl_audit_options *opt, char *err,
                                 size_t errlen);
/* Queues a copy of row; takes ownership of row->prompt and row->response. Thread-safe,
 * never blocks on disk, never fails (out of memory aborts: the row must not be lost). */
void sl_audit_push(struct sl_audit *a, const struct sl_audit_row *row);
/* True when the queue holds max_queue rows or more: new requests should be refused. */
bool sl_audit_backlogged(struct sl_audit *a);
void sl_audit_stats(struct sl_audit *a, struct sl_audit_stats *out);
/* Appends the stats as Prometheus text (queue depth, rows written, write errors,
 * back-pressure, the commit latency histogram). */
int sl_audit_render_metrics(struct sl_audit *a, struct sl_buf *out) SL_MUST_CHECK;
/* Writes every queued row, stops the thread and closes the database. NULL is a no-op.
 * Call it after the last push. While the file cannot be written, it keeps retrying for at most
 * 10 s, then logs how many rows could not be written and drops them. */
void sl_audit_destroy(struct sl_audit *a);

#endif
