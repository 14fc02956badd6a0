//! Serving a [`SectorManager`] behind token auth, in damocles' wire shapes
//! (see [`super::wire`]).

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::ServerHandle;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use serde::de::DeserializeOwned;
use venus_seal_core::manager::{AcquireDealsSpec, AllocatedSector};
use venus_seal_core::post_jobs::WindowPoStJobSource;
use venus_seal_core::rebuild::RebuildJobSource;
use venus_seal_core::snapup::SnapUpJobSource;
use venus_seal_core::stage::Proof;
use venus_seal_core::unseal::UnsealJobSource;
use venus_seal_core::{PieceCid, SealProof, SectorId, SectorManager};

use super::stores::PersistStores;
use super::wire;
use super::{manager_error_to_rpc, manager_permissions, methods, WorkerInfo, WorkerPings};
use crate::{RpcError, Secret};

/// What the worker API's methods run against: the manager, and its view
/// of the persist stores.
#[derive(Clone, Debug)]
pub struct ManagerContext {
    /// The manager.
    pub api: Arc<dyn SectorManager>,
    /// The persist stores `StoreBasicInfo` and `StoreReserveSpace` answer
    /// from.
    pub stores: PersistStores,
    /// The workers' last pings (`WorkerPing` records,
    /// `WorkerPingInfoList` reads).
    pub pings: WorkerPings,
    /// Where unseal jobs come from (`None`: none handed out).
    pub unseal: Option<Arc<dyn UnsealJobSource>>,
    /// Where rebuild jobs come from (`None`: none handed out).
    pub rebuild: Option<Arc<dyn RebuildJobSource>>,
    /// Where snap-up jobs come from (`None`: none handed out).
    pub snap_up: Option<Arc<dyn SnapUpJobSource>>,
    /// Where WindowPoSt jobs come from (`None`: none handed out).
    pub window_post: Option<Arc<dyn WindowPoStJobSource>>,
}

/// The module [`manager_module`] builds.
pub type ManagerModule = RpcModule<ManagerContext>;

/// Serves the worker API of `api` on `addr` (`127.0.0.1:0` for any free
/// port) behind token auth ([`manager_permissions`](super::manager_permissions):
/// write for worker methods, read for `Venus.StoreBasicInfo`), with no
/// persist stores known; returns the bound address and the handle that
/// stops the server. [`ManagerServer`] serves more.
pub async fn serve_manager(
    addr: SocketAddr,
    api: Arc<dyn SectorManager>,
    secret: Secret,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    ManagerServer::new(api).serve(addr, secret).await
}

/// What a sector manager's worker API answers from, then where and how it
/// listens: [`serve`](Self::serve) behind token auth, or
/// [`serve_trusted`](Self::serve_trusted) for peers that cannot send a
/// token.
///
/// ```no_run
/// # async fn run(manager: std::sync::Arc<dyn venus_seal_core::SectorManager>) -> Result<(), venus_seal_rpc::RpcError> {
/// use venus_seal_rpc::manager::{ManagerServer, PersistStoreEntry, PersistStores, WorkerPings};
/// use venus_seal_rpc::Secret;
///
/// let pings = WorkerPings::default();
/// let (addr, handle) = ManagerServer::new(manager)
///     .stores(PersistStores::new(vec![PersistStoreEntry::new("nas-1", "/mnt/nas-1")]))
///     .pings(pings.clone())
///     .serve("127.0.0.1:1789".parse().unwrap(), Secret::generate())
///     .await?;
/// # let _ = (addr, handle); Ok(()) }
/// ```
#[derive(Clone)]
pub struct ManagerServer {
    api: Arc<dyn SectorManager>,
    stores: PersistStores,
    pings: WorkerPings,
    pieces: super::PieceRedirect,
    admin: Option<Arc<dyn crate::manager_admin::ManagerAdminApi>>,
    unseal: Option<Arc<dyn UnsealJobSource>>,
    rebuild: Option<Arc<dyn RebuildJobSource>>,
    snap_up: Option<Arc<dyn SnapUpJobSource>>,
    window_post: Option<Arc<dyn WindowPoStJobSource>>,
}

