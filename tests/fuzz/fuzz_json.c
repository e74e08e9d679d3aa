/* libFuzzer target: the raw JSON scanners on arbitrary text. */
#include <stdint.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t s, e;
    const char *t = (const char *)data;

    if (sl_json_member_span(t, size, "model", &s, &e) && !(s < e && e <= size))
        __builtin_trap();
    (void)sl_json_valid(t, size);
    return 0;
}
