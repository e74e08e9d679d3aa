/* Routes end to end: scoring picks the tier, the cheapest healthy model serves, tiers fall
 * back, and a route with a bad classifier stops the proxy at start. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier.h"
#include "features.h"
#include "harness.h"

static struct proc mock, proxy;
static char work[128], model_path[300]; /* work: the test's temp directory */

#define HARD_PROMPT "Prove that the spectral theorem holds for compact self-adjoint operators."

static double expected_score(const char *prompt)
{
    char err[512];
    struct sl_classifier *c = sl_classifier_load(model_path, err, sizeof(err));
    struct sl_features f;
    double s;

    cr_assert_not_null(c, "%s", err);
    sl_features_init(&f);
    cr_assert_eq(sl_features_extract(&f, prompt, strlen(prompt), 1), 0);
    s = sl_classifier_score(c, &f);
    sl_features_free(&f);
    sl_classifier_destroy(c);
    return s;
}

static void init(void)
{
    temp_dir(work, sizeof(work), "route");
    snprintf(model_path, sizeof(model_path), "%s/model.json", work);
    classifier_write(model_path, HARD_PROMPT, 0.5);
    mock_start(&mock, "{\"models\": {\"*\": {}, \"down\": {\"p_500\": 1}}}", 11);
    proxy_start(
        &proxy,
        "{\"workers\": 2, \"log_level\": \"warn\", \"retry\": {\"max_attempts\": 1},"
        " \"breaker\": {\"consecutive_failures\": 1, \"open_ms\": 60000},"
        " \"auth\": {\"required\": false},"
        " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
        " \"models\": {"
        "  \"cheap\": {\"price\": {\"input\": 0.1, \"output\": 0.4},"
        "            \"deployments\": [{\"provider\": \"mock\", \"model\": \"cheap\"}]},"
        "  \"pricey\": {\"price\": {\"input\": 1, \"output\": 4},"
        "             \"deployments\": [{\"provider\": \"mock\", \"model\": \"pricey\"}]},"
        "  \"large\": {\"price\": {\"input\": 5, \"output\": 15},"
        "            \"deployments\": [{\"provider\": \"mock\", \"model\": \"large\"}]},"
        "  \"broken\": {\"price\": {\"input\": 0.01, \"output\": 0.01},"
        "             \"deployments\": [{\"provider\": \"mock\", \"model\": \"down\"}]}},"
        " \"routes\": {"
        "  \"auto\": {\"classifier\": \"%s\","
        "            \"tiers\": [{\"name\": \"small\", \"models\": [\"pricey\", \"cheap\"]},"
        "                        {\"name\": \"big\", \"models\": [\"large\"]}]},"
        "  \"brittle\": {\"classifier\": \"%s\", \"thresholds\": [0.99],"
        "            \"tiers\": [{\"name\": \"small\", \"models\": [\"broken\"]},"
        "                        {\"name\": \"big\", \"models\": [\"large\"]}]}}}",
        mock.port, model_path, model_path);
}

static void fini(void)
{
    proc_stop_clean(&proxy);
    proc_stop(&mock);
}

TestSuite(route, .init = init, .fini = fini, .timeout = 60);

static void chat(struct resp *r, const char *route, const char *prompt)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
             "{\"role\":\"user\",\"content\":\"%s\"}]}",
             route, prompt);
    http(r, proxy.port, NULL, "/v1/chat/completions", body, NULL, 0);
}

static void expect(const struct resp *r, const char *tier, const char *served)
{
    char v[128];
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert(resp_header(r, "x-sluice-route", v, sizeof(v)));
    cr_assert(resp_header(r, "x-sluice-tier", v, sizeof(v)));
    cr_assert_str_eq(v, tier);
    cr_assert(resp_header(r, "x-sluice-model", v, sizeof(v)));
    cr_assert_str_eq(v, served);
}

Test(route, an_easy_prompt_goes_to_the_cheapest_model_of_the_small_tier)
{
    struct resp r;
    char v[64];

    chat(&r, "auto", "What is the capital of France?");
    expect(&r, "small", "mock/cheap");
    cr_assert(resp_header(&r, "x-sluice-score", v, sizeof(v)));
    cr_assert_float_eq(atof(v), expected_score("What is the capital of France?"), 1e-4,
                       "the proxy scores as the library does");
    cr_assert_lt(atof(v), 0.5);
    resp_free(&r);
}

