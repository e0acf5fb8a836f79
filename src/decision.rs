//! The decision, the central object of the contract: classify's answer for one id (or for one
//! rejected record), and the plan row that `plan` builds from it. This module is the single
//! source of their schema: classify builds [`Decision`]s, `plan` reads them back with
//! [`Decision::from_value`] and emits [`PlanRow`]s, and [`SCHEMA`] describes both for the hosts
//! (the TypeScript types of the n8n node are generated from it, and a test checks that every
//! decision and row in the golden vectors fits it).
//!
//! ```
//! use batch_sync::{decision::Decision, value::Value};
//! let v = Value::parse(br#"{"id":"7","decision":"update_remote","local":{"action":"none","index":0},
//!   "remote":{"action":"update","index":0,"version":3,"patch":{"s":2,"lockVersion":3}},
//!   "target":{"action":"upsert","checksum":"00","record":{"s":2}}}"#).unwrap();
//! let d = Decision::from_value(&v).unwrap();
//! assert_eq!(batch_sync::canonical::to_string(&d.to_value()), batch_sync::canonical::to_string(&v));
//! ```

use crate::canonical;
use crate::config::Strategy;
use crate::error::{Error, ErrorCode};
use crate::value::{Map, Value};

/// The decision kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// Nothing to do.
    Unchanged,
    /// Create on OpenProject.
    CreateRemote,
    /// Create in the local database.
    CreateLocal,
    /// Update OpenProject.
    UpdateRemote,
    /// Update the local database.
    UpdateLocal,
    /// Both sides changed to the same content.
    Converged,
    /// Delete on OpenProject.
    DeleteRemote,
    /// Delete in the local database.
    DeleteLocal,
    /// A conflict (typed), resolved by strategy or left for a person.
    Conflict,
    /// The record was rejected.
    Invalid,
}

impl Kind {
    /// All kinds, in summary order.
    pub const ALL: [Kind; 10] = [
        Kind::Unchanged,
        Kind::CreateRemote,
        Kind::CreateLocal,
        Kind::UpdateRemote,
        Kind::UpdateLocal,
        Kind::Converged,
        Kind::DeleteRemote,
        Kind::DeleteLocal,
        Kind::Conflict,
        Kind::Invalid,
    ];

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unchanged => "unchanged",
            Kind::CreateRemote => "create_remote",
            Kind::CreateLocal => "create_local",
            Kind::UpdateRemote => "update_remote",
            Kind::UpdateLocal => "update_local",
            Kind::Converged => "converged",
            Kind::DeleteRemote => "delete_remote",
            Kind::DeleteLocal => "delete_local",
            Kind::Conflict => "conflict",
            Kind::Invalid => "invalid",
        }
    }

    /// The kind of a contract name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Conflict types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictType {
    /// Both sides changed since the base (or, without a base, at the same version).
    ConcurrentModification,
    /// One side modified what the other deleted.
    ModifyDelete,
    /// No base; local has the lower version (or the earlier timestamp).
    LocalBehind,
    /// No base; remote has the lower version (or the earlier timestamp).
    RemoteBehind,
}

impl ConflictType {
    const ALL: [ConflictType; 4] = [
        ConflictType::ConcurrentModification,
        ConflictType::ModifyDelete,
        ConflictType::LocalBehind,
        ConflictType::RemoteBehind,
    ];

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictType::ConcurrentModification => "concurrent_modification",
            ConflictType::ModifyDelete => "modify_delete",
            ConflictType::LocalBehind => "local_behind",
            ConflictType::RemoteBehind => "remote_behind",
        }
    }
}

/// What happens on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Create the record (`record` holds it, in this side's shape, with the id).
    Create,
    /// Update it (`patch` holds the RFC 7396 patch; remote patches carry the lock version).
    Update,
    /// Delete it.
    Delete,
}

impl Action {
    const ALL: [Action; 4] = [Action::None, Action::Create, Action::Update, Action::Delete];

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// What happens to the stored base (the mirror).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetAction {
    /// Nothing to store (or the agreed record is what is stored already).
    None,
    /// Store `record` (with its checksum) as the new base.
    Upsert,
    /// Remove the base.
    Delete,
}

