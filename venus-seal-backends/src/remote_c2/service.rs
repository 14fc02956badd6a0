//! The remote proving service: an axum router over the task queue, and
//! the provers.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use venus_seal_core::stage::C2;
use venus_seal_core::Executor;
use venus_seal_rpc::auth::{authenticate, Permission, Secret};

use super::api::{valid_id, ErrorBody, RemoteStage, TaskState};
use super::body::unzstd;
use super::prover::{prover_loop, NodeRuns, ProverCtx};
use super::runner::{Runner, StageRunner};
use super::store::{prune_loop, C2TaskStore, QueueError, QueueLimits};

/// Checks a submitted task before it is queued (typically that the C1
/// output decodes for its proof type); the message of an `Err` goes back
/// to the submitter with a 400.
pub type C1Check = dyn Fn(&C2) -> Result<(), String> + Send + Sync;

/// How a [`C2Service`] node runs.
#[derive(Clone, Debug)]
pub struct C2ServiceConfig {
    /// This node's name in the queue (`claimed_by`). Keep it stable across
    /// restarts so a restarted node requeues its own interrupted tasks at
    /// once (otherwise they wait for `stale_after`), and unique among the
    /// nodes sharing a queue. Default: `c2-` and a random suffix.
    pub node_id: String,
    /// Tasks proven at once on this node. Default 1.
    pub provers: usize,
    /// The largest request body accepted, after decompression. Default
    /// 64 MiB (a 32GiB sector's C1 output is about 20 MiB of JSON).
    pub max_body_bytes: usize,
    /// How often a running task's heartbeat is refreshed. Default 10 s.
    pub heartbeat_interval: Duration,
    /// A running task whose heartbeat is older than this is taken over
    /// (its node is presumed dead). Default 60 s.
    pub stale_after: Duration,
    /// How often an idle prover looks for work queued by other nodes.
    /// Default 1 s.
    pub poll_interval: Duration,
    /// The attempts cap and the retention of finished tasks; they apply
    /// to the service's store. Default [`QueueLimits::default`].
    pub limits: QueueLimits,
}

impl Default for C2ServiceConfig {
    fn default() -> Self {
        Self {
            node_id: format!("c2-{:08x}", rand::random::<u32>()),
            provers: 1,
            max_body_bytes: 64 << 20,
            heartbeat_interval: Duration::from_secs(10),
            stale_after: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            limits: QueueLimits::default(),
        }
    }
}

struct Inner {
    store: C2TaskStore,
    /// The stages this node proves, by name.
    runners: BTreeMap<&'static str, Arc<dyn Runner>>,
    secret: Secret,
    config: C2ServiceConfig,
    wake: Arc<Notify>,
    /// The runs on this node, across `start_provers` calls.
    runs: Arc<NodeRuns>,
}

/// A remote proving service node (named for C2, its first stage; it also
/// proves any [`RemoteStage`] given an executor with
/// [`with_stage`](Self::with_stage): snap_prove, window_post,
/// winning_post): `POST /v1/{stage}` queues a task and `DELETE
/// /v1/{stage}/{id}` cancels it (write permission), `GET /v1/{stage}/{id}`
/// tells its state and `GET /v1/{stage}/{id}/proof` gives its output
/// (read permission); a stage the node does not prove answers 404. Every
/// request carries `Authorization: Bearer <JWT>` signed with the service's
/// [`Secret`] (the Lotus token format of venus-seal-rpc). Tasks of every
/// stage live in one [`C2TaskStore`]; `provers` loops prove them, at most
/// `provers` at once whatever their stage (a node's GPUs are one budget),
/// on any executor (production: [`LocalExecutor`](crate::LocalExecutor),
/// feature `proofs`; the service itself needs no proving crate).
///
/// ```no_run
/// use venus_seal_backends::remote_c2::{C2Service, C2ServiceConfig, C2TaskStore};
/// use venus_seal_core::{stage::C2, Executor};
/// use venus_seal_rpc::auth::Secret;
/// # async fn f(prover: impl Executor<C2> + 'static) -> Result<(), Box<dyn std::error::Error>> {
/// let store = C2TaskStore::open_sqlite("/var/lib/venus-seal/c2.db").await?;
/// let service = C2Service::new(store, prover, Secret::generate(), C2ServiceConfig::default());
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3456").await?;
/// service.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct C2Service {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for C2Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("C2Service")
            .field("store", &self.inner.store)
            .field("stages", &self.inner.runners.keys().collect::<Vec<_>>())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The running provers of a node; dropping this aborts them where they
