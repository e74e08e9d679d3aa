/* Tests for common/config: loading, defaults and the messages for each kind of mistake. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char err[512];

static struct sl_config *parse(const char *text)
{
    err[0] = '\0';
    return sl_config_parse("test.json", text, strlen(text), err, sizeof(err));
}

/* Parses text, expects it to be rejected with a message that starts with prefix. */
static void expect_error(const char *text, const char *prefix)
{
    struct sl_config *cfg = parse(text);

    cr_assert_null(cfg, "accepted: %s", text);
    cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "expected \"%s...\", got \"%s\"", prefix,
                 err);
}

/* The smallest valid file, with extra top-level members spliced in before "providers". */
#define MINIMAL(extra)                                                                             \
    "{" extra "\"providers\": {\"p\": {\"base_url\": \"http://127.0.0.1:9000/v1\"}},"              \
    "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]}}}"

static const char full[] =
    "{\n"
    "  \"listen\": \"0.0.0.0:9090\",\n"
    "  \"workers\": 4,\n"
    "  \"log_level\": \"debug\",\n"
    "  \"max_body_bytes\": 1048576,\n"
    "  \"max_header_bytes\": 16384,\n"
    "  \"retry\": {\"max_attempts\": 5, \"max_wait_ms\": 1500},\n"
    "  \"timeouts_ms\": {\"connect\": 100, \"first_byte\": 200, \"total\": 300},\n"
    "  \"breaker\": {\"consecutive_failures\": 3, \"error_rate\": 0.25, \"window\": 40,\n"
    "              \"min_calls\": 8, \"open_ms\": 5000},\n"
    "  \"providers\": {\n"
    "    \"openai\": {\"base_url\": \"https://api.openai.com/v1/\",\n"
    "               \"api_key_env\": \"SLUICE_TEST_OPENAI_KEY\"},\n"
    "    \"local\": {\"base_url\": \"http://127.0.0.1:9000\"},\n"
    "    \"unset\": {\"base_url\": \"http://127.0.0.1:9001\",\n"
    "              \"api_key_env\": \"SLUICE_TEST_UNSET_KEY\"}\n"
    "  },\n"
    "  \"models\": {\n"
    "    \"gpt\": {\n"
    "      \"deployments\": [\n"
    "        {\"provider\": \"openai\", \"model\": \"gpt-4o\", \"weight\": 3},\n"
    "        {\"name\": \"backup\", \"provider\": \"local\", \"model\": \"llama\", \"weight\": "
    "0.5,\n"
    "         \"timeouts_ms\": {\"first_byte\": 7000}}\n"
    "      ],\n"
    "      \"fallbacks\": [\"small\", \"tiny\"]\n"
    "    },\n"
    "    \"small\": {\"deployments\": [{\"provider\": \"local\", \"model\": \"qwen\"}]},\n"
    "    \"tiny\": {\"deployments\": [{\"provider\": \"unset\", \"model\": \"t\",\n"
    "               \"timeouts_ms\": {\"connect\": 1, \"first_byte\": 2, \"total\": 3}}]}\n"
    "  }\n"
    "}\n";

Test(config, full_file_top_level_settings)
{
    struct sl_config *cfg = parse(full);

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->path, "test.json");
    cr_assert_str_eq(cfg->listen_host, "0.0.0.0");
    cr_assert_eq(cfg->listen_port, 9090);
    cr_assert_eq(cfg->workers, 4);
    cr_assert_str_eq(cfg->log_level, "debug");
    cr_assert_eq(cfg->max_body_bytes, 1048576);
    cr_assert_eq(cfg->max_header_bytes, 16384);
    cr_assert_eq(cfg->max_attempts, 5);
    cr_assert_eq(cfg->max_retry_wait_ms, 1500);
    cr_assert_eq(cfg->timeouts.connect_ms, 100);
    cr_assert_eq(cfg->timeouts.first_byte_ms, 200);
    cr_assert_eq(cfg->timeouts.total_ms, 300);
    cr_assert_eq(cfg->breaker.consecutive_failures, 3);
    cr_assert_float_eq(cfg->breaker.error_rate, 0.25, 1e-12);
    cr_assert_eq(cfg->breaker.window, 40);
    cr_assert_eq(cfg->breaker.min_calls, 8);
    cr_assert_eq(cfg->breaker.open_ms, 5000);
    sl_config_destroy(cfg);
}

Test(config, full_file_providers)
{
    struct sl_config *cfg;

    cr_assert_eq(setenv("SLUICE_TEST_OPENAI_KEY", "sk-test-123", 1), 0);
    cr_assert_eq(unsetenv("SLUICE_TEST_UNSET_KEY"), 0);
    cfg = parse(full);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->n_providers, 3);
    cr_assert_str_eq(cfg->providers[0].name, "openai");
    cr_assert_str_eq(cfg->providers[0].base_url, "https://api.openai.com/v1",
                     "the trailing slash is stripped");
    cr_assert_str_eq(cfg->providers[0].api_key_env, "SLUICE_TEST_OPENAI_KEY");
    cr_assert_str_eq(cfg->providers[0].api_key, "sk-test-123");
    cr_assert_str_eq(cfg->providers[1].name, "local");
    cr_assert_str_eq(cfg->providers[1].base_url, "http://127.0.0.1:9000");
    cr_assert_null(cfg->providers[1].api_key_env);
    cr_assert_null(cfg->providers[1].api_key);
    cr_assert_str_eq(cfg->providers[2].api_key_env, "SLUICE_TEST_UNSET_KEY");
    cr_assert_null(cfg->providers[2].api_key, "an unset variable gives no key");
    sl_config_destroy(cfg);
}

Test(config, empty_environment_variable_gives_no_key)
{
    struct sl_config *cfg;

    cr_assert_eq(setenv("SLUICE_TEST_EMPTY_KEY", "", 1), 0);
    cfg =
        parse("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\", \"api_key_env\": "
              "\"SLUICE_TEST_EMPTY_KEY\"}},"
              "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]}}}");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_null(cfg->providers[0].api_key);
    sl_config_destroy(cfg);
}

