//! The [`Upgrader`] on fake stages: what it runs on which files, what it
//! submits, how it answers the manager's verdicts, and what it leaves on
//! disk.

use std::sync::Mutex;

use super::*;
use crate::piece_store::MemoryPieceStore;
use crate::proving::SnapEncodeOutput;
use crate::stage::PersistOutput;
use crate::testing::FakeExecutor;
use crate::types::ids::{ActorId, SectorNumber};
use crate::types::piece::{PaddedPieceSize, PieceInfo};
use crate::types::proof::SealProof;

const SECTOR: SectorId = SectorId {
    miner: ActorId(1000),
    number: SectorNumber(7),
};

const PIECE: PieceInfo = PieceInfo {
    size: PaddedPieceSize(2048),
    cid: CommD([4; 32]),
};

/// One job, the manager's verdicts (in order; then `Accepted`), and what
/// the upgrader sent.
#[derive(Debug, Default)]
struct OneJob {
    job: Mutex<Option<SnapUpAssignment>>,
    verdicts: Mutex<Vec<SnapUpVerdict>>,
    submitted: Mutex<Vec<SnapUpProof>>,
    failed: Mutex<Vec<String>>,
}

#[async_trait]
impl SnapUpJobSource for OneJob {
    async fn allocate_snap_up(
        &self,
        _spec: AllocateSpec,
        _deals: AcquireDealsSpec,
    ) -> Result<Option<SnapUpAssignment>, ManagerError> {
        Ok(self.job.lock().unwrap().take())
    }
    async fn submit_snap_up(
        &self,
        _sector: SectorId,
        proof: SnapUpProof,
    ) -> Result<SnapUpVerdict, ManagerError> {
        self.submitted.lock().unwrap().push(proof);
        let mut v = self.verdicts.lock().unwrap();
        Ok(if v.is_empty() {
            SnapUpVerdict::Accepted
        } else {
            v.remove(0)
        })
    }
    async fn snap_up_failed(&self, _sector: SectorId, reason: String) -> Result<(), ManagerError> {
        self.failed.lock().unwrap().push(reason);
        Ok(())
    }
}

fn job(verdicts: Vec<SnapUpVerdict>) -> Arc<OneJob> {
    Arc::new(OneJob {
        job: Mutex::new(Some(SnapUpAssignment {
            sector: AllocatedSector {
                id: SECTOR,
                proof_type: SealProof::StackedDrg2KiBV1_1,
            },
            deals: vec![DealInfo::new(5, PIECE)],
            comm_r_old: CommR([0xaa; 32]),
            instance: "store-1".into(),
        })),
        verdicts: Mutex::new(verdicts),
        ..OneJob::default()
    })
}

/// The CC sector's files under `root` (`root/cc/sealed`, `root/cc/cache`).
#[derive(Debug)]
struct CcFiles(PathBuf);

impl SectorLocator for CcFiles {
    fn locate(&self, _sector: SectorId) -> Option<SectorFiles> {
        Some(SectorFiles {
            sealed: self.0.join("cc/sealed"),
            cache: self.0.join("cc/cache"),
        })
    }
}

struct Fakes {
    encode: Arc<FakeExecutor<SnapEncode>>,
    prove: Arc<FakeExecutor<SnapProve>>,
    persist: Arc<FakeExecutor<Persist>>,
}

fn upgrader(jobs: Arc<OneJob>, root: &Path) -> (Upgrader, Fakes) {
    let pieces = Arc::new(MemoryPieceStore::default());
    pieces.insert(PIECE.cid, vec![1; 2000]);
    let add_pieces = FakeExecutor::new(|t: &AddPieces| {
        t.pieces
            .iter()
            .map(|p| match p {
                crate::stage::PieceSource::File { expected, .. } => {
                    expected.expect("the deal's piece")
                }
                other => panic!("{other:?}"),
            })
            .collect()
    });
    let encode = FakeExecutor::new(|_: &SnapEncode| SnapEncodeOutput {
        comm_r_new: CommR([0xbb; 32]),
        comm_d_new: CommD([0xcc; 32]),
    });
    let prove = FakeExecutor::new(|t: &SnapProve| Proof {
        proof: vec![t.comm_r_old.0[0]; 4],
    });
    let persist = FakeExecutor::new(|t: &Persist| PersistOutput {
        instance: if t.update {
            "store-2".into()
        } else {
            "wrong-kind".into()
        },
        clean_sealing_location: true,
    });
    let executors = SnapExecutors {
        add_pieces,
        encode: encode.clone(),
        prove: prove.clone(),
        persist: persist.clone(),
    };
    let u = Upgrader::new(
        jobs,
        pieces,
        Arc::new(CcFiles(root.into())),
        executors,
        AllocateSpec::default(),
        root.join("work"),
    );
    (
        u,
        Fakes {
            encode,
            prove,
            persist,
        },
    )
}

