//! Deterministic OpenProject-shaped work packages (~1 KiB each) and sync workloads for benches.
#![allow(dead_code)]

use batch_sync::value::Value;

/// One work package as JSON text, shaped like the OpenProject API v3 sample.
pub fn work_package(i: usize, version: usize, subject_suffix: &str) -> String {
    format!(
        r#"{{"_type":"WorkPackage","id":{i},"lockVersion":{version},"subject":"Task {i} {subject_suffix}","description":{{"format":"markdown","raw":"Work package number {i}: implement the feature and write the tests.","html":"<p>Work package number {i}: implement the feature and write the tests.</p>"}},"scheduleManually":false,"startDate":"2026-09-01","dueDate":"2026-09-{d:02}","estimatedTime":"PT{h}H","percentageDone":{p},"customField1":"FLRTS-{i}","createdAt":"2026-08-29T12:40:53Z","updatedAt":"2026-11-{d:02}T12:44:41Z","_links":{{"self":{{"href":"/api/v3/work_packages/{i}","title":"Task {i}"}},"type":{{"href":"/api/v3/types/1","title":"Task"}},"priority":{{"href":"/api/v3/priorities/8","title":"Normal"}},"project":{{"href":"/api/v3/projects/3","title":"FLRTS"}},"status":{{"href":"/api/v3/statuses/{s}","title":"Status {s}"}},"author":{{"href":"/api/v3/users/1","title":"OpenProject Admin - admin"}},"responsible":{{"href":"/api/v3/users/23","title":"Laron Leishman - Laron"}},"assignee":{{"href":"/api/v3/users/{a}","title":"User {a}"}},"version":{{"href":"/api/v3/versions/1","title":"Version 1"}},"parent":{{"href":null,"title":null}}}}}}"#,
        d = 1 + i % 28,
        h = 1 + i % 16,
        p = (i * 7) % 100,
        s = 1 + i % 7,
        a = 100 + i % 50,
    )
}

/// A classify request with `n` local/remote/base triples: 10% changed on one side
/// (alternating), 1% changed on both sides (conflicts), the rest unchanged.
pub fn classify_request(n: usize) -> String {
    let mut local = Vec::with_capacity(n);
    let mut remote = Vec::with_capacity(n);
    let mut base = Vec::with_capacity(n);
    for i in 0..n {
        let (l, r) = match i % 100 {
            0 => ("local edit", "remote edit"),
            1..=5 => ("local edit", ""),
            6..=10 => ("", "remote edit"),
            _ => ("", ""),
        };
        let bv = work_package(i, 3, "");
        let parsed = Value::parse(bv.as_bytes()).unwrap();
        let mut snap = parsed;
        if let Value::Object(m) = &mut snap {
            for k in ["id", "lockVersion", "updatedAt"] {
                m.remove(k);
            }
        }
        base.push(format!(
            r#"{{"id":{i},"version":3,"snapshot":{}}}"#,
            batch_sync::canonical::to_string(&snap)
        ));
        local.push(work_package(i, 3, l));
        remote.push(work_package(i, if r.is_empty() { 3 } else { 4 }, r));
    }
    format!(
        r#"{{"op":"classify","local":[{}],"remote":[{}],"base":[{}]}}"#,
        local.join(","),
        remote.join(","),
        base.join(",")
    )
}

/// A merge request with `n` conflicting items (both sides changed different and the same fields).
pub fn merge_request(n: usize) -> String {
    let items: Vec<String> = (0..n)
        .map(|i| {
            let b = work_package(i, 3, "");
            let l =
                work_package(i, 3, "local").replace("\"percentageDone\":", "\"percentageDone\":1");
            let r = work_package(i, 4, "remote")
                .replace("\"scheduleManually\":false", "\"scheduleManually\":true");
            format!(r#"{{"base":{b},"local":{l},"remote":{r}}}"#)
        })
        .collect();
    format!(
        r#"{{"op":"merge","config":{{"strategy":"server_wins"}},"items":[{}]}}"#,
        items.join(",")
    )
}
