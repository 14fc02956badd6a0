//! Extending, terminating and listing sectors through the manager, on the
//! devnet: what is sent, what is left out and why, dry runs that send
//! nothing.

use std::sync::Arc;

use venus_seal_core::chain::{MessageState, MinerCall, MinerMessage, SectorsDeclaration};
use venus_seal_core::{ActorId, ChainClient, MessageSender, SealProof, SectorNumber};

use super::{LifecycleError, LocalSectorManager};
use crate::testing::{activate_fake_sectors, manual_single_miner_devnet, FAKE_SECTOR_EXPIRATION};
use crate::DevnetChain;

const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

/// A devnet whose miner holds sectors 1..=5 (1-4 in deadline 0, 5 in
/// deadline 1), and a manager for it.
fn setup() -> (Arc<DevnetChain>, Arc<LocalSectorManager>) {
    let (chain, manager) = manual_single_miner_devnet(MINER, PROOF);
    activate_fake_sectors(&chain, MINER, 1..=5);
    (chain, manager)
}

fn numbers(ns: &[u64]) -> Vec<SectorNumber> {
    ns.iter().copied().map(SectorNumber).collect()
}

/// Produces epochs until `id` lands; answers its exit code.
async fn landed(chain: &DevnetChain, id: &venus_seal_core::chain::MessageId) -> i64 {
    for _ in 0..10 {
        chain.advance(1).await;
        if let MessageState::Landed { exit_code, .. } = chain.state(id).await.unwrap() {
            return exit_code;
        }
    }
    panic!("message {} never landed", id.0);
}

async fn expiration(chain: &DevnetChain, n: u64) -> i64 {
    chain
        .sector(MINER, SectorNumber(n))
        .await
        .unwrap()
        .unwrap()
        .expiration
}

#[tokio::test]
async fn extending_groups_sectors_by_partition_and_leaves_out_what_the_actors_refuse() {
    let (chain, manager) = setup();
    let later = FAKE_SECTOR_EXPIRATION + 100_000;
    // Sector 3 faulty; 4 already expires later than asked.
    let faults = MinerCall::DeclareFaults(vec![SectorsDeclaration {
        deadline: 0,
        partition: 0,
        sectors: numbers(&[3]),
    }]);
    chain
        .send_and_execute(MinerMessage::new(MINER, faults))
        .await
        .unwrap();
    let four =
        MinerCall::ExtendSectorExpiration2(vec![venus_seal_core::chain::ExpirationExtension {
            deadline: 0,
            partition: 0,
            sectors: numbers(&[4]),
            sectors_with_claims: vec![],
            new_expiration: later + 1,
        }]);
    chain
        .send_and_execute(MinerMessage::new(MINER, four))
        .await
        .unwrap();

    let named = numbers(&[5, 1, 2, 3, 4, 9, 1]);
    let dry = manager
        .extend_sectors(MINER, &named, later, true)
        .await
        .unwrap();
    assert_eq!(dry.message, None);
    assert_eq!(dry.new_expiration, Some(later));
    let groups: Vec<_> = dry
        .partitions
        .iter()
        .map(|p| (p.deadline, p.partition, p.sectors.clone()))
        .collect();
    assert_eq!(
        groups,
        vec![(0, 0, numbers(&[1, 2])), (1, 0, numbers(&[5]))]
    );
    let why: Vec<_> = dry
        .left_out
        .iter()
        .map(|l| (l.number.0, l.reason.clone()))
        .collect();
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(why[0].0 == 3 && why[0].1.contains("faulty"), "{why:?}");
    assert!(
        why[1].0 == 4 && why[1].1.contains("already expires"),
        "{why:?}"
    );
    assert!(
        why[2].0 == 9 && why[2].1.contains("not on chain"),
        "{why:?}"
    );
    // The dry run sent nothing.
    chain.advance(2).await;
    assert_eq!(expiration(&chain, 1).await, FAKE_SECTOR_EXPIRATION);

    let sent = manager
        .extend_sectors(MINER, &named, later, false)
        .await
        .unwrap();
    assert_eq!(sent.partitions, dry.partitions);
    let id = sent.message.clone().expect("a message");
    assert_eq!(landed(&chain, &id).await, 0);
    for n in [1, 2, 5] {
        assert_eq!(expiration(&chain, n).await, later, "sector {n}");
    }
    assert_eq!(expiration(&chain, 3).await, FAKE_SECTOR_EXPIRATION);
}

