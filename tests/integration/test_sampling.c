/* Sampling end to end: the proxy PUSHes sampled calls over real ZeroMQ sockets to a PULL
 * socket of the test's, standing in for an evaluator; with no evaluator it keeps serving and
 * counts what it drops. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "sample.h"

#define HARD "Prove that the spectral theorem holds for compact self-adjoint operators."

static struct proc mock, proxy;
static char work[128], model_path[300], endpoint[400]; /* work: this test's temp directory */
static void *ctx, *pull;

/* Starts the mock and a proxy whose route "auto" samples every call (tier overrides aside)
 * to endpoint, with a sample queue of queue messages. */
static void start(const char *sampling, int queue)
{
    snprintf(model_path, sizeof(model_path), "%s/model.json", work);
    classifier_write(model_path, HARD, 0.5);
    mock_start(&mock, NULL, 3);
    proxy_start(&proxy,
                "{\"workers\": 2, \"log_level\": \"warn\", \"auth\": {\"required\": false},"
                " \"evaluators\": {\"endpoints\": [\"%s\"], \"queue\": %d},"
                " \"providers\": {\"mock\": {\"base_url\": \"http://127.0.0.1:%d/v1\"}},"
                " \"models\": {"
                "  \"small\": {\"price\": {\"input\": 0.1, \"output\": 0.4},"
                "            \"deployments\": [{\"provider\": \"mock\", \"model\": \"s\"}]},"
                "  \"large\": {\"price\": {\"input\": 5, \"output\": 15},"
                "            \"deployments\": [{\"provider\": \"mock\", \"model\": \"l\"}]}},"
                " \"routes\": {\"auto\": {\"classifier\": \"%s\", \"sampling\": %s,"
                "   \"tiers\": [{\"name\": \"cheap\", \"models\": [\"small\"]},"
                "               {\"name\": \"premium\", \"models\": [\"large\"]}]}}}",
                endpoint, queue, mock.port, model_path, sampling);
}

static void stop(void)
{
    proc_stop_clean(&proxy);
    proc_stop(&mock);
    if (pull)
        zmq_close(pull);
    if (ctx)
        zmq_ctx_term(ctx);
    pull = ctx = NULL;
}

/* The test's "evaluator": a PULL socket bound where the proxy sends. */
static void bind_pull(void)
{
    int timeout = 5000;

    ctx = zmq_ctx_new();
    pull = zmq_socket(ctx, ZMQ_PULL);
    cr_assert_not_null(pull);
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
    cr_assert_eq(zmq_bind(pull, endpoint), 0, "%s: %s", endpoint, zmq_strerror(zmq_errno()));
}

/* Makes the test's directory too: every init starts here. */
static void set_endpoint(void)
{
    temp_dir(work, sizeof(work), "sampling");
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/samples.sock", work);
}

static void init_with_evaluator(void)
{
    set_endpoint();
    bind_pull();
    start("{\"rate\": 1.0}", 1000);
}

static void chat(const char *body, long status)
{
    struct resp r;
    http(&r, proxy.port, NULL, "/v1/chat/completions", body, NULL, 0);
    cr_assert_eq(r.status, status, "%s", r.body);
    resp_free(&r);
}

/* Waits (up to 2 s) for a counter of /metrics to reach want; returns its last value. */
static double wait_metric(const char *series, double want)
{
    double v = -1;

    for (int i = 0; i < 200 && (v = metric(proxy.port, series)) != want; i++)
        sleep_ms(10);
    return v;
}

/* Receives one sample and decodes it; asserts that it is valid. */
static void receive(struct sl_sample *s)
{
    char buf[1 << 16], err[256];
    int n = zmq_recv(pull, buf, sizeof(buf), 0);

    cr_assert_gt(n, 0, "no sample arrived: %s", zmq_strerror(zmq_errno()));
    cr_assert_lt(n, (int)sizeof(buf));
    cr_assert_eq(sl_sample_decode(buf, (size_t)n, s, err, sizeof(err)), 0, "%s: %.*s", err, n, buf);
}

Test(sampling, sampled_calls_carry_the_request_the_answer_and_the_decision,
     .init = init_with_evaluator, .fini = stop, .timeout = 60)
{
    struct sl_sample s;

    chat("{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"Reply to "
         "ada@example.org.\"},{\"role\":\"user\",\"content\":\"" HARD "\"}]}",
         200);
    receive(&s);
    cr_assert_str_eq(s.route, "auto");
    cr_assert_str_eq(s.tier, "premium");
    cr_assert_eq(s.tier_index, 1);
    cr_assert_str_eq(s.premium_tier, "premium");
    cr_assert_str_eq(s.model, "large");
    cr_assert_str_eq(s.deployment, "mock/l");
    cr_assert_eq(s.n_thresholds, 1);
    cr_assert_float_eq(s.thresholds[0], 0.5, 1e-12);
    cr_assert_gt(s.score, 0.5);
    cr_assert_eq(s.status, 200);
    cr_assert_str_eq(s.finish_reason, "stop");
    cr_assert_gt(strlen(s.answer), 0);
    cr_assert(strstr(s.messages, "spectral theorem"), "%s", s.messages);
    cr_assert(strstr(s.messages, "[EMAIL]") && !strstr(s.messages, "ada@example.org"),
              "redacted before sending: %s", s.messages);
    cr_assert_gt(s.tokens_in, 0);
    cr_assert_gt(s.cost_usd, 0);
    sl_sample_free(&s);

    /* a stream's answer is assembled from its events */
    chat("{\"model\":\"auto\",\"stream\":true,\"response_format\":{\"type\":\"json_object\"},"
         "\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"}]}",
         200);
    receive(&s);
    cr_assert_str_eq(s.tier, "cheap");
    cr_assert(s.json_mode);
    cr_assert_gt(strlen(s.answer), 0);
    cr_assert_str_eq(s.finish_reason, "stop");
    sl_sample_free(&s);
    cr_assert_eq(wait_metric("sluice_samples_sent_total", 2), 2);
}

static void init_with_tier_override(void)
{
    set_endpoint();
    bind_pull();
    start("{\"rate\": 0, \"tiers\": {\"premium\": 1}}", 1000);
}

Test(sampling, tier_overrides_choose_what_is_sampled, .init = init_with_tier_override, .fini = stop,
     .timeout = 60)
{
    struct sl_sample s;

    chat("{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}", 200);
    chat("{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"" HARD "\"}]}", 200);
    receive(&s);
    cr_assert_str_eq(s.tier, "premium", "the cheap call (rate 0) was not sampled");
    sl_sample_free(&s);
    cr_assert_eq(wait_metric("sluice_samples_sent_total", 1), 1);
}

static void init_without_evaluator(void)
{
    set_endpoint(); /* nobody binds it */
    start("{\"rate\": 1.0}", 5);
}

Test(sampling, with_no_evaluator_the_proxy_serves_and_counts_its_drops,
     .init = init_without_evaluator, .fini = stop, .timeout = 60)
{
    double sent, dropped;

    for (int i = 0; i < 40; i++)
        chat("{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}", 200);
    for (int i = 0; i < 200; i++) { /* samples leave in batches, a moment after the answers */
        sent = metric(proxy.port, "sluice_samples_sent_total");
        dropped = metric(proxy.port, "sluice_samples_dropped_total");
        if (sent + dropped == 40)
            break;
        sleep_ms(10);
    }
    cr_assert_eq(sent + dropped, 40);
    /* each worker's queue holds 5 (and ZeroMQ's pipe a few more); the rest are dropped */
    cr_assert_geq(dropped, 20, "sent %g, dropped %g", sent, dropped);
}