impl TargetAction {
    const ALL: [TargetAction; 3] = [
        TargetAction::None,
        TargetAction::Upsert,
        TargetAction::Delete,
    ];

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetAction::None => "none",
            TargetAction::Upsert => "upsert",
            TargetAction::Delete => "delete",
        }
    }
}

/// Whether a conflict is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictStatus {
    /// Every conflicting path was decided by a strategy.
    Resolved,
    /// A path (or, with `manual`, the record) waits for a person.
    Unresolved,
}

impl ConflictStatus {
    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStatus::Resolved => "resolved",
            ConflictStatus::Unresolved => "unresolved",
        }
    }
}

/// One side of a pair decision.
#[derive(Debug, Clone, PartialEq)]
pub struct SideState {
    /// The index of the record in its input array, when the record was given.
    pub index: Option<usize>,
    /// The checksum of its common view.
    pub checksum: Option<String>,
    /// Its version (OpenProject `lockVersion`).
    pub version: Option<f64>,
    /// It is a tombstone.
    pub deleted: bool,
    /// What to do on this side.
    pub action: Action,
    /// For `update`: the RFC 7396 patch in this side's shape.
    pub patch: Option<Value>,
    /// For `create`: the record; for `update` of a given record: the record after the patch.
    pub record: Option<Value>,
}

impl SideState {
    /// A side with nothing known and nothing to do.
    pub fn none() -> SideState {
        SideState {
            index: None,
            checksum: None,
            version: None,
            deleted: false,
            action: Action::None,
            patch: None,
            record: None,
        }
    }
}

/// The base entry a pair decision was made against.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseRef {
    /// Its index in the base array.
    pub index: usize,
    /// Its checksum.
    pub checksum: Option<String>,
    /// The version stored with it.
    pub version: Option<f64>,
}

/// The agreed record and what to do with the stored base.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// What to do with the base.
    pub action: TargetAction,
    /// The checksum of `record`.
    pub checksum: Option<String>,
    /// The agreed record (common view).
    pub record: Option<Value>,
}

/// A conflict's type, record-level strategy and status.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictInfo {
    /// The type.
    pub kind: ConflictType,
    /// The record-level (default) strategy.
    pub strategy: Strategy,
    /// Settled or waiting for a person.
    pub status: ConflictStatus,
}

/// The decision for one id whose records were all read.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// The match key.
    pub id: String,
    /// The kind.
    pub kind: Kind,
    /// For conflicts: type, strategy, status.
    pub conflict: Option<ConflictInfo>,
    /// For conflicts: each conflicting path (`merge::FieldConflict` in contract form).
    pub conflicts: Vec<Value>,
    /// In reconciliation mode: the JSON Pointers where the two sides differ.
    pub differences: Option<Vec<String>>,
    /// The local side.
    pub local: SideState,
    /// The remote side.
    pub remote: SideState,
    /// The base, when there was one.
    pub base: Option<BaseRef>,
    /// The agreed record.
    pub target: Target,
}

/// A rejected record.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Its id, when one could be read.
    pub id: Option<String>,
    /// `local`, `remote` or `base`.
    pub side: String,
    /// Its index in that input array.
    pub index: usize,
    /// Why (`{code, message, path}`).
    pub error: Value,
}

/// One decision.
// Pairs are nearly every decision: boxing them to shrink the rare `Invalid` would cost an
// allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// A pair (or single record) that was decided.
    Pair(Pair),
    /// A rejected record.
    Invalid(Rejected),
}

impl Decision {
    /// The kind.
    pub fn kind(&self) -> Kind {
        match self {
            Decision::Pair(p) => p.kind,
            Decision::Invalid(_) => Kind::Invalid,
        }
    }

    /// The conflict status, for conflicts.
    pub fn conflict_status(&self) -> Option<ConflictStatus> {
        match self {
            Decision::Pair(p) => p.conflict.as_ref().map(|c| c.status),
            Decision::Invalid(_) => None,
        }
    }

