#!/bin/sh
# Scheduled retraining of the router (cron or a systemd timer: scripts/retrain/). Fits a new
# classifier on the evaluator's labels, compares it with the route's current classifier on the
# same held-out rows, and hands it to the controller (canary, promote or register) only when
# it is not worse. Every setting comes from the environment; see README.md, "Scheduled
# retraining".
#
# Exit status: 0 when the run did its job: a model was registered, or there was nothing to do
# (too few labels, or the new model is worse). 1 on any failure, with a one-line reason on
# stderr and the details in the run's log.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bin=${SLUICE_BIN:-$(dirname "$here")/bin}
data_dir=${SLUICE_DATA_DIR:-data}
eval_db=${SLUICE_EVAL_DB:-$data_dir/eval.db}
route=${SLUICE_ROUTE:-auto}
url=${SLUICE_CONTROLLER_URL:-http://127.0.0.1:8070}
mode=${SLUICE_RETRAIN_MODE:-canary}
weight=${SLUICE_CANARY_WEIGHT:-0.1}
min_labels=${SLUICE_RETRAIN_MIN_LABELS:-200}
extra_data=${SLUICE_RETRAIN_EXTRA_DATA:-}
work=${SLUICE_RETRAIN_DIR:-$data_dir/retrain}
# Beyond the documented settings, for tuning and for tests.
fit_options=${SLUICE_RETRAIN_FIT_OPTIONS:-}
min_quality=${SLUICE_RETRAIN_MIN_QUALITY:-0.95}
tolerance=${SLUICE_RETRAIN_TOLERANCE:-0}
keep=${SLUICE_RETRAIN_KEEP:-10}

log=
run=
failed=

# The one-line reason on stderr (and in the log, when there is one yet); exits 1.
fail() {
    failed=1
    printf 'retrain: %s\n' "$*" >&2
    if [ -n "$log" ]; then
        printf '\nFAILED: %s\n' "$*" >>"$log"
    fi
    exit 1
}

# Prints to stdout (the journal, or cron's logger) and to the log.
say() {
    printf 'retrain: %s\n' "$*" 2>/dev/null || true # stdout gone: the log still has it
    if [ -n "$log" ]; then
        printf '%s\n' "$*" >>"$log"
    fi
}

# Runs a step with its command line and output in the log; its output is also left in
# $run/step.out for the caller to inspect. Returns the command's exit status. No command line
# passed here may hold a secret: the admin key travels by stdin or the environment.
step() {
    name=$1
    shift
    printf '\n== %s %s: %s\n' "$(date -u +%H:%M:%SZ)" "$name" "$*" >>"$log"
    rc=0
    "$@" >"$run/step.out" 2>&1 </dev/null || rc=$?
    cat "$run/step.out" >>"$log"
    printf '== %s: exit %d\n' "$name" "$rc" >>"$log"
    return "$rc"
}

# The last line of the last step's output, for a one-line reason (not the trainer's hint
# "(sluice-trainer --help for usage)" that follows a usage error).
last_line() {
    grep -v '^(.* for usage)$' "$run/step.out" 2>/dev/null | tail -n 1 | tr -d '\r' | cut -c 1-300
}

# Keeps the newest $keep runs, this one included. Run directories are named by their UTC start
# time, so that the glob lists them oldest first; anything else in runs/ is left alone.
prune() {
    set +f
    set -- "$work/runs"/[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z*
    [ -e "$1" ] || return 0
    excess=$(($# - keep))
    while [ "$excess" -gt 0 ] && [ "$#" -gt 0 ]; do
        if [ "$1" != "$run" ]; then # never this run's own, whatever its name sorts as
            rm -rf -- "$1"
            excess=$((excess - 1))
        fi
        shift
    done
}

# On every exit: no partial artifact stays behind, and a failure that did not say why says
# where to look.
cleanup() {
    status=$?
    if [ -n "$run" ]; then
        if [ -n "$signalled" ] && [ -s "$run/step.out" ]; then
            cat "$run/step.out" >>"$log" # what the interrupted step said
        fi
        rm -f -- "$run/new.json.tmp" "$run/current.json.tmp" "$run/step.out" "$run/curl.err"
        if [ "$status" -ne 0 ] && [ -z "$failed" ]; then
            reason="failed (exit $status)"
            [ -z "$signalled" ] || reason="stopped by a signal"
            printf 'retrain: %s; see %s\n' "$reason" "$log" >&2
            printf '\nFAILED: %s\n' "$reason" >>"$log"
        fi
        prune || true
    fi
}
signalled=
trap cleanup EXIT
trap 'signalled=1; exit 1' HUP INT TERM
trap '' PIPE # a reader of stdout that goes away must not stop the run half-way

# --- settings ---

case $mode in
canary | promote | register) ;;
*) fail "SLUICE_RETRAIN_MODE: \"$mode\" is not canary, promote or register" ;;
esac
if ! awk -v w="$weight" 'BEGIN { exit !(w ~ /^[0-9]*\.?[0-9]+$/ && w + 0 > 0 && w + 0 <= 1) }'; then
    fail "SLUICE_CANARY_WEIGHT: \"$weight\" is not a number in (0, 1]"
fi
case $min_labels in
'' | *[!0-9]*) fail "SLUICE_RETRAIN_MIN_LABELS: \"$min_labels\" is not a whole number" ;;
esac
case $keep in
'' | 0 | *[!0-9]*) fail "SLUICE_RETRAIN_KEEP: \"$keep\" is not a positive whole number" ;;
esac
for v in "$min_quality" "$tolerance"; do
    if ! awk -v x="$v" 'BEGIN { exit !(x ~ /^[0-9]*\.?[0-9]+$/) }'; then
        fail "SLUICE_RETRAIN_MIN_QUALITY / SLUICE_RETRAIN_TOLERANCE: \"$v\" is not a number"
    fi
