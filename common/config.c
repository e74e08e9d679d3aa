/* Loading and validating sluice.json. Every problem is reported as "file: key: what". */
#include "config.h"

#include "jsonconf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
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

static void load_timeouts(struct sl_jsonconf *ld, const cJSON *obj, const char *path,
                          struct sl_timeouts *t)
{
    static const char *const keys[] = {"connect", "first_byte", "total", NULL};
    const cJSON *o = sl_jsonconf_object(ld, obj, "timeouts_ms", path);
    char p[256];

    if (!o)
        return;
    snprintf(p, sizeof(p), "%s%stimeouts_ms", path, *path ? "." : "");
    sl_jsonconf_check_keys(ld, o, p, keys);
    sl_jsonconf_long(ld, o, "connect", p, 1, 600000, &t->connect_ms);
    sl_jsonconf_long(ld, o, "first_byte", p, 1, 3600000, &t->first_byte_ms);
    sl_jsonconf_long(ld, o, "total", p, 1, 86400000, &t->total_ms);
}

int sl_config_parse_listen(const char *s, char **host, int *port)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long p;

    if (!colon || colon == s)
        return SL_EINVAL;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
        return SL_EINVAL;
    *host = strndup(s, (size_t)(colon - s));
    if (!*host)
        return SL_ENOMEM;
    *port = (int)p;
    return 0;
}

static void load_providers(struct sl_jsonconf *ld, struct sl_config *cfg, const cJSON *root)
{
    static const char *const keys[] = {"base_url", "api_key_env", "stream_usage", NULL};
    const cJSON *obj = sl_jsonconf_object(ld, root, "providers", "");
    const cJSON *it;
    size_t i = 0;

    if (!obj || !cJSON_GetArraySize(obj)) {
        sl_jsonconf_fail(ld, "providers", "at least one provider is required");
        return;
    }
    cfg->n_providers = (size_t)cJSON_GetArraySize(obj);
    cfg->providers = xcalloc(cfg->n_providers, sizeof(*cfg->providers));
    cJSON_ArrayForEach(it, obj)
    {
        struct sl_provider *p = &cfg->providers[i++];
        char path[256];
        const char *url, *env;
        size_t n;

        snprintf(path, sizeof(path), "providers.%s", it->string);
        p->name = xstrdup(it->string);
        if (!cJSON_IsObject(it)) {
            sl_jsonconf_fail(ld, path, "must be an object");
            continue;
        }
        sl_jsonconf_check_keys(ld, it, path, keys);
        url = sl_jsonconf_string(ld, it, "base_url", path);
        if (!url) {
            sl_jsonconf_fail(ld, path, "base_url is required");
            continue;
        }
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            char key[300];
            snprintf(key, sizeof(key), "%s.base_url", path);
            sl_jsonconf_fail(ld, key, "must start with http:// or https://");
            continue;
        }
        p->base_url = xstrdup(url);
        n = strlen(p->base_url);
        while (n > 0 && p->base_url[n - 1] == '/')
            p->base_url[--n] = '\0';
        p->stream_usage = true;
        sl_jsonconf_bool(ld, it, "stream_usage", path, &p->stream_usage);
        env = sl_jsonconf_string(ld, it, "api_key_env", path);
        if (env) {
            const char *val = getenv(env);
            p->api_key_env = xstrdup(env);
            p->api_key = val && *val ? xstrdup(val) : NULL;
        }
    }
}

static const struct sl_provider *find_provider(const struct sl_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (strcmp(cfg->providers[i].name, name) == 0)
            return &cfg->providers[i];
    return NULL;
}

static void load_deployment(struct sl_jsonconf *ld, struct sl_config *cfg, const cJSON *d,
                            const char *path, struct sl_deployment *dep)
{
    static const char *const keys[] = {"name", "provider", "model", "weight", "timeouts_ms", NULL};
    const char *prov, *model, *name;
    char key[300];

    dep->timeouts = cfg->timeouts;
    dep->weight = 1;
    if (!cJSON_IsObject(d)) {
        sl_jsonconf_fail(ld, path, "must be an object");
        return;
    }
    sl_jsonconf_check_keys(ld, d, path, keys);
    prov = sl_jsonconf_string(ld, d, "provider", path);
    model = sl_jsonconf_string(ld, d, "model", path);
    name = sl_jsonconf_string(ld, d, "name", path);
    if (!prov || !model) {
        sl_jsonconf_fail(ld, path, "provider and model are required");
        return;
    }
    dep->provider = find_provider(cfg, prov);
    if (!dep->provider) {
        snprintf(key, sizeof(key), "%s.provider", path);
        sl_jsonconf_fail(ld, key, "no provider named \"%s\"", prov);
        return;
    }
    dep->model = xstrdup(model);
    if (name) {
        dep->name = xstrdup(name);
    } else {
        size_t n = strlen(prov) + strlen(model) + 2;
        dep->name = xcalloc(n, 1);
        snprintf(dep->name, n, "%s/%s", prov, model);
    }
    sl_jsonconf_double(ld, d, "weight", path, 1e-9, 1e9, &dep->weight);
    load_timeouts(ld, d, path, &dep->timeouts);
}

/* Names that label metrics (aliases, deployments, routes, tiers, A/B splits and arms) go into
 * the Prometheus text as they are: they may hold no character that would need escaping there,
 * and stay short enough for a series' labels to fit its buffer. */
#define LABEL_MAX 128

static void check_label(struct sl_jsonconf *ld, const char *path, const char *name)
{
    size_t n = strlen(name);
    bool ok = n > 0 && n <= LABEL_MAX;

    for (const unsigned char *p = (const unsigned char *)name; ok && *p; p++)
        ok = *p >= 0x20 && *p != 0x7f && *p != '"' && *p != '\\';
    if (!ok)
        sl_jsonconf_fail(ld, path,
                         "the name \"%.40s\" must be 1 to %d bytes without '\"', '\\' or control "
                         "characters (it labels metrics)",
                         name, LABEL_MAX);
}

