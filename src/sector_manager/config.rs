//! The sector manager's TOML configuration: every key documented in
//! `examples/sector-manager.toml`; unknown keys and bad values are refused
//! with the key's name.
//!
//! This file names only `crate::core` (its types and `StageLimit`),
//! `crate::backends::pieces`
//! and `crate::chain::manager::NumberRange`, and no proving crate: the
//! fuzz target `manager_config` compiles it by `#[path]` against its
//! stand-in `venus_seal`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backends::pieces::PieceStoreConfig;
use crate::core::engine::limits::StageLimit;
use crate::core::{ActorId, SealProof, TokenAmount};
use anyhow::{bail, Context};
use serde::Deserialize;

/// The whole file: what [`super::ManagerService`] builds a sector manager
/// from.
///
/// [`SectorManagerConfig::load`] reads a file and resolves its relative
/// paths against the file's folder; [`SectorManagerConfig::parse`] checks a
/// text and leaves paths as written.
///
/// ```
/// use venus_seal::sector_manager::SectorManagerConfig;
///
/// let config = SectorManagerConfig::parse(
///     r#"
///     [rpc]
///     listen = "127.0.0.1:1789"
///     secret_file = "rpc.secret"
///
///     [chain]
///     kind = "embedded-devnet"
///     block_time = "1s"
///     state_dir = "state"
///
///     [[miners]]
///     id = "f01000"
///     proof = "StackedDrg2KiBV1_1"
///     "#,
/// )
/// .unwrap();
/// assert_eq!(config.miners[0].aggregate_from, 4, "the documented default");
/// assert!(config.store.is_none(), "SQLite under chain.state_dir");
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectorManagerConfig {
    /// The worker-facing JSON-RPC server.
    pub rpc: RpcSection,
    /// The chain the manager sends to.
    pub chain: ChainSection,
    /// Where the manager keeps its state (default: SQLite under the
    /// chain's state_dir).
    #[serde(default)]
    pub store: Option<StoreSection>,
    /// The miner actors served, in allocation preference order.
    pub miners: Vec<MinerSection>,
    /// The piece proxy (optional): workers fetch deal pieces from it.
    #[serde(default)]
    pub pieces: Option<PiecesSection>,
    /// WindowPoSt of the sectors the workers persisted (optional).
    #[serde(default)]
    pub proving: Option<ProvingSection>,
    /// venus-gateway proof events (optional): WinningPoSt for venus-miner.
    #[serde(default)]
    pub gateway: Option<GatewaySection>,
    /// The persist stores `Venus.StoreBasicInfo` and
    /// `Venus.StoreReserveSpace` answer from (none: every store unknown).
    #[serde(default)]
    pub persist_stores: Vec<PersistStoreSection>,
    /// How failed pushes and stuck messages are sent again (every key
    /// optional).
    #[serde(default)]
    pub resend: ResendSection,
    /// droplet (venus-market) assigns the deals (optional; without it the
    /// deals queued on the manager are handed out).
    #[serde(default)]
    pub market: Option<MarketSection>,
    /// `[metrics]`: the Prometheus endpoint (optional): the proofs'
    /// durations and outcomes per stage, and `[proving.limits]` /
    /// `[proving.locks]` occupancy.
    #[serde(default)]
    pub metrics: Option<crate::runtime::MetricsSection>,
    /// `[alerts]`: rules evaluated on a clock, sent to webhooks
    /// (optional).
    #[serde(default)]
    pub alerts: Option<AlertsSection>,
    /// `[console]`: the operators' web console (optional).
    #[serde(default)]
    pub console: Option<ConsoleSection>,
    /// `[snap_up]`: when a landed snap-up is final and whether the CC
    /// replica is then removed (every key optional).
    #[serde(default)]
    pub snap_up: SnapUpSection,
}

/// `[snap_up]`: a snap-up's message is final `final_after_epochs` after
/// it landed (the chain's finality, 900); the sector's CC replica and
/// cache are then removed from the `[proving] stores` holding them unless
/// `remove_cc_data = false`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapUpSection {
    /// Epochs after landing that an update is final (default 900).
    pub final_after_epochs: i64,
    /// Remove the CC replica once final (default true).
    pub remove_cc_data: bool,
}

impl Default for SnapUpSection {
    fn default() -> Self {
        Self {
            final_after_epochs: 900,
            remove_cc_data: true,
        }
    }
}

/// `[console]`: the web console, on a listener of its own. Pages need a
/// token signed with `rpc.secret_file` (`read` to look, `admin` to act),
/// given once on its login page and kept in an HttpOnly cookie.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSection {
    /// Where the console listens (`host:port`).
    pub listen: std::net::SocketAddr,
    /// A token the workers' admin APIs accept (`admin`, signed with their
    /// `admin.secret_file`), for pausing and resuming their sectors from
    /// the console. Without it those two actions are refused with the
    /// reason; abort, resend and the WindowPoSt check work anyway.
    #[serde(default)]
    pub worker_token_file: Option<PathBuf>,
    /// Mark the session cookie `Secure` (default false): set it when the
    /// console is reached over HTTPS through a TLS-terminating proxy (the
    /// console itself speaks plain HTTP, so bind it to an address only
    /// operators reach, or put it behind such a proxy).
    #[serde(default)]
    pub secure_cookie: bool,
}

/// `[alerts]`: what the manager watches and where it says so. Each alert
/// is sent once when it starts and once when it ends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// How often the rules are evaluated (default 1 minute).
    #[serde(
        default = "default_alert_interval",
        with = "crate::core::serde_duration"
    )]
    pub every: Duration,
    /// A worker that pinged and has been quiet this long is reported
    /// (default 2 minutes; workers ping every 30 s).
    #[serde(
        default = "default_worker_silent_after",
        with = "crate::core::serde_duration"
    )]
    pub worker_silent_after: Duration,
    /// A writable `[[persist_stores]]` store with less room than this
    /// many GiB (free space less the reservations) is reported, as is one
    /// whose free space cannot be read (default 100; 0: never).
    #[serde(default = "default_store_min_free_gib")]
    pub store_min_free_gib: u64,
    /// A pre-commit or proof message pending this many epochs since it
    /// was first sent (its replacements did not help) is reported
    /// (default 60, 30 minutes on mainnet; 0: never).
    #[serde(default = "default_message_pending_epochs")]
    pub message_pending_epochs: i64,
    /// A sector its worker parked (Permanent or Critical) and nobody
    /// resumed or aborted for this long is reported (default 1 hour; 0s:
    /// never).
    #[serde(
        default = "default_sector_parked_after",
        with = "crate::core::serde_duration"
    )]
    pub sector_parked_after: Duration,
    /// With `[proving]`: a miner's open deadline with partitions not
    /// sent once this share of its window has gone is reported (default
    /// 0.5; 0: never).
    #[serde(default = "default_post_not_sent_fraction")]
    pub post_not_sent_fraction: f64,
    /// On a Lotus chain: the sending wallet (`chain.from`) holding less
    /// than this many attoFIL is reported, as is a balance that cannot be
    /// read (default "0": never).
    #[serde(default)]
    pub wallet_min_balance: TokenAmount,
    /// A pre-commit or proof the node or messager has refused to take for
    /// this long since its first failed push in a row is reported, with the
    /// last error (default 30 minutes; "0s": never).
    #[serde(
        default = "default_submission_unsent_after",
        with = "crate::core::serde_duration"
    )]
    pub submission_unsent_after: Duration,
    /// `[[alerts.webhooks]]`: `url` and `format` (`json`, `slack` or
    /// `alertmanager`). None: alerts are only logged.
    #[serde(default)]
    pub webhooks: Vec<crate::alerts::Webhook>,
}

fn default_post_not_sent_fraction() -> f64 {
    0.5
}

fn default_alert_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_sector_parked_after() -> Duration {
    Duration::from_secs(3600)
}

fn default_submission_unsent_after() -> Duration {
    Duration::from_secs(1800)
}

fn default_message_pending_epochs() -> i64 {
    60
}

fn default_store_min_free_gib() -> u64 {
    100
}

fn default_worker_silent_after() -> Duration {
    Duration::from_secs(120)
}

/// `[gateway]`: the manager registers its miners with venus-gateway
/// (`Gateway.ListenProofEvent` over a websocket) and answers venus-miner's
/// `ComputeProof` requests with WinningPoSt proofs of the sectors in
/// `[proving].stores` (so `[proving]` is required).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// The gateway's websocket endpoint, `ws://HOST:PORT/rpc/v2`
    /// (`wss://` is not supported: use a local TLS-terminating proxy).
    pub url: String,
    /// A file holding the venus-auth token (perm `read` or more) sent as
    /// `Authorization: Bearer`; none for a gateway without auth.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The miners to register (default: every `[[miners]]` entry).
    #[serde(default)]
    pub miners: Vec<ActorId>,
    /// The longest wait between reconnections (default 30s; the first is
    /// 1s, doubled after each failed try).
    #[serde(default, with = "crate::core::serde_duration::option")]
    pub reconnect_max: Option<Duration>,
}

