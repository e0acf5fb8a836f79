//! Change and conflict classification: exactly one decision per id (or per rejected record).
//!
//! ```
//! use batch_sync::{classify::classify, config::SyncConfig, value::Value};
//! let local = Value::parse(br#"[{"id":1,"subject":"A"},{"id":2,"subject":"new"}]"#).unwrap();
//! let remote = Value::parse(br#"[{"id":1,"subject":"A"}]"#).unwrap();
//! let out = classify(&SyncConfig::default(), local.as_array().unwrap(), remote.as_array().unwrap(), None);
//! let kinds: Vec<_> = out.decisions().iter().map(|d| d.get("decision").unwrap().as_str().unwrap().to_owned()).collect();
//! assert_eq!(kinds, ["unchanged", "create_remote"]);
//! ```
//!
//! Decisions come out in input order: local records first, then ids seen only remotely, then
//! ids seen only in the base. A record that cannot be read, or whose id is repeated on one side,
//! is `invalid` together with every other record of the same id, so nothing is written for an
//! id that is not fully understood.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

/// Hash maps with fixed keys: no randomness, so WASI hosts need not provide `random_get`.
type Map64<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

use crate::canonical;
use crate::config::{Mode, Side, Strategy, SyncConfig};
use crate::error::{Error, ErrorCode, ItemErrors};
use crate::mapping::Links;
use crate::merge::{merge3, merge_deleted, MergeOptions, MergeOutcome};
use crate::patch;
use crate::record::{self, id_key, RecordInfo};
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

/// Counts of decisions by kind.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    counts: Map64<Kind, usize>,
    conflicts_resolved: usize,
    conflicts_unresolved: usize,
    total: usize,
}

impl Tally {
    fn count(&mut self, d: &Value) {
        let kind = d
            .get("decision")
            .and_then(Value::as_str)
            .and_then(|k| Kind::ALL.into_iter().find(|x| x.as_str() == k));
        if let Some(k) = kind {
            *self.counts.entry(k).or_insert(0) += 1;
        }
        match d
            .get("conflict")
            .and_then(|c| c.get("status"))
            .and_then(Value::as_str)
        {
            Some("resolved") => self.conflicts_resolved += 1,
            Some("unresolved") => self.conflicts_unresolved += 1,
            _ => {}
        }
        self.total += 1;
    }

    /// `{"<kind>": n, ..., "conflicts_resolved": n, "conflicts_unresolved": n, "total": n}`.
    pub fn summary(&self) -> Value {
        let mut m = Map::new();
        for k in Kind::ALL {
            m.insert(
                k.as_str(),
                Value::from(self.counts.get(&k).copied().unwrap_or(0)),
            );
        }
        m.insert("conflicts_resolved", Value::from(self.conflicts_resolved));
        m.insert(
            "conflicts_unresolved",
            Value::from(self.conflicts_unresolved),
        );
        m.insert("total", Value::from(self.total));
        Value::Object(m)
    }
}

/// The result of a classification.
#[derive(Debug, Clone)]
pub struct Classification {
    decisions: Vec<Value>,
    tally: Tally,
}

impl Classification {
    /// The decisions, in contract form.
    pub fn decisions(&self) -> &[Value] {
        &self.decisions
    }
    /// Takes the decisions.
    pub fn into_decisions(self) -> Vec<Value> {
        self.decisions
    }
    /// The counts by kind.
    pub fn summary(&self) -> Value {
        self.tally.summary()
    }
}

struct Base<'a> {
    checksum: String,
    version: Option<f64>,
    snapshot: Option<&'a Value>,
}

struct Item<'a, T> {
    index: usize,
    rec: &'a Value,
    info: Result<T, Error>,
}

#[derive(Default)]
struct Group {
    local: Vec<usize>,
    remote: Vec<usize>,
    base: Vec<usize>,
}

/// The state of one side for an id.
#[derive(Clone, Copy)]
enum State<'a> {
    Present(&'a RecordInfo),
    Deleted,
    Unknown,
}

