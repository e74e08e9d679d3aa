/* The proxy's data plane end to end: mockllm and sluice-proxy as real processes. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct proc mock, proxy;

#define CHAT(model, extra)                                                                         \
    "{\"model\":\"" model "\",\"messages\":[{\"role\":\"user\",\"content\":\"Name three "          \
    "rivers.\"}]" extra "}"

static void start(void)
{
    mock_start(&mock, NULL, 7);
    proxy_start(&proxy,
                "{\"workers\": 2, \"log_level\": \"warn\","
                " \"auth\": {\"required\": false},"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\","
                "                            \"api_key_env\": \"SLUICE_TEST_PROVIDER_KEY\"}},"
                " \"models\": {\"gpt-4o-mini\": {\"deployments\": [{\"provider\": \"mock\","
                "                                  \"model\": \"mock-small\"}]},"
                "             \"embed\": {\"deployments\": [{\"provider\": \"mock\","
                "                                  \"model\": \"mock-embed\"}]}}}",
                mock.port);
}

static void stop(void)
{
    proc_stop_clean(&proxy);
    proc_stop(&mock);
}

static void init(void)
{
    setenv("SLUICE_TEST_PROVIDER_KEY", "sk-provider-secret", 1);
    start();
}

TestSuite(proxy, .init = init, .fini = stop, .timeout = 60);

Test(proxy, non_stream_answer_comes_from_the_deployment_with_sluice_headers)
{
    struct resp r;
    char v[128];
    cJSON *j;

    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("gpt-4o-mini", ""), NULL, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = resp_json(&r);
    /* the proxy rewrote the alias to the provider's model name */
    cr_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, "mock-small");
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message"),
        "content")));
    cJSON_Delete(j);
    cr_assert(resp_header(&r, "x-sluice-model", v, sizeof(v)));
    cr_assert_str_eq(v, "mock/mock-small");
    cr_assert(resp_header(&r, "x-sluice-attempts", v, sizeof(v)));
    cr_assert_str_eq(v, "1");
    cr_assert(resp_header(&r, "x-request-id", v, sizeof(v)));
    cr_assert_eq(strncmp(v, "req_", 4), 0);
    cr_assert(resp_header(&r, "x-sluice-overhead-us", v, sizeof(v)));
    cr_assert(atol(v) >= 0);
    cr_assert(resp_header(&r, "content-type", v, sizeof(v)));
    cr_assert_str_eq(v, "application/json");
    /* no key, so no team and no budget to report (not a budget of 0) */
    cr_assert_not(resp_header(&r, "x-sluice-budget-remaining-usd", v, sizeof(v)));
    resp_free(&r);
}

Test(proxy, provider_key_comes_from_the_environment_and_reaches_the_provider)
{
    struct resp r;
    cJSON *s;

    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("gpt-4o-mini", ""),
         "Authorization: Bearer client-key", 0);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    s = mock_stats(&mock);
    cr_assert_str_eq(cJSON_GetObjectItem(s, "last_authorization")->valuestring,
                     "Bearer sk-provider-secret");
    cJSON_Delete(s);
}

Test(proxy, a_valid_client_request_id_is_kept)
{
    struct resp r;
    char v[128];

    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("gpt-4o-mini", ""),
         "x-request-id: trace-42.abc", 0);
    cr_assert(resp_header(&r, "x-request-id", v, sizeof(v)));
    cr_assert_str_eq(v, "trace-42.abc");
    resp_free(&r);
    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("gpt-4o-mini", ""),
         "x-request-id: bad id with spaces", 0);
    cr_assert(resp_header(&r, "x-request-id", v, sizeof(v)));
    cr_assert_eq(strncmp(v, "req_", 4), 0, "an unsafe id is replaced, got %s", v);
    resp_free(&r);
}

/* Streaming check: when the first chunk reaches the client, the upstream must still be
 * sending (the mock still has the request in flight). */
struct stream_probe {
    const struct proc *mock;
    int chunks;
    double in_flight_at_first;
    char body[65536];
    size_t len;
};

static size_t on_stream(char *p, size_t size, size_t n, void *arg)
{
    struct stream_probe *s = arg;
    size_t k = size * n;

    if (s->chunks++ == 0)
        s->in_flight_at_first = mock_stat(s->mock, "in_flight");
    if (s->len + k < sizeof(s->body)) {
        memcpy(s->body + s->len, p, k);
        s->len += k;
        s->body[s->len] = '\0';
    }
    return k;
}

static void stream(struct stream_probe *s, const char *body)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char url[128];
    long status = 0;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/chat/completions", proxy.port);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_stream);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    cr_assert_eq(curl_easy_perform(e), CURLE_OK);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    cr_assert_eq(status, 200);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
}

Test(proxy, stream_reaches_the_client_while_the_upstream_is_still_sending)
{
    struct stream_probe s = {.mock = &mock};

    mock_set(&mock, "mock-small", "{\"itl_ms\": 100, \"output_tokens\": 8}");
    stream(&s, CHAT("gpt-4o-mini", ",\"stream\":true"));
    cr_assert_eq(s.in_flight_at_first, 1, "the first chunk waited for the whole answer");
    cr_assert_gt(s.chunks, 1);
    cr_assert_not_null(strstr(s.body, "\"chat.completion.chunk\""));
    cr_assert_eq(strcmp(s.body + s.len - strlen("data: [DONE]\n\n"), "data: [DONE]\n\n"), 0,
                 "the stream must end with [DONE]: %s", s.body);
}

