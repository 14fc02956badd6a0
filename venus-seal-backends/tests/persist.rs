//! `PersistStores` as the persist executor (the conformance suite runs
//! on every persist store from `tests/conformance.rs`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use object_store::memory::InMemory;
use rand::RngCore;
use venus_seal_backends::persist::{
    cache_key, sealed_key, LocalPersistStore, ObjectPersistStore, PersistStore, PersistStores,
};
use venus_seal_core::persist_store::PersistStoreError;
use venus_seal_core::stage::{Persist, SectorPaths};
use venus_seal_core::{
    ActorId, Executor, FailureLevel, Leveled, SealProof, SectorId, SectorNumber, StageError,
};

fn sector() -> SectorId {
    SectorId::new(ActorId(1000), SectorNumber(7))
}

fn random_file(path: &Path, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// A fake sealed sector: sealed file, p_aux, t_aux, two tree-r-last
/// files, and a layer file persist must not copy.
fn fake_sector(dir: &Path) -> (Persist, Vec<(String, Vec<u8>)>) {
    let paths = SectorPaths::under(dir);
    let id = sector();
    let mut expected = vec![(sealed_key(&id), random_file(&paths.sealed, 96 * 1024))];
    for (name, len) in [
        ("p_aux", 64),
        ("t_aux", 1500),
        ("sc-02-data-tree-r-last-0.dat", 4096),
        ("sc-02-data-tree-r-last-1.dat", 4096),
    ] {
        expected.push((
            cache_key(&id, name),
            random_file(&paths.cache.join(name), len),
        ));
    }
    random_file(&paths.cache.join("sc-02-data-layer-1.dat"), 2048);
    let task = Persist {
        proof: SealProof::StackedDrg2KiBV1_1,
        sector: id,
        paths,
        update: false,
    };
    (task, expected)
}

async fn fetch(store: &dyn PersistStore, key: &str) -> Result<Vec<u8>, PersistStoreError> {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("fetched");
    store.get_file(key, &dst).await?;
    Ok(std::fs::read(dst).unwrap())
}

#[tokio::test]
async fn persist_picks_the_store_with_room_and_verifies() {
    let sealing = tempfile::tempdir().unwrap();
    let (task, expected) = fake_sector(sealing.path());
    let (full_dir, roomy_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let full = LocalPersistStore::new("full", full_dir.path()).with_reserved_bytes(u64::MAX);
    let roomy = LocalPersistStore::new("roomy", roomy_dir.path());
    let stores = PersistStores::new()
        .with_store(Arc::new(full))
        .with_store(Arc::new(roomy.clone()));

    for _ in 0..2 {
        // Twice: the second run overwrites cleanly.
        let out = stores.execute(task.clone()).await.unwrap();
        assert_eq!(out.instance, "roomy");
        assert!(out.clean_sealing_location);
        for (key, bytes) in &expected {
            assert_eq!(&fetch(&roomy, key).await.unwrap(), bytes, "{key}");
        }
    }
    let cache = roomy_dir.path().join("cache/s-t01000-7");
    let mut names: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "p_aux",
            "sc-02-data-tree-r-last-0.dat",
            "sc-02-data-tree-r-last-1.dat",
            "t_aux"
        ]
    );
    assert!(roomy_dir.path().join("sealed/s-t01000-7").is_file());
    assert_eq!(std::fs::read_dir(full_dir.path()).unwrap().count(), 0);
}

/// A snap-up's updated replica goes beside the sector's sealed one:
/// `update/<sector>`, `update-cache/<sector>/` (the same files), never
/// over `sealed/` and `cache/`, which stay the sector's until the update
/// is on chain.
#[tokio::test]
async fn an_update_is_persisted_beside_the_sealed_replica() {
    let sealing = tempfile::tempdir().unwrap();
    let (mut task, expected) = fake_sector(sealing.path());
    let dir = tempfile::tempdir().unwrap();
    let store = LocalPersistStore::new("store-1", dir.path());
    let stores = PersistStores::new().with_store(Arc::new(store.clone()));
    std::fs::create_dir_all(dir.path().join("sealed")).unwrap();
    std::fs::write(dir.path().join("sealed/s-t01000-7"), b"the CC replica").unwrap();
    task.update = true;
    let out = stores.execute(task).await.unwrap();
    assert_eq!(out.instance, "store-1");
    for (key, bytes) in &expected {
        let key = key
            .replacen("sealed/", "update/", 1)
            .replacen("cache/", "update-cache/", 1);
        assert_eq!(&fetch(&store, &key).await.unwrap(), bytes, "{key}");
    }
    assert_eq!(
        std::fs::read(dir.path().join("sealed/s-t01000-7")).unwrap(),
        b"the CC replica"
    );
    assert!(!dir.path().join("cache").exists());
}

