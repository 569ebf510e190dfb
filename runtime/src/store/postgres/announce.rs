//! Tells other processes' subscribers that events were appended: a NOTIFY on the store's
//! channel, carrying the store's token and its last appended position, sent after the
//! appends' commits by one task, at most once every [`SPACING`] and once for every run of
//! appends that finish meanwhile. An append never waits for one. (This process's
//! subscribers are woken directly; the store's listener ignores its own token.)
//!
//! The spacing matters: a NOTIFY is a transaction that takes a transaction id and flushes a
//! commit record, as expensive as the append it announces. Sent after every append of a
//! sequential writer, it halved the writer's rate on a 2-core machine; spaced, it costs
//! another process's subscribers at most [`SPACING`] of extra delay under load, and nothing
//! after a quiet moment. While a NOTIFY's transaction runs, readers do not see events of
//! later transactions, so the store's head is refreshed once it has committed.
//!
//! A NOTIFY that fails (the server is away) is retried with backoff; until then subscribers
//! rely on their polling fallback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Inner, pg_error};
use crate::store::StoreError;
use crate::util::backoff::Backoff;
use crate::util::retry::Retry;

/// The LISTEN/NOTIFY channel of the store in `schema` with `prefix`: readable, unless that is
/// longer than PostgreSQL's 63 bytes for a name (`pg_notify` refuses such a channel), then a
/// name-based UUID of the two, the same in every process.
pub(super) fn channel(schema: &str, prefix: &str) -> String {
    let readable = format!("eventsmith:{schema}:{prefix}");
    if readable.len() <= 63 {
        return readable;
    }
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, readable.as_bytes());
    format!("eventsmith:{}", id.simple())
}

/// The shortest time between two notifications of one store.
const SPACING: Duration = Duration::from_millis(2);

/// The appends' side: [`Announcer::announce`] never waits.
#[derive(Debug)]
pub(crate) struct Announcer {
    signal: Arc<Signal>,
}

/// What the appends and the task share.
#[derive(Debug, Default)]
struct Signal {
    /// Set by an append after its commit, cleared by the task just before it notifies.
    pending: AtomicBool,
    wake: Notify,
}

impl Announcer {
    /// An announcer and the signal its task waits on.
    pub(crate) fn new() -> Self {
        Self {
            signal: Arc::default(),
        }
    }

    /// Events were committed: a NOTIFY will follow (one for every appends that come before
    /// it is sent).
    pub(crate) fn announce(&self) {
        self.signal.pending.store(true, Ordering::SeqCst);
        self.signal.wake.notify_one();
    }

    /// Starts the task that sends the notifications; it ends with the store.
    pub(crate) fn spawn(&self, store: Weak<Inner>) {
        let signal = Arc::clone(&self.signal);
        tokio::spawn(async move {
            let mut retry = Retry::new(Backoff::exponential(
                Duration::from_millis(50),
                Duration::from_secs(5),
            ));
            // When the next NOTIFY may go.
            let mut due = Instant::now();
            loop {
                signal.wake.notified().await;
                tokio::time::sleep_until(due).await;
                // Cleared before the NOTIFY, which then follows every commit that set it.
                // An append that sets it again meanwhile leaves a wake-up for the next round.
                if !signal.pending.swap(false, Ordering::SeqCst) {
                    // A wake-up whose appends the last NOTIFY covered, or the store's end.
                    if store.strong_count() == 0 {
                        return;
                    }
                    continue;
                }
                let Some(inner) = store.upgrade() else {
                    return;
                };
                due = Instant::now() + SPACING;
                match notify(&inner).await {
                    Ok(()) => {
                        retry.succeeded();
                        // The NOTIFY's transaction took an id, so while it ran it held back
                        // the head of everything committed after it began: look again.
                        inner.refresh.notify_one();
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "announcing appended events failed");
                        drop(inner);
                        retry.wait_after_failure().await;
                        signal.pending.store(true, Ordering::SeqCst);
                        signal.wake.notify_one();
                    }
                }
            }
        });
    }
}

impl Drop for Announcer {
    /// Wakes the task, which finds the store gone and ends.
    fn drop(&mut self) {
        self.signal.wake.notify_one();
    }
}

async fn notify(inner: &Inner) -> Result<(), StoreError> {
    let client = inner.client().await?;
    let statement = client
        .prepare_cached("SELECT pg_notify($1, $2)")
        .await
        .map_err(pg_error)?;
    // The store's token and the last position it appended (read after the commits it
    // announces): listeners elsewhere chase their head up to it.
    let payload = format!("{} {}", inner.token, inner.appended_to());
    client
        .execute(&statement, &[&inner.names.channel, &payload])
        .await
        .map_err(pg_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::channel;

    #[test]
    fn a_channel_stays_within_the_63_bytes_of_a_name() {
        assert_eq!(channel("public", "es_"), "eventsmith:public:es_");
        let long = "s".repeat(60);
        let (a, b) = (channel(&long, "es_"), channel(&long, "other_"));
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b, "the prefix still tells the stores apart");
        assert_eq!(a, channel(&long, "es_"), "the same in every process");
    }
}
