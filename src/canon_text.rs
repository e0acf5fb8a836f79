//! RFC 8785 canonical bytes written straight from JSON text, without building a tree.
//!
//! ```
//! use batch_sync::canon_text::{Stop, Walker};
//! let text = br#"{"b": [1.0, "\u0041"], "a": {"y": 2, "x": true}, "id": 7}"#;
//! let mut w = Walker::new(text, false);
//! let mut out = Vec::new();
//! let done = w.record(0, 0, &["id"], &mut out).unwrap();
//! assert_eq!(out, br#"{"a":{"x":true,"y":2},"b":[1,"A"]}"#);
//! assert_eq!((done.end, done.depth), (text.len(), 2));
//! // What only a parser can report precisely is left to one:
//! let repeated = Walker::new(br#"{"a":1,"a":2}"#, false).record(0, 0, &["id"], &mut out);
//! assert_eq!(repeated, Err(Stop::Tree));
//! ```
//!
//! One pass over a value both checks it and writes its canonical form: members are written in
//! the order of the text, and an object whose keys are out of order is rearranged in place
//! (its members' bytes moved once, through one scratch buffer). Strings without escapes, and
//! integers of up to 15 digits, are copied as they are; everything else goes through the same
//! number and string writers as [`crate::canonical`], so the bytes are those of
//! `canonical::write` of the parsed value.
//!
//! The walk gives up instead of reporting: [`Stop::Invalid`] when the text is not JSON at that
//! point (only a parse of the whole text says how that is reported), [`Stop::Tree`] for valid
//! JSON it does not settle itself: a repeated key, a lone surrogate, a number outside the double
//! range, a key with escapes, U+0000 when asked to refuse it, or a record that is not an object.

use std::cmp::Ordering;

use crate::canonical;
use crate::parse::HARD_MAX_DEPTH;

/// Where a walk writes: the canonical bytes (`Vec<u8>`), or only how many there are
/// ([`canonical::Counter`]: the walk then checks the value and measures its canonical form
/// without copying a byte).
pub trait Out: canonical::Sink {
    /// How many bytes were written so far.
    fn written(&self) -> usize;
    /// Appends one byte.
    fn push(&mut self, c: u8) {
        self.put(&[c]);
    }
    /// Moves the bytes from `from` on into `saved` (emptied first) and truncates to `from`.
    fn take_tail(&mut self, from: usize, saved: &mut Vec<u8>);
    /// Appends `saved[range]` (bytes that [`Out::take_tail`] moved out).
    fn put_saved(&mut self, saved: &[u8], range: std::ops::Range<usize>);
}

impl Out for Vec<u8> {
    fn written(&self) -> usize {
        self.len()
    }
    fn push(&mut self, c: u8) {
        Vec::push(self, c);
    }
    fn take_tail(&mut self, from: usize, saved: &mut Vec<u8>) {
        saved.clear();
        saved.extend_from_slice(&self[from..]);
        self.truncate(from);
    }
    fn put_saved(&mut self, saved: &[u8], range: std::ops::Range<usize>) {
        self.extend_from_slice(&saved[range]);
    }
}

impl Out for canonical::Counter {
    fn written(&self) -> usize {
        self.0
    }
    fn take_tail(&mut self, from: usize, _saved: &mut Vec<u8>) {
        self.0 = from;
    }
    fn put_saved(&mut self, _saved: &[u8], range: std::ops::Range<usize>) {
        self.0 += range.len();
    }
}

/// Why a walk stopped without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Not JSON at this point, or nested deeper than the parser's hard limit.
    Invalid,
    /// Valid JSON whose canonical form (or error) a parse into a tree must establish.
    Tree,
}

type W<T> = Result<T, Stop>;

/// One member of an object being walked.
#[derive(Debug, Clone, Copy)]
struct Member {
    /// The key's bytes inside the quotes (no escapes).
    key: (usize, usize),
    /// The value's text.
    text: (usize, usize),
    /// `"key":value` in the output; `None` for a member left out.
    out: Option<(usize, usize)>,
}

/// A top-level member of the last record walked.
#[derive(Debug, Clone, Copy)]
pub struct TopMember {
    key: (usize, usize),
    text: (usize, usize),
    out: Option<(usize, usize)>,
}

