/* sluice-controller end to end: a real process with its ZeroMQ endpoints on ipc:// in its own
 * temp directory, its admin API over HTTP, a DEALER + SUB client in the test (a stand-in proxy),
 * a PUSH for proxy reports and an XPUB standing in for an evaluator's alerts. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clone.h"
#include "harness.h"
#include "sha256.h"

#define KEY      "test-admin-key"
#define AUTH     "Authorization: Bearer " KEY
#define HARD     "Prove that the sum of two even integers is even, step by step."
#define DEADLINE 10000 /* ms: the longest any wait below may take */
#define TIERS                                                                                      \
    "\"tiers\":[{\"name\":\"small\",\"models\":[\"small\"]},"                                      \
    "{\"name\":\"large\",\"models\":[\"large\"]}]"

static struct proc ctl;
static void *ctx, *alerts_pub;
static char endpoint_snapshot[400], endpoint_updates[400], endpoint_reports[400];
static char endpoint_alerts[400], work[128], clf_path[200];

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *text = calloc(1, 1 << 22);

    cr_assert_not_null(f, "%s", path);
    cr_assert_not_null(text);
    *len = fread(text, 1, (1 << 22) - 1, f);
    fclose(f);
    return text;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A temp directory (work) with sluice.json (route "auto": small/large, policy adjust by 0.05),
 * its classifier (threshold 0.5) and the ZeroMQ endpoints; then the controller, with its own
 * directory from the harness. */
static void start(void)
{
    char path[400];

    temp_dir(work, sizeof(work), "controller-work");
    snprintf(clf_path, sizeof(clf_path), "%s/router.json", work);
    classifier_write(clf_path, HARD, 0.5);
    snprintf(path, sizeof(path), "%s/sluice.json", work);
    write_file(path, "{\"providers\":{\"mock\":{\"base_url\":\"http://127.0.0.1:9/v1\"}},"
                     "\"models\":{\"small\":{\"price\":{\"input\":0.1,\"output\":0.2},"
                     "\"deployments\":[{\"provider\":\"mock\",\"model\":\"s\"}],"
                     "\"fallbacks\":[\"large\"]},"
                     "\"large\":{\"price\":{\"input\":1,\"output\":2},"
                     "\"deployments\":[{\"provider\":\"mock\",\"model\":\"l\"}]}},"
                     "\"routes\":{\"auto\":{\"classifier\":\"router.json\"," TIERS ","
                     "\"policy\":{\"on_alert\":\"adjust\",\"step\":0.05,\"cooldown_s\":0}}}}");
    snprintf(endpoint_snapshot, sizeof(endpoint_snapshot), "ipc://%s/snapshot.sock", work);
    snprintf(endpoint_updates, sizeof(endpoint_updates), "ipc://%s/updates.sock", work);
    snprintf(endpoint_reports, sizeof(endpoint_reports), "ipc://%s/reports.sock", work);
    snprintf(endpoint_alerts, sizeof(endpoint_alerts), "ipc://%s/alerts.sock", work);
    controller_start(&ctl,
                     "{\"sluice\":\"%s\",\"snapshot\":\"%s\",\"updates\":\"%s\","
                     "\"reports\":\"%s\",\"alerts\":[\"%s\"],\"heartbeat_ms\":50}",
                     path, endpoint_snapshot, endpoint_updates, endpoint_reports, endpoint_alerts);
}

static void init(void)
{
    setenv("SLUICE_ADMIN_KEY", KEY, 1);
    ctx = zmq_ctx_new();
    cr_assert_not_null(ctx);
}

/* The directories go when the test's process exits (harness.h). */
static void fini(void)
{
    if (alerts_pub)
        zmq_close(alerts_pub);
    alerts_pub = NULL;
    if (ctx)
        zmq_ctx_term(ctx);
    ctx = NULL;
    if (ctl.pid > 0)
        proc_stop(&ctl);
}

TestSuite(controller, .init = init, .fini = fini);

/* ---- HTTP ---- */

static void admin(struct resp *r, const char *method, const char *path, const char *body)
{
    http(r, ctl.port, method, path, body, AUTH, 0);
}

/* The admin call's JSON, asserting its status. */
static cJSON *admin_json(const char *method, const char *path, const char *body, long status)
{
    struct resp r;
    cJSON *j;

    admin(&r, method, path, body);
    cr_assert_eq(r.status, status, "%s %s: %ld %s", method ? method : "", path, r.status, r.body);
    j = resp_json(&r);
    resp_free(&r);
    return j;
}

static int number(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    cr_assert(cJSON_IsNumber(v), "no number %s", name);
    return v->valueint;
}

static int current_version(void)
{
    cJSON *j = admin_json(NULL, "/health", NULL, 200);
    int v = number(j, "version");

    cJSON_Delete(j);
    return v;
}

/* The current version's route "auto" (a copy), its version in *version. */
static cJSON *current_route(int *version)
{
    cJSON *j = admin_json(NULL, "/admin/config", NULL, 200), *route;

    *version = number(j, "version");
    route = cJSON_DetachItemFromObject(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "document"), "routes"), "auto");
    cJSON_Delete(j);
    cr_assert_not_null(route);
    return route;
}

/* A version document with route "auto" at threshold t. */
static void doc_with_threshold(char *out, size_t size, double t)
{
    snprintf(out, size,
             "{\"document\":{\"routes\":{\"auto\":{\"classifier\":\"router.json\","
             "\"thresholds\":[%g]," TIERS "}}},\"reason\":\"test\",\"author\":\"tester\"}",
             t);
}

/* Registers the classifier at path with the given note; returns its id (static). */
static const char *register_classifier(const char *path, long status)
{
    static char id[100];
    size_t len;
    char *text = read_file(path, &len);
    cJSON *j = admin_json(NULL, "/admin/classifiers?note=retrained", text, status);

    snprintf(id, sizeof(id), "%s", cJSON_GetObjectItem(j, "id")->valuestring);
    cJSON_Delete(j);
    free(text);
    return id;
}

/* ---- ZeroMQ ---- */

static void *zsocket(int type, const char *endpoint)
{
    void *s = zmq_socket(ctx, type);
    int zero = 0, timeout = DEADLINE;

    cr_assert_not_null(s);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
    cr_assert_eq(zmq_connect(s, endpoint), 0, "%s", zmq_strerror(zmq_errno()));
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    return s;
}

static void recv_clone(void *s, struct sl_clone_msg *m)
{
    int rc = sl_clone_recv(s, m, 0);
    cr_assert_eq(rc, 0, "clone message: %d", rc);
}

