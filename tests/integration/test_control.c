/* The control half end to end, with real processes on loopback: A/B splits served by proxies,
 * configuration versions from sluice-controller hot-swapped into running proxies under load,
 * a controller that goes down and comes back. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define HARD       "Prove that the spectral theorem holds for compact self-adjoint operators."
#define ADMIN_KEY  "sk-admin-control-test"
#define ADMIN_AUTH "Authorization: Bearer " ADMIN_KEY

static struct proc mock, proxy, proxy2, ctl;
static char work[128], model_path[300]; /* work: this test's temp directory */

/* The proxies' file: two models, route "auto" (cheap below 0.5, premium above) with extra
 * members spliced in, and the controller's endpoints when with_controller. */
#define PROXY_FILE PROXY_FILE_AUTH("false")
#define PROXY_FILE_AUTH(required)                                                                  \
    "{\"workers\": 2, \"log_level\": \"warn\", \"auth\": {\"required\": " required "}, %s"         \
    " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"                      \
    " \"models\": {"                                                                               \
    "  \"small\": {\"price\": {\"input\": 0.1, \"output\": 0.4},"                                  \
    "            \"deployments\": [{\"provider\": \"mock\", \"model\": \"s\"}]},"                  \
    "  \"large\": {\"price\": {\"input\": 5, \"output\": 15},"                                     \
    "            \"deployments\": [{\"provider\": \"mock\", \"model\": \"l\"}]}},"                 \
    " \"routes\": {\"auto\": {\"classifier\": \"%s\"%s,"                                           \
    "   \"tiers\": [{\"name\": \"cheap\", \"models\": [\"small\"]},"                               \
    "               {\"name\": \"premium\", \"models\": [\"large\"]}]}}}"

static void start_mock(void)
{
    temp_dir(work, sizeof(work), "control");
    snprintf(model_path, sizeof(model_path), "%s/model.json", work);
    classifier_write(model_path, HARD, 0.5);
    mock_start(&mock, NULL, 5);
}

static void stop_all(void)
{
    proc_stop_clean(&proxy);
    if (proxy2.pid)
        proc_stop_clean(&proxy2);
    if (ctl.pid)
        proc_stop_clean(&ctl);
    proc_stop(&mock);
}