impl TopMember {
    /// The key's bytes (no escapes: a key with escapes sends the record to the tree path).
    pub fn key<'t>(&self, text: &'t [u8]) -> &'t [u8] {
        &text[self.key.0..self.key.1]
    }
    /// Where the value's text lies.
    pub fn text(&self) -> (usize, usize) {
        self.text
    }
    /// Where the value's canonical bytes lie in the output (`None` when left out).
    pub fn value_out(&self) -> Option<(usize, usize)> {
        // `"key":` precedes the value in the output.
        self.out.map(|(s, e)| (s + self.key.1 - self.key.0 + 3, e))
    }
}

/// What a record's walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// The offset just past the record.
    pub end: usize,
    /// Its nesting depth (counting the members left out too): `{}` is 1.
    pub depth: usize,
}

/// Walks values of one text; keeps its buffers from one walk to the next.
pub struct Walker<'t> {
    b: &'t [u8],
    reject_nul: bool,
    members: Vec<Member>,
    order: Vec<usize>,
    scratch: Vec<u8>,
    text: Vec<u8>,
    top: Vec<TopMember>,
    shapes: Shapes,
}

/// The canonical order of the keys of objects seen before, by their keys in the order of the
/// text: records of one batch repeat a few such shapes, and looking one up (a hash, then the
/// keys compared byte for byte) costs much less than sorting them again.
#[derive(Default)]
struct Shapes {
    entries: Vec<Shape>,
    next: usize,
}

struct Shape {
    hash: u64,
    /// The keys, in the order of the text, one after another, and each one's length.
    keys: Vec<u8>,
    lens: Vec<usize>,
    /// The canonical order (indexes into the keys).
    order: Vec<usize>,
}

/// At most this many shapes are kept (replaced in turn): a hostile batch of ever new shapes
/// costs a bounded scan more per object, no more memory.
const SHAPES: usize = 64;

impl Shapes {
    fn hash(b: &[u8], ms: &[Member]) -> u64 {
        ms.iter().fold(ms.len() as u64, |h, m| {
            (h.rotate_left(7) ^ text_hash(&b[m.key.0..m.key.1])).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        })
    }

    /// Puts the canonical order of `ms` into `order` if their keys are a known shape.
    fn order_of(&self, b: &[u8], ms: &[Member], order: &mut Vec<usize>) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let hash = Shapes::hash(b, ms);
        for e in &self.entries {
            if e.hash != hash || e.lens.len() != ms.len() {
                continue;
            }
            let mut at = 0;
            let same = ms.iter().zip(&e.lens).all(|(m, &len)| {
                let key = &b[m.key.0..m.key.1];
                let ok = e.keys.get(at..at + len).is_some_and(|k| same_bytes(k, key));
                at += len;
                ok
            });
            if same {
                order.clear();
                order.extend_from_slice(&e.order);
                return true;
            }
        }
        false
    }

    /// Keeps the canonical order of a shape (with no repeated key).
    fn remember(&mut self, b: &[u8], ms: &[Member], order: &[usize]) {
        let shape = Shape {
            hash: Shapes::hash(b, ms),
            keys: ms
                .iter()
                .flat_map(|m| &b[m.key.0..m.key.1])
                .copied()
                .collect(),
            lens: ms.iter().map(|m| m.key.1 - m.key.0).collect(),
            order: order.to_vec(),
        };
        if self.entries.len() < SHAPES {
            self.entries.push(shape);
        } else {
            self.entries[self.next] = shape;
            self.next = (self.next + 1) % SHAPES;
        }
    }
}

impl<'t> Walker<'t> {
    /// A walker over `text`; with `reject_nul`, a string or key holding U+0000 stops the walk
    /// ([`Stop::Tree`]: the tree path reports it with its path).
    pub fn new(text: &'t [u8], reject_nul: bool) -> Self {
        Walker {
            b: text,
            reject_nul,
            members: Vec::new(),
            order: Vec::new(),
            scratch: Vec::new(),
            text: Vec::new(),
            top: Vec::new(),
            shapes: Shapes::default(),
        }
    }

    /// Writes the canonical form of the object that starts at `start` (after optional
    /// whitespace) into `out`, leaving out its top-level members named in `skip` (those are still
    /// checked). `level` is the nesting the record sits at in the whole text (for the hard depth
    /// limit). Its top-level members are then in [`Walker::top`].
    pub fn record<S: AsRef<str>, O: Out>(
        &mut self,
        start: usize,
        level: usize,
        skip: &[S],
        out: &mut O,
    ) -> W<Walked> {
        let i = self.ws(start);
        if self.at(i) != Some(b'{') {
            // Not an object: the tree path checks it and says so.
            return Err(Stop::Tree);
        }
        let (end, depth) = self.object(i, level + 1, out, Some(skip))?;
        Ok(Walked { end, depth })
    }

