//! The JSON contract (version 1): one request envelope in, one response out, on every host.
//!
//! ```
//! let out = batch_sync::contract::call(br#"{"op":"patch_diff","from":{"a":1},"to":{"a":1,"b":2}}"#);
//! assert_eq!(out, br#"{"contract":1,"ok":true,"op":"patch_diff","patch":{"b":2}}"#);
//! let bad = batch_sync::contract::call(br#"{"op":"nope"}"#);
//! assert!(String::from_utf8(bad).unwrap().starts_with(r#"{"contract":1,"error":{"code":"unknown_op""#));
//! ```
//!
//! Requests are `{"op": ..., "contract": 1?, ...}`; responses are canonical JSON (RFC 8785),
//! `{"ok": true, "contract": 1, "op": ..., ...}` or `{"ok": false, "error": {code, message,
//! path}}`. Per-item errors inside a batch leave the response `ok`. The operations and their
//! members are listed in the README.

use crate::canonical;
use crate::config::{Side, SyncConfig};
use crate::error::{Error, ErrorCode, ItemErrors};
use crate::merge::{merge3, MergeOptions, MergeOutcome};
use crate::parse::{Parser, HARD_MAX_DEPTH};
use crate::patch;
use crate::plan;
use crate::record;
use crate::value::{Map, Value};

/// The contract version.
pub const CONTRACT_VERSION: u32 = 1;

/// Largest request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 512 << 20;

/// The operations.
pub const OPS: &[&str] = &[
    "canonicalize",
    "checksum",
    "classify",
    "merge",
    "patch_diff",
    "patch_apply",
    "plan",
    "retry",
    "version",
];

/// Handles one request given as bytes; always returns a response (never panics).
///
/// A classify request is read from its text where [`crate::lazy`] can (its records are not
/// built into one tree); every other request, and every classify request it leaves, is parsed
/// whole ([`call_parsed`]). Both give the same bytes.
pub fn call(input: &[u8]) -> Vec<u8> {
    crate::lazy::respond(input).unwrap_or_else(|| call_op(None, input))
}

/// [`call`] for a request it may consume: the request's bytes are freed as soon as they are
/// no longer needed (a request parsed whole, once it is parsed), before the response is built.
pub fn call_owned(input: Vec<u8>) -> Vec<u8> {
    if let Some(out) = crate::lazy::respond(&input) {
        return out;
    }
    call_op_owned(None, input)
}

/// [`call`] that always parses the whole request into one tree first (the reading every other
/// path must equal; kept for tests and measurements).
pub fn call_parsed(input: &[u8]) -> Vec<u8> {
    call_op(None, input)
}

/// Like [`call`]; with `op`, the input is the request body without `op` (the CLI's form).
///
/// What canonical JSON cannot represent (duplicate keys, lone surrogates, out-of-range numbers)
/// rejects only the item that holds it when it lies inside an item array (`/local/3/...`,
/// `/records/0/...`); anywhere else it rejects the request.
pub fn call_op(op: Option<&str>, input: &[u8]) -> Vec<u8> {
    match read_request(op, input) {
        Ok((req, items)) => respond_bytes_with(&req, &items),
        Err(e) => canonical::to_vec(&failure(&e)),
    }
}

fn call_op_owned(op: Option<&str>, input: Vec<u8>) -> Vec<u8> {
    let read = read_request(op, &input);
    drop(input);
    match read {
        Ok((req, items)) => respond_bytes_with(&req, &items),
        Err(e) => canonical::to_vec(&failure(&e)),
    }
}

fn read_request(op: Option<&str>, input: &[u8]) -> Result<(Value, ItemErrors), Error> {
    let read = || -> Result<(Value, ItemErrors), Error> {
        check_request_size(input)?;
        // The strict parse is the fast path; only a request that holds something canonical
        // JSON cannot represent is read again, leniently, to find every such item.
        let parser = Parser::new(HARD_MAX_DEPTH);
        let (mut req, soft) = match parser.parse(input) {
            Ok(v) => (v, Vec::new()),
            Err(e) if e.code().is_unrepresentable() => parser.parse_lenient(input)?,
            Err(e) => return Err(e),
        };
        if let Some(op) = op {
            match &mut req {
                Value::Object(m) => {
                    m.insert("op", Value::str(op));
                }
                other => {
                    return Err(req_err(
                        format!("input must be a JSON object, got {}", other.type_name()),
                        "",
                    ))
                }
            }
        }
        let items = item_errors(&req, soft)?;
        Ok((req, items))
    };
    read()
}

