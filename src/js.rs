//! The JavaScript binding (wasm-bindgen, Node): the JSON contract as one string per call.
//!
//! `callJson(request: string): string` takes the request as JSON text (produce it with
//! `JSON.stringify`, which escapes lone surrogates so that the core can reject them instead of
//! seeing them silently replaced) and returns the canonical response text. `call` does the same
//! but throws a JS `Error` carrying `code` and `path` when the whole request is rejected; per-item
//! errors stay inside a successful response. Why one string per batch and not objects converted
//! value by value: see BENCHMARKS.md.

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

/// Like `callJson`, but a rejected request throws an `Error` with `code` and `path`.
#[wasm_bindgen(js_name = call)]
pub fn call(request: &str) -> Result<String, JsValue> {
    let out = contract::call(request.as_bytes());
    if !contract::is_failure(&out) {
        return Ok(String::from_utf8(out).unwrap_or_default());
    }
    let v = crate::value::Value::parse(&out).unwrap_or(crate::value::Value::Null);
    let field = |k: &str| {
        v.get("error")
            .and_then(|e| e.get(k))
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let err = js_sys::Error::new(&field("message"));
    let _ = js_sys::Reflect::set(&err, &"code".into(), &field("code").into());
    let _ = js_sys::Reflect::set(&err, &"path".into(), &field("path").into());
    Err(err.into())
}

/// The object path, kept for the measurement in BENCHMARKS.md: the request as a plain JS object
/// (converted value by value with serde-wasm-bindgen), the response as a plain object. It cannot
/// see lone surrogates (JS strings are converted lossily), so hosts use `callJson`.
#[wasm_bindgen(js_name = callObject)]
pub fn call_object(request: JsValue) -> Result<JsValue, JsValue> {
    use serde::Serialize;
    let req: crate::value::Value = serde_wasm_bindgen::from_value(request).map_err(|e| {
        let err = js_sys::Error::new(&e.to_string());
        let _ = js_sys::Reflect::set(&err, &"code".into(), &"invalid_request".into());
        let _ = js_sys::Reflect::set(&err, &"path".into(), &"".into());
        JsValue::from(err)
    })?;
    let resp = contract::respond(&req);
    resp.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))
}

/// The contract version this module speaks.
#[wasm_bindgen(js_name = contractVersion)]
pub fn contract_version() -> u32 {
    contract::CONTRACT_VERSION
}