/* An alias's deployments are told apart by name (in the metrics and x-sluice-model), so two of
 * one alias may not share one. Aliases may: the metrics label a deployment with its alias. */
static void check_unique_name(struct sl_jsonconf *ld, const struct sl_model *m,
                              const struct sl_deployment *dep, const char *path)
{
    for (size_t i = 0; dep->name && i + 1 < m->n_deployments; i++) {
        if (m->deployments[i]->name && strcmp(m->deployments[i]->name, dep->name) == 0) {
            sl_jsonconf_fail(ld, path,
                             "deployments[%zu] is named \"%s\" too: give one of them a \"name\"", i,
                             dep->name);
            return;
        }
    }
}

static void load_price(struct sl_jsonconf *ld, const cJSON *model, const char *path,
                       struct sl_price *p)
{
    static const char *const keys[] = {"input", "output", "cached_input", NULL};
    const cJSON *o = sl_jsonconf_object(ld, model, "price", path);
    char ppath[300];

    if (!o)
        return;
    snprintf(ppath, sizeof(ppath), "%s.price", path);
    sl_jsonconf_check_keys(ld, o, ppath, keys);
    if (!cJSON_GetObjectItemCaseSensitive(o, "input") ||
        !cJSON_GetObjectItemCaseSensitive(o, "output")) {
        sl_jsonconf_fail(ld, ppath, "input and output (USD per million tokens) are required");
        return;
    }
    p->input = p->output = p->cached_input = -1;
    sl_jsonconf_double(ld, o, "input", ppath, 0, 1e6, &p->input);
    sl_jsonconf_double(ld, o, "output", ppath, 0, 1e6, &p->output);
    sl_jsonconf_double(ld, o, "cached_input", ppath, 0, 1e6, &p->cached_input);
    if (p->cached_input < 0)
        p->cached_input = p->input;
    p->known = true;
}

double sl_price_rank(const struct sl_price *p)
{
    return p->known ? (p->input + p->output) / 2 : HUGE_VAL;
}

static void load_models(struct sl_jsonconf *ld, struct sl_config *cfg, const cJSON *root)
{
    static const char *const keys[] = {"deployments", "fallbacks", "price", NULL};
    const cJSON *obj = sl_jsonconf_object(ld, root, "models", "");
    const cJSON *it;
    size_t i = 0, nd = 0;

    if (!obj || !cJSON_GetArraySize(obj)) {
        sl_jsonconf_fail(ld, "models", "at least one model is required");
        return;
    }
    cJSON_ArrayForEach(it, obj)
    {
        const cJSON *deps = cJSON_GetObjectItemCaseSensitive(it, "deployments");
        nd += cJSON_IsArray(deps) ? (size_t)cJSON_GetArraySize(deps) : 0;
    }
    if (nd > SL_CONFIG_MAX_DEPLOYMENTS) {
        sl_jsonconf_fail(ld, "models", "%zu deployments in all; at most %d are supported", nd,
                         SL_CONFIG_MAX_DEPLOYMENTS);
        return;
    }
    cfg->n_models = (size_t)cJSON_GetArraySize(obj);
    cfg->models = xcalloc(cfg->n_models, sizeof(*cfg->models));
    cfg->deployments = xcalloc(nd, sizeof(*cfg->deployments));

    cJSON_ArrayForEach(it, obj)
    {
        struct sl_model *m = &cfg->models[i++];
        const cJSON *deps, *d;
        char path[256];

        snprintf(path, sizeof(path), "models.%s", it->string);
        m->name = xstrdup(it->string);
        check_label(ld, path, m->name);
        if (!cJSON_IsObject(it)) {
            sl_jsonconf_fail(ld, path, "must be an object");
            continue;
        }
        sl_jsonconf_check_keys(ld, it, path, keys);
        load_price(ld, it, path, &m->price);
        deps = cJSON_GetObjectItemCaseSensitive(it, "deployments");
        if (!cJSON_IsArray(deps) || !cJSON_GetArraySize(deps)) {
            char key[300];
            snprintf(key, sizeof(key), "%s.deployments", path);
            sl_jsonconf_fail(ld, key, "must be a non-empty array");
            continue;
        }
        m->deployments = xcalloc((size_t)cJSON_GetArraySize(deps), sizeof(*m->deployments));
        cJSON_ArrayForEach(d, deps)
        {
            struct sl_deployment *dep = &cfg->deployments[cfg->n_deployments];
            char dpath[320];

            snprintf(dpath, sizeof(dpath), "%s.deployments[%zu]", path, m->n_deployments);
            dep->index = cfg->n_deployments++;
            dep->alias = m->name;
            load_deployment(ld, cfg, d, dpath, dep);
            m->deployments[m->n_deployments++] = dep;
            if (dep->name)
                check_label(ld, dpath, dep->name);
            check_unique_name(ld, m, dep, dpath);
        }
    }
}

