//! Profiling helper: `contract::call` on a request read from a file (used with perf):
//! `cargo run --release --example profile_text -- request.json`.
fn main() {
    let path = std::env::args().nth(1).expect("request file");
    let r = std::fs::read(path).unwrap();
    let t = std::time::Instant::now();
    let mut total = 0;
    for _ in 0..3 {
        total += batch_sync::contract::call(&r).len();
    }
    eprintln!("{:?} per call, {} bytes out", t.elapsed() / 3, total / 3);
}
