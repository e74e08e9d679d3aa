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

/* cJSON's string ends at a NUL: "m\u0000x" must not be served as the alias "m". */
Test(input, a_model_name_with_a_nul_gets_400)
{
    expect(NULL, CHAT, "{\"model\":\"m\\u0000x\",\"messages\":[{\"role\":\"user\"}]}", 400,
           "invalid_request");
    /* an escaped backslash before "u0000" is no NUL: the name is unknown */
    expect(NULL, CHAT, "{\"model\":\"m\\\\u0000\",\"messages\":[{\"role\":\"user\"}]}", 404,
           "model_not_found");
    expect_good_request_still_works();
}

/* The proxy acts on the first "model" and a provider would keep the last: a second one would
 * be served past the alias, its price and its limits. */
Test(input, a_member_the_proxy_reads_may_not_appear_twice)
{
    static const char *const twice[][2] = {
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"model\":\"other\"}", "model"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"mod\\u0065l\":\"other\"}", "model"},
        {"{\"model\":\"m\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\"}],"
         "\"max_tokens\":100000}",
         "max_tokens"},
    };
    struct resp r;
    cJSON *j;

    for (size_t i = 0; i < sizeof(twice) / sizeof(*twice); i++) {
        http(&r, proxy.port, NULL, CHAT, twice[i][0], NULL, 0);
        assert_openai_error(&r, 400, "invalid_request");
        j = resp_json(&r);
        cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "param")->valuestring,
                         twice[i][1]);
        cJSON_Delete(j);
        resp_free(&r);
    }
    /* a member the proxy passes through untouched is the provider's business */
    http(&r, proxy.port, NULL, CHAT,
         "{\"model\":\"m\",\"temperature\":1,\"messages\":[{\"role\":\"user\"}],"
         "\"temperature\":0}",
         NULL, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

/* The limits reserve tokens by max_tokens before the call: a value that is not a whole number
 * in 1..2^31-1 is refused rather than read as some other number. */
Test(input, a_token_limit_must_be_a_whole_number_in_range)
{
    static const char *const bad[][2] = {
        {"\"max_tokens\":1e300", "max_tokens"},
        {"\"max_tokens\":-5", "max_tokens"},
        {"\"max_tokens\":0", "max_tokens"},
        {"\"max_tokens\":2.5", "max_tokens"},
        {"\"max_tokens\":\"100\"", "max_tokens"},
        {"\"max_completion_tokens\":2147483648", "max_completion_tokens"},
        {"\"max_completion_tokens\":true", "max_completion_tokens"},
    };
    static const char *const good[] = {"\"max_tokens\":null", "\"max_tokens\":16",
                                       "\"max_tokens\":1e3",
                                       "\"max_completion_tokens\":2147483647"};
    char body[256];
    struct resp r;
    cJSON *j;

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        snprintf(body, sizeof(body), "{\"model\":\"m\",%s,\"messages\":[{\"role\":\"user\"}]}",
                 bad[i][0]);
        http(&r, proxy.port, NULL, CHAT, body, NULL, 0);
        assert_openai_error(&r, 400, "invalid_request");
        j = resp_json(&r);
        cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "param")->valuestring,
                         bad[i][1], "%s", body);
        cJSON_Delete(j);
        resp_free(&r);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        snprintf(body, sizeof(body), "{\"model\":\"m\",%s,\"messages\":[{\"role\":\"user\"}]}",
                 good[i]);
        http(&r, proxy.port, NULL, CHAT, body, NULL, 0);
        cr_assert_eq(r.status, 200, "%s: %s", body, r.body);
        resp_free(&r);
    }
}

/* The error message quotes the model name cut to whole UTF-8 characters, so that the body stays
 * valid UTF-8 (and JSON) whatever the client sent. */
Test(input, an_unknown_model_is_quoted_as_valid_utf8)
{
    char body[600] = "{\"messages\":[{\"role\":\"user\"}],\"model\":\"x";
    struct resp r;

    for (int i = 0; i < 150; i++)
        strcat(body, "\xc3\xa9"); /* é: 1 + 2 * 150 bytes, cut at 200 in the message */
    strcat(body, "\"}");
    http(&r, proxy.port, NULL, CHAT, body, NULL, 0);
    assert_openai_error(&r, 404, "model_not_found");
    cr_assert_not_null(strstr(r.body, "\xc3\xa9' does not exist"), "%s", r.body);
    resp_free(&r);
    http(&r, proxy.port, NULL, CHAT, "{\"messages\":[{\"role\":\"user\"}],\"model\":\"ab\xff\"}",
         NULL, 0);
    assert_openai_error(&r, 404, "model_not_found");
    cr_assert_null(strchr(r.body, '\xff'), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "'ab' does not exist"), "%s", r.body);
    resp_free(&r);
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

/* Connects to the proxy with a 2 s receive timeout. */
static int raw_connect(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)proxy.port)};
    struct timeval tv = {2, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Sends raw bytes on a fresh connection, then reads whatever comes back for up to 2 s. */
static void raw_send(const char *bytes, size_t n, bool half_close)
{
    char buf[4096];
    int fd = raw_connect();

    cr_assert_eq(send(fd, bytes, n, MSG_NOSIGNAL), (ssize_t)n);
    if (half_close)
        shutdown(fd, SHUT_WR);
    while (recv(fd, buf, sizeof(buf), 0) > 0)
        ;
    close(fd);
}

/* Reads one answer's head (through the blank line) into buf. */
static void read_head(int fd, char *buf, size_t cap)
{
    size_t n = 0;

    while (n < cap - 1 && (n < 4 || memcmp(buf + n - 4, "\r\n\r\n", 4) != 0)) {
        cr_assert_eq(recv(fd, buf + n, 1, 0), 1, "the answer's head ended early: %.*s", (int)n,
                     buf);
        n++;
    }
    buf[n] = '\0';
}

/* A HEAD answer carries the length and no body: bytes after its head would be read by a
 * keep-alive client as the start of the next answer. */
Test(input, head_answers_have_no_body_and_keep_the_connection_usable)
{
    static const char head[] = "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char get[] = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[4096];
    int fd = raw_connect();

    cr_assert_eq(send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(head) - 1);
    read_head(fd, buf, sizeof(buf));
    cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
    cr_assert(strcasestr(buf, "\r\nContent-Length: ") != NULL, "%s", buf);
    cr_assert_eq(send(fd, get, sizeof(get) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(get) - 1);
    read_head(fd, buf, sizeof(buf));
    cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "the GET's answer starts with: %.40s", buf);
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
