/* Tests for controller/policy: the decision (step, ceiling, clamping, cool-down, restore,
 * notify-only cases), then alerts applied to a real control.db. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classifier.h"
#include "policy.h"

#define NOW 1800000000000000LL /* Unix µs */

static struct sl_tier tiers[3] = {{.name = "small"}, {.name = "medium"}, {.name = "large"}};
static double thresholds[2];
static struct sl_route route;
static struct sl_versions_policy_row st;
static struct sl_policy_decision d;

static void init_route(void)
{
    thresholds[0] = 0.3;
    thresholds[1] = 0.6;
    route = (struct sl_route){
        .name = "auto",
        .tiers = tiers,
        .n_tiers = 3,
        .thresholds = thresholds,
        .policy = {.adjust = true, .step = 0.05, .ceiling = 0.12, .cooldown_s = 600}};
    memset(&st, 0, sizeof(st));
}

TestSuite(policy_decide, .init = init_route);

static void raise_on(const char *tier, int64_t id)
{
    struct sl_policy_alert a = {.raised = true, .id = id, .route = "auto", .tier = tier};
    sl_policy_decide(&a, &route, &st, NOW, &d);
}

static void resolve_on(const char *tier, int64_t id)
{
    struct sl_policy_alert a = {.raised = false, .id = id, .route = "auto", .tier = tier};
    sl_policy_decide(&a, &route, &st, NOW, &d);
}

Test(policy_decide, a_raised_alert_lowers_the_tiers_threshold_by_one_step)
{
    raise_on("small", 1);
    cr_assert_eq(d.action, SL_POLICY_ADJUST, "%s", d.why);
    cr_assert_eq(d.tier, 0);
    cr_assert_float_eq(d.from, 0.3, 1e-12);
    cr_assert_float_eq(d.to, 0.25, 1e-12);
    cr_assert_float_eq(d.next.shift, 0.05, 1e-12);
    raise_on("medium", 2);
    cr_assert_eq(d.action, SL_POLICY_ADJUST);
    cr_assert_eq(d.tier, 1);
    cr_assert_float_eq(d.to, 0.55, 1e-12);
}

Test(policy_decide, the_total_shift_stops_at_the_ceiling)
{
    st.shift = 0.1; /* 0.02 left of 0.12 */
    raise_on("small", 1);
    cr_assert_eq(d.action, SL_POLICY_ADJUST, "%s", d.why);
    cr_assert_float_eq(d.to, 0.28, 1e-12);
    cr_assert_float_eq(d.next.shift, 0.12, 1e-12);
    st.shift = 0.12;
    raise_on("small", 2);
    cr_assert_eq(d.action, SL_POLICY_HELD, "%s", d.why);
    cr_assert_float_eq(d.next.shift, 0.12, 1e-12, "unchanged");
}

Test(policy_decide, the_threshold_stays_above_the_one_below_it)
{
    thresholds[1] = 0.32;
    raise_on("medium", 1);
    cr_assert_eq(d.action, SL_POLICY_ADJUST, "%s", d.why);
    cr_assert_float_eq(d.to, 0.301, 1e-12);
    cr_assert_float_eq(d.next.shift, 0.019, 1e-12, "the step actually taken");
    thresholds[1] = 0.301;
    raise_on("medium", 2);
    cr_assert_eq(d.action, SL_POLICY_HELD, "no room: %s", d.why);
}

Test(policy_decide, the_first_threshold_stays_at_or_above_0_001)
{
    thresholds[0] = 0.02;
    raise_on("small", 1);
    cr_assert_eq(d.action, SL_POLICY_ADJUST, "%s", d.why);
    cr_assert_float_eq(d.to, 0.001, 1e-12);
}

Test(policy_decide, a_step_waits_for_the_routes_cool_down)
{
    st.route_last_us = NOW - 100 * 1000000LL;
    raise_on("small", 1);
    cr_assert_eq(d.action, SL_POLICY_HELD, "%s", d.why);
    cr_assert(strstr(d.why, "500 s") != NULL, "%s", d.why);
    st.route_last_us = NOW - 600 * 1000000LL;
    raise_on("small", 1);
    cr_assert_eq(d.action, SL_POLICY_ADJUST, "%s", d.why);
}

Test(policy_decide, the_premium_tier_and_alerts_without_a_tier_only_notify)
{
    struct sl_policy_alert a = {.raised = true, .id = 1, .route = "auto"};

    raise_on("large", 1);
    cr_assert_eq(d.action, SL_POLICY_NOTIFY, "%s", d.why);
    cr_assert(strstr(d.why, "premium") != NULL, "%s", d.why);
    sl_policy_decide(&a, &route, &st, NOW, &d);
    cr_assert_eq(d.action, SL_POLICY_NOTIFY, "no tier");
    a.tier = "small";
    sl_policy_decide(&a, NULL, &st, NOW, &d);
    cr_assert_eq(d.action, SL_POLICY_NOTIFY, "route not in the version");
    raise_on("tiny", 1);
    cr_assert_eq(d.action, SL_POLICY_NOTIFY, "unknown tier");
    route.policy.adjust = false;
    raise_on("small", 1);
    cr_assert_eq(d.action, SL_POLICY_NOTIFY, "notify policy");
}

