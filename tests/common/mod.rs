//! Shared helpers for the integration tests: locating the reference data and the vectors.
#![allow(dead_code)]

use std::path::PathBuf;

use batch_sync::value::Value;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The public reference data in `tests/reference/` (or `$BATCH_SYNC_REFERENCE`, a folder of the
/// same layout). Missing data fails.
pub fn reference() -> PathBuf {
    let dir = std::env::var_os("BATCH_SYNC_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("tests/reference"));
    assert!(
        dir.join("jcs").is_dir(),
        "reference data not found at {} (tests/reference/ is part of the repository)",
        dir.display()
    );
    dir
}

/// Reads and parses a JSON file.
pub fn read_json(p: &std::path::Path) -> Value {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    Value::parse(&bytes).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
}

/// One golden vector.
pub struct Vector {
    pub file: String,
    pub name: String,
    pub request: Vec<u8>,
    pub response: Vec<u8>,
}

/// All vectors in `tests/vectors/*.json`, each file an array of `{name, request, response}`.
/// The request bytes are the canonical form of `request`, unless the vector gives `request_text`
/// (raw text, for malformed input); the response bytes are the canonical form of `response`.
pub fn vectors() -> Vec<Vector> {
    let dir = root().join("tests/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let v = read_json(&f);
        for case in v.as_array().expect("a vector file is an array") {
            let name = case
                .get("name")
                .and_then(Value::as_str)
                .expect("vector name")
                .to_owned();
            let request = match case.get("request_text").and_then(Value::as_str) {
                Some(t) => t.as_bytes().to_vec(),
                None => batch_sync::canonical::to_vec(case.get("request").expect("request")),
            };
            let response = batch_sync::canonical::to_vec(case.get("response").expect("response"));
            out.push(Vector {
                file: f.file_name().unwrap().to_string_lossy().into_owned(),
                name,
                request,
                response,
            });
        }
    }
    assert!(
        out.len() >= 20,
        "expected the golden vectors in tests/vectors, found {}",
        out.len()
    );
    out
}
