#!/usr/bin/env bash
# bench-proxy.sh: measures what sluice-proxy costs on top of its upstream, with nginx as the
# yardstick. Starts bin/mockllm (the upstream), nginx (proxy_pass to the mock) and
# bin/sluice-proxy on free loopback ports, then runs wrk against the mock directly, nginx and
# sluice, at concurrency 1 and 64, non-streamed and streamed. Prints a table of medians over
# several interleaved rounds, the results against the proxy's targets, and as its last line:
#   bench-proxy: added_p50_c1_us=N nginx_added_p50_c1_us=N rps_c64_vs_nginx=R stream_rps_c64_vs_nginx=R rss_mb=N
#
# Targets: sluice's added p50 at c=1 <= 1.5x nginx's; req/s at c=64 >= 0.7x nginx's,
# non-streamed and streamed; sluice's peak RSS <= 32 MB. Missing a target is a result, not an
# error: the script exits 0. It exits non-zero when it cannot measure (a program fails to
# start, a check request fails, wrk sees errors).
#
# Environment:
#   BENCH_DURATION    seconds per measured wrk run (default 5; "5s" is accepted too)
#   BENCH_ROUNDS      rounds; every number reported is the median over them (default 3)
#   BENCH_WORKERS     sluice workers, and nginx worker_processes (default 2)
#   BENCH_MAX_ERRORS  socket errors + non-2xx responses tolerated per wrk run (default 5)
#   BENCH_BIN         where sluice-proxy and mockllm are (default bin/ of the repository)
#   BENCH_KEEP_TMP=1  keep the temporary directory (configs, logs, raw wrk outputs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$ROOT/scripts/bench
BIN=${BENCH_BIN:-$ROOT/bin}
DURATION=${BENCH_DURATION:-5}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-3}
WORKERS=${BENCH_WORKERS:-2}
MAX_ERRORS=${BENCH_MAX_ERRORS:-5}
WARMUP=1 # seconds, before the first measured run of each (target, mode, concurrency)

TARGETS=(direct nginx sluice)
MODES=(nonstream stream)
CONCURRENCIES=(1 64)

BODY_NONSTREAM='{"model":"bench-model","messages":[{"role":"user","content":"Say hello to the benchmark."}]}'
BODY_STREAM='{"model":"bench-model","messages":[{"role":"user","content":"Say hello to the benchmark."}],"stream":true}'
API_PATH=/v1/chat/completions

TMP=""
MOCK_PID="" NGINX_PID="" SLUICE_PID="" WRK_PID=""
declare -A URL       # target -> URL of the chat completions endpoint
declare -A PID_OF    # target -> pid whose process tree's peak RSS is reported
declare -A RSS_KB    # "target mode conc" -> the target's peak RSS after that cell's last run
CLEANUP_PIDS=(WRK_PID SLUICE_PID NGINX_PID MOCK_PID)
LOG_PREFIX=bench-proxy
# shellcheck source=scripts/bench/lib.sh
. "$BENCH_DIR/lib.sh"

# ---- the three targets -----------------------------------------------------------------

start_direct() {
    start_mock
    URL[direct]=http://127.0.0.1:$MOCK_PORT$API_PATH
    PID_OF[direct]=$MOCK_PID
}

