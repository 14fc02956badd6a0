//! damocles' WindowPoSt job shapes (the `wdpost` plan):
//! `Venus.WdPoStAllocateJobs`, `Venus.WdPoStHeartbeatJobs`,
//! `Venus.WdPoStFinishJob`.
//!
//! Read from damocles-worker `src/rpc/sealer/mod.rs` (commit
//! `91f2d704b462d3b36a21e729448f1061aab72e7f`: `AllocatePoStSpec`,
//! `WdPoStSectorInfo`, `WdPoStInput`, `AllocatedWdPoStJob`,
//! `SectorAccessStores`; the output is vc-processors'
//! `builtin::tasks::WindowPoStOutput`) and damocles-manager
//! `core/types_wdpost.go` (commit
//! `0588ffbfce1bed7db17ebe43ca22510101c2309a`: `WdPoStAllocatedJob`,
//! `AllocateWdPoStJobSpec`, `WdPoStInput`, `WdPoStSectorInfo`) with
//! `pkg/extproc/stage/ext_window_post.go` (commit
//! `1ae89614d4652e27b3a76a2c8b9dc507d86336a2`: `WindowPoStOutput`,
//! `ProofType2String`).
//!
//! On the wire: `CommR` and `Seed` are 32-number arrays (Go `[32]byte`,
//! Rust `[u8; 32]`), `SectorId` and `MinerId` numbers, `ProofType` the
//! filecoin-proofs-api variant name (`StackedDrgWindow32GiBV1_2`: Go's
//! `ProofType2String` maps the chain's `…V1_1` to it), the output's proofs
//! base64 (vc-processors `SnarkProof`, Go `[]byte`). `Heartbeat` and
//! `Finish` answer `null` (Go's `core.Meta` nil). The Go manager may write
//! `null` for an empty list; it is read as empty.

use serde::{Deserialize, Deserializer, Serialize};
use venus_seal_core::post_jobs::{
    seal_proof_of_size, PoStJobOutput, PoStJobSector, PoStJobSpec, WindowPoStJob,
};
use venus_seal_core::{ActorId, CommR, Randomness, SealProof, SectorNumber, SectorSize};

use super::b64_vec;

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// The WindowPoSt proof name damocles uses for sectors of `size`
/// (`StackedDrgWindow<size>V1_2`).
///
/// ```
/// use venus_seal_rpc::manager::wire::{window_post_name, window_post_size};
/// use venus_seal_core::SectorSize;
/// assert_eq!(window_post_name(SectorSize(32 << 30)), "StackedDrgWindow32GiBV1_2");
/// assert_eq!(window_post_size("StackedDrgWindow2KiBV1_2"), Some(SectorSize(2048)));
/// assert_eq!(window_post_size("StackedDrgWinning2KiBV1"), None);
/// ```
pub fn window_post_name(size: SectorSize) -> String {
    format!("StackedDrgWindow{size}V1_2")
}

/// The sector size of a damocles WindowPoSt proof name (`…V1`, `…V1_1` or
/// `…V1_2`); `None` for a WinningPoSt or unknown name.
pub fn window_post_size(name: &str) -> Option<SectorSize> {
    let rest = name.strip_prefix("StackedDrgWindow")?;
    let (size, version) = rest.split_at(rest.find('V')?);
    if !matches!(version, "V1" | "V1_1" | "V1_2") {
        return None;
    }
    SealProof::ALL[..5]
        .iter()
        .map(|p| p.sector_size())
        .find(|s| s.to_string() == size)
}

/// `AllocatePoStSpec` (worker) / `AllocateWdPoStJobSpec` (Go manager):
/// both lists may be `null` or empty (no restriction).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatePoStSpec {
    /// Only these miners.
    pub allowed_miners: Option<Vec<ActorId>>,
    /// Only these PoSt proof types, by name.
    pub allowed_proof_types: Option<Vec<String>>,
}

/// As the Go manager filters: an empty list is no restriction; a list
/// of names selects the sizes of its WindowPoSt names (a list of only
/// WinningPoSt names selects nothing).
impl From<AllocatePoStSpec> for PoStJobSpec {
    fn from(w: AllocatePoStSpec) -> Self {
        PoStJobSpec {
            miners: w.allowed_miners.filter(|m| !m.is_empty()),
            sector_sizes: w
                .allowed_proof_types
                .filter(|t| !t.is_empty())
                .map(|t| t.iter().filter_map(|n| window_post_size(n)).collect()),
        }
    }
}

impl From<&PoStJobSpec> for AllocatePoStSpec {
    fn from(s: &PoStJobSpec) -> Self {
        AllocatePoStSpec {
            allowed_miners: s.miners.clone(),
            allowed_proof_types: s
                .sector_sizes
                .as_ref()
                .map(|sizes| sizes.iter().map(|s| window_post_name(*s)).collect()),
        }
    }
}

/// `SectorAccessStores`: the persist stores (by name) of a sector's
/// replica and cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorAccessStores {
    /// The store holding the replica.
    pub sealed_file: String,
    /// The store holding the cache directory.
    pub cache_dir: String,
}

