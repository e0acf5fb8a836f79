//! Batch plans: staging rows (in batches), remote operations, idempotency keys and retry delays.
//!
//! ```
//! use batch_sync::{config::RetryConfig, plan::retry_delay};
//! let cfg = RetryConfig { base_ms: 1000, cap_ms: 60_000, max_retries: 3, seed: 7 };
//! let d1 = retry_delay(&cfg, "key", 1).unwrap();
//! assert!(d1 <= 1000);
//! assert_eq!(retry_delay(&cfg, "key", 1), Some(d1)); // deterministic
//! assert_eq!(retry_delay(&cfg, "key", 4), None);      // dead letter after max_retries
//! ```
//!
//! Attempt `n` waits a uniformly drawn delay in `[0, min(cap, base · 2^(n-1))]` ("full jitter"),
//! drawn from SplitMix64 seeded with the seed, the row's idempotency key and `n`.

use sha2::Digest;

use crate::canonical;
use crate::config::{RetryConfig, SyncConfig};
use crate::error::{Error, ErrorCode, ItemErrors};
use crate::value::{Map, Value};

/// The idempotency key of a write: hex SHA-256 of the canonical `{"checksum","id","side"}`.
pub fn idempotency_key(side: &str, id: &str, target_checksum: Option<&str>) -> String {
    let v = Value::object([
        ("checksum", target_checksum.map_or(Value::Null, Value::str)),
        ("id", Value::str(id)),
        ("side", Value::str(side)),
    ]);
    canonical::sha256_hex(&v)
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The delay before retry `attempt` (1-based), or `None` when the row goes to the dead letter.
pub fn retry_delay(cfg: &RetryConfig, key: &str, attempt: u32) -> Option<u64> {
    if attempt == 0 || attempt > cfg.max_retries {
        return None;
    }
    let ceiling = cfg
        .base_ms
        .saturating_mul(1u64 << (attempt - 1).min(62))
        .min(cfg.cap_ms);
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut k = [0u8; 8];
    k.copy_from_slice(&digest[..8]);
    let r = splitmix64(cfg.seed ^ u64::from_le_bytes(k) ^ u64::from(attempt).rotate_left(32));
    Some(r % (ceiling + 1))
}

fn delays(cfg: &RetryConfig, key: &str) -> Value {
    Value::Array(
        (1..=cfg.max_retries)
            .filter_map(|n| retry_delay(cfg, key, n))
            .map(Value::from)
            .collect(),
    )
}

fn field<'v>(d: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(d, |v, k| v.get(k))
}

fn action<'v>(d: &'v Value, side: &str) -> Result<&'v str, Error> {
    field(d, &[side, "action"])
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidDecision,
                format!("decision has no {side}.action (pass classify's decisions unchanged)"),
            )
            .at(format!("/{side}/action"))
        })
}

/// Builds the plan for classify's decisions.
pub fn plan(cfg: &SyncConfig, decisions: &[Value], rejected: &ItemErrors) -> Value {
    let retry = cfg.retry();
    let mut rows = Vec::new();
    let mut remote_ops = Vec::new();
    let mut untouched = Vec::new();
    let mut errors = Vec::new();
    for (i, d) in decisions.iter().enumerate() {
        let planned = match rejected.get("decisions", i) {
            Some(e) => Err(e.clone()),
            None => plan_one(retry, i, d),
        };
        match planned {
            Ok((row, op)) => {
                if row.is_none() && op.is_none() {
                    untouched.push(Value::from(i));
                }
                rows.extend(row);
                remote_ops.extend(op);
            }
            Err(e) => {
                let e = e
                    .within(&format!("/decisions/{i}"))
                    .context(&format!("plan: decisions[{i}]"));
                errors.push(Value::object([
                    ("index", Value::from(i)),
                    ("error", e.to_value()),
                ]));
            }
        }
    }
    let batches: Vec<Value> = rows
        .chunks(cfg.batch_size().max(1))
        .map(|c| Value::Array(c.to_vec()))
        .collect();
    let mut m = Map::new();
    m.insert("batches", Value::Array(batches));
    m.insert("rows", Value::from(rows.len()));
    m.insert("remote", Value::Array(remote_ops));
    m.insert("untouched", Value::Array(untouched));
    m.insert("errors", Value::Array(errors));
    Value::Object(m)
}

