/* sluice-evaluator end to end: a real process PULLing on an ipc:// endpoint in its own temp
 * directory, samples PUSHed from the test over a real ZeroMQ socket, eval.db read back; the
 * judge and the premium model are bin/mockllm (its deterministic "mock-judge"). */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"

#define BAD "Sorry, I cannot answer that precisely."

static struct proc ev, mock;
static void *ctx, *push;
static char cfg_path[300], endpoint[400];

static void dump_log(const struct proc *p)
{
    char buf[8192];
    FILE *f = fopen(p->log, "r");
    size_t n;

    if (!f)
        return;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    cr_log_error("%s:\n%s", p->log, buf);
}

/* The evaluator's stderr so far ("" before the process opened it), for the caller to free. */
static char *read_log(const struct proc *p)
{
    FILE *f = fopen(p->log, "r");
    char *text = calloc(1, 1 << 20);
    size_t n;

    cr_assert_not_null(text);
    if (!f)
        return text;
    n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* Starts sluice-evaluator -c cfg_path with stderr to ev.log; waits for its start line. */
static void spawn_evaluator(void)
{
    char exe[512];

    snprintf(exe, sizeof(exe), "%s/sluice-evaluator", bin_dir());
    proc_spawn(&ev, (char *[]){exe, "-c", cfg_path, NULL});
    for (int i = 0; i < 1500; i++) {
        char *log = read_log(&ev);
        int status;
        /* the start line comes after eval.db is open and the socket bound */
        bool up = strstr(log, "pulling samples") != NULL;
        free(log);
        if (up)
            return;
        if (child_wait(ev.pid, &status, WNOHANG) == ev.pid) {
            ev.pid = 0;
            dump_log(&ev);
            cr_assert_fail("sluice-evaluator exited during start-up (status %d)", status);
        }
        sleep_ms(10);
    }
    dump_log(&ev);
    cr_assert_fail("sluice-evaluator did not start in 15 s");
}

/* Writes evaluator.json from fmt (printf-style, after the listen/publish/data_dir members,
 * which it must continue with a comma or close) and starts the evaluator. */
static void evaluator_start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void evaluator_start(const char *fmt, ...)
{
    char rest[8192];
    FILE *f;
    va_list ap;

    temp_dir(ev.dir, sizeof(ev.dir), "evaluator");
    snprintf(ev.log, sizeof(ev.log), "%s/stderr.log", ev.dir);
    snprintf(cfg_path, sizeof(cfg_path), "%s/evaluator.json", ev.dir);
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/samples.sock", ev.dir);
    va_start(ap, fmt);
    vsnprintf(rest, sizeof(rest), fmt, ap);
    va_end(ap);
    f = fopen(cfg_path, "w");
    cr_assert_not_null(f);
    fprintf(
        f, "{\"listen\": [\"%s\"], \"publish\": \"ipc://%s/alerts.sock\", \"data_dir\": \"data\"%s",
        endpoint, ev.dir, rest);
    fclose(f);
    spawn_evaluator();
}

static void push_connect(void)
{
    int linger = 5000;

    if (!ctx)
        ctx = zmq_ctx_new();
    push = zmq_socket(ctx, ZMQ_PUSH);
    cr_assert_not_null(push);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof(linger));
    cr_assert_eq(zmq_connect(push, endpoint), 0, "%s", zmq_strerror(zmq_errno()));
}

static void push_close(void)
{
    if (push)
        zmq_close(push);
    push = NULL;
}

static void fini(void)
{
    push_close();
    if (ctx)
        zmq_ctx_term(ctx);
    ctx = NULL;
    if (ev.pid > 0)
        proc_stop(&ev);
    if (mock.pid > 0)
        proc_stop(&mock);
}

TestSuite(evaluator, .fini = fini, .timeout = 90);

static void send_text(const char *text)
{
    cr_assert_eq(zmq_send(push, text, strlen(text), 0), (int)strlen(text));
}

/* Sends one sample answered by tier ("large" is the premium tier) with status and
 * finish_reason; the strings are put in JSON as they are (no quotes or backslashes). */
