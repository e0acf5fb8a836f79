//! A classify request read straight from its text: each record is checked and checksummed
//! where it lies, and parsed into a tree only when a decision needs its content.
//!
//! ```
//! use batch_sync::{contract, lazy};
//! let req = br#"{"op":"classify","local":[{"id":1,"s":"a"},{"id":2}],"remote":[{"s":"a","id":1}]}"#;
//! let out = lazy::respond(req).expect("read from its text");
//! assert_eq!(out, contract::call_parsed(req)); // the same bytes as a parse of the whole request
//! // A request this reader does not settle is left to the whole parse:
//! assert_eq!(lazy::respond(br#"{"op":"classify","local":[1,]}"#), None);
//! ```
//!
//! [`contract::call`](crate::contract::call) tries this reader first. It answers only what it
//! can answer exactly as a parse of the whole request would (the same decisions, errors and
//! bytes), and returns `None` at the first doubt: text that is not JSON, a member it does not
//! know or that repeats, a request-level error of any kind, or `op`/`config` after the record
//! arrays (it needs the configuration before it reads a record). The whole parse then answers.
//!
//! Records whose view is the record minus some top-level members (no mapping) are never built
//! as trees to be checksummed: [`canon_text`](crate::canon_text) writes their canonical bytes
//! from the text. Any other record, and any record that walk does not settle, is parsed on its
//! own, read and dropped. Either way only its place in the text and what inspecting it gave are
//! kept, so the batch never exists as one tree.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher};

use sha2::Digest;

use crate::canon_text::{self, Stop, Walker};
use crate::canonical;
use crate::classify::{self, Base, Item, Read, Rec, Snapshot};
use crate::config::{Side, SyncConfig};
use crate::error::Error;
use crate::mapping::Links;
use crate::parse::{Parser, HARD_MAX_DEPTH};
use crate::record::{self, id_key, RecordInfo};
use crate::sha256x4;
use crate::value::{Key, Map, Value};

/// Hash maps and sets with fixed keys: no randomness, so WASI hosts need not provide
/// `random_get`.
type Fixed = BuildHasherDefault<DefaultHasher>;

/// Where some bytes lie: from, to.
type Span = (usize, usize);

/// Records sit in an array that is a member of the request: at this nesting.
const RECORD_LEVEL: usize = 2;

/// Answers a classify request from its text, or `None` when only a parse of the whole request
/// can answer it exactly (see the module documentation).
pub fn respond(text: &[u8]) -> Option<Vec<u8>> {
    respond_with(text, false)
}

/// [`respond`] for a request body whose op is given apart, as classify (the CLI's `classify`
/// command): an `op` member of the body is replaced, as [`crate::contract::call_op`] does.
pub fn respond_classify(text: &[u8]) -> Option<Vec<u8>> {
    respond_with(text, true)
}

fn respond_with(text: &[u8], op_given: bool) -> Option<Vec<u8>> {
    if text.len() > crate::contract::MAX_REQUEST_BYTES {
        return None;
    }
    let mut r = Reader {
        text,
        cfg: SyncConfig::default(),
        config_seen: false,
        records_seen: false,
        prepared: false,
        deferred_base: None,
        op_given,
        op_seen: op_given,
        walker: Walker::new(text, false),
        parser: Parser::new(HARD_MAX_DEPTH),
        out: Vec::new(),
        views: Default::default(),
        pending: Vec::new(),
        base_pending: Vec::new(),
        links: Links::default(),
        skips: [None, None],
        twins: false,
        field_keys: Default::default(),
        first_side: None,
        first_spans: Vec::new(),
        by_hash: None,
        misaligned: false,
        defer: false,
        deferred: Vec::new(),
        base_ids: None,
        twin_links: Vec::new(),
        local: None,
        remote: None,
        base: None,
    };
    r.request()?;
    let (local, remote) = (r.local.take()?, r.remote.take()?);
    let base = r.base.take().unwrap_or_default();
    let max = r.cfg.limits().max_batch;
    if local.len() > max || remote.len() > max || base.len() > max {
        return None;
    }
    let n = local.len().max(remote.len());
    Some(crate::contract::classify_response(n, text.len(), |emit| {
        classify::classify_read(&r.cfg, r.links, local, remote, base, emit)
    }))
}

