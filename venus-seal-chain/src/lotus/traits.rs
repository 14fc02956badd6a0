//! [`LotusClient`] as the core's [`ChainClient`] and [`MessageSender`],
//! on its typed helpers: the node's answers read into core types.

use async_trait::async_trait;
use venus_seal_core::chain::{
    DeadlineInfo, FeeBump, MessageFee, MessageId, MessageState, MinerCall, MinerMessage,
    OnChainPreCommit, OnChainSector, PartitionInfo, PreCommitParams, Replaced, SectorLocation,
    SendUid, VerifiedClaim,
};
use venus_seal_core::error::ChainError;
use venus_seal_core::manager::verified_space;
use venus_seal_core::{
    ActorId, ChainClient, ChainEpoch, CommD, DomainSeparationTag, MessageSender, NetworkParams,
    Randomness, RandomnessSource, SectorNumber, TokenAmount,
};

use super::convert::{parse_cid, parse_comm_r, parse_proof, zero_comm_d};
use super::types::{BitFieldJson, CidJson, MessageSendSpec, SectorOnChainInfoJson};
use super::LotusClient;

/// A `SectorOnChainInfo` as `method` answered it, read into the core's
/// type.
fn on_chain_sector(method: &str, s: &SectorOnChainInfoJson) -> Result<OnChainSector, ChainError> {
    Ok(OnChainSector {
        number: SectorNumber(s.sector_number),
        seal_proof: parse_proof(method, s.seal_proof)?,
        sealed_cid: parse_comm_r(method, s.sealed_cid.as_ref())?,
        activation: s.activation,
        expiration: s.expiration,
        deal_weight: weight(method, "DealWeight", s.deal_weight.as_deref())?,
        verified_deal_weight: weight(
            method,
            "VerifiedDealWeight",
            s.verified_deal_weight.as_deref(),
        )?,
        sector_key: match &s.sector_key_cid {
            None => None,
            Some(c) => Some(
                venus_seal_core::CommR::from_cid(&super::convert::parse_cid(method, c)?).map_err(
                    |e| ChainError::InvalidResponse(format!("{method}: SectorKeyCID: {e}")),
                )?,
            ),
        },
    })
}

/// A `DealWeight` (a big integer, as a decimal string; absent: 0).
fn weight(method: &str, what: &str, s: Option<&str>) -> Result<u128, ChainError> {
    s.map_or(Ok(0), |s| {
        s.parse().map_err(|_| {
            ChainError::InvalidResponse(format!("{method}: {what} {s:?} is not a weight"))
        })
    })
}

#[async_trait]
impl ChainClient for LotusClient {
    async fn head(&self) -> Result<ChainEpoch, ChainError> {
        Ok(self.chain_head().await?.height)
    }

    async fn network(&self) -> Result<NetworkParams, ChainError> {
        Ok(self.network)
    }

    async fn randomness(
        &self,
        source: RandomnessSource,
        tag: DomainSeparationTag,
        epoch: ChainEpoch,
        entropy: &[u8],
    ) -> Result<Randomness, ChainError> {
        match source {
            RandomnessSource::Tickets => {
                self.state_get_randomness_from_tickets(tag, epoch, entropy, &[])
                    .await
            }
            RandomnessSource::Beacon => {
                self.state_get_randomness_from_beacon(tag, epoch, entropy, &[])
                    .await
            }
        }
    }

