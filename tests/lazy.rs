//! The classify request read from its text (`lazy`, what `contract::call` does first) answers
//! byte for byte what the parse of the whole request answers (`contract::call_parsed`), on
//! generated requests of every kind: records with unsorted, repeated, escaped and non-ASCII
//! keys, numbers of every spelling, escapes and lone surrogates, ids of every type, base entries
//! with and without snapshots, configurations with and without a mapping, members in any order,
//! whitespace anywhere, and damaged text.

mod common;

use batch_sync::{contract, lazy};

/// SplitMix64: a fixed sequence, so a failure names a seed that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const KEYS: &[&str] = &[
    "subject",
    "a",
    "b",
    "_links",
    "z",
    "Z",
    "é",
    "😀",
    "\u{e000}",
    "\u{ffff}",
    "description",
    "a/b",
    "m~n",
    "",
    "k\\\"q",
    "\\u0061",
    "tab\\t",
];

const STRINGS: &[&str] = &[
    "plain",
    "",
    "line\\nbreak",
    "quote\\\" and \\\\ slash \\/",
    "\\u0041\\u00e9\\u20ac",
    "\\ud83d\\ude00 pair",
    "lone \\ud800",
    "lone \\udc00 low",
    "nul \\u0000 here",
    "ctl \\u001f \\b\\f\\r\\t",
    "é € 😀 \u{e000} \u{ffff}",
    "UPPER \\u00E9",
    "a long text a long text a long text a long text a long text a long text",
];

const NUMBERS: &[&str] = &[
    "1",
    "0",
    "-0",
    "1.0",
    "1e3",
    "1E-7",
    "0.1",
    "-5",
    "123456789012345",
    "1234567890123456",
    "123456789012345678",
    "9007199254740993",
    "1e999",
    "-1e400",
    "2.5e-324",
    "5e-324",
    "100000000000000000000000",
    "1.5",
];

fn ws(r: &mut Rng) -> &'static str {
    if r.chance(85) {
        ""
    } else {
        ["  ", "\n", "\t", " \r\n "][r.below(4)]
    }
}

fn value(r: &mut Rng, depth: usize, out: &mut String) {
    let kind = if depth > 4 {
        2 + r.below(3)
    } else {
        r.below(6)
    };
    match kind {
        0 => object(r, depth + 1, &[], out),
        1 => {
            out.push('[');
            let n = r.below(4);
            for k in 0..n {
                if k > 0 {
                    out.push(',');
                }
                out.push_str(ws(r));
                value(r, depth + 1, out);
                out.push_str(ws(r));
            }
            out.push(']');
        }
        2 => {
            out.push('"');
            out.push_str(r.pick(STRINGS));
            out.push('"');
        }
        3 => out.push_str(r.pick(NUMBERS)),
        _ => out.push_str(["true", "false", "null"][r.below(3)]),
    }
}

/// An object with random members, after `fixed` members (key, value text) in random places.
fn object(r: &mut Rng, depth: usize, fixed: &[(String, String)], out: &mut String) {
    let mut members: Vec<(String, Option<String>)> = fixed
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    for _ in 0..r.below(5) {
        let k = r.pick(KEYS).to_owned();
        let at = r.below(members.len() + 1);
        members.insert(at, (k, None));
    }
    if r.chance(5) && !members.is_empty() {
        // A repeated key.
        let k = members[r.below(members.len())].0.clone();
        members.push((k, None));
    }
    out.push('{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(ws(r));
        out.push('"');
        out.push_str(k);
        out.push('"');
        out.push_str(ws(r));
        out.push(':');
        out.push_str(ws(r));
        match v {
            Some(v) => out.push_str(v),
            None => value(r, depth, out),
        }
        out.push_str(ws(r));
    }
    out.push('}');
}

