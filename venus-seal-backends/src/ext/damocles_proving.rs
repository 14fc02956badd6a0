//! damocles' bodies of the proving stages (`vc-processors`
//! `builtin::tasks::{SnapEncode, SnapProve, WindowPoSt, WinningPoSt,
//! Unseal}`) and their translation; the table is in the parent module.

use std::any::Any;
use std::collections::BTreeSet;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use filecoin_proofs_api::{
    PieceInfo as ApiPieceInfo, RegisteredPoStProof, RegisteredSealProof, RegisteredUpdateProof,
    SectorId as ApiSectorId,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use venus_seal_core::proving::{
    PoStKind, PoStProof, ProvingSector, SectorFiles, SkippedSector, SnapEncodeOutput,
    UnsealRequest, WindowPoStOutput,
};
use venus_seal_core::stage::{Proof, SnapEncode, SnapProve, Unseal, WindowPoSt, WinningPoSt};
use venus_seal_core::{CommD, CommR, Randomness, SealProof, SectorId, SectorNumber};

use super::{from_api, miner_of_prover_id};
use crate::proof_type::{piece_to_api, post_proof, to_api, update_proof};
use crate::proving::{chain_id, post_randomness};

/// damocles' `SnapEncode` task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesSnapEncode {
    /// The update proof of the sector's size.
    pub registered_proof: RegisteredUpdateProof,
    /// The updated replica to write.
    pub new_replica_path: PathBuf,
    /// Its cache directory.
    pub new_cache_path: PathBuf,
    /// The sealed CC replica (the sector key).
    pub sector_path: PathBuf,
    /// Its cache directory.
    pub sector_cache_path: PathBuf,
    /// The staged deal data.
    pub staged_data_path: PathBuf,
    /// The pieces in it (unpadded sizes).
    pub piece_infos: Vec<ApiPieceInfo>,
}

/// damocles' `SnapEncodeOutput`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesSnapEncodeOutput {
    /// The updated replica's CommR.
    pub comm_r_new: [u8; 32],
    /// The root of its last tree (not used here).
    pub comm_r_last_new: [u8; 32],
    /// The deal data's CommD.
    pub comm_d_new: [u8; 32],
}

/// damocles' `SnapProve` task: the vanilla partition proofs are made by
/// damocles' worker beforehand; the processor only runs the SNARK. Its
/// output is the proof's bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesSnapProve {
    /// The update proof.
    pub registered_proof: RegisteredUpdateProof,
    /// The vanilla partition proofs (damocles' field name, misspelt
    /// upstream).
    pub vannilla_proofs: Vec<Vec<u8>>,
    /// The CC replica's CommR.
    pub comm_r_old: [u8; 32],
    /// The updated replica's CommR.
    pub comm_r_new: [u8; 32],
    /// The deal data's CommD.
    pub comm_d_new: [u8; 32],
}

/// damocles' `PoStReplicaInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesPoStReplica {
    /// The sector number.
    pub sector_id: ApiSectorId,
    /// Its CommR.
    pub comm_r: [u8; 32],
    /// Its cache directory.
    pub cache_dir: PathBuf,
    /// Its sealed replica.
    pub sealed_file: PathBuf,
}

/// damocles' `WindowPoSt` task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesWindowPoSt {
    /// The miner actor id.
    pub miner_id: u64,
    /// The PoSt proof type.
    pub proof_type: RegisteredPoStProof,
    /// The sectors to prove.
    pub replicas: Vec<DamoclesPoStReplica>,
    /// The challenge seed, top two bits of the last byte cleared.
    pub seed: [u8; 32],
}

/// A SNARK proof as damocles writes it (`b64serde::BytesVec`: standard
/// base64 with padding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoStProofB64(pub Vec<u8>);

impl Serialize for PoStProofB64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for PoStProofB64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD
            .decode(s)
            .map(PoStProofB64)
            .map_err(serde::de::Error::custom)
    }
}

/// damocles' `WindowPoStOutput`: the proofs, or (with no proofs) the
/// sectors whose vanilla proofs failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesWindowPoStOutput {
    /// The partition proofs.
    pub proofs: Vec<PoStProofB64>,
    /// Faulty sector numbers.
    pub faults: Vec<u64>,
}

