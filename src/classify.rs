//! Change and conflict classification: exactly one decision per id (or per rejected record).
//!
//! ```
//! use batch_sync::{classify::classify, config::SyncConfig, value::Value};
//! let local = Value::parse(br#"[{"id":1,"subject":"A"},{"id":2,"subject":"new"}]"#).unwrap();
//! let remote = Value::parse(br#"[{"id":1,"subject":"A"}]"#).unwrap();
//! let out = classify(&SyncConfig::default(), local.as_array().unwrap(), remote.as_array().unwrap(), None);
//! let kinds: Vec<_> = out.decisions().iter().map(|d| d.kind().as_str()).collect();
//! assert_eq!(kinds, ["unchanged", "create_remote"]);
//! ```
//!
//! Decisions come out in input order: local records first, then ids seen only remotely, then
//! ids seen only in the base. A record that cannot be read, or whose id is repeated on one side,
//! is `invalid` together with every other record of the same id, so nothing is written for an
//! id that is not fully understood.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

/// Hash maps with fixed keys: no randomness, so WASI hosts need not provide `random_get`.
type Map64<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

use crate::canonical;
use crate::config::{Mode, Side, Strategy, SyncConfig};
use crate::decision::{
    Action, BaseRef, ConflictInfo, ConflictStatus, Decision, Pair, Rejected, SideState, Target,
    TargetAction,
};
use crate::error::{Error, ErrorCode, ItemErrors};
use crate::mapping::Links;
use crate::merge::{merge3, merge_deleted, MergeOptions, Resolution};
use crate::parse::{Parser, HARD_MAX_DEPTH};
use crate::patch;
use crate::record::{self, id_key, RecordInfo};
use crate::value::{Map, Value};

pub use crate::decision::{ConflictType, Kind};

/// Counts of decisions by kind.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    counts: Map64<Kind, usize>,
    conflicts_resolved: usize,
    conflicts_unresolved: usize,
    total: usize,
}

impl Tally {
    fn count(&mut self, d: &Decision) {
        *self.counts.entry(d.kind()).or_insert(0) += 1;
        match d.conflict_status() {
            Some(ConflictStatus::Resolved) => self.conflicts_resolved += 1,
            Some(ConflictStatus::Unresolved) => self.conflicts_unresolved += 1,
            None => {}
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
    decisions: Vec<Decision>,
    tally: Tally,
}

impl Classification {
    /// The decisions.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }
    /// Takes the decisions.
    pub fn into_decisions(self) -> Vec<Decision> {
        self.decisions
    }
    /// The counts by kind.
    pub fn summary(&self) -> Value {
        self.tally.summary()
    }
}

/// A record (or a base snapshot) as classify holds it: parsed, or as the text of a request
/// that is parsed again only for a decision that needs its content.
#[derive(Clone, Copy)]
pub(crate) enum Rec<'a> {
    /// A parsed value.
    Tree(&'a Value),
    /// The value at `start` of `text`, nested at `level` there (see [`Parser::parse_at`]).
    Text {
        text: &'a [u8],
        start: usize,
        level: usize,
    },
    /// The member `key` of the object at `start` of `text`.
    Member {
        text: &'a [u8],
        start: usize,
        level: usize,
        key: &'static str,
    },
}

impl<'a> Rec<'a> {
    /// The value (parsed now for text, by `parser`; text that was read once parses again).
    pub(crate) fn value(self, parser: &Parser) -> Result<Cow<'a, Value>, Error> {
        match self {
            Rec::Tree(v) => Ok(Cow::Borrowed(v)),
            Rec::Text { text, start, level } => parser
                .parse_at(text, start, level)
                .map(|(v, _)| Cow::Owned(v)),
            Rec::Member {
                text,
                start,
                level,
                key,
            } => match parser.parse_at(text, start, level)? {
                (Value::Object(mut m), _) => Ok(Cow::Owned(m.remove(key).unwrap_or(Value::Null))),
                _ => Ok(Cow::Owned(Value::Null)),
            },
        }
    }
}

pub(crate) struct Base<'a> {
    pub(crate) checksum: String,
    pub(crate) version: Option<f64>,
    pub(crate) snapshot: Option<Rec<'a>>,
}

pub(crate) struct Item<'a, T> {
    pub(crate) index: usize,
    pub(crate) rec: Rec<'a>,
    pub(crate) info: Result<T, Error>,
}

/// One side's records read, each with its match key when it has a usable one.
pub(crate) type Read<'a, T> = Vec<(Option<String>, Item<'a, T>)>;

