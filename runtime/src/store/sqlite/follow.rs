//! Hearing the other writers of a store's file. The store raises its head itself after its own
//! commits; another handle on the file, or another process, commits unseen. While anyone
//! watches the head, a thread of the store's asks SQLite every [`SqliteOptions::watch_interval`]
//! whether the file changed (`PRAGMA data_version`, answered from the WAL index in shared
//! memory: no disk read) and, when it did, raises the head to the file's last position. While
//! nobody watches, it asks nothing.
//!
//! [`SqliteOptions::watch_interval`]: super::SqliteOptions::watch_interval

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::writer::{data_version, last_position};
use crate::store::head::Head;

/// The watching thread of one store; stopped and joined on drop.
pub(crate) struct Watcher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    closing: Mutex<bool>,
    wake: Condvar,
}

impl Watcher {
    /// Starts watching the file through `conn` (a read-only connection of its own).
    pub(crate) fn start(
        conn: Connection,
        head: Arc<Head>,
        interval: Duration,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            closing: Mutex::new(false),
            wake: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("sqlite-watch".to_owned())
            .spawn({
                let shared = Arc::clone(&shared);
                move || shared.run(&conn, &head, interval)
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        *self
            .shared
            .closing
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread does not panic; a join error has nothing left to report.
            drop(thread.join());
        }
    }
}

impl Shared {
    fn run(&self, conn: &Connection, head: &Head, interval: Duration) {
        let mut seen = None;
        let mut closing = self.closing.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let (next, _) = self
                .wake
                .wait_timeout(closing, interval)
                .unwrap_or_else(PoisonError::into_inner);
            closing = next;
            if *closing {
                return;
            }
            if !head.watched() {
                // Commits made meanwhile are caught by the first look once someone watches.
                seen = None;
                continue;
            }
            drop(closing);
            seen = look(conn, head, seen);
            closing = self.closing.lock().unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Raises the head when the file changed since the data version `seen`; the version now.
fn look(conn: &Connection, head: &Head, seen: Option<i64>) -> Option<i64> {
    let result = data_version(conn).and_then(|now| {
        if seen != Some(now) {
            head.raise(last_position(conn)?);
        }
        Ok(now)
    });
    match result {
        Ok(now) => Some(now),
        Err(e) => {
            tracing::debug!(error = %e, "cannot tell whether the SQLite file changed; looking again");
            seen
        }
    }
}
