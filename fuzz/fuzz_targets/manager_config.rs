//! The sector manager's TOML config (src/sector_manager/config.rs,
//! compiled from its own file against the `venus_seal` stand-in): any text
//! is accepted or refused with an error, never a panic, and the same
//! document reformatted (other quoting, table layout, key order) parses to
//! the same config or fails the same way.
#![no_main]

#[path = "../../src/sector_manager/config.rs"]
#[allow(dead_code)]
mod config;

use libfuzzer_sys::fuzz_target;
use venus_seal::check::toml_reformatted;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = config::SectorManagerConfig::parse(text);
    let Some(reformatted) = toml_reformatted(text) else {
        assert!(first.is_err(), "not TOML, yet a config: {text:?}");
        return;
    };
    let again = config::SectorManagerConfig::parse(&reformatted);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(_), Err(_)) => {}
        _ => panic!("{text:?} gave {first:?}, reformatted as {reformatted:?} {again:?}"),
    }
});
