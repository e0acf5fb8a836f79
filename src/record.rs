//! One record read under a sync configuration: validation, id, version, timestamps, the common
//! view and its checksum.
//!
//! ```
//! use batch_sync::{config::{Side, SyncConfig}, record, value::Value};
//! let cfg = SyncConfig::default();
//! let a = Value::parse(br#"{"id":1,"lockVersion":3,"subject":"A","n":1.0}"#).unwrap();
//! let b = Value::parse(br#"{"n":1,"subject":"\u0041","lockVersion":4,"id":1}"#).unwrap();
//! let ra = record::inspect(&cfg, Side::Local, &a, None).unwrap();
//! let rb = record::inspect(&cfg, Side::Local, &b, None).unwrap();
//! assert_eq!(ra.checksum(), rb.checksum()); // key order, 1.0 vs 1, escapes, excluded version
//! assert_eq!(ra.id(), "1");
//! ```

use crate::canonical::{self, Sink};
use crate::config::{Selection, Side, SyncConfig};
use crate::error::{Error, ErrorCode};
use crate::mapping::Links;
use crate::pointer::Pointer;
use crate::time::{parse_instant, Instant};
use crate::value::{Map, Value};

/// Largest integer id that survives a round trip through a double (2^53).
pub const MAX_SAFE_ID: f64 = 9_007_199_254_740_992.0;

/// What classification needs to know about a record.
#[derive(Debug, Clone)]
pub struct RecordInfo {
    id: String,
    checksum: String,
    version: Option<f64>,
    updated_at: Option<Instant>,
    deleted: bool,
}

impl RecordInfo {
    /// The id as a match key (integers in decimal).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Lowercase hex SHA-256 of the canonical view.
    pub fn checksum(&self) -> &str {
        &self.checksum
    }
    /// The version (OpenProject `lockVersion`), if present.
    pub fn version(&self) -> Option<f64> {
        self.version
    }
    /// The updated-at instant, if present.
    pub fn updated_at(&self) -> Option<Instant> {
        self.updated_at
    }
    /// True for a tombstone.
    pub fn deleted(&self) -> bool {
        self.deleted
    }
}

/// Reads an id value as a match key: strings as they are, integers up to 2^53 in decimal.
pub fn id_key(v: &Value) -> Result<String, Error> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(s.to_string()),
        Value::Number(n) if n.fract() == 0.0 && n.abs() <= MAX_SAFE_ID => {
            Ok(canonical::to_string(v))
        }
        Value::Number(_) => Err(Error::new(
            ErrorCode::InvalidId,
            "id must be an integer no larger than 2^53",
        )),
        Value::String(_) => Err(Error::new(ErrorCode::InvalidId, "id must not be empty")),
        other => Err(Error::new(
            ErrorCode::InvalidId,
            format!(
                "id must be a string or an integer, got {}",
                other.type_name()
            ),
        )),
    }
}

/// Checks that a record is an object within the depth limit. ([`checksum_of`] checks the
/// depth and the size limit in the same walk that serialises the record.)
pub fn validate(cfg: &SyncConfig, rec: &Value) -> Result<(), Error> {
    check_object(rec)?;
    check_depth(cfg, rec, deeper_than(rec, cfg.limits().max_depth))
}

/// Records are JSON objects.
pub fn check_object(rec: &Value) -> Result<(), Error> {
    if matches!(rec, Value::Object(_)) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::InvalidRecord,
            format!("record must be an object, got {}", rec.type_name()),
        ))
    }
}

fn check_depth(cfg: &SyncConfig, rec: &Value, too_deep_: bool) -> Result<(), Error> {
    let max = cfg.limits().max_depth;
    if too_deep_ {
        let path = too_deep(rec, max).unwrap_or_default();
        return Err(Error::new(
            ErrorCode::DepthExceeded,
            format!("record nests deeper than {max}"),
        )
        .at(path));
    }
    Ok(())
}

/// Checks a value's canonical size against the record limit.
pub fn check_size(cfg: &SyncConfig, size: usize) -> Result<(), Error> {
    let max = cfg.limits().max_record_bytes;
    if size > max {
        return Err(Error::new(
            ErrorCode::TooLarge,
            format!("record view is {size} bytes in canonical form, more than the limit of {max}"),
        ));
    }
    Ok(())
}

fn deeper_than(v: &Value, left: usize) -> bool {
    match v {
        Value::Array(a) => left == 0 || a.iter().any(|x| deeper_than(x, left - 1)),
        Value::Object(m) => left == 0 || m.iter().any(|(_, x)| deeper_than(x, left - 1)),
        _ => false,
    }
}