impl std::fmt::Debug for ManagerServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerServer")
            .field("stores", &self.stores)
            .field("pieces", &self.pieces)
            .field("admin", &self.admin.is_some())
            .finish_non_exhaustive()
    }
}

impl ManagerServer {
    /// The worker API of `api`: no persist stores known, pings kept in a
    /// table of its own, no piece redirect, no operator methods.
    pub fn new(api: Arc<dyn SectorManager>) -> Self {
        Self {
            api,
            stores: PersistStores::default(),
            pings: WorkerPings::default(),
            pieces: super::PieceRedirect::default(),
            admin: None,
            unseal: None,
            rebuild: None,
            snap_up: None,
            window_post: None,
        }
    }

    /// `Venus.StoreBasicInfo` and `Venus.StoreReserveSpace` answer from
    /// `stores`.
    pub fn stores(mut self, stores: PersistStores) -> Self {
        self.stores = stores;
        self
    }

    /// The workers' pings are recorded in `pings` (shared with whoever
    /// reads them: the console, the alerts).
    pub fn pings(mut self, pings: WorkerPings) -> Self {
        self.pings = pings;
        self
    }

    /// damocles-worker's `GET /piecestore/<cid>` is redirected to `pieces`
    /// (see [`piecestore`](super::piecestore)).
    pub fn pieces(mut self, pieces: super::PieceRedirect) -> Self {
        self.pieces = pieces;
        self
    }

    /// The operator methods of `admin` (`Venus.Admin.*`, admin tokens) are
    /// served beside the worker API ([`serve`](Self::serve) only).
    pub fn admin(mut self, admin: Arc<dyn crate::manager_admin::ManagerAdminApi>) -> Self {
        self.admin = Some(admin);
        self
    }

    /// Unseal jobs are handed to workers from `jobs`
    /// (`AllocateUnsealSector`, `AcquireUnsealDest`,
    /// `AchieveUnsealSector`); without it, `AllocateUnsealSector` answers
    /// none and the other two are refused.
    pub fn unseal(mut self, jobs: Arc<dyn UnsealJobSource>) -> Self {
        self.unseal = Some(jobs);
        self
    }

    /// Rebuild jobs are handed to workers from `jobs`
    /// (`AllocateRebuildSector`; the worker ends a job with
    /// `SubmitPersistedEx` and `ReportFinalized`, or `ReportAborted`,
    /// which the manager routes to the job); without it,
    /// `AllocateRebuildSector` answers none.
    pub fn rebuild(mut self, jobs: Arc<dyn RebuildJobSource>) -> Self {
        self.rebuild = Some(jobs);
        self
    }

    /// Snap-up jobs are handed to workers from `jobs`
    /// (`AllocateSanpUpSector`, `SubmitSnapUpProof`; a damocles worker's
    /// `ReportAborted` during a job is the job's failure, routed by the
    /// manager); without it, `AllocateSanpUpSector` answers none and
    /// `SubmitSnapUpProof` is refused.
    pub fn snap_up(mut self, jobs: Arc<dyn SnapUpJobSource>) -> Self {
        self.snap_up = Some(jobs);
        self
    }

    /// WindowPoSt jobs are handed to proving workers from `jobs`
    /// (damocles' `wdpost` plan: `WdPoStAllocateJobs`,
    /// `WdPoStHeartbeatJobs`, `WdPoStFinishJob`); without it,
    /// `WdPoStAllocateJobs` answers none and the other two -32601.
    pub fn window_post(mut self, jobs: Arc<dyn WindowPoStJobSource>) -> Self {
        self.window_post = Some(jobs);
        self
    }

    /// The worker API module of this server's parts.
    fn module(&mut self) -> Result<ManagerModule, RpcError> {
        module_of(ManagerContext {
            api: Arc::clone(&self.api),
            stores: self.stores.clone(),
            pings: self.pings.clone(),
            unseal: self.unseal.clone(),
            rebuild: self.rebuild.clone(),
            snap_up: self.snap_up.clone(),
            window_post: self.window_post.clone(),
        })
    }

