//! An external processor: serves one sealing stage over the ext protocol
//! (damocles' wire format) with the local filecoin-proofs-api executor.
//!
//! ```text
//! cargo run --release --bin venus-seal-ext-processor -- pc1
//! cargo run --release --bin venus-seal-ext-processor -- c2 --params /var/tmp/filecoin-proof-parameters
//! # for a damocles worker (damocles' task bodies):
//! cargo run --release --bin venus-seal-ext-processor -- c2 --format damocles
//! ```
//!
//! A worker starts it as a child (`ExtProcessorConfig { bin, args: ["pc1"],
//! .. }`): stdout carries the protocol (the ready line, then one JSON
//! response per line), stdin the requests, stderr the logs (`RUST_LOG`,
//! through [`venus_seal::runtime::init_logging`] like every binary here).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use venus_seal::backends::ext::{serve_stdio, serve_stdio_damocles};
use venus_seal::backends::params::ParameterCache;
use venus_seal::backends::LocalExecutor;
use venus_seal::core::stage::{AddPieces, Pc1, Pc2, TreeD, C1, C2};
use venus_seal::runtime::init_logging;

/// Serve one sealing stage as an external processor (damocles ext protocol).
///
/// Prints `<stage> processor ready` on stdout, then reads one JSON request
/// per line on stdin (`{"id": N, "task": {...}}`) and answers each on
/// stdout (`{"id": N, "err_msg": null, "output": {...}}`), several at once
/// and in any order. Logs go to stderr only. Exits when stdin closes, once
/// the tasks in flight are answered.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Args {
    /// The stage to serve.
    stage: StageName,

    /// The Groth16 parameter cache (C2 needs the proof type's parameters;
    /// fetch production ones with `lotus fetch-params`). Default:
    /// $FIL_PROOFS_PARAMETER_CACHE, else
    /// ~/.cache/filecoin-proof-parameters.
    #[arg(long)]
    params: Option<PathBuf>,

    /// The task and output bodies: `native` (this project's stage types,
    /// what a venus-seal worker sends by default) or `damocles` (damocles'
    /// `vc-processors` task structs, so a damocles worker can use this
    /// processor; pc1 and c2 only).
    #[arg(long, value_enum, default_value_t = Format::Native)]
    format: Format,
}

/// The body format (see `venus_seal_backends::ext::BodyFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// This project's stage types.
    Native,
    /// damocles' task structs.
    Damocles,
}

/// The stages the local executor runs.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum StageName {
    /// Write the pieces into the staged file.
    #[value(name = "add_pieces")]
    AddPieces,
    /// Build the data tree and compute CommD.
    #[value(name = "tree_d")]
    TreeD,
    /// Pre-commit phase 1 (SDR labels).
    #[value(name = "pc1")]
    Pc1,
    /// Pre-commit phase 2 (trees, CommR).
    #[value(name = "pc2")]
    Pc2,
    /// Commit phase 1 (vanilla proofs).
    #[value(name = "c1")]
    C1,
    /// Commit phase 2 (the SNARK).
    #[value(name = "c2")]
    C2,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Logs on stderr only: stdout carries the protocol.
    init_logging("");

    let params = Arc::new(match args.params {
        Some(dir) => ParameterCache::new(dir),
        None => ParameterCache::from_env(),
    });
    params.activate().context("parameter cache")?;
    let local = LocalExecutor::with_parameters(params);
    if args.format == Format::Damocles {
        return match args.stage {
            StageName::Pc1 => serve_stdio_damocles::<Pc1, _>(local).await,
            StageName::C2 => serve_stdio_damocles::<C2, _>(local).await,
            other => anyhow::bail!(
                "--format damocles serves pc1 and c2 only: damocles' {other:?} task lacks what \
                 this project's task needs"
            ),
        }
        .context("serving the ext protocol (damocles bodies)");
    }
    match args.stage {
        StageName::AddPieces => serve_stdio::<AddPieces, _>(local).await,
        StageName::TreeD => serve_stdio::<TreeD, _>(local).await,
        StageName::Pc1 => serve_stdio::<Pc1, _>(local).await,
        StageName::Pc2 => serve_stdio::<Pc2, _>(local).await,
        StageName::C1 => serve_stdio::<C1, _>(local).await,
        StageName::C2 => serve_stdio::<C2, _>(local).await,
    }
    .context("serving the ext protocol")
}