/* The next update that is not a heartbeat. */
static void next_update(void *sub, struct sl_clone_msg *m)
{
    for (;;) {
        recv_clone(sub, m);
        if (strcmp(m->key, SL_CLONE_HUGZ) != 0)
            return;
        sl_clone_msg_free(m);
    }
}

/* Waits for a heartbeat: once one arrives the subscription is in place. Its sequence. */
static uint64_t wait_hugz(void *sub)
{
    struct sl_clone_msg m;
    uint64_t seq;

    for (;;) {
        recv_clone(sub, &m);
        seq = m.seq;
        if (strcmp(m.key, SL_CLONE_HUGZ) == 0) {
            cr_assert_eq(m.len, 0);
            sl_clone_msg_free(&m);
            return seq;
        }
        sl_clone_msg_free(&m);
    }
}

/* The "version" of a config message. */
static int config_version(const struct sl_clone_msg *m)
{
    cJSON *j = cJSON_Parse(m->body);
    int v;

    cr_assert_str_eq(m->key, SL_CLONE_CONFIG);
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(j, "document")), "%s", m->body);
    v = number(j, "version");
    cJSON_Delete(j);
    return v;
}

/* Asks for a snapshot and reads it: the keys in keys[] (up to max, "" after), their sequences,
 * and the KTHXBAI sequence returned. The config message's version in *version. */
static uint64_t snapshot(void *dealer, char keys[][SL_CLONE_MAX_KEY], uint64_t *seqs, int max,
                         int *version)
{
    struct sl_clone_msg m;
    int n = 0;

    cr_assert_eq(zmq_send(dealer, SL_CLONE_ICANHAZ, 8, ZMQ_SNDMORE), 8);
    cr_assert_eq(zmq_send(dealer, "test-proxy", 10, 0), 10);
    for (;;) {
        uint64_t seq;
        recv_clone(dealer, &m);
        seq = m.seq;
        if (strcmp(m.key, SL_CLONE_KTHXBAI) == 0) {
            sl_clone_msg_free(&m);
            if (n < max)
                keys[n][0] = '\0';
            return seq;
        }
        if (strcmp(m.key, SL_CLONE_CONFIG) == 0)
            *version = config_version(&m);
        cr_assert_lt(n, max);
        snprintf(keys[n], SL_CLONE_MAX_KEY, "%s", m.key);
        seqs[n++] = seq;
        sl_clone_msg_free(&m);
    }
}

/* ---- tests ---- */

Test(controller, the_api_needs_the_admin_key)
{
    struct resp r;
    cJSON *j;

    start();
    http(&r, ctl.port, NULL, "/health", NULL, NULL, 0);
    cr_assert_eq(r.status, 200);
    j = resp_json(&r);
    cr_assert_eq(number(j, "version"), 1);
    cJSON_Delete(j);
    resp_free(&r);
    http(&r, ctl.port, NULL, "/admin/config", NULL, NULL, 0);
    assert_openai_error(&r, 401, "invalid_api_key");
    resp_free(&r);
    http(&r, ctl.port, NULL, "/admin/config", NULL, "Authorization: Bearer wrong", 0);
    assert_openai_error(&r, 401, "invalid_api_key");
    resp_free(&r);
    http(&r, ctl.port, NULL, "/admin/config", NULL, "x-api-key: " KEY, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    admin(&r, NULL, "/admin/nothing", NULL);
    assert_openai_error(&r, 404, "not_found");
    resp_free(&r);
    admin(&r, "DELETE", "/admin/config", NULL);
    assert_openai_error(&r, 405, "method_not_allowed");
    resp_free(&r);
    proc_stop_clean(&ctl);
}

Test(controller, versions_are_validated_diffed_and_rolled_back)
{
    char doc[1024];
    struct resp r;
    cJSON *j, *d;

    start();
    j = admin_json(NULL, "/admin/config", NULL, 200);
    cr_assert_eq(number(j, "version"), 1);
    cr_assert_str_eq(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "document"), "routes"),
                                "auto"),
            "classifier")
            ->valuestring,
        "router.json");
    cJSON_Delete(j);

    doc_with_threshold(doc, sizeof(doc), 0.4);
    j = admin_json("PUT", "/admin/config", doc, 201);
    cr_assert_eq(number(j, "version"), 2);
    d = cJSON_GetObjectItem(j, "diff");
    cr_assert(cJSON_IsArray(d));
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 0), "path")->valuestring,
                     "routes.auto.policy");
    cJSON_Delete(j);

    j = admin_json("PUT", "/admin/config", doc, 200);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "unchanged")));
    cr_assert_eq(number(j, "version"), 2);
    cJSON_Delete(j);

    doc_with_threshold(doc, sizeof(doc), 1.5);
    admin(&r, "PUT", "/admin/config", doc);
    assert_openai_error(&r, 400, "invalid_document");
    j = resp_json(&r);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")->valuestring,
                     "document: routes.auto.thresholds: must be ascending numbers between 0 and 1");
    cJSON_Delete(j);
    resp_free(&r);

    admin(&r, "PUT", "/admin/config", "{not json");
    assert_openai_error(&r, 400, "invalid_request");
    resp_free(&r);

    doc_with_threshold(doc, sizeof(doc), 0.3);
    strcpy(doc + strlen(doc) - 1, ",\"base_version\":1}");
    admin(&r, "PUT", "/admin/config", doc);
    assert_openai_error(&r, 409, "conflict");
    resp_free(&r);

    j = admin_json(NULL, "/admin/versions?limit=10", NULL, 200);
    d = cJSON_GetObjectItem(j, "data");
    cr_assert_eq(cJSON_GetArraySize(d), 2);
    cr_assert_eq(number(cJSON_GetArrayItem(d, 0), "version"), 2);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 0), "author")->valuestring,
                     "tester");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 1), "author")->valuestring,
                     "controller");
    cJSON_Delete(j);

    j = admin_json(NULL, "/admin/versions/1", NULL, 200);
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(j, "document")));
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "created_us")));
    cJSON_Delete(j);
    admin(&r, NULL, "/admin/versions/9", NULL);
    assert_openai_error(&r, 404, "not_found");
    resp_free(&r);

    j = admin_json(NULL, "/admin/rollback", "{\"version\":1}", 201);
    cr_assert_eq(number(j, "version"), 3);
    cJSON_Delete(j);
    j = admin_json(NULL, "/admin/versions/3", NULL, 200);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "reason")->valuestring, "rollback to version 1");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "author")->valuestring, "admin");
    cJSON_Delete(j);
    proc_stop_clean(&ctl);
}

