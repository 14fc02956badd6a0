//! The worker's crash matrix: the worker dies at every await between a
//! step's end (a stage's output, a manager's answer) and its record being
//! saved, and at every save, one case per point; a new worker on the same
//! SQLite file and directories finishes the sector.
//!
//! "Dies" is a [`CrashSwitch`]: at its point the worker's store, manager
//! client and executors stop forever (nothing after that instant reaches
//! the database, the manager or the disk), the engine's task is aborted,
//! and only the SQLite file and the sector's files carry over, as after a
//! `SIGKILL`. The manager ([`LocalSectorManager`]) and the devnet it sends
//! real messages to live on: they are another process. The stages are the
//! core's file-writing fakes (PC2 refuses to encode a sealed file twice, C1
//! refuses one that is not PC2's replica), so a case also fails when a
//! restart leaves the files inconsistent.
//!
//! Each case checks: the sector is `Finished` and proven on the devnet,
//! exactly one pre-commit and one prove-commit message carried it and the
//! manager sent no other, neither side aborted it, and its files (sealed
//! replica, cache, persisted copy) are what one clean seal leaves.
//! `matrix_covers_every_point_of_a_clean_run` keeps the list exhaustive:
//! a clean run must pass exactly the listed points.
//!
//! Besides the points of the worker's own steps, the worker also dies
//! right before and right after the manager pushes a batch holding its
//! sector (the manager sends from a background task and lives on), and
//! between the manager's allocation and its save: no case leaves a number
//! allocated to nobody (the allocation key makes asking again idempotent).
//! The manager's own crash between a push and the message id's save is
//! `venus-seal-chain`'s `manager::restart_tests`.
//!
//! `tests/worker_kill.rs` kills the real binary at a few points with real
//! proofs; this matrix is the exhaustive, fast one (about 0.5 s a case).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use venus_seal::chain::testing::FakeProofVerifier;
use venus_seal::chain::{DevnetChain, LocalSectorManager};
use venus_seal::core::chain::{MessageId, MessageState, MinerCall, MinerMessage, SendUid};
use venus_seal::core::testing::{
    crashing_executors, file_writing_stages, persisted_sealed, CrashPoint, CrashSwitch,
    CrashingManager, CrashingStore, REPLICA_DATA, STAGED_DATA,
};
use venus_seal::core::{
    ActorId, ChainClient, ChainError, Engine, Location, MemoryPieceStore, MessageSender,
    RetryPolicy, SealProof, Sealer, SealerConfig, SectorId, SectorNumber, SectorRecord,
    SectorState, SectorStore, SectorStoreError, SqliteSectorStore,
};

const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;
/// The devnet's block time: seeds come 10 epochs after a pre-commit.
const BLOCK_TIME: Duration = Duration::from_millis(10);
/// The longest the chain stands still after a crash.
const CHAIN_PAUSE: Duration = Duration::from_millis(200);
/// How long one worker may take to finish the sector.
const FINISH_WITHIN: Duration = Duration::from_secs(20);

/// Every message the manager sent, and (optionally) a worker that dies in
/// the manager's call around a push: a batch sent inside the worker's call
/// is dropped with it.
#[derive(Debug)]
struct RecordingSender {
    chain: Arc<DevnetChain>,
    sent: Mutex<Vec<MinerMessage>>,
    /// The send attempts' uids, one per message in `sent`.
    uids: Mutex<Vec<SendUid>>,
    kill: Mutex<Option<KillAtPush>>,
}

/// Which push kills which worker, and whether before or after the push.
#[derive(Debug)]
struct KillAtPush {
    matches: fn(&MinerCall) -> bool,
    after: bool,
    switch: Arc<CrashSwitch>,
}

impl RecordingSender {
    /// Kills the worker if this is the push (`after` it or not) it dies
    /// at. The manager sends batches from its own background task, not in
    /// the worker's call, so the push goes on: the manager is another
    /// process and outlives the worker.
    fn maybe_kill(&self, call: &MinerCall, after: bool) {
        let kill = {
            let mut kill = self.kill.lock().unwrap();
            match kill.take() {
                Some(k) if k.after == after && (k.matches)(call) => Some(k.switch),
                other => {
                    *kill = other;
                    None
                }
            }
        };
        if let Some(switch) = kill {
            switch.kill(if after {
                "right after the manager pushed a message for the worker's sector"
            } else {
                "right before the manager pushed a message for the worker's sector"
            });
        }
    }
}

