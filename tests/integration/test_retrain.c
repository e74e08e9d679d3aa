/* The scheduled retraining job end to end: scripts/retrain.sh against a real sluice-controller,
 * with labels in an eval.db written here, sluice-trainer and sluicectl from the build. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evaldb.h"
#include "harness.h"

#define ADMIN_KEY  "sk-admin-retrain-test"
#define ADMIN_AUTH "Authorization: Bearer " ADMIN_KEY

static struct proc ctl;
static char dir[128], baseline[300], evaldb[300];

static void fini(void)
{
    if (ctl.pid)
        proc_stop_clean(&ctl);
}

TestSuite(retrain, .fini = fini);

/* The i-th prompt's text: odd ones are proofs, which need the premium tier, even ones are
 * lookups, which do not. */
static void prompt_text(int i, char *out, size_t len)
{
    static const char *const topics[] = {"France", "Peru",  "Kenya",  "Japan", "Chile",
                                         "Norway", "Egypt", "Canada", "India", "Spain"};
    static const char *const claims[] = {
        "every prime above 2 is odd", "sqrt(2) is irrational", "there are infinitely many primes",
        "the sum of two even numbers is even", "a bounded monotone sequence converges"};

    if (i % 2)
        snprintf(out, len, "Prove that %s, step by step (case %d).", claims[i % 5], i);
    else
        snprintf(out, len, "What is the capital of %s? (%d)", topics[i % 10], i);
}

/* Labels as the evaluator makes them: a sample and its shadow verdict (the cheap answer lost
 * to the premium one on proofs). */
static void write_labels(int n)
{
    char err[256], text[256], sql[1024];
    sqlite3 *db = sl_evaldb_open(evaldb, false, err, sizeof(err));

    cr_assert_not_null(db, "%s", err);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int i = 0; i < n; i++) {
        prompt_text(i, text, sizeof(text));
        snprintf(sql, sizeof(sql),
                 "INSERT INTO samples(request_id, received_ms, ts_ms, route, tier, prompt)"
                 " VALUES('req-%d', 1, 1, 'auto', 'small',"
                 " '[{\"role\":\"user\",\"content\":\"%s\"}]');"
                 "INSERT INTO results(sample_id, scorer, ts_ms, verdict)"
                 " VALUES(last_insert_rowid(), 'shadow', 1, '%s');",
                 i, text, i % 2 ? "loss" : "win");
        cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
}

/* A controller whose route "auto" uses the classifier written for scoring like prompt. */
static void start(const char *prompt)
{
    char path[300];
    FILE *f;

    setenv("SLUICE_ADMIN_KEY", ADMIN_KEY, 1);
    temp_dir(dir, sizeof(dir), "retrain");
    snprintf(baseline, sizeof(baseline), "%s/baseline.json", dir);
    snprintf(evaldb, sizeof(evaldb), "%s/eval.db", dir);
    classifier_write(baseline, prompt, 0.5);
    snprintf(path, sizeof(path), "%s/sluice.json", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "{\"providers\": {\"p\": {\"base_url\": \"http://127.0.0.1:9/v1\"}},"
            " \"models\": {\"small\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"s\"}]},"
            "  \"large\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"l\"}]}},"
            " \"routes\": {\"auto\": {\"classifier\": \"%s\", \"tiers\": ["
            "  {\"name\": \"small\", \"models\": [\"small\"]},"
            "  {\"name\": \"large\", \"models\": [\"large\"]}]}}}",
            baseline);
    fclose(f);
    controller_start(&ctl,
                     "{\"sluice\": \"%s\", \"snapshot\": \"ipc://%s/s\", \"updates\": "
                     "\"ipc://%s/u\", \"reports\": \"ipc://%s/r\", \"log_level\": \"warn\"}",
                     path, dir, dir, dir);
    write_labels(400);
}

