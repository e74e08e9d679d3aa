/* Tests for sluicectl/ctl_control without a controller: the requests built, the answers read
 * into tables, and the commands end to end over a stand-in transport that records each call
 * and gives canned answers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_control.h"

/* ---- requests ---- */

Test(ctl_control, config_requests)
{
    struct sl_ctl_admin_request r;
    cJSON *doc = cJSON_Parse("{\"routes\":{\"auto\":{\"thresholds\":[0.4]}}}");

    cr_assert_eq(sl_ctl_control_config_get(&r), 0);
    cr_assert_str_eq(r.method, "GET");
    cr_assert_str_eq(r.path, "/admin/config");
    cr_assert_null(r.body);
    sl_ctl_admin_request_free(&r);

    cr_assert_eq(sl_ctl_control_config_set(doc, "lower auto's threshold", "alice", &r), 0);
    cr_assert_str_eq(r.method, "PUT");
    cr_assert_str_eq(r.path, "/admin/config");
    cr_assert_str_eq(r.body, "{\"document\":{\"routes\":{\"auto\":{\"thresholds\":[0.4]}}},"
                             "\"reason\":\"lower auto's threshold\",\"author\":\"alice\"}");
    sl_ctl_admin_request_free(&r);
    cJSON_Delete(doc);
}

Test(ctl_control, version_requests)
{
    struct sl_ctl_admin_request r;

    cr_assert_eq(sl_ctl_control_versions(0, &r), 0);
    cr_assert_str_eq(r.path, "/admin/versions");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_versions(20, &r), 0);
    cr_assert_str_eq(r.method, "GET");
    cr_assert_str_eq(r.path, "/admin/versions?limit=20");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_version(12, &r), 0);
    cr_assert_str_eq(r.path, "/admin/versions/12");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_rollback(7, "bad \"threshold\"", "bob", &r), 0);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.path, "/admin/rollback");
    cr_assert_str_eq(r.body,
                     "{\"version\":7,\"reason\":\"bad \\\"threshold\\\"\",\"author\":\"bob\"}");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_rollout(0, &r), 0);
    cr_assert_str_eq(r.path, "/admin/rollout");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_rollout(9, &r), 0);
    cr_assert_str_eq(r.path, "/admin/rollout?version=9");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_events(0, &r), 0);
    cr_assert_str_eq(r.path, "/admin/events");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_events(5, &r), 0);
    cr_assert_str_eq(r.path, "/admin/events?limit=5");
    sl_ctl_admin_request_free(&r);
}

Test(ctl_control, classifier_requests_escape_the_note_and_send_the_bytes)
{
    struct sl_ctl_admin_request r;
    const char *artifact = "{\"weights\": [1, 2]}\n";

    cr_assert_eq(sl_ctl_control_classifier_register(artifact, "prompts v2 & more/x", &r), 0);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.path, "/admin/classifiers?note=prompts%20v2%20%26%20more%2Fx");
    cr_assert_str_eq(r.body, artifact);
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_classifier_register(artifact, NULL, &r), 0);
    cr_assert_str_eq(r.path, "/admin/classifiers");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_classifier_register(artifact, "", &r), 0);
    cr_assert_str_eq(r.path, "/admin/classifiers");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_classifiers_list(&r), 0);
    cr_assert_str_eq(r.method, "GET");
    cr_assert_str_eq(r.path, "/admin/classifiers");
    sl_ctl_admin_request_free(&r);
}

Test(ctl_control, route_requests)
{
    struct sl_ctl_admin_request r;
    cJSON *ab = cJSON_Parse("{\"name\":\"exp1\",\"sticky\":\"user\",\"arms\":[]}");

    cr_assert_eq(sl_ctl_control_canary("auto", "sha256:ab", 0.05, "header:X-Team", &r), 0);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.path, "/admin/routes/auto/canary");
    cr_assert_str_eq(r.body,
                     "{\"classifier\":\"sha256:ab\",\"weight\":0.05,\"sticky\":\"header:X-Team\"}");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_canary("auto", "sha256:ab", 0.5, NULL, &r), 0);
    cr_assert_str_eq(r.body, "{\"classifier\":\"sha256:ab\",\"weight\":0.5}");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_classifier_promote("code/review", "sha256:ab", &r), 0);
    cr_assert_str_eq(r.path, "/admin/routes/code%2Freview/promote");
    cr_assert_str_eq(r.body, "{\"classifier\":\"sha256:ab\"}");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_ab_promote("auto", "b", &r), 0);
    cr_assert_str_eq(r.method, "POST");
    cr_assert_str_eq(r.path, "/admin/routes/auto/promote");
    cr_assert_str_eq(r.body, "{\"arm\":\"b\"}");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_ab_stop("a b", "b", &r), 0);
    cr_assert_str_eq(r.path, "/admin/routes/a%20b/ab/stop");
    cr_assert_str_eq(r.body, "{\"arm\":\"b\"}");
    sl_ctl_admin_request_free(&r);
    cr_assert_eq(sl_ctl_control_ab_set("auto", ab, &r), 0);
    cr_assert_str_eq(r.method, "PUT");
    cr_assert_str_eq(r.path, "/admin/routes/auto/ab");
    cr_assert_str_eq(r.body, "{\"name\":\"exp1\",\"sticky\":\"user\",\"arms\":[]}");
    sl_ctl_admin_request_free(&r);
    cJSON_Delete(ab);
}