/* Sends one chat call as user; returns the arm header ("" when none) in arm. */
static void chat_as(int port, const char *user, char *arm, size_t armlen)
{
    char body[512];
    struct resp r;

    snprintf(body, sizeof(body),
             "{\"model\":\"auto\",\"user\":\"%s\",\"messages\":[{\"role\":\"user\","
             "\"content\":\"hello there\"}]}",
             user);
    http(&r, port, NULL, "/v1/chat/completions", body, NULL, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    if (!resp_header(&r, "x-sluice-arm", arm, armlen))
        arm[0] = '\0';
    resp_free(&r);
}

/* --- A/B splits ------------------------------------------------------------------------------- */

#define SPLIT                                                                                      \
    ", \"ab\": {\"name\": \"exp\", \"sticky\": \"user\", \"arms\": ["                              \
    "{\"name\": \"control\", \"weight\": 7}, {\"name\": \"premium\", \"weight\": 3, "              \
    "\"model\": \"large\"}]}"

static void start_split(void)
{
    start_mock();
    proxy_start(&proxy, PROXY_FILE, "", mock.port, model_path, SPLIT);
    proxy_start(&proxy2, PROXY_FILE, "", mock.port, model_path, SPLIT);
}

Test(control, ab_split_follows_the_weights_and_keeps_each_user_in_one_arm, .init = start_split,
     .fini = stop_all)
{
    enum { USERS = 600 };
    static char first[USERS][16];
    char user[32], arm[32];
    int premium = 0, again = 0;

    for (int u = 0; u < USERS; u++) {
        snprintf(user, sizeof(user), "user-%d", u);
        chat_as(proxy.port, user, first[u], sizeof(first[u]));
        cr_assert(strcmp(first[u], "control") == 0 || strcmp(first[u], "premium") == 0, "%s",
                  first[u]);
        premium += strcmp(first[u], "premium") == 0;
    }
    /* 30% by weight; three standard deviations of a binomial share over 600 users is 0.056. */
    cr_assert(premium > USERS * 0.3 - 34 && premium < USERS * 0.3 + 34, "%d of %d in premium",
              premium, USERS);
    /* Sticky: the same user lands in the same arm again, on this proxy and on another. */
    for (int u = 0; u < USERS; u += 5) {
        snprintf(user, sizeof(user), "user-%d", u);
        chat_as(proxy.port, user, arm, sizeof(arm));
        cr_assert_str_eq(arm, first[u], "%s moved between arms", user);
        again += strcmp(arm, "premium") == 0;
        chat_as(proxy2.port, user, arm, sizeof(arm));
        cr_assert_str_eq(arm, first[u], "%s is in another arm on another proxy", user);
    }
    /* The arm is in the audit row; the premium arm's calls were served by the premium tier. */
    for (int i = 0; i < 100 && audit_count(&proxy, "1") < USERS + USERS / 5; i++)
        sleep_ms(20);
    cr_assert_eq(audit_count(&proxy, "arm = 'premium'"), premium + again);
    cr_assert_eq(audit_count(&proxy, "arm = 'premium' AND model <> 'large'"), 0);
    cr_assert_eq(audit_count(&proxy, "arm IS NULL OR arm = ''"), 0);
}

/* --- versions from the controller ---------------------------------------------------------------
 */

static char endpoints[300], eps[3][120];

/* This test's ipc endpoints (in work, made by start_mock), written into endpoints as a proxy's
 * "controller" section. */
static const char *controller_endpoints(void)
{
    const char *names[3] = {"snapshot", "updates", "reports"};

    for (int i = 0; i < 3; i++)
        snprintf(eps[i], sizeof(eps[i]), "ipc://%s/%s", work, names[i]);
    snprintf(endpoints, sizeof(endpoints),
             "\"controller\": {\"snapshot\": \"%s\", \"updates\": \"%s\", \"reports\": \"%s\","
             " \"heartbeat_ms\": 200},",
             eps[0], eps[1], eps[2]);
    return endpoints;
}

/* The controller on those endpoints (heartbeat 200 ms), validating versions against the
 * sluice.json in proxy_dir. */
static void start_controller(const char *proxy_dir)
{
    controller_endpoints();
    controller_start(&ctl,
                     "{\"sluice\": \"%s/sluice.json\", \"snapshot\": \"%s\", \"updates\": \"%s\","
                     " \"reports\": \"%s\", \"heartbeat_ms\": 200, \"log_level\": \"warn\"}",
                     proxy_dir, eps[0], eps[1], eps[2]);
}

/* Starts the mock, a proxy that follows a controller (heartbeat 200 ms) on ipc endpoints of
 * this test, and the controller, which validates versions against the proxy's own file. */
static void start_controlled(void)
{
    setenv("SLUICE_ADMIN_KEY", ADMIN_KEY, 1);
    start_mock();
    proxy_start(&proxy, PROXY_FILE, controller_endpoints(), mock.port, model_path, "");
    start_controller(proxy.dir);
}

/* The configuration version a proxy serves now, from its /health. */
static long served_version(const struct proc *p)
{
    struct resp r;
    cJSON *j, *v;
    long n;

    http(&r, p->port, NULL, "/health", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    j = resp_json(&r);
    v = cJSON_GetObjectItemCaseSensitive(j, "config_version");
    cr_assert(cJSON_IsNumber(v), "%s", r.body);
    n = (long)v->valuedouble;
    cJSON_Delete(j);
    resp_free(&r);
    return n;
}

/* Waits up to 5 s for the proxy to serve version want. */
static void wait_version(const struct proc *p, long want)
{
    long v = -1;

    for (int i = 0; i < 500 && (v = served_version(p)) != want; i++)
        sleep_ms(10);
    cr_assert_eq(v, want, "the proxy serves version %ld, not %ld", v, want);
}

/* Puts a version whose route "auto" has this threshold; returns its number. */
static long put_threshold(double t)
{
    char body[600];
    struct resp r;
    cJSON *j, *v;
    long n;

    snprintf(body, sizeof(body),
             "{\"reason\": \"test\", \"document\": {\"routes\": {\"auto\": {\"classifier\": "
             "\"%s\", \"thresholds\": [%.4f], \"tiers\": [{\"name\": \"cheap\", \"models\": "
             "[\"small\"]}, {\"name\": \"premium\", \"models\": [\"large\"]}]}}}}",
             model_path, t);
    http(&r, ctl.port, "PUT", "/admin/config", body, ADMIN_AUTH, 0);
    cr_assert_eq(r.status, 201, "%s", r.body);
    j = resp_json(&r);
    v = cJSON_GetObjectItemCaseSensitive(j, "version");
    cr_assert(cJSON_IsNumber(v), "%s", r.body);
    n = (long)v->valuedouble;
    cJSON_Delete(j);
    resp_free(&r);
    return n;
}

/* Clients that call the proxy in a loop until told to stop, counting what they get. */
struct load {
    int port;
    volatile int stop;
    long ok, failed;
    pthread_t threads[4];
    long ok_by[4], failed_by[4];
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

struct load_arg {
    struct load *l;
    int i;
};

static void *load_client(void *arg)
{
    struct load_arg *a = arg;
    struct load *l = a->l;
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char url[64];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/chat/completions", l->port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    for (long n = 0; !l->stop; n++) {
        long status = 0;
        /* alternate easy and hard prompts, so that thresholds matter */
        curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                         n % 2 ? "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
                                 "\"content\":\"" HARD "\"}]}"
                               : "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
                                 "\"content\":\"hi\"}]}");
        if (curl_easy_perform(h) == CURLE_OK &&
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200)
            l->ok_by[a->i]++;
        else
            l->failed_by[a->i]++;
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(a);
    return NULL;
}

static void load_start(struct load *l, int port)
{
    memset(l, 0, sizeof(*l));
    l->port = port;
    for (int i = 0; i < 4; i++) {
        struct load_arg *a = malloc(sizeof(*a));
        a->l = l;
        a->i = i;
        cr_assert_eq(pthread_create(&l->threads[i], NULL, load_client, a), 0);
    }
}

static void load_stop(struct load *l)
{
    l->stop = 1;
    for (int i = 0; i < 4; i++) {
        pthread_join(l->threads[i], NULL);
        l->ok += l->ok_by[i];
        l->failed += l->failed_by[i];
    }
}

Test(control, a_hundred_swaps_under_load_fail_no_request, .init = start_controlled,
     .fini = stop_all)
{
    struct load l;
    long first, last = 0;
    char where[128];

    wait_version(&proxy, 1); /* the controller's first version: the file's own routes */
    load_start(&l, proxy.port);
    sleep_ms(100);
    for (int i = 0; i < 100; i++) {
        last = put_threshold(0.2 + (i % 60) * 0.01);
        if (i == 0)
            first = last;
        sleep_ms(20);
    }
    wait_version(&proxy, last);
    sleep_ms(100);
    load_stop(&l);
    cr_assert_eq(first, 2);
    cr_assert_eq(last, 101, "every change is a new version");
    cr_assert_eq(l.failed, 0, "%ld of %ld requests failed during the swaps", l.failed,
                 l.ok + l.failed);
    cr_assert_gt(l.ok, 200, "the load was light: %ld requests", l.ok);
    /* Every row names a version that existed, and the swaps happened under the load. */
    for (int i = 0; i < 200 && audit_count(&proxy, "1") < l.ok; i++)
        sleep_ms(10);
    cr_assert_eq(audit_count(&proxy, "1"), l.ok);
    snprintf(where, sizeof(where), "config_version NOT BETWEEN 0 AND %ld", last);
    cr_assert_eq(audit_count(&proxy, where), 0);
    cr_assert_gt(audit_count(&proxy, "config_version BETWEEN 2 AND 100"), 0);
    cr_assert_gt(audit_count(&proxy, "config_version = 101"), 0);
}

Test(control, the_proxy_keeps_its_version_while_the_controller_is_down_and_catches_up,
     .init = start_controlled, .fini = stop_all)
{
    char arm[32];
    long v;

    wait_version(&proxy, 1);
    v = put_threshold(0.3);
    wait_version(&proxy, v);
    proc_stop_clean(&ctl);
    sleep_ms(800); /* four heartbeats: the proxy knows the controller is gone */
    for (int i = 0; i < 20; i++)
        chat_as(proxy.port, "u", arm, sizeof(arm));
    cr_assert_eq(served_version(&proxy), v, "still the last version");
    controller_restart(&ctl);
    cr_assert_eq(put_threshold(0.4), v + 1, "versions survive the restart");
    wait_version(&proxy, v + 1);
}

/* --- teams and keys owned by the controller --------------------------------------------------- */

/* Two proxies that take keys, following the controller. */
static void start_keyed(void)
{
    start_controlled(); /* its proxy takes no keys: replaced by two that do */
    proc_stop_clean(&proxy);
    proxy_start(&proxy, PROXY_FILE_AUTH("true"), endpoints, mock.port, model_path, "");
    proxy_start(&proxy2, PROXY_FILE_AUTH("true"), endpoints, mock.port, model_path, "");
}

/* An admin call to the controller; asserts the status and returns the body's JSON. */
static cJSON *ctl_call(const char *method, const char *path, const char *body, long status)
{
    struct resp r;
    cJSON *j;

    http(&r, ctl.port, method, path, body, ADMIN_AUTH, 0);
    cr_assert_eq(r.status, status, "%s %s: %ld %s", method, path, r.status, r.body);
    j = resp_json(&r);
    resp_free(&r);
    return j;
}

static long version_of(const cJSON *j)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
    cr_assert(cJSON_IsNumber(v), "no version in the answer");
    return (long)v->valuedouble;
}

/* Creates a key for team (with limits, a JSON object, unless NULL) through the controller: its
 * secret into secret, its id into id; returns the version that holds it. */
static long ctl_new_key(const char *team, const char *limits, char secret[64], char id[32])
{
    char body[256];
    cJSON *j;
    long v;

    snprintf(body, sizeof(body), "{\"team\": \"%s\", \"name\": \"ci\", \"limits\": %s}", team,
             limits ? limits : "null");
    j = ctl_call("POST", "/admin/keys", body, 201);
    snprintf(secret, 64, "%s", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "key")));
    snprintf(id, 32, "%s", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id")));
    v = version_of(j);
    cJSON_Delete(j);
    return v;
}