    /// Serves on `addr` (`127.0.0.1:0` for any free port) behind token
    /// auth checked against `secret`; returns the bound address and the
    /// handle that stops the server.
    pub async fn serve(
        mut self,
        addr: SocketAddr,
        secret: Secret,
    ) -> Result<(SocketAddr, ServerHandle), RpcError> {
        let mut module = self.module()?;
        let mut permissions = manager_permissions();
        if let Some(admin) = self.admin {
            module
                .merge(crate::manager_admin::manager_admin_module(admin)?)
                .map_err(|e| RpcError::Register(e.to_string()))?;
            permissions.extend(crate::manager_admin::admin_permissions());
        }
        crate::auth::serve_with_auth_and_pieces(addr, module, secret, permissions, self.pieces)
            .await
    }

    /// Serves on a separate listener for peers that cannot send a token
    /// (damocles-worker): no token, write permission, only for clients in
    /// `networks` (see [`serve_trusted`](crate::auth::serve_trusted)).
    /// Refused with operator methods set: they are never served without a
    /// token.
    pub async fn serve_trusted(
        mut self,
        addr: SocketAddr,
        networks: crate::auth::TrustedNetworks,
    ) -> Result<(SocketAddr, ServerHandle), RpcError> {
        if self.admin.is_some() {
            return Err(RpcError::Register(
                "the operator methods are never served on the tokenless listener".into(),
            ));
        }
        crate::auth::serve_trusted_with_pieces(
            addr,
            self.module()?,
            networks,
            crate::Permission::Write,
            manager_permissions(),
            self.pieces,
        )
        .await
    }
}

