/* SSE splitting: events survive any chunking, raw bytes are kept for pass-through. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sse.h"

static const char stream[] = "data: {\"a\":1}\n\n"
                             ": keep-alive comment\n\n"
                             "event: message\r\ndata: {\"b\":\r\ndata: 2}\r\n\r\n"
                             "data: [DONE]\n\n";

/* Feeds text in pieces of `step` bytes and records what comes out. */
static int split(size_t step, char datas[][64], char *raw, size_t rawcap)
{
    struct sl_sse p;
    struct sl_sse_event ev;
    size_t n = strlen(stream);
    int count = 0;

    sl_sse_init(&p, 4096);
    raw[0] = '\0';
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        cr_assert_eq(sl_sse_feed(&p, stream + off, k), 0);
        int rc;
        while ((rc = sl_sse_next(&p, &ev)) == 1) {
            snprintf(datas[count++], 64, "%s%s", ev.data, ev.done ? "!" : "");
            strncat(raw, ev.raw, ev.raw_len < rawcap - strlen(raw) - 1 ? ev.raw_len : 0);
        }
        cr_assert_eq(rc, 0);
    }
    cr_assert_not(sl_sse_partial(&p));
    sl_sse_free(&p);
    return count;
}

Test(sse, splits_events_whatever_the_chunking)
{
    for (size_t step = 1; step <= sizeof(stream); step++) {
        char datas[8][64], raw[512];
        int n = split(step, datas, raw, sizeof(raw));
        cr_assert_eq(n, 4, "step %zu", step);
        cr_assert_str_eq(datas[0], "{\"a\":1}");
        cr_assert_str_eq(datas[1], "");
        cr_assert_str_eq(datas[2], "{\"b\":\n2}");
        cr_assert_str_eq(datas[3], "[DONE]!");
        cr_assert_str_eq(raw, stream, "raw bytes must pass through unchanged (step %zu)", step);
    }
}

Test(sse, reports_a_cut_event_as_partial)
{
    struct sl_sse p;
    struct sl_sse_event ev;

    sl_sse_init(&p, 4096);
    cr_assert_eq(sl_sse_feed(&p, "data: {\"a\":1}\n\ndata: {\"b\"", 26), 0);
    cr_assert_eq(sl_sse_next(&p, &ev), 1);
    cr_assert_eq(sl_sse_next(&p, &ev), 0);
    cr_assert(sl_sse_partial(&p));
    sl_sse_reset(&p);
    cr_assert_not(sl_sse_partial(&p));
    sl_sse_free(&p);
}

Test(sse, refuses_an_event_over_the_cap)
{
    struct sl_sse p;
    struct sl_sse_event ev;
    char big[200];
    int rc;

    memset(big, 'x', sizeof(big));
    sl_sse_init(&p, 100);
    rc = sl_sse_feed(&p, "data: ", 6);
    cr_assert_eq(rc, 0);
    rc = sl_sse_feed(&p, big, sizeof(big));
    cr_assert_eq(rc, SL_ETOOBIG);
    sl_sse_free(&p);
    (void)ev;
}
