//! A strict JSON parser (RFC 8259) that rejects what JCS cannot represent.
//!
//! ```
//! use batch_sync::parse::Parser;
//! let err = Parser::new(64).parse(br#"{"a":{"b":1,"b":2}}"#).unwrap_err();
//! assert_eq!(err.code().as_str(), "duplicate_key");
//! assert_eq!(err.path(), "/a/b");
//! ```
//!
//! Rejected, each with the JSON Pointer of the offending value: invalid UTF-8, lone
//! surrogates in `\u` escapes, duplicate keys, numbers outside the double range, nesting
//! deeper than the limit (checked before recursing, so hostile input cannot overflow the
//! stack), and anything that is not exactly one JSON text.

use crate::error::{Error, ErrorCode};
use crate::pointer::escape_token;
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use crate::value::{Key, Map, Value};

/// The deepest nesting any parser accepts, whatever the configuration says.
pub const HARD_MAX_DEPTH: usize = 512;

/// A parser with a nesting limit. One parser used for many values (the records of a batch,
/// each parsed on its own) keeps its interned keys and its buffers from one value to the next.
pub struct Parser {
    max_depth: usize,
    work: RefCell<Work>,
}

/// What a parse leaves for the next one: interned keys and emptied buffers.
#[derive(Default)]
struct Work {
    /// Interned keys: records repeat the same few keys, so each is allocated once.
    keys: HashSet<Key, BuildHasherDefault<Fnv>>,
    scratch: Vec<u8>,
    items: Vec<Value>,
    members: Vec<(Key, Value)>,
}

enum Seg {
    Key(Key),
    Index(usize),
}

struct Fail {
    code: ErrorCode,
    message: String,
    offset: usize,
    rev_path: Vec<Seg>,
}

type R<T> = Result<T, Fail>;

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    max_depth: usize,
    scratch: Vec<u8>,
    /// Children of the arrays being parsed, innermost last; each array takes its exact slice.
    items: Vec<Value>,
    /// Members of the objects being parsed, innermost last.
    members: Vec<(Key, Value)>,
    /// Interned keys (see [`Work`]).
    keys: HashSet<Key, BuildHasherDefault<Fnv>>,
    /// Lenient mode: what JCS cannot represent is recorded here (with its path) and parsing goes
    /// on, so that a host can reject just the items that hold it.
    soft: Option<Vec<Error>>,
    /// The path to the value being parsed (kept in lenient mode only).
    stack: Vec<Seg>,
}

/// FNV-1a: fast for the short keys interned here. The cache is capped, so colliding keys
/// cannot make lookups slower than a bounded scan.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Documents smaller than this are parsed without interning keys.
const INTERN_MIN_INPUT: usize = 16 << 10;
/// Keys longer than this are not interned.
const INTERN_MAX_LEN: usize = 64;
/// At most this many distinct keys are interned by a parser (hostile input cannot grow the
/// cache).
const INTERN_MAX_KEYS: usize = 4096;

impl Parser {
    /// A parser that rejects nesting deeper than `max_depth` (capped at [`HARD_MAX_DEPTH`]).
    pub fn new(max_depth: usize) -> Self {
        Parser {
            max_depth: max_depth.min(HARD_MAX_DEPTH),
            work: RefCell::default(),
        }
    }

    /// Parses exactly one JSON text.
    pub fn parse(&self, input: &[u8]) -> Result<Value, Error> {
        self.run(input, false).map(|(v, _)| v)
    }

    /// Parses exactly one JSON text, but records duplicate keys (the first one is kept), lone
    /// surrogates (read as U+FFFD) and out-of-range numbers (read as `null`) with their paths
    /// instead of failing. Malformed text, invalid UTF-8 and excess depth still fail.
    pub fn parse_lenient(&self, input: &[u8]) -> Result<(Value, Vec<Error>), Error> {
        self.run(input, true)
    }

    fn run(&self, input: &[u8], lenient: bool) -> Result<(Value, Vec<Error>), Error> {
        let mut c = self.cursor(input, 0, lenient);
        let r = c.ws().and_then(|_| c.value(0)).and_then(|v| {
            c.ws()?;
            if c.i < c.b.len() {
                Err(c.fail(
                    ErrorCode::InvalidJson,
                    "trailing characters after the JSON text",
                ))
            } else {
                Ok(v)
            }
        });
        let soft = c.soft.take().unwrap_or_default();
        self.done(c);
        r.map(|v| (v, soft)).map_err(Fail::into_error)
    }