/// `[resend]`: a push the node refused or could not take (wallet empty,
/// fee cap too low, node down) is tried again after `first_retry`,
/// doubling up to `max_retry`, until it goes out or the ticket or
/// pre-commit expires; a message still pending `stuck_after_epochs`
/// epochs after it was sent is replaced at its nonce with its premium
/// raised by `premium_bump_percent`, its gas fee within `max_fee`. Maps
/// to `crate::chain::manager::ResendPolicy` (defaults spelled out here
/// for the fuzz target, which compiles without the chain crate; a test
/// checks they agree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResendSection {
    /// The wait after the first failed push (default 10s).
    #[serde(with = "crate::core::serde_duration")]
    pub first_retry: Duration,
    /// The longest wait between pushes (default 10m).
    #[serde(with = "crate::core::serde_duration")]
    pub max_retry: Duration,
    /// Replace a message pending this many epochs (default 20; 0: never).
    pub stuck_after_epochs: i64,
    /// Raise a stuck message's premium by this many percent (default and
    /// least 25, the nodes' replace-by-fee step).
    pub premium_bump_percent: u32,
    /// The most a replacement may cost in gas, attoFIL (default "0": the
    /// node's or messager's own cap).
    pub max_fee: TokenAmount,
}

impl Default for ResendSection {
    fn default() -> Self {
        ResendSection {
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(600),
            stuck_after_epochs: 20,
            premium_bump_percent: 25,
            max_fee: TokenAmount::ZERO,
        }
    }
}

impl ResendSection {
    fn check(&self) -> anyhow::Result<()> {
        if self.first_retry.is_zero() {
            bail!("resend.first_retry must be more than 0");
        }
        if self.max_retry < self.first_retry {
            bail!("resend.max_retry must be at least resend.first_retry");
        }
        if self.stuck_after_epochs < 0 {
            bail!("resend.stuck_after_epochs must be 0 (never) or more");
        }
        if self.premium_bump_percent < 25 {
            bail!(
                "resend.premium_bump_percent is {}: the nodes replace a message only for at least 25",
                self.premium_bump_percent
            );
        }
        Ok(())
    }
}

/// `[market]`: deals come from droplet's deal assignment API
/// (`VENUS_MARKET.AssignUnPackedDeals`) when a worker acquires deals, and
/// go back (`VENUS_MARKET.ReleaseDeals`) when a sector is aborted before
/// its proof could activate them. Serve the pieces to the workers with
/// `[pieces.store] kind = "droplet"` (or point the workers at droplet).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketSection {
    /// droplet's API, e.g. `http://droplet:41235` (`/rpc/v1` is appended
    /// unless the URL has a path).
    pub url: String,
    /// A file holding a droplet token (a venus-auth JWT) with `write`
    /// permission.
    pub token_file: PathBuf,
}

/// `[proving]`: the manager proves its miners' sectors in their deadlines
/// from the workers' persistent stores.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvingSection {
    /// The workers' `[[persist]]` directories as this host mounts them.
    pub stores: Vec<PathBuf>,
    /// How often the deadlines are looked at (default: every epoch).
    #[serde(default, with = "crate::core::serde_duration::option")]
    pub interval: Option<Duration>,
    /// `[proving.limits]`: the most proofs of a kind computed at once, by
    /// stage name (`window_post`, `winning_post`, `check_provable`); a
    /// stage not named is unlimited. The same decorator as the worker's
    /// `[limits]`.
    #[serde(default)]
    pub limits: BTreeMap<String, usize>,
    /// `[proving.locks]`: a named lock (one holder at a time) and the
    /// stages that take it, e.g. `gpu = ["window_post", "winning_post"]`
    /// on a one-GPU host. A waiting WinningPoSt is granted a shared lock
    /// before a waiting WindowPoSt (a block must be proven within its
    /// epoch; a WindowPoSt has its deadline's 30 minutes), and a
    /// WindowPoSt before a check; a running proof is never interrupted.
    #[serde(default)]
    pub locks: BTreeMap<String, Vec<String>>,
    /// `[proving.readiness]`: each deadline's files read and timed ahead
    /// of time, the proof's duration predicted (optional).
    #[serde(default)]
    pub readiness: Option<ReadinessSection>,
    /// `[proving.remote]`: WindowPoSt and WinningPoSt proven on a remote
    /// proving service instead of this host (optional).
    #[serde(default)]
    pub remote: Option<RemoteProvingSection>,
    /// `[proving.workers]`: each WindowPoSt partition becomes a job for
    /// proving workers (damocles' `wdpost` plan: a damocles-worker, or
    /// ours with `[window_post]`), handed out through the worker API
    /// (optional).
    #[serde(default)]
    pub workers: Option<WorkerProvingSection>,
    /// A sector the WindowPoSt check skips because its files are gone
    /// (no sealed replica or no cache in `stores`) is rebuilt without an
    /// operator when its pieces are reachable (in `[pieces]`'s store; a
    /// CC sector has none) and its last rebuild was not given up; a
    /// worker with `[rebuild]` takes the job. The reason is written into
    /// the sector's history either way. Default: off (`sectors rebuild`
    /// by hand).
    #[serde(default)]
    pub auto_rebuild: bool,
}

/// `[proving.remote]`: the PoSt stages go to a remote proving service
/// (`venus-seal-c2-service` with these `service.stages`), which reads the
/// sectors' files at the paths of `proving.stores` (mount them there at
/// the same paths). Each proof is verified here before it is sent; the
/// file check (`check_provable`) stays on this host, beside the files.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteProvingSection {
    /// The service, e.g. `http://gpu-host:3456`.
    pub url: String,
    /// Other nodes of the same service (sharing its queue), asked when the
    /// one asked now cannot be reached: a partition whose node dies is
    /// polled and fetched through another, which takes it over once the
    /// dead node's heartbeat is stale.
    #[serde(default)]
    pub failover: Vec<String>,
    /// A file holding a JWT with write permission for the service.
    pub token_file: PathBuf,
    /// The stages sent there (default both): `window_post`, `winning_post`.
    #[serde(default = "remote_post_stages")]
    pub stages: Vec<String>,
}

fn remote_post_stages() -> Vec<String> {
    vec!["window_post".into(), "winning_post".into()]
}

impl RemoteProvingSection {
    /// Whether `stage` goes to the service.
    pub fn sends(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

/// `[proving.workers]`: WindowPoSt proven by proving workers that take
/// jobs from the worker API (`Venus.WdPoStAllocateJobs`, damocles'
/// `wdpost` plan). A job names each sector's files by the
/// `[[persist_stores]]` name of the store holding them, so every
/// `proving.stores` path must be a `[[persist_stores]]` path; each worker
/// finds the store where it mounts it. Each proof is verified here before
/// it is sent; the file check (`check_provable`) stays on this host.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerProvingSection {
    /// A job whose worker sends no heartbeat for this long is handed out
    /// again (damocles-worker beats every 3 s; default 1m).
    #[serde(
        default = "default_heartbeat_timeout",
        with = "crate::core::serde_duration"
    )]
    pub heartbeat_timeout: Duration,
    /// How many times a job is handed out before its partition fails for
    /// this tick (default 3; the scheduler tries again at its next tick
    /// while the deadline is open).
    #[serde(default = "default_max_tries")]
    pub max_tries: u32,
    /// A job no worker takes within this long fails its partition for
    /// this tick (default 5m).
    #[serde(
        default = "default_pick_up_within",
        with = "crate::core::serde_duration"
    )]
    pub pick_up_within: Duration,
    /// How many partitions of a deadline are out as jobs at once (default
    /// 8; each is sent as soon as it is proven).
    #[serde(default = "default_parallel_partitions")]
    pub parallel: usize,
}

fn default_parallel_partitions() -> usize {
    8
}

fn default_heartbeat_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_max_tries() -> u32 {
    3
}

fn default_pick_up_within() -> Duration {
    Duration::from_secs(300)
}

impl WorkerProvingSection {
    /// The queue's settings.
    pub fn settings(&self) -> crate::core::post_jobs::PoStJobSettings {
        crate::core::post_jobs::PoStJobSettings {
            heartbeat_timeout: self.heartbeat_timeout,
            max_tries: self.max_tries,
            pick_up_within: self.pick_up_within,
        }
    }
}

