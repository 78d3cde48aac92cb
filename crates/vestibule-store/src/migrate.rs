//! Schema migrations: numbered SQL files per dialect, applied once each, in order, in a
//! transaction. On PostgreSQL an advisory lock keeps nodes starting together from racing.

use crate::db::{execute_script, query, query_scalar};
use crate::{Connection, Dialect, Result, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "codes_outbox_limits",
        sqlite: include_str!("../migrations/sqlite/0002_codes_outbox_limits.sql"),
        postgres: include_str!("../migrations/postgres/0002_codes_outbox_limits.sql"),
    },
    Migration {
        version: 3,
        name: "second_factors",
        sqlite: include_str!("../migrations/sqlite/0003_second_factors.sql"),
        postgres: include_str!("../migrations/postgres/0003_second_factors.sql"),
    },
    Migration {
        version: 4,
        name: "reverification",
        sqlite: include_str!("../migrations/sqlite/0004_reverification.sql"),
        postgres: include_str!("../migrations/postgres/0004_reverification.sql"),
    },
    Migration {
        version: 5,
        name: "rate_limit_windows",
        sqlite: include_str!("../migrations/sqlite/0005_rate_limit_windows.sql"),
        postgres: include_str!("../migrations/postgres/0005_rate_limit_windows.sql"),
    },
    Migration {
        version: 6,
        name: "sign_in_tokens",
        sqlite: include_str!("../migrations/sqlite/0006_sign_in_tokens.sql"),
        postgres: include_str!("../migrations/postgres/0006_sign_in_tokens.sql"),
    },
    Migration {
        version: 7,
        name: "web3_wallets",
        sqlite: include_str!("../migrations/sqlite/0007_web3_wallets.sql"),
        postgres: include_str!("../migrations/postgres/0007_web3_wallets.sql"),
    },
    Migration {
        version: 8,
        name: "used_id_tokens",
        sqlite: include_str!("../migrations/sqlite/0008_used_id_tokens.sql"),
        postgres: include_str!("../migrations/postgres/0008_used_id_tokens.sql"),
    },
    Migration {
        version: 9,
        name: "passkeys",
        sqlite: include_str!("../migrations/sqlite/0009_passkeys.sql"),
        postgres: include_str!("../migrations/postgres/0009_passkeys.sql"),
    },
];

/// Any constant; it only has to be the same on every node.
const PG_LOCK_KEY: i64 = 0x7665_7374_6962;

pub(crate) async fn run(store: &Store) -> Result<()> {
    let mut conn = store.write().await?;
    if store.dialect() == Dialect::Postgres {
        query("SELECT pg_advisory_lock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut conn)
            .await?;
    }
    let result = apply(store.dialect(), &mut conn).await;
    if store.dialect() == Dialect::Postgres {
        query("SELECT pg_advisory_unlock($1)")
            .bind(PG_LOCK_KEY)
            .execute(&mut conn)
            .await?;
    }
    result
}

async fn apply(dialect: Dialect, conn: &mut Connection) -> Result<()> {
    execute_script(
        conn,
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: Vec<i64> = query_scalar("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await?;
    if let Some(newest) = applied.last() {
        let known = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
        if *newest > known {
            return Err(StoreError::Corrupt(format!(
                "the database schema (version {newest}) is newer than this binary knows ({known}); upgrade vestibule"
            )));
        }
    }
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let sql = match dialect {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        conn.begin().await?;
        if let Err(e) = apply_one(conn, m, sql).await {
            conn.start_rollback();
            return Err(e);
        }
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}

/// One migration and its record, inside the caller's transaction, which it commits.
async fn apply_one(conn: &mut Connection, m: &Migration, sql: &str) -> Result<()> {
    execute_script(conn, sql).await?;
    let now = vestibule_model::Clock::now(&vestibule_model::SystemClock).millis();
    query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
        .bind(m.version)
        .bind(m.name)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    conn.commit().await
}
