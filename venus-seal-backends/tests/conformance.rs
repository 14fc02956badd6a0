//! Every implementation in venus-seal-backends runs its trait's
//! conformance suite (`venus_seal_core::testing::conformance`), directly
//! and through `Arc<dyn …>` / `Box<dyn …>`:
//!
//! * `LocalExecutor`: add_pieces, tree_d, pc1, pc2 and c1 of a 2KiB sector
//!   (milliseconds, no Groth16 parameters). Its C2 suite (six C2s) is in
//!   `local_c2_passes_the_suite`, ignored by default.
//! * `LocalProofVerifier`: one real seal proof (one C2) and one real
//!   WindowPoSt; with the proving suite below, it needs the 2KiB PoRep,
//!   WindowPoSt and WinningPoSt Groth16 parameters in the parameter cache
//!   (`FIL_PROOFS_PARAMETER_CACHE`, else `~/.cache/filecoin-proof-parameters`;
//!   the PoSt ones are generated at test sizes when missing).
//! * `LocalExecutor` for the proving stages: window_post, winning_post,
//!   check_provable, unseal and snap_encode over 2KiB sectors it seals
//!   (the WindowPoSt and WinningPoSt Groth16 parameters must be in the
//!   parameter cache), and `post_contract` with `LocalProofVerifier`
//!   checking the proofs. snap_prove, locally and through the remote
//!   service, is in `local_and_remote_snap_prove_pass_the_suite`, ignored
//!   by default (it needs the 2KiB empty-sector-update parameters, ~21
//!   minutes to generate on 2 cores).
//! * `ExtProcessorExecutor`: the same sealing stages, and window_post,
//!   with this test binary as the child, serving a `LocalExecutor` over
//!   the ext protocol (levels cross the process boundary).
//! * `RemoteC2Executor` against a `C2Service` proving with the core's fake
//!   C2 and verifying with the fake verifier; `RemoteExecutor` of
//!   window_post and winning_post against a service proving with
//!   `LocalExecutor` on real 2KiB sectors, verified by `LocalProofVerifier`.
//! * Persist stores: local directory, object store in memory and on local
//!   files. (Piece stores run their suite in `tests/piece_stores.rs`.)

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use venus_seal_backends::ext::{serve_stdio, ExtProcessorConfig, ExtProcessorExecutor};
use venus_seal_backends::params::{GenerationPolicy, ParameterCache, PoStKind};
use venus_seal_backends::persist::{LocalPersistStore, ObjectPersistStore, PersistStore};
use venus_seal_backends::remote_c2::{
    C2Service, C2ServiceConfig, C2TaskStore, Provers as RemoteProvers, RemoteC2Config,
    RemoteC2Executor, RemoteExecutor,
};
use venus_seal_backends::{LocalExecutor, LocalProofVerifier};
use venus_seal_core::proving::WindowPoStVerifyInfo;
use venus_seal_core::sealer::StageExecutors;
use venus_seal_core::stage::{
    AddPieces, CheckProvable, KeepInPlace, Pc1, Pc2, SnapEncode, SnapProve, Stage, TreeD, Unseal,
    WindowPoSt, WinningPoSt, C1,
};
use venus_seal_core::testing::conformance::executor::{executor, executor_all_ways, Capabilities};
use venus_seal_core::testing::conformance::persist_store::{self, persist_store};
use venus_seal_core::testing::conformance::proving::{
    post_contract, proving_cases, snap_encode_case, snap_prove_case, Provers, SectorFixture,
};
use venus_seal_core::testing::conformance::sealing::{sealing_cases, SealingCases};
use venus_seal_core::testing::conformance::verifier::{self, proof_verifier, VerifierCase};
use venus_seal_core::testing::{fake_c2_verify_info, fake_stage_executors, FakeProofVerifier};
use venus_seal_core::FailureLevel;
use venus_seal_core::{DynExecutor, Executor, ProofVerifier, Randomness, SealProof};
use venus_seal_rpc::auth::{Permission, Secret};

const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;

/// The local executor for every sealing stage (persist keeps files in
/// place: it is not under test here).
fn local() -> StageExecutors {
    let keep = KeepInPlace {
        instance: "local".into(),
    };
    StageExecutors::uniform(Arc::new(LocalExecutor::new()), Arc::new(keep))
}

/// add_pieces to c1 on `execs`, with the file checks, inputs made by the
/// local executor.
async fn fast_sealing_stages(execs: &StageExecutors, cases: &SealingCases) {
    let caps = Capabilities::default();
    executor_all_ways(execs.add_pieces.clone(), &cases.add_pieces, caps).await;
    executor_all_ways(execs.tree_d.clone(), &cases.tree_d, caps).await;
    executor_all_ways(execs.pc1.clone(), &cases.pc1, caps).await;
    executor_all_ways(execs.pc2.clone(), &cases.pc2, caps).await;
    executor_all_ways(execs.c1.clone(), &cases.c1, caps).await;
}