/* Fallbacks name other aliases, so they are resolved once every alias exists. */
static void load_fallbacks(struct sl_jsonconf *ld, struct sl_config *cfg, const cJSON *root)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "models");

    for (size_t i = 0; i < cfg->n_models && !ld->failed; i++) {
        struct sl_model *m = &cfg->models[i];
        const cJSON *fb = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(obj, m->name), "fallbacks");
        const cJSON *f;
        char key[300];

        if (!fb)
            continue;
        snprintf(key, sizeof(key), "models.%s.fallbacks", m->name);
        if (!cJSON_IsArray(fb)) {
            sl_jsonconf_fail(ld, key, "must be an array of model names");
            continue;
        }
        m->fallbacks = xcalloc((size_t)cJSON_GetArraySize(fb), sizeof(*m->fallbacks));
        cJSON_ArrayForEach(f, fb)
        {
            const struct sl_model *target =
                cJSON_IsString(f) ? sl_config_model(cfg, f->valuestring) : NULL;
            if (!target) {
                sl_jsonconf_fail(ld, key, "\"%s\" is not a model defined in this file",
                                 cJSON_IsString(f) ? f->valuestring : "(not a string)");
                break;
            }
            if (target == m) {
                sl_jsonconf_fail(ld, key, "a model cannot fall back to itself");
                break;
            }
            m->fallbacks[m->n_fallbacks++] = target;
        }
    }
}

static int cmp_price(const void *a, const void *b)
{
    double pa = sl_price_rank(&(*(const struct sl_model *const *)a)->price);
    double pb = sl_price_rank(&(*(const struct sl_model *const *)b)->price);
    return (pa > pb) - (pa < pb);
}

/* A non-empty array of alias names, cheapest first: the cost-based choice walks them in this
 * order. */
static const struct sl_model **load_model_list(struct sl_jsonconf *ld, const struct sl_config *cfg,
                                               const cJSON *arr, const char *key, size_t *n)
{
    const struct sl_model **models;
    const cJSON *m;

    *n = 0;
    if (!cJSON_IsArray(arr) || !cJSON_GetArraySize(arr)) {
        sl_jsonconf_fail(ld, key, "must be a non-empty array of model names");
        return NULL;
    }
    models = xcalloc((size_t)cJSON_GetArraySize(arr), sizeof(*models));
    cJSON_ArrayForEach(m, arr)
    {
        const struct sl_model *model =
            cJSON_IsString(m) ? sl_config_model(cfg, m->valuestring) : NULL;
        if (!model) {
            sl_jsonconf_fail(ld, key, "\"%s\" is not a model defined in this file",
                             cJSON_IsString(m) ? m->valuestring : "(not a string)");
            free(models);
            *n = 0;
            return NULL;
        }
        models[(*n)++] = model;
    }
    qsort(models, *n, sizeof(*models), cmp_price);
    return models;
}

static void load_tiers(struct sl_jsonconf *ld, struct sl_config *cfg, const cJSON *tiers,
                       const char *path, struct sl_route *r)
{
    static const char *const keys[] = {"name", "models", NULL};
    const cJSON *t;
    char key[400];

    snprintf(key, sizeof(key), "%s.tiers", path);
    if (!cJSON_IsArray(tiers) || cJSON_GetArraySize(tiers) < 2) {
        sl_jsonconf_fail(ld, key, "must be an array of at least two tiers, cheapest first");
        return;
    }
    r->tiers = xcalloc((size_t)cJSON_GetArraySize(tiers), sizeof(*r->tiers));
    cJSON_ArrayForEach(t, tiers)
    {
        struct sl_tier *tier = &r->tiers[r->n_tiers];
        const char *name;
        char tpath[420], mpath[440];

        snprintf(tpath, sizeof(tpath), "%s[%zu]", key, r->n_tiers++);
        if (!cJSON_IsObject(t)) {
            sl_jsonconf_fail(ld, tpath, "must be an object");
            return;
        }
        sl_jsonconf_check_keys(ld, t, tpath, keys);
        name = sl_jsonconf_string(ld, t, "name", tpath);
        tier->name = xstrdup(name ? name : "");
        if (!name) {
            sl_jsonconf_fail(ld, tpath, "needs a name");
            return;
        }
        check_label(ld, tpath, name);
        for (size_t i = 0; i + 1 < r->n_tiers; i++)
            if (strcmp(r->tiers[i].name, name) == 0) {
                sl_jsonconf_fail(ld, tpath, "another tier of this route is called \"%s\"", name);
                return;
            }
        snprintf(mpath, sizeof(mpath), "%s.models", tpath);
        tier->models = load_model_list(ld, cfg, cJSON_GetObjectItemCaseSensitive(t, "models"),
                                       mpath, &tier->n_models);
        if (!tier->models)
            return;
    }
}

/* want ascending thresholds in (0, 1) from arr, or, when arr is absent, the classifier's own.
 * NULL after failing. */
static double *load_thresholds(struct sl_jsonconf *ld, const cJSON *arr, const char *key,
                               const struct sl_classifier *clf, size_t want)
{
    double *t = xcalloc(want, sizeof(*t));

    if (!arr) {
        if (clf->n_thresholds != want) {
            sl_jsonconf_fail(ld, key,
                             "absent, and the classifier carries %zu threshold(s) for %zu tiers",
                             clf->n_thresholds, want + 1);
            goto fail;
        }
        memcpy(t, clf->thresholds, want * sizeof(*t));
        return t;
    }
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != want) {
        sl_jsonconf_fail(ld, key,
                         "must be an array of %zu number(s), one between each pair of tiers", want);
        goto fail;
    }
    for (size_t i = 0; i < want; i++) {
        const cJSON *v = cJSON_GetArrayItem(arr, (int)i);
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble < 1) ||
            (i && v->valuedouble <= t[i - 1])) {
            sl_jsonconf_fail(ld, key, "must be ascending numbers between 0 and 1");
            goto fail;
        }
        t[i] = v->valuedouble;
    }
    return t;
fail:
    free(t);
    return NULL;
}

/* "sampling": {"rate": R, "tiers": {"TIER": R}}: a rate for the route, overridden per tier. */
static void load_sampling(struct sl_jsonconf *ld, const cJSON *route, const char *path,
                          struct sl_route *r)
{
    static const char *const keys[] = {"rate", "tiers", NULL};
    const cJSON *o, *tiers, *it;
    char key[320];
    double rate = 0;

