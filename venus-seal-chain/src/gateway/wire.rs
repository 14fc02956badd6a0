//! venus-gateway's proof-event types as they travel (see
//! `docs/venus-gateway.md` for the upstream files): Go field names, `[]byte`
//! as standard base64, CIDs as `{"/": ...}`, UUIDs as strings.

use base64::Engine;
use serde::{Deserialize, Serialize};
use venus_seal_core::proving::{ComputeProofRequest, PoStProof, PoStSector};
use venus_seal_core::{ActorId, CommR, SealProof, SectorNumber};

/// `[]byte` in Go's JSON: standard padded base64, `null` for nil.
mod go_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(Vec::new()),
            Some(s) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A CID as go-cid marshals it to JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CidJson {
    /// The CID's string form.
    #[serde(rename = "/")]
    pub root: String,
}

/// `gateway.ProofRegisterPolicy`: the `ListenProofEvent` parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProofRegisterPolicy {
    /// The miner's address (`"f01000"`).
    pub miner_address: String,
}

/// `gateway.RequestEvent`: one value of the `ListenProofEvent` channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEvent {
    /// The request's UUID, echoed in the answer.
    #[serde(rename = "Id")]
    pub id: String,
    /// `"InitConnect"` or `"ComputeProof"`.
    #[serde(rename = "Method")]
    pub method: String,
    /// The method's JSON parameters, as bytes.
    #[serde(rename = "Payload", with = "go_bytes")]
    pub payload: Vec<u8>,
}

/// `gateway.ResponseEvent`: the `ResponseProofEvent` parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseEvent {
    /// The request's UUID.
    #[serde(rename = "Id")]
    pub id: String,
    /// The result's JSON (`[]PoStProof`), or nothing on error.
    #[serde(rename = "Payload", serialize_with = "nil_or_bytes", default)]
    pub payload: Option<Vec<u8>>,
    /// `""` on success.
    #[serde(rename = "Error")]
    pub error: String,
}

fn nil_or_bytes<S: serde::Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        None => s.serialize_none(),
        Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

/// `gateway.ConnectedCompleted`: the `InitConnect` payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedCompleted {
    /// The gateway's id for this channel.
    #[serde(rename = "ChannelId")]
    pub channel_id: String,
}

/// go-state-types `proof.ExtendedSectorInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExtendedSectorInfo {
    /// The registered seal proof number.
    pub seal_proof: i64,
    /// The sector number.
    pub sector_number: u64,
    /// The sector key (pre-snap CommR) of an upgraded sector.
    #[serde(default)]
    pub sector_key: Option<CidJson>,
    /// The CommR.
    #[serde(rename = "SealedCID")]
    pub sealed_cid: CidJson,
}

/// `gateway.ComputeProofRequest`: the `ComputeProof` payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GatewayComputeProof {
    /// The miner's eligible sectors (the challenge picks from these).
    pub sector_infos: Vec<ExtendedSectorInfo>,
    /// The WinningPoSt randomness.
    #[serde(with = "go_bytes")]
    pub rand: Vec<u8>,
    /// The epoch of the block being mined.
    pub height: i64,
    /// The network version.
    #[serde(rename = "NWVersion")]
    pub nw_version: u32,
}

/// go-state-types `proof.PoStProof`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GoPoStProof {
    /// The registered PoSt proof number.
    #[serde(rename = "PoStProof")]
    pub post_proof: i64,
    /// The proof.
    #[serde(with = "go_bytes")]
    pub proof_bytes: Vec<u8>,
}

impl GatewayComputeProof {
    /// The core's request for `miner`; an error names the field at fault.
    pub fn to_request(&self, miner: ActorId) -> Result<ComputeProofRequest, String> {
        let rand: [u8; 32] = self.rand.as_slice().try_into().map_err(|_| {
            format!(
                "ComputeProofRequest.Rand: {} bytes, expected 32",
                self.rand.len()
            )
        })?;
        let sectors =
            self.sector_infos
                .iter()
                .map(|s| {
                    let seal_proof = SealProof::from_id(s.seal_proof)
                        .map_err(|e| format!("SectorInfos[{}].SealProof: {e}", s.sector_number))?;
                    let cid: cid::Cid =
                        s.sealed_cid.root.parse().map_err(|e| {
                            format!("SectorInfos[{}].SealedCID: {e}", s.sector_number)
                        })?;
                    let comm_r = CommR::from_cid(&cid)
                        .map_err(|e| format!("SectorInfos[{}].SealedCID: {e}", s.sector_number))?;
                    let sector_key = match &s.sector_key {
                        None => None,
                        Some(key) => {
                            let cid: cid::Cid = key.root.parse().map_err(|e| {
                                format!("SectorInfos[{}].SectorKey: {e}", s.sector_number)
                            })?;
                            Some(CommR::from_cid(&cid).map_err(|e| {
                                format!("SectorInfos[{}].SectorKey: {e}", s.sector_number)
                            })?)
                        }
                    };
                    Ok(PoStSector {
                        number: SectorNumber(s.sector_number),
                        seal_proof,
                        comm_r,
                        sector_key,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
        Ok(ComputeProofRequest {
            miner,
            sectors,
            randomness: venus_seal_core::Randomness(rand),
            epoch: self.height,
        })
    }
}

impl From<&PoStProof> for GoPoStProof {
    fn from(p: &PoStProof) -> Self {
        GoPoStProof {
            post_proof: p.post_proof,
            proof_bytes: p.proof.clone(),
        }
    }
}
