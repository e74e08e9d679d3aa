#!/usr/bin/env bash
# make run: starts the whole stack on loopback with a default configuration written here: the
# mock provider (unless OPENAI_API_KEY is set: then OpenAI is the provider and the judge),
# sluice-controller, sluice-evaluator and sluice-proxy. Creates a demo team and key through
# the controller's admin API, prints how to send requests and where to look, and stops everything
# on Ctrl-C. The data directory (keys.db, audit.db, eval.db, control.db) is SLUICE_RUN_DIR, or
# a new temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

mock_listen=${MOCK_LISTEN:-127.0.0.1:9090}
proxy_listen=${SLUICE_LISTEN:-127.0.0.1:8080}
ctl_listen=${SLUICE_CONTROLLER_LISTEN:-127.0.0.1:8070}
dir=${SLUICE_RUN_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sluice-run.XXXXXX")}
mkdir -p "$dir/data"
zmq=ipc://$dir # the programs talk over ZeroMQ sockets in the run directory

if [[ -n ${OPENAI_API_KEY:-} ]]; then
    provider='"openai": {"base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}'
    small=gpt-4o-mini large=gpt-4o embed=text-embedding-3-small prov=openai
    upstream=https://api.openai.com/v1 key='"api_key_env": "OPENAI_API_KEY", '

else
    provider="\"mock\": {\"base_url\": \"http://$mock_listen/v1\"}"
    small=mock-small large=mock-large embed=mock-embed prov=mock
    upstream=http://$mock_listen/v1 key="" # the mock takes calls without a key
fi

cat >"$dir/sluice.json" <<EOF
{"listen": "$proxy_listen", "workers": 2, "data_dir": "$dir/data",
 "providers": {$provider},
 "models": {
   "gpt-4o-mini": {"price": {"input": 0.15, "output": 0.60, "cached_input": 0.075},
                   "deployments": [{"provider": "$prov", "model": "$small"}],
                   "fallbacks": ["gpt-4o"]},
   "gpt-4o": {"price": {"input": 2.50, "output": 10.00, "cached_input": 1.25},
              "deployments": [{"provider": "$prov", "model": "$large"}]},
   "text-embedding-3-small": {"price": {"input": 0.02, "output": 0},
                              "deployments": [{"provider": "$prov", "model": "$embed"}]}},
 "routes": {"auto": {"classifier": "$root/bin/router-default.json",
   "tiers": [{"name": "small", "models": ["gpt-4o-mini"]}, {"name": "large", "models": ["gpt-4o"]}],
   "sampling": {"rate": 0.2},
   "policy": {"on_alert": "adjust", "step": 0.05, "ceiling": 0.2, "cooldown_s": 300}}},
 "evaluators": {"endpoints": ["$zmq/samples"]},
 "controller": {"snapshot": "$zmq/snapshot", "updates": "$zmq/updates", "reports": "$zmq/reports"}}
EOF
cat >"$dir/evaluator.json" <<EOF
{"listen": ["$zmq/samples"], "data_dir": "$dir/data", "publish": "$zmq/alerts",
 "judge": {"base_url": "$upstream", "model": "$( [[ $prov == mock ]] && echo mock-judge || echo gpt-4o-mini)",
           $key"concurrency": 4},
 "shadow": {$key"base_url": "$upstream"},
 "routes": {"auto": {"scorers": ["rules", "judge", "shadow"], "shadow_model": "$large",
                     "shadow_rate": 0.25}},
 "default_scorers": ["rules"]}
EOF
cat >"$dir/controller.json" <<EOF
{"listen": "$ctl_listen", "sluice": "$dir/sluice.json", "data_dir": "$dir/data",
 "snapshot": "$zmq/snapshot", "updates": "$zmq/updates", "reports": "$zmq/reports",
 "alerts": ["$zmq/alerts"]}
EOF

pids=()
stop_all() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    if [[ -z ${SLUICE_RUN_DIR:-} ]]; then rm -rf "$dir"; fi
}
trap stop_all EXIT INT TERM
started() { # name pid: the program must still run after a moment
    sleep 0.5
    kill -0 "$2" 2>/dev/null || {
        echo "run: $1 did not start (see the message above)" >&2
        exit 1
    }
}

