/* Tests for sluicectl/admin without a server: the requests built, the answers read, and the
 * keys and teams commands end to end over a stand-in transport. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* By path: the proxy has an admin.h too, and its directory comes first on the include path. */
#include "ctl_admin.h"

/* ---- requests ---- */

static cJSON *body_of(const struct sl_ctl_admin_request *r)
{
    cJSON *doc = cJSON_Parse(r->body);
    cr_assert_not_null(doc, "%s", r->body ? r->body : "(null)");
    return doc;
}

Test(ctl_admin, team_set_with_everything)
{
    struct sl_ctl_team t = {
        .name = "search",
        .limits = {600, 100000, 20},
        .budget_usd = 100,
        .period = "week",
        .warn_at = 0.9,
        .log_payloads = true,
    };
    struct sl_ctl_admin_request r;

    cr_assert_eq(sl_ctl_admin_team_set(&t, &r), 0);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.path, "/admin/teams");
    cr_assert_str_eq(r.body, "{\"name\":\"search\",\"limits\":{\"rpm\":600,\"tpm\":100000,"
                             "\"concurrency\":20},\"budget\":{\"usd\":100,\"period\":\"week\","
                             "\"warn_at\":0.9},\"log_payloads\":true}");
    sl_ctl_admin_request_free(&r);
}

Test(ctl_admin, team_set_leaves_out_what_is_not_given)
{
    struct sl_ctl_team t = {
        .name = "ads", .limits = {-1, 5000, -1}, .budget_usd = NAN, .warn_at = NAN};
    struct sl_ctl_admin_request r;
    cJSON *doc;

    cr_assert_eq(sl_ctl_admin_team_set(&t, &r), 0);
    doc = body_of(&r);
    cr_assert_null(cJSON_GetObjectItem(doc, "budget"));
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "limits"), "rpm"));
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "limits"), "tpm")->valueint, 5000);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(doc, "log_payloads")));
    cJSON_Delete(doc);
    sl_ctl_admin_request_free(&r);

    t.limits = (struct sl_ctl_limits){-1, -1, -1};
    t.budget_usd = 25; /* no period given: month; no warn_at: the server's */
    cr_assert_eq(sl_ctl_admin_team_set(&t, &r), 0);
    doc = body_of(&r);
    cr_assert_null(cJSON_GetObjectItem(doc, "limits"));
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "budget"), "period")->valuestring,
                     "month");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "budget"), "warn_at"));
    cJSON_Delete(doc);
    sl_ctl_admin_request_free(&r);
}

Test(ctl_admin, team_names_are_escaped_as_json)
{
    struct sl_ctl_team t = {
        .name = "a\"b\\c", .limits = {-1, -1, -1}, .budget_usd = NAN, .warn_at = NAN};
    struct sl_ctl_admin_request r;
    cJSON *doc;

    cr_assert_eq(sl_ctl_admin_team_set(&t, &r), 0);
    doc = body_of(&r);
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "name")->valuestring, "a\"b\\c");
    cJSON_Delete(doc);
    sl_ctl_admin_request_free(&r);
}

Test(ctl_admin, key_create)
{
    struct sl_ctl_limits l = {-1, -1, 4};
    struct sl_ctl_admin_request r;

    cr_assert_eq(sl_ctl_admin_key_create("search", "backend", &l, &r), 0);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.path, "/admin/keys");
    cr_assert_str_eq(r.body,
                     "{\"team\":\"search\",\"name\":\"backend\",\"limits\":{\"concurrency\":4}}");
    sl_ctl_admin_request_free(&r);
    l.concurrency = -1;
    cr_assert_eq(sl_ctl_admin_key_create("search", NULL, &l, &r), 0);
    cr_assert_str_eq(r.body, "{\"team\":\"search\"}");
    sl_ctl_admin_request_free(&r);
}

