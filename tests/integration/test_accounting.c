/* Keys, limits, budgets and the audit log end to end: mockllm and sluice-proxy as real
 * processes, the admin API over HTTP, audit.db read back with SQLite. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define ADMIN_KEY "admin-test-secret-0123456789"
#define ADMIN     "Authorization: Bearer " ADMIN_KEY
#define CHAT(extra)                                                                                \
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Name three "        \
    "rivers.\"}]" extra "}"

static struct proc mock, proxy;

/* Starts both with auth required; extra goes into the proxy's config (e.g. audit options). */
static void start_with(const char *mock_config, const char *extra)
{
    setenv("SLUICE_ADMIN_KEY", ADMIN_KEY, 1);
    mock_start(&mock, mock_config, 11);
    proxy_start(&proxy,
                "{\"workers\": 2, \"log_level\": \"info\", %s"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
                " \"models\": {\"gpt-4o-mini\": {"
                "     \"price\": {\"input\": 0.15, \"output\": 0.60},"
                "     \"deployments\": [{\"provider\": \"mock\", \"model\": \"mock-small\"}]},"
                "   \"free-ish\": {"
                "     \"deployments\": [{\"provider\": \"mock\", \"model\": \"mock-small\"}]}}}",
                extra, mock.port);
}

static void start(void)
{
    start_with(NULL, "");
}

static void stop(void)
{
    proc_stop_clean(&proxy);
    proc_stop(&mock);
}

TestSuite(accounting, .init = start, .fini = stop, .timeout = 120);

/* POSTs JSON to the admin API and returns the parsed answer; asserts the status. */
static cJSON *admin_post(const char *path, const char *body, long status)
{
    struct resp r;
    cJSON *j;

    http(&r, proxy.port, "POST", path, body, ADMIN, 0);
    cr_assert_eq(r.status, status, "%s %s -> %ld: %s", path, body, r.status, r.body);
    j = resp_json(&r);
    resp_free(&r);
    return j;
}

/* Creates a team with the given settings JSON members and one key for it; returns the secret. */
static void make_key(const char *team, const char *team_settings, const char *key_limits,
                     char *secret, size_t len, char *id, size_t idlen)
{
    char body[1024];
    cJSON *j;

    snprintf(body, sizeof(body), "{\"name\":\"%s\"%s%s}", team, *team_settings ? "," : "",
             team_settings);
    cJSON_Delete(admin_post("/admin/teams", body, 200));
    snprintf(body, sizeof(body), "{\"team\":\"%s\",\"name\":\"test\"%s%s}", team,
             *key_limits ? "," : "", key_limits);
    j = admin_post("/admin/keys", body, 201);
    snprintf(secret, len, "%s", cJSON_GetObjectItem(j, "key")->valuestring);
    if (id)
        snprintf(id, idlen, "%s", cJSON_GetObjectItem(j, "id")->valuestring);
    cJSON_Delete(j);
}

static void chat_with(struct resp *r, const char *secret, const char *body)
{
    char auth[128];

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
    http(r, proxy.port, NULL, "/v1/chat/completions", body, auth, 0);
}

Test(accounting, key_lifecycle_create_use_list_revoke)
{
    char secret[64], id[32], v[64], path[64];
    struct resp r;
    cJSON *j, *k;

    make_key("search", "", "", secret, sizeof(secret), id, sizeof(id));
    cr_assert(strncmp(secret, "sk-sluice-", 10) == 0, "%s", secret);

    chat_with(&r, secret, CHAT(""));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(resp_header(&r, "x-sluice-cost-usd", v, sizeof(v)));
    resp_free(&r);

    /* x-api-key works too */
    snprintf(v, sizeof(v), "x-api-key: %s", secret);
    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT(""), v, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);

    /* listed with a hint, never with the secret */
    http(&r, proxy.port, "GET", "/admin/keys?team=search", NULL, ADMIN, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_null(strstr(r.body, secret));
    j = resp_json(&r);
    k = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(k, "id")->valuestring, id);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(k, "revoked")));
    cr_assert(strstr(secret, cJSON_GetObjectItem(k, "hint")->valuestring + 3) != NULL);
    cJSON_Delete(j);
    resp_free(&r);

    snprintf(path, sizeof(path), "/admin/keys/%s", id);
    http(&r, proxy.port, "DELETE", path, NULL, ADMIN, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);

    chat_with(&r, secret, CHAT(""));
    assert_openai_error(&r, 401, "invalid_api_key");
    cr_assert(strstr(r.body, "revoked"));
    resp_free(&r);
}

