//! Proving on filecoin-proofs-api: WindowPoSt, WinningPoSt, snap-up and
//! unsealing.
//!
//! [`LocalExecutor`] runs the core's proving stages (`window_post`,
//! `winning_post`, `check_provable`, `snap_encode`, `snap_prove`,
//! `unseal`) as it runs the sealing ones; the verifying side is on
//! [`LocalProofVerifier`](crate::LocalProofVerifier).
//!
//! Before a WindowPoSt each sector's files are checked (replica size,
//! `p_aux`, tree-r-last, and a vanilla proof over random challenges, as
//! Lotus' `CheckProvable`); a sector that fails, or that filecoin-proofs
//! reports faulty while proving (`FaultySectors`), is skipped with its
//! reason and the rest are proven.
//!
//! Unsealed pieces go to a file with the core's
//! [`unseal_to_file`](venus_seal_core::proving::unseal_to_file) or to an
//! HTTP server with [`unseal_to_http`], through any `Executor<Unseal>`.

mod check;
mod proof_ids;
mod snap;
mod unseal;
mod upload;
pub(crate) mod window;
pub(crate) mod winning;

use std::io::Write;

use async_trait::async_trait;
use filecoin_proofs_api::RegisteredPoStProof;
use venus_seal_core::proving::{PoStKind, PoStProof, ProvingError, SkippedSector};
use venus_seal_core::stage::{
    CheckProvable, Proof, SnapEncode, SnapProve, Stage, Unseal, WindowPoSt, WinningPoSt,
};
use venus_seal_core::{Executor, SealProof, StageError};

use crate::LocalExecutor;

use crate::proof_type::{post_proof, update_proof};

pub use upload::{unseal_to_http, HttpDestination, UploadMethod, DEFAULT_MEMORY_LIMIT};

// ext::damocles labels and seeds PoSt tasks as the local prover does.
pub(crate) use proof_ids::{chain_id, post_randomness};
pub(crate) use snap::verify as verify_replica_update;
pub(crate) use window::verify as verify_window_post;
pub(crate) use winning::{challenge as winning_challenge, verify as verify_winning_post};

fn require_post_params(
    seal: SealProof,
    kind: PoStKind,
) -> Result<RegisteredPoStProof, ProvingError> {
    let post = post_proof(seal, kind);
    let path = post
        .cache_params_path()
        .map_err(|e| ProvingError::Parameters(format!("{post:?}: {e:#}")))?;
    if !path.exists() {
        return Err(ProvingError::Parameters(format!(
            "the {post:?} parameters are missing: {} (fetch them, or generate test ones with \
             ParameterCache::ensure_post)",
            path.display()
        )));
    }
    Ok(post)
}

fn require_update_params(seal: SealProof) -> Result<(), ProvingError> {
    let proof_type = update_proof(seal);
    let (path, _) = crate::params::active_update_files(seal.sector_size().0)
        .map_err(|e| ProvingError::Parameters(format!("{proof_type:?}: {e:#}")))?;
    if !path.exists() {
        return Err(ProvingError::Parameters(format!(
            "the {proof_type:?} (empty sector update) parameters are missing: {} (fetch \
             them, or generate test ones with ParameterCache::ensure_update)",
            path.display()
        )));
    }
    Ok(())
}

/// Runs blocking proving work off the async runtime; a panic inside the
/// proving library becomes a Permanent computation error.
async fn blocking<T: Send + 'static>(
    stage: &'static str,
    f: impl FnOnce() -> Result<T, ProvingError> + Send + 'static,
) -> Result<T, StageError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(StageError::from),
        Err(e) => Err(StageError::Computation(format!("{stage} panicked: {e}"))),
    }
}

/// Proves one partition: checks the files, skips the faulty sectors
/// (reported in the output) and proves the rest. The Groth16 parameters
/// must be in the active parameter cache (see
/// [`crate::params::ParameterCache`]); a missing file is
/// [`StageError::Missing`], never a faulty sector.
#[async_trait]
impl Executor<WindowPoSt> for LocalExecutor {
    async fn execute(
        &self,
        task: WindowPoSt,
    ) -> Result<venus_seal_core::proving::WindowPoStOutput, StageError> {
        if let Some(s) = task.sectors.first() {
            require_post_params(s.sector.seal_proof, PoStKind::Window)?;
        }
        blocking(WindowPoSt::NAME, move || window::window_post(&task)).await
    }
}

/// Checks each sector's files and draws a vanilla proof from them (as
/// Lotus' `CheckProvable`).
#[async_trait]
impl Executor<CheckProvable> for LocalExecutor {
    async fn execute(&self, task: CheckProvable) -> Result<Vec<SkippedSector>, StageError> {
        blocking(CheckProvable::NAME, move || {
            Ok(task
                .sectors
                .iter()
                .filter_map(|s| {
                    let post = post_proof(s.sector.seal_proof, PoStKind::Window);
                    check::check_sector(task.miner, s, post)
                        .err()
                        .map(|reason| SkippedSector {
                            number: s.sector.number,
                            reason,
                        })
                })
                .collect())
        })
        .await
    }
}

/// Proves the challenged sectors of a WinningPoSt; any unprovable sector
/// fails the proof.
#[async_trait]
impl Executor<WinningPoSt> for LocalExecutor {
    async fn execute(&self, task: WinningPoSt) -> Result<Vec<PoStProof>, StageError> {
        if let Some(s) = task.sectors.first() {
            require_post_params(s.sector.seal_proof, PoStKind::Winning)?;
        }
        blocking(WinningPoSt::NAME, move || winning::winning_post(&task)).await
    }
}

/// Encodes the staged data into the sector key, writing the updated
/// replica and cache.
#[async_trait]
impl Executor<SnapEncode> for LocalExecutor {
    async fn execute(
        &self,
        task: SnapEncode,
    ) -> Result<venus_seal_core::proving::SnapEncodeOutput, StageError> {
        blocking(SnapEncode::NAME, move || snap::encode(&task)).await
    }
}

/// Proves an encoding (the proof `ProveReplicaUpdates` carries).
#[async_trait]
impl Executor<SnapProve> for LocalExecutor {
    async fn execute(&self, task: SnapProve) -> Result<Proof, StageError> {
        require_update_params(task.encode.seal_proof)?;
        blocking(SnapProve::NAME, move || {
            snap::prove(&task).map(|proof| Proof { proof })
        })
        .await
    }
}

/// Writes the range to the task's output file (created or truncated),
/// synced before it answers.
#[async_trait]
impl Executor<Unseal> for LocalExecutor {
    async fn execute(&self, task: Unseal) -> Result<u64, StageError> {
        blocking(Unseal::NAME, move || {
            let io = |source| ProvingError::Io {
                path: task.output.clone(),
                source,
            };
            let file = std::fs::File::create(&task.output).map_err(io)?;
            let mut out = std::io::BufWriter::new(file);
            let written = unseal::unseal(&task.request, &mut out)?;
            out.flush().map_err(io)?;
            let file = out.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
            Ok(written)
        })
        .await
    }
}
