use std::sync::Arc;
use std::time::Duration;

use venus_seal_core::chain::{
    MessageId, MessageState, MinerCall, MinerMessage, OnChainPreCommit, PreCommitParams,
    ProveCommitParams,
};
use venus_seal_core::stage::Proof;
use venus_seal_core::{
    ActorId, ChainClient, ChainError, CommD, CommR, DomainSeparationTag, MessageSender,
    RandomnessSource, SealProof, SealVerifyInfo, SectorId, SectorNumber,
};

use super::{ClockError, DevnetChain, DevnetConfig, DevnetMiner};
use crate::testing::FakeProofVerifier;

pub(super) const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;
const TICKETS: RandomnessSource = RandomnessSource::Tickets;
const BEACON: RandomnessSource = RandomnessSource::Beacon;
const SEAL: DomainSeparationTag = DomainSeparationTag::SealRandomness;
const INTERACTIVE: DomainSeparationTag = DomainSeparationTag::InteractiveSealChallengeSeed;

fn config(seed: u8) -> DevnetConfig {
    DevnetConfig {
        seed: [seed; 32],
        ..DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![PROOF],
        }])
    }
}

pub(super) fn chain() -> Arc<DevnetChain> {
    DevnetChain::new(config(7), Arc::new(FakeProofVerifier))
}

/// The pre-commit of sector `n` of [`MINER`] under a ticket of
/// `seal_rand_epoch`.
pub(super) fn params(n: u64, seal_rand_epoch: i64) -> PreCommitParams {
    PreCommitParams {
        sector_number: SectorNumber(n),
        seal_proof: PROOF,
        sealed_cid: CommR([n as u8; 32]),
        unsealed_cid: CommD([0xd0 | n as u8; 32]),
        seal_rand_epoch,
        deal_ids: vec![],
        expiration: 1_000_000,
    }
}

pub(super) async fn send(chain: &DevnetChain, call: MinerCall) -> MessageId {
    chain
        .send(
            &crate::lotus::new_send_uid(),
            MinerMessage::new(MINER, call),
        )
        .await
        .unwrap()
}

pub(super) async fn landed(chain: &DevnetChain, id: &MessageId) -> (i64, Option<String>) {
    match chain.state(id).await.unwrap() {
        MessageState::Landed {
            exit_code, error, ..
        } => (exit_code, error),
        other => panic!("message {id:?} not landed: {other:?}"),
    }
}

/// Pre-commits sector `n` with a ticket at head - lookback and lets it land.
async fn pre_committed(chain: &DevnetChain, n: u64) -> OnChainPreCommit {
    pre_committed_with(chain, n, |p| p).await
}

/// [`pre_committed`] with the parameters `change` makes.
pub(super) async fn pre_committed_with(
    chain: &DevnetChain,
    n: u64,
    change: impl FnOnce(PreCommitParams) -> PreCommitParams,
) -> OnChainPreCommit {
    let ticket_epoch = chain.current_epoch() - chain.network.seal_randomness_lookback;
    let id = send(
        chain,
        MinerCall::PreCommitSectorBatch2(vec![change(params(n, ticket_epoch))]),
    )
    .await;
    chain.advance(1).await;
    assert_eq!(landed(chain, &id).await, (0, None));
    chain
        .pre_commit(MINER, SectorNumber(n))
        .await
        .unwrap()
        .unwrap()
}

/// The proof the fake verifier accepts, for randomness drawn at the given
/// ticket and seed epochs.
pub(super) fn proof_with(
    chain: &DevnetChain,
    pc: &OnChainPreCommit,
    ticket_epoch: i64,
    seed_epoch: i64,
) -> Proof {
    let entropy = MINER.address_cbor();
    FakeProofVerifier::proof_for(&SealVerifyInfo {
        proof_type: pc.info.seal_proof,
        sector: SectorId::new(MINER, pc.info.sector_number),
        comm_r: pc.info.sealed_cid,
        comm_d: pc.info.unsealed_cid,
        ticket: chain.draw(TICKETS, SEAL, ticket_epoch, &entropy).unwrap(),
        seed: chain
            .draw(BEACON, INTERACTIVE, seed_epoch, &entropy)
            .unwrap(),
        proof: vec![],
    })
}

