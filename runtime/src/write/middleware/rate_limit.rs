//! [`RateLimit`]: a token bucket (governor's GCRA) per tenant, actor or command, that refuses
//! or holds back the commands over the quota.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use super::{CommandInfo, CommandMiddleware, Refusal};
use crate::model::command::HandledCommand;
use crate::model::envelope::CommandContext;

/// What one bucket of a [`RateLimit`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateKey {
    /// Every command, in one bucket.
    Everyone,
    /// The commands of each tenant; those without a tenant share one bucket.
    Tenant,
    /// The commands of each actor; those without an actor share one bucket.
    Actor,
    /// Each command type.
    Command,
}

/// How many buckets are checked between two sweeps of the ones that are full again (and so
/// need no memory).
const SWEEP_EVERY: u64 = 4096;

/// Lets `n` commands per period through for each key (a tenant, an actor, a command type,
/// or everyone), with bursts of up to `burst`; a command over the quota is refused as
/// [`RefusalKind::RateLimited`](super::RefusalKind::RateLimited) with the time until it
/// would pass, or, with [`wait_at_most`](Self::wait_at_most), held back that long if the
/// wait is short enough.
///
/// The buckets live in this process: with several processes, each applies the quota to the
/// commands it executes. Requires the `rate-limit` feature.
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use eventsmith::command::{RateKey, RateLimit};
///
/// // 100 commands a second per tenant, bursts of 20, waiting up to 50 ms for a token.
/// let limit = RateLimit::per_second(NonZeroU32::new(100).unwrap())
///     .burst(NonZeroU32::new(20).unwrap())
///     .keyed_by(RateKey::Tenant)
///     .wait_at_most(Duration::from_millis(50));
/// # let _ = limit;
/// ```
#[derive(Debug)]
pub struct RateLimit {
    limiter: RateLimiter<String, HashMapStateStore<String>, DefaultClock>,
    quota: Quota,
    key: RateKey,
    max_wait: Duration,
    checks: AtomicU64,
}

impl RateLimit {
    /// `n` commands per second for each key, bursts of `n`.
    #[must_use]
    pub fn per_second(n: NonZeroU32) -> Self {
        Self::with_quota(Quota::per_second(n))
    }

    /// `n` commands per minute for each key, bursts of `n`.
    #[must_use]
    pub fn per_minute(n: NonZeroU32) -> Self {
        Self::with_quota(Quota::per_minute(n))
    }

    fn with_quota(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::hashmap(quota),
            quota,
            key: RateKey::Everyone,
            max_wait: Duration::ZERO,
            checks: AtomicU64::new(0),
        }
    }

    /// Allows bursts of up to `n` commands (the bucket's size); the rate stays the same.
    #[must_use]
    pub fn burst(self, n: NonZeroU32) -> Self {
        Self::with_quota(self.quota.allow_burst(n))
            .keyed_by(self.key)
            .wait_at_most(self.max_wait)
    }

    /// What one bucket counts (default: [`RateKey::Everyone`]).
    #[must_use]
    pub fn keyed_by(mut self, key: RateKey) -> Self {
        self.key = key;
        self
    }

    /// Holds a command over the quota back until it may pass, when that is at most `wait`
    /// away; refuses it otherwise (default: refuse at once).
    #[must_use]
    pub fn wait_at_most(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    fn key_of(&self, info: &CommandInfo<'_>, context: &CommandContext) -> String {
        match self.key {
            RateKey::Everyone => String::new(),
            RateKey::Tenant => context.tenant.clone().unwrap_or_default(),
            RateKey::Actor => context.actor.clone().unwrap_or_default(),
            RateKey::Command => info.name.to_owned(),
        }
    }

    /// Takes a token for `key`, or answers how long until one is there.
    fn take(&self, key: &String) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

impl CommandMiddleware for RateLimit {
    fn before<C: HandledCommand>(
        &self,
        command: &C,
        context: &mut CommandContext,
    ) -> impl Future<Output = Result<(), Refusal>> + Send {
        let key = self.key_of(&CommandInfo::of(command), context);
        async move {
            let mut waited = Duration::ZERO;
            loop {
                match self.take(&key) {
                    Ok(()) => return Ok(()),
                    // Another command may take the token this one waited for: it waits
                    // again, within what is left of its allowance.
                    Err(wait) if waited + wait <= self.max_wait => {
                        tokio::time::sleep(wait).await;
                        waited += wait;
                    }
                    Err(wait) => return Err(Refusal::rate_limited(wait)),
                }
            }
        }
    }
}
