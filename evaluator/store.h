/* The evaluator's writes to eval.db (schema in common/evaldb.c): samples and scorer results,
 * in batched transactions. A transaction opens with the first write after a commit and ends
 * with sl_store_commit; nothing written is durable, or visible to readers, before that.
 * sl_store_open returns a heap object owning the SQLite handle; sl_store_close closes both.
 * Used by one thread. */
#ifndef SL_STORE_H
#define SL_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "sample.h"

/* One row of results. NULL strings are stored as NULL. */
struct sl_result {
    const char *scorer;         /* "rules", "judge" or "shadow" */
    int pass;                   /* 1 good, 0 bad, -1 NULL: the scorer itself failed */
    double grade;               /* in [0, 1]; < 0: NULL */
    const char *verdict;        /* shadow: "win", "tie" or "loss" */
    const char *reason;         /* the failed rule, the judge's rationale */
    const char *error;          /* why the scorer failed */
    const char *premium_answer; /* shadow: the premium model's answer */
};

struct sl_store;

/* Creates data_dir when missing and opens data_dir/eval.db; NULL with "path: what is wrong"
 * in err. */
struct sl_store *sl_store_open(const char *data_dir, char *err, size_t errlen);
/* Commits what is pending, then closes. NULL: no-op. */
void sl_store_close(struct sl_store *st);

/* The database handle, for modules that write their own tables (alerts) in the same
 * transactions. Owned by st. */
sqlite3 *sl_store_db(struct sl_store *st);

/* Inserts s, received at received_ms. *id is its new row id, or 0 when a sample with the same
 * request_id is stored already (the sample is ignored). SL_EIO when SQLite fails. */
int sl_store_sample(struct sl_store *st, const struct sl_sample *s, int64_t received_ms,
                    int64_t *id) SL_MUST_CHECK;
/* Inserts one result for sample id. SL_EIO when SQLite fails. */
int sl_store_result(struct sl_store *st, int64_t sample_id, int64_t ts_ms,
                    const struct sl_result *r) SL_MUST_CHECK;
/* Commits the open transaction (none open: returns 0 at once). On failure rolls it back, so
 * everything written since the last commit is lost, and returns SL_EIO. */
int sl_store_commit(struct sl_store *st) SL_MUST_CHECK;
/* Writes since the last commit (samples and results). */
size_t sl_store_pending(const struct sl_store *st);
/* The last SQLite error message, for logs. */
const char *sl_store_error(const struct sl_store *st);

#endif
