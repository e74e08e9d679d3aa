/* Metrics: per-worker counters summed into Prometheus text. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "metrics.h"

static const char cfg_text[] =
    "{\"providers\": {\"p\": {\"base_url\": \"http://127.0.0.1:1\"}},"
    " \"models\": {\"a\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]},"
    "             \"b\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"y\"}]}}}";

static double value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, series, n) == 0 && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    return -1;
}

Test(metrics, sums_workers_and_renders_prometheus_text)
{
    char err[256];
    struct sl_config *cfg = sl_config_parse("t.json", cfg_text, strlen(cfg_text), err, 256);
    struct sl_metrics w[2];
    struct sl_metrics *all[2] = {&w[0], &w[1]};
    struct sl_health *health[2];
    struct sl_buf out;

    cr_assert_not_null(cfg, "%s", err);
    for (int i = 0; i < 2; i++) {
        sl_metrics_init(&w[i], cfg);
        health[i] = sl_health_create(&cfg->breaker);
    }
    sl_metrics_inc(&w[0].status[200]);
    sl_metrics_inc(&w[1].status[200]);
    sl_metrics_inc(&w[1].status[502]);
    sl_metrics_observe(&w[0].upstream[1], 3000);    /* 3 ms */
    sl_metrics_observe(&w[1].upstream[1], 2000000); /* 2 s */
    sl_metrics_inc(&w[0].fallbacks[0]);
    sl_metrics_inc(&w[1].failures[1 * SL_FAIL_COUNT + SL_FAIL_TIMEOUT]);
    for (int i = 0; i < 5; i++)
        sl_health_record(health[1], false, 0);

    sl_buf_init(&out, 1 << 20);
    cr_assert_eq(sl_metrics_render(&out, cfg, all, 2, health), 0);
    cr_assert_eq(value(out.data, "sluice_requests_total{code=\"200\"}"), 2);
    cr_assert_eq(value(out.data, "sluice_requests_total{code=\"502\"}"), 1);
    cr_assert_eq(value(out.data, "sluice_requests_total{code=\"404\"}"), -1,
                 "zero rows are left out");
    cr_assert_eq(value(out.data, "sluice_upstream_seconds_count{alias=\"b\",deployment=\"p/y\"}"),
                 2);
    cr_assert_eq(
        value(out.data,
              "sluice_upstream_seconds_bucket{alias=\"b\",deployment=\"p/y\",le=\"0.005\"}"),
        1, "buckets are cumulative");
    cr_assert_eq(
        value(out.data,
              "sluice_upstream_seconds_bucket{alias=\"b\",deployment=\"p/y\",le=\"+Inf\"}"),
        2);
    cr_assert_float_eq(
        value(out.data, "sluice_upstream_seconds_sum{alias=\"b\",deployment=\"p/y\"}"), 2.003,
        1e-9);
    cr_assert_eq(value(out.data, "sluice_fallbacks_total{model=\"a\"}"), 1);
    cr_assert_eq(value(out.data, "sluice_fallbacks_total{model=\"b\"}"), 0);
    cr_assert_eq(value(out.data, "sluice_upstream_failures_total{alias=\"b\",deployment=\"p/y\","
                                 "reason=\"timeout\"}"),
                 1);
    cr_assert_eq(value(out.data, "sluice_circuit_state{alias=\"b\",deployment=\"p/y\"}"), 2);
    cr_assert_eq(value(out.data, "sluice_circuit_state{alias=\"a\",deployment=\"p/x\"}"), 0);
    cr_assert_not_null(strstr(out.data, "# TYPE sluice_upstream_seconds histogram\n"));

    sl_buf_free(&out);
    for (int i = 0; i < 2; i++) {
        sl_metrics_free(&w[i]);
        sl_health_destroy(health[i]);
    }
    sl_config_destroy(cfg);
}

/* Two aliases may use one provider model under the same deployment name: every series is still
 * unique, as Prometheus refuses a scrape that repeats one. */
Test(metrics, a_deployment_name_shared_by_two_aliases_makes_distinct_series)
{
    static const char shared[] =
        "{\"providers\": {\"p\": {\"base_url\": \"http://127.0.0.1:1\"}},"
        " \"models\": {\"a\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}],"
        "                       \"fallbacks\": [\"b\"]},"
        "             \"b\": {\"deployments\": [{\"provider\": \"p\", \"model\": \"x\"}]}}}";
    char err[256], *line, *save = NULL;
    struct sl_config *cfg = sl_config_parse("t.json", shared, strlen(shared), err, 256);
    struct sl_metrics w, *all[1] = {&w};
    struct sl_health *health[2];
    struct sl_buf out;
    char *seen[512];
    size_t n = 0;

    cr_assert_not_null(cfg, "%s", err);
    sl_metrics_init(&w, cfg);
    for (size_t d = 0; d < cfg->n_deployments; d++) {
        health[d] = sl_health_create(&cfg->breaker);
        sl_metrics_inc(&w.failures[d * SL_FAIL_COUNT + SL_FAIL_TIMEOUT]);
        sl_metrics_observe(&w.upstream[d], 1000);
        sl_metrics_observe(&w.overhead[0 * cfg->n_deployments + d], 10);
    }
    sl_buf_init(&out, 1 << 20);
    cr_assert_eq(sl_metrics_render(&out, cfg, all, 1, health), 0);
    cr_assert_eq(value(out.data, "sluice_circuit_state{alias=\"a\",deployment=\"p/x\"}"), 0);
    cr_assert_eq(value(out.data, "sluice_circuit_state{alias=\"b\",deployment=\"p/x\"}"), 0);
    for (line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        *strrchr(line, ' ') = '\0'; /* the series, without its value */
        for (size_t k = 0; k < n; k++)
            cr_assert_str_neq(seen[k], line, "repeated series %s", line);
        cr_assert_lt(n, sizeof(seen) / sizeof(*seen));
        seen[n++] = line;
    }
    sl_buf_free(&out);
    sl_metrics_free(&w);
    for (size_t d = 0; d < cfg->n_deployments; d++)
        sl_health_destroy(health[d]);
    sl_config_destroy(cfg);
}
