//! Reference deployment of a sector manager: [`venus_seal::sector_manager`]
//! behind a command line (`run`, `token`, `deals add|list`, `sectors
//! abort|resend|expiring|extend|terminate`, `workers`;
//! `examples/sector-manager.toml` shows each). Only `run` creates files;
//! the other commands read the config and the secret `run` made.
//!
//! ```text
//! cargo run --release --bin venus-seal-sector-manager -- run --config examples/sector-manager.toml
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use venus_seal::core::manager::DealInfo;
use venus_seal::core::{ActorId, PaddedPieceSize, PieceCid, PieceInfo, SectorId, SectorNumber};
use venus_seal::rpc::{Permission, Secret};
use venus_seal::runtime::{init_logging, shutdown_signal, ApiArgs, TokenOutput};
use venus_seal::sector_manager::lifecycle_cli::LifecycleCommand;
use venus_seal::sector_manager::{
    admin_client, workers_table, ManagerService, SectorManagerConfig,
};

/// A venus-seal sector manager: allocates sector numbers, draws tickets
/// and seeds, and sends pre-commits and proofs for the workers that call
/// its JSON-RPC API.
#[derive(Parser, Debug)]
#[command(version)]
enum Cli {
    /// Serve the worker API until SIGTERM/SIGINT.
    Run {
        /// The manager's TOML config (see examples/sector-manager.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Print a JWT for the worker API, signed with the manager's secret
    /// (workers need write). The manager must have started once.
    Token {
        /// The manager's config (for rpc.secret_file).
        #[arg(long)]
        config: PathBuf,
        /// read, write, sign or admin.
        #[arg(long, default_value = "write")]
        perm: Permission,
        /// A name recorded in the token (e.g. the worker's).
        #[arg(long, default_value = "sector-manager-cli")]
        name: String,
        #[command(flatten)]
        output: TokenOutput,
    },
    /// Queue deal pieces for the workers, or show the queue.
    #[command(subcommand)]
    Deals(Deals),
    /// Act on the sectors the manager allocated.
    #[command(subcommand)]
    Sectors(Sectors),
    /// The workers' last pings (every 30 s), the quietest first.
    Workers(ApiArgs),
}

#[derive(Subcommand, Debug)]
enum Sectors {
    /// Give a sector up (not one proven or finalized): its worker aborts it
    /// and frees its slot at its next state report or poll.
    Abort {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The sector number.
        #[arg(long)]
        number: u64,
        /// Why, for the worker's records and logs.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Send a sector's last submission (its proof, else its pre-commit)
    /// again, under a new attempt, in the next batch.
    Resend {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The sector number.
        #[arg(long)]
        number: u64,
        #[command(flatten)]
        api: ApiArgs,
    },
    #[command(flatten)]
    Lifecycle(LifecycleCommand),
}

#[derive(Subcommand, Debug)]
enum Deals {
    /// Queue a deal piece for the miner's next sector with room; its worker
    /// fetches the piece and checks it against the PieceCID.
    Add {
        /// The piece's commitment (baga6ea4seaq…).
        #[arg(long)]
        piece_cid: PieceCid,
        /// The padded piece size in bytes: a power of two, at least 128
        /// (e.g. 512 for up to 508 bytes of data).
        #[arg(long)]
        size: u64,
        /// The deal id on chain (0 for a piece without a chain deal).
        #[arg(long, default_value_t = 0)]
        deal_id: u64,
        /// The miner actor whose sector takes it, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// How many deals wait for a sector.
    List(ApiArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging("");
    let client = |api: ApiArgs| admin_client(&api, "sector-manager-cli");
    match Cli::parse() {
        Cli::Run { config } => {
            let manager = ManagerService::new(SectorManagerConfig::load(&config)?);
            manager.build().await?.run(shutdown_signal()).await
        }
        Cli::Token {
            config,
            perm,
            name,
            output,
        } => {
            let config = SectorManagerConfig::load(&config)?;
            let path = &config.rpc.secret_file;
            let secret = Secret::load(path)
                .with_context(|| format!("rpc.secret_file {}", path.display()))?;
            output.emit(&output.sign(&secret, perm, &name))
        }
        Cli::Deals(Deals::Add {
            piece_cid,
            size,
            deal_id,
            miner,
            api,
        }) => {
            let piece = PieceInfo {
                size: PaddedPieceSize(size),
                cid: piece_cid,
            };
            let deal = DealInfo { id: deal_id, piece };
            client(api)?.add_deal(Some(miner), deal).await?;
            println!("deal {deal_id} queued for {miner}: piece {piece_cid} ({size} bytes padded)");
            Ok(())
        }
        Cli::Deals(Deals::List(api)) => {
            let status = client(api)?.status().await?;
            println!("{} deals wait for a sector", status.queued);
            Ok(())
        }
        Cli::Sectors(Sectors::Abort {
            miner,
            number,
            reason,
            api,
        }) => {
            let sector = SectorId::new(miner, SectorNumber(number));
            client(api)?.abort_sector(sector, &reason).await?;
            println!("{sector}: abort requested ({reason}); its worker gives it up at its next report or poll");
            Ok(())
        }
        Cli::Workers(api) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            let workers = client(api)?.workers().await?;
            print!("{}", workers_table(&workers, now.as_secs() as i64));
            Ok(())
        }
        Cli::Sectors(Sectors::Resend { miner, number, api }) => {
            let sector = SectorId::new(miner, SectorNumber(number));
            let which = client(api)?.resend_sector(sector).await?;
            println!("{sector}: the {which} goes out again in the next batch, under a new attempt");
            Ok(())
        }
        Cli::Sectors(Sectors::Lifecycle(command)) => command.run("sector-manager-cli").await,
    }
}
