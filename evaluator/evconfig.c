/* Loading and validating evaluator.json. Every problem is reported as "file: key: what". */
#include "evconfig.h"

#include "jsonconf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort(); /* small internal allocation */
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

/* Rejects members that no rule reads, and members given twice (only the first would be
 * read): a misspelt or repeated key must not be silently ignored. */
/* Replaces *out with an optional string member's copy. */
static void set_string(struct sl_jsonconf *ld, const cJSON *obj, const char *name, const char *path,
                       char **out)
{
    const char *s = sl_jsonconf_string(ld, obj, name, path);

    if (s) {
        free(*out);
        *out = xstrdup(s);
    }
}

/* An array of ZeroMQ endpoints, or one endpoint alone. */
static bool is_endpoint(const char *s)
{
    return strncmp(s, "tcp://", 6) == 0 || strncmp(s, "ipc://", 6) == 0 ||
           strncmp(s, "inproc://", 9) == 0;
}

static void load_listen(struct sl_jsonconf *ld, struct sl_evconfig *cfg, const cJSON *v)
{
    const cJSON *it;
    size_t n = 0;

    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        sl_jsonconf_fail(ld, "listen", "must be a non-empty array of ZeroMQ endpoints");
        return;
    }
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it) || !is_endpoint(it->valuestring)) {
            sl_jsonconf_fail(ld, "listen",
                             "each must be an endpoint like tcp://127.0.0.1:5557 or ipc://PATH");
            return;
        }
    }
    for (char **e = cfg->listen; *e; e++)
        free(*e);
    free(cfg->listen);
    cfg->listen = xcalloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(char *));
    cJSON_ArrayForEach(it, v)
    {
        cfg->listen[n++] = xstrdup(it->valuestring);
    }
}

/* A base URL: http(s), no trailing slash. */
static void load_url(struct sl_jsonconf *ld, const cJSON *obj, const char *name, const char *path,
                     char **out)
{
    const char *url = sl_jsonconf_string(ld, obj, name, path);
    char key[256];
    size_t n;

    if (!url)
        return;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        sl_jsonconf_key(key, sizeof(key), path, name);
        sl_jsonconf_fail(ld, key, "must start with http:// or https://");
        return;
    }
    free(*out);
    *out = xstrdup(url);
    n = strlen(*out);
    while (n > 0 && (*out)[n - 1] == '/')
        (*out)[--n] = '\0';
}

static void load_endpoint(struct sl_jsonconf *ld, const cJSON *o, const char *path,
                          struct sl_evendpoint *e)
{
    load_url(ld, o, "base_url", path, &e->base_url);
    set_string(ld, o, "api_key_env", path, &e->api_key_env);
}

static void load_judge(struct sl_jsonconf *ld, struct sl_evconfig *cfg, const cJSON *o)
{
    static const char *const keys[] = {
        "base_url",   "model",     "api_key_env", "concurrency",     "timeout_ms", "retries",
        "pass_score", "max_queue", "rubric",      "pairwise_rubric", NULL};
    struct sl_evjudge *j = &cfg->judge;

    sl_jsonconf_check_keys(ld, o, "judge", keys);
    load_endpoint(ld, o, "judge", &j->endpoint);
    set_string(ld, o, "model", "judge", &j->model);
    sl_jsonconf_int(ld, o, "concurrency", "judge", 1, 256, &j->concurrency);
    sl_jsonconf_long(ld, o, "timeout_ms", "judge", 1, 600000, &j->timeout_ms);
    sl_jsonconf_int(ld, o, "retries", "judge", 0, 10, &j->retries);
    sl_jsonconf_int(ld, o, "pass_score", "judge", 1, 5, &j->pass_score);
    sl_jsonconf_long(ld, o, "max_queue", "judge", 1, 10000000, &j->max_queue);
    set_string(ld, o, "rubric", "judge", &j->rubric);
    set_string(ld, o, "pairwise_rubric", "judge", &j->pairwise);
}

