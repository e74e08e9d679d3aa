/* Model settings shared by the server threads: built-in defaults, the config file, live updates. */
#define SL_LOG_MODULE "mockllm"
#include "mockllm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Names remembered, configured or merely asked for: random model names cannot grow memory. */
#define MAX_MODELS 4096
#define CONFIG_MAX (1u << 20)

struct mock_model {
    char *name;
    uint64_t hash;
    bool listed;            /* configured, by the file or /mock/models: has settings of its own */
    struct mock_settings s; /* when listed; otherwise the "*" settings apply */
    uint64_t seq;           /* requests so far: seeds each request's random draws */
    uint64_t count;         /* requests since the last reset */
};

struct mock_models {
    pthread_mutex_t mu;
    bool strict; /* a config file was loaded: unlisted names need a "*" entry */
    bool warned_full;
    struct mock_model *v;
    size_t n, cap;
};

static const struct mock_settings builtin = {.output_tokens = 16, .embedding_dims = 8};

enum field_kind { FIELD_INT, FIELD_PROB, FIELD_BOOL };

/* One row per setting: the config file, live updates and validation all read this table. */
static const struct field {
    const char *name;
    size_t off;
    enum field_kind kind;
    int min, max; /* FIELD_INT only; probabilities are in [0, 1] */
} fields[] = {
    {"ttft_ms", offsetof(struct mock_settings, ttft_ms), FIELD_INT, 0, 3600000},
    {"itl_ms", offsetof(struct mock_settings, itl_ms), FIELD_INT, 0, 600000},
    {"output_tokens", offsetof(struct mock_settings, output_tokens), FIELD_INT, 0, 100000},
    {"embedding_dims", offsetof(struct mock_settings, embedding_dims), FIELD_INT, 1, 65536},
    {"retry_after_s", offsetof(struct mock_settings, retry_after_s), FIELD_INT, 0, 86400},
    {"p_429", offsetof(struct mock_settings, p_429), FIELD_PROB, 0, 0},
    {"p_500", offsetof(struct mock_settings, p_500), FIELD_PROB, 0, 0},
    {"p_503", offsetof(struct mock_settings, p_503), FIELD_PROB, 0, 0},
    {"p_hang", offsetof(struct mock_settings, p_hang), FIELD_PROB, 0, 0},
    {"p_close_mid_stream", offsetof(struct mock_settings, p_close_mid_stream), FIELD_PROB, 0, 0},
    {"p_malformed", offsetof(struct mock_settings, p_malformed), FIELD_PROB, 0, 0},
    {"p_bad", offsetof(struct mock_settings, p_bad), FIELD_PROB, 0, 0},
    {"p_bad_hard", offsetof(struct mock_settings, p_bad_hard), FIELD_PROB, 0, 0},
    {"judge", offsetof(struct mock_settings, judge), FIELD_BOOL, 0, 0},
};

enum mock_fault mock_settings_fault(const struct mock_settings *s, double u)
{
    /* Same order as enum mock_fault, which is the order of precedence. */
    const double p[] = {s->p_429,  s->p_500,       s->p_503,
                        s->p_hang, s->p_malformed, s->p_close_mid_stream};
    double sum = 0;

    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
        sum += p[i];
        if (u < sum)
            return (enum mock_fault)(MOCK_FAULT_429 + i);
    }
    return MOCK_FAULT_NONE;
}

static const struct field *find_field(const char *name)
{
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

/* Sets one field from v; on error writes "what is wrong" to err. */
static int set_field(struct mock_settings *s, const struct field *f, const cJSON *v, char *err,
                     size_t errlen)
{
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;

    if (f->kind == FIELD_BOOL) {
        if (!cJSON_IsBool(v)) {
            snprintf(err, errlen, "must be true or false");
            return SL_EINVAL;
        }
        *(bool *)(void *)((char *)s + f->off) = cJSON_IsTrue(v);
        return 0;
    }
    if (f->kind == FIELD_PROB) {
        if (!(d >= 0 && d <= 1)) {
            snprintf(err, errlen, "must be a number in [0, 1]");
            return SL_EINVAL;
        }
        *(double *)(void *)((char *)s + f->off) = d;
        return 0;
    }
    if (!(d >= f->min && d <= f->max) || d != floor(d)) {
        snprintf(err, errlen, "must be an integer in [%d, %d]", f->min, f->max);
        return SL_EINVAL;
    }
    *(int *)(void *)((char *)s + f->off) = (int)d;
    return 0;
}

/* Merges the fields of obj into *s, all or nothing. where names obj in errors ("models.gpt-4o"),
 * or is NULL for a request body; errors read "where.key: what is wrong". */
static int settings_merge(struct mock_settings *s, const cJSON *obj, const char *where, char *err,
                          size_t errlen)
{
    struct mock_settings t = *s;
    const char *dot = where ? "." : "";
    const cJSON *it;
    char why[64];

    if (!where)
        where = "";
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "%s: must be an object", *where ? where : "body");
        return SL_EINVAL;
    }
    cJSON_ArrayForEach(it, obj)
    {
        const struct field *f = find_field(it->string);

        if (!f) {
            snprintf(err, errlen, "%s%s%s: unknown setting", where, dot, it->string);
            return SL_EINVAL;
        }
        if (set_field(&t, f, it, why, sizeof(why))) {
            snprintf(err, errlen, "%s%s%s: %s", where, dot, it->string, why);
            return SL_EINVAL;
        }
    }
    /* A little slack, so that 0.1 + 0.2 + 0.7 is still a valid set. */
    if (t.p_429 + t.p_500 + t.p_503 + t.p_hang + t.p_malformed + t.p_close_mid_stream > 1 + 1e-9) {
        snprintf(err, errlen, "%s: fault probabilities add up to more than 1",
                 *where ? where : "body");
        return SL_EINVAL;
    }
    *s = t;
    return 0;
}