struct Ctx<'a> {
    cfg: &'a SyncConfig,
    links: Links,
    local: Vec<Item<'a, RecordInfo>>,
    remote: Vec<Item<'a, RecordInfo>>,
    base: Vec<Item<'a, Base<'a>>>,
}

fn read_base<'a>(cfg: &SyncConfig, v: &'a Value) -> Result<(String, Base<'a>), Error> {
    let m = v.as_object().ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidRecord,
            "base entry must be an object {id, checksum, version, snapshot}",
        )
    })?;
    if let Some(k) = m.key_not_in(&["id", "checksum", "version", "snapshot"]) {
        return Err(Error::new(
            ErrorCode::InvalidRecord,
            format!("unknown base member \"{k}\" (id, checksum, version, snapshot)"),
        )
        .at(format!("/{k}")));
    }
    let id = id_key(
        m.get("id")
            .ok_or_else(|| Error::new(ErrorCode::MissingId, "base entry has no id").at("/id"))?,
    )
    .map_err(|e| e.at("/id"))?;
    let snapshot = match m.get("snapshot") {
        None | Some(Value::Null) => None,
        Some(s @ Value::Object(_)) => {
            // A snapshot is a previous target, checked when it was made; the parser's hard
            // nesting cap still bounds it.
            Some(s)
        }
        Some(_) => {
            return Err(
                Error::new(ErrorCode::InvalidRecord, "base snapshot must be an object")
                    .at("/snapshot"),
            )
        }
    };
    let checksum = match (m.get("checksum"), snapshot) {
        (Some(Value::String(c)), _)
            if c.len() == 64
                && c.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            c.to_string()
        }
        (Some(_), _) => {
            return Err(Error::new(
                ErrorCode::InvalidRecord,
                "base checksum must be 64 lowercase hex digits",
            )
            .at("/checksum"))
        }
        (None, Some(s)) => {
            let (digest, size, _) = canonical::digest_with(|buf| canonical::write(s, buf));
            record::check_size(cfg, size).map_err(|e| e.within("/snapshot"))?;
            digest
        }
        (None, None) => {
            return Err(Error::new(
                ErrorCode::InvalidRecord,
                "base entry needs a checksum or a snapshot",
            ))
        }
    };
    let version = match m.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(*n),
        Some(_) => {
            return Err(
                Error::new(ErrorCode::InvalidRecord, "base version must be a number")
                    .at("/version"),
            )
        }
    };
    Ok((
        id,
        Base {
            checksum,
            version,
            snapshot,
        },
    ))
}

fn read_side<'a>(
    cfg: &SyncConfig,
    side: Side,
    recs: &'a [Value],
    links: &mut Links,
    rejected: &ItemErrors,
) -> Vec<(Option<String>, Item<'a, RecordInfo>)> {
    recs.iter()
        .enumerate()
        .map(|(index, rec)| {
            let id = cfg.fields(side).id.get(rec).and_then(|v| id_key(v).ok());
            if let Some(e) = rejected.get(side.as_str(), index) {
                return (
                    id,
                    Item {
                        index,
                        rec,
                        info: Err(e.clone()),
                    },
                );
            }
            let learn = if side == Side::Remote {
                Some(&mut *links)
            } else {
                None
            };
            (
                id,
                Item {
                    index,
                    rec,
                    info: record::inspect(cfg, side, rec, learn),
                },
            )
        })
        .collect()
}

/// Classifies local and remote records against an optional base.
pub fn classify(
    cfg: &SyncConfig,
    local: &[Value],
    remote: &[Value],
    base: Option<&[Value]>,
) -> Classification {
    let mut decisions = Vec::with_capacity(local.len().max(remote.len()));
    let tally = classify_each(cfg, local, remote, base, |d| decisions.push(d));
    Classification { decisions, tally }
}

