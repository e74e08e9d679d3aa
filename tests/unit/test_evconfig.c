/* Tests for evaluator/evconfig: defaults, overrides, and the message for each kind of
 * mistake. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evconfig.h"

static char err[512];

static struct sl_evconfig *parse(const char *text)
{
    err[0] = '\0';
    return sl_evconfig_parse("conf/evaluator.json", text, strlen(text), err, sizeof(err));
}

/* Expects text to be rejected with exactly this message. */
static void expect_error(const char *text, const char *message)
{
    struct sl_evconfig *cfg = parse(text);

    cr_assert_null(cfg, "accepted: %s", text);
    cr_assert_str_eq(err, message, "for %s", text);
}

#define JUDGE "\"judge\": {\"base_url\": \"http://127.0.0.1:9/v1\", \"model\": \"mock-judge\"}"

Test(evconfig, an_empty_object_gives_the_defaults)
{
    struct sl_evconfig *cfg = parse("{}");
    struct sl_drift_config d;
    const struct sl_evroute *r;

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->listen[0], "tcp://127.0.0.1:5557");
    cr_assert_null(cfg->listen[1]);
    cr_assert_str_eq(cfg->data_dir, "conf/data");
    cr_assert_str_eq(cfg->publish, "tcp://127.0.0.1:5558");
    cr_assert_null(cfg->webhook);
    cr_assert_str_eq(cfg->log_level, "info");
    cr_assert_eq(cfg->judge.concurrency, 8);
    cr_assert_eq(cfg->judge.timeout_ms, 30000);
    cr_assert_eq(cfg->judge.retries, 2);
    cr_assert_eq(cfg->judge.pass_score, 4);
    cr_assert_eq(cfg->judge.max_queue, 10000);
    cr_assert_null(cfg->judge.endpoint.base_url);
    cr_assert_null(cfg->judge.rubric);
    cr_assert_null(cfg->shadow.base_url);
    cr_assert_eq(cfg->n_routes, 0);
    cr_assert_eq(cfg->default_scorers, SL_SCORER_RULES);
    cr_assert_eq(sl_evconfig_scorers(cfg, "auto", &r), SL_SCORER_RULES);
    cr_assert_null(r);
    sl_drift_config_default(&d);
    cr_assert_eq(memcmp(&d, &cfg->drift, sizeof(d)), 0);
    sl_evconfig_destroy(cfg);
}