/// `[proving.readiness]`: WindowPoSt readiness, checked before each
/// deadline opens.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessSection {
    /// Deadlines opening within this long are checked, once per opening
    /// (default 2h).
    #[serde(
        default = "default_readiness_lead",
        with = "crate::core::serde_duration"
    )]
    pub lead: Duration,
    /// How often to look for deadlines to check (default 5m).
    #[serde(
        default = "default_readiness_every",
        with = "crate::core::serde_duration"
    )]
    pub every: Duration,
    /// Sectors read per deadline, spread over it (default 20; 0: all).
    #[serde(default = "default_readiness_sample")]
    pub sample: usize,
    /// The share of the deadline's window a proof may take (default 0.5).
    #[serde(default = "default_readiness_budget")]
    pub budget: f64,
    /// A sector whose read takes longer is reported slow (default 30s).
    #[serde(default = "default_slow_read", with = "crate::core::serde_duration")]
    pub slow_read: Duration,
}

fn default_readiness_lead() -> Duration {
    Duration::from_secs(2 * 3600)
}

fn default_readiness_every() -> Duration {
    Duration::from_secs(300)
}

fn default_readiness_sample() -> usize {
    20
}

fn default_readiness_budget() -> f64 {
    0.5
}

fn default_slow_read() -> Duration {
    Duration::from_secs(30)
}

impl ReadinessSection {
    /// The scheduler's policy, with epochs of `epoch`.
    pub fn policy(&self, epoch: Duration) -> crate::chain::manager::ReadinessPolicy {
        let lead = self.lead.as_secs_f64() / epoch.as_secs_f64().max(1e-9);
        crate::chain::manager::ReadinessPolicy {
            lead_epochs: lead.ceil() as i64,
            sample: self.sample,
            epoch,
            budget: self.budget,
            slow_read: self.slow_read,
        }
    }
}

/// The stages `[proving.limits]` and `[proving.locks]` name.
pub const PROVING_STAGES: [&str; 3] = ["window_post", "winning_post", "check_provable"];

impl ProvingSection {
    /// `[proving.limits]` and `[proving.locks]` as the stage limits they
    /// make (WinningPoSt first on a shared lock, then WindowPoSt).
    pub fn stage_limits(&self) -> BTreeMap<String, StageLimit> {
        let mut stages = StageLimit::from_tables(&self.limits, &self.locks);
        for (stage, limit) in &mut stages {
            limit.priority = match stage.as_str() {
                "winning_post" => 2,
                "window_post" => 1,
                _ => 0,
            };
        }
        stages
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.stores.is_empty() {
            bail!("proving.stores is empty: list the workers' [[persist]] directories");
        }
        if self.interval.is_some_and(|i| i.is_zero()) {
            bail!("proving.interval must be more than 0");
        }
        if let Some(r) = &self.readiness {
            if !(r.budget > 0.0 && r.budget <= 1.0) {
                bail!(
                    "proving.readiness.budget must be more than 0 and at most 1 (the share of the window a proof may take), not {}",
                    r.budget
                );
            }
            if r.lead.is_zero() || r.every.is_zero() {
                bail!("proving.readiness.lead and .every must be more than 0");
            }
        }
        let known = |key: &str, stage: &str| {
            if PROVING_STAGES.contains(&stage) {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "{key}: unknown stage {stage:?} (stages: {})",
                    PROVING_STAGES.join(", ")
                ))
            }
        };
        for (stage, n) in &self.limits {
            known("proving.limits", stage)?;
            if *n == 0 {
                bail!("proving.limits.{stage} must be at least 1");
            }
        }
        for (lock, users) in &self.locks {
            if users.is_empty() {
                bail!("proving.locks.{lock} names no stage");
            }
            for stage in users {
                known(&format!("proving.locks.{lock}"), stage)?;
            }
        }
        if let Some(r) = &self.remote {
            if r.stages.is_empty() {
                bail!("proving.remote.stages is empty: name window_post, winning_post or both");
            }
            for stage in &r.stages {
                if !["window_post", "winning_post"].contains(&stage.as_str()) {
                    bail!(
                        "proving.remote.stages: {stage:?} cannot go to the service (window_post, winning_post; check_provable reads the files here)"
                    );
                }
            }
            http_url("proving.remote.url", &r.url)?;
            for url in &r.failover {
                http_url("proving.remote.failover", url)?;
            }
        }
        if let Some(w) = &self.workers {
            if self.remote.as_ref().is_some_and(|r| r.sends("window_post")) {
                bail!(
                    "proving.workers and proving.remote both take window_post: drop one, or leave window_post out of proving.remote.stages"
                );
            }
            if w.heartbeat_timeout < Duration::from_secs(10) {
                bail!(
                    "proving.workers.heartbeat_timeout must be at least 10s (damocles-worker beats every 3s), not {:?}",
                    w.heartbeat_timeout
                );
            }
            if w.max_tries == 0 {
                bail!("proving.workers.max_tries must be at least 1");
            }
            if w.pick_up_within.is_zero() {
                bail!("proving.workers.pick_up_within must be more than 0");
            }
            if w.parallel == 0 {
                bail!("proving.workers.parallel must be at least 1");
            }
        }
        Ok(())
    }
}

/// Checks that `url` (the value of `key`) is an http:// or https:// URL.
fn http_url(key: &str, url: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("{key} {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("{key} {url:?} must start with http:// or https://");
    }
    Ok(())
}

/// `[pieces]`: the piece proxy, serving `store` at `GET /piece/<cid>`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiecesSection {
    /// Where the proxy listens.
    pub listen: SocketAddr,
    /// `[pieces.store]`: where the pieces are.
    pub store: PieceStoreConfig,
}

/// `[store]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum StoreSection {
    /// One manager process: a SQLite file.
    Sqlite {
        /// The database file (created if missing).
        path: PathBuf,
    },
    /// Several manager processes sharing one state.
    Postgres {
        /// `postgres://USER:PASSWORD@HOST:PORT/DB`.
        url: String,
    },
}

/// `[miners.pre_commit_batch]` and `[miners.prove_commit_batch]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSection {
    /// Send once this many wait.
    pub threshold: usize,
    /// Send once the oldest waited this long.
    #[serde(with = "crate::core::serde_duration")]
    pub max_wait: Duration,
}

/// `[miners.numbers]`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumbersSection {
    /// The first sector number.
    pub start: u64,
    /// The last sector number.
    pub end: u64,
}

/// `[rpc]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    /// Where the worker API listens.
    pub listen: SocketAddr,
    /// The HS256 secret tokens are signed with (created if missing).
    pub secret_file: PathBuf,
    /// `[rpc.trusted]` (optional): a second listener serving the worker
    /// API without tokens to the client networks it names, for peers that
    /// cannot send one (damocles-worker). Off by default.
    #[serde(default)]
    pub trusted: Option<TrustedSection>,
}

/// `[rpc.trusted]`: the worker API (write methods, never the admin ones)
/// without a token, for clients whose address is in `networks`; any other
/// client is refused with HTTP 403. Anyone who can connect from those
/// networks can allocate sectors and submit messages through the manager,
/// so name only the sealing hosts' network.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedSection {
    /// Where it listens (not `rpc.listen`).
    pub listen: SocketAddr,
    /// Client networks served (`10.0.0.0/24`, `10.0.0.7`, `fd00::/8`).
    /// May be left empty only on a loopback `listen` (then loopback
    /// clients only); a start with another bind and no network is refused.
    #[serde(default)]
    pub networks: Vec<String>,
}

/// `[[persist_stores]]`: the workers' persist stores as damocles names them,
/// answered by `Venus.StoreBasicInfo` and chosen by `Venus.StoreReserveSpace`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersistStoreSection {
    /// The instance name workers use for it (a damocles-worker's
    /// `[[attached]] name`, our worker's `[[persist]]` instance).
    pub name: String,
    /// Where it is mounted on the manager's host (its free space is read
    /// there).
    pub path: PathBuf,
    /// Nothing new is placed there (default false).
    #[serde(default)]
    pub read_only: bool,
    /// Relative share of new sectors, sent as `Weight` (default 1).
    #[serde(default = "default_store_weight")]
    pub weight: u64,
}

fn default_store_weight() -> u64 {
    1
}

/// `[chain]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum ChainSection {
    /// An in-process devnet whose clock runs every `block_time`.
    EmbeddedDevnet {
        /// Time between epochs.
        #[serde(with = "crate::core::serde_duration")]
        block_time: Duration,
        /// Epochs between a pre-commit landing and its seed.
        #[serde(default = "default_challenge_delay")]
        pre_commit_challenge_delay: i64,
        /// Epochs per WindowPoSt proving period (default 40).
        #[serde(default = "default_proving_period")]
        proving_period: i64,
        /// Deadlines per proving period; must divide it (default 4).
        #[serde(default = "default_proving_deadlines")]
        proving_deadlines: u64,
        /// Where the devnet and manager state files live.
        state_dir: PathBuf,
    },
    /// A Lotus or Venus full node's JSON-RPC v1 API; messages go through
    /// its mpool (signed by the node's wallet) or through venus-messager.
    Lotus {
        /// The node's API, e.g. `http://127.0.0.1:1234` (`/rpc/v1` is
        /// appended unless present).
        url: String,
        /// A file holding the node's API token (`lotus auth create-token
        /// --perm sign`): read for chain state, sign for
        /// `MpoolPushMessage`.
        token_file: PathBuf,
        /// The address messages are sent from and paid by: the miners'
        /// worker or a control address held by the node's (or the
        /// messager's) wallet.
        from: String,
        /// The most a message may spend on gas, attoFIL (default: the
        /// node's own limit).
        #[serde(default)]
        max_fee: Option<TokenAmount>,
        /// The network's sealing constants (default: mainnet's, which
        /// calibnet shares).
        #[serde(default)]
        network: NetworkSection,
        /// Send through venus-messager instead of the node's mpool.
        #[serde(default)]
        messager: Option<MessagerSection>,
        /// Where the manager's SQLite database lives when `[store]` is
        /// left out.
        state_dir: PathBuf,
    },
}

