//! The operators' web console, served by the sector manager (`[console]`):
//! one place to see the whole cluster and act on it.
//!
//! * `/`: is anything wrong, and what to do: the alerts firing, parked
//!   sectors, silent workers, stuck messages, then the pipeline at a glance;
//! * `/pipeline`: sectors per state and miner, sectors finalized per day,
//!   the states sectors spend longest in, the sectors that changed last;
//! * `/sectors/{miner}/{number}`: a sector's whole history (every step,
//!   with time, worker, error and level) and the actions on it;
//! * `/workers`: each worker's last ping (slots, running, waiting, paused,
//!   errors), how busy it is, when it was last seen;
//! * `/chain`: messages in flight, submissions waiting for a batch, deals
//!   queued, the sending wallets' balances;
//! * `/proving`: each miner's deadlines (the open one marked), partitions,
//!   faults and recoveries, the last WindowPoSt round, and a dry-run check
//!   of a deadline's files;
//! * `/storage`: the persist stores and their room;
//! * `/alerts`: what fires and what resolved lately.
//!
//! Actions (admin tokens only, each confirmed in the page first): pause,
//! resume, abort and resend a sector, and check a deadline. Pause and
//! resume go to the worker that holds the sector (its admin API, at the
//! address its pings give), with `[console] worker_token_file`.
//!
//! Pages are rendered on the server (askama templates under
//! `src/console/templates/`, compiled in), with charts as inline SVG: no
//! script from elsewhere, no CDN; it works on a machine with no internet.
//!
//! # Design rationale
//!
//! The console is a read model over what the manager already holds (its
//! store, its in-memory views of pings, messages and parked sectors, the
//! alert board): it adds no state of its own, so it can never disagree
//! with the API the workers and the operator commands use. It listens on
//! its own address so that it can be exposed (or not) apart from the
//! worker API.

mod actions;
mod auth;
pub mod cache;
pub mod chart;
pub mod data;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio::task::JoinHandle;
use venus_seal_chain::manager::SectorStatus;
use venus_seal_chain::{LocalSectorManager, WindowPoStScheduler};
use venus_seal_core::{ActorId, ChainClient, SectorId};
use venus_seal_rpc::manager::{PersistStores, WorkerPings};
use venus_seal_rpc::Secret;

use self::cache::Cached;
use crate::alerts::{AlertBoard, Balances};

pub use auth::{csrf_of, Viewer, COOKIE};

/// What the console reads and acts on.
#[derive(Debug)]
pub struct ConsoleParts {
    /// The manager: its store, messages, parked sectors, deals; aborts and
    /// resends.
    pub manager: Arc<LocalSectorManager>,
    /// The chain: head, deadlines, partitions.
    pub chain: Arc<dyn ChainClient>,
    /// The miners served.
    pub miners: Vec<ActorId>,
    /// The workers' last pings.
    pub pings: WorkerPings,
    /// The persist stores.
    pub stores: PersistStores,
    /// The alerts (`None`: `[alerts]` is off).
    pub alerts: Option<AlertBoard>,
    /// The sending wallets' balances (empty: no wallet of its own, or not
    /// read yet).
    pub balances: Balances,
    /// The WindowPoSt scheduler (`None`: `[proving]` is off).
    pub post: Option<Arc<WindowPoStScheduler>>,
    /// The secret tokens are checked against (`rpc.secret_file`).
    pub secret: Secret,
    /// An admin token for the workers' admin APIs (pause, resume).
    pub worker_token: Option<String>,
    /// A worker quiet this long is shown as silent.
    pub worker_silent_after: Duration,
    /// Mark the session cookie `Secure` (the console is reached over
    /// HTTPS, through a TLS-terminating proxy).
    pub secure_cookie: bool,
}

/// The console: cheap to clone (one shared [`ConsoleParts`]).
#[derive(Clone, Debug)]
pub struct Console(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    parts: ConsoleParts,
    /// Held while a deadline check runs (one at a time).
    check_running: tokio::sync::Mutex<()>,
    /// Every sector, for the overview and the pipeline.
    sectors: Cached<(), Vec<(SectorId, SectorStatus)>>,
    /// Each miner's deadlines' partition counts, for the proving page.
    deadlines: Cached<ActorId, Vec<DeadlineCounts>>,
}

/// One deadline's partitions, counted (the proving page).
#[derive(Clone, Debug, Default)]
pub(crate) struct DeadlineCounts {
    pub(crate) partitions: usize,
    pub(crate) sectors: usize,
    pub(crate) faulty: usize,
    pub(crate) recovering: usize,
}

