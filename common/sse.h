/* Incremental splitter for server-sent event streams (text/event-stream), as LLM APIs send
 * them. Feed bytes as they arrive; it reports each complete event with the raw bytes that
 * carried it (for pass-through) and its joined data field (for inspection). The caller owns
 * the struct: sl_sse_init / sl_sse_free. */
#ifndef SL_SSE_H
#define SL_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct sl_sse {
    struct sl_buf pending; /* private: bytes of the event not yet complete */
    struct sl_buf data;    /* private: the data field of the event being returned */
    size_t start;          /* private: where the first event not yet returned begins */
    size_t scan;           /* private: start of the next line to examine */
};

struct sl_sse_event {
    const char *raw; /* the event's bytes as received, its blank line included */
    size_t raw_len;
    const char *data; /* data lines joined with '\n', NUL-terminated; "" when none */
    size_t data_len;
    bool done; /* the data is exactly "[DONE]", OpenAI's end marker */
};

/* max caps one event's size; a longer event is an error (SL_ETOOBIG). */
void sl_sse_init(struct sl_sse *p, size_t max);
void sl_sse_free(struct sl_sse *p);
/* Forgets any partial event, keeping memory, for a new stream. */
void sl_sse_reset(struct sl_sse *p);

/* Appends bytes to the stream. Then call sl_sse_next until it returns 0. */
int sl_sse_feed(struct sl_sse *p, const char *bytes, size_t n) SL_MUST_CHECK;
/* Returns 1 and fills ev with the next complete event (valid until the next call on p),
 * 0 when no complete event is buffered, or a negative SL_E* code. */
int sl_sse_next(struct sl_sse *p, struct sl_sse_event *ev) SL_MUST_CHECK;
/* True when bytes of an unfinished event are buffered (a stream that ends now is cut). */
bool sl_sse_partial(const struct sl_sse *p);

#endif