struct Reader<'t> {
    text: &'t [u8],
    cfg: SyncConfig,
    config_seen: bool,
    records_seen: bool,
    prepared: bool,
    /// Where the base array starts and ends, when it came before the configuration.
    deferred_base: Option<(usize, usize)>,
    /// The op was given apart: an `op` member is replaced, whatever it holds.
    op_given: bool,
    op_seen: bool,
    walker: Walker<'t>,
    parser: Parser,
    /// Canonical bytes of the record being read.
    out: Vec<u8>,
    /// Views of records read whose checksums are still to be computed, and where those
    /// records are in the side being read.
    views: [Vec<u8>; 4],
    pending: Vec<usize>,
    /// Base entries whose snapshot checksum is still to be computed: where each is in the
    /// base, and where its snapshot's canonical bytes lie in its view in `views`.
    base_pending: Vec<(usize, Span)>,
    links: Links,
    /// Per side (local, remote): the members its view leaves out, when its records can be
    /// checksummed from their text.
    skips: [Option<Vec<String>>; 2],
    /// Both sides' views are the same function of a record's text (same fields, same members
    /// left out): a record whose text equals one of the other side's has that one's info.
    twins: bool,
    /// Per side: the names of the members its fields are (id, version, updated-at, deleted).
    field_keys: [Vec<Key>; 2],
    /// The side whose records were read first.
    first_side: Option<Side>,
    /// Where each record of that side lies, for those checksummed from their text.
    first_spans: Vec<Option<(usize, usize)>>,
    /// With lean unchanged decisions and twins: the checksums of the side read first are put
    /// off (`deferred`: where those records are in it), and each twin found is noted (where it
    /// is in its side, where its record is in the first).
    defer: bool,
    deferred: Vec<usize>,
    /// The ids of the base entries (when the base was read before the sides).
    base_ids: Option<HashSet<String, Fixed>>,
    twin_links: Vec<(usize, usize)>,
    /// Those records by a hash of their text (made when first needed).
    by_hash: Option<HashMap<u64, usize, Fixed>>,
    /// A record of the side read second did not have the id of the first side's record at its
    /// index: twins are then looked for at any index (by `by_hash`), not only at the same one.
    misaligned: bool,
    local: Option<Read<'t, RecordInfo>>,
    remote: Option<Read<'t, RecordInfo>>,
    base: Option<Read<'t, Base<'t>>>,
}

/// A member of the request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Member {
    Op,
    Contract,
    Config,
    Local,
    Remote,
    Base,
}

impl<'t> Reader<'t> {
    fn ws(&self, i: usize) -> usize {
        self.walker.ws(i)
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.text.get(i).copied()
    }

    /// Reads the request object; `None` at the first doubt.
    fn request(&mut self) -> Option<()> {
        let mut i = self.ws(0);
        if self.at(i) != Some(b'{') {
            return None;
        }
        i = self.ws(i + 1);
        let mut seen: Vec<Member> = Vec::new();
        loop {
            let member = self.member_key(i)?;
            if seen.contains(&member.0) {
                return None;
            }
            seen.push(member.0);
            i = self.ws(member.1);
            if self.at(i) != Some(b':') {
                return None;
            }
            i = self.member(member.0, self.ws(i + 1))?;
            i = self.ws(i);
            match self.at(i) {
                Some(b',') => i = self.ws(i + 1),
                Some(b'}') => break,
                _ => return None,
            }
        }
        if self.ws(i + 1) != self.text.len() || !self.op_seen {
            return None;
        }
        if let Some((at, end)) = self.deferred_base.take() {
            // The configuration is known now (given, or the default).
            self.config_seen = true;
            if self.member(Member::Base, at)? != end {
                return None;
            }
        }
        self.hash_deferred()
    }

