//! Framework overhead: one 2KiB CC sector sealed through the whole stack
//! (sealer engine, local executor, in-memory sector store, sector manager,
//! devnet) against the same filecoin-proofs-api calls made directly
//! (add_piece, PC1, PC2, C1), in one run. Prints the ratio of the means at
//! the end (target ≤ 1.02).
//!
//! ```text
//! cargo bench --bench overhead                          # C2 left out
//! VENUS_SEAL_OVERHEAD_C2=1 cargo bench --bench overhead # whole seals
//! ```
//!
//! **C2 is left out of both sides by default.** It is one API call either
//! way (the stack adds nothing inside it), and on a 2-core machine it takes
//! one to three minutes: criterion's 10-sample minimum would make a run
//! take most of an hour, and the proof's time would only dilute the ratio.
//! Without C2 the ratio is stricter: the same overhead over a smaller
//! total. The run then times one real C2 (and its verification) at the end
//! and prints the whole seal's ratio with that time added to both sides. The stack then gets a stand-in C2 and a devnet whose verifier
//! accepts its proof. With `VENUS_SEAL_OVERHEAD_C2=1` both sides run the
//! real C2 and verify the proof (the devnet for real).
//!
//! Real proofs: the first run generates the 2KiB parameters (about 10
//! minutes on 2 cores) into the parameter cache. Every seal uses a fresh
//! ticket and seed. The devnet runs 1 ms epochs (the seed waits
//! `pre_commit_challenge_delay` epochs), and the sealer polls every 1 ms:
//! the chain's own waits are made as small as they can be.

use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use filecoin_proofs_api::seal::{
    add_piece, seal_commit_phase1, seal_commit_phase2, seal_pre_commit_phase1,
    seal_pre_commit_phase2, verify_seal,
};
use filecoin_proofs_api::{RegisteredSealProof, SectorId, UnpaddedBytesAmount};
use rand::RngCore;
use venus_seal::backends::params::{GenerationPolicy, ParameterCache};
use venus_seal::backends::{LocalExecutor, LocalProofVerifier};
use venus_seal::chain::testing::single_miner_devnet;
use venus_seal::core::stage::{KeepInPlace, Proof, C2};
use venus_seal::core::testing::FakeExecutor;
use venus_seal::core::{
    ActorId, MemoryPieceStore, MemorySectorStore, ProofVerifier, SealProof, SealVerifyInfo, Sealer,
    SealerConfig, SectorRecord, SectorState, StageExecutors, VerifyError,
};

const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;
const API_PROOF: RegisteredSealProof = RegisteredSealProof::StackedDrg2KiBV1_1;
const MINER: ActorId = ActorId(1000);
const BLOCK_TIME: Duration = Duration::from_millis(1);

/// Whether both sides run the real C2 (`VENUS_SEAL_OVERHEAD_C2=1`).
fn with_c2() -> bool {
    std::env::var_os("VENUS_SEAL_OVERHEAD_C2").is_some_and(|v| v == "1")
}

/// The devnet's verifier when C2 is left out: it accepts the stand-in.
#[derive(Debug)]
struct AcceptStandIn;

impl ProofVerifier for AcceptStandIn {
    fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError> {
        Ok(info.proof == STAND_IN)
    }
}

const STAND_IN: &[u8] = b"stand-in proof: C2 left out";

fn params() -> Arc<ParameterCache> {
    let params = Arc::new(ParameterCache::from_env());
    params.activate().expect("parameter cache");
    params
        .ensure_seal(PROOF, GenerationPolicy::TestSizes)
        .expect("2KiB PoRep parameters");
    params
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    // Randomness is a field element: keep it below the modulus.
    b[31] &= 0x3f;
    b
}

/// The seal as a program calling filecoin-proofs-api would write it.
/// With `prove`, C2 runs and the proof is verified; returns how long
/// those two took.
fn seal_directly(dir: &std::path::Path, number: u64, prove: bool) -> Option<Duration> {
    let staged = dir.join("staged");
    let sealed = dir.join("sealed");
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let size = UnpaddedBytesAmount(2032);
    let mut staged_file = std::fs::File::create(&staged).unwrap();
    let (piece, _) = add_piece(
        API_PROOF,
        Cursor::new(vec![0u8; 2032]),
        &mut staged_file,
        size,
        &[],
    )
    .unwrap();
    drop(staged_file);
    std::fs::File::create(&sealed).unwrap();
    let prover_id = MINER.prover_id();
    let sector_id = SectorId::from(number);
    let (ticket, seed) = (random32(), random32());
    let pieces = [piece];
    let pc1 = seal_pre_commit_phase1(
        API_PROOF, &cache, &staged, &sealed, prover_id, sector_id, ticket, &pieces,
    )
    .unwrap();
    let pc2 = seal_pre_commit_phase2(pc1, &cache, &sealed).unwrap();
    let (comm_r, comm_d) = (pc2.comm_r, pc2.comm_d);
    let c1 = seal_commit_phase1(
        &cache, &sealed, prover_id, sector_id, ticket, seed, pc2, &pieces,
    )
    .unwrap();
    if !prove {
        return None;
    }
    let start = Instant::now();
    let c2 = seal_commit_phase2(c1, prover_id, sector_id).unwrap();
    assert!(
        verify_seal(API_PROOF, comm_r, comm_d, prover_id, sector_id, ticket, seed, &c2.proof)
            .unwrap()
    );
    Some(start.elapsed())
}

