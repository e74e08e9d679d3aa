/* Tests for trainer/fit: the objective's gradient, convergence to the minimiser, and learning
 * a known rule from text through the real feature extractor. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit.h"
#include "rand.h"
#include "scores.h"

#define FIXED0 SL_FEATURES_HASHED /* the first fixed (dense) feature */

/* A tiny problem: 8 rows over hashed slots 1, 5, 9 and one fixed feature with a large mean
 * (as the real length features have), which sl_fit_run centres internally. */
static struct sl_csr tiny;
static int tiny_y[8];

static void tiny_setup(void)
{
    static const float v[8][4] = {
        {1.0f, 0.0f, 0.5f, 5.1f}, {0.0f, 1.0f, 0.0f, 4.9f}, {0.7f, 0.7f, 0.0f, 5.3f},
        {0.0f, 0.0f, 1.0f, 4.6f}, {0.2f, 0.0f, 0.9f, 5.0f}, {0.0f, 0.3f, 0.3f, 5.8f},
        {1.0f, 1.0f, 1.0f, 4.2f}, {0.0f, 0.6f, 0.0f, 5.5f},
    };
    static const uint32_t cols[4] = {1, 5, 9, FIXED0};
    static const int y[8] = {1, 0, 1, 0, 1, 0, 1, 1};

    sl_csr_init(&tiny);
    for (int i = 0; i < 8; i++) {
        uint32_t idx[4];
        float val[4];
        struct sl_features f = {idx, val, 0, 4};
        for (int j = 0; j < 4; j++) {
            if (v[i][j] != 0) {
                idx[f.n] = cols[j];
                val[f.n++] = v[i][j];
            }
        }
        cr_assert_eq(sl_csr_add_row(&tiny, &f), 0);
        tiny_y[i] = y[i];
    }
}

static void tiny_teardown(void)
{
    sl_csr_free(&tiny);
}

static struct sl_fit_problem tiny_problem(double lambda, enum sl_fit_weights kind)
{
    struct sl_fit_problem p = {.x = &tiny, .y = tiny_y, .n = 8, .lambda = lambda, .threads = 1};
    sl_fit_class_weights(&p, kind);
    return p;
}

Test(fit, balanced_class_weights_are_n_over_twice_the_class_count)
{
    struct sl_fit_problem p;

    tiny_setup();
    p = tiny_problem(0.1, SL_FIT_WEIGHTS_BALANCED); /* 5 positives, 3 negatives */
    cr_assert_float_eq(p.weight[1], 8.0 / 10.0, 1e-12);
    cr_assert_float_eq(p.weight[0], 8.0 / 6.0, 1e-12);
    p = tiny_problem(0.1, SL_FIT_WEIGHTS_NONE);
    cr_assert_float_eq(p.weight[0], 1.0, 0);
    cr_assert_float_eq(p.weight[1], 1.0, 0);
    tiny_teardown();
}

Test(fit, objective_at_zero_is_log_2)
{
    struct sl_fit_problem p;
    double *wb = calloc(SL_FIT_DIM, sizeof(double));

    tiny_setup();
    p = tiny_problem(0.5, SL_FIT_WEIGHTS_BALANCED);
    cr_assert_float_eq(sl_fit_objective(&p, wb, NULL), log(2.0), 1e-12);
    free(wb);
    tiny_teardown();
}

Test(fit, gradient_matches_finite_differences)
{
    static const size_t coords[] = {1, 5, 9, FIXED0, 77, SL_FEATURES_DIM};
    struct sl_fit_problem p;
    double *wb = calloc(SL_FIT_DIM, sizeof(double)), *g = malloc(SL_FIT_DIM * sizeof(double));

    tiny_setup();
    p = tiny_problem(0.3, SL_FIT_WEIGHTS_BALANCED);
    wb[1] = 0.7;
    wb[5] = -1.2;
    wb[9] = 0.4;
    wb[FIXED0] = 0.15;
    wb[77] = 0.5; /* no data: only the regulariser pulls on it */
    wb[SL_FEATURES_DIM] = -0.3;
    sl_fit_objective(&p, wb, g);
    for (size_t k = 0; k < sizeof(coords) / sizeof(coords[0]); k++) {
        size_t j = coords[k];
        double h = 1e-6, keep = wb[j], up, down;
        wb[j] = keep + h;
        up = sl_fit_objective(&p, wb, NULL);
        wb[j] = keep - h;
        down = sl_fit_objective(&p, wb, NULL);
        wb[j] = keep;
        cr_assert_float_eq(g[j], (up - down) / (2 * h), 1e-7, "coordinate %zu: %g vs %g", j, g[j],
                           (up - down) / (2 * h));
    }
    cr_assert_float_eq(g[77], 0.3 * 0.5, 1e-12);
    free(wb);
    free(g);
    tiny_teardown();
}

