# shellcheck shell=bash
# lib.sh: what the benchmark scripts (bench-proxy.sh, bench-accounting.sh) share: starting and
# stopping processes, the mock provider, checking a target, running wrk and reading its output,
# medians and verdicts. Sourced, never run; it defines functions and the result arrays only.
#
# The sourcing script sets, before calling anything here:
#   LOG_PREFIX    what log and die print first (the script's name, e.g. bench-proxy)
#   BIN           where mockllm is
#   BENCH_DIR     this directory (post.lua)
#   DURATION, ROUNDS, WORKERS, MAX_ERRORS   (check_settings validates the first three)
#   CLEANUP_PIDS  names of the variables holding the pids cleanup stops, in that order
# and gets back:
#   TMP           the run's temporary directory (make_tmp)
#   MOCK_PID, MOCK_PORT (start_mock), WRK_PID (set while wrk runs)
#   RPS, P50, P99 "target mode conc" -> space-separated values, one per round (measure)
#   W_REQUESTS    requests wrk completed in the last measured run

declare -A RPS P50 P99
W_REQUESTS=0

log() { printf '%s: %s\n' "$LOG_PREFIX" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# ---- settings --------------------------------------------------------------------------

# Dies unless every argument is an executable (a path) or a command on PATH (a bare name).
require_programs() {
    local prog
    for prog in "$@"; do
        if [[ $prog == */* ]]; then
            [[ -x $prog ]] || die "$prog is missing; run 'make $LOG_PREFIX' (or 'make all') first"
        else
            command -v "$prog" >/dev/null || die "$prog is not installed (scripts/install-deps.sh)"
        fi
    done
}

check_settings() {
    [[ $DURATION =~ ^[0-9]+$ && $DURATION -gt 0 ]] || die "BENCH_DURATION must be whole seconds"
    [[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -gt 0 ]] || die "BENCH_ROUNDS must be a positive number"
    [[ $WORKERS =~ ^[0-9]+$ && $WORKERS -gt 0 ]] || die "BENCH_WORKERS must be a positive number"
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

# The EXIT trap: stops the processes named in CLEANUP_PIDS, then removes TMP unless it
# explains a failure or BENCH_KEEP_TMP=1.
cleanup() {
    local rc=$? name
    trap - EXIT INT TERM
    for name in "${CLEANUP_PIDS[@]}"; do
        stop_process "${!name}"
    done
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

# Creates TMP as a new directory named NAME.XXXXXX and installs the traps that clean up.
make_tmp() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
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

# True when something accepts connections on the loopback port.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts bin/mockllm, the upstream, on a free loopback port: sets MOCK_PID and MOCK_PORT.
start_mock() {
    # One thread: the mock is not what is measured, and on a 2-core machine every core it
    # takes is one the proxies under test don't get.
    # Without MOCKLLM_API_KEY the mock takes requests bearing no key, as the proxy sends them.
    env -u MOCKLLM_API_KEY "$BIN/mockllm" --listen 127.0.0.1:0 --port-file "$TMP/mock.port" \
        --threads 1 --log-level warn >"$TMP/mock.log" 2>&1 &
    MOCK_PID=$!
    MOCK_PORT=$(wait_port_file "$TMP/mock.port" "$MOCK_PID" mockllm "$TMP/mock.log")
    log "mockllm pid $MOCK_PID on port $MOCK_PORT"
}

# ---- checks ----------------------------------------------------------------------------

# check_target TARGET MODE URL BODY [KEY]: one request before measuring a target, since a
# benchmark of error responses would measure nothing. It must answer 200, and a stream (MODE
# "stream") must end with the OpenAI terminator. KEY, when given, goes as a bearer token,
# through curl's stdin rather than its command line.
check_target() {
    local target=$1 mode=$2 url=$3 body=$4 key=${5:-} out=$TMP/check-$1-$2.out code last
    local auth=()
    if [[ -n $key ]]; then auth=(-H @-); fi
    code=$(curl -sS --max-time 10 -o "$out" -w '%{http_code}' -H 'Content-Type: application/json' \
        "${auth[@]}" --data-binary "$body" "$url" 2>"$out.err" <<<"Authorization: Bearer $key") ||
        code="curl failed: $(cat "$out.err")"
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

# run_wrk URL BODY CONC SECS OUT WHAT [KEY]: POSTs BODY to URL with CONC connections for
# SECS seconds, wrk's report in OUT; KEY, when given, as a bearer token (post.lua reads it
# from the environment). Runs wrk in the background and waits, so a signal reaches our trap
# at once rather than after wrk's run. Dies, naming WHAT, when wrk fails.
run_wrk() {
    local url=$1 body=$2 conc=$3 secs=$4 out=$5 what=$6 key=${7:-} threads=1
    ((conc > 1)) && threads=2
    BENCH_BODY=$body BENCH_AUTH=$key wrk -t"$threads" -c"$conc" -d"${secs}s" --timeout 10s \
        --latency -s "$BENCH_DIR/post.lua" "$url" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || {
        WRK_PID=""
        cat "$out" >&2
        die "wrk failed against $what"
    }
    WRK_PID=""
}

# measure TARGET MODE CONC ROUND URL BODY [KEY]: one measured run of DURATION seconds.
# Appends req/s, p50 and p99 to RPS, P50, P99 under "TARGET MODE CONC", sets W_REQUESTS,
# and dies when wrk saw more than MAX_ERRORS errors.
measure() {
    local target=$1 mode=$2 conc=$3 round=$4 url=$5 body=$6 key=${7:-}
    local k="$1 $2 $3" out stats rps p50 p99 sockerr non2xx requests
    out=$TMP/wrk-$target-$mode-c$conc-r$round.txt
    run_wrk "$url" "$body" "$conc" "$DURATION" "$out" "$target ($mode, c=$conc)" "$key"
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
    RPS[$k]+="$rps "
    P50[$k]+="$p50 "
    P99[$k]+="$p99 "
    # shellcheck disable=SC2034 # read by the sourcing script
    W_REQUESTS=$requests
    log "$(printf 'round %d/%d %-9s c=%-2d %-6s %9.0f req/s  p50 %7.0f us  p99 %7.0f us' \
        "$round" "$ROUNDS" "$mode" "$conc" "$target" "$rps" "$p50" "$p99")"
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

# ok/MISS for "value op limit", e.g. verdict 0.82 '>=' 0.7
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    ok = (op == ">=") ? v >= l : v <= l; print ok ? "ok" : "MISS" }'; }
