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

/// A request written into the module piece by piece, so that the host never holds it as one
/// string or one byte array: `reserve(n)` returns where up to `n` bytes may be written in the
/// module's memory ([`module_memory`], `moduleMemory()` in JS; e.g. with `TextEncoder.encodeInto`), `commit(k)` keeps the `k`
/// bytes written there, `call()` answers the request (as `callBytes` would) and frees it.
#[wasm_bindgen(js_name = RequestWriter)]
pub struct RequestWriter {
    buf: Vec<u8>,
    /// Bytes reserved by the last `reserve` and not yet committed.
    open: usize,
}

#[wasm_bindgen(js_class = RequestWriter)]
impl RequestWriter {
    /// A writer for a request of about `size_hint` bytes (the module's memory is grown once,
    /// up front, for the request and the work on it: see `reserve` below).
    #[wasm_bindgen(constructor)]
    pub fn new(size_hint: usize) -> RequestWriter {
        // The request, its response (a fraction of it) and the working set of a request read
        // from its text (see `lazy`): about 1.5x the request.
        grow_memory_to(size_hint.saturating_add(size_hint / 2));
        let mut buf = Vec::new();
        let _ = buf.try_reserve_exact(size_hint);
        RequestWriter { buf, open: 0 }
    }

    /// The address of room for `n` more bytes in the module's memory, or 0 if the memory
    /// cannot grow that far. The address is valid until the next call into the module.
    pub fn reserve(&mut self, n: usize) -> usize {
        self.open = 0;
        if self.buf.try_reserve(n).is_err() {
            return 0;
        }
        self.open = n;
        self.buf.spare_capacity_mut().as_mut_ptr() as usize
    }

    /// Keeps `n` bytes written at the address the last `reserve` gave (at most what it
    /// reserved); returns false (and keeps nothing) otherwise.
    pub fn commit(&mut self, n: usize) -> bool {
        if n > self.open || n > self.buf.capacity() - self.buf.len() {
            self.open = 0;
            return false;
        }
        self.open = 0;
        // SAFETY: the host wrote these `n` bytes into the spare capacity that `reserve`
        // returned, and `n` is within it (checked above).
        unsafe { self.buf.set_len(self.buf.len() + n) };
        true
    }

    /// Answers the request written so far (canonical response text; never throws).
    pub fn call(self) -> String {
        String::from_utf8(contract::call_owned(self.buf)).unwrap_or_default()
    }
}

/// The module's memory (a `WebAssembly.Memory`), for writing a request in place.
#[wasm_bindgen(js_name = moduleMemory)]
pub fn module_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Grows the module's memory once, up front, to about what a request of `len` bytes needs at
/// its peak (~3x, see the memory benchmark).
fn reserve(len: usize) {
    grow_memory_to(len.saturating_mul(3));
}

/// Grows the module's memory in one step to `bytes`, handed to the allocator. Grown step by step
/// instead, V8 runs a full garbage collection of the host's heap at many of the steps: the first
/// 10k-pair classify in a fresh process took 1.9 s instead of 0.6 s (BENCHMARKS.md). If the
/// memory cannot be had, nothing happens here and the request meets the limit where it would.
///
/// Only when the memory is smaller than `bytes`: a memory already that large (an earlier call's)
/// is reused as it is. Reserving the whole amount as one block again did not fit in what the
/// last call freed (the allocator's free space is not one block after a call), so the memory,
/// which never shrinks, grew by as much again (a second 100k-pair Compare: 410 → 819 MB;
/// n8n-node/test/memory.test.mjs).
fn grow_memory_to(bytes: usize) {
    if memory_bytes() >= bytes {
        return;
    }
    let mut scratch: Vec<u8> = Vec::new();
    let _ = scratch.try_reserve_exact(bytes);
    std::hint::black_box(&scratch);
}

/// The size of the module's memory now, in bytes.
fn memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0).saturating_mul(65536)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

/// The contract version this module speaks.
#[wasm_bindgen(js_name = contractVersion)]
pub fn contract_version() -> u32 {
    contract::CONTRACT_VERSION
}
