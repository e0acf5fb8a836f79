//! Laws, checked by property tests: merge identities, patch round trips, canonical form
//! invariants, and "every input record leaves through exactly one decision".

use batch_sync::config::{Strategies, Strategy as Resolve, SyncConfig};
use batch_sync::merge::{merge3, MergeOptions, Resolution};
use batch_sync::pointer::Pointer;
use batch_sync::value::{Map, Value};
use batch_sync::{canonical, classify, patch};
use proptest::prelude::*;

/// JSON values whose object members are never `null` (records as merge sees them);
/// `null` still appears inside arrays and at the top level.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i32..1000).prop_map(|n| Value::Number(f64::from(n))),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Number),
        "[a-c\u{e9}\u{1F600}\"\\\\\n]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-e]", inner), 0..5).prop_map(|kv| {
                let mut m = Map::new();
                for (k, v) in kv {
                    if !v.is_null() {
                        m.insert(k, v);
                    }
                }
                Value::Object(m)
            }),
        ]
    })
}

fn record() -> impl Strategy<Value = Value> {
    prop::collection::vec(("[a-e]", value()), 0..6).prop_map(|kv| {
        let mut m = Map::new();
        for (k, v) in kv {
            if !v.is_null() {
                m.insert(k, v);
            }
        }
        Value::Object(m)
    })
}

/// A variant of `b`: some members changed, removed or added, recursively.
fn edit(b: Value) -> impl Strategy<Value = Value> {
    (record(), prop::collection::vec(any::<u8>(), 8)).prop_map(move |(other, dice)| {
        let (Value::Object(bm), Value::Object(om)) = (b.clone(), other) else {
            return b.clone();
        };
        let mut out = Map::new();
        for (i, k) in bm.union_keys(&om).into_iter().enumerate() {
            let d = dice[i % dice.len()] % 4;
            let v = match (d, bm.get(k), om.get(k)) {
                (0, Some(x), _) => Some(x.clone()),
                (1, _, Some(y)) => Some(y.clone()),
                (2, _, _) => None,
                (_, x, _) => x.cloned(),
            };
            if let Some(v) = v {
                out.insert(k.to_owned(), v);
            }
        }
        Value::Object(out)
    })
}

