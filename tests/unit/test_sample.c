/* The sample wire message: what the proxy encodes, the evaluator decodes and checks. */
#include <criterion/criterion.h>
#include <string.h>

#include "sample.h"

static struct sl_sample full(void)
{
    struct sl_sample s = {.ts_ms = 1795516200123,
                          .tier_index = 0,
                          .score = 0.25,
                          .thresholds = {0.4, 0.8},
                          .n_thresholds = 2,
                          .config_version = 7,
                          .status = 200,
                          .json_mode = true,
                          .messages = "[{\"role\":\"user\",\"content\":\"Say \\\"hi\\\"\"}]",
                          .answer = "Hi \"there\"\nline two",
                          .latency_ms = 321,
                          .tokens_in = 12,
                          .tokens_out = 5,
                          .cost_usd = 0.000123};

    strcpy(s.request_id, "req_0123456789abcdef");
    strcpy(s.team, "search");
    strcpy(s.route, "auto");
    strcpy(s.tier, "small");
    strcpy(s.premium_tier, "large");
    strcpy(s.model, "gpt-4o-mini");
    strcpy(s.deployment, "openai/gpt-4o-mini");
    strcpy(s.finish_reason, "stop");
    return s;
}

Test(sample, encode_then_decode_gives_back_every_field)
{
    struct sl_sample in = full(), out;
    struct sl_buf b;
    char err[256];

    sl_buf_init(&b, 1 << 20);
    cr_assert_eq(sl_sample_encode(&in, &b), 0);
    cr_assert_eq(sl_sample_decode(b.data, b.len, &out, err, sizeof(err)), 0, "%s: %s", err, b.data);
    cr_assert_eq(out.ts_ms, in.ts_ms);
    cr_assert_str_eq(out.request_id, in.request_id);
    cr_assert_str_eq(out.team, "search");
    cr_assert_str_eq(out.route, "auto");
    cr_assert_str_eq(out.tier, "small");
    cr_assert_str_eq(out.premium_tier, "large");
    cr_assert_str_eq(out.model, "gpt-4o-mini");
    cr_assert_str_eq(out.deployment, "openai/gpt-4o-mini");
    cr_assert_str_eq(out.arm, "");
    cr_assert_float_eq(out.score, 0.25, 1e-15);
    cr_assert_eq(out.n_thresholds, 2);
    cr_assert_float_eq(out.thresholds[1], 0.8, 1e-15);
    cr_assert_eq(out.config_version, 7);
    cr_assert_eq(out.status, 200);
    cr_assert(out.json_mode);
    cr_assert_str_eq(out.messages, in.messages);
    cr_assert_str_eq(out.answer, in.answer);
    cr_assert_str_eq(out.finish_reason, "stop");
    cr_assert_eq(out.latency_ms, 321);
    cr_assert_eq(out.tokens_in, 12);
    cr_assert_eq(out.tokens_out, 5);
    cr_assert_float_eq(out.cost_usd, 0.000123, 1e-15);
    sl_sample_free(&out);
    sl_buf_free(&b);
}

Test(sample, unknown_cost_and_tokens_travel_as_null_and_minus_one)
{
    struct sl_sample in = full(), out;
    struct sl_buf b;
    char err[256];

    in.cost_usd = -1;
    in.tokens_in = in.tokens_out = -1;
    sl_buf_init(&b, 1 << 20);
    cr_assert_eq(sl_sample_encode(&in, &b), 0);
    cr_assert(strstr(b.data, "\"cost_usd\":null"));
    cr_assert_eq(sl_sample_decode(b.data, b.len, &out, err, sizeof(err)), 0, "%s", err);
    cr_assert_lt(out.cost_usd, 0);
    cr_assert_eq(out.tokens_in, -1);
    sl_sample_free(&out);
    sl_buf_free(&b);
}

/* Decoding text must fail with a message that starts with prefix. */
static void refused(const char *text, const char *prefix)
{
    struct sl_sample s;
    char err[256] = "";

    cr_assert_eq(sl_sample_decode(text, strlen(text), &s, err, sizeof(err)), SL_EPARSE, "%s", text);
    cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "got \"%s\"", err);
    cr_assert_null(s.messages);
    cr_assert_null(s.answer);
}

Test(sample, bad_messages_are_refused_with_the_field_named)
{
    refused("[1,2]", "not a JSON object");
    refused("{\"v\":2}", "v: unsupported schema version");
    refused("{\"v\":1,\"ts_ms\":1,\"request_id\":\"r\",\"route\":\"a\",\"tier\":\"t\","
            "\"premium_tier\":\"p\",\"thresholds\":[],\"status\":200,\"messages\":{},"
            "\"answer\":\"\"}",
            "messages: required array");
    refused("{\"v\":1,\"ts_ms\":1,\"request_id\":\"r\",\"route\":\"a\",\"tier\":\"t\","
            "\"premium_tier\":\"p\",\"thresholds\":[],\"status\":99,\"messages\":[],"
            "\"answer\":\"\"}",
            "status: must be a number in range");
    refused("{\"v\":1,\"ts_ms\":1,\"route\":\"a\",\"tier\":\"t\",\"premium_tier\":\"p\","
            "\"thresholds\":[],\"status\":200,\"messages\":[],\"answer\":\"\"}",
            "request_id: required string");
}