    /// The member named by the key at `i`, and the offset past the key.
    fn member_key(&self, i: usize) -> Option<(Member, usize)> {
        if self.at(i) != Some(b'"') {
            return None;
        }
        let rest = self.text.get(i + 1..)?;
        let end = rest.iter().position(|&c| c == b'"' || c == b'\\')?;
        if rest[end] != b'"' {
            return None;
        }
        let m = match &rest[..end] {
            b"op" => Member::Op,
            b"contract" => Member::Contract,
            b"config" => Member::Config,
            b"local" => Member::Local,
            b"remote" => Member::Remote,
            b"base" => Member::Base,
            _ => return None,
        };
        Some((m, i + end + 2))
    }

    /// Reads a member's value at `i`; returns the offset past it.
    fn member(&mut self, m: Member, i: usize) -> Option<usize> {
        match m {
            Member::Op | Member::Contract | Member::Config => {
                let (v, end) = self.parser.parse_at(self.text, i, 1).ok()?;
                match m {
                    Member::Op => {
                        if !self.op_given && v.as_str() != Some("classify") {
                            return None;
                        }
                        self.op_seen = true;
                    }
                    Member::Contract => {
                        let version = f64::from(crate::contract::CONTRACT_VERSION);
                        if v.as_f64() != Some(version) {
                            return None;
                        }
                    }
                    _ => {
                        if self.records_seen {
                            return None;
                        }
                        self.cfg = SyncConfig::from_value(&v).ok()?;
                        self.config_seen = true;
                    }
                }
                Some(end)
            }
            Member::Base if self.text.get(i..i + 4) == Some(b"null") => {
                self.base = Some(Vec::new());
                Some(i + 4)
            }
            Member::Base if !self.config_seen => {
                // Canonical order puts `base` before `config`: its entries are read once the
                // configuration is known (their checks depend on it), at the end. Until then
                // only its end is found (the reading at the end must agree, or the whole parse
                // answers).
                let end = canon_text::container_end(self.text, i)?;
                self.deferred_base = Some((i, end));
                Some(end)
            }
            Member::Local | Member::Remote | Member::Base => {
                self.records_seen = true;
                self.prepare();
                self.array(m, i)
            }
        }
    }

    /// Sets up the reading of records under the configuration (once it is known).
    fn prepare(&mut self) {
        if self.prepared {
            return;
        }
        self.prepared = true;
        self.walker = Walker::new(self.text, self.cfg.limits().reject_nul);
        self.skips = [
            record::skipped_members(&self.cfg, Side::Local),
            record::skipped_members(&self.cfg, Side::Remote),
        ];
        self.twins = self.skips[0].is_some()
            && self.skips[0] == self.skips[1]
            && self.cfg.fields(Side::Local) == self.cfg.fields(Side::Remote);
        self.defer = self.twins && self.cfg.lean_unchanged();
        for (k, side) in [Side::Local, Side::Remote].into_iter().enumerate() {
            let f = self.cfg.fields(side);
            let fields = [
                Some(&f.id),
                f.version.as_ref(),
                f.updated_at.as_ref(),
                f.deleted.as_ref(),
            ];
            self.field_keys[k] = fields
                .into_iter()
                .flatten()
                .filter_map(|p| match p.tokens() {
                    [t] => Some(Key::from(t.as_str())),
                    _ => None,
                })
                .collect();
        }
    }