/// Assigns representability errors to the items that hold them; one outside every item array
/// of the request's op rejects the request.
fn item_errors(req: &Value, soft: Vec<Error>) -> Result<ItemErrors, Error> {
    let mut items = ItemErrors::default();
    let arrays: &[&str] = match req.get("op").and_then(Value::as_str) {
        Some("classify") => &["local", "remote", "base"],
        Some("checksum") => &["records"],
        Some("merge") => &["items"],
        Some("plan") => &["decisions"],
        _ => &[],
    };
    for e in soft {
        let mut parts = e.path().splitn(4, '/').skip(1);
        let (array, index, rest) = (parts.next(), parts.next(), parts.next());
        let placed = match (array, index.and_then(|i| i.parse::<usize>().ok())) {
            (Some(a), Some(i))
                if arrays.contains(&a)
                    && req
                        .get(a)
                        .and_then(Value::as_array)
                        .is_some_and(|v| i < v.len()) =>
            {
                let rel = rest.map_or(String::new(), |r| format!("/{r}"));
                Some((a, i, Error::new(e.code(), e.message()).at(rel)))
            }
            _ => None,
        };
        match placed {
            Some((a, i, item_err)) => items.insert(a, i, item_err),
            None => return Err(e),
        }
    }
    Ok(items)
}

/// True when response bytes are a failure (`{"contract":1,"error":...,"ok":false}`): no success
/// response has a top-level `error` member, and canonical order puts it right after `contract`.
pub fn is_failure(response: &[u8]) -> bool {
    response.starts_with(br#"{"contract":1,"error":"#)
}

fn check_request_size(input: &[u8]) -> Result<(), Error> {
    if input.len() > MAX_REQUEST_BYTES {
        return Err(Error::new(
            ErrorCode::TooLarge,
            format!(
                "request is {} bytes; the limit is {MAX_REQUEST_BYTES}",
                input.len()
            ),
        ));
    }
    Ok(())
}

/// Parses request bytes (strictly) with the contract's limits.
pub fn parse_request(input: &[u8]) -> Result<Value, Error> {
    check_request_size(input)?;
    Parser::new(HARD_MAX_DEPTH).parse(input)
}

/// Handles a parsed request.
pub fn respond(req: &Value) -> Value {
    respond_with(req, &ItemErrors::default())
}

/// Handles a parsed request whose listed items were rejected while it was read.
pub fn respond_with(req: &Value, items: &ItemErrors) -> Value {
    match handle(req, items) {
        Ok((op, mut m)) => {
            m.insert("ok", Value::Bool(true));
            m.insert("contract", Value::from(CONTRACT_VERSION as usize));
            m.insert("op", Value::str(op));
            Value::Object(m)
        }
        Err(e) => failure(&e),
    }
}

/// The failure response for an error.
pub fn failure(e: &Error) -> Value {
    Value::object([
        ("ok", Value::Bool(false)),
        ("contract", Value::from(CONTRACT_VERSION as usize)),
        ("error", e.to_value()),
    ])
}

fn req_err(msg: impl Into<String>, path: &str) -> Error {
    Error::new(ErrorCode::InvalidRequest, msg).at(path)
}

struct Req<'a> {
    op: &'a str,
    m: &'a Map,
}

impl<'a> Req<'a> {
    fn allow(&self, keys: &[&str]) -> Result<(), Error> {
        let known: Vec<&str> = keys.iter().copied().chain(["op", "contract"]).collect();
        match self.m.key_not_in(&known) {
            Some(k) => Err(req_err(
                format!(
                    "{}: unknown member \"{k}\" (expected {})",
                    self.op,
                    keys.join(", ")
                ),
                &format!("/{k}"),
            )),
            None => Ok(()),
        }
    }
    fn need(&self, k: &str) -> Result<&'a Value, Error> {
        self.m
            .get(k)
            .ok_or_else(|| req_err(format!("{}: missing member \"{k}\"", self.op), ""))
    }
    fn array(&self, k: &str) -> Result<&'a [Value], Error> {
        self.need(k)?.as_array().map(Vec::as_slice).ok_or_else(|| {
            req_err(
                format!("{}: \"{k}\" must be an array", self.op),
                &format!("/{k}"),
            )
        })
    }
    fn opt_array(&self, k: &str) -> Result<Option<&'a [Value]>, Error> {
        match self.m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.array(k).map(Some),
        }
    }
    fn config(&self) -> Result<SyncConfig, Error> {
        SyncConfig::from_value(self.m.get("config").unwrap_or(&Value::Null))
            .map_err(|e| e.within("/config").context(self.op))
    }
    fn batch_limit(&self, cfg: &SyncConfig, k: &str, n: usize) -> Result<(), Error> {
        let max = cfg.limits().max_batch;
        if n > max {
            return Err(Error::new(
                ErrorCode::TooLarge,
                format!(
                    "{}: {n} items in \"{k}\", more than limits.max_batch = {max}",
                    self.op
                ),
            )
            .at(format!("/{k}")));
        }
        Ok(())
    }
}