/* ---- answers ---- */

static struct sl_ctl_table *table(int (*fill)(const cJSON *, struct sl_ctl_table *),
                                  const char *json)
{
    struct sl_ctl_table *t = sl_ctl_table_create();
    cJSON *doc = cJSON_Parse(json);

    cr_assert_not_null(doc, "%s", json);
    cr_assert_eq(fill(doc, t), 0);
    cJSON_Delete(doc);
    return t;
}

static void refused(int (*fill)(const cJSON *, struct sl_ctl_table *), const char *json)
{
    struct sl_ctl_table *t = sl_ctl_table_create();
    cJSON *doc = cJSON_Parse(json);

    cr_assert_eq(fill(doc, t), SL_EPARSE, "%s", json);
    cJSON_Delete(doc);
    sl_ctl_table_destroy(t);
}

Test(ctl_control, diff_table_shows_values_as_compact_json)
{
    struct sl_ctl_table *t = table(
        sl_ctl_control_diff_table,
        "{\"version\":8,\"diff\":[{\"path\":\"routes.auto.thresholds[0]\",\"from\":0.42,\"to\":0.4}"
        ","
        "{\"path\":\"routes.auto.ab\",\"from\":null,\"to\":{\"name\":\"exp1\",\"arms\":[\"a\"]}},"
        "{\"path\":\"routes.old\",\"from\":\"x\"},"
        "{\"path\":\"routes.long\",\"from\":1,\"to\":\"0123456789012345678901234567890123456789"
        "01234567890123456789\"}]}");

    cr_assert_eq(sl_ctl_table_rows(t), 4);
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 0), "routes.auto.thresholds[0]");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 1), "0.42");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 2), "0.4");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 1), "null");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 2), "{\"name\":\"exp1\",\"arms\":[\"a\"]}");
    cr_assert_str_eq(sl_ctl_table_get(t, 2, 1), "\"x\"");
    cr_assert_str_eq(sl_ctl_table_get(t, 2, 2), "-"); /* removed */
    /* 62 characters with the quotes: cut to 57 and "...", 60 in all. */
    cr_assert_str_eq(sl_ctl_table_get(t, 3, 2),
                     "\"01234567890123456789012345678901234567890123456789012345...");
    sl_ctl_table_destroy(t);

    t = table(sl_ctl_control_diff_table, "[]");
    cr_assert_eq(sl_ctl_table_rows(t), 0);
    sl_ctl_table_destroy(t);
    refused(sl_ctl_control_diff_table, "{\"version\":1}");
    refused(sl_ctl_control_diff_table, "{\"diff\":[1]}");
}

Test(ctl_control, diff_values_are_cut_on_a_character)
{
    struct sl_ctl_table *t;
    char json[512] = "{\"diff\":[{\"path\":\"p\",\"to\":\"";

    for (int i = 0; i < 70; i++)
        strcat(json, "\xc3\xa9"); /* é: two bytes, one character */
    strcat(json, "\"}]}");
    t = table(sl_ctl_control_diff_table, json);
    const char *cell = sl_ctl_table_get(t, 0, 2);
    /* The quote, 56 é and "...". */
    cr_assert_eq(strlen(cell), 1 + 56 * 2 + 3, "%s", cell);
    cr_assert_str_eq(cell + strlen(cell) - 5, "\xc3\xa9...");
    sl_ctl_table_destroy(t);
}