#[tokio::test]
async fn terminating_sends_one_message_and_the_sectors_leave_the_chain() {
    let (chain, manager) = setup();
    let plan = manager
        .terminate_sectors(MINER, &numbers(&[2, 5, 42]), false)
        .await
        .unwrap();
    assert_eq!(plan.sectors().collect::<Vec<_>>(), numbers(&[2, 5]));
    assert_eq!(plan.left_out.len(), 1);
    assert_eq!(plan.left_out[0].number, SectorNumber(42));
    let id = plan.message.clone().unwrap();
    assert_eq!(landed(&chain, &id).await, 0);
    for n in [2, 5] {
        assert_eq!(chain.sector(MINER, SectorNumber(n)).await.unwrap(), None);
    }
    // Asked again: nothing left to send, each sector saying why.
    let err = manager
        .terminate_sectors(MINER, &numbers(&[2, 5]), false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LifecycleError::NothingToSend { left_out, .. } if left_out.len() == 2),
        "{err}"
    );
    assert!(err.to_string().contains("sector 2: not on chain"), "{err}");
}

#[tokio::test]
async fn a_miner_not_managed_here_and_an_empty_request_are_refused() {
    let (_chain, manager) = setup();
    let err = manager
        .extend_sectors(ActorId(4242), &numbers(&[1]), 5, true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LifecycleError::UnknownMiner(ActorId(4242))),
        "{err}"
    );
    let err = manager
        .terminate_sectors(MINER, &[], true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no sectors named"), "{err}");
    assert!(manager.sectors_expiring(ActorId(4242), 0).await.is_err());
}

#[tokio::test]
async fn sectors_are_listed_soonest_expiry_first_up_to_the_bound() {
    let (chain, manager) = setup();
    let sooner = FAKE_SECTOR_EXPIRATION + 10;
    let later = FAKE_SECTOR_EXPIRATION + 20;
    for (sectors, to) in [(vec![1, 2], later), (vec![3], sooner)] {
        let plan = manager
            .extend_sectors(MINER, &numbers(&sectors), to, false)
            .await
            .unwrap();
        assert_eq!(landed(&chain, &plan.message.unwrap()).await, 0);
    }
    let listed = |before: i64| {
        let manager = manager.clone();
        let head = chain.current_epoch();
        async move {
            let expiring = manager
                .sectors_expiring(MINER, before - head)
                .await
                .unwrap();
            assert_eq!(expiring.head, head);
            expiring
                .sectors
                .iter()
                .map(|s| (s.number.0, s.expiration))
                .collect::<Vec<_>>()
        }
    };
    let base = FAKE_SECTOR_EXPIRATION;
    assert_eq!(listed(base).await, vec![(4, base), (5, base)]);
    assert_eq!(
        listed(sooner).await,
        vec![(4, base), (5, base), (3, sooner)]
    );
    assert_eq!(listed(later).await.len(), 5);
    assert_eq!(listed(base - 1).await, vec![]);
}