    /// The contract form.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        match self {
            Decision::Invalid(r) => {
                if let Some(id) = &r.id {
                    m.insert("id", Value::str(id.clone()));
                }
                m.insert("decision", Value::str(Kind::Invalid.as_str()));
                m.insert("side", Value::str(r.side.clone()));
                m.insert("index", Value::from(r.index));
                m.insert("error", r.error.clone());
            }
            Decision::Pair(p) => {
                m.insert("id", Value::str(p.id.clone()));
                m.insert("decision", Value::str(p.kind.as_str()));
                if let Some(c) = &p.conflict {
                    m.insert(
                        "conflict",
                        Value::object([
                            ("type", Value::str(c.kind.as_str())),
                            ("strategy", Value::str(c.strategy.as_str())),
                            ("status", Value::str(c.status.as_str())),
                        ]),
                    );
                    m.insert("conflicts", Value::Array(p.conflicts.clone()));
                }
                if let Some(d) = &p.differences {
                    m.insert(
                        "differences",
                        Value::Array(d.iter().map(|s| Value::str(s.clone())).collect()),
                    );
                }
                m.insert("local", side_value(&p.local));
                m.insert("remote", side_value(&p.remote));
                if let Some(b) = &p.base {
                    let mut bm = Map::new();
                    bm.insert("index", Value::from(b.index));
                    if let Some(c) = &b.checksum {
                        bm.insert("checksum", Value::str(c.clone()));
                    }
                    if let Some(v) = b.version {
                        bm.insert("version", Value::Number(v));
                    }
                    m.insert("base", Value::Object(bm));
                }
                let mut tm = Map::new();
                tm.insert("action", Value::str(p.target.action.as_str()));
                if let Some(c) = &p.target.checksum {
                    tm.insert("checksum", Value::str(c.clone()));
                }
                if let Some(r) = &p.target.record {
                    tm.insert("record", r.clone());
                }
                m.insert("target", Value::Object(tm));
            }
        }
        Value::Object(m)
    }

    /// Writes the contract form's canonical bytes: what `canonical::write(&self.to_value(), out)`
    /// writes, without building the value (members are written in their canonical order).
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut m = Obj::open(out);
        match self {
            Decision::Invalid(r) => {
                m.str("decision", Kind::Invalid.as_str());
                m.key("error");
                canonical::write(&r.error, m.out);
                if let Some(id) = &r.id {
                    m.str("id", id);
                }
                m.num("index", r.index as f64);
                m.str("side", &r.side);
            }
            Decision::Pair(p) => {
                if let Some(b) = &p.base {
                    m.key("base");
                    let mut bm = Obj::open(m.out);
                    if let Some(c) = &b.checksum {
                        bm.str("checksum", c);
                    }
                    bm.num("index", b.index as f64);
                    if let Some(v) = b.version {
                        bm.num("version", v);
                    }
                    bm.close();
                }
                if let Some(c) = &p.conflict {
                    m.key("conflict");
                    let mut cm = Obj::open(m.out);
                    cm.str("status", c.status.as_str());
                    cm.str("strategy", c.strategy.as_str());
                    cm.str("type", c.kind.as_str());
                    cm.close();
                    m.key("conflicts");
                    write_array(&p.conflicts, m.out, canonical::write);
                }
                m.str("decision", p.kind.as_str());
                if let Some(d) = &p.differences {
                    m.key("differences");
                    write_array(d, m.out, |s, out| canonical::write_string(s, out));
                }
                m.str("id", &p.id);
                m.key("local");
                write_side(&p.local, m.out);
                m.key("remote");
                write_side(&p.remote, m.out);
                m.key("target");
                let mut tm = Obj::open(m.out);
                tm.str("action", p.target.action.as_str());
                if let Some(c) = &p.target.checksum {
                    tm.str("checksum", c);
                }
                if let Some(r) = &p.target.record {
                    tm.key("record");
                    canonical::write(r, tm.out);
                }
                tm.close();
            }
        }
        m.close();
    }

    /// Reads a decision in contract form (as classify wrote it; a host passes it back to
    /// `plan`). Paths in errors are relative to the decision.
    pub fn from_value(v: &Value) -> Result<Decision, Error> {
        let bad = |msg: String, path: &str| Error::new(ErrorCode::InvalidDecision, msg).at(path);
        let m = v
            .as_object()
            .ok_or_else(|| bad("a decision must be an object".into(), ""))?;
        let kind = match m.get("decision") {
            Some(Value::String(s)) => Kind::parse(s).ok_or_else(|| {
                bad(
                    format!("unknown decision kind \"{}\"", s.as_str()),
                    "/decision",
                )
            })?,
            _ => return Err(bad("decision has no \"decision\" kind".into(), "/decision")),
        };
        if kind == Kind::Invalid {
            return Ok(Decision::Invalid(Rejected {
                id: m.get("id").and_then(Value::as_str).map(str::to_owned),
                side: m
                    .get("side")
                    .and_then(Value::as_str)
                    .unwrap_or("local")
                    .to_owned(),
                index: m.get("index").and_then(index_of).unwrap_or(0),
                error: m.get("error").cloned().unwrap_or(Value::Null),
            }));
        }
        let id = m
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("decision has no id".into(), "/id"))?
            .to_owned();
        let local = read_side(m, "local")?;
        let remote = read_side(m, "remote")?;
        let tm = m
            .get("target")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("decision has no target.action".into(), "/target/action"))?;
        let action = match tm.get("action").and_then(Value::as_str) {
            Some(s) => TargetAction::ALL
                .into_iter()
                .find(|a| a.as_str() == s)
                .ok_or_else(|| bad(format!("unknown target action \"{s}\""), "/target/action"))?,
            None => {
                return Err(bad(
                    "decision has no target.action".into(),
                    "/target/action",
                ))
            }
        };
        let target = Target {
            action,
            checksum: opt_string(tm.get("checksum"), "/target/checksum")?,
            record: tm.get("record").filter(|r| !r.is_null()).cloned(),
        };
        let base = match m.get("base") {
            None | Some(Value::Null) => None,
            Some(Value::Object(bm)) => Some(BaseRef {
                index: bm.get("index").and_then(index_of).unwrap_or(0),
                checksum: opt_string(bm.get("checksum"), "/base/checksum")?,
                version: opt_number(bm.get("version"), "/base/version")?,
            }),
            Some(_) => return Err(bad("base must be an object".into(), "/base")),
        };
        let conflict = match m.get("conflict") {
            None | Some(Value::Null) => None,
            Some(c) => {
                let t = c.get("type").and_then(Value::as_str).unwrap_or("");
                let kind = ConflictType::ALL
                    .into_iter()
                    .find(|k| k.as_str() == t)
                    .ok_or_else(|| {
                        bad(format!("unknown conflict type \"{t}\""), "/conflict/type")
                    })?;
                let s = c.get("strategy").and_then(Value::as_str).unwrap_or("");
                let strategy = Strategy::parse(s).ok_or_else(|| {
                    bad(
                        format!("unknown conflict strategy \"{s}\""),
                        "/conflict/strategy",
                    )
                })?;
                let status = match c.get("status").and_then(Value::as_str) {
                    Some("resolved") => ConflictStatus::Resolved,
                    Some("unresolved") => ConflictStatus::Unresolved,
                    _ => {
                        return Err(bad(
                            "conflict.status must be resolved or unresolved".into(),
                            "/conflict/status",
                        ))
                    }
                };
                Some(ConflictInfo {
                    kind,
                    strategy,
                    status,
                })
            }
        };
        let conflicts = match m.get("conflicts") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(bad("conflicts must be an array".into(), "/conflicts")),
        };
        let differences = match m.get("differences") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|x| x.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("differences must be strings".into(), "/differences"))?,
            ),
            Some(_) => return Err(bad("differences must be an array".into(), "/differences")),
        };
        Ok(Decision::Pair(Pair {
            id,
            kind,
            conflict,
            conflicts,
            differences,
            local,
            remote,
            base,
            target,
        }))
    }
}

