//! The stores the workloads run on: each run gets a fresh, empty one.

use std::sync::atomic::{AtomicBool, Ordering};

use eventsmith::store::{Durability, PgOptions, SqliteOptions};
use eventsmith::{InMemoryStore, PgStore, SqliteStore, Uuid};

/// `--sqlite-sync normal`: SQLite with synchronous=NORMAL instead of FULL.
pub(crate) static SQLITE_NORMAL: AtomicBool = AtomicBool::new(false);

fn sqlite_durability() -> Durability {
    if SQLITE_NORMAL.load(Ordering::Relaxed) {
        Durability::Normal
    } else {
        Durability::Full
    }
}

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

impl Backend {
    pub(crate) const ALL: [Self; 3] = [Self::Memory, Self::Sqlite, Self::Postgres];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The durability setting the backend runs with, for the output.
    pub(crate) fn durability(self) -> &'static str {
        match self {
            Self::Memory => "none (process memory)",
            Self::Sqlite => match sqlite_durability() {
                Durability::Normal => "WAL, synchronous=NORMAL, group commit",
                _ => "WAL, synchronous=FULL, group commit",
            },
            Self::Postgres => "server defaults (synchronous_commit=on)",
        }
    }
}

/// A fresh SQLite store in a temporary directory, removed when the guard drops.
pub(crate) fn sqlite() -> Result<(tempfile::TempDir, SqliteStore), Error> {
    let dir = tempfile::Builder::new()
        .prefix("eventsmith-bench")
        .tempdir()?;
    let options = SqliteOptions::default().durability(sqlite_durability());
    let store = SqliteStore::open_with(dir.path().join("events.db"), options)?;
    Ok((dir, store))
}

/// The server the PostgreSQL runs use (`EVENTSMITH_PG_URL`).
pub(crate) fn pg_url() -> String {
    std::env::var("EVENTSMITH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A PostgreSQL store in a fresh schema, dropped when the guard drops.
pub(crate) async fn postgres() -> Result<(PgGuard, PgStore), Error> {
    let schema = format!("es_bench_{}", Uuid::now_v7().simple());
    let store =
        PgStore::connect_with(&pg_url(), PgOptions::default().schema(schema).pool_size(32)).await?;
    Ok((PgGuard(Some(store.clone())), store))
}

/// Drops the benchmark's schema: [`PgGuard::finish`] after a run, or on a run's early
/// return, a task that a process ending at once may not let finish.
pub(crate) struct PgGuard(Option<PgStore>);

impl PgGuard {
    /// Drops the schema and waits for it.
    pub(crate) async fn finish(mut self) {
        if let Some(store) = self.0.take()
            && let Err(e) = store.drop_schema().await
        {
            eprintln!(
                "the benchmark's schema {} was not dropped: {e}",
                store.schema()
            );
        }
    }
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        // Best effort, on the runtime the benchmark runs in.
        if let Some(store) = self.0.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            drop(handle.spawn(async move { store.drop_schema().await }));
        }
    }
}

pub(crate) fn memory() -> InMemoryStore {
    InMemoryStore::new()
}

/// Runs `$body` with `$store` bound to a fresh store of `$backend`.
macro_rules! with_store {
    ($backend:expr, |$store:ident| $body:expr) => {
        match $backend {
            $crate::backends::Backend::Memory => {
                let $store = $crate::backends::memory();
                $body
            }
            $crate::backends::Backend::Sqlite => {
                let (_guard, $store) = $crate::backends::sqlite()?;
                $body
            }
            $crate::backends::Backend::Postgres => {
                let (guard, $store) = $crate::backends::postgres().await?;
                let out = $body;
                guard.finish().await;
                out
            }
        }
    };
}
pub(crate) use with_store;
