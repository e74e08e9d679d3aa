/* The controller's store (control.db): numbered configuration versions, registered classifiers,
 * the alert policy's state and its events, and the proxies' latest spending. A version's document
 * is {"routes", "fallbacks", "accounts"} (accounts: the teams and keys, see common/teams.h). Every
 * version is validated with sl_config_build against the proxies' static sluice.json before it is
 * stored, and carries a diff against the one before it. An old version is restored by committing
 * its document again, as a new version.
 *
 * Ownership: sl_versions owns the database handle, a copy of the current document and its built
 * configuration. Everything it hands out (trees, strings, arrays) is a copy that the caller
 * frees. Thread-safe: one mutex inside serialises every call, so the HTTP thread and the bus
 * thread may share one sl_versions. The schema is documented with the migrations in versions.c. */
#ifndef SL_VERSIONS_H
#define SL_VERSIONS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "errors.h"

#define SL_VERSIONS_ID_LEN 72 /* "sha256:" + 64 hex digits + NUL, rounded up */

struct sl_versions;

/* One stored version; sl_versions_entry_free releases its contents. */
struct sl_versions_entry {
    int64_t version;
    int64_t created_us; /* Unix µs */
    char *author;
    char *reason;
    cJSON *diff;     /* [{"path", "from"?, "to"?}] against the version before */
    cJSON *document; /* NULL unless asked for */
};

/* What a commit did. diff is the caller's to free (NULL when unchanged). */
struct sl_versions_change {
    int64_t version; /* the new version, or the current one when unchanged */
    bool unchanged;  /* the document was identical to the current one: nothing was stored */
    cJSON *diff;
};

/* The policy's state for one (route, tier). */
struct sl_versions_policy_row {
    double shift;          /* how far the policy has lowered the tier's threshold in all */
    int64_t alert_id;      /* the alert that moved it last; 0 none */
    int64_t last_us;       /* when the policy last stepped this (route, tier); 0 never */
    int64_t route_last_us; /* when it last stepped any tier of the route; 0 never (read only) */
    int64_t restored_us;   /* when it last restored the threshold; 0 never */
    bool keep;             /* the shift stays when its alert resolves (the drift came back) */
    double set_to;         /* the threshold the policy last wrote; 0 unknown (none is 0) */
};

/* Opens (creating and migrating) data_dir/control.db and reads static_path, the proxies'
 * sluice.json, whose providers and models every version is built on. Without any version yet,
 * version 1 is made from the file's own routes and its models' fallbacks (author "controller").
 * A current version that no longer builds against the file is logged, and kept: a new commit
 * or a rollback replaces it. NULL with "what is wrong" in err. */
struct sl_versions *sl_versions_open(const char *data_dir, const char *static_path, char *err,
                                     size_t errlen);
/* Closes the database and frees everything. NULL is a no-op. */
void sl_versions_close(struct sl_versions *vs);

/* The current version's number, and, when doc is not NULL, a copy of its document in *doc. */
int64_t sl_versions_current(struct sl_versions *vs, cJSON **doc);

/* Validates doc and stores it as the next version. base_version > 0 asks for optimistic
 * concurrency: the commit happens only if base_version is still the current version.
 *
 * Teams and keys: a doc without "accounts" keeps the current version's (if any): what is
 * committed, diffed and compared is doc plus the current "accounts". So a rollback to an old
 * document without them (and a tool that sends only routes and fallbacks) changes routes and
 * fallbacks, never teams or keys; a document with "accounts" replaces them whole, except that
 * a key revoked in the current version must still be there, revoked: otherwise SL_EINVAL with
 * "document: accounts.keys.ID: a revoked key stays revoked".
 *
 * A document identical to the current one stores nothing (out->unchanged). Returns 0, SL_EINVAL
 * with the validation message in err ("document: routes.auto.thresholds: ..."), SL_EAGAIN when
 * base_version is not current (someone committed first: read again and retry), SL_EIO when
 * control.db cannot be written. author and reason must be non-empty. */
int sl_versions_commit(struct sl_versions *vs, const cJSON *doc, const char *author,
                       const char *reason, int64_t base_version, struct sl_versions_change *out,
                       char *err, size_t errlen) SL_MUST_CHECK;

/* Changes the current document in place, under the lock, so that nothing commits in between:
 * edit gets a copy of the current document and the configuration built from it (NULL when the
 * current version does not build) and returns 0 to commit the copy (an unchanged copy commits
 * nothing), or a negative code, with err filled in, to give up: that code is returned. edit must
 * not call sl_versions functions. Otherwise as sl_versions_commit (an edit that removes
 * "accounts" keeps the current ones; one that un-revokes a key is refused). */
typedef int (*sl_versions_edit_fn)(void *ctx, cJSON *doc, const struct sl_config *cfg, char *err,
                                   size_t errlen);
int sl_versions_update(struct sl_versions *vs, sl_versions_edit_fn edit, void *ctx,
                       const char *author, const char *reason, struct sl_versions_change *out,
                       char *err, size_t errlen) SL_MUST_CHECK;