/// The unseal job methods (damocles' names and shapes): answered from
/// the context's [`UnsealJobSource`], none when it has none.
fn register_unseal(module: &mut ManagerModule) -> Result<(), RpcError> {
    // Not `Rejected` (11001): a damocles worker takes that for "sector
    // not found" and reports the sealed sector aborted.
    fn no_source(method: &str) -> ErrorObjectOwned {
        manager_error_to_rpc(venus_seal_core::ManagerError::Internal(format!(
            "{method}: this manager hands out no unseal jobs"
        )))
    }
    module
        .register_async_method(
            methods::ALLOCATE_UNSEAL_SECTOR,
            |params, ctx, _| async move {
                let (spec,): (wire::AllocateSectorSpec,) =
                    parse(&params, methods::ALLOCATE_UNSEAL_SECTOR, "[spec]")?;
                let Some(jobs) = ctx.unseal.clone() else {
                    return Ok(None);
                };
                jobs.allocate_unseal(wire::allocate_spec(spec, false))
                    .await
                    .map(|job| job.as_ref().map(wire::SectorUnsealInfo::from))
                    .map_err(manager_error_to_rpc)
            },
        )
        .map_err(reg)?;
    module
        .register_async_method(methods::ACQUIRE_UNSEAL_DEST, |params, ctx, _| async move {
            let (sector, piece): (SectorId, PieceCid) =
                parse(&params, methods::ACQUIRE_UNSEAL_DEST, "[sector, piece cid]")?;
            let jobs = ctx
                .unseal
                .clone()
                .ok_or_else(|| no_source(methods::ACQUIRE_UNSEAL_DEST))?;
            jobs.unseal_destinations(sector, piece)
                .await
                .map_err(manager_error_to_rpc)
        })
        .map_err(reg)?;
    module
        .register_async_method(
            methods::ACHIEVE_UNSEAL_SECTOR,
            |params, ctx, _| async move {
                let (sector, piece, error): (SectorId, PieceCid, String) = parse(
                    &params,
                    methods::ACHIEVE_UNSEAL_SECTOR,
                    "[sector, piece cid, error]",
                )?;
                let jobs = ctx
                    .unseal
                    .clone()
                    .ok_or_else(|| no_source(methods::ACHIEVE_UNSEAL_SECTOR))?;
                // damocles' "" is no error.
                let error = (!error.is_empty()).then_some(error);
                jobs.achieve_unseal(sector, piece, error)
                    .await
                    .map(|()| serde_json::Value::Null)
                    .map_err(manager_error_to_rpc)
            },
        )
        .map_err(reg)?;
    Ok(())
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

/// The most sectors one `AllocateSectorsBatch` call hands out.
const MAX_BATCH_ALLOCATION: u32 = 128;

fn reg(e: impl std::fmt::Display) -> RpcError {
    RpcError::Register(e.to_string())
}

/// Registers `$method` as an async method: parses the params as `$ty`
/// (a tuple), runs `$body` with the manager as `$api`, and answers what
/// `$wire` makes of its result.
macro_rules! method {
    ($module:ident, $method:expr, $expected:expr, |$api:ident, $pat:tt: $ty:ty| $body:expr, $wire:expr) => {
        $module
            .register_async_method($method, |params, ctx, _| async move {
                let $pat: $ty = parse(&params, $method, $expected)?;
                let $api: &dyn SectorManager = &*ctx.api;
                $body.await.map($wire).map_err(manager_error_to_rpc)
            })
            .map_err(reg)?;
    };
}

/// The worker API of `api` as a jsonrpsee module (without auth: serve it
/// with [`serve_manager`] or merge it into a module that is), with no
/// persist stores known.
pub fn manager_module(api: Arc<dyn SectorManager>) -> Result<ManagerModule, RpcError> {
    manager_module_with_stores(api, PersistStores::default())
}

/// The worker API of `api`, answering the store methods from `stores`.
/// Requests and answers are in damocles' shapes ([`super::wire`]); a
/// [`ManagerError`] is answered with its code from [`super::codes`];
/// params that do not parse with -32602 naming the method and the
/// expected params.
pub fn manager_module_with_stores(
    api: Arc<dyn SectorManager>,
    stores: PersistStores,
) -> Result<ManagerModule, RpcError> {
    manager_module_with(api, stores, WorkerPings::default())
}

/// [`manager_module_with_stores`], recording the workers' pings in
/// `pings` (share it to read them elsewhere, e.g. for alerts).
pub fn manager_module_with(
    api: Arc<dyn SectorManager>,
    stores: PersistStores,
    pings: WorkerPings,
) -> Result<ManagerModule, RpcError> {
    module_of(ManagerContext {
        api,
        stores,
        pings,
        unseal: None,
        rebuild: None,
        snap_up: None,
        window_post: None,
    })
}

/// damocles' `wdpost` plan: jobs from the context's source; without one,
/// `WdPoStAllocateJobs` answers `[]` (a damocles worker running the plan
/// idles instead of failing each poll) and the other two -32601 (as
/// damocles-worker reads a manager without its worker-prover module).
fn register_wdpost(module: &mut ManagerModule) -> Result<(), RpcError> {
    fn not_served(method: &str) -> ErrorObjectOwned {
        ErrorObjectOwned::owned(
            crate::codes::METHOD_NOT_FOUND,
            format!("{method}: this manager hands out no WindowPoSt jobs"),
            None::<()>,
        )
    }
    module
        .register_async_method(methods::WDPOST_ALLOCATE_JOBS, |params, ctx, _| async move {
            let (spec, num, worker): (wire::AllocatePoStSpec, u32, String) = parse(
                &params,
                methods::WDPOST_ALLOCATE_JOBS,
                "[spec, num, worker_name]",
            )?;
            let Some(jobs) = ctx.window_post.clone() else {
                tracing::debug!(%worker, "no WindowPoSt jobs here: answered none");
                return Ok(Vec::new());
            };
            jobs.allocate_post_jobs(&spec.into(), num, &worker)
                .await
                .map(|jobs| {
                    jobs.iter()
                        .map(wire::AllocatedWdPoStJob::from)
                        .collect::<Vec<_>>()
                })
                .map_err(manager_error_to_rpc)
        })
        .map_err(reg)?;
    module
        .register_async_method(
            methods::WDPOST_HEARTBEAT_JOBS,
            |params, ctx, _| async move {
                let (ids, worker): (Vec<String>, String) = parse(
                    &params,
                    methods::WDPOST_HEARTBEAT_JOBS,
                    "[job_ids, worker_name]",
                )?;
                let Some(jobs) = ctx.window_post.clone() else {
                    return Err(not_served(methods::WDPOST_HEARTBEAT_JOBS));
                };
                jobs.heartbeat_post_jobs(&ids, &worker)
                    .await
                    .map_err(manager_error_to_rpc)
            },
        )
        .map_err(reg)?;
    module
        .register_async_method(methods::WDPOST_FINISH_JOB, |params, ctx, _| async move {
            let (id, output, reason): (String, Option<wire::WdPoStOutput>, String) = parse(
                &params,
                methods::WDPOST_FINISH_JOB,
                "[job_id, output, error_reason]",
            )?;
            let Some(jobs) = ctx.window_post.clone() else {
                return Err(not_served(methods::WDPOST_FINISH_JOB));
            };
            jobs.finish_post_job(&id, wire::finish_result(output, reason))
                .await
                .map_err(manager_error_to_rpc)
        })
        .map_err(reg)?;
    Ok(())
}

fn module_of(context: ManagerContext) -> Result<ManagerModule, RpcError> {
    let mut module = RpcModule::new(context);
    register_unseal(&mut module)?;
    module
        .register_async_method(
            methods::ALLOCATE_REBUILD_SECTOR,
            |params, ctx, _| async move {
                let (spec,): (wire::AllocateSectorSpec,) =
                    parse(&params, methods::ALLOCATE_REBUILD_SECTOR, "[spec]")?;
                let Some(jobs) = ctx.rebuild.clone() else {
                    return Ok(None);
                };
                jobs.allocate_rebuild(wire::allocate_spec(spec, false))
                    .await
                    .map(|job| job.as_ref().map(wire::SectorRebuildInfo::from))
                    .map_err(manager_error_to_rpc)
            },
        )
        .map_err(reg)?;
    module
        .register_async_method(
            methods::ALLOCATE_SNAP_UP_SECTOR,
            |params, ctx, _| async move {
                let (spec,): (wire::AllocateSnapUpSpec,) =
                    parse(&params, methods::ALLOCATE_SNAP_UP_SECTOR, "[spec]")?;
                let Some(jobs) = ctx.snap_up.clone() else {
                    return Ok(None);
                };
                jobs.allocate_snap_up(wire::allocate_spec(spec.sector, false), spec.deals)
                    .await
                    .map(|job| job.as_ref().map(wire::AllocatedSnapUpSector::from))
                    .map_err(manager_error_to_rpc)
            },
        )
        .map_err(reg)?;
    module
        .register_async_method(methods::SUBMIT_SNAP_UP_PROOF, |params, ctx, _| async move {
            let (sector, info): (SectorId, wire::SnapUpOnChainInfo) =
                parse(&params, methods::SUBMIT_SNAP_UP_PROOF, "[sector, info]")?;
            let Some(jobs) = ctx.snap_up.clone() else {
                // Not `Rejected` (11001: "sector not found" to damocles).
                return Err(manager_error_to_rpc(
                    venus_seal_core::ManagerError::Internal(format!(
                        "{}: this manager hands out no snap-up jobs",
                        methods::SUBMIT_SNAP_UP_PROOF
                    )),
                ));
            };
            jobs.submit_snap_up(sector, info.into())
                .await
                .map(|v| wire::SubmitResp::from(&v))
                .map_err(manager_error_to_rpc)
        })
        .map_err(reg)?;
    module
        .register_async_method(methods::ALLOCATE_SECTOR, |params, ctx, _| async move {
            let expected = "[spec] or [spec, niporep]";
            let bad = |e: ErrorObjectOwned| invalid_params(methods::ALLOCATE_SECTOR, expected, &e);
            let mut seq = params.sequence();
            let spec: wire::AllocateSectorSpec = seq.next().map_err(bad)?;
            let niporep: Option<bool> = seq.optional_next().map_err(bad)?;
            ctx.api
                .allocate_sector(wire::allocate_spec(spec, niporep.unwrap_or(false)))
                .await
                .map_err(manager_error_to_rpc)
        })
        .map_err(reg)?;
    module
        .register_async_method(methods::ALLOCATE_SECTORS_BATCH, |params, ctx, _| async move {
            let expected = "[spec, niporep, count] or [spec, count]";
            let bad = |e: ErrorObjectOwned| {
                invalid_params(methods::ALLOCATE_SECTORS_BATCH, expected, &e)
            };
            let mut seq = params.sequence();
            let spec: wire::AllocateSectorSpec = seq.next().map_err(bad)?;
            // damocles-worker 91f2d70 sends `(spec, niporep, count)`;
            // managers and workers of the Go revision without NI-PoRep
            // (`sealer.go`@04197ca) `(spec, count)`.
            #[derive(serde::Deserialize)]
            #[serde(untagged)]
            enum NiOrCount {
                Ni(bool),
                Count(u32),
            }
            let (niporep, count) = match seq.next::<NiOrCount>().map_err(bad)? {
                NiOrCount::Ni(ni) => (ni, seq.next::<u32>().map_err(bad)?),
                NiOrCount::Count(count) => (false, count),
            };
            // One allocation at a time, as many as there are (damocles'
            // batch plan takes what it gets, `[]` when none).
            let mut allocated = Vec::new();
            for _ in 0..count.min(MAX_BATCH_ALLOCATION) {
                let spec = wire::allocate_spec(spec.clone(), niporep);
                match ctx.api.allocate_sector(spec).await {
                    // A spec with an allocation key answers its one
                    // sector again: that is all there is.
                    Ok(Some(sector)) if allocated.contains(&sector) => break,
                    Ok(Some(sector)) => allocated.push(sector),
                    Ok(None) => break,
                    // What was allocated stays allocated: a worker that
                    // never hears of it leaves it to expire, as for a
                    // lost AllocateSector answer.
                    Err(e) if !allocated.is_empty() => {
                        tracing::warn!(error = %e, allocated = allocated.len(), "AllocateSectorsBatch: stopped early");
                        break;
                    }
                    Err(e) => return Err(manager_error_to_rpc(e)),
                }
            }
            Ok::<_, ErrorObjectOwned>(allocated)
        })
        .map_err(reg)?;
    module
        .register_method(methods::WORKER_PING_INFO_LIST, |_, ctx, _| {
            Ok::<_, ErrorObjectOwned>(ctx.pings.list())
        })
        .map_err(reg)?;
    module
        .register_method(methods::WORKER_GET_PING_INFO, |params, ctx, _| {
            let (name,): (String,) = parse(&params, methods::WORKER_GET_PING_INFO, "[name]")?;
            Ok::<_, ErrorObjectOwned>(ctx.pings.get(&name))
        })
        .map_err(reg)?;
    register_wdpost(&mut module)?;
    method!(
        module,
        methods::ACQUIRE_DEALS,
        "[sector, spec]",
        |api, (id, spec): (SectorId, AcquireDealsSpec)| api.acquire_deals(id, spec),
        |deals| (!deals.is_empty()).then(|| deals
            .iter()
            .map(wire::SectorPiece::from)
            .collect::<Vec<_>>())
    );
    method!(
        module,
        methods::ASSIGN_TICKET,
        "[sector]",
        |api, (id,): (SectorId,)| api.assign_ticket(id),
        wire::Ticket::from
    );
    method!(
        module,
        methods::SUBMIT_PRE_COMMIT,
        "[sector, info, reset]",
        |api, (sector, info, reset): (AllocatedSector, wire::PreCommitOnChainInfo, bool)| {
            api.submit_pre_commit(sector, info.into(), reset)
        },
        |r| wire::SubmitResp::from(&r)
    );
    method!(
        module,
        methods::POLL_PRE_COMMIT_STATE,
        "[sector]",
        |api, (id,): (SectorId,)| api.poll_pre_commit_state(id),
        |r| wire::PollStateResp::from(&r)
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
            ctx.api
                .submit_persisted(id, instance)
                .await
                .map_err(manager_error_to_rpc)
        })
        .map_err(reg)?;
    module
        .register_async_method(methods::SUBMIT_PERSISTED, |params, ctx, _| async move {
            // The Go manager's name kept for older workers: as
            // `SubmitPersistedEx(sector, instance, false)`.
            let (id, instance): (SectorId, String) =
                parse(&params, methods::SUBMIT_PERSISTED, "[sector, instance]")?;
            ctx.api
                .submit_persisted(id, instance)
                .await
                .map_err(manager_error_to_rpc)
        })
        .map_err(reg)?;
    module
        .register_async_method(methods::WAIT_SEED, |params, ctx, _| async move {
            let mut seq = params.sequence();
            let bad = |e: ErrorObjectOwned| {
                invalid_params(methods::WAIT_SEED, "[sector, proof_type]", &e)
            };
            // damocles' `WaitSeed(SectorID, RegisteredSealProof)`; its
            // older workers send `WaitSeed(SectorID)` alone (damocles-worker
            // `src/rpc/sealer/mod.rs` of earlier releases), answered from
            // the manager's record.
            let id: SectorId = seq.next().map_err(bad)?;
            let sent: Option<SealProof> = seq.optional_next().map_err(bad)?;
            let proof_type = match sent {
                Some(p) => p,
                None => ctx
                    .api
                    .sector_proof_type(id)
                    .await
                    .map_err(manager_error_to_rpc)?
                    .ok_or_else(|| {
                        ErrorObjectOwned::owned(
                            crate::codes::INVALID_PARAMS,
                            format!(
                                "{}: expected params [sector, proof_type]: no proof type on record for {id}",
                                methods::WAIT_SEED
                            ),
                            None::<()>,
                        )
                    })?,
            };
            ctx.api
                .wait_seed(AllocatedSector { id, proof_type })
                .await
                .map(|r| wire::WaitSeedResp::from(&r))
                .map_err(manager_error_to_rpc)
        })
        .map_err(reg)?;
    method!(
        module,
        methods::SUBMIT_PROOF,
        "[sector, proof, reset]",
        |api, (id, proof, reset): (SectorId, Proof, bool)| api.submit_proof(id, proof, reset),
        |r| wire::SubmitResp::from(&r)
    );
    method!(
        module,
        methods::POLL_PROOF_STATE,
        "[sector]",
        |api, (id,): (SectorId,)| api.poll_proof_state(id),
        |r| wire::PollStateResp::from(&r)
    );
    module
        .register_async_method(methods::REPORT_STATE, |params, ctx, _| async move {
            let (id, report): (SectorId, wire::ReportStateReq) =
                parse(&params, methods::REPORT_STATE, "[sector, report]")?;
            ctx.api
                .report_state(id, report.into())
                .await
                .map(|r| wire::SectorState::from_core(id, &r))
                .map_err(manager_error_to_rpc)
        })
        .map_err(reg)?;
    module
        .register_async_method(methods::REPORT_FINALIZED, |params, ctx, _| async move {
            let (id,): (SectorId,) = parse(&params, methods::REPORT_FINALIZED, "[sector]")?;
            ctx.api
                .report_finalized(id)
                .await
                .map_err(manager_error_to_rpc)?;
            ctx.stores.release(id);
            Ok::<_, ErrorObjectOwned>(())
        })
        .map_err(reg)?;
    module
        .register_async_method(methods::REPORT_ABORTED, |params, ctx, _| async move {
            let (id, reason): (SectorId, String) =
                parse(&params, methods::REPORT_ABORTED, "[sector, reason]")?;
            ctx.api
                .report_aborted(id, reason)
                .await
                .map_err(manager_error_to_rpc)?;
            ctx.stores.release(id);
            Ok::<_, ErrorObjectOwned>(())
        })
        .map_err(reg)?;
    module
        .register_method(methods::WORKER_PING, |params, ctx, _| {
            let (info,): (WorkerInfo,) = parse(&params, methods::WORKER_PING, "[info]")?;
            ctx.pings.record(info.clone());
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
        .map_err(reg)?;
    module
        .register_method(methods::STORE_BASIC_INFO, |params, ctx, _| {
            let (name,): (String,) =
                parse(&params, methods::STORE_BASIC_INFO, "[instance_name]")?;
            let info = ctx.stores.basic_info(&name);
            if info.is_none() {
                tracing::warn!(store = %name, "a worker asked for a persist store this manager does not know");
            }
            Ok::<_, ErrorObjectOwned>(info)
        })
        .map_err(reg)?;
    module
        .register_method(methods::STORE_RESERVE_SPACE, |params, ctx, _| {
            let (id, size, candidates): (SectorId, u64, Option<Vec<String>>) = parse(
                &params,
                methods::STORE_RESERVE_SPACE,
                "[sector, size, candidates]",
            )?;
            let candidates = candidates.unwrap_or_default();
            let chosen = ctx.stores.reserve(id, size, &candidates);
            match &chosen {
                Some(store) => tracing::info!(sector = %id, size, store = %store.name, "persist space reserved"),
                None => tracing::warn!(sector = %id, size, ?candidates, "no persist store has room"),
            }
            Ok::<_, ErrorObjectOwned>(chosen)
        })
        .map_err(reg)?;
    Ok(module)
}
