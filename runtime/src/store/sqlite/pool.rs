//! The read connections of a SQLite store: at most [`SqliteOptions::readers`] are ever open.
//!
//! A read first takes one of `readers` permits, waiting (asynchronously, off any thread)
//! while all are out; then, in its blocking thread, it takes an idle connection or, when none
//! is idle, opens one. A connection goes back to the idle list before its permit is given
//! back, so a connection is opened only while fewer than `readers` exist: every open
//! connection is either idle or used by a permit's holder. Connections stay open until the
//! store is dropped.
//!
//! [`SqliteOptions::readers`]: super::SqliteOptions::readers

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::StoreError;

/// The bounded pool of read-only connections.
#[derive(Debug)]
pub(super) struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    /// How many connections the pool has opened (it closes none before it is dropped).
    opened: AtomicUsize,
}

impl ReadPool {
    /// A pool of at most `size` connections (at least one), none open yet.
    pub(super) fn new(size: usize) -> Self {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Arc::new(Semaphore::new(size)),
            opened: AtomicUsize::new(0),
        }
    }

    /// Waits until fewer than `size` reads are running, and answers the right to run one.
    pub(super) async fn permit(&self) -> Result<OwnedSemaphorePermit, StoreError> {
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite read pool is closed".into()))
    }

    /// With a permit, in a blocking thread: runs `read` on an idle connection, or on a new
    /// one to `path` when none is idle, and puts the connection back before the permit goes.
    pub(super) fn run<T>(
        &self,
        permit: OwnedSemaphorePermit,
        path: &Path,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = super::open_reader(path)?;
                self.opened.fetch_add(1, Ordering::Relaxed);
                conn
            }
        };
        // Should `read` unwind, `conn` is closed before `permit` is given back (locals drop
        // in reverse order), so the bound holds then too.
        let result = read(&conn);
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        drop(permit);
        result
    }

    /// How many connections the pool has opened: at most its size.
    pub(super) fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }
}