Test(config, full_file_models_and_deployments)
{
    struct sl_config *cfg = parse(full);
    const struct sl_model *gpt, *small, *tiny;

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->n_models, 3);
    cr_assert_eq(cfg->n_deployments, 4);
    for (size_t i = 0; i < cfg->n_deployments; i++)
        cr_assert_eq(cfg->deployments[i].index, i);

    gpt = sl_config_model(cfg, "gpt");
    small = sl_config_model(cfg, "small");
    tiny = sl_config_model(cfg, "tiny");
    cr_assert(gpt && small && tiny);
    cr_assert_null(sl_config_model(cfg, "GPT"), "names are case-sensitive");
    cr_assert_null(sl_config_model(cfg, "missing"));

    cr_assert_str_eq(gpt->name, "gpt");
    cr_assert_eq(gpt->n_deployments, 2);
    cr_assert_str_eq(gpt->deployments[0]->name, "openai/gpt-4o", "default name provider/model");
    cr_assert_str_eq(gpt->deployments[0]->model, "gpt-4o");
    cr_assert_str_eq(gpt->deployments[0]->provider->name, "openai");
    cr_assert_eq(gpt->deployments[0]->provider, &cfg->providers[0]);
    cr_assert_float_eq(gpt->deployments[0]->weight, 3.0, 1e-12);
    cr_assert_eq(gpt->deployments[0], &cfg->deployments[gpt->deployments[0]->index]);

    cr_assert_str_eq(gpt->deployments[1]->name, "backup", "an explicit name wins");
    cr_assert_str_eq(gpt->deployments[1]->model, "llama");
    cr_assert_eq(gpt->deployments[1]->provider, &cfg->providers[1]);
    cr_assert_float_eq(gpt->deployments[1]->weight, 0.5, 1e-12);

    cr_assert_eq(small->n_deployments, 1);
    cr_assert_str_eq(small->deployments[0]->name, "local/qwen");
    cr_assert_float_eq(small->deployments[0]->weight, 1.0, 1e-12, "the default weight is 1");
    cr_assert_eq(tiny->deployments[0]->provider, &cfg->providers[2]);
    cr_assert_str_eq(gpt->deployments[1]->alias, "gpt", "a deployment knows its alias");
    sl_config_destroy(cfg);
}

/* Names go into the metrics' labels as they are. */
Test(config, names_that_label_metrics_need_no_escaping)
{
    char body[600], longname[200];
    struct sl_config *cfg;

    expect_error(
        "{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
        "\"models\": {\"a\\\"b\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]}}}",
        "test.json: models.a\"b: the name");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\","
                 "\"name\": \"line\\nbreak\"}]}}}",
                 "test.json: models.m.deployments[0]: the name");
    memset(longname, 'x', 129);
    longname[129] = '\0';
    snprintf(body, sizeof(body),
             "{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
             "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"%s\"}]}}}",
             longname);
    expect_error(body, "test.json: models.m.deployments[0]: the name");
    longname[128] = '\0';
    snprintf(body, sizeof(body),
             "{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
             "\"models\": {\"%s\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]}}}",
             longname);
    cfg = parse(body);
    cr_assert_not_null(cfg, "128 bytes is allowed: %s", err);
    sl_config_destroy(cfg);
}

Test(config, deployment_names_are_unique_within_an_alias_not_across)
{
    struct sl_config *cfg =
        parse("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
              "\"models\": {\"a\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]},"
              "\"b\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]}}}");

    cr_assert_not_null(cfg, "%s", err);
    sl_config_destroy(cfg);
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"},"
                 "{\"provider\": \"p\", \"model\": \"y\", \"name\": \"p/x\"}]}}}",
                 "test.json: models.m.deployments[1]: deployments[0] is named \"p/x\" too");
}

Test(config, deployment_timeouts_override_the_defaults_key_by_key)
{
    struct sl_config *cfg = parse(full);
    const struct sl_model *gpt, *small, *tiny;

    cr_assert_not_null(cfg, "%s", err);
    gpt = sl_config_model(cfg, "gpt");
    small = sl_config_model(cfg, "small");
    tiny = sl_config_model(cfg, "tiny");

    /* none given: the top-level timeouts */
    cr_assert_eq(gpt->deployments[0]->timeouts.connect_ms, 100);
    cr_assert_eq(gpt->deployments[0]->timeouts.first_byte_ms, 200);
    cr_assert_eq(gpt->deployments[0]->timeouts.total_ms, 300);
    cr_assert_eq(small->deployments[0]->timeouts.total_ms, 300);
    /* one given: that one overridden, the others inherited */
    cr_assert_eq(gpt->deployments[1]->timeouts.connect_ms, 100);
    cr_assert_eq(gpt->deployments[1]->timeouts.first_byte_ms, 7000);
    cr_assert_eq(gpt->deployments[1]->timeouts.total_ms, 300);
    /* all given */
    cr_assert_eq(tiny->deployments[0]->timeouts.connect_ms, 1);
    cr_assert_eq(tiny->deployments[0]->timeouts.first_byte_ms, 2);
    cr_assert_eq(tiny->deployments[0]->timeouts.total_ms, 3);
    sl_config_destroy(cfg);
}

Test(config, fallbacks_resolve_to_the_named_models_in_order)
{
    struct sl_config *cfg = parse(full);
    const struct sl_model *gpt;

    cr_assert_not_null(cfg, "%s", err);
    gpt = sl_config_model(cfg, "gpt");
    cr_assert_eq(gpt->n_fallbacks, 2);
    cr_assert_eq(gpt->fallbacks[0], sl_config_model(cfg, "small"));
    cr_assert_eq(gpt->fallbacks[1], sl_config_model(cfg, "tiny"));
    cr_assert_eq(sl_config_model(cfg, "small")->n_fallbacks, 0);
    sl_config_destroy(cfg);
}

Test(config, fallback_may_name_a_model_defined_later)
{
    struct sl_config *cfg =
        parse("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}}, \"models\": {"
              "\"a\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}],"
              "        \"fallbacks\": [\"b\"]},"
              "\"b\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"y\"}],"
              "        \"fallbacks\": [\"a\"]}}}");

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(sl_config_model(cfg, "a")->fallbacks[0], sl_config_model(cfg, "b"));
    cr_assert_eq(sl_config_model(cfg, "b")->fallbacks[0], sl_config_model(cfg, "a"));
    sl_config_destroy(cfg);
}