Test(accounting, missing_or_unknown_keys_get_401)
{
    struct resp r;

    http(&r, proxy.port, NULL, "/v1/chat/completions", CHAT(""), NULL, 0);
    assert_openai_error(&r, 401, "missing_api_key");
    resp_free(&r);
    chat_with(&r, "sk-sluice-notakeyatall", CHAT(""));
    assert_openai_error(&r, 401, "invalid_api_key");
    resp_free(&r);
}

/* Calls the admin API and expects an OpenAI-shaped error. */
static void expect_admin(const char *method, const char *path, const char *body, const char *auth,
                         long status, const char *code)
{
    struct resp r;

    http(&r, proxy.port, method, path, body, auth, 0);
    assert_openai_error(&r, status, code);
    resp_free(&r);
}

Test(accounting, admin_api_needs_the_admin_key_and_refuses_team_keys)
{
    char secret[64], auth[128];
    struct resp r;

    make_key("ops", "", "", secret, sizeof(secret), NULL, 0);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
    expect_admin("GET", "/admin/keys", NULL, auth, 403, "admin_key_required");
    expect_admin("GET", "/admin/keys", NULL, "Authorization: Bearer wrong", 401, "invalid_api_key");
    expect_admin("GET", "/admin/keys", NULL, NULL, 401, "invalid_api_key");
    /* bad input gets a 400 naming the field */
    expect_admin("POST", "/admin/keys", "{\"team\":\"nope\"}", ADMIN, 404, "team_not_found");
    expect_admin("PUT", "/admin/teams", "{}", ADMIN, 405, "method_not_allowed");
    expect_admin("GET", "/admin/nothing", NULL, ADMIN, 404, "not_found");
    expect_admin("POST", "/admin/keys", "{\"team\":\"ops\",\"name\":5}", ADMIN, 400,
                 "invalid_request");
    http(&r, proxy.port, "POST", "/admin/teams", "{\"name\":\"x\",\"limits\":{\"rpm\":-1}}", ADMIN,
         0);
    assert_openai_error(&r, 400, "invalid_request");
    cr_assert(strstr(r.body, "limits.rpm"));
    resp_free(&r);
}

/* --- limits under concurrency -------------------------------------------------------------- */

struct shot {
    const char *secret;
    const char *body;
    long status;
    char retry_after[16], remaining[16];
};

static void *fire(void *arg)
{
    struct shot *s = arg;
    struct resp r;

    chat_with(&r, s->secret, s->body);
    s->status = r.status;
    resp_header(&r, "Retry-After", s->retry_after, sizeof(s->retry_after));
    resp_header(&r, "x-ratelimit-remaining-requests", s->remaining, sizeof(s->remaining));
    resp_free(&r);
    return NULL;
}

