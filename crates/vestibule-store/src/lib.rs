//! Vestibule's storage.
//!
//! One implementation serves SQLite and PostgreSQL: the SQL we write is the portable subset (`$n`
//! parameters, `RETURNING`, `ON CONFLICT`), and only the schema differs per dialect (see
//! `migrations/`). Statements run through [`db`]: SQLite's on the calling thread, PostgreSQL's
//! through sqlx's `Any` driver. Repositories are modules of functions over a connection, so the
//! same query runs on a read connection or inside a write transaction.
//!
//! SQLite allows one writer: writes go through a one-connection pool (no `SQLITE_BUSY` between our
//! own writers) while reads use a separate pool in WAL mode; both are [`local_pool`]s. PostgreSQL
//! uses one sqlx pool for both.

pub mod clients;
pub mod db;
pub mod id_tokens;
pub mod instance;
pub mod keys;
mod local_pool;
mod migrate;
pub mod outbox;
pub mod passkeys;
pub mod rate_limits;
pub mod rows;
pub mod second_factors;
pub mod session_verifications;
pub mod sessions;
pub mod sign_in_tokens;
pub mod sign_ins;
pub mod testing;
pub mod users;
pub mod verifications;

pub use db::Connection;
use db::Inner;
use local_pool::{LocalPool, Role};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

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
    /// From SQLite, whose statements run on the calling thread ([`db`]).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
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
            // Another process (an operator's `vestibule users create`) held SQLite's write lock
            // for longer than the busy timeout: try again, nothing was written.
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                vestibule_model::Error::Unavailable {
                    detail: "the database is busy".into(),
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
    /// PostgreSQL: the pool's size. SQLite: the most reader connections; a read runs on the
    /// task's own thread, so more than the runtime has threads would only sit idle.
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
        let inner = match self {
            Pool::Shared(p) => Inner::Postgres(p.acquire().await?),
            Pool::Local(p) => Inner::Sqlite(p.acquire().await?),
        };
        Ok(Pooled(Connection { inner }))
    }

    async fn close(&self) {
        match self {
            Pool::Shared(p) => p.close().await,
            Pool::Local(p) => p.close(),
        }
    }
}

/// A connection checked out of the store; back in its pool when dropped.
pub struct Pooled(Connection);

impl std::ops::Deref for Pooled {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.0
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.0
    }
}

#[derive(Clone)]
pub struct Store {
    dialect: Dialect,
    reader: Pool,
    writer: Pool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect)
            .finish()
    }
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls back.
pub struct Tx {
    conn: Pooled,
    open: bool,
}

impl Tx {
    async fn begin(mut conn: Pooled) -> Result<Tx> {
        conn.begin().await?;
        Ok(Tx { conn, open: true })
    }

    pub async fn commit(mut self) -> Result<()> {
        self.conn.commit().await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open {
            self.conn.start_rollback();
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
        match dialect {
            Dialect::Sqlite => {
                let (path, read_only) = sqlite_file(&url)?;
                // The writer opens first: it creates the file and switches it to WAL.
                let writer =
                    LocalPool::open(&path, Role::Writer, read_only, 1, options.acquire_timeout)?;
                // A task holds its reader only while its statements run, which never await; more
                // readers than cores would take turns on them anyway.
                let cores = std::thread::available_parallelism()
                    .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
                    .unwrap_or(2);
                let readers = options.max_connections.min(cores.max(2)).max(1);
                let reader = LocalPool::open(
                    &path,
                    Role::Reader,
                    read_only,
                    readers as usize,
                    options.acquire_timeout,
                )?;
                Ok(Store {
                    dialect,
                    reader: Pool::Local(reader),
                    writer: Pool::Local(writer),
                })
            }
            Dialect::Postgres => {
                let connect = AnyConnectOptions::from_str(&url)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .acquire_timeout(options.acquire_timeout)
                    .connect_with(connect)
                    .await?;
                Ok(Store {
                    dialect,
                    reader: Pool::Shared(pool.clone()),
                    writer: Pool::Shared(pool),
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

/// The file a normalised `sqlite:` URL names, and whether it asks for read-only access.
fn sqlite_file(url: &str) -> Result<(PathBuf, bool)> {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(StoreError::UnsupportedUrl(url.to_owned()));
    }
    let read_only = query.split('&').any(|kv| kv == "mode=ro");
    Ok((PathBuf::from(path), read_only))
}

/// Maps a unique violation to the field it protects, by table name in the driver's message.
pub(crate) fn conflict(e: StoreError, fields: &[(&str, &'static str)]) -> StoreError {
    let text = match &e {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            format!("{} {}", db.message(), db.constraint().unwrap_or_default())
        }
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, message))
            if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            message.clone().unwrap_or_default()
        }
        _ => return e,
    };
    for (needle, what) in fields {
        if text.contains(needle) {
            return StoreError::Conflict { what };
        }
    }
    StoreError::Conflict { what: "resource" }
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

    #[test]
    fn a_busy_database_is_unavailable_not_an_internal_error() {
        let busy = StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".into()),
        ));
        assert_eq!(vestibule_model::Error::from(busy).status(), 503);
        let other = StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None,
        ));
        assert_eq!(vestibule_model::Error::from(other).status(), 500);
    }

    #[test]
    fn sqlite_files_come_from_normalised_urls() {
        let file = |u: &str| sqlite_file(&normalize_url(u).expect("url").1).expect("file");
        assert_eq!(file("sqlite://./v.db"), (PathBuf::from("./v.db"), false));
        assert_eq!(
            file("sqlite:///var/lib/v.db"),
            (PathBuf::from("/var/lib/v.db"), false)
        );
        assert_eq!(file("sqlite:v.db?mode=ro"), (PathBuf::from("v.db"), true));
        assert!(sqlite_file("sqlite://?mode=rwc").is_err());
    }
}
