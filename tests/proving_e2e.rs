//! Proving with real proofs on 2KiB sectors: three sectors are sealed
//! through PC2 (no C2: proving needs only the replica and its cache) and
//! put on the devnet as proven; the WindowPoSt scheduler proves their
//! deadline with the `window_post` stage on `LocalExecutor` and the
//! devnet verifies it; with one
//! sector's tree-r-last deleted the next proof still lands and that sector
//! is faulty (declared recovered and proven again once the file is back);
//! with sector 3's files all deleted it is skipped, rebuilt from its
//! ticket by the worker's `Rebuilder` into a persist store, declared
//! recovered and proven again; the elected miner's WinningPoSt (through `compute_proof`)
//! verifies; unsealing returns the deal piece byte for byte (into memory,
//! a file and an HTTP upload to a local server). Snap-up:
//! deal data is encoded into a CC sector; its proof verifies on the devnet
//! and the upgraded sector is then proven by WindowPoSt from its new
//! replica (ignored by default: its first run generates the update
//! parameters, see below; about 1.5 minutes, most of it the update proof).
//!
//! Uses the 2KiB WindowPoSt and WinningPoSt parameters (generated into the
//! parameter cache on first use: about 6 s and 30 s on 2 cores).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use venus_seal::backends::remote_c2::{RemoteConfig, RemoteExecutor};
use venus_seal::chain::gateway::fake::FakeGateway;
use venus_seal::chain::gateway::{GatewayConfig, ProofEventListener, WinningProver, WsUrl};
use venus_seal::chain::WinningPoStElection;
use venus_seal::core::proving::PoStProof;

use venus_seal::backends::params::{GenerationPolicy, ParamStatus, ParameterCache, PoStKind};
use venus_seal::backends::proving::{unseal_to_http, HttpDestination};
use venus_seal::backends::{piece_commitment, LocalExecutor, LocalProofVerifier};
use venus_seal::chain::{
    DevnetChain, DevnetConfig, DevnetMiner, PoStExecutors, PoStRound, WindowPoStScheduler,
};
use venus_seal::core::chain::{MessageState, MinerCall, OnChainSector, ReplicaUpdateParams};
use venus_seal::core::proving::{
    compute_proof, unseal_to_file, ComputeProofRequest, SectorDirs, SectorFiles, SectorLocator,
    UnsealRequest,
};
use venus_seal::core::stage::{
    AddPieces, Pc1, Pc2, PieceSource, SectorPaths, SnapEncode, SnapProve, TreeD, Unseal, WindowPoSt,
};
use venus_seal::core::{
    ActorId, ChainClient, CommD, Executor, MessageSender, PieceInfo, Randomness, SealProof,
    SectorId, SectorNumber, Ticket,
};

use venus_seal::backends::persist::{LocalPersistStore, PersistStores, PersistedSectors};
use venus_seal::core::manager::AllocatedSector;
use venus_seal::core::proving::{PoStSector, ProvingSector};
use venus_seal::core::rebuild::{RebuildAssignment, RebuildJobSource, RebuildRun, Rebuilder};
use venus_seal::core::stage::CheckProvable;
use venus_seal::core::unseal::{UnsealAssignment, UnsealJobSource};
use venus_seal::core::{CommR, MemoryPieceStore, StageExecutors};
use venus_seal::worker::unseal::UnsealRunner;

mod support;

const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;
const MINER: ActorId = ActorId(1000);

/// A sealed sector's facts for unsealing.
struct Sealed {
    comm_d: CommD,
    ticket: Randomness,
    pieces: Vec<PieceInfo>,
}

/// Seals sector `n` through PC2 under `root/<sector id>/`, with `piece`
/// (a file and its info) or as CC.
async fn seal(root: &Path, n: u64, piece: Option<(&Path, u64, PieceInfo)>) -> (Sealed, [u8; 32]) {
    let exec = LocalExecutor::new();
    let sector = SectorId::new(MINER, SectorNumber(n));
    let paths = SectorPaths::under(root.join(sector.to_string()));
    std::fs::create_dir_all(&paths.cache).unwrap();
    let sources = piece
        .map(|(path, len, info)| PieceSource::File {
            path: path.to_path_buf(),
            unpadded_size: len,
            expected: Some(info),
        })
        .into_iter()
        .collect();
    let pieces = exec
        .execute(AddPieces {
            proof: PROOF,
            sector,
            pieces: sources,
            staged: paths.staged.clone(),
        })
        .await
        .unwrap();
    let tree_d = exec
        .execute(TreeD {
            proof: PROOF,
            staged: paths.staged.clone(),
            cache: paths.cache.clone(),
            pieces: pieces.clone(),
        })
        .await
        .unwrap();
    let ticket = Randomness([n as u8; 32]);
    let pc1 = exec
        .execute(Pc1 {
            proof: PROOF,
            sector,
            paths: paths.clone(),
            ticket: Ticket { ticket, epoch: 0 },
            pieces: pieces.clone(),
        })
        .await
        .unwrap();
    let pc2 = exec
        .execute(Pc2 {
            proof: PROOF,
            sector,
            paths,
            pc1_output: pc1,
            synthetic: None,
        })
        .await
        .unwrap();
    assert_eq!(pc2.comm_d, tree_d.comm_d);
    (
        Sealed {
            comm_d: pc2.comm_d,
            ticket,
            pieces,
        },
        pc2.comm_r.0,
    )
}

