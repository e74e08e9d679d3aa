/* Bad input gets an OpenAI-shaped error with the right status and harms nothing else. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

static struct proc mock, proxy;

static void init(void)
{
    mock_start(&mock, NULL, 1);
    proxy_start(&proxy,
                "{\"workers\": 1, \"log_level\": \"warn\", \"max_body_bytes\": 2048,"
                " \"auth\": {\"required\": false},"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
                " \"models\": {\"m\": {\"deployments\": [{\"provider\": \"mock\","
                "                                        \"model\": \"m\"}]}}}",
                mock.port);
}

static void fini(void)
{
    proc_stop_clean(&proxy);
    proc_stop(&mock);
}

TestSuite(input, .init = init, .fini = fini, .timeout = 60);

static void expect(const char *method, const char *path, const char *body, long status,
                   const char *code)
{
    struct resp r;
    http(&r, proxy.port, method, path, body, NULL, 0);
    assert_openai_error(&r, status, code);
    resp_free(&r);
}

static void expect_good_request_still_works(void)
{
    struct resp r;
    http(&r, proxy.port, NULL, "/v1/chat/completions",
         "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

#define CHAT "/v1/chat/completions"

Test(input, malformed_bodies_get_400)
{
    expect(NULL, CHAT, "{\"model\":\"m\",", 400, "invalid_json");
    expect(NULL, CHAT, "", 400, "invalid_json");
    expect(NULL, CHAT, "[1,2]", 400, "invalid_request");
    expect(NULL, CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400,
           "invalid_request");
    expect(NULL, CHAT, "{\"model\":7,\"messages\":[{\"role\":\"user\"}]}", 400, "invalid_request");
    expect(NULL, CHAT, "{\"model\":\"m\"}", 400, "invalid_request");
    expect(NULL, CHAT, "{\"model\":\"m\",\"messages\":[]}", 400, "invalid_request");
    expect(NULL, CHAT, "{\"model\":\"m\",\"messages\":\"hi\"}", 400, "invalid_request");
    expect(NULL, CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"no role\"}]}", 400,
           "invalid_request");
    expect(NULL, CHAT, "{\"model\":\"m\",\"stream\":\"yes\",\"messages\":[{\"role\":\"user\"}]}",
           400, "invalid_request");
    expect(NULL, "/v1/embeddings", "{\"model\":\"m\"}", 400, "invalid_request");
    expect(NULL, "/v1/embeddings", "{\"model\":\"m\",\"input\":[]}", 400, "invalid_request");
    expect_good_request_still_works();
}

Test(input, the_missing_field_is_named_in_param)
{
    struct resp r;
    cJSON *j;

    http(&r, proxy.port, NULL, CHAT, "{\"model\":\"m\"}", NULL, 0);
    j = resp_json(&r);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "param")->valuestring,
                     "messages");
    cJSON_Delete(j);
    resp_free(&r);
}

Test(input, unknown_model_gets_404)
{
    expect(NULL, CHAT, "{\"model\":\"gpt-9\",\"messages\":[{\"role\":\"user\"}]}", 404,
           "model_not_found");
}

Test(input, body_over_the_limit_gets_413)
{
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"%03000d\"}]}", 1);
    expect(NULL, CHAT, body, 413, "request_too_large");
    expect_good_request_still_works();
}

Test(input, wrong_method_gets_405_and_unknown_path_404)
{
    expect("GET", CHAT, NULL, 405, "method_not_allowed");
    expect("PUT", "/v1/embeddings", "{}", 405, "method_not_allowed");
    expect(NULL, "/v1/models", "{}", 405, "method_not_allowed");
    expect("DELETE", "/health", NULL, 405, "method_not_allowed");
    expect(NULL, "/v1/completions", "{}", 404, "not_found");
    expect("GET", "/", NULL, 404, "not_found");
    expect_good_request_still_works();
}

/* Sends raw bytes on a fresh connection, then reads whatever comes back for up to 2 s. */
static void raw_send(const char *bytes, size_t n, bool half_close)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)proxy.port)};
    struct timeval tv = {2, 0};
    char buf[4096];
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(send(fd, bytes, n, MSG_NOSIGNAL), (ssize_t)n);
    if (half_close)
        shutdown(fd, SHUT_WR);
    while (recv(fd, buf, sizeof(buf), 0) > 0)
        ;
    close(fd);
}

Test(input, garbage_on_the_socket_does_not_hurt_the_next_client)
{
    static const char garbage[] = "GARBAGE\r\n\r\n";
    static const char truncated[] = "POST /v1/chat/completions HTTP/1.1\r\n"
                                    "Content-Length: 100\r\n\r\n{\"mo";
    static const char binary[] = "\x00\xff\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    char big[80000];

    raw_send(garbage, sizeof(garbage) - 1, false);
    raw_send(truncated, sizeof(truncated) - 1, true);
    raw_send(binary, sizeof(binary) - 1, true);
    /* a header block larger than max_header_bytes */
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /health HTTP/1.1\r\nX-Big: ", 30);
    memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
    raw_send(big, sizeof(big), false);
    expect_good_request_still_works();
}

Test(input, a_bad_config_stops_the_proxy_with_file_key_and_reason)
{
    char err[2048];
    int status;

    status = proxy_start_fails("{\"providers\": {\"p\": {\"base_url\": \"http://x\"}},"
                               " \"models\": {\"m\": {\"deployments\": [{\"provider\": \"q\","
                               " \"model\": \"x\"}]}}}",
                               err, sizeof(err));
    cr_assert_eq(status, 2);
    cr_assert_not_null(strstr(err, "sluice.json: models.m.deployments[0].provider: no provider "
                                   "named \"q\""),
                       "%s", err);
    status = proxy_start_fails("{\"providers\": {}\n,,}", err, sizeof(err));
    cr_assert_eq(status, 2);
    cr_assert_not_null(strstr(err, "sluice.json:2: invalid JSON"), "%s", err);
}