static struct mock_model *find(struct mock_models *m, const char *name, uint64_t hash)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].hash == hash && strcmp(m->v[i].name, name) == 0)
            return &m->v[i];
    return NULL;
}

/* Appends an unlisted entry; NULL when the table is full or memory is short. Invalidates
 * pointers to other entries. */
static struct mock_model *add(struct mock_models *m, const char *name, uint64_t hash)
{
    struct mock_model *e;

    if (m->n == MAX_MODELS) {
        if (!m->warned_full)
            sl_warn("more than %d model names: new ones are no longer counted", MAX_MODELS);
        m->warned_full = true;
        return NULL;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct mock_model *v = realloc(m->v, cap * sizeof(*v));

        if (!v)
            return NULL;
        m->v = v;
        m->cap = cap;
    }
    e = &m->v[m->n];
    *e = (struct mock_model){.name = strdup(name), .hash = hash};
    if (!e->name)
        return NULL;
    m->n++;
    return e;
}

static uint64_t name_hash(const char *name)
{
    return mock_hash(MOCK_HASH_INIT, name, strlen(name));
}

/* The settings for names that are not listed: "*" if configured, else the built-in ones;
 * MOCK_JUDGE_MODEL judges either way. */
static struct mock_settings default_settings(struct mock_models *m, const char *name)
{
    const struct mock_model *star = find(m, "*", name_hash("*"));
    struct mock_settings s = star && star->listed ? star->s : builtin;

    if (strcmp(name, MOCK_JUDGE_MODEL) == 0)
        s.judge = true;
    return s;
}

struct mock_models *mock_models_create(void)
{
    struct mock_models *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void mock_models_destroy(struct mock_models *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].name);
    free(m->v);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* Reads all of path into *text (NUL-terminated, for the caller to free). */
static int read_file(const char *path, char **text, char *err, size_t errlen)
{
    struct sl_buf b;
    char chunk[8192];
    size_t n;
    int rc = 0;
    FILE *f = fopen(path, "r");

    sl_buf_init(&b, CONFIG_MAX);
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return SL_EIO;
    }
    while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = sl_buf_add(&b, chunk, n);
    if (!rc && ferror(f))
        rc = SL_EIO;
    fclose(f);
    if (!rc && !(*text = sl_buf_take(&b, NULL)))
        rc = SL_ENOMEM;
    if (rc)
        snprintf(err, errlen, "%s: %s", path,
                 rc == SL_ETOOBIG ? "larger than 1 MiB" : sl_strerror(rc));
    sl_buf_free(&b);
    return rc;
}

static int line_of(const char *text, const char *at)
{
    int line = 1;

    for (const char *p = text; p < at && *p; p++)
        line += *p == '\n';
    return line;
}

/* Adds one model from the config file. */
static int load_model(struct mock_models *m, const char *path, const cJSON *it, char *err,
                      size_t errlen)
{
    struct mock_settings s = builtin;
    struct mock_model *e;
    char where[160], why[256];

    /* A file's entry starts from the built-in settings, not from "*": the order of entries in
     * the file must not matter. */
    s.judge = strcmp(it->string, MOCK_JUDGE_MODEL) == 0;

    if (!*it->string) {
        snprintf(err, errlen, "%s: models: empty model name", path);
        return SL_EINVAL;
    }
    snprintf(where, sizeof(where), "models.%s", it->string);
    if (find(m, it->string, name_hash(it->string))) {
        snprintf(err, errlen, "%s: %s: listed twice", path, where);
        return SL_EINVAL;
    }
    if (settings_merge(&s, it, where, why, sizeof(why))) {
        snprintf(err, errlen, "%s: %s", path, why);
        return SL_EINVAL;
    }
    if (!(e = add(m, it->string, name_hash(it->string)))) {
        snprintf(err, errlen, "%s: models: more than %d models, or out of memory", path,
                 MAX_MODELS);
        return SL_ETOOBIG;
    }
    e->s = s;
    e->listed = true;
    return 0;
}

