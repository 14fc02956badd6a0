//! A dropped stage call keeps its limits until its work has ended; a
//! resumed sector never overlaps its abandoned stage; a panic frees its
//! permits and parks the sector with the panic recorded.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::chaos_tests::{limit, Rng, World};
use super::limits::Limits;
use crate::error::Leveled;
use crate::error::StageError;
use crate::executor::Executor;
use crate::stage::{Opaque, Pc2, Pc2Output, Proof, SectorPaths, C2};
use crate::testing::{fake_stage_executors, BlockingFake, Census};
use crate::types::ids::{ActorId, SectorId, SectorNumber};
use crate::types::proof::SealProof;
use crate::{FailureLevel, SectorState};

fn c2(n: u64) -> C2 {
    C2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(n)),
        c1_output: Opaque::encode(&()).unwrap(),
    }
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// c2 limited to 1 and holding `gpu`, on a blocking thread: the first
/// call's future is dropped while its work runs; a second c2 (and a pc2
/// sharing `gpu`) must not start until that work has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_call_keeps_its_limits_until_its_blocking_work_ends() {
    let census = Arc::new(Census::default());
    let mut config = BTreeMap::new();
    config.insert("c2".to_string(), limit(Some(1), &["gpu"]));
    config.insert("pc2".to_string(), limit(None, &["gpu"]));
    let limits = Limits::new(config, BTreeMap::new());
    let (_, fakes) = fake_stage_executors();
    let gpu = |stage: &str| vec![format!("stage:{stage}"), "lock:gpu".to_string()];
    let c2_exec = Arc::new(limits.wrap(BlockingFake::new(
        fakes.c2,
        census.clone(),
        move |_: &C2| gpu("c2"),
        |t: &C2| Duration::from_millis(if t.sector.number.0 == 1 { 400 } else { 5 }),
    )));
    let pc2_exec = Arc::new(limits.wrap(BlockingFake::new(
        fakes.pc2,
        census.clone(),
        move |_: &Pc2| gpu("pc2"),
        |_: &Pc2| Duration::from_millis(5),
    )));

    let first = tokio::spawn({
        let e = c2_exec.clone();
        async move { e.execute(c2(1)).await }
    });
    until("the first c2 runs", || census.now("lock:gpu") == 1).await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());

    // The C2 fake refuses a task without a fake C1 output: only when it
    // ran matters here.
    let _ = c2_exec.execute(c2(2)).await;
    let pc2 = Pc2 {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: SectorId::new(ActorId(1000), SectorNumber(3)),
        paths: SectorPaths::under(std::path::Path::new("/nonexistent/job-3")),
        pc1_output: Opaque::encode(&()).unwrap(),
        synthetic: None,
    };
    let _ = pc2_exec.execute(pc2).await;
    let maxima = census.maxima();
    assert_eq!(maxima["lock:gpu"], 1, "two tasks held the gpu: {maxima:?}");
    assert_eq!(maxima["stage:c2"], 1, "two c2 ran at once: {maxima:?}");
    assert_eq!(census.running(), 0);
}

/// An executor that panics.
#[derive(Debug)]
struct Panics;

#[async_trait]
impl Executor<C2> for Panics {
    async fn execute(&self, _task: C2) -> Result<Proof, StageError> {
        panic!("injected c2 panic");
    }
}

#[async_trait]
impl Executor<Pc2> for Panics {
    async fn execute(&self, _task: Pc2) -> Result<Pc2Output, StageError> {
        panic!("injected pc2 panic");
    }
}

/// A limited stage that panics fails Permanent naming the panic, and its
/// permit and lock are free for the next task.
#[tokio::test]
async fn a_panicking_stage_frees_its_permits_and_fails_permanent() {
    let mut config = BTreeMap::new();
    config.insert("c2".to_string(), limit(Some(1), &["gpu"]));
    let limits = Limits::new(config, BTreeMap::new());
    let exec = limits.wrap::<C2, _>(Panics);
    for _ in 0..2 {
        let err = exec.execute(c2(1)).await.unwrap_err();
        assert_eq!(err.level(), FailureLevel::Permanent);
        assert!(err.to_string().contains("injected c2 panic"), "{err}");
    }
    assert!(limits.occupancy().iter().all(|o| o.in_use == 0));
}

/// PC2 (unlimited, so only the per-sector guard protects it) runs 300 ms
/// on a blocking thread; the sector is paused in the middle and resumed at
/// once: the resumed PC2 must wait for the abandoned one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_sector_never_overlaps_its_abandoned_stage() {
    let world = World::new(&BTreeMap::new(), &Rng::new(1), |stage| match stage {
        "pc2" => (300, 300),
        _ => (1, 1),
    });
    let engine = world.start(1);
    let census = world.census.clone();
    until("pc2 runs", || census.now("stage:pc2") == 1).await;
    let sector = engine.handle.list().await.unwrap()[0].clone();
    let job = sector.job;
    engine.handle.pause(job).await.unwrap();
    // The fakes write no files: give the re-run PC2 the staged file it
    // restores the sealed file from.
    let dir = sector
        .location
        .clone()
        .expect("a running sector has a location");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("staged"), b"").unwrap();
    engine.handle.resume(job, None).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !census.maxima().contains_key("stage:c2") {
        let list = engine.handle.list().await.unwrap();
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sector never reached c2: {list:?} {:?}",
            census.maxima()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    engine.shutdown().await;
    let maxima = census.maxima();
    let sectors: Vec<_> = maxima
        .iter()
        .filter(|(k, _)| k.starts_with("sector:"))
        .collect();
    assert!(!sectors.is_empty());
    for (key, max) in sectors {
        assert_eq!(*max, 1, "{key} ran two stages at once: {maxima:?}");
    }
}

/// A stage that panics outside any limit: the sector is parked with the
/// panic recorded (not silently lost), and the engine still serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_is_parked_and_reported() {
    let mut world = World::new(&BTreeMap::new(), &Rng::new(2), |_| (1, 1));
    world.executors.pc2 = Arc::new(Panics);
    let engine = world.start(1);
    let store = world.store.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let rec = loop {
        let recs = store.load_all().await.unwrap();
        if let Some(r) = recs.into_iter().find(|r| r.paused) {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sector was parked"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let failure = rec.failure.clone().expect("the failure is recorded");
    assert!(
        failure.message.contains("injected pc2 panic"),
        "{failure:?}"
    );
    assert_eq!(rec.state, SectorState::PC1Done);
    // The job is still served: the operator can give it up.
    engine
        .handle
        .abort(rec.job, "it panicked".into())
        .await
        .unwrap();
    engine.shutdown().await;
}
