//! Fresh stores for tests, on every backend available.
//!
//! SQLite always; PostgreSQL when `VESTIBULE_TEST_POSTGRES_URL` names a server (the test script
//! starts one). Each PostgreSQL store lives in a schema of its own, dropped afterwards.
//! With `VESTIBULE_TEST_REQUIRE_POSTGRES=1` a missing server is an error, not a skip.

use crate::{Store, StoreOptions};
use vestibule_model::rng::base62;
use vestibule_model::OsRng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const POSTGRES_URL_VAR: &str = "VESTIBULE_TEST_POSTGRES_URL";

/// The backends this test run covers.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => v.push(Backend::Postgres),
        _ => {
            if std::env::var("VESTIBULE_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("VESTIBULE_TEST_REQUIRE_POSTGRES=1 but {POSTGRES_URL_VAR} is not set");
            }
        }
    }
    v
}

/// A store that cleans up after itself.
pub struct TestStore {
    pub store: Store,
    /// The URL another process (or node) can use to reach the same data.
    pub url: String,
    guard: Guard,
}

enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema { admin_url: String, schema: String },
}

impl TestStore {
    pub fn backend(&self) -> Backend {
        match self.guard {
            Guard::Dir(_) => Backend::Sqlite,
            Guard::Schema { .. } => Backend::Postgres,
        }
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Guard::Schema { admin_url, schema } = &self.guard {
            let (admin_url, schema) = (admin_url.clone(), schema.clone());
            // Drop runs outside async; a short-lived runtime on its own thread does the cleanup.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(mut c) =
                        <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await
                    {
                        // Connections of this store may still hold a transaction (a task aborted
                        // mid-request cannot roll back while this thread blocks its runtime);
                        // end them first, or the DROP would wait on their locks for ever.
                        let _ = sqlx::query(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                        )
                        .bind(schema.as_str())
                        .execute(&mut c)
                        .await;
                        let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .execute(&mut c)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A new, migrated, empty store on `backend`.
pub async fn fresh(backend: Backend) -> TestStore {
    sqlx::any::install_default_drivers();
    match backend {
        Backend::Sqlite => sqlite(None).await,
        Backend::Postgres => {
            let admin_url = match std::env::var(POSTGRES_URL_VAR) {
                Ok(u) => u,
                Err(_) => panic!("{POSTGRES_URL_VAR} not set"),
            };
            let schema = format!("vt_{}", base62(&OsRng, 16).to_lowercase());
            let mut admin =
                match <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await {
                    Ok(c) => c,
                    Err(e) => panic!("connect {admin_url}: {e}"),
                };
            if let Err(e) = sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
                .execute(&mut admin)
                .await
            {
                panic!("create schema: {e}");
            }
            let sep = if admin_url.contains('?') { '&' } else { '?' };
            let url = format!(
                "{admin_url}{sep}options=-c%20search_path%3D{schema}&application_name={schema}"
            );
            let options = StoreOptions {
                max_connections: 8,
                ..StoreOptions::default()
            };
            let store = match Store::open(&url, &options).await {
                Ok(s) => s,
                Err(e) => panic!("open postgres store: {e}"),
            };
            TestStore {
                store,
                url,
                guard: Guard::Schema { admin_url, schema },
            }
        }
    }
}

/// A SQLite store holding what `script` (SQL text, e.g. a dump of another release's database)
/// writes, then opened as a node opens its database: pending migrations run.
pub async fn sqlite_from_script(script: &str) -> TestStore {
    sqlite(Some(script)).await
}

/// A SQLite store in a directory of its own, opened (and migrated) after `script`, if any, has
/// written to its file.
async fn sqlite(script: Option<&str>) -> TestStore {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let path = dir.path().join("vestibule.db");
    if let Some(script) = script {
        // A dump lists tables by name, not in the order their references need.
        let loaded = rusqlite::Connection::open(&path).and_then(|c| {
            c.execute_batch("PRAGMA foreign_keys = OFF;")?;
            c.execute_batch(script)
        });
        if let Err(e) = loaded {
            panic!("load the script: {e}");
        }
    }
    let url = format!("sqlite://{}", path.display());
    let store = match Store::open(&url, &StoreOptions::default()).await {
        Ok(s) => s,
        Err(e) => panic!("open {url}: {e}"),
    };
    TestStore {
        store,
        url,
        guard: Guard::Dir(dir),
    }
}