/// The records of one id: the index of the first one on each side (local, remote, base). An
/// id met again on a side has all its indexes listed apart (see `classify_read`).
#[derive(Default)]
struct Group {
    first: [Option<usize>; 3],
    repeated: bool,
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
    /// Parses the records that decisions need, one after another (keeping its interned keys).
    parser: Parser,
}

pub(crate) fn read_base<'a>(cfg: &SyncConfig, v: &'a Value) -> Result<(String, Base<'a>), Error> {
    let m = v.as_object().ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidRecord,
            "base entry must be an object {id, checksum, version, snapshot}",
        )
    })?;
    let snapshot = match m.get("snapshot") {
        None | Some(Value::Null) => Snapshot::Absent,
        Some(s @ Value::Object(_)) => Snapshot::Object(Rec::Tree(s)),
        Some(_) => Snapshot::Other,
    };
    read_base_entry(cfg, m, snapshot, || {
        let s = m.get("snapshot").unwrap_or(&Value::Null);
        let (digest, size, _) = canonical::digest_with(|buf| canonical::write(s, buf));
        (digest, size)
    })
}

/// A base entry's snapshot member, as far as reading the entry needs to know it.
pub(crate) enum Snapshot<'a> {
    /// Absent or null.
    Absent,
    /// An object.
    Object(Rec<'a>),
    /// Anything else (rejected).
    Other,
}