/// damocles' `WinningPoSt` task (the fields of [`DamoclesWindowPoSt`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesWinningPoSt {
    /// The miner actor id.
    pub miner_id: u64,
    /// The PoSt proof type.
    pub proof_type: RegisteredPoStProof,
    /// The challenged sectors.
    pub replicas: Vec<DamoclesPoStReplica>,
    /// The challenge seed, top two bits of the last byte cleared.
    pub seed: [u8; 32],
}

/// damocles' `WinningPoStOutput`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesWinningPoStOutput {
    /// The proofs.
    pub proofs: Vec<PoStProofB64>,
}

/// damocles' `Unseal` task; the output is the number of bytes written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamoclesUnseal {
    /// The sector's proof type.
    pub registered_proof: RegisteredSealProof,
    /// The miner's prover id.
    pub prover_id: [u8; 32],
    /// The sector number.
    pub sector_id: ApiSectorId,
    /// The sector's CommD.
    pub comm_d: [u8; 32],
    /// The ticket it was sealed with.
    pub ticket: [u8; 32],
    /// Its cache directory.
    pub cache_dir: PathBuf,
    /// Its sealed replica.
    pub sealed_file: PathBuf,
    /// The file to write the unsealed bytes to.
    pub unsealed_output: PathBuf,
    /// Where the range starts, in unpadded bytes (`UnpaddedByteIndex`).
    pub offset: u64,
    /// How many unpadded bytes (`UnpaddedBytesAmount`).
    pub num_bytes: u64,
}

/// A damocles body of the proving stages.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum ProvingBody {
    SnapEncode(DamoclesSnapEncode),
    WindowPoSt(DamoclesWindowPoSt),
    WinningPoSt(DamoclesWinningPoSt),
    Unseal(DamoclesUnseal),
}

/// The damocles body of `task` if it is one of the proving stages
/// (`None` if it is not); the error says why it cannot be written.
pub(super) fn task_to_damocles(task: &dyn Any) -> Option<Result<ProvingBody, String>> {
    if let Some(t) = task.downcast_ref::<SnapEncode>() {
        return Some(Ok(ProvingBody::SnapEncode(snap_encode_to_damocles(t))));
    }
    if let Some(t) = task.downcast_ref::<WindowPoSt>() {
        return Some(window_post_to_damocles(t).map(ProvingBody::WindowPoSt));
    }
    if let Some(t) = task.downcast_ref::<WinningPoSt>() {
        return Some(winning_post_to_damocles(t).map(ProvingBody::WinningPoSt));
    }
    if let Some(t) = task.downcast_ref::<Unseal>() {
        return Some(Ok(ProvingBody::Unseal(unseal_to_damocles(t))));
    }
    None
}

/// damocles' output of a proving stage as this project's (`None` if
/// `task` is none of them).
pub(super) fn output_from_damocles(
    task: &dyn Any,
    output: &str,
) -> Option<Result<Box<dyn Any>, String>> {
    fn parse<'a, T: Deserialize<'a>>(s: &'a str) -> Result<T, String> {
        serde_json::from_str(s).map_err(|e| e.to_string())
    }
    if task.is::<SnapProve>() {
        return Some(
            parse::<Vec<u8>>(output).map(|proof| Box::new(Proof { proof }) as Box<dyn Any>),
        );
    }
    if task.is::<SnapEncode>() {
        return Some(parse::<DamoclesSnapEncodeOutput>(output).map(|o| {
            Box::new(SnapEncodeOutput {
                comm_r_new: CommR(o.comm_r_new),
                comm_d_new: CommD(o.comm_d_new),
            }) as Box<dyn Any>
        }));
    }
    if let Some(t) = task.downcast_ref::<WindowPoSt>() {
        return Some(
            parse::<DamoclesWindowPoStOutput>(output)
                .and_then(|o| window_post_output(t, o))
                .map(|o| Box::new(o) as Box<dyn Any>),
        );
    }
    if let Some(t) = task.downcast_ref::<WinningPoSt>() {
        return Some(
            parse::<DamoclesWinningPoStOutput>(output)
                .and_then(|o| winning_post_output(t, o))
                .map(|o| Box::new(o) as Box<dyn Any>),
        );
    }
    if task.is::<Unseal>() {
        return Some(parse::<u64>(output).map(|n| Box::new(n) as Box<dyn Any>));
    }
    None
}

