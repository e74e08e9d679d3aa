/* The classifier cache: a small array searched in order (a process holds a handful). */
#include "clfcache.h"

#include "config.h"
#include "jsonconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct entry {
    char *key;
    struct sl_classifier *c;
};

struct sl_clfcache {
    struct entry *e;
    size_t n, cap;
};

struct sl_clfcache *sl_clfcache_create(void)
{
    return calloc(1, sizeof(struct sl_clfcache));
}

void sl_clfcache_destroy(struct sl_clfcache *cc)
{
    if (!cc)
        return;
    for (size_t i = 0; i < cc->n; i++) {
        free(cc->e[i].key);
        sl_classifier_destroy(cc->e[i].c);
    }
    free(cc->e);
    free(cc);
}

struct sl_classifier *sl_clfcache_get(struct sl_clfcache *cc, const char *key)
{
    for (size_t i = 0; i < cc->n; i++)
        if (strcmp(cc->e[i].key, key) == 0)
            return cc->e[i].c;
    return NULL;
}

int sl_clfcache_put(struct sl_clfcache *cc, const char *key, struct sl_classifier *c)
{
    char *k = strdup(key);

    if (k && cc->n == cc->cap) {
        size_t cap = cc->cap ? cc->cap * 2 : 8;
        struct entry *e = realloc(cc->e, cap * sizeof(*e));
        if (e) {
            cc->e = e;
            cc->cap = cap;
        }
    }
    if (!k || cc->n == cc->cap) {
        free(k);
        sl_classifier_destroy(c);
        return SL_ENOMEM;
    }
    cc->e[cc->n++] = (struct entry){k, c};
    return 0;
}

void sl_clfcache_prune(struct sl_clfcache *cc)
{
    size_t k = 0;

    for (size_t i = 0; i < cc->n; i++) {
        if (__atomic_load_n(&cc->e[i].c->refs, __ATOMIC_ACQUIRE) == 1) {
            free(cc->e[i].key);
            sl_classifier_destroy(cc->e[i].c);
        } else {
            cc->e[k++] = cc->e[i];
        }
    }
    cc->n = k;
}

struct sl_classifier *sl_clfcache_file(struct sl_clfcache *cc, const char *file, const char *ref,
                                       char *err, size_t errlen)
{
    char *path = sl_jsonconf_path(file, ref), *key = NULL;
    struct sl_classifier *c = NULL;
    struct stat st;
    size_t n;

    if (stat(path, &st)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    n = strlen(path) + 64;
    if (!(key = malloc(n))) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    snprintf(key, n, "file:%s:%lld.%09ld:%lld", path, (long long)st.st_mtim.tv_sec,
             st.st_mtim.tv_nsec, (long long)st.st_size);
    if ((c = sl_clfcache_get(cc, key))) {
        c = sl_classifier_ref(c);
        goto out;
    }
    if (!(c = sl_classifier_load(path, err, errlen)))
        goto out;
    if (sl_clfcache_put(cc, key, sl_classifier_ref(c))) {
        /* not kept (out of memory): the caller's reference works all the same */
    }
out:
    free(path);
    free(key);
    return c;
}
