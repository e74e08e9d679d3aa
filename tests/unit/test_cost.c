/* Usage parsing and cost at a price. */
#include <criterion/criterion.h>
#include <string.h>

#include "cost.h"

static bool parse(const char *text, struct sl_usage *u)
{
    return sl_usage_parse(text, strlen(text), u);
}

Test(cost, reads_usage_from_an_answer_and_from_a_stream_chunk)
{
    struct sl_usage u;

    cr_assert(parse("{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"{\\\"usage\\\":1}\"}}],"
                    "\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":30,"
                    "\"total_tokens\":150,\"prompt_tokens_details\":{\"cached_tokens\":100}}}",
                    &u));
    cr_assert_eq(u.prompt, 120);
    cr_assert_eq(u.completion, 30);
    cr_assert_eq(u.cached, 100);
    cr_assert(
        parse("{\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}", &u));
    cr_assert_eq(u.cached, 0);
}

Test(cost, no_usage_or_a_broken_one_is_not_read)
{
    struct sl_usage u;

    cr_assert_not(parse("{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}", &u));
    cr_assert_not(parse("{\"usage\":null}", &u));
    cr_assert_not(parse("{\"usage\":{\"prompt_tokens\":\"5\",\"completion_tokens\":1}}", &u));
    cr_assert_not(parse("{\"usage\":{\"prompt_tokens\":-5,\"completion_tokens\":1}}", &u));
}

Test(cost, prices_uncached_cached_and_output_tokens)
{
    struct sl_price p = {.known = true, .input = 2.5, .output = 10, .cached_input = 1.25};
    struct sl_usage u = {.prompt = 1000000, .completion = 500000, .cached = 400000};

    /* 600k x 2.5 + 400k x 1.25 + 500k x 10, per million */
    cr_assert_float_eq(sl_cost_usd(&p, &u), 1.5 + 0.5 + 5.0, 1e-12);
}

Test(cost, an_unpriced_model_is_never_free)
{
    struct sl_price p = {0};
    struct sl_usage u = {.prompt = 10, .completion = 10};

    cr_assert_lt(sl_cost_usd(&p, &u), 0);
}
