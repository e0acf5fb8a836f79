//! The same workloads through the WASI reactor module under wasmtime (Cranelift).
//! Build it first: `cargo build --release --target wasm32-wasip1`; run: `cargo bench --bench wasm`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wasmtime::{Engine, Linker, Memory, Module, Store, TypedFunc};

#[path = "data.rs"]
mod data;

struct Reactor {
    store: Store<()>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    dealloc: TypedFunc<(u32, u32), ()>,
    call: TypedFunc<(u32, u32), u64>,
}

impl Reactor {
    fn new() -> Reactor {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/wasm32-wasip1/release/batch_sync.wasm"
        );
        let engine = Engine::default();
        let m = Module::from_file(&engine, path).unwrap_or_else(|e| {
            panic!("{path}: {e} (cargo build --release --target wasm32-wasip1)")
        });
        let mut linker = Linker::new(&engine);
        linker.define_unknown_imports_as_traps(&m).unwrap();
        let mut store = Store::new(&engine, ());
        let inst = linker.instantiate(&mut store, &m).unwrap();
        if let Ok(init) = inst.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ()).unwrap();
        }
        Reactor {
            memory: inst.get_memory(&mut store, "memory").unwrap(),
            alloc: inst.get_typed_func(&mut store, "alloc").unwrap(),
            dealloc: inst.get_typed_func(&mut store, "dealloc").unwrap(),
            call: inst.get_typed_func(&mut store, "call").unwrap(),
            store,
        }
    }

    fn call(&mut self, input: &[u8]) -> usize {
        let len = input.len() as u32;
        let ptr = self.alloc.call(&mut self.store, len).unwrap();
        self.memory
            .write(&mut self.store, ptr as usize, input)
            .unwrap();
        let packed = self.call.call(&mut self.store, (ptr, len)).unwrap();
        self.dealloc.call(&mut self.store, (ptr, len)).unwrap();
        let (rp, rl) = ((packed >> 32) as u32, packed as u32);
        self.dealloc.call(&mut self.store, (rp, rl)).unwrap();
        rl as usize
    }
}

fn under_wasmtime(c: &mut Criterion) {
    const N: usize = 100_000;
    let mut r = Reactor::new();
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
        b.iter(|| r.call(checksum_req.as_bytes()))
    });
    g.bench_function("classify 100k triples (call end to end)", |b| {
        b.iter(|| r.call(classify_req.as_bytes()))
    });
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("merge 10k conflicts (call end to end)", |b| {
        b.iter(|| r.call(merge_req.as_bytes()))
    });
    g.finish();
}

criterion_group!(benches, under_wasmtime);
criterion_main!(benches);
