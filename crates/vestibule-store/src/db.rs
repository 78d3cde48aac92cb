//! How a statement runs: on SQLite, on the calling thread (rusqlite); on PostgreSQL, through sqlx.
//!
//! A SQLite statement reads or writes a few pages this process already holds, in microseconds.
//! sqlx would run it on a thread of the connection's own, and the two hand-offs (and the context
//! switches they cause, which on a busy machine preempt password hashing) cost more than the
//! statement. So SQLite statements run where they are called, on a connection leased from a
//! [`local_pool`](crate::local_pool) for that task alone.
//!
//! Repositories write one SQL text for both databases: `$n` parameters (SQLite reads `$1` as a
//! parameter named `$1`, bound here by its number), values bound as text, 64-bit integers or
//! bytes, and columns read by name.

use crate::local_pool::Lease;
use crate::{Result, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef};
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Row as _, TransactionManager as _};
use std::borrow::Cow;
use std::sync::Arc;

/// A connection out of one of the store's pools; back in it when dropped.
pub struct Connection {
    pub(crate) inner: Inner,
}

pub(crate) enum Inner {
    Postgres(PoolConnection<Any>),
    Sqlite(Lease),
}

impl Connection {
    /// Starts a transaction. On SQLite `IMMEDIATE` takes the write lock now, so a transaction
    /// that reads before it writes never finds its snapshot outdated by another process's write.
    pub(crate) async fn begin(&mut self) -> Result<()> {
        match &mut self.inner {
            Inner::Sqlite(c) => c.execute_batch("BEGIN IMMEDIATE")?,
            Inner::Postgres(c) => Transactions::begin(&mut **c, None).await?,
        }
        Ok(())
    }

    pub(crate) async fn commit(&mut self) -> Result<()> {
        match &mut self.inner {
            Inner::Sqlite(c) => c.execute_batch("COMMIT")?,
            Inner::Postgres(c) => Transactions::commit(&mut **c).await?,
        }
        Ok(())
    }

    /// Which database this connection talks to.
    pub fn dialect(&self) -> crate::Dialect {
        match self.inner {
            Inner::Sqlite(_) => crate::Dialect::Sqlite,
            Inner::Postgres(_) => crate::Dialect::Postgres,
        }
    }

    /// Abandons the open transaction: at once on SQLite; on PostgreSQL queued on the
    /// connection, to run before its next use.
    pub(crate) fn start_rollback(&mut self) {
        match &mut self.inner {
            Inner::Sqlite(c) => {
                c.roll_back_open();
            }
            Inner::Postgres(c) => Transactions::start_rollback(&mut **c),
        }
    }
}

type Transactions = <Any as sqlx::Database>::TransactionManager;

/// A value bound to a `$n` parameter. The type of a null matters to PostgreSQL.
#[derive(Debug, Clone)]
pub enum Value<'q> {
    Int(Option<i64>),
    Text(Option<Cow<'q, str>>),
    Bytes(Option<Cow<'q, [u8]>>),
}

macro_rules! values {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl<'q> From<$t> for Value<'q> {
            fn from($v: $t) -> Value<'q> {
                $e
            }
        })*
    };
}

values! {
    i64 => |v| Value::Int(Some(v)),
    Option<i64> => |v| Value::Int(v),
    i32 => |v| Value::Int(Some(i64::from(v))),
    &'q str => |v| Value::Text(Some(Cow::Borrowed(v))),
    &'q String => |v| Value::Text(Some(Cow::Borrowed(v.as_str()))),
    String => |v| Value::Text(Some(Cow::Owned(v))),
    Option<&'q str> => |v| Value::Text(v.map(Cow::Borrowed)),
    Option<String> => |v| Value::Text(v.map(Cow::Owned)),
    &'q [u8] => |v| Value::Bytes(Some(Cow::Borrowed(v))),
    &'q Vec<u8> => |v| Value::Bytes(Some(Cow::Borrowed(v.as_slice()))),
    Vec<u8> => |v| Value::Bytes(Some(Cow::Owned(v))),
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(Some(i)) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
            Value::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(Some(b)) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::Int(None) | Value::Text(None) | Value::Bytes(None) => {
                ToSqlOutput::Owned(rusqlite::types::Value::Null)
            }
        })
    }
}