Test(ctl_control, versions_table)
{
    struct sl_ctl_table *t =
        table(sl_ctl_control_versions_table,
              "{\"data\":[{\"version\":12,\"created_us\":1732435200123456,\"author\":\"alice\","
              "\"reason\":\"canary\",\"diff\":[{\"path\":\"a\"},{\"path\":\"b\"}]},"
              "{\"version\":11,\"created_us\":1732435100000000,\"author\":\"bob\",\"reason\":\"\","
              "\"changes\":5},{\"version\":1}]}");

    cr_assert_eq(sl_ctl_table_rows(t), 3);
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 0), "12");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 1), "2024-11-24T08:00:00Z");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 2), "alice");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 3), "canary");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 4), "2");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 1), "2024-11-24T07:58:20Z");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 3), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 4), "5");
    cr_assert_str_eq(sl_ctl_table_get(t, 2, 1), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 2, 4), "-");
    sl_ctl_table_destroy(t);

    /* The list may also come bare or under its own name. */
    t = table(sl_ctl_control_versions_table, "[{\"version\":3}]");
    cr_assert_eq(sl_ctl_table_rows(t), 1);
    sl_ctl_table_destroy(t);
    t = table(sl_ctl_control_versions_table, "{\"versions\":[{\"version\":3}]}");
    cr_assert_eq(sl_ctl_table_rows(t), 1);
    sl_ctl_table_destroy(t);
    refused(sl_ctl_control_versions_table, "{\"data\":{}}");
    refused(sl_ctl_control_versions_table, "{\"data\":[\"v\"]}");
}

Test(ctl_control, rollout_classifiers_and_events_tables)
{
    struct sl_ctl_table *t = table(
        sl_ctl_control_rollout_table,
        "{\"version\":12,\"complete\":false,\"proxies\":[{\"id\":\"proxy-a\",\"version\":12,"
        "\"alive\":true,\"propagation_ms\":41.6,\"error\":null},{\"id\":\"proxy-b\",\"version\":11,"
        "\"alive\":false,\"propagation_ms\":null,\"error\":\"classifier sha256:ab: hash "
        "mismatch\"}]}");

    cr_assert_eq(sl_ctl_table_rows(t), 2);
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 0), "proxy-a");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 1), "12");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 2), "yes");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 3), "42");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 4), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 2), "no");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 3), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 4), "classifier sha256:ab: hash mismatch");
    sl_ctl_table_destroy(t);

    t = table(sl_ctl_control_classifiers_table,
              "{\"data\":[{\"id\":\"sha256:ab\",\"feature_spec_hash\":\"f1\",\"registered_us\":"
              "1732435200000000,\"note\":\"v2\",\"metrics\":{}},{\"id\":\"sha256:cd\","
              "\"note\":null}]}");
    cr_assert_eq(sl_ctl_table_rows(t), 2);
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 0), "sha256:ab");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 1), "2024-11-24T08:00:00Z");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 2), "v2");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 1), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 2), "-");
    sl_ctl_table_destroy(t);

    t = table(sl_ctl_control_events_table,
              "{\"data\":[{\"ts_us\":1732435200000000,\"kind\":\"alert\",\"route\":\"auto\","
              "\"version\":13,\"message\":\"threshold lowered by 0.02\"},{\"created_us\":"
              "1732435100000000,\"type\":\"version\",\"detail\":\"config set\"}]}");
    cr_assert_eq(sl_ctl_table_rows(t), 2);
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 0), "2024-11-24T08:00:00Z");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 1), "alert");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 2), "auto");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 3), "13");
    cr_assert_str_eq(sl_ctl_table_get(t, 0, 4), "threshold lowered by 0.02");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 0), "2024-11-24T07:58:20Z");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 1), "version");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 2), "-");
    cr_assert_str_eq(sl_ctl_table_get(t, 1, 4), "config set");
    sl_ctl_table_destroy(t);

    refused(sl_ctl_control_rollout_table, "{\"version\":3}");
    refused(sl_ctl_control_classifiers_table, "{\"data\":[null]}");
    refused(sl_ctl_control_events_table, "7");
}

/* ---- the commands, over a stand-in transport ---- */

#define MAX_CALLS 4

struct fake {
    struct {
        long status;
        const char *answer;
    } answers[MAX_CALLS]; /* for each call in turn; past them, the last one given */
    int fail;             /* return SL_EIO as if the connection failed */
    int calls;
    struct {
        char method[8], path[256], body[1024];
    } rec[MAX_CALLS];
    char url[128], key[128];
};

static int fake_send(const struct sl_ctl_admin_conn *c, const struct sl_ctl_admin_request *req,
                     struct sl_ctl_admin_response *resp, char *err, size_t errlen, void *arg)
{
    struct fake *f = arg;
    int i = f->calls < MAX_CALLS ? f->calls : MAX_CALLS - 1, a = i; /* reset calls between runs */

    f->calls++;
    snprintf(f->rec[i].method, sizeof(f->rec[i].method), "%s", req->method);
    snprintf(f->rec[i].path, sizeof(f->rec[i].path), "%s", req->path);
    snprintf(f->rec[i].body, sizeof(f->rec[i].body), "%s", req->body ? req->body : "");
    snprintf(f->url, sizeof(f->url), "%s", c->url);
    snprintf(f->key, sizeof(f->key), "%s", c->key);
    if (f->fail) {
        snprintf(err, errlen, "%s%s: Couldn't connect to server", c->url, req->path);
        return SL_EIO;
    }
    while (a > 0 && !f->answers[a].answer)
        a--;
    resp->status = f->answers[a].status;
    resp->body = strdup(f->answers[a].answer);
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
    rc = sl_ctl_control_run(fake_send, f, argc, argv, out, err);
    fclose(out);
    fclose(err);
    return rc;
}