/// Classifies and hands each decision to `emit` as soon as it is made (in order), so that a
/// host can serialise decisions one by one instead of holding them all.
pub fn classify_each(
    cfg: &SyncConfig,
    local: &[Value],
    remote: &[Value],
    base: Option<&[Value]>,
    emit: impl FnMut(Value),
) -> Tally {
    classify_each_with(cfg, local, remote, base, &ItemErrors::default(), emit)
}

/// [`classify_each`] where some records were already rejected while the request was read
/// (`rejected` keyed by `local`, `remote`, `base` and index): they become `invalid` with that
/// error, and so does every other record of their id.
pub fn classify_each_with(
    cfg: &SyncConfig,
    local: &[Value],
    remote: &[Value],
    base: Option<&[Value]>,
    rejected: &ItemErrors,
    mut emit: impl FnMut(Value),
) -> Tally {
    let mut links = Links::default();
    let remote_items = read_side(cfg, Side::Remote, remote, &mut links, rejected);
    let local_items = read_side(cfg, Side::Local, local, &mut links, rejected);
    let base_items: Vec<(Option<String>, Item<'_, Base<'_>>)> = base
        .unwrap_or(&[])
        .iter()
        .enumerate()
        .map(|(index, rec)| {
            match rejected
                .get("base", index)
                .map_or_else(|| read_base(cfg, rec), |e| Err(e.clone()))
            {
                Ok((id, b)) => (
                    Some(id),
                    Item {
                        index,
                        rec,
                        info: Ok(b),
                    },
                ),
                Err(e) => (
                    rec.get("id").and_then(|v| id_key(v).ok()),
                    Item {
                        index,
                        rec,
                        info: Err(e),
                    },
                ),
            }
        })
        .collect();

    let mut groups: Map64<String, Group> =
        Map64::with_capacity_and_hasher(local.len() + remote.len(), Default::default());
    let mut order: Vec<Result<String, (u8, usize)>> =
        Vec::with_capacity(local.len() + remote.len());
    let sides = [
        local_items
            .iter()
            .map(|(id, it)| (id, it.index))
            .collect::<Vec<_>>(),
        remote_items.iter().map(|(id, it)| (id, it.index)).collect(),
        base_items.iter().map(|(id, it)| (id, it.index)).collect(),
    ];
    for (tag, list) in sides.iter().enumerate() {
        for (id, i) in list {
            let Some(id) = id else {
                order.push(Err((tag as u8, *i)));
                continue;
            };
            let g = match groups.get_mut(id.as_str()) {
                Some(g) => g,
                None => {
                    order.push(Ok(id.clone()));
                    groups.entry(id.clone()).or_default()
                }
            };
            [&mut g.local, &mut g.remote, &mut g.base][tag].push(*i);
        }
    }

    let cx = Ctx {
        cfg,
        links,
        local: local_items.into_iter().map(|(_, it)| it).collect(),
        remote: remote_items.into_iter().map(|(_, it)| it).collect(),
        base: base_items.into_iter().map(|(_, it)| it).collect(),
    };
    let mut tally = Tally::default();
    let mut push = |d: Value| {
        tally.count(&d);
        emit(d);
    };
    for entry in order {
        match entry {
            Err((tag, i)) => {
                let err = cx.error_of(tag, i);
                push(cx.invalid(None, tag, i, err));
            }
            Ok(id) => {
                let g = &groups[&id];
                for d in cx.decide_group(&id, g) {
                    push(d);
                }
            }
        }
    }
    tally
}

const SIDE_NAMES: [&str; 3] = ["local", "remote", "base"];

impl<'a> Ctx<'a> {
    fn error_of(&self, tag: u8, i: usize) -> Error {
        let e = match tag {
            0 => self.local[i].info.as_ref().err(),
            1 => self.remote[i].info.as_ref().err(),
            _ => self.base[i].info.as_ref().err(),
        };
        e.cloned()
            .unwrap_or_else(|| Error::new(ErrorCode::MissingId, "record has no usable id"))
    }