Test(controller, a_proxy_gets_a_snapshot_then_every_update_in_sequence)
{
    char keys[8][SL_CLONE_MAX_KEY], doc[1024], clf[400], body[512], want_key[200];
    uint64_t seqs[8], snap_seq, seq, hugz;
    struct sl_clone_msg m;
    const char *id;
    void *dealer, *sub;
    int version = 0;

    start();
    sub = zsocket(ZMQ_SUB, endpoint_updates);
    dealer = zsocket(ZMQ_DEALER, endpoint_snapshot);
    wait_hugz(sub);

    snap_seq = snapshot(dealer, keys, seqs, 8, &version);
    cr_assert_str_eq(keys[0], SL_CLONE_CONFIG, "the file's classifier is not distributed");
    cr_assert_str_eq(keys[1], "");
    cr_assert_eq(version, 1);
    cr_assert_geq(snap_seq, seqs[0]);

    doc_with_threshold(doc, sizeof(doc), 0.4);
    cJSON_Delete(admin_json("PUT", "/admin/config", doc, 201));
    next_update(sub, &m);
    cr_assert_eq(config_version(&m), 2);
    cr_assert_eq(m.seq, snap_seq + 1, "one message, one step");
    seq = m.seq;
    sl_clone_msg_free(&m);

    /* a new classifier goes out before the version that names it */
    snprintf(clf, sizeof(clf), "%s", clf_path);
    id = register_classifier(clf, 201);
    snprintf(body, sizeof(body), "{\"classifier\":\"%s\",\"weight\":0.25}", id);
    cJSON_Delete(admin_json(NULL, "/admin/routes/auto/canary", body, 201));
    next_update(sub, &m);
    snprintf(want_key, sizeof(want_key), "clf/%s", id);
    cr_assert_str_eq(m.key, want_key);
    cr_assert_eq(m.seq, seq + 1);
    cr_assert(strstr(m.body, "\"feature_spec_hash\"") != NULL, "the artifact itself");
    sl_clone_msg_free(&m);
    next_update(sub, &m);
    cr_assert_eq(config_version(&m), 3);
    cr_assert_eq(m.seq, seq + 2);
    seq = m.seq;
    sl_clone_msg_free(&m);

    hugz = wait_hugz(sub);
    cr_assert_eq(hugz, seq, "a heartbeat carries the current sequence");

    snap_seq = snapshot(dealer, keys, seqs, 8, &version);
    cr_assert_str_eq(keys[0], want_key, "classifiers first");
    cr_assert_str_eq(keys[1], SL_CLONE_CONFIG);
    cr_assert_str_eq(keys[2], "");
    cr_assert_eq(version, 3);
    cr_assert_eq(seqs[1], seq);
    cr_assert_eq(snap_seq, seq);

    zmq_close(dealer);
    zmq_close(sub);
    proc_stop_clean(&ctl);
}

Test(controller, classifiers_are_registered_canaried_and_promoted)
{
    char clf[400], bad[400], body[512], path[256];
    size_t len, blen;
    char *text, *wrong, *hash;
    const char *id;
    struct resp r;
    cJSON *j, *route, *arms;
    int version;

    start();
    snprintf(clf, sizeof(clf), "%s", clf_path);
    id = register_classifier(clf, 201);
    cr_assert_eq(strncmp(id, "sha256:", 7), 0);
    cr_assert_str_eq(register_classifier(clf, 200), id, "the same bytes, the same id");

    /* an artifact for another feature specification */
    wrong = read_file(clf, &blen);
    hash = strstr(wrong, "\"feature_spec_hash\":\"");
    cr_assert_not_null(hash);
    hash += 21;
    hash[0] = hash[0] == '0' ? '1' : '0';
    snprintf(bad, sizeof(bad), "%s/wrong.json", work);
    write_file(bad, wrong);
    free(wrong);
    admin(&r, NULL, "/admin/classifiers", (wrong = read_file(bad, &blen)));
    assert_openai_error(&r, 400, "invalid_classifier");
    cr_assert(strstr(r.body, "feature specification") != NULL, "%s", r.body);
    resp_free(&r);
    free(wrong);

    j = admin_json(NULL, "/admin/classifiers", NULL, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 1);
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0), "note")
            ->valuestring,
        "retrained");
    cJSON_Delete(j);
    text = read_file(clf, &len);
    snprintf(path, sizeof(path), "/admin/classifiers/%s", id);
    admin(&r, NULL, path, NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, len);
    cr_assert_eq(memcmp(r.body, text, len), 0);
    resp_free(&r);

    /* a canary: 10% of calls to the registered classifier */
    snprintf(body, sizeof(body),
             "{\"classifier\":\"%s\",\"weight\":0.1,\"sticky\":\"user\",\"thresholds\":[0.4]}", id);
    cJSON_Delete(admin_json(NULL, "/admin/routes/auto/canary", body, 201));
    admin(&r, NULL, "/admin/routes/auto/canary", body);
    assert_openai_error(&r, 409, "conflict");
    resp_free(&r);
    admin(&r, NULL, "/admin/routes/nope/canary", body);
    assert_openai_error(&r, 404, "not_found");
    resp_free(&r);
    route = current_route(&version);
    cr_assert_eq(version, 2);
    arms = cJSON_GetObjectItem(cJSON_GetObjectItem(route, "ab"), "arms");
    cr_assert_eq(cJSON_GetArraySize(arms), 2);
    cr_assert_float_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(arms, 0), "weight")->valuedouble, 0.9,
                       1e-9);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(arms, 1), "classifier")->valuestring,
                     id);
    cr_assert_eq(strncmp(cJSON_GetObjectItem(cJSON_GetObjectItem(route, "ab"), "name")->valuestring,
                         "canary-", 7),
                 0);
    cJSON_Delete(route);

    /* the route still uses the file's classifier */
    admin(&r, NULL, "/admin/routes/auto/classifier", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, len);
    resp_free(&r);

    cJSON_Delete(admin_json(NULL, "/admin/routes/auto/promote", "{\"arm\":\"canary\"}", 201));
    route = current_route(&version);
    cr_assert_eq(version, 3);
    cr_assert_str_eq(cJSON_GetObjectItem(route, "classifier")->valuestring, id);
    cr_assert_float_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(route, "thresholds"), 0)->valuedouble,
                       0.4, 1e-9);
    cr_assert_null(cJSON_GetObjectItem(route, "ab"));
    cJSON_Delete(route);
    admin(&r, NULL, "/admin/routes/auto/classifier", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(memcmp(r.body, text, len), 0);
    resp_free(&r);

    /* a split set whole, then stopped arm by arm */
    cJSON_Delete(admin_json("PUT", "/admin/routes/auto/ab",
                            "{\"name\":\"ab1\",\"arms\":[{\"name\":\"a\",\"weight\":1},"
                            "{\"name\":\"b\",\"weight\":1,\"model\":\"large\"}]}",
                            201));
    admin(&r, NULL, "/admin/routes/auto/promote", "{\"arm\":\"b\"}");
    assert_openai_error(&r, 400, "invalid_request");
    resp_free(&r);
    admin(&r, NULL, "/admin/routes/auto/ab/stop", "{\"arm\":\"zzz\"}");
    assert_openai_error(&r, 404, "not_found");
    resp_free(&r);
    cJSON_Delete(admin_json(NULL, "/admin/routes/auto/ab/stop", "{\"arm\":\"b\"}", 201));
    route = current_route(&version);
    cr_assert_eq(version, 5);
    cr_assert_null(cJSON_GetObjectItem(route, "ab"), "one arm left is no split");
    cJSON_Delete(route);
    free(text);
    proc_stop_clean(&ctl);
}