/// Issue 15: the automatic extension policy. All sectors are activated
/// at epoch 1000, on a devnet whose caps are 10,000 epochs past the head
/// and 4,500 past activation (so none may expire after 5500). What expires
/// within the window: 1 and 4 (CC) are extended; 5 is already at its
/// cap; 3 holds data; 6 is faulty; 2 expires after the window. Asked for
/// more than the caps allow, the round plans each sector's cap rounded down
/// to a whole day (2880); a dry run sends nothing; within the caps it
/// sends and lands; `with_data` takes 3 too; the devnet refuses an
/// extension past the caps as the actors do.
#[tokio::test]
async fn auto_extend_extends_cc_sectors_within_the_chains_caps() {
    use venus_seal_core::lifecycle::{AutoExtendRound, ExtensionCaps};

    use super::AutoExtendPolicy;
    use crate::testing::{fake_sector, manual_devnet_with};
    use crate::{DevnetConfig, DevnetMiner};

    let caps = ExtensionCaps {
        max_extension: 10_000,
        max_lifetime: 4_500,
    };
    let config = DevnetConfig {
        extension_caps: caps,
        ..DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![PROOF],
        }])
    };
    let (chain, manager) = manual_devnet_with(config, MINER, PROOF);
    for (n, expiration, deal_weight) in [
        (1, 1100, 0),
        (2, 9000, 0),
        (3, 1100, 2048 * 2100),
        (4, 1100, 0),
        (5, 5500, 0),
        (6, 1100, 0),
    ] {
        let sector = fake_sector(n, expiration, deal_weight);
        chain.activate_sector_without_proof(MINER, sector).unwrap();
    }
    let at = chain
        .sector_location(MINER, SectorNumber(6))
        .await
        .unwrap()
        .unwrap();
    let faults = MinerCall::DeclareFaults(vec![SectorsDeclaration {
        deadline: at.deadline,
        partition: at.partition,
        sectors: numbers(&[6]),
    }]);
    chain
        .send_and_execute(MinerMessage::new(MINER, faults))
        .await
        .unwrap();
    let head = chain.head().await.unwrap();
    let policy = AutoExtendPolicy {
        within: 5600 - head,
        extend_to: 6000 - head,
        caps,
        ..AutoExtendPolicy::default()
    };
    assert!(policy.dry_run, "a dry run unless asked");
    let planned = |round: &AutoExtendRound| {
        round
            .plans
            .iter()
            .map(|p| {
                let sectors: Vec<u64> = p.sectors().map(|n| n.0).collect();
                (p.new_expiration.unwrap(), sectors)
            })
            .collect::<Vec<_>>()
    };

    let dry = manager.auto_extend(MINER, &policy).await.unwrap();
    assert_eq!(planned(&dry), vec![(2880, vec![1, 4])], "{dry:#?}");
    assert!(dry.plans.iter().all(|p| p.message.is_none()));
    let why: Vec<_> = dry
        .skipped
        .iter()
        .map(|l| (l.number.0, l.reason.clone()))
        .collect();
    assert_eq!(
        why.iter().map(|w| w.0).collect::<Vec<_>>(),
        vec![3, 5, 6],
        "{why:?}"
    );
    assert!(why[0].1.contains("holds data"), "{why:?}");
    assert!(why[1].1.contains("latest expiration"), "{why:?}");
    assert!(why[2].1.contains("faulty"), "{why:?}");
    assert_eq!(expiration(&chain, 1).await, 1100, "a dry run sends nothing");

    let within_caps = AutoExtendPolicy {
        extend_to: 4000 - head,
        dry_run: false,
        ..policy.clone()
    };
    let sent = manager.auto_extend(MINER, &within_caps).await.unwrap();
    assert_eq!(planned(&sent), vec![(4000, vec![1, 4])], "{sent:#?}");
    // A round while that extension is still pending sends nothing again.
    let again = manager.auto_extend(MINER, &within_caps).await.unwrap();
    assert!(again.plans.is_empty(), "{again:#?}");
    let pending: Vec<_> = again
        .skipped
        .iter()
        .filter(|l| l.reason.contains("still pending"))
        .map(|l| l.number.0)
        .collect();
    assert_eq!(pending, vec![1, 4], "{again:#?}");
    for plan in &sent.plans {
        assert_eq!(landed(&chain, plan.message.as_ref().unwrap()).await, 0);
    }
    assert_eq!(expiration(&chain, 1).await, 4000);
    assert_eq!(expiration(&chain, 4).await, 4000);
    assert_eq!(expiration(&chain, 3).await, 1100, "data: left alone");
    assert_eq!(expiration(&chain, 2).await, 9000);

    let with_data = AutoExtendPolicy {
        with_data: true,
        ..policy.clone()
    };
    let round = manager.auto_extend(MINER, &with_data).await.unwrap();
    assert!(
        planned(&round).iter().any(|(_, s)| s.contains(&3)),
        "{round:#?}"
    );
    // Verified (FIL+) data is left out before anything is sent: the
    // actors want its claims named.
    let mut verified = fake_sector(7, 1100, 0);
    verified.verified_deal_weight = 2048 * 2100;
    chain
        .activate_sector_without_proof(MINER, verified)
        .unwrap();
    let round = manager.auto_extend(MINER, &with_data).await.unwrap();
    let seven = round.skipped.iter().find(|l| l.number.0 == 7);
    assert!(
        seven.is_some_and(|l| l.reason.contains("verified (FIL+)")),
        "{round:#?}"
    );

    // Past the caps, the devnet refuses as the actors do: more than the
    // maximum extension past the head, or (5, activated at 1000) past its
    // maximum lifetime.
    let head = chain.head().await.unwrap();
    let too_far = manager
        .extend_sectors(MINER, &numbers(&[2]), head + 10_001, false)
        .await
        .unwrap();
    assert_ne!(landed(&chain, too_far.message.as_ref().unwrap()).await, 0);
    assert_eq!(expiration(&chain, 2).await, 9000);
    let too_old = manager
        .extend_sectors(MINER, &numbers(&[5]), 5501, false)
        .await
        .unwrap();
    assert_ne!(landed(&chain, too_old.message.as_ref().unwrap()).await, 0);
    assert_eq!(expiration(&chain, 5).await, 5500);
}

