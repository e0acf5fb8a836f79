//! Profiling helper: classify 100k triples (used with perf).
#[path = "../benches/data.rs"]
mod data;
fn main() {
    let req = data::classify_request(100_000);
    let parsed = batch_sync::value::Value::parse(req.as_bytes()).unwrap();
    let arr = |k: &str| parsed.get(k).unwrap().as_array().unwrap().clone();
    let (l, r, b) = (arr("local"), arr("remote"), arr("base"));
    let cfg = batch_sync::config::SyncConfig::default();
    let t = std::time::Instant::now();
    let c = batch_sync::classify::classify(&cfg, &l, &r, Some(&b));
    eprintln!("{} decisions in {:?}", c.decisions().len(), t.elapsed());
}
