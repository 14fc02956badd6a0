//! Alerts: rules evaluated on a clock, each firing once when its cause
//! appears and resolved once when it goes, delivered to webhooks as
//! generic JSON, a Slack incoming-webhook message or Alertmanager alerts.
//!
//! [`Alerter::evaluate`] is pure over the time it is given (tests drive it
//! with a fake clock); [`spawn`] runs it every interval and posts what
//! changed. Rules read state the process already holds, e.g.
//! [`WorkerSilent`] over the manager's [`WorkerPings`].
//!
//! Formats, as their receivers document them:
//! * [`WebhookFormat::Json`]: `{"status": "firing"|"resolved", "rule",
//!   "key", "severity", "summary", "since", "until"}` per event, in an
//!   array (times RFC 3339, `until` only when resolved);
//! * [`WebhookFormat::Slack`]: `{"text": …}`, one line per event (Slack's
//!   incoming webhooks take a JSON body with a `text` field);
//! * [`WebhookFormat::Alertmanager`]: the body of `POST /api/v2/alerts`,
//!   an array of `postableAlert` (`labels` with `alertname`,
//!   `annotations`, `startsAt`, and `endsAt` set to the resolution time
//!   for a resolved alert; Alertmanager's OpenAPI v2 spec).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use venus_seal_chain::manager::{ParkedSector, PendingMessage, Readiness, UnsentSubmission};
use venus_seal_chain::{LocalSectorManager, WindowPoStScheduler};
use venus_seal_core::{ChainClient, ChainEpoch, TokenAmount};
use venus_seal_rpc::manager::{PersistStores, WorkerPings};

/// How bad an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Look at it today.
    Warning,
    /// Money is at stake now.
    Critical,
}

impl Severity {
    /// `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One cause a rule sees now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// The rule's name (`worker_silent`).
    pub rule: &'static str,
    /// What it is about, unique within the rule (a worker's name).
    pub key: String,
    /// How bad.
    pub severity: Severity,
    /// What an operator reads.
    pub summary: String,
}

/// A rule: what is wrong at `now_unix` (seconds since the Unix epoch).
pub trait AlertRule: Send + Sync + std::fmt::Debug {
    /// The alerts that hold now.
    fn check(&self, now_unix: i64) -> Vec<Alert>;
}

/// A worker that pinged once and has been quiet for `after` (a worker
/// pings every 30 s): dead, hung, or cut off from the manager.
#[derive(Debug)]
pub struct WorkerSilent {
    /// The pings the manager heard.
    pub pings: WorkerPings,
    /// How long a worker may stay quiet.
    pub after: Duration,
}

impl AlertRule for WorkerSilent {
    fn check(&self, now_unix: i64) -> Vec<Alert> {
        let after = self.after.as_secs() as i64;
        self.pings
            .list()
            .into_iter()
            .filter(|w| now_unix - w.last_ping >= after)
            .map(|w| Alert {
                rule: "worker_silent",
                key: w.info.name.clone(),
                severity: Severity::Warning,
                summary: format!(
                    "worker {} ({}) has not pinged for {}",
                    w.info.name,
                    w.info.dest,
                    elapsed(now_unix, w.last_ping)
                ),
            })
            .collect()
    }
}

/// A writable persist store with less room than `min_free` (free space
/// less the reservations of sectors on their way there), or whose free
/// space cannot be read: finished sectors will find no place.
#[derive(Debug)]
pub struct StoreNearlyFull {
    /// The manager's view of the stores (`[[persist_stores]]`).
    pub stores: PersistStores,
    /// The least room that is fine, in bytes.
    pub min_free: u64,
}

impl AlertRule for StoreNearlyFull {
    fn check(&self, _now_unix: i64) -> Vec<Alert> {
        const GIB: f64 = (1u64 << 30) as f64;
        self.stores
            .room()
            .into_iter()
            .filter_map(|(name, room)| {
                let (severity, summary) = match room {
                    Ok(room) if room >= self.min_free => return None,
                    Ok(room) => (
                        Severity::Warning,
                        format!(
                            "persist store {name} has {:.1} GiB of room (alert below {:.1} GiB)",
                            room as f64 / GIB,
                            self.min_free as f64 / GIB
                        ),
                    ),
                    Err(e) => (
                        Severity::Critical,
                        format!("persist store {name}: its free space cannot be read: {e}"),
                    ),
                };
                Some(Alert {
                    rule: "store_nearly_full",
                    key: name,
                    severity,
                    summary,
                })
            })
            .collect()
    }
}

/// How long it is from `since_unix` to `now_unix`, for an alert's words
/// (zero if the clock went back).
fn elapsed(now_unix: i64, since_unix: i64) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs((now_unix - since_unix).max(0) as u64))
}

/// A message the manager sent that the chain has not taken for
/// `after_epochs` since its first send, replacements included (the
/// manager replaces a stuck message on its own; this fires when that did
/// not help: `max_fee` too low, an empty wallet, a node that drops it).
#[derive(Debug)]
pub struct MessageStuck {
    /// Where the pending messages are read: the manager, whose batch
    /// timer watches its messages.
    pub source: Arc<dyn PendingMessages>,
    /// How many epochs pending is too many.
    pub after_epochs: ChainEpoch,
}

/// What [`MessageStuck`] reads.
pub trait PendingMessages: Send + Sync + std::fmt::Debug {
    /// The messages sent and not yet taken by the chain.
    fn pending_messages(&self) -> Vec<PendingMessage>;
}

impl PendingMessages for LocalSectorManager {
    fn pending_messages(&self) -> Vec<PendingMessage> {
        LocalSectorManager::pending_messages(self)
    }
}

