//! Sync configuration: fields, selection, mapping, mode, strategies, time zone and limits.
//!
//! ```
//! use batch_sync::{config::SyncConfig, value::Value};
//! let cfg = SyncConfig::from_value(&Value::parse(br#"{"strategy":{"default":"server_wins","fields":{"/description":"newest_wins"}}}"#).unwrap()).unwrap();
//! assert_eq!(cfg.strategies().at("/description/raw").as_str(), "newest_wins");
//! assert_eq!(cfg.strategies().at("/subject").as_str(), "server_wins");
//! ```
//!
//! Unknown keys are rejected, so that a typo (`"stratgy"`) fails loudly instead of being ignored.

use crate::error::{Error, ErrorCode};
use crate::mapping::Mapping;
use crate::pointer::Pointer;
use crate::time::Zone;
use crate::value::{Map, Value};

/// Which system a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The application database (FLRTS tasks).
    Local,
    /// OpenProject.
    Remote,
}

impl Side {
    /// `local` / `remote`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Local => "local",
            Side::Remote => "remote",
        }
    }
}

/// How absence and differences are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the records given are considered; absence means "not in this batch".
    Incremental,
    /// The records given are complete; absence means deletion when `delete_missing` is set.
    Full,
    /// Every difference is reported; no action is decided.
    Reconciliation,
}

/// How a conflict at a path is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The remote (OpenProject) value wins.
    ServerWins,
    /// The local (FLRTS) value wins.
    ClientWins,
    /// The side with the later updated-at instant wins (ties: higher version, then remote).
    NewestWins,
    /// The conflict stays for a person.
    Manual,
    /// Field-level three-way merge; conflicting fields stay for a person.
    Merge,
}

impl Strategy {
    pub(crate) fn parse(s: &str) -> Option<Strategy> {
        Some(match s {
            "server_wins" => Strategy::ServerWins,
            "client_wins" => Strategy::ClientWins,
            "newest_wins" => Strategy::NewestWins,
            "manual" => Strategy::Manual,
            "merge" => Strategy::Merge,
            _ => return None,
        })
    }

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::ServerWins => "server_wins",
            Strategy::ClientWins => "client_wins",
            Strategy::NewestWins => "newest_wins",
            Strategy::Manual => "manual",
            Strategy::Merge => "merge",
        }
    }
}

/// A default strategy with per-path overrides (the longest matching prefix wins).
#[derive(Debug, Clone, PartialEq)]
pub struct Strategies {
    default: Strategy,
    fields: Vec<(Pointer, Strategy)>,
}

impl Strategies {
    /// Only a default.
    pub fn new(default: Strategy) -> Self {
        Strategies {
            default,
            fields: Vec::new(),
        }
    }

    /// The default strategy.
    pub fn default_strategy(&self) -> Strategy {
        self.default
    }

    /// Per-path overrides.
    pub fn fields(&self) -> &[(Pointer, Strategy)] {
        &self.fields
    }

    /// The strategy for a path given as a JSON Pointer string.
    pub fn at(&self, path: &str) -> Strategy {
        match Pointer::parse(path) {
            Ok(p) => self.at_pointer(&p),
            Err(_) => self.default,
        }
    }

    /// The strategy for a path.
    pub fn at_pointer(&self, path: &Pointer) -> Strategy {
        self.at_tokens(path.tokens())
    }

    /// The strategy for a path given as reference tokens.
    pub fn at_tokens(&self, tokens: &[String]) -> Strategy {
        self.fields
            .iter()
            .filter(|(p, _)| tokens.starts_with(p.tokens()))
            .max_by_key(|(p, _)| p.tokens().len())
            .map_or(self.default, |(_, s)| *s)
    }
}

/// Size and depth limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Deepest nesting of a record (default 64, at most 500).
    pub max_depth: usize,
    /// Largest record, in canonical bytes (default 1 MiB).
    pub max_record_bytes: usize,
    /// Most records per side in one request (default 1,000,000).
    pub max_batch: usize,
    /// A record whose view holds U+0000 in a string (or a key) is invalid (default false). For
    /// a side stored in PostgreSQL, whose text and jsonb cannot hold it.
    pub reject_nul: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_record_bytes: 1 << 20,
            max_batch: 1_000_000,
            reject_nul: false,
        }
    }
}

/// Which fields a checksum covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Only these pointers.
    Include(Vec<Pointer>),
    /// All but these pointers (added to the side's id, version and updated-at fields).
    Exclude(Vec<Pointer>),
}