/// Checks the envelope (object, contract version, known op).
fn envelope(req: &Value) -> Result<Req<'_>, Error> {
    let m = req
        .as_object()
        .ok_or_else(|| req_err("request must be an object {\"op\": ...}", ""))?;
    match m.get("contract") {
        None => {}
        Some(Value::Number(n)) if *n == f64::from(CONTRACT_VERSION) => {}
        Some(_) => {
            return Err(Error::new(
                ErrorCode::UnsupportedVersion,
                format!("this build speaks contract {CONTRACT_VERSION}"),
            )
            .at("/contract"))
        }
    }
    let op = m
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| req_err("request has no \"op\" string", "/op"))?;
    let op = OPS.iter().find(|o| **o == op).copied().ok_or_else(|| {
        Error::new(
            ErrorCode::UnknownOp,
            format!("unknown op \"{op}\" (expected one of {})", OPS.join(", ")),
        )
        .at("/op")
    })?;
    Ok(Req { op, m })
}

type ClassifyArgs<'a> = (SyncConfig, &'a [Value], &'a [Value], Option<&'a [Value]>);

fn classify_args<'a>(r: &Req<'a>) -> Result<ClassifyArgs<'a>, Error> {
    r.allow(&["local", "remote", "base", "config"])?;
    let cfg = r.config()?;
    let (local, remote, base) = (r.array("local")?, r.array("remote")?, r.opt_array("base")?);
    for (k, n) in [
        ("local", local.len()),
        ("remote", remote.len()),
        ("base", base.map_or(0, <[Value]>::len)),
    ] {
        r.batch_limit(&cfg, k, n)?;
    }
    Ok((cfg, local, remote, base))
}

/// Handles a parsed request and returns the canonical response bytes. Classification streams:
/// each decision is serialised as soon as it is made, so they are never all held at once.
pub fn respond_bytes(req: &Value) -> Vec<u8> {
    respond_bytes_with(req, &ItemErrors::default())
}

/// [`respond_bytes`] for a request whose listed items were rejected while it was read.
pub fn respond_bytes_with(req: &Value, items: &ItemErrors) -> Vec<u8> {
    let streamed = envelope(req).and_then(|r| match r.op {
        "classify" => classify_args(&r).map(Some),
        _ => Ok(None),
    });
    match streamed {
        Ok(Some((cfg, local, remote, base))) => {
            classify_response(local.len().max(remote.len()), 0, |emit| {
                crate::classify::classify_each_with(&cfg, local, remote, base, items, emit)
            })
        }
        Ok(None) => canonical::to_vec(&respond_with(req, items)),
        Err(e) => canonical::to_vec(&failure(&e)),
    }
}

/// The classify response, its decisions serialised one by one as `run` hands them to `emit`
/// (so they are never all held at once); `n` is about how many there will be, `request` the
/// request's size in bytes.
pub(crate) fn classify_response(
    n: usize,
    request: usize,
    run: impl FnOnce(&mut dyn FnMut(crate::decision::Decision)) -> crate::classify::Tally,
) -> Vec<u8> {
    // A response is 15-30% of its request (more with many writes); unchanged decisions take
    // ~150-300 bytes. A guess that is too small costs a reallocation at twice the size, and
    // both buffers at once.
    let mut out = Vec::with_capacity(64 + (320 * n).max(request / 4));
    out.extend_from_slice(b"{\"contract\":1,\"decisions\":[");
    let mut first = true;
    let tally = run(&mut |d| {
        if !first {
            out.push(b',');
        }
        first = false;
        d.write(&mut out);
    });
    out.extend_from_slice(b"],\"ok\":true,\"op\":\"classify\",\"summary\":");
    canonical::write(&tally.summary(), &mut out);
    out.push(b'}');
    out
}