/// One statement with its parameters.
#[must_use = "a query does nothing until it is executed or fetched"]
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Value<'q>>,
}

/// A statement with `$n` parameters.
pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

/// A statement whose first column is the result.
pub fn query_scalar<T: Column>(sql: &str) -> Scalar<'_, T> {
    Scalar {
        query: query(sql),
        _column: std::marker::PhantomData,
    }
}

/// What a write changed.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

impl<'q> Query<'q> {
    pub fn bind(mut self, value: impl Into<Value<'q>>) -> Self {
        self.args.push(value.into());
        self
    }

    pub async fn execute(self, conn: &mut Connection) -> Result<Done> {
        match &mut conn.inner {
            Inner::Sqlite(lease) => {
                let rows_affected = run_sqlite(lease, self.sql, &self.args, |_| Ok(()))?;
                Ok(Done { rows_affected })
            }
            Inner::Postgres(pg) => {
                let done = self.into_sqlx().execute(&mut **pg).await?;
                Ok(Done {
                    rows_affected: done.rows_affected(),
                })
            }
        }
    }

    pub async fn fetch_all(self, conn: &mut Connection) -> Result<Vec<Row>> {
        match &mut conn.inner {
            Inner::Sqlite(lease) => {
                let mut rows = Vec::new();
                run_sqlite(lease, self.sql, &self.args, |row| {
                    rows.push(row);
                    Ok(())
                })?;
                Ok(rows)
            }
            Inner::Postgres(pg) => Ok(self
                .into_sqlx()
                .fetch_all(&mut **pg)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect()),
        }
    }

    pub async fn fetch_optional(self, conn: &mut Connection) -> Result<Option<Row>> {
        match &mut conn.inner {
            Inner::Sqlite(lease) => {
                let mut first = None;
                run_sqlite(lease, self.sql, &self.args, |row| {
                    first.get_or_insert(row);
                    Ok(())
                })?;
                Ok(first)
            }
            Inner::Postgres(pg) => Ok(self
                .into_sqlx()
                .fetch_optional(&mut **pg)
                .await?
                .map(Row::Postgres)),
        }
    }

    pub async fn fetch_one(self, conn: &mut Connection) -> Result<Row> {
        self.fetch_optional(conn)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    fn into_sqlx(self) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        let mut q = sqlx::query(self.sql);
        for v in self.args {
            q = match v {
                Value::Int(i) => q.bind(i),
                Value::Text(Some(Cow::Borrowed(s))) => q.bind(s),
                Value::Text(Some(Cow::Owned(s))) => q.bind(s),
                Value::Text(None) => q.bind(None::<String>),
                Value::Bytes(Some(Cow::Borrowed(b))) => q.bind(b),
                Value::Bytes(Some(Cow::Owned(b))) => q.bind(b),
                Value::Bytes(None) => q.bind(None::<Vec<u8>>),
            };
        }
        q
    }
}

/// [`query_scalar`]'s statement.
#[must_use = "a query does nothing until it is fetched"]
pub struct Scalar<'q, T> {
    query: Query<'q>,
    _column: std::marker::PhantomData<fn() -> T>,
}

impl<'q, T: Column> Scalar<'q, T> {
    pub fn bind(mut self, value: impl Into<Value<'q>>) -> Self {
        self.query = self.query.bind(value);
        self
    }

    pub async fn fetch_one(self, conn: &mut Connection) -> Result<T> {
        self.query.fetch_one(conn).await?.get_at(0)
    }

    pub async fn fetch_optional(self, conn: &mut Connection) -> Result<Option<T>> {
        self.query
            .fetch_optional(conn)
            .await?
            .map(|r| r.get_at(0))
            .transpose()
    }