static void load_shadow(struct sl_jsonconf *ld, struct sl_evconfig *cfg, const cJSON *o)
{
    static const char *const keys[] = {"base_url", "api_key_env", NULL};

    sl_jsonconf_check_keys(ld, o, "shadow", keys);
    load_endpoint(ld, o, "shadow", &cfg->shadow);
}

/* A list of scorer names into a set. */
static unsigned load_scorers(struct sl_jsonconf *ld, const cJSON *v, const char *key)
{
    const cJSON *it;
    unsigned set = 0;

    if (!cJSON_IsArray(v)) {
        sl_jsonconf_fail(ld, key, "must be an array of \"rules\", \"judge\" and \"shadow\"");
        return 0;
    }
    cJSON_ArrayForEach(it, v)
    {
        unsigned bit = 0;
        if (cJSON_IsString(it) && strcmp(it->valuestring, "rules") == 0)
            bit = SL_SCORER_RULES;
        else if (cJSON_IsString(it) && strcmp(it->valuestring, "judge") == 0)
            bit = SL_SCORER_JUDGE;
        else if (cJSON_IsString(it) && strcmp(it->valuestring, "shadow") == 0)
            bit = SL_SCORER_SHADOW;
        if (!bit) {
            sl_jsonconf_fail(ld, key,
                             "unknown scorer; the scorers are \"rules\", \"judge\" and \"shadow\"");
            return 0;
        }
        if (set & bit) {
            sl_jsonconf_fail(ld, key, "\"%s\" is listed twice", it->valuestring);
            return 0;
        }
        set |= bit;
    }
    return set;
}

static void load_routes(struct sl_jsonconf *ld, struct sl_evconfig *cfg, const cJSON *obj)
{
    static const char *const keys[] = {"scorers", "shadow_model", "shadow_rate", NULL};
    const cJSON *it;

    cfg->routes = xcalloc((size_t)cJSON_GetArraySize(obj), sizeof(*cfg->routes));
    cJSON_ArrayForEach(it, obj)
    {
        struct sl_evroute *r = &cfg->routes[cfg->n_routes++];
        const cJSON *scorers;
        char path[300], key[320];

        snprintf(path, sizeof(path), "routes.%s", it->string);
        r->name = xstrdup(it->string);
        r->shadow_rate = 0.1;
        if (!cJSON_IsObject(it)) {
            sl_jsonconf_fail(ld, path, "must be an object");
            return;
        }
        sl_jsonconf_check_keys(ld, it, path, keys);
        snprintf(key, sizeof(key), "%s.scorers", path);
        scorers = cJSON_GetObjectItemCaseSensitive(it, "scorers");
        r->scorers = scorers ? load_scorers(ld, scorers, key) : cfg->default_scorers;
        set_string(ld, it, "shadow_model", path, &r->shadow_model);
        sl_jsonconf_double(ld, it, "shadow_rate", path, 0, 1, &r->shadow_rate);
        if ((r->scorers & SL_SCORER_SHADOW) && !r->shadow_model) {
            snprintf(key, sizeof(key), "%s.shadow_model", path);
            sl_jsonconf_fail(
                ld, key, "is required with the shadow scorer: the premium model to compare with");
        }
    }
}

