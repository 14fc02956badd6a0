//! Stage tasks and sector records arrive as JSON (ext processors, remote
//! services, the state store): any input must parse or fail cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venus_seal_core::stage::{AddPieces, Pc1, Pc2, C1, C2};
use venus_seal_core::SectorRecord;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<AddPieces>(data);
    let _ = serde_json::from_slice::<Pc1>(data);
    let _ = serde_json::from_slice::<Pc2>(data);
    let _ = serde_json::from_slice::<C1>(data);
    let _ = serde_json::from_slice::<C2>(data);
    if let Ok(rec) = serde_json::from_slice::<SectorRecord>(data) {
        let again = serde_json::to_vec(&rec).unwrap();
        assert_eq!(serde_json::from_slice::<SectorRecord>(&again).unwrap(), rec);
    }
});