    r->sampling = xcalloc(r->n_tiers, sizeof(*r->sampling));
    snprintf(key, sizeof(key), "%s.sampling", path);
    if (!(o = sl_jsonconf_object(ld, route, "sampling", path)))
        return;
    sl_jsonconf_check_keys(ld, o, key, keys);
    sl_jsonconf_double(ld, o, "rate", key, 0, 1, &rate);
    for (size_t i = 0; i < r->n_tiers; i++)
        r->sampling[i] = rate;
    if (!(tiers = sl_jsonconf_object(ld, o, "tiers", key)))
        return;
    snprintf(key, sizeof(key), "%s.sampling.tiers", path);
    cJSON_ArrayForEach(it, tiers)
    {
        size_t i = 0;
        while (i < r->n_tiers && strcmp(r->tiers[i].name, it->string) != 0)
            i++;
        if (i == r->n_tiers) {
            char k[400];
            snprintf(k, sizeof(k), "%s.%s", key, it->string);
            sl_jsonconf_fail(ld, k, "no tier of this route has that name");
            return;
        }
        sl_jsonconf_double(ld, tiers, it->string, key, 0, 1, &r->sampling[i]);
    }
}

/* How a version finds classifiers, and where relative paths start. */
struct build {
    const char *file;
    sl_classifier_resolver resolve;
    void *ctx;
};

static struct sl_classifier *load_classifier(struct sl_jsonconf *ld, const struct build *b,
                                             const cJSON *obj, const char *path, bool required)
{
    const char *ref = sl_jsonconf_string(ld, obj, "classifier", path);
    struct sl_classifier *c;
    char key[400], cerr[1024];

    sl_jsonconf_key(key, sizeof(key), path, "classifier");
    if (!ref) {
        if (required)
            sl_jsonconf_fail(ld, key, "is required: the model file written by sluice-trainer");
        return NULL;
    }
    if (!(c = b->resolve(b->ctx, b->file, ref, cerr, sizeof(cerr))))
        sl_jsonconf_fail(ld, key, "%s", cerr);
    return c;
}

static void load_arm(struct sl_jsonconf *ld, const struct build *b, struct sl_config *cfg,
                     const cJSON *o, const char *path, struct sl_route *r, struct sl_arm *arm)
{
    static const char *const keys[] = {"name",       "weight",     "model", "tiers",
                                       "classifier", "thresholds", NULL};
    const char *name, *model;
    const cJSON *tiers, *thr;
    char key[400];

    if (!cJSON_IsObject(o)) {
        sl_jsonconf_fail(ld, path, "must be an object");
        return;
    }
    sl_jsonconf_check_keys(ld, o, path, keys);
    name = sl_jsonconf_string(ld, o, "name", path);
    if (!name || strlen(name) > 31) {
        sl_jsonconf_fail(ld, path, "needs a name of 1 to 31 characters");
        return;
    }
    check_label(ld, path, name);
    arm->name = xstrdup(name);
    sl_jsonconf_double(ld, o, "weight", path, 0, 1e9, &arm->weight);
    if (!(arm->weight > 0)) {
        sl_jsonconf_key(key, sizeof(key), path, "weight");
        sl_jsonconf_fail(ld, key, "must be a number above 0");
        return;
    }
    tiers = cJSON_GetObjectItemCaseSensitive(o, "tiers");
    thr = cJSON_GetObjectItemCaseSensitive(o, "thresholds");
    if ((model = sl_jsonconf_string(ld, o, "model", path))) {
        if (tiers || thr || cJSON_GetObjectItemCaseSensitive(o, "classifier")) {
            sl_jsonconf_fail(ld, path,
                             "an arm with a model is not routed: no tiers, "
                             "classifier or thresholds");
            return;
        }
        sl_jsonconf_key(key, sizeof(key), path, "model");
        if (!(arm->model = sl_config_model(cfg, model)))
            sl_jsonconf_fail(ld, key, "\"%s\" is not a model defined in this file", model);
        else if (sl_route_tier_of(r, arm->model) == r->n_tiers)
            sl_jsonconf_fail(ld, key, "\"%s\" is in none of the route's tiers", model);
        return;
    }
    if (tiers) {
        const cJSON *it;
        sl_jsonconf_key(key, sizeof(key), path, "tiers");
        if (!cJSON_IsObject(tiers)) {
            sl_jsonconf_fail(ld, key, "must be an object of tier names to model lists");
            return;
        }
        arm->tiers = xcalloc(r->n_tiers, sizeof(*arm->tiers));
        arm->n_tier_models = xcalloc(r->n_tiers, sizeof(*arm->n_tier_models));
        cJSON_ArrayForEach(it, tiers)
        {
            size_t i = 0;
            char tkey[440];
            snprintf(tkey, sizeof(tkey), "%s.%s", key, it->string);
            while (i < r->n_tiers && strcmp(r->tiers[i].name, it->string) != 0)
                i++;
            if (i == r->n_tiers) {
                sl_jsonconf_fail(ld, tkey, "no tier of this route has that name");
                return;
            }
            if (!(arm->tiers[i] = load_model_list(ld, cfg, it, tkey, &arm->n_tier_models[i])))
                return;
        }
    }
    arm->classifier = load_classifier(ld, b, o, path, false);
    if (ld->failed)
        return;
    if (arm->classifier || thr) {
        sl_jsonconf_key(key, sizeof(key), path, "thresholds");
        arm->thresholds = load_thresholds(
            ld, thr, key, arm->classifier ? arm->classifier : r->classifier, r->n_tiers - 1);
    }
}

