//! Sector records in an embedded SQLite database.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use super::sqlite_rows::{self as rows, err};
use super::{JobCounts, LargeOutputs, SectorStore, SectorStoreError};
use crate::sector::{SectorRecord, SectorState};

/// Sector records in SQLite: one row per job, the record as JSON beside its
/// state, written with `synchronous = FULL` so a record saved is a record
/// kept, through `kill -9` and power loss.
///
/// Large stage outputs live in a table of their own (`sector_outputs`),
/// so a row stays small and listing reads none of them; a record saved
/// finished or aborted moves to `sectors_archive` and its large outputs
/// are deleted, so start-up reads only the sectors it resumes (see the
/// [module docs](super)). Each save is one transaction.
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

/// Active rows without any large output they still hold inline (rows
/// written before outputs moved out of the row).
const LIGHT_RECORD: &str = "CASE WHEN json_valid(record)
     THEN json_remove(record, '$.pc1_output', '$.c1_output') ELSE record END";

impl SqliteSectorStore {
    async fn rows(&self, sql: &str, what: &str) -> Result<Vec<SqliteRow>, SectorStoreError> {
        sqlx::query(sql)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| err(what, e))
    }

    /// The records `sql` selects, every large output attached.
    async fn load_rows(
        &self,
        sql: &str,
        what: &str,
    ) -> Result<Vec<SectorRecord>, SectorStoreError> {
        let rows = self.rows(sql, what).await?;
        self.with_outputs(rows, "SELECT job, name, data FROM sector_outputs", None)
            .await
    }

    /// Decodes `rows` and attaches the large outputs `outputs_sql` selects.
    async fn with_outputs(
        &self,
        rows: Vec<SqliteRow>,
        outputs_sql: &str,
        job: Option<u64>,
    ) -> Result<Vec<SectorRecord>, SectorStoreError> {
        let mut query = sqlx::query(outputs_sql);
        if let Some(job) = job {
            query = query.bind(job as i64);
        }
        let outputs = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| err("loading stage outputs", e))?;
        let mut outputs = rows::outputs(outputs)?;
        rows.iter()
            .map(|row| {
                let mut rec = rows::decode(row)?;
                rows::attach(&mut rec, &mut outputs);
                Ok(rec)
            })
            .collect()
    }

    /// Writes `record` (encoded as `json`, without large outputs). A
    /// terminal record moves to the archive, dropping its large outputs;
    /// an unfinished one is saved as its row, each large output in
    /// `sector_outputs` (rewritten only when it changed).
    async fn write(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        record: &SectorRecord,
        json: &str,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let job = record.job as i64;
        let terminal = record.state.is_terminal();
        let (table, other) = if terminal {
            ("sectors_archive", "sectors")
        } else {
            ("sectors", "sectors_archive")
        };
        let stale: &[&str] = if terminal {
            &["sector_outputs", other]
        } else {
            &[other]
        };
        for stale in stale {
            sqlx::query(&format!("DELETE FROM {stale} WHERE job = ?1"))
                .bind(job)
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query(&format!(
            "INSERT INTO {table} (job, state, record, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(job) DO UPDATE SET state = ?2, record = ?3, updated_at = ?4"
        ))
        .bind(job)
        .bind(record.state.name())
        .bind(json)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if terminal {
            return Ok(());
        }
        for (name, output) in LargeOutputs::of(record) {
            match output {
                Some(value) => {
                    sqlx::query(
                        "INSERT INTO sector_outputs (job, name, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT(job, name) DO UPDATE SET data = excluded.data
                     WHERE data IS NOT excluded.data",
                    )
                    .bind(job)
                    .bind(name)
                    .bind(value.as_json().as_bytes())
                    .execute(&mut **tx)
                    .await?
                }
                None => {
                    sqlx::query("DELETE FROM sector_outputs WHERE job = ?1 AND name = ?2")
                        .bind(job)
                        .bind(name)
                        .execute(&mut **tx)
                        .await?
                }
            };
        }
        Ok(())
    }
}

#[async_trait]
impl SectorStore for SqliteSectorStore {
    async fn save(&self, record: &SectorRecord) -> Result<(), SectorStoreError> {
        let what = format!("saving job {}", record.job);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        // The row never holds large outputs; clone before stripping
        // rather than re-encode the record field by field.
        let mut row = record.clone();
        LargeOutputs::strip(&mut row);
        let json = serde_json::to_string(&row).map_err(|e| err(&what, e))?;
        drop(row);
        let mut tx = self.pool.begin().await.map_err(|e| err(&what, e))?;
        Self::write(&mut tx, record, &json, now)
            .await
            .map_err(|e| err(&what, e))?;
        tx.commit().await.map_err(|e| err(&what, e))
    }

    async fn load_all(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
        self.load_rows(
            "SELECT job, state, record FROM sectors
             UNION ALL SELECT job, state, record FROM sectors_archive ORDER BY job",
            "loading sectors",
        )
        .await
    }

    async fn load(&self, job: u64) -> Result<Option<SectorRecord>, SectorStoreError> {
        let rows = sqlx::query(
            "SELECT job, state, record FROM sectors WHERE job = ?1
             UNION ALL SELECT job, state, record FROM sectors_archive WHERE job = ?1",
        )
        .bind(job as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| err(&format!("loading job {job}"), e))?;
        let sql = "SELECT job, name, data FROM sector_outputs WHERE job = ?1";
        Ok(self.with_outputs(rows, sql, Some(job)).await?.pop())
    }

    async fn load_unfinished(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
        self.load_rows(
            "SELECT job, state, record FROM sectors ORDER BY job",
            "loading unfinished sectors",
        )
        .await
    }