/// An object being written member by member (the caller keeps canonical key order).
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Obj<'o> {
    fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }
    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        canonical::write_string(k, self.out);
        self.out.push(b':');
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        canonical::write_string(v, self.out);
    }
    fn num(&mut self, k: &str, v: f64) {
        self.key(k);
        canonical::write_number(v, self.out);
    }
    fn close(self) {
        self.out.push(b'}');
    }
}

fn write_array<T>(items: &[T], out: &mut Vec<u8>, mut each: impl FnMut(&T, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(x, out);
    }
    out.push(b']');
}

/// [`side_value`]'s canonical bytes.
fn write_side(s: &SideState, out: &mut Vec<u8>) {
    let mut m = Obj::open(out);
    m.str("action", s.action.as_str());
    if let Some(c) = &s.checksum {
        m.str("checksum", c);
    }
    if s.deleted {
        m.key("deleted");
        m.out.extend_from_slice(b"true");
    }
    if let Some(i) = s.index {
        m.num("index", i as f64);
    }
    if let Some(p) = &s.patch {
        m.key("patch");
        canonical::write(p, m.out);
    }
    if let Some(r) = &s.record {
        m.key("record");
        canonical::write(r, m.out);
    }
    if let Some(v) = s.version {
        m.num("version", v);
    }
    m.close();
}

