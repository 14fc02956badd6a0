//! Serving a [`SectorManager`] behind token auth.

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::ServerHandle;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use serde::de::DeserializeOwned;
use venus_seal_core::manager::{
    AcquireDealsSpec, AllocateSpec, AllocatedSector, PreCommitOnChainInfo, StateReport,
};
use venus_seal_core::stage::Proof;
use venus_seal_core::{SealProof, SectorId, SectorManager};

use super::{manager_error_to_rpc, manager_permissions, methods, WorkerInfo};
use crate::auth::serve_with_auth;
use crate::{RpcError, Secret};

/// The module [`manager_module`] builds: its context is the manager.
pub type ManagerModule = RpcModule<Arc<dyn SectorManager>>;

/// Serves the worker API of `api` on `addr` (`127.0.0.1:0` for any free
/// port) behind token auth ([`manager_permissions`](super::manager_permissions):
/// write for worker methods, read for `Venus.WorkerPing`); returns the
/// bound address and the handle that stops the server.
pub async fn serve_manager(
    addr: SocketAddr,
    api: Arc<dyn SectorManager>,
    secret: Secret,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    serve_with_auth(addr, manager_module(api)?, secret, manager_permissions()).await
}

fn invalid_params(method: &str, expected: &str, e: &ErrorObjectOwned) -> ErrorObjectOwned {
    // jsonrpsee puts serde's reason (`invalid type: … at line 1 column 7`)
    // in the error's data, as a JSON string.
    let why = e
        .data()
        .map(|d| serde_json::from_str::<String>(d.get()).unwrap_or_else(|_| d.get().to_string()))
        .unwrap_or_else(|| e.message().to_string());
    ErrorObjectOwned::owned(
        crate::codes::INVALID_PARAMS,
        format!("{method}: expected params {expected}: {why}"),
        None::<()>,
    )
}

fn parse<T: DeserializeOwned>(
    params: &Params<'_>,
    method: &str,
    expected: &str,
) -> Result<T, ErrorObjectOwned> {
    params
        .parse()
        .map_err(|e| invalid_params(method, expected, &e))
}

/// Registers `$method` as an async method: parses the params as `$ty`
/// (a tuple), then runs `$body` with the manager as `$api`.
macro_rules! method {
    ($module:ident, $method:expr, $expected:expr, |$api:ident, $pat:tt: $ty:ty| $body:expr) => {
        $module
            .register_async_method($method, |params, ctx, _| async move {
                let $pat: $ty = parse(&params, $method, $expected)?;
                let $api: &dyn SectorManager = &**ctx;
                $body.await.map_err(manager_error_to_rpc)
            })
            .map_err(|e| RpcError::Register(e.to_string()))?;
    };
}

/// The worker API of `api` as a jsonrpsee module (without auth: serve it
/// with [`serve_manager`] or merge it into a module that is). A
/// [`ManagerError`](venus_seal_core::ManagerError) is answered with its
/// code from [`super::codes`]; params that do not parse with
/// -32602 naming the method and the expected params.
pub fn manager_module(api: Arc<dyn SectorManager>) -> Result<ManagerModule, RpcError> {
    let mut module = RpcModule::new(api);
    method!(module, methods::ALLOCATE_SECTOR, "[spec]", |api,
                                                         (spec,): (
        AllocateSpec,
    )| {
        api.allocate_sector(spec)
    });
    method!(
        module,
        methods::ACQUIRE_DEALS,
        "[sector, spec]",
        |api, (id, spec): (SectorId, AcquireDealsSpec)| api.acquire_deals(id, spec)
    );
    method!(module, methods::ASSIGN_TICKET, "[sector]", |api,
                                                         (id,): (
        SectorId,
    )| {
        api.assign_ticket(id)
    });
    method!(
        module,
        methods::SUBMIT_PRE_COMMIT,
        "[sector, info, reset]",
        |api, (sector, info, reset): (AllocatedSector, PreCommitOnChainInfo, bool)| {
            api.submit_pre_commit(sector, info, reset)
        }
    );
    method!(
        module,
        methods::POLL_PRE_COMMIT_STATE,
        "[sector]",
        |api, (id,): (SectorId,)| api.poll_pre_commit_state(id)
    );
    module
        .register_async_method(methods::SUBMIT_PERSISTED_EX, |params, ctx, _| async move {
            let mut seq = params.sequence();
            let expected = "[sector, instance, is_upgrade]";
            let bad =
                |e: ErrorObjectOwned| invalid_params(methods::SUBMIT_PERSISTED_EX, expected, &e);
            let id: SectorId = seq.next().map_err(bad)?;
            let instance: String = seq.next().map_err(bad)?;
            // Snap-up is not served yet: the flag is accepted and ignored.
            let _is_upgrade: Option<bool> = seq.optional_next().map_err(bad)?;
            ctx.submit_persisted(id, instance)
                .await
                .map_err(manager_error_to_rpc)
        })
        .map_err(|e| RpcError::Register(e.to_string()))?;
    module
        .register_async_method(methods::WAIT_SEED, |params, ctx, _| async move {
            let mut seq = params.sequence();
            let bad = |e: ErrorObjectOwned| {
                invalid_params(methods::WAIT_SEED, "[sector, proof_type]", &e)
            };
            let id: SectorId = seq.next().map_err(bad)?;
            // The manager knows the sector's proof type: this one is only
            // checked to parse.
            let _proof: Option<SealProof> = seq.optional_next().map_err(bad)?;
            ctx.wait_seed(id).await.map_err(manager_error_to_rpc)
        })
        .map_err(|e| RpcError::Register(e.to_string()))?;
    method!(
        module,
        methods::SUBMIT_PROOF,
        "[sector, proof, reset]",
        |api, (id, proof, reset): (SectorId, Proof, bool)| api.submit_proof(id, proof, reset)
    );
    method!(module, methods::POLL_PROOF_STATE, "[sector]", |api,
                                                            (id,): (
        SectorId,
    )| api
        .poll_proof_state(id));
    method!(
        module,
        methods::REPORT_STATE,
        "[sector, report]",
        |api, (id, report): (SectorId, StateReport)| api.report_state(id, report)
    );
    method!(module, methods::REPORT_FINALIZED, "[sector]", |api,
                                                            (id,): (
        SectorId,
    )| api
        .report_finalized(id));
    method!(
        module,
        methods::REPORT_ABORTED,
        "[sector, reason]",
        |api, (id, reason): (SectorId, String)| api.report_aborted(id, reason)
    );
    module
        .register_method(methods::WORKER_PING, |params, _, _| {
            let (info,): (WorkerInfo,) = parse(&params, methods::WORKER_PING, "[info]")?;
            let s = info.summary;
            tracing::info!(
                worker = %info.name,
                dest = %info.dest,
                version = %info.version,
                threads = s.threads,
                empty = s.empty,
                paused = s.paused,
                running = s.running,
                waiting = s.waiting,
                errors = s.errors,
                "worker ping"
            );
            Ok::<(), ErrorObjectOwned>(())
        })
        .map_err(|e| RpcError::Register(e.to_string()))?;
    Ok(module)
}