static void load_ab(struct sl_jsonconf *ld, const struct build *b, struct sl_config *cfg,
                    const cJSON *route, const char *path, struct sl_route *r)
{
    static const char *const keys[] = {"name", "sticky", "arms", NULL};
    const cJSON *o, *arms, *a;
    const char *s;
    char key[400];

    if (!(o = sl_jsonconf_object(ld, route, "ab", path)))
        return;
    snprintf(key, sizeof(key), "%s.ab", path);
    sl_jsonconf_check_keys(ld, o, key, keys);
    r->ab = xcalloc(1, sizeof(*r->ab));
    s = sl_jsonconf_string(ld, o, "name", key);
    r->ab->name = xstrdup(s ? s : r->name);
    check_label(ld, key, r->ab->name);
    s = sl_jsonconf_string(ld, o, "sticky", key);
    if (!s || strcmp(s, "key") == 0) {
        r->ab->sticky = SL_STICKY_KEY;
    } else if (strcmp(s, "user") == 0) {
        r->ab->sticky = SL_STICKY_USER;
    } else if (strncmp(s, "header:", 7) == 0 && s[7]) {
        r->ab->sticky = SL_STICKY_HEADER;
        r->ab->header = xstrdup(s + 7);
    } else {
        char k[420];
        snprintf(k, sizeof(k), "%s.sticky", key);
        sl_jsonconf_fail(ld, k, "must be key, user or header:NAME");
        return;
    }
    arms = cJSON_GetObjectItemCaseSensitive(o, "arms");
    snprintf(key, sizeof(key), "%s.ab.arms", path);
    if (!cJSON_IsArray(arms) || cJSON_GetArraySize(arms) < 2) {
        sl_jsonconf_fail(ld, key, "must be an array of at least two arms");
        return;
    }
    r->ab->arms = xcalloc((size_t)cJSON_GetArraySize(arms), sizeof(*r->ab->arms));
    cJSON_ArrayForEach(a, arms)
    {
        struct sl_arm *arm = &r->ab->arms[r->ab->n_arms];
        char apath[420];

        snprintf(apath, sizeof(apath), "%s[%zu]", key, r->ab->n_arms++);
        load_arm(ld, b, cfg, a, apath, r, arm);
        if (ld->failed)
            return;
        for (size_t i = 0; i + 1 < r->ab->n_arms; i++)
            if (strcmp(r->ab->arms[i].name, arm->name) == 0) {
                sl_jsonconf_fail(ld, apath, "another arm is called \"%s\"", arm->name);
                return;
            }
        r->ab->total_weight += arm->weight;
    }
}

static void load_policy(struct sl_jsonconf *ld, const cJSON *route, const char *path,
                        struct sl_route *r)
{
    static const char *const keys[] = {"on_alert", "step", "ceiling", "cooldown_s", NULL};
    const cJSON *o;
    const char *s;
    char key[400];

    r->policy = (struct sl_route_policy){.step = 0.05, .ceiling = 0.2, .cooldown_s = 600};
    if (!(o = sl_jsonconf_object(ld, route, "policy", path)))
        return;
    snprintf(key, sizeof(key), "%s.policy", path);
    sl_jsonconf_check_keys(ld, o, key, keys);
    if ((s = sl_jsonconf_string(ld, o, "on_alert", key))) {
        if (strcmp(s, "adjust") && strcmp(s, "notify")) {
            char k[420];
            snprintf(k, sizeof(k), "%s.on_alert", key);
            sl_jsonconf_fail(ld, k, "must be notify or adjust");
            return;
        }
        r->policy.adjust = strcmp(s, "adjust") == 0;
    }
    sl_jsonconf_double(ld, o, "step", key, 0.001, 0.5, &r->policy.step);
    sl_jsonconf_double(ld, o, "ceiling", key, 0.001, 0.99, &r->policy.ceiling);
    sl_jsonconf_long(ld, o, "cooldown_s", key, 0, 86400 * 7, &r->policy.cooldown_s);
}

static void load_routes(struct sl_jsonconf *ld, const struct build *b, struct sl_config *cfg,
                        const cJSON *root)
{
    static const char *const keys[] = {"classifier", "messages", "tiers",  "thresholds",
                                       "sampling",   "ab",       "policy", NULL};
    const cJSON *obj = sl_jsonconf_object(ld, root, "routes", "");
    const cJSON *it;

    if (!obj)
        return;
    cfg->routes = xcalloc((size_t)cJSON_GetArraySize(obj), sizeof(*cfg->routes));
    cJSON_ArrayForEach(it, obj)
    {
        struct sl_route *r = &cfg->routes[cfg->n_routes];
        const char *messages;
        char path[300], key[320];

        snprintf(path, sizeof(path), "routes.%s", it->string);
        r->name = xstrdup(it->string);
        check_label(ld, path, r->name);
        r->slot = cfg->n_routes++;
        if (!cJSON_IsObject(it)) {
            sl_jsonconf_fail(ld, path, "must be an object");
            return;
        }
        if (sl_config_model(cfg, r->name)) {
            sl_jsonconf_fail(ld, path,
                             "a model has the same name; a name is either a route or a model");
            return;
        }
        sl_jsonconf_check_keys(ld, it, path, keys);
        if (!(r->classifier = load_classifier(ld, b, it, path, true)))
            return;
        r->messages = r->classifier->messages;
        messages = sl_jsonconf_string(ld, it, "messages", path);
        if (messages && sl_features_messages_parse(messages, &r->messages)) {
            snprintf(key, sizeof(key), "%s.messages", path);
            sl_jsonconf_fail(ld, key, "must be last_user, system_last or all");
            return;
        }
        load_tiers(ld, cfg, cJSON_GetObjectItemCaseSensitive(it, "tiers"), path, r);
        if (ld->failed)
            return;
        snprintf(key, sizeof(key), "%s.thresholds", path);
        r->thresholds = load_thresholds(ld, cJSON_GetObjectItemCaseSensitive(it, "thresholds"), key,
                                        r->classifier, r->n_tiers - 1);
        if (ld->failed)
            return;
        load_sampling(ld, it, path, r);
        load_ab(ld, b, cfg, it, path, r);
        load_policy(ld, it, path, r);
        if (ld->failed)
            return;
        for (size_t t = 0; t < r->n_tiers; t++)
            r->tiers[t].slot = cfg->n_route_tiers++;
        if (cfg->n_routes > SL_CONFIG_MAX_ROUTES ||
            cfg->n_route_tiers > SL_CONFIG_MAX_ROUTE_TIERS) {
            sl_jsonconf_fail(ld, "routes", "at most %d routes with %d tiers in all",
                             SL_CONFIG_MAX_ROUTES, SL_CONFIG_MAX_ROUTE_TIERS);
            return;
        }
    }
}

