//! Issue 13 item 1 across the wire: a served `LocalSectorManager` whose
//! chain node answers every call with an error (each `ChainError` variant,
//! words nobody anticipated) reaches a worker's `ManagerClient` as
//! `ManagerError::Chain`, Temporary: never `Rejected`, the abort that would
//! delete a pre-committed sector.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use venus_seal_chain::testing::FakeProofVerifier;
use venus_seal_chain::{LocalSectorManager, ManagedMiner, ManagerConfig};
use venus_seal_core::chain::{
    MessageId, MessageState, MinerCall, MinerMessage, NetworkParams, OnChainPreCommit,
    OnChainSector, SendUid,
};
use venus_seal_core::manager::AllocateSpec;
use venus_seal_core::testing::every_chain_error;
use venus_seal_core::{
    ActorId, ChainClient, ChainEpoch, ChainError, DomainSeparationTag, FailureLevel, Leveled,
    ManagerError, MessageSender, Randomness, RandomnessSource, SealProof, SectorManager,
    SectorNumber, TokenAmount,
};
use venus_seal_rpc::manager::{codes, manager_error_from_rpc, manager_error_to_rpc};
use venus_seal_rpc::{serve_manager, ManagerClient, Permission, Secret};

const MINER: ActorId = ActorId(1000);
const WORDS: &str = "some text nobody anticipated: sector rejected";

/// A node that answers every call with one error.
#[derive(Debug)]
struct FailingNode(ChainError);

#[async_trait]
impl ChainClient for FailingNode {
    async fn head(&self) -> Result<ChainEpoch, ChainError> {
        Err(self.0.clone())
    }
    async fn network(&self) -> Result<NetworkParams, ChainError> {
        Err(self.0.clone())
    }
    async fn randomness(
        &self,
        _: RandomnessSource,
        _: DomainSeparationTag,
        _: ChainEpoch,
        _: &[u8],
    ) -> Result<Randomness, ChainError> {
        Err(self.0.clone())
    }
    async fn pre_commit(
        &self,
        _: ActorId,
        _: SectorNumber,
    ) -> Result<Option<OnChainPreCommit>, ChainError> {
        Err(self.0.clone())
    }
    async fn sector(
        &self,
        _: ActorId,
        _: SectorNumber,
    ) -> Result<Option<OnChainSector>, ChainError> {
        Err(self.0.clone())
    }
    async fn deadline_post_submissions(&self, _: ActorId, _: u64) -> Result<Vec<u64>, ChainError> {
        Err(self.0.clone())
    }
    async fn collateral(&self, _: ActorId, _: &MinerCall) -> Result<TokenAmount, ChainError> {
        Err(self.0.clone())
    }
}

#[async_trait]
impl MessageSender for FailingNode {
    async fn send(&self, _: &SendUid, _: MinerMessage) -> Result<MessageId, ChainError> {
        Err(self.0.clone())
    }
    async fn state(&self, _: &MessageId) -> Result<MessageState, ChainError> {
        Err(self.0.clone())
    }
}

/// Every variant, served and called: `ManagerError::Chain`, Temporary,
/// with the node's words.
#[tokio::test]
async fn a_node_error_reaches_the_worker_as_a_temporary_chain_error() {
    for error in every_chain_error(WORDS) {
        let node = Arc::new(FailingNode(error.clone()));
        let manager = LocalSectorManager::in_memory(
            ManagerConfig::new(vec![ManagedMiner::new(
                MINER,
                SealProof::StackedDrg2KiBV1_1,
            )]),
            node.clone(),
            node,
            Arc::new(FakeProofVerifier),
        );
        let secret = Secret::generate();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (addr, handle) = serve_manager(addr, manager, secret.clone()).await.unwrap();
        let token = secret.token(Permission::Write, Some("worker-1"));
        let client = ManagerClient::new(format!("http://{addr}"), Some(&token)).unwrap();

        let sector = client
            .allocate_sector(AllocateSpec::default())
            .await
            .unwrap()
            .expect("allocation needs no chain");
        // (WaitSeed before any pre-commit is refused from the manager's
        // own record without asking the node; its node errors are covered
        // by the chain crate's node_fault_tests.)
        let errors = [client
            .assign_ticket(sector.id)
            .await
            .map(|_| ())
            .unwrap_err()];
        for e in errors {
            assert!(
                matches!(&e, ManagerError::Chain(m) if m.contains(WORDS)),
                "{error:?} reached the worker as {e:?}"
            );
            assert_eq!(e.level(), FailureLevel::Temporary, "{error:?}: {e}");
        }
        handle.stop().unwrap();
    }
}

/// The code: `Chain` round-trips with its level; nothing but
/// [`codes::REJECTED`] (damocles' 11001) and our older release's
/// [`codes::LEGACY_REJECTED`] are ever an abort.
#[test]
fn the_chain_code_round_trips_and_only_rejected_aborts() {
    let e = ManagerError::Chain(WORDS.into());
    let obj = manager_error_to_rpc(e.clone());
    assert_eq!(obj.code(), codes::CHAIN);
    let back = manager_error_from_rpc(obj.code(), obj.message().to_string());
    assert!(
        matches!(&back, ManagerError::Chain(m) if m == WORDS),
        "{back:?}"
    );
    assert_eq!(back.level(), FailureLevel::Temporary);
    for code in (-32768..=-32000).chain(-100..=100).chain(10_990..=11_010) {
        let level = manager_error_from_rpc(code, WORDS.into()).level();
        assert_eq!(
            level == FailureLevel::Abort,
            code == codes::REJECTED || code == codes::LEGACY_REJECTED,
            "code {code}: {level}"
        );
    }
}
