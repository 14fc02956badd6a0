//! [`RemoteExecutor`]: the submitting side of the remote proving service
//! ([`RemoteC2Executor`] for C2).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use venus_seal_core::executor::caller_gone;
use venus_seal_core::stage::{Stage, C2};
use venus_seal_core::{Executor, FailureLevel, ProofVerifier, SealVerifyInfo, StageError};

use crate::http_body::{error_text, read_limited};

use super::api::{submit_path, task_id, ErrorBody, RemoteStage, TaskError, TaskState, TaskStatus};

/// The largest successful answer read (a task status or an output: a few
/// KiB); a larger one is a bad answer, not a reason to buffer it.
const ANSWER_LIMIT: usize = 16 << 20;

/// Reads what a proof of a task is verified against (CommR, CommD,
/// ticket, seed); the `proof` field of the answer is ignored.
pub type VerifyInfoFn = dyn Fn(&C2) -> Result<SealVerifyInfo, String> + Send + Sync;

/// Checks an output of the service against its task: `Ok(false)` if it is
/// not a valid proof, `Err` if it cannot be checked. Run on a blocking
/// thread.
pub type OutputCheck<S> = dyn Fn(&S, &<S as Stage>::Output) -> Result<bool, String> + Send + Sync;

/// The C2 executor's former name for [`RemoteConfig`].
pub type RemoteC2Config = RemoteConfig;

/// The remote executor of C2.
pub type RemoteC2Executor = RemoteExecutor<C2>;

/// Timing of a [`RemoteExecutor`].
#[derive(Clone, Debug)]
pub struct RemoteConfig {
    /// The first wait between two polls of a task's state. Default 500 ms.
    pub poll_initial: Duration,
    /// Polls back off (doubling) up to this wait. Default 15 s.
    pub poll_max: Duration,
    /// The limit for one HTTP request (a submission uploads the C1
    /// output). Default 120 s.
    pub request_timeout: Duration,
    /// Failed polls in a row (service unreachable) tolerated before the
    /// stage fails with a Temporary error. Default 5.
    pub max_poll_errors: u32,
    /// Sends submissions with `Content-Encoding: zstd` (level 3; a C1
    /// output shrinks several times). Default true.
    pub compress: bool,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        Self {
            poll_initial: Duration::from_millis(500),
            poll_max: Duration::from_secs(15),
            request_timeout: Duration::from_secs(120),
            max_poll_errors: 5,
            compress: true,
        }
    }
}

/// Runs stage `S` (C2, snap_prove, window_post, winning_post: any
/// [`RemoteStage`]) on a remote [`C2Service`](super::C2Service): submits
/// the task to `/v1/<stage>`, polls its state with backoff, fetches the
/// output and verifies it with a [`ProofVerifier`] before returning it
/// ([`RemoteStage::verify`]: the seal proof, the update proof, the PoSt
/// proofs against the sectors proven).
///
/// **Restarts.** The executor keeps no state. The service names a task by
/// the work itself ([`task_id`]: a C2's miner, sector number and digest of
/// its C1 output) and a
/// submission of known work returns the existing task, so a worker that
/// restarts mid-C2 and runs the stage again finds the same task, still
/// running or already done, and its proof: nothing is proven twice. A task
/// that failed is queued again by the resubmission (the engine retries).
///
/// **Cancellation.** When the engine gives the stage up (the sector is
/// paused or aborted, the worker shuts down: see
/// [`caller_gone`]), the executor cancels the task on the service
/// (`DELETE /v1/c2/{id}`, best effort, within [`CANCEL_TIMEOUT`]) and
/// returns at once, so the worker's `c2` permit is released then. That is
/// safe because the permit only counts C2s proven on the worker's own
/// machine: the service proves on its own GPUs, which its prover slots
/// guard (a run it gives up keeps its slot until the proof has really
/// stopped), and a remote C2 never held the worker's GPU. A service run
/// on the worker's own machine is still guarded by those slots, not by
/// the worker's permit.
///
/// **Verification.** The core [`C2`] task carries no commitments or
/// randomness; by default they are read from the C1 output as
/// filecoin-proofs writes it
/// ([`verify_info_from_c1_output`](super::verify_info_from_c1_output)).
/// Another prover format sets its own reader with
/// [`with_verify_info`](RemoteExecutor::<C2>::with_verify_info), any stage
/// its own check with [`with_check`](Self::with_check).
///
/// **Errors.** Service unreachable, 5xx, a lost task → Temporary; token
/// refused (401/403) → Critical; the task refused (400, 413) or a proof
/// that does not verify → Permanent; a task that failed on the service →
/// the level the service reported, Abort capped at Permanent (a remote
/// process may park a sector, never have it deleted).
///
/// ```no_run
/// use std::sync::Arc;
/// use venus_seal_backends::remote_c2::RemoteC2Executor;
/// use venus_seal_core::{DynExecutor, ProofVerifier, stage::C2};
/// // `verifier`: in production `venus_seal_backends::LocalProofVerifier`
/// // (feature `proofs`); the client itself needs no proving crate.
/// fn remote_c2(verifier: Arc<dyn ProofVerifier>) -> DynExecutor<C2> {
///     Arc::new(RemoteC2Executor::new(
///         "http://c2.example:3456",
///         "eyJhbGciOi…",
///         verifier,
///     ))
/// }
/// ```
pub struct RemoteExecutor<S: RemoteStage> {
    http: reqwest::Client,
    /// The service's nodes (`url`, then [`with_failover`](Self::with_failover)'s).
    bases: Arc<Vec<String>>,
    /// The node asked now (an index into `bases`, modulo its length).
    current: Arc<AtomicUsize>,
    token: String,
    verifier: Arc<dyn ProofVerifier>,
    check: Option<Arc<OutputCheck<S>>>,
    config: RemoteConfig,
}

