//! All-in-one reference deployment: seal 2KiB sectors end-to-end with real
//! proofs on the embedded devnet ([`venus_seal::all_in_one`]).
//!
//! ```text
//! cargo run --release --example seal                 # one CC sector, one with data
//! cargo run --release --example seal -- --sectors 4  # four sectors
//! cargo run --release --example seal -- --piece ./my.car
//! ```
//!
//! Everything runs in this process: the devnet chain (which verifies the
//! proofs for real), the in-process sector manager, and the sealer driving
//! each sector through add_pieces, tree_d, pc1, pc2, c1 and c2 on the local
//! filecoin-proofs-api executor. The first run generates random 2KiB Groth16
//! parameters (about 10 minutes on 2 cores, a progress line every 20 s)
//! into the parameter cache; they are for tests and devnets only.
//!
//! The log (steps, progress) goes to stderr, plain text unless stderr is a
//! terminal; the report of what landed on the chain goes to stdout.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use venus_seal::all_in_one::{AllInOne, AllInOneConfig, SealRun};
use venus_seal::core::{parse_duration, ActorId};
use venus_seal::runtime::{init_logging, shutdown_signal};

/// Seal 2KiB sectors end-to-end with real proofs on an embedded devnet.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// How many sectors to seal (in parallel). Every second one holds data.
    #[arg(long, default_value_t = 2)]
    sectors: u64,

    /// A file to place in the data sector (at most 2032 bytes for 2KiB).
    /// Without it, random bytes are generated.
    #[arg(long)]
    piece: Option<PathBuf>,

    /// Working directory for sector files (default: a temporary directory,
    /// removed afterwards).
    #[arg(long)]
    workdir: Option<PathBuf>,

    /// Devnet block time.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    block_time: Duration,

    /// The miner actor to seal for.
    #[arg(long, default_value = "f01000")]
    miner: ActorId,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging(",sqlx=warn");
    let seal = AllInOne::build(AllInOneConfig {
        sectors: args.sectors,
        piece_file: args.piece,
        workdir: args.workdir,
        block_time: args.block_time,
        miner: args.miner,
    })
    .await?;
    match seal.run(shutdown_signal()).await? {
        SealRun::Done(report) => {
            print!("{report}");
            anyhow::ensure!(
                report.failed() == 0,
                "{} sector(s) did not finish",
                report.failed()
            );
            Ok(())
        }
        SealRun::Interrupted { unfinished } => {
            tracing::warn!("stopped with {unfinished} unfinished sector(s)");
            // A stage on a blocking thread (C2) would hold the runtime
            // open until it finishes: leave now, nothing here is durable.
            std::process::exit(130)
        }
    }
}
