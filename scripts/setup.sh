#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test batch-sync (registries only).
set -euo pipefail
rustup component add rustfmt clippy >/dev/null
rustup target add wasm32-wasip1 wasm32-unknown-unknown >/dev/null
cargo fetch --locked >/dev/null
echo "setup: rust $(rustc --version | cut -d' ' -f2), targets wasm32-wasip1 and wasm32-unknown-unknown ready"
