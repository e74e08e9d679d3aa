/* Growable byte buffer with a size cap, always NUL-terminated.
 * The caller owns the struct; sl_buf_free releases its contents, sl_buf_take hands the
 * data to the caller (who frees it with free()) and leaves the buffer empty. */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "errors.h"

struct sl_buf {
    char *data; /* read-only for users; NULL until the first append */
    size_t len; /* read-only: bytes used, not counting the terminating NUL */
    size_t cap; /* private */
    size_t max; /* private: most bytes the buffer may hold */
};

/* Empties b and sets its cap; allocates nothing. */
void sl_buf_init(struct sl_buf *b, size_t max);
/* Releases the contents; b can be reused after sl_buf_init. */
void sl_buf_free(struct sl_buf *b);
/* Forgets the contents but keeps the memory for reuse. */
void sl_buf_reset(struct sl_buf *b);
/* Appends n bytes. SL_ETOOBIG past the cap (the buffer is unchanged), SL_ENOMEM. */
int sl_buf_add(struct sl_buf *b, const void *p, size_t n) SL_MUST_CHECK;
/* Appends a NUL-terminated string. */
int sl_buf_adds(struct sl_buf *b, const char *s) SL_MUST_CHECK;
/* Appends printf-formatted text. */
int sl_buf_addf(struct sl_buf *b, const char *fmt, ...) SL_MUST_CHECK
    __attribute__((format(printf, 2, 3)));
/* Returns the data (never NULL: "" when empty) and empties the buffer; the caller frees it.
 * NULL only when out of memory. */
char *sl_buf_take(struct sl_buf *b, size_t *len);

#endif
