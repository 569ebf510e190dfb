//! [`RateLimited`]: a publishing layer that holds a relay to a number of messages per second
//! (governor's token bucket), so a relay catching up after an outage does not flood the
//! broker or the consumers.

use std::num::NonZeroU32;

use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::{Transport, TransportError};
use crate::outbox::message::Outgoing;

/// A transport that publishes at most `per_second` messages a second, in bursts of up to
/// `burst`; a batch waits for its tokens before it goes out.
///
/// ```
/// use std::num::NonZeroU32;
/// use eventsmith::outbox::{MemoryTransport, RateLimited};
///
/// let per_second = NonZeroU32::new(1_000).unwrap();
/// let broker = RateLimited::new(MemoryTransport::new(), per_second);
/// ```
#[derive(Debug)]
pub struct RateLimited<T> {
    inner: T,
    limiter: RateLimiter<NotKeyed, InMemoryState, DefaultClock>,
    burst: NonZeroU32,
}

impl<T: Transport> RateLimited<T> {
    /// At most `per_second` messages a second through `inner`, in bursts of up to a second's
    /// worth.
    pub fn new(inner: T, per_second: NonZeroU32) -> Self {
        Self::with_burst(inner, per_second, per_second)
    }

    /// At most `per_second` messages a second, in bursts of up to `burst`.
    pub fn with_burst(inner: T, per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            inner,
            limiter: RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
            burst,
        }
    }

    /// The transport it publishes through.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Transport> Transport for RateLimited<T> {
    const NAME: &'static str = T::NAME;

    async fn publish(&self, messages: &[Outgoing]) -> Result<(), TransportError> {
        // A batch larger than a burst goes out a burst at a time.
        let burst = usize::try_from(self.burst.get()).unwrap_or(usize::MAX);
        for chunk in messages.chunks(burst) {
            let n = u32::try_from(chunk.len()).ok().and_then(NonZeroU32::new);
            if let Some(n) = n {
                // `n` is at most the burst, so the bucket always has room for it.
                if let Err(e) = self.limiter.until_n_ready(n).await {
                    tracing::error!(%e, "rate limit: published without waiting");
                }
            }
            self.inner.publish(chunk).await?;
        }
        Ok(())
    }
}
