//! Durability of a sector's files: every stage output is synced (file and
//! directory) before the record that depends on it is saved, and PC2's
//! in-place rewrite of the sealed file can always be run again.
//!
//! The stages here are fakes that really write the sector's files: PC1
//! copies the staged file to the sealed file, and PC2 encodes the sealed
//! file in place, refusing one that is not PC1's copy (as the real PC2 would
//! silently seal it twice). A recording [`Syncer`] and a recording store
//! write one log, so the order of syncs and saves can be checked without a
//! power cut.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::durable::{self, Syncer};
use crate::error::StageError;
use crate::stage::Pc2Output;
use crate::testing::{one_location_engine, test_sealer, FakeManager, FakeStages};
use crate::MemorySectorStore;

/// What PC2 turns the sealed file into.
const REPLICA: &[u8] = crate::testing::REPLICA_DATA;

/// One thing that happened, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    /// A file was synced.
    File(PathBuf),
    /// A directory was synced.
    Dir(PathBuf),
    /// A stage executor began.
    Ran(&'static str),
    /// A record in this state was saved.
    Save(SectorState),
}

type Log = Arc<Mutex<Vec<Ev>>>;

fn push(log: &Log, ev: Ev) {
    log.lock().unwrap().push(ev);
}

/// Records every sync, then performs it.
#[derive(Debug)]
struct RecordingSyncer(Log);

impl Syncer for RecordingSyncer {
    fn sync_file(&self, path: &Path) -> std::io::Result<()> {
        push(&self.0, Ev::File(path.to_path_buf()));
        durable::sync_file(path)
    }

    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        push(&self.0, Ev::Dir(path.to_path_buf()));
        durable::sync_dir(path)
    }
}

/// A memory store that logs each save, notes whether the PC2 marker was
/// on disk at that moment, and can fail the save of one state once (the
/// process dies before the record reaches the disk).
#[derive(Debug)]
struct RecordingStore {
    inner: MemorySectorStore,
    log: Log,
    marker: PathBuf,
    marker_at_save: Mutex<Vec<(SectorState, bool)>>,
    crash_at: Mutex<Option<SectorState>>,
}

#[async_trait]
impl SectorStore for RecordingStore {
    async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError> {
        let crash = {
            let mut at = self.crash_at.lock().unwrap();
            let crash = *at == Some(record.state);
            if crash {
                *at = None;
            }
            crash
        };
        if crash {
            return Err(SectorStoreError(format!(
                "injected crash before the {} record was saved",
                record.state
            )));
        }
        push(&self.log, Ev::Save(record.state));
        self.marker_at_save
            .lock()
            .unwrap()
            .push((record.state, self.marker.exists()));
        self.inner.save(record).await
    }

    async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
        self.inner.load_all().await
    }
}

/// Logs that PC2 began, then runs `inner`.
#[derive(Debug)]
struct LoggedPc2 {
    log: Log,
    inner: DynExecutor<Pc2>,
}

#[async_trait]
impl Executor<Pc2> for LoggedPc2 {
    async fn execute(&self, task: Pc2) -> Result<Pc2Output, StageError> {
        push(&self.log, Ev::Ran("pc2"));
        self.inner.execute(task).await
    }
}

/// The [`file_writing_stages`](crate::testing::file_writing_stages) of
/// the test kit (persisting under `persist_root`), PC2 logging when it
/// begins.
fn file_writing_stages(persist_root: &Path, log: &Log) -> (StageExecutors, FakeStages) {
    let (mut execs, fakes) = crate::testing::file_writing_stages(persist_root);
    execs.pc2 = Arc::new(LoggedPc2 {
        log: log.clone(),
        inner: execs.pc2,
    });
    (execs, fakes)
}