Test(config, defaults_when_keys_are_absent)
{
    struct sl_config *cfg = parse(MINIMAL(""));

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->listen_host, "127.0.0.1");
    cr_assert_eq(cfg->listen_port, 8080);
    cr_assert_eq(cfg->workers, 2);
    cr_assert_str_eq(cfg->log_level, "info");
    cr_assert_eq(cfg->max_body_bytes, 4u << 20);
    cr_assert_eq(cfg->max_header_bytes, 64u << 10);
    cr_assert_eq(cfg->max_attempts, 3);
    cr_assert_eq(cfg->max_retry_wait_ms, 2000);
    cr_assert_eq(cfg->timeouts.connect_ms, 2000);
    cr_assert_eq(cfg->timeouts.first_byte_ms, 60000);
    cr_assert_eq(cfg->timeouts.total_ms, 600000);
    cr_assert_eq(cfg->breaker.consecutive_failures, 5);
    cr_assert_float_eq(cfg->breaker.error_rate, 0.5, 1e-12);
    cr_assert_eq(cfg->breaker.window, 20);
    cr_assert_eq(cfg->breaker.min_calls, 10);
    cr_assert_eq(cfg->breaker.open_ms, 10000);
    cr_assert_eq(cfg->deployments[0].timeouts.first_byte_ms, 60000);
    cr_assert_float_eq(cfg->deployments[0].weight, 1.0, 1e-12);
    sl_config_destroy(cfg);
}

Test(config, partial_sections_keep_the_other_defaults)
{
    struct sl_config *cfg = parse(MINIMAL("\"retry\": {\"max_attempts\": 1},"
                                          "\"timeouts_ms\": {\"total\": 1000},"
                                          "\"breaker\": {\"open_ms\": 1},"));

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->max_attempts, 1);
    cr_assert_eq(cfg->max_retry_wait_ms, 2000);
    cr_assert_eq(cfg->timeouts.connect_ms, 2000);
    cr_assert_eq(cfg->timeouts.total_ms, 1000);
    cr_assert_eq(cfg->deployments[0].timeouts.total_ms, 1000);
    cr_assert_eq(cfg->breaker.open_ms, 1);
    cr_assert_eq(cfg->breaker.window, 20);
    sl_config_destroy(cfg);
}

Test(config, range_limits_are_inclusive)
{
    struct sl_config *cfg = parse(MINIMAL("\"workers\": 256, \"listen\": \"h:65535\","
                                          "\"retry\": {\"max_attempts\": 20, \"max_wait_ms\": 0},"
                                          "\"breaker\": {\"error_rate\": 1, \"window\": 1,"
                                          "              \"min_calls\": 1},"));

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->workers, 256);
    cr_assert_eq(cfg->listen_port, 65535);
    cr_assert_eq(cfg->max_attempts, 20);
    cr_assert_eq(cfg->max_retry_wait_ms, 0);
    cr_assert_eq(cfg->breaker.window, 1);
    sl_config_destroy(cfg);
}

Test(config, whole_numbers_may_be_written_as_decimals)
{
    struct sl_config *cfg = parse(MINIMAL("\"workers\": 8.0,"));

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->workers, 8);
    sl_config_destroy(cfg);
}

/* Errors: each message names the file and the key, then what is wrong. */

Test(config, unknown_top_level_key)
{
    expect_error(MINIMAL("\"wrokers\": 2,"), "test.json: wrokers: unknown key");
}

Test(config, misspelt_nested_keys)
{
    expect_error(MINIMAL("\"breaker\": {\"windw\": 10},"), "test.json: breaker.windw: unknown key");
    expect_error(MINIMAL("\"retry\": {\"attempts\": 2},"),
                 "test.json: retry.attempts: unknown key");
    expect_error(MINIMAL("\"timeouts_ms\": {\"connect_ms\": 2},"),
                 "test.json: timeouts_ms.connect_ms: unknown key");
    expect_error(
        "{\"providers\": {\"p\": {\"base_url\": \"http://h:1\", \"apikey\": \"K\"}},"
        "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]}}}",
        "test.json: providers.p.apikey: unknown key");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}],"
                 "\"fallback\": []}}}",
                 "test.json: models.m.fallback: unknown key");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"},"
                 "{\"provider\": \"p\", \"model\": \"y\", \"wieght\": 2}]}}}",
                 "test.json: models.m.deployments[1].wieght: unknown key");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\","
                 "\"timeouts_ms\": {\"totl\": 5}}]}}}",
                 "test.json: models.m.deployments[0].timeouts_ms.totl: unknown key");
}

Test(config, wrong_types)
{
    expect_error(MINIMAL("\"workers\": \"4\","), "test.json: workers: must be a whole number");
    expect_error(MINIMAL("\"workers\": 2.5,"), "test.json: workers: must be a whole number");
    expect_error(MINIMAL("\"listen\": 8080,"), "test.json: listen: must be a non-empty string");
    expect_error(MINIMAL("\"listen\": \"\","), "test.json: listen: must be a non-empty string");
    expect_error(MINIMAL("\"retry\": 3,"), "test.json: retry: must be an object");
    expect_error(MINIMAL("\"breaker\": [],"), "test.json: breaker: must be an object");
    expect_error(MINIMAL("\"timeouts_ms\": 5,"), "test.json: timeouts_ms: must be an object");
    expect_error(MINIMAL("\"breaker\": {\"error_rate\": \"high\"},"),
                 "test.json: breaker.error_rate: must be a number between 0.01 and 1");
    expect_error(MINIMAL("\"timeouts_ms\": {\"connect\": true},"),
                 "test.json: timeouts_ms.connect: must be a whole number");
    expect_error(MINIMAL("\"log_level\": \"verbose\","),
                 "test.json: log_level: must be debug, info, warn or error");
    expect_error("{\"providers\": [], \"models\": {}}", "test.json: providers: must be an object");
    expect_error("{\"providers\": {\"p\": \"http://h:1\"}, \"models\": {}}",
                 "test.json: providers.p: must be an object");
    expect_error("{\"providers\": {\"p\": {\"base_url\": 1}}, \"models\": {}}",
                 "test.json: providers.p.base_url: must be a non-empty string");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": {\"provider\": \"p\"}}}}",
                 "test.json: models.m.deployments: must be a non-empty array");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [\"p/x\"]}}}",
                 "test.json: models.m.deployments[0]: must be an object");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\","
                 "\"weight\": \"2\"}]}}}",
                 "test.json: models.m.deployments[0].weight: must be a number");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}],"
                 "\"fallbacks\": \"m2\"}}}",
                 "test.json: models.m.fallbacks: must be an array of model names");
}

