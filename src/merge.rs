//! Field-level three-way merge of records (base, local, remote) with per-path strategies.
//!
//! ```
//! use batch_sync::{config::{Side, Strategies, Strategy}, merge::{merge3, MergeOptions}, value::Value};
//! let base = Value::parse(br#"{"subject":"A","status":"New","tags":["x"]}"#).unwrap();
//! let local = Value::parse(br#"{"subject":"B","status":"New"}"#).unwrap();
//! let remote = Value::parse(br#"{"subject":"A","status":"Closed","tags":["x"]}"#).unwrap();
//! let strategies = Strategies::new(Strategy::Merge);
//! let out = merge3(Some(&base), Some(&local), Some(&remote), &MergeOptions::new(&strategies));
//! assert!(out.conflicts().is_empty());
//! assert_eq!(batch_sync::canonical::to_string(out.merged().unwrap()), r#"{"status":"Closed","subject":"B"}"#);
//! ```
//!
//! Rules at each path, with `b`, `l`, `r` the base, local and remote values (absent allowed;
//! an object member whose value is `null` counts as absent, as in RFC 7396):
//! 1. `l == r`: take it (no change, the same change on both sides, or deleted on both).
//! 2. `l == b`: take `r`; `r == b`: take `l` (only one side changed; deletions count).
//! 3. `l` and `r` both objects: merge member by member (a missing base is an empty one).
//! 4. `l` and `r` both arrays at a path configured as keyed: merge elements by key.
//! 5. Otherwise a conflict at this path, resolved by the strategy for the path. An unresolved
//!    conflict keeps the base value in the merged record. Its reason is `both_added` when the
//!    base has no such member and `both_modified` when it has one (a `null` one included).
//!
//! Without a base (two-way), every difference is a conflict with reason `no_base`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};

use crate::config::{Side, Strategies, Strategy};
use crate::pointer::{render, Pointer};
use crate::value::{Map, Value};

/// How a conflict was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The local value was taken.
    Local,
    /// The remote value was taken.
    Remote,
    /// Left for a person; the merged record keeps the base value.
    Unresolved,
}

impl Resolution {
    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Local => "local",
            Resolution::Remote => "remote",
            Resolution::Unresolved => "unresolved",
        }
    }
}

/// Why a path conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Both sides changed the value differently.
    BothModified,
    /// Both sides added the field with different values.
    BothAdded,
    /// Local deleted what remote modified.
    LocalDeleted,
    /// Remote deleted what local modified.
    RemoteDeleted,
    /// The sides disagree on the type (object vs. other).
    TypeChanged,
    /// No base is known, and the sides differ.
    NoBase,
}

impl Reason {
    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BothModified => "both_modified",
            Reason::BothAdded => "both_added",
            Reason::LocalDeleted => "local_deleted",
            Reason::RemoteDeleted => "remote_deleted",
            Reason::TypeChanged => "type_changed",
            Reason::NoBase => "no_base",
        }
    }
}

/// A conflict at one path.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldConflict {
    path: String,
    base: Option<Value>,
    local: Option<Value>,
    remote: Option<Value>,
    reason: Reason,
    resolution: Resolution,
    strategy: Strategy,
}

impl FieldConflict {
    /// JSON Pointer of the conflict in the merged record.
    pub fn path(&self) -> &str {
        &self.path
    }
    /// The reason.
    pub fn reason(&self) -> Reason {
        self.reason
    }
    /// The resolution.
    pub fn resolution(&self) -> Resolution {
        self.resolution
    }
    /// The contract form; an absent value is an absent member.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("path", Value::str(self.path.clone()));
        for (k, v) in [
            ("base", &self.base),
            ("local", &self.local),
            ("remote", &self.remote),
        ] {
            if let Some(v) = v {
                m.insert(k, v.clone());
            }
        }
        m.insert("reason", Value::str(self.reason.as_str()));
        m.insert("resolution", Value::str(self.resolution.as_str()));
        m.insert("strategy", Value::str(self.strategy.as_str()));
        Value::Object(m)
    }
}

/// Merge options.
#[derive(Debug, Clone)]
pub struct MergeOptions<'a> {
    strategies: &'a Strategies,
    arrays: &'a [(Pointer, String)],
    newer: Side,
}

