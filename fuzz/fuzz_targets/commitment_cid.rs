//! CommR / CommD / PieceCID strings from outside (config, RPC, CLI) must
//! parse or fail cleanly, and what parses must print back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venus_seal_core::{ActorId, CommD, CommR, SealProof};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = s.parse::<CommD>() {
        assert_eq!(c.to_string().parse::<CommD>().unwrap(), c);
    }
    if let Ok(c) = s.parse::<CommR>() {
        assert_eq!(c.to_string().parse::<CommR>().unwrap(), c);
    }
    let _ = s.parse::<SealProof>();
    let _ = s.parse::<ActorId>();
});