fn id(r: &mut Rng, n: usize) -> String {
    let k = r.below(n.max(1)) + 1;
    match r.below(20) {
        0 => format!("\"s{k}\""),
        1 => "1.5".into(),
        2 => "null".into(),
        3 => "\"\"".into(),
        4 => "true".into(),
        5 => "18014398509481984".into(),
        6 => format!("{k}.0"),
        _ => k.to_string(),
    }
}

fn record(r: &mut Rng, n: usize, id_key: &str, out: &mut String) {
    if r.chance(3) {
        out.push_str(["5", "[]", "\"x\"", "null"][r.below(4)]);
        return;
    }
    let mut fixed = Vec::new();
    if !r.chance(4) {
        fixed.push((id_key.to_owned(), id(r, n)));
    }
    if r.chance(60) {
        fixed.push((
            "lockVersion".into(),
            ["3", "4", "\"7\"", "null", "\"x\""][r.below(5)].into(),
        ));
    }
    if r.chance(50) {
        let t = [
            "\"2026-11-01T09:00:00Z\"",
            "\"2026-11-20T12:00:00+01:00\"",
            "\"yesterday\"",
            "null",
            "5",
        ];
        fixed.push(("updatedAt".into(), t[r.below(t.len())].into()));
    }
    if r.chance(20) {
        fixed.push((
            "deleted".into(),
            ["true", "false", "null", "1"][r.below(4)].into(),
        ));
    }
    if r.chance(60) {
        fixed.push((
            "subject".into(),
            format!("\"{}\"", ["A", "B", "A"][r.below(3)]),
        ));
    }
    if r.chance(30) {
        fixed.push((
            "nested".into(),
            r#"{"y":[1,{"q":2.50,"p":null}],"x":"\u0041"}"#.into(),
        ));
    }
    object(r, 3, &fixed, out);
}

fn base_entry(r: &mut Rng, n: usize, out: &mut String) {
    if r.chance(3) {
        out.push('7');
        return;
    }
    let mut fixed = vec![("id".to_owned(), id(r, n))];
    let snapshot = {
        let mut s = String::new();
        record(r, n, "subject", &mut s);
        s
    };
    match r.below(6) {
        0 => fixed.push(("checksum".into(), format!("\"{}\"", "ab".repeat(32)))),
        1 => fixed.push(("checksum".into(), "\"XYZ\"".into())),
        2 => fixed.push(("snapshot".into(), "null".into())),
        3 => fixed.push(("snapshot".into(), "[1]".into())),
        _ => fixed.push(("snapshot".into(), snapshot)),
    }
    if r.chance(50) {
        fixed.push(("version".into(), ["3", "\"3\"", "null"][r.below(3)].into()));
    }
    if r.chance(4) {
        fixed.push(("extra".into(), "1".into()));
    }
    // Only the fixed members: random ones would be unknown members.
    let members: Vec<String> = fixed
        .iter()
        .map(|(k, v)| format!("{}\"{k}\"{}:{}{v}", ws(r), ws(r), ws(r)))
        .collect();
    out.push('{');
    out.push_str(&members.join(","));
    out.push('}');
}