Test(ctl_admin, lists_and_revoke_escape_their_arguments)
{
    struct sl_ctl_admin_request r;

    cr_assert_eq(sl_ctl_admin_keys_list(NULL, &r), 0);
    cr_assert_str_eq(r.method, "GET");
    cr_assert_str_eq(r.path, "/admin/keys");
    cr_assert_null(r.body);
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_admin_keys_list("a b&c=d", &r), 0);
    cr_assert_str_eq(r.path, "/admin/keys?team=a%20b%26c%3Dd");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_admin_key_revoke("key_1/../x", &r), 0);
    cr_assert_str_eq(r.method, "DELETE");
    cr_assert_str_eq(r.path, "/admin/keys/key_1%2F..%2Fx");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_admin_teams_list(&r), 0);
    cr_assert_str_eq(r.path, "/admin/teams");
    sl_ctl_admin_request_free(&r);
}

/* ---- answers ---- */

static void error_of(long status, const char *body, const char *want)
{
    struct sl_ctl_admin_response r = {status, (char *)body};
    char msg[256];

    sl_ctl_admin_error(&r, msg, sizeof(msg));
    cr_assert_str_eq(msg, want);
}

Test(ctl_admin, errors_say_status_and_message)
{
    error_of(404,
             "{\"error\":{\"message\":\"No key key_x.\",\"type\":\"invalid_request_error\","
             "\"param\":null,\"code\":\"key_not_found\"}}",
             "404: No key key_x.");
    error_of(401, "{\"error\":{\"message\":\"\"}}", "401: unauthorized");
    error_of(403, "{\"unexpected\":true}", "403: forbidden");
    error_of(502, "upstream connect error\nmore", "502: upstream connect error");
    error_of(500, "", "500: internal server error");
    error_of(418, NULL, "418: unexpected answer");
    error_of(400, "\x01\x02 binary", "400: bad request");
}

static struct sl_ctl_table *table(int (*fill)(const cJSON *, struct sl_ctl_table *),
                                  const char *json)
{
    struct sl_ctl_table *t = sl_ctl_table_create();
    cJSON *doc = cJSON_Parse(json);

    cr_assert_not_null(doc);
    cr_assert_eq(fill(doc, t), 0);
    cJSON_Delete(doc);
    return t;
}

Test(ctl_admin, keys_table)
{
    struct sl_ctl_table *t = table(
        sl_ctl_admin_keys_table,
        "{\"data\":[{\"id\":\"key_1\",\"team\":\"search\",\"name\":\"backend\",\"hint\":\"..."
        "abcd\","
        "\"created\":1732435200,\"revoked\":null,\"limits\":{\"rpm\":600,\"tpm\":0,"
        "\"concurrency\":0}},{\"id\":\"key_2\",\"team\":\"ads\",\"name\":\"\",\"hint\":\"...wxyz\","
        "\"created\":1732435200,\"revoked\":1732435300,\"limits\":{}}]}");

    cr_assert_eq(sl_ctl_table_rows(t), 2);
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 0), "key_1");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 2), "backend");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 3), "...abcd");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 4), "2024-11-24 08:00");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 5), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 6), "600");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 7), "-"); /* 0: unlimited */
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 2), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 5), "2024-11-24 08:01");
    sl_ctl_table_destroy(t);
}

Test(ctl_admin, teams_table_from_a_list_or_one_team)
{
    struct sl_ctl_table *t = table(
        sl_ctl_admin_teams_table,
        "{\"data\":[{\"name\":\"search\",\"limits\":{\"rpm\":600,\"tpm\":100000,\"concurrency\":20}"
        ","
        "\"budget\":{\"usd\":100,\"period\":\"month\",\"warn_at\":0.8},\"log_payloads\":false,"
        "\"spent_usd\":12.345678,\"period_start\":1730419200},{\"name\":\"ads\",\"limits\":"
        "{\"rpm\":0,\"tpm\":0,\"concurrency\":0},\"budget\":null,\"log_payloads\":true,"
        "\"spent_usd\":0,\"period_start\":1730419200}]}");

    cr_assert_eq(sl_ctl_table_rows(t), 2);
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 0), "search");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 3), "20");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 4), "100.00");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 5), "month");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 6), "80%");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 7), "12.3457");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 8), "2024-11-01 00:00");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 9), "no");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 1), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 4), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 6), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 9), "yes");
    sl_ctl_table_destroy(t);

    t = table(sl_ctl_admin_teams_table, "{\"name\":\"solo\",\"limits\":{\"rpm\":5}}");
    cr_assert_eq(sl_ctl_table_rows(t), 1);
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 1), "5");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 7), "-");
    sl_ctl_table_destroy(t);
}

