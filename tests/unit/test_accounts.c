/* Teams, keys, limits and budgets (proxy/accounts.c), on a real keys.db in a temp directory. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounts.h"
#include "auditdb.h"
#include "clock.h"

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

/* A controller's document with team t (budget 1 USD a day) and the keys given. */
static struct sl_teams_doc *doc_of(const char *keys_json)
{
    char text[2048], err[256] = "";
    struct sl_jsonconf ld = {.file = "doc", .err = err, .errlen = sizeof(err)};
    struct sl_teams_doc *d;
    cJSON *j;

    snprintf(text, sizeof(text),
             "{\"teams\": {\"t\": {\"budget\": {\"usd\": 1, \"period\": \"day\"}}}, \"keys\": "
             "{%s}}",
             keys_json);
    j = cJSON_Parse(text);
    d = sl_teams_read_doc(&ld, j, "accounts");
    cJSON_Delete(j);
    cr_assert_not_null(d, "%s", err);
    return d;
}

/* The JSON of key k as a version stores it, under its id. */
static void stored(const struct sl_key_settings *k, char *out, size_t size)
{
    cJSON *j = sl_teams_key_json(k, true);
    char *text = cJSON_PrintUnformatted(j);
    snprintf(out, size, "\"%s\": %s", k->id, text);
    free(text);
    cJSON_Delete(j);
}

Test(accounts, a_sync_makes_the_controllers_keys_the_only_live_ones_and_persists_them)
{
    struct sl_accounts *a = open_accounts();
    struct sl_key_settings k1, k2;
    struct sl_limits none = {0};
    struct sl_teams_doc *d;
    struct sl_admission ad;
    char s1[64], s2[64], local[64], j1[512], j2[512], both[1100], err[256];

    team(a, "t", none, 0);
    key(a, "t", none, local, NULL); /* made here before the controller took over */
    sl_teams_new_key(&k1, "t", "one", &none, s1);
    sl_teams_new_key(&k2, "t", "two", &none, s2);
    stored(&k1, j1, sizeof(j1));
    stored(&k2, j2, sizeof(j2));
    snprintf(both, sizeof(both), "%s, %s", j1, j2);
    d = doc_of(both);
    cr_assert_eq(sl_accounts_sync(a, d, err, sizeof(err)), 0, "%s", err);
    sl_teams_doc_destroy(d);
    cr_assert(admit(a, s1, 1, 1, &ad));
    sl_accounts_settle(a, &ad, -1, -1);
    cr_assert(admit(a, s2, 1, 2, &ad));
    sl_accounts_settle(a, &ad, -1, -1);
    cr_assert_not(admit(a, local, 1, 3, &ad), "a key the controller does not name is revoked");
    cr_assert_eq(ad.status, 401);

    /* The next version revokes k2 and drops k1: both stop, and stay stopped after a restart
     * even if a later document names k1 live again. */
    k2.revoked = 1790000000;
    stored(&k2, j2, sizeof(j2));
    d = doc_of(j2);
    cr_assert_eq(sl_accounts_sync(a, d, err, sizeof(err)), 0, "%s", err);
    sl_teams_doc_destroy(d);
    cr_assert_not(admit(a, s1, 1, 4, &ad));
    cr_assert_not(admit(a, s2, 1, 5, &ad));
    sl_accounts_destroy(a);
    a = open_accounts();
    cr_assert_not(admit(a, s1, 1, 6, &ad));
    cr_assert_not(admit(a, s2, 1, 7, &ad));
    d = doc_of(j1);
    cr_assert_eq(sl_accounts_sync(a, d, err, sizeof(err)), 0, "%s", err);
    sl_teams_doc_destroy(d);
    cr_assert_not(admit(a, s1, 1, 8, &ad), "a revoked key stays revoked");
    sl_accounts_destroy(a);
}

Test(accounts, others_spending_counts_against_the_budget_in_its_period_only)
{
    struct sl_accounts *a = open_accounts();
    int64_t today = sl_period_start(SL_PERIOD_DAY, sl_clock_wall_ms() / 1000);
    struct sl_admission ad;
    char secret[64];
    cJSON *spend;

    team(a, "t", (struct sl_limits){0}, 1.0);
    key(a, "t", (struct sl_limits){0}, secret, NULL);
    cr_assert(admit(a, secret, 1, 1, &ad));
    sl_accounts_settle(a, &ad, 1, 0.25);
    sl_accounts_set_others(a, "t", today - 86400, 5.0); /* yesterday's: over */
    cr_assert(admit(a, secret, 1, 2, &ad));
    cr_assert_float_eq(ad.budget_left_usd, 0.75, 1e-9);
    sl_accounts_settle(a, &ad, 1, -1);
    sl_accounts_set_others(a, "t", today, 0.5);
    cr_assert(admit(a, secret, 1, 3, &ad));
    cr_assert_float_eq(ad.budget_left_usd, 0.25, 1e-9);
    sl_accounts_settle(a, &ad, 1, -1);
    /* What this proxy reports is its own spending alone: the others count theirs. */
    spend = sl_accounts_spend_json(a);
    cr_assert_float_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(spend, "t"), "usd")->valuedouble,
                       0.25, 1e-9);
    cr_assert_eq(
        (int64_t)cJSON_GetObjectItem(cJSON_GetObjectItem(spend, "t"), "since")->valuedouble, today);
    cJSON_Delete(spend);
    sl_accounts_set_others(a, "t", today, 0.8);
    cr_assert_not(admit(a, secret, 1, 4, &ad));
    cr_assert_str_eq(ad.code, "budget_exceeded");
    sl_accounts_destroy(a);
}