/// are (as a crash would), [`stop`](Self::stop) also hands their tasks
/// back to the queue.
#[derive(Debug)]
pub struct Provers {
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
    store: C2TaskStore,
    node: String,
}

impl Provers {
    /// Stops the provers (each at its next safe point: never inside a
    /// database statement) and requeues the tasks they were running, so
    /// another node (or this one after a restart) proves them. A blocking
    /// proof already running in a thread cannot be interrupted: its result
    /// is dropped, and it keeps its prover slot until it ends (provers
    /// started again by this service wait for it and never claim its task
    /// meanwhile).
    pub async fn stop(mut self) -> Result<u64, QueueError> {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.store.release_node(&self.node).await
    }
}

impl C2Service {
    /// A node proving C2 with `executor`, accepting tokens signed with
    /// `secret`.
    pub fn new(
        store: C2TaskStore,
        executor: impl Executor<C2> + 'static,
        secret: Secret,
        config: C2ServiceConfig,
    ) -> Self {
        Self::without_stages(store, secret, config).with_stage(executor)
    }

    /// A node proving no stage yet: add them with
    /// [`with_stage`](Self::with_stage) (e.g. a WindowPoSt-only node).
    pub fn without_stages(store: C2TaskStore, secret: Secret, config: C2ServiceConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: store.with_limits(config.limits),
                runners: BTreeMap::new(),
                secret,
                wake: Arc::new(Notify::new()),
                runs: NodeRuns::new(config.provers),
                config,
            }),
        }
    }

    /// Also proves stage `S` with `executor` (replacing an earlier one for
    /// `S`). Call before [`router`](Self::router).
    pub fn with_stage<S: RemoteStage>(self, executor: impl Executor<S> + 'static) -> Self {
        self.with_runner(StageRunner::<S> {
            executor: Arc::new(executor),
            check: None,
        })
    }

    fn with_runner<S: RemoteStage>(mut self, runner: StageRunner<S>) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.runners.insert(S::NAME, Arc::new(runner)),
            None => panic!("C2Service stages must be set before the service is shared"),
        };
        self
    }

    /// The stages this node proves.
    pub fn stages(&self) -> Vec<&'static str> {
        self.inner.runners.keys().copied().collect()
    }

    /// Checks every C2 submission with `check` before queueing it (see
    /// [`check_c1_output`](super::check_c1_output) for filecoin-proofs C1
    /// outputs). Call after the C2 executor is set and before
    /// [`router`](Self::router); without one it does nothing.
    pub fn with_c1_check(
        self,
        check: impl Fn(&C2) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        let Some(executor) = self.executor_of::<C2>() else {
            return self;
        };
        self.with_runner(StageRunner::<C2> {
            executor,
            check: Some(Arc::new(move |task: &C2| {
                check(task).map_err(|e| format!("corrupt C1 output: {e}"))
            })),
        })
    }

    /// The executor of stage `S`, if this node proves it.
    fn executor_of<S: RemoteStage>(&self) -> Option<venus_seal_core::DynExecutor<S>> {
        let runner = self.inner.runners.get(S::NAME)?;
        let any: &dyn std::any::Any = runner.as_any();
        any.downcast_ref::<StageRunner<S>>()
            .map(|r| r.executor.clone())
    }

    /// The queue.
    pub fn store(&self) -> &C2TaskStore {
        &self.inner.store
    }

    /// The HTTP API.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/{stage}", post(submit))
            .route("/v1/{stage}/{id}", get(status).delete(cancel))
            .route("/v1/{stage}/{id}/proof", get(proof))
            .route("/v1/{stage}/{id}/reject", post(reject))
            .with_state(self.inner.clone())
    }

    /// Requeues this node's tasks left running by a previous life of the
    /// node, then starts `provers` prover loops.
    pub async fn start_provers(&self) -> Result<Provers, QueueError> {
        let inner = &self.inner;
        let requeued = inner.store.release_node(&inner.config.node_id).await?;
        if requeued > 0 {
            tracing::info!(node = %inner.config.node_id, requeued, "requeued tasks interrupted by a restart");
        }
        let ctx = Arc::new(ProverCtx {
            store: inner.store.clone(),
            runners: inner.runners.clone(),
            runs: inner.runs.clone(),
            node: inner.config.node_id.clone(),
            stale_after: inner.config.stale_after,
            heartbeat: inner.config.heartbeat_interval,
            poll: inner.config.poll_interval,
            wake: inner.wake.clone(),
        });
        let mut tasks = JoinSet::new();
        let (stop, stopped) = watch::channel(false);
        for index in 0..inner.config.provers.max(1) {
            tasks.spawn(prover_loop(ctx.clone(), index, stopped.clone()));
        }
        let every = inner.config.limits.prune_interval();
        tasks.spawn(prune_loop(inner.store.clone(), every, stopped.clone()));
        Ok(Provers {
            tasks,
            stop,
            store: inner.store.clone(),
            node: inner.config.node_id.clone(),
        })
    }

    /// Starts the provers and serves the API on `listener` until
    /// `shutdown` completes; then stops accepting requests, stops the
    /// provers and requeues their tasks.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let provers = self.start_provers().await.map_err(std::io::Error::other)?;
        tracing::info!(
            addr = ?listener.local_addr().ok(),
            node = %self.inner.config.node_id,
            provers = self.inner.config.provers.max(1),
            stages = ?self.stages(),
            "proving service listening"
        );
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        match provers.stop().await {
            Ok(n) => tracing::info!(requeued = n, "provers stopped"),
            Err(e) => tracing::warn!(error = %e, "cannot requeue the running tasks"),
        }
        served
    }
}