#[async_trait]
impl MessageSender for RecordingSender {
    async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError> {
        self.maybe_kill(&msg.call, false);
        let id = self.chain.send(uid, msg.clone()).await?;
        // A known uid is the same attempt recovered: the devnet sends
        // nothing for it, so it is no new message.
        {
            let mut uids = self.uids.lock().unwrap();
            if !uids.contains(uid) {
                uids.push(uid.clone());
                self.sent.lock().unwrap().push(msg.clone());
            }
        }
        self.maybe_kill(&msg.call, true);
        Ok(id)
    }

    async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError> {
        self.chain.state(id).await
    }
}

/// What outlives a worker: the devnet, the manager, the worker's SQLite
/// file and directories.
struct World {
    chain: Arc<DevnetChain>,
    sender: Arc<RecordingSender>,
    manager: Arc<LocalSectorManager>,
    db: PathBuf,
    location: PathBuf,
    persist_root: PathBuf,
    _tmp: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let verifier = Arc::new(FakeProofVerifier);
        let chain = DevnetChain::new(
            venus_seal::chain::DevnetConfig {
                block_time: Some(BLOCK_TIME),
                network: venus_seal::core::NetworkParams {
                    block_delay_secs: 0,
                    ..venus_seal::chain::DEVNET_NETWORK
                },
                miners: vec![venus_seal::chain::DevnetMiner {
                    id: MINER,
                    allowed_proofs: vec![PROOF],
                }],
                ..venus_seal::chain::DevnetConfig::default()
            },
            verifier.clone(),
        );
        chain.start_clock().expect("devnet clock");
        let sender = Arc::new(RecordingSender {
            chain: chain.clone(),
            sent: Mutex::default(),
            uids: Mutex::default(),
            kill: Mutex::default(),
        });
        let manager = LocalSectorManager::in_memory(
            venus_seal::chain::ManagerConfig::new(vec![venus_seal::chain::ManagedMiner::new(
                MINER, PROOF,
            )]),
            chain.clone(),
            sender.clone(),
            verifier,
        );
        let location = tmp.path().join("location");
        std::fs::create_dir_all(&location).unwrap();
        Self {
            chain,
            sender,
            manager,
            db: tmp.path().join("worker.db"),
            location,
            persist_root: tmp.path().join("persist"),
            _tmp: tmp,
        }
    }

    /// Starts a worker process whose life is `switch`.
    async fn start_worker(
        &self,
        switch: &Arc<CrashSwitch>,
    ) -> JoinHandle<Result<(), SectorStoreError>> {
        let sqlite = SqliteSectorStore::open(&self.db).await.unwrap();
        let store = Arc::new(CrashingStore::new(sqlite, switch.clone()));
        let manager = Arc::new(CrashingManager::new(self.manager.clone(), switch.clone()));
        let (executors, _) = file_writing_stages(&self.persist_root);
        let sealer = Sealer::new(
            manager,
            Arc::new(MemoryPieceStore::default()),
            crashing_executors(executors, switch),
            store.clone(),
            SealerConfig {
                poll_interval: Duration::from_millis(20),
                retry: RetryPolicy {
                    recover_interval: Duration::from_millis(20),
                    max_retries: 50,
                },
                ..SealerConfig::default()
            },
        );
        let engine = Engine::new(
            sealer,
            store,
            vec![Location {
                path: self.location.clone(),
                slots: 1,
            }],
        )
        .with_max_sectors(1);
        tokio::spawn(engine.run(std::future::pending()))
    }

    async fn records(&self) -> Vec<SectorRecord> {
        SqliteSectorStore::open(&self.db)
            .await
            .unwrap()
            .load_all()
            .await
            .unwrap()
    }

    /// Runs a worker that dies at `switch`'s point, then one that does not
    /// until the sector is finished.
    async fn crash_and_restart(&self, switch: Arc<CrashSwitch>, what: &str) {
        let mut first = self.start_worker(&switch).await;
        tokio::select! {
            _ = switch.fired() => {}
            ended = &mut first => panic!("the worker ended without dying {what}: {ended:?}"),
            _ = tokio::time::sleep(FINISH_WITHIN) => {
                panic!("the worker never reached the point {what}: {:?}", self.records().await)
            }
        }
        // The chain stands still from the crash until the new worker has
        // done its first step: a message the dead worker caused is still
        // pending when the new one repeats the step, so a second message
        // would not be mistaken for the first on chain.
        self.chain.stop_clock();
        first.abort();
        let _ = first.await;

        let restarted = CrashSwitch::disarmed();
        let second = self.start_worker(&restarted).await;
        // A worker that waits for the chain passes no point until it moves.
        let mut waited = Duration::ZERO;
        while restarted.passed().is_empty() && waited < CHAIN_PAUSE {
            tokio::time::sleep(Duration::from_millis(1)).await;
            waited += Duration::from_millis(1);
        }
        self.chain.start_clock().expect("devnet clock");
        match tokio::time::timeout(FINISH_WITHIN, second).await {
            Ok(ended) => ended.unwrap().unwrap(),
            Err(_) => panic!(
                "crash {what}: the restarted worker did not finish within {FINISH_WITHIN:?}; \
                 records: {:#?}; manager: {:#?}",
                self.records().await,
                self.manager_view().await
            ),
        }
    }

    async fn manager_view(&self) -> Vec<venus_seal::chain::SectorStatus> {
        let mut out = Vec::new();
        for n in 1..=3 {
            let id = SectorId::new(MINER, SectorNumber(n));
            if let Some(s) = self.manager.sector_status(id).await.unwrap() {
                out.push(s);
            }
        }
        out
    }

    /// The messages that carried sector `n`: (pre-commits, prove-commits).
    fn messages_for(&self, n: SectorNumber) -> (usize, usize) {
        let sent = self.sender.sent.lock().unwrap();
        let pre = sent
            .iter()
            .filter(|m| match &m.call {
                MinerCall::PreCommitSectorBatch2(p) => p.iter().any(|p| p.sector_number == n),
                _ => false,
            })
            .count();
        let prove = sent
            .iter()
            .filter(|m| match &m.call {
                MinerCall::ProveCommitSectors3(p) => p.iter().any(|p| p.sector_number == n),
                MinerCall::ProveCommitAggregate(a) => a.sectors.contains(&n),
                _ => false,
            })
            .count();
        (pre, prove)
    }

    /// Everything a case checks once the restarted worker is done (see the
    /// module docs), and that the manager allocated no number besides the
    /// sector's.
    async fn check(&self, what: &str) {
        let records = self.records().await;
        assert_eq!(
            records.len(),
            1,
            "crash {what}: one sector job: {records:#?}"
        );
        let rec = &records[0];
        assert_eq!(
            (rec.state, rec.paused),
            (SectorState::Finished, false),
            "crash {what}: {rec:#?}"
        );
        let id = rec.sector.expect("a finished sector has a number").id;

        let on_chain = self.chain.sector(MINER, id.number).await.unwrap();
        assert!(
            on_chain.is_some(),
            "crash {what}: {id} is not proven on chain"
        );
        let status = self.manager.sector_status(id).await.unwrap().unwrap();
        assert!(
            status.finalized && status.aborted.is_none(),
            "crash {what}: {status:#?}"
        );

        let (pre, prove) = self.messages_for(id.number);
        let sent = self.sender.sent.lock().unwrap().len();
        assert_eq!(
            (pre, prove, sent),
            (1, 1, 2),
            "crash {what}: (pre-commits, prove-commits) of {id} and messages in all: {:#?}",
            self.sender.sent.lock().unwrap()
        );

        let dir = self.location.join(format!("job-{}", rec.job));
        let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(read(&dir.join("staged")), STAGED_DATA, "crash {what}");
        assert_eq!(read(&dir.join("sealed")), REPLICA_DATA, "crash {what}");
        for f in ["tree-d", "layer-1", "tree-r-last"] {
            assert!(dir.join("cache").join(f).exists(), "crash {what}: no {f}");
        }
        assert_eq!(
            read(&persisted_sealed(&self.persist_root, id)),
            REPLICA_DATA,
            "crash {what}: the persisted copy"
        );

        let allocated = self.manager_view().await.len();
        assert_eq!(
            allocated,
            1,
            "crash {what}: the manager allocated {allocated} numbers for one sector: {:#?}",
            self.manager_view().await
        );
    }
}

