#!/usr/bin/env bash
# The test command: format and lint checks, the WASI artefacts, then every test
# (unit, doc, reference data, golden vectors natively, through the CLI, the WASI reactor and
# the WASI command under wasmtime, property tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo build --locked --release --target wasm32-wasip1
cargo test --locked
