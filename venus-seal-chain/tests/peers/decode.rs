//! The fake peers' side of the wire: a pushed message's JSON (Lotus'
//! `types.Message`) read back into the [`MinerMessage`] the devnet behind
//! the fakes executes. Only what the manager sends for sealing is
//! understood: `PreCommitSectorBatch2` (method 28) and
//! `ProveCommitSectors3` (method 34) with one proof per sector.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use venus_seal_chain::lotus::actor_types::{
    PreCommitSectorBatchParams2, ProveCommitSectors3Params,
};
use venus_seal_chain::lotus::params::{
    METHOD_PRE_COMMIT_SECTOR_BATCH2, METHOD_PROVE_COMMIT_SECTORS3,
};
use venus_seal_chain::lotus::zero_comm_d;
use venus_seal_core::chain::{MinerCall, MinerMessage, PreCommitParams, ProveCommitParams};
use venus_seal_core::stage::Proof;
use venus_seal_core::{ActorId, CommD, CommR, SealProof, SectorNumber, TokenAmount};

/// The miner message carried by `msg` (`To`, `Value`, `Method`, `Params`
/// of Lotus' `types.Message` JSON, lotus chain/types/message.go).
pub fn miner_message(msg: &Value) -> Result<MinerMessage, String> {
    let to = msg["To"].as_str().ok_or("no To")?;
    let miner = to
        .strip_prefix("f0")
        .or_else(|| to.strip_prefix("t0"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("To {to} is not an ID address"))?;
    let value: TokenAmount = msg["Value"]
        .as_str()
        .ok_or("no Value")?
        .parse()
        .map_err(|e| format!("Value: {e}"))?;
    let params = B64
        .decode(msg["Params"].as_str().ok_or("no Params")?)
        .map_err(|e| format!("Params: {e}"))?;
    let call = match msg["Method"].as_u64().ok_or("no Method")? {
        METHOD_PRE_COMMIT_SECTOR_BATCH2 => {
            let p: PreCommitSectorBatchParams2 =
                fvm_ipld_encoding::from_slice(&params).map_err(|e| e.to_string())?;
            let mut sectors = Vec::new();
            for s in p.sectors {
                let seal_proof =
                    SealProof::from_id(i64::from(s.seal_proof)).map_err(|e| e.to_string())?;
                sectors.push(PreCommitParams {
                    sector_number: SectorNumber(s.sector_number),
                    seal_proof,
                    sealed_cid: CommR::from_cid(&s.sealed_cid).map_err(|e| e.to_string())?,
                    unsealed_cid: match s.unsealed_cid.0 {
                        Some(c) => CommD::from_cid(&c).map_err(|e| e.to_string())?,
                        None => zero_comm_d(seal_proof),
                    },
                    seal_rand_epoch: s.seal_rand_epoch,
                    deal_ids: s.deal_ids,
                    expiration: s.expiration,
                });
            }
            MinerCall::PreCommitSectorBatch2(sectors)
        }
        METHOD_PROVE_COMMIT_SECTORS3 => {
            let p: ProveCommitSectors3Params =
                fvm_ipld_encoding::from_slice(&params).map_err(|e| e.to_string())?;
            if p.sector_proofs.len() != p.sector_activations.len() {
                return Err("the fake takes one proof per sector, not aggregates".into());
            }
            let mut sectors = Vec::new();
            for (a, proof) in p.sector_activations.iter().zip(p.sector_proofs) {
                if !a.pieces.is_empty() {
                    return Err("the fake takes committed-capacity sectors only".into());
                }
                sectors.push(ProveCommitParams {
                    sector_number: SectorNumber(a.sector_number),
                    pieces: Vec::new(),
                    proof: Proof {
                        proof: proof.to_vec(),
                    },
                });
            }
            MinerCall::ProveCommitSectors3(sectors)
        }
        other => return Err(format!("method {other} is not a sealing message")),
    };
    Ok(MinerMessage::new(ActorId(miner), call).with_value(value))
}