fn cc_files(root: &Path) {
    std::fs::create_dir_all(root.join("cc/cache")).unwrap();
    std::fs::write(root.join("cc/sealed"), b"replica").unwrap();
}

/// The CC replica is the sector key, the update goes to the work folder,
/// the proof is against the old CommR, the update is persisted as an
/// update, and the manager gets the new commitments, pieces and store.
#[tokio::test]
async fn a_cc_sector_is_encoded_proven_persisted_and_submitted() {
    let dir = tempfile::tempdir().unwrap();
    cc_files(dir.path());
    let jobs = job(Vec::new());
    let (u, fakes) = upgrader(jobs.clone(), dir.path());
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    fakes.encode.fail_if(move |t| {
        *s.lock().unwrap() = Some(t.clone());
        None
    });
    assert_eq!(
        u.run_once().await.unwrap(),
        SnapUpRun::Submitted("store-2".into())
    );
    let encode = seen.lock().unwrap().clone().unwrap();
    assert_eq!(encode.sector_key.sealed, dir.path().join("cc/sealed"));
    assert!(encode.update.sealed.starts_with(dir.path().join("work")));
    assert_eq!(encode.pieces, vec![PIECE]);
    let submitted = jobs.submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 1);
    assert_eq!(submitted[0].comm_r_new, CommR([0xbb; 32]));
    assert_eq!(submitted[0].comm_d_new, CommD([0xcc; 32]));
    assert_eq!(submitted[0].pieces, vec![PIECE.cid]);
    // Proven against the CC replica's CommR.
    assert_eq!(submitted[0].proof.proof, vec![0xaa; 4]);
    assert_eq!(submitted[0].instance, "store-2");
    assert!(jobs.failed.lock().unwrap().is_empty());
    // The work folder is gone; the CC replica was only read.
    assert!(!dir.path().join("work").join(SECTOR.to_string()).exists());
    assert!(dir.path().join("cc/sealed").is_file());
    assert_eq!(u.run_once().await.unwrap(), SnapUpRun::NoJob);
}

/// A CC replica this worker cannot read fails the job, naming the store,
/// before any work.
#[tokio::test]
async fn a_cc_replica_out_of_reach_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = job(Vec::new());
    let (u, fakes) = upgrader(jobs.clone(), dir.path());
    let SnapUpRun::Failed(why) = u.run_once().await.unwrap() else {
        panic!("not failed")
    };
    assert!(
        why.contains("not reachable") && why.contains("store-1"),
        "{why}"
    );
    assert_eq!(jobs.failed.lock().unwrap().as_slice(), [why]);
    assert_eq!(fakes.encode.calls(), 0);
}

/// `FilesMissed` persists again once; twice fails the job. `Rejected`
/// fails it with the manager's words. A failing stage fails it too.
#[tokio::test]
async fn the_managers_verdicts_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    cc_files(dir.path());
    let missed = || SnapUpVerdict::FilesMissed("not all files persisted".into());

    let jobs = job(vec![missed()]);
    let (u, fakes) = upgrader(jobs.clone(), dir.path());
    assert_eq!(
        u.run_once().await.unwrap(),
        SnapUpRun::Submitted("store-2".into())
    );
    assert_eq!(fakes.persist.calls(), 2);

    let jobs = job(vec![missed(), missed()]);
    let (u, _) = upgrader(jobs.clone(), dir.path());
    let SnapUpRun::Failed(why) = u.run_once().await.unwrap() else {
        panic!("not failed")
    };
    assert!(why.contains("twice"), "{why}");

    let jobs = job(vec![SnapUpVerdict::Rejected(
        "pieces count not match".into(),
    )]);
    let (u, _) = upgrader(jobs.clone(), dir.path());
    let SnapUpRun::Failed(why) = u.run_once().await.unwrap() else {
        panic!("not failed")
    };
    assert!(why.contains("pieces count not match"), "{why}");

    let jobs = job(Vec::new());
    let (u, fakes) = upgrader(jobs.clone(), dir.path());
    fakes
        .prove
        .fail_next(StageError::Computation("out of GPU memory".into()));
    let SnapUpRun::Failed(why) = u.run_once().await.unwrap() else {
        panic!("not failed")
    };
    assert!(why.contains("snap_prove") && why.contains("GPU"), "{why}");
    assert!(jobs.submitted.lock().unwrap().is_empty());
    assert!(!dir.path().join("work").join(SECTOR.to_string()).exists());
}