static void load_evaluators(struct sl_jsonconf *ld, struct sl_config *cfg, const cJSON *o,
                            const char *const *keys)
{
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(o, "endpoints"), *it;
    size_t n = 0;

    sl_jsonconf_check_keys(ld, o, "evaluators", keys);
    sl_jsonconf_long(ld, o, "queue", "evaluators", 1, 10000000, &cfg->evaluators.queue);
    if (!cJSON_IsArray(eps) || cJSON_GetArraySize(eps) == 0) {
        sl_jsonconf_fail(ld, "evaluators.endpoints",
                         "must be a non-empty array of ZeroMQ endpoints");
        return;
    }
    cJSON_ArrayForEach(it, eps)
    {
        if (!cJSON_IsString(it) || !strstr(it->valuestring, "://")) {
            sl_jsonconf_fail(ld, "evaluators.endpoints",
                             "each must be an endpoint like tcp://host:port");
            return;
        }
    }
    cfg->evaluators.endpoints = xcalloc((size_t)cJSON_GetArraySize(eps) + 1, sizeof(char *));
    cJSON_ArrayForEach(it, eps)
    {
        cfg->evaluators.endpoints[n++] = xstrdup(it->valuestring);
    }
}

static void load_root(struct sl_jsonconf *ld, const struct build *b, struct sl_config *cfg,
                      const cJSON *root)
{
    static const char *const keys[] = {
        "listen",     "workers",     "log_level", "max_body_bytes", "max_header_bytes",
        "retry",      "timeouts_ms", "breaker",   "providers",      "models",
        "routes",     "data_dir",    "auth",      "audit",          "evaluators",
        "controller", NULL};
    static const char *const controller_keys[] = {"snapshot", "updates", "reports", "heartbeat_ms",
                                                  NULL};
    static const char *const evaluators_keys[] = {"endpoints", "queue", NULL};
    static const char *const auth_keys[] = {"required", "admin_key_env", NULL};
    static const char *const audit_keys[] = {"enabled", "max_queue", "batch_rows", "flush_ms",
                                             NULL};
    static const char *const retry_keys[] = {"max_attempts", "max_wait_ms", NULL};
    static const char *const breaker_keys[] = {
        "consecutive_failures", "error_rate", "window", "min_calls", "open_ms", NULL};
    const cJSON *o;
    const char *s;
    long n;

    sl_jsonconf_check_keys(ld, root, "", keys);
    s = sl_jsonconf_string(ld, root, "listen", "");
    if (s) {
        free(cfg->listen_host);
        cfg->listen_host = NULL;
        if (sl_config_parse_listen(s, &cfg->listen_host, &cfg->listen_port))
            sl_jsonconf_fail(ld, "listen", "must be \"host:port\"");
    }
    sl_jsonconf_int(ld, root, "workers", "", 1, 256, &cfg->workers);
    s = sl_jsonconf_string(ld, root, "log_level", "");
    if (s) {
        if (strcmp(s, "debug") && strcmp(s, "info") && strcmp(s, "warn") && strcmp(s, "error"))
            sl_jsonconf_fail(ld, "log_level", "must be debug, info, warn or error");
        free(cfg->log_level);
        cfg->log_level = xstrdup(s);
    }
    n = (long)cfg->max_body_bytes;
    sl_jsonconf_long(ld, root, "max_body_bytes", "", 1024, 1L << 30, &n);
    cfg->max_body_bytes = (size_t)n;
    n = (long)cfg->max_header_bytes;
    sl_jsonconf_long(ld, root, "max_header_bytes", "", 1024, 1L << 20, &n);
    cfg->max_header_bytes = (size_t)n;

    if ((o = sl_jsonconf_object(ld, root, "retry", ""))) {
        sl_jsonconf_check_keys(ld, o, "retry", retry_keys);
        sl_jsonconf_int(ld, o, "max_attempts", "retry", 1, 20, &cfg->max_attempts);
        sl_jsonconf_long(ld, o, "max_wait_ms", "retry", 0, 600000, &cfg->max_retry_wait_ms);
    }
    load_timeouts(ld, root, "", &cfg->timeouts);
    if ((o = sl_jsonconf_object(ld, root, "breaker", ""))) {
        sl_jsonconf_check_keys(ld, o, "breaker", breaker_keys);
        sl_jsonconf_int(ld, o, "consecutive_failures", "breaker", 1, 1000,
                        &cfg->breaker.consecutive_failures);
        sl_jsonconf_double(ld, o, "error_rate", "breaker", 0.01, 1.0, &cfg->breaker.error_rate);
        sl_jsonconf_int(ld, o, "window", "breaker", 1, 10000, &cfg->breaker.window);
        sl_jsonconf_int(ld, o, "min_calls", "breaker", 1, 10000, &cfg->breaker.min_calls);
        sl_jsonconf_long(ld, o, "open_ms", "breaker", 1, 3600000, &cfg->breaker.open_ms);
        if (cfg->breaker.min_calls > cfg->breaker.window)
            sl_jsonconf_fail(ld, "breaker.min_calls", "must not exceed breaker.window");
    }
    if ((s = sl_jsonconf_string(ld, root, "data_dir", ""))) {
        free(cfg->data_dir);
        cfg->data_dir = sl_jsonconf_path(b->file, s);
    }
    if ((o = sl_jsonconf_object(ld, root, "auth", ""))) {
        sl_jsonconf_check_keys(ld, o, "auth", auth_keys);
        sl_jsonconf_bool(ld, o, "required", "auth", &cfg->auth_required);
        if ((s = sl_jsonconf_string(ld, o, "admin_key_env", "auth"))) {
            free(cfg->admin_key_env);
            cfg->admin_key_env = xstrdup(s);
        }
    }
    if ((o = sl_jsonconf_object(ld, root, "evaluators", "")))
        load_evaluators(ld, cfg, o, evaluators_keys);
    if ((o = sl_jsonconf_object(ld, root, "controller", ""))) {
        static const char *const names[] = {"snapshot", "updates", "reports"};
        char **eps[] = {&cfg->controller.snapshot, &cfg->controller.updates,
                        &cfg->controller.reports};
        sl_jsonconf_check_keys(ld, o, "controller", controller_keys);
        for (size_t i = 0; i < 3; i++) {
            char key[64];
            s = sl_jsonconf_string(ld, o, names[i], "controller");
            snprintf(key, sizeof(key), "controller.%s", names[i]);
            if (!s || !strstr(s, "://"))
                sl_jsonconf_fail(ld, key, "must be an endpoint like tcp://host:port");
            else
                *eps[i] = xstrdup(s);
        }
        sl_jsonconf_long(ld, o, "heartbeat_ms", "controller", 10, 60000,
                         &cfg->controller.heartbeat_ms);
    }
    if ((o = sl_jsonconf_object(ld, root, "audit", ""))) {
        sl_jsonconf_check_keys(ld, o, "audit", audit_keys);
        sl_jsonconf_bool(ld, o, "enabled", "audit", &cfg->audit.enabled);
        sl_jsonconf_long(ld, o, "max_queue", "audit", 1, 100000000, &cfg->audit.max_queue);
        sl_jsonconf_long(ld, o, "batch_rows", "audit", 1, 1000000, &cfg->audit.batch_rows);
        sl_jsonconf_long(ld, o, "flush_ms", "audit", 1, 60000, &cfg->audit.flush_ms);
    }
    if (ld->failed)
        return;
    load_providers(ld, cfg, root);
    if (ld->failed)
        return;
    load_models(ld, cfg, root);
    if (ld->failed)
        return;
    load_fallbacks(ld, cfg, root);
    if (ld->failed)
        return;
    load_routes(ld, b, cfg, root);
}

