/* Raw-text JSON helpers: member spans, validation, string escaping. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

static bool span(const char *text, const char *key, char *out, size_t outlen)
{
    size_t s, e;
    if (!sl_json_member_span(text, strlen(text), key, &s, &e))
        return false;
    snprintf(out, outlen, "%.*s", (int)(e - s), text + s);
    return true;
}

Test(json, finds_top_level_member_values_of_every_kind)
{
    const char *t = " { \"a\" : {\"model\":\"inner\",\"x\":[1,{\"y\":\"}\"}]} , \"n\": -1.5e3,"
                    "\"model\" : \"gpt-4o\", \"t\":true, \"s\":\"q\\\"uote\" } ";
    char v[64];

    cr_assert(span(t, "model", v, sizeof(v)));
    cr_assert_str_eq(v, "\"gpt-4o\"");
    cr_assert(span(t, "a", v, sizeof(v)));
    cr_assert_str_eq(v, "{\"model\":\"inner\",\"x\":[1,{\"y\":\"}\"}]}");
    cr_assert(span(t, "n", v, sizeof(v)));
    cr_assert_str_eq(v, "-1.5e3");
    cr_assert(span(t, "t", v, sizeof(v)));
    cr_assert_str_eq(v, "true");
    cr_assert(span(t, "s", v, sizeof(v)));
    cr_assert_str_eq(v, "\"q\\\"uote\"");
}

Test(json, nested_members_and_absent_keys_are_not_found)
{
    char v[64];
    cr_assert_not(span("{\"a\":{\"model\":\"x\"}}", "model", v, sizeof(v)));
    cr_assert_not(span("[\"model\"]", "model", v, sizeof(v)));
    cr_assert_not(span("{\"model\":\"unterminated", "model", v, sizeof(v)));
    cr_assert_not(span("", "model", v, sizeof(v)));
    /* found by fuzzing: a missing value is not an empty span */
    cr_assert_not(span("{\"model\":,\"x\":1}", "model", v, sizeof(v)));
}

Test(json, first_of_duplicate_keys_wins_like_cjson)
{
    char v[64];
    cr_assert(span("{\"model\":\"one\",\"model\":\"two\"}", "model", v, sizeof(v)));
    cr_assert_str_eq(v, "\"one\"");
}

Test(json, validates_well_formed_documents)
{
    const char *good[] = {"{}",
                          "[]",
                          "0",
                          "-0.5",
                          "1e10",
                          "\"\\u00e9\\n\"",
                          "null",
                          "true",
                          " {\"a\": [1, 2, {\"b\": null}], \"c\": \"d\"} ",
                          "{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}"};
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
        cr_assert(sl_json_valid(good[i], strlen(good[i])), "%s", good[i]);
}

Test(json, rejects_malformed_documents)
{
    const char *bad[] = {"",
                         "{",
                         "{\"a\":}",
                         "{\"choices\": [}",
                         "[1,]",
                         "{\"a\" 1}",
                         "01",
                         "1.",
                         "\"\\x\"",
                         "tru",
                         "{} {}",
                         "\"a\nb\"",
                         "{\"id\":\"chatcmpl\",\"choices\":[{\"message\":"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        cr_assert_not(sl_json_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
}

Test(json, rejects_nesting_deeper_than_the_limit)
{
    char deep[600];
    memset(deep, '[', 300);
    memset(deep + 300, ']', 300);
    cr_assert_not(sl_json_valid(deep, 600));
    cr_assert(sl_json_valid(deep + 200, 200)); /* 100 deep is fine */
}

Test(json, escapes_strings)
{
    struct sl_buf b;
    sl_buf_init(&b, 1024);
    cr_assert_eq(sl_json_add_string(&b, "a\"b\\c\nd\x01 é"), 0);
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\u0001 é\"");
    cr_assert(sl_json_valid(b.data, b.len));
    sl_buf_free(&b);
}

Test(json, error_body_is_openai_shaped_with_nulls_for_absent_members)
{
    struct sl_buf b;

    sl_buf_init(&b, 1024);
    cr_assert_eq(sl_json_add_error(&b, "invalid_request_error", "bad", "model", "No \"x\"."), 0);
    cr_assert_str_eq(b.data, "{\"error\":{\"message\":\"No \\\"x\\\".\",\"type\":"
                             "\"invalid_request_error\",\"param\":\"model\",\"code\":\"bad\"}}");
    sl_buf_reset(&b);
    cr_assert_eq(sl_json_add_error(&b, "server_error", NULL, NULL, "m"), 0);
    cr_assert_str_eq(b.data, "{\"error\":{\"message\":\"m\",\"type\":\"server_error\","
                             "\"param\":null,\"code\":null}}");
    sl_buf_free(&b);
}
