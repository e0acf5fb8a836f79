#!/usr/bin/env python3
"""Authors the golden vectors in tests/vectors/*.json.

Every expected response below is written out by hand from the documented semantics (README,
"JSON contract"); nothing here runs the Rust code. The only computed parts are SHA-256 checksums
and idempotency keys (Python's hashlib over json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False), which equals RFC 8785 for the ASCII keys and integer numbers used in these
records) and the retry jitter (SplitMix64, restated from the README). Re-run after editing:
    python3 tests/vectors/author.py
"""
import hashlib, json, os

HERE = os.path.dirname(os.path.abspath(__file__))

def jcs(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

def cs(v):
    return hashlib.sha256(jcs(v).encode()).hexdigest()

def ok(op, **members):
    return {"ok": True, "contract": 1, "op": op, **members}

def err(code, message, path):
    return {"ok": False, "contract": 1, "error": {"code": code, "message": message, "path": path}}

def side(index=None, checksum=None, action="none", version=None, patch=None, record=None, deleted=None):
    s = {"action": action}
    if index is not None: s["index"] = index
    if checksum is not None: s["checksum"] = checksum
    if version is not None: s["version"] = version
    if patch is not None: s["patch"] = patch
    if record is not None: s["record"] = record
    if deleted: s["deleted"] = True
    return s

def target(record=None, action=None, delete=False):
    if delete: return {"action": action or "delete"}
    if record is None: return {"action": action or "none"}
    return {"action": action or "upsert", "checksum": cs(record), "record": record}

def summary(decisions, resolved=0, unresolved=0):
    kinds = ["unchanged", "create_remote", "create_local", "update_remote", "update_local", "converged",
             "delete_remote", "delete_local", "conflict", "invalid"]
    s = {k: sum(1 for d in decisions if d["decision"] == k) for k in kinds}
    s.update(conflicts_resolved=resolved, conflicts_unresolved=unresolved, total=len(decisions))
    return s

def view(rec, drop=("id", "lockVersion", "updatedAt")):
    return {k: v for k, v in rec.items() if k not in drop}

def splitmix64(z):
    M = (1 << 64) - 1
    z = (z + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)

def retry_delay(key, attempt, base=1000, cap=300000, seed=0):
    ceiling = min(cap, base * (1 << (attempt - 1)))
    k = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    rot = ((attempt << 32) | (attempt >> 32)) & ((1 << 64) - 1)
    return splitmix64(seed ^ k ^ rot) % (ceiling + 1)

def idem(side_name, id_, checksum):
    return cs({"checksum": checksum, "id": id_, "side": side_name})

vectors = {}

# ---------------------------------------------------------------- canonicalize, version, errors
vectors["canonicalize"] = [
    {"name": "sorts keys, normalises numbers and escapes",
     "request_text": '{"op":"canonicalize","value":{"b": 1.0, "a": "\\u00e9\\/\\n", "c": [1E21, 0.000001, 1e-7, -0.0, 100]}}',
     "response": ok("canonicalize", canonical='{"a":"é/\\n","b":1,"c":[1e+21,0.000001,1e-7,0,100]}')},
    {"name": "keys sort by UTF-16 code units, not bytes",
     "request_text": '{"op":"canonicalize","value":{"\\ud83d\\ude00": 1, "\\ufffd": 2, "a": 3}}',
     "response": ok("canonicalize", canonical='{"a":3,"\U0001F600":1,"\ufffd":2}')},
    {"name": "control characters use lowercase hex escapes",
     "request_text": '{"op":"canonicalize","value":"\\u001f\\u0008\\u007f"}',
     "response": ok("canonicalize", canonical='"\\u001f\\b\x7f"')},
    {"name": "lone surrogate is rejected with its path",
     "request_text": '{"op":"canonicalize","value":{"x":["ok","\\ud800"]}}',
     "response": err("lone_surrogate", "lone UTF-16 surrogate in \\u escape (not representable in canonical JSON) (at byte 47)", "/value/x/1")},
    {"name": "duplicate key is rejected with its path",
     "request_text": '{"op":"canonicalize","value":{"a":{"k":1,"k":2}}}',
     "response": err("duplicate_key", 'duplicate key "k" in object (at byte 47)', "/value/a/k")},
    {"name": "number beyond the double range is rejected",
     "request_text": '{"op":"canonicalize","value":[1,2e308]}',
     "response": err("number_out_of_range", "number 2e308 is outside the IEEE-754 double range (at byte 32)", "/value/1")},
    {"name": "truncated JSON",
     "request_text": '{"op":"canonicalize","value":[1,',
     "response": err("invalid_json", "unexpected end of input (at byte 32)", "/value/1")},
    {"name": "unknown op",
     "request": {"op": "sync_everything"},
     "response": err("unknown_op", 'unknown op "sync_everything" (expected one of canonicalize, checksum, classify, merge, patch_diff, patch_apply, plan, retry, version)', "/op")},
    {"name": "unsupported contract version",
     "request": {"op": "version", "contract": 2},
     "response": err("unsupported_version", "this build speaks contract 1", "/contract")},
    {"name": "unknown request member",
     "request": {"op": "patch_diff", "from": {}, "to": {}, "too": 1},
     "response": err("invalid_request", 'patch_diff: unknown member "too" (expected from, to)', "/too")},
    {"name": "version",
     "request": {"op": "version"},
     "response": ok("version", version="0.1.0", ops=["canonicalize", "checksum", "classify", "merge", "patch_diff", "patch_apply", "plan", "retry", "version"])},
]

# ---------------------------------------------------------------- merge patch
vectors["patch"] = [
    {"name": "diff: removed, nested, replaced array",
     "request": {"op": "patch_diff", "from": {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}, "to": {"b": {"c": 4, "d": 3}, "e": [2]}},
     "response": ok("patch_diff", patch={"a": None, "b": {"c": 4}, "e": [2]})},
    {"name": "diff: equal objects give {}",
     "request": {"op": "patch_diff", "from": {"a": {"b": 1}}, "to": {"a": {"b": 1.0}}},
     "response": ok("patch_diff", patch={})},
    {"name": "diff: non-object target is replaced",
     "request": {"op": "patch_diff", "from": [1, 2], "to": [1, 2]},
     "response": ok("patch_diff", patch=[1, 2])},
    {"name": "apply: RFC 7396 section 3 example",
     "request": {"op": "patch_apply",
                 "target": {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}, "tags": ["example", "sample"], "content": "This will be unchanged"},
                 "patch": {"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": None}, "tags": ["example"]}},
     "response": ok("patch_apply", result={"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"], "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})},
]

# ---------------------------------------------------------------- checksum
r0 = {"id": 1, "lockVersion": 7, "updatedAt": "2026-11-01T10:00:00Z", "subject": "Develop API", "percentageDone": 0}
r1 = {"percentageDone": 0, "subject": "Develop API", "id": 1, "lockVersion": 8}
vectors["checksum"] = [
    {"name": "id, version and updated-at are excluded by default; key order does not matter",
     "request": {"op": "checksum", "records": [r0, r1, "nope", {"id": 2.5, "x": 1}]},
     "response": ok("checksum", items=[
         {"index": 0, "id": "1", "checksum": cs({"percentageDone": 0, "subject": "Develop API"})},
         {"index": 1, "id": "1", "checksum": cs({"percentageDone": 0, "subject": "Develop API"})},
         {"index": 2, "error": {"code": "invalid_record", "message": "checksum: records[2]: record must be an object, got string", "path": "/records/2"}},
         {"index": 3, "checksum": cs({"x": 1})},
     ])},
    {"name": "include selects fields by JSON Pointer",
     "request": {"op": "checksum", "side": "remote", "config": {"include": ["/subject", "/_links/status"]},
                 "records": [{"id": 9, "subject": "S", "extra": 1, "_links": {"status": {"href": "/api/v3/statuses/1", "title": "New"}, "self": {"href": "/x"}}}]},
     "response": ok("checksum", items=[{"index": 0, "id": "9", "checksum": cs({"subject": "S", "_links": {"status": {"href": "/api/v3/statuses/1", "title": "New"}}})}])},
    {"name": "a number beyond the double range rejects only its record",
     "request_text": (t := '{"op":"checksum","records":[{"id":1,"x":1e400},{"id":2,"x":1}]}'),
     "response": ok("checksum", items=[
         {"index": 0, "id": "1", "error": {"code": "number_out_of_range", "message": f"checksum: records[0]: number 1e400 is outside the IEEE-754 double range (at byte {t.index('1e400')})", "path": "/records/0/x"}},
         {"index": 1, "id": "2", "checksum": cs({"x": 1})}])},
    {"name": "configuration typos are rejected",
     "request": {"op": "checksum", "records": [], "config": {"stratgy": "merge"}},
     "response": err("invalid_config", "checksum: config.stratgy: unknown key (known keys: id_field, local_id_field, remote_id_field, version_field, local_version_field, remote_version_field, updated_at_field, local_updated_at_field, remote_updated_at_field, deleted_field, local_deleted_field, remote_deleted_field, include, exclude, mapping, mode, delete_missing, seed_base, lean_unchanged, strategy, time_zone, arrays, limits, batch_size, retry)", "/config/stratgy")},
    {"name": "seed_base is true or false",
     "request": {"op": "classify", "local": [], "remote": [], "config": {"seed_base": 1}},
     "response": err("invalid_config", "classify: config.seed_base: expected a boolean", "/config/seed_base")},
    {"name": "lean_unchanged is true or false",
     "request": {"op": "classify", "local": [], "remote": [], "config": {"lean_unchanged": "yes"}},
     "response": err("invalid_config", "classify: config.lean_unchanged: expected a boolean", "/config/lean_unchanged")},
    {"name": "limits.reject_nul is true or false",
     "request": {"op": "checksum", "records": [], "config": {"limits": {"reject_nul": "yes"}}},
     "response": err("invalid_config", "checksum: config.limits: reject_nul: expected true or false", "/config/limits/reject_nul")},
    {"name": "without limits.reject_nul a NUL is text like any other",
     "request": {"op": "checksum", "records": [{"id": 1, "s": "a\u0000b"}]},
     "response": ok("checksum", items=[{"index": 0, "id": "1", "checksum": cs({"s": "a\u0000b"})}])},
    {"name": "with limits.reject_nul a record holding a NUL is rejected at its path",
     "request": {"op": "checksum", "records": [{"id": 1, "s": "a\u0000b"}, {"id": 2, "t": {"k\u0000": 1}}, {"id": 3, "s": "ok"}], "config": {"limits": {"reject_nul": True}}},
     "response": ok("checksum", items=[
         {"index": 0, "id": "1", "error": {"code": "unsupported_character", "message": "checksum: records[0]: local field /s: the text holds U+0000 (NUL), which the other side cannot store (limits.reject_nul)", "path": "/records/0/s"}},
         # a key holding the NUL is named with it written out (six characters), so that the
         # error can be stored where the record could not
         {"index": 1, "id": "2", "error": {"code": "unsupported_character", "message": "checksum: records[1]: local field /t/k\\u0000: the text holds U+0000 (NUL), which the other side cannot store (limits.reject_nul)", "path": "/records/1/t/k\\u0000"}},
         {"index": 2, "id": "3", "checksum": cs({"s": "ok"})}])},
]

# ---------------------------------------------------------------- classify
def classify_vector(name, request, decisions, resolved=0, unresolved=0):
    return {"name": name, "request": dict(op="classify", **request),
            "response": ok("classify", decisions=decisions, summary=summary(decisions, resolved, unresolved))}

V = []
# 1. No base: unchanged, create both ways.
L = [{"id": 1, "subject": "A", "lockVersion": 1}, {"id": 2, "subject": "only local"}]
R = [{"id": 1, "subject": "A", "lockVersion": 1}, {"id": 3, "subject": "only remote", "lockVersion": 1}]
V.append(classify_vector("no base: unchanged seeds the base, creates go both ways", {"local": L, "remote": R}, [
    {"id": "1", "decision": "unchanged", "local": side(0, cs({"subject": "A"}), version=1), "remote": side(0, cs({"subject": "A"}), version=1), "target": target({"subject": "A"})},
    {"id": "2", "decision": "create_remote", "local": side(1, cs({"subject": "only local"})), "remote": side(action="create", record={"id": 2, "subject": "only local"}), "target": target({"subject": "only local"})},
    {"id": "3", "decision": "create_local", "local": side(action="create", record={"id": 3, "subject": "only remote"}), "remote": side(1, cs({"subject": "only remote"}), version=1), "target": target({"subject": "only remote"})},
]))
V.append(classify_vector("no base, seed_base false: an unchanged pair carries no target record; creates still do", {"local": L, "remote": R, "config": {"seed_base": False}}, [
    {"id": "1", "decision": "unchanged", "local": side(0, cs({"subject": "A"}), version=1), "remote": side(0, cs({"subject": "A"}), version=1), "target": target()},
    {"id": "2", "decision": "create_remote", "local": side(1, cs({"subject": "only local"})), "remote": side(action="create", record={"id": 2, "subject": "only local"}), "target": target({"subject": "only local"})},
    {"id": "3", "decision": "create_local", "local": side(action="create", record={"id": 3, "subject": "only remote"}), "remote": side(1, cs({"subject": "only remote"}), version=1), "target": target({"subject": "only remote"})},
]))
V.append(classify_vector("no base, lean_unchanged: an unchanged pair names no checksum; a pair that differs, and creates, do", {"local": L + [{"id": 4, "subject": "mine", "lockVersion": 2}], "remote": R + [{"id": 4, "subject": "theirs", "lockVersion": 3}], "config": {"seed_base": False, "lean_unchanged": True}}, [
    {"id": "1", "decision": "unchanged", "local": side(0, version=1), "remote": side(0, version=1), "target": target()},
    {"id": "2", "decision": "create_remote", "local": side(1, cs({"subject": "only local"})), "remote": side(action="create", record={"id": 2, "subject": "only local"}), "target": target({"subject": "only local"})},
    # No base and the remote version is higher: the local record is behind, the remote one wins.
    {"id": "4", "decision": "conflict", "conflict": {"type": "local_behind", "strategy": "merge", "status": "resolved"},
     "conflicts": [{"path": "/subject", "local": "mine", "remote": "theirs", "reason": "no_base", "resolution": "remote", "strategy": "server_wins"}],
     "local": side(2, cs({"subject": "mine"}), "update", version=2, patch={"subject": "theirs"}, record={"id": 4, "subject": "theirs", "lockVersion": 2}),
     "remote": side(2, cs({"subject": "theirs"}), version=3), "target": target({"subject": "theirs"})},
    {"id": "3", "decision": "create_local", "local": side(action="create", record={"id": 3, "subject": "only remote"}), "remote": side(1, cs({"subject": "only remote"}), version=1), "target": target({"subject": "only remote"})},
], resolved=1))
# 2. With base: update either way, converged, unchanged.
base = [{"id": "a", "snapshot": {"s": 1}, "version": 3}, {"id": "b", "snapshot": {"s": 1}, "version": 3},
        {"id": "c", "snapshot": {"s": 1}}, {"id": "d", "checksum": cs({"s": 1})}]
L = [{"id": "a", "s": 2}, {"id": "b", "s": 1}, {"id": "c", "s": 5}, {"id": "d", "s": 1}]
R = [{"id": "a", "s": 1, "lockVersion": 3}, {"id": "b", "s": 9, "lockVersion": 4}, {"id": "c", "s": 5, "lockVersion": 4}, {"id": "d", "s": 1, "lockVersion": 3}]
changed_abc = [
    {"id": "a", "decision": "update_remote", "local": side(0, cs({"s": 2})), "remote": side(0, cs({"s": 1}), "update", 3, patch={"s": 2, "lockVersion": 3}, record={"id": "a", "s": 2, "lockVersion": 3}),
     "base": {"index": 0, "checksum": cs({"s": 1}), "version": 3}, "target": target({"s": 2})},
    {"id": "b", "decision": "update_local", "local": side(1, cs({"s": 1}), "update", patch={"s": 9}, record={"id": "b", "s": 9}), "remote": side(1, cs({"s": 9}), version=4),
     "base": {"index": 1, "checksum": cs({"s": 1}), "version": 3}, "target": target({"s": 9})},
    {"id": "c", "decision": "converged", "local": side(2, cs({"s": 5})), "remote": side(2, cs({"s": 5}), version=4),
     "base": {"index": 2, "checksum": cs({"s": 1})}, "target": target({"s": 5})},
]
V.append(classify_vector("three-way by checksums: update_remote, update_local, converged, unchanged", {"local": L, "remote": R, "base": base}, changed_abc + [
    {"id": "d", "decision": "unchanged", "local": side(3, cs({"s": 1})), "remote": side(3, cs({"s": 1}), version=3),
     "base": {"index": 3, "checksum": cs({"s": 1})}, "target": target()},
]))
V.append(classify_vector("three-way, lean_unchanged: the unchanged pair names no checksum, nor does its base; the others are as without it", {"local": L, "remote": R, "base": base, "config": {"lean_unchanged": True}}, changed_abc + [
    {"id": "d", "decision": "unchanged", "local": side(3), "remote": side(3, version=3),
     "base": {"index": 3}, "target": target()},
]))
# 3. Concurrent modification, field-level merge: resolved (disjoint fields, nested, deletion) and unresolved.
bs = {"subject": "S", "status": "New", "meta": {"a": 1, "b": 2}, "tags": ["x"]}
ls = {"id": 7, "subject": "S local", "status": "New", "meta": {"a": 1, "b": 2}}             # edits subject, deletes tags
rs = {"id": 7, "subject": "S", "status": "Closed", "meta": {"a": 1, "b": 3}, "tags": ["x"], "lockVersion": 5}
merged = {"subject": "S local", "status": "Closed", "meta": {"a": 1, "b": 3}}
lu = {"id": 8, "subject": "mine", "status": "New"}
ru = {"id": 8, "subject": "theirs", "status": "New", "lockVersion": 2}
V.append(classify_vector("concurrent modification: merge combines disjoint edits (deletions count) and leaves true conflicts",
    {"local": [ls, lu], "remote": [rs, ru], "base": [{"id": 7, "snapshot": bs, "version": 4}, {"id": 8, "snapshot": {"subject": "orig", "status": "New"}, "version": 1}]}, [
    {"id": "7", "decision": "conflict", "conflict": {"type": "concurrent_modification", "strategy": "merge", "status": "resolved"}, "conflicts": [],
     "local": side(0, cs(view(ls)), "update", patch={"status": "Closed", "meta": {"b": 3}}, record={"id": 7, "subject": "S local", "status": "Closed", "meta": {"a": 1, "b": 3}}),
     "remote": side(0, cs(view(rs)), "update", 5, patch={"subject": "S local", "tags": None, "lockVersion": 5}, record={"id": 7, "subject": "S local", "status": "Closed", "meta": {"a": 1, "b": 3}, "lockVersion": 5}),
     "base": {"index": 0, "checksum": cs(bs), "version": 4}, "target": target(merged)},
    {"id": "8", "decision": "conflict", "conflict": {"type": "concurrent_modification", "strategy": "merge", "status": "unresolved"},
     "conflicts": [{"path": "/subject", "base": "orig", "local": "mine", "remote": "theirs", "reason": "both_modified", "resolution": "unresolved", "strategy": "merge"}],
     # Only the conflicting field differs: nothing to write; the agreed record is the base.
     "local": side(1, cs(view(lu))), "remote": side(1, cs(view(ru)), version=2),
     "base": {"index": 1, "checksum": cs({"subject": "orig", "status": "New"}), "version": 1}, "target": target({"subject": "orig", "status": "New"}, action="none")},
], resolved=1, unresolved=1))
# 4. Per-field strategies: default server_wins, /description newest_wins (local is newer by instant across zones).
b4 = {"status": "New", "description": "d0"}
l4 = {"id": 1, "status": "Local", "description": "d-local", "updatedAt": "2026-11-26T12:30:00+01:00"}   # 11:30Z
r4 = {"id": 1, "status": "Remote", "description": "d-remote", "updatedAt": "2026-11-26T11:00:00Z", "lockVersion": 9}
m4 = {"status": "Remote", "description": "d-local"}
V.append(classify_vector("per-field strategies: /status server_wins by default, /description newest_wins by instant",
    {"local": [l4], "remote": [r4], "base": [{"id": 1, "snapshot": b4}], "config": {"strategy": {"default": "server_wins", "fields": {"/description": "newest_wins"}}}}, [
    {"id": "1", "decision": "conflict", "conflict": {"type": "concurrent_modification", "strategy": "server_wins", "status": "resolved"},
     "conflicts": [
         {"path": "/description", "base": "d0", "local": "d-local", "remote": "d-remote", "reason": "both_modified", "resolution": "local", "strategy": "newest_wins"},
         {"path": "/status", "base": "New", "local": "Local", "remote": "Remote", "reason": "both_modified", "resolution": "remote", "strategy": "server_wins"}],
     "local": side(0, cs(view(l4)), "update", patch={"status": "Remote"}, record={"id": 1, "status": "Remote", "description": "d-local", "updatedAt": "2026-11-26T12:30:00+01:00"}),
     "remote": side(0, cs(view(r4)), "update", 9, patch={"description": "d-local", "lockVersion": 9}, record={"id": 1, "status": "Remote", "description": "d-local", "updatedAt": "2026-11-26T11:00:00Z", "lockVersion": 9}),
     "base": {"index": 0, "checksum": cs(b4)}, "target": target(m4)},
], resolved=1))
# 5. No base: versions decide, in both directions; same version is a concurrent modification.
L5 = [{"id": 1, "s": "old", "lockVersion": 2}, {"id": 2, "s": "new", "lockVersion": 5}, {"id": 3, "s": "x", "lockVersion": 4}]
R5 = [{"id": 1, "s": "new", "lockVersion": 3}, {"id": 2, "s": "old", "lockVersion": 4}, {"id": 3, "s": "y", "lockVersion": 4}]
V.append(classify_vector("no base: local_behind, remote_behind (the seed forgot this one) and concurrent_modification",
    {"local": L5, "remote": R5}, [
    {"id": "1", "decision": "conflict", "conflict": {"type": "local_behind", "strategy": "merge", "status": "resolved"},
     "conflicts": [{"path": "/s", "local": "old", "remote": "new", "reason": "no_base", "resolution": "remote", "strategy": "server_wins"}],
     "local": side(0, cs({"s": "old"}), "update", 2, patch={"s": "new"}, record={"id": 1, "s": "new", "lockVersion": 2}),
     "remote": side(0, cs({"s": "new"}), version=3), "target": target({"s": "new"})},
    {"id": "2", "decision": "conflict", "conflict": {"type": "remote_behind", "strategy": "merge", "status": "resolved"},
     "conflicts": [{"path": "/s", "local": "new", "remote": "old", "reason": "no_base", "resolution": "local", "strategy": "client_wins"}],
     "local": side(1, cs({"s": "new"}), version=5),
     "remote": side(1, cs({"s": "old"}), "update", 4, patch={"s": "new", "lockVersion": 4}, record={"id": 2, "s": "new", "lockVersion": 4}), "target": target({"s": "new"})},
    {"id": "3", "decision": "conflict", "conflict": {"type": "concurrent_modification", "strategy": "merge", "status": "unresolved"},
     "conflicts": [{"path": "/s", "local": "x", "remote": "y", "reason": "no_base", "resolution": "unresolved", "strategy": "merge"}],
     "local": side(2, cs({"s": "x"}), version=4), "remote": side(2, cs({"s": "y"}), version=4), "target": target()},
], resolved=2, unresolved=1))
# 6. No base, no versions: timestamps as instants; naive ones read in the configured zone.
L6 = [{"id": 1, "s": "l", "updatedAt": "2026-06-01 12:00:00"}]            # Berlin summer: 10:00Z
R6 = [{"id": 1, "s": "r", "updatedAt": "2026-06-01T10:30:00Z"}]
V.append(classify_vector("no base, no versions: naive timestamps are read in time_zone; newest_wins",
    {"local": L6, "remote": R6, "config": {"version_field": None, "time_zone": "Europe/Berlin", "strategy": "newest_wins"}}, [
    {"id": "1", "decision": "conflict", "conflict": {"type": "local_behind", "strategy": "newest_wins", "status": "resolved"},
     "conflicts": [{"path": "/s", "local": "l", "remote": "r", "reason": "no_base", "resolution": "remote", "strategy": "newest_wins"}],
     "local": side(0, cs({"s": "l"}), "update", patch={"s": "r"}, record={"id": 1, "s": "r", "updatedAt": "2026-06-01 12:00:00"}),
     "remote": side(0, cs({"s": "r"})), "target": target({"s": "r"})},
], resolved=1))
# 6b. A member whose value is null counts as absent: no patch "clears" a field that is already
# null on that side (OpenProject renders an empty dueDate as null).
V.append(classify_vector("a null member counts as absent: the remote patch does not clear an already-null field",
    {"local": [{"id": 1, "s": "new", "lockVersion": 5}, {"id": 2, "s": "same", "due": None, "lockVersion": 1}],
     "remote": [{"id": 1, "s": "old", "due": None, "lockVersion": 3}, {"id": 2, "s": "same", "due": None, "lockVersion": 1}]}, [
    {"id": "1", "decision": "conflict", "conflict": {"type": "remote_behind", "strategy": "merge", "status": "resolved"},
     "conflicts": [{"path": "/s", "local": "new", "remote": "old", "reason": "no_base", "resolution": "local", "strategy": "client_wins"}],
     "local": side(0, cs({"s": "new"}), version=5),
     "remote": side(0, cs({"s": "old", "due": None}), "update", 3, patch={"s": "new", "lockVersion": 3}, record={"id": 1, "s": "new", "due": None, "lockVersion": 3}),
     "target": target({"s": "new"})},
    # Equal on both sides, null included: nothing to write (the base is seeded).
    {"id": "2", "decision": "unchanged", "local": side(1, cs({"s": "same", "due": None}), version=1),
     "remote": side(1, cs({"s": "same", "due": None}), version=1), "target": target({"s": "same", "due": None})},
], resolved=1))
# 7. Deletions: tombstones (incremental) and full mode with delete_missing; modify/delete.
b7 = [{"id": i, "snapshot": {"s": 1}, "version": 1} for i in (1, 2, 3, 4)]
L7 = [{"id": 1, "s": 1, "deleted_at": "2026-11-20T00:00:00Z"}, {"id": 2, "s": 2}, {"id": 3, "s": 1}]
R7 = [{"id": 1, "s": 1, "lockVersion": 1}, {"id": 4, "s": 1, "lockVersion": 1}]
V.append(classify_vector("full mode with delete_missing: tombstone, absence, modify/delete (server_wins deletes)",
    {"local": L7, "remote": R7, "base": b7, "config": {"mode": "full", "delete_missing": True, "local_deleted_field": "deleted_at", "strategy": "server_wins"}}, [
    {"id": "1", "decision": "delete_remote", "local": side(0, cs({"s": 1}), deleted=True), "remote": side(0, cs({"s": 1}), "delete", 1),
     "base": {"index": 0, "checksum": cs({"s": 1}), "version": 1}, "target": target(delete=True)},
    {"id": "2", "decision": "conflict", "conflict": {"type": "modify_delete", "strategy": "server_wins", "status": "resolved"},
     "conflicts": [{"path": "", "base": {"s": 1}, "local": {"s": 2}, "reason": "remote_deleted", "resolution": "remote", "strategy": "server_wins"}],
     "local": side(1, cs({"s": 2}), "delete"), "remote": side(), "base": {"index": 1, "checksum": cs({"s": 1}), "version": 1}, "target": target(delete=True)},
    {"id": "3", "decision": "delete_local", "local": side(2, cs({"s": 1}), "delete"), "remote": side(),
     "base": {"index": 2, "checksum": cs({"s": 1}), "version": 1}, "target": target(delete=True)},
    {"id": "4", "decision": "delete_remote", "local": side(), "remote": side(1, cs({"s": 1}), "delete", 1),
     "base": {"index": 3, "checksum": cs({"s": 1}), "version": 1}, "target": target(delete=True)},
], resolved=1))
# 8. Invalid input: duplicates poison the id on every side; bad ids; bad timestamps poison partners.
L8 = [{"id": 5, "s": 1}, {"id": 5, "s": 2}, {"id": [1], "s": 3}, {"id": 6, "s": 1, "updatedAt": "yesterday"}, {"s": "no id"}]
R8 = [{"id": 5, "s": 1}, {"id": 6, "s": 1}]
dup = 'id "5" occurs 2 times on the local side (local[0], local[1])'
V.append(classify_vector("invalid: duplicate ids, bad id, unreadable timestamp (its partner too), missing id",
    {"local": L8, "remote": R8}, [
    {"id": "5", "decision": "invalid", "side": "local", "index": 0, "error": {"code": "duplicate_id", "message": "classify: local[0]: " + dup, "path": "/local/0"}},
    {"id": "5", "decision": "invalid", "side": "local", "index": 1, "error": {"code": "duplicate_id", "message": "classify: local[1]: " + dup, "path": "/local/1"}},
    {"id": "5", "decision": "invalid", "side": "remote", "index": 0, "error": {"code": "duplicate_id", "message": "classify: remote[0]: " + dup, "path": "/remote/0"}},
    {"decision": "invalid", "side": "local", "index": 2, "error": {"code": "invalid_id", "message": "classify: local[2]: id must be a string or an integer, got array", "path": "/local/2/id"}},
    {"id": "6", "decision": "invalid", "side": "local", "index": 3, "error": {"code": "invalid_timestamp", "message": 'classify: local[3]: "yesterday" is not an RFC 3339 timestamp', "path": "/local/3/updatedAt"}},
    {"id": "6", "decision": "invalid", "side": "remote", "index": 1, "error": {"code": "invalid_timestamp", "message": 'classify: remote[1]: id "6" was rejected on the local side: "yesterday" is not an RFC 3339 timestamp', "path": "/remote/1"}},
    {"decision": "invalid", "side": "local", "index": 4, "error": {"code": "missing_id", "message": "classify: local[4]: no id at /id (set local_id_field)", "path": "/local/4/id"}},
]))
# 9. Reconciliation: report, decide nothing.
V.append(classify_vector("reconciliation mode reports differences and decides nothing",
    {"local": [{"id": 1, "a": 1, "b": {"c": 1}}], "remote": [{"id": 1, "a": 1, "b": {"c": 2}, "d": 0}], "config": {"mode": "reconciliation"}}, [
    {"id": "1", "decision": "conflict", "conflict": {"type": "concurrent_modification", "strategy": "merge", "status": "unresolved"},
     "conflicts": [{"path": "/b/c", "local": 1, "remote": 2, "reason": "no_base", "resolution": "unresolved", "strategy": "merge"},
                   {"path": "/d", "remote": 0, "reason": "no_base", "resolution": "unresolved", "strategy": "merge"}],
     "differences": ["/b/c", "/d"],
     "local": side(0, cs({"a": 1, "b": {"c": 1}})), "remote": side(0, cs({"a": 1, "b": {"c": 2}, "d": 0})), "target": target()},
], unresolved=1))
# 10. Keyed arrays merge element-wise.
b10 = {"children": [{"key": "a", "v": 1}, {"key": "b", "v": 1}]}
l10 = {"id": 1, "children": [{"key": "a", "v": 2}, {"key": "b", "v": 1}, {"key": "c", "v": 1}]}
r10 = {"id": 1, "children": [{"key": "b", "v": 1}, {"key": "d", "v": 1}]}
m10 = {"children": [{"key": "b", "v": 1}, {"key": "c", "v": 1}, {"key": "d", "v": 1}]}  # a: deleted remotely wins; b kept; local order, then remote-only
V.append(classify_vector("keyed arrays: elements merge by key; a modified element deleted remotely is a conflict",
    {"local": [l10], "remote": [r10], "base": [{"id": 1, "snapshot": b10}], "config": {"arrays": {"/children": "key"}, "strategy": {"default": "merge", "fields": {"/children": "server_wins"}}}}, [
    {"id": "1", "decision": "conflict", "conflict": {"type": "concurrent_modification", "strategy": "merge", "status": "resolved"},
     "conflicts": [{"path": "/children/0", "base": {"key": "a", "v": 1}, "local": {"key": "a", "v": 2}, "reason": "remote_deleted", "resolution": "remote", "strategy": "server_wins"}],
     "local": side(0, cs(view(l10)), "update", patch=m10, record={"id": 1, **m10}),
     "remote": side(0, cs(view(r10)), "update", patch=m10, record={"id": 1, **m10}),
     "base": {"index": 0, "checksum": cs(b10)}, "target": target(m10)},
], resolved=1))
# 11. Mapping FLRTS tasks <-> OpenProject work packages.
mapping = [{"local": "/title", "remote": "/subject"},
           {"local": "/status", "remote": "/_links/status", "transform": "link_title"},
           {"local": "/notes", "remote": "/description", "transform": "formattable"},
           {"local": "/due", "remote": "/dueDate", "transform": "date"}]
task = {"id": "FLRTS-1", "title": "Ship", "status": "Closed", "notes": "n", "due": "2026-12-01T09:00:00Z"}
wp_closed = {"id": 1528, "customField1": "FLRTS-0", "subject": "Other", "_links": {"status": {"href": "/api/v3/statuses/12", "title": "Closed"}}}
wp = {"id": 1529, "customField1": "FLRTS-1", "lockVersion": 7, "subject": "Ship", "dueDate": "2026-12-01",
      "description": {"format": "markdown", "raw": "n", "html": "<p>n</p>"},
      "_links": {"status": {"href": "/api/v3/statuses/1", "title": "New"}}}
common_local = {"title": "Ship", "status": "Closed", "notes": "n", "due": "2026-12-01"}
common_remote = {"title": "Ship", "status": "New", "notes": "n", "due": "2026-12-01"}
common_closed = {"title": "Other", "status": "Closed", "notes": None, "due": None}  # every mapped field, null when empty
V.append(classify_vector("mapping: HAL link titles, formattable text, dates; the href is learned from the batch",
    {"local": [task], "remote": [wp, wp_closed], "base": [{"id": "FLRTS-1", "snapshot": common_remote, "version": 7}],
     "config": {"mapping": mapping, "local_id_field": "id", "remote_id_field": "customField1"}}, [
    {"id": "FLRTS-1", "decision": "update_remote", "local": side(0, cs(common_local)),
     "remote": side(0, cs(common_remote), "update", 7, patch={"_links": {"status": {"href": "/api/v3/statuses/12", "title": "Closed"}}, "lockVersion": 7},
                    record={**wp, "_links": {"status": {"href": "/api/v3/statuses/12", "title": "Closed"}}}),
     "base": {"index": 0, "checksum": cs(common_remote), "version": 7}, "target": target(common_local)},
    {"id": "FLRTS-0", "decision": "create_local", "local": side(action="create", record={"id": "FLRTS-0", "title": "Other", "status": "Closed"}),
     "remote": side(1, cs(common_closed)), "target": target(common_closed)},
]))
# 11b. With a mapping every mapped field is in the common view, null when empty: a side that
# leaves the field out and a side that says null are one state (no converged rewrite each run).
tmap = [{"local": "/title", "remote": "/subject", "type": "string"}, {"local": "/due", "remote": "/dueDate", "transform": "date"}]
tcfg = {"mapping": tmap, "local_id_field": "id", "remote_id_field": "customField1"}
ab = {"title": "A", "due": None}
V.append(classify_vector("mapping: an absent field and a null field are one state, with a base or seeding one",
    {"local": [{"id": "T1", "title": "A", "due": None}, {"id": "T2", "title": "B"}],
     "remote": [{"id": 5, "customField1": "T1", "subject": "A", "lockVersion": 1}, {"id": 6, "customField1": "T2", "subject": "B", "dueDate": None, "lockVersion": 1}],
     "base": [{"id": "T1", "snapshot": ab, "version": 1}], "config": tcfg}, [
    {"id": "T1", "decision": "unchanged", "local": side(0, cs(ab)), "remote": side(0, cs(ab), version=1),
     "base": {"index": 0, "checksum": cs(ab), "version": 1}, "target": target()},
    {"id": "T2", "decision": "unchanged", "local": side(1, cs({"title": "B", "due": None})), "remote": side(1, cs({"title": "B", "due": None}), version=1),
     "target": target({"title": "B", "due": None})},
]))
V.append(classify_vector("mapping: a value whose type does not fit the field makes the record invalid (and its partner)",
    {"local": [{"id": "T3", "title": "12345"}], "remote": [{"id": 7, "customField1": "T3", "subject": 12345, "lockVersion": 1}], "config": tcfg}, [
    {"id": "T3", "decision": "invalid", "side": "local", "index": 0, "error": {"code": "mapping_failed", "message": 'classify: local[0]: id "T3" was rejected on the remote side: remote field /subject: expected a string, got number', "path": "/local/0"}},
    {"id": "T3", "decision": "invalid", "side": "remote", "index": 0, "error": {"code": "mapping_failed", "message": "classify: remote[0]: remote field /subject: expected a string, got number", "path": "/remote/0/subject"}},
]))
# An optional link (OpenProject's assignee): unset is {"href": null} with no title, which maps to
# null (so is {}, what a merge patch that unset it leaves); a null to the remote side is written
# {"href": null} (how OpenProject unsets a link), in the patch {"href": null, "title": null}.
amap = [{"local": "/title", "remote": "/subject", "type": "string"},
        {"local": "/assignee", "remote": "/_links/assignee", "transform": {"type": "link_title", "hrefs": {"Ana": "/api/v3/users/5"}}}]
acfg = {"mapping": amap, "local_id_field": "id", "remote_id_field": "customField1"}
ana = {"href": "/api/v3/users/5", "title": "Ana"}
ra1 = {"id": 11, "customField1": "A1", "subject": "A", "_links": {"assignee": {"href": None}}, "lockVersion": 1}
ra2 = {"id": 12, "customField1": "A2", "subject": "B", "_links": {"assignee": {"href": None}}, "lockVersion": 3}
ra3 = {"id": 13, "customField1": "A3", "subject": "C", "_links": {"assignee": ana}, "lockVersion": 2}
V.append(classify_vector("mapping: an unset HAL link is null; setting and unsetting one writes href or {href: null}",
    {"local": [{"id": "A1", "title": "A", "assignee": None}, {"id": "A2", "title": "B", "assignee": "Ana"}, {"id": "A3", "title": "C", "assignee": None}],
     "remote": [ra1, ra2, ra3],
     "base": [{"id": "A2", "snapshot": {"title": "B", "assignee": None}, "version": 3}, {"id": "A3", "snapshot": {"title": "C", "assignee": "Ana"}, "version": 2}],
     "config": acfg}, [
    {"id": "A1", "decision": "unchanged", "local": side(0, cs({"title": "A", "assignee": None})), "remote": side(0, cs({"title": "A", "assignee": None}), version=1),
     "target": target({"title": "A", "assignee": None})},
    {"id": "A2", "decision": "update_remote", "local": side(1, cs({"title": "B", "assignee": "Ana"})),
     "remote": side(1, cs({"title": "B", "assignee": None}), "update", 3, patch={"_links": {"assignee": ana}, "lockVersion": 3},
                    record={**ra2, "_links": {"assignee": ana}}),
     "base": {"index": 0, "checksum": cs({"title": "B", "assignee": None}), "version": 3}, "target": target({"title": "B", "assignee": "Ana"})},
    {"id": "A3", "decision": "update_remote", "local": side(2, cs({"title": "C", "assignee": None})),
     "remote": side(2, cs({"title": "C", "assignee": "Ana"}), "update", 2, patch={"_links": {"assignee": {"href": None, "title": None}}, "lockVersion": 2},
                    # the record is the remote one with the merge patch applied: null removes both keys
                    record={**ra3, "_links": {"assignee": {}}}),
     "base": {"index": 1, "checksum": cs({"title": "C", "assignee": "Ana"}), "version": 2}, "target": target({"title": "C", "assignee": None})},
]))
# With limits.reject_nul (a side kept in PostgreSQL) a string holding U+0000 makes the record
# invalid, named at the field's path in its own side's shape; its partner with it. Without the
# limit the same text is data like any other.
ncfg = {**tcfg, "limits": {"reject_nul": True}}
nul_msg = "remote field /subject: the text holds U+0000 (NUL), which the other side cannot store (limits.reject_nul)"
V.append(classify_vector("limits.reject_nul: a NUL in a mapped text makes the record invalid at its own path",
    {"local": [{"id": "T5", "title": "A"}, {"id": "T6", "title": "B"}],
     "remote": [{"id": 9, "customField1": "T5", "subject": "A\u0000B", "lockVersion": 1}, {"id": 10, "customField1": "T6", "subject": "B", "lockVersion": 1}],
     "config": ncfg}, [
    {"id": "T5", "decision": "invalid", "side": "local", "index": 0, "error": {"code": "unsupported_character", "message": 'classify: local[0]: id "T5" was rejected on the remote side: ' + nul_msg, "path": "/local/0"}},
    {"id": "T5", "decision": "invalid", "side": "remote", "index": 0, "error": {"code": "unsupported_character", "message": "classify: remote[0]: " + nul_msg, "path": "/remote/0/subject"}},
    {"id": "T6", "decision": "unchanged", "local": side(1, cs({"title": "B", "due": None})), "remote": side(1, cs({"title": "B", "due": None}), version=1),
     "target": target({"title": "B", "due": None})},
]))
# A same-field conflict on a field the base holds empty is both_modified; the field that only
# one side changed (the title) still syncs while the due date waits for a person.
lc = {"id": "T4", "title": "A", "due": "2026-12-01"}
rc = {"id": 8, "customField1": "T4", "subject": "A2", "dueDate": "2026-12-05", "lockVersion": 2}
V.append(classify_vector("mapping: an open conflict on one field does not hold back the others; empty in the base is both_modified",
    {"local": [lc], "remote": [rc], "base": [{"id": "T4", "snapshot": ab, "version": 1}], "config": tcfg}, [
    {"id": "T4", "decision": "conflict", "conflict": {"type": "concurrent_modification", "strategy": "merge", "status": "unresolved"},
     "conflicts": [{"path": "/due", "local": "2026-12-01", "remote": "2026-12-05", "reason": "both_modified", "resolution": "unresolved", "strategy": "merge"}],
     "local": side(0, cs({"title": "A", "due": "2026-12-01"}), "update", patch={"title": "A2"}, record={**lc, "title": "A2"}),
     "remote": side(0, cs({"title": "A2", "due": "2026-12-05"}), version=2),
     "base": {"index": 0, "checksum": cs(ab), "version": 1}, "target": target({"title": "A2", "due": None})},
], unresolved=1))
# 12. Field strategies decide only conflicting paths; `manual` as the default keeps the record.
b12 = {"a": 1, "b": 1}
l12 = {"id": 1, "a": 2, "b": 1}
r12 = {"id": 1, "a": 1, "b": 2}
V.append(classify_vector("a field strategy decides only conflicts at its path: a clean merge goes through despite manual on /b",
    {"local": [l12], "remote": [r12], "base": [{"id": 1, "snapshot": b12}], "config": {"strategy": {"default": "merge", "fields": {"/b": "manual"}}}}, [
    {"id": "1", "decision": "conflict", "conflict": {"type": "concurrent_modification", "strategy": "merge", "status": "resolved"},
     "conflicts": [],
     "local": side(0, cs({"a": 2, "b": 1}), "update", patch={"b": 2}, record={"id": 1, "a": 2, "b": 2}),
     "remote": side(0, cs({"a": 1, "b": 2}), "update", patch={"a": 2}, record={"id": 1, "a": 2, "b": 2}),
     "base": {"index": 0, "checksum": cs(b12)}, "target": target({"a": 2, "b": 2})},
], resolved=1))
l13 = {"id": 2, "a": 2, "b": 3}
r13 = {"id": 2, "a": 1, "b": 4}
# The conflict at /b waits for a person; /a (changed only locally) still syncs: remote gets it,
# each side keeps its own /b, and the stored record keeps the base's /b until /b is settled.
V.append(classify_vector("manual strategy on a field: that field's conflict waits for a person, the other fields still sync",
    {"local": [l13], "remote": [r13], "base": [{"id": 2, "snapshot": b12}], "config": {"strategy": {"default": "server_wins", "fields": {"/b": "manual"}}}}, [
    {"id": "2", "decision": "conflict", "conflict": {"type": "concurrent_modification", "strategy": "server_wins", "status": "unresolved"},
     "conflicts": [{"path": "/b", "base": 1, "local": 3, "remote": 4, "reason": "both_modified", "resolution": "unresolved", "strategy": "manual"}],
     "local": side(0, cs({"a": 2, "b": 3})), "remote": side(0, cs({"a": 1, "b": 4}), "update", patch={"a": 2}, record={"id": 2, "a": 2, "b": 4}),
     "base": {"index": 0, "checksum": cs(b12)}, "target": target({"a": 2, "b": 1})},
], unresolved=1))
V.append(classify_vector("manual as the default: a concurrent modification stays for a person even when its fields merge cleanly",
    {"local": [l12], "remote": [r12], "base": [{"id": 1, "snapshot": b12}], "config": {"strategy": "manual"}}, [
    {"id": "1", "decision": "conflict", "conflict": {"type": "concurrent_modification", "strategy": "manual", "status": "unresolved"},
     "conflicts": [], "local": side(0, cs({"a": 2, "b": 1})), "remote": side(0, cs({"a": 1, "b": 2})),
     "base": {"index": 0, "checksum": cs(b12)}, "target": target()},
], unresolved=1))
# 14. What canonical JSON cannot represent rejects only the record that holds it (and its id).
bad_text = ('{"op":"classify","local":[{"id":1,"s":"ok"},{"id":2,"s":"\\ud800"},{"id":3,"n":1e999},{"id":4,"a":1,"a":2}],'
            '"remote":[{"id":1,"s":"ok"},{"id":2,"s":"x"}]}')
V.append({"name": "lone surrogate, out-of-range number, duplicate key: only those records (and their ids) are invalid",
          "request_text": bad_text,
          "response": ok("classify", decisions=[
              {"id": "1", "decision": "unchanged", "local": side(0, cs({"s": "ok"})), "remote": side(0, cs({"s": "ok"})), "target": target({"s": "ok"})},
              {"id": "2", "decision": "invalid", "side": "local", "index": 1, "error": {"code": "lone_surrogate", "message": "classify: local[1]: lone UTF-16 surrogate in \\u escape (not representable in canonical JSON) (at byte 63)", "path": "/local/1/s"}},
              {"id": "2", "decision": "invalid", "side": "remote", "index": 1, "error": {"code": "lone_surrogate", "message": 'classify: remote[1]: id "2" was rejected on the local side: lone UTF-16 surrogate in \\u escape (not representable in canonical JSON) (at byte 63)', "path": "/remote/1"}},
              {"id": "3", "decision": "invalid", "side": "local", "index": 2, "error": {"code": "number_out_of_range", "message": "classify: local[2]: number 1e999 is outside the IEEE-754 double range (at byte 78)", "path": "/local/2/n"}},
              {"id": "4", "decision": "invalid", "side": "local", "index": 3, "error": {"code": "duplicate_key", "message": 'classify: local[3]: duplicate key "a" in object (at byte 105)', "path": "/local/3/a"}},
          ], summary={"unchanged": 1, "create_remote": 0, "create_local": 0, "update_remote": 0, "update_local": 0, "converged": 0,
                      "delete_remote": 0, "delete_local": 0, "conflict": 0, "invalid": 4, "conflicts_resolved": 0, "conflicts_unresolved": 0, "total": 5})})
V.append({"name": "outside the item arrays (here in config) the same problem rejects the request",
          "request_text": '{"op":"classify","local":[],"remote":[],"config":{"mode":"full","mode":"incremental"}}',
          "response": err("duplicate_key", 'duplicate key "mode" in object (at byte 85)', "/config/mode")})
vectors["classify"] = V

# ---------------------------------------------------------------- merge
mb = {"title": "T", "meta": {"x": 1, "y": 1}, "gone": 1}
ml = {"title": "T2", "meta": {"x": 2, "y": 1}, "gone": 1, "lockVersion": 3}
mr = {"title": "T", "meta": {"x": 1, "y": 2}, "lockVersion": 4, "updatedAt": "2026-01-01T00:00:00Z"}
mm = {"title": "T2", "meta": {"x": 2, "y": 2}}
vectors["merge"] = [
    {"name": "nested three-way merge with deletion, patches per side (remote with lockVersion)",
     "request": {"op": "merge", "base": mb, "local": ml, "remote": mr},
     "response": ok("merge", status="clean", conflicts=[], merged=mm, checksum=cs(mm),
                    patches={"local": {"meta": {"y": 2}, "gone": None}, "remote": {"title": "T2", "meta": {"x": 2}, "lockVersion": 4}})},
    {"name": "type change at a path is a conflict there (client_wins)",
     "request": {"op": "merge", "base": {"a": {"b": 1}}, "local": {"a": "flat"}, "remote": {"a": {"b": 2}}, "config": {"strategy": "client_wins"}},
     "response": ok("merge", status="resolved", merged={"a": "flat"}, checksum=cs({"a": "flat"}),
                    conflicts=[{"path": "/a", "base": {"b": 1}, "local": "flat", "remote": {"b": 2}, "reason": "type_changed", "resolution": "local", "strategy": "client_wins"}],
                    patches={"local": {}, "remote": {"a": "flat"}})},
    {"name": "null members count as absent on both ends of each side's patch",
     "request": {"op": "merge", "base": {"s": "x"}, "local": {"s": "y", "due": None}, "remote": {"s": "x", "due": None, "lockVersion": 3}},
     "response": ok("merge", status="clean", conflicts=[], merged={"s": "y"}, checksum=cs({"s": "y"}),
                    patches={"local": {}, "remote": {"s": "y", "lockVersion": 3}})},
    {"name": "batch items: one error does not stop the rest",
     "request": {"op": "merge", "items": [{"base": {"a": 1}, "local": {"a": 1}, "remote": {"a": 2}}, {"base": {"a": 1}, "local": 5, "remote": {"a": 2}}]},
     "response": ok("merge", items=[
         {"index": 0, "status": "clean", "conflicts": [], "merged": {"a": 2}, "checksum": cs({"a": 2}), "patches": {"local": {"a": 2}, "remote": {}}},
         {"index": 1, "error": {"code": "invalid_record", "message": "merge: items[1]: record must be an object, got number", "path": "/items/1/local"}}])},
]

# ---------------------------------------------------------------- plan and retry
t1 = {"s": 2}
decisions = [
    {"id": "a", "decision": "update_remote", "local": {"action": "none"}, "remote": {"action": "update", "version": 3, "patch": {"s": 2, "lockVersion": 3}},
     "base": {"index": 0}, "target": {"action": "upsert", "checksum": cs(t1), "record": t1}},
    {"id": "b", "decision": "create_local", "local": {"action": "create", "record": {"id": "b", "s": 1}}, "remote": {"action": "none"},
     "target": {"action": "upsert", "checksum": cs({"s": 1}), "record": {"s": 1}}},
    {"id": "c", "decision": "delete_remote", "local": {"action": "none"}, "remote": {"action": "delete", "version": 1}, "base": {"index": 2}, "target": {"action": "delete"}},
    {"id": "d", "decision": "unchanged", "local": {"action": "none"}, "remote": {"action": "none"}, "base": {"index": 3}, "target": {"action": "none"}},
    {"id": "e", "decision": "update_local"},
    {"id": "f", "decision": "delete_remote", "local": {"action": "none"}, "remote": {"action": "delete"}, "base": {"index": 5, "version": 6}, "target": {"action": "delete"}},
]
def row(id_, op, data, checksum, local_action, local_record, kind, i, remote=None, remote_version=None, retry=dict(base=100, cap=250, seed=42)):
    key = idem("local", id_, checksum)
    return {"external_id": id_, "operation": op, "data": data, "checksum": checksum, "local_action": local_action, "local_record": local_record,
            "decision": kind, "decision_index": i, "remote": remote, "remote_version": remote_version, "conflict": None, "idempotency_key": key,
            "retry_delays_ms": [retry_delay(key, n, retry["base"], retry["cap"], retry["seed"]) for n in (1, 2)]}
# One row per decision that writes anything, its OpenProject request joined in.
rows = [row("a", "update", t1, cs(t1), "none", None, "update_remote", 0, remote={"op": "patch", "body": {"s": 2, "lockVersion": 3}, "lock_version": 3}, remote_version=3),
        row("b", "insert", {"s": 1}, cs({"s": 1}), "create", {"id": "b", "s": 1}, "create_local", 1),
        row("c", "delete", None, None, "none", None, "delete_remote", 2, remote={"op": "delete", "body": None, "lock_version": 1}, remote_version=1),
        row("f", "delete", None, None, "none", None, "delete_remote", 5, remote={"op": "delete", "body": None, "lock_version": 6})]  # lock version from the base
vectors["plan"] = [
    {"name": "staging rows in batches, each with its OpenProject request, idempotency keys, retry delays; malformed decisions are reported",
     "request": {"op": "plan", "decisions": decisions, "config": {"batch_size": 2, "retry": {"base_ms": 100, "cap_ms": 250, "max_retries": 2, "seed": 42}}},
     "response": ok("plan", batches=[rows[:2], rows[2:]], rows=4,
                    untouched=[3],
                    errors=[{"index": 4, "error": {"code": "invalid_decision", "message": "plan: decisions[4]: decision has no local.action (pass classify's decisions unchanged)", "path": "/decisions/4/local/action"}}])},
    {"name": "retry: full jitter under the capped exponential ceiling",
     "request": {"op": "retry", "key": "k1", "attempt": 3, "config": {"retry": {"base_ms": 1000, "cap_ms": 3000, "seed": 7}}},
     "response": ok("retry", attempt=3, delay_ms=retry_delay("k1", 3, 1000, 3000, 7), dead_letter=False)},
    {"name": "retry: past max_retries the row goes to the dead letter",
     "request": {"op": "retry", "key": "k1", "attempt": 4},
     "response": ok("retry", attempt=4, dead_letter=True)},
]

for name, cases in vectors.items():
    with open(os.path.join(HERE, name + ".json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
        f.write("\n")
print(sum(len(c) for c in vectors.values()), "vectors written")
