/* Logistic regression: objective and gradient in one pass over CSR rows, GSL's BFGS. */
#include "fit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>

#include "clock.h"

#define MAX_THREADS 16

void sl_fit_options_default(struct sl_fit_options *o)
{
    memset(o, 0, sizeof(*o));
    o->max_iter = 1000;
    o->tol = 1e-5;
}

static size_t row_at(const struct sl_fit_problem *p, size_t k)
{
    return p->rows ? p->rows[k] : k;
}

void sl_fit_class_weights(struct sl_fit_problem *p, enum sl_fit_weights kind)
{
    size_t count[2] = {0, 0};

    p->weight[0] = p->weight[1] = 1.0;
    if (kind != SL_FIT_WEIGHTS_BALANCED)
        return;
    for (size_t k = 0; k < p->n; k++)
        count[p->y[row_at(p, k)] != 0]++;
    for (int c = 0; c < 2; c++)
        if (count[c])
            p->weight[c] = (double)p->n / (2.0 * (double)count[c]);
}

const char *sl_fit_weights_name(enum sl_fit_weights kind)
{
    return kind == SL_FIT_WEIGHTS_BALANCED ? "balanced" : "none";
}

int sl_fit_weights_parse(const char *s, enum sl_fit_weights *out)
{
    if (strcmp(s, "none") == 0)
        *out = SL_FIT_WEIGHTS_NONE;
    else if (strcmp(s, "balanced") == 0)
        *out = SL_FIT_WEIGHTS_BALANCED;
    else
        return SL_EINVAL;
    return 0;
}

