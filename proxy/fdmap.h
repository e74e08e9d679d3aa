/* Pointers indexed by file descriptor: state kept per socket by one worker thread. Slots
 * start NULL; the table grows to the highest descriptor used. */
#ifndef SL_FDMAP_H
#define SL_FDMAP_H

#include <stddef.h>

struct sl_fdmap {
    void **p;
    size_t n;
};

/* The pointer kept for fd, or NULL. */
void *sl_fdmap_get(const struct sl_fdmap *m, int fd);
/* The slot for fd, growing the table when needed; NULL when out of memory or fd < 0. */
void **sl_fdmap_slot(struct sl_fdmap *m, int fd);
/* Frees the table (not what its slots point to) and empties it. */
void sl_fdmap_free(struct sl_fdmap *m);

#endif
