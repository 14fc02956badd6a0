//! The [`Rebuilder`] on fake stages: what it runs, what it checks, what it
//! reports, and what it leaves on disk.

use std::sync::Mutex;

use super::*;
use crate::error::StageError;
use crate::piece_store::MemoryPieceStore;
use crate::testing::fake_comm_r;
use crate::testing::fake_stage_executors;
use crate::types::ids::{ActorId, SectorNumber};
use crate::types::piece::{PaddedPieceSize, PieceInfo};
use crate::types::proof::SealProof;
use crate::types::randomness::Randomness;

/// One job, and what the rebuilder reported about it.
#[derive(Debug)]
struct OneJob {
    job: Mutex<Option<RebuildAssignment>>,
    reports: Mutex<Vec<Result<String, String>>>,
    /// `rebuilt` is refused with this.
    refuse: Mutex<Option<String>>,
}

#[async_trait]
impl RebuildJobSource for OneJob {
    async fn allocate_rebuild(
        &self,
        _spec: AllocateSpec,
    ) -> Result<Option<RebuildAssignment>, ManagerError> {
        Ok(self.job.lock().unwrap().take())
    }
    async fn rebuilt(&self, _sector: SectorId, instance: String) -> Result<(), ManagerError> {
        if let Some(why) = self.refuse.lock().unwrap().clone() {
            return Err(ManagerError::Rejected(why));
        }
        self.reports.lock().unwrap().push(Ok(instance));
        Ok(())
    }
    async fn rebuild_failed(&self, _sector: SectorId, reason: String) -> Result<(), ManagerError> {
        self.reports.lock().unwrap().push(Err(reason));
        Ok(())
    }
}

const SECTOR: SectorId = SectorId {
    miner: ActorId(1000),
    number: SectorNumber(7),
};

fn job(comm_r: Option<CommR>, deals: Vec<DealInfo>) -> Arc<OneJob> {
    Arc::new(OneJob {
        job: Mutex::new(Some(RebuildAssignment {
            sector: AllocatedSector {
                id: SECTOR,
                proof_type: SealProof::StackedDrg2KiBV1_1,
            },
            ticket: Ticket {
                ticket: Randomness([9; 32]),
                epoch: 90,
            },
            deals,
            comm_r,
            comm_d: Some(CommD([0; 32])),
            upgraded: false,
        })),
        reports: Mutex::new(Vec::new()),
        refuse: Mutex::new(None),
    })
}

/// A rebuilder on fake stages whose persist copies the files away (as a
/// `[[persist]]` store does).
fn rebuilder(
    jobs: Arc<OneJob>,
    pieces: Arc<MemoryPieceStore>,
    dir: &Path,
) -> (Rebuilder, crate::testing::FakeStages) {
    let (executors, fakes) = fake_stage_executors();
    let persist = crate::testing::FakeExecutor::new(|_: &Persist| crate::stage::PersistOutput {
        instance: "fake-store".into(),
        clean_sealing_location: true,
    });
    let executors = StageExecutors {
        persist: persist.clone(),
        ..executors
    };
    let r = Rebuilder::new(jobs, pieces, executors, AllocateSpec::default(), dir.into());
    (r, crate::testing::FakeStages { persist, ..fakes })
}

/// The sector's own ticket goes to PC1, the deal's piece to add_pieces,
/// the persisted instance to the manager, and the work folder is gone.
#[tokio::test]
async fn a_sector_is_sealed_again_with_its_ticket_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let piece = PieceInfo {
        size: PaddedPieceSize(2048),
        cid: CommD([4; 32]),
    };
    let pieces = Arc::new(MemoryPieceStore::default());
    pieces.insert(piece.cid, vec![1; 2000]);
    let jobs = job(Some(fake_comm_r(SECTOR)), vec![DealInfo::new(5, piece)]);
    let (r, fakes) = rebuilder(jobs.clone(), pieces, dir.path());
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    fakes.pc1.fail_if(move |t| {
        *s.lock().unwrap() = Some((t.ticket, t.sector));
        None
    });
    let sources = Arc::new(Mutex::new(Vec::new()));
    let s = sources.clone();
    fakes.add_pieces.fail_if(move |t| {
        s.lock().unwrap().extend(t.pieces.iter().map(|p| match p {
            crate::stage::PieceSource::File {
                unpadded_size,
                expected,
                ..
            } => (*unpadded_size, *expected),
            other => panic!("{other:?}"),
        }));
        None
    });

    assert_eq!(
        r.run_once().await.unwrap(),
        RebuildRun::Rebuilt("fake-store".into())
    );
    assert_eq!(
        *jobs.reports.lock().unwrap(),
        vec![Ok("fake-store".to_string())]
    );
    let (ticket, sector) = seen.lock().unwrap().unwrap();
    assert_eq!(
        (ticket.ticket, ticket.epoch, sector),
        (Randomness([9; 32]), 90, SECTOR)
    );
    assert_eq!(*sources.lock().unwrap(), vec![(2000, Some(piece))]);
    assert_eq!(fakes.persist.calls(), 1);
    assert_eq!(
        fakes.c1.calls() + fakes.c2.calls(),
        0,
        "nothing is proven again"
    );
    assert!(!dir.path().join(SECTOR.to_string()).exists());
    // No job: nothing runs.
    assert_eq!(r.run_once().await.unwrap(), RebuildRun::NoJob);
}

