//! Engine tests on fake executors and a fake manager, on tokio's paused
//! clock: a 75-minute seed wait takes no real time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::limits::{Limits, StageLimit};
use super::*;
use crate::sealer::{SealerConfig, StageExecutors};
use crate::testing::{
    fake_stage_executors, one_location_engine, test_sealer, FakeManager, FakeStages,
};
use crate::{FailureLevel, MemoryPieceStore, MemorySectorStore, StageError};

fn limited(execs: StageExecutors, limits: &Arc<Limits>) -> StageExecutors {
    StageExecutors {
        add_pieces: Arc::new(limits.wrap(execs.add_pieces)),
        tree_d: Arc::new(limits.wrap(execs.tree_d)),
        pc1: Arc::new(limits.wrap(execs.pc1)),
        pc2: Arc::new(limits.wrap(execs.pc2)),
        c1: Arc::new(limits.wrap(execs.c1)),
        c2: Arc::new(limits.wrap(execs.c2)),
        persist: Arc::new(limits.wrap(execs.persist)),
    }
}

struct Rig {
    engine: Engine,
    fakes: FakeStages,
    manager: Arc<FakeManager>,
    limits: Arc<Limits>,
    store: Arc<dyn SectorStore>,
    _dir: tempfile::TempDir,
}

fn rig(
    limits: BTreeMap<String, StageLimit>,
    slots: usize,
    manager: FakeManager,
    store: Option<Arc<dyn SectorStore>>,
) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let (execs, fakes) = fake_stage_executors();
    for (stage, latency) in [("pc1", 60), ("pc2", 10), ("c2", 15)] {
        let d = Duration::from_secs(latency * 60);
        match stage {
            "pc1" => fakes.pc1.set_latency(d),
            "pc2" => fakes.pc2.set_latency(d),
            _ => fakes.c2.set_latency(d),
        }
    }
    let limits = Limits::new(limits, BTreeMap::new());
    let manager = Arc::new(manager);
    let store: Arc<dyn SectorStore> =
        store.unwrap_or_else(|| Arc::new(MemorySectorStore::default()));
    let sealer = test_sealer(manager.clone(), limited(execs, &limits), store.clone());
    let engine = one_location_engine(sealer, store.clone(), dir.path(), slots);
    Rig {
        engine,
        fakes,
        manager,
        limits,
        store,
        _dir: dir,
    }
}

fn limit(concurrent: usize, locks: &[&str]) -> StageLimit {
    StageLimit {
        concurrent: Some(concurrent),
        locks: locks.iter().map(|s| s.to_string()).collect(),
        stagger: None,
        priority: 0,
    }
}

fn never() -> impl std::future::Future<Output = ()> {
    std::future::pending()
}

