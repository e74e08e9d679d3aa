#!/usr/bin/env bash
# Runs the test suite against one or more builds and totals the results.
#   scripts/run-tests.sh BINDIR [BINDIR...]    e.g. scripts/run-tests.sh bin bin/san
# For each BINDIR: BINDIR/tests/test_* (unit), then BINDIR/tests/itest_* (integration), with
# SLUICE_BIN set to BINDIR so that tests find its sluice-proxy and mockllm. tests/node/run.sh,
# when present, runs once against the first BINDIR. The last line is "tests: N passed, N failed";
# the exit status is 1 when anything failed or nothing ran.
set -uo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 BINDIR [BINDIR...]" >&2
    exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0
failed=0

# run CMD...: runs CMD, showing its output and keeping it in $log; returns CMD's exit status.
# The subshell reports a death by signal into the log rather than after the summary.
run() {
    ("$@"; exit $?) 2>&1 | tee "$log"
    return "${PIPESTATUS[0]}"
}

# summary REGEX: matches the last line of $log that matches REGEX (colour codes removed), so
# that BASH_REMATCH holds its groups; false when there is none.
summary() {
    local line
    line=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -aE "$1" | tail -n 1)
    [[ $line =~ $1 ]]
}

# tally NAME STATUS PASSED FAILED: adds to the totals. A run that failed without saying which
# test failed counts as one failure.
tally() {
    passed=$((passed + $3))
    failed=$((failed + $4))
    if [ "$2" -ne 0 ] && [ "$4" -eq 0 ]; then
        echo "== $1: exit status $2 and no failing test reported: counted as one failure"
        failed=$((failed + 1))
    fi
}

# Criterion counts crashed tests among the failing ones, and a test that passes but then crashes
# on exit (a leak found by LeakSanitizer) among the passing ones, with a warning.
criterion_re='Passing: ([0-9]+) \| Failing: ([0-9]+) \| Crashing: [0-9]+'
teardown_re='Warning! The test .* crashed during its setup or teardown'
node_re='^node: ([0-9]+) passed, ([0-9]+) failed'

first=1
for dir in "$@"; do
    if [ ! -d "$dir" ]; then
        echo "== $dir: no such directory: counted as one failure"
        tally "$dir" 1 0 1
        continue
    fi
    envs=(SLUICE_BIN="$(cd "$dir" && pwd)")
    case $dir in
    *san*) envs+=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
                  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1) ;;
    esac
    for t in "$dir"/tests/test_* "$dir"/tests/itest_*; do
        [[ -f $t && -x $t ]] || continue
        echo "== $t"
        run env "${envs[@]}" "$t" --jobs 2
        rc=$?
        if summary "$criterion_re"; then
            n=$(grep -acE "$teardown_re" "$log")
            tally "$t" $rc $((BASH_REMATCH[1] - n)) $((BASH_REMATCH[2] + n))
        else
            echo "== $t: exit status $rc and no synthesis line: counted as one failure"
            tally "$t" $rc 0 1
        fi
    done
    if [ $first = 1 ] && [ -x "$root/tests/node/run.sh" ]; then
        echo "== tests/node/run.sh"
        run env "${envs[@]}" "$root/tests/node/run.sh"
        rc=$?
        if summary "$node_re"; then
            tally tests/node/run.sh $rc "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
        else
            echo "== tests/node/run.sh: exit status $rc and no summary line: counted as one failure"
            tally tests/node/run.sh $rc 0 1
        fi
    fi
    first=0
done

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