static char file_path[64];

/* Writes text to a temporary file whose path is file_path. */
static const char *write_file(const char *text)
{
    int fd;

    snprintf(file_path, sizeof(file_path), "/tmp/sluice-test-control-XXXXXX");
    cr_assert_neq(fd = mkstemp(file_path), -1);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return file_path;
}

static void setup(void)
{
    setenv("SLUICE_ADMIN_KEY", "adm-secret", 1);
    setenv("USER", "alice", 1);
    unsetenv("SLUICE_CONTROLLER_URL");
    unsetenv("SLUICE_URL");
    file_path[0] = '\0';
}

static void cleanup(void)
{
    free(out_text);
    free(err_text);
    out_text = err_text = NULL;
    if (file_path[0])
        unlink(file_path);
}

TestSuite(ctl_control_cmd, .init = setup, .fini = cleanup);

Test(ctl_control_cmd, config_get_prints_the_version_and_the_document)
{
    struct fake f = {.answers = {{200, "{\"version\":12,\"created_us\":1732435200000000,"
                                       "\"author\":\"alice\",\"reason\":\"canary\","
                                       "\"document\":{\"routes\":{\"auto\":{\"x\":1}}}}"}}};

    cr_assert_eq(run(&f, "config", "get", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].method, "GET");
    cr_assert_str_eq(f.rec[0].path, "/admin/config");
    cr_assert_str_eq(f.url, "http://127.0.0.1:8070");
    cr_assert_str_eq(f.key, "adm-secret");
    cr_assert_str_eq(out_text,
                     "version 12, created 2024-11-24T08:00:00Z by alice: canary\n"
                     "{\n\t\"routes\":\t{\n\t\t\"auto\":\t{\n\t\t\t\"x\":\t1\n\t\t}\n\t}\n}\n");
    cr_assert_str_eq(err_text, "");
}

Test(ctl_control_cmd, config_get_json_prints_the_answer_as_it_came)
{
    struct fake f = {.answers = {{200, "{\"version\":12,\"document\":{}}"}}};

    cr_assert_eq(run(&f, "config", "get", "--json", NULL), 0, "%s", err_text);
    cr_assert_str_eq(out_text, "{\"version\":12,\"document\":{}}\n");
}