/* Waits until the rollout of version lists proxy; returns it (the whole answer in *all). */
static const cJSON *wait_rollout(const char *proxy, int version, long long applied_us, cJSON **all)
{
    long long deadline = now_ms() + DEADLINE;
    char path[64];

    snprintf(path, sizeof(path), "/admin/rollout?version=%d", version);
    while (now_ms() < deadline) {
        const cJSON *p;
        *all = admin_json(NULL, path, NULL, 200);
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(*all, "proxies"))
        {
            if (strcmp(cJSON_GetObjectItem(p, "id")->valuestring, proxy) == 0 &&
                cJSON_GetObjectItem(p, "applied_us")->valuedouble == (double)applied_us)
                return p;
        }
        cJSON_Delete(*all);
        sleep_ms(10);
    }
    cr_assert_fail("proxy %s never appeared in the rollout", proxy);
    return NULL;
}

Test(controller, proxy_reports_make_the_rollout)
{
    char msg[512], doc[1024];
    long long created;
    const cJSON *p;
    cJSON *v1, *all;
    void *push, *dealer;

    start();
    v1 = admin_json(NULL, "/admin/versions/1", NULL, 200);
    created = (long long)cJSON_GetObjectItem(v1, "created_us")->valuedouble;
    cJSON_Delete(v1);
    push = zsocket(ZMQ_PUSH, endpoint_reports);
    dealer = zsocket(ZMQ_DEALER, endpoint_snapshot);

    /* garbage first: dropped, and nothing else breaks */
    cr_assert_eq(zmq_send(push, "not json", 8, 0), 8);
    cr_assert_eq(zmq_send(push, "{\"v\":1}", 7, ZMQ_SNDMORE), 7);
    cr_assert_eq(zmq_send(push, "x", 1, 0), 1);
    cr_assert_eq(zmq_send(dealer, "GIMME", 5, 0), 5);

    snprintf(msg, sizeof(msg),
             "{\"v\":1,\"proxy\":\"p1\",\"version\":1,\"applied_us\":%lld,\"error\":null}",
             created + 5000);
    cr_assert_gt(zmq_send(push, msg, strlen(msg), 0), 0);
    p = wait_rollout("p1", 1, created + 5000, &all);
    cr_assert_eq(number(p, "version"), 1);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(p, "alive")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(p, "error")));
    cr_assert_float_eq(cJSON_GetObjectItem(p, "propagation_ms")->valuedouble, 5.0, 1e-6);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(all, "complete")));
    cJSON_Delete(all);

    doc_with_threshold(doc, sizeof(doc), 0.4);
    cJSON_Delete(admin_json("PUT", "/admin/config", doc, 201));
    snprintf(msg, sizeof(msg),
             "{\"v\":1,\"proxy\":\"p1\",\"version\":1,\"applied_us\":%lld,\"error\":\"refused: "
             "broken\"}",
             created + 5001);
    cr_assert_gt(zmq_send(push, msg, strlen(msg), 0), 0);
    p = wait_rollout("p1", 2, created + 5001, &all);
    cr_assert_str_eq(cJSON_GetObjectItem(p, "error")->valuestring, "refused: broken");
    cr_assert_null(cJSON_GetObjectItem(p, "propagation_ms"), "version 2 was never applied");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(all, "complete")),
              "an alive proxy runs an older version");
    cJSON_Delete(all);

    /* a report seen long ago is not alive: heartbeat 50 ms, 3 missed */
    sleep_ms(200);
    p = wait_rollout("p1", 2, created + 5001, &all);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(p, "alive")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(all, "complete")), "only alive proxies count");
    cJSON_Delete(all);

    cr_assert_eq(current_version(), 2, "still serving");
    zmq_close(push);
    zmq_close(dealer);
    proc_stop_clean(&ctl);
}

/* Waits until the current version is want; returns route "auto"'s first threshold. */
static double wait_version(int want)
{
    long long deadline = now_ms() + DEADLINE;

    while (now_ms() < deadline) {
        int version;
        cJSON *route = current_route(&version);
        if (version == want) {
            double t = cJSON_GetArrayItem(cJSON_GetObjectItem(route, "thresholds"), 0)->valuedouble;
            cJSON_Delete(route);
            return t;
        }
        cJSON_Delete(route);
        sleep_ms(10);
    }
    cr_assert_fail("version %d never came", want);
    return 0;
}

static void publish_alert(const char *topic, const char *json)
{
    cr_assert_eq(zmq_send(alerts_pub, topic, strlen(topic), ZMQ_SNDMORE), (int)strlen(topic));
    cr_assert_eq(zmq_send(alerts_pub, json, strlen(json), 0), (int)strlen(json));
}

Test(controller, alerts_lower_a_threshold_and_its_resolution_restores_it)
{
    char sub[64];
    int timeout = DEADLINE, zero = 0;
    cJSON *events;

    start();
    /* an XPUB in the evaluator's place says when the controller's SUB has joined */
    alerts_pub = zmq_socket(ctx, ZMQ_XPUB);
    zmq_setsockopt(alerts_pub, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(alerts_pub, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
    cr_assert_eq(zmq_bind(alerts_pub, endpoint_alerts), 0, "%s", zmq_strerror(zmq_errno()));
    cr_assert_gt(zmq_recv(alerts_pub, sub, sizeof(sub), 0), 0, "the controller subscribes");
    cr_assert_eq(memcmp(sub, "\001alert.", 7), 0);

    publish_alert("alert.raised", "garbage");
    publish_alert("alert.raised", "{\"v\":1,\"id\":41,\"key\":\"tier=auto/large\","
                                  "\"route\":\"auto\",\"tier\":\"large\",\"state\":\"open\"}");
    publish_alert("alert.raised", "{\"v\":1,\"id\":42,\"key\":\"tier=auto/small\","
                                  "\"route\":\"auto\",\"tier\":\"small\",\"model\":null,"
                                  "\"arm\":null,\"severity\":\"warning\",\"state\":\"open\"}");
    cr_assert_float_eq(wait_version(2), 0.45, 1e-9);
    publish_alert("alert.resolved",
                  "{\"v\":1,\"id\":42,\"key\":\"tier=auto/small\","
                  "\"route\":\"auto\",\"tier\":\"small\",\"state\":\"resolved\"}");
    cr_assert_float_eq(wait_version(3), 0.5, 1e-9);

    /* the event follows its version */
    for (long long deadline = now_ms() + DEADLINE;; sleep_ms(10)) {
        events = admin_json(NULL, "/admin/events", NULL, 200);
        if (cJSON_GetArraySize(cJSON_GetObjectItem(events, "data")) == 3 || now_ms() > deadline)
            break;
        cJSON_Delete(events);
    }
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(events, "data")), 3);
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(events, "data"), 0), "kind")
            ->valuestring,
        "restore");
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(events, "data"), 2), "kind")
            ->valuestring,
        "notify", "the premium tier's alert");
    cJSON_Delete(events);
    events = admin_json(NULL, "/admin/versions/2", NULL, 200);
    cr_assert_str_eq(cJSON_GetObjectItem(events, "author")->valuestring, "policy");
    cr_assert_str_eq(cJSON_GetObjectItem(events, "reason")->valuestring,
                     "alert #42 raised: auto/small pass rate drift");
    cJSON_Delete(events);
    proc_stop_clean(&ctl);
}