impl ChainSection {
    /// Where the manager's default SQLite database lives.
    pub fn state_dir(&self) -> &Path {
        match self {
            ChainSection::EmbeddedDevnet { state_dir, .. }
            | ChainSection::Lotus { state_dir, .. } => state_dir,
        }
    }
}

/// `[chain.network]`: the sealing constants of the network a Lotus node
/// follows. Every key is optional; the defaults are mainnet's (and
/// calibnet's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    /// Epochs between a ticket and head (`SealRandomnessLookback`).
    pub seal_randomness_lookback: i64,
    /// Epochs between a pre-commit landing and its seed
    /// (`PreCommitChallengeDelay`).
    pub pre_commit_challenge_delay: i64,
    /// The oldest ticket a pre-commit may use, in epochs before head
    /// (`MaxPreCommitRandomnessLookback`).
    pub max_pre_commit_randomness_lookback: i64,
    /// Seconds per epoch.
    pub block_delay_secs: u64,
}

/// `crate::chain::MAINNET_NETWORK`, spelled out: the fuzz targets
/// compile this file without the chain crate; a test checks it.
impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            seal_randomness_lookback: 900,
            pre_commit_challenge_delay: 150,
            max_pre_commit_randomness_lookback: 2880 + 900,
            block_delay_secs: 30,
        }
    }
}

impl NetworkSection {
    /// These constants as the chain crate takes them.
    pub fn params(&self) -> crate::core::NetworkParams {
        crate::core::NetworkParams {
            seal_randomness_lookback: self.seal_randomness_lookback,
            pre_commit_challenge_delay: self.pre_commit_challenge_delay,
            max_pre_commit_randomness_lookback: self.max_pre_commit_randomness_lookback,
            block_delay_secs: self.block_delay_secs,
        }
    }
}

/// `[chain.messager]`: venus-messager sends the messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagerSection {
    /// The messager's API, e.g. `http://127.0.0.1:39812` (`/rpc/v0` is
    /// appended unless present).
    pub url: String,
    /// A file holding the messager's token.
    pub token_file: PathBuf,
}

fn default_challenge_delay() -> i64 {
    10
}

/// `crate::chain::DEVNET_PROVING.period` (spelled out: the fuzz
/// targets compile this file without the chain crate; a test checks it).
fn default_proving_period() -> i64 {
    40
}

/// `crate::chain::DEVNET_PROVING.deadlines`.
fn default_proving_deadlines() -> u64 {
    4
}

/// `[[miners]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerSection {
    /// The miner actor, e.g. `f01000`.
    pub id: ActorId,
    /// The seal proof of its new sectors, e.g. `StackedDrg2KiBV1_1`.
    pub proof: SealProof,
    /// The sector numbers it may use (default: all).
    #[serde(default)]
    pub numbers: Option<NumbersSection>,
    /// Pre-commit batching (default: send each at once).
    #[serde(default)]
    pub pre_commit_batch: Option<BatchSection>,
    /// Prove-commit batching (default: send each at once).
    #[serde(default)]
    pub prove_commit_batch: Option<BatchSection>,
    /// Aggregate a proof batch of at least this many sectors (at least 4;
    /// 0: never aggregate). Default 4.
    #[serde(default = "default_aggregate_from")]
    pub aggregate_from: usize,
    /// Who pays pre-commit deposits and initial pledges (default: the
    /// messages carry them).
    #[serde(default)]
    pub collateral: CollateralSection,
    /// Extend its expiring sectors automatically (default: never).
    #[serde(default)]
    pub auto_extend: Option<AutoExtendSection>,
    /// Snap-up proof batching (`ProveReplicaUpdates3`; default: send each
    /// at once).
    #[serde(default)]
    pub snap_commit_batch: Option<BatchSection>,
    /// Pick the miner's CC sectors for snap-up jobs when a worker asks
    /// and none waits (default: only sectors an operator asks for).
    #[serde(default)]
    pub snap_up: Option<MinerSnapUpSection>,
}

/// `[miners.snap_up]`: when a worker with `[snap_up]` asks for a job and
/// none waits (and deals do), one of the miner's CC sectors sealed by this
/// manager with at least `min_remaining_days` of life is picked, while
/// fewer than `max_in_flight` of its jobs are open.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerSnapUpSection {
    /// Days of life the sector has left at least (default 180: a deal
    /// must end before its sector does).
    #[serde(default = "default_snap_min_days")]
    pub min_remaining_days: i64,
    /// Open jobs of the miner at most (default 8).
    #[serde(default = "default_snap_in_flight")]
    pub max_in_flight: usize,
}

fn default_snap_min_days() -> i64 {
    180
}

fn default_snap_in_flight() -> usize {
    8
}

/// `[miners.auto_extend]`: every `every`, the miner's sectors expiring
/// within `within_epochs` are extended to `extend_to_epochs` past the head
/// (each capped by the chain: 1278 days past the head, five years past its
/// activation), CC sectors only unless `with_data`; a dry run (logged,
/// nothing sent) unless `dry_run = false`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoExtendSection {
    /// How often a round runs (default 6 hours; the first one `every`
    /// after start).
    #[serde(
        default = "default_auto_extend_every",
        with = "crate::core::serde_duration"
    )]
    pub every: Duration,
    /// Sectors expiring within this many epochs (default 86400: 30 days of
    /// 30 s epochs).
    #[serde(default = "default_auto_extend_within")]
    pub within_epochs: i64,
    /// ... are extended to this many epochs past the head (default
    /// 1555200: 540 days).
    #[serde(default = "default_auto_extend_to")]
    pub extend_to_epochs: i64,
    /// Extend sectors with data too (default false: CC only; a deal's or a
    /// claim's terms are the operator's to weigh).
    #[serde(default)]
    pub with_data: bool,
    /// Log what would be sent, send nothing (default true: look first).
    #[serde(default = "default_true")]
    pub dry_run: bool,
    /// At most this many sectors in one message (default 1000).
    #[serde(default = "default_auto_extend_batch")]
    pub max_sectors_per_message: usize,
}

impl AutoExtendSection {
    /// The policy it stands for.
    pub fn policy(&self) -> crate::chain::manager::AutoExtendPolicy {
        crate::chain::manager::AutoExtendPolicy {
            within: self.within_epochs,
            extend_to: self.extend_to_epochs,
            with_data: self.with_data,
            dry_run: self.dry_run,
            max_sectors_per_message: self.max_sectors_per_message,
            ..Default::default()
        }
    }

    fn check(&self, miner: ActorId) -> anyhow::Result<()> {
        if self.within_epochs <= 0 || self.extend_to_epochs <= 0 {
            bail!("miners.auto_extend of {miner}: within_epochs and extend_to_epochs must be more than 0");
        }
        if self.extend_to_epochs <= self.within_epochs {
            bail!(
                "miners.auto_extend of {miner}: extend_to_epochs ({}) must be more than within_epochs ({}), or every round extends the same sectors again",
                self.extend_to_epochs,
                self.within_epochs
            );
        }
        if self.every.is_zero() || self.max_sectors_per_message == 0 {
            bail!("miners.auto_extend of {miner}: every and max_sectors_per_message must be more than 0");
        }
        Ok(())
    }
}

fn default_auto_extend_every() -> Duration {
    Duration::from_secs(6 * 3600)
}

fn default_auto_extend_within() -> i64 {
    30 * 2880
}

fn default_auto_extend_to() -> i64 {
    540 * 2880
}

fn default_auto_extend_batch() -> usize {
    1000
}

fn default_true() -> bool {
    true
}

/// `miners.collateral`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CollateralSection {
    /// Each message carries its deposits / pledges, paid by `chain.from`.
    #[default]
    Message,
    /// The miner actor pays from its available balance.
    MinerBalance,
}

/// An `http(s)://` URL, or an error naming `key`.
fn check_url(key: &str, url: &str) -> anyhow::Result<()> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        bail!("{key} must be an http:// or https:// URL (got {url:?})");
    }
    Ok(())
}

