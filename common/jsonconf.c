/* JSON configuration getters that report "file: key: what is wrong". */
#include "jsonconf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_jsonconf_fail(struct sl_jsonconf *ld, const char *key, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (ld->failed++)
        return;    /* the first problem is the one to fix */
    if (!ld->file) /* a request body, not a file: the key alone */
        n = snprintf(ld->err, ld->errlen, "%s%s", key, *key ? ": " : "");
    else if (*key)
        n = snprintf(ld->err, ld->errlen, "%s: %s: ", ld->file, key);
    else
        n = snprintf(ld->err, ld->errlen, "%s: ", ld->file);
    if (n < 0 || (size_t)n >= ld->errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

void sl_jsonconf_key(char *key, size_t size, const char *path, const char *name)
{
    snprintf(key, size, "%s%s%s", path, *path ? "." : "", name);
}

void sl_jsonconf_check_keys(struct sl_jsonconf *ld, const cJSON *obj, const char *path,
                            const char *const *known)
{
    const cJSON *it, *before;
    char key[256];

    cJSON_ArrayForEach(it, obj)
    {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, it->string) == 0;
        sl_jsonconf_key(key, sizeof(key), path, it->string);
        if (!ok)
            sl_jsonconf_fail(ld, key, "unknown key");
        for (before = obj->child; before != it; before = before->next)
            if (strcmp(before->string, it->string) == 0)
                sl_jsonconf_fail(ld, key, "given twice");
    }
}

void sl_jsonconf_long(struct sl_jsonconf *ld, const cJSON *obj, const char *name, const char *path,
                      long min, long max, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    char key[256];

    if (!v)
        return;
    sl_jsonconf_key(key, sizeof(key), path, name);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        sl_jsonconf_fail(ld, key, "must be a whole number");
        return;
    }
    /* compared as doubles: converting one beyond long's range to long is undefined */
    if (v->valuedouble < (double)min || v->valuedouble > (double)max) {
        sl_jsonconf_fail(ld, key, "must be between %ld and %ld", min, max);
        return;
    }
    *out = (long)v->valuedouble;
}

void sl_jsonconf_int(struct sl_jsonconf *ld, const cJSON *obj, const char *name, const char *path,
                     long min, long max, int *out)
{
    long v = *out;
    sl_jsonconf_long(ld, obj, name, path, min, max, &v);
    *out = (int)v;
}

void sl_jsonconf_double(struct sl_jsonconf *ld, const cJSON *obj, const char *name,
                        const char *path, double min, double max, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    char key[256];

    if (!v)
        return;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
        v->valuedouble > max) {
        sl_jsonconf_key(key, sizeof(key), path, name);
        sl_jsonconf_fail(ld, key, "must be a number between %g and %g", min, max);
        return;
    }
    *out = v->valuedouble;
}

void sl_jsonconf_bool(struct sl_jsonconf *ld, const cJSON *obj, const char *name, const char *path,
                      bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    char key[256];

    if (!v)
        return;
    if (!cJSON_IsBool(v)) {
        sl_jsonconf_key(key, sizeof(key), path, name);
        sl_jsonconf_fail(ld, key, "must be true or false");
        return;
    }
    *out = cJSON_IsTrue(v);
}

const char *sl_jsonconf_string(struct sl_jsonconf *ld, const cJSON *obj, const char *name,
                               const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    char key[256];

    if (!v)
        return NULL;
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        sl_jsonconf_key(key, sizeof(key), path, name);
        sl_jsonconf_fail(ld, key, "must be a non-empty string");
        return NULL;
    }
    return v->valuestring;
}

const cJSON *sl_jsonconf_object(struct sl_jsonconf *ld, const cJSON *obj, const char *name,
                                const char *path)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    char key[256];

    if (v && !cJSON_IsObject(v)) {
        sl_jsonconf_key(key, sizeof(key), path, name);
        sl_jsonconf_fail(ld, key, "must be an object");
        return NULL;
    }
    return v;
}

char *sl_jsonconf_path(const char *file, const char *path)
{
    const char *slash = strrchr(file, '/');
    char *full;

    if (path[0] == '/')
        full = strdup(path);
    else if (asprintf(&full, "%.*s/%s", slash ? (int)(slash - file) + (slash == file) : 1,
                      slash ? file : ".", path) < 0)
        full = NULL;
    if (!full)
        abort(); /* small internal allocation */
    return full;
}

char *sl_jsonconf_read(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    long size;

    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    } else if ((size_t)size > max) {
        snprintf(err, errlen, "%s: larger than %zu MiB", path, max >> 20);
    } else if (!(text = calloc((size_t)size + 1, 1))) {
        snprintf(err, errlen, "%s: out of memory", path);
    } else if (fread(text, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        free(text);
        text = NULL;
    } else {
        *len = (size_t)size;
    }
    fclose(f);
    return text;
}

/* Line number of byte offset pos in text, counting from 1. */
static int line_of(const char *text, size_t pos)
{
    int line = 1;
    for (size_t i = 0; i < pos; i++)
        line += text[i] == '\n';
    return line;
}

cJSON *sl_jsonconf_parse(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    size_t pos = end && end >= text ? (size_t)(end - text) : 0;

    /* cJSON stops after the first value; anything but whitespace after it is an error too */
    while (root && pos < len &&
           (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r'))
        pos++;
    if (!root || pos < len) {
        snprintf(err, errlen, "%s:%d: invalid JSON near byte %zu", name, line_of(text, pos), pos);
    } else if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s:1: the top level must be a JSON object", name);
    } else {
        return root;
    }
    cJSON_Delete(root);
    return NULL;
}