#define CHAT_HI "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"

/* The status of one chat call with secret as the key. */
static long chat_with_key(int port, const char *secret)
{
    char auth[128];
    struct resp r;
    long status;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
    http(&r, port, NULL, "/v1/chat/completions", CHAT_HI, auth, 0);
    status = r.status;
    resp_free(&r);
    return status;
}

Test(control_keys, a_key_made_and_revoked_at_the_controller_works_then_fails_on_every_proxy,
     .init = start_keyed, .fini = stop_all)
{
    struct proc *proxies[] = {&proxy, &proxy2};
    char secret[64], other[64], id[32], other_id[32], path[64];
    struct resp r;
    cJSON *j;
    long v;

    cJSON_Delete(ctl_call("POST", "/admin/teams", "{\"name\": \"search\"}", 200));
    ctl_new_key("search", NULL, other, other_id);
    v = ctl_new_key("search", NULL, secret, id);
    for (int i = 0; i < 2; i++) {
        wait_version(proxies[i], v);
        cr_assert_eq(chat_with_key(proxies[i]->port, secret), 200, "proxy %d", i);
        cr_assert_eq(chat_with_key(proxies[i]->port, "sk-sluice-unknown"), 401);
    }
    /* The proxies show the controller's keys, and refuse changes of their own. */
    http(&r, proxy.port, "GET", "/admin/keys?team=search", NULL, ADMIN_AUTH, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, id) && strstr(r.body, other_id), "%s", r.body);
    cr_assert_null(strstr(r.body, secret), "a secret is never shown again");
    resp_free(&r);
    http(&r, proxy.port, "POST", "/admin/keys", "{\"team\": \"search\"}", ADMIN_AUTH, 0);
    assert_openai_error(&r, 409, "managed_by_controller");
    resp_free(&r);

    snprintf(path, sizeof(path), "/admin/keys/%s", id);
    j = ctl_call("DELETE", path, NULL, 200);
    v = version_of(j);
    cJSON_Delete(j);
    for (int i = 0; i < 2; i++) {
        wait_version(proxies[i], v);
        cr_assert_eq(chat_with_key(proxies[i]->port, secret), 401, "proxy %d", i);
        cr_assert_eq(chat_with_key(proxies[i]->port, other), 200, "proxy %d", i);
    }

    /* A proxy restarted while the controller is away still knows them (from keys.db). */
    proc_stop_clean(&ctl);
    proc_stop_clean(&proxy2);
    proxy_restart(&proxy2);
    cr_assert_eq(chat_with_key(proxy2.port, secret), 401);
    cr_assert_eq(chat_with_key(proxy2.port, other), 200);
}