impl<'a> MergeOptions<'a> {
    /// Options with these strategies, atomic arrays, and remote as the newer side.
    pub fn new(strategies: &'a Strategies) -> Self {
        MergeOptions {
            strategies,
            arrays: &[],
            newer: Side::Remote,
        }
    }
    /// Arrays merged element-wise by a key field.
    pub fn arrays(mut self, arrays: &'a [(Pointer, String)]) -> Self {
        self.arrays = arrays;
        self
    }
    /// Which side `newest_wins` takes.
    pub fn newer(mut self, side: Side) -> Self {
        self.newer = side;
        self
    }
}

/// The outcome of a merge.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeOutcome {
    merged: Option<Value>,
    conflicts: Vec<FieldConflict>,
}

impl MergeOutcome {
    /// The merged record (`None`: deleted).
    pub fn merged(&self) -> Option<&Value> {
        self.merged.as_ref()
    }
    /// Conflicts, in path order.
    pub fn conflicts(&self) -> &[FieldConflict] {
        &self.conflicts
    }
    /// True when a conflict is left for a person.
    pub fn is_unresolved(&self) -> bool {
        self.conflicts
            .iter()
            .any(|c| c.resolution == Resolution::Unresolved)
    }
}

struct Ctx<'a> {
    opts: &'a MergeOptions<'a>,
    tokens: Vec<String>,
    conflicts: Vec<FieldConflict>,
    two_way: bool,
    /// Whether the base has the member being merged (even as `null`): a field the base holds
    /// empty that both sides fill differently is `both_modified`, one it never had `both_added`.
    base_member: bool,
}

/// Merges three versions of a record. `base: None` makes it a two-way merge.
pub fn merge3(
    base: Option<&Value>,
    local: Option<&Value>,
    remote: Option<&Value>,
    opts: &MergeOptions<'_>,
) -> MergeOutcome {
    let mut cx = Ctx::new(opts, base.is_none());
    cx.base_member = base.is_some();
    let merged = cx.merge(base, local, remote);
    MergeOutcome {
        merged,
        conflicts: cx.conflicts,
    }
}

/// Resolves a record-level modify/delete conflict (`local` or `remote` is `None`) by the
/// default strategy, with the conflict at the root path `""`.
pub fn merge_deleted(
    base: Option<&Value>,
    local: Option<&Value>,
    remote: Option<&Value>,
    opts: &MergeOptions<'_>,
) -> MergeOutcome {
    let mut cx = Ctx::new(opts, false);
    cx.base_member = base.is_some();
    let merged = cx.conflict(base, local, remote);
    MergeOutcome {
        merged,
        conflicts: cx.conflicts,
    }
}

fn present<'v>(m: Option<&'v Map>, k: &str) -> Option<&'v Value> {
    m.and_then(|m| m.get(k)).filter(|v| !v.is_null())
}

impl<'a> Ctx<'a> {
    fn new(opts: &'a MergeOptions<'a>, two_way: bool) -> Self {
        Ctx {
            opts,
            tokens: Vec::new(),
            conflicts: Vec::new(),
            two_way,
            base_member: false,
        }
    }

    fn merge(&mut self, b: Option<&Value>, l: Option<&Value>, r: Option<&Value>) -> Option<Value> {
        if l == r {
            return l.cloned();
        }
        if !self.two_way {
            if l == b {
                return r.cloned();
            }
            if r == b {
                return l.cloned();
            }
        }
        match (l, r) {
            (Some(Value::Object(lm)), Some(Value::Object(rm))) => {
                let bm = b.and_then(Value::as_object);
                let mut out = Map::new();
                for k in lm.union_keys(rm) {
                    self.tokens.push(k.to_string());
                    self.base_member = bm.is_some_and(|m| m.get(k).is_some());
                    let v = self.merge(present(bm, k), present(Some(lm), k), present(Some(rm), k));
                    self.tokens.pop();
                    if let Some(v) = v {
                        out.insert(k.to_owned(), v);
                    }
                }
                Some(Value::Object(out))
            }
            (Some(Value::Array(la)), Some(Value::Array(ra))) => {
                let key = self
                    .opts
                    .arrays
                    .iter()
                    .find(|(p, _)| p.tokens() == self.tokens.as_slice())
                    .map(|(_, k)| k.clone());
                let keyed = key.and_then(|k| {
                    let ba = match b {
                        Some(Value::Array(a)) => Some(index_by_key(a, &k)?),
                        Some(_) => return None,
                        None => None,
                    };
                    Some((ba, index_by_key(la, &k)?, index_by_key(ra, &k)?))
                });
                match keyed {
                    Some((ba, li, ri)) => Some(self.merge_keyed(ba.as_ref(), &li, &ri)),
                    None => self.conflict(b, l, r),
                }
            }
            _ => self.conflict(b, l, r),
        }
    }

