#!/usr/bin/env bash
# bench-router.sh: how good and how fast the router is, on the RouteLLM evaluation data in
# ../shared/datasets/routellm.jsonl (train split to fit, dev split to choose lambda, test split
# to report):
#   (a) sluice-trainer fit --target gain (the premium tier's expected gain in quality, which
#       is what APGR rewards) + eval: APGR, CPT(50%), CPT(80%) per source for the learned
#       router, random routing and the category prior; (a') the same APGR over a 5-fold
#       cross-validation of the train and dev rows, as the test split is a small sample;
#   (b) the same features exported to svmlight and fitted by scikit-learn's LogisticRegression
#       (lbfgs, same lambda and class weights) and by sluice-trainer, both to the label (what
#       svmlight carries): test AUC and fit time side by side;
#   (c) sluice-trainer time-score: feature extraction + scoring p50/p99 per prompt size;
#   (d) the proxy's added latency with routing on vs off (scripts/bench/route-latency.sh).
# The last line is
#   bench-router: apgr_mmlu=X apgr_gsm8k=X auc=X auc_sklearn=X fit_s=X fit_s_sklearn=X score_p99_us_2k=X
# auc, auc_sklearn, fit_s and fit_s_sklearn are (b)'s: fit_s is our fit to the label at (a)'s
# lambda (from zero, on all training rows, default threads); fit_s_sklearn is scikit-learn's.
#
# Targets (from the router issue): beat random and the category prior on every source; APGR >=
# 0.72 on MMLU and >= 0.68 on GSM8K; AUC within 0.005 of scikit-learn's in no more fit time;
# extraction + scoring p99 <= 20 us for 2 KB. Missing a target is a result, not an error: the
# script exits 0. It exits non-zero when it cannot measure.
#
# Skips (exit 0) when the dataset is absent. Installs Debian's python3-sklearn when missing.
# Environment:
#   BENCH_BIN          where sluice-trainer is (default bin/ of the repository)
#   BENCH_ROUTER_DATA  the dataset (default ../shared/datasets/routellm.jsonl)
#   BENCH_SCORE_N      calls per prompt size for time-score (default 20000)
#   BENCH_KEEP_TMP=1   keep the temporary directory (model, exports, outputs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BENCH_BIN:-$ROOT/bin}
DATA=${BENCH_ROUTER_DATA:-$ROOT/../shared/datasets/routellm.jsonl}
SCORE_N=${BENCH_SCORE_N:-20000}
TRAINER=$BIN/sluice-trainer
TMP=""

