//! [`Retry`]: the one retry loop's bookkeeping. Every place that tries again (a command after
//! a version conflict, a projection's handler under its error policy, a runner's read of an
//! unavailable store, PostgreSQL's announcer and listener) counts failures in a row with it and
//! waits what its [`Backoff`] says.

use std::time::Duration;

use super::backoff::Backoff;

/// Failures in a row of one operation, and the wait before the next attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    backoff: Backoff,
    /// The most attempts, the first included; `None` for no limit.
    attempts: Option<u32>,
    /// Retries that go at once, before the backoff's first delay.
    immediate: u32,
    failures: u32,
}

impl Retry {
    /// Retries without a limit, waiting `backoff`'s delays.
    pub(crate) const fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            attempts: None,
            immediate: 0,
            failures: 0,
        }
    }

    /// At most `attempts` attempts in all (at least one).
    pub(crate) const fn at_most(mut self, attempts: u32) -> Self {
        self.attempts = Some(if attempts == 0 { 1 } else { attempts });
        self
    }

    /// The first `retries` retries go at once; the backoff's delays start after them.
    pub(crate) const fn immediately(mut self, retries: u32) -> Self {
        self.immediate = retries;
        self
    }

    /// Counts a failed attempt. Answers the wait before the next one, or `None` when the
    /// attempts are spent.
    pub(crate) fn failed(&mut self) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        if self.attempts.is_some_and(|most| self.failures >= most) {
            return None;
        }
        Some(match self.failures.checked_sub(self.immediate) {
            Some(retry) if retry > 0 => self.backoff.delay(retry),
            _ => Duration::ZERO,
        })
    }

    /// Counts a failed attempt and waits before the next one; `false` (at once) when the
    /// attempts are spent.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(
            dead_code,
            reason = "PostgreSQL's announcer and listener wait this way"
        )
    )]
    pub(crate) async fn wait_after_failure(&mut self) -> bool {
        match self.failed() {
            Some(delay) => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                true
            }
            None => false,
        }
    }

    /// An attempt went through: the next failure is the first in a row again.
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// The failed attempts in a row so far.
    pub(crate) const fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn doubling() -> Backoff {
        Backoff::exponential(MS, 100 * MS).without_jitter()
    }

    #[test]
    fn waits_grow_with_failures_in_a_row_and_a_success_starts_over() {
        let mut retry = Retry::new(doubling());
        let waits: Vec<_> = (0..4).map(|_| retry.failed()).collect();
        assert_eq!(waits, [Some(MS), Some(2 * MS), Some(4 * MS), Some(8 * MS)]);
        assert_eq!(retry.failures(), 4);
        retry.succeeded();
        assert_eq!(retry.failed(), Some(MS));
    }

    #[test]
    fn the_limit_counts_the_first_attempt() {
        let mut retry = Retry::new(doubling()).at_most(3);
        assert_eq!(retry.failed(), Some(MS));
        assert_eq!(retry.failed(), Some(2 * MS));
        assert_eq!(retry.failed(), None, "three attempts made");
        assert_eq!(retry.failures(), 3);
        let mut once = Retry::new(doubling()).at_most(0);
        assert_eq!(once.failed(), None, "one attempt at least, and no retry");
    }

    #[test]
    fn immediate_retries_come_before_the_backoff() {
        let mut retry = Retry::new(doubling()).at_most(5).immediately(2);
        let waits: Vec<_> = (0..5).map(|_| retry.failed()).collect();
        assert_eq!(
            waits,
            [
                Some(Duration::ZERO),
                Some(Duration::ZERO),
                Some(MS),
                Some(2 * MS),
                None
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_sleeps_the_delay() {
        let mut retry = Retry::new(doubling()).at_most(2);
        let started = tokio::time::Instant::now();
        assert!(retry.wait_after_failure().await);
        assert_eq!(started.elapsed(), MS);
        assert!(!retry.wait_after_failure().await);
        assert_eq!(started.elapsed(), MS, "no wait once the attempts are spent");
    }
}
