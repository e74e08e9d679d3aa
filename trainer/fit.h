/* L2-regularised logistic regression on sparse features, minimised with GSL's BFGS
 * (gsl_multimin_fdfminimizer_vector_bfgs2). The objective over the fitted rows is
 *   J(w, b) = (1 / sum c_i) sum c_i logloss(t_i, w.x_i + b) + (lambda / 2) ||w||^2
 * with targets t_i in [0, 1] (the labels, or soft targets: logloss(t, z) = -t log sigmoid(z)
 * - (1 - t) log(1 - sigmoid(z))), class weights c_i by label, and the bias b not regularised.
 * Parameters travel as one array wb of SL_FIT_DIM doubles: the SL_FEATURES_DIM weights, then the
 * bias. Memory: the caller's CSR matrix plus a few dense vectors; one pass over the non-zeros gives
 * f and its gradient. */
#ifndef SL_FIT_H
#define SL_FIT_H

#include <stdbool.h>
#include <stddef.h>

#include "csr.h"
#include "errors.h"

#define SL_FIT_DIM (SL_FEATURES_DIM + 1)

enum sl_fit_weights { SL_FIT_WEIGHTS_NONE, SL_FIT_WEIGHTS_BALANCED };

struct sl_fit_problem {
    const struct sl_csr *x;
    const int *y;       /* 0/1 labels of x's rows: the class of each, for its weight */
    const double *t;    /* targets in [0, 1] of x's rows, or NULL for the labels */
    const size_t *rows; /* the rows of x to fit, or NULL for rows 0..n-1 */
    size_t n;           /* how many rows are fitted */
    double lambda;
    double weight[2]; /* class weights c_0, c_1 (1, 1 unless set) */
    int threads;      /* passes over the rows run on this many threads (<= 1: one) */
};

struct sl_fit_options {
    int max_iter;      /* BFGS iterations at most */
    double tol;        /* stop when ||gradient|| < tol (gsl_multimin_test_gradient) */
    bool progress;     /* print progress to stderr, at most once a second, after 1 s */
    const char *label; /* names the fit in progress lines, e.g. "lambda=1e-04" */
};

struct sl_fit_result {
    int iterations;
    long evaluations; /* passes over the data */
    double objective;
    double grad_norm;
    double seconds;
    bool converged; /* the gradient test passed (else max_iter, or no more progress) */
};

/* Fills o with the defaults: 1000 iterations, tol 1e-5, no progress. */
void sl_fit_options_default(struct sl_fit_options *o);

/* Sets p->weight for p's rows: 1 and 1, or balanced, n / (2 n_class). */
void sl_fit_class_weights(struct sl_fit_problem *p, enum sl_fit_weights kind);

const char *sl_fit_weights_name(enum sl_fit_weights kind);
/* Parses "none" or "balanced"; SL_EINVAL otherwise. */
int sl_fit_weights_parse(const char *s, enum sl_fit_weights *out) SL_MUST_CHECK;

/* J at wb, and its gradient into grad (SL_FIT_DIM) when grad is not NULL. NAN when out of
 * memory. */
double sl_fit_objective(const struct sl_fit_problem *p, const double *wb, double *grad);

/* Minimises J from the start point wb (zeros, or a warm start) and leaves the minimiser in
 * wb. SL_ENOMEM, SL_EINVAL (no rows). Stopping at max_iter is not an error: r says. */
int sl_fit_run(const struct sl_fit_problem *p, const struct sl_fit_options *o, double *wb,
               struct sl_fit_result *r) SL_MUST_CHECK;

/* prob[k] = sigmoid(w.x_i + b) for i = rows[k] (or k when rows is NULL), k < n. */
void sl_fit_predict(const struct sl_csr *x, const size_t *rows, size_t n, const double *wb,
                    double *prob);

#endif