/* Fires n requests at once; returns how many got 200. Every other one must be a 429. */
static int volley(struct shot *shots, int n, const char *secret, const char *body)
{
    pthread_t t[64];
    int ok = 0;

    for (int i = 0; i < n; i++) {
        shots[i] = (struct shot){.secret = secret, .body = body};
        cr_assert_eq(pthread_create(&t[i], NULL, fire, &shots[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < n; i++) {
        cr_assert(shots[i].status == 200 || shots[i].status == 429, "status %ld", shots[i].status);
        ok += shots[i].status == 200;
    }
    return ok;
}

Test(accounting, requests_per_minute_hold_exactly_under_concurrency)
{
    struct shot shots[40];
    char secret[64];
    int ok;

    make_key("rpm", "", "\"limits\":{\"rpm\":7}", secret, sizeof(secret), NULL, 0);
    ok = volley(shots, 40, secret, CHAT(""));
    cr_assert_eq(ok, 7, "exactly the key's 7 requests per minute pass, got %d", ok);
    for (int i = 0; i < 40; i++) {
        if (shots[i].status == 429) {
            /* a request comes back every 60/7 s: the client is told to wait that long */
            long ra = atol(shots[i].retry_after);
            cr_assert(ra >= 1 && ra <= 9, "Retry-After %s", shots[i].retry_after);
            cr_assert_str_eq(shots[i].remaining, "0");
        }
    }
    cr_assert_eq(audit_count(&proxy, "1") >= 0, 1);
}

Test(accounting, team_limit_binds_across_its_keys)
{
    struct shot shots[30];
    char a[64], b[64], body[256];
    cJSON *j;
    int ok;

    make_key("shared", "\"limits\":{\"rpm\":10}", "", a, sizeof(a), NULL, 0);
    snprintf(body, sizeof(body), "{\"team\":\"shared\"}");
    j = admin_post("/admin/keys", body, 201);
    snprintf(b, sizeof(b), "%s", cJSON_GetObjectItem(j, "key")->valuestring);
    cJSON_Delete(j);
    ok = volley(shots, 15, a, CHAT(""));
    ok += volley(shots + 15, 15, b, CHAT(""));
    cr_assert_eq(ok, 10, "the team's 10 requests per minute are shared by its keys, got %d", ok);
}

Test(accounting, concurrency_limit_holds_exactly)
{
    struct shot shots[12];
    char secret[64];
    int ok;

    mock_set(&mock, "mock-small", "{\"ttft_ms\": 1500}");
    make_key("conc", "\"limits\":{\"concurrency\":3}", "", secret, sizeof(secret), NULL, 0);
    ok = volley(shots, 12, secret, CHAT(""));
    cr_assert_eq(ok, 3, "exactly 3 calls at once, got %d", ok);
    mock_set(&mock, "mock-small", "{\"ttft_ms\": 0}");
    /* the slots came back when those calls ended */
    ok = volley(shots, 3, secret, CHAT(""));
    cr_assert_eq(ok, 3);
}

Test(accounting, tokens_per_minute_count_the_estimate_then_the_real_usage)
{
    struct shot first;
    pthread_t t;
    char secret[64], v[32];
    struct resp r;

    /* ~25 tokens of body + 150 of max_tokens are reserved while the call runs: a second
     * such call does not fit in 250 until the first has ended with its real usage (~25). */
    make_key("tpm", "", "\"limits\":{\"tpm\":250}", secret, sizeof(secret), NULL, 0);
    mock_set(&mock, "mock-small", "{\"ttft_ms\": 1000}");
    first = (struct shot){.secret = secret, .body = CHAT(",\"max_tokens\":150")};
    cr_assert_eq(pthread_create(&t, NULL, fire, &first), 0);
    sleep_ms(300);
    chat_with(&r, secret, CHAT(",\"max_tokens\":150"));
    assert_openai_error(&r, 429, "rate_limit_exceeded");
    cr_assert(strstr(r.body, "tokens per minute"));
    cr_assert(resp_header(&r, "Retry-After", v, sizeof(v)));
    cr_assert(resp_header(&r, "x-ratelimit-limit-tokens", v, sizeof(v)));
    cr_assert_str_eq(v, "250");
    cr_assert(resp_header(&r, "x-ratelimit-remaining-tokens", v, sizeof(v)));
    cr_assert_lt(atol(v), 100);
    resp_free(&r);
    pthread_join(t, NULL);
    cr_assert_eq(first.status, 200);
    /* the first call used far fewer tokens than it reserved: the same call fits again */
    mock_set(&mock, "mock-small", "{\"ttft_ms\": 0}");
    chat_with(&r, secret, CHAT(",\"max_tokens\":150"));
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

Test(accounting, budget_cuts_off_a_team_once_spent)
{
    char secret[64], v[32];
    struct resp r;
    cJSON *j, *t;
    int ok = 0;

    /* each answer costs a few millionths of a dollar: the budget lasts a few calls */
    make_key("thrifty", "\"budget\":{\"usd\":0.00002,\"period\":\"day\",\"warn_at\":0.5}", "",
             secret, sizeof(secret), NULL, 0);
    for (int i = 0; i < 50; i++) {
        chat_with(&r, secret, CHAT(""));
        if (r.status == 429) {
            assert_openai_error(&r, 429, "budget_exceeded");
            cr_assert(resp_header(&r, "Retry-After", v, sizeof(v)));
            cr_assert(atol(v) >= 1 && atol(v) <= 86400);
            resp_free(&r);
            break;
        }
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert(resp_header(&r, "x-sluice-budget-remaining-usd", v, sizeof(v)));
        ok++;
        resp_free(&r);
    }
    cr_assert(ok >= 1 && ok < 50, "%d calls before the cut-off", ok);
    http(&r, proxy.port, "GET", "/admin/teams", NULL, ADMIN, 0);
    j = resp_json(&r);
    t = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0);
    cr_assert_geq(cJSON_GetObjectItem(t, "spent_usd")->valuedouble, 0.00002);
    cJSON_Delete(j);
    resp_free(&r);
}

Test(accounting, budget_spending_survives_a_restart)
{
    char secret[64];
    struct resp r;
    int ok = 0;

    make_key("kept", "\"budget\":{\"usd\":0.00002,\"period\":\"month\"}", "", secret,
             sizeof(secret), NULL, 0);
    for (int i = 0; i < 50; i++) {
        chat_with(&r, secret, CHAT(""));
        ok += r.status == 200;
        if (r.status != 200) {
            resp_free(&r);
            break;
        }
        resp_free(&r);
    }
    cr_assert(ok < 50);
    /* restart on the same data directory: spending is summed back from the audit log */
    proc_stop_clean(&proxy);
    proxy_restart(&proxy);
    chat_with(&r, secret, CHAT(""));
    assert_openai_error(&r, 429, "budget_exceeded");
    resp_free(&r);
}

Test(accounting, audit_rows_describe_each_call)
{
    char secret[64], id[32], path[400], sql[256];
    struct resp r;
    sqlite3 *db;
    sqlite3_stmt *st;

    make_key("audited", "", "", secret, sizeof(secret), id, sizeof(id));
    chat_with(&r, secret, CHAT(""));
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    chat_with(&r, secret,
              "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":"
              "\"user\",\"content\":\"Hi\"}]}");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    chat_with(&r, secret, "{\"model\":\"nope\",\"messages\":[]}");
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    proc_stop_clean(&proxy); /* flushes the log */

    snprintf(path, sizeof(path), "%s/data/audit.db", proxy.dir);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "SELECT status, stream, team, key_id, model, deployment, tokens_in, tokens_out,"
             " cost_usd, error, attempts, upstream_us FROM requests WHERE key_id = '%s'"
             " ORDER BY id",
             id);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "row %d", i);
        cr_assert_str_eq((const char *)sqlite3_column_text(st, 2), "audited");
        if (i < 2) {
            cr_assert_eq(sqlite3_column_int(st, 0), 200);
            cr_assert_eq(sqlite3_column_int(st, 1), i == 1);
            cr_assert_str_eq((const char *)sqlite3_column_text(st, 4), "gpt-4o-mini");
            cr_assert_str_eq((const char *)sqlite3_column_text(st, 5), "mock/mock-small");
            cr_assert_gt(sqlite3_column_int(st, 6), 0);
            cr_assert_gt(sqlite3_column_int(st, 7), 0);
            cr_assert_gt(sqlite3_column_double(st, 8), 0);
            cr_assert_eq(sqlite3_column_type(st, 9), SQLITE_NULL);
            cr_assert_eq(sqlite3_column_int(st, 10), 1);
            cr_assert_gt(sqlite3_column_int(st, 11), 0);
        } else {
            cr_assert_eq(sqlite3_column_int(st, 0), 400);
            cr_assert_str_eq((const char *)sqlite3_column_text(st, 9), "invalid_request");
            cr_assert_eq(sqlite3_column_type(st, 8), SQLITE_NULL);
        }
    }
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    proxy_restart(&proxy); /* for .fini */
}

