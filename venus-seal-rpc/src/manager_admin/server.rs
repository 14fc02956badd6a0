//! The operator methods as a JSON-RPC module, served beside the worker API
//! by [`ManagerServer::admin`](crate::manager::ManagerServer::admin).

use std::sync::Arc;

use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::RpcModule;
use venus_seal_core::manager::DealInfo;
use venus_seal_core::{ActorId, ChainEpoch, PieceCid, Randomness, SectorId, SectorNumber};

use super::{methods, AdminError, ManagerAdminApi};
use crate::params::{invalid_params, not_expected, register};
use crate::{codes, RpcError};

fn to_rpc(e: AdminError) -> ErrorObjectOwned {
    let code = match &e {
        AdminError::Invalid(_) => codes::INVALID_PARAMS,
        _ => codes::INTERNAL,
    };
    ErrorObjectOwned::owned(code, e.to_string(), None::<()>)
}

/// The deal methods as a jsonrpsee module (without auth: serve it with
/// [`ManagerServer::admin`](crate::manager::ManagerServer::admin) or
/// [`serve_with_auth`](crate::auth::serve_with_auth)). A piece size
/// that is not a padded piece size (a power of two, at least 128) is
/// refused here, before `api` sees it.
pub fn manager_admin_module(
    api: Arc<dyn ManagerAdminApi>,
) -> Result<RpcModule<Arc<dyn ManagerAdminApi>>, RpcError> {
    let mut module = RpcModule::new(api);
    let reg = |e: jsonrpsee::core::RegisterMethodError| RpcError::Register(e.to_string());
    module
        .register_async_method(methods::ADD_DEAL, |params, api, _| async move {
            let expected = |e| not_expected("[deal, miner or null]", &e);
            let mut seq = params.sequence();
            let deal: DealInfo = seq.next().map_err(expected)?;
            let miner: Option<ActorId> = seq.optional_next().map_err(expected)?;
            deal.piece.size.validate().map_err(|e| {
                invalid_params(format!(
                    "deal {} (piece {}): {e}",
                    deal.id, deal.piece.cid
                ))
            })?;
            tracing::info!(deal = deal.id, piece = %deal.piece.cid, size = deal.piece.size.0, ?miner, "deal queued by an operator");
            api.add_deal(miner, deal).await.map_err(to_rpc)
        })
        .map_err(reg)?;
    module
        .register_async_method(methods::DEAL_QUEUE, |_, api, _| async move {
            api.status().await.map_err(to_rpc)
        })
        .map_err(reg)?;
    register(
        &mut module,
        methods::ABORT_SECTOR,
        "[sector, reason]",
        |api, (sector, reason): (SectorId, String)| async move {
            if reason.trim().is_empty() {
                return Err(invalid_params(format!("aborting {sector} needs a reason")));
            }
            tracing::warn!(%sector, %reason, "sector abort requested by an operator");
            api.abort_sector(sector, reason).await.map_err(to_rpc)
        },
    )?;
    register(
        &mut module,
        methods::RESEND_SECTOR,
        "[sector]",
        |api, (sector,): (SectorId,)| async move {
            tracing::warn!(%sector, "resend forced by an operator");
            api.resend_sector(sector).await.map_err(to_rpc)
        },
    )?;
    register(
        &mut module,
        methods::SECTORS_EXPIRING,
        "[miner, within_epochs]",
        |api, (miner, within): (ActorId, ChainEpoch)| async move {
            api.sectors_expiring(miner, within).await.map_err(to_rpc)
        },
    )?;
    register(
        &mut module,
        methods::EXTEND_SECTORS,
        "[miner, sectors, new_expiration, dry_run]",
        |api,
         (miner, sectors, new_expiration, dry_run): (
            ActorId,
            Vec<SectorNumber>,
            ChainEpoch,
            bool,
        )| async move {
            tracing::info!(%miner, ?sectors, new_expiration, dry_run, "sector extension requested by an operator");
            api.extend_sectors(miner, sectors, new_expiration, dry_run)
                .await
                .map_err(to_rpc)
        },
    )?;
    register(
        &mut module,
        methods::TERMINATE_SECTORS,
        "[miner, sectors, dry_run]",
        |api, (miner, sectors, dry_run): (ActorId, Vec<SectorNumber>, bool)| async move {
            tracing::warn!(%miner, ?sectors, dry_run, "sector termination requested by an operator");
            api.terminate_sectors(miner, sectors, dry_run)
                .await
                .map_err(to_rpc)
        },
    )?;
    register(
        &mut module,
        methods::REQUEST_UNSEAL,
        "[sector, piece cid, dest]",
        |api, (sector, piece, dest): (SectorId, PieceCid, String)| async move {
            api.request_unseal(sector, piece, dest)
                .await
                .map_err(to_rpc)
        },
    )?;
    module
        .register_async_method(methods::UNSEAL_JOBS, |_, api, _| async move {
            api.unseal_jobs().await.map_err(to_rpc)
        })
        .map_err(reg)?;
    register(
        &mut module,
        methods::REQUEST_REBUILD,
        "[sector, reason]",
        |api, (sector, reason): (SectorId, String)| async move {
            tracing::info!(%sector, %reason, "sector rebuild requested by an operator");
            api.request_rebuild(sector, reason).await.map_err(to_rpc)
        },
    )?;
    module
        .register_async_method(methods::REBUILD_JOBS, |_, api, _| async move {
            api.rebuild_jobs().await.map_err(to_rpc)
        })
        .map_err(reg)?;
    register(
        &mut module,
        methods::REQUEST_SNAP_UP,
        "[sector]",
        |api, (sector,): (SectorId,)| async move {
            tracing::info!(%sector, "sector snap-up requested by an operator");
            api.request_snap_up(sector).await.map_err(to_rpc)
        },
    )?;
    register(
        &mut module,
        methods::CANCEL_SNAP_UP,
        "[sector, reason]",
        |api, (sector, reason): (SectorId, String)| async move {
            tracing::info!(%sector, %reason, "snap-up cancel requested by an operator");
            api.cancel_snap_up(sector, reason).await.map_err(to_rpc)
        },
    )?;
    module
        .register_async_method(methods::SNAP_UP_JOBS, |_, api, _| async move {
            api.snap_up_jobs().await.map_err(to_rpc)
        })
        .map_err(reg)?;
    register(
        &mut module,
        methods::SNAP_UP_CANDIDATES,
        "[miner, min_remaining_epochs]",
        |api, (miner, min): (ActorId, i64)| async move {
            api.snap_up_candidates(miner, min).await.map_err(to_rpc)
        },
    )?;
    register(
        &mut module,
        methods::CHECK_DEADLINE,
        "[miner, deadline]",
        |api, (miner, deadline): (ActorId, u64)| async move {
            tracing::info!(%miner, deadline, "WindowPoSt dry run requested by an operator");
            api.check_deadline(miner, deadline).await.map_err(to_rpc)
        },
    )?;
    register(
        &mut module,
        methods::SIMULATE_WINDOW_POST,
        "[miner, deadline, randomness hex or null]",
        |api, (miner, deadline, randomness): (ActorId, u64, Option<Randomness>)| async move {
            tracing::info!(%miner, deadline, "WindowPoSt simulation requested by an operator");
            api.simulate_window_post(miner, deadline, randomness)
                .await
                .map_err(to_rpc)
        },
    )?;
    Ok(module)
}
