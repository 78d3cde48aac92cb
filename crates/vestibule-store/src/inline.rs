//! Reads that run on the calling thread, for the hottest SQLite lookups.
//!
//! sqlx gives each SQLite connection a thread of its own; every statement is a hand-off to that
//! thread and back. For a lookup that reads a few pages already in memory, the two hand-offs and
//! the context switches they cause cost more than the lookup (the token endpoint spends more CPU
//! on them than on everything but the RSA signature). These connections are read-only and used
//! synchronously for one indexed statement at a time, so a caller on an async thread blocks it
//! only for that statement: WAL readers never wait for the writer.

use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Read-only connections to one SQLite file, opened on demand: at most one per thread that reads
/// at the same time, kept for reuse.
pub(crate) struct InlineReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// How long a read waits on a lock held during WAL recovery, the only time a WAL reader waits.
const BUSY_TIMEOUT: Duration = Duration::from_millis(100);

impl InlineReader {
    /// For the file a `sqlite:` URL names (already normalised by the store).
    pub(crate) fn for_url(url: &str) -> Option<InlineReader> {
        let rest = url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().filter(|p| !p.is_empty())?;
        Some(InlineReader {
            path: PathBuf::from(path),
            idle: Mutex::new(Vec::new()),
        })
    }

    fn open(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one) and puts the connection back.
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let taken = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let result = read(&conn).map_err(StoreError::from);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_come_from_normalised_urls() {
        let at = |u: &str| InlineReader::for_url(u).map(|r| r.path);
        assert_eq!(
            at("sqlite://./v.db?mode=rwc"),
            Some(PathBuf::from("./v.db"))
        );
        assert_eq!(
            at("sqlite:///tmp/x/v.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x/v.db"))
        );
        assert_eq!(at("sqlite:v.db?mode=rwc"), Some(PathBuf::from("v.db")));
        assert_eq!(at("postgres://u@h/db"), None);
    }
}
