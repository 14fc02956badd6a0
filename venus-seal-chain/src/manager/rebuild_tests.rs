//! Rebuild jobs on the manager: requested for a finalized sector (refused
//! otherwise), handed to one worker at a time with the sector's ticket,
//! deals and commitments, finished through damocles' calls
//! (`SubmitPersistedEx`, `ReportFinalized`, `ReportAborted`) without
//! touching the sealed sector's own state, retried up to the cap, found
//! again after a restart; and the automatic policy the WindowPoSt check
//! feeds.

use std::path::PathBuf;
use std::sync::Arc;

use venus_seal_core::manager::{AllocateSpec, SectorStateChange, StateReport, WorkerIdentifier};
use venus_seal_core::proving::{SectorFiles, SectorLocator, SkippedSector};
use venus_seal_core::rebuild::{JobState, RebuildJob, RebuildJobSource, RebuildOrigin};
use venus_seal_core::{
    ActorId, ManagerError, MemoryPieceStore, SectorId, SectorManager, SectorNumber,
};

use super::{AutoRebuild, LocalSectorManager, ManagerStore};
use super::{MemoryManagerStore, SectorStatus};
use crate::testing::stand_in_piece as piece;
use crate::DevnetChain;

const M1: ActorId = ActorId(1000);

use super::unseal_tests::manager_on;

/// A finalized sector with one 512-byte deal piece, persisted in
/// `store-1`.
async fn sealed(chain: &DevnetChain, m: &LocalSectorManager) -> SectorId {
    crate::testing::persisted_deal_sector(chain, m, M1, &[piece(1, 512)], "store-1")
        .await
        .0
        .id
}

async fn status(m: &LocalSectorManager, sector: SectorId) -> SectorStatus {
    m.sector_status(sector).await.unwrap().unwrap()
}

fn report(next: &str) -> StateReport {
    StateReport {
        worker: WorkerIdentifier {
            instance: "rebuilder".into(),
            location: "/data".into(),
        },
        state_change: SectorStateChange {
            prev: "PC1Done".into(),
            next: next.into(),
            event: None,
        },
        failure: None,
    }
}

#[tokio::test]
async fn a_rebuild_goes_to_one_worker_and_its_persisted_files_become_the_sectors() {
    let (chain, m) = manager_on(Arc::new(MemoryManagerStore::new()));
    // Not finalized yet: nothing to rebuild from.
    let fresh = m
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    match m
        .request_rebuild(fresh.id, RebuildOrigin::Operator, "disk died".into())
        .await
    {
        Err(ManagerError::Rejected(msg)) => {
            assert!(msg.contains("not sealed and finalized"), "{msg}")
        }
        other => panic!("{other:?}"),
    }
    let s = sealed(&chain, &m).await;
    let pc = status(&m, s).await.pre_commit.unwrap().content;
    let job = m
        .request_rebuild(s, RebuildOrigin::Operator, "disk died".into())
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Pending);
    // Asked again while open: the same job.
    m.request_rebuild(s, RebuildOrigin::Operator, "again".into())
        .await
        .unwrap();
    assert_eq!(m.rebuild_jobs().await.unwrap().len(), 1);

    let other = AllocateSpec {
        allowed_miners: vec![ActorId(2000)],
        ..AllocateSpec::default()
    };
    assert_eq!(m.allocate_rebuild(other).await.unwrap(), None);
    let a = m
        .allocate_rebuild(AllocateSpec::default())
        .await
        .unwrap()
        .expect("the job");
    assert_eq!(a.sector.id, s);
    assert_eq!(a.ticket, pc.ticket);
    assert_eq!((a.comm_r, a.comm_d), (Some(pc.comm_r), Some(pc.comm_d)));
    assert_eq!(
        a.deals.iter().map(|d| d.piece).collect::<Vec<_>>(),
        vec![piece(1, 512)]
    );
    // One worker at a time.
    assert_eq!(
        m.allocate_rebuild(AllocateSpec::default()).await.unwrap(),
        None
    );

    // The rebuilding worker's reports are the job's: "not finalized" (a
    // damocles worker stops on "finalized"), the sector's history and
    // state untouched.
    let before = status(&m, s).await;
    // A report renews the lease.
    m.modify(s, |rec| {
        rec.rebuild.as_mut().unwrap().state = JobState::Running { since: 1 };
        Ok(())
    })
    .await
    .unwrap();
    let answer = m.report_state(s, report("PC2Done")).await.unwrap();
    assert!(
        matches!(status(&m, s).await.rebuild.unwrap().state, JobState::Running { since } if since > 1),
        "the lease starts again"
    );
    assert!(!answer.finalized && answer.abort_reason.is_none());
    assert_eq!(status(&m, s).await.last_report, before.last_report);
    // A failure damocles reports only this way is kept on the job.
    let mut failing = report("PC1Done");
    failing.failure = Some(venus_seal_core::Failure::new(
        venus_seal_core::FailureLevel::Permanent,
        "pc1: out of space",
    ));
    m.report_state(s, failing).await.unwrap();
    let job = status(&m, s).await.rebuild.unwrap();
    assert!(job.last_error.unwrap().contains("out of space"));
    // While it runs, no unseal job is handed out for the sector (a
    // damocles worker's reports name the sector, not the job).
    m.request_unseal(s, piece(1, 512).cid, "/out/p".into())
        .await
        .unwrap();
    use venus_seal_core::unseal::UnsealJobSource;
    assert_eq!(
        m.allocate_unseal(AllocateSpec::default()).await.unwrap(),
        None
    );

    // damocles' ending: SubmitPersistedEx, then ReportFinalized.
    assert!(m.submit_persisted(s, "store-2".into()).await.unwrap());
    assert_eq!(status(&m, s).await.persisted_at.as_deref(), Some("store-1"));
    m.report_finalized(s).await.unwrap();
    let rec = status(&m, s).await;
    assert_eq!(rec.persisted_at.as_deref(), Some("store-2"));
    let job = rec.rebuild.unwrap();
    assert!(matches!(job.state, JobState::Done { .. }), "{job:?}");
    assert_eq!(job.instance.as_deref(), Some("store-2"));
    assert!(rec.finalized && rec.aborted.is_none());
    assert!(rec.history.iter().any(|e| e.next == "Rebuilt"));
    // Done: nothing to hand out; a new request starts a new job.
    assert_eq!(
        m.allocate_rebuild(AllocateSpec::default()).await.unwrap(),
        None
    );
    let again = m
        .request_rebuild(s, RebuildOrigin::Operator, "lost again".into())
        .await
        .unwrap();
    assert_eq!((again.state, again.attempts), (JobState::Pending, 0));
}