static void set_defaults(struct sl_config *cfg)
{
    cfg->data_dir = NULL; /* set after loading: the file's directory + "/data" */
    cfg->auth_required = true;
    cfg->admin_key_env = xstrdup("SLUICE_ADMIN_KEY");
    cfg->evaluators.queue = 1000;
    cfg->controller.heartbeat_ms = 1000;
    cfg->audit = (struct sl_audit_config){
        .enabled = true, .max_queue = 65536, .batch_rows = 4096, .flush_ms = 20};
    cfg->listen_host = xstrdup("127.0.0.1");
    cfg->listen_port = 8080;
    cfg->workers = 2;
    cfg->log_level = xstrdup("info");
    cfg->max_body_bytes = 4u << 20;
    cfg->max_header_bytes = 64u << 10;
    cfg->max_attempts = 3;
    cfg->max_retry_wait_ms = 2000;
    cfg->timeouts =
        (struct sl_timeouts){.connect_ms = 2000, .first_byte_ms = 60000, .total_ms = 600000};
    cfg->breaker = (struct sl_breaker_config){.consecutive_failures = 5,
                                              .error_rate = 0.5,
                                              .window = 20,
                                              .min_calls = 10,
                                              .open_ms = 10000};
}

struct sl_classifier *sl_config_classifier_file(void *ctx, const char *file, const char *ref,
                                                char *err, size_t errlen)
{
    char *full = sl_jsonconf_path(file, ref);
    struct sl_classifier *c = sl_classifier_load(full, err, errlen);

    free(full);
    return c;
}

/* Loads a parsed tree (taken) into a new config; name is for messages. */
static struct sl_config *load_tree(const char *name, const struct build *b, cJSON *root, char *err,
                                   size_t errlen)
{
    struct sl_jsonconf ld = {.file = name, .err = err, .errlen = errlen};
    struct sl_config *cfg = xcalloc(1, sizeof(*cfg));

    cfg->path = xstrdup(b->file);
    set_defaults(cfg);
    if (!root)
        ld.failed = 1;
    else
        load_root(&ld, b, cfg, root);
    cJSON_Delete(root);
    if (!ld.failed) {
        const char *key = getenv(cfg->admin_key_env);
        cfg->admin_key = key && *key ? xstrdup(key) : NULL;
        if (!cfg->data_dir)
            cfg->data_dir = sl_jsonconf_path(b->file, "data");
    }
    if (ld.failed) {
        sl_config_destroy(cfg);
        return NULL;
    }
    return cfg;
}

struct sl_config *sl_config_parse(const char *name, const char *text, size_t len, char *err,
                                  size_t errlen)
{
    struct build b = {.file = name, .resolve = sl_config_classifier_file};

    return load_tree(name, &b, sl_jsonconf_parse(name, text, len, err, errlen), err, errlen);
}