fn side_value(s: &SideState) -> Value {
    let mut m = Map::new();
    if let Some(i) = s.index {
        m.insert("index", Value::from(i));
    }
    if let Some(c) = &s.checksum {
        m.insert("checksum", Value::str(c.clone()));
    }
    if let Some(v) = s.version {
        m.insert("version", Value::Number(v));
    }
    if s.deleted {
        m.insert("deleted", Value::Bool(true));
    }
    if let Some(p) = &s.patch {
        m.insert("patch", p.clone());
    }
    if let Some(r) = &s.record {
        m.insert("record", r.clone());
    }
    m.insert("action", Value::str(s.action.as_str()));
    Value::Object(m)
}

fn index_of(v: &Value) -> Option<usize> {
    match v {
        Value::Number(n) if n.fract() == 0.0 && *n >= 0.0 && *n < 9.0e15 => Some(*n as usize),
        _ => None,
    }
}

fn opt_string(v: Option<&Value>, path: &str) -> Result<Option<String>, Error> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.to_string())),
        Some(_) => Err(Error::new(ErrorCode::InvalidDecision, "expected a string").at(path)),
    }
}

fn opt_number(v: Option<&Value>, path: &str) -> Result<Option<f64>, Error> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(*n)),
        Some(_) => Err(Error::new(ErrorCode::InvalidDecision, "expected a number").at(path)),
    }
}

fn read_side(m: &Map, side: &str) -> Result<SideState, Error> {
    let missing = || {
        Error::new(
            ErrorCode::InvalidDecision,
            format!("decision has no {side}.action (pass classify's decisions unchanged)"),
        )
        .at(format!("/{side}/action"))
    };
    let sm = m.get(side).and_then(Value::as_object).ok_or_else(missing)?;
    let a = sm
        .get("action")
        .and_then(Value::as_str)
        .ok_or_else(missing)?;
    let action = Action::ALL
        .into_iter()
        .find(|x| x.as_str() == a)
        .ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidDecision,
                format!("unknown {side} action \"{a}\""),
            )
            .at(format!("/{side}/action"))
        })?;
    let state = SideState {
        index: sm.get("index").and_then(index_of),
        checksum: opt_string(sm.get("checksum"), &format!("/{side}/checksum"))?,
        version: opt_number(sm.get("version"), &format!("/{side}/version"))?,
        deleted: sm.get("deleted").and_then(Value::as_bool).unwrap_or(false),
        action,
        patch: sm.get("patch").filter(|p| !p.is_null()).cloned(),
        record: sm.get("record").filter(|r| !r.is_null()).cloned(),
    };
    let body = match action {
        Action::Create => state.record.is_some(),
        Action::Update => state.patch.is_some(),
        _ => true,
    };
    if !body {
        return Err(Error::new(
            ErrorCode::InvalidDecision,
            format!("{side} action {a} without a body"),
        )
        .at(format!("/{side}")));
    }
    Ok(state)
}

/// The write a plan row sends to OpenProject.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteOp {
    /// `create` (POST), `patch` (PATCH with lockVersion) or `delete`.
    pub op: &'static str,
    /// The request body (`null` for a delete).
    pub body: Value,
    /// The lockVersion the write is made against (the remote record's, or the base's when the
    /// remote record was not in the batch).
    pub lock_version: Option<f64>,
}

