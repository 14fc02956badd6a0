//! The pages: each handler gathers what the page shows into plain rows of
//! text and renders its template (`templates/<page>.html`).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use venus_seal_core::{ActorId, SectorId, SectorNumber};

use super::auth::{cleared_cookie, session_cookie, Viewer};
use super::data::{self, ago, span, when, SectorLine, StateCounts};
use super::{chart, unix_now, Console};

/// A page that could not be made: 500, with the reason.
#[derive(Debug)]
pub struct PageError(String);

impl<E: std::fmt::Display> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        tracing::warn!(error = %self.0, "console page failed");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page could not be made: {}", self.0),
        )
            .into_response()
    }
}

/// What every page's header shows.
#[derive(Debug)]
pub struct Nav {
    /// The page (its nav link is marked).
    pub page: &'static str,
    /// Who is logged in, and with what.
    pub who: String,
    /// May act.
    pub admin: bool,
    /// The value action forms post back.
    pub csrf: String,
    /// Alerts firing now.
    pub firing: usize,
}

impl Nav {
    pub(super) fn new(page: &'static str, viewer: &Viewer, console: &Console) -> Self {
        let who = match &viewer.name {
            Some(name) => format!("{name} ({})", viewer.permission),
            None => format!("{} token", viewer.permission),
        };
        Self {
            page,
            who,
            admin: viewer.is_admin(),
            csrf: viewer.csrf.clone(),
            firing: console
                .parts()
                .alerts
                .as_ref()
                .map_or(0, |b| b.firing().len()),
        }
    }
}

fn render(t: impl Template) -> Result<Html<String>, PageError> {
    Ok(Html(t.render()?))
}

// ---- login ----

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<String>,
}

/// `GET /login`.
pub async fn login_form() -> Result<Html<String>, PageError> {
    render(LoginPage { error: None })
}

/// The login form's body.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /login`: a valid token becomes the session's cookie.
pub async fn login(State(c): State<Console>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    match c.secret().verify_caller(token) {
        Ok(caller) => {
            tracing::info!(permission = %caller.permission, name = ?caller.name, "console login");
            let mut r = Redirect::to("/").into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(token, c.parts().secure_cookie),
            );
            r
        }
        Err(e) => {
            let page = LoginPage {
                error: Some(e.to_string()),
            };
            match page.render() {
                Ok(html) => (StatusCode::UNAUTHORIZED, Html(html)).into_response(),
                Err(e) => PageError::from(e).into_response(),
            }
        }
    }
}

/// `POST /logout`.
pub async fn logout() -> Response {
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(header::SET_COOKIE, cleared_cookie());
    r
}

// ---- overview ----

/// One thing that is wrong, and what to do about it.
#[derive(Debug)]
pub struct Problem {
    /// `critical` or `warning`.
    pub severity: &'static str,
    /// What is wrong.
    pub what: String,
    /// What to do.
    pub todo: String,
    /// Where to do it.
    pub link: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Nav,
    problems: Vec<Problem>,
    head: String,
    states: Vec<(String, usize)>,
    sectors: usize,
    workers: usize,
    alerts_on: bool,
    evaluated: String,
}