/* A team's spending as a proxy's (or the controller's) GET /admin/teams shows it. */
static double spent_at(int port, const char *team)
{
    struct resp r;
    const cJSON *t;
    cJSON *j;
    double usd = -1;

    http(&r, port, "GET", "/admin/teams", NULL, ADMIN_AUTH, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = resp_json(&r);
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(j, "data"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name")), team) == 0)
            usd = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "spent_usd"));
    }
    cJSON_Delete(j);
    resp_free(&r);
    return usd;
}

Test(control_keys, a_budget_spent_through_one_proxy_closes_the_team_on_the_others,
     .init = start_keyed, .fini = stop_all)
{
    char secret[64], id[32], auth[128];
    long v, status = 200;
    int ok = 0;
    struct resp r;

    /* each answer costs a few millionths of a dollar: the budget lasts a few calls */
    cJSON_Delete(ctl_call(
        "POST", "/admin/teams",
        "{\"name\": \"capped\", \"budget\": {\"usd\": 0.0001, \"period\": \"day\"}}", 200));
    v = ctl_new_key("capped", NULL, secret, id);
    wait_version(&proxy, v);
    wait_version(&proxy2, v);
    while (ok < 100 && (status = chat_with_key(proxy.port, secret)) == 200)
        ok++;
    cr_assert_eq(status, 429, "the budget closes the team on the proxy that spent it");
    cr_assert(ok >= 1 && ok < 100, "%d calls", ok);

    /* The other proxy learns the spending from the controller, without a call of its own. */
    for (int i = 0; i < 500 && spent_at(proxy2.port, "capped") < 0.0001; i++)
        sleep_ms(10);
    cr_assert_geq(spent_at(proxy2.port, "capped"), 0.0001);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
    http(&r, proxy2.port, NULL, "/v1/chat/completions", CHAT_HI, auth, 0);
    assert_openai_error(&r, 429, "budget_exceeded");
    resp_free(&r);
    /* The controller shows the team's spending over every proxy. */
    cr_assert_geq(spent_at(ctl.port, "capped"), 0.0001);
    cr_assert_float_eq(spent_at(ctl.port, "capped"), spent_at(proxy.port, "capped"), 1e-9);
}