static void send_full(const char *id, const char *tier, const char *answer, int status,
                      const char *finish, bool json_mode)
{
    char msg[8192];
    bool premium = strcmp(tier, "large") == 0;

    snprintf(msg, sizeof(msg),
             "{\"v\":1,\"ts_ms\":1764000000000,\"request_id\":\"%s\",\"team\":\"t\","
             "\"route\":\"auto\",\"tier\":\"%s\",\"tier_index\":%d,\"premium_tier\":\"large\","
             "\"model\":\"%s\",\"deployment\":\"mock/m\",\"arm\":null,\"score\":0.3,"
             "\"thresholds\":[0.5],\"config_version\":0,\"status\":%d,\"error\":%s,"
             "\"json_mode\":%s,\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
             "{\"role\":\"user\",\"content\":\"What is the capital of France?\"}],"
             "\"answer\":\"%s\",\"finish_reason\":\"%s\",\"latency_ms\":120,\"tokens_in\":12,"
             "\"tokens_out\":8,\"cost_usd\":0.0001}",
             id, tier, premium, premium ? "big" : "small", status,
             status >= 400 ? "\"upstream_failed\"" : "null", json_mode ? "true" : "false", answer,
             finish);
    send_text(msg);
}

/* A sample with a complete answer. */
static void send_sample(const char *id, const char *tier, const char *answer)
{
    send_full(id, tier, answer, 200, "stop", false);
}

static sqlite3 *open_db(void)
{
    char path[400];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/data/eval.db", ev.dir);
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s", path);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The first column of the first row of sql as an integer (-1: no row). */
static long long query_int(const char *sql)
{
    sqlite3 *db = open_db();
    sqlite3_stmt *q = NULL;
    long long v = -1;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_type(q, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* The first column of the first row of sql as text, "(none)" without a row, "(null)". */
static void query_text(const char *sql, char *out, size_t outlen)
{
    sqlite3 *db = open_db();
    sqlite3_stmt *q = NULL;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    if (sqlite3_step(q) == SQLITE_ROW)
        snprintf(out, outlen, "%s",
                 sqlite3_column_type(q, 0) == SQLITE_NULL
                     ? "(null)"
                     : (const char *)sqlite3_column_text(q, 0));
    else
        snprintf(out, outlen, "(none)");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* Waits until sql counts want (15 s at most). */
static void wait_count(const char *sql, long long want)
{
    long long n = -1;

    for (int i = 0; i < 1500; i++) {
        if ((n = query_int(sql)) == want)
            return;
        sleep_ms(10);
    }
    dump_log(&ev);
    cr_assert_fail("%s: %lld, want %lld", sql, n, want);
}

/* The rules result of a request: "pass" or the failed rule's name. */
static void rules_result(const char *request_id, char *out, size_t outlen)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT CASE r.pass WHEN 1 THEN 'pass' ELSE r.reason END FROM results r JOIN "
             "samples s ON s.id = r.sample_id WHERE s.request_id = '%s' AND r.scorer = 'rules'",
             request_id);
    query_text(sql, out, outlen);
}

static void assert_rule(const char *request_id, const char *want)
{
    char got[128];

    rules_result(request_id, got, sizeof(got));
    cr_assert_str_eq(got, want, "%s", request_id);
}

Test(evaluator, stores_each_sample_once_with_its_rule_result)
{
    char *log;

    evaluator_start("}");
    push_connect();
    send_sample("good", "small", "Paris.");
    send_sample("good", "small", "Paris, again.");
    send_sample("refused", "small", "I'm sorry, but I can't help with that.");
    send_full("cut", "small", "The capital is", 200, "length", false);
    send_full("json", "small", "{name: Paris}", 200, "stop", true);
    send_full("failed", "small", "", 502, "", false);
    send_sample("blank", "small", "  ");
    send_text("not json at all");
    send_text("{\"v\":1,\"ts_ms\":1,\"route\":\"auto\",\"tier\":\"small\",\"premium_tier\":"
              "\"large\",\"thresholds\":[],\"status\":200,\"messages\":[],"
              "\"answer\":\"secret answer text\"}");
    send_sample("last", "large", "Paris.");
    wait_count("SELECT count(*) FROM samples", 7);
    wait_count("SELECT count(*) FROM results", 7);
    assert_rule("good", "pass");
    assert_rule("refused", "refusal");
    assert_rule("cut", "truncated");
    assert_rule("json", "invalid_json");
    assert_rule("failed", "upstream_error");
    assert_rule("blank", "empty");
    assert_rule("last", "pass");
    cr_assert_eq(query_int("SELECT count(*) FROM samples WHERE request_id = 'good' AND answer = "
                           "'Paris.'"),
                 1, "the first of two with the same request_id is kept");
    cr_assert_eq(query_int("SELECT count(*) FROM results WHERE scorer <> 'rules'"), 0);
    proc_stop_clean(&ev);
    log = read_log(&ev);
    cr_assert(strstr(log, "received=10 invalid=2 stored=7 duplicates=1"), "%s", log);
    cr_assert(strstr(log, ": not a JSON object"), "%s", log);
    cr_assert(strstr(log, ": request_id: required string"), "%s", log);
    cr_assert_null(strstr(log, "secret answer text"), "no payload text in logs: %s", log);
    free(log);
}

Test(evaluator, a_restart_or_a_crash_loses_nothing_committed)
{
    char id[32];

    evaluator_start("}");
    push_connect();
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "first-%d", i);
        send_sample(id, "small", i % 3 ? "Paris." : BAD);
    }
    wait_count("SELECT count(*) FROM results", 300);
    proc_stop_clean(&ev);
    spawn_evaluator();
    for (int i = 200; i < 400; i++) { /* 100 seen before, 100 new */
        snprintf(id, sizeof(id), "first-%d", i);
        send_sample(id, "small", "Paris.");
    }
    wait_count("SELECT count(*) FROM results", 400);
    /* what a reader has seen is committed: it survives even a SIGKILL */
    kill(ev.pid, SIGKILL);
    child_wait(ev.pid, NULL, 0);
    ev.pid = 0;
    spawn_evaluator();
    cr_assert_eq(query_int("SELECT count(*) FROM samples"), 400);
    cr_assert_eq(query_int("SELECT count(*) FROM results WHERE scorer = 'rules' AND pass = 0"),
                 100);
    cr_assert_eq(query_int("SELECT count(DISTINCT sample_id) FROM results"), 400);
    send_sample("after-crash", "small", "Paris.");
    wait_count("SELECT count(*) FROM samples", 401);
    proc_stop_clean(&ev);
}

