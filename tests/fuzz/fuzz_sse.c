/* libFuzzer target: the SSE splitter on arbitrary bytes in arbitrary chunks. */
#include <stdint.h>
#include <string.h>

#include "json.h"
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_sse p;
    struct sl_sse_event ev;
    size_t off = 0;

    sl_sse_init(&p, 4096);
    /* the first byte sets the chunk size, so the fuzzer explores every split */
    size_t step = size ? (size_t)data[0] % 64 + 1 : 1;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        if (sl_sse_feed(&p, (const char *)data + off, n))
            break;
        while (sl_sse_next(&p, &ev) == 1) {
            if (ev.raw_len == 0 || ev.data[ev.data_len] != '\0')
                __builtin_trap(); /* an event always has bytes; data ends with a NUL */
            (void)sl_json_valid(ev.data, ev.data_len);
        }
        off += n;
    }
    (void)sl_sse_partial(&p);
    sl_sse_free(&p);
    return 0;
}
