//! The [`ManagerStore`] suite: number allocation (no gap, no reuse, per
//! miner, concurrent), compare-and-swap updates, the submission queue, paging through
//! every sector, and
//! the deal queue (order, miner restrictions, fit, concurrent takers,
//! deals handed out and recorded in one step even when the call is
//! cancelled, an aborted sector's deals requeued or marked expired). [`manager_store`] runs every part, each on a fresh store.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::manager::{AcquireDealsSpec, DealInfo};
use crate::manager_store::{
    DealActivation, ManagerStore, ManagerStoreError, NumberRange, SectorStatus, Submitted,
    Versioned,
};
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
        allocation: None,
    }
}

/// The number `store` allocates to a new sector of `miner` in `range`
/// (holding [`status`]), under `key`.
async fn allocate(
    store: &dyn ManagerStore,
    miner: ActorId,
    range: NumberRange,
    key: Option<&str>,
) -> Option<SectorNumber> {
    store.allocate(miner, range, &status(), key).await.unwrap()
}

/// Allocation: from the range start, without gaps, per miner, refusing
/// past the range end; a raised start skips ahead.
pub async fn allocation(store: &dyn ManagerStore) {
    let r = NumberRange::new(1, 3).unwrap();
    for want in 1..=3 {
        let n = allocate(store, M1, r, None).await;
        assert_eq!(n, Some(SectorNumber(want)));
    }
    assert_eq!(allocate(store, M1, r, None).await, None);
    // Another miner has its own sequence, from its own start.
    let r2 = NumberRange::new(100, 200).unwrap();
    assert_eq!(allocate(store, M2, r2, None).await, Some(SectorNumber(100)));
    // Raising the start skips ahead; widening the end continues.
    let wider = NumberRange::new(1, 10).unwrap();
    assert_eq!(
        allocate(store, M1, wider, None).await,
        Some(SectorNumber(4))
    );
    let raised = NumberRange::new(50, 60).unwrap();
    assert_eq!(
        allocate(store, M1, raised, None).await,
        Some(SectorNumber(50))
    );
    // Lowering it again never reuses a number.
    assert_eq!(
        allocate(store, M1, wider, None).await,
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

/// Keyed allocation: a key answered once gets the same number again
/// (nothing new is taken or written), other keys and unkeyed calls get new
/// numbers, and a key held by another miner answers `None` there.
pub async fn keyed_allocation(store: &dyn ManagerStore) {
    let all = NumberRange::ALL;
    let first = allocate(store, M1, all, Some("w1/job-1")).await;
    assert_eq!(first, Some(SectorNumber(1)));
    let mut changed = status();
    changed.aborted = Some("must not be written by a repeated key".into());
    assert_eq!(
        store
            .allocate(M1, all, &changed, Some("w1/job-1"))
            .await
            .unwrap(),
        first,
        "a repeated key must answer its sector again"
    );
    let held = store
        .load(SectorId::new(M1, SectorNumber(1)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (held.value, held.version),
        (status(), 1),
        "a repeated key rewrote the sector"
    );
    assert_eq!(
        allocate(store, M1, all, Some("w1/job-2")).await,
        Some(SectorNumber(2))
    );
    assert_eq!(allocate(store, M1, all, None).await, Some(SectorNumber(3)));
    assert_eq!(
        allocate(store, M2, all, Some("w1/job-1")).await,
        None,
        "a key answered for another miner"
    );
    assert_eq!(
        allocate(store, M1, all, Some("w1/job-2")).await,
        Some(SectorNumber(2))
    );
    assert_eq!(store.sector_count().await.unwrap(), 3);
    // A key answered before the range was used up still answers.
    let one = NumberRange::new(1, 1).unwrap();
    assert_eq!(
        allocate(store, M1, one, Some("w1/job-1")).await,
        Some(SectorNumber(1))
    );
}

/// What concurrent `tasks` took, together; fails when one was taken
/// twice (`what`: "a number", "a deal").
async fn taken_once(tasks: Vec<tokio::task::JoinHandle<Vec<u64>>>, what: &str) -> BTreeSet<u64> {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let set: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(set.len(), all.len(), "{what} was handed out twice");
    set
}

/// Many concurrent allocations: every number once, no gap.
pub async fn concurrent_allocation(store: Arc<dyn ManagerStore>) {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..8 {
                got.push(new_sector(&*store, M1).await.number.0);
            }
            got
        }));
    }
    let set = taken_once(tasks, "a number").await;
    assert_eq!(set, (1..=128).collect(), "numbers with a gap");
}