/* Teams are found by name through an index that grows: every one of many teams, made one by
 * one or loaded at a reopen, gets its own spending and its own keys. */
Test(accounts, many_teams_are_each_found_by_name)
{
    enum { N = 300 };
    static const int probe[] = {0, 1, 63, 64, 150, N - 1};
    int64_t today = sl_period_start(SL_PERIOD_DAY, sl_clock_wall_ms() / 1000);
    struct sl_accounts *a = open_accounts();
    char name[32], secret[6][64];
    struct sl_admission ad;

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "team-%d", i);
        team(a, name, (struct sl_limits){0}, 10.0);
    }
    for (int p = 0; p < 6; p++) {
        snprintf(name, sizeof(name), "team-%d", probe[p]);
        key(a, name, (struct sl_limits){0}, secret[p], NULL);
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < N; i++) {
            snprintf(name, sizeof(name), "team-%d", i);
            sl_accounts_set_others(a, name, today, i / 100.0);
        }
        sl_accounts_set_others(a, "no-such-team", today, 1.0); /* ignored */
        for (int p = 0; p < 6; p++) {
            cr_assert(admit(a, secret[p], 1, 1, &ad), "team-%d", probe[p]);
            cr_assert_float_eq(ad.budget_left_usd, 10.0 - probe[p] / 100.0, 1e-9, "team-%d",
                               probe[p]);
            sl_accounts_settle(a, &ad, 1, -1);
        }
        sl_accounts_destroy(a);
        a = open_accounts(); /* the second pass: the teams as loaded from keys.db */
    }
    sl_accounts_destroy(a);
}

Test(accounts, proxies_sharing_limits_each_admit_their_part)
{
    struct sl_accounts *a = open_accounts();
    struct sl_admission ad;
    char secret[64];

    team(a, "t", (struct sl_limits){0}, 0);
    key(a, "t", (struct sl_limits){.rpm = 5}, secret, NULL);
    sl_accounts_set_share(a, 2); /* ceil(5 / 2) = 3 here */
    for (int i = 0; i < 3; i++) {
        cr_assert(admit(a, secret, 1, 1, &ad), "call %d", i);
        cr_assert_eq(ad.limit_req, 3);
        sl_accounts_settle(a, &ad, -1, -1);
    }
    cr_assert_not(admit(a, secret, 1, 1, &ad));
    cr_assert_eq(ad.status, 429);
    sl_accounts_destroy(a);
}

Test(accounts, a_team_moved_to_another_period_counts_that_periods_spending_from_the_audit_log)
{
    char audit[160], err[256] = "", secret[64];
    struct sl_auditdb adb;
    struct sl_audit_row row = {.status = 200, .attempts = 1, .premium_cost_usd = -1};
    int64_t now_ms = sl_clock_wall_ms();
    struct sl_team_settings t = {.budget_usd = 1.0, .period = SL_PERIOD_MONTH, .warn_at = 0.8};
    struct sl_accounts *a;
    struct sl_admission ad;

    /* 0.3 spent today; 0.5 earlier this month unless today is the 1st (then it is today too) */
    snprintf(audit, sizeof(audit), "%s/audit.db", dir);
    cr_assert_eq(sl_auditdb_open(&adb, audit, false, err, sizeof(err)), 0, "%s", err);
    snprintf(row.team, sizeof(row.team), "t");
    row.ts_ms = now_ms;
    row.cost_usd = 0.3;
    cr_assert_eq(sl_auditdb_insert(&adb, &row), 0);
    row.ts_ms = sl_period_start(SL_PERIOD_MONTH, now_ms / 1000) * 1000;
    row.cost_usd = 0.5;
    cr_assert_eq(sl_auditdb_insert(&adb, &row), 0);
    sl_auditdb_close(&adb);

    a = sl_accounts_create(keys, audit, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    snprintf(t.name, sizeof(t.name), "t");
    cr_assert_eq(sl_accounts_set_team(a, &t, NULL, err, sizeof(err)), 0, "%s", err);
    key(a, "t", (struct sl_limits){0}, secret, NULL);
    cr_assert(admit(a, secret, 1, 1, &ad));
    cr_assert_float_eq(ad.budget_left_usd, 0.2, 1e-9, "the month's 0.8 counts");
    sl_accounts_settle(a, &ad, 1, -1);

    t.period = SL_PERIOD_DAY;
    cr_assert_eq(sl_accounts_set_team(a, &t, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert(admit(a, secret, 1, 2, &ad));
    if (sl_period_start(SL_PERIOD_DAY, now_ms / 1000) >
        sl_period_start(SL_PERIOD_MONTH, now_ms / 1000))
        cr_assert_float_eq(ad.budget_left_usd, 0.7, 1e-9, "today's 0.3 counts, not 0 nor 0.8");
    else
        cr_assert_float_eq(ad.budget_left_usd, 0.2, 1e-9);
    sl_accounts_settle(a, &ad, 1, -1);
    sl_accounts_destroy(a);
}
