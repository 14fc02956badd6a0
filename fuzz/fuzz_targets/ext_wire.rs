//! The ext-processor protocol: request lines a child reads and response
//! lines the parent reads (venus-seal-backends' `ext` wire format).
//!
//! * `{"id", "task"}` for every stage and `{"id", "err_msg", "output"}`
//!   for every stage's output round-trip through JSON; the bare
//!   `{"id"}` and raw-output forms the parent reads first do too.
//! * `level_of_err_msg` reads back the level `Failure` writes (except
//!   that `[abort]` from a child is only Permanent, and a temporary
//!   failure naming a full disk is Critical), and for any text returns a
//!   suffix of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use venus_seal_backends::ext::{level_of_err_msg, Request, Response};
use venus_seal_core::stage::{AddPieces, Pc1, Pc2, Stage, TreeD, C1, C2};
use venus_seal_core::{Failure, FailureLevel};
use venus_seal_fuzz::check::json_round_trip as round_trip;

fn stage<S: Stage>(data: &[u8]) {
    round_trip::<Request<S>>(data);
    round_trip::<Response<S::Output>>(data);
}

fuzz_target!(|data: &[u8]| {
    stage::<AddPieces>(data);
    stage::<TreeD>(data);
    stage::<Pc1>(data);
    stage::<Pc2>(data);
    stage::<C1>(data);
    stage::<C2>(data);
    // The parent first reads a response with the output left raw.
    if let Ok(raw) = serde_json::from_slice::<Response<Box<RawValue>>>(data) {
        let printed = serde_json::to_string(&raw).unwrap();
        let again: Response<Box<RawValue>> = serde_json::from_str(&printed).unwrap();
        assert_eq!(raw.id, again.id);
        assert_eq!(raw.err_msg, again.err_msg);
        assert_eq!(
            raw.output.as_ref().map(|o| o.get()),
            again.output.as_ref().map(|o| o.get())
        );
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (_, rest) = level_of_err_msg(text);
    assert!(text.ends_with(rest));
    for level in [
        FailureLevel::Temporary,
        FailureLevel::Permanent,
        FailureLevel::Critical,
        FailureLevel::Abort,
    ] {
        let written = Failure::new(level, text).to_string();
        let read = level_of_err_msg(&written);
        match level {
            // A child may park a sector, never delete it: `[abort]` is
            // read as Permanent with its text kept whole.
            FailureLevel::Abort => assert_eq!(read, (FailureLevel::Permanent, written.as_str())),
            // A temporary failure that names a full disk is Critical
            // (the worker stops taking sectors until there is room).
            FailureLevel::Temporary => {
                assert_eq!(read.1, text, "{written:?}");
                assert!(
                    matches!(read.0, FailureLevel::Temporary | FailureLevel::Critical),
                    "{written:?} read as {read:?}"
                );
            }
            _ => assert_eq!(read, (level, text), "{written:?}"),
        }
    }
});