fn handle<'r>(req: &'r Value, rejected: &ItemErrors) -> Result<(&'r str, Map), Error> {
    let r = envelope(req)?;
    let op = r.op;
    let mut out = Map::new();
    match op {
        "version" => {
            r.allow(&[])?;
            out.insert("version", Value::str(env!("CARGO_PKG_VERSION")));
            out.insert(
                "ops",
                Value::Array(OPS.iter().map(|o| Value::str(*o)).collect()),
            );
        }
        "canonicalize" => {
            r.allow(&["value"])?;
            out.insert(
                "canonical",
                Value::from(canonical::to_string(r.need("value")?)),
            );
        }
        "patch_diff" => {
            r.allow(&["from", "to"])?;
            out.insert("patch", patch::diff(r.need("from")?, r.need("to")?));
        }
        "patch_apply" => {
            r.allow(&["target", "patch"])?;
            out.insert("result", patch::apply(r.need("target")?, r.need("patch")?));
        }
        "checksum" => {
            r.allow(&["records", "side", "config"])?;
            let cfg = r.config()?;
            let side = side_of(&r)?;
            let recs = r.array("records")?;
            r.batch_limit(&cfg, "records", recs.len())?;
            let items = recs
                .iter()
                .enumerate()
                .map(|(i, rec)| checksum_item(&cfg, side, i, rec, rejected.get("records", i)))
                .collect();
            out.insert("items", Value::Array(items));
        }
        "classify" => {
            let (cfg, local, remote, base) = classify_args(&r)?;
            let mut decisions = Vec::new();
            let tally =
                crate::classify::classify_each_with(&cfg, local, remote, base, rejected, |d| {
                    decisions.push(d.to_value())
                });
            out.insert("summary", tally.summary());
            out.insert("decisions", Value::Array(decisions));
        }
        "merge" => {
            r.allow(&["base", "local", "remote", "items", "config"])?;
            let cfg = r.config()?;
            if let Some(items) = r.opt_array("items")? {
                if ["base", "local", "remote"]
                    .iter()
                    .any(|k| r.m.get(k).is_some())
                {
                    return Err(req_err(
                        "merge: give items or base/local/remote, not both",
                        "/items",
                    ));
                }
                r.batch_limit(&cfg, "items", items.len())?;
                let res = items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| {
                        let checked = match rejected.get("items", i) {
                            Some(e) => Err(e.clone()),
                            None => merge_item(&cfg, it),
                        };
                        let mut m = match checked {
                            Ok(m) => m,
                            Err(e) => {
                                let e = e
                                    .within(&format!("/items/{i}"))
                                    .context(&format!("merge: items[{i}]"));
                                Map::from_entries(vec![("error".into(), e.to_value())])
                                    .unwrap_or_default()
                            }
                        };
                        m.insert("index", Value::from(i));
                        Value::Object(m)
                    })
                    .collect();
                out.insert("items", Value::Array(res));
            } else {
                let m = merge_item(&cfg, req).map_err(|e| e.context("merge"))?;
                for (k, v) in m.iter() {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        "plan" => {
            r.allow(&["decisions", "config"])?;
            let cfg = r.config()?;
            let decisions = r.array("decisions")?;
            r.batch_limit(&cfg, "decisions", decisions.len())?;
            if let Value::Object(pm) = plan::plan(&cfg, decisions, rejected) {
                out = pm;
            }
        }
        "retry" => {
            r.allow(&["key", "attempt", "config"])?;
            let cfg = r.config()?;
            let key = r
                .need("key")?
                .as_str()
                .ok_or_else(|| req_err("retry: key must be a string", "/key"))?;
            let attempt = match r.need("attempt")? {
                Value::Number(n) if n.fract() == 0.0 && *n >= 1.0 && *n <= 1000.0 => *n as u32,
                _ => {
                    return Err(req_err(
                        "retry: attempt must be an integer from 1 to 1000",
                        "/attempt",
                    ))
                }
            };
            out.insert("attempt", Value::from(attempt as usize));
            match plan::retry_delay(cfg.retry(), key, attempt) {
                Some(d) => {
                    out.insert("delay_ms", Value::from(d));
                    out.insert("dead_letter", Value::Bool(false));
                }
                None => {
                    out.insert("dead_letter", Value::Bool(true));
                }
            }
        }
        _ => {
            return Err(Error::new(
                ErrorCode::UnknownOp,
                format!("op \"{op}\" is not implemented"),
            )
            .at("/op"))
        }
    }
    Ok((op, out))
}

fn side_of(r: &Req<'_>) -> Result<Side, Error> {
    match r.m.get("side").map(Value::as_str) {
        None | Some(Some("local")) => Ok(Side::Local),
        Some(Some("remote")) => Ok(Side::Remote),
        _ => Err(req_err(
            "checksum: side must be \"local\" or \"remote\"",
            "/side",
        )),
    }
}

fn checksum_item(
    cfg: &SyncConfig,
    side: Side,
    i: usize,
    rec: &Value,
    rejected: Option<&Error>,
) -> Value {
    let mut m = Map::new();
    m.insert("index", Value::from(i));
    if let Some(id) = cfg
        .fields(side)
        .id
        .get(rec)
        .and_then(|v| record::id_key(v).ok())
    {
        m.insert("id", Value::from(id));
    }
    let checked = match rejected {
        Some(e) => Err(e.clone()),
        None => record::checksum_of(cfg, side, rec, None),
    };
    match checked {
        Ok(c) => {
            m.insert("checksum", Value::from(c));
        }
        Err(e) => {
            let e = e
                .within(&format!("/records/{i}"))
                .context(&format!("checksum: records[{i}]"));
            m.insert("error", e.to_value());
        }
    }
    Value::Object(m)
}

/// Merges one `{base, local, remote}`: local and remote are records (mapped and narrowed to
/// their common view), base is a common view (as stored from a previous `target.record`).
fn merge_item(cfg: &SyncConfig, it: &Value) -> Result<Map, Error> {
    let m = it
        .as_object()
        .ok_or_else(|| req_err("item must be an object {base, local, remote}", ""))?;
    let mut links = crate::mapping::Links::default();
    let mut side = |k: &str, s: Side| -> Result<Option<(Value, record::RecordInfo)>, Error> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(rec) => {
                let info = inspect_loose(cfg, s, rec).map_err(|e| e.within(&format!("/{k}")))?;
                let learn = (s == Side::Remote).then_some(&mut links);
                let view =
                    record::view(cfg, s, rec, learn).map_err(|e| e.within(&format!("/{k}")))?;
                Ok(Some((view, info)))
            }
        }
    };
    let remote = side("remote", Side::Remote)?;
    let local = side("local", Side::Local)?;
    let base = match m.get("base") {
        None | Some(Value::Null) => None,
        Some(b) => {
            record::validate(cfg, b).map_err(|e| e.within("/base"))?;
            record::check_size(cfg, canonical::len(b)).map_err(|e| e.within("/base"))?;
            Some(b)
        }
    };
    let newer = newer_side(local.as_ref().map(|x| &x.1), remote.as_ref().map(|x| &x.1));
    let opts = MergeOptions::new(cfg.strategies())
        .arrays(cfg.arrays())
        .newer(newer);
    let out: MergeOutcome = merge3(
        base,
        local.as_ref().map(|x| &x.0),
        remote.as_ref().map(|x| &x.0),
        &opts,
    );
    let mut res = Map::new();
    let status = if out.conflicts().is_empty() {
        "clean"
    } else if out.is_unresolved() {
        "unresolved"
    } else {
        "resolved"
    };
    res.insert("status", Value::str(status));
    res.insert(
        "conflicts",
        Value::Array(out.conflicts().iter().map(|c| c.to_value()).collect()),
    );
    let mut merged = out.merged().cloned();
    if let (Some(m), Some(mp)) = (&mut merged, cfg.mapping()) {
        mp.complete(m)?;
    }
    res.insert("merged", merged.clone().unwrap_or(Value::Null));
    if let Some(merged) = &merged {
        res.insert("checksum", Value::from(canonical::sha256_hex(merged)));
        // Paths left for a person keep each side's own value in its patch.
        let held: Vec<String> = out
            .conflicts()
            .iter()
            .filter(|c| c.resolution() == crate::merge::Resolution::Unresolved)
            .map(|c| c.path().to_owned())
            .collect();
        let mut patches = Map::new();
        for (s, x) in [(Side::Local, &local), (Side::Remote, &remote)] {
            let Some((view, info)) = x else { continue };
            let mut p = crate::classify::side_patch(cfg, s, &links, view, merged, &held)?;
            if s == Side::Remote && !patch::is_noop(&p) {
                if let (Some(vf), Some(v)) = (&cfg.fields(Side::Remote).version, info.version()) {
                    vf.set(&mut p, Value::Number(v))?;
                }
            }
            patches.insert(s.as_str(), p);
        }
        res.insert("patches", Value::Object(patches));
    }
    Ok(res)
}

/// Like [`record::inspect`], but a merge item does not need an id.
fn inspect_loose(cfg: &SyncConfig, side: Side, rec: &Value) -> Result<record::RecordInfo, Error> {
    match record::inspect(cfg, side, rec, None) {
        Err(e) if matches!(e.code(), ErrorCode::MissingId) => {
            let mut with_id = rec.clone();
            cfg.fields(side).id.set(&mut with_id, Value::str("-"))?;
            record::inspect(cfg, side, &with_id, None)
        }
        other => other,
    }
}

fn newer_side(l: Option<&record::RecordInfo>, r: Option<&record::RecordInfo>) -> Side {
    crate::classify::newer(l, r)
}