#[tokio::test]
async fn local_executor_passes_the_suite_for_the_stages_without_parameters() {
    let execs = local();
    let cases = sealing_cases(&execs, P2K).with_file_checks();
    fast_sealing_stages(&execs, &cases).await;
}

#[tokio::test]
#[ignore = "six 2KiB C2s (each about 20 s on 2 cores): run with --ignored"]
async fn local_c2_passes_the_suite() {
    tokio::task::spawn_blocking(post_params).await.unwrap();
    let execs = local();
    let cases = sealing_cases(&execs, P2K);
    executor_all_ways(execs.c2.clone(), &cases.c2, PROOFS).await;
}

#[tokio::test]
async fn local_proof_verifier_passes_the_suite() {
    let params = tokio::task::spawn_blocking(post_params).await.unwrap();
    let execs = local();
    let dir = tempfile::tempdir().unwrap();
    // One real seal proof (one C2)…
    let task = sealing_cases(&execs, P2K).c2.task(dir.path()).await;
    let mut seal = venus_seal_backends::remote_c2::verify_info_from_c1_output(&task).unwrap();
    seal.proof = execs.c2.execute(task).await.unwrap().proof;
    // …and one real WindowPoSt, of a sector sealed alongside.
    let sector = SectorFixture::sealed_by(&execs, P2K)
        .seal(&dir.path().join("post"))
        .await;
    let randomness = Randomness([9; 32]);
    let post = Executor::<WindowPoSt>::execute(
        &LocalExecutor::new(),
        WindowPoSt {
            miner: sector.id.miner,
            deadline: 0,
            partition: 0,
            randomness,
            sectors: vec![sector.proving()],
        },
    )
    .await
    .unwrap();
    let case = VerifierCase {
        seals: vec![seal],
        window_post: Some(WindowPoStVerifyInfo {
            miner: sector.id.miner,
            randomness,
            sectors: vec![sector.post_sector()],
            proofs: post.proofs,
        }),
    };
    let caps = verifier::Capabilities {
        aggregation: false,
        window_post: true,
    };
    let local = LocalProofVerifier::with_parameters(params);
    proof_verifier(&local, &case, caps);
    proof_verifier(
        &(Arc::new(local.clone()) as Arc<dyn ProofVerifier>),
        &case,
        caps,
    );
    proof_verifier(&(Box::new(local) as Box<dyn ProofVerifier>), &case, caps);
}

/// Groth16 proofs are randomised: a re-run proves again, differently.
const PROOFS: Capabilities = Capabilities {
    randomised_output: true,
};

/// The active parameter cache, with the 2KiB WindowPoSt and WinningPoSt
/// parameters (generated at test sizes if missing: about 40 s), set in
/// the environment before any child starts.
fn post_params() -> Arc<ParameterCache> {
    static PARAMS: OnceLock<Arc<ParameterCache>> = OnceLock::new();
    PARAMS
        .get_or_init(|| {
            let params = Arc::new(ParameterCache::from_env());
            params.activate().unwrap();
            for kind in [PoStKind::Window, PoStKind::Winning] {
                params
                    .ensure_post(P2K, kind, GenerationPolicy::TestSizes)
                    .unwrap();
            }
            params
        })
        .clone()
}

#[tokio::test]
async fn local_executor_passes_the_proving_suite() {
    let params = tokio::task::spawn_blocking(post_params).await.unwrap();
    let local = Arc::new(LocalExecutor::new());
    let fixture = SectorFixture::sealed_by(&self::local(), P2K);
    let cases = proving_cases(&fixture);
    let caps = Capabilities::default();
    executor_all_ways::<WindowPoSt>(local.clone(), &cases.window_post, PROOFS).await;
    // A 2KiB WinningPoSt takes seconds (window_post above covers the
    // `Arc<dyn>` / `Box<dyn>` forwarding): once, directly.
    executor::<WinningPoSt>(&*local, &cases.winning_post, PROOFS).await;
    executor_all_ways::<CheckProvable>(local.clone(), &cases.check_provable, caps).await;
    executor_all_ways::<Unseal>(local.clone(), &cases.unseal, caps).await;
    executor_all_ways::<SnapEncode>(local.clone(), &snap_encode_case(&fixture), caps).await;
    let provers = Provers {
        window_post: &*local,
        winning_post: &*local,
        check_provable: &*local,
        unseal: &*local,
        verifier: &LocalProofVerifier::with_parameters(params),
    };
    post_contract(provers, &fixture).await;
}

// ---- ext processor: this binary as the child --------------------------

/// Set in the child's environment: the stage to serve.
const CHILD_ENV: &str = "VENUS_SEAL_CONFORMANCE_CHILD";