/// A worker's `ReportAborted` during a rebuild fails the job (retried,
/// then given up), never the sector: it stays finalized, not aborted,
/// with its deals. Without the routing, the report would abort a proving
/// sector.
#[tokio::test]
async fn an_aborted_rebuild_fails_the_job_not_the_sector() {
    let (chain, m) = manager_on(Arc::new(MemoryManagerStore::new()));
    let s = sealed(&chain, &m).await;
    m.request_rebuild(s, RebuildOrigin::Operator, "lost".into())
        .await
        .unwrap();
    for attempt in 1..=RebuildJob::MAX_ATTEMPTS {
        let a = m.allocate_rebuild(AllocateSpec::default()).await.unwrap();
        assert!(a.is_some(), "attempt {attempt}");
        m.report_aborted(s, format!("pc1 failed ({attempt})"))
            .await
            .unwrap();
        let rec = status(&m, s).await;
        assert!(rec.aborted.is_none() && rec.finalized, "{rec:?}");
        assert!(rec.deals.is_some());
        let job = rec.rebuild.unwrap();
        assert_eq!(job.last_error, Some(format!("pc1 failed ({attempt})")));
        let expected = if attempt < RebuildJob::MAX_ATTEMPTS {
            "Pending"
        } else {
            "Failed"
        };
        assert_eq!(job.state.name(), expected);
    }
    assert_eq!(
        m.allocate_rebuild(AllocateSpec::default()).await.unwrap(),
        None
    );
    // Now no rebuild runs: a worker's abort of the finalized sector is
    // ignored as before.
    m.report_aborted(s, "stray".into()).await.unwrap();
    assert!(status(&m, s).await.aborted.is_none());
}

/// A worker that goes silent loses the job after its lease; a manager
/// started again on the same store hands the job out.
#[tokio::test]
async fn a_silent_workers_job_is_handed_out_again_also_after_a_restart() {
    let store: Arc<dyn ManagerStore> = Arc::new(MemoryManagerStore::new());
    let (chain, m) = manager_on(store.clone());
    let s = sealed(&chain, &m).await;
    m.request_rebuild(s, RebuildOrigin::Operator, "lost".into())
        .await
        .unwrap();
    assert!(m
        .allocate_rebuild(AllocateSpec::default())
        .await
        .unwrap()
        .is_some());
    // Our own rebuilder's "alive" renews the lease as a report does: a
    // lease run out and renewed is not handed out again.
    m.modify(s, |rec| {
        rec.rebuild.as_mut().unwrap().state = JobState::Running { since: 1 };
        Ok(())
    })
    .await
    .unwrap();
    m.rebuilding(s, "pc1").await.unwrap();
    assert_eq!(
        m.allocate_rebuild(AllocateSpec::default()).await.unwrap(),
        None
    );
    // The lease runs out.
    m.modify(s, |rec| {
        rec.rebuild.as_mut().unwrap().state = JobState::Running { since: 1 };
        Ok(())
    })
    .await
    .unwrap();
    drop(m);
    let (_, again) = manager_on(store);
    let a = again
        .allocate_rebuild(AllocateSpec::default())
        .await
        .unwrap();
    assert_eq!(a.map(|a| a.sector.id), Some(s));
    assert_eq!(status(&again, s).await.rebuild.unwrap().attempts, 2);
    // The first worker's late success still counts.
    again.rebuilt(s, "store-3".into()).await.unwrap();
    assert_eq!(
        status(&again, s).await.persisted_at.as_deref(),
        Some("store-3")
    );
}

