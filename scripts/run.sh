#!/usr/bin/env bash
# make run: starts the mock provider and sluice-proxy on loopback with sluice.example.json,
# prints how to use them, and stops both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

config=${SLUICE_CONFIG:-sluice.example.json}
mock_listen=${MOCK_LISTEN:-127.0.0.1:9090}
proxy_listen=${SLUICE_LISTEN:-127.0.0.1:8080}

# The example config expects the mock on 127.0.0.1:9090 (follow MOCK_LISTEN when it moves)
# and names files relative to the repository (the copy lives elsewhere).
tmp=$(mktemp -d)
sed -e "s|http://127.0.0.1:9090|http://$mock_listen|" -e "s|\"classifier\": \"bin/|\"classifier\": \"$PWD/bin/|" \
    "$config" >"$tmp/sluice.json"

bin/mockllm --listen "$mock_listen" --config scripts/mock.example.json --threads 1 &
mock=$!
proxy=
trap 'kill $mock $proxy 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
bin/sluice-proxy -c "$tmp/sluice.json" --listen "$proxy_listen" &
proxy=$!
sleep 0.5
if ! kill -0 $proxy 2>/dev/null; then
    echo "run: sluice-proxy did not start (see the message above)" >&2
    exit 1
fi
cat <<MSG

Sluice is running: proxy on http://$proxy_listen, mock provider on http://$mock_listen.

  curl -s http://$proxy_listen/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}'
  curl -sN http://$proxy_listen/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
  curl -si http://$proxy_listen/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model":"auto","messages":[{"role":"user","content":"Prove that sqrt(2) is irrational."}]}'
  curl -s http://$proxy_listen/v1/models
  curl -s http://$proxy_listen/metrics

Press Ctrl-C to stop.
MSG
wait $proxy