fn default_aggregate_from() -> usize {
    4
}

impl SectorManagerConfig {
    fn check_gateway(&self, g: &GatewaySection) -> anyhow::Result<()> {
        if g.url.starts_with("wss://") || g.url.starts_with("https://") {
            bail!(
                "gateway.url {:?}: TLS is not supported; reach the gateway over ws:// (through a local TLS-terminating proxy)",
                g.url
            );
        }
        let rest = g
            .url
            .strip_prefix("ws://")
            .or_else(|| g.url.strip_prefix("http://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            bail!(
                "gateway.url must be ws://HOST:PORT/rpc/v2 (got {:?})",
                g.url
            );
        }
        if self.proving.is_none() {
            bail!(
                "[gateway] needs [proving]: its stores are where the WinningPoSt sectors are found"
            );
        }
        for m in &g.miners {
            if !self.miners.iter().any(|c| c.id == *m) {
                bail!("gateway.miners lists {m}, which is not in [[miners]]");
            }
        }
        if g.reconnect_max.is_some_and(|d| d.is_zero()) {
            bail!("gateway.reconnect_max must be more than 0");
        }
        Ok(())
    }

    /// Reads and checks `path`; every relative path in it (state_dir,
    /// token and secret files, the store, piece and proving directories)
    /// is then taken from the folder `path` is in, not from the current
    /// directory. Reads nothing else and creates nothing.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config {}", path.display()))?;
        let mut config =
            Self::parse(&text).with_context(|| format!("config {}", path.display()))?;
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        config.resolve_paths(folder);
        Ok(config)
    }

    /// Parses and checks a config's text; paths stay as written.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: SectorManagerConfig = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    /// Makes every relative path of the config relative to `folder`
    /// (what [`SectorManagerConfig::load`] does with the config file's
    /// folder). Absolute paths and URLs stay as they are.
    pub fn resolve_paths(&mut self, folder: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = folder.join(&*p);
            }
        };
        resolve(&mut self.rpc.secret_file);
        match &mut self.chain {
            ChainSection::EmbeddedDevnet { state_dir, .. } => resolve(state_dir),
            ChainSection::Lotus {
                token_file,
                messager,
                state_dir,
                ..
            } => {
                resolve(token_file);
                resolve(state_dir);
                if let Some(m) = messager {
                    resolve(&mut m.token_file);
                }
            }
        }
        if let Some(StoreSection::Sqlite { path }) = &mut self.store {
            resolve(path);
        }
        if let Some(p) = &mut self.pieces {
            match &mut p.store {
                PieceStoreConfig::Local { dirs } => dirs.iter_mut().for_each(resolve),
                store => {
                    if let Some(token_file) = store.token_file_mut() {
                        resolve(token_file);
                    }
                }
            }
        }
        if let Some(p) = &mut self.proving {
            p.stores.iter_mut().for_each(resolve);
            if let Some(r) = &mut p.remote {
                resolve(&mut r.token_file);
            }
        }
        if let Some(token_file) = self.gateway.as_mut().and_then(|g| g.token_file.as_mut()) {
            resolve(token_file);
        }
        for s in &mut self.persist_stores {
            resolve(&mut s.path);
        }
        if let Some(m) = &mut self.market {
            resolve(&mut m.token_file);
        }
        if let Some(t) = self
            .console
            .as_mut()
            .and_then(|c| c.worker_token_file.as_mut())
        {
            resolve(t);
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.miners.is_empty() {
            bail!("no [[miners]]: the manager needs at least one miner actor to serve");
        }
        let mut seen = BTreeSet::new();
        for m in &self.miners {
            if !seen.insert(m.id) {
                bail!("miner {} is listed twice in [[miners]]", m.id);
            }
            if let Some(n) = m.numbers {
                crate::chain::manager::NumberRange::new(n.start, n.end)
                    .map_err(|e| anyhow::anyhow!("miners.numbers of {}: {e}", m.id))?;
            }
            for (name, b) in [
                ("pre_commit_batch", m.pre_commit_batch),
                ("prove_commit_batch", m.prove_commit_batch),
                ("snap_commit_batch", m.snap_commit_batch),
            ] {
                if b.is_some_and(|b| b.threshold == 0) {
                    bail!("miners.{name}.threshold of {} must be at least 1", m.id);
                }
            }
            if let Some(a) = &m.auto_extend {
                a.check(m.id)?;
            }
            if let Some(s) = &m.snap_up {
                if s.min_remaining_days < 180 || s.max_in_flight == 0 {
                    bail!(
                        "miners.snap_up of {}: min_remaining_days must be at least 180 (the shortest deal) and max_in_flight at least 1",
                        m.id
                    );
                }
            }
            if (1..4).contains(&m.aggregate_from) {
                bail!(
                    "miners.aggregate_from of {} is {}: the actors aggregate at least 4 proofs (0 turns aggregation off)",
                    m.id,
                    m.aggregate_from
                );
            }
        }
        if self.snap_up.final_after_epochs < 0 {
            bail!("snap_up.final_after_epochs must be 0 or more");
        }
        if let Some(p) = &self.pieces {
            p.store.check().context("pieces.store")?;
            if p.listen == self.rpc.listen {
                bail!(
                    "pieces.listen {} is rpc.listen too: give the piece proxy its own address",
                    p.listen
                );
            }
        }
        if let Some(t) = &self.rpc.trusted {
            if t.listen == self.rpc.listen && t.listen.port() != 0 {
                bail!(
                    "rpc.trusted.listen {} is rpc.listen too: the tokenless listener needs its own address",
                    t.listen
                );
            }
            if t.networks.is_empty() && !t.listen.ip().is_loopback() {
                bail!(
                    "rpc.trusted.networks is empty but rpc.trusted.listen {} is not loopback: name the client networks that may call the worker API without a token (e.g. networks = [\"10.0.0.0/24\"])",
                    t.listen
                );
            }
        }
        let mut names = BTreeSet::new();
        for s in &self.persist_stores {
            if s.name.is_empty() {
                bail!("persist_stores.name of {} is empty", s.path.display());
            }
            if !names.insert(s.name.as_str()) {
                bail!("persist_stores.name {:?} is listed twice", s.name);
            }
        }
        if let Some(p) = &self.proving {
            p.check()?;
            if p.workers.is_some() {
                for path in &p.stores {
                    // Compared as written, before the paths are resolved
                    // against the config's folder: `./x` and `x` agree.
                    fn plain(p: &std::path::Path) -> Vec<std::path::Component<'_>> {
                        p.components()
                            .filter(|c| *c != std::path::Component::CurDir)
                            .collect()
                    }
                    if !self
                        .persist_stores
                        .iter()
                        .any(|s| plain(&s.path) == plain(path))
                    {
                        bail!(
                            "proving.workers: proving.stores path {} is no [[persist_stores]] path: a WindowPoSt job names a sector's store by its [[persist_stores]] name, so list the store there (name = the workers' name for it, path = {})",
                            path.display(),
                            path.display()
                        );
                    }
                }
            }
        }
        if let Some(g) = &self.gateway {
            self.check_gateway(g)?;
        }
        if let Some(a) = &self.alerts {
            if a.every.is_zero() {
                bail!("alerts.every must be more than 0");
            }
            if a.message_pending_epochs < 0 {
                bail!("alerts.message_pending_epochs must be 0 (never) or more");
            }
            if a.worker_silent_after < Duration::from_secs(1) {
                bail!("alerts.worker_silent_after must be at least 1s (workers ping every 30s)");
            }
            if !(0.0..1.0).contains(&a.post_not_sent_fraction) {
                bail!(
                    "alerts.post_not_sent_fraction must be at least 0 (never) and less than 1 (a share of the deadline's window), not {}",
                    a.post_not_sent_fraction
                );
            }
            for w in &a.webhooks {
                check_url("alerts.webhooks.url", &w.url)?;
            }
        }
        self.resend.check()?;
        if let Some(m) = &self.market {
            check_url(
                "market.url (droplet's API, e.g. http://droplet:41235)",
                &m.url,
            )?;
        }
        if let Some(StoreSection::Postgres { url }) = &self.store {
            if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
                bail!("store.url must start with postgres:// (got {url:?})");
            }
        }
        self.chain.check()
    }
}

