/* sluicectl keys and teams: calls to the proxy's admin API (/admin/keys, /admin/teams).
 * Requests are built and responses read by pure functions that tests reach without a server;
 * one transport (libcurl, or a test's stand-in) carries them. Requests and responses own their
 * strings and are released with their _free. The admin key comes from $SLUICE_ADMIN_KEY only
 * and is never printed. */
#ifndef SL_CTL_ADMIN_H
#define SL_CTL_ADMIN_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "errors.h"
#include "ctl_table.h"

/* One call: method, path (with its query, escaped) and the JSON body or NULL. */
struct sl_ctl_admin_request {
    const char *method; /* static: "GET", "POST", "DELETE" */
    char *path;
    char *body;
};

struct sl_ctl_admin_response {
    long status;
    char *body; /* NUL-terminated, never NULL after a successful send */
};

void sl_ctl_admin_request_free(struct sl_ctl_admin_request *r);
void sl_ctl_admin_response_free(struct sl_ctl_admin_response *r);

/* Rate limits; 0 or less: not given (unlimited). */
struct sl_ctl_limits {
    long rpm, tpm, concurrency;
};

/* A team as `teams set` replaces it: what is not given is unlimited or absent. */
struct sl_ctl_team {
    const char *name;
    struct sl_ctl_limits limits;
    double budget_usd;  /* NAN: no budget */
    const char *period; /* "day", "week", "month"; NULL: month */
    double warn_at;     /* NAN: the server's default */
    bool log_payloads;
};

/* The builders fill r (which the caller frees) and return 0 or SL_ENOMEM. */
int sl_ctl_admin_team_set(const struct sl_ctl_team *t,
                          struct sl_ctl_admin_request *r) SL_MUST_CHECK;
int sl_ctl_admin_teams_list(struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* name may be NULL. */
int sl_ctl_admin_key_create(const char *team, const char *name, const struct sl_ctl_limits *l,
                            struct sl_ctl_admin_request *r) SL_MUST_CHECK;
/* team NULL: every team's keys. */
int sl_ctl_admin_keys_list(const char *team, struct sl_ctl_admin_request *r) SL_MUST_CHECK;
int sl_ctl_admin_key_revoke(const char *id, struct sl_ctl_admin_request *r) SL_MUST_CHECK;

/* Writes "STATUS: MESSAGE" for a failed call: the message of an OpenAI-shaped error body,
 * else the body's first line when it is short text, else the status's reason. */
void sl_ctl_admin_error(const struct sl_ctl_admin_response *r, char *out, size_t outlen);

/* Fill t (which must have no columns yet) from the API's answers: keys from
 * {"data":[key...]}, teams from {"data":[team...]} or from one team object. SL_EPARSE when doc
 * has another shape; SL_ENOMEM. */
int sl_ctl_admin_keys_table(const cJSON *doc, struct sl_ctl_table *t) SL_MUST_CHECK;
int sl_ctl_admin_teams_table(const cJSON *doc, struct sl_ctl_table *t) SL_MUST_CHECK;

/* Where calls go: base URL (no trailing slash needed) and the admin key. */
struct sl_ctl_admin_conn {
    const char *url;
    const char *key;
};

/* Carries req to the server and fills resp (any HTTP status is a success here). On failure
 * returns SL_EIO (or SL_ETOOBIG, SL_ENOMEM) with the reason in err. */
typedef int (*sl_ctl_admin_send_fn)(const struct sl_ctl_admin_conn *c,
                                    const struct sl_ctl_admin_request *req,
                                    struct sl_ctl_admin_response *resp, char *err, size_t errlen,
                                    void *arg);

/* The libcurl transport; arg is unused. Gives up after 5 s connecting, 30 s in all, and takes
 * at most 16 MiB of answer. */
int sl_ctl_admin_send_curl(const struct sl_ctl_admin_conn *c,
                           const struct sl_ctl_admin_request *req,
                           struct sl_ctl_admin_response *resp, char *err, size_t errlen,
                           void *arg) SL_MUST_CHECK;

/* Runs `sluicectl keys ...` or `sluicectl teams ...` (argv[0] is "keys" or "teams") through
 * send (NULL: libcurl) and returns the exit status. */
int sl_ctl_admin_run(sl_ctl_admin_send_fn send, void *arg, int argc, char **argv, FILE *out,
                     FILE *err);

/* sluicectl's keys and teams commands: sl_ctl_admin_run over libcurl. */
int sl_ctl_admin_cmd(int argc, char **argv, FILE *out, FILE *err);

#endif