/* The mock provider: "mock-judge" judges, "premium-bad" answers badly, "slow-judge" takes
 * 1.5 s, "broken-judge" fails with 500, "hanging-judge" never answers; other names answer
 * prose. */
static void start_mock(void)
{
    mock_start(&mock,
               "{\"models\": {\"*\": {}, \"mock-judge\": {},"
               " \"premium-bad\": {\"p_bad\": 1},"
               " \"slow-judge\": {\"judge\": true, \"ttft_ms\": 1500},"
               " \"broken-judge\": {\"judge\": true, \"p_500\": 1},"
               " \"hanging-judge\": {\"judge\": true, \"p_hang\": 1}}}",
               7);
}

/* The evaluator with judge model judge (and judge_extra in its settings, timeout_ms aside)
 * and route "auto"'s scorers; every cheap-tier sample is compared with shadow_model's answer. */
static void start_judged(const char *judge, long timeout_ms, const char *judge_extra,
                         const char *scorers, const char *shadow_model)
{
    evaluator_start(", \"judge\": {\"base_url\": \"http://127.0.0.1:%d/v1\", \"model\": \"%s\","
                    " \"timeout_ms\": %ld%s},"
                    " \"shadow\": {\"base_url\": \"http://127.0.0.1:%d/v1\"},"
                    " \"routes\": {\"auto\": {\"scorers\": [%s],"
                    "  \"shadow_model\": \"%s\", \"shadow_rate\": 1}}}",
                    mock.port, judge, timeout_ms, judge_extra, mock.port, scorers, shadow_model);
    push_close();
    push_connect();
}

#define ALL_SCORERS "\"rules\", \"judge\", \"shadow\""

/* One result column of a request's scorer as text. */
static void result_of(const char *request_id, const char *scorer, const char *column, char *out,
                      size_t outlen)
{
    char sql[512];

    snprintf(sql, sizeof(sql),
             "SELECT r.%s FROM results r JOIN samples s ON s.id = r.sample_id"
             " WHERE s.request_id = '%s' AND r.scorer = '%s'",
             column, request_id, scorer);
    query_text(sql, out, outlen);
}

static void assert_result(const char *request_id, const char *scorer, const char *column,
                          const char *want)
{
    char got[1024];

    result_of(request_id, scorer, column, got, sizeof(got));
    cr_assert_str_eq(got, want, "%s %s.%s", request_id, scorer, column);
}

