//! The worker's TOML config (`venus_seal::worker::WorkerConfig`, the real
//! schema from the umbrella crate built without proofs): any text is
//! accepted or refused with an error, never a panic — parsing, `validate`
//! and `stage_limits` — and the same document reformatted parses to the
//! same config or fails the same way. (`check_machine`, which creates
//! directories, and `load`, which reads a file, are left out.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use venus_seal::worker::WorkerConfig;
use venus_seal_fuzz::check::toml_reformatted;

fn parse(text: &str) -> anyhow::Result<WorkerConfig> {
    let config: WorkerConfig = toml::from_str(text)?;
    config.validate()?;
    config.stage_limits()?;
    Ok(config)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = parse(text);
    let Some(reformatted) = toml_reformatted(text) else {
        assert!(first.is_err(), "not TOML, yet a config: {text:?}");
        return;
    };
    let again = parse(&reformatted);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(_), Err(_)) => {}
        _ => panic!("{text:?} gave {first:?}, reformatted as {reformatted:?} {again:?}"),
    }
});
