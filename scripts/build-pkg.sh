#!/usr/bin/env bash
# Builds pkg/ with wasm-pack: the wasm-bindgen module for Node (target nodejs) with TypeScript
# declarations. Installs, from crates.io only, wasm-bindgen-cli at exactly the wasm-bindgen
# version in Cargo.lock (wasm-pack then uses it from PATH instead of downloading) and wasm-pack.
# wasm-pack's own wasm-opt step is off (Cargo.toml [package.metadata.wasm-pack]: it would download
# binaryen, and Debian's binaryen 108 corrupts the module); the module is then optimised with
# wasm-opt from npm's binaryen, pinned in package.json (npm ci in scripts/setup.sh).
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
wasm_opt=node_modules/.bin/wasm-opt
[ -x "$wasm_opt" ] || { echo "build-pkg: $wasm_opt is missing: run npm ci (scripts/setup.sh does)" >&2; exit 1; }
# The features the Rust target emits (simd128 from .cargo/config.toml), named so that wasm-opt
# neither rejects them nor uses any other.
"$wasm_opt" -O3 --enable-simd --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-multivalue --enable-reference-types \
  pkg/batch_sync_bg.wasm -o pkg/batch_sync_bg.opt.wasm
mv pkg/batch_sync_bg.opt.wasm pkg/batch_sync_bg.wasm
echo "build-pkg: pkg/ ready ($(du -k pkg/batch_sync_bg.wasm | cut -f1) KiB wasm)"
