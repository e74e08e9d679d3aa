/* The static configuration of a Sluice proxy, loaded from sluice.json.
 * sl_config_load returns a heap object that owns every string and array in it; it is
 * read-only once loaded and freed as a whole with sl_config_destroy. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "classifier.h"
#include "errors.h"
#include "teams.h"

#define SL_CONFIG_MAX_DEPLOYMENTS 256
#define SL_CONFIG_MAX_ROUTES      256  /* distinct route names a proxy serves in its life */
#define SL_CONFIG_MAX_ROUTE_TIERS 1024 /* distinct (route, tier) names likewise */

struct sl_timeouts {
    long connect_ms;    /* TCP (and TLS) connection set-up */
    long first_byte_ms; /* request sent until the response's status line */
    long total_ms;      /* the whole transfer, a stream included */
};

struct sl_provider {
    char *name;
    char *base_url;    /* e.g. "https://api.openai.com/v1", no trailing slash */
    char *api_key_env; /* name of the environment variable holding the key, or NULL */
    char *api_key;     /* its value, read at load; NULL when unset. Never log it. */
    bool stream_usage; /* accepts stream_options.include_usage (default true) */
};

struct sl_deployment {
    char *name;        /* "provider/model" unless named in the file; unique in its alias */
    const char *alias; /* the alias it belongs to (sl_model.name) */
    const struct sl_provider *provider;
    char *model;   /* the provider's model name */
    double weight; /* > 0; relative share among healthy deployments */
    struct sl_timeouts timeouts;
    size_t index; /* position in sl_config.deployments */
};

/* USD per million tokens. */
struct sl_price {
    bool known; /* false: unpriced (never treated as free) */
    double input, output, cached_input;
};

/* A model alias that applications ask for by name. */
struct sl_model {
    char *name;
    struct sl_price price;
    struct sl_deployment **deployments; /* at least one; owned by sl_config */
    size_t n_deployments;
    const struct sl_model **fallbacks; /* other aliases tried in order when all fail */
    size_t n_fallbacks;
};

/* One tier of a route: its models, cheapest first (unpriced ones last). */
struct sl_tier {
    char *name;
    const struct sl_model **models;
    size_t n_models;
    size_t slot; /* its row in the proxy's per-tier metrics; see sl_route.slot */
};

/* Where an A/B split takes the value that keeps a caller in one arm. */
enum sl_sticky { SL_STICKY_KEY, SL_STICKY_USER, SL_STICKY_HEADER };

/* One arm of an A/B split: a variant of its route. Each NULL member means "as the route". */
struct sl_arm {
    char *name;
    double weight;                    /* > 0, relative to the other arms */
    const struct sl_model *model;     /* every call of the arm goes to this alias (one of the
                                         route's tiers lists it), unrouted */
    const struct sl_model ***tiers;   /* [n_tiers]: a tier's models, NULL to keep the route's */
    size_t *n_tier_models;            /* [n_tiers] */
    struct sl_classifier *classifier; /* scores the arm's calls (a reference the config owns) */
    double *thresholds;               /* [n_tiers - 1] */
};

/* "ab": {"name", "sticky": "key"|"user"|"header:NAME", "arms": [...]}: calls are split
 * between arms by a hash of the experiment's name and the sticky value, so one caller stays
 * in one arm for the experiment's life. */
struct sl_ab {
    char *name;
    enum sl_sticky sticky;
    char *header; /* for SL_STICKY_HEADER */
    struct sl_arm *arms;
    size_t n_arms;
    double total_weight;
};

/* "policy": what the controller does when the evaluator raises a quality alert on one of the
 * route's cheaper tiers. Proxies ignore it. */
struct sl_route_policy {
    bool adjust;     /* false: notify only; true: lower that tier's threshold by step */
    double step;     /* per alert */
    double ceiling;  /* the most the policy may lower a threshold in all */
    long cooldown_s; /* between two steps on one route */
};

/* A route: the request's model name is scored by a classifier and sent to a tier. A score
 * below thresholds[0] picks tiers[0], below thresholds[1] tiers[1], and so on. */
struct sl_route {
    char *name;
    struct sl_classifier *classifier;
    enum sl_features_messages messages;
    struct sl_tier *tiers; /* at least two */
    size_t n_tiers;
    double *thresholds; /* n_tiers - 1, ascending */
    double *sampling;   /* [n_tiers]: share of the tier's calls sent to evaluators (0..1) */
    struct sl_ab *ab;   /* NULL: no split */
    struct sl_route_policy policy;
    /* Its row in the proxy's per-route metrics. Numbered in file order at load; a proxy that
     * swaps configurations renumbers them so that a name keeps its row across versions. */
    size_t slot;
};

struct sl_breaker_config {
    int consecutive_failures; /* open after this many failures in a row */
    double error_rate;        /* ... or when the failure share of the window reaches this */
    int window;               /* outcomes remembered for the error rate */
    int min_calls;            /* outcomes needed before the error rate counts */
    long open_ms;             /* how long an open circuit refuses before a half-open probe */
};

