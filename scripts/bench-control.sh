#!/usr/bin/env bash
# bench-control.sh: how fast a configuration change reaches running proxies, and what swapping
# versions costs the requests they serve. Starts bin/mockllm (the upstream), bin/sluice-controller
# and four sluice-proxy processes that follow it, all on loopback.
#   1. Propagation: BENCH_CHANGES changes (the route's threshold) made through the controller's
#      admin API, one every 50 ms; for each, the time from the controller accepting it (the
#      version's created_us) to the last of the four proxies serving it (the applied_us each
#      proxy reports). p50 and p99 over the changes.
#   2. Latency under swaps: wrk against proxy 1 (route "auto", scored by the classifier) in
#      interleaved rounds with and without 10 new versions a second (one curl process at
#      --rate 10/s; in the rounds without, it reads the configuration instead, so that the only
#      difference is the swap). The latency the proxy adds is what it reports per answer in
#      x-sluice-overhead-us (time in the gateway, the upstream's excluded), collected by
#      scripts/bench/overhead.lua; p99_ratio_swapping is the median over rounds of its p99
#      swapping over not swapping. wrk's end-to-end p99 is shown beside it.
# Last line:
#   bench-control: propagate_p50_ms=N propagate_p99_ms=N p99_ratio_swapping=R
#
# Targets: propagation p99 at most 50 ms; swapping 10 times a second changes the added p99 by at
# most 10% (ratio <= 1.10). Missing a target is a result, not an error: the script exits 0. It
# exits non-zero when it cannot measure.
#
# Environment:
#   BENCH_CHANGES     changes measured for propagation (default 200)
#   BENCH_DURATION    seconds per wrk run (default 5)
#   BENCH_ROUNDS      rounds of the latency part (default 3)
#   BENCH_WORKERS     workers of each sluice-proxy (default 1)
#   BENCH_CONC        wrk connections (default 8)
#   BENCH_MAX_ERRORS  socket errors + non-2xx responses tolerated per wrk run (default 0)
#   BENCH_BIN         where the programs are (default bin/ of the repository)
#   BENCH_KEEP_TMP=1  keep the temporary directory
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$ROOT/scripts/bench
BIN=${BENCH_BIN:-$ROOT/bin}
CHANGES=${BENCH_CHANGES:-200}
DURATION=${BENCH_DURATION:-5}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-3}
WORKERS=${BENCH_WORKERS:-1}
CONC=${BENCH_CONC:-8}
MAX_ERRORS=${BENCH_MAX_ERRORS:-0}
PROXIES=4

MAX_PROPAGATE_P99_MS=50
MAX_P99_RATIO=1.10

BODY='{"model":"auto","messages":[{"role":"user","content":"Summarise the plot of a short story about a lighthouse keeper in three sentences."}]}'

TMP=""
MOCK_PID="" CTL_PID="" WRK_PID="" LOOP_PID=""
PROXY_PIDS=()
PROXY_PORT=() # [i] -> port of proxy i
CTL_URL=""
ADMIN=""
CLEANUP_PIDS=(LOOP_PID WRK_PID CTL_PID MOCK_PID)
LOG_PREFIX=bench-control
# shellcheck source=scripts/bench/lib.sh
. "$BENCH_DIR/lib.sh"

cleanup_all() {
    local pid
    for pid in "${PROXY_PIDS[@]}"; do stop_process "$pid"; done
    cleanup
}

# ---- the stack -------------------------------------------------------------------------

write_proxy_file() {
    cat >"$TMP/sluice.json" <<EOF
{"listen": "127.0.0.1:0", "log_level": "warn", "auth": {"required": false},
 "audit": {"enabled": false},
 "controller": {"snapshot": "ipc://$TMP/snapshot", "updates": "ipc://$TMP/updates",
                "reports": "ipc://$TMP/reports", "heartbeat_ms": 1000},
 "providers": {"mock": {"base_url": "http://127.0.0.1:$MOCK_PORT/v1"}},
 "models": {
   "small": {"price": {"input": 0.15, "output": 0.6},
             "deployments": [{"provider": "mock", "model": "small"}]},
   "large": {"price": {"input": 2.5, "output": 10},
             "deployments": [{"provider": "mock", "model": "large"}]}},
 "routes": {"auto": {"classifier": "$BIN/router-default.json",
   "tiers": [{"name": "small", "models": ["small"]}, {"name": "large", "models": ["large"]}]}}}
EOF
}

