//! Opening the SQL databases that several processes may share (the sector
//! manager's state, the remote C2 queue): one sqlx `Any` pool on SQLite or
//! PostgreSQL, chosen by the URL, with the same settings and checks for
//! every store built on it, and the versioned migrations of its schema
//! ([`migrate`]).
//!
//! Feature `sql`.

use std::path::Path;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor as _};

use crate::schema::SchemaError;

/// The database behind a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlBackend {
    /// `sqlite://PATH`: one process.
    Sqlite,
    /// `postgres://…`: several processes sharing one state.
    Postgres,
}

impl SqlBackend {
    /// The backend `url` names, if any.
    ///
    /// ```
    /// use venus_seal_core::sql::SqlBackend;
    /// assert_eq!(SqlBackend::of_url("sqlite://m.db"), Some(SqlBackend::Sqlite));
    /// assert_eq!(SqlBackend::of_url("postgresql://db/x"), Some(SqlBackend::Postgres));
    /// assert_eq!(SqlBackend::of_url("mysql://db/x"), None);
    /// ```
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(SqlBackend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(SqlBackend::Postgres)
        } else {
            None
        }
    }
}

/// Why a database could not be opened; the text names the database (as
/// the caller called it), the URL without its password, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SqlOpenError(pub String);

/// `url` with its password replaced by `***`.
///
/// ```
/// use venus_seal_core::sql::redact;
/// assert_eq!(redact("postgres://m:secret@db/vs"), "postgres://m:***@db/vs");
/// assert_eq!(redact("sqlite:///var/m.db"), "sqlite:///var/m.db");
/// assert_eq!(redact("postgres://db/vs"), "postgres://db/vs");
/// ```
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The `sqlite://PATH?mode=rwc` URL of the database file `path`, its
/// directory created if missing.
pub fn sqlite_url(path: &Path) -> Result<String, SqlOpenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| SqlOpenError(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(format!("sqlite://{}?mode=rwc", path.display()))
}

/// A pool on `url` (`sqlite://…` or `postgres://…`) for the database
/// `what` ("the manager store", "the C2 queue"), and its backend.
///
/// SQLite runs in WAL mode with a 10 s busy timeout and full syncs, at most
/// 4 connections; PostgreSQL gets up to `pg_connections`. One direct
/// connection is made first, so a wrong URL or a server that is down fails
/// at once with the driver's reason rather than after the pool's 30 s
/// acquire timeout.
pub async fn open_pool(
    url: &str,
    what: &str,
    pg_connections: u32,
) -> Result<(AnyPool, SqlBackend), SqlOpenError> {
    sqlx::any::install_default_drivers();
    let backend = SqlBackend::of_url(url).ok_or_else(|| {
        SqlOpenError(format!(
            "unsupported URL {:?} for {what}: use sqlite://PATH or postgres://…",
            redact(url)
        ))
    })?;
    let mut options = AnyPoolOptions::new()
        .max_connections(match backend {
            SqlBackend::Sqlite => 4,
            SqlBackend::Postgres => pg_connections.max(1),
        })
        .acquire_timeout(Duration::from_secs(30));
    if backend == SqlBackend::Sqlite {
        options = options.after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                Ok(())
            })
        });
    }
    let cannot = |e: sqlx::Error| SqlOpenError(format!("cannot open {what} {}: {e}", redact(url)));
    {
        use sqlx::Connection;
        let conn = sqlx::AnyConnection::connect(url).await.map_err(cannot)?;
        conn.close().await.map_err(cannot)?;
    }
    let pool = options.connect(url).await.map_err(cannot)?;
    Ok((pool, backend))
}

/// Brings the schema of `what` at `url` to the latest version of
/// `migrator` (see [`crate::schema`]), on a connection of its own that is
/// closed after, so that PostgreSQL's migration lock, held by that
/// session, is released even when a migration fails.
pub async fn migrate(url: &str, what: &str, migrator: Migrator) -> Result<(), SchemaError> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let place = redact(url);
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .map_err(|e| SchemaError::Migrate {
            store: what.to_string(),
            place: place.clone(),
            source: e.into(),
        })?;
    let result = crate::schema::migrate(&mut conn, migrator, what, &place).await;
    if let Err(e) = conn.close().await {
        tracing::warn!(store = what, error = %e, "closing the migration connection");
    }
    result.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sqlite_pool_is_opened_with_its_directory_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let url = sqlite_url(&dir.path().join("a/b/x.db")).unwrap();
        let (pool, backend) = open_pool(&url, "the test store", 2).await.unwrap();
        assert_eq!(backend, SqlBackend::Sqlite);
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        std::fs::write(migrations.join("9001_t.sql"), "CREATE TABLE t (x BIGINT);").unwrap();
        for _ in 0..2 {
            // Twice is fine: a restarted process finds its tables.
            let migrator = Migrator::new(migrations.as_path()).await.unwrap();
            migrate(&url, "the test store", migrator).await.unwrap();
        }
        sqlx::query("INSERT INTO t (x) VALUES (1)")
            .execute(&pool)
            .await
            .unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn a_migration_that_cannot_connect_names_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let e = migrate(
            "postgres://u:pw@127.0.0.1:1/x",
            "the test store",
            Migrator::new(dir.path()).await.unwrap(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("the test store at postgres://u:***@"), "{e}");
        assert!(!e.contains(":pw@"), "{e}");
    }

    #[tokio::test]
    async fn bad_urls_are_named_without_their_password() {
        let e = open_pool("mysql://u:pw@db/x", "the test store", 2)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the test store") && e.contains("u:***@db"),
            "{e}"
        );
        assert!(!e.contains("pw"), "{e}");
        // Nothing listens on port 1: the driver's reason, at once.
        let e = open_pool("postgres://u:pw@127.0.0.1:1/x", "the test store", 2)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot open the test store postgres://u:***@"),
            "{e}"
        );
        assert!(!e.contains(":pw@"), "{e}");
    }
}