/// One case: the worker dies at `point`, a new one finishes the sector.
async fn crash_at(point: CrashPoint) {
    let world = World::new();
    let what = point.to_string();
    world
        .crash_and_restart(CrashSwitch::armed(point), &what)
        .await;
    // Also where the worker dies between the manager's allocation and its
    // `Allocated` save: asking again with the saved allocation key gets
    // the same number back.
    world.check(&what).await;
}

use CrashPoint::{AfterManagerCall, AfterSave, AfterStage, BeforeSave};
use SectorState as S;

/// The matrix: one test per point, and the list the coverage test checks.
macro_rules! matrix {
    ($($name:ident => $point:expr,)*) => {
        const MATRIX: &[CrashPoint] = &[$($point,)*];
        $(
            #[tokio::test]
            async fn $name() {
                crash_at($point).await;
            }
        )*
    };
}

matrix! {
    // The engine's first save of a new job.
    before_save_empty => BeforeSave(S::Empty),
    after_save_empty => AfterSave(S::Empty),
    // allocate_sector → save Allocated. Dying at the first two leaves no
    // orphaned number: the new worker asks again with the allocation key
    // saved with the job and gets the same sector (without the key, the
    // manager allocated a second number).
    after_manager_allocate_sector => AfterManagerCall("allocate_sector"),
    before_save_allocated => BeforeSave(S::Allocated),
    after_save_allocated => AfterSave(S::Allocated),
    // Every transition is reported, from a task of the engine's own: dying
    // after the manager took the first report loses nothing.
    after_manager_report_state => AfterManagerCall("report_state"),
    // acquire_deals → save DealsAcquired.
    after_manager_acquire_deals => AfterManagerCall("acquire_deals"),
    before_save_deals_acquired => BeforeSave(S::DealsAcquired),
    after_save_deals_acquired => AfterSave(S::DealsAcquired),
    // add_pieces → sync → save PiecesAdded.
    after_stage_add_pieces => AfterStage("add_pieces"),
    before_save_pieces_added => BeforeSave(S::PiecesAdded),
    after_save_pieces_added => AfterSave(S::PiecesAdded),
    // tree_d → sync → save TreeDBuilt.
    after_stage_tree_d => AfterStage("tree_d"),
    before_save_tree_d_built => BeforeSave(S::TreeDBuilt),
    after_save_tree_d_built => AfterSave(S::TreeDBuilt),
    // assign_ticket → save TicketAssigned.
    after_manager_assign_ticket => AfterManagerCall("assign_ticket"),
    before_save_ticket_assigned => BeforeSave(S::TicketAssigned),
    after_save_ticket_assigned => AfterSave(S::TicketAssigned),
    // pc1 → sync → save PC1Done.
    after_stage_pc1 => AfterStage("pc1"),
    before_save_pc1_done => BeforeSave(S::PC1Done),
    after_save_pc1_done => AfterSave(S::PC1Done),
    // pc2 (in place) → sync → save PC2Done.
    after_stage_pc2 => AfterStage("pc2"),
    before_save_pc2_done => BeforeSave(S::PC2Done),
    after_save_pc2_done => AfterSave(S::PC2Done),
    // submit_pre_commit (the manager sends the message) → save.
    after_manager_submit_pre_commit => AfterManagerCall("submit_pre_commit"),
    before_save_pre_commit_submitted => BeforeSave(S::PreCommitSubmitted),
    after_save_pre_commit_submitted => AfterSave(S::PreCommitSubmitted),
    // poll_pre_commit_state says Landed → save.
    after_manager_poll_pre_commit_landed => AfterManagerCall("poll_pre_commit_state"),
    before_save_pre_commit_landed => BeforeSave(S::PreCommitLanded),
    after_save_pre_commit_landed => AfterSave(S::PreCommitLanded),
    // persist → submit_persisted → save Persisted.
    after_stage_persist => AfterStage("persist"),
    after_manager_submit_persisted => AfterManagerCall("submit_persisted"),
    before_save_persisted => BeforeSave(S::Persisted),
    after_save_persisted => AfterSave(S::Persisted),
    // wait_seed gives the seed → save SeedAssigned.
    after_manager_wait_seed => AfterManagerCall("wait_seed"),
    before_save_seed_assigned => BeforeSave(S::SeedAssigned),
    after_save_seed_assigned => AfterSave(S::SeedAssigned),
    // c1 → save C1Done.
    after_stage_c1 => AfterStage("c1"),
    before_save_c1_done => BeforeSave(S::C1Done),
    after_save_c1_done => AfterSave(S::C1Done),
    // c2 → save C2Done.
    after_stage_c2 => AfterStage("c2"),
    before_save_c2_done => BeforeSave(S::C2Done),
    after_save_c2_done => AfterSave(S::C2Done),
    // submit_proof (the manager sends the message) → save.
    after_manager_submit_proof => AfterManagerCall("submit_proof"),
    before_save_proof_submitted => BeforeSave(S::ProofSubmitted),
    after_save_proof_submitted => AfterSave(S::ProofSubmitted),
    // poll_proof_state says Landed → report_finalized → save Finished.
    after_manager_poll_proof_landed => AfterManagerCall("poll_proof_state"),
    after_manager_report_finalized => AfterManagerCall("report_finalized"),
    before_save_finished => BeforeSave(S::Finished),
    after_save_finished => AfterSave(S::Finished),
}