static int load_root(struct mock_models *m, const char *path, const cJSON *root, char *err,
                     size_t errlen)
{
    const cJSON *models, *it;
    int rc;

    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: top level: must be an object", path);
        return SL_EINVAL;
    }
    cJSON_ArrayForEach(it, root)
    {
        if (strcmp(it->string, "models") != 0) {
            snprintf(err, errlen, "%s: %s: unknown key", path, it->string);
            return SL_EINVAL;
        }
    }
    models = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (!cJSON_IsObject(models)) {
        snprintf(err, errlen, "%s: models: %s", path, models ? "must be an object" : "missing");
        return SL_EINVAL;
    }
    cJSON_ArrayForEach(it, models)
    {
        if ((rc = load_model(m, path, it, err, errlen)))
            return rc;
    }
    m->strict = true;
    return 0;
}

int mock_models_load(struct mock_models *m, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    const char *end = NULL;
    cJSON *root = NULL;
    int rc;

    if ((rc = read_file(path, &text, err, errlen)))
        goto out;
    /* The parse end is where cJSON_GetErrorPtr would point, without its global state. */
    root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        snprintf(err, errlen, "%s:%d: invalid JSON", path, line_of(text, end));
        rc = SL_EPARSE;
        goto out;
    }
    pthread_mutex_lock(&m->mu);
    rc = load_root(m, path, root, err, errlen);
    pthread_mutex_unlock(&m->mu);
out:
    cJSON_Delete(root);
    free(text);
    return rc;
}

int mock_models_update(struct mock_models *m, const char *name, const cJSON *fields_obj, char *err,
                       size_t errlen)
{
    uint64_t hash = name_hash(name);
    struct mock_settings s;
    struct mock_model *e;
    int rc;

    pthread_mutex_lock(&m->mu);
    e = find(m, name, hash);
    s = e && e->listed ? e->s : default_settings(m, name);
    if ((rc = settings_merge(&s, fields_obj, NULL, err, errlen)))
        goto out;
    if (!e && !(e = add(m, name, hash))) {
        snprintf(err, errlen, "more than %d models, or out of memory", MAX_MODELS);
        rc = SL_ETOOBIG;
        goto out;
    }
    e->s = s;
    e->listed = true;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int mock_models_use(struct mock_models *m, const char *name, struct mock_settings *s, uint64_t *seq)
{
    uint64_t hash = name_hash(name);
    struct mock_model *e;
    int rc = 0;

    pthread_mutex_lock(&m->mu);
    e = find(m, name, hash);
    if (e && e->listed) {
        *s = e->s;
    } else {
        const struct mock_model *star = find(m, "*", name_hash("*"));

        if (m->strict && !(star && star->listed)) {
            rc = SL_ENOTFOUND;
            goto out;
        }
        *s = default_settings(m, name);
        if (!e)
            e = add(m, name, hash);
    }
    /* Past MAX_MODELS a new name is served but not tracked: every request is its first. */
    *seq = e ? e->seq++ : 0;
    if (e)
        e->count++;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int mock_models_list(struct mock_models *m, struct sl_buf *b)
{
    bool first = true;
    int rc = sl_buf_adds(b, "{\"object\":\"list\",\"data\":[");

    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; !rc && i < m->n; i++) {
        const struct mock_model *e = &m->v[i];

        if (!e->listed || strcmp(e->name, "*") == 0)
            continue;
        rc = sl_buf_adds(b, first ? "{\"id\":" : ",{\"id\":");
        if (!rc)
            rc = mock_body_string(b, e->name);
        if (!rc)
            rc = sl_buf_adds(b, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"mockllm\"}");
        first = false;
    }
    pthread_mutex_unlock(&m->mu);
    return rc ? rc : sl_buf_adds(b, "]}");
}

int mock_models_add_counts(struct mock_models *m, cJSON *obj)
{
    int rc = 0;

    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; !rc && i < m->n; i++) {
        if (m->v[i].count && !cJSON_AddNumberToObject(obj, m->v[i].name, (double)m->v[i].count))
            rc = SL_ENOMEM;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

void mock_models_reset_counts(struct mock_models *m)
{
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        m->v[i].seq = 0;
        m->v[i].count = 0;
    }
    pthread_mutex_unlock(&m->mu);
}