/// Issue 15: a dry run says what the message would cost before anything is
/// sent (the node's estimate), or why the node could not price it (its
/// estimate runs the message: the actor's refusal shows first); a sent one
/// says what it was priced at.
#[tokio::test]
async fn a_dry_run_shows_the_fee_before_anything_is_sent() {
    use venus_seal_core::chain::MessageFee;
    use venus_seal_core::TokenAmount;

    use crate::testing::{manual_single_miner_devnet, PricedSender};

    let fee = MessageFee {
        gas_limit: 3_000_000,
        fee_cap: TokenAmount(200_000),
        premium: TokenAmount(5_000),
    };
    for estimate_error in [
        None,
        Some("GasEstimateMessageGas: exit 16: sector 1 not active"),
    ] {
        let (chain, _) = manual_single_miner_devnet(MINER, PROOF);
        activate_fake_sectors(&chain, MINER, 1..=2);
        let sender = Arc::new(PricedSender {
            inner: chain.clone(),
            fee,
            estimate_error: estimate_error.map(str::to_string),
            burn: Some(TokenAmount(42_000)),
        });
        let manager = LocalSectorManager::in_memory(
            crate::ManagerConfig::new(vec![crate::ManagedMiner::new(MINER, PROOF)]),
            chain.clone(),
            sender,
            Arc::new(crate::testing::FakeProofVerifier),
        );
        let later = FAKE_SECTOR_EXPIRATION + 1000;
        let dry = manager
            .extend_sectors(MINER, &numbers(&[1, 2]), later, true)
            .await
            .unwrap();
        assert_eq!(dry.message, None);
        match estimate_error {
            None => {
                assert_eq!(dry.fee, Some(fee));
                assert_eq!(dry.fee_error, None);
            }
            Some(e) => {
                assert_eq!(dry.fee, None);
                assert!(dry.fee_error.as_deref().unwrap().contains(e), "{dry:?}");
            }
        }
        // A termination's fee, as the node computes it by running it.
        let terminate = manager
            .terminate_sectors(MINER, &numbers(&[2]), true)
            .await
            .unwrap();
        match estimate_error {
            None => assert_eq!(terminate.burn, Some(TokenAmount(42_000))),
            Some(_) => assert_eq!(terminate.burn, None, "refused: nothing to burn"),
        }
        assert_eq!(chain.pending_messages(), 0, "a dry run sends nothing");
        let sent = manager
            .terminate_sectors(MINER, &numbers(&[2]), false)
            .await
            .unwrap();
        assert!(sent.message.is_some());
        assert_eq!(sent.fee, Some(fee), "a sent message is shown at its price");
    }
}