/// `GET /`: is anything wrong, and what to do.
pub async fn overview(State(c): State<Console>, viewer: Viewer) -> Result<Html<String>, PageError> {
    let parts = c.parts();
    let now = unix_now();
    let mut problems = Vec::new();
    if let Some(board) = &parts.alerts {
        for e in board.firing() {
            if e.alert.rule == "post_not_ready" {
                continue; // listed from the scheduler below
            }
            problems.push(Problem {
                severity: e.alert.severity.as_str(),
                what: format!("{} (since {})", e.alert.summary, ago(now, e.since as u64)),
                todo: todo_for(e.alert.rule).into(),
                link: link_for(e.alert.rule, &e.alert.key),
            });
        }
    }
    for p in parts.manager.parked_sectors() {
        let covered = problems.iter().any(|x| x.link == sector_link(p.sector));
        if !covered {
            problems.push(Problem {
                severity: "warning",
                what: format!(
                    "{} is parked in {} on {} ({:?}: {}) since {}",
                    p.sector,
                    p.state,
                    p.worker,
                    p.failure.level,
                    p.failure.message,
                    ago(now, p.since_unix)
                ),
                todo: "fix the cause, then resume it; or abort it".into(),
                link: sector_link(p.sector),
            });
        }
    }
    if let Some(post) = &parts.post {
        for r in post.readiness().iter().filter(|r| !r.is_ready()) {
            problems.push(Problem {
                severity: crate::alerts::readiness_severity(r).as_str(),
                what: crate::alerts::readiness_summary(r),
                todo: "before it opens: move or repair the slow or unreadable sectors' files, or add proving capacity"
                    .into(),
                link: "/proving".into(),
            });
        }
        for o in post.last_outcomes() {
            if let Some(error) = &o.error {
                problems.push(Problem {
                    severity: "critical",
                    what: format!("the last WindowPoSt of {} failed: {error}", o.miner),
                    todo:
                        "check the deadline's files now; it is retried while the deadline is open"
                            .into(),
                    link: "/proving".into(),
                });
            }
        }
    }
    let sectors = c.all_sectors().await?;
    let counts = StateCounts::of(sectors.iter().map(|(i, s)| (i, s)));
    let head = parts
        .chain
        .head()
        .await
        .map_or_else(|e| format!("unreadable: {e}"), |h| h.to_string());
    render(OverviewPage {
        nav: Nav::new("overview", &viewer, &c),
        problems,
        head,
        states: counts
            .rows
            .iter()
            .map(|(s, _, t)| (s.clone(), *t))
            .collect(),
        sectors: sectors.len(),
        workers: parts.pings.list().len(),
        alerts_on: parts.alerts.is_some(),
        evaluated: parts
            .alerts
            .as_ref()
            .and_then(|b| b.evaluated())
            .map_or("never".into(), |t| ago(now, t as u64)),
    })
}

fn todo_for(rule: &str) -> &'static str {
    match rule {
        "worker_silent" => "check the worker process and its network; its sectors wait for it",
        "store_nearly_full" => {
            "free room or add a persist store before sealed sectors have nowhere to go"
        }
        "message_stuck" => {
            "look at the message's fee and the sending wallet; resend if it was dropped"
        }
        "submission_unsent" => {
            "look at the node or messager and the sending wallet: the sector's ticket or seed expires if it never goes out"
        }
        "sector_parked" => "fix the cause, then resume the sector; or abort it",
        "post_not_ready" => "look at the slow or unreadable sectors' storage before the deadline opens; declare what cannot be read faulty",
        "post_not_sent" => "look at the prover (GPU, locks, the proving log) and the node now: the partitions' sectors turn faulty when the deadline closes unproven",
        "wallet_low" => "top up the sending wallet before pre-commits and proofs fail to send",
        _ => "see the alert's text",
    }
}

fn link_for(rule: &str, key: &str) -> String {
    match rule {
        "worker_silent" => "/workers".into(),
        "store_nearly_full" => "/storage".into(),
        "message_stuck" | "submission_unsent" | "wallet_low" => "/chain".into(),
        "sector_parked" => sector_link_of_key(key).unwrap_or_else(|| "/pipeline".into()),
        "post_not_ready" | "post_not_sent" => "/proving".into(),
        _ => "/alerts".into(),
    }
}

/// `s-t01000-7` → `/sectors/1000/7`.
fn sector_link_of_key(key: &str) -> Option<String> {
    let rest = key
        .strip_prefix("s-t0")
        .or_else(|| key.strip_prefix("s-f0"))?;
    let (miner, number) = rest.split_once('-')?;
    let (miner, number): (u64, u64) = (miner.parse().ok()?, number.parse().ok()?);
    Some(format!("/sectors/{miner}/{number}"))
}

pub(super) fn sector_link(id: SectorId) -> String {
    format!("/sectors/{}/{}", id.miner.0, id.number.0)
}

// ---- pipeline ----

/// A sector list line as the page shows it.
#[derive(Debug)]
pub struct LineView {
    id: String,
    link: String,
    state: String,
    worker: String,
    changed: String,
    failure: String,
    abort_requested: bool,
}

impl LineView {
    fn of(l: &SectorLine, now: u64) -> Self {
        Self {
            id: l.id.to_string(),
            link: sector_link(l.id),
            state: l.state.clone(),
            worker: l.worker.clone(),
            changed: ago(now, l.changed),
            failure: l.failure.clone().unwrap_or_default(),
            abort_requested: l.abort_requested,
        }
    }
}