/// A replica whose CommR is not the sector's is never persisted: the
/// job fails with both commitments named.
#[tokio::test]
async fn a_different_comm_r_fails_the_job_and_persists_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = job(Some(CommR([0xee; 32])), Vec::new());
    let (r, fakes) = rebuilder(jobs.clone(), Arc::default(), dir.path());
    assert!(matches!(r.run_once().await.unwrap(), RebuildRun::Failed(_)));
    let reports = jobs.reports.lock().unwrap();
    let [Err(reason)] = reports.as_slice() else {
        panic!("{reports:?}")
    };
    assert!(
        reason.contains("CommR") && reason.contains(&"ee".repeat(32)),
        "{reason}"
    );
    assert_eq!(fakes.persist.calls(), 0);
    assert!(!dir.path().join(SECTOR.to_string()).exists());
}

/// A stage failure (here a piece the store does not have, then a PC1
/// failure) fails the job with the stage named; the sector is not
/// touched.
#[tokio::test]
async fn a_missing_piece_or_a_failing_stage_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let piece = PieceInfo {
        size: PaddedPieceSize(2048),
        cid: CommD([4; 32]),
    };
    let jobs = job(None, vec![DealInfo::new(5, piece)]);
    let (r, fakes) = rebuilder(jobs.clone(), Arc::default(), dir.path());
    assert!(matches!(r.run_once().await.unwrap(), RebuildRun::Failed(_)));
    {
        let reports = jobs.reports.lock().unwrap();
        let [Err(reason)] = reports.as_slice() else {
            panic!("{reports:?}")
        };
        assert!(reason.contains(&piece.cid.to_string()), "{reason}");
    }
    assert_eq!(fakes.add_pieces.calls(), 0);

    let jobs = job(None, Vec::new());
    let (r, fakes) = rebuilder(jobs.clone(), Arc::default(), dir.path());
    fakes
        .pc1
        .fail_next(StageError::Computation("out of memory".into()));
    assert!(matches!(r.run_once().await.unwrap(), RebuildRun::Failed(_)));
    let reports = jobs.reports.lock().unwrap();
    let [Err(reason)] = reports.as_slice() else {
        panic!("{reports:?}")
    };
    assert!(
        reason.contains("pc1") && reason.contains("out of memory"),
        "{reason}"
    );
    assert_eq!(fakes.persist.calls(), 0);
}

/// A damocles manager's zero (pledge) pieces are written as zeros in
/// place, never fetched; a persist stage that leaves the files in the
/// work folder fails the job (the folder goes); a manager refusing the
/// persisted files gets the job's failure.
#[tokio::test]
async fn zero_pieces_stay_in_place_and_kept_or_refused_files_fail_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let zero = PieceInfo {
        size: PaddedPieceSize(2048),
        cid: crate::types::commitment::comm_d_of_pieces(&[], 2048).unwrap(),
    };
    let jobs = job(None, vec![DealInfo::new(0, zero)]);
    let (r, fakes) = rebuilder(jobs.clone(), Arc::default(), dir.path());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    fakes.add_pieces.fail_if(move |t| {
        s.lock().unwrap().extend(t.pieces.clone());
        None
    });
    assert_eq!(
        r.run_once().await.unwrap(),
        RebuildRun::Rebuilt("fake-store".into())
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![crate::stage::PieceSource::Zero {
            size: PaddedPieceSize(2048)
        }]
    );

    let jobs = job(None, Vec::new());
    let (executors, fakes) = fake_stage_executors();
    let kept = crate::testing::FakeExecutor::new(|_: &Persist| crate::stage::PersistOutput {
        instance: "in-place".into(),
        clean_sealing_location: false,
    });
    let executors = StageExecutors {
        persist: kept,
        ..executors
    };
    let r = Rebuilder::new(
        jobs.clone(),
        Arc::new(MemoryPieceStore::default()),
        executors,
        AllocateSpec::default(),
        dir.path().into(),
    );
    let RebuildRun::Failed(reason) = r.run_once().await.unwrap() else {
        panic!("kept in place")
    };
    assert!(reason.contains("[[persist]]"), "{reason}");
    assert_eq!(fakes.pc2.calls(), 1);

    let jobs = job(None, Vec::new());
    *jobs.refuse.lock().unwrap() = Some("files not provable".into());
    let (r, _) = rebuilder(jobs.clone(), Arc::default(), dir.path());
    let RebuildRun::Failed(reason) = r.run_once().await.unwrap() else {
        panic!("refused")
    };
    assert!(reason.contains("files not provable"), "{reason}");
    assert_eq!(jobs.reports.lock().unwrap().len(), 1);
}
