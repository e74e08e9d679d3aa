/* The router's logistic-regression model: load, validate, score and save its JSON artifact. */
#include "classifier.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARTIFACT (256u << 20) /* a dense model of every weight is about 9 MB */

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Reads a whole file; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *data = NULL, *p;
    size_t cap = 0, n = 0;
    int saved;

    if (!fp)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            if (cap > MAX_ARTIFACT + 1) {
                errno = EFBIG;
                goto fail;
            }
            p = realloc(data, cap);
            if (!p)
                goto fail;
            data = p;
        }
        n += fread(data + n, 1, cap - n - 1, fp);
        if (ferror(fp))
            goto fail;
        if (feof(fp))
            break;
    }
    fclose(fp);
    data[n] = '\0';
    *len = n;
    return data;
fail:
    saved = errno ? errno : EIO;
    fclose(fp);
    free(data);
    errno = saved;
    return NULL;
}

struct sl_classifier *sl_classifier_ref(struct sl_classifier *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

void sl_classifier_destroy(struct sl_classifier *c)
{
    /* The last reference frees; acquire-release so that its reads happen before the free. */
    if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    free(c->w);
    free(c->thresholds);
    free(c->path);
    cJSON_Delete(c->meta);
    free(c);
}

/* The member called key, which must have the type that is() checks; NULL (with err set) when
 * it is absent or has another type. */
static const cJSON *member(const cJSON *obj, const char *key, cJSON_bool (*is)(const cJSON *),
                           const char *what, const char *path, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    if (!v)
        set_err(err, errlen, "%s: missing \"%s\"", path, key);
    else if (!is(v))
        set_err(err, errlen, "%s: \"%s\" must be %s", path, key, what);
    else
        return v;
    return NULL;
}

static bool load_weights(struct sl_classifier *c, const cJSON *weights, const char *path, char *err,
                         size_t errlen)
{
    const cJSON *dim, *idx, *val, *i, *v;
    size_t k = 0;
    double last = -1;

    if (!(dim = member(weights, "dim", cJSON_IsNumber, "a number", path, err, errlen)) ||
        !(idx = member(weights, "idx", cJSON_IsArray, "an array", path, err, errlen)) ||
        !(val = member(weights, "val", cJSON_IsArray, "an array", path, err, errlen)))
        return false;
    if (dim->valuedouble != SL_FEATURES_DIM) {
        set_err(err, errlen, "%s: weights.dim is %.17g but this build has %u features", path,
                dim->valuedouble, SL_FEATURES_DIM);
        return false;
    }
    if (cJSON_GetArraySize(idx) != cJSON_GetArraySize(val)) {
        set_err(err, errlen, "%s: weights.idx has %d entries but weights.val has %d", path,
                cJSON_GetArraySize(idx), cJSON_GetArraySize(val));
        return false;
    }
    for (i = idx->child, v = val->child; i && v; i = i->next, v = v->next, k++) {
        double d = cJSON_IsNumber(i) ? i->valuedouble : -1;
        if (!cJSON_IsNumber(i) || d != floor(d) || d < 0 || d >= SL_FEATURES_DIM) {
            set_err(err, errlen, "%s: weights.idx[%zu] is not an index in [0, %u)", path, k,
                    SL_FEATURES_DIM);
            return false;
        }
        if (d <= last) {
            set_err(err, errlen, "%s: weights.idx[%zu] is not above the index before it", path, k);
            return false;
        }
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || !isfinite((float)v->valuedouble)) {
            set_err(err, errlen, "%s: weights.val[%zu] is not a finite number", path, k);
            return false;
        }
        last = d;
        c->w[(size_t)d] = (float)v->valuedouble;
    }
    return true;
}

static bool load_thresholds(struct sl_classifier *c, const cJSON *arr, const char *path, char *err,
                            size_t errlen)
{
    const cJSON *t;
    size_t n = (size_t)cJSON_GetArraySize(arr);

    c->thresholds = calloc(n ? n : 1, sizeof(*c->thresholds));
    if (!c->thresholds) {
        set_err(err, errlen, "%s: out of memory", path);
        return false;
    }
    cJSON_ArrayForEach(t, arr)
    {
        size_t k = c->n_thresholds;
        if (!cJSON_IsNumber(t) || !(t->valuedouble > 0 && t->valuedouble < 1) ||
            (k && t->valuedouble <= c->thresholds[k - 1])) {
            set_err(err, errlen,
                    "%s: thresholds[%zu] is not a number in (0, 1) above the one "
                    "before it",
                    path, k);
            return false;
        }
        c->thresholds[c->n_thresholds++] = t->valuedouble;
    }
    return true;
}

/* "training" and "metrics", when present, kept as the trainer wrote them. */
static bool load_meta(struct sl_classifier *c, const cJSON *root, const char *path, char *err,
                      size_t errlen)
{
    static const char *const keys[] = {"training", "metrics"};

    for (size_t i = 0; i < 2; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
        cJSON *copy;
        if (!m || cJSON_IsNull(m))
            continue;
        if (!cJSON_IsObject(m)) {
            set_err(err, errlen, "%s: \"%s\" must be an object", path, keys[i]);
            return false;
        }
        if (!c->meta && !(c->meta = cJSON_CreateObject()))
            goto oom;
        if (!(copy = cJSON_Duplicate(m, 1)))
            goto oom;
        cJSON_AddItemToObject(c->meta, keys[i], copy);
    }
    return true;
oom:
    set_err(err, errlen, "%s: out of memory", path);
    return false;
}