    fn invalid(&self, id: Option<&str>, tag: u8, i: usize, err: Error) -> Value {
        let side = SIDE_NAMES[tag as usize];
        let err = err
            .within(&format!("/{side}/{i}"))
            .context(&format!("classify: {side}[{i}]"));
        let mut m = Map::new();
        if let Some(id) = id {
            m.insert("id", Value::str(id));
        }
        m.insert("decision", Value::str("invalid"));
        m.insert("side", Value::str(side));
        m.insert("index", Value::from(i));
        m.insert("error", err.to_value());
        Value::Object(m)
    }

    fn decide_group(&self, id: &str, g: &Group) -> Vec<Value> {
        let members: Vec<(u8, usize)> = g
            .local
            .iter()
            .map(|&i| (0u8, i))
            .chain(g.remote.iter().map(|&i| (1, i)))
            .chain(g.base.iter().map(|&i| (2, i)))
            .collect();
        // Repeated ids: every record of the id is rejected.
        let dup = [(&g.local, 0usize), (&g.remote, 1), (&g.base, 2)]
            .into_iter()
            .find(|(v, _)| v.len() > 1);
        if let Some((v, tag)) = dup {
            let at: Vec<String> = v
                .iter()
                .map(|i| format!("{}[{}]", SIDE_NAMES[tag], i))
                .collect();
            let msg = format!(
                "id \"{id}\" occurs {} times on the {} side ({})",
                v.len(),
                SIDE_NAMES[tag],
                at.join(", ")
            );
            return members
                .iter()
                .map(|&(t, i)| {
                    self.invalid(
                        Some(id),
                        t,
                        i,
                        Error::new(ErrorCode::DuplicateId, msg.clone()),
                    )
                })
                .collect();
        }
        // A rejected record rejects its partners too.
        let bad = members.iter().find_map(|&(t, i)| {
            let ok = match t {
                0 => self.local[i].info.is_ok(),
                1 => self.remote[i].info.is_ok(),
                _ => self.base[i].info.is_ok(),
            };
            (!ok).then(|| (t, i, self.error_of(t, i)))
        });
        if let Some((bt, bi, be)) = bad {
            return members
                .iter()
                .map(|&(t, i)| {
                    let e = if (t, i) == (bt, bi) {
                        be.clone()
                    } else {
                        Error::new(
                            be.code(),
                            format!(
                                "id \"{id}\" was rejected on the {} side: {}",
                                SIDE_NAMES[bt as usize],
                                be.message()
                            ),
                        )
                    };
                    self.invalid(Some(id), t, i, e)
                })
                .collect();
        }
        let l = g
            .local
            .first()
            .and_then(|&i| self.local[i].info.as_ref().ok().map(|x| (i, x)));
        let r = g
            .remote
            .first()
            .and_then(|&i| self.remote[i].info.as_ref().ok().map(|x| (i, x)));
        let b = g
            .base
            .first()
            .and_then(|&i| self.base[i].info.as_ref().ok().map(|x| (i, x)));
        vec![self.decide(id, l, r, b)]
    }

