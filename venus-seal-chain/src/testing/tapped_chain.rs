//! A chain client and message sender in front of another one, for tests
//! that make a node fail, refuse or answer differently on some calls: a
//! [`ChainTap`] sees every call by name before it goes through.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use venus_seal_core::chain::{
    AllocationTerms, DeadlineInfo, FeeBump, MessageFee, MessageId, MessageState, MinerCall,
    MinerMessage, OnChainPreCommit, OnChainSector, PartitionInfo, Replaced, SectorLocation,
    SendUid, VerifiedClaim,
};
use venus_seal_core::{
    ActorId, ChainClient, ChainEpoch, ChainError, DomainSeparationTag, MessageSender,
    NetworkParams, Randomness, RandomnessSource, SectorNumber, TokenAmount,
};

/// What a [`TappedChain`] does with each call before the chain behind it
/// is asked.
pub trait ChainTap: Send + Sync + Debug {
    /// Called with the method's name (`"head"`, `"collateral"`, `"send"`,
    /// …) before every call: an error is the call's answer and the chain
    /// behind is not asked. The default lets every call through.
    fn check(&self, method: &'static str) -> Result<(), ChainError> {
        let _ = method;
        Ok(())
    }

    /// The collateral a message calling `call` carries, answered instead of
    /// the chain's (after [`check`](Self::check) let the call through);
    /// `None`, the default: the chain's answer.
    fn collateral(&self, call: &MinerCall) -> Option<TokenAmount> {
        let _ = call;
        None
    }
}

/// The tap that lets everything through unchanged.
impl ChainTap for () {}

/// A [`ChainClient`] and [`MessageSender`] that passes every call, every
/// method of both traits included, to `inner` once `tap` let it through.
#[derive(Debug)]
pub struct TappedChain<C: ?Sized, T> {
    /// The chain asked.
    pub inner: Arc<C>,
    /// What sees each call first.
    pub tap: T,
}

impl<C: ?Sized, T> TappedChain<C, T> {
    /// `inner` behind `tap`.
    pub fn new(inner: Arc<C>, tap: T) -> Arc<Self> {
        Arc::new(Self { inner, tap })
    }
}

/// Implements `$tr` for [`TappedChain`]: each listed method asks the tap
/// with its name, then `inner`; `$extra` are methods written out.
macro_rules! tapped {
    (
        impl $tr:ident {
            $(async fn $m:ident(&self $(, $a:ident: $t:ty)*) -> $r:ty;)*
        }
        $($extra:tt)*
    ) => {
        #[async_trait]
        impl<C: $tr + ?Sized, T: ChainTap> $tr for TappedChain<C, T> {
            $(async fn $m(&self $(, $a: $t)*) -> $r {
                self.tap.check(stringify!($m))?;
                self.inner.$m($($a),*).await
            })*
            $($extra)*
        }
    };
}

tapped! {
    impl ChainClient {
        async fn head(&self) -> Result<ChainEpoch, ChainError>;
        async fn network(&self) -> Result<NetworkParams, ChainError>;
        async fn randomness(&self, source: RandomnessSource, tag: DomainSeparationTag, epoch: ChainEpoch, entropy: &[u8]) -> Result<Randomness, ChainError>;
        async fn pre_commit(&self, miner: ActorId, number: SectorNumber) -> Result<Option<OnChainPreCommit>, ChainError>;
        async fn sector(&self, miner: ActorId, number: SectorNumber) -> Result<Option<OnChainSector>, ChainError>;
        async fn sector_location(&self, miner: ActorId, number: SectorNumber) -> Result<Option<SectorLocation>, ChainError>;
        async fn miner_sectors(&self, miner: ActorId) -> Result<Vec<OnChainSector>, ChainError>;
        async fn proving_deadline(&self, miner: ActorId) -> Result<DeadlineInfo, ChainError>;
        async fn deadline_partitions(&self, miner: ActorId, deadline: u64) -> Result<Vec<PartitionInfo>, ChainError>;
        async fn deadline_post_submissions(&self, miner: ActorId, deadline: u64) -> Result<Vec<u64>, ChainError>;
        async fn claims(&self, miner: ActorId) -> Result<Vec<VerifiedClaim>, ChainError>;
        async fn balance(&self, address: &str) -> Result<TokenAmount, ChainError>;
        async fn lookup_id(&self, address: &str) -> Result<ActorId, ChainError>;
        async fn allocation(&self, client: ActorId, id: u64) -> Result<Option<AllocationTerms>, ChainError>;
        async fn deal_allocation(&self, deal_id: u64) -> Result<Option<u64>, ChainError>;
    }

    async fn collateral(&self, miner: ActorId, call: &MinerCall) -> Result<TokenAmount, ChainError> {
        self.tap.check("collateral")?;
        match self.tap.collateral(call) {
            Some(amount) => Ok(amount),
            None => self.inner.collateral(miner, call).await,
        }
    }
}

tapped! {
    impl MessageSender {
        async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError>;
        async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError>;
        async fn fee(&self, id: &MessageId) -> Result<Option<MessageFee>, ChainError>;
        async fn estimate(&self, msg: &MinerMessage) -> Result<Option<MessageFee>, ChainError>;
        async fn burn(&self, msg: &MinerMessage) -> Result<Option<TokenAmount>, ChainError>;
        async fn replace(&self, id: &MessageId, bump: &FeeBump) -> Result<Replaced, ChainError>;
    }
}
