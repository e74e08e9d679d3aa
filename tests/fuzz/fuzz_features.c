/* libFuzzer target: feature extraction on arbitrary bytes. */
#include <stdint.h>

#include "features.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sl_features f;
    if (sl_features_extract(&f, (const char *)data, size, 1))
        return 0;
    for (size_t i = 1; i < f.n; i++)
        if (f.idx[i] <= f.idx[i - 1] || f.idx[i] >= SL_FEATURES_DIM)
            __builtin_trap(); /* indices ascending, unique, in range */
    return 0;
}