Test(ctl_admin, unexpected_shapes_are_refused)
{
    struct sl_ctl_table *t = sl_ctl_table_create();
    cJSON *doc = cJSON_Parse("{\"data\":{}}");

    cr_assert_eq(sl_ctl_admin_keys_table(doc, t), SL_EPARSE);
    cJSON_Delete(doc);
    sl_ctl_table_destroy(t);
    t = sl_ctl_table_create();
    doc = cJSON_Parse("{\"data\":[1]}");
    cr_assert_eq(sl_ctl_admin_teams_table(doc, t), SL_EPARSE);
    cJSON_Delete(doc);
    sl_ctl_table_destroy(t);
}

/* ---- the commands, over a stand-in transport ---- */

struct fake {
    long status;
    const char *answer;
    int fail; /* return SL_EIO as if the connection failed */
    int calls;
    char method[8], path[256], body[1024], url[128], key[128];
};

static int fake_send(const struct sl_ctl_admin_conn *c, const struct sl_ctl_admin_request *req,
                     struct sl_ctl_admin_response *resp, char *err, size_t errlen, void *arg)
{
    struct fake *f = arg;

    f->calls++;
    snprintf(f->method, sizeof(f->method), "%s", req->method);
    snprintf(f->path, sizeof(f->path), "%s", req->path);
    snprintf(f->body, sizeof(f->body), "%s", req->body ? req->body : "");
    snprintf(f->url, sizeof(f->url), "%s", c->url);
    snprintf(f->key, sizeof(f->key), "%s", c->key);
    if (f->fail) {
        snprintf(err, errlen, "%s%s: Couldn't connect to server", c->url, req->path);
        return SL_EIO;
    }
    resp->status = f->status;
    resp->body = strdup(f->answer);
    return 0;
}

static char *out_text, *err_text;