#[tokio::test]
async fn persist_prefers_most_free_and_honours_weight_zero() {
    let sealing = tempfile::tempdir().unwrap();
    let (task, _) = fake_sector(sealing.path());
    let dir = tempfile::tempdir().unwrap();
    let free = LocalPersistStore::new("x", dir.path())
        .available()
        .await
        .unwrap()
        .unwrap();
    let tight = LocalPersistStore::new("tight", dir.path().join("t"))
        .with_reserved_bytes(free.saturating_sub(10 << 20));
    let loose = LocalPersistStore::new("loose", dir.path().join("l"));
    std::fs::create_dir_all(&tight.dir).unwrap();
    std::fs::create_dir_all(&loose.dir).unwrap();

    let stores = PersistStores::new()
        .with_store(Arc::new(tight.clone()))
        .with_store(Arc::new(loose.clone()));
    assert_eq!(
        stores.execute(task.clone()).await.unwrap().instance,
        "loose"
    );

    // An unbounded object store counts as the most free.
    let mem = ObjectPersistStore::new("mem", Arc::new(InMemory::new()), "".into());
    let stores = PersistStores::new()
        .with_store(Arc::new(loose.clone()))
        .with_store(Arc::new(mem.clone()));
    assert_eq!(stores.execute(task.clone()).await.unwrap().instance, "mem");

    // Weight 0 takes nothing new.
    let stores = PersistStores::new()
        .with_weighted_store(Arc::new(mem), 0)
        .with_weighted_store(Arc::new(tight), 3);
    assert_eq!(stores.execute(task).await.unwrap().instance, "tight");
}

#[tokio::test]
async fn persist_without_t_aux_is_missing() {
    let sealing = tempfile::tempdir().unwrap();
    let (task, _) = fake_sector(sealing.path());
    std::fs::remove_file(task.paths.cache.join("t_aux")).unwrap();
    let mem = ObjectPersistStore::new("mem", Arc::new(InMemory::new()), "".into());
    let stores = PersistStores::new().with_store(Arc::new(mem));
    match stores.execute(task).await {
        Err(e @ StageError::Missing(_)) => {
            assert!(e.to_string().contains("t_aux"), "{e}");
            assert_eq!(e.level(), FailureLevel::Permanent);
        }
        other => panic!("want Missing, got {other:?}"),
    }
}

#[tokio::test]
async fn persist_without_tree_r_last_is_missing() {
    let sealing = tempfile::tempdir().unwrap();
    let (task, _) = fake_sector(sealing.path());
    for n in 0..2 {
        let tree = format!("sc-02-data-tree-r-last-{n}.dat");
        std::fs::remove_file(task.paths.cache.join(tree)).unwrap();
    }
    let mem = ObjectPersistStore::new("mem", Arc::new(InMemory::new()), "".into());
    let err = PersistStores::new()
        .with_store(Arc::new(mem))
        .execute(task)
        .await
        .unwrap_err();
    assert!(matches!(err, StageError::Missing(_)), "{err:?}");
    assert!(err.to_string().contains("tree-r-last"), "{err}");
}

#[tokio::test]
async fn persist_with_no_room_is_unavailable_listing_the_stores() {
    let sealing = tempfile::tempdir().unwrap();
    let (task, _) = fake_sector(sealing.path());
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let stores = PersistStores::new()
        .with_store(Arc::new(
            LocalPersistStore::new("a", a.path()).with_reserved_bytes(u64::MAX),
        ))
        .with_store(Arc::new(
            LocalPersistStore::new("b", b.path()).with_reserved_bytes(u64::MAX),
        ))
        .with_store(Arc::new(LocalPersistStore::new("gone", a.path().join("x"))));
    let err = stores.execute(task).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Temporary);
    let msg = err.to_string();
    assert!(matches!(err, StageError::Unavailable(_)), "{msg}");
    assert!(msg.contains("no persistent store has"), "{msg}");
    assert!(
        msg.contains("a: 0 free, b: 0 free, gone: unavailable"),
        "{msg}"
    );
}

