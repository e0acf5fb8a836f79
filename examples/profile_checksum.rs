//! Profiling helper: canonical checksums of 100k work packages (used with perf/callgrind).
#[path = "../benches/data.rs"]
mod data;
fn main() {
    let texts: Vec<String> = (0..20_000).map(|i| data::work_package(i, 3, "")).collect();
    let values: Vec<batch_sync::value::Value> = texts
        .iter()
        .map(|t| batch_sync::value::Value::parse(t.as_bytes()).unwrap())
        .collect();
    let cfg = batch_sync::config::SyncConfig::default();
    let t = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..5 {
        for v in &values {
            n += batch_sync::record::checksum_of(&cfg, batch_sync::config::Side::Local, v, None)
                .unwrap()
                .len();
        }
    }
    eprintln!("{n} {:?} per record", t.elapsed() / 100_000);
    let t = std::time::Instant::now();
    let mut m = 0;
    for _ in 0..5 {
        for v in &values {
            m += batch_sync::canonical::to_vec(v).len();
        }
    }
    eprintln!("{m} to_vec {:?} per record", t.elapsed() / 100_000);
}