Test(fit, run_reaches_the_minimiser)
{
    struct sl_fit_problem p;
    struct sl_fit_options o;
    struct sl_fit_result r;
    double *wb = calloc(SL_FIT_DIM, sizeof(double)), *g = malloc(SL_FIT_DIM * sizeof(double));
    double norm = 0, f;

    tiny_setup();
    p = tiny_problem(0.01, SL_FIT_WEIGHTS_BALANCED);
    sl_fit_options_default(&o);
    o.tol = 1e-7;
    cr_assert_eq(sl_fit_run(&p, &o, wb, &r), 0);
    cr_assert(r.converged, "stopped after %d iterations, |g| %g", r.iterations, r.grad_norm);
    /* The gradient of J itself (not of the minimiser's centred coordinates) vanishes. */
    f = sl_fit_objective(&p, wb, g);
    for (size_t j = 0; j < SL_FIT_DIM; j++)
        norm += g[j] * g[j];
    cr_assert_lt(sqrt(norm), 1e-6);
    cr_assert_float_eq(f, r.objective, 1e-12);
    /* A convex function: any nearby point is no better. */
    for (size_t j = 0; j < SL_FIT_DIM; j += (j == 9 ? FIXED0 - 9 : 1)) {
        if (j != 1 && j != 5 && j != 9 && j != FIXED0 && j != SL_FEATURES_DIM)
            continue;
        wb[j] += 1e-3;
        cr_assert_geq(sl_fit_objective(&p, wb, NULL), f);
        wb[j] -= 1e-3;
    }
    free(wb);
    free(g);
    tiny_teardown();
}

Test(fit, warm_start_from_the_solution_stops_at_once)
{
    struct sl_fit_problem p;
    struct sl_fit_options o;
    struct sl_fit_result r;
    double *wb = calloc(SL_FIT_DIM, sizeof(double));

    tiny_setup();
    p = tiny_problem(0.05, SL_FIT_WEIGHTS_NONE);
    sl_fit_options_default(&o);
    o.tol = 1e-8;
    cr_assert_eq(sl_fit_run(&p, &o, wb, &r), 0);
    cr_assert_eq(sl_fit_run(&p, &o, wb, &r), 0);
    cr_assert_eq(r.iterations, 0);
    cr_assert(r.converged);
    free(wb);
    tiny_teardown();
}

Test(fit, stops_at_max_iter)
{
    struct sl_fit_problem p;
    struct sl_fit_options o;
    struct sl_fit_result r;
    double *wb = calloc(SL_FIT_DIM, sizeof(double));

    tiny_setup();
    p = tiny_problem(1e-4, SL_FIT_WEIGHTS_NONE);
    sl_fit_options_default(&o);
    o.tol = 1e-12;
    o.max_iter = 3;
    cr_assert_eq(sl_fit_run(&p, &o, wb, &r), 0);
    cr_assert_eq(r.iterations, 3);
    cr_assert(!r.converged);
    free(wb);
    tiny_teardown();
}

Test(fit, refuses_an_empty_problem)
{
    struct sl_fit_problem p;
    struct sl_fit_options o;
    struct sl_fit_result r;
    double *wb = calloc(SL_FIT_DIM, sizeof(double));

    tiny_setup();
    p = tiny_problem(0.1, SL_FIT_WEIGHTS_NONE);
    p.n = 0;
    sl_fit_options_default(&o);
    cr_assert_eq(sl_fit_run(&p, &o, wb, &r), SL_EINVAL);
    free(wb);
    tiny_teardown();
}