#[tokio::test(start_paused = true)]
async fn limits_hold_and_every_sector_finishes() {
    let mut limits = BTreeMap::new();
    limits.insert("pc1".to_string(), limit(2, &[]));
    limits.insert("pc2".to_string(), limit(1, &["gpu"]));
    limits.insert("c2".to_string(), limit(1, &["gpu"]));
    let r = rig(limits, 4, FakeManager::default(), None);

    // pc2 and c2 share the gpu lock: neither may run while the other does.
    let overlap = Arc::new(AtomicBool::new(false));
    let (pc2, c2, flag) = (r.fakes.pc2.clone(), r.fakes.c2.clone(), overlap.clone());
    let watcher = tokio::spawn(async move {
        loop {
            if pc2.running() > 0 && c2.running() > 0 {
                flag.store(true, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    r.engine.with_max_sectors(8).run(never()).await.unwrap();
    watcher.abort();

    assert_eq!(r.manager.finalized(), (1..=8).collect::<Vec<_>>());
    assert_eq!(r.fakes.pc1.calls(), 8);
    assert_eq!(r.fakes.pc1.max_running(), 2, "pc1 = 2");
    assert_eq!(r.fakes.pc2.max_running(), 1, "pc2 = 1");
    assert_eq!(r.fakes.c2.max_running(), 1, "c2 = 1");
    assert!(
        !overlap.load(Ordering::SeqCst),
        "pc2 and c2 overlapped on the gpu lock"
    );
    assert!(r.limits.occupancy().iter().all(|o| o.in_use == 0));
}

#[tokio::test(start_paused = true)]
async fn a_sector_waiting_for_its_seed_holds_no_compute_slot() {
    let mut limits = BTreeMap::new();
    limits.insert("pc1".to_string(), limit(1, &[]));
    limits.insert("c1".to_string(), limit(1, &[]));
    let r = rig(limits, 3, FakeManager::default(), None);
    let handle = r.engine.handle();
    let store = r.store.clone();
    let engine = tokio::spawn(r.engine.with_max_sectors(3).run(never()));

    // Seeds come 75 minutes after landing; three pc1 of 60 minutes run one
    // at a time. If a sector waiting for its seed held the pc1 slot, the
    // third would not get past pc1 before the first seed.
    tokio::time::sleep(Duration::from_secs(3 * 60 * 60 + 100)).await;
    let list = handle.list().await.unwrap();
    let states: Vec<_> = list.iter().map(|s| s.state).collect();
    assert_eq!(list.len(), 3, "{states:?}");
    assert!(
        list.iter().all(|s| s.state >= SectorState::PC1Done),
        "every sector got through pc1 while others waited: {states:?}"
    );
    assert!(r
        .limits
        .occupancy()
        .iter()
        .filter(|o| o.name == "stage:c1")
        .all(|o| o.in_use <= 1));
    engine.await.unwrap().unwrap();
    assert_eq!(r.manager.finalized().len(), 3);
    assert!(store
        .load_all()
        .await
        .unwrap()
        .iter()
        .all(|r| r.state == SectorState::Finished));
}

#[tokio::test(start_paused = true)]
async fn temporary_escalates_and_parks_only_that_sector_then_operator_resumes() {
    let r = rig(BTreeMap::new(), 2, FakeManager::default(), None);
    // Sector 1's C2 keeps failing: 1 attempt + 3 retries, then parked.
    r.fakes.c2.fail_if(|t| {
        (t.sector.number.0 == 1).then(|| StageError::Unavailable("c2 service down".into()))
    });
    let handle = r.engine.handle();
    let engine = tokio::spawn(r.engine.with_max_sectors(2).run(never()));
    tokio::time::sleep(Duration::from_secs(6 * 60 * 60)).await;

    let list = handle.list().await.unwrap();
    let parked: Vec<_> = list.iter().filter(|s| s.paused).collect();
    assert_eq!(parked.len(), 1, "{list:?}");
    let parked = parked[0].clone();
    assert_eq!(parked.level, Some(FailureLevel::Permanent));
    assert!(
        parked.last_error.as_deref().unwrap().contains("3 retries"),
        "{parked:?}"
    );
    assert_eq!(parked.state, SectorState::C1Done);
    assert_eq!(r.manager.finalized().len(), 1, "the other sector finished");
    assert_eq!(r.fakes.c2.calls(), 5, "4 failed tries + the other sector's");

    r.fakes.c2.clear_failures();
    handle.resume(parked.job, None).await.unwrap();
    engine.await.unwrap().unwrap();
    assert_eq!(r.manager.finalized().len(), 2);
}

/// A manager that takes transition reports and never answers does not
/// hold a sector up: the reports go from a task of their own, each given
/// up after 5 s, and the engine ends within that grace.
#[tokio::test(start_paused = true)]
async fn a_manager_that_hangs_on_transition_reports_holds_no_sector_up() {
    let seal_two = |hang: bool| async move {
        let manager = FakeManager::default();
        if hang {
            manager.hang_transition_reports();
        }
        let r = rig(BTreeMap::new(), 1, manager, None);
        let started = tokio::time::Instant::now();
        r.engine.with_max_sectors(2).run(never()).await.unwrap();
        (started.elapsed(), r.manager)
    };
    let (answered, _) = seal_two(false).await;
    let (hung, manager) = seal_two(true).await;
    assert_eq!(manager.finalized(), vec![1, 2], "both sealed");
    assert!(
        manager.reports().is_empty(),
        "no transition report was answered: {:?}",
        manager.reports()
    );
    // 30 transitions given up after 5 s each would add 150 s if they held
    // the sectors up; off the runs they add at most the last grace.
    assert!(
        hung <= answered + Duration::from_secs(6),
        "hung {hung:?}, answered {answered:?}"
    );
}

/// The reports that parked a sector (event `Park`), not its transitions.
fn parked(
    reports: &[(crate::SectorId, crate::manager::StateReport)],
) -> Vec<(crate::SectorId, crate::manager::StateReport)> {
    reports
        .iter()
        .filter(|(_, r)| r.state_change.event.as_deref() == Some("Park"))
        .cloned()
        .collect()
}

/// A parked sector is reported to the manager as damocles reports it
/// (worker instance and location, the state it stays in, event "Park", the
/// failure); the manager's answer may give it up: then it is aborted,
/// cleaned, and the slot seals a new sector.
#[tokio::test(start_paused = true)]
async fn a_parked_sector_is_reported_and_the_managers_abort_reason_aborts_it() {
    let manager = FakeManager::default();
    manager.abort_on_report("operator gave up sector 1");
    let r = rig(BTreeMap::new(), 1, manager, None);
    r.fakes
        .c2
        .fail_if(|t| (t.sector.number.0 == 1).then(|| StageError::Unavailable("gpu lost".into())));
    r.engine.with_max_sectors(2).run(never()).await.unwrap();

    let all = r.manager.reports();
    // Every step is reported as a transition, in order; sector 2's go on
    // to Finished.
    let transitions: Vec<_> = all
        .iter()
        .filter(|(id, r)| id.number.0 == 2 && r.state_change.event.is_none())
        .map(|(_, r)| (r.state_change.prev.as_str(), r.state_change.next.as_str()))
        .collect();
    assert_eq!(
        transitions.first(),
        Some(&("Empty", "Allocated")),
        "{transitions:?}"
    );
    assert_eq!(
        transitions.last().map(|t| t.1),
        Some("Finished"),
        "{transitions:?}"
    );
    assert!(
        transitions.windows(2).all(|w| w[0].1 == w[1].0),
        "{transitions:?}"
    );
    let reports = parked(&all);
    assert_eq!(reports.len(), 1, "{reports:?}");
    let (id, report) = &reports[0];
    assert_eq!(id.number.0, 1);
    assert_eq!(report.state_change.prev, "C1Done");
    assert_eq!(report.state_change.next, "C1Done");
    assert_eq!(report.state_change.event.as_deref(), Some("Park"));
    assert!(!report.worker.location.is_empty());
    let failure = report.failure.as_ref().unwrap();
    assert!(failure.message.contains("gpu lost"), "{failure:?}");

    let aborted = r.manager.aborted();
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert!(
        aborted[0].1.contains("operator gave up sector 1"),
        "{aborted:?}"
    );
    assert_eq!(r.manager.finalized(), vec![2], "the slot went on");
    let records = r.store.load_all().await.unwrap();
    assert_eq!(records[0].state, SectorState::Aborted);
    assert!(!records[0].paused);
}

/// An abort the manager's operator asks for after the sector parked
/// reaches it too: a parked sector is reported again every recover
/// interval, and the answer's abort reason gives it up.
#[tokio::test(start_paused = true)]
async fn a_manager_abort_requested_after_parking_reaches_the_parked_sector() {
    let r = rig(BTreeMap::new(), 1, FakeManager::default(), None);
    r.fakes
        .c2
        .fail_if(|t| (t.sector.number.0 == 1).then(|| StageError::Unavailable("gpu lost".into())));
    let handle = r.engine.handle();
    let engine = tokio::spawn(r.engine.with_max_sectors(2).run(never()));
    tokio::time::sleep(Duration::from_secs(6 * 60 * 60)).await;
    let list = handle.list().await.unwrap();
    assert!(list.iter().any(|s| s.paused), "{list:?}");
    let reports = parked(&r.manager.reports()).len();
    assert!(
        reports >= 2,
        "reported at parking and again since: {reports}"
    );
    assert!(r.manager.aborted().is_empty());

    r.manager.abort_on_report("operator gave up sector 1");
    tokio::time::sleep(Duration::from_secs(61)).await;
    engine.await.unwrap().unwrap();
    let aborted = r.manager.aborted();
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert!(aborted[0].1.contains("operator gave up sector 1"));
    assert_eq!(r.manager.finalized(), vec![2], "the slot went on");
    let records = r.store.load_all().await.unwrap();
    assert_eq!(records[0].state, SectorState::Aborted);
    assert!(!records[0].paused);
}

#[tokio::test(start_paused = true)]
async fn abort_reports_cleans_and_starts_a_new_sector() {
    let r = rig(BTreeMap::new(), 1, FakeManager::default(), None);
    r.fakes
        .pc2
        .fail_next(StageError::InvalidTask("pieces do not fit".into()));
    r.engine.with_max_sectors(2).run(never()).await.unwrap();
    let aborted = r.manager.aborted();
    assert_eq!(aborted.len(), 1);
    assert!(aborted[0].1.contains("pieces do not fit"));
    assert_eq!(
        r.manager.finalized(),
        vec![2],
        "the slot went on with a new sector"
    );
    let records = r.store.load_all().await.unwrap();
    assert_eq!(records[0].state, SectorState::Aborted);
    assert!(
        !records[0].location.as_ref().unwrap().exists(),
        "files removed"
    );
}

#[tokio::test(start_paused = true)]
async fn operator_pauses_resumes_to_a_state_and_aborts() {
    let r = rig(BTreeMap::new(), 2, FakeManager::default(), None);
    let handle = r.engine.handle();
    let engine = tokio::spawn(r.engine.with_max_sectors(2).run(never()));
    tokio::time::sleep(Duration::from_secs(30 * 60)).await; // both in pc1

    handle.pause(1).await.unwrap();
    handle.abort(2, "bad disk".into()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10 * 60 * 60)).await;
    let list = handle.list().await.unwrap();
    assert!(list[0].paused && list[0].last_error.as_deref() == Some("paused by operator"));
    assert_eq!(
        list[0].state,
        SectorState::TicketAssigned,
        "pause abandons pc1"
    );
    assert_eq!(list[1].state, SectorState::Aborted);
    assert!(matches!(
        handle.pause(2).await,
        Err(ControlError::Refused { .. })
    ));
    assert!(matches!(
        handle.pause(99).await,
        Err(ControlError::UnknownJob(99))
    ));

    let pc1_calls = r.fakes.pc1.calls();
    handle
        .resume(1, Some(SectorState::TicketAssigned))
        .await
        .unwrap();
    engine.await.unwrap().unwrap();
    assert_eq!(
        r.fakes.pc1.calls(),
        pc1_calls + 1,
        "pc1 re-ran once after resume"
    );
    assert_eq!(r.manager.finalized(), vec![1]);
    assert_eq!(r.manager.aborted()[0].1, "aborted by operator: bad disk");
    // The pause and the resume went into the sector's history at the
    // manager, in order, whoever asked the worker (issue 16).
    let events: Vec<_> = r
        .manager
        .reports()
        .into_iter()
        .filter_map(|(_, rep)| {
            let c = rep.state_change;
            // ("Park": the parked sector's recheck every interval.)
            c.event.filter(|e| e != "Park").map(|e| (c.prev, c.next, e))
        })
        .collect();
    // The pause carries the failure the sector is parked with (a manager
    // tracking it as parked keeps it so); the resume carries none.
    let failures: Vec<_> = r
        .manager
        .reports()
        .into_iter()
        .filter(|(_, rep)| {
            rep.state_change
                .event
                .as_deref()
                .is_some_and(|e| e.contains("by the operator"))
        })
        .map(|(_, rep)| rep.failure.map(|f| f.to_string()))
        .collect();
    assert!(
        failures[0]
            .as_deref()
            .is_some_and(|f| f.contains("paused by operator")),
        "{failures:?}"
    );
    assert_eq!(failures[1], None, "{failures:?}");
    assert_eq!(
        events,
        vec![
            (
                "TicketAssigned".to_string(),
                "TicketAssigned".to_string(),
                "paused by the operator (worker admin API)".to_string()
            ),
            (
                "TicketAssigned".to_string(),
                "TicketAssigned".to_string(),
                "resumed by the operator (worker admin API)".to_string()
            ),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn restart_resumes_at_the_last_durable_state_without_recomputing() {
    // The same store across both runs (SQLite's own durability is tested
    // with the store; tokio's paused clock and sqlx's pool timeouts do not
    // mix).
    let store: Arc<dyn SectorStore> = Arc::new(MemorySectorStore::default());
    let manager = Arc::new(FakeManager::default());
    let mut r = rig(
        BTreeMap::new(),
        2,
        FakeManager::default(),
        Some(store.clone()),
    );
    // Share one manager across both runs, as a real manager outlives a worker.
    r.engine.sealer.manager = manager.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let engine = tokio::spawn(r.engine.with_max_sectors(2).run(async {
        let _ = stop_rx.await;
    }));
    // Past pc2 (70 min), waiting for the seed.
    tokio::time::sleep(Duration::from_secs(100 * 60)).await;
    stop_tx.send(()).unwrap();
    engine.await.unwrap().unwrap();
    let before = r.store.load_all().await.unwrap();
    assert!(
        before.iter().all(|r| r.state == SectorState::Persisted),
        "{:?}",
        before.iter().map(|r| r.state).collect::<Vec<_>>()
    );
    assert_eq!(r.fakes.pc1.calls(), 2);
    assert_eq!(manager.tickets_drawn(), 2);

    // A new worker: new executors, same store and directory.
    let (execs, fakes) = fake_stage_executors();
    let sealer = Sealer::new(
        manager.clone(),
        Arc::new(MemoryPieceStore::default()),
        execs,
        store.clone(),
        SealerConfig::default(),
    );
    one_location_engine(sealer, store.clone(), r._dir.path(), 2)
        .with_max_sectors(0)
        .run(never())
        .await
        .unwrap();
    assert_eq!(
        fakes.pc1.calls() + fakes.pc2.calls(),
        0,
        "nothing before the seed is computed again"
    );
    assert_eq!(fakes.c2.calls(), 2);
    assert_eq!(manager.tickets_drawn(), 2, "tickets reused");
    assert_eq!(manager.finalized(), vec![1, 2]);
}

#[tokio::test(start_paused = true)]
async fn metrics_count_states_failures_and_stage_times() {
    let metrics = super::metrics::EngineMetrics::new();
    let mut r = rig(BTreeMap::new(), 2, FakeManager::default(), None);
    r.engine.sealer = r.engine.sealer.clone().with_metrics(metrics.clone());
    metrics.watch_limits(r.limits.clone());
    r.fakes.c2.fail_next(StageError::Unavailable("blip".into()));
    r.engine.with_max_sectors(2).run(never()).await.unwrap();
    let text = metrics.render();
    assert!(
        text.contains("venus_seal_sectors{state=\"Finished\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("venus_seal_sectors{state=\"PC1Done\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("venus_seal_failures_total{level=\"temporary\"} 1"),
        "{text}"
    );
    assert!(text.contains("venus_seal_slots 2"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_broken_disk_parks_that_sector_critical_and_others_finish() {
    let r = rig(BTreeMap::new(), 2, FakeManager::default(), None);
    r.fakes.pc1.fail_if(|t| {
        (t.sector.number.0 == 1).then(|| {
            StageError::io(
                "writing layer 3",
                std::io::Error::other("No space left on device"),
            )
        })
    });
    let handle = r.engine.handle();
    let engine = tokio::spawn(r.engine.with_max_sectors(2).run(never()));
    tokio::time::sleep(Duration::from_secs(6 * 60 * 60)).await;
    let list = handle.list().await.unwrap();
    let parked = list
        .iter()
        .find(|s| s.sector.as_deref() == Some("s-t01000-1"))
        .unwrap();
    assert!(parked.paused);
    assert_eq!(parked.level, Some(FailureLevel::Critical));
    assert!(
        parked
            .last_error
            .as_deref()
            .unwrap()
            .contains("No space left"),
        "{parked:?}"
    );
    assert_eq!(r.fakes.pc1.calls(), 2, "Critical is not retried");
    assert_eq!(r.manager.finalized(), vec![2], "the other sector finished");
    engine.abort();
}

/// One slot, pc1 60 min, pc2 10, seed 75, c2 15: a sector that holds its
/// slot to the end runs pc1 for 60 of every 160 minutes; one that gives it
/// back at Persisted lets the next sector's pc1 start while it waits for
/// its seed. The in-flight limit caps the sectors outside slots.
#[tokio::test(start_paused = true)]
async fn a_sector_past_the_release_point_frees_its_slot() {
    async fn run(release: bool) -> (Duration, usize, Vec<u64>) {
        let r = rig(BTreeMap::new(), 1, FakeManager::default(), None);
        let mut engine = r.engine.with_max_sectors(4);
        if release {
            engine = engine.with_slot_release(SectorState::Persisted, 2);
        }
        let started = tokio::time::Instant::now();
        engine.run(never()).await.unwrap();
        (
            started.elapsed(),
            r.fakes.pc1.max_running() + r.fakes.c2.max_running(),
            r.manager.finalized(),
        )
    }
    let (held, held_overlap, held_done) = run(false).await;
    let (released, released_overlap, released_done) = run(true).await;
    assert_eq!(held_done, vec![1, 2, 3, 4]);
    assert_eq!(released_done, vec![1, 2, 3, 4]);
    // Holding: the four sectors run one after another (4 × 160 min).
    assert!(held >= Duration::from_secs(4 * 160 * 60), "{held:?}");
    assert_eq!(held_overlap, 2, "pc1 and c2 each ran alone");
    // Released: pc1 of the next sector overlaps the last one's seed wait,
    // and at most 2 sectors are ever in flight.
    assert!(
        released < Duration::from_secs(3 * 160 * 60),
        "{released:?} is not faster than {held:?}"
    );
    assert_eq!(released_overlap, 2);
}

/// With release, a location never holds more than `in_flight` sectors, and
/// never more than its slots before the release point.
#[tokio::test(start_paused = true)]
async fn slot_release_respects_slots_and_in_flight() {
    let r = rig(BTreeMap::new(), 2, FakeManager::default(), None);
    let store = r.store.clone();
    let watcher = tokio::spawn(async move {
        let (mut max_all, mut max_slotted) = (0, 0);
        loop {
            let records = store.load_all().await.unwrap();
            let live: Vec<_> = records.iter().filter(|r| !r.state.is_terminal()).collect();
            let slotted = live
                .iter()
                .filter(|r| r.state < SectorState::Persisted)
                .count();
            max_all = max_all.max(live.len());
            max_slotted = max_slotted.max(slotted);
            if records.len() == 10 && live.is_empty() {
                return (max_all, max_slotted);
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    });
    r.engine
        .with_max_sectors(10)
        .with_slot_release(SectorState::Persisted, 5)
        .run(never())
        .await
        .unwrap();
    let (max_all, max_slotted) = watcher.await.unwrap();
    assert_eq!(r.manager.finalized().len(), 10);
    assert!(max_slotted <= 2, "{max_slotted} sectors held slots");
    assert!(max_all <= 5, "{max_all} sectors in flight");
    assert!(max_all > 2, "nothing ran outside the slots");
}
