//! `batch-sync`: the command-line host of the JSON contract (native and `wasm32-wasip1`).
//!
//! Exit codes: 0 ok, 1 input rejected (the JSON error is on stdout), 2 bad usage.

use std::io::{Read, Write};
use std::process::ExitCode;

use batch_sync::contract;
use batch_sync::value::Value;

const USAGE: &str = "\
batch-sync — exact change detection, conflict detection and three-way merge for batch sync

Usage: batch-sync <command> [--input FILE]

Commands (input JSON on stdin, or from --input FILE; output JSON on stdout, no trailing newline):
  canonicalize   one JSON text -> its RFC 8785 canonical bytes
  checksum       {records, side?, config?} -> per-record SHA-256 of the canonical view
  classify       {local, remote, base?, config?} -> one decision per id
  merge          {base, local, remote, config?} or {items, config?} -> merged record, conflicts, patches
  patch diff     {from, to} -> the RFC 7396 merge patch
  patch apply    {target, patch} -> the canonical result
  plan           {decisions, config?} -> staging batches, remote operations, retry delays
  retry          {key, attempt, config?} -> the delay before that attempt, or dead letter
  call           a whole request envelope {op, ...} -> the response envelope

Options:
  --input FILE   read the input from FILE instead of stdin
  -h, --help     this help (also after a command: batch-sync classify --help)
  -V, --version  the version and the contract version

Exit codes: 0 ok, 1 input rejected (the JSON error is on stdout), 2 bad usage.
";

struct Cmd {
    name: &'static str,
    op: &'static str,
    help: &'static str,
}

const CMDS: &[Cmd] = &[
    Cmd { name: "canonicalize", op: "canonicalize", help: "Usage: batch-sync canonicalize [--input FILE]\n\nReads one JSON text and writes its RFC 8785 canonical bytes (no trailing newline).\nRejects duplicate keys, lone surrogates, numbers outside the double range and nesting over 512.\n" },
    Cmd { name: "checksum", op: "checksum", help: "Usage: batch-sync checksum [--input FILE]\n\nInput: {\"records\": [...], \"side\": \"local\"|\"remote\", \"config\": {...}}\nOutput: {\"ok\":true,\"items\":[{\"index\",\"id\",\"checksum\"} | {\"index\",\"error\"}]}\n" },
    Cmd { name: "classify", op: "classify", help: "Usage: batch-sync classify [--input FILE]\n\nInput: {\"local\": [...], \"remote\": [...], \"base\": [...]?, \"config\": {...}}\nOutput: {\"ok\":true,\"decisions\":[...],\"summary\":{...}} — one decision per id.\n" },
    Cmd { name: "merge", op: "merge", help: "Usage: batch-sync merge [--input FILE]\n\nInput: {\"base\", \"local\", \"remote\", \"config\"?} or {\"items\": [{base, local, remote}], \"config\"?}\nOutput: merged record, conflicts {path, base, local, remote, reason, resolution}, patches per side.\n" },
    Cmd { name: "plan", op: "plan", help: "Usage: batch-sync plan [--input FILE]\n\nInput: {\"decisions\": <classify's decisions>, \"config\": {\"batch_size\", \"retry\"}}\nOutput: staging batches, remote operations with idempotency keys and retry delays.\n" },
    Cmd { name: "retry", op: "retry", help: "Usage: batch-sync retry [--input FILE]\n\nInput: {\"key\": <idempotency key>, \"attempt\": n, \"config\": {\"retry\": {...}}}\nOutput: {\"delay_ms\": d, \"dead_letter\": false} or {\"dead_letter\": true}\n" },
    Cmd { name: "call", op: "", help: "Usage: batch-sync call [--input FILE]\n\nInput: a whole request envelope {\"op\": ..., ...}; output: the response envelope.\n" },
];

const PATCH_HELP: &str = "Usage: batch-sync patch <diff|apply> [--input FILE]\n\n  diff    {\"from\": a, \"to\": b} -> the RFC 7396 merge patch from a to b\n  apply   {\"target\": t, \"patch\": p} -> the canonical result of applying p to t\n";

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("batch-sync: {msg}\nTry 'batch-sync --help'.");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(first) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    match first.as_str() {
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        "-V" | "--version" => {
            println!(
                "batch-sync {} (contract {})",
                env!("CARGO_PKG_VERSION"),
                contract::CONTRACT_VERSION
            );
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let (name, op, help, rest): (&str, &str, &str, &[String]) = if first == "patch" {
        match args.get(1).map(String::as_str) {
            Some("diff") => ("patch diff", "patch_diff", PATCH_HELP, &args[2..]),
            Some("apply") => ("patch apply", "patch_apply", PATCH_HELP, &args[2..]),
            Some("-h" | "--help") => {
                print!("{PATCH_HELP}");
                return ExitCode::SUCCESS;
            }
            _ => return usage_error("patch needs a subcommand: diff or apply"),
        }
    } else {
        match CMDS.iter().find(|c| c.name == first) {
            Some(c) => (c.name, c.op, c.help, &args[1..]),
            None => return usage_error(&format!("unknown command '{first}'")),
        }
    };
    let mut input_file = None;
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                print!("{help}");
                return ExitCode::SUCCESS;
            }
            "--input" => match it.next() {
                Some(f) => input_file = Some(f.clone()),
                None => return usage_error("--input needs a file name"),
            },
            other => return usage_error(&format!("{name}: unexpected argument '{other}'")),
        }
    }
    let input = match &input_file {
        Some(f) => match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => return usage_error(&format!("cannot read {f}: {e}")),
        },
        None => {
            let mut b = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut b) {
                return usage_error(&format!("cannot read stdin: {e}"));
            }
            b
        }
    };
    let (bytes, ok) = run(op, &input);
    let mut out = std::io::stdout().lock();
    if out.write_all(&bytes).and_then(|_| out.flush()).is_err() {
        return ExitCode::from(2);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs one command on its input: the bytes to write and whether the input was accepted.
fn run(op: &str, input: &[u8]) -> (Vec<u8>, bool) {
    let member = match op {
        "canonicalize" => {
            return match contract::parse_request(input) {
                Ok(v) => (batch_sync::canonical::to_vec(&v), true),
                Err(e) => (batch_sync::canonical::to_vec(&contract::failure(&e)), false),
            }
        }
        "patch_diff" => "patch",
        "patch_apply" => "result",
        _ => {
            // The contract's own path: items that hold what JSON cannot represent are rejected alone.
            let lazy = match op {
                "" => batch_sync::lazy::respond(input),
                "classify" => batch_sync::lazy::respond_classify(input),
                _ => None,
            };
            let bytes =
                lazy.unwrap_or_else(|| contract::call_op((!op.is_empty()).then_some(op), input));
            let ok = !contract::is_failure(&bytes);
            return (bytes, ok);
        }
    };
    let resp = match contract::parse_request(input) {
        Ok(Value::Object(mut m)) => {
            m.insert("op", Value::str(op));
            contract::respond(&Value::Object(m))
        }
        Ok(other) => contract::failure(&batch_sync::error::Error::new(
            batch_sync::error::ErrorCode::InvalidRequest,
            format!("input must be a JSON object, got {}", other.type_name()),
        )),
        Err(e) => contract::failure(&e),
    };
    match resp.get(member) {
        Some(v) if resp.get("ok") == Some(&Value::Bool(true)) => {
            (batch_sync::canonical::to_vec(v), true)
        }
        _ => (batch_sync::canonical::to_vec(&resp), false),
    }
}