fn merge(b: &Value, l: &Value, r: &Value, s: Resolve) -> batch_sync::merge::MergeOutcome {
    let st = Strategies::new(s);
    merge3(Some(b), Some(l), Some(r), &MergeOptions::new(&st))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn merge_takes_the_only_change(b in record(), x in record()) {
        for s in [Resolve::Merge, Resolve::ServerWins, Resolve::ClientWins, Resolve::Manual] {
            let only_local = merge(&b, &x, &b, s);
            prop_assert_eq!(only_local.merged(), Some(&x));
            prop_assert!(only_local.conflicts().is_empty());
            let only_remote = merge(&b, &b, &x, s);
            prop_assert_eq!(only_remote.merged(), Some(&x));
            prop_assert!(only_remote.conflicts().is_empty());
            let same = merge(&b, &x, &x, s);
            prop_assert_eq!(same.merged(), Some(&x));
            prop_assert!(same.conflicts().is_empty());
        }
    }

    #[test]
    fn emitted_patches_take_each_side_to_the_merged_record((b, l, r) in record().prop_flat_map(|b| (Just(b.clone()), edit(b.clone()), edit(b)))) {
        for s in [Resolve::Merge, Resolve::ServerWins, Resolve::ClientWins] {
            let out = merge(&b, &l, &r, s);
            let m = out.merged().expect("records merge to a record");
            prop_assert_eq!(&patch::apply(&l, &patch::diff(&l, m)), m);
            prop_assert_eq!(&patch::apply(&r, &patch::diff(&r, m)), m);
            if s != Resolve::Merge {
                prop_assert!(!out.is_unresolved());
            }
            // Every conflict path names a place where both sides changed the base and disagree,
            // and the merged record holds there what the resolution says.
            for c in out.conflicts() {
                let p = Pointer::parse(c.path()).unwrap();
                let (bv, lv, rv) = (at(&p, &b), at(&p, &l), at(&p, &r));
                prop_assert!(lv != rv, "sides agree at {}", c.path());
                prop_assert!(lv != bv && rv != bv, "only one side changed {}", c.path());
                let want = match c.resolution() {
                    Resolution::Local => lv,
                    Resolution::Remote => rv,
                    Resolution::Unresolved => bv,
                };
                prop_assert_eq!(at(&p, m), want, "merged at {}", c.path());
            }
        }
    }

    #[test]
    fn server_and_client_wins_agree_with_the_winner_on_every_conflict((b, l, r) in record().prop_flat_map(|b| (Just(b.clone()), edit(b.clone()), edit(b)))) {
        let sw = merge(&b, &l, &r, Resolve::ServerWins);
        let cw = merge(&b, &l, &r, Resolve::ClientWins);
        let paths = |o: &batch_sync::merge::MergeOutcome| o.conflicts().iter().map(|c| c.path().to_owned()).collect::<Vec<_>>();
        prop_assert_eq!(paths(&sw), paths(&cw));
        // At every conflict the merged record holds the winner's value (absent where the
        // winner deleted it), and each conflict was resolved for that winner.
        for (out, winner, res) in [(&sw, &r, Resolution::Remote), (&cw, &l, Resolution::Local)] {
            let m = out.merged().expect("records merge to a record");
            for c in out.conflicts() {
                let p = Pointer::parse(c.path()).unwrap();
                prop_assert_eq!(c.resolution(), res);
                prop_assert_eq!(at(&p, m), at(&p, winner), "at {}", c.path());
            }
        }
        // Symmetry: swapping sides swaps the winners.
        let swapped = merge(&b, &r, &l, Resolve::ClientWins);
        prop_assert_eq!(sw.merged(), swapped.merged());
    }

    #[test]
    fn diff_then_apply_round_trips(a in value(), b in value()) {
        let p = patch::diff(&a, &b);
        prop_assert_eq!(patch::apply(&a, &p), b);
    }

    // (That apply leaves its inputs alone needs no test: it takes them by shared reference.)
    #[test]
    fn apply_is_the_rfc_7396_algorithm(a in value(), p in value()) {
        prop_assert_eq!(patch::apply(&a, &p), rfc7396_merge_patch(&a, &p));
    }

    #[test]
    fn canonical_form_is_idempotent(v in value()) {
        let c = canonical::to_vec(&v);
        let again = canonical::to_vec(&Value::parse(&c).unwrap());
        prop_assert_eq!(c, again);
    }

    #[test]
    fn canonical_form_ignores_key_order_whitespace_and_escapes(v in value(), seed in any::<u64>()) {
        // Another serializer (serde_json), pretty-printed, with every non-ASCII character escaped
        // and object members in a shuffled order, reads back to the same canonical bytes.
        let text = reorder_and_escape(&v, seed);
        let parsed = Value::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(canonical::to_vec(&parsed), canonical::to_vec(&v));
    }

    #[test]
    fn every_record_leaves_through_exactly_one_decision(
        local in prop::collection::vec((0u8..6, record()), 0..8),
        remote in prop::collection::vec((0u8..6, record()), 0..8),
        base_ids in prop::collection::vec(0u8..8, 0..6),
        full in any::<bool>(),
    ) {
        let with_id = |(id, mut r): (u8, Value)| { if let Value::Object(m) = &mut r { m.insert("id", Value::from(id as usize)); } r };
        let local: Vec<Value> = local.into_iter().map(with_id).collect();
        let remote: Vec<Value> = remote.into_iter().map(with_id).collect();
        let base: Vec<Value> = base_ids.iter().map(|&id| Value::object([("id", Value::from(id as usize)), ("snapshot", Value::Object(Map::new()))])).collect();
        let cfg = if full {
            SyncConfig::from_value(&Value::parse(br#"{"mode":"full","delete_missing":true}"#).unwrap()).unwrap()
        } else {
            SyncConfig::default()
        };
        let out = classify::classify(&cfg, &local, &remote, Some(&base));
        let mut seen_local = vec![0; local.len()];
        let mut seen_remote = vec![0; remote.len()];
        let mut seen_base = vec![0; base.len()];
        for d in out.decisions() {
            let d = d.to_value();
            let kind = d.get("decision").and_then(Value::as_str).unwrap();
            if kind == "invalid" {
                let i = d.get("index").and_then(Value::as_f64).unwrap() as usize;
                match d.get("side").and_then(Value::as_str).unwrap() {
                    "local" => seen_local[i] += 1,
                    "remote" => seen_remote[i] += 1,
                    _ => seen_base[i] += 1,
                }
                continue;
            }
            for (k, seen) in [("local", &mut seen_local), ("remote", &mut seen_remote), ("base", &mut seen_base)] {
                if let Some(i) = d.get(k).and_then(|s| s.get("index")).and_then(Value::as_f64) {
                    seen[i as usize] += 1;
                }
            }
        }
        prop_assert!(seen_local.iter().all(|&n| n == 1), "local {:?}", seen_local);
        prop_assert!(seen_remote.iter().all(|&n| n == 1), "remote {:?}", seen_remote);
        prop_assert!(seen_base.iter().all(|&n| n == 1), "base {:?}", seen_base);
    }
}

/// The value at a pointer, with a `null` member counting as absent (as the merge sees it).
fn at<'v>(p: &Pointer, v: &'v Value) -> Option<&'v Value> {
    p.get(v).filter(|x| !x.is_null())
}

