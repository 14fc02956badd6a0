//! Stages run in this process on filecoin-proofs-api.
//!
//! CPU by default; build with the `cuda` or `opencl` feature for GPU tree
//! building and C2. Every call runs on a blocking thread.
//!
//! A stage that writes the sector's files (add_pieces, tree_d, pc1, pc2)
//! makes them durable before it returns: each output file or directory
//! tree is fsynced, and the directory that names it
//! ([`venus_seal_core::durable`]), so a caller that records the stage done
//! never records files a power cut can take back.

mod pieces;
mod seal;
mod tree_d;
mod verifier;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use venus_seal_core::durable::{sync_tree_with, OsSync, Syncer};
use venus_seal_core::stage::{
    AddPieces, Opaque, Pc1, Pc2, Pc2Output, Proof, TreeD, TreeDOutput, C1, C2,
};
use venus_seal_core::{Executor, PieceInfo, StageError};

pub use verifier::LocalProofVerifier;

use crate::params::{ParamStatus, ParameterCache};

/// Runs every sealing stage locally with filecoin-proofs-api, and the
/// proving stages (window_post, winning_post, check_provable, snap_encode,
/// snap_prove, unseal; see [`crate::proving`]).
///
/// ```no_run
/// use venus_seal_backends::LocalExecutor;
/// use venus_seal_core::{DynExecutor, stage::Pc1};
/// let local = std::sync::Arc::new(LocalExecutor::new());
/// let pc1: DynExecutor<Pc1> = local.clone();
/// ```
#[derive(Debug, Clone)]
pub struct LocalExecutor {
    params: Option<Arc<ParameterCache>>,
    syncer: Arc<dyn Syncer>,
}

impl Default for LocalExecutor {
    fn default() -> Self {
        Self {
            params: None,
            syncer: Arc::new(OsSync),
        }
    }
}

impl LocalExecutor {
    /// An executor that finds parameters wherever filecoin-proofs looks.
    pub fn new() -> Self {
        Self::default()
    }

    /// An executor that checks `cache` holds the proof type's parameters
    /// before C2, so a missing file is reported by name (Permanent) instead
    /// of failing deep inside the prover.
    pub fn with_parameters(cache: Arc<ParameterCache>) -> Self {
        Self {
            params: Some(cache),
            ..Self::default()
        }
    }

    /// Flushes stage outputs through `syncer` instead of the operating
    /// system's [`OsSync`] (tests record what is synced).
    pub fn with_syncer(mut self, syncer: Arc<dyn Syncer>) -> Self {
        self.syncer = syncer;
        self
    }
}

/// Makes each of `outputs` (a file, or a directory and all it holds)
/// durable with the directory that names it, before `stage` returns.
fn make_durable(syncer: &dyn Syncer, stage: &str, outputs: &[&Path]) -> Result<(), StageError> {
    for path in outputs {
        sync_tree_with(syncer, path)
            .map_err(|e| StageError::io(format!("{stage}: syncing {}", path.display()), e))?;
    }
    Ok(())
}

/// Fails with [`StageError::Missing`] unless the parameters of `proof` are
/// in `cache`.
fn require_parameters(
    cache: &ParameterCache,
    proof: venus_seal_core::SealProof,
) -> Result<(), StageError> {
    match cache.check_seal(proof) {
        Ok(ParamStatus::Missing) => Err(StageError::Missing(format!(
            "Groth16 parameters for {proof} are not in {}",
            cache.dir().display()
        ))),
        Ok(_) => Ok(()),
        Err(e) => Err(StageError::Missing(e.to_string())),
    }
}

/// Runs blocking proving work off the async runtime; a panic inside the
/// proving library becomes a Permanent computation error.
async fn blocking<T, F>(stage: &'static str, f: F) -> Result<T, StageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StageError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StageError::Computation(format!("{stage} panicked: {e}")))?
}

/// A failure of the proving library in `stage`: Permanent, except that
/// a full disk anywhere in the error's causes (writing a layer, the tree,
/// the sealed file) is Critical ([`crate::no_space`]).
fn computation(stage: &str, e: anyhow::Error) -> StageError {
    if e.chain()
        .any(|cause| crate::no_space::no_space_in(cause).is_some())
    {
        return StageError::io(stage, crate::no_space::storage_full(format!("{e:#}")));
    }
    StageError::Computation(format!("{stage}: {e:#}"))
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, o: &Opaque) -> Result<T, StageError> {
    o.decode()
        .map_err(|e| StageError::Computation(format!("corrupt {what}: {e}")))
}

fn encode<T: serde::Serialize>(what: &str, v: &T) -> Result<Opaque, StageError> {
    Opaque::encode(v).map_err(|e| StageError::Computation(format!("cannot encode {what}: {e}")))
}

fn require_file(path: &PathBuf, what: &str) -> Result<(), StageError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(StageError::Missing(format!(
            "{what} {} is not a file",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StageError::Missing(format!(
            "{what} {} does not exist",
            path.display()
        ))),
        Err(e) => Err(StageError::io(
            format!("reading {what} {}", path.display()),
            e,
        )),
    }
}

#[async_trait]
impl Executor<AddPieces> for LocalExecutor {
    async fn execute(&self, task: AddPieces) -> Result<Vec<PieceInfo>, StageError> {
        let syncer = self.syncer.clone();
        blocking("add_pieces", move || pieces::add_pieces(&task, &*syncer)).await
    }
}

#[async_trait]
impl Executor<TreeD> for LocalExecutor {
    async fn execute(&self, task: TreeD) -> Result<TreeDOutput, StageError> {
        let syncer = self.syncer.clone();
        blocking("tree_d", move || tree_d::tree_d(&task, &*syncer)).await
    }
}

#[async_trait]
impl Executor<Pc1> for LocalExecutor {
    async fn execute(&self, task: Pc1) -> Result<Opaque, StageError> {
        let syncer = self.syncer.clone();
        blocking("pc1", move || seal::pc1(&task, &*syncer)).await
    }
}

#[async_trait]
impl Executor<Pc2> for LocalExecutor {
    async fn execute(&self, task: Pc2) -> Result<Pc2Output, StageError> {
        let syncer = self.syncer.clone();
        blocking("pc2", move || seal::pc2(&task, &*syncer)).await
    }
}

#[async_trait]
impl Executor<C1> for LocalExecutor {
    async fn execute(&self, task: C1) -> Result<Opaque, StageError> {
        blocking("c1", move || seal::c1(&task)).await
    }
}

#[async_trait]
impl Executor<C2> for LocalExecutor {
    async fn execute(&self, task: C2) -> Result<Proof, StageError> {
        if let Some(params) = self.params.clone() {
            let proof = task.proof;
            blocking("c2", move || require_parameters(&params, proof)).await?;
        }
        blocking("c2", move || seal::c2(&task)).await
    }
}

#[cfg(test)]
mod tests;