Test(policy_decide, the_same_alert_twice_moves_nothing_twice)
{
    st.shift = 0.05;
    st.alert_id = 9;
    raise_on("small", 9);
    cr_assert_eq(d.action, SL_POLICY_NONE, "%s", d.why);
}

Test(policy_decide, a_resolution_restores_the_shift_without_cool_down)
{
    thresholds[0] = 0.25;
    st.shift = 0.05;
    st.route_last_us = NOW - 1;
    resolve_on("small", 1);
    cr_assert_eq(d.action, SL_POLICY_RESTORE, "%s", d.why);
    cr_assert_float_eq(d.from, 0.25, 1e-12);
    cr_assert_float_eq(d.to, 0.3, 1e-12);
    cr_assert_eq(d.next.shift, 0);
}

Test(policy_decide, a_restore_stays_below_the_next_threshold_and_one)
{
    thresholds[0] = 0.58;
    st.shift = 0.1;
    resolve_on("small", 1);
    cr_assert_eq(d.action, SL_POLICY_RESTORE, "%s", d.why);
    cr_assert_float_eq(d.to, 0.599, 1e-12);
    thresholds[1] = 0.95;
    resolve_on("medium", 1);
    cr_assert_eq(d.action, SL_POLICY_RESTORE, "%s", d.why);
    cr_assert_float_eq(d.to, 0.999, 1e-12);
}

Test(policy_decide, a_resolution_with_nothing_shifted_does_nothing)
{
    resolve_on("small", 1);
    cr_assert_eq(d.action, SL_POLICY_NONE, "%s", d.why);
    st.shift = 0.05;
    {
        struct sl_policy_alert a = {.raised = false, .id = 1, .route = "auto", .tier = "small"};
        sl_policy_decide(&a, NULL, &st, NOW, &d);
    }
    cr_assert_eq(d.action, SL_POLICY_NOTIFY, "the route went away: %s", d.why);
    cr_assert_eq(d.next.shift, 0, "the shift is forgotten");
}

/* A drift back within the cool-down after a restore keeps its shift when it resolves: the
 * threshold does not swing with every alert while the cause persists. */
Test(policy_decide, a_drift_back_soon_after_a_restore_keeps_its_shift)
{
    st.restored_us = NOW - 60 * 1000000LL; /* restored a minute ago; cool-down 600 s */
    st.set_to = 0.3;
    raise_on("small", 2);
    cr_assert_eq(d.action, SL_POLICY_ADJUST, "%s", d.why);
    cr_assert(d.next.keep, "%s", d.why);
    cr_assert_not_null(strstr(d.why, "stays"), "%s", d.why);
    cr_assert_float_eq(d.next.set_to, 0.25, 1e-12);
    st = d.next;
    thresholds[0] = 0.25;
    resolve_on("small", 2);
    cr_assert_eq(d.action, SL_POLICY_NOTIFY, "kept, not restored: %s", d.why);
    cr_assert_float_eq(d.next.shift, 0.05, 1e-12);
    cr_assert(d.next.keep);
}

Test(policy_decide, a_drift_long_after_a_restore_is_restored_as_usual)
{
    st.restored_us = NOW - 3600 * 1000000LL;
    raise_on("small", 2);
    cr_assert_eq(d.action, SL_POLICY_ADJUST, "%s", d.why);
    cr_assert_not(d.next.keep, "%s", d.why);
    st = d.next;
    thresholds[0] = 0.25;
    resolve_on("small", 2);
    cr_assert_eq(d.action, SL_POLICY_RESTORE, "%s", d.why);
    cr_assert_eq(d.next.restored_us, NOW);
    cr_assert_not(d.next.keep);
}

/* A threshold edited by hand since the policy wrote it: the policy's shift (and a kept one)
 * no longer describes it, so nothing is restored and the next step starts from zero. */
Test(policy_decide, a_threshold_edited_by_hand_resets_the_policys_state)
{
    st.shift = 0.1;
    st.keep = true;
    st.set_to = 0.2; /* the policy left it at 0.2; someone set 0.3 since */
    resolve_on("small", 3);
    cr_assert_eq(d.action, SL_POLICY_NONE, "%s", d.why);
    cr_assert_eq(d.next.shift, 0);
    cr_assert_not(d.next.keep);
    raise_on("small", 4);
    cr_assert_eq(d.action, SL_POLICY_ADJUST, "%s", d.why);
    cr_assert_float_eq(d.next.shift, 0.05, 1e-12, "a full ceiling's room again");
}

/* ---- alerts applied to control.db ---- */

static char dir[64];
static struct sl_versions *vs;