type Planned = (Option<Value>, Option<Value>);

fn plan_one(retry: &RetryConfig, i: usize, d: &Value) -> Result<Planned, Error> {
    let kind = d.get("decision").and_then(Value::as_str).ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidDecision,
            "decision has no \"decision\" kind",
        )
        .at("/decision")
    })?;
    if kind == "invalid" {
        return Ok((None, None));
    }
    let id = d
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::new(ErrorCode::InvalidDecision, "decision has no id").at("/id"))?;
    let local = action(d, "local")?;
    let remote = action(d, "remote")?;
    let target = field(d, &["target", "action"])
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::new(ErrorCode::InvalidDecision, "decision has no target.action")
                .at("/target/action")
        })?;
    let checksum = field(d, &["target", "checksum"]).and_then(Value::as_str);

    let row = if target != "none" || local != "none" {
        let operation = match (target, d.get("base").is_some()) {
            ("delete", _) => "delete",
            (_, true) => "update",
            (_, false) if local == "delete" => "delete",
            (_, false) => "insert",
        };
        let key = idempotency_key("local", id, checksum);
        let mut m = Map::new();
        m.insert("external_id", Value::str(id));
        m.insert("operation", Value::str(operation));
        m.insert(
            "data",
            field(d, &["target", "record"])
                .cloned()
                .unwrap_or(Value::Null),
        );
        m.insert("checksum", checksum.map_or(Value::Null, Value::str));
        m.insert("local_action", Value::str(local));
        m.insert(
            "local_record",
            field(d, &["local", "record"])
                .cloned()
                .unwrap_or(Value::Null),
        );
        m.insert("decision", Value::str(kind));
        m.insert("decision_index", Value::from(i));
        m.insert("retry_delays_ms", delays(retry, &key));
        m.insert("idempotency_key", Value::str(key));
        Some(Value::Object(m))
    } else {
        None
    };
    let op = match remote {
        "none" => None,
        "create" | "update" | "delete" => {
            let key = idempotency_key(
                "remote",
                id,
                if remote == "delete" { None } else { checksum },
            );
            let mut m = Map::new();
            m.insert(
                "op",
                Value::str(match remote {
                    "create" => "create",
                    "update" => "patch",
                    _ => "delete",
                }),
            );
            m.insert("id", Value::str(id));
            let body = match remote {
                "create" => field(d, &["remote", "record"]),
                "update" => field(d, &["remote", "patch"]),
                _ => None,
            };
            if remote != "delete" && body.is_none() {
                return Err(Error::new(
                    ErrorCode::InvalidDecision,
                    format!("remote action {remote} without a body"),
                )
                .at("/remote"));
            }
            m.insert("body", body.cloned().unwrap_or(Value::Null));
            // The remote version, or the base version when the remote record was not in this batch.
            if let Some(v) =
                field(d, &["remote", "version"]).or_else(|| field(d, &["base", "version"]))
            {
                m.insert("lock_version", v.clone());
            }
            m.insert("decision", Value::str(kind));
            m.insert("decision_index", Value::from(i));
            m.insert("retry_delays_ms", delays(retry, &key));
            m.insert("idempotency_key", Value::str(key));
            Some(Value::Object(m))
        }
        other => {
            return Err(Error::new(
                ErrorCode::InvalidDecision,
                format!("unknown remote action \"{other}\""),
            )
            .at("/remote/action"))
        }
    };
    Ok((row, op))
}
