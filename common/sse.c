/* SSE event splitting: events end at a blank line; lines end in \n, \r\n or \r. */
#include "sse.h"

#include <string.h>

void sl_sse_init(struct sl_sse *p, size_t max)
{
    sl_buf_init(&p->pending, max);
    sl_buf_init(&p->data, max);
    p->start = p->scan = 0;
}

void sl_sse_free(struct sl_sse *p)
{
    sl_buf_free(&p->pending);
    sl_buf_free(&p->data);
    p->start = p->scan = 0;
}

void sl_sse_reset(struct sl_sse *p)
{
    sl_buf_reset(&p->pending);
    sl_buf_reset(&p->data);
    p->start = p->scan = 0;
}

int sl_sse_feed(struct sl_sse *p, const char *bytes, size_t n)
{
    /* Events already returned are dropped only now, so their pointers stayed valid. */
    if (p->start > 0) {
        size_t keep = p->pending.len - p->start;
        memmove(p->pending.data, p->pending.data + p->start, keep);
        p->pending.len = keep;
        p->pending.data[keep] = '\0';
        p->scan -= p->start;
        p->start = 0;
    }
    return sl_buf_add(&p->pending, bytes, n);
}

/* Joins the data: fields of the event in raw[0..n) into p->data. */
static int collect_data(struct sl_sse *p, const char *raw, size_t n)
{
    size_t i = 0;
    int lines = 0, rc = 0;

    sl_buf_reset(&p->data);
    while (i < n && rc == 0) {
        size_t e = i;
        while (e < n && raw[e] != '\n' && raw[e] != '\r')
            e++;
        if (e - i >= 5 && memcmp(raw + i, "data:", 5) == 0) {
            size_t v = i + 5 + (e > i + 5 && raw[i + 5] == ' ');
            if (lines++)
                rc = sl_buf_add(&p->data, "\n", 1);
            if (rc == 0)
                rc = sl_buf_add(&p->data, raw + v, e - v);
        }
        i = e + (e + 1 < n && raw[e] == '\r' && raw[e + 1] == '\n' ? 2 : 1);
    }
    if (rc == 0 && !p->data.data)
        rc = sl_buf_add(&p->data, "", 0); /* make data point at "" */
    return rc;
}

int sl_sse_next(struct sl_sse *p, struct sl_sse_event *ev)
{
    const char *s = p->pending.data;
    size_t len = p->pending.len;

    while (p->scan < len) {
        size_t eol = p->scan;
        size_t tl;
        int rc;

        while (eol < len && s[eol] != '\n' && s[eol] != '\r')
            eol++;
        if (eol == len)
            break; /* the line is not complete yet */
        if (s[eol] == '\r' && eol + 1 == len)
            break; /* a \r that may be the first half of \r\n */
        tl = s[eol] == '\r' && s[eol + 1] == '\n' ? 2 : 1;
        if (eol > p->scan) {
            p->scan = eol + tl;
            continue;
        }
        /* A blank line ends the event. */
        ev->raw = s + p->start;
        ev->raw_len = eol + tl - p->start;
        rc = collect_data(p, ev->raw, ev->raw_len);
        if (rc)
            return rc;
        ev->data = p->data.data;
        ev->data_len = p->data.len;
        ev->done = p->data.len == 6 && memcmp(p->data.data, "[DONE]", 6) == 0;
        p->start = p->scan = eol + tl;
        return 1;
    }
    if (len - p->start >= p->pending.max)
        return SL_ETOOBIG;
    return 0;
}

bool sl_sse_partial(const struct sl_sse *p)
{
    for (size_t i = p->start; i < p->pending.len; i++)
        if (p->pending.data[i] != '\n' && p->pending.data[i] != '\r')
            return true;
    return false;
}