Test(proxy, stream_passes_the_usage_chunk_through)
{
    struct stream_probe s = {.mock = &mock};

    stream(&s, CHAT("gpt-4o-mini", ",\"stream\":true,\"stream_options\":{\"include_usage\":true}"));
    cr_assert_not_null(strstr(s.body, "\"usage\""), "%s", s.body);
    cr_assert_not_null(strstr(s.body, "\"completion_tokens\":16"), "%s", s.body);
    cr_assert_not_null(strstr(s.body, "data: [DONE]"));
}

Test(proxy, embeddings_are_forwarded)
{
    struct resp r;
    cJSON *j;

    http(&r, proxy.port, NULL, "/v1/embeddings", "{\"model\":\"embed\",\"input\":[\"a\",\"b\"]}",
         NULL, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = resp_json(&r);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 2);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, "mock-embed");
    cJSON_Delete(j);
    resp_free(&r);
}

Test(proxy, models_lists_the_aliases_and_health_answers)
{
    struct resp r;
    cJSON *j, *it;
    int seen = 0;

    http(&r, proxy.port, NULL, "/v1/models", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    j = resp_json(&r);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(j, "data"))
    {
        const char *id = cJSON_GetObjectItem(it, "id")->valuestring;
        seen += strcmp(id, "gpt-4o-mini") == 0 || strcmp(id, "embed") == 0;
    }
    cr_assert_eq(seen, 2, "%s", r.body);
    cJSON_Delete(j);
    resp_free(&r);
    http(&r, proxy.port, NULL, "/health", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

Test(proxy, metrics_count_responses_and_observe_latency)
{
    struct resp r;

    for (int i = 0; i < 3; i++) {
        http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("gpt-4o-mini", ""), NULL, 0);
        resp_free(&r);
    }
    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("nope", ""), NULL, 0);
    resp_free(&r);
    cr_assert_eq(metric(proxy.port, "sluice_requests_total{code=\"200\"}"), 3);
    cr_assert_eq(metric(proxy.port, "sluice_requests_total{code=\"404\"}"), 1);
    cr_assert_eq(
        metric(
            proxy.port,
            "sluice_upstream_seconds_count{alias=\"gpt-4o-mini\",deployment=\"mock/mock-small\"}"),
        3);
    cr_assert_eq(metric(proxy.port, "sluice_overhead_seconds_count{model=\"gpt-4o-mini\","
                                    "alias=\"gpt-4o-mini\",deployment=\"mock/mock-small\"}"),
                 3);
    cr_assert_eq(
        metric(proxy.port,
               "sluice_circuit_state{alias=\"gpt-4o-mini\",deployment=\"mock/mock-small\"}"),
        0);
}

Test(proxy, sigterm_lets_an_in_flight_stream_finish)
{
    struct resp r;
    pid_t pid = fork();

    mock_set(&mock, "mock-small", "{\"itl_ms\": 100, \"output_tokens\": 10}");
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        sleep_ms(300); /* the request below is in flight by then */
        kill(proxy.pid, SIGTERM);
        _exit(0);
    }
    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("gpt-4o-mini", ",\"stream\":true"),
         NULL, 0);
    waitpid(pid, NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "data: [DONE]"), "the stream was cut: %s", r.body);
    resp_free(&r);
}

Test(proxy, an_unpriced_model_is_reported_as_unpriced_never_free)
{
    struct resp r;
    char v[64];

    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("gpt-4o-mini", ""), NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert(resp_header(&r, "x-sluice-cost-usd", v, sizeof(v)));
    cr_assert_str_eq(v, "unpriced");
    resp_free(&r);
    cr_assert_eq(metric(proxy.port, "sluice_unpriced_answers_total{model=\"gpt-4o-mini\"}"), 1);
    cr_assert_eq(metric(proxy.port, "sluice_cost_usd_total{model=\"gpt-4o-mini\"}"), 0);
}

/* Regression: a stream's overhead was measured at its first byte without subtracting the
 * upstream's wait for that byte, so a slow first token counted as gateway time. */
Test(proxy, a_slow_first_token_is_not_counted_as_gateway_overhead)
{
    struct resp r;

    mock_set(&mock, "mock-small", "{\"ttft_ms\": 400, \"output_tokens\": 2}");
    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("gpt-4o-mini", ",\"stream\":true"),
         NULL, 0);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_lt(metric(proxy.port, "sluice_overhead_seconds_sum{model=\"gpt-4o-mini\","
                                    "alias=\"gpt-4o-mini\",deployment=\"mock/mock-small\"}"),
                 0.2, "the 0.4 s wait for the first token is upstream time");
}

/* The proxy's CPU time so far, in seconds, from /proc. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long utime, stime;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    cr_assert_not_null(p);
    cr_assert_eq(
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime), 2);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The proxy keeps its upstream connections watched while they idle; one the upstream closes
 * must not wake it on every loop pass, and the next call gets a clean 502. */
Test(proxy, an_upstream_closing_an_idle_connection_is_not_a_busy_loop)
{
    struct resp r;
    double before, used;

    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("gpt-4o-mini", ""), NULL, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    proc_stop(&mock); /* closes the connection the proxy keeps for the next call */
    sleep_ms(100);
    before = cpu_seconds(proxy.pid);
    sleep_ms(1000);
    used = cpu_seconds(proxy.pid) - before;
    cr_assert_lt(used, 0.3, "the idle proxy used %.2f s of CPU in 1 s", used);
    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT("gpt-4o-mini", ""), NULL, 0);
    assert_openai_error(&r, 502, NULL);
    resp_free(&r);
}