impl AlertRule for MessageStuck {
    fn check(&self, _now_unix: i64) -> Vec<Alert> {
        self.source
            .pending_messages()
            .into_iter()
            .filter(|p| p.head - p.first_sent >= self.after_epochs)
            .map(|p| Alert {
                rule: "message_stuck",
                key: format!("{} {}", p.sector, p.kind),
                severity: Severity::Critical,
                summary: format!(
                    "the {} of {} has been pending {} epochs since epoch {} (now message {}): check the sending wallet's balance, [resend] max_fee and the node's mpool",
                    p.kind,
                    p.sector,
                    p.head - p.first_sent,
                    p.first_sent,
                    p.message.0
                ),
            })
            .collect()
    }
}

/// A submission (pre-commit or proof) the node or messager keeps refusing
/// to take for `after` since its first failed push in a row: a batch that
/// does not go out (a node down, an empty wallet, a fee cap too low); the
/// sector's ticket or seed may expire meanwhile. Resolved once it is sent.
#[derive(Debug)]
pub struct SubmissionUnsent {
    /// Where the unsent submissions are read: the manager's batch timer.
    pub source: Arc<dyn UnsentSubmissions>,
    /// How long a submission may keep failing to go out.
    pub after: Duration,
}

/// What [`SubmissionUnsent`] reads.
pub trait UnsentSubmissions: Send + Sync + std::fmt::Debug {
    /// The queued submissions whose pushes keep failing.
    fn unsent_submissions(&self) -> Vec<UnsentSubmission>;
}

impl UnsentSubmissions for LocalSectorManager {
    fn unsent_submissions(&self) -> Vec<UnsentSubmission> {
        LocalSectorManager::unsent_submissions(self)
    }
}

impl AlertRule for SubmissionUnsent {
    fn check(&self, now_unix: i64) -> Vec<Alert> {
        let after = self.after.as_secs() as i64;
        self.source
            .unsent_submissions()
            .into_iter()
            .filter(|u| now_unix - u.since_unix as i64 >= after)
            .map(|u| Alert {
                rule: "submission_unsent",
                key: format!("{} {}", u.sector, u.kind),
                severity: Severity::Critical,
                summary: format!(
                    "the {} of {} has not gone out for {} ({} tries; the last: {}): check the node or messager, the sending wallet and [resend] max_fee",
                    u.kind,
                    u.sector,
                    elapsed(now_unix, u.since_unix as i64),
                    u.tries,
                    u.last_error
                ),
            })
            .collect()
    }
}

/// A sector its worker parked (a Permanent or Critical failure) and no
/// operator resumed or aborted for `after`: it holds its worker's slot or
/// storage, and its ticket or pre-commit may expire meanwhile.
#[derive(Debug)]
pub struct SectorParked {
    /// Where the parked sectors are read: the manager, from its workers'
    /// state reports.
    pub source: Arc<dyn ParkedSectors>,
    /// How long a sector may wait for an operator.
    pub after: Duration,
}

/// What [`SectorParked`] reads.
pub trait ParkedSectors: Send + Sync + std::fmt::Debug {
    /// The sectors parked now.
    fn parked_sectors(&self) -> Vec<ParkedSector>;
}

impl ParkedSectors for LocalSectorManager {
    fn parked_sectors(&self) -> Vec<ParkedSector> {
        LocalSectorManager::parked_sectors(self)
    }
}

impl AlertRule for SectorParked {
    fn check(&self, now_unix: i64) -> Vec<Alert> {
        let after = self.after.as_secs() as i64;
        self.source
            .parked_sectors()
            .into_iter()
            .filter(|p| now_unix - p.since_unix as i64 >= after)
            .map(|p| Alert {
                rule: "sector_parked",
                key: p.sector.to_string(),
                severity: Severity::Warning,
                summary: format!(
                    "{} is parked in {} on {} for {} ({}): resume or abort it (`venus-seal-worker resume|abort`, `venus-seal-sector-manager sectors abort`)",
                    p.sector,
                    p.state,
                    p.worker,
                    elapsed(now_unix, p.since_unix as i64),
                    p.failure
                ),
            })
            .collect()
    }
}

/// A deadline checked ahead of time ([`WindowPoStScheduler::check_readiness`])
/// whose proof is predicted not to fit its window (Critical), or that
/// holds unreadable (Critical) or slow (Warning) sectors; resolved when a
/// later check is fine or the deadline has closed.
#[derive(Debug)]
pub struct PoStNotReady {
    /// The scheduler holding the checks.
    pub source: Arc<WindowPoStScheduler>,
}

impl AlertRule for PoStNotReady {
    fn check(&self, _now_unix: i64) -> Vec<Alert> {
        self.source
            .readiness()
            .into_iter()
            .filter(|r| !r.is_ready())
            .map(|r| Alert {
                rule: "post_not_ready",
                key: format!("{} deadline {}", r.miner, r.deadline),
                severity: readiness_severity(&r),
                summary: readiness_summary(&r),
            })
            .collect()
    }
}

/// A miner's open deadline with partitions not sent once `fraction` of
/// its window has gone (Critical: the sectors turn faulty when it closes
/// unproven). The time is the scheduler's last look carried forward by
/// the clock, so a prover that hangs (no look at all) is caught too;
/// resolved when every partition is sent or the deadline has closed.
#[derive(Debug)]
pub struct PoStNotSent {
    /// The scheduler.
    pub source: Arc<WindowPoStScheduler>,
    /// The share of the window after which an unsent partition is
    /// reported (e.g. 0.5).
    pub fraction: f64,
    /// The length of an epoch.
    pub epoch: Duration,
}