    /// A cursor at `i` with this parser's keys and buffers.
    fn cursor<'a>(&self, input: &'a [u8], i: usize, lenient: bool) -> Cursor<'a> {
        let work = self.work.take();
        Cursor {
            b: input,
            i,
            max_depth: self.max_depth,
            scratch: work.scratch,
            items: work.items,
            members: work.members,
            keys: work.keys,
            soft: lenient.then(Vec::new),
            stack: Vec::new(),
        }
    }

    /// Keeps a finished cursor's keys and (emptied) buffers for the next parse.
    fn done(&self, c: Cursor<'_>) {
        let Cursor {
            mut scratch,
            mut items,
            mut members,
            keys,
            ..
        } = c;
        scratch.clear();
        items.clear();
        members.clear();
        self.work.replace(Work {
            keys,
            scratch,
            items,
            members,
        });
    }

    /// Parses the one JSON value that starts at byte `start` of `input` (after optional
    /// whitespace) and returns it with the offset just past it; what follows is not read.
    /// `depth` is the nesting the value sits at inside the whole text (0 for a text's root), so
    /// that the depth limit and the error offsets are those a parse of the whole text gives.
    pub fn parse_at(
        &self,
        input: &[u8],
        start: usize,
        depth: usize,
    ) -> Result<(Value, usize), Error> {
        let mut c = self.cursor(input, start, false);
        let r = c.ws().and_then(|_| c.value(depth)).map(|v| (v, c.i));
        self.done(c);
        r.map_err(Fail::into_error)
    }

    /// [`Parser::parse_at`] in the lenient mode of [`Parser::parse_lenient`]: what JCS cannot
    /// represent is returned with its path inside the value, in the order a parse of the whole
    /// text meets it.
    pub fn parse_at_lenient(
        &self,
        input: &[u8],
        start: usize,
        depth: usize,
    ) -> Result<(Value, Vec<Error>, usize), Error> {
        let mut c = self.cursor(input, start, true);
        let r = c.ws().and_then(|_| c.value(depth)).map(|v| (v, c.i));
        let soft = c.soft.take().unwrap_or_default();
        self.done(c);
        r.map(|(v, end)| (v, soft, end)).map_err(Fail::into_error)
    }
}