/// A clean run passes exactly the matrix's points: a new step, save or
/// manager call the sealer makes fails here until the matrix lists it.
#[tokio::test]
async fn matrix_covers_every_point_of_a_clean_run() {
    let world = World::new();
    let switch = CrashSwitch::disarmed();
    let worker = world.start_worker(&switch).await;
    tokio::time::timeout(FINISH_WITHIN, worker)
        .await
        .expect("a clean run finishes")
        .unwrap()
        .unwrap();
    world.check("nowhere (clean run)").await;
    let passed: BTreeSet<CrashPoint> = switch.passed().into_iter().collect();
    let listed: BTreeSet<CrashPoint> = MATRIX.iter().copied().collect();
    assert_eq!(MATRIX.len(), listed.len(), "a point is listed twice");
    let missing: Vec<_> = passed.difference(&listed).map(|p| p.to_string()).collect();
    let never: Vec<_> = listed.difference(&passed).map(|p| p.to_string()).collect();
    assert!(
        missing.is_empty() && never.is_empty(),
        "points a clean run passes that the matrix lacks: {missing:#?}; \
         listed points a clean run never passes: {never:#?}"
    );
}

fn is_pre_commit(call: &MinerCall) -> bool {
    matches!(call, MinerCall::PreCommitSectorBatch2(_))
}

