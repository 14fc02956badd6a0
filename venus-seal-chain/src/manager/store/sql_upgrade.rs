//! A manager database written by an earlier release opens, is upgraded in
//! place and gives back every sector, number sequence and queued deal;
//! `tests/fixtures/README.md` says how the fixtures were made.

use std::path::{Path, PathBuf};

use venus_seal_core::chain::MessageId;
use venus_seal_core::manager::{
    PreCommitOnChainInfo, SectorStateChange, StateReport, WorkerIdentifier,
};
use venus_seal_core::manager_store::DealActivation;
use venus_seal_core::stage::Proof;
use venus_seal_core::{CommD, CommR, Randomness, SealProof, Seed, Ticket};

use venus_seal_core::schema::testing::{
    assert_up_to_date_and_later_refused, load_dump, write_fixture, Fixture,
};

use super::*;
use crate::manager::Submitted;
use crate::testing::fresh_postgres;
use venus_seal_core::testing::conformance::manager_store::deal;

const M1: ActorId = ActorId(1000);
const M2: ActorId = ActorId(1001);

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn ticket() -> Ticket {
    Ticket {
        ticket: Randomness([7; 32]),
        epoch: 99,
    }
}

fn pre_commit() -> PreCommitOnChainInfo {
    PreCommitOnChainInfo {
        comm_r: CommR([2; 32]),
        comm_d: CommD([1; 32]),
        ticket: ticket(),
        deals: vec![],
    }
}

/// A sector's life in the fixture: the status it was allocated with, then
/// each status it was updated to (so its version is their count).
struct Life {
    miner: ActorId,
    range: NumberRange,
    statuses: Vec<SectorStatus>,
}

/// The sectors in the fixture, in allocation order: two miners, each with
/// sectors at several steps (deals taken, pre-commit queued, pre-commit
/// sent and proof queued, finished, aborted).
fn lives() -> Vec<Life> {
    let fresh = SectorStatus::new(SealProof::StackedDrg2KiBV1_1);
    let mut with_deals = fresh.clone();
    with_deals.deals = Some(vec![deal(11, 1024)]);
    with_deals.ticket = Some(ticket());
    let mut pre_committing = with_deals.clone();
    pre_committing.pre_commit = Some(Submitted::queued(pre_commit()));
    let mut proving = pre_committing.clone();
    let mut sent = Submitted::queued(pre_commit());
    sent.message = Some(MessageId("bafy-precommit".into()));
    proving.pre_commit = Some(sent);
    proving.persisted_at = Some("store-a".into());
    proving.seed = Some(Seed {
        seed: Randomness([9; 32]),
        epoch: 250,
    });
    proving.proof = Some(Submitted::queued(Proof {
        proof: vec![0xab; 192],
    }));
    proving.last_report = Some(StateReport {
        worker: WorkerIdentifier {
            instance: "worker-a".into(),
            location: "/var/sealing/job-3".into(),
        },
        state_change: SectorStateChange {
            prev: "C1Done".into(),
            next: "C2Done".into(),
            event: Some("C2".into()),
        },
        failure: None,
    });
    let mut finished = proving.clone();
    let mut proof_sent = Submitted::queued(Proof {
        proof: vec![0xab; 192],
    });
    proof_sent.message = Some(MessageId("bafy-prove".into()));
    finished.proof = Some(proof_sent);
    finished.finalized = true;
    let mut aborted = fresh.clone();
    aborted.aborted = Some("worker: disk full".into());
    aborted.abort_requested = Some("operator".into());

    let low = NumberRange::ALL;
    let high = NumberRange::new(100, 200).unwrap();
    let life = |miner, range, statuses: &[&SectorStatus]| Life {
        miner,
        range,
        statuses: statuses.iter().map(|s| (*s).clone()).collect(),
    };
    vec![
        life(M1, low, &[&fresh, &with_deals]),
        life(M1, low, &[&fresh, &with_deals, &pre_committing]),
        life(M1, low, &[&fresh, &with_deals, &pre_committing, &proving]),
        life(M2, high, &[&fresh, &proving, &finished]),
        life(M2, high, &[&fresh, &aborted]),
        life(M2, high, &[&fresh]),
    ]
}

/// The deals queued in the fixture: (only for this miner, deal).
fn queued_deals() -> Vec<(Option<ActorId>, DealInfo)> {
    vec![
        (None, deal(7, 1024)),
        (Some(M2), deal(8, 2048)),
        (Some(M1), deal(9, 512)),
    ]
}

/// `store` filled by [`fill`], given back.
async fn filled(store: SqlManagerStore) -> SqlManagerStore {
    fill(&store).await;
    store
}

/// Fills `store` (fresh) with the fixture's content.
async fn fill(store: &SqlManagerStore) {
    for life in lives() {
        let number = store
            .allocate(life.miner, life.range, &life.statuses[0], None)
            .await
            .unwrap()
            .unwrap();
        let id = SectorId::new(life.miner, number);
        for (version, status) in life.statuses.iter().enumerate().skip(1) {
            assert!(store.update(id, status, version as u64).await.unwrap());
        }
    }
    for (miner, deal) in queued_deals() {
        store.queue_deal(miner, &deal, None).await.unwrap();
    }
}