    async fn list(&self) -> Result<Vec<SectorRecord>, SectorStoreError> {
        let sql = format!(
            "SELECT job, state, {LIGHT_RECORD} AS record FROM sectors
             UNION ALL SELECT job, state, record FROM sectors_archive ORDER BY job"
        );
        let rows = self.rows(&sql, "listing sectors").await?;
        rows.iter().map(rows::decode).collect()
    }

    async fn job_counts(&self) -> Result<JobCounts, SectorStoreError> {
        let rows = self
            .rows(
                "SELECT state, COUNT(*) AS n, MAX(job) AS last FROM (
                     SELECT job, state FROM sectors
                     UNION ALL SELECT job, state FROM sectors_archive)
                 GROUP BY state",
                "counting sectors",
            )
            .await?;
        let mut counts = JobCounts::default();
        for row in rows {
            let state: String = row.try_get("state").map_err(|e| err("reading state", e))?;
            let n: i64 = row.try_get("n").map_err(|e| err("reading a count", e))?;
            let last: i64 = row.try_get("last").map_err(|e| err("reading a job", e))?;
            let state = state
                .parse::<SectorState>()
                .map_err(|e| err("counting sectors", e))?;
            *counts.by_state.entry(state).or_default() += n.max(0) as u64;
            counts.last_job = counts.last_job.max(Some(last.max(0) as u64));
        }
        Ok(counts)
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::error::FailureLevel;

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
        let (_dir, store) = new_store().await;
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

    /// A new store in a temporary folder (kept while the store is used).
    async fn new_store() -> (tempfile::TempDir, SqliteSectorStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteSectorStore::open(dir.path().join("w.db"))
            .await
            .unwrap();
        (dir, store)
    }

    /// Job 1 at C1Done, holding `c1_output`.
    fn c1_done<T: serde::Serialize>(c1_output: &T) -> SectorRecord {
        let mut rec = SectorRecord::new(1);
        rec.state = SectorState::C1Done;
        rec.c1_output = Some(crate::stage::Opaque::encode(c1_output).unwrap());
        rec
    }

    async fn scalar(store: &SqliteSectorStore, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    /// Bounded growth, as stored: a C1 output lives outside the row and is
    /// deleted once the proof lands; the finished record is archived.
    #[tokio::test]
    async fn large_outputs_live_outside_the_row_and_go_once_the_proof_lands() {
        use crate::sector::Event;
        use crate::stage::Proof;
        let (_dir, store) = new_store().await;
        let mut rec = c1_done(&"c".repeat(1 << 20));
        store.save(&rec).await.unwrap();
        let row = "SELECT LENGTH(record) FROM sectors WHERE job = 1";
        assert!(
            scalar(&store, row).await < 4096,
            "the row holds no C1 output"
        );
        let blobs = "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM sector_outputs";
        assert!(scalar(&store, blobs).await > 1 << 20);
        assert_eq!(store.load(1).await.unwrap().unwrap(), rec);

        rec.apply(Event::C2Done(Proof {
            proof: vec![1; 192],
        }))
        .unwrap();
        rec.apply(Event::ProofSubmitted).unwrap();
        rec.apply(Event::Finished).unwrap();
        store.save(&rec).await.unwrap();
        assert_eq!(scalar(&store, blobs).await, 0, "the C1 output is deleted");
        assert_eq!(scalar(&store, "SELECT COUNT(*) FROM sectors").await, 0);
        let archived = "SELECT LENGTH(record) FROM sectors_archive WHERE job = 1";
        assert!(scalar(&store, archived).await < 4096);
        let listed = store.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].state, SectorState::Finished);
        assert!(listed[0].c1_output.is_none() && listed[0].proof.is_some());
    }

    /// A row of an earlier release holding its C1 output inline: loading it
    /// to resume keeps the output, listing leaves it out.
    #[tokio::test]
    async fn an_inline_output_of_an_old_row_loads_and_is_not_listed() {
        let (_dir, store) = new_store().await;
        let rec = c1_done(&vec![7u8; 64]);
        sqlx::query(
            "INSERT INTO sectors (job, state, record, updated_at) VALUES (1, 'C1Done', ?1, 0)",
        )
        .bind(serde_json::to_string(&rec).unwrap())
        .execute(&store.pool)
        .await
        .unwrap();
        assert_eq!(
            store.load_unfinished().await.unwrap(),
            std::slice::from_ref(&rec)
        );
        let listed = store.list().await.unwrap();
        assert!(listed[0].c1_output.is_none(), "{:?}", listed[0]);
        // The next save moves it out of the row.
        store.save(&rec).await.unwrap();
        let row = "SELECT LENGTH(record) FROM sectors WHERE job = 1";
        let blobs = "SELECT COUNT(*) FROM sector_outputs WHERE job = 1";
        assert!(scalar(&store, row).await < 1024);
        assert_eq!(scalar(&store, blobs).await, 1);
        assert_eq!(store.load(1).await.unwrap().unwrap(), rec);
    }

    #[tokio::test]
    async fn a_corrupt_stage_output_parks_its_sector_critical() {
        let (_dir, store) = new_store().await;
        let rec = c1_done(&vec![7u8; 64]);
        store.save(&rec).await.unwrap();
        sqlx::query("UPDATE sector_outputs SET data = X'7b2263' WHERE job = 1")
            .execute(&store.pool)
            .await
            .unwrap();
        let loaded = store.load(1).await.unwrap().unwrap();
        assert!(loaded.paused && loaded.c1_output.is_none());
        let failure = loaded.failure.unwrap();
        assert_eq!(failure.level, FailureLevel::Critical);
        assert!(failure.message.contains("c1_output of job 1"), "{failure}");
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
