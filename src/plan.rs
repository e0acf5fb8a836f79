//! Batch plans: staging rows (in batches), each with its OpenProject request joined, idempotency
//! keys and retry delays.
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
use crate::decision::{Action, ConflictStatus, Decision, PlanRow, RemoteOp, TargetAction};
use crate::error::ItemErrors;
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

fn delays(cfg: &RetryConfig, key: &str) -> Vec<u64> {
    (1..=cfg.max_retries)
        .filter_map(|n| retry_delay(cfg, key, n))
        .collect()
}

/// Builds the plan for classify's decisions: one [`PlanRow`] per decision that writes anything
/// (its local write, base write and OpenProject request joined), in batches of `batch_size`;
/// the indexes of the decisions that write nothing (`untouched`); and an error per decision
/// that cannot be read.
pub fn plan(cfg: &SyncConfig, decisions: &[Value], rejected: &ItemErrors) -> Value {
    let retry = cfg.retry();
    let mut rows = Vec::new();
    let mut untouched = Vec::new();
    let mut errors = Vec::new();
    for (i, d) in decisions.iter().enumerate() {
        let planned = match rejected.get("decisions", i) {
            Some(e) => Err(e.clone()),
            None => Decision::from_value(d).map(|d| plan_row(retry, i, &d)),
        };
        match planned {
            Ok(Some(row)) => rows.push(row.to_value()),
            Ok(None) => untouched.push(Value::from(i)),
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
    m.insert("untouched", Value::Array(untouched));
    m.insert("errors", Value::Array(errors));
    Value::Object(m)
}

/// The staging row of one decision, or `None` when it writes nothing.
pub fn plan_row(retry: &RetryConfig, i: usize, d: &Decision) -> Option<PlanRow> {
    let Decision::Pair(p) = d else {
        return None;
    };
    let (local, remote, target) = (p.local.action, p.remote.action, p.target.action);
    if target == TargetAction::None && local == Action::None && remote == Action::None {
        return None;
    }
    let operation = match (target, p.base.is_some()) {
        (TargetAction::Delete, _) => "delete",
        (TargetAction::None, _) => "none",
        (TargetAction::Upsert, true) => "update",
        (TargetAction::Upsert, false) => "insert",
    };
    let checksum = p.target.checksum.clone();
    let key = idempotency_key("local", &p.id, checksum.as_deref());
    let remote_op = match remote {
        Action::None => None,
        a => Some(RemoteOp {
            op: match a {
                Action::Create => "create",
                Action::Update => "patch",
                _ => "delete",
            },
            body: match a {
                Action::Create => p.remote.record.clone().unwrap_or(Value::Null),
                Action::Update => p.remote.patch.clone().unwrap_or(Value::Null),
                _ => Value::Null,
            },
            // The remote version, or the base version when the remote record was not in this batch.
            lock_version: p
                .remote
                .version
                .or_else(|| p.base.as_ref().and_then(|b| b.version)),
        }),
    };
    let open = p
        .conflict
        .as_ref()
        .filter(|c| c.status == ConflictStatus::Unresolved)
        .map(|c| {
            Value::object([
                ("type", Value::str(c.kind.as_str())),
                ("strategy", Value::str(c.strategy.as_str())),
                ("conflicts", Value::Array(p.conflicts.clone())),
                (
                    "local_checksum",
                    p.local.checksum.clone().map_or(Value::Null, Value::str),
                ),
                (
                    "remote_checksum",
                    p.remote.checksum.clone().map_or(Value::Null, Value::str),
                ),
            ])
        });
    Some(PlanRow {
        external_id: p.id.clone(),
        operation,
        data: p.target.record.clone().unwrap_or(Value::Null),
        checksum,
        decision: p.kind,
        decision_index: i,
        local_action: local,
        local_record: match local {
            Action::Create | Action::Update => p.local.record.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        },
        remote: remote_op,
        remote_version: p.remote.version,
        conflict: open,
        retry_delays_ms: delays(retry, &key),
        idempotency_key: key,
    })
}
