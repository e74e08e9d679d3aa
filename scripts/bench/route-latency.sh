#!/usr/bin/env bash
# route-latency.sh MODEL.json: the proxy's latency at concurrency 1 for the same request sent
# to a plain model and to a route scored by MODEL.json, interleaved over several short rounds
# (the order alternating), as this machine's latency drifts by more than routing costs.
# Prints one line: routing_latency: off_p50_us=N on_p50_us=N added_p50_us=N off_p99_us=N on_p99_us=N
# where added_p50_us is the median over rounds of the round's on minus off p50.
set -euo pipefail
model=$(realpath "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BENCH_BIN:-$root/bin}
rounds=${BENCH_ROUNDS:-8}
duration=${BENCH_DURATION:-2}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

wait_port() { for _ in $(seq 500); do [ -s "$1" ] && return 0; sleep 0.02; done; return 1; }

"$bin/mockllm" --listen 127.0.0.1:0 --port-file "$tmp/mock.port" --log-level warn &
wait_port "$tmp/mock.port"
cat >"$tmp/sluice.json" <<JSON
{"workers": 2, "log_level": "warn",
 "auth": {"required": false}, "audit": {"enabled": false},
 "providers": {"mock": {"base_url": "http://127.0.0.1:$(cat "$tmp/mock.port")/v1"}},
 "models": {"small": {"price": {"input": 0.15, "output": 0.6},
                      "deployments": [{"provider": "mock", "model": "small"}]},
            "large": {"price": {"input": 2.5, "output": 10},
                      "deployments": [{"provider": "mock", "model": "large"}]}},
 "routes": {"auto": {"classifier": "$model", "thresholds": [0.5],
                     "tiers": [{"name": "small", "models": ["small"]},
                               {"name": "large", "models": ["large"]}]}}}
JSON
"$bin/sluice-proxy" -c "$tmp/sluice.json" --listen 127.0.0.1:0 --port-file "$tmp/proxy.port" &
wait_port "$tmp/proxy.port"
url="http://127.0.0.1:$(cat "$tmp/proxy.port")/v1/chat/completions"

# A realistic prompt of about 1 KB, so that feature extraction has work to do.
prompt="A train leaves the station at 9:40 and travels at 72 km/h for the first 150 km, then slows to 48 km/h because of track works. A second train leaves the same station 25 minutes later on a parallel track at a constant 90 km/h. Each train stops for exactly 4 minutes at every 60 km marker. At what time, to the nearest minute, does the second train overtake the first, and how far from the station are they then? Show your reasoning step by step, state every assumption you make about acceleration and the stops, and give the final answer as a short table with the columns time, distance, and which train is ahead."
for m in small auto; do
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[{"model":"%s","messages":[{"role":"user","content":"%s"}]}]]\n' \
        "$m" "$prompt" >"$tmp/$m.lua"
done

to_us() { awk '{v=$1; if (v ~ /ms$/) {sub(/ms$/,"",v); v*=1000} else if (v ~ /us$/) {sub(/us$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000000}; printf "%d\n", v}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A p50 p99 last
diffs=""
for r in $(seq "$rounds"); do
    order="small auto"
    [ $((r % 2)) -eq 0 ] && order="auto small"
    for m in $order; do
        out=$(wrk -t1 -c1 -d"${duration}s" --latency -s "$tmp/$m.lua" "$url")
        last[$m]=$(echo "$out" | awk '$1=="50%"{print $2}' | to_us)
        p50[$m]+="${last[$m]} "
        p99[$m]+="$(echo "$out" | awk '$1=="99%"{print $2}' | to_us) "
    done
    diffs+="$((last[auto] - last[small])) "
done
off=$(echo "${p50[small]}" | tr ' ' '\n' | grep . | median)
on=$(echo "${p50[auto]}" | tr ' ' '\n' | grep . | median)
added=$(echo "$diffs" | tr ' ' '\n' | grep . | median)
off99=$(echo "${p99[small]}" | tr ' ' '\n' | grep . | median)
on99=$(echo "${p99[auto]}" | tr ' ' '\n' | grep . | median)
echo "routing_latency: off_p50_us=$off on_p50_us=$on added_p50_us=$added off_p99_us=$off99 on_p99_us=$on99"