Test(route, a_hard_prompt_goes_to_the_big_tier)
{
    struct resp r;
    char v[64];

    chat(&r, "auto", HARD_PROMPT);
    expect(&r, "big", "mock/large");
    cr_assert(resp_header(&r, "x-sluice-score", v, sizeof(v)));
    cr_assert_float_eq(atof(v), expected_score(HARD_PROMPT), 1e-4);
    cr_assert_gt(atof(v), 0.5);
    resp_free(&r);
}

Test(route, decisions_are_counted_per_route_and_tier)
{
    struct resp r;

    for (int i = 0; i < 3; i++) {
        chat(&r, "auto", "hello there");
        resp_free(&r);
    }
    chat(&r, "auto", HARD_PROMPT);
    resp_free(&r);
    cr_assert_eq(metric(proxy.port, "sluice_route_decisions_total{route=\"auto\",tier=\"small\"}"),
                 3);
    cr_assert_eq(metric(proxy.port, "sluice_route_decisions_total{route=\"auto\",tier=\"big\"}"),
                 1);
}

Test(route, a_tier_with_no_healthy_model_falls_back_to_the_next_tier)
{
    struct resp r;

    chat(&r, "brittle", "hello"); /* the small tier's only model fails: its circuit opens */
    assert_openai_error(&r, 502, "upstream_failed");
    resp_free(&r);
    chat(&r, "brittle", "hello");
    expect(&r, "big", "mock/large");
    resp_free(&r);
}

Test(route, the_next_cheapest_model_serves_when_the_cheapest_is_down)
{
    struct resp r;

    mock_set(&mock, "cheap", "{\"p_500\": 1}");
    chat(&r, "auto", "hello");
    assert_openai_error(&r, 502, NULL); /* max_attempts 1: this request fails, circuit opens */
    resp_free(&r);
    chat(&r, "auto", "hello");
    expect(&r, "small", "mock/pricey");
    resp_free(&r);
}

Test(route, routes_are_listed_with_the_models)
{
    struct resp r;
    http(&r, proxy.port, NULL, "/v1/models", NULL, NULL, 0);
    cr_assert_not_null(strstr(r.body, "\"id\":\"auto\""), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\"id\":\"cheap\""), "%s", r.body);
    resp_free(&r);
}

/* OpenAI's "retrieve model": one alias or route by name. */
Test(route, a_model_or_route_is_retrieved_by_name)
{
    static const char *const found[][3] = {
        {"/v1/models/auto", "auto", "sluice-route"},
        {"/v1/models/cheap", "cheap", "sluice"},
        {"/v1/models/%61uto?x=1", "auto", "sluice-route"}, /* percent-encoded, with a query */
    };
    struct resp r;
    cJSON *j;

    for (size_t i = 0; i < sizeof(found) / sizeof(*found); i++) {
        http(&r, proxy.port, "GET", found[i][0], NULL, NULL, 0);
        cr_assert_eq(r.status, 200, "%s: %s", found[i][0], r.body);
        j = resp_json(&r);
        cr_assert_str_eq(cJSON_GetObjectItem(j, "id")->valuestring, found[i][1]);
        cr_assert_str_eq(cJSON_GetObjectItem(j, "object")->valuestring, "model");
        cr_assert_str_eq(cJSON_GetObjectItem(j, "owned_by")->valuestring, found[i][2]);
        cJSON_Delete(j);
        resp_free(&r);
    }
    http(&r, proxy.port, "GET", "/v1/models/nope", NULL, NULL, 0);
    assert_openai_error(&r, 404, "model_not_found");
    resp_free(&r);
    http(&r, proxy.port, "GET", "/v1/models/auto%00x", NULL, NULL, 0); /* not "auto" */
    assert_openai_error(&r, 404, "model_not_found");
    resp_free(&r);
    http(&r, proxy.port, NULL, "/v1/models/auto", "{}", NULL, 0);
    assert_openai_error(&r, 405, "method_not_allowed");
    resp_free(&r);
}

