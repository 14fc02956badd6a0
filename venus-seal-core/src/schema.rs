//! Versioned schemas of the SQL stores: each store's tables are built and
//! changed by sqlx migrations embedded in the program
//! (`sqlx::migrate!("./migrations/…")`), so a database written by an
//! earlier release opens and is upgraded in place, and one written by a
//! later release is refused rather than misread.
//!
//! Feature `sqlite` or `sql`.
//!
//! # Versions
//!
//! The migrations of all stores share one table, sqlx's
//! `_sqlx_migrations` (its name is fixed in sqlx 0.8), because two stores
//! may share one database (the manager store and the C2 queue on one
//! PostgreSQL). So each store owns a block of a thousand versions and
//! only looks at its own: the worker's sector store 1001…, the manager
//! store 2001…, the C2 queue 3001…. Migration *n* of a store is the file
//! `BLOCKnnn_what.sql` (`2001_manager_tables.sql`). Its first migration
//! is the schema the release before migrations created at start-up, with
//! `IF NOT EXISTS`, so a database of that release (which has no
//! `_sqlx_migrations`) is adopted with its rows. A migration, once
//! released, is never edited: sqlx keeps its checksum and refuses a
//! database whose applied migration differs.
//!
//! # Concurrency
//!
//! On PostgreSQL the migrations run under sqlx's session advisory lock
//! (one per database), so several processes starting at once apply each
//! migration once; run them on a connection of their own, closed after,
//! so the lock goes with the session even if a migration fails. SQLite
//! has no such lock: a SQLite database belongs to one process.

use sqlx::migrate::{Migrate, MigrateError, Migrator};

/// Each store's versions are `block * VERSIONS_PER_STORE + n`.
pub const VERSIONS_PER_STORE: i64 = 1000;

/// Why a store's schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The database was written by a later release: it holds migrations
    /// this program does not know. Run that release (or a later one), or
    /// restore a backup made before the upgrade.
    #[error(
        "{store} at {place} was written by a newer release: its schema is at version \
         {found}, this program knows versions up to {known}; run the newer release or \
         restore a backup taken before the upgrade"
    )]
    Newer {
        /// The store ("the manager store").
        store: String,
        /// Where it is (a path, or a URL without its password).
        place: String,
        /// The newest of the store's versions in the database.
        found: i64,
        /// The newest version this program knows.
        known: i64,
    },
    /// A migration or sqlx's bookkeeping failed (database unreachable, a
    /// released migration edited, SQL refused).
    #[error("cannot upgrade the schema of {store} at {place}: {source}")]
    Migrate {
        /// The store.
        store: String,
        /// Where it is.
        place: String,
        /// sqlx's reason.
        #[source]
        source: MigrateError,
    },
}

/// Brings the database on `conn` to the latest version of `migrator`, the
/// migrations of `store` (named in errors and logs with `place`). Returns
/// the versions applied now (empty when it was up to date).
///
/// Only the store's own block of versions is considered (see the module
/// docs); one of them that `migrator` does not know is refused as
/// [`SchemaError::Newer`] before anything is written.
pub async fn migrate<C: Migrate>(
    conn: &mut C,
    mut migrator: Migrator,
    store: &str,
    place: &str,
) -> Result<Vec<i64>, SchemaError> {
    let failed = on_failure(store, place);
    // Other stores' versions in a shared table are not ours to judge; the
    // lock is taken here, around the check as well as the migrations.
    migrator.set_ignore_missing(true);
    migrator.set_locking(false);
    conn.lock().await.map_err(&failed)?;
    let result = migrate_locked(conn, &migrator, store, place).await;
    let unlocked = conn.unlock().await;
    let applied = result?;
    unlocked.map_err(&failed)?;
    if let (Some(first), Some(last)) = (applied.first(), applied.last()) {
        tracing::info!(store, place, first, last, "schema upgraded");
    }
    Ok(applied)
}

/// Wraps sqlx's error with the store and its place.
fn on_failure<'a>(store: &'a str, place: &'a str) -> impl Fn(MigrateError) -> SchemaError + 'a {
    move |source| SchemaError::Migrate {
        store: store.to_string(),
        place: place.to_string(),
        source,
    }
}

async fn migrate_locked<C: Migrate>(
    conn: &mut C,
    migrator: &Migrator,
    store: &str,
    place: &str,
) -> Result<Vec<i64>, SchemaError> {
    let failed = on_failure(store, place);
    let ours: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    let block = |v: i64| v.div_euclid(VERSIONS_PER_STORE);
    let blocks: Vec<i64> = ours.iter().map(|&v| block(v)).collect();
    conn.ensure_migrations_table().await.map_err(&failed)?;
    let before: Vec<i64> = conn
        .list_applied_migrations()
        .await
        .map_err(&failed)?
        .into_iter()
        .map(|m| m.version)
        .filter(|&v| blocks.contains(&block(v)))
        .collect();
    let known = ours.iter().copied().max().unwrap_or(0);
    if before.iter().any(|v| !ours.contains(v)) {
        return Err(SchemaError::Newer {
            store: store.to_string(),
            place: place.to_string(),
            found: before.iter().copied().max().unwrap_or_default(),
            known,
        });
    }
    migrator.run_direct(conn).await.map_err(&failed)?;
    Ok(ours.into_iter().filter(|v| !before.contains(v)).collect())
}