/// Advances the devnet an epoch at a time, ticking the scheduler, until it
/// submits a round; then lets the message land and checks it succeeded.
async fn next_round(chain: &DevnetChain, scheduler: &WindowPoStScheduler) -> PoStRound {
    let period = chain.proving_policy().period;
    for _ in 0..2 * period {
        let started = Instant::now();
        let mut rounds = scheduler.tick().await.unwrap();
        if let Some(round) = rounds.pop() {
            eprintln!(
                "WindowPoSt round (check files, prove {} sectors, send): {:?}",
                round
                    .partitions
                    .iter()
                    .map(|p| p.proven.len())
                    .sum::<usize>(),
                started.elapsed()
            );
            chain.advance(1).await;
            for p in &round.partitions {
                match chain.state(&p.message).await.unwrap() {
                    MessageState::Landed {
                        exit_code: 0,
                        error: None,
                        ..
                    } => {}
                    other => panic!("WindowPoSt message did not land: {other:?}"),
                }
            }
            return round;
        }
        chain.advance(1).await;
    }
    panic!("no WindowPoSt round within two periods");
}

/// Finds a sector in the persist store the rebuilder writes to first,
/// else where `seal` put it.
#[derive(Debug)]
struct RebuiltFirst {
    store: PersistedSectors,
    sealed: SectorDirs,
}

impl SectorLocator for RebuiltFirst {
    fn locate(&self, sector: SectorId) -> Option<SectorFiles> {
        self.store
            .locate(sector)
            .filter(|f| f.sealed.is_file())
            .or_else(|| self.sealed.locate(sector))
    }
}

/// One rebuild job to hand out, and what the rebuilder reported.
#[derive(Debug)]
struct OneRebuild {
    job: std::sync::Mutex<Option<RebuildAssignment>>,
    results: std::sync::Mutex<Vec<Result<String, String>>>,
}

#[async_trait::async_trait]
impl RebuildJobSource for OneRebuild {
    async fn allocate_rebuild(
        &self,
        _spec: venus_seal::core::manager::AllocateSpec,
    ) -> Result<Option<RebuildAssignment>, venus_seal::core::ManagerError> {
        Ok(self.job.lock().unwrap().take())
    }
    async fn rebuilt(
        &self,
        _sector: SectorId,
        instance: String,
    ) -> Result<(), venus_seal::core::ManagerError> {
        self.results.lock().unwrap().push(Ok(instance));
        Ok(())
    }
    async fn rebuild_failed(
        &self,
        _sector: SectorId,
        reason: String,
    ) -> Result<(), venus_seal::core::ManagerError> {
        self.results.lock().unwrap().push(Err(reason));
        Ok(())
    }
}

/// A server storing the body of one `PUT /piece`: its URL and the body.
/// One unseal job to hand out, and the results it is told.
#[derive(Debug)]
struct OneJob {
    job: std::sync::Mutex<Option<UnsealAssignment>>,
    results: std::sync::Mutex<Vec<Option<String>>>,
}

