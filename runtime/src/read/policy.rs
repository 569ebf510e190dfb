//! [`ErrorPolicy`]: what a projection runner does when a handler fails.

use std::time::Duration;

use crate::util::backoff::Backoff;
use crate::util::retry::Retry;

/// What happens to an event once its handler has failed every attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnFailure {
    /// Stop the runner with the error; its checkpoint stays before the event, so a restart
    /// (after a fix) tries it again.
    Stop,
    /// Log the error and go on as if the event had been handled.
    Skip,
    /// Keep the event as a [`DeadLetter`](crate::store::DeadLetter) and go on with other streams.
    /// Later events of the same stream are parked behind it, so the stream's order is kept;
    /// replaying the stream's letters after a fix handles them in order.
    Park,
}

/// How a projection runner treats a failing handler: retries with a backoff, then an
/// [`OnFailure`] action. Events that fail to decode are not retried (decoding again gives
/// the same answer); they go straight to the action.
///
/// ```
/// use std::time::Duration;
/// use eventsmith::command::Backoff;
/// use eventsmith::projection::{ErrorPolicy, OnFailure};
///
/// let policy = ErrorPolicy::retry(
///     Backoff::exponential(Duration::from_millis(10), Duration::from_secs(1)),
///     5,
/// )
/// .then(OnFailure::Park);
/// assert_eq!(policy.max_attempts(), 5);
/// assert_eq!(policy.on_failure(), OnFailure::Park);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorPolicy {
    backoff: Backoff,
    max_attempts: u32,
    then: OnFailure,
}

impl Default for ErrorPolicy {
    /// Five attempts with exponential backoff from 10 ms to 1 s, then stop: nothing is
    /// skipped unless asked for.
    fn default() -> Self {
        Self::retry(
            Backoff::exponential(Duration::from_millis(10), Duration::from_secs(1)),
            5,
        )
    }
}

impl ErrorPolicy {
    /// Up to `max_attempts` attempts (at least 1) separated by `backoff`, then stop.
    #[must_use]
    pub const fn retry(backoff: Backoff, max_attempts: u32) -> Self {
        Self {
            backoff,
            max_attempts: if max_attempts == 0 { 1 } else { max_attempts },
            then: OnFailure::Stop,
        }
    }

    /// One attempt, then `action`.
    #[must_use]
    pub const fn no_retry(action: OnFailure) -> Self {
        Self::retry(Backoff::none(), 1).then(action)
    }

    /// What to do once every attempt failed.
    #[must_use]
    pub const fn then(mut self, action: OnFailure) -> Self {
        self.then = action;
        self
    }

    /// The most attempts per event.
    #[must_use]
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The action after the last attempt.
    #[must_use]
    pub const fn on_failure(&self) -> OnFailure {
        self.then
    }

    /// The retries of one event: at most the policy's attempts, waiting its backoff.
    pub(crate) const fn retries(&self) -> Retry {
        Retry::new(self.backoff).at_most(self.max_attempts)
    }
}
