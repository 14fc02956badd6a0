//! Proving on filecoin-proofs-api: WindowPoSt, WinningPoSt, snap-up and
//! unsealing.
//!
//! [`LocalProver`] implements the core's [`PoStProver`], [`SnapUpProver`]
//! and [`Unsealer`]; the verifying side is on
//! [`LocalSealVerifier`](crate::LocalSealVerifier).
//!
//! Before a WindowPoSt each sector's files are checked (replica size,
//! `p_aux`, tree-r-last, and a vanilla proof over random challenges, as
//! Lotus' `CheckProvable`); a sector that fails, or that filecoin-proofs
//! reports faulty while proving (`FaultySectors`), is skipped with its
//! reason and the rest are proven.
//!
//! Unsealed pieces go to a file with the core's
//! [`unseal_to_file`](venus_seal_core::proving::unseal_to_file) or to an
//! HTTP server with [`unseal_to_http`].

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
use venus_seal_core::proving::{
    PoStKind, PoStProof, PoStProver, ProvingError, ProvingSector, SkippedSector, SnapEncodeOutput,
    SnapEncodeRequest, SnapProveRequest, SnapUpProver, UnsealRequest, Unsealer, WindowPoStOutput,
    WindowPoStRequest, WinningPoStRequest,
};
use venus_seal_core::{ActorId, Randomness, SealProof};

use crate::proof_type::{post_proof, update_proof};

pub use upload::{unseal_to_http, HttpDestination, UploadMethod, DEFAULT_MEMORY_LIMIT};

pub(crate) use snap::verify as verify_replica_update;
pub(crate) use window::verify as verify_window_post;
pub(crate) use winning::{challenge as winning_challenge, verify as verify_winning_post};

/// Proves with filecoin-proofs-api on this machine's CPU (or GPU with the
/// `cuda` / `opencl` features). The Groth16 parameters must be in the
/// active parameter cache (see [`crate::params::ParameterCache`]); a
/// missing file is [`ProvingError::Parameters`], never a faulty sector.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalProver;

impl LocalProver {
    /// A prover.
    pub fn new() -> Self {
        Self
    }
}

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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ProvingError> + Send + 'static,
) -> Result<T, ProvingError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ProvingError::Proof {
            what: "a proving task".into(),
            message: format!("panicked: {e}"),
        })?
}

#[async_trait]
impl PoStProver for LocalProver {
    async fn check_provable(
        &self,
        miner: ActorId,
        sectors: &[ProvingSector],
    ) -> Result<Vec<SkippedSector>, ProvingError> {
        let sectors = sectors.to_vec();
        blocking(move || {
            Ok(sectors
                .iter()
                .filter_map(|s| {
                    let post = post_proof(s.sector.seal_proof, PoStKind::Window);
                    check::check_sector(miner, s, post)
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

    async fn generate_window_post(
        &self,
        request: &WindowPoStRequest,
    ) -> Result<WindowPoStOutput, ProvingError> {
        if let Some(s) = request.sectors.first() {
            require_post_params(s.sector.seal_proof, PoStKind::Window)?;
        }
        let request = request.clone();
        blocking(move || window::window_post(&request)).await
    }

    async fn winning_post_challenge(
        &self,
        seal_proof: SealProof,
        miner: ActorId,
        randomness: &Randomness,
        eligible: u64,
    ) -> Result<Vec<u64>, ProvingError> {
        let randomness = *randomness;
        blocking(move || {
            winning::challenge(seal_proof, miner, &randomness, eligible).map_err(|e| {
                ProvingError::Proof {
                    what: format!("WinningPoSt challenge of {miner}"),
                    message: format!("{e:#}"),
                }
            })
        })
        .await
    }

    async fn generate_winning_post(
        &self,
        request: &WinningPoStRequest,
    ) -> Result<Vec<PoStProof>, ProvingError> {
        if let Some(s) = request.sectors.first() {
            require_post_params(s.sector.seal_proof, PoStKind::Winning)?;
        }
        let request = request.clone();
        blocking(move || winning::winning_post(&request)).await
    }
}

impl SnapUpProver for LocalProver {
    fn snap_encode(&self, request: &SnapEncodeRequest) -> Result<SnapEncodeOutput, ProvingError> {
        snap::encode(request)
    }

    fn snap_prove(&self, request: &SnapProveRequest) -> Result<Vec<u8>, ProvingError> {
        let proof_type = update_proof(request.encode.seal_proof);
        let (path, _) =
            crate::params::active_update_files(request.encode.seal_proof.sector_size().0)
                .map_err(|e| ProvingError::Parameters(format!("{proof_type:?}: {e:#}")))?;
        if !path.exists() {
            return Err(ProvingError::Parameters(format!(
                "the {proof_type:?} (empty sector update) parameters are missing: {} (fetch \
                 them, or generate test ones with ParameterCache::ensure_update)",
                path.display()
            )));
        }
        snap::prove(request)
    }
}

impl Unsealer for LocalProver {
    fn unseal(&self, request: &UnsealRequest, out: &mut dyn Write) -> Result<u64, ProvingError> {
        unseal::unseal(request, out)
    }
}