impl OneJob {
    fn new(job: UnsealAssignment) -> Self {
        Self {
            job: std::sync::Mutex::new(Some(job)),
            results: std::sync::Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl UnsealJobSource for OneJob {
    async fn allocate_unseal(
        &self,
        _: venus_seal::core::manager::AllocateSpec,
    ) -> Result<Option<UnsealAssignment>, venus_seal::core::ManagerError> {
        Ok(self.job.lock().unwrap().clone())
    }

    async fn unseal_destinations(
        &self,
        _: SectorId,
        _: venus_seal::core::PieceCid,
    ) -> Result<Vec<String>, venus_seal::core::ManagerError> {
        Ok(self
            .job
            .lock()
            .unwrap()
            .as_ref()
            .map(|j| j.dests.clone())
            .unwrap_or_default())
    }

    async fn achieve_unseal(
        &self,
        _: SectorId,
        _: venus_seal::core::PieceCid,
        error: Option<String>,
    ) -> Result<(), venus_seal::core::ManagerError> {
        self.job.lock().unwrap().take();
        self.results.lock().unwrap().push(error);
        Ok(())
    }
}

async fn upload_server() -> (String, Arc<std::sync::Mutex<Option<Vec<u8>>>>) {
    type Body = Arc<std::sync::Mutex<Option<Vec<u8>>>>;
    async fn store(
        axum::extract::State(body): axum::extract::State<Body>,
        bytes: axum::body::Bytes,
    ) -> axum::http::StatusCode {
        *body.lock().unwrap() = Some(bytes.to_vec());
        axum::http::StatusCode::CREATED
    }
    let body = Body::default();
    let app = axum::Router::new()
        .route("/piece", axum::routing::put(store))
        .with_state(body.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/piece", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, body)
}

/// Registers a [`ProofEventListener`] with a [`FakeGateway`], sends it the
/// election as a `ComputeProof` event and reads the proofs from its
/// answer as venus-gateway does. The request is spelled from
/// venus-shared's `gateway.ComputeProofRequest` and go-state-types'
/// `proof.ExtendedSectorInfo` (see `docs/venus-gateway.md`), the answer
/// read as `[]proof.PoStProof`.
async fn winning_post_through_gateway(
    local: &Arc<LocalExecutor>,
    locator: &SectorDirs,
    election: &WinningPoStElection,
    epoch: i64,
) -> Vec<PoStProof> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let gw = FakeGateway::start("venus-auth-token").await;
    let listener = ProofEventListener::new(
        GatewayConfig {
            url: WsUrl::parse(&gw.url()).unwrap(),
            token: Some("venus-auth-token".into()),
            miners: vec![MINER],
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
        },
        WinningProver {
            challenger: Arc::new(LocalProofVerifier::default()),
            prover: local.clone(),
            locator: Arc::new(locator.clone()),
        },
    );
    let task = listener.spawn();
    assert!(gw.wait_listens(1, Duration::from_secs(30)).await);
    let infos: Vec<_> = election
        .sectors
        .iter()
        .map(|s| {
            serde_json::json!({
                "SealProof": s.seal_proof.id(),
                "SectorNumber": s.number.0,
                "SectorKey": null,
                "SealedCID": {"/": s.comm_r.to_cid().to_string()},
            })
        })
        .collect();
    let request = serde_json::json!({
        "SectorInfos": infos,
        "Rand": b64.encode(election.randomness.0),
        "Height": epoch,
        "NWVersion": 21,
    });
    let answer = gw
        .compute_proof(&MINER.to_string(), &request, Duration::from_secs(600))
        .await;
    task.abort();
    assert_eq!(answer["Error"], "", "{answer}");
    let payload = b64.decode(answer["Payload"].as_str().unwrap()).unwrap();
    let proofs: Vec<serde_json::Value> = serde_json::from_slice(&payload).unwrap();
    proofs
        .iter()
        .map(|p| PoStProof {
            post_proof: p["PoStProof"].as_i64().unwrap(),
            proof: b64.decode(p["ProofBytes"].as_str().unwrap()).unwrap(),
        })
        .collect()
}

fn ensure_post_params() -> Arc<ParameterCache> {
    let params = Arc::new(ParameterCache::from_env());
    params.activate().unwrap();
    for kind in [PoStKind::Window, PoStKind::Winning] {
        params
            .ensure_post(PROOF, kind, GenerationPolicy::TestSizes)
            .unwrap();
    }
    params
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_post_faults_winning_post_and_unseal_on_real_2kib_sectors() {
    let params = tokio::task::spawn_blocking(ensure_post_params)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root: PathBuf = dir.path().join("sectors");

    // A deal piece for sector 1; sectors 2 and 3 are CC.
    let data: Vec<u8> = (0..1500u32).map(|i| (i * 31 % 251) as u8).collect();
    let piece_file = dir.path().join("piece");
    std::fs::write(&piece_file, &data).unwrap();
    let piece = piece_commitment(PROOF, &data[..], data.len() as u64).unwrap();

    let chain = devnet(params);
    let started = Instant::now();
    let mut sealed = Vec::new();
    let mut comm_rs = Vec::new();
    for n in 1..=3u64 {
        let piece = (n == 1).then_some((piece_file.as_path(), data.len() as u64, piece));
        let (s, comm_r) = seal(&root, n, piece).await;
        activate(&chain, SectorNumber(n), comm_r);
        sealed.push(s);
        comm_rs.push(comm_r);
    }
    eprintln!("sealed 3 sectors through PC2 in {:?}", started.elapsed());

    // Unseal: the piece comes back byte for byte, its padding as zeros.
    let locator = SectorDirs { root: root.clone() };
    let one = &sealed[0];
    let (offset, len) = UnsealRequest::piece_range(&one.pieces, 0).unwrap();
    let request = UnsealRequest {
        sector: SectorId::new(MINER, SectorNumber(1)),
        seal_proof: PROOF,
        files: locator
            .locate(SectorId::new(MINER, SectorNumber(1)))
            .unwrap(),
        comm_d: one.comm_d,
        ticket: one.ticket,
        offset,
        len,
    };
    let started = Instant::now();
    let local = Arc::new(LocalExecutor::new());
    let unsealed = dir.path().join("unsealed-range");
    let written = local
        .execute(Unseal {
            request: request.clone(),
            output: unsealed.clone(),
        })
        .await
        .unwrap();
    eprintln!("unsealed {written} bytes in {:?}", started.elapsed());
    let out = std::fs::read(&unsealed).unwrap();
    assert_eq!(out.len() as u64, len);
    assert_eq!(written, len);
    assert_eq!(&out[..data.len()], &data[..]);
    assert!(out[data.len()..].iter().all(|b| *b == 0));
    // Exactly the piece's bytes, into a file.
    let target = dir.path().join("unsealed-piece");
    let exact = UnsealRequest {
        len: data.len() as u64,
        ..request.clone()
    };
    unseal_to_file(&*local, &exact, &target).await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), data);
    // And PUT to an HTTP server.
    let (url, uploaded) = upload_server().await;
    let destination = HttpDestination::parse(&url).unwrap();
    let sent = unseal_to_http(&*local, &exact, &destination).await.unwrap();
    assert_eq!(sent, data.len() as u64);
    assert_eq!(uploaded.lock().unwrap().as_deref(), Some(&data[..]));
    // And as an unseal job: the worker's runner, with the real unsealer,
    // writes the whole piece (its data, then the padding's zeros).
    let job_out = dir.path().join("job/piece");
    let jobs = Arc::new(OneJob::new(UnsealAssignment {
        sector: venus_seal::core::manager::AllocatedSector {
            id: SectorId::new(MINER, SectorNumber(1)),
            proof_type: PROOF,
        },
        piece: one.pieces[0].cid,
        comm_d: one.comm_d,
        ticket: Ticket {
            ticket: one.ticket,
            epoch: 0,
        },
        offset,
        len,
        instance: "sectors".into(),
        dests: vec![format!("file://{}", job_out.display())],
    }));
    let runner = UnsealRunner::new(
        jobs.clone(),
        local.clone(),
        Arc::new(locator.clone()),
        Default::default(),
        dir.path().join("spool"),
    );
    assert!(runner.run_once().await.unwrap());
    assert_eq!(*jobs.results.lock().unwrap(), vec![None]);
    assert_eq!(std::fs::read(&job_out).unwrap(), out);

    // WindowPoSt over the three sectors, verified by the devnet.
    let store_dir = dir.path().join("store");
    let scheduler = WindowPoStScheduler::new(
        chain.clone(),
        chain.clone(),
        PoStExecutors::of(local.clone()),
        Arc::new(RebuiltFirst {
            store: PersistedSectors::new(vec![store_dir.clone()]),
            sealed: locator.clone(),
        }),
        vec![MINER],
    );
    let started = Instant::now();
    let round = next_round(&chain, &scheduler).await;
    eprintln!(
        "WindowPoSt of 3 sectors generated, submitted and verified in {:?}",
        started.elapsed()
    );
    assert_eq!(round.partitions.len(), 1);
    assert_eq!(
        round.partitions[0].proven,
        vec![SectorNumber(1), SectorNumber(2), SectorNumber(3)]
    );
    assert!(round.partitions[0].skipped.is_empty());
    assert!(chain.faults(MINER).unwrap().is_empty());

    // Sector 2 loses its tree-r-last: the next proof skips it and lands.
    let cache2 = locator
        .locate(SectorId::new(MINER, SectorNumber(2)))
        .unwrap()
        .cache;
    let tree_r_last = cache2.join("sc-02-data-tree-r-last.dat");
    let kept = std::fs::read(&tree_r_last).unwrap();
    std::fs::remove_file(&tree_r_last).unwrap();
    let round = next_round(&chain, &scheduler).await;
    let partition = &round.partitions[0];
    assert_eq!(partition.proven, vec![SectorNumber(1), SectorNumber(3)]);
    assert_eq!(partition.skipped.len(), 1);
    assert_eq!(partition.skipped[0].number, SectorNumber(2));
    assert!(
        partition.skipped[0].reason.contains("tree-r-last"),
        "{}",
        partition.skipped[0].reason
    );
    assert_eq!(chain.faults(MINER).unwrap(), vec![SectorNumber(2)]);

    // WinningPoSt for the elected miner, as venus-miner asks for it.
    let epoch = chain.current_epoch();
    let election = chain.winning_election(epoch).unwrap().unwrap();
    assert_eq!(election.miner, MINER);
    let numbers: Vec<_> = election.sectors.iter().map(|s| s.number).collect();
    assert_eq!(numbers, vec![SectorNumber(1), SectorNumber(3)]);
    let started = Instant::now();
    let proofs = compute_proof(
        &LocalProofVerifier::default(),
        &*local,
        &locator,
        &ComputeProofRequest {
            miner: MINER,
            sectors: election.sectors.clone(),
            randomness: election.randomness,
            epoch,
        },
    )
    .await
    .unwrap();
    eprintln!("WinningPoSt generated in {:?}", started.elapsed());
    let mut tampered = proofs.clone();
    tampered[0].proof[5] ^= 0x10;
    let err = chain
        .submit_winning_post(epoch, MINER, tampered)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not verify"), "{err}");
    chain
        .submit_winning_post(epoch, MINER, proofs)
        .await
        .unwrap();

    // The same election as venus-miner asks for it in a venus pool: a fake
    // venus-gateway (go-jsonrpc channel frames) sends ComputeProof, the
    // manager's listener answers ResponseProofEvent, the devnet verifies.
    let started = Instant::now();
    let proofs = winning_post_through_gateway(&local, &locator, &election, epoch).await;
    eprintln!(
        "WinningPoSt through venus-gateway proof events in {:?}",
        started.elapsed()
    );
    chain
        .submit_winning_post(epoch, MINER, proofs)
        .await
        .unwrap();

    // The file is back: the scheduler declares the sector recovered and
    // the next proof covers it again.
    std::fs::write(&tree_r_last, kept).unwrap();
    let round = next_round(&chain, &scheduler).await;
    assert_eq!(
        round.partitions[0].proven,
        vec![SectorNumber(1), SectorNumber(2), SectorNumber(3)]
    );
    assert!(chain.faults(MINER).unwrap().is_empty());

    // Sector 3 loses all its files: skipped, faulty. A rebuild job (its
    // ticket, CC, the CommR on chain) runs on the worker's `Rebuilder`
    // with the real stages and a real persist store; the sector is
    // declared recovered and proven from the rebuilt files.
    let three = SectorId::new(MINER, SectorNumber(3));
    std::fs::remove_dir_all(root.join(three.to_string())).unwrap();
    let round = next_round(&chain, &scheduler).await;
    assert_eq!(
        round.partitions[0].proven,
        vec![SectorNumber(1), SectorNumber(2)]
    );
    assert_eq!(chain.faults(MINER).unwrap(), vec![SectorNumber(3)]);
    let jobs = Arc::new(OneRebuild {
        job: std::sync::Mutex::new(Some(RebuildAssignment {
            sector: AllocatedSector {
                id: three,
                proof_type: PROOF,
            },
            ticket: Ticket {
                ticket: sealed[2].ticket,
                epoch: 0,
            },
            deals: Vec::new(),
            comm_r: Some(CommR(comm_rs[2])),
            comm_d: Some(sealed[2].comm_d),
            upgraded: false,
        })),
        results: std::sync::Mutex::new(Vec::new()),
    });
    std::fs::create_dir_all(&store_dir).unwrap();
    let persist = PersistStores::new().with_store(Arc::new(LocalPersistStore::new(
        "store-r",
        store_dir.clone(),
    )));
    let rebuilder = Rebuilder::new(
        jobs.clone(),
        Arc::new(MemoryPieceStore::default()),
        StageExecutors::uniform(local.clone(), Arc::new(persist)),
        Default::default(),
        dir.path().join("rebuild"),
    );
    let started = Instant::now();
    assert_eq!(
        rebuilder.run_once().await.unwrap(),
        RebuildRun::Rebuilt("store-r".into())
    );
    eprintln!("sector 3 rebuilt and persisted in {:?}", started.elapsed());
    assert_eq!(
        *jobs.results.lock().unwrap(),
        vec![Ok("store-r".to_string())]
    );
    assert!(!dir.path().join("rebuild").join(three.to_string()).exists());
    // The rebuilt files pass the check the scheduler runs before it
    // declares the sector recovered.
    let rebuilt = RebuiltFirst {
        store: PersistedSectors::new(vec![store_dir.clone()]),
        sealed: locator.clone(),
    }
    .locate(three)
    .unwrap();
    assert!(rebuilt.sealed.starts_with(&store_dir), "{rebuilt:?}");
    let bad = local
        .execute(CheckProvable {
            miner: MINER,
            sectors: vec![ProvingSector {
                sector: PoStSector {
                    number: three.number,
                    seal_proof: PROOF,
                    comm_r: CommR(comm_rs[2]),
                    sector_key: None,
                },
                files: rebuilt,
            }],
        })
        .await
        .unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    let round = next_round(&chain, &scheduler).await;
    assert_eq!(
        round.partitions[0].proven,
        vec![SectorNumber(1), SectorNumber(2), SectorNumber(3)]
    );
    assert!(chain.faults(MINER).unwrap().is_empty());

    window_post_through_damocles_wdpost_jobs(
        &chain,
        &RebuiltFirst {
            store: PersistedSectors::new(vec![store_dir.clone()]),
            sealed: locator.clone(),
        },
        local.clone(),
        &dir.path().join("wdpost"),
    )
    .await;

    window_post_survives_a_proving_node_killed_mid_partition(
        &chain,
        Arc::new(RebuiltFirst {
            store: PersistedSectors::new(vec![store_dir.clone()]),
            sealed: locator.clone(),
        }),
        local,
        &dir.path().join("post"),
    )
    .await;
}

/// WindowPoSt as damocles' wdpost plan: the scheduler's partitions go
/// into a `WindowPoStJobs` queue served by the manager's worker API; a
/// proving worker (`PoStJobWorker` over `ManagerClient`, on the real
/// prover) takes each job over HTTP, finds the store it names ("nas-1")
/// where it mounts it, proves, and hands the proof back; the queue
/// verifies it and the devnet accepts the message. Then sector 2's
/// tree-r-last goes missing: the worker answers its fault beside the
/// proof of the others, which lands with sector 2 declared faulty.
async fn window_post_through_damocles_wdpost_jobs(
    chain: &Arc<DevnetChain>,
    current: &dyn SectorLocator,
    local: Arc<LocalExecutor>,
    dir: &Path,
) {
    use venus_seal::core::post_jobs::{
        PoStJobSettings, PoStJobSpec, PoStJobWorker, WindowPoStJobs,
    };
    // The three sectors in one persist-layout store, as workers persist.
    let store = dir.join("nas-1");
    for n in 1..=3 {
        let id = SectorId::new(MINER, SectorNumber(n));
        let files = current.locate(id).unwrap();
        std::fs::create_dir_all(store.join("sealed")).unwrap();
        std::fs::copy(&files.sealed, store.join("sealed").join(id.to_string())).unwrap();
        let cache = store.join("cache").join(id.to_string());
        std::fs::create_dir_all(&cache).unwrap();
        for entry in std::fs::read_dir(&files.cache).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), cache.join(entry.file_name())).unwrap();
        }
    }
    let jobs = Arc::new(
        WindowPoStJobs::new(
            vec![("nas-1".into(), store.clone())],
            PoStJobSettings::default(),
        )
        .with_verifier(Arc::new(LocalProofVerifier::default())),
    );
    let secret = venus_seal::rpc::Secret::generate();
    let (addr, server) = venus_seal::rpc::manager::ManagerServer::new(Arc::new(
        venus_seal::core::testing::FakeManager::default(),
    ))
    .window_post(jobs.clone())
    .serve("127.0.0.1:0".parse().unwrap(), secret.clone())
    .await
    .unwrap();
    let token = secret.token(venus_seal::rpc::Permission::Write, Some("prover-1"));
    let client = Arc::new(
        venus_seal::rpc::ManagerClient::new(format!("http://{addr}"), Some(&token)).unwrap(),
    );
    let worker = PoStJobWorker::new(
        client,
        local.clone(),
        [("nas-1".to_string(), store.clone())].into(),
        PoStJobSpec {
            miners: Some(vec![MINER]),
            sector_sizes: Some(vec![PROOF.sector_size()]),
        },
        "prover-1",
    )
    .spawn(Duration::from_millis(100));
    let scheduler = WindowPoStScheduler::new(
        chain.clone(),
        chain.clone(),
        PoStExecutors {
            window_post: jobs.clone(),
            check: local,
        },
        Arc::new(PersistedSectors::new(vec![store.clone()])),
        vec![MINER],
    );
    let started = Instant::now();
    let round = next_round(chain, &scheduler).await;
    eprintln!(
        "WindowPoSt through a damocles wdpost job (allocate, prove, finish over HTTP) landed in {:?}",
        started.elapsed()
    );
    assert_eq!(
        round.partitions[0].proven,
        vec![SectorNumber(1), SectorNumber(2), SectorNumber(3)]
    );
    assert!(chain.faults(MINER).unwrap().is_empty());

    let two = SectorId::new(MINER, SectorNumber(2));
    std::fs::remove_file(
        store
            .join("cache")
            .join(two.to_string())
            .join("sc-02-data-tree-r-last.dat"),
    )
    .unwrap();
    let round = next_round(chain, &scheduler).await;
    let partition = &round.partitions[0];
    assert_eq!(partition.proven, vec![SectorNumber(1), SectorNumber(3)]);
    assert_eq!(partition.skipped.len(), 1);
    assert_eq!(partition.skipped[0].number, SectorNumber(2));
    assert_eq!(chain.faults(MINER).unwrap(), vec![SectorNumber(2)]);
    assert!(jobs.jobs().is_empty());
    worker.abort();
    let _ = server.stop();
}

