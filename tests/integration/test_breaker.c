/* Circuit breaker per deployment: opens, refuses, probes half-open, closes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct proc mock, proxy;

static void init(void)
{
    mock_start(&mock, "{\"models\": {\"*\": {}, \"flaky\": {\"p_500\": 1}}}", 5);
    proxy_start(&proxy,
                "{\"workers\": 2, \"log_level\": \"warn\", \"retry\": {\"max_attempts\": 1},"
                " \"breaker\": {\"consecutive_failures\": 3, \"window\": 20, \"min_calls\": 10,"
                "              \"error_rate\": 0.9, \"open_ms\": 400},"
                " \"auth\": {\"required\": false},"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
                " \"models\": {"
                "   \"b\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"flaky\"}]},"
                "   \"good\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"good\"}]},"
                "   \"bf\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"flaky\","
                "                               \"name\": \"flaky2\"}],"
                "            \"fallbacks\": [\"good\"]}}}",
                mock.port);
}

static void fini(void)
{
    proc_stop_clean(&proxy);
    proc_stop(&mock);
}

TestSuite(breaker, .init = init, .fini = fini, .timeout = 60);

static long chat(const char *model, char *served, size_t len)
{
    struct resp r;
    char body[256];
    long status;

    snprintf(body, sizeof(body),
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", model);
    http(&r, proxy.port, NULL, "/v1/chat/completions", body, NULL, 0);
    status = r.status;
    if (served && !resp_header(&r, "x-sluice-model", served, len))
        served[0] = '\0';
    resp_free(&r);
    return status;
}

#define STATE "sluice_circuit_state{alias=\"b\",deployment=\"mock/flaky\"}"

static void open_circuit(void)
{
    for (int i = 0; i < 3; i++)
        cr_assert_eq(chat("b", NULL, 0), 502);
    cr_assert_eq(metric(proxy.port, STATE), 2, "open after 3 consecutive failures");
}

Test(breaker, opens_after_consecutive_failures_and_stops_calling_the_upstream)
{
    open_circuit();
    cr_assert_eq(chat("b", NULL, 0), 503, "an open circuit refuses at once");
    cr_assert_eq(mock_stat(&mock, "flaky"), 3, "the open circuit kept traffic off the upstream");
    cr_assert_eq(
        metric(proxy.port, "sluice_circuit_opens_total{alias=\"b\",deployment=\"mock/flaky\"}"), 1);
}

Test(breaker, half_open_probe_success_closes_the_circuit)
{
    open_circuit();
    mock_set(&mock, "flaky", "{\"p_500\": 0}");
    sleep_ms(500);
    cr_assert_eq(chat("b", NULL, 0), 200, "the probe goes through and succeeds");
    cr_assert_eq(metric(proxy.port, STATE), 0);
    cr_assert_eq(chat("b", NULL, 0), 200);
}

Test(breaker, half_open_probe_failure_reopens_the_circuit)
{
    open_circuit();
    sleep_ms(500);
    cr_assert_eq(chat("b", NULL, 0), 502, "the probe reaches the still-broken upstream");
    cr_assert_eq(mock_stat(&mock, "flaky"), 4);
    cr_assert_eq(metric(proxy.port, STATE), 2);
    cr_assert_eq(
        metric(proxy.port, "sluice_circuit_opens_total{alias=\"b\",deployment=\"mock/flaky\"}"), 2);
    cr_assert_eq(chat("b", NULL, 0), 503);
}

Test(breaker, an_open_circuit_sends_traffic_straight_to_the_fallback)
{
    char served[64];
    double before;

    /* max_attempts is 1: while the circuit is closed, the one attempt goes to flaky2 */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(chat("bf", served, sizeof(served)), 502);
    cr_assert_eq(metric(proxy.port, "sluice_circuit_state{alias=\"bf\",deployment=\"flaky2\"}"), 2);
    before = mock_stat(&mock, "flaky");
    cr_assert_eq(chat("bf", served, sizeof(served)), 200);
    cr_assert_str_eq(served, "mock/good");
    cr_assert_eq(mock_stat(&mock, "flaky"), before, "no attempt on the open deployment");
    cr_assert_eq(metric(proxy.port, "sluice_fallbacks_total{model=\"bf\"}"), 1);
}
