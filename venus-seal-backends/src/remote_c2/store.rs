//! The persistent task queue: one table on SQLite or PostgreSQL through
//! sqlx's `Any` driver (`$n` placeholders work on both).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use venus_seal_core::sql::{self as shared_sql, SqlBackend as Backend};
use venus_seal_core::{ActorId, FailureLevel, SectorId, SectorNumber};

use super::api::{TaskError, TaskRow, TaskState, TaskStatus};

/// The queue's database failed or holds something it cannot read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("C2 task store: {0}")]
pub struct QueueError(pub String);

fn db(e: sqlx::Error) -> QueueError {
    QueueError(e.to_string())
}

/// The tasks of the remote proving service (C2 and the other
/// [`RemoteStage`](super::RemoteStage)s, in one table), in SQLite (one service node; the default)
/// or PostgreSQL (several nodes sharing one queue).
///
/// A prover claims a task with one atomic `UPDATE … WHERE id = (SELECT …
/// LIMIT 1)` (on PostgreSQL the subselect is `FOR UPDATE SKIP LOCKED`), so
/// two nodes never take the same task; a running task whose heartbeat
/// (`claimed_at`) is older than the stale limit is claimable again, which
/// is how a crashed node's work is taken over. Times are the nodes' own
/// clocks (Unix milliseconds): keep them in sync (NTP) well within the
/// stale limit.
///
/// Growth is bounded ([`QueueLimits`]): a task claimed `max_attempts` times
/// without an outcome (it crashes or stalls every prover it runs on) ends
/// failed, Permanent, instead of being claimed again; a done task's C1
/// output is dropped with its outcome; finished tasks are deleted
/// `retention` after they finished ([`prune`](Self::prune)).
#[derive(Clone)]
pub struct C2TaskStore {
    pool: AnyPool,
    backend: Backend,
    limits: QueueLimits,
    clock: Clock,
}

/// The queue's clock: Unix milliseconds (replaced in tests).
type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

impl fmt::Debug for C2TaskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("C2TaskStore")
            .field("backend", &self.backend)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// How much a [`C2TaskStore`] keeps and retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// A task claimed this many times without an outcome is failed,
    /// Permanent, rather than claimed again (each claim that ends in a
    /// crash, a lost heartbeat or a restart counts). At least 1. Default 5.
    pub max_attempts: u32,
    /// Done and failed tasks are deleted this long after they finished; a
    /// worker asking later resubmits. Default 7 days.
    pub retention: Duration,
}

