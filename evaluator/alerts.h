/* Quality alerts: one drift detector (drift.h) per condition, turned into rows of eval.db's
 * alerts table, ZeroMQ messages and webhook posts. The caller owns the database handle and
 * the PUB socket, which must outlive the sl_alerts; sl_alerts owns its detectors and copies
 * every string it keeps. Single-threaded: the evaluator's main thread calls every function; the
 * webhook, when there is one, is posted by a thread that sl_alerts owns (see The webhook).
 *
 * Conditions. Each outcome counts for up to four conditions, each with its own detector and
 * at most one open alert: "tier=ROUTE/TIER", "route=ROUTE", "model=MODEL" and, when the
 * sample had an A/B arm, "arm=ROUTE/ARM". The metric is "pass_rate".
 *
 * An alert. Raised: a row with state "open" is inserted, "alert.raised" is published and
 * the webhook is posted. While it lasts: last_seen_ms, severity and evidence are updated, at
 * most once a second per alert. Cleared: state "resolved" and resolved_ms are set,
 * "alert.resolved" is published and the webhook is posted. The message is two frames: the
 * topic, then the row as JSON: {"v":1,"id","key","route","tier","model","arm","metric",
 * "detector","severity","state","first_seen_ms","last_seen_ms","resolved_ms","evidence":{
 * "baseline_n","baseline_mean","window_n","window_mean","statistic","p_value","threshold",
 * "samples","at_raise":{the same, as the alert was raised}}} (absent subject fields and
 * resolved_ms are null; p_value is null for cusum). The evidence column holds the same
 * object. The severity is the highest seen while the alert lasted.
 * A failed publish is logged and counted, never fatal.
 *
 * The webhook gets Slack-compatible JSON {"text": "..."}. Raising or resolving only queues the
 * message (at most 1,000; a full queue drops the new one, counted and logged at most once a
 * minute), so a slow webhook never holds up the caller: a thread of sl_alerts posts the queue in
 * order, each message in at most 3 attempts of at most 2 s each, 1 s then 4 s apart (longer
 * when a 429's Retry-After asks, up to 30 s), retried on connection errors, timeouts and non-2xx
 * statuses. A message that fails every attempt is logged (never with the URL, which may hold a
 * token) and counted. sl_alerts_destroy gives the thread 5 s to deliver what is queued, then
 * drops the rest and logs how many. Call curl_global_init before sl_alerts_create when a
 * webhook is configured.
 *
 * Restarts. sl_alerts_create loads the open alerts and replays the newest 200,000 scored
 * samples of eval.db (well under a second; a sample's outcome: 1 when no scorer gave pass = 0, 0
 * otherwise; scorer failures, pass NULL, do not count) through fresh detectors, so that detection
 * goes on where it stopped: an alert still open is kept (never duplicated; its detector is opened
 * where the alert began if the replay did not find the drop itself) and resolved once its condition
 * recovers, at once when the replay saw it recover; a condition that the replay finds
 * dropped without an open row is raised. */
#ifndef SL_ALERTS_H
#define SL_ALERTS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "drift.h"
#include "errors.h"

/* Who an outcome is about. NULL or "" fields are absent: no route means no tier, route or
 * arm condition; no model, no model condition. */
struct sl_alert_subject {
    const char *route, *tier, *model, *arm;
};

struct sl_alerts_stats {
    uint64_t conditions;       /* conditions with a detector */
    uint64_t open;             /* alerts open now */
    uint64_t raised;           /* alerts raised since creation (restart reconciliation too) */
    uint64_t resolved;         /* alerts resolved since creation */
    uint64_t publish_failures; /* messages the PUB socket did not take */
    uint64_t webhook_failures; /* webhook messages not delivered after every attempt */
    uint64_t webhook_dropped;  /* webhook messages dropped because the queue was full */
    uint64_t db_errors;        /* alert rows that could not be written */
    uint64_t replayed;         /* scored samples replayed at creation */
};

struct sl_alerts;

/* Loads the open alerts of db and replays recent outcomes (see Restarts); zmq_pub (a ZeroMQ
 * PUB socket) and webhook_url may be NULL; cfg NULL means sl_drift_config_default. Starts the
 * webhook's thread when webhook_url is set. Returns NULL with "what is wrong" in err when cfg is
 * invalid, db cannot be read or the webhook's thread cannot be started. */
struct sl_alerts *sl_alerts_create(sqlite3 *db, void *zmq_pub, const char *webhook_url,
                                   const struct sl_drift_config *cfg, char *err, size_t errlen);
/* Stops the webhook's thread, after at most 5 s of delivering what is queued (see The
 * webhook), and frees everything. NULL is a no-op. */
void sl_alerts_destroy(struct sl_alerts *a);

/* Adds one scored outcome (1 pass, 0 fail, or a grade in [0, 1]) of subject s, observed at
 * now_ms (Unix ms), to each of its conditions, and writes, publishes and posts what changed.
 * Returns 0, or SL_EIO when an alert row could not be written (logged and counted; the
 * detectors have still taken the outcome, and the next change is written as usual). */
int sl_alerts_observe(struct sl_alerts *a, const struct sl_alert_subject *s, double outcome,
                      int64_t now_ms) SL_MUST_CHECK;

/* Counters, for a /metrics page or a log line. The webhook's may still move while the thread
 * posts. */
void sl_alerts_stats(const struct sl_alerts *a, struct sl_alerts_stats *out);

#endif