/* Writes a zero into every page of p[0..len), which calloc gave zeroed but, for a block this
 * large, left unmapped: each page's first touch would otherwise be a page fault in the middle
 * of a request's scoring. (volatile, as the compiler may drop stores of zero into calloc'ed
 * memory.) 4 KiB pages assumed; larger ones are only touched more than once. */
static void prefault(void *p, size_t len)
{
    volatile unsigned char *b = p;

    for (size_t i = 0; i < len; i += 4096)
        b[i] = 0;
}

/* Line number of a byte offset, for parse errors. */
static size_t line_of(const char *text, const char *at)
{
    size_t line = 1;
    for (; text < at; text++)
        line += *text == '\n';
    return line;
}

struct sl_classifier *sl_classifier_load(const char *path, char *err, size_t errlen)
{
    struct sl_classifier *c;
    size_t len = 0;
    char *text = read_file(path, &len);

    if (!text) {
        set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    c = sl_classifier_parse(path, text, len, err, errlen);
    free(text);
    return c;
}

struct sl_classifier *sl_classifier_parse(const char *path, const char *text, size_t len, char *err,
                                          size_t errlen)
{
    struct sl_classifier *c = NULL;
    cJSON *root = NULL;
    const cJSON *v, *hash, *messages, *bias, *weights, *thresholds;
    const char *end = NULL;
    bool ok = false;

    if (strnlen(text, len) != len) {
        set_err(err, errlen, "%s: line %zu: malformed JSON (a NUL byte)", path,
                line_of(text, text + strnlen(text, len)));
        goto out;
    }
    /* Without a terminating NUL to show cJSON, it is asked for the whole length and nothing
     * after it. */
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root && end != text + len) {
        const char *p = end;
        while (p < text + len && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
            p++;
        if (p != text + len) {
            cJSON_Delete(root);
            root = NULL;
            end = p;
        }
    }
    if (!root) {
        /* cJSON points at (or just past) the byte where it gave up. */
        if (!end || end < text || end > text + len)
            end = text + len;
        set_err(err, errlen, "%s: line %zu: malformed JSON", path, line_of(text, end));
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        set_err(err, errlen, "%s: not a JSON object", path);
        goto out;
    }
    if (!(v = member(root, "v", cJSON_IsNumber, "a number", path, err, errlen)))
        goto out;
    if (v->valuedouble != 1) {
        set_err(err, errlen, "%s: artifact version %.17g, this build reads version 1", path,
                v->valuedouble);
        goto out;
    }
    if (!(hash = member(root, "feature_spec_hash", cJSON_IsString, "a string", path, err, errlen)))
        goto out;
    if (strcmp(hash->valuestring, sl_features_spec_hash())) {
        set_err(err, errlen,
                "%s: made for feature specification %.64s but this build extracts %s; retrain "
                "it with this build's sluice-trainer",
                path, hash->valuestring, sl_features_spec_hash());
        goto out;
    }
    if (!(messages = member(root, "messages", cJSON_IsString, "a string", path, err, errlen)) ||
        !(bias = member(root, "bias", cJSON_IsNumber, "a number", path, err, errlen)) ||
        !(weights = member(root, "weights", cJSON_IsObject, "an object", path, err, errlen)) ||
        !(thresholds = member(root, "thresholds", cJSON_IsArray, "an array", path, err, errlen)))
        goto out;
    if (!(c = calloc(1, sizeof(*c))) || !(c->refs = 1) ||
        !(c->w = calloc(SL_FEATURES_DIM, sizeof(*c->w))) || !(c->path = strdup(path))) {
        set_err(err, errlen, "%s: out of memory", path);
        goto out;
    }
    prefault(c->w, SL_FEATURES_DIM * sizeof(*c->w));
    if (sl_features_messages_parse(messages->valuestring, &c->messages)) {
        set_err(err, errlen,
                "%s: \"messages\" is \"%.64s\"; expected last_user, system_last or all", path,
                messages->valuestring);
        goto out;
    }
    if (!isfinite(bias->valuedouble)) {
        set_err(err, errlen, "%s: \"bias\" is not a finite number", path);
        goto out;
    }
    c->bias = bias->valuedouble;
    if (!load_weights(c, weights, path, err, errlen) ||
        !load_thresholds(c, thresholds, path, err, errlen) ||
        !load_meta(c, root, path, err, errlen))
        goto out;
    ok = true;
out:
    cJSON_Delete(root);
    if (!ok) {
        sl_classifier_destroy(c);
        c = NULL;
    }
    return c;
}

/* How many entries ahead scoring prefetches a weight: the weights (1 MB) are mostly out of the
 * cache when a request comes, and the loads' addresses are known long before the sum, which
 * must stay one chain of additions in index order (so that every build scores the same). */
#define PREFETCH_AHEAD 64

double sl_classifier_score(const struct sl_classifier *c, const struct sl_features *f)
{
    double z = c->bias;

    for (size_t i = 0; i < f->n; i++) {
        if (i + PREFETCH_AHEAD < f->n)
            __builtin_prefetch(&c->w[f->idx[i + PREFETCH_AHEAD]]);
        z += (double)c->w[f->idx[i]] * f->val[i];
    }
    return 1.0 / (1.0 + exp(-z));
}

/* Makes a rename in path's directory durable; best effort, as the data itself is synced. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Writes the artifact's text; false on a write error (the stream's error flag says so). */
static bool write_model(FILE *fp, const float *w, double bias, enum sl_features_messages messages,
                        const double *thresholds, size_t n_thresholds, const cJSON *training,
                        const cJSON *metrics, char *err, size_t errlen, const char *path)
{
    const char *sep = "";
    char *s;

    fprintf(fp, "{\"v\":1,\"feature_spec_hash\":\"%s\",\"messages\":\"%s\",\"bias\":%.17g,\n",
            sl_features_spec_hash(), sl_features_messages_name(messages), bias);
    fprintf(fp, "\"weights\":{\"dim\":%u,\n\"idx\":[", SL_FEATURES_DIM);
    for (size_t i = 0; i < SL_FEATURES_DIM; i++) {
        if (w[i] != 0) {
            fprintf(fp, "%s%zu", sep, i);
            sep = ",";
        }
    }
    fputs("],\n\"val\":[", fp);
    sep = "";
    for (size_t i = 0; i < SL_FEATURES_DIM; i++) {
        if (w[i] != 0) {
            fprintf(fp, "%s%.9g", sep, (double)w[i]);
            sep = ",";
        }
    }
    fputs("]},\n\"thresholds\":[", fp);
    for (size_t i = 0; i < n_thresholds; i++)
        fprintf(fp, "%s%.17g", i ? "," : "", thresholds[i]);
    fputs("]", fp);
    for (int k = 0; k < 2; k++) {
        const cJSON *m = k ? metrics : training;
        if (!m)
            continue;
        if (!(s = cJSON_PrintUnformatted(m))) {
            set_err(err, errlen, "%s: out of memory", path);
            return false;
        }
        fprintf(fp, ",\n\"%s\":%s", k ? "metrics" : "training", s);
        free(s);
    }
    fputs("}\n", fp);
    return !ferror(fp);
}

int sl_classifier_save(const char *path, const float *w, double bias,
                       enum sl_features_messages messages, const double *thresholds,
                       size_t n_thresholds, const cJSON *training, const cJSON *metrics, char *err,
                       size_t errlen)
{
    char *tmp = NULL;
    FILE *fp = NULL;
    int fd = -1, rc = SL_EINVAL;
    bool created = false;

    /* Refuse what sl_classifier_load would refuse, before touching the file system. */
    if (!isfinite(bias)) {
        set_err(err, errlen, "%s: bias is not a finite number", path);
        goto out;
    }
    for (size_t i = 0; i < SL_FEATURES_DIM; i++) {
        if (!isfinite(w[i])) {
            set_err(err, errlen, "%s: weight %zu is not a finite number", path, i);
            goto out;
        }
    }
    for (size_t i = 0; i < n_thresholds; i++) {
        if (!(thresholds[i] > 0 && thresholds[i] < 1) ||
            (i && thresholds[i] <= thresholds[i - 1])) {
            set_err(err, errlen, "%s: thresholds must be ascending numbers in (0, 1)", path);
            goto out;
        }
    }
    if (!strcmp(sl_features_messages_name(messages), "unknown") ||
        (training && !cJSON_IsObject(training)) || (metrics && !cJSON_IsObject(metrics))) {
        set_err(err, errlen, "%s: invalid messages, training or metrics", path);
        goto out;
    }
    rc = SL_ENOMEM;
    if (asprintf(&tmp, "%s.tmp", path) < 0) {
        tmp = NULL;
        set_err(err, errlen, "%s: out of memory", path);
        goto out;
    }
    rc = SL_EIO;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        set_err(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    created = true;
    if (!(fp = fdopen(fd, "w"))) {
        set_err(err, errlen, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (!write_model(fp, w, bias, messages, thresholds, n_thresholds, training, metrics, err,
                     errlen, path)) {
        if (!ferror(fp))
            rc = SL_ENOMEM; /* write_model said why */
        else
            set_err(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        goto out;
    }
    if (fflush(fp) || fsync(fileno(fp))) {
        set_err(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        goto out;
    }
    if (fclose(fp)) {
        fp = NULL;
        set_err(err, errlen, "%s: write failed: %s", tmp, strerror(errno));
        goto out;
    }
    fp = NULL;
    if (rename(tmp, path)) {
        set_err(err, errlen, "%s: cannot rename %s to it: %s", path, tmp, strerror(errno));
        goto out;
    }
    created = false;
    sync_dir(path);
    rc = 0;
out:
    if (fp)
        fclose(fp);
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    return rc;
}
