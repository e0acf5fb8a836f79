//! The WASI reactor binding: `alloc`, `dealloc` and `call` over linear memory.
//!
//! A host writes a request into memory from `alloc(len)`, calls `call(ptr, len)`, reads the
//! response at `(r >> 32, r & 0xffff_ffff)`, then frees both buffers with `dealloc(ptr, len)`.
//! `alloc` returns 0 when memory cannot grow; `call` never traps on any input.

use std::alloc::{alloc as raw_alloc, dealloc as raw_dealloc, Layout};

fn layout(len: usize) -> Option<Layout> {
    Layout::from_size_align(len.max(1), 1).ok()
}

/// Allocates `len` bytes for the host; 0 on failure.
#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    match layout(len) {
        // SAFETY: the layout has a non-zero size.
        Some(l) => unsafe { raw_alloc(l) },
        None => std::ptr::null_mut(),
    }
}

/// Frees a buffer from `alloc` or a response from `call`.
///
/// # Safety
/// `ptr` and `len` must be exactly what `alloc` received/returned, or a response's pointer and length.
#[no_mangle]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: usize) {
    if let (false, Some(l)) = (ptr.is_null(), layout(len)) {
        // SAFETY: the caller passes a pointer from `alloc` with the same length.
        unsafe { raw_dealloc(ptr, l) }
    }
}

/// Handles one JSON request; returns the response as `(ptr << 32) | len` (0 if out of memory).
///
/// # Safety
/// `ptr..ptr+len` must be readable memory written by the host (e.g. from `alloc`).
#[no_mangle]
pub unsafe extern "C" fn call(ptr: *const u8, len: usize) -> u64 {
    let input: &[u8] = if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the host guarantees the range is valid.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    };
    let out = crate::contract::call(input);
    let p = alloc(out.len());
    if p.is_null() {
        return 0;
    }
    // SAFETY: `p` has room for `out.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(out.as_ptr(), p, out.len()) };
    ((p as usize as u64) << 32) | out.len() as u64
}
