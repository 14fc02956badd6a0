//! All-in-one reference deployment: seal 2KiB sectors end-to-end with real
//! proofs on the embedded devnet.
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
//! parameters (about 10 minutes on 2 cores) into the parameter cache; they
//! are for tests and devnets only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use rand::RngCore;
use venus_seal::backends::params::{GenerationPolicy, ParameterCache};
use venus_seal::backends::{piece_commitment, LocalExecutor, LocalSealVerifier};
use venus_seal::chain::{
    DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager, ManagedMiner, ManagerConfig,
    ProvingPolicy, DEVNET_NETWORK, DEVNET_PROVING,
};
use venus_seal::core::manager::DealInfo;
use venus_seal::core::stage::KeepInPlace;
use venus_seal::core::{
    parse_duration, ActorId, ChainClient, MemoryPieceStore, MemorySectorStore, NetworkParams,
    SealProof, Sealer, SealerConfig, SectorRecord, SectorState, StageExecutors,
};

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

const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,venus_seal_backends::params=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if args.sectors == 0 {
        bail!("--sectors must be at least 1");
    }

    // Parameters first: nothing may touch filecoin-proofs' settings before.
    let params = Arc::new(ParameterCache::from_env());
    params.activate().context("parameter cache")?;
    println!("parameters: {}", params.dir().display());
    let p = params.clone();
    let status =
        tokio::task::spawn_blocking(move || p.ensure_seal(PROOF, GenerationPolicy::TestSizes))
            .await?
            .context("preparing 2KiB PoRep parameters")?;
    println!("parameters for {PROOF}: {status:?}");

    // The piece for the data sector, checked before anything seals.
    let data = match &args.piece {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("reading --piece {}", path.display()))?
        }
        None => {
            let mut bytes = vec![0u8; 2000];
            rand::thread_rng().fill_bytes(&mut bytes);
            bytes
        }
    };
    let piece = piece_commitment(PROOF, &data[..], data.len() as u64).with_context(|| {
        format!(
            "the piece ({} bytes) cannot go in a 2KiB sector",
            data.len()
        )
    })?;
    println!(
        "piece: {} bytes, PieceCID {} (padded {})",
        data.len(),
        piece.cid,
        piece.size.0
    );

    let verifier = Arc::new(LocalSealVerifier::with_parameters(params.clone()));
    let chain = DevnetChain::new(
        DevnetConfig {
            block_time: Some(args.block_time),
            // Sub-second blocks: 0 tells the manager to pace seed waits by 100 ms epochs.
            network: NetworkParams {
                block_delay_secs: 0,
                ..DEVNET_NETWORK
            },
            miners: vec![DevnetMiner {
                id: args.miner,
                allowed_proofs: vec![PROOF],
            }],
            // This example seals; WindowPoSt is the sector-manager's
            // `[proving]`. Proving periods far longer than a run, so no
            // deadline passes unproven (and no sector turns faulty).
            proving: ProvingPolicy {
                period: 288_000,
                deadlines: 48,
                ..DEVNET_PROVING
            },
            ..DevnetConfig::default()
        },
        verifier.clone(),
    );
    chain.start_clock().context("starting the devnet clock")?;
    let manager = LocalSectorManager::in_memory(
        ManagerConfig::new(vec![ManagedMiner::new(args.miner, PROOF)]),
        chain.clone(),
        chain.clone(),
        verifier,
    );
    let pieces = Arc::new(MemoryPieceStore::default());
    let data_sectors = args.sectors / 2;
    for n in 0..data_sectors {
        let mut bytes = data.clone();
        if n > 0 {
            // Distinct data per sector.
            rand::thread_rng().fill_bytes(&mut bytes);
        }
        let info = piece_commitment(PROOF, &bytes[..], bytes.len() as u64)?;
        pieces.insert(info.cid, bytes);
        manager
            .add_deal(
                Some(args.miner),
                DealInfo {
                    id: n + 1,
                    piece: info,
                },
            )
            .await?;
    }

    let local = Arc::new(LocalExecutor::with_parameters(params.clone()));
    let executors = StageExecutors::uniform(
        local,
        Arc::new(KeepInPlace {
            instance: "seal-example".into(),
        }),
    );
    let sealer = Sealer::new(
        manager,
        pieces,
        executors,
        Arc::new(MemorySectorStore::default()),
        SealerConfig {
            instance: "seal-example".into(),
            poll_interval: args.block_time,
            ..SealerConfig::default()
        },
    );

    let tmp;
    let workdir = match &args.workdir {
        Some(dir) => dir.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };

    let started = Instant::now();
    let mut jobs = tokio::task::JoinSet::new();
    for job in 1..=args.sectors {
        let sealer = sealer.clone();
        let dir = workdir.join(format!("job-{job}"));
        jobs.spawn(async move {
            let mut record = SectorRecord::new(job);
            let mut on_step = |rec: &SectorRecord, step: &venus_seal::core::StepReport| {
                let name = rec
                    .sector
                    .map(|s| s.id.to_string())
                    .unwrap_or_else(|| format!("job-{job}"));
                println!(
                    "{name:<14} {:<20} {:>10.1?}",
                    step.state.to_string(),
                    step.elapsed
                );
            };
            let result = sealer.run(&mut record, &dir, &mut on_step).await;
            (record, result)
        });
    }

    let mut failed = 0;
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut done = Vec::new();
    loop {
        tokio::select! {
            joined = jobs.join_next() => match joined {
                Some(joined) => done.push(joined?),
                None => break,
            },
            _ = &mut shutdown => {
                eprintln!("signal received: stopping {} unfinished sector(s)", jobs.len());
                // A stage on a blocking thread (C2) would hold the runtime
                // open until it finishes: leave now, nothing here is durable.
                std::process::exit(130);
            }
        }
    }

    println!();
    for (record, result) in &done {
        let Some(sector) = record.sector else {
            continue;
        };
        match result {
            Ok(()) if record.state == SectorState::Finished => {
                let pc2 = record.pc2_output.expect("a finished sector has CommR");
                let on_chain = chain.sector(sector.id.miner, sector.id.number).await?;
                let holds = if record.deals.is_empty() {
                    "CC".to_string()
                } else {
                    format!("deal {}", record.deals[0].piece.cid)
                };
                println!("{}: {holds}", sector.id);
                println!("  CommD {}", pc2.comm_d);
                println!("  CommR {}", pc2.comm_r);
                match on_chain {
                    Some(s) => println!(
                        "  devnet verified the proof ({} bytes): proven at epoch {}",
                        record.proof.as_ref().map_or(0, |p| p.proof.len()),
                        s.activation
                    ),
                    None => {
                        println!("  NOT on chain");
                        failed += 1;
                    }
                }
            }
            Ok(()) => {
                println!("{}: ended in {}", sector.id, record.state);
                failed += 1;
            }
            Err(e) => {
                println!("{}: stopped in {}: {e}", sector.id, record.state);
                failed += 1;
            }
        }
    }
    println!(
        "\n{} sector(s) sealed in {:.1?}, {failed} failed",
        done.len() - failed.min(done.len()),
        started.elapsed()
    );
    if failed > 0 {
        bail!("{failed} sector(s) did not finish");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
