/* A client that leaves cancels its upstream transfer, streaming or not. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct proc mock, proxy;

static void init(void)
{
    mock_start(&mock,
               "{\"models\": {\"slow\": {\"itl_ms\": 100, \"output_tokens\": 100},"
               "              \"hang\": {\"p_hang\": 1},"
               "              \"late\": {\"ttft_ms\": 20000}}}",
               9);
    proxy_start(&proxy,
                "{\"workers\": 2, \"log_level\": \"warn\","
                " \"auth\": {\"required\": false},"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
                " \"models\": {"
                "   \"slow\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"slow\"}]},"
                "   \"hang\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"hang\"}]},"
                "   \"late\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"late\"}]},"
                "   \"big\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"big\"}]}}}",
                mock.port);
}

static void fini(void)
{
    proc_stop_clean(&proxy);
    proc_stop(&mock);
}

TestSuite(cancel, .init = init, .fini = fini, .timeout = 60);

/* Waits up to 5 s for the mock to see the client's departure. */
static void expect_cancelled(void)
{
    for (int i = 0; i < 100; i++) {
        if (mock_stat(&mock, "cancelled") == 1 && mock_stat(&mock, "in_flight") == 0)
            break;
        sleep_ms(50);
    }
    cr_assert_eq(mock_stat(&mock, "cancelled"), 1, "the upstream transfer was not cancelled");
    cr_assert_eq(mock_stat(&mock, "in_flight"), 0);
    cr_assert_eq(metric(proxy.port, "sluice_client_cancels_total"), 1);
}

static size_t stop_after_first_chunk(char *p, size_t size, size_t n, void *arg)
{
    return 0; /* makes curl abort the transfer and close the connection */
}

Test(cancel, client_leaving_mid_stream_cancels_the_upstream)
{
    CURL *e = curl_easy_init();
    char url[128];
    CURLcode rc;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/chat/completions", proxy.port);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                     "{\"model\":\"slow\",\"stream\":true,"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, stop_after_first_chunk);
    rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    cr_assert_eq(rc, CURLE_WRITE_ERROR);
    expect_cancelled();
}

Test(cancel, client_leaving_while_the_upstream_hangs_cancels_it)
{
    struct resp r;

    http(&r, proxy.port, NULL, "/v1/chat/completions",
         "{\"model\":\"hang\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, 300);
    cr_assert_eq(r.curl_error, CURLE_OPERATION_TIMEDOUT);
    resp_free(&r);
    expect_cancelled();
}

Test(cancel, client_leaving_before_a_slow_first_token_cancels_it)
{
    struct resp r;

    http(
        &r, proxy.port, NULL, "/v1/chat/completions",
        "{\"model\":\"late\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        NULL, 300);
    cr_assert_eq(r.curl_error, CURLE_OPERATION_TIMEDOUT);
    resp_free(&r);
    expect_cancelled();
}

/* A slow reader: the proxy pauses the upstream instead of buffering the whole stream, then
 * resumes; nothing may be lost on the way. */
struct slow_reader {
    size_t bytes;
    int calls;
    char tail[64];
};

static size_t read_slowly(char *p, size_t size, size_t n, void *arg)
{
    struct slow_reader *r = arg;
    size_t k = size * n;

    if (r->calls++ == 0)
        sleep_ms(1500); /* the proxy has megabytes to send meanwhile */
    r->bytes += k;
    if (k >= sizeof(r->tail) - 1) {
        memcpy(r->tail, p + k - (sizeof(r->tail) - 1), sizeof(r->tail) - 1);
    } else {
        size_t keep = sizeof(r->tail) - 1 - k;
        memmove(r->tail, r->tail + k, keep);
        memcpy(r->tail + keep, p, k);
    }
    r->tail[sizeof(r->tail) - 1] = '\0';
    return k;
}

Test(cancel, a_slow_streaming_client_gets_every_byte)
{
    struct slow_reader r = {0};
    CURL *e = curl_easy_init();
    char url[128];
    long status = 0;

    mock_set(&mock, "big", "{\"output_tokens\": 60000}");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/chat/completions", proxy.port);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                     "{\"model\":\"big\",\"stream\":true,"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, read_slowly);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 16384L);
    cr_assert_eq(curl_easy_perform(e), CURLE_OK);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    cr_assert_eq(status, 200);
    cr_assert_gt(r.bytes, 5u << 20, "a stream of several MB: %zu bytes", r.bytes);
    cr_assert_not_null(strstr(r.tail, "data: [DONE]"), "the stream ended early: ...%s", r.tail);
    cr_assert_eq(mock_stat(&mock, "completed"), 1);
}
