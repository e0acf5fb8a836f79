#!/usr/bin/env bash
# The test command: format and lint checks, the WASI artefacts and pkg/, then every test
# (unit, doc, reference data, golden vectors natively, through the CLI, the WASI reactor and
# the WASI command under wasmtime, property tests), the Node binding's tests, the n8n node
# package (build, execute() tests, npm pack + n8n's scanner rules) and the end-to-end runs in
# the real n8n against throwaway PostgreSQL clusters.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --lib --bins --target wasm32-wasip1 --features wasi-reactor -- -D warnings
cargo clippy --locked --lib --target wasm32-unknown-unknown --features js -- -D warnings
cargo build --locked --release --target wasm32-wasip1 --features wasi-reactor
cargo build --locked --release
bash scripts/build-pkg.sh
node n8n-node/scripts/embed-wasm.mjs
( cd n8n-node && npm run build --silent )
cargo test --locked
node --test tests/js/ n8n-node/test/ tests/openproject/
node --test --test-concurrency=1 tests/e2e/
