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
//! (PostgreSQL: an advisory lock), so the queue spans them. When a turn ends while another
//! writer of this handle waits for the stream, the backend's lock is handed to that writer
//! rather than released and taken again (a round trip each), at most [`HAND_OVERS`] times
//! in a row: then it is released, so the writers of other processes, queued for the lock,
//! get their turns.

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
    /// What else holds the turn (a backend's cross-process lock): on drop, handed to the
    /// next local writer of the stream or released, before the local turn passes on.
    backend: Option<Hold>,
}

/// A backend's hold on a turn.
type Hold = Box<dyn Send + Sync + std::fmt::Debug>;

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
    pub(crate) fn with_backend(mut self, hold: Hold) -> Self {
        self.backend = Some(hold);
        self
    }

    /// Whether the turn came with a backend's hold, handed over by the writer before.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(dead_code, reason = "used by PostgreSQL")
    )]
    pub(crate) fn has_backend(&self) -> bool {
        self.backend.is_some()
    }
}

impl Drop for StreamTurn {
    fn drop(&mut self) {
        let backend = self.backend.take();
        match self.local.take() {
            Some((guard, turns, stream)) => turns.end(&stream, guard, backend),
            None => drop(backend),
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
    /// A backend's hold left for the next writer, with the number of its hand-over.
    handed: Option<(Hold, u64)>,
    /// Hand-overs since the backend's lock was last released (and how many ever, which
    /// tells a hand-over from the next).
    hand_overs: u32,
    hand_overs_ever: u64,
}

impl Turn {
    /// Held or waited for (the map holds one more reference), or ended a moment ago. A
    /// waiter that gave up leaves neither.
    fn contended(&self) -> bool {
        Arc::strong_count(&self.mutex) > 1
            || self.handed.is_some()
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

/// The most times in a row a backend's lock passes from one writer of this handle to the
/// next before it is released for the writers of other processes.
pub(crate) const HAND_OVERS: u32 = 8;

/// How long a handed-over lock waits for the writer it was left for (who may have given
/// up waiting) before it is released.
const HANDED_FOR: Duration = Duration::from_millis(50);

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
        let backend = self
            .lock()
            .get_mut(stream)
            .and_then(|turn| turn.handed.take())
            .map(|(hold, _)| hold);
        StreamTurn {
            local: Some((guard, self.clone(), stream.to_owned())),
            backend,
        }
    }

    /// Ends a turn: hands the backend's hold to the next writer if one waits (and the
    /// hold has not passed on too often), else releases it; then passes the local turn on
    /// and marks the stream idle once nobody holds or waits for its turn.
    fn end(&self, stream: &str, guard: OwnedMutexGuard<()>, backend: Option<Hold>) {
        let mut turns = self.lock();
        let Some(turn) = turns.get_mut(stream) else {
            drop(backend);
            return;
        };
        // The map, this guard and at least one waiter.
        let waited_for = Arc::strong_count(&turn.mutex) > 2;
        let released = match backend {
            Some(hold) if waited_for && turn.hand_overs < HAND_OVERS => {
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        turn.hand_overs += 1;
                        turn.hand_overs_ever += 1;
                        let ever = turn.hand_overs_ever;
                        turn.handed = Some((hold, ever));
                        let (turns, stream) = (self.clone(), stream.to_owned());
                        runtime.spawn(async move {
                            tokio::time::sleep(HANDED_FOR).await;
                            turns.release_unclaimed(&stream, ever);
                        });
                        None
                    }
                    Err(_) => Some(hold),
                }
            }
            other => other,
        };
        if released.is_some() {
            turn.hand_overs = 0;
        }
        drop(released);
        drop(guard);
        if Arc::strong_count(&turn.mutex) == 1 {
            turn.idle_since = Some(Instant::now());
        }
    }

    /// Releases a hold left for a writer that never came for it.
    fn release_unclaimed(&self, stream: &str, hand_over: u64) {
        let unclaimed = {
            let mut turns = self.lock();
            turns.get_mut(stream).and_then(|turn| {
                if turn.handed.as_ref().is_some_and(|(_, n)| *n == hand_over) {
                    turn.hand_overs = 0;
                    turn.handed.take()
                } else {
                    None
                }
            })
        };
        drop(unclaimed);
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

    /// A backend's hold that counts its releases.
    #[derive(Debug)]
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_backends_hold_passes_to_waiting_writers_a_few_times_then_is_released() {
        let turns = StreamTurns::default();
        let released = Arc::new(AtomicUsize::new(0));
        let mut turn = turns
            .take("s")
            .await
            .with_backend(Box::new(Counted(Arc::clone(&released))));
        let mut handed = 0;
        for _ in 0..HAND_OVERS + 2 {
            let next = tokio::spawn({
                let turns = turns.clone();
                async move { turns.take("s").await }
            });
            // The next writer waits before this turn ends.
            while Arc::strong_count(&turns.lock()["s"].mutex) < 3 {
                tokio::task::yield_now().await;
            }
            drop(turn);
            turn = next.await.unwrap();
            if turn.has_backend() {
                handed += 1;
            } else {
                // Released: the next writer takes the backend's lock again.
                assert_eq!(released.load(Ordering::SeqCst), 1);
                turn = turn.with_backend(Box::new(Counted(Arc::clone(&released))));
            }
        }
        assert_eq!(handed, HAND_OVERS + 1, "released once after {HAND_OVERS}");
        drop(turn);
        assert_eq!(released.load(Ordering::SeqCst), 2, "nobody waits: released");
    }

    #[tokio::test]
    async fn a_hold_left_for_a_writer_that_gave_up_is_released() {
        let turns = StreamTurns::default();
        let released = Arc::new(AtomicUsize::new(0));
        let turn = turns
            .take("s")
            .await
            .with_backend(Box::new(Counted(Arc::clone(&released))));
        // A writer that asked for the turn (it holds the stream's mutex) and gives up once
        // the turn is handed to it.
        let gives_up = Arc::clone(&turns.lock()["s"].mutex);
        drop(turn);
        drop(gives_up);
        assert_eq!(released.load(Ordering::SeqCst), 0, "left for the waiter");
        tokio::time::sleep(HANDED_FOR * 3).await;
        assert_eq!(released.load(Ordering::SeqCst), 1, "released after a while");
    }
}