Test(config, out_of_range_numbers)
{
    expect_error(MINIMAL("\"workers\": 0,"), "test.json: workers: must be between 1 and 256");
    expect_error(MINIMAL("\"workers\": 257,"), "test.json: workers: must be between 1 and 256");
    expect_error(MINIMAL("\"workers\": -1,"), "test.json: workers: must be between 1 and 256");
    expect_error(MINIMAL("\"max_body_bytes\": 1023,"),
                 "test.json: max_body_bytes: must be between 1024 and 1073741824");
    expect_error(MINIMAL("\"retry\": {\"max_attempts\": 0},"),
                 "test.json: retry.max_attempts: must be between 1 and 20");
    expect_error(MINIMAL("\"retry\": {\"max_wait_ms\": -5},"),
                 "test.json: retry.max_wait_ms: must be between 0 and 600000");
    expect_error(MINIMAL("\"timeouts_ms\": {\"connect\": 0},"),
                 "test.json: timeouts_ms.connect: must be between 1 and 600000");
    expect_error(MINIMAL("\"breaker\": {\"error_rate\": 0},"),
                 "test.json: breaker.error_rate: must be a number between 0.01 and 1");
    expect_error(MINIMAL("\"breaker\": {\"error_rate\": 1.5},"),
                 "test.json: breaker.error_rate: must be a number between 0.01 and 1");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\","
                 "\"weight\": 0}]}}}",
                 "test.json: models.m.deployments[0].weight: must be a number between");
}

/* Regression: such numbers were converted to long before the range check, which is undefined
 * behaviour and reported "must be a whole number". */
Test(config, numbers_too_large_for_a_long_are_out_of_range)
{
    expect_error(MINIMAL("\"workers\": 1e400,"), "test.json: workers: must be between 1 and 256");
    expect_error(MINIMAL("\"workers\": 1e30,"), "test.json: workers: must be between 1 and 256");
    expect_error(MINIMAL("\"workers\": -1e30,"), "test.json: workers: must be between 1 and 256");
    expect_error(MINIMAL("\"timeouts_ms\": {\"total\": 1e19},"),
                 "test.json: timeouts_ms.total: must be between 1 and 86400000");
}

Test(config, min_calls_must_not_exceed_window)
{
    expect_error(MINIMAL("\"breaker\": {\"window\": 10, \"min_calls\": 11},"),
                 "test.json: breaker.min_calls: must not exceed breaker.window");
    /* against the default min_calls (10) too */
    expect_error(MINIMAL("\"breaker\": {\"window\": 5},"),
                 "test.json: breaker.min_calls: must not exceed breaker.window");
}

Test(config, listen_needs_a_host_and_a_port)
{
    expect_error(MINIMAL("\"listen\": \"localhost\","), "test.json: listen: must be \"host:port\"");
    expect_error(MINIMAL("\"listen\": \"localhost:\","),
                 "test.json: listen: must be \"host:port\"");
    expect_error(MINIMAL("\"listen\": \":8080\","), "test.json: listen: must be \"host:port\"");
    expect_error(MINIMAL("\"listen\": \"h:99999\","), "test.json: listen: must be \"host:port\"");
}

Test(config, providers_and_models_are_required)
{
    expect_error("{}", "test.json: providers: at least one provider is required");
    expect_error("{\"providers\": {}, \"models\": {}}",
                 "test.json: providers: at least one provider is required");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}}}",
                 "test.json: models: at least one model is required");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}}, \"models\": {}}",
                 "test.json: models: at least one model is required");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": []}}}",
                 "test.json: models.m.deployments: must be a non-empty array");
    expect_error(
        "{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}}, \"models\": {\"m\": {}}}",
        "test.json: models.m.deployments: must be a non-empty array");
}

Test(config, provider_needs_an_http_base_url)
{
    expect_error("{\"providers\": {\"p\": {}}, \"models\": {}}",
                 "test.json: providers.p: base_url is required");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"api.openai.com/v1\"}}, \"models\": {}}",
                 "test.json: providers.p.base_url: must start with http:// or https://");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"ftp://h/\"}}, \"models\": {}}",
                 "test.json: providers.p.base_url: must start with http:// or https://");
}

Test(config, deployment_needs_a_known_provider_and_a_model)
{
    expect_error(
        "{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
        "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"q\", \"model\": \"x\"}]}}}",
        "test.json: models.m.deployments[0].provider: no provider named \"q\"");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\"}]}}}",
                 "test.json: models.m.deployments[0]: provider and model are required");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"model\": \"x\"}]}}}",
                 "test.json: models.m.deployments[0]: provider and model are required");
}

Test(config, fallback_must_name_another_defined_model)
{
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}],"
                 "\"fallbacks\": [\"nope\"]}}}",
                 "test.json: models.m.fallbacks: \"nope\" is not a model defined in this file");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}],"
                 "\"fallbacks\": [\"m\"]}}}",
                 "test.json: models.m.fallbacks: a model cannot fall back to itself");
    expect_error("{\"providers\": {\"p\": {\"base_url\": \"http://h:1\"}},"
                 "\"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}],"
                 "\"fallbacks\": [3]}}}",
                 "test.json: models.m.fallbacks: \"(not a string)\" is not a model");
}

Test(config, syntax_error_names_the_line)
{
    expect_error("{\n"
                 "  \"listen\": \"127.0.0.1:8080\",\n"
                 "  \"workers\": 2\n"
                 "  \"log_level\": \"info\"\n"
                 "}\n",
                 "test.json:4: invalid JSON");
    expect_error("{\n  \"a\": [1, 2,\n\n  ]\n}", "test.json:4: invalid JSON");
    expect_error("{\"workers\": 2", "test.json:1: invalid JSON");
    expect_error("", "test.json:1: invalid JSON");
}

/* Regression: text after the top-level object, such as a stray brace or a second object, was
 * silently ignored. */
Test(config, text_after_the_object_is_a_syntax_error)
{
    expect_error(MINIMAL("") "\n}\n", "test.json:2: invalid JSON");
    expect_error(MINIMAL("") "\n\n{\"workers\": 3}\n", "test.json:3: invalid JSON");
}

Test(config, trailing_whitespace_is_fine)
{
    struct sl_config *cfg = parse(MINIMAL("") "\n\n  \t\r\n");

    cr_assert_not_null(cfg, "%s", err);
    sl_config_destroy(cfg);
}

Test(config, top_level_must_be_an_object)
{
    expect_error("[1, 2]", "test.json:1: the top level must be a JSON object");
}

Test(config, parse_uses_only_len_bytes)
{
    const char *text = MINIMAL("") "garbage that is not part of it";
    size_t len = strlen(MINIMAL(""));
    struct sl_config *cfg = sl_config_parse("t", text, len, err, sizeof(err));

    cr_assert_not_null(cfg, "%s", err);
    sl_config_destroy(cfg);
}

Test(config, a_short_error_buffer_is_truncated_safely)
{
    char small[12];
    struct sl_config *cfg = sl_config_parse("test.json", "{\"nope\": 1}", 11, small, sizeof(small));

    cr_assert_null(cfg);
    cr_assert_str_eq(small, "test.json: ");
}