/* The audit log (audit.db in data_dir). */
struct sl_audit_config {
    bool enabled;    /* default true */
    long max_queue;  /* rows waiting for the disk before new requests are refused (503) */
    long batch_rows; /* most rows per transaction */
    long flush_ms;   /* longest a row waits before its transaction */
};

/* Where sampled calls go (ZeroMQ PUSH, round-robin over the endpoints). */
struct sl_evaluators {
    char **endpoints; /* NULL-terminated; NULL: sampling is off */
    long queue;       /* samples waiting per worker before new ones are dropped (ZMQ_SNDHWM) */
};

/* The controller this proxy follows (ZeroMQ endpoints); all NULL: none, the file's routes
 * stay. */
struct sl_controller_config {
    char *snapshot;    /* its ROUTER, asked for the whole state */
    char *updates;     /* its PUB: every change, and heartbeats */
    char *reports;     /* its PULL: the version this proxy serves */
    long heartbeat_ms; /* the controller's heartbeat; 3 missed ones mean it is lost */
};

struct sl_config {
    char *path;
    struct sl_controller_config controller;
    struct sl_evaluators evaluators;
    char *data_dir;      /* keys.db and audit.db; a relative path is from the file's directory */
    bool auth_required;  /* calls need a virtual key (default true) */
    char *admin_key_env; /* the variable holding the admin API's key (default SLUICE_ADMIN_KEY) */
    char *admin_key;     /* its value, read at load; NULL: the admin API refuses. Never log it. */
    struct sl_audit_config audit;
    char *listen_host;
    int listen_port;
    int workers;
    size_t max_body_bytes;
    size_t max_header_bytes;
    int max_attempts;            /* upstream attempts per request, the first included */
    long max_retry_wait_ms;      /* longest Retry-After a request will wait out itself */
    struct sl_timeouts timeouts; /* defaults for deployments */
    struct sl_breaker_config breaker;
    char *log_level;

    struct sl_provider *providers;
    size_t n_providers;
    struct sl_deployment *deployments; /* every deployment of every model */
    size_t n_deployments;
    struct sl_model *models;
    size_t n_models;
    struct sl_route *routes;
    size_t n_routes;
    size_t n_route_tiers; /* tiers of all routes together */
    /* A version's teams and keys, which replace the proxy's own; NULL when the version has no
     * "accounts" (and always for a file: keys.db and the admin API own them there). */
    struct sl_teams_doc *accounts;
};

/* Finds the classifier a route names: "sha256:HEX" for one the controller distributes, else
 * a file path, relative to the configuration file (file). Returns a reference the config
 * will own (see sl_classifier_ref), or NULL with "what is wrong" in err. */
typedef struct sl_classifier *(*sl_classifier_resolver)(void *ctx, const char *file,
                                                        const char *ref, char *err, size_t errlen);
/* The default resolver: loads a file; ctx is unused. */
struct sl_classifier *sl_config_classifier_file(void *ctx, const char *file, const char *ref,
                                                char *err, size_t errlen);

/* Loads and validates path, and every route's classifier (a relative classifier path is
 * taken from the config file's directory). On failure returns NULL and writes
 * "path: key: what is wrong" (or "path:line: ..." for a syntax error) into err. */
struct sl_config *sl_config_load(const char *path, char *err, size_t errlen);
/* Same, from a JSON text already in memory; name is used in messages. */
struct sl_config *sl_config_parse(const char *name, const char *text, size_t len, char *err,
                                  size_t errlen);
/* A configuration version: the static file's tree (file_root, read from file) with the dynamic
 * part replaced by a version document {"routes": {...}, "fallbacks": {"ALIAS": [...]}}:
 * "routes" replaces the file's routes (absent: none), and each alias in "fallbacks" gets that
 * chain instead of the file's; "accounts" ({"teams": {...}, "keys": {...}}, see teams.h) gives
 * the teams and keys the proxies admit. Classifiers are found through resolve(ctx, ...). Problems
 * are reported as "name: key: what is wrong". Models, deployments and providers come out in the
 * file's order, so their positions are the same in every version built from one file. */
struct sl_config *sl_config_build(const char *name, const char *file, const cJSON *file_root,
                                  const cJSON *doc, sl_classifier_resolver resolve, void *ctx,
                                  char *err, size_t errlen);
void sl_config_destroy(struct sl_config *cfg);

/* The alias called name, or NULL. */
const struct sl_model *sl_config_model(const struct sl_config *cfg, const char *name);
/* The route called name, or NULL. */
const struct sl_route *sl_config_route(const struct sl_config *cfg, const char *name);
/* The highest tier of r that lists m; r->n_tiers when none does. */
size_t sl_route_tier_of(const struct sl_route *r, const struct sl_model *m);
/* A blended price per million tokens for ordering models by cost (input and output
 * weighted equally); unpriced models sort after every priced one. */
double sl_price_rank(const struct sl_price *p);

/* Parses "host:port" (port 0..65535) into a new host string and port. */
int sl_config_parse_listen(const char *s, char **host, int *port) SL_MUST_CHECK;

#endif
