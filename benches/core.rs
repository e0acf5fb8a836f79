//! Criterion benches of the native core. Run: `cargo bench --bench core`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sha2::Digest;

use batch_sync::config::{Side, SyncConfig};
use batch_sync::value::Value;

#[path = "data.rs"]
mod data;

const N: usize = 100_000;

fn checksums(c: &mut Criterion) {
    let texts: Vec<String> = (0..N).map(|i| data::work_package(i, 3, "")).collect();
    let values: Vec<Value> = texts
        .iter()
        .map(|t| Value::parse(t.as_bytes()).unwrap())
        .collect();
    let canon: Vec<Vec<u8>> = values.iter().map(batch_sync::canonical::to_vec).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let cfg = SyncConfig::default();
    let mut g = c.benchmark_group("checksum_100k");
    g.sample_size(10).throughput(Throughput::Elements(N as u64));
    eprintln!(
        "workload: {N} work packages, {} bytes of JSON ({} bytes each on average)",
        bytes,
        bytes / N
    );
    g.bench_function("floor: raw sha256 of canonical bytes", |b| {
        b.iter(|| {
            canon
                .iter()
                .map(|c| sha2::Sha256::digest(c)[0] as usize)
                .sum::<usize>()
        })
    });
    g.bench_function("canonical checksum of parsed records", |b| {
        b.iter(|| {
            values
                .iter()
                .map(|v| {
                    batch_sync::record::checksum_of(&cfg, Side::Local, v, None)
                        .unwrap()
                        .len()
                })
                .sum::<usize>()
        })
    });
    g.bench_function("parse + canonical checksum from JSON text", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| {
                    batch_sync::record::checksum_of(
                        &cfg,
                        Side::Local,
                        &Value::parse(t.as_bytes()).unwrap(),
                        None,
                    )
                    .unwrap()
                    .len()
                })
                .sum::<usize>()
        })
    });
    g.bench_function(
        "baseline: serde_json parse + sorted serialize + sha256",
        |b| {
            b.iter(|| {
                texts
                    .iter()
                    .map(|t| {
                        let mut v: serde_json::Value = serde_json::from_str(t).unwrap();
                        if let Some(m) = v.as_object_mut() {
                            for k in ["id", "lockVersion", "updatedAt"] {
                                m.remove(k);
                            }
                        }
                        sha2::Sha256::digest(serde_json::to_vec(&v).unwrap())[0] as usize
                    })
                    .sum::<usize>()
            })
        },
    );
    g.finish();
}

fn classify(c: &mut Criterion) {
    let req = data::classify_request(N);
    let parsed = Value::parse(req.as_bytes()).unwrap();
    let cfg = SyncConfig::default();
    let arr = |k: &str| parsed.get(k).unwrap().as_array().unwrap().clone();
    let (local, remote, base) = (arr("local"), arr("remote"), arr("base"));
    let mut g = c.benchmark_group("classify_100k");
    g.sample_size(10).throughput(Throughput::Elements(N as u64));
    g.bench_function("classify parsed triples (checksums included)", |b| {
        b.iter(|| {
            batch_sync::classify::classify(&cfg, &local, &remote, Some(&base))
                .decisions()
                .len()
        })
    });
    // The same with limits.reject_nul (the bundled workflow's setting): every view walked for
    // U+0000, and the streaming checksum path left for the view path.
    let nul_cfg =
        SyncConfig::from_value(&Value::parse(br#"{"limits":{"reject_nul":true}}"#).unwrap())
            .unwrap();
    g.bench_function("classify parsed triples, limits.reject_nul", |b| {
        b.iter(|| {
            batch_sync::classify::classify(&nul_cfg, &local, &remote, Some(&base))
                .decisions()
                .len()
        })
    });
    g.bench_function(
        "contract::call end to end (read from the text, classify, serialize)",
        |b| b.iter(|| batch_sync::contract::call(req.as_bytes()).len()),
    );
    // The request parsed into one tree first: the reading every other path must equal.
    g.bench_function(
        "contract::call_parsed end to end (parse whole, classify, serialize)",
        |b| b.iter(|| batch_sync::contract::call_parsed(req.as_bytes()).len()),
    );
    g.finish();
}

fn merge(c: &mut Criterion) {
    const M: usize = 10_000;
    let req = data::merge_request(M);
    let mut g = c.benchmark_group("merge_10k_conflicts");
    g.sample_size(10).throughput(Throughput::Elements(M as u64));
    // The merge itself: views, field-level merge, conflicts, and both patches, on parsed records.
    let parsed = Value::parse(req.as_bytes()).unwrap();
    let items = parsed.get("items").unwrap().as_array().unwrap().clone();
    let cfg =
        SyncConfig::from_value(&Value::parse(br#"{"strategy":"server_wins"}"#).unwrap()).unwrap();
    g.bench_function("merge3 + both patches on parsed records", |b| {
        b.iter(|| {
            let opts = batch_sync::merge::MergeOptions::new(cfg.strategies());
            items
                .iter()
                .map(|it| {
                    let l =
                        batch_sync::record::view(&cfg, Side::Local, it.get("local").unwrap(), None)
                            .unwrap();
                    let r = batch_sync::record::view(
                        &cfg,
                        Side::Remote,
                        it.get("remote").unwrap(),
                        None,
                    )
                    .unwrap();
                    let out = batch_sync::merge::merge3(it.get("base"), Some(&l), Some(&r), &opts);
                    let m = out.merged().unwrap();
                    let (pl, pr) = (
                        batch_sync::patch::diff(&l, m),
                        batch_sync::patch::diff(&r, m),
                    );
                    out.conflicts().len()
                        + usize::from(batch_sync::patch::is_noop(&pl))
                        + usize::from(batch_sync::patch::is_noop(&pr))
                })
                .sum::<usize>()
        })
    });
    g.bench_function("contract::call merge items", |b| {
        b.iter_batched(
            || req.as_bytes(),
            |r| batch_sync::contract::call(r).len(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, checksums, classify, merge);
criterion_main!(benches);
