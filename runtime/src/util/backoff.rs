//! [`Backoff`]: how long to wait before the next attempt of something that failed in a way
//! that may pass (a version conflict, an unavailable store).

use std::time::Duration;

/// The growth of the delay between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Growth {
    /// No delay at all.
    None,
    /// The same delay every time.
    Fixed,
    /// `base`, `2 × base`, `4 × base`, …
    Exponential,
    /// `base`, `base`, `2 × base`, `3 × base`, `5 × base`, …
    Fibonacci,
}

/// A retry delay policy: a growth, a base delay, a cap, and optional full jitter (a uniformly
/// random delay between zero and the computed one, so that competing writers spread out).
///
/// ```
/// use std::time::Duration;
/// use eventsmith::command::Backoff;
///
/// let backoff = Backoff::exponential(Duration::from_millis(1), Duration::from_millis(5)).without_jitter();
/// let delays: Vec<_> = (1..=5).map(|n| backoff.delay(n).as_millis()).collect();
/// assert_eq!(delays, [1, 2, 4, 5, 5]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    growth: Growth,
    base: Duration,
    max: Duration,
    jitter: bool,
}

impl Backoff {
    /// Retry at once.
    #[must_use]
    pub const fn none() -> Self {
        Self {
            growth: Growth::None,
            base: Duration::ZERO,
            max: Duration::ZERO,
            jitter: false,
        }
    }

    /// The same delay before every retry, with jitter.
    #[must_use]
    pub const fn fixed(delay: Duration) -> Self {
        Self {
            growth: Growth::Fixed,
            base: delay,
            max: delay,
            jitter: true,
        }
    }

    /// Doubling delays from `base` up to `max`, with jitter.
    #[must_use]
    pub const fn exponential(base: Duration, max: Duration) -> Self {
        Self {
            growth: Growth::Exponential,
            base,
            max,
            jitter: true,
        }
    }

    /// Fibonacci-growing delays from `base` up to `max`, with jitter.
    #[must_use]
    pub const fn fibonacci(base: Duration, max: Duration) -> Self {
        Self {
            growth: Growth::Fibonacci,
            base,
            max,
            jitter: true,
        }
    }

    /// The same policy with exact delays.
    #[must_use]
    pub const fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The growth of this policy.
    #[must_use]
    pub const fn growth(&self) -> Growth {
        self.growth
    }

    /// The delay before retry number `retry` (1 for the first retry).
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let steps = retry.saturating_sub(1);
        let factor: u64 = match self.growth {
            Growth::None => return Duration::ZERO,
            Growth::Fixed => 1,
            Growth::Exponential => 1u64.checked_shl(steps).unwrap_or(u64::MAX),
            Growth::Fibonacci => fibonacci(steps),
        };
        let factor = u32::try_from(factor).unwrap_or(u32::MAX);
        let delay = self.base.saturating_mul(factor).min(self.max);
        if self.jitter {
            delay.mul_f64(fastrand::f64())
        } else {
            delay
        }
    }
}

impl Default for Backoff {
    /// Exponential from 1 ms up to 100 ms, with jitter.
    fn default() -> Self {
        Self::exponential(Duration::from_millis(1), Duration::from_millis(100))
    }
}

/// 1, 1, 2, 3, 5, … (the `n`-th, from 0), saturating.
fn fibonacci(n: u32) -> u64 {
    let (mut a, mut b) = (1u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a.saturating_add(b));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn exact(b: Backoff, n: u32) -> Vec<u128> {
        (1..=n)
            .map(|r| b.without_jitter().delay(r).as_millis())
            .collect()
    }

    #[test]
    fn growths() {
        assert_eq!(exact(Backoff::none(), 3), [0, 0, 0]);
        assert_eq!(exact(Backoff::fixed(3 * MS), 3), [3, 3, 3]);
        assert_eq!(
            exact(Backoff::exponential(MS, 10 * MS), 6),
            [1, 2, 4, 8, 10, 10]
        );
        assert_eq!(
            exact(Backoff::fibonacci(MS, 100 * MS), 7),
            [1, 1, 2, 3, 5, 8, 13]
        );
        // No overflow far out.
        assert_eq!(
            Backoff::exponential(MS, 7 * MS).without_jitter().delay(500),
            7 * MS
        );
        assert_eq!(
            Backoff::fibonacci(MS, 7 * MS).without_jitter().delay(500),
            7 * MS
        );
    }

    #[test]
    fn jitter_spreads_delays_over_the_whole_range_below_the_limit() {
        let b = Backoff::exponential(MS, 64 * MS);
        for retry in 4..10 {
            let limit = b.without_jitter().delay(retry);
            let delays: Vec<Duration> = (0..200).map(|_| b.delay(retry)).collect();
            assert!(delays.iter().all(|d| *d <= limit), "never above the limit");
            // Full jitter is uniform over [0, limit]: 200 draws land in both halves (the
            // chance that all miss one is 2^-199), and not all on one value.
            let half = limit / 2;
            assert!(delays.iter().any(|d| *d < half), "some in the lower half");
            assert!(delays.iter().any(|d| *d > half), "some in the upper half");
            assert!(delays.iter().any(|d| *d != delays[0]), "not one value");
        }
    }
}
