/* Tests for common/auth: the client's key in its request headers. */
#include <criterion/criterion.h>
#include <string.h>

#include "auth.h"

static void expect(const char *authorization, const char *x_api_key, const char *want)
{
    size_t len = 0;
    const char *k = sl_auth_key(authorization, x_api_key, &len);

    if (!want) {
        cr_assert_null(k, "found a key in %s / %s", authorization, x_api_key);
        return;
    }
    cr_assert_not_null(k);
    cr_assert_eq(len, strlen(want));
    cr_assert_eq(memcmp(k, want, len), 0, "%.*s", (int)len, k);
}

Test(auth, a_bearer_token_wins_over_x_api_key)
{
    expect("Bearer sk-1", "sk-2", "sk-1");
    expect("bearer   sk-1  ", NULL, "sk-1");
    expect(NULL, "sk-2", "sk-2");
    expect("Basic abc", "sk-2", "sk-2");
}

Test(auth, no_key_is_null)
{
    expect(NULL, NULL, NULL);
    expect("Bearer ", NULL, NULL);
    expect("Basic abc", NULL, NULL);
    expect(NULL, "", NULL);
}