/// The overview and pipeline reuse one listing of every sector, and the
/// proving page a miner's deadlines, for [`cache::FACTOR`] times as long
/// as the read took: at least this long ...
pub const READ_KEPT_MIN: Duration = Duration::from_secs(1);
/// ... and at most this long.
pub const READ_KEPT_MAX: Duration = Duration::from_secs(60);

impl Console {
    /// A console over `parts`.
    pub fn new(parts: ConsoleParts) -> Self {
        Self(Arc::new(Shared {
            parts,
            check_running: tokio::sync::Mutex::new(()),
            sectors: Cached::new(READ_KEPT_MIN, READ_KEPT_MAX),
            deadlines: Cached::new(READ_KEPT_MIN, READ_KEPT_MAX),
        }))
    }

    pub(crate) fn parts(&self) -> &ConsoleParts {
        &self.0.parts
    }

    /// Held while a deadline check runs (one at a time).
    pub(crate) fn check_running(&self) -> &tokio::sync::Mutex<()> {
        &self.0.check_running
    }

    pub(crate) fn secret(&self) -> &Secret {
        &self.0.parts.secret
    }

    /// Every page and action, as an axum router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(pages::overview))
            .route("/login", get(pages::login_form).post(pages::login))
            .route("/logout", post(pages::logout))
            .route("/pipeline", get(pages::pipeline))
            .route("/sectors/{miner}/{number}", get(pages::sector))
            .route("/sectors/{miner}/{number}/{action}", post(actions::sector))
            .route("/workers", get(pages::workers))
            .route("/chain", get(pages::chain))
            .route("/proving", get(pages::proving))
            .route("/proving/check", post(actions::check_deadline))
            .route("/storage", get(pages::storage))
            .route("/alerts", get(pages::alerts))
            .layer(axum::middleware::from_fn(auth::refuse_cross_site))
            .layer(axum::middleware::map_response(security_headers))
            .with_state(self.clone())
    }

    /// Serves the console on `listen` until the task is aborted.
    pub async fn serve(&self, listen: SocketAddr) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let app = self.router();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "console stopped");
            }
        });
        tracing::info!(url = %format!("http://{addr}/"), "console serving (log in with a token: `token --perm read`, or admin to act)");
        Ok((addr, task))
    }

    /// Every sector the manager holds, in sector order, as read lately
    /// ([`Cached`]).
    pub(crate) async fn all_sectors(&self) -> anyhow::Result<Arc<Vec<(SectorId, SectorStatus)>>> {
        const PAGE: usize = 1_000;
        let store = self.parts().manager.store();
        self.0
            .sectors
            .get((), || async {
                let mut all = Vec::new();
                let mut after = None;
                loop {
                    let page = store.sectors(after, PAGE).await?;
                    let full = page.len() == PAGE;
                    after = page.last().map(|(id, _)| *id);
                    all.extend(page.into_iter().map(|(id, v)| (id, v.value)));
                    if !full {
                        return Ok(all);
                    }
                }
            })
            .await
    }

    /// `miner`'s deadlines' partitions, counted, as read lately
    /// ([`Cached`]; `deadlines` of them, 8 read at once).
    pub(crate) async fn deadline_counts(
        &self,
        miner: ActorId,
        deadlines: u64,
    ) -> Result<Arc<Vec<DeadlineCounts>>, String> {
        use futures_util::{StreamExt, TryStreamExt};
        let chain = self.parts().chain.clone();
        self.0
            .deadlines
            .get(miner, || {
                futures_util::stream::iter(0..deadlines)
                    .map(move |index| {
                        let chain = chain.clone();
                        async move {
                            let ps = chain
                                .deadline_partitions(miner, index)
                                .await
                                .map_err(|e| format!("deadline {index}: {e}"))?;
                            Ok::<_, String>(DeadlineCounts {
                                partitions: ps.len(),
                                sectors: ps.iter().map(|p| p.sectors.len()).sum(),
                                faulty: ps.iter().map(|p| p.faulty.len()).sum(),
                                recovering: ps.iter().map(|p| p.recovering.len()).sum(),
                            })
                        }
                    })
                    .buffered(8)
                    .try_collect()
            })
            .await
    }
}

/// No page is framed by another site, cached, or sniffed.
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let h = response.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

pub(crate) use crate::runtime::unix_now;

#[cfg(test)]
mod tests;
