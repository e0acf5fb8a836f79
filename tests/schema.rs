//! The decision and plan-row schema is written once, in Rust (`src/decision.rs`, `SCHEMA`):
//! - every decision and plan row in the golden vectors fits it (so the schema is what the core
//!   really emits, field by field, with the right types);
//! - the n8n node's TypeScript types (`n8n-node/nodes/BatchSync/contract.ts`) are generated from
//!   it (`BATCH_SYNC_WRITE_SCHEMA=1 cargo test --test schema` rewrites them);
//! - the workflow's SQL reads plan rows with exactly the schema's fields.

mod common;

use batch_sync::decision::{typescript, SCHEMA};
use batch_sync::value::Value;

fn fields(ty: &str) -> &'static [(&'static str, &'static str, bool)] {
    SCHEMA
        .iter()
        .find(|(n, _)| *n == ty)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no type {ty} in SCHEMA"))
}

/// Checks `v` against a TypeScript type expression of the schema; returns the mismatches.
fn check(v: &Value, ty: &str, path: &str, out: &mut Vec<String>) {
    let ty = ty.trim();
    let alternatives: Vec<&str> = split_union(ty);
    if alternatives.len() > 1 {
        let mut best: Option<Vec<String>> = None;
        for alt in alternatives {
            let mut errs = Vec::new();
            check(v, alt, path, &mut errs);
            if errs.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|b| errs.len() < b.len()) {
                best = Some(errs);
            }
        }
        out.extend(best.unwrap_or_default());
        return;
    }
    let ok = match (ty, v) {
        ("null", Value::Null) => true,
        ("string", Value::String(_)) => true,
        ("number", Value::Number(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        ("JsonValue", _) => true,
        ("JsonObject", Value::Object(_)) => true,
        (t, Value::String(s)) if t.starts_with('\'') => t.trim_matches('\'') == s.as_str(),
        (t, Value::Array(a)) if t.ends_with("[]") => {
            for (i, x) in a.iter().enumerate() {
                check(x, &t[..t.len() - 2], &format!("{path}/{i}"), out);
            }
            true
        }
        (t, Value::Object(m)) if t.chars().next().is_some_and(char::is_uppercase) => {
            let fs = fields(t);
            for (k, x) in m.iter() {
                match fs.iter().find(|(f, _, _)| *f == &**k) {
                    Some((_, fty, _)) => check(x, fty, &format!("{path}/{k}"), out),
                    None => out.push(format!("{path}: member {k} is not in {t}")),
                }
            }
            for (f, _, optional) in fs {
                if !optional && m.get(f).is_none() {
                    out.push(format!("{path}: {t} lacks required {f}"));
                }
            }
            true
        }
        _ => false,
    };
    if !ok {
        out.push(format!("{path}: {} is not {ty}", v.type_name()));
    }
}

fn split_union(ty: &str) -> Vec<&str> {
    ty.split(" | ").collect()
}

#[test]
fn every_decision_and_plan_row_in_the_vectors_fits_the_schema() {
    let (mut decisions, mut rows, mut errors) = (0, 0, Vec::new());
    for v in common::vectors() {
        let resp = Value::parse(&v.response).unwrap();
        let mut seen = |d: &Value, ty: &str, path: String| {
            check(d, ty, &path, &mut errors);
        };
        if let Some(ds) = resp.get("decisions").and_then(Value::as_array) {
            for (i, d) in ds.iter().enumerate() {
                let ty = if d.get("decision").and_then(Value::as_str) == Some("invalid") {
                    "InvalidDecision"
                } else {
                    "PairDecision"
                };
                seen(d, ty, format!("{} / {} /decisions/{i}", v.file, v.name));
                decisions += 1;
            }
            if let Some(s) = resp.get("summary") {
                seen(s, "Summary", format!("{} / {} /summary", v.file, v.name));
            }
        }
        if let Some(bs) = resp.get("batches").and_then(Value::as_array) {
            for (k, b) in bs.iter().enumerate() {
                for (i, r) in b.as_array().unwrap().iter().enumerate() {
                    seen(
                        r,
                        "PlanRow",
                        format!("{} / {} /batches/{k}/{i}", v.file, v.name),
                    );
                    rows += 1;
                }
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    assert!(
        decisions > 40 && rows >= 4,
        "{decisions} decisions, {rows} rows"
    );
}

#[test]
fn a_member_the_schema_does_not_know_is_reported() {
    // The checker itself: an unknown member, a missing required one, a wrong type.
    let d = Value::parse(br#"{"id":"1","decision":"unchanged","local":{"action":"none","extra":1},"remote":{"action":"sideways"}}"#).unwrap();
    let mut errs = Vec::new();
    check(&d, "PairDecision", "", &mut errs);
    let text = errs.join("\n");
    assert!(text.contains("member extra is not in SideState"), "{text}");
    assert!(text.contains("lacks required target"), "{text}");
    assert!(text.contains("/remote/action"), "{text}");
}

#[test]
fn the_node_typescript_types_are_generated_from_the_rust_schema() {
    let path = common::root().join("n8n-node/nodes/BatchSync/contract.ts");
    let want = typescript();
    if std::env::var_os("BATCH_SYNC_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} differs from the Rust schema; run BATCH_SYNC_WRITE_SCHEMA=1 cargo test --test schema",
        path.display()
    );
}

#[test]
fn the_workflow_sql_reads_plan_rows_with_the_schema_fields() {
    let sql = std::fs::read_to_string(common::root().join("workflows/sql/sync.sql")).unwrap();
    // The column list of batch_sync_stage's jsonb_to_recordset(p_rows) AS r(...).
    let start = sql
        .find("jsonb_to_recordset(p_rows) AS r(")
        .expect("batch_sync_stage reads its rows with jsonb_to_recordset(p_rows) AS r(...)")
        + "jsonb_to_recordset(p_rows) AS r(".len();
    let end = start + sql[start..].find(')').unwrap();
    let mut cols: Vec<&str> = sql[start..end]
        .split(',')
        .map(|c| c.split_whitespace().next().unwrap())
        .collect();
    cols.sort_unstable();
    let mut want: Vec<&str> = fields("PlanRow").iter().map(|(f, _, _)| *f).collect();
    want.sort_unstable();
    assert_eq!(cols, want);
}
