#!/usr/bin/env bash
# bench-accounting.sh: measures what virtual keys, rate limits, budgets and the audit log cost
# sluice-proxy. Starts bin/mockllm (the upstream) and two sluice-proxy processes on free
# loopback ports, alike but for accounting: "off" (auth.required false, audit off) and "on"
# (a key required, the key's and its team's limits and the team's budget checked, an audit row
# written for every call; the team and key are made through the admin API). Runs wrk,
# non-streamed, at concurrency 1 and 64 against the mock directly, "off" and "on" in
# interleaved rounds, prints a table of medians, the audit rows "on" wrote against the
# requests it served, then runs bin/bench-audit for the audit writer on its own. Last line:
#   bench-accounting: added_p50_us_delta=N rps_ratio_on_vs_off=R audit_rows_per_s=N db_bytes_per_million_rows=N
# added_p50_us_delta: median p50 of "on" minus that of "off" at c=1; rps_ratio_on_vs_off:
# median req/s of "on" over that of "off" at c=64; the last two from bin/bench-audit (1,000,000
# rows from 2 threads into a new audit.db; bytes: the file's size after a checkpoint).
#
# Targets: accounting adds at most 10 us to the p50 at c=1 and keeps >= 0.90 of the req/s at
# c=64; the audit writer sustains >= 50,000 rows/s. Missing a target is a result, not an
# error: the script exits 0. It exits non-zero when it cannot measure (a program fails to
# start, the admin API or a check request fails, wrk sees errors, bench-audit fails).
#
# Environment:
#   BENCH_DURATION    seconds per measured wrk run (default 5; "5s" is accepted too)
#   BENCH_ROUNDS      rounds; every number reported is the median over them (default 3)
#   BENCH_WORKERS     workers of each sluice-proxy (default 2)
#   BENCH_MAX_ERRORS  socket errors + non-2xx responses tolerated per wrk run (default 5)
#   BENCH_BIN         where sluice-proxy, mockllm and bench-audit are (default bin/ of the repository)
#   BENCH_KEEP_TMP=1  keep the temporary directory (configs, data directories, logs, wrk outputs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$ROOT/scripts/bench
BIN=${BENCH_BIN:-$ROOT/bin}
DURATION=${BENCH_DURATION:-5}
DURATION=${DURATION%s}
ROUNDS=${BENCH_ROUNDS:-3}
WORKERS=${BENCH_WORKERS:-2}
MAX_ERRORS=${BENCH_MAX_ERRORS:-5}
WARMUP=1 # seconds, before the first measured run of each (target, concurrency)

TARGETS=(direct off on)
MODE=nonstream
CONCURRENCIES=(1 64)

BODY='{"model":"bench-model","messages":[{"role":"user","content":"Say hello to the benchmark."}]}'
API_PATH=/v1/chat/completions
# Large enough never to refuse a call during the benchmark, small enough for every counter.
LIMITS='{"rpm":1000000000,"tpm":1000000000000,"concurrency":100000}'

# Targets: added p50 (us) at c=1, req/s ratio at c=64, audit writer rows/s.
MAX_ADDED_P50_US=10
MIN_RPS_RATIO=0.90
MIN_AUDIT_ROWS_PER_S=50000

TMP=""
MOCK_PID="" OFF_PID="" ON_PID="" WRK_PID="" AUDIT_PID=""
ADMIN=""  # the "on" proxy's admin key, random, given to it alone
KEY=""    # the virtual key wrk sends to "on"
CHECKS_ON=0 # requests the checks sent to "on" (each gets an audit row)
INFLIGHT_ON=0 # connections of every wrk run against "on": the most requests wrk can leave uncounted
declare -A URL      # target -> URL of the chat completions endpoint
declare -A BASE     # proxy -> http://127.0.0.1:PORT
declare -A SENT     # target -> requests wrk completed against it, warm-ups included
CLEANUP_PIDS=(AUDIT_PID WRK_PID ON_PID OFF_PID MOCK_PID)
LOG_PREFIX=bench-accounting
# shellcheck source=scripts/bench/lib.sh
. "$BENCH_DIR/lib.sh"

