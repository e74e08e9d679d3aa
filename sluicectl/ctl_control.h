/* sluicectl's commands for the controller's admin API (sluice-controller): configuration
 * versions (config get|set, versions, version, rollback, rollout), classifiers (classifier
 * register|list), A/B splits (ab promote|stop|set) and the controller's events. Built on
 * ctl_admin: pure request builders, answers read into tables by pure functions, one pluggable
 * transport. Requests the builders fill are the caller's to free with
 * sl_ctl_admin_request_free, even when a builder fails; documents passed in are only read. */
#ifndef SL_CTL_CONTROL_H
#define SL_CTL_CONTROL_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl_admin.h"
#include "ctl_table.h"
#include "errors.h"

/* ---- requests: 0, SL_ENOMEM, or SL_ETOOBIG for a path over 4 KiB ---- */

/* GET /admin/config: the current version's document. */
int sl_ctl_control_config_get(struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* PUT /admin/config {"document", "reason", "author"}: document becomes a new version. */
int sl_ctl_control_config_set(const cJSON *document, const char *reason, const char *author,
                              struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* GET /admin/versions[?limit=N] (limit <= 0: the server's default), newest first. */
int sl_ctl_control_versions(long limit, struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* GET /admin/versions/N: one version's metadata, diff and document. */
int sl_ctl_control_version(int64_t version, struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* POST /admin/rollback {"version", "reason", "author"}: version's document as a new version. */
int sl_ctl_control_rollback(int64_t version, const char *reason, const char *author,
                            struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* GET /admin/rollout[?version=N] (version <= 0: the current one): which proxies run it. */
int sl_ctl_control_rollout(int64_t version, struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* POST /admin/classifiers[?note=NOTE] with the artifact's bytes (a NUL-terminated JSON text)
 * as the body; note NULL or "": none. */
int sl_ctl_control_classifier_register(const char *artifact, const char *note,
                                       struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* GET /admin/classifiers. */
int sl_ctl_control_classifiers_list(struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* POST /admin/routes/ROUTE/canary {"classifier", "weight"[, "sticky"]}: the classifier scores
 * that share of the route's calls. sticky: "key", "user", "header:NAME", or NULL (the
 * server's default). */
int sl_ctl_control_canary(const char *route, const char *classifier, double weight,
                          const char *sticky, struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* POST /admin/routes/ROUTE/promote {"classifier"}: the classifier scores all the route's
 * calls. */
int sl_ctl_control_classifier_promote(const char *route, const char *classifier,
                                      struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* POST /admin/routes/ROUTE/promote {"arm"}: the arm's settings become the route's. */
int sl_ctl_control_ab_promote(const char *route, const char *arm,
                              struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* POST /admin/routes/ROUTE/ab/stop {"arm"}: the arm takes no more calls. */
int sl_ctl_control_ab_stop(const char *route, const char *arm,
                           struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* PUT /admin/routes/ROUTE/ab with ab (the route's "ab" object) as the body. */
int sl_ctl_control_ab_set(const char *route, const cJSON *ab,
                          struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* GET /admin/events[?limit=N], newest first. */
int sl_ctl_control_events(long limit, struct sl_ctl_admin_request *r) SL_MUST_CHECK;

/* ---- answers ---- */

/* Each fills t, which must have no columns yet, and returns 0, or SL_EPARSE when doc has
 * another shape. A list is found as doc itself when it is an array, else as its member "data"
 * or the one the function names. Times (created_us, ts_us) print as ISO 8601 UTC seconds; an
 * absent value prints as "-". */
/* The diff of doc's member "diff" (or of doc, an array): path, from, to, values as compact
 * JSON (long ones shortened with "..."). */
int sl_ctl_control_diff_table(const cJSON *doc, struct sl_ctl_table *t) SL_MUST_CHECK;
/* "versions": version, created, author, reason, changes (the diff's length). */
int sl_ctl_control_versions_table(const cJSON *doc, struct sl_ctl_table *t) SL_MUST_CHECK;
/* "proxies": proxy id, version, alive, propagation ms, error. */
int sl_ctl_control_rollout_table(const cJSON *doc, struct sl_ctl_table *t) SL_MUST_CHECK;
/* "classifiers": id, registered (registered_us), note. */
int sl_ctl_control_classifiers_table(const cJSON *doc, struct sl_ctl_table *t) SL_MUST_CHECK;
/* "events": time, kind, route, version, message. */
int sl_ctl_control_events_table(const cJSON *doc, struct sl_ctl_table *t) SL_MUST_CHECK;

/* ---- the commands ---- */

/* Runs `sluicectl config|versions|version|rollback|rollout|classifier|events ...` or
 * `sluicectl ab promote|stop|set ...` (argv[0] is the first word) through send (NULL:
 * libcurl) and returns the exit status. */
int sl_ctl_control_run(sl_ctl_admin_send_fn send, void *arg, int argc, char **argv, FILE *out,
                       FILE *err);

/* sl_ctl_control_run over libcurl. */
int sl_ctl_control_cmd(int argc, char **argv, FILE *out, FILE *err);

#endif
