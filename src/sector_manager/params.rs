//! The proving crates' verifier and prover for the manager, with the
//! Groth16 parameters they need made sure of first (feature `proofs`).

use std::sync::Arc;

use anyhow::Context;
use venus_seal_backends::params::{GenerationPolicy, ParameterCache, PoStKind};
use venus_seal_backends::{LocalExecutor, LocalProofVerifier};
use venus_seal_chain::PoStExecutors;
use venus_seal_core::stage::WinningPoSt;
use venus_seal_core::{DynExecutor, ProofVerifier, SealProof};

use super::SectorManagerConfig;

/// The verifier and (with `[proving]`) WindowPoSt executors of `config`'s proofs, on the
/// parameter cache of `FIL_PROOFS_PARAMETER_CACHE`: the parameters of every
/// miner's proof are there when this returns (random test parameters are
/// generated for 2KiB/8MiB; larger ones must have been fetched).
pub(crate) async fn local_proofs(config: &SectorManagerConfig) -> anyhow::Result<super::Proofs> {
    let params = Arc::new(ParameterCache::from_env());
    params.activate().context("parameter cache")?;
    let mut proofs: Vec<SealProof> = Vec::new();
    for m in &config.miners {
        if !proofs.contains(&m.proof) {
            proofs.push(m.proof);
        }
    }
    for &proof in &proofs {
        tracing::info!(%proof, "checking Groth16 parameters");
        let p = params.clone();
        tokio::task::spawn_blocking(move || {
            p.ensure_for_sealing(proof, GenerationPolicy::TestSizes)
        })
        .await?
        .with_context(|| format!("parameters for {proof}"))?;
    }
    let prover = match &config.proving {
        None => None,
        Some(_) => {
            for &proof in &proofs {
                let p = params.clone();
                tokio::task::spawn_blocking(move || {
                    p.ensure_post(proof, PoStKind::Window, GenerationPolicy::TestSizes)
                })
                .await?
                .with_context(|| format!("WindowPoSt parameters for {proof}"))?;
            }
            Some(PoStExecutors::of(Arc::new(LocalExecutor::new())))
        }
    };
    let winning = match &config.gateway {
        None => None,
        Some(_) => {
            for &proof in &proofs {
                let p = params.clone();
                tokio::task::spawn_blocking(move || {
                    p.ensure_post(proof, PoStKind::Winning, GenerationPolicy::TestSizes)
                })
                .await?
                .with_context(|| format!("WinningPoSt parameters for {proof}"))?;
            }
            Some(Arc::new(LocalExecutor::new()) as DynExecutor<WinningPoSt>)
        }
    };
    let verifier: Arc<dyn ProofVerifier> = Arc::new(LocalProofVerifier::with_parameters(params));
    Ok(super::Proofs {
        verifier,
        prover,
        winning,
    })
}