/// `WdPoStSectorInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WdPoStSectorInfo {
    /// The sector number.
    #[serde(rename = "SectorId")]
    pub sector_id: u64,
    /// Its replica commitment.
    pub comm_r: [u8; 32],
    /// Whether it was snapped up (`update/`, `update-cache/`).
    pub upgrade: bool,
    /// Where its files are.
    pub accesses: SectorAccessStores,
}

/// `WdPoStInput`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WdPoStInput {
    /// The sectors.
    #[serde(deserialize_with = "null_as_empty")]
    pub sectors: Vec<WdPoStSectorInfo>,
    /// The miner actor id.
    #[serde(rename = "MinerId")]
    pub miner_id: u64,
    /// The WindowPoSt proof name.
    pub proof_type: String,
    /// The challenge randomness (already cleared to a field element).
    pub seed: [u8; 32],
}

/// `AllocatedWdPoStJob` (worker) / `WdPoStAllocatedJob` (Go manager).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocatedWdPoStJob {
    /// The job's id.
    #[serde(rename = "Id")]
    pub id: String,
    /// What to prove.
    pub input: WdPoStInput,
}

impl From<&WindowPoStJob> for AllocatedWdPoStJob {
    fn from(j: &WindowPoStJob) -> Self {
        // As the proofs take it and damocles' manager sends it.
        let mut seed = j.randomness.0;
        seed[31] &= 0x3f;
        AllocatedWdPoStJob {
            id: j.id.clone(),
            input: WdPoStInput {
                sectors: j
                    .sectors
                    .iter()
                    .map(|s| WdPoStSectorInfo {
                        sector_id: s.number.0,
                        comm_r: s.comm_r.0,
                        upgrade: s.upgrade,
                        accesses: SectorAccessStores {
                            sealed_file: s.sealed_store.clone(),
                            cache_dir: s.cache_store.clone(),
                        },
                    })
                    .collect(),
                miner_id: j.miner.0,
                proof_type: window_post_name(j.seal_proof.sector_size()),
                seed,
            },
        }
    }
}

impl TryFrom<AllocatedWdPoStJob> for WindowPoStJob {
    type Error = String;

    fn try_from(w: AllocatedWdPoStJob) -> Result<Self, String> {
        let seal_proof = window_post_size(&w.input.proof_type)
            .and_then(seal_proof_of_size)
            .ok_or_else(|| {
                format!(
                    "WindowPoSt job {}: {:?} is not a WindowPoSt proof type",
                    w.id, w.input.proof_type
                )
            })?;
        Ok(WindowPoStJob {
            id: w.id,
            miner: ActorId(w.input.miner_id),
            seal_proof,
            randomness: Randomness(w.input.seed),
            sectors: w
                .input
                .sectors
                .into_iter()
                .map(|s| PoStJobSector {
                    number: SectorNumber(s.sector_id),
                    comm_r: CommR(s.comm_r),
                    upgrade: s.upgrade,
                    sealed_store: s.accesses.sealed_file,
                    cache_store: s.accesses.cache_dir,
                })
                .collect(),
        })
    }
}

/// A proof as damocles writes one: base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct B64Proof(#[serde(with = "b64_vec")] pub Vec<u8>);

/// `WindowPoStOutput` (vc-processors' and the Go manager's `stage`
/// package: lower-case fields).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WdPoStOutput {
    /// The partition proofs, base64.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub proofs: Vec<B64Proof>,
    /// The sectors that could not be proven.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub faults: Vec<u64>,
}

impl From<&PoStJobOutput> for WdPoStOutput {
    fn from(o: &PoStJobOutput) -> Self {
        WdPoStOutput {
            proofs: o.proofs.iter().cloned().map(B64Proof).collect(),
            faults: o.faults.iter().map(|f| f.0).collect(),
        }
    }
}

impl From<WdPoStOutput> for PoStJobOutput {
    fn from(w: WdPoStOutput) -> Self {
        PoStJobOutput {
            proofs: w.proofs.into_iter().map(|p| p.0).collect(),
            faults: w.faults.into_iter().map(SectorNumber).collect(),
        }
    }
}

/// `WdPoStFinishJob`'s `(output, error_reason)` as a result: a non-empty
/// reason is a failure (whatever the output), as the Go manager reads it.
pub fn finish_result(
    output: Option<WdPoStOutput>,
    error_reason: String,
) -> Result<PoStJobOutput, String> {
    if !error_reason.is_empty() {
        return Err(error_reason);
    }
    output
        .map(Into::into)
        .ok_or_else(|| "the worker sent neither an output nor an error".to_string())
}

/// A result as `WdPoStFinishJob`'s `(output, error_reason)`.
pub fn finish_params(result: &Result<PoStJobOutput, String>) -> (Option<WdPoStOutput>, String) {
    match result {
        Ok(out) => (Some(out.into()), String::new()),
        // damocles reads "" as success: a failure always says something.
        Err(reason) if reason.is_empty() => (None, "failed".into()),
        Err(reason) => (None, reason.clone()),
    }
}