/* The drift detector's settings: each member of "drift" overrides one default. */
static void load_drift(struct sl_jsonconf *ld, struct sl_evconfig *cfg, const cJSON *o)
{
    static const char *const keys[] = {"baseline_n", "holdout",       "window",  "min_samples",
                                       "alpha",      "alpha_clear",   "cusum_k", "cusum_h",
                                       "margin",     "critical_drop", NULL};
    struct sl_drift_config *d = &cfg->drift;
    char err[256];

    sl_jsonconf_check_keys(ld, o, "drift", keys);
    sl_jsonconf_int(ld, o, "baseline_n", "drift", 1, 100000000, &d->baseline_n);
    sl_jsonconf_int(ld, o, "holdout", "drift", 1, 100000000, &d->holdout);
    sl_jsonconf_int(ld, o, "window", "drift", 1, 100000000, &d->window);
    sl_jsonconf_int(ld, o, "min_samples", "drift", 1, 100000000, &d->min_samples);
    sl_jsonconf_double(ld, o, "alpha", "drift", 0, 1, &d->alpha);
    sl_jsonconf_double(ld, o, "alpha_clear", "drift", 0, 1, &d->alpha_clear);
    sl_jsonconf_double(ld, o, "cusum_k", "drift", 0, 1, &d->cusum_k);
    sl_jsonconf_double(ld, o, "cusum_h", "drift", 0, 1e6, &d->cusum_h);
    sl_jsonconf_double(ld, o, "margin", "drift", 0, 100, &d->margin);
    sl_jsonconf_double(ld, o, "critical_drop", "drift", 0, 1, &d->critical_drop);
    if (!ld->failed && sl_drift_config_check(d, err, sizeof(err))) {
        /* err is "field: what is wrong" */
        char key[300];
        const char *colon = strstr(err, ": ");
        snprintf(key, sizeof(key), "drift.%.*s", colon ? (int)(colon - err) : (int)strlen(err),
                 err);
        sl_jsonconf_fail(ld, key, "%s", colon ? colon + 2 : "invalid");
    }
}

/* Checks that every scorer in use has what it needs. */
static void check_scorers(struct sl_jsonconf *ld, struct sl_evconfig *cfg)
{
    unsigned used = cfg->default_scorers;

    for (size_t i = 0; i < cfg->n_routes; i++)
        used |= cfg->routes[i].scorers;
    if (cfg->default_scorers & SL_SCORER_SHADOW) {
        sl_jsonconf_fail(ld, "default_scorers",
                         "\"shadow\" needs a route's shadow_model: list the route under routes");
        return;
    }
    if (used & (SL_SCORER_JUDGE | SL_SCORER_SHADOW)) {
        if (!cfg->judge.endpoint.base_url)
            sl_jsonconf_fail(ld, "judge.base_url",
                             "is required when a route uses the judge or shadow scorer");
        else if (!cfg->judge.model)
            sl_jsonconf_fail(ld, "judge.model",
                             "is required when a route uses the judge or shadow scorer");
    }
    if ((used & SL_SCORER_SHADOW) && !cfg->shadow.base_url)
        sl_jsonconf_fail(ld, "shadow.base_url", "is required when a route uses the shadow scorer");
}

static void load_root(struct sl_jsonconf *ld, struct sl_evconfig *cfg, const cJSON *root)
{
    static const char *const keys[] = {"listen",    "data_dir",        "publish", "webhook",
                                       "log_level", "drift",           "judge",   "shadow",
                                       "routes",    "default_scorers", NULL};
    const cJSON *o, *v;
    const char *s;

    sl_jsonconf_check_keys(ld, root, "", keys);
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "listen")))
        load_listen(ld, cfg, v);
    if ((s = sl_jsonconf_string(ld, root, "data_dir", ""))) {
        free(cfg->data_dir);
        cfg->data_dir = sl_jsonconf_path(ld->file, s);
    }
    if ((s = sl_jsonconf_string(ld, root, "publish", ""))) {
        if (!is_endpoint(s))
            sl_jsonconf_fail(ld, "publish",
                             "must be an endpoint like tcp://127.0.0.1:5558 or ipc://PATH");
        free(cfg->publish);
        cfg->publish = xstrdup(s);
    }
    if ((s = sl_jsonconf_string(ld, root, "webhook", ""))) {
        if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
            sl_jsonconf_fail(ld, "webhook", "must start with http:// or https://");
        free(cfg->webhook);
        cfg->webhook = xstrdup(s);
    }
    if ((s = sl_jsonconf_string(ld, root, "log_level", ""))) {
        if (strcmp(s, "debug") && strcmp(s, "info") && strcmp(s, "warn") && strcmp(s, "error"))
            sl_jsonconf_fail(ld, "log_level", "must be debug, info, warn or error");
        free(cfg->log_level);
        cfg->log_level = xstrdup(s);
    }
    if ((o = sl_jsonconf_object(ld, root, "drift", "")))
        load_drift(ld, cfg, o);
    if ((o = sl_jsonconf_object(ld, root, "judge", "")))
        load_judge(ld, cfg, o);
    if ((o = sl_jsonconf_object(ld, root, "shadow", "")))
        load_shadow(ld, cfg, o);
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "default_scorers")))
        cfg->default_scorers = load_scorers(ld, v, "default_scorers");
    if (ld->failed)
        return;
    if ((o = sl_jsonconf_object(ld, root, "routes", "")))
        load_routes(ld, cfg, o);
    if (!ld->failed)
        check_scorers(ld, cfg);
}