fn is_prove_commit(call: &MinerCall) -> bool {
    matches!(
        call,
        MinerCall::ProveCommitSectors3(_) | MinerCall::ProveCommitAggregate(_)
    )
}

/// The worker dies right before or right after the manager pushes the
/// message of a batch holding its sector. The manager sends batches from a
/// background task (the worker's submit call only queues the sector), so
/// the push is not dropped with the worker: the restarted worker's
/// resubmission is answered from the queued or sent batch, and one message
/// carries the sector.
async fn worker_dies_at_push(matches: fn(&MinerCall) -> bool, after: bool, what: &str) {
    let world = World::new();
    let switch = CrashSwitch::disarmed();
    *world.sender.kill.lock().unwrap() = Some(KillAtPush {
        matches,
        after,
        switch: switch.clone(),
    });
    world.crash_and_restart(switch, what).await;
    world.check(what).await;
}

#[tokio::test]
async fn worker_dies_right_before_the_manager_pushes_its_pre_commit() {
    worker_dies_at_push(
        is_pre_commit,
        false,
        "right before the manager pushes its pre-commit",
    )
    .await;
}

#[tokio::test]
async fn worker_dies_right_after_the_manager_pushes_its_pre_commit() {
    worker_dies_at_push(
        is_pre_commit,
        true,
        "right after the manager pushes its pre-commit",
    )
    .await;
}

#[tokio::test]
async fn worker_dies_right_before_the_manager_pushes_its_proof() {
    worker_dies_at_push(
        is_prove_commit,
        false,
        "right before the manager pushes its proof",
    )
    .await;
}

#[tokio::test]
async fn worker_dies_right_after_the_manager_pushes_its_proof() {
    worker_dies_at_push(
        is_prove_commit,
        true,
        "right after the manager pushes its proof",
    )
    .await;
}