/// Per-side field locations.
#[derive(Debug, Clone, PartialEq)]
pub struct SideFields {
    /// The id (match) field.
    pub id: Pointer,
    /// The version field (OpenProject `lockVersion`).
    pub version: Option<Pointer>,
    /// The updated-at field.
    pub updated_at: Option<Pointer>,
    /// A tombstone field: a record where it is present and not `null`/`false` is deleted.
    pub deleted: Option<Pointer>,
}

/// Retry schedule settings for failed rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// First delay ceiling in milliseconds (default 1000).
    pub base_ms: u64,
    /// Largest delay ceiling in milliseconds (default 300,000).
    pub cap_ms: u64,
    /// Attempts before dead-letter (default 3).
    pub max_retries: u32,
    /// Jitter seed (default 0).
    pub seed: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            base_ms: 1000,
            cap_ms: 300_000,
            max_retries: 3,
            seed: 0,
        }
    }
}

/// The whole sync configuration.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    local: SideFields,
    remote: SideFields,
    selection: Selection,
    mapping: Option<Mapping>,
    mode: Mode,
    delete_missing: bool,
    seed_base: bool,
    lean_unchanged: bool,
    strategies: Strategies,
    zone: Zone,
    arrays: Vec<(Pointer, String)>,
    limits: Limits,
    batch_size: usize,
    retry: RetryConfig,
}

impl Default for SyncConfig {
    fn default() -> Self {
        let fields = SideFields {
            id: Pointer::field("id").unwrap_or_else(|_| Pointer::root()),
            version: Pointer::field("lockVersion").ok(),
            updated_at: Pointer::field("updatedAt").ok(),
            deleted: None,
        };
        SyncConfig {
            local: fields.clone(),
            remote: fields,
            selection: Selection::Exclude(Vec::new()),
            mapping: None,
            mode: Mode::Incremental,
            delete_missing: false,
            seed_base: true,
            lean_unchanged: false,
            strategies: Strategies::new(Strategy::Merge),
            zone: Zone::Utc,
            arrays: Vec::new(),
            limits: Limits::default(),
            batch_size: 50,
            retry: RetryConfig::default(),
        }
    }
}

const KEYS: &[&str] = &[
    "id_field",
    "local_id_field",
    "remote_id_field",
    "version_field",
    "local_version_field",
    "remote_version_field",
    "updated_at_field",
    "local_updated_at_field",
    "remote_updated_at_field",
    "deleted_field",
    "local_deleted_field",
    "remote_deleted_field",
    "include",
    "exclude",
    "mapping",
    "mode",
    "delete_missing",
    "seed_base",
    "lean_unchanged",
    "strategy",
    "time_zone",
    "arrays",
    "limits",
    "batch_size",
    "retry",
];

fn bad(key: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::InvalidConfig, format!("config.{key}: {msg}")).at(format!("/{key}"))
}

fn string_or_null<'a>(m: &'a Map, key: &str) -> Result<Option<Option<&'a str>>, Error> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s))),
        Some(v) => Err(bad(
            key,
            format!("expected a string or null, got {}", v.type_name()),
        )),
    }
}

