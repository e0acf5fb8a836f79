//! The same workloads through the WASI reactor module under wasmtime (Cranelift).
//! Build it first: `cargo build --release --target wasm32-wasip1 --features wasi-reactor`; run: `cargo bench --bench wasm`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wasmtime::Engine;

#[path = "data.rs"]
mod data;
#[path = "../tests/common/reactor.rs"]
mod reactor;

fn under_wasmtime(c: &mut Criterion) {
    const N: usize = 100_000;
    let engine = Engine::default();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/wasm32-wasip1/release/batch_sync.wasm"
    );
    let mut r = reactor::Reactor::load(&engine, std::path::Path::new(path));
    let checksum_req = format!(
        r#"{{"op":"checksum","records":[{}]}}"#,
        (0..N)
            .map(|i| data::work_package(i, 3, ""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let classify_req = data::classify_request(N);
    let merge_req = data::merge_request(10_000);
    let mut g = c.benchmark_group("wasmtime_reactor");
    g.sample_size(10).throughput(Throughput::Elements(N as u64));
    g.bench_function("checksum 100k (call end to end)", |b| {
        b.iter(|| r.call(checksum_req.as_bytes()).len())
    });
    g.bench_function("classify 100k triples (call end to end)", |b| {
        b.iter(|| r.call(classify_req.as_bytes()).len())
    });
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("merge 10k conflicts (call end to end)", |b| {
        b.iter(|| r.call(merge_req.as_bytes()).len())
    });
    g.finish();
}

criterion_group!(benches, under_wasmtime);
criterion_main!(benches);