/// The child: serves the stage named by `CHILD_ENV` with a local
/// executor on stdin/stdout until stdin closes.
#[test]
fn child_entry() {
    let Some(stage) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let local = LocalExecutor::new();
    let result = runtime.block_on(async move {
        match stage.to_str() {
            Some(AddPieces::NAME) => serve_stdio::<AddPieces, _>(local).await,
            Some(TreeD::NAME) => serve_stdio::<TreeD, _>(local).await,
            Some(Pc1::NAME) => serve_stdio::<Pc1, _>(local).await,
            Some(Pc2::NAME) => serve_stdio::<Pc2, _>(local).await,
            Some(C1::NAME) => serve_stdio::<C1, _>(local).await,
            Some(WindowPoSt::NAME) => serve_stdio::<WindowPoSt, _>(local).await,
            other => panic!("no stage {other:?}"),
        }
    });
    // Exit before the test harness prints anything more on stdout.
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}

/// An ext-processor executor of `S` running this binary's `child_entry`.
fn ext<S: Stage>() -> DynExecutor<S> {
    let mut cfg = ExtProcessorConfig::new(std::env::current_exe().unwrap());
    cfg.name = Some(format!("self-{}", S::NAME));
    cfg.args = [
        "child_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]
    .map(String::from)
    .to_vec();
    cfg.envs.insert(CHILD_ENV.into(), S::NAME.into());
    cfg.ready_timeout = Duration::from_secs(10);
    Arc::new(ExtProcessorExecutor::<S>::new(cfg).unwrap())
}

#[tokio::test]
async fn ext_processor_executors_pass_the_suite_over_a_local_child() {
    let mut execs = local();
    // Inputs are prepared locally; the stage under test runs in the child.
    // A child's `[abort]` is capped at Permanent by the parent.
    let cases = sealing_cases(&execs, P2K)
        .with_file_checks()
        .abort_as(FailureLevel::Permanent);
    execs.add_pieces = ext();
    execs.tree_d = ext();
    execs.pc1 = ext();
    execs.pc2 = ext();
    execs.c1 = ext();
    fast_sealing_stages(&execs, &cases).await;
}

#[tokio::test]
async fn ext_processor_window_post_passes_the_suite_over_a_local_child() {
    tokio::task::spawn_blocking(post_params).await.unwrap();
    // Sectors are sealed locally; the WindowPoSt runs in the child.
    let cases = proving_cases(&SectorFixture::sealed_by(&local(), P2K));
    executor_all_ways(ext::<WindowPoSt>(), &cases.window_post, PROOFS).await;
}

// ---- remote C2 ----------------------------------------------------------

#[tokio::test]
async fn remote_c2_executor_passes_the_suite_against_a_fake_prover() {
    let (fakes, _) = fake_stage_executors();
    let dir = tempfile::tempdir().unwrap();
    let store = C2TaskStore::open_sqlite(dir.path().join("c2.db"))
        .await
        .unwrap();
    let secret = Secret::generate();
    let config = C2ServiceConfig {
        node_id: "conformance".into(),
        provers: 2,
        max_body_bytes: 64 << 10,
        heartbeat_interval: Duration::from_millis(100),
        stale_after: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        ..C2ServiceConfig::default()
    };
    let service = C2Service::new(store, fakes.c2.clone(), secret.clone(), config)
        .with_c1_check(|t| fake_c2_verify_info(t).map(drop));
    let (url, server, _provers) = serve_remote(service).await;
    let token = secret.token(Permission::Write, Some("conformance"));
    let client = RemoteC2Executor::new(&url, &token, Arc::new(FakeProofVerifier))
        .with_verify_info(fake_c2_verify_info)
        .with_config(remote_timing());
    let cases = sealing_cases(&fakes, P2K);
    executor_all_ways(Arc::new(client), &cases.c2, Capabilities::default()).await;
    server.abort();
}

/// WindowPoSt and WinningPoSt through the remote service, proven there by
/// the local executor on real 2KiB sectors and verified here with the
/// proving crates' verifier: the same suite as the local executor.
#[tokio::test]
async fn remote_post_executors_pass_the_proving_suite_against_the_local_prover() {
    let params = tokio::task::spawn_blocking(post_params).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = C2TaskStore::open_sqlite(dir.path().join("queue.db"))
        .await
        .unwrap();
    let secret = Secret::generate();
    let local = Arc::new(LocalExecutor::with_parameters(params.clone()));
    let config = C2ServiceConfig {
        node_id: "conformance-post".into(),
        poll_interval: Duration::from_millis(20),
        ..C2ServiceConfig::default()
    };
    let service = C2Service::without_stages(store, secret.clone(), config)
        .with_stage::<WindowPoSt>(local.clone())
        .with_stage::<WinningPoSt>(local);
    let (url, server, _provers) = serve_remote(service).await;
    let token = secret.token(Permission::Write, Some("conformance"));
    let verifier: Arc<dyn ProofVerifier> = Arc::new(LocalProofVerifier::with_parameters(params));
    let window = RemoteExecutor::<WindowPoSt>::new(&url, &token, verifier.clone())
        .with_config(remote_timing());
    let winning =
        RemoteExecutor::<WinningPoSt>::new(&url, &token, verifier).with_config(remote_timing());
    let cases = proving_cases(&SectorFixture::sealed_by(&self::local(), P2K));
    executor_all_ways::<WindowPoSt>(Arc::new(window), &cases.window_post, PROOFS).await;
    executor::<WinningPoSt>(&winning, &cases.winning_post, PROOFS).await;
    server.abort();
}

/// snap_prove on `LocalExecutor`, and through the remote service proving
/// with it (each proof verified by `LocalProofVerifier` on return), over
/// real 2KiB sectors encoded with deal data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the 2KiB empty-sector-update parameters (~21 min to generate on 2 cores); \
            cargo test -p venus-seal-backends --test conformance snap_prove -- --include-ignored"]
async fn local_and_remote_snap_prove_pass_the_suite() {
    let params = tokio::task::spawn_blocking(|| {
        let params = post_params();
        params
            .ensure_update(P2K, GenerationPolicy::TestSizes)
            .unwrap();
        params
    })
    .await
    .unwrap();
    let local = Arc::new(LocalExecutor::with_parameters(params.clone()));
    let case = snap_prove_case(
        &SectorFixture::sealed_by(&self::local(), P2K),
        local.clone(),
    );
    executor::<SnapProve>(&*local, &case, PROOFS).await;

    let dir = tempfile::tempdir().unwrap();
    let store = C2TaskStore::open_sqlite(dir.path().join("queue.db"))
        .await
        .unwrap();
    let secret = Secret::generate();
    let service = C2Service::without_stages(store, secret.clone(), C2ServiceConfig::default())
        .with_stage::<SnapProve>(local);
    let (url, server, _provers) = serve_remote(service).await;
    let token = secret.token(Permission::Write, Some("conformance"));
    let verifier: Arc<dyn ProofVerifier> = Arc::new(LocalProofVerifier::with_parameters(params));
    let remote =
        RemoteExecutor::<SnapProve>::new(&url, &token, verifier).with_config(remote_timing());
    executor_all_ways::<SnapProve>(Arc::new(remote), &case, PROOFS).await;
    server.abort();
}

/// Serves `service` on a loopback port with its provers running.
async fn serve_remote(service: C2Service) -> (String, tokio::task::JoinHandle<()>, RemoteProvers) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let router = service.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let provers = service.start_provers().await.unwrap();
    (format!("http://{addr}"), server, provers)
}

