/* libFuzzer target: decoding sample messages from the network, and re-encoding what decodes. */
#include <stdint.h>
#include <string.h>

#include "sample.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_sample s, again;
    struct sl_buf b;
    char err[256];

    if (sl_sample_decode((const char *)data, size, &s, err, sizeof(err)))
        return 0;
    /* what decodes must encode to a message that decodes to the same request */
    sl_buf_init(&b, 1 << 26);
    if (sl_sample_encode(&s, &b) || sl_sample_decode(b.data, b.len, &again, err, sizeof(err)) ||
        strcmp(again.request_id, s.request_id) != 0 || strcmp(again.answer, s.answer) != 0)
        __builtin_trap();
    sl_sample_free(&again);
    sl_sample_free(&s);
    sl_buf_free(&b);
    return 0;
}