/// Compare-and-swap updates and the queue of submissions.
pub async fn versioned_updates(store: &dyn ManagerStore) {
    let id = new_sector(store, M1).await;
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

/// Paging through every sector: in (miner, number) order, finished ones
/// included, `after` exclusive, `limit` honoured; the history a record
/// carries comes back whole.
pub async fn listing(store: &dyn ManagerStore) {
    assert!(store.sectors(None, 10).await.unwrap().is_empty());
    let mut ids = Vec::new();
    for miner in [M2, M1, M2, M1, M1] {
        ids.push(new_sector(store, miner).await);
    }
    ids.sort();
    let done = ids[1];
    let mut s = status();
    s.finalized = true;
    s.record(crate::manager_store::SectorEvent::manager(
        1_700_000_000,
        "Finalized",
        "the worker reported it finalized",
    ));
    assert!(store.update(done, &s, 1).await.unwrap());

    let all = store.sectors(None, 100).await.unwrap();
    assert_eq!(all.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
    let held = &all[1].1.value;
    assert_eq!((held.finalized, held.history.len()), (true, 1));
    assert_eq!(held.history[0].next, "Finalized");
    assert_eq!(held.pipeline_state(), "Finalized");
    assert_eq!(all[0].1.value.pipeline_state(), "Allocated");

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.sectors(after, 2).await.unwrap();
        assert!(page.len() <= 2, "limit honoured");
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        paged.extend(page.into_iter().map(|(id, _)| id));
    }
    assert_eq!(paged, ids, "pages in order, none twice");
    assert_eq!(store.sectors(Some(ids[4]), 10).await.unwrap().len(), 0);
    assert_eq!(store.sectors(None, 0).await.unwrap().len(), 0);
}

/// A new sector of `miner`.
async fn new_sector(store: &dyn ManagerStore, miner: ActorId) -> SectorId {
    let n = allocate(store, miner, NumberRange::ALL, None)
        .await
        .unwrap();
    SectorId::new(miner, n)
}

/// The ids of the deals `store` hands to a new sector of `miner`.
async fn assign_new(
    store: &dyn ManagerStore,
    miner: ActorId,
    spec: AcquireDealsSpec,
) -> (SectorId, Vec<u64>) {
    let id = new_sector(store, miner).await;
    let held = assign(store, id, spec)
        .await
        .unwrap()
        .expect("the sector exists");
    (id, ids(held.value.deals.as_deref().unwrap_or_default()))
}

/// Hands deals that never expire to the 2 KiB `sector`, taken as `spec`
/// asks.
async fn assign(
    store: &dyn ManagerStore,
    sector: SectorId,
    spec: AcquireDealsSpec,
) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError> {
    store
        .assign_deals(
            sector,
            SectorSize(2048),
            spec,
            DealActivation::NEVER_EXPIRES,
        )
        .await
}

fn ids(deals: &[DealInfo]) -> Vec<u64> {
    deals.iter().map(|d| d.id).collect()
}

/// The deal queue: order, miner restrictions, fit, the minimum used
/// space.
pub async fn deals(store: &dyn ManagerStore) {
    let spec = AcquireDealsSpec::default();
    store.queue_deal(None, &deal(1, 1024), None).await.unwrap();
    store
        .queue_deal(Some(M2), &deal(2, 512), None)
        .await
        .unwrap();
    store.queue_deal(None, &deal(3, 2048), None).await.unwrap();
    store.queue_deal(None, &deal(4, 512), None).await.unwrap();
    assert_eq!(store.queued_deals().await.unwrap(), 4);

    assert_eq!(assign_new(store, M1, spec).await.1, vec![1, 4]);
    assert_eq!(store.queued_deals().await.unwrap(), 2);
    let min = AcquireDealsSpec {
        max_deals: None,
        min_used_space: Some(4096),
    };
    assert!(
        assign_new(store, M1, min).await.1.is_empty(),
        "not enough space used"
    );
    let one = AcquireDealsSpec {
        max_deals: Some(1),
        min_used_space: None,
    };
    assert_eq!(assign_new(store, M2, one).await.1, vec![2]);
    assert_eq!(assign_new(store, M1, spec).await.1, vec![3]);
    assert_eq!(store.queued_deals().await.unwrap(), 0);
    assert!(assign_new(store, M1, spec).await.1.is_empty());
    assert!(store.expired_deals().await.unwrap().is_empty());
}

/// Handing deals to a sector records them on it in the same step; a
/// second call gets the same deals; an aborted or unknown sector gets
/// none and takes none.
pub async fn deal_assignment(store: &dyn ManagerStore) {
    let spec = AcquireDealsSpec::default();
    for id in 1..=4 {
        store.queue_deal(None, &deal(id, 1024), None).await.unwrap();
    }
    let id = new_sector(store, M1).await;
    let held = assign(store, id, spec).await.unwrap().unwrap();
    assert_eq!(held.version, 2, "the record was written once");
    assert_eq!(ids(held.value.deals.as_deref().unwrap()), vec![1, 2]);
    assert_eq!(store.load(id).await.unwrap(), Some(held.clone()));
    let again = assign(store, id, spec).await.unwrap();
    assert_eq!(again, Some(held), "the deals it already holds");
    assert_eq!(store.queued_deals().await.unwrap(), 2);

    let gone = new_sector(store, M1).await;
    let mut aborted = status();
    aborted.aborted = Some("disk full".into());
    assert!(store.update(gone, &aborted, 1).await.unwrap());
    let held = assign(store, gone, spec).await.unwrap().unwrap();
    assert_eq!(
        (held.version, held.value.deals),
        (2, None),
        "an aborted sector takes no deal"
    );
    let unknown = SectorId::new(M1, SectorNumber(999));
    assert_eq!(assign(store, unknown, spec).await.unwrap(), None);
    assert_eq!(store.queued_deals().await.unwrap(), 2);
}

/// Releasing an aborted sector's deals, in the same step as recording the
/// abort: still valid ones go back to their place in the queue and to the
/// next sector; one that can no longer be activated is marked expired
/// with the reason; a stale version releases nothing; deals a record of
/// an earlier release holds (no ledger rows) go back too.
pub async fn deal_release(store: &dyn ManagerStore) {
    let spec = AcquireDealsSpec::default();
    store.queue_deal(None, &deal(1, 512), None).await.unwrap();
    store
        .queue_deal(None, &deal(2, 512), Some(1000))
        .await
        .unwrap();
    store
        .queue_deal(None, &deal(3, 512), Some(5000))
        .await
        .unwrap();
    store.queue_deal(None, &deal(4, 2048), None).await.unwrap();
    let (first, got) = assign_new(store, M1, spec).await;
    assert_eq!(got, vec![1, 2, 3]);

    let held = store.load(first).await.unwrap().unwrap();
    let mut aborted = held.value.clone();
    aborted.aborted = Some("pre-commit expired".into());
    aborted.deals = None;
    let late = DealActivation {
        head: 900,
        earliest: 1050,
    };
    assert_eq!(
        store
            .release_deals(first, &aborted, held.version - 1, late)
            .await
            .unwrap(),
        None,
        "a stale version releases nothing"
    );
    assert_eq!(store.queued_deals().await.unwrap(), 1);
    let released = store
        .release_deals(first, &aborted, held.version, late)
        .await
        .unwrap()
        .expect("at its version");
    assert_eq!(ids(&released.requeued), vec![1, 3]);
    assert_eq!(released.expired.len(), 1);
    let expired = &released.expired[0];
    assert_eq!((expired.deal.id, expired.start_epoch), (2, Some(1000)));
    for part in ["1000", "1050"] {
        assert!(expired.reason.contains(part), "{}", expired.reason);
    }
    assert_eq!(store.expired_deals().await.unwrap(), released.expired);
    let after = store.load(first).await.unwrap().unwrap();
    assert_eq!((after.version, &after.value), (held.version + 1, &aborted));
    assert_eq!(store.queued_deals().await.unwrap(), 3);

    // Back at their old place: ahead of deal 4, for the next sector.
    let (second, got) = assign_new(store, M2, spec).await;
    assert_eq!(got, vec![1, 3], "requeued deals go to the next sector");
    assert_eq!(assign_new(store, M1, spec).await.1, vec![4]);

    // A queued deal that can no longer be activated is not handed out.
    store
        .queue_deal(None, &deal(5, 512), Some(2000))
        .await
        .unwrap();
    let third = new_sector(store, M1).await;
    let held = store
        .assign_deals(
            third,
            SectorSize(2048),
            spec,
            DealActivation {
                head: 2900,
                earliest: 3050,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.value.deals, Some(vec![]));
    let expired = store.expired_deals().await.unwrap();
    assert_eq!(
        ids(&expired.iter().map(|e| e.deal.clone()).collect::<Vec<_>>()),
        vec![2, 5]
    );
    assert!(expired[1].reason.contains("2000"), "{}", expired[1].reason);
    assert_eq!(store.queued_deals().await.unwrap(), 0);

    // A record holding deals without ledger rows (written by a release
    // that deleted taken deals from the queue).
    let legacy = new_sector(store, M1).await;
    let mut old = status();
    old.deals = Some(vec![deal(9, 1024)]);
    assert!(store.update(legacy, &old, 1).await.unwrap());
    old.aborted = Some("worker gave up".into());
    let released = store
        .release_deals(legacy, &old, 2, DealActivation::NEVER_EXPIRES)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids(&released.requeued), vec![9]);
    assert_eq!(assign_new(store, M1, spec).await.1, vec![9]);
    // The second sector's deals were never released: still its own.
    let held = store.load(second).await.unwrap().unwrap();
    assert_eq!(ids(held.value.deals.as_deref().unwrap()), vec![1, 3]);
}

/// Concurrent takers never get the same deal, and concurrent calls for
/// one sector agree on its deals.
pub async fn concurrent_deals(store: Arc<dyn ManagerStore>) {
    for id in 0..40 {
        store.queue_deal(None, &deal(id, 1024), None).await.unwrap();
    }
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut empty = 0;
            // Give up after a few empty sectors (on PostgreSQL, a taker
            // skips the rows another one holds locked).
            while empty < 3 {
                let (_, deals) =
                    assign_new(&*store, ActorId(1000 + t % 2), Default::default()).await;
                if deals.is_empty() {
                    empty += 1;
                }
                got.extend(deals);
            }
            got
        }));
    }
    let set = taken_once(tasks, "a deal").await;
    assert_eq!(set, (0..40).collect());

    // Many calls for one sector: one set of deals, taken once.
    for id in 40..44 {
        store.queue_deal(None, &deal(id, 1024), None).await.unwrap();
    }
    let sector = new_sector(&*store, M1).await;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                assign(&*store, sector, Default::default())
                    .await
                    .unwrap()
                    .unwrap()
                    .value
                    .deals
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().as_deref().map(ids), Some(vec![40, 41]));
    }
    assert_eq!(store.queued_deals().await.unwrap(), 2);
}