/// Reads a base entry whose members other than the snapshot are in `m`; `digest` gives the
/// snapshot's checksum and canonical size when the entry has no checksum of its own.
pub(crate) fn read_base_entry<'a>(
    cfg: &SyncConfig,
    m: &Map,
    snapshot: Snapshot<'a>,
    digest: impl FnOnce() -> (String, usize),
) -> Result<(String, Base<'a>), Error> {
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
    let snapshot = match snapshot {
        Snapshot::Absent => None,
        // A snapshot is a previous target, checked when it was made; the parser's hard nesting
        // cap still bounds it.
        Snapshot::Object(s) => Some(s),
        Snapshot::Other => {
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
        (None, Some(_)) => {
            let (digest, size) = digest();
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
) -> Read<'a, RecordInfo> {
    recs.iter()
        .enumerate()
        .map(|(index, rec)| {
            let id = cfg.fields(side).id.get(rec).and_then(|v| id_key(v).ok());
            if let Some(e) = rejected.get(side.as_str(), index) {
                return (
                    id,
                    Item {
                        index,
                        rec: Rec::Tree(rec),
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
                    rec: Rec::Tree(rec),
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
    emit: impl FnMut(Decision),
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
    emit: impl FnMut(Decision),
) -> Tally {
    let mut links = Links::default();
    let remote_items = read_side(cfg, Side::Remote, remote, &mut links, rejected);
    let local_items = read_side(cfg, Side::Local, local, &mut links, rejected);
    let base_items: Read<'_, Base<'_>> = base
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
                        rec: Rec::Tree(rec),
                        info: Ok(b),
                    },
                ),
                Err(e) => (
                    rec.get("id").and_then(|v| id_key(v).ok()),
                    Item {
                        index,
                        rec: Rec::Tree(rec),
                        info: Err(e),
                    },
                ),
            }
        })
        .collect();
    classify_read(cfg, links, local_items, remote_items, base_items, emit)
}

/// Classifies records already read (each with its id and what inspecting it gave), in the
/// order of [`classify_each`]; `links` holds what reading the remote records learned.
pub(crate) fn classify_read<'a>(
    cfg: &SyncConfig,
    links: Links,
    local_items: Read<'a, RecordInfo>,
    remote_items: Read<'a, RecordInfo>,
    base_items: Read<'a, Base<'a>>,
    mut emit: impl FnMut(Decision),
) -> Tally {
    let n = local_items.len() + remote_items.len();
    let (local_ids, local): (Vec<_>, Vec<_>) = local_items.into_iter().unzip();
    let (remote_ids, remote): (Vec<_>, Vec<_>) = remote_items.into_iter().unzip();
    let (base_ids, base): (Vec<_>, Vec<_>) = base_items.into_iter().unzip();
    // Ids to groups (in the order ids are first met), and the order of decisions: a group, or
    // a record without an id.
    let mut index: Map64<&str, usize> = Map64::with_capacity_and_hasher(n, Default::default());
    let mut groups: Vec<(&str, Group)> = Vec::with_capacity(n);
    let mut repeated: Map64<usize, [Vec<usize>; 3]> = Map64::default();
    let mut order: Vec<Result<usize, (u8, usize)>> = Vec::with_capacity(n);
    let sides = [(&local_ids, &local), (&remote_ids, &remote)];
    let lists = sides
        .iter()
        .map(|(ids, items)| ids.iter().zip(items.iter().map(|it| it.index)))
        .enumerate()
        .flat_map(|(tag, l)| l.map(move |(id, i)| (tag, id, i)))
        .chain(
            base_ids
                .iter()
                .zip(base.iter().map(|it| it.index))
                .map(|(id, i)| (2, id, i)),
        );
    for (tag, id, i) in lists {
        let Some(id) = id else {
            order.push(Err((tag as u8, i)));
            continue;
        };
        let g = *index.entry(id.as_str()).or_insert_with(|| {
            order.push(Ok(groups.len()));
            groups.push((id.as_str(), Group::default()));
            groups.len() - 1
        });
        let group = &mut groups[g].1;
        if group.first[tag].is_none() && !group.repeated {
            group.first[tag] = Some(i);
        } else {
            group.repeated = true;
            let all = repeated
                .entry(g)
                .or_insert_with(|| group.first.map(|f| f.into_iter().collect()));
            all[tag].push(i);
        }
    }
    drop(index);

    let cx = Ctx {
        cfg,
        links,
        local,
        remote,
        base,
        parser: Parser::new(HARD_MAX_DEPTH),
    };
    let mut tally = Tally::default();
    let mut push = |d: Decision| {
        tally.count(&d);
        emit(d);
    };
    for entry in order {
        match entry {
            Err((tag, i)) => {
                let err = cx.error_of(tag, i);
                push(cx.invalid(None, tag, i, err));
            }
            Ok(g) => {
                let (id, group) = &groups[g];
                let lists = match repeated.get(&g) {
                    Some(all) => [&all[0][..], &all[1][..], &all[2][..]],
                    None => group.first.each_ref().map(Option::as_slice),
                };
                for d in cx.decide_group(id, lists) {
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

    fn invalid(&self, id: Option<&str>, tag: u8, i: usize, err: Error) -> Decision {
        let side = SIDE_NAMES[tag as usize];
        let err = err
            .within(&format!("/{side}/{i}"))
            .context(&format!("classify: {side}[{i}]"));
        Decision::Invalid(Rejected {
            id: id.map(str::to_owned),
            side: side.to_owned(),
            index: i,
            error: err.to_value(),
        })
    }

    /// The decisions for one id, whose records are at these indexes of each side (local,
    /// remote, base).
    fn decide_group(&self, id: &str, lists: [&[usize]; 3]) -> Vec<Decision> {
        let members: Vec<(u8, usize)> = (0u8..)
            .zip(lists)
            .flat_map(|(t, l)| l.iter().map(move |&i| (t, i)))
            .collect();
        // Repeated ids: every record of the id is rejected.
        let dup = lists.into_iter().zip(0usize..).find(|(v, _)| v.len() > 1);
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
        let [local, remote, base] = lists;
        let l = local
            .first()
            .and_then(|&i| self.local[i].info.as_ref().ok().map(|x| (i, x)));
        let r = remote
            .first()
            .and_then(|&i| self.remote[i].info.as_ref().ok().map(|x| (i, x)));
        let b = base
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
    ) -> Decision {
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

type BuildError = (Error, Side);

/// The contents of a decision's records and base snapshot, read when first needed (records
/// kept as text are parsed then, once per decision).
struct Contents<'a, 'p> {
    parser: &'p Parser,
    recs: [Option<Rec<'a>>; 3],
    read: [OnceCell<Cow<'a, Value>>; 3],
}

impl<'a> Contents<'a, '_> {
    fn get(&self, k: usize, side: Side) -> Result<Option<&Value>, BuildError> {
        let Some(rec) = self.recs[k] else {
            return Ok(None);
        };
        if let Some(v) = self.read[k].get() {
            return Ok(Some(v));
        }
        let v = rec.value(self.parser).map_err(|e| (e, side))?;
        Ok(Some(self.read[k].get_or_init(|| v)))
    }

    /// The record of a side that is in the batch.
    fn rec(&self, side: Side) -> Result<&Value, BuildError> {
        let k = if side == Side::Local { 0 } else { 1 };
        self.get(k, side)?.ok_or_else(|| {
            (
                Error::new(ErrorCode::InvalidRecord, "record not in the batch"),
                side,
            )
        })
    }

    fn snapshot(&self) -> Result<Option<&Value>, BuildError> {
        self.get(2, Side::Local)
    }
}

impl<'a> Ctx<'a> {
    fn contents(&self, d: &Draft<'a, '_>) -> Contents<'a, '_> {
        Contents {
            parser: &self.parser,
            recs: [
                d.l.map(|(i, _)| self.local[i].rec),
                d.r.map(|(i, _)| self.remote[i].rec),
                d.b.and_then(|(_, b)| b.snapshot),
            ],
            read: Default::default(),
        }
    }

    fn view(&self, c: &Contents<'a, '_>, side: Side) -> Result<Value, BuildError> {
        record::view(self.cfg, side, c.rec(side)?, None).map_err(|e| (e, side))
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

    fn build(&self, d: &Draft<'a, '_>, outcome: Outcome) -> Result<Decision, BuildError> {
        let reconcile = self.cfg.mode() == Mode::Reconciliation;
        // Views are built only where something may be written or reported.
        // (Unchanged pairs without a base are quiet too when no base is seeded from them.)
        let quiet = match outcome {
            Outcome::Kind(Kind::Unchanged) => d.b.is_some() || !self.cfg.seed_base(),
            Outcome::Kind(Kind::DeleteLocal | Kind::DeleteRemote) => d.b.is_some(),
            _ => false,
        };
        let need = reconcile || !quiet;
        let c = self.contents(d);
        let lview =
            d.l.filter(|(_, x)| need && !x.deleted())
                .map(|_| self.view(&c, Side::Local))
                .transpose()?;
        let rview =
            d.r.filter(|(_, x)| need && !x.deleted())
                .map(|_| self.view(&c, Side::Remote))
                .transpose()?;
        // A quiet decision stores and writes nothing: its snapshot is not read.
        let snapshot = if need { c.snapshot()? } else { None };
        // target: Some(Some(v)) upsert v; Some(None) delete; None nothing to store.
        let mut conflict = None;
        let mut conflicts = Vec::new();
        // Paths a person must decide: each side keeps its own value there.
        let mut held: Vec<String> = Vec::new();
        let (kind, target): (Kind, Option<Option<Value>>) = match outcome {
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
                (k, t)
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
                let unresolved = out.is_unresolved() || manual;
                // An unresolved conflict at some paths does not hold back the others: with a
                // base, the fields merged cleanly are written to both sides and stored, while
                // each side keeps its own value at the paths left for a person (the stored
                // record keeps the base's there, so the conflict is seen again until settled).
                // Without a base, or for a record deleted on one side, nothing is written.
                let partial = !manual
                    && snapshot.is_some()
                    && ct == ConflictType::ConcurrentModification
                    && out.merged().is_some();
                let target = if !unresolved || partial {
                    Some(out.merged().cloned())
                } else {
                    None
                };
                if out.is_unresolved() && partial {
                    held = out
                        .conflicts()
                        .iter()
                        .filter(|c| c.resolution() == Resolution::Unresolved)
                        .map(|c| c.path().to_owned())
                        .collect();
                }
                conflict = Some(ConflictInfo {
                    kind: ct,
                    strategy: strategies.default_strategy(),
                    status: if unresolved {
                        ConflictStatus::Unresolved
                    } else {
                        ConflictStatus::Resolved
                    },
                });
                conflicts = out.conflicts().iter().map(|c| c.to_value()).collect();
                (Kind::Conflict, target)
            }
        };
        let differences = match (reconcile, &lview, &rview) {
            (true, Some(a), Some(b)) => {
                let mut paths = Vec::new();
                diff_paths(Some(a), Some(b), &mut String::new(), &mut paths);
                Some(paths)
            }
            _ => None,
        };
        let mut target = if reconcile { None } else { target };
        if let (Some(Some(t)), Some(m)) = (&mut target, self.cfg.mapping()) {
            // Merged records lack the fields both sides left empty: in the common shape every
            // mapped field exists (null when empty), as in the views.
            m.complete(t).map_err(|e| (e, Side::Local))?;
        }
        let target_checksum = match &target {
            // A target that is one side's view has that side's checksum (of the same view).
            Some(Some(v)) => Some(
                [(d.l, &lview), (d.r, &rview)]
                    .into_iter()
                    .find_map(|(x, view)| match (x, view) {
                        (Some((_, info)), Some(view))
                            if info.checksum().len() == 64 && view == v =>
                        {
                            Some(info.checksum().to_owned())
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| canonical::sha256_hex(v)),
            ),
            _ => None,
        };
        // Per-side actions.
        let mut sides = [SideState::none(), SideState::none()];
        for (k, side) in [Side::Local, Side::Remote].into_iter().enumerate() {
            let (x, view) = match side {
                Side::Local => (d.l, &lview),
                Side::Remote => (d.r, &rview),
            };
            let st = &mut sides[k];
            if let Some((i, info)) = x {
                st.index = Some(i);
                st.checksum = Some(info.checksum().to_owned());
                st.version = info.version();
                st.deleted = info.deleted();
            }
            st.action = self.side_action(
                d,
                &c,
                side,
                x,
                view.as_ref(),
                snapshot,
                target.as_ref(),
                &held,
                st,
            )?;
        }
        let [mut local, mut remote] = sides;
        // A lean unchanged decision names no checksum (see `SyncConfig::lean_unchanged`).
        let lean = kind == Kind::Unchanged && self.cfg.lean_unchanged();
        if lean {
            local.checksum = None;
            remote.checksum = None;
        }
        let base = d.b.map(|(i, b)| BaseRef {
            index: i,
            checksum: (!lean).then(|| b.checksum.clone()),
            version: b.version,
        });
        let target = match (target, target_checksum) {
            (Some(Some(v)), Some(c)) => {
                let same = d.b.is_some_and(|(_, b)| b.checksum == c);
                Target {
                    action: if same {
                        TargetAction::None
                    } else {
                        TargetAction::Upsert
                    },
                    checksum: Some(c),
                    record: Some(v),
                }
            }
            (Some(None), _) => Target {
                action: if d.b.is_some() {
                    TargetAction::Delete
                } else {
                    TargetAction::None
                },
                checksum: None,
                record: None,
            },
            _ => Target {
                action: TargetAction::None,
                checksum: None,
                record: None,
            },
        };
        Ok(Decision::Pair(Pair {
            id: d.id.to_owned(),
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

    #[allow(clippy::too_many_arguments)]
    fn side_action(
        &self,
        d: &Draft<'a, '_>,
        c: &Contents<'a, '_>,
        side: Side,
        x: Option<(usize, &'a RecordInfo)>,
        view: Option<&Value>,
        snapshot: Option<&Value>,
        target: Option<&Option<Value>>,
        held: &[String],
        st: &mut SideState,
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
                st.patch = Some(self.with_version(side, shaped, x, d)?);
                return Ok(Action::Update);
            }
            // Create: the whole target, in this side's shape, with the id; empty fields are
            // left out (a new record has no value there anyway).
            let mut rec = self.shape(side, t)?;
            patch::remove_nulls(&mut rec);
            let id_field = &self.cfg.fields(side).id;
            let mut id_value = None;
            for (x, s) in [(d.l, Side::Local), (d.r, Side::Remote)] {
                if x.is_some() {
                    id_value = self.cfg.fields(s).id.get(c.rec(s)?).cloned();
                    if id_value.is_some() {
                        break;
                    }
                }
            }
            let id_value = id_value.unwrap_or_else(|| Value::str(d.id));
            id_field.set(&mut rec, id_value).map_err(|e| (e, side))?;
            st.record = Some(rec);
            return Ok(Action::Create);
        };
        let p = side_patch(self.cfg, side, &self.links, current, t, held).map_err(|e| (e, side))?;
        if patch::is_noop(&p) {
            return Ok(Action::None);
        }
        if x.is_some() {
            st.record = Some(patch::apply(c.rec(side)?, &p));
        }
        st.patch = Some(self.with_version(side, p, x, d)?);
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

/// The RFC 7396 patch that takes a side from `current` to `target` (both common views), in that
/// side's shape. A member whose value is null counts as absent on both ends (as in the merge):
/// a side that renders an empty field as `null` (OpenProject's `"dueDate": null`) gets no patch
/// "clearing" it, and a field emptied in the target is removed where it has a value. At the
/// `held` paths (conflicts left for a person) the side keeps its own value. Classify and the
/// `merge` op build every side patch here.
pub fn side_patch(
    cfg: &SyncConfig,
    side: Side,
    links: &Links,
    current: &Value,
    target: &Value,
    held: &[String],
) -> Result<Value, Error> {
    let shape = |v: &Value| match cfg.mapping() {
        Some(m) => m.from_common(side, v, links),
        None => Ok(v.clone()),
    };
    let mut to_common;
    let target = if held.is_empty() {
        target
    } else {
        to_common = target.clone();
        for p in held {
            let ptr = crate::pointer::Pointer::parse(p)?;
            match ptr.get(current) {
                Some(v) => ptr.set(&mut to_common, v.clone())?,
                None => {
                    ptr.remove(&mut to_common);
                }
            }
        }
        &to_common
    };
    let mut from = shape(current)?;
    let mut to = shape(target)?;
    patch::remove_nulls(&mut from);
    patch::remove_nulls(&mut to);
    Ok(patch::diff(&from, &to))
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