Test(evconfig, every_key_overrides_its_default)
{
    struct sl_evconfig *cfg;
    const struct sl_evroute *r;

    setenv("SLUICE_TEST_JUDGE_KEY", "sk-judge-secret", 1);
    unsetenv("SLUICE_TEST_SHADOW_KEY");
    cfg = parse("{\n"
                "  \"listen\": [\"tcp://127.0.0.1:7001\", \"ipc:///tmp/ev.sock\"],\n"
                "  \"data_dir\": \"/var/lib/sluice\",\n"
                "  \"publish\": \"ipc:///tmp/alerts.sock\",\n"
                "  \"webhook\": \"https://hooks.example.com/T0/B0/\",\n"
                "  \"log_level\": \"debug\",\n"
                "  \"drift\": {\"window\": 100, \"min_samples\": 300, \"alpha\": 0.0001},\n"
                "  \"judge\": {\"base_url\": \"http://127.0.0.1:9000/v1/\", \"model\": \"gpt\",\n"
                "            \"api_key_env\": \"SLUICE_TEST_JUDGE_KEY\", \"concurrency\": 3,\n"
                "            \"timeout_ms\": 1500, \"retries\": 0, \"pass_score\": 5,\n"
                "            \"max_queue\": 50, \"rubric\": \"Grade it.\",\n"
                "            \"pairwise_rubric\": \"Compare them.\"},\n"
                "  \"shadow\": {\"base_url\": \"https://api.openai.com/v1\",\n"
                "             \"api_key_env\": \"SLUICE_TEST_SHADOW_KEY\"},\n"
                "  \"routes\": {\n"
                "    \"auto\": {\"scorers\": [\"rules\", \"judge\", \"shadow\"],\n"
                "             \"shadow_model\": \"gpt-4o\", \"shadow_rate\": 0.25},\n"
                "    \"chat\": {\"scorers\": []},\n"
                "    \"code\": {}\n"
                "  },\n"
                "  \"default_scorers\": [\"judge\", \"rules\"]\n"
                "}\n");
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->listen[0], "tcp://127.0.0.1:7001");
    cr_assert_str_eq(cfg->listen[1], "ipc:///tmp/ev.sock");
    cr_assert_null(cfg->listen[2]);
    cr_assert_str_eq(cfg->data_dir, "/var/lib/sluice");
    cr_assert_str_eq(cfg->publish, "ipc:///tmp/alerts.sock");
    cr_assert_str_eq(cfg->webhook, "https://hooks.example.com/T0/B0/", "kept as written");
    cr_assert_str_eq(cfg->log_level, "debug");
    cr_assert_eq(cfg->drift.window, 100);
    cr_assert_eq(cfg->drift.min_samples, 300);
    cr_assert_float_eq(cfg->drift.alpha, 0.0001, 1e-12);
    cr_assert_str_eq(cfg->judge.endpoint.base_url, "http://127.0.0.1:9000/v1");
    cr_assert_str_eq(cfg->judge.model, "gpt");
    cr_assert_str_eq(cfg->judge.endpoint.api_key, "sk-judge-secret");
    cr_assert_eq(cfg->judge.concurrency, 3);
    cr_assert_eq(cfg->judge.timeout_ms, 1500);
    cr_assert_eq(cfg->judge.retries, 0);
    cr_assert_eq(cfg->judge.pass_score, 5);
    cr_assert_eq(cfg->judge.max_queue, 50);
    cr_assert_str_eq(cfg->judge.rubric, "Grade it.");
    cr_assert_str_eq(cfg->judge.pairwise, "Compare them.");
    cr_assert_str_eq(cfg->shadow.base_url, "https://api.openai.com/v1");
    cr_assert_null(cfg->shadow.api_key, "unset variable: no key");
    cr_assert_eq(cfg->default_scorers, SL_SCORER_JUDGE | SL_SCORER_RULES);
    cr_assert_eq(sl_evconfig_scorers(cfg, "auto", &r),
                 SL_SCORER_RULES | SL_SCORER_JUDGE | SL_SCORER_SHADOW);
    cr_assert_str_eq(r->shadow_model, "gpt-4o");
    cr_assert_float_eq(r->shadow_rate, 0.25, 1e-12);
    cr_assert_eq(sl_evconfig_scorers(cfg, "chat", &r), 0u);
    cr_assert_eq(sl_evconfig_scorers(cfg, "code", &r), SL_SCORER_JUDGE | SL_SCORER_RULES,
                 "a route without scorers takes the defaults");
    cr_assert_float_eq(r->shadow_rate, 0.1, 1e-12);
    cr_assert_eq(sl_evconfig_scorers(cfg, "other", NULL), SL_SCORER_JUDGE | SL_SCORER_RULES);
    sl_evconfig_destroy(cfg);
    unsetenv("SLUICE_TEST_JUDGE_KEY");
}

Test(evconfig, a_relative_data_dir_is_from_the_file)
{
    struct sl_evconfig *cfg = parse("{\"data_dir\": \"state/eval\"}");

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->data_dir, "conf/state/eval");
    sl_evconfig_destroy(cfg);
    cfg = sl_evconfig_parse("evaluator.json", "{}", 2, err, sizeof(err));
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->data_dir, "./data");
    sl_evconfig_destroy(cfg);
}

