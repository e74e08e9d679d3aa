/* Teams, keys, limits and budgets (proxy/accounts.c), on a real keys.db in a temp directory. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounts.h"

static char dir[64], keys[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/sluice-test-accounts-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(keys, sizeof(keys), "%s/keys.db", dir);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(accounts, .init = setup, .fini = teardown);

static struct sl_accounts *open_accounts(void)
{
    char err[256] = "";
    struct sl_accounts *a = sl_accounts_create(keys, NULL, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    return a;
}

static void team(struct sl_accounts *a, const char *name, struct sl_limits l, double budget)
{
    struct sl_team_settings t = {
        .limits = l, .budget_usd = budget, .period = SL_PERIOD_DAY, .warn_at = 0.8};
    char err[256];

    snprintf(t.name, sizeof(t.name), "%s", name);
    cr_assert_eq(sl_accounts_set_team(a, &t, NULL, err, sizeof(err)), 0, "%s", err);
}

static void key(struct sl_accounts *a, const char *team_name, struct sl_limits l, char secret[64],
                char *id)
{
    char err[256];
    cJSON *out = NULL;

    cr_assert_eq(sl_accounts_create_key(a, team_name, "k", &l, secret, &out, err, sizeof(err)), 0,
                 "%s", err);
    if (id)
        strcpy(id, cJSON_GetObjectItem(out, "id")->valuestring);
    cJSON_Delete(out);
}

static bool admit(struct sl_accounts *a, const char *secret, long tokens, uint64_t now,
                  struct sl_admission *ad)
{
    return sl_accounts_admit(a, secret, strlen(secret), tokens, now, ad);
}

Test(accounts, periods_start_at_utc_midnight_monday_and_the_first)
{
    /* 2026-11-24 10:30:00 UTC is a Tuesday */
    int64_t t = 1795516200;
    cr_assert_eq(sl_period_start(SL_PERIOD_DAY, t), 1795478400); /* 2026-11-24 00:00 */
    cr_assert_eq(sl_period_end(SL_PERIOD_DAY, t), 1795478400 + 86400);
    cr_assert_eq(sl_period_start(SL_PERIOD_WEEK, t), 1795392000); /* Mon 2026-11-23 */
    cr_assert_eq(sl_period_end(SL_PERIOD_WEEK, t), 1795392000 + 7 * 86400);
    cr_assert_eq(sl_period_start(SL_PERIOD_MONTH, t), 1793491200); /* 2026-11-01 */
    cr_assert_eq(sl_period_end(SL_PERIOD_MONTH, t), 1796083200);   /* 2026-12-01 */
    /* December rolls into the next year */
    cr_assert_eq(sl_period_end(SL_PERIOD_MONTH, 1796083200 + 5), 1798761600); /* 2027-01-01 */
}

Test(accounts, unknown_and_revoked_keys_are_refused_with_401)
{
    struct sl_accounts *a = open_accounts();
    struct sl_admission ad;
    char secret[64], id[32], err[128];
    cJSON *out = NULL;

    team(a, "t", (struct sl_limits){0}, 0);
    key(a, "t", (struct sl_limits){0}, secret, id);
    cr_assert(admit(a, secret, 10, 1, &ad));
    cr_assert_str_eq(ad.team, "t");
    sl_accounts_settle(a, &ad, 10, 0.01);
    cr_assert_not(admit(a, "sk-sluice-nope", 10, 2, &ad));
    cr_assert_eq(ad.status, 401);
    cr_assert_eq(sl_accounts_revoke_key(a, id, &out, err, sizeof(err)), 0);
    cJSON_Delete(out);
    cr_assert_not(admit(a, secret, 10, 3, &ad));
    cr_assert_eq(ad.status, 401);
    cr_assert(strstr(ad.message, "revoked"));
    cr_assert_not(sl_accounts_is_key(a, secret, strlen(secret)));
    sl_accounts_destroy(a);
}

