/* Pointers indexed by file descriptor. */
#include "fdmap.h"

#include <stdlib.h>
#include <string.h>

void *sl_fdmap_get(const struct sl_fdmap *m, int fd)
{
    return fd >= 0 && (size_t)fd < m->n ? m->p[fd] : NULL;
}

void **sl_fdmap_slot(struct sl_fdmap *m, int fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= m->n) {
        size_t n = m->n ? m->n : 256;
        void **grown;

        while (n <= (size_t)fd)
            n *= 2;
        if (!(grown = realloc(m->p, n * sizeof(*grown))))
            return NULL;
        memset(grown + m->n, 0, (n - m->n) * sizeof(*grown));
        m->p = grown;
        m->n = n;
    }
    return &m->p[fd];
}

void sl_fdmap_free(struct sl_fdmap *m)
{
    free(m->p);
    m->p = NULL;
    m->n = 0;
}
