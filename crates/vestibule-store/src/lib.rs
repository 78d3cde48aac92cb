//! Vestibule's storage.
//!
//! One implementation serves SQLite and PostgreSQL through sqlx's `Any` driver: the SQL we write
//! is the portable subset (`$n` parameters, `RETURNING`, `ON CONFLICT`), and only the schema
//! differs per dialect (see `migrations/`). Repositories are modules of functions over a
//! connection, so the same query runs on a read connection or inside a write transaction.
//!
//! SQLite allows one writer: writes go through a one-connection pool (no `SQLITE_BUSY` between our
//! own writers) while reads use a separate pool in WAL mode; both are [`local_pool`]s. PostgreSQL
//! uses one sqlx pool for both.

pub mod clients;
mod inline;
pub mod instance;
pub mod keys;
mod local_pool;
mod migrate;
pub mod outbox;
pub mod rate_limits;
pub mod rows;
pub mod second_factors;
pub mod session_verifications;
pub mod sessions;
pub mod sign_ins;
pub mod testing;
pub mod users;
pub mod verifications;

use local_pool::{Lease, LocalPool};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, TransactionManager as _};
use std::str::FromStr;
use std::time::Duration;

pub use sqlx::AnyConnection as Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://path or postgres://…")]
    UnsupportedUrl(String),
    /// A unique constraint refused the write; `what` names the clashing field.
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// From a read run on the calling thread ([`inline`]).
    #[error(transparent)]
    Inline(#[from] rusqlite::Error),
}

impl StoreError {
    pub fn corrupt(e: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<StoreError> for vestibule_model::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => vestibule_model::Error::IdentifierExists {
                param: what.to_owned(),
            },
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                vestibule_model::Error::Unavailable {
                    detail: "database pool timed out".into(),
                }
            }
            other => vestibule_model::Error::internal(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Pool sizes and timeouts.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL: the pool's size. SQLite: the most reader connections, and at most one per
    /// core (at least two), since each has its own thread and a read from the page cache is CPU
    /// work: more threads than cores only take turns (`vestibule-bench --scenario tokens` on 2
    /// cores: 4657 tokens/s with 4 readers, 4672 with 2, against 4354 with 16 in a full run).
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
enum Pool {
    Shared(AnyPool),
    Local(LocalPool),
}

impl Pool {
    async fn acquire(&self) -> Result<Pooled> {
        Ok(match self {
            Pool::Shared(p) => Pooled::Shared(p.acquire().await?),
            Pool::Local(p) => Pooled::Local(p.acquire().await?),
        })
    }

    async fn close(&self) {
        match self {
            Pool::Shared(p) => p.close().await,
            Pool::Local(p) => p.close().await,
        }
    }
}

/// A connection checked out of the store; back in its pool when dropped.
pub enum Pooled {
    Shared(PoolConnection<Any>),
    Local(Lease),
}

impl std::ops::Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Pooled::Shared(c) => c,
            Pooled::Local(c) => c,
        }
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Connection {
        match self {
            Pooled::Shared(c) => c,
            Pooled::Local(c) => c,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    dialect: Dialect,
    reader: Pool,
    writer: Pool,
    /// SQLite only: connections for the few reads that run on the calling thread.
    inline: Option<std::sync::Arc<inline::InlineReader>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect)
            .finish()
    }
}

type Transactions = <Any as sqlx::Database>::TransactionManager;

/// A write transaction. Dropping it without [`Tx::commit`] rolls back.
pub struct Tx {
    conn: Pooled,
    open: bool,
}

impl Tx {
    async fn begin(mut conn: Pooled) -> Result<Tx> {
        Transactions::begin(&mut conn, None).await?;
        Ok(Tx { conn, open: true })
    }

    pub async fn commit(mut self) -> Result<()> {
        Transactions::commit(&mut self.conn).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            // Queued on the connection; it runs before the connection's next use.
            Transactions::start_rollback(&mut self.conn);
        }
    }
}

impl std::ops::Deref for Tx {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

pub type ReadConnection = Pooled;

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

impl Store {
    /// Connects and migrates. `sqlite://path` creates the file when missing.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store> {
        let store = Store::connect(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = normalize_url(url)?;
        let connect = AnyConnectOptions::from_str(&url)?;
        match dialect {
            Dialect::Sqlite => {
                // The writer opens first: it creates the file and switches it to WAL.
                let writer =
                    LocalPool::open(&connect, 1, SQLITE_PRAGMAS, options.acquire_timeout).await?;
                let cores = std::thread::available_parallelism()
                    .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
                    .unwrap_or(2);
                let readers = options.max_connections.min(cores.max(2)).max(1);
                let reader = LocalPool::open(
                    &connect,
                    readers as usize,
                    SQLITE_PRAGMAS,
                    options.acquire_timeout,
                )
                .await?;
                Ok(Store {
                    dialect,
                    reader: Pool::Local(reader),
                    writer: Pool::Local(writer),
                    inline: inline::InlineReader::for_url(&url).map(std::sync::Arc::new),
                })
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await?;
                Ok(Store {
                    dialect,
                    reader: Pool::Shared(pool.clone()),
                    writer: Pool::Shared(pool),
                    inline: None,
                })
            }
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn migrate(&self) -> Result<()> {
        migrate::run(self).await
    }

    /// A connection for reads. On SQLite it sees the last committed state (WAL snapshot).
    pub async fn read(&self) -> Result<ReadConnection> {
        self.reader.acquire().await
    }

    /// A writer connection for a single statement that needs no transaction (it commits alone).
    pub async fn write(&self) -> Result<ReadConnection> {
        self.writer.acquire().await
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx> {
        Tx::begin(self.writer.acquire().await?).await
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Recognises the dialect and makes SQLite files creatable (`mode=rwc`).
fn normalize_url(url: &str) -> Result<(Dialect, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Dialect::Postgres, url.to_owned()));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if rest.is_empty() || rest.starts_with(":memory:") || url.contains("mode=memory") {
            // Each connection to :memory: is a separate database; the reader would see nothing.
            return Err(StoreError::UnsupportedUrl(
                "in-memory SQLite cannot be shared between connections; use a file".into(),
            ));
        }
        let url = if url.contains("mode=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        return Ok((Dialect::Sqlite, url));
    }
    Err(StoreError::UnsupportedUrl(url.to_owned()))
}

/// Maps a unique violation to the field it protects, by table name in the driver's message.
pub(crate) fn conflict(e: sqlx::Error, fields: &[(&str, &'static str)]) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            let text = format!("{} {}", db.message(), db.constraint().unwrap_or_default());
            for (needle, what) in fields {
                if text.contains(needle) {
                    return StoreError::Conflict { what };
                }
            }
            return StoreError::Conflict { what: "resource" };
        }
    }
    StoreError::Database(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised() {
        assert_eq!(
            normalize_url("sqlite://./v.db").expect("ok"),
            (Dialect::Sqlite, "sqlite://./v.db?mode=rwc".to_owned())
        );
        assert_eq!(
            normalize_url("sqlite://v.db?mode=ro").expect("ok").1,
            "sqlite://v.db?mode=ro"
        );
        assert_eq!(
            normalize_url("postgres://u@h/db").expect("ok").0,
            Dialect::Postgres
        );
        assert!(normalize_url("mysql://x").is_err());
        assert!(normalize_url("sqlite::memory:").is_err());
    }
}
