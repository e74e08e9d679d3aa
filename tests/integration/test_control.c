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
static char model_path[300];

/* The proxies' file: two models, route "auto" (cheap below 0.5, premium above) with extra
 * members spliced in, and the controller's endpoints when with_controller. */
#define PROXY_FILE                                                                                 \
    "{\"workers\": 2, \"log_level\": \"warn\", \"auth\": {\"required\": false}, %s"                \
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
    snprintf(model_path, sizeof(model_path), "/tmp/sluice-control-model-%d.json", (int)getpid());
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
    unlink(model_path);
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