pub(super) fn seed_epoch(chain: &DevnetChain, pc: &OnChainPreCommit) -> i64 {
    pc.pre_commit_epoch + chain.network.pre_commit_challenge_delay
}

fn prove(n: u64, proof: Proof) -> MinerCall {
    MinerCall::ProveCommitSectors3(vec![ProveCommitParams {
        sector_number: SectorNumber(n),
        proof,
        pieces: Vec::new(),
    }])
}

#[tokio::test]
async fn randomness_is_deterministic_per_seed() {
    let (a, b) = (chain(), chain());
    for (source, tag, epoch, entropy) in [
        (TICKETS, SEAL, 990, &b"x"[..]),
        (BEACON, INTERACTIVE, 1000, &[][..]),
        (
            TICKETS,
            DomainSeparationTag::TicketProduction,
            0,
            &[1, 2, 3][..],
        ),
    ] {
        assert_eq!(
            a.draw(source, tag, epoch, entropy).unwrap(),
            b.randomness(source, tag, epoch, entropy).await.unwrap()
        );
    }
    let other = DevnetChain::new(config(8), Arc::new(FakeProofVerifier));
    assert_ne!(
        a.draw(TICKETS, SEAL, 990, b"x").unwrap(),
        other.draw(TICKETS, SEAL, 990, b"x").unwrap(),
        "another seed, another chain"
    );
}

#[test]
fn randomness_is_domain_separated() {
    let c = chain();
    let base = c.draw(TICKETS, SEAL, 990, b"miner").unwrap();
    let variants = [
        c.draw(TICKETS, INTERACTIVE, 990, b"miner").unwrap(),
        c.draw(BEACON, SEAL, 990, b"miner").unwrap(),
        c.draw(TICKETS, SEAL, 991, b"miner").unwrap(),
        c.draw(TICKETS, SEAL, 990, b"miner2").unwrap(),
        c.draw(TICKETS, SEAL, 990, b"").unwrap(),
    ];
    for (i, v) in variants.iter().enumerate() {
        assert_ne!(*v, base, "variant {i} collides with the base draw");
        for w in &variants[i + 1..] {
            assert_ne!(v, w);
        }
    }
}