impl QueueLimits {
    /// How often a service prunes: a tenth of the retention, between 1 s
    /// and 1 h.
    pub fn prune_interval(&self) -> Duration {
        (self.retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
    }
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// A task a prover claimed.
#[derive(Debug)]
pub(crate) struct Claimed {
    pub row: TaskRow,
    pub attempts: u32,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms_of(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn level_name(level: FailureLevel) -> &'static str {
    match level {
        FailureLevel::Temporary => "Temporary",
        FailureLevel::Permanent => "Permanent",
        FailureLevel::Critical => "Critical",
        FailureLevel::Abort => "Abort",
    }
}

fn level_of(name: &str) -> FailureLevel {
    match name {
        "Temporary" => FailureLevel::Temporary,
        "Critical" => FailureLevel::Critical,
        "Abort" => FailureLevel::Abort,
        _ => FailureLevel::Permanent,
    }
}

impl C2TaskStore {
    /// Opens (creating if needed) the SQLite database at `path`.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<Self, QueueError> {
        let url = shared_sql::sqlite_url(path.as_ref()).map_err(|e| QueueError(e.0))?;
        Self::connect(&url).await
    }

    /// Connects to `url` (`sqlite://PATH?mode=rwc` or
    /// `postgres://USER:PASSWORD@HOST/DB`) and brings the schema up to date
    /// (`migrations/c2_queue/{sqlite,postgres}`, versions 3001…): created
    /// if new, upgraded in place if written by an earlier release, refused
    /// if written by a later one.
    pub async fn connect(url: &str) -> Result<Self, QueueError> {
        const WHAT: &str = "the C2 queue";
        let (pool, backend) = shared_sql::open_pool(url, WHAT, 8)
            .await
            .map_err(|e| QueueError(e.0))?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/c2_queue/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/c2_queue/postgres"),
        };
        shared_sql::migrate(url, WHAT, migrator)
            .await
            .map_err(|e| QueueError(e.to_string()))?;
        Ok(Self {
            pool,
            backend,
            limits: QueueLimits::default(),
            clock: Arc::new(now_ms),
        })
    }

    /// The same queue, keeping to `limits`.
    pub fn with_limits(mut self, limits: QueueLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits the queue keeps to.
    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    /// The same queue, reading the time from `clock` (Unix milliseconds).
    #[cfg(test)]
    pub(crate) fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Deletes the done and failed tasks that finished more than
    /// `retention` ago ([`QueueLimits::retention`]); returns how many.
    pub async fn prune(&self) -> Result<u64, QueueError> {
        let cutoff = self.now().saturating_sub(ms_of(self.limits.retention));
        let done = sqlx::query(
            "DELETE FROM c2_tasks WHERE state IN ('done', 'failed') AND updated_at < $1",
        )
        .bind(cutoff)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    /// Fails, Permanent, the claimable tasks that were claimed
    /// `max_attempts` times already; returns how many.
    async fn fail_exhausted(&self, now: i64, stale: i64) -> Result<u64, QueueError> {
        let max = self.limits.max_attempts.max(1);
        let done = sqlx::query(
            "UPDATE c2_tasks SET state = 'failed', error_level = 'Permanent', error = $1,
                updated_at = $2
             WHERE attempts >= $3
               AND (state = 'queued' OR (state = 'running' AND claimed_at < $4))",
        )
        .bind(format!(
            "claimed {max} times without an outcome: the task crashes or stalls every \
             prover it runs on (max_attempts = {max})"
        ))
        .bind(now)
        .bind(i64::from(max))
        .bind(stale)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    /// Adds `task` unless a task of the same id (the same work) is known;
    /// a known task that failed is queued again (its submitter is
    /// retrying). Returns its status.
    pub(crate) async fn submit_row(&self, task: &TaskRow) -> Result<TaskStatus, QueueError> {
        let id = task.id.clone();
        let now = self.now();
        // Requeue a failed task first, then insert: the other order would
        // requeue a new task that a prover claimed and failed in between.
        // The submitter's retry gets a fresh budget of attempts.
        sqlx::query(
            "UPDATE c2_tasks SET state = 'queued', error = NULL, error_level = NULL,
                claimed_by = NULL, claimed_at = NULL, attempts = 0, updated_at = $2
             WHERE id = $1 AND state = 'failed'",
        )
        .bind(&id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        sqlx::query(
            "INSERT INTO c2_tasks (id, stage, miner, number, digest, proof_type, c1_output,
                state, attempts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $8)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(task.stage)
        .bind(i64_of(task.sector.miner.0))
        .bind(i64_of(task.sector.number.0))
        .bind(&task.digest)
        .bind(&task.proof_type)
        .bind(&task.payload)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        self.status(&id)
            .await?
            .ok_or_else(|| QueueError(format!("task {id} vanished after its insertion")))
    }

    /// [`submit_row`](Self::submit_row) of `task`.
    #[cfg(test)]
    pub(crate) async fn submit<S: super::RemoteStage>(
        &self,
        task: &S,
    ) -> Result<TaskStatus, QueueError> {
        self.submit_row(&task.to_row().map_err(QueueError)?).await
    }

    /// The task's status, `None` if unknown.
    pub(crate) async fn status(&self, id: &str) -> Result<Option<TaskStatus>, QueueError> {
        let row = sqlx::query(
            "SELECT id, stage, miner, number, state, attempts, claimed_by, error_level, error
             FROM c2_tasks WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| decode_status(&r)).transpose()
    }

    /// The output of a task that is done (a C2's proof bytes, another
    /// stage's output JSON): `Ok(None)` if unknown, `Err` with its state
    /// if not done.
    pub(crate) async fn output(
        &self,
        id: &str,
    ) -> Result<Option<Result<Vec<u8>, TaskState>>, QueueError> {
        let row = sqlx::query("SELECT state, proof FROM c2_tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let state: String = row.try_get("state").map_err(db)?;
        let state: TaskState = state.parse().map_err(QueueError)?;
        if state != TaskState::Done {
            return Ok(Some(Err(state)));
        }
        let proof: Option<String> = row.try_get("proof").map_err(db)?;
        let proof = hex::decode(proof.unwrap_or_default())
            .map_err(|e| QueueError(format!("task {id}: stored proof is not hex: {e}")))?;
        Ok(Some(Ok(proof)))
    }

    /// Claims the oldest queued task of one of `stages`, or a running one
    /// whose heartbeat is older than `stale_after`, for `node`; never one
    /// of `busy` (tasks whose earlier run still goes on on this node).
    /// WinningPoSt tasks go first (a block is due within its epoch), then
    /// WindowPoSt (its deadline's window), then the others.
    pub(crate) async fn claim(
        &self,
        node: &str,
        stale_after: Duration,
        busy: &[String],
        stages: &[&'static str],
    ) -> Result<Option<Claimed>, QueueError> {
        if stages.is_empty() {
            return Ok(None);
        }
        let now = self.now();
        let stale = now - ms_of(stale_after);
        let failed = self.fail_exhausted(now, stale).await?;
        if failed > 0 {
            tracing::warn!(
                failed,
                max_attempts = self.limits.max_attempts,
                "C2 tasks failed after too many attempts"
            );
        }
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let of_stages = in_list("stage", stages.len(), 5);
        let not_busy = match busy.len() {
            0 => String::new(),
            n => format!("AND NOT {}", in_list("id", n, 5 + stages.len())),
        };
        let sql = format!(
            "UPDATE c2_tasks SET state = 'running', claimed_by = $1, claimed_at = $2,
                attempts = attempts + 1, updated_at = $2
             WHERE id = (SELECT id FROM c2_tasks
                         WHERE (state = 'queued' OR (state = 'running' AND claimed_at < $3))
                           AND attempts < $4
                           AND {of_stages}
                           {not_busy}
                         ORDER BY CASE stage WHEN 'winning_post' THEN 0
                                             WHEN 'window_post' THEN 1 ELSE 2 END,
                                  created_at, id
                         LIMIT 1 {lock})
               AND (state = 'queued' OR (state = 'running' AND claimed_at < $3))
               AND attempts < $4
             RETURNING id, stage, miner, number, digest, proof_type, c1_output, attempts"
        );
        let mut query = sqlx::query(&sql)
            .bind(node)
            .bind(now)
            .bind(stale)
            .bind(i64::from(self.limits.max_attempts.max(1)));
        for stage in stages {
            query = query.bind(*stage);
        }
        for id in busy {
            query = query.bind(id);
        }
        let row = query.fetch_optional(&self.pool).await.map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id").map_err(db)?;
        let stage: String = row.try_get("stage").map_err(db)?;
        let stage = stages
            .iter()
            .copied()
            .find(|s| *s == stage)
            .ok_or_else(|| {
                QueueError(format!("task {id}: claimed a {stage} task, not asked for"))
            })?;
        let attempts: i64 = row.try_get("attempts").map_err(db)?;
        Ok(Some(Claimed {
            row: TaskRow {
                stage,
                sector: sector_of(&row)?,
                digest: row.try_get("digest").map_err(db)?,
                proof_type: row.try_get("proof_type").map_err(db)?,
                payload: row.try_get("c1_output").map_err(db)?,
                id,
            },
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        }))
    }

    /// Claims a C2 task for `node` (there must be one).
    #[cfg(test)]
    pub(crate) async fn claim_c2(&self, node: &str, stale_after: Duration) -> Claimed {
        self.claim(node, stale_after, &[], &["c2"])
            .await
            .unwrap()
            .expect("a claimable C2 task")
    }

    /// Refreshes the claim's heartbeat; `false` if `node` lost the task
    /// (taken over after a stale heartbeat, or resubmitted after failing).
    pub(crate) async fn heartbeat(&self, id: &str, node: &str) -> Result<bool, QueueError> {
        let done = sqlx::query(
            "UPDATE c2_tasks SET claimed_at = $3
             WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(node)
        .bind(self.now())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the outcome of `node`'s claim; `false` if the claim was
    /// lost meanwhile (the outcome is dropped). A done task's payload (a
    /// C1 output, a task) is dropped: nothing reads it again (a failed one
    /// keeps it, to be requeued by a resubmission).
    pub(crate) async fn finish(
        &self,
        id: &str,
        node: &str,
        outcome: Result<&[u8], &TaskError>,
    ) -> Result<bool, QueueError> {
        let (state, proof, level, error) = match outcome {
            Ok(proof) => (TaskState::Done, Some(hex::encode(proof)), None, None),
            Err(e) => (
                TaskState::Failed,
                None,
                Some(level_name(e.level)),
                Some(e.message.clone()),
            ),
        };
        let done = sqlx::query(
            "UPDATE c2_tasks SET state = $3, proof = $4, error_level = $5, error = $6,
                updated_at = $7,
                c1_output = CASE WHEN $3 = 'done' THEN '' ELSE c1_output END
             WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(node)
        .bind(state.as_db())
        .bind(proof)
        .bind(level)
        .bind(error)
        .bind(self.now())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Cancels a queued or running task: it fails Temporary saying that
    /// its submitter cancelled it (a resubmission queues it again; the
    /// prover running it loses its claim at its next heartbeat). A task
    /// done or failed is left as it is. Returns its status, `None` if
    /// unknown.
    pub(crate) async fn cancel(&self, id: &str) -> Result<Option<TaskStatus>, QueueError> {
        sqlx::query(
            "UPDATE c2_tasks SET state = 'failed', error_level = $2, error = $3, updated_at = $4
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id)
        .bind(level_name(FailureLevel::Temporary))
        .bind(CANCELLED)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        self.status(id).await
    }

    /// Forgets a done task whose output its submitter found invalid, so
    /// that the same work submitted again is proven again: `true` if a
    /// done task `id` was deleted, `false` if there is none (unknown, or
    /// not done).
    pub(crate) async fn forget_done(&self, id: &str) -> Result<bool, QueueError> {
        let done = sqlx::query("DELETE FROM c2_tasks WHERE id = $1 AND state = 'done'")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    /// Closes the connections, waiting for the statements in flight.
    #[cfg(test)]
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// Puts the running tasks of `node` back in the queue (at start after
    /// a crash, or at shutdown for another node to take them at once).
    /// Returns how many.
    pub(crate) async fn release_node(&self, node: &str) -> Result<u64, QueueError> {
        let done = sqlx::query(
            "UPDATE c2_tasks SET state = 'queued', claimed_by = NULL, claimed_at = NULL,
                updated_at = $2
             WHERE claimed_by = $1 AND state = 'running'",
        )
        .bind(node)
        .bind(self.now())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    /// Counts the tasks in each state (for logs and tests).
    pub async fn counts(&self) -> Result<Vec<(TaskState, u64)>, QueueError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM c2_tasks GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state").map_err(db)?;
                let n: i64 = r.try_get("n").map_err(db)?;
                Ok((state.parse().map_err(QueueError)?, n.max(0) as u64))
            })
            .collect()
    }
}

/// The error of a task its submitter cancelled.
pub(crate) const CANCELLED: &str = "cancelled by its submitter (it gave the task up)";

/// `column IN ($first, …)` for `n` (at least one) parameters.
fn in_list(column: &str, n: usize, first: usize) -> String {
    let params: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!("{column} IN ({})", params.join(", "))
}

fn sector_of(row: &AnyRow) -> Result<SectorId, QueueError> {
    let miner: i64 = row.try_get("miner").map_err(db)?;
    let number: i64 = row.try_get("number").map_err(db)?;
    Ok(SectorId::new(
        ActorId(miner.max(0) as u64),
        SectorNumber(number.max(0) as u64),
    ))
}

fn decode_status(row: &AnyRow) -> Result<TaskStatus, QueueError> {
    let id: String = row.try_get("id").map_err(db)?;
    let stage: String = row.try_get("stage").map_err(db)?;
    let state: String = row.try_get("state").map_err(db)?;
    let attempts: i64 = row.try_get("attempts").map_err(db)?;
    let claimed_by: Option<String> = row.try_get("claimed_by").map_err(db)?;
    let level: Option<String> = row.try_get("error_level").map_err(db)?;
    let error: Option<String> = row.try_get("error").map_err(db)?;
    let state: TaskState = state.parse().map_err(QueueError)?;
    Ok(TaskStatus {
        sector: sector_of(row)?,
        id,
        stage,
        state,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        claimed_by,
        error: match state {
            TaskState::Failed => Some(TaskError {
                level: level_of(level.as_deref().unwrap_or("Permanent")),
                message: error.unwrap_or_default(),
            }),
            _ => None,
        },
    })
}

/// Prunes `store` every `every` (and once at once) until `stop` turns
/// true; a failing prune is logged and tried again next time.
pub(crate) async fn prune_loop(
    store: C2TaskStore,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match store.prune().await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(pruned = n, retention = ?store.limits.retention, "pruned finished C2 tasks")
            }
            Err(e) => tracing::warn!(error = %e, "cannot prune finished C2 tasks; retrying later"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
#[path = "store_upgrade.rs"]
mod upgrade;

#[cfg(test)]
#[path = "store_limits.rs"]
mod limits;
