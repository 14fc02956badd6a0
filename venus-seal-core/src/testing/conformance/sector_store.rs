//! The [`SectorStore`] suite: save, replace, load back in job order, and
//! every field survives the round trip.

use crate::sector::{Event, SectorRecord, SectorState};
use crate::store::SectorStore;
use crate::types::randomness::{Randomness, Ticket};

/// Checks a [`SectorStore`]: save, replace, load back in job order, and
/// every field survives the round trip. Call with an empty store.
pub async fn sector_store(store: &dyn SectorStore) {
    assert!(
        store.load_all().await.unwrap().is_empty(),
        "the store must start empty"
    );
    let mut a = SectorRecord::new(2);
    let b = SectorRecord::new(1);
    store.save(&a).await.unwrap();
    store.save(&b).await.unwrap();

    a.apply(Event::Allocated(crate::manager::AllocatedSector {
        id: crate::SectorId::new(crate::ActorId(1000), crate::SectorNumber(7)),
        proof_type: crate::SealProof::StackedDrg2KiBV1_1,
    }))
    .unwrap();
    a.apply(Event::DealsAcquired(vec![])).unwrap();
    a.ticket = Some(Ticket {
        ticket: Randomness([7; 32]),
        epoch: 99,
    });
    a.failure = Some(crate::Failure::new(crate::FailureLevel::Temporary, "flaky"));
    a.retry.retries = 3;
    store.save(&a).await.unwrap();

    let all = store.load_all().await.unwrap();
    assert_eq!(all.len(), 2, "saving a job again replaces it");
    assert_eq!(all[0], b, "records come back in job order");
    assert_eq!(all[1], a, "every field survives");
    assert_eq!(all[1].state, SectorState::DealsAcquired);
}
