//! Sector records in an embedded SQLite database.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{SectorStore, SectorStoreError};
use crate::error::{Failure, FailureLevel};
use crate::sector::{SectorRecord, SectorState};

/// Sector records in SQLite: one row per job, the record as JSON beside its
/// state, written with `synchronous = FULL` so a record saved is a record
/// kept, through `kill -9` and power loss.
///
/// ```no_run
/// # async fn demo() -> Result<(), venus_seal_core::SectorStoreError> {
/// use venus_seal_core::{SectorRecord, SectorStore, SqliteSectorStore};
/// let store = SqliteSectorStore::open("/var/lib/venus-seal/worker.db").await?;
/// store.save(&SectorRecord::new(1)).await?;
/// assert_eq!(store.load_all().await?.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteSectorStore {
    pool: SqlitePool,
}

fn err(what: &str, e: impl std::fmt::Display) -> SectorStoreError {
    SectorStoreError(format!("{what}: {e}"))
}

impl SqliteSectorStore {
    /// Opens (creating if needed) the database at `path`, and brings its
    /// schema up to date (`migrations/worker`): a database of an earlier
    /// release is upgraded in place, one of a later release refused.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, SectorStoreError> {
        let path = path.as_ref();
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|e| err(&format!("database path {}", path.display()), e))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| err(&format!("opening {}", path.display()), e))?;
        // SQLite has no migration lock; the database belongs to this worker.
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| err(&format!("opening {}", path.display()), e))?;
        crate::schema::migrate(
            &mut *conn,
            sqlx::migrate!("./migrations/worker"),
            "the worker's sector store",
            &path.display().to_string(),
        )
        .await
        .map_err(|e| SectorStoreError(e.to_string()))?;
        drop(conn);
        Ok(Self { pool })
    }
}

#[async_trait]
impl SectorStore for SqliteSectorStore {
    async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError> {
        let json = serde_json::to_string(record).map_err(|e| err("encoding record", e))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        sqlx::query(
            "INSERT INTO sectors (job, state, record, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(job) DO UPDATE SET state = ?2, record = ?3, updated_at = ?4",
        )
        .bind(record.job as i64)
        .bind(record.state.name())
        .bind(json)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| err(&format!("saving job {}", record.job), e))?;
        Ok(())
    }

    async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
        let rows = sqlx::query("SELECT job, state, record FROM sectors ORDER BY job")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| err("loading sectors", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let job: i64 = row.try_get("job").map_err(|e| err("reading job", e))?;
            let state: String = row.try_get("state").map_err(|e| err("reading state", e))?;
            let json: String = row
                .try_get("record")
                .map_err(|e| err("reading record", e))?;
            out.push(match serde_json::from_str::<SectorRecord>(&json) {
                Ok(rec) => rec,
                Err(e) => {
                    let mut rec = SectorRecord::new(job as u64);
                    rec.state = state.parse().unwrap_or(SectorState::Empty);
                    rec.paused = true;
                    rec.failure = Some(Failure::new(
                        FailureLevel::Critical,
                        format!("persisted record of job {job} (state {state}) is corrupt: {e}"),
                    ));
                    tracing::error!(job, state, error = %e, "corrupt sector record");
                    rec
                }
            });
        }
        Ok(out)
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_store_conforms_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.db");
        let store = SqliteSectorStore::open(&path).await.unwrap();
        crate::testing::conformance::sector_store(&store).await;
        let before = store.load_all().await.unwrap();
        drop(store);
        let store = SqliteSectorStore::open(&path).await.unwrap();
        assert_eq!(store.load_all().await.unwrap(), before);
    }

    #[tokio::test]
    async fn a_corrupt_record_is_parked_critical_and_others_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteSectorStore::open(dir.path().join("w.db"))
            .await
            .unwrap();
        store.save(&SectorRecord::new(1)).await.unwrap();
        store.save(&SectorRecord::new(2)).await.unwrap();
        sqlx::query("UPDATE sectors SET record = '{\"job\": 2, \"state\": \"PC1Do' WHERE job = 2")
            .execute(&store.pool)
            .await
            .unwrap();
        let all = store.load_all().await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(!all[0].paused);
        let bad = &all[1];
        assert!(bad.paused);
        let failure = bad.failure.as_ref().unwrap();
        assert_eq!(failure.level, FailureLevel::Critical);
        assert!(
            failure.message.contains("job 2") && failure.message.contains("corrupt"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn an_unopenable_path_is_a_clear_error() {
        let err = SqliteSectorStore::open("/proc/no/such/dir/w.db")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("/proc/no/such/dir/w.db"), "{err}");
    }
}

#[cfg(all(test, feature = "testing"))]
#[path = "sqlite_upgrade.rs"]
mod upgrade;