    /// Reads a record array at `i` into its side; returns the offset past it.
    fn array(&mut self, m: Member, i: usize) -> Option<usize> {
        if self.at(i) != Some(b'[') {
            return None;
        }
        let mut records = Vec::new();
        let mut bases = Vec::new();
        let mut i = self.ws(i + 1);
        if self.at(i) == Some(b']') {
            i += 1;
        } else {
            loop {
                let start = self.ws(i);
                let end = match m {
                    Member::Local => {
                        self.record(Side::Local, records.len(), start, &mut records)?
                    }
                    Member::Remote => {
                        self.record(Side::Remote, records.len(), start, &mut records)?
                    }
                    _ => self.base_entry(bases.len(), start, &mut bases)?,
                };
                i = self.ws(end);
                match self.at(i) {
                    Some(b',') => i += 1,
                    Some(b']') => {
                        i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.hash_pending(&mut records);
        self.hash_base_pending(&mut bases);
        match m {
            Member::Local => self.local = Some(records),
            Member::Remote => self.remote = Some(records),
            _ => self.base = Some(bases),
        }
        Some(i)
    }

    /// A record read, with its match key, its index in its side, where it starts, and what
    /// reading it gave.
    fn item<T>(
        &self,
        id: Option<String>,
        index: usize,
        start: usize,
        info: Result<T, Error>,
    ) -> (Option<String>, Item<'t, T>) {
        let rec = self.rec(start, RECORD_LEVEL);
        (id, Item { index, rec, info })
    }

    fn rec(&self, start: usize, level: usize) -> Rec<'t> {
        Rec::Text {
            text: self.text,
            start,
            level,
        }
    }

    /// Reads the record at `start`; returns the offset past it.
    fn record(
        &mut self,
        side: Side,
        index: usize,
        start: usize,
        into: &mut Read<'t, RecordInfo>,
    ) -> Option<usize> {
        let k = if side == Side::Local { 0 } else { 1 };
        if self.first_side.is_none() {
            self.first_side = Some(side);
        }
        let first = self.first_side == Some(side);
        if !first && self.twins {
            if let Some((j, info, end)) = self.twin(index, start) {
                if self.defer {
                    self.twin_links.push((into.len(), j));
                }
                let id = info.id().to_owned();
                into.push(self.item(Some(id), index, start, Ok(info)));
                return Some(end);
            }
        }
        if first {
            self.first_spans.push(None);
        }
        if let Some(skip) = &self.skips[k] {
            self.out.clear();
            // A record of the side read first whose checksum is put off, with no base entry to
            // be compared with: its canonical bytes are only measured now (and written by
            // `hash_deferred` if its pair needs its checksum).
            let measure = first && self.defer && self.base.as_ref().is_none_or(Vec::is_empty);
            let walked = if measure {
                let mut count = canonical::Counter::default();
                self.walker
                    .record(start, RECORD_LEVEL, skip, &mut count)
                    .map(|w| (w, count.0))
            } else {
                self.walker
                    .record(start, RECORD_LEVEL, skip, &mut self.out)
                    .map(|w| (w, self.out.len()))
            };
            match walked {
                Ok((w, len)) => {
                    if let Some(info) = self.info_from_text(side, w.depth, len) {
                        if first {
                            if let Some(span) = self.first_spans.last_mut() {
                                *span = Some((start, w.end));
                            }
                        }
                        let id = info.id().to_owned();
                        if !first {
                            self.note_alignment(index, Some(&id));
                        }
                        // A record with a base entry is compared with it: hashed now (known when
                        // the base came first, as the node sends it). A measured record has none.
                        let put_off = measure || (first && self.defer && !self.in_base(&id));
                        into.push(self.item(Some(id), index, start, Ok(info)));
                        if put_off {
                            // Hashed at the end if its pair needs a checksum (`hash_deferred`).
                            self.deferred.push(into.len() - 1);
                            return Some(w.end);
                        }
                        // Its checksum comes with three others' (see `hash_pending`).
                        let slot = self.pending.len();
                        std::mem::swap(&mut self.out, &mut self.views[slot]);
                        self.pending.push(into.len() - 1);
                        if self.pending.len() == self.views.len() {
                            self.hash_pending(into);
                        }
                        return Some(w.end);
                    }
                }
                Err(Stop::Invalid) => return None,
                Err(Stop::Tree) => {}
            }
        }
        let (v, end, soft) = self.parse(start)?;
        let id = self
            .cfg
            .fields(side)
            .id
            .get(&v)
            .and_then(|x| id_key(x).ok());
        if !first {
            self.note_alignment(index, id.as_deref());
        }
        let info = match soft {
            Some(e) => Err(e),
            None => {
                let learn = (side == Side::Remote).then_some(&mut self.links);
                record::inspect(&self.cfg, side, &v, learn)
            }
        };
        into.push(self.item(id, index, start, info));
        Some(end)
    }

    /// The info of a record of the side read first whose text is this record's text, byte
    /// for byte (then so is everything read from it: both sides' views are the same function
    /// of the text), and the offset past this record. The record at the same index is tried
    /// first (sides listed in the same order), then any, by a hash of the text.
    fn twin(&mut self, index: usize, start: usize) -> Option<(usize, RecordInfo, usize)> {
        let text = self.text;
        let info_of = |items: &Read<'t, RecordInfo>, j: usize| -> Option<RecordInfo> {
            items.get(j)?.1.info.as_ref().ok().cloned()
        };
        let items = match self.first_side? {
            Side::Local => self.local.as_ref()?,
            Side::Remote => self.remote.as_ref()?,
        };
        if let Some(&Some((s, e))) = self.first_spans.get(index) {
            let here = text.get(start..start + (e - s)).unwrap_or_default();
            if canon_text::same_bytes(here, &text[s..e]) {
                return Some((index, info_of(items, index)?, start + (e - s)));
            }
        }
        if !self.misaligned {
            // Sides listed in the same order so far: a record that is not its counterpart's
            // twin is no other record's either (not looked for, it is read).
            return None;
        }
        let end = canon_text::container_end(text, start)?;
        let spans = &self.first_spans;
        let by_hash = self.by_hash.get_or_insert_with(|| {
            let mut m = HashMap::with_capacity_and_hasher(spans.len(), Default::default());
            for (j, span) in spans.iter().enumerate() {
                if let Some((s, e)) = *span {
                    m.entry(canon_text::twin_hash(&text[s..e])).or_insert(j);
                }
            }
            m
        });
        let &j = by_hash.get(&canon_text::twin_hash(&text[start..end]))?;
        let (s, e) = self.first_spans.get(j).copied().flatten()?;
        if !canon_text::same_bytes(&text[s..e], &text[start..end]) {
            return None;
        }
        Some((j, info_of(items, j)?, end))
    }

    /// Notes whether this record of the side read second has the id of the first side's record
    /// at its index; from the first that does not, twins are looked for at any index.
    fn note_alignment(&mut self, index: usize, id: Option<&str>) {
        if self.misaligned {
            return;
        }
        let first = match self.first_side {
            Some(Side::Local) => self.local.as_ref(),
            Some(Side::Remote) => self.remote.as_ref(),
            None => None,
        };
        let counterpart = first
            .and_then(|f| f.get(index))
            .map(|(id, _)| id.as_deref());
        if counterpart != Some(id) {
            self.misaligned = true;
        }
    }

    /// Whether the base array, already read, has an entry of this id.
    fn in_base(&mut self, id: &str) -> bool {
        let Some(base) = &self.base else {
            return false;
        };
        let ids = self
            .base_ids
            .get_or_insert_with(|| base.iter().filter_map(|(id, _)| id.clone()).collect());
        ids.contains(id)
    }

    /// With lean unchanged decisions: hashes the records of the side read first whose checksum
    /// was put off, except those with a twin and no base entry (their pair is unchanged and its
    /// decision names no checksum), and gives each twin its record's checksum.
    fn hash_deferred(&mut self) -> Option<()> {
        if self.deferred.is_empty() {
            return Some(());
        }
        let first = self.first_side?;
        let mut first_items = match first {
            Side::Local => self.local.take()?,
            Side::Remote => self.remote.take()?,
        };
        let based: HashSet<String, Fixed> = self
            .base
            .iter()
            .flatten()
            .filter_map(|(id, _)| id.clone())
            .collect();
        let twinned: HashSet<usize, Fixed> = self.twin_links.iter().map(|&(_, j)| j).collect();
        let k = if first == Side::Local { 0 } else { 1 };
        let skip = self.skips[k].take()?;
        for i in std::mem::take(&mut self.deferred) {
            let (id, item) = first_items.get(i)?;
            if twinned.contains(&i) && !id.as_ref().is_some_and(|id| based.contains(id)) {
                continue;
            }
            let Rec::Text { start, .. } = item.rec else {
                return None;
            };
            self.out.clear();
            self.walker
                .record(start, RECORD_LEVEL, &skip, &mut self.out)
                .ok()?;
            let slot = self.pending.len();
            std::mem::swap(&mut self.out, &mut self.views[slot]);
            self.pending.push(i);
            if self.pending.len() == self.views.len() {
                self.hash_pending(&mut first_items);
            }
        }
        self.hash_pending(&mut first_items);
        self.skips[k] = Some(skip);
        let second = match first {
            Side::Local => self.remote.as_mut()?,
            Side::Remote => self.local.as_mut()?,
        };
        for &(t, j) in &self.twin_links {
            let sum = first_items
                .get(j)?
                .1
                .info
                .as_ref()
                .ok()?
                .checksum()
                .to_owned();
            if let Some(Ok(info)) = second.get_mut(t).map(|x| &mut x.1.info) {
                info.set_checksum(sum);
            }
        }
        match first {
            Side::Local => self.local = Some(first_items),
            Side::Remote => self.remote = Some(first_items),
        }
        Some(())
    }

    /// Sets the checksums of the records whose views wait in `views`: four at a time, SHA-256
    /// runs on four messages at once (see [`crate::sha256x4`]).
    fn hash_pending(&mut self, into: &mut Read<'t, RecordInfo>) {
        let spans = self.views[..self.pending.len()]
            .iter()
            .map(|v| (0, v.len()));
        let digests = digests(&self.views, spans);
        for (&i, d) in self.pending.iter().zip(digests) {
            if let Some(Ok(info)) = into.get_mut(i).map(|x| &mut x.1.info) {
                info.set_checksum(canonical::hex(&d));
            }
        }
        self.pending.clear();
    }

    /// Sets the checksums of the base entries whose snapshots wait in `views`, four at a time
    /// as [`Reader::hash_pending`] does.
    fn hash_base_pending(&mut self, into: &mut Read<'t, Base<'t>>) {
        let digests = digests(&self.views, self.base_pending.iter().map(|&(_, span)| span));
        for (&(i, _), d) in self.base_pending.iter().zip(digests) {
            if let Some(Ok(base)) = into.get_mut(i).map(|x| &mut x.1.info) {
                base.checksum = canonical::hex(&d);
            }
        }
        self.base_pending.clear();
    }

    /// A record's info from the walk just made (its canonical view `len` bytes long, its
    /// top-level members in the walker; the checksum is left to [`Reader::hash_pending`]), or
    /// `None` for anything the tree path must report.
    fn info_from_text(&self, side: Side, depth: usize, len: usize) -> Option<RecordInfo> {
        let limits = self.cfg.limits();
        if depth > limits.max_depth || len > limits.max_record_bytes {
            return None;
        }
        let wanted = &self.field_keys[if side == Side::Local { 0 } else { 1 }];
        let mut fields = Map::new();
        for m in self.walker.top() {
            let key = m.key(self.text);
            if let Some(k) = wanted.iter().find(|k| k.as_bytes() == key) {
                let v = self
                    .parser
                    .parse_at(self.text, m.text().0, RECORD_LEVEL + 1)
                    .ok()?
                    .0;
                fields.insert(k.clone(), v);
            }
        }
        record::fields(&self.cfg, side, &Value::Object(fields)).ok()
    }

    /// Parses the value at `start` on its own: the value, the offset past it and, for a value
    /// holding what canonical JSON cannot represent, the first such error (as a whole parse
    /// would place it on the item). `None` for a request-level error.
    fn parse(&self, start: usize) -> Option<(Value, usize, Option<Error>)> {
        match self.parser.parse_at(self.text, start, RECORD_LEVEL) {
            Ok((v, end)) => Some((v, end, None)),
            Err(e) if e.code().is_unrepresentable() => {
                let (v, soft, end) = self
                    .parser
                    .parse_at_lenient(self.text, start, RECORD_LEVEL)
                    .ok()?;
                let first = soft.into_iter().next()?;
                let e = Error::new(first.code(), first.message()).at(first.path());
                Some((v, end, Some(e)))
            }
            Err(_) => None,
        }
    }

    /// Reads the base entry at `start`; returns the offset past it.
    fn base_entry(
        &mut self,
        index: usize,
        start: usize,
        into: &mut Read<'t, Base<'t>>,
    ) -> Option<usize> {
        self.out.clear();
        let none: &[&str] = &[];
        match self.walker.record(start, RECORD_LEVEL, none, &mut self.out) {
            Ok(w) => {
                if let Some((id, base, hash_at)) = self.base_from_text() {
                    into.push(self.item(Some(id), index, start, Ok(base)));
                    if let Some(span) = hash_at {
                        // Its snapshot's checksum comes with three others'.
                        let slot = self.base_pending.len();
                        std::mem::swap(&mut self.out, &mut self.views[slot]);
                        self.base_pending.push((into.len() - 1, span));
                        if self.base_pending.len() == self.views.len() {
                            self.hash_base_pending(into);
                        }
                    }
                    return Some(w.end);
                }
            }
            Err(Stop::Invalid) => return None,
            Err(Stop::Tree) => {}
        }
        let (v, end, soft) = self.parse(start)?;
        let (id, info) = match soft {
            Some(e) => (v.get("id").and_then(|x| id_key(x).ok()), Err(e)),
            None => match classify::read_base(&self.cfg, &v) {
                Ok((id, b)) => {
                    // The tree is dropped: the snapshot is read again from the entry's text.
                    let snapshot = b.snapshot.map(|_| Rec::Member {
                        text: self.text,
                        start,
                        level: RECORD_LEVEL,
                        key: "snapshot",
                    });
                    let base = Base {
                        checksum: b.checksum,
                        version: b.version,
                        snapshot,
                    };
                    (Some(id), Ok(base))
                }
                Err(e) => (v.get("id").and_then(|x| id_key(x).ok()), Err(e)),
            },
        };
        into.push(self.item(id, index, start, info));
        Some(end)
    }

    /// A base entry's id and base from the walk just made, or `None` for the tree path. When
    /// its snapshot's checksum is to be computed (the entry names none), the base's checksum is
    /// left empty and where the snapshot's canonical bytes lie in `out` is returned with it.
    fn base_from_text(&self) -> Option<(String, Base<'t>, Option<Span>)> {
        let mut m = Map::new();
        let mut snapshot = Snapshot::Absent;
        let mut snapshot_out = None;
        for t in self.walker.top() {
            let key = t.key(self.text);
            match key {
                b"id" | b"checksum" | b"version" => {
                    let v = self
                        .parser
                        .parse_at(self.text, t.text().0, RECORD_LEVEL + 1)
                        .ok()?
                        .0;
                    m.insert(std::str::from_utf8(key).ok()?, v);
                }
                b"snapshot" => match self.at(t.text().0) {
                    Some(b'n') => {}
                    Some(b'{') => {
                        snapshot = Snapshot::Object(self.rec(t.text().0, RECORD_LEVEL + 1));
                        snapshot_out = t.value_out();
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
        let mut hash_at = None;
        let (id, base) = classify::read_base_entry(&self.cfg, &m, snapshot, || {
            let (s, e) = snapshot_out.unwrap_or_default();
            hash_at = Some((s, e));
            (String::new(), e - s)
        })
        .ok()?;
        Some((id, base, hash_at))
    }
}

/// SHA-256 of `views[k][span]` for each span given (at most four): four messages at once with
/// [`sha256x4`] when there are four.
fn digests(views: &[Vec<u8>; 4], spans: impl Iterator<Item = (usize, usize)>) -> Vec<[u8; 32]> {
    let msgs: Vec<&[u8]> = views
        .iter()
        .zip(spans)
        .map(|(v, (s, e))| v.get(s..e).unwrap_or_default())
        .collect();
    match msgs[..] {
        [a, b, c, d] => sha256x4::digest4([a, b, c, d]).to_vec(),
        _ => msgs
            .iter()
            .map(|m| sha2::Sha256::digest(m).into())
            .collect(),
    }
}