Test(ctl_control_cmd, the_controller_url_comes_from_the_option_or_the_environment)
{
    struct fake f = {.answers = {{200, "{\"data\":[]}"}}};

    setenv("SLUICE_CONTROLLER_URL", "http://ctl.example:9000/", 1);
    setenv("SLUICE_URL", "http://proxy.example:8080", 1); /* the proxy's: not used here */
    cr_assert_eq(run(&f, "versions", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.url, "http://ctl.example:9000");
    cr_assert_eq(run(&f, "versions", "--controller", "https://ctl2.example", NULL), 0);
    cr_assert_str_eq(f.url, "https://ctl2.example");
    cr_assert_eq(run(&f, "versions", "--controller", "ctl:8070", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--controller: bad value \"ctl:8070\""), "%s", err_text);
    cr_assert_eq(run(&f, "versions", "--url", "http://x", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--url is not an option of this command"), "%s", err_text);
    setenv("SLUICE_CONTROLLER_URL", "ftp://x", 1);
    cr_assert_eq(run(&f, "versions", NULL), 1);
    cr_assert_not_null(strstr(err_text, "SLUICE_CONTROLLER_URL: \"ftp://x\" is not an http://"),
                       "%s", err_text);
}

Test(ctl_control_cmd, the_admin_key_is_required)
{
    struct fake f = {.answers = {{200, "{\"data\":[]}"}}};

    unsetenv("SLUICE_ADMIN_KEY");
    cr_assert_eq(run(&f, "events", NULL), 1);
    cr_assert_not_null(strstr(err_text, "SLUICE_ADMIN_KEY is not set: export the controller's"),
                       "%s", err_text);
    cr_assert_eq(f.calls, 0);
}

Test(ctl_control_cmd, config_set_sends_the_file_and_prints_the_diff)
{
    struct fake f = {.answers = {{200, "{\"version\":13,\"diff\":[{\"path\":\"routes.auto."
                                       "thresholds[0]\",\"from\":0.42,\"to\":0.4}]}"}}};
    const char *path = write_file("{\"routes\": {\"auto\": {\"thresholds\": [0.4]}}}\n");

    cr_assert_eq(run(&f, "config", "set", path, "--reason", "fewer premium calls", NULL), 0, "%s",
                 err_text);
    cr_assert_str_eq(f.rec[0].method, "PUT");
    cr_assert_str_eq(f.rec[0].path, "/admin/config");
    cr_assert_str_eq(f.rec[0].body, "{\"document\":{\"routes\":{\"auto\":{\"thresholds\":[0.4]}}},"
                                    "\"reason\":\"fewer premium calls\",\"author\":\"alice\"}");
    cr_assert_str_eq(out_text, "configuration version 13 saved\n"
                               "path                       from  to\n"
                               "routes.auto.thresholds[0]  0.42  0.4\n");
}

Test(ctl_control_cmd, config_set_without_a_change_or_a_user)
{
    struct fake f = {.answers = {{200, "{\"version\":13,\"diff\":[]}"}}};
    const char *path = write_file("{}");

    unsetenv("USER");
    cr_assert_eq(run(&f, "config", "set", path, "--reason", "same", NULL), 0, "%s", err_text);
    cr_assert_not_null(strstr(f.rec[0].body, "\"author\":\"sluicectl\""), "%s", f.rec[0].body);
    cr_assert_str_eq(out_text, "configuration version 13 saved\nno changes\n");
}

Test(ctl_control_cmd, changes_that_change_nothing_say_so)
{
    struct fake f = {.answers = {{200, "{\"version\":13,\"unchanged\":true}"}}};
    const char *path = write_file("{}");

    cr_assert_eq(run(&f, "config", "set", path, "--reason", "same", NULL), 0, "%s", err_text);
    cr_assert_str_eq(out_text, "configuration unchanged: version 13 has this document already\n");
    cr_assert_eq(run(&f, "rollback", "13", "--reason", "same", NULL), 0, "%s", err_text);
    cr_assert_str_eq(out_text, "version 13, the current one, has version 13's document already\n");
    cr_assert_eq(run(&f, "ab", "stop", "auto", "b", NULL), 0, "%s", err_text);
    cr_assert_str_eq(out_text, "route auto: arm b stopped (unchanged: configuration version 13)\n");
}

Test(ctl_control_cmd, config_set_refuses_bad_input_before_calling)
{
    struct fake f = {.answers = {{200, "{}"}}};
    const char *path = write_file("{\"routes\": \n [1,}");

    cr_assert_eq(run(&f, "config", "set", path, NULL), 2);
    cr_assert_not_null(strstr(err_text, "--reason is required"), "%s", err_text);
    cr_assert_eq(run(&f, "config", "set", path, "--reason", "", NULL), 2);
    cr_assert_eq(run(&f, "config", "set", path, "--reason", "r", NULL), 1);
    cr_assert_not_null(strstr(err_text, ":2: invalid JSON"), "%s", err_text);
    cr_assert_eq(run(&f, "config", "set", "/nonexistent/x.json", "--reason", "r", NULL), 1);
    cr_assert_not_null(strstr(err_text, "/nonexistent/x.json: cannot open"), "%s", err_text);
    cr_assert_eq(run(&f, "config", "set", "--reason", "r", NULL), 2);
    cr_assert_eq(f.calls, 0);
}

Test(ctl_control_cmd, api_errors_exit_1_with_the_servers_message)
{
    struct fake f = {
        .answers = {{409, "{\"error\":{\"message\":\"routes.auto.thresholds: must ascend\","
                          "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}"}}};
    const char *path = write_file("{}");

    cr_assert_eq(run(&f, "config", "set", path, "--reason", "r", NULL), 1);
    cr_assert_str_eq(err_text, "sluicectl: 409: routes.auto.thresholds: must ascend\n");
    cr_assert_str_eq(out_text, "");
    f.fail = 1;
    cr_assert_eq(run(&f, "rollout", NULL), 1);
    cr_assert_str_eq(
        err_text, "sluicectl: http://127.0.0.1:8070/admin/rollout: Couldn't connect to server\n");
}

Test(ctl_control_cmd, versions_prints_a_table)
{
    struct fake f = {
        .answers = {{200, "{\"data\":[{\"version\":12,\"created_us\":"
                          "1732435200000000,\"author\":\"alice\",\"reason\":\"canary\","
                          "\"diff\":[{\"path\":\"a\"}]},{\"version\":11,\"created_us\":"
                          "1732435100000000,\"author\":\"bob\",\"reason\":\"start\","
                          "\"diff\":[]}]}"}}};

    cr_assert_eq(run(&f, "versions", "--limit", "2", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].path, "/admin/versions?limit=2");
    cr_assert_str_eq(out_text, "version  created               author  reason  changes\n"
                               "     12  2024-11-24T08:00:00Z  alice   canary        1\n"
                               "     11  2024-11-24T07:58:20Z  bob     start         0\n");
    cr_assert_eq(run(&f, "versions", "--limit", "0", NULL), 2);
    f.calls = 0;
    f.answers[0].answer = "{\"data\":[]}";
    cr_assert_eq(run(&f, "versions", NULL), 0);
    cr_assert_str_eq(f.rec[0].path, "/admin/versions");
    cr_assert_str_eq(out_text, "no versions\n");
}

Test(ctl_control_cmd, version_shows_metadata_diff_and_document)
{
    struct fake f = {.answers = {{200, "{\"version\":12,\"author\":\"alice\",\"reason\":\"x\","
                                       "\"diff\":[{\"path\":\"a\",\"from\":1,\"to\":2}],"
                                       "\"document\":{\"a\":2}}"}}};

    cr_assert_eq(run(&f, "version", "12", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].path, "/admin/versions/12");
    cr_assert_str_eq(out_text, "version 12 by alice: x\n"
                               "\nchanges from the version before:\n"
                               "path  from  to\n"
                               "a     1     2\n"
                               "\ndocument:\n{\n\t\"a\":\t2\n}\n");
    cr_assert_eq(run(&f, "version", "twelve", NULL), 2);
    cr_assert_not_null(strstr(err_text, "bad version \"twelve\""), "%s", err_text);
    cr_assert_eq(run(&f, "version", "0", NULL), 2);
    cr_assert_eq(run(&f, "version", NULL), 2);
    cr_assert_eq(f.calls, 1);
}

Test(ctl_control_cmd, rollback)
{
    struct fake f = {.answers = {{200, "{\"version\":14,\"diff\":[{\"path\":\"a\",\"from\":2,"
                                       "\"to\":1}]}"}}};

    cr_assert_eq(run(&f, "rollback", "11", "--reason", "quality dropped", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].method, "POST");
    cr_assert_str_eq(f.rec[0].path, "/admin/rollback");
    cr_assert_str_eq(f.rec[0].body,
                     "{\"version\":11,\"reason\":\"quality dropped\",\"author\":\"alice\"}");
    cr_assert_str_eq(out_text, "rolled back to version 11's document as version 14\n"
                               "path  from  to\n"
                               "a     2     1\n");
    cr_assert_eq(run(&f, "rollback", "11", NULL), 2);
    cr_assert_eq(f.calls, 1);
}

Test(ctl_control_cmd, rollout_says_whether_it_is_complete)
{
    struct fake f = {
        .answers = {{200, "{\"version\":12,\"complete\":false,\"proxies\":[{\"id\":\"p1\","
                          "\"version\":12,\"alive\":true,\"propagation_ms\":40,\"error\":null},"
                          "{\"id\":\"p2\",\"version\":11,\"alive\":true,\"propagation_ms\":null,"
                          "\"error\":\"timeout\"}]}"}}};

    cr_assert_eq(run(&f, "rollout", "12", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].path, "/admin/rollout?version=12");
    cr_assert_str_eq(out_text, "proxy  version  alive  propagation ms  error\n"
                               "p1          12  yes                40  -\n"
                               "p2          11  yes                 -  timeout\n"
                               "version 12: rollout not complete, 1 of 2 proxies on it\n");
    f.answers[0].answer = "{\"version\":12,\"complete\":true,\"proxies\":[{\"id\":\"p1\","
                          "\"version\":12,\"alive\":true,\"propagation_ms\":40}]}";
    f.calls = 0;
    cr_assert_eq(run(&f, "rollout", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].path, "/admin/rollout");
    cr_assert_not_null(strstr(out_text, "version 12: rollout complete, 1 of 1 proxies on it\n"),
                       "%s", out_text);
}

static const char artifact[] = "{\"model\": \"logistic\", \"weights\": [0.5]}\n";

Test(ctl_control_cmd, classifier_register_with_a_canary_and_a_promotion)
{
    struct fake f = {.answers = {{201, "{\"id\":\"sha256:abc\"}"},
                                 {200, "{\"version\":15}"},
                                 {200, "{\"version\":16}"}}};
    const char *path = write_file(artifact);

    cr_assert_eq(run(&f, "classifier", "register", path, "--note", "v2 data", "--canary", "auto",
                     "--weight", "0.05", "--sticky", "user", "--promote", "code", NULL),
                 0, "%s", err_text);
    cr_assert_eq(f.calls, 3);
    cr_assert_str_eq(f.rec[0].method, "POST");
    cr_assert_str_eq(f.rec[0].path, "/admin/classifiers?note=v2%20data");
    cr_assert_str_eq(f.rec[0].body, artifact); /* the bytes as they are */
    cr_assert_str_eq(f.rec[1].path, "/admin/routes/auto/canary");
    cr_assert_str_eq(f.rec[1].body,
                     "{\"classifier\":\"sha256:abc\",\"weight\":0.05,\"sticky\":\"user\"}");
    cr_assert_str_eq(f.rec[2].path, "/admin/routes/code/promote");
    cr_assert_str_eq(f.rec[2].body, "{\"classifier\":\"sha256:abc\"}");
    cr_assert_str_eq(out_text, "registered classifier sha256:abc\n"
                               "canary on route auto: 5% of its calls, sticky by user "
                               "(configuration version 15)\n"
                               "promoted on route code (configuration version 16)\n");
}

Test(ctl_control_cmd, classifier_register_alone_and_as_json)
{
    struct fake f = {.answers = {{201, "{\"id\":\"sha256:abc\"}"}, {200, "{\"version\":15}"}}};
    const char *path = write_file(artifact);
    cJSON *doc;

    cr_assert_eq(run(&f, "classifier", "register", path, NULL), 0, "%s", err_text);
    cr_assert_eq(f.calls, 1);
    cr_assert_str_eq(f.rec[0].path, "/admin/classifiers");
    cr_assert_str_eq(out_text, "registered classifier sha256:abc\n");
    f.calls = 0;
    f.answers[0].status = 200;
    f.answers[0].answer = "{\"id\":\"sha256:abc\",\"existing\":true}";
    cr_assert_eq(run(&f, "classifier", "register", path, NULL), 0, "%s", err_text);
    cr_assert_str_eq(out_text, "already registered: classifier sha256:abc\n");
    f.answers[0].status = 201;
    f.answers[0].answer = "{\"id\":\"sha256:abc\"}";

    f.calls = 0;
    cr_assert_eq(run(&f, "classifier", "register", path, "--canary", "auto", "--weight", "0.1",
                     "--json", NULL),
                 0, "%s", err_text);
    cr_assert_eq(f.calls, 2);
    cr_assert_not_null(doc = cJSON_Parse(out_text), "%s", out_text);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "classifier"), "id")->valuestring,
                     "sha256:abc");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "canary"), "version")->valueint, 15);
    cJSON_Delete(doc);
}

