#!/usr/bin/env bash
# bench-eval.sh: measures the quality loop. Three parts:
#   1. what sampling costs the proxy: bin/mockllm, bin/sluice-evaluator (rule checks) and two
#      sluice-proxy processes alike but for sampling, both routing "auto" with the default
#      router: "off" (no evaluators) and "sampled" (every call sampled to the evaluator). wrk
#      at concurrency 1, non-stream, against the mock directly, "off" and "sampled" in
#      interleaved rounds; the ratio of the added p50s (target minus direct).
#   2. the evaluator's throughput: bin/bench-eval-ingest PUSHes samples into a fresh
#      sluice-evaluator until all are stored with their rule checks.
#   3. drift detection: bin/bench-drift simulates many runs with the production detectors:
#      the delay (samples) after a 10-point drop, and false alarms in stationary runs. The
#      target is judged on a drop from a 0.90 pass rate in a condition with 5,000 outcomes of
#      history; drops from 0.80 and 0.70, in a young condition, and the bound no detector can
#      beat at each pass rate are printed beside it (see tests/bench/bench_drift.c).
# Last line:
#   bench-eval: samples_per_s=N detect_p95_samples=N false_alarms_per_100_runs=N sampling_latency_ratio=R
#
# Targets: sampling every call adds at most 10% to the proxy's added latency at c=1; the
# evaluator keeps up with >= 5,000 samples/s of rule checks; a 10-point drop is detected within
# 500 samples in >= 95% of runs, with <= 1 false alarm per 100 stationary runs of 10,000.
# Missing a target is a result (exit 0); failing to measure is an error (exit 1).
#
# Environment: BENCH_DURATION (5), BENCH_ROUNDS (3), BENCH_WORKERS (2), BENCH_MAX_ERRORS (5),
# BENCH_BIN (bin/), BENCH_KEEP_TMP=1, as in bench-proxy.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$ROOT/scripts/bench
BIN=${BENCH_BIN:-$ROOT/bin}
DURATION=${BENCH_DURATION:-5}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-3}
WORKERS=${BENCH_WORKERS:-2}
MAX_ERRORS=${BENCH_MAX_ERRORS:-5}
WARMUP=1

TARGETS=(direct off sampled)
MODE=nonstream
BODY='{"model":"auto","messages":[{"role":"user","content":"Say hello to the benchmark."}]}'
DIRECT_BODY='{"model":"bench-model","messages":[{"role":"user","content":"Say hello to the benchmark."}]}'
API_PATH=/v1/chat/completions

MAX_LATENCY_RATIO=1.10
MIN_SAMPLES_PER_S=5000
MAX_DETECT_P95=500
MAX_FALSE_ALARMS=1

TMP=""
MOCK_PID="" OFF_PID="" SAMPLED_PID="" EVAL_PID="" WRK_PID="" HELPER_PID=""
declare -A URL BASE
CLEANUP_PIDS=(HELPER_PID WRK_PID SAMPLED_PID OFF_PID EVAL_PID MOCK_PID)
LOG_PREFIX=bench-eval
# shellcheck source=scripts/bench/lib.sh
. "$BENCH_DIR/lib.sh"

# start_evaluator DIR: a sluice-evaluator with rule checks only, PULLing on DIR/samples.sock.
start_evaluator() {
    local dir=$1
    mkdir -p "$dir"
    cat >"$dir/evaluator.json" <<EOF
{"listen": ["ipc://$dir/samples.sock"], "publish": "ipc://$dir/alerts.sock",
 "data_dir": "$dir/data", "default_scorers": ["rules"]}
EOF
    "$BIN/sluice-evaluator" -c "$dir/evaluator.json" --log-level warn >"$dir/evaluator.log" 2>&1 &
    EVAL_PID=$!
    sleep 0.3
    alive "$EVAL_PID" || {
        cat "$dir/evaluator.log" >&2
        die "sluice-evaluator failed to start"
    }
    log "sluice-evaluator pid $EVAL_PID on ipc://$dir/samples.sock"
}

