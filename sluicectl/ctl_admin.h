/* sluicectl keys and teams: calls to the proxy's admin API (/admin/keys, /admin/teams), and
 * the machinery that the commands of other admin APIs share (ctl_control: the controller's).
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

#include "ctl.h"
#include "ctl_table.h"
#include "errors.h"

/* One call: method, path (with its query, escaped) and the JSON body or NULL. */
struct sl_ctl_admin_request {
    const char *method; /* static: "GET", "POST", "PUT", "DELETE" */
    char *path;
    char *body;
};

struct sl_ctl_admin_response {
    long status;
    char *body; /* NUL-terminated, never NULL after a successful send */
};

void sl_ctl_admin_request_free(struct sl_ctl_admin_request *r);
void sl_ctl_admin_response_free(struct sl_ctl_admin_response *r);

/* For request builders. Sets r to method (static) and the path prefix + arg percent-encoded +
 * suffix, without a body; a NULL arg or suffix is left out. 0, SL_ENOMEM, or SL_ETOOBIG for a
 * path over 4 KiB; r is the caller's to free either way. */
int sl_ctl_admin_request_init(struct sl_ctl_admin_request *r, const char *method,
                              const char *prefix, const char *arg,
                              const char *suffix) SL_MUST_CHECK;
/* Prints doc unformatted as r's body and deletes doc. ok false (building doc failed somewhere)
 * or doc NULL: SL_ENOMEM. */
int sl_ctl_admin_request_json(struct sl_ctl_admin_request *r, cJSON *doc, bool ok) SL_MUST_CHECK;

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
/* POST /admin/keys/import with a proxy's keys.db at db_path (opened read-only) as its body:
 * {"accounts": {"teams", "keys"}} as a configuration version holds them, revoked keys too.
 * 0, SL_ENOMEM, or SL_EIO when the file cannot be read; err says why (without the path). */
int sl_ctl_admin_keys_import(const char *db_path, struct sl_ctl_admin_request *r, char *err,
                             size_t errlen) SL_MUST_CHECK;

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

/* A server with an admin API, as the command line names it. */
struct sl_ctl_admin_server {
    const char *what;   /* "the proxy", for messages */
    const char *option; /* its URL option without "--" ("url"), parsed into args.url */
    const char *env;    /* the environment variable with its URL when the option is not given */
    const char *default_url; /* when neither is */
};

/* One run of an admin command. The caller sets spec, server, send, arg, out and err;
 * sl_ctl_admin_parse fills a, the first call conn and url. */
struct sl_ctl_admin_call {
    const struct sl_ctl_spec *spec;
    const struct sl_ctl_admin_server *server;
    struct sl_ctl_args a;
    struct sl_ctl_admin_conn conn;
    char url[2048]; /* conn.url: the base URL without trailing slashes */
    sl_ctl_admin_send_fn send;
    void *arg;
    FILE *out, *err;
};

/* The command's options (sl_ctl_parse): SL_CTL_RUN, or the exit status to return. */
int sl_ctl_admin_parse(struct sl_ctl_admin_call *c, int argc, char **argv);
/* Sends req (freed here; built is what building it returned, reported if not 0). On a 2xx
 * answer with --json, prints the body as it came and returns 0; without, parses it into *doc
 * (the caller's to delete) and returns SL_CTL_RUN so that the command goes on to print it.
 * Otherwise reports why on c->err (the server's message for an HTTP error) and returns the
 * exit status. */
int sl_ctl_admin_perform(struct sl_ctl_admin_call *c, struct sl_ctl_admin_request *req, int built,
                         cJSON **doc);
/* The same, but always parses the answer into *doc, --json or not (for commands that make
 * several calls and print their answers together). */
int sl_ctl_admin_fetch(struct sl_ctl_admin_call *c, struct sl_ctl_admin_request *req, int built,
                       cJSON **doc);
/* Prints the table that fill makes of doc, or the line none when it has no rows; deletes doc.
 * The exit status. */
int sl_ctl_admin_print_table(struct sl_ctl_admin_call *c, cJSON *doc,
                             int (*fill)(const cJSON *, struct sl_ctl_table *), const char *none);

/* Runs `sluicectl keys ...` or `sluicectl teams ...` (argv[0] is "keys" or "teams") through
 * send (NULL: libcurl) and returns the exit status. */
int sl_ctl_admin_run(sl_ctl_admin_send_fn send, void *arg, int argc, char **argv, FILE *out,
                     FILE *err);

/* sluicectl's keys and teams commands: sl_ctl_admin_run over libcurl. */
int sl_ctl_admin_cmd(int argc, char **argv, FILE *out, FILE *err);

#endif
