//! The [`ManagerStore`] on SQLite or PostgreSQL, through sqlx's `Any`
//! driver: one set of statements (with `$n` placeholders, which both
//! understand) for both databases.

use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tokio::sync::Mutex;

use venus_seal_core::manager::{AcquireDealsSpec, DealInfo};
use venus_seal_core::{ActorId, SectorId, SectorNumber, SectorSize};

use super::{pick_deals, ManagerStore, ManagerStoreError, NumberRange, Versioned};
use crate::manager::SectorStatus;

fn db(e: sqlx::Error) -> ManagerStoreError {
    ManagerStoreError::Database(e.to_string())
}

fn open_error(e: shared_sql::SqlOpenError) -> ManagerStoreError {
    ManagerStoreError::Database(e.0)
}

use venus_seal_core::sql::{self as shared_sql, redact, SqlBackend as Backend};

/// The [`ManagerStore`] on SQLite (one manager process; the default) or
/// PostgreSQL (several manager processes sharing one state).
///
/// Sector statuses are stored as JSON documents with a version column for
/// compare-and-swap; numbers are allocated by one `UPDATE … RETURNING` per
/// call, so concurrent allocations (also from several processes on
/// PostgreSQL) serialize on the miner's row; deals are taken with
/// `FOR UPDATE SKIP LOCKED` on PostgreSQL. On SQLite, writes are
/// serialized inside the process (SQLite allows one writer anyway), and
/// the database runs in WAL mode with a busy timeout.
///
/// ```no_run
/// use venus_seal_chain::manager::SqlManagerStore;
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let local = SqlManagerStore::open_sqlite("/var/lib/venus-seal/manager.db").await?;
/// let shared = SqlManagerStore::connect("postgres://manager:secret@db/venus_seal").await?;
/// # Ok(()) }
/// ```
pub struct SqlManagerStore {
    pool: AnyPool,
    backend: Backend,
    url: String,
    /// SQLite: one writing transaction at a time in this process.
    write: Mutex<()>,
}

impl fmt::Debug for SqlManagerStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlManagerStore")
            .field("backend", &self.backend)
            .field("url", &redact(&self.url))
            .finish_non_exhaustive()
    }
}

impl SqlManagerStore {
    /// Opens (creating if needed) the SQLite database at `path`.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<Self, ManagerStoreError> {
        let url = shared_sql::sqlite_url(path.as_ref()).map_err(open_error)?;
        Self::connect(&url).await
    }

    /// Connects to `url`: `sqlite://PATH?mode=rwc` or
    /// `postgres://USER:PASSWORD@HOST/DB`, and brings the schema up to
    /// date (`migrations/manager/{sqlite,postgres}`, versions 2001…): the
    /// tables are created in a new database, a database of an earlier
    /// release is upgraded in place, one of a later release is refused.
    /// Several managers starting at once on one PostgreSQL database
    /// migrate it once (under sqlx's migration lock).
    pub async fn connect(url: &str) -> Result<Self, ManagerStoreError> {
        const WHAT: &str = "the manager store";
        let (pool, backend) = shared_sql::open_pool(url, WHAT, 16)
            .await
            .map_err(open_error)?;
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/manager/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/manager/postgres"),
        };
        shared_sql::migrate(url, WHAT, migrator)
            .await
            .map_err(|e| ManagerStoreError::Database(e.to_string()))?;
        Ok(Self {
            pool,
            backend,
            url: url.to_string(),
            write: Mutex::new(()),
        })
    }

    /// The pool, for tests that tamper with the database.
    #[cfg(test)]
    pub(crate) fn pool_for_tests(&self) -> AnyPool {
        self.pool.clone()
    }

    /// Serializes writers on SQLite; a no-op guard on PostgreSQL.
    async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write.lock().await),
            Backend::Postgres => None,
        }
    }
}