/// Asserts that `store` holds the fixture's content, whole.
pub(super) async fn assert_holds_the_fixture(store: &SqlManagerStore) {
    let mut next = std::collections::BTreeMap::new();
    let mut queued = Vec::new();
    for life in lives() {
        let number = next.entry(life.miner).or_insert(life.range.start);
        let id = SectorId::new(life.miner, SectorNumber(*number));
        *number += 1;
        let want = Versioned {
            value: life.statuses.last().unwrap().clone(),
            version: life.statuses.len() as u64,
        };
        if want.value.has_queued_submission() {
            queued.push((id, want.clone()));
        }
        assert_eq!(store.load(id).await.unwrap(), Some(want), "sector {id}");
    }
    assert_eq!(store.sector_count().await.unwrap(), lives().len() as u64);
    assert_eq!(store.queued().await.unwrap(), queued);
    assert_eq!(store.queued_deals().await.unwrap(), 3);
    // Number sequences and the deal queue go on where they were.
    let mut fresh = Vec::new();
    for (miner, range) in [
        (M1, NumberRange::ALL),
        (M2, NumberRange::new(100, 200).unwrap()),
    ] {
        let status = SectorStatus::new(SealProof::StackedDrg2KiBV1_1);
        let got = store.allocate(miner, range, &status, None).await.unwrap();
        assert_eq!(got, Some(SectorNumber(next[&miner])), "miner {miner}");
        fresh.push(SectorId::new(miner, got.unwrap()));
    }
    let ids = |deals: &[DealInfo]| deals.iter().map(|d| d.id).collect::<Vec<_>>();
    let assign = |sector| {
        store.assign_deals(
            sector,
            SectorSize(2048),
            Default::default(),
            DealActivation::NEVER_EXPIRES,
        )
    };
    for (sector, want) in fresh.into_iter().zip([vec![7, 9], vec![8]]) {
        let held = assign(sector).await.unwrap().unwrap();
        assert_eq!(ids(held.value.deals.as_deref().unwrap()), want);
    }
    // The old release deleted the deals it handed out: aborting the
    // sector that holds one puts it back in the queue all the same.
    let with_deals = SectorId::new(M1, SectorNumber(1));
    let held = store.load(with_deals).await.unwrap().unwrap();
    let mut aborted = held.value.clone();
    aborted.aborted = Some("worker gave up".into());
    aborted.deals = None;
    let released = store
        .release_deals(
            with_deals,
            &aborted,
            held.version,
            DealActivation::NEVER_EXPIRES,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ids(&released.requeued), vec![11]);
    assert_eq!(store.queued_deals().await.unwrap(), 1);
}

/// The fixtures' writers, run once on release 8e445b8's store code (see
/// tests/fixtures/README.md: today's code writes today's schema).
#[tokio::test]
#[ignore = "writes tests/fixtures/manager-8e445b8.db; run once with the old release"]
async fn write_the_sqlite_fixture() {
    let path = fixtures().join("manager-8e445b8.db");
    let open = || SqlManagerStore::open_sqlite(&path);
    write_fixture(
        Fixture::Sqlite(&path),
        open,
        filled,
        |s: &SqlManagerStore| &s.pool,
    )
    .await;
}

#[tokio::test]
#[ignore = "fills a PostgreSQL database to dump as a fixture"]
async fn write_the_postgres_fixture() {
    let url = fresh_postgres().await.expect("VENUS_SEAL_TEST_POSTGRES");
    let open = || SqlManagerStore::connect(&url);
    write_fixture(
        Fixture::Postgres(&url),
        open,
        filled,
        |s: &SqlManagerStore| &s.pool,
    )
    .await;
}

#[tokio::test]
async fn a_sqlite_database_of_the_release_before_migrations_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manager.db");
    std::fs::copy(fixtures().join("manager-8e445b8.db"), &path).unwrap();
    let names = [
        "the manager store",
        "manager.db",
        "newer release",
        "2004",
        "2003",
    ];
    assert_upgraded(|| SqlManagerStore::open_sqlite(&path), &names).await;
}

#[tokio::test]
async fn a_postgres_database_of_the_release_before_migrations_keeps_everything() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    load_dump(&url, &fixtures().join("manager-8e445b8.postgres.sql")).await;
    let names = ["the manager store", "newer release", "2004", "2003"];
    assert_upgraded(|| SqlManagerStore::connect(&url), &names).await;
}

/// The fixture `open` opens (and upgrades) holds every sector, sequence
/// and deal; opened again it is up to date; a later release's version is
/// refused naming `names`.
async fn assert_upgraded<O, F, E>(open: O, names: &[&str])
where
    O: Fn() -> F,
    F: std::future::Future<Output = Result<SqlManagerStore, E>>,
    E: std::fmt::Display + std::fmt::Debug,
{
    let store = open().await.unwrap();
    assert_eq!(store.sector_count().await.unwrap(), lives().len() as u64);
    assert_holds_the_fixture(&store).await;
    store.pool.close().await;
    assert_up_to_date_and_later_refused(
        open,
        |s: &SqlManagerStore| &s.pool,
        &[2001, 2002, 2003],
        names,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn managers_starting_at_once_on_a_new_postgres_database_migrate_it_once() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    let opens = (0..6).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { SqlManagerStore::connect(&url).await.unwrap() })
    });
    for open in opens.collect::<Vec<_>>() {
        open.await.unwrap();
    }
    let store = SqlManagerStore::connect(&url).await.unwrap();
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert_eq!(versions, [2001, 2002, 2003]);
}