fn pointer_list(m: &Map, key: &str) -> Result<Option<Vec<Pointer>>, Error> {
    let Some(v) = m.get(key) else { return Ok(None) };
    let arr = v
        .as_array()
        .ok_or_else(|| bad(key, "expected an array of JSON Pointers"))?;
    arr.iter()
        .enumerate()
        .map(|(i, p)| {
            let s = p
                .as_str()
                .ok_or_else(|| bad(key, "expected JSON Pointer strings"))?;
            Pointer::parse(s).map_err(|e| bad(key, e.message()).at(format!("/{key}/{i}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn uint(m: &Map, key: &str, min: u64, max: u64) -> Result<Option<u64>, Error> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) if n.fract() == 0.0 && *n >= min as f64 && *n <= max as f64 => {
            Ok(Some(*n as u64))
        }
        Some(_) => Err(bad(key, format!("expected an integer from {min} to {max}"))),
    }
}

impl SyncConfig {
    /// Reads a configuration object (`null` or absent means all defaults).
    pub fn from_value(v: &Value) -> Result<SyncConfig, Error> {
        let mut cfg = SyncConfig::default();
        let m = match v {
            Value::Null => return Ok(cfg),
            Value::Object(m) => m,
            _ => {
                return Err(Error::new(
                    ErrorCode::InvalidConfig,
                    "config must be an object",
                ))
            }
        };
        if let Some(k) = m.key_not_in(KEYS) {
            return Err(bad(
                k,
                format!("unknown key (known keys: {})", KEYS.join(", ")),
            ));
        }
        cfg.local = side_fields(m, "local", &cfg.local)?;
        cfg.remote = side_fields(m, "remote", &cfg.remote)?;
        let include = pointer_list(m, "include")?;
        let exclude = pointer_list(m, "exclude")?;
        cfg.selection = match (include, exclude) {
            (Some(_), Some(_)) => return Err(bad("include", "give include or exclude, not both")),
            (Some(i), None) => Selection::Include(i),
            (None, e) => Selection::Exclude(e.unwrap_or_default()),
        };
        if let Some(mv) = m.get("mapping") {
            cfg.mapping = Some(Mapping::from_value(mv).map_err(|e| e.within("/mapping"))?);
        }
        if let Some(mode) = string_or_null(m, "mode")?.flatten() {
            cfg.mode = match mode {
                "incremental" => Mode::Incremental,
                "full" => Mode::Full,
                "reconciliation" => Mode::Reconciliation,
                _ => return Err(bad("mode", "expected incremental, full or reconciliation")),
            };
        }
        match m.get("delete_missing") {
            None => {}
            Some(Value::Bool(b)) => cfg.delete_missing = *b,
            Some(_) => return Err(bad("delete_missing", "expected a boolean")),
        }
        match m.get("seed_base") {
            None => {}
            Some(Value::Bool(b)) => cfg.seed_base = *b,
            Some(_) => return Err(bad("seed_base", "expected a boolean")),
        }
        match m.get("lean_unchanged") {
            None => {}
            Some(Value::Bool(b)) => cfg.lean_unchanged = *b,
            Some(_) => return Err(bad("lean_unchanged", "expected a boolean")),
        }
        if cfg.delete_missing && cfg.mode != Mode::Full {
            return Err(bad("delete_missing", "only allowed with mode \"full\""));
        }
        if let Some(s) = m.get("strategy") {
            cfg.strategies = strategies(s)?;
        }
        if let Some(z) = string_or_null(m, "time_zone")?.flatten() {
            cfg.zone = Zone::parse(z).map_err(|e| bad("time_zone", e))?;
        }
        if let Some(a) = m.get("arrays") {
            let am = a
                .as_object()
                .ok_or_else(|| bad("arrays", "expected an object of pointer -> key field"))?;
            for (p, key) in am.iter() {
                let ptr = Pointer::parse(p).map_err(|e| bad("arrays", e.message()))?;
                let key = match key {
                    Value::String(s) => s.clone(),
                    Value::Object(o) => match o.get("key") {
                        Some(Value::String(s)) => s.clone(),
                        _ => return Err(bad("arrays", "expected {\"key\": \"<field>\"}")),
                    },
                    _ => return Err(bad("arrays", "expected a key field name")),
                };
                cfg.arrays.push((ptr, key.to_string()));
            }
        }
        if let Some(l) = m.get("limits") {
            let lm = l
                .as_object()
                .ok_or_else(|| bad("limits", "expected an object"))?;
            if let Some(k) =
                lm.key_not_in(&["max_depth", "max_record_bytes", "max_batch", "reject_nul"])
            {
                return Err(bad("limits", format!("unknown key \"{k}\"")));
            }
            let e = |x: Error| x.within("/limits");
            if let Some(d) = uint(lm, "max_depth", 1, 500).map_err(e)? {
                cfg.limits.max_depth = d as usize;
            }
            if let Some(d) = uint(lm, "max_record_bytes", 2, 1 << 32).map_err(e)? {
                cfg.limits.max_record_bytes = d as usize;
            }
            if let Some(d) = uint(lm, "max_batch", 1, 100_000_000).map_err(e)? {
                cfg.limits.max_batch = d as usize;
            }
            match lm.get("reject_nul") {
                None => {}
                Some(Value::Bool(b)) => cfg.limits.reject_nul = *b,
                Some(_) => {
                    return Err(bad("limits", "reject_nul: expected true or false")
                        .at("/limits/reject_nul"))
                }
            }
        }
        if let Some(b) = uint(m, "batch_size", 1, 100_000)? {
            cfg.batch_size = b as usize;
        }
        if let Some(r) = m.get("retry") {
            let rm = r
                .as_object()
                .ok_or_else(|| bad("retry", "expected an object"))?;
            if let Some(k) = rm.key_not_in(&["base_ms", "cap_ms", "max_retries", "seed"]) {
                return Err(bad("retry", format!("unknown key \"{k}\"")));
            }
            let e = |x: Error| x.within("/retry");
            let max_ms = 1u64 << 40;
            if let Some(x) = uint(rm, "base_ms", 1, max_ms).map_err(e)? {
                cfg.retry.base_ms = x;
            }
            if let Some(x) = uint(rm, "cap_ms", 1, max_ms).map_err(e)? {
                cfg.retry.cap_ms = x;
            }
            if let Some(x) = uint(rm, "max_retries", 0, 100).map_err(e)? {
                cfg.retry.max_retries = x as u32;
            }
            if let Some(x) = uint(rm, "seed", 0, (1u64 << 53) - 1).map_err(e)? {
                cfg.retry.seed = x;
            }
        }
        Ok(cfg)
    }

    /// Field locations for a side.
    pub fn fields(&self, side: Side) -> &SideFields {
        match side {
            Side::Local => &self.local,
            Side::Remote => &self.remote,
        }
    }
    /// Checksum field selection.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }
    /// The field mapping, if any.
    pub fn mapping(&self) -> Option<&Mapping> {
        self.mapping.as_ref()
    }
    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }
    /// Whether absence means deletion (full mode only).
    pub fn delete_missing(&self) -> bool {
        self.delete_missing
    }
    /// Whether an unchanged pair without a base carries its target record (the base to store,
    /// "seeding" it); without, such a pair is only named unchanged, and no view of it is built.
    pub fn seed_base(&self) -> bool {
        self.seed_base
    }

    /// Whether `unchanged` decisions leave out checksums (their sides' and their base's): they
    /// carry the id, the sides' indexes, versions and actions, the base's index and version,
    /// and the target. A pair whose two records are the same text then needs no checksum at
    /// all (default false).
    pub fn lean_unchanged(&self) -> bool {
        self.lean_unchanged
    }

    /// Conflict strategies.
    pub fn strategies(&self) -> &Strategies {
        &self.strategies
    }
    /// Zone for naive timestamps.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }
    /// Keyed arrays: pointer (in the common shape) and key field.
    pub fn arrays(&self) -> &[(Pointer, String)] {
        &self.arrays
    }
    /// Limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    /// Staging batch size (default 50).
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// Retry schedule settings.
    pub fn retry(&self) -> &RetryConfig {
        &self.retry
    }
}

fn side_fields(m: &Map, side: &str, defaults: &SideFields) -> Result<SideFields, Error> {
    let pick = |name: &str| -> Result<Option<Option<Pointer>>, Error> {
        let own = format!("{side}_{name}");
        let found = match string_or_null(m, &own)? {
            Some(x) => Some((own, x)),
            None => string_or_null(m, name)?.map(|x| (name.to_owned(), x)),
        };
        match found {
            None => Ok(None),
            Some((_, None)) => Ok(Some(None)),
            Some((key, Some(s))) => Pointer::field(s)
                .map(|p| Some(Some(p)))
                .map_err(|e| bad(&key, e.message())),
        }
    };
    let id = match pick("id_field")? {
        None => defaults.id.clone(),
        Some(Some(p)) if !p.is_root() => p,
        Some(_) => {
            return Err(bad(
                &format!("{side}_id_field"),
                "the id field cannot be null or empty",
            ))
        }
    };
    Ok(SideFields {
        id,
        version: pick("version_field")?.unwrap_or_else(|| defaults.version.clone()),
        updated_at: pick("updated_at_field")?.unwrap_or_else(|| defaults.updated_at.clone()),
        deleted: pick("deleted_field")?.unwrap_or_else(|| defaults.deleted.clone()),
    })
}

fn strategies(v: &Value) -> Result<Strategies, Error> {
    let parse = |s: &Value, at: &str| {
        s.as_str().and_then(Strategy::parse).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidConfig,
                "config.strategy: expected server_wins, client_wins, newest_wins, manual or merge",
            )
            .at(format!("/strategy{at}"))
        })
    };
    match v {
        Value::String(_) => Ok(Strategies::new(parse(v, "")?)),
        Value::Object(m) => {
            if let Some(k) = m.key_not_in(&["default", "fields"]) {
                return Err(bad(
                    "strategy",
                    format!("unknown key \"{k}\" (expected default, fields)"),
                ));
            }
            let default = match m.get("default") {
                Some(d) => parse(d, "/default")?,
                None => Strategy::Merge,
            };
            let mut fields = Vec::new();
            if let Some(f) = m.get("fields") {
                let fm = f.as_object().ok_or_else(|| {
                    bad("strategy", "fields must map JSON Pointers to strategies")
                })?;
                for (p, s) in fm.iter() {
                    let at = format!("/fields/{}", crate::pointer::escape_token(p));
                    let ptr = Pointer::parse(p)
                        .map_err(|e| bad("strategy", e.message()).at(format!("/strategy{at}")))?;
                    fields.push((ptr, parse(s, &at)?));
                }
            }
            Ok(Strategies { default, fields })
        }
        _ => Err(bad(
            "strategy",
            "expected a strategy name or {default, fields}",
        )),
    }
}