done
# The route goes into a URL path as it is: unreserved characters only.
case $route in
'' | *[!A-Za-z0-9._~-]*) fail "SLUICE_ROUTE: \"$route\" is not a plain route name" ;;
esac
case $url in
http://?* | https://?*) url=${url%/} ;;
*) fail "SLUICE_CONTROLLER_URL: \"$url\" is not an http:// or https:// URL" ;;
esac
if [ -z "${SLUICE_ADMIN_KEY:-}" ]; then
    fail "SLUICE_ADMIN_KEY is not set: the controller's admin key is required"
fi
# A space or a control character would break (or inject into) the Authorization header.
case $SLUICE_ADMIN_KEY in
*[![:graph:]]*) fail "SLUICE_ADMIN_KEY holds a space or a control character" ;;
esac
export SLUICE_ADMIN_KEY
for p in sluice-trainer sluicectl; do
    [ -x "$bin/$p" ] || fail "$bin/$p: not found or not executable (set SLUICE_BIN)"
done
[ -f "$eval_db" ] || fail "$eval_db: no such file (set SLUICE_EVAL_DB or SLUICE_DATA_DIR)"
set -f # the file list is split on blanks, never globbed
for f in $extra_data; do
    if [ ! -f "$f" ] || [ ! -r "$f" ]; then
        fail "SLUICE_RETRAIN_EXTRA_DATA: $f: not a readable file"
    fi
done
set +f

# --- the run's directory, log and lock ---

umask 077 # the labels hold prompts
mkdir -p "$work/runs" || fail "$work: cannot create the work directory"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$work/.lock"
    flock -n 9 || fail "another run holds $work/.lock"
fi
# Named by the UTC start time; runs started in the same second get -1 .. -9, which sort after.
stamp=$(date -u +%Y%m%dT%H%M%SZ)
base=$stamp
i=0
while ! mkdir "$work/runs/$stamp" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -le 9 ] || fail "$work/runs/$base: cannot create the run directory"
    stamp=$base-$i
done
run=$work/runs/$stamp
log=$run/retrain.log
{
    printf 'sluice retrain %s\n' "$stamp"
    printf 'route %s, mode %s' "$route" "$mode"
    [ "$mode" = canary ] && printf ' (weight %s)' "$weight"
    printf ', controller %s\n' "$url"
    printf 'eval.db %s, at least %s labels, extra data: %s\n' "$eval_db" "$min_labels" \
        "${extra_data:-none}"
} >"$log"
say "run $stamp, log $log"

# --- 1. the labels: one snapshot, so that every step sees the same rows while the evaluator
# keeps writing ---

