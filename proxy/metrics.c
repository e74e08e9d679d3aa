/* Prometheus text exposition of the proxy's metrics. */
#include "metrics.h"
#include "health.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* Upper bounds in µs: from 10 µs (gateway overhead) to 60 s (long generations). */
static const uint64_t bounds_us[SL_HIST_BUCKETS] = {
    10,    25,     50,     100,    250,     500,     1000,    2500,     5000,     10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};

static const char *const fail_names[SL_FAIL_COUNT] = {"connect",    "timeout",      "status_429",
                                                      "status_5xx", "status_other", "malformed",
                                                      "stream",     "other"};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

void sl_metrics_init(struct sl_metrics *m, const struct sl_config *cfg)
{
    *m = (struct sl_metrics){.cfg = cfg};
    m->upstream = xcalloc(cfg->n_deployments, sizeof(*m->upstream));
    m->overhead = xcalloc(cfg->n_models * cfg->n_deployments, sizeof(*m->overhead));
    m->retries = xcalloc(cfg->n_models, sizeof(*m->retries));
    m->fallbacks = xcalloc(cfg->n_models, sizeof(*m->fallbacks));
    m->failures = xcalloc(cfg->n_deployments * SL_FAIL_COUNT, sizeof(*m->failures));
    m->decisions = xcalloc(SL_CONFIG_MAX_ROUTE_TIERS, sizeof(*m->decisions));
    m->tokens = xcalloc(cfg->n_models * 2, sizeof(*m->tokens));
    m->cost_nusd = xcalloc(cfg->n_models, sizeof(*m->cost_nusd));
    m->unpriced = xcalloc(cfg->n_models, sizeof(*m->unpriced));
    m->premium_nusd = xcalloc(SL_CONFIG_MAX_ROUTES, sizeof(*m->premium_nusd));
}

void sl_metrics_free(struct sl_metrics *m)
{
    free(m->upstream);
    free(m->overhead);
    free(m->retries);
    free(m->fallbacks);
    free(m->failures);
    free(m->decisions);
    free(m->tokens);
    free(m->cost_nusd);
    free(m->unpriced);
    free(m->premium_nusd);
}

