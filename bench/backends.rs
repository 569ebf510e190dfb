//! The stores the workloads run on: each run gets a fresh, empty one.

use std::sync::atomic::{AtomicBool, Ordering};

use eventsmith::{Durability, InMemoryStore, SqliteOptions, SqliteStore};

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
}

impl Backend {
    pub(crate) const ALL: [Self; 2] = [Self::Memory, Self::Sqlite];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "sqlite",
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
        }
    };
}
pub(crate) use with_store;
