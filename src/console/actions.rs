//! What an admin can do from the console: pause, resume, abort and resend
//! a sector, and check a deadline's files. Every action is a POST with the
//! form's `csrf` value (the page asks for a confirmation first), and each
//! is logged with who asked.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use venus_seal_core::{ActorId, SectorId, SectorNumber};
use venus_seal_rpc::worker_admin::AdminClient;

use super::auth::Viewer;
use super::data::span;
use super::pages::{sector_link, Nav, PageError};
use super::Console;

/// An action form's body.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /sectors/{miner}/{number}/{pause|resume|abort|resend}`: does it,
/// then back to the sector's page with what happened.
pub async fn sector(
    State(c): State<Console>,
    viewer: Viewer,
    Path((miner, number, action)): Path<(u64, u64, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Err(refused) = viewer.may_act(&form.csrf) {
        return *refused;
    }
    let id = SectorId::new(ActorId(miner), SectorNumber(number));
    let who = viewer.name.as_deref().unwrap_or("an admin token");
    tracing::info!(sector = %id, %action, by = who, "console action");
    let outcome = match action.as_str() {
        "abort" => {
            let reason = form.reason.trim();
            if reason.is_empty() {
                Err("say why the sector is aborted (the reason is kept with it)".to_string())
            } else {
                c.parts()
                    .manager
                    .request_abort(id, format!("{reason} (console, {who})"))
                    .await
                    .map(|()| "abort requested: the worker gives it up at its next report".into())
                    .map_err(|e| e.to_string())
            }
        }
        "resend" => c
            .parts()
            .manager
            .force_resend(id)
            .await
            .map(|what| format!("the {what} goes out again in the next batch"))
            .map_err(|e| e.to_string()),
        "pause" | "resume" => {
            let done = on_worker(&c, id, &action).await;
            if done.is_ok() {
                // Who asked; the worker's own report of the pause or
                // resume follows in the history.
                let step = if action == "pause" {
                    "PauseRequested"
                } else {
                    "ResumeRequested"
                };
                let detail = format!("by the console ({who})");
                if let Err(e) = c.parts().manager.note_step(id, step, detail).await {
                    tracing::warn!(sector = %id, error = %e, "the pause or resume is not in the history");
                }
            }
            done
        }
        other => {
            return (StatusCode::NOT_FOUND, format!("no action {other:?}")).into_response();
        }
    };
    let note = match outcome {
        Ok(done) => done,
        Err(why) => {
            tracing::warn!(sector = %id, %action, error = %why, "console action refused");
            format!("{action} failed: {why}")
        }
    };
    let mut r = Redirect::to(&sector_link(id)).into_response();
    r.headers_mut().insert(
        axum::http::header::SET_COOKIE,
        super::auth::note_cookie(&note),
    );
    r
}

/// How long a worker's admin API may take to answer the console.
const WORKER_CALL: std::time::Duration = std::time::Duration::from_secs(5);

/// Pauses or resumes `id` on the worker that holds it: the worker its last
/// report names first, then every other worker that pinged. Pings need a
/// write token (a worker's), so the admin token only goes to addresses a
/// worker gave; sign it with the workers' admin secret, not the manager's
/// (README, "The operator console").
async fn on_worker(c: &Console, id: SectorId, action: &str) -> Result<String, String> {
    let parts = c.parts();
    let token = parts.worker_token.as_deref().ok_or(
        "the console has no token for the workers' admin APIs ([console] worker_token_file)",
    )?;
    let named = parts
        .manager
        .sector_status(id)
        .await
        .map_err(|e| e.to_string())?
        .and_then(|s| s.last_report.map(|r| r.worker.instance));
    let mut workers = parts.pings.list();
    workers.sort_by_key(|w| Some(&w.info.name) != named.as_ref());
    if workers.is_empty() {
        return Err("no worker has pinged this manager yet".into());
    }
    let wanted = id.to_string();
    let mut errors = Vec::new();
    for w in workers {
        let client = AdminClient::new(format!("http://{}", w.info.dest), Some(token))
            .map_err(|e| e.to_string())?;
        // A dead worker costs the operator seconds, not a minute each.
        let listed = tokio::time::timeout(WORKER_CALL, client.list()).await;
        let list = match listed {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => {
                errors.push(format!("{}: {e}", w.info.name));
                continue;
            }
            Err(_) => {
                errors.push(format!("{}: no answer within {WORKER_CALL:?}", w.info.name));
                continue;
            }
        };
        let Some(job) = list.iter().find(|s| s.sector.as_deref() == Some(&wanted)) else {
            let held: Vec<_> = list.iter().filter_map(|s| s.sector.as_deref()).collect();
            errors.push(format!("{} holds [{}]", w.info.name, held.join(", ")));
            continue;
        };
        let done = match action {
            "pause" => client.pause(job.job).await,
            _ => client.resume(job.job, None).await,
        };
        return done
            .map(|()| format!("{action}d on {} (job {})", w.info.name, job.job))
            .map_err(|e| format!("{}: {e}", w.info.name));
    }
    Err(format!(
        "no worker that pinged holds {id} ({})",
        errors.join("; ")
    ))
}

/// The check form's body.
#[derive(Debug, Deserialize)]
pub struct CheckForm {
    csrf: String,
    miner: u64,
    deadline: u64,
}

#[derive(Template)]
#[template(path = "check.html")]
struct CheckPage {
    nav: Nav,
    miner: String,
    deadline: u64,
    error: String,
    partitions: usize,
    sectors: usize,
    took: String,
    bad: Vec<(u64, String)>,
}

/// `POST /proving/check`: a dry run of a deadline's files.
pub async fn check_deadline(
    State(c): State<Console>,
    viewer: Viewer,
    Form(form): Form<CheckForm>,
) -> Result<Response, PageError> {
    if let Err(refused) = viewer.may_act(&form.csrf) {
        return Ok(*refused);
    }
    let Some(post) = &c.parts().post else {
        return Ok((
            StatusCode::CONFLICT,
            "WindowPoSt is off ([proving] is not configured): nothing to check with",
        )
            .into_response());
    };
    let miner = ActorId(form.miner);
    let parts = c.parts();
    if !parts.miners.contains(&miner) {
        return Ok((
            StatusCode::NOT_FOUND,
            format!("{miner} is not a miner of this manager"),
        )
            .into_response());
    }
    // The check reads through the proofs' own executors, limits and
    // locks: never beside the proof of the open deadline, one at a time.
    match parts.chain.proving_deadline(miner).await {
        Ok(dl) if dl.index == form.deadline => {
            return Ok((
                StatusCode::CONFLICT,
                format!(
                    "deadline {} of {miner} is open and being proven now: check it after it closes (epoch {})",
                    dl.index, dl.close
                ),
            )
                .into_response())
        }
        Ok(_) => {}
        Err(e) => return Err(PageError::from(e)),
    }
    let Ok(_one_at_a_time) = c.check_running().try_lock() else {
        return Ok((
            StatusCode::CONFLICT,
            "another deadline check is running: try again when it is done",
        )
            .into_response());
    };
    let mut page = CheckPage {
        nav: Nav::new("proving", &viewer, &c),
        miner: miner.to_string(),
        deadline: form.deadline,
        error: String::new(),
        partitions: 0,
        sectors: 0,
        took: String::new(),
        bad: Vec::new(),
    };
    match post.check_deadline(miner, form.deadline).await {
        Ok(check) => {
            page.partitions = check.partitions;
            page.sectors = check.sectors;
            page.took = span(check.took.as_secs());
            page.bad = check
                .bad
                .into_iter()
                .map(|b| (b.number.0, b.reason))
                .collect();
        }
        Err(e) => page.error = e.to_string(),
    }
    Ok(axum::response::Html(page.render()?).into_response())
}
