//! damocles' own ext protocol code against this crate's damocles bodies,
//! both ways, across real processes:
//!
//! * vc-processors' `Producer` (what a damocles worker runs) drives a
//!   `serve_stdio_damocles` child: its ready-line handshake, request ids
//!   and response parsing, with task bodies typed as damocles declares
//!   them;
//! * an `ExtProcessorExecutor` with `format = "damocles"` drives a child
//!   running vc-processors' consumer (what a damocles ext processor runs)
//!   whose task types are damocles' declarations with
//!   `deny_unknown_fields`: a body with a field too many or too few is
//!   dropped by the consumer and the task times out.
//!
//! The task types below are written from `vc-processors`
//! `src/builtin/tasks.rs` (tests/fixtures/damocles/ext/README.md names the
//! commit), with serde-equivalent plain types: this crate's light
//! dev-dependency has no `builtin-tasks` (it would build a third proving
//! stack), so vc-processors' own structs are not compiled here.
//!
//! `harness = false`: a child's stdout must begin with its ready line,
//! which libtest would precede with "running 1 test".

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vc_processors::core::ext::{
    run_consumer_with_proc, BoxedFinalizeHook, BoxedPrepareHook, ProducerBuilder,
};
use vc_processors::core::{Processor, Task};
use venus_seal_backends::ext::ExtProcessorExecutor;
use venus_seal_backends::ext::{serve_stdio_damocles, BodyFormat, ExtProcessorConfig};
use venus_seal_core::proving::{
    PoStSector, ProvingSector, SectorFiles, UnsealRequest, WindowPoStOutput,
};
use venus_seal_core::stage::{
    AddPieces, Opaque, Pc1, PieceSource, Proof, SectorPaths, TreeD, Unseal, WindowPoSt, C2,
};
use venus_seal_core::testing::FakeExecutor;
use venus_seal_core::{
    ActorId, CommD, CommR, Executor, PaddedPieceSize, PieceInfo, Randomness, SealProof, SectorId,
    SectorNumber, StageError, Ticket,
};

/// Which child this process is (unset: the test driver).
const CHILD_ENV: &str = "VENUS_SEAL_VCP_CHILD";