    fn state(&self, x: Option<(usize, &'a RecordInfo)>, has_base: bool) -> State<'a> {
        match x {
            Some((_, info)) if info.deleted() => State::Deleted,
            Some((_, info)) => State::Present(info),
            None if has_base && self.cfg.mode() == Mode::Full && self.cfg.delete_missing() => {
                State::Deleted
            }
            None => State::Unknown,
        }
    }

    fn decide(
        &self,
        id: &str,
        l: Option<(usize, &'a RecordInfo)>,
        r: Option<(usize, &'a RecordInfo)>,
        b: Option<(usize, &'a Base<'a>)>,
    ) -> Value {
        use State::*;
        let ls = self.state(l, b.is_some());
        let rs = self.state(r, b.is_some());
        let d = Draft { id, l, r, b };
        let outcome = match (b, ls, rs) {
            (Some((_, base)), Present(li), Present(ri)) => {
                let (cl, cr, cb) = (li.checksum(), ri.checksum(), base.checksum.as_str());
                if cl == cr {
                    if cl == cb {
                        Outcome::Kind(Kind::Unchanged)
                    } else {
                        Outcome::Kind(Kind::Converged)
                    }
                } else if cl == cb {
                    Outcome::Kind(Kind::UpdateLocal)
                } else if cr == cb {
                    Outcome::Kind(Kind::UpdateRemote)
                } else {
                    Outcome::Conflict(ConflictType::ConcurrentModification)
                }
            }
            (Some((_, base)), Present(li), Unknown) => {
                Outcome::Kind(if li.checksum() == base.checksum {
                    Kind::Unchanged
                } else {
                    Kind::UpdateRemote
                })
            }
            (Some((_, base)), Unknown, Present(ri)) => {
                Outcome::Kind(if ri.checksum() == base.checksum {
                    Kind::Unchanged
                } else {
                    Kind::UpdateLocal
                })
            }
            (Some((_, base)), Present(li), Deleted) => {
                if li.checksum() == base.checksum {
                    Outcome::Kind(Kind::DeleteLocal)
                } else {
                    Outcome::Conflict(ConflictType::ModifyDelete)
                }
            }
            (Some((_, base)), Deleted, Present(ri)) => {
                if ri.checksum() == base.checksum {
                    Outcome::Kind(Kind::DeleteRemote)
                } else {
                    Outcome::Conflict(ConflictType::ModifyDelete)
                }
            }
            (Some(_), Deleted, Deleted) => Outcome::Kind(Kind::Converged),
            (Some(_), Deleted, Unknown) => Outcome::Kind(Kind::DeleteRemote),
            (Some(_), Unknown, Deleted) => Outcome::Kind(Kind::DeleteLocal),
            (Some(_), Unknown, Unknown) => Outcome::Kind(Kind::Unchanged),
            (None, Present(li), Present(ri)) => {
                if li.checksum() == ri.checksum() {
                    Outcome::Kind(Kind::Unchanged)
                } else {
                    Outcome::Conflict(behind(li, ri))
                }
            }
            (None, Present(_), Unknown) => Outcome::Kind(Kind::CreateRemote),
            (None, Unknown, Present(_)) => Outcome::Kind(Kind::CreateLocal),
            (None, Deleted, Present(_)) | (None, Present(_), Deleted) => {
                Outcome::Conflict(ConflictType::ModifyDelete)
            }
            (None, _, _) => Outcome::Kind(Kind::Unchanged),
        };
        match self.build(&d, outcome) {
            Ok(v) => v,
            Err(e) => {
                // A mapping failure while building writes: the id is invalid on the side that failed.
                let (tag, i) = match (e.1, l, r) {
                    (Side::Local, Some((i, _)), _) => (0, i),
                    (Side::Remote, _, Some((i, _))) => (1, i),
                    (_, Some((i, _)), _) => (0, i),
                    (_, _, Some((i, _))) => (1, i),
                    _ => (2, b.map_or(0, |(i, _)| i)),
                };
                self.invalid(Some(id), tag, i, e.0)
            }
        }
    }
}

fn behind(l: &RecordInfo, r: &RecordInfo) -> ConflictType {
    let ord = match (l.version(), r.version()) {
        (Some(a), Some(b)) => a.partial_cmp(&b),
        _ => match (l.updated_at(), r.updated_at()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => None,
        },
    };
    match ord {
        Some(std::cmp::Ordering::Less) => ConflictType::LocalBehind,
        Some(std::cmp::Ordering::Greater) => ConflictType::RemoteBehind,
        _ => ConflictType::ConcurrentModification,
    }
}

/// The side `newest_wins` takes: the later updated-at; ties go to the higher version, then to remote.
pub(crate) fn newer(l: Option<&RecordInfo>, r: Option<&RecordInfo>) -> Side {
    let key = |x: Option<&RecordInfo>| {
        (
            x.and_then(RecordInfo::updated_at),
            x.and_then(RecordInfo::version).unwrap_or(f64::NEG_INFINITY),
        )
    };
    let (lk, rk) = (key(l), key(r));
    match lk.0.cmp(&rk.0) {
        std::cmp::Ordering::Greater => Side::Local,
        std::cmp::Ordering::Less => Side::Remote,
        std::cmp::Ordering::Equal if lk.1 > rk.1 => Side::Local,
        std::cmp::Ordering::Equal => Side::Remote,
    }
}

enum Outcome {
    Kind(Kind),
    Conflict(ConflictType),
}

struct Draft<'a, 'b> {
    id: &'b str,
    l: Option<(usize, &'a RecordInfo)>,
    r: Option<(usize, &'a RecordInfo)>,
    b: Option<(usize, &'a Base<'a>)>,
}

/// What happens on one side.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    None,
    Create,
    Update,
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

type BuildError = (Error, Side);

/// A conflict's type, merge outcome and record-level strategy.
type Resolved = (ConflictType, MergeOutcome, Strategy);

impl<'a> Ctx<'a> {
    fn rec(&self, side: Side, i: usize) -> &'a Value {
        match side {
            Side::Local => self.local[i].rec,
            Side::Remote => self.remote[i].rec,
        }
    }

    fn view(&self, side: Side, i: usize) -> Result<Value, BuildError> {
        record::view(self.cfg, side, self.rec(side, i), None).map_err(|e| (e, side))
    }

    /// The side-shaped form of a common-view value (only the mapped fields with a mapping).
    fn shape(&self, side: Side, common: &Value) -> Result<Value, BuildError> {
        match self.cfg.mapping() {
            Some(m) => m
                .from_common(side, common, &self.links)
                .map_err(|e| (e, side)),
            None => Ok(common.clone()),
        }
    }

    fn build(&self, d: &Draft<'a, '_>, outcome: Outcome) -> Result<Value, BuildError> {
        let reconcile = self.cfg.mode() == Mode::Reconciliation;
        // Views are built only where something may be written or reported.
        let quiet = matches!(
            outcome,
            Outcome::Kind(Kind::Unchanged | Kind::DeleteLocal | Kind::DeleteRemote)
        ) && d.b.is_some();
        let need = reconcile || !quiet;
        let lview =
            d.l.filter(|(_, x)| need && !x.deleted())
                .map(|(i, _)| self.view(Side::Local, i))
                .transpose()?;
        let rview =
            d.r.filter(|(_, x)| need && !x.deleted())
                .map(|(i, _)| self.view(Side::Remote, i))
                .transpose()?;
        let snapshot = d.b.and_then(|(_, b)| b.snapshot);
        let mut m = Map::new();
        m.insert("id", Value::str(d.id));
        // target: Some(Some(v)) upsert v; Some(None) delete; None nothing to store.
        let (kind, target, conflict_info): (Kind, Option<Option<Value>>, Option<Resolved>) =
            match outcome {
                Outcome::Kind(k) => {
                    let t = match k {
                        Kind::Unchanged => match (d.b, &lview, &rview) {
                            (None, Some(v), _) | (None, None, Some(v)) => Some(Some(v.clone())),
                            _ => None,
                        },
                        Kind::CreateRemote | Kind::UpdateRemote | Kind::Converged
                            if lview.is_some() =>
                        {
                            Some(lview.clone())
                        }
                        Kind::CreateLocal | Kind::UpdateLocal => Some(rview.clone()),
                        Kind::Converged => Some(None),
                        Kind::DeleteLocal | Kind::DeleteRemote => Some(None),
                        _ => None,
                    };
                    (k, t, None)
                }
                Outcome::Conflict(ct) => {
                    let strategies = self.cfg.strategies();
                    let opts = MergeOptions::new(strategies)
                        .arrays(self.cfg.arrays())
                        .newer(newer(d.l.map(|x| x.1), d.r.map(|x| x.1)));
                    let out = match ct {
                        ConflictType::ModifyDelete => {
                            merge_deleted(snapshot, lview.as_ref(), rview.as_ref(), &opts)
                        }
                        ConflictType::LocalBehind | ConflictType::RemoteBehind
                            if strategies.default_strategy() == Strategy::Merge =>
                        {
                            // Versions say which side is ahead: it wins as a whole.
                            let ahead = if ct == ConflictType::LocalBehind {
                                Strategy::ServerWins
                            } else {
                                Strategy::ClientWins
                            };
                            let s = crate::config::Strategies::new(ahead);
                            merge3(
                                None,
                                lview.as_ref(),
                                rview.as_ref(),
                                &MergeOptions::new(&s).arrays(self.cfg.arrays()),
                            )
                        }
                        _ => merge3(snapshot, lview.as_ref(), rview.as_ref(), &opts),
                    };
                    // `manual` keeps every conflicting record for a person, even one whose
                    // fields would merge cleanly; the merge is still reported.
                    let manual = strategies.default_strategy() == Strategy::Manual;
                    let target = (!out.is_unresolved() && !manual).then(|| out.merged().cloned());
                    (
                        Kind::Conflict,
                        target,
                        Some((ct, out, strategies.default_strategy())),
                    )
                }
            };
        m.insert("decision", Value::str(kind.as_str()));
        if let Some((ct, out, strategy)) = &conflict_info {
            let status = if out.is_unresolved() || *strategy == Strategy::Manual {
                "unresolved"
            } else {
                "resolved"
            };
            m.insert(
                "conflict",
                Value::object([
                    ("type", Value::str(ct.as_str())),
                    ("strategy", Value::str(strategy.as_str())),
                    ("status", Value::str(status)),
                ]),
            );
            m.insert(
                "conflicts",
                Value::Array(out.conflicts().iter().map(|c| c.to_value()).collect()),
            );
        }
        if reconcile {
            if let (Some(a), Some(b)) = (&lview, &rview) {
                let mut paths = Vec::new();
                diff_paths(Some(a), Some(b), &mut String::new(), &mut paths);
                m.insert(
                    "differences",
                    Value::Array(paths.into_iter().map(Value::from).collect()),
                );
            }
        }
        let target = if reconcile { None } else { target };
        let target_checksum = match &target {
            Some(Some(v)) => Some(canonical::sha256_hex(v)),
            _ => None,
        };
        // Per-side actions.
        for side in [Side::Local, Side::Remote] {
            let (x, view) = match side {
                Side::Local => (d.l, &lview),
                Side::Remote => (d.r, &rview),
            };
            let mut sm = Map::new();
            if let Some((i, info)) = x {
                sm.insert("index", Value::from(i));
                sm.insert("checksum", Value::str(info.checksum()));
                if let Some(v) = info.version() {
                    sm.insert("version", Value::Number(v));
                }
                if info.deleted() {
                    sm.insert("deleted", Value::Bool(true));
                }
            }
            let action = self.side_action(
                d,
                side,
                x,
                view.as_ref(),
                snapshot,
                target.as_ref(),
                &mut sm,
            )?;
            sm.insert("action", Value::str(action.as_str()));
            m.insert(side.as_str(), Value::Object(sm));
        }
        if let Some((i, base)) = d.b {
            let mut bm = Map::new();
            bm.insert("index", Value::from(i));
            bm.insert("checksum", Value::str(base.checksum.clone()));
            if let Some(v) = base.version {
                bm.insert("version", Value::Number(v));
            }
            m.insert("base", Value::Object(bm));
        }
        let mut tm = Map::new();
        match (&target, target_checksum) {
            (Some(Some(v)), Some(c)) => {
                let same = d.b.is_some_and(|(_, b)| b.checksum == c);
                tm.insert("action", Value::str(if same { "none" } else { "upsert" }));
                tm.insert("checksum", Value::str(c));
                tm.insert("record", v.clone());
            }
            (Some(None), _) => {
                tm.insert(
                    "action",
                    Value::str(if d.b.is_some() { "delete" } else { "none" }),
                );
            }
            _ => {
                tm.insert("action", Value::str("none"));
            }
        }
        m.insert("target", Value::Object(tm));
        Ok(Value::Object(m))
    }

    #[allow(clippy::too_many_arguments)]
    fn side_action(
        &self,
        d: &Draft<'a, '_>,
        side: Side,
        x: Option<(usize, &'a RecordInfo)>,
        view: Option<&Value>,
        snapshot: Option<&Value>,
        target: Option<&Option<Value>>,
        sm: &mut Map,
    ) -> Result<Action, BuildError> {
        let Some(target) = target else {
            return Ok(Action::None);
        };
        let full_delete = self.cfg.mode() == Mode::Full && self.cfg.delete_missing();
        // Known gone: a tombstone, or absent from a complete listing of a synced id.
        let gone = x.map_or(full_delete && d.b.is_some(), |(_, info)| info.deleted());
        let Some(t) = target else {
            // Deletion: delete where the record exists (or may exist, when not in this batch).
            let exists = !gone && (x.is_some() || d.b.is_some());
            return Ok(if exists { Action::Delete } else { Action::None });
        };
        let current = if gone {
            None
        } else {
            view.or(if x.is_none() { snapshot } else { None })
        };
        let Some(current) = current else {
            if !gone && x.is_none() && d.b.is_some() {
                // Not in this batch and no snapshot: send the whole target as the update.
                let shaped = self.shape(side, t)?;
                sm.insert("patch", self.with_version(side, shaped, x, d)?);
                return Ok(Action::Update);
            }
            // Create: the whole target, in this side's shape, with the id.
            let mut rec = self.shape(side, t)?;
            let id_field = &self.cfg.fields(side).id;
            let id_value = [(d.l, Side::Local), (d.r, Side::Remote)]
                .into_iter()
                .find_map(|(x, s)| {
                    x.and_then(|(i, _)| self.cfg.fields(s).id.get(self.rec(s, i)).cloned())
                })
                .unwrap_or_else(|| Value::str(d.id));
            id_field.set(&mut rec, id_value).map_err(|e| (e, side))?;
            sm.insert("record", rec);
            return Ok(Action::Create);
        };
        // A member whose value is null counts as absent (as in the merge), on both ends: a side
        // that renders an empty field as `null` (OpenProject's `"dueDate": null`) gets no patch
        // "clearing" it, and a field set to null in the target is removed where it has a value.
        let mut from = self.shape(side, current)?;
        let mut to = self.shape(side, t)?;
        patch::remove_nulls(&mut from);
        patch::remove_nulls(&mut to);
        let p = patch::diff(&from, &to);
        if patch::is_noop(&p) {
            return Ok(Action::None);
        }
        if let Some((i, _)) = x {
            sm.insert("record", patch::apply(self.rec(side, i), &p));
        }
        sm.insert("patch", self.with_version(side, p, x, d)?);
        Ok(Action::Update)
    }

    /// Adds the remote version (OpenProject `lockVersion`) to a remote patch.
    fn with_version(
        &self,
        side: Side,
        mut p: Value,
        x: Option<(usize, &'a RecordInfo)>,
        d: &Draft<'a, '_>,
    ) -> Result<Value, BuildError> {
        if side == Side::Remote {
            if let Some(vf) = &self.cfg.fields(Side::Remote).version {
                let v = x
                    .and_then(|(_, i)| i.version())
                    .or_else(|| d.b.and_then(|(_, b)| b.version));
                if let Some(v) = v {
                    vf.set(&mut p, Value::Number(v)).map_err(|e| (e, side))?;
                }
            }
        }
        Ok(p)
    }
}

/// JSON Pointers of the leaves where `a` and `b` differ (objects are compared member by member).
pub fn diff_paths(a: Option<&Value>, b: Option<&Value>, path: &mut String, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    if let (Some(Value::Object(x)), Some(Value::Object(y))) = (a, b) {
        for k in x.union_keys(y) {
            let len = path.len();
            path.push('/');
            path.push_str(&crate::pointer::escape_token(k));
            diff_paths(x.get(k), y.get(k), path, out);
            path.truncate(len);
        }
    } else {
        out.push(path.clone());
    }
}
