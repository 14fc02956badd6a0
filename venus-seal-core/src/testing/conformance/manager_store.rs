//! The [`ManagerStore`] suite: number allocation (no gap, no reuse, per
//! miner, concurrent), compare-and-swap updates, the submission queue and
//! the deal queue (order, miner restrictions, fit, requeue, concurrent
//! takers). [`manager_store`] runs every part, each on a fresh store.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::manager::{AcquireDealsSpec, DealInfo};
use crate::manager_store::{ManagerStore, NumberRange, SectorStatus, Submitted};
use crate::{
    ActorId, CommD, PaddedPieceSize, PieceInfo, SealProof, SectorId, SectorNumber, SectorSize,
};

const M1: ActorId = ActorId(1000);
const M2: ActorId = ActorId(1001);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

fn status() -> SectorStatus {
    SectorStatus::new(PROOF)
}

/// A deal of `size` padded bytes whose piece CID is `[id; 32]`.
pub fn deal(id: u64, size: u64) -> DealInfo {
    DealInfo {
        id,
        piece: PieceInfo {
            size: PaddedPieceSize(size),
            cid: CommD([id as u8; 32]),
        },
    }
}

/// Allocation: from the range start, without gaps, per miner, refusing
/// past the range end; a raised start skips ahead.
pub async fn allocation(store: &dyn ManagerStore) {
    let r = NumberRange::new(1, 3).unwrap();
    for want in 1..=3 {
        let n = store.allocate(M1, r, &status()).await.unwrap();
        assert_eq!(n, Some(SectorNumber(want)));
    }
    assert_eq!(store.allocate(M1, r, &status()).await.unwrap(), None);
    // Another miner has its own sequence, from its own start.
    let r2 = NumberRange::new(100, 200).unwrap();
    assert_eq!(
        store.allocate(M2, r2, &status()).await.unwrap(),
        Some(SectorNumber(100))
    );
    // Raising the start skips ahead; widening the end continues.
    let wider = NumberRange::new(1, 10).unwrap();
    assert_eq!(
        store.allocate(M1, wider, &status()).await.unwrap(),
        Some(SectorNumber(4))
    );
    let raised = NumberRange::new(50, 60).unwrap();
    assert_eq!(
        store.allocate(M1, raised, &status()).await.unwrap(),
        Some(SectorNumber(50))
    );
    // Lowering it again never reuses a number.
    assert_eq!(
        store.allocate(M1, wider, &status()).await.unwrap(),
        None,
        "51 is past the end of 1..=10"
    );
    assert_eq!(store.sector_count().await.unwrap(), 6);
    let held = store
        .load(SectorId::new(M1, SectorNumber(2)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.version, 1);
    assert_eq!(held.value, status());
    assert!(store
        .load(SectorId::new(M1, SectorNumber(5)))
        .await
        .unwrap()
        .is_none());
}

/// Many concurrent allocations: every number once, no gap.
pub async fn concurrent_allocation(store: Arc<dyn ManagerStore>) {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..8 {
                let n = store
                    .allocate(M1, NumberRange::ALL, &status())
                    .await
                    .unwrap()
                    .unwrap();
                got.push(n.0);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let set: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(set.len(), all.len(), "a number was handed out twice");
    assert_eq!(set, (1..=128).collect(), "numbers with a gap");
}

/// Compare-and-swap updates and the queue of submissions.
pub async fn versioned_updates(store: &dyn ManagerStore) {
    let n = store
        .allocate(M1, NumberRange::ALL, &status())
        .await
        .unwrap()
        .unwrap();
    let id = SectorId::new(M1, n);
    let mut s = status();
    s.persisted_at = Some("store-a".into());
    assert!(store.update(id, &s, 1).await.unwrap());
    assert!(
        !store.update(id, &status(), 1).await.unwrap(),
        "stale version"
    );
    let held = store.load(id).await.unwrap().unwrap();
    assert_eq!(
        (held.version, held.value.persisted_at.as_deref()),
        (2, Some("store-a"))
    );
    let unknown = SectorId::new(M1, SectorNumber(999));
    assert!(!store.update(unknown, &s, 1).await.unwrap());

    assert!(store.queued().await.unwrap().is_empty());
    s.proof = Some(Submitted::queued(crate::stage::Proof {
        proof: vec![1, 2, 3],
    }));
    assert!(s.has_queued_submission());
    assert!(store.update(id, &s, 2).await.unwrap());
    let queued = store.queued().await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0, id);
    assert_eq!(queued[0].1.version, 3);
    if let Some(p) = s.proof.as_mut() {
        p.message = Some(crate::chain::MessageId("m1".into()));
    }
    assert!(store.update(id, &s, 3).await.unwrap());
    assert!(store.queued().await.unwrap().is_empty());
}

/// The deal queue: order, miner restrictions, fit, requeue at the head.
pub async fn deals(store: &dyn ManagerStore) {
    let size = SectorSize(2048);
    let spec = AcquireDealsSpec::default();
    store.queue_deal(None, &deal(1, 1024)).await.unwrap();
    store.queue_deal(Some(M2), &deal(2, 512)).await.unwrap();
    store.queue_deal(None, &deal(3, 2048)).await.unwrap();
    store.queue_deal(None, &deal(4, 512)).await.unwrap();
    assert_eq!(store.queued_deals().await.unwrap(), 4);

    let got = store.take_deals(M1, size, spec).await.unwrap();
    assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), vec![1, 4]);
    store.requeue_deals(M1, &got).await.unwrap();
    let again = store.take_deals(M2, size, spec).await.unwrap();
    assert!(
        again.is_empty() || again[0].id != 1,
        "requeued deals are M1's"
    );
    if !again.is_empty() {
        store.requeue_deals(M2, &again).await.unwrap();
    }
    let got = store.take_deals(M1, size, spec).await.unwrap();
    assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), vec![1, 4]);

    let min = AcquireDealsSpec {
        max_deals: None,
        min_used_space: Some(2048),
    };
    assert!(store
        .take_deals(M1, size, min)
        .await
        .unwrap()
        .iter()
        .all(|d| d.id == 3));
    assert_eq!(store.take_deals(M2, size, spec).await.unwrap().len(), 1);
    assert_eq!(store.queued_deals().await.unwrap(), 0);
}

/// Two concurrent takers never get the same deal.
pub async fn concurrent_deals(store: Arc<dyn ManagerStore>) {
    for id in 0..40 {
        store.queue_deal(None, &deal(id, 1024)).await.unwrap();
    }
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let deals = store
                    .take_deals(ActorId(1000 + t % 2), SectorSize(2048), Default::default())
                    .await
                    .unwrap();
                if deals.is_empty() {
                    return got;
                }
                got.extend(deals.into_iter().map(|d| d.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let set: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(set.len(), all.len(), "a deal was handed out twice");
    assert_eq!(set, (0..40).collect());
}

/// Runs the whole suite on stores made by `make` (a fresh, empty store per
/// call; the concurrent parts need a multi-threaded runtime to mean
/// anything: `#[tokio::test(flavor = "multi_thread")]`).
pub async fn manager_store<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn ManagerStore>>,
{
    allocation(&*make().await).await;
    concurrent_allocation(make().await).await;
    versioned_updates(&*make().await).await;
    deals(&*make().await).await;
    concurrent_deals(make().await).await;
}