/* sl_config_load reads a file and names it in messages. */

static char tmp_path[64];

static void write_tmp(const char *text)
{
    int fd;
    FILE *f;

    strcpy(tmp_path, "/tmp/sluice-test-config-XXXXXX");
    fd = mkstemp(tmp_path);
    cr_assert_geq(fd, 0);
    f = fdopen(fd, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
}

Test(config, load_reads_a_file)
{
    struct sl_config *cfg;

    write_tmp(full);
    cfg = sl_config_load(tmp_path, err, sizeof(err));
    unlink(tmp_path);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->path, tmp_path);
    cr_assert_eq(cfg->listen_port, 9090);
    cr_assert_eq(sl_config_model(cfg, "gpt")->n_fallbacks, 2);
    sl_config_destroy(cfg);
}

Test(config, load_reports_errors_with_the_file_name)
{
    struct sl_config *cfg;
    char want[128];

    write_tmp("{\n  \"workers\": 2,\n  \"breaker\": {\"windw\": 1}\n}\n");
    cfg = sl_config_load(tmp_path, err, sizeof(err));
    unlink(tmp_path);
    cr_assert_null(cfg);
    snprintf(want, sizeof(want), "%s: breaker.windw: unknown key", tmp_path);
    cr_assert_str_eq(err, want);

    write_tmp("{\n  \"workers\": 2,\n  \"breaker\": {\"window\": 1,}\n}\n");
    cfg = sl_config_load(tmp_path, err, sizeof(err));
    unlink(tmp_path);
    cr_assert_null(cfg);
    snprintf(want, sizeof(want), "%s:3: invalid JSON", tmp_path);
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "got \"%s\"", err);
}

Test(config, load_of_a_missing_file_names_it)
{
    struct sl_config *cfg = sl_config_load("/nonexistent/sluice.json", err, sizeof(err));

    cr_assert_null(cfg);
    cr_assert_str_eq(err, "/nonexistent/sluice.json: cannot open: No such file or directory");
}

Test(config, load_of_an_empty_file_is_a_syntax_error)
{
    struct sl_config *cfg;
    char want[128];

    write_tmp("");
    cfg = sl_config_load(tmp_path, err, sizeof(err));
    unlink(tmp_path);
    cr_assert_null(cfg);
    snprintf(want, sizeof(want), "%s:1: invalid JSON", tmp_path);
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "got \"%s\"", err);
}

Test(config, destroy_null_is_a_no_op)
{
    sl_config_destroy(NULL);
}

/* sl_config_parse_listen */

Test(config, parse_listen_splits_host_and_port)
{
    char *host = NULL;
    int port = -1;

    cr_assert_eq(sl_config_parse_listen("127.0.0.1:8080", &host, &port), 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 8080);
    free(host);

    cr_assert_eq(sl_config_parse_listen("localhost:0", &host, &port), 0);
    cr_assert_str_eq(host, "localhost");
    cr_assert_eq(port, 0);
    free(host);

    cr_assert_eq(sl_config_parse_listen("h:65535", &host, &port), 0);
    cr_assert_eq(port, 65535);
    free(host);

    /* the port follows the last colon, so an IPv6 address keeps its colons */
    cr_assert_eq(sl_config_parse_listen("::1:9000", &host, &port), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 9000);
    free(host);
}

Test(config, parse_listen_rejects_bad_input)
{
    static const char *const bad[] = {
        "",
        "localhost",
        "localhost:",
        ":8080",
        "h:65536",
        "h:-1",
        "h:80x",
        "h:x80",
        "h:8 0",
        "h:1e3",
        "h:99999999999999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *host = NULL;
        int port = 12345;

        cr_assert_eq(sl_config_parse_listen(bad[i], &host, &port), SL_EINVAL,
                     "\"%s\" must be rejected", bad[i]);
        cr_assert_null(host, "\"%s\": host set on failure", bad[i]);
        cr_assert_eq(port, 12345, "\"%s\": port set on failure", bad[i]);
    }
}

Test(config, stream_usage_defaults_to_true_and_can_be_turned_off)
{
    struct sl_config *cfg = parse(MINIMAL(""));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert(cfg->providers[0].stream_usage);
    sl_config_destroy(cfg);

    cfg = parse(
        "{\"providers\": {\"p\": {\"base_url\": \"http://h\", \"stream_usage\": false}},"
        " \"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]}}}");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_not(cfg->providers[0].stream_usage);
    sl_config_destroy(cfg);

    expect_error(
        "{\"providers\": {\"p\": {\"base_url\": \"http://h\", \"stream_usage\": 1}},"
        " \"models\": {\"m\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]}}}",
        "test.json: providers.p.stream_usage: must be true or false");
}

Test(config, accounting_defaults_are_keys_required_and_audit_on_beside_the_file)
{
    struct sl_config *cfg;

    unsetenv("SLUICE_ADMIN_KEY");
    cfg = sl_config_parse("/etc/sluice/sluice.json", MINIMAL(""), strlen(MINIMAL("")), err,
                          sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert(cfg->auth_required);
    cr_assert_str_eq(cfg->admin_key_env, "SLUICE_ADMIN_KEY");
    cr_assert_null(cfg->admin_key);
    cr_assert_str_eq(cfg->data_dir, "/etc/sluice/data");
    cr_assert(cfg->audit.enabled);
    cr_assert_eq(cfg->audit.max_queue, 65536);
    sl_config_destroy(cfg);
}

Test(config, accounting_settings_are_read_and_the_admin_key_comes_from_the_environment)
{
    struct sl_config *cfg;

    setenv("MY_ADMIN", "s3cret", 1);
    cfg = parse(MINIMAL("\"data_dir\": \"/var/lib/sluice\", \"auth\": {\"required\": false,"
                        " \"admin_key_env\": \"MY_ADMIN\"}, \"audit\": {\"enabled\": false,"
                        " \"max_queue\": 10, \"batch_rows\": 5, \"flush_ms\": 3},"));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_not(cfg->auth_required);
    cr_assert_str_eq(cfg->admin_key, "s3cret");
    cr_assert_str_eq(cfg->data_dir, "/var/lib/sluice");
    cr_assert_not(cfg->audit.enabled);
    cr_assert_eq(cfg->audit.max_queue, 10);
    cr_assert_eq(cfg->audit.batch_rows, 5);
    cr_assert_eq(cfg->audit.flush_ms, 3);
    sl_config_destroy(cfg);
}

Test(config, bad_accounting_settings_name_the_key)
{
    expect_error(MINIMAL("\"auth\": {\"required\": 1},"),
                 "test.json: auth.required: must be true or false");
    expect_error(MINIMAL("\"auth\": {\"requird\": true},"), "test.json: auth.requird: unknown key");
    expect_error(MINIMAL("\"audit\": {\"max_queue\": 0},"),
                 "test.json: audit.max_queue: must be between 1 and 100000000");
}

Test(config, evaluators_take_zeromq_endpoints)
{
    struct sl_config *cfg = parse(
        MINIMAL("\"evaluators\": {\"endpoints\": [\"tcp://127.0.0.1:5557\", \"ipc:///tmp/e\"],"
                " \"queue\": 50},"));

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->evaluators.endpoints[0], "tcp://127.0.0.1:5557");
    cr_assert_str_eq(cfg->evaluators.endpoints[1], "ipc:///tmp/e");
    cr_assert_null(cfg->evaluators.endpoints[2]);
    cr_assert_eq(cfg->evaluators.queue, 50);
    sl_config_destroy(cfg);
    expect_error(MINIMAL("\"evaluators\": {\"endpoints\": []},"),
                 "test.json: evaluators.endpoints: must be a non-empty array");
    expect_error(MINIMAL("\"evaluators\": {\"endpoints\": [\"localhost:5557\"]},"),
                 "test.json: evaluators.endpoints: each must be an endpoint");
}