/// Issue 15: extending sectors with verified (FIL+) data names their
/// claims, as the actors require: sector 8's claim allows epoch 6000, so it
/// is extended to 4000 keeping the claim; 9's claim ends at 3000, so it is
/// left out with the reason; 10 has verified weight but no claim on chain.
/// The devnet refuses, as the actors do, a verified sector in the plain
/// list and a kept claim that ends too soon. An automatic round with data
/// caps a sector at its claims' end (rounded down to a whole day).
#[tokio::test]
async fn extending_sectors_with_fil_plus_data_keeps_their_claims() {
    use venus_seal_core::chain::{ExpirationExtension, SectorClaim, VerifiedClaim};

    use super::AutoExtendPolicy;
    use crate::testing::fake_sector;

    let (chain, manager) = manual_single_miner_devnet(MINER, PROOF);
    for n in [8, 9, 10, 11] {
        let mut sector = fake_sector(n, 1100, 0);
        sector.verified_deal_weight = 2048 * 1000;
        chain.activate_sector_without_proof(MINER, sector).unwrap();
    }
    let claim = |id, sector: u64, latest: i64| VerifiedClaim {
        id,
        client: 1001,
        data: "baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq".into(),
        size: 2048,
        term_min: 100,
        term_max: latest - 1000,
        term_start: 1000,
        sector: SectorNumber(sector),
    };
    chain.add_claim(MINER, claim(100, 8, 6000)).unwrap();
    chain.add_claim(MINER, claim(101, 9, 3000)).unwrap();
    chain.add_claim(MINER, claim(102, 11, 9000)).unwrap();
    assert_eq!(chain.claims(MINER).await.unwrap().len(), 3);

    let plan = manager
        .extend_sectors(MINER, &numbers(&[8, 9, 10]), 4000, false)
        .await
        .unwrap();
    assert_eq!(plan.sectors().map(|n| n.0).collect::<Vec<_>>(), vec![8]);
    let why: Vec<_> = plan
        .left_out
        .iter()
        .map(|l| (l.number.0, l.reason.clone()))
        .collect();
    assert!(
        why[0].0 == 9 && why[0].1.contains("claim 101") && why[0].1.contains("3000"),
        "{why:?}"
    );
    assert!(why[1].0 == 10 && why[1].1.contains("no claim"), "{why:?}");
    assert_eq!(landed(&chain, plan.message.as_ref().unwrap()).await, 0);
    assert_eq!(expiration(&chain, 8).await, 4000);

    // What the actors refuse, the devnet refuses too.
    let at = chain
        .sector_location(MINER, SectorNumber(9))
        .await
        .unwrap()
        .unwrap();
    let plain = MinerCall::ExtendSectorExpiration2(vec![ExpirationExtension {
        deadline: at.deadline,
        partition: at.partition,
        sectors: numbers(&[9]),
        sectors_with_claims: vec![],
        new_expiration: 2000,
    }]);
    let too_far = MinerCall::ExtendSectorExpiration2(vec![ExpirationExtension {
        deadline: at.deadline,
        partition: at.partition,
        sectors: vec![],
        sectors_with_claims: vec![SectorClaim {
            sector_number: SectorNumber(9),
            maintain_claims: vec![101],
            drop_claims: vec![],
        }],
        new_expiration: 3001,
    }]);
    for call in [plain, too_far] {
        let state = chain
            .send_and_execute(MinerMessage::new(MINER, call))
            .await
            .unwrap();
        assert!(
            matches!(state, MessageState::Landed { exit_code, .. } if exit_code != 0),
            "{state:?}"
        );
    }
    assert_eq!(expiration(&chain, 9).await, 1100);

    // An automatic round with data: 11 goes as far as its claim allows.
    let head = chain.head().await.unwrap();
    let policy = AutoExtendPolicy {
        within: 2000,
        extend_to: 20_000 - head,
        with_data: true,
        dry_run: false,
        ..AutoExtendPolicy::default()
    };
    let round = manager.auto_extend(MINER, &policy).await.unwrap();
    let to_11 = round
        .plans
        .iter()
        .find(|p| p.sectors().any(|n| n.0 == 11))
        .unwrap_or_else(|| panic!("{round:#?}"));
    // (Capped, rounded down to a whole day: 3 × 2880.)
    assert_eq!(to_11.new_expiration, Some(8640));
    landed(&chain, to_11.message.as_ref().unwrap()).await;
    assert_eq!(expiration(&chain, 11).await, 8640);
}