    /// Writes the canonical form of the value that starts at `start` (after optional
    /// whitespace); returns the offset past it and its depth.
    pub fn value<O: Out>(&mut self, start: usize, level: usize, out: &mut O) -> W<(usize, usize)> {
        let i = self.ws(start);
        self.any(i, level, out)
    }

    /// The top-level members of the last record walked, in the order of the text.
    pub fn top(&self) -> &[TopMember] {
        &self.top
    }

    /// The offset of the first byte at or after `i` that is not JSON whitespace.
    pub fn ws(&self, mut i: usize) -> usize {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(i) {
            i += 1;
        }
        i
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    fn any<O: Out>(&mut self, i: usize, level: usize, out: &mut O) -> W<(usize, usize)> {
        match self.at(i) {
            Some(b'{') => self.object::<&str, O>(i, level + 1, out, None),
            Some(b'[') => self.array(i, level + 1, out),
            Some(b'"') => self.string(i, out).map(|e| (e, 0)),
            Some(b't') => self.literal(i, b"true", out),
            Some(b'f') => self.literal(i, b"false", out),
            Some(b'n') => self.literal(i, b"null", out),
            Some(b'-' | b'0'..=b'9') => self.number(i, out).map(|e| (e, 0)),
            _ => Err(Stop::Invalid),
        }
    }

    fn literal<O: Out>(&self, i: usize, lit: &[u8], out: &mut O) -> W<(usize, usize)> {
        if self.b.get(i..i + lit.len()) == Some(lit) {
            out.put(lit);
            Ok((i + lit.len(), 0))
        } else {
            Err(Stop::Invalid)
        }
    }

    fn array<O: Out>(&mut self, i: usize, depth: usize, out: &mut O) -> W<(usize, usize)> {
        if depth > HARD_MAX_DEPTH {
            return Err(Stop::Invalid);
        }
        out.push(b'[');
        let mut i = self.ws(i + 1);
        let mut inner = 0;
        if self.at(i) == Some(b']') {
            out.push(b']');
            return Ok((i + 1, 1));
        }
        loop {
            i = self.ws(i);
            let (end, d) = self.any(i, depth, out)?;
            inner = inner.max(d);
            i = self.ws(end);
            match self.at(i) {
                Some(b',') => {
                    out.push(b',');
                    i += 1;
                }
                Some(b']') => {
                    out.push(b']');
                    return Ok((i + 1, inner + 1));
                }
                _ => return Err(Stop::Invalid),
            }
        }
    }

    fn object<S: AsRef<str>, O: Out>(
        &mut self,
        i: usize,
        depth: usize,
        out: &mut O,
        top: Option<&[S]>,
    ) -> W<(usize, usize)> {
        if depth > HARD_MAX_DEPTH {
            return Err(Stop::Invalid);
        }
        let base = self.members.len();
        let r = self.object_members(i, depth, out, top, base);
        self.members.truncate(base);
        r
    }

    fn object_members<S: AsRef<str>, O: Out>(
        &mut self,
        i: usize,
        depth: usize,
        out: &mut O,
        top: Option<&[S]>,
        base: usize,
    ) -> W<(usize, usize)> {
        let open = out.written();
        out.push(b'{');
        let mut i = self.ws(i + 1);
        let mut inner = 0;
        if self.at(i) == Some(b'}') {
            out.push(b'}');
            if top.is_some() {
                self.top.clear();
            }
            return Ok((i + 1, 1));
        }
        loop {
            i = self.ws(i);
            if self.at(i) != Some(b'"') {
                return Err(Stop::Invalid);
            }
            let (ks, ke) = self.key(i)?;
            i = self.ws(ke + 1);
            if self.at(i) != Some(b':') {
                return Err(Stop::Invalid);
            }
            i = self.ws(i + 1);
            if self.members.len() > base {
                out.push(b',');
            }
            let ms = out.written();
            out.push(b'"');
            out.put(&self.b[ks..ke]);
            out.put(b"\":");
            let (end, d) = self.any(i, depth, out)?;
            inner = inner.max(d);
            self.members.push(Member {
                key: (ks, ke),
                text: (i, end),
                out: Some((ms, out.written())),
            });
            i = self.ws(end);
            match self.at(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(Stop::Invalid),
            }
        }
        self.arrange(open, out, top, base)?;
        out.push(b'}');
        Ok((i, inner + 1))
    }

    /// Puts the members written since `open` (`{` and members separated by commas) into
    /// canonical order, leaving out those named in `skip` at the top level.
    fn arrange<S: AsRef<str>, O: Out>(
        &mut self,
        open: usize,
        out: &mut O,
        top: Option<&[S]>,
        base: usize,
    ) -> W<()> {
        let b = self.b;
        let ms = &self.members[base..];
        let sorted = ms
            .windows(2)
            .all(|w| key_order(&b[w[0].key.0..w[0].key.1], &b[w[1].key.0..w[1].key.1]).is_lt());
        let skip: &[S] = top.unwrap_or(&[]);
        let skipping = !skip.is_empty()
            && ms.iter().any(|m| {
                skip.iter()
                    .any(|s| s.as_ref().as_bytes() == &b[m.key.0..m.key.1])
            });
        if !sorted || skipping {
            if !self.shapes.order_of(b, ms, &mut self.order) {
                self.order.clear();
                self.order.extend(0..ms.len());
                self.order.sort_by(|&x, &y| {
                    key_order(&b[ms[x].key.0..ms[x].key.1], &b[ms[y].key.0..ms[y].key.1])
                });
                if self
                    .order
                    .windows(2)
                    .any(|w| b[ms[w[0]].key.0..ms[w[0]].key.1] == b[ms[w[1]].key.0..ms[w[1]].key.1])
                {
                    // A repeated key: the parser reports it (with its path).
                    return Err(Stop::Tree);
                }
                self.shapes.remember(b, ms, &self.order);
            }
            out.take_tail(open + 1, &mut self.scratch);
            let shift = open + 1;
            let mut first = true;
            for k in 0..self.order.len() {
                let m = &mut self.members[base + self.order[k]];
                let left_out = skip
                    .iter()
                    .any(|s| s.as_ref().as_bytes() == &b[m.key.0..m.key.1]);
                let Some((s, e)) = m.out else { continue };
                if left_out {
                    m.out = None;
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                let at = out.written();
                out.put_saved(&self.scratch, s - shift..e - shift);
                m.out = Some((at, out.written()));
            }
        }
        if top.is_some() {
            self.top.clear();
            self.top
                .extend(self.members[base..].iter().map(|m| TopMember {
                    key: m.key,
                    text: m.text,
                    out: m.out,
                }));
        }
        Ok(())
    }

    /// A key at `i` (the opening quote): its bytes, which must need no unescaping.
    fn key(&self, i: usize) -> W<(usize, usize)> {
        let start = i + 1;
        let (end, stop, high) = scan_string(self.b, start);
        match stop {
            Some(b'"') => {}
            Some(b'\\') => return Err(Stop::Tree),
            _ => return Err(Stop::Invalid),
        }
        if high && std::str::from_utf8(&self.b[start..end]).is_err() {
            return Err(Stop::Invalid);
        }
        Ok((start, end))
    }

    /// A string at `i` (the opening quote), written canonically; returns the offset past it.
    fn string<O: Out>(&mut self, i: usize, out: &mut O) -> W<usize> {
        let start = i + 1;
        let (end, stop, high) = scan_string(self.b, start);
        match stop {
            Some(b'"') => {
                if high && std::str::from_utf8(&self.b[start..end]).is_err() {
                    return Err(Stop::Invalid);
                }
                out.put_quoted(&self.b[start..end]);
                Ok(end + 1)
            }
            Some(b'\\') => self.escaped_string(start, end, out),
            _ => Err(Stop::Invalid),
        }
    }

    /// A string with escapes from `start` (first escape at `from`): decoded, then written with
    /// the canonical escaping.
    fn escaped_string<O: Out>(&mut self, start: usize, from: usize, out: &mut O) -> W<usize> {
        let b = self.b;
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        text.extend_from_slice(&b[start..from]);
        let mut i = from;
        let r = loop {
            let Some(&c) = b.get(i) else {
                break Err(Stop::Invalid);
            };
            i += 1;
            match c {
                b'"' => break Ok(i),
                b'\\' => {
                    let Some(&e) = b.get(i) else {
                        break Err(Stop::Invalid);
                    };
                    i += 1;
                    let ch = match (e, crate::parse::short_escape(e)) {
                        (_, Some(c)) => c,
                        (b'u', _) => match unicode_escape(b, &mut i) {
                            Ok(ch) => ch,
                            Err(s) => break Err(s),
                        },
                        _ => break Err(Stop::Invalid),
                    };
                    let mut tmp = [0u8; 4];
                    text.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                0..=0x1F => break Err(Stop::Invalid),
                _ => text.push(c),
            }
        };
        let r = r.and_then(|end| match std::str::from_utf8(&text) {
            Err(_) => Err(Stop::Invalid),
            Ok(s) if self.reject_nul && s.contains('\0') => Err(Stop::Tree),
            Ok(s) => {
                canonical::write_string(s, out);
                Ok(end)
            }
        });
        self.text = text;
        r
    }

    fn number<O: Out>(&self, i: usize, out: &mut O) -> W<usize> {
        let b = self.b;
        let start = i;
        let mut i = i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = b.get(i) {
                    i += 1;
                }
            }
            _ => return Err(Stop::Invalid),
        }
        let int_end = i;
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                return Err(Stop::Invalid);
            }
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                return Err(Stop::Invalid);
            }
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
        }
        let text = &b[start..i];
        // An integer of up to 15 digits is exact in a double and ECMAScript writes it as it is
        // (but `-0` is written `0`).
        let plain = i == int_end && int_end - int_start <= 15 && text != b"-0";
        if plain {
            out.put(text);
            return Ok(i);
        }
        // ASCII by the grammar above.
        let n = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .ok_or(Stop::Invalid)?;
        if !n.is_finite() {
            return Err(Stop::Tree);
        }
        canonical::write_number(n, out);
        Ok(i)
    }
}

