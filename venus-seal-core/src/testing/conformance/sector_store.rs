//! The [`SectorStore`] suite: save, replace, load back in job order, and
//! every field survives the round trip; the bounded-growth rules (large
//! outputs dropped once a sector is finished or aborted, unfinished
//! records and a light listing on their own).

use crate::sector::{Event, SectorRecord, SectorState};
use crate::stage::{Opaque, Proof};
use crate::store::{LargeOutputs, SectorStore};
use crate::types::randomness::{Randomness, Ticket};

/// A stage output of about `bytes` bytes of JSON.
fn output(tag: &str, bytes: usize) -> Opaque {
    Opaque::encode(&serde_json::json!({ "tag": tag, "data": "x".repeat(bytes) }))
        .expect("encoding a test output")
}

/// The jobs of the records `store` loads to resume
/// ([`SectorStore::load_unfinished`]), in its order.
pub async fn unfinished_jobs(store: &dyn SectorStore) -> Vec<u64> {
    let records = store.load_unfinished().await.unwrap();
    records.iter().map(|r| r.job).collect()
}

/// Checks a [`SectorStore`]: save, replace, load back in job order, and
/// every field survives the round trip; then the bounded-growth rules of
/// the [`store`](crate::store) module. Call with an empty store.
pub async fn sector_store(store: &dyn SectorStore) {
    round_trip(store).await;
    bounded_growth(store).await;
}

async fn round_trip(store: &dyn SectorStore) {
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

/// Jobs 3 (sealing, then finished) and 4 (aborted) on top of jobs 1 and 2
/// of [`round_trip`].
async fn bounded_growth(store: &dyn SectorStore) {
    let mut sealing = SectorRecord::new(3);
    sealing.state = SectorState::C1Done;
    sealing.pc1_output = Some(output("pc1", 4 << 10));
    sealing.c1_output = Some(output("c1", 256 << 10));
    store.save(&sealing).await.unwrap();
    let mut aborted = SectorRecord::new(4);
    aborted.state = SectorState::PC2Done;
    aborted.pc1_output = Some(output("pc1 of 4", 1 << 10));
    store.save(&aborted).await.unwrap();

    assert_eq!(
        store.load(3).await.unwrap().as_ref(),
        Some(&sealing),
        "an unfinished record loads with its large outputs"
    );
    assert_eq!(
        store.load(99).await.unwrap(),
        None,
        "an unknown job is None"
    );
    let unfinished = store.load_unfinished().await.unwrap();
    let jobs: Vec<u64> = unfinished.iter().map(|r| r.job).collect();
    assert_eq!(jobs, [1, 2, 3, 4], "unfinished records, by job");
    assert_eq!(
        unfinished[2], sealing,
        "load_unfinished keeps large outputs"
    );
    let listed = store.list().await.unwrap();
    let mut light = sealing.clone();
    LargeOutputs::strip(&mut light);
    assert_eq!(
        listed[2], light,
        "list leaves large outputs out, nothing else"
    );

    // The proof lands: the large outputs are dropped, the rest is kept.
    sealing
        .apply(Event::C2Done(Proof {
            proof: vec![0xab; 192],
        }))
        .unwrap();
    store.save(&sealing).await.unwrap();
    assert_eq!(
        store.load(3).await.unwrap().as_ref(),
        Some(&sealing),
        "the C1 output is kept until the sector is finished"
    );
    sealing.apply(Event::ProofSubmitted).unwrap();
    sealing.apply(Event::Finished).unwrap();
    store.save(&sealing).await.unwrap();
    aborted.apply(Event::Aborted("operator".into())).unwrap();
    store.save(&aborted).await.unwrap();

    let mut finished = sealing.clone();
    LargeOutputs::strip(&mut finished);
    assert_eq!(
        store.load(3).await.unwrap().as_ref(),
        Some(&finished),
        "a finished record is kept without its large outputs"
    );
    let mut gave_up = aborted.clone();
    LargeOutputs::strip(&mut gave_up);
    assert_eq!(store.load(4).await.unwrap().as_ref(), Some(&gave_up));
    assert_eq!(
        unfinished_jobs(store).await,
        [1, 2],
        "terminal records are not loaded to resume"
    );
    let listed = store.list().await.unwrap();
    let states: Vec<(u64, SectorState)> = listed.iter().map(|r| (r.job, r.state)).collect();
    assert_eq!(
        states,
        [
            (1, SectorState::Empty),
            (2, SectorState::DealsAcquired),
            (3, SectorState::Finished),
            (4, SectorState::Aborted),
        ],
        "list gives every record, terminal ones included"
    );
    assert_eq!(listed[2], finished);
    assert_eq!(store.load_all().await.unwrap().len(), 4);
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts.total(), 4);
    assert_eq!(counts.last_job, Some(4));
    assert_eq!(counts.by_state.get(&SectorState::Finished), Some(&1));
    assert_eq!(counts.by_state.get(&SectorState::Aborted), Some(&1));
}
