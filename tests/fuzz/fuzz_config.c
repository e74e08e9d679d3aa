/* libFuzzer target: the config loader on arbitrary text. */
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    struct sl_config *cfg = sl_config_parse("fuzz.json", (const char *)data, size, err, 512);
    sl_config_destroy(cfg);
    return 0;
}