/* Runs scripts/retrain.sh in mode with extra environment settings; returns its exit status. */
static int retrain(const char *mode, const char *extra)
{
    char cmd[2048];
    const char *bin = getenv("SLUICE_BIN");
    int status;

    snprintf(cmd, sizeof(cmd),
             "SLUICE_BIN=%s SLUICE_EVAL_DB=%s SLUICE_DATA_DIR=%s SLUICE_RETRAIN_DIR=%s/retrain"
             " SLUICE_CONTROLLER_URL=http://127.0.0.1:%d SLUICE_RETRAIN_MODE=%s %s"
             " scripts/retrain.sh >>%s/retrain.out 2>&1",
             bin && *bin ? bin : "bin", evaldb, dir, dir, ctl.port, mode, extra, dir);
    status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static cJSON *get(const char *path)
{
    struct resp r;
    cJSON *j;

    http(&r, ctl.port, NULL, path, NULL, ADMIN_AUTH, 0);
    cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
    j = resp_json(&r);
    resp_free(&r);
    return j;
}

static const cJSON *route_auto(const cJSON *config)
{
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(config, "document"),
                                         "routes"),
        "auto");
}

Test(retrain, a_better_model_is_canaried_and_then_promoted)
{
    cJSON *list, *config;
    const cJSON *arms;
    char id[80], newest[80];

    start("What is the capital of France?"); /* scores the easy prompts high: a poor router */
    cr_assert_eq(retrain("canary", ""), 0);
    list = get("/admin/classifiers");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "data")), 1,
                 "one model registered");
    snprintf(id, sizeof(id), "%s",
             cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "data"), 0), "id")
                 ->valuestring);
    cJSON_Delete(list);
    config = get("/admin/config");
    arms = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(route_auto(config), "ab"), "arms");
    cr_assert_eq(cJSON_GetArraySize(arms), 2, "the new model runs as a canary arm");
    cr_assert_str_eq(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arms, 1), "classifier")->valuestring,
        id);
    cr_assert_str_eq(
        cJSON_GetObjectItemCaseSensitive(route_auto(config), "classifier")->valuestring, baseline,
        "the route itself still has the old one");
    cJSON_Delete(config);

    /* The route's own classifier is still the old one, so the next run compares with it. */
    cr_assert_eq(retrain("promote", ""), 0);
    list = get("/admin/classifiers");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "data")), 2);
    snprintf(newest, sizeof(newest), "%s",
             cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(list, "data"), 0), "id")
                 ->valuestring);
    cJSON_Delete(list);
    config = get("/admin/config");
    cr_assert_str_eq(
        cJSON_GetObjectItemCaseSensitive(route_auto(config), "classifier")->valuestring, newest,
        "promoted: the route now has the newest model");
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(route_auto(config), "ab"));
    cJSON_Delete(config);
}

Test(retrain, the_nightly_job_can_fit_the_gain_from_the_verdicts)
{
    cJSON *model;
    const cJSON *target;

    start("What is the capital of France?"); /* a poor router, fitted to the label */
    cr_assert_eq(retrain("promote", "SLUICE_RETRAIN_FIT_OPTIONS='--target gain'"), 0);
    model = get("/admin/routes/auto/classifier");
    target = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(model, "training"),
                                              "target");
    cr_assert(cJSON_IsString(target), "the route still has the hand-made baseline");
    cr_assert_str_eq(target->valuestring, "gain");
    cJSON_Delete(model);
}

Test(retrain, a_worse_model_is_not_registered)
{
    char extra[300], opt[400];
    cJSON *list;
    FILE *f;

    start("Prove that there are infinitely many primes."); /* a good router already */
    /* Extra training data that says the opposite of the labels: the new model learns it, and
     * loses to the current one on the held-out labels. */
    snprintf(extra, sizeof(extra), "%s/wrong.jsonl", dir);
    f = fopen(extra, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 4000; i++) {
        char text[256];
        prompt_text(i, text, sizeof(text));
        fprintf(f,
                "{\"id\":\"x%d\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],"
                "\"label\":%d,\"split\":\"train\"}\n",
                i, text, i % 2 ? 0 : 1);
    }
    fclose(f);
    snprintf(opt, sizeof(opt), "SLUICE_RETRAIN_EXTRA_DATA=%s", extra);
    cr_assert_eq(retrain("promote", opt), 0, "a worse model is not a failure");
    list = get("/admin/classifiers");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "data")), 0,
                 "nothing registered");
    cJSON_Delete(list);
}

Test(retrain, too_few_labels_is_nothing_to_do_and_a_wrong_key_fails)
{
    start("What is the capital of France?");
    cr_assert_eq(retrain("canary", "SLUICE_RETRAIN_MIN_LABELS=1000"), 0);
    cr_assert_eq(retrain("canary", "SLUICE_ADMIN_KEY=wrong"), 1);
}
