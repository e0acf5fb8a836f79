//! The WASI builds under wasmtime: the reactor module (`alloc`/`dealloc`/`call`) in-process,
//! and the WASI command (the CLI) through wasmtime-wasi p1. Both run every golden vector and
//! must give the same bytes as the native core; hostile input must never trap.
//!
//! Build the artefacts first: `cargo build --release --target wasm32-wasip1 --features wasi-reactor`.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::WasiCtxBuilder;

fn artefact(name: &str) -> PathBuf {
    let p = common::root()
        .join("target/wasm32-wasip1/release")
        .join(name);
    assert!(
        p.is_file(),
        "{} is missing: build it with `cargo build --release --target wasm32-wasip1 --features wasi-reactor` (after `rustup target add wasm32-wasip1`)",
        p.display()
    );
    p
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(Engine::default)
}

fn module(name: &str) -> Module {
    Module::from_file(engine(), artefact(name)).expect("load module")
}

#[path = "common/reactor.rs"]
mod reactor;
use reactor::Reactor;

fn reactor() -> Reactor {
    Reactor::load(
        engine(),
        &common::root().join("target/wasm32-wasip1/release/batch_sync.wasm"),
    )
}

/// Runs the WASI command with arguments and stdin; returns (exit code, stdout).
fn run_command(module: &Module, args: &[&str], stdin: &[u8]) -> (i32, Vec<u8>) {
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine());
    p1::add_to_linker_sync(&mut linker, |t| t).expect("wasi p1");
    let stdout = MemoryOutputPipe::new(64 << 20);
    let mut argv = vec!["batch-sync"];
    argv.extend_from_slice(args);
    let ctx = WasiCtxBuilder::new()
        .stdin(MemoryInputPipe::new(stdin.to_vec()))
        .stdout(stdout.clone())
        .args(&argv)
        .build_p1();
    let mut store = Store::new(engine(), ctx);
    let inst = linker
        .instantiate(&mut store, module)
        .expect("instantiate command");
    let start = inst
        .get_typed_func::<(), ()>(&mut store, "_start")
        .expect("_start");
    let code = match start.call(&mut store, ()) {
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => exit.0,
            None => panic!("the WASI command trapped: {e:?}"),
        },
    };
    (code, stdout.contents().to_vec())
}

#[test]
fn reactor_runs_every_vector_byte_identical() {
    let mut r = reactor();
    let vectors = common::vectors();
    for v in &vectors {
        let got = r.call(&v.request);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&v.response),
            "{} / {}",
            v.file,
            v.name
        );
        assert_eq!(
            got,
            batch_sync::contract::call(&v.request),
            "{} / {}: native and reactor differ",
            v.file,
            v.name
        );
    }
}

#[test]
fn wasi_command_runs_every_vector_byte_identical() {
    let m = module("batch-sync.wasm");
    for v in common::vectors() {
        let (code, out) = run_command(&m, &["call"], &v.request);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&v.response),
            "{} / {}",
            v.file,
            v.name
        );
        let ok = batch_sync::value::Value::parse(&out)
            .unwrap()
            .get("ok")
            .cloned();
        assert_eq!(
            code,
            if ok == Some(batch_sync::value::Value::Bool(true)) {
                0
            } else {
                1
            },
            "{} / {} exit code",
            v.file,
            v.name
        );
    }
}

#[test]
fn wasi_command_matches_native_cli_on_subcommands() {
    let m = module("batch-sync.wasm");
    let native = env!("CARGO_BIN_EXE_batch-sync");
    let cases: &[(&[&str], &str)] = &[
        (
            &["canonicalize"],
            r#"{"b": 1.0, "a": [1e21, 0.000001, -0, "\u00e9\ud83d\ude00\n"], "\u20ac": 1e-7}"#,
        ),
        (&["canonicalize"], "[1,"),
        (
            &["patch", "apply"],
            r#"{"target": {"a": {"b": 1, "c": [1]}}, "patch": {"a": {"b": null, "d": 2}}}"#,
        ),
        (
            &["patch", "diff"],
            r#"{"from": {"a": 1, "b": {"c": 2}}, "to": {"b": {"c": 3}}}"#,
        ),
        (
            &["checksum"],
            r#"{"records": [{"id": 1, "subject": "x", "lockVersion": 4}, {"id": 2, "n": 1.0}, "not an object"]}"#,
        ),
        (
            &["retry"],
            r#"{"key": "k", "attempt": 2, "config": {"retry": {"seed": 9}}}"#,
        ),
        (&["nope"], "{}"),
    ];
    for (args, input) in cases {
        let (code, out) = run_command(&m, args, input.as_bytes());
        let native_out = std::process::Command::new(native)
            .args(*args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                // A usage error exits before reading stdin: a broken pipe is expected there.
                let _ = c.stdin.take().unwrap().write_all(input.as_bytes());
                c.wait_with_output()
            })
            .expect("run native CLI");
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&native_out.stdout),
            "{args:?}"
        );
        assert_eq!(Some(code), native_out.status.code(), "{args:?} exit code");
    }
}

