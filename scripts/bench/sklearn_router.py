#!/usr/bin/env python3
"""Fits scikit-learn's LogisticRegression on features exported by `sluice-trainer export`, with
the regularisation sluice-trainer uses, and prints one JSON object: test AUC, fit time, and the
objective in sluice-trainer's units, for scripts/bench-router.sh.

sluice-trainer minimises (1/sum c) sum c_i logloss_i + (lambda/2) ||w||^2 (bias not
regularised); scikit-learn's lbfgs minimises C sum c_i logloss_i + (1/2) ||w||^2 (intercept not
regularised), the same minimiser when C = 1 / (lambda * sum c). lbfgs is used rather than
liblinear because liblinear regularises the intercept. The svmlight files have 1-based
indices (zero_based=False).
"""
import argparse
import json
import time

import numpy as np
from sklearn.datasets import load_svmlight_file
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--dim", type=int, required=True, help="number of features (SL_FEATURES_DIM)")
    ap.add_argument("--lambda", dest="lam", type=float, required=True)
    ap.add_argument("--class-weight", choices=["none", "balanced"], default="none")
    ap.add_argument("--max-iter", type=int, default=10000)
    ap.add_argument("--tol", type=float, default=1e-4, help="scikit-learn's default")
    args = ap.parse_args()

    x, y = load_svmlight_file(args.train, n_features=args.dim, zero_based=False)
    xt, yt = load_svmlight_file(args.test, n_features=args.dim, zero_based=False)
    n = x.shape[0]
    # Class weights as sluice-trainer computes them (balanced: n / (2 n_class)).
    if args.class_weight == "balanced":
        n1 = float(np.sum(y == 1))
        c = np.where(y == 1, n / (2 * n1), n / (2 * (n - n1)))
        weight = {0: n / (2 * (n - n1)), 1: n / (2 * n1)}
    else:
        c = np.ones(n)
        weight = None
    sum_c = float(np.sum(c))
    C = 1.0 / (args.lam * sum_c)
    model = LogisticRegression(C=C, solver="lbfgs", max_iter=args.max_iter, tol=args.tol,
                               class_weight=weight)
    t0 = time.perf_counter()
    model.fit(x, y)
    fit_s = time.perf_counter() - t0

    p = model.predict_proba(xt)[:, 1]
    ptrain = np.clip(model.predict_proba(x)[:, 1], 1e-15, 1 - 1e-15)
    w = model.coef_.ravel()
    loss = -(c * (y * np.log(ptrain) + (1 - y) * np.log1p(-ptrain))).sum() / sum_c
    print(json.dumps({
        "solver": "lbfgs",
        "C": C,
        "lambda": args.lam,
        "train_rows": n,
        "test_rows": xt.shape[0],
        "fit_s": fit_s,
        "n_iter": int(model.n_iter_[0]),
        "auc": float(roc_auc_score(yt, p)),
        "logloss": float(log_loss(yt, p)),
        "objective": float(loss + 0.5 * args.lam * float(w @ w)),
    }))


if __name__ == "__main__":
    main()