    pub async fn fetch_all(self, conn: &mut Connection) -> Result<Vec<T>> {
        self.query
            .fetch_all(conn)
            .await?
            .iter()
            .map(|r| r.get_at(0))
            .collect()
    }
}

/// Statements separated by `;`, without parameters (schema migrations).
pub async fn execute_script(conn: &mut Connection, sql: &str) -> Result<()> {
    match &mut conn.inner {
        Inner::Sqlite(lease) => Ok(lease.execute_batch(sql)?),
        Inner::Postgres(pg) => {
            sqlx::raw_sql(sql).execute(&mut **pg).await?;
            Ok(())
        }
    }
}

/// Runs one statement to completion, handing each row to `row`, and returns how many rows a
/// write changed (0 for a read).
fn run_sqlite(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Value<'_>],
    mut row: impl FnMut(Row) -> Result<()>,
) -> Result<u64> {
    // The SQL only: bound values (token hashes, digests) are never logged.
    tracing::debug!(statement = sql, "sqlite");
    let mut statement = conn.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| StoreError::corrupt(format!("parameter {index} is not $n in {sql}")))?;
        let value = args
            .get(number - 1)
            .ok_or_else(|| StoreError::corrupt(format!("no value bound to ${number} in {sql}")))?;
        statement.raw_bind_parameter(index, value)?;
    }
    let width = statement.column_count();
    let columns: Arc<[Box<str>]> = statement
        .column_names()
        .into_iter()
        .map(Box::from)
        .collect();
    let readonly = statement.readonly();
    let mut rows = statement.raw_query();
    while let Some(r) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(rusqlite::types::Value::from(r.get_ref(i)?));
        }
        row(Row::Sqlite(SqliteRow {
            columns: Arc::clone(&columns),
            values,
        }))?;
    }
    drop(rows);
    Ok(if readonly { 0 } else { conn.changes() })
}

/// A row of a result: columns are read by name (or, for scalars, position).
pub enum Row {
    Postgres(AnyRow),
    Sqlite(SqliteRow),
}

pub struct SqliteRow {
    columns: Arc<[Box<str>]>,
    values: Vec<rusqlite::types::Value>,
}

impl Row {
    pub fn get<T: Column>(&self, column: &str) -> Result<T> {
        match self {
            Row::Postgres(row) => Ok(row.try_get::<T, _>(column)?),
            Row::Sqlite(row) => {
                let index = row
                    .columns
                    .iter()
                    .position(|c| &**c == column)
                    .ok_or_else(|| StoreError::corrupt(format!("no column {column}")))?;
                row.decode(index, column)
            }
        }
    }

    pub fn get_at<T: Column>(&self, index: usize) -> Result<T> {
        match self {
            Row::Postgres(row) => Ok(row.try_get::<T, _>(index)?),
            Row::Sqlite(row) => row.decode(index, &index.to_string()),
        }
    }
}

impl SqliteRow {
    fn decode<T: Column>(&self, index: usize, column: &str) -> Result<T> {
        let value = self
            .values
            .get(index)
            .ok_or_else(|| StoreError::corrupt(format!("no column {column}")))?;
        T::from_sqlite(value).ok_or_else(|| {
            StoreError::corrupt(format!(
                "column {column} holds {:?}, not {}",
                value.data_type(),
                std::any::type_name::<T>()
            ))
        })
    }
}

/// A Rust type a column is read as.
pub trait Column: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + Sized {
    fn from_sqlite(value: &rusqlite::types::Value) -> Option<Self>;
}

impl Column for i64 {
    fn from_sqlite(value: &rusqlite::types::Value) -> Option<i64> {
        match value {
            rusqlite::types::Value::Integer(i) => Some(*i),
            _ => None,
        }
    }
}