/* --- configuration versions: sl_config_build, A/B splits, policies --------------------------- */

static char vdir[64], vfile[128];
static struct sl_classifier *shared; /* what the test resolver hands out for "sha256:..." */
static int resolved;

static void versions_setup(void)
{
    float *w = calloc(SL_FEATURES_DIM, sizeof(*w));
    double t[1] = {0.5};
    char model[160];
    FILE *fp;

    snprintf(vdir, sizeof(vdir), "/tmp/sl_config_XXXXXX");
    cr_assert_not_null(mkdtemp(vdir));
    snprintf(model, sizeof(model), "%s/router.json", vdir);
    cr_assert_eq(
        sl_classifier_save(model, w, 0, SL_MESSAGES_LAST_USER, t, 1, NULL, NULL, err, sizeof(err)),
        0, "%s", err);
    free(w);
    shared = sl_classifier_load(model, err, sizeof(err));
    cr_assert_not_null(shared, "%s", err);
    snprintf(vfile, sizeof(vfile), "%s/sluice.json", vdir);
    fp = fopen(vfile, "w");
    cr_assert_not_null(fp);
    fputs("{\"providers\": {\"p\": {\"base_url\": \"http://127.0.0.1:9000/v1\"}},"
          "\"models\": {\"cheap\": {\"price\": {\"input\": 1, \"output\": 1},"
          "  \"deployments\": [{\"provider\": \"p\", \"model\": \"c\"}],"
          "  \"fallbacks\": [\"big\"]},"
          "\"mid\": {\"price\": {\"input\": 2, \"output\": 2},"
          "  \"deployments\": [{\"provider\": \"p\", \"model\": \"m\"}]},"
          "\"big\": {\"price\": {\"input\": 9, \"output\": 9},"
          "  \"deployments\": [{\"provider\": \"p\", \"model\": \"b\"}]}},"
          "\"routes\": {\"auto\": {\"classifier\": \"router.json\", \"tiers\": ["
          "  {\"name\": \"small\", \"models\": [\"cheap\"]},"
          "  {\"name\": \"large\", \"models\": [\"big\"]}]}}}",
          fp);
    fclose(fp);
    resolved = 0;
}

static void versions_teardown(void)
{
    char p[200];

    sl_classifier_destroy(shared);
    snprintf(p, sizeof(p), "%s/router.json", vdir);
    unlink(p);
    unlink(vfile);
    rmdir(vdir);
}

static struct sl_classifier *test_resolve(void *ctx, const char *file, const char *ref, char *e,
                                          size_t elen)
{
    (void)ctx;
    resolved++;
    if (strcmp(ref, "sha256:abc") == 0)
        return sl_classifier_ref(shared);
    return sl_config_classifier_file(NULL, file, ref, e, elen);
}

/* Builds the version document text on vfile's tree. */
static struct sl_config *build(const char *doc_text)
{
    struct sl_config *base = sl_config_load(vfile, err, sizeof(err));
    cJSON *root, *doc = cJSON_Parse(doc_text);
    struct sl_config *cfg;
    FILE *fp = fopen(vfile, "r");
    char text[4096];
    size_t n;

    cr_assert_not_null(base, "%s", err);
    cr_assert_not_null(doc, "not JSON: %s", doc_text);
    n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    root = cJSON_Parse(text);
    err[0] = '\0';
    cfg = sl_config_build("version 7", vfile, root, doc, test_resolve, NULL, err, sizeof(err));
    cJSON_Delete(root);
    cJSON_Delete(doc);
    sl_config_destroy(base);
    return cfg;
}

static void expect_version_error(const char *doc, const char *want)
{
    struct sl_config *cfg = build(doc);

    cr_assert_null(cfg, "accepted: %s", doc);
    cr_assert(strstr(err, want), "expected \"%s\" in \"%s\"", want, err);
}

#define ROUTE(extra)                                                                               \
    "{\"routes\": {\"auto\": {\"classifier\": \"sha256:abc\", \"tiers\": ["                        \
    "{\"name\": \"small\", \"models\": [\"cheap\"]}, {\"name\": \"large\", \"models\": "           \
    "[\"big\"]}]" extra "}}}"

TestSuite(versions, .init = versions_setup, .fini = versions_teardown);

Test(versions, a_document_replaces_the_routes_and_keeps_models_in_file_order)
{
    struct sl_config *cfg = build(ROUTE(", \"thresholds\": [0.3]"));

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->n_models, 3);
    cr_assert_str_eq(cfg->models[0].name, "cheap");
    cr_assert_str_eq(cfg->models[2].name, "big");
    cr_assert_str_eq(cfg->deployments[1].model, "m");
    cr_assert_eq(cfg->n_routes, 1);
    cr_assert_eq(cfg->routes[0].classifier, shared, "the resolver's classifier is used");
    cr_assert_float_eq(cfg->routes[0].thresholds[0], 0.3, 1e-12);
    cr_assert_eq(cfg->routes[0].n_tiers, 2);
    cr_assert_eq(cfg->routes[0].tiers[1].slot, 1);
    /* the file's fallbacks stay when the document names none */
    cr_assert_eq(cfg->models[0].n_fallbacks, 1);
    cr_assert_eq(shared->refs, 2, "the version holds one reference");
    sl_config_destroy(cfg);
    cr_assert_eq(shared->refs, 1, "and gives it back");
}