void sl_metrics_observe(struct sl_hist *h, uint64_t us)
{
    int i = 0;

    while (i < SL_HIST_BUCKETS && us > bounds_us[i])
        i++;
    sl_metrics_inc(&h->bucket[i]);
    sl_metrics_inc(&h->count);
    __atomic_store_n(&h->sum_us, h->sum_us + us, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Sums one histogram over the workers and appends it with the given labels. */
static int render_hist(struct sl_buf *out, const char *name, const char *labels,
                       struct sl_metrics *const *w, size_t nw, size_t field_offset, size_t idx)
{
    struct sl_hist sum = {0};
    uint64_t cum = 0;
    int rc = 0;

    for (size_t k = 0; k < nw; k++) {
        const struct sl_hist *h =
            *(struct sl_hist *const *)((const char *)w[k] + field_offset) + idx;
        for (int i = 0; i <= SL_HIST_BUCKETS; i++)
            sum.bucket[i] += load(&h->bucket[i]);
        sum.count += load(&h->count);
        sum.sum_us += load(&h->sum_us);
    }
    if (!sum.count)
        return 0;
    for (int i = 0; i < SL_HIST_BUCKETS && rc == 0; i++) {
        cum += sum.bucket[i];
        rc = sl_buf_addf(out, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels,
                         (double)bounds_us[i] / 1e6, (unsigned long long)cum);
    }
    cum += sum.bucket[SL_HIST_BUCKETS];
    if (rc == 0)
        rc =
            sl_buf_addf(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n%s_sum{%s} %.6f\n%s_count{%s} %llu\n",
                        name, labels, (unsigned long long)cum, name, labels,
                        (double)sum.sum_us / 1e6, name, labels, (unsigned long long)sum.count);
    return rc;
}

static uint64_t sum_counter(struct sl_metrics *const *w, size_t nw, size_t field_offset, size_t idx)
{
    uint64_t total = 0;
    for (size_t k = 0; k < nw; k++)
        total += load(*(uint64_t *const *)((const char *)w[k] + field_offset) + idx);
    return total;
}

/* A counter per requested model, with its HELP and TYPE lines. */
static int render_model_counter(struct sl_buf *out, const struct sl_config *cfg,
                                struct sl_metrics *const *w, size_t nw, const char *name,
                                const char *help, size_t field_offset)
{
    int rc = sl_buf_addf(out, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);

    for (size_t m = 0; m < cfg->n_models && rc == 0; m++)
        rc = sl_buf_addf(out, "%s{model=\"%s\"} %llu\n", name, cfg->models[m].name,
                         (unsigned long long)sum_counter(w, nw, field_offset, m));
    return rc;
}

/* A deployment's labels: its alias and its name (unique only within the alias). */
static const char *dep_labels(char *buf, size_t n, const struct sl_deployment *d)
{
    snprintf(buf, n, "alias=\"%s\",deployment=\"%s\"", d->alias, d->name);
    return buf;
}

int sl_metrics_render(struct sl_buf *out, const struct sl_config *cfg, struct sl_metrics *const *w,
                      size_t nw, struct sl_health *const *health)
{
    char labels[512], dep[300];
    uint64_t cancels = 0;
    int rc;

    rc = sl_buf_adds(out, "# HELP sluice_requests_total Responses sent, by HTTP status.\n"
                          "# TYPE sluice_requests_total counter\n");
    for (int s = 100; s < 600 && rc == 0; s++) {
        uint64_t n = 0;
        for (size_t k = 0; k < nw; k++)
            n += load(&w[k]->status[s]);
        if (n)
            rc = sl_buf_addf(out, "sluice_requests_total{code=\"%d\"} %llu\n", s,
                             (unsigned long long)n);
    }

    if (rc == 0)
        rc = sl_buf_adds(out, "# HELP sluice_upstream_seconds Upstream time of successful "
                              "attempts, by alias and deployment.\n"
                              "# TYPE sluice_upstream_seconds histogram\n");
    for (size_t d = 0; d < cfg->n_deployments && rc == 0; d++) {
        dep_labels(labels, sizeof(labels), &cfg->deployments[d]);
        rc = render_hist(out, "sluice_upstream_seconds", labels, w, nw,
                         offsetof(struct sl_metrics, upstream), d);
    }

    if (rc == 0)
        rc = sl_buf_adds(out,
                         "# HELP sluice_overhead_seconds Time spent in the gateway "
                         "(total minus upstream), by requested model and the alias and deployment "
                         "that answered.\n"
                         "# TYPE sluice_overhead_seconds histogram\n");
    for (size_t m = 0; m < cfg->n_models && rc == 0; m++)
        for (size_t d = 0; d < cfg->n_deployments && rc == 0; d++) {
            snprintf(labels, sizeof(labels), "model=\"%s\",%s", cfg->models[m].name,
                     dep_labels(dep, sizeof(dep), &cfg->deployments[d]));
            rc = render_hist(out, "sluice_overhead_seconds", labels, w, nw,
                             offsetof(struct sl_metrics, overhead), m * cfg->n_deployments + d);
        }

    if (rc == 0)
        rc = render_model_counter(out, cfg, w, nw, "sluice_retries_total",
                                  "Upstream attempts beyond the first, by requested model.",
                                  offsetof(struct sl_metrics, retries));
    if (rc == 0)
        rc = render_model_counter(out, cfg, w, nw, "sluice_fallbacks_total",
                                  "Requests answered by a fallback model, by requested model.",
                                  offsetof(struct sl_metrics, fallbacks));

    if (rc == 0)
        rc = sl_buf_adds(out, "# HELP sluice_upstream_failures_total Failed upstream "
                              "attempts, by alias, deployment and reason.\n"
                              "# TYPE sluice_upstream_failures_total counter\n");
    for (size_t d = 0; d < cfg->n_deployments && rc == 0; d++)
        for (int r = 0; r < SL_FAIL_COUNT && rc == 0; r++) {
            uint64_t n = sum_counter(w, nw, offsetof(struct sl_metrics, failures),
                                     d * SL_FAIL_COUNT + (size_t)r);
            if (n)
                rc = sl_buf_addf(out, "sluice_upstream_failures_total{%s,reason=\"%s\"} %llu\n",
                                 dep_labels(dep, sizeof(dep), &cfg->deployments[d]), fail_names[r],
                                 (unsigned long long)n);
        }

    if (rc == 0)
        rc = sl_buf_adds(out,
                         "# HELP sluice_circuit_state Circuit breaker per alias and deployment: "
                         "0 closed, 1 half-open, 2 open.\n"
                         "# TYPE sluice_circuit_state gauge\n");
    for (size_t d = 0; d < cfg->n_deployments && rc == 0; d++)
        rc = sl_buf_addf(out, "sluice_circuit_state{%s} %d\n",
                         dep_labels(dep, sizeof(dep), &cfg->deployments[d]),
                         (int)sl_health_state(health[d]));
    if (rc == 0)
        rc = sl_buf_adds(out, "# HELP sluice_circuit_opens_total Times the circuit opened.\n"
                              "# TYPE sluice_circuit_opens_total counter\n");
    for (size_t d = 0; d < cfg->n_deployments && rc == 0; d++)
        rc = sl_buf_addf(out, "sluice_circuit_opens_total{%s} %llu\n",
                         dep_labels(dep, sizeof(dep), &cfg->deployments[d]),
                         (unsigned long long)sl_health_opens(health[d]));

    if (rc == 0 && cfg->n_routes)
        rc = sl_buf_adds(out, "# HELP sluice_route_decisions_total Requests a route sent to "
                              "each tier.\n"
                              "# TYPE sluice_route_decisions_total counter\n");
    for (size_t r = 0; r < cfg->n_routes && rc == 0; r++)
        for (size_t t = 0; t < cfg->routes[r].n_tiers && rc == 0; t++)
            rc = sl_buf_addf(out, "sluice_route_decisions_total{route=\"%s\",tier=\"%s\"} %llu\n",
                             cfg->routes[r].name, cfg->routes[r].tiers[t].name,
                             (unsigned long long)sum_counter(w, nw,
                                                             offsetof(struct sl_metrics, decisions),
                                                             cfg->routes[r].tiers[t].slot));

    if (rc == 0)
        rc = sl_buf_adds(out, "# HELP sluice_tokens_total Tokens in answers, by model served "
                              "and kind.\n# TYPE sluice_tokens_total counter\n");
    for (size_t m = 0; m < cfg->n_models && rc == 0; m++)
        for (int k = 0; k < 2 && rc == 0; k++)
            rc = sl_buf_addf(out, "sluice_tokens_total{model=\"%s\",kind=\"%s\"} %llu\n",
                             cfg->models[m].name, k ? "completion" : "prompt",
                             (unsigned long long)sum_counter(
                                 w, nw, offsetof(struct sl_metrics, tokens), m * 2 + (size_t)k));
    if (rc == 0)
        rc = sl_buf_adds(out, "# HELP sluice_cost_usd_total Cost of the answers of priced "
                              "models, by model served.\n# TYPE sluice_cost_usd_total counter\n");
    for (size_t m = 0; m < cfg->n_models && rc == 0; m++)
        rc = sl_buf_addf(out, "sluice_cost_usd_total{model=\"%s\"} %.9f\n", cfg->models[m].name,
                         (double)sum_counter(w, nw, offsetof(struct sl_metrics, cost_nusd), m) /
                             1e9);
    if (rc == 0)
        rc = render_model_counter(out, cfg, w, nw, "sluice_unpriced_answers_total",
                                  "Answers with token usage from a model that has no price.",
                                  offsetof(struct sl_metrics, unpriced));
    if (rc == 0 && cfg->n_routes)
        rc = sl_buf_adds(out, "# HELP sluice_premium_cost_usd_total What a route's answers "
                              "would have cost on its premium tier.\n"
                              "# TYPE sluice_premium_cost_usd_total counter\n");
    for (size_t r = 0; r < cfg->n_routes && rc == 0; r++)
        rc = sl_buf_addf(out, "sluice_premium_cost_usd_total{route=\"%s\"} %.9f\n",
                         cfg->routes[r].name,
                         (double)sum_counter(w, nw, offsetof(struct sl_metrics, premium_nusd),
                                             cfg->routes[r].slot) /
                             1e9);

    for (size_t k = 0; k < nw; k++)
        cancels += load(&w[k]->client_cancels);
    if (rc == 0)
        rc = sl_buf_addf(out,
                         "# HELP sluice_client_cancels_total Clients that left before their "
                         "answer was complete (upstream transfer cancelled).\n"
                         "# TYPE sluice_client_cancels_total counter\n"
                         "sluice_client_cancels_total %llu\n",
                         (unsigned long long)cancels);
    return rc;
}
