//! A pool of SQLite connections, which live in this process and are used on the calling thread
//! (see [`crate::db`]).
//!
//! A lease is one task's connection until dropped; it goes back to the idle list synchronously.
//! A lease dropped inside a transaction (a request cancelled mid-write) rolls it back first, so
//! the next task always starts clean.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a statement waits for a lock another process holds (a `vestibule users create`
/// while the server runs) before it fails with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: more than the store has distinct statements on a
/// request's path, so the hot ones are parsed once.
const STATEMENT_CACHE: usize = 256;

/// The writer's WAL is copied back into the database file off the request path, on a thread of
/// its own, after this many writes. (SQLite would otherwise do it inside whichever commit crosses
/// 1000 pages, with an fsync, on the thread of a request.)
const CHECKPOINT_EVERY_WRITES: u64 = 500;

/// How a pool's connections are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The one connection that writes: creates the file, switches it to WAL.
    Writer,
    /// Connections for reads, each seeing the last committed state.
    Reader,
}

struct Shared {
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection: holding one guarantees an idle connection to take.
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    path: PathBuf,
    role: Role,
    read_only: bool,
    /// Writer only: leases since the last checkpoint was started.
    writes: AtomicU64,
    /// Writer only: the connection checkpoints run on, while none is running.
    checkpointer: Arc<Mutex<Option<Connection>>>,
}

#[derive(Clone)]
pub(crate) struct LocalPool {
    shared: Arc<Shared>,
}

/// A connection out of a [`LocalPool`]; back in the pool when dropped.
pub struct Lease {
    conn: Option<Connection>,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

fn open(path: &Path, role: Role, read_only: bool) -> rusqlite::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    flags |= if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else if role == Role::Writer {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if role == Role::Writer && !read_only {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;",
        )?;
    }
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    Ok(conn)
}

impl LocalPool {
    /// Opens `size` connections to the file at `path`.
    pub(crate) fn open(
        path: &Path,
        role: Role,
        read_only: bool,
        size: usize,
        acquire_timeout: Duration,
    ) -> rusqlite::Result<LocalPool> {
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size.max(1) {
            idle.push(open(path, role, read_only)?);
        }
        Ok(LocalPool {
            shared: Arc::new(Shared {
                permits: Arc::new(Semaphore::new(idle.len())),
                idle: Mutex::new(idle),
                acquire_timeout,
                path: path.to_owned(),
                role,
                read_only,
                writes: AtomicU64::new(0),
                checkpointer: Arc::new(Mutex::new(None)),
            }),
        })
    }

    /// Waits up to the acquire timeout for a free connection.
    pub(crate) async fn acquire(&self) -> Result<Lease, sqlx::Error> {
        let permit = tokio::time::timeout(
            self.shared.acquire_timeout,
            Arc::clone(&self.shared.permits).acquire_owned(),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
        .map_err(|_| sqlx::Error::PoolClosed)?;
        let conn = self
            .shared
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .ok_or(sqlx::Error::PoolClosed)?;
        Ok(Lease {
            conn: Some(conn),
            shared: Arc::clone(&self.shared),
            _permit: permit,
        })
    }

    /// Refuses new leases and closes the idle connections (leased ones close when dropped).
    pub(crate) fn close(&self) {
        self.shared.permits.close();
        let idle = std::mem::take(
            &mut *self
                .shared
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        drop(idle);
        if self.shared.role == Role::Writer && !self.shared.read_only {
            // What the WAL holds is durable; this only leaves a smaller file behind.
            let _ = checkpoint(&self.shared.path, &self.shared.checkpointer, true);
        }
    }
}

/// Copies what the WAL holds into the database file without waiting for readers or the writer.
/// Unless `wait`, returns at once when another checkpoint is running.
fn checkpoint(path: &Path, slot: &Mutex<Option<Connection>>, wait: bool) -> rusqlite::Result<()> {
    let mut slot = match slot.try_lock() {
        Ok(slot) => slot,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) if wait => {
            slot.lock().unwrap_or_else(PoisonError::into_inner)
        }
        Err(std::sync::TryLockError::WouldBlock) => return Ok(()),
    };
    if slot.is_none() {
        *slot = Some(open(path, Role::Reader, false)?);
    }
    if let Some(conn) = slot.as_ref() {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    }
    Ok(())
}

impl Lease {
    /// Rolls back a transaction left open (a request cancelled mid-write), so nothing of it
    /// reaches the next lease. True when the connection is outside any transaction afterwards.
    pub(crate) fn roll_back_open(&self) -> bool {
        let conn = self.conn.as_ref().unwrap_or_else(|| unreachable!());
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        conn.is_autocommit()
    }

    /// Counts a write lease and, every so many, starts a checkpoint on a blocking thread unless
    /// one is still running.
    fn note_write(&self) {
        if self.shared.role != Role::Writer || self.shared.read_only {
            return;
        }
        let writes = self.shared.writes.fetch_add(1, Ordering::Relaxed) + 1;
        if !writes.is_multiple_of(CHECKPOINT_EVERY_WRITES) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (path, slot) = (
            self.shared.path.clone(),
            Arc::clone(&self.shared.checkpointer),
        );
        handle.spawn_blocking(move || {
            if let Err(e) = checkpoint(&path, &slot, false) {
                tracing::warn!(error = %e, "SQLite checkpoint failed; the next one retries");
            }
        });
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.note_write();
        let clean = self.roll_back_open();
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.shared.permits.is_closed() {
            return;
        }
        let conn = if clean {
            conn
        } else {
            // A connection that cannot leave its transaction is replaced by a fresh one.
            drop(conn);
            match open(&self.shared.path, self.shared.role, self.shared.read_only) {
                Ok(fresh) => fresh,
                Err(_) => {
                    // One connection fewer: keep the permit count equal to the idle connections.
                    self.shared.permits.forget_permits(1);
                    return;
                }
            }
        };
        self.shared
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }
}

impl std::ops::Deref for Lease {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Only `drop` takes the connection out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

#[cfg(test)]
mod tests {
    use crate::db::{execute_script, query};
    use crate::{Store, StoreOptions};
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn the_wal_is_copied_back_off_the_request_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("db.db");
        let store = Store::connect(
            &format!("sqlite://{}", file.display()),
            &StoreOptions::default(),
        )
        .await
        .expect("connect");
        execute_script(
            &mut store.write().await.expect("write"),
            "CREATE TABLE t (v TEXT)",
        )
        .await
        .expect("create");
        let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let before = size();
        // Each write a lease of its own, as requests make them; 1 KiB each.
        for _ in 0..super::CHECKPOINT_EVERY_WRITES {
            query("INSERT INTO t (v) VALUES ($1)")
                .bind("x".repeat(1024))
                .execute(&mut store.write().await.expect("write"))
                .await
                .expect("insert");
        }
        // SQLite alone would not have copied anything yet (autocheckpoint is off): the rows reach
        // the database file only through the background checkpoint.
        let deadline = Instant::now() + Duration::from_secs(10);
        while size() < before + 400 * 1024 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(size() >= before + 400 * 1024, "{before} -> {}", size());
    }
}