impl AlertRule for PoStNotSent {
    fn check(&self, now_unix: i64) -> Vec<Alert> {
        let epoch = self.epoch.as_secs_f64().max(1e-9);
        self.source
            .progress()
            .into_iter()
            .filter(|p| p.sent < p.due)
            .filter_map(|p| {
                let dl = p.deadline;
                let since = (now_unix - p.at as i64).max(0) as f64;
                let now = dl.current_epoch as f64 + since / epoch;
                let width = (dl.close - dl.open).max(1) as f64;
                let gone = (now - dl.open as f64) / width;
                if gone < self.fraction {
                    return None;
                }
                let unsent = p.due - p.sent;
                let summary = if now < dl.close as f64 {
                    format!(
                        "deadline {} of {}: {unsent} of {} partitions not sent with {:.0}% of its window gone (closes at epoch {})",
                        dl.index, p.miner, p.due, gone * 100.0, dl.close
                    )
                } else {
                    // The scheduler has not looked since (hung, or the
                    // chain unreadable): later deadlines go unproven too.
                    format!(
                        "deadline {} of {} closed with {unsent} of {} partitions unsent, and the WindowPoSt scheduler has not looked since epoch {}: later deadlines go unproven too",
                        dl.index, p.miner, p.due, dl.current_epoch
                    )
                };
                Some(Alert {
                    rule: "post_not_sent",
                    key: p.miner.to_string(),
                    severity: Severity::Critical,
                    summary,
                })
            })
            .collect()
    }
}

/// The balances of the wallets messages are sent from, as last read by
/// [`watch_balances`] (an error: why it could not be read); cheap to
/// clone.
#[derive(Clone, Debug, Default)]
pub struct Balances(Arc<Mutex<BTreeMap<String, Result<TokenAmount, String>>>>);

impl Balances {
    /// Records what reading `address` gave.
    pub fn set(&self, address: &str, read: Result<TokenAmount, String>) {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        held.insert(address.to_string(), read);
    }

    /// Every address read, in order, with its last read.
    pub fn list(&self) -> Vec<(String, Result<TokenAmount, String>)> {
        let held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        held.iter().map(|(a, r)| (a.clone(), r.clone())).collect()
    }
}

/// Reads the balance of each of `addresses` on `chain` now and every
/// `every` into `balances`, until aborted.
pub fn watch_balances(
    chain: Arc<dyn ChainClient>,
    addresses: Vec<String>,
    every: Duration,
    balances: Balances,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for address in &addresses {
                let read = chain.balance(address).await.map_err(|e| e.to_string());
                if let Err(e) = &read {
                    tracing::warn!(%address, error = %e, "wallet balance unreadable");
                }
                balances.set(address, read);
            }
        }
    })
}

/// `amount` in FIL, with as many decimals as it needs (`1.5`, `0`).
pub fn fil(amount: TokenAmount) -> String {
    const ATTO: u128 = 1_000_000_000_000_000_000;
    let (whole, frac) = (amount.0 / ATTO, amount.0 % ATTO);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:018}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// A sending wallet holding less than `min` (Critical: pre-commits and
/// proofs are paid from it and fail to send once it is empty), or whose
/// balance cannot be read (Warning); resolved once it is topped up or
/// read again.
#[derive(Debug)]
pub struct WalletLow {
    /// The balances [`watch_balances`] keeps.
    pub balances: Balances,
    /// The least balance that is fine.
    pub min: TokenAmount,
}

impl AlertRule for WalletLow {
    fn check(&self, _now_unix: i64) -> Vec<Alert> {
        self.balances
            .list()
            .into_iter()
            .filter_map(|(address, read)| {
                let (severity, summary) = match read {
                    Ok(b) if b >= self.min => return None,
                    Ok(b) => (
                        Severity::Critical,
                        format!(
                            "wallet {address} holds {} FIL, below {} FIL: messages it pays for fail to send once it is empty",
                            fil(b),
                            fil(self.min)
                        ),
                    ),
                    Err(e) => (
                        Severity::Warning,
                        format!("the balance of wallet {address} cannot be read: {e}"),
                    ),
                };
                Some(Alert {
                    rule: "wallet_low",
                    key: address,
                    severity,
                    summary,
                })
            })
            .collect()
    }
}

/// How bad a readiness result that is not ready is: Critical when the
/// proof is predicted not to fit or a sector is unreadable, Warning when
/// only slow.
pub fn readiness_severity(r: &Readiness) -> Severity {
    if r.fits() && r.unreadable().is_empty() {
        Severity::Warning
    } else {
        Severity::Critical
    }
}

/// A duration as seconds with one decimal: `41.0s`.
pub fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The slow reads of `r`, slowest first: `7 (41.0s), 9 (33.2s)`.
pub fn slow_reads(r: &Readiness) -> String {
    let slow: Vec<String> = r
        .reads
        .iter()
        .filter(|s| r.slow.contains(&s.number))
        .map(|s| format!("{} ({})", s.number, seconds(s.took)))
        .collect();
    slow.join(", ")
}

/// The unreadable sectors of `r` with why: `9 (file missing)`.
pub fn unreadable_reads(r: &Readiness) -> String {
    let unreadable: Vec<String> = r
        .unreadable()
        .iter()
        .map(|s| format!("{} ({})", s.number, s.unreadable.as_deref().unwrap_or("")))
        .collect();
    unreadable.join(", ")
}

/// One readiness result in words.
pub fn readiness_summary(r: &Readiness) -> String {
    let mut text = format!(
        "deadline {} of {} (opens at epoch {}): {} sectors, proof predicted {} of {} allowed",
        r.deadline,
        r.miner,
        r.opens,
        r.sectors,
        seconds(r.predicted),
        seconds(r.allowed)
    );
    if !r.fits() {
        text.push_str(" (DOES NOT FIT)");
    }
    if !r.slow.is_empty() {
        text.push_str(&format!("; slow reads: {}", slow_reads(r)));
    }
    if !r.unreadable().is_empty() {
        text.push_str(&format!("; unreadable: {}", unreadable_reads(r)));
    }
    text
}

/// A change [`Alerter::evaluate`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlertEvent {
    /// `alert` holds since `since` (unix seconds).
    Firing {
        /// The alert.
        alert: Alert,
        /// When it was first seen.
        since: i64,
    },
    /// `alert`, firing since `since`, was gone at `until`.
    Resolved {
        /// The alert as it last fired.
        alert: Alert,
        /// When it was first seen.
        since: i64,
        /// When it was first seen gone.
        until: i64,
    },
}