/// Fast polling for a loopback service.
fn remote_timing() -> RemoteC2Config {
    RemoteC2Config {
        poll_initial: Duration::from_millis(10),
        poll_max: Duration::from_millis(50),
        request_timeout: Duration::from_secs(10),
        max_poll_errors: 2,
        compress: true,
    }
}

// ---- persist stores -----------------------------------------------------

const DIRECTORY: persist_store::Capabilities = persist_store::Capabilities {
    reports_free_space: true,
};
const OBJECTS: persist_store::Capabilities = persist_store::Capabilities {
    reports_free_space: false,
};

#[tokio::test]
async fn local_persist_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalPersistStore::new("local", dir.path());
    persist_store(&store, DIRECTORY).await;
    persist_store(
        &(Arc::new(store.clone()) as Arc<dyn PersistStore>),
        DIRECTORY,
    )
    .await;
    persist_store(&(Box::new(store) as Box<dyn PersistStore>), DIRECTORY).await;
}

#[tokio::test]
async fn object_persist_store_in_memory_passes_the_suite() {
    let mem = Arc::new(InMemory::new());
    persist_store(
        &ObjectPersistStore::new("mem", mem.clone(), "".into()),
        OBJECTS,
    )
    .await;
    // Small parts: many parts per file, several in flight.
    let store = ObjectPersistStore::new("mem", mem, "persist/a".into()).with_part_size(1 << 20);
    persist_store(&(Arc::new(store.clone()) as Arc<dyn PersistStore>), OBJECTS).await;
    persist_store(&(Box::new(store) as Box<dyn PersistStore>), OBJECTS).await;
}

#[tokio::test]
async fn object_persist_store_on_local_files_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    persist_store(
        &ObjectPersistStore::new("fs", fs.clone(), "".into()),
        OBJECTS,
    )
    .await;
    let store = ObjectPersistStore::new("fs", fs, "bucket".into()).with_part_size(3 << 20);
    persist_store(&store, OBJECTS).await;
}