static void setup_db(void)
{
    char sluice[128], data[128], clf[128], err[1024];
    float *w = calloc(SL_FEATURES_DIM, sizeof(float));
    double t = 0.5;
    FILE *f;

    snprintf(dir, sizeof(dir), "/tmp/sluice-test-policy-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sluice, sizeof(sluice), "%s/sluice.json", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(clf, sizeof(clf), "%s/router.json", dir);
    cr_assert_eq(
        sl_classifier_save(clf, w, -1, SL_MESSAGES_LAST_USER, &t, 1, NULL, NULL, err, sizeof(err)),
        0, "%s", err);
    free(w);
    f = fopen(sluice, "w");
    cr_assert_not_null(f);
    fputs("{\"providers\": {\"p\": {\"base_url\": \"http://127.0.0.1:9/v1\"}},"
          " \"models\": {\"small\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"s\"}]},"
          "  \"large\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"l\"}]}},"
          " \"routes\": {\"auto\": {\"classifier\": \"router.json\","
          "  \"tiers\": [{\"name\": \"small\", \"models\": [\"small\"]},"
          "   {\"name\": \"large\", \"models\": [\"large\"]}],"
          "  \"policy\": {\"on_alert\": \"adjust\", \"step\": 0.1, \"cooldown_s\": 0}}}}",
          f);
    fclose(f);
    vs = sl_versions_open(data, sluice, err, sizeof(err));
    cr_assert_not_null(vs, "%s", err);
}

static void teardown_db(void)
{
    char cmd[128];

    sl_versions_close(vs);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(policy_alerts, .init = setup_db, .fini = teardown_db);

static int64_t alert(const char *topic, const char *json)
{
    int64_t version = -1;

    cr_assert_eq(sl_policy_on_alert(vs, topic, json, strlen(json), NOW, &version), 0);
    return version;
}

static double threshold0(void)
{
    double t[2];
    size_t n;

    cr_assert_eq(sl_versions_thresholds(vs, "auto", t, 2, &n), 0);
    return t[0];
}

Test(policy_alerts, raised_then_resolved_commits_two_versions)
{
    struct sl_versions_entry e;
    struct sl_versions_policy_row row;
    cJSON *events;

    cr_assert_eq(alert("alert.raised", "{\"v\":1,\"id\":4,\"key\":\"tier=auto/small\","
                                       "\"route\":\"auto\",\"tier\":\"small\",\"model\":null}"),
                 2);
    cr_assert_float_eq(threshold0(), 0.4, 1e-12);
    cr_assert_eq(sl_versions_get(vs, 2, false, &e), 0);
    cr_assert_str_eq(e.author, "policy");
    cr_assert_str_eq(e.reason, "alert #4 raised: auto/small pass rate drift");
    sl_versions_entry_free(&e);
    cr_assert_eq(sl_versions_policy_get(vs, "auto", "small", &row), 0);
    cr_assert_float_eq(row.shift, 0.1, 1e-12);
    cr_assert_eq(row.last_us, NOW);

    cr_assert_eq(
        alert("alert.resolved", "{\"v\":1,\"id\":4,\"route\":\"auto\",\"tier\":\"small\"}"), 3);
    cr_assert_float_eq(threshold0(), 0.5, 1e-12);
    cr_assert_eq(sl_versions_get(vs, 3, false, &e), 0);
    cr_assert_str_eq(e.reason, "alert #4 resolved: auto/small");
    sl_versions_entry_free(&e);
    cr_assert_eq(sl_versions_policy_get(vs, "auto", "small", &row), 0);
    cr_assert_eq(row.shift, 0);

    events = sl_versions_events_json(vs, 10);
    cr_assert_eq(cJSON_GetArraySize(events), 2);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(events, 0), "kind")->valuestring,
                     "restore");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(events, 1), "kind")->valuestring,
                     "adjust");
    cJSON_Delete(events);
}

Test(policy_alerts, an_alert_on_the_premium_tier_is_an_event_only)
{
    cJSON *events;

    cr_assert_eq(alert("alert.raised", "{\"v\":1,\"id\":5,\"route\":\"auto\",\"tier\":\"large\"}"),
                 0);
    cr_assert_eq(alert("alert.raised", "{\"v\":1,\"id\":6,\"route\":null,\"model\":\"small\"}"), 0);
    cr_assert_eq(sl_versions_current(vs, NULL), 1);
    events = sl_versions_events_json(vs, 10);
    cr_assert_eq(cJSON_GetArraySize(events), 2);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(events, 1), "kind")->valuestring,
                     "notify");
    cJSON_Delete(events);
}

Test(policy_alerts, malformed_alerts_are_refused)
{
    static const char *const bad[] = {"not json", "[]", "{\"v\":2,\"id\":1}",
                                      "{\"v\":1,\"id\":\"x\"}",
                                      "{\"v\":1,\"id\":1,\"route\":5,\"tier\":\"small\"}"};
    int64_t version;

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        cr_assert_eq(sl_policy_on_alert(vs, "alert.raised", bad[i], strlen(bad[i]), NOW, &version),
                     SL_EPARSE, "%s", bad[i]);
    cr_assert_eq(sl_policy_on_alert(vs, "alert.other", "{\"v\":1,\"id\":1}", 15, NOW, &version),
                 SL_EPARSE);
    cr_assert_eq(sl_versions_current(vs, NULL), 1);
}