Test(evconfig, syntax_errors_name_the_line)
{
    expect_error("{\n  \"listen\": [\"tcp://127.0.0.1:1\"],\n  oops\n}",
                 "conf/evaluator.json:3: invalid JSON near byte 40");
    expect_error("[]", "conf/evaluator.json:1: the top level must be a JSON object");
    expect_error("{} {}", "conf/evaluator.json:1: invalid JSON near byte 3");
}

Test(evconfig, unknown_keys_are_errors)
{
    expect_error("{\"listne\": []}", "conf/evaluator.json: listne: unknown key");
    expect_error("{\"judge\": {\"modle\": \"x\"}}",
                 "conf/evaluator.json: judge.modle: unknown key");
    expect_error("{\"shadow\": {\"model\": \"x\"}}",
                 "conf/evaluator.json: shadow.model: unknown key");
    expect_error("{\"routes\": {\"auto\": {\"scorer\": []}}}",
                 "conf/evaluator.json: routes.auto.scorer: unknown key");
    expect_error("{\"drift\": {\"windw\": 10}}", "conf/evaluator.json: drift.windw: unknown key");
}

Test(evconfig, keys_given_twice_are_errors)
{
    expect_error("{\"judge\": {\"timeout_ms\": 5000, \"timeout_ms\": 100}}",
                 "conf/evaluator.json: judge.timeout_ms: given twice");
    expect_error("{\"publish\": \"ipc:///a\", \"publish\": \"ipc:///b\"}",
                 "conf/evaluator.json: publish: given twice");
}

Test(evconfig, bad_values_name_the_key)
{
    expect_error("{\"listen\": \"tcp://127.0.0.1:1\"}",
                 "conf/evaluator.json: listen: must be a non-empty array of ZeroMQ endpoints");
    expect_error("{\"listen\": []}",
                 "conf/evaluator.json: listen: must be a non-empty array of ZeroMQ endpoints");
    expect_error("{\"listen\": [\"127.0.0.1:5557\"]}",
                 "conf/evaluator.json: listen: each must be an endpoint like "
                 "tcp://127.0.0.1:5557 or ipc://PATH");
    expect_error("{\"publish\": \"localhost:5558\"}",
                 "conf/evaluator.json: publish: must be an endpoint like tcp://127.0.0.1:5558 "
                 "or ipc://PATH");
    expect_error("{\"data_dir\": \"\"}",
                 "conf/evaluator.json: data_dir: must be a non-empty string");
    expect_error("{\"webhook\": \"hooks.example.com\"}",
                 "conf/evaluator.json: webhook: must start with http:// or https://");
    expect_error("{\"log_level\": \"loud\"}",
                 "conf/evaluator.json: log_level: must be debug, info, warn or error");
    expect_error("{\"judge\": {\"concurrency\": 0}}",
                 "conf/evaluator.json: judge.concurrency: must be between 1 and 256");
    expect_error("{\"judge\": {\"timeout_ms\": 1.5}}",
                 "conf/evaluator.json: judge.timeout_ms: must be a whole number");
    expect_error("{\"judge\": {\"pass_score\": 6}}",
                 "conf/evaluator.json: judge.pass_score: must be between 1 and 5");
    expect_error("{\"judge\": {\"retries\": -1}}",
                 "conf/evaluator.json: judge.retries: must be between 0 and 10");
    expect_error("{\"judge\": {\"base_url\": \"ftp://x\"}}",
                 "conf/evaluator.json: judge.base_url: must start with http:// or https://");
    expect_error("{\"judge\": []}", "conf/evaluator.json: judge: must be an object");
    expect_error("{\"routes\": {\"auto\": {\"shadow_rate\": 2}}}",
                 "conf/evaluator.json: routes.auto.shadow_rate: must be a number between 0 and 1");
    expect_error("{\"routes\": {\"auto\": 1}}",
                 "conf/evaluator.json: routes.auto: must be an object");
}