Test(accounts, keys_and_teams_survive_a_reopen_as_digests_only)
{
    struct sl_accounts *a = open_accounts();
    struct sl_admission ad;
    char secret[64];
    FILE *f;
    char *buf;
    long n;

    team(a, "kept", (struct sl_limits){.rpm = 5}, 0);
    key(a, "kept", (struct sl_limits){0}, secret, NULL);
    sl_accounts_destroy(a);
    a = open_accounts();
    cr_assert(admit(a, secret, 1, 1, &ad));
    cr_assert_eq(ad.limit_req, 5);
    cr_assert_eq(ad.remaining_req, 4);
    sl_accounts_settle(a, &ad, -1, -1);
    sl_accounts_destroy(a);
    /* the secret is nowhere in the file */
    f = fopen(keys, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    cr_assert_null(memmem(buf, (size_t)n, secret + 10, strlen(secret) - 10));
    free(buf);
}

Test(accounts, requests_per_minute_refill_over_the_minute)
{
    struct sl_accounts *a = open_accounts();
    struct sl_admission ad;
    char secret[64];
    uint64_t t0 = 1000000;

    team(a, "t", (struct sl_limits){0}, 0);
    key(a, "t", (struct sl_limits){.rpm = 6}, secret, NULL);
    for (int i = 0; i < 6; i++) {
        cr_assert(admit(a, secret, 1, t0, &ad), "request %d", i);
        sl_accounts_settle(a, &ad, -1, -1);
    }
    cr_assert_not(admit(a, secret, 1, t0, &ad));
    cr_assert_eq(ad.status, 429);
    cr_assert_eq(ad.retry_after_s, 10); /* one request every 10 s */
    cr_assert_eq(ad.remaining_req, 0);
    cr_assert_not(admit(a, secret, 1, t0 + 9000000, &ad));
    cr_assert(admit(a, secret, 1, t0 + 10000000, &ad));
    sl_accounts_settle(a, &ad, -1, -1);
    sl_accounts_destroy(a);
}

Test(accounts, token_reservations_are_corrected_by_real_usage)
{
    struct sl_accounts *a = open_accounts();
    struct sl_admission ad, ad2;
    char secret[64];

    team(a, "t", (struct sl_limits){.tpm = 1000}, 0);
    key(a, "t", (struct sl_limits){0}, secret, NULL);
    cr_assert(admit(a, secret, 800, 1, &ad));
    cr_assert_not(admit(a, secret, 800, 1, &ad2)); /* 200 left */
    cr_assert_eq(ad2.remaining_tok, 200);
    sl_accounts_settle(a, &ad, 100, -1);       /* used 100 of the 800 */
    cr_assert(admit(a, secret, 800, 1, &ad2)); /* 900 left */
    sl_accounts_settle(a, &ad2, 1500, -1);     /* a debt: 900 - 1500 */
    cr_assert_not(admit(a, secret, 1, 1, &ad));
    sl_accounts_destroy(a);
}

Test(accounts, concurrency_slots_come_back_when_calls_settle)
{
    struct sl_accounts *a = open_accounts();
    struct sl_admission ad[3];
    char secret[64];

    team(a, "t", (struct sl_limits){.concurrency = 2}, 0);
    key(a, "t", (struct sl_limits){0}, secret, NULL);
    cr_assert(admit(a, secret, 1, 1, &ad[0]));
    cr_assert(admit(a, secret, 1, 1, &ad[1]));
    cr_assert_not(admit(a, secret, 1, 1, &ad[2]));
    cr_assert(strstr(ad[2].message, "concurrent"));
    sl_accounts_settle(a, &ad[0], -1, -1);
    cr_assert(admit(a, secret, 1, 1, &ad[2]));
    sl_accounts_settle(a, &ad[1], -1, -1);
    sl_accounts_settle(a, &ad[2], -1, -1);
    sl_accounts_destroy(a);
}

Test(accounts, budget_refuses_once_spent)
{
    struct sl_accounts *a = open_accounts();
    struct sl_admission ad;
    char secret[64];

    team(a, "t", (struct sl_limits){0}, 1.0);
    key(a, "t", (struct sl_limits){0}, secret, NULL);
    cr_assert(admit(a, secret, 1, 1, &ad));
    cr_assert_float_eq(ad.budget_left_usd, 1.0, 1e-9);
    sl_accounts_settle(a, &ad, 10, 0.6);
    cr_assert(admit(a, secret, 1, 1, &ad));
    cr_assert_float_eq(ad.budget_left_usd, 0.4, 1e-9);
    sl_accounts_settle(a, &ad, 10, 0.6);
    cr_assert_not(admit(a, secret, 1, 1, &ad));
    cr_assert_eq(ad.status, 429);
    cr_assert_str_eq(ad.code, "budget_exceeded");
    cr_assert_gt(ad.retry_after_s, 0);
    cr_assert_leq(ad.retry_after_s, 86400);
    sl_accounts_destroy(a);
}

struct racer {
    struct sl_accounts *a;
    const char *secret;
    int admitted;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct sl_admission ad;

    for (int i = 0; i < 1000; i++)
        if (sl_accounts_admit(r->a, r->secret, strlen(r->secret), 1, 5, &ad))
            r->admitted++; /* never settled: each holds its request */
    return NULL;
}

Test(accounts, limits_hold_exactly_across_threads)
{
    struct sl_accounts *a = open_accounts();
    struct racer r[4];
    pthread_t t[4];
    char secret[64];
    int total = 0;

    team(a, "t", (struct sl_limits){.rpm = 1234}, 0);
    key(a, "t", (struct sl_limits){0}, secret, NULL);
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){a, secret, 0};
        pthread_create(&t[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        total += r[i].admitted;
    }
    cr_assert_eq(total, 1234);
    sl_accounts_destroy(a);
}

Test(accounts, bad_team_names_are_refused)
{
    struct sl_accounts *a = open_accounts();
    struct sl_team_settings t = {.name = "has space"};
    char err[256], secret[64];
    cJSON *out = NULL;
    struct sl_limits none = {0};

    cr_assert_eq(sl_accounts_set_team(a, &t, NULL, err, sizeof(err)), SL_EINVAL);
    cr_assert_eq(sl_accounts_create_key(a, "absent", NULL, &none, secret, &out, err, sizeof(err)),
                 SL_ENOTFOUND);
    cr_assert_null(out);
    sl_accounts_destroy(a);
}