if [[ $prov == mock ]]; then
    bin/mockllm --listen "$mock_listen" --config scripts/mock.example.json --threads 1 &
    pids+=($!)
    started mockllm $!
fi
# The admin key is the operator's; one is made up for this session unless given.
export SLUICE_ADMIN_KEY=${SLUICE_ADMIN_KEY:-admin-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')}
bin/sluice-controller -c "$dir/controller.json" &
pids+=($!)
started sluice-controller $!
bin/sluice-evaluator -c "$dir/evaluator.json" &
pids+=($!)
started sluice-evaluator $!
bin/sluice-proxy -c "$dir/sluice.json" &
pids+=($!)
started sluice-proxy $!

# Teams and keys are the controller's: each change is a version that the proxy takes.
admin() {
    curl -sf "http://$ctl_listen/admin/$1" -H @- -H 'Content-Type: application/json' \
        -d "$2" <<<"Authorization: Bearer $SLUICE_ADMIN_KEY"
}
admin teams '{"name":"demo","limits":{"rpm":600,"tpm":200000,"concurrency":20},
              "budget":{"usd":5,"period":"day","warn_at":0.8}}' >/dev/null
answer=$(admin keys '{"team":"demo","name":"make-run"}')
key=$(sed -n 's/.*"key":"\([^"]*\)".*/\1/p' <<<"$answer")
version=$(sed -n 's/.*"version":\([0-9]*\).*/\1/p' <<<"$answer")
if [[ -z $key || -z $version ]]; then
    echo "run: could not create a demo key through the controller's admin API" >&2
    exit 1
fi
for _ in $(seq 50); do # until the proxy serves the version that holds the key
    curl -s "http://$proxy_listen/health" | grep -q "\"config_version\":$version[,}]" && break
    sleep 0.1
done
cat <<MSG

Sluice is running:
  proxy       http://$proxy_listen        (OpenAI-compatible; /metrics, /health)
  controller  http://$ctl_listen        (admin API: versions, A/B, classifiers, teams, keys)
  evaluator   samples 20% of route "auto", judges them, raises drift alerts
  provider    $upstream$( [[ $prov == mock ]] && echo "   (mockllm; set OPENAI_API_KEY to use OpenAI)")
  data        $dir/data   (audit.db, keys.db, eval.db, control.db)

A team "demo" (600 requests and 200k tokens a minute, \$5 a day) has the key
  $key
(shown once; the controller and the proxy keep only its hash). The admin key is \$SLUICE_ADMIN_KEY=$SLUICE_ADMIN_KEY

  curl -si http://$proxy_listen/v1/chat/completions -H "Authorization: Bearer $key" \\
       -H 'Content-Type: application/json' \\
       -d '{"model":"auto","messages":[{"role":"user","content":"Prove that sqrt(2) is irrational."}]}'
  curl -sN http://$proxy_listen/v1/chat/completions -H "Authorization: Bearer $key" \\
       -H 'Content-Type: application/json' \\
       -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}'

Where to look (export SLUICE_ADMIN_KEY=$SLUICE_ADMIN_KEY SLUICE_DATA_DIR=$dir/data):
  bin/sluicectl versions                  configuration versions (--controller http://$ctl_listen)
  bin/sluicectl rollout                   which version each proxy serves
  bin/sluicectl spend --by model          cost from the audit log
  bin/sluicectl quality --by tier         answer quality from the evaluator
  bin/sluicectl alerts                    open drift alerts
  curl -s http://$proxy_listen/metrics

Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
echo "run: a program exited; stopping the rest" >&2
