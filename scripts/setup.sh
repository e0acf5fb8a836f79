#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test batch-sync (registries only).
set -euo pipefail
rustup component add rustfmt clippy >/dev/null
rustup target add wasm32-wasip1 wasm32-unknown-unknown >/dev/null
cargo fetch --locked >/dev/null
if ! node --version 2>/dev/null | grep -Eq '^v(2[0-9]|[3-9][0-9])\.'; then
  echo "setup: Node.js >= 20 is required for the JS binding's tests (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
echo "setup: rust $(rustc --version | cut -d' ' -f2), targets wasm32-wasip1 and wasm32-unknown-unknown ready"