Test(controller, versions_persist_across_a_restart)
{
    char doc[1024], keys[4][SL_CLONE_MAX_KEY];
    uint64_t seqs[4], first_seq;
    int version = 0;
    void *dealer;
    cJSON *j;

    start();
    doc_with_threshold(doc, sizeof(doc), 0.4);
    cJSON_Delete(admin_json("PUT", "/admin/config", doc, 201));
    dealer = zsocket(ZMQ_DEALER, endpoint_snapshot);
    first_seq = snapshot(dealer, keys, seqs, 4, &version);
    zmq_close(dealer);
    proc_stop_clean(&ctl);

    controller_restart(&ctl);
    cr_assert_eq(current_version(), 2);
    j = admin_json(NULL, "/admin/versions", NULL, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 2);
    cJSON_Delete(j);
    dealer = zsocket(ZMQ_DEALER, endpoint_snapshot);
    cr_assert_gt(snapshot(dealer, keys, seqs, 4, &version), first_seq,
                 "the sequence grows across restarts");
    cr_assert_eq(version, 2);
    zmq_close(dealer);
    proc_stop_clean(&ctl);
}

Test(controller, a_bad_config_is_refused_at_start)
{
    char log[4096];

    cr_assert_eq(program_start_fails("sluice-controller", "controller.json",
                                     "{\"listen\": \"127.0.0.1:0\"}", log, sizeof(log)),
                 2);
    cr_assert(strstr(log, "controller.json: sluice: is required") != NULL, "%s", log);
}

/* ---- teams and keys ---- */

/* Whether the file at path (absent: false) holds needle anywhere in its bytes. */
static bool file_holds(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    size_t len = 0, cap = 1 << 16, n;
    char *text = malloc(cap);
    bool found;

    cr_assert_not_null(text);
    if (!f) {
        free(text);
        return false;
    }
    while ((n = fread(text + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            cap *= 2;
            cr_assert_not_null((text = realloc(text, cap)));
        }
    }
    fclose(f);
    found = memmem(text, len, needle, strlen(needle)) != NULL;
    free(text);
    return found;
}

/* Whether control.db (with its write-ahead log) holds needle. */
static bool control_db_holds(const char *needle)
{
    char path[400];
    bool found;

    snprintf(path, sizeof(path), "%s/data/control.db", ctl.dir);
    cr_assert(access(path, F_OK) == 0, "%s", path);
    found = file_holds(path, needle);
    snprintf(path, sizeof(path), "%s/data/control.db-wal", ctl.dir);
    return found || file_holds(path, needle);
}

/* Asserts an OpenAI-shaped error with status and code whose message starts with want. */
static void assert_refused(const char *method, const char *path, const char *body, long status,
                           const char *code, const char *want)
{
    struct resp r;
    cJSON *j;
    const char *msg;

    admin(&r, method, path, body);
    assert_openai_error(&r, status, code);
    j = resp_json(&r);
    msg = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")->valuestring;
    cr_assert(strncmp(msg, want, strlen(want)) == 0, "%s %s: %s", path, body ? body : "", msg);
    cJSON_Delete(j);
    resp_free(&r);
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    cr_assert(cJSON_IsString(v), "no string %s", name);
    return v->valuestring;
}

/* The current document's accounts.keys.ID (a copy; NULL when it is not there). */
static cJSON *stored_key(const char *id)
{
    cJSON *j = admin_json(NULL, "/admin/config", NULL, 200), *k;

    k = cJSON_DetachItemFromObject(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "document"), "accounts"),
                            "keys"),
        id);
    cJSON_Delete(j);
    return k;
}

/* Creates a key for team; its id into id[32], its secret into secret[64]; the version. */
static int create_key(const char *team, char *id, char *secret)
{
    char body[200];
    cJSON *j;
    int v;

    snprintf(body, sizeof(body), "{\"team\":\"%s\",\"name\":\"svc\",\"limits\":{\"tpm\":1000}}",
             team);
    j = admin_json(NULL, "/admin/keys", body, 201);
    snprintf(id, 32, "%s", str(j, "id"));
    snprintf(secret, 64, "%s", str(j, "key"));
    v = number(j, "version");
    cJSON_Delete(j);
    return v;
}