#[derive(Template)]
#[template(path = "pipeline.html")]
struct PipelinePage {
    nav: Nav,
    miners: Vec<String>,
    rows: Vec<(String, Vec<usize>, usize)>,
    throughput: String,
    durations: String,
    slowest: Vec<(String, String, String, usize)>,
    recent: Vec<LineView>,
    total: usize,
}

/// `GET /pipeline`.
pub async fn pipeline(State(c): State<Console>, viewer: Viewer) -> Result<Html<String>, PageError> {
    let now = unix_now();
    let sectors = c.all_sectors().await?;
    let counts = StateCounts::of(sectors.iter().map(|(i, s)| (i, s)));
    let days = data::throughput(sectors.iter().map(|(_, s)| s), now, 14);
    let days: Vec<_> = days.into_iter().map(|(d, n)| (d, n as f64)).collect();
    let slow = data::slowest_states(sectors.iter().map(|(_, s)| s), 8);
    let durations: Vec<_> = slow
        .iter()
        .map(|t| (t.state.clone(), (t.mean_secs * 10.0).round() / 10.0))
        .collect();
    render(PipelinePage {
        nav: Nav::new("pipeline", &viewer, &c),
        miners: counts.miners.iter().map(ToString::to_string).collect(),
        rows: counts.rows.clone(),
        throughput: chart::bars(&days, " sectors", 640, 160),
        durations: chart::bars(&durations, " s mean", 640, 160),
        slowest: slow
            .iter()
            .map(|t| {
                (
                    t.state.clone(),
                    span(t.mean_secs.round() as u64),
                    span(t.max_secs),
                    t.samples,
                )
            })
            .collect(),
        recent: data::recent(sectors.iter().map(|(i, s)| (i, s)), 100)
            .iter()
            .map(|l| LineView::of(l, now))
            .collect(),
        total: sectors.len(),
    })
}

// ---- one sector ----

/// A history row as the page shows it.
#[derive(Debug)]
pub struct EventView {
    at: String,
    worker: String,
    prev: String,
    next: String,
    detail: String,
    level: String,
    failure: String,
}