/* x-ratelimit-limit-requests of one call with secret on port (0 when absent). */
static long rpm_limit_seen(int port, const char *secret)
{
    char auth[128], v[32];
    struct resp r;
    long n = 0;

    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", secret);
    http(&r, port, NULL, "/v1/chat/completions", CHAT_HI, auth, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    if (resp_header(&r, "x-ratelimit-limit-requests", v, sizeof(v)))
        n = atol(v);
    resp_free(&r);
    return n;
}

Test(control_keys, the_proxies_share_a_keys_rate_limit, .init = start_keyed, .fini = stop_all)
{
    struct proc *proxies[] = {&proxy, &proxy2};
    char probe[64], tight[64], id[32];
    long v, seen = 0;

    cJSON_Delete(ctl_call("POST", "/admin/teams",
                          "{\"name\": \"shared\", \"limits\": {\"rpm\": 1000}}", 200));
    ctl_new_key("shared", NULL, probe, id);
    v = ctl_new_key("shared", "{\"rpm\": 4}", tight, id);
    for (int i = 0; i < 2; i++) {
        wait_version(proxies[i], v);
        /* once the controller has heard from both, each admits half of the team's 1000 */
        for (int n = 0; n < 300 && (seen = rpm_limit_seen(proxies[i]->port, probe)) != 500; n++)
            sleep_ms(10);
        cr_assert_eq(seen, 500, "proxy %d", i);
    }
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(chat_with_key(proxies[i]->port, tight), 200);
        cr_assert_eq(chat_with_key(proxies[i]->port, tight), 200);
        cr_assert_eq(chat_with_key(proxies[i]->port, tight), 429, "proxy %d admits half of 4", i);
    }
}

