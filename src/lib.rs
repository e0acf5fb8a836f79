//! batch-sync: exact change detection, conflict detection and three-way merge for batch
//! synchronisation between a PostgreSQL application database and OpenProject work packages.
//!
//! ```
//! use batch_sync::contract::call;
//! let resp = call(br#"{"op":"canonicalize","value":{"b":1.0,"a":"x"}}"#);
//! assert_eq!(resp, br#"{"canonical":"{\"a\":\"x\",\"b\":1}","contract":1,"ok":true,"op":"canonicalize"}"#);
//! ```
//!
//! The core is pure Rust and knows nothing of its hosts. Hosts: the native CLI (`src/main.rs`),
//! the WASI command (the same CLI built for `wasm32-wasip1`), the WASI reactor module
//! (`src/wasi.rs`: `alloc`, `dealloc`, `call`; feature `wasi-reactor`) and the JS binding for
//! Node (`src/js.rs`, feature `js`). Without those features the crate exports nothing but Rust.
//! All of them go through [`contract::call`], so the same request gives the same bytes.
#![warn(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod canon_text;
pub mod canonical;
pub mod classify;
pub mod config;
pub mod contract;
pub mod decision;
pub mod error;
pub mod lazy;
pub mod mapping;
pub mod merge;
pub mod parse;
pub mod patch;
pub mod plan;
pub mod pointer;
pub mod record;
pub mod sha256x4;
pub mod time;
pub mod value;

#[cfg(all(feature = "wasi-reactor", target_arch = "wasm32", target_os = "wasi"))]
mod wasi;

#[cfg(all(feature = "js", target_arch = "wasm32", target_os = "unknown"))]
mod js;