impl ChainSection {
    fn check(&self) -> anyhow::Result<()> {
        match self {
            ChainSection::EmbeddedDevnet {
                block_time,
                pre_commit_challenge_delay,
                proving_period,
                proving_deadlines,
                ..
            } => {
                if *proving_period < 1
                    || *proving_deadlines == 0
                    || *proving_period as u64 % proving_deadlines != 0
                {
                    bail!(
                        "chain.proving_period ({proving_period}) must be a positive multiple of \
                         chain.proving_deadlines ({proving_deadlines})"
                    );
                }
                if block_time.is_zero() {
                    bail!("chain.block_time must be above zero");
                }
                if *pre_commit_challenge_delay < 1 {
                    bail!("chain.pre_commit_challenge_delay must be at least 1");
                }
            }
            ChainSection::Lotus {
                url,
                network: n,
                messager,
                from,
                ..
            } => {
                check_url("chain.url", url)?;
                if let Some(m) = messager {
                    check_url("chain.messager.url", &m.url)?;
                }
                if !(from.starts_with('f') || from.starts_with('t')) || from.len() < 3 {
                    bail!(
                        "chain.from must be a Filecoin address such as f3… or t1… (got {from:?})"
                    );
                }
                if n.seal_randomness_lookback < 0
                    || n.pre_commit_challenge_delay < 1
                    || n.max_pre_commit_randomness_lookback <= n.seal_randomness_lookback
                    || n.block_delay_secs == 0
                {
                    bail!(
                        "chain.network {n:?}: the lookbacks must be non-negative with the \
                         maximum above seal_randomness_lookback; the challenge delay and the \
                         block delay at least 1"
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../../examples/sector-manager.toml");
        let config = SectorManagerConfig::parse(text).unwrap();
        assert_eq!(config.miners.len(), 2);
        assert_eq!(config.miners[0].id, ActorId(1000));
        assert_eq!(config.miners[0].proof, SealProof::StackedDrg2KiBV1_1);
        let proving = config.proving.unwrap();
        assert_eq!(proving.stores, vec![PathBuf::from("./data/store/0")]);
        assert_eq!(proving.interval, None);
        let console = config.console.unwrap();
        assert_eq!(console.listen.to_string(), "127.0.0.1:1791");
        assert_eq!(console.worker_token_file, None);
        assert!(config.alerts.is_some(), "the console shows the alerts");
    }

    #[test]
    fn relative_paths_are_the_config_folders() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("etc");
        std::fs::create_dir(&folder).unwrap();
        let path = folder.join("manager.toml");
        std::fs::write(&path, include_str!("../../examples/sector-manager.toml")).unwrap();
        let config = SectorManagerConfig::load(&path).unwrap();
        assert_eq!(
            config.rpc.secret_file,
            folder.join("./data/manager/rpc.secret")
        );
        assert_eq!(config.chain.state_dir(), folder.join("./data/manager"));
        assert!(
            matches!(&config.store, Some(StoreSection::Sqlite { path }) if *path == folder.join("./data/manager/manager.db")),
            "{:?}",
            config.store
        );
        assert_eq!(
            config.pieces.unwrap().store,
            PieceStoreConfig::Local {
                dirs: vec![folder.join("./data/pieces")]
            }
        );
        assert_eq!(
            config.proving.unwrap().stores,
            vec![folder.join("./data/store/0")]
        );
        let entries: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
        assert_eq!(entries.len(), 1, "loading created nothing");
        let with_token = include_str!("../../examples/sector-manager.toml").replace(
            "# worker_token_file = \"./data/manager/worker-admin.token\"",
            "worker_token_file = \"./data/manager/worker-admin.token\"",
        );
        std::fs::write(&path, with_token).unwrap();
        let config = SectorManagerConfig::load(&path).unwrap();
        assert_eq!(
            config.console.unwrap().worker_token_file,
            Some(folder.join("./data/manager/worker-admin.token"))
        );

        // The Lotus chain's token files too; absolute paths stay.
        let lotus = lotus_example().replace(
            "token_file = \"/var/lib/venus-seal/lotus.token\"",
            "token_file = \"lotus.token\"",
        );
        std::fs::write(&path, lotus).unwrap();
        let config = SectorManagerConfig::load(&path).unwrap();
        let ChainSection::Lotus {
            token_file,
            messager,
            state_dir,
            ..
        } = &config.chain
        else {
            panic!("{:?}", config.chain)
        };
        assert_eq!(*token_file, folder.join("lotus.token"));
        assert_eq!(*state_dir, Path::new("/var/lib/venus-seal/manager"));
        let messager = messager.as_ref().unwrap();
        assert!(messager.token_file.is_absolute(), "{messager:?}");

        // A config named without a folder: paths stay relative to `.`.
        let mut config =
            SectorManagerConfig::parse(include_str!("../../examples/sector-manager.toml")).unwrap();
        config.resolve_paths(Path::new("."));
        assert_eq!(
            config.rpc.secret_file,
            Path::new("./data/manager/rpc.secret")
        );
    }

    #[test]
    fn proving_defaults_are_the_devnets() {
        assert_eq!(
            (default_proving_period(), default_proving_deadlines()),
            (
                crate::chain::DEVNET_PROVING.period,
                crate::chain::DEVNET_PROVING.deadlines
            )
        );
        let example = include_str!("../../examples/sector-manager.toml");
        let bad = example.replace("proving_deadlines = 4", "proving_deadlines = 7");
        let err = format!("{:#}", SectorManagerConfig::parse(&bad).unwrap_err());
        assert!(err.contains("chain.proving_period (120)"), "{err}");
    }

    #[test]
    fn snap_up_settings_and_policies_are_read_and_checked() {
        let example = include_str!("../../examples/sector-manager.toml");
        let c = SectorManagerConfig::parse(example).unwrap();
        assert_eq!(c.snap_up.final_after_epochs, 900);
        assert!(c.snap_up.remove_cc_data);
        assert!(c.miners.iter().all(|m| m.snap_up.is_none()));
        let documented = example
            .replace(
                "# [snap_up]\n# final_after_epochs = 900\n# remove_cc_data = true",
                "[snap_up]\nfinal_after_epochs = 20\nremove_cc_data = false",
            )
            .replace(
                "# [miners.snap_up]\n# min_remaining_days = 180\n# max_in_flight = 8",
                "[miners.snap_up]\nmin_remaining_days = 300\nmax_in_flight = 2",
            )
            .replace(
                "# [miners.snap_commit_batch]\n# threshold = 4\n# max_wait",
                "[miners.snap_commit_batch]\nthreshold = 3\nmax_wait",
            );
        let c = SectorManagerConfig::parse(&documented).unwrap();
        assert_eq!(
            (c.snap_up.final_after_epochs, c.snap_up.remove_cc_data),
            (20, false)
        );
        let s = c.miners[0].snap_up.unwrap();
        assert_eq!((s.min_remaining_days, s.max_in_flight), (300, 2));
        assert_eq!(c.miners[0].snap_commit_batch.unwrap().threshold, 3);
        let bad = documented.replace("max_in_flight = 2", "max_in_flight = 0");
        let err = format!("{:#}", SectorManagerConfig::parse(&bad).unwrap_err());
        assert!(err.contains("miners.snap_up of f01000"), "{err}");
        let bad = documented.replace("final_after_epochs = 20", "final_after_epoch = 20");
        let err = format!("{:#}", SectorManagerConfig::parse(&bad).unwrap_err());
        assert!(err.contains("final_after_epoch"), "{err}");
    }

    #[test]
    fn proving_workers_are_read_and_need_named_stores() {
        let example = include_str!("../../examples/sector-manager.toml");
        let workers = example.replace(
            "#   [proving.workers]\n#   heartbeat_timeout = \"1m\"\n#   max_tries = 3\n#   pick_up_within = \"5m\"\n#   parallel = 8",
            "[proving.workers]\nheartbeat_timeout = \"30s\"\nmax_tries = 2\npick_up_within = \"2m\"\nparallel = 4",
        );
        assert_ne!(workers, example, "the documented section");
        let named = workers.replace(
            "# [[persist_stores]]\n# name = \"store-0\"            # the worker's instance name for it\n# path = \"./data/store/0\"",
            "[[persist_stores]]\nname = \"store-0\"\npath = \"./data/store/0\"",
        );
        assert_ne!(named, workers, "the documented store");
        let c = SectorManagerConfig::parse(&named).unwrap();
        let w = c.proving.as_ref().unwrap().workers.as_ref().unwrap();
        let settings = w.settings();
        assert_eq!(settings.heartbeat_timeout, Duration::from_secs(30));
        assert_eq!(settings.max_tries, 2);
        assert_eq!(settings.pick_up_within, Duration::from_secs(120));
        assert_eq!(w.parallel, 4);
        let dotted = named.replace("path = \"./data/store/0\"", "path = \"data/store/0\"");
        assert_ne!(dotted, named);
        assert!(
            SectorManagerConfig::parse(&dotted).is_ok(),
            "./x and x are one path"
        );
        assert!(SectorManagerConfig::parse(example)
            .unwrap()
            .proving
            .unwrap()
            .workers
            .is_none());
        let err = |text: &str| format!("{:#}", SectorManagerConfig::parse(text).unwrap_err());
        // A proving store no job could name.
        let e = err(&workers);
        assert!(
            e.contains("./data/store/0") && e.contains("[[persist_stores]]"),
            "{e}"
        );
        let e = err(&named.replace("heartbeat_timeout = \"30s\"", "heartbeat_timeout = \"3s\""));
        assert!(e.contains("proving.workers.heartbeat_timeout"), "{e}");
        let e = err(&named.replace("max_tries = 2", "max_tries = 0"));
        assert!(e.contains("proving.workers.max_tries"), "{e}");
        let remote = named.replace(
            "[proving.workers]",
            "[proving.remote]\nurl = \"http://gpu:3456\"\ntoken_file = \"t\"\n[proving.workers]",
        );
        let e = err(&remote);
        assert!(e.contains("both take window_post"), "{e}");
        let winning_only = remote.replace(
            "token_file = \"t\"\n",
            "token_file = \"t\"\nstages = [\"winning_post\"]\n",
        );
        assert!(SectorManagerConfig::parse(&winning_only).is_ok());
    }

    #[test]
    fn the_tokenless_listener_needs_networks_off_loopback() {
        let example = include_str!("../../examples/sector-manager.toml");
        let with = |section: &str| {
            SectorManagerConfig::parse(&example.replace(
                "secret_file = \"./data/manager/rpc.secret\"\n",
                &format!("secret_file = \"./data/manager/rpc.secret\"\n{section}\n"),
            ))
        };
        let err = |section: &str| format!("{:#}", with(section).unwrap_err());
        assert!(with("").unwrap().rpc.trusted.is_none(), "off by default");
        let t = with("[rpc.trusted]\nlisten = \"10.0.0.1:1790\"\nnetworks = [\"10.0.0.0/24\"]")
            .unwrap()
            .rpc
            .trusted
            .unwrap();
        assert_eq!(t.networks, vec!["10.0.0.0/24"]);
        let e = err("[rpc.trusted]\nlisten = \"0.0.0.0:1790\"");
        assert!(e.contains("rpc.trusted.networks is empty"), "{e}");
        assert!(e.contains("0.0.0.0:1790"), "{e}");
        assert!(with("[rpc.trusted]\nlisten = \"127.0.0.1:1791\"").is_ok());
        let e = err("[rpc.trusted]\nlisten = \"127.0.0.1:1789\"");
        assert!(e.contains("rpc.trusted.listen"), "{e}");
        let e = err("[rpc.trusted]\nlisten = \"127.0.0.1:1791\"\nnetwork = []");
        assert!(e.contains("network"), "{e}");
    }

    #[test]
    fn persist_stores_are_named_once() {
        let example = include_str!("../../examples/sector-manager.toml");
        let with = |section: &str| SectorManagerConfig::parse(&format!("{example}\n{section}"));
        let c = with("[[persist_stores]]\nname = \"store-0\"\npath = \"/mnt/s0\"").unwrap();
        assert_eq!(c.persist_stores[0].weight, 1);
        assert!(!c.persist_stores[0].read_only);
        let twice = "[[persist_stores]]\nname = \"a\"\npath = \"/x\"\n[[persist_stores]]\nname = \"a\"\npath = \"/y\"";
        let e = format!("{:#}", with(twice).unwrap_err());
        assert!(
            e.contains("persist_stores.name \"a\" is listed twice"),
            "{e}"
        );
    }

    #[test]
    fn proving_is_checked() {
        let example = include_str!("../../examples/sector-manager.toml");
        let with = |section: &str| {
            SectorManagerConfig::parse(
                &example.replace("[proving]\nstores = [\"./data/store/0\"]", section),
            )
        };
        let c = with("[proving]\nstores = [\"/mnt/a\", \"/mnt/b\"]\ninterval = \"30s\"").unwrap();
        let p = c.proving.unwrap();
        assert_eq!(p.stores.len(), 2);
        assert_eq!(p.interval, Some(Duration::from_secs(30)));
        let err = |section: &str| format!("{:#}", with(section).unwrap_err());
        assert!(err("[proving]\nstores = []").contains("proving.stores is empty"));
        assert!(err("[proving]\nstores = [\"/a\"]\ninterval = \"0s\"").contains("proving.interval"));
        assert!(err("[proving]\nstores = [\"/a\"]\ninterval = \"soon\"").contains("soon"));
        assert!(err("[proving]\nstore = [\"/a\"]").contains("store"));
        assert!(with("").unwrap().proving.is_none());
        let remote = "[proving]\nstores = [\"/a\"]\n[proving.remote]\nurl = \"http://gpu:3456\"\ntoken_file = \"t\"";
        let r = with(remote).unwrap().proving.unwrap().remote.unwrap();
        assert!(
            r.sends("window_post") && r.sends("winning_post"),
            "both by default"
        );
        let e = err(&format!("{remote}\nstages = [\"check_provable\"]"));
        assert!(
            e.contains("proving.remote.stages") && e.contains("check_provable"),
            "{e}"
        );
        let e = err(&remote.replace("http://gpu:3456", "gpu host"));
        assert!(e.contains("proving.remote.url"), "{e}");
        let e = err(&format!("{remote}\nfailover = [\"gpu-b\"]"));
        assert!(e.contains("proving.remote.failover"), "{e}");
        let e = err(&format!("{remote}\nfailover = [\"gpu-b:3456\"]"));
        assert!(e.contains("http://"), "{e}");
        let ready = "[proving]\nstores = [\"/a\"]\n[proving.readiness]\nlead = \"1h\"\nsample = 5";
        let r = with(ready).unwrap().proving.unwrap().readiness.unwrap();
        assert_eq!(
            (r.lead, r.every, r.sample),
            (Duration::from_secs(3600), Duration::from_secs(300), 5)
        );
        assert_eq!((r.budget, r.slow_read), (0.5, Duration::from_secs(30)));
        let policy = r.policy(Duration::from_secs(30));
        assert_eq!(policy.lead_epochs, 120, "an hour of 30 s epochs");
        assert!(err(&format!("{ready}\nbudget = 1.5")).contains("proving.readiness.budget"));
        assert!(
            err(&format!("{ready}\nevery = \"0s\"")).contains("proving.readiness.lead and .every")
        );
    }

    #[test]
    fn gateway_is_read_and_checked() {
        let example = include_str!("../../examples/sector-manager.toml");
        let proving = "[proving]\nstores = [\"./data/store/0\"]";
        let with = |section: &str| {
            SectorManagerConfig::parse(&example.replace(proving, &format!("{proving}\n{section}")))
        };
        let c = with(
            "[gateway]\nurl = \"ws://10.0.0.2:45132/rpc/v2\"\ntoken_file = \"gw.token\"\n\
             miners = [\"f01000\"]\nreconnect_max = \"10s\"",
        )
        .unwrap();
        let g = c.gateway.unwrap();
        assert_eq!(g.url, "ws://10.0.0.2:45132/rpc/v2");
        assert_eq!(g.miners, vec![ActorId(1000)]);
        assert_eq!(g.reconnect_max, Some(Duration::from_secs(10)));
        assert!(with("").unwrap().gateway.is_none());
        let err = |section: &str| format!("{:#}", with(section).unwrap_err());
        assert!(err("[gateway]\nurl = \"wss://gw/rpc/v2\"").contains("TLS"));
        assert!(err("[gateway]\nurl = \"gw:45132\"").contains("ws://HOST:PORT"));
        assert!(err("[gateway]\nurl = \"ws://gw:1\"\nminers = [\"f09999\"]")
            .contains("f09999, which is not in [[miners]]"));
        assert!(
            err("[gateway]\nurl = \"ws://gw:1\"\nreconnect_max = \"0s\"")
                .contains("gateway.reconnect_max")
        );
        assert!(err("[gateway]\nurl = \"ws://gw:1\"\ntoken = \"x\"").contains("token"));
        let no_proving = example.replace(proving, "[gateway]\nurl = \"ws://gw:1/rpc/v2\"");
        assert!(
            format!("{:#}", SectorManagerConfig::parse(&no_proving).unwrap_err())
                .contains("[gateway] needs [proving]")
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let text = include_str!("../../examples/sector-manager.toml");
        let err = SectorManagerConfig::parse(&text.replace("[rpc]", "[rpc]\nlisten_port = 1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_port"), "{err}");
        let err = SectorManagerConfig::parse(&text.replace("\"f01000\"", "\"x1000\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x1000"), "{err}");
        let err =
            SectorManagerConfig::parse(&text.replace("aggregate_from = 4", "aggregate_from = 2"))
                .unwrap_err()
                .to_string();
        assert!(err.contains("at least 4"), "{err}");
        let err = SectorManagerConfig::parse(&text.replace("start = 1", "start = 10_000_000"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("miners.numbers of f01000"), "{err}");
        let err = SectorManagerConfig::parse(&text.replace("threshold = 4", "threshold = 0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("threshold of f01000"), "{err}");
    }

    /// `[resend]`: every key optional, the defaults the manager's own;
    /// bad values are refused with the key's name.
    #[test]
    fn the_resend_section_is_read_and_checked() {
        let text = include_str!("../../examples/sector-manager.toml");
        let config = SectorManagerConfig::parse(text).unwrap();
        assert_eq!(config.resend.stuck_after_epochs, 20);
        let block = "[resend]\nfirst_retry = \"10s\"\nmax_retry = \"10m\"\nstuck_after_epochs = 20\npremium_bump_percent = 25\nmax_fee = \"0\"\n";
        assert!(text.contains(block), "the example documents every key");
        let bare = text.replace(block, "");
        let d = SectorManagerConfig::parse(&bare).unwrap().resend;
        assert_eq!(d, ResendSection::default());
        let with = |extra: &str| SectorManagerConfig::parse(&format!("{bare}\n[resend]\n{extra}"));
        let c = with("first_retry = \"1s\"\nmax_retry = \"1m\"\nstuck_after_epochs = 0\npremium_bump_percent = 50\nmax_fee = \"1000\"").unwrap().resend;
        assert_eq!(c.first_retry, Duration::from_secs(1));
        assert_eq!(c.max_retry, Duration::from_secs(60));
        assert_eq!((c.stuck_after_epochs, c.premium_bump_percent), (0, 50));
        assert_eq!(c.max_fee, TokenAmount(1000));
        let err = |extra: &str| with(extra).unwrap_err().to_string();
        assert!(err("premium_bump_percent = 10").contains("resend.premium_bump_percent"));
        assert!(err("first_retry = \"0s\"").contains("resend.first_retry"));
        assert!(err("first_retry = \"1m\"\nmax_retry = \"1s\"").contains("resend.max_retry"));
        assert!(err("stuck_after_epochs = -1").contains("resend.stuck_after_epochs"));
        assert!(err("max_fee = \"lots\"").contains("lots"));
        assert!(err("retry = \"1s\"").contains("retry"));
    }

    #[test]
    fn the_piece_proxy_is_read_and_checked() {
        let text = include_str!("../../examples/sector-manager.toml");
        let config = SectorManagerConfig::parse(text).unwrap();
        let pieces = config.pieces.expect("the example has [pieces]");
        assert_eq!(pieces.listen.port(), 1790);
        assert_eq!(
            pieces.store,
            PieceStoreConfig::Local {
                dirs: vec!["./data/pieces".into()]
            }
        );
        let object = text.replace(
            "kind = \"local\"\ndirs = [\"./data/pieces\"]",
            "kind = \"object\"\nurl = \"file:///srv/pieces\"",
        );
        assert!(matches!(
            SectorManagerConfig::parse(&object)
                .unwrap()
                .pieces
                .unwrap()
                .store,
            PieceStoreConfig::Object { .. }
        ));
        for (from, to, needle) in [
            (
                "dirs = [\"./data/pieces\"]",
                "dirs = []",
                "pieces.store: dirs",
            ),
            ("dirs = [\"./data/pieces\"]", "dir = [\"x\"]", "dir"),
            ("kind = \"local\"\ndirs", "kind = \"ftp\"\ndirs", "ftp"),
            (
                "kind = \"local\"\ndirs = [\"./data/pieces\"]",
                "kind = \"object\"\nurl = \"http://x\"",
                "s3://",
            ),
            (
                "listen = \"127.0.0.1:1790\"",
                "listen = \"127.0.0.1:1789\"",
                "its own address",
            ),
        ] {
            let bad = text.replace(from, to);
            assert_ne!(bad, text, "{from}");
            let err = format!("{:#}", SectorManagerConfig::parse(&bad).unwrap_err());
            assert!(err.contains(needle), "{to}: {err}");
        }
    }

    #[test]
    fn a_postgres_store_is_read() {
        let text = include_str!("../../examples/sector-manager.toml").replace(
            "kind = \"sqlite\"\npath = \"./data/manager/manager.db\"",
            "kind = \"postgres\"\nurl = \"postgres://m@db/vs\"",
        );
        let config = SectorManagerConfig::parse(&text).unwrap();
        assert!(
            matches!(&config.store, Some(StoreSection::Postgres { url }) if url == "postgres://m@db/vs"),
            "{:?}",
            config.store
        );
    }

    #[test]
    fn a_droplet_market_is_read_resolved_and_checked() {
        let base = include_str!("../../examples/sector-manager.toml");
        let text = format!(
            "{base}\n[market]\nurl = \"http://droplet:41235\"\ntoken_file = \"droplet.token\"\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, &text).unwrap();
        let config = SectorManagerConfig::load(&path).unwrap();
        let market = config.market.expect("[market] read");
        assert_eq!(market.url, "http://droplet:41235");
        assert_eq!(market.token_file, dir.path().join("droplet.token"));
        for (bad, needle) in [
            (
                text.replace("http://droplet:41235", "droplet:41235"),
                "market.url",
            ),
            (
                text.replace("token_file = \"droplet.token\"\n", ""),
                "token_file",
            ),
            (
                text.replace("[market]\n", "[market]\nnamespace = \"x\"\n"),
                "namespace",
            ),
        ] {
            let err = format!("{:#}", SectorManagerConfig::parse(&bad).unwrap_err());
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    /// The example's `[chain]` replaced by the commented-out Lotus one.
    fn lotus_example() -> String {
        let text = include_str!("../../examples/sector-manager.toml");
        let start = text.find("[chain]\n").unwrap();
        let end = text.find("\n[store]").unwrap();
        let lotus: String = text[start..end]
            .lines()
            .skip_while(|l| !l.starts_with("#   [chain]"))
            .take_while(|l| l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("#   "))
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        format!("{}{lotus}\n{}", &text[..start], &text[end..])
    }

    #[test]
    fn the_documented_lotus_chain_parses() {
        let config = SectorManagerConfig::parse(&lotus_example()).unwrap();
        let ChainSection::Lotus {
            url,
            from,
            max_fee,
            network,
            messager,
            ..
        } = &config.chain
        else {
            panic!("{:?}", config.chain)
        };
        assert_eq!(url, "http://127.0.0.1:1234");
        assert_eq!(from, "f3...");
        assert_eq!(*max_fee, Some(TokenAmount(500_000_000_000_000_000)));
        assert_eq!(network.pre_commit_challenge_delay, 10);
        assert_eq!(network.block_delay_secs, 4);
        assert_eq!(
            network.seal_randomness_lookback, 900,
            "defaults fill the rest"
        );
        assert_eq!(messager.as_ref().unwrap().url, "http://127.0.0.1:39812");
        assert_eq!(
            config.chain.state_dir(),
            Path::new("/var/lib/venus-seal/manager")
        );
        assert_eq!(config.miners[0].collateral, CollateralSection::Message);
    }

    #[test]
    fn the_network_defaults_are_mainnets() {
        assert_eq!(
            NetworkSection::default().params(),
            crate::chain::MAINNET_NETWORK
        );
    }

    #[test]
    fn a_bad_lotus_chain_is_named() {
        let text = lotus_example();
        for (from, to, needle) in [
            (
                "url = \"http://127.0.0.1:1234\"",
                "url = \"127.0.0.1:1234\"",
                "chain.url",
            ),
            ("from = \"f3...\"", "from = \"worker\"", "chain.from"),
            (
                "max_fee = \"500000000000000000\"",
                "max_fee = \"0.5\"",
                "token amount",
            ),
            (
                "max_fee = \"500000000000000000\"",
                "max_fee = 5",
                "expected a string",
            ),
            (
                "pre_commit_challenge_delay = 10",
                "pre_commit_challenge_delay = 0",
                "chain.network",
            ),
            (
                "block_delay_secs = 4",
                "block_delay_secs = 0",
                "chain.network",
            ),
            ("block_delay_secs = 4", "block_delay = 4", "block_delay"),
            (
                "url = \"http://127.0.0.1:39812\"",
                "url = \"ws://m\"",
                "chain.messager.url",
            ),
            (
                "token_file = \"/var/lib/venus-seal/lotus.token\"\n",
                "",
                "token_file",
            ),
            ("kind = \"lotus\"", "kind = \"filecoin\"", "filecoin"),
        ] {
            let bad = text.replace(from, to);
            assert_ne!(bad, text, "{from}");
            let err = format!("{:#}", SectorManagerConfig::parse(&bad).unwrap_err());
            assert!(err.contains(needle), "{to}: {err}");
        }
        let text = include_str!("../../examples/sector-manager.toml");
        let miner_balance =
            text.replace("collateral = \"message\"", "collateral = \"miner-balance\"");
        assert_eq!(
            SectorManagerConfig::parse(&miner_balance).unwrap().miners[0].collateral,
            CollateralSection::MinerBalance
        );
        let err = format!(
            "{:#}",
            SectorManagerConfig::parse(
                &text.replace("collateral = \"message\"", "collateral = \"owner\"")
            )
            .unwrap_err()
        );
        assert!(err.contains("owner"), "{err}");
    }
}
