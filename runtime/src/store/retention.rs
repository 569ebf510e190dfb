//! How long idempotency records are kept, and when a store prunes the older ones.
//!
//! A record answers retries of its key for at least the retention after the append that
//! recorded it. Each store prunes opportunistically: after an append with a key, once at
//! most every [`prune_interval`] (a quarter of the retention, at most an hour), it removes
//! the records recorded more than the retention ago. So a record lives from the retention
//! to the retention plus that interval (or longer, while no append with a key comes); a
//! retry after it is gone is a new command. Times are the clocks of the processes that
//! append and prune, which are taken to agree to well within the retention.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::model::envelope::Timestamp;

/// How long idempotency records answer retries unless a store is told otherwise: 7 days.
pub const DEFAULT_IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The longest time between two prunes of a store.
const MAX_PRUNE_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// How often a store with this retention prunes, at most.
fn prune_interval(retention: Duration) -> Duration {
    (retention / 4).min(MAX_PRUNE_INTERVAL)
}

/// Microseconds of `duration`, saturated.
fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// A store's retention and when it prunes next.
#[derive(Debug)]
pub(crate) struct Pruning {
    /// `None`: records are kept for ever.
    retention: Option<Duration>,
    /// The time (microseconds since the epoch) before which no prune is due.
    next: AtomicI64,
}

impl Pruning {
    pub(crate) fn new(retention: Option<Duration>) -> Self {
        Self {
            retention,
            next: AtomicI64::new(i64::MIN),
        }
    }

    /// When a prune is due now: the time before which records go (the retention ago), and
    /// the next prune is put off by [`prune_interval`]. Of callers that race, one gets it.
    pub(crate) fn due(&self) -> Option<Timestamp> {
        let retention = self.retention?;
        let now = Timestamp::now().as_micros();
        let next = self.next.load(Ordering::Relaxed);
        if now < next {
            return None;
        }
        let then = now.saturating_add(micros(prune_interval(retention)));
        self.next
            .compare_exchange(next, then, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(Timestamp::from_micros(
            now.saturating_sub(micros(retention)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prune_is_due_once_per_interval_and_cuts_at_the_retention() {
        let pruning = Pruning::new(Some(Duration::from_secs(3600)));
        let before = Timestamp::now().as_micros();
        let cutoff = pruning.due().expect("the first is due at once").as_micros();
        let after = Timestamp::now().as_micros();
        let hour = 3_600_000_000;
        assert!((before - hour..=after - hour).contains(&cutoff));
        assert_eq!(pruning.due(), None, "the next waits a quarter of an hour");
        assert_eq!(Pruning::new(None).due(), None, "no retention, no prune");
    }

    #[test]
    fn the_interval_is_a_quarter_of_the_retention_at_most_an_hour() {
        assert_eq!(
            prune_interval(Duration::from_secs(60)),
            Duration::from_secs(15)
        );
        assert_eq!(
            prune_interval(DEFAULT_IDEMPOTENCY_RETENTION),
            MAX_PRUNE_INTERVAL
        );
        assert_eq!(prune_interval(Duration::MAX), MAX_PRUNE_INTERVAL);
    }
}
