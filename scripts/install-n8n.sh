#!/usr/bin/env bash
# Installs the pinned n8n from the npm registry into a cache folder outside the repository and
# prints the path of its `n8n` executable. Idempotent: a complete install is reused.
#
# n8n's own dependency on xlsx points outside the registries, so the install pins xlsx 0.18.5
# (the last release on the npm registry) through npm `overrides`. n8n 1.x (N8N_VERSION=1.123.81,
# the second version the tests run) also needs isolated-vm 5.0.4, whose newer releases do not
# build on Node 20.
set -euo pipefail
N8N_VERSION="${N8N_VERSION:-2.8.4}"
cache="${BATCH_SYNC_CACHE:-$HOME/.cache/batch-sync}"
dir="$cache/n8n-$N8N_VERSION"
bin="$dir/node_modules/.bin/n8n"
if [[ -x "$bin" && -f "$dir/.complete" ]]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$dir"
extra=""
if [[ "$N8N_VERSION" == 1.* ]]; then extra=', "isolated-vm": "5.0.4"'; fi
cat > "$dir/package.json" <<JSON
{
  "name": "batch-sync-n8n-host",
  "private": true,
  "dependencies": { "n8n": "$N8N_VERSION" },
  "overrides": { "xlsx": "0.18.5"$extra }
}
JSON
echo "install-n8n: installing n8n@$N8N_VERSION into $dir (takes a few minutes)" >&2
( cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2 )
"$bin" --version >&2
touch "$dir/.complete"
echo "$bin"