/// WindowPoSt on two proving-service processes (venus-seal-c2-service
/// with `stages = ["window_post"]`, one SQLite queue, the sectors read at
/// the scheduler's paths): node A claims the partition and is SIGKILLed
/// mid-partition; node B, started after, takes the task over once A's
/// heartbeat is stale, proves it, and the scheduler (knowing both nodes)
/// gets the proof, verifies it and sends it: it lands in its deadline.
async fn window_post_survives_a_proving_node_killed_mid_partition(
    chain: &Arc<DevnetChain>,
    locator: Arc<dyn SectorLocator>,
    local: Arc<LocalExecutor>,
    dir: &Path,
) {
    let node = |name: &str, testing: &str| {
        let port = support::free_port();
        let service = "heartbeat_interval = \"500ms\"\nstale_after = \"2s\"\n\
                       poll_interval = \"100ms\"\nstages = [\"window_post\"]";
        let config = support::proving_node_config(dir, name, port, service, testing);
        (config, port, dir.join(format!("{name}.log")))
    };
    let bin = support::c2_service_bin();
    let (config_a, port_a, log_a) = node("node-a", "[testing]\nprove_delay = \"1h\"");
    let (config_b, port_b, log_b) = node("node-b", "");
    let mut a = support::spawn_run(&bin, &config_a, &log_a);
    support::wait_listening(port_a, &log_a);
    let token = venus_seal::rpc::Secret::load(dir.join("secret"))
        .unwrap()
        .token(venus_seal::rpc::Permission::Write, Some("proving_e2e"));
    let remote = RemoteExecutor::<WindowPoSt>::new(
        &format!("http://127.0.0.1:{port_a}"),
        &token,
        Arc::new(LocalProofVerifier::default()),
    )
    .with_failover([format!("http://127.0.0.1:{port_b}")])
    .with_config(RemoteConfig {
        poll_initial: Duration::from_millis(100),
        poll_max: Duration::from_millis(500),
        max_poll_errors: 200,
        ..RemoteConfig::default()
    });
    let scheduler = WindowPoStScheduler::new(
        chain.clone(),
        chain.clone(),
        PoStExecutors {
            window_post: Arc::new(remote),
            check: local,
        },
        locator,
        vec![MINER],
    );
    let round = tokio::spawn({
        let chain = chain.clone();
        async move { next_round(&chain, &scheduler).await }
    });
    let claimed = Instant::now();
    while !std::fs::read_to_string(&log_a)
        .unwrap_or_default()
        .contains("task started")
    {
        assert!(
            claimed.elapsed() < Duration::from_secs(120),
            "node A never took the partition:\n{}",
            support::tail(&log_a)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.kill().unwrap();
    a.wait().unwrap();
    let started = Instant::now();
    let mut b = support::spawn_run(&bin, &config_b, &log_b);
    let round = tokio::time::timeout(Duration::from_secs(120), round)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no WindowPoSt after node A died:\n{}",
                support::tail(&log_b)
            )
        })
        .unwrap();
    eprintln!(
        "WindowPoSt taken over by node B and landed {:?} after node A was killed",
        started.elapsed()
    );
    assert_eq!(
        round.partitions[0].proven,
        vec![SectorNumber(1), SectorNumber(2), SectorNumber(3)]
    );
    let log_b = std::fs::read_to_string(&log_b).unwrap();
    assert!(
        log_b.contains("task done") && log_b.contains("stage=\"window_post\""),
        "{log_b}"
    );
    assert!(!std::fs::read_to_string(&log_a)
        .unwrap()
        .contains("task done"));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &b.id().to_string()])
        .status();
    b.wait().unwrap();
}