Test(versions, no_routes_in_the_document_means_none_and_fallbacks_are_replaced)
{
    struct sl_config *cfg = build("{\"fallbacks\": {\"cheap\": [\"mid\", \"big\"], \"big\": []}}");

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->n_routes, 0);
    cr_assert_eq(cfg->models[0].n_fallbacks, 2);
    cr_assert_str_eq(cfg->models[0].fallbacks[0]->name, "mid");
    cr_assert_eq(cfg->models[2].n_fallbacks, 0);
    cr_assert_eq(resolved, 0);
    sl_config_destroy(cfg);
}

Test(versions, problems_are_named_by_the_version_and_key)
{
    expect_version_error(ROUTE(", \"thresholds\": [1.5]"),
                         "version 7: routes.auto.thresholds: must be ascending numbers");
    expect_version_error("{\"routes\": {}, \"limits\": {}}", "version 7: limits:");
    expect_version_error("{\"fallbacks\": {\"nope\": [\"big\"]}}", "version 7: fallbacks.nope:");
    expect_version_error("{\"fallbacks\": {\"cheap\": [\"gone\"]}}",
                         "models.cheap.fallbacks: \"gone\" is not a model");
    expect_version_error("[]", "version 7: a version document must be a JSON object");
    expect_version_error("{\"routes\": {\"auto\": {\"classifier\": \"missing.json\", \"tiers\": "
                         "[{\"name\": \"a\", \"models\": [\"cheap\"]}, {\"name\": \"b\", "
                         "\"models\": [\"big\"]}]}}}",
                         "routes.auto.classifier:");
    expect_version_error("{\"routes\": {\"auto\": {\"classifier\": \"sha256:abc\", \"tiers\": "
                         "[{\"name\": \"a\", \"models\": [\"cheap\"]}, {\"name\": \"a\", "
                         "\"models\": [\"big\"]}]}}}",
                         "another tier of this route is called \"a\"");
}

Test(versions, ab_arms_are_read_with_their_variants)
{
    struct sl_config *cfg = build(
        ROUTE(", \"ab\": {\"name\": \"exp1\", \"sticky\": \"header:x-tenant\", \"arms\": ["
              "{\"name\": \"control\", \"weight\": 3},"
              "{\"name\": \"premium\", \"weight\": 1, \"model\": \"big\"},"
              "{\"name\": \"mid\", \"weight\": 1, \"tiers\": {\"small\": [\"mid\", \"cheap\"]}},"
              "{\"name\": \"canary\", \"weight\": 1, \"classifier\": \"sha256:abc\", "
              "\"thresholds\": [0.7]}]}"));
    const struct sl_ab *ab;

    cr_assert_not_null(cfg, "%s", err);
    ab = cfg->routes[0].ab;
    cr_assert_not_null(ab);
    cr_assert_str_eq(ab->name, "exp1");
    cr_assert_eq(ab->sticky, SL_STICKY_HEADER);
    cr_assert_str_eq(ab->header, "x-tenant");
    cr_assert_eq(ab->n_arms, 4);
    cr_assert_float_eq(ab->total_weight, 6, 1e-12);
    cr_assert_null(ab->arms[0].model);
    cr_assert_null(ab->arms[0].classifier);
    cr_assert_null(ab->arms[0].thresholds, "the control arm is the route itself");
    cr_assert_str_eq(ab->arms[1].model->name, "big");
    cr_assert_eq(sl_route_tier_of(&cfg->routes[0], ab->arms[1].model), 1);
    cr_assert_not_null(ab->arms[2].tiers[0]);
    cr_assert_null(ab->arms[2].tiers[1], "tiers not named keep the route's models");
    cr_assert_eq(ab->arms[2].n_tier_models[0], 2);
    cr_assert_str_eq(ab->arms[2].tiers[0][0]->name, "cheap", "cheapest first");
    cr_assert_eq(ab->arms[3].classifier, shared);
    cr_assert_float_eq(ab->arms[3].thresholds[0], 0.7, 1e-12);
    cr_assert_eq(shared->refs, 3);
    sl_config_destroy(cfg);
    cr_assert_eq(shared->refs, 1);
}

Test(versions, ab_sticky_defaults_to_the_key_and_user_is_accepted)
{
    struct sl_config *cfg = build(ROUTE(", \"ab\": {\"arms\": [{\"name\": \"a\", \"weight\": 1},"
                                        "{\"name\": \"b\", \"weight\": 1}]}"));

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->routes[0].ab->sticky, SL_STICKY_KEY);
    cr_assert_str_eq(cfg->routes[0].ab->name, "auto", "the experiment is named after its route");
    sl_config_destroy(cfg);
    cfg = build(ROUTE(", \"ab\": {\"sticky\": \"user\", \"arms\": [{\"name\": \"a\", \"weight\": "
                      "1}, {\"name\": \"b\", \"weight\": 1}]}"));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(cfg->routes[0].ab->sticky, SL_STICKY_USER);
    sl_config_destroy(cfg);
}

Test(versions, bad_ab_splits_are_refused)
{
    expect_version_error(ROUTE(", \"ab\": {\"arms\": [{\"name\": \"a\", \"weight\": 1}]}"),
                         "routes.auto.ab.arms: must be an array of at least two arms");
    expect_version_error(ROUTE(", \"ab\": {\"arms\": [{\"name\": \"a\", \"weight\": 1},"
                               "{\"name\": \"a\", \"weight\": 1}]}"),
                         "routes.auto.ab.arms[1]: another arm is called \"a\"");
    expect_version_error(ROUTE(", \"ab\": {\"arms\": [{\"name\": \"a\", \"weight\": 0},"
                               "{\"name\": \"b\", \"weight\": 1}]}"),
                         "routes.auto.ab.arms[0].weight: must be a number above 0");
    expect_version_error(ROUTE(", \"ab\": {\"sticky\": \"cookie\", \"arms\": [{\"name\": \"a\", "
                               "\"weight\": 1}, {\"name\": \"b\", \"weight\": 1}]}"),
                         "routes.auto.ab.sticky: must be key, user or header:NAME");
    expect_version_error(ROUTE(", \"ab\": {\"arms\": [{\"name\": \"a\", \"weight\": 1},"
                               "{\"name\": \"b\", \"weight\": 1, \"model\": \"mid\"}]}"),
                         "\"mid\" is in none of the route's tiers");
    expect_version_error(ROUTE(", \"ab\": {\"arms\": [{\"name\": \"a\", \"weight\": 1},"
                               "{\"name\": \"b\", \"weight\": 1, \"tiers\": {\"huge\": "
                               "[\"big\"]}}]}"),
                         "routes.auto.ab.arms[1].tiers.huge: no tier of this route");
    expect_version_error(ROUTE(", \"ab\": {\"arms\": [{\"name\": \"a\", \"weight\": 1},"
                               "{\"name\": \"b\", \"weight\": 1, \"model\": \"big\", "
                               "\"thresholds\": [0.2]}]}"),
                         "an arm with a model is not routed");
    expect_version_error(ROUTE(", \"ab\": {\"arms\": [{\"name\": \"a\", \"weight\": 1},"
                               "{\"name\": \"b\", \"weight\": 1, \"thresholds\": [0.2, 0.4]}]}"),
                         "routes.auto.ab.arms[1].thresholds: must be an array of 1 number");
}