Test(controller, teams_and_keys_are_versions_that_hold_no_secret)
{
    char id[32], secret[64], hex[65], path[200];
    struct resp r;
    const cJSON *d;
    cJSON *j, *k;
    double revoked;

    start();
    j = admin_json(NULL, "/admin/teams", NULL, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 0, "none yet");
    cJSON_Delete(j);

    j = admin_json(NULL, "/admin/teams",
                   "{\"name\":\"eng\",\"limits\":{\"rpm\":60},\"budget\":{\"usd\":10,"
                   "\"period\":\"day\"},\"author\":\"alice\"}",
                   200);
    cr_assert_str_eq(str(j, "name"), "eng");
    cr_assert_eq(number(cJSON_GetObjectItem(j, "limits"), "rpm"), 60);
    cr_assert_eq(number(cJSON_GetObjectItem(j, "budget"), "usd"), 10);
    cr_assert_str_eq(str(cJSON_GetObjectItem(j, "budget"), "period"), "day");
    cr_assert_eq(number(j, "version"), 2);
    cJSON_Delete(j);
    j = admin_json(NULL, "/admin/versions/2", NULL, 200);
    cr_assert_str_eq(str(j, "author"), "alice");
    cr_assert_str_eq(str(j, "reason"), "team eng set");
    cJSON_Delete(j);
    j = admin_json(NULL, "/admin/teams",
                   "{\"name\":\"eng\",\"limits\":{\"rpm\":60},\"budget\":{\"usd\":10,"
                   "\"period\":\"day\"}}",
                   200);
    cr_assert_eq(number(j, "version"), 2, "the same settings make no new version");
    cJSON_Delete(j);
    j = admin_json(NULL, "/admin/teams", NULL, 200);
    d = cJSON_GetObjectItem(j, "data");
    cr_assert_eq(cJSON_GetArraySize(d), 1);
    cr_assert_str_eq(str(cJSON_GetArrayItem(d, 0), "name"), "eng");
    cJSON_Delete(j);

    /* a key: its secret once, in the answer */
    j = admin_json(NULL, "/admin/keys", "{\"team\":\"eng\",\"name\":\"svc\"}", 201);
    snprintf(id, sizeof(id), "%s", str(j, "id"));
    snprintf(secret, sizeof(secret), "%s", str(j, "key"));
    cr_assert_eq(strncmp(secret, "sk-sluice-", 10), 0, "%s", secret);
    cr_assert_eq(strlen(secret), 50);
    cr_assert_eq(strncmp(id, "key_", 4), 0);
    cr_assert_str_eq(str(j, "team"), "eng");
    cr_assert_str_eq(str(j, "name"), "svc");
    cr_assert_eq(strncmp(str(j, "hint"), "...", 3), 0);
    cr_assert_str_eq(str(j, "hint") + 3, secret + 46, "the secret's last four characters");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "revoked")));
    cr_assert_null(cJSON_GetObjectItem(j, "sha256"));
    cr_assert_eq(number(j, "version"), 3);
    cJSON_Delete(j);
    cr_assert_eq(current_version(), 3);
    j = admin_json(NULL, "/admin/versions/3", NULL, 200);
    cr_assert_str_eq(str(j, "author"), "admin");
    snprintf(path, sizeof(path), "key %s created for team eng", id);
    cr_assert_str_eq(str(j, "reason"), path);
    cJSON_Delete(j);

    /* listed without it */
    admin(&r, NULL, "/admin/keys", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert_null(strstr(r.body, secret), "%s", r.body);
    j = resp_json(&r);
    resp_free(&r);
    d = cJSON_GetObjectItem(j, "data");
    cr_assert_eq(cJSON_GetArraySize(d), 1);
    cr_assert_str_eq(str(cJSON_GetArrayItem(d, 0), "id"), id);
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 0), "key"));
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(d, 0), "sha256"));
    cJSON_Delete(j);
    j = admin_json(NULL, "/admin/keys?team=eng", NULL, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 1);
    cJSON_Delete(j);
    j = admin_json(NULL, "/admin/keys?team=other", NULL, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 0);
    cJSON_Delete(j);

    /* the version holds the digest, and the secret is nowhere */
    sl_sha256_hex(secret, strlen(secret), hex);
    k = stored_key(id);
    cr_assert_not_null(k);
    cr_assert_str_eq(str(k, "sha256"), hex);
    cJSON_Delete(k);
    admin(&r, NULL, "/admin/config", NULL);
    cr_assert_null(strstr(r.body, secret + 10), "%s", r.body);
    resp_free(&r);
    admin(&r, NULL, "/admin/versions", NULL);
    cr_assert_null(strstr(r.body, secret + 10), "%s", r.body);
    resp_free(&r);
    cr_assert(control_db_holds(hex), "control.db has the digest (the right file is read)");
    cr_assert_not(control_db_holds(secret + 10), "control.db has the secret");
    cr_assert(file_holds(ctl.log, id), "the log names the key");
    cr_assert_not(file_holds(ctl.log, secret + 10), "the log has the secret");

    /* revoked: a new version; again: the same time, no new version */
    snprintf(path, sizeof(path), "/admin/keys/%s", id);
    j = admin_json("DELETE", path, NULL, 200);
    cr_assert_str_eq(str(j, "id"), id);
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(j, "revoked")));
    revoked = cJSON_GetObjectItem(j, "revoked")->valuedouble;
    cr_assert_gt(revoked, 1700000000);
    cr_assert_eq(number(j, "version"), 4);
    cJSON_Delete(j);
    k = stored_key(id);
    cr_assert_eq(cJSON_GetObjectItem(k, "revoked")->valuedouble, revoked);
    cJSON_Delete(k);
    sleep_ms(1100); /* a second revocation would carry another second */
    j = admin_json("DELETE", path, NULL, 200);
    cr_assert_eq(cJSON_GetObjectItem(j, "revoked")->valuedouble, revoked, "the first time stands");
    cr_assert_eq(number(j, "version"), 4);
    cJSON_Delete(j);
    cr_assert_eq(current_version(), 4);
    j = admin_json(NULL, "/admin/versions/4", NULL, 200);
    snprintf(path, sizeof(path), "key %s revoked", id);
    cr_assert_str_eq(str(j, "reason"), path);
    cJSON_Delete(j);
    assert_refused("DELETE", "/admin/keys/key_0000000000000000", NULL, 404, "key_not_found",
                   "no key with id 'key_0000000000000000'");
    proc_stop_clean(&ctl);
}

Test(controller, bad_team_and_key_requests_are_refused)
{
    start();
    assert_refused(NULL, "/admin/keys", "{\"team\":\"eng\"}", 404, "team_not_found",
                   "team: no team called 'eng'");
    cJSON_Delete(admin_json(NULL, "/admin/teams", "{\"name\":\"eng\"}", 200));
    assert_refused(NULL, "/admin/teams", "{\"name\":\"eng\",\"colour\":\"red\"}", 400,
                   "invalid_request", "colour: unknown key");
    assert_refused(NULL, "/admin/teams", "{\"name\":\"eng\",\"limits\":{\"rpm\":-1}}", 400,
                   "invalid_request", "limits.rpm: ");
    assert_refused(NULL, "/admin/teams", "{\"name\":\"eng\",\"budget\":{\"usd\":0}}", 400,
                   "invalid_request", "budget.usd: must be a number of US dollars > 0");
    assert_refused(NULL, "/admin/teams", "{\"name\":\"bad name\"}", 400, "invalid_request",
                   "'name' is required");
    assert_refused(NULL, "/admin/teams", "{\"name\":\"eng\",\"author\":\"\"}", 400,
                   "invalid_request", "'author' must be");
    assert_refused(NULL, "/admin/teams", "[1]", 400, "invalid_request",
                   "The request body must be a JSON object.");
    assert_refused(NULL, "/admin/keys", "{\"team\":\"eng\",\"oops\":1}", 400, "invalid_request",
                   "oops: unknown key");
    assert_refused(NULL, "/admin/keys", "{\"team\":\"eng\",\"limits\":{\"tpm\":-5}}", 400,
                   "invalid_request", "limits.tpm: ");
    assert_refused(NULL, "/admin/keys", "{\"name\":\"svc\"}", 400, "invalid_request",
                   "'team' is required");
    assert_refused(NULL, "/admin/keys", "{\"team\":\"nobody\"}", 404, "team_not_found",
                   "team: no team called 'nobody'");
    assert_refused(NULL, "/admin/keys", "{\"team\":\"no body\"}", 404, "team_not_found",
                   "team: no team called 'no body'");
    assert_refused("PUT", "/admin/keys", "{}", 405, "method_not_allowed", "Use GET, POST");
    assert_refused(NULL, "/admin/keys/key_1", "{}", 405, "method_not_allowed", "Use DELETE");
    cr_assert_eq(current_version(), 2, "only the good team made a version");
    proc_stop_clean(&ctl);
}