/// Where the object or array that starts at `start` ends, found by matching brackets outside
/// strings: no check of what lies between (for finding a text already known to be valid JSON
/// elsewhere; `None` when no end is found).
pub fn container_end(b: &[u8], start: usize) -> Option<usize> {
    if !matches!(b.get(start), Some(b'{' | b'[')) {
        return None;
    }
    let mut depth = 0usize;
    let mut i = start;
    while let Some(&c) = b.get(i) {
        match c {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'"' => {
                i += 1;
                loop {
                    let (at, stop, _) = scan_string(b, i);
                    match stop {
                        Some(b'"') => {
                            i = at;
                            break;
                        }
                        Some(b'\\') => i = at + 2,
                        Some(_) => i = at + 1,
                        None => return None,
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether two byte strings are equal, compared 32 bytes at a time (WebAssembly's `memcmp`
/// goes byte by byte; there the 32 bytes are two SIMD compares).
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (x, y) = (a.chunks_exact(32), b.chunks_exact(32));
    let (x8, y8) = (x.remainder().chunks_exact(8), y.remainder().chunks_exact(8));
    let (x1, y1) = (x8.remainder(), y8.remainder());
    // The tail word by word, then byte by byte: short keys never pay a call to `memcmp`.
    x.zip(y).all(|(p, q)| !differ32(p, q))
        && x8.zip(y8).all(|(p, q)| word(p, 0) == word(q, 0))
        && x1.iter().zip(y1).all(|(p, q)| p == q)
}

/// Whether two 32-byte blocks differ.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn differ32(p: &[u8], q: &[u8]) -> bool {
    use core::arch::wasm32::{u64x2, v128, v128_any_true, v128_or, v128_xor};
    let half = |c: &[u8], k: usize| -> v128 { u64x2(word(c, 2 * k), word(c, 2 * k + 1)) };
    let d0 = v128_xor(half(p, 0), half(q, 0));
    let d1 = v128_xor(half(p, 1), half(q, 1));
    v128_any_true(v128_or(d0, d1))
}

/// Whether two 32-byte blocks differ.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn differ32(p: &[u8], q: &[u8]) -> bool {
    (0..4).fold(0, |d, k| d | (word(p, k) ^ word(q, k))) != 0
}

/// The `k`th eight bytes of `c`, as a word.
#[inline(always)]
fn word(c: &[u8], k: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&c[k * 8..k * 8 + 8]);
    u64::from_le_bytes(w)
}

/// A 64-bit hash of a record's text for finding its twin: its length, its first 256 bytes and
/// its last 64 (a record's id is near its start; texts that share all three are told apart by
/// [`same_bytes`]).
pub fn twin_hash(b: &[u8]) -> u64 {
    let head = &b[..b.len().min(256)];
    let tail = &b[b.len().saturating_sub(64)..];
    text_hash(head) ^ text_hash(tail).rotate_left(32) ^ (b.len() as u64)
}

/// A fast 64-bit hash of bytes (not for security: equal hashes are checked byte by byte).
pub fn text_hash(b: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = b.len() as u64;
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(x)).wrapping_mul(K);
    }
    for &c in words.remainder() {
        h = (h.rotate_left(5) ^ u64::from(c)).wrapping_mul(K);
    }
    h
}

/// Reads `XXXX` (after `\u`) at `*i`, and a low surrogate's `\uXXXX` after a high one.
fn unicode_escape(b: &[u8], i: &mut usize) -> W<char> {
    let hi = hex4(b, *i)?;
    *i += 4;
    if (0xDC00..0xE000).contains(&hi) {
        return Err(Stop::Tree);
    }
    if (0xD800..0xDC00).contains(&hi) {
        if b.get(*i..*i + 2) != Some(b"\\u") {
            return Err(Stop::Tree);
        }
        let lo = hex4(b, *i + 2)?;
        if !(0xDC00..0xE000).contains(&lo) {
            return Err(Stop::Tree);
        }
        *i += 6;
        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
        return char::from_u32(c).ok_or(Stop::Tree);
    }
    char::from_u32(hi).ok_or(Stop::Tree)
}

fn hex4(b: &[u8], i: usize) -> W<u32> {
    let s = b.get(i..i + 4).ok_or(Stop::Invalid)?;
    let mut n = 0u32;
    for &c in s {
        n = n * 16 + (c as char).to_digit(16).ok_or(Stop::Invalid)?;
    }
    Ok(n)
}

/// From `start` (inside a string), the offset of the first `"`, `\` or control character, that
/// byte (`None` at the end of the text), and whether a byte above ASCII came before it. Whole
/// blocks at a time (most strings need no unescaping), then byte by byte.
pub(crate) fn scan_string(b: &[u8], start: usize) -> (usize, Option<u8>, bool) {
    let (mut i, mut high) = skip_plain(b, start);
    while let Some(&c) = b.get(i) {
        match c {
            b'"' | b'\\' | 0..=0x1F => return (i, Some(c), high),
            0x80.. => high = true,
            _ => {}
        }
        i += 1;
    }
    (i, None, high)
}

/// Skips the 16-byte blocks from `start` that hold no `"`, `\` or control character (WebAssembly
/// SIMD); returns where the byte-by-byte scan goes on and whether a skipped byte was above
/// ASCII.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn skip_plain(b: &[u8], start: usize) -> (usize, bool) {
    use core::arch::wasm32::*;
    let (quote, backslash, space) = (u8x16_splat(b'"'), u8x16_splat(b'\\'), u8x16_splat(0x20));
    let mut i = start;
    let mut high = u8x16_splat(0);
    while let Some(c) = b.get(i..i + 16) {
        let v = u64x2(word(c, 0), word(c, 1));
        let stop = v128_or(
            v128_or(u8x16_eq(v, quote), u8x16_eq(v, backslash)),
            u8x16_lt(v, space),
        );
        if v128_any_true(stop) {
            break;
        }
        high = v128_or(high, v);
        i += 16;
    }
    (i, u8x16_bitmask(high) != 0)
}