fn i64_of(n: u64) -> i64 {
    // Actor ids and sector numbers are far below 2^63.
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn encode(sector: SectorId, status: &SectorStatus) -> Result<String, ManagerStoreError> {
    serde_json::to_string(status).map_err(|e| ManagerStoreError::Corrupt {
        what: format!("sector {sector}"),
        reason: e.to_string(),
    })
}

fn decode_sector(row: &AnyRow) -> Result<(SectorId, Versioned<SectorStatus>), ManagerStoreError> {
    let miner: i64 = row.try_get("miner").map_err(db)?;
    let number: i64 = row.try_get("number").map_err(db)?;
    let version: i64 = row.try_get("version").map_err(db)?;
    let record: String = row.try_get("record").map_err(db)?;
    let id = SectorId::new(ActorId(miner as u64), SectorNumber(number as u64));
    let value = serde_json::from_str(&record).map_err(|e| ManagerStoreError::Corrupt {
        what: format!("sector {id}"),
        reason: e.to_string(),
    })?;
    Ok((
        id,
        Versioned {
            value,
            version: version as u64,
        },
    ))
}

#[async_trait]
impl ManagerStore for SqlManagerStore {
    async fn allocate(
        &self,
        miner: ActorId,
        range: NumberRange,
        status: &SectorStatus,
    ) -> Result<Option<SectorNumber>, ManagerStoreError> {
        let _w = self.writer().await;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let (m, start, end) = (i64_of(miner.0), i64_of(range.start), i64_of(range.end));
        sqlx::query(
            "INSERT INTO manager_numbers (miner, next_number) VALUES ($1, $2)
             ON CONFLICT (miner) DO NOTHING",
        )
        .bind(m)
        .bind(start)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        // Raising a range's start skips ahead; numbers are never reused.
        let row = sqlx::query(
            "UPDATE manager_numbers
             SET next_number = (CASE WHEN next_number < $2 THEN $2 ELSE next_number END) + 1
             WHERE miner = $1 AND (CASE WHEN next_number < $2 THEN $2 ELSE next_number END) <= $3
             RETURNING next_number - 1 AS taken",
        )
        .bind(m)
        .bind(start)
        .bind(end)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let taken: i64 = row.try_get("taken").map_err(db)?;
        let id = SectorId::new(miner, SectorNumber(taken as u64));
        sqlx::query(
            "INSERT INTO manager_sectors (miner, number, version, queued, record)
             VALUES ($1, $2, 1, $3, $4)",
        )
        .bind(m)
        .bind(taken)
        .bind(i64::from(status.has_queued_submission()))
        .bind(encode(id, status)?)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(SectorNumber(taken as u64)))
    }

    async fn load(
        &self,
        sector: SectorId,
    ) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError> {
        let row = sqlx::query(
            "SELECT miner, number, version, record FROM manager_sectors
             WHERE miner = $1 AND number = $2",
        )
        .bind(i64_of(sector.miner.0))
        .bind(i64_of(sector.number.0))
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| decode_sector(&r).map(|(_, v)| v)).transpose()
    }

    async fn update(
        &self,
        sector: SectorId,
        status: &SectorStatus,
        version: u64,
    ) -> Result<bool, ManagerStoreError> {
        let _w = self.writer().await;
        let done = sqlx::query(
            "UPDATE manager_sectors SET record = $1, queued = $2, version = version + 1
             WHERE miner = $3 AND number = $4 AND version = $5",
        )
        .bind(encode(sector, status)?)
        .bind(i64::from(status.has_queued_submission()))
        .bind(i64_of(sector.miner.0))
        .bind(i64_of(sector.number.0))
        .bind(i64_of(version))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn queued(&self) -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError> {
        let rows = sqlx::query(
            "SELECT miner, number, version, record FROM manager_sectors
             WHERE queued = 1 ORDER BY miner, number",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(decode_sector).collect()
    }

    async fn sector_count(&self) -> Result<u64, ManagerStoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM manager_sectors")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.try_get::<i64, _>("n").map_err(db)? as u64)
    }

    async fn queue_deal(
        &self,
        miner: Option<ActorId>,
        deal: &DealInfo,
    ) -> Result<(), ManagerStoreError> {
        let _w = self.writer().await;
        let json = serde_json::to_string(deal).map_err(|e| ManagerStoreError::Corrupt {
            what: format!("deal {}", deal.id),
            reason: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO manager_deals (position, miner, size, deal)
             VALUES ((SELECT COALESCE(MAX(position), 0) + 1 FROM manager_deals), $1, $2, $3)",
        )
        .bind(miner.map(|m| i64_of(m.0)))
        .bind(i64_of(deal.piece.size.0))
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn take_deals(
        &self,
        miner: ActorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
    ) -> Result<Vec<DealInfo>, ManagerStoreError> {
        let _w = self.writer().await;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let rows = sqlx::query(&format!(
            "SELECT id, miner, size, deal FROM manager_deals
             WHERE miner IS NULL OR miner = $1 ORDER BY position, id{lock}"
        ))
        .bind(i64_of(miner.0))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut queue = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = row.try_get("id").map_err(db)?;
            let only: Option<i64> = row.try_get("miner").map_err(db)?;
            let piece: i64 = row.try_get("size").map_err(db)?;
            let deal: String = row.try_get("deal").map_err(db)?;
            queue.push((id, only.map(|m| ActorId(m as u64)), piece as u64, deal));
        }
        let picked = pick_deals(queue.iter().map(|q| (q.1, q.2)), miner, size, spec);
        let mut deals = Vec::with_capacity(picked.len());
        for i in picked {
            let (id, _, _, json) = &queue[i];
            let deal: DealInfo =
                serde_json::from_str(json).map_err(|e| ManagerStoreError::Corrupt {
                    what: format!("queued deal row {id}"),
                    reason: e.to_string(),
                })?;
            sqlx::query("DELETE FROM manager_deals WHERE id = $1")
                .bind(*id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            deals.push(deal);
        }
        tx.commit().await.map_err(db)?;
        Ok(deals)
    }

    async fn requeue_deals(
        &self,
        miner: ActorId,
        deals: &[DealInfo],
    ) -> Result<(), ManagerStoreError> {
        let _w = self.writer().await;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row = sqlx::query("SELECT COALESCE(MIN(position), 0) AS low FROM manager_deals")
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let low: i64 = row.try_get("low").map_err(db)?;
        let count = deals.len() as i64;
        for (i, deal) in deals.iter().enumerate() {
            let json = serde_json::to_string(deal).map_err(|e| ManagerStoreError::Corrupt {
                what: format!("deal {}", deal.id),
                reason: e.to_string(),
            })?;
            sqlx::query(
                "INSERT INTO manager_deals (position, miner, size, deal) VALUES ($1, $2, $3, $4)",
            )
            .bind(low - count + i as i64)
            .bind(i64_of(miner.0))
            .bind(i64_of(deal.piece.size.0))
            .bind(json)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn queued_deals(&self) -> Result<u64, ManagerStoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM manager_deals")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.try_get::<i64, _>("n").map_err(db)? as u64)
    }
}

#[cfg(test)]
#[path = "sql_upgrade.rs"]
mod upgrade;
