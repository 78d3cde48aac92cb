//! A pool for SQLite's connections, which live in this process.
//!
//! sqlx's pool checks a connection back in by pinging it from a spawned task, to learn whether a
//! network peer is still there. A SQLite connection is a file handle and a thread of this process:
//! there is nobody to ask, and the ping is a round trip to that thread on every request. Here a
//! connection goes back to the idle list when its lease drops, synchronously. Work a dropped lease
//! left queued on the connection's thread (a rollback of an abandoned transaction, a cancelled
//! query) runs before anything the next lease sends, since each connection runs its commands in
//! order.

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, Connection as _, Executor as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

struct Shared {
    idle: Mutex<Vec<AnyConnection>>,
    /// One permit per connection: holding one guarantees an idle connection to take.
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
}

#[derive(Clone)]
pub(crate) struct LocalPool {
    shared: Arc<Shared>,
}

/// A connection out of a [`LocalPool`]; back in the pool when dropped.
pub struct Lease {
    conn: Option<AnyConnection>,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl LocalPool {
    /// Opens `size` connections, each set up with `init` (SQL run once per connection).
    pub(crate) async fn open(
        options: &AnyConnectOptions,
        size: usize,
        init: &str,
        acquire_timeout: Duration,
    ) -> Result<LocalPool, sqlx::Error> {
        let mut idle = Vec::with_capacity(size);
        for _ in 0..size.max(1) {
            let mut conn = AnyConnection::connect_with(options).await?;
            conn.execute(init).await?;
            idle.push(conn);
        }
        Ok(LocalPool {
            shared: Arc::new(Shared {
                permits: Arc::new(Semaphore::new(idle.len())),
                idle: Mutex::new(idle),
                acquire_timeout,
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
    pub(crate) async fn close(&self) {
        self.shared.permits.close();
        let idle = std::mem::take(
            &mut *self
                .shared
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !self.shared.permits.is_closed() {
                self.shared
                    .idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(conn);
            }
        }
    }
}

impl std::ops::Deref for Lease {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        // Only `drop` takes the connection out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}
