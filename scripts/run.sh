#!/usr/bin/env bash
# make run: starts the mock provider and sluice-proxy on loopback with sluice.example.json,
# prints how to use them, and stops both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

config=${SLUICE_CONFIG:-sluice.example.json}
mock_listen=${MOCK_LISTEN:-127.0.0.1:9090}
proxy_listen=${SLUICE_LISTEN:-127.0.0.1:8080}

bin/mockllm --listen "$mock_listen" --config scripts/mock.example.json --threads 1 &
mock=$!
trap 'kill $mock $proxy 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
bin/sluice-proxy -c "$config" --listen "$proxy_listen" &
proxy=$!
sleep 0.5
cat <<MSG

Sluice is running: proxy on http://$proxy_listen, mock provider on http://$mock_listen.

  curl -s http://$proxy_listen/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}'
  curl -sN http://$proxy_listen/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
  curl -s http://$proxy_listen/v1/models
  curl -s http://$proxy_listen/metrics

Press Ctrl-C to stop.
MSG
wait $proxy