Test(controller, a_rollback_neither_drops_nor_revives_keys)
{
    char id[32], secret[64], doc[1024], path[100];
    struct resp r;
    cJSON *j, *k, *document;
    int version;

    start();
    cJSON_Delete(admin_json(NULL, "/admin/teams", "{\"name\":\"eng\"}", 200)); /* 2 */
    doc_with_threshold(doc, sizeof(doc), 0.4);
    cJSON_Delete(admin_json("PUT", "/admin/config", doc, 201)); /* 3: no accounts in it */
    j = admin_json(NULL, "/admin/teams", NULL, 200);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 1,
                 "a document without accounts keeps the team");
    cJSON_Delete(j);
    cr_assert_eq(create_key("eng", id, secret), 4);

    /* version 2 has the team but not the key */
    j = admin_json(NULL, "/admin/rollback", "{\"version\":2}", 201);
    cr_assert_eq(number(j, "version"), 5);
    cJSON_Delete(j);
    j = current_route(&version);
    cr_assert_eq(version, 5);
    cr_assert_null(cJSON_GetObjectItem(j, "thresholds"), "version 2's routes are back");
    cJSON_Delete(j);
    k = stored_key(id);
    cr_assert_not_null(k, "the key made since version 2 stays");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(k, "revoked")));
    cJSON_Delete(k);

    /* revoked, then a rollback to version 4, where it was live: it stays revoked */
    snprintf(path, sizeof(path), "/admin/keys/%s", id);
    cJSON_Delete(admin_json("DELETE", path, NULL, 200)); /* 6 */
    j = admin_json(NULL, "/admin/rollback", "{\"version\":4}", 201);
    cr_assert_eq(number(j, "version"), 7);
    cJSON_Delete(j);
    k = stored_key(id);
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(k, "revoked")), "a rollback revives no key");
    cJSON_Delete(k);

    /* nor does a whole document */
    j = admin_json(NULL, "/admin/config", NULL, 200);
    document = cJSON_DetachItemFromObject(j, "document");
    cJSON_Delete(j);
    k = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(document, "accounts"), "keys"),
                            id);
    cJSON_ReplaceItemInObject(k, "revoked", cJSON_CreateNull());
    j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "document", document);
    {
        char *body = cJSON_PrintUnformatted(j), want[200];
        snprintf(want, sizeof(want), "document: accounts.keys.%s: a revoked key stays revoked", id);
        assert_refused("PUT", "/admin/config", body, 400, "invalid_document", want);
        free(body);
    }
    cJSON_Delete(j);
    cr_assert_eq(current_version(), 7);
    admin(&r, NULL, "/admin/keys", NULL);
    cr_assert(strstr(r.body, "\"revoked\":null") == NULL, "%s", r.body);
    resp_free(&r);
    proc_stop_clean(&ctl);
}

/* Runs sluicectl with args against the controller; its output into out. The exit status. */
static int sluicectl(char *out, size_t outlen, const char *args)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "%s/sluicectl %s --url http://127.0.0.1:%d 2>&1", bin_dir(), args,
             ctl.port);
    return run_command(cmd, out, outlen);
}

Test(controller, sluicectl_manages_teams_and_keys_through_the_controller)
{
    char out[4096], id[32], args[100];
    const char *at;

    start();
    cr_assert_eq(sluicectl(out, sizeof(out), "teams set eng --rpm 7 --budget-usd 5"), 0, "%s", out);
    cr_assert_eq(sluicectl(out, sizeof(out), "teams list"), 0, "%s", out);
    cr_assert(strstr(out, "eng") != NULL, "%s", out);
    cr_assert_eq(sluicectl(out, sizeof(out), "keys create --team eng --name svc"), 0, "%s", out);
    cr_assert_not_null((at = strstr(out, "created key key_")), "%s", out);
    snprintf(id, sizeof(id), "%.20s", at + 12);
    cr_assert_not_null(strstr(out, "sk-sluice-"), "%s", out);
    cr_assert_eq(sluicectl(out, sizeof(out), "keys list --team eng"), 0, "%s", out);
    cr_assert(strstr(out, id) != NULL, "%s", out);
    cr_assert_null(strstr(out, "sk-sluice-"), "%s", out);
    snprintf(args, sizeof(args), "keys revoke %s", id);
    cr_assert_eq(sluicectl(out, sizeof(out), args), 0, "%s", out);
    cr_assert(strstr(out, "revoked key") != NULL, "%s", out);
    cr_assert_neq(sluicectl(out, sizeof(out), "keys create --team nobody"), 0, "%s", out);
    cr_assert(strstr(out, "404") != NULL, "%s", out);
    cr_assert_eq(current_version(), 4, "team, key, revocation");
    proc_stop_clean(&ctl);
}

/* GET /admin/teams shows, in the order the teams were made: eng's spending of 1.25 + 0.5, none
 * for ops, and zeta's 2 and ads's 3 (reported in another order than either). */
static void assert_spending(const cJSON *j)
{
    static const struct {
        const char *name;
        double usd; /* < 0: none */
    } want[] = {{"eng", 1.75}, {"ops", -1}, {"zeta", 2}, {"ads", 3}};
    const cJSON *data = cJSON_GetObjectItem(j, "data");

    cr_assert_eq(cJSON_GetArraySize(data), 4);
    for (int i = 0; i < 4; i++) {
        const cJSON *t = cJSON_GetArrayItem(data, i);
        cr_assert_str_eq(str(t, "name"), want[i].name);
        if (want[i].usd < 0) {
            cr_assert_null(cJSON_GetObjectItem(t, "spent_usd"), "no proxy reported %s's spending",
                           want[i].name);
            continue;
        }
        cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(t, "spent_usd")), "%s: no spending shown",
                  want[i].name);
        cr_assert_float_eq(cJSON_GetObjectItem(t, "spent_usd")->valuedouble, want[i].usd, 1e-9,
                           "%s", want[i].name);
        cr_assert_eq(number(t, "period_start"), 1700000000);
    }
}

