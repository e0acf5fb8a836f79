#!/usr/bin/env bash
# The test command: format and lint checks, the WASI artefacts and pkg/, then every test
# (unit, doc, reference data, golden vectors natively, through the CLI, the WASI reactor and
# the WASI command under wasmtime, property tests), then the Node binding's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --lib --bins --target wasm32-wasip1 -- -D warnings
cargo clippy --locked --lib --target wasm32-unknown-unknown -- -D warnings
cargo build --locked --release --target wasm32-wasip1
cargo build --locked --release
bash scripts/build-pkg.sh
cargo test --locked
node --test tests/js/
