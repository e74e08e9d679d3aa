#!/usr/bin/env bash
# make run: starts the mock provider and sluice-proxy on loopback with sluice.example.json,
# creates a demo team and key through the admin API, prints how to use them, and stops both
# on Ctrl-C. The data directory (keys.db, audit.db) lives in a temporary directory.
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
# The admin key is the operator's; one is made up for this session unless given.
export SLUICE_ADMIN_KEY=${SLUICE_ADMIN_KEY:-admin-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
bin/sluice-proxy -c "$tmp/sluice.json" --listen "$proxy_listen" &
proxy=$!
sleep 0.5
if ! kill -0 $proxy 2>/dev/null; then
    echo "run: sluice-proxy did not start (see the message above)" >&2
    exit 1
fi
admin() {
    curl -sf "http://$proxy_listen/admin/$1" -H "Authorization: Bearer $SLUICE_ADMIN_KEY" \
        -H 'Content-Type: application/json' -d "$2"
}
admin teams '{"name":"demo","limits":{"rpm":600,"tpm":200000,"concurrency":20},
              "budget":{"usd":5,"period":"day","warn_at":0.8}}' >/dev/null
key=$(admin keys '{"team":"demo","name":"make-run"}' | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
if [ -z "$key" ]; then
    echo "run: could not create a demo key through the admin API" >&2
    exit 1
fi
cat <<MSG

Sluice is running: proxy on http://$proxy_listen, mock provider on http://$mock_listen.
A team "demo" (600 requests and 200k tokens a minute, \$5 a day) has the key
  $key
(shown once; the proxy keeps only its hash). The admin key is \$SLUICE_ADMIN_KEY=$SLUICE_ADMIN_KEY

  curl -s http://$proxy_listen/v1/chat/completions -H "Authorization: Bearer $key" \\
       -H 'Content-Type: application/json' \\
       -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello!"}]}'
  curl -sN http://$proxy_listen/v1/chat/completions -H "Authorization: Bearer $key" \\
       -H 'Content-Type: application/json' \\
       -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}'
  curl -si http://$proxy_listen/v1/chat/completions -H "Authorization: Bearer $key" \\
       -H 'Content-Type: application/json' \\
       -d '{"model":"auto","messages":[{"role":"user","content":"Prove that sqrt(2) is irrational."}]}'
  curl -s http://$proxy_listen/v1/models
  curl -s http://$proxy_listen/metrics
  SLUICE_ADMIN_KEY=$SLUICE_ADMIN_KEY bin/sluicectl keys list --url http://$proxy_listen
  bin/sluicectl spend --by model --db $tmp/data/audit.db

Press Ctrl-C to stop.
MSG
wait $proxy