trainer=$bin/sluice-trainer
labels=$run/labels.jsonl
if step labels "$trainer" labels --eval-db "$eval_db" --out "$labels"; then
    n_labels=$(wc -l <"$labels" | tr -d ' ')
elif grep -q 'no labelled samples' "$run/step.out"; then
    n_labels=0
else
    fail "labels: $(last_line)"
fi
if [ "$n_labels" -lt "$min_labels" ]; then
    say "$n_labels labels in $eval_db, fewer than $min_labels: nothing to do"
    exit 0
fi
say "$n_labels labels"

# --- 2. fit, and the threshold on the dev rows (the test rows are kept for the comparison) ---

set -- fit --data "$labels"
set -f
for f in $extra_data; do
    set -- "$@" --data "$f"
done
for o in $fit_options; do
    set -- "$@" "$o"
done
set +f
step fit "$trainer" "$@" --out "$run/new.json.tmp" || fail "fit: $(last_line)"
step thresholds "$trainer" thresholds --model "$run/new.json.tmp" --data "$labels" \
    --split dev --min-quality "$min_quality" --write || fail "thresholds: $(last_line)"
# Complete only now: the artifact takes its final name.
mv -f "$run/new.json.tmp" "$run/new.json" || fail "cannot rename $run/new.json.tmp"

# --- 3. the route's current classifier ---

classifier_url=$url/admin/routes/$route/classifier
printf '\n== %s current: GET %s\n' "$(date -u +%H:%M:%SZ)" "$classifier_url" >>"$log"
# The key goes to curl on stdin (-H @-), so that it shows in no process list.
code=$(printf 'Authorization: Bearer %s\n' "$SLUICE_ADMIN_KEY" |
    curl -sS --connect-timeout 10 --max-time 120 -H @- -o "$run/current.json.tmp" \
        -w '%{http_code}' "$classifier_url" 2>"$run/curl.err") || {
    reason=$(head -n 1 "$run/curl.err")
    cat "$run/curl.err" >>"$log"
    fail "cannot fetch the current classifier from $classifier_url: ${reason:-curl failed}"
}
printf '== current: HTTP %s\n' "$code" >>"$log"
if [ "$code" != 200 ]; then
    head -c 2000 "$run/current.json.tmp" >>"$log" 2>/dev/null || true
    printf '\n' >>"$log"
    # The controller's own words: {"error":{"message":"..."}}.
    said=$(head -c 2000 "$run/current.json.tmp" 2>/dev/null |
        sed -n 's/.*"message": *"\([^"]*\)".*/\1/p' | head -n 1)
    said=${said:+: $said}
    case $code in
    401 | 403) fail "the controller refused the admin key (HTTP $code from $classifier_url$said)" ;;
    404) fail "no current classifier to compare with (HTTP 404 from $classifier_url$said);" \
        "a route's first one is registered by hand: sluicectl classifier register MODEL.json" \
        "--promote $route" ;;
    *) fail "HTTP $code from $classifier_url$said" ;;
    esac
fi
mv -f "$run/current.json.tmp" "$run/current.json" || fail "cannot rename $run/current.json.tmp"

# --- 4. compare on the test rows ---

rc=0
step compare "$trainer" compare --model "$run/new.json" --baseline "$run/current.json" \
    --data "$labels" --split test --tolerance "$tolerance" || rc=$?
decision=$(grep '^decision:' "$run/step.out" || true)
case $rc in
0) say "$decision" ;;
3)
    say "$decision"
    say "new model is worse; not registered"
    exit 0
    ;;
*) fail "compare: $(last_line)" ;;
esac

# --- 5. hand it to the controller ---

case $mode in
canary) set -- --canary "$route" --weight "$weight" ;;
promote) set -- --promote "$route" ;;
register) set -- ;;
esac
# sluicectl reads the admin key and the controller's URL from the environment.
step register env SLUICE_CONTROLLER_URL="$url" \
    "$bin/sluicectl" classifier register "$run/new.json" "$@" ||
    fail "sluicectl classifier register: $(last_line)"
# What sluicectl did (the classifier's id, the canary or the promotion) is the run's summary.
while IFS= read -r line; do
    say "$line"
done <"$run/step.out"