start_controller() {
    mkdir -p "$TMP/ctl"
    cat >"$TMP/ctl/controller.json" <<EOF
{"sluice": "$TMP/sluice.json", "data_dir": "$TMP/ctl/data", "log_level": "warn",
 "snapshot": "ipc://$TMP/snapshot", "updates": "ipc://$TMP/updates",
 "reports": "ipc://$TMP/reports", "heartbeat_ms": 1000}
EOF
    SLUICE_ADMIN_KEY=$ADMIN "$BIN/sluice-controller" -c "$TMP/ctl/controller.json" \
        --listen 127.0.0.1:0 --port-file "$TMP/ctl/port" >"$TMP/ctl/log" 2>&1 &
    CTL_PID=$!
    CTL_URL=http://127.0.0.1:$(wait_port_file "$TMP/ctl/port" "$CTL_PID" sluice-controller "$TMP/ctl/log")
    log "sluice-controller pid $CTL_PID at $CTL_URL"
}

start_proxies() {
    local i dir
    for ((i = 0; i < PROXIES; i++)); do
        dir=$TMP/proxy$i
        mkdir -p "$dir"
        env -u SLUICE_ADMIN_KEY "$BIN/sluice-proxy" -c "$TMP/sluice.json" --listen 127.0.0.1:0 \
            --workers "$WORKERS" --data-dir "$dir/data" --port-file "$dir/port" \
            >"$dir/log" 2>&1 &
        PROXY_PIDS+=($!)
        PROXY_PORT[i]=$(wait_port_file "$dir/port" "$!" "sluice-proxy $i" "$dir/log")
    done
    log "$PROXIES sluice-proxy processes on ports ${PROXY_PORT[*]}, $WORKERS worker(s) each"
}

