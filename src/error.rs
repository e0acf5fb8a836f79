//! Structured errors: a stable code, a message naming the operation and item, and a JSON Pointer.
//!
//! ```
//! use batch_sync::error::{Error, ErrorCode};
//! let e = Error::new(ErrorCode::InvalidId, "id must be a string or an integer").at("/local/3/id");
//! assert_eq!(e.code().as_str(), "invalid_id");
//! assert_eq!(e.path(), "/local/3/id");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::value::Value;

/// Stable machine-readable error codes (part of the JSON contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The input is not well-formed JSON.
    InvalidJson,
    /// The input bytes are not UTF-8.
    InvalidUtf8,
    /// A `\u` escape names a lone UTF-16 surrogate (JCS cannot represent it).
    LoneSurrogate,
    /// An object has the same key twice.
    DuplicateKey,
    /// A number is outside the IEEE-754 double range.
    NumberOutOfRange,
    /// The value nests deeper than allowed.
    DepthExceeded,
    /// A record or batch is larger than allowed.
    TooLarge,
    /// The request envelope is malformed (missing or wrong-typed member).
    InvalidRequest,
    /// The `op` is not known.
    UnknownOp,
    /// The contract version is not supported.
    UnsupportedVersion,
    /// The configuration is invalid.
    InvalidConfig,
    /// A JSON Pointer is malformed.
    InvalidPointer,
    /// A record is not a JSON object.
    InvalidRecord,
    /// A record has no id.
    MissingId,
    /// An id is neither a string nor a safe integer.
    InvalidId,
    /// The same id occurs more than once on one side.
    DuplicateId,
    /// A timestamp cannot be read.
    InvalidTimestamp,
    /// A field cannot be mapped between shapes.
    MappingFailed,
    /// A decision cannot be planned.
    InvalidDecision,
    /// A string holds a character the configuration rejects (`limits.reject_nul`: U+0000,
    /// which PostgreSQL's text and jsonb cannot store).
    UnsupportedCharacter,
}

impl ErrorCode {
    /// True for what valid JSON may hold but canonical JSON cannot represent (a lone surrogate,
    /// an out-of-range number, a repeated key): inside an item of a batch it rejects only that
    /// item (see `contract::call_op`).
    pub fn is_unrepresentable(self) -> bool {
        matches!(
            self,
            ErrorCode::LoneSurrogate | ErrorCode::NumberOutOfRange | ErrorCode::DuplicateKey
        )
    }

    /// The code as written in the JSON contract.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::LoneSurrogate => "lone_surrogate",
            ErrorCode::DuplicateKey => "duplicate_key",
            ErrorCode::NumberOutOfRange => "number_out_of_range",
            ErrorCode::DepthExceeded => "depth_exceeded",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnknownOp => "unknown_op",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::InvalidPointer => "invalid_pointer",
            ErrorCode::InvalidRecord => "invalid_record",
            ErrorCode::MissingId => "missing_id",
            ErrorCode::InvalidId => "invalid_id",
            ErrorCode::DuplicateId => "duplicate_id",
            ErrorCode::InvalidTimestamp => "invalid_timestamp",
            ErrorCode::MappingFailed => "mapping_failed",
            ErrorCode::InvalidDecision => "invalid_decision",
            ErrorCode::UnsupportedCharacter => "unsupported_character",
        }
    }
}

/// An error with a code, a human message and the JSON Pointer of the offending value.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    code: ErrorCode,
    message: String,
    path: String,
}

impl Error {
    /// A new error at the document root (path `""`).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            path: String::new(),
        }
    }

    /// Sets the path.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Prepends a pointer prefix to the path (used when an item's error is placed in a request).
    pub fn within(mut self, prefix: &str) -> Self {
        self.path.insert_str(0, prefix);
        self
    }

    /// Prepends context to the message, e.g. `classify: local[3]`.
    pub fn context(mut self, ctx: &str) -> Self {
        self.message = format!("{ctx}: {}", self.message);
        self
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON Pointer of the offending value.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The contract form `{"code","message","path"}`.
    pub fn to_value(&self) -> Value {
        Value::object([
            ("code", Value::str(self.code.as_str())),
            ("message", Value::str(self.message.clone())),
            ("path", Value::str(self.path.clone())),
        ])
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at '{}': {}",
            self.code.as_str(),
            self.path,
            self.message
        )
    }
}

impl std::error::Error for Error {}

/// Errors that reject single items of a request's item arrays (`/local/3`, `/records/0`, ...),
/// found while the request was read; each path is relative to its item.
#[derive(Debug, Clone, Default)]
pub struct ItemErrors {
    map: BTreeMap<(String, usize), Error>,
}

impl ItemErrors {
    /// The error for item `index` of `array`, if it was rejected.
    pub fn get(&self, array: &str, index: usize) -> Option<&Error> {
        if self.map.is_empty() {
            return None;
        }
        self.map.get(&(array.to_owned(), index))
    }

    /// Records an error for an item (the first one per item is kept).
    pub fn insert(&mut self, array: &str, index: usize, e: Error) {
        self.map.entry((array.to_owned(), index)).or_insert(e);
    }

    /// True when no item was rejected.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