/// An error answer: status and a JSON body saying what is wrong.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    error: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code.into(),
            error: self.error,
        };
        (self.status, Json(body)).into_response()
    }
}

fn refusal(status: StatusCode, code: &'static str, error: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        error: error.into(),
    }
}

fn refuse(status: StatusCode, code: &'static str, error: impl Into<String>) -> Response {
    refusal(status, code, error).into_response()
}

fn internal(e: QueueError) -> Response {
    tracing::error!(error = %e, "task queue failed");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

/// Verifies the bearer token and that it allows `need`.
fn authorize(inner: &Inner, headers: &HeaderMap, need: Permission) -> Result<(), Refusal> {
    let caller = authenticate(&inner.secret, headers)
        .map_err(|e| refusal(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()))?;
    if caller.permission < need {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this call needs the {need} permission; the token allows {}",
                caller.permission
            ),
        ));
    }
    Ok(())
}

/// Reads the body, at most `limit` bytes after decompression.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, Refusal> {
    let too_large = |what: &str| {
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the request body {what} the service's limit of {limit} bytes (max_body_bytes)"
            ),
        )
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    let zstd = match encoding.as_deref() {
        None | Some("identity") => false,
        Some("zstd") => true,
        Some(other) => {
            return Err(refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "bad_request",
                format!("unsupported Content-Encoding {other:?}: send zstd or identity"),
            ))
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large("(Content-Length) exceeds"));
    }
    let mut out = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            refusal(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("cannot read the request body: {e}"),
            )
        })?;
        if out.len() + chunk.len() > limit {
            return Err(too_large("exceeds"));
        }
        out.extend_from_slice(&chunk);
    }
    if zstd {
        return unzstd(&out, limit).map_err(|e| match e {
            None => too_large("exceeds (decompressed)"),
            Some(e) => refusal(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the zstd request body does not decompress: {e}"),
            ),
        });
    }
    Ok(out)
}

/// The runner of the route's stage, or the 404 naming the stages served.
fn runner_of(inner: &Inner, stage: &str) -> Result<Arc<dyn Runner>, Refusal> {
    inner.runners.get(stage).cloned().ok_or_else(|| {
        let served: Vec<&str> = inner.runners.keys().copied().collect();
        refusal(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "this service does not prove {stage:?}: it proves {}",
                served.join(", ")
            ),
        )
    })
}

async fn submit(
    State(inner): State<Arc<Inner>>,
    Path(stage): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(refused) = authorize(&inner, &headers, Permission::Write) {
        return refused.into_response();
    }
    let runner = match runner_of(&inner, &stage) {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    let bytes = match read_body(&headers, body, inner.config.max_body_bytes).await {
        Ok(b) => b,
        Err(refused) => return refused.into_response(),
    };
    let parsed = tokio::task::spawn_blocking(move || runner.parse(&bytes)).await;
    let row = match parsed {
        Ok(Ok(row)) => row,
        Ok(Err(msg)) => return refuse(StatusCode::BAD_REQUEST, "bad_request", msg),
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the {stage} task check panicked: {e}"),
            )
        }
    };
    match inner.store.submit_row(&row).await {
        Ok(status) => {
            if status.state == TaskState::Queued {
                inner.wake.notify_one();
            }
            tracing::debug!(task = %status.id, %stage, state = %status.state, "task submitted");
            (StatusCode::OK, Json(status)).into_response()
        }
        Err(e) => internal(e),
    }
}

fn bad_id(id: &str) -> Option<Refusal> {
    (!valid_id(id)).then(|| {
        refusal(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a task id is [STAGE-]MINER-NUMBER-DIGEST (letters, digits, '_' and '-')",
        )
    })
}