/// Rules and what fires now: each alert is reported once when it starts
/// and once when it ends.
#[derive(Debug, Default)]
pub struct Alerter {
    rules: Vec<Box<dyn AlertRule>>,
    active: BTreeMap<(&'static str, String), (Alert, i64)>,
}

impl Alerter {
    /// An alerter over `rules`.
    pub fn new(rules: Vec<Box<dyn AlertRule>>) -> Self {
        Self {
            rules,
            active: BTreeMap::new(),
        }
    }

    /// Runs every rule at `now_unix`: the alerts that started and those
    /// that ended since the last evaluation.
    pub fn evaluate(&mut self, now_unix: i64) -> Vec<AlertEvent> {
        let mut now: BTreeMap<(&'static str, String), Alert> = BTreeMap::new();
        for rule in &self.rules {
            for alert in rule.check(now_unix) {
                now.insert((alert.rule, alert.key.clone()), alert);
            }
        }
        let mut events = Vec::new();
        let gone: Vec<_> = self
            .active
            .keys()
            .filter(|k| !now.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some((alert, since)) = self.active.remove(&key) {
                events.push(AlertEvent::Resolved {
                    alert,
                    since,
                    until: now_unix,
                });
            }
        }
        for (key, alert) in now {
            match self.active.get_mut(&key) {
                // Still firing: its text may change (a longer silence).
                Some((held, _)) => *held = alert,
                None => {
                    events.push(AlertEvent::Firing {
                        alert: alert.clone(),
                        since: now_unix,
                    });
                    self.active.insert(key, (alert, now_unix));
                }
            }
        }
        events
    }

    /// The alerts firing now, with when each started.
    pub fn active(&self) -> Vec<(Alert, i64)> {
        self.active.values().cloned().collect()
    }
}

/// What fires now and what resolved lately, shared with whoever shows it
/// (the console); cheap to clone. [`spawn`] keeps it current.
#[derive(Clone, Debug, Default)]
pub struct AlertBoard(Arc<Mutex<BoardState>>);

#[derive(Debug, Default)]
struct BoardState {
    evaluated: Option<i64>,
    firing: Vec<(Alert, i64)>,
    resolved: VecDeque<(Alert, i64, i64)>,
}

/// One alert as the board holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardEntry {
    /// The alert.
    pub alert: Alert,
    /// When it started (Unix seconds).
    pub since: i64,
    /// When it resolved, for a resolved one.
    pub until: Option<i64>,
}

impl AlertBoard {
    /// How many resolved alerts it remembers.
    pub const RESOLVED_KEPT: usize = 50;

    /// Takes the state after an evaluation at `now`: `alerter`'s firing
    /// alerts, and `events`' resolutions.
    pub fn update(&self, now: i64, alerter: &Alerter, events: &[AlertEvent]) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.evaluated = Some(now);
        state.firing = alerter.active();
        for e in events {
            if let AlertEvent::Resolved {
                alert,
                since,
                until,
            } = e
            {
                if state.resolved.len() >= Self::RESOLVED_KEPT {
                    state.resolved.pop_back();
                }
                state.resolved.push_front((alert.clone(), *since, *until));
            }
        }
    }

    /// The alerts firing, worst first, then oldest first.
    pub fn firing(&self) -> Vec<BoardEntry> {
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut firing: Vec<_> = state
            .firing
            .iter()
            .map(|(alert, since)| BoardEntry {
                alert: alert.clone(),
                since: *since,
                until: None,
            })
            .collect();
        firing.sort_by(|a, b| (b.alert.severity, a.since).cmp(&(a.alert.severity, b.since)));
        firing
    }

    /// The alerts resolved lately, newest first.
    pub fn resolved(&self) -> Vec<BoardEntry> {
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .resolved
            .iter()
            .map(|(alert, since, until)| BoardEntry {
                alert: alert.clone(),
                since: *since,
                until: Some(*until),
            })
            .collect()
    }

    /// When the rules were last evaluated (`None`: not yet, or alerts are
    /// off).
    pub fn evaluated(&self) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .evaluated
    }
}

/// The body a webhook receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookFormat {
    /// An array of events, every field spelled out.
    #[default]
    Json,
    /// A Slack incoming webhook's `{"text": …}`.
    Slack,
    /// Alertmanager's `POST /api/v2/alerts` body.
    Alertmanager,
}

/// `unix` (seconds; negative as 0) as RFC 3339 in UTC.
pub(crate) fn rfc3339(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `events` as `format`'s body.
pub fn payload(format: WebhookFormat, events: &[AlertEvent]) -> Value {
    let parts = |e: &AlertEvent| match e {
        AlertEvent::Firing { alert, since } => (alert.clone(), *since, None),
        AlertEvent::Resolved {
            alert,
            since,
            until,
        } => (alert.clone(), *since, Some(*until)),
    };
    match format {
        WebhookFormat::Json => Value::Array(
            events
                .iter()
                .map(|e| {
                    let (a, since, until) = parts(e);
                    let mut v = json!({
                        "status": if until.is_some() { "resolved" } else { "firing" },
                        "rule": a.rule,
                        "key": a.key,
                        "severity": a.severity.as_str(),
                        "summary": a.summary,
                        "since": rfc3339(since),
                    });
                    if let Some(u) = until {
                        v["until"] = json!(rfc3339(u));
                    }
                    v
                })
                .collect(),
        ),
        WebhookFormat::Slack => {
            let lines: Vec<String> = events
                .iter()
                .map(|e| {
                    let (a, _, until) = parts(e);
                    let status = if until.is_some() {
                        "RESOLVED"
                    } else {
                        "FIRING"
                    };
                    format!(
                        "[{status}] {} ({}): {}",
                        a.rule,
                        a.severity.as_str(),
                        a.summary
                    )
                })
                .collect();
            json!({ "text": lines.join("\n") })
        }
        WebhookFormat::Alertmanager => Value::Array(
            events
                .iter()
                .map(|e| {
                    let (a, since, until) = parts(e);
                    let mut v = json!({
                        "labels": {
                            "alertname": a.rule,
                            "key": a.key,
                            "severity": a.severity.as_str(),
                            "service": "venus-seal-sector-manager",
                        },
                        "annotations": { "summary": a.summary },
                        "startsAt": rfc3339(since),
                    });
                    if let Some(u) = until {
                        v["endsAt"] = json!(rfc3339(u));
                    }
                    v
                })
                .collect(),
        ),
    }
}

/// Where alerts go.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The receiver's URL (Alertmanager: `http://host:9093/api/v2/alerts`).
    pub url: String,
    /// The body it takes (default `json`).
    #[serde(default)]
    pub format: WebhookFormat,
}

