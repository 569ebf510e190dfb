//! [`Clock`]: the time deadlines are set and fire by, the system's or one a test drives.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::model::envelope::Timestamp;

/// The time a saga runner sets and fires deadlines by.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;

    /// Waits until `at`.
    fn sleep_until(&self, at: Timestamp) -> impl Future<Output = ()> + Send;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn sleep_until(&self, at: Timestamp) {
        let wait = at.as_micros().saturating_sub(Timestamp::now().as_micros());
        if let Ok(micros) = u64::try_from(wait) {
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
    }
}

/// A clock that moves only when told, for tests of deadlines: clones share one time.
///
/// ```
/// use std::time::Duration;
/// use eventsmith::process::{Clock, ManualClock};
/// use eventsmith::event::Timestamp;
///
/// let clock = ManualClock::at(Timestamp::from_micros(1_000_000));
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now(), Timestamp::from_micros(3_000_000));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<i64>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    #[must_use]
    pub fn at(start: Timestamp) -> Self {
        Self {
            now: Arc::new(watch::Sender::new(start.as_micros())),
        }
    }

    /// Moves the clock on by `by`; deadlines that become due fire.
    pub fn advance(&self, by: Duration) {
        self.now
            .send_modify(|now| *now = Timestamp::from_micros(*now).after(by).as_micros());
    }

    /// Sets the clock to `to` (also backwards).
    pub fn set(&self, to: Timestamp) {
        self.now.send_replace(to.as_micros());
    }
}

impl Default for ManualClock {
    /// A clock standing at the system's time now.
    fn default() -> Self {
        Self::at(Timestamp::now())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(*self.now.borrow())
    }

    async fn sleep_until(&self, at: Timestamp) {
        let mut now = self.now.subscribe();
        // The sender lives in `self`, which outlives the wait.
        drop(now.wait_for(|now| *now >= at.as_micros()).await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_a_sleeper_when_moved_past_its_time() {
        let clock = ManualClock::at(Timestamp::from_micros(0));
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(Timestamp::from_micros(5_000)).await }
        });
        clock.advance(Duration::from_millis(2));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "2 ms is not yet 5 ms");
        clock.advance(Duration::from_millis(3));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken")
            .unwrap();
    }
}