const CONFIGS: &[&str] = &[
    "{}",
    r#"{"mode":"full","delete_missing":true,"deleted_field":"deleted"}"#,
    r#"{"exclude":["/description","/nested"]}"#,
    r#"{"exclude":["/nested/y"]}"#,
    r#"{"include":["/subject","/nested"]}"#,
    r#"{"limits":{"reject_nul":true}}"#,
    r#"{"limits":{"max_depth":3}}"#,
    r#"{"limits":{"max_record_bytes":60}}"#,
    r#"{"limits":{"max_batch":3}}"#,
    r#"{"seed_base":false}"#,
    r#"{"mode":"reconciliation"}"#,
    r#"{"strategy":"manual"}"#,
    r#"{"version_field":null,"strategy":"newest_wins","time_zone":"Europe/Berlin"}"#,
    r#"{"local_id_field":"sync_id","remote_id_field":"id"}"#,
    r#"{"mapping":[{"local":"/title","remote":"/subject","type":"string"},{"local":"/n","remote":"/nested"}],"local_id_field":"id","remote_id_field":"id"}"#,
    r#"{"mode":"incremental","strategy":{"default":"merge","fields":{"/subject":"manual"}}}"#,
    r#"{"limits":{"bogus":1}}"#,
    r#"{"lean_unchanged":true}"#,
    r#"{"lean_unchanged":true,"seed_base":false}"#,
    r#"{"lean_unchanged":true,"mode":"reconciliation"}"#,
    r#"{"lean_unchanged":true,"exclude":["/description"],"limits":{"reject_nul":true}}"#,
    r#"{"lean_unchanged":true,"mode":"full","delete_missing":true,"deleted_field":"deleted"}"#,
    r#"{"lean_unchanged":1}"#,
    // Records put off are measured, not written: the size limit must still hold.
    r#"{"lean_unchanged":true,"seed_base":false,"limits":{"max_record_bytes":60}}"#,
    r#"{"lean_unchanged":true,"limits":{"max_record_bytes":45,"max_depth":3}}"#,
];

fn request(r: &mut Rng) -> String {
    let n = 1 + r.below(6);
    let config = r.pick(CONFIGS);
    let id_key = if config.contains("sync_id") && r.chance(80) {
        "sync_id"
    } else {
        "id"
    };
    let side = |r: &mut Rng, key: &str| -> Vec<String> {
        (0..r.below(n + 2))
            .map(|_| {
                let mut s = String::from(ws(r));
                record(r, n, key, &mut s);
                s
            })
            .collect()
    };
    let local = side(r, id_key);
    let mut remote = side(r, "id");
    if r.chance(50) && !local.is_empty() {
        // Records the other side has byte for byte (an unchanged pair, as two listings of
        // the same data give it), in the same place or elsewhere, and some edited.
        remote = local.clone();
        for x in remote.iter_mut() {
            if r.chance(20) {
                *x = x.replacen('1', "2", 1);
            }
        }
        if r.chance(50) {
            let (a, b) = (r.below(remote.len()), r.below(remote.len()));
            remote.swap(a, b);
        }
        if r.chance(30) {
            remote.truncate(r.below(remote.len() + 1));
        }
    }
    let list = |xs: &[String]| format!("[{}]", xs.join(","));
    let mut members = vec![
        ("op", "\"classify\"".to_owned()),
        ("local", list(&local)),
        ("remote", list(&remote)),
    ];
    if r.chance(70) {
        members.insert(1, ("config", config.to_owned()));
    }
    if r.chance(50) {
        let mut s = String::from("[");
        for k in 0..r.below(n + 1) {
            if k > 0 {
                s.push(',');
            }
            base_entry(r, n, &mut s);
        }
        s.push(']');
        // Before the sides (as the node sends it) or after them.
        let at = if r.chance(50) { 1 } else { members.len() };
        members.insert(at, ("base", s));
    } else if r.chance(10) {
        members.push(("base", "null".into()));
    }
    if r.chance(5) {
        members.push(("contract", ["1", "2"][r.below(2)].into()));
    }
    if r.chance(3) {
        members.push(("extra", "1".into()));
    }
    if r.chance(3) {
        members.push(("local", "[]".into()));
    }
    if r.chance(10) {
        // Any order (config after the records is left to the whole parse).
        let a = r.below(members.len());
        let b = r.below(members.len());
        members.swap(a, b);
    }
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}\"{k}\"{}:{}{v}{}", ws(r), ws(r), ws(r), ws(r)))
        .collect();
    format!("{}{{{}}}{}", ws(r), body.join(","), ws(r))
}