#[tokio::test]
async fn randomness_from_the_future_or_before_zero_is_rejected() {
    let c = chain();
    let head = c.head().await.unwrap();
    assert!(c.draw(TICKETS, SEAL, head, b"").is_ok());
    let err = c
        .randomness(TICKETS, SEAL, head + 1, b"")
        .await
        .unwrap_err();
    assert!(matches!(err, ChainError::Rejected(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&(head + 1).to_string()) && text.contains("head"),
        "{text}"
    );
    let err = c.draw(BEACON, SEAL, -1, b"").unwrap_err();
    assert!(err.to_string().contains("negative"), "{err}");
    c.advance(1).await;
    assert!(c.draw(TICKETS, SEAL, head + 1, b"").is_ok());
}

#[tokio::test]
async fn a_pre_commit_lands_only_when_the_next_epoch_is_produced() {
    let c = chain();
    let head = c.current_epoch();
    let id = send(
        &c,
        MinerCall::PreCommitSectorBatch2(vec![params(1, head - 5)]),
    )
    .await;
    assert_eq!(id.0, "devnet-msg-0");
    assert_eq!(c.state(&id).await.unwrap(), MessageState::Pending);
    assert_eq!(c.pre_commit(MINER, SectorNumber(1)).await.unwrap(), None);
    assert_eq!(c.pending_messages(), 1);

    assert_eq!(c.advance(1).await, head + 1);
    assert_eq!(
        c.state(&id).await.unwrap(),
        MessageState::Landed {
            epoch: head + 1,
            exit_code: 0,
            error: None
        }
    );
    let pc = c.pre_commit(MINER, SectorNumber(1)).await.unwrap().unwrap();
    assert_eq!(pc.pre_commit_epoch, head + 1);
    assert_eq!(pc.info, params(1, head - 5));
    assert_eq!(c.pending_messages(), 0);
    assert_eq!(
        c.state(&MessageId("devnet-msg-99".into())).await.unwrap(),
        MessageState::NotFound
    );
}

#[tokio::test]
async fn a_duplicate_sector_fails_the_whole_batch() {
    let c = chain();
    pre_committed(&c, 1).await;
    let t = c.current_epoch() - 5;
    let id = send(
        &c,
        MinerCall::PreCommitSectorBatch2(vec![params(2, t), params(1, t)]),
    )
    .await;
    c.advance(1).await;
    let (code, error) = landed(&c, &id).await;
    assert_ne!(code, 0);
    let error = error.unwrap();
    assert!(error.contains("sector 1 already pre-committed"), "{error}");
    assert_eq!(
        c.pre_commit(MINER, SectorNumber(2)).await.unwrap(),
        None,
        "batch is atomic"
    );

    let id = send(
        &c,
        MinerCall::PreCommitSectorBatch2(vec![params(3, t), params(3, t)]),
    )
    .await;
    c.advance(1).await;
    assert!(landed(&c, &id)
        .await
        .1
        .unwrap()
        .contains("sector 3 appears twice"));
}

#[tokio::test]
async fn pre_commit_checks_proof_type_and_ticket_epoch() {
    let c = chain();
    let head = c.current_epoch();
    let mut wrong_proof = params(1, head - 5);
    wrong_proof.seal_proof = SealProof::StackedDrg32GiBV1_1;
    let from_the_future = params(2, head + 1);
    let too_old = params(3, head + 1 - 2880 - 900 - 1);
    let mut ids = Vec::new();
    for p in [wrong_proof, from_the_future, too_old] {
        ids.push(send(&c, MinerCall::PreCommitSectorBatch2(vec![p])).await);
    }
    c.advance(1).await;
    let errors: Vec<String> = futures_errors(&c, &ids).await;
    assert!(
        errors[0].contains("sector 1") && errors[0].contains("not allowed"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains(&format!("epoch {}", head + 1))
            && errors[1].contains("before the current"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].contains("too old") && errors[2].contains(&(head + 1 - 3780).to_string()),
        "{}",
        errors[2]
    );
}

async fn futures_errors(c: &DevnetChain, ids: &[MessageId]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let (code, error) = landed(c, id).await;
        assert_ne!(code, 0);
        out.push(error.unwrap());
    }
    out
}

#[tokio::test]
async fn a_prove_commit_before_the_seed_epoch_is_rejected() {
    let c = chain();
    let pc = pre_committed(&c, 1).await;
    let seed_epoch = seed_epoch(&c, &pc);
    // Lands at the seed epoch itself: still too early.
    c.advance((seed_epoch - 1 - c.current_epoch()) as u64).await;
    let proof = Proof { proof: vec![1; 32] };
    let id = send(&c, prove(1, proof)).await;
    c.advance(1).await;
    assert_eq!(c.current_epoch(), seed_epoch);
    let (code, error) = landed(&c, &id).await;
    assert_eq!(code, super::actor::EXIT_FORBIDDEN);
    let error = error.unwrap();
    assert!(
        error.contains("prove-commit too early")
            && error.contains(&format!("seed epoch {seed_epoch} not reached")),
        "{error}"
    );
    assert!(c
        .pre_commit(MINER, SectorNumber(1))
        .await
        .unwrap()
        .is_some());
}

/// As builtin-actors' ProveCommitSectors3: a sector pre-committed with
/// deal ids cannot be proven on that path (its deals belong in the piece
/// manifests), even with a good proof.
#[tokio::test]
async fn a_sector_pre_committed_with_deals_cannot_be_proven() {
    let c = chain();
    let pc = pre_committed_with(&c, 1, |p| PreCommitParams {
        deal_ids: vec![7],
        ..p
    })
    .await;
    let seed_epoch = seed_epoch(&c, &pc);
    c.advance(10).await;
    let proof = proof_with(&c, &pc, pc.info.seal_rand_epoch, seed_epoch);
    let id = send(&c, prove(1, proof)).await;
    c.advance(1).await;
    let (code, error) = landed(&c, &id).await;
    assert_ne!(code, 0);
    let error = error.unwrap();
    assert!(
        error.contains("does not allow pre-committed deals"),
        "{error}"
    );
    assert_eq!(c.sector(MINER, SectorNumber(1)).await.unwrap(), None);
}

/// As builtin-actors' ProveCommitSectors3: the piece manifests must make
/// the pre-committed CommD (as the FVM computes it from them); pieces that
/// do not are refused, and the same sector proves with the right pieces.
#[tokio::test]
async fn piece_manifests_must_make_the_pre_committed_comm_d() {
    use venus_seal_core::manager::DealInfo;
    use venus_seal_core::{PaddedPieceSize, PieceInfo};

    let c = chain();
    let piece = |n: u8| DealInfo {
        id: u64::from(n),
        piece: PieceInfo {
            size: PaddedPieceSize(1024),
            cid: CommD([n; 32]),
        },
        allocation: None,
    };
    let comm_d = venus_seal_core::comm_d_of_pieces(&[piece(1).piece], 2048).unwrap();
    let pc = pre_committed_with(&c, 1, |p| PreCommitParams {
        unsealed_cid: comm_d,
        ..p
    })
    .await;
    let seed_epoch = seed_epoch(&c, &pc);
    c.advance(10).await;
    let proof = proof_with(&c, &pc, pc.info.seal_rand_epoch, seed_epoch);
    let with = |pieces: Vec<DealInfo>| {
        MinerCall::ProveCommitSectors3(vec![ProveCommitParams {
            sector_number: SectorNumber(1),
            proof: proof.clone(),
            pieces,
        }])
    };
    let id = send(&c, with(vec![piece(2)])).await;
    c.advance(1).await;
    let (code, error) = landed(&c, &id).await;
    assert_ne!(code, 0);
    let error = error.unwrap();
    assert!(
        error.contains("is not the pre-committed unsealed CID"),
        "{error}"
    );
    assert_eq!(c.sector(MINER, SectorNumber(1)).await.unwrap(), None);
    let id = send(&c, with(vec![piece(1)])).await;
    c.advance(1).await;
    assert_eq!(landed(&c, &id).await, (0, None));
    assert!(c.sector(MINER, SectorNumber(1)).await.unwrap().is_some());
}

#[tokio::test]
async fn a_bad_proof_is_rejected_naming_the_ticket_and_seed_epochs() {
    let c = chain();
    let pc = pre_committed(&c, 1).await;
    let seed_epoch = seed_epoch(&c, &pc);
    c.advance(10).await;
    let id = send(&c, prove(1, Proof { proof: vec![0; 32] })).await;
    c.advance(1).await;
    let (code, error) = landed(&c, &id).await;
    assert_ne!(code, 0);
    let error = error.unwrap();
    let expected = format!(
        "proof for sector 1 does not verify against the ticket drawn at epoch {} and the seed at epoch {seed_epoch}",
        pc.info.seal_rand_epoch
    );
    assert!(error.contains(&expected), "{error}");
    assert_eq!(c.sector(MINER, SectorNumber(1)).await.unwrap(), None);
}

#[tokio::test]
async fn a_proof_made_with_another_ticket_or_seed_is_rejected() {
    let c = chain();
    let pc = pre_committed(&c, 1).await;
    let seed_epoch = seed_epoch(&c, &pc);
    c.advance(11).await;
    let t = pc.info.seal_rand_epoch;
    let wrong_ticket = proof_with(&c, &pc, t - 1, seed_epoch);
    let wrong_seed = proof_with(&c, &pc, t, seed_epoch + 1);
    for proof in [wrong_ticket, wrong_seed] {
        let id = send(&c, prove(1, proof)).await;
        c.advance(1).await;
        let (code, error) = landed(&c, &id).await;
        assert_ne!(code, 0);
        assert!(error.unwrap().contains("does not verify"));
    }
    assert_eq!(c.sector(MINER, SectorNumber(1)).await.unwrap(), None);
}

#[tokio::test]
async fn a_good_proof_makes_the_sector_proven() {
    let c = chain();
    let pc = pre_committed(&c, 1).await;
    let pc2 = pre_committed(&c, 2).await;
    let seed_epoch = seed_epoch(&c, &pc2);
    c.advance((seed_epoch - c.current_epoch()) as u64).await;
    let good = proof_with(&c, &pc, pc.info.seal_rand_epoch, pc.pre_commit_epoch + 10);

    // One bad sector fails the batch, good one included.
    let id = send(
        &c,
        MinerCall::ProveCommitSectors3(vec![
            ProveCommitParams {
                sector_number: SectorNumber(1),
                proof: good.clone(),
                pieces: Vec::new(),
            },
            ProveCommitParams {
                sector_number: SectorNumber(2),
                proof: Proof { proof: vec![9] },
                pieces: Vec::new(),
            },
        ]),
    )
    .await;
    c.advance(1).await;
    let error = landed(&c, &id).await.1.unwrap();
    assert!(
        error.contains("sector 2") && !error.contains("sector 1"),
        "{error}"
    );
    assert_eq!(c.sector(MINER, SectorNumber(1)).await.unwrap(), None);

    let id = send(&c, prove(1, good.clone())).await;
    let epoch = c.advance(1).await;
    assert_eq!(landed(&c, &id).await, (0, None));
    let sector = c.sector(MINER, SectorNumber(1)).await.unwrap().unwrap();
    assert_eq!(sector.number, SectorNumber(1));
    assert_eq!(sector.sealed_cid, pc.info.sealed_cid);
    assert_eq!(sector.seal_proof, PROOF);
    assert_eq!(sector.activation, epoch);
    assert_eq!(c.pre_commit(MINER, SectorNumber(1)).await.unwrap(), None);

    // Proven sectors cannot be proven again nor pre-committed again.
    let id = send(&c, prove(1, good)).await;
    let t = c.current_epoch() - 5;
    let id2 = send(&c, MinerCall::PreCommitSectorBatch2(vec![params(1, t)])).await;
    c.advance(1).await;
    assert!(landed(&c, &id).await.1.unwrap().contains("already proven"));
    assert!(landed(&c, &id2)
        .await
        .1
        .unwrap()
        .contains("sector 1 already pre-committed"));
}

#[tokio::test]
async fn messages_to_unknown_miners_are_refused() {
    let c = chain();
    let err = c
        .send(
            &crate::lotus::new_send_uid(),
            MinerMessage::new(
                ActorId(4242),
                MinerCall::PreCommitSectorBatch2(vec![params(1, 990)]),
            ),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("f04242"), "{err}");
    assert!(c.pre_commit(ActorId(4242), SectorNumber(1)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_advances_the_head() {
    let c = DevnetChain::new(
        DevnetConfig {
            block_time: Some(Duration::from_millis(20)),
            ..config(1)
        },
        Arc::new(FakeProofVerifier),
    );
    let start = c.current_epoch();
    c.start_clock().unwrap();
    assert_eq!(c.start_clock(), Err(ClockError::AlreadyRunning));
    let id = send(
        &c,
        MinerCall::PreCommitSectorBatch2(vec![params(1, start - 5)]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let head = c.current_epoch();
    assert!(head >= start + 3, "head {head} did not move from {start}");
    assert_eq!(landed(&c, &id).await, (0, None));

    // The clock task holds only a weak reference: dropping the chain ends it.
    let weak = Arc::downgrade(&c);
    drop(c);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(weak.upgrade().is_none());

    let manual = chain();
    assert_eq!(manual.start_clock(), Err(ClockError::Manual));
    assert!(!manual.stop_clock());
}

#[test]
fn the_clock_needs_a_runtime() {
    let c = DevnetChain::new(
        DevnetConfig {
            block_time: Some(Duration::from_millis(20)),
            ..config(1)
        },
        Arc::new(FakeProofVerifier),
    );
    assert_eq!(c.start_clock(), Err(ClockError::NoRuntime));
}