/// RFC 7396 section 2, transcribed literally:
///   define MergePatch(Target, Patch):
///     if Patch is an Object:
///       if Target is not an Object: Target = {}
///       for each Name/Value pair in Patch:
///         if Value is null: if Name exists in Target: remove the Name/Value pair from Target
///         else: Target[Name] = MergePatch(Target[Name], Value)
///       return Target
///     else: return Patch
fn rfc7396_merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(pm) = patch else {
        return patch.clone();
    };
    let mut t = match target {
        Value::Object(tm) => tm.clone(),
        _ => Map::new(),
    };
    for (k, v) in pm.iter() {
        if v.is_null() {
            t.remove(k);
        } else {
            let cur = t.get(k).cloned().unwrap_or(Value::Null);
            t.insert(k.to_owned(), rfc7396_merge_patch(&cur, v));
        }
    }
    Value::Object(t)
}

fn to_serde(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => serde_json::Number::from_f64(*n)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_serde).collect()),
        Value::Object(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| (k.to_string(), to_serde(v)))
                .collect(),
        ),
    }
}

fn reorder_and_escape(v: &Value, seed: u64) -> String {
    fn write(v: &Value, seed: &mut u64, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<_> = m.iter().collect();
                // Deterministic shuffle.
                for i in (1..entries.len()).rev() {
                    *seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    entries.swap(i, (*seed >> 33) as usize % (i + 1));
                }
                out.push_str("{\n  ");
                for (i, (k, x)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(" ,\n  ");
                    }
                    escape(k, out);
                    out.push_str(" : ");
                    write(x, seed, out);
                }
                out.push_str("\n}");
            }
            Value::Array(a) => {
                out.push_str("[ ");
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" , ");
                    }
                    write(x, seed, out);
                }
                out.push_str(" ]");
            }
            Value::String(s) => escape(s, out),
            other => out.push_str(&serde_json::to_string(&to_serde(other)).unwrap()),
        }
    }
    fn escape(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{:04X}", u));
            }
        }
        out.push('"');
    }
    let mut seed = seed;
    let mut out = String::new();
    write(v, &mut seed, &mut out);
    out
}

proptest! {
    /// Numbers are written as ECMAScript writes them (RFC 8785 §3.2.2.3): the integer shortcut
    /// agrees with the general formatter on every integer near it and on any double.
    #[test]
    fn numbers_written_as_ecmascript_writes_them(
        int in -(1i64 << 54)..(1i64 << 54),
        near in prop::sample::select(vec![1i64 << 53, (1i64 << 53) - 1, 1 << 52, 999_999_999_999_999, 1_000_000_000_000_000]),
        delta in -3i64..3,
        any in any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ) {
        for x in [int as f64, (near + delta) as f64, -((near + delta) as f64), any, any.trunc()] {
            let mut out = Vec::new();
            canonical::write_number(x, &mut out);
            let want = if x == 0.0 { "0".to_string() } else { ryu_js::Buffer::new().format_finite(x).to_string() };
            prop_assert_eq!(String::from_utf8(out).unwrap(), want, "{}", x);
        }
    }
}

proptest! {
    /// Keys are ordered by their UTF-16 code units (RFC 8785 §3.2.3), whatever mix of ASCII,
    /// BMP (below and above the surrogate range) and supplementary characters they hold.
    #[test]
    fn keys_ordered_by_utf16_code_units(
        a in "[a\u{7f}\u{80}\u{7ff}\u{800}\u{d7ff}\u{e000}\u{fffd}\u{ffff}\u{10000}\u{1f600}\u{10ffff}]{0,4}",
        b in "[a\u{7f}\u{80}\u{7ff}\u{800}\u{d7ff}\u{e000}\u{fffd}\u{ffff}\u{10000}\u{1f600}\u{10ffff}]{0,4}",
    ) {
        let want = a.encode_utf16().cmp(b.encode_utf16());
        prop_assert_eq!(batch_sync::value::cmp_utf16(&a, &b), want);
    }
}