Test(controller, a_teams_spending_is_summed_over_the_proxies_reports)
{
    const char *reports[] = {
        /* two proxies last reported eng's spending in an earlier period, which is over */
        "{\"v\":1,\"proxy\":\"p3\",\"version\":2,\"applied_us\":1,\"error\":null,"
        "\"ledger\":\"h3:/data\",\"spend\":{\"eng\":{\"since\":1699990000,\"usd\":9}}}",
        "{\"v\":1,\"proxy\":\"p4\",\"version\":2,\"applied_us\":1,\"error\":null,"
        "\"ledger\":\"h4:/data\",\"spend\":{\"eng\":{\"since\":1699990000,\"usd\":7}}}",
        "{\"v\":1,\"proxy\":\"p1\",\"version\":2,\"applied_us\":1,\"error\":null,"
        "\"ledger\":\"h1:/data\",\"spend\":{\"eng\":{\"since\":1700000000,\"usd\":1.25},"
        "\"zeta\":{\"since\":1700000000,\"usd\":2},\"ads\":{\"since\":1700000000,\"usd\":3}}}",
        "{\"v\":1,\"proxy\":\"p2\",\"version\":2,\"applied_us\":1,\"error\":null,"
        "\"ledger\":\"h2:/data\",\"spend\":{\"eng\":{\"since\":1700000000,\"usd\":0.5}}}",
    };
    const cJSON *t = NULL;
    cJSON *j = NULL;
    int linger = DEADLINE, sent = 0;
    void *push;

    start();
    cJSON_Delete(admin_json(NULL, "/admin/teams", "{\"name\":\"eng\"}", 200));
    cJSON_Delete(admin_json(NULL, "/admin/teams", "{\"name\":\"ops\"}", 200));
    cJSON_Delete(admin_json(NULL, "/admin/teams", "{\"name\":\"zeta\"}", 200));
    cJSON_Delete(admin_json(NULL, "/admin/teams", "{\"name\":\"ads\"}", 200));
    /* closed at once, sent in the background: a failed assertion below leaves no socket open
     * (fini's zmq_ctx_term would wait for it) */
    push = zsocket(ZMQ_PUSH, endpoint_reports);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof(linger));
    for (int i = 0; i < 4; i++)
        sent += zmq_send(push, reports[i], strlen(reports[i]), 0) > 0;
    zmq_close(push);
    cr_assert_eq(sent, 4);
    for (long long deadline = now_ms() + DEADLINE; now_ms() < deadline; sleep_ms(10)) {
        cJSON_Delete(j);
        j = admin_json(NULL, "/admin/teams", NULL, 200);
        t = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0);
        if (cJSON_IsNumber(cJSON_GetObjectItem(t, "spent_usd")) &&
            cJSON_GetObjectItem(t, "spent_usd")->valuedouble > 1.3 &&
            number(t, "period_start") == 1700000000)
            break;
    }
    assert_spending(j);
    cJSON_Delete(j);
    proc_stop_clean(&ctl);

    /* the proxies are gone for good: a restarted controller still counts what they spent */
    controller_restart(&ctl);
    j = admin_json(NULL, "/admin/teams", NULL, 200);
    assert_spending(j);
    cJSON_Delete(j);
    proc_stop_clean(&ctl);
}

/* ---- importing a proxy's keys ---- */

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* An import body: team eng and key id with digest hex (64 hex digits). */
static void import_body(char *out, size_t size, const char *id, const char *hex)
{
    snprintf(out, size,
             "{\"accounts\":{\"teams\":{\"eng\":{\"budget\":{\"usd\":3}}},\"keys\":{\"%s\":"
             "{\"team\":\"eng\",\"name\":\"old\",\"sha256\":\"%.64s\",\"hint\":\"...abcd\","
             "\"created\":1700000000}}}}",
             id, hex);
}

Test(controller, an_import_adds_keys_once_and_refuses_one_whose_id_or_digest_is_taken)
{
    char body[1024], msg[256];
    struct resp r;
    cJSON *j;
    int v;

    start();
    import_body(body, sizeof(body), "key_00000000000000a1", HEX_A);
    j = admin_json(NULL, "/admin/keys/import", body, 201);
    v = number(j, "version");
    cr_assert_eq(number(j, "teams"), 1);
    cr_assert_eq(number(j, "keys"), 1);
    cJSON_Delete(j);
    cr_assert_eq(current_version(), v);
    j = stored_key("key_00000000000000a1");
    cr_assert_not_null(j, "the key is in the version");
    cr_assert_str_eq(str(j, "sha256"),
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    cJSON_Delete(j);

    /* again: nothing changes */
    j = admin_json(NULL, "/admin/keys/import", body, 200);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "unchanged")));
    cr_assert_eq(number(j, "version"), v);
    cJSON_Delete(j);

    /* the same id with another digest, another id with the same digest: refused */
    import_body(body, sizeof(body), "key_00000000000000a1", HEX_B);
    admin(&r, NULL, "/admin/keys/import", body);
    assert_openai_error(&r, 409, "conflict");
    cr_assert_not_null(strstr(r.body, "key_00000000000000a1"), "%s", r.body);
    resp_free(&r);
    import_body(body, sizeof(body), "key_00000000000000b2", HEX_A);
    admin(&r, NULL, "/admin/keys/import", body);
    assert_openai_error(&r, 409, "conflict");
    cr_assert_not_null(strstr(r.body, "key_00000000000000b2"), "%s", r.body);
    resp_free(&r);
    cr_assert_eq(current_version(), v, "nothing was committed");

    /* a bad body names the member at fault */
    import_body(body, sizeof(body), "key_00000000000000c3", "not-hex");
    admin(&r, NULL, "/admin/keys/import", body);
    assert_openai_error(&r, 400, "invalid_request");
    snprintf(msg, sizeof(msg), "accounts.keys.key_00000000000000c3.sha256");
    cr_assert_not_null(strstr(r.body, msg), "%s", r.body);
    resp_free(&r);
    admin(&r, NULL, "/admin/keys/import", "{\"teams\":{}}");
    assert_openai_error(&r, 400, "invalid_request");
    resp_free(&r);
    admin(&r, "GET", "/admin/keys/import", NULL);
    cr_assert_eq(r.status, 405, "%s", r.body);
    resp_free(&r);
    cr_assert_eq(current_version(), v);
    proc_stop_clean(&ctl);
}
