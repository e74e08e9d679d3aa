/* The audit log's SQLite file (audit.db): its schema, one row per proxied request, and the
 * optional payloads of teams that opted in. The proxy writes it (proxy/audit.c), sluicectl
 * reads it. An sl_auditdb owns its connection and prepared statements. */
#ifndef SL_AUDITDB_H
#define SL_AUDITDB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "reqid.h"

/* One request as the audit log records it. Strings are NUL-terminated and truncated to their
 * arrays; "" is stored as NULL. */
struct sl_audit_row {
    int64_t ts_ms; /* when the request arrived, Unix milliseconds */
    char request_id[SL_REQID_MAX + 1];
    char team[64];
    char key_id[32];
    char endpoint[16];         /* "chat", "embeddings" */
    char route[64];            /* the route asked for, if any */
    char model_requested[128]; /* the client's "model", as sent */
    char model[64];            /* the alias that served the answer (a fallback included) */
    char tier[64];             /* the route's tier, if routed */
    char deployment[128];      /* the deployment that served the last attempt */
    char arm[32];              /* A/B arm, if any */
    char error[48];            /* the error code sent to the client; "" on success */
    int64_t config_version;
    int status; /* HTTP status sent to the client */
    int attempts;
    int64_t tokens_in, tokens_out, tokens_cached; /* -1: unknown */
    bool tokens_estimated; /* counted by the gateway: the upstream gave no usage */
    bool stream;
    double cost_usd;         /* < 0: unknown or unpriced (stored as NULL) */
    double premium_cost_usd; /* the same tokens on the route's premium tier; < 0: none */
    int64_t upstream_us, overhead_us;
    /* Payloads, only for teams that log them, already redacted; heap strings or NULL.
     * sl_audit_push takes ownership of them. */
    char *prompt;
    char *response;
};

struct sl_auditdb {
    sqlite3 *db;
    sqlite3_stmt *insert_row, *insert_payload; /* NULL when opened read-only */
};

/* Opens (and unless readonly creates and migrates) the audit database at path. On failure
 * returns an SL_E* code and writes "path: what is wrong" into err. */
int sl_auditdb_open(struct sl_auditdb *a, const char *path, bool readonly, char *err,
                    size_t errlen) SL_MUST_CHECK;
void sl_auditdb_close(struct sl_auditdb *a);

/* Inserts one row (and its payloads when present) inside the caller's transaction.
 * SL_EIO when SQLite refuses; the message is in sqlite3_errmsg(a->db). */
int sl_auditdb_insert(struct sl_auditdb *a, const struct sl_audit_row *row) SL_MUST_CHECK;

/* Calls fn(team, usd, arg) with each team's total cost of rows with ts_ms >= since_ms. */
int sl_auditdb_team_spend(struct sl_auditdb *a, int64_t since_ms,
                          void (*fn)(const char *team, double usd, void *arg),
                          void *arg) SL_MUST_CHECK;

#endif
