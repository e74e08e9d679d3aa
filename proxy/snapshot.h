/* One configuration version as the proxy serves it: immutable once made, reference-counted.
 * A worker holds one reference to the version it serves and every call one more to the version
 * it started on, so a call is served by exactly one version from its start to its end, and a
 * version is freed when the last call on it ends (sl_snapshot_release). */
#ifndef SL_SNAPSHOT_H
#define SL_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"

struct sl_snapshot {
    int refs;
    int64_t version;             /* 0: the routes of the proxy's own file */
    const struct sl_config *cfg; /* models and routes to serve; other members are the file's */
    struct sl_config *owned;     /* cfg, when the snapshot owns it; NULL when borrowed */
    char *models_json;           /* the body of GET /v1/models */
};

/* A snapshot of cfg with one reference, owning cfg when own is set (and then destroying it
 * even on failure). NULL when out of memory. */
struct sl_snapshot *sl_snapshot_create(struct sl_config *cfg, bool own, int64_t version);
/* Appends the OpenAI model object of an alias, or of a route when route is set. SL_ENOMEM. */
int sl_snapshot_model_json(struct sl_buf *b, const char *name, bool route) SL_MUST_CHECK;
/* Adds a reference. Thread-safe. */
struct sl_snapshot *sl_snapshot_ref(struct sl_snapshot *s);
/* Drops a reference, freeing the snapshot with the last. Thread-safe; NULL is a no-op. */
void sl_snapshot_release(struct sl_snapshot *s);

#endif