Test(accounting, metrics_show_the_audit_queue_and_team_spending)
{
    char secret[64];
    struct resp r;
    double written = 0;

    make_key("metered", "", "", secret, sizeof(secret), NULL, 0);
    for (int i = 0; i < 3; i++) {
        chat_with(&r, secret, CHAT(""));
        cr_assert_eq(r.status, 200);
        resp_free(&r);
    }
    chat_with(&r, "sk-sluice-wrong", CHAT(""));
    resp_free(&r);
    for (int i = 0; i < 100 && written < 4; i++) {
        written = metric(proxy.port, "sluice_audit_rows_written_total");
        sleep_ms(20);
    }
    cr_assert_eq(written, 4, "every call's row is committed within a moment");
    cr_assert_eq(metric(proxy.port, "sluice_audit_queue_rows"), 0);
    cr_assert_geq(metric(proxy.port, "sluice_audit_commit_seconds_count"), 1);
    cr_assert_gt(metric(proxy.port, "sluice_team_spend_usd{team=\"metered\"}"), 0);
    cr_assert_eq(metric(proxy.port, "sluice_refused_total{reason=\"invalid_key\"}"), 1);
}

/* A provider that cannot send usage in streams: the proxy counts the tokens itself. */
static void start_without_stream_usage(void)
{
    setenv("SLUICE_ADMIN_KEY", ADMIN_KEY, 1);
    mock_start(&mock, NULL, 11);
    proxy_start(&proxy,
                "{\"workers\": 1, \"log_level\": \"warn\", \"auth\": {\"required\": false},"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\","
                "                            \"stream_usage\": false}},"
                " \"models\": {\"gpt-4o-mini\": {"
                "     \"price\": {\"input\": 0.15, \"output\": 0.60},"
                "     \"deployments\": [{\"provider\": \"mock\", \"model\": \"mock-small\"}]}}}",
                mock.port);
}