/// A CC sector sealed through PC2 and put on the devnet, and deal data
/// staged for it: what a snap-up starts from.
async fn cc_sector_and_staged_deal(
    chain: &DevnetChain,
    dir: &Path,
) -> (SnapEncode, venus_seal::core::CommR) {
    let root = dir.join("sectors");
    let (_, comm_r) = seal(&root, 10, None).await;
    let number = SectorNumber(10);
    activate(chain, number, comm_r);
    let data: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 253) as u8).collect();
    let piece_file = dir.join("deal");
    std::fs::write(&piece_file, &data).unwrap();
    let piece = piece_commitment(PROOF, &data[..], data.len() as u64).unwrap();
    let sector = SectorId::new(MINER, number);
    let staged = dir.join("update-staged");
    let pieces = LocalExecutor::new()
        .execute(AddPieces {
            proof: PROOF,
            sector,
            pieces: vec![PieceSource::File {
                path: piece_file,
                unpadded_size: data.len() as u64,
                expected: Some(piece),
            }],
            staged: staged.clone(),
        })
        .await
        .unwrap();
    let locator = SectorDirs { root };
    let request = SnapEncode {
        sector,
        seal_proof: PROOF,
        sector_key: locator.locate(sector).unwrap(),
        update: SectorFiles {
            sealed: dir.join("update").join("sealed"),
            cache: dir.join("update").join("cache"),
        },
        staged_data: staged,
        pieces,
    };
    (request, venus_seal::core::CommR(comm_r))
}