struct Rig {
    sealer: Sealer,
    store: Arc<RecordingStore>,
    manager: Arc<FakeManager>,
    fakes: FakeStages,
    log: Log,
    /// The sealing location.
    location: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Rig {
    /// The directory of job 1.
    fn dir(&self) -> PathBuf {
        self.location.join("job-1")
    }

    fn paths(&self) -> SectorPaths {
        SectorPaths::under(self.dir())
    }

    fn marker(&self) -> PathBuf {
        self.paths().cache.join(files::PC2_MARKER)
    }

    async fn stored(&self) -> SectorRecord {
        self.store.load_all().await.unwrap().remove(0)
    }

    fn log(&self) -> Vec<Ev> {
        self.log.lock().unwrap().clone()
    }
}

fn rig() -> Rig {
    let tmp = tempfile::tempdir().unwrap();
    let location = tmp.path().join("location");
    std::fs::create_dir_all(&location).unwrap();
    let log: Log = Arc::default();
    let (execs, fakes) = file_writing_stages(&tmp.path().join("persist"), &log);
    let manager = Arc::new(FakeManager::default());
    let store = Arc::new(RecordingStore {
        inner: MemorySectorStore::default(),
        log: log.clone(),
        marker: SectorPaths::under(location.join("job-1"))
            .cache
            .join(files::PC2_MARKER),
        marker_at_save: Mutex::default(),
        crash_at: Mutex::default(),
    });
    let sealer = test_sealer(manager.clone(), execs, store.clone())
        .with_syncer(Arc::new(RecordingSyncer(log.clone())));
    Rig {
        sealer,
        store,
        manager,
        fakes,
        log,
        location,
        _tmp: tmp,
    }
}

/// The position of the first `ev` in `log` at or after `from`.
fn find(log: &[Ev], from: usize, ev: &Ev) -> Option<usize> {
    log[from..].iter().position(|e| e == ev).map(|i| i + from)
}

/// Asserts that each of `synced` happens in `log` after `after` and before
/// the save of `state`.
fn assert_synced_between(log: &[Ev], after: &Ev, state: SectorState, synced: &[Ev]) {
    let start = find(log, 0, after).unwrap_or_else(|| panic!("no {after:?} in {log:#?}"));
    let save = find(log, start, &Ev::Save(state))
        .unwrap_or_else(|| panic!("no save of {state} after {after:?} in {log:#?}"));
    for ev in synced {
        assert!(
            log[start..save].contains(ev),
            "{ev:?} must happen after {after:?} and before the {state} record is saved; log: {log:#?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn sealer_syncs_each_stage_output_and_its_directory_before_saving_the_state() {
    let r = rig();
    let mut rec = SectorRecord::new(1);
    r.sealer
        .run(&mut rec, &r.dir(), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(rec.state, SectorState::Finished);

    let (dir, p) = (r.dir(), r.paths());
    let log = r.log();
    let file = |p: PathBuf| Ev::File(p);
    let dir_ev = |p: &Path| Ev::Dir(p.to_path_buf());
    assert_synced_between(
        &log,
        &Ev::Save(SectorState::DealsAcquired),
        SectorState::PiecesAdded,
        &[file(p.staged.clone()), dir_ev(&dir), dir_ev(&r.location)],
    );
    assert_synced_between(
        &log,
        &Ev::Save(SectorState::PiecesAdded),
        SectorState::TreeDBuilt,
        &[file(p.cache.join("tree-d")), dir_ev(&p.cache), dir_ev(&dir)],
    );
    assert_synced_between(
        &log,
        &Ev::Save(SectorState::TicketAssigned),
        SectorState::PC1Done,
        &[
            file(p.sealed.clone()),
            file(p.cache.join("layer-1")),
            dir_ev(&p.cache),
            dir_ev(&dir),
        ],
    );
    // The marker is durable before PC2 may write the sealed file ...
    let marker = r.marker();
    let pc2 = find(&log, 0, &Ev::Ran("pc2")).expect("pc2 ran");
    for ev in [file(marker.clone()), dir_ev(&p.cache), dir_ev(&dir)] {
        let at = find(&log, 0, &ev).unwrap_or_else(|| panic!("{ev:?} never synced"));
        assert!(
            at < pc2,
            "{ev:?} must be synced before PC2 starts; log: {log:#?}"
        );
    }
    // ... and what PC2 wrote is durable before PC2Done is saved.
    assert_synced_between(
        &log,
        &Ev::Ran("pc2"),
        SectorState::PC2Done,
        &[
            file(p.sealed.clone()),
            file(p.cache.join("tree-r-last")),
            dir_ev(&p.cache),
            dir_ev(&dir),
        ],
    );
}

#[tokio::test(start_paused = true)]
async fn sealer_keeps_the_pc2_marker_past_pc2done_so_a_crash_before_that_save_reruns_pc2() {
    let r = rig();
    *r.store.crash_at.lock().unwrap() = Some(SectorState::PC2Done);
    let mut rec = SectorRecord::new(1);
    let err = r
        .sealer
        .run(&mut rec, &r.dir(), &mut |_, _| {})
        .await
        .unwrap_err();
    assert!(err.message.contains("injected crash"), "{err}");
    assert_eq!(std::fs::read(&r.paths().sealed).unwrap(), REPLICA);

    // The restarted worker resumes from the last saved record: PC1Done,
    // with the sealed file already encoded by the PC2 that ran.
    let mut rec = r.stored().await;
    assert_eq!(rec.state, SectorState::PC1Done);
    r.sealer
        .run(&mut rec, &r.dir(), &mut |_, _| {})
        .await
        .expect("PC2 runs again on the sealed file restored from the staged copy");
    assert_eq!(rec.state, SectorState::Finished);
    assert_eq!(r.fakes.pc2.calls(), 2);
    assert_eq!(std::fs::read(&r.paths().sealed).unwrap(), REPLICA);

    let at_save = r.store.marker_at_save.lock().unwrap().clone();
    assert!(
        at_save.contains(&(SectorState::PC2Done, true)),
        "the PC2 marker must still be on disk when PC2Done is saved: {at_save:?}"
    );
    assert!(
        r.marker().exists(),
        "the sealed file still holds PC2's output"
    );
}

#[tokio::test(start_paused = true)]
async fn sealer_resume_into_pc1done_after_a_finished_pc2_restores_the_sealed_file_first() {
    let r = rig();
    let engine =
        one_location_engine(r.sealer.clone(), r.store.clone(), &r.location, 1).with_max_sectors(1);
    let handle = engine.handle();
    let running = tokio::spawn(engine.run(std::future::pending()));
    // Pre-committed and persisted, waiting 75 minutes for the seed.
    tokio::time::sleep(Duration::from_secs(10 * 60)).await;
    let list = handle.list().await.unwrap();
    assert_eq!(list[0].state, SectorState::Persisted);
    assert_eq!(std::fs::read(&r.paths().sealed).unwrap(), REPLICA);

    handle.pause(1).await.unwrap();
    handle.resume(1, Some(SectorState::PC1Done)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(24 * 60 * 60), running)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the sector never finished after resume into PC1Done: {:?}",
                r.log()
            )
        })
        .unwrap()
        .unwrap();

    assert_eq!(r.fakes.pc2.calls(), 2, "PC2 ran again after the resume");
    assert_eq!(r.manager.finalized(), vec![1]);
    let rec = r.stored().await;
    assert_eq!(rec.state, SectorState::Finished, "{:?}", rec.failure);
    assert_eq!(std::fs::read(&r.paths().sealed).unwrap(), REPLICA);
}

#[tokio::test(start_paused = true)]
async fn sealer_refuses_to_rerun_pc2_when_the_staged_copy_is_gone() {
    let r = rig();
    *r.store.crash_at.lock().unwrap() = Some(SectorState::PC2Done);
    let mut rec = SectorRecord::new(1);
    r.sealer
        .run(&mut rec, &r.dir(), &mut |_, _| {})
        .await
        .unwrap_err();
    std::fs::remove_file(&r.paths().staged).unwrap();

    let mut rec = r.stored().await;
    let err = r
        .sealer
        .run(&mut rec, &r.dir(), &mut |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(err.level, FailureLevel::Permanent, "{err}");
    assert!(
        err.message.contains("staged copy") && err.message.contains("gone"),
        "{err}"
    );
    assert_eq!(
        r.fakes.pc2.calls(),
        1,
        "PC2 never ran over the encoded file"
    );
    assert_eq!(std::fs::read(&r.paths().sealed).unwrap(), REPLICA);
}