static void set_defaults(struct sl_evconfig *cfg)
{
    cfg->listen = xcalloc(2, sizeof(char *));
    cfg->listen[0] = xstrdup("tcp://127.0.0.1:5557");
    cfg->publish = xstrdup("tcp://127.0.0.1:5558");
    cfg->log_level = xstrdup("info");
    sl_drift_config_default(&cfg->drift);
    cfg->judge.concurrency = 8;
    cfg->judge.timeout_ms = 30000;
    cfg->judge.retries = 2;
    cfg->judge.pass_score = 4;
    cfg->judge.max_queue = 10000;
    cfg->default_scorers = SL_SCORER_RULES;
}

/* Reads an endpoint's key from its environment variable. */
static void read_key(struct sl_evendpoint *e)
{
    const char *v = e->api_key_env ? getenv(e->api_key_env) : NULL;

    e->api_key = v && *v ? xstrdup(v) : NULL;
}

struct sl_evconfig *sl_evconfig_parse(const char *name, const char *text, size_t len, char *err,
                                      size_t errlen)
{
    struct sl_jsonconf ld = {.file = name, .err = err, .errlen = errlen};
    struct sl_evconfig *cfg = xcalloc(1, sizeof(*cfg));
    cJSON *root;

    cfg->path = xstrdup(name);
    set_defaults(cfg);
    root = sl_jsonconf_parse(name, text, len, err, errlen);
    if (!root) {
        ld.failed = 1;
    } else {
        load_root(&ld, cfg, root);
    }
    cJSON_Delete(root);
    if (ld.failed) {
        sl_evconfig_destroy(cfg);
        return NULL;
    }
    read_key(&cfg->judge.endpoint);
    read_key(&cfg->shadow);
    if (!cfg->data_dir)
        cfg->data_dir = sl_jsonconf_path(name, "data");
    return cfg;
}

struct sl_evconfig *sl_evconfig_load(const char *path, char *err, size_t errlen)
{
    struct sl_evconfig *cfg = NULL;
    size_t len;
    char *text = sl_jsonconf_read(path, (size_t)(1L << 20), &len, err, errlen);

    if (text)
        cfg = sl_evconfig_parse(path, text, len, err, errlen);
    free(text);
    return cfg;
}

static void endpoint_free(struct sl_evendpoint *e)
{
    free(e->base_url);
    free(e->api_key_env);
    free(e->api_key);
}

void sl_evconfig_destroy(struct sl_evconfig *cfg)
{
    if (!cfg)
        return;
    for (char **e = cfg->listen; e && *e; e++)
        free(*e);
    free(cfg->listen);
    for (size_t i = 0; i < cfg->n_routes; i++) {
        free(cfg->routes[i].name);
        free(cfg->routes[i].shadow_model);
    }
    free(cfg->routes);
    endpoint_free(&cfg->judge.endpoint);
    free(cfg->judge.model);
    free(cfg->judge.rubric);
    free(cfg->judge.pairwise);
    endpoint_free(&cfg->shadow);
    free(cfg->data_dir);
    free(cfg->publish);
    free(cfg->webhook);
    free(cfg->log_level);
    free(cfg->path);
    free(cfg);
}

unsigned sl_evconfig_scorers(const struct sl_evconfig *cfg, const char *route,
                             const struct sl_evroute **found)
{
    for (size_t i = 0; i < cfg->n_routes; i++) {
        if (strcmp(cfg->routes[i].name, route) == 0) {
            if (found)
                *found = &cfg->routes[i];
            return cfg->routes[i].scorers;
        }
    }
    if (found)
        *found = NULL;
    return cfg->default_scorers;
}