impl<S: RemoteStage> Clone for RemoteExecutor<S> {
    fn clone(&self) -> Self {
        Self {
            http: self.http.clone(),
            bases: self.bases.clone(),
            current: self.current.clone(),
            token: self.token.clone(),
            verifier: self.verifier.clone(),
            check: self.check.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S: RemoteStage> std::fmt::Debug for RemoteExecutor<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteExecutor")
            .field("stage", &S::NAME)
            .field("urls", &self.bases)
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: impl std::fmt::Display) -> StageError {
    StageError::Unavailable(what.to_string())
}

fn refused(what: String) -> StageError {
    StageError::io(
        what,
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, "token refused"),
    )
}

/// The stage error for a task the service reports failed, at its level,
/// except that Abort is capped at Permanent: an abort deletes the sector
/// (after pre-commit it also burns the deposit), a decision for the
/// worker and the manager, which know its state on chain. A remote
/// service, another host answering over the network, may park a sector
/// but never have it deleted; the operator aborts it if they agree.
fn failed(stage: &str, id: &str, e: TaskError) -> StageError {
    let msg = format!("{stage} task {id} failed on the service: {}", e.message);
    match e.level {
        FailureLevel::Temporary => StageError::Unavailable(msg),
        FailureLevel::Critical => StageError::io(msg, std::io::Error::other("on the remote service")),
        FailureLevel::Abort => StageError::Computation(format!(
            "{msg} (the service asked to abort the sector; parked instead: abort it by hand if you agree)"
        )),
        _ => StageError::Computation(msg),
    }
}

impl RemoteExecutor<C2> {
    /// Reads the verification info of a task with `f` instead of from a
    /// filecoin-proofs C1 output.
    pub fn with_verify_info(
        self,
        f: impl Fn(&C2) -> Result<SealVerifyInfo, String> + Send + Sync + 'static,
    ) -> Self {
        let verifier = self.verifier.clone();
        self.with_check(move |task, proof| {
            let mut info = f(task)?;
            info.proof = proof.proof.clone();
            verifier.verify_seal(&info).map_err(|e| e.to_string())
        })
    }
}

impl<S: RemoteStage> RemoteExecutor<S> {
    /// An executor for the service at `url` (`http://host:port`), sending
    /// `token` (a JWT with write permission, from the service's `token`
    /// command) and verifying outputs with `verifier`.
    pub fn new(url: &str, token: &str, verifier: Arc<dyn ProofVerifier>) -> Self {
        let config = RemoteConfig::default();
        Self {
            http: client(&config),
            bases: Arc::new(vec![url.trim_end_matches('/').to_string()]),
            current: Arc::new(AtomicUsize::new(0)),
            token: token.trim().to_string(),
            verifier,
            check: None,
            config,
        }
    }