/// One staging row: everything one decision writes, joined (the local write, the base write,
/// the OpenProject request), with its idempotency key and retry schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRow {
    /// The match key.
    pub external_id: String,
    /// The base write: `insert`, `update`, `delete` or `none`.
    pub operation: &'static str,
    /// The agreed record to store as the base (`null` for a delete).
    pub data: Value,
    /// Its checksum.
    pub checksum: Option<String>,
    /// The decision kind.
    pub decision: Kind,
    /// The decision's index in the plan request.
    pub decision_index: usize,
    /// The local write: `none`, `create`, `update` or `delete`.
    pub local_action: Action,
    /// The local record after the write (create/update).
    pub local_record: Value,
    /// The OpenProject request, if any.
    pub remote: Option<RemoteOp>,
    /// The version of the remote record as read (kept in the base when nothing is sent).
    pub remote_version: Option<f64>,
    /// An open conflict that this row leaves for a person (its other fields are written):
    /// `{type, strategy, conflicts, local_checksum, remote_checksum}`.
    pub conflict: Option<Value>,
    /// The row's idempotency key.
    pub idempotency_key: String,
    /// The delays before each retry, in milliseconds (then the dead letter).
    pub retry_delays_ms: Vec<u64>,
}

impl PlanRow {
    /// The contract form.
    pub fn to_value(&self) -> Value {
        let num = |v: Option<f64>| v.map_or(Value::Null, Value::Number);
        let remote = match &self.remote {
            None => Value::Null,
            Some(r) => {
                let mut m = Map::new();
                m.insert("op", Value::str(r.op));
                m.insert("body", r.body.clone());
                m.insert("lock_version", num(r.lock_version));
                Value::Object(m)
            }
        };
        Value::object([
            ("external_id", Value::str(self.external_id.clone())),
            ("operation", Value::str(self.operation)),
            ("data", self.data.clone()),
            (
                "checksum",
                self.checksum.clone().map_or(Value::Null, Value::str),
            ),
            ("decision", Value::str(self.decision.as_str())),
            ("decision_index", Value::from(self.decision_index)),
            ("local_action", Value::str(self.local_action.as_str())),
            ("local_record", self.local_record.clone()),
            ("remote", remote),
            ("remote_version", num(self.remote_version)),
            ("conflict", self.conflict.clone().unwrap_or(Value::Null)),
            ("idempotency_key", Value::str(self.idempotency_key.clone())),
            (
                "retry_delays_ms",
                Value::Array(
                    self.retry_delays_ms
                        .iter()
                        .map(|d| Value::from(*d))
                        .collect(),
                ),
            ),
        ])
    }
}

/// A field of the schema: name, TypeScript type, optional.
pub type Field = (&'static str, &'static str, bool);