/// A store that fails its `n`th put (0-based), to test cleanup.
#[derive(Debug)]
struct FailingPut<S> {
    inner: S,
    fail_at: usize,
    puts: AtomicUsize,
}

#[async_trait]
impl<S: PersistStore> PersistStore for FailingPut<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn available(&self) -> Result<Option<u64>, PersistStoreError> {
        self.inner.available().await
    }
    async fn put_file(&self, key: &str, src: &Path) -> Result<(), PersistStoreError> {
        if self.puts.fetch_add(1, Ordering::SeqCst) == self.fail_at {
            return Err(PersistStoreError::Unavailable(format!(
                "injected failure at {key}"
            )));
        }
        self.inner.put_file(key, src).await
    }
    async fn get_file(&self, key: &str, dst: &Path) -> Result<(), PersistStoreError> {
        self.inner.get_file(key, dst).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<(), PersistStoreError> {
        self.inner.delete_prefix(prefix).await
    }
}

#[tokio::test]
async fn persist_failing_midway_removes_the_partial_copy() {
    let sealing = tempfile::tempdir().unwrap();
    let (task, expected) = fake_sector(sealing.path());
    for (inner, label) in [
        (
            Arc::new(ObjectPersistStore::new(
                "mem",
                Arc::new(InMemory::new()),
                "".into(),
            )) as Arc<dyn PersistStore>,
            "object",
        ),
        (
            Arc::new(LocalPersistStore::new("dir", sealing.path().join("store"))),
            "local",
        ),
    ] {
        std::fs::create_dir_all(sealing.path().join("store")).unwrap();
        let failing = Arc::new(FailingPut {
            inner: inner.clone(),
            fail_at: 3,
            puts: AtomicUsize::new(0),
        });
        let err = PersistStores::new()
            .with_store(failing)
            .execute(task.clone())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("injected failure"),
            "{label}: {err}"
        );
        for (key, _) in &expected {
            match fetch(inner.as_ref(), key).await {
                Err(PersistStoreError::Missing(_)) => {}
                other => panic!("{label}: {key} left behind: {other:?}"),
            }
        }
    }
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn full_disk_is_critical_io_and_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mnt)
        .output();
    match mounted {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "note: skipping the full-disk test, cannot mount a tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("note: skipping the full-disk test, cannot run mount: {e}");
            return;
        }
    }
    let _mount = Mount(mnt.clone());

    let src = dir.path().join("big");
    random_file(&src, 2 << 20);
    let store = LocalPersistStore::new("tiny", &mnt);
    let key = sealed_key(&sector());
    let err = store.put_file(&key, &src).await.unwrap_err();
    assert_eq!(err.level(), FailureLevel::Critical, "{err}");
    assert!(matches!(err, PersistStoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("s-t01000-7"), "{err}");
    let sealed_dir = mnt.join("sealed");
    let left: Vec<_> = std::fs::read_dir(&sealed_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // Through the executor the store is simply too small: Temporary.
    let sealing = tempfile::tempdir().unwrap();
    let (task, _) = fake_sector(sealing.path());
    std::fs::write(&task.paths.sealed, vec![1u8; 2 << 20]).unwrap();
    let err = PersistStores::new()
        .with_store(Arc::new(store))
        .execute(task)
        .await
        .unwrap_err();
    assert_eq!(err.level(), FailureLevel::Temporary, "{err}");
    assert!(err.to_string().contains("tiny: "), "{err}");
}

/// A store reporting a fixed free space (the space a copy takes shows in
/// the filesystem only as it is written) whose puts wait for `gate`.
#[derive(Debug)]
struct GatedStore {
    inner: LocalPersistStore,
    free: u64,
    gate: Arc<tokio::sync::Semaphore>,
    entered: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl PersistStore for GatedStore {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn available(&self) -> Result<Option<u64>, PersistStoreError> {
        Ok(Some(self.free))
    }
    async fn put_file(&self, key: &str, src: &Path) -> Result<(), PersistStoreError> {
        self.entered.notify_one();
        drop(self.gate.acquire().await.unwrap());
        self.inner.put_file(key, src).await
    }
    async fn get_file(&self, key: &str, dst: &Path) -> Result<(), PersistStoreError> {
        self.inner.get_file(key, dst).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<(), PersistStoreError> {
        self.inner.delete_prefix(prefix).await
    }
}

fn sector_size(task: &Persist) -> u64 {
    let files = [
        "p_aux",
        "t_aux",
        "sc-02-data-tree-r-last-0.dat",
        "sc-02-data-tree-r-last-1.dat",
    ];
    std::fs::metadata(&task.paths.sealed).unwrap().len()
        + files
            .iter()
            .map(|f| std::fs::metadata(task.paths.cache.join(f)).unwrap().len())
            .sum::<u64>()
}

#[tokio::test]
async fn a_second_copy_that_would_not_fit_beside_one_in_progress_is_refused() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (first, _) = fake_sector(one.path());
    let (mut second, _) = fake_sector(two.path());
    second.sector = SectorId::new(ActorId(1000), SectorNumber(8));
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let entered = Arc::new(tokio::sync::Notify::new());
    // Room for one sector and a half.
    let free = sector_size(&first) * 3 / 2;
    let store = Arc::new(GatedStore {
        inner: LocalPersistStore::new("half-full", dir.path()),
        free,
        gate: gate.clone(),
        entered: entered.clone(),
    });
    let stores = PersistStores::new().with_store(store);

    let copying = tokio::spawn({
        let stores = stores.clone();
        async move { stores.execute(first).await }
    });
    entered.notified().await;
    // The first copy is in progress: the second would not fit beside it.
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stores.execute(second.clone()),
    )
    .await
    .expect("the second copy must be refused, not started");
    let err = refused.unwrap_err();
    assert!(matches!(err, StageError::Unavailable(_)), "{err:?}");
    assert_eq!(err.level(), FailureLevel::Temporary);
    let msg = err.to_string();
    assert!(msg.contains("reserved by copies in progress"), "{msg}");

    // Once the first copy is done its reservation is released.
    gate.add_permits(1000);
    assert_eq!(copying.await.unwrap().unwrap().instance, "half-full");
    assert_eq!(stores.execute(second).await.unwrap().instance, "half-full");
}

#[tokio::test]
async fn leftover_temporary_copies_are_removed_when_the_store_starts() {
    leftover_temporary_copies_are_removed(false).await;
}

#[tokio::test]
async fn leftover_temporary_copies_are_removed_at_the_worker_boot_sweep() {
    leftover_temporary_copies_are_removed(true).await;
}

/// Stale `.partial-<hex>` copies go, live ones and other files stay, at
/// the store's first use or (`at_boot`) at the worker's boot sweep.
async fn leftover_temporary_copies_are_removed(at_boot: bool) {
    let dir = tempfile::tempdir().unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let write = |rel: &str, modified: Option<std::time::SystemTime>| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(4096).unwrap();
        if let Some(t) = modified {
            file.set_modified(t).unwrap();
        }
        path
    };
    let leftovers = [
        write("sealed/.s-t01000-7.partial-0123456789abcdef", Some(old)),
        write(
            "cache/s-t01000-7/.p_aux.partial-fedcba9876543210",
            Some(old),
        ),
    ];
    let kept = [
        // Being written by another worker sharing the directory.
        write("sealed/.s-t01000-9.partial-00000000000000ff", None),
        // Not temporary copies.
        write("sealed/s-t01000-8", Some(old)),
        write("cache/s-t01000-8/.p_aux.partial-notahexsuffix!", Some(old)),
    ];
    let store = LocalPersistStore::new("restarted", dir.path());
    if at_boot {
        // The worker's boot sweeps before any sector is persisted.
        store.sweep_leftovers();
    } else {
        // Its first use (the executor asks for free space).
        store.available().await.unwrap();
    }
    for path in &leftovers {
        assert!(!path.exists(), "{} left behind", path.display());
    }
    for path in &kept {
        assert!(path.exists(), "{} removed", path.display());
    }
    // On demand, with no age limit, the live one goes too.
    assert_eq!(store.remove_partials(std::time::Duration::ZERO).unwrap(), 1);
}
