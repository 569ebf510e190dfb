//! Writers' turns across processes: behind this process's queue for a stream (see
//! `store::stream_lock`), the writer at its head takes a session advisory lock on the stream,
//! whose waiters PostgreSQL grants in order, so the writers of all processes take turns.
//!
//! The lock is held on a pooled connection for the length of the turn. So that turns can
//! never take the connections their holders need to append, at most half the pool holds
//! them; a writer that finds none free takes its local turn alone (it may then race other
//! processes' writers, as without turns). A turn that ends while another writer of this
//! process waits hands the lock on, a few times in a row (see `store::stream_lock`);
//! otherwise the lock is released when the turn ends, by a task that unlocks and returns the
//! connection, or, outside a runtime or when unlocking fails, by closing the connection
//! (PostgreSQL releases a session's locks when it ends).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{Inner, pg_error};
use crate::store::{StoreError, StreamTurn};

/// The advisory lock of one stream, held for a turn.
#[derive(Debug)]
struct Held {
    client: Option<deadpool_postgres::Object>,
    key: String,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Closing the session releases its locks.
            drop(deadpool_postgres::Object::take(client));
            return;
        };
        let key = std::mem::take(&mut self.key);
        runtime.spawn(async move {
            let unlocked = client
                .execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", &[&key])
                .await;
            if let Err(e) = unlocked {
                tracing::debug!(error = %e, "unlocking a stream's turn failed; closing its connection");
                drop(deadpool_postgres::Object::take(client));
            }
        });
    }
}

/// Permits for connections that hold turns: half the pool.
pub(crate) fn permits(pool_size: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new((pool_size / 2).max(1)))
}

/// Takes `stream`'s turn: this process's first, then the lock that orders the processes.
pub(crate) async fn take(store: &Inner, stream: &str) -> Result<StreamTurn, StoreError> {
    crate::store::check_stream(stream)?;
    let turn = store.turns.take(stream).await;
    if turn.has_backend() {
        // Handed over by this process's writer before, still locked.
        return Ok(turn);
    }
    let Ok(permit) = Arc::clone(&store.turn_permits).try_acquire_owned() else {
        return Ok(turn);
    };
    let client = store.client().await?;
    // One key per stream of this store's events table (other schemas have other keys).
    let held = Held {
        client: Some(client),
        key: format!("{}\u{1f}{stream}", store.names.events),
        _permit: permit,
    };
    // Should this future be dropped while the server still waits for the lock, dropping
    // `held` queues the unlock behind the lock on the same connection, so it never stays held.
    if let Some(client) = &held.client {
        client
            .execute(
                "SELECT pg_advisory_lock(hashtextextended($1, 0))",
                &[&held.key],
            )
            .await
            .map_err(pg_error)?;
    }
    Ok(turn.with_backend(Box::new(held)))
}
