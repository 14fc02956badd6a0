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
use venus_seal_core::manager_store::{DealActivation, ExpiredDeal, ReleasedDeals};
use venus_seal_core::{ActorId, ChainEpoch, SectorId, SectorNumber, SectorSize};

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

    /// ` FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite has one writer).
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// A sector's status inside `tx`, its row locked until the commit on
    /// PostgreSQL.
    async fn load_for_update(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        sector: SectorId,
    ) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let row = sqlx::query(&format!(
            "SELECT miner, number, version, record FROM manager_sectors
             WHERE miner = $1 AND number = $2{lock}"
        ))
        .bind(i64_of(sector.miner.0))
        .bind(i64_of(sector.number.0))
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
        row.map(|r| decode_sector(&r).map(|(_, v)| v)).transpose()
    }

    /// The compare-and-swap of [`ManagerStore::update`] inside `tx`.
    async fn write_status(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        sector: SectorId,
        status: &SectorStatus,
        version: u64,
    ) -> Result<bool, ManagerStoreError> {
        let done = sqlx::query(
            "UPDATE manager_sectors SET record = $1, queued = $2, version = version + 1
             WHERE miner = $3 AND number = $4 AND version = $5",
        )
        .bind(encode(sector, status)?)
        .bind(i64::from(status.has_queued_submission()))
        .bind(i64_of(sector.miner.0))
        .bind(i64_of(sector.number.0))
        .bind(i64_of(version))
        .execute(&mut **tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
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

fn encode_deal(deal: &DealInfo) -> Result<String, ManagerStoreError> {
    serde_json::to_string(deal).map_err(|e| ManagerStoreError::Corrupt {
        what: format!("deal {}", deal.id),
        reason: e.to_string(),
    })
}

/// A row of `manager_deals`, decoded.
struct QueuedRow {
    id: i64,
    miner: Option<ActorId>,
    size: u64,
    deal: DealInfo,
    start_epoch: Option<ChainEpoch>,
}

impl QueuedRow {
    fn decode(row: &AnyRow) -> Result<Self, ManagerStoreError> {
        let id: i64 = row.try_get("id").map_err(db)?;
        let miner: Option<i64> = row.try_get("miner").map_err(db)?;
        let size: i64 = row.try_get("size").map_err(db)?;
        let json: String = row.try_get("deal").map_err(db)?;
        let start_epoch: Option<i64> = row.try_get("start_epoch").map_err(db)?;
        let deal = serde_json::from_str(&json).map_err(|e| ManagerStoreError::Corrupt {
            what: format!("deal row {id}"),
            reason: e.to_string(),
        })?;
        Ok(Self {
            id,
            miner: miner.map(|m| ActorId(m as u64)),
            size: size as u64,
            deal,
            start_epoch,
        })
    }
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
        key: Option<&str>,
    ) -> Result<Option<SectorNumber>, ManagerStoreError> {
        let _w = self.writer().await;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let (m, start, end) = (i64_of(miner.0), i64_of(range.start), i64_of(range.end));
        if let Some(key) = key {
            // A key answered before gets its sector again (another
            // manager process inserting it at the same time makes this
            // transaction's insert below fail; the worker asks again).
            let held = sqlx::query("SELECT miner, number FROM manager_allocations WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
            if let Some(row) = held {
                let held_miner: i64 = row.try_get("miner").map_err(db)?;
                let number: i64 = row.try_get("number").map_err(db)?;
                return Ok((held_miner == m).then_some(SectorNumber(number as u64)));
            }
        }
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
        if let Some(key) = key {
            sqlx::query("INSERT INTO manager_allocations (key, miner, number) VALUES ($1, $2, $3)")
                .bind(key)
                .bind(m)
                .bind(taken)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = self.write_status(&mut tx, sector, status, version).await?;
        tx.commit().await.map_err(db)?;
        Ok(done)
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

    async fn sectors(
        &self,
        after: Option<SectorId>,
        limit: usize,
    ) -> Result<Vec<(SectorId, Versioned<SectorStatus>)>, ManagerStoreError> {
        let (miner, number) = after.map_or((-1, -1), |s| (i64_of(s.miner.0), i64_of(s.number.0)));
        let rows = sqlx::query(
            "SELECT miner, number, version, record FROM manager_sectors
             WHERE miner > $1 OR (miner = $1 AND number > $2)
             ORDER BY miner, number LIMIT $3",
        )
        .bind(miner)
        .bind(number)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
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
        start_epoch: Option<ChainEpoch>,
    ) -> Result<(), ManagerStoreError> {
        let _w = self.writer().await;
        sqlx::query(
            "INSERT INTO manager_deals (position, miner, size, deal, start_epoch)
             VALUES ((SELECT COALESCE(MAX(position), 0) + 1 FROM manager_deals), $1, $2, $3, $4)",
        )
        .bind(miner.map(|m| i64_of(m.0)))
        .bind(i64_of(deal.piece.size.0))
        .bind(encode_deal(deal)?)
        .bind(start_epoch)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn assign_deals(
        &self,
        sector: SectorId,
        size: SectorSize,
        spec: AcquireDealsSpec,
        activation: DealActivation,
    ) -> Result<Option<Versioned<SectorStatus>>, ManagerStoreError> {
        let _w = self.writer().await;
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The sector's row stays locked until the commit (PostgreSQL):
        // a concurrent call for the same sector waits and then finds the
        // deals recorded.
        let Some(mut held) = self.load_for_update(&mut tx, sector).await? else {
            return Ok(None);
        };
        if held.value.deals.is_some() || held.value.aborted.is_some() {
            return Ok(Some(held));
        }
        let rows = sqlx::query(&format!(
            "SELECT id, miner, size, deal, start_epoch FROM manager_deals
             WHERE (miner IS NULL OR miner = $1)
               AND sector_number IS NULL AND expired IS NULL
             ORDER BY position, id{}",
            self.skip_locked()
        ))
        .bind(i64_of(sector.miner.0))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut queue = Vec::with_capacity(rows.len());
        for row in &rows {
            let queued = QueuedRow::decode(row)?;
            match activation.expired(queued.start_epoch) {
                Some(why) => {
                    sqlx::query("UPDATE manager_deals SET expired = $1 WHERE id = $2")
                        .bind(why)
                        .bind(queued.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                }
                None => queue.push(queued),
            }
        }
        let picked = pick_deals(
            queue.iter().map(|q| (q.miner, q.size)),
            sector.miner,
            size,
            spec,
        );
        let mut deals = Vec::with_capacity(picked.len());
        for i in picked {
            let queued = &queue[i];
            sqlx::query(
                "UPDATE manager_deals SET sector_miner = $1, sector_number = $2 WHERE id = $3",
            )
            .bind(i64_of(sector.miner.0))
            .bind(i64_of(sector.number.0))
            .bind(queued.id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            deals.push(queued.deal.clone());
        }
        held.value.deals = Some(deals);
        if !self
            .write_status(&mut tx, sector, &held.value, held.version)
            .await?
        {
            // The row is locked (PostgreSQL) or writers are serialized
            // (SQLite): only a writer outside this store can get here.
            return Err(ManagerStoreError::Database(format!(
                "sector {sector} changed while its deals were being recorded; nothing was taken"
            )));
        }
        tx.commit().await.map_err(db)?;
        held.version += 1;
        Ok(Some(held))
    }

    async fn release_deals(
        &self,
        sector: SectorId,
        status: &SectorStatus,
        version: u64,
        activation: DealActivation,
    ) -> Result<Option<ReleasedDeals>, ManagerStoreError> {
        let _w = self.writer().await;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(held) = self.load_for_update(&mut tx, sector).await? else {
            return Ok(None);
        };
        if held.version != version || !self.write_status(&mut tx, sector, status, version).await? {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT id, miner, size, deal, start_epoch FROM manager_deals
             WHERE sector_miner = $1 AND sector_number = $2 AND expired IS NULL
             ORDER BY position, id",
        )
        .bind(i64_of(sector.miner.0))
        .bind(i64_of(sector.number.0))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut released = ReleasedDeals::default();
        for row in &rows {
            let queued = QueuedRow::decode(row)?;
            match activation.expired(queued.start_epoch) {
                Some(why) => {
                    sqlx::query("UPDATE manager_deals SET expired = $1 WHERE id = $2")
                        .bind(&why)
                        .bind(queued.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db)?;
                    released.expired.push(ExpiredDeal {
                        deal: queued.deal,
                        miner: queued.miner,
                        start_epoch: queued.start_epoch,
                        reason: why,
                    });
                }
                None => {
                    sqlx::query(
                        "UPDATE manager_deals SET sector_miner = NULL, sector_number = NULL
                         WHERE id = $1",
                    )
                    .bind(queued.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                    released.requeued.push(queued.deal);
                }
            }
        }
        let recorded = held.value.deals.unwrap_or_default();
        if rows.is_empty() && !recorded.is_empty() {
            // Handed out by an earlier release, which deleted the rows:
            // back to the head of the queue, for the sector's miner.
            let row = sqlx::query("SELECT COALESCE(MIN(position), 0) AS low FROM manager_deals")
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            let low: i64 = row.try_get("low").map_err(db)?;
            let count = recorded.len() as i64;
            for (i, deal) in recorded.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO manager_deals (position, miner, size, deal)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(low - count + i as i64)
                .bind(i64_of(sector.miner.0))
                .bind(i64_of(deal.piece.size.0))
                .bind(encode_deal(deal)?)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
            released.requeued.extend(recorded);
        }
        tx.commit().await.map_err(db)?;
        Ok(Some(released))
    }

    async fn expired_deals(&self) -> Result<Vec<ExpiredDeal>, ManagerStoreError> {
        let rows = sqlx::query(
            "SELECT id, miner, size, deal, start_epoch, expired FROM manager_deals
             WHERE expired IS NOT NULL ORDER BY position, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                let queued = QueuedRow::decode(row)?;
                Ok(ExpiredDeal {
                    deal: queued.deal,
                    miner: queued.miner,
                    start_epoch: queued.start_epoch,
                    reason: row.try_get("expired").map_err(db)?,
                })
            })
            .collect()
    }

    async fn queued_deals(&self) -> Result<u64, ManagerStoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM manager_deals
             WHERE sector_number IS NULL AND expired IS NULL",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(row.try_get::<i64, _>("n").map_err(db)? as u64)
    }
}

#[cfg(test)]
#[path = "sql_upgrade.rs"]
mod upgrade;