Test(evconfig, scorers_are_checked)
{
    expect_error("{\"default_scorers\": [\"rules\", \"vibes\"]}",
                 "conf/evaluator.json: default_scorers: unknown scorer; the scorers are "
                 "\"rules\", \"judge\" and \"shadow\"");
    expect_error("{\"default_scorers\": \"rules\"}",
                 "conf/evaluator.json: default_scorers: must be an array of \"rules\", "
                 "\"judge\" and \"shadow\"");
    expect_error("{\"routes\": {\"auto\": {\"scorers\": [\"rules\", \"rules\"]}}}",
                 "conf/evaluator.json: routes.auto.scorers: \"rules\" is listed twice");
}

Test(evconfig, scorers_need_their_settings)
{
    expect_error("{\"default_scorers\": [\"judge\"]}",
                 "conf/evaluator.json: judge.base_url: is required when a route uses the judge "
                 "or shadow scorer");
    expect_error("{\"judge\": {\"base_url\": \"http://127.0.0.1:9/v1\"},"
                 " \"routes\": {\"auto\": {\"scorers\": [\"judge\"]}}}",
                 "conf/evaluator.json: judge.model: is required when a route uses the judge or "
                 "shadow scorer");
    expect_error("{" JUDGE ", \"routes\": {\"auto\": {\"scorers\": [\"shadow\"]}}}",
                 "conf/evaluator.json: routes.auto.shadow_model: is required with the shadow "
                 "scorer: the premium model to compare with");
    expect_error("{" JUDGE ", \"routes\": {\"auto\": {\"scorers\": [\"shadow\"], "
                 "\"shadow_model\": \"gpt-4o\"}}}",
                 "conf/evaluator.json: shadow.base_url: is required when a route uses the "
                 "shadow scorer");
    expect_error("{" JUDGE ", \"default_scorers\": [\"shadow\"]}",
                 "conf/evaluator.json: default_scorers: \"shadow\" needs a route's "
                 "shadow_model: list the route under routes");
}

Test(evconfig, drift_settings_are_checked_by_the_detector)
{
    expect_error("{\"drift\": {\"alpha\": \"small\"}}",
                 "conf/evaluator.json: drift.alpha: must be a number between 0 and 1");
    /* the window must fit in the holdout: the detector's own check names the field */
    cr_assert_null(parse("{\"drift\": {\"window\": 600, \"holdout\": 500}}"));
    cr_assert_eq(strncmp(err, "conf/evaluator.json: drift.", 27), 0, "%s", err);
}

Test(evconfig, load_reports_a_missing_file)
{
    struct sl_evconfig *cfg = sl_evconfig_load("/nonexistent/evaluator.json", err, sizeof(err));

    cr_assert_null(cfg);
    cr_assert_str_eq(err, "/nonexistent/evaluator.json: cannot open: No such file or directory");
}

Test(evconfig, load_reads_a_file)
{
    char path[] = "/tmp/sluice-evconfig-XXXXXX";
    int fd = mkstemp(path);
    const char text[] = "{\"listen\": [\"ipc:///tmp/x.sock\"]}";
    struct sl_evconfig *cfg;

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cfg = sl_evconfig_load(path, err, sizeof(err));
    unlink(path);
    cr_assert_not_null(cfg, "%s", err);
    cr_assert_str_eq(cfg->listen[0], "ipc:///tmp/x.sock");
    cr_assert_str_eq(cfg->data_dir, "/tmp/data");
    sl_evconfig_destroy(cfg);
}

Test(evconfig, the_example_file_loads)
{
    struct sl_evconfig *cfg = sl_evconfig_load("evaluator.example.json", err, sizeof(err));
    const struct sl_evroute *r;

    cr_assert_not_null(cfg, "%s", err);
    cr_assert_eq(sl_evconfig_scorers(cfg, "auto", &r),
                 SL_SCORER_RULES | SL_SCORER_JUDGE | SL_SCORER_SHADOW);
    cr_assert_str_eq(cfg->data_dir, "./data");
    sl_evconfig_destroy(cfg);
}