impl Column for String {
    fn from_sqlite(value: &rusqlite::types::Value) -> Option<String> {
        match value {
            rusqlite::types::Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl Column for Vec<u8> {
    fn from_sqlite(value: &rusqlite::types::Value) -> Option<Vec<u8>> {
        match value {
            rusqlite::types::Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: Column> Column for Option<T>
where
    Option<T>: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    fn from_sqlite(value: &rusqlite::types::Value) -> Option<Option<T>> {
        match value {
            rusqlite::types::Value::Null => Some(None),
            other => T::from_sqlite(other).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, StoreOptions};

    async fn sqlite_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/db.db", dir.path().display());
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .expect("connect");
        (dir, store)
    }

    #[tokio::test]
    async fn parameters_bind_by_number_in_any_order_and_repeat() {
        let (_dir, store) = sqlite_store().await;
        let mut conn = store.write().await.expect("write");
        let row = query("SELECT $2 AS two, $1 AS one, $2 || $1 AS both_, $3 AS none")
            .bind("a")
            .bind("b")
            .bind(None::<i64>)
            .fetch_one(&mut conn)
            .await
            .expect("select");
        assert_eq!(row.get::<String>("two").expect("two"), "b");
        assert_eq!(row.get::<String>("one").expect("one"), "a");
        assert_eq!(row.get::<String>("both_").expect("both"), "ba");
        assert_eq!(row.get::<Option<i64>>("none").expect("none"), None);
        let unbound = query("SELECT $1 AS x").fetch_one(&mut conn).await;
        assert!(
            matches!(unbound, Err(StoreError::Corrupt(_))),
            "{:?}",
            unbound.err()
        );
    }

    #[tokio::test]
    async fn writes_report_changes_and_reads_report_none() {
        let (_dir, store) = sqlite_store().await;
        let mut conn = store.write().await.expect("write");
        execute_script(
            &mut conn,
            "CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, b BLOB)",
        )
        .await
        .expect("create");
        for (k, n) in [("x", 1), ("y", 2), ("z", 3)] {
            let done = query("INSERT INTO t (k, n, b) VALUES ($1, $2, $3)")
                .bind(k)
                .bind(n)
                .bind(vec![n as u8; 3])
                .execute(&mut conn)
                .await
                .expect("insert");
            assert_eq!(done.rows_affected(), 1);
        }
        let done = query("UPDATE t SET n = n + 10 WHERE n >= $1")
            .bind(2)
            .execute(&mut conn)
            .await
            .expect("update");
        assert_eq!(done.rows_affected(), 2);
        let read = query("SELECT k FROM t")
            .execute(&mut conn)
            .await
            .expect("read");
        assert_eq!(read.rows_affected(), 0);
        let ns: Vec<i64> = query_scalar("SELECT n FROM t ORDER BY k")
            .fetch_all(&mut conn)
            .await
            .expect("all");
        assert_eq!(ns, vec![1, 12, 13]);
        let blob: Vec<u8> = query_scalar("SELECT b FROM t WHERE k = $1")
            .bind("z")
            .fetch_one(&mut conn)
            .await
            .expect("blob");
        assert_eq!(blob, vec![3, 3, 3]);
        // A column read as the wrong type is an error naming it, not a panic.
        let row = query("SELECT k FROM t WHERE k = 'x'")
            .fetch_one(&mut conn)
            .await
            .expect("row");
        let wrong = row.get::<i64>("k");
        assert!(
            matches!(&wrong, Err(StoreError::Corrupt(m)) if m.contains("column k")),
            "{wrong:?}"
        );
        assert!(matches!(
            row.get::<String>("nope"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn a_dropped_lease_leaves_no_transaction_behind() {
        let (_dir, store) = sqlite_store().await;
        let mut conn = store.write().await.expect("write");
        execute_script(&mut conn, "CREATE TABLE t (k TEXT)")
            .await
            .expect("create");
        conn.begin().await.expect("begin");
        query("INSERT INTO t (k) VALUES ('lost')")
            .execute(&mut conn)
            .await
            .expect("insert");
        drop(conn);
        let mut conn = store.write().await.expect("write again");
        let n: i64 = query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .expect("count");
        assert_eq!(n, 0);
        // And the connection takes a new transaction.
        conn.begin().await.expect("begin again");
        conn.commit().await.expect("commit");
    }
}
