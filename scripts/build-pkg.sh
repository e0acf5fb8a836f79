#!/usr/bin/env bash
# Builds pkg/ with wasm-pack: the wasm-bindgen module for Node (target nodejs) with TypeScript
# declarations. Installs, from crates.io only, wasm-bindgen-cli at exactly the wasm-bindgen
# version in Cargo.lock (wasm-pack then uses it from PATH instead of downloading) and wasm-pack.
# wasm-opt is off (Cargo.toml [package.metadata.wasm-pack]): Debian's binaryen corrupts the module.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "build-pkg: installing wasm-bindgen-cli $want (have: ${have:-none})"
  cargo install wasm-bindgen-cli --version "$want"
fi
if ! wasm-pack --version 2>/dev/null | grep -q '^wasm-pack 0.15.1$'; then
  echo "build-pkg: installing wasm-pack 0.15.1"
  cargo install wasm-pack --version 0.15.1 --locked
fi
wasm-pack build --target nodejs --release --out-dir pkg --out-name batch_sync -- --locked --features js
echo "build-pkg: pkg/ ready ($(du -k pkg/batch_sync_bg.wasm | cut -f1) KiB wasm)"
