#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test batch-sync (registries only):
# Rust components and targets, the crates, PostgreSQL, Redis, Prometheus's Python client and Chromium
# (Debian's packages), the test tooling and the node package's build tools (npm ci) and the pinned
# n8n (npm registry, cached outside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add rustfmt clippy >/dev/null
rustup target add wasm32-wasip1 wasm32-unknown-unknown >/dev/null
cargo fetch --locked >/dev/null
if ! node --version 2>/dev/null | grep -Eq '^v(2[0-9]|[3-9][0-9])\.'; then
  echo "setup: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
  echo "setup: installing PostgreSQL (Debian's packages)" >&2
  sudo_cmd=""; [[ "$(id -u)" != 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql postgresql-client >/dev/null
fi
if ! command -v redis-server >/dev/null; then
  echo "setup: installing Redis (Debian's packages; n8n's queue mode in the tests and the demo)" >&2
  sudo_cmd=""; [[ "$(id -u)" != 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
fi
if ! /usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null; then
  echo "setup: installing the Prometheus client for Python (Debian's packages; its parser checks /webhook/sync/metrics)" >&2
  sudo_cmd=""; [[ "$(id -u)" != 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-prometheus-client >/dev/null
fi
if ! command -v chromium >/dev/null; then
  echo "setup: installing Chromium (Debian's packages; the browser tests drive it headless, no browser download)" >&2
  sudo_cmd=""; [[ "$(id -u)" != 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium fonts-liberation >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
( cd n8n-node && npm ci --no-audit --no-fund --loglevel=error )
n8n_bin="$(bash scripts/install-n8n.sh)"
# The latest n8n 1.x as well: the end-to-end tests run the workflows on both versions.
n8n1_bin="$(N8N_VERSION=1.123.81 bash scripts/install-n8n.sh)"
echo "setup: rust $(rustc --version | cut -d' ' -f2), wasm targets, $(chromium --version 2>/dev/null | head -1), PostgreSQL $(psql --version | awk '{print $3}'), Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2), n8n $("$n8n_bin" --version) and $("$n8n1_bin" --version) ready"