/// The character a one-letter escape (`\n`, `\"`, …, all but `\u`) stands for.
pub(crate) fn short_escape(e: u8) -> Option<char> {
    Some(match e {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

impl Fail {
    fn into_error(self) -> Error {
        let mut path = String::new();
        for seg in self.rev_path.iter().rev() {
            push_seg(&mut path, seg);
        }
        Error::new(
            self.code,
            format!("{} (at byte {})", self.message, self.offset),
        )
        .at(path)
    }
}

fn push_seg(path: &mut String, seg: &Seg) {
    path.push('/');
    match seg {
        Seg::Key(k) => path.push_str(&escape_token(k)),
        Seg::Index(i) => path.push_str(&i.to_string()),
    }
}

impl<'a> Cursor<'a> {
    /// In lenient mode, records a representability error at the current path and returns true.
    fn soft_error(
        &mut self,
        code: ErrorCode,
        message: impl Into<String>,
        extra: Option<&Key>,
    ) -> bool {
        if self.soft.is_none() {
            return false;
        }
        let mut path = String::new();
        for seg in &self.stack {
            push_seg(&mut path, seg);
        }
        if let Some(k) = extra {
            push_seg(&mut path, &Seg::Key(k.clone()));
        }
        let e = Error::new(code, format!("{} (at byte {})", message.into(), self.i)).at(path);
        if let Some(soft) = self.soft.as_mut() {
            soft.push(e);
        }
        true
    }

    fn fail(&self, code: ErrorCode, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
            offset: self.i,
            rev_path: Vec::new(),
        }
    }

    fn ws(&mut self) -> R<()> {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
        Ok(())
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect_lit(&mut self, lit: &[u8], v: Value) -> R<Value> {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            Ok(v)
        } else {
            Err(self.fail(ErrorCode::InvalidJson, "invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> R<Value> {
        match self.peek() {
            None => Err(self.fail(ErrorCode::InvalidJson, "unexpected end of input")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string_value(),
            Some(b't') => self.expect_lit(b"true", Value::Bool(true)),
            Some(b'f') => self.expect_lit(b"false", Value::Bool(false)),
            Some(b'n') => self.expect_lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.fail(ErrorCode::InvalidJson, "expected a JSON value")),
        }
    }

    fn check_depth(&self, depth: usize) -> R<()> {
        if depth > self.max_depth {
            Err(self.fail(
                ErrorCode::DepthExceeded,
                format!("nesting deeper than the limit of {}", self.max_depth),
            ))
        } else {
            Ok(())
        }
    }

    fn array(&mut self, depth: usize) -> R<Value> {
        self.check_depth(depth)?;
        self.i += 1;
        let start = self.items.len();
        self.ws()?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(Vec::new()));
        }
        loop {
            self.ws()?;
            let idx = self.items.len() - start;
            let track = self.soft.is_some();
            if track {
                self.stack.push(Seg::Index(idx));
            }
            let v = self.value(depth).map_err(|mut f| {
                f.rev_path.push(Seg::Index(idx));
                f
            });
            if track {
                self.stack.pop();
            }
            match v {
                Ok(v) => self.items.push(v),
                Err(f) => {
                    self.items.truncate(start);
                    return Err(f);
                }
            }
            self.ws()?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(self.items.split_off(start)));
                }
                _ => {
                    self.items.truncate(start);
                    return Err(self.fail(ErrorCode::InvalidJson, "expected ',' or ']'"));
                }
            }
        }
    }

    fn object(&mut self, depth: usize) -> R<Value> {
        self.check_depth(depth)?;
        self.i += 1;
        let start = self.members.len();
        let r = self.object_members(depth, start);
        if r.is_err() {
            self.members.truncate(start);
        }
        r
    }

    fn object_members(&mut self, depth: usize, start: usize) -> R<Value> {
        self.ws()?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(Map::new()));
        }
        loop {
            self.ws()?;
            if self.peek() != Some(b'"') {
                return Err(self.fail(ErrorCode::InvalidJson, "expected a string key"));
            }
            let key = self.key()?;
            self.ws()?;
            if self.peek() != Some(b':') {
                return Err(self.fail(ErrorCode::InvalidJson, "expected ':'"));
            }
            self.i += 1;
            self.ws()?;
            let track = self.soft.is_some();
            if track {
                self.stack.push(Seg::Key(key.clone()));
            }
            let v = self.value(depth);
            if track {
                self.stack.pop();
            }
            let v = match v {
                Ok(v) => v,
                Err(mut f) => {
                    f.rev_path.push(Seg::Key(key));
                    return Err(f);
                }
            };
            self.members.push((key, v));
            self.ws()?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    let mut entries = self.members.split_off(start);
                    if self.soft.is_some() {
                        if let Some(k) = crate::value::dedup_first(&mut entries) {
                            let msg = format!("duplicate key \"{}\" in object", k.escape_debug());
                            self.soft_error(ErrorCode::DuplicateKey, msg, Some(&k));
                        }
                    }
                    return Map::from_entries(entries).map(Value::Object).map_err(|k| {
                        let mut f = self.fail(
                            ErrorCode::DuplicateKey,
                            format!("duplicate key \"{}\" in object", k.escape_debug()),
                        );
                        f.rev_path.push(Seg::Key(k));
                        f
                    });
                }
                _ => return Err(self.fail(ErrorCode::InvalidJson, "expected ',' or '}'")),
            }
        }
    }

    /// An object key: interned when it is short and has no escapes.
    fn key(&mut self) -> R<Key> {
        let start = self.i + 1;
        let b = self.b;
        let end = match crate::canon_text::scan_string(b, start) {
            (end, Some(_), _) => Some(end),
            (_, None, _) => None,
        };
        // Interning pays off on batches; a small document is cheaper without the cache.
        let intern = b.len() >= INTERN_MIN_INPUT;
        if let Some(end) = end.filter(|&e| intern && b[e] == b'"' && e - start <= INTERN_MAX_LEN) {
            let s = self.utf8(&b[start..end], start)?;
            if let Some(k) = self.keys.get(s) {
                self.i = end + 1;
                return Ok(k.clone());
            }
            let k: Key = Key::from(s);
            self.i = end + 1;
            if self.keys.len() < INTERN_MAX_KEYS {
                self.keys.insert(k.clone());
            }
            return Ok(k);
        }
        self.string().map(Key::from)
    }

    fn hex4(&mut self) -> R<u32> {
        let s = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.fail(ErrorCode::InvalidJson, "truncated \\u escape"))?;
        let mut n = 0u32;
        for &c in s {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.fail(ErrorCode::InvalidJson, "invalid \\u escape"))?;
            n = n * 16 + d;
        }
        self.i += 4;
        Ok(n)
    }

    /// A string value: one without escapes is read from the text as it is (eight bytes at a
    /// time, checked as UTF-8 only when it holds bytes above ASCII) and, when short, never
    /// allocated.
    fn string_value(&mut self) -> R<Value> {
        let start = self.i + 1;
        let (end, stop, high) = crate::canon_text::scan_string(self.b, start);
        if stop == Some(b'"') {
            let raw = &self.b[start..end];
            let s = if high {
                self.utf8(raw, start)?
            } else {
                // ASCII only: valid UTF-8.
                std::str::from_utf8(raw).unwrap_or_default()
            };
            self.i = end + 1;
            return Ok(Value::from(s));
        }
        self.string().map(Value::from)
    }

    fn string(&mut self) -> R<String> {
        self.i += 1; // opening quote
        let start = self.i;
        // Fast path: no escapes.
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    let s = self.utf8(&self.b[start..self.i], start)?;
                    self.i += 1;
                    return Ok(s.to_owned());
                }
                b'\\' => break,
                0..=0x1F => {
                    return Err(self.fail(ErrorCode::InvalidJson, "control character in string"))
                }
                _ => self.i += 1,
            }
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(&self.b[start..self.i]);
        let r = self.string_slow(&mut buf, start);
        self.scratch = buf;
        r
    }

    fn string_slow(&mut self, buf: &mut Vec<u8>, start: usize) -> R<String> {
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.fail(ErrorCode::InvalidJson, "unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => return self.utf8(buf, start).map(str::to_owned),
                b'\\' => {
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(self.fail(ErrorCode::InvalidJson, "unterminated string"));
                    };
                    self.i += 1;
                    let ch = match (e, short_escape(e)) {
                        (_, Some(c)) => c,
                        (b'u', _) => self.unicode_escape()?,
                        _ => return Err(self.fail(ErrorCode::InvalidJson, "invalid escape")),
                    };
                    let mut tmp = [0u8; 4];
                    buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                0..=0x1F => {
                    return Err(self.fail(ErrorCode::InvalidJson, "control character in string"))
                }
                _ => buf.push(c),
            }
        }
    }

    fn unicode_escape(&mut self) -> R<char> {
        match self.unicode_escape_strict() {
            Err(f)
                if f.code == ErrorCode::LoneSurrogate
                    && self.soft_error(f.code, f.message.clone(), None) =>
            {
                Ok('\u{FFFD}')
            }
            r => r,
        }
    }

    fn unicode_escape_strict(&mut self) -> R<char> {
        let hi = self.hex4()?;
        let lone = |c: &Self| {
            c.fail(
                ErrorCode::LoneSurrogate,
                "lone UTF-16 surrogate in \\u escape (not representable in canonical JSON)",
            )
        };
        if (0xDC00..0xE000).contains(&hi) {
            return Err(lone(self));
        }
        if (0xD800..0xDC00).contains(&hi) {
            if !self.b[self.i..].starts_with(b"\\u") {
                return Err(lone(self));
            }
            self.i += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(lone(self));
            }
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return char::from_u32(c).ok_or_else(|| lone(self));
        }
        char::from_u32(hi).ok_or_else(|| lone(self))
    }

    fn utf8<'b>(&self, bytes: &'b [u8], start: usize) -> R<&'b str> {
        std::str::from_utf8(bytes).map_err(|e| Fail {
            code: ErrorCode::InvalidUtf8,
            message: "string is not valid UTF-8".into(),
            offset: start + e.valid_up_to(),
            rev_path: Vec::new(),
        })
    }

    fn number(&mut self) -> R<Value> {
        let start = self.i;
        let b = self.b;
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => {
                self.i = i;
                return Err(self.fail(ErrorCode::InvalidJson, "invalid number"));
            }
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.i = i;
                return Err(self.fail(ErrorCode::InvalidJson, "invalid number"));
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.i = i;
                return Err(self.fail(ErrorCode::InvalidJson, "invalid number"));
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        self.i = i;
        // The grammar above admits only ASCII, so this cannot fail; stay panic-free anyway.
        let text = std::str::from_utf8(&b[start..i]).unwrap_or("x");
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Value::Number(n)),
            _ => {
                let msg = format!("number {text} is outside the IEEE-754 double range");
                self.i = start;
                if self.soft_error(ErrorCode::NumberOutOfRange, msg.clone(), None) {
                    self.i = i;
                    return Ok(Value::Null);
                }
                Err(self.fail(ErrorCode::NumberOutOfRange, msg))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &[u8]) -> Error {
        Parser::new(64).parse(s).unwrap_err()
    }

    #[test]
    fn rejects_what_jcs_cannot_represent() {
        assert_eq!(err(br#"{"a":1e400}"#).code(), ErrorCode::NumberOutOfRange);
        assert_eq!(err(br#"{"a":1e400}"#).path(), "/a");
        assert_eq!(err(br#"["\ud800"]"#).code(), ErrorCode::LoneSurrogate);
        assert_eq!(err(br#"["\ud800"]"#).path(), "/0");
        assert_eq!(err(br#"["\udc00\ud800"]"#).code(), ErrorCode::LoneSurrogate);
        assert_eq!(err(b"[\"\xff\"]").code(), ErrorCode::InvalidUtf8);
        assert_eq!(err(br#"{"x":[{"k":1,"k":1}]}"#).path(), "/x/0/k");
    }

    #[test]
    fn depth_limit_is_checked_before_recursing() {
        let deep = "[".repeat(100_000);
        let e = err(deep.as_bytes());
        assert_eq!(e.code(), ErrorCode::DepthExceeded);
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(Parser::new(64).parse(ok.as_bytes()).is_ok());
        let bad = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(err(bad.as_bytes()).code(), ErrorCode::DepthExceeded);
    }

    #[test]
    fn rejects_malformed_text() {
        for s in [
            &b""[..],
            b"{",
            b"[1,]",
            b"{\"a\" 1}",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b"tru",
            b"\"a",
            b"[1] x",
            b"{\"a\":1,}",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\x01\"",
            b"NaN",
        ] {
            assert_eq!(
                err(s).code(),
                ErrorCode::InvalidJson,
                "{:?}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn lenient_mode_records_what_jcs_cannot_represent_and_goes_on() {
        let (v, soft) = Parser::new(64)
            .parse_lenient(br#"[{"a":1,"a":2},"\udead",1e999,{"k":[0,"\ud800x"]}]"#)
            .unwrap();
        let got: Vec<(&str, &str)> = soft.iter().map(|e| (e.code().as_str(), e.path())).collect();
        assert_eq!(
            got,
            [
                ("duplicate_key", "/0/a"),
                ("lone_surrogate", "/1"),
                ("number_out_of_range", "/2"),
                ("lone_surrogate", "/3/k/1")
            ]
        );
        let a = v.as_array().unwrap();
        assert_eq!(
            a[0].get("a"),
            Some(&Value::Number(1.0)),
            "the first of repeated keys is kept"
        );
        assert_eq!(a[2], Value::Null);
        // Malformed text still fails outright.
        assert_eq!(
            Parser::new(64).parse_lenient(b"[1,").unwrap_err().code(),
            ErrorCode::InvalidJson
        );
    }

    #[test]
    fn reads_escapes_and_pairs() {
        let v = Parser::new(8)
            .parse(br#""\u00e9\ud83d\ude00\n\/""#)
            .unwrap();
        assert_eq!(v.as_str(), Some("\u{e9}\u{1F600}\n/"));
    }
}