Test(versions, policy_defaults_to_notify_and_reads_its_bounds)
{
    struct sl_config *cfg = build(ROUTE(""));

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_not(cfg->routes[0].policy.adjust);
    cr_assert_float_eq(cfg->routes[0].policy.step, 0.05, 1e-12);
    sl_config_destroy(cfg);
    cfg = build(ROUTE(", \"policy\": {\"on_alert\": \"adjust\", \"step\": 0.1, \"ceiling\": 0.3,"
                      " \"cooldown_s\": 60}"));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert(cfg->routes[0].policy.adjust);
    cr_assert_float_eq(cfg->routes[0].policy.step, 0.1, 1e-12);
    cr_assert_float_eq(cfg->routes[0].policy.ceiling, 0.3, 1e-12);
    cr_assert_eq(cfg->routes[0].policy.cooldown_s, 60);
    sl_config_destroy(cfg);
    expect_version_error(ROUTE(", \"policy\": {\"on_alert\": \"panic\"}"),
                         "routes.auto.policy.on_alert: must be notify or adjust");
    expect_version_error(ROUTE(", \"policy\": {\"step\": 0.9}"), "routes.auto.policy.step");
}

Test(config, controller_endpoints_are_read_and_checked)
{
    struct sl_config *cfg =
        parse(MINIMAL("\"controller\": {\"snapshot\": \"tcp://127.0.0.1:5560\", \"updates\": "
                      "\"tcp://127.0.0.1:5561\", \"reports\": \"tcp://127.0.0.1:5562\", "
                      "\"heartbeat_ms\": 250},"));

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->controller.updates, "tcp://127.0.0.1:5561");
    cr_assert_eq(cfg->controller.heartbeat_ms, 250);
    sl_config_destroy(cfg);
    cfg = parse(MINIMAL(""));
    cr_assert_null(cfg->controller.snapshot, "no controller unless named");
    sl_config_destroy(cfg);
    expect_error(MINIMAL("\"controller\": {\"snapshot\": \"tcp://a:1\", \"updates\": \"b\", "
                         "\"reports\": \"tcp://c:3\"},"),
                 "test.json: controller.updates: must be an endpoint");
}

#define DIGEST_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_A(team, digest)                                                                        \
    "\"key_0123456789abcdef\": {\"team\": \"" team "\", \"sha256\": \"" digest "\","               \
    " \"hint\": \"...abcd\", \"created\": 1790000000, \"revoked\": null}"

Test(versions, accounts_give_the_teams_and_keys)
{
    struct sl_config *cfg =
        build("{\"accounts\": {\"teams\": {\"search\": {\"limits\": {\"rpm\": 60}, \"budget\": "
              "{\"usd\": 5, \"period\": \"week\"}}, \"ops\": {}}, \"keys\": {" KEY_A(
                  "search", DIGEST_A) "}}}");

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_not_null(cfg->accounts);
    cr_assert_eq(cfg->accounts->n_teams, 2);
    cr_assert_str_eq(cfg->accounts->teams[0].name, "search");
    cr_assert_eq(cfg->accounts->teams[0].limits.rpm, 60);
    cr_assert_float_eq(cfg->accounts->teams[0].budget_usd, 5, 1e-12);
    cr_assert_eq(cfg->accounts->teams[0].period, SL_PERIOD_WEEK);
    cr_assert_float_eq(cfg->accounts->teams[1].budget_usd, 0, 1e-12, "no budget by default");
    cr_assert_eq(cfg->accounts->n_keys, 1);
    cr_assert_str_eq(cfg->accounts->keys[0].id, "key_0123456789abcdef");
    cr_assert_eq(cfg->accounts->keys[0].digest[31], 0xaa);
    cr_assert_eq(cfg->accounts->keys[0].revoked, 0);
    sl_config_destroy(cfg);
    cfg = build(ROUTE(""));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_null(cfg->accounts, "a version without accounts leaves the proxy's own");
    sl_config_destroy(cfg);
}

Test(versions, bad_accounts_are_named_by_key)
{
    expect_version_error("{\"accounts\": {\"teams\": {\"a b\": {}}}}",
                         "version 7: accounts.teams.a b: a team's name is 1 to 63 characters");
    expect_version_error("{\"accounts\": {\"teams\": {\"t\": {\"budget\": {\"usd\": 0}}}}}",
                         "accounts.teams.t.budget.usd: must be a number of US dollars > 0");
    expect_version_error("{\"accounts\": {\"teams\": {\"t\": {\"limits\": {\"rpm\": -1}}}}}",
                         "accounts.teams.t.limits.rpm: must be between 0 and");
    expect_version_error(
        "{\"accounts\": {\"teams\": {\"t\": {}}, \"keys\": {" KEY_A("absent", DIGEST_A) "}}}",
        "accounts.keys.key_0123456789abcdef: its team \"absent\" is not in");
    expect_version_error(
        "{\"accounts\": {\"teams\": {\"t\": {}}, \"keys\": {" KEY_A("t", "secret") "}}}",
        "accounts.keys.key_0123456789abcdef.sha256: must be the key's SHA-256");
    expect_version_error("{\"accounts\": {\"teams\": {\"t\": {}}, \"keys\": {" KEY_A(
                             "t", DIGEST_A) ", "
                                            "\"key_2\": {\"team\": \"t\", \"sha256\": \"" DIGEST_A
                                            "\"}}}}",
                         "accounts.keys.key_2: has the same sha256 as key key_0123456789abcdef");
    expect_version_error("{\"accounts\": {\"users\": {}}}", "accounts.users: unknown key");
}