/// What the stores' upgrade tests share: marking a database as written by
/// a later release, compacting a SQLite fixture, loading a PostgreSQL one.
#[cfg(feature = "testing")]
pub mod testing {
    /// Records version `$1` (checksum `$2`, any bytes) as applied, as a
    /// later release's migration would.
    pub const RECORD_A_LATER_VERSION: &str = "INSERT INTO _sqlx_migrations
        (version, description, success, checksum, execution_time)
        VALUES ($1, 'from a later release', TRUE, $2, 0)";

    /// Folds a SQLite fixture's write-ahead log into the file and compacts
    /// it, before it is committed.
    pub const COMPACT_SQLITE: &str = "PRAGMA wal_checkpoint(TRUNCATE); VACUUM";

    /// Asserts that the error text `err` names each of `parts`.
    pub fn assert_names(err: &str, parts: &[&str]) {
        for part in parts {
            assert!(err.contains(part), "{part:?} in {err}");
        }
    }

    /// Runs the SQL file at `path` (a `pg_dump --inserts` fixture) on the
    /// database at `url`.
    #[cfg(feature = "sql")]
    pub async fn load_dump(url: &str, path: &std::path::Path) {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let dump = std::fs::read_to_string(path).unwrap();
        let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
        sqlx::raw_sql(&dump).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }

    /// Marks the database behind `pool` as written by a later release,
    /// whose migration `version` this release does not know.
    #[cfg(feature = "sql")]
    pub async fn record_a_later_version(pool: &sqlx::AnyPool, version: i64) {
        sqlx::query(RECORD_A_LATER_VERSION)
            .bind(version)
            .bind(vec![0_u8])
            .execute(pool)
            .await
            .unwrap();
    }