/// This project's snap_encode task as damocles'.
pub fn snap_encode_to_damocles(t: &SnapEncode) -> DamoclesSnapEncode {
    DamoclesSnapEncode {
        registered_proof: update_proof(t.seal_proof),
        new_replica_path: t.update.sealed.clone(),
        new_cache_path: t.update.cache.clone(),
        sector_path: t.sector_key.sealed.clone(),
        sector_cache_path: t.sector_key.cache.clone(),
        staged_data_path: t.staged_data.clone(),
        piece_infos: t.pieces.iter().map(piece_to_api).collect(),
    }
}

/// This project's snap_prove task as damocles', with `vanilla_proofs`
/// (the partition proofs of the task's files).
pub fn snap_prove_to_damocles(t: &SnapProve, vanilla_proofs: Vec<Vec<u8>>) -> DamoclesSnapProve {
    DamoclesSnapProve {
        registered_proof: update_proof(t.encode.seal_proof),
        vannilla_proofs: vanilla_proofs,
        comm_r_old: t.comm_r_old.0,
        comm_r_new: t.encoded.comm_r_new.0,
        comm_d_new: t.encoded.comm_d_new.0,
    }
}

/// The vanilla partition proofs of a snap-up, from the sector key and the
/// updated replica named in `t`, as damocles' worker makes them before it
/// sends its snap_prove task. Reads the replicas: off the async threads
/// where the runtime allows it.
pub fn snap_vanilla_proofs(t: &SnapProve) -> Result<Vec<Vec<u8>>, String> {
    let e = &t.encode;
    let generate = || {
        filecoin_proofs_api::update::generate_partition_proofs(
            update_proof(e.seal_proof),
            t.comm_r_old.0,
            t.encoded.comm_r_new.0,
            t.encoded.comm_d_new.0,
            &e.sector_key.sealed,
            &e.sector_key.cache,
            &e.update.sealed,
            &e.update.cache,
        )
    };
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let proofs = if multi_thread {
        tokio::task::block_in_place(generate)
    } else {
        generate()
    };
    proofs
        .map(|p| p.into_iter().map(|p| p.0).collect())
        .map_err(|err| {
            format!(
                "cannot make the vanilla partition proofs of {} that damocles' snap_prove \
                 carries: {err:#}",
                e.sector
            )
        })
}

/// The one seal proof of `sectors`; the error names the mix.
fn one_seal_proof(stage: &str, sectors: &[ProvingSector]) -> Result<SealProof, String> {
    let proofs: BTreeSet<String> = sectors
        .iter()
        .map(|s| s.sector.seal_proof.to_string())
        .collect();
    match (sectors.first(), proofs.len()) {
        (None, _) => Err(format!("a {stage} task with no sectors")),
        (Some(first), 1) => Ok(first.sector.seal_proof),
        _ => Err(format!(
            "damocles' {stage} task has one proof type, the sectors mix {}",
            proofs.into_iter().collect::<Vec<_>>().join(", ")
        )),
    }
}

fn replicas(sectors: &[ProvingSector]) -> Vec<DamoclesPoStReplica> {
    sectors
        .iter()
        .map(|s| DamoclesPoStReplica {
            sector_id: ApiSectorId::from(s.sector.number.0),
            comm_r: s.sector.comm_r.0,
            cache_dir: s.files.cache.clone(),
            sealed_file: s.files.sealed.clone(),
        })
        .collect()
}

/// This project's window_post task as damocles'.
pub fn window_post_to_damocles(t: &WindowPoSt) -> Result<DamoclesWindowPoSt, String> {
    let seal = one_seal_proof("window_post", &t.sectors)?;
    Ok(DamoclesWindowPoSt {
        miner_id: t.miner.0,
        proof_type: post_proof(seal, PoStKind::Window),
        replicas: replicas(&t.sectors),
        seed: post_randomness(&t.randomness),
    })
}