Test(fit, threads_give_the_same_solution)
{
    struct sl_csr m;
    struct sl_rand rnd;
    int *y = malloc(6000 * sizeof(int));
    double *w1 = calloc(SL_FIT_DIM, sizeof(double)), *w2 = calloc(SL_FIT_DIM, sizeof(double));
    struct sl_fit_options o;
    struct sl_fit_result r1, r2;

    sl_csr_init(&m);
    sl_rand_seed(&rnd, 3);
    for (int i = 0; i < 6000; i++) {
        uint32_t idx[3] = {(uint32_t)(sl_rand_u64(&rnd) % 50), 60 + (uint32_t)(i % 7), FIXED0};
        float val[3] = {1.0f, 0.5f, 3.0f + (float)sl_rand_double(&rnd)};
        struct sl_features f = {idx, val, 3, 3};
        cr_assert_eq(sl_csr_add_row(&m, &f), 0);
        y[i] = idx[0] < 20 || sl_rand_double(&rnd) < 0.1;
    }
    struct sl_fit_problem p1 = {.x = &m, .y = y, .n = 6000, .lambda = 1e-3, .threads = 1};
    struct sl_fit_problem p2 = p1;
    p2.threads = 2;
    sl_fit_class_weights(&p1, SL_FIT_WEIGHTS_NONE);
    sl_fit_class_weights(&p2, SL_FIT_WEIGHTS_NONE);
    sl_fit_options_default(&o);
    o.tol = 1e-8;
    cr_assert_eq(sl_fit_run(&p1, &o, w1, &r1), 0);
    cr_assert_eq(sl_fit_run(&p2, &o, w2, &r2), 0);
    cr_assert_float_eq(r1.objective, r2.objective, 1e-10);
    for (size_t j = 0; j < SL_FIT_DIM; j++)
        cr_assert_float_eq(w1[j], w2[j], 1e-5, "weight %zu", j);
    free(y);
    free(w1);
    free(w2);
    sl_csr_free(&m);
}

/* Synthetic prompts: random words; the ones containing the marker word are label 1. */
static const char *const vocabulary[] = {
    "apple", "river", "stone", "cloud", "paper", "green", "table", "light", "music", "horse",
    "chair", "money", "water", "glass", "plant", "night", "story", "train", "field", "metal",
};
#define MARKER "zebra"

static void prompt(struct sl_rand *r, int marked, char *buf, size_t cap)
{
    int n = 6 + (int)(sl_rand_u64(r) % 10), at = (int)(sl_rand_u64(r) % (uint64_t)n);
    size_t len = 0;

    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *w = marked && i == at ? MARKER : vocabulary[sl_rand_u64(r) % 20];
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "", w);
    }
}

static void synthetic(struct sl_csr *m, int *y, size_t n, uint64_t seed)
{
    struct sl_rand r;
    struct sl_features f;
    char text[256];

    sl_rand_seed(&r, seed);
    sl_features_init(&f);
    sl_csr_init(m);
    for (size_t i = 0; i < n; i++) {
        y[i] = sl_rand_double(&r) < 0.4;
        prompt(&r, y[i], text, sizeof(text));
        cr_assert_eq(sl_features_extract(&f, text, strlen(text), 1), 0);
        cr_assert_eq(sl_csr_add_row(m, &f), 0);
    }
    sl_features_free(&f);
}

Test(fit, learns_a_marker_word)
{
    struct sl_csr train, test;
    int y[400], yt[200];
    double *wb = calloc(SL_FIT_DIM, sizeof(double)), prob[200], auc;
    struct sl_fit_options o;
    struct sl_fit_result r;
    struct sl_features marker;
    size_t best = 0;

    synthetic(&train, y, 400, 1);
    synthetic(&test, yt, 200, 2);
    struct sl_fit_problem p = {.x = &train, .y = y, .n = 400, .lambda = 1e-3, .threads = 1};
    sl_fit_class_weights(&p, SL_FIT_WEIGHTS_NONE);
    sl_fit_options_default(&o);
    cr_assert_eq(sl_fit_run(&p, &o, wb, &r), 0);
    sl_fit_predict(&test, NULL, 200, wb, prob);
    cr_assert_eq(sl_scores_auc(prob, yt, 200, &auc), 0);
    cr_assert_gt(auc, 0.99, "held-out AUC %g", auc);

    /* The largest weight belongs to one of the marker's own hashed features (its word or one
     * of its character n-grams), and pushes towards label 1 (hashed values carry a sign). */
    for (size_t j = 1; j < SL_FEATURES_DIM; j++)
        if (fabs(wb[j]) > fabs(wb[best]))
            best = j;
    sl_features_init(&marker);
    cr_assert_eq(sl_features_extract(&marker, MARKER, strlen(MARKER), 1), 0);
    bool found = false;
    for (size_t k = 0; k < marker.n; k++) {
        if (marker.idx[k] == best && best < SL_FEATURES_HASHED) {
            found = true;
            cr_assert_gt(wb[best] * marker.val[k], 0);
        }
    }
    cr_assert(found, "the largest weight, %g at %zu, is not one of the marker's features", wb[best],
              best);
    sl_features_free(&marker);
    sl_csr_free(&train);
    sl_csr_free(&test);
    free(wb);
}
