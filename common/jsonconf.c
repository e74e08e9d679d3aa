/* JSON configuration getters that report "file: key: what is wrong". */
#include "jsonconf.h"

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
        return; /* the first problem is the one to fix */
    n = snprintf(ld->err, ld->errlen, "%s: %s: ", ld->file, key);
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

char *sl_jsonconf_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");

    if (!d)
        abort(); /* small internal allocation */
    return d;
}