/// The schema of the contract's decision and plan objects, for the hosts: each type with its
/// fields (name, TypeScript type, optional). `tests/schema.rs` checks that every decision and
/// plan row in the golden vectors fits it and that the node's `contract.ts` is [`typescript`].
pub const SCHEMA: &[(&str, &[Field])] = &[
    (
        "SideState",
        &[
            ("index", "number", true),
            ("checksum", "string", true),
            ("version", "number", true),
            ("deleted", "boolean", true),
            ("action", "'none' | 'create' | 'update' | 'delete'", false),
            ("patch", "JsonObject", true),
            ("record", "JsonObject", true),
        ],
    ),
    (
        "BaseRef",
        &[
            ("index", "number", false),
            ("checksum", "string", true),
            ("version", "number", true),
        ],
    ),
    (
        "Target",
        &[
            ("action", "'none' | 'upsert' | 'delete'", false),
            ("checksum", "string", true),
            ("record", "JsonObject", true),
        ],
    ),
    (
        "ConflictInfo",
        &[
            (
                "type",
                "'concurrent_modification' | 'modify_delete' | 'local_behind' | 'remote_behind'",
                false,
            ),
            (
                "strategy",
                "'server_wins' | 'client_wins' | 'newest_wins' | 'manual' | 'merge'",
                false,
            ),
            ("status", "'resolved' | 'unresolved'", false),
        ],
    ),
    (
        "FieldConflict",
        &[
            ("path", "string", false),
            ("base", "JsonValue", true),
            ("local", "JsonValue", true),
            ("remote", "JsonValue", true),
            (
                "reason",
                "'both_modified' | 'both_added' | 'local_deleted' | 'remote_deleted' | 'type_changed' | 'no_base'",
                false,
            ),
            ("resolution", "'local' | 'remote' | 'unresolved'", false),
            (
                "strategy",
                "'server_wins' | 'client_wins' | 'newest_wins' | 'manual' | 'merge'",
                false,
            ),
        ],
    ),
    (
        "CoreError",
        &[
            ("code", "string", false),
            ("message", "string", false),
            ("path", "string", false),
        ],
    ),
    (
        "PairDecision",
        &[
            ("id", "string", false),
            (
                "decision",
                "'unchanged' | 'create_remote' | 'create_local' | 'update_remote' | 'update_local' | 'converged' | 'delete_remote' | 'delete_local' | 'conflict'",
                false,
            ),
            ("conflict", "ConflictInfo", true),
            ("conflicts", "FieldConflict[]", true),
            ("differences", "string[]", true),
            ("local", "SideState", false),
            ("remote", "SideState", false),
            ("base", "BaseRef", true),
            ("target", "Target", false),
        ],
    ),
    (
        "InvalidDecision",
        &[
            ("id", "string", true),
            ("decision", "'invalid'", false),
            ("side", "'local' | 'remote' | 'base'", false),
            ("index", "number", false),
            ("error", "CoreError", false),
        ],
    ),
    (
        "Summary",
        &[
            ("unchanged", "number", false),
            ("create_remote", "number", false),
            ("create_local", "number", false),
            ("update_remote", "number", false),
            ("update_local", "number", false),
            ("converged", "number", false),
            ("delete_remote", "number", false),
            ("delete_local", "number", false),
            ("conflict", "number", false),
            ("invalid", "number", false),
            ("conflicts_resolved", "number", false),
            ("conflicts_unresolved", "number", false),
            ("total", "number", false),
        ],
    ),
    (
        "RemoteOp",
        &[
            ("op", "'create' | 'patch' | 'delete'", false),
            ("body", "JsonObject | null", false),
            ("lock_version", "number | null", false),
        ],
    ),
    (
        "OpenConflict",
        &[
            (
                "type",
                "'concurrent_modification' | 'modify_delete' | 'local_behind' | 'remote_behind'",
                false,
            ),
            (
                "strategy",
                "'server_wins' | 'client_wins' | 'newest_wins' | 'manual' | 'merge'",
                false,
            ),
            ("conflicts", "FieldConflict[]", false),
            ("local_checksum", "string | null", false),
            ("remote_checksum", "string | null", false),
        ],
    ),
    (
        "PlanRow",
        &[
            ("external_id", "string", false),
            ("operation", "'insert' | 'update' | 'delete' | 'none'", false),
            ("data", "JsonObject | null", false),
            ("checksum", "string | null", false),
            (
                "decision",
                "'unchanged' | 'create_remote' | 'create_local' | 'update_remote' | 'update_local' | 'converged' | 'delete_remote' | 'delete_local' | 'conflict'",
                false,
            ),
            ("decision_index", "number", false),
            ("local_action", "'none' | 'create' | 'update' | 'delete'", false),
            ("local_record", "JsonObject | null", false),
            ("remote", "RemoteOp | null", false),
            ("remote_version", "number | null", false),
            ("conflict", "OpenConflict | null", false),
            ("idempotency_key", "string", false),
            ("retry_delays_ms", "number[]", false),
        ],
    ),
];

/// The TypeScript declarations of [`SCHEMA`] (the n8n node's `contract.ts`).
pub fn typescript() -> String {
    let mut out = String::from(
        "// Generated from the Rust definition (src/decision.rs, SCHEMA) by\n\
         //   BATCH_SYNC_WRITE_SCHEMA=1 cargo test --test schema\n\
         // Do not edit: tests/schema.rs fails when this file and the Rust schema disagree.\n\
         \n\
         export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };\n\
         export type JsonObject = { [key: string]: JsonValue };\n",
    );
    for (name, fields) in SCHEMA {
        out.push_str(&format!("\nexport interface {name} {{\n"));
        for (f, ty, opt) in *fields {
            out.push_str(&format!("\t{f}{}: {ty};\n", if *opt { "?" } else { "" }));
        }
        out.push_str("}\n");
    }
    out.push_str("\nexport type Decision = PairDecision | InvalidDecision;\n");
    out
}
