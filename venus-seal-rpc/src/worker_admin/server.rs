//! Serving the admin API behind token auth.

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::ServerHandle;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use venus_seal_core::engine::ControlError;
use venus_seal_core::SectorState;

use super::{admin_permissions, methods, AdminApi};
use crate::auth::serve_with_auth;
use crate::params::{invalid_params, not_expected, register};
use crate::{codes, RpcError, Secret};

/// Serves the admin API of `api` on `addr` (`127.0.0.1:0` for any free
/// port), refusing calls whose token `secret` does not verify or allow.
pub async fn serve_admin(
    addr: SocketAddr,
    api: Arc<dyn AdminApi>,
    secret: Secret,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    serve_with_auth(addr, admin_module(api)?, secret, admin_permissions()).await
}

/// The admin methods as a jsonrpsee module (without auth: serve it with
/// [`serve_with_auth`] or merge it into a module that is).
pub fn admin_module(api: Arc<dyn AdminApi>) -> Result<RpcModule<Arc<dyn AdminApi>>, RpcError> {
    let mut module = RpcModule::new(api);
    let reg = |e: jsonrpsee::core::RegisterMethodError| RpcError::Register(e.to_string());
    module
        .register_async_method(methods::LIST, |_, api, _| async move {
            api.list().await.map_err(control_error)
        })
        .map_err(reg)?;
    register(
        &mut module,
        methods::PAUSE,
        "[job]",
        |api, (job,): (u64,)| async move { api.pause(job).await.map_err(control_error) },
    )?;
    module
        .register_async_method(methods::RESUME, |params, api, _| async move {
            let (job, state) = resume_params(&params)?;
            api.resume(job, state).await.map_err(control_error)
        })
        .map_err(reg)?;
    register(
        &mut module,
        methods::ABORT,
        "[job, reason]",
        |api, (job, reason): (u64, String)| async move {
            api.abort(job, reason).await.map_err(control_error)
        },
    )?;
    Ok(module)
}

fn resume_params(params: &Params<'_>) -> Result<(u64, Option<SectorState>), ErrorObjectOwned> {
    let mut seq = params.sequence();
    let expected = |e| not_expected("[job, state or null]", &e);
    let job: u64 = seq.next().map_err(expected)?;
    let state: Option<String> = seq.optional_next().map_err(expected)?;
    let state = state
        .map(|s| s.parse::<SectorState>())
        .transpose()
        .map_err(|e| invalid_params(e.to_string()))?;
    Ok((job, state))
}

fn control_error(e: ControlError) -> ErrorObjectOwned {
    let code = match &e {
        ControlError::UnknownJob(_) => codes::UNKNOWN_JOB,
        ControlError::Refused { .. } => codes::REFUSED,
        ControlError::ShuttingDown => codes::SHUTTING_DOWN,
        ControlError::Store(_) => codes::STORE_FAILED,
        _ => codes::INTERNAL,
    };
    ErrorObjectOwned::owned(code, e.to_string(), None::<()>)
}
