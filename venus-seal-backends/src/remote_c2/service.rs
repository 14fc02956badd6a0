//! The C2 service: an axum router over the task queue, and the provers.

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
use venus_seal_core::stage::{Proof, C2};
use venus_seal_core::{DynExecutor, Executor};
use venus_seal_rpc::auth::{authenticate, Permission, Secret};

use super::api::{valid_id, ErrorBody, TaskState, SUBMIT_PATH};
use super::body::{parse_task, unzstd};
use super::prover::{prover_loop, NodeRuns, ProverCtx};
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
    executor: DynExecutor<C2>,
    secret: Secret,
    config: C2ServiceConfig,
    wake: Arc<Notify>,
    check: Option<Arc<C1Check>>,
    /// The runs on this node, across `start_provers` calls.
    runs: Arc<NodeRuns>,
}

/// A remote C2 service node: `POST /v1/c2` queues a task and `DELETE
/// /v1/c2/{id}` cancels it (write permission), `GET /v1/c2/{id}` tells its
/// state and `GET /v1/c2/{id}/proof` gives its proof (read permission);
/// every request
/// carries `Authorization: Bearer <JWT>` signed with the service's
/// [`Secret`] (the Lotus token format of venus-seal-rpc). Tasks live in a
/// [`C2TaskStore`]; `provers` loops prove them on any [`Executor<C2>`]
/// (production: [`LocalExecutor`](crate::LocalExecutor), feature `proofs`;
/// the service itself needs no proving crate).
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
            .field("executor", &self.inner.executor)
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
    /// A node proving with `executor`, accepting tokens signed with
    /// `secret`.
    pub fn new(
        store: C2TaskStore,
        executor: impl Executor<C2> + 'static,
        secret: Secret,
        config: C2ServiceConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: store.with_limits(config.limits),
                executor: Arc::new(executor),
                secret,
                wake: Arc::new(Notify::new()),
                check: None,
                runs: NodeRuns::new(config.provers),
                config,
            }),
        }
    }

    /// Checks every submission with `check` before queueing it (see
    /// [`check_c1_output`](super::check_c1_output) for filecoin-proofs C1
    /// outputs). Call before [`router`](Self::router).
    pub fn with_c1_check(
        mut self,
        check: impl Fn(&C2) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.check = Some(Arc::new(check)),
            None => panic!("C2Service::with_c1_check must be called before the service is shared"),
        }
        self
    }

    /// The queue.
    pub fn store(&self) -> &C2TaskStore {
        &self.inner.store
    }

    /// The HTTP API.
    pub fn router(&self) -> Router {
        Router::new()
            .route(SUBMIT_PATH, post(submit))
            .route("/v1/c2/{id}", get(status).delete(cancel))
            .route("/v1/c2/{id}/proof", get(proof))
            .with_state(self.inner.clone())
    }

    /// Requeues this node's tasks left running by a previous life of the
    /// node, then starts `provers` prover loops.
    pub async fn start_provers(&self) -> Result<Provers, QueueError> {
        let inner = &self.inner;
        let requeued = inner.store.release_node(&inner.config.node_id).await?;
        if requeued > 0 {
            tracing::info!(node = %inner.config.node_id, requeued, "requeued C2 tasks interrupted by a restart");
        }
        let ctx = Arc::new(ProverCtx {
            store: inner.store.clone(),
            executor: inner.executor.clone(),
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
            "C2 service listening"
        );
        let served = axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await;
        match provers.stop().await {
            Ok(n) => tracing::info!(requeued = n, "C2 provers stopped"),
            Err(e) => tracing::warn!(error = %e, "cannot requeue the running C2 tasks"),
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
    tracing::error!(error = %e, "C2 queue failed");
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

async fn submit(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Body) -> Response {
    if let Err(refused) = authorize(&inner, &headers, Permission::Write) {
        return refused.into_response();
    }
    let bytes = match read_body(&headers, body, inner.config.max_body_bytes).await {
        Ok(b) => b,
        Err(refused) => return refused.into_response(),
    };
    let check = inner.check.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        let task = parse_task(&bytes)?;
        if let Some(check) = check {
            check(&task).map_err(|e| format!("corrupt C1 output: {e}"))?;
        }
        Ok::<_, String>(task)
    })
    .await;
    let task = match parsed {
        Ok(Ok(task)) => task,
        Ok(Err(msg)) => return refuse(StatusCode::BAD_REQUEST, "bad_request", msg),
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the C1 output check panicked: {e}"),
            )
        }
    };
    match inner.store.submit(&task).await {
        Ok(status) => {
            if status.state == TaskState::Queued {
                inner.wake.notify_one();
            }
            tracing::debug!(task = %status.id, state = %status.state, "C2 task submitted");
            (StatusCode::OK, Json(status)).into_response()
        }
        Err(e) => internal(e),
    }
}

fn bad_id(id: &str) -> Option<Response> {
    (!valid_id(id)).then(|| {
        refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a task id is MINER-NUMBER-DIGEST (letters, digits and '-')",
        )
    })
}

fn unknown(id: &str) -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no C2 task {id}: submit it again (POST /v1/c2)"),
    )
}

async fn status(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authorize(&inner, &headers, Permission::Read) {
        return refused.into_response();
    }
    if let Some(bad) = bad_id(&id) {
        return bad;
    }
    match inner.store.status(&id).await {
        Ok(Some(status)) => Json(status).into_response(),
        Ok(None) => unknown(&id),
        Err(e) => internal(e),
    }
}

async fn cancel(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authorize(&inner, &headers, Permission::Write) {
        return refused.into_response();
    }
    if let Some(bad) = bad_id(&id) {
        return bad;
    }
    match inner.store.cancel(&id).await {
        Ok(Some(status)) => {
            // A run on this node gives the task up at once; one on another
            // node at its next heartbeat.
            if status.state == TaskState::Failed {
                inner.runs.cancel(&id);
            }
            tracing::info!(task = %id, state = %status.state, "C2 task cancelled by its submitter");
            Json(status).into_response()
        }
        Ok(None) => unknown(&id),
        Err(e) => internal(e),
    }
}

async fn proof(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authorize(&inner, &headers, Permission::Read) {
        return refused.into_response();
    }
    if let Some(bad) = bad_id(&id) {
        return bad;
    }
    match inner.store.proof(&id).await {
        Ok(Some(Ok(proof))) => Json(Proof { proof }).into_response(),
        Ok(Some(Err(state))) => refuse(
            StatusCode::CONFLICT,
            "not_ready",
            format!("C2 task {id} is {state}, not done"),
        ),
        Ok(None) => unknown(&id),
        Err(e) => internal(e),
    }
}
