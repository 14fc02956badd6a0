//! The [`PersistStore`] suite: put (empty, small, larger than one upload
//! part), read back, overwrite, delete segment-wise, and errors of the
//! documented kinds (a missing source or key is `Missing`, a malformed key
//! `InvalidTask`).
//!
//! Run it from each backend's tests, and through `Arc<dyn PersistStore>`
//! and `Box<dyn PersistStore>`. It works in a namespace of its own
//! (`conformance-<random>/…`), removed at the end, so it may run against a
//! shared store.

use std::path::Path;

use super::scratch::{fresh_u64, Scratch};
use crate::persist_store::{PersistStore, PersistStoreError};

/// What a store under test can do, where stores legitimately differ.
#[derive(Clone, Copy, Debug, Default)]
pub struct Capabilities {
    /// [`PersistStore::available`] reports a number (a directory); when
    /// false it may report `None` (an object store).
    pub reports_free_space: bool,
}

async fn read_back(store: &dyn PersistStore, key: &str, scratch: &Path) -> Vec<u8> {
    let dst = scratch.join("read-back");
    store
        .get_file(key, &dst)
        .await
        .unwrap_or_else(|e| panic!("{}: get_file({key}) failed: {e}", store.name()));
    std::fs::read(&dst).expect("reading the fetched file")
}

async fn assert_missing(store: &dyn PersistStore, key: &str, scratch: &Path) {
    match store.get_file(key, &scratch.join("gone")).await {
        Err(PersistStoreError::Missing(_)) => {}
        other => panic!(
            "{}: get_file({key}) after delete_prefix: want Missing, got {other:?}",
            store.name()
        ),
    }
}

/// Puts, reads back, overwrites and deletes files in `store`, panicking
/// on the first deviation from the [`PersistStore`] contract.
pub async fn persist_store(store: &dyn PersistStore, caps: Capabilities) {
    let name = store.name().to_string();
    let scratch = Scratch::new("persist");
    let ns = format!("conformance-{:016x}", fresh_u64());
    let sealed = format!("{ns}/sealed/s-t01000-7");
    let p_aux = format!("{ns}/cache/s-t01000-7/p_aux");
    let neighbour = format!("{ns}/cache/s-t01000-70/p_aux");

    let free = store
        .available()
        .await
        .unwrap_or_else(|e| panic!("{name}: available() failed: {e}"));
    if caps.reports_free_space {
        assert!(free.is_some(), "{name}: available() reports no free space");
    }

    // Empty, small, and larger than one upload part (8 MiB by default).
    let (empty, _) = scratch.write_random("empty", 0);
    let (small, small_bytes) = scratch.write_random("small", 1000);
    let (big, big_bytes) = scratch.write_random("big", (9 << 20) + 123);
    for (key, src, bytes) in [
        (&p_aux, &empty, &Vec::new()),
        (&neighbour, &small, &small_bytes),
        (&sealed, &big, &big_bytes),
    ] {
        store
            .put_file(key, src)
            .await
            .unwrap_or_else(|e| panic!("{name}: put_file({key}) failed: {e}"));
        assert!(
            read_back(store, key, scratch.path()).await == *bytes,
            "{name}: {key} reads back different bytes"
        );
    }

    // Overwrite with something shorter.
    store
        .put_file(&sealed, &small)
        .await
        .unwrap_or_else(|e| panic!("{name}: overwriting {sealed} failed: {e}"));
    assert!(
        read_back(store, &sealed, scratch.path()).await == small_bytes,
        "{name}: overwritten {sealed} reads back different bytes"
    );

    // delete_prefix works segment-wise, on a file or a tree.
    let cache = format!("{ns}/cache/s-t01000-7");
    store
        .delete_prefix(&cache)
        .await
        .unwrap_or_else(|e| panic!("{name}: delete_prefix({cache}) failed: {e}"));
    assert_missing(store, &p_aux, scratch.path()).await;
    assert!(
        read_back(store, &neighbour, scratch.path()).await == small_bytes,
        "{name}: delete_prefix({cache}) touched {neighbour}"
    );
    store
        .delete_prefix(&sealed)
        .await
        .unwrap_or_else(|e| panic!("{name}: delete_prefix({sealed}) failed: {e}"));
    assert_missing(store, &sealed, scratch.path()).await;
    store
        .delete_prefix(&sealed)
        .await
        .unwrap_or_else(|e| panic!("{name}: deleting nothing failed: {e}"));

    // Errors are classified.
    match store
        .put_file(&sealed, &scratch.path().join("no-such-file"))
        .await
    {
        Err(PersistStoreError::Missing(msg)) => {
            assert!(msg.contains("no-such-file"), "{name}: {msg}")
        }
        other => panic!("{name}: put_file of a missing source: want Missing, got {other:?}"),
    }
    assert_missing(store, &sealed, scratch.path()).await;
    for bad in ["", "/abs", "a//b", "a/../b", "."] {
        match store.put_file(bad, &small).await {
            Err(PersistStoreError::InvalidKey(_)) => {}
            other => panic!("{name}: key {bad:?}: want InvalidTask, got {other:?}"),
        }
    }

    store
        .delete_prefix(&ns)
        .await
        .unwrap_or_else(|e| panic!("{name}: delete_prefix({ns}) failed: {e}"));
    assert_missing(store, &neighbour, scratch.path()).await;
}