Test(evaluator, the_judge_grades_and_the_shadow_compares)
{
    char text[1024];

    start_mock();
    start_judged("mock-judge", 5000, "", ALL_SCORERS, "mock-large");
    send_sample("good", "small", "Paris.");
    send_sample("bad", "small", BAD " Maybe Lyon.");
    send_sample("premium", "large", "Paris.");
    send_full("failed", "small", "", 502, "", false);
    /* rules for 4, judge for 3, shadow for the 2 cheap answers */
    wait_count("SELECT count(*) FROM results", 9);

    assert_result("good", "judge", "pass", "1");
    assert_result("good", "judge", "grade", "1.0");
    assert_result("good", "judge", "error", "(null)");
    assert_result("good", "shadow", "verdict", "tie");
    assert_result("good", "shadow", "pass", "1");
    result_of("good", "shadow", "premium_answer", text, sizeof(text));
    cr_assert(strlen(text) > 0 && strcmp(text, "(null)") != 0, "%s", text);

    assert_result("bad", "rules", "reason", "refusal");
    assert_result("bad", "judge", "pass", "0");
    assert_result("bad", "judge", "grade", "0.0");
    assert_result("bad", "judge", "reason", "the answer declines to answer");
    assert_result("bad", "shadow", "verdict", "loss");
    assert_result("bad", "shadow", "pass", "0");

    assert_result("premium", "judge", "pass", "1");
    assert_result("premium", "shadow", "pass", "(none)"); /* no cheaper answer to compare */
    assert_result("failed", "judge", "pass", "(none)");   /* no answer to grade */

    /* the trainer's labels: premium needed where the cheap answer lost */
    cr_assert_eq(query_int("SELECT count(*) FROM labels"), 2);
    cr_assert_eq(query_int("SELECT premium_needed FROM labels l JOIN samples s ON s.id = "
                           "l.sample_id WHERE s.request_id = 'bad'"),
                 1);
    cr_assert_eq(query_int("SELECT premium_needed FROM labels l JOIN samples s ON s.id = "
                           "l.sample_id WHERE s.request_id = 'good'"),
                 0);
    cr_assert_eq(mock_stat(&mock, "mock-judge"), 5, "3 grades and 2 comparisons");
    proc_stop_clean(&ev);
}

Test(evaluator, a_bad_premium_answer_ties_with_a_bad_cheap_one)
{
    start_mock();
    start_judged("mock-judge", 5000, "", ALL_SCORERS, "premium-bad");
    send_sample("both-bad", "small", BAD);
    send_sample("cheap-good", "small", "Paris.");
    wait_count("SELECT count(*) FROM results WHERE scorer = 'shadow'", 2);
    assert_result("both-bad", "shadow", "verdict", "tie");
    assert_result("both-bad", "shadow", "pass", "1");
    assert_result("cheap-good", "shadow", "verdict", "win");
    proc_stop_clean(&ev);
}

Test(evaluator, judge_failures_are_stored_apart_from_answer_failures)
{
    char text[512];

    start_mock();
    /* an unparseable verdict: a model that answers prose */
    start_judged("chatty", 5000, ", \"retries\": 1", "\"judge\"", "mock-large");
    send_sample("prose", "small", "Paris.");
    wait_count("SELECT count(*) FROM results", 1);
    assert_result("prose", "judge", "pass", "(null)");
    result_of("prose", "judge", "error", text, sizeof(text));
    cr_assert_str_eq(text, "unparseable verdict: not a JSON object");
    proc_stop_clean(&ev);

    /* HTTP 500 on every attempt */
    start_judged("broken-judge", 5000, ", \"retries\": 1", "\"judge\"", "mock-large");
    send_sample("http", "small", "Paris.");
    wait_count("SELECT count(*) FROM results", 1);
    assert_result("http", "judge", "pass", "(null)");
    assert_result("http", "judge", "error", "HTTP 500 (attempt 2)");
    cr_assert_eq(mock_stat(&mock, "broken-judge"), 2, "the first attempt and one retry");
    proc_stop_clean(&ev);

    /* no answer within the timeout, twice */
    start_judged("hanging-judge", 300, ", \"retries\": 1", "\"judge\"", "mock-large");
    send_sample("hang", "small", "Paris.");
    wait_count("SELECT count(*) FROM results", 1);
    assert_result("hang", "judge", "error", "timed out after 300 ms (attempt 2)");
    proc_stop_clean(&ev);

    /* the premium model fails: the comparison is a scorer failure too */
    start_judged("mock-judge", 5000, ", \"retries\": 0", "\"shadow\"", "broken-judge");
    send_sample("no-premium", "small", "Paris.");
    wait_count("SELECT count(*) FROM results", 1);
    assert_result("no-premium", "shadow", "pass", "(null)");
    assert_result("no-premium", "shadow", "verdict", "(null)");
    assert_result("no-premium", "shadow", "error", "premium call: HTTP 500 (attempt 1)");
    proc_stop_clean(&ev);
}

