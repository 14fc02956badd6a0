//! The worker's TOML config (examples/worker/config.rs, compiled from its
//! own file against the `venus_seal` stand-in, whose ext-processor module
//! is venus-seal-backends' own): any text is accepted or refused with an
//! error, never a panic — parsing, `validate` and `stage_limits` — and
//! the same document reformatted parses to the same config or fails the
//! same way. (`check_machine`, which creates directories, is left out.)
#![no_main]

#[path = "../../examples/worker/config.rs"]
#[allow(dead_code)]
mod config;

use libfuzzer_sys::fuzz_target;
use venus_seal::check::toml_reformatted;

fn parse(text: &str) -> anyhow::Result<config::Config> {
    let config: config::Config = toml::from_str(text)?;
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