# ---- the three targets -----------------------------------------------------------------

# start_proxy off|on: a sluice-proxy with its own config and data directory under $TMP/NAME.
start_proxy() {
    local name=$1 dir=$TMP/$1 accounting port pid
    mkdir -p "$dir/data"
    if [[ $name == on ]]; then
        accounting='"auth": {"required": true, "admin_key_env": "SLUICE_ADMIN_KEY"}, "audit": {"enabled": true}'
    else
        accounting='"auth": {"required": false}, "audit": {"enabled": false}'
    fi
    cat >"$dir/sluice.json" <<EOF
{"listen": "127.0.0.1:0", "workers": $WORKERS, "log_level": "warn",
 $accounting,
 "providers": {"mock": {"base_url": "http://127.0.0.1:$MOCK_PORT/v1"}},
 "models": {"bench-model": {"price": {"input": 0.15, "output": 0.6},
                            "deployments": [{"provider": "mock", "model": "bench-model"}]}}}
EOF
    # The command line wins over SLUICE_* variables, which could otherwise change what runs.
    # The admin key reaches "on" through its environment alone: not exported to anything
    # else, and never on a command line.
    if [[ $name == on ]]; then
        SLUICE_ADMIN_KEY=$ADMIN "$BIN/sluice-proxy" -c "$dir/sluice.json" \
            --listen 127.0.0.1:0 --workers "$WORKERS" --log-level warn --data-dir "$dir/data" \
            --port-file "$dir/port" >"$dir/sluice.log" 2>&1 &
    else
        env -u SLUICE_ADMIN_KEY "$BIN/sluice-proxy" -c "$dir/sluice.json" \
            --listen 127.0.0.1:0 --workers "$WORKERS" --log-level warn --data-dir "$dir/data" \
            --port-file "$dir/port" >"$dir/sluice.log" 2>&1 &
    fi
    pid=$!
    if [[ $name == on ]]; then ON_PID=$pid; else OFF_PID=$pid; fi
    port=$(wait_port_file "$dir/port" "$pid" "sluice-proxy ($name)" "$dir/sluice.log")
    BASE[$name]=http://127.0.0.1:$port
    URL[$name]=${BASE[$name]}$API_PATH
    log "sluice-proxy ($name) pid $pid on port $port, $WORKERS workers"
}

# admin_post PATH BODY: POSTs BODY to "on"'s admin API; the answer goes to $TMP/on/admin.out,
# its HTTP status (or "curl failed: ...") to stdout. The admin key goes through curl's stdin.
admin_post() {
    local out=$TMP/on/admin.out code
    code=$(curl -sS --max-time 10 -o "$out" -w '%{http_code}' -H @- \
        -H 'Content-Type: application/json' --data-binary "$2" "${BASE[on]}$1" \
        2>"$out.err" <<<"Authorization: Bearer $ADMIN") || code="curl failed: $(cat "$out.err")"
    echo "$code"
}

# Makes the team "bench" (limits, a budget) and a key of its own with limits, on "on".
make_team_and_key() {
    local code
    code=$(admin_post /admin/teams "{\"name\":\"bench\",\"limits\":$LIMITS,\"budget\":{\"usd\":1e9,\"period\":\"month\"}}")
    if [[ $code != 200 && $code != 201 ]]; then
        head -c 2000 "$TMP/on/admin.out" >&2 2>/dev/null || true
        echo >&2
        die "POST /admin/teams answered: $code"
    fi
    code=$(admin_post /admin/keys "{\"team\":\"bench\",\"name\":\"bench\",\"limits\":$LIMITS}")
    if [[ $code != 201 ]]; then
        head -c 2000 "$TMP/on/admin.out" >&2 2>/dev/null || true
        echo >&2
        die "POST /admin/keys answered: $code"
    fi
    KEY=$(sed -n 's/.*"key" *: *"\(sk-sluice-[A-Za-z0-9]*\)".*/\1/p' "$TMP/on/admin.out")
    rm -f "$TMP/on/admin.out" # it holds the key
    [[ -n $KEY ]] || die "POST /admin/keys answered 201 without a key"
    log "team \"bench\" and a key made on \"on\" (limits $LIMITS, budget \$1e9 a month)"
}

