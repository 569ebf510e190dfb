//! Tells subscribers, in this process and in others, that events were appended: a NOTIFY on
//! the store's channel, sent after the appends' commits by one task, once for every run of
//! appends that finish while it is busy. Under load that is a handful of notifications for
//! thousands of appends; an append never waits for one.
//!
//! A NOTIFY that fails (the server is away) is retried with backoff; until then subscribers
//! rely on their polling fallback.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::{Inner, pg_error};
use crate::backoff::Backoff;
use crate::store::StoreError;

/// The appends' side: [`Announcer::announce`] never waits.
#[derive(Debug)]
pub(crate) struct Announcer {
    pending: Arc<Notify>,
}

impl Announcer {
    /// An announcer and the signal its task waits on.
    pub(crate) fn new() -> Self {
        Self {
            pending: Arc::new(Notify::new()),
        }
    }

    /// Events were committed: a NOTIFY will follow (one for every appends that come before
    /// it is sent).
    pub(crate) fn announce(&self) {
        self.pending.notify_one();
    }

    /// Starts the task that sends the notifications; it ends with the store.
    pub(crate) fn spawn(&self, store: Weak<Inner>) {
        let pending = Arc::clone(&self.pending);
        tokio::spawn(async move {
            let retry = Backoff::exponential(Duration::from_millis(50), Duration::from_secs(5));
            let mut failures = 0;
            loop {
                pending.notified().await;
                let Some(inner) = store.upgrade() else {
                    return;
                };
                match notify(&inner).await {
                    Ok(()) => failures = 0,
                    Err(e) => {
                        failures += 1;
                        tracing::debug!(error = %e, "announcing appended events failed");
                        drop(inner);
                        tokio::time::sleep(retry.delay(failures)).await;
                        pending.notify_one();
                    }
                }
            }
        });
    }
}

impl Drop for Announcer {
    /// Wakes the task, which finds the store gone and ends.
    fn drop(&mut self) {
        self.pending.notify_one();
    }
}

async fn notify(inner: &Inner) -> Result<(), StoreError> {
    let client = inner.client().await?;
    let statement = client
        .prepare_cached("SELECT pg_notify($1, '')")
        .await
        .map_err(pg_error)?;
    client
        .execute(&statement, &[&inner.names.channel])
        .await
        .map_err(pg_error)?;
    Ok(())
}