Test(evaluator, stopping_waits_for_judge_calls_in_flight)
{
    char *log;

    start_mock();
    start_judged("slow-judge", 5000, "", "\"judge\"", "mock-large");
    send_sample("slow", "small", "Paris.");
    for (int i = 0; i < 500 && mock_stat(&mock, "slow-judge") < 1; i++)
        sleep_ms(10);
    cr_assert_eq(mock_stat(&mock, "slow-judge"), 1, "the judge call started");
    proc_stop_clean(&ev); /* SIGTERM while the judge thinks (1.5 s) */
    assert_result("slow", "judge", "pass", "1");
    log = read_log(&ev);
    cr_assert(strstr(log, "waiting up to 5000 ms for 1 judge calls in flight"), "%s", log);
    free(log);
}

Test(evaluator, a_bad_config_stops_it_with_the_key)
{
    char exe[512], dir[128], path[300], cmd[1200];
    char out[1024] = "";
    FILE *f, *p;
    int status;

    temp_dir(dir, sizeof(dir), "evaluator");
    snprintf(path, sizeof(path), "%s/evaluator.json", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"judge\": {\"modle\": \"mock-judge\"}}", f);
    fclose(f);
    snprintf(exe, sizeof(exe), "%s/sluice-evaluator", bin_dir());
    snprintf(cmd, sizeof(cmd), "%s -c %s 2>&1", exe, path);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(out, sizeof(out), p));
    status = pclose(p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d", status);
    cr_assert(strstr(out, "evaluator.json: judge.modle: unknown key"), "%s", out);
}

#define HARD "Prove that the spectral theorem holds for compact self-adjoint operators."

/* The whole loop: a proxy routes calls to the mock's models and samples every one to the
 * evaluator, which checks, grades and compares them. */
