#!/usr/bin/env bash
# The main job, on a fresh machine: installs and builds everything (scripts/setup.sh and the
# builds), then runs one sync of the bundled sample data through the Batch Sync Manager workflow
# in n8n against a local PostgreSQL and the OpenProject stand-in, prints a summary, and leaves
# n8n's editor running on 127.0.0.1 with the workflow imported.
#   bash scripts/demo.sh              start (stops a previous demo first), n8n as one process
#   bash scripts/demo.sh --workers 3  the same in n8n's queue mode: Redis, main and 3 workers
#   bash scripts/demo.sh stop         stop n8n, Redis, the stand-in and PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-start}" == "stop" ]]; then exec node scripts/demo.mjs stop; fi
bash scripts/setup.sh
cargo build --locked --release
bash scripts/build-pkg.sh
node n8n-node/scripts/embed-wasm.mjs
( cd n8n-node && npm run build --silent )
exec node scripts/demo.mjs start "$@"