#[test]
fn reactor_never_traps_on_hostile_input() {
    let mut r = reactor();
    let deep_arrays = "[".repeat(1_000_000);
    let deep_objects = "{\"a\":".repeat(100_000);
    let deep_value = format!(
        r#"{{"op":"canonicalize","value":{}1{}}}"#,
        "[".repeat(600),
        "]".repeat(600)
    );
    let huge_string = format!(
        r#"{{"op":"canonicalize","value":"{}"}}"#,
        "x".repeat(10 << 20)
    );
    let deep_record = format!(
        r#"{{"op":"checksum","records":[{{"id":1,"x":{}0{}}}]}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (deep_arrays.into_bytes(), "depth_exceeded"),
        (deep_objects.into_bytes(), "depth_exceeded"),
        (deep_value.into_bytes(), "depth_exceeded"),
        (
            br#"{"op":"canonicalize","value":1e999999}"#.to_vec(),
            "number_out_of_range",
        ),
        (
            br#"{"op":"canonicalize","value":-1e400}"#.to_vec(),
            "number_out_of_range",
        ),
        (
            b"{\"op\":\"canonicalize\",\"value\":\"\xff\xfe\"}".to_vec(),
            "invalid_utf8",
        ),
        (b"\xc3\x28".to_vec(), "invalid_json"),
        (
            br#"{"op":"classify","local":[{"id":1"#.to_vec(),
            "invalid_json",
        ),
        (
            br#"{"op":"canonicalize","value":"\udead"}"#.to_vec(),
            "lone_surrogate",
        ),
        (
            br#"{"op":"canonicalize","value":{"a":1,"a":2}}"#.to_vec(),
            "duplicate_key",
        ),
        (Vec::new(), "invalid_json"),
        (b"\0\0\0".to_vec(), "invalid_json"),
    ];
    for (input, code) in &cases {
        let out = r.call(input);
        let v = batch_sync::value::Value::parse(&out).expect("response is JSON");
        assert_eq!(
            v.get("ok"),
            Some(&batch_sync::value::Value::Bool(false)),
            "{code}"
        );
        assert_eq!(
            v.get("error")
                .and_then(|e| e.get("code"))
                .and_then(|c| c.as_str()),
            Some(*code)
        );
    }
    // A 10 MB string goes through whole, and the module still works afterwards.
    let out = r.call(huge_string.as_bytes());
    assert!(out.len() > 10 << 20 && out.starts_with(br#"{"canonical":"\"xxx"#));
    let out = r.call(deep_record.as_bytes());
    let v = batch_sync::value::Value::parse(&out).unwrap();
    let item = &v.get("items").unwrap().as_array().unwrap()[0];
    assert_eq!(
        item.get("error")
            .and_then(|e| e.get("code"))
            .and_then(|c| c.as_str()),
        Some("depth_exceeded"),
        "per-item error"
    );
    // The deepest accepted nesting through every recursive operation: no stack overflow.
    let deep = |n: usize, leaf: &str| format!("{}{leaf}{}", "{\"a\":".repeat(n), "}".repeat(n));
    let d = 508;
    let recursive_ops = [
        format!(
            r#"{{"op":"patch_diff","from":{},"to":{}}}"#,
            deep(d, "1"),
            deep(d, "2")
        ),
        format!(
            r#"{{"op":"patch_apply","target":{},"patch":{}}}"#,
            deep(d, "1"),
            deep(d, "null")
        ),
        format!(
            r#"{{"op":"merge","config":{{"limits":{{"max_depth":500}}}},"base":{},"local":{},"remote":{}}}"#,
            deep(499, "1"),
            deep(499, "2"),
            deep(499, "3")
        ),
        format!(
            r#"{{"op":"classify","config":{{"limits":{{"max_depth":500}}}},"local":[{{"id":1,"x":{}}}],"remote":[{{"id":1,"x":{}}}]}}"#,
            deep(498, "2"),
            deep(498, "3")
        ),
        format!(r#"{{"op":"canonicalize","value":{}}}"#, deep(d + 2, "[]")),
    ];
    for req in &recursive_ops {
        let out = r.call(req.as_bytes());
        assert_eq!(
            out,
            batch_sync::contract::call(req.as_bytes()),
            "{}",
            &req[..40]
        );
        let v = batch_sync::value::Value::parse(&out).expect("response is JSON");
        assert_eq!(
            v.get("ok"),
            Some(&batch_sync::value::Value::Bool(true)),
            "{}",
            String::from_utf8_lossy(&out[..200.min(out.len())])
        );
    }
    assert_eq!(
        r.call(br#"{"op":"version"}"#),
        batch_sync::contract::call(br#"{"op":"version"}"#)
    );
}

#[test]
fn reactor_checksums_records_of_every_length_as_native() {
    // Classify reads these records from the request's text and hashes their views four at a
    // time (WebAssembly SIMD): records of every length from 0 to ~300 bytes of text (every count
    // of SHA-256 blocks and every tail length) and both sides, against the native core (SHA
    // instructions or one at a time).
    let mut r = reactor();
    let rec = |i: usize, s: &str| format!(r#"{{"id":{i},"t":"{}"}}"#, s.repeat(i % 260));
    let local: Vec<String> = (0..600).map(|i| rec(i, "a")).collect();
    let remote: Vec<String> = (0..600)
        .map(|i| rec(i, if i % 3 == 0 { "b" } else { "a" }))
        .collect();
    let req = format!(
        r#"{{"op":"classify","local":[{}],"remote":[{}]}}"#,
        local.join(","),
        remote.join(",")
    );
    let out = r.call(req.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&batch_sync::contract::call_parsed(req.as_bytes()))
    );
    let v = batch_sync::value::Value::parse(&out).unwrap();
    let summary = v.get("summary").unwrap();
    assert_eq!(
        summary.get("unchanged").and_then(|n| n.as_f64()),
        Some(401.0)
    );
}