log() { printf 'bench-router: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

cleanup() {
    local rc=$?
    if [[ -n $TMP ]]; then
        if [[ ${BENCH_KEEP_TMP:-0} == 1 || $rc -ne 0 ]]; then
            log "kept $TMP"
        else
            rm -rf "$TMP"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Debian's python3-sklearn installs for the system interpreter, which may not be the first
# python3 on PATH.
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3 || true)

ensure_sklearn() {
    local sudo=""
    [[ -n $PY ]] && "$PY" -c 'import sklearn' 2>/dev/null && return 0
    log "installing python3-sklearn (Debian package)"
    [[ $(id -u) -ne 0 ]] && sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y -qq --no-install-recommends python3-sklearn >/dev/null 2>&1; then
        $sudo apt-get update -qq >/dev/null
        $sudo apt-get install -y -qq --no-install-recommends python3-sklearn >/dev/null
    fi
    PY=/usr/bin/python3
    "$PY" -c 'import sklearn' || die "python3-sklearn did not install"
}

# json FILE EXPR: prints the Python expression EXPR evaluated with j = the JSON in FILE.
json() {
    "$PY" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# (a) --------------------------------------------------------------------------------------
bench_quality() {
    log "(a) fit on the train split (lambda chosen on dev), eval on test"
    "$TRAINER" fit --data "$DATA" --target gain --out "$TMP/model.json" >"$TMP/fit.out" \
        2>"$TMP/fit.err" ||
        { cat "$TMP/fit.err" >&2; die "sluice-trainer fit failed"; }
    echo "== sluice-trainer fit"
    cat "$TMP/fit.out"
    "$TRAINER" eval --model "$TMP/model.json" --data "$DATA" --split test >"$TMP/eval.txt" ||
        die "sluice-trainer eval failed"
    "$TRAINER" eval --model "$TMP/model.json" --data "$DATA" --split test --json \
        >"$TMP/eval.json" || die "sluice-trainer eval --json failed"
    echo
    echo "== (a) routing on the test split (APGR and CPT on a 101-point quantile sweep)"
    "$PY" - "$TMP/eval.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
fmt = "  {:<18} {:<15} {:>6} {:>9} {:>9} {:>6}"
print(fmt.format("source", "router", "APGR", "CPT(50%)", "CPT(80%)", "rows"))
for src, r in j["routing"].items():
    for name, key in (("learned", "learned"), ("random", "random"), ("category-prior", "category_prior")):
        s = r[key]
        print(fmt.format(src if name == "learned" else "", name, "%.3f" % s["apgr"],
                         "%.1f%%" % (100 * s["cpt50"]), "%.1f%%" % (100 * s["cpt80"]),
                         r["rows"] if name == "learned" else ""))
beats = all(r["learned"]["apgr"] > max(r["random"]["apgr"], r["category_prior"]["apgr"])
            for s, r in j["routing"].items() if s != "all")
print("  learned beats random and the category prior on every source: %s" % ("yes" if beats else "no"))
EOF
    echo
    echo "== sluice-trainer eval (full report)"
    cat "$TMP/eval.txt"
}

# (a') -------------------------------------------------------------------------------------
# The test split is one draw of about 1,500 rows; on it the category prior's APGR on MMLU is
# 0.72, against 0.67 over the rest of the file. So (a) is repeated over a 5-fold
# cross-validation of the train and dev rows (the test rows left out), at (a)'s lambda: the
# mean and spread over folds say what the test split's one figure cannot.
bench_cv() {
    local lambda k
    log "(a') 5-fold cross-validation of the train and dev rows"
    lambda=$(json "$TMP/model.json" 'repr(j["training"]["lambda"])')
    "$PY" - "$DATA" "$TMP" <<'EOF2' || die "cannot write the folds"
import json, sys, zlib
data, tmp = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(data, encoding="utf-8")]
rows = [r for r in rows if r["split"] in ("train", "dev") and not r["contaminated"]]
for k in range(5):
    with open("%s/fold%d.jsonl" % (tmp, k), "w", encoding="utf-8") as f:
        for r in rows:
            # by the prompt's hash, as the file's splits are: a repeated prompt stays in one fold
            fold = zlib.crc32(r["prompt"].encode("utf-8")) % 5
            f.write(json.dumps(dict(r, split="test" if fold == k else "train")) + "\n")
EOF2
    for k in 0 1 2 3 4; do
        "$TRAINER" fit --data "$TMP/fold$k.jsonl" --target gain --lambda "$lambda" --quiet \
            --out "$TMP/fold$k.model.json" >/dev/null || die "fold $k: sluice-trainer fit failed"
        "$TRAINER" eval --model "$TMP/fold$k.model.json" --data "$TMP/fold$k.jsonl" --split test \
            --json >"$TMP/fold$k.eval.json" || die "fold $k: sluice-trainer eval failed"
    done
    echo
    echo "== (a') APGR over a 5-fold cross-validation of the train and dev rows (lambda $lambda)"
    "$PY" - "$TMP" <<'EOF2'
import json, statistics, sys
ev = [json.load(open("%s/fold%d.eval.json" % (sys.argv[1], k))) for k in range(5)]
fmt = "  {:<18} {:<15} {:>6} {:>6} {:>6}  {}"
print(fmt.format("source", "router", "mean", "sd", "rows", "per fold"))
for src in ev[0]["routing"]:
    rows = sum(e["routing"][src]["rows"] for e in ev if src in e["routing"])
    # a source with a few rows a fold has no meaningful (or no) APGR per fold
    if rows < 500:
        print("  %-18s (%d rows: too few)" % (src, rows))
        continue
    for name, key in (("learned", "learned"), ("category-prior", "category_prior")):
        a = [e["routing"][src][key]["apgr"] for e in ev]
        print(fmt.format(src if name == "learned" else "", name, "%.3f" % statistics.mean(a),
                         "%.3f" % statistics.stdev(a),
                         rows if name == "learned" else "", " ".join("%.3f" % x for x in a)))
EOF2
}

# (b) --------------------------------------------------------------------------------------
bench_sklearn() {
    local lambda weights dim
    log "(b) the same features, objective and lambda in scikit-learn"
    ensure_sklearn
    lambda=$(json "$TMP/model.json" 'repr(j["training"]["lambda"])')
    weights=$(json "$TMP/model.json" 'j["training"]["class_weights"]["kind"]')
    dim=$(json "$TMP/model.json" 'j["weights"]["dim"]')
    "$TRAINER" export --data "$DATA" --split train --out "$TMP/train.svm" >/dev/null
    "$TRAINER" export --data "$DATA" --split test --out "$TMP/test.svm" >/dev/null
    "$PY" "$ROOT/scripts/bench/sklearn_router.py" --train "$TMP/train.svm" --test "$TMP/test.svm" \
        --dim "$dim" --lambda "$lambda" --class-weight "$weights" >"$TMP/sklearn.json" ||
        die "scikit-learn fit failed"
    # The label as target, which svmlight carries, at (a)'s lambda: with the default threads,
    # and on one thread for a like-for-like time (lbfgs runs on one).
    "$TRAINER" fit --data "$DATA" --out "$TMP/label.json" --target label --lambda "$lambda" \
        --quiet >/dev/null || die "sluice-trainer fit --target label failed"
    "$TRAINER" eval --model "$TMP/label.json" --data "$DATA" --split test --json \
        >"$TMP/label.eval.json" || die "sluice-trainer eval of the label fit failed"
    "$TRAINER" fit --data "$DATA" --out "$TMP/label1.json" --target label --lambda "$lambda" \
        --threads 1 --quiet >/dev/null || die "sluice-trainer fit --threads 1 failed"
    echo
    echo "== (b) sluice-trainer against scikit-learn (the label as target, lambda $lambda, class" \
        "weights $weights, svmlight with 1-based indices)"
    "$PY" - "$TMP/label.json" "$TMP/label1.json" "$TMP/label.eval.json" "$TMP/sklearn.json" <<'EOF'
import json, sys
m, m1, ev, sk = (json.load(open(p)) for p in sys.argv[1:5])
t, t1 = m["training"], m1["training"]
fmt = "  {:<36} {:>9} {:>10} {:>10} {:>13}"
print(fmt.format("", "test AUC", "fit s", "iterations", "objective"))
print(fmt.format("sluice-trainer (GSL bfgs2, %d threads)" % t["threads"], "%.4f" % ev["auc"],
                 "%.2f" % t["fit_seconds"], t["iterations"], "%.8f" % t["objective"]))
print(fmt.format("sluice-trainer (GSL bfgs2, 1 thread)", "", "%.2f" % t1["fit_seconds"],
                 t1["iterations"], "%.8f" % t1["objective"]))
print(fmt.format("scikit-learn %s, C=%.4g" % (sk["solver"], sk["C"]), "%.4f" % sk["auc"],
                 "%.2f" % sk["fit_s"], sk["n_iter"], "%.8f" % sk["objective"]))
d = ev["auc"] - sk["auc"]
print("  AUC difference %+.4f (target: within 0.005): %s; fit time %.2f s vs %.2f s (target: no more): %s"
      % (d, "met" if abs(d) <= 0.005 else "missed", t["fit_seconds"], sk["fit_s"],
         "met" if t["fit_seconds"] <= sk["fit_s"] else "missed"))
print("  (scikit-learn stops at its default tol=1e-4 on its summed-loss gradient; sluice-trainer at")
print("   |gradient| < %g of the mean-loss objective, converged: %s)" % (t["tol"], t["converged"]))
EOF
}

# (c) --------------------------------------------------------------------------------------
bench_score_time() {
    log "(c) extraction + scoring time"
    "$TRAINER" time-score --model "$TMP/model.json" --n "$SCORE_N" >"$TMP/time.out" ||
        die "sluice-trainer time-score failed"
    echo
    echo "== (c) sluice-trainer time-score"
    cat "$TMP/time.out"
}

# (d) --------------------------------------------------------------------------------------
# The proxy's latency at c=1 for the same ~1 KB request sent to a concrete model and to a
# route scored by the model fitted in (a).
bench_routing_latency() {
    echo
    echo "== (d) proxy latency at concurrency 1, routing on vs off"
    "$ROOT/scripts/bench/route-latency.sh" "$TMP/model.json" | tee "$TMP/route.out"
}

main() {
    local t0=$SECONDS apgr_mmlu apgr_gsm8k auc auc_sk fit_s fit_sk p99 noise
    if [[ ! -f $DATA ]]; then
        echo "bench-router: skipped: $DATA not found (the shared datasets are not on this machine)"
        exit 0
    fi
    [[ -x $TRAINER ]] || die "$TRAINER not found: run make first"
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-router.XXXXXX")

    bench_quality
    bench_cv
    bench_sklearn
    bench_score_time
    bench_routing_latency

    apgr_mmlu=$(json "$TMP/eval.json" '"%.3f" % j["routing"]["routellm_mmlu"]["learned"]["apgr"]')
    apgr_gsm8k=$(json "$TMP/eval.json" '"%.3f" % j["routing"]["routellm_gsm8k"]["learned"]["apgr"]')
    auc=$(json "$TMP/label.eval.json" '"%.4f" % j["auc"]')
    auc_sk=$(json "$TMP/sklearn.json" '"%.4f" % j["auc"]')
    fit_s=$(json "$TMP/label.json" '"%.2f" % j["training"]["fit_seconds"]')
    fit_sk=$(json "$TMP/sklearn.json" '"%.2f" % j["fit_s"]')
    p99=$(sed -n 's/^time-score: .*p99_us_2k=\([0-9.]*\).*/\1/p' "$TMP/time.out")
    noise=$(sed -n 's/^machine noise: .* p99 \([0-9.]*\) us.*/\1/p' "$TMP/time.out")
    echo
    echo "== targets"
    "$PY" - "$apgr_mmlu" "$apgr_gsm8k" "$auc" "$auc_sk" "$fit_s" "$fit_sk" "$p99" "${noise:-nan}" <<'EOF'
import sys
mm, gs, auc, sk, fs, fsk, p99, noise = map(float, sys.argv[1:])
for what, ok in (("APGR MMLU %.3f >= 0.72" % mm, mm >= 0.72),
                 ("APGR GSM8K %.3f >= 0.68" % gs, gs >= 0.68),
                 ("AUC %.4f within 0.005 of scikit-learn's %.4f" % (auc, sk), abs(auc - sk) <= 0.005),
                 ("fit %.2f s <= scikit-learn's %.2f s" % (fs, fsk), fs <= fsk),
                 ("extraction + scoring p99 %.2f us <= 20 us at 2 KB" % p99, p99 <= 20)):
    print("  %-60s %s" % (what, "met" if ok else "MISSED"))
print("  (this machine's noise floor: a fixed busy loop as long as a 2 KB call has p99 %.2f us)" % noise)
EOF
    log "done in $((SECONDS - t0)) s"
    echo "bench-router: apgr_mmlu=$apgr_mmlu apgr_gsm8k=$apgr_gsm8k auc=$auc auc_sklearn=$auc_sk" \
        "fit_s=$fit_s fit_s_sklearn=$fit_sk score_p99_us_2k=$p99"
}

main "$@"