# ctl METHOD PATH [BODY]: calls the controller's admin API; the answer to stdout. The admin
# key goes through curl's stdin, never on a command line.
ctl() {
    local data=()
    if [[ $# -gt 2 ]]; then data=(--data-binary "$3"); fi
    curl -sS --fail-with-body --max-time 10 -X "$1" -H @- -H 'Content-Type: application/json' \
        "${data[@]}" "$CTL_URL$2" <<<"Authorization: Bearer $ADMIN"
}

# change_body N: the PUT /admin/config body of the N-th change (the threshold depends on N).
change_body() {
    local t
    t=$(awk -v n="$1" 'BEGIN { printf "%.3f", 0.2 + (n % 60) / 100 }')
    printf '{"reason":"bench %s","document":{"routes":{"auto":{"classifier":"%s","thresholds":[%s],"tiers":[{"name":"small","models":["small"]},{"name":"large","models":["large"]}]}}}}' \
        "$1" "$BIN/router-default.json" "$t"
}

# change N: PUTs version N's change; prints the new version's number.
change() {
    local out
    out=$(ctl PUT /admin/config "$(change_body "$1")") || die "PUT /admin/config failed: $out"
    sed -n 's/.*"version":\([0-9]*\).*/\1/p' <<<"$out"
}

# Waits (up to 5 s) until every proxy reports version v; prints the largest propagation (ms).
rollout_ms() {
    local v=$1 i out
    for ((i = 0; i < 500; i++)); do
        out=$(ctl GET "/admin/rollout?version=$v") || die "GET /admin/rollout failed: $out"
        if [[ $out == *'"complete":true'* ]] &&
            [[ $(grep -o '"propagation_ms":[0-9.eE+-]*' <<<"$out" | wc -l) -ge $PROXIES ]]; then
            grep -o '"propagation_ms":[0-9.eE+-]*' <<<"$out" | cut -d: -f2 | sort -g | tail -n 1
            return 0
        fi
        sleep 0.01
    done
    echo "$out" >&2
    die "version $v did not reach every proxy in 5 s"
}

# ---- 1. propagation --------------------------------------------------------------------

PROPAGATE=""
measure_propagation() {
    local n v ms
    log "propagation: $CHANGES changes to $PROXIES proxies"
    for ((n = 1; n <= CHANGES; n++)); do
        v=$(change "$n")
        [[ -n $v ]] || die "the controller accepted a change without a version number"
        ms=$(rollout_ms "$v")
        PROPAGATE+="$ms "
        sleep 0.05
    done
}

percentile() { # percentile P "values"
    tr -s ' ' '\n' <<<"$2" | grep . | sort -g | awk -v p="$1" '{ v[NR] = $1 }
        END { i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }'
}

# ---- 2. latency while swapping ---------------------------------------------------------

# Ten calls a second to the controller from one curl process (--rate), so that process
# start-ups do not set the pace: changes (swap) or reads of the configuration (quiet), so that
# both kinds of round carry the same controller and curl work.
start_loop() {
    local kind=$1 n body cfg=$TMP/loop-$1.curl
    : >"$cfg"
    for ((n = 0; n < 10 * (2 * DURATION + 4); n++)); do
        {
            echo "url = \"$CTL_URL/admin/config\""
            echo "header = \"Authorization: Bearer $ADMIN\""
            echo 'header = "Content-Type: application/json"'
            echo 'output = "/dev/null"'
            if [[ $kind == swap ]]; then
                body=$(change_body "$n")
                echo 'request = "PUT"'
                echo "data = \"${body//\"/\\\"}\""
            fi
            echo next
        } >>"$cfg"
    done
    curl -sS --rate 10/s -K "$cfg" >/dev/null 2>"$TMP/loop-$kind.err" &
    LOOP_PID=$!
}

stop_loop() {
    stop_process "$LOOP_PID"
    LOOP_PID=""
}

declare -A OV_P50 OV_P99 E2E_P99 RATE
# wrk against proxy 1 with overhead.lua for DURATION seconds while the loop of kind runs;
# appends the proxy's overhead p50/p99 and wrk's end-to-end p99 under kind.
measure_kind() {
    local kind=$1 round=$2 url=$3 out=$TMP/wrk-$1-r$2.txt stats ov v0 v1
    local rps p50 p99 sockerr non2xx requests
    v0=$(ctl GET /admin/config | sed -n 's/.*"version":\([0-9]*\).*/\1/p')
    start_loop "$kind"
    env BENCH_DIR="$BENCH_DIR" BENCH_BODY="$BODY" wrk -t2 -c"$CONC" -d"${DURATION}s" --timeout 10s \
        --latency -s "$BENCH_DIR/overhead.lua" "$url" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || die "wrk failed against proxy 1 ($kind): $(cat "$out")"
    WRK_PID=""
    stop_loop
    v1=$(ctl GET /admin/config | sed -n 's/.*"version":\([0-9]*\).*/\1/p')
    stats=$(parse_wrk "$out") || die "could not read wrk's output: $(cat "$out")"
    read -r rps p50 p99 sockerr non2xx requests <<<"$stats"
    ((sockerr + non2xx <= MAX_ERRORS)) || die "proxy 1 ($kind) had $sockerr socket errors and $non2xx non-2xx answers"
    ov=$(grep -E '^overhead_us ' "$out") || die "no overhead line in wrk's output"
    [[ $ov =~ p50=([0-9]+)\ p99=([0-9]+)\ n=([0-9]+) ]] || die "bad overhead line: $ov"
    ((BASH_REMATCH[3] > 0)) || die "no x-sluice-overhead-us header in proxy 1's answers"
    if [[ $kind == swap && $((v1 - v0)) -lt $((DURATION * 5)) ]]; then
        die "only $((v1 - v0)) swaps in a ${DURATION} s swapping round"
    fi
    OV_P50[$kind]+="${BASH_REMATCH[1]} "
    OV_P99[$kind]+="${BASH_REMATCH[2]} "
    E2E_P99[$kind]+="$p99 "
    RATE[$kind]+="$rps "
    log "$(printf 'round %d/%d %-5s %6.0f req/s  overhead p50 %5d us p99 %5d us  end-to-end p99 %6.0f us  versions %d -> %d' \
        "$round" "$ROUNDS" "$kind" "$rps" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "$p99" "$v0" "$v1")"
}

measure_swapping() {
    local round i kinds=(quiet swap) url=http://127.0.0.1:${PROXY_PORT[0]}/v1/chat/completions
    check_target proxy nonstream "$url" "$BODY"
    run_wrk "$url" "$BODY" "$CONC" 1 "$TMP/warmup.txt" "proxy (warm-up)"
    for ((round = 1; round <= ROUNDS; round++)); do
        for ((i = 0; i < 2; i++)); do
            measure_kind "${kinds[(i + round - 1) % 2]}" "$round" "$url"
        done
    done
}

# ---- main ------------------------------------------------------------------------------

main() {
    local p50 p99 ratio k
    require_programs "$BIN/mockllm" "$BIN/sluice-proxy" "$BIN/sluice-controller" wrk curl awk od
    [[ -r $BIN/router-default.json ]] || die "$BIN/router-default.json is missing; run 'make all'"
    check_settings
    [[ $CHANGES =~ ^[0-9]+$ && $CHANGES -gt 0 ]] || die "BENCH_CHANGES must be a positive number"
    make_tmp sluice-bench-control
    trap cleanup_all EXIT

    log "$(nproc) cpus, work dir $TMP"
    ADMIN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
    start_mock
    write_proxy_file
    start_controller
    start_proxies
    rollout_ms "$(ctl GET /admin/config | sed -n 's/.*"version":\([0-9]*\).*/\1/p')" >/dev/null

    measure_propagation
    p50=$(percentile 50 "$PROPAGATE")
    p99=$(percentile 99 "$PROPAGATE")

    measure_swapping
    ratio=$(printf '%.2f' "$(calc "$(median "${OV_P99[swap]}") / $(median "${OV_P99[quiet]}")")")

    printf '\n%-22s %10s %14s %14s %16s\n' 'proxy 1, c='"$CONC" 'req/s' 'overhead_p50' 'overhead_p99' 'end-to-end_p99'
    for k in quiet swap; do
        printf '%-22s %10.0f %14.0f %14.0f %16.0f\n' "$k" "$(median "${RATE[$k]}")" \
            "$(median "${OV_P50[$k]}")" "$(median "${OV_P99[$k]}")" "$(median "${E2E_P99[$k]}")"
    done
    echo "(medians of $ROUNDS rounds of ${DURATION}s; overhead: the proxy's x-sluice-overhead-us," \
        "the latency it adds, upstream excluded; swap: 10 new versions a second)"
    echo "propagation to $PROXIES proxies over $CHANGES changes: p50 $p50 ms, p99 $p99 ms," \
        "max $(percentile 100 "$PROPAGATE") ms"
    echo
    echo "targets:"
    printf '  %-30s %-34s %s\n' "propagation p99" "$p99 ms (<= $MAX_PROPAGATE_P99_MS ms)" \
        "$(verdict "$p99" '<=' "$MAX_PROPAGATE_P99_MS")" \
        "added p99, swapping/quiet" "$ratio (<= $MAX_P99_RATIO)" \
        "$(verdict "$ratio" '<=' "$MAX_P99_RATIO")"
    echo "bench-control: propagate_p50_ms=$p50 propagate_p99_ms=$p99 p99_ratio_swapping=$ratio"
}

main "$@"