#[derive(Template)]
#[template(path = "sector.html")]
struct SectorPage {
    nav: Nav,
    id: String,
    link: String,
    state: String,
    facts: Vec<(&'static str, String)>,
    history: Vec<EventView>,
    note: String,
    can_abort: bool,
}

/// `GET /sectors/{miner}/{number}`.
pub async fn sector(
    State(c): State<Console>,
    viewer: Viewer,
    Path((miner, number)): Path<(u64, u64)>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    // What the last action did, handed over once in a cookie.
    let note = super::auth::note_of(&headers).unwrap_or_default();
    let id = SectorId::new(ActorId(miner), SectorNumber(number));
    let Some(status) = c.parts().manager.sector_status(id).await? else {
        return Ok((
            StatusCode::NOT_FOUND,
            format!("{id} is not a sector of this manager"),
        )
            .into_response());
    };
    let mut facts = vec![
        ("proof type", status.proof_type.to_string()),
        (
            "ticket",
            status
                .ticket
                .as_ref()
                .map_or("-".into(), |t| format!("epoch {}", t.epoch)),
        ),
        (
            "deals",
            status
                .deals
                .as_ref()
                .map_or("not asked yet".into(), |d| deals_fact(d)),
        ),
    ];
    facts.push(("pre-commit", message(status.pre_commit.as_ref())));
    facts.push((
        "seed",
        status
            .seed
            .as_ref()
            .map_or("-".into(), |s| format!("epoch {}", s.epoch)),
    ));
    facts.push(("proof", message(status.proof.as_ref())));
    facts.push((
        "persisted in",
        status.persisted_at.clone().unwrap_or_else(|| "-".into()),
    ));
    if let Some(r) = &status.last_report {
        facts.push((
            "worker",
            format!("{} at {}", r.worker.instance, r.worker.location),
        ));
    }
    if let Some(why) = &status.abort_requested {
        facts.push(("abort requested", why.clone()));
    }
    if let Some(why) = &status.aborted {
        facts.push(("aborted", why.clone()));
    }
    let history = status
        .history
        .iter()
        .map(|e| EventView {
            at: when(e.at),
            worker: if e.worker.is_empty() {
                "manager".into()
            } else {
                e.worker.clone()
            },
            prev: e.prev.clone(),
            next: e.next.clone(),
            detail: e.detail.clone(),
            level: e
                .failure
                .as_ref()
                .map_or(String::new(), |f| format!("{:?}", f.level)),
            failure: e
                .failure
                .as_ref()
                .map_or(String::new(), |f| f.message.clone()),
        })
        .collect();
    let mut page = render(SectorPage {
        nav: Nav::new("pipeline", &viewer, &c),
        id: id.to_string(),
        link: sector_link(id),
        state: status.pipeline_state().to_string(),
        facts,
        history,
        note: note.clone(),
        can_abort: !status.finalized && status.aborted.is_none(),
    })?
    .into_response();
    if !note.is_empty() {
        page.headers_mut()
            .insert(header::SET_COOKIE, super::auth::cleared_note());
    }
    Ok(page)
}

/// Where a submission is, in words.
fn message<T>(m: Option<&venus_seal_chain::manager::Submitted<T>>) -> String {
    m.map_or("-".into(), |s| {
        if s.no_message {
            return "recorded, nothing to send (non-interactive PoRep)".into();
        }
        match (&s.message, s.failed, &s.last_error) {
            (Some(m), _, _) => format!("message {}", m.0),
            (None, true, e) => format!("refused: {}", e.as_deref().unwrap_or("")),
            (None, false, Some(e)) => format!("waiting for a batch (last try: {e})"),
            (None, false, None) => "waiting for a batch".into(),
        }
    })
}

// ---- workers ----

/// A worker row.
#[derive(Debug)]
pub struct WorkerView {
    name: String,
    dest: String,
    version: String,
    threads: usize,
    empty: usize,
    running: usize,
    waiting: usize,
    paused: usize,
    errors: usize,
    busy_percent: usize,
    seen: String,
    silent: bool,
    stages: Vec<StageView>,
}

/// One stage of a worker over the last hour of its pings.
#[derive(Debug)]
pub struct StageView {
    name: String,
    /// e.g. `1.5 of 4 running, 0.2 waiting`.
    text: String,
    /// Mean running as a share of the limit (0 for an unlimited stage).
    percent: usize,
}

impl StageView {
    fn of(u: &venus_seal_rpc::manager::pings::StageUtilisation) -> Self {
        let limit = u
            .limit
            .map_or("no limit".to_string(), |l| format!("of {l}"));
        let mut text = format!("{:.1} {limit} running", u.mean_running);
        if u.mean_waiting > 0.0 {
            text.push_str(&format!(", {:.1} waiting", u.mean_waiting));
        }
        StageView {
            name: u.stage.clone(),
            text,
            percent: u.percent().unwrap_or(0.0).round() as usize,
        }
    }
}

#[derive(Template)]
#[template(path = "workers.html")]
struct WorkersPage {
    nav: Nav,
    workers: Vec<WorkerView>,
    silent_after: String,
}

/// `GET /workers`.
pub async fn workers(State(c): State<Console>, viewer: Viewer) -> Result<Html<String>, PageError> {
    let parts = c.parts();
    let now = unix_now();
    let silent_after = parts.worker_silent_after.as_secs();
    let workers = parts
        .pings
        .list()
        .into_iter()
        .map(|p| {
            let s = p.info.summary;
            let seen = p.last_ping.max(0) as u64;
            let stages = parts
                .pings
                .utilisation(&p.info.name, now as i64)
                .iter()
                .map(StageView::of)
                .collect();
            WorkerView {
                stages,
                name: p.info.name,
                dest: p.info.dest,
                version: p.info.version,
                threads: s.threads,
                empty: s.empty,
                running: s.running,
                waiting: s.waiting,
                paused: s.paused,
                errors: s.errors,
                busy_percent: (s.threads - s.empty.min(s.threads)) * 100 / s.threads.max(1),
                seen: ago(now, seen),
                silent: now.saturating_sub(seen) > silent_after,
            }
        })
        .collect();
    render(WorkersPage {
        nav: Nav::new("workers", &viewer, &c),
        workers,
        silent_after: span(silent_after),
    })
}

// ---- chain ----

/// A message in flight, as the chain page shows it.
#[derive(Debug)]
pub struct PendingView {
    id: String,
    link: String,
    kind: &'static str,
    message: String,
    first: String,
    pending: String,
    max_fee: String,
    premium: String,
}

#[derive(Template)]
#[template(path = "chain.html")]
struct ChainPage {
    nav: Nav,
    head: String,
    pending: Vec<PendingView>,
    waiting: Vec<(String, String, &'static str, String)>,
    deals: String,
    balances: Vec<(String, String, bool)>,
}

/// `GET /chain`.
pub async fn chain(State(c): State<Console>, viewer: Viewer) -> Result<Html<String>, PageError> {
    let parts = c.parts();
    let head = parts.chain.head().await.ok();
    let pending = parts
        .manager
        .pending_messages()
        .into_iter()
        .map(|m| {
            let now = head.unwrap_or(m.head);
            let (max_fee, premium) = m.fee.map_or_else(
                || ("not priced yet".to_string(), "-".to_string()),
                |f| {
                    (
                        format!("{} FIL", crate::alerts::fil(f.max())),
                        format!("{} attoFIL/gas", f.premium),
                    )
                },
            );
            PendingView {
                id: m.sector.to_string(),
                link: sector_link(m.sector),
                kind: m.kind,
                message: m.message.0.clone(),
                first: m.first_sent.to_string(),
                pending: (now - m.first_sent).max(0).to_string(),
                max_fee,
                premium,
            }
        })
        .collect();
    let mut waiting = Vec::new();
    for (id, s) in parts.manager.store().queued().await? {
        let s = s.value;
        let slots = [
            (
                "pre-commit",
                s.pre_commit
                    .as_ref()
                    .map(|p| (p.is_queued(), p.last_error.clone())),
            ),
            (
                "proof",
                s.proof
                    .as_ref()
                    .map(|p| (p.is_queued(), p.last_error.clone())),
            ),
        ];
        for (kind, slot) in slots {
            if let Some((true, error)) = slot {
                waiting.push((
                    id.to_string(),
                    sector_link(id),
                    kind,
                    error.unwrap_or_default(),
                ));
            }
        }
    }
    let deals = parts
        .manager
        .queued_deals()
        .await
        .map_or_else(|e| format!("unreadable: {e}"), |n| n.to_string());
    render(ChainPage {
        nav: Nav::new("chain", &viewer, &c),
        head: head.map_or("unreadable".into(), |h| h.to_string()),
        pending,
        waiting,
        deals,
        balances: parts
            .balances
            .list()
            .into_iter()
            .map(|(address, read)| match read {
                Ok(b) => (address, format!("{} FIL", crate::alerts::fil(b)), false),
                Err(e) => (address, format!("unreadable: {e}"), true),
            })
            .collect(),
    })
}

// ---- proving ----

/// A deadline row.
#[derive(Debug)]
pub struct DeadlineView {
    index: u64,
    open: bool,
    partitions: usize,
    sectors: usize,
    faulty: usize,
    recovering: usize,
}

/// One readiness check as the page shows it.
#[derive(Debug)]
pub struct ReadinessView {
    deadline: u64,
    opens: i64,
    checked: String,
    read: String,
    predicted: String,
    allowed: String,
    slow: String,
    unreadable: String,
    ready: bool,
}

impl ReadinessView {
    fn of(r: &venus_seal_chain::manager::Readiness, now: u64) -> Self {
        let secs = crate::alerts::seconds;
        Self {
            deadline: r.deadline,
            opens: r.opens,
            checked: format!("epoch {} ({})", r.checked_at_epoch, ago(now, r.checked_at)),
            read: format!("{} of {}", r.reads.len(), r.sectors),
            predicted: format!(
                "{}{}",
                secs(r.predicted),
                if r.from_history {
                    ""
                } else {
                    " (reads only: no round yet)"
                }
            ),
            allowed: secs(r.allowed),
            slow: crate::alerts::slow_reads(r),
            unreadable: crate::alerts::unreadable_reads(r),
            ready: r.is_ready(),
        }
    }
}

/// One miner's proving view.
#[derive(Debug)]
pub struct MinerProving {
    miner: String,
    id: u64,
    error: String,
    current: String,
    deadlines: Vec<DeadlineView>,
    last: String,
    readiness: Vec<ReadinessView>,
}

#[derive(Template)]
#[template(path = "proving.html")]
struct ProvingPage {
    nav: Nav,
    on: bool,
    miners: Vec<MinerProving>,
}

/// `GET /proving`.
pub async fn proving(State(c): State<Console>, viewer: Viewer) -> Result<Html<String>, PageError> {
    let parts = c.parts();
    let now = unix_now();
    let outcomes = parts
        .post
        .as_ref()
        .map(|p| p.last_outcomes())
        .unwrap_or_default();
    let readiness = parts
        .post
        .as_ref()
        .map(|p| p.readiness())
        .unwrap_or_default();
    let mut miners = Vec::new();
    for miner in &parts.miners {
        let mut view = MinerProving {
            readiness: readiness
                .iter()
                .filter(|r| r.miner == *miner)
                .map(|r| ReadinessView::of(r, now))
                .collect(),
            miner: miner.to_string(),
            id: miner.0,
            error: String::new(),
            current: String::new(),
            deadlines: Vec::new(),
            last: outcomes.iter().find(|o| o.miner == *miner).map_or(
                "none yet (since this manager started)".into(),
                |o| {
                    let dl = o.deadline.map_or("?".into(), |d| d.to_string());
                    match &o.error {
                        Some(e) => format!(
                            "deadline {dl}, {}: FAILED after {}: {e}",
                            ago(now, o.at),
                            span(o.took.as_secs())
                        ),
                        None => format!(
                            "deadline {dl}, {}: {} partition(s), {} proven, {} skipped, took {}",
                            ago(now, o.at),
                            o.partitions,
                            o.proven,
                            o.skipped,
                            span(o.took.as_secs())
                        ),
                    }
                },
            ),
        };
        match parts.chain.proving_deadline(*miner).await {
            Err(e) => view.error = e.to_string(),
            Ok(dl) => {
                let sent = parts
                    .post
                    .as_ref()
                    .and_then(|p| p.progress().into_iter().find(|p| p.miner == *miner))
                    .filter(|p| p.deadline.index == dl.index && p.deadline.open == dl.open)
                    .map_or(String::new(), |p| {
                        format!("; {} of {} partitions sent", p.sent, p.due)
                    });
                view.current = format!(
                    "deadline {} of {} is open (epochs {} to {}; head {}){sent}",
                    dl.index, dl.deadlines, dl.open, dl.close, dl.current_epoch
                );
                match c.deadline_counts(*miner, dl.deadlines).await {
                    Ok(counts) => {
                        view.deadlines = (0..)
                            .zip(counts.iter())
                            .map(|(index, n)| DeadlineView {
                                index,
                                open: index == dl.index,
                                partitions: n.partitions,
                                sectors: n.sectors,
                                faulty: n.faulty,
                                recovering: n.recovering,
                            })
                            .collect()
                    }
                    Err(e) => view.error = e,
                }
            }
        }
        miners.push(view);
    }
    render(ProvingPage {
        nav: Nav::new("proving", &viewer, &c),
        on: parts.post.is_some(),
        miners,
    })
}

// ---- storage ----

#[derive(Template)]
#[template(path = "storage.html")]
struct StoragePage {
    nav: Nav,
    stores: Vec<StoreView>,
}

/// A persist store row.
#[derive(Debug)]
pub struct StoreView {
    name: String,
    path: String,
    read_only: bool,
    weight: u64,
    free: String,
    reserved: String,
    room: String,
    bad: bool,
}

/// `GET /storage`.
pub async fn storage(State(c): State<Console>, viewer: Viewer) -> Result<Html<String>, PageError> {
    let stores = c.parts().stores.clone();
    let usage = tokio::task::spawn_blocking({
        let stores = stores.clone();
        move || stores.usage()
    })
    .await?;
    let gib = |bytes: u64| format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64);
    let rows = stores
        .stores()
        .iter()
        .zip(usage)
        .map(|(s, u)| {
            let (free, room, bad) = match &u.free {
                Ok(bytes) => (
                    gib(*bytes),
                    gib(bytes.saturating_sub(u.reserved_bytes)),
                    false,
                ),
                Err(e) => (format!("unreadable: {e}"), "-".into(), true),
            };
            StoreView {
                name: s.name.clone(),
                path: s.path.display().to_string(),
                read_only: s.read_only,
                weight: s.weight,
                free,
                reserved: format!("{} ({} sectors)", gib(u.reserved_bytes), u.reserved_sectors),
                room,
                bad,
            }
        })
        .collect();
    render(StoragePage {
        nav: Nav::new("storage", &viewer, &c),
        stores: rows,
    })
}

// ---- alerts ----

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    nav: Nav,
    on: bool,
    firing: Vec<(&'static str, &'static str, String, String, String)>,
    resolved: Vec<(&'static str, String, String, String)>,
}

/// `GET /alerts`.
pub async fn alerts(State(c): State<Console>, viewer: Viewer) -> Result<Html<String>, PageError> {
    let now = unix_now();
    let board = c.parts().alerts.clone();
    let (firing, resolved) = match &board {
        None => (Vec::new(), Vec::new()),
        Some(b) => (
            b.firing()
                .into_iter()
                .map(|e| {
                    (
                        e.alert.severity.as_str(),
                        e.alert.rule,
                        e.alert.summary,
                        ago(now, e.since as u64),
                        link_for(e.alert.rule, &e.alert.key),
                    )
                })
                .collect(),
            b.resolved()
                .into_iter()
                .map(|e| {
                    (
                        e.alert.rule,
                        e.alert.summary,
                        when(e.since as u64),
                        e.until.map_or("-".into(), |u| ago(now, u as u64)),
                    )
                })
                .collect(),
        ),
    };
    render(AlertsPage {
        nav: Nav::new("alerts", &viewer, &c),
        on: board.is_some(),
        firing,
        resolved,
    })
}

/// A sector's deals for its page: each by its deal id or, for a direct
/// deal, its allocation; the verified ones (claiming a FIL+ allocation)
/// said so, since they price the pledge and weigh ten times in power.
fn deals_fact(deals: &[venus_seal_core::manager::DealInfo]) -> String {
    if deals.is_empty() {
        return "none (committed capacity)".into();
    }
    let each: Vec<String> = deals
        .iter()
        .map(|d| {
            let size = d.piece.size.0;
            match (d.id, d.allocation) {
                (0, Some(a)) => format!("direct deal, {a} ({size} B, verified)"),
                (0, None) => format!("piece {} ({size} B)", d.piece.cid),
                (id, Some(a)) => format!("deal {id}, {a} ({size} B, verified)"),
                (id, None) => format!("deal {id} ({size} B)"),
            }
        })
        .collect();
    format!("{}: {}", deals.len(), each.join("; "))
}

#[cfg(test)]
mod tests {
    /// Every rule the alerts raise (the `rule: "…"` names in
    /// src/alerts.rs) gets its own advice and page on the overview.
    #[test]
    fn every_alert_rule_has_advice_and_a_page() {
        let source = include_str!("../alerts.rs");
        let rules: std::collections::BTreeSet<&str> = source
            .split("rule: \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|name| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
            .collect();
        assert!(rules.len() >= 8, "{rules:?}");
        for rule in rules {
            assert_ne!(super::todo_for(rule), "see the alert's text", "{rule}");
            assert_ne!(super::link_for(rule, "k"), "/alerts", "{rule}");
        }
    }

    /// The sector page names each deal, a direct one by its allocation,
    /// and says which are verified.
    #[test]
    fn a_sectors_deals_name_their_allocations() {
        use venus_seal_core::manager::{DealInfo, VerifiedAllocationKey};
        use venus_seal_core::{ActorId, CommD, PaddedPieceSize, PieceInfo};
        let piece = PieceInfo {
            size: PaddedPieceSize(1024),
            cid: CommD([3; 32]),
        };
        let key = VerifiedAllocationKey {
            client: ActorId(1001),
            id: 42,
        };
        assert_eq!(super::deals_fact(&[]), "none (committed capacity)");
        assert_eq!(
            super::deals_fact(&[
                DealInfo::new(7, piece),
                DealInfo::new(0, piece).with_allocation(key)
            ]),
            "2: deal 7 (1024 B); direct deal, allocation 42 of client f01001 (1024 B, verified)"
        );
    }
}