/* A suite of its own: the accounting suite's init would start a second pair of processes. */
TestSuite(no_stream_usage, .init = start_without_stream_usage, .fini = stop, .timeout = 120);

Test(no_stream_usage, tokens_are_counted_when_the_upstream_sends_no_usage)
{
    struct resp r;

    mock_set(&mock, "mock-small", "{\"output_tokens\": 40}");
    http(&r, proxy.port, NULL, "/v1/chat/completions",
         "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"user\","
         "\"content\":\"Name three rivers of Europe and say where they rise.\"}]}",
         NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert_null(strstr(r.body, "\"usage\""), "the mock sent no usage");
    resp_free(&r);
    proc_stop_clean(&proxy);
    /* the mock's 40 words come out near 40 tokens; the prompt near 11 + message overhead */
    cr_assert_eq(audit_count(&proxy, "tokens_estimated = 1 AND tokens_out BETWEEN 30 AND 60 AND"
                                     " tokens_in BETWEEN 10 AND 30 AND cost_usd > 0"),
                 1);
    proxy_restart(&proxy);
}

Test(accounting, unpriced_model_is_recorded_as_unpriced_not_free)
{
    char secret[64], v[32];
    struct resp r;

    make_key("unpriced", "", "", secret, sizeof(secret), NULL, 0);
    chat_with(&r, secret,
              "{\"model\":\"free-ish\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}");
    cr_assert_eq(r.status, 200);
    cr_assert(resp_header(&r, "x-sluice-cost-usd", v, sizeof(v)));
    cr_assert_str_eq(v, "unpriced");
    resp_free(&r);
    proc_stop_clean(&proxy);
    cr_assert_eq(audit_count(&proxy, "team = 'unpriced' AND tokens_in > 0 AND cost_usd IS NULL"),
                 1);
    proxy_restart(&proxy);
}

Test(accounting, payloads_are_logged_only_for_opted_in_teams_and_redacted)
{
    char quiet[64], loud[64], path[400];
    const char *body = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                       "\"Mail jane.doe@example.com or call +44 20 7946 0958, card 4111 1111 "
                       "1111 1111\"}]}";
    struct resp r;
    sqlite3 *db;
    sqlite3_stmt *st;
    int n = 0;

    make_key("quiet", "", "", quiet, sizeof(quiet), NULL, 0);
    make_key("loud", "\"log_payloads\":true", "", loud, sizeof(loud), NULL, 0);
    chat_with(&r, quiet, body);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    chat_with(&r, loud, body);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    proc_stop_clean(&proxy);

    snprintf(path, sizeof(path), "%s/data/audit.db", proxy.dir);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT r.team, p.prompt, p.response FROM payloads p"
                                    " JOIN requests r ON r.id = p.request_row",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *prompt = (const char *)sqlite3_column_text(st, 1);
        n++;
        cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "loud");
        cr_assert(strstr(prompt, "[EMAIL]") && strstr(prompt, "[PHONE]") &&
                      strstr(prompt, "[CARD]"),
                  "%s", prompt);
        cr_assert_null(strstr(prompt, "jane.doe"));
        cr_assert_null(strstr(prompt, "4111 1111"));
        cr_assert_null(strstr(prompt, "7946"));
        cr_assert(sqlite3_column_bytes(st, 2) > 0);
    }
    cr_assert_eq(n, 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    proxy_restart(&proxy);
}

/* True when needle occurs in the file at path (binary-safe). */
static bool file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    size_t n = strlen(needle), len;
    char *buf;
    bool found = false;

    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(len + 1);
    cr_assert(buf);
    len = fread(buf, 1, len, f);
    fclose(f);
    found = len >= n && memmem(buf, len, needle, n) != NULL;
    free(buf);
    return found;
}

