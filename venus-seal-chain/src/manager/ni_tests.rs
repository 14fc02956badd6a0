//! Non-interactive PoRep sectors through the manager and the devnet (fake
//! proofs): the pre-commit is recorded and never sent, the seed is the
//! actors' fixed one at once, the proof goes out as one
//! `ProveCommitSectorsNI` per sector and activates the sector without a
//! pre-commit; a sector with data, a proof that does not verify and a
//! ticket from the future are refused.

use std::sync::Arc;

use venus_seal_core::chain::{MinerCall, NiProveCommit, NiSector, NI_SEED};
use venus_seal_core::manager::{AllocateSpec, OnChainState, PreCommitOnChainInfo, SubmitResult};
use venus_seal_core::{ActorId, ChainClient, CommD, CommR, SealProof, SectorManager, SectorNumber};

use super::LocalSectorManager;
use crate::testing::{execute_call, fake_seal_proof};
use crate::DevnetChain;

const M1: ActorId = ActorId(1000);
const NI: SealProof = SealProof::StackedDrg2KiBV1_2_Feat_NonInteractivePoRep;

fn setup() -> (Arc<DevnetChain>, Arc<LocalSectorManager>) {
    super::unseal_tests::manager_for(Arc::new(super::MemoryManagerStore::new()), NI)
}

fn zero_comm_d() -> CommD {
    CommD(venus_seal_core::types::commitment::zero_commitment(2048))
}

#[tokio::test]
async fn an_ni_sector_is_activated_without_a_pre_commit_message() {
    let (chain, m) = setup();
    chain.advance(5).await;
    let s = m
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.proof_type, NI);
    let ticket = m.assign_ticket(s.id).await.unwrap();
    // Older than an interactive pre-commit's ticket may be, within the NI
    // lookback: still taken.
    chain.advance(2880 + 900 + 10).await;
    // Data is refused: NI sectors are committed capacity.
    let with_data = PreCommitOnChainInfo {
        comm_r: CommR([0xaa; 32]),
        comm_d: CommD([0xdd; 32]),
        ticket,
        deals: vec![],
    };
    let answer = m.submit_pre_commit(s, with_data, false).await.unwrap();
    assert_eq!(answer.res, SubmitResult::Rejected, "{answer:?}");
    let info = PreCommitOnChainInfo {
        comm_d: zero_comm_d(),
        ..crate::testing::pre_commit_info(ticket)
    };
    let answer = m.submit_pre_commit(s, info.clone(), false).await.unwrap();
    assert_eq!(answer.res, SubmitResult::Accepted, "{answer:?}");
    // Nothing to send: landed at once, and no pre-commit on chain ever.
    m.send_due().await.unwrap();
    chain.advance(1).await;
    let poll = m.poll_pre_commit_state(s.id).await.unwrap();
    assert_eq!(poll.state, OnChainState::Landed, "{poll:?}");
    assert!(chain.pre_commit(M1, s.id.number).await.unwrap().is_none());
    // The seed is the actors' fixed one, without a wait.
    let seed = m.wait_seed(s).await.unwrap();
    assert!(!seed.should_wait);
    assert_eq!(seed.seed.unwrap().seed, NI_SEED);
    // A proof that does not verify is refused before anything is sent.
    let bad = fake_seal_proof(s, &info, venus_seal_core::Randomness([7; 32]));
    let answer = m.submit_proof(s.id, bad, false).await.unwrap();
    assert_eq!(answer.res, SubmitResult::Rejected, "{answer:?}");
    // An operator's resend has nothing to send.
    match m.force_resend(s.id).await {
        Err(venus_seal_core::ManagerError::Rejected(why)) => {
            assert!(why.contains("non-interactive"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    // Were its proof message to fail on chain, the sector is not given
    // up for a missing pre-commit (it never has one): the message goes
    // out again.
    let rec = m.sector_status(s.id).await.unwrap().unwrap();
    assert_eq!(
        m.chain_says_abort(s.id, super::Kind::Proof, &rec)
            .await
            .unwrap(),
        None
    );
    let proof = fake_seal_proof(s, &info, NI_SEED);
    let answer = m.submit_proof(s.id, proof, true).await.unwrap();
    assert_eq!(answer.res, SubmitResult::Accepted, "{answer:?}");
    m.send_due().await.unwrap();
    chain.advance(1).await;
    let poll = m.poll_proof_state(s.id).await.unwrap();
    assert_eq!(poll.state, OnChainState::Landed, "{poll:?}");
    let on_chain = chain.sector(M1, s.id.number).await.unwrap().unwrap();
    assert_eq!(on_chain.seal_proof, NI);
    assert_eq!(on_chain.sealed_cid, info.comm_r);
}

/// The devnet checks a `ProveCommitSectorsNI` as the actors do: a ticket
/// epoch not before now, a proof type that is not NI, a sector number in
/// use and a proof that does not verify are refused.
#[tokio::test]
async fn the_devnet_refuses_bad_ni_messages() {
    let (chain, _m) = setup();
    chain.advance(10).await;
    let head = chain.head().await.unwrap();
    let dl = chain.proving_deadline(M1).await.unwrap();
    let mutable = (dl.index + 2) % dl.deadlines;
    let call = |number: u64, epoch, proof: Vec<u8>, seal_proof| {
        MinerCall::ProveCommitSectorsNI(NiProveCommit {
            sectors: vec![NiSector {
                number: SectorNumber(number),
                sealed_cid: CommR([0xaa; 32]),
                seal_rand_epoch: epoch,
                expiration: head + 600_000,
            }],
            seal_proof,
            aggregate_proof: proof,
            proving_deadline: mutable,
        })
    };
    let (code, err) = execute_call(&chain, M1, call(1, head + 5, vec![1], NI)).await;
    assert_ne!(code, 0);
    assert!(err.unwrap().contains("must be before now"));
    let (code, err) = execute_call(
        &chain,
        M1,
        call(1, head - 1, vec![1], SealProof::StackedDrg2KiBV1_1),
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.unwrap().contains("not a non-interactive"));
    let (code, err) = execute_call(&chain, M1, call(1, head - 1, vec![1, 2, 3], NI)).await;
    assert_ne!(code, 0);
    assert!(err.unwrap().contains("verif"), "bad proof");
    assert!(chain.sector(M1, SectorNumber(1)).await.unwrap().is_none());
    // The open deadline is not mutable.
    let mut open = call(1, head - 1, vec![1], NI);
    if let MinerCall::ProveCommitSectorsNI(ni) = &mut open {
        ni.proving_deadline = chain.proving_deadline(M1).await.unwrap().index;
    }
    let (code, err) = execute_call(&chain, M1, open).await;
    assert_ne!(code, 0);
    assert!(err.unwrap().contains("current"));
}

/// Deals are never handed to a non-interactive sector (it holds no
/// data): they stay queued.
#[tokio::test]
async fn an_ni_sector_takes_no_deals() {
    let (_chain, m) = setup();
    let piece = crate::testing::stand_in_piece(1, 512);
    m.add_deal(Some(M1), venus_seal_core::manager::DealInfo::new(1, piece))
        .await
        .unwrap();
    let s = m
        .allocate_sector(AllocateSpec::default())
        .await
        .unwrap()
        .unwrap();
    let deals = m
        .acquire_deals(s.id, venus_seal_core::manager::AcquireDealsSpec::default())
        .await
        .unwrap();
    assert!(deals.is_empty());
    assert_eq!(m.queued_deals().await.unwrap(), 1);
}
