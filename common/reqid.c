/* Request ids from a per-thread random generator. */
#include "reqid.h"
#include "rand.h"

#include <string.h>

static _Thread_local struct sl_rand state;
static _Thread_local bool seeded;

void sl_reqid_new(char out[21])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v;

    if (!seeded) {
        sl_rand_seed_os(&state);
        seeded = true;
    }
    v = sl_rand_u64(&state);
    memcpy(out, "req_", 4);
    for (int i = 0; i < 16; i++)
        out[4 + i] = hex[(v >> (60 - 4 * i)) & 0xf];
    out[20] = '\0';
}

bool sl_reqid_valid(const char *id)
{
    size_t n = 0;

    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok || n >= SL_REQID_MAX)
            return false;
    }
    return n > 0;
}
