//! The remote C2 service's submission bodies (venus-seal-backends'
//! `remote_c2`, through its `fuzzing` feature): what a worker, or anyone
//! holding a write token, can POST to `/v1/c2`.
//!
//! * The first input byte picks plain JSON (even) or a zstd body (odd);
//!   decompression stops at a limit and never panics.
//! * A body that parses is a C2 task whose task id is a valid id (it goes
//!   into SQL and log lines), and the same task re-serialized names the
//!   same id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venus_seal_backends::remote_c2::fuzzing as body;
use venus_seal_backends::remote_c2::task_id;
use venus_seal_core::stage::C2;

/// A small limit, so that zstd bombs are cut short quickly.
const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((flag, rest)) = data.split_first() else {
        return;
    };
    let bytes = if flag & 1 == 1 {
        match body::unzstd(rest, LIMIT) {
            Ok(bytes) => {
                assert!(bytes.len() <= LIMIT);
                bytes
            }
            Err(_) => return,
        }
    } else {
        rest.to_vec()
    };
    let Ok(task) = body::parse_task(&bytes) else {
        return;
    };
    // A C2 task always has an id (its row needs no encoding that can fail).
    let id = task_id(&task).expect("a parsed C2 task has an id");
    assert!(body::valid_id(&id), "task id {id:?} is not valid");
    let again: C2 = serde_json::from_slice(&serde_json::to_vec(&task).unwrap()).unwrap();
    assert_eq!(task_id(&again).unwrap(), id);
});
