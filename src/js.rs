//! The JavaScript binding (wasm-bindgen, Node): the JSON contract as one string per call.
//!
//! `callBytes(request: Uint8Array): string` (what the n8n node calls) takes the request as
//! UTF-8 JSON, `callJson(request: string): string` as a string (produce either with
//! `JSON.stringify`, which escapes lone surrogates so that the core can reject them instead of
//! seeing them silently replaced); both return the canonical response text and never throw: a
//! rejected request is a response with `ok: false`. Why one JSON text per batch and not objects
//! converted value by value: see BENCHMARKS.md (that object path was measured and removed).

use wasm_bindgen::prelude::*;

use crate::contract;

/// Handles one request (JSON text); returns the response (canonical JSON text). Never throws.
#[wasm_bindgen(js_name = callJson)]
pub fn call_json(request: &str) -> String {
    reserve(request.len());
    // Canonical output is UTF-8 by construction.
    String::from_utf8(contract::call(request.as_bytes())).unwrap_or_default()
}

/// `callJson` for a request already encoded as UTF-8 (`new TextEncoder().encode(json)`): the
/// bytes cross into the module with one copy, where a string is transcoded by a JS loop in the
/// glue. Invalid UTF-8 is rejected by the core (`invalid_utf8`). Never throws.
#[wasm_bindgen(js_name = callBytes)]
pub fn call_bytes(request: &[u8]) -> String {
    reserve(request.len());
    String::from_utf8(contract::call(request)).unwrap_or_default()
}

/// Grows the module's memory once, up front, to about what a request of `len` bytes needs at
/// its peak (~3x, see the memory benchmark), and hands it to the allocator. Grown step by step
/// instead, V8 runs a full garbage collection of the host's heap at many of the steps: the first
/// 10k-pair classify in a fresh process took 1.9 s instead of 0.6 s (BENCHMARKS.md). If the
/// memory cannot be had, nothing happens here and the request meets the limit where it would.
fn reserve(len: usize) {
    let mut scratch: Vec<u8> = Vec::new();
    let _ = scratch.try_reserve_exact(len.saturating_mul(3));
    std::hint::black_box(&scratch);
}

/// The contract version this module speaks.
#[wasm_bindgen(js_name = contractVersion)]
pub fn contract_version() -> u32 {
    contract::CONTRACT_VERSION
}
