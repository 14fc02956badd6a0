//! The operator commands on the deal queue and on sectors in flight
//! (`venus-seal-sector-manager deals add|list`, `sectors abort|resend`,
//! with the lifecycle commands of [`lifecycle_cli`](super::lifecycle_cli)
//! flattened into `sectors`) and `workers`: clap definitions and running
//! them against a manager's admin API. Each only reads the config and the
//! secret; none creates a file.

use clap::Subcommand;
use venus_seal_core::manager::{DealInfo, VerifiedAllocationKey};
use venus_seal_core::{
    ActorId, PaddedPieceSize, PieceCid, PieceInfo, Randomness, SectorId, SectorNumber,
};

use super::lifecycle_cli::LifecycleCommand;
use super::{admin_client, workers_table};
use crate::runtime::ApiArgs;

/// `sectors …`: act on the sectors the manager allocated.
#[derive(Subcommand, Debug)]
pub enum SectorsCommand {
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
        /// Which manager: --api and --token, or --config.
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
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Read a piece back out of a sealed, persisted sector: a worker with
    /// `[unseal]` unseals it and writes it to --dest.
    Unseal {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The sector number.
        #[arg(long)]
        number: u64,
        /// The piece (baga6ea4seaq…), one of the sector's deals.
        #[arg(long)]
        piece_cid: PieceCid,
        /// Where the piece goes: file:///path or an absolute path on the
        /// worker, an http(s):// URL (uploaded with PUT), or
        /// s3://bucket/key.
        #[arg(long)]
        dest: String,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List the unseal jobs and their states.
    UnsealJobs(ApiArgs),
    /// Seal a finalized sector whose files are lost again from its ticket
    /// and pieces (same CommR) and put it back in a persist store: a
    /// worker with `[rebuild]` takes the job. Once its files pass the
    /// WindowPoSt check, the manager declares it recovered.
    Rebuild {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The sector number.
        #[arg(long)]
        number: u64,
        /// Why, for the sector's history.
        #[arg(long, default_value = "requested by the operator")]
        reason: String,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List the rebuild jobs (the operator's and the automatic policy's)
    /// and their states.
    RebuildJobs(ApiArgs),
    /// Put deals into a proven CC sector sealed by this manager without
    /// sealing it again: a worker with `[snap_up]` takes the job with the
    /// queued deals, encodes and proves it, and the manager sends
    /// ProveReplicaUpdates3; once final, the CC replica is removed.
    SnapUp {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The sector number.
        #[arg(long)]
        number: u64,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List the snap-up jobs and their states.
    SnapUpJobs(ApiArgs),
    /// Give a snap-up up before its proof goes out: its deals go back to
    /// the queue (or the market) and the sector stays CC. Refused once its
    /// message was sent.
    SnapUpCancel {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The sector number.
        #[arg(long)]
        number: u64,
        /// Why, for the sector's history.
        #[arg(long, default_value = "cancelled by the operator")]
        reason: String,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List a miner's CC sectors a snap-up could take: sealed by this
    /// manager, CC on chain, with enough life left, no job open.
    SnapUpCandidates {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// Days of life left at least (a deal must end before its sector).
        #[arg(long, default_value_t = 180)]
        min_remaining_days: i64,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// `expiring`, `extend`, `terminate`.
    #[command(flatten)]
    Lifecycle(LifecycleCommand),
}

impl SectorsCommand {
    /// Runs the command, calling the admin API as `name`, and prints the
    /// answer.
    pub async fn run(self, name: &str) -> anyhow::Result<()> {
        match self {
            SectorsCommand::Abort {
                miner,
                number,
                reason,
                api,
            } => {
                let sector = SectorId::new(miner, SectorNumber(number));
                admin_client(&api, name)?
                    .abort_sector(sector, &reason)
                    .await?;
                println!("{sector}: abort requested ({reason}); its worker gives it up at its next report or poll");
            }
            SectorsCommand::Resend { miner, number, api } => {
                let sector = SectorId::new(miner, SectorNumber(number));
                let which = admin_client(&api, name)?.resend_sector(sector).await?;
                println!(
                    "{sector}: the {which} goes out again in the next batch, under a new attempt"
                );
            }
            SectorsCommand::Unseal {
                miner,
                number,
                piece_cid,
                dest,
                api,
            } => {
                let sector = SectorId::new(miner, SectorNumber(number));
                let job = admin_client(&api, name)?
                    .request_unseal(sector, piece_cid, &dest)
                    .await?;
                println!(
                    "{sector}: piece {piece_cid} ({} bytes) is {} for {} destination(s); \
                     a worker with [unseal] takes it",
                    job.len,
                    job.state_name().to_lowercase(),
                    job.dests.len()
                );
            }
            SectorsCommand::UnsealJobs(api) => {
                let jobs = admin_client(&api, name)?.unseal_jobs().await?;
                print!("{}", unseal_table(&jobs));
            }
            SectorsCommand::Rebuild {
                miner,
                number,
                reason,
                api,
            } => {
                let sector = SectorId::new(miner, SectorNumber(number));
                let job = admin_client(&api, name)?
                    .request_rebuild(sector, &reason)
                    .await?;
                println!(
                    "{sector}: rebuild {} ({}); a worker with [rebuild] takes it",
                    job.state.name().to_lowercase(),
                    job.reason
                );
            }
            SectorsCommand::RebuildJobs(api) => {
                let jobs = admin_client(&api, name)?.rebuild_jobs().await?;
                print!("{}", rebuild_table(&jobs));
            }
            SectorsCommand::SnapUp { miner, number, api } => {
                let sector = SectorId::new(miner, SectorNumber(number));
                let job = admin_client(&api, name)?.request_snap_up(sector).await?;
                println!(
                    "{sector}: snap-up {} (CC replica {} in {}); a worker with [snap_up] takes it \
                     once deals are queued",
                    job.state.name().to_lowercase(),
                    job.comm_r_old,
                    job.cc_instance
                );
            }
            SectorsCommand::SnapUpCancel {
                miner,
                number,
                reason,
                api,
            } => {
                let sector = SectorId::new(miner, SectorNumber(number));
                let job = admin_client(&api, name)?
                    .cancel_snap_up(sector, &reason)
                    .await?;
                println!(
                    "{sector}: snap-up cancelled ({}); its deals went back, the sector stays CC",
                    job.state.name().to_lowercase()
                );
            }
            SectorsCommand::SnapUpJobs(api) => {
                let jobs = admin_client(&api, name)?.snap_up_jobs().await?;
                print!("{}", snap_up_table(&jobs));
            }
            SectorsCommand::SnapUpCandidates {
                miner,
                min_remaining_days,
                api,
            } => {
                let numbers = admin_client(&api, name)?
                    .snap_up_candidates(miner, min_remaining_days * 2880)
                    .await?;
                if numbers.is_empty() {
                    println!("no snap-up candidates of {miner}");
                }
                for n in numbers {
                    println!("{}", SectorId::new(miner, n));
                }
            }
            SectorsCommand::Lifecycle(command) => command.run(name).await?,
        }
        Ok(())
    }
}

/// `deals …`: the deal queue.
#[derive(Subcommand, Debug)]
pub enum DealsCommand {
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
        /// The FIL+ allocation the piece claims when its sector is
        /// activated (a direct deal: `--deal-id 0`; or a verified market
        /// deal's allocation): its id in the verified registry. The sector's
        /// pledge is then priced with the piece as verified space.
        #[arg(long, requires = "client")]
        allocation: Option<u64>,
        /// The client (ID address, e.g. f01001) whose datacap made
        /// --allocation.
        #[arg(long, requires = "allocation")]
        client: Option<ActorId>,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// How many deals wait for a sector.
    List(ApiArgs),
}

impl DealsCommand {
    /// Runs the command, calling the admin API as `name`, and prints the
    /// answer.
    pub async fn run(self, name: &str) -> anyhow::Result<()> {
        match self {
            DealsCommand::Add {
                piece_cid,
                size,
                deal_id,
                miner,
                allocation,
                client,
                api,
            } => {
                let piece = PieceInfo {
                    size: PaddedPieceSize(size),
                    cid: piece_cid,
                };
                let mut deal = DealInfo::new(deal_id, piece);
                let mut verified = String::new();
                if let (Some(id), Some(client)) = (allocation, client) {
                    let key = VerifiedAllocationKey { client, id };
                    verified = format!(", claiming {key}");
                    deal = deal.with_allocation(key);
                }
                admin_client(&api, name)?
                    .add_deal(Some(miner), deal)
                    .await?;
                println!(
                    "deal {deal_id} queued for {miner}: piece {piece_cid} ({size} bytes padded){verified}"
                );
            }
            DealsCommand::List(api) => {
                let status = admin_client(&api, name)?.status().await?;
                println!("{} deals wait for a sector", status.queued);
            }
        }
        Ok(())
    }
}

/// `workers`: every worker's last ping, the quietest first.
pub async fn print_workers(api: &ApiArgs, name: &str) -> anyhow::Result<()> {
    let now = crate::runtime::unix_now();
    let workers = admin_client(api, name)?.workers().await?;
    print!("{}", workers_table(&workers, now as i64));
    Ok(())
}

/// The unseal jobs as a table: sector, piece, state, attempts, where the
/// piece goes, the last error.
pub fn unseal_table(jobs: &[venus_seal_rpc::manager_admin::UnsealJobEntry]) -> String {
    if jobs.is_empty() {
        return "no unseal jobs\n".into();
    }
    let mut out = format!(
        "{:<18} {:<66} {:<8} {:>8} {:<30} LAST ERROR\n",
        "SECTOR", "PIECE", "STATE", "ATTEMPTS", "DESTINATIONS"
    );
    for e in jobs {
        out.push_str(&format!(
            "{:<18} {:<66} {:<8} {:>8} {:<30} {}\n",
            e.sector.to_string(),
            e.job.piece.cid.to_string(),
            e.job.state_name(),
            e.job.attempts,
            e.job.dests.join(","),
            e.job.last_error.as_deref().unwrap_or("-")
        ));
    }
    out
}

/// The rebuild jobs as a table: sector, state, attempts, who asked and
/// why, where the files went, the last error.
pub fn rebuild_table(jobs: &[venus_seal_rpc::manager_admin::RebuildJobEntry]) -> String {
    use venus_seal_core::rebuild::RebuildOrigin;
    if jobs.is_empty() {
        return "no rebuild jobs\n".into();
    }
    let mut out = format!(
        "{:<18} {:<8} {:>8} {:<10} {:<12} {:<40} LAST ERROR\n",
        "SECTOR", "STATE", "ATTEMPTS", "BY", "INSTANCE", "REASON"
    );
    for e in jobs {
        let by = match e.job.origin {
            RebuildOrigin::Operator => "operator",
            RebuildOrigin::WindowPoStCheck => "wdpost",
        };
        out.push_str(&format!(
            "{:<18} {:<8} {:>8} {:<10} {:<12} {:<40} {}\n",
            e.sector.to_string(),
            e.job.state.name(),
            e.job.attempts,
            by,
            e.job.instance.as_deref().unwrap_or("-"),
            e.job.reason,
            e.job.last_error.as_deref().unwrap_or("-")
        ));
    }
    out
}

/// The snap-up jobs as a table: sector, state, attempts, where the CC
/// and the updated replica are, the message, the last error.
pub fn snap_up_table(jobs: &[venus_seal_rpc::manager_admin::SnapUpJobEntry]) -> String {
    if jobs.is_empty() {
        return "no snap-up jobs\n".into();
    }
    let mut out = format!(
        "{:<18} {:<9} {:>8} {:<12} {:<12} {:<20} LAST ERROR\n",
        "SECTOR", "STATE", "ATTEMPTS", "CC", "UPDATE", "MESSAGE"
    );
    for e in jobs {
        let sub = e.job.submission.as_ref();
        out.push_str(&format!(
            "{:<18} {:<9} {:>8} {:<12} {:<12} {:<20} {}\n",
            e.sector.to_string(),
            e.job.state.name(),
            e.job.attempts,
            if e.job.cc_data_removed {
                "(removed)"
            } else {
                e.job.cc_instance.as_str()
            },
            sub.map_or("-", |s| s.content.instance.as_str()),
            sub.and_then(|s| s.message.as_ref())
                .map_or("-", |m| m.0.as_str()),
            e.job
                .last_error
                .as_deref()
                .or(sub.and_then(|s| s.last_error.as_deref()))
                .unwrap_or("-")
        ));
    }
    out
}

/// `proving …`: WindowPoSt, ahead of its deadline.
#[derive(Subcommand, Debug)]
pub enum ProvingCommand {
    /// A dry run of one deadline: read every active sector's files as a
    /// WindowPoSt would, timing each, and say whether the proof would fit
    /// the deadline's window; nothing is sent. Reads every file: mind the
    /// disks while the open deadline is being proven.
    Check {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The deadline index (0 to 47 on mainnet).
        #[arg(long)]
        deadline: u64,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Prove one deadline now, partition by partition, with a chosen
    /// challenge (or one drawn from the chain), on the manager's own
    /// provers; nothing is sent. Says how long each partition's proof
    /// took and which sectors it would skip.
    Simulate {
        /// The miner actor, e.g. f01000.
        #[arg(long)]
        miner: ActorId,
        /// The deadline index.
        #[arg(long)]
        deadline: u64,
        /// The challenge: 32 bytes as 64 hex digits (default: drawn from
        /// the chain's beacon at the head).
        #[arg(long, value_parser = parse_randomness)]
        randomness: Option<Randomness>,
        /// Which manager: --api and --token, or --config.
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// 32 bytes from 64 hex digits.
fn parse_randomness(s: &str) -> Result<Randomness, String> {
    let bytes = hex::decode(s).map_err(|e| format!("{s:?} is not hex: {e}"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes, not 32", b.len()))?;
    Ok(Randomness(bytes))
}

impl ProvingCommand {
    /// Runs the command, calling the admin API as `name`, and prints the
    /// answer.
    pub async fn run(self, name: &str) -> anyhow::Result<()> {
        match self {
            ProvingCommand::Check {
                miner,
                deadline,
                api,
            } => {
                let reads = admin_client(&api, name)?
                    .check_deadline(miner, deadline)
                    .await?;
                print!("{}", deadline_reads_table(&reads));
            }
            ProvingCommand::Simulate {
                miner,
                deadline,
                randomness,
                api,
            } => {
                let sim = admin_client(&api, name)?
                    .simulate_window_post(miner, deadline, randomness)
                    .await?;
                print!("{}", simulation_table(&sim));
            }
        }
        Ok(())
    }
}

/// A dry run as text: the verdict, then each sector's read, slowest first.
pub fn deadline_reads_table(r: &venus_seal_rpc::manager_admin::DeadlineReads) -> String {
    let unreadable = r.reads.iter().filter(|s| s.unreadable.is_some()).count();
    let verdict = if r.predicted_ms > r.allowed_ms {
        "DOES NOT FIT"
    } else if unreadable > 0 || !r.slow.is_empty() {
        "fits, with problems"
    } else {
        "ready"
    };
    let mut out = format!(
        "{} deadline {} (opens at epoch {}, closes at {}): {} partition(s), {} sector(s); \
         predicted {} ms of {} ms allowed: {verdict}; {unreadable} unreadable, {} slow\n",
        r.miner,
        r.deadline,
        r.opens,
        r.closes,
        r.partitions,
        r.sectors,
        r.predicted_ms,
        r.allowed_ms,
        r.slow.len()
    );
    out.push_str(&format!("{:>10} {:>10}  STATUS\n", "SECTOR", "READ MS"));
    for s in &r.reads {
        let status = match &s.unreadable {
            Some(why) => format!("UNREADABLE: {why}"),
            None if r.slow.contains(&s.number) => "slow".into(),
            None => "ok".into(),
        };
        out.push_str(&format!("{:>10} {:>10}  {status}\n", s.number, s.took_ms));
    }
    out
}

/// A simulation as text: the total, then one line per partition.
pub fn simulation_table(sim: &venus_seal_rpc::manager_admin::SimulatedWindowPoSt) -> String {
    let mut out = format!(
        "{} deadline {}: {} partition(s) proven in {} ms (challenge {}); nothing sent\n",
        sim.miner,
        sim.deadline,
        sim.partitions.len(),
        sim.took_ms,
        hex::encode(sim.randomness.0)
    );
    out.push_str(&format!(
        "{:>9} {:>7} {:>7} {:>9}  SKIPPED\n",
        "PARTITION", "PROVEN", "PROOF B", "MS"
    ));
    for p in &sim.partitions {
        let skipped: Vec<String> = p
            .skipped
            .iter()
            .map(|(n, why)| format!("{n}: {why}"))
            .collect();
        out.push_str(&format!(
            "{:>9} {:>7} {:>7} {:>9}  {}\n",
            p.index,
            p.proven.len(),
            p.proof_bytes,
            p.took_ms,
            if skipped.is_empty() {
                "-".to_string()
            } else {
                skipped.join("; ")
            }
        ));
    }
    out
}
