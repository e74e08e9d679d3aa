#!/usr/bin/env bash
# Runs the openai-client tests against the built proxy; prints "node: N passed, N failed".
# Installs the openai npm package (pinned by package-lock.json) when it is missing.
set -uo pipefail
cd "$(dirname "$0")"

if [ ! -d node_modules/openai ]; then
    npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ||
        npm install --no-audit --no-fund --loglevel=error >/dev/null || {
        echo "node: 0 passed, 1 failed (npm could not install the openai package)"
        exit 1
    }
fi
out=$(node --test --test-reporter=tap openai.test.mjs 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^(not ok|ok|#)' | grep -v '^# Subtest'
pass=$(printf '%s\n' "$out" | sed -n 's/^# pass //p' | tail -1)
fail=$(printf '%s\n' "$out" | sed -n 's/^# fail //p' | tail -1)
if [ "$rc" -ne 0 ] && [ "${fail:-0}" -eq 0 ]; then
    printf '%s\n' "$out" | tail -30
    fail=1
fi
echo "node: ${pass:-0} passed, ${fail:-0} failed"
[ "$rc" -eq 0 ]