static int run(struct fake *f, const char *first, ...)
{
    char *argv[32] = {(char *)first};
    int argc = 1, rc;
    size_t olen = 0, elen = 0;
    va_list ap;
    FILE *out, *err;

    va_start(ap, first);
    for (const char *a = va_arg(ap, const char *); a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    free(out_text);
    free(err_text);
    out = open_memstream(&out_text, &olen);
    err = open_memstream(&err_text, &elen);
    rc = sl_ctl_admin_run(fake_send, f, argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static void setup(void)
{
    setenv("SLUICE_ADMIN_KEY", "adm-secret", 1);
    unsetenv("SLUICE_URL");
}

static void cleanup(void)
{
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
}

TestSuite(ctl_admin_cmd, .init = setup, .fini = cleanup);

static const char created[] =
    "{\"id\":\"key_7\",\"key\":\"sk-sluice-SECRET\",\"team\":\"search\",\"name\":\"backend\","
    "\"hint\":\"...CRET\",\"created\":1732435200,\"limits\":{\"rpm\":60,\"tpm\":0,"
    "\"concurrency\":0}}";

Test(ctl_admin_cmd, keys_create_shows_the_key_once_with_a_warning)
{
    struct fake f = {.status = 201, .answer = created};

    cr_assert_eq(
        run(&f, "keys", "create", "--team", "search", "--name", "backend", "--rpm", "60", NULL), 0,
        "%s", err_text);
    cr_assert_str_eq(f.method, "POST");
    cr_assert_str_eq(f.path, "/admin/keys");
    cr_assert_str_eq(f.body, "{\"team\":\"search\",\"name\":\"backend\",\"limits\":{\"rpm\":60}}");
    cr_assert_str_eq(f.url, "http://127.0.0.1:8080");
    cr_assert_str_eq(f.key, "adm-secret");
    cr_assert_not_null(strstr(out_text, "created key key_7 for team search (backend)\n"), "%s",
                       out_text);
    cr_assert_not_null(strstr(out_text, "limits: rpm 60 tpm - concurrency -\n"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "\n    sk-sluice-SECRET\n"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "cannot be shown again"), "%s", out_text);
    cr_assert_null(strstr(out_text, "adm-secret"));
    cr_assert_str_eq(err_text, "");
}

Test(ctl_admin_cmd, json_prints_the_answer_as_it_came)
{
    struct fake f = {.status = 201, .answer = created};

    cr_assert_eq(run(&f, "keys", "create", "--team", "search", "--json", NULL), 0);
    cr_assert_str_eq(out_text, "{\"id\":\"key_7\",\"key\":\"sk-sluice-SECRET\",\"team\":\"search\","
                               "\"name\":\"backend\",\"hint\":\"...CRET\",\"created\":1732435200,"
                               "\"limits\":{\"rpm\":60,\"tpm\":0,\"concurrency\":0}}\n");
}

Test(ctl_admin_cmd, keys_create_needs_a_team)
{
    struct fake f = {.status = 201, .answer = created};

    cr_assert_eq(run(&f, "keys", "create", "--name", "x", NULL), 2);
    cr_assert_str_eq(err_text, "sluicectl keys create: --team is required\nusage: sluicectl keys "
                               "create --team T [--name N] [--rpm N] [--tpm N] [--concurrency N] "
                               "[--url URL] [--json]\n");
    cr_assert_eq(f.calls, 0);
}

Test(ctl_admin_cmd, api_errors_exit_1_with_status_and_message)
{
    struct fake f = {
        .status = 404,
        .answer = "{\"error\":{\"message\":\"No team 'nope'.\",\"type\":\"invalid_request_error\","
                  "\"param\":\"team\",\"code\":\"team_not_found\"}}"};

    cr_assert_eq(run(&f, "keys", "create", "--team", "nope", NULL), 1);
    cr_assert_str_eq(err_text, "sluicectl: 404: No team 'nope'.\n");
    cr_assert_str_eq(out_text, "");
}

Test(ctl_admin_cmd, connection_failures_exit_1)
{
    struct fake f = {.status = 0, .answer = "", .fail = 1};

    setenv("SLUICE_URL", "http://10.0.0.1:9000/", 1);
    cr_assert_eq(run(&f, "teams", "list", NULL), 1);
    cr_assert_str_eq(f.url, "http://10.0.0.1:9000");
    cr_assert_str_eq(err_text,
                     "sluicectl: http://10.0.0.1:9000/admin/teams: Couldn't connect to server\n");
}

Test(ctl_admin_cmd, the_admin_key_comes_from_the_environment_only)
{
    struct fake f = {.status = 200, .answer = "{\"data\":[]}"};

    unsetenv("SLUICE_ADMIN_KEY");
    cr_assert_eq(run(&f, "teams", "list", NULL), 1);
    cr_assert_not_null(strstr(err_text, "SLUICE_ADMIN_KEY is not set"), "%s", err_text);
    cr_assert_eq(f.calls, 0);
    cr_assert_eq(run(&f, "teams", "list", "--key", "k", NULL), 2);
    setenv("SLUICE_ADMIN_KEY", "bad\r\nX-Injected: 1", 1);
    cr_assert_eq(run(&f, "teams", "list", NULL), 1);
    cr_assert_eq(f.calls, 0);
    cr_assert_null(strstr(err_text, "Injected"), "%s", err_text);
}

Test(ctl_admin_cmd, url_option_wins_and_is_checked)
{
    struct fake f = {.status = 200, .answer = "{\"data\":[]}"};

    setenv("SLUICE_URL", "http://env:1", 1);
    cr_assert_eq(run(&f, "keys", "list", "--url", "https://proxy.example:8443", NULL), 0, "%s",
                 err_text);
    cr_assert_str_eq(f.url, "https://proxy.example:8443");
    cr_assert_eq(run(&f, "keys", "list", "--url", "proxy:8080", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--url: bad value \"proxy:8080\""), "%s", err_text);
}

Test(ctl_admin_cmd, keys_list_prints_a_table)
{
    struct fake f = {.status = 200,
                     .answer =
                         "{\"data\":[{\"id\":\"key_1\",\"team\":\"search\",\"name\":\"backend\","
                         "\"hint\":\"...abcd\",\"created\":1732435200,\"revoked\":null,"
                         "\"limits\":{\"rpm\":600,\"tpm\":0,\"concurrency\":0}}]}"};

    cr_assert_eq(run(&f, "keys", "list", "--team", "search", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.method, "GET");
    cr_assert_str_eq(f.path, "/admin/keys?team=search");
    cr_assert_str_eq(out_text,
                     "id     team    name     hint     created           revoked  rpm  tpm  "
                     "concurrency\n"
                     "key_1  search  backend  ...abcd  2024-11-24 08:00  -        600    -"
                     "            -\n");
}

Test(ctl_admin_cmd, keys_revoke)
{
    struct fake f = {.status = 200, .answer = "{\"id\":\"key_1\",\"revoked\":1732435300}"};

    cr_assert_eq(run(&f, "keys", "revoke", "key_1", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.method, "DELETE");
    cr_assert_str_eq(f.path, "/admin/keys/key_1");
    cr_assert_str_eq(out_text, "revoked key key_1 at 2024-11-24 08:01 UTC\n");
    cr_assert_eq(run(&f, "keys", "revoke", NULL), 2);
}

Test(ctl_admin_cmd, teams_set_sends_the_whole_team)
{
    struct fake f = {.status = 200,
                     .answer = "{\"name\":\"search\",\"limits\":{\"rpm\":600,\"tpm\":0,"
                               "\"concurrency\":0},\"budget\":{\"usd\":50,\"period\":\"day\","
                               "\"warn_at\":0.5},\"log_payloads\":true}"};

    cr_assert_eq(run(&f, "teams", "set", "search", "--rpm", "600", "--budget-usd", "50", "--period",
                     "day", "--warn-at", "0.5", "--log-payloads", "yes", NULL),
                 0, "%s", err_text);
    cr_assert_str_eq(f.body, "{\"name\":\"search\",\"limits\":{\"rpm\":600},\"budget\":{\"usd\":50,"
                             "\"period\":\"day\",\"warn_at\":0.5},\"log_payloads\":true}");
    cr_assert_not_null(strstr(out_text, "team search saved\n"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "search  600"), "%s", out_text);
}

Test(ctl_admin_cmd, teams_set_refuses_a_period_without_budget)
{
    struct fake f = {.status = 200, .answer = "{}"};

    cr_assert_eq(run(&f, "teams", "set", "search", "--period", "day", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--period and --warn-at need --budget-usd"), "%s",
                       err_text);
    cr_assert_eq(run(&f, "teams", "set", "search", "--budget-usd", "0", NULL), 2);
    cr_assert_eq(f.calls, 0);
}

Test(ctl_admin_cmd, answers_that_are_not_json_are_failures)
{
    struct fake f = {.status = 200, .answer = "<html>"};

    cr_assert_eq(run(&f, "teams", "list", NULL), 1);
    cr_assert_str_eq(err_text,
                     "sluicectl: http://127.0.0.1:8080/admin/teams: the answer is not JSON\n");
    f.answer = "{\"data\":7}";
    cr_assert_eq(run(&f, "teams", "list", NULL), 1);
    cr_assert_not_null(strstr(err_text, "not have the expected shape"), "%s", err_text);
}

Test(ctl_admin_cmd, group_help_and_unknown_commands)
{
    struct fake f = {.status = 200, .answer = "{}"};

    cr_assert_eq(run(&f, "keys", "--help", NULL), 0);
    cr_assert_not_null(strstr(out_text, "sluicectl keys revoke ID"), "%s", out_text);
    cr_assert_eq(run(&f, "teams", "delete", NULL), 2);
    cr_assert_not_null(strstr(err_text, "unknown command \"delete\""), "%s", err_text);
    cr_assert_eq(run(&f, "teams", NULL), 2);
    cr_assert_eq(run(&f, "teams", "set", "--help", NULL), 0);
    cr_assert_not_null(strstr(out_text, "SLUICE_ADMIN_KEY"), "%s", out_text);
    cr_assert_eq(f.calls, 0);
}

Test(ctl_admin_cmd, empty_lists_say_so)
{
    struct fake f = {.status = 200, .answer = "{\"data\":[]}"};

    cr_assert_eq(run(&f, "keys", "list", NULL), 0, "%s", err_text);
    cr_assert_str_eq(out_text, "no keys\n");
    cr_assert_eq(run(&f, "teams", "list", NULL), 0, "%s", err_text);
    cr_assert_str_eq(out_text, "no teams\n");
}