fn unknown(stage: &str, id: &str) -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no {stage} task {id}: submit it again (POST /v1/{stage})"),
    )
}

/// Checks the route: its stage served, a well-formed id, the caller's
/// permission; the runner.
fn route(
    inner: &Inner,
    headers: &HeaderMap,
    need: Permission,
    stage: &str,
    id: &str,
) -> Result<Arc<dyn Runner>, Refusal> {
    authorize(inner, headers, need)?;
    let runner = runner_of(inner, stage)?;
    if let Some(bad) = bad_id(id) {
        return Err(bad);
    }
    Ok(runner)
}

/// The task's status if it is a task of `stage`.
async fn status_of(inner: &Inner, stage: &str, id: &str) -> Result<TaskStatusOr, Response> {
    match inner.store.status(id).await {
        Ok(Some(status)) if status.stage == stage => Ok(Some(status)),
        Ok(_) => Ok(None),
        Err(e) => Err(internal(e)),
    }
}

type TaskStatusOr = Option<super::api::TaskStatus>;

/// [`route`], then the task's status: the runner and the status of a
/// task of `stage`, or the answer to give (refused, unknown, failing).
async fn known_task(
    inner: &Inner,
    headers: &HeaderMap,
    need: Permission,
    stage: &str,
    id: &str,
) -> Result<(Arc<dyn Runner>, super::api::TaskStatus), Response> {
    let runner = route(inner, headers, need, stage, id).map_err(IntoResponse::into_response)?;
    match status_of(inner, stage, id).await? {
        Some(status) => Ok((runner, status)),
        None => Err(unknown(stage, id)),
    }
}

async fn status(
    State(inner): State<Arc<Inner>>,
    Path((stage, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match known_task(&inner, &headers, Permission::Read, &stage, &id).await {
        Ok((_, status)) => Json(status).into_response(),
        Err(answer) => answer,
    }
}

async fn cancel(
    State(inner): State<Arc<Inner>>,
    Path((stage, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(answer) = known_task(&inner, &headers, Permission::Write, &stage, &id).await {
        return answer;
    }
    match inner.store.cancel(&id).await {
        Ok(Some(status)) => {
            // A run on this node gives the task up at once; one on another
            // node at its next heartbeat.
            if status.state == TaskState::Failed {
                inner.runs.cancel(&id);
            }
            tracing::info!(task = %id, %stage, state = %status.state, "task cancelled by its submitter");
            Json(status).into_response()
        }
        Ok(None) => unknown(&stage, &id),
        Err(e) => internal(e),
    }
}

async fn proof(
    State(inner): State<Arc<Inner>>,
    Path((stage, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let runner = match known_task(&inner, &headers, Permission::Read, &stage, &id).await {
        Ok((runner, _)) => runner,
        Err(answer) => return answer,
    };
    match inner.store.output(&id).await {
        Ok(Some(Ok(stored))) => match runner.answer(stored) {
            Ok(json) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                json,
            )
                .into_response(),
            Err(e) => internal(QueueError(format!("task {id}: stored output: {e}"))),
        },
        Ok(Some(Err(state))) => refuse(
            StatusCode::CONFLICT,
            "not_ready",
            format!("{stage} task {id} is {state}, not done"),
        ),
        Ok(None) => unknown(&stage, &id),
        Err(e) => internal(e),
    }
}

/// `POST /v1/{stage}/{id}/reject`: the submitter found the output of a
/// done task invalid; the task is forgotten so that resubmitting the work
/// proves it again.
async fn reject(
    State(inner): State<Arc<Inner>>,
    Path((stage, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let status = match known_task(&inner, &headers, Permission::Write, &stage, &id).await {
        Ok((_, status)) => status,
        Err(answer) => return answer,
    };
    let not_done = |state: TaskState| {
        refuse(
            StatusCode::CONFLICT,
            "not_ready",
            format!("{stage} task {id} is {state}, not done: nothing to reject"),
        )
    };
    if status.state != TaskState::Done {
        return not_done(status.state);
    }
    match inner.store.forget_done(&id).await {
        Ok(true) => {
            tracing::warn!(task = %id, %stage, claimed_by = ?status.claimed_by, "the submitter rejected the task's output (it does not verify); forgotten");
            Json(status).into_response()
        }
        // Resubmitted (queued again) or pruned since it was read.
        Ok(false) => match inner.store.status(&id).await {
            Ok(Some(now)) => not_done(now.state),
            Ok(None) => unknown(&stage, &id),
            Err(e) => internal(e),
        },
        Err(e) => internal(e),
    }
}