# start_proxy off|sampled
start_proxy() {
    local name=$1 dir=$TMP/$1 evaluators="" sampling="" port pid
    mkdir -p "$dir"
    if [[ $name == sampled ]]; then
        evaluators="\"evaluators\": {\"endpoints\": [\"ipc://$TMP/eval/samples.sock\"]},"
        sampling='"sampling": {"rate": 1.0},'
    fi
    cat >"$dir/sluice.json" <<EOF
{"listen": "127.0.0.1:0", "workers": $WORKERS, "log_level": "warn",
 "auth": {"required": false}, "audit": {"enabled": false}, $evaluators
 "providers": {"mock": {"base_url": "http://127.0.0.1:$MOCK_PORT/v1"}},
 "models": {"small": {"price": {"input": 0.15, "output": 0.6},
                      "deployments": [{"provider": "mock", "model": "bench-small"}]},
            "large": {"price": {"input": 2.5, "output": 10},
                      "deployments": [{"provider": "mock", "model": "bench-large"}]}},
 "routes": {"auto": {"classifier": "$BIN/router-default.json", $sampling
                     "tiers": [{"name": "small", "models": ["small"]},
                               {"name": "large", "models": ["large"]}]}}}
EOF
    "$BIN/sluice-proxy" -c "$dir/sluice.json" --listen 127.0.0.1:0 --workers "$WORKERS" \
        --log-level warn --data-dir "$dir/data" --port-file "$dir/port" >"$dir/sluice.log" 2>&1 &
    pid=$!
    if [[ $name == sampled ]]; then SAMPLED_PID=$pid; else OFF_PID=$pid; fi
    port=$(wait_port_file "$dir/port" "$pid" "sluice-proxy ($name)" "$dir/sluice.log")
    BASE[$name]=http://127.0.0.1:$port
    URL[$name]=${BASE[$name]}$API_PATH
    log "sluice-proxy ($name) pid $pid on port $port"
}

body_of() { if [[ $1 == direct ]]; then echo "$DIRECT_BODY"; else echo "$BODY"; fi; }

