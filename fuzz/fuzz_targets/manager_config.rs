//! The sector manager's TOML config
//! (`venus_seal::sector_manager::SectorManagerConfig`, the real schema from
//! the umbrella crate built without proofs): any text
//! is accepted or refused with an error, never a panic, and the same
//! document reformatted (other quoting, table layout, key order) parses to
//! the same config or fails the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venus_seal::sector_manager::SectorManagerConfig;
use venus_seal_fuzz::check::toml_reformatted;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = SectorManagerConfig::parse(text);
    let Some(reformatted) = toml_reformatted(text) else {
        assert!(first.is_err(), "not TOML, yet a config: {text:?}");
        return;
    };
    let again = SectorManagerConfig::parse(&reformatted);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(_), Err(_)) => {}
        _ => panic!("{text:?} gave {first:?}, reformatted as {reformatted:?} {again:?}"),
    }
});
