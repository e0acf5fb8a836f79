//! Fuzzes the JSON contract entry point: any bytes must give a JSON response, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let out = batch_sync::contract::call(data);
    // The response is always one canonical JSON text that reads back to itself.
    let v = batch_sync::value::Value::parse(&out).expect("response is JSON");
    assert_eq!(batch_sync::canonical::to_vec(&v), out);
    // Requests that parse are also fed to every op, to reach the deeper code.
    if let Ok(batch_sync::value::Value::Object(m)) = batch_sync::value::Value::parse(data) {
        for op in batch_sync::contract::OPS {
            let mut req = m.clone();
            req.insert("op", batch_sync::value::Value::str(*op));
            let _ = batch_sync::contract::respond(&batch_sync::value::Value::Object(req));
        }
    }
});