/// Files under one folder per sector, present or not.
#[derive(Debug)]
struct Folder(PathBuf);

impl SectorLocator for Folder {
    fn locate(&self, sector: SectorId) -> Option<SectorFiles> {
        Some(SectorFiles {
            sealed: self.0.join(format!("{sector}/sealed")),
            cache: self.0.join(format!("{sector}/cache")),
        })
    }
}

fn skip(n: u64) -> SkippedSector {
    SkippedSector {
        number: SectorNumber(n),
        reason: "sealed file missing".into(),
    }
}

/// The automatic policy rebuilds a sector whose files are gone and whose
/// pieces are reachable; it leaves (and says why) one whose files are
/// present, one whose piece it cannot find, and one whose last rebuild
/// was given up.
#[tokio::test]
async fn the_automatic_policy_rebuilds_only_what_is_safe_and_says_why_not() {
    let (chain, m) = manager_on(Arc::new(MemoryManagerStore::new()));
    let s = sealed(&chain, &m).await;
    let dir = tempfile::tempdir().unwrap();
    let folder: Arc<dyn SectorLocator> = Arc::new(Folder(dir.path().into()));
    let history = |rec: &SectorStatus, step: &str| {
        rec.history
            .iter()
            .rev()
            .find(|e| e.next == step)
            .map(|e| e.detail.clone())
    };

    // No piece store: the deal's piece cannot be checked.
    let blind = AutoRebuild::new(m.clone(), folder.clone(), None);
    assert!(blind.skipped(M1, 3, &[skip(s.number.0)]).await.is_empty());
    let rec = status(&m, s).await;
    assert!(rec.rebuild.is_none());
    let why = history(&rec, "RebuildSkipped").unwrap();
    assert!(
        why.contains("no piece store") && why.contains("sealed file missing"),
        "{why}"
    );

    // The piece is not in the store.
    let pieces = Arc::new(MemoryPieceStore::default());
    let policy = AutoRebuild::new(m.clone(), folder.clone(), Some(pieces.clone()));
    assert!(policy.skipped(M1, 3, &[skip(s.number.0)]).await.is_empty());
    let why = history(&status(&m, s).await, "RebuildSkipped").unwrap();
    assert!(why.contains("not reachable"), "{why}");

    // Files present (a failing file, not a lost one): left to the
    // operator.
    std::fs::create_dir_all(dir.path().join(format!("{s}/cache"))).unwrap();
    std::fs::write(dir.path().join(format!("{s}/sealed")), b"x").unwrap();
    pieces.insert(piece(1, 512).cid, vec![0; 508]);
    assert!(policy.skipped(M1, 3, &[skip(s.number.0)]).await.is_empty());
    let why = history(&status(&m, s).await, "RebuildSkipped").unwrap();
    assert!(why.contains("present"), "{why}");

    // Gone, piece reachable, but the cap of open automatic rebuilds is
    // reached (a store not mounted makes every sector look gone).
    std::fs::remove_dir_all(dir.path().join(s.to_string())).unwrap();
    let capped = AutoRebuild::new(m.clone(), folder.clone(), Some(pieces.clone())).with_max_open(0);
    assert!(capped.skipped(M1, 3, &[skip(s.number.0)]).await.is_empty());
    let why = history(&status(&m, s).await, "RebuildSkipped").unwrap();
    assert!(why.contains("not mounted"), "{why}");

    // Gone, piece reachable: rebuilt, and the history says why.
    assert_eq!(policy.skipped(M1, 3, &[skip(s.number.0)]).await, vec![s]);
    let rec = status(&m, s).await;
    let job = rec.rebuild.clone().unwrap();
    assert_eq!(job.origin, RebuildOrigin::WindowPoStCheck);
    assert!(job.reason.contains("deadline 3") && job.reason.contains("sealed file missing"));
    assert!(history(&rec, "RebuildRequested").is_some());
    // Open: not asked twice.
    assert!(policy.skipped(M1, 4, &[skip(s.number.0)]).await.is_empty());

    // The last job ended as `state`: the next skip is left to the
    // operator, the history naming why.
    let ended = |state: JobState, needles: [&'static str; 2]| {
        let (m, policy) = (m.clone(), policy.clone());
        async move {
            m.modify(s, |rec| {
                let job = rec.rebuild.as_mut().unwrap();
                job.state = state.clone();
                job.instance = Some("store-9".into());
                job.last_error = Some("CommR differs".into());
                Ok(())
            })
            .await
            .unwrap();
            assert!(policy.skipped(M1, 5, &[skip(s.number.0)]).await.is_empty());
            let why = history(&status(&m, s).await, "RebuildSkipped").unwrap();
            assert!(needles.iter().all(|n| why.contains(n)), "{why}");
        }
    };
    // Rebuilt, yet still not found where the provers look: not again
    // (that would loop every period).
    ended(JobState::Done { at: 1 }, ["rebuilt already", "store-9"]).await;
    // Given up.
    ended(JobState::Failed { at: 1 }, ["given up", "CommR differs"]).await;
    // A sector this manager never sealed.
    assert!(policy.skipped(M1, 5, &[skip(999)]).await.is_empty());
}
