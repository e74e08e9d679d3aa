/* Retries and fallback: every fault kind of the upstream, before and after the first byte. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct proc mock, proxy;

static const char mock_config[] = "{\"models\": {\"*\": {},"
                                  " \"good\": {},"
                                  " \"f429\": {\"p_429\": 1},"
                                  " \"f429ra\": {\"p_429\": 1, \"retry_after_s\": 1},"
                                  " \"f429long\": {\"p_429\": 1, \"retry_after_s\": 30},"
                                  " \"f500\": {\"p_500\": 1},"
                                  " \"f503\": {\"p_503\": 1},"
                                  " \"hang\": {\"p_hang\": 1},"
                                  " \"malformed\": {\"p_malformed\": 1},"
                                  " \"cut\": {\"p_close_mid_stream\": 1, \"output_tokens\": 8},"
                                  " \"slow\": {\"itl_ms\": 100, \"output_tokens\": 20}}}";

/* One alias per fault, each falling back to "good"; "*-only" aliases have no fallback. */
static const char proxy_config[] =
    "{\"workers\": 2, \"log_level\": \"warn\","
    " \"retry\": {\"max_attempts\": 3, \"max_wait_ms\": 2000},"
    " \"auth\": {\"required\": false},"
    " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"},"
    "               \"dead\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
    " \"models\": {"
    "  \"good\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"good\"}]},"
    "  \"a429\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"f429\"}],"
    "           \"fallbacks\": [\"good\"]},"
    "  \"a500\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"f500\"}],"
    "           \"fallbacks\": [\"good\"]},"
    "  \"a503\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"f503\"}],"
    "           \"fallbacks\": [\"good\"]},"
    "  \"ahang\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"hang\","
    "                             \"timeouts_ms\": {\"first_byte\": 300}}],"
    "            \"fallbacks\": [\"good\"]},"
    "  \"amalformed\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"malformed\"}],"
    "                 \"fallbacks\": [\"good\"]},"
    "  \"acut\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"cut\"}],"
    "           \"fallbacks\": [\"good\"]},"
    "  \"aconnect\": {\"deployments\": [{\"provider\": \"dead\", \"model\": \"x\"}],"
    "               \"fallbacks\": [\"good\"]},"
    "  \"hang-only\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"hang\","
    "                                 \"timeouts_ms\": {\"first_byte\": 300}}]},"
    "  \"f500-only\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"f500\"}]},"
    "  \"cut-only\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"cut\"}]},"
    "  \"ra-only\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"f429ra\"}]},"
    "  \"ralong-only\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"f429long\"}]},"
    "  \"total-only\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"slow\","
    "                                  \"timeouts_ms\": {\"total\": 500}}]}}}";

/* A port bound but not listening: connecting to it is refused, and while the test holds it
 * nobody else can listen there. */
static int dead_fd = -1;