/// The path of the first value nested deeper than `max`, if any.
fn too_deep(v: &Value, max: usize) -> Option<String> {
    fn walk(v: &Value, left: usize, path: &mut Vec<String>) -> bool {
        let children: Box<dyn Iterator<Item = (String, &Value)>> = match v {
            Value::Array(a) => Box::new(a.iter().enumerate().map(|(i, x)| (i.to_string(), x))),
            Value::Object(m) => {
                Box::new(m.iter().map(|(k, x)| (crate::pointer::escape_token(k), x)))
            }
            _ => return false,
        };
        if left == 0 {
            return true;
        }
        for (t, x) in children {
            path.push(t);
            if walk(x, left - 1, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    walk(v, max, &mut path).then(|| path.iter().map(|t| format!("/{t}")).collect())
}

fn version_of(v: &Value, p: &Pointer) -> Result<Option<f64>, Error> {
    match p.get(v) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(*n)),
        Some(Value::String(s)) if s.parse::<f64>().is_ok_and(f64::is_finite) => {
            Ok(s.parse::<f64>().ok())
        }
        Some(_) => {
            Err(Error::new(ErrorCode::InvalidRecord, "version must be a number").at(p.to_string()))
        }
    }
}

/// Validates a record and reads its id, version, updated-at, tombstone flag and checksum.
pub fn inspect(
    cfg: &SyncConfig,
    side: Side,
    rec: &Value,
    links: Option<&mut Links>,
) -> Result<RecordInfo, Error> {
    check_object(rec)?;
    let mut info = fields(cfg, side, rec)?;
    info.checksum = checksum_of(cfg, side, rec, links)?;
    Ok(info)
}

/// Reads a record's id, version, updated-at and tombstone flag (the checksum is left empty).
/// Only the members the side's fields point at are read, so `rec` may hold just those.
pub(crate) fn fields(cfg: &SyncConfig, side: Side, rec: &Value) -> Result<RecordInfo, Error> {
    let f = cfg.fields(side);
    let id_v = f.id.get(rec).filter(|v| !v.is_null()).ok_or_else(|| {
        Error::new(
            ErrorCode::MissingId,
            format!("no id at {} (set {}_id_field)", f.id, side.as_str()),
        )
        .at(f.id.to_string())
    })?;
    let id = id_key(id_v).map_err(|e| e.at(f.id.to_string()))?;
    let version = match &f.version {
        Some(p) => version_of(rec, p)?,
        None => None,
    };
    let updated_at = match f.updated_at.as_ref().map(|p| (p, p.get(rec))) {
        None | Some((_, None | Some(Value::Null))) => None,
        Some((p, Some(Value::String(s)))) => Some(
            parse_instant(s, cfg.zone())
                .map_err(|e| Error::new(ErrorCode::InvalidTimestamp, e).at(p.to_string()))?,
        ),
        Some((p, Some(other))) => {
            return Err(Error::new(
                ErrorCode::InvalidTimestamp,
                format!(
                    "updated-at must be an RFC 3339 string, got {}",
                    other.type_name()
                ),
            )
            .at(p.to_string()))
        }
    };
    let deleted = f
        .deleted
        .as_ref()
        .and_then(|p| p.get(rec))
        .is_some_and(|v| !matches!(v, Value::Null | Value::Bool(false)));
    Ok(RecordInfo {
        id,
        checksum: String::new(),
        version,
        updated_at,
        deleted,
    })
}

/// The top-level members a side's view leaves out, when the view is exactly the record
/// without them (no mapping, an exclusion list of single members): a record's checksum can
/// then be taken from its text with those members skipped.
pub(crate) fn skipped_members(cfg: &SyncConfig, side: Side) -> Option<Vec<String>> {
    let (None, Selection::Exclude(ps)) = (cfg.mapping(), cfg.selection()) else {
        return None;
    };
    default_exclusions(cfg, side)
        .into_iter()
        .chain(ps)
        .map(|p| single_token(p).map(str::to_owned))
        .collect()
}

impl RecordInfo {
    /// Sets the checksum (of an info read by [`fields`]).
    pub(crate) fn set_checksum(&mut self, checksum: String) {
        self.checksum = checksum;
    }
}

/// The pointers a side's view leaves out when no `include` is given.
fn default_exclusions(cfg: &SyncConfig, side: Side) -> Vec<&Pointer> {
    let f = cfg.fields(side);
    let mut out = vec![&f.id];
    out.extend(f.version.iter());
    out.extend(f.updated_at.iter());
    out.extend(f.deleted.iter());
    out
}

/// The view before the character check of [`view`].
fn project(
    cfg: &SyncConfig,
    side: Side,
    rec: &Value,
    links: Option<&mut Links>,
) -> Result<Value, Error> {
    let (mut v, mapped) = match cfg.mapping() {
        Some(m) => (m.to_common(side, rec, cfg.zone(), links)?, true),
        None => (rec.clone(), false),
    };
    match cfg.selection() {
        Selection::Include(ps) => {
            let mut out = Value::Object(Map::new());
            for p in ps {
                if let Some(x) = p.get(&v) {
                    p.set(&mut out, x.clone())?;
                }
            }
            Ok(out)
        }
        Selection::Exclude(ps) => {
            if !mapped {
                for p in default_exclusions(cfg, side) {
                    p.remove(&mut v);
                }
            }
            for p in ps {
                p.remove(&mut v);
            }
            Ok(v)
        }
    }
}

/// The common view of a record: mapped to the common shape (if a mapping is set), then
/// narrowed to the selection. Checksums and merges work on this view. With
/// `limits.reject_nul`, a view holding U+0000 fails the record, at the field's path in `side`'s
/// shape.
pub fn view(
    cfg: &SyncConfig,
    side: Side,
    rec: &Value,
    links: Option<&mut Links>,
) -> Result<Value, Error> {
    let v = project(cfg, side, rec, links)?;
    if cfg.limits().reject_nul {
        if let Some(at) = nul_path(&v) {
            let path = match cfg.mapping() {
                Some(m) => m.side_path(side, &at),
                None => None,
            }
            .unwrap_or_else(|| crate::pointer::render(&at));
            return Err(nul_error(side, path));
        }
    }
    Ok(v)
}

fn nul_error(side: Side, path: String) -> Error {
    // A key holding the NUL is named with it written out as \u0000: the error itself must be
    // storable where the record could not be.
    let path = path.replace('\0', "\\u0000");
    Error::new(
        ErrorCode::UnsupportedCharacter,
        format!(
            "{} field {path}: the text holds U+0000 (NUL), which the other side cannot store (limits.reject_nul)",
            side.as_str()
        ),
    )
    .at(path)
}

/// The path (tokens) of the first string or key that holds U+0000, if any.
fn nul_path(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) if s.as_str().contains('\0') => Some(Vec::new()),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| {
            nul_path(x).map(|mut p| {
                p.insert(0, i.to_string());
                p
            })
        }),
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            if k.contains('\0') {
                return Some(vec![k.to_string()]);
            }
            nul_path(x).map(|mut p| {
                p.insert(0, k.to_string());
                p
            })
        }),
        _ => None,
    }
}