#define HEADER_SPLIT                                                                               \
    ", \"ab\": {\"name\": \"by-tenant\", \"sticky\": \"header:x-tenant\", \"arms\": ["             \
    "{\"name\": \"a\", \"weight\": 1}, {\"name\": \"b\", \"weight\": 1, \"thresholds\": [0.9]}]}"

static void start_header_split(void)
{
    start_mock();
    proxy_start(&proxy, PROXY_FILE, "", mock.port, model_path, HEADER_SPLIT);
}

/* The arm a call with this x-tenant header gets. */
static void arm_of_tenant(int tenant, char *arm, size_t armlen)
{
    char hdr[64];
    struct resp r;

    snprintf(hdr, sizeof(hdr), "x-tenant: t%d", tenant);
    http(&r, proxy.port, NULL, "/v1/chat/completions",
         "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", hdr, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(resp_header(&r, "x-sluice-arm", arm, armlen));
    resp_free(&r);
}

Test(control, ab_split_by_header_is_sticky_per_header_value, .init = start_header_split,
     .fini = stop_all)
{
    char first[32], again[32];
    int b = 0;

    for (int t = 0; t < 400; t++) {
        arm_of_tenant(t, first, sizeof(first));
        arm_of_tenant(t, again, sizeof(again));
        cr_assert_str_eq(first, again, "tenant %d moved between arms", t);
        b += strcmp(first, "b") == 0;
    }
    /* Half by weight; three standard deviations over 400 tenants is 30. */
    cr_assert(b > 170 && b < 230, "%d of 400 tenants in b", b);
}

/* --- keys a proxy made on its own, imported into the controller ---------------------------------
 */

/* The status of an admin call to port; the answer's JSON into *out unless out is NULL. */
static long admin_call(int port, const char *method, const char *path, const char *body,
                       cJSON **out)
{
    struct resp r;
    long status;

    http(&r, port, method, path, body, ADMIN_AUTH, 0);
    status = r.status;
    if (out)
        *out = resp_json(&r);
    resp_free(&r);
    return status;
}

/* The entry of {"data": [...]} whose member name is value, or NULL. */
static const cJSON *listed(const cJSON *doc, const char *name, const char *value)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "data"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, name)), value) == 0)
            return it;
    }
    return NULL;
}

