//! RFC 8785 (JCS) canonical serialisation, written straight into any byte sink.
//!
//! ```
//! use batch_sync::{canonical, value::Value};
//! let v = Value::parse(br#"{"b": 1.0, "a": "\u0041\n"}"#).unwrap();
//! assert_eq!(canonical::to_string(&v), r#"{"a":"A\n","b":1}"#);
//! ```
//!
//! Keys are already in UTF-16 order (see [`crate::value::Map`]); numbers are written as
//! ECMAScript's `Number.prototype.toString` does (via `ryu-js`); strings escape only `"`, `\`
//! and control characters, the latter as `\b \t \n \f \r` or lowercase `\u00xx`.

use sha2::Digest;

use crate::value::Value;

/// Where canonical bytes go: a buffer, a hasher, a counter.
pub trait Sink {
    /// Appends bytes.
    fn put(&mut self, bytes: &[u8]);
    /// Appends `"bytes"` (bytes that need no escaping).
    fn put_quoted(&mut self, bytes: &[u8]) {
        self.put(b"\"");
        self.put(bytes);
        self.put(b"\"");
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn put_quoted(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len() + 2);
        self.push(b'"');
        self.extend_from_slice(bytes);
        self.push(b'"');
    }
}

impl Sink for sha2::Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// Counts bytes without storing them.
#[derive(Default)]
pub struct Counter(pub usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// Writes the canonical form of `v` into `out`.
pub fn write<S: Sink + ?Sized>(v: &Value, out: &mut S) {
    write_measured(v, out);
}

/// Writes the canonical form of `v` into `out` and returns its nesting depth (scalars 0, each
/// array or object level one more), so that one walk both serialises and measures.
pub fn write_measured<S: Sink + ?Sized>(v: &Value, out: &mut S) -> usize {
    match v {
        Value::Null => out.put(b"null"),
        Value::Bool(true) => out.put(b"true"),
        Value::Bool(false) => out.put(b"false"),
        Value::Number(n) => write_number(*n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.put(b"[");
            let mut depth = 0;
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                depth = depth.max(write_measured(x, out));
            }
            out.put(b"]");
            return depth + 1;
        }
        Value::Object(m) => {
            out.put(b"{");
            let mut depth = 0;
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.put(b",");
                }
                write_string(k, out);
                out.put(b":");
                depth = depth.max(write_measured(x, out));
            }
            out.put(b"}");
            return depth + 1;
        }
    }
    0
}

/// Writes a finite double as ECMAScript does (`-0` as `0`). Non-finite values cannot occur in
/// a [`Value`]; they are written as `null` for safety.
pub fn write_number<S: Sink + ?Sized>(n: f64, out: &mut S) {
    if n == 0.0 {
        out.put(b"0");
    } else if n.fract() == 0.0 && n.abs() < EXACT_INTEGERS {
        // ECMAScript writes an integer below 1e21 as its digits; below 2^53 the cast is exact.
        write_integer(n as i64, out);
    } else if n.is_finite() {
        let mut buf = ryu_js::Buffer::new();
        out.put(buf.format_finite(n).as_bytes());
    } else {
        out.put(b"null");
    }
}

/// 2^53: every integer below it in magnitude is a double exactly.
const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// Writes the decimal digits of `n` (with its sign), as `ryu_js` would for the same double.
fn write_integer<S: Sink + ?Sized>(n: i64, out: &mut S) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    out.put(&buf[at..]);
}

/// Writes a JSON string with JCS escaping.
pub fn write_string<S: Sink + ?Sized>(s: &str, out: &mut S) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let first = first_special(bytes);
    if first == bytes.len() {
        out.put_quoted(bytes);
        return;
    }
    out.put(b"\"");
    let mut run = 0;
    for (i, &c) in bytes.iter().enumerate().skip(first) {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0..=0x1F => &[],
            _ => continue,
        };
        out.put(&bytes[run..i]);
        if esc.is_empty() {
            out.put(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ]);
        } else {
            out.put(esc);
        }
        run = i + 1;
    }
    out.put(&bytes[run..]);
    out.put(b"\"");
}

/// Index of the first byte that needs escaping (`"`, `\`, or a control character), or the length.
/// Eight bytes at a time (SWAR), since most strings need no escaping at all.
fn first_special(b: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let mut i = 0;
    while i + 8 <= b.len() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        let x = u64::from_le_bytes(w);
        let ctl = x.wrapping_sub(LO * 0x20) & !x & HI;
        if ctl | has_zero(x ^ (LO * b'"' as u64)) | has_zero(x ^ (LO * b'\\' as u64)) != 0 {
            break;
        }
        i += 8;
    }
    while i < b.len() && !matches!(b[i], 0..=0x1F | b'"' | b'\\') {
        i += 1;
    }
    i
}

/// The canonical bytes of `v`.
pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(v, &mut out);
    out
}

/// The canonical text of `v`.
pub fn to_string(v: &Value) -> String {
    // Canonical output is built only from UTF-8 strings and ASCII, so this never loses data.
    String::from_utf8(to_vec(v)).unwrap_or_default()
}

/// The length of the canonical form of `v`.
pub fn len(v: &Value) -> usize {
    let mut c = Counter::default();
    write(v, &mut c);
    c.0
}

/// Lowercase hex SHA-256 of the canonical bytes of `v`.
pub fn sha256_hex(v: &Value) -> String {
    digest_with(|buf| write(v, buf)).0
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Writes canonical bytes with `fill` into a reusable buffer, then hashes them in one pass
/// (much faster than feeding the hasher token by token). Returns the hex digest and the length.
pub fn digest_with<T>(fill: impl FnOnce(&mut Vec<u8>) -> T) -> (String, usize, T) {
    let run = |buf: &mut Vec<u8>| {
        buf.clear();
        let t = fill(buf);
        let d = sha2::Sha256::digest(buf.as_slice());
        let out = (hex(&d), buf.len(), t);
        if buf.capacity() > 1 << 20 {
            *buf = Vec::new(); // do not keep a huge buffer alive
        }
        out
    };
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => run(&mut buf),
        Err(_) => run(&mut Vec::new()),
    })
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}