/* log(1 + e^z) without overflow. */
static double softplus(double z)
{
    return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

static double sigmoid(double z)
{
    if (z >= 0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* State shared by the GSL callbacks. Margins w.x_i + b of the last point where f was
 * evaluated are kept with a copy of that point: GSL's line search often asks for the
 * gradient at a point whose value it has just asked for, and then one scatter pass suffices. */
struct fit_state {
    const struct sl_fit_problem *p;
    int threads;
    double sum_c;     /* sum of the class weights over the fitted rows */
    double *margins;  /* p->n */
    double *cache_wb; /* SL_FIT_DIM: where margins were computed */
    bool cache_ok;
    double *tgrad[MAX_THREADS]; /* per-thread gradients; thread 0 writes into the caller's */
    long evals;
    /* The minimiser's coordinates theta differ from wb in the bias alone: the bias absorbs
     * the fixed (dense) features' means, theta_b = b + sum_f w_f mu_f, as if those columns
     * were centred. J is the same function of the same model, but the fixed features' large
     * means (several units, on every row) no longer make one direction of the Hessian about
     * 1e5 times stiffer than the rest, which a BFGS with one step of memory pays for in
     * iterations (3x fewer here). All zero outside sl_fit_run. */
    double mu[SL_FEATURES_FIXED];
};

enum pass_mode {
    PASS_F,    /* margins and loss */
    PASS_FDF,  /* margins, loss and gradient */
    PASS_DF_AT /* gradient from the cached margins */
};

struct pass {
    struct fit_state *st;
    const double *wb;
    double *grad; /* SL_FIT_DIM, zeroed by the pass, or NULL */
    enum pass_mode mode;
    double bias; /* the model's bias b (theta's bias less the centring) */
    size_t lo, hi;
    double loss;
};

static void *pass_run(void *arg)
{
    struct pass *ps = arg;
    const struct sl_fit_problem *p = ps->st->p;
    const struct sl_csr *x = p->x;
    const double *w = ps->wb;
    const double b = ps->bias;
    double *margins = ps->st->margins;
    double loss = 0, gb = 0;

    if (ps->grad)
        memset(ps->grad, 0, SL_FIT_DIM * sizeof(double));
    for (size_t k = ps->lo; k < ps->hi; k++) {
        size_t i = row_at(p, k), s = x->ptr[i], e = x->ptr[i + 1];
        int y = p->y[i] != 0;
        double c = p->weight[y], t = p->t ? p->t[i] : y, z;

        if (ps->mode == PASS_DF_AT) {
            z = margins[k];
        } else {
            z = b;
            for (size_t j = s; j < e; j++)
                z += w[x->idx[j]] * (double)x->val[j];
            margins[k] = z;
            loss += c * (softplus(z) - t * z);
        }
        if (ps->grad) {
            double d = c * (sigmoid(z) - t);
            for (size_t j = s; j < e; j++)
                ps->grad[x->idx[j]] += d * (double)x->val[j];
            gb += d;
        }
    }
    if (ps->grad)
        ps->grad[SL_FEATURES_DIM] = gb;
    ps->loss = loss;
    return NULL;
}

/* One pass over the fitted rows at the point theta (the weights, then the centred bias), split
 * over the threads; returns J (PASS_F, PASS_FDF) and fills grad, dJ/dtheta (PASS_FDF,
 * PASS_DF_AT). */
static double evaluate(struct fit_state *st, const double *theta, double *grad, enum pass_mode mode)
{
    const struct sl_fit_problem *p = st->p;
    struct pass ps[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    bool started[MAX_THREADS] = {false};
    int t, nt = st->threads;
    double loss = 0, reg = 0, bias = theta[SL_FEATURES_DIM];

    st->evals++;
    for (int f = 0; f < SL_FEATURES_FIXED; f++)
        bias -= theta[SL_FEATURES_HASHED + f] * st->mu[f];
    for (t = 0; t < nt; t++) {
        ps[t] = (struct pass){.st = st, .wb = theta, .mode = mode, .bias = bias};
        ps[t].grad = mode == PASS_F ? NULL : t == 0 ? grad : st->tgrad[t];
        ps[t].lo = p->n * (size_t)t / (size_t)nt;
        ps[t].hi = p->n * (size_t)(t + 1) / (size_t)nt;
    }
    for (t = 1; t < nt; t++)
        started[t] = pthread_create(&tid[t], NULL, pass_run, &ps[t]) == 0;
    pass_run(&ps[0]);
    for (t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            pass_run(&ps[t]); /* could not start a thread: do its share here */
    }
    for (t = 0; t < nt; t++)
        loss += ps[t].loss;
    if (mode != PASS_F) {
        for (t = 1; t < nt; t++)
            for (size_t j = 0; j < SL_FIT_DIM; j++)
                grad[j] += st->tgrad[t][j];
        for (size_t j = 0; j < SL_FIT_DIM; j++)
            grad[j] /= st->sum_c;
        for (size_t j = 0; j < SL_FEATURES_DIM; j++)
            grad[j] += p->lambda * theta[j];
        for (int f = 0; f < SL_FEATURES_FIXED; f++) /* d theta_b / d w_f */
            grad[SL_FEATURES_HASHED + f] -= st->mu[f] * grad[SL_FEATURES_DIM];
    }
    if (mode == PASS_DF_AT)
        return NAN;
    for (size_t j = 0; j < SL_FEATURES_DIM; j++)
        reg += theta[j] * theta[j];
    memcpy(st->cache_wb, theta, SL_FIT_DIM * sizeof(double));
    st->cache_ok = true;
    return loss / st->sum_c + 0.5 * p->lambda * reg;
}

static void state_free(struct fit_state *st)
{
    free(st->margins);
    free(st->cache_wb);

    for (int t = 0; t < MAX_THREADS; t++)
        free(st->tgrad[t]);
}

static int state_init(struct fit_state *st, const struct sl_fit_problem *p)
{
    memset(st, 0, sizeof(*st));
    st->p = p;
    st->threads = p->threads < 1 ? 1 : p->threads > MAX_THREADS ? MAX_THREADS : p->threads;
    /* A thread per few thousand rows at most: starting one costs more than a small pass. */
    if ((size_t)st->threads > p->n / 2048 + 1)
        st->threads = (int)(p->n / 2048 + 1);
    for (size_t k = 0; k < p->n; k++)
        st->sum_c += p->weight[p->y[row_at(p, k)] != 0];
    st->margins = malloc((p->n ? p->n : 1) * sizeof(double));
    st->cache_wb = malloc(SL_FIT_DIM * sizeof(double));
    if (!st->margins || !st->cache_wb)
        return SL_ENOMEM;
    for (int t = 1; t < st->threads; t++)
        if (!(st->tgrad[t] = malloc(SL_FIT_DIM * sizeof(double))))
            return SL_ENOMEM;
    return 0;
}

double sl_fit_objective(const struct sl_fit_problem *p, const double *wb, double *grad)
{
    struct fit_state st;
    double f = NAN;

    if (state_init(&st, p) == 0 && p->n > 0)
        f = evaluate(&st, wb, grad, grad ? PASS_FDF : PASS_F);
    state_free(&st);
    return f;
}

/* The weighted means of the fixed features over the fitted rows (absent counts as 0). */
static void centre_init(struct fit_state *st)
{
    const struct sl_fit_problem *p = st->p;
    const struct sl_csr *x = p->x;

    for (size_t k = 0; k < p->n; k++) {
        size_t i = row_at(p, k);
        double c = p->weight[p->y[i] != 0];
        /* Fixed features have the highest indices: they end the row. */
        for (size_t j = x->ptr[i + 1]; j > x->ptr[i] && x->idx[j - 1] >= SL_FEATURES_HASHED; j--)
            st->mu[x->idx[j - 1] - SL_FEATURES_HASHED] += c * (double)x->val[j - 1];
    }
    for (int f = 0; f < SL_FEATURES_FIXED; f++)
        st->mu[f] /= st->sum_c;
}

static double gsl_f(const gsl_vector *v, void *arg)
{
    return evaluate(arg, v->data, NULL, PASS_F);
}

static void gsl_df(const gsl_vector *v, void *arg, gsl_vector *g)
{
    struct fit_state *st = arg;

    if (st->cache_ok && memcmp(v->data, st->cache_wb, SL_FIT_DIM * sizeof(double)) == 0)
        evaluate(st, v->data, g->data, PASS_DF_AT);
    else
        evaluate(st, v->data, g->data, PASS_FDF);
}

static void gsl_fdf(const gsl_vector *v, void *arg, double *f, gsl_vector *g)
{
    *f = evaluate(arg, v->data, g->data, PASS_FDF);
}

int sl_fit_run(const struct sl_fit_problem *p, const struct sl_fit_options *o, double *wb,
               struct sl_fit_result *r)
{
    struct fit_state st;
    gsl_multimin_fdfminimizer *s = NULL;
    gsl_vector *x = NULL;
    gsl_multimin_function_fdf fn;
    uint64_t t0 = sl_clock_mono_us(), last_print = t0;
    int rc, status = GSL_CONTINUE;

    memset(r, 0, sizeof(*r));
    if ((rc = state_init(&st, p)) != 0)
        goto out;
    if (p->n == 0) {
        rc = SL_EINVAL;
        goto out;
    }
    centre_init(&st);
    /* GSL's default handler aborts the process; report through return values instead. */
    gsl_set_error_handler_off();
    x = gsl_vector_alloc(SL_FIT_DIM);
    s = gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, SL_FIT_DIM);
    if (!x || !s) {
        rc = SL_ENOMEM;
        goto out;
    }
    memcpy(x->data, wb, SL_FIT_DIM * sizeof(double));
    for (int f = 0; f < SL_FEATURES_FIXED; f++)
        x->data[SL_FEATURES_DIM] += wb[SL_FEATURES_HASHED + f] * st.mu[f];
    fn = (gsl_multimin_function_fdf){
        .f = gsl_f, .df = gsl_df, .fdf = gsl_fdf, .n = SL_FIT_DIM, .params = &st};
    /* First trial step of length 1 along the steepest descent; line search tolerance 0.1,
     * as GSL's manual recommends for bfgs2. */
    if (gsl_multimin_fdfminimizer_set(s, &fn, x, 1.0, 0.1) != GSL_SUCCESS) {
        rc = SL_EINVAL;
        goto out;
    }
    status = gsl_multimin_test_gradient(s->gradient, o->tol);
    while (status == GSL_CONTINUE && r->iterations < o->max_iter) {
        int it = gsl_multimin_fdfminimizer_iterate(s);
        r->iterations++;
        if (it != GSL_SUCCESS)
            break; /* GSL_ENOPROG: the line search cannot improve on the current point */
        status = gsl_multimin_test_gradient(s->gradient, o->tol);
        uint64_t now = sl_clock_mono_us();
        if (o->progress && now - last_print >= 1000000) {
            fprintf(stderr, "fit%s%s: iteration %d objective %.6f |gradient| %.3g elapsed %.1f s\n",
                    o->label ? " " : "", o->label ? o->label : "", r->iterations,
                    gsl_multimin_fdfminimizer_minimum(s), gsl_blas_dnrm2(s->gradient),
                    (double)(now - t0) / 1e6);
            last_print = now;
        }
    }
    r->converged = status == GSL_SUCCESS;
    r->objective = gsl_multimin_fdfminimizer_minimum(s);
    r->grad_norm = gsl_blas_dnrm2(gsl_multimin_fdfminimizer_gradient(s));
    memcpy(wb, gsl_multimin_fdfminimizer_x(s)->data, SL_FIT_DIM * sizeof(double));
    for (int f = 0; f < SL_FEATURES_FIXED; f++)
        wb[SL_FEATURES_DIM] -= wb[SL_FEATURES_HASHED + f] * st.mu[f];
    rc = 0;
out:
    r->evaluations = st.evals;
    r->seconds = (double)(sl_clock_mono_us() - t0) / 1e6;
    gsl_multimin_fdfminimizer_free(s);
    gsl_vector_free(x);
    state_free(&st);
    return rc;
}

void sl_fit_predict(const struct sl_csr *x, const size_t *rows, size_t n, const double *wb,
                    double *prob)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = rows ? rows[k] : k;
        double z = wb[SL_FEATURES_DIM];
        for (size_t j = x->ptr[i]; j < x->ptr[i + 1]; j++)
            z += wb[x->idx[j]] * (double)x->val[j];
        prob[k] = sigmoid(z);
    }
}
