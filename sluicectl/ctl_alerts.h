/* sluicectl alerts: the evaluator's quality alerts in eval.db (common/evaldb.h), listed, shown
 * with their evidence, and acknowledged. Alerts read from the database are heap copies that
 * the caller releases with sl_ctl_alert_free / sl_ctl_alerts_free; the JSON builders return
 * documents that the caller deletes. */
#ifndef SL_CTL_ALERTS_H
#define SL_CTL_ALERTS_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "errors.h"

/* One row of the alerts table. Strings are NULL where the row has NULL; times are Unix ms,
 * -1 where the row has NULL. */
struct sl_ctl_alert {
    int64_t id;
    char *key; /* the condition, e.g. "tier=auto/small" */
    char *route, *tier, *model, *arm;
    char *metric, *detector, *severity;
    char *state; /* "open" or "resolved" */
    int64_t first_seen_ms, last_seen_ms, resolved_ms, acked_ms;
    char *acked_by;
    char *evidence; /* JSON text, as the evaluator wrote it */
};

struct sl_ctl_alerts {
    bool all; /* every alert, not only the open ones */
    struct sl_ctl_alert *rows;
    size_t n;
};

void sl_ctl_alert_free(struct sl_ctl_alert *a);
void sl_ctl_alerts_free(struct sl_ctl_alerts *r);

/* The open alerts (every alert when all), open ones first, then the most recently seen.
 * SL_EIO when SQLite fails (sqlite3_errmsg(db) says why), SL_ENOMEM; on failure r holds
 * nothing to free. */
int sl_ctl_alerts_list(sqlite3 *db, bool all, struct sl_ctl_alerts *r) SL_MUST_CHECK;
/* Alert id into *a. SL_ENOTFOUND when there is none; otherwise as sl_ctl_alerts_list. */
int sl_ctl_alert_get(sqlite3 *db, int64_t id, struct sl_ctl_alert *a) SL_MUST_CHECK;
/* Acknowledges alert id: acked_ms = now_ms, acked_by = by (NULL stores NULL). Acknowledging
 * again replaces both. SL_ENOTFOUND when there is no such alert, SL_EIO. */
int sl_ctl_alert_ack(sqlite3 *db, int64_t id, const char *by, int64_t now_ms) SL_MUST_CHECK;

/* {"id", "key", "route", "tier", "model", "arm", "metric", "detector", "severity", "state",
 * "first_seen", "last_seen", "resolved", "acked" (ISO 8601 UTC or null), "acked_by",
 * "evidence" (the parsed JSON; its text when it does not parse)}. */
cJSON *sl_ctl_alert_json(const struct sl_ctl_alert *a);
/* {"report": "alerts", "all": bool, "rows": [alert...]}. */
cJSON *sl_ctl_alerts_json(const struct sl_ctl_alerts *r);
/* The list as a table: id, key, severity, detector, state, first seen, last seen, acked. */
int sl_ctl_alerts_print(const struct sl_ctl_alerts *r, FILE *out) SL_MUST_CHECK;
/* One alert, a field per line, and its evidence pretty-printed. */
int sl_ctl_alert_print(const struct sl_ctl_alert *a, FILE *out) SL_MUST_CHECK;

/* sluicectl alerts [list|show ID|ack ID] ARGS (argv[0] is "alerts"): the exit status. */
int sl_ctl_alerts_cmd(int argc, char **argv, FILE *out, FILE *err);

#endif
