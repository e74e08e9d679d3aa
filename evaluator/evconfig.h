/* The configuration of sluice-evaluator, loaded from evaluator.json. sl_evconfig_load returns
 * a heap object that owns every string and array in it; it is read-only once loaded and freed
 * as a whole with sl_evconfig_destroy. */
#ifndef SL_EVCONFIG_H
#define SL_EVCONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "drift.h"

/* Scorers, as bits of a set. */
enum sl_scorer {
    SL_SCORER_RULES = 1 << 0,  /* evaluator/rules.h */
    SL_SCORER_JUDGE = 1 << 1,  /* the LLM judge grades the answer */
    SL_SCORER_SHADOW = 1 << 2, /* a premium model answers too; the judge compares */
};

/* How samples of one route are scored. */
struct sl_evroute {
    char *name;
    unsigned scorers;   /* SL_SCORER_* */
    char *shadow_model; /* the premium model called for shadow comparisons; NULL without */
    double shadow_rate; /* share of cheap-tier samples compared (default 0.1) */
};

/* An OpenAI-compatible endpoint: base_url + "/chat/completions". */
struct sl_evendpoint {
    char *base_url;    /* no trailing slash; NULL when not configured */
    char *api_key_env; /* the variable holding the key, or NULL */
    char *api_key;     /* its value, read at load; NULL when unset. Never log it. */
};

struct sl_evjudge {
    struct sl_evendpoint endpoint;
    char *model;
    int concurrency; /* calls in flight at once, premium (shadow) calls included (8) */
    long timeout_ms; /* per attempt (30000) */
    int retries;     /* after the first attempt, on 429, 5xx, timeouts, connection errors (2) */
    int pass_score;  /* a score at or above passes (4) */
    long max_queue;  /* calls waiting for a slot before new samples' calls are dropped */
    char *rubric;    /* the grading system message; NULL: sl_judge_rubric */
    char *pairwise;  /* the comparing system message; NULL: sl_judge_pairwise_rubric */
};

struct sl_evconfig {
    char *path;
    char **listen;  /* NULL-terminated ZeroMQ endpoints the PULL socket binds */
    char *data_dir; /* eval.db; a relative path is from the file's directory */
    char *publish;  /* the PUB endpoint for alerts */
    char *webhook;  /* alerts are also POSTed here; NULL: none */
    char *log_level;
    struct sl_drift_config drift;
    struct sl_evjudge judge;
    struct sl_evendpoint shadow;
    struct sl_evroute *routes;
    size_t n_routes;
    unsigned default_scorers; /* for routes not listed (rules) */
};

/* Loads and validates path. On failure returns NULL and writes "path: key: what is wrong"
 * (or "path:line: ..." for a syntax error) into err. */
struct sl_evconfig *sl_evconfig_load(const char *path, char *err, size_t errlen);
/* Same, from a JSON text already in memory; name is used in messages and for relative
 * paths. */
struct sl_evconfig *sl_evconfig_parse(const char *name, const char *text, size_t len, char *err,
                                      size_t errlen);
void sl_evconfig_destroy(struct sl_evconfig *cfg);

/* The scorers for samples of route (the route's own, or default_scorers), and the route's
 * settings in *route (NULL when it is not listed). */
unsigned sl_evconfig_scorers(const struct sl_evconfig *cfg, const char *route,
                             const struct sl_evroute **found);

#endif
