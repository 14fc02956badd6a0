//! Checking a sector's files before proving it, as Lotus' `CheckProvable`
//! does: the replica and cache files are there and sized right, and a
//! vanilla PoSt proof over random challenges can be drawn from them.

use std::collections::BTreeMap;
use std::path::Path;

use filecoin_proofs_api::post::{
    generate_fallback_sector_challenges, generate_single_vanilla_proof,
};
use filecoin_proofs_api::{
    PrivateReplicaInfo, PublicReplicaInfo, RegisteredPoStProof, SectorId as ApiSectorId,
};
use venus_seal_core::proving::{PoStSector, ProvingSector};
use venus_seal_core::ActorId;

use super::proof_ids::post_randomness;

/// The cache files a PoSt reads besides the tree-r-last files.
const CACHE_FILES: [&str; 1] = ["p_aux"];

/// The filecoin-proofs replica of `s` for `post`.
pub(crate) fn replica(s: &ProvingSector, post: RegisteredPoStProof) -> PrivateReplicaInfo {
    PrivateReplicaInfo::new(
        post,
        s.sector.comm_r.0,
        s.files.cache.clone(),
        s.files.sealed.clone(),
    )
}

/// The public replicas a PoSt verifier checks against.
pub(crate) fn public_replicas(
    sectors: &[PoStSector],
    post: RegisteredPoStProof,
) -> BTreeMap<ApiSectorId, PublicReplicaInfo> {
    sectors
        .iter()
        .map(|s| {
            (
                ApiSectorId::from(s.number.0),
                PublicReplicaInfo::new(post, s.comm_r.0),
            )
        })
        .collect()
}

/// Why `s` cannot be proven, or `Ok` if it can.
pub(crate) fn check_sector(
    miner: ActorId,
    s: &ProvingSector,
    post: RegisteredPoStProof,
) -> Result<(), String> {
    check_files(s)?;
    // Challenges from fixed randomness: any challenge reads the trees the
    // real one will (a 2KiB vanilla proof takes microseconds).
    let sector_id = filecoin_proofs_api::SectorId::from(s.sector.number.0);
    let randomness = post_randomness(&venus_seal_core::Randomness([7; 32]));
    let prover_id = miner.prover_id();
    let challenges =
        generate_fallback_sector_challenges(post, &randomness, &[sector_id], prover_id)
            .map_err(|e| format!("drawing check challenges: {e:#}"))?;
    let challenges = challenges.get(&sector_id).cloned().unwrap_or_default();
    generate_single_vanilla_proof(post, sector_id, &replica(s, post), &challenges)
        .map_err(|e| format!("vanilla proof over its files fails: {e:#}"))?;
    Ok(())
}

fn check_files(s: &ProvingSector) -> Result<(), String> {
    let size = s.sector.seal_proof.sector_size().0;
    let sealed = &s.files.sealed;
    let meta = std::fs::metadata(sealed)
        .map_err(|e| format!("sealed replica {}: {e}", sealed.display()))?;
    if meta.len() != size {
        return Err(format!(
            "sealed replica {} is {} bytes, not the sector size {size}",
            sealed.display(),
            meta.len()
        ));
    }
    let cache = &s.files.cache;
    if !cache.is_dir() {
        return Err(format!("cache directory {} is missing", cache.display()));
    }
    for name in CACHE_FILES {
        require(&cache.join(name))?;
    }
    let single = cache.join("sc-02-data-tree-r-last.dat");
    let first = cache.join("sc-02-data-tree-r-last-0.dat");
    if !single.exists() && !first.exists() {
        return Err(format!(
            "cache file {} (or its -0 split) is missing",
            single.display()
        ));
    }
    Ok(())
}

fn require(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > 0 => Ok(()),
        Ok(_) => Err(format!("cache file {} is empty", path.display())),
        Err(e) => Err(format!("cache file {}: {e}", path.display())),
    }
}