Test(ctl_control_cmd, classifier_register_failures_keep_the_id)
{
    struct fake f = {.answers = {{201, "{\"id\":\"sha256:abc\"}"},
                                 {404, "{\"error\":{\"message\":\"No route 'nope'.\"}}"}}};
    const char *path = write_file(artifact);

    cr_assert_eq(run(&f, "classifier", "register", path, "--canary", "nope", "--weight", "0.1",
                     "--promote", "auto", NULL),
                 1);
    cr_assert_eq(f.calls, 2); /* no promotion after the failed canary */
    cr_assert_str_eq(out_text, "registered classifier sha256:abc\n");
    cr_assert_str_eq(err_text, "sluicectl: 404: No route 'nope'.\n"
                               "sluicectl: classifier sha256:abc is registered, but the canary "
                               "on route nope failed\n");

    f.calls = 0;
    f.answers[0].status = 400;
    f.answers[0].answer = "{\"error\":{\"message\":\"feature hash mismatch\"}}";
    cr_assert_eq(run(&f, "classifier", "register", path, NULL), 1);
    cr_assert_str_eq(err_text, "sluicectl: 400: feature hash mismatch\n");

    f.calls = 0;
    f.answers[0].status = 201;
    f.answers[0].answer = "{\"ok\":true}";
    cr_assert_eq(run(&f, "classifier", "register", path, NULL), 1);
    cr_assert_not_null(strstr(err_text, "the answer holds no classifier id"), "%s", err_text);
}

