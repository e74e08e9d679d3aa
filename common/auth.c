/* The client's key from its request headers. */
#include "auth.h"

#include <string.h>
#include <strings.h>

const char *sl_auth_key(const char *authorization, const char *x_api_key, size_t *len)
{
    const char *v = authorization;

    if (v && strncasecmp(v, "Bearer ", 7) == 0) {
        v += 7;
        while (*v == ' ')
            v++;
    } else {
        v = x_api_key;
    }
    if (!v || !*v)
        return NULL;
    *len = strlen(v);
    while (*len && v[*len - 1] == ' ')
        (*len)--;
    return v;
}