/// Evaluates `alerter` every `every`, shows the result on `board`, and
/// posts each batch of changes to every webhook (a receiver that fails is logged and not retried: the
/// next change goes out anyway). Runs until aborted.
pub fn spawn(
    mut alerter: Alerter,
    webhooks: Vec<Webhook>,
    every: Duration,
    board: AlertBoard,
) -> JoinHandle<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = crate::runtime::unix_now() as i64;
            let events = alerter.evaluate(now);
            board.update(now, &alerter, &events);
            if events.is_empty() {
                continue;
            }
            for e in &events {
                match e {
                    AlertEvent::Firing { alert, .. } => {
                        tracing::warn!(rule = alert.rule, key = %alert.key, summary = %alert.summary, "alert firing")
                    }
                    AlertEvent::Resolved { alert, .. } => {
                        tracing::info!(rule = alert.rule, key = %alert.key, "alert resolved")
                    }
                }
            }
            for hook in &webhooks {
                let body = payload(hook.format, &events);
                match client.post(&hook.url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        tracing::warn!(url = %hook.url, status = %r.status(), "alert webhook refused the alerts")
                    }
                    Err(e) => {
                        tracing::warn!(url = %hook.url, error = %e, "alert webhook unreachable")
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use venus_seal_rpc::WorkerInfo;

    fn worker(name: &str) -> WorkerInfo {
        WorkerInfo {
            name: name.into(),
            dest: "10.0.0.2:17890".into(),
            version: "v1".into(),
            summary: Default::default(),
            stages: Vec::new(),
        }
    }

    #[test]
    fn a_silent_worker_fires_once_and_resolves_when_it_pings_again() {
        let pings = WorkerPings::default();
        let mut alerter = Alerter::new(vec![Box::new(WorkerSilent {
            pings: pings.clone(),
            after: Duration::from_secs(120),
        })]);
        pings.record_at(worker("w1"), 1_000);
        pings.record_at(worker("w2"), 1_000);
        assert!(alerter.evaluate(1_060).is_empty());
        pings.record_at(worker("w2"), 1_100);
        let fired = alerter.evaluate(1_130);
        assert_eq!(fired.len(), 1, "{fired:?}");
        let AlertEvent::Firing { alert, since } = &fired[0] else {
            panic!("{fired:?}")
        };
        assert_eq!((alert.key.as_str(), *since), ("w1", 1_130));
        assert!(alert.summary.contains("2m 10s"), "{}", alert.summary);
        // Still silent: not reported again, but its text follows.
        assert!(alerter.evaluate(1_190).is_empty());
        assert!(alerter.active()[0].0.summary.contains("3m 10s"));
        pings.record_at(worker("w1"), 1_200);
        let resolved = alerter.evaluate(1_210);
        assert!(
            matches!(&resolved[..], [AlertEvent::Resolved { since: 1_130, until: 1_210, alert }] if alert.key == "w1"),
            "{resolved:?}"
        );
        assert!(alerter.active().is_empty());
    }

    #[test]
    fn the_board_shows_what_fires_worst_first_and_what_resolved() {
        let pings = WorkerPings::default();
        let stores = PersistStores::with_free_space(
            vec![venus_seal_rpc::manager::PersistStoreEntry::new(
                "s1", "/nowhere",
            )],
            Arc::new(|_: &std::path::Path| Err(std::io::Error::other("unmounted"))),
        );
        let mut alerter = Alerter::new(vec![
            Box::new(WorkerSilent {
                pings: pings.clone(),
                after: Duration::from_secs(60),
            }),
            Box::new(StoreNearlyFull {
                stores,
                min_free: 1,
            }),
        ]);
        let board = AlertBoard::default();
        assert_eq!(board.evaluated(), None);
        pings.record_at(worker("w1"), 1_000);
        let events = alerter.evaluate(1_010);
        board.update(1_010, &alerter, &events);
        let firing = board.firing();
        assert_eq!(firing.len(), 1, "{firing:?}");
        assert_eq!(firing[0].alert.rule, "store_nearly_full");
        let events = alerter.evaluate(1_100);
        board.update(1_100, &alerter, &events);
        let rules: Vec<_> = board.firing().iter().map(|e| e.alert.rule).collect();
        assert_eq!(
            rules,
            ["store_nearly_full", "worker_silent"],
            "critical first"
        );
        pings.record_at(worker("w1"), 1_150);
        let events = alerter.evaluate(1_160);
        board.update(1_160, &alerter, &events);
        assert_eq!(board.firing().len(), 1);
        let resolved = board.resolved();
        assert_eq!(resolved.len(), 1);
        assert_eq!(
            (
                resolved[0].alert.key.as_str(),
                resolved[0].since,
                resolved[0].until
            ),
            ("w1", 1_100, Some(1_160))
        );
        assert_eq!(board.evaluated(), Some(1_160));
    }

    /// A deadline whose reads are slow is alerted before it opens, and
    /// the alert resolves once the deadline has closed.
    #[tokio::test]
    async fn a_deadline_not_ready_fires_before_it_opens_and_resolves_after_it_closes() {
        use venus_seal_chain::manager::ReadinessPolicy;
        use venus_seal_chain::testing::{
            proving_devnet, scheduler_on, FakePoStExecutor, SlowReads,
        };
        use venus_seal_chain::PoStExecutors;
        use venus_seal_core::{ActorId, ChainClient};

        let miner = ActorId(1000);
        let chain = proving_devnet(miner, 6);
        let dl = chain.proving_deadline(miner).await.unwrap();
        let next = (dl.index + 1) % dl.deadlines;
        let slow = chain.deadline_partitions(miner, next).await.unwrap()[0].active[0];
        let prover = Arc::new(FakePoStExecutor::default());
        let executors = PoStExecutors {
            window_post: prover.clone(),
            check: Arc::new(SlowReads {
                inner: prover,
                slow: [slow].into(),
                delay: Duration::from_millis(50),
            }),
        };
        let scheduler = Arc::new(scheduler_on(&chain, executors, miner));
        let policy = ReadinessPolicy {
            lead_epochs: dl.close - dl.open,
            sample: 0,
            epoch: Duration::from_secs(30),
            budget: 0.5,
            slow_read: Duration::from_millis(20),
        };
        let mut alerter = Alerter::new(vec![Box::new(PoStNotReady {
            source: scheduler.clone(),
        })]);
        assert!(alerter.evaluate(1_000).is_empty(), "nothing checked yet");
        scheduler.check_readiness(&policy).await;
        let fired = alerter.evaluate(1_060);
        let [AlertEvent::Firing { alert, .. }] = &fired[..] else {
            panic!("{fired:?}")
        };
        assert_eq!(alert.key, format!("{miner} deadline {next}"));
        assert_eq!(alert.severity, Severity::Warning, "slow but fits");
        assert!(
            alert.summary.contains(&format!("slow reads: {slow} (")),
            "{}",
            alert.summary
        );
        assert!(alerter.evaluate(1_120).is_empty(), "reported once");

        // The deadline opens and closes: the next look forgets it.
        let width = (dl.close - dl.open) as u64;
        chain.advance(2 * width).await;
        scheduler.check_readiness(&policy).await;
        let later = alerter.evaluate(1_180);
        assert!(
            later.iter().any(|e| matches!(e, AlertEvent::Resolved { alert, .. } if alert.key == format!("{miner} deadline {next}"))),
            "{later:?}"
        );
    }

    /// A WindowPoSt that is not sent (here: the prover fails every time;
    /// a hung one looks the same, the clock carries the last look
    /// forward) is reported once half the window has gone, and resolved
    /// when the deadline closes.
    #[tokio::test]
    async fn a_window_post_not_sent_by_half_its_window_fires_until_it_closes() {
        use async_trait::async_trait;
        use venus_seal_chain::testing::{proving_devnet, scheduler_on, FakePoStExecutor};
        use venus_seal_chain::PoStExecutors;
        use venus_seal_core::proving::WindowPoStOutput;
        use venus_seal_core::stage::WindowPoSt;
        use venus_seal_core::{ActorId, Executor, StageError};

        #[derive(Debug)]
        struct NoGpu;
        #[async_trait]
        impl Executor<WindowPoSt> for NoGpu {
            async fn execute(&self, _: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
                Err(StageError::Unavailable("no GPU".into()))
            }
        }

        let miner = ActorId(1000);
        let chain = proving_devnet(miner, 6);
        let executors = PoStExecutors {
            window_post: Arc::new(NoGpu),
            check: Arc::new(FakePoStExecutor::default()),
        };
        let scheduler = Arc::new(scheduler_on(&chain, executors, miner));
        // Tick until a deadline with sectors is open and its proof failed.
        let mut ticks = 0;
        let progress = loop {
            let _ = scheduler.tick().await;
            if let Some(p) = scheduler.progress().into_iter().find(|p| p.due > 0) {
                break p;
            }
            chain.advance(1).await;
            ticks += 1;
            assert!(ticks < 10_000, "no deadline with sectors opened");
        };
        assert_eq!(progress.sent, 0);
        let dl = progress.deadline;
        let epoch = 30i64;
        let mut alerter = Alerter::new(vec![Box::new(PoStNotSent {
            source: scheduler.clone(),
            fraction: 0.5,
            epoch: Duration::from_secs(epoch as u64),
        })]);
        let at = progress.at as i64;
        let when = |epoch_no: i64| at + (epoch_no - dl.current_epoch) * epoch;
        let half = dl.open + (dl.close - dl.open) / 2;
        assert!(dl.current_epoch < half, "{dl:?}");
        assert!(
            alerter.evaluate(when(half) - epoch).is_empty(),
            "not yet half"
        );
        let fired = alerter.evaluate(when(half) + 1);
        let [AlertEvent::Firing { alert, .. }] = &fired[..] else {
            panic!("{fired:?}")
        };
        assert_eq!(alert.severity, Severity::Critical);
        assert!(
            alert.summary.contains("partitions not sent"),
            "{}",
            alert.summary
        );
        // Past the close with no newer look (a hung scheduler): it keeps
        // firing, saying so.
        assert!(alerter.evaluate(when(dl.close) + 1).is_empty());
        let held = &alerter.active()[0].0;
        assert!(
            held.summary.contains("has not looked since"),
            "{}",
            held.summary
        );
        // The scheduler looks again in a deadline with nothing due: resolved.
        let mut ticks = 0;
        loop {
            chain.advance(1).await;
            let _ = scheduler.tick().await;
            let p = scheduler.progress().remove(0);
            if p.deadline.index != dl.index && p.due == 0 {
                break;
            }
            ticks += 1;
            assert!(ticks < 10_000, "no empty deadline came");
        }
        let resolved = alerter.evaluate(when(dl.close) + 2);
        assert!(
            matches!(&resolved[..], [AlertEvent::Resolved { .. }]),
            "{resolved:?}"
        );
    }

    #[test]
    fn a_wallet_below_its_minimum_fires_until_topped_up() {
        let balances = Balances::default();
        let min = venus_seal_core::TokenAmount::from_whole_fil(10);
        let mut alerter = Alerter::new(vec![Box::new(WalletLow {
            balances: balances.clone(),
            min,
        })]);
        assert!(alerter.evaluate(1_000).is_empty(), "nothing read yet");
        balances.set(
            "f3abc",
            Ok(venus_seal_core::TokenAmount(1_500_000_000_000_000_000)),
        );
        let fired = alerter.evaluate(1_060);
        let [AlertEvent::Firing { alert, .. }] = &fired[..] else {
            panic!("{fired:?}")
        };
        assert_eq!(
            (alert.key.as_str(), alert.severity),
            ("f3abc", Severity::Critical)
        );
        assert!(
            alert.summary.contains("holds 1.5 FIL, below 10 FIL"),
            "{}",
            alert.summary
        );
        balances.set("f3abc", Err("node down".into()));
        assert!(
            alerter.evaluate(1_120).is_empty(),
            "the same alert, its text follows"
        );
        assert_eq!(alerter.active()[0].0.severity, Severity::Warning);
        balances.set(
            "f3abc",
            Ok(venus_seal_core::TokenAmount::from_whole_fil(50)),
        );
        let resolved = alerter.evaluate(1_180);
        assert!(
            matches!(&resolved[..], [AlertEvent::Resolved { .. }]),
            "{resolved:?}"
        );
        assert_eq!(fil(venus_seal_core::TokenAmount::ZERO), "0");
        assert_eq!(fil(venus_seal_core::TokenAmount(1)), "0.000000000000000001");
    }

    /// The watch reads each address from the chain client into the board
    /// the rule and the console read.
    #[tokio::test]
    async fn balances_are_read_from_the_chain_client() {
        let chain = venus_seal_chain::testing::proving_devnet(venus_seal_core::ActorId(1000), 0);
        let balances = Balances::default();
        let task = watch_balances(
            chain,
            vec!["f3abc".into()],
            Duration::from_secs(60),
            balances.clone(),
        );
        for _ in 0..100 {
            if !balances.list().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        task.abort();
        let list = balances.list();
        assert_eq!(list.len(), 1);
        let err = list[0].1.clone().unwrap_err();
        assert!(
            err.contains("does not read balances"),
            "the devnet says so: {err}"
        );
    }

    #[test]
    fn a_store_low_on_room_or_unreadable_fires_and_resolves_when_freed() {
        use std::sync::Mutex;
        use venus_seal_core::{ActorId, SectorId, SectorNumber};
        use venus_seal_rpc::manager::PersistStoreEntry;
        const GIB: u64 = 1 << 30;
        let free: Arc<Mutex<Result<u64, String>>> = Arc::new(Mutex::new(Ok(500 * GIB)));
        let disk = free.clone();
        let stores = PersistStores::with_free_space(
            vec![
                PersistStoreEntry::new("store-0", "/mnt/store0"),
                PersistStoreEntry {
                    read_only: true,
                    ..PersistStoreEntry::new("archive", "/mnt/archive")
                },
            ],
            Arc::new(move |_| disk.lock().unwrap().clone().map_err(std::io::Error::other)),
        );
        let mut alerter = Alerter::new(vec![Box::new(StoreNearlyFull {
            stores: stores.clone(),
            min_free: 100 * GIB,
        })]);
        assert!(alerter.evaluate(0).is_empty());
        // Reservations for sectors on their way count as used.
        let sector = SectorId::new(ActorId(1000), SectorNumber(1));
        stores.reserve(sector, 450 * GIB, &[]).unwrap();
        let fired = alerter.evaluate(60);
        assert!(
            matches!(&fired[..], [AlertEvent::Firing { alert, .. }] if alert.key == "store-0" && alert.summary.contains("50.0 GiB")),
            "{fired:?}"
        );
        // Unreadable: still firing (now Critical), not reported twice.
        *free.lock().unwrap() = Err("Input/output error".into());
        assert!(alerter.evaluate(120).is_empty());
        assert_eq!(alerter.active()[0].0.severity, Severity::Critical);
        *free.lock().unwrap() = Ok(500 * GIB);
        stores.release(sector);
        assert!(matches!(
            &alerter.evaluate(180)[..],
            [AlertEvent::Resolved { .. }]
        ));
    }

    #[test]
    fn a_message_pending_too_long_since_its_first_send_fires() {
        use std::sync::Mutex;
        use venus_seal_core::chain::MessageId;
        use venus_seal_core::{ActorId, SectorId, SectorNumber};

        #[derive(Debug, Default)]
        struct Pending(Mutex<Vec<PendingMessage>>);
        impl PendingMessages for Pending {
            fn pending_messages(&self) -> Vec<PendingMessage> {
                self.0.lock().unwrap().clone()
            }
        }
        let source = Arc::new(Pending::default());
        let mut alerter = Alerter::new(vec![Box::new(MessageStuck {
            source: source.clone(),
            after_epochs: 60,
        })]);
        let at = |head| PendingMessage {
            sector: SectorId::new(ActorId(1000), SectorNumber(7)),
            kind: "pre-commit",
            message: MessageId("bafy-replacement".into()),
            first_sent: 100,
            head,
            fee: None,
        };
        *source.0.lock().unwrap() = vec![at(159)];
        assert!(alerter.evaluate(0).is_empty());
        *source.0.lock().unwrap() = vec![at(160)];
        let fired = alerter.evaluate(30);
        let [AlertEvent::Firing { alert, .. }] = &fired[..] else {
            panic!("{fired:?}")
        };
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.key, "s-t01000-7 pre-commit");
        assert!(
            alert.summary.contains("pending 60 epochs since epoch 100")
                && alert.summary.contains("bafy-replacement"),
            "{}",
            alert.summary
        );
        source.0.lock().unwrap().clear();
        assert!(matches!(
            &alerter.evaluate(60)[..],
            [AlertEvent::Resolved { .. }]
        ));
    }

    /// Issue 16's "a batch stuck": a submission the node keeps refusing
    /// fires after `after` since its first failure, says the last error,
    /// and resolves once it goes out.
    #[test]
    fn a_submission_that_does_not_go_out_fires_until_it_is_sent() {
        use std::sync::Mutex;
        use venus_seal_core::{ActorId, SectorId, SectorNumber};

        #[derive(Debug, Default)]
        struct Unsent(Mutex<Vec<UnsentSubmission>>);
        impl UnsentSubmissions for Unsent {
            fn unsent_submissions(&self) -> Vec<UnsentSubmission> {
                self.0.lock().unwrap().clone()
            }
        }
        let source = Arc::new(Unsent::default());
        let mut alerter = Alerter::new(vec![Box::new(SubmissionUnsent {
            source: source.clone(),
            after: Duration::from_secs(1800),
        })]);
        *source.0.lock().unwrap() = vec![UnsentSubmission {
            sector: SectorId::new(ActorId(1000), SectorNumber(7)),
            kind: "proof",
            since_unix: 1000,
            tries: 9,
            last_error: "mpool push: not enough funds: 0 < 1000".into(),
        }];
        assert!(alerter.evaluate(2799).is_empty(), "29 min 59 s: not yet");
        let fired = alerter.evaluate(2800);
        let [AlertEvent::Firing { alert, .. }] = &fired[..] else {
            panic!("{fired:?}")
        };
        assert_eq!(alert.rule, "submission_unsent");
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.key, "s-t01000-7 proof");
        assert!(
            alert.summary.contains("has not gone out for 30m")
                && alert.summary.contains("9 tries")
                && alert.summary.contains("not enough funds"),
            "{}",
            alert.summary
        );
        assert!(alerter.evaluate(2900).is_empty(), "fired once");
        source.0.lock().unwrap().clear();
        assert!(matches!(
            &alerter.evaluate(3000)[..],
            [AlertEvent::Resolved { .. }]
        ));
    }

    #[test]
    fn a_sector_parked_too_long_fires_until_it_is_resumed() {
        use std::sync::Mutex;
        use venus_seal_core::{ActorId, Failure, FailureLevel, SectorId, SectorNumber};

        #[derive(Debug, Default)]
        struct Parked(Mutex<Vec<ParkedSector>>);
        impl ParkedSectors for Parked {
            fn parked_sectors(&self) -> Vec<ParkedSector> {
                self.0.lock().unwrap().clone()
            }
        }
        let source = Arc::new(Parked::default());
        let mut alerter = Alerter::new(vec![Box::new(SectorParked {
            source: source.clone(),
            after: Duration::from_secs(3600),
        })]);
        *source.0.lock().unwrap() = vec![ParkedSector {
            sector: SectorId::new(ActorId(1000), SectorNumber(3)),
            worker: "worker-1".into(),
            state: "PC1Done".into(),
            failure: Failure::new(FailureLevel::Critical, "the sealed file is gone"),
            since_unix: 10_000,
        }];
        assert!(alerter.evaluate(13_599).is_empty());
        let fired = alerter.evaluate(13_600);
        let [AlertEvent::Firing { alert, .. }] = &fired[..] else {
            panic!("{fired:?}")
        };
        assert_eq!(alert.key, "s-t01000-3");
        assert!(
            alert.summary.contains("PC1Done on worker-1 for 1h")
                && alert.summary.contains("the sealed file is gone"),
            "{}",
            alert.summary
        );
        source.0.lock().unwrap().clear();
        assert!(matches!(
            &alerter.evaluate(13_660)[..],
            [AlertEvent::Resolved { .. }]
        ));
    }

    #[test]
    fn payloads_take_each_receivers_documented_shape() {
        let alert = Alert {
            rule: "worker_silent",
            key: "w1".into(),
            severity: Severity::Warning,
            summary: "worker w1 has not pinged for 5m".into(),
        };
        let events = [
            AlertEvent::Firing {
                alert: alert.clone(),
                since: 1_733_450_000,
            },
            AlertEvent::Resolved {
                alert,
                since: 1_733_450_000,
                until: 1_733_450_600,
            },
        ];
        let json = payload(WebhookFormat::Json, &events);
        assert_eq!(json[0]["status"], "firing");
        assert_eq!(json[0]["since"], "2024-12-06T01:53:20Z");
        assert!(json[0].get("until").is_none());
        assert_eq!(json[1]["status"], "resolved");
        assert_eq!(json[1]["until"], "2024-12-06T02:03:20Z");

        // Slack incoming webhooks: a JSON object with a `text` string.
        let slack = payload(WebhookFormat::Slack, &events);
        let text = slack["text"].as_str().unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("[FIRING] worker_silent (warning): worker w1"));
        assert!(text.lines().nth(1).unwrap().starts_with("[RESOLVED]"));

        // Alertmanager API v2 postableAlerts: labels (alertname required),
        // annotations, startsAt, endsAt on the resolved one.
        let am = payload(WebhookFormat::Alertmanager, &events);
        assert_eq!(am[0]["labels"]["alertname"], "worker_silent");
        assert_eq!(am[0]["labels"]["key"], "w1");
        assert_eq!(
            am[0]["annotations"]["summary"],
            "worker w1 has not pinged for 5m"
        );
        assert_eq!(am[0]["startsAt"], "2024-12-06T01:53:20Z");
        assert!(am[0].get("endsAt").is_none());
        assert_eq!(am[1]["endsAt"], "2024-12-06T02:03:20Z");
        for a in am.as_array().unwrap() {
            for (k, v) in a["labels"].as_object().unwrap() {
                assert!(v.is_string(), "label {k} must be a string");
            }
        }
    }
}