# nginx cannot be told to pick its own port and write it down, and bash cannot bind a
# socket to ask the kernel for one. So take a random high port nothing listens on, start
# nginx there, and should another program grab it first (nginx then exits with "Address
# already in use") try another.
start_nginx() {
    local prefix=$TMP/nginx port attempt i user=""
    mkdir -p "$prefix"
    # Started as root, nginx would switch its workers to "nobody", who cannot enter $TMP.
    [[ $(id -u) -eq 0 ]] && user="user $(id -un) $(id -gn);"
    for ((attempt = 0; attempt < 10; attempt++)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        port_open "$port" && continue
        sed -e "s|@PREFIX@|$prefix|g" -e "s|@PORT@|$port|g" -e "s|@WORKERS@|$WORKERS|g" \
            -e "s|@MOCK_PORT@|$MOCK_PORT|g" -e "s|@USER@|$user|g" \
            "$BENCH_DIR/nginx.conf.in" >"$prefix/nginx.conf"
        : >"$prefix/error.log"
        # daemon off keeps the master our child, so $! is its pid and the trap can stop it.
        # -e: errors met before the config's error_log is read go there too, not to stderr.
        nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" -g 'daemon off;' \
            >"$prefix/nginx.out" 2>&1 &
        NGINX_PID=$!
        for ((i = 0; i < 100; i++)); do
            alive "$NGINX_PID" || break
            if port_open "$port"; then
                NGINX_PORT=$port
                URL[nginx]=http://127.0.0.1:$NGINX_PORT$API_PATH
                PID_OF[nginx]=$NGINX_PID
                log "nginx pid $NGINX_PID on port $NGINX_PORT, $WORKERS workers"
                return 0
            fi
            sleep 0.1
        done
        stop_process "$NGINX_PID"
        NGINX_PID=""
        grep -q 'Address already in use' "$prefix/error.log" || break
    done
    log "nginx did not start; its error log and output:"
    tail -n 30 "$prefix/error.log" "$prefix/nginx.out" >&2 || true
    die "nginx failed to start"
}

start_sluice() {
    cat >"$TMP/sluice.json" <<EOF
{"listen": "127.0.0.1:0", "workers": $WORKERS, "log_level": "warn",
 "auth": {"required": false}, "audit": {"enabled": false},
 "providers": {"mock": {"base_url": "http://127.0.0.1:$MOCK_PORT/v1"}},
 "models": {"bench-model": {"deployments": [{"provider": "mock", "model": "bench-model"}]}}}
EOF
    # The command line wins over SLUICE_* variables, which could otherwise change what runs.
    "$BIN/sluice-proxy" -c "$TMP/sluice.json" --listen 127.0.0.1:0 --workers "$WORKERS" \
        --log-level warn --port-file "$TMP/sluice.port" >"$TMP/sluice.log" 2>&1 &
    SLUICE_PID=$!
    SLUICE_PORT=$(wait_port_file "$TMP/sluice.port" "$SLUICE_PID" sluice-proxy "$TMP/sluice.log")
    URL[sluice]=http://127.0.0.1:$SLUICE_PORT$API_PATH
    PID_OF[sluice]=$SLUICE_PID
    log "sluice-proxy pid $SLUICE_PID on port $SLUICE_PORT, $WORKERS workers"
}

body_for() { if [[ $1 == stream ]]; then echo "$BODY_STREAM"; else echo "$BODY_NONSTREAM"; fi; }

# One request through target before measuring it (a stream must end with [DONE]).
check() { check_target "$1" "$2" "${URL[$1]}" "$(body_for "$2")"; }

# ---- wrk -------------------------------------------------------------------------------

# One measured run: req/s, p50, p99 (see measure) and the target's peak RSS so far.
measure_target() {
    local target=$1 mode=$2 conc=$3
    measure "$target" "$mode" "$conc" "$4" "${URL[$target]}" "$(body_for "$mode")"
    RSS_KB[$target $mode $conc]=$(tree_hwm_kb "${PID_OF[$target]}")
}

# Every round runs every (mode, concurrency) against all three targets back to back, so
# drift on the shared machine hits them alike; the target order rotates from round to
# round so none is always first after a switch of mode or concurrency.
run_rounds() {
    local round mode conc i target
    for ((round = 1; round <= ROUNDS; round++)); do
        for mode in "${MODES[@]}"; do
            for conc in "${CONCURRENCIES[@]}"; do
                for ((i = 0; i < ${#TARGETS[@]}; i++)); do
                    target=${TARGETS[(i + round - 1) % ${#TARGETS[@]}]}
                    if ((round == 1)); then
                        # Fills connection pools and faults in memory before anything counts.
                        run_wrk "${URL[$target]}" "$(body_for "$mode")" "$conc" "$WARMUP" \
                            "$TMP/warmup.txt" "$target ($mode, c=$conc)"
                    fi
                    measure_target "$target" "$mode" "$conc" "$round"
                done
            done
        done
    done
}

# ---- report ----------------------------------------------------------------------------

print_table() {
    local mode conc target added50 added99 d50 d99 rss
    printf '\n%-7s %-9s %4s %10s %9s %9s %9s %9s %7s\n' \
        target mode conc 'req/s' 'p50_us' 'p99_us' '+p50_us' '+p99_us' 'rss_mb'
    for mode in "${MODES[@]}"; do
        for conc in "${CONCURRENCIES[@]}"; do
            d50=$(m_p50 direct "$mode" "$conc")
            d99=$(m_p99 direct "$mode" "$conc")
            for target in "${TARGETS[@]}"; do
                added50=- added99=-
                if [[ $target != direct ]]; then
                    added50=$(calc "$(m_p50 "$target" "$mode" "$conc") - $d50")
                    added99=$(calc "$(m_p99 "$target" "$mode" "$conc") - $d99")
                    added50=$(printf '%.0f' "$added50") added99=$(printf '%.0f' "$added99")
                fi
                rss=$(calc "${RSS_KB[$target $mode $conc]} / 1024")
                printf '%-7s %-9s %4d %10.0f %9.0f %9.0f %9s %9s %7.1f\n' "$target" "$mode" \
                    "$conc" "$(m_rps "$target" "$mode" "$conc")" \
                    "$(m_p50 "$target" "$mode" "$conc")" "$(m_p99 "$target" "$mode" "$conc")" \
                    "$added50" "$added99" "$rss"
            done
        done
    done
    echo "(medians of $ROUNDS rounds of ${DURATION}s; +p50/+p99: target minus direct;" \
        "rss_mb: peak RSS (VmHWM) so far, nginx master + workers)"
}

print_summary() {
    local s50 n50 added_p50 nginx_added_p50 ratio_p50 rps_ratio stream_ratio rss_kb rss_mb
    local p50_verdict=MISS
    s50=$(m_p50 sluice nonstream 1)
    n50=$(m_p50 nginx nonstream 1)
    added_p50=$(printf '%.0f' "$(calc "$s50 - $(m_p50 direct nonstream 1)")")
    nginx_added_p50=$(printf '%.0f' "$(calc "$n50 - $(m_p50 direct nonstream 1)")")
    rps_ratio=$(printf '%.2f' "$(calc "$(m_rps sluice nonstream 64) / $(m_rps nginx nonstream 64)")")
    stream_ratio=$(printf '%.2f' "$(calc "$(m_rps sluice stream 64) / $(m_rps nginx stream 64)")")
    rss_kb=$(tree_hwm_kb "$SLUICE_PID")
    # Rounded up, so rss_mb <= 32 exactly when the peak is within 32 MB.
    rss_mb=$(((rss_kb + 1023) / 1024))

    # nginx's added latency can measure as ~0 or below on a noisy machine; a ratio against
    # it is then meaningless, and only an added p50 no larger than nginx's passes.
    if ((nginx_added_p50 > 0)); then
        ratio_p50=$(printf '%.2f' "$(calc "$added_p50 / $nginx_added_p50")")
        p50_verdict=$(verdict "$ratio_p50" '<=' 1.5)
        ratio_p50="${ratio_p50}x"
    else
        ratio_p50=n/a
        ((added_p50 <= nginx_added_p50)) && p50_verdict=ok
    fi
    echo
    echo "targets:"
    printf '  %-34s %-44s %s\n' \
        "added p50, c=1, non-stream" "sluice ${added_p50} us vs nginx ${nginx_added_p50} us = $ratio_p50 (<= 1.5x)" "$p50_verdict" \
        "req/s, c=64, non-stream" "sluice/nginx = $rps_ratio (>= 0.70)" "$(verdict "$rps_ratio" '>=' 0.7)" \
        "req/s, c=64, stream" "sluice/nginx = $stream_ratio (>= 0.70)" "$(verdict "$stream_ratio" '>=' 0.7)" \
        "peak RSS" "sluice $(printf '%.1f' "$(calc "$rss_kb / 1024")") MB, rss_mb=$rss_mb (<= 32 MB)" \
        "$(verdict "$rss_mb" '<=' 32)"
    echo "bench-proxy: added_p50_c1_us=$added_p50 nginx_added_p50_c1_us=$nginx_added_p50" \
        "rps_c64_vs_nginx=$rps_ratio stream_rps_c64_vs_nginx=$stream_ratio rss_mb=$rss_mb"
}

# ---- main ------------------------------------------------------------------------------

main() {
    local target mode
    require_programs "$BIN/mockllm" "$BIN/sluice-proxy" nginx wrk curl awk
    check_settings
    make_tmp sluice-bench

    log "$(nproc) cpus, $ROUNDS rounds of ${DURATION}s, $WORKERS workers, work dir $TMP"
    start_direct
    start_nginx
    start_sluice
    for target in "${TARGETS[@]}"; do
        for mode in "${MODES[@]}"; do
            check "$target" "$mode"
        done
    done
    run_rounds
    print_table
    print_summary
}

main "$@"