static int dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    dead_fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(bind(dead_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(dead_fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static void init(void)
{
    mock_start(&mock, mock_config, 3);
    proxy_start(&proxy, proxy_config, mock.port, dead_port());
}

static void fini(void)
{
    proc_stop_clean(&proxy);
    proc_stop(&mock);
    close(dead_fd);
}

TestSuite(faults, .init = init, .fini = fini, .timeout = 60);

static void chat(struct resp *r, const char *model, bool stream)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"stream\":%s,\"messages\":[{\"role\":\"user\","
             "\"content\":\"Why is the sky blue?\"}]}",
             model, stream ? "true" : "false");
    http(r, proxy.port, NULL, "/v1/chat/completions", body, NULL, 0);
}

/* The fault makes the first attempt fail; the fallback answers; the client sees a clean 200. */
static void expect_fallback(const char *alias, bool stream)
{
    struct resp r;
    char v[128], series[256];

    chat(&r, alias, stream);
    cr_assert_eq(r.status, 200, "%s: %ld %s", alias, r.status, r.body);
    cr_assert(resp_header(&r, "x-sluice-model", v, sizeof(v)));
    cr_assert_str_eq(v, "mock/good", "%s", alias);
    cr_assert(resp_header(&r, "x-sluice-attempts", v, sizeof(v)));
    cr_assert_str_eq(v, "2", "%s", alias);
    if (stream) {
        cr_assert_not_null(strstr(r.body, "data: [DONE]"), "%s", r.body);
    } else {
        cJSON *j = resp_json(&r);
        cr_assert_not_null(cJSON_GetObjectItem(j, "choices"), "%s", r.body);
        cJSON_Delete(j);
    }
    resp_free(&r);
    snprintf(series, sizeof(series), "sluice_fallbacks_total{model=\"%s\"}", alias);
    cr_assert_geq(metric(proxy.port, series), 1, "%s", series);
}

Test(faults, fallback_on_429)
{
    expect_fallback("a429", false);
    cr_assert_eq(metric(proxy.port,
                        "sluice_upstream_failures_total{alias=\"a429\",deployment=\"mock/f429\","
                        "reason=\"status_429\"}"),
                 1);
}

Test(faults, fallback_on_500)
{
    expect_fallback("a500", false);
    cr_assert_eq(metric(proxy.port,
                        "sluice_upstream_failures_total{alias=\"a500\",deployment=\"mock/f500\","
                        "reason=\"status_5xx\"}"),
                 1);
}

Test(faults, fallback_on_503)
{
    expect_fallback("a503", false);
}

Test(faults, fallback_on_first_byte_timeout)
{
    expect_fallback("ahang", false);
    cr_assert_eq(metric(proxy.port,
                        "sluice_upstream_failures_total{alias=\"ahang\",deployment=\"mock/hang\","
                        "reason=\"timeout\"}"),
                 1);
}

Test(faults, fallback_on_malformed_json)
{
    expect_fallback("amalformed", false);
    cr_assert_eq(
        metric(proxy.port,
               "sluice_upstream_failures_total{alias=\"amalformed\",deployment=\"mock/malformed\","
               "reason=\"malformed\"}"),
        1);
}

Test(faults, fallback_on_connection_closed_without_answer)
{
    expect_fallback("acut", false);
}

Test(faults, fallback_on_connect_error)
{
    expect_fallback("aconnect", false);
    cr_assert_eq(metric(proxy.port,
                        "sluice_upstream_failures_total{alias=\"aconnect\",deployment=\"dead/x\","
                        "reason=\"connect\"}"),
                 1);
}

Test(faults, stream_falls_back_on_429_and_on_a_malformed_first_event)
{
    expect_fallback("a429", true);
    expect_fallback("amalformed", true);
    cr_assert_eq(metric(proxy.port, "sluice_fallbacks_total{model=\"amalformed\"}"), 1);
}

Test(faults, stream_cut_after_the_first_byte_ends_with_an_error_event)
{
    struct resp r;
    const char *err;

    chat(&r, "acut", true); /* has a fallback, but bytes already went out: no retry */
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "chat.completion.chunk"), "%s", r.body);
    err = strstr(r.body, "data: {\"error\"");
    cr_assert_not_null(err, "no error event: %s", r.body);
    cr_assert_null(strstr(r.body, "[DONE]"), "a cut stream must not look complete: %s", r.body);
    cr_assert_not_null(strstr(err, "upstream_stream_error"));
    resp_free(&r);
    cr_assert_eq(metric(proxy.port,
                        "sluice_upstream_failures_total{alias=\"acut\",deployment=\"mock/cut\","
                        "reason=\"stream\"}"),
                 1);
}

Test(faults, timeout_gives_504)
{
    struct resp r;
    chat(&r, "hang-only", false);
    assert_openai_error(&r, 504, "upstream_timeout");
    resp_free(&r);
}

Test(faults, all_attempts_failing_gives_502_after_max_attempts)
{
    struct resp r;
    chat(&r, "f500-only", false);
    assert_openai_error(&r, 502, "upstream_failed");
    resp_free(&r);
    cr_assert_eq(mock_stat(&mock, "f500"), 3, "max_attempts is 3");
    cr_assert_eq(metric(proxy.port, "sluice_retries_total{model=\"f500-only\"}"), 2);
}

Test(faults, a_short_retry_after_is_waited_out_on_the_same_deployment)
{
    struct resp r;
    char v[32];
    pid_t pid = fork();

    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* Half-way through the 1 s Retry-After the upstream recovers. A proxy that did not
         * wait would have spent all three attempts on 429s by then. */
        sleep_ms(500);
        mock_set(&mock, "f429ra", "{\"p_429\": 0}");
        _exit(0);
    }
    chat(&r, "ra-only", false);
    waitpid(pid, NULL, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(resp_header(&r, "x-sluice-attempts", v, sizeof(v)));
    cr_assert_str_eq(v, "2");
    resp_free(&r);
    cr_assert_eq(mock_stat(&mock, "f429ra"), 2);
}

Test(faults, a_long_retry_after_is_passed_to_the_client_and_respected)
{
    struct resp r;
    char v[32];

    chat(&r, "ralong-only", false);
    assert_openai_error(&r, 429, "upstream_rate_limited");
    cr_assert(resp_header(&r, "retry-after", v, sizeof(v)));
    cr_assert_eq(atoi(v), 30);
    resp_free(&r);
    /* During the cool-down the proxy does not call the deployment again. */
    chat(&r, "ralong-only", false);
    assert_openai_error(&r, 429, "upstream_rate_limited");
    cr_assert(resp_header(&r, "retry-after", v, sizeof(v)));
    cr_assert(atoi(v) >= 28 && atoi(v) <= 30, "%s", v);
    resp_free(&r);
    cr_assert_eq(mock_stat(&mock, "f429long"), 1);
}

Test(faults, the_total_timeout_ends_a_long_answer)
{
    struct resp r;

    chat(&r, "total-only", false); /* 2 s of tokens against a 0.5 s budget: nothing sent yet */
    assert_openai_error(&r, 504, "upstream_timeout");
    resp_free(&r);
    chat(&r, "total-only", true); /* streaming: bytes went out, so it ends with an error event */
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "chat.completion.chunk"), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "upstream_stream_error"), "%s", r.body);
    cr_assert_null(strstr(r.body, "[DONE]"));
    resp_free(&r);
}
