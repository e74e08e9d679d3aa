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
declare -A RPS P50 P99 # "target mode conc" -> space-separated values, one per round
declare -A RSS_KB      # "target mode conc" -> the target's peak RSS after that cell's last run

log() { printf 'bench-proxy: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ---- processes -------------------------------------------------------------------------

# True while pid runs. A child that exited stays a zombie until waited for, and kill -0
# still succeeds on a zombie, so look at its state.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# Direct children of pid (nginx's workers; sluice's or the mock's if they fork). Scans
# /proc in bash rather than reading /proc/PID/task/*/children, which not every kernel has.
children_of() {
    local f key val
    for f in /proc/[0-9]*/status; do
        # A process may exit between the glob and the read; skip it.
        while read -r key val; do
            if [[ $key == PPid: ]]; then
                if [[ $val == "$1" ]]; then
                    f=${f#/proc/}
                    echo "${f%/status}"
                fi
                break
            fi
        done 2>/dev/null <"$f" || continue
    done
    return 0
}

# Stops a process we started, and its children should it die without reaping them: TERM,
# up to 5 s to exit, then KILL.
stop_process() {
    local pid=$1 kids i
    [[ -n $pid ]] || return 0
    kids=$(children_of "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for pid in $kids; do
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
    done
    return 0
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_process "$WRK_PID"
    stop_process "$SLUICE_PID"
    stop_process "$NGINX_PID"
    stop_process "$MOCK_PID"
    if [[ -n $TMP ]]; then
        # Keep what explains a failure; an interrupted run (130, 143) has nothing to explain.
        if [[ ${BENCH_KEEP_TMP:-0} == 1 || ! $rc =~ ^(0|130|143)$ ]]; then
            log "kept $TMP (logs, configs, wrk outputs)"
        else
            rm -rf "$TMP"
        fi
    fi
    exit "$rc"
}

# Peak resident set (VmHWM, kB) of pid plus its direct children: for nginx the master and
# its workers; for a single-process program just itself.
tree_hwm_kb() {
    local pid total=0 kb
    for pid in "$1" $(children_of "$1"); do
        kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || kb=0
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# Waits (up to 10 s) for a program started with --port-file to write its port there.
wait_port_file() {
    local file=$1 pid=$2 name=$3 logf=$4 port i
    for ((i = 0; i < 100; i++)); do
        if [[ -s $file ]]; then
            port=$(tr -dc 0-9 <"$file")
            if [[ -n $port && $port -gt 0 ]]; then
                echo "$port"
                return 0
            fi
        fi
        alive "$pid" || break
        sleep 0.1
    done
    log "$name did not report a port; its log ($logf):"
    tail -n 30 "$logf" >&2 || true
    die "$name failed to start"
}

# ---- the three targets -----------------------------------------------------------------

start_mock() {
    # One thread: the mock is not what is measured, and on a 2-core machine every core it
    # takes is one the proxies under test don't get.
    # Without MOCKLLM_API_KEY the mock takes requests bearing no key, as the proxy sends them.
    env -u MOCKLLM_API_KEY "$BIN/mockllm" --listen 127.0.0.1:0 --port-file "$TMP/mock.port" \
        --threads 1 --log-level warn >"$TMP/mock.log" 2>&1 &
    MOCK_PID=$!
    MOCK_PORT=$(wait_port_file "$TMP/mock.port" "$MOCK_PID" mockllm "$TMP/mock.log")
    URL[direct]=http://127.0.0.1:$MOCK_PORT$API_PATH
    PID_OF[direct]=$MOCK_PID
    log "mockllm pid $MOCK_PID on port $MOCK_PORT"
}

# True when something accepts connections on the loopback port.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

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

# One request through target before measuring it: a benchmark of error responses would
# measure nothing. A stream must end with the OpenAI terminator.
check_target() {
    local target=$1 mode=$2 out=$TMP/check-$1-$2.out code last
    code=$(curl -sS --max-time 10 -o "$out" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$(body_for "$mode")" "${URL[$target]}" 2>"$out.err") || code="curl failed: $(cat "$out.err")"
    if [[ $code != 200 ]]; then
        log "$target ($mode) answered: $code"
        head -c 2000 "$out" >&2 2>/dev/null || true
        echo >&2
        die "$target does not answer a $mode chat completion with HTTP 200"
    fi
    if [[ $mode == stream ]]; then
        last=$(tr -d '\r' <"$out" | awk 'NF { last = $0 } END { print last }')
        if [[ $last != 'data: [DONE]' ]]; then
            log "$target stream ends with: $last"
            die "$target's stream does not end with 'data: [DONE]'"
        fi
    fi
}

# ---- wrk -------------------------------------------------------------------------------

# wrk prints latencies as e.g. 85.12us, 1.23ms, 2.00s or 1.50m; parse_wrk turns them into
# microseconds and prints: req/s p50_us p99_us socket_errors non2xx_responses requests.
parse_wrk() {
    awk '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return v * 1000
            if (v ~ /m$/)  return v * 60000000
            if (v ~ /h$/)  return v * 3600000000
            if (v ~ /s$/)  return v * 1000000
            return v + 0
        }
        /^ *50% /                      { p50 = us($2) }
        /^ *99% /                      { p99 = us($2) }
        /^Requests\/sec:/              { rps = $2 }
        / requests in /                { requests = $1 }
        /Non-2xx or 3xx responses:/    { non2xx = $NF }
        /Socket errors:/ {
            # "Socket errors: connect 0, read 2, write 0, timeout 0"
            line = $0; sub(/.*Socket errors:/, "", line); gsub(/[^0-9]+/, " ", line)
            n = split(line, f, " "); for (i = 1; i <= n; i++) sockerr += f[i]
        }
        END {
            if (rps == "" || p50 == "" || p99 == "") exit 1
            printf "%s %.1f %.1f %d %d %d\n", rps, p50, p99, sockerr, non2xx, requests
        }' "$1"
}

# Runs wrk in the background and waits, so a signal reaches our trap at once rather than
# after wrk's run.
run_wrk() {
    local target=$1 mode=$2 conc=$3 secs=$4 out=$5 threads=1
    ((conc > 1)) && threads=2
    BENCH_BODY=$(body_for "$mode") wrk -t"$threads" -c"$conc" -d"${secs}s" --timeout 10s \
        --latency -s "$BENCH_DIR/post.lua" "${URL[$target]}" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || {
        WRK_PID=""
        cat "$out" >&2
        die "wrk failed against $target ($mode, c=$conc)"
    }
    WRK_PID=""
}

# One measured run: records req/s, p50, p99 and the target's peak RSS so far.
measure() {
    local target=$1 mode=$2 conc=$3 round=$4 key="$1 $2 $3" out stats
    local rps p50 p99 sockerr non2xx requests
    out=$TMP/wrk-$target-$mode-c$conc-r$round.txt
    run_wrk "$target" "$mode" "$conc" "$DURATION" "$out"
    stats=$(parse_wrk "$out") || {
        cat "$out" >&2
        die "could not read wrk's output for $target ($mode, c=$conc)"
    }
    read -r rps p50 p99 sockerr non2xx requests <<<"$stats"
    if ((sockerr + non2xx > 0)); then
        log "$target $mode c=$conc round $round: $sockerr socket errors, $non2xx non-2xx responses of $requests"
        grep -E 'Socket errors|Non-2xx' "$out" >&2 || true
    fi
    if ((sockerr + non2xx > MAX_ERRORS || requests == 0)); then
        cat "$out" >&2
        die "$target ($mode, c=$conc) had errors; its numbers would be meaningless"
    fi
    RPS[$key]+="$rps "
    P50[$key]+="$p50 "
    P99[$key]+="$p99 "
    RSS_KB[$key]=$(tree_hwm_kb "${PID_OF[$target]}")
    log "$(printf 'round %d/%d %-9s c=%-2d %-6s %9.0f req/s  p50 %7.0f us  p99 %7.0f us' \
        "$round" "$ROUNDS" "$mode" "$conc" "$target" "$rps" "$p50" "$p99")"
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
                        run_wrk "$target" "$mode" "$conc" "$WARMUP" "$TMP/warmup.txt"
                    fi
                    measure "$target" "$mode" "$conc" "$round"
                done
            done
        done
    done
}

# ---- report ----------------------------------------------------------------------------

median() {
    tr -s ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Median p50/p99/req/s of a (target, mode, conc).
m_rps() { median "${RPS[$1 $2 $3]}"; }
m_p50() { median "${P50[$1 $2 $3]}"; }
m_p99() { median "${P99[$1 $2 $3]}"; }

calc() { awk "BEGIN { print $* }"; }

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

# ok/MISS for "value op limit", e.g. verdict 0.82 '>=' 0.7
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    ok = (op == ">=") ? v >= l : v <= l; print ok ? "ok" : "MISS" }'; }

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
    local prog target mode
    for prog in "$BIN/mockllm" "$BIN/sluice-proxy"; do
        [[ -x $prog ]] || die "$prog is missing; run 'make bench-proxy' (or 'make all') first"
    done
    for prog in nginx wrk curl awk; do
        command -v "$prog" >/dev/null || die "$prog is not installed (scripts/install-deps.sh)"
    done
    [[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || die "BENCH_DURATION must be whole seconds"
    [[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -gt 0 ]] || die "BENCH_ROUNDS must be a positive number"
    [[ $WORKERS =~ ^[0-9]+$ && $WORKERS -gt 0 ]] || die "BENCH_WORKERS must be a positive number"

    TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    log "$(nproc) cpus, $ROUNDS rounds of ${DURATION}s, $WORKERS workers, work dir $TMP"
    start_mock
    start_nginx
    start_sluice
    for target in "${TARGETS[@]}"; do
        for mode in "${MODES[@]}"; do
            check_target "$target" "$mode"
        done
    done
    run_rounds
    print_table
    print_summary
}

main "$@"