/// This project's winning_post task as damocles'.
pub fn winning_post_to_damocles(t: &WinningPoSt) -> Result<DamoclesWinningPoSt, String> {
    let seal = one_seal_proof("winning_post", &t.sectors)?;
    Ok(DamoclesWinningPoSt {
        miner_id: t.miner.0,
        proof_type: post_proof(seal, PoStKind::Winning),
        replicas: replicas(&t.sectors),
        seed: post_randomness(&t.randomness),
    })
}

fn post_proofs(seal: SealProof, kind: PoStKind, proofs: Vec<PoStProofB64>) -> Vec<PoStProof> {
    let post_proof = chain_id(post_proof(seal, kind));
    proofs
        .into_iter()
        .map(|p| PoStProof {
            post_proof,
            proof: p.0,
        })
        .collect()
}

/// damocles' WindowPoSt output as this project's. With faults damocles
/// gives no proofs: the faulty sectors are skipped and none is proven.
fn window_post_output(
    t: &WindowPoSt,
    out: DamoclesWindowPoStOutput,
) -> Result<WindowPoStOutput, String> {
    let seal = one_seal_proof("window_post", &t.sectors)?;
    let asked: BTreeSet<u64> = t.sectors.iter().map(|s| s.sector.number.0).collect();
    if let Some(stray) = out.faults.iter().find(|f| !asked.contains(f)) {
        return Err(format!("fault {stray} is not a sector of the task"));
    }
    if out.faults.is_empty() {
        if out.proofs.is_empty() {
            return Err("neither proofs nor faults".into());
        }
        return Ok(WindowPoStOutput {
            proofs: post_proofs(seal, PoStKind::Window, out.proofs),
            proven: t.sectors.iter().map(|s| s.sector.number).collect(),
            skipped: Vec::new(),
        });
    }
    if !out.proofs.is_empty() {
        return Err("both proofs and faults".into());
    }
    Ok(WindowPoStOutput {
        proofs: Vec::new(),
        proven: Vec::new(),
        skipped: out
            .faults
            .iter()
            .map(|f| SkippedSector {
                number: SectorNumber(*f),
                reason: "the damocles processor found its vanilla proof faulty".into(),
            })
            .collect(),
    })
}

fn winning_post_output(
    t: &WinningPoSt,
    out: DamoclesWinningPoStOutput,
) -> Result<Vec<PoStProof>, String> {
    let seal = one_seal_proof("winning_post", &t.sectors)?;
    if out.proofs.is_empty() {
        return Err("no proofs".into());
    }
    Ok(post_proofs(seal, PoStKind::Winning, out.proofs))
}

/// This project's unseal task as damocles'.
pub fn unseal_to_damocles(t: &Unseal) -> DamoclesUnseal {
    let r = &t.request;
    DamoclesUnseal {
        registered_proof: to_api(r.seal_proof),
        prover_id: r.sector.miner.prover_id(),
        sector_id: ApiSectorId::from(r.sector.number.0),
        comm_d: r.comm_d.0,
        ticket: r.ticket.0,
        cache_dir: r.files.cache.clone(),
        sealed_file: r.files.sealed.clone(),
        unsealed_output: t.output.clone(),
        offset: r.offset,
        num_bytes: r.len,
    }
}

/// damocles' unseal task as this project's (it carries all of it).
pub fn unseal_from_damocles(t: DamoclesUnseal) -> Result<Unseal, String> {
    let miner = miner_of_prover_id(&t.prover_id)?;
    Ok(Unseal {
        request: UnsealRequest {
            sector: SectorId::new(miner, SectorNumber(u64::from(t.sector_id))),
            seal_proof: from_api(t.registered_proof)?,
            files: SectorFiles {
                sealed: t.sealed_file,
                cache: t.cache_dir,
            },
            comm_d: CommD(t.comm_d),
            ticket: Randomness(t.ticket),
            offset: t.offset,
            len: t.num_bytes,
        },
        output: t.unsealed_output,
    })
}