key_for() { if [[ $1 == on ]]; then echo "$KEY"; fi; }

# "on" must really do its accounting: a call without a key is refused, and an answer carries
# the rate-limit and budget headers.
check_accounting() {
    local out=$TMP/check-on-headers.out code
    code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$BODY" "${URL[on]}" 2>"$out.err") || code="curl failed: $(cat "$out.err")"
    CHECKS_ON=$((CHECKS_ON + 1))
    [[ $code == 401 ]] || die "\"on\" answered a call without a key with $code, not 401"
    code=$(curl -sS --max-time 10 -D "$out" -o /dev/null -w '%{http_code}' -H @- \
        -H 'Content-Type: application/json' --data-binary "$BODY" "${URL[on]}" \
        2>"$out.err" <<<"Authorization: Bearer $KEY") || code="curl failed: $(cat "$out.err")"
    CHECKS_ON=$((CHECKS_ON + 1))
    [[ $code == 200 ]] || die "\"on\" answered a call with its key with $code"
    grep -qi '^x-ratelimit-limit-requests:' "$out" ||
        die "\"on\" answers without x-ratelimit-limit-requests: limits are not applied"
    grep -qi '^x-sluice-budget-remaining-usd:' "$out" ||
        die "\"on\" answers without x-sluice-budget-remaining-usd: the budget is not applied"
}

# ---- wrk -------------------------------------------------------------------------------

# Requests wrk completed in the run reported in file, or 0.
completed() { parse_wrk "$1" 2>/dev/null | awk '{ print $6 }' || echo 0; }