Test(accounting, the_raw_key_appears_nowhere_on_disk_or_in_logs)
{
    static const char *const files[] = {"data/keys.db", "data/keys.db-wal", "data/audit.db",
                                        "data/audit.db-wal", NULL};
    char secret[64], path[400];
    struct resp r;

    make_key("secretive", "\"log_payloads\":true", "", secret, sizeof(secret), NULL, 0);
    for (int i = 0; i < 3; i++) {
        chat_with(&r, secret, CHAT(""));
        cr_assert_eq(r.status, 200);
        resp_free(&r);
    }
    /* a client that pastes its key into a prompt: the payload log redacts it */
    {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"my key is %s\"}]}",
                 secret);
        chat_with(&r, secret, body);
        cr_assert_eq(r.status, 200);
        resp_free(&r);
    }
    proc_stop_clean(&proxy);
    for (const char *const *f = files; *f; f++) {
        snprintf(path, sizeof(path), "%s/%s", proxy.dir, *f);
        cr_assert_not(file_contains(path, secret), "the key is in %s", *f);
        cr_assert_not(file_contains(path, secret + 10), "the key's body is in %s", *f);
    }
    cr_assert_not(file_contains(proxy.log, secret), "the key is in the proxy's log");
    cr_assert_not(file_contains(proxy.log, ADMIN_KEY), "the admin key is in the proxy's log");
    snprintf(path, sizeof(path), "%s/data/keys.db", proxy.dir);
    cr_assert(file_contains(path, "secretive"), "keys.db holds the team, so it was looked at");
    proxy_restart(&proxy);
}

/* --- nothing lost on SIGTERM -------------------------------------------------------------- */

struct loader {
    int port;
    volatile int *stop;
    long responses; /* answers that reached this client, whatever their status */
    int id;
};

static void *load(void *arg)
{
    struct loader *l = arg;
    struct resp r;

    for (int i = 0; !*l->stop; i++) {
        bool stream = (i + l->id) % 3 == 0;
        http(&r, l->port, NULL, "/v1/chat/completions",
             stream ? CHAT(",\"stream\":true") : CHAT(""), NULL, 10000);
        if (r.status > 0)
            l->responses++;
        else
            sleep_ms(5); /* refused: the proxy is gone or going */
        resp_free(&r);
    }
    return NULL;
}

Test(audit_drain, rows_equal_responses_after_faults_and_a_sigterm_mid_load, .timeout = 120)
{
    struct loader l[8];
    pthread_t t[8];
    volatile int stop = 0;
    long responses = 0, rows;
    int status;

    mock_start(&mock,
               "{\"models\": {\"mock-small\": {\"ttft_ms\": 5, \"itl_ms\": 1,"
               " \"output_tokens\": 20, \"p_500\": 0.1, \"p_429\": 0.05,"
               " \"p_close_mid_stream\": 0.05, \"p_malformed\": 0.02}}}",
               5);
    proxy_start(&proxy,
                "{\"workers\": 2, \"log_level\": \"warn\", \"auth\": {\"required\": false},"
                " \"retry\": {\"max_attempts\": 2, \"max_wait_ms\": 0},"
                " \"breaker\": {\"consecutive_failures\": 1000, \"error_rate\": 1.0},"
                " \"audit\": {\"batch_rows\": 64, \"flush_ms\": 5},"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
                " \"models\": {\"gpt-4o-mini\": {\"price\": {\"input\": 0.15, \"output\": 0.6},"
                "     \"deployments\": [{\"provider\": \"mock\", \"model\": \"mock-small\"}]}}}",
                mock.port);
    for (int i = 0; i < 8; i++) {
        l[i] = (struct loader){.port = proxy.port, .stop = &stop, .id = i};
        cr_assert_eq(pthread_create(&t[i], NULL, load, &l[i]), 0);
    }
    sleep_ms(1500);
    status = proc_stop(&proxy); /* SIGTERM while the clients keep sending */
    stop = 1;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        responses += l[i].responses;
    }
    cr_assert_eq(status, 0, "the proxy exits cleanly after draining");
    cr_assert_gt(responses, 100, "the load ran");
    rows = audit_count(&proxy, "1");
    cr_assert_eq(rows, responses, "%ld audit rows for %ld responses", rows, responses);
    cr_assert_gt(audit_count(&proxy, "status >= 500"), 0, "the faults reached the clients too");
    proc_stop(&mock);
}