fn damage(r: &mut Rng, text: &str) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    if b.is_empty() {
        return b;
    }
    let at = r.below(b.len());
    match r.below(5) {
        0 => b.truncate(at),
        1 => b[at] = [b'}', b']', b',', b'"', b'\\', 0x01, 0xFF, b'x'][r.below(8)],
        2 => {
            b.remove(at);
        }
        3 => b.insert(at, [b',', b'[', b'{', b'1', 0xC3][r.below(5)]),
        _ => b.extend_from_slice(b" x"),
    }
    b
}

fn check(seed: u64, req: &[u8], lazily: &mut usize) {
    let whole = contract::call_parsed(req);
    let got = contract::call(req);
    if got != whole {
        panic!(
            "seed {seed}: call differs from the whole parse\n  request {}\n  whole   {}\n  call    {}",
            String::from_utf8_lossy(req),
            String::from_utf8_lossy(&whole),
            String::from_utf8_lossy(&got)
        );
    }
    assert_eq!(
        contract::call_owned(req.to_vec()),
        whole,
        "seed {seed}: call_owned"
    );
    if lazy::respond(req).is_some() {
        *lazily += 1;
    }
}

#[test]
fn generated_requests_answer_as_the_whole_parse() {
    let mut lazily = 0;
    let n = 4000;
    for seed in 0..n {
        let mut r = Rng(seed);
        let text = request(&mut r);
        check(seed, text.as_bytes(), &mut lazily);
    }
    // The test means something only if the text reader answered most of them itself.
    assert!(
        lazily > n as usize / 2,
        "read from the text: {lazily} of {n}"
    );
}

#[test]
fn damaged_requests_answer_as_the_whole_parse() {
    let mut lazily = 0;
    for seed in 0..3000u64 {
        let mut r = Rng(seed ^ 0xDA3A_6E00);
        let text = request(&mut r);
        let bad = damage(&mut r, &text);
        check(seed, &bad, &mut lazily);
    }
}

#[test]
fn every_classify_vector_is_read_from_its_text() {
    let mut read = 0;
    for v in common::vectors() {
        if v.file != "classify.json" {
            continue;
        }
        let text_answer = lazy::respond(&v.request);
        if let Some(out) = &text_answer {
            assert_eq!(out, &v.response, "{}", v.name);
            read += 1;
        }
    }
    assert!(read >= 15, "classify vectors read from their text: {read}");
}

#[test]
fn the_cli_classify_body_is_read_from_its_text() {
    let body = br#"{"op":"whatever","local":[{"id":1,"a":1}],"remote":[{"id":1,"a":2}]}"#;
    let mut with_op = body.to_vec();
    with_op.splice(7..17, b"\"classify\"".iter().copied());
    assert_eq!(
        lazy::respond_classify(body),
        Some(contract::call_op(Some("classify"), body))
    );
    assert_eq!(
        lazy::respond(body),
        None,
        "an unknown op is the whole parse's to report"
    );
}

#[test]
fn decisions_write_what_their_value_writes() {
    use batch_sync::{canonical, classify, config::SyncConfig, value::Value};
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..3000u64 {
        let mut r = Rng(seed ^ 0x0D3C_1510);
        let text = request(&mut r);
        let Ok((req, _)) = batch_sync::parse::Parser::new(512).parse_lenient(text.as_bytes())
        else {
            continue;
        };
        let Ok(cfg) = SyncConfig::from_value(req.get("config").unwrap_or(&Value::Null)) else {
            continue;
        };
        let side = |k: &str| {
            req.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let (local, remote, base) = (side("local"), side("remote"), side("base"));
        let base = req
            .get("base")
            .and_then(Value::as_array)
            .map(|_| base.as_slice());
        for d in classify::classify(&cfg, &local, &remote, base).decisions() {
            let mut direct = Vec::new();
            d.write(&mut direct);
            assert_eq!(
                String::from_utf8_lossy(&direct),
                canonical::to_string(&d.to_value()),
                "seed {seed}"
            );
            seen.insert(d.kind().as_str());
        }
    }
    // Every kind of decision was written.
    assert!(seen.len() >= 8, "kinds seen: {seen:?}");
}