Test(evaluator, samples_from_a_real_proxy_are_scored)
{
    struct proc proxy = {0};
    char model[300];
    struct resp r;

    start_mock();
    /* the premium tier's model is "premium-bad": the cheap answer wins every comparison */
    start_judged("mock-judge", 5000, "", ALL_SCORERS, "premium-bad");
    snprintf(model, sizeof(model), "%s/model.json", ev.dir);
    classifier_write(model, HARD, 0.5);
    proxy_start(&proxy,
                "{\"workers\": 1, \"log_level\": \"warn\", \"auth\": {\"required\": false},"
                " \"evaluators\": {\"endpoints\": [\"%s\"]},"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
                " \"models\": {"
                "  \"small\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"s\"}]},"
                "  \"large\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"l\"}]}},"
                " \"routes\": {\"auto\": {\"classifier\": \"%s\", \"sampling\": {\"rate\": 1},"
                "   \"tiers\": [{\"name\": \"cheap\", \"models\": [\"small\"]},"
                "               {\"name\": \"large\", \"models\": [\"large\"]}]}}}",
                endpoint, mock.port, model);
    http(&r, proxy.port, NULL, "/v1/chat/completions",
         "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}", NULL, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    http(&r, proxy.port, NULL, "/v1/chat/completions",
         "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"" HARD "\"}]}", NULL,
         0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    /* cheap: rules, judge, shadow; premium: rules, judge */
    wait_count("SELECT count(*) FROM results", 5);
    cr_assert_eq(query_int("SELECT count(*) FROM samples WHERE route = 'auto'"), 2);
    cr_assert_eq(query_int("SELECT count(*) FROM results WHERE pass = 1"), 5);
    cr_assert_eq(query_int("SELECT count(*) FROM results r JOIN samples s ON s.id = r.sample_id"
                           " WHERE s.tier = 'cheap' AND r.scorer = 'shadow' AND r.verdict = 'win'"),
                 1);
    proc_stop_clean(&proxy);
    proc_stop_clean(&ev);
}

/* --- the quality loop's drift detection, end to end --------------------------------------- */

#define EASY_HARD "Explain why the sea is salty, in two sentences."
static struct proc loop_proxy;
static char loop_model[300];

/* The mock (cheap model "s" answering mock-hard prompts badly with probability p_bad_hard),
 * an evaluator with rule checks only and default drift settings, and a proxy whose route
 * sends every call to the cheap tier and samples it. */
static void start_loop(double p_bad_hard)
{
    char set[64];

    start_mock();
    snprintf(set, sizeof(set), "{\"p_bad_hard\": %g}", p_bad_hard);
    mock_set(&mock, "s", set);
    evaluator_start(", \"default_scorers\": [\"rules\"]}");
    snprintf(loop_model, sizeof(loop_model), "%s/model.json", ev.dir);
    classifier_write(loop_model, HARD, 0.999); /* nothing here scores that high: all cheap */
    proxy_start(&loop_proxy,
                "{\"workers\": 1, \"log_level\": \"warn\", \"auth\": {\"required\": false},"
                " \"audit\": {\"enabled\": false},"
                " \"evaluators\": {\"endpoints\": [\"%s\"], \"queue\": 100000},"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
                " \"models\": {"
                "  \"small\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"s\"}]},"
                "  \"large\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"l\"}]}},"
                " \"routes\": {\"auto\": {\"classifier\": \"%s\", \"sampling\": {\"rate\": 1},"
                "   \"tiers\": [{\"name\": \"cheap\", \"models\": [\"small\"]},"
                "               {\"name\": \"large\", \"models\": [\"large\"]}]}}}",
                endpoint, mock.port, loop_model);
}

static void stop_loop(void)
{
    proc_stop_clean(&loop_proxy);
}

/* Sends n calls one after another (so the mock's seeded draws come in a fixed order), then
 * waits until the evaluator has scored every call sent so far (total). */
static void calls(int n, long long total)
{
    char want[96];

    for (int i = 0; i < n; i++) {
        struct resp r;
        http(&r, loop_proxy.port, NULL, "/v1/chat/completions",
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"" EASY_HARD
             "\"}]}",
             NULL, 0);
        cr_assert_eq(r.status, 200, "%s", r.body);
        resp_free(&r);
    }
    snprintf(want, sizeof(want), "SELECT count(*) FROM results");
    wait_count(want, total);
}

#define OPEN_TIER_ALERTS                                                                           \
    "SELECT count(*) FROM alerts WHERE key = 'tier=auto/cheap' AND state = 'open'"

Test(evaluator, drift_injected_in_the_mock_raises_one_tier_alert_within_500_samples)
{
    long long sent = 1500;
    int after = 0;

    start_loop(0.05); /* the cheap tier passes 95% */
    calls(1500, sent);
    cr_assert_eq(query_int("SELECT count(*) FROM alerts"), 0, "no alert before the drift");
    mock_set(&mock, "s", "{\"p_bad_hard\": 0.15}"); /* now 85%: a 10-point drop */
    while (query_int(OPEN_TIER_ALERTS) == 0 && after < 500) {
        calls(20, sent += 20);
        after += 20;
    }
    cr_assert_eq(query_int(OPEN_TIER_ALERTS), 1, "no alert %d samples after a 10-point drop",
                 after);
    cr_log_info("the tier alert came %d samples after the drop", after);
    calls(100, sent += 100);
    cr_assert_eq(query_int("SELECT count(*) FROM alerts WHERE key = 'tier=auto/cheap'"), 1,
                 "one alert while the condition lasts");
    stop_loop();
}

Test(evaluator, a_stationary_run_of_the_same_length_raises_no_alert)
{
    start_loop(0.05);
    calls(1900, 1900);
    cr_assert_eq(query_int("SELECT count(*) FROM alerts"), 0);
    stop_loop();
}

/* --- the closed loop: drift, alert, the controller's policy, recovery, and back ----------------
 */

#define ADMIN_AUTH "Authorization: Bearer sk-admin-loop"
#define EASY       "What is the capital of France?"
static struct proc loop_ctl;

/* The controller's configuration, from GET /admin/config, and its version in *version. */
static cJSON *ctl_config(long *version)
{
    struct resp r;
    cJSON *j;

    http(&r, loop_ctl.port, NULL, "/admin/config", NULL, ADMIN_AUTH, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = resp_json(&r);
    *version = (long)cJSON_GetObjectItemCaseSensitive(j, "version")->valuedouble;
    resp_free(&r);
    return j;
}

static double ctl_threshold(long *version)
{
    cJSON *j = ctl_config(version);
    const cJSON *t =
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetObjectItemCaseSensitive(
                                       cJSON_GetObjectItemCaseSensitive(j, "document"), "routes"),
                                   "auto"),
                               "thresholds"),
                           0);
    double v;

    cr_assert(cJSON_IsNumber(t), "no threshold in the controller's configuration");
    v = t->valuedouble;
    cJSON_Delete(j);
    return v;
}