    fn merge_keyed(&mut self, b: Option<&Keyed<'_>>, l: &Keyed<'_>, r: &Keyed<'_>) -> Value {
        let mut order: Vec<&str> = l.order.iter().map(String::as_str).collect();
        order.extend(
            r.order
                .iter()
                .map(String::as_str)
                .filter(|k| !l.by_key.contains_key(*k)),
        );
        let mut out = Vec::with_capacity(order.len());
        for k in order {
            self.tokens.push(out.len().to_string());
            self.base_member = b.and_then(|b| b.get(k)).is_some();
            let v = self.merge(b.and_then(|b| b.get(k)), l.get(k), r.get(k));
            self.tokens.pop();
            out.extend(v);
        }
        Value::Array(out)
    }

    fn conflict(
        &mut self,
        b: Option<&Value>,
        l: Option<&Value>,
        r: Option<&Value>,
    ) -> Option<Value> {
        let is_obj = |v: Option<&Value>| matches!(v, Some(Value::Object(_)));
        let reason = if self.two_way {
            Reason::NoBase
        } else if l.is_none() {
            Reason::LocalDeleted
        } else if r.is_none() {
            Reason::RemoteDeleted
        } else if is_obj(l) != is_obj(r) {
            Reason::TypeChanged
        } else if b.is_none() && !self.base_member {
            Reason::BothAdded
        } else {
            Reason::BothModified
        };
        let strategy = self.strategy();
        let resolution = match strategy {
            Strategy::ServerWins => Resolution::Remote,
            Strategy::ClientWins => Resolution::Local,
            Strategy::NewestWins => match self.opts.newer {
                Side::Local => Resolution::Local,
                Side::Remote => Resolution::Remote,
            },
            Strategy::Manual | Strategy::Merge => Resolution::Unresolved,
        };
        self.conflicts.push(FieldConflict {
            path: render(&self.tokens),
            base: b.cloned(),
            local: l.cloned(),
            remote: r.cloned(),
            reason,
            resolution,
            strategy,
        });
        match resolution {
            Resolution::Local => l.cloned(),
            Resolution::Remote => r.cloned(),
            Resolution::Unresolved => b.cloned(),
        }
    }

    fn strategy(&self) -> Strategy {
        self.opts.strategies.at_tokens(&self.tokens)
    }
}

struct Keyed<'v> {
    order: Vec<String>,
    by_key: HashMap<String, &'v Value, BuildHasherDefault<DefaultHasher>>,
}

impl<'v> Keyed<'v> {
    fn get(&self, k: &str) -> Option<&'v Value> {
        self.by_key.get(k).copied()
    }
}

/// Elements by key, in order; `None` when an element is not an object with a scalar key or a
/// key repeats (the array is then merged as an atomic value).
fn index_by_key<'v>(a: &'v [Value], key: &str) -> Option<Keyed<'v>> {
    let mut out = Keyed {
        order: Vec::with_capacity(a.len()),
        by_key: HashMap::with_capacity_and_hasher(a.len(), Default::default()),
    };
    for el in a {
        let k = match el.get(key)? {
            Value::String(s) => format!("s{s}"),
            n @ Value::Number(_) => format!("n{}", crate::canonical::to_string(n)),
            _ => return None,
        };
        if out.by_key.insert(k.clone(), el).is_some() {
            return None;
        }
        out.order.push(k);
    }
    Some(out)
}