/// A call handing deals to a sector, cancelled at any point (a manager
/// killed mid-way, a dropped request), leaves every deal either queued
/// or recorded on exactly one sector: never taken from the queue without
/// being recorded.
pub async fn cancelled_assignment_loses_no_deal(store: Arc<dyn ManagerStore>) {
    const DEALS: u64 = 60;
    for id in 0..DEALS {
        store.queue_deal(None, &deal(id, 1024), None).await.unwrap();
    }
    let mut sectors = Vec::new();
    for k in 0..40u32 {
        let sector = new_sector(&*store, M1).await;
        sectors.push(sector);
        let call = {
            let store = Arc::clone(&store);
            tokio::spawn(async move { assign(&*store, sector, Default::default()).await })
        };
        // Cancel after a varying number of scheduler turns (and, now and
        // then, a little wall time), wherever the call then is.
        for _ in 0..k % 8 {
            tokio::task::yield_now().await;
        }
        if k % 5 == 4 {
            tokio::time::sleep(std::time::Duration::from_micros(200 * u64::from(k))).await;
        }
        call.abort();
        let _ = call.await;

        let mut on_sectors = Vec::new();
        for s in &sectors {
            let held = store.load(*s).await.unwrap().unwrap();
            on_sectors.extend(ids(held.value.deals.as_deref().unwrap_or_default()));
        }
        let unique: BTreeSet<u64> = on_sectors.iter().copied().collect();
        assert_eq!(unique.len(), on_sectors.len(), "a deal is on two sectors");
        let queued = store.queued_deals().await.unwrap();
        assert_eq!(
            queued + on_sectors.len() as u64,
            DEALS,
            "after cancelling call {k}: {queued} queued and {} on sectors",
            on_sectors.len()
        );
    }
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
    keyed_allocation(&*make().await).await;
    concurrent_allocation(make().await).await;
    versioned_updates(&*make().await).await;
    listing(&*make().await).await;
    deals(&*make().await).await;
    deal_assignment(&*make().await).await;
    deal_release(&*make().await).await;
    concurrent_deals(make().await).await;
    cancelled_assignment_loses_no_deal(make().await).await;
}