// ---- damocles' task types (vc-processors builtin::tasks) ----

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DPieceInfo {
    commitment: [u8; 32],
    size: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum DPieceFile {
    Url(String),
    Local(PathBuf),
    Pledge,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DPiece {
    piece_file: DPieceFile,
    payload_size: u64,
    piece_size: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DAddPieces {
    seal_proof_type: String,
    pieces: Vec<DPiece>,
    staged_filepath: PathBuf,
}

impl Task for DAddPieces {
    const STAGE: &'static str = "add_pieces";
    type Output = Vec<DPieceInfo>;
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DTreeD {
    registered_proof: String,
    staged_file: PathBuf,
    cache_dir: PathBuf,
}

impl Task for DTreeD {
    const STAGE: &'static str = "tree_d";
    type Output = bool;
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DPc1 {
    registered_proof: String,
    cache_path: PathBuf,
    in_path: PathBuf,
    out_path: PathBuf,
    prover_id: [u8; 32],
    sector_id: u64,
    ticket: [u8; 32],
    piece_infos: Vec<DPieceInfo>,
}

impl Task for DPc1 {
    const STAGE: &'static str = "pc1";
    type Output = serde_json::Value;
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DC2 {
    c1out: serde_json::Value,
    prover_id: [u8; 32],
    sector_id: u64,
    miner_id: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DC2Out {
    proof: Vec<u8>,
}

impl Task for DC2 {
    const STAGE: &'static str = "c2";
    type Output = DC2Out;
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DReplica {
    sector_id: u64,
    comm_r: [u8; 32],
    cache_dir: PathBuf,
    sealed_file: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DWindowPoSt {
    miner_id: u64,
    proof_type: String,
    replicas: Vec<DReplica>,
    seed: [u8; 32],
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DWindowPoStOut {
    /// `SnarkProof`: base64.
    proofs: Vec<String>,
    faults: Vec<u64>,
}

impl Task for DWindowPoSt {
    const STAGE: &'static str = "window_post";
    type Output = DWindowPoStOut;
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DUnseal {
    registered_proof: String,
    prover_id: [u8; 32],
    sector_id: u64,
    comm_d: [u8; 32],
    ticket: [u8; 32],
    cache_dir: PathBuf,
    sealed_file: PathBuf,
    unsealed_output: PathBuf,
    offset: u64,
    num_bytes: u64,
}

impl Task for DUnseal {
    const STAGE: &'static str = "unseal";
    type Output = u64;
}

// ---- the children ----

/// A damocles ext processor made with vc-processors' consumer: answers
/// what the task asks, from damocles' fields.
#[derive(Clone, Copy, Default)]
struct Consumer;

impl Processor<DAddPieces> for Consumer {
    fn process(&self, t: DAddPieces) -> anyhow::Result<Vec<DPieceInfo>> {
        Ok(t.pieces
            .iter()
            .map(|p| DPieceInfo {
                commitment: [p.payload_size as u8; 32],
                size: p.piece_size,
            })
            .collect())
    }
}

impl Processor<DTreeD> for Consumer {
    fn process(&self, t: DTreeD) -> anyhow::Result<bool> {
        anyhow::ensure!(
            t.registered_proof == "StackedDrg2KiBV1_1",
            "{}",
            t.registered_proof
        );
        Ok(true)
    }
}

impl Processor<DPc1> for Consumer {
    fn process(&self, t: DPc1) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::json!({"registered_proof": t.registered_proof, "sector": t.sector_id}))
    }
}

impl Processor<DC2> for Consumer {
    fn process(&self, t: DC2) -> anyhow::Result<DC2Out> {
        Ok(DC2Out {
            proof: vec![t.miner_id as u8, t.sector_id as u8, t.prover_id[0]],
        })
    }
}

impl Processor<DWindowPoSt> for Consumer {
    fn process(&self, t: DWindowPoSt) -> anyhow::Result<DWindowPoStOut> {
        if t.replicas.iter().any(|r| r.sector_id == 13) {
            return Ok(DWindowPoStOut {
                proofs: vec![],
                faults: vec![13],
            });
        }
        anyhow::ensure!(t.seed[31] == 0x05, "seed not cleared: {}", t.seed[31]);
        // base64 of [1, 2, 3]
        Ok(DWindowPoStOut {
            proofs: vec!["AQID".into()],
            faults: vec![],
        })
    }
}

impl Processor<DUnseal> for Consumer {
    fn process(&self, t: DUnseal) -> anyhow::Result<u64> {
        Ok(t.num_bytes + t.offset)
    }
}

fn consumer_child(stage: &str) -> anyhow::Result<()> {
    match stage {
        "add_pieces" => run_consumer_with_proc::<DAddPieces, _>(Consumer),
        "tree_d" => run_consumer_with_proc::<DTreeD, _>(Consumer),
        "pc1" => run_consumer_with_proc::<DPc1, _>(Consumer),
        "c2" => run_consumer_with_proc::<DC2, _>(Consumer),
        "window_post" => run_consumer_with_proc::<DWindowPoSt, _>(Consumer),
        "unseal" => run_consumer_with_proc::<DUnseal, _>(Consumer),
        other => anyhow::bail!("no consumer for {other}"),
    }
}

/// This crate's damocles child over fake executors.
fn our_child(stage: &str) -> std::io::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match stage {
            "unseal" => {
                let fake = FakeExecutor::new(|t: &Unseal| t.request.len);
                fake.fail_if(|t: &Unseal| {
                    (t.request.sector.number.0 == 13)
                        .then(|| StageError::Computation("no such sector".into()))
                });
                serve_stdio_damocles::<Unseal, _>(fake).await
            }
            "c2" => {
                let fake = FakeExecutor::new(|t: &C2| Proof {
                    proof: vec![t.sector.miner.0 as u8, t.sector.number.0 as u8],
                });
                serve_stdio_damocles::<C2, _>(fake).await
            }
            "pc1" => {
                let fake = FakeExecutor::new(|t: &Pc1| {
                    Opaque::from_json(format!(r#"{{"sector":{}}}"#, t.sector.number.0)).unwrap()
                });
                serve_stdio_damocles::<Pc1, _>(fake).await
            }
            _ => {
                let fake = FakeExecutor::new(|_: &TreeD| unreachable!());
                serve_stdio_damocles::<TreeD, _>(fake).await
            }
        }
    })
}

// ---- the driver ----

fn producer<T: Task>(
    stage: &str,
) -> anyhow::Result<vc_processors::core::ext::Producer<T, BoxedPrepareHook<T>, BoxedFinalizeHook<T>>>
{
    ProducerBuilder::<BoxedPrepareHook<T>, BoxedFinalizeHook<T>>::new(
        std::env::current_exe()?,
        vec![],
    )
    .env(CHILD_ENV.into(), format!("ours:{stage}"))
    .stable_timeout(Duration::from_secs(10))
    .spawn::<T>()
}

fn prover_id_1000() -> [u8; 32] {
    let mut id = [0; 32];
    id[..2].copy_from_slice(&[0xe8, 0x07]);
    id
}

fn d_unseal(sector: u64) -> DUnseal {
    DUnseal {
        registered_proof: "StackedDrg2KiBV1_1".into(),
        prover_id: prover_id_1000(),
        sector_id: sector,
        comm_d: [4; 32],
        ticket: [1; 32],
        cache_dir: "/c".into(),
        sealed_file: "/s".into(),
        unsealed_output: "/u".into(),
        offset: 0,
        num_bytes: 1016,
    }
}

/// vc-processors' producer, as a damocles worker runs it, drives this
/// crate's damocles child.
fn damocles_producer_drives_our_child() {
    let unseal = producer::<DUnseal>("unseal").expect("unseal child ready");
    assert_eq!(unseal.process(d_unseal(7)).unwrap(), 1016);
    let e = unseal.process(d_unseal(13)).unwrap_err().to_string();
    assert!(e.contains("no such sector"), "{e}");

    let c2 = producer::<DC2>("c2").expect("c2 child ready");
    let out = c2
        .process(DC2 {
            c1out: serde_json::json!({"registered_proof": "StackedDrg2KiBV1_1"}),
            prover_id: prover_id_1000(),
            sector_id: 7,
            miner_id: 1000,
        })
        .unwrap();
    assert_eq!(out.proof, [(1000 % 256) as u8, 7]);

    let pc1 = producer::<DPc1>("pc1").expect("pc1 child ready");
    let out = pc1
        .process(DPc1 {
            registered_proof: "StackedDrg2KiBV1_1".into(),
            cache_path: "/c".into(),
            in_path: "/i".into(),
            out_path: "/o".into(),
            prover_id: prover_id_1000(),
            sector_id: 9,
            ticket: [1; 32],
            piece_infos: vec![DPieceInfo {
                commitment: [0; 32],
                size: 2032,
            }],
        })
        .unwrap();
    assert_eq!(out, serde_json::json!({"sector": 9}));

    // A stage whose damocles task lacks what ours needs: the child exits
    // before its ready line, so the producer never starts.
    let e = producer::<DTreeD>("tree_d").err().expect("tree_d refused");
    assert!(format!("{e:#}").contains("unexpected first line"), "{e:#}");
    println!("ok: vc-processors' producer drives serve_damocles (unseal, c2, pc1; tree_d refused)");
}

fn consumer_config(stage: &str) -> ExtProcessorConfig {
    let mut cfg = ExtProcessorConfig::new(std::env::current_exe().unwrap());
    cfg.envs
        .insert(CHILD_ENV.into(), format!("consumer:{stage}"));
    cfg.format = BodyFormat::Damocles;
    cfg.ready_timeout = Duration::from_secs(10);
    // vc-processors' consumer drops a request it cannot parse: the task
    // would wait forever.
    cfg.task_timeout = Some(Duration::from_secs(10));
    cfg
}

fn proving_sector(number: u64) -> ProvingSector {
    ProvingSector {
        sector: PoStSector {
            number: SectorNumber(number),
            seal_proof: SealProof::StackedDrg2KiBV1_1,
            comm_r: CommR([3; 32]),
            sector_key: None,
        },
        files: SectorFiles {
            sealed: "/s".into(),
            cache: "/c".into(),
        },
    }
}

/// This crate's parent, `format = "damocles"`, drives a damocles ext
/// processor made with vc-processors' consumer.
async fn our_parent_drives_a_damocles_consumer() {
    let sector = SectorId::new(ActorId(1000), SectorNumber(7));

    let p = ExtProcessorExecutor::<Unseal>::new(consumer_config("unseal")).unwrap();
    let task = Unseal {
        request: UnsealRequest {
            sector,
            seal_proof: SealProof::StackedDrg2KiBV1_1,
            files: SectorFiles {
                sealed: "/s".into(),
                cache: "/c".into(),
            },
            comm_d: CommD([4; 32]),
            ticket: Randomness([1; 32]),
            offset: 1016,
            len: 1016,
        },
        output: "/u".into(),
    };
    assert_eq!(p.execute(task).await.unwrap(), 2032);

    let p = ExtProcessorExecutor::<AddPieces>::new(consumer_config("add_pieces")).unwrap();
    let out = p
        .execute(AddPieces {
            proof: SealProof::StackedDrg2KiBV1_1,
            sector,
            pieces: vec![PieceSource::File {
                path: "/p".into(),
                unpadded_size: 5,
                expected: Some(PieceInfo {
                    size: PaddedPieceSize(2048),
                    cid: CommD([5; 32]),
                }),
            }],
            staged: "/staged".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        out,
        [PieceInfo {
            size: PaddedPieceSize(2048),
            cid: CommD([5; 32])
        }]
    );

    let p = ExtProcessorExecutor::<TreeD>::new(consumer_config("tree_d")).unwrap();
    let out = p
        .execute(TreeD {
            proof: SealProof::StackedDrg2KiBV1_1,
            staged: "/staged".into(),
            cache: "/c".into(),
            pieces: vec![],
        })
        .await
        .unwrap();
    // The CommD of an all-zero 2KiB sector, computed on this side.
    let zero: CommD = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy"
        .parse()
        .unwrap();
    assert_eq!(out.comm_d, zero);

    let p = ExtProcessorExecutor::<Pc1>::new(consumer_config("pc1")).unwrap();
    let out = p
        .execute(Pc1 {
            proof: SealProof::StackedDrg2KiBV1_1,
            sector,
            paths: SectorPaths::under("/seal"),
            ticket: Ticket {
                ticket: Randomness([1; 32]),
                epoch: 0,
            },
            pieces: vec![PieceInfo {
                size: PaddedPieceSize(2048),
                cid: zero,
            }],
        })
        .await
        .unwrap();
    let out: serde_json::Value = serde_json::from_str(out.as_json()).unwrap();
    assert_eq!(out["sector"], 7);

    let p = ExtProcessorExecutor::<C2>::new(consumer_config("c2")).unwrap();
    let out = p
        .execute(C2 {
            proof: SealProof::StackedDrg2KiBV1_1,
            sector,
            c1_output: Opaque::from_json(r#"{"registered_proof":"StackedDrg2KiBV1_1"}"#.into())
                .unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(out.proof, [(1000 % 256) as u8, 7, 0xe8]);

    let p = ExtProcessorExecutor::<WindowPoSt>::new(consumer_config("window_post")).unwrap();
    let mut randomness = [5; 32];
    randomness[31] = 0xc5;
    let task = |sectors: Vec<u64>| WindowPoSt {
        miner: ActorId(1000),
        deadline: 0,
        partition: 0,
        randomness: Randomness(randomness),
        sectors: sectors.into_iter().map(proving_sector).collect(),
    };
    let out: WindowPoStOutput = p.execute(task(vec![7, 8])).await.unwrap();
    assert_eq!(out.proofs.len(), 1);
    assert_eq!(out.proofs[0].proof, [1, 2, 3]);
    assert_eq!(out.proven, [SectorNumber(7), SectorNumber(8)]);
    let out = p.execute(task(vec![7, 13])).await.unwrap();
    assert!(out.proofs.is_empty());
    assert_eq!(out.skipped[0].number, SectorNumber(13));
    println!(
        "ok: damocles-format parent drives vc-processors' consumer \
         (unseal, add_pieces, tree_d, pc1, c2, window_post)"
    );
}

fn main() {
    match std::env::var(CHILD_ENV) {
        Ok(child) => {
            let ok = match child.split_once(':') {
                Some(("ours", stage)) => our_child(stage).is_ok(),
                Some(("consumer", stage)) => consumer_child(stage).is_ok(),
                _ => false,
            };
            std::process::exit(if ok { 0 } else { 1 });
        }
        Err(_) => {
            // `cargo test -- <filter>` passes arguments; this file has two
            // checks and runs both.
            damocles_producer_drives_our_child();
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(our_parent_drives_a_damocles_consumer());
        }
    }
}