struct sl_config *sl_config_build(const char *name, const char *file, const cJSON *file_root,
                                  const cJSON *doc, sl_classifier_resolver resolve, void *ctx,
                                  char *err, size_t errlen)
{
    static const char *const keys[] = {"routes", "fallbacks", "accounts", NULL};
    struct sl_jsonconf ld = {.file = name, .err = err, .errlen = errlen};
    struct sl_teams_doc *accounts = NULL;
    struct sl_config *cfg;
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(doc, "accounts");
    struct build b = {.file = file, .resolve = resolve, .ctx = ctx};
    cJSON *root = NULL, *routes, *models;
    const cJSON *fb, *it;

    if (!cJSON_IsObject(doc)) {
        sl_jsonconf_fail(&ld, "", "a version document must be a JSON object");
        return NULL;
    }
    sl_jsonconf_check_keys(&ld, doc, "", keys);
    if (ld.failed)
        return NULL;
    root = cJSON_Duplicate(file_root, 1);
    models = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (!root || !cJSON_IsObject(models))
        abort(); /* out of memory, or a file tree that sl_config_parse never accepted */
    cJSON_DeleteItemFromObjectCaseSensitive(root, "routes");
    routes = cJSON_GetObjectItemCaseSensitive(doc, "routes");
    if (routes)
        cJSON_AddItemToObject(root, "routes", cJSON_Duplicate(routes, 1));
    if ((fb = sl_jsonconf_object(&ld, doc, "fallbacks", ""))) {
        cJSON_ArrayForEach(it, fb)
        {
            cJSON *m = cJSON_GetObjectItemCaseSensitive(models, it->string);
            char key[300];
            sl_jsonconf_key(key, sizeof(key), "fallbacks", it->string);
            if (!cJSON_IsObject(m)) {
                sl_jsonconf_fail(&ld, key, "\"%s\" is not a model of %s", it->string, file);
                break;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(m, "fallbacks");
            cJSON_AddItemToObject(m, "fallbacks", cJSON_Duplicate(it, 1));
        }
    }
    if (acc && !ld.failed)
        accounts = sl_teams_read_doc(&ld, acc, "accounts");
    if (ld.failed) {
        cJSON_Delete(root);
        return NULL;
    }
    if ((cfg = load_tree(name, &b, root, err, errlen)))
        cfg->accounts = accounts;
    else
        sl_teams_doc_destroy(accounts);
    return cfg;
}

struct sl_config *sl_config_load(const char *path, char *err, size_t errlen)
{
    struct sl_config *cfg = NULL;
    size_t len;
    char *text = sl_jsonconf_read(path, (size_t)(16L << 20), &len, err, errlen);

    if (text)
        cfg = sl_config_parse(path, text, len, err, errlen);
    free(text);
    return cfg;
}

void sl_config_destroy(struct sl_config *cfg)
{
    if (!cfg)
        return;
    sl_teams_doc_destroy(cfg->accounts);
    for (size_t i = 0; i < cfg->n_providers; i++) {
        free(cfg->providers[i].name);
        free(cfg->providers[i].base_url);
        free(cfg->providers[i].api_key_env);
        free(cfg->providers[i].api_key);
    }
    for (size_t i = 0; i < cfg->n_deployments; i++) {
        free(cfg->deployments[i].name);
        free(cfg->deployments[i].model);
    }
    for (size_t i = 0; i < cfg->n_models; i++) {
        free(cfg->models[i].name);
        free(cfg->models[i].deployments);
        free(cfg->models[i].fallbacks);
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        struct sl_route *r = &cfg->routes[i];
        for (size_t k = 0; k < r->n_tiers; k++) {
            free(r->tiers[k].name);
            free(r->tiers[k].models);
        }
        free(r->tiers);
        free(r->thresholds);
        free(r->sampling);
        free(r->name);
        sl_classifier_destroy(r->classifier);
        for (size_t a = 0; r->ab && a < r->ab->n_arms; a++) {
            struct sl_arm *arm = &r->ab->arms[a];
            for (size_t k = 0; arm->tiers && k < r->n_tiers; k++)
                free(arm->tiers[k]);
            free(arm->tiers);
            free(arm->n_tier_models);
            sl_classifier_destroy(arm->classifier);
            free(arm->thresholds);
            free(arm->name);
        }
        if (r->ab) {
            free(r->ab->arms);
            free(r->ab->name);
            free(r->ab->header);
            free(r->ab);
        }
    }
    free(cfg->controller.snapshot);
    free(cfg->controller.updates);
    free(cfg->controller.reports);
    for (char **e = cfg->evaluators.endpoints; e && *e; e++)
        free(*e);
    free(cfg->evaluators.endpoints);
    free(cfg->routes);
    free(cfg->providers);
    free(cfg->deployments);
    free(cfg->models);
    free(cfg->listen_host);
    free(cfg->log_level);
    free(cfg->data_dir);
    free(cfg->admin_key_env);
    free(cfg->admin_key);
    free(cfg->path);
    free(cfg);
}

size_t sl_route_tier_of(const struct sl_route *r, const struct sl_model *m)
{
    for (size_t t = r->n_tiers; t-- > 0;)
        for (size_t i = 0; i < r->tiers[t].n_models; i++)
            if (r->tiers[t].models[i] == m)
                return t;
    return r->n_tiers;
}

const struct sl_route *sl_config_route(const struct sl_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_routes; i++)
        if (strcmp(cfg->routes[i].name, name) == 0)
            return &cfg->routes[i];
    return NULL;
}

const struct sl_model *sl_config_model(const struct sl_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        if (strcmp(cfg->models[i].name, name) == 0)
            return &cfg->models[i];
    return NULL;
}