/* Reads version into *out (its document too when with_document). SL_ENOTFOUND, SL_EIO. */
int sl_versions_get(struct sl_versions *vs, int64_t version, bool with_document,
                    struct sl_versions_entry *out) SL_MUST_CHECK;
void sl_versions_entry_free(struct sl_versions_entry *e);
/* The newest limit versions, newest first, as a JSON array of {"version", "author",
 * "created_us", "reason", "diff"}. NULL on a database error. */
cJSON *sl_versions_list_json(struct sl_versions *vs, int limit);

/* The current version's thresholds for route as the proxies use them (a document may omit
 * them and take the classifier's): up to max into out, their count in *n. SL_ENOTFOUND when
 * the route is not in the current version (or it does not build). */
int sl_versions_thresholds(struct sl_versions *vs, const char *route, double *out, size_t max,
                           size_t *n) SL_MUST_CHECK;

/* Registers a classifier artifact: body[0..len) must parse with sl_classifier_parse, which
 * also checks its feature-spec hash against this build. Its id ("sha256:HEX" of the bytes) is
 * written to id; *existed says it was registered before (and nothing changed). note may be
 * NULL. Returns 0, SL_EINVAL with the parse error in err, SL_EIO. */
int sl_versions_register_classifier(struct sl_versions *vs, const char *body, size_t len,
                                    const char *note, char id[SL_VERSIONS_ID_LEN], bool *existed,
                                    char *err, size_t errlen) SL_MUST_CHECK;
/* The registered classifiers, newest first: [{"id", "feature_spec_hash", "registered_us",
 * "note", "metrics" (when the artifact has them)}]. NULL on a database error. */
cJSON *sl_versions_classifiers_json(struct sl_versions *vs);
/* A registered artifact's bytes into a NUL-terminated heap buffer *body (the caller frees it),
 * its length in *len. SL_ENOTFOUND, SL_EIO. */
int sl_versions_classifier_body(struct sl_versions *vs, const char *id, char **body,
                                size_t *len) SL_MUST_CHECK;
/* The artifact of the classifier route uses in the current version: from control.db for
 * "sha256:...", else the file (relative to sluice.json). SL_ENOTFOUND when the route is not
 * there, SL_EIO with err when the file cannot be read. */
int sl_versions_route_classifier(struct sl_versions *vs, const char *route, char **body,
                                 size_t *len, char *err, size_t errlen) SL_MUST_CHECK;
/* The distinct "sha256:..." classifiers doc names (routes' and arms' "classifier"), in order
 * of appearance, as a NULL-terminated array that sl_versions_ids_free releases. Never NULL. */
char **sl_versions_doc_classifiers(const cJSON *doc);
void sl_versions_ids_free(char **ids);

/* The policy's state for (route, tier); zeros when it has none. SL_EIO. */
int sl_versions_policy_get(struct sl_versions *vs, const char *route, const char *tier,
                           struct sl_versions_policy_row *out) SL_MUST_CHECK;
/* Stores the policy's state for (route, tier) (row's route_last_us is not stored). SL_EIO. */
int sl_versions_policy_set(struct sl_versions *vs, const char *route, const char *tier,
                           const struct sl_versions_policy_row *row) SL_MUST_CHECK;
/* Appends an event ("notify", "held", "adjust", "restore"); route, tier and message may be
 * NULL, alert_id and version 0 when none. SL_EIO. */
int sl_versions_add_event(struct sl_versions *vs, const char *kind, const char *route,
                          const char *tier, int64_t alert_id, int64_t version,
                          const char *message) SL_MUST_CHECK;
/* The newest limit events, newest first: [{"id", "ts_us", "kind", "route", "tier",
 * "alert_id", "version", "message"}] (absent fields null). NULL on a database error. */
cJSON *sl_versions_events_json(struct sl_versions *vs, int limit);

/* What one ledger (a proxy's audit log) last reported spending; see bus.h. */
struct sl_versions_ledger {
    const char *id;
    const char *spend; /* {"TEAM": {"since", "usd"}} as JSON text */
    int64_t last_us;   /* when it reported, Unix µs */
};
/* Stores rows, replacing each ledger's earlier row, then keeps only the `keep` ledgers that
 * reported last; all in one transaction. SL_EIO. */
int sl_versions_ledgers_save(struct sl_versions *vs, const struct sl_versions_ledger *rows,
                             size_t n, size_t keep) SL_MUST_CHECK;
/* Calls fn for every stored ledger, the latest to report first. SL_EIO. */
int sl_versions_ledgers_load(struct sl_versions *vs,
                             void (*fn)(void *ctx, const struct sl_versions_ledger *row),
                             void *ctx) SL_MUST_CHECK;

/* The diff of two documents (either may be NULL, read as {}): [{"path", "from", "to"}], one
 * entry per changed leaf, recursing into objects and comparing anything else whole; "from" is
 * absent for an added member, "to" for a removed one. */
cJSON *sl_versions_diff(const cJSON *from, const cJSON *to);

#endif