Test(ctl_control_cmd, classifier_register_checks_its_options)
{
    struct fake f = {.answers = {{201, "{\"id\":\"sha256:abc\"}"}}};
    const char *path = write_file(artifact);

    cr_assert_eq(run(&f, "classifier", "register", path, "--canary", "auto", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--canary needs --weight"), "%s", err_text);
    cr_assert_eq(run(&f, "classifier", "register", path, "--weight", "0.1", NULL), 2);
    cr_assert_not_null(strstr(err_text, "--weight and --sticky need --canary"), "%s", err_text);
    cr_assert_eq(run(&f, "classifier", "register", path, "--canary", "a", "--weight", "1", NULL),
                 2);
    cr_assert_eq(run(&f, "classifier", "register", path, "--canary", "a", "--weight", "0.1",
                     "--sticky", "header:", NULL),
                 2);
    cr_assert_not_null(strstr(err_text, "want key, user or header:NAME"), "%s", err_text);
    cr_assert_eq(run(&f, "classifier", "register", NULL), 2);
    cr_assert_eq(f.calls, 0);
    /* A file that is not JSON is not sent. */
    unlink(path);
    path = write_file("not json");
    cr_assert_eq(run(&f, "classifier", "register", path, NULL), 1);
    cr_assert_not_null(strstr(err_text, "invalid JSON"), "%s", err_text);
    cr_assert_eq(f.calls, 0);
}

Test(ctl_control_cmd, classifier_list)
{
    struct fake f = {.answers = {{200, "{\"data\":[{\"id\":\"sha256:abc\",\"registered_us\":"
                                       "1732435200000000,\"note\":\"v2\"}]}"}}};

    cr_assert_eq(run(&f, "classifier", "list", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].path, "/admin/classifiers");
    cr_assert_str_eq(out_text, "id          registered            note\n"
                               "sha256:abc  2024-11-24T08:00:00Z  v2\n");
}

Test(ctl_control_cmd, ab_promote_stop_and_set)
{
    struct fake f = {.answers = {{200, "{\"version\":20}"}}};
    const char *path;

    cr_assert_eq(run(&f, "ab", "promote", "auto", "b", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].path, "/admin/routes/auto/promote");
    cr_assert_str_eq(f.rec[0].body, "{\"arm\":\"b\"}");
    cr_assert_str_eq(out_text, "route auto: arm b promoted (configuration version 20)\n");
    f.calls = 0;
    cr_assert_eq(run(&f, "ab", "stop", "auto", "b", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].path, "/admin/routes/auto/ab/stop");
    cr_assert_str_eq(out_text, "route auto: arm b stopped (configuration version 20)\n");
    f.calls = 0;
    path = write_file("{\"name\":\"exp2\",\"sticky\":\"key\",\"arms\":[{\"name\":\"control\","
                      "\"weight\":1},{\"name\":\"b\",\"weight\":1}]}");
    cr_assert_eq(run(&f, "ab", "set", "auto", path, NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].method, "PUT");
    cr_assert_str_eq(f.rec[0].path, "/admin/routes/auto/ab");
    cr_assert_str_eq(f.rec[0].body, "{\"name\":\"exp2\",\"sticky\":\"key\",\"arms\":[{\"name\":"
                                    "\"control\",\"weight\":1},{\"name\":\"b\",\"weight\":1}]}");
    cr_assert_str_eq(out_text, "route auto: A/B split set (configuration version 20)\n");
    cr_assert_eq(run(&f, "ab", "promote", "auto", NULL), 2);
    cr_assert_eq(run(&f, "ab", "promote", "", "b", NULL), 2);
    cr_assert_eq(f.calls, 1);
}

Test(ctl_control_cmd, events)
{
    struct fake f = {.answers = {{200, "{\"data\":[{\"ts_us\":1732435200000000,\"kind\":"
                                       "\"rollback\",\"version\":14,\"message\":\"to 11\"}]}"}}};

    cr_assert_eq(run(&f, "events", "--limit", "10", NULL), 0, "%s", err_text);
    cr_assert_str_eq(f.rec[0].path, "/admin/events?limit=10");
    cr_assert_str_eq(out_text, "time                  kind      route  version  message\n"
                               "2024-11-24T08:00:00Z  rollback  -           14  to 11\n");
    f.answers[0].answer = "{\"data\":[]}";
    cr_assert_eq(run(&f, "events", NULL), 0);
    cr_assert_str_eq(out_text, "no events\n");
    f.answers[0].answer = "[1,2";
    cr_assert_eq(run(&f, "events", NULL), 1);
    cr_assert_str_eq(err_text,
                     "sluicectl: http://127.0.0.1:8070/admin/events: the answer is not JSON\n");
}

Test(ctl_control_cmd, groups_help_and_unknown_commands)
{
    struct fake f = {.answers = {{200, "{}"}}};

    cr_assert_eq(run(&f, "config", "--help", NULL), 0);
    cr_assert_not_null(strstr(out_text, "sluicectl config set FILE --reason R"), "%s", out_text);
    cr_assert_eq(run(&f, "config", NULL), 2);
    cr_assert_eq(run(&f, "config", "delete", NULL), 2);
    cr_assert_not_null(strstr(err_text, "unknown command \"delete\""), "%s", err_text);
    cr_assert_eq(run(&f, "classifier", "register", "--help", NULL), 0);
    cr_assert_not_null(strstr(out_text, "--canary ROUTE"), "%s", out_text);
    cr_assert_not_null(strstr(out_text, "SLUICE_ADMIN_KEY"), "%s", out_text);
    cr_assert_eq(run(&f, "rollout", "--help", NULL), 0);
    cr_assert_not_null(strstr(out_text, "usage: sluicectl rollout [VERSION]"), "%s", out_text);
    cr_assert_eq(run(&f, "ab", "pause", NULL), 2);
    cr_assert_eq(f.calls, 0);
}