fn devnet(params: Arc<ParameterCache>) -> Arc<DevnetChain> {
    DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![PROOF],
        }]),
        Arc::new(LocalProofVerifier::with_parameters(params)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap_up_encodes_deal_data_into_a_cc_sector() {
    let params = Arc::new(ParameterCache::from_env());
    params.activate().unwrap();
    let chain = devnet(params);
    let dir = tempfile::tempdir().unwrap();
    let (request, comm_r_old) = cc_sector_and_staged_deal(&chain, dir.path()).await;
    let started = Instant::now();
    let local = LocalExecutor::new();
    let encoded = local.execute(request.clone()).await.unwrap();
    eprintln!("snap-up encoding took {:?}", started.elapsed());
    assert_ne!(encoded.comm_r_new, comm_r_old);
    assert_eq!(
        std::fs::metadata(&request.update.sealed).unwrap().len(),
        PROOF.sector_size().0
    );
    // Encoding the same data again gives the same commitments.
    std::fs::remove_dir_all(dir.path().join("update")).unwrap();
    assert_eq!(local.execute(request).await.unwrap(), encoded);
}

/// Needs the 2KiB empty-sector-update parameters: on first run
/// `ensure_update` generates them into the parameter cache (about 21
/// minutes on 2 busy cores, a 650 MB file, kept for later runs), so the
/// test is ignored by default. Run it with
/// `cargo test --test proving_e2e -- --include-ignored` (about 100 s once
/// the parameters are cached).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "generates ~21 min of 2KiB update parameters on first run; \
            cargo test --test proving_e2e -- --include-ignored"]
async fn snap_up_proof_verifies_on_the_devnet() {
    let params = Arc::new(ParameterCache::from_env());
    let status = tokio::task::spawn_blocking({
        let params = params.clone();
        move || params.ensure_update(PROOF, GenerationPolicy::TestSizes)
    })
    .await
    .unwrap();
    assert!(
        matches!(status, Ok(ParamStatus::Generated | ParamStatus::Production)),
        "the 2KiB update parameters are not usable: {status:?} ({:?})",
        params.update_files(PROOF).unwrap()
    );
    let chain = devnet(params);
    let dir = tempfile::tempdir().unwrap();
    let (request, comm_r_old) = cc_sector_and_staged_deal(&chain, dir.path()).await;
    let local = Arc::new(LocalExecutor::new());
    let encoded = local.execute(request.clone()).await.unwrap();
    let started = Instant::now();
    let proof = local
        .execute(SnapProve {
            encode: request.clone(),
            encoded,
            comm_r_old,
        })
        .await
        .unwrap()
        .proof;
    eprintln!("snap-up proof generated in {:?}", started.elapsed());
    let update = |proof: Vec<u8>| {
        MinerCall::ProveReplicaUpdates3(vec![ReplicaUpdateParams {
            sector_number: request.sector.number,
            seal_proof: PROOF,
            deadline: 0,
            partition: 0,
            new_sealed_cid: encoded.comm_r_new,
            new_unsealed_cid: encoded.comm_d_new,
            pieces: request
                .pieces
                .iter()
                .map(|p| venus_seal::core::manager::DealInfo::new(0, *p))
                .collect(),
            proof,
        }])
    };
    let mut tampered = proof.clone();
    tampered[3] ^= 0x08;
    let (code, error) = execute(&chain, update(tampered)).await;
    assert_eq!(code, 16, "{error:?}");
    assert!(error.unwrap().contains("does not verify"));
    assert_eq!(execute(&chain, update(proof)).await, (0, None));
    let sector = chain
        .sector(MINER, request.sector.number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sector.sealed_cid, encoded.comm_r_new);

    // The upgraded sector is proven from its new replica and cache.
    let locator: std::collections::BTreeMap<_, _> =
        [(request.sector, request.update.clone())].into();
    let scheduler = WindowPoStScheduler::new(
        chain.clone(),
        chain.clone(),
        PoStExecutors::of(local),
        Arc::new(locator),
        vec![MINER],
    );
    let round = next_round(&chain, &scheduler).await;
    assert_eq!(round.partitions[0].proven, vec![request.sector.number]);
    assert!(chain.faults(MINER).unwrap().is_empty());
}

/// The 2KiB update parameters, generated on first use (about 9 minutes
/// on 2 cores here, a 650 MB file kept in the cache).
fn ensure_update_params() -> Arc<ParameterCache> {
    let params = ensure_post_params();
    let status = params.ensure_update(PROOF, GenerationPolicy::TestSizes);
    assert!(
        matches!(status, Ok(ParamStatus::Generated | ParamStatus::Production)),
        "the 2KiB update parameters are not usable: {status:?} ({:?})",
        params.update_files(PROOF).unwrap()
    );
    params
}

/// The snap-up plan end to end with real 2KiB proofs: a CC sector sealed
/// and persisted, recorded by the manager and proven by WindowPoSt; the
/// operator asks for a snap-up, a deal is queued, the worker's
/// `Upgrader` (LocalExecutor, a persist store) takes the job, encodes and
/// proves it against the CC replica read from the store and persists the
/// update beside it; the manager checks the proof, sends
/// `ProveReplicaUpdates3`, the devnet verifies it; once final the CC
/// replica is removed, and WindowPoSt proves the sector from its updated
/// replica alone. Ignored by default (the update parameters); run with
/// `cargo test --test proving_e2e snap_up_job -- --include-ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the 2KiB update parameters (~9 min to generate on first run); \
            cargo test --test proving_e2e snap_up_job -- --include-ignored"]
async fn snap_up_job_end_to_end_on_real_2kib_sectors() {
    use venus_seal::chain::manager::{ManagedMiner, ManagerConfig, SnapUpSettings};
    use venus_seal::chain::LocalSectorManager;
    use venus_seal::core::manager::{
        AcquireDealsSpec, AllocateSpec, DealInfo, PreCommitOnChainInfo,
    };
    use venus_seal::core::snapup::{SnapExecutors, SnapUpOrigin, SnapUpRun, SnapUpState, Upgrader};
    use venus_seal::core::stage::Persist;
    use venus_seal::core::SectorManager;

    let params = tokio::task::spawn_blocking(ensure_update_params)
        .await
        .unwrap();
    let chain = devnet(params.clone());
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    std::fs::create_dir_all(&store_dir).unwrap();
    let persist = Arc::new(
        PersistStores::new().with_store(Arc::new(LocalPersistStore::new(
            "store-1",
            store_dir.clone(),
        ))),
    );
    let files = Arc::new(PersistedSectors::new(vec![store_dir.clone()]));
    let mut config = ManagerConfig::new(vec![ManagedMiner::new(MINER, PROOF)]);
    config.snap_up = SnapUpSettings {
        final_after: 3,
        remove_cc_data: true,
    };
    let m = LocalSectorManager::in_memory(
        config,
        chain.clone(),
        chain.clone(),
        Arc::new(LocalProofVerifier::with_parameters(params.clone())),
    );
    m.set_sector_files(files.clone()).unwrap();

    // A CC sector: allocated, sealed, persisted, pre-committed, finalized
    // and active on chain.
    let s = m
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    assert!(m
        .acquire_deals(s.id, AcquireDealsSpec::default())
        .await
        .unwrap()
        .is_empty());
    let ticket = m.assign_ticket(s.id).await.unwrap();
    let root = dir.path().join("sealing");
    let (sealed, comm_r) = seal(&root, s.id.number.0, None).await;
    let local = Arc::new(LocalExecutor::with_parameters(params.clone()));
    let out = persist
        .execute(Persist {
            proof: PROOF,
            sector: s.id,
            paths: SectorPaths::under(root.join(s.id.to_string())),
            update: false,
        })
        .await
        .unwrap();
    assert_eq!(out.instance, "store-1");
    let info = PreCommitOnChainInfo {
        comm_r: CommR(comm_r),
        comm_d: sealed.comm_d,
        ticket,
        deals: vec![],
    };
    m.submit_pre_commit(s, info, false).await.unwrap();
    m.send_due().await.unwrap();
    chain.advance(1).await;
    assert!(m.submit_persisted(s.id, "store-1".into()).await.unwrap());
    m.report_finalized(s.id).await.unwrap();
    activate(&chain, s.id.number, comm_r);
    let scheduler = WindowPoStScheduler::new(
        chain.clone(),
        chain.clone(),
        PoStExecutors::of(local.clone()),
        files.clone(),
        vec![MINER],
    );
    let round = next_round(&chain, &scheduler).await;
    assert_eq!(round.partitions[0].proven, vec![s.id.number], "CC proven");
    // The actors update a sector only while its deadline is neither open
    // nor next (the manager keeps one more deadline of margin): wait for
    // deadline 1 (of 4) to open, the sector's deadline 0 proven.
    while chain.proving_deadline(MINER).await.unwrap().index != 1 {
        chain.advance(1).await;
    }

    // The operator asks; a deal is queued; a worker takes the job.
    let job = m
        .request_snap_up(s.id, SnapUpOrigin::Operator)
        .await
        .unwrap();
    assert_eq!(job.cc_instance, "store-1");
    let data: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 253) as u8).collect();
    let piece = piece_commitment(PROOF, &data[..], data.len() as u64).unwrap();
    let pieces = Arc::new(MemoryPieceStore::default());
    pieces.insert(piece.cid, data.clone());
    m.add_deal(Some(MINER), DealInfo::new(11, piece))
        .await
        .unwrap();
    let upgrader = Upgrader::new(
        m.clone(),
        pieces,
        files.clone(),
        SnapExecutors {
            add_pieces: local.clone(),
            encode: local.clone(),
            prove: local.clone(),
            persist: persist.clone(),
        },
        AllocateSpec::default(),
        dir.path().join("snap-up"),
    );
    let started = Instant::now();
    assert_eq!(
        upgrader.run_once().await.unwrap(),
        SnapUpRun::Submitted("store-1".into())
    );
    eprintln!(
        "snap-up job (fetch, add_pieces, encode, prove, persist, submit): {:?}",
        started.elapsed()
    );
    let update = files.locate_update(s.id).expect("the update is persisted");
    assert!(update.sealed.is_file());

    // The manager sends ProveReplicaUpdates3; the devnet verifies it.
    m.send_due().await.unwrap();
    chain.advance(1).await;
    m.watch_snap_ups().await;
    let on_chain = chain.sector(MINER, s.id.number).await.unwrap().unwrap();
    assert_eq!(on_chain.sector_key, Some(CommR(comm_r)));
    assert_ne!(on_chain.sealed_cid, CommR(comm_r));
    let rec = m.sector_status(s.id).await.unwrap().unwrap();
    assert!(
        matches!(
            rec.snap_up.as_ref().unwrap().state,
            SnapUpState::Landed { .. }
        ),
        "{:?}",
        rec.snap_up
    );
    // Final: the CC replica goes.
    chain.advance(3).await;
    m.watch_snap_ups().await;
    let rec = m.sector_status(s.id).await.unwrap().unwrap();
    assert!(
        matches!(
            rec.snap_up.as_ref().unwrap().state,
            SnapUpState::Done { .. }
        ),
        "{:?}",
        rec.snap_up
    );
    assert!(!store_dir.join("sealed").join(s.id.to_string()).exists());
    assert!(!store_dir.join("cache").join(s.id.to_string()).exists());

    // WindowPoSt proves the sector from its updated replica alone.
    let round = next_round(&chain, &scheduler).await;
    assert_eq!(round.partitions[0].proven, vec![s.id.number]);
    assert!(chain.faults(MINER).unwrap().is_empty());
}

/// Puts MINER's sector `number` with replica commitment `comm_r` on chain
/// as active (no proof: the tests here prove it afterwards).
fn activate(chain: &DevnetChain, number: SectorNumber, comm_r: [u8; 32]) {
    chain
        .activate_sector_without_proof(
            MINER,
            OnChainSector {
                number,
                seal_proof: PROOF,
                sealed_cid: venus_seal::core::CommR(comm_r),
                activation: 0,
                expiration: 1_000_000,
                deal_weight: 0,
                verified_deal_weight: 0,
                sector_key: None,
            },
        )
        .unwrap();
}

/// Sends `call` from MINER, produces an epoch, returns the exit code and
/// error.
async fn execute(chain: &DevnetChain, call: MinerCall) -> (i64, Option<String>) {
    venus_seal::chain::testing::execute_call(chain, MINER, call).await
}