static long proxy_version(void)
{
    struct resp r;
    cJSON *j;
    long v;

    http(&r, loop_proxy.port, NULL, "/health", NULL, NULL, 0);
    j = resp_json(&r);
    v = (long)cJSON_GetObjectItemCaseSensitive(j, "config_version")->valuedouble;
    cJSON_Delete(j);
    resp_free(&r);
    return v;
}

/* The classifier's score of prompt, from the proxy's answer header. */
static double score_of(const char *prompt)
{
    char body[512], v[64];
    struct resp r;

    snprintf(body, sizeof(body),
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
             "\"content\":\"%s\"}]}",
             prompt);
    http(&r, loop_proxy.port, NULL, "/v1/chat/completions", body, NULL, 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(resp_header(&r, "x-sluice-score", v, sizeof(v)));
    resp_free(&r);
    return atof(v);
}

/* Calls alternating an easy prompt and a hard one (which the mock's cheap model answers badly
 * with probability p_bad_hard), n in all, then waits until the evaluator scored all sent. */
static void mixed_calls(int n, long long total)
{
    for (int i = 0; i < n; i++) {
        struct resp r;
        http(&r, loop_proxy.port, NULL, "/v1/chat/completions",
             i % 2 ? "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"" EASY_HARD
                     "\"}]}"
                   : "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"" EASY
                     "\"}]}",
             NULL, 0);
        cr_assert_eq(r.status, 200, "%s", r.body);
        resp_free(&r);
    }
    wait_count("SELECT count(*) FROM results", total);
}

Test(evaluator, closed_loop_drift_raises_the_threshold_until_quality_recovers_then_restores_it)
{
    char eps[3][400], body[2048];
    double easy, hard, t0, step, t;
    long long sent = 0;
    long base, v;
    struct resp r;

    setenv("SLUICE_ADMIN_KEY", "sk-admin-loop", 1);
    start_mock();
    mock_set(&mock, "s", "{\"p_bad_hard\": 0.05}");
    evaluator_start(", \"default_scorers\": [\"rules\"]}");
    snprintf(loop_model, sizeof(loop_model), "%s/model.json", ev.dir);
    classifier_write(loop_model, "Why is the sea so salty?", 0.5);
    for (int i = 0; i < 3; i++)
        snprintf(eps[i], sizeof(eps[i]), "ipc://%s/%s.sock", ev.dir,
                 (const char *[]){"snapshot", "updates", "reports"}[i]);
    proxy_start(&loop_proxy,
                "{\"workers\": 1, \"log_level\": \"warn\", \"auth\": {\"required\": false},"
                " \"audit\": {\"enabled\": false},"
                " \"evaluators\": {\"endpoints\": [\"%s\"], \"queue\": 100000},"
                " \"controller\": {\"snapshot\": \"%s\", \"updates\": \"%s\", \"reports\": \"%s\","
                "                  \"heartbeat_ms\": 200},"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
                " \"models\": {"
                "  \"small\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"s\"}]},"
                "  \"large\": {\"deployments\": [{\"provider\": \"mock\", \"model\": \"l\"}]}},"
                " \"routes\": {\"auto\": {\"classifier\": \"%s\", \"sampling\": {\"rate\": 1},"
                "   \"tiers\": [{\"name\": \"cheap\", \"models\": [\"small\"]},"
                "               {\"name\": \"large\", \"models\": [\"large\"]}]}}}",
                endpoint, eps[0], eps[1], eps[2], mock.port, loop_model);
    controller_start(&loop_ctl,
                     "{\"sluice\": \"%s/sluice.json\", \"snapshot\": \"%s\", \"updates\": \"%s\","
                     " \"reports\": \"%s\", \"alerts\": [\"ipc://%s/alerts.sock\"],"
                     " \"heartbeat_ms\": 200, \"log_level\": \"warn\"}",
                     loop_proxy.dir, eps[0], eps[1], eps[2], ev.dir);
    for (int i = 0; i < 500 && proxy_version() != 1; i++)
        sleep_ms(10);
    cr_assert_eq(proxy_version(), 1);

    /* A threshold that keeps both prompts on the cheap tier, and a policy whose one step
     * sends the hard prompt to the premium tier. */
    easy = score_of(EASY);
    hard = score_of(EASY_HARD);
    sent += 2;
    cr_assert(easy + 0.05 < hard && hard < 0.999, "scores: easy %g, hard %g", easy, hard);
    t0 = (hard + 1) / 2;
    step = t0 - (easy + hard) / 2;
    snprintf(body, sizeof(body),
             "{\"reason\": \"loop test\", \"document\": {\"routes\": {\"auto\": {\"classifier\": "
             "\"%s\", \"thresholds\": [%.6f], \"sampling\": {\"rate\": 1}, \"policy\": "
             "{\"on_alert\": \"adjust\", \"step\": %.6f, \"ceiling\": %.6f, \"cooldown_s\": 0},"
             " \"tiers\": [{\"name\": \"cheap\", \"models\": [\"small\"]}, {\"name\": "
             "\"large\", \"models\": [\"large\"]}]}}}}",
             loop_model, t0, step, step);
    http(&r, loop_ctl.port, "PUT", "/admin/config", body, ADMIN_AUTH, 0);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    t = ctl_threshold(&base);
    for (int i = 0; i < 500 && proxy_version() != base; i++)
        sleep_ms(10);
    cr_assert_eq(proxy_version(), base);

    /* A baseline for the drift detector, then the cheap model fails hard prompts. */
    mixed_calls(1500, sent += 1500);
    cr_assert_eq(query_int("SELECT count(*) FROM alerts"), 0, "no alert before the drift");
    mock_set(&mock, "s", "{\"p_bad_hard\": 0.6}");
    for (int n = 0; n < 1000 && proxy_version() == base; n += 20)
        mixed_calls(20, sent += 20);
    cr_assert_eq(query_int(OPEN_TIER_ALERTS), 1, "the drift raised a tier alert");
    cr_log_info("threshold %.3f -> %.3f after %lld calls since the drift", t0, t0 - step,
                sent - 1502);
    for (int i = 0; i < 100 && proxy_version() == base; i++)
        sleep_ms(10);
    t = ctl_threshold(&v);
    cr_assert_eq(v, base + 1, "the policy made one new version");
    cr_assert_float_eq(t, t0 - step, 1e-6, "the threshold moved by one step toward premium");
    cr_assert_eq(proxy_version(), v, "and the proxy serves it");
    http(&r, loop_ctl.port, NULL, "/admin/versions?limit=1", NULL, ADMIN_AUTH, 0);
    cr_assert(strstr(r.body, "alert #"), "the version's reason is the alert: %s", r.body);
    resp_free(&r);

    /* The hard prompt now goes to the premium tier; the cheap tier's quality recovers, the
     * alert resolves, and the policy puts the threshold back. */
    for (int n = 0; n < 3000 && proxy_version() == base + 1; n += 20)
        mixed_calls(20, sent += 20);
    for (int i = 0; i < 100 && proxy_version() == base + 1; i++)
        sleep_ms(10);
    cr_log_info("back to %.3f after %lld calls in all", t0, sent - 1502);
    cr_assert_eq(query_int("SELECT count(*) FROM alerts WHERE key = 'tier=auto/cheap' AND "
                           "state = 'resolved'"),
                 1, "the cheap tier's alert resolved");
    cr_assert_geq(query_int("SELECT 100 * sum(r.pass) / count(*) FROM results r JOIN samples s"
                            " ON s.id = r.sample_id WHERE s.tier = 'cheap' AND"
                            " s.config_version = (SELECT max(config_version) - 1 FROM samples)"),
                  95, "the cheap tier passes again while the threshold is raised");
    t = ctl_threshold(&v);
    cr_assert_eq(v, base + 2);
    cr_assert_float_eq(t, t0, 1e-6, "the threshold is back where it was");
    cr_assert_eq(proxy_version(), v);
    proc_stop_clean(&loop_ctl);
    stop_loop();
}
