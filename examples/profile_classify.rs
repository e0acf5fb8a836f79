//! Profiling helper: classify 100k triples (used with perf).
#[path = "../benches/data.rs"]
mod data;
fn main() {
    let req = data::classify_request(100_000);
    let parsed = batch_sync::value::Value::parse(req.as_bytes()).unwrap();
    let arr = |k: &str| parsed.get(k).unwrap().as_array().unwrap().clone();
    let (l, r, b) = (arr("local"), arr("remote"), arr("base"));
    let cfg = batch_sync::config::SyncConfig::default();
    for _ in 0..4 {
        let t = std::time::Instant::now();
        let mut n = 0;
        batch_sync::classify::classify_each(&cfg, &l, &r, Some(&b), |_| n += 1);
        eprintln!("{n} decisions in {:?}", t.elapsed());
    }
}