    /// Where [`write_fixture`] writes.
    #[cfg(feature = "sql")]
    #[derive(Clone, Copy, Debug)]
    pub enum Fixture<'a> {
        /// A SQLite file (replaced; compacted once written).
        Sqlite(&'a std::path::Path),
        /// A fresh PostgreSQL database (its URL printed, for `pg_dump
        /// --inserts` to dump).
        Postgres(&'a str),
    }

    /// Writes a fixture: the store `open` opens at `at`, filled by `fill`
    /// (which gives it back), then closed through `pool`.
    #[cfg(feature = "sql")]
    pub async fn write_fixture<S, E, O, OF, Fl, FF>(
        at: Fixture<'_>,
        open: O,
        fill: Fl,
        pool: impl Fn(&S) -> &sqlx::AnyPool,
    ) where
        O: FnOnce() -> OF,
        OF: std::future::Future<Output = Result<S, E>>,
        E: std::fmt::Debug,
        Fl: FnOnce(S) -> FF,
        FF: std::future::Future<Output = S>,
    {
        if let Fixture::Sqlite(path) = at {
            let _ = std::fs::remove_file(path);
        }
        let store = fill(open().await.unwrap()).await;
        if let Fixture::Sqlite(_) = at {
            sqlx::raw_sql(COMPACT_SQLITE)
                .execute(pool(&store))
                .await
                .unwrap();
        }
        pool(&store).close().await;
        if let Fixture::Postgres(url) = at {
            println!("FIXTURE_DATABASE {url}");
        }
    }

    /// The migration versions recorded in the database behind `pool`,
    /// ascending.
    #[cfg(feature = "sql")]
    pub async fn migration_versions(pool: &sqlx::AnyPool) -> Vec<i64> {
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await
            .unwrap()
    }

    /// The end of a store's upgrade test, once the fixture of an older
    /// release was opened (and upgraded) and its content checked: opened
    /// twice more (`open` makes a fresh handle, `pool` reaches its pool),
    /// it is up to date, its recorded versions exactly `versions`; with a
    /// later release's version recorded, opening it is refused with an
    /// error naming each of `names`.
    #[cfg(feature = "sql")]
    pub async fn assert_up_to_date_and_later_refused<S, E, O, F>(
        open: O,
        pool: impl Fn(&S) -> &sqlx::AnyPool,
        versions: &[i64],
        names: &[&str],
    ) where
        O: Fn() -> F,
        F: std::future::Future<Output = Result<S, E>>,
        E: std::fmt::Display,
    {
        for _ in 0..2 {
            let store = open().await.unwrap_or_else(|e| panic!("reopening: {e}"));
            assert_eq!(migration_versions(pool(&store)).await, versions);
            pool(&store).close().await;
        }
        let store = open().await.unwrap_or_else(|e| panic!("reopening: {e}"));
        let later = versions.last().copied().unwrap_or(0) + 1;
        record_a_later_version(pool(&store), later).await;
        pool(&store).close().await;
        let err = match open().await {
            Ok(_) => panic!("a database of a later release (version {later}) was opened"),
            Err(e) => e.to_string(),
        };
        assert_names(&err, names);
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use std::path::PathBuf;

    use sqlx::{Connection, SqliteConnection};

    use super::*;

    /// The migrations in `dir`, written there from `(file name, SQL)`.
    async fn migrator(dir: PathBuf, files: &[(&str, &str)]) -> Migrator {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, sql) in files {
            std::fs::write(dir.join(name), sql).unwrap();
        }
        Migrator::new(dir).await.unwrap()
    }

    fn count(table: &str) -> String {
        format!("SELECT COUNT(*) FROM {table}")
    }

    #[tokio::test]
    async fn migrations_apply_once_and_keep_the_rows_of_an_adopted_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        // The release before migrations made the table and wrote a row.
        sqlx::query("CREATE TABLE t (x BIGINT)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (7)")
            .execute(&mut conn)
            .await
            .unwrap();
        let v1 = [("1001_t.sql", "CREATE TABLE IF NOT EXISTS t (x BIGINT);")];
        let m = || migrator(dir.path().join("a"), &v1);
        assert_eq!(
            migrate(&mut conn, m().await, "the t store", "memory")
                .await
                .unwrap(),
            [1001]
        );
        assert!(migrate(&mut conn, m().await, "the t store", "memory")
            .await
            .unwrap()
            .is_empty());
        let v2 = [
            v1[0],
            (
                "1002_y.sql",
                "ALTER TABLE t ADD COLUMN y BIGINT NOT NULL DEFAULT 1;",
            ),
        ];
        let m2 = migrator(dir.path().join("b"), &v2).await;
        assert_eq!(
            migrate(&mut conn, m2, "the t store", "memory")
                .await
                .unwrap(),
            [1002]
        );
        let row: (i64, i64) = sqlx::query_as("SELECT x, y FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(row, (7, 1));
    }

    #[tokio::test]
    async fn a_database_of_a_newer_release_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let v1 = ("1001_t.sql", "CREATE TABLE t (x BIGINT);");
        let v2 = ("1002_u.sql", "CREATE TABLE u (x BIGINT);");
        let newer = migrator(dir.path().join("new"), &[v1, v2]).await;
        migrate(&mut conn, newer, "the t store", "t.db")
            .await
            .unwrap();
        let v3 = ("1003_w.sql", "CREATE TABLE w (x BIGINT);");
        let older = migrator(dir.path().join("old"), &[v1, v3]).await;
        let err = migrate(&mut conn, older, "the t store", "t.db")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                SchemaError::Newer {
                    found: 1002,
                    known: 1003,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("the t store at t.db") && text.contains("1002") && text.contains("newer"),
            "{text}"
        );
        let tables: i64 = sqlx::query_scalar(&count("sqlite_master WHERE name = 'w'"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(tables, 0, "nothing of the older release was applied");
    }

    #[tokio::test]
    async fn stores_sharing_a_database_keep_to_their_own_versions() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let a = || {
            migrator(
                dir.path().join("a"),
                &[("1001_a.sql", "CREATE TABLE a (x BIGINT);")],
            )
        };
        let b = || {
            migrator(
                dir.path().join("b"),
                &[("2001_b.sql", "CREATE TABLE b (x BIGINT);")],
            )
        };
        for _ in 0..2 {
            migrate(&mut conn, a().await, "store a", "shared")
                .await
                .unwrap();
            migrate(&mut conn, b().await, "store b", "shared")
                .await
                .unwrap();
        }
        let applied: i64 = sqlx::query_scalar(&count("_sqlx_migrations"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(applied, 2);
    }

    #[tokio::test]
    async fn an_edited_released_migration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let m = migrator(
            dir.path().join("a"),
            &[("1001_a.sql", "CREATE TABLE a (x BIGINT);")],
        );
        migrate(&mut conn, m.await, "store a", "a.db")
            .await
            .unwrap();
        let edited = ("1001_a.sql", "CREATE TABLE IF NOT EXISTS a (x TEXT);");
        let m = migrator(dir.path().join("b"), &[edited]).await;
        let err = migrate(&mut conn, m, "store a", "a.db").await.unwrap_err();
        assert!(
            matches!(
                err,
                SchemaError::Migrate {
                    source: MigrateError::VersionMismatch(1001),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("store a at a.db"), "{err}");
    }
}
