//! Turns for the writers of a contended stream. Optimistic concurrency alone is unfair under
//! contention: the writer that just appended holds the current state and decides its next
//! command at once, while every loser first reloads, so the same writer keeps winning and the
//! others run out of attempts. A writer that lost a race takes the stream's turn instead, and
//! while anyone holds or waits for a stream's turn every new writer of that stream queues for
//! it too, and for 100 ms after the last turn ended: the turns are granted first come, first
//! served (a `tokio` mutex is fair), so each waits for the writers ahead of it and then
//! appends without a race.
//!
//! The turns here are shared by the clones of one store handle (every `App` over it). A
//! backend whose writers live in several processes adds a lock of its own behind this one
//! (PostgreSQL: an advisory lock), so the queue spans them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;
use tokio::sync::OwnedMutexGuard;

type Turns = HashMap<String, Turn, RandomState>;

/// A writer's turn on one stream: the stream's other writers that asked for a turn wait
/// until it is dropped.
#[derive(Debug)]
#[must_use = "the turn ends when the guard is dropped"]
pub struct StreamTurn {
    local: Option<(OwnedMutexGuard<()>, StreamTurns, String)>,
    /// What else holds the turn (a backend's cross-process lock); released on drop, before
    /// the local turn passes on.
    backend: Option<Box<dyn Send + Sync + std::fmt::Debug>>,
}

impl StreamTurn {
    /// A turn that orders nothing: for a backend that keeps no turns.
    pub fn none() -> Self {
        Self {
            local: None,
            backend: None,
        }
    }

    /// Adds a backend's hold on the turn (dropped with the turn).
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "used by PostgreSQL")
    )]
    pub(crate) fn with_backend(mut self, hold: Box<dyn Send + Sync + std::fmt::Debug>) -> Self {
        self.backend = Some(hold);
        self
    }
}

impl Drop for StreamTurn {
    fn drop(&mut self) {
        drop(self.backend.take());
        if let Some((guard, turns, stream)) = self.local.take() {
            drop(guard);
            turns.end(&stream);
        }
    }
}

/// The turns of one store handle (shared by its clones), by stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamTurns {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// How many streams the map holds: while none, `contended` costs one atomic load.
    streams: AtomicUsize,
    // Seeded hashing: stream ids may come from untrusted input.
    turns: Mutex<Turns>,
}

/// One stream's turns.
#[derive(Debug, Default)]
struct Turn {
    mutex: Arc<tokio::sync::Mutex<()>>,
    /// When its last turn ended, once nobody holds or waits for one.
    idle_since: Option<Instant>,
}

impl Turn {
    /// Held or waited for (the map holds one more reference), or ended a moment ago. A
    /// waiter that gave up leaves neither.
    fn contended(&self) -> bool {
        Arc::strong_count(&self.mutex) > 1
            || self
                .idle_since
                .is_some_and(|since| since.elapsed() < STILL_CONTENDED)
    }
}

/// A stream whose last turn ended this recently is still contended: its writers keep
/// taking turns rather than racing the writers of other processes again (each lost race
/// costs a reload of the aggregate).
const STILL_CONTENDED: Duration = Duration::from_millis(100);

/// Idle streams are forgotten once the map holds this many.
const TIDY_AT: usize = 1_024;

impl StreamTurns {
    /// Whether writers of `stream` hold or wait for a turn, or did a moment ago: a new
    /// writer then queues too rather than racing the queue.
    pub(crate) fn contended(&self, stream: &str) -> bool {
        if self.inner.streams.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.lock().get(stream).is_some_and(Turn::contended)
    }

    /// Waits for the stream's turn, after the writers that asked before.
    pub(crate) async fn take(&self, stream: &str) -> StreamTurn {
        let mutex = {
            let mut turns = self.lock();
            if turns.len() >= TIDY_AT {
                turns.retain(|_, turn| turn.contended());
            }
            let turn = turns.entry(stream.to_owned()).or_default();
            turn.idle_since = None;
            let mutex = Arc::clone(&turn.mutex);
            self.inner.streams.store(turns.len(), Ordering::Release);
            mutex
        };
        let guard = mutex.lock_owned().await;
        StreamTurn {
            local: Some((guard, self.clone(), stream.to_owned())),
            backend: None,
        }
    }

    /// Marks the stream idle once nobody holds or waits for its turn.
    fn end(&self, stream: &str) {
        let mut turns = self.lock();
        if let Some(turn) = turns.get_mut(stream) {
            if Arc::strong_count(&turn.mutex) == 1 {
                turn.idle_since = Some(Instant::now());
            }
        }
    }

    // No user code runs under this lock, so a poisoned map is still consistent.
    fn lock(&self) -> MutexGuard<'_, Turns> {
        self.inner
            .turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_are_granted_in_order_and_a_stream_stays_contended_a_moment() {
        let turns = StreamTurns::default();
        assert!(!turns.contended("s"));
        let first = turns.take("s").await;
        assert!(turns.contended("s") && !turns.contended("other"));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for n in 0..3 {
            let (turns, order) = (turns.clone(), Arc::clone(&order));
            waiters.push(tokio::spawn(async move {
                let _turn = turns.take("s").await;
                order.lock().unwrap().push(n);
            }));
            // Each waiter queues before the next one asks.
            tokio::task::yield_now().await;
        }
        drop(first);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            [0, 1, 2],
            "first come, first served"
        );
        assert!(
            turns.contended("s"),
            "still contended right after the last turn"
        );
        tokio::time::sleep(STILL_CONTENDED).await;
        assert!(!turns.contended("s"), "idle after a while");
    }
}
