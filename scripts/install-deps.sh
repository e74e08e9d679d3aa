#!/usr/bin/env bash
# Installs the Debian packages Sluice builds, tests and benchmarks with, only those missing.
# Quiet and quick when everything is present, so every make target can call it.
set -euo pipefail

pkgs=(
    build-essential pkg-config
    libevent-dev libcurl4-openssl-dev libcjson-dev libsqlite3-dev libgsl-dev libzmq3-dev
    libcriterion-dev
    curl nginx-light wrk clang libclang-rt-14-dev clang-format
)

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
# Node.js (with npm) runs the official openai client against the proxy in the tests. A
# machine may already have a Node.js of its own; only install Debian's when there is none.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's nginx package starts a server on port 80 when installed; the benchmark runs its own.
if command -v systemctl >/dev/null 2>&1; then
    $sudo systemctl disable --now nginx >/dev/null 2>&1 || true
fi
$sudo pkill -x nginx >/dev/null 2>&1 || true