# Interleaved rounds, as in bench-proxy.sh: every round runs each concurrency against the
# three targets back to back, the order rotating from round to round.
run_rounds() {
    local round conc i target n
    for ((round = 1; round <= ROUNDS; round++)); do
        for conc in "${CONCURRENCIES[@]}"; do
            for ((i = 0; i < ${#TARGETS[@]}; i++)); do
                target=${TARGETS[(i + round - 1) % ${#TARGETS[@]}]}
                if ((round == 1)); then
                    # Fills connection pools and faults in memory before anything counts.
                    run_wrk "${URL[$target]}" "$BODY" "$conc" "$WARMUP" "$TMP/warmup.txt" \
                        "$target ($MODE, c=$conc)" "$(key_for "$target")"
                    n=$(completed "$TMP/warmup.txt")
                    SENT[$target]=$((${SENT[$target]:-0} + ${n:-0}))
                    if [[ $target == on ]]; then INFLIGHT_ON=$((INFLIGHT_ON + conc)); fi
                fi
                measure "$target" "$MODE" "$conc" "$round" "${URL[$target]}" "$BODY" \
                    "$(key_for "$target")"
                SENT[$target]=$((${SENT[$target]:-0} + W_REQUESTS))
                if [[ $target == on ]]; then INFLIGHT_ON=$((INFLIGHT_ON + conc)); fi
            done
        done
    done
    for target in off on; do
        alive "$(pid_of "$target")" || die "sluice-proxy ($target) exited during the benchmark"
    done
}

pid_of() { if [[ $1 == on ]]; then echo "$ON_PID"; else echo "$OFF_PID"; fi; }

# ---- the audit log ---------------------------------------------------------------------

# The value of an unlabelled series in "on"'s /metrics, or nothing. awk reads to the end:
# leaving early could kill curl with SIGPIPE, and pipefail would make that a failure.
metric() {
    curl -sS --max-time 10 "${BASE[on]}/metrics" 2>/dev/null |
        awk -v name="$1" '$1 == name && v == "" { v = $2 } END { if (v != "") printf "%d\n", v }'
}

# Audit rows "on" wrote against the requests it got. wrk ends each run with a request in
# flight on each connection, which it does not count but the proxy serves and records (as 200,
# or 499 when it notices the client left first), so rows may exceed the requests wrk
# completed by up to the connections of every run. Outside that range is a MISMATCH.
report_audit_rows() {
    local rows=-1 prev=-2 queued i expected extra codes sanity=MISMATCH
    # The writer commits every 20 ms; wait until its queue is empty and the count holds still.
    for ((i = 0; i < 50; i++)); do
        queued=$(metric sluice_audit_queue_rows)
        rows=$(metric sluice_audit_rows_written_total)
        if [[ -n $rows && $queued == 0 && $rows == "$prev" ]]; then break; fi
        prev=$rows
        sleep 0.1
    done
    [[ -n $rows ]] || die "\"on\"'s /metrics has no sluice_audit_rows_written_total"
    expected=$((SENT[on] + CHECKS_ON))
    codes=$(curl -sS --max-time 10 "${BASE[on]}/metrics" 2>/dev/null | awk -F'"' '
        /^sluice_requests_total\{code="/ { split($3, v, " "); if (v[2] + 0) printf " %s=%d", $2, v[2] }')
    extra=$((rows - expected))
    if ((extra >= 0 && extra <= INFLIGHT_ON)); then sanity=consistent; fi
    echo
    echo "audit (\"on\"): $rows rows written for $expected requests (wrk completed ${SENT[on]}," \
        "the checks sent $CHECKS_ON): $extra more, wrk left at most $INFLIGHT_ON uncounted: $sanity"
    echo "  responses by status (admin and /metrics calls included):${codes:- none}"
    echo "  audit queue $(metric sluice_audit_queue_rows) rows," \
        "write errors $(metric sluice_audit_write_errors_total)," \
        "backpressure $(metric sluice_audit_backpressure_total)"
}

# bin/bench-audit on a quiet machine (the proxies stopped): sets AUDIT_ROWS_PER_S and
# DB_BYTES_PER_MILLION_ROWS.
run_bench_audit() {
    local out=$TMP/bench-audit.out line
    mkdir -p "$TMP/bench-audit"
    log "bench-audit: 1,000,000 rows into $TMP/bench-audit/audit.db"
    "$BIN/bench-audit" --db "$TMP/bench-audit/audit.db" >"$out" 2>"$out.err" &
    AUDIT_PID=$!
    wait "$AUDIT_PID" || {
        AUDIT_PID=""
        cat "$out" "$out.err" >&2
        die "bench-audit failed"
    }
    AUDIT_PID=""
    line=$(grep -E '^audit_rows_per_s=[0-9]+ db_bytes_per_million_rows=[0-9]+$' "$out") || {
        cat "$out" "$out.err" >&2
        die "could not read bench-audit's output"
    }
    AUDIT_ROWS_PER_S=${line#audit_rows_per_s=}
    AUDIT_ROWS_PER_S=${AUDIT_ROWS_PER_S%% *}
    DB_BYTES_PER_MILLION_ROWS=${line##*=}
}

# ---- report ----------------------------------------------------------------------------

print_table() {
    local conc target added50 d50
    printf '\n%-7s %4s %10s %9s %9s %9s\n' target conc 'req/s' 'p50_us' 'p99_us' '+p50_us'
    for conc in "${CONCURRENCIES[@]}"; do
        d50=$(m_p50 direct "$MODE" "$conc")
        for target in "${TARGETS[@]}"; do
            added50=-
            if [[ $target != direct ]]; then
                added50=$(printf '%.0f' "$(calc "$(m_p50 "$target" "$MODE" "$conc") - $d50")")
            fi
            printf '%-7s %4d %10.0f %9.0f %9.0f %9s\n' "$target" "$conc" \
                "$(m_rps "$target" "$MODE" "$conc")" "$(m_p50 "$target" "$MODE" "$conc")" \
                "$(m_p99 "$target" "$MODE" "$conc")" "$added50"
        done
    done
    echo "(non-stream; medians of $ROUNDS rounds of ${DURATION}s; +p50: target minus direct)"
}

print_summary() {
    local delta rps_ratio p50_on p50_off
    p50_on=$(m_p50 on "$MODE" 1)
    p50_off=$(m_p50 off "$MODE" 1)
    delta=$(printf '%.0f' "$(calc "$p50_on - $p50_off")")
    rps_ratio=$(printf '%.2f' "$(calc "$(m_rps on "$MODE" 64) / $(m_rps off "$MODE" 64)")")
    echo "audit writer (bin/bench-audit): $AUDIT_ROWS_PER_S rows/s," \
        "$(printf '%.1f' "$(calc "$DB_BYTES_PER_MILLION_ROWS / 1048576")") MB per million rows"
    echo
    echo "targets:"
    printf '  %-34s %-44s %s\n' \
        "added p50, c=1, non-stream" "on - off = $delta us (<= $MAX_ADDED_P50_US us)" \
        "$(verdict "$delta" '<=' "$MAX_ADDED_P50_US")" \
        "req/s, c=64, non-stream" "on/off = $rps_ratio (>= $MIN_RPS_RATIO)" \
        "$(verdict "$rps_ratio" '>=' "$MIN_RPS_RATIO")" \
        "audit writer" "$AUDIT_ROWS_PER_S rows/s (>= $MIN_AUDIT_ROWS_PER_S)" \
        "$(verdict "$AUDIT_ROWS_PER_S" '>=' "$MIN_AUDIT_ROWS_PER_S")"
    echo "bench-accounting: added_p50_us_delta=$delta rps_ratio_on_vs_off=$rps_ratio" \
        "audit_rows_per_s=$AUDIT_ROWS_PER_S db_bytes_per_million_rows=$DB_BYTES_PER_MILLION_ROWS"
}

# Warnings or errors the proxies logged (their level is warn): worth a look, not fatal.
show_proxy_logs() {
    local name f
    for name in off on; do
        f=$TMP/$name/sluice.log
        if [[ -s $f ]]; then
            log "sluice-proxy ($name) logged $(wc -l <"$f") lines; the first:"
            head -n 5 "$f" >&2
        fi
    done
}

# ---- main ------------------------------------------------------------------------------

main() {
    local target
    require_programs "$BIN/mockllm" "$BIN/sluice-proxy" "$BIN/bench-audit" wrk curl awk od
    check_settings
    make_tmp sluice-bench-accounting

    log "$(nproc) cpus, $ROUNDS rounds of ${DURATION}s, $WORKERS workers, work dir $TMP"
    ADMIN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
    start_mock
    URL[direct]=http://127.0.0.1:$MOCK_PORT$API_PATH
    start_proxy off
    start_proxy on
    make_team_and_key
    for target in "${TARGETS[@]}"; do
        check_target "$target" "$MODE" "${URL[$target]}" "$BODY" "$(key_for "$target")"
    done
    CHECKS_ON=$((CHECKS_ON + 1)) # check_target's request to "on"
    check_accounting
    run_rounds
    print_table
    report_audit_rows
    printf 'peak RSS (VmHWM): off %.1f MB, on %.1f MB\n' "$(calc "$(tree_hwm_kb "$OFF_PID") / 1024")" \
        "$(calc "$(tree_hwm_kb "$ON_PID") / 1024")"
    show_proxy_logs

    # The audit writer alone, after the rounds and with nothing else running.
    stop_process "$ON_PID"
    stop_process "$OFF_PID"
    stop_process "$MOCK_PID"
    ON_PID="" OFF_PID="" MOCK_PID=""
    run_bench_audit
    print_summary
}

main "$@"