Test(control_keys, keys_a_proxy_made_are_imported_and_keep_working_behind_the_controller,
     .init = start_mock, .fini = stop_all)
{
    char secret[2][64], id[2][32], hint[2][16], keys_db[400], cmd[1200], out[4096];
    const cJSON *k;
    cJSON *j;

    /* a proxy on its own: a team with a budget, two keys, one revoked */
    setenv("SLUICE_ADMIN_KEY", ADMIN_KEY, 1);
    proxy_start(&proxy, PROXY_FILE_AUTH("true"), "", mock.port, model_path, "");
    cr_assert_eq(admin_call(proxy.port, "POST", "/admin/teams",
                            "{\"name\": \"search\", \"budget\": {\"usd\": 25}}", NULL),
                 200);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(admin_call(proxy.port, "POST", "/admin/keys",
                                "{\"team\": \"search\", \"name\": \"ci\"}", &j),
                     201);
        snprintf(secret[i], 64, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "key")));
        snprintf(id[i], 32, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")));
        snprintf(hint[i], 16, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(j, "hint")));
        cJSON_Delete(j);
    }
    snprintf(cmd, sizeof(cmd), "/admin/keys/%s", id[1]);
    cr_assert_eq(admin_call(proxy.port, "DELETE", cmd, NULL, NULL), 200);
    proc_stop_clean(&proxy);
    snprintf(keys_db, sizeof(keys_db), "%s/data/keys.db", proxy.dir);

    /* the controller, validating against that proxy's file */
    start_controller(proxy.dir);

    for (int round = 0; round < 2; round++) {
        snprintf(cmd, sizeof(cmd), "%s/sluicectl keys import %s --url http://127.0.0.1:%d 2>&1",
                 bin_dir(), keys_db, ctl.port);
        cr_assert_eq(run_command(cmd, out, sizeof(out)), 0, "%s", out);
        cr_assert_not_null(strstr(out, round ? "nothing to import: version 2"
                                             : "imported 1 teams and 2 keys as version 2"),
                           "%s", out);
    }
    cr_assert_eq(admin_call(ctl.port, "GET", "/admin/keys", NULL, &j), 200);
    for (int i = 0; i < 2; i++) {
        cr_assert_not_null((k = listed(j, "id", id[i])), "%s", id[i]);
        cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(k, "hint")), hint[i]);
        cr_assert_eq(cJSON_IsNumber(cJSON_GetObjectItem(k, "revoked")) &&
                         cJSON_GetObjectItem(k, "revoked")->valuedouble > 0,
                     i == 1, "key %d", i);
    }
    cJSON_Delete(j);
    cr_assert_eq(admin_call(ctl.port, "GET", "/admin/teams", NULL, &j), 200);
    cr_assert_not_null((k = listed(j, "name", "search")));
    cr_assert_float_eq(
        cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(k, "budget"), "usd")), 25,
        1e-9);
    cJSON_Delete(j);

    /* a proxy that follows the controller, from a fresh data directory, honours them */
    proxy_start(&proxy, PROXY_FILE_AUTH("true"), endpoints, mock.port, model_path, "");
    wait_version(&proxy, 2);
    cr_assert_eq(chat_with_key(proxy.port, secret[0]), 200);
    cr_assert_eq(chat_with_key(proxy.port, secret[1]), 401);

    /* a keys.db that is not there */
    snprintf(cmd, sizeof(cmd),
             "%s/sluicectl keys import %s/nowhere.db --url http://127.0.0.1:%d 2>&1", bin_dir(),
             proxy.dir, ctl.port);
    cr_assert_eq(run_command(cmd, out, sizeof(out)), 1, "%s", out);
    cr_assert_not_null(strstr(out, "sluicectl keys import: "), "%s", out);
    cr_assert_not_null(strstr(out, "nowhere.db: "), "%s", out);
}