/// The same seal through the sealer, a manager and the devnet.
async fn seal_through_the_stack(params: Arc<ParameterCache>, dir: &std::path::Path) {
    let verifier: Arc<dyn ProofVerifier> = if with_c2() {
        Arc::new(LocalProofVerifier::with_parameters(params.clone()))
    } else {
        Arc::new(AcceptStandIn)
    };
    let (_chain, manager) = single_miner_devnet(MINER, PROOF, BLOCK_TIME, verifier);
    let mut executors = StageExecutors::uniform(
        Arc::new(LocalExecutor::with_parameters(params)),
        Arc::new(KeepInPlace {
            instance: "bench".into(),
        }),
    );
    if !with_c2() {
        executors.c2 = FakeExecutor::new(|_: &C2| Proof {
            proof: STAND_IN.to_vec(),
        });
    }
    let sealer = Sealer::new(
        manager,
        Arc::new(MemoryPieceStore::default()),
        executors,
        Arc::new(MemorySectorStore::default()),
        SealerConfig {
            instance: "bench".into(),
            poll_interval: BLOCK_TIME,
            ..SealerConfig::default()
        },
    );
    let mut record = SectorRecord::new(1);
    let trace = std::env::var_os("VENUS_SEAL_OVERHEAD_TRACE").is_some();
    sealer
        .run(&mut record, dir, &mut |rec, step| {
            if trace {
                eprintln!("{:<20} {:>10.1?}", rec.state.to_string(), step.elapsed);
            }
        })
        .await
        .unwrap();
    assert_eq!(record.state, SectorState::Finished);
}

fn overhead(c: &mut Criterion) {
    let params = params();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // Total time and seals, per side, over every sample.
    let totals: Mutex<[(Duration, u64); 2]> = Mutex::default();
    // Runs `iters` seals with `seal` and adds them to `side`'s total.
    let timed = |side: usize, iters: u64, seal: &mut dyn FnMut(u64, &std::path::Path)| {
        let start = Instant::now();
        for n in 0..iters {
            let dir = tempfile::tempdir().unwrap();
            seal(n, dir.path());
        }
        let spent = start.elapsed();
        let mut t = totals.lock().unwrap();
        t[side].0 += spent;
        t[side].1 += iters;
        spent
    };
    let mut group = c.benchmark_group("seal 2KiB");
    // One seal per sample, 10 samples (criterion's minimum): the default
    // linear sampling would run 1 + 2 + … + 10 seals.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));

    group.bench_function("filecoin-proofs-api directly", |b| {
        b.iter_custom(|iters| {
            timed(0, iters, &mut |n, dir| {
                seal_directly(dir, n + 1, with_c2());
            })
        })
    });
    group.bench_function("engine + manager + devnet", |b| {
        b.iter_custom(|iters| {
            timed(1, iters, &mut |_, dir| {
                runtime.block_on(seal_through_the_stack(params.clone(), dir))
            })
        })
    });
    group.finish();
    let [(direct, nd), (stack, ns)] = *totals.lock().unwrap();
    if nd > 0 && ns > 0 {
        let (direct, stack) = (direct / nd as u32, stack / ns as u32);
        println!(
            "framework overhead: mean {direct:.2?} direct ({nd} seals), {stack:.2?} through the \
             stack ({ns} seals): ratio {:.3}",
            stack.as_secs_f64() / direct.as_secs_f64()
        );
        if !with_c2() {
            // The whole seal's ratio, from this run: one real C2 (and its
            // verification) added to both sides.
            let dir = tempfile::tempdir().unwrap();
            let c2 = seal_directly(dir.path(), 1, true).unwrap();
            println!(
                "one real C2 + verification in this run: {c2:.2?}; whole-seal ratio \
                 (C2 added to both sides) {:.4}",
                (stack + c2).as_secs_f64() / (direct + c2).as_secs_f64()
            );
        }
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