/// The checksum of a record's view; streams straight into the hasher when the view is the
/// record minus some top-level members.
pub fn checksum_of(
    cfg: &SyncConfig,
    side: Side,
    rec: &Value,
    links: Option<&mut Links>,
) -> Result<String, Error> {
    check_object(rec)?;
    let max = cfg.limits().max_depth;
    if let (None, Selection::Exclude(ps), Value::Object(m)) = (cfg.mapping(), cfg.selection(), rec)
    {
        let skip: Vec<&str> = default_exclusions(cfg, side)
            .into_iter()
            .chain(ps)
            .filter_map(single_token)
            .collect();
        let all_top = default_exclusions(cfg, side).len() + ps.len() == skip.len();
        if all_top && !cfg.limits().reject_nul {
            // One walk serialises, measures depth and size; skipped members are checked apart.
            let (digest, size, depth) = canonical::digest_with(|buf| write_skipping(m, &skip, buf));
            let skipped_too_deep = skip
                .iter()
                .filter_map(|k| m.get(k))
                .any(|v| deeper_than(v, max.saturating_sub(1)));
            check_depth(cfg, rec, depth > max || skipped_too_deep)?;
            check_size(cfg, size)?;
            return Ok(digest);
        }
    }
    check_depth(cfg, rec, deeper_than(rec, max))?;
    let v = view(cfg, side, rec, links)?;
    let (digest, size, _) = canonical::digest_with(|buf| canonical::write(&v, buf));
    check_size(cfg, size)?;
    Ok(digest)
}

fn single_token(p: &Pointer) -> Option<&str> {
    match p.tokens() {
        [t] => Some(t.as_str()),
        _ => None,
    }
}

fn write_skipping<S: Sink>(m: &Map, skip: &[&str], out: &mut S) -> usize {
    out.put(b"{");
    let mut first = true;
    let mut depth = 0;
    for (k, v) in m.iter() {
        if skip.contains(&&**k) {
            continue;
        }
        if !first {
            out.put(b",");
        }
        first = false;
        canonical::write_string(k, out);
        out.put(b":");
        depth = depth.max(canonical::write_measured(v, out));
    }
    out.put(b"}");
    depth + 1
}
