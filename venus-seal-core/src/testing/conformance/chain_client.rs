//! The [`ChainClient`] suite: head and network constants read; randomness
//! is a function of its inputs (the same draw twice agrees, other entropy
//! gives other bytes) and refused from the future; sectors the chain does
//! not hold read as `None` (and, where the client follows deadlines, are
//! in no partition); proving deadlines are consistent where the client
//! follows them; collateral is zero for calls that carry none and,
//! on a chain with balances, positive for a pre-commit; an ID address
//! resolves to itself.
//!
//! Call order per method is fixed (documented on [`chain_client`]) so that
//! a scripted fake node can answer it.

use crate::chain::{ChainClient, MinerCall, PreCommitParams, RandomnessSource};
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::{ActorId, SectorNumber};
use crate::types::proof::SealProof;
use crate::types::randomness::DomainSeparationTag;
use crate::types::token::TokenAmount;

/// What the chain under test holds.
#[derive(Clone, Debug)]
pub struct ChainCase {
    /// A miner the chain knows.
    pub miner: ActorId,
    /// The miner's proof type.
    pub proof: SealProof,
    /// A sector number the miner has neither pre-committed nor proven.
    pub unused_sector: SectorNumber,
}

/// Where chain clients legitimately differ.
#[derive(Clone, Copy, Debug, Default)]
pub struct Capabilities {
    /// The client follows proving deadlines and partitions (needed for
    /// WindowPoSt); without it `proving_deadline` must refuse.
    pub deadlines: bool,
    /// The chain keeps balances: a pre-commit needs a positive deposit.
    /// Without it (the embedded devnet) collateral is always zero.
    pub balances: bool,
}

/// Runs the suite on `chain`; see the [module docs](self).
///
/// Calls, per method, in order: `head` once; `network` once; `randomness`
/// (tickets, `SealRandomness`, at head) with entropy `[1]`, again with
/// `[1]`, with `[2]`, then at head + 10,000 (must fail); `pre_commit` and
/// `sector` of the unused sector once each; with deadlines,
/// `sector_location` of the unused sector, `proving_deadline`,
/// `deadline_partitions` and
/// `deadline_post_submissions` once each (without, `proving_deadline`
/// once, refused); `collateral` of a `DeclareFaults` (no node call
/// needed), then of a one-sector pre-commit; `lookup_id` of the miner's
/// ID address (no node call needed).
pub async fn chain_client(chain: &dyn ChainClient, case: &ChainCase, caps: Capabilities) {
    let name = format!("{chain:?}");
    let name = &name[..name.len().min(120)];
    let head = chain
        .head()
        .await
        .unwrap_or_else(|e| panic!("{name}: head failed: {e}"));
    assert!(head >= 0, "{name}: negative head {head}");
    let network = chain
        .network()
        .await
        .unwrap_or_else(|e| panic!("{name}: network failed: {e}"));
    assert!(
        network.pre_commit_challenge_delay > 0,
        "{name}: {network:?}"
    );

    let draw = |entropy: &'static [u8], epoch| {
        chain.randomness(
            RandomnessSource::Tickets,
            DomainSeparationTag::SealRandomness,
            epoch,
            entropy,
        )
    };
    let a = draw(&[1], head)
        .await
        .unwrap_or_else(|e| panic!("{name}: randomness at head failed: {e}"));
    let b = draw(&[1], head).await.unwrap();
    assert_eq!(a, b, "{name}: the same draw twice disagrees");
    let c = draw(&[2], head).await.unwrap();
    assert_ne!(a, c, "{name}: other entropy gives the same randomness");
    match draw(&[1], head + 10_000).await {
        Err(_) => {}
        Ok(r) => panic!("{name}: randomness from the future: {r:?}"),
    }

    let pc = chain
        .pre_commit(case.miner, case.unused_sector)
        .await
        .unwrap_or_else(|e| panic!("{name}: pre_commit failed: {e}"));
    assert_eq!(pc, None, "{name}: a pre-commit nobody made");
    let sector = chain
        .sector(case.miner, case.unused_sector)
        .await
        .unwrap_or_else(|e| panic!("{name}: sector failed: {e}"));
    assert_eq!(sector, None, "{name}: a sector nobody proved");

    if caps.deadlines {
        let location = chain
            .sector_location(case.miner, case.unused_sector)
            .await
            .unwrap_or_else(|e| panic!("{name}: sector_location failed: {e}"));
        assert_eq!(
            location, None,
            "{name}: a partition for a sector nobody proved"
        );
        deadlines(name, chain, case.miner).await;
    } else {
        assert!(
            chain.proving_deadline(case.miner).await.is_err(),
            "{name}: a client without deadlines must refuse, not guess"
        );
    }

    let none = chain
        .collateral(case.miner, &MinerCall::DeclareFaults(vec![]))
        .await
        .unwrap_or_else(|e| panic!("{name}: collateral of DeclareFaults failed: {e}"));
    assert_eq!(
        none,
        TokenAmount::ZERO,
        "{name}: DeclareFaults carries no FIL"
    );
    let pre_commit = MinerCall::PreCommitSectorBatch2(vec![PreCommitParams {
        sector_number: case.unused_sector,
        seal_proof: case.proof,
        sealed_cid: CommR([0xaa; 32]),
        unsealed_cid: CommD([0x0d; 32]),
        seal_rand_epoch: head,
        deal_ids: vec![],
        expiration: head + 540 * 2880,
    }]);
    let deposit = chain
        .collateral(case.miner, &pre_commit)
        .await
        .unwrap_or_else(|e| panic!("{name}: collateral of a pre-commit failed: {e}"));
    if caps.balances {
        assert!(deposit > TokenAmount::ZERO, "{name}: a free pre-commit");
    } else {
        assert_eq!(
            deposit,
            TokenAmount::ZERO,
            "{name}: a chain without balances"
        );
    }

    let id = chain
        .lookup_id(&case.miner.to_string())
        .await
        .unwrap_or_else(|e| panic!("{name}: lookup_id of an ID address failed: {e}"));
    assert_eq!(id, case.miner, "{name}: an ID address is its own actor id");
}

async fn deadlines(name: &str, chain: &dyn ChainClient, miner: ActorId) {
    let d = chain
        .proving_deadline(miner)
        .await
        .unwrap_or_else(|e| panic!("{name}: proving_deadline failed: {e}"));
    assert!(d.index < d.deadlines, "{name}: {d:?}");
    assert!(
        d.open <= d.current_epoch && d.current_epoch < d.close,
        "{name}: the current epoch is outside the open deadline: {d:?}"
    );
    assert!(d.period_start <= d.open, "{name}: {d:?}");
    let partitions = chain
        .deadline_partitions(miner, d.index)
        .await
        .unwrap_or_else(|e| panic!("{name}: deadline_partitions failed: {e}"));
    for p in &partitions {
        for n in p.faulty.iter().chain(&p.active) {
            assert!(
                p.sectors.contains(n),
                "{name}: {n} is not in its partition {p:?}"
            );
        }
    }
    let proven = chain
        .deadline_post_submissions(miner, d.index)
        .await
        .unwrap_or_else(|e| panic!("{name}: deadline_post_submissions failed: {e}"));
    let known = partitions.len() as u64;
    assert!(
        proven.iter().all(|&p| p < known),
        "{name}: PoSt submissions {proven:?} for partitions that do not exist ({known})"
    );
}