/// Skips the 8-byte blocks from `start` that hold no `"`, `\` or control character (eight
/// bytes in a word); returns where the byte-by-byte scan goes on and whether a skipped byte was
/// above ASCII.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn skip_plain(b: &[u8], start: usize) -> (usize, bool) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut i = start;
    let mut high = 0u64;
    while let Some(c) = b.get(i..i + 8) {
        let x = word(c, 0);
        let ctl = x.wrapping_sub(LO * 0x20) & !x & HI;
        if ctl | has_zero(x ^ (LO * b'"' as u64)) | has_zero(x ^ (LO * b'\\' as u64)) != 0 {
            break;
        }
        high |= x;
        i += 8;
    }
    (i, high & HI != 0)
}

/// RFC 8785 key order (UTF-16 code units) of two valid UTF-8 keys, read as bytes: byte order is
/// code point order, which differs from UTF-16 order only between U+E000..U+FFFF (lead byte
/// EE or EF) and the characters above U+FFFF (lead byte F0..F4), which UTF-16 puts first.
pub fn key_order(a: &[u8], b: &[u8]) -> Ordering {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (Some(&x), Some(&y)) = (a.get(common), b.get(common)) else {
        return a.len().cmp(&b.len());
    };
    // After a shared prefix, x and y are both lead bytes (or ASCII), or both continuation bytes
    // of characters with the same lead byte (whose order is then byte order).
    let bmp_high = |l: u8| l == 0xEE || l == 0xEF;
    if bmp_high(x) && y >= 0xF0 {
        return Ordering::Greater;
    }
    if x >= 0xF0 && bmp_high(y) {
        return Ordering::Less;
    }
    x.cmp(&y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{cmp_utf16, Value};

    fn canon(text: &str) -> Result<String, Stop> {
        let mut out = Vec::new();
        let w = &mut Walker::new(text.as_bytes(), false);
        let written = w.value(0, 0, &mut out);
        // Measuring agrees with writing: the same outcome, and as many bytes.
        let mut count = canonical::Counter::default();
        let measured = Walker::new(text.as_bytes(), false).value(0, 0, &mut count);
        assert_eq!(measured, written, "{text}");
        let (end, _) = written?;
        assert_eq!(count.0, out.len(), "{text}");
        if w.ws(end) != text.len() {
            return Err(Stop::Invalid);
        }
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn measures_records_with_members_left_out() {
        for (t, skip) in [
            (r#"{"id":1,"b":[1.0,"x"],"a":{"y":2,"x":1e21}}"#, vec!["id"]),
            (r#"{"a":1,"id":2}"#, vec!["id", "a"]),
            (r#"{"z":"\u00e9","id":3,"m":null}"#, vec!["m"]),
            (r#"{"id":4}"#, vec!["id"]),
        ] {
            let mut out = Vec::new();
            let mut count = canonical::Counter::default();
            let written = Walker::new(t.as_bytes(), false).record(0, 0, &skip, &mut out);
            let measured = Walker::new(t.as_bytes(), false).record(0, 0, &skip, &mut count);
            assert_eq!(measured, written, "{t}");
            assert_eq!(count.0, out.len(), "{t}");
        }
    }

    #[test]
    fn writes_what_the_tree_path_writes() {
        for t in [
            r#"{"b":1,"a":2}"#,
            r#"{"€":1,"😀":2,"\u00e9x":3}"#.replace("\\u00e9x", "ex").as_str(),
            r#"[1.0, -0, 1e3, 0.1, 123456789012345678, -5, 1E-7, 100000000000000000000000]"#,
            r#""a\/b\u0041\n\u001f\ud83d\ude00""#,
            r#"{"x":{"z":[],"y":{}},"w":null,"v":[true,false]}"#,
            "  {\"k\" :\n \"v\" } ",
        ] {
            let v = Value::parse(t.as_bytes()).unwrap();
            assert_eq!(canon(t).unwrap(), canonical::to_string(&v), "{t}");
        }
    }

    #[test]
    fn leaves_to_the_tree_what_it_does_not_settle() {
        for t in [r#"{"a":1,"a":2}"#, r#""\ud800""#, "1e999", r#"{"a\n":1}"#] {
            assert_eq!(canon(t), Err(Stop::Tree), "{t}");
        }
        for t in [
            "[1,]",
            "{\"a\":1,}",
            "\"\x01\"",
            "tru",
            "01",
            "[1 2]",
            "\"\\x\"",
        ] {
            assert_eq!(canon(t), Err(Stop::Invalid), "{t}");
        }
        assert_eq!(canon(&"[".repeat(600)), Err(Stop::Invalid));
    }

    #[test]
    fn key_order_is_utf16_order() {
        let keys = [
            "a",
            "ab",
            "b",
            "\u{7f}",
            "\u{80}",
            "\u{e000}",
            "\u{ffff}",
            "\u{10000}",
            "\u{1f600}",
            "",
        ];
        for x in keys {
            for y in keys {
                // The definition: UTF-16 code units compared in order.
                let by_units = x.encode_utf16().cmp(y.encode_utf16());
                assert_eq!(
                    key_order(x.as_bytes(), y.as_bytes()),
                    by_units,
                    "{x:?} {y:?}"
                );
                assert_eq!(cmp_utf16(x, y), by_units, "{x:?} {y:?}");
            }
        }
    }
}