    async fn pre_commit(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<OnChainPreCommit>, ChainError> {
        const M: &str = "Filecoin.StateSectorPreCommitInfo";
        let Some(pc) = self
            .state_sector_pre_commit_info(miner, number, &[])
            .await?
        else {
            return Ok(None);
        };
        let seal_proof = parse_proof(M, pc.info.seal_proof)?;
        let unsealed_cid = match &pc.info.unsealed_cid {
            Some(c) => CommD::from_cid(&parse_cid(M, c)?)
                .map_err(|e| ChainError::InvalidResponse(format!("{M}: UnsealedCid: {e}")))?,
            None => zero_comm_d(seal_proof),
        };
        Ok(Some(OnChainPreCommit {
            info: PreCommitParams {
                sector_number: SectorNumber(pc.info.sector_number),
                seal_proof,
                sealed_cid: parse_comm_r(M, pc.info.sealed_cid.as_ref())?,
                unsealed_cid,
                seal_rand_epoch: pc.info.seal_rand_epoch,
                deal_ids: pc.info.deal_ids,
                expiration: pc.info.expiration,
            },
            pre_commit_epoch: pc.pre_commit_epoch,
        }))
    }

    async fn sector(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<OnChainSector>, ChainError> {
        const M: &str = "Filecoin.StateSectorGetInfo";
        let Some(s) = self.state_sector_get_info(miner, number, &[]).await? else {
            return Ok(None);
        };
        on_chain_sector(M, &s).map(Some)
    }

    async fn sector_location(
        &self,
        miner: ActorId,
        number: SectorNumber,
    ) -> Result<Option<SectorLocation>, ChainError> {
        Ok(self
            .state_sector_partition(miner, number, &[])
            .await?
            .map(|l| SectorLocation {
                deadline: l.deadline,
                partition: l.partition,
            }))
    }

    async fn balance(&self, address: &str) -> Result<TokenAmount, ChainError> {
        self.wallet_balance(address).await
    }

    /// `Filecoin.StateLookupID`; an ID address is its own answer (no
    /// call).
    async fn lookup_id(&self, address: &str) -> Result<ActorId, ChainError> {
        match address.parse() {
            Ok(id) => Ok(id),
            Err(_) => self.state_lookup_id(address).await,
        }
    }

    /// `Filecoin.StateGetAllocation`.
    async fn allocation(
        &self,
        client: ActorId,
        id: u64,
    ) -> Result<Option<venus_seal_core::chain::AllocationTerms>, ChainError> {
        self.state_get_allocation(client, id).await
    }

    /// `Filecoin.StateGetAllocationIdForPendingDeal`, 0 read as none
    /// (verifreg's `NoAllocationID`).
    async fn deal_allocation(&self, deal_id: u64) -> Result<Option<u64>, ChainError> {
        let id = self
            .state_get_allocation_id_for_pending_deal(deal_id)
            .await?;
        Ok((id != 0).then_some(id))
    }

    /// `Filecoin.StateGetClaims`, in claim id order.
    async fn claims(&self, miner: ActorId) -> Result<Vec<VerifiedClaim>, ChainError> {
        self.state_get_claims(miner)
            .await?
            .into_iter()
            .map(|(id, c)| {
                let id = id.parse().map_err(|_| {
                    ChainError::InvalidResponse(format!(
                        "Filecoin.StateGetClaims: claim id {id:?} is not a number"
                    ))
                })?;
                Ok(VerifiedClaim {
                    id,
                    client: c.client,
                    data: c.data.root,
                    size: c.size,
                    term_min: c.term_min,
                    term_max: c.term_max,
                    term_start: c.term_start,
                    sector: SectorNumber(c.sector),
                })
            })
            .collect::<Result<Vec<_>, ChainError>>()
            .map(|mut claims| {
                claims.sort_by_key(|c| c.id);
                claims
            })
    }

    async fn miner_sectors(&self, miner: ActorId) -> Result<Vec<OnChainSector>, ChainError> {
        const M: &str = "Filecoin.StateMinerSectors";
        let mut sectors = self
            .state_miner_sectors(miner, &[])
            .await?
            .iter()
            .map(|s| on_chain_sector(M, s))
            .collect::<Result<Vec<_>, ChainError>>()?;
        sectors.sort_by_key(|s| s.number);
        Ok(sectors)
    }

    async fn proving_deadline(&self, miner: ActorId) -> Result<DeadlineInfo, ChainError> {
        let d = self.state_miner_proving_deadline(miner, &[]).await?;
        Ok(DeadlineInfo {
            current_epoch: d.current_epoch,
            period_start: d.period_start,
            index: d.index,
            open: d.open,
            close: d.close,
            challenge: d.challenge,
            fault_cutoff: d.fault_cutoff,
            deadlines: d.period_deadlines,
        })
    }

    async fn deadline_post_submissions(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<Vec<u64>, ChainError> {
        const M: &str = "Filecoin.StateMinerDeadlines";
        let deadlines = self.state_miner_deadlines(miner, &[]).await?;
        let Some(d) = deadlines.get(deadline as usize) else {
            return Err(ChainError::InvalidResponse(format!(
                "{M}: {} deadlines, no deadline {deadline}",
                deadlines.len()
            )));
        };
        // No deadline holds more partitions than a period's sectors allow;
        // 10,000 bounds a hostile answer.
        d.post_submissions
            .bits(10_000)
            .map_err(|e| ChainError::InvalidResponse(format!("{M}: {e}")))
    }

    async fn collateral(
        &self,
        miner: ActorId,
        call: &MinerCall,
    ) -> Result<TokenAmount, ChainError> {
        match call {
            MinerCall::PreCommitSectorBatch2(sectors) => {
                let head = self.chain_head().await?;
                self.pre_commit_deposits(miner, sectors, &head.cids).await
            }
            MinerCall::ProveCommitSectors3(sectors) => {
                let priced: Vec<(SectorNumber, u64)> = sectors
                    .iter()
                    .map(|s| (s.sector_number, verified_space(&s.pieces)))
                    .collect();
                self.prove_commit_pledges(miner, &priced).await
            }
            MinerCall::ProveCommitAggregate(agg) => {
                let priced: Vec<(SectorNumber, u64)> = agg
                    .sectors
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (n, agg.pieces.get(i).map_or(0, |p| verified_space(p))))
                    .collect();
                self.prove_commit_pledges(miner, &priced).await
            }
            MinerCall::ProveCommitSectorsNI(ni) => self.ni_pledges(ni).await,
            _ => Ok(TokenAmount::ZERO),
        }
    }

    async fn deadline_partitions(
        &self,
        miner: ActorId,
        deadline: u64,
    ) -> Result<Vec<PartitionInfo>, ChainError> {
        const M: &str = "Filecoin.StateMinerPartitions";
        // A partition holds at most 2349 sectors (2KiB and 8MiB proofs).
        const LIMIT: usize = 2349;
        let bits = |b: &BitFieldJson| -> Result<Vec<SectorNumber>, ChainError> {
            b.bits(LIMIT)
                .map(|v| v.into_iter().map(SectorNumber).collect())
                .map_err(|e| ChainError::InvalidResponse(format!("{M}: {e}")))
        };
        self.state_miner_partitions(miner, deadline, &[])
            .await?
            .iter()
            .map(|p| {
                // Terminated sectors stay in AllSectors; prove the live ones.
                let faulty = bits(&p.faulty_sectors)?;
                let recovering = bits(&p.recovering_sectors)?;
                let live = bits(&p.live_sectors)?;
                let active = live
                    .iter()
                    .filter(|n| !faulty.contains(n) || recovering.contains(n))
                    .copied()
                    .collect();
                Ok(PartitionInfo {
                    sectors: live,
                    faulty,
                    recovering,
                    active,
                })
            })
            .collect()
    }
}

#[async_trait]
impl MessageSender for LotusClient {
    /// `Filecoin.MpoolPushMessage` with `uid` as `MsgUuid`: Lotus answers
    /// a uuid it already signed a message under with that message and
    /// pushes nothing (node/impl/full/mpool.go `MpoolPushMessage`, lotus
    /// commit 3d1bc96aaee3346a0f03a88f60a2e2afd7d5cf85), and stores the
    /// uuid only once the push succeeded, so a refused push may be tried
    /// again under the same uid.
    async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError> {
        let message = self.build_message(&msg)?;
        let spec = MessageSendSpec {
            max_fee: self.max_fee.clone(),
            msg_uuid: Some(uid.0.clone()),
            maximize_fee_cap: false,
        };
        let signed = self.mpool_push_message(&message, &spec).await?;
        Ok(MessageId(signed.cid.root))
    }

    /// Re-signs the message at its nonce with a higher premium and pushes
    /// it (`ChainGetMessage`, `WalletSignMessage`, `MpoolPush`), as
    /// `lotus mpool replace` does.
    async fn replace(&self, id: &MessageId, bump: &FeeBump) -> Result<Replaced, ChainError> {
        self.replace_message(id, bump).await
    }

    /// `Filecoin.ChainGetMessage`: the gas limit, fee cap and premium the
    /// node signed the message with (`MpoolPushMessage` estimates them
    /// before it signs, so a pushed message is always priced).
    async fn fee(&self, id: &MessageId) -> Result<Option<MessageFee>, ChainError> {
        let msg = self.chain_get_message(&CidJson::new(id.0.clone())).await?;
        super::replace::fee_of("Filecoin.ChainGetMessage", &msg).map(Some)
    }

    /// `Filecoin.GasEstimateMessageGas` with the sender's `max_fee`.
    async fn estimate(&self, msg: &MinerMessage) -> Result<Option<MessageFee>, ChainError> {
        let message = self.build_message(msg)?;
        let spec = MessageSendSpec {
            max_fee: self.max_fee.clone(),
            msg_uuid: None,
            maximize_fee_cap: false,
        };
        let priced = self.gas_estimate_message_gas(&message, &spec).await?;
        super::replace::fee_of("Filecoin.GasEstimateMessageGas", &priced).map(Some)
    }

    /// `Filecoin.StateCall`: the value the message's execution trace sends
    /// to the burnt funds actor (f099), at any depth (the miner actor burns
    /// a termination fee that way).
    async fn burn(&self, msg: &MinerMessage) -> Result<Option<TokenAmount>, ChainError> {
        let message = self.build_message(msg)?;
        let result = self.state_call(&message).await?;
        if let Some(e) = result["Error"].as_str().filter(|e| !e.is_empty()) {
            return Err(ChainError::Rejected(format!("Filecoin.StateCall: {e}")));
        }
        let code = result["MsgRct"]["ExitCode"].as_i64().unwrap_or(0);
        if code != 0 {
            return Err(ChainError::Rejected(format!(
                "Filecoin.StateCall: the message would exit with code {code}"
            )));
        }
        if !result["ExecutionTrace"].is_object() {
            return Err(ChainError::InvalidResponse(
                "Filecoin.StateCall: the answer has no ExecutionTrace".into(),
            ));
        }
        burnt(&result["ExecutionTrace"]).map(Some)
    }

    async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError> {
        let lookup = self
            .state_search_msg(&[], &CidJson::new(id.0.clone()))
            .await?;
        Ok(match lookup {
            None => MessageState::Pending,
            Some(l) => MessageState::Landed {
                epoch: l.height,
                exit_code: l.receipt.exit_code,
                error: (l.receipt.exit_code != 0)
                    .then(|| format!("message exited with code {}", l.receipt.exit_code)),
            },
        })
    }
}

/// The burnt funds actor.
const BURNT_FUNDS: [&str; 2] = ["f099", "t099"];

/// What an `ExecutionTrace` (and its `Subcalls`, at any depth) sends to
/// the burnt funds actor.
fn burnt(trace: &serde_json::Value) -> Result<TokenAmount, ChainError> {
    let msg = &trace["Msg"];
    let mut sum = TokenAmount::ZERO;
    if msg["To"]
        .as_str()
        .is_some_and(|to| BURNT_FUNDS.contains(&to))
    {
        let value = msg["Value"].as_str().unwrap_or("0");
        sum = sum
            + value.parse::<TokenAmount>().map_err(|_| {
                ChainError::InvalidResponse(format!(
                    "Filecoin.StateCall: a trace's Value {value:?} is not an amount"
                ))
            })?;
    }
    for call in trace["Subcalls"].as_array().into_iter().flatten() {
        sum = sum + burnt(call)?;
    }
    Ok(sum)
}
