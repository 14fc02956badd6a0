//! Check, and for test sizes generate, the Groth16 parameters of a seal
//! proof type in the parameter cache.
//!
//! ```text
//! cargo run -p venus-seal-backends --example params -- StackedDrg2KiBV1_1
//! cargo run -p venus-seal-backends --example params -- StackedDrg32GiBV1_1 --check
//! ```

use std::process::ExitCode;

use venus_seal_backends::params::{GenerationPolicy, ParameterCache, PoStKind};
use venus_seal_core::SealProof;

fn main() -> ExitCode {
    tracing_subscriber_init();
    let mut args = std::env::args().skip(1);
    let Some(proof) = args.next() else {
        eprintln!("usage: params <seal proof type, e.g. StackedDrg2KiBV1_1> [--check] [--post]");
        return ExitCode::from(2);
    };
    let rest: Vec<String> = args.collect();
    let check_only = rest.iter().any(|a| a == "--check");
    let post = rest.iter().any(|a| a == "--post");
    let proof: SealProof = match proof.parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let cache = ParameterCache::from_env();
    println!("parameter cache: {}", cache.dir().display());
    let policy = if check_only {
        GenerationPolicy::Never
    } else {
        GenerationPolicy::TestSizes
    };
    let mut ok = true;
    let result = if check_only {
        cache.check_seal(proof)
    } else {
        cache.ensure_seal(proof, policy)
    };
    ok &= report(&format!("{proof} PoRep"), result);
    if post {
        for kind in [PoStKind::Window, PoStKind::Winning] {
            let result = if check_only {
                cache.check_post(proof, kind)
            } else {
                cache.ensure_post(proof, kind, policy)
            };
            ok &= report(&format!("{proof} {kind} PoSt"), result);
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn report<T: std::fmt::Debug, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> bool {
    match r {
        Ok(status) => {
            println!("{what}: {status:?}");
            true
        }
        Err(e) => {
            eprintln!("{what}: {e}");
            false
        }
    }
}

fn tracing_subscriber_init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "info,storage_proofs_core=warn,filecoin_proofs=warn,bellperson=warn".into()
            }),
        )
        .with_writer(std::io::stderr)
        .try_init();
}