run_rounds() {
    local round i target
    for ((round = 1; round <= ROUNDS; round++)); do
        for ((i = 0; i < ${#TARGETS[@]}; i++)); do
            target=${TARGETS[(i + round - 1) % ${#TARGETS[@]}]}
            if ((round == 1)); then
                run_wrk "${URL[$target]}" "$(body_of "$target")" 1 "$WARMUP" "$TMP/warmup.txt" \
                    "$target (c=1)" ""
            fi
            measure "$target" "$MODE" 1 "$round" "${URL[$target]}" "$(body_of "$target")" ""
        done
    done
}

# The value of an unlabelled series in a proxy's /metrics, or nothing.
metric() {
    curl -sS --max-time 10 "${BASE[$1]}/metrics" 2>/dev/null |
        awk -v name="$2" '$1 == name && v == "" { v = $2 } END { if (v != "") printf "%d\n", v }'
}

# run_helper NAME PATTERN ARGS...: runs bin/NAME, keeps its output in $TMP/NAME.out and prints
# its last line matching PATTERN.
run_helper() {
    local name=$1 pattern=$2 out=$TMP/$1.out line
    shift 2
    "$BIN/$name" "$@" >"$out" 2>"$out.err" &
    HELPER_PID=$!
    wait "$HELPER_PID" || {
        HELPER_PID=""
        cat "$out" "$out.err" >&2
        die "$name failed"
    }
    HELPER_PID=""
    line=$(grep -E "$pattern" "$out" | tail -n 1) || {
        cat "$out" "$out.err" >&2
        die "could not read $name's output"
    }
    echo "$line"
}

main() {
    local d50 off50 s50 ratio sent dropped ingest drift samples_per_s p95 fa target
    require_programs "$BIN/mockllm" "$BIN/sluice-proxy" "$BIN/sluice-evaluator" \
        "$BIN/bench-eval-ingest" "$BIN/bench-drift" wrk curl awk
    [[ -s $BIN/router-default.json ]] || die "$BIN/router-default.json is missing; run 'make all'"
    check_settings
    make_tmp sluice-bench-eval
    log "$(nproc) cpus, $ROUNDS rounds of ${DURATION}s, $WORKERS workers, work dir $TMP"

    # 1. sampling's cost to the proxy
    start_mock
    URL[direct]=http://127.0.0.1:$MOCK_PORT$API_PATH
    start_evaluator "$TMP/eval"
    start_proxy off
    start_proxy sampled
    for target in "${TARGETS[@]}"; do
        check_target "$target" "$MODE" "${URL[$target]}" "$(body_of "$target")" ""
    done
    run_rounds
    d50=$(m_p50 direct "$MODE" 1)
    off50=$(m_p50 off "$MODE" 1)
    s50=$(m_p50 sampled "$MODE" 1)
    ratio=$(printf '%.2f' "$(calc "($s50 - $d50) / ($off50 - $d50)")")
    sent=$(metric sampled sluice_samples_sent_total)
    dropped=$(metric sampled sluice_samples_dropped_total)
    printf '\n%-8s %10s %9s %9s %9s\n' target 'req/s' p50_us p99_us +p50_us
    for target in "${TARGETS[@]}"; do
        printf '%-8s %10.0f %9.0f %9.0f %9s\n' "$target" "$(m_rps "$target" "$MODE" 1)" \
            "$(m_p50 "$target" "$MODE" 1)" "$(m_p99 "$target" "$MODE" 1)" \
            "$([[ $target == direct ]] && echo - || printf '%.0f' "$(calc "$(m_p50 "$target" "$MODE" 1) - $d50")")"
    done
    echo "(c=1, non-stream, route auto; medians of $ROUNDS rounds of ${DURATION}s)"
    echo "samples: $sent sent to the evaluator, $dropped dropped"
    stop_process "$SAMPLED_PID"
    stop_process "$OFF_PID"
    stop_process "$EVAL_PID"
    stop_process "$MOCK_PID"
    SAMPLED_PID="" OFF_PID="" EVAL_PID="" MOCK_PID=""

    # 2. the evaluator's ingest rate, alone on the machine
    start_evaluator "$TMP/ingest"
    ingest=$(run_helper bench-eval-ingest '^samples_per_s=[0-9]+' \
        --endpoint "ipc://$TMP/ingest/samples.sock" --db "$TMP/ingest/data/eval.db")
    samples_per_s=${ingest#samples_per_s=}
    samples_per_s=${samples_per_s%% *}
    stop_process "$EVAL_PID"
    EVAL_PID=""

    # 3. drift detection in simulation
    drift=$(run_helper bench-drift '^detect_p95_samples=')
    p95=$(sed -n 's/.*detect_p95_samples=\([0-9.inf]*\).*/\1/p' <<<"$drift")
    fa=$(sed -n 's/.*false_alarms_per_100_runs=\([0-9.]*\).*/\1/p' <<<"$drift")
    cat "$TMP/bench-drift.out"

    echo
    echo "targets:"
    printf '  %-36s %-40s %s\n' \
        "added latency, sampling all, c=1" "sampled/off = $ratio (<= $MAX_LATENCY_RATIO)" \
        "$(verdict "$ratio" '<=' "$MAX_LATENCY_RATIO")" \
        "evaluator, rule checks" "$samples_per_s samples/s (>= $MIN_SAMPLES_PER_S)" \
        "$(verdict "$samples_per_s" '>=' "$MIN_SAMPLES_PER_S")" \
        "10-point drop from 0.90, p95 delay" "$p95 samples (<= $MAX_DETECT_P95)" \
        "$(verdict "$p95" '<=' "$MAX_DETECT_P95")" \
        "false alarms, stationary runs" "$fa per 100 runs (<= $MAX_FALSE_ALARMS)" \
        "$(verdict "$fa" '<=' "$MAX_FALSE_ALARMS")"
    echo "bench-eval: samples_per_s=$samples_per_s detect_p95_samples=$p95" \
        "false_alarms_per_100_runs=$fa sampling_latency_ratio=$ratio"
}

main "$@"
