//! Peak heap while classifying 100k triples, against the request's JSON size.
//! Run: `cargo run --release --example memory`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[path = "../benches/data.rs"]
mod data;

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = NOW.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        NOW.fetch_sub(l.size(), Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // criterion-style discovery by `cargo bench -- --list`
    }
    const N: usize = 100_000;
    let req = data::classify_request(N);
    let records_json = req.len();
    // The same work three ways: the request read from its text (`call`, what every host does),
    // the whole request parsed into one tree first (`call_parsed`), and two-way without seeding
    // and with lean unchanged decisions (what the n8n node's Compare sends without a base).
    let two_way = {
        let v = batch_sync::value::Value::parse(req.as_bytes()).unwrap();
        let get = |k: &str| batch_sync::canonical::to_string(v.get(k).unwrap());
        format!(
            r#"{{"op":"classify","config":{{"seed_base":false,"lean_unchanged":true}},"local":{},"remote":{}}}"#,
            get("local"),
            get("remote")
        )
    };
    type Call = fn(&[u8]) -> Vec<u8>;
    let ways: [(&str, &str, Call); 3] = [
        (
            "three-way, read from its text (call)",
            &req,
            batch_sync::contract::call,
        ),
        (
            "three-way, parsed whole (call_parsed)",
            &req,
            batch_sync::contract::call_parsed,
        ),
        (
            "two-way, lean, read from its text (call)",
            &two_way,
            batch_sync::contract::call,
        ),
    ];
    for (name, r, f) in ways {
        let before = NOW.load(Relaxed);
        PEAK.store(before, Relaxed);
        let out = f(r.as_bytes());
        let peak = PEAK.load(Relaxed) - before;
        println!(
            "{name}: {N} pairs, request {:.1} MB, response {:.1} MB, peak heap above the request {:.1} MB = {:.2}x the request",
            r.len() as f64 / 1e6,
            out.len() as f64 / 1e6,
            peak as f64 / 1e6,
            peak as f64 / r.len() as f64
        );
    }
    let before = NOW.load(Relaxed);
    PEAK.store(before, Relaxed);
    let parsed = batch_sync::value::Value::parse(req.as_bytes()).unwrap();
    println!(
        "parsed tree: {:.1} MB held, {:.2}x the JSON size",
        (NOW.load(Relaxed) - before) as f64 / 1e6,
        (NOW.load(Relaxed) - before) as f64 / records_json as f64
    );
    let before = NOW.load(Relaxed);
    PEAK.store(before, Relaxed);
    let local = parsed.get("local").unwrap().as_array().unwrap();
    let remote = parsed.get("remote").unwrap().as_array().unwrap();
    let base = parsed.get("base").unwrap().as_array().unwrap();
    let c = batch_sync::classify::classify(
        &batch_sync::config::SyncConfig::default(),
        local,
        remote,
        Some(base),
    );
    let peak_classify = PEAK.load(Relaxed) - before;
    assert_eq!(c.decisions().len(), N);
    println!(
        "classify on parsed records (parse excluded): peak {:.1} MB = {:.2}x",
        peak_classify as f64 / 1e6,
        peak_classify as f64 / records_json as f64
    );
}