Test(route, a_bad_classifier_stops_the_proxy_at_start)
{
    char cfg[2048], err[2048], bad[300];
    FILE *f;

    snprintf(
        cfg, sizeof(cfg),
        "{\"providers\": {\"p\": {\"base_url\": \"http://127.0.0.1:1\"}},"
        " \"models\": {\"a\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]},"
        "             \"b\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"y\"}]}},"
        " \"routes\": {\"auto\": {\"classifier\": \"%s\", \"tiers\": ["
        "   {\"name\": \"s\", \"models\": [\"a\"]}, {\"name\": \"l\", \"models\": [\"b\"]}]}}}",
        "/nonexistent/model.json");
    cr_assert_eq(proxy_start_fails(cfg, err, sizeof(err)), 2);
    cr_assert_not_null(strstr(err, "routes.auto.classifier: /nonexistent/model.json"), "%s", err);

    snprintf(bad, sizeof(bad), "%s/bad.json", work);
    f = fopen(bad, "w");
    fprintf(f,
            "{\"v\": 1, \"feature_spec_hash\": \"0000000000000000\", \"bias\": 0,"
            " \"messages\": \"last_user\", \"thresholds\": [0.5],"
            " \"weights\": {\"dim\": %u, \"idx\": [], \"val\": []}}",
            (unsigned)SL_FEATURES_DIM);
    fclose(f);
    snprintf(
        cfg, sizeof(cfg),
        "{\"providers\": {\"p\": {\"base_url\": \"http://127.0.0.1:1\"}},"
        " \"models\": {\"a\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]},"
        "             \"b\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"y\"}]}},"
        " \"routes\": {\"auto\": {\"classifier\": \"%s\", \"tiers\": ["
        "   {\"name\": \"s\", \"models\": [\"a\"]}, {\"name\": \"l\", \"models\": [\"b\"]}]}}}",
        bad);
    cr_assert_eq(proxy_start_fails(cfg, err, sizeof(err)), 2);
    cr_assert_not_null(strstr(err, "routes.auto.classifier:"), "%s", err);
    cr_assert_not_null(strstr(err, "0000000000000000"), "the mismatch names the hash: %s", err);
}

/* The usage the answer reports, for computing the cost a test expects. */
static void usage_of(const struct resp *r, double *prompt, double *completion)
{
    cJSON *j = resp_json(r), *u = cJSON_GetObjectItem(j, "usage");
    *prompt = cJSON_GetObjectItem(u, "prompt_tokens")->valuedouble;
    *completion = cJSON_GetObjectItem(u, "completion_tokens")->valuedouble;
    cJSON_Delete(j);
}

Test(route, the_answer_carries_its_cost_and_the_premium_counterfactual)
{
    struct resp r;
    double p, c;
    char v[64];

    chat(&r, "auto", "What is the capital of France?");
    expect(&r, "small", "mock/cheap");
    usage_of(&r, &p, &c);
    cr_assert_gt(c, 0);
    cr_assert(resp_header(&r, "x-sluice-cost-usd", v, sizeof(v)));
    cr_assert_float_eq(atof(v), (p * 0.1 + c * 0.4) / 1e6, 1e-8, "%s", v);
    cr_assert(resp_header(&r, "x-sluice-premium-cost-usd", v, sizeof(v)));
    cr_assert_float_eq(atof(v), (p * 5 + c * 15) / 1e6, 1e-8, "%s", v);
    resp_free(&r);
    cr_assert_float_eq(metric(proxy.port, "sluice_cost_usd_total{model=\"cheap\"}"),
                       (p * 0.1 + c * 0.4) / 1e6, 1e-8);
    cr_assert_float_eq(metric(proxy.port, "sluice_premium_cost_usd_total{route=\"auto\"}"),
                       (p * 5 + c * 15) / 1e6, 1e-8);
    cr_assert_eq(metric(proxy.port, "sluice_tokens_total{model=\"cheap\",kind=\"completion\"}"), c);
}

Test(route, a_stream_is_costed_from_its_usage_chunk)
{
    struct resp r;
    char body[512];

    snprintf(body, sizeof(body),
             "{\"model\":\"cheap\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}");
    http(&r, proxy.port, NULL, "/v1/chat/completions", body, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "\"usage\""));
    resp_free(&r);
    cr_assert_eq(metric(proxy.port, "sluice_tokens_total{model=\"cheap\",kind=\"completion\"}"),
                 16);
    cr_assert_gt(metric(proxy.port, "sluice_cost_usd_total{model=\"cheap\"}"), 0);
}

Test(route, a_stream_that_did_not_ask_for_usage_is_costed_without_seeing_it)
{
    struct resp r;

    http(&r, proxy.port, NULL, "/v1/chat/completions",
         "{\"model\":\"cheap\",\"stream\":true,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}",
         NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_null(strstr(r.body, "\"usage\""), "the client did not ask for usage: %s", r.body);
    cr_assert_not_null(strstr(r.body, "data: [DONE]"));
    resp_free(&r);
    cr_assert_eq(metric(proxy.port, "sluice_tokens_total{model=\"cheap\",kind=\"completion\"}"), 16,
                 "the proxy asked the upstream for usage itself");
}
