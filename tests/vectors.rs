//! The golden vectors (tests/vectors/*.json) through the native core and the native CLI.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn native_core_matches_every_vector() {
    let mut failures = Vec::new();
    for v in common::vectors() {
        let got = batch_sync::contract::call(&v.request);
        // The Value-returning path (used by embedders) agrees with the streaming one.
        if let Ok(req) = batch_sync::contract::parse_request(&v.request) {
            let via_value = batch_sync::canonical::to_vec(&batch_sync::contract::respond(&req));
            assert_eq!(
                via_value, got,
                "{} / {}: respond() and call() differ",
                v.file, v.name
            );
        }
        assert_eq!(
            batch_sync::contract::is_failure(&got),
            batch_sync::value::Value::parse(&got).unwrap().get("ok")
                == Some(&batch_sync::value::Value::Bool(false)),
            "{} / {}",
            v.file,
            v.name
        );
        if got != v.response {
            failures.push(format!(
                "{} / {}\n  want {}\n  got  {}",
                v.file,
                v.name,
                String::from_utf8_lossy(&v.response),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} vector(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn native_cli_call_matches_every_vector() {
    for v in common::vectors() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_batch-sync"))
            .arg("call")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&v.request).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&v.response),
            "{} / {}",
            v.file,
            v.name
        );
        let accepted = batch_sync::value::Value::parse(&out.stdout)
            .unwrap()
            .get("ok")
            == Some(&batch_sync::value::Value::Bool(true));
        assert_eq!(
            out.status.code(),
            Some(if accepted { 0 } else { 1 }),
            "{} / {}",
            v.file,
            v.name
        );
    }
}