    /// Checks each output with `check` instead of [`RemoteStage::verify`].
    pub fn with_check(
        mut self,
        check: impl Fn(&S, &S::Output) -> Result<bool, String> + Send + Sync + 'static,
    ) -> Self {
        self.check = Some(Arc::new(check));
        self
    }

    /// Sets the polling and timeout knobs.
    pub fn with_config(mut self, config: RemoteConfig) -> Self {
        self.http = client(&config);
        self.config = config;
        self
    }

    /// Also asks these nodes of the same service (sharing its queue, e.g.
    /// on PostgreSQL) when the one asked now cannot be reached or answers
    /// 5xx: a task submitted to a node that then dies is polled, and its
    /// proof fetched, through another, which takes the task over once the
    /// dead node's heartbeat is stale. Tried in order, round robin.
    pub fn with_failover<U: AsRef<str>>(mut self, urls: impl IntoIterator<Item = U>) -> Self {
        let bases = Arc::make_mut(&mut self.bases);
        bases.extend(
            urls.into_iter()
                .map(|u| u.as_ref().trim_end_matches('/').to_string()),
        );
        self
    }

    /// The node asked now: a counter, the node is `bases[n % len]`.
    fn node(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    /// The URL of node `n`.
    fn base_of(&self, n: usize) -> &str {
        &self.bases[n % self.bases.len()]
    }

    /// The node asked now's URL.
    fn base(&self) -> &str {
        self.base_of(self.node())
    }

    /// Asks the node after `from` from now on, unless another call already
    /// moved on from it (concurrent calls failing on one dead node move
    /// once); no-op with one node.
    fn fail_over(&self, from: usize, why: &StageError) {
        if self.bases.len() > 1
            && self
                .current
                .compare_exchange(from, from + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(stage = S::NAME, from = self.base_of(from), to = self.base_of(from + 1), error = %why, "failing over to another node of the remote service");
        }
    }

    fn path_of(&self, n: usize) -> String {
        format!("{}{}", self.base_of(n), submit_path::<S>())
    }

    /// Submits `task` (idempotent) and returns its status on the service.
    pub async fn submit(&self, task: &S) -> Result<TaskStatus, StageError> {
        self.submit_to(self.node(), encode(task)?).await
    }

    async fn submit_to(&self, n: usize, body: Vec<u8>) -> Result<TaskStatus, StageError> {
        let mut req = self
            .http
            .post(self.path_of(n))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        let body = if self.config.compress {
            req = req.header(reqwest::header::CONTENT_ENCODING, "zstd");
            tokio::task::spawn_blocking(move || zstd::bulk::compress(&body, 3))
                .await
                .map_err(|e| StageError::Computation(format!("zstd panicked: {e}")))?
                .map_err(|e| StageError::io("compressing the task", e))?
        } else {
            body
        };
        let resp = req.body(body).send().await;
        self.answer(n, resp, "submit").await?.ok_or_else(|| {
            unavailable(format!(
                "the service at {} does not prove {} ({} answers 404)",
                self.base_of(n),
                S::NAME,
                submit_path::<S>()
            ))
        })
    }

    /// The task's status; `None` if the service does not know it.
    pub async fn status(&self, id: &str) -> Result<Option<TaskStatus>, StageError> {
        self.status_at(self.node(), id).await
    }

    async fn status_at(&self, n: usize, id: &str) -> Result<Option<TaskStatus>, StageError> {
        let resp = self
            .http
            .get(format!("{}/{id}", self.path_of(n)))
            .bearer_auth(&self.token)
            .send()
            .await;
        self.answer(n, resp, "poll").await
    }

    /// Cancels the task on the service (it fails Temporary; a
    /// resubmission queues it again): its status afterwards, `None` if no
    /// node knows it. Asks each node in turn until one answers with the
    /// task (nodes share the queue: one answer is enough).
    pub async fn cancel(&self, id: &str) -> Result<Option<TaskStatus>, StageError> {
        let first = self.node();
        let mut last = Ok(None);
        for n in first..first + self.bases.len() {
            let resp = self
                .http
                .delete(format!("{}/{id}", self.path_of(n)))
                .bearer_auth(&self.token)
                .timeout(CANCEL_TIMEOUT.min(self.config.request_timeout))
                .send()
                .await;
            last = self.answer(n, resp, "cancel").await;
            if matches!(last, Ok(Some(_))) {
                break;
            }
        }
        last
    }

    /// Tells the service that the output of done task `id` does not
    /// verify: the task is forgotten, so that the same work submitted
    /// again is proven again (not answered with the same bad output until
    /// the retention ends). Best effort; `true` if a node forgot it.
    pub async fn reject(&self, id: &str) -> bool {
        let first = self.node();
        for n in first..first + self.bases.len() {
            let resp = self
                .http
                .post(format!("{}/{id}/reject", self.path_of(n)))
                .bearer_auth(&self.token)
                .timeout(CANCEL_TIMEOUT.min(self.config.request_timeout))
                .send()
                .await;
            if let Ok(Some(_)) = self.answer::<TaskStatus>(n, resp, "reject").await {
                return true;
            }
        }
        false
    }

    /// The output of a task that is done (unverified).
    pub async fn fetch_proof(&self, id: &str) -> Result<S::Output, StageError> {
        self.fetch_at(self.node(), id).await
    }

    async fn fetch_at(&self, n: usize, id: &str) -> Result<S::Output, StageError> {
        let resp = self
            .http
            .get(format!("{}/{id}/proof", self.path_of(n)))
            .bearer_auth(&self.token)
            .send()
            .await;
        self.answer(n, resp, "fetch the output")
            .await?
            .ok_or_else(|| unavailable(format!("{} task {id} vanished from the service", S::NAME)))
    }

    /// Classifies node `n`'s HTTP answer; `Ok(None)` for 404.
    async fn answer<T: DeserializeOwned>(
        &self,
        n: usize,
        resp: Result<reqwest::Response, reqwest::Error>,
        what: &str,
    ) -> Result<Option<T>, StageError> {
        let base = self.base_of(n);
        let resp = resp.map_err(|e| {
            unavailable(format!(
                "{} service at {base} unreachable ({what}): {e}",
                S::NAME
            ))
        })?;
        let status = resp.status();
        if status.is_success() {
            let mut resp = resp;
            let bad = |e: String| {
                unavailable(format!(
                    "{} service at {base}: bad answer ({what}): {e}",
                    S::NAME
                ))
            };
            let (body, truncated) = read_limited(&mut resp, ANSWER_LIMIT)
                .await
                .map_err(|e| bad(e.to_string()))?;
            if truncated {
                return Err(bad(format!("the answer is over {ANSWER_LIMIT} bytes")));
            }
            return serde_json::from_slice::<T>(&body)
                .map(Some)
                .map_err(|e| bad(e.to_string()));
        }
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let text = error_text(resp).await;
        let reason = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => body.error,
            Err(_) => text,
        };
        let msg = format!("{} service at {base} ({what}): {status}: {reason}", S::NAME);
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => refused(msg),
            StatusCode::REQUEST_TIMEOUT | StatusCode::CONFLICT | StatusCode::TOO_MANY_REQUESTS => {
                unavailable(msg)
            }
            s if s.is_client_error() => StageError::Computation(msg),
            _ => unavailable(msg),
        })
    }

    /// Submits `body` to the node asked now, failing over to each other
    /// node once while they cannot be reached.
    async fn submit_anywhere(&self, body: &[u8]) -> Result<TaskStatus, StageError> {
        let mut tries = self.bases.len();
        loop {
            let n = self.node();
            match self.submit_to(n, body.to_vec()).await {
                Err(e @ StageError::Unavailable(_)) if tries > 1 => {
                    tries -= 1;
                    self.fail_over(n, &e);
                }
                other => return other,
            }
        }
    }

    /// Submits and polls until the task is done or failed; fetches the
    /// output of a done task (through another node if the one asked cannot
    /// answer).
    async fn prove(&self, task: &S) -> Result<S::Output, StageError> {
        let body = encode(task)?;
        'submit: loop {
            let mut status = self.submit_anywhere(&body).await?;
            let id = status.id.clone();
            tracing::debug!(task = %id, stage = S::NAME, state = %status.state, "task submitted");
            let mut delay = self.config.poll_initial;
            let mut errors = 0;
            loop {
                match status.state {
                    TaskState::Done => {
                        let n = self.node();
                        match self.fetch_at(n, &id).await {
                            Err(e @ StageError::Unavailable(_))
                                if errors < self.config.max_poll_errors =>
                            {
                                errors += 1;
                                self.fail_over(n, &e);
                                tracing::warn!(task = %id, stage = S::NAME, error = %e, "fetching the output failed; retrying");
                            }
                            other => return other,
                        }
                    }
                    TaskState::Failed => {
                        let e = status.error.unwrap_or(TaskError {
                            level: FailureLevel::Permanent,
                            message: "no reason given".into(),
                        });
                        return Err(failed(S::NAME, &id, e));
                    }
                    TaskState::Queued | TaskState::Running => {}
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(self.config.poll_max);
                let n = self.node();
                match self.status_at(n, &id).await {
                    Ok(Some(s)) => {
                        errors = 0;
                        status = s;
                    }
                    Ok(None) => {
                        tracing::warn!(task = %id, stage = S::NAME, "the service lost the task; submitting it again");
                        continue 'submit;
                    }
                    Err(e)
                        if matches!(e, StageError::Unavailable(_))
                            && errors < self.config.max_poll_errors =>
                    {
                        errors += 1;
                        self.fail_over(n, &e);
                        tracing::warn!(task = %id, stage = S::NAME, error = %e, "polling the remote service failed; retrying");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// The longest a cancellation waits for the service.
pub const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// The task's JSON, as submitted.
fn encode<S: RemoteStage>(task: &S) -> Result<Vec<u8>, StageError> {
    serde_json::to_vec(task)
        .map_err(|e| StageError::InvalidTask(format!("cannot encode the {} task: {e}", S::NAME)))
}

fn client(config: &RemoteConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(config.request_timeout)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

#[async_trait]
impl<S: RemoteStage> Executor<S> for RemoteExecutor<S> {
    async fn execute(&self, task: S) -> Result<S::Output, StageError> {
        let id = task_id(&task).map_err(StageError::InvalidTask)?;
        let output = tokio::select! {
            biased;
            output = self.prove(&task) => output?,
            _ = caller_gone() => {
                match self.cancel(&id).await {
                    Ok(_) => tracing::info!(task = %id, stage = S::NAME, "task given up by its caller; cancelled on the service"),
                    Err(e) => tracing::warn!(task = %id, stage = S::NAME, error = %e, "task given up by its caller; could not cancel it on the service"),
                }
                return Err(unavailable(format!(
                    "{} task {id} on {} was given up: the stage's caller went away",
                    S::NAME,
                    self.base()
                )));
            }
        };
        let verifier = self.verifier.clone();
        let check = self.check.clone();
        let verified = tokio::task::spawn_blocking(move || {
            let valid = match &check {
                Some(check) => check(&task, &output),
                None => task.verify(&output, verifier.as_ref()),
            };
            valid.map(|valid| (valid, task, output))
        })
        .await
        .map_err(|e| StageError::Computation(format!("output verification panicked: {e}")))?
        .map_err(|e| {
            StageError::Missing(format!("cannot verify the remote {} output: {e}", S::NAME))
        })
        .and_then(|(valid, task, output)| {
            if valid {
                Ok((task, output))
            } else {
                Err(StageError::Computation(format!(
                    "the service at {} returned a {} output for {} that does not verify \
                     (the task is rejected there: the next attempt proves it again)",
                    self.base(),
                    S::NAME,
                    task.subject()
                )))
            }
        });
        let (task, output) = match verified {
            Ok(verified) => verified,
            Err(e) => {
                if matches!(e, StageError::Computation(_)) && !self.reject(&id).await {
                    tracing::warn!(task = %id, stage = S::NAME, "could not reject the task's unverified output on the service");
                }
                return Err(e);
            }
        };
        drop(task);
        Ok(output)
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
